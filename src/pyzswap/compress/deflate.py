"""deflate with the kernel's parameters: raw deflate, window bits -11, level 6, memLevel 9.

The kernel's crypto ``deflate`` (crypto/deflate.c) emits a raw RFC 1951 stream (no zlib header,
no adler32) with a 2 KiB window (``DEFLATE_DEF_WINBITS`` = 11 passed negated) at
``Z_DEFAULT_COMPRESSION`` (level 6), resetting one stream per page (``zlib_deflateReset``).
pyzswap's codec table does the same with the system's zlib (csrc/codec.c), at memLevel 9
(docs/KERNEL_REFERENCE.md §10 has the memLevel question); its transforms are
:class:`~pyzswap._native.PageCodec` objects, so every path gives the same bytes. Python's
``zlib`` module is only the tests' cross-check of the format.
"""

from __future__ import annotations

from .._native import ALGORITHMS
from ._pagecodec import PageCodecCompressor

__all__ = ["DEFLATE", "DEFLATE_LEVEL"]

#: ``Z_DEFAULT_COMPRESSION`` (the codec table's level for deflate).
DEFLATE_LEVEL: int = ALGORITHMS["deflate"]


class DEFLATE(PageCodecCompressor):
    """The kernel's ``deflate``: raw deflate, 2 KiB window, level 6, memLevel 9."""

    name = "deflate"
    description = "raw deflate, wbits -11, level 6, memLevel 9 (zlib, C; kernel parameters)"
