"""Walking a hierarchy: ``mem_cgroup_iter`` and zswap's shrink cursor."""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mypy_extensions import mypyc_attr

from ..errors import InvalidParameter

if TYPE_CHECKING:
    from .cgroup import MemCgroup

__all__ = ["ZswapShrinkCursor", "mem_cgroup_iter"]


def mem_cgroup_iter(root: MemCgroup, prev: MemCgroup | None) -> MemCgroup | None:
    """``mem_cgroup_iter(root, prev, NULL)``: the online group after ``prev`` in a pre-order
    walk of ``root``'s subtree; ``root`` itself for ``prev=None``; None after the last one.
    ``prev`` may have been removed meanwhile: the walk resumes where it was. Lock-free."""
    if prev is None:
        return root if root.online else None
    if root not in prev._path:
        raise InvalidParameter(f"{prev!r} is not in the subtree of {root!r}")
    if prev.online:
        kids = prev._kids[0]
        if kids:
            return kids[0]
    node = prev
    while node is not root:
        parent = node.parent
        assert parent is not None  # node is below root
        kids, ids = parent._kids
        i = bisect_right(ids, node.id)  # ids grow with creation: works for removed nodes too
        if i < len(kids):
            return kids[i]
        node = parent
    return None


@mypyc_attr(native_class=False)  # the hierarchy holds its cursors weakly
class ZswapShrinkCursor:
    """``zswap_next_shrink`` and ``zswap_shrink_lock``: the round-robin position of zswap's
    ``shrink_worker`` in one memcg hierarchy. Group removal advances it automatically."""

    def __init__(self, root: MemCgroup) -> None:
        self.root = root.root
        self._lock = threading.Lock()
        #: ``zswap_next_shrink``: the group shrunk last (None: start a new pass at the root)
        self.next_shrink: MemCgroup | None = None
        # The online groups in walk order and each one's position, as of a tree generation.
        self._order: list[MemCgroup] = []
        self._pos: dict[int, int] = {}
        self._generation = -1
        with root._h.cgroup_mutex:
            root._h.cursors.add(self)

    def next(self) -> MemCgroup | None:
        """The ``shrink_worker`` step: advance to the next online group and return it; None
        at the end of a full pass (the next call starts again at the root)."""
        self._lock.acquire()
        try:
            return self._advance()
        finally:
            self._lock.release()

    def next_from(self, prev: MemCgroup | None) -> MemCgroup | None:
        """:meth:`next` from ``prev`` instead of the current position: where a
        :meth:`next_with` that passed groups should have stopped at the first of them."""
        self._lock.acquire()
        try:
            self.next_shrink = prev
            return self._advance()
        finally:
            self._lock.release()

    def _advance(self) -> MemCgroup | None:
        """The walk of :meth:`next`, under the lock."""
        while True:
            memcg = mem_cgroup_iter(self.root, self.next_shrink)
            self.next_shrink = memcg
            if memcg is None or memcg.online:  # mem_cgroup_tryget_online
                return memcg

    def next_with(self, candidates: Iterable[int]) -> tuple[MemCgroup | None, int]:
        """Advance, as :meth:`next` calls in a row would, to the first group whose id is in
        ``candidates``; return it (None at the end of the pass) and how many groups were
        passed on the way. The walk is the same; only the groups in between are not returned
        one by one (``shrink_worker`` finds nothing to write back in a group without entries).
        Lock-free towards the tree, as :func:`mem_cgroup_iter` (the order is rebuilt from the
        children tuples when the tree's generation moved)."""
        self._lock.acquire()
        try:
            h = self.root._h
            generation = h.generation
            if self._generation != generation:
                self._order = order = []
                stack = [self.root] if self.root.online else []
                while stack:
                    node = stack.pop()
                    order.append(node)
                    stack.extend(reversed(node._kids[0]))
                self._pos = {m.id: i for i, m in enumerate(order)}
                self._generation = generation
            order, pos = self._order, self._pos
            prev = self.next_shrink
            if prev is None:
                start = -1
            elif prev.id in pos:
                start = pos[prev.id]
            else:  # removed under us (its offline cleanup is waiting for this lock)
                nxt = mem_cgroup_iter(self.root, prev)
                start = len(order) - 1 if nxt is None else pos.get(nxt.id, len(order)) - 1
            best = len(order)
            for memcg_id in candidates:
                i = pos.get(memcg_id, -1)
                if start < i < best:
                    best = i
            if best >= len(order):
                self.next_shrink = None
                return None, max(0, len(order) - start - 1)
            self.next_shrink = order[best]
            return order[best], best - start - 1
        finally:
            self._lock.release()

    def offline_cleanup(self, memcg: MemCgroup) -> None:
        """``zswap_memcg_offline_cleanup``: if the cursor is on ``memcg``, move it on to the
        next online group (called by :meth:`MemCgroup.remove`)."""
        self._lock.acquire()
        try:
            if self.next_shrink is memcg:
                nxt: MemCgroup | None = memcg
                while True:
                    nxt = mem_cgroup_iter(self.root, nxt)
                    if nxt is None or nxt.online:
                        break
                self.next_shrink = nxt
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop following removals (the cursor is also dropped when garbage-collected)."""
        self.root._h.cursors.discard(self)
