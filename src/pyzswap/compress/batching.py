"""Batching compressors on real cores: any algorithm, run by engine threads beside the caller.

The compress-batching series lets an accelerator (Intel IAA) compress up to
``ZSWAP_MAX_BATCH_SIZE`` pages per call, with per-page results, in a synchronous (submit and
wait) or asynchronous (submit, then poll) mode. :class:`BatchingCompressor` gives pyzswap such
a compressor built from CPU cores instead of a device: ``BatchingCompressor("zstd", 2)`` is
registered as ``zstd-x2``, "zstd batched on 2 engine threads". It is never called IAA.

Two engine implementations (``engine=``):

* ``native`` (the default for the stock lz4, zstd, lzo, lzo-rle and deflate): C threads that
  never take the GIL, in :mod:`pyzswap.compress.native`; zswap streams whole folios and reclaim
  batches through them. This is what makes batching pay (docs/BATCHING.md).
* ``threads``: Python engine threads running any registered algorithm's transform, described
  below. Output is exactly the base algorithm's.

Why it looks the way it does (measured on the 2-vCPU KVM guest; ``pyzswap bench
engines`` reproduces the figures):

* **Engines are threads that own a codec context.** The C codecs release the GIL while they
  compress, so threads really run on two cores. A ``zstandard.ZstdCompressor`` must never be
  shared, so every engine owns its own base :class:`~pyzswap.compress.Transform`; all
  transforms made from one :class:`BatchingCompressor` share its engines, as every CPU's
  context shares one accelerator. Engines start on the first batch that is worth handing off
  (creating a compressor costs nothing) and are daemon threads; :meth:`BatchingCompressor.close`
  stops them (a later batch starts them again).
* **One hand-off per batch, not per page.** A ``concurrent.futures`` future costs 11-14 µs, more
  than compressing an lz4 page. Here a batch is one :class:`BatchRequest` put once on a shared
  ``queue.SimpleQueue`` (C code, ~0.1 µs) per engine woken; the caller pays ~3 µs per
  handed-off batch in all. Pages are not pre-split into chunks: every participant *claims* the
  next page index from one shared range iterator (``next()`` on it is a single C call, atomic
  under the GIL) and counts finished pages on one shared ``itertools.count``; whoever finishes
  the last page sets the request complete and releases its lock. So the split adapts to whoever
  is fast, there is one completion signal per batch, and nothing per page but a C-level
  ``next()``.
* **The caller works too.** An engine needs 20-40 µs from the hand-off to its first page (a
  futex wake of a halted vCPU, then the GIL). The caller does not sit through that: it claims
  pages in :meth:`BatchRequest.wait` (and one at a time in :meth:`BatchRequest.poll`) on its
  *own* base transform, and only ever waits for pages an engine has already started. So a
  late, busy or dead engine delays a batch by at most the pages it holds, and a request never
  hangs on an engine that never came. One engine beside the caller is the default on two cores
  (``engines_per_batch``): two engines plus the caller measured x1.37 against x1.42 for zstd,
  engines alone (``caller_helps=False``) x1.2.
* **Inline when a hand-off cannot pay.** Every page costs ~2 µs of Python under the GIL on top
  of the codec, and two threads doing that contend: each thread's pages get ~30% slower. A
  batch of 8 therefore gains x1.4 for zstd (~24 µs a page), breaks even for lz4 and lzo
  (~10 µs: x0.95-x1.1, noise decides) and loses for decompression (~3-8 µs: down to x0.4).
  So a batch of one page, and any batch whose pages after the first are estimated to cost less
  than :data:`PARALLEL_MIN_US` (120 µs) of CPU, runs on the caller alone without creating any
  request. The estimate is measured, not configured: per compressor and direction, the median
  of the last 5 samples of CPU time per page (``time.thread_time``), taken on inline batches
  only (the first 5, then every 16th); every 64th batch that would be handed off runs inline as
  a probe. Pages run beside a busy engine are ~30% slower, and a fresh zstd context's first
  page ~100x: sampling either kept lz4 handed off for hundreds of batches, costing up to 5%.
* **The GIL decides the overlap, not the API.** An engine needs the GIL for a moment between
  two pages. While the caller runs pure Python (zswap's zsmalloc and tree work) it holds the
  GIL, and CPython hands it over only when the holder blocks or calls into C, or after the
  5 ms switch interval (a shorter interval measured no better). So an asynchronously submitted
  batch progresses while the caller compresses, decompresses or waits, not while it runs
  Python: the pipelined store measures like the synchronous one. This is why the ``native``
  engines exist: they need no GIL at all.

Errors: every page gets its own result, an ``int`` length or the exception
(:class:`~pyzswap.errors.CompressPoor` for a page that does not fit). A codec raising anything
other than a :class:`~pyzswap.errors.ZswapError` (an engine crash) becomes a
:class:`~pyzswap.errors.CompressFail` / :class:`~pyzswap.errors.DecompressFail` for that page,
with the original as ``__cause__``; the other pages complete and nothing hangs.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from queue import SimpleQueue
from time import thread_time
from typing import TYPE_CHECKING, Final, cast

from .. import _native
from ..errors import CompressFail, DecompressFail, InvalidParameter, ZswapError
from ._base import ZSWAP_MAX_BATCH_SIZE, Compressor, Transform
from ._registry import add_factory, get_compressor, has_compressor, register_compressor
from .deflate import DEFLATE
from .lz4 import LZ4, LZ4HC
from .lzo import LZO, LZO_RLE
from .native import (
    MAX_NATIVE_THREADS,
    NATIVE_MIN_PARALLEL_US,
    NativeBatchingTransform,
    NativeGate,
    native_engines,
    native_gates,
)
from .zstd import ZSTD

if TYPE_CHECKING:
    from .._types import BytesLike

__all__ = [
    "ENGINE_KINDS",
    "MAX_ENGINES",
    "PARALLEL_MIN_US",
    "BatchRequest",
    "BatchingCompressor",
    "BatchingTransform",
    "register_batching",
]

#: Engine implementations: ``native`` (C threads, no GIL; the stock algorithms) and
#: ``threads`` (Python threads running any registered algorithm's transform).
ENGINE_KINDS: Final = ("native", "threads")
#: The stock compressor classes whose algorithm has a native engine (same parameters).
_NATIVE_CLASSES: Final = (LZ4, LZ4HC, ZSTD, LZO, LZO_RLE, DEFLATE)

#: A batch is handed to engines only if its pages after the first are estimated to cost at least
#: this many µs of CPU in total. Measured on the 2-vCPU guest, batches of 8: pages of ~10 µs
#: (lz4, lzo) break even (x0.95-x1.1, noise decides), ~25-30 µs (zstd) gain x1.3-x1.45, ~2-9 µs
#: (lz4 or zstd decompression) lose down to x0.3. 120 keeps lz4 (7 x ~9 µs) inline with margin
#: against noisy samples and hands off zstd (7 x ~25 µs) and anything slower.
PARALLEL_MIN_US: Final = 120.0
#: Upper bound on engines per compressor (a sanity limit, far above any useful value).
MAX_ENGINES: Final = 256
#: How long one blocked wait lasts before it checks that an engine is still alive (seconds).
_STALL_CHECK_S: Final = 0.5
#: How long :meth:`BatchRequest.poll` gives the GIL away when all remaining pages are in flight.
_POLL_YIELD_S: Final = 50e-6
#: The per-page cost estimate is the median of this many recent samples.
_COST_SAMPLES: Final = 5

#: Claiming pages with a bare ``next()`` on a shared iterator relies on the GIL; a free-threaded
#: build (``sys._is_gil_enabled()`` false) takes a lock around each claim and count instead.
_GIL: Final = bool(getattr(sys, "_is_gil_enabled", lambda: True)())

#: How _route() sends a batch: the caller alone, engines, or the caller alone as a sampled probe
#: (keeps the cost estimate honest while batches are handed off).
_INLINE: Final = 0
_HANDOFF: Final = 1
_PROBE: Final = 2

_COMPRESS: Final = 0
_DECOMPRESS: Final = 1
_OPS: Final = ("compress", "decompress")
_FAILS: Final = (CompressFail, DecompressFail)

PageFn = Callable[["BytesLike", "bytearray | memoryview"], int]
Result = int | ZswapError


def _crash_error(op: int, exc: BaseException) -> ZswapError:
    """A codec failure that is not a ZswapError, as the per-page error (original as cause)."""
    err = _FAILS[op](f"{_OPS[op]}: the codec raised {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


class _Locked:  # pragma: no cover - free-threaded CPython only
    """An iterator whose ``next()`` takes a lock: what the GIL gives for free elsewhere."""

    __slots__ = ("_it", "_lock")

    def __init__(self, it: Iterator[int]) -> None:
        self._it = it
        self._lock = threading.Lock()

    def __iter__(self) -> _Locked:
        return self

    def __next__(self) -> int:
        with self._lock:
            return next(self._it)


class _Cost:
    """Per-page cost of one direction of one compressor: a quantile of recent samples (by
    default the median).

    A median, not a mean: the first page a fresh codec context runs can cost ~100x the rest
    (zstd allocates its workspace), and one such sample must not decide hundreds of batches.
    A lower ``quantile`` for figures that the host only ever makes worse (see
    :class:`~pyzswap.compress.native.NativeGate`). Shared by the compressor's transforms and
    updated without a lock: under the GIL each list operation is atomic, and a lost or
    reordered sample is harmless.
    """

    __slots__ = ("_next", "_quantile", "_samples", "value")

    def __init__(self, quantile: float = 0.5) -> None:
        self._samples: list[float] = []
        self._next = 0
        self._quantile = quantile
        self.value: float | None = None  # µs per page, None before the first sample

    @property
    def settled(self) -> bool:
        """Enough samples for the median to ignore a single outlier."""
        return len(self._samples) >= _COST_SAMPLES

    def add(self, sample: float) -> None:
        samples = self._samples
        if len(samples) < _COST_SAMPLES:
            samples.append(sample)
        else:
            samples[self._next % _COST_SAMPLES] = sample
            self._next += 1
        ordered = sorted(samples)
        self.value = ordered[int((len(ordered) - 1) * self._quantile + 0.5)]


class BatchRequest:
    """One batch in flight: the async handle of :meth:`BatchingTransform.submit_compress`.

    Protocol (the iaa_crypto async mode, in Python):

    * ``submit_*`` hands the batch to engines and returns at once; engines may already be
      writing the destinations. A batch that cannot pay for a hand-off (one page, cheap pages:
      see :data:`PARALLEL_MIN_US`) is the inline fallback: ``submit_*`` runs it on the caller
      and returns it complete.
    * :meth:`poll` returns True once every page has a result. If not, it compresses at most one
      unclaimed page itself (the caller's polling drives completion, so a poll loop makes
      progress instead of starving the engines of the GIL), or, if every remaining page is in an
      engine's hands, gives the GIL away for at most ~50 µs. It never blocks longer than that.
    * :meth:`wait` finishes the batch: the caller compresses every page no engine has claimed,
      then blocks until the engines' pages are done, and returns one result per page (an
      ``int`` length or the page's :class:`~pyzswap.errors.ZswapError`). It never raises per
      page. Calling it again returns the same list.
    * Results are valid only after completion. Until then the destinations are being written by
      engines and the caller must not touch (or reuse) the sources or the destinations.
    * ``poll`` and ``wait`` must be called by the owner of the submitting transform (the thread
      holding that compression context): they run pages on the owner's own codec context.
    """

    __slots__ = (
        "_claim", "_complete", "_done", "_dsts", "_finished", "_helper", "_helps", "_n", "_op",
        "_pool", "_results", "_srcs",
    )

    def __init__(self, op: int, srcs: Sequence[BytesLike],
                 dsts: Sequence[bytearray | memoryview], helper: PageFn,
                 pool: _EnginePool) -> None:
        n = len(srcs)
        if len(dsts) != n:
            raise InvalidParameter(
                f"a batch needs one destination per page: {n} sources, {len(dsts)} destinations")
        self._op = op
        self._srcs = srcs
        self._dsts = dsts
        self._n = n
        self._results: list[Result | None] = [None] * n
        self._claim: Iterator[int] = iter(range(n))  # shared by all: next() is atomic
        self._finished: Iterator[int] = itertools.count(1)  # likewise: finished pages
        if not _GIL:  # pragma: no cover - free-threaded CPython only
            self._claim, self._finished = _Locked(self._claim), _Locked(self._finished)
        #: Released once, by whoever finishes the last page; set by _engage() before any
        #: engine can see the request.
        self._done: threading.Lock | None = None
        self._complete = n == 0
        self._helper = helper
        self._helps = True  # False: engines do every page, the caller only waits
        self._pool = pool

    @classmethod
    def _completed(cls, op: int, results: list[Result]) -> BatchRequest:
        """A request whose pages the caller already ran inline (only the result fields)."""
        req = cls.__new__(cls)
        req._op, req._n, req._complete = op, len(results), True
        req._results = cast("list[Result | None]", results)
        return req

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        state = "complete" if self._complete else "in flight"
        return f"<BatchRequest {_OPS[self._op]} of {self._n} pages, {state}>"

    @property
    def done(self) -> bool:
        """True once every page has its result (no side effects, unlike :meth:`poll`)."""
        return self._complete

    # The loop every participant (engine or caller) runs: claim a page, do it, count it.
    def _run(self, fn: PageFn, limit: int | None = None) -> int:
        """Claim and process pages until none is left (or ``limit``); return how many."""
        srcs, dsts, results = self._srcs, self._dsts, self._results
        finished, n, op = self._finished, self._n, self._op
        claim = self._claim if limit is None else islice(self._claim, limit)
        count = 0
        for i in claim:
            try:
                results[i] = fn(srcs[i], dsts[i])
            except ZswapError as exc:
                results[i] = exc
            except Exception as exc:
                results[i] = _crash_error(op, exc)
            except BaseException as exc:
                # The thread is going down (KeyboardInterrupt in the caller, engine exit): still
                # account for the page so nobody waits for it, then let it propagate.
                results[i] = _crash_error(op, exc)
                self._page_finished(next(finished))
                raise
            if next(finished) == n:
                self._page_finished(n)
            count += 1
        return count

    def _page_finished(self, k: int) -> None:
        if k == self._n:
            self._complete = True
            if self._done is not None:
                self._done.release()

    def _engage(self, helps: bool) -> None:
        """Prepare for engines (before any engine can see the request)."""
        self._done = done = threading.Lock()
        done.acquire()
        self._helps = helps

    def poll(self) -> bool:
        """True if the batch is complete; otherwise help with one page (see the class doc)."""
        if self._complete:
            return True
        if not (self._helps and self._run(self._helper, 1)) and not self._complete:
            # Every remaining page is on an engine: let the GIL go so it can finish.
            done = self._done
            if done is not None:
                done.acquire(timeout=_POLL_YIELD_S)  # acquired only once complete
        return self._complete

    def wait(self) -> list[Result]:
        """Finish the batch (helping with unclaimed pages) and return one result per page."""
        if self._complete:
            return cast("list[Result]", self._results)
        if self._helps:
            self._run(self._helper)
        if not self._complete:
            self._block()
        return cast("list[Result]", self._results)

    def _block(self) -> None:
        """Sleep until the engines' last pages are done; never forever if they are gone."""
        done = self._done
        if done is None:  # pragma: no cover - not engaged, so the caller finished it
            return
        while not done.acquire(timeout=_STALL_CHECK_S):
            if self._complete:
                return
            if not self._pool.any_alive():
                # Engines closed or gone before taking this batch (engines-only mode, or a
                # submit racing close()): the caller does what nobody claimed.
                self._run(self._helper)
                if not self._complete:  # pragma: no cover - an engine vanished mid-page
                    self._abandon()
                return

    def _abandon(self) -> None:  # pragma: no cover - only if an engine thread vanished
        """Pages claimed by engines that died without unwinding: fail them."""
        lost = RuntimeError("the engine thread holding this page died")
        for i, r in enumerate(self._results):
            if r is None:
                self._results[i] = _crash_error(self._op, lost)
        self._complete = True


class _Engine:
    """One engine: a daemon thread with its own base transform and page counter."""

    __slots__ = ("alive", "index", "pages", "tfm", "thread")

    def __init__(self, index: int, tfm: Transform) -> None:
        self.index = index
        self.tfm = tfm
        self.pages = 0
        self.alive = True
        self.thread: threading.Thread | None = None


class _EnginePool:
    """The engines of one compressor and the queue they take batches from.

    Kept apart from :class:`BatchingCompressor` so that a ``weakref.finalize`` on the
    compressor can stop the threads without the threads keeping the compressor alive. Submits
    and :meth:`close` take :attr:`lock` (~0.1 µs uncontended), so a batch is never queued behind
    the stop sentinels; each generation of engines (between two closes) has its own queue.
    """

    def __init__(self, base: Compressor, count: int, label: str) -> None:
        self.base = base
        self.count = count
        self.label = label
        self.queue: SimpleQueue[BatchRequest | None] = SimpleQueue()
        self.engines: list[_Engine] = []
        self.lock = threading.Lock()
        self.ready = False  # all engines started and alive
        self.retired_pages = 0

    def _start_locked(self) -> None:
        """Start missing engines (first use, after :meth:`close`, or after an engine died)."""
        alive = [e for e in self.engines if e.alive]
        self.retired_pages += sum(e.pages for e in self.engines if not e.alive)
        used = {e.index for e in alive}
        for index in range(self.count):
            if index in used:
                continue
            engine = _Engine(index, self.base.new_transform())
            thread = threading.Thread(target=_engine_main, args=(self.queue, engine, self),
                                      name=f"{self.label}/engine{index}", daemon=True)
            engine.thread = thread
            alive.append(engine)
            thread.start()
        alive.sort(key=lambda e: e.index)
        self.engines = alive
        self.ready = True

    def submit(self, req: BatchRequest, nr: int) -> None:
        """Hand ``req`` to ``nr`` engines: one queue entry each, no per-page work."""
        with self.lock:
            if not self.ready:
                self._start_locked()
            put = self.queue.put
            for _ in range(nr):
                put(req)

    def any_alive(self) -> bool:
        return any(e.alive and e.thread is not None and e.thread.is_alive()
                   for e in self.engines)

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop every engine after the batches already queued; join the threads."""
        with self.lock:
            engines, self.engines = self.engines, []
            self.ready = False
            for _ in engines:
                self.queue.put(None)
            self.queue = SimpleQueue()  # the next generation's
        current = threading.current_thread()
        for e in engines:
            if e.thread is not None and e.thread is not current:
                e.thread.join(timeout)
        with self.lock:
            self.retired_pages += sum(e.pages for e in engines)


def _engine_main(queue: SimpleQueue[BatchRequest | None], engine: _Engine,
                 pool: _EnginePool) -> None:
    """An engine's life: take a batch, claim pages of it until none is left, repeat."""
    get = queue.get
    fns = (engine.tfm.compress, engine.tfm.decompress)
    try:
        while True:
            req = get()
            if req is None:
                engine.alive = False
                return
            engine.pages += req._run(fns[req._op])
    except BaseException:
        engine.alive = False
        pool.ready = False  # the next submit starts a replacement
        raise


class BatchingTransform(Transform):
    """A batching compressor's transform: the caller's own base context plus shared engines.

    ``compress``/``decompress`` of a single page run inline on the caller's base transform with
    no hand-off. ``compress_batch``/``decompress_batch`` are ``submit_*`` plus
    :meth:`BatchRequest.wait`. Like every transform it belongs to one compression context: one
    thread at a time uses it (engines are shared, the caller's context is not).
    """

    __slots__ = ("_base", "_costs", "_fns", "_helps", "_min_us", "_owner", "_per_batch", "_pool",
                 "_probe", "inline_batches", "parallel_batches")

    def __init__(self, owner: BatchingCompressor) -> None:
        self._owner = owner  # keeps the compressor (and so its engines) alive while in use
        self._base = owner.base.new_transform()
        self._fns: tuple[PageFn, PageFn] = (self._base.compress, self._base.decompress)
        self._pool = owner._pool
        self._costs = owner._costs
        self._per_batch = owner.engines_per_batch
        self._helps = owner.caller_helps
        self._min_us = owner.min_parallel_us
        #: Batches handed to engines / run by the caller alone (statistics).
        self.parallel_batches = 0
        self.inline_batches = 0
        self._probe = 0  # batches that qualified for a hand-off (every 64th is a probe)

    @property
    def base(self) -> Transform:
        """The caller's own base transform (single pages and the caller's share of batches)."""
        return self._base

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        return self._fns[_COMPRESS](src, dst)

    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        return self._fns[_DECOMPRESS](src, dst)

    def compress_batch(self, srcs: Sequence[BytesLike],
                       dsts: Sequence[bytearray | memoryview]) -> list[Result]:
        """Compress a batch on the engines and the caller; one length or error per page."""
        way = self._route(_COMPRESS, len(srcs))
        if way == _HANDOFF:
            return self._handoff(_COMPRESS, srcs, dsts).wait()
        return self._inline(_COMPRESS, srcs, dsts, way == _PROBE)

    def decompress_batch(self, srcs: Sequence[BytesLike],
                         dsts: Sequence[bytearray | memoryview]) -> list[Result]:
        """Decompress a batch on the engines and the caller; one length or error per page."""
        way = self._route(_DECOMPRESS, len(srcs))
        if way == _HANDOFF:
            return self._handoff(_DECOMPRESS, srcs, dsts).wait()
        return self._inline(_DECOMPRESS, srcs, dsts, way == _PROBE)

    def submit_compress(self, srcs: Sequence[BytesLike],
                        dsts: Sequence[bytearray | memoryview]) -> BatchRequest:
        """Start compressing a batch and return at once (see :class:`BatchRequest`)."""
        return self._submit(_COMPRESS, srcs, dsts)

    def submit_decompress(self, srcs: Sequence[BytesLike],
                          dsts: Sequence[bytearray | memoryview]) -> BatchRequest:
        """Start decompressing a batch and return at once (see :class:`BatchRequest`)."""
        return self._submit(_DECOMPRESS, srcs, dsts)

    def _submit(self, op: int, srcs: Sequence[BytesLike],
                dsts: Sequence[bytearray | memoryview]) -> BatchRequest:
        way = self._route(op, len(srcs))
        if way == _HANDOFF:
            return self._handoff(op, srcs, dsts)
        # The fallback: the caller runs the batch now; what it returns is already complete.
        return BatchRequest._completed(op, self._inline(op, srcs, dsts, way == _PROBE))

    def _route(self, op: int, n: int) -> int:
        """Hand the batch off, or run it inline because a hand-off cannot pay.

        Inline when: one page; or the measured per-page cost says the pages after the first
        cost less than ``min_parallel_us``; or this is every 64th batch that would be handed
        off, run inline as a probe. The estimate is only ever sampled on inline batches (see
        :class:`_Cost`): pages timed beside a busy engine run ~30% slower, and letting them
        feed the estimate would keep batches handed off that do not pay.
        """
        if n < 2:
            return _INLINE
        min_us = self._min_us
        if not min_us:
            return _HANDOFF
        est = self._costs[op].value
        if est is None or est * (n - 1) < min_us:
            return _INLINE
        self._probe = k = self._probe + 1
        return _HANDOFF if k & 63 else _PROBE

    def _handoff(self, op: int, srcs: Sequence[BytesLike],
                 dsts: Sequence[bytearray | memoryview]) -> BatchRequest:
        req = BatchRequest(op, srcs, dsts, self._fns[op], self._pool)
        self.parallel_batches += 1
        helps = self._helps
        req._engage(helps)
        self._pool.submit(req, min(len(srcs) - 1 if helps else len(srcs), self._per_batch))
        return req

    def _inline(self, op: int, srcs: Sequence[BytesLike],
                dsts: Sequence[bytearray | memoryview], sample: bool) -> list[Result]:
        """The caller alone, with no claims and no lock: as lean as the base class's loop."""
        n = len(srcs)
        if len(dsts) != n:
            raise InvalidParameter(
                f"a batch needs one destination per page: {n} sources, {len(dsts)} destinations")
        self.inline_batches = k = self.inline_batches + 1
        fn = self._fns[op]
        cost = self._costs[op]
        sample = sample or not k & 15 or not cost.settled
        t0 = thread_time() if sample else 0.0
        results: list[Result] = []
        append = results.append
        for src, dst in zip(srcs, dsts):  # noqa: B905 - lengths checked above
            try:
                append(fn(src, dst))
            except ZswapError as exc:
                append(exc)
            except Exception as exc:
                append(_crash_error(op, exc))
        if sample and n:
            # CPU time of this thread: what the pages cost, whatever else runs.
            cost.add((thread_time() - t0) * 1e6 / n)
        return results


class BatchingCompressor(Compressor):
    """A registered algorithm run as a batching compressor on ``engines`` engine threads.

    ``name`` is ``f"{base}-x{engines}"`` (``zstd-x2``) and ``batch_size`` is
    ``ZSWAP_MAX_BATCH_SIZE`` unless another ``batch_size`` (1..ZSWAP_MAX_BATCH_SIZE) is given:
    then the name is ``f"{base}-x{engines}-b{batch_size}"``. The output is exactly the base
    algorithm's.
    ``engines_per_batch`` is how many engines one batch is handed to, besides the caller
    (default: one fewer than the CPUs, at least 1, at most ``engines``); the other engines
    serve other callers.
    ``min_parallel_us`` is the hand-off threshold (:data:`PARALLEL_MIN_US`); 0 hands off every
    batch of two pages or more, even before the first cost sample (tests, measurements).
    ``caller_helps=False`` makes engines do every page of a handed-off batch while the caller
    only waits (then ``engines_per_batch`` defaults to all engines); it is slower here (see the
    benchmark) and exists to measure that, and for callers that must not run codec work.
    """

    batch_size = ZSWAP_MAX_BATCH_SIZE

    def __init__(self, base: str | Compressor, engines: int | None = None, *,
                 engines_per_batch: int | None = None,
                 min_parallel_us: float | None = None, caller_helps: bool = True,
                 batch_size: int = ZSWAP_MAX_BATCH_SIZE, engine: str | None = None) -> None:
        base_c = get_compressor(base) if isinstance(base, str) else base
        if isinstance(base_c, BatchingCompressor):
            raise InvalidParameter(f"{base_c.name!r} is already a batching compressor")
        cpus = os.cpu_count() or 1
        n = cpus if engines is None else engines
        if type(n) is not int or not 1 <= n <= MAX_ENGINES:
            raise InvalidParameter(f"engines must be an int in 1..{MAX_ENGINES}, got {n!r}")
        if engines_per_batch is not None:
            per = engines_per_batch
        else:
            per = max(1, min(n, cpus - 1)) if caller_helps else n
        if type(per) is not int or not 1 <= per <= n:
            raise InvalidParameter(f"engines_per_batch must be an int in 1..{n}, got {per!r}")
        if type(batch_size) is not int or not 1 <= batch_size <= ZSWAP_MAX_BATCH_SIZE:
            raise InvalidParameter(
                f"batch_size must be an int in 1..{ZSWAP_MAX_BATCH_SIZE}, got {batch_size!r}")
        # Compressor.name/description/batch_size are class-level for fixed algorithms; a
        # batching compressor is parameterised, so they live on the instance.
        suffix = "" if batch_size == ZSWAP_MAX_BATCH_SIZE else f"-b{batch_size}"
        self.__dict__["name"] = f"{base_c.name}-x{n}{suffix}"
        self.__dict__["batch_size"] = batch_size
        self.__dict__["description"] = (
            f"{base_c.name} batched on {n} engine thread{'s' if n != 1 else ''}"
            + (f", {batch_size} pages per batch" if suffix else ""))
        self.base = base_c
        self.engines = n
        self.engines_per_batch = per
        self.caller_helps = bool(caller_helps)
        native_ok = type(base_c) in _NATIVE_CLASSES and caller_helps
        if engine is None:
            engine = "native" if native_ok else "threads"
        if engine not in ENGINE_KINDS:
            raise InvalidParameter(f"engine must be one of {', '.join(ENGINE_KINDS)}, "
                                   f"got {engine!r}")
        if engine == "native" and not native_ok:
            raise InvalidParameter(f"no native engine for {base_c.name!r} (native: the stock "
                                   "lz4, lz4hc, zstd, lzo, lzo-rle and deflate, with the caller "
                                   "helping)")
        if engine == "native" and n > MAX_NATIVE_THREADS:
            raise InvalidParameter(f"{base_c.name}-x{n}: a native batching compressor runs at "
                                   f"most {MAX_NATIVE_THREADS} engine threads")
        #: ``native`` (C engine threads, no GIL) or ``threads`` (Python engine threads).
        self.engine = engine
        if min_parallel_us is None:
            min_parallel_us = NATIVE_MIN_PARALLEL_US if engine == "native" else PARALLEL_MIN_US
        if not min_parallel_us >= 0:
            raise InvalidParameter(f"min_parallel_us must be >= 0, got {min_parallel_us!r}")
        self.min_parallel_us = float(min_parallel_us)
        #: One page's measured cost, per direction (compress, decompress), shared by the
        #: transforms (see _Cost).
        self._costs = (_Cost(), _Cost())
        self._pool = _EnginePool(base_c, n, self.name)
        self._finalizer = weakref.finalize(self, self._pool.close, 1.0)
        self._native = native_engines(base_c.name, n) if engine == "native" else None
        self._gates = native_gates(base_c.name, _Cost)

    def new_transform(self) -> BatchingTransform | NativeBatchingTransform:
        if self._native is not None:
            return NativeBatchingTransform(self)
        return BatchingTransform(self)

    @property
    def native(self) -> _native.Engines:
        """The C engines (``engine == "native"`` only)."""
        if self._native is None:
            raise InvalidParameter(f"{self.name} runs on Python engine threads, not native ones")
        return self._native

    @property
    def native_gates(self) -> tuple[NativeGate, NativeGate]:
        """When native jobs wake the engines, per direction (see :class:`NativeGate`)."""
        return self._gates

    @property
    def started(self) -> bool:
        """True while engine threads are running."""
        if self._native is not None:
            return self._native.live > 0
        return any(e.alive for e in self._pool.engines)

    @property
    def live_engines(self) -> int:
        """Engine threads running now (native or Python)."""
        if self._native is not None:
            return self._native.live
        return len(self.threads())

    def threads(self) -> list[threading.Thread]:
        """The live Python engine threads (for tests and diagnostics; native engines are C
        threads: see :attr:`live_engines`)."""
        return [e.thread for e in self._pool.engines
                if e.thread is not None and e.thread.is_alive()]

    @property
    def engine_pages(self) -> int:
        """Pages processed by engines (not the callers) since creation."""
        if self._native is not None:
            return self._native.engine_pages
        pool = self._pool
        return pool.retired_pages + sum(e.pages for e in pool.engines)

    def page_cost_us(self) -> dict[str, float | None]:
        """The measured per-page CPU cost estimates that decide inline vs handed-off batches."""
        costs = [g.cpu for g in self._gates] if self._native is not None else self._costs
        return {name: cost.value for name, cost in zip(_OPS, costs, strict=True)}

    def close(self) -> None:
        """Stop the engine threads (after any batches already queued). Safe to call twice;
        a later batch starts them again."""
        self._pool.close()
        if self._native is not None:
            self._native.close()

    def __enter__(self) -> BatchingCompressor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def register_batching(base: str | Compressor, engines: int | None = None, *,
                      engines_per_batch: int | None = None,
                      batch_size: int = ZSWAP_MAX_BATCH_SIZE,
                      engine: str | None = None) -> BatchingCompressor:
    """Create ``BatchingCompressor(base, engines)`` and register it under ``{base}-x{engines}``.

    Raises :class:`~pyzswap.errors.InvalidParameter` if that name is taken. Unregister with
    ``unregister_compressor(c.name)`` and stop the threads with ``c.close()``.
    """
    compressor = BatchingCompressor(base, engines, engines_per_batch=engines_per_batch,
                                    batch_size=batch_size, engine=engine)
    register_compressor(compressor)
    return compressor


#: ``{base}-x{engines}`` or ``{base}-x{engines}-b{batch_size}``: a batching compressor's name
#: (the base may hold hyphens itself: ``lzo-rle-x2``).
_BATCHING_NAME: Final = re.compile(r"(?P<base>[a-z0-9]+(?:-[a-z0-9]+)*?)"
                                   r"-x(?P<engines>[1-9][0-9]{0,2})(?:-b(?P<batch>[1-9][0-9]*))?")


def _batching_on_demand(name: str) -> BatchingCompressor | None:
    """Make ``zstd-x2`` (or ``zstd-x2-b4``) the first time the name is used, as the kernel's
    crypto API loads an algorithm on first request, so ``compressor=zstd-x2`` just works."""
    m = _BATCHING_NAME.fullmatch(name)
    if m is None or not has_compressor(m["base"]):
        return None
    engines = int(m["engines"])
    base = get_compressor(m["base"])
    batch = int(m["batch"]) if m["batch"] else ZSWAP_MAX_BATCH_SIZE
    if engines > MAX_ENGINES or isinstance(base, BatchingCompressor) or not (
            1 <= batch <= ZSWAP_MAX_BATCH_SIZE):
        return None
    made = BatchingCompressor(base, engines, batch_size=batch)
    return made if made.name == name else None


add_factory(_batching_on_demand,
            "batching: NAME-xENGINES or NAME-xENGINES-bBATCH, e.g. zstd-x2, lz4-x2-b4")
