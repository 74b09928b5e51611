"""Compressors by kernel name: the acomp role for zswap.

``get_compressor("lz4").new_transform()`` gives a codec context of one's own; see
:mod:`pyzswap.compress._base` for the contract every algorithm honours.
"""

from __future__ import annotations

from ._base import PAGE_SIZE, ZSWAP_MAX_BATCH_SIZE, Compressor, Transform
from ._pagecodec import PageCodecCompressor
from ._registry import (
    available_compressors,
    get_compressor,
    has_compressor,
    register_compressor,
    unregister_compressor,
)
from .batching import BatchingCompressor, BatchingTransform, BatchRequest, register_batching
from .deflate import DEFLATE
from .lz4 import LZ4, LZ4HC
from .lzo import LZO, LZO_RLE
from .zstd import ZSTD

__all__ = [
    "PAGE_SIZE",
    "ZSWAP_MAX_BATCH_SIZE",
    "BatchRequest",
    "BatchingCompressor",
    "BatchingTransform",
    "Compressor",
    "PageCodecCompressor",
    "Transform",
    "available_compressors",
    "get_compressor",
    "has_compressor",
    "register_batching",
    "register_compressor",
    "unregister_compressor",
]

for _cls in (LZO, LZO_RLE, LZ4, LZ4HC, ZSTD, DEFLATE):
    register_compressor(_cls())
del _cls
