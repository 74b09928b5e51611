"""Logical CPUs: which per-CPU compression context a thread uses.

Every thread that calls into zswap runs "on" a logical CPU, independent of the machine's real
cores, so per-CPU structures behave the same on a laptop and on a 64-CPU model. A thread is
placed on an online CPU the first time it asks (round-robin) and stays there until it is
migrated. The hotplug state machine and migration on offline build on this (issue: per-CPU
contexts); this module is a leaf and imports nothing else of pyzswap's.
"""

from __future__ import annotations

import itertools
import os
import threading

from .errors import InvalidParameter

__all__ = ["CpuModel"]


class CpuModel:
    """A set of logical CPUs (possible and online) and the current CPU of each thread."""

    def __init__(self, nr_cpus: int | None = None) -> None:
        if nr_cpus is None:
            nr_cpus = os.cpu_count() or 1
        if not isinstance(nr_cpus, int) or not 1 <= nr_cpus <= 4096:
            raise InvalidParameter(f"nr_cpus must be an integer in 1..4096, got {nr_cpus!r}")
        self.nr_possible = nr_cpus
        self.online: list[bool] = [True] * nr_cpus
        #: Per-thread state; ``local.cpu`` is the thread's CPU once placed. Hot paths read it
        #: directly and fall back to :meth:`current` on AttributeError.
        self.local = threading.local()
        self._next = itertools.count()

    def possible_cpus(self) -> range:
        """Every possible CPU id (for_each_possible_cpu)."""
        return range(self.nr_possible)

    def online_cpus(self) -> list[int]:
        """Online CPU ids (for_each_online_cpu)."""
        return [cpu for cpu, up in enumerate(self.online) if up]

    def current(self) -> int:
        """The calling thread's CPU (raw_smp_processor_id); placed on first use."""
        try:
            cpu: int = self.local.cpu
        except AttributeError:
            cpu = self._place()
        return cpu

    def _place(self) -> int:
        online = self.online_cpus()
        cpu = online[next(self._next) % len(online)]
        self.local.cpu = cpu
        return cpu

    def migrate_current(self, cpu: int) -> None:
        """Move the calling thread to ``cpu`` (which must be online)."""
        if not 0 <= cpu < self.nr_possible or not self.online[cpu]:
            raise InvalidParameter(f"CPU {cpu} is not online")
        self.local.cpu = cpu
