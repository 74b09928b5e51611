"""The host's zswap as an oracle: page a page set out through the running kernel's zswap.

zswap only sees pages on their way to a swap device, so a run builds exactly that situation,
for one page set and nothing else:

1. Preconditions, before anything changes: root, zswap present, the algorithm registered with
   the crypto API, **no active swap** (a swap area of someone else would receive our pages, or
   its pages would pollute zswap's global statistics), enough free memory and disk.
2. Changes, each recorded first in a :class:`~pyzswap.tools.kernel._host.HostChanges` (undone in
   reverse order on success, failure, Ctrl-C or SIGTERM, and replayed by the next run if this
   one is killed): mount debugfs if it is not mounted; save every zswap parameter; create a
   swap file (``posix_fallocate`` + a swap header written here) and ``swapon`` it; set
   ``compressor``, ``max_pool_percent`` (high enough for the whole set), ``shrinker_enabled=N``
   (nothing may be written back during the run) and ``enabled=Y``.
3. A child process (:mod:`pyzswap.tools.kernel._child`) copies the pages into its private anonymous
   memory, without huge pages, and ``madvise(MADV_PAGEOUT)``s all of it. Every page goes to
   the swap core: an all-zero page is marked in the swap device's zero map, every other page is
   offered to zswap. The page-out is timed.
4. With the child's pages still out, every ``/sys/kernel/debug/zswap`` statistic and the
   swap/zswap ``/proc/vmstat`` events are read.
5. The child reads all its pages back (timed) and sends them up; they are compared byte for
   byte. Then the child exits (freeing its slots and zswap entries), ``swapoff``, the swap file
   is deleted, the parameters are restored and debugfs unmounted if it was mounted here.

``stored_pages`` is checked against the number of non-zero pages: if some pages did not reach
zswap the result says so (``complete`` false, with a note) instead of reporting a wrong figure.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from ...errors import InvalidParameter
from ._host import (
    HOST,
    PAGE_SIZE,
    HostChanges,
    HostPaths,
    KernelRunError,
    KernelUnavailable,
    active_swaps,
    compression_algorithms,
    crypto_algorithms,
    debugfs_mounted,
    free_bytes,
    mem_info,
    mount_debugfs,
    read_vmstat,
    read_zswap_debugfs,
    read_zswap_params,
    require_root,
    signals_blocked,
    swap_header,
    swapon,
    write_text,
)
from .zram import count_mismatched_pages

__all__ = ["DEFAULT_SWAP_DIR", "VMSTAT_FIELDS", "ZswapRun", "run_zswap", "zswap_algorithms"]

#: Where the temporary swap file goes by default: /var/tmp is disk-backed on most systems
#: (a swap file on tmpfs is refused by the kernel).
DEFAULT_SWAP_DIR: Final = Path("/var/tmp")
#: The /proc/vmstat events a run reports (as differences over the run), where present.
VMSTAT_FIELDS: Final[tuple[str, ...]] = (
    "pswpin", "pswpout", "zswpin", "zswpout", "zswpwb", "swpin_zero", "swpout_zero", "thp_swpout",
)
_CHILD: Final = Path(__file__).with_name("_child.py")
_CHILD_TIMEOUT: Final = 300.0
_SWAP_SLACK_PAGES: Final = 2048


@dataclass
class ZswapRun:
    """What the host's zswap did with one page set (``stats`` are the debugfs names)."""

    compressor: str
    pages: int
    zero_pages: int
    stats: dict[str, int]
    vmstat: dict[str, int]
    params: dict[str, str]
    pageout_seconds: float
    pageout_attempts: int
    resident_kib_after_pageout: int
    readback_seconds: float
    verified: bool
    mismatched_pages: int
    complete: bool
    swap_file: str
    notes: list[str] = field(default_factory=list)
    #: The read-back's CPU time in the child (user and kernel: the faults, zswap's loads).
    readback_cpu_seconds: float | None = None

    @property
    def stored_pages(self) -> int:
        return self.stats.get("stored_pages", 0)

    @property
    def stored_incompressible_pages(self) -> int:
        return self.stats.get("stored_incompressible_pages", 0)

    @property
    def pool_total_size(self) -> int:
        return self.stats.get("pool_total_size", 0)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["stored_pages"] = self.stored_pages
        data["stored_incompressible_pages"] = self.stored_incompressible_pages
        data["pool_total_size"] = self.pool_total_size
        data["pageout_us_per_page"] = _us(self.pageout_seconds, self.pages)
        data["readback_us_per_page"] = _us(self.readback_seconds, self.pages)
        return data


def _us(seconds: float, pages: int) -> float:
    return round(seconds * 1e6 / pages, 3) if pages else 0.0


def zswap_algorithms(host: HostPaths = HOST) -> list[str]:
    """Compression algorithms the crypto API has registered (what zswap can use now)."""
    return compression_algorithms(host)


def _check_preconditions(compressor: str, nbytes: int, swap_dir: Path,
                         host: HostPaths) -> dict[str, str]:
    require_root()
    params = read_zswap_params(host)
    for name in ("enabled", "compressor", "max_pool_percent"):
        if name not in params:
            raise KernelUnavailable(f"zswap has no {name!r} parameter here")
    if compressor not in crypto_algorithms(host):
        raise KernelUnavailable(
            f"zswap on this kernel does not offer {compressor!r} (the crypto API has: "
            f"{', '.join(zswap_algorithms(host)) or 'none'})"
        )
    swaps = active_swaps(host)
    if swaps:
        raise KernelUnavailable(
            f"swap is active ({', '.join(swaps)}); refusing to disturb it (run with no swap on)"
        )
    if not swap_dir.is_dir():
        raise KernelUnavailable(f"swap file directory {swap_dir} does not exist")
    need_disk = nbytes + (_SWAP_SLACK_PAGES + 1) * PAGE_SIZE + nbytes // 8
    if free_bytes(swap_dir) < need_disk + (64 << 20):
        raise KernelUnavailable(f"not enough free space in {swap_dir} for a "
                                f"{need_disk >> 20} MiB swap file")
    mem = mem_info(host)
    # The child holds the set and a read-back copy; this process holds the set and the copy.
    if mem.get("MemAvailable", 0) < 4 * nbytes + (256 << 20):
        raise KernelUnavailable(f"not enough available memory for {nbytes >> 20} MiB of pages")
    return params


def _pool_percent(nbytes: int, current: str, host: HostPaths) -> int:
    """A ``max_pool_percent`` that holds the whole set raw twice over (never lower than now)."""
    total = mem_info(host).get("MemTotal", 0)
    need = math.ceil(200 * (nbytes + (1 << 20)) / total) if total else 100
    if need > 100:
        raise KernelUnavailable(f"{nbytes >> 20} MiB of pages is too much for this machine's "
                                "RAM to hold in zswap")
    try:
        now = int(current)
    except ValueError:
        now = 0
    return max(need, now)


def run_zswap(
    data: bytes | bytearray | memoryview,
    compressor: str,
    *,
    swap_dir: Path | None = None,
    host: HostPaths = HOST,
) -> ZswapRun:
    """Page ``data`` (whole pages) out through the host's zswap; see the module docstring.

    Raises :class:`KernelUnavailable` when the kernel side cannot run (nothing changed), and
    :class:`KernelRunError` if it started but could not finish (everything restored).
    """
    src = memoryview(data).cast("B")
    nbytes = src.nbytes
    if nbytes == 0 or nbytes % PAGE_SIZE:
        raise InvalidParameter(f"{nbytes} bytes is not a positive whole number of pages")
    npages = nbytes // PAGE_SIZE
    swap_dir = (swap_dir or DEFAULT_SWAP_DIR).resolve()
    saved = _check_preconditions(compressor, nbytes, swap_dir, host)
    words = np.frombuffer(src, dtype=np.uint64).reshape(npages, PAGE_SIZE // 8)
    zero_pages = int((~words.any(axis=1)).sum())
    del words
    notes: list[str] = []

    with HostChanges(host) as changes:
        if not debugfs_mounted(host):
            changes.record("umount", path=str(host.debugfs))
            try:
                mount_debugfs(host.debugfs)
            except OSError as exc:
                raise KernelUnavailable(f"debugfs is not mountable at {host.debugfs}: "
                                        f"{exc.strerror or exc}") from None
        changes.record("zswap_params", values=saved)

        swap_file = swap_dir / f"pyzswap-oracle-{os.getpid()}-{uuid.uuid4().hex[:8]}.swap"
        changes.record("unlink", path=str(swap_file))
        _make_swap_file(swap_file, npages + npages // 8 + _SWAP_SLACK_PAGES + 1)
        changes.record("swapoff", path=str(swap_file))
        try:
            swapon(swap_file)
        except OSError as exc:
            raise KernelUnavailable(f"swap file unsupported in {swap_dir}: "
                                    f"{exc.strerror or exc}") from None

        params = {
            "compressor": compressor,
            "max_pool_percent": str(_pool_percent(nbytes, saved["max_pool_percent"], host)),
            "enabled": "Y",
        }
        if "shrinker_enabled" in saved:
            params["shrinker_enabled"] = "N"
        for name in ("compressor", "max_pool_percent", "shrinker_enabled", "enabled"):
            if name not in params:
                continue
            try:
                write_text(host.zswap_params / name, params[name])
            except OSError as exc:
                raise KernelUnavailable(f"zswap refused {name}={params[name]}: "
                                        f"{exc.strerror or exc}") from None
        got = read_zswap_params(host)
        if got.get("compressor") != compressor:
            raise KernelUnavailable(f"zswap kept compressor {got.get('compressor')!r} after "
                                    f"being set to {compressor!r}")

        before_stats = read_zswap_debugfs(host)
        if before_stats.get("stored_pages", 0):
            notes.append(f"zswap already held {before_stats['stored_pages']} pages before the "
                         "run; figures are differences")
        before_vm = read_vmstat(host)
        child = _Child(npages, changes)
        try:
            child.load(src)
            out = child.command("pageout")
            after_stats = read_zswap_debugfs(host)
            after_vm = read_vmstat(host)
            back = child.command("readback")
            copy = child.read_exact(nbytes)
            mismatched = count_mismatched_pages(src, copy)
            del copy
            child.finish()
        finally:
            child.close()

    # Counters and gauges alike: the change over the run (before is all zero on an idle host).
    stats = {k: v - before_stats.get(k, 0) for k, v in after_stats.items()}
    vmstat = {k: after_vm[k] - before_vm.get(k, 0) for k in VMSTAT_FIELDS if k in after_vm}
    expected = npages - zero_pages
    complete = stats.get("stored_pages") == expected
    if not complete:
        notes.append(f"zswap holds {stats.get('stored_pages')} pages but {expected} non-zero "
                     f"pages were paged out ({out.get('rss_kib')} KiB still resident, "
                     f"pswpout {vmstat.get('pswpout')}, rejections: "
                     + (", ".join(f"{k}={v}" for k, v in stats.items()
                                  if k.startswith("reject") and v) or "none") + ")")
    return ZswapRun(
        compressor=compressor,
        pages=npages,
        zero_pages=zero_pages,
        stats=stats,
        vmstat=vmstat,
        params=params,
        pageout_seconds=float(out["seconds"]),
        pageout_attempts=int(out["attempts"]),
        resident_kib_after_pageout=int(out["rss_kib"]),
        readback_seconds=float(back["seconds"]),
        readback_cpu_seconds=float(back["cpu_seconds"]),
        verified=mismatched == 0,
        mismatched_pages=mismatched,
        complete=complete,
        swap_file=str(swap_file),
        notes=notes,
    )


def _make_swap_file(path: Path, nr_pages: int) -> None:
    """A swap file of ``nr_pages`` pages with no holes, root-only, with a swap header."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.posix_fallocate(fd, 0, nr_pages * PAGE_SIZE)
        except OSError:  # no fallocate on this filesystem: write zeros, as dd would
            zeros = bytes(1 << 20)
            left = nr_pages * PAGE_SIZE
            while left:
                left -= os.write(fd, zeros[:min(left, len(zeros))])
        os.pwrite(fd, swap_header(nr_pages), 0)
        os.fsync(fd)
    finally:
        os.close(fd)


class _Child:
    """The child process and its line protocol (JSON replies, raw page data)."""

    def __init__(self, npages: int, changes: HostChanges) -> None:
        cpu = min(os.sched_getaffinity(0))
        self._changes = changes
        self._proc = subprocess.Popen(
            [sys.executable, "-I", str(_CHILD), str(npages), str(cpu)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
        )
        self._kill = changes.record("kill", pid=self._proc.pid)
        self._buf = bytearray()

    def _send(self, data: bytes | memoryview) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise KernelRunError(f"the page-out child died (status {self._proc.poll()})") from None

    def _fill(self, want: int) -> None:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + _CHILD_TIMEOUT
        while len(self._buf) < want:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise KernelRunError("the page-out child did not answer in time")
            chunk = os.read(fd, max(1 << 16, want - len(self._buf)))
            if not chunk:
                raise KernelRunError(f"the page-out child died (status {self._proc.poll()})")
            self._buf += chunk

    def _line(self) -> dict[str, Any]:
        while b"\n" not in self._buf:
            self._fill(len(self._buf) + 1)
        line, _, rest = bytes(self._buf).partition(b"\n")
        self._buf = bytearray(rest)
        reply: dict[str, Any] = json.loads(line)
        if reply.get("event") == "error":
            raise KernelRunError(f"page-out child: {reply.get('error')}")
        return reply

    def read_exact(self, n: int) -> bytes:
        self._fill(n)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def load(self, src: memoryview) -> None:
        self._send(src)
        reply = self._line()
        if reply.get("event") != "ready":
            raise KernelRunError(f"unexpected reply from the page-out child: {reply}")

    def command(self, cmd: str) -> dict[str, Any]:
        self._send(cmd.encode() + b"\n")
        reply = self._line()
        if reply.get("event") != cmd:
            raise KernelRunError(f"unexpected reply from the page-out child: {reply}")
        return reply

    def finish(self) -> None:
        self._send(b"exit\n")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=30)

    def close(self) -> None:
        """Make sure the child is gone (its swap entries with it) before swapoff runs."""
        with signals_blocked():
            for pipe in (self._proc.stdin, self._proc.stdout):
                if pipe is not None:
                    pipe.close()
            if self._proc.poll() is None:  # Popen knows whether the pid is still ours
                self._proc.kill()
                self._proc.wait()
            self._changes.forget(self._kill)
