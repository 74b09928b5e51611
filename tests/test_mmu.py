"""``pyzswap._native.Mmu``: the mm model's accesses to mapped pages, applied in C.

The reference is the rule written out access by access in Python: an access to a mapped page
sets its young byte (and its dirty byte, and applies the trace's write rule, for a write); an
access to an unmapped page is returned to the caller, which maps it, and is completed (its
write) by the next call. Every access advances the clock by the cost.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap._native import PAGE_SIZE, Mmu
from pyzswap.run.trace import WRITE_SPAN, write_offsets

NPAGES = 6


def _pages(seed: int) -> bytearray:
    return bytearray(np.random.default_rng(seed).integers(0, 256, NPAGES * PAGE_SIZE,
                                                          dtype=np.uint8).tobytes())


def _write(truth: bytearray, g: int, seed: int, n: int) -> None:
    src, dst = write_offsets(seed, n)
    lo = g * PAGE_SIZE
    truth[lo + dst:lo + dst + WRITE_SPAN] = truth[lo + src:lo + src + WRITE_SPAN]


def _reference(gs: list[int], ops: list[int], mapped: bytearray, truth: bytearray,
               seed: int, first_write: int) -> tuple[list[int], bytearray, bytearray]:
    """Faults (pages in order), young and dirty bytes; the caller's fault maps the page."""
    young, dirty = bytearray(NPAGES), bytearray(NPAGES)
    faults, n = [], first_write
    for g, op in zip(gs, ops, strict=True):
        if mapped[g]:
            young[g] = 1
        else:
            faults.append(g)
            mapped[g] = 1
        if op == 1:
            dirty[g] = 1
            _write(truth, g, seed, n)
            n += 1
    return faults, young, dirty


def _drive(mmu: Mmu, mapped: bytearray, now: float = 0.0) -> tuple[list[int], float]:
    faults = []
    while (g := mmu.next_fault(now)) >= 0:
        faults.append(g)
        mapped[g] = 1  # the caller's fault path maps the page
        now = mmu.now
    return faults, mmu.now


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, NPAGES - 1), st.booleans()), max_size=60),
       st.lists(st.booleans(), min_size=NPAGES, max_size=NPAGES),
       st.integers(-(1 << 70), 1 << 70), st.integers(0, 1 << 40))
def test_the_mmu_applies_accesses_as_the_rule_says(
        accesses: list[tuple[int, bool]], mapped0: list[bool], seed: int,
        first_write: int) -> None:
    gs = [g for g, _ in accesses]
    ops = [int(w) for _, w in accesses]
    want_mapped = bytearray(mapped0)
    want_truth = _pages(1)
    faults, young, dirty = _reference(gs, ops, want_mapped, want_truth, seed, first_write)

    mapped, got_young, got_dirty, truth = bytearray(mapped0), bytearray(NPAGES), \
        bytearray(NPAGES), _pages(1)
    mmu = Mmu(np.array(gs, dtype=np.int64), np.array(ops, dtype=np.int8), mapped, got_young,
              got_dirty, truth, seed, first_write, 0.25)
    got_faults, now = _drive(mmu, mapped, 10.0)
    assert got_faults == faults
    assert truth == want_truth
    assert (got_young, got_dirty) == (young, dirty)
    assert (mmu.accesses, mmu.writes, mmu.reads) == (len(gs), sum(ops), len(gs) - sum(ops))
    assert now == pytest.approx(10.0 + 0.25 * len(gs))
    assert mmu.pos == len(gs)
    assert mmu.next_fault(now) == -1  # done stays done


def test_a_fault_is_counted_before_the_caller_runs_and_completed_after() -> None:
    """The faulting access's clock tick is in ``now`` when the fault path runs (it may reclaim
    on that clock); its write lands on the page the fault brought in."""
    mapped, young, dirty, truth = bytearray(NPAGES), bytearray(NPAGES), bytearray(NPAGES), \
        _pages(2)
    mapped[0] = 1
    mmu = Mmu(np.array([0, 0, 3, 0], dtype=np.int64), np.array([0, 0, 1, 0], dtype=np.int8),
              mapped, young, dirty, truth, 7, 5, 1.0)
    assert mmu.next_fault(100.0) == 3
    assert (mmu.now, mmu.accesses, mmu.pos, mmu.write) == (103.0, 3, 2, True)
    assert dirty[3] == 0  # not yet applied
    before = bytes(truth)
    truth[3 * PAGE_SIZE:4 * PAGE_SIZE] = bytes(PAGE_SIZE)  # the fault path fills the page
    mapped[3] = 1
    want = bytearray(truth)
    _write(want, 3, 7, 5)
    assert mmu.next_fault(150.0) == -1  # the fault path moved the clock to 150
    assert (mmu.now, mmu.accesses, mmu.writes, mmu.reads) == (151.0, 4, 1, 3)
    assert truth == want and truth != before
    assert (dirty[3], young[3], young[0]) == (1, 0, 1)


def test_a_page_outside_the_arrays_is_an_error_that_applies_nothing_of_it() -> None:
    mapped, young, dirty, truth = bytearray(b"\1" * NPAGES), bytearray(NPAGES), \
        bytearray(NPAGES), _pages(3)
    mmu = Mmu(np.array([1, NPAGES, 2], dtype=np.int64), np.array([1, 1, 1], dtype=np.int8),
              mapped, young, dirty, truth, 0, 0, 1.0)
    with pytest.raises(IndexError, match="outside"):
        mmu.next_fault(0.0)
    assert (mmu.accesses, mmu.writes, mmu.pos, mmu.now) == (1, 1, 1, 1.0)
    assert young == bytearray(b"\0\1\0\0\0\0")
    neg = Mmu(np.array([-1], dtype=np.int64), np.array([0], dtype=np.int8), mapped, young,
              dirty, truth, 0, 0, 1.0)
    with pytest.raises(IndexError):
        neg.next_fault(0.0)


def test_a_changed_index_after_a_fault_does_not_move_the_completed_write() -> None:
    """The faulted page is the one checked when it faulted, whatever gs holds later."""
    mapped, young, dirty, truth = bytearray(NPAGES), bytearray(NPAGES), bytearray(NPAGES), \
        _pages(4)
    gs = np.array([2], dtype=np.int64)
    mmu = Mmu(gs, np.array([1], dtype=np.int8), mapped, young, dirty, truth, 0, 0, 1.0)
    assert mmu.next_fault(0.0) == 2
    gs[0] = 1 << 40
    assert mmu.next_fault(1.0) == -1
    assert dirty == bytearray(b"\0\0\1\0\0\0")


def test_bad_buffers_are_refused() -> None:
    gs, ops = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int8)
    b, truth = bytearray(NPAGES), _pages(5)
    with pytest.raises(TypeError, match="int64"):
        Mmu(np.zeros(2, dtype=np.int32), ops, b, bytearray(NPAGES), bytearray(NPAGES), truth,
            0, 0, 1.0)
    with pytest.raises(ValueError, match="length"):
        Mmu(gs, np.zeros(3, dtype=np.int8), b, bytearray(NPAGES), bytearray(NPAGES), truth,
            0, 0, 1.0)
    with pytest.raises(ValueError, match="length"):
        Mmu(gs, ops, b, bytearray(NPAGES - 1), bytearray(NPAGES), truth, 0, 0, 1.0)
    with pytest.raises(ValueError, match="contents"):
        Mmu(gs, ops, b, bytearray(NPAGES), bytearray(NPAGES), truth[:-1], 0, 0, 1.0)
    with pytest.raises((TypeError, BufferError)):
        Mmu(gs, ops, b, bytearray(NPAGES), bytearray(NPAGES), bytes(truth), 0, 0, 1.0)
    with pytest.raises(ValueError, match="cost"):
        Mmu(gs, ops, b, bytearray(NPAGES), bytearray(NPAGES), truth, 0, 0, float("nan"))
    with pytest.raises(TypeError):
        Mmu(gs, ops, b, bytearray(NPAGES), bytearray(NPAGES), truth, 0.5, 0, 1.0)
    with pytest.raises(TypeError):
        Mmu(gs, ops, b, bytearray(NPAGES), bytearray(NPAGES), truth, 0, 0, 1.0).next_fault("x")


def test_an_mmu_holds_its_buffers_and_one_never_initialised_does_nothing() -> None:
    mapped, truth = bytearray(NPAGES), _pages(6)
    mmu = Mmu(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int8), mapped,
              bytearray(NPAGES), bytearray(NPAGES), truth, 0, 0, 1.0)
    with pytest.raises(BufferError):
        truth.extend(b"x")  # cannot move under the Mmu
    del mmu
    truth.extend(b"x")
    bare = Mmu.__new__(Mmu)
    assert bare.next_fault(0.0) == -1


def test_an_mmu_initialised_again_forgets_its_run_even_when_that_fails() -> None:
    mapped, truth = bytearray(NPAGES), _pages(8)
    mmu = Mmu(np.array([3], dtype=np.int64), np.ones(1, dtype=np.int8), mapped,
              bytearray(NPAGES), bytearray(NPAGES), truth, 0, 0, 1.0)
    assert mmu.next_fault(0.0) == 3  # a write fault pending
    with pytest.raises(ValueError):
        mmu.__init__(np.zeros(1, dtype=np.int64), np.zeros(2, dtype=np.int8),  # type: ignore[misc]
                     mapped, bytearray(NPAGES), bytearray(NPAGES), truth, 0, 0, 1.0)
    assert mmu.next_fault(0.0) == -1  # nothing pending, no buffer touched
    assert (mmu.pos, mmu.write) == (0, False)
    truth.extend(b"x")  # released
