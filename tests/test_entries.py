"""The C entry table (``_native.EntryTable``) and its LRU view (:class:`pyzswap.lru.EntryLru`).

The reference is the pure-Python structure zswap used before: a dict per swap type and a
:class:`pyzswap.lru.ListLru`. The differential test drives both with the same operations.
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap._native import EntryTable
from pyzswap.errors import InvalidParameter
from pyzswap.lru import (
    LRU_REMOVED,
    LRU_REMOVED_RETRY,
    LRU_ROTATE,
    LRU_SKIP,
    LRU_STOP,
    EntryLru,
    LruWalk,
)
from pyzswap.reference.lru import ListLru
from pyzswap.swap import SWP_TYPE_SHIFT
from pyzswap.zswap import ZswapEntry


def _table() -> EntryTable:
    t = EntryTable(ZswapEntry)
    t.swapon(0, 10_000)
    t.swapon(3, 100)
    return t


def test_insert_get_pop_and_counts() -> None:
    t = _table()
    assert t.insert(0, 7, 100, 1, 42, -1, 0) is None
    e = t.get(0, 7)
    assert e == ZswapEntry(0, 7, 100, 1, 42, -1) and type(e) is ZswapEntry
    assert len(t) == 1 and t.count(0) == 1 and t.count(3) == 0 and t.total_length == 100
    assert t.lru_count(0) == 1 and t.lru_total == 1
    assert t.pop(0, 7, ZswapEntry(0, 7, 100, 1, 43, -1)) is None  # another entry: kept
    assert t.pop(0, 7) == e
    assert len(t) == 0 and t.get(0, 7) is None and t.lru_total == 0 and t.total_length == 0


def test_insert_replaces_and_returns_the_old_entry_off_the_lru() -> None:
    t = _table()
    t.insert(0, 7, 100, 1, 42, -1, 0)
    old = t.insert(0, 7, 4096, 2, 9, 5, 5)
    assert old == ZswapEntry(0, 7, 100, 1, 42, -1)
    assert t.get(0, 7) == ZswapEntry(0, 7, 4096, 2, 9, 5)
    assert t.lru_count(0) == 0 and t.lru_count(5) == 1 and len(t) == 1


def test_values_are_by_offset_and_per_type() -> None:
    t = _table()
    for off in (9000, 3, 4096, 4095):
        t.insert(0, off, 10, 1, off + 1, -1, 0)
    t.insert(3, 99, 10, 1, 1, -1, 0)
    assert [e.offset for e in t.values(0)] == [3, 4095, 4096, 9000]
    assert [e.offset for e in t.values(3)] == [99]


@pytest.mark.parametrize("call", [
    lambda t: t.get(1, 0),            # type not on
    lambda t: t.get(0, 10_000),       # offset past the end
    lambda t: t.get(0, -1),
    lambda t: t.insert(0, 1, 0, 1, 1, -1, 0),     # length 0
    lambda t: t.insert(0, 1, 4097, 1, 1, -1, 0),  # length > PAGE_SIZE
    lambda t: t.swapon(0, 5),         # already on
    lambda t: t.swapon(4, 0),
    lambda t: t.lru_reparent(1, 1),
])
def test_bad_arguments_raise_and_change_nothing(call: object) -> None:
    t = _table()
    t.insert(0, 5, 10, 1, 1, -1, 0)
    with pytest.raises((ValueError, OverflowError)):
        call(t)  # type: ignore[operator]
    assert len(t) == 1 and t.get(0, 5) == ZswapEntry(0, 5, 10, 1, 1, -1)


def test_swapoff_refuses_a_type_with_entries() -> None:
    t = _table()
    t.insert(3, 1, 10, 1, 1, -1, 0)
    with pytest.raises(ValueError, match="1 entries"):
        t.swapoff(3)
    t.pop(3, 1)
    t.swapoff(3)
    with pytest.raises(ValueError, match="not on"):
        t.get(3, 1)


def test_reparent_splices_to_the_parents_head_and_redirects_the_dead_id() -> None:
    t = _table()
    lru = EntryLru(t, threading.Lock())
    t.insert(0, 1, 10, 1, 1, 0, 0)
    t.insert(0, 2, 10, 1, 2, 4, 4)
    t.insert(0, 3, 10, 1, 3, 4, 4)
    assert lru.reparent(4, 0) == 2
    assert [k for k, _, _ in lru.items(0)] == [2, 3, 1]
    assert lru.count(4) == 0 and 4 not in lru.memcg_ids()
    t.insert(0, 4, 10, 1, 4, 4, 4)  # a store naming the dead id lands on the parent
    assert [k for k, _, _ in lru.items(0)] == [2, 3, 1, 4]
    with pytest.raises(InvalidParameter, match="already reparented"):
        lru.reparent(4, 0)
    t.pop(0, 3)  # an entry of the dead list is freed from the parent's
    assert [k for k, _, _ in lru.items(0)] == [2, 1, 4] and lru.count() == 3


def test_memory_per_entry_is_a_packed_record() -> None:
    t = EntryTable(ZswapEntry)
    t.swapon(0, 1 << 20)
    base = t.nbytes
    for off in range(100_000):
        t.insert(0, off, 2000, 1, off + 1, -1, 0)
    per_entry = (t.nbytes - base) / 100_000
    assert per_entry < 48, per_entry  # 32-byte record + 4-byte tree slot + slab rounding
    for off in range(100_000):
        t.pop(0, off)
    assert len(t) == 0 and t.nbytes - base < 3 * 65536 * 32  # empty tree chunks are freed


# ---------------------------------------------------------------- differential -----------

_ops = st.lists(st.one_of(
    st.tuples(st.just("insert"), st.integers(0, 40), st.integers(0, 3)),
    st.tuples(st.just("pop"), st.integers(0, 40)),
    st.tuples(st.just("reparent"), st.integers(1, 3)),
    st.tuples(st.just("walk"), st.integers(0, 3), st.integers(0, 12),
              st.lists(st.sampled_from([LRU_REMOVED, LRU_REMOVED_RETRY, LRU_ROTATE, LRU_SKIP,
                                        LRU_STOP]), min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("mark"), st.integers(0, 40)),
    st.tuples(st.just("rotate_head"), st.integers(0, 3)),
), max_size=60)


def _second_chance(seen: list[bool]) -> object:
    """zswap's shrink_memcg_cb as far as a referenced head goes: rotate it (the walk clears
    its bit); any other head is left in place (LRU_SKIP) and reported."""
    def isolate(key: int, item: ZswapEntry, referenced: bool, w: LruWalk[ZswapEntry]) -> int:
        seen.append(referenced)
        return LRU_ROTATE if referenced else LRU_SKIP
    return isolate


@settings(max_examples=300, deadline=None)
@given(_ops)
def test_entry_lru_behaves_like_list_lru(ops: list[tuple[object, ...]]) -> None:
    """The same operations on the C table + EntryLru and on a dict + ListLru."""
    t = EntryTable(ZswapEntry)
    t.swapon(0, 64)
    elru: EntryLru[ZswapEntry] = EntryLru(t, threading.Lock())
    tree: dict[int, ZswapEntry] = {}
    ref: ListLru[ZswapEntry] = ListLru()
    where: dict[int, int] = {}  # key -> memcg id it was listed under (reference side)
    dead: dict[int, int] = {}
    handle = 0

    def live(mid: int) -> int:
        while mid in dead:
            mid = dead[mid]
        return mid

    for op in ops:
        kind = op[0]
        if kind == "insert":
            off, mid = int(op[1]), int(op[2])  # type: ignore[call-overload]
            handle += 1
            e = ZswapEntry(0, off, 100 + off, 1, handle, -1)
            old = t.insert(0, off, e.length, 1, handle, -1, mid)
            ref_old = tree.pop(off, None)
            assert old == ref_old
            if ref_old is not None:
                ref.delete(where.pop(off), off, ref_old)
            tree[off] = e
            ref.add(live(mid), off, e)
            where[off] = live(mid)
        elif kind == "pop":
            off = int(op[1])  # type: ignore[call-overload]
            got = t.pop(0, off)
            want = tree.pop(off, None)
            assert got == want
            if want is not None:
                ref.delete(live(where.pop(off)), off, want)
        elif kind == "reparent":
            mid = int(op[1])  # type: ignore[call-overload]
            if mid in dead:
                continue
            parent = mid - 1
            assert elru.reparent(mid, parent) == ref.reparent(mid, parent)
            dead[mid] = parent
            for k, m in list(where.items()):
                if m == mid:
                    where[k] = live(parent)
        elif kind == "delete":
            off = int(op[1])  # type: ignore[call-overload]
            if off in where:
                m = live(where[off])
                assert elru.delete(m, off) == ref.delete(m, off)
        elif kind == "mark":
            off = int(op[1])  # type: ignore[call-overload]
            m = live(where.get(off, 0))
            assert elru.mark_referenced(m, off) == ref.mark_referenced(m, off)
        elif kind == "rotate_head":
            # the one-step second chance == a one-item walk with the rotating callback
            mid = int(op[1])  # type: ignore[call-overload]
            seen: list[bool] = []
            ref.walk_one(mid, 1, _second_chance(seen))  # type: ignore[arg-type]
            assert elru.rotate_referenced_head(mid) == (seen[0] if seen else None)
        else:
            mid, nr = int(op[1]), int(op[2])  # type: ignore[call-overload]
            script = list(op[3])  # type: ignore[call-overload]

            def cb(steps: list[int]) -> object:
                seq = iter(steps * 20)

                def isolate(key: int, item: ZswapEntry, referenced: bool,
                            w: LruWalk[ZswapEntry]) -> int:
                    return next(seq)
                return isolate
            got_w = elru.walk_one(mid, nr, cb(script))  # type: ignore[arg-type]
            want_w = ref.walk_one(mid, nr, cb(script))  # type: ignore[arg-type]
            assert got_w == want_w
        for m in range(4):
            assert elru.items(m) == ref.items(m), (m, op)
        assert elru.count() == ref.count() and elru.memcg_ids() == ref.memcg_ids()
    # the table's tree agrees too; entries isolated by a walk stay in the tree
    assert {e.offset: e for e in t.values(0)} == tree


def test_keys_of_other_types_are_packed_swap_entries() -> None:
    t = _table()
    t.insert(3, 5, 10, 1, 1, -1, 2)
    key = (3 << SWP_TYPE_SHIFT) | 5
    assert t.lru_items(2) == [(key, ZswapEntry(3, 5, 10, 1, 1, -1), True)]
    assert t.lru_where(key) == (2, True)
    assert t.lru_move_tail(key, True) and t.lru_where(key) == (2, False)
