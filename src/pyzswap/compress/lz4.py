"""lz4 and lz4hc through liblz4, as :class:`~pyzswap._native.PageCodec` transforms.

The transforms are C objects (csrc/codec.c): Python calls their ``compress``/``decompress``
like any transform's, and zswap's C fast paths call the codec directly, with the GIL released
and no Python call per page (docs/PERFORMANCE.md).

lz4 is ``LZ4_compress_fast`` at acceleration 1, the kernel's ``LZ4_compress_default``; lz4hc is
``LZ4_compress_HC`` at the kernel's default level 9. liblz4's lz4 streams are byte-identical to
cramjam's block compressor (the backend before; tests/compress/test_lz4.py keeps the check),
which reproduces the kernel's lz4 sizes to 0.003% on our page sets (docs/KERNEL_REFERENCE.md
§10); python-lz4 is 2-5% off. The streams carry no size prefix, like the kernel's.
"""

from __future__ import annotations

from .._native import PageCodec
from ._base import Compressor, Transform

__all__ = ["LZ4", "LZ4HC", "LZ4HC_DEFAULT_LEVEL"]

#: The kernel's LZ4HC_DEFAULT_CLEVEL.
LZ4HC_DEFAULT_LEVEL = 9


class _LZ4Transform(PageCodec, Transform):
    """One liblz4 context (its 16 KiB hash table, or lz4hc's 256 KiB tables), kept for reuse.

    ``compress`` raises :class:`~pyzswap.errors.CompressPoor` when the stream does not fit
    ``dst`` (LZ4 returns 0: the kernel's -ENOSPC); ``decompress`` raises
    :class:`~pyzswap.errors.DecompressFail` for a malformed stream.
    """

    __slots__ = ()


class LZ4(Compressor):
    """The kernel's ``lz4`` (LZ4 block format, acceleration 1)."""

    name = "lz4"
    description = "LZ4 block (liblz4), kernel-compatible sizes"

    def new_transform(self) -> Transform:
        return _LZ4Transform("lz4")


class LZ4HC(Compressor):
    """The kernel's ``lz4hc`` at its default level 9."""

    name = "lz4hc"
    description = "LZ4 high compression, level 9 (liblz4 LZ4_compress_HC)"

    def new_transform(self) -> Transform:
        return _LZ4Transform("lz4hc", LZ4HC_DEFAULT_LEVEL)
