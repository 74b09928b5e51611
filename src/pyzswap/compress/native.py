"""Native batching engines: the C codecs on engine threads that never take the GIL.

:class:`~pyzswap.compress.BatchingCompressor` runs a batch on *native* engines when the base
algorithm is one of :data:`NATIVE_ALGORITHMS` (the default), and on Python engine threads
otherwise. This module is the native side: :class:`NativeBatchingTransform` drives a
``pyzswap._native.Engines`` object (C, see ``src/pyzswap/_native.c``): ``threads`` POSIX
threads, each with its own context of the codec table (csrc/codec.c).

Why native, measured on the 2-vCPU guest (``pyzswap bench engines``): Python
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

Output: the engines run the codec table (csrc/codec.c) that the compressors' own transforms
(:class:`~pyzswap._native.PageCodec`) and the C flow run, so every algorithm gives the same
bytes on every path.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from time import perf_counter, thread_time
from typing import TYPE_CHECKING, Final, Protocol

from .. import _native
from ..errors import CompressFail, CompressPoor, DecompressFail, InvalidParameter, ZswapError
from ._base import Compressor, Transform

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = ["NATIVE_ALGORITHMS", "NATIVE_MIN_PARALLEL_US", "NATIVE_WIN", "NativeBatchingTransform",
           "NativeGate", "NativeRequest", "native_engines", "native_gates", "native_versions"]

#: Algorithms with a native engine, and the level each runs at (the kernel's): every
#: algorithm of the codec table (csrc/codec.c), which the engines share with PageCodec.
NATIVE_ALGORITHMS: Final[dict[str, int]] = dict(_native.ALGORITHMS)
#: Engines are woken for a job only if its pages after the first are estimated to cost at
#: least this much CPU (µs): a wake-up is a futex call (a few µs), and a woken engine that
#: arrives after the caller claimed every page costs nothing more.
NATIVE_MIN_PARALLEL_US: Final = 30.0
#: Engines are woken only while jobs run with them measure at least this much faster per
#: page (wall time) than jobs the caller ran alone.
NATIVE_WIN: Final = 1.03
#: While one choice measures at least this much faster than the other, the other is
#: re-measured every 64th job instead of every 16th: the probe runs a whole job the slow way,
#: which cost about 5% of batched 2 MiB stores at every 16th.
NATIVE_CLEAR_WIN: Final = 1.25
#: The gate's wall-time figures are this quantile of the recent jobs' times, not their
#: median: the host only ever makes a job slower (another tenant on the core, a halted vCPU
#: woken late), in bursts that hit jobs with engines more than jobs on one thread. With the
#: median, three slow jobs out of five had engines put to sleep for dozens of jobs after
#: such a burst; the second-fastest of five is the speed each choice has here.
NATIVE_FIGURE_QUANTILE: Final = 0.25

#: How long an engine with nothing to do, or a caller waiting for a page in an engine's hands,
#: polls (``sched_yield`` between polls) before it sleeps. Waking a sleeping thread costs
#: 50-100 µs on a virtual machine (an idle vCPU halts), about a whole 64 KiB job of lz4, so the
#: engines stay awake across the usual gap between a caller's jobs (its own work between two
#: folios or reclaim batches), as an accelerator's would; a thread that needs the CPU meanwhile
#: gets it at the next yield. With 50 µs the engines slept between the jobs of
#: ``pyzswap bench batching`` and 64 KiB folios gained 1.30-1.43x on two cores; with 500 µs,
#: 1.51-1.74x (lz4, five alternating runs).
NATIVE_SPIN_US: Final = 500.0

#: Per-page CPU µs assumed (compress, decompress) until the first samples are in; measured
#: on the 2-vCPU guest on the ``real`` page set. Only small jobs depend on them.
_NOMINAL_US: Final[dict[str, tuple[float, float]]] = {
    "lz4": (4.0, 1.0), "lz4hc": (30.0, 1.0), "zstd": (20.0, 5.0), "lzo": (5.0, 2.0),
    "lzo-rle": (5.0, 2.0), "deflate": (45.0, 10.0),
}
_ENOSPC: Final = -errno.ENOSPC
_SAMPLE_EVERY: Final = 16


class _Cost(Protocol):
    value: float | None

    @property
    def settled(self) -> bool: ...

    def add(self, sample: float) -> None: ...


class _CostFactory(Protocol):
    """Makes a recent-samples estimator that reports the given quantile of them."""

    def __call__(self, quantile: float = ...) -> _Cost: ...


class _Owner(Protocol):
    """What a native transform needs from its :class:`BatchingCompressor`."""

    base: Compressor
    min_parallel_us: float

    @property
    def native(self) -> _native.Engines: ...

    @property
    def native_gates(self) -> tuple[NativeGate, NativeGate]: ...


#: The most engine threads one ``_native.Engines`` runs (``MAX_THREADS`` in _native.c).
MAX_NATIVE_THREADS = 64


def native_engines(algorithm: str, threads: int) -> _native.Engines:
    """An ``Engines`` object for a native algorithm (threads start on the first job)."""
    if not 0 <= threads <= MAX_NATIVE_THREADS:
        raise InvalidParameter(f"a native batching compressor runs at most "
                               f"{MAX_NATIVE_THREADS} engine threads, got {threads}")
    return _native.Engines(algorithm, NATIVE_ALGORITHMS[algorithm], threads, NATIVE_SPIN_US)


def native_gates(algorithm: str, cost: _CostFactory) -> tuple[NativeGate, NativeGate]:
    """The (compress, decompress) gates of a native batching compressor; ``cost()`` makes
    one median-of-recent-samples estimator, ``cost(q)`` one of quantile ``q``."""
    nominal = _NOMINAL_US.get(algorithm, (20.0, 5.0))
    return (NativeGate(cost(), cost, nominal[0]), NativeGate(cost(), cost, nominal[1]))


def native_versions() -> dict[str, str]:
    """The codec libraries the native engines use: ``{"lz4": "1.9.4", "zstd": ...}`` (lzo is
    pyzswap's own C port of the kernel's lib/lzo)."""
    return dict(_native.versions())


def _error(op: int, code: int, name: str) -> ZswapError:
    if op == 0:
        if code == _ENOSPC:
            return CompressPoor(f"{name}: output does not fit the destination buffer")
        return CompressFail(f"{name}: compression failed (error {-code})")
    return DecompressFail(f"{name}: corrupt stream (error {-code})")


def _size_class(n: int) -> int:
    """The gate's size class of an ``n``-page job: 2^(k-1)+1 .. 2^k pages is class k."""
    return (n - 1).bit_length()


def _engines_win(alone: float, woken: float) -> bool:
    """Do these figures (µs a page) say wake the engines?"""
    return woken * NATIVE_WIN < alone


class NativeGate:
    """Whether a job should wake the engines: one per compressor and direction, shared by
    its transforms (updated without a lock; a lost sample is harmless).

    Two questions, both answered by measurement:

    * *Can the job pay for a wake-up at all?* Its pages after the first must be estimated to
      cost at least ``min_parallel_us`` of CPU. The per-page CPU cost is sampled
      (``time.thread_time``) on jobs the caller ran alone; a nominal figure stands in until
      then.
    * *Do engines actually make it faster here and now?* Engines help only if a core is free
      for them; on a machine busy with other work, three threads on two cores lose ~20% to
      switching. Every qualifying job is timed (wall time per page, which includes the
      caller's own work between pages), into the figure for jobs with engines or for jobs
      the caller ran alone (a low quantile of the last few: :data:`NATIVE_FIGURE_QUANTILE`).
      Engines are woken while their figure
      is at least :data:`NATIVE_WIN` better; every 16th job does the other thing (every
      64th while one figure is at least :data:`NATIVE_CLEAR_WIN` better: such a probe is a
      whole job run the slow way), so the figure not being chosen stays current and a change
      of the machine's load is seen within a few dozen jobs. Jobs are compared with jobs of
      about their size (the two figures are kept per size class of 2^(k-1)+1 .. 2^k pages):
      a 512-page job pays one
      wake-up for 512 pages, a 16-page job for 16. The classes end at the folio sizes, so a
      2 MiB folio (512 pages) shares its figures with jobs of 257..511 pages (the partial
      folio at the end of a range, a reclaim batch of large folios) instead of leaving them
      in a class of their own that is rarely timed and so runs unsettled, alone.
    """

    __slots__ = ("_again", "_buckets", "_cost", "_k", "cpu", "nominal")

    def __init__(self, cpu: _Cost, cost: _CostFactory, nominal: float) -> None:
        self.cpu = cpu  # CPU µs per page, caller alone
        self.nominal = nominal
        self._cost = cost
        #: size class (_size_class) -> (wall µs per page alone, with engines woken)
        self._buckets: dict[int, tuple[_Cost, _Cost]] = {}
        self._k = 0
        #: (size class, choice): the next job of that class runs that choice again
        self._again: tuple[int, bool] | None = None

    def figures(self, n: int) -> tuple[_Cost, _Cost]:
        """The (alone, woken) wall-time figures for jobs of about ``n`` pages."""
        b = _size_class(n)
        pair = self._buckets.get(b)
        if pair is None:
            q = NATIVE_FIGURE_QUANTILE
            pair = self._buckets[b] = (self._cost(q), self._cost(q))
        return pair

    def wake(self, n: int, min_us: float) -> tuple[bool, bool]:
        """``(wake engines, time this job)`` for an ``n``-page job."""
        if n < 2:
            return False, False
        if not min_us:
            return True, False  # forced (tests, measurements)
        est = self.cpu.value
        if (self.nominal if est is None else est) * (n - 1) < min_us:
            return False, False
        alone_c, woken_c = self.figures(n)
        alone, woken = alone_c.value, woken_c.value
        if not alone_c.settled or alone is None:
            return False, True
        if not woken_c.settled or woken is None:
            return True, True
        prefer = _engines_win(alone, woken)
        clear = max(woken, alone) >= NATIVE_CLEAR_WIN * min(woken, alone)
        self._k = k = self._k + 1
        again = self._again
        if again is not None and again[0] == _size_class(n):
            self._again = None
            return again[1], True  # the last probe beat the choice: measure it again
        return (not prefer if not k & (63 if clear else 15) else prefer), True

    def record(self, woke: bool, seconds: float, n: int) -> None:
        """A timed job's wall time. A probe (the choice not preferred) that ran faster than
        the preferred choice's figure has the next job of its size probe again: after a
        burst that made one choice look slow, the figures recover within a few jobs instead
        of one probe every 16 or 64."""
        alone, woken = self.figures(n)
        us = seconds * 1e6 / n
        a, w = alone.value, woken.value
        # a probe (not the figures' choice) whose time, as its choice's figure, would win
        if (alone.settled and woken.settled and a is not None and w is not None
                and woke != _engines_win(a, w)
                and woke == (_engines_win(a, us) if woke else _engines_win(us, w))):
            self._again = (_size_class(n), woke)
        (woken if woke else alone).add(us)


class NativeRequest:
    """A batch submitted in async mode: :meth:`poll` never blocks; :meth:`wait` helps with the
    pages no engine has started, waits for the rest and returns one length or error per page
    (then the request is spent). Dropping it unwaited cancels the pages not started."""

    __slots__ = ("_job", "_name", "_op", "_results")

    def __init__(self, job: _native.Job, op: int, name: str) -> None:
        self._job = job
        self._op = op
        self._name = name
        self._results: list[int | ZswapError] | None = None

    def __len__(self) -> int:
        return self._job.pages if self._results is None else len(self._results)

    def poll(self) -> bool:
        """True once every page is done."""
        return self._results is not None or self._job.poll()

    def wait(self) -> list[int | ZswapError]:
        """Every page's result (length, or the exception for that page)."""
        if self._results is None:
            try:
                codes = self._job.wait()
            finally:
                self._job.close()
            op, name = self._op, self._name
            self._results = [c if c > 0 else _error(op, c, name) for c in codes]
        return self._results


class NativeBatchingTransform(Transform):
    """A batching compressor's transform on native engines.

    Single pages run on the caller's own base transform (no job at all). Batches become one
    job; :class:`NativeGate` decides whether the engines are woken, else the caller runs the
    job alone, still without the GIL. One thread at a time uses a transform (it belongs to
    one compression context); the engines are shared.
    """

    __slots__ = ("_base", "_eng", "_gates", "_min_us", "_name", "_owner", "_stream",
                 "inline_batches", "parallel_batches")

    def __init__(self, owner: _Owner) -> None:
        self._owner = owner  # keeps the compressor, and so its engines, alive while in use
        self._base = owner.base.new_transform()
        self._eng = owner.native
        self._name = owner.base.name
        self._min_us = owner.min_parallel_us
        self._gates = owner.native_gates
        self._stream: tuple[float, int, bool, bool] | None = None
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

    def _decide(self, op: int, n: int) -> tuple[bool, bool]:
        woke, timed = self._gates[op].wake(n, self._min_us)
        if woke:
            self.parallel_batches += 1
        elif n:
            self.inline_batches += 1
        return woke, timed

    def _run(self, op: int, srcs: Sequence[BytesLike],
             dsts: Sequence[bytearray | memoryview]) -> list[int | ZswapError]:
        n = len(srcs)
        if len(dsts) != n:
            raise ValueError(f"a batch needs one destination per page: {n} sources, "
                             f"{len(dsts)} destinations")
        if n == 0:
            return []
        gate = self._gates[op]
        woke, timed = self._decide(op, n)
        sample_cpu = not woke and n > 1 and (
            not gate.cpu.settled or not self.inline_batches % _SAMPLE_EVERY)
        c0 = thread_time() if sample_cpu else 0.0
        t0 = perf_counter() if timed else 0.0
        eng = self._eng
        wake = -1 if woke else 0
        job = eng.decompress(srcs, dsts, wake) if op else eng.compress(srcs, dsts, wake)
        try:
            codes = job.wait()
        finally:
            job.close()
        if timed:
            gate.record(woke, perf_counter() - t0, n)
        if sample_cpu:
            # CPU time of this thread: what the pages cost, whatever else runs.
            gate.cpu.add((thread_time() - c0) * 1e6 / n)
        name = self._name
        return [c if c > 0 else _error(op, c, name) for c in codes]

    def compress_batch(self, srcs: Sequence[BytesLike],
                       dsts: Sequence[bytearray | memoryview]) -> list[int | ZswapError]:
        """Compress a batch (sync mode); one length or error per page."""
        return self._run(0, srcs, dsts)

    def submit_compress(self, srcs: Sequence[BytesLike],
                        dsts: Sequence[bytearray | memoryview]) -> NativeRequest:
        """Start compressing a batch and return at once (async mode, as iaa_crypto's):
        :meth:`NativeRequest.poll` until done, or :meth:`NativeRequest.wait`."""
        return self._submit(0, srcs, dsts)

    def submit_decompress(self, srcs: Sequence[BytesLike],
                          dsts: Sequence[bytearray | memoryview]) -> NativeRequest:
        """Start decompressing a batch and return at once (async mode)."""
        return self._submit(1, srcs, dsts)

    def _submit(self, op: int, srcs: Sequence[BytesLike],
                dsts: Sequence[bytearray | memoryview]) -> NativeRequest:
        if len(dsts) != len(srcs):
            raise ValueError(f"a batch needs one destination per page: {len(srcs)} sources, "
                             f"{len(dsts)} destinations")
        # Async: the caller goes on with other work, so the engines always get the pages.
        wake = -1 if len(srcs) > 1 else 0
        eng = self._eng
        job = eng.decompress(srcs, dsts, wake) if op else eng.compress(srcs, dsts, wake)
        return NativeRequest(job, op, self._name)

    def decompress_batch(self, srcs: Sequence[BytesLike],
                         dsts: Sequence[bytearray | memoryview]) -> list[int | ZswapError]:
        """Decompress a batch (sync mode); one length or error per page."""
        return self._run(1, srcs, dsts)

    def compress_stream(self, srcs: Sequence[BytesLike], nr_pages: int,
                        ring: Sequence[bytearray | memoryview]) -> _native.Job:
        """Start compressing ``srcs`` (buffers holding ``nr_pages`` whole pages in all)
        through the ``ring`` of destination buffers and return the job at once (async mode):
        ``take(i)`` each page in order, then :meth:`end_stream`. :meth:`error` turns a
        negative result into its exception. One stream at a time per transform."""
        woke, timed = self._decide(0, nr_pages)
        job = self._eng.compress(srcs, ring, -1 if woke else 0)
        self._stream = (perf_counter(), nr_pages, woke, timed)
        return job

    def end_stream(self, job: _native.Job, completed: bool) -> None:
        """Close a :meth:`compress_stream` job; a ``completed`` one (every page taken and
        used) is timed for the gate: its wall time covers the caller's own work per page,
        which is what engines must beat."""
        job.close()
        stream, self._stream = self._stream, None
        if completed and stream is not None and stream[3]:
            t0, n, woke, _ = stream
            self._gates[0].record(woke, perf_counter() - t0, n)

    def error(self, code: int) -> ZswapError:
        """The exception for a negative compress result of :meth:`compress_stream`."""
        return _error(0, code, self._name)
