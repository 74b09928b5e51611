"""``pyzswap bench replay``: pyzswap run against the kernel's recorded replays, resident hits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyzswap import _compiled
from pyzswap.cli import main
from pyzswap.tools.bench._common import cpu_times
from pyzswap.tools.bench.replay import HIT_TARGET, _print, resident_hits

from ..kernel.conftest import needs_zswap


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
    steal = report["host_steal_percent"]  # None only where /proc/stat has no steal field
    assert (steal is None) == (cpu_times() is None)
    assert steal is None or 0.0 <= steal <= 100.0


def test_unknown_case_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "replay", "nosuchcase", "-q"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.startswith("pyzswap: error:") and err.count("\n") == 1


def test_kernel_and_fixtures_together_are_refused(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    """--fixtures names recordings and --kernel replays live: both at once is a usage error,
    refused before anything runs (nothing on the host changes)."""
    rc = main(["bench", "replay", "phased", "--kernel", "--fixtures", str(tmp_path), "-q"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert "--kernel" in err and err.count("\n") == 1


@needs_zswap
def test_live_paired_replay_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--kernel: the case replayed on this host's kernel beside each model run, and each
    repetition's ratio is that pair's (model replay / kernel replay), not a recording's."""
    rc = main(["bench", "replay", "phased", "--kernel", "--repeat", "2", "--json", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "changing the host" in err  # said first
    report = json.loads(out)
    assert report["kernel"] == "live, paired"
    (case,) = report["cases"]
    assert case["kernel"] == "live, paired" and case["deterministic"]
    walls = case["kernel_wall_seconds_range"]
    assert 0 < walls["min"] <= case["kernel_wall_seconds"] <= walls["max"]
    ratio = case["replay_vs_kernel"]
    # each ratio is one pair's: the extremes bound what any single recording would give
    assert ratio["min"] <= case["replay_seconds"]["max"] / walls["min"] + 1e-3
    assert ratio["max"] >= case["replay_seconds"]["min"] / walls["max"] - 1e-3
    assert case["met"] == (ratio["median"] <= 1.0)
    assert case["kernel_cpu_seconds"] > 0


def test_the_text_says_when_the_host_took_cpu_time() -> None:
    """From 5% of steal the text warns that the ratios are skewed against the model (two CPUs
    against the kernel replay's one); below, or where there is no steal to read, it does not."""
    for steal, warned in ((12.5, True), (5.0, True), (4.9, False), (None, False)):
        lines: list[str] = []
        _print({"kernel": "recorded", "repeat": 1, "load_average_before": [1.0],
                "load_average_after": [1.0], "cases": [], "host_steal_percent": steal},
               lines.append)
        notes = [line for line in lines if "steal" in line]
        assert len(notes) == warned and (not warned or f"{steal}%" in notes[0]), lines
