"""Run a workload through the mm model, zswap and a real swap file; report what happened.

:func:`run_workload` builds a fresh zswap (the requested compressor and parameters, RAM size as
its ``totalram_pages``), a swap file big enough for every page, memory cgroups for the
workload's groups, and the :class:`~pyzswap.run.mm.MemoryModel`; starts the processes; replays
the access stream; and returns a :class:`RunReport` whose :meth:`RunReport.to_dict` is the JSON
of ``pyzswap run --json``.

Determinism: the mm is single-threaded, and zswap's pool-limit worker runs inline (right after
the store that found the pool full) instead of on its thread, so the same seed gives the same
statistics. Timings (latencies, CPU seconds, wall time) are measured, so they vary.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameter
from ..folio import PAGE_SIZE
from ..memcg import MemCgroup
from ..swapcore import SwapCore
from ..zswap import Zswap
from .mm import MemoryModel
from .workload import OP_EXIT, OP_WRITE, Workload

__all__ = ["RunConfig", "RunReport", "run_workload"]

#: Progress callback: (events done, events total).
Progress = Callable[[int, int], None]

_RATIO_EDGES = [1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 16.0, 4096.0]


@dataclass
class RunConfig:
    """The settings of one run (zswap parameters by their kernel names)."""

    compressor: str = "lzo"
    ram_pages: int | None = None
    max_pool_percent: int = 20
    accept_threshold_percent: int = 90
    shrinker_enabled: bool = False
    #: memory.max per memcg path (bytes; None = max)
    memcg_max: dict[str, int | None] = field(default_factory=dict)
    #: memory.zswap.max per memcg path (bytes; None = max)
    zswap_max: dict[str, int | None] = field(default_factory=dict)
    #: memory.zswap.writeback per memcg path
    zswap_writeback: dict[str, bool] = field(default_factory=dict)
    seed: int = 0
    verify: bool = True
    samples: int = 100
    label: str = ""


@dataclass
class RunReport:
    """Everything a run measured; :meth:`to_dict` gives the JSON form."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


class _Timers:
    """Latency and CPU time of zswap's store and load calls, writeback excluded."""

    def __init__(self, zswap: Zswap) -> None:
        self.store: list[float] = []
        self.load: list[float] = []
        self.cpu = {"store": 0.0, "load": 0.0, "writeback": 0.0}
        self.writeback_wall = 0.0
        orig_store, orig_load, orig_worker = zswap.store, zswap.load, zswap.shrink_worker
        clock, cpu = time.perf_counter, time.thread_time

        def store(*args: Any, **kwargs: Any) -> bool:
            wb0, wbc0 = self.writeback_wall, self.cpu["writeback"]
            t0, c0 = clock(), cpu()
            ok = orig_store(*args, **kwargs)
            t1, c1 = clock(), cpu()
            self.store.append(t1 - t0 - (self.writeback_wall - wb0))
            self.cpu["store"] += c1 - c0 - (self.cpu["writeback"] - wbc0)
            return ok

        def load(*args: Any, **kwargs: Any) -> bool:
            t0, c0 = clock(), cpu()
            found = orig_load(*args, **kwargs)
            t1, c1 = clock(), cpu()
            if found:
                self.load.append(t1 - t0)
                self.cpu["load"] += c1 - c0
            return found

        def worker() -> None:
            t0, c0 = clock(), cpu()
            try:
                orig_worker()
            finally:
                self.writeback_wall += clock() - t0
                self.cpu["writeback"] += cpu() - c0

        zswap.store = store  # type: ignore[method-assign]
        zswap.load = load  # type: ignore[method-assign]
        zswap.shrink_worker = worker  # type: ignore[method-assign]


def _percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"count": 0, "p50_us": 0.0, "p90_us": 0.0, "p99_us": 0.0, "max_us": 0.0,
                "mean_us": 0.0}
    arr = np.asarray(samples) * 1e6
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"count": len(samples), "p50_us": round(float(p50), 3),
            "p90_us": round(float(p90), 3), "p99_us": round(float(p99), 3),
            "max_us": round(float(arr.max()), 3), "mean_us": round(float(arr.mean()), 3)}


def _norm(path: str) -> str:
    """One spelling per cgroup path: no leading or trailing slash ("/a/b" and "a/b" agree)."""
    return path.strip("/")


def _memcg_for(root: MemCgroup, path: str) -> MemCgroup:
    node = root
    for name in filter(None, path.strip("/").split("/")):
        existing = next((c for c in node.children if c.path.rsplit("/", 1)[-1] == name), None)
        node = existing if existing is not None else node.create(name)
    return node


def run_workload(workload: Workload, config: RunConfig | None = None, *,
                 progress: Progress | None = None,
                 swap_dir: str | None = None) -> RunReport:
    """Replay ``workload`` under ``config``; see the module docstring."""
    cfg = config or RunConfig()
    ram_pages = cfg.ram_pages if cfg.ram_pages is not None else workload.ram_pages
    if ram_pages < 1:
        raise InvalidParameter(f"RAM must be at least one page ({PAGE_SIZE} bytes)")
    groups = {_norm(p) for p in (
        [p.memcg for p in workload.procs if p.memcg] + list(cfg.memcg_max)
        + list(cfg.zswap_max) + list(cfg.zswap_writeback) + list(workload.memcg_max))}
    root = MemCgroup() if groups else None
    zswap = Zswap(compressor=cfg.compressor, totalram_pages=ram_pages,
                  max_pool_percent=cfg.max_pool_percent,
                  accept_threshold_percent=cfg.accept_threshold_percent,
                  shrinker_enabled=cfg.shrinker_enabled, memcg_root=root,
                  shrink_work="inline", cpus=1)
    memcgs: dict[str, MemCgroup] = {}
    if root is not None:
        for path in sorted(groups):
            memcgs[path] = _memcg_for(root, path)
        for path, limit in {**workload.memcg_max, **cfg.memcg_max}.items():
            memcgs[_norm(path)].write("memory.max", "max" if limit is None else str(limit))
        for path, limit in cfg.zswap_max.items():
            memcgs[_norm(path)].write("memory.zswap.max", "max" if limit is None else str(limit))
        for path, enabled in cfg.zswap_writeback.items():
            memcgs[_norm(path)].write("memory.zswap.writeback", "1" if enabled else "0")
    timers = _Timers(zswap)
    with tempfile.TemporaryDirectory(prefix="pyzswap-run-", dir=swap_dir) as tmp:
        core = SwapCore(zswap, directory=tmp)
        try:
            core.swapon(workload.total_pages + 1024)
            mm = MemoryModel(core, ram_pages, seed=cfg.seed, verify=cfg.verify)
            return _replay(workload, cfg, ram_pages, zswap, core, mm, memcgs, timers, progress)
        finally:
            core.close()


def _replay(workload: Workload, cfg: RunConfig, ram_pages: int, zswap: Zswap, core: SwapCore,
            mm: MemoryModel, memcgs: dict[str, MemCgroup], timers: _Timers,
            progress: Progress | None) -> RunReport:
    t_start = time.perf_counter()
    for proc in workload.procs:
        mm.add_process(proc.pid, proc.contents(),
                       memcgs[_norm(proc.memcg)] if proc.memcg else None)
    total = workload.nr_events
    every = max(1, total // max(1, cfg.samples))
    timeline: dict[str, list[int]] = {k: [] for k in (
        "ops", "pool_total_size", "compressed_bytes", "stored_pages", "resident_pages",
        "written_back_pages", "pswpout")}

    def sample(done: int) -> None:
        st = zswap.stats()
        timeline["ops"].append(done)
        timeline["pool_total_size"].append(st["pool_total_size"])
        timeline["compressed_bytes"].append(zswap.compressed_bytes())
        timeline["stored_pages"].append(st["stored_pages"])
        timeline["resident_pages"].append(mm.resident_pages)
        timeline["written_back_pages"].append(st["written_back_pages"])
        timeline["pswpout"].append(core.stats()["pswpout"])

    sample(0)
    done = 0
    access, exit_ = mm.access, mm.exit
    for pids, pages, ops in workload.events():
        for pid, page, op in zip(pids.tolist(), pages.tolist(), ops.tolist(), strict=True):
            if op == OP_EXIT:
                exit_(pid)
            else:
                access(pid, page, op == OP_WRITE)
            done += 1
            if done % every == 0:
                sample(done)
                if progress is not None:
                    progress(done, total)
    if done % every:
        sample(done)
    if progress is not None:
        progress(done, total)
    wall = time.perf_counter() - t_start
    return RunReport(_report(workload, cfg, ram_pages, zswap, core, mm, memcgs, timers,
                             timeline, wall))


def _report(workload: Workload, cfg: RunConfig, ram_pages: int, zswap: Zswap, core: SwapCore,
            mm: MemoryModel, memcgs: dict[str, MemCgroup], timers: _Timers,
            timeline: dict[str, list[int]], wall: float) -> dict[str, Any]:
    st = zswap.stats()
    vm = zswap.vmstat()
    swap = core.stats()
    entries = [e for t in core.table.types() for e in zswap.entries(t)]
    lengths = np.array([e.length for e in entries], dtype=np.float64)
    ratios = PAGE_SIZE / lengths if len(lengths) else lengths
    counts, edges = np.histogram(ratios, bins=_RATIO_EDGES)
    stored = st["stored_pages"]
    compressed = int(lengths.sum())
    saved = stored * PAGE_SIZE - st["pool_total_size"]
    pool_pages = sum(p.total_pages() for p in zswap.pools())
    identity = vm["zswpout"] - vm["zswpin"] - zswap.invalidated_pages - vm["zswpwb"]
    mms = mm.stats
    pool_series = np.array(timeline["pool_total_size"], dtype=np.float64)
    stored_series = np.array(timeline["stored_pages"], dtype=np.float64) * PAGE_SIZE
    return {
        "workload": workload.name,
        "description": workload.description,
        "label": cfg.label or cfg.compressor,
        "compressor": cfg.compressor,
        "seed": cfg.seed,
        "parameters": zswap.params(),
        "ram_pages": ram_pages,
        "ram_bytes": ram_pages * PAGE_SIZE,
        "processes": [{"pid": p.pid, "pages": p.npages, "memcg": p.memcg, "label": p.label}
                      for p in workload.procs],
        "total_pages": workload.total_pages,
        "events": mms.accesses + mms.exits,
        "wall_seconds": round(wall, 3),
        "debugfs": st,
        "vmstat": {**vm, "pswpin": swap["pswpin"], "pswpout": swap["pswpout"],
                   "swpout_zero": swap["swpout_zero"], "swpin_zero": swap["swpin_zero"],
                   "pgfault_swap": mms.faults, "pgscan": mms.pgscan, "pgsteal": mms.pgsteal,
                   "pgactivate": mms.pgactivate, "pgdeactivate": mms.pgdeactivate},
        "memcg": {path: {"memory.current": g.memory_current, **g.stat(),
                         "memory.zswap.current": g.zswap_current}
                  for path, g in memcgs.items() if g.online},
        "memory": {
            "stored_bytes": stored * PAGE_SIZE,
            "compressed_bytes": compressed,
            "pool_total_size": st["pool_total_size"],
            "saved_bytes": saved,
            "compression_ratio": round(stored * PAGE_SIZE / compressed, 4) if compressed else 0,
            "pool_ratio": round(stored * PAGE_SIZE / st["pool_total_size"], 4)
            if st["pool_total_size"] else 0,
            "mean_saved_bytes": int((stored_series - pool_series).mean())
            if len(pool_series) else 0,
            "peak_pool_total_size": int(pool_series.max()) if len(pool_series) else 0,
        },
        "faults": {"total": mms.faults, "zswap": mms.faults_zswap, "disk": mms.faults_disk,
                   "zero": mms.faults_zero},
        "writeback": {"written_back_pages": st["written_back_pages"],
                      "reject_reclaim_fail": st["reject_reclaim_fail"],
                      "pool_limit_hit": st["pool_limit_hit"],
                      "seconds": round(timers.writeback_wall, 4)},
        "cpu_seconds": {k: round(v, 4) for k, v in timers.cpu.items()},
        "latency": {"store": _percentiles(timers.store), "load": _percentiles(timers.load)},
        "latency_us": {"store": [round(x * 1e6, 2) for x in timers.store[::max(
            1, len(timers.store) // 2000)]],
            "load": [round(x * 1e6, 2) for x in timers.load[::max(
                1, len(timers.load) // 2000)]]},
        "ratio_histogram": {"edges": [float(e) for e in edges],
                            "counts": [int(c) for c in counts]},
        "timeline": timeline,
        "consistency": {
            "stored_pages": stored,
            "zswpout_minus_zswpin_invalidated_written_back": identity,
            "identity_holds": identity == stored,
            "pool_pages": pool_pages,
            "pool_total_size_matches_zsmalloc":
                pool_pages * PAGE_SIZE == st["pool_total_size"],
            "lost_pages": 0,
            "verified_faults": mms.faults if cfg.verify else 0,
        },
        "mm": {"reclaim_batches": mms.reclaim_batches,
               "shrinker_scanned": mms.shrinker_scanned,
               "pages_compacted": mms.pages_compacted, "over_limit": mms.over_limit,
               "memcg_reclaims": mms.memcg_reclaims, "exits": mms.exits,
               "writes": mms.writes, "reads": mms.reads},
        "median_store_us": round(statistics.median(timers.store) * 1e6, 3)
        if timers.store else 0.0,
    }
