"""list_lru: zswap's memcg-aware LRU of stored entries, with the second-chance walk.

The kernel keeps one ``struct list_lru`` for zswap (``zswap_list_lru``) with one list per (node,
memcg); entries are added at the tail when stored, deleted when freed, and the shrinker and
``shrink_memcg`` walk a memcg's list from the head (oldest first) with ``shrink_memcg_cb``,
writing back entries whose ``referenced`` bit is clear (docs/KERNEL_REFERENCE.md §2, §4). zswap
uses :class:`EntryLru` (end of this module): the API and walk below over the intrusive lists of
its C entry table, with no Python object per entry. ``pyzswap.reference.lru.ListLru`` is the
same structure for any items, in Python: the readable reference the tests hold ``EntryLru`` to.
``ListLru``, for one node:

* one list per memcg id (an ``int``; 0 = root), each an ``OrderedDict`` from key to item, so
  ``add`` / ``delete`` / rotation are O(1) and no per-entry Python object is created. The key is
  the packed swap entry (:func:`pyzswap.swap.swp_entry`), the item whatever zswap stores (its
  immutable ``ZswapEntry`` tuple).
* the second-chance ``referenced`` bit lives here, because zswap entries are immutable tuples:
  entries enter referenced (``add(..., referenced=True)``), a walk that rotates an entry clears
  it. Only *cleared* bits are stored (a set of keys), so the common add/delete costs nothing
  extra.

API (all thread-safe; O(1) unless noted):

``add(memcg_id, key, item, referenced=True) -> bool``
    ``list_lru_add``: append at the tail. False (nothing changed) if ``key`` is already on that
    list. ``add_batch(memcg_id, keys, items, referenced=True) -> int`` and
    ``delete_batch(memcg_id, keys) -> int`` do a whole folio under one lock round.
``delete(memcg_id, key, item=None) -> bool``
    ``list_lru_del``: unlink. With ``item``, only if the listed item *is* that object — use it
    when a slot's old entry may already have been replaced by a new one with the same key.
``count(memcg_id=None) -> int``
    ``list_lru_count_one`` for one memcg (0 for a dead one), or every list.
``mark_referenced(memcg_id, key) -> bool``; ``is_referenced(memcg_id, key) -> bool``
``walk(memcg_id, nr_to_walk, isolate) -> int`` / ``walk_one(...) -> (isolated, nr_to_walk)``
    ``list_lru_walk_one``; see "The walk" below.
``reparent(memcg_id, parent_id)``
    ``memcg_reparent_list_lrus`` at memcg offline: the dead list's items are spliced to the
    *head* of the parent's list (they become its oldest), and later ``add`` / ``delete`` /
    ``mark_referenced`` naming the dead id are redirected to the parent, as the kernel's
    ``lock_list_lru_of_memcg`` retries with the parent for a dead list. O(items moved).
``items(memcg_id) -> list[(key, item, referenced)]``
    Snapshot, oldest first (O(n); for tests and tools).

The walk (``__list_lru_walk_one``)
----------------------------------
``isolate(key, item, referenced, w) -> status`` is called for each visited item, oldest first,
**with the LRU lock held**; ``w`` is an :class:`LruWalk` handle (the kernel's
``struct list_lru_one *`` argument) for the current item (``w.key``, ``w.memcg_id``).
``nr_to_walk`` is decremented before every call, retries included (the kernel's guard against
livelock). The statuses (``enum lru_status``):

``LRU_REMOVED``
    The item is off the list: the callback removed it with ``w.isolate()``
    (``list_lru_isolate``), or the walk unlinks it. The lock must not have been dropped.
    The walk goes on with the next item.
``LRU_REMOVED_RETRY``
    The item is off the list and the callback dropped the lock meanwhile (zswap: it was written
    back, and freeing the entry deleted it). If the *same item object* is still listed under its
    key, the walk unlinks it. Counted as isolated; the walk restarts from the head.
``LRU_ROTATE``
    Move the item to the tail and clear its referenced bit (the second chance: the kernel's
    callbacks clear the bit themselves, here the bit lives in the list). Lock must be held
    throughout. The walk goes on with the next item.
``LRU_SKIP``
    Leave the item where it is; go on with the next item.
``LRU_RETRY``
    Restart from the head (the callback usually dropped the lock, so nothing is known about the
    list any more). The item stays wherever it is now.
``LRU_STOP``
    End the walk now (zswap: a folio was already in the swap cache — reclaim has reached warm
    memory).

A pass ends, as ``list_for_each_safe`` does, after the item that was last on the list when it
was visited; a restart (``LRU_RETRY`` / ``LRU_REMOVED_RETRY``) begins a new pass from the head.
``walk`` returns the number isolated (``LRU_REMOVED`` + ``LRU_REMOVED_RETRY``); ``walk_one``
also returns the ``nr_to_walk`` left, so ``shrink_memcg`` can compute ``scanned``.

**Dropping the lock (rotate before unlock).** Writeback does I/O and decompression and takes
other locks, so it must run without the LRU lock. The callback may call ``w.unlock()`` and must
call ``w.lock()`` again before returning; while it holds the lock it may use ``w.move_tail()``
(``list_move_tail``) and ``w.isolate()``. Once it has dropped the lock it may only return
``LRU_REMOVED_RETRY``, ``LRU_RETRY`` or ``LRU_STOP`` (anything else raises ``RuntimeError``),
and while unlocked the item may be deleted by anyone (an invalidation), so it must not rely on
it being listed. zswap's ``shrink_memcg_cb`` therefore reads::

    def shrink_memcg_cb(key, entry, referenced, w):
        if referenced:
            return LRU_ROTATE               # second chance: bit cleared, moved to the tail
        w.move_tail()                       # rotate *before* unlocking: after the unlock the
        w.unlock()                          # entry may be freed and could not be put back
        try:
            err = zswap.writeback_entry(entry)   # may delete `key` from this LRU
        finally:
            w.lock()
        if err:   # -EEXIST stops only the memory-pressure shrinker (encountered_page_in_swapcache)
            return LRU_STOP if err == -EEXIST and in_shrinker else LRU_RETRY
        return LRU_REMOVED_RETRY

Locking: one lock per LRU (the kernel has one per list; one lock is
cheaper here and the GIL serialises the work anyway). Lock order: the LRU lock is innermost —
callers may hold nothing or zswap's lock when calling ``add`` / ``delete`` / ``count`` /
``mark_referenced``; nothing is taken while the LRU lock is held except by a walk callback,
which must ``w.unlock()`` before taking any other lock (zswap's tree lock, the swap device,
zsmalloc) and must not call this ``ListLru``'s methods while holding the LRU lock (it is not
re-entrant). A walk must not be started by a thread that holds zswap's lock. (For
:class:`EntryLru` the LRU lock *is* zswap's lock: its walk takes it.)
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Generic, Protocol, TypeVar

from .errors import InvalidParameter

__all__ = [
    "LRU_REMOVED",
    "LRU_REMOVED_RETRY",
    "LRU_RETRY",
    "LRU_ROTATE",
    "LRU_SKIP",
    "LRU_STOP",
    "EntryLru",
    "EntryTableLike",
    "IsolateFn",
    "LockLike",
    "LruWalk",
    "walk_loop",
]

# enum lru_status, in the kernel's order.
LRU_REMOVED: Final = 0
LRU_REMOVED_RETRY: Final = 1
LRU_ROTATE: Final = 2
LRU_SKIP: Final = 3
LRU_RETRY: Final = 4
LRU_STOP: Final = 5

_NAMES: Final = ("LRU_REMOVED", "LRU_REMOVED_RETRY", "LRU_ROTATE", "LRU_SKIP", "LRU_RETRY",
                 "LRU_STOP")
_LOCK_DROPPED_OK: Final = frozenset((LRU_REMOVED_RETRY, LRU_RETRY, LRU_STOP))

T = TypeVar("T")


class LruWalk(Generic[T]):
    """The handle a walk passes to its callback: the current item's list and the lock.

    ``key`` / ``memcg_id`` name the item being visited. The methods are only valid during the
    callback; ``move_tail`` and ``isolate`` need the lock held and the lock not dropped since
    the callback began (after a drop the item may be gone). A list implementation subclasses
    it with its own :meth:`move_tail` and :meth:`isolate`.
    """

    __slots__ = ("_held", "_lock", "_moved", "dropped", "key", "memcg_id")

    def __init__(self, lock: LockLike, memcg_id: int) -> None:
        self._lock = lock
        self._held = True
        self.memcg_id = memcg_id
        self.key = -1
        #: the callback dropped the lock during this call
        self.dropped = False
        self._moved = False

    @property
    def locked(self) -> bool:
        return self._held

    def unlock(self) -> None:
        """``spin_unlock(&l->lock)``: drop the LRU lock (the item may vanish meanwhile)."""
        if not self._held:
            raise RuntimeError("list_lru walk: unlock() without the lock")
        self._held = False
        self.dropped = True
        self._lock.release()

    def lock(self) -> None:
        """``spin_lock(&l->lock)``: take the LRU lock back."""
        if self._held:
            raise RuntimeError("list_lru walk: lock() while holding the lock")
        self._lock.acquire()
        self._held = True

    def _check_item(self, what: str) -> None:
        if not self._held or self.dropped:
            raise RuntimeError(f"list_lru walk: {what}() needs the lock held since the callback "
                               "began")

    def move_tail(self) -> None:
        """``list_move_tail(item, &l->list)``: rotate the current item, keeping its bit."""
        raise NotImplementedError

    def isolate(self) -> None:
        """``list_lru_isolate(l, item)``: unlink the current item (then return LRU_REMOVED)."""
        raise NotImplementedError


#: ``isolate(key, item, referenced, w) -> lru_status``
IsolateFn = Callable[[int, T, bool, LruWalk[T]], int]


def walk_loop(w: LruWalk[T], lock: Any, nr_to_walk: int, isolate: IsolateFn[T],
               count: Callable[[], int], nth: Callable[[int], tuple[int, T, bool]],
               rotate: Callable[[int], object], unlink_if: Callable[[int, T], object],
               listed: Callable[[int], bool]) -> tuple[int, int]:
    """``__list_lru_walk_one``'s loop, for :class:`EntryLru` and the reference ``ListLru``
    alike, over one list given as functions: ``count()``, ``nth(n) -> (key, item, referenced)`` (0 =
    oldest), ``rotate(key)`` (to the tail, bit cleared, if still listed), ``unlink_if(key,
    item)`` (if that item is still listed under key) and ``listed(key)``. Called with
    ``lock`` held; returns with it released. See the module docstring for the protocol."""
    isolated = 0
    skipped = 0  # items left in place at the head by this pass (LRU_SKIP)
    try:
        while nr_to_walk:
            n = count()
            if skipped >= n:
                break  # the pass reached the end of the list
            key, item, referenced = nth(skipped)
            last = skipped == n - 1  # list_for_each_safe: next would be the head
            nr_to_walk -= 1
            w.key = key
            w.dropped = w._moved = False
            ret = isolate(key, item, referenced, w)
            if not w._held:
                lock.acquire()
                w._held = True
                raise RuntimeError(f"list_lru walk: the callback returned "
                                   f"{_status_name(ret)} without retaking the lock")
            if w.dropped and ret not in _LOCK_DROPPED_OK:
                raise RuntimeError(f"list_lru walk: the callback dropped the lock but "
                                   f"returned {_status_name(ret)}")
            if ret == LRU_ROTATE:
                rotate(key)
            elif ret in (LRU_REMOVED, LRU_REMOVED_RETRY):
                isolated += 1
                unlink_if(key, item)
                if ret == LRU_REMOVED_RETRY:
                    skipped = 0
                    continue
            elif ret == LRU_SKIP:
                if not w._moved and listed(key):  # left in place: part of the prefix
                    skipped += 1
            elif ret == LRU_RETRY:
                skipped = 0
                continue
            elif ret == LRU_STOP:
                break
            else:
                raise RuntimeError(f"list_lru walk: bad lru_status {ret!r}")
            if last:
                break
    finally:
        if w._held:
            w._held = False
            lock.release()
        w.key = -1
    return isolated, nr_to_walk


def _status_name(ret: object) -> str:
    return _NAMES[ret] if isinstance(ret, int) and 0 <= ret < len(_NAMES) else repr(ret)


class _EntryLruWalk(LruWalk[T]):
    """:class:`LruWalk` for an :class:`EntryLru`: the same protocol on the C lists."""

    __slots__ = ("_elru",)

    def __init__(self, elru: EntryLru[T], memcg_id: int) -> None:
        super().__init__(elru._lock, memcg_id)
        self._elru = elru

    def move_tail(self) -> None:
        self._check_item("move_tail")
        self._elru._table.lru_move_tail(self.key, False)
        self._moved = True

    def isolate(self) -> None:
        self._check_item("isolate")
        self._elru._table.lru_isolate(self.key)


class LockLike(Protocol):
    """``threading.Lock`` or ``pyzswap._native.Lock``."""

    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> bool: ...
    def __exit__(self, t: type[BaseException] | None, v: BaseException | None,
                 tb: TracebackType | None, /) -> Any: ...


class EntryTableLike(Protocol[T]):
    """What :class:`EntryLru` needs of zswap's C entry table (``_native.EntryTable``)."""

    @property
    def lru_total(self) -> int: ...
    def lru_count(self, memcg_id: int | None = None, /) -> int: ...
    def lru_memcg_ids(self) -> list[int]: ...
    def lru_nonempty_ids(self) -> list[int]: ...
    def lru_items(self, memcg_id: int, /) -> list[tuple[int, T, bool]]: ...
    def lru_nth(self, memcg_id: int, n: int, /) -> tuple[int, T, bool] | None: ...
    def lru_rotate_head(self, memcg_id: int, /) -> bool | None: ...
    def lru_move_tail(self, key: int, clear_referenced: bool, /) -> bool: ...
    def lru_isolate(self, key: int, entry: T = ..., /) -> bool: ...
    def lru_add(self, key: int, memcg_id: int, referenced: bool, /) -> bool: ...
    def lru_set_referenced(self, key: int, value: bool, /) -> bool: ...
    def lru_where(self, key: int, /) -> tuple[int, bool] | None: ...
    def lru_reparent(self, memcg_id: int, parent_id: int, /) -> int: ...


class EntryLru(Generic[T]):
    """zswap's ``list_lru`` over the entries of its C entry table (intrusive lists, no Python
    object per entry): the ``ListLru`` API and walk protocol, on lists whose items are
    the table's entries, keyed by the packed swap entry.

    The table adds an entry at the tail when it is inserted and unlinks it when it is erased;
    this class adds the queries, the walk, reparenting, and re-listing an isolated entry.
    ``lock`` is the lock every mutation of the table is made under (zswap's): a walk holds it
    while it calls the callback, which may drop and retake it as with ``ListLru``.
    Items are rebuilt tuples, so compare them with ``==``, not ``is``.
    """

    def __init__(self, table: EntryTableLike[T], lock: LockLike) -> None:
        self._table = table
        self._lock = lock

    def __repr__(self) -> str:
        return f"EntryLru({self._table.lru_total} items)"

    def add(self, memcg_id: int, key: int, item: T, referenced: bool = True) -> bool:
        """Relist an entry of the table that is off its list (``list_lru_add``)."""
        with self._lock:
            return self._table.lru_add(key, memcg_id, referenced)

    def delete(self, memcg_id: int, key: int, item: T | None = None) -> bool:
        """Take an entry off its list, leaving it in the table (``list_lru_del``)."""
        with self._lock:
            where = self._table.lru_where(key)
            if where is None or where[0] != memcg_id:
                return False
            if item is None:
                return self._table.lru_isolate(key)
            return self._table.lru_isolate(key, item)

    def mark_referenced(self, memcg_id: int, key: int) -> bool:
        with self._lock:
            where = self._table.lru_where(key)
            return where is not None and where[0] == memcg_id and \
                self._table.lru_set_referenced(key, True)

    def is_referenced(self, memcg_id: int, key: int) -> bool:
        where = self._table.lru_where(key)
        return where is not None and where[0] == memcg_id and where[1]

    def count(self, memcg_id: int | None = None) -> int:
        return self._table.lru_count(memcg_id)

    def __len__(self) -> int:
        return self._table.lru_total

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self._table.lru_where(key) is not None

    def memcg_ids(self) -> list[int]:
        return self._table.lru_memcg_ids()

    def nonempty_memcg_ids(self) -> list[int]:
        """The groups whose list holds entries."""
        return self._table.lru_nonempty_ids()

    def items(self, memcg_id: int) -> list[tuple[int, T, bool]]:
        return self._table.lru_items(memcg_id)

    def reparent(self, memcg_id: int, parent_id: int) -> int:
        """``memcg_reparent_list_lrus`` (see the module docstring)."""
        with self._lock:
            try:
                return self._table.lru_reparent(memcg_id, parent_id)
            except ValueError as exc:
                raise InvalidParameter(str(exc)) from None

    def walk(self, memcg_id: int, nr_to_walk: int, isolate: IsolateFn[T]) -> int:
        return self.walk_one(memcg_id, nr_to_walk, isolate)[0]

    def rotate_referenced_head(self, memcg_id: int) -> bool | None:
        """A one-item ``list_lru_walk_one`` whose callback gives a referenced item its second
        chance (``LRU_ROTATE``, the bit cleared: zswap's ``shrink_memcg_cb``), done in one step
        under the lock when the list's head is referenced: True. False: the head is not
        referenced (walk it with the callback); None: the list is empty or gone. The outcome
        is :meth:`walk_one`'s with such a callback, without a walk object and closures per
        call (zswap's pool-limit worker rotates far more entries than it writes back)."""
        with self._lock:
            return self._table.lru_rotate_head(memcg_id)

    def walk_one(self, memcg_id: int, nr_to_walk: int,
                 isolate: IsolateFn[T]) -> tuple[int, int]:
        """``list_lru_walk_one`` (see the module docstring): ``(isolated, nr_to_walk left)``,
        so ``scanned = nr_to_walk - left``."""
        if type(nr_to_walk) is not int or nr_to_walk < 0:
            raise InvalidParameter(f"nr_to_walk must be a non-negative integer, got "
                                   f"{nr_to_walk!r}")
        table = self._table
        lock = self._lock
        lock.acquire()
        if not nr_to_walk:  # a missing or dead list counts 0: the loop ends at once
            lock.release()
            return 0, nr_to_walk
        w = _EntryLruWalk(self, memcg_id)

        def nth(n: int) -> tuple[int, T, bool]:
            got = table.lru_nth(memcg_id, n)
            if got is None:  # pragma: no cover - count() said there was one
                raise RuntimeError("list_lru walk: the list changed under the lock")
            return got

        return walk_loop(w, lock, nr_to_walk, isolate, lambda: table.lru_count(memcg_id), nth,
                          lambda key: table.lru_move_tail(key, True),
                          lambda key, item: table.lru_isolate(key, item),
                          lambda key: table.lru_where(key) is not None)
