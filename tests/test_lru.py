"""list_lru: order, counts, second chance, every walk status, the unlock protocol, reparenting."""

from __future__ import annotations

import threading
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap.errors import InvalidParameter
from pyzswap.lru import (
    LRU_REMOVED,
    LRU_REMOVED_RETRY,
    LRU_RETRY,
    LRU_ROTATE,
    LRU_SKIP,
    LRU_STOP,
    LruWalk,
)
from pyzswap.reference.lru import ListLru
from pyzswap.swap import swp_entry


class Entry(NamedTuple):  # stands in for zswap's immutable ZswapEntry
    type: int
    offset: int
    length: int


def entry(off: int, t: int = 0) -> Entry:
    return Entry(t, off, 100 + off)


def filled(keys: list[int], memcg: int = 0, referenced: bool = True) -> ListLru[Entry]:
    lru: ListLru[Entry] = ListLru()
    for k in keys:
        assert lru.add(memcg, k, entry(k), referenced)
    return lru


def order(lru: ListLru[Entry], memcg: int = 0) -> list[int]:
    return [k for k, _, _ in lru.items(memcg)]


# ------------------------------------------------------------------------------ basics -------
def test_add_delete_count_order() -> None:
    lru: ListLru[Entry] = ListLru()
    keys = [swp_entry(1, off) for off in (5, 3, 9)]
    for k in keys:
        assert lru.add(0, k, entry(k))
    assert lru.add(7, swp_entry(2, 1), entry(1))
    assert not lru.add(0, keys[0], entry(0))  # already listed
    assert order(lru) == keys  # oldest first: insertion order
    assert lru.count(0) == 3 and lru.count(7) == 1 and lru.count(None) == len(lru) == 4
    assert lru.count(99) == 0
    assert lru.delete(0, keys[1]) and not lru.delete(0, keys[1]) and not lru.delete(5, keys[0])
    assert order(lru) == [keys[0], keys[2]] and lru.count() == 3
    assert keys[0] in lru and keys[1] not in lru
    assert lru.memcg_ids() == [0, 7]


def test_delete_only_the_given_item() -> None:
    lru = filled([1])
    old = lru.items(0)[0][1]
    newer = entry(1)  # equal value, another object: the slot's new entry
    assert not lru.delete(0, 1, newer) and lru.count(0) == 1
    assert lru.delete(0, 1, old) and lru.count(0) == 0


def test_batches() -> None:
    lru: ListLru[Entry] = ListLru()
    keys = list(range(100, 116))
    assert lru.add_batch(3, keys, [entry(k) for k in keys], referenced=False) == 16
    assert lru.add_batch(3, [100, 200], [entry(100), entry(200)]) == 1
    assert order(lru, 3) == [*keys, 200] and not lru.is_referenced(3, 100)
    assert lru.is_referenced(3, 200)
    assert lru.delete_batch(3, [100, 101, 999]) == 2 and lru.count(3) == 15
    assert lru.delete_batch(4, [102]) == 0
    with pytest.raises(ValueError):
        lru.add_batch(3, [1, 2], [entry(1)])


def test_referenced_bit() -> None:
    lru = filled([1, 2])
    assert lru.add(0, 3, entry(3), referenced=False)
    assert [r for _, _, r in lru.items(0)] == [True, True, False]
    assert lru.mark_referenced(0, 3) and lru.is_referenced(0, 3)
    assert not lru.mark_referenced(0, 42) and not lru.is_referenced(0, 42)
    lru.delete(0, 3)
    lru.add(0, 3, entry(3))  # a new entry for the slot enters referenced
    assert lru.is_referenced(0, 3)


# ------------------------------------------------------------------------------ walk basics --
def recorder(statuses: dict[int, int], seen: list[tuple[int, bool]]):
    def isolate(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        seen.append((key, referenced))
        return statuses.get(key, LRU_SKIP)
    return isolate


def test_second_chance_rotates_then_writes_back_oldest_first() -> None:
    lru = filled([1, 2, 3])
    written: list[int] = []

    def cb(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        if referenced:
            return LRU_ROTATE
        written.append(key)
        return LRU_REMOVED

    assert lru.walk(0, 3, cb) == 0  # first pass: every entry loses its bit, order kept
    assert order(lru) == [1, 2, 3] and not any(r for _, _, r in lru.items(0))
    lru.mark_referenced(0, 1)  # touched again: another chance
    assert lru.walk(0, 2, cb) == 1
    assert written == [2] and order(lru) == [3, 1]
    assert lru.walk_one(0, 10, cb) == (2, 8)  # 3, then 1 (it lost its bit when rotated)
    assert written == [2, 3, 1] and lru.count(0) == 0


def test_rotate_moves_to_tail_and_pass_continues() -> None:
    lru = filled([1, 2, 3, 4])
    seen: list[tuple[int, bool]] = []
    assert lru.walk(0, 6, recorder({1: LRU_ROTATE, 2: LRU_SKIP, 3: LRU_ROTATE}, seen)) == 0
    # list_for_each_safe: rotated items come round again in the same pass
    assert [k for k, _ in seen] == [1, 2, 3, 4, 1, 3]
    assert seen[4] == (1, False)
    assert order(lru) == [2, 4, 1, 3]


def test_skip_everything_ends_the_pass() -> None:
    lru = filled([1, 2, 3])
    seen: list[tuple[int, bool]] = []
    assert lru.walk_one(0, 100, recorder({}, seen)) == (0, 97)
    assert [k for k, _ in seen] == [1, 2, 3] and order(lru) == [1, 2, 3]


def test_rotating_the_last_item_ends_the_pass() -> None:
    lru = filled([1])
    seen: list[tuple[int, bool]] = []
    assert lru.walk_one(0, 10, recorder({1: LRU_ROTATE}, seen)) == (0, 9)
    assert seen == [(1, True)] and not lru.is_referenced(0, 1)


def test_removed_by_callback_or_by_walk() -> None:
    lru = filled([1, 2, 3])

    def cb(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        if key == 1:
            w.isolate()  # list_lru_isolate
        return LRU_REMOVED if key in (1, 3) else LRU_SKIP

    assert lru.walk(0, 10, cb) == 2
    assert order(lru) == [2] and lru.count(0) == 1 == lru.count()


def test_retry_restarts_and_nr_to_walk_bounds_livelock() -> None:
    lru = filled([1, 2])
    seen: list[tuple[int, bool]] = []
    assert lru.walk_one(0, 5, recorder({1: LRU_RETRY}, seen)) == (0, 0)
    assert [k for k, _ in seen] == [1] * 5


def test_stop_ends_the_walk() -> None:
    lru = filled([1, 2, 3])
    seen: list[tuple[int, bool]] = []
    assert lru.walk_one(0, 10, recorder({1: LRU_ROTATE, 2: LRU_STOP}, seen)) == (0, 8)
    assert [k for k, _ in seen] == [1, 2] and order(lru) == [2, 3, 1]


def test_walk_of_empty_missing_or_zero() -> None:
    lru = filled([1])
    called: list[int] = []

    def cb(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        called.append(key)
        return LRU_REMOVED

    assert lru.walk_one(5, 10, cb) == (0, 10)
    assert lru.walk_one(0, 0, cb) == (0, 0)
    assert called == []
    with pytest.raises(InvalidParameter):
        lru.walk(0, -1, cb)


# ------------------------------------------------------------------------------ protocol -----
def test_callback_misuse_is_refused_and_releases_the_lock() -> None:
    lru = filled([1, 2])

    def drops_then_rotates(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        w.unlock()
        w.lock()
        return LRU_ROTATE  # the list may have changed: only *_RETRY / STOP are allowed

    def keeps_unlocked(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        w.unlock()
        return LRU_RETRY

    def bad_status(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        return 42

    def raises_unlocked(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        w.unlock()
        raise KeyError("writeback blew up")

    def move_after_drop(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        w.unlock()
        w.lock()
        w.move_tail()
        return LRU_RETRY

    for cb, exc in ((drops_then_rotates, RuntimeError), (keeps_unlocked, RuntimeError),
                    (bad_status, RuntimeError), (raises_unlocked, KeyError),
                    (move_after_drop, RuntimeError)):
        with pytest.raises(exc):
            lru.walk(0, 5, cb)
        assert not lru._lock.locked()
        assert lru.add(0, 10, entry(10)) and lru.delete(0, 10)  # the lock is usable
    assert order(lru) == [1, 2]


def test_rotate_before_unlock_with_concurrent_invalidation() -> None:
    """zswap's shrink_memcg_cb: rotate, drop the lock, write back; meanwhile another thread
    invalidates the very entry (deletes it from the LRU). Nothing breaks, nothing leaks."""
    lru = filled([1, 2, 3], referenced=False)
    unlocked, deleted = threading.Event(), threading.Event()
    seen: list[int] = []
    result: list[bool] = []

    def invalidator() -> None:
        assert unlocked.wait(10)
        result.append(lru.delete(0, 1))  # would deadlock if the walk still held the lock
        deleted.set()

    def shrink_memcg_cb(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        seen.append(key)
        if key != 1:
            return LRU_SKIP
        w.move_tail()  # rotate *before* unlocking
        w.unlock()
        assert order(lru) == [2, 3, 1]
        unlocked.set()
        assert deleted.wait(10)  # "writeback" finds the entry gone: -ENOMEM
        w.lock()
        return LRU_RETRY

    t = threading.Thread(target=invalidator)
    t.start()
    isolated, left = lru.walk_one(0, 4, shrink_memcg_cb)
    t.join()
    assert result == [True]
    assert (isolated, left) == (0, 1)
    assert seen == [1, 2, 3]  # restarted at the head after the retry; 1 is gone
    assert order(lru) == [2, 3] and lru.count() == 2


def test_removed_retry_does_not_unlink_a_new_entry_for_the_same_slot() -> None:
    lru = filled([1, 2], referenced=False)
    newer = entry(1)
    go = threading.Event()
    done = threading.Event()

    def invalidate_and_reuse() -> None:
        assert go.wait(10)
        lru.delete(0, 1)  # written back and freed...
        lru.add(0, 1, newer)  # ...and the slot stored again: a new entry, same key
        done.set()

    def cb(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        if key != 1 or item is newer:
            return LRU_STOP
        w.move_tail()
        w.unlock()
        go.set()
        assert done.wait(10)
        w.lock()
        return LRU_REMOVED_RETRY

    t = threading.Thread(target=invalidate_and_reuse)
    t.start()
    assert lru.walk(0, 5, cb) == 1
    t.join()
    items = lru.items(0)
    assert [k for k, _, _ in items] == [2, 1] and items[1][1] is newer and items[1][2]


def test_concurrent_adds_and_walks_keep_counts_consistent() -> None:
    lru: ListLru[Entry] = ListLru()
    barrier = threading.Barrier(3)
    removed: list[int] = []

    def adder(base: int) -> None:
        barrier.wait()
        for i in range(2000):
            lru.add(i % 3, base + i, entry(base + i), referenced=bool(i % 2))
            if i % 5 == 0:
                lru.delete(i % 3, base + i)

    def cb(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        if referenced:
            return LRU_ROTATE
        w.move_tail()
        w.unlock()
        # "writeback", then zswap_entry_free; an adder may have invalidated it meanwhile
        if lru.delete(w.memcg_id, key, item):
            removed.append(key)
        w.lock()
        return LRU_REMOVED_RETRY

    def walker() -> None:
        barrier.wait()
        for i in range(300):
            lru.walk(i % 3, 8, cb)

    threads = [threading.Thread(target=adder, args=(b,)) for b in (0, 10**6)]
    threads.append(threading.Thread(target=walker))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(len(lru.items(m)) for m in range(3))
    assert total == lru.count() == sum(lru.count(m) for m in range(3))
    assert len(removed) == len(set(removed))
    assert all(k not in lru for k in removed)


# ------------------------------------------------------------------------------ reparenting --
def test_reparent_splices_to_the_head_and_redirects() -> None:
    lru = filled([10, 11])  # parent 0
    for k in (20, 21):
        lru.add(5, k, entry(k), referenced=(k == 20))
    for k in (30,):
        lru.add(6, k, entry(k))
    assert lru.reparent(6, 5) == 1  # grandchild 6 -> child 5
    assert order(lru, 5) == [30, 20, 21] and lru.count(6) == 0
    assert lru.reparent(5, 0) == 3  # child 5 -> root
    assert order(lru, 0) == [30, 20, 21, 10, 11]  # the dead lists' items are the oldest
    assert lru.count(5) == lru.count(6) == 0 and lru.count(0) == 5 == lru.count()
    assert [r for _, _, r in lru.items(0)][:3] == [True, True, False]
    # a late delete / add / mark naming a dead memcg lands in the parent (lock_list_lru_of_memcg)
    assert lru.delete(6, 30) and lru.delete(5, 21)
    assert lru.add(6, 40, entry(40)) and order(lru, 0)[-1] == 40
    assert lru.mark_referenced(5, 20)
    called: list[int] = []
    assert lru.walk(5, 10, lambda k, i, r, w: called.append(k) or LRU_REMOVED) == 0
    assert called == [] and lru.memcg_ids() == [0]
    with pytest.raises(InvalidParameter):
        lru.reparent(5, 0)
    with pytest.raises(InvalidParameter):
        lru.reparent(0, 0)


def test_reparent_to_an_already_dead_parent_follows_it() -> None:
    lru: ListLru[Entry] = ListLru()
    lru.add(2, 1, entry(1))
    lru.reparent(2, 0)
    lru.add(3, 2, entry(2))
    lru.reparent(3, 2)  # 2 is dead: goes to 0
    assert order(lru, 0) == [2, 1]


# ------------------------------------------------------------------------------ the kernel ---
HEAD = object()


def reference_walk(lst: list[int], unref: set[int], nr: int, statuses: list[int]):
    """__list_lru_walk_one over a plain list, with list_for_each_safe's saved next pointer."""
    visits: list[tuple[int, bool]] = []
    isolated = 0
    it = iter(statuses)
    while True:  # restart:
        item: object = lst[0] if lst else HEAD
        restart = False
        while item is not HEAD:
            i = lst.index(item)  # type: ignore[arg-type]
            nxt: object = lst[i + 1] if i + 1 < len(lst) else HEAD
            if not nr:
                return visits, isolated, nr
            nr -= 1
            key = int(item)  # type: ignore[call-overload]
            visits.append((key, key not in unref))
            status = next(it, LRU_ROTATE)
            if status == LRU_ROTATE:
                lst.remove(key)
                lst.append(key)
                unref.add(key)
            elif status in (LRU_REMOVED, LRU_REMOVED_RETRY):
                lst.remove(key)
                unref.discard(key)
                isolated += 1
                if status == LRU_REMOVED_RETRY:
                    restart = True
                    break
            elif status == LRU_RETRY:
                restart = True
                break
            elif status == LRU_STOP:
                return visits, isolated, nr
            item = nxt
        if not restart:
            return visits, isolated, nr


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 8), unref_mask=st.integers(0, 255), nr=st.integers(0, 25),
       statuses=st.lists(st.sampled_from([LRU_REMOVED, LRU_REMOVED_RETRY, LRU_ROTATE,
                                          LRU_SKIP, LRU_RETRY, LRU_STOP]), max_size=30))
def test_walk_matches_the_kernel_list_walk(n: int, unref_mask: int, nr: int,
                                           statuses: list[int]) -> None:
    keys = list(range(1, n + 1))
    lru: ListLru[Entry] = ListLru()
    for k in keys:
        lru.add(0, k, entry(k), referenced=not unref_mask >> k & 1)
    visits: list[tuple[int, bool]] = []
    it = iter(statuses)

    def cb(key: int, item: Entry, referenced: bool, w: LruWalk[Entry]) -> int:
        visits.append((key, referenced))
        return next(it, LRU_ROTATE)

    got = lru.walk_one(0, nr, cb)
    ref_list = list(keys)
    ref_unref = {k for k in keys if unref_mask >> k & 1}
    want_visits, want_isolated, want_left = reference_walk(ref_list, ref_unref, nr, statuses)
    assert visits == want_visits
    assert got == (want_isolated, want_left)
    assert order(lru) == ref_list
    assert {k for k, _, r in lru.items(0) if not r} == ref_unref
    assert lru.count() == len(ref_list)
