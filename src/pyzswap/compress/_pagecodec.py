"""Compressors of pyzswap's codec table, whose transforms are :class:`~pyzswap._native.PageCodec`
objects (csrc/codec.c: lzo, lzo-rle, lz4, lz4hc, zstd, deflate with the kernel's parameters).

Python calls their ``compress``/``decompress`` like any transform's; the engines and the C flow
call the same C codec directly, with the GIL released and no Python call per page, so an
algorithm gives the same bytes on every path (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from .._native import PageCodec
from ._base import Compressor, Transform

__all__ = ["PageCodecCompressor", "PageCodecTransform"]


class PageCodecTransform(PageCodec, Transform):
    """One codec context (the kernel's per-CPU stream), allocated on first use and reused.

    ``compress`` raises :class:`~pyzswap.errors.CompressPoor` when the stream does not fit
    ``dst`` (the kernel's -ENOSPC); ``decompress`` raises
    :class:`~pyzswap.errors.DecompressFail` for a malformed stream.
    """

    __slots__ = ()


class PageCodecCompressor(Compressor):
    """An algorithm of the codec table, at the kernel's level: its transforms are
    ``PageCodec(name)``."""

    def new_transform(self) -> Transform:
        return PageCodecTransform(self.name)
