"""The swap cache and swap slots (``mm/swap_state.c``, ``mm/swapfile.c``, ``mm/page_io.c``):
readahead, reading a slot into a new swap-cache folio, freeing a slot, ``vm_swap_full``, and
the swap-cache folios zswap's writeback leaves behind."""

# mypy: disable-error-code="misc"
# (the methods' self is the MemoryModel this class is a base of: mypy accepts a self type
# that is not a supertype of the class only for a Protocol, and reports it as "misc")
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from mypy_extensions import trait

from ...folio import PAGE_SIZE
from ...memcg import MemCgroup
from ...swap import SWP_OFFSET_MASK, SWP_TYPE_SHIFT
from .base import (
    F_PRESENT,
    F_READAHEAD,
    F_SHADOW_WS,
    F_SWAPCACHE,
    NO_SLOT,
    LostPage,
    Proc,
)

if TYPE_CHECKING:
    from .model import MemoryModel

_clock: Final = time.perf_counter


@trait
class SwapState:
    """The swap-cache and swap-slot steps of :class:`~pyzswap.run.mm.MemoryModel`."""

    def _free_swap(self: MemoryModel, g: int) -> None:
        """``folio_free_swap``: the folio leaves the swap cache, its slot is freed (zswap's
        entry with it) and it is dirty: memory holds the only copy now."""
        swp = self._mv_slot[g]
        self._mv_flags[g] &= ~F_SWAPCACHE
        self._mv_slot[g] = NO_SLOT
        self._mv_shadow[g] = -1
        self._slot_owner_v[swp & SWP_OFFSET_MASK] = -1
        self._mv_dirty[g] = 1
        # SwapCore.swap_free(swp) of one slot, without its two layers of dispatch
        self.core.table.device(swp >> SWP_TYPE_SHIFT).free_slot(swp & SWP_OFFSET_MASK)
        self._swap_used -= 1
        if self.v2:  # __mem_cgroup_uncharge_swap, as the slot is freed
            self._proc_list[self._mv_owner[g]].memcg.uncharge_swap(1)

    def _swap_full(self: MemoryModel, memcg: MemCgroup | None = None) -> bool:
        """``mem_cgroup_swap_full`` for a folio of ``memcg``: ``vm_swap_full()`` (less than
        half of the swap space is free) or, under cgroup v2, the group or an ancestor uses
        half of its ``memory.swap.max``."""
        if self._swap_total < 0:
            self._swap_space()
        if (self._swap_total - self._swap_used) * 2 < self._swap_total:
            return True
        return self.v2 and memcg is not None and memcg.swap_half_full()

    def _swap_space(self: MemoryModel) -> tuple[int, int]:
        """``nr_swap_pages`` and ``total_swap_pages`` (the model allocates every slot itself,
        so it counts them; the devices' sizes are read once)."""
        if self._swap_total < 0:
            table = self.core.table
            self._swap_total = sum(table.device(t).nr_pages - 1 for t in table.types())
        return self._swap_total - self._swap_used, self._swap_total

    def _nr_swap_free(self: MemoryModel) -> int:
        if self._swap_total < 0:
            self._swap_space()
        return self._swap_total - self._swap_used

    def _swapin_readahead(self: MemoryModel, proc: Proc, g: int, swp: int) -> None:
        """``swap_cluster_readahead``: read the ``swapin_nr_pages`` aligned slots around the
        faulting one into the swap cache (allocated, not-cached slots only), then the faulting
        slot itself."""
        offset = swp & SWP_OFFSET_MASK
        mask = self._swapin_nr_pages(offset) - 1
        if mask:
            owner_v, flags = self._slot_owner_v, self._mv_flags
            start = max(offset & ~mask, 1)  # slot 0 is the swap header
            end = min(offset | mask, len(self._slot_owner) - 1)
            for off in range(start, end + 1):
                h = owner_v[off]
                if h < 0 or flags[h] & F_PRESENT:
                    continue
                if off != offset:
                    hp = self._proc_list[self._mv_owner[h]]
                    self._read_swap_cache(hp, h)
                    flags[h] |= F_READAHEAD
                    self.stats.swap_ra += 1
        if not self._mv_flags[g] & F_PRESENT:
            self._read_swap_cache(proc, g)

    def _swapin_nr_pages(self: MemoryModel, offset: int) -> int:
        """``swapin_nr_pages`` / ``__swapin_nr_pages``: the readahead window from the hits of
        earlier readahead (``+ 2``, rounded up to a power of two; 1 with no hit unless the
        fault is next to the previous one), capped by ``1 << page_cluster`` and halving at
        most per fault."""
        max_pages = 1 << self.page_cluster
        if max_pages <= 1:
            return 1
        hits, self._ra_hits = self._ra_hits, 0
        pages = hits + 2
        if pages == 2:
            prev = self._ra_prev_offset
            if offset != prev + 1 and offset != prev - 1:
                pages = 1
        else:
            roundup = 4
            while roundup < pages:
                roundup <<= 1
            pages = roundup
        pages = min(pages, max_pages)
        pages = max(pages, self._ra_last_pages // 2)
        if not hits:
            self._ra_prev_offset = offset
        self._ra_last_pages = pages
        return pages

    def _read_swap_cache(self: MemoryModel, proc: Proc, g: int) -> None:
        """``__read_swap_cache_async`` + ``swap_read_folio`` for page ``g``: allocate and charge
        a folio (to the memcg the slot was charged to), test the shadow
        (``workingset_refault``), add it to the LRU, read it: zero map, zswap (the load
        dirties it) or the device. The contents are checked against the truth."""
        flags = self._mv_flags
        was_ws = flags[g] & F_SHADOW_WS
        flags[g] = F_SWAPCACHE  # swapcache_prepare: zswap writeback leaves the slot alone
        self._alloc_page()
        self._charge(proc.memcg, 1)
        flags[g] = F_PRESENT | F_SWAPCACHE | was_ws
        self.resident_pages += 1
        shadow = self._mv_shadow[g]
        active = False
        if shadow >= 0:
            active = self._workingset_refault(proc, g, shadow)
            self._mv_shadow[g] = -1
        flags[g] &= ~F_SHADOW_WS
        self._lru_add(g, proc.vec, active)
        swp = self._mv_slot[g]
        if self.on_swap is None:
            source = self.core.swap_read_folio(swp, self._scratch_view, proc.zmemcg)
        else:
            t0 = _clock()
            source = self.core.swap_read_folio(swp, self._scratch_view, proc.zmemcg)
            self.on_swap("in:" + source, _clock() - t0)
        st = self.stats
        costs = self.costs
        if source == "zswap":
            st.faults_zswap += 1
            self._mv_dirty[g] = 1
            self.now += costs.zswap_load
        elif source == "disk":
            st.faults_disk += 1
            self._mv_dirty[g] = 0
            self.now += costs.disk_read
        else:
            st.faults_zero += 1
            self._mv_dirty[g] = 0
            self.now += costs.zero_io
        if self.verify and self._scratch != self._truth_v[g * PAGE_SIZE:(g + 1) * PAGE_SIZE]:
            raise LostPage(f"process {proc.pid} page {g - proc.base}: the fault (from {source}) "
                           "returned different bytes than the page last held")

    def _set_slot_owner(self: MemoryModel, swp: int, g: int) -> None:
        if self._swap_type < 0:
            self._swap_type = swp >> SWP_TYPE_SHIFT
        off = swp & SWP_OFFSET_MASK
        if off >= len(self._slot_owner):
            n = self.core.table.device(swp >> SWP_TYPE_SHIFT).nr_pages
            grown = [-1] * max(n, off + 1)
            grown[:len(self._slot_owner)] = self._slot_owner
            self._slot_owner = grown
            self._slot_owner_v = grown
        self._slot_owner_v[off] = g

    def _on_writeback(self: MemoryModel, swp_type: int, offset: int) -> None:
        """zswap wrote an entry back: ``zswap_writeback_entry``'s swap-cache folio now exists
        (handled by :meth:`_drain_wb_folios` once zswap has returned)."""
        self._wb_count += 1
        self._wb_folios.append(offset)

    def _drain_wb_folios(self: MemoryModel) -> None:
        """The folios zswap's writeback allocated: charged to the page's memcg (reclaiming if
        needed, outside reclaim), in the swap cache, clean, unmapped, written (their write
        ended: at the inactive tail, where the next scan frees them)."""
        pending = self._wb_folios[:]
        self._wb_folios.clear()
        owner_v, flags = self._slot_owner_v, self._mv_flags
        for off in pending:
            g = owner_v[off] if off < len(self._slot_owner) else -1
            if g < 0 or flags[g] & (F_PRESENT | F_SWAPCACHE):
                continue  # being read in already (the kernel's writeback got -EEXIST)
            proc = self._proc_list[self._mv_owner[g]]
            self._alloc_page()
            self._charge(proc.memcg, 1)
            if flags[g] & F_PRESENT:  # the charge's reclaim cannot bring it in; defensive
                continue
            flags[g] = F_PRESENT | F_SWAPCACHE
            self._mv_dirty[g] = 0
            self._mv_shadow[g] = -1
            self.resident_pages += 1
            self._lru_add(g, proc.vec, False, tail=True)
            self.stats.writeback_folios += 1

