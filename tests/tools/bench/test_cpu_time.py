"""``pyzswap bench cpu-time`` through the real entry point, tiny: figures, ratios, no zram."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyzswap.cli import main


def test_json_figures_and_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    zram_before = sorted(p.name for p in Path("/sys/block").glob("zram*"))
    rc = main(["bench", "cpu-time", "--pages", "48", "--repeat", "2", "-c", "lzo,lz4", "-q",
               "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    report = json.loads(out)
    assert report["clock"] == "time.thread_time" and report["repeat"] == 2
    assert [r["compressor"] for r in report["results"]] == ["lzo", "lz4"]
    for r in report["results"]:
        assert set(r["cpu_us_per_page"]) == {"raw_compress", "store", "raw_decompress", "load"}
        assert all(f["median"] > 0 for f in r["cpu_us_per_page"].values())
        assert set(r["ratios"]) == {"store_vs_raw_compress", "load_vs_raw_decompress"}
        assert any("no --kernel" in note for note in r["notes"])
    # without --kernel it never touches zram
    assert sorted(p.name for p in Path("/sys/block").glob("zram*")) == zram_before


def test_table_and_bad_compressor(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "cpu-time", "--pages", "24", "--repeat", "1", "-c", "zstd"]) == 0
    out, err = capsys.readouterr()
    assert "store_vs_raw_compress" in out and "repetition 1/1" in err
    assert main(["bench", "cpu-time", "-c", "nope", "-q"]) == 2
    _, err = capsys.readouterr()
    assert "unknown compressor 'nope'" in err and len(err.strip().splitlines()) == 1
