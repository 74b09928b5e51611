"""Faults (``mm/memory.c``): first touch (``do_anonymous_page``) and swap-in
(``do_swap_page``) of an unmapped page."""

# mypy: disable-error-code="misc"
# (the methods' self is the MemoryModel this class is a base of: mypy accepts a self type
# that is not a supertype of the class only for a Protocol, and reports it as "misc")
from __future__ import annotations

from typing import TYPE_CHECKING

from mypy_extensions import trait

from .base import F_PRESENT, F_READAHEAD, F_SWAPCACHE, NO_SLOT, PTRS_PER_PTE, Proc

if TYPE_CHECKING:
    from .model import MemoryModel


@trait
class Faults:
    """The fault paths of :class:`~pyzswap.run.mm.MemoryModel`."""

    def _fault(self: MemoryModel, proc: Proc, g: int, write: bool) -> None:
        """A fault on an unmapped page: first touch, swap-cache hit, or swap-in."""
        st = self.stats
        st.pgfault += 1
        if self._bg_next <= self.now:
            self._background()
        flags = self._mv_flags
        fl = flags[g]
        if fl & F_PRESENT:
            # do_swap_page finds the folio in the swap cache: a minor fault.
            st.swapcache_hits += 1
            self.now += self.costs.minor_fault
            if fl & F_READAHEAD:  # swap_update_readahead
                flags[g] = fl & ~F_READAHEAD
                st.swap_ra_hit += 1
                self._ra_hits += 1
            self._map_swapped_in(proc, g, write)
            return
        slot = self._mv_slot[g]
        if slot == NO_SLOT:
            self._first_touch(proc, g)
            return
        # do_swap_page: not in the swap cache: a major fault; swapin_readahead.
        st.pgmajfault += 1
        self._swapin_readahead(proc, g, slot)
        self._map_swapped_in(proc, g, write)

    def _first_touch(self: MemoryModel, proc: Proc, g: int) -> None:
        """``do_anonymous_page``: allocate, charge, fill and map a new page (young and dirty:
        the first access writes its contents). A new page-table page first if needed."""
        st = self.stats
        st.first_touch += 1
        self.now += self.costs.first_touch
        pte = (g - proc.base) // PTRS_PER_PTE
        if not proc.pt[pte]:  # __pte_alloc: a page-table page, charged to the memcg
            self._alloc_page()
            self._charge(proc.memcg, 1)
            proc.pt[pte] = 1
            self.pgtable_pages += 1
        self._alloc_page()
        self._charge(proc.memcg, 1)
        self._mv_flags[g] = F_PRESENT
        self._mv_mapped[g] = 1
        self._mv_young[g] = 1
        self._mv_dirty[g] = 1
        self.resident_pages += 1
        self._lru_add(g, proc.vec, False)

    def _map_swapped_in(self: MemoryModel, proc: Proc, g: int, write: bool) -> None:
        """The end of ``do_swap_page``: free the slot when ``should_try_to_free_swap`` says so
        (swap full, or a write fault: the page becomes the only copy, dirty); map the page
        young (and dirty for a write)."""
        flags = self._mv_flags
        if flags[g] & F_SWAPCACHE and (write or self._swap_full(proc.memcg)):
            self._free_swap(g)
        self._mv_mapped[g] = 1
        self._mv_young[g] = 1
        if write:
            self._mv_dirty[g] = 1

