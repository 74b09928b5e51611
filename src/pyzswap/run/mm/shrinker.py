"""Slab shrinkers (``mm/shrinker.c``): ``shrink_slab`` and ``do_shrink_slab``'s batching and
deferral, over zswap's shrinker and zsmalloc's compaction shrinker."""

# mypy: disable-error-code="misc"
# (the methods' self is the MemoryModel this class is a base of: mypy accepts a self type
# that is not a supertype of the class only for a Protocol, and reports it as "misc")
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mypy_extensions import trait

from ...memcg import MemCgroup
from ...zswap import SHRINK_STOP
from .base import DEFAULT_SEEKS, SHRINK_BATCH

if TYPE_CHECKING:
    from .model import MemoryModel


@trait
class Shrinkers:
    """The slab shrinker steps of :class:`~pyzswap.run.mm.MemoryModel`."""

    def _shrink_slab(self: MemoryModel, memcg: MemCgroup, priority: int) -> None:
        """``shrink_slab``: for a non-root memcg only the memcg-aware shrinkers run (zswap's);
        for the root every shrinker (zsmalloc's compaction, one per pool, and zswap's on the
        root list)."""
        z = self.zswap
        root = memcg.parent is None
        if z.get_param("shrinker_enabled"):
            zm = None if root else memcg
            self._do_shrink_slab(("zswap", memcg.id), lambda: z.shrinker_count(zm),
                                 lambda nr: self._zswap_scan(zm, nr), priority)
        if root:
            for pool in z.pools():
                zs = pool.zs_pool

                def compact(nr: int, zs: Any = zs) -> int:
                    return self._compact(zs)

                self._do_shrink_slab(("zsmalloc", pool.id), zs.compactable_pages, compact,
                                     priority)

    def _zswap_scan(self: MemoryModel, memcg: MemCgroup | None, nr: int) -> int:
        self.stats.shrinker_scanned += nr
        ret = self.zswap.shrinker_scan(memcg, nr)
        self._drain_wb_folios()
        return ret

    def _compact(self: MemoryModel, zs: Any) -> int:
        """``zs_shrinker_scan``: compact the whole pool."""
        if zs.destroyed:
            return SHRINK_STOP
        freed = int(zs.compact())
        self.stats.compactions += 1
        self.stats.pages_compacted += freed
        return freed if freed else SHRINK_STOP

    def _do_shrink_slab(self: MemoryModel, key: tuple[str, int], count: Callable[[], int],
                        scan: Callable[[int], int], priority: int) -> None:
        """``do_shrink_slab``: ``freeable >> priority * 4 / seeks`` plus the deferred work,
        at most twice the freeable objects, scanned in batches of 128 (or all of it when the
        total reaches the freeable count); what is not scanned is deferred."""
        freeable = count()
        if freeable <= 0:
            return
        nr = self._shrinker_deferred.pop(key, 0)
        delta = (freeable >> priority) * 4 // DEFAULT_SEEKS
        total_scan = min((nr >> priority) + delta, 2 * freeable)
        scanned = 0
        while total_scan >= SHRINK_BATCH or total_scan >= freeable:
            nr_to_scan = min(SHRINK_BATCH, total_scan)
            ret = scan(nr_to_scan)
            if ret == SHRINK_STOP:
                break
            total_scan -= nr_to_scan
            scanned += nr_to_scan
        deferred = min(max(nr + delta - scanned, 0), 2 * freeable)
        if deferred:
            self._shrinker_deferred[key] = deferred

