"""The CPU model: placement, migration, and the cpuhp-like state machine."""

from __future__ import annotations

import threading

import pytest

from pyzswap.cpu import CpuModel, HotplugError
from pyzswap.errors import InvalidParameter


def test_masks_and_placement() -> None:
    cpus = CpuModel(64, online=4)
    assert cpus.nr_possible == 64 and cpus.online_cpus() == [0, 1, 2, 3]
    seen = set()

    def place() -> None:
        seen.add(cpus.current())

    threads = [threading.Thread(target=place) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen <= {0, 1, 2, 3} and len(seen) > 1  # round-robin over online CPUs
    with pytest.raises(InvalidParameter):
        CpuModel(0)
    with pytest.raises(InvalidParameter):
        CpuModel(4, online=5)


def test_offline_cpu_migrates_its_threads_on_their_next_operation() -> None:
    cpus = CpuModel(4)
    cpus.migrate_current(2)
    assert cpus.current() == 2
    cpus.cpu_down(2)
    assert cpus.current() != 2 and cpus.is_online(cpus.current())
    with pytest.raises(HotplugError):
        cpus.migrate_current(2)
    cpus.cpu_up(2)
    cpus.migrate_current(2)
    assert cpus.current() == 2


def test_last_online_cpu_cannot_go_down_and_bad_cpus_are_refused() -> None:
    cpus = CpuModel(2)
    cpus.cpu_down(0)
    with pytest.raises(HotplugError, match="last online"):
        cpus.cpu_down(1)
    for bad in (-1, 2, "1", True):
        with pytest.raises(HotplugError):
            cpus.cpu_up(bad)  # type: ignore[arg-type]


def test_multi_instance_callbacks_run_in_the_kernel_order() -> None:
    cpus = CpuModel(3, online=2)
    log: list[tuple[str, int, str]] = []
    state = cpus.setup_state_multi(
        "test:prepare",
        lambda cpu, inst: log.append(("startup", cpu, inst)),
        lambda cpu, inst: log.append(("teardown", cpu, inst)),
    )
    cpus.state_add_instance(state, "a")
    assert log == [("startup", 0, "a"), ("startup", 1, "a")]  # online CPUs only
    log.clear()

    online_during_startup: list[bool] = []
    state2 = cpus.setup_state_multi(
        "test:seen", lambda cpu, inst: online_during_startup.append(cpus.is_online(cpu)), None)
    cpus.state_add_instance(state2, "b")
    online_during_startup.clear()
    cpus.cpu_up(2)
    assert ("startup", 2, "a") in log
    assert online_during_startup == [False]  # PREPARE: before the CPU is online
    log.clear()
    cpus.cpu_down(1)
    assert log == [("teardown", 1, "a")]  # after it is dead
    log.clear()
    cpus.state_remove_instance(state, "a")
    assert sorted(log) == [("teardown", 0, "a"), ("teardown", 2, "a")]


def test_failed_startup_unwinds_the_instance() -> None:
    cpus = CpuModel(3)
    log: list[tuple[str, int]] = []

    def startup(cpu: int, inst: object) -> None:
        if cpu == 2:
            raise MemoryError("no memory for cpu 2")
        log.append(("startup", cpu))

    state = cpus.setup_state_multi("test", startup, lambda cpu, inst: log.append(("down", cpu)))
    with pytest.raises(MemoryError):
        cpus.state_add_instance(state, "x")
    assert log == [("startup", 0), ("startup", 1), ("down", 1), ("down", 0)]
    cpus.cpu_down(1)  # the failed instance was not added: no teardown for it
    assert log[-1] == ("down", 0)


def test_teardowns_run_in_reverse_registration_order() -> None:
    cpus = CpuModel(2)
    log: list[str] = []
    for name in ("first", "second"):
        state = cpus.setup_state_multi(
            name, lambda cpu, inst: log.append(f"up {inst}"),
            lambda cpu, inst: log.append(f"down {inst}"))
        cpus.state_add_instance(state, name)
    log.clear()
    cpus.cpu_down(1)
    assert log == ["down second", "down first"]  # the kernel walks the states down
    cpus.cpu_up(1)
    assert log[2:] == ["up first", "up second"]


def test_work_deferred_inside_a_hotplug_operation_runs_when_it_ends() -> None:
    cpus = CpuModel(3, online=2)
    log: list[str] = []

    def startup(cpu: int, inst: object) -> None:
        log.append("startup")
        assert cpus.hotplug_lock.held_by_me()
        assert not cpus.hotplug_lock.run_or_defer(lambda: log.append("deferred"))
        log.append("after defer")

    state = cpus.setup_state_multi("test", startup, None)
    cpus.state_add_instance(state, "x")
    assert log == ["startup", "after defer", "startup", "after defer", "deferred", "deferred"]
    assert not cpus.hotplug_lock.held_by_me()
    assert cpus.hotplug_lock.run_or_defer(lambda: log.append("now"))  # free: runs at once
    assert log[-1] == "now"


def test_work_deferred_while_another_thread_holds_the_lock_runs_in_that_thread() -> None:
    cpus = CpuModel(2)
    lock = cpus.hotplug_lock
    holding, release = threading.Event(), threading.Event()
    ran_in: list[str] = []

    def holder() -> None:
        with lock:
            holding.set()
            release.wait(30)

    t = threading.Thread(target=holder, name="holder")
    t.start()
    assert holding.wait(30)
    assert lock.busy()
    assert not lock.run_or_defer(lambda: ran_in.append(threading.current_thread().name))
    assert ran_in == []  # this thread did not wait for the holder
    release.set()
    t.join(30)
    assert ran_in == ["holder"] and not lock.busy()


def test_online_cpus_reads_one_snapshot_of_the_mask() -> None:
    """A hotplug pair (cpu_up(0), cpu_down(1)) landing between two reads of the mask must
    not make online_cpus() empty: it copies the mask in one step, then reads the copy."""

    class FlippingMask(list[bool]):
        def __iter__(self):  # type: ignore[no-untyped-def]
            it = super().__iter__()
            yield next(it)
            self[0], self[1] = True, False  # cpu_up(0), then cpu_down(1)
            yield from it

    cpus = CpuModel(2)
    cpus.online = FlippingMask([False, True])
    assert cpus.online_cpus() == [1]
