"""lzo and lzo-rle: the kernel's lib/lzo codecs (csrc/lzo.c) behind PageCodec.

The lengths are checked against the kernel itself: ``tests/fixtures/kernel_lzo.json`` holds the
running kernel's stored length of every page of every set in ``tests/kernel_lzo_sets.py`` (zram,
one page at a time) and its zswap figures, recorded as root; ``tests/tools/kernel/test_lzo.py``
checks the live kernel. The format is cross-checked with liblzo2 (python-lzo) both ways.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import lzo as liblzo2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap._native import PageCodec
from pyzswap.compress import PAGE_SIZE, get_compressor
from pyzswap.errors import CompressPoor, DecompressFail
from pyzswap.tools.kernel.compare import pyzswap_zram
from pyzswap.tools.pagesets import make_pages
from pyzswap.tools.storecheck import store_check

from ..kernel_lzo_sets import ALGORITHMS, SETS, digest, load_fixture

KERNEL = load_fixture()
ROOT = Path(__file__).resolve().parents[2]


def _pages(data: bytes) -> list[bytes]:
    return [data[i:i + PAGE_SIZE] for i in range(0, len(data), PAGE_SIZE)]


def _compress(alg: str, src: bytes, cap: int | None = None) -> bytes:
    buf = bytearray(cap if cap is not None else len(src) + len(src) // 16 + 70)
    n = get_compressor(alg).new_transform().compress(src, buf)
    return bytes(buf[:n])


def _decompress(alg: str, stream: bytes, cap: int = PAGE_SIZE) -> bytes:
    out = bytearray(cap)
    n = get_compressor(alg).new_transform().decompress(stream, out)
    return bytes(out[:n])


# ------------------------------------------------------------------ against the kernel -----
@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("name", list(SETS))
def test_every_page_has_the_kernels_length(name: str, alg: str) -> None:
    recorded = KERNEL["sets"][name]
    data = SETS[name]()
    assert digest(data) == recorded["sha256"], (
        f"the {name} page set changed since the kernel was recorded: re-record the fixture "
        "(tests/kernel_lzo_sets.py)")
    model = pyzswap_zram(data, alg)
    kernel = recorded[alg]["zram_page_lengths"]
    assert model.page_sizes is not None
    differing = [i for i, (k, o) in enumerate(zip(kernel, model.page_sizes, strict=True))
                 if k != o]
    assert differing == [], f"{len(differing)} pages differ, first {differing[:5]}"
    assert model.mem_used_total == recorded[alg]["zram_mem_used_total"]


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("name", ["mixed", "real", "random", "sparse", "edge"])
def test_zswap_stores_what_the_kernel_stores(name: str, alg: str) -> None:
    """Stored and incompressible pages and pool_total_size, exactly: ``edge`` puts pages on
    both sides of zswap's line (a stream shorter than a page is stored compressed)."""
    rep = store_check(SETS[name](), compressor=alg, folio_pages=1)
    kernel = KERNEL["sets"][name][alg]["zswap"]
    assert rep.verified
    assert {"stored_pages": rep.stored_pages,
            "stored_incompressible_pages": rep.stored_incompressible_pages,
            "pool_total_size": rep.pool_total_size} == kernel


# ------------------------------------------------------------------ format, both ways ------
@pytest.mark.parametrize("name", ["real", "sparse", "edge", "text"])
def test_liblzo2_reads_our_streams_and_we_read_its(name: str) -> None:
    for page in _pages(SETS[name]())[:256]:
        ours = _compress("lzo", page)
        assert liblzo2.decompress(ours, False, PAGE_SIZE) == page
        theirs = liblzo2.compress(page, 1, False)
        assert _decompress("lzo", theirs) == page
        assert _decompress("lzo-rle", theirs) == page  # one decoder for both versions


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=70_000) | st.builds(lambda n, b: b * n, st.integers(0, 20_000),
                                              st.binary(min_size=1, max_size=5)))
def test_any_input_round_trips_in_both_versions(data: bytes) -> None:
    """Inputs of any length: several dictionary blocks (49 KiB each) and far (M4) copies."""
    ours = _compress("lzo", data)
    assert liblzo2.decompress(ours, False, max(len(data), 1)) == data
    assert _decompress("lzo", ours, max(len(data), 1)) == data
    rle = _compress("lzo-rle", data)
    assert rle[:2] == b"\x11\x01"
    assert _decompress("lzo-rle", rle, max(len(data), 1)) == data


def test_lzo_rle_codes_zero_runs_as_the_kernel_documents() -> None:
    """Documentation/staging/lzo.rst: after 17, 1 the block-copy opcode 0001HLLL with H = 1 and
    distance bits all ones is a run of ((X << 3) | LLL) + 4 zero bytes, X the fourth byte."""
    run = 1000
    r = run - 4
    stream = (bytes([17, 1, 17 + 4]) + b"abcd"
              + bytes([0x18 | (r & 7), 0xfc, 0xff, r >> 3]) + b"\x11\x00\x00")
    assert _decompress("lzo-rle", stream) == b"abcd" + bytes(run)
    assert _decompress("lzo", stream) == b"abcd" + bytes(run)
    # as version 0 the same bytes are a copy from 48 KiB back: nothing is there
    with pytest.raises(DecompressFail, match="lookbehind"):
        _decompress("lzo", stream[:1] + b"\x00" + stream[2:])
    # and our compressor writes that instruction for a zero run
    page = b"abcd" + bytes(run) + os.urandom(PAGE_SIZE - run - 4)
    assert bytes([0xfc, 0xff, r >> 3]) in _compress("lzo-rle", page)


def test_lzo_rle_is_smaller_on_zero_runs_and_only_there() -> None:
    sparse = _pages(SETS["sparse"]())[:64]
    assert sum(len(_compress("lzo-rle", p)) for p in sparse) < \
        sum(len(_compress("lzo", p)) for p in sparse)
    text = _pages(make_pages("text", 16, 1))
    # no zero runs: the same stream after lzo-rle's two header bytes
    assert all(_compress("lzo-rle", p)[2:] == _compress("lzo", p) for p in text)


# ------------------------------------------------------------------ bad input --------------
@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_truncation_and_trailing_garbage_is_a_clean_error(alg: str) -> None:
    page = _pages(make_pages("real", 4, 2))[1]
    stream = _compress(alg, page)
    for n in range(len(stream)):
        with pytest.raises(DecompressFail, match=f"{alg}: corrupt stream"):
            _decompress(alg, stream[:n])
    with pytest.raises(DecompressFail, match="input not consumed"):
        _decompress(alg, stream + b"\x00")
    with pytest.raises(DecompressFail, match="output overrun"):
        _decompress(alg, stream, PAGE_SIZE - 1)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_an_output_that_does_not_fit_is_compress_poor(alg: str) -> None:
    page = _pages(SETS["edge"]())[3]
    stream = _compress(alg, page)
    assert _compress(alg, page, len(stream)) == stream
    with pytest.raises(CompressPoor, match=f"{alg}: output does not fit"):
        _compress(alg, page, len(stream) - 1)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_transforms_are_page_codecs_the_fast_path_calls_directly(alg: str) -> None:
    """The same class as lz4's transforms: PageCodec's own methods, nothing in front of them
    (what the C fast path checks before calling the codec; tests/compress/test_lz4.py)."""
    tfm = get_compressor(alg).new_transform()
    assert isinstance(tfm, PageCodec) and tfm.algorithm == alg
    assert type(tfm) is type(get_compressor("lz4").new_transform())
    assert type(tfm).compress is PageCodec.compress
    assert type(tfm).decompress is PageCodec.decompress
    assert not hasattr(tfm, "__dict__")


def test_page_codec_knows_the_lzo_names_and_has_no_levels() -> None:
    assert PageCodec("lzo-rle").algorithm == "lzo-rle"
    assert PageCodec("lzo").level == 0
    with pytest.raises(ValueError, match="out of range for lzo"):
        PageCodec("lzo", 1)


@pytest.mark.parametrize("name", ["lzo-x2", "lzo-rle-x2-b4"])
def test_native_engines_make_the_same_streams(name: str) -> None:
    base = name.split("-x")[0]
    pages = _pages(SETS["sparse"]())[:8]
    tfm = get_compressor(name).new_transform()
    assert get_compressor(name).engine == "native"  # type: ignore[attr-defined]
    dsts = [bytearray(PAGE_SIZE) for _ in pages]
    results = tfm.compress_batch(pages, dsts)
    assert [bytes(d[:n]) for d, n in zip(dsts, results, strict=True)] == \
        [_compress(base, p) for p in pages]  # type: ignore[misc]


# ------------------------------------------------------------------ the fuzzer -------------
@pytest.mark.skipif(shutil.which("gcc") is None, reason="no gcc")
def test_fuzz_harness_builds_and_runs_clean(tmp_path: Path) -> None:
    """A smoke run of ``make fuzz-lzo``'s harness (ASan + UBSan); the long run is opt-in."""
    exe = tmp_path / "lzo_fuzz"
    build = subprocess.run(
        ["gcc", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         f"-I{ROOT / 'src/pyzswap/csrc'}", str(ROOT / "tests/fuzz/lzo_fuzz.c"),
         str(ROOT / "src/pyzswap/csrc/lzo.c"), "-llzo2", "-o", str(exe)],
        capture_output=True, text=True, check=False)
    if build.returncode and "sanitize" in build.stderr:
        pytest.skip(f"no sanitizer runtime: {build.stderr.strip()[:200]}")
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe), "4000", "7"], capture_output=True, text=True, check=False,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "every check held" in run.stdout
