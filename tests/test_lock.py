"""``pyzswap._native.Lock``: threading.Lock's behaviour, takeable from C."""

from __future__ import annotations

import os
import threading
import time

import pytest

from pyzswap._native import Lock


def test_acquire_release_and_errors() -> None:
    lock = Lock()
    assert not lock.locked()
    assert lock.acquire()
    assert lock.locked() and not lock.acquire(blocking=False)
    assert not lock.acquire(timeout=0.01)
    lock.release()
    with pytest.raises(RuntimeError, match="release unlocked lock"):
        lock.release()
    with pytest.raises(ValueError):
        lock.acquire(blocking=False, timeout=1)
    with lock:
        assert lock.locked()
    assert not lock.locked()


def test_another_thread_may_release_it() -> None:
    lock = Lock()
    lock.acquire()
    t = threading.Thread(target=lock.release)
    t.start()
    t.join()
    assert not lock.locked()


def test_a_waiter_gets_it_when_released() -> None:
    lock = Lock()
    lock.acquire()
    got: list[float] = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=30)))
    t.start()
    time.sleep(0)  # let it block (it waits with the GIL released)
    lock.release()
    t.join()
    assert got == [True] and lock.locked()


def test_mutual_exclusion_under_contention() -> None:
    lock = Lock()
    count = [0]

    def worker() -> None:
        for _ in range(20_000):
            with lock:
                v = count[0]
                count[0] = v + 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count[0] == 80_000 and not lock.locked()


def test_hand_offs_between_threads_lose_no_wake_up() -> None:
    """Two threads pass the turn back and forth through two locks, each released by the other
    thread; a lost wake-up would leave one stuck until its (long) timeout."""
    ping, pong = Lock(), Lock()
    ping.acquire()
    pong.acquire()
    rounds = 3000
    stuck: list[int] = []

    def other() -> None:
        for i in range(rounds):
            if not ping.acquire(timeout=20):
                stuck.append(i)
                return
            pong.release()

    t = threading.Thread(target=other)
    t.start()
    for i in range(rounds):
        ping.release()
        if not pong.acquire(timeout=20):
            stuck.append(-i)
            break
    t.join()
    assert stuck == []
    assert ping.locked() and pong.locked()  # each side holds what it took last


def test_timed_waiters_and_blocking_waiters_mixed() -> None:
    """Waiters that time out leave the waiter count right: later releases still wake the
    blocking ones, and the lock ends free."""
    lock = Lock()
    lock.acquire()
    timed_out = [lock.acquire(timeout=0.001) for _ in range(5)]
    assert timed_out == [False] * 5
    got: list[bool] = []
    threads = [threading.Thread(target=lambda: got.append(lock.acquire(timeout=20)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(3):
        lock.release()  # each release lets exactly one waiter (or a later one) in
        while not lock.locked() and any(t.is_alive() for t in threads):
            time.sleep(0)
    for t in threads:
        t.join()
    assert got == [True, True, True] and lock.locked()
    lock.release()
    assert not lock.locked()


def test_a_blocking_reacquire_by_the_holder_raises_instead_of_hanging() -> None:
    """A re-entrant zswap call (from a compressor's or a hook's code) would wait for itself
    forever; the Lock refuses it. With a timeout, the caller asked for a bounded wait."""
    lock = Lock()
    with lock:
        with pytest.raises(RuntimeError, match="already holds it"):
            lock.acquire()
        with pytest.raises(RuntimeError, match="already holds it"), lock:
            pass
        assert not lock.acquire(timeout=0.01)
        assert not lock.acquire(blocking=False)
    assert not lock.locked()


@pytest.mark.parametrize(("timeout", "error"), [(float("nan"), ValueError),
                                                (float("inf"), OverflowError),
                                                (1e300, OverflowError), (-2.0, ValueError)])
def test_bad_timeouts_are_refused_as_threading_refuses_them(timeout: float,
                                                            error: type[Exception]) -> None:
    lock = Lock()
    with pytest.raises(error):
        lock.acquire(timeout=timeout)
    assert not lock.locked()


def test_a_blocked_acquire_runs_signal_handlers() -> None:
    """Ctrl-C interrupts a Python acquire of a Lock another thread holds, as with
    threading.Lock (the handler's exception ends the wait)."""
    import signal

    lock = Lock()
    holder_has_it = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with lock:
            holder_has_it.set()
            release.wait(10)

    class Interrupted(Exception):
        pass

    def handler(signum: int, frame: object) -> None:
        raise Interrupted

    old = signal.signal(signal.SIGUSR1, handler)
    t = threading.Thread(target=holder)
    t.start()
    try:
        assert holder_has_it.wait(10)
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
        with pytest.raises(Interrupted):
            timer.start()
            lock.acquire()  # the signal comes while this waits (or just before)
        timer.join()
    finally:
        release.set()
        t.join()
        signal.signal(signal.SIGUSR1, old)
