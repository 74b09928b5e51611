"""Compressors whose transforms are :class:`~pyzswap._native.PageCodec` objects (csrc/codec.c).

Python calls their ``compress``/``decompress`` like any transform's; zswap's C fast paths call
the codec directly, with the GIL released and no Python call per page (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from typing import ClassVar

from .._native import PageCodec
from ._base import Compressor, Transform

__all__ = ["PageCodecCompressor", "PageCodecTransform"]


class PageCodecTransform(PageCodec, Transform):
    """One codec context (the kernel's per-CPU workmem), allocated once and kept for reuse.

    ``compress`` raises :class:`~pyzswap.errors.CompressPoor` when the stream does not fit
    ``dst`` (the kernel's -ENOSPC); ``decompress`` raises
    :class:`~pyzswap.errors.DecompressFail` for a malformed stream.
    """

    __slots__ = ()


class PageCodecCompressor(Compressor):
    """An algorithm of :class:`PageCodec`: its transforms are ``PageCodec(name, level)``."""

    #: The codec's level (lz4hc's; 0 where the algorithm has none).
    level: ClassVar[int] = 0

    def new_transform(self) -> Transform:
        return PageCodecTransform(self.name, self.level)
