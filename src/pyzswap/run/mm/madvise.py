"""``madvise(MADV_PAGEOUT)`` and ``madvise(MADV_COLD)`` (``mm/madvise.c``) on a process's
range."""

# mypy: disable-error-code="misc"
# (the methods' self is the MemoryModel this class is a base of: mypy accepts a self type
# that is not a supertype of the class only for a Protocol, and reports it as "misc")
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mypy_extensions import trait

from ...errors import InvalidParameter
from .base import F_ACTIVE, F_RECLAIM, F_REFERENCED, F_WORKINGSET, ScanControl

if TYPE_CHECKING:
    from .model import MemoryModel


@trait
class Madvise:
    """The madvise calls of :class:`~pyzswap.run.mm.MemoryModel`."""

    def _madvise_range(self: MemoryModel, pid: int, first: int, last: int, what: str) -> list[int]:
        """The pages ``madvise_cold_or_pageout_pte_range`` visits: present PTEs of a running
        process's range (swap entries and untouched pages are skipped)."""
        proc = self._procs.get(pid)
        if proc is None or not proc.started or proc.exited:
            raise InvalidParameter(f"{what} of process {pid}, which is not running")
        if not 0 <= first <= last < proc.npages:
            raise InvalidParameter(f"{what} {first}-{last} is outside process {pid}")
        self._background()
        lo = proc.base
        return (np.flatnonzero(self.mapped[lo + first:lo + last + 1]) + lo + first).tolist()

    def pageout(self: MemoryModel, pid: int, first: int, last: int) -> int:
        """``madvise(MADV_PAGEOUT)`` of pages ``first..last`` (``madvise_cold_or_pageout_pte_range``
        with ``pageout``): each mapped folio has ``PG_referenced`` cleared (the PTE's young bit
        stays: only MADV_COLD clears it), an active one is marked workingset, and all are
        isolated and reclaimed now by ``reclaim_pages``, which clears ``PG_active`` and runs
        ``shrink_folio_list`` ignoring references; what it keeps goes back on its list
        (``folio_putback_lru``). Returns the number reclaimed."""
        gs = self._madvise_range(pid, first, last, "pageout")
        proc = self._procs[pid]
        flags, vec = self._mv_flags, proc.vec
        for g in gs:
            fl = flags[g]
            if fl & F_ACTIVE:
                vec.nr_active -= 1
                fl |= F_WORKINGSET
            else:
                vec.nr_inactive -= 1
            flags[g] = fl & ~(F_REFERENCED | F_ACTIVE)
            self._lru_del(g)
        sc = ScanControl(None, len(gs))
        self._in_reclaim += 1  # reclaim_pages: memalloc_noreclaim_save
        try:
            reclaimed, _, keep, rotate = self._shrink_folio_list(gs, vec, sc,
                                                                 ignore_references=True)
        finally:
            self._in_reclaim -= 1
        for g in keep:
            self._lru_add(g, vec, bool(flags[g] & F_ACTIVE))
        for g in rotate:
            flags[g] &= ~F_RECLAIM
        return reclaimed

    def cold(self: MemoryModel, pid: int, first: int, last: int) -> int:
        """``madvise(MADV_COLD)`` of pages ``first..last`` (``madvise_cold_or_pageout_pte_range``
        without ``pageout``): each mapped folio's PTE young bit and ``PG_referenced`` are
        cleared, an active folio is marked workingset and deactivated (``folio_deactivate`` →
        ``lru_deactivate``: to the head of the inactive list, ``pgdeactivate``); inactive ones
        stay where they are. Nothing is reclaimed now. Returns the number deactivated."""
        gs = self._madvise_range(pid, first, last, "cold")
        proc = self._procs[pid]
        flags, vec, young = self._mv_flags, proc.vec, self._mv_young
        moved = 0
        for g in gs:
            young[g] = 0
            fl = flags[g] & ~F_REFERENCED
            if fl & F_ACTIVE:
                self._lru_del(g)
                vec.nr_active -= 1
                flags[g] = (fl | F_WORKINGSET) & ~F_ACTIVE
                self._lru_add(g, vec, False)
                moved += 1
            else:
                flags[g] = fl
        self.stats.pgdeactivate += moved
        return moved

