"""zstd as the kernel's crypto ``zstd`` makes it: libzstd at level 3, in C (csrc/codec.c).

The kernel's crypto/zstd.c compresses at ``ZSTD_DEF_LEVEL`` (3) with the parameters
``zstd_get_params`` chooses for its 256 KiB maximum (``ZSTD_MAX_WINDOWLOG`` 18), not for the
4 KiB page: pyzswap's codec table does the same (``ZSTD_getParams(3, 1 << 18, 0)`` and
``ZSTD_compress_advanced``), so the stream is a zstd frame with the content size and no
checksum, as the kernel's. The transforms are :class:`~pyzswap._native.PageCodec` objects:
every path (the engines, the Python flow, the C flow) gives the same bytes. The library is
the system's libzstd; the ``zstandard`` package is only the tests' cross-check of the format.
"""

from __future__ import annotations

from .._native import ALGORITHMS
from ._pagecodec import PageCodecCompressor

__all__ = ["ZSTD", "ZSTD_DEFAULT_LEVEL"]

#: The kernel's ZSTD_DEF_LEVEL (crypto/zstd.c), from the codec table.
ZSTD_DEFAULT_LEVEL: int = ALGORITHMS["zstd"]


class ZSTD(PageCodecCompressor):
    """The kernel's ``zstd`` (frame format, level 3, the kernel's parameters)."""

    name = "zstd"
    description = "Zstandard level 3 with the kernel's parameters (libzstd, C)"
