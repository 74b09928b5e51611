"""list_lru's Python twin: :class:`ListLru`, the readable reference for any items.

zswap's LRU is :class:`pyzswap.lru.EntryLru`, the same API and walk protocol over the intrusive
lists of its C entry table; this is the structure in Python, the specification the tests hold
``EntryLru`` to (tests/test_entries.py runs both side by side). The API, the walk protocol and
the lock order are in :mod:`pyzswap.lru`. Imported by the tests only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from itertools import islice
from typing import Any, Final, Generic, TypeVar

from ..errors import InvalidParameter
from ..lru import IsolateFn, LruWalk, walk_loop

__all__ = ["ListLru"]

T = TypeVar("T")
_MISSING: Final[Any] = object()


class _ListLruWalk(LruWalk[T]):
    """:class:`~pyzswap.lru.LruWalk` for a :class:`ListLru`: rotation and unlinking on its
    ``OrderedDict`` lists."""

    __slots__ = ("_lru", "_od")

    def __init__(self, lru: ListLru[T], memcg_id: int, od: OrderedDict[int, T]) -> None:
        super().__init__(lru._lock, memcg_id)
        self._lru = lru
        self._od = od

    def move_tail(self) -> None:
        self._check_item("move_tail")
        self._od.move_to_end(self.key)
        self._moved = True

    def isolate(self) -> None:
        self._check_item("isolate")
        del self._od[self.key]
        lru = self._lru
        lru._unref.discard(self.key)
        lru._nr_items -= 1


class ListLru(Generic[T]):
    """A memcg-aware ``list_lru`` (one node) with the second-chance bit per item.

    See the module docstring for the API, the walk protocol and the lock order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # memcg id -> its list. A dead (reparented) id maps to its live ancestor's list object.
        self._lists: dict[int, OrderedDict[int, T]] = {}
        self._dead: dict[int, int] = {}  # dead memcg id -> the id it was reparented to
        # live memcg id -> the dead ids reparented into it (so a removal touches only those)
        self._aliases: dict[int, list[int]] = {}
        self._unref: set[int] = set()  # keys whose referenced bit is clear
        self._nr_items = 0

    def __repr__(self) -> str:
        return f"ListLru({self._nr_items} items in {len(self._lists) - len(self._dead)} lists)"

    # ------------------------------------------------------------------ hot paths -----------
    def add(self, memcg_id: int, key: int, item: T, referenced: bool = True) -> bool:
        """``list_lru_add``: ``item`` at the tail of ``memcg_id``'s list under ``key``."""
        lock = self._lock
        lock.acquire()
        try:
            od = self._lists.get(memcg_id)
            if od is None:
                od = self._lists[memcg_id] = OrderedDict()  # memcg_list_lru_alloc
            elif key in od:
                return False
            od[key] = item
            if not referenced:
                self._unref.add(key)
            self._nr_items += 1
        finally:
            lock.release()
        return True

    def add_batch(self, memcg_id: int, keys: Iterable[int], items: Iterable[T],
                  referenced: bool = True) -> int:
        """``add`` for many items (a large folio) under one lock round; how many were added."""
        lock = self._lock
        lock.acquire()
        try:
            od = self._lists.get(memcg_id)
            if od is None:
                od = self._lists[memcg_id] = OrderedDict()
            before = len(od)
            unref = self._unref
            for key, item in zip(keys, items, strict=True):
                if key in od:
                    continue
                od[key] = item
                if not referenced:
                    unref.add(key)
            added = len(od) - before
            self._nr_items += added
        finally:
            lock.release()
        return added

    def delete(self, memcg_id: int, key: int, item: T | None = None) -> bool:
        """``list_lru_del``: unlink ``key`` (only if it lists ``item``, when given)."""
        lock = self._lock
        lock.acquire()
        try:
            od = self._lists.get(memcg_id)
            if od is None:
                return False
            if item is None:
                if od.pop(key, _MISSING) is _MISSING:
                    return False
            else:
                if od.get(key) is not item:
                    return False
                del od[key]
            self._unref.discard(key)
            self._nr_items -= 1
        finally:
            lock.release()
        return True

    def delete_batch(self, memcg_id: int, keys: Iterable[int]) -> int:
        """``delete`` of many keys under one lock round; how many were listed."""
        lock = self._lock
        lock.acquire()
        try:
            od = self._lists.get(memcg_id)
            if od is None:
                return 0
            unref = self._unref
            removed = 0
            for key in keys:
                if od.pop(key, _MISSING) is not _MISSING:
                    unref.discard(key)
                    removed += 1
            self._nr_items -= removed
        finally:
            lock.release()
        return removed

    def mark_referenced(self, memcg_id: int, key: int) -> bool:
        """Set the second-chance bit of a listed key; False if it is not on the list."""
        lock = self._lock
        lock.acquire()
        try:
            od = self._lists.get(memcg_id)
            if od is None or key not in od:
                return False
            self._unref.discard(key)
        finally:
            lock.release()
        return True

    def is_referenced(self, memcg_id: int, key: int) -> bool:
        """The bit of a listed key (False if not listed)."""
        od = self._lists.get(memcg_id)
        return od is not None and key in od and key not in self._unref

    def count(self, memcg_id: int | None = None) -> int:
        """Items on ``memcg_id``'s list (0 for a dead memcg), or on every list for None."""
        if memcg_id is None:
            return self._nr_items
        if memcg_id in self._dead:
            return 0
        od = self._lists.get(memcg_id)
        return 0 if od is None else len(od)

    def __len__(self) -> int:
        return self._nr_items

    def __contains__(self, key: object) -> bool:
        """Is ``key`` on any list (O(number of lists))."""
        with self._lock:
            return any(key in od for mid, od in self._lists.items() if mid not in self._dead)

    def memcg_ids(self) -> list[int]:
        """Ids with a live (not reparented) list."""
        with self._lock:
            return sorted(mid for mid in self._lists if mid not in self._dead)

    def items(self, memcg_id: int) -> list[tuple[int, T, bool]]:
        """``(key, item, referenced)`` of a list, oldest first (a snapshot; O(n))."""
        with self._lock:
            if memcg_id in self._dead:
                return []
            od = self._lists.get(memcg_id)
            if od is None:
                return []
            unref = self._unref
            return [(k, v, k not in unref) for k, v in od.items()]

    # ------------------------------------------------------------------ memcg offline -------
    def reparent(self, memcg_id: int, parent_id: int) -> int:
        """``memcg_reparent_list_lrus``: splice a dying memcg's list onto the head of its
        parent's and redirect the dead id to the parent. Returns the number of items moved."""
        if memcg_id == parent_id:
            raise InvalidParameter("cannot reparent a list to itself")
        with self._lock:
            if memcg_id in self._dead:
                raise InvalidParameter(f"memcg {memcg_id} is already reparented")
            while parent_id in self._dead:  # the parent died first: follow it up
                parent_id = self._dead[parent_id]
            dst = self._lists.get(parent_id)
            if dst is None:
                dst = self._lists[parent_id] = OrderedDict()
            src = self._lists.get(memcg_id)
            moved = 0
            if src is not None and src is not dst:
                moved = len(src)
                # list_splice_init(&src->list, &dst->list): src goes in front, in its order
                for key in reversed(src):
                    dst[key] = src[key]
                    dst.move_to_end(key, last=False)
                src.clear()
            # The dying id and every dead id that pointed at it now resolve to the parent:
            # O(those ids), not O(every memcg removed so far).
            moved_ids = self._aliases.pop(memcg_id, [])
            moved_ids.append(memcg_id)
            dead = self._dead
            lists = self._lists
            for mid in moved_ids:
                dead[mid] = parent_id
                lists[mid] = dst
            self._aliases.setdefault(parent_id, []).extend(moved_ids)
        return moved

    # ------------------------------------------------------------------ the walk ------------
    def walk(self, memcg_id: int, nr_to_walk: int, isolate: IsolateFn[T]) -> int:
        """``list_lru_walk_one``: visit up to ``nr_to_walk`` items of ``memcg_id``'s list,
        oldest first; returns how many were isolated. See the module docstring."""
        return self.walk_one(memcg_id, nr_to_walk, isolate)[0]

    def walk_one(self, memcg_id: int, nr_to_walk: int,
                 isolate: IsolateFn[T]) -> tuple[int, int]:
        """:meth:`walk`, returning ``(isolated, nr_to_walk left)`` like the kernel's in/out
        ``nr_to_walk`` (``scanned = nr_to_walk - left``)."""
        if type(nr_to_walk) is not int or nr_to_walk < 0:
            raise InvalidParameter(f"nr_to_walk must be a non-negative integer, got "
                                   f"{nr_to_walk!r}")
        lock = self._lock
        lock.acquire()
        od = self._lists.get(memcg_id)
        if od is None or memcg_id in self._dead or not nr_to_walk:
            lock.release()
            return 0, nr_to_walk
        w = _ListLruWalk(self, memcg_id, od)
        unref = self._unref

        def nth(n: int) -> tuple[int, T, bool]:
            key = next(islice(od, n, None)) if n else next(iter(od))
            return key, od[key], key not in unref

        def rotate(key: int) -> None:
            if key in od:
                od.move_to_end(key)
                unref.add(key)

        def unlink_if(key: int, item: T) -> None:
            if od.get(key) is item:  # not unlinked by the callback: unlink it
                del od[key]
                unref.discard(key)
                self._nr_items -= 1

        return walk_loop(w, lock, nr_to_walk, isolate, od.__len__, nth, rotate, unlink_if,
                          od.__contains__)
