"""Batching compressors on engine threads: the batch contract, async protocol, threads, errors."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from pyzswap.compress import (
    PAGE_SIZE,
    ZSWAP_MAX_BATCH_SIZE,
    Compressor,
    Transform,
    available_compressors,
    get_compressor,
    has_compressor,
    unregister_compressor,
)
from pyzswap.compress import batching as batching_mod
from pyzswap.compress.batching import (
    BatchingCompressor,
    BatchingTransform,
    BatchRequest,
    register_batching,
)
from pyzswap.errors import (
    CompressFail,
    CompressPoor,
    DecompressFail,
    InvalidParameter,
    UnknownCompressor,
    ZswapError,
)
from pyzswap.tools.pagesets import make_pages

from ..conftest import COMPRESSORS, random_page, text_page

#: Never hand off (everything on the caller) / always hand off (every batch of 2+ pages).
INLINE = 1e18
FORCED = 0.0


def folio(n: int, seed: int = 0) -> memoryview:
    """``n`` realistic pages in one buffer, the way zswap slices a large folio."""
    return memoryview(make_pages("real", n, seed=seed))


def compressible_folio(n: int, seed: int = 0) -> memoryview:
    """Like :func:`folio`, with the rare incompressible page replaced by text."""
    buf = bytearray(make_pages("real", n, seed=seed))
    probes = [get_compressor(name).new_transform() for name in COMPRESSORS]
    for i in range(n):
        page = bytes(buf[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
        try:
            for tfm in probes:
                tfm.compress(page, bytearray(PAGE_SIZE))
        except CompressPoor:
            buf[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] = text_page(seed * 1000 + i)
    return memoryview(bytes(buf))


def pages_of(buf: memoryview) -> list[memoryview]:
    return [buf[i:i + PAGE_SIZE] for i in range(0, buf.nbytes, PAGE_SIZE)]


def dst_pages(n: int) -> list[memoryview]:
    """Destinations as memoryviews of one large buffer (like per-CPU buffers)."""
    big = memoryview(bytearray(n * PAGE_SIZE))
    return [big[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n)]


def streams(results: Sequence[int | ZswapError], dsts: Sequence[memoryview]) -> list[bytes]:
    out = []
    for r, d in zip(results, dsts, strict=True):
        assert isinstance(r, int), r
        out.append(bytes(d[:r]))
    return out


@pytest.fixture
def batching() -> Iterator[list[BatchingCompressor]]:
    """Compressors a test creates; every one is closed (threads joined) afterwards."""
    made: list[BatchingCompressor] = []
    yield made
    for c in made:
        c.close()
        assert not c.threads()


def make(made: list[BatchingCompressor], base: str | Compressor, engines: int = 2,
         **kw: Any) -> BatchingCompressor:
    c = BatchingCompressor(base, engines, **{"engine": "threads", **kw})
    made.append(c)
    return c


# ---------------------------------------------------------------- round trips, exactness ----
@pytest.mark.parametrize("name", COMPRESSORS)
@pytest.mark.parametrize("min_us", [FORCED, None], ids=["handed-off", "adaptive"])
def test_round_trip_is_byte_exact_and_identical_to_the_base(
        batching: list[BatchingCompressor], name: str, min_us: float | None) -> None:
    kw: dict[str, Any] = {} if min_us is None else {"min_parallel_us": min_us}
    tfm = make(batching, name, **kw).new_transform()
    base = get_compressor(name).new_transform()
    src = folio(24)
    pages = pages_of(src)
    for start in range(0, len(pages), ZSWAP_MAX_BATCH_SIZE):
        batch = pages[start:start + ZSWAP_MAX_BATCH_SIZE]
        dsts = dst_pages(len(batch))
        results = tfm.compress_batch(batch, dsts)
        assert len(results) == len(batch)
        kept, srcs = [], []
        for page, r, d in zip(batch, results, dsts, strict=True):
            ref = bytearray(PAGE_SIZE)
            try:
                n = base.compress(page, ref)
            except CompressPoor:  # the page set has a few incompressible pages
                assert isinstance(r, CompressPoor)
                continue
            assert r == n
            assert bytes(d[:n]) == bytes(ref[:n])
            kept.append(page)
            srcs.append(bytes(d[:n]))
        assert len(kept) >= len(batch) // 2
        outs = dst_pages(len(kept))
        assert tfm.decompress_batch(srcs, outs) == [PAGE_SIZE] * len(kept)
        assert [bytes(o) for o in outs] == [bytes(p) for p in kept]


@pytest.mark.parametrize("name", COMPRESSORS)
def test_incompressible_page_in_the_middle_gets_compress_poor(
        batching: list[BatchingCompressor], name: str) -> None:
    tfm = make(batching, name, min_parallel_us=FORCED).new_transform()
    batch: list[bytes | memoryview] = [text_page(i) for i in range(7)]
    batch.insert(3, random_page(99))
    dsts = dst_pages(len(batch))
    results = tfm.compress_batch(batch, dsts)
    assert isinstance(results[3], CompressPoor)
    good = [i for i in range(len(batch)) if i != 3]
    lengths = [results[i] for i in good]
    assert all(isinstance(n, int) and 0 < n < PAGE_SIZE for n in lengths)
    srcs = streams(lengths, [dsts[i] for i in good])
    outs = dst_pages(len(good))
    assert tfm.decompress_batch(srcs, outs) == [PAGE_SIZE] * len(good)
    assert [bytes(o) for o in outs] == [bytes(batch[i]) for i in good]


def test_corrupt_stream_fails_only_its_page(batching: list[BatchingCompressor]) -> None:
    tfm = make(batching, "lz4", min_parallel_us=FORCED).new_transform()
    pages = [text_page(i) for i in range(4)]
    dsts = dst_pages(4)
    srcs = streams(tfm.compress_batch(pages, dsts), dsts)
    srcs[2] = b"\xff" * 64
    outs = dst_pages(4)
    results = tfm.decompress_batch(srcs, outs)
    assert isinstance(results[2], DecompressFail)
    assert [results[i] for i in (0, 1, 3)] == [PAGE_SIZE] * 3
    assert [bytes(outs[i]) for i in (0, 1, 3)] == [pages[i] for i in (0, 1, 3)]


def test_bytes_sources_and_bytearray_destinations(batching: list[BatchingCompressor]) -> None:
    # python-lzo takes only bytes: its transform converts memoryviews; plain bytes pass as is.
    tfm = make(batching, "lzo", min_parallel_us=FORCED).new_transform()
    pages = [bytes(p) for p in pages_of(compressible_folio(8))]
    dsts = [bytearray(PAGE_SIZE) for _ in pages]
    results = tfm.compress_batch(pages, dsts)
    outs = [bytearray(PAGE_SIZE) for _ in pages]
    tfm.decompress_batch(streams(results, [memoryview(d) for d in dsts]), outs)
    assert outs == [bytearray(p) for p in pages]


def test_batch_size_and_empty_batches(batching: list[BatchingCompressor]) -> None:
    c = make(batching, "lz4")
    assert c.batch_size == ZSWAP_MAX_BATCH_SIZE
    tfm = c.new_transform()
    assert tfm.compress_batch([], []) == []
    req = tfm.submit_compress([], [])
    assert req.done and req.poll() and req.wait() == []
    with pytest.raises(InvalidParameter, match="destination"):
        tfm.compress_batch([text_page(0)] * 2, [bytearray(PAGE_SIZE)])


def test_larger_than_batch_size_is_accepted(batching: list[BatchingCompressor]) -> None:
    # zswap passes at most batch_size pages, but nothing breaks with more (reclaim's 32).
    tfm = make(batching, "zstd", min_parallel_us=FORCED).new_transform()
    pages = pages_of(compressible_folio(32, seed=3))
    dsts = dst_pages(32)
    outs = dst_pages(32)
    tfm.decompress_batch(streams(tfm.compress_batch(pages, dsts), dsts), outs)
    assert [bytes(o) for o in outs] == [bytes(p) for p in pages]


# ---------------------------------------------------------------- inline / hand-off policy --
def test_batch_of_one_runs_inline_without_starting_engines(
        batching: list[BatchingCompressor]) -> None:
    c = make(batching, "zstd", min_parallel_us=FORCED)
    tfm = c.new_transform()
    page = text_page(1)
    for _ in range(5):
        dst = bytearray(PAGE_SIZE)
        [n] = tfm.compress_batch([page], [dst])
        assert isinstance(n, int)
        out = bytearray(PAGE_SIZE)
        assert tfm.decompress_batch([bytes(dst[:n])], [out]) == [PAGE_SIZE]
        assert out == page
    assert tfm.compress(page, bytearray(PAGE_SIZE)) > 0  # single-page calls: inline too
    assert not c.started and not c.threads()
    assert tfm.parallel_batches == 0 and tfm.inline_batches == 10
    assert c.engine_pages == 0


def test_single_page_errors_follow_the_batch_rules(batching: list[BatchingCompressor]) -> None:
    tfm = make(batching, "lz4").new_transform()
    [r] = tfm.compress_batch([random_page(1)], [bytearray(PAGE_SIZE)])
    assert isinstance(r, CompressPoor)
    with pytest.raises(CompressPoor):  # the single-page call keeps the Transform contract
        tfm.compress(random_page(1), bytearray(PAGE_SIZE))


def test_first_batch_is_measured_inline_then_cheap_batches_stay_inline(
        batching: list[BatchingCompressor]) -> None:
    c = make(batching, "lz4", min_parallel_us=1e6)  # a threshold no lz4 batch reaches
    tfm = c.new_transform()
    assert c.page_cost_us() == {"compress": None, "decompress": None}
    pages = pages_of(compressible_folio(16))
    for start in (0, 8):
        tfm.compress_batch(pages[start:start + 8], dst_pages(8))
    cost = c.page_cost_us()["compress"]
    assert cost is not None and cost > 0
    assert tfm.parallel_batches == 0 and not c.started


def test_expensive_batches_are_handed_off_after_the_first(
        batching: list[BatchingCompressor]) -> None:
    c = make(batching, "deflate", min_parallel_us=1.0)  # deflate: ~100+ µs a page
    tfm = c.new_transform()
    pages = pages_of(compressible_folio(16))
    for start in (0, 8):
        tfm.compress_batch(pages[start:start + 8], dst_pages(8))
    assert tfm.inline_batches == 1 and tfm.parallel_batches == 1
    assert c.started


def test_engines_only_mode_leaves_every_page_to_the_engines(
        batching: list[BatchingCompressor]) -> None:
    c = make(batching, "zstd", min_parallel_us=FORCED, caller_helps=False)
    assert c.engines_per_batch == 2
    tfm = c.new_transform()
    pages = pages_of(compressible_folio(16, seed=2))
    dsts, outs = dst_pages(16), dst_pages(16)
    req = tfm.submit_compress(pages, dsts)
    while not req.poll():  # poll only checks (and lets the GIL go): engines do the work
        pass
    tfm.decompress_batch(streams(req.wait(), dsts), outs)
    assert [bytes(o) for o in outs] == [bytes(p) for p in pages]
    c.close()  # joins the engines, so their page counts are final
    assert c.engine_pages == 32


def test_every_64th_handed_off_batch_is_an_inline_probe(
        batching: list[BatchingCompressor]) -> None:
    # Costs are sampled only on inline batches, so a handed-off stream keeps sampling through
    # probes (otherwise one bad estimate could keep cheap batches handed off for good).
    c = make(batching, "lz4", min_parallel_us=1e-9)  # any measured cost qualifies
    tfm = c.new_transform()
    pages = [text_page(i) for i in range(2)]
    for _ in range(1 + 64):
        tfm.compress_batch(pages, dst_pages(2))
    assert (tfm.inline_batches, tfm.parallel_batches) == (2, 63)


# ---------------------------------------------------------------- async protocol ------------
def test_async_submit_poll_wait(batching: list[BatchingCompressor]) -> None:
    tfm = make(batching, "zstd", min_parallel_us=FORCED).new_transform()
    base = get_compressor("zstd").new_transform()
    pages = pages_of(compressible_folio(8, seed=5))
    dsts = dst_pages(8)
    req = tfm.submit_compress(pages, dsts)
    assert isinstance(req, BatchRequest) and len(req) == 8
    polls = 0
    while not req.poll():  # each poll does a page or yields the GIL: no busy starvation
        polls += 1
        assert polls < 10_000
    assert req.done
    results = req.wait()
    assert req.wait() is results  # idempotent
    for page, r, d in zip(pages, results, dsts, strict=True):
        ref = bytearray(PAGE_SIZE)
        assert r == base.compress(page, ref) and bytes(d[:r]) == bytes(ref[:r])
    outs = dst_pages(8)
    dreq = tfm.submit_decompress(streams(results, dsts), outs)
    assert dreq.wait() == [PAGE_SIZE] * 8
    assert [bytes(o) for o in outs] == [bytes(p) for p in pages]
    assert "complete" in repr(dreq)


def test_an_inline_submission_is_complete_at_once(batching: list[BatchingCompressor]) -> None:
    # When a hand-off cannot pay, submit runs the batch on the caller (the inline fallback).
    c = make(batching, "lz4", min_parallel_us=INLINE)
    tfm = c.new_transform()
    pages = [text_page(i) for i in range(5)] + [random_page(5)]
    req = tfm.submit_compress(pages, dst_pages(6))
    assert req.done and req.poll() and len(req) == 6
    results = req.wait()
    assert all(isinstance(r, int) for r in results[:5]) and isinstance(results[5], CompressPoor)
    assert tfm.inline_batches == 1 and tfm.parallel_batches == 0 and not c.started


def test_poll_helps_one_page_at_a_time(batching: list[BatchingCompressor]) -> None:
    # An engine needs tens of µs to wake; meanwhile each poll() runs one page on the caller.
    c = make(batching, "deflate", engines=1, min_parallel_us=FORCED)
    tfm = c.new_transform()
    pages = pages_of(compressible_folio(8, seed=4))
    req = tfm.submit_compress(pages, dst_pages(8))
    longest = 0.0
    while True:
        t0 = time.perf_counter()
        complete = req.poll()
        longest = max(longest, time.perf_counter() - t0)
        if complete:
            break
    assert longest < 0.5  # one page or a ~50 µs yield per poll, never the whole batch
    assert all(isinstance(r, int) for r in req.wait())


def test_pipelined_submissions_overlap(batching: list[BatchingCompressor]) -> None:
    # zswap's planned store: submit k+1, do batch k's per-page work, then wait for k+1.
    tfm = make(batching, "zstd", min_parallel_us=FORCED).new_transform()
    pages = pages_of(compressible_folio(64, seed=7))
    bufs = [dst_pages(8), dst_pages(8)]
    stored: list[bytes] = []
    results = tfm.submit_compress(pages[:8], bufs[0]).wait()
    for k, start in enumerate(range(8, 72, 8)):
        nxt = tfm.submit_compress(pages[start:start + 8], bufs[(k + 1) % 2]) \
            if start < 64 else None
        stored.extend(streams(results, bufs[k % 2]))  # "zsmalloc" copies batch k out
        if nxt is not None:
            results = nxt.wait()
    outs = dst_pages(64)
    for start in range(0, 64, 8):
        tfm.decompress_batch(stored[start:start + 8], outs[start:start + 8])
    assert [bytes(o) for o in outs] == [bytes(p) for p in pages]


# ---------------------------------------------------------------- threads -------------------
def test_many_callers_share_the_engines(batching: list[BatchingCompressor]) -> None:
    c = make(batching, "zstd", min_parallel_us=FORCED)
    data = pages_of(compressible_folio(64, seed=11))
    expected = []
    base = get_compressor("zstd").new_transform()
    for page in data:
        ref = bytearray(PAGE_SIZE)
        n = base.compress(page, ref)
        expected.append(bytes(ref[:n]))
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def caller(seed: int) -> None:
        tfm = c.new_transform()  # one transform per caller, as per CPU context
        try:
            barrier.wait()
            for rnd in range(6):
                off = (seed * 8 + rnd * 16) % 64
                batch = data[off:off + 8]
                dsts = dst_pages(len(batch))
                got = streams(tfm.compress_batch(batch, dsts), dsts)
                assert got == expected[off:off + 8]
                outs = dst_pages(len(batch))
                assert tfm.decompress_batch(got, outs) == [PAGE_SIZE] * len(batch)
                assert [bytes(o) for o in outs] == [bytes(p) for p in batch]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(c.threads()) == 2


def test_close_stops_the_threads_and_a_later_batch_restarts_them(
        batching: list[BatchingCompressor]) -> None:
    c = make(batching, "lz4", min_parallel_us=FORCED)
    assert not c.started and not c.threads()  # creating a compressor starts nothing
    tfm = c.new_transform()
    pages = pages_of(compressible_folio(8))
    tfm.compress_batch(pages, dst_pages(8))
    threads = c.threads()
    assert len(threads) == 2 and all(t.daemon for t in threads)
    assert sorted(t.name for t in threads) == ["lz4-x2/engine0", "lz4-x2/engine1"]
    c.close()
    assert not any(t.is_alive() for t in threads)
    assert not c.started and not c.threads()
    c.close()  # twice is fine
    assert all(isinstance(r, int) for r in tfm.compress_batch(pages, dst_pages(8)))
    assert len(c.threads()) == 2


def test_engines_stop_when_the_compressor_is_collected() -> None:
    c = BatchingCompressor("lz4", 2, min_parallel_us=FORCED, engine="threads")
    tfm = c.new_transform()
    tfm.compress_batch(pages_of(compressible_folio(8)), dst_pages(8))
    threads = c.threads()
    assert threads
    del c, tfm
    gc.collect()
    assert not any(t.is_alive() for t in threads)


# ---------------------------------------------------------------- crashes -------------------
class _Flaky(Compressor):
    """lz4, except that pages run by engine threads raise ``exc`` (a crashing engine).

    The caller's first page blocks until an engine has crashed on a page, so an engine is sure
    to take part (an Event wait, not a sleep).
    """

    name = "flaky-test"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.crashed = threading.Event()

    def new_transform(self) -> Transform:
        flaky, lz4 = self, get_compressor("lz4").new_transform()

        class _T(Transform):
            def compress(self, src: Any, dst: Any) -> int:
                if "/engine" in threading.current_thread().name:
                    flaky.crashed.set()
                    raise flaky.exc
                flaky.crashed.wait(5.0)
                return lz4.compress(src, dst)

            def decompress(self, src: Any, dst: Any) -> int:
                return lz4.decompress(src, dst)

        return _T()


def test_engine_exception_becomes_that_pages_error(batching: list[BatchingCompressor]) -> None:
    flaky = _Flaky(RuntimeError("codec exploded"))
    tfm = make(batching, flaky, engines=1, min_parallel_us=FORCED).new_transform()
    pages = [text_page(i) for i in range(8)]
    results = tfm.compress_batch(pages, dst_pages(8))
    assert flaky.crashed.is_set()
    bad = [r for r in results if isinstance(r, CompressFail)]
    assert bad and all(isinstance(r.__cause__, RuntimeError) for r in bad)
    assert "codec exploded" in str(bad[0])
    assert all(isinstance(r, int | CompressFail) for r in results)
    assert any(isinstance(r, int) for r in results)  # the caller's pages are fine


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_dying_engine_neither_hangs_the_batch_nor_stays_dead(
        batching: list[BatchingCompressor]) -> None:
    flaky = _Flaky(SystemExit("engine thread killed"))  # ends the engine thread
    c = make(batching, flaky, engines=1, min_parallel_us=FORCED)
    tfm = c.new_transform()
    pages = [text_page(i) for i in range(8)]
    first = c  # keep a name for the thread list
    results = tfm.compress_batch(pages, dst_pages(8))
    assert len(results) == 8 and all(r is not None for r in results)
    assert any(isinstance(r, CompressFail) for r in results)
    for t in first._pool.engines:  # the engine's thread has ended
        assert t.thread is not None
        t.thread.join(5.0)
        assert not t.thread.is_alive()
    flaky.exc = RuntimeError("again")
    results = tfm.compress_batch(pages, dst_pages(8))  # a replacement engine is started
    assert len(c.threads()) == 1
    assert all(isinstance(r, int | CompressFail) for r in results)


def test_a_lost_hand_off_does_not_hang_the_caller(batching: list[BatchingCompressor],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Engines-only mode, and the batch never reaches an engine (as if every engine were gone):
    # the wait notices no live engine and the caller runs the pages itself.
    monkeypatch.setattr(batching_mod, "_STALL_CHECK_S", 0.01)
    c = make(batching, "lz4", min_parallel_us=FORCED, caller_helps=False)
    tfm = c.new_transform()
    monkeypatch.setattr(c._pool, "submit", lambda req, nr: None)
    pages = [text_page(i) for i in range(4)]
    dsts = dst_pages(4)
    results = tfm.compress_batch(pages, dsts)
    outs = dst_pages(4)
    assert tfm.decompress_batch(streams(results, dsts), outs) == [PAGE_SIZE] * 4
    assert [bytes(o) for o in outs] == pages


# ---------------------------------------------------------------- naming, registry ----------
def test_registry_naming_and_description() -> None:
    c = register_batching("zstd", 2)
    try:
        assert c.name == "zstd-x2" and has_compressor("zstd-x2")
        assert get_compressor("zstd-x2") is c
        assert c.description == "zstd batched on 2 engine threads"
        assert c.batch_size == ZSWAP_MAX_BATCH_SIZE and c.engines == 2
        assert "IAA" not in c.name + c.description
        assert c.engine == "native"  # zstd has a C engine (tests/compress/test_native.py)
        assert isinstance(BatchingCompressor("zstd", 2, engine="threads").new_transform(),
                          BatchingTransform)
        with pytest.raises(InvalidParameter, match="already registered"):
            register_batching("zstd", 2)
    finally:
        unregister_compressor("zstd-x2")
        c.close()
    assert "zstd-x2" not in available_compressors()
    # the name alone makes one on first use, as the crypto API loads a module on demand
    assert has_compressor("zstd-x2") and get_compressor("zstd-x2") is not c
    made = get_compressor("lzo-x3-b4")
    assert isinstance(made, BatchingCompressor) and (made.engines, made.batch_size) == (3, 4)
    for bad in ("lz5-x2", "zstd-x0", "zstd-x2-b9", "zstd-x2-x2", "zstd-x02"):
        assert not has_compressor(bad)
        with pytest.raises(UnknownCompressor):
            get_compressor(bad)
    for name in ("zstd-x2", "lzo-x3-b4"):
        c2 = get_compressor(name)
        unregister_compressor(name)
        assert isinstance(c2, BatchingCompressor)
        c2.close()
    one = BatchingCompressor("lz4", 1)
    assert one.name == "lz4-x1" and one.description == "lz4 batched on 1 engine thread"
    default = BatchingCompressor("lzo")
    assert default.engines == (os.cpu_count() or 1)
    assert default.name == f"lzo-x{default.engines}"
    assert repr(default) == f"<Compressor 'lzo-x{default.engines}' batch_size=8>"


def test_invalid_construction() -> None:
    with pytest.raises(UnknownCompressor):
        BatchingCompressor("lz5")
    for bad in (0, -1, 10**6, 2.0):
        with pytest.raises(InvalidParameter, match="engines"):
            BatchingCompressor("lz4", bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="engines_per_batch"):
        BatchingCompressor("lz4", 2, engines_per_batch=3)
    with pytest.raises(InvalidParameter, match="already a batching"):
        BatchingCompressor(BatchingCompressor("lz4", 2))
    with pytest.raises(InvalidParameter, match="min_parallel_us"):
        BatchingCompressor("lz4", 2, min_parallel_us=-1.0)
    with pytest.raises(InvalidParameter, match="engine must be"):
        BatchingCompressor("lz4", 2, engine="gpu")
    plug_in = _Flaky(RuntimeError("unused"))  # any algorithm that is not a stock one
    with pytest.raises(InvalidParameter, match="no native engine"):
        BatchingCompressor(plug_in, 2, engine="native")
    for bad_size in (0, 9, 2.0):
        with pytest.raises(InvalidParameter, match="batch_size"):
            BatchingCompressor("lz4", 2, batch_size=bad_size)  # type: ignore[arg-type]
    assert BatchingCompressor(plug_in, 2).engine == "threads"
    assert BatchingCompressor("lz4hc", 2).engine == "native"
