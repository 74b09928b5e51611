"""Run a workload through the mm model, zswap and a real swap file; report what happened.

:func:`run_workload` builds a fresh zswap (the requested compressor and parameters, RAM size as
its ``totalram_pages``), a swap file big enough for every page (in tmpfs when it has room:
:func:`default_swap_dir`), memory cgroups for the
workload's groups, and the :class:`~pyzswap.run.mm.MemoryModel`; starts the processes; replays
the access stream; and returns a :class:`RunReport` whose :meth:`RunReport.to_dict` is the JSON
of ``pyzswap run --json``.

Determinism: the mm is single-threaded, and zswap's pool-limit worker (like kswapd) runs on the
model's clock instead of on a thread (``Zswap(shrink_work="clock")``), so the same seed gives
the same statistics. Timings (latencies, CPU seconds, wall time) are measured, so they vary.

The JSON's top level holds the kernel's counters under their kernel names (the contract of
``pyzswap run --json`` and ``pyzswap kernel run --json``, docs/WORKLOADS.md): ``zswpout``,
``zswpin``, ``zswpwb``, ``pswpin``, ``pswpout``, ``swpout_zero``, ``swpin_zero``,
``pgmajfault``, ``pgscan_anon``, ``pgsteal_anon``, ``pgactivate``, ``pgdeactivate``,
``workingset_refault_anon``, ``workingset_activate_anon``, ``pool_total_size``,
``stored_pages``, ``stored_incompressible_pages``, ``written_back_pages``, ``pool_limit_hit``,
the ``timeline`` (samples ``{"t", "stored_pages", "pool_total_size"}`` at least every 1% of the
accesses) and ``wall_seconds``; the sections below it detail the run.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _compiled
from ..errors import InvalidParameter
from ..folio import PAGE_SIZE
from ..memcg import MemCgroup, memparse
from ..swapcore import SwapCore, ZswapTimer
from ..zsmalloc import ZsPool, huge_class_size
from ..zswap import Zswap
from .mm import MemoryModel, OutOfMemory
from .workload import OP_EXIT, OP_PAGEOUT, OP_RECLAIM, OP_START, OP_WRITE, Workload

__all__ = ["SHM_DIR", "RunConfig", "RunReport", "default_swap_dir", "run_workload"]

#: Progress callback: (events done, events total).
Progress = Callable[[int, int], None]

_RATIO_EDGES = [1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 16.0, 4096.0]


@dataclass
class RunConfig:
    """The settings of one run (zswap parameters and sysctls by their kernel names)."""

    compressor: str = "lzo"
    #: The machine's RAM (``MemTotal``, the base of ``max_pool_percent``); None: the
    #: workload's suggestion.
    ram_pages: int | None = None
    max_pool_percent: int = 20
    accept_threshold_percent: int = 90
    shrinker_enabled: bool = False
    #: The memory cgroup version (1: the legacy controller: ``memory.limit_in_bytes``, zswap
    #: not charged; 2: ``memory.max``, zswap charged).
    cgroup_version: int = 2
    #: memory.max (v1: memory.limit_in_bytes) per memcg path (bytes; None = max)
    memcg_max: dict[str, int | None] = field(default_factory=dict)
    #: memory.zswap.max per memcg path (bytes; None = max; cgroup v2)
    zswap_max: dict[str, int | None] = field(default_factory=dict)
    #: memory.zswap.writeback per memcg path (cgroup v2)
    zswap_writeback: dict[str, bool] = field(default_factory=dict)
    #: vm.swappiness (and, under v1, every group's memory.swappiness)
    swappiness: int = 60
    #: vm.page-cluster (swap readahead of up to 2**page_cluster pages)
    page_cluster: int = 3
    #: vm.min_free_kbytes; None: the kernel's default for the RAM size
    min_free_kbytes: int | None = None
    #: Swap space in pages; None: every page of the workload plus 1024
    swap_pages: int | None = None
    #: The machine's other memory cgroups, which zswap's shrink worker walks past on every
    #: pass over the hierarchy: online ones (holding no zswap entries; made before the
    #: workload's groups, as a host's own exist before a job's), and dying ones (removed, not
    #: yet freed: cheaper to pass, docs/KERNEL_ORACLE.md "What paces the shrink worker").
    host_memcgs: int = 0
    dying_memcgs: int = 0
    seed: int = 0
    verify: bool = True
    samples: int = 100
    label: str = ""
    #: What swapped-out pages go to: ``zswap`` (zswap in front of a disk swap file), ``zram``
    #: (a zram swap device, no disk) or ``none`` (zswap disabled: the disk only).
    backend: str = "zswap"
    #: zram's ``disksize`` in pages (``--backend zram``); None: like the swap file of the
    #: other backends, room for every page of the workload (a device too small to hold what
    #: reclaim must swap out makes the kernel OOM-kill; the model would only thrash).
    zram_size_pages: int | None = None


@dataclass
class RunReport:
    """Everything a run measured; :meth:`to_dict` gives the JSON form."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


class _Timers:
    """Latency and time of zswap's store and load calls (sampled by the swap core's
    :class:`ZswapTimer`: one call in :data:`SAMPLE_EVERY`, the totals scaled up from the
    sample), and of the shrink worker."""

    def __init__(self) -> None:
        self.zswap_timer = ZswapTimer(SAMPLE_EVERY)
        self.cpu = {"store": 0.0, "load": 0.0, "writeback": 0.0}
        self.writeback_wall = 0.0

    def add_worker(self, seconds: float) -> None:
        """The shrink worker's steps, timed by the model that runs them on its clock."""
        self.writeback_wall += seconds
        self.cpu["writeback"] += seconds

    @property
    def store(self) -> list[float]:
        return self.zswap_timer.store

    @property
    def load(self) -> list[float]:
        return self.zswap_timer.load

    def scale_up(self) -> None:
        """The store and load totals from the samples (at the end of the replay)."""
        every = self.zswap_timer.every
        self.cpu["store"] = sum(self.store) * every
        self.cpu["load"] = sum(self.load) * every

    def time_shrinker(self, zswap: Zswap) -> None:
        """Count ``zswap_shrinker_scan`` (writeback under memory pressure, ``--shrinker``) as
        writeback time too: the pool-limit worker is not the only writer."""
        orig = zswap.shrinker_scan
        clock = time.perf_counter

        def scan(*args: Any, **kwargs: Any) -> int:
            t0 = clock()
            try:
                return orig(*args, **kwargs)
            finally:
                t = clock() - t0
                self.writeback_wall += t
                self.cpu["writeback"] += t

        zswap.shrinker_scan = scan  # type: ignore[method-assign]


class _ZramPages:
    """Which stored slots hold a same-filled page (every 8-byte word equal): zram stores those
    as a flag and no data (``zram_write_page`` -> ``page_same_filled``); the model's zswap, which
    plays the zram device (:func:`run_workload`), compresses them. Read at the end for zram's
    ``mm_stat``."""

    def __init__(self, zswap: Zswap, ram_pages: int) -> None:
        self.same: set[tuple[int, int]] = set()
        orig = zswap.store
        same = self.same
        limit = int(ram_pages * ZRAM_OOM_FRACTION)

        def store(folio: Any, swp_type: int, offset: int, *args: Any, **kwargs: Any) -> bool:
            if zswap.total_pages() >= limit:
                raise OutOfMemory(
                    f"zram's memory reached {ZRAM_OOM_FRACTION:.0%} of RAM "
                    f"({zswap.total_pages():,} of {ram_pages:,} pages): the workload does not "
                    "fit in RAM plus zram (the kernel would OOM-kill)")
            words = np.frombuffer(folio, dtype=np.uint64)
            for k in range(len(words) // (PAGE_SIZE // 8)):
                page = words[k * (PAGE_SIZE // 8):(k + 1) * (PAGE_SIZE // 8)]
                key = (swp_type, offset + k)
                if (page == page[0]).all():
                    same.add(key)
                else:
                    same.discard(key)
            return orig(folio, swp_type, offset, *args, **kwargs)

        zswap.store = store  # type: ignore[method-assign]


#: A zram run stops with OutOfMemory when zram's pool reaches this share of RAM: what is left
#: cannot hold a working set (the kernel's reclaim fails and the OOM killer runs; the model
#: would only spin in reclaim).
ZRAM_OOM_FRACTION = 0.9

#: The backends of ``pyzswap run --backend``.
BACKENDS = ("zswap", "zram", "none")

#: One zswap store/load call in this many is timed.
SAMPLE_EVERY = 8


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


def _check_version(workload: Workload, cfg: RunConfig) -> None:
    """Refuse, before anything runs, what the run's cgroup version does not have."""
    if cfg.cgroup_version not in (1, 2):
        raise InvalidParameter(f"cgroup version must be 1 or 2, got {cfg.cgroup_version}")
    if cfg.cgroup_version == 1:
        if cfg.zswap_max or cfg.zswap_writeback:
            raise InvalidParameter("memory.zswap.max and memory.zswap.writeback are cgroup v2 "
                                   "files (this run is --cgroup-version 1)")
        v2_only = {"memory.max", "memory.swap.max", "memory.zswap.max",
                   "memory.zswap.writeback"}
    else:
        v2_only = {"memory.limit_in_bytes", "memory.swappiness"}
    for ev in workload.controls:
        if ev.op == "reclaim" and cfg.cgroup_version == 1:
            raise InvalidParameter(f"{workload.name}:{ev.line}: memory.reclaim is a cgroup v2 "
                                   "file (this run is --cgroup-version 1)")
        if ev.op == "set" and ev.file in v2_only:
            raise InvalidParameter(f"{workload.name}:{ev.line}: {ev.file} is not a cgroup "
                                   f"v{cfg.cgroup_version} file")


#: Where the run's swap file goes by default: a memory-backed file system, when it has room.
SHM_DIR = "/dev/shm"


def default_swap_dir(swap_pages: int) -> str | None:
    """The directory of a run's swap file: :data:`SHM_DIR` (tmpfs) when it is a writable
    directory with room for the whole file, else None (the system's temporary directory).

    The swap file is a real file either way (written and read with ``pwrite``/``pread``). On a
    disk file system, removing a file of hundreds of MiB whose pages are being written back
    waits for that I/O: 10-85 s at the end of a run that wrote 270 MiB to swap, on this
    project's reference VM (ext4 on a virtio disk, mounted with ``discard``)."""
    try:
        st = os.statvfs(SHM_DIR)
    except OSError:
        return None
    room = st.f_bavail * st.f_frsize
    if not os.access(SHM_DIR, os.W_OK | os.X_OK) or room < (swap_pages + 1) * PAGE_SIZE:
        return None
    return SHM_DIR


def run_workload(workload: Workload, config: RunConfig | None = None, *,
                 progress: Progress | None = None,
                 swap_dir: str | None = None) -> RunReport:
    """Replay ``workload`` under ``config``; see the module docstring."""
    cfg = config or RunConfig()
    ram_pages = cfg.ram_pages if cfg.ram_pages is not None else workload.ram_pages
    if ram_pages < 1:
        raise InvalidParameter(f"RAM must be at least one page ({PAGE_SIZE} bytes)")
    _check_version(workload, cfg)
    groups = {_norm(p) for p in (
        [p.memcg for p in workload.procs if p.memcg] + list(cfg.memcg_max)
        + list(cfg.zswap_max) + list(cfg.zswap_writeback) + list(workload.memcg_max)
        + [ev.memcg for ev in workload.controls if ev.memcg])}
    groups.discard("")
    if cfg.backend not in BACKENDS:
        raise InvalidParameter(f"unknown backend {cfg.backend!r} (choose from "
                               f"{', '.join(BACKENDS)})")
    root = MemCgroup(version=cfg.cgroup_version)
    swap_pages = (cfg.swap_pages if cfg.swap_pages is not None
                  else workload.total_pages + 1024)
    if cfg.backend == "zram":
        # zram modelled as zswap with no limit and no writeback in front of a swap area of
        # zram's disksize: every swapped-out page is compressed into a zsmalloc pool that
        # takes RAM, nothing reaches a disk, and a full device fails the swap-out as
        # zram's does (get_swap_pages finds no slot). zram's storage rule (same-filled and
        # huge pages) is applied to the pages held at the end (_zram_stat).
        zswap = Zswap(compressor=cfg.compressor, totalram_pages=ram_pages,
                      max_pool_percent=100, accept_threshold_percent=100,
                      shrinker_enabled=False, memcg_root=root, shrink_work="clock", cpus=1)
        if cfg.zram_size_pages is not None:
            swap_pages = cfg.zram_size_pages
    else:
        zswap = Zswap(compressor=cfg.compressor, totalram_pages=ram_pages,
                      enabled=cfg.backend == "zswap",
                      max_pool_percent=cfg.max_pool_percent,
                      accept_threshold_percent=cfg.accept_threshold_percent,
                      shrinker_enabled=cfg.shrinker_enabled, memcg_root=root,
                      shrink_work="clock", cpus=1)
    memcgs: dict[str, MemCgroup] = {"": root}
    for i in range(cfg.host_memcgs):  # a name no workload group can have (they are paths)
        root.create(f".host-{i}")
    for path in sorted(groups):
        memcgs[path] = _memcg_for(root, path)
        if cfg.cgroup_version == 1:
            memcgs[path].write("memory.swappiness", str(cfg.swappiness))
    for path, limit in {**workload.memcg_max, **cfg.memcg_max}.items():
        g = memcgs[_norm(path)]
        g.write(g.limit_file, "max" if limit is None else str(limit))
    for path, limit in cfg.zswap_max.items():
        memcgs[_norm(path)].write("memory.zswap.max", "max" if limit is None else str(limit))
    for path, enabled in cfg.zswap_writeback.items():
        memcgs[_norm(path)].write("memory.zswap.writeback", "1" if enabled else "0")
    timers = _Timers()
    if swap_dir is None:
        swap_dir = default_swap_dir(swap_pages)
    timers.time_shrinker(zswap)
    zram = _ZramPages(zswap, ram_pages) if cfg.backend == "zram" else None
    with tempfile.TemporaryDirectory(prefix="pyzswap-run-", dir=swap_dir,
                                     ignore_cleanup_errors=True) as tmp:
        core = SwapCore(zswap, directory=tmp)
        core.timer = timers.zswap_timer
        try:
            core.swapon(swap_pages)
            _unlink_temporary_swap(core, tmp)
            mm = MemoryModel(core, ram_pages, memcg_root=root, seed=cfg.seed,
                             verify=cfg.verify, swappiness=cfg.swappiness,
                             page_cluster=cfg.page_cluster,
                             min_free_kbytes=cfg.min_free_kbytes,
                             capacity=workload.total_pages + 2 * len(memcgs) + 4)
            mm.dying_memcgs = cfg.dying_memcgs
            report = _replay(workload, cfg, ram_pages, zswap, core, mm, memcgs, timers,
                             progress)
            if zram is not None:
                _zram_view(report.data, _zram_stat(zswap, core, zram, cfg.compressor))
            return report
        finally:
            core.close()


def _unlink_temporary_swap(core: SwapCore, directory: str) -> None:
    """Remove the run's temporary swap file, and then its (now empty) temporary directory,
    now: the file stays usable through its open descriptor, and a run that is killed
    (SIGKILL, the OOM killer, a study worker stopped) leaves nothing behind, in tmpfs (where a
    file would hold memory until a reboot) or on disk."""
    for swp_type in core.table.types():
        device = core.table.device(swp_type)
        if device.remove_on_close:
            with contextlib.suppress(OSError):
                os.unlink(device.path)
    with contextlib.suppress(OSError):  # not empty (a file not ours): the context removes it
        os.rmdir(directory)


_SERIES_KEYS = ("ops", "pool_total_size", "compressed_bytes", "stored_pages", "resident_pages",
                "written_back_pages", "pswpout")


def _replay(workload: Workload, cfg: RunConfig, ram_pages: int, zswap: Zswap, core: SwapCore,
            mm: MemoryModel, memcgs: dict[str, MemCgroup], timers: _Timers,
            progress: Progress | None) -> RunReport:
    for proc in workload.procs:  # contents made first: the replay is what is timed
        mm.add_process(proc.pid, proc.npages, _made(proc.contents()),
                       memcgs[_norm(proc.memcg)] if proc.memcg else None)
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    total = workload.nr_events
    accesses = workload.nr_accesses or total
    every = max(1, accesses // max(1, cfg.samples))
    series: dict[str, list[int]] = {k: [] for k in _SERIES_KEYS}
    timeline: list[dict[str, float | int]] = []

    def sample() -> None:
        mm.flush_stats()  # the kernel replayer reads memory.stat here, which flushes them
        st = zswap.stats()
        done = mm.stats.accesses
        series["ops"].append(done)
        series["pool_total_size"].append(st["pool_total_size"])
        series["compressed_bytes"].append(zswap.compressed_bytes())
        series["stored_pages"].append(st["stored_pages"])
        series["resident_pages"].append(mm.resident_pages)
        series["written_back_pages"].append(st["written_back_pages"])
        series["pswpout"].append(core.stats()["pswpout"])
        timeline.append({"t": round(done / accesses, 6) if accesses else 1.0,
                         "stored_pages": st["stored_pages"],
                         "pool_total_size": st["pool_total_size"]})

    sample()
    next_sample = every
    done_events = 0
    controls = workload.controls
    for pids, pages, ops in workload.events():
        n = len(ops)
        is_access = ops <= OP_WRITE
        gs = np.zeros(n, dtype=np.int64)
        if is_access.any():
            gs[is_access] = mm.page_index(pids[is_access], pages[is_access])
        i = 0
        while i < n:
            if not is_access[i]:
                _control(mm, memcgs, controls, int(ops[i]), int(pids[i]), int(pages[i]))
                i += 1
                continue
            j = i + 1
            stop = min(n, i + max(1, next_sample - mm.stats.accesses))
            while j < stop and is_access[j]:
                j += 1
            mm.run(gs[i:j], ops[i:j])
            i = j
            if mm.stats.accesses >= next_sample:
                sample()
                next_sample += every
        done_events += n
        if progress is not None:
            progress(done_events, total)
    if series["ops"][-1] != mm.stats.accesses or len(series["ops"]) == 1:
        sample()
    if progress is not None:
        progress(done_events, total)
    wall = time.perf_counter() - t_start
    timers.cpu["replay"] = time.process_time() - cpu_start
    timers.scale_up()
    timers.add_worker(mm.worker_seconds)
    return RunReport(_report(workload, cfg, ram_pages, zswap, core, mm, memcgs, timers,
                             series, timeline, wall))


def _zram_stat(zswap: Zswap, core: SwapCore, zram: _ZramPages,
               compressor: str) -> dict[str, Any]:
    """zram's ``mm_stat`` for the pages the device holds at the end, by zram's storage rule
    (``zram_write_page``): a same-filled page stores nothing (``same_pages``); a page whose
    compressed length is at least ``zs_huge_class_size()`` is stored raw, 4096 bytes
    (``huge_pages``); every other page stores its compressed length; ``mem_used_total`` is
    zsmalloc's pages after allocating those objects in slot order."""
    limit = huge_class_size()
    sizes: list[int] = []
    same = huge = 0
    for t in core.table.types():
        for e in sorted(zswap.entries(t), key=lambda e: e.offset):
            if (t, e.offset) in zram.same:
                same += 1
            elif e.length >= limit:
                huge += 1
                sizes.append(PAGE_SIZE)
            else:
                sizes.append(e.length)
    nr = len(sizes) + same
    pool = ZsPool("zram-model")
    try:
        for size in sizes:
            pool.malloc(size)
        used = pool.pages_allocated * PAGE_SIZE
    finally:
        pool.destroy()
    return {"compressor": compressor, "orig_data_size": nr * PAGE_SIZE,
            "compr_data_size": sum(sizes), "mem_used_total": used, "same_pages": same,
            "huge_pages": huge, "huge_class_size": limit}


def _zram_view(r: dict[str, Any], stat: dict[str, Any]) -> None:
    """Present a zram run as the kernel would count it: zram is the swap device, so its
    swap-outs and swap-ins are ``pswpout``/``pswpin`` and zswap's counters stay 0."""
    stat["mean_saved_bytes"] = r["memory"]["mean_saved_bytes"]
    stat["disksize"] = r["swap_pages"] * PAGE_SIZE
    r["zram"] = stat
    r["pswpout"] += r["zswpout"]
    r["pswpin"] += r["zswpin"]
    r["vmstat"]["pswpout"] = r["pswpout"]
    r["vmstat"]["pswpin"] = r["pswpin"]
    for key in ("zswpout", "zswpin", "zswpwb"):
        r[key] = 0


def _made(data: bytes | memoryview) -> Callable[[], bytes | memoryview]:
    return lambda: data


def _control(mm: MemoryModel, memcgs: dict[str, MemCgroup], controls: list[Any], op: int,
             pid: int, index: int) -> None:
    if op == OP_START:
        mm.start(pid)
    elif op == OP_EXIT:
        mm.exit(pid)
    else:
        ev = controls[index]
        if op == OP_PAGEOUT:
            mm.pageout(ev.pid, ev.first, ev.last)
        elif op == OP_RECLAIM:
            mm.memory_reclaim(memcgs[_norm(ev.memcg)], memparse(ev.value, "reclaim"))
        else:
            mm.set_limit(memcgs[_norm(ev.memcg)], ev.file, ev.value)


def _report(workload: Workload, cfg: RunConfig, ram_pages: int, zswap: Zswap, core: SwapCore,
            mm: MemoryModel, memcgs: dict[str, MemCgroup], timers: _Timers,
            series: dict[str, list[int]], timeline: list[dict[str, float | int]],
            wall: float) -> dict[str, Any]:
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
    pool_series = np.array(series["pool_total_size"], dtype=np.float64)
    stored_series = np.array(series["stored_pages"], dtype=np.float64) * PAGE_SIZE
    kernel = {
        "zswpout": vm["zswpout"], "zswpin": vm["zswpin"], "zswpwb": vm["zswpwb"],
        "pswpin": swap["pswpin"], "pswpout": swap["pswpout"],
        "swpout_zero": swap["swpout_zero"], "swpin_zero": swap["swpin_zero"],
        "pgmajfault": mms.pgmajfault, "pgscan_anon": mms.pgscan_anon,
        "pgsteal_anon": mms.pgsteal_anon, "pgactivate": mms.pgactivate,
        "pgdeactivate": mms.pgdeactivate,
        "workingset_refault_anon": mms.workingset_refault_anon,
        "workingset_activate_anon": mms.workingset_activate_anon,
        "pool_total_size": st["pool_total_size"], "stored_pages": stored,
        "stored_incompressible_pages": st["stored_incompressible_pages"],
        "written_back_pages": st["written_back_pages"],
        "pool_limit_hit": st["pool_limit_hit"],
    }
    return {
        **kernel,
        "timeline": timeline,
        "wall_seconds": round(wall, 3),
        "model_backend": _compiled.backend(),  # compiled or source: what ran (pyzswap._compiled)
        "workload": workload.name,
        "description": workload.description,
        "label": cfg.label or cfg.compressor,
        "compressor": cfg.compressor,
        "backend": cfg.backend,
        "seed": cfg.seed,
        "parameters": zswap.params(),
        "sysctl": {"vm.swappiness": cfg.swappiness, "vm.page-cluster": cfg.page_cluster,
                   "vm.min_free_kbytes": mm.min_free_kbytes},
        "cgroup_version": cfg.cgroup_version,
        "host_memcgs": cfg.host_memcgs,
        "dying_memcgs": cfg.dying_memcgs,
        "ram_pages": ram_pages,
        "ram_bytes": ram_pages * PAGE_SIZE,
        "swap_pages": core.table.device(core.table.types()[0]).nr_pages - 1,
        "processes": [{"pid": p.pid, "pages": p.npages, "memcg": p.memcg, "label": p.label}
                      for p in workload.procs],
        "total_pages": workload.total_pages,
        "events": workload.nr_events,
        "accesses": mms.accesses,
        "debugfs": st,
        "vmstat": {**vm, "pswpin": swap["pswpin"], "pswpout": swap["pswpout"],
                   "swpout_zero": swap["swpout_zero"], "swpin_zero": swap["swpin_zero"],
                   "pgfault": mms.pgfault, "pgmajfault": mms.pgmajfault,
                   "pgscan_anon": mms.pgscan_anon, "pgsteal_anon": mms.pgsteal_anon,
                   "pgscan_kswapd": mms.pgscan_kswapd, "pgsteal_kswapd": mms.pgsteal_kswapd,
                   "pgactivate": mms.pgactivate, "pgdeactivate": mms.pgdeactivate,
                   "pgrefill": mms.pgrefill,
                   "workingset_refault_anon": mms.workingset_refault_anon,
                   "workingset_activate_anon": mms.workingset_activate_anon,
                   "workingset_restore_anon": mms.workingset_restore_anon,
                   "swap_ra": mms.swap_ra, "swap_ra_hit": mms.swap_ra_hit,
                   "allocstall": mms.allocstall},
        "memcg": {("/" + path if path else "/"): {
            g.limit_file: g.memory_max, "memory.current": g.memory_current, **g.stat(),
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
            "resident_pages": mm.resident_pages,
            "pgtable_pages": mm.pgtable_pages,
            "swapcache_pages": mm.swapcache_pages(),
        },
        "faults": {"total": mms.pgfault, "major": mms.pgmajfault,
                   "first_touch": mms.first_touch, "swapcache": mms.swapcache_hits},
        "swapins": {"zswap": mms.faults_zswap, "disk": mms.faults_disk,
                    "zero": mms.faults_zero, "readahead": mms.swap_ra},
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
        "series": series,
        "consistency": {
            "stored_pages": stored,
            "zswpout_minus_zswpin_invalidated_written_back": identity,
            "identity_holds": identity == stored,
            "pool_pages": pool_pages,
            "pool_total_size_matches_zsmalloc":
                pool_pages * PAGE_SIZE == st["pool_total_size"],
            "lost_pages": 0,
            "verified_faults": (mms.faults_zswap + mms.faults_disk + mms.faults_zero)
            if cfg.verify else 0,  # every page read from swap (readahead included)
            "verify": cfg.verify,
        },
        "mm": {**mms.to_dict(), "lru": mm.lru_sizes(), "clock_us": round(mm.now, 1)},
        "median_store_us": round(statistics.median(timers.store) * 1e6, 3)
        if timers.store else 0.0,
    }
