"""The compressor contract, checked for every registered algorithm."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings

from pyzswap.compress import (
    PAGE_SIZE,
    ZSWAP_MAX_BATCH_SIZE,
    Compressor,
    Transform,
    available_compressors,
    get_compressor,
    has_compressor,
    register_compressor,
    unregister_compressor,
)
from pyzswap.errors import CompressPoor, DecompressFail, InvalidParameter, UnknownCompressor

from ..conftest import page_strategy

GOLDEN = Path(__file__).parent.parent / "fixtures" / "golden"
KERNEL_NAMES = ["deflate", "lz4", "lz4hc", "lzo", "lzo-rle", "zstd"]


def _golden_page() -> bytes:
    from tests.fixtures.make_golden import golden_page

    return golden_page()


def test_registry_has_the_kernel_names() -> None:
    for name in KERNEL_NAMES:
        assert has_compressor(name)
        assert get_compressor(name).name == name
        assert get_compressor(name).batch_size == 1
    assert set(KERNEL_NAMES) <= set(available_compressors())


def test_unknown_compressor_names_the_valid_ones() -> None:
    with pytest.raises(UnknownCompressor, match="lz4"):
        get_compressor("lz5")
    assert not has_compressor("lz5")


def test_register_rejects_bad_batch_sizes_and_duplicates() -> None:
    class Empty(Compressor):
        name = "empty-test"
        batch_size = 0

        def new_transform(self) -> Transform:
            raise AssertionError

    with pytest.raises(InvalidParameter, match="batch_size"):
        register_compressor(Empty())
    assert not has_compressor("empty-test")

    class Wide(Compressor):  # more than zswap uses: accepted, zswap clamps (test_ctx_designs)
        name = "wide-test"
        batch_size = ZSWAP_MAX_BATCH_SIZE + 1

        def new_transform(self) -> Transform:
            raise AssertionError

    register_compressor(Wide())
    unregister_compressor("wide-test")
    with pytest.raises(InvalidParameter, match="already registered"):
        register_compressor(get_compressor("lz4"))


def test_register_and_unregister_a_plugin() -> None:
    class Plug(Compressor):
        name = "plug-test"

        def new_transform(self) -> Transform:
            return get_compressor("lz4").new_transform()

    register_compressor(Plug())
    try:
        assert "plug-test" in available_compressors()
    finally:
        unregister_compressor("plug-test")
    assert "plug-test" not in available_compressors()


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_golden_stream_decodes_to_the_golden_page(name: str) -> None:
    stream = (GOLDEN / f"{name}.bin").read_bytes()
    out = bytearray(PAGE_SIZE)
    assert get_compressor(name).new_transform().decompress(stream, out) == PAGE_SIZE
    assert bytes(out) == _golden_page()


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_compressed_golden_size_is_stable(name: str) -> None:
    # Sizes drift only if the codec changes; a drift would move every figure we compare with
    # the kernel, so it must be noticed (regenerate with tests/fixtures/make_golden.py).
    stream = (GOLDEN / f"{name}.bin").read_bytes()
    buf = bytearray(PAGE_SIZE)
    n = get_compressor(name).new_transform().compress(_golden_page(), buf)
    assert n == len(stream)


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_random_page_does_not_fit_and_raises_compress_poor(name: str) -> None:
    tfm = get_compressor(name).new_transform()
    with pytest.raises(CompressPoor):
        tfm.compress(os.urandom(PAGE_SIZE), bytearray(PAGE_SIZE))


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_corrupt_stream_raises_decompress_fail(name: str) -> None:
    tfm = get_compressor(name).new_transform()
    stream = bytearray((GOLDEN / f"{name}.bin").read_bytes())
    for bad in (b"", b"\x00", bytes(stream[: len(stream) // 2]), b"\xff" * 64):
        out = bytearray(PAGE_SIZE)
        try:
            n = tfm.decompress(bad, out)
        except DecompressFail:
            continue
        # A codec may decode a truncated stream to fewer bytes; zswap rejects dlen != 4096.
        assert n != PAGE_SIZE or bytes(out) != _golden_page()


@pytest.mark.parametrize("name", KERNEL_NAMES)
@settings(max_examples=40, deadline=None)
@given(data=page_strategy())  # type: ignore[arg-type]
def test_round_trip_or_poor(name: str, data: bytes) -> None:
    tfm = get_compressor(name).new_transform()
    buf = bytearray(PAGE_SIZE)
    try:
        n = tfm.compress(data, buf)
    except CompressPoor:
        return
    assert 0 < n <= PAGE_SIZE
    out = bytearray(PAGE_SIZE)
    assert tfm.decompress(bytes(buf[:n]), out) == PAGE_SIZE
    assert bytes(out) == data


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_batch_calls_return_one_result_per_page(name: str) -> None:
    tfm = get_compressor(name).new_transform()
    pages = [_golden_page(), os.urandom(PAGE_SIZE), bytes(PAGE_SIZE)]
    bufs = [bytearray(PAGE_SIZE) for _ in pages]
    results = tfm.compress_batch(pages, bufs)
    assert isinstance(results[1], CompressPoor)
    assert isinstance(results[0], int) and isinstance(results[2], int)
    outs = [bytearray(PAGE_SIZE), bytearray(PAGE_SIZE)]
    srcs = [bytes(bufs[0][: results[0]]), bytes(bufs[2][: results[2]])]
    assert tfm.decompress_batch(srcs, outs) == [PAGE_SIZE, PAGE_SIZE]
    assert bytes(outs[0]) == pages[0] and bytes(outs[1]) == pages[2]


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_transforms_are_independent_across_threads(name: str) -> None:
    # One transform per thread (per CPU context): zstd objects would crash if shared.
    page = _golden_page()
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        tfm = get_compressor(name).new_transform()
        buf, out = bytearray(PAGE_SIZE), bytearray(PAGE_SIZE)
        barrier.wait()
        try:
            for _ in range(50):
                n = tfm.compress(page, buf)
                assert tfm.decompress(bytes(buf[:n]), out) == PAGE_SIZE
                assert out == page
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------- the Python packages --------
# pyzswap's codecs are one C table (csrc/codec.c); the Python packages of the same formats are
# kept only here, as a check that the streams are the formats the kernel reads and writes.

def _pages() -> list[bytes]:
    from ..conftest import mixed_page

    return [_golden_page()] + [mixed_page(i) for i in range(40)]


def test_deflate_is_zlib_raw_with_the_kernels_parameters() -> None:
    """Byte for byte what zlib makes with crypto/deflate.c's parameters: a raw stream
    (window bits -11), level 6 (Z_DEFAULT_COMPRESSION), memLevel 9; and zlib reads ours."""
    import zlib

    tfm = get_compressor("deflate").new_transform()
    for page in _pages():
        stream = zlib.compressobj(6, zlib.DEFLATED, -11, 9)
        theirs = stream.compress(page) + stream.flush()
        buf = bytearray(PAGE_SIZE)
        try:
            n = tfm.compress(page, buf)
        except CompressPoor:
            assert len(theirs) > PAGE_SIZE
            continue
        assert bytes(buf[:n]) == theirs
        assert zlib.decompress(bytes(buf[:n]), -11) == page


def test_zstd_frames_are_read_by_python_zstandard_and_back() -> None:
    """Our zstd frames (libzstd, level 3 with the kernel's parameters: the content size in the
    header, no checksum) decode with python-zstandard, and its frames decode with ours."""
    import zstandard

    tfm = get_compressor("zstd").new_transform()
    dctx = zstandard.ZstdDecompressor()
    cctx = zstandard.ZstdCompressor(level=3)
    for page in _pages():
        buf = bytearray(PAGE_SIZE)
        try:
            n = tfm.compress(page, buf)
        except CompressPoor:
            continue
        frame = bytes(buf[:n])
        params = zstandard.get_frame_parameters(frame)
        assert params.content_size == PAGE_SIZE and not params.has_checksum
        assert dctx.decompress(frame) == page
        out = bytearray(PAGE_SIZE)
        assert tfm.decompress(cctx.compress(page), out) == PAGE_SIZE and bytes(out) == page
