"""Snapshot a live process's anonymous memory into a page file (``pyzswap snapshot``).

Synthetic page sets only approximate what zswap really sees; the pages of a real process are
the honest workload. This reads them the way a debugger does: the anonymous mappings from
``/proc/PID/maps`` and their contents from ``/proc/PID/mem`` (root, or ptrace access to the
process), into a raw page file (4 KiB pages back to back, what ``pyzswap store`` and
``pyzswap kernel ...`` read), plus a metadata file ``FILE.json`` next to it.

Both are written under temporary names (``FILE.partial``, ``FILE.json.partial``) and renamed
into place only when complete, so ``FILE`` is never a partial snapshot: an interrupted
snapshot (Ctrl-C, SIGTERM) removes its temporary files, and one killed outright leaves only a
``.partial`` file, which the page-file readers refuse. An existing ``FILE`` that is not a
regular file (a FIFO, a device) is refused before anything is read.

*Anonymous* means what could go to swap: private writable mappings that are not file-backed,
i.e. with no path, or ``[heap]``, ``[stack]`` or ``[anon:NAME]`` (named with ``PR_SET_VMA``).
Shared mappings, file mappings (even private writable ones: their clean pages go back to the
file, not to swap) and ``[vvar]``/``[vdso]`` are left out.

By default only *populated* pages are taken, those ``/proc/PID/pagemap`` marks present or
swapped: a page the process never touched has no memory behind it and would never be swapped,
and a big reserved-but-unused arena would otherwise flood the set with zero pages.
``all_pages=True`` takes every page of every region (untouched ones read as zeros). Pages the
kernel will not read (``EIO``: a hardware-poisoned or otherwise unreadable page) are skipped
and counted.

The process keeps running while it is read, so the snapshot is not atomic: stop it first
(``kill -STOP``) if that matters.
"""

from __future__ import annotations

import errno as _errno
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np

from ..errors import ZswapError
from ..folio import PAGE_SIZE
from .pagesets import PARTIAL_SUFFIX

__all__ = ["PAGE_SIZE", "Region", "SnapshotError", "SnapshotInfo", "anonymous_regions",
           "is_anonymous", "parse_maps", "snapshot_process"]

_CHUNK_PAGES: Final = 256  # 1 MiB reads from /proc/PID/mem
_PAGEMAP_PRESENT: Final = 1 << 63
_PAGEMAP_SWAPPED: Final = 1 << 62

#: (pages done, pages total): called after every chunk.
Progress = Callable[[int, int], None]


class SnapshotError(ZswapError):
    """The process cannot be snapshotted (no such process, permission denied, no memory)."""

    errno = _errno.ESRCH


@dataclass
class Region:
    """One mapping of ``/proc/PID/maps`` and what the snapshot took from it."""

    start: int
    end: int
    perms: str
    pathname: str
    pages: int = 0  # size of the mapping in pages
    populated_pages: int = 0  # present or swapped according to pagemap
    captured_pages: int = 0  # written to the page file
    zero_pages: int = 0
    unreadable_pages: int = 0
    file_first_page: int = 0  # index in the page file of the first page taken from here

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["start"] = f"{self.start:#x}"
        data["end"] = f"{self.end:#x}"
        return data


@dataclass
class SnapshotInfo:
    """The metadata written to ``FILE.json``."""

    pid: int
    cmdline: list[str]
    comm: str
    page_file: str
    page_size: int
    all_pages: bool
    taken_at: float
    seconds: float
    total_pages: int
    zero_pages: int
    unreadable_pages: int
    unpopulated_pages_skipped: int
    regions: list[Region] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["regions"] = [r.to_dict() for r in self.regions]
        data["taken_at_iso"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.taken_at))
        return data


def parse_maps(text: str) -> list[Region]:
    """Every mapping of a ``/proc/PID/maps`` text (pathnames may contain spaces)."""
    regions: list[Region] = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        lo, _, hi = parts[0].partition("-")
        start, end = int(lo, 16), int(hi, 16)
        path = parts[5].strip() if len(parts) == 6 else ""
        regions.append(Region(start, end, parts[1], path, pages=(end - start) // PAGE_SIZE))
    return regions


def is_anonymous(region: Region) -> bool:
    """Private, readable and writable, and not backed by a file."""
    p = region.perms
    if len(p) < 4 or p[0] != "r" or p[1] != "w" or p[3] != "p":
        return False
    name = region.pathname
    return (name == "" or name == "[heap]" or name.startswith(("[stack", "[anon:")))


def anonymous_regions(pid: int) -> list[Region]:
    """The anonymous mappings of ``pid`` (see :func:`is_anonymous`)."""
    return [r for r in parse_maps(_read_proc(pid, "maps").decode(errors="replace"))
            if is_anonymous(r)]


def _read_proc(pid: int, name: str) -> bytes:
    path = f"/proc/{pid}/{name}"
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise SnapshotError(f"no such process: {pid}") from None
    except PermissionError:
        raise _denied(pid, path) from None
    except ProcessLookupError:
        raise SnapshotError(f"no such process: {pid}") from None


def _denied(pid: int, path: str) -> SnapshotError:
    err = SnapshotError(f"permission denied reading {path} (run as root, or with ptrace "
                        f"access to process {pid})")
    err.errno = _errno.EACCES
    return err


def _populated(pagemap_fd: int | None, region: Region) -> np.ndarray:
    """Bool per page of ``region``: present or swapped (all True without a pagemap)."""
    if pagemap_fd is None:
        return np.ones(region.pages, dtype=bool)
    raw = os.pread(pagemap_fd, region.pages * 8, (region.start // PAGE_SIZE) * 8)
    entries = np.frombuffer(raw, dtype=np.uint64)
    mask = (entries & np.uint64(_PAGEMAP_PRESENT | _PAGEMAP_SWAPPED)) != 0
    out = np.zeros(region.pages, dtype=bool)
    out[:len(mask)] = mask  # a region that shrank meanwhile: the rest counts as unpopulated
    return out


def _runs(mask: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """(first, count) runs of True in ``mask``, each at most ``limit`` long."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    runs: list[tuple[int, int]] = []
    for seg in np.split(idx, breaks):
        first, n = int(seg[0]), len(seg)
        for off in range(0, n, limit):
            runs.append((first + off, min(limit, n - off)))
    return runs


def snapshot_process(
    pid: int,
    output: str | os.PathLike[str],
    *,
    all_pages: bool = False,
    progress: Progress | None = None,
) -> SnapshotInfo:
    """Write ``pid``'s anonymous pages to ``output`` and its metadata to ``output + ".json"``.

    Raises :class:`SnapshotError` for a missing process, a permission problem or a process
    with no anonymous memory (nothing is written then).
    """
    if pid <= 0:
        raise SnapshotError(f"no such process: {pid}")
    t_start = time.time()
    t0 = time.perf_counter()
    cmdline = [a.decode(errors="replace") for a in _read_proc(pid, "cmdline").split(b"\0") if a]
    comm = _read_proc(pid, "comm").decode(errors="replace").strip()
    regions = anonymous_regions(pid)
    if not regions:
        raise SnapshotError(f"process {pid} ({comm}) has no anonymous memory to snapshot")
    notes: list[str] = []
    mem_path = f"/proc/{pid}/mem"
    try:
        mem_fd = os.open(mem_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SnapshotError(f"no such process: {pid}") from None
    except PermissionError:
        raise _denied(pid, mem_path) from None
    pagemap_fd: int | None = None
    if not all_pages:
        try:
            pagemap_fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            notes.append(f"pagemap unreadable ({exc.strerror}); every page was taken")
    out_path = Path(output)
    tmp_path = Path(f"{out_path}{PARTIAL_SUFFIX}")
    meta_tmp = Path(f"{out_path}.json{PARTIAL_SUFFIX}")
    try:
        _check_output(out_path)
        masks = [_populated(pagemap_fd, r) for r in regions]
        total = int(sum(int(m.sum()) for m in masks))
        done = written = 0
        buf = bytearray(_CHUNK_PAGES * PAGE_SIZE)
        view = memoryview(buf)
        with _create(tmp_path) as out:
            for region, mask in zip(regions, masks, strict=True):
                region.populated_pages = int(mask.sum())
                region.file_first_page = written
                for first, n in _runs(mask, _CHUNK_PAGES):
                    got = _read_run(mem_fd, region.start + first * PAGE_SIZE, n, view)
                    good = [i for i, ok in enumerate(got) if ok]
                    region.unreadable_pages += n - len(good)
                    if len(good) == n:
                        out.write(view[:n * PAGE_SIZE])
                        chunk = view[:n * PAGE_SIZE]
                    else:
                        pages = b"".join(bytes(view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
                                         for i in good)
                        out.write(pages)
                        chunk = memoryview(pages)
                    words = np.frombuffer(chunk, dtype=np.uint64).reshape(-1, PAGE_SIZE // 8)
                    region.zero_pages += int((~words.any(axis=1)).sum())
                    del words
                    chunk.release()
                    region.captured_pages += len(good)
                    written += len(good)
                    done += n
                    if progress is not None:
                        progress(done, total)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    finally:
        os.close(mem_fd)
        if pagemap_fd is not None:
            os.close(pagemap_fd)
    if not os.path.exists(f"/proc/{pid}"):
        notes.append("the process exited during the snapshot; later regions may be missing")
    info = SnapshotInfo(
        pid=pid,
        cmdline=cmdline,
        comm=comm,
        page_file=str(out_path),
        page_size=PAGE_SIZE,
        all_pages=all_pages,
        taken_at=t_start,
        seconds=time.perf_counter() - t0,
        total_pages=written,
        zero_pages=sum(r.zero_pages for r in regions),
        unreadable_pages=sum(r.unreadable_pages for r in regions),
        unpopulated_pages_skipped=sum(r.pages - r.populated_pages for r in regions),
        regions=regions,
        notes=notes,
    )
    try:
        with _create(meta_tmp) as f:
            f.write((json.dumps(info.to_dict(), indent=2) + "\n").encode())
        # complete: the page file first (a stale metadata file goes before), then its metadata
        Path(f"{out_path}.json").unlink(missing_ok=True)
        os.replace(tmp_path, out_path)
        os.replace(meta_tmp, f"{out_path}.json")
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        meta_tmp.unlink(missing_ok=True)
        raise
    return info


def _check_output(path: Path) -> None:
    """The output may be new or a regular file (replaced); anything else is refused."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise SnapshotError(f"{path}: exists and is not a regular file (a FIFO, device or "
                            "directory); choose another output")


def _create(path: Path) -> BinaryIO:
    """A new regular file at ``path`` for writing (an old one is replaced; never a FIFO that
    would block the open, never through a symlink)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                 0o644)
    return os.fdopen(fd, "wb")


def _read_run(fd: int, addr: int, n: int, view: memoryview) -> list[bool]:
    """Read ``n`` pages at ``addr`` into ``view``; one flag per page: was it readable?

    One ``preadv`` for the run; if the kernel refuses part of it, page by page, so one bad page
    costs only itself.
    """
    nbytes = n * PAGE_SIZE
    try:
        with view[:nbytes] as dst:
            got = os.preadv(fd, [dst], addr)
        if got == nbytes:
            return [True] * n
    except OSError as exc:
        if exc.errno not in (_errno.EIO, _errno.EFAULT):
            raise
    flags: list[bool] = []
    for i in range(n):
        try:
            with view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] as dst:
                ok = os.preadv(fd, [dst], addr + i * PAGE_SIZE) == PAGE_SIZE
        except OSError as exc:
            if exc.errno not in (_errno.EIO, _errno.EFAULT):
                raise
            ok = False
        flags.append(ok)
    return flags
