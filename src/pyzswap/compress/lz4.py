"""lz4 through cramjam's lz4 *block* API; lz4hc through liblz4 (see _LZ4HCTransform).

cramjam's block compressor reproduces the kernel's lz4 output sizes to 0.003% on our page sets
(ZSWAP_FACTS §12), where python-lz4 is 2-5% off, so it is the backend. Both calls write straight
into the caller's buffer and release the GIL. The streams carry no size prefix (``store_size`` is
off), like the kernel's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cramjam

from .._native import lz4hc_compress_into as _lz4hc_compress_into
from ..errors import CompressFail, CompressPoor, DecompressFail
from ._base import Compressor, Transform

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = ["LZ4", "LZ4HC", "LZ4HC_DEFAULT_LEVEL"]

#: The kernel's LZ4HC_DEFAULT_CLEVEL.
LZ4HC_DEFAULT_LEVEL = 9

_compress_into = cramjam.lz4.compress_block_into
_decompress_into = cramjam.lz4.decompress_block_into
_CompressionError = cramjam.CompressionError
_DecompressionError = cramjam.DecompressionError


class _LZ4Transform(Transform):
    """Stateless apart from the codec's own stack state: cramjam allocates none per call."""

    __slots__ = ()

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        try:
            return int(_compress_into(src, output=dst, store_size=False))
        except _CompressionError:
            # LZ4_compress_default returns 0 when the output does not fit: the kernel's -ENOSPC.
            raise CompressPoor("lz4: output does not fit the destination buffer") from None

    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        try:
            return int(_decompress_into(src, dst))
        except (_DecompressionError, ValueError) as exc:
            raise DecompressFail(f"lz4: corrupt stream ({exc})") from None


class _LZ4HCTransform(_LZ4Transform):
    """lz4hc through liblz4's ``LZ4_compress_HC`` (the C extension; the GIL is released).

    Not cramjam: its block compressor ignores ``mode="high_compression"`` and returns the
    plain lz4 stream (measured: byte-identical to ``lz4`` on the whole ``real`` page set), so
    "lz4hc" would have been lz4 under another name, ~13% larger than the kernel's lz4hc.
    Decompression is plain LZ4 (the same block format).
    """

    __slots__ = ("_level",)

    def __init__(self, level: int) -> None:
        self._level = level

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        try:
            n = _lz4hc_compress_into(src, dst, self._level)
        except ValueError as exc:
            raise CompressFail(str(exc)) from None
        if n < 0:
            raise CompressPoor("lz4hc: output does not fit the destination buffer")
        return n


class LZ4(Compressor):
    """The kernel's ``lz4`` (LZ4 block format, acceleration 1)."""

    name = "lz4"
    description = "LZ4 block (cramjam), kernel-compatible sizes"

    def new_transform(self) -> Transform:
        return _LZ4Transform()


class LZ4HC(Compressor):
    """The kernel's ``lz4hc`` at its default level 9."""

    name = "lz4hc"
    description = "LZ4 high compression, level 9 (liblz4 LZ4_compress_HC)"

    def new_transform(self) -> Transform:
        return _LZ4HCTransform(LZ4HC_DEFAULT_LEVEL)
