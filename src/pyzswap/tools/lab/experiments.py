"""Design-lab experiments: the kernel discussion's questions, answered with measurements.

Each experiment returns a :class:`LabResult` (a table of rows plus notes) and takes a ``size``
knob so tests can run it tiny. They use only pyzswap's public pieces: :class:`~pyzswap.Zswap`,
:class:`~pyzswap.cpu.CpuModel` with its deterministic ``preempt_hook`` schedules, and the pool
reports. ``hotplug-race`` lives here; the context-design experiments (``percpu-memory``,
``switch-under-pressure``, ``ctx-designs``) in :mod:`pyzswap.tools.lab.ctx_lab`, ``batching`` in
:mod:`pyzswap.tools.lab.batch_lab`; :data:`EXPERIMENTS` names them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ...cpu import CpuModel, HotplugError
from ...errors import UseAfterFree
from ...folio import PAGE_SIZE
from ...pool import LIFETIMES
from ...zswap import Zswap
from ..pagesets import make_pages
from .batch_lab import batching
from .ctx_lab import ctx_designs, percpu_memory, switch_under_pressure
from .result import LabResult, LabTable, progress

__all__ = ["EXPERIMENTS", "LabResult", "LabTable", "batching", "ctx_designs", "hotplug_race",
           "percpu_memory", "switch_under_pressure"]


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
    rows = []
    for lifetime in LIFETIMES:
        progress(f"hotplug-race: {lifetime}")
        rows.append(_race_one(lifetime, rounds, ops, pages))
    notes = [
        "Same schedule for all: the storing thread looks up CPU k's context, then CPU k is "
        "unplugged before it takes the mutex.",
        "naive and percpu-shared free in the dead callback while the thread still uses the "
        "context (percpu-shared: also the shared buffer and mutex): every round is a detected "
        "use-after-free (never silent).",
        "lock-retry notices the freed context under the mutex and retries on its new CPU; "
        "pool, global-max and global-one free nothing, so the thread just finishes on the old "
        "CPU's context.",
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

    t = threading.Thread(target=storm)
    t.start()
    detected = 0
    try:
        t0 = time.perf_counter()
        for i in range(ops):
            try:
                z.store(pages[i % 64], 0, rounds + i)
            except UseAfterFree:
                detected += 1
        elapsed = time.perf_counter() - t0
    finally:
        stop.set()
        t.join()
    row = [lifetime, rounds, outcomes.get("stored", 0),
           outcomes.get("use-after-free detected", 0) + detected, retries,
           z.current_pool().ctx_retries - retries, round(ops / elapsed)]
    z.close()
    return row


EXPERIMENTS: dict[str, Callable[[float], LabResult]] = {
    "percpu-memory": percpu_memory,
    "hotplug-race": hotplug_race,
    "switch-under-pressure": switch_under_pressure,
    "batching": batching,
    "ctx-designs": ctx_designs,
}
