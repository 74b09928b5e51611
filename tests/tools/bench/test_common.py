"""Page sources and summaries: what every benchmark's figures are built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyzswap.errors import CorruptData, InvalidParameter
from pyzswap.tools.bench import load_pages, nonzero_pages
from pyzswap.tools.bench._common import ratio_summary, timing_summary
from pyzswap.tools.pagesets import make_pages, write_page_file

PAGE = 4096


def test_pageset_source_drops_zero_pages() -> None:
    src = load_pages(pageset="mixed", pages=100, seed=3)
    assert src.pages_read == 100
    assert src.zero_pages > 0  # "mixed" is 20% zero pages
    assert src.pages == 100 - src.zero_pages
    assert len(src.data) == src.pages * PAGE
    assert src.to_dict()["pageset"] == "mixed"


def test_default_source_is_the_real_set() -> None:
    assert load_pages(pages=8).pageset == "real"


def test_pagefile_source_and_cap(tmp_path: Path) -> None:
    path = tmp_path / "p.pages"
    write_page_file(path, make_pages("real", 20, seed=0))
    src = load_pages(pagefile=path, pages=5)
    assert src.pages_read == 5
    assert src.pagefile == str(path)
    assert src.pageset is None and src.seed is None


def test_nonzero_pages() -> None:
    data = bytes(PAGE) + b"x" * PAGE + bytes(PAGE)
    assert nonzero_pages(data) == (b"x" * PAGE, 2)
    assert nonzero_pages(b"") == (b"", 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"pageset": "real", "pagefile": "x"}, "not both"),
    ({"pageset": "nope"}, "unknown page set"),
    ({"pageset": "zero", "pages": 4}, "no non-zero page"),
    ({"pages": 0}, "positive"),
])
def test_bad_sources(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        load_pages(**kwargs)  # type: ignore[arg-type]


def test_bad_pagefiles(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_pages(pagefile=tmp_path / "missing")
    with pytest.raises(IsADirectoryError):
        load_pages(pagefile=tmp_path)
    odd = tmp_path / "odd"
    odd.write_bytes(b"x" * 100)
    with pytest.raises(CorruptData):
        load_pages(pagefile=odd)


def test_summaries() -> None:
    t = timing_summary([2.0, 1.0, 3.0], pages=1_000_000)
    assert t == {"us_per_page": 2.0, "min": 1.0, "max": 3.0, "pages_per_s": 500_000,
                 "repeat": 3}
    assert ratio_summary([1.5, 1.0, 2.0]) == {"median": 1.5, "min": 1.0, "max": 2.0}
