"""zram as an oracle: write a page set into a real zram device and read back its accounting.

zram stores every page it is written with the kernel's own compressor and the kernel's
zsmalloc, and reports the result in ``mm_stat``. That makes it the cheapest way to ask the
running kernel "how big is this page set compressed, and how many zsmalloc pages does it
take?", which is what pyzswap's compressors and zsmalloc claim to reproduce.

One run: take a fresh device (``hot_add``; or ``zram0`` if it is unused and there is no
``hot_add``), set the algorithm and a disk size that holds the page set, write the pages with
``O_DIRECT`` from a page-aligned (mmap) buffer in 1 MiB requests, read ``mm_stat``, read the
pages back (also ``O_DIRECT``) and compare them, then reset and remove the device. Both I/O
passes are timed (:func:`run_zram`). :class:`ZramDevice` is the same device held open, for
callers that time zram block by block between blocks of their own work. Every step that
changes the host is recorded first in a :class:`~pyzswap.tools.kernel._host.HostChanges`, so the
device is reset (and removed, or its algorithm restored) whatever happens.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from ...errors import InvalidParameter
from ._host import (
    HOST,
    PAGE_SIZE,
    HostChanges,
    HostPaths,
    KernelRunError,
    KernelUnavailable,
    _retry_busy,
    read_int,
    read_text,
    require_root,
    selected_algorithm,
    signals_blocked,
    write_text,
)

__all__ = [
    "IO_CHUNK",
    "MM_STAT_FIELDS",
    "ZramDevice",
    "ZramRun",
    "count_mismatched_pages",
    "read_mm_stat",
    "run_zram",
    "zram_algorithms",
]

#: ``/sys/block/zramN/mm_stat``, in the kernel's order (Documentation/admin-guide/blockdev/zram).
MM_STAT_FIELDS: Final = (
    "orig_data_size",
    "compr_data_size",
    "mem_used_total",
    "mem_limit",
    "mem_used_max",
    "same_pages",
    "pages_compacted",
    "huge_pages",
    "huge_pages_since",
)
#: Bytes per direct I/O request (what ``dd bs=1M oflag=direct`` issues).
IO_CHUNK: Final = 1 << 20
_DEV_NODE_WAIT: Final = 5.0


@dataclass
class ZramRun:
    """What the kernel's zram did with one page set."""

    device: str
    compressor: str
    pages: int
    mm_stat: dict[str, int]
    write_seconds: float
    read_seconds: float
    verified: bool
    mismatched_pages: int
    hot_added: bool
    notes: list[str] = field(default_factory=list)
    #: With ``per_page=True``: the bytes zram stored for each page, in page order (0 for a
    #: same-filled page, 4096 for a huge one), from ``compr_data_size`` after every write.
    page_sizes: list[int] | None = None

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("page_sizes")
        data["write_us_per_page"] = _us(self.write_seconds, self.pages)
        data["read_us_per_page"] = _us(self.read_seconds, self.pages)
        return data


def _us(seconds: float, pages: int) -> float:
    return round(seconds * 1e6 / pages, 3) if pages else 0.0


def _zram_devices(host: HostPaths) -> list[int]:
    if not host.sys_block.is_dir():
        return []
    ids = []
    for p in host.sys_block.iterdir():
        if p.name.startswith("zram") and p.name[4:].isdigit():
            ids.append(int(p.name[4:]))
    return sorted(ids)


def zram_algorithms(host: HostPaths = HOST) -> list[str]:
    """Algorithms zram offers (from any existing device's ``comp_algorithm``), kernel order.

    Empty if there is no zram device yet (then the list is read after ``hot_add``).
    """
    for dev_id in _zram_devices(host):
        try:
            listing = read_text(host.sys_block / f"zram{dev_id}" / "comp_algorithm")
        except OSError:
            continue
        return [w.strip("[]") for w in listing.split()]
    return []


def _check_preconditions(compressor: str, device: str | None, host: HostPaths) -> None:
    require_root()
    has_control = (host.zram_control / "hot_add").exists()
    if not has_control and not _zram_devices(host):
        raise KernelUnavailable("no zram in this kernel (no /sys/block/zram* and no hot_add)")
    offered = zram_algorithms(host)
    if offered and compressor not in offered:
        raise KernelUnavailable(
            f"zram on this kernel does not offer {compressor!r} (offers: {', '.join(offered)})"
        )
    if device is not None:
        name = device.removeprefix("/dev/")
        if not name.startswith("zram") or not name[4:].isdigit():
            raise InvalidParameter(f"not a zram device name: {device!r}")
        dev = host.sys_block / name
        if not dev.is_dir():
            raise KernelUnavailable(f"{name} does not exist")
        if read_int(dev / "initstate") != 0:
            raise KernelUnavailable(f"{name} is in use (initstate 1); refusing to reset it")
    elif not has_control:
        dev = host.sys_block / "zram0"
        if not dev.is_dir() or read_int(dev / "initstate") != 0:
            raise KernelUnavailable("no zram hot_add and zram0 is in use or missing")


def _take_device(changes: HostChanges, device: str | None, host: HostPaths) -> tuple[int, bool]:
    """A device to use: hot-added, or an existing unused one. Returns (id, hot_added)."""
    if device is None and (host.zram_control / "hot_add").exists():
        with signals_blocked():  # no Ctrl-C between creating the device and recording it
            dev_id = int(read_text(host.zram_control / "hot_add"))
            changes.record("zram_hot_remove", id=dev_id)
        changes.record("zram_reset", id=dev_id, comp_algorithm=None)
        return dev_id, True
    name = (device or "zram0").removeprefix("/dev/")
    dev_id = int(name[4:])
    dev = host.sys_block / name
    if read_int(dev / "initstate") != 0:
        raise KernelUnavailable(f"{name} is in use (initstate 1); refusing to reset it")
    original = selected_algorithm(read_text(dev / "comp_algorithm"))
    changes.record("zram_reset", id=dev_id, comp_algorithm=original)
    return dev_id, False


def _wait_for_node(path: Path) -> None:
    deadline = time.monotonic() + _DEV_NODE_WAIT
    while not path.exists():
        if time.monotonic() > deadline:
            raise KernelRunError(f"{path} did not appear")
        time.sleep(0.01)


def read_mm_stat(dev: Path) -> dict[str, int]:
    values = [int(v) for v in read_text(dev / "mm_stat").split()]
    return dict(zip(MM_STAT_FIELDS, values, strict=False))


class ZramDevice:
    """A fresh zram device held open for timed block I/O, restored on exit whatever happens.

    ``with ZramDevice("lz4", pages) as dev:`` takes a device (hot-added, or ``device`` if it is
    unused), sets the algorithm and a disk size of ``pages`` pages, and opens it with
    ``O_DIRECT``; none of that is timed. Then :meth:`write` and :meth:`read` time one range of
    pages each, in :data:`IO_CHUNK` requests, so a caller can interleave zram with its own work
    block by block (the benchmark pairs each block of pyzswap stores with zram writes of the same
    pages, so both see the same machine speed). :meth:`reset` empties the device for another
    round. Every change to the host is recorded before it is made, so leaving the block (an
    error and Ctrl-C included) resets the device and removes it, or puts its algorithm back.
    Raises :class:`KernelUnavailable` on entry, before changing anything, when zram cannot be
    used here.
    """

    def __init__(self, compressor: str, pages: int, *, device: str | None = None,
                 host: HostPaths = HOST) -> None:
        if pages < 1:
            raise InvalidParameter(f"a zram device needs at least one page, not {pages}")
        self.compressor = compressor
        self.pages = pages
        self.nbytes = pages * PAGE_SIZE
        self._requested = device
        self._host = host
        self._stack: contextlib.ExitStack | None = None
        self.device = ""
        self.hot_added = False
        self._dev = Path()
        self._node = Path()
        self._fd = -1
        self._stat_fd = -1
        self._wview = memoryview(b"")
        self._rview = memoryview(b"")

    def __enter__(self) -> ZramDevice:
        _check_preconditions(self.compressor, self._requested, self._host)
        with contextlib.ExitStack() as stack:
            changes = stack.enter_context(HostChanges(self._host))
            dev_id, self.hot_added = _take_device(changes, self._requested, self._host)
            self.device = f"zram{dev_id}"
            self._dev = self._host.sys_block / self.device
            self._node = self._host.dev / self.device
            offered = [w.strip("[]") for w in read_text(self._dev / "comp_algorithm").split()]
            if self.compressor not in offered:
                raise KernelUnavailable(
                    f"zram on this kernel does not offer {self.compressor!r} "
                    f"(offers: {', '.join(offered)})"
                )
            # Both buffers are anonymous mmaps: page-aligned, as O_DIRECT requires. The read
            # buffer is touched now, so no timed read pays for faulting its pages in (the write
            # buffer is filled before each timed write anyway).
            wbuf = stack.enter_context(mmap.mmap(-1, self.nbytes))
            rbuf = stack.enter_context(mmap.mmap(-1, self.nbytes))
            self._wview = stack.enter_context(memoryview(wbuf))
            self._rview = stack.enter_context(memoryview(rbuf))
            np.frombuffer(self._rview, dtype=np.uint8).fill(0xA5)
            self._configure()
            stack.callback(self._close_fds)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def _configure(self) -> None:
        """Algorithm, disk size, and the two descriptors (device node and ``mm_stat``)."""
        write_text(self._dev / "comp_algorithm", self.compressor)
        write_text(self._dev / "disksize", str(self.nbytes))
        _wait_for_node(self._node)
        self._fd = os.open(self._node, os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC)
        self._stat_fd = os.open(self._dev / "mm_stat", os.O_RDONLY | os.O_CLOEXEC)

    def _close_fds(self) -> None:
        for fd in (self._fd, self._stat_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._stat_fd = -1

    def _require_open(self) -> None:
        if self._stack is None:
            raise KernelRunError("the zram device is not open (use it in a with block)")

    def _range(self, first: int, count: int) -> tuple[int, int]:
        """Byte offsets of pages ``first..first+count-1``, checked against the device."""
        self._require_open()
        if first < 0 or count < 1 or first + count > self.pages:
            raise InvalidParameter(
                f"pages {first}..{first + count - 1} are outside the device's {self.pages}"
            )
        return first * PAGE_SIZE, (first + count) * PAGE_SIZE

    def write(self, first: int, data: bytes | bytearray | memoryview) -> float:
        """Write ``data`` (whole pages) at page ``first``; returns the seconds the writes took.

        The copy into the aligned buffer happens before the clock starts.
        """
        src = memoryview(data).cast("B")
        if src.nbytes == 0 or src.nbytes % PAGE_SIZE:
            raise InvalidParameter(f"{src.nbytes} bytes is not a positive whole number of pages")
        lo, hi = self._range(first, src.nbytes // PAGE_SIZE)
        self._wview[lo:hi] = src
        fd, view = self._fd, self._wview
        t0 = time.perf_counter()
        for off in range(lo, hi, IO_CHUNK):
            with view[off:min(off + IO_CHUNK, hi)] as chunk:
                done, want = os.pwrite(fd, chunk, off), len(chunk)
            if done != want:
                raise KernelRunError(f"short write to {self._node}: {done} of {want} bytes")
        return time.perf_counter() - t0

    def read(self, first: int, count: int) -> float:
        """Read ``count`` pages at page ``first`` back; returns the seconds the reads took."""
        lo, hi = self._range(first, count)
        fd, view = self._fd, self._rview
        t0 = time.perf_counter()
        for off in range(lo, hi, IO_CHUNK):
            with view[off:min(off + IO_CHUNK, hi)] as chunk:
                done, want = os.preadv(fd, [chunk], off), len(chunk)
            if done != want:
                raise KernelRunError(f"short read from {self._node}: {done} of {want} bytes")
        return time.perf_counter() - t0

    def mismatched_pages(self) -> int:
        """How many pages read back differ from the ones written (both in this round)."""
        self._require_open()
        return count_mismatched_pages(self._wview, self._rview)

    def mm_stat(self) -> dict[str, int]:
        """The device's ``mm_stat`` now."""
        self._require_open()
        return read_mm_stat(self._dev)

    def compr_data_size(self) -> int:
        """``mm_stat``'s compr_data_size, read through the open descriptor (cheap per page)."""
        self._require_open()
        return int(os.pread(self._stat_fd, 512, 0).split()[1])

    def reset(self) -> None:
        """Empty the device for another round: reset it and set it up again (untimed)."""
        self._require_open()
        self._close_fds()
        _retry_busy(lambda: write_text(self._dev / "reset", "1"))
        self._configure()


def run_zram(
    data: bytes | bytearray | memoryview,
    compressor: str,
    *,
    device: str | None = None,
    per_page: bool = False,
    host: HostPaths = HOST,
) -> ZramRun:
    """Write ``data`` (whole pages) into a zram device using ``compressor``; see the module doc.

    ``per_page=True`` writes one page per request and reads ``mm_stat`` after each, which gives
    the kernel's stored length of every page (:attr:`ZramRun.page_sizes`); the write time then
    includes those reads. Raises :class:`KernelUnavailable` (nothing changed) when zram cannot
    be used here.
    """
    src = memoryview(data).cast("B")
    nbytes = src.nbytes
    if nbytes == 0 or nbytes % PAGE_SIZE:
        raise InvalidParameter(f"{nbytes} bytes is not a positive whole number of pages")
    pages = nbytes // PAGE_SIZE
    sizes: list[int] | None = None
    with ZramDevice(compressor, pages, device=device, host=host) as dev:
        if per_page:
            sizes = []
            last = 0
            t0 = time.perf_counter()
            for i in range(pages):
                dev.write(i, src[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
                now = dev.compr_data_size()
                sizes.append(now - last)
                last = now
            write_seconds = time.perf_counter() - t0
        else:
            write_seconds = dev.write(0, src)
        stats = dev.mm_stat()
        read_seconds = dev.read(0, pages)
        mismatched = dev.mismatched_pages()
    notes = ["per-page mode: one 4 KiB write and one mm_stat read per page; the write time "
             "includes the reads"] if per_page else []
    return ZramRun(
        device=dev.device,
        compressor=compressor,
        pages=pages,
        mm_stat=stats,
        write_seconds=write_seconds,
        read_seconds=read_seconds,
        verified=mismatched == 0,
        mismatched_pages=mismatched,
        hot_added=dev.hot_added,
        notes=notes,
        page_sizes=sizes,
    )


def count_mismatched_pages(a: memoryview | bytes, b: memoryview | bytes) -> int:
    """How many 4 KiB pages differ between two equally long buffers (numpy, no copies kept)."""
    left = np.frombuffer(a, dtype=np.uint64).reshape(-1, PAGE_SIZE // 8)
    right = np.frombuffer(b, dtype=np.uint64).reshape(-1, PAGE_SIZE // 8)
    try:
        return int((left != right).any(axis=1).sum())
    finally:
        del left, right
