"""The Python flow's store on a native batching pool: pages streamed through the engines.

Every page of every admitted folio goes into one engine job (``NativeBatchingTransform
.compress_stream``) that streams through the pool's ``compr_batch_size`` context buffers as a
ring, so the engines compress the next pages while this thread puts the previous ones in
zsmalloc and publishes them. As in the series' ``zswap_store_pages``, a folio's entries are
published (tree, charge, LRU) one batch of ``batch_size`` pages at a time; a page that cannot
be stored fails its folio: the folio's published entries and any older entries of its slots are
erased, its other pages are dropped, and the other folios go on. ``zswpout`` counts whole
folios only. The C flow's twin is csrc/stream.c.

Deliberate difference: the context stays locked for the whole job (its buffers are the job's
ring), where the series locks it per batch; a 2 MiB folio holds it for a few ms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from ..errors import ZswapError
from ..folio import PAGE_SHIFT

if TYPE_CHECKING:
    from .._types import BytesLike
    from ..compress.native import NativeBatchingTransform
    from ..pool import ZswapPool
    from .flow import PythonFlow

__all__ = ["StoreFolio", "page_views", "pool_free", "store_stream"]


class StoreFolio:
    """One folio of a store: its pages and slots, what admission found (the object cgroup to
    charge, -1 for none; its writeback setting) and, in a stream, its progress."""

    __slots__ = ("failed", "mv", "nr", "objcg", "offset", "pending", "published", "swp_type",
                 "wb_enabled")

    def __init__(self, mv: BytesLike, nr: int, swp_type: int, offset: int) -> None:
        self.mv = mv
        self.nr = nr
        self.swp_type = swp_type
        self.offset = offset
        self.objcg = -1
        self.wb_enabled = True
        #: ``(handle, length)`` of stored pages not yet published
        self.pending: list[tuple[int, int]] = []
        #: pages published so far (they are slots offset .. offset + published - 1)
        self.published = 0
        self.failed = False


def page_views(mv: BytesLike, nr: int) -> list[BytesLike]:
    """The pages of a folio as views (no copies)."""
    if nr == 1:
        return [mv]
    view = mv if isinstance(mv, memoryview) else memoryview(mv)
    return [view[i << PAGE_SHIFT:(i + 1) << PAGE_SHIFT] for i in range(nr)]


def pool_free(pool: ZswapPool, handles: list[int]) -> None:
    """Free zsmalloc objects that never made it into the table."""
    free = pool.zs_pool.free
    for handle in handles:
        free(handle)


def store_stream(flow: PythonFlow, folios: list[StoreFolio], pool: ZswapPool) -> list[bool]:
    """Steps 4-5 of a store for admitted folios on a native batching pool (the caller holds a
    reference on it for the store); one result per folio."""
    z = flow.z
    batch = pool.compr_batch_size
    pages = [page for f in folios for page in page_views(f.mv, f.nr)]
    done = False
    try:
        with z._cpu_ctx(pool) as res:
            tfm = cast("NativeBatchingTransform", res.tfm)
            # The ring is the pool's compr_batch_size buffers (a global-max context has eight
            # whatever the pool uses; the others stay unused, as in the kernel).
            ring = res.buffers[:batch]
            job = tfm.compress_stream(pages, len(pages), ring)
            completed = False
            try:
                _stream_pages(flow, job.take, tfm.error, pages, ring, folios, pool, batch)
                completed = True
            finally:
                tfm.end_stream(job, completed)
        done = True
    finally:
        if not done:  # an error escaped: nothing of this store may stay
            for f in folios:
                if not f.failed:
                    _stream_fail(flow, f, pool)
        z.release_pools()
        if any(f.failed for f in folios) and z._state.reached_full:
            z.shrink_work_queue()
    with z._lock:  # zswpout for the folios stored whole
        for f in folios:
            if not f.failed:
                z._state.stored(f.nr, f.objcg)
    return [not f.failed for f in folios]


def _stream_pages(flow: PythonFlow, take: Callable[[int], int],
                  error: Callable[[int], ZswapError], pages: list[BytesLike],
                  ring: list[bytearray], folios: list[StoreFolio], pool: ZswapPool,
                  batch: int) -> None:
    """The per-page loop: take the engines' result for each page in order, store it in
    zsmalloc, publish the folio's entries a batch at a time; a rejected page fails its
    folio."""
    from .flow import StoreRejected

    nslots = len(ring)
    k = 0
    for f in folios:
        pending = f.pending
        for i in range(f.nr):
            code = take(k)
            page = pages[k]
            k += 1
            if f.failed:
                continue
            result: int | ZswapError = code if code > 0 else error(code)
            try:
                pending.append(flow.zs_store(page, ring[(k - 1) % nslots], result, pool,
                                             f.wb_enabled))
            except StoreRejected:
                _stream_fail(flow, f, pool)
                continue
            if len(pending) == batch or i == f.nr - 1:
                _publish_pending(flow, f, pool)


def _publish_pending(flow: PythonFlow, f: StoreFolio, pool: ZswapPool) -> None:
    """Publish one batch of a folio's pages (no zswpout: that counts the whole folio)."""
    z = flow.z
    with z._lock:
        if z._state.closed:
            raise ZswapError("this Zswap was closed during the store: nothing changed")
        z._state.publish(f.swp_type, f.offset + f.published, pool.id, f.pending, f.objcg)
    f.published += len(f.pending)
    f.pending.clear()


def _stream_fail(flow: PythonFlow, f: StoreFolio, pool: ZswapPool) -> None:
    """A folio of a stream failed: free its unpublished objects, erase its published entries
    and any older entries of its slots (a stale copy must never be written back)."""
    pool_free(pool, [handle for handle, _ in f.pending])
    f.pending.clear()
    f.failed = True
    z = flow.z
    with z._lock:
        if not z._state.closed:
            z._state.erase(f.swp_type, f.offset, f.nr)
