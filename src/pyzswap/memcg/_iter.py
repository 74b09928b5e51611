"""Walking a hierarchy: ``mem_cgroup_iter`` and zswap's shrink cursor."""

from __future__ import annotations

import threading
from bisect import bisect_right
from typing import TYPE_CHECKING

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


class ZswapShrinkCursor:
    """``zswap_next_shrink`` and ``zswap_shrink_lock``: the round-robin position of zswap's
    ``shrink_worker`` in one memcg hierarchy. Group removal advances it automatically."""

    def __init__(self, root: MemCgroup) -> None:
        self.root = root.root
        self._lock = threading.Lock()
        #: ``zswap_next_shrink``: the group shrunk last (None: start a new pass at the root)
        self.next_shrink: MemCgroup | None = None
        with root._h.cgroup_mutex:
            root._h.cursors.add(self)

    def next(self) -> MemCgroup | None:
        """The ``shrink_worker`` step: advance to the next online group and return it; None
        at the end of a full pass (the next call starts again at the root)."""
        self._lock.acquire()
        try:
            while True:
                memcg = mem_cgroup_iter(self.root, self.next_shrink)
                self.next_shrink = memcg
                if memcg is None or memcg.online:  # mem_cgroup_tryget_online
                    return memcg
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
