"""Design-lab experiments at a tiny size: each runs, and says what the design predicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from pyzswap.cli import main
from pyzswap.compress import (
    BatchingCompressor,
    available_compressors,
    get_compressor,
    register_compressor,
    unregister_compressor,
)
from pyzswap.pool import LIFETIMES, STABLE_DESIGNS
from pyzswap.tools.lab.batch_lab import BATCH_SIZES, ENGINES
from pyzswap.tools.lab.experiments import (
    batching,
    ctx_designs,
    hotplug_race,
    percpu_memory,
    switch_under_pressure,
)


def test_percpu_memory_reports_every_design_and_scenario() -> None:
    r = percpu_memory(0.05)
    recs = {(row[0], row[1]): dict(zip(r.columns, row, strict=True)) for row in r.rows}
    assert {design for design, _ in recs} == set(LIFETIMES)
    for design in LIFETIMES:
        soft, batch = recs[design, "software pool"], recs[design, "batching pool"]
        offline = recs[design, "per offline CPU"]
        assert soft["pyzswap stream bytes"] > 0 and soft["kernel stream bytes"] == 16_384
        assert batch["batch"] == (1 if design in ("global-one", "percpu-shared") else 8)
        if design in STABLE_DESIGNS:  # an offline CPU keeps everything
            assert offline["pyzswap bytes"] == soft["pyzswap bytes"]
            assert offline["kernel context bytes"] == soft["kernel context bytes"]
        else:  # only the percpu context structs and the (6.18) stream stay
            assert offline["kernel context bytes"] in (88, 64)
            assert offline["pyzswap stream bytes"] == soft["pyzswap stream bytes"]
    assert recs["pool", "software pool"]["kernel context bytes"] == 88 + 96 + 4096
    assert recs["pool", "batching pool"]["kernel context bytes"] == 88 + 96 + 8 * 4096 + 64
    assert recs["global-max", "software pool"]["kernel context bytes"] == \
        88 + 8 * 96 + 8 * 4096 + 2 * 64 + 8
    # the global context does not grow with the pools; per-pool contexts do
    assert recs["global-max", "4 pools alive"]["kernel context bytes"] == \
        recs["global-max", "software pool"]["kernel context bytes"] + 3 * 8
    assert recs["pool", "4 pools alive"]["kernel context bytes"] == 4 * (88 + 96 + 4096)
    (derivation,) = r.tables
    v8 = [row for row in derivation.rows if row[1].startswith("series v8")]
    assert v8 and v8[0][3] == 58_128  # the thread's "~57 KB per cpu"
    software = {row[0]: row[3] for row in derivation.rows if row[1] == "software pool"}
    assert software["pool, lock-retry, naive"] == 4_280


def test_hotplug_race_schedule_outcomes_are_deterministic() -> None:
    r = hotplug_race(0.02)
    rows = {row[0]: dict(zip(r.columns, row, strict=True)) for row in r.rows}
    rounds = rows["pool"]["rounds"]
    assert rows["pool"]["stored"] == rounds and rows["pool"]["retries (schedule)"] == 0
    assert rows["lock-retry"]["stored"] == rounds
    assert rows["lock-retry"]["retries (schedule)"] == rounds
    for design in ("naive", "percpu-shared"):
        assert rows[design]["stored"] == 0
        assert rows[design]["use-after-free detected"] >= rounds
    for design in ("global-max", "global-one"):
        assert rows[design]["stored"] == rounds and rows[design]["retries (schedule)"] == 0
    assert rows["pool"]["use-after-free detected"] == 0
    assert rows["lock-retry"]["use-after-free detected"] == 0


def test_switch_under_pressure_completes_and_reclaim_uses_the_old_pool() -> None:
    r = switch_under_pressure(0.05)
    recs = {row[0]: dict(zip(r.columns, row, strict=True)) for row in r.rows}
    assert set(recs) == set(LIFETIMES)
    for design, rec in recs.items():
        assert rec["reclaim stores went to"] == "lz4"
        assert rec["reclaim calls"] == rec["allocations"] > 0
        assert rec["switch back allocations"] == 0
        assert rec["other allocations"] == 4
        per_cpu = {"global-max": 2, "global-one": 2, "percpu-shared": 3}.get(design, 4)
        assert rec["allocations per CPU"] == per_cpu, design
    (blocked,) = r.tables
    for row in blocked.rows:
        rec = dict(zip(blocked.columns, row, strict=True))
        assert rec["stores completed meanwhile"] == 200
        assert rec["loads completed meanwhile"] == 32
        assert rec["CPU hotplug waits"] == rec["parameter writes wait"] == "yes"
        assert rec["switch completes after"] == "yes"


def test_ctx_designs_answers_for_every_design() -> None:
    r = ctx_designs(0.25)
    recs = {row[0]: dict(zip(r.columns, row, strict=True)) for row in r.rows}
    assert list(recs) == list(LIFETIMES)
    for design, rec in recs.items():
        can_batch = design not in ("global-one", "percpu-shared")
        assert rec["batching works"].startswith("yes" if can_batch else "no")
        assert rec["lock ns per call"] > 0
        frees = int(rec["hotplug allocs / frees"].split(" / ")[1])
        assert (frees == 0) == (design in STABLE_DESIGNS)


def test_lab_cli_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "all", "--size", "0.02", "--json", "--plot", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in out["experiments"]] == [
        "percpu-memory", "hotplug-race", "switch-under-pressure", "batching", "ctx-designs"]
    assert all(Path(p).read_bytes().startswith(b"\x89PNG") for p in out["plots"])
    assert main(["lab", "nosuch"]) == 2


def test_batching_covers_every_case_and_leaves_the_registry_as_it_found_it() -> None:
    # A compressor already registered is used as is and stays registered afterwards; the
    # ones the experiment registers itself are gone again.
    mine = BatchingCompressor("lz4", 1)
    ours = "lz4-x1" not in available_compressors()
    if ours:
        register_compressor(mine)
    else:  # an earlier user (another test) registered it
        mine.close()
        mine = cast(BatchingCompressor, get_compressor("lz4-x1"))
    before = set(available_compressors())
    try:
        r = batching(0.02)
        assert get_compressor("lz4-x1") is mine
        assert set(available_compressors()) == before
    finally:
        if ours:
            unregister_compressor("lz4-x1")
            mine.close()
    recs = [dict(zip(r.columns, row, strict=True)) for row in r.rows]
    workloads = {"4K", "64K", "2M", "reclaim 32x4K"}
    assert {rec["workload"] for rec in recs} == workloads
    assert len(recs) == len(workloads) * 2 * (1 + len(ENGINES) * len(BATCH_SIZES))
    for rec in recs:
        assert rec["pages/s"] > 0 and rec["speedup"] > 0
        assert rec["call p50 us"] <= rec["call p90 us"] <= rec["call p99 us"]
        assert rec["page p50 us"] <= rec["page p90 us"] <= rec["page p99 us"]
        if rec["variant"] == "sequential":
            assert rec["speedup"] == 1.0 and rec["registered as"] == rec["compressor"]
            assert rec["batch size"] == 1 and rec["engines"] == 0
        else:
            suffix = "" if rec["batch size"] == 8 else f"-b{rec['batch size']}"
            assert rec["registered as"] == f"{rec['compressor']}-x{rec['engines']}{suffix}"
    (summary,) = r.tables
    assert len(summary.rows) == len(workloads) * 2


def test_lab_cli_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "percpu-memory", "--size", "0.01", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("`pyzswap lab percpu-memory --size 0.01`")
    assert "| lifetime | scenario | cpus |" in out
    assert "| pool | software pool | 4 | 1 |" in out


def test_lab_progress_goes_to_stderr_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "switch-under-pressure", "--size", "0.02", "--json", "--progress"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout stays one JSON object
    lines = captured.err.splitlines()
    assert "lab switch-under-pressure (1/1)" in lines[0]
    assert any("switch-under-pressure: percpu-shared" in line for line in lines)
    assert main(["lab", "switch-under-pressure", "--size", "0.02", "--json",
                 "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
