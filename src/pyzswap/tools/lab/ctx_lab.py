"""Design-lab experiments on the per-CPU context designs of the zswap batching thread.

The thread ("[PATCH v8 12/14] mm: zswap: Simplify acomp_ctx resource allocation/deletion and
mutex lock usage", March 2025) weighed per-pool contexts kept for the pool's lifetime (the design
adopted, ``pool``) against one per-CPU context for all pools allocated once at setup
(``global-max``, ``global-one``), with the 6.13-6.18 lifetime (``lock-retry``), the race before
it (``naive``) and the design before commit 8ba2f844f050 (``percpu-shared``) as context. Each
experiment here runs every design of :data:`pyzswap.pool.LIFETIMES` through the same steps:

* :func:`percpu_memory` -- bytes per CPU for a software pool, a batching pool, four pools
  alive, and what an offline CPU keeps: pyzswap's real bytes (object sizes, and the
  compression streams measured with glibc ``mallinfo2``) and kernel-equivalent bytes derived
  from 6.18's structures (:func:`pyzswap.pool.kernel_percpu_bytes`, shown in a table).
* :func:`switch_under_pressure` -- every allocation of a compressor switch runs "direct
  reclaim" into zswap: how many allocations, where reclaim's stores land; and reclaim that
  *blocks* inside the switch: what keeps going and what waits.
* :func:`ctx_designs` -- the thread's question answered in one table, each cell measured by
  the same code (:func:`design_figures`).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...compress import (
    Compressor,
    Transform,
    get_compressor,
    has_compressor,
    register_compressor,
)
from ...cpu import CpuModel
from ...errors import ZswapError
from ...folio import PAGE_SIZE
from ...pool import (
    CTX_STRUCT_BYTES,
    KERNEL_STREAM_BYTES,
    LIFETIMES,
    PER_POOL_DESIGNS,
    kernel_percpu_bytes,
    measure_stream_bytes,
)
from ...zswap import Zswap
from ..pagesets import make_pages
from .result import LabResult, LabTable, progress

__all__ = ["DesignFigures", "RecordingBatcher", "ctx_designs", "design_figures",
           "lock_costs_ns", "percpu_memory", "recording_batcher", "switch_under_pressure"]

#: The pools of the "pools alive" scenario (each keeps an entry, so all stay alive).
ALIVE: tuple[str, ...] = ("lz4", "lzo", "zstd", "deflate")


# ---------------------------------------------------------------- a recording batcher -------
class _RecordingTransform(Transform):
    """lz4, recording how many pages each ``compress_batch`` call carries."""

    __slots__ = ("_inner", "_log")

    def __init__(self, log: list[int]) -> None:
        self._inner = get_compressor("lz4").new_transform()
        self._log = log

    def compress(self, src: Any, dst: bytearray | memoryview) -> int:
        return self._inner.compress(src, dst)

    def decompress(self, src: Any, dst: bytearray | memoryview) -> int:
        return self._inner.decompress(src, dst)

    def compress_batch(self, srcs: Sequence[Any],
                       dsts: Sequence[bytearray | memoryview]) -> list[int | ZswapError]:
        self._log.append(len(srcs))
        return super().compress_batch(srcs, dsts)


class RecordingBatcher(Compressor):
    """lz4 declared as a batching compressor of some batch size (8 is what the kernel's IAA
    declares), recording in :attr:`batches` the pages of every batched call. The pages still
    go through lz4 one by one: only the per-CPU shape and the batching decision matter."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def new_transform(self) -> Transform:
        return _RecordingTransform(self.batches)


def recording_batcher(name: str, batch_size: int) -> RecordingBatcher:
    """A new (unregistered) :class:`RecordingBatcher` named ``name``."""
    cls = type(f"RecordingBatcher{batch_size}", (RecordingBatcher,), {
        "name": name, "batch_size": batch_size,
        "description": f"lz4 declaring a batch size of {batch_size}, recording its batches"})
    made = cls()
    assert isinstance(made, RecordingBatcher)
    return made


_BATCH8 = "lab-lz4-batch8"


def _batch8() -> RecordingBatcher:
    if not has_compressor(_BATCH8):
        register_compressor(recording_batcher(_BATCH8, 8))
    comp = get_compressor(_BATCH8)
    assert isinstance(comp, RecordingBatcher)
    return comp


# ---------------------------------------------------------------- memory ---------------------
@dataclass
class _Memory:
    """Per-CPU bytes of one scenario: pyzswap's (contexts, streams) and the kernel's
    (contexts; streams where derived, with ``stream_partial`` when some are not)."""

    batch: int
    ctx: float
    stream: float
    kernel_ctx: int
    kernel_stream: int
    stream_partial: bool

    def kernel_stream_cell(self) -> str | int:
        if self.stream_partial:
            return f">= {self.kernel_stream:,}" if self.kernel_stream else "not derived"
        return self.kernel_stream

    def kernel_total_cell(self) -> str:
        total = self.kernel_ctx + self.kernel_stream
        return f">= {total:,}" if self.stream_partial else f"{total:,}"


def _page(seed: int) -> bytes:
    return bytes(make_pages("real", 1, seed))


def _cpu_bytes(z: Zswap, cpu: int) -> tuple[int, int]:
    """pyzswap bytes a CPU holds: (contexts: every pool's plus the shared ones, streams).
    A context object exists for every possible CPU while its pool lives (the kernel's
    percpu area); what it holds only while allocated."""
    ctx = sum(CTX_STRUCT_BYTES + (row["bytes"] if row["allocated"] else 0)
              for pool in z.pools() for row in pool.ctx_report() if row["cpu"] == cpu)
    shared = z.shared_ctxs
    if shared is not None:
        ctx += CTX_STRUCT_BYTES
        res = shared.acomp_ctx[cpu].res
        if res is not None and not res.freed:
            ctx += res.nbytes
    stream = 0
    for comp in z.streams.compressors():
        if cpu in z.stream_report().get(comp.name, []):
            stream += measure_stream_bytes(comp) or 0
    return ctx, stream


def _kernel_cpu_bytes(z: Zswap, *, offline: bool) -> tuple[int, int, bool]:
    """Kernel-equivalent bytes per CPU (contexts, derived streams, whether some stream is
    not derived) of ``z``'s pools; for an offline CPU only what the design keeps there."""
    pools = z.pools()
    lifetime = z.lifetime
    if lifetime in PER_POOL_DESIGNS:
        ctx = sum(sum(kernel_percpu_bytes(lifetime, p.compr_batch_size,
                                          offline=offline).values()) for p in pools)
    else:
        ctx = sum(kernel_percpu_bytes(lifetime, 1, pools=len(pools), offline=offline).values())
    names = list(z.stream_report())
    stream = sum(KERNEL_STREAM_BYTES.get(name, 0) for name in names)
    return ctx, stream, any(name not in KERNEL_STREAM_BYTES for name in names)


def _scenario(lifetime: str, scenario: str, n: int) -> tuple[Zswap, list[int]]:
    """A zswap on ``n`` CPUs set up for a scenario; the CPUs to measure."""
    cpus = CpuModel(n)
    first = _batch8().name if scenario == "batching pool" else "lz4"
    z = Zswap(compressor=first, totalram_pages=None, cpus=cpus, lifetime=lifetime)
    z.swapon(0, 64)
    if scenario == "pools alive":
        for k, name in enumerate(ALIVE):
            if k:
                z.set_param("compressor", name)
            if not z.store(_page(k), 0, k):
                raise ZswapError(f"{name}: an unlimited zswap refused a page")
    if scenario == "per offline CPU":
        offline = list(range(n // 2, n))
        for cpu in offline:
            cpus.cpu_down(cpu)
        return z, offline
    return z, list(range(n))


def _memory(lifetime: str, scenario: str, n: int) -> _Memory:
    z, measured = _scenario(lifetime, scenario, n)
    try:
        per_cpu = [_cpu_bytes(z, cpu) for cpu in measured]
        kctx, kstream, partial = _kernel_cpu_bytes(z, offline=scenario == "per offline CPU")
        return _Memory(
            batch=max(p.compr_batch_size for p in z.pools()),
            ctx=sum(c for c, _ in per_cpu) / len(per_cpu),
            stream=sum(s for _, s in per_cpu) / len(per_cpu),
            kernel_ctx=kctx, kernel_stream=kstream, stream_partial=partial)
    finally:
        z.close()


#: The scenarios of :func:`percpu_memory`, in the order of the final table.
SCENARIOS: tuple[str, ...] = ("software pool", "batching pool", "pools alive",
                              "per offline CPU")


def percpu_memory(size: float = 1.0) -> LabResult:
    """Per-CPU bytes per design: software pool, batching pool, pools alive, offline CPU."""
    n = max(4, int(64 * size))
    rows: list[list[Any]] = []
    for lifetime in LIFETIMES:
        progress(f"percpu-memory: {lifetime}")
        for scenario in SCENARIOS:
            m = _memory(lifetime, scenario, n)
            label = f"{len(ALIVE)} pools alive" if scenario == "pools alive" else scenario
            rows.append([lifetime, label, n, m.batch, round(m.ctx), round(m.stream),
                         round(m.ctx + m.stream), m.kernel_ctx, m.kernel_stream_cell()])
    derivation = _derivation_rows()
    notes = [
        "pyzswap bytes are measured: the sizes Python reports for the buffers, request objects "
        "and mutexes a CPU's contexts hold (sys.getsizeof), and the compression streams: C "
        "heap in use (glibc mallinfo2) around making and priming 8 transforms, per transform.",
        "kernel bytes are derived, not measured: 6.18's structures on x86-64 (the derivation "
        "table), contexts and, where derived (lz4, lzo: 16 KiB), the algorithm's stream; '>=' "
        "where a stream is not derived (zstd, deflate, and a batching compressor's state, "
        "which a hardware driver keeps itself).",
        "streams are per algorithm per CPU and shared by every pool of that algorithm in every "
        "design (6.18's crypto_acomp_streams); they stay allocated on offline CPUs.",
        f"'{len(ALIVE)} pools alive' = {', '.join(ALIVE)}, each keeping an entry; 'per offline "
        "CPU' = a software pool with half the CPUs offline, bytes kept per offline CPU.",
        "a batching pool is lz4 declared 8-wide; global-one and percpu-shared clamp it to 1.",
    ]
    return LabResult(
        "percpu-memory", "How many bytes per CPU does each context design hold, for a software "
        "pool, a batching pool, several pools alive, and an offline CPU?",
        ["lifetime", "scenario", "cpus", "batch", "pyzswap context bytes", "pyzswap stream bytes",
         "pyzswap bytes", "kernel context bytes", "kernel stream bytes"],
        rows, notes, {"size": size, "cpus": n},
        [LabTable("kernel-equivalent context bytes per CPU, derived from 6.18's structures",
                  ["lifetimes", "pool", "structures (bytes)", "bytes per CPU"], derivation)])


def _derivation_rows() -> list[list[Any]]:
    """The kernel-equivalent derivation: per pool kind, the structures each design holds per
    CPU (designs with the same structures share a row); and the thread's '~57 KB' at series
    v8's two-page buffers."""
    rows: list[list[Any]] = []
    for label, batch, offline in (("software pool", 1, False), ("batching pool x8", 8, False),
                                  ("software pool, offline CPU", 1, True)):
        groups: dict[tuple[tuple[str, int], ...], list[str]] = {}
        for lifetime in LIFETIMES:
            parts = kernel_percpu_bytes(lifetime, batch, offline=offline)
            groups.setdefault(tuple(parts.items()), []).append(lifetime)
        for parts_key, designs in groups.items():
            sum_text = " + ".join(f"{name} {value:,}" for name, value in parts_key)
            rows.append([", ".join(designs), label, sum_text,
                         sum(value for _, value in parts_key)])
    # v8 (the thread): buffers were kmalloc_node(PAGE_SIZE * 2) and global-max held
    # ZSWAP_MAX_BATCH_SIZE requests and buffers where global-one holds one of each
    extra_v8 = 7 * (2 * PAGE_SIZE + 96) + 2 * (64 - 8)
    rows.append(["global-max minus global-one", "series v8 (2-page buffers)",
                 "7 x (buffer 8,192 + acomp_req 96) + 2 x (pointer arrays 64 - 8)", extra_v8])
    extra_618 = sum(kernel_percpu_bytes("global-max", 1).values()) - sum(
        kernel_percpu_bytes("global-one", 1).values())
    rows.append(["global-max minus global-one", "6.18 (1-page buffers)",
                 "7 x (buffer 4,096 + acomp_req 96) + 2 x (pointer arrays 64 - 8)", extra_618])
    return rows


# ---------------------------------------------------------------- switch -----------------
@dataclass
class _Reclaim:
    """What the 'direct reclaim' of the memory hook did."""

    zswap: Zswap | None = None
    calls: int = 0
    per_cpu: int = 0
    stored: int = 0
    slot: int = 10_000
    pools: set[str] = field(default_factory=set)

    def __call__(self, nbytes: int, what: str) -> None:
        self.calls += 1
        if " cpu" in what:
            self.per_cpu += 1
        z = self.zswap
        if z is None:
            return
        self.slot += 1
        if z.store(_PAGES[self.slot % len(_PAGES)], 0, self.slot):
            self.stored += 1
            entry = z.lookup(0, self.slot)
            if entry is not None:
                self.pools.add(z.entry_pool(entry).tfm_name)


_PAGES = [_page(i) for i in range(64)]


@dataclass
class _Switch:
    allocations: int
    per_cpu: int
    reclaim_stores: int
    landed: str
    ms: float
    back_allocations: int


def _switch(lifetime: str, n: int, storer: bool = True) -> _Switch:
    """lz4 -> zstd with reclaim on every allocation, another thread storing meanwhile; then
    back to lz4 (whose pool still holds entries: resurrected)."""
    reclaim = _Reclaim()
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=CpuModel(n), lifetime=lifetime,
              mem_hook=reclaim)
    z.swapon(0, 1 << 16)
    for i in range(16):
        z.store(_PAGES[i], 0, 20_000 + i)
    reclaim.zswap = z
    stop = threading.Event()

    def store_loop() -> None:
        i = 0
        while not stop.is_set():
            z.store(_PAGES[i % len(_PAGES)], 0, i % 4096)
            i += 1

    t = threading.Thread(target=store_loop)
    if storer:
        t.start()
    try:
        calls0, per_cpu0, stored0 = reclaim.calls, reclaim.per_cpu, reclaim.stored
        t0 = time.perf_counter()
        z.set_param("compressor", "zstd")
        ms = (time.perf_counter() - t0) * 1e3
        result = _Switch(reclaim.calls - calls0, reclaim.per_cpu - per_cpu0,
                         reclaim.stored - stored0, ", ".join(sorted(reclaim.pools)) or "-",
                         round(ms, 2), 0)
        before = reclaim.calls
        z.set_param("compressor", "lz4")
        result.back_allocations = reclaim.calls - before
        return result
    finally:
        stop.set()
        if storer:
            t.join()
        z.close()


@dataclass
class _Blocked:
    stores: int
    loads: int
    hotplug_waits: bool
    param_writes_wait: bool
    completed: bool


def _blocked_switch(lifetime: str, n: int, nr_stores: int = 200) -> _Blocked:
    """Reclaim blocks in the switch's first per-CPU allocation (inside its cpuhp instance
    add): count the stores and loads that complete meanwhile, and probe the hotplug and
    parameter locks, then let reclaim finish."""
    blocked, release = threading.Event(), threading.Event()

    def hook(nbytes: int, what: str) -> None:
        if what.startswith("acomp ") and "zstd" in what and not blocked.is_set():
            blocked.set()
            release.wait(60)

    z = Zswap(compressor="lz4", totalram_pages=None, cpus=CpuModel(n), lifetime=lifetime,
              mem_hook=hook)
    z.swapon(0, 1 << 14)
    for i in range(32):
        z.store(_PAGES[i], 0, i)
    switch = threading.Thread(target=z.set_param, args=("compressor", "zstd"))
    switch.start()
    stores = loads = 0
    try:
        if not blocked.wait(60):
            raise ZswapError(f"{lifetime}: the switch never reached its allocation")
        out = bytearray(PAGE_SIZE)
        for i in range(nr_stores):
            stores += z.store(_PAGES[i % len(_PAGES)], 0, 1000 + i)
        for i in range(32):
            loads += z.load(out, 0, i, swapcache=False) and out == _PAGES[i]
        hotplug = z.cpus.hotplug_lock.busy()
        params = z._param_lock.locked()
    finally:
        release.set()
        switch.join(60)
    completed = not switch.is_alive() and z.compressor == "zstd"
    z.close()
    return _Blocked(stores, loads, hotplug, params, completed)


def switch_under_pressure(size: float = 1.0) -> LabResult:
    """Compressor switches whose every allocation reclaims into zswap; reclaim that blocks."""
    n = max(4, int(64 * size))
    rows: list[list[Any]] = []
    blocked_rows: list[list[Any]] = []
    for lifetime in LIFETIMES:
        progress(f"switch-under-pressure: {lifetime}")
        s = _switch(lifetime, n)
        rows.append([lifetime, n, s.allocations, s.per_cpu // n, s.allocations - s.per_cpu,
                     s.allocations, s.reclaim_stores, s.landed, s.ms, s.back_allocations])
        b = _blocked_switch(lifetime, n)
        blocked_rows.append([lifetime, b.stores, b.loads, _yes(b.hotplug_waits),
                             _yes(b.param_writes_wait), _yes(b.completed)])
    notes = [
        "Every allocation of the switch (pool struct, zsmalloc pool, percpu array, and per CPU "
        "the transform, stream, request and buffers the design allocates) runs 'direct "
        "reclaim', which stores a page into zswap on the same thread, while another thread "
        "keeps storing. 'per CPU': the allocations made for each online CPU; 'other': the "
        "pool struct, zsmalloc pool, percpu array and percpu_ref.",
        "Reclaim's stores land in the old pool: the new one is published only after it is "
        "built. Switching back to lz4 (its pool still holds entries) resurrects it: no "
        "allocation. The shared designs skip the requests and buffers, not the transforms "
        "(and streams) a new algorithm needs on every CPU.",
        "Blocked: reclaim waits inside the switch's first per-CPU allocation. Stores and loads "
        "from another thread go on (on the old pool); the switch holds the hotplug lock "
        "(cpuhp_state_add_instance) and the parameter lock (kernel_param_lock), so a CPU "
        "going up or down, or another parameter write, would wait until reclaim returns.",
    ]
    return LabResult(
        "switch-under-pressure", "What does a compressor switch allocate under memory "
        "pressure, and what stalls when its reclaim blocks?",
        ["lifetime", "cpus", "allocations", "allocations per CPU", "other allocations",
         "reclaim calls", "reclaim stores", "reclaim stores went to", "switch ms",
         "switch back allocations"],
        rows, notes, {"size": size, "cpus": n},
        [LabTable("reclaim blocked inside the switch: what goes on, what waits",
                  ["lifetime", "stores completed meanwhile", "loads completed meanwhile",
                   "CPU hotplug waits", "parameter writes wait", "switch completes after"],
                  blocked_rows)])


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# ---------------------------------------------------------------- per-store cost ----------
def lock_costs_ns(rounds: int, ops: int) -> dict[str, float]:
    """Per design, the median ns of one ``ctx_get_cpu_lock`` + unlock (what every compress and
    decompress pays to get its context) on an 8-CPU zswap, no hotplug meanwhile. The designs
    run interleaved, round by round (one untimed warm-up round first), so drift on a shared
    machine hits them alike."""
    zs = {lifetime: Zswap(compressor="lz4", totalram_pages=None, cpus=CpuModel(8),
                          lifetime=lifetime) for lifetime in LIFETIMES}
    times: dict[str, list[float]] = {lifetime: [] for lifetime in LIFETIMES}
    try:
        for r in range(-1, rounds):
            order = LIFETIMES[r % len(LIFETIMES):] + LIFETIMES[:r % len(LIFETIMES)]
            for lifetime in order:
                get = zs[lifetime].current_pool().ctx_get_cpu_lock
                t0 = time.perf_counter_ns()
                for _ in range(ops):
                    ctx, _res = get()
                    ctx.mutex.release()
                if r >= 0:
                    times[lifetime].append((time.perf_counter_ns() - t0) / ops)
    finally:
        for z in zs.values():
            z.close()
    return {lifetime: statistics.median(t) for lifetime, t in times.items()}


def _hotplug_work(lifetime: str, n: int) -> tuple[int, int]:
    """Allocations and frees of one CPU going down and coming back, with the 4 pools alive."""
    calls = [0]
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=CpuModel(n), lifetime=lifetime,
              mem_hook=lambda nbytes, what: calls.__setitem__(0, calls[0] + 1))
    try:
        z.swapon(0, 64)
        for k, name in enumerate(ALIVE):
            if k:
                z.set_param("compressor", name)
            z.store(_PAGES[k], 0, k)

        def frees() -> int:
            total = sum(ctx.frees for pool in z.pools() for ctx in pool.acomp_ctx)
            if z.shared_ctxs is not None:
                total += sum(ctx.frees for ctx in z.shared_ctxs.acomp_ctx)
            return total

        before_calls, before_frees = calls[0], frees()
        z.cpus.cpu_down(n - 1)
        z.cpus.cpu_up(n - 1)
        return calls[0] - before_calls, frees() - before_frees
    finally:
        z.close()


def _max_batch(lifetime: str) -> int:
    """Most pages one compress call carried when an 8-wide batching pool stores 64K folios."""
    comp = _batch8()
    z = Zswap(compressor=comp.name, totalram_pages=None, cpus=CpuModel(2), lifetime=lifetime)
    try:
        z.swapon(0, 64)
        comp.batches.clear()
        folio = b"".join(_PAGES[:16])
        for k in range(2):
            if not z.store(folio, 0, 16 * k):
                raise ZswapError(f"{lifetime}: an unlimited zswap refused a folio")
        return max(comp.batches, default=1)
    finally:
        z.close()


# ---------------------------------------------------------------- the summary ------------
@dataclass
class DesignFigures:
    """One design's row of :func:`ctx_designs` (but the lock cost, measured interleaved)."""

    lifetime: str
    cpus: int
    memory: dict[str, _Memory]
    switch: _Switch
    hotplug: tuple[int, int]
    max_batch: int


def design_figures(lifetime: str, size: float = 1.0) -> DesignFigures:
    """Measure the figures of the summary for one design (16 CPUs by default)."""
    n = max(4, int(16 * size))
    memory = {scenario: _memory(lifetime, scenario, n) for scenario in SCENARIOS}
    return DesignFigures(lifetime, n, memory, _switch(lifetime, n, storer=False),
                         _hotplug_work(lifetime, n), _max_batch(lifetime))


def _both(m: _Memory) -> str:
    return f"{round(m.ctx + m.stream):,} / {m.kernel_total_cell()}"


def ctx_designs(size: float = 1.0) -> LabResult:
    """The thread's question, one row per design, every figure measured by the lab."""
    rows: list[list[Any]] = []
    progress("ctx-designs: lock cost per call, all designs interleaved")
    lock_ns = lock_costs_ns(max(3, round(7 * size)), max(1000, round(20_000 * size)))
    for lifetime in LIFETIMES:
        progress(f"ctx-designs: {lifetime}")
        f = design_figures(lifetime, size)
        sw = f.switch
        rows.append([
            lifetime,
            *(_both(f.memory[s]) for s in SCENARIOS),
            f"{sw.per_cpu // f.cpus} per CPU + {sw.allocations - sw.per_cpu}",
            sw.allocations,
            f"{f.hotplug[0]} / {f.hotplug[1]}",
            round(lock_ns[lifetime]),
            "yes (8 pages per call)" if f.max_batch > 1 else "no (1 page per call)",
        ])
    notes = [
        "bytes: 'pyzswap / kernel' per CPU, contexts plus compression streams; pyzswap's "
        "measured, the kernel's derived from 6.18's structures (see percpu-memory).",
        f"pools alive: {', '.join(ALIVE)}; per offline CPU: what stays allocated for a CPU "
        "that went offline (software pool).",
        "switch: lz4 -> zstd with every allocation running reclaim into zswap: allocations "
        "per online CPU + the others (pool, zsmalloc pool, percpu array, percpu_ref); each "
        "allocation made one reclaim call (the total, on the CPUs of the run).",
        f"hotplug: allocations / frees when one CPU goes down and comes back, {len(ALIVE)} "
        "pools alive.",
        "lock ns: median cost of taking and releasing the context (acomp_ctx_get_cpu_lock or "
        "raw_cpu_ptr + mutex) per compress or decompress call, no hotplug; Python, on a "
        "shared 2-vCPU machine, so compare designs, not absolute values.",
        "batching: most pages one compress call carried for an 8-wide batching compressor "
        "storing 64 KiB folios.",
    ]
    return LabResult(
        "ctx-designs", "Per-pool contexts kept for the pool's life, or one per-CPU context for "
        "all pools allocated at setup: what does each design cost and allow?",
        ["lifetime", "software pool B/CPU", "batching pool B/CPU",
         f"{len(ALIVE)} pools alive B/CPU", "per offline CPU B", "allocations in a switch",
         f"reclaim calls in a switch ({max(4, int(16 * size))} CPUs)",
         "hotplug allocs / frees", "lock ns per call", "batching works"],
        rows, notes, {"size": size, "cpus": max(4, int(16 * size))})


#: The experiments of this module, for EXPERIMENTS.
CTX_EXPERIMENTS: dict[str, Callable[[float], LabResult]] = {
    "percpu-memory": percpu_memory,
    "switch-under-pressure": switch_under_pressure,
    "ctx-designs": ctx_designs,
}
