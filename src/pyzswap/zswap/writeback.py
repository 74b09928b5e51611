"""The writeback tier: writing entries back to their swap slots, and who decides to.

As in 6.18 (docs/KERNEL_REFERENCE.md §6), writeback happens in three places: a store over the
memcg's ``memory.zswap.max`` calls :meth:`~ZswapWriteback.shrink_memcg` on the group first; a
store refused by the global limit queues :meth:`~ZswapWriteback.shrink_worker` on its own
thread (:class:`ShrinkWork`: round-robin over cgroups down to the accept threshold, 16 failures
at most); and a memory-pressure caller uses :meth:`~ZswapWriteback.shrinker_count` /
:meth:`~ZswapWriteback.shrinker_scan` when ``shrinker_enabled``. All of them end in
:meth:`~ZswapWriteback.writeback_entry`. This is Python in both flows: it is the policy part of
zswap, and its cost is the swap device's write, not zswap's bookkeeping. The one exception is
the worker's walk over the groups and its ``shrink_memcg`` calls (:mod:`.shrink`, compiled),
which a pool held at its limit runs hundreds of thousands of times for few writes.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, cast

from ..errors import DecompressFail, InvalidParameter, ZswapError
from ..folio import PAGE_SHIFT, PAGE_SIZE
from ..lru import LRU_REMOVED_RETRY, LRU_RETRY, LRU_ROTATE, LRU_STOP, IsolateFn, LruWalk
from ..swap import SWP_TYPE_SHIFT, SwapIOError, SwapSlotFree, SwapTable
from ._base import ZswapBase
from .params import SHRINK_STOP, ZswapEntry
from .shrink import SHRINK_DONE, ShrinkWalk, shrink_memcg

if TYPE_CHECKING:
    from ..memcg import MemCgroup
    from ..pool import ZswapPool

__all__ = ["ShrinkWork", "ZswapWriteback"]

#: A slot pinned for writeback: (swap entry value, the swap-cache folio).
_Pinned = tuple[int, bytearray]


class ShrinkWork:
    """``zswap_shrink_work`` on ``shrink_wq`` (an ordered workqueue with max_active 1).

    A daemon thread started on first use runs :meth:`ZswapWriteback.shrink_worker` once per
    queueing; queueing while it is pending does nothing, queueing while it runs makes it run
    again. With ``inline`` (a pyzswap option for deterministic replays) the worker runs in the
    caller of :meth:`queue` instead, after the failed store has released every lock. With
    ``clock`` (deterministic and asynchronous, for the mm model) queueing only marks the work
    pending; the owner runs :meth:`ZswapWriteback.shrink_worker_steps` on its own clock
    (:meth:`take`).
    """

    def __init__(self, zswap: ZswapWriteback, inline: bool = False,
                 clock: bool = False) -> None:
        self._zswap = zswap
        self.inline = inline
        self.clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._pending = False
        self._running = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.errors: list[BaseException] = []

    def queue(self) -> None:
        if self.clock:
            self._pending = True
            notify = self._zswap.on_shrink_queue
            if notify is not None:
                notify()
            return
        if self.inline:
            self._run_inline()
            return
        with self._cond:
            if self._stopped or self._pending:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="zswap-shrink",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def take(self) -> bool:
        """``clock`` mode: True (and clear it) if work was queued since the last take."""
        pending, self._pending = self._pending, False
        return pending

    def _run_inline(self) -> None:
        if self._running:  # queued from inside the worker: run once more afterwards
            self._pending = True
            return
        self._running = True
        try:
            self._pending = True
            while self._pending and not self._stopped:
                self._pending = False
                self._zswap.shrink_worker()
                self.runs += 1
        finally:
            self._running = False

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                self._pending = False
                self._running = True
            try:
                self._zswap.shrink_worker()
            except BaseException as exc:
                self.errors.append(exc)
            finally:
                with self._cond:
                    self._running = False
                    self.runs += 1
                    self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._running,
                                       timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


class ZswapWriteback(ZswapBase):
    """Writeback, the memcg shrinker and the pool-limit shrink worker of a Zswap."""

    _nr_disk_swapins: dict[int, int]

    def total_pages(self) -> int:
        """``zswap_total_pages()``: zsmalloc pages over every live pool."""
        return int(self._state.total_pages())

    def writeback_entry(self, entry: ZswapEntry) -> int:
        """``zswap_writeback_entry``: decompress an entry and write it to its swap slot.

        Returns 0, or a negative errno: -EEXIST (the slot's folio is already in the swap
        cache: it is being swapped in, or another writeback has it), -ENOMEM (the entry was
        invalidated or the slot reused meanwhile: nothing is written), -EIO (decompression or
        the device write failed: the entry stays in zswap), -ENODEV (no swap device).

        Deliberate difference: the kernel erases the entry before submitting the write and
        relies on the swap cache to retry a failed write; pyzswap writes synchronously and
        erases the entry only after the write succeeded, so an I/O error loses nothing.
        """
        self._check_open()
        # 1-2. Pin the slot with a swap-cache folio; still this entry's slot?
        pinned = self._wb_pin(entry)
        if type(pinned) is int:
            return pinned
        swp, folio = cast(_Pinned, pinned)
        try:
            # 3. Decompress into the folio.
            try:
                self._decompress(entry, memoryview(folio))
            except DecompressFail:
                return -errno.EIO
            except InvalidParameter:
                return -errno.ENOMEM  # freed under us (a load without the swap cache)
            # 4. Write it to the device; only then drop the entry.
            ret = self._wb_write(entry, swp, folio)
        finally:
            self._wb_unpin(entry, swp)
        self.release_pools()
        return ret

    def writeback_entries(self, entries: Sequence[ZswapEntry]) -> list[int]:
        """Write back a batch of entries: one result per entry, as :meth:`writeback_entry`
        gives. The steps are the same, but every slot is pinned first and the entries of a
        batching pool are then decompressed together, in batches of its batch size (in
        parallel on its engines), before the pages are written one by one."""
        self._check_open()
        table = self.swap_table
        results = [0] * len(entries)
        pinned: list[tuple[int, ZswapEntry, _Pinned]] = []
        try:
            for k, entry in enumerate(entries):
                got = self._wb_pin(entry)
                if type(got) is int:
                    results[k] = got
                else:
                    pinned.append((k, entry, cast(_Pinned, got)))
            decoded: list[tuple[int, ZswapEntry, _Pinned]] = []
            for pool, chunk in self._pool_batches(pinned):
                for item, ret in zip(chunk, self._wb_decompress(pool, chunk), strict=True):
                    if ret:
                        results[item[0]] = ret
                    else:
                        decoded.append(item)
            for k, entry, (swp, folio) in sorted(decoded, key=lambda item: item[0]):
                results[k] = self._wb_write(entry, swp, folio)
        finally:
            if table is not None:
                for _, entry, (swp, _) in pinned:
                    self._wb_unpin(entry, swp)
        self.release_pools()
        return results

    def _wb_pin(self, entry: ZswapEntry) -> int | _Pinned:
        """Writeback steps 1-2: a swap-cache folio for the entry's slot pins it against reuse
        and swapoff, and the slot is marked busy (-EEXIST if a store or load of it is in
        flight); then the slot must still hold this entry. ``(swp, folio)``, or the negative
        errno (the swap-cache folio and the mark are already gone again then); release with
        :meth:`_wb_unpin`."""
        table = self.swap_table
        swp_type, offset = entry.type, entry.offset
        if table is None or swp_type not in self._tree_pages:
            return -errno.ENODEV
        swp = (swp_type << SWP_TYPE_SHIFT) | offset
        folio = bytearray(PAGE_SIZE)
        try:
            if not table.add_to_swap_cache(swp, folio):
                return -errno.EEXIST
        except (SwapSlotFree, InvalidParameter):
            return -errno.ENOMEM  # the slot was freed: the entry is being invalidated
        try:
            marked = self._table.slots_try_begin(swp_type, offset, 1)
        except ValueError:  # not a slot of the tree (a made-up entry)
            table.delete_from_swap_cache(swp)
            return -errno.ENOMEM
        if not marked:
            table.delete_from_swap_cache(swp)
            return -errno.EEXIST
        if self._table.get(swp_type, offset) != entry:
            self._wb_unpin(entry, swp)
            return -errno.ENOMEM
        return swp, folio

    def _wb_unpin(self, entry: ZswapEntry, swp: int) -> None:
        """Undo :meth:`_wb_pin`: the busy mark first, then the swap-cache folio (whose removal
        may free the slot and so invalidate it)."""
        self._table.slots_end(entry.type, entry.offset, 1)
        cast(SwapTable, self.swap_table).delete_from_swap_cache(swp)

    def _wb_decompress(self, pool: ZswapPool | None,
                       chunk: list[tuple[int, ZswapEntry, _Pinned]]) -> list[int]:
        """Writeback step 3 for a chunk of one pool's pinned entries: 0 or -errno each."""
        if pool is not None and len(chunk) > 1:
            views = [memoryview(folio) for _, _, (_, folio) in chunk]
            try:
                ok = self._decompress_batch(pool, [(i, e) for i, (_, e, _) in enumerate(chunk)],
                                            views)
            except InvalidParameter:
                pass  # an entry freed under us: find out which, one by one
            else:
                return [0 if good else -errno.EIO for good in ok]
        rets: list[int] = []
        for _, entry, (_, folio) in chunk:
            try:
                self._decompress(entry, memoryview(folio))
                rets.append(0)
            except DecompressFail:
                rets.append(-errno.EIO)
            except InvalidParameter:
                rets.append(-errno.ENOMEM)
        return rets

    def _wb_write(self, entry: ZswapEntry, swp: int, folio: bytearray) -> int:
        """Writeback step 4: write the page to its slot; only then drop the entry (zswpwb)."""
        try:
            cast(SwapTable, self.swap_table).write_page(swp, folio)
        except SwapIOError:
            return -errno.EIO
        with self._lock:
            if self._state.closed:
                raise ZswapError("this Zswap was closed during the writeback")
            self._state.written_back(entry)
        if self.on_writeback is not None:
            self.on_writeback(entry.type, entry.offset)
        return 0

    def _shrink_memcg_cb(self, encountered: list[bool] | None) -> IsolateFn[ZswapEntry]:
        """``shrink_memcg_cb`` for one walk (``encountered`` set only by the shrinker)."""
        state = self._state

        def isolate(key: int, entry: ZswapEntry, referenced: bool,
                    w: LruWalk[ZswapEntry]) -> int:
            if referenced:
                return LRU_ROTATE  # second chance; the walk clears the bit
            w.move_tail()  # rotate before unlocking: once unlocked the entry may be freed
            w.unlock()
            try:
                err = self.writeback_entry(entry)
            finally:
                w.lock()
            if err:
                state.count("reject_reclaim_fail")
                if err == -errno.EEXIST and encountered is not None:
                    encountered[0] = True
                    return LRU_STOP
                return LRU_RETRY
            state.count("written_back_pages")
            return LRU_REMOVED_RETRY

        return isolate

    def shrink_memcg(self, memcg: MemCgroup | None) -> int:
        """``shrink_memcg``: write back one entry of the group's LRU.

        0 if one was written back, -EAGAIN if entries were scanned but none written, -ENOENT if
        writeback is disabled, the group is offline or its LRU is empty.
        """
        return shrink_memcg(self, memcg)

    def shrink_worker(self) -> None:
        """``shrink_worker``: write back, round-robin over cgroups, until the pool is below the
        accept threshold; give up after ``MAX_RECLAIM_RETRIES`` (16) failures."""
        for _ in self.shrink_worker_steps():
            pass

    def shrink_work_take(self) -> bool:
        """``shrink_work="clock"``: True if the shrink work was queued since the last call (the
        caller then runs :meth:`shrink_worker_steps` on its own clock)."""
        return self._shrink_work.take()

    def shrink_walk(self) -> ShrinkWalk:
        """One run of :meth:`shrink_worker`, one step at a time (:class:`ShrinkWalk`)."""
        return ShrinkWalk(self)

    def shrink_worker_steps(self) -> Iterator[int]:
        """:meth:`shrink_worker` one ``shrink_memcg`` call at a time: yields each call's result
        (0, -EAGAIN, -ENOENT), and :data:`PASS_END` where a walk over the hierarchy ended
        (``mem_cgroup_iter`` returned NULL), so a caller can interleave the worker with other
        work and charge each step its cost. Consecutive groups with nothing to write back
        (whose calls change nothing) are one -ENOENT yield: :attr:`enoent_run` says how many."""
        walk = ShrinkWalk(self)
        while True:
            ret = walk.step()
            if ret == SHRINK_DONE:
                return
            self.enoent_run = walk.enoent_run
            yield ret

    def shrink_work_queue(self) -> None:
        """``queue_work(shrink_wq, &zswap_shrink_work)``: run the shrink worker on its thread."""
        self._shrink_work.queue()

    def shrink_work_flush(self, timeout: float | None = None) -> bool:
        """``flush_work``: wait until queued shrink work has run; False on timeout."""
        return self._shrink_work.flush(timeout)

    def folio_swapin(self, memcg: MemCgroup | None = None) -> None:
        """``zswap_folio_swapin``: a page came back from the swap *device*: the shrinker
        protects that many entries from its next count (it wrote back too eagerly)."""
        key = 0 if memcg is None else memcg.id
        with self._lock:
            self._nr_disk_swapins[key] = self._nr_disk_swapins.get(key, 0) + 1

    def shrinker_count(self, memcg: MemCgroup | None = None) -> int:
        """``zswap_shrinker_count``: freeable entries, scaled by the compression ratio and
        reduced by recent swap-ins from disk (which show writeback was too eager)."""
        if not self._params["shrinker_enabled"]:
            return 0
        if memcg is not None and not memcg.zswap_writeback_enabled():
            return 0
        if memcg is None or self.memcg_root is None:
            nr_backing, nr_stored = self.total_pages(), self._state.stored_pages
        else:
            nr_backing, nr_stored = memcg.zswap_current >> PAGE_SHIFT, memcg.zswapped
        if not nr_stored:
            return 0
        key = 0 if memcg is None else memcg.id
        nr_freeable = self.lru.count(key)
        if not nr_freeable:
            return 0
        with self._lock:  # consume the protection atomically, as the kernel's cmpxchg loop
            swapins = self._nr_disk_swapins.get(key, 0)
            self._nr_disk_swapins[key] = max(swapins - nr_freeable, 0)
        nr_freeable = max(nr_freeable - swapins, 0)
        if not nr_freeable:
            return 0
        return int(nr_freeable * nr_backing // nr_stored)

    def shrinker_scan(self, memcg: MemCgroup | None = None, nr_to_scan: int = 128) -> int:
        """``zswap_shrinker_scan``: walk the group's LRU writing back cold entries; the
        number written back, or ``SHRINK_STOP`` (-1) if none or a swap-cache hit was seen.

        As the kernel's, it first returns ``SHRINK_STOP`` without touching the LRU when
        ``shrinker_enabled`` is off or the group's ``memory.zswap.writeback`` is disabled."""
        if not self._params["shrinker_enabled"]:
            return SHRINK_STOP
        if memcg is not None and not memcg.zswap_writeback_enabled():
            return SHRINK_STOP
        encountered = [False]
        freed = self.lru.walk(0 if memcg is None else memcg.id, nr_to_scan,
                              self._shrink_memcg_cb(encountered))
        if encountered[0] or not freed:
            return SHRINK_STOP
        return freed
