"""lz4 and lz4hc as ``_native.PageCodec`` transforms (csrc/codec.c).

The transforms moved from cramjam to liblz4 called from C so that zswap's fast paths can call
the codec without Python. These tests hold the move to its promise: the same streams as
before, the transform contract, safe concurrent use of one object, and the fast path calling
the codec directly only when nothing overrides it.
"""

from __future__ import annotations

import threading
from typing import ClassVar

import cramjam
import pytest
from hypothesis import given, settings

from pyzswap import Zswap
from pyzswap._native import PageCodec
from pyzswap.compress import (
    PAGE_SIZE,
    Compressor,
    Transform,
    get_compressor,
    register_compressor,
    unregister_compressor,
)
from pyzswap.compress import lz4 as lz4_mod
from pyzswap.compress._pagecodec import PageCodecTransform
from pyzswap.errors import CompressPoor, DecompressFail
from pyzswap.tools.pagesets import make_pageset

from ..conftest import page_strategy

REAL = make_pageset("real", 512, seed=5)
PAGES = [REAL.page(i) for i in range(REAL.n_pages)]


def _ours(tfm: Transform, page: bytes) -> bytes | None:
    buf = bytearray(PAGE_SIZE)
    try:
        n = tfm.compress(page, buf)
    except CompressPoor:
        return None
    return bytes(buf[:n])


def test_lz4_streams_are_byte_identical_to_cramjam_on_the_real_page_set() -> None:
    """cramjam's block compressor reproduces the kernel's lz4 sizes (docs/KERNEL_REFERENCE.md
    §10); the
    liblz4 transform must give exactly its streams, so nothing the oracle checked changes."""
    tfm = get_compressor("lz4").new_transform()
    for i, page in enumerate(PAGES):
        ref = bytes(cramjam.lz4.compress_block(page, store_size=False))
        ours = _ours(tfm, page)
        if ours is None:  # does not fit one page: cramjam's stream is longer than a page
            assert len(ref) > PAGE_SIZE - 1, i
        else:
            assert ours == ref, i


@settings(max_examples=150, deadline=None)
@given(page_strategy())
def test_lz4_matches_cramjam_and_round_trips(page: bytes) -> None:
    tfm = get_compressor("lz4").new_transform()
    ours = _ours(tfm, page)
    ref = bytes(cramjam.lz4.compress_block(page, store_size=False))
    if ours is None:
        assert len(ref) >= PAGE_SIZE
        return
    assert ours == ref
    out = bytearray(PAGE_SIZE)
    assert tfm.decompress(ours, out) == PAGE_SIZE and out == page
    # cramjam decodes our stream too (one format on both sides)
    assert bytes(cramjam.lz4.decompress_block(ours, output_len=PAGE_SIZE)) == page


def test_page_codec_arguments_and_properties() -> None:
    lz4 = PageCodec("lz4")
    assert (lz4.algorithm, lz4.level) == ("lz4", 1)
    hc = PageCodec("lz4hc")
    assert (hc.algorithm, hc.level) == ("lz4hc", lz4_mod.LZ4HC_DEFAULT_LEVEL)
    assert PageCodec("lz4hc", 12).level == 12
    with pytest.raises(ValueError, match="unknown algorithm 'lz5'"):
        PageCodec("lz5")
    with pytest.raises(ValueError, match="level 13 is out of range for lz4hc"):
        PageCodec("lz4hc", 13)
    with pytest.raises(ValueError, match="level 7 is out of range for lz4"):
        PageCodec("lz4", 7)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        lz4.compress(PAGES[0])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="dst must be a writable contiguous buffer, not bytes"):
        lz4.compress(PAGES[0], b"read-only")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="src must be a contiguous bytes-like object, not int"):
        lz4.decompress(3, bytearray(PAGE_SIZE))  # type: ignore[arg-type]
    # the algorithm (and so the size of the state a concurrent call may hold) is fixed
    with pytest.raises(RuntimeError, match="called twice"):
        lz4.__init__("lz4hc", 4)  # type: ignore[misc]
    assert (lz4.algorithm, lz4.level) == ("lz4", 1)
    assert _ours(lz4, PAGES[0]) is not None


@pytest.mark.parametrize("name", ["lz4", "lz4hc"])
def test_errors_are_the_contract_ones(name: str) -> None:
    tfm = get_compressor(name).new_transform()
    page = next(p for p in PAGES if _ours(tfm, p) is not None)
    with pytest.raises(CompressPoor, match=f"{name}: output does not fit"):
        tfm.compress(page, bytearray(8))
    stream = _ours(tfm, page)
    assert stream is not None
    with pytest.raises(DecompressFail, match=f"{name}: corrupt stream"):
        tfm.decompress(stream[: len(stream) // 2], bytearray(PAGE_SIZE))
    with pytest.raises(DecompressFail):  # the page does not fit the destination
        tfm.decompress(stream, bytearray(PAGE_SIZE - 1))
    with pytest.raises(DecompressFail):
        tfm.decompress(b"\xff" * 64, bytearray(PAGE_SIZE))


def test_one_codec_called_from_many_threads_at_once_stays_correct() -> None:
    """The state is taken out of the object for a call: a second concurrent call uses a
    fresh one instead of sharing a hash table (which could produce a corrupt stream)."""
    tfm = get_compressor("lz4").new_transform()
    expected = [_ours(tfm, p) for p in PAGES[:128]]
    errors: list[str] = []
    start = threading.Barrier(4)

    def worker(seed: int) -> None:
        start.wait()
        buf, out = bytearray(PAGE_SIZE), bytearray(PAGE_SIZE)
        for rnd in range(6):
            for k in range(128):
                i = (k * 7 + seed + rnd) % 128
                want = expected[i]
                try:
                    n = tfm.compress(PAGES[i], buf)
                except CompressPoor:
                    if want is not None:
                        errors.append(f"page {i}: poor")
                    continue
                if bytes(buf[:n]) != want:
                    errors.append(f"page {i}: stream differs")
                elif tfm.decompress(buf[:n], out) != PAGE_SIZE or out != PAGES[i]:
                    errors.append(f"page {i}: round trip")

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


class _CountingTransform(PageCodecTransform):
    """An lz4 transform whose compress/decompress are overridden in Python."""

    __slots__ = ()
    calls: ClassVar[list[int]] = [0, 0]

    def compress(self, src: object, dst: bytearray | memoryview) -> int:  # type: ignore[override]
        type(self).calls[0] += 1
        return super().compress(src, dst)  # type: ignore[arg-type]

    def decompress(self, src: object, dst: bytearray | memoryview) -> int:  # type: ignore[override]
        type(self).calls[1] += 1
        return super().decompress(src, dst)  # type: ignore[arg-type]


class _CountingLZ4(Compressor):
    name = "lz4-counting-test"

    def new_transform(self) -> Transform:
        return _CountingTransform("lz4")


@pytest.mark.parametrize("flow", ["native", "python"])
@pytest.mark.parametrize("override", [False, True])
def test_flows_call_the_codec_directly_unless_overridden(override: bool, flow: str) -> None:
    """The C flow calls the C codec only when the transform's methods are PageCodec's own; a
    Python override is called, page by page, by either flow."""
    name = "lz4"
    if override:
        register_compressor(_CountingLZ4())
        name = _CountingLZ4.name
        _CountingTransform.calls[:] = [0, 0]
    try:
        z = Zswap(compressor=name, totalram_pages=None, cpus=1, flow=flow)
        try:
            z.swapon(0, 64)
            pages = PAGES[:64]
            for i, page in enumerate(pages):
                assert z.store(page, 0, i)
            out = bytearray(PAGE_SIZE)
            for i, page in enumerate(pages):
                assert z.load(out, 0, i) and out == page
            assert z.flow == flow and z.vmstat()["zswpin"] == 64
        finally:
            z.close()
    finally:
        if override:
            unregister_compressor(_CountingLZ4.name)
    if override:
        stored_as_is = sum(1 for p in pages if _ours(get_compressor("lz4").new_transform(), p)
                           is None)
        assert _CountingTransform.calls[0] == 64
        assert _CountingTransform.calls[1] == 64 - stored_as_is


def test_lz4_transform_is_a_transform_with_the_batch_defaults() -> None:
    tfm = get_compressor("lz4").new_transform()
    assert isinstance(tfm, Transform) and isinstance(tfm, PageCodec)
    srcs = PAGES[:4]
    dsts = [bytearray(PAGE_SIZE) for _ in srcs]
    results = tfm.compress_batch(srcs, dsts)
    assert [r if isinstance(r, int) else None for r in results] == [
        len(s) if (s := _ours(tfm, p)) is not None else None for p in srcs]
