"""zswap's pool-limit shrink worker: ``shrink_worker`` and ``shrink_memcg`` (``mm/zswap.c``).

Compiled by mypyc (``_compiled.COMPILED``): the mm model runs the worker one ``shrink_memcg``
call at a time on its clock, and a pool held at its limit makes the worker scan hundreds of
thousands of entries per replay, nearly all of them referenced ones it only rotates. Writing
an entry back (``shrink_memcg_cb``, ``zswap_writeback_entry``) stays in
:class:`~pyzswap.zswap.writeback.ZswapWriteback`, which this module calls for it.

``zswap`` below is that class's instance (typed ``Any``: this module sits under it).
"""

from __future__ import annotations

import errno
from typing import Any, Final

from ..memcg.cgroup import MemCgroup
from .params import MAX_RECLAIM_RETRIES, PASS_END

__all__ = ["SHRINK_DONE", "ShrinkWalk", "shrink_memcg"]

_ENOENT: Final = errno.ENOENT
_EAGAIN: Final = errno.EAGAIN
_RETRIES: Final = MAX_RECLAIM_RETRIES
_PASS_END: Final = PASS_END
#: What :meth:`ShrinkWalk.step` returns once the worker has returned (neither a
#: ``shrink_memcg`` result nor :data:`~pyzswap.zswap.params.PASS_END`).
SHRINK_DONE: Final = 2

# Where ShrinkWalk.step resumes: not started, the top of shrink_worker's loop, or just after
# one of its three kinds of step.
_START: Final = -1
_TOP: Final = 0
_AFTER_ENOENT: Final = 1
_AFTER_PASS_END: Final = 2
_AFTER_SHRINK: Final = 3


def shrink_memcg(zswap: Any, memcg: MemCgroup | None) -> int:
    """``shrink_memcg``: write back one entry of the group's LRU.

    0 if one was written back, -EAGAIN if entries were scanned but none written, -ENOENT if
    writeback is disabled, the group is offline or its LRU is empty.
    """
    if memcg is not None and (not memcg.zswap_writeback_enabled() or not memcg.online):
        return -_ENOENT
    memcg_id = 0 if memcg is None else memcg.id
    lru = zswap.lru
    # shrink_memcg_cb's second chance for a referenced head, without the walk machinery
    rotated = lru.rotate_referenced_head(memcg_id)
    if rotated is None:
        return -_ENOENT
    if rotated:
        return -_EAGAIN  # scanned one entry, wrote nothing back
    shrunk, left = lru.walk_one(memcg_id, 1, zswap._shrink_memcg_cb(None))
    if 1 - left == 0:
        return -_ENOENT
    return 0 if shrunk else -_EAGAIN


class ShrinkWalk:
    """One run of ``shrink_worker``: write back, round-robin over the memory cgroups, until
    the pool is below the accept threshold; give up after ``MAX_RECLAIM_RETRIES`` (16)
    failures.

    :meth:`step` makes one ``shrink_memcg`` call (or passes the groups with nothing to write
    back, or ends a walk over the hierarchy) and returns what it did, so a caller can
    interleave the worker with other work and charge each step its cost; the kernel's loop
    is the same steps back to back.
    """

    def __init__(self, zswap: Any) -> None:
        self._zswap = zswap
        state = zswap._state
        self._state = state
        self._cursor: Any = zswap._shrink_cursor
        self._root: MemCgroup | None = zswap.memcg_root
        self._nonempty_ids: Any = zswap.lru.nonempty_memcg_ids
        self._thr = -1  # zswap_accept_thr_pages(), read when the worker starts (its first step)
        self._failures = 0
        self._attempts = 0
        self._memcg: MemCgroup | None = None
        self._prev: MemCgroup | None = None  # the cursor before the last next_with
        self._ret = 0
        self._at = _START
        self._done = False
        #: How many groups the last -ENOENT step passed (their calls change nothing).
        self.enoent_run = 1

    def step(self) -> int:
        """The worker's next step: a ``shrink_memcg`` result (0, -EAGAIN, -ENOENT),
        :data:`~pyzswap.zswap.params.PASS_END` where a walk over the hierarchy ended
        (``mem_cgroup_iter`` returned NULL), or :data:`SHRINK_DONE` once the worker returned.
        Consecutive groups with nothing to write back are one -ENOENT step:
        :attr:`enoent_run` says how many."""
        if self._done:
            return SHRINK_DONE
        at = self._at
        if at == _START:
            thr: int = self._state.thr_pages
            if thr < 0:  # no limit set: nothing to do
                return self._finish()
            self._thr = thr
            at = _TOP
        elif at == _AFTER_PASS_END:
            if not self._attempts:
                self._failures += 1
                if self._failures == _RETRIES:
                    return self._finish()
            self._attempts = 0
            if self._below_threshold():
                return self._finish()
            at = _TOP
        elif at == _AFTER_SHRINK:
            ret = self._ret
            if ret != -_ENOENT:
                self._attempts += 1
                if ret:
                    self._failures += 1
                    if self._failures == _RETRIES:
                        return self._finish()
            elif self._cursor is None:
                return self._finish()  # no memcg hierarchy and nothing to write back
            if self._below_threshold():
                return self._finish()
            at = _TOP
        elif at == _AFTER_ENOENT and self._below_threshold():
            # The kernel checks after each group it passes: it stops on the first one.
            self._cursor.next_from(self._prev)
            return self._finish()
        if at == _TOP:
            if self._cursor is None:
                self._memcg = None
            else:  # the other groups' shrink_memcg would return -ENOENT, changing nothing
                self._prev = self._cursor.next_shrink
                memcg, empty = self._cursor.next_with(self._shrinkable_memcg_ids())
                self._memcg = memcg
                if empty:
                    self.enoent_run = empty
                    self._at = _AFTER_ENOENT
                    return -_ENOENT
        if self._cursor is not None and self._memcg is None:
            self._at = _AFTER_PASS_END  # the end of a full pass over the hierarchy
            return _PASS_END
        ret = shrink_memcg(self._zswap, self._memcg)
        self.enoent_run = 1
        self._ret = ret
        self._at = _AFTER_SHRINK
        return ret

    def _finish(self) -> int:
        self._done = True
        return SHRINK_DONE

    def _below_threshold(self) -> bool:
        return bool(self._state.total_pages() <= self._thr)  # zswap_total_pages()

    def _shrinkable_memcg_ids(self) -> list[int]:
        """The groups :func:`shrink_memcg` would not return -ENOENT for without a change:
        online (``mem_cgroup_from_id``), writeback enabled, entries on their LRU."""
        root = self._root
        assert root is not None  # only called with a hierarchy to walk
        out: list[int] = []
        for memcg_id in self._nonempty_ids():
            memcg = root.from_id(memcg_id)
            if memcg is not None and memcg.zswap_writeback_enabled():
                out.append(memcg_id)
        return out
