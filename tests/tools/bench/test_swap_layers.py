"""``pyzswap bench swap-layers`` through the real entry point, tiny: every layer timed."""

from __future__ import annotations

import json

import pytest

from pyzswap.cli import main
from pyzswap.tools.bench import BenchError, PageSource, run_swap_layers

LAYERS = {"raw_compress", "raw_decompress", "zswap_store", "zswap_load", "zswap_store_memcg",
          "zswap_load_memcg", "slot_alloc", "swap_writeout", "swap_read_folio", "slot_free"}


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "swap-layers", "--pages", "32", "--repeat", "2", "-q", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    report = json.loads(out)
    assert report["compressor"] == "lzo" and report["repeat"] == 2
    assert set(report["us_per_page"]) == LAYERS
    assert all(v["min"] <= v["median"] <= v["max"] for v in report["us_per_page"].values())


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "swap-layers", "--pages", "16", "--repeat", "1", "-c", "lz4",
                 "-q"]) == 0
    out, _ = capsys.readouterr()
    assert "swap_writeout" in out and "thread CPU" in out


def test_needs_a_page() -> None:
    empty = PageSource(b"", pageset="real", pagefile=None, seed=1, pages_read=1, zero_pages=1)
    with pytest.raises(BenchError):
        run_swap_layers(empty, "lzo", repeat=1)
