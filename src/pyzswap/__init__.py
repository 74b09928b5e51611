"""pyzswap: the Linux kernel's zswap compressed swap cache, rebuilt in Python.

The public surface is small: :class:`Zswap` (parameters, store / load / invalidate, statistics
with the kernel's names), the compressor registry, the error hierarchy and the folio helpers.
Everything else lives in modules whose names follow ``mm/zswap.c`` and ``mm/zsmalloc.c``.
"""

from __future__ import annotations

# first: it chooses the backend of the compiled modules before any of them loads
from . import _compiled  # noqa: F401
from .compress import (
    ZSWAP_MAX_BATCH_SIZE,
    Compressor,
    Transform,
    available_compressors,
    get_compressor,
    register_compressor,
)
from .errors import (
    AllocFail,
    CompressFail,
    CompressPoor,
    CorruptData,
    DecompressFail,
    EntryNotFound,
    InvalidPage,
    InvalidParameter,
    PoolLimitHit,
    SlotBusy,
    UnknownCompressor,
    ZswapDisabled,
    ZswapError,
)
from .folio import MAX_FOLIO_PAGES, PAGE_SIZE, is_folio_zero_filled, zero_page_mask
from .zswap import DEBUGFS_STATS, PARAMETERS, Zswap, ZswapEntry

__version__ = "0.1.0"

__all__ = [
    "DEBUGFS_STATS",
    "MAX_FOLIO_PAGES",
    "PAGE_SIZE",
    "PARAMETERS",
    "ZSWAP_MAX_BATCH_SIZE",
    "AllocFail",
    "CompressFail",
    "CompressPoor",
    "Compressor",
    "CorruptData",
    "DecompressFail",
    "EntryNotFound",
    "InvalidPage",
    "InvalidParameter",
    "PoolLimitHit",
    "SlotBusy",
    "Transform",
    "UnknownCompressor",
    "Zswap",
    "ZswapDisabled",
    "ZswapEntry",
    "ZswapError",
    "__version__",
    "available_compressors",
    "get_compressor",
    "is_folio_zero_filled",
    "register_compressor",
    "zero_page_mask",
]
