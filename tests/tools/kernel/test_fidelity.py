"""The kernel-vs-model comparison's arithmetic (no kernel, no model run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyzswap.tools.kernel import fidelity
from pyzswap.tools.kernel.fidelity import (
    compare_results,
    kernel_summary,
    memcg_counts,
    model_args,
    model_metrics,
    plot_timelines,
    timeline_error,
)
from pyzswap.tools.kernel.replay import METRIC_KEYS, ReplayOptions


def kernel_run(scale: float = 1.0, **values: int) -> dict[str, Any]:
    run: dict[str, Any] = dict.fromkeys(METRIC_KEYS, 0)
    run.update({"zswpout": round(1000 * scale), "zswpin": 500, "stored_pages": 400,
                "pool_total_size": 800_000, "pgmajfault": 500, "wall_seconds": 2.0})
    run.update(values)
    run["timeline"] = [{"t": t / 10, "stored_pages": 40 * t, "pool_total_size": 80_000 * t}
                       for t in range(11)]
    return run


def model(**values: Any) -> dict[str, Any]:
    m: dict[str, Any] = dict.fromkeys(METRIC_KEYS, 0)
    m.update({"zswpout": 1050, "zswpin": 500, "stored_pages": 400, "pool_total_size": 800_000,
              "pgmajfault": 500, "wall_seconds": 1.0,
              "timeline": [{"t": t / 20, "stored_pages": 10 * t, "pool_total_size": 0}
                           for t in range(21)]})
    m.update(values)
    return m


def row(result: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(r for r in result["metrics"] if r["metric"] == metric)


def test_summary_spread() -> None:
    s = kernel_summary([kernel_run(1.0), kernel_run(1.1)])["zswpout"]
    assert (s["mean"], s["min"], s["max"]) == (1050, 1000, 1100)
    assert s["spread"] == pytest.approx(100 / 1050, abs=1e-6)


def test_quiet_kernel_means_the_10_percent_target() -> None:
    runs = [kernel_run(), kernel_run(), kernel_run()]
    result = compare_results(runs, model(zswpout=1099, zswpin=560))
    assert row(result, "zswpout")["meets_target"] is True  # +9.9%
    assert row(result, "zswpin")["meets_target"] is False  # +12%
    assert row(result, "zswpin")["relative_difference"] == pytest.approx(0.12)
    assert row(result, "swpout_zero")["meets_target"] is None  # no target


def test_noisy_kernel_means_its_range_widened_by_a_quarter() -> None:
    runs = [kernel_run(1.0), kernel_run(1.2)]  # spread 18%
    assert row(compare_results(runs, model(zswpout=1480)), "zswpout")["meets_target"] is True
    assert row(compare_results(runs, model(zswpout=1520)), "zswpout")["meets_target"] is False
    assert row(compare_results(runs, model(zswpout=760)), "zswpout")["meets_target"] is True
    assert row(compare_results(runs, model(zswpout=740)), "zswpout")["meets_target"] is False


def test_a_kernel_zero_is_met_only_by_zero() -> None:
    runs = [kernel_run()]
    assert row(compare_results(runs, model(pswpin=0)), "pswpin")["meets_target"] is True
    assert row(compare_results(runs, model(pswpin=3)), "pswpin")["meets_target"] is False


def test_timeline_error_and_wall_ratio() -> None:
    runs = [kernel_run(), kernel_run()]
    # the model's series is half the kernel's everywhere: 50% error
    assert timeline_error(runs, model()["timeline"]) == pytest.approx(0.5)
    result = compare_results(runs, model())
    assert result["timeline_stored_pages_mare"] == pytest.approx(0.5)
    assert result["timeline_meets_target"] is False
    assert result["wall_seconds"]["ratio"] == 0.5
    assert result["targets"] == 8


def test_the_older_model_layout_is_read_and_named() -> None:
    old = {"vmstat": {"zswpout": 7, "pgfault_swap": 3, "pgscan": 9},
           "debugfs": {"stored_pages": 2, "pool_total_size": 8192},
           "timeline": {"ops": [0, 5, 10], "stored_pages": [0, 1, 2],
                        "pool_total_size": [0, 4096, 8192]}}
    metrics, timeline, legacy = model_metrics(old)
    assert (metrics["zswpout"], metrics["pgmajfault"], metrics["pgscan_anon"]) == (7, 3, 9)
    assert metrics["workingset_refault_anon"] is None
    assert timeline[1] == {"t": 0.5, "stored_pages": 1, "pool_total_size": 4096}
    assert "pgmajfault <- vmstat.pgfault_swap" in legacy
    new, _, none = model_metrics({"zswpout": 5, "vmstat": {"zswpout": 7}, "timeline": []})
    assert new["zswpout"] == 5 and none == []


def test_model_args_leave_out_what_the_model_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fidelity, "_model_params",
                        lambda: {"--ram", "--compressor", "--memcg-max", "--seed",
                                 "--max-pool-percent", "--accept-threshold-percent",
                                 "--no-shrinker"})
    opts = ReplayOptions(memcg_max={"G": 64 << 20}, swappiness=200, page_cluster=0)
    args, missing = model_args(Path("t.trace"), opts, 24683780 << 10)
    assert args[:4] == ["run", "t.trace", "--ram", "24683780K"]
    assert "--memcg-max" in args and f"G={64 << 20}" in args and args[-1] == "--json"
    assert missing == ["--cgroup-version", "--swappiness", "--page-cluster"]


def test_model_args_use_the_real_run_command() -> None:
    args, missing = model_args(Path("t.trace"), ReplayOptions(), 1 << 30)
    assert "--compressor" in args and "--ram" in args
    assert "--compressor" not in missing


def test_plot(tmp_path: Path) -> None:
    path = plot_timelines("case", [kernel_run(), kernel_run()], model()["timeline"], tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_error_is_defined_where_the_kernel_is_empty() -> None:
    run = kernel_run()
    run["timeline"] = [{"t": 0.0, "stored_pages": 0}, {"t": 0.5, "stored_pages": 10},
                       {"t": 1.0, "stored_pages": 10}]
    mine = [{"t": 0.0, "stored_pages": 5}, {"t": 1.0, "stored_pages": 10}]
    # |5 - 0| + |7.5 - 10| + 0 over 20 pages of kernel series
    assert timeline_error([run], mine) == pytest.approx(7.5 / 20)


def test_the_model_gets_the_host_s_memory_cgroups_the_kernel_runs_recorded() -> None:
    runs = [{"host_memcgs": 3, "dying_memcgs": 11}, {"host_memcgs": 103, "dying_memcgs": 9},
            {"host_memcgs": 4, "dying_memcgs": 12}]
    assert memcg_counts(runs) == {"host_memcgs": 4, "dying_memcgs": 11}
    assert memcg_counts([{"zswpout": 1}]) == {}  # recorded before the counts existed
    args, missing = model_args(Path("t.trace"), ReplayOptions(), 1 << 30, memcg_counts(runs))
    assert args[args.index("--host-memcgs") + 1] == "4"
    assert args[args.index("--dying-memcgs") + 1] == "11"
    assert not missing
    # the kernel side's --add-memcgs is not a model option: the recorded counts carry it
    args, _ = model_args(Path("t.trace"), ReplayOptions(add_memcgs=100), 1 << 30)
    assert "--add-memcgs" not in args and "--host-memcgs" not in args
