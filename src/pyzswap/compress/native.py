"""Native batching engines: the C codecs on engine threads that never take the GIL.

:class:`~pyzswap.compress.BatchingCompressor` runs a batch on *native* engines when the base
algorithm is one of :data:`NATIVE_ALGORITHMS` (the default), and on Python engine threads
otherwise. This module is the native side: :class:`NativeBatchingTransform` drives a
``pyzswap._native.Engines`` object (C, see ``src/pyzswap/_native.c``): ``threads`` POSIX
threads, each with its own codec context (LZ4 state, ``ZSTD_CCtx``, zlib stream, LZO work
area), linked against the system libraries.

Why native, measured on the 2-vCPU guest (``benchmarks/bench_batching_engines.py``): Python
engine threads need the GIL for ~2 µs around every page, and while zswap's caller runs its
own Python (zsmalloc, tree, LRU) it holds the GIL, so engines stall exactly when the caller
is busiest. C engines never need the GIL: while the caller stores page *i* into zsmalloc, the
engines compress pages *i+1 .. i+7* into the context's other buffers. A hand-off is one job
(one lock, one wake-up per engine) for the whole folio or reclaim batch, never one per page.

The protocol (``Engines.compress(srcs, ring, wake)`` → a ``Job``):

* ``srcs`` are buffers of whole pages; page *i* is written to ``ring[i % len(ring)]``;
* ``job.take(i)`` returns page *i*'s result (length, ``-ENOSPC`` or ``-EINVAL``), taking pages
  in order; taking page *i* releases the slots of the pages before it, and page *i*'s slot
  stays valid until the next ``take``;
* ``job.wait()`` returns every result (sync mode); ``job.poll()`` never blocks (async mode);
* while the caller waits, it compresses the job's unclaimed pages itself, so a job completes
  even if no engine wakes; ``job.close()`` drops the pages not started and waits for those in
  flight before the buffers are let go.

Output: lz4, lzo and deflate streams are byte for byte those of the Python-side codecs (same
C code); zstd and lz4hc come from the system library (zstd 1.5.4, lz4 1.9.4 on Debian 12),
whose output can differ by a few bytes from the versions bundled in ``zstandard``/``cramjam``.
Every stream decodes with either side, so a pool may mix them.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from time import thread_time
from typing import TYPE_CHECKING, Final, Protocol

from .. import _native
from ..errors import CompressFail, CompressPoor, DecompressFail, ZswapError
from ._base import Compressor, Transform

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = ["NATIVE_ALGORITHMS", "NATIVE_MIN_PARALLEL_US", "NativeBatchingTransform",
           "native_engines", "native_versions"]

#: Algorithms with a native engine, and the level each runs at (the kernel's defaults).
NATIVE_ALGORITHMS: Final[dict[str, int]] = {
    "lz4": 0, "lz4hc": 9, "zstd": 3, "lzo": 0, "deflate": 6,
}
#: Engines are woken for a job only if its pages after the first are estimated to cost at
#: least this much CPU (µs): a wake-up is a futex call (a few µs), and a woken engine that
#: arrives after the caller claimed every page costs nothing more.
NATIVE_MIN_PARALLEL_US: Final = 30.0

#: Per-page CPU µs assumed (compress, decompress) until the first samples are in; measured
#: on the 2-vCPU guest on the ``real`` page set. Only small jobs depend on them.
_NOMINAL_US: Final[dict[str, tuple[float, float]]] = {
    "lz4": (4.0, 1.0), "lz4hc": (30.0, 1.0), "zstd": (20.0, 5.0), "lzo": (5.0, 2.0),
    "deflate": (45.0, 10.0),
}
_ENOSPC: Final = -errno.ENOSPC
_SAMPLE_EVERY: Final = 16


class _Cost(Protocol):
    value: float | None

    @property
    def settled(self) -> bool: ...

    def add(self, sample: float) -> None: ...


class _Owner(Protocol):
    """What a native transform needs from its :class:`BatchingCompressor`."""

    base: Compressor
    engines: int
    min_parallel_us: float

    @property
    def native(self) -> _native.Engines: ...

    def _cost(self, op: int) -> _Cost: ...


def native_engines(algorithm: str, threads: int) -> _native.Engines:
    """An ``Engines`` object for a native algorithm (threads start on the first job)."""
    return _native.Engines(algorithm, NATIVE_ALGORITHMS[algorithm], threads)


def native_versions() -> dict[str, str]:
    """The C libraries the native engines link: ``{"lz4": "1.9.4", "zstd": ...}``."""
    return dict(_native.versions())


def _error(op: int, code: int, name: str) -> ZswapError:
    if op == 0:
        if code == _ENOSPC:
            return CompressPoor(f"{name}: output does not fit the destination buffer")
        return CompressFail(f"{name}: compression failed (error {-code})")
    return DecompressFail(f"{name}: corrupt stream (error {-code})")


class NativeBatchingTransform(Transform):
    """A batching compressor's transform on native engines.

    Single pages run on the caller's own base transform (no job at all). Batches become one
    job; the engines are woken only when the measured per-page cost says the batch can pay
    for it, else the caller runs the job alone, still without the GIL. One thread at a time
    uses a transform (it belongs to one compression context); the engines are shared.
    """

    __slots__ = ("_base", "_eng", "_min_us", "_name", "_nominal", "_owner", "_probe",
                 "inline_batches", "parallel_batches")

    def __init__(self, owner: _Owner) -> None:
        self._owner = owner  # keeps the compressor, and so its engines, alive while in use
        self._base = owner.base.new_transform()
        self._eng = owner.native
        self._name = owner.base.name
        self._min_us = owner.min_parallel_us
        self._nominal = _NOMINAL_US.get(self._name, (20.0, 5.0))
        self._probe = False
        #: Jobs whose engines were woken / run by the caller alone (statistics).
        self.parallel_batches = 0
        self.inline_batches = 0

    @property
    def base(self) -> Transform:
        """The caller's own base transform (single pages)."""
        return self._base

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        return self._base.compress(src, dst)

    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        return self._base.decompress(src, dst)

    def _wake(self, op: int, n: int) -> int:
        """Engines to wake for an ``n``-page job: all of them (-1), or 0 (the caller alone).

        The caller alone when the pages after the first are estimated to cost less than
        ``min_parallel_us``; every 64th job that would wake engines runs alone as a probe, so
        the estimate (sampled only on jobs the caller ran alone) stays current.
        """
        if n < 2:
            return 0
        min_us = self._min_us
        if not min_us:
            self.parallel_batches += 1
            return -1
        est = self._owner._cost(op).value
        if est is None:
            est = self._nominal[op]
        if est * (n - 1) < min_us:
            self.inline_batches += 1
            return 0
        self.parallel_batches = k = self.parallel_batches + 1
        if not k & 63:
            self.inline_batches += 1
            self._probe = True
            return 0
        return -1

    def _take_probe(self) -> bool:
        probe = self._probe
        self._probe = False
        return probe

    def _run(self, op: int, srcs: Sequence[BytesLike],
             dsts: Sequence[bytearray | memoryview]) -> list[int | ZswapError]:
        n = len(srcs)
        if len(dsts) != n:
            raise ValueError(f"a batch needs one destination per page: {n} sources, "
                             f"{len(dsts)} destinations")
        if n == 0:
            return []
        wake = self._wake(op, n)
        cost = self._owner._cost(op)
        sample = not wake and (not cost.settled or not self.inline_batches % _SAMPLE_EVERY
                               or self._take_probe())
        t0 = thread_time() if sample else 0.0
        eng = self._eng
        job = eng.decompress(srcs, dsts, wake) if op else eng.compress(srcs, dsts, wake)
        try:
            codes = job.wait()
        finally:
            job.close()
        if sample:
            # CPU time of this thread: what the pages cost, whatever else runs.
            cost.add((thread_time() - t0) * 1e6 / n)
        name = self._name
        return [c if c > 0 else _error(op, c, name) for c in codes]

    def compress_batch(self, srcs: Sequence[BytesLike],
                       dsts: Sequence[bytearray | memoryview]) -> list[int | ZswapError]:
        """Compress a batch (sync mode); one length or error per page."""
        return self._run(0, srcs, dsts)

    def decompress_batch(self, srcs: Sequence[BytesLike],
                         dsts: Sequence[bytearray | memoryview]) -> list[int | ZswapError]:
        """Decompress a batch (sync mode); one length or error per page."""
        return self._run(1, srcs, dsts)

    def compress_stream(self, srcs: Sequence[BytesLike], nr_pages: int,
                        ring: Sequence[bytearray | memoryview]) -> _native.Job:
        """Start compressing ``srcs`` (buffers holding ``nr_pages`` whole pages in all)
        through the ``ring`` of destination buffers and return the job at once (async mode):
        ``take(i)`` each page in order, then ``close()``. :meth:`error` turns a negative
        result into its exception."""
        return self._eng.compress(srcs, ring, self._wake(0, nr_pages))

    def error(self, code: int) -> ZswapError:
        """The exception for a negative compress result of :meth:`compress_stream`."""
        return _error(0, code, self._name)
