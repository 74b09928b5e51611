"""``pyzswap bench memcg`` through the real entry point, tiny: both sides timed, the ratios."""

from __future__ import annotations

import json

import pytest

from pyzswap.cli import main
from pyzswap.tools.bench import BenchError, load_pages, run_memcg


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "memcg", "--pages", "48", "--repeat", "2", "-q", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    report = json.loads(out)
    assert report["compressor"] == "lz4" and report["repeat"] == 2
    assert report["timed_pages"] == report["source"]["pages"] - 1
    assert set(report["us_per_page"]) == {"store_plain", "store_memcg", "load_plain",
                                          "load_memcg"}
    assert set(report["ratios"]) == {"store_memcg_vs_plain", "load_memcg_vs_plain"}
    assert all(v["median"] > 0 for v in report["ratios"].values())


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "memcg", "--pages", "24", "--repeat", "1", "-c", "zstd", "-q"]) == 0
    out, _ = capsys.readouterr()
    assert "store_memcg_vs_plain" in out and "µs/page" in out


def test_needs_two_pages() -> None:
    with pytest.raises(BenchError):
        run_memcg(load_pages(pageset="real", pages=1, seed=1), "lz4", repeat=1)
