"""lzo: LZO1X-1 through python-lzo (liblzo2), the kernel's default zswap compressor.

liblzo2's ``lzo1x_1`` uses a 14-bit dictionary where the kernel's uses 13 bits, so sizes differ by
about 0.1-0.2% in total (docs/KERNEL_REFERENCE.md §10). python-lzo returns new bytes objects,
so compress costs one extra copy into the destination buffer; it releases the GIL while compressing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lzo as _lzo

from ..errors import CompressFail, DecompressFail
from ._base import PAGE_SIZE, Compressor, Transform, copy_out

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = ["LZO"]

_compress = _lzo.compress
_decompress = _lzo.decompress
_LzoError = _lzo.error


class _LZOTransform(Transform):
    __slots__ = ()

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        if type(src) is not bytes:  # python-lzo takes only bytes objects, not other buffers
            src = bytes(src)
        try:
            out = _compress(src, 1, False)
        except _LzoError as exc:
            raise CompressFail(f"lzo: {exc}") from None
        return copy_out("lzo", out, dst)

    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        if type(src) is not bytes:
            src = bytes(src)
        try:
            out = _decompress(src, False, len(dst) or PAGE_SIZE)
        except (_LzoError, ValueError, TypeError) as exc:
            raise DecompressFail(f"lzo: corrupt stream ({exc})") from None
        n = len(out)
        dst[:n] = out
        return n


class LZO(Compressor):
    """The kernel's ``lzo`` (LZO1X bitstream version 0, compression level 1)."""

    name = "lzo"
    description = "LZO1X-1 (liblzo2 via python-lzo)"

    def new_transform(self) -> Transform:
        return _LZOTransform()
