"""``pyzswap bench replay``: pyzswap run against the kernel's recorded replays, resident hits."""

from __future__ import annotations

import json

import pytest

from pyzswap import _compiled
from pyzswap.cli import main
from pyzswap.tools.bench.replay import HIT_TARGET, resident_hits


def test_resident_hits_counts_accesses_without_faults() -> None:
    report = resident_hits(repeat=2, accesses=20_000, npages=256)
    rate = report["accesses_per_second"]
    assert 0 < rate["min"] <= rate["median"] <= rate["max"]
    assert report["met"] == (rate["median"] >= HIT_TARGET)
    assert report["accesses"] == 20_000 and report["write_fraction"] == 0.2


def test_replay_case_json(capsys: pytest.CaptureFixture[str]) -> None:
    """One run of the suite's phased case: its ratios to the kernel's recorded wall time,
    the counters' determinism (one run: trivially the same) and the resident-hit row."""
    rc = main(["bench", "replay", "phased", "--repeat", "1", "--json", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    report = json.loads(out)
    (case,) = report["cases"]
    assert case["case"] == "phased" and case["deterministic"]
    assert case["model_backend"] == [_compiled.backend()]
    kernel = case["kernel_wall_seconds"]
    replay = case["replay_seconds"]["median"]
    assert case["replay_vs_kernel"]["median"] == pytest.approx(replay / kernel, rel=1e-2)
    assert case["command_seconds"]["median"] >= replay
    assert case["met"] == (case["replay_vs_kernel"]["median"] <= 1.0)
    assert report["met"]["replay"] == case["met"]
    assert report["resident_hits"]["accesses_per_second"]["median"] > 0


def test_unknown_case_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "replay", "nosuchcase", "-q"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.startswith("pyzswap: error:") and err.count("\n") == 1
