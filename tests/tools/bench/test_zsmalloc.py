"""``pyzswap bench zsmalloc`` through the real entry point, tiny: µs per call and metadata."""

from __future__ import annotations

import json

import pytest

from pyzswap.cli import main
from pyzswap.folio import PAGE_SIZE
from pyzswap.tools.bench import PageSource
from pyzswap.tools.bench.zsmalloc import compressed_objects


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "zsmalloc", "--pages", "48", "--objects", "300", "--repeat", "2",
               "-q", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    report = json.loads(out)
    assert report["objects"] == 300 and report["repeat"] == 2
    assert set(report["us_per_call"]) == {"malloc_write", "read_into", "free",
                                          "malloc_write+free"}
    assert all(v["median"] > 0 for v in report["us_per_call"].values())
    for how in ("tracemalloc", "rss"):
        m = report["metadata"][how]
        assert m["pages_allocated"] > 0 and 0 < m["data_bytes_per_object"] <= PAGE_SIZE


def test_objects_have_real_lengths(tiny_source: PageSource) -> None:
    objs = compressed_objects(tiny_source.data, "lz4")
    assert len(objs) == tiny_source.pages
    lengths = [n for _, n in objs]
    assert all(0 < n <= PAGE_SIZE for n in lengths)
    assert min(lengths) < PAGE_SIZE // 2 and PAGE_SIZE in lengths  # compressible and not
    assert all(len(buf) == PAGE_SIZE for buf, _ in objs)
