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
