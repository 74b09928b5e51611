"""The report: best configurations per workload, class and fleet; distributions; HTML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pyzswap.cli import cli
from pyzswap.errors import ZswapError
from pyzswap.tools.study import Constraint, Objective, summarise
from pyzswap.tools.study.report import render_html
from pyzswap.tools.study.store import rows_to_table

MIB = 1 << 20


def _row(variant: str, cls: str, config: str, seed: int, saved_mib: float, cpu: float,
         disk: float, status: str = "ok") -> dict[str, Any]:
    return {"cell.key": f"{variant}-{config}-{seed}", "cell.status": status,
            "cell.error": None if status == "ok" else "CorruptData: broken",
            "cell.variant": variant, "cell.class": cls, "cell.config": config,
            "cell.seed": seed, "total_pages": 2560,  # 10 MiB
            "events": 1000, "memory.mean_saved_bytes": None if status != "ok"
            else int(saved_mib * MIB), "cpu_seconds.store": cpu, "cpu_seconds.load": 0.0,
            "cpu_seconds.writeback": 0.0, "faults.disk": disk,
            "writeback.written_back_pages": 0, "latency.load.p99_us": 10.0}


def _fleet() -> list[dict[str, Any]]:
    """web-1, web-2 (class web) and db-1 (class db) under configs A, B, C; two seeds."""
    saved = {  # variant -> config -> MiB saved (seed 0; seed 1 adds 1)
        "web-1": {"A": 4, "B": 5, "C": 1},
        "web-2": {"A": 4, "B": 1, "C": 1},
        "db-1": {"A": 1, "B": 2.5, "C": 6},
    }
    cls = {"web-1": "web", "web-2": "web", "db-1": "db"}
    rows = [_row(v, cls[v], c, seed, mib + seed, cpu=0.1 * mib, disk=10 * mib)
            for v, by in saved.items() for c, mib in by.items() for seed in (0, 1)]
    rows.append(_row("db-2", "db", "A", 0, 0, 0, 0, status="error"))
    return rows


def test_best_per_workload_class_and_fleet() -> None:
    s = summarise(_fleet())
    best = {c.group: (c.config, round(c.value, 3)) for c in s.per_workload}
    # seeds averaged: web-1 B saves 5.5 MiB of 10 = 55%
    assert best == {"web-1": ("B", 55.0), "web-2": ("A", 45.0), "db-1": ("C", 65.0)}
    by_class = {c.group: c for c in s.per_class}
    assert by_class["web"].config == "A" and by_class["web"].value == pytest.approx(45.0)
    assert by_class["web"].runner_up == "B"
    # web-1 loses 10 points under A, web-2 nothing: regret 5
    assert by_class["web"].regret == pytest.approx(5.0)
    assert by_class["db"].config == "C" and by_class["db"].workloads == 1
    assert s.fleet is not None and s.fleet.config == "A"  # 35% on average; B: 33.3%, C: 31.7%
    assert s.fleet.value == pytest.approx((45 + 45 + 15) / 3)
    assert s.fleet.runner_up == "B"
    assert len(s.failed) == 1 and s.ok == 18 and s.cells == 19 and s.seeds == 2
    p10, p50, p90 = s.distribution["C"]["saved_pct"]  # type: ignore[misc]
    assert p10 <= p50 <= p90 and p50 == pytest.approx(15.0)


def test_objective_and_constraints_change_the_choice() -> None:
    cheapest = summarise(_fleet(), objective=Objective.parse("min:cpu_seconds"))
    assert {c.group: c.config for c in cheapest.per_workload}["db-1"] == "A"
    # B and C are out where their disk faults are high; what is left wins
    limited = summarise(_fleet(), constraints=[Constraint.parse("disk_faults_per_kop<=45")])
    assert {c.group: c.config for c in limited.per_workload}["web-1"] == "A"
    assert {c.group: c.config for c in limited.per_workload}["db-1"] == "B"
    assert Constraint.parse("faults.disk < 3").holds(2.0)
    assert not Constraint.parse("faults.disk>=3").holds(None)
    with pytest.raises(ZswapError):
        Objective.parse("best:saved_pct")
    with pytest.raises(ZswapError):
        Constraint.parse("saved_pct ~ 3")


def test_html_is_self_contained_and_has_every_section() -> None:
    text = render_html(summarise(_fleet(), name="fleet <test>"))
    assert text.startswith("<!doctype html>") and "fleet &lt;test&gt;" in text
    for section in ("Best configuration for the fleet and per workload class",
                    "Best configuration per workload", "Savings and costs across the fleet",
                    "Failed cells (1)", "CorruptData: broken"):
        assert section in text
    assert text.count("<svg") == 3
    # nothing is fetched from elsewhere: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)


def test_report_command_writes_html(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = rows_to_table(_fleet(), {"pyzswap.tools.study": "fleet", "pyzswap.version": "x"})
    pq.write_table(table, tmp_path / "results.parquet")
    result = CliRunner().invoke(cli, ["study", "report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "best for the fleet: A" in result.output
    assert (tmp_path / "report.html").read_text().count("<table>") >= 3
    bad = CliRunner().invoke(cli, ["study", "report", str(tmp_path), "--objective",
                                   "max:no.such.column"])
    assert bad.exit_code == 2 and "neither a metric" in bad.output
