"""Workloads for the harness: which processes exist, what their pages hold, how they are used.

A :class:`Workload` is a list of :class:`ProcessSpec` (pid, size, memory cgroup, page contents)
and a stream of events in batches of numpy arrays: ``ops``, ``pids`` and ``pages``. The ops are
:data:`OP_READ` and :data:`OP_WRITE` (an access to page ``pages[i]`` of process ``pids[i]``),
:data:`OP_START` (the process starts: before it, it does not exist), :data:`OP_EXIT`, and the
control events :data:`OP_PAGEOUT`, :data:`OP_RECLAIM` and :data:`OP_SET`, whose ``pages[i]`` is
an index into :attr:`Workload.controls` (the trace line). A process's page exists from its first
access. Three sources:

* **built-in profiles** (:data:`PROFILES`): processes with realistic contents from
  :mod:`pyzswap.tools.pagesets` and an access pattern each — ``uniform``, ``zipf`` (a few hot pages,
  a long cold tail), ``phased`` (a hot window that moves: hot/warm/cold phases) and ``scan``
  (sequential passes, the worst case for an LRU);
* **page files** (raw 4 KiB pages, e.g. from ``pyzswap snapshot``) with a chosen pattern;
* **traces** in the text format of :mod:`pyzswap.run.trace`.

Everything is deterministic for a seed: contents, patterns and the write positions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from ..errors import CorruptData, InvalidParameter
from ..folio import PAGE_SIZE
from ..tools.pagesets import MAX_PAGE_FILE_BYTES, PAGESETS, make_pages_view, read_page_file
from ..tools.pagesets.files import _check_file_size, _open_checked

if TYPE_CHECKING:
    from .trace import TraceEvent

__all__ = [
    "DEFAULT_WORKLOAD",
    "OP_EXIT",
    "OP_PAGEOUT",
    "OP_READ",
    "OP_RECLAIM",
    "OP_SET",
    "OP_START",
    "OP_WRITE",
    "PATTERNS",
    "PROFILES",
    "EventBatch",
    "ProcessSpec",
    "Workload",
    "access_pattern",
    "builtin_workload",
    "page_file_workload",
    "trace_workload",
    "workload_from_name",
]

OP_READ: Final = 0
OP_WRITE: Final = 1
OP_EXIT: Final = 2
OP_START: Final = 3
OP_PAGEOUT: Final = 4
OP_RECLAIM: Final = 5
OP_SET: Final = 6

PATTERNS: Final = ("uniform", "zipf", "phased", "scan")
DEFAULT_WORKLOAD: Final = "default"
_BATCH: Final = 8192

#: (pids, pages, ops) arrays of one batch of events.
EventBatch = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int8]]


@dataclass
class ProcessSpec:
    """One process of a workload: its pages' initial contents come from ``contents()``."""

    pid: int
    npages: int
    contents: Callable[[], bytes | memoryview]
    memcg: str | None = None
    label: str = ""


@dataclass
class Workload:
    """Processes plus a deterministic stream of accesses (see the module docstring)."""

    name: str
    procs: list[ProcessSpec]
    events: Callable[[], Iterator[EventBatch]]
    nr_events: int
    #: RAM suggested by the workload (pages); the harness default when none is given.
    ram_pages: int = 0
    description: str = ""
    memcg_max: dict[str, int] = field(default_factory=dict)
    #: The trace lines of control events (``pageout``, ``reclaim``, ``set``), by index.
    controls: list[TraceEvent] = field(default_factory=list)
    #: Page accesses (``r``/``w``) among the events; 0: every event is an access.
    nr_accesses: int = 0

    @property
    def total_pages(self) -> int:
        return sum(p.npages for p in self.procs)


def access_pattern(pattern: str, npages: int, n: int, rng: np.random.Generator,
                   phase_ops: int = 20_000) -> npt.NDArray[np.int64]:
    """``n`` page numbers in ``0..npages-1`` drawn with ``pattern`` (vectorised)."""
    if npages <= 0:
        raise InvalidParameter("a process needs at least one page")
    if pattern == "uniform":
        return rng.integers(0, npages, size=n, dtype=np.int64)
    if pattern == "zipf":
        # Zipf over a random permutation of the pages: hot pages are scattered in memory.
        ranks = rng.zipf(1.2, size=n) - 1
        ranks %= npages
        perm = rng.permutation(npages).astype(np.int64)
        return perm[ranks]
    if pattern == "phased":
        # 80% of accesses to a hot window of 10% of the pages, 15% to a warm 30%, 5% anywhere;
        # the windows move every phase_ops accesses.
        idx = np.arange(n, dtype=np.int64)
        phase = idx // max(phase_ops, 1)
        hot = max(1, npages // 10)
        warm = max(1, (npages * 3) // 10)
        base = (phase * 7919 * hot) % npages
        u = rng.random(n)
        hot_pages = (base + rng.integers(0, hot, size=n)) % npages
        warm_pages = (base + hot + rng.integers(0, warm, size=n)) % npages
        any_pages = rng.integers(0, npages, size=n, dtype=np.int64)
        return np.where(u < 0.80, hot_pages, np.where(u < 0.95, warm_pages, any_pages))
    if pattern == "scan":
        start = int(rng.integers(0, npages))
        return (start + np.arange(n, dtype=np.int64)) % npages
    raise InvalidParameter(f"unknown access pattern {pattern!r} (choose from "
                           f"{', '.join(PATTERNS)})")


def _mixed_events(procs: list[tuple[int, int, str, float]], nr_events: int, seed: int,
                  write_fraction: float) -> Callable[[], Iterator[EventBatch]]:
    """Every process starts, then their accesses interleave by weight; each process follows
    its own pattern."""

    def events() -> Iterator[EventBatch]:
        yield (np.array([p[0] for p in procs], dtype=np.int64),
               np.zeros(len(procs), dtype=np.int64),
               np.full(len(procs), OP_START, dtype=np.int8))
        rng = np.random.default_rng(seed)
        weights = np.array([w for *_, w in procs], dtype=float)
        weights /= weights.sum()
        done = 0
        while done < nr_events:
            n = min(_BATCH, nr_events - done)
            which = rng.choice(len(procs), size=n, p=weights)
            pids = np.empty(n, dtype=np.int64)
            pages = np.empty(n, dtype=np.int64)
            for k, (pid, npages, pattern, _) in enumerate(procs):
                mask = which == k
                count = int(mask.sum())
                pids[mask] = pid
                pages[mask] = access_pattern(pattern, npages, count, rng)
            ops = (rng.random(n) < write_fraction).astype(np.int8)
            yield pids, pages, ops
            done += n

    return events


def _contents(profile: str, npages: int, seed: int) -> Callable[[], bytes | memoryview]:
    return lambda: make_pages_view(profile, npages, seed=seed)


#: The built-in workloads: name -> (description, processes (pid, pageset, pages, pattern,
#: weight, memcg), RAM as a fraction of all pages, events, write fraction).
PROFILES: Final[dict[str, tuple[str, list[tuple[int, str, int, str, float, str | None]],
                                float, int, float]]] = {
    "default": (
        "three processes: a Python-like heap (zipf), a mixed data set (phased), a numeric scan",
        [(100, "real", 8192, "zipf", 0.5, None), (200, "mixed", 4096, "phased", 0.35, None),
         (300, "numeric", 2048, "scan", 0.15, None)],
        0.55, 150_000, 0.1,
    ),
    "heap": ("one Python-like heap, zipf accesses",
             [(100, "real", 16384, "zipf", 1.0, None)], 0.5, 150_000, 0.1),
    "phased": ("a mixed data set whose hot window moves",
               [(100, "mixed", 16384, "phased", 1.0, None)], 0.5, 150_000, 0.1),
    "scan": ("sequential passes over numeric data (worst case for LRU)",
             [(100, "numeric", 8192, "scan", 1.0, None)], 0.6, 60_000, 0.05),
    "cgroups": (
        "two groups: 'batch' (memory.max limited) and 'web' share the machine",
        [(100, "real", 6144, "zipf", 0.5, "web"), (200, "mixed", 6144, "phased", 0.5, "batch")],
        0.8, 120_000, 0.1,
    ),
}


def builtin_workload(name: str = DEFAULT_WORKLOAD, *, seed: int = 0, scale: float = 1.0,
                     ops: int | None = None) -> Workload:
    """A built-in workload, its sizes multiplied by ``scale`` (pages and events)."""
    if name not in PROFILES:
        raise InvalidParameter(f"unknown workload {name!r} (built-in: {', '.join(PROFILES)}; "
                               "or give a page file or a trace)")
    if not scale > 0:
        raise InvalidParameter(f"scale must be positive, got {scale!r}")
    description, procs, ram_fraction, nr_events, write_fraction = PROFILES[name]
    specs = []
    plan = []
    for k, (pid, profile, npages, pattern, weight, memcg) in enumerate(procs):
        n = max(1, int(npages * scale))
        specs.append(ProcessSpec(pid, n, _contents(profile, n, seed * 1000 + k), memcg,
                                 f"{profile}/{pattern}"))
        plan.append((pid, n, pattern, weight))
    total = sum(s.npages for s in specs)
    nr = ops if ops is not None else max(1, int(nr_events * scale))
    memcg_max = {"batch": int(total * 0.25) * PAGE_SIZE} if name == "cgroups" else {}
    return Workload(name, specs, _mixed_events(plan, nr, seed, write_fraction),
                    nr + len(specs), ram_pages=max(1, int(total * ram_fraction)),
                    description=description, memcg_max=memcg_max, nr_accesses=nr)


def page_file_workload(path: str | Path, *, pattern: str = "zipf", seed: int = 0,
                       ops: int | None = None, write_fraction: float = 0.1) -> Workload:
    """One process whose pages are a page file (e.g. a snapshot), accessed with ``pattern``."""
    if pattern not in PATTERNS:
        raise InvalidParameter(f"unknown access pattern {pattern!r} (choose from "
                               f"{', '.join(PATTERNS)})")
    pages = FilePages(path)
    npages = len(pages) // PAGE_SIZE
    if npages == 0:
        raise CorruptData(f"{path}: the page file is empty")
    nr = ops if ops is not None else max(10_000, npages * 8)
    spec = ProcessSpec(1, npages, lambda: pages, None, Path(path).name)  # type: ignore[arg-type,return-value]
    return Workload(Path(path).name, [spec],
                    _mixed_events([(1, npages, pattern, 1.0)], nr, seed, write_fraction), nr + 1,
                    ram_pages=max(1, npages // 2), description=f"page file, {pattern} accesses",
                    nr_accesses=nr)


class FilePages:
    """A page file as a process's contents, read straight into the mm model's memory when the
    process starts (``MemoryModel.start`` calls :meth:`readinto`), so no copy of the pages is
    held by the workload: a run's memory stays about one page file (plus the compressed pool)
    however often the workload is replayed. The checks of :func:`read_page_file` run when it
    is made (a FIFO, a device, a size that is not whole pages, an incomplete snapshot)."""

    _CHUNK: Final = 64 << 20

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fd = _open_checked(self.path, limit=MAX_PAGE_FILE_BYTES)
        try:
            self.nbytes = os.fstat(fd).st_size
        finally:
            os.close(fd)
        _check_file_size(self.path, self.nbytes)

    def __len__(self) -> int:
        return self.nbytes

    def readinto(self, view: memoryview) -> None:
        """Fill ``view`` (at most the file's size) from the file, a chunk at a time."""
        with os.fdopen(_open_checked(self.path, limit=MAX_PAGE_FILE_BYTES), "rb",
                       buffering=0) as f:
            got, want = 0, min(len(view), self.nbytes)
            while got < want:
                n = f.readinto(view[got:min(want, got + self._CHUNK)])
                if not n:
                    raise CorruptData(f"{self.path}: the page file shrank while it was read "
                                      f"({got} of {want} bytes)")
                got += n


def trace_workload(path: str | Path, *, seed: int = 0) -> Workload:
    """A workload from a trace file (:mod:`pyzswap.run.trace`), read into arrays
    (:func:`pyzswap.run.trace_arrays.read_trace_arrays`)."""
    from .trace_arrays import read_trace_arrays

    trace = read_trace_arrays(path)
    base = Path(path).parent
    specs = []
    for spec in trace.procs.values():
        if spec.pageset not in PAGESETS:
            raise CorruptData(f"{path}:{spec.line}: unknown page set {spec.pageset!r}")
        if spec.file is not None:
            file_path = Path(spec.file) if Path(spec.file).is_absolute() else base / spec.file
            contents: Callable[[], bytes | memoryview] = _file_contents(
                file_path, spec.npages, f"{path}:{spec.line}")
        else:
            contents = _contents(spec.pageset, spec.npages,
                                 seed * 1000 + (spec.seed if spec.seed is not None else spec.pid))
        specs.append(ProcessSpec(spec.pid, spec.npages, contents, spec.memcg,
                                 spec.file or spec.pageset))
    n = len(trace)
    codes = _OP_CODES[trace.ops]
    is_control = codes >= OP_PAGEOUT
    # a control event's "page" is its index in `controls`; an exit's is 0
    firsts = np.where(is_control, np.cumsum(is_control) - 1,
                      np.where(codes == OP_EXIT, 0, trace.firsts))
    lasts = np.where(codes <= OP_WRITE, trace.lasts, firsts)
    controls = [trace.others[i] for i in np.flatnonzero(is_control).tolist()]
    # each process's start goes before the event its `proc` line precedes (declaration order
    # is the order of `at`); a batch holds the events of 4096 trace lines and their starts
    at = np.array([min(s.at, n) for s in trace.procs.values()], dtype=np.int64)
    start_pids = np.array(list(trace.procs), dtype=np.int64)
    all_codes = np.insert(codes, at, OP_START)
    all_pids = np.insert(trace.pids, at, start_pids)
    all_firsts = np.insert(firsts, at, 0)
    all_lasts = np.insert(lasts, at, 0)
    chunk = np.insert(np.arange(n, dtype=np.int64) // _TRACE_STEP, at, at // _TRACE_STEP)
    bounds = np.flatnonzero(np.diff(chunk)) + 1
    cuts = [0, *bounds.tolist(), len(chunk)]

    def batches() -> Iterator[EventBatch]:
        """The events, expanded (a range is one access per page), 4096 trace lines at a
        time."""
        for lo, hi in pairwise(cuts):
            if lo == hi:
                continue
            first = all_firsts[lo:hi]
            counts = all_lasts[lo:hi] - first + 1
            if int(counts.max()) == 1:
                yield all_pids[lo:hi], first, all_codes[lo:hi]
                continue
            total = int(counts.sum())
            # page k of line i: first[i] + k, as first[i] + (position - start of line i)
            line_start = np.cumsum(counts) - counts
            idx = np.repeat(np.arange(len(counts)), counts)
            pages = first[idx] + (np.arange(total, dtype=np.int64) - line_start[idx])
            yield all_pids[lo:hi][idx], pages, all_codes[lo:hi][idx]

    accesses = trace.accesses
    nr = accesses + len(trace.procs) + int(np.count_nonzero(codes > OP_WRITE))
    total = sum(s.npages for s in specs)
    return Workload(Path(path).name, specs, batches, nr, ram_pages=max(1, total // 2),
                    description="trace", controls=controls, nr_accesses=accesses)


#: Trace lines per batch of events.
_TRACE_STEP: Final = 4096
#: :data:`pyzswap.run.trace_arrays.EVENT_OPS` index -> event code.
_OP_CODES: Final = np.array([OP_READ, OP_WRITE, OP_EXIT, OP_PAGEOUT, OP_RECLAIM, OP_SET],
                            dtype=np.int8)


def _file_contents(path: Path, npages: int, where: str) -> Callable[[], bytes]:
    def load() -> bytes:
        data = read_page_file(path)
        if len(data) < npages * PAGE_SIZE:
            raise CorruptData(f"{where}: {path} has {len(data) // PAGE_SIZE} pages, the process "
                              f"needs {npages}")
        return data[: npages * PAGE_SIZE]

    return load


def workload_from_name(spec: str | None, *, seed: int = 0, pattern: str = "zipf",
                       ops: int | None = None, scale: float = 1.0) -> Workload:
    """Resolve the CLI's WORKLOAD argument: a built-in name, a trace file or a page file."""
    if spec is None:
        return builtin_workload(DEFAULT_WORKLOAD, seed=seed, scale=scale, ops=ops)
    if spec in PROFILES:
        return builtin_workload(spec, seed=seed, scale=scale, ops=ops)
    path = Path(spec)
    if not path.exists():
        raise InvalidParameter(f"unknown workload {spec!r}: not a built-in workload "
                               f"({', '.join(PROFILES)}) and no such file")
    if path.is_dir():
        raise InvalidParameter(f"{spec}: is a directory, expected a page file or a trace")
    with path.open("rb") as fh:
        head = fh.read(64)
    if head.lstrip().startswith((b"#", b"proc")):
        return trace_workload(path, seed=seed)
    return page_file_workload(path, pattern=pattern, seed=seed, ops=ops)
