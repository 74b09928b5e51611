"""Scaling benchmark at toy sizes: the ladder, the rows and the ratio."""

from __future__ import annotations

import pytest

from pyzswap.errors import InvalidParameter, UnknownCompressor
from pyzswap.tools.bench import PageSource, ladder, run_scaling


def test_ladder() -> None:
    assert ladder(1_000_000) == [1000, 10_000, 100_000, 1_000_000]
    assert ladder(25_000) == [1000, 10_000, 25_000]
    assert ladder(50, 50) == [50]
    with pytest.raises(InvalidParameter):
        ladder(10, 100)


def test_rows_and_ratio(tiny_source: PageSource) -> None:
    report = run_scaling(tiny_source, "lz4", max_pages=300, min_pages=30, window=16, repeat=2)
    assert report["sizes"] == [30, 300]
    assert [row["stored_pages"] for row in report["rows"]] == [30, 300]
    for row in report["rows"]:
        assert row["store"]["repeat"] == 2 and row["pool_total_size"] > 0
    assert set(report["ratio_max_vs_min"]) == {"store", "load"}
    assert set(report["met"]) == {"store", "load"}
    assert report["rows"][0]["vs_smallest"]["store"]["median"] > 0


def test_bad_arguments(tiny_source: PageSource) -> None:
    with pytest.raises(UnknownCompressor):
        run_scaling(tiny_source, "nope", max_pages=10, min_pages=10)
    with pytest.raises(InvalidParameter):
        run_scaling(tiny_source, "lz4", max_pages=10, min_pages=10, window=0)
