"""The Python flow: zswap's store, load and reclaim-batch store, written to be read.

This is the reference (docs/KERNEL_REFERENCE.md §4). The C flow (``pyzswap._native.NativeFlow``,
csrc/flow.c) takes the same steps in the same order over the same state, and the differential
tests compare every result, counter, entry and byte of the two; ``Zswap(flow=...)`` chooses.

* :meth:`PythonFlow.store` — ``zswap_store``: check the folio and its slots; enabled, the
  memcg's ``zswap.max`` and the global limit; take the current pool (a reference for the
  store); compress each page on this CPU's context (incompressible pages are stored as-is,
  6.18) and put it in zsmalloc (``zswap_compress``); publish the entries
  (``zswap_store_page``). A folio is all-or-nothing: on any failure every entry for the
  folio's slots is erased, so a stale copy can never be written back over newer data.
* :meth:`PythonFlow.load` — ``zswap_load``: find the entry, decompress into the caller's page,
  and (when the folio is in the swap cache, the default) erase and free the entry.
* :meth:`PythonFlow.store_batch` — reclaim's batch of folios: each checked and admitted, then
  stored together (a batching compressor compresses pages of every folio in one call).

Every change of entries, counters and pools is an operation of the state
(``ZswapState.publish``, ``erase``, ``loaded``, ``count``, ``check_limits``, ...), under
zswap's lock; nothing here bumps a counter itself.

One slot, one operation (docs/RELIABILITY.md): the kernel calls ``zswap_store`` and
``zswap_load`` with the swap-cache folio of the entry locked, so operations on one swap entry
never overlap. Here store and load mark their slots busy in the entry table
(``EntryTable.slots_begin`` / ``slots_end``) from their first look at a slot to their last
change of it; a store, load or invalidate of a busy slot raises :class:`SlotBusy` and changes
nothing. A store or load that raced :meth:`Zswap.close` finds out under ``Zswap._lock``
before it publishes or erases anything, and raises :class:`ZswapError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from .._native import ZSWAP_MAX_BATCH_SIZE
from ..errors import (
    AllocFail,
    CompressFail,
    CompressPoor,
    InvalidPage,
    InvalidParameter,
    SlotBusy,
    UseAfterFree,
    ZswapError,
)
from ..folio import MAX_FOLIO_PAGES, PAGE_SHIFT, PAGE_SIZE
from ..memcg import MemCgroup
from .stream import StoreFolio, page_views, pool_free, store_stream

if TYPE_CHECKING:
    from .._types import BytesLike
    from ..pool import ZswapPool
    from .core import Zswap

__all__ = ["PythonFlow", "StoreRejected", "compress_one"]


class StoreRejected(Exception):
    """A page of the folio could not be stored (its counter is already bumped)."""


def _view(obj: object, what: str) -> memoryview:
    """``memoryview(obj)``, or :class:`InvalidPage` for something that is not a buffer."""
    try:
        return memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidPage(f"{what} must be a bytes-like object, not "
                          f"{type(obj).__name__}") from None


class PythonFlow:
    """zswap's store and load flows in Python, over one :class:`~pyzswap.zswap.Zswap`."""

    __slots__ = ("z",)

    def __init__(self, zswap: Zswap) -> None:
        self.z = zswap

    # ------------------------------------------------------------------ store ---------------
    def store(self, folio: BytesLike, swp_type: int, offset: int,
              memcg: MemCgroup | None = None) -> bool:
        """``zswap_store`` (see :meth:`pyzswap.zswap.Zswap.store`)."""
        z = self.z
        z._check_open()
        # 1. The folio (1..512 whole pages) and its slots, marked busy until the store is done
        #    (the kernel holds the folio lock).
        mv, nr = self._check_folio(folio, swp_type, offset)
        z._table.slots_begin(swp_type, offset, nr)
        try:
            # 2. Enabled? The cgroup's zswap.max? The global limit?
            f = StoreFolio(mv, nr, swp_type, offset)
            if not self._admit(memcg, f):
                self.store_failed(swp_type, offset, nr)
                return False
            # 3-5. The current pool, compress and allocate every page, publish.
            return self._store_admitted([f])[0]
        except (InvalidParameter, UseAfterFree) as exc:
            self._raise_if_closed(exc, "store")
            raise
        finally:
            z._table.slots_end(swp_type, offset, nr)

    def _raise_if_closed(self, exc: BaseException, what: str) -> None:
        """An operation that failed because :meth:`Zswap.close` destroyed its pool meanwhile
        (a destroyed zsmalloc, freed contexts) says so."""
        if self.z._state.closed:
            raise ZswapError(f"this Zswap was closed during the {what}: nothing changed") \
                from exc

    def store_batch(self, folios: Sequence[tuple[BytesLike, int, int]],
                    memcg: MemCgroup | None = None) -> list[bool]:
        """Reclaim's batch (see :meth:`pyzswap.zswap.Zswap.store_batch`)."""
        z = self.z
        z._check_open()
        pools = z._state.pools()
        if not pools:
            raise ZswapError("this Zswap is closed: its pools and pages are gone")
        if pools[0].compr_batch_size == 1:
            return [self.store(folio, t, off, memcg) for folio, t, off in folios]
        todo = [StoreFolio(*self._check_folio(folio, t, off), t, off)
                for folio, t, off in folios]
        ranges = [(f.swp_type, f.offset, f.nr) for f in todo]
        self._slots_begin_all(ranges)
        try:
            results = [False] * len(todo)
            admitted: list[int] = []
            for k, f in enumerate(todo):
                if self._admit(memcg, f):
                    admitted.append(k)
                else:
                    self.store_failed(f.swp_type, f.offset, f.nr)
            if admitted:
                done = self._store_admitted([todo[k] for k in admitted])
                for k, ok in zip(admitted, done, strict=True):
                    results[k] = ok
            return results
        except (InvalidParameter, UseAfterFree) as exc:
            self._raise_if_closed(exc, "store")
            raise
        finally:
            self._slots_end_all(ranges)

    def _slots_begin_all(self, ranges: Sequence[tuple[int, int, int]]) -> None:
        """Mark every ``(type, offset, nr)`` range busy, or none (:class:`SlotBusy`; a batch
        that names a slot twice is :class:`InvalidParameter`)."""
        begin = self.z._table.slots_begin
        done: list[tuple[int, int, int]] = []
        try:
            for r in ranges:
                try:
                    begin(*r)
                except SlotBusy:
                    t, off, nr = r
                    if any(t == t2 and off < off2 + nr2 and off2 < off + nr
                           for t2, off2, nr2 in done):
                        raise InvalidParameter(f"a batch names swap slot {t}:{off} twice") \
                            from None
                    raise
                done.append(r)
        except BaseException:
            self._slots_end_all(done)
            raise

    def _slots_end_all(self, ranges: Sequence[tuple[int, int, int]]) -> None:
        end = self.z._table.slots_end
        for r in ranges:
            end(*r)

    def _check_folio(self, folio: BytesLike, swp_type: int,
                     offset: int) -> tuple[BytesLike, int]:
        """A folio of 1..512 whole pages at slots inside a swapped-on type; else raise."""
        mv: BytesLike
        if type(folio) is bytes and len(folio) == PAGE_SIZE:
            mv, nr = folio, 1  # the common 4 KiB page: no view needed
        else:
            mv = folio if type(folio) is memoryview else _view(folio, "a folio")
            try:
                size = mv.nbytes
            except ValueError:
                raise InvalidPage("a folio's buffer was released") from None
            nr = size >> PAGE_SHIFT
            if size & (PAGE_SIZE - 1) or not 0 < nr <= MAX_FOLIO_PAGES:
                raise InvalidPage(
                    f"a folio must be 1..{MAX_FOLIO_PAGES} whole {PAGE_SIZE}-byte pages, "
                    f"got {size} bytes"
                )
            if not mv.c_contiguous:
                raise InvalidPage("a folio must be one contiguous buffer, got a strided view")
            if mv.itemsize != 1 or mv.ndim != 1:
                mv = mv.cast("B")
        self.z._check_slot(swp_type, offset, nr)
        return mv, nr

    def _admit(self, memcg: MemCgroup | None, f: StoreFolio) -> bool:
        """Steps before compression: enabled, the cgroup's ``zswap.max`` (writing back the
        group's own entries to make room: ``shrink_memcg``) and writeback setting, the global
        limit (``zswap_check_limits``). Sets ``f``'s object cgroup and writeback flag."""
        z = self.z
        if memcg is not None and not isinstance(memcg, MemCgroup):
            raise InvalidParameter(f"memcg must be a MemCgroup or None, not "
                                   f"{type(memcg).__name__}")
        if not z._state.enabled:
            return False
        if memcg is not None:
            charged, may, f.wb_enabled = memcg.zswap_store_target()
            f.objcg = charged.id
            if not may and z.shrink_memcg(charged):
                return False
        return not z._state.check_limits()

    def store_failed(self, swp_type: int, offset: int, nr: int) -> None:
        """The failure path: erase every entry of the folio's slots (a stale copy must never
        be written back), release emptied pools, and if the pool is full queue the shrink
        worker to write back down to the threshold."""
        z = self.z
        with z._lock:
            if not z._state.closed:
                z._state.erase(swp_type, offset, nr)
        z.release_pools()
        if z._state.reached_full:
            z.shrink_work_queue()

    def _store_admitted(self, folios: list[StoreFolio]) -> list[bool]:
        """Steps 3-5 for admitted folios: the current pool with a reference for the store
        (``zswap_pool_current_get``), each folio stored (streamed through a native batching
        pool's engines, batched on a batching compressor), the reference dropped."""
        z = self.z
        with z._lock:
            pool: ZswapPool | None = z._state.current_get(1)
        if pool is None:
            raise ZswapError("this Zswap is closed: its pools and pages are gone")
        try:
            if pool.streams and (len(folios) > 1 or folios[0].nr > 1):
                return store_stream(self, folios, pool)
            if pool.compr_batch_size > 1 and len(folios) > 1:
                return self._store_batched(folios, pool)
            return [self._store_folio(f, pool) for f in folios]
        finally:
            with z._lock:
                if not z._state.closed:
                    z._state.pool_put(pool, 1)
            z.release_pools()

    def _store_folio(self, f: StoreFolio, pool: ZswapPool) -> bool:
        """Steps 4-5 for one folio: compress and allocate every page (all or nothing), then
        publish; on failure the folio is undone whole."""
        try:
            stored = self._compress_pages(page_views(f.mv, f.nr), pool, f.wb_enabled,
                                          all_or_nothing=True)
        except BaseException:
            self.store_failed(f.swp_type, f.offset, f.nr)
            raise
        if stored is None:
            self.store_failed(f.swp_type, f.offset, f.nr)
            return False
        self.publish(f, cast(list[tuple[int, int]], stored), pool)
        return True

    def _store_batched(self, folios: list[StoreFolio], pool: ZswapPool) -> list[bool]:
        """A reclaim batch on a batching compressor: the pages of every folio compressed
        together, batch_size pages per call; then each folio published whole or undone."""
        pages: list[BytesLike] = []
        for f in folios:
            pages.extend(page_views(f.mv, f.nr))
        wb_enabled = all(f.wb_enabled for f in folios)
        try:
            stored = self._compress_pages(pages, pool, wb_enabled, all_or_nothing=False) or []
        except BaseException:
            for f in folios:
                self.store_failed(f.swp_type, f.offset, f.nr)
            raise
        results: list[bool] = []
        i = 0
        for f in folios:
            mine = stored[i:i + f.nr]
            i += f.nr
            if all(item is not None for item in mine):
                self.publish(f, cast(list[tuple[int, int]], mine), pool)
                results.append(True)
            else:
                pool_free(pool, [item[0] for item in mine if item is not None])
                self.store_failed(f.swp_type, f.offset, f.nr)
                results.append(False)
        return results

    def _compress_pages(self, pages: Sequence[BytesLike], pool: ZswapPool, wb_enabled: bool,
                        *, all_or_nothing: bool) -> list[tuple[int, int] | None] | None:
        """``zswap_compress`` for each page, on this CPU's context, batch by batch.

        A batch is the pool's batch size for a batching compressor (one ``compress_batch``
        call, pages compressed in parallel) and ZSWAP_MAX_BATCH_SIZE pages otherwise
        (compressed one by one). The context is locked per batch, so loads on this CPU are not
        starved behind a 2 MiB folio (the series' v8/v13 choice), and a thread that migrates
        between batches takes its new CPU's context for the next one. ``all_or_nothing``: a
        rejected page undoes every page and returns None; otherwise a rejected page is None
        in the result and the others stay. Objects made are freed if anything raises.
        """
        batch_size = pool.compr_batch_size
        step = batch_size if batch_size > 1 else ZSWAP_MAX_BATCH_SIZE
        out: list[tuple[int, int] | None] = []
        try:
            for start in range(0, len(pages), step):
                chunk = pages[start:start + step]
                with self.z._cpu_ctx(pool) as res:
                    batched = batch_size > 1 and len(chunk) > 1
                    results = (res.tfm.compress_batch(chunk, res.buffers[:len(chunk)])
                               if batched else None)
                    for k, page in enumerate(chunk):
                        if results is not None:
                            buf, result = res.buffers[k], results[k]
                        else:
                            buf = res.buffers[0]
                            result = compress_one(res.tfm, page, buf)
                        try:
                            out.append(self.zs_store(page, buf, result, pool, wb_enabled))
                        except StoreRejected:
                            if all_or_nothing:
                                raise
                            out.append(None)
        except StoreRejected:
            pool_free(pool, [item[0] for item in out if item is not None])
            return None
        except BaseException:
            pool_free(pool, [item[0] for item in out if item is not None])
            raise
        return out

    def zs_store(self, page: BytesLike, buf: bytearray, result: int | ZswapError,
                 pool: ZswapPool, wb_enabled: bool) -> tuple[int, int]:
        """The rest of ``zswap_compress`` for one page: ``(handle, length)`` in zsmalloc.

        6.18: a page that does not compress below PAGE_SIZE is stored as-is (so it keeps its LRU
        position for writeback), unless its cgroup has writeback disabled: then it is rejected,
        -ENOSPC counting as ``reject_compress_poor`` and any other failure as
        ``reject_compress_fail``, as the kernel counts them.
        """
        src: BytesLike = buf
        dlen = result if type(result) is int else 0
        if 0 < dlen < PAGE_SIZE or wb_enabled:
            if not 0 < dlen < PAGE_SIZE:
                src, dlen = page, PAGE_SIZE  # stored as-is
            try:
                return pool.zs_pool.malloc_write(src, dlen), dlen
            except CompressPoor:
                reject = "reject_compress_poor"
            except (AllocFail, MemoryError):
                reject = "reject_alloc_fail"
        else:  # an error, or -EINVAL: no gain
            reject = ("reject_compress_poor" if isinstance(result, CompressPoor)
                      else "reject_compress_fail")
        self.z._state.count(reject)  # zswap_compress's one accounting site of a rejection
        raise StoreRejected

    def publish(self, f: StoreFolio, stored: list[tuple[int, int]], pool: ZswapPool) -> None:
        """``zswap_store_page``'s tail for the whole folio: the entries in the tree and at
        their LRU tail (referenced: second chance), an older entry of a slot freed, the pool
        and memcg charged; then ``zswpout`` for the folio. If the instance was closed while
        the folio compressed, nothing is published and :class:`ZswapError` says so."""
        z = self.z
        with z._lock:
            if z._state.closed:
                pool_free(pool, [h for h, _ in stored])
                raise ZswapError("this Zswap was closed during the store: nothing changed")
            z._state.publish(f.swp_type, f.offset, pool.id, stored, f.objcg)
            z._state.stored(f.nr, f.objcg)

    # ------------------------------------------------------------------ load ----------------
    def load(self, out: bytearray | memoryview, swp_type: int, offset: int, *,
             swapcache: bool = True) -> bool:
        """``zswap_load`` (see :meth:`pyzswap.zswap.Zswap.load`)."""
        z = self.z
        mv = out if type(out) is memoryview else _view(out, "the output page")
        if mv.nbytes != PAGE_SIZE or mv.readonly:
            raise InvalidPage(
                f"zswap loads one writable {PAGE_SIZE}-byte page at a time (large folios are "
                f"refused, as in the kernel), got {mv.nbytes} bytes"
                + (" read-only" if mv.readonly else "")
            )
        z._check_open()
        z._check_slot(swp_type, offset, 1)
        table = z._table
        table.slots_begin(swp_type, offset, 1)  # the folio lock's part: see the module
        try:
            entry = table.get(swp_type, offset)
            if entry is None:
                return False
            z._decompress(entry, mv)
            with z._lock:
                if z._state.closed:
                    raise ZswapError("this Zswap was closed during the load: nothing changed")
                # zswpin; the folio is in the swap cache: erase the entry and free it
                z._state.loaded(entry, swapcache)
        except (InvalidParameter, UseAfterFree) as exc:
            self._raise_if_closed(exc, "load")
            raise
        finally:
            table.slots_end(swp_type, offset, 1)
        z.release_pools()
        return True


def compress_one(tfm: object, page: BytesLike, buf: bytearray) -> int | ZswapError:
    """One page through a transform: its length, or the codec's refusal (CompressPoor, the
    kernel's -ENOSPC, or CompressFail) as a value."""
    try:
        return cast(int, tfm.compress(page, buf))  # type: ignore[attr-defined]
    except (CompressPoor, CompressFail) as exc:
        return exc

