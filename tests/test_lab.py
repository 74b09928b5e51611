"""Design-lab experiments at a tiny size: each runs, and says what the design predicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyzswap.cli import main
from pyzswap.lab.experiments import hotplug_race, percpu_memory, switch_under_pressure


def test_percpu_memory_pool_keeps_offline_contexts_lock_retry_frees_them() -> None:
    r = percpu_memory(0.05)
    cols = r.columns
    for row in r.rows:
        rec = dict(zip(cols, row, strict=True))
        if rec["lifetime"] == "pool":
            assert rec["cpus holding"] == rec["cpus"]
        else:
            assert rec["cpus holding"] == rec["online"]
            assert rec["kernel bytes for offline CPUs"] == 0
    wide = [dict(zip(cols, row, strict=True)) for row in r.rows
            if row[0] == "batching x8" and row[2] == 1]
    assert wide and wide[0]["kernel bytes"] == 64_340


def test_hotplug_race_schedule_outcomes_are_deterministic() -> None:
    r = hotplug_race(0.02)
    rows = {row[0]: dict(zip(r.columns, row, strict=True)) for row in r.rows}
    rounds = rows["pool"]["rounds"]
    assert rows["pool"]["stored"] == rounds and rows["pool"]["retries (schedule)"] == 0
    assert rows["lock-retry"]["stored"] == rounds
    assert rows["lock-retry"]["retries (schedule)"] == rounds
    assert rows["naive"]["stored"] == 0
    assert rows["naive"]["use-after-free detected"] >= rounds
    assert rows["pool"]["use-after-free detected"] == 0
    assert rows["lock-retry"]["use-after-free detected"] == 0


def test_switch_under_pressure_completes_and_reclaim_uses_the_old_pool() -> None:
    r = switch_under_pressure(0.05)
    previous = {"pool": "lz4", "lock-retry": "lz4"}
    for row in r.rows:
        rec = dict(zip(r.columns, row, strict=True))
        if rec["reclaim calls"]:
            assert rec["reclaim stores went to"] == previous[rec["lifetime"]]
        previous[rec["lifetime"]] = rec["switch to"]


def test_lab_cli_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "all", "--size", "0.02", "--json", "--plot", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in out["experiments"]] == ["percpu-memory", "hotplug-race",
                                                       "switch-under-pressure"]
    assert all(Path(p).read_bytes().startswith(b"\x89PNG") for p in out["plots"])
    assert main(["lab", "nosuch"]) == 2
