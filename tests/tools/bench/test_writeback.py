"""``pyzswap bench writeback`` through the real entry point, tiny: rates and the cost ratio."""

from __future__ import annotations

import json

import pytest

from pyzswap.cli import main


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "writeback", "--pages", "48", "--repeat", "2", "-c", "lz4,lzo", "-q",
               "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    report = json.loads(out)
    assert [r["compressor"] for r in report["results"]] == ["lz4", "lzo"]
    for r in report["results"]:
        assert r["pages"] == report["source"]["pages"]
        assert r["raw_pages_per_s"]["median"] > 0 and r["writeback_pages_per_s"]["median"] > 0
        assert r["writeback_cost_vs_raw"]["median"] > 0


def test_table_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "writeback", "--pages", "24", "--repeat", "1", "-c", "zstd",
                 "-q"]) == 0
    out, _ = capsys.readouterr()
    assert "writeback" in out and "cost ratio" in out
    assert main(["bench", "writeback", "--pageset", "nope", "-q"]) == 2
    _, err = capsys.readouterr()
    assert "unknown page set 'nope'" in err
