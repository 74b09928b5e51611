"""Memory cgroup charging and control files (``mm/memcontrol.c``, ``mm/memcontrol-v1.c``) as
the mm model uses them: the page counter a charge tests, reclaim on a charge over the limit,
the statistics flush reclaim reads, ``memory.reclaim`` and limit writes. The groups themselves
(counters, files, hierarchy) are :class:`pyzswap.memcg.MemCgroup`."""

# mypy: disable-error-code="misc"
# (the methods' self is the MemoryModel this class is a base of: mypy accepts a self type
# that is not a supertype of the class only for a Protocol, and reports it as "misc")
from __future__ import annotations

from typing import TYPE_CHECKING

from mypy_extensions import trait

from ...folio import PAGE_SIZE
from ...memcg import MemCgroup
from .base import FLUSH_TIME_US, MAX_RECLAIM_RETRIES

if TYPE_CHECKING:
    from .model import MemoryModel


@trait
class MemControl:
    """The memcg steps of :class:`~pyzswap.run.mm.MemoryModel`."""

    def _usage(self: MemoryModel, memcg: MemCgroup) -> int:
        """The memcg's page counter: its pages (and, under v2, zswap's compressed bytes)."""
        pages = memcg.memory_pages
        if self.v2:
            pages += -(-memcg.zswap_current // PAGE_SIZE)
        return pages

    def _swappiness(self: MemoryModel, memcg: MemCgroup) -> int:
        """``mem_cgroup_swappiness``: v1 groups below the root have their own."""
        if self.v2 or memcg.parent is None:
            return self.swappiness
        return memcg.swappiness

    def flush_stats(self: MemoryModel) -> None:
        """``mem_cgroup_flush_stats``: bring the statistics reclaim reads (through
        ``lruvec_page_state``: list sizes, refault activations) up to date. The kernel flushes
        them every 2 seconds (``flush_memcg_stats_dwork``) and when they are read, as reading
        ``memory.stat`` does: the harness calls this at every timeline sample, where the kernel
        replayer reads each group's ``memory.stat``."""
        for vec in self._vecs.values():
            vec.flush()
        self._flush_time = self.now

    def _flush_ratelimited(self: MemoryModel) -> None:
        """``mem_cgroup_flush_stats_ratelimited``: flush if the periodic flush (every 2 s) is
        due on the model's clock."""
        if self.now - self._flush_time >= FLUSH_TIME_US:
            self.flush_stats()

    def _charge(self: MemoryModel, memcg: MemCgroup, nr: int) -> None:
        """``try_charge_memcg``: charge ``nr`` pages (``page_counter_try_charge``:
        :meth:`MemCgroup.over_limit` finds the group a charge would take over its limit); over a
        limit, reclaim from the group over
        it (``try_to_free_mem_cgroup_pages``) and retry while that makes progress, 16 fruitless
        retries at most (then the kernel's OOM: counted, the charge forced). Inside reclaim
        (``PF_MEMALLOC``) the charge is forced at once."""
        retries = MAX_RECLAIM_RETRIES
        v2 = self.v2
        while True:
            over = memcg.over_limit(nr, v2)
            if over is None or self._in_reclaim:
                memcg.charge_memory(nr)
                if self._oom and over is None:
                    self._oom.clear()  # back under the limits: reclaim works again
                return
            st = self.stats
            st.memcg_reclaims[over.path] = st.memcg_reclaims.get(over.path, 0) + 1
            got = self.try_to_free_mem_cgroup_pages(over, nr)
            if memcg.over_limit(nr, v2) is None:
                self._oom.discard(over.id)
                continue
            if got:
                self._oom.discard(over.id)
                continue
            retries -= 1
            if retries <= 0 or over.id in self._oom:
                # The kernel's memcg OOM: it would kill a task of the group. The model has
                # none to kill: the charge is forced and counted, and until reclaim makes
                # progress again the group's charges try once instead of 16 times.
                self._oom.add(over.id)
                st.memcg_oom += 1
                st.over_limit += 1
                memcg.charge_memory(nr)
                return

    def memory_reclaim(self: MemoryModel, memcg: MemCgroup, nbytes: int,
                       swappiness: int | None = None) -> bool:
        """``memory.reclaim`` (``user_proactive_reclaim``): proactive reclaim of ``nbytes``
        from the group in batches of a quarter of what is left
        (``try_to_free_mem_cgroup_pages`` makes that at least 32 pages), with ``swappiness``
        instead of the group's when given; False (the write's ``-EAGAIN``) once an attempt
        reclaims nothing after ``MAX_RECLAIM_RETRIES`` (16) such attempts, before the goal.
        ``MemCgroup.write("memory.reclaim", ...)`` of this model's hierarchy calls it."""
        self._background()
        goal = nbytes // PAGE_SIZE
        done = 0
        retries = MAX_RECLAIM_RETRIES
        while done < goal:
            batch = (goal - done) // 4
            got = self.try_to_free_mem_cgroup_pages(memcg, batch, proactive=True,
                                                    swappiness=swappiness)
            if not got:
                if retries <= 0:
                    self.stats.reclaim_eagain += 1
                    return False
                retries -= 1
            done += got
        return True

    def set_limit(self: MemoryModel, memcg: MemCgroup, name: str, value: str) -> None:
        """Write a cgroup file now. A lower memory limit reclaims down to it first, as
        ``memory_max_write`` (v2: then OOM, counted) or ``mem_cgroup_resize_max`` (v1: the
        old limit stays when reclaim cannot make room: ``-EBUSY``) do."""
        self._background()
        if name not in (memcg.limit_file,):
            memcg.write(name, value)
            return
        if not self.v2:
            # mem_cgroup_resize_max: the new limit is set once the usage fits under it.
            old = memcg.memory_max_pages
            memcg.write(name, value)
            limit = memcg.memory_max_pages
            memcg.write(name, str(old * PAGE_SIZE))
            while self._usage(memcg) > limit:
                if not self.try_to_free_mem_cgroup_pages(memcg, 1):
                    return  # -EBUSY: the old limit stays
            memcg.write(name, value)
            return
        memcg.write(name, value)  # memory_max_write: set first, then reclaim down to it
        limit = memcg.memory_max_pages
        retries = MAX_RECLAIM_RETRIES
        while self._usage(memcg) > limit:
            if retries:
                if not self.try_to_free_mem_cgroup_pages(memcg, self._usage(memcg) - limit):
                    retries -= 1
                continue
            self.stats.memcg_oom += 1
            return

