"""lz4 and lz4hc through liblz4, as :class:`~pyzswap._native.PageCodec` transforms.

The transforms are C objects (csrc/codec.c): Python calls their ``compress``/``decompress``
like any transform's, and zswap's C flow calls the codec directly, with the GIL released
and no Python call per page (docs/PERFORMANCE.md).

lz4 is ``LZ4_compress_fast`` at acceleration 1, the kernel's ``LZ4_compress_default``; lz4hc is
``LZ4_compress_HC`` at the kernel's default level 9. liblz4's lz4 streams are byte-identical to
cramjam's block compressor (the backend before; tests/compress/test_lz4.py keeps the check),
which reproduces the kernel's lz4 sizes to 0.003% on our page sets (docs/KERNEL_REFERENCE.md
§10); python-lz4 is 2-5% off. The streams carry no size prefix, like the kernel's.
"""

from __future__ import annotations

from .._native import ALGORITHMS
from ._pagecodec import PageCodecCompressor

__all__ = ["LZ4", "LZ4HC", "LZ4HC_DEFAULT_LEVEL"]

#: The kernel's LZ4HC_DEFAULT_CLEVEL (9), from the codec table.
LZ4HC_DEFAULT_LEVEL: int = ALGORITHMS["lz4hc"]


class LZ4(PageCodecCompressor):
    """The kernel's ``lz4`` (LZ4 block format, acceleration 1): a 16 KiB hash table per context."""

    name = "lz4"
    description = "LZ4 block (liblz4), kernel-compatible sizes"


class LZ4HC(PageCodecCompressor):
    """The kernel's ``lz4hc`` at its default level 9: 256 KiB of chain tables per context."""

    name = "lz4hc"
    description = "LZ4 high compression, level 9 (liblz4 LZ4_compress_HC)"
