"""pyzswap advise: the grid, the ranking by objective, kernel offers, apply commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyzswap.cli import main
from pyzswap.run.advise import advise_grid, apply_commands, kernel_offers, rank
from pyzswap.run.cost import SWAP_DEVICES
from pyzswap.run.evaluate import evaluate
from pyzswap.run.harness import RunConfig
from pyzswap.run.workload import builtin_workload

TINY = ["--scale", "0.05", "--ops", "3000"]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def results() -> list[dict[str, object]]:
    base = RunConfig()
    grid = advise_grid(base, {"zswap": ["lzo", "lz4"], "zram": None},
                       compressors=["lzo", "lz4"], pool_percents=[20], backends=["zswap"])
    return evaluate(lambda s: builtin_workload("default", seed=s, scale=0.05, ops=3000), grid,
                    seeds=[0, 1], device=SWAP_DEVICES["nvme"])


def test_grid_is_backend_times_compressor_times_pool_times_shrinker() -> None:
    grid = advise_grid(RunConfig(), {"zswap": ["lzo", "deflate"], "zram": ["lz4", "lzo"]},
                       pool_percents=[10, 20])
    zswap = [(c.compressor, c.max_pool_percent, c.shrinker_enabled) for c in grid
             if c.backend == "zswap"]
    assert sorted(zswap) == sorted((c, p, s) for c in ("lzo", "deflate") for p in (10, 20)
                                   for s in (False, True))
    assert sorted(c.compressor for c in grid if c.backend == "zram") == ["lz4", "lzo"]
    everything = advise_grid(RunConfig(), {"zswap": ["lzo"], "zram": ["lzo"]},
                             pool_percents=[20], include_unoffered=True)
    assert {c.compressor for c in everything if c.backend == "zswap"} >= {"lzo", "zstd", "lz4"}


@pytest.mark.parametrize("objective", ["memory", "latency", "balanced"])
def test_ranking_follows_the_documented_formula(results: list[dict[str, object]],
                                                objective: str) -> None:
    rows = rank(results, objective, {"zswap": ["lzo", "lz4"], "zram": None})
    base = next(r for r in rows if r["backend"] == "none")
    assert base["score"] == 0 and base["time_increase"] == 0
    for row in rows:
        saved, inc = row["saved_fraction"], row["time_increase"]
        expect = {"memory": saved, "latency": -inc, "balanced": saved - inc}[objective]
        assert row["score"] == pytest.approx(expect, abs=1e-5)
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_compressor_the_kernel_does_not_offer_is_never_recommended(
        results: list[dict[str, object]]) -> None:
    rows = rank(results, "memory", {"zswap": ["lzo"], "zram": None})
    lz4 = [r for r in rows if r["compressor"] == "lz4"]
    assert lz4 and all(r["offered"] is False for r in lz4)
    assert rows.index(lz4[0]) > max(rows.index(r) for r in rows if r["offered"] is not False)


def test_kernel_offers_reads_this_host() -> None:
    offers = kernel_offers()
    if Path("/proc/crypto").exists():
        assert offers["zswap"] is not None
        assert set(offers["zswap"]) <= {"lzo", "lzo-rle", "deflate", "lz4", "lz4hc", "zstd",
                                        "842"}


def test_apply_commands() -> None:
    z = apply_commands({"backend": "zswap", "compressor": "lzo-rle", "max_pool_percent": 20,
                        "shrinker_enabled": True})
    assert "echo lzo-rle > /sys/module/zswap/parameters/compressor" in z["runtime"]
    assert "echo Y > /sys/module/zswap/parameters/shrinker_enabled" in z["runtime"]
    assert z["kernel_command_line"] == ("zswap.enabled=1 zswap.compressor=lzo-rle "
                                        "zswap.max_pool_percent=20 zswap.shrinker_enabled=Y")
    zr = apply_commands({"backend": "zram", "compressor": "lz4"}, 3 << 30)
    assert "zram-size = 3072" in zr["zram_generator"]
    assert "compression-algorithm = lz4" in zr["zram_generator"]
    assert "zramctl --find --size 3072M --algorithm lz4" in zr["runtime"]
    assert zr["kernel_command_line"] == "zswap.enabled=0"
    assert "enabled" in apply_commands({"backend": "none"})["runtime"]


def test_advise_cli_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["advise", *TINY, "--pool-percents", "20", "--compressors", "lzo",
            "--seeds", "2"]
    code, out, _ = _cli([*args, "--json"], capsys)
    assert code == 0
    a = json.loads(out)
    labels = [r["label"] for r in a["grid"]]
    assert {"no zswap (baseline)", "zswap lzo 20%", "zswap lzo 20% shrinker",
            "zram lzo"} <= set(labels)
    assert a["recommendation"]["label"] == labels[0] or a["grid"][0]["offered"] is False
    assert a["apply"]["runtime"] and a["apply"]["kernel_command_line"]
    assert a["formula"] == "saved_fraction - time_increase"
    for row in a["grid"]:
        if not row["failed"]:
            assert row["spread"]["memory_saved_bytes"]["n"] == 2
    code, out, _ = _cli(args, capsys)
    assert code == 0
    assert "recommendation" in out and "kernel command line" in out and "ranking" in out

