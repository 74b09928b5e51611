"""Store a page set through a fresh zswap, load it back, verify every byte.

This is the job behind ``pyzswap store PAGEFILE`` (and, until the memory-pressure harness
exists, ``pyzswap run``). It plays the swap core around zswap the way Linux 6.18 does: a folio
that is entirely zero goes to the swap device's zero bitmap and never reaches zswap; every other
folio is offered to :meth:`Zswap.store`. Pages are stored in file order at consecutive swap
offsets of one swap type, then loaded back one page at a time (``zswap_load`` refuses large
folios), and the result is compared with the input in one vectorised pass.

Timings cover only the zswap calls: reading the file, the zero scan (reported on its own) and
the verification are outside ``store_seconds`` and ``load_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidParameter
from ..folio import MAX_FOLIO_PAGES, PAGE_SHIFT, PAGE_SIZE, zero_page_mask
from ..zswap import Zswap

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = ["StoreCheckReport", "store_check"]

#: Progress callback: (phase, pages done, pages total).
Progress = Callable[[str, int, int], None]

_SWAP_TYPE = 0
_PROGRESS_STEP = 4096


@dataclass
class StoreCheckReport:
    """What storing and loading a page set did; field names follow the kernel's statistics."""

    compressor: str
    folio_pages: int
    pages: int
    zero_pages: int
    stored_pages: int
    stored_incompressible_pages: int
    rejected_pages: int
    compressed_bytes: int
    pool_total_size: int
    store_seconds: float
    load_seconds: float
    zero_scan_seconds: float
    verified: bool
    mismatched_pages: int
    stats: dict[str, int] = field(default_factory=dict)
    vmstat: dict[str, int] = field(default_factory=dict)

    @property
    def original_bytes(self) -> int:
        return self.pages * PAGE_SIZE

    @property
    def compression_ratio(self) -> float:
        """Uncompressed bytes of the stored pages over their compressed bytes."""
        if not self.compressed_bytes:
            return 0.0
        return self.stored_pages * PAGE_SIZE / self.compressed_bytes

    @property
    def pool_ratio(self) -> float:
        """Uncompressed bytes of the stored pages over the pool's real memory (zsmalloc)."""
        if not self.pool_total_size:
            return 0.0
        return self.stored_pages * PAGE_SIZE / self.pool_total_size

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["original_bytes"] = self.original_bytes
        data["compression_ratio"] = round(self.compression_ratio, 4)
        data["pool_ratio"] = round(self.pool_ratio, 4)
        data["store_us_per_page"] = _per_page_us(self.store_seconds, self.stored_pages)
        data["load_us_per_page"] = _per_page_us(self.load_seconds, self.stored_pages)
        return data


def _per_page_us(seconds: float, pages: int) -> float:
    return round(seconds * 1e6 / pages, 3) if pages else 0.0


def store_check(
    data: BytesLike,
    *,
    compressor: str = "lzo",
    folio_pages: int = 1,
    progress: Progress | None = None,
) -> StoreCheckReport:
    """Store ``data`` (whole 4 KiB pages) into a fresh, unlimited zswap and load it back."""
    src = memoryview(data).cast("B")
    if src.nbytes % PAGE_SIZE:
        raise InvalidParameter(f"{src.nbytes} bytes is not a whole number of 4096-byte pages")
    if not isinstance(folio_pages, int) or not 1 <= folio_pages <= MAX_FOLIO_PAGES:
        raise InvalidParameter(f"folio pages must be 1..{MAX_FOLIO_PAGES}, got {folio_pages!r}")
    nr_pages = src.nbytes >> PAGE_SHIFT
    zswap = Zswap(compressor=compressor, totalram_pages=None)
    zswap.swapon(_SWAP_TYPE, max(nr_pages, 1))

    # The swap core's zero check, once for the whole set (numpy), outside the zswap timings.
    t0 = time.perf_counter()
    zero = zero_page_mask(src) if nr_pages else np.zeros(0, dtype=bool)
    starts = range(0, nr_pages, folio_pages)
    folio_zero = [bool(zero[s:s + folio_pages].all()) for s in starts]
    zero_scan_seconds = time.perf_counter() - t0

    stored_mask = np.zeros(nr_pages, dtype=bool)
    store = zswap.store
    t_store = 0.0
    done = 0
    for chunk_start in range(0, len(folio_zero), max(1, _PROGRESS_STEP // folio_pages)):
        chunk = range(chunk_start, min(len(folio_zero), chunk_start +
                                       max(1, _PROGRESS_STEP // folio_pages)))
        t0 = time.perf_counter()
        for f in chunk:
            if folio_zero[f]:
                continue
            first = f * folio_pages
            last = min(first + folio_pages, nr_pages)
            if store(src[first << PAGE_SHIFT:last << PAGE_SHIFT], _SWAP_TYPE, first):
                stored_mask[first:last] = True
        t_store += time.perf_counter() - t0
        done = min(nr_pages, chunk.stop * folio_pages)
        if progress is not None:
            progress("store", done, nr_pages)

    stats_after_store = zswap.stats()
    compressed = zswap.compressed_bytes()

    out = bytearray(src.nbytes)
    view = memoryview(out)
    load = zswap.load
    stored_offsets = np.flatnonzero(stored_mask).tolist()
    t_load = 0.0
    for chunk_start in range(0, len(stored_offsets), _PROGRESS_STEP):
        chunk_offsets = stored_offsets[chunk_start:chunk_start + _PROGRESS_STEP]
        t0 = time.perf_counter()
        for off in chunk_offsets:
            load(view[off << PAGE_SHIFT:(off + 1) << PAGE_SHIFT], _SWAP_TYPE, off)
        t_load += time.perf_counter() - t0
        if progress is not None:
            progress("load", chunk_start + len(chunk_offsets), len(stored_offsets))

    # Pages zswap refused would have gone to the swap device; copy them back as that device
    # would, so the comparison covers every page (they are counted as rejected).
    rejected = (~stored_mask) & (~zero)
    for off in np.flatnonzero(rejected).tolist():
        view[off << PAGE_SHIFT:(off + 1) << PAGE_SHIFT] = src[off << PAGE_SHIFT:(off + 1) <<
                                                                PAGE_SHIFT]
    mismatched = _count_mismatches(src, view, nr_pages)
    return StoreCheckReport(
        compressor=compressor,
        folio_pages=folio_pages,
        pages=nr_pages,
        zero_pages=int(zero.sum()),
        stored_pages=stats_after_store["stored_pages"],
        stored_incompressible_pages=stats_after_store["stored_incompressible_pages"],
        rejected_pages=int(rejected.sum()),
        compressed_bytes=compressed,
        pool_total_size=stats_after_store["pool_total_size"],
        store_seconds=t_store,
        load_seconds=t_load,
        zero_scan_seconds=zero_scan_seconds,
        verified=mismatched == 0 and zswap.stats()["stored_pages"] == 0,
        mismatched_pages=mismatched,
        stats=stats_after_store,
        vmstat=zswap.vmstat(),
    )


def _count_mismatches(a: memoryview, b: memoryview, nr_pages: int) -> int:
    if not nr_pages:
        return 0
    left = np.frombuffer(a, dtype=np.uint64).reshape(nr_pages, -1)
    right = np.frombuffer(b, dtype=np.uint64).reshape(nr_pages, -1)
    return int((left != right).any(axis=1).sum())
