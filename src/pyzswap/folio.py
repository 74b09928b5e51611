"""Folios: contiguous buffers of whole 4 KiB pages, checked and inspected per batch.

A folio is any bytes-like object of ``n * PAGE_SIZE`` bytes with 1 <= n <= MAX_FOLIO_PAGES
(4 KiB up to a 2 MiB PMD folio). Nothing here copies page data: checks work on the buffer's
length, and zero detection looks at the whole folio at once through numpy (one vectorised pass
instead of a Python loop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ._native import MAX_FOLIO_PAGES, PAGE_SHIFT, PAGE_SIZE, zero_filled
from .errors import InvalidPage

if TYPE_CHECKING:
    from ._types import BytesLike

__all__ = [
    "MAX_FOLIO_PAGES",
    "PAGE_SHIFT",
    "PAGE_SIZE",
    "folio_nr_pages",
    "is_folio_zero_filled",
    "zero_page_mask",
]

# PAGE_SHIFT, PAGE_SIZE and MAX_FOLIO_PAGES (a PMD-sized 2 MiB folio, the largest zswap
# handles) are defined once, in csrc/consts.h; the leaves import them from here.


def folio_nr_pages(folio: BytesLike) -> int:
    """Number of pages in ``folio``; :class:`InvalidPage` unless it is 1..512 whole pages."""
    size = memoryview(folio).nbytes
    nr, rem = divmod(size, PAGE_SIZE)
    if rem or not 1 <= nr <= MAX_FOLIO_PAGES:
        raise InvalidPage(
            f"a folio must be 1..{MAX_FOLIO_PAGES} whole {PAGE_SIZE}-byte pages, got {size} bytes"
        )
    return nr


def zero_page_mask(data: BytesLike) -> npt.NDArray[np.bool_]:
    """One bool per page of ``data``: True where the page is all zero bytes (vectorised)."""
    size = memoryview(data).nbytes
    if size % PAGE_SIZE:
        raise InvalidPage(f"{size} bytes is not a whole number of {PAGE_SIZE}-byte pages")
    words = np.frombuffer(data, dtype=np.uint64).reshape(-1, PAGE_SIZE // 8)
    mask: npt.NDArray[np.bool_] = np.asarray(~words.any(axis=1), dtype=np.bool_)
    return mask


def is_folio_zero_filled(folio: BytesLike) -> bool:
    """True if every byte of the folio is zero (the swap core's ``is_folio_zero_filled``)."""
    return zero_filled(folio)
