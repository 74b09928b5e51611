"""Page sources and summaries: what every benchmark's figures are built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyzswap.errors import CorruptData, InvalidParameter
from pyzswap.tools.bench import load_pages, nonzero_pages
from pyzswap.tools.bench._common import (
    cpu_ticks,
    cpu_times,
    ratio_summary,
    steal_percent,
    timing_summary,
)
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


_STAT = """cpu  808438 63439 171558 1040034 16186 0 2727 37503 0 0
cpu0 404219 31719 85779 520017 8093 0 1363 18751 0 0
intr 1 2 3
"""


def test_cpu_times_reads_steal_and_the_total() -> None:
    assert cpu_times(_STAT) == (37503, 808438 + 63439 + 171558 + 1040034 + 16186 + 0 + 2727
                                + 37503)
    for text in ("", "cpu 1 2 3\n", "intr 1\n", "cpu a b c d e f g h\n"):
        assert cpu_times(text) is None and cpu_ticks(text) is None
    assert cpu_ticks(_STAT) == [808438, 63439, 171558, 1040034, 16186, 0, 2727, 37503]
    here = cpu_times()  # this machine's, where there is one
    assert here is None or 0 <= here[0] <= here[1]


def test_steal_percent_is_the_share_between_two_readings() -> None:
    assert steal_percent((100, 1000), (130, 1200)) == 15.0
    assert steal_percent((100, 1000), (100, 1200)) == 0.0
    assert steal_percent(None, (1, 2)) is None
    assert steal_percent((1, 2), None) is None
    assert steal_percent((1, 2), (1, 2)) is None  # no time passed
