"""What every part of :class:`~pyzswap.zswap.Zswap` shares: its fields and the steps several
Python paths take (the Python flow, batched loads, writeback).

The per-CPU context ritual is written once here (:meth:`ZswapBase._cpu_ctx`: look up and lock
this CPU's context as the design says, use it, check hotplug did not free it meanwhile,
unlock), and so is ``zswap_decompress`` (:meth:`ZswapBase._decompress`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from .._native import CtxResources, EntryTable, Lock, ZswapState
from ..errors import DecompressFail, InvalidParameter, UseAfterFree, ZswapError
from ..folio import PAGE_SIZE
from .params import ZswapEntry

if TYPE_CHECKING:
    from ..cpu import CpuModel
    from ..lru import EntryLru
    from ..memcg import MemCgroup, ZswapShrinkCursor
    from ..pool import CompStreams, MemHook, SharedCtxs, ZswapPool
    from ..swap import SwapTable
    from .writeback import ShrinkWork

__all__ = ["ZswapBase"]

#: An item of a batched load or writeback: ``(index, entry, ...)``.
_T = TypeVar("_T", bound=tuple[Any, ...])


class ZswapBase:
    """The fields of a :class:`~pyzswap.zswap.Zswap` (set by its ``__init__``) and the shared
    steps. Entries, counters, limits and pools live in ``_state`` (the C state, the one place
    accounting happens); ``_lock`` is zswap's lock, ``_table`` the state's entry table."""

    totalram_pages: int | None
    cpus: CpuModel
    chain_size: int
    lifetime: str
    mem_hook: MemHook | None
    streams: CompStreams
    shared_ctxs: SharedCtxs | None
    _state: ZswapState
    _table: EntryTable
    _lock: Lock
    _params: dict[str, object]
    _tree_pages: dict[int, int]
    memcg_root: MemCgroup | None
    swap_table: SwapTable | None
    lru: EntryLru[ZswapEntry]
    _shrink_cursor: ZswapShrinkCursor | None
    #: how many groups the last -ENOENT of :meth:`shrink_worker_steps` stands for
    enoent_run: int
    _shrink_work: ShrinkWork
    on_writeback: Callable[[int, int], None] | None
    on_shrink_queue: Callable[[], None] | None

    # ------------------------------------------------------------------ checks --------------
    def _check_open(self) -> None:
        """A closed instance has no pool: storing or loading is an error, before any effect."""
        if self._state.closed:
            raise ZswapError("this Zswap is closed: its pools and pages are gone")

    def _check_slot(self, swp_type: int, offset: int, nr: int) -> None:
        """Raise unless ``offset..offset+nr-1`` lies inside a swapped-on type."""
        pages = self._tree_pages.get(swp_type)
        if pages is None or type(offset) is not int or offset < 0 or offset + nr > pages:
            raise self._bad_slot(swp_type, offset, nr)

    def _bad_slot(self, swp_type: object, offset: object, nr: int) -> InvalidParameter:
        pages = self._tree_pages.get(swp_type) if isinstance(swp_type, int) else None
        if pages is None:
            return InvalidParameter(f"swap type {swp_type!r} is not on (call swapon first)")
        return InvalidParameter(
            f"swap offset {offset!r}+{nr} is outside type {swp_type} (0..{pages - 1})"
        )

    def _objcg_memcg(self, objcg: int) -> MemCgroup:
        """``obj_cgroup_memcg``: the group an entry's objcg charges now (reparenting-aware)."""
        root = self.memcg_root
        if root is None:
            raise InvalidParameter("an entry has an object cgroup but zswap has no memcg root")
        return root.obj_cgroup_memcg(objcg)

    # ------------------------------------------------------------------ pools ---------------
    def release_pools(self) -> None:
        """Destroy the pools whose last reference went (``__zswap_pool_empty`` took them off
        the list): by their release work (``__zswap_pool_release``) under the hotplug lock --
        at once if it is free, else when its holder lets go. So a pool emptied by reclaim
        inside a CPU's PREPARE is destroyed after that hotplug operation (never prepared
        again after it was freed), and a store never waits for hotplug."""
        for pool in self._state.take_released():
            self.cpus.hotplug_lock.run_or_defer(pool.destroy)

    def _pool_of(self, entry: ZswapEntry) -> ZswapPool:
        """The live pool an entry was stored in; :class:`InvalidParameter` if it is gone (the
        entry was freed under the caller)."""
        pool: ZswapPool | None = self._state.pool(entry.pool_id)
        if pool is None:
            raise InvalidParameter(f"the pool of entry {entry.type}:{entry.offset} is gone")
        return pool

    # ------------------------------------------------------------------ contexts ------------
    @contextmanager
    def _cpu_ctx(self, pool: ZswapPool) -> Iterator[CtxResources]:
        """This CPU's context of ``pool``, locked, for the body to use its resources; after a
        body that returns normally, :class:`UseAfterFree` if CPU hotplug freed them meanwhile
        (the race of the designs that free at offline). Both that and a context found without
        resources are counted (``ctx_use_after_free``)."""
        freed = False
        try:
            try:
                ctx, res = pool.ctx_get_cpu_lock()
            except UseAfterFree:
                freed = True
                raise
            try:
                yield res
                freed = res.freed
                if freed:
                    pool.check_res(ctx, res)
            finally:
                ctx.mutex.release()
        finally:
            if freed:
                self._state.count("ctx_use_after_free")

    # ------------------------------------------------------------------ decompress ----------
    def _decompress(self, entry: ZswapEntry, out: memoryview) -> None:
        """``zswap_decompress``: the entry's bytes into ``out``, on this CPU's context.

        The object is read in place (no copy) unless compaction is moving objects; the
        zsmalloc migration seqcount tells if it moved meanwhile, and then it is read again
        under the zsmalloc lock. A failure counts ``decompress_fail`` and raises
        :class:`DecompressFail`; the entry is kept.
        """
        pool = self._pool_of(entry)
        zs = pool.zs_pool
        handle, length = entry.handle, entry.length
        with self._cpu_ctx(pool) as res:
            if length == PAGE_SIZE:  # stored as-is
                zs.read_into(handle, PAGE_SIZE, out)
                dlen = PAGE_SIZE
            else:
                decompress = res.tfm.decompress
                seq = zs.migrate_seq
                dlen = -1
                if not seq & 1:
                    try:
                        dlen = decompress(zs.obj_view(handle, length), out)
                    except DecompressFail:
                        dlen = -1
                if seq & 1 or zs.migrate_seq != seq:
                    try:
                        dlen = decompress(zs.read(handle, length), out)
                    except DecompressFail:
                        dlen = -1
        if dlen != PAGE_SIZE:
            self._decompress_failed(1)
            raise DecompressFail(
                f"zswap: decompressing {entry.type}:{entry.offset} with {pool.tfm_name} failed "
                f"(got {dlen} bytes); the entry is kept"
            )

    def _pool_batches(self, items: Sequence[_T]) -> Iterator[tuple[ZswapPool | None, list[_T]]]:
        """``items`` (tuples whose second element is an entry) grouped by the entry's pool, in
        chunks of the pool's batch size: what one ``decompress_batch`` call may carry (one
        item at a time for a software pool; pool None if it is gone meanwhile)."""
        groups: dict[int, list[_T]] = {}
        for item in items:
            groups.setdefault(item[1].pool_id, []).append(item)
        for pool_id, members in groups.items():
            pool: ZswapPool | None = self._state.pool(pool_id)
            step = 1 if pool is None else pool.compr_batch_size
            for start in range(0, len(members), step):
                yield pool, members[start:start + step]

    def _decompress_batch(self, pool: ZswapPool, chunk: Sequence[tuple[Any, ...]],
                          views: list[memoryview]) -> list[bool]:
        """Decompress one batch of a batching pool's entries (``chunk``: ``(index, entry,
        ...)``, ``index`` into ``views``) in one call; ok per page, each failure counted."""
        zs = pool.zs_pool
        ok = [True] * len(chunk)
        with self._cpu_ctx(pool) as res:
            srcs: list[bytes] = []
            dsts: list[memoryview] = []
            slots: list[int] = []
            for i, item in enumerate(chunk):
                k, entry = item[0], item[1]
                if entry.length == PAGE_SIZE:
                    zs.read_into(entry.handle, PAGE_SIZE, views[k])
                else:
                    srcs.append(zs.read(entry.handle, entry.length))
                    dsts.append(views[k])
                    slots.append(i)
            if srcs:
                for i, result in zip(slots, res.tfm.decompress_batch(srcs, dsts), strict=True):
                    ok[i] = result == PAGE_SIZE
        bad = ok.count(False)
        if bad:
            self._decompress_failed(bad)
        return ok

    def _decompress_failed(self, n: int) -> None:
        """``decompress_fail``: the Python flow's one report of it to the state (the C flow's
        is in csrc/flow.c); the entries are kept."""
        self._state.count("decompress_fail", n)
