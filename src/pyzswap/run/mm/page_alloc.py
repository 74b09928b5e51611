"""The page allocator's side of memory pressure (``mm/page_alloc.c``): the zone's watermarks
from ``vm.min_free_kbytes``, free pages, and what an allocation below a watermark does (wake
kswapd, reclaim directly)."""

# mypy: disable-error-code="misc"
# (the methods' self is the MemoryModel this class is a base of: mypy accepts a self type
# that is not a supertype of the class only for a Protocol, and reports it as "misc")
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mypy_extensions import trait

from ...errors import InvalidParameter
from ...folio import PAGE_SHIFT, PAGE_SIZE
from .base import MAX_RECLAIM_RETRIES

if TYPE_CHECKING:
    from .model import MemoryModel



def default_min_free_kbytes(ram_pages: int) -> int:
    """``calculate_min_free_kbytes``: ``int_sqrt(lowmem_kbytes * 16)`` within 128..262144."""
    kbytes = ram_pages * (PAGE_SIZE // 1024)
    return max(128, min(262144, math.isqrt(kbytes * 16)))


def watermarks(ram_pages: int, min_free_kbytes: int,
               watermark_scale_factor: int = 10) -> tuple[int, int, int]:
    """``__setup_per_zone_wmarks`` for one zone of ``ram_pages``: (min, low, high) in pages.
    min = min_free_kbytes in pages; low and high add ``max(min / 4, managed *
    watermark_scale_factor / 10000)`` once and twice."""
    wmin = min_free_kbytes >> (PAGE_SHIFT - 10)
    tmp = max(wmin >> 2, ram_pages * watermark_scale_factor // 10000)
    return wmin, wmin + tmp, wmin + 2 * tmp


@trait
class PageAlloc:
    """The allocator steps of :class:`~pyzswap.run.mm.MemoryModel`."""

    def _alloc_page(self: MemoryModel) -> None:
        """The page allocator for one page (``get_page_from_freelist`` / the slow path): below
        the low watermark kswapd is woken; below min the allocating task reclaims directly
        (``try_to_free_pages``), retrying while it makes progress."""
        if self.resident_pages + self.pgtable_pages < self._no_pressure_below:
            return  # even a full zswap pool leaves RAM above the low watermark
        free = self.free_pages()
        if free - 1 > self.wmark_low:
            return
        self._wakeup_kswapd()
        if free - 1 > self.wmark_min:
            return
        if self._in_reclaim:
            return  # PF_MEMALLOC: reclaim's own allocations dip into the reserves
        retries = MAX_RECLAIM_RETRIES
        while self.free_pages() - 1 <= self.wmark_min:
            self.stats.allocstall += 1
            got = self.try_to_free_pages()
            if not got:
                retries -= 1
                if retries <= 0:
                    self.stats.global_oom += 1
                    return

    def free_pages(self: MemoryModel) -> int:
        """Free RAM in pages: RAM minus folios, page tables and zswap's pool."""
        return self.ram_pages - self.resident_pages - self.pgtable_pages - \
            self.zswap.total_pages()

    def set_min_free_kbytes(self: MemoryModel, kbytes: int) -> None:
        """Write ``vm.min_free_kbytes`` (``min_free_kbytes_sysctl_handler`` →
        ``setup_per_zone_wmarks``): the zone's min, low and high watermarks follow at once;
        kswapd and direct reclaim act on the next allocation."""
        if isinstance(kbytes, bool) or not isinstance(kbytes, int) or kbytes < 0:
            raise InvalidParameter(f"min_free_kbytes must be a non-negative integer, got "
                                   f"{kbytes!r}")
        self.min_free_kbytes = kbytes
        self.wmark_min, self.wmark_low, self.wmark_high = watermarks(self.ram_pages, kbytes)
        max_pool = self.zswap.max_pages()
        #: Below this many resident and page-table pages no allocation can reach the low
        #: watermark, whatever zswap's pool holds (its limit, plus one zspage of slack).
        self._no_pressure_below = (self.ram_pages - self.wmark_low - 1 - (max_pool + 8)
                                   if max_pool is not None else -1)

