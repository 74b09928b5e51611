"""zram as an oracle: write a page set into a real zram device and read back its accounting.

zram stores every page it is written with the kernel's own compressor and the kernel's
zsmalloc, and reports the result in ``mm_stat``. That makes it the cheapest way to ask the
running kernel "how big is this page set compressed, and how many zsmalloc pages does it
take?", which is what pyzswap's compressors and zsmalloc claim to reproduce.

One run: take a fresh device (``hot_add``; or ``zram0`` if it is unused and there is no
``hot_add``), set the algorithm and a disk size that holds the page set, write the pages with
``O_DIRECT`` from a page-aligned (mmap) buffer in 1 MiB requests, read ``mm_stat``, read the
pages back (also ``O_DIRECT``) and compare them, then reset and remove the device. Both I/O
passes are timed. Every step that changes the host is recorded first in a
:class:`~pyzswap.kernel._host.HostChanges`, so the device is reset (and removed, or its
algorithm restored) whatever happens.
"""

from __future__ import annotations

import mmap
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from ..errors import InvalidParameter
from ._host import (
    HOST,
    PAGE_SIZE,
    HostChanges,
    HostPaths,
    KernelRunError,
    KernelUnavailable,
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
    _check_preconditions(compressor, device, host)
    with HostChanges(host) as changes:
        dev_id, hot_added = _take_device(changes, device, host)
        dev = host.sys_block / f"zram{dev_id}"
        offered = [w.strip("[]") for w in read_text(dev / "comp_algorithm").split()]
        if compressor not in offered:
            raise KernelUnavailable(
                f"zram on this kernel does not offer {compressor!r} (offers: {', '.join(offered)})"
            )
        write_text(dev / "comp_algorithm", compressor)
        write_text(dev / "disksize", str(nbytes))
        node = host.dev / f"zram{dev_id}"
        _wait_for_node(node)
        write_seconds, read_seconds, stats, mismatched, sizes = _do_io(node, dev, src, per_page)
    notes = ["per-page mode: one 4 KiB write and one mm_stat read per page; the write time "
             "includes the reads"] if per_page else []
    return ZramRun(
        device=f"zram{dev_id}",
        compressor=compressor,
        pages=nbytes // PAGE_SIZE,
        mm_stat=stats,
        write_seconds=write_seconds,
        read_seconds=read_seconds,
        verified=mismatched == 0,
        mismatched_pages=mismatched,
        hot_added=hot_added,
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


def _do_io(
    node: Path, dev: Path, src: memoryview, per_page: bool
) -> tuple[float, float, dict[str, int], int, list[int] | None]:
    """Direct-I/O write, mm_stat, direct-I/O read.

    Returns (write s, read s, mm_stat, pages read back differently, per-page sizes or None).
    Both buffers are anonymous mmaps (page-aligned, as ``O_DIRECT`` requires); the copy into the
    write buffer happens before the clock starts.
    """
    nbytes = src.nbytes
    wbuf = mmap.mmap(-1, nbytes)
    rbuf = mmap.mmap(-1, nbytes)
    wview, rview = memoryview(wbuf), memoryview(rbuf)
    sizes: list[int] | None = [] if per_page else None
    step = PAGE_SIZE if per_page else IO_CHUNK
    try:
        wview[:] = src
        fd = os.open(node, os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC)
        stat_fd = os.open(dev / "mm_stat", os.O_RDONLY | os.O_CLOEXEC)
        try:
            last = 0
            t0 = time.perf_counter()
            for off in range(0, nbytes, step):
                with wview[off:off + step] as chunk:
                    done, want = os.pwrite(fd, chunk, off), len(chunk)
                if done != want:
                    raise KernelRunError(f"short write to {node}: {done} of {want} bytes")
                if sizes is not None:
                    now = int(os.pread(stat_fd, 512, 0).split()[1])  # compr_data_size
                    sizes.append(now - last)
                    last = now
            write_seconds = time.perf_counter() - t0
            stats = read_mm_stat(dev)
            t0 = time.perf_counter()
            for off in range(0, nbytes, IO_CHUNK):
                with rview[off:off + IO_CHUNK] as chunk:
                    done, want = os.preadv(fd, [chunk], off), len(chunk)
                if done != want:
                    raise KernelRunError(f"short read from {node}: {done} of {want} bytes")
            read_seconds = time.perf_counter() - t0
        finally:
            os.close(stat_fd)
            os.close(fd)
        mismatched = count_mismatched_pages(wview, rview)
    finally:
        wview.release()
        rview.release()
        wbuf.close()
        rbuf.close()
    return write_seconds, read_seconds, stats, mismatched, sizes
