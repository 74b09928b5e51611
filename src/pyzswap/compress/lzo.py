"""lzo and lzo-rle: the kernel's own LZO1X-1 and LZO-RLE, as :class:`~pyzswap._native.PageCodec`
transforms.

The codec is pyzswap's C port of the kernel's ``lib/lzo`` (csrc/lzo.c, contract in csrc/lzo.h),
written from the algorithm: the same 8192-entry dictionary, probe stride and match lengths as
``lzo1x_1_compress``, so every page compresses to the kernel's exact stream and length (checked
against the running kernel's zram, page by page; docs/KERNEL_ORACLE.md). liblzo2's ``lzo1x_1``
(python-lzo) makes a different stream from a 16384-entry dictionary; it remains only as a test
cross-check of the format.

* ``lzo`` is LZO1X bitstream version 0: the kernel's ``lzo1x_1_compress_safe`` (crypto ``lzo``,
  zswap's default).
* ``lzo-rle`` is bitstream version 1 (``lzorle1x_1_compress_safe``; zram's default): a stream
  that starts with the bytes 17, 1 and codes runs of 4..2051 zero bytes in 4 bytes.

Both decompress with one decoder, the kernel's ``lzo1x_decompress_safe``, which reads either
version and rejects a malformed stream (:class:`~pyzswap.errors.DecompressFail`) without reading
or writing outside its buffers. The destination check is the kernel's, so whether a page "fits"
in zswap's one-page buffer is the kernel's answer: a stream that runs out of room raises
:class:`~pyzswap.errors.CompressPoor` and zswap stores the page as-is.
"""

from __future__ import annotations

from ._pagecodec import PageCodecCompressor

__all__ = ["LZO", "LZO_RLE"]


class LZO(PageCodecCompressor):
    """The kernel's ``lzo`` (LZO1X-1, bitstream version 0): a 16 KiB dictionary per context."""

    name = "lzo"
    description = "LZO1X-1, the kernel's lib/lzo (C), kernel-identical streams"


class LZO_RLE(PageCodecCompressor):
    """The kernel's ``lzo-rle`` (LZO1X-1 with zero-run coding, bitstream version 1)."""

    name = "lzo-rle"
    description = "LZO-RLE, the kernel's lib/lzo bitstream v1 (C), kernel-identical streams"
