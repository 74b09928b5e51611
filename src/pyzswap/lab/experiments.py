"""Design-lab experiments: the kernel discussion's questions, answered with measurements.

Each experiment returns a :class:`LabResult` (a table of rows plus notes) and takes a ``size``
knob so tests can run it tiny. They use only pyzswap's public pieces: :class:`~pyzswap.Zswap`,
:class:`~pyzswap.cpu.CpuModel` with its deterministic ``preempt_hook`` schedules, and the pool
report. The batching experiments (``batching``, ``build-time-vs-runtime``) live in
:mod:`pyzswap.lab.batch_lab`; :data:`EXPERIMENTS` names them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..compress import Compressor, Transform, get_compressor, has_compressor, register_compressor
from ..cpu import CpuModel, HotplugError
from ..errors import UseAfterFree
from ..folio import PAGE_SIZE
from ..pagesets import make_pages
from ..pool import LIFETIMES, kernel_ctx_bytes
from ..zswap import Zswap
from .batch_lab import batching, build_time_vs_runtime
from .result import LabResult, LabTable

__all__ = ["EXPERIMENTS", "LabResult", "LabTable", "batching", "build_time_vs_runtime",
           "hotplug_race", "percpu_memory", "switch_under_pressure"]


class _Wide(Compressor):
    """lz4 declared with 8 request slots and buffers: the per-CPU shape of a batching pool.

    Only the *memory* of a batching context matters to ``percpu-memory``; the pages still go
    through lz4 one by one (the base class's batch loop).
    """

    name = "lab-lz4-batch8"
    description = "lz4 with the per-CPU footprint of an 8-wide batching compressor (lab only)"
    batch_size = 8

    def new_transform(self) -> Transform:
        return get_compressor("lz4").new_transform()


def _wide() -> str:
    if not has_compressor(_Wide.name):
        register_compressor(_Wide())
    return _Wide.name


def percpu_memory(size: float = 1.0) -> LabResult:
    """Per-CPU context memory by lifetime and compressor type, CPUs 1..256, some offline."""
    counts = [n for n in (1, 2, 4, 8, 16, 32, 64, 128, 256) if n <= max(1, int(256 * size))]
    rows: list[list[Any]] = []
    for kind, name in (("software", "lz4"), ("batching x8", _wide())):
        for lifetime in ("pool", "lock-retry"):
            for n in counts:
                for offline_fraction in (0.0, 0.5):
                    if offline_fraction and int(n * offline_fraction) == 0:
                        continue  # 1 CPU: half of it offline is none (the row before)
                    cpus = CpuModel(n)
                    z = Zswap(compressor=name, totalram_pages=None, cpus=cpus,
                              lifetime=lifetime)
                    for cpu in range(int(n * offline_fraction)):
                        cpus.cpu_down(n - 1 - cpu)
                    (pool,) = z.pool_report()
                    holding = len(pool["cpus_holding"])
                    online = len(cpus.online_cpus())
                    rows.append([kind, lifetime, n, online, holding, pool["ctx_bytes"],
                                 pool["kernel_ctx_bytes"],
                                 (holding - online) * kernel_ctx_bytes(
                                     z.current_pool().compressor.batch_size)])
                    z.close()
    notes = [
        "pool keeps every CPU's context once allocated: offline CPUs cost their context "
        "(the 'extra' column, kernel bytes); lock-retry frees them at CPU death.",
        "kernel bytes per CPU (x86-64, series v12-v14): 8,280 software, 64,340 with 8 buffers; "
        "the difference, ~56 KB per CPU, is the '~57 KB' of the discussion.",
        "pyzswap's own bytes are its PAGE_SIZE buffers and request objects (6.18 buffer size).",
    ]
    return LabResult(
        "percpu-memory", "How much memory do per-CPU contexts cost, and what does keeping them "
        "through CPU offline add?",
        ["compressor", "lifetime", "cpus", "online", "cpus holding", "pyzswap bytes",
         "kernel bytes", "kernel bytes for offline CPUs"], rows, notes, {"size": size})


def _adversarial_store(z: Zswap, cpus: CpuModel, page: bytes, cpu: int, point: str,
                       offset: int) -> str:
    """Store from ``cpu`` while another thread unplugs it exactly at ``point``."""
    def hook(where: str, on_cpu: int) -> None:
        if where == point and on_cpu == cpu and cpus.preempt_hook is hook:
            cpus.preempt_hook = None
            t = threading.Thread(target=cpus.cpu_down, args=(cpu,))
            t.start()
            t.join()

    cpus.migrate_current(cpu)
    cpus.preempt_hook = hook
    try:
        ok = z.store(page, 0, offset)
        outcome = "stored" if ok else "rejected"
    except UseAfterFree:
        outcome = "use-after-free detected"
    finally:
        cpus.preempt_hook = None
        cpus.cpu_up(cpu)
    return outcome


def hotplug_race(size: float = 1.0) -> LabResult:
    """The three lifetimes under the same deterministic unplug schedule, and throughput."""
    rounds = max(4, int(200 * size))
    ops = max(200, int(20_000 * size))
    data = make_pages("real", 64, seed=3)
    pages = [data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(64)]
    rows = [_race_one(lifetime, rounds, ops, pages) for lifetime in LIFETIMES]
    notes = [
        "Same schedule for all: the storing thread looks up CPU k's context, then CPU k is "
        "unplugged before it takes the mutex.",
        "naive frees in the dead callback while the thread still uses the context: every "
        "round is a detected use-after-free (never silent).",
        "lock-retry notices the freed context under the mutex and retries on its new CPU; "
        "pool frees nothing, so the thread just finishes on the old CPU's context.",
        "The storm columns add CPU toggling in another thread to a plain store loop "
        "(interleavings from the scheduler, so not deterministic).",
    ]
    return LabResult(
        "hotplug-race", "What happens to a thread whose CPU is unplugged between the context "
        "lookup and its use, per lifetime strategy?",
        ["lifetime", "rounds", "stored", "use-after-free detected", "retries (schedule)",
         "retries (storm)", "stores/s under storm"], rows, notes, {"size": size})


def _race_one(lifetime: str, rounds: int, ops: int, pages: list[bytes]) -> list[Any]:
    cpus = CpuModel(4)
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=cpus, lifetime=lifetime)
    z.swapon(0, rounds + ops + 8)
    outcomes: dict[str, int] = {}
    point = "acomp_ctx_get"  # the window lock-retry handles; naive and pool see it too
    for r in range(rounds):
        outcome = _adversarial_store(z, cpus, pages[r % 64], 1 + r % 3, point, r)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    retries = z.current_pool().ctx_retries
    # Throughput under a hotplug storm: this thread stores, another toggles CPUs.
    stop = threading.Event()

    def storm() -> None:
        k = 0
        while not stop.is_set():
            cpu = 1 + k % 3
            try:
                cpus.cpu_down(cpu)
                cpus.cpu_up(cpu)
            except HotplugError:
                pass
            k += 1

    t = threading.Thread(target=storm, daemon=True)
    t.start()
    t0 = time.perf_counter()
    detected = 0
    try:
        for i in range(ops):
            try:
                z.store(pages[i % 64], 0, rounds + i)
            except UseAfterFree:
                detected += 1
        elapsed = time.perf_counter() - t0
    finally:  # also on Ctrl-C: the storm thread must stop, or the process never exits
        stop.set()
        t.join()
    row = [lifetime, rounds, outcomes.get("stored", 0),
           outcomes.get("use-after-free detected", 0) + detected, retries,
           z.current_pool().ctx_retries - retries, round(ops / elapsed)]
    z.close()
    return row


def switch_under_pressure(size: float = 1.0) -> LabResult:
    """Switch compressors while every context allocation triggers reclaim into zswap."""
    cpus_n = max(2, int(64 * size))
    data = make_pages("real", 256, seed=5)
    pages = [data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(256)]
    rows = [row for lifetime in ("pool", "lock-retry")
            for row in _switch_one(lifetime, cpus_n, pages)]
    notes = [
        "Every per-CPU allocation of the new pool runs 'direct reclaim', which stores a page "
        "into zswap on the same thread, while another thread keeps storing.",
        "Every switch completes; the reclaim stores land in the old (still current) pool, as "
        "the new pool is not published until its contexts exist; switching back to a live "
        "pool allocates nothing.",
    ]
    return LabResult(
        "switch-under-pressure", "Can switching the compressor under memory pressure hang or "
        "deadlock at the transition?",
        ["lifetime", "switch to", "cpus", "switch ms", "reclaim calls",
         "reclaim stores went to", "live pools after"], rows, notes, {"size": size})


@dataclass
class _Reclaim:
    """What the 'direct reclaim' of the memory hook did."""

    zswap: Zswap | None = None
    calls: int = 0
    stored: int = 0
    slot: int = 10_000
    pools: set[str] = field(default_factory=set)


def _switch_one(lifetime: str, cpus_n: int, pages: list[bytes]) -> list[list[Any]]:
    reclaim = _Reclaim()

    def mem_hook(nbytes: int, what: str) -> None:
        reclaim.calls += 1
        z = reclaim.zswap
        if z is None:
            return
        reclaim.slot += 1
        if z.store(pages[reclaim.slot % 256], 0, reclaim.slot):
            reclaim.stored += 1
            entry = z.lookup(0, reclaim.slot)
            if entry is not None:
                reclaim.pools.add(z.entry_pool(entry).tfm_name)

    z = Zswap(compressor="lz4", totalram_pages=None, cpus=CpuModel(cpus_n), lifetime=lifetime,
              mem_hook=mem_hook)
    z.swapon(0, 1 << 16)
    reclaim.zswap = z
    stop = threading.Event()

    def storer() -> None:
        i = 0
        while not stop.is_set():
            z.store(pages[i % 256], 0, i % 8192)
            i += 1

    t = threading.Thread(target=storer, daemon=True)
    t.start()
    rows: list[list[Any]] = []
    try:
        for name in ("zstd", "lzo", "deflate", "lz4"):
            before = reclaim.calls
            t0 = time.perf_counter()
            z.set_param("compressor", name)
            elapsed = time.perf_counter() - t0
            rows.append([lifetime, name, cpus_n, round(elapsed * 1000, 2),
                         reclaim.calls - before, ", ".join(sorted(reclaim.pools)) or "-",
                         len(z.pools())])
            reclaim.pools = set()
    finally:
        stop.set()
        t.join()
        z.close()
    return rows


EXPERIMENTS: dict[str, Callable[[float], LabResult]] = {
    "percpu-memory": percpu_memory,
    "hotplug-race": hotplug_race,
    "switch-under-pressure": switch_under_pressure,
    "batching": batching,
    "build-time-vs-runtime": build_time_vs_runtime,
}
