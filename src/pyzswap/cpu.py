"""Logical CPUs, thread placement and migration, and a cpuhp-like hotplug state machine.

Every thread that calls into zswap runs "on" a logical CPU of a :class:`CpuModel`, independent of
the machine's real cores, so per-CPU structures behave the same on a laptop and on a 64-CPU
model. A thread is placed on an online CPU the first time it asks (round-robin) and stays there
until it is migrated: explicitly (:meth:`CpuModel.migrate_current`) or because its CPU went
offline, in which case its next :meth:`CpuModel.current` moves it to an online CPU — between two
operations, exactly like the scheduler moving a task that is not pinned. A thread that already
looked up a per-CPU structure keeps using it after such a move, which is the whole point of the
kernel race that the pool-lifetime design removes (docs/KERNEL_REFERENCE.md §5).

Hotplug follows the kernel's cpuhp for a multi-instance state in the PREPARE section
(``CPUHP_MM_ZSWP_POOL_PREPARE``):

* :meth:`CpuModel.setup_state_multi` registers a startup and an optional teardown callback;
* :meth:`CpuModel.state_add_instance` runs the startup callback for every online CPU, and
  :meth:`CpuModel.state_remove_instance` the teardown for every online CPU;
* :meth:`CpuModel.cpu_up` runs every instance's startup *before* the CPU is marked online (the
  callback runs on a control CPU, the target is not yet running anything);
* :meth:`CpuModel.cpu_down` marks the CPU offline first (its threads migrate on their next
  operation), then runs every teardown once the CPU is "dead";
* :meth:`CpuModel.cpu_down` runs the teardowns in the reverse order of the states'
  registration (the kernel walks ``enum cpuhp_state`` down when a CPU goes offline);
* all of these are serialised by one hotplug lock (``cpus_write_lock``, :class:`HotplugLock`).
  Work that needs the lock but must not wait for it where it arises (zswap's pool release, the
  kernel's ``release_work`` item, which waits in a worker for the hotplug lock) is handed to
  :meth:`HotplugLock.run_or_defer`: it runs at once if the lock is free, else when the holder
  lets go of it, still under the lock.

:attr:`CpuModel.preempt_hook` is a test seam: zswap calls it at named points between looking up
a per-CPU context and using it, so a test can run a hotplug operation exactly there (a
deterministic schedule instead of luck). It is ``None`` in normal use and costs one attribute
check. This module is a leaf: it imports nothing of pyzswap's but :mod:`pyzswap.errors`.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidParameter, ZswapError

__all__ = ["CpuModel", "HotplugError", "HotplugLock", "PreemptHook"]

#: ``hook(point, cpu)``: called at named points of the compress/decompress paths.
PreemptHook = Callable[[str, int], None]
StartupCallback = Callable[[int, Any], None]
TeardownCallback = Callable[[int, Any], None]


class HotplugError(ZswapError):
    """A CPU hotplug request that cannot be honoured (unknown CPU, last online CPU, …)."""


@dataclass
class _State:
    name: str
    startup: StartupCallback
    teardown: TeardownCallback | None
    instances: list[Any] = field(default_factory=list)


class HotplugLock:
    """The hotplug lock (``cpus_write_lock``): reentrant, plus work deferred until it is free.

    ``with lock:`` takes it (a thread may take it again inside, as a hotplug callback that
    adds or removes an instance does). When the outermost holder leaves, it first runs the
    work others deferred with :meth:`run_or_defer`, still holding the lock, so that work
    never runs inside a hotplug operation and never makes the thread that asked wait.
    """

    __slots__ = ("_depth", "_lock", "_pending", "_pending_lock")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = threading.local()
        self._pending: list[Callable[[], None]] = []
        self._pending_lock = threading.Lock()

    def _mine(self) -> int:
        depth: int = getattr(self._depth, "n", 0)
        return depth

    def __enter__(self) -> HotplugLock:
        self._lock.acquire()
        self._depth.n = self._mine() + 1
        return self

    def __exit__(self, *exc: object) -> None:
        depth = self._mine()
        if depth > 1:
            self._depth.n = depth - 1
            self._lock.release()
            return
        errors: list[BaseException] = []
        while True:
            with self._pending_lock:
                work, self._pending = self._pending, []
                if not work:
                    # Released under _pending_lock: whoever defers after this sees it free.
                    self._depth.n = 0
                    self._lock.release()
                    break
            for fn in work:
                try:
                    fn()
                except BaseException as err:  # keep draining; the lock must be let go
                    errors.append(err)
        if errors and exc[0] is None:
            raise errors[0]

    def held_by_me(self) -> bool:
        """True inside a hotplug operation (or callback) of the calling thread."""
        return self._mine() > 0

    def busy(self) -> bool:
        """True if another thread holds the lock: a hotplug operation would wait now."""
        if self._mine():
            return False
        if not self._lock.acquire(blocking=False):
            return True
        self._lock.release()
        return False

    def run_or_defer(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` under the lock now if it is free (True); else queue it for the holder
        to run when it lets go (False). A thread inside a hotplug operation always defers:
        its own operation finishes first."""
        with self._pending_lock:
            if self._mine() or not self._lock.acquire(blocking=False):
                self._pending.append(fn)
                return False
            self._depth.n = 1
        try:
            fn()
        finally:
            self.__exit__(None, None, None)
        return True


#: Placement generations, unique in the process (see CpuModel.placement_gen).
_placement_gens = itertools.count(1)


class CpuModel:
    """Possible and online logical CPUs, each thread's current CPU, and the hotplug machine."""

    __slots__ = ("_next", "_preempt_hook", "_state_ids", "_states", "hotplug_lock", "local",
                 "migrations", "nr_possible", "online", "placement_gen")

    def __init__(self, nr_cpus: int | None = None, *, online: int | None = None) -> None:
        if nr_cpus is None:
            nr_cpus = os.cpu_count() or 1
        if isinstance(nr_cpus, bool) or not isinstance(nr_cpus, int) or not 1 <= nr_cpus <= 4096:
            raise InvalidParameter(f"nr_cpus must be an integer in 1..4096, got {nr_cpus!r}")
        if online is None:
            online = nr_cpus
        if isinstance(online, bool) or not isinstance(online, int) or not 1 <= online <= nr_cpus:
            raise InvalidParameter(f"online must be 1..{nr_cpus}, got {online!r}")
        self.nr_possible = nr_cpus
        self.online: list[bool] = [cpu < online for cpu in range(nr_cpus)]
        #: Per-thread state; ``local.cpu`` is the thread's CPU once placed. Hot paths read it
        #: and check ``online[cpu]``, falling back to :meth:`current`.
        self.local = threading.local()
        self._next = itertools.count()
        #: The hotplug lock (``cpus_write_lock``): up/down and instance add/remove.
        self.hotplug_lock = HotplugLock()
        self._states: dict[int, _State] = {}
        self._state_ids = itertools.count(1)
        self._preempt_hook: PreemptHook | None = None
        self.migrations = 0
        #: Changes, to a value no CpuModel of this process had before, whenever a thread is
        #: placed or migrated or the preemption hook changes: the C flow keeps each thread's
        #: CPU (and whether a hook is set) until it changes.
        self.placement_gen = next(_placement_gens)

    @property
    def preempt_hook(self) -> PreemptHook | None:
        """Test seam, see the module docstring."""
        return self._preempt_hook

    @preempt_hook.setter
    def preempt_hook(self, hook: PreemptHook | None) -> None:
        self._preempt_hook = hook
        self.placement_gen = next(_placement_gens)

    # ------------------------------------------------------------------ masks ---------------
    def possible_cpus(self) -> range:
        """Every possible CPU id (for_each_possible_cpu)."""
        return range(self.nr_possible)

    def online_cpus(self) -> list[int]:
        """Online CPU ids (for_each_online_cpu), from one snapshot of the online mask.

        The mask is copied in one step (``list.copy`` holds the GIL throughout): reading it
        entry by entry while ``cpu_up(0)`` and ``cpu_down(1)`` run could see neither CPU
        online, where every real state has at least one (``cpu_down`` keeps the last)."""
        return [cpu for cpu, up in enumerate(self.online.copy()) if up]

    def is_online(self, cpu: int) -> bool:
        return 0 <= cpu < self.nr_possible and self.online[cpu]

    # ------------------------------------------------------------------ placement -----------
    def current(self) -> int:
        """The calling thread's CPU (raw_smp_processor_id); placed or migrated as needed."""
        try:
            cpu: int = self.local.cpu
        except AttributeError:
            return self._place()
        if self.online[cpu]:
            return cpu
        self.migrations += 1
        return self._place()

    def _place(self) -> int:
        online = self.online_cpus()
        cpu = online[next(self._next) % len(online)]
        self.local.cpu = cpu
        self.placement_gen = next(_placement_gens)
        return cpu

    def migrate_current(self, cpu: int) -> None:
        """Move the calling thread to ``cpu`` (which must be online)."""
        if not self.is_online(cpu):
            raise HotplugError(f"CPU {cpu} is not online")
        if getattr(self.local, "cpu", None) != cpu:
            self.migrations += 1
        self.local.cpu = cpu
        self.placement_gen = next(_placement_gens)

    def preempt_point(self, point: str, cpu: int) -> None:
        """Run the test hook, if any (callers check ``preempt_hook`` first on hot paths)."""
        hook = self.preempt_hook
        if hook is not None:
            hook(point, cpu)

    # ------------------------------------------------------------------ cpuhp ---------------
    def setup_state_multi(self, name: str, startup: StartupCallback,
                          teardown: TeardownCallback | None) -> int:
        """``cpuhp_setup_state_multi``: a PREPARE-section multi-instance state; its id."""
        with self.hotplug_lock:
            state = next(self._state_ids)
            self._states[state] = _State(name, startup, teardown)
            return state

    def remove_state(self, state: int) -> None:
        """``cpuhp_remove_multi_state``: forget a state that has no instances left."""
        with self.hotplug_lock:
            st = self._states.get(state)
            if st is not None and st.instances:
                raise HotplugError(f"cpuhp state {st.name!r} still has instances")
            self._states.pop(state, None)

    def state_add_instance(self, state: int, instance: Any) -> None:
        """``cpuhp_state_add_instance``: run startup for every online CPU, then register.

        If a startup fails, the teardown runs for the CPUs already set up (when there is one)
        and the error propagates: the instance is not added.
        """
        with self.hotplug_lock:
            st = self._states[state]
            done: list[int] = []
            try:
                for cpu in self.online_cpus():
                    st.startup(cpu, instance)
                    done.append(cpu)
            except BaseException:
                if st.teardown is not None:
                    for cpu in reversed(done):
                        st.teardown(cpu, instance)
                raise
            st.instances.append(instance)

    def state_remove_instance(self, state: int, instance: Any) -> None:
        """``cpuhp_state_remove_instance``: run teardown (if any) for every online CPU."""
        with self.hotplug_lock:
            st = self._states[state]
            st.instances.remove(instance)
            if st.teardown is not None:
                for cpu in self.online_cpus():
                    st.teardown(cpu, instance)

    def cpu_up(self, cpu: int) -> None:
        """Bring ``cpu`` online: PREPARE startup callbacks first, on a control CPU."""
        with self.hotplug_lock:
            self._check_cpu(cpu)
            if self.online[cpu]:
                return
            for st in self._states.values():
                for instance in list(st.instances):
                    st.startup(cpu, instance)
            self.online[cpu] = True

    def cpu_down(self, cpu: int) -> None:
        """Take ``cpu`` offline: threads leave it, then teardowns run once it is dead, the
        last-registered state first (the kernel tears states down in reverse order)."""
        with self.hotplug_lock:
            self._check_cpu(cpu)
            if not self.online[cpu]:
                return
            if sum(self.online) == 1:
                raise HotplugError(f"CPU {cpu} is the last online CPU")
            self.online[cpu] = False
            for st in reversed(list(self._states.values())):
                if st.teardown is not None:
                    for instance in list(st.instances):
                        st.teardown(cpu, instance)

    def _check_cpu(self, cpu: int) -> None:
        if isinstance(cpu, bool) or not isinstance(cpu, int) or not 0 <= cpu < self.nr_possible:
            raise HotplugError(f"CPU {cpu!r} is not a possible CPU (0..{self.nr_possible - 1})")

    def __repr__(self) -> str:
        return f"<CpuModel {sum(self.online)}/{self.nr_possible} online>"
