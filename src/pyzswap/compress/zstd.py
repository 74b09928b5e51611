"""zstd at level 3, the kernel crypto API's default level (``ZSTD_DEF_LEVEL``).

A ``zstandard.ZstdCompressor`` must never be shared between threads (two threads on one object
crashed the process, docs/KERNEL_REFERENCE.md §10), so every transform owns its own compressor and
decompressor object: one per per-CPU context, exactly as the kernel allocates one per CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import zstandard

from ..errors import CompressFail, DecompressFail
from ._base import PAGE_SIZE, Compressor, Transform, copy_out

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = ["ZSTD", "ZSTD_DEFAULT_LEVEL"]

ZSTD_DEFAULT_LEVEL = 3


class _ZstdTransform(Transform):
    __slots__ = ("_cctx", "_dctx")

    def __init__(self, level: int) -> None:
        self._cctx = zstandard.ZstdCompressor(level=level)
        self._dctx = zstandard.ZstdDecompressor()

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        try:
            out = self._cctx.compress(src)
        except zstandard.ZstdError as exc:
            raise CompressFail(f"zstd: {exc}") from None
        return copy_out("zstd", out, dst)

    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        try:
            out = self._dctx.decompress(src, max_output_size=len(dst) or PAGE_SIZE)
        except zstandard.ZstdError as exc:
            raise DecompressFail(f"zstd: corrupt stream ({exc})") from None
        n = len(out)
        if n > len(dst):
            raise DecompressFail(f"zstd: {n} bytes do not fit a {len(dst)}-byte page")
        dst[:n] = out
        return n


class ZSTD(Compressor):
    """The kernel's ``zstd`` (frame format, level 3)."""

    name = "zstd"
    description = "Zstandard level 3 (python-zstandard), one codec context per transform"

    def new_transform(self) -> Transform:
        return _ZstdTransform(ZSTD_DEFAULT_LEVEL)
