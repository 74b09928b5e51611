"""Reclaim (``mm/vmscan.c``): the entry points (memcg, direct, kswapd), the node and memcg
walk, the scan balance, the inactive and active list shrinkers and ``shrink_folio_list``
(reference checks, swap-slot allocation, writeout, shadows)."""

# mypy: disable-error-code="misc"
# (the methods' self is the MemoryModel this class is a base of: mypy accepts a self type
# that is not a supertype of the class only for a Protocol, and reports it as "misc")
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Final, SupportsIndex, cast

from mypy_extensions import trait

from ...folio import PAGE_SHIFT, PAGE_SIZE
from ...memcg import MemCgroup
from ...swap import SWP_TYPE_SHIFT
from ...swapcore import AOP_WRITEPAGE_ACTIVATE
from .base import (
    DEF_PRIORITY,
    F_ACTIVE,
    F_PRESENT,
    F_RECLAIM,
    F_REFERENCED,
    F_SHADOW_WS,
    F_SWAPCACHE,
    F_WORKINGSET,
    MAX_RECLAIM_RETRIES,
    MAX_SWAPPINESS,
    SWAP_CLUSTER_MAX,
    LruVec,
    ScanControl,
    mem_cgroup_iter_list,
)

if TYPE_CHECKING:
    from .model import MemoryModel

_clock: Final = time.perf_counter
#: Folios at the inactive tail handed to the look-ahead when a reclaim ends: what the next one
#: isolates at priorities 12, 11, ... (4 + 8 + 16 + 32 folios of a 64 MiB list) before it has
#: reclaimed SWAP_CLUSTER_MAX, in two batches.
AHEAD_TAIL: Final = 2 * SWAP_CLUSTER_MAX


@trait
class Vmscan:
    """The reclaim steps of :class:`~pyzswap.run.mm.MemoryModel`."""

    def try_to_free_mem_cgroup_pages(self: MemoryModel, memcg: MemCgroup, nr_pages: int, *,
                                     proactive: bool = False,
                                     swappiness: int | None = None) -> int:
        """``try_to_free_mem_cgroup_pages``: reclaim ``max(nr_pages, 32)`` pages from the
        group and its descendants; the number reclaimed."""
        sc = ScanControl(self._lruvec(memcg), max(nr_pages, SWAP_CLUSTER_MAX), proactive=proactive,
                   swappiness=swappiness)
        return self._do_try_to_free_pages(sc)

    def try_to_free_pages(self: MemoryModel) -> int:
        """``try_to_free_pages``: global direct reclaim of 32 pages."""
        self.stats.direct_reclaims += 1
        return self._do_try_to_free_pages(ScanControl(None, SWAP_CLUSTER_MAX))

    def _do_try_to_free_pages(self: MemoryModel, sc: ScanControl) -> int:
        """``do_try_to_free_pages``: shrink the node at priority 12, 11, ... 0 until enough is
        reclaimed; then, if nothing was, retry with a full cgroup walk and with forced
        deactivation (when deactivation was skipped)."""
        self._in_reclaim += 1
        try:
            reclaimed = self._do_try_to_free_pages_loop(sc)
        finally:
            self._in_reclaim -= 1
        self._precompress_tail()
        return reclaimed

    def _do_try_to_free_pages_loop(self: MemoryModel, sc: ScanControl) -> int:
        """The priority loop of ``do_try_to_free_pages``."""
        while True:
            sc.priority = DEF_PRIORITY
            while True:
                sc.nr_scanned = 0
                self._shrink_node(sc)
                if sc.nr_reclaimed >= sc.nr_to_reclaim:
                    break
                sc.priority -= 1
                if sc.priority < 0:
                    break
            target = sc.target if sc.target is not None else self._root_vec
            target.refaults = target.flushed[2]  # snapshot_refaults
            if sc.nr_reclaimed:
                return sc.nr_reclaimed
            if not sc.full_walk:
                sc.full_walk = True
                continue
            if sc.skipped_deactivate:
                sc.force_deactivate = True
                sc.skipped_deactivate = False
                continue
            return 0

    def _shrink_node(self: MemoryModel, sc: ScanControl) -> None:
        """``shrink_node``: ``prepare_scan_control`` (costs, ``may_deactivate`` from refaults
        or a low inactive list, ``file_is_tiny`` for global reclaim), then the memcgs."""
        target = sc.target if sc.target is not None else self._root_vec
        sc.anon_cost = target.anon_cost
        sc.file_cost = target.file_cost
        if not sc.force_deactivate:
            self._flush_ratelimited()
            sc.may_deactivate = (target.flushed[2] != target.refaults
                                 or self._inactive_is_low(target))
        else:
            sc.may_deactivate = True
        if sc.target is None:
            # No file pages in the model: file + free <= high watermark is free <= high.
            free = self.free_pages()
            sc.file_is_tiny = (free <= self.wmark_high and not sc.may_deactivate
                               and (self._root_vec.hier("nr_inactive") >> sc.priority) > 0)
        self._shrink_node_memcgs(sc)

    def _shrink_node_memcgs(self: MemoryModel, sc: ScanControl) -> None:
        """``shrink_node_memcgs``: each memcg of the target's subtree in pre-order, its lruvec
        and its slab shrinkers. A direct reclaimer walks partially from where the last walk
        of this target stopped and stops once it has enough (kswapd and full walks do all)."""
        target = sc.target if sc.target is not None else self._root_vec
        order = [m for m in mem_cgroup_iter_list(target.memcg) if m.id in self._vecs]
        start = 0
        partial = not sc.full_walk
        if partial:
            pos = self._walk_pos.get(target.memcg.id, -1)
            ids = [m.id for m in order]
            start = ids.index(pos) + 1 if pos in ids else 0
            if start >= len(order):
                start = 0
        for i in range(len(order)):
            memcg = order[(start + i) % len(order)] if partial else order[i]
            vec = self._vecs[memcg.id]
            self._shrink_lruvec(vec, sc)
            self._shrink_slab(memcg, sc.priority)
            if partial:
                self._walk_pos[target.memcg.id] = memcg.id
                if sc.nr_reclaimed >= sc.nr_to_reclaim:
                    break
        if partial and len(order) and self._walk_pos.get(target.memcg.id) == order[-1].id:
            self._walk_pos[target.memcg.id] = -1

    def _inactive_is_low(self: MemoryModel, vec: LruVec) -> bool:
        """``inactive_is_low`` for anon: inactive * ratio < active, ratio = sqrt(10 * GB) of
        the lists' size (1 under a gigabyte); the memcg statistics as last flushed."""
        inactive, active, _ = vec.flushed
        gb = (inactive + active) >> (30 - PAGE_SHIFT)
        ratio = math.isqrt(10 * gb) if gb else 1
        return inactive * ratio < active

    def _get_scan_count(self: MemoryModel, vec: LruVec, sc: ScanControl) -> tuple[int, int]:
        """``get_scan_count`` for the anon lists (the model has no file pages): how many of
        the inactive and the active list to scan at this priority."""
        memcg = vec.memcg
        swappiness = sc.swappiness if sc.proactive and sc.swappiness is not None \
            else self._swappiness(memcg)
        if self._nr_swap_free() <= 0:
            return 0, 0  # SCAN_FILE: anon cannot be reclaimed
        if self.v2 and memcg.swap_margin() <= 0:
            return 0, 0  # can_reclaim_anon_pages: mem_cgroup_get_nr_swap_pages() is 0
        if sc.target is not None and not swappiness:
            return 0, 0  # SCAN_FILE
        equal = (not sc.priority and swappiness) or sc.file_is_tiny
        if not equal:
            total = sc.anon_cost + sc.file_cost
            anon_cost = total + sc.anon_cost
            file_cost = total + sc.file_cost
            total = anon_cost + file_cost
            ap = swappiness * (total + 1) // (anon_cost + 1)
            fp = (MAX_SWAPPINESS - swappiness) * (total + 1) // (file_cost + 1)
            denominator = ap + fp
        out = []
        online = memcg.online
        for size in (vec.nr_inactive, vec.nr_active):
            scan = size >> sc.priority
            if not scan and not online:
                scan = min(size, SWAP_CLUSTER_MAX)
            if not equal:
                scan = scan * ap // denominator if denominator else 0
            out.append(scan)
        return out[0], out[1]

    def _shrink_lruvec(self: MemoryModel, vec: LruVec, sc: ScanControl) -> None:
        """``shrink_lruvec``: scan the lists in chunks of 32 until the counts are done (the
        active anon list does not keep the loop going) or, outside proportional global
        reclaim, enough is reclaimed; then age the active list by 32 if the inactive one is
        low."""
        nr_inactive, nr_active = self._get_scan_count(vec, sc)
        proportional = sc.target is None and not sc.kswapd and sc.priority == DEF_PRIORITY
        reclaimed = 0
        while nr_inactive:  # with no file lists, only inactive anon keeps the loop going
            scan = min(nr_inactive, SWAP_CLUSTER_MAX)
            nr_inactive -= scan
            reclaimed += self._shrink_inactive_list(scan, vec, sc)
            if nr_active:  # shrink_list on the active list
                scan = min(nr_active, SWAP_CLUSTER_MAX)
                nr_active -= scan
                if sc.may_deactivate:
                    self._shrink_active_list(scan, vec, sc)
                else:
                    sc.skipped_deactivate = True
            if reclaimed < sc.nr_to_reclaim or proportional:
                continue
            break  # no file pages: the proportional adjustment ends the loop
        sc.nr_reclaimed += reclaimed
        if self._nr_swap_free() > 0 and self._inactive_is_low(vec):
            self._shrink_active_list(SWAP_CLUSTER_MAX, vec, sc)

    def _precompress_tail(self: MemoryModel) -> None:
        """pyzswap's own: at the end of a reclaim, hand the folios at the tail of the inactive
        list it isolated from last (which the next reclaim of that list isolates first) to
        zswap's look-ahead compressor, so that the second core compresses them while the
        workload runs on (:meth:`Zswap.precompress`: the smaller batches
        :meth:`_shrink_folio_list` hands over then find them done)."""
        if not self._ahead_due or not self.precompress:
            return
        self._ahead_due = False
        vec = self._ahead_vec
        prv = self._mv_prv
        h = vec.ia
        g = prv[h]
        tail: list[int] = []
        while g != h and len(tail) < AHEAD_TAIL:
            tail.append(g)
            g = prv[g]
        # the helper starts with the newest batch's last folio: the nearer half goes last,
        # the tail-most folio at its end
        tail.reverse()
        split = max(0, len(tail) - SWAP_CLUSTER_MAX)
        if split:
            self._hand_ahead(tail[:split], False)
        self._hand_ahead(tail[split:], False)

    def _hand_ahead(self: MemoryModel, folios: list[int], ignore_references: bool) -> None:
        """pyzswap's own: hand the folios that reclaim will likely write out (not referenced,
        unless references are ignored; dirty, or not yet in the swap cache) to zswap's
        look-ahead compressor (:meth:`Zswap.precompress`), so that their stores take the same
        bytes a second core computed."""
        flags, mapped, young, dirty = self._mv_flags, self._mv_mapped, self._mv_young, \
            self._mv_dirty
        # The indexes as the objects the list holds: compiled code would otherwise box each
        # one again for every bytearray lookup (page indexes are not small ints).
        ahead = [g for g in cast("list[SupportsIndex]", folios)
                 if (dirty[g] or not flags[g] & F_SWAPCACHE)
                 and (ignore_references or not (mapped[g] and young[g]))]
        if len(ahead) > 1:
            self.zswap.precompress(self._truth_v, cast("list[int]", ahead))

    def _shrink_active_list(self: MemoryModel, nr_to_scan: int, vec: LruVec,
                            sc: ScanControl) -> None:
        """``shrink_active_list``: take ``nr_to_scan`` folios from the active tail; each has its
        references cleared (``folio_referenced``) and, being anon, is deactivated
        (``PG_workingset`` set) onto the inactive head."""
        nxt, prv = self._mv_nxt, self._mv_prv
        flags, young = self._mv_flags, self._mv_young
        h = vec.aa
        taken: list[int] = []
        while len(taken) < nr_to_scan:
            g = prv[h]
            if g == h:
                break
            self._lru_del(g)
            vec.nr_active -= 1
            taken.append(g)
        st = self.stats
        st.pgrefill += len(taken)
        self.now += self.costs.scan * len(taken)
        for g in taken:
            young[g] = 0  # folio_referenced clears the PTE's young bit
            flags[g] = (flags[g] & ~F_ACTIVE) | F_WORKINGSET
            self._lru_add(g, vec, False)
        st.pgdeactivate += len(taken)
        del nxt

    def _shrink_inactive_list(self: MemoryModel, nr_to_scan: int, vec: LruVec,
                              sc: ScanControl) -> int:
        """``shrink_inactive_list``: isolate up to ``nr_to_scan`` folios from the inactive tail,
        ``shrink_folio_list`` them, put the rest back (activated ones on the active list), note
        the cost; folios whose device write ended rotate to the tail
        (``folio_rotate_reclaimable``)."""
        prv, nxt = self._mv_prv, self._mv_nxt
        h = vec.ia
        isolated: list[int] = []
        g = prv[h]
        while g != h and len(isolated) < nr_to_scan:  # isolate_lru_folios, from the tail
            isolated.append(g)
            g = prv[g]
        if not isolated:
            return 0
        self._ahead_vec = vec
        self._ahead_due = True
        prv[h] = g  # unlink them all: the list now ends at g
        nxt[g] = h
        vec.nr_inactive -= len(isolated)
        st = self.stats
        n = len(isolated)
        st.pgscan_anon += n
        if sc.kswapd:
            st.pgscan_kswapd += n
        st.reclaim_batches += 1
        self.now += self.costs.scan * n
        reclaimed, pageout, keep, rotate = self._shrink_folio_list(isolated, vec, sc)
        flags = self._mv_flags
        for g in keep:  # move_folios_to_lru
            if flags[g] & F_ACTIVE:
                self._lru_add(g, vec, True)
                self._age_nonresident(vec, 1)
            else:
                self._lru_add(g, vec, False)
        for g in rotate:  # the device write ended: folio_rotate_reclaimable
            if flags[g] & F_PRESENT and not flags[g] & F_ACTIVE:
                self._lru_del(g)
                vec.nr_inactive -= 1
                self._lru_add(g, vec, False, tail=True)
            flags[g] &= ~F_RECLAIM
        st.pgsteal_anon += reclaimed
        if sc.kswapd:
            st.pgsteal_kswapd += reclaimed
        self._lru_note_cost(vec, pageout, n - reclaimed)
        return reclaimed

    def _lru_note_cost(self: MemoryModel, vec: LruVec, nr_io: int, nr_rotated: int) -> None:
        """``lru_note_cost`` (anon): cost = io * 32 + rotations, on the lruvec and its
        ancestors, halved when it exceeds a quarter of the lists."""
        cost = nr_io * SWAP_CLUSTER_MAX + nr_rotated
        v: LruVec | None = vec
        while v is not None:
            v.anon_cost += cost
            if v.anon_cost + v.file_cost > (v.nr_inactive + v.nr_active) // 4:
                v.anon_cost //= 2
                v.file_cost //= 2
            v = v.parent

    def _shrink_folio_list(self: MemoryModel, folios: list[int], vec: LruVec, sc: ScanControl,
                           ignore_references: bool = False
                           ) -> tuple[int, int, list[int], list[int]]:
        """``shrink_folio_list`` for anon folios, oldest first. Returns (reclaimed, written
        out, the folios kept (to put back), those whose device write ended)."""
        flags, mapped, young, dirty = self._mv_flags, self._mv_mapped, self._mv_young, \
            self._mv_dirty
        slot_v = self._mv_slot
        core = self.core
        st = self.stats
        costs = self.costs
        reclaimed = pageout = 0
        keep: list[int] = []
        rotate: list[int] = []
        target = sc.target if sc.target is not None else self._root_vec
        zmemcg = vec.memcg if vec.memcg.parent is not None else None  # the folios' memcg
        truth_v = self._truth_v
        shadow_v, shadow_memcg_v = self._mv_shadow, self._mv_shadow_memcg
        target_id = target.memcg.id
        types = core.table.types()
        dev1 = core.table.device(types[0]) if len(types) == 1 else None
        type1 = types[0] << SWP_TYPE_SHIFT if types else 0
        v2 = self.v2
        if self.precompress and len(folios) > 1:
            self._hand_ahead(folios, ignore_references)
        for g in folios:
            if self._bg_next <= self.now:
                self._background()
            fl = flags[g]
            if not ignore_references:
                # folio_check_references
                ref_ptes = young[g] if mapped[g] else 0
                young[g] = 0
                ref_folio = fl & F_REFERENCED
                fl &= ~F_REFERENCED
                if ref_ptes:
                    fl |= F_REFERENCED
                    flags[g] = fl
                    if ref_folio:
                        self._activate(g)
                    keep.append(g)  # FOLIOREF_KEEP (or activated)
                    continue
                flags[g] = fl
            # FOLIOREF_RECLAIM
            if not fl & F_SWAPCACHE:
                # add_to_swap -> folio_alloc_swap: a slot, charged to the folio's memcg
                # (mem_cgroup_try_charge_swap; the model charges before it allocates, the
                # kernel frees the slot again when the charge fails: the same outcome)
                if v2 and not vec.memcg.try_charge_swap(1):
                    self._activate(g)
                    keep.append(g)
                    continue
                if dev1 is None:
                    swp = core.folio_alloc_swap()
                else:  # the same, on the only swap device, without two layers of dispatch
                    off = dev1.alloc_slots(1)
                    swp = None if off is None else type1 | off
                if swp is None:
                    if v2:
                        vec.memcg.uncharge_swap(1)
                    self._activate(g)
                    keep.append(g)
                    continue
                fl |= F_SWAPCACHE
                flags[g] = fl
                slot_v[g] = swp
                self._swap_used += 1
                self._set_slot_owner(swp, g)
                dirty[g] = 1
            if mapped[g]:  # try_to_unmap: the PTE now holds the swap entry
                mapped[g] = 0
            if dirty[g]:
                # pageout -> swap_writeout
                dirty[g] = 0
                t0 = _clock() if self.on_swap is not None else 0.0
                try:
                    result = core.swap_writeout(slot_v[g], truth_v[
                        g * PAGE_SIZE:(g + 1) * PAGE_SIZE], zmemcg)
                except OSError:
                    dirty[g] = 1  # the write failed: the folio keeps its data, dirty
                    keep.append(g)
                    continue
                if self.on_swap is not None:
                    self.on_swap("out", _clock() - t0)
                if self._wb_folios:
                    self._drain_wb_folios()
                if result == AOP_WRITEPAGE_ACTIVATE:
                    dirty[g] = 1
                    st.pageout_activate += 1
                    self._activate(g)
                    keep.append(g)
                    continue
                pageout += 1
                if result == "disk":
                    self.now += costs.disk_write
                    flags[g] |= F_RECLAIM  # under writeback: back on the list, rotate later
                    keep.append(g)
                    rotate.append(g)
                    continue
                self.now += costs.zswap_store if result == "zswap" else costs.zero_io
            # __remove_mapping: leave a shadow (workingset_eviction: the target lruvec's
            # non-resident age, then aged by one), drop the swap cache, free.
            shadow_v[g] = target.nonresident_age
            shadow_memcg_v[g] = target_id
            self._age_nonresident(target, 1)
            flags[g] = F_SHADOW_WS if flags[g] & F_WORKINGSET else 0
            reclaimed += 1
        if reclaimed:  # the freed folios are uncharged together (mem_cgroup_uncharge_folios)
            self.resident_pages -= reclaimed
            vec.memcg.uncharge_memory(reclaimed)
        return reclaimed, pageout, keep, rotate

    def _activate(self: MemoryModel, g: int) -> None:
        """``activate_locked``: free the swap slot if swap is full (only a mapped folio's slot
        is unused: once unmapped, the page table holds it), set PG_active (``pgactivate``)."""
        if self._mv_flags[g] & F_SWAPCACHE and self._mv_mapped[g] and self._swap_full(
                self._proc_list[self._mv_owner[g]].memcg):
            self._free_swap(g)
        self._mv_flags[g] |= F_ACTIVE
        self.stats.pgactivate += 1

    def _wakeup_kswapd(self: MemoryModel) -> None:
        """``wakeup_kswapd``: unless it is running, or has failed 16 times in a row."""
        if self._kswapd_awake or self._kswapd_failures >= MAX_RECLAIM_RETRIES:
            return
        if self.free_pages() > self.wmark_high:
            return
        self._kswapd_awake = True
        self._kswapd_time = max(self._kswapd_time, self.now) + self.costs.wakeup
        self._kswapd_sc = ScanControl(None, 0, kswapd=True)
        self._kswapd_reclaimed = 0
        self.stats.kswapd_wakeups += 1
        self._bg_next = min(self._bg_next, self._kswapd_time)

    def _kswapd_step(self: MemoryModel) -> None:
        """One iteration of ``balance_pgdat`` at kswapd's time: done when the zone is above
        its high watermark; else ``kswapd_shrink_node`` (reclaim the high watermark's worth at
        this priority) and raise the priority when that scanned too little or reclaimed
        nothing."""
        saved, self.now = self.now, self._kswapd_time
        sc = self._kswapd_sc
        if self.free_pages() > self.wmark_high or sc.priority < 1:
            self._kswapd_awake = False
            if self._kswapd_reclaimed:
                self._kswapd_failures = 0
            else:
                self._kswapd_failures += 1
            self._root_vec.refaults = self._root_vec.flushed[2]
            self.now = saved
            return
        before = sc.nr_reclaimed
        sc.nr_to_reclaim = max(self.wmark_high, SWAP_CLUSTER_MAX)
        sc.nr_scanned = 0
        start = self.now
        self._in_reclaim += 1
        try:
            self._shrink_node(sc)
        finally:
            self._in_reclaim -= 1
        self._precompress_tail()
        got = sc.nr_reclaimed - before
        self._kswapd_reclaimed += got
        if not (sc.nr_scanned >= sc.nr_to_reclaim) or not got:
            sc.priority -= 1
        self._kswapd_time = max(self.now, start + self.costs.scan)
        self.now = saved

