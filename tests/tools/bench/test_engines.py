"""``pyzswap bench engines`` through the real entry point, tiny: every variant, the hand-off."""

from __future__ import annotations

import json

import pytest

from pyzswap.cli import main
from pyzswap.compress import available_compressors
from pyzswap.tools.bench.engines import baseline


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    before = available_compressors()
    rc = main(["bench", "engines", "--pages", "32", "--repeat", "1", "-c", "lz4",
               "--max-other-load", "64", "-q", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    report = json.loads(out)
    (r,) = report["results"]
    assert r["batching"] == "lz4-x2" and r["pages"] == report["pages"] == 32
    variants = r["variants"]
    assert {"seq", "batch8", "seq+work", "pipelined+work", "dseq", "dbatch8",
            "ceiling"} <= set(variants)
    for key, row in variants.items():
        assert row["pages_per_s"] > 0
        assert ("speedup" in row) == (baseline(key) is not None)
    assert set(report["handoff"]) == {"caller_us_per_batch", "inline_noop_batch_us",
                                      "engine_wake_us_p50", "engine_wake_us_p90"}
    assert report["handoff"]["inline_noop_batch_us"] > 0
    assert available_compressors() == before


def test_baselines() -> None:
    assert baseline("batch8 handed-off") == "seq"
    assert baseline("pipelined+work") == baseline("batch8+work") == "seq+work"
    assert baseline("dbatch8 engines-only") == "dseq"
    assert baseline("seq") is None and baseline("dseq") is None
