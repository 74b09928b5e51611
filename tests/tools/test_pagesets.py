"""pagesets: deterministic, realistic page sets and raw page files."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from pathlib import Path

import cramjam
import numpy as np
import numpy.typing as npt
import pytest

from pyzswap.errors import CorruptData, InvalidPage, InvalidParameter, ZswapError
from pyzswap.tools import pagesets as ps

PAGE = ps.PAGE_SIZE
NONZERO_KINDS = [k for k in ps.KINDS if k != "zero"]


def pages_of(data: bytes) -> list[bytes]:
    return [data[i : i + PAGE] for i in range(0, len(data), PAGE)]


def lz4_len(page: bytes) -> int:
    return len(cramjam.lz4.compress_block(page, store_size=False))


def lz4_ratio(data: bytes) -> float:
    """Raw bytes over lz4 bytes for the pages of ``data`` compressed one by one."""
    pages = pages_of(data)
    return len(pages) * PAGE / sum(lz4_len(p) for p in pages)


# --------------------------------------------------------------------------------------------
# make_pages / page_kinds
# --------------------------------------------------------------------------------------------


def test_profiles_are_well_formed() -> None:
    assert ps.DEFAULT_PAGESET == "real"
    assert {"mixed", "real", "text", "heap", "numeric", "random", "zero"} <= set(ps.PAGESETS)
    assert ps.PAGESETS["mixed"] == {"zero": 0.20, "text": 0.30, "random": 0.15, "numeric": 0.35}
    assert ps.PAGESETS["real"]["zero"] == pytest.approx(0.006)
    for name, fractions in ps.PAGESETS.items():
        assert set(fractions) <= set(ps.KINDS), name
        assert sum(fractions.values()) == pytest.approx(1.0), name
        assert all(f > 0 for f in fractions.values()), name


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = ps.make_pages("real", 200, seed=7)
    assert a == ps.make_pages("real", 200, seed=7)
    assert a != ps.make_pages("real", 200, seed=8)
    assert ps.page_kinds("real", 200, 7) == ps.page_kinds("real", 200, 7)
    assert ps.page_kinds("real", 200, 7) != ps.page_kinds("real", 200, 8)


@pytest.mark.parametrize("profile", sorted(ps.PAGESETS))
def test_sizes(profile: str) -> None:
    for n in (0, 1, 3, 37):
        data = ps.make_pages(profile, n, seed=1)
        assert isinstance(data, bytes)
        assert len(data) == n * PAGE
    assert ps.make_pages(profile, 0) == b""


def test_default_arguments() -> None:
    pageset = ps.make_pageset()
    assert pageset.profile == "real"
    assert pageset.n_pages == 4096
    assert len(pageset.data) == 4096 * PAGE


@pytest.mark.parametrize("profile", ["mixed", "real"])
@pytest.mark.parametrize("n", [1, 7, 100, 1001])
def test_kind_counts_match_the_profile_within_rounding(profile: str, n: int) -> None:
    kinds = ps.page_kinds(profile, n, seed=3)
    assert len(kinds) == n
    counts = Counter(kinds)
    for kind, fraction in ps.PAGESETS[profile].items():
        assert abs(counts[kind] - fraction * n) < 1, (kind, counts[kind], fraction * n)
    assert set(counts) <= set(ps.PAGESETS[profile])


def test_kinds_are_interleaved_not_grouped() -> None:
    kinds = ps.page_kinds("mixed", 1000, seed=0)
    changes = sum(a != b for a, b in itertools.pairwise(kinds))
    assert changes > 500  # a sorted layout would have 3


def test_pageset_kinds_agree_with_page_kinds() -> None:
    pageset = ps.make_pageset("mixed", 300, seed=5)
    assert list(pageset.kinds) == ps.page_kinds("mixed", 300, 5)
    assert pageset.data == ps.make_pages("mixed", 300, 5)
    assert sum(pageset.counts().values()) == 300
    assert pageset.page(4) == pageset.data[4 * PAGE : 5 * PAGE]
    with pytest.raises(InvalidParameter):
        pageset.page(300)


def test_a_kinds_pages_do_not_depend_on_the_other_kinds() -> None:
    """Each kind has its own seed stream: 'numeric' pages are the same in 'mixed' and in a
    custom profile that holds the same number of numeric pages."""
    mixed = ps.make_pageset("mixed", 100, seed=9)
    custom = ps.make_pageset({"numeric": 35, "text": 65}, 100, seed=9)
    numeric_a = [mixed.page(i) for i, k in enumerate(mixed.kinds) if k == "numeric"]
    numeric_b = [custom.page(i) for i, k in enumerate(custom.kinds) if k == "numeric"]
    assert len(numeric_a) == len(numeric_b) == 35
    assert sorted(numeric_a) == sorted(numeric_b)


@pytest.mark.parametrize("profile", ["mixed", "real"])
def test_zero_pages_are_exactly_the_zero_kind(profile: str) -> None:
    pageset = ps.make_pageset(profile, 600, seed=11)
    mask = ps.zero_page_mask(pageset.data)
    expected = np.array([k == "zero" for k in pageset.kinds])
    assert mask.tolist() == expected.tolist()
    assert ps.count_zero_pages(pageset.data) == int(expected.sum())
    # No non-zero page is same-filled (zram would store it in 0 bytes, like a zero page).
    assert ps.same_filled_mask(pageset.data).tolist() == expected.tolist()


def test_unknown_profile_lists_the_valid_names() -> None:
    with pytest.raises(InvalidParameter) as err:
        ps.make_pages("nonsense", 4)
    for name in ps.PAGESETS:
        assert name in str(err.value)
    with pytest.raises(InvalidParameter):
        ps.page_kinds("nonsense", 4)
    assert isinstance(err.value, ZswapError)


@pytest.mark.parametrize("bad", [-1, -4096])
def test_negative_page_count_is_refused(bad: int) -> None:
    with pytest.raises(InvalidParameter):
        ps.make_pages("mixed", bad)
    with pytest.raises(InvalidParameter):
        ps.page_kinds("mixed", bad)


def test_other_bad_arguments() -> None:
    with pytest.raises(InvalidParameter):
        ps.make_pages("mixed", 4, seed=-1)
    with pytest.raises(InvalidParameter):
        ps.make_pages("mixed", True)
    with pytest.raises(InvalidParameter):
        ps.make_pages("mixed", 2.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        ps.make_pages({"bogus": 1.0}, 4)
    with pytest.raises(InvalidParameter):
        ps.make_pages({"text": 0.0}, 4)
    with pytest.raises(InvalidParameter):
        ps.make_pages({"text": -1.0, "zero": 2.0}, 4)
    with pytest.raises(InvalidParameter) as err:
        ps.generate_pages("bogus", 1)
    assert "text" in str(err.value)
    with pytest.raises(InvalidParameter):
        ps.generate_pages("text", -1)


def test_custom_profile_is_normalised() -> None:
    kinds = ps.page_kinds({"text": 3, "zero": 1}, 8, seed=0)
    assert Counter(kinds) == {"text": 6, "zero": 2}


# --------------------------------------------------------------------------------------------
# Page kinds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ps.KINDS)
def test_generators_shape_and_determinism(kind: str) -> None:
    gen = ps.GENERATORS[kind]
    for n in (0, 1, 5):
        out = gen(n, np.random.default_rng(1))
        assert out.dtype == np.uint8
        assert out.shape == (n * PAGE,)
        assert out.flags.c_contiguous
    a = ps.generate_pages(kind, 9, 4)
    assert a == ps.generate_pages(kind, 9, np.random.default_rng(4))
    if kind != "zero":
        assert a != ps.generate_pages(kind, 9, 5)


@pytest.mark.parametrize("kind", NONZERO_KINDS)
def test_pages_are_varied_and_never_zero_or_same_filled(kind: str) -> None:
    data = ps.generate_pages(kind, 64, 2)
    assert len(set(pages_of(data))) == 64
    assert not ps.same_filled_mask(data).any()
    assert ps.count_zero_pages(data) == 0


def test_large_text_sets_have_distinct_pages() -> None:
    """Beyond _CORPUS_PAGES, text pages are windows of a shared stream: still all distinct."""
    data = ps.generate_pages("text", ps._CORPUS_PAGES + 300, 0)
    assert len(set(pages_of(data))) == ps._CORPUS_PAGES + 300
    assert not ps.same_filled_mask(data).any()


def test_zero_kind() -> None:
    assert ps.generate_pages("zero", 3) == bytes(3 * PAGE)


def test_random_pages_do_not_compress() -> None:
    data = ps.generate_pages("random", 32, 3)
    for page in pages_of(data):
        assert lz4_len(page) >= PAGE
        with pytest.raises(cramjam.CompressionError):
            cramjam.lz4.compress_block_into(page, bytearray(PAGE), store_size=False)


@pytest.mark.parametrize("kind", ["text", "heap", "numeric", "json", "mixed_page"])
def test_compressible_kinds_compress_but_not_trivially(kind: str) -> None:
    ratio = lz4_ratio(ps.generate_pages(kind, 128, 6))
    assert 1.3 < ratio < 8, ratio


def test_text_looks_like_english() -> None:
    text = ps.generate_pages("text", 4, 1).decode("ascii")
    words = text.split()
    assert len(words) > 500
    assert "the" in words
    assert "\n" in text
    assert any(w.endswith((".", ",")) for w in words)
    assert any(w[:1].isupper() for w in words)  # sentences start capitalised
    assert all(32 <= ord(c) < 127 or c == "\n" for c in text)  # no placeholder bytes left


def test_json_is_json_records() -> None:
    text = ps.generate_pages("json", 2, 1).decode("ascii")
    assert text.count('{"id": ') > 10
    assert '"name": "' in text
    assert all(32 <= ord(c) < 127 or c == "\n" for c in text)


def test_heap_looks_like_a_heap_of_small_objects() -> None:
    words = np.frombuffer(ps.generate_pages("heap", 32, 1), dtype=np.uint64)
    high = words >> np.uint64(40)
    assert 0.05 < np.mean(words == 0) < 0.6  # NULLs and padding
    assert 0.15 < np.mean(high == 0x7F) < 0.6  # heap pointers share their high bits
    assert np.mean((words > 0) & (words < 1 << 20)) > 0.15  # refcounts, sizes, small ints
    pointers = words[high == 0x7F]
    assert np.all(pointers % 16 == 0)  # 16-byte aligned objects


def test_mixed_pages_mix_kinds_within_a_page() -> None:
    data = ps.generate_pages("mixed_page", 64, 3)
    quarters = np.frombuffer(data, dtype=np.uint8).reshape(64, 4, PAGE // 4)
    printable = ((quarters >= 32) & (quarters < 127)) | (quarters == 10)
    text_like = printable.mean(axis=2) > 0.99
    # Some pages hold text in one quarter and binary data in another.
    assert np.any(text_like.any(axis=1) & ~text_like.all(axis=1))


# --------------------------------------------------------------------------------------------
# Zero / same-filled detection
# --------------------------------------------------------------------------------------------


def test_zero_and_same_filled_masks_on_crafted_pages() -> None:
    data = bytearray(5 * PAGE)
    data[PAGE + 4095] = 1  # page 1: one non-zero byte
    data[2 * PAGE : 3 * PAGE] = b"\x01\x02\x03\x04\x05\x06\x07\x08" * (PAGE // 8)  # same-filled
    data[3 * PAGE : 4 * PAGE] = b"\xab" * PAGE  # same-filled
    data[4 * PAGE : 5 * PAGE] = b"\x01\x02\x03\x04" * (PAGE // 4)  # same-filled (8-byte words)
    assert ps.zero_page_mask(data).tolist() == [True, False, False, False, False]
    assert ps.same_filled_mask(data).tolist() == [True, False, True, True, True]
    assert ps.count_zero_pages(data) == 1
    for view in (bytes(data), memoryview(data), np.frombuffer(bytes(data), dtype=np.uint8)):
        assert ps.count_zero_pages(view) == 1
        assert ps.same_filled_mask(view).tolist() == [True, False, True, True, True]
    assert ps.count_zero_pages(b"") == 0
    assert ps.same_filled_mask(b"").shape == (0,)


def test_masks_refuse_partial_pages() -> None:
    with pytest.raises(InvalidPage):
        ps.count_zero_pages(bytes(PAGE + 1))
    with pytest.raises(InvalidPage):
        ps.same_filled_mask(bytes(100))


# --------------------------------------------------------------------------------------------
# Page files
# --------------------------------------------------------------------------------------------


def test_page_file_round_trip(tmp_path: Path) -> None:
    data = ps.make_pages("mixed", 40, seed=2)
    path = tmp_path / "pages.bin"
    assert ps.write_page_file(path, data) == 40
    assert path.stat().st_size == 40 * PAGE
    assert ps.read_page_file(path) == data
    assert ps.read_page_file(str(path)) == data
    chunks = list(ps.iter_page_file(path, chunk_pages=16))
    assert [len(c) for c in chunks] == [16 * PAGE, 16 * PAGE, 8 * PAGE]
    assert all(isinstance(c, memoryview) and c.readonly for c in chunks)
    assert b"".join(chunks) == data
    # Chunks are independent buffers: the first is still intact after reading on.
    assert bytes(chunks[0]) == data[: 16 * PAGE]
    assert b"".join(ps.iter_page_file(path)) == data


def test_page_file_accepts_any_bytes_like(tmp_path: Path) -> None:
    data = ps.make_pages("text", 3, seed=1)
    views: list[bytearray | memoryview | npt.NDArray[np.uint8]] = [
        bytearray(data),
        memoryview(data),
        np.frombuffer(data, dtype=np.uint8),
    ]
    for i, view in enumerate(views):
        path = tmp_path / f"p{i}.bin"
        assert ps.write_page_file(path, view) == 3
        assert ps.read_page_file(path) == data


def test_empty_page_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    assert ps.write_page_file(path, b"") == 0
    assert ps.read_page_file(path) == b""
    assert list(ps.iter_page_file(path)) == []


@pytest.mark.parametrize("size", [1, 100, PAGE - 1, PAGE + 1, 3 * PAGE + 17])
def test_page_file_of_a_bad_size_is_corrupt(tmp_path: Path, size: int) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(os.urandom(size))
    with pytest.raises(CorruptData) as err:
        ps.read_page_file(path)
    assert str(path) in str(err.value)
    assert str(size) in str(err.value)
    # iter_page_file checks when called, before the first chunk.
    with pytest.raises(CorruptData):
        ps.iter_page_file(path)


def test_a_pipe_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A pipe has no size and may never end (or never start: a FIFO blocks the open until
    a writer comes): page files must be regular files."""
    r, w = os.pipe()
    os.write(w, bytes(PAGE) + b"xyz")
    os.close(w)
    path = f"/proc/self/fd/{r}"
    if not os.path.exists(path):
        os.close(r)
        pytest.skip("no /proc/self/fd")
    try:
        for read in (ps.read_page_file, ps.iter_page_file):
            with pytest.raises(InvalidParameter, match="a FIFO"):
                read(path)
    finally:
        os.close(r)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ps.read_page_file(tmp_path / "missing.bin")
    with pytest.raises(FileNotFoundError):
        ps.iter_page_file(tmp_path / "missing.bin")
    with pytest.raises(IsADirectoryError) as err:
        ps.read_page_file(tmp_path)
    assert str(tmp_path) in str(err.value)
    with pytest.raises(IsADirectoryError):
        ps.iter_page_file(tmp_path)


def test_write_refuses_partial_pages_and_non_buffers(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    with pytest.raises(InvalidPage):
        ps.write_page_file(path, bytes(PAGE + 1))
    assert not path.exists()
    with pytest.raises(InvalidParameter):
        ps.write_page_file(path, "not bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        ps.iter_page_file(path, chunk_pages=0)


@pytest.mark.parametrize("profile", ["real", "mixed"])
def test_make_pages_view_is_make_pages_without_the_copy(profile: str) -> None:
    view = ps.make_pages_view(profile, 700, seed=3)
    assert view.readonly and view.ndim == 1 and view.format == "B"
    assert bytes(view) == ps.make_pages(profile, 700, seed=3)
