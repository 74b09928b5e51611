"""The compressor contract: what zswap may assume about a compression algorithm.

This is the role the kernel's crypto "acomp" API plays for zswap. A :class:`Compressor` is the
*algorithm* (stateless, shared, registered under its kernel name); a :class:`Transform` is one
*transform object* (the kernel's ``struct crypto_acomp``), holding whatever per-context state the
codec needs. Every per-CPU compression context of a pool owns its own transforms, because some
codecs' state is not thread-safe (a ``zstandard.ZstdCompressor`` shared by two threads crashes the
process) and because the kernel allocates one per CPU.

Contract of :meth:`Transform.compress`:
    ``compress(src, dst) -> dlen``. ``src`` is one page (exactly 4096 bytes, any buffer),
    ``dst`` a writable buffer (the context's destination buffer, PAGE_SIZE long in 6.18). On
    success the first ``dlen`` bytes of ``dst`` hold the compressed stream, ``0 < dlen``.
    If the output does not fit in ``len(dst)`` it raises :class:`~pyzswap.errors.CompressPoor`
    (the kernel's -ENOSPC); any other codec failure raises
    :class:`~pyzswap.errors.CompressFail`. It never returns a partial result.

Contract of :meth:`Transform.decompress`:
    ``decompress(src, dst) -> dlen``. ``src`` is a compressed stream produced by the same
    algorithm, ``dst`` a writable buffer of one page. It writes the decompressed bytes into
    ``dst`` and returns how many it wrote. A malformed stream or an output that would not fit
    raises :class:`~pyzswap.errors.DecompressFail`; zswap additionally requires ``dlen == 4096``.

Batching (the compress-batching series): :attr:`Compressor.batch_size` says how many pages one
call may carry (1 for software compressors, at most ``ZSWAP_MAX_BATCH_SIZE`` = 8).
:meth:`Transform.compress_batch` takes parallel lists of sources and destinations and returns one
result per page, an ``int`` length or the exception for that page, like the per-SG-entry lengths
of the kernel's batched acomp calls. The default runs the single-page call in a loop, so a
non-batching compressor goes through the same loop with batch size 1.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from .._native import PAGE_SIZE, ZSWAP_MAX_BATCH_SIZE
from ..errors import CompressPoor, ZswapError

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = ["PAGE_SIZE", "ZSWAP_MAX_BATCH_SIZE", "Compressor", "Transform", "copy_out"]


class Transform(ABC):
    """One transform object: a codec context owned by exactly one compression context."""

    __slots__ = ()

    @abstractmethod
    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        """Compress one page of ``src`` into ``dst``; return the compressed length."""

    @abstractmethod
    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        """Decompress ``src`` into ``dst``; return the decompressed length."""

    def compress_batch(
        self, srcs: Sequence[BytesLike], dsts: Sequence[bytearray | memoryview]
    ) -> list[int | ZswapError]:
        """Compress each page of a batch; one length or error per page, never raises per page."""
        return _per_page(self.compress, srcs, dsts)

    def decompress_batch(
        self, srcs: Sequence[BytesLike], dsts: Sequence[bytearray | memoryview]
    ) -> list[int | ZswapError]:
        """Decompress each stream of a batch; one length or error per page."""
        return _per_page(self.decompress, srcs, dsts)


def _per_page(
    fn: Callable[[BytesLike, bytearray | memoryview], int],
    srcs: Sequence[BytesLike],
    dsts: Sequence[bytearray | memoryview],
) -> list[int | ZswapError]:
    results: list[int | ZswapError] = []
    for src, dst in zip(srcs, dsts, strict=True):
        try:
            results.append(fn(src, dst))
        except ZswapError as exc:
            results.append(exc)
    return results


def copy_out(name: str, out: BytesLike, dst: bytearray | memoryview) -> int:
    """Copy a codec's compressed output into ``dst``; -ENOSPC (:class:`CompressPoor`) if it
    does not fit. For codecs that can only return new bytes objects."""
    n = len(out)
    if n > len(dst):
        raise CompressPoor(f"{name}: {n} bytes do not fit a {len(dst)}-byte buffer")
    dst[:n] = out
    return n


class Compressor(ABC):
    """A compression algorithm, registered under its kernel name.

    Subclasses set :attr:`name` (the string a user writes to the ``compressor`` parameter),
    :attr:`description`, and implement :meth:`new_transform`. :attr:`batch_size` is 1 unless the
    algorithm really compresses several pages per call.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    batch_size: ClassVar[int] = 1

    @abstractmethod
    def new_transform(self) -> Transform:
        """Allocate a fresh transform object (the kernel's ``crypto_alloc_acomp``)."""

    def __repr__(self) -> str:
        return f"<Compressor {self.name!r} batch_size={self.batch_size}>"
