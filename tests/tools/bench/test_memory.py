"""Memory-per-entry benchmark at a toy size: both measurements and the kernel comparison."""

from __future__ import annotations

import pytest

from pyzswap.errors import InvalidParameter
from pyzswap.tools.bench import PageSource, run_memory


def test_report(tiny_source: PageSource) -> None:
    report = run_memory(tiny_source, "lz4", entries=500)
    assert report["kernel_bytes_per_entry"] == 64
    t = report["tracemalloc"]
    assert t["stored_pages"] == 501  # the warm-up entry too
    # An entry's record (32 bytes) lives in a slab the warm-up store allocated, and the C flow
    # makes no Python object per store: beyond zsmalloc's pages, next to nothing per entry.
    assert report["python_bytes_per_entry"] == t["python_bytes_per_entry"]
    assert -1 <= t["python_bytes_per_entry"] <= 8
    assert t["compressed_bytes_per_entry"] > 0
    assert t["top_sites"] and all(s["site"] and "code" in s for s in t["top_sites"])
    assert "python_bytes_per_entry" in report["rss"]
    assert isinstance(report["met"], bool)


def test_bad_entries(tiny_source: PageSource) -> None:
    with pytest.raises(InvalidParameter):
        run_memory(tiny_source, "lz4", entries=0)
