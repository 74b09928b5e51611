"""The fidelity suite: its generators make the recorded traces, and the recordings are whole."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pyzswap.run.trace import parse_trace_text
from pyzswap.tools.kernel import replay_cli
from pyzswap.tools.kernel.cli import kernel
from pyzswap.tools.kernel.replay import METRIC_KEYS
from pyzswap.tools.kernel.suite import SUITE, suite_case

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fidelity"


@pytest.fixture(scope="module", params=list(SUITE))
def case_text(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param, SUITE[request.param].text()


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_at_least_six_shapes() -> None:
    assert len(SUITE) >= 6
    assert {"zipf", "scan", "phased", "poolhit", "memcgs", "incompressible"} <= set(SUITE)


def test_the_generator_makes_the_recorded_trace(case_text: tuple[str, str]) -> None:
    import hashlib

    name, text = case_text
    assert hashlib.sha256(text.encode()).hexdigest() == fixture(name)["trace_sha256"]
    trace = parse_trace_text(text, name)
    assert trace.accesses == fixture(name)["accesses"]
    assert sum(p.npages for p in trace.procs.values()) == fixture(name)["total_pages"]


@pytest.mark.parametrize("name", list(SUITE))
def test_the_recording_is_whole(name: str) -> None:
    data = fixture(name)
    case = suite_case(name)
    assert data["options"] == list(case.args)
    assert " ".join(case.args) in data["command"]
    assert data["kernel"] and data["date"] and data["machine"]["ram_bytes"]
    runs = data["runs"]
    assert len(runs) == 3
    for run in runs:
        assert run["verified"] is True
        ts = [p["t"] for p in run["timeline"]]
        assert ts[0] == 0.0 and ts[-1] == 1.0 and ts == sorted(ts)
        assert max(b - a for a, b in itertools.pairwise(ts)) <= 0.01 + 1e-9
    for key in (*METRIC_KEYS, "wall_seconds"):
        values = [r[key] for r in runs]
        s = data["summary"][key]
        assert (s["min"], s["max"]) == (min(values), max(values))
        assert s["mean"] == pytest.approx(statistics.fmean(values), abs=1e-3)


def test_the_limits_put_pressure_on_every_case() -> None:
    for name in SUITE:
        s = fixture(name)["summary"]
        assert s["zswpout"]["min"] > 0 and s["zswpin"]["min"] > 0, name
    poolhit = fixture("poolhit")["summary"]
    assert poolhit["pool_limit_hit"]["min"] > 0 and poolhit["pswpout"]["min"] > 0


def test_suite_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    listed = runner.invoke(kernel, ["suite", "list"])
    assert listed.exit_code == 0 and "poolhit" in listed.stdout
    out = tmp_path / "scan.trace"
    assert runner.invoke(kernel, ["suite", "trace", "scan", "-o", str(out)]).exit_code == 0
    assert out.read_text() == SUITE["scan"].text()
    bad = runner.invoke(kernel, ["suite", "trace", "nope", "-o", str(out)])
    assert bad.exit_code == 2 and "unknown suite case" in bad.stderr

    recorded = fixture("scan")["runs"][0]

    def fake_model(trace: Path, opts: Any, ram: int, memcgs: Any) -> dict[str, Any]:
        assert trace.read_text() == SUITE["scan"].text()
        assert ram == fixture("scan")["machine"]["ram_bytes"]
        assert memcgs == {"host_memcgs": recorded["host_memcgs"],
                          "dying_memcgs": recorded["dying_memcgs"]}
        return {**{k: recorded[k] for k in METRIC_KEYS}, "timeline": recorded["timeline"],
                "wall_seconds": 1.0, "unsupported_options": []}

    monkeypatch.setattr(replay_cli, "run_model", fake_model)
    checked = runner.invoke(kernel, ["suite", "check", "scan", "--json"])
    assert checked.exit_code == 0, checked.output
    result = json.loads(checked.stdout)
    assert result["name"] == "scan" and result["targets"] == 8
