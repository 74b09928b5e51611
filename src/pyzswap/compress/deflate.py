"""deflate with the kernel's parameters: raw deflate, window bits -11, level 6, memLevel 9.

The kernel's crypto ``deflate`` (crypto/deflate.c) emits a raw RFC 1951 stream (no zlib header,
no adler32) with a 2 KiB window (``DEFLATE_DEF_WINBITS`` = 11 passed negated), level
``Z_DEFAULT_COMPRESSION`` (6) and ``MAX_MEM_LEVEL`` (9). Python's zlib cannot reset a stream
(``deflateReset``), so each page needs a fresh stream; building one is the dominant cost of this
codec (~100 µs/page). It is here for fidelity with the host kernel's zswap, not for speed.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from ..errors import CompressFail, DecompressFail
from ._base import PAGE_SIZE, Compressor, Transform, copy_out

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = ["DEFLATE", "DEFLATE_LEVEL", "DEFLATE_MEMLEVEL", "DEFLATE_WINBITS"]

DEFLATE_LEVEL = 6
DEFLATE_WINBITS = -11
DEFLATE_MEMLEVEL = 9


class _DeflateTransform(Transform):
    __slots__ = ()

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        try:
            stream = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, DEFLATE_WINBITS,
                                      DEFLATE_MEMLEVEL)
            out = stream.compress(src) + stream.flush()
        except zlib.error as exc:
            raise CompressFail(f"deflate: {exc}") from None
        return copy_out("deflate", out, dst)

    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        try:
            stream = zlib.decompressobj(DEFLATE_WINBITS)
            out = stream.decompress(src, len(dst) or PAGE_SIZE)
            if stream.unconsumed_tail or not stream.eof:
                raise DecompressFail("deflate: stream longer than one page or truncated")
        except zlib.error as exc:
            raise DecompressFail(f"deflate: corrupt stream ({exc})") from None
        n = len(out)
        dst[:n] = out
        return n


class DEFLATE(Compressor):
    """The kernel's ``deflate``: raw deflate, 2 KiB window, level 6, memLevel 9."""

    name = "deflate"
    description = "raw deflate, wbits -11, level 6, memLevel 9 (zlib; kernel parameters)"

    def new_transform(self) -> Transform:
        return _DeflateTransform()
