"""The cost model, the no-zswap baseline and the zram backend of pyzswap run (issue 23)."""

from __future__ import annotations

import contextlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from pyzswap.cli import main
from pyzswap.errors import InvalidParameter
from pyzswap.run.cost import SWAP_DEVICES, estimate, spread, swap_device
from pyzswap.run.harness import RunConfig, run_workload
from pyzswap.run.workload import builtin_workload, page_file_workload

TINY = ["--scale", "0.05", "--ops", "3000"]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_device_presets_and_custom_latency() -> None:
    nvme, hdd = SWAP_DEVICES["nvme"], SWAP_DEVICES["hdd"]
    assert nvme.read_us() < SWAP_DEVICES["ssd"].read_us() < hdd.read_us()
    assert hdd.read_us() == pytest.approx(12_700 + 4096 / 160)
    custom = swap_device("nvme", 250.0)
    assert custom.name == "custom" and custom.read_us() == 250.0
    with pytest.raises(InvalidParameter):
        swap_device("floppy")
    with pytest.raises(InvalidParameter):
        swap_device("nvme", -1.0)


def test_estimate_follows_the_documented_formula() -> None:
    r = run_workload(builtin_workload("default", scale=0.05, ops=3000), RunConfig()).data
    for dev in ("nvme", "hdd"):
        c = estimate(r, SWAP_DEVICES[dev])
        assert c["device_reads"] == r["swapins"]["disk"] > 0
        assert c["stall_seconds"]["device_reads"] == pytest.approx(
            r["swapins"]["disk"] * SWAP_DEVICES[dev].read_us() / 1e6, abs=1e-6)
        load_us, store_us = r["latency"]["load"]["p50_us"], r["latency"]["store"]["p50_us"]
        assert c["stall_seconds"]["zswap_loads"] == pytest.approx(
            r["swapins"]["zswap"] * load_us / 1e6, abs=1e-6)
        assert c["cpu_seconds"]["compress"] == pytest.approx(
            r["zswpout"] * store_us / 1e6, abs=1e-6)
        assert c["cpu_seconds"]["writeback"] == pytest.approx(
            r["written_back_pages"] * load_us / 1e6, abs=1e-6)
        assert c["time_seconds"] == pytest.approx(
            c["stall_seconds"]["total"] + c["cpu_seconds"]["total"], abs=1e-5)
        assert c["memory_saved_bytes"] == r["memory"]["mean_saved_bytes"]
    assert (estimate(r, SWAP_DEVICES["hdd"])["stall_seconds"]["total"]
            > estimate(r, SWAP_DEVICES["nvme"])["stall_seconds"]["total"])


def test_spread_is_mean_and_sample_stdev() -> None:
    reports = [{"cost": {"memory_saved_bytes": v, "memory_saved_now_bytes": 0,
                         "stall_seconds": {"total": 1.0}, "cpu_seconds": {"total": 0.0},
                         "device_reads": 0, "device_writes": 0, "time_seconds": 1.0},
                "faults": {"major": 0}} for v in (10, 20, 30)]
    sp = spread(reports)["memory_saved_bytes"]
    assert (sp["mean"], sp["stdev"], sp["min"], sp["max"], sp["n"]) == (20, 10, 10, 30, 3)


def test_backend_none_is_zswap_off() -> None:
    r = run_workload(builtin_workload("default", scale=0.05, ops=3000),
                     RunConfig(backend="none")).data
    assert r["backend"] == "none"
    assert r["zswpout"] == r["zswpin"] == r["stored_pages"] == 0
    assert r["pswpout"] > 0 and r["swapins"]["disk"] > 0


def _zram_pages(path: Path) -> int:
    """Compressible text-like pages, same-filled (non-zero) pages and random pages."""
    rng = np.random.default_rng(1)
    words = [b"alpha ", b"beta ", b"gamma ", b"delta ", b"kernel ", b"zswap "]
    text = b"".join(words[i] for i in rng.integers(0, len(words), 300_000))
    pages = [text[i * 4096:(i + 1) * 4096] for i in range(160)]
    pages += [bytes([0x5A]) * 4096 for _ in range(30)]
    pages += [rng.bytes(4096) for _ in range(10)]
    path.write_bytes(b"".join(pages))
    return len(pages)


def test_zram_backend_applies_zrams_storage_rule(tmp_path: Path) -> None:
    path = tmp_path / "pages.bin"
    n = _zram_pages(path)
    wl = page_file_workload(path, pattern="uniform", ops=4000)
    r = run_workload(wl, RunConfig(backend="zram", ram_pages=n * 3 // 4)).data
    z = r["zram"]
    assert r["backend"] == "zram" and r["zswpout"] == 0 and r["pswpout"] > 0
    assert r["consistency"]["identity_holds"]
    assert z["orig_data_size"] == r["stored_pages"] * 4096 > 0
    assert 0 < z["same_pages"] <= 30 and 0 < z["huge_pages"] <= 10
    assert z["compr_data_size"] <= z["orig_data_size"] - z["same_pages"] * 4096
    assert z["mem_used_total"] >= z["compr_data_size"]
    assert r["swapins"]["disk"] == 0  # nothing reaches a disk


def test_zram_that_cannot_fit_is_out_of_memory_not_a_hang(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(["run", "scan", *TINY, "--backend", "zram"], capsys)
    assert code == 2 and "does not fit in RAM plus zram" in err and err.count("\n") == 1


def test_every_run_report_has_baseline_and_costs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["run", *TINY, "--json", "--seeds", "2"], capsys)
    assert code == 0
    r = json.loads(out)
    assert r["baseline"]["backend"] == "none" and r["baseline"]["seed"] == r["seed"] == 0
    assert r["baseline"]["swapins"]["zswap"] == 0
    assert r["seeds"] == [0, 1] and r["spread"]["memory_saved_bytes"]["n"] == 2
    c = r["cost"]
    assert c["swap_device"]["name"] == "nvme"
    assert set(c["cpu_seconds"]) == {"compress", "decompress", "writeback", "total"}
    v = r["versus_baseline"]
    assert v["device_reads"] == pytest.approx(
        r["spread"]["device_reads"]["mean"] - r["baseline_spread"]["device_reads"]["mean"])
    code, out, _ = _cli(["run", *TINY, "--seeds", "2"], capsys)
    assert code == 0
    assert "no zswap (baseline)" in out and "estimated stall in faults" in out
    assert "2 seeds" in out and "versus no zswap" in out
    # the mean comes first
    assert out.index("memory saved (mean over the run)") < out.index("memory saved at the end")


def test_no_baseline_skips_only_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    """--no-baseline: the same run and cost, no zswap-off run beside it (nor its column)."""
    code, out, _ = _cli(["run", *TINY, "--json"], capsys)
    assert code == 0
    full = json.loads(out)
    code, out, _ = _cli(["run", *TINY, "--json", "--no-baseline"], capsys)
    assert code == 0
    lean = json.loads(out)
    assert "baseline" in full and "baseline" not in lean and "versus_baseline" not in lean
    for key in ("zswpout", "zswpin", "pswpout", "pgmajfault", "stored_pages"):
        assert lean[key] == full[key], key
    assert lean["cost"]["stall_seconds"].keys() == full["cost"]["stall_seconds"].keys()
    code, out, _ = _cli(["run", *TINY, "--no-baseline"], capsys)
    assert code == 0
    assert "estimated stall in faults" in out and "no zswap (baseline)" not in out


def test_swap_device_choice_changes_only_the_cost(capsys: pytest.CaptureFixture[str]) -> None:
    got = {}
    for args in (["--swap-device", "hdd"], ["--swap-latency", "80"]):
        code, out, _ = _cli(["run", *TINY, "--json", *args], capsys)
        assert code == 0
        got[args[0]] = json.loads(out)
    hdd, custom = got["--swap-device"], got["--swap-latency"]
    assert hdd["zswpout"] == custom["zswpout"]  # same seed, same model counters
    assert hdd["cost"]["swap_device"]["read_latency_us"] == 12_700
    assert custom["cost"]["stall_seconds"]["device_reads"] == pytest.approx(
        custom["swapins"]["disk"] * 80e-6, abs=1e-6)


def test_three_backends_in_one_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["run", *TINY, "--json", "--backend", "zswap", "--backend", "none",
                         "-c", "lz4"], capsys)
    assert code == 0
    runs = json.loads(out)["runs"]
    assert [r["backend"] for r in runs] == ["zswap", "none"]
    assert not math.isnan(runs[0]["versus_baseline"]["stall_seconds"])


@pytest.mark.parametrize(("command", "argv", "message"), [
    ("run", ["-c", "lzo", "-c", "lz4"], "--compressor given twice"),
    ("run", ["--sweep", "max_pool_percent=10", "--sweep", "ram=8M"], "--sweep given twice"),
    ("run", ["--pattern", "uniform"], "--pattern applies to a page file"),
    ("run", ["--memcg-max", "bacth=1M"], "no cgroup 'bacth'"),
    ("run", ["--backend", "zram", "--swap-device", "nvme"], "zram is the swap device"),
    ("run", ["--swap-device", "ssd", "--swap-latency", "9"], "give one"),
    ("run", ["--zram-size", "64M"], "needs --backend zram"),
    ("run", ["--swap-device", "zram"], "compare it with --backend zram"),
    ("advise", ["--pool-percents", "x"], "expected integers"),
    ("advise", ["--pool-percents", "200"], "from 0 to 100"),
    ("advise", ["--backends", "floppy"], "choose from zswap, zram"),
    ("advise", ["--compressors", "nosuch"], "nosuch"),
    ("advise", ["--swap-device", "zram"], "the grid has zram as a backend"),
    ("advise", ["--memcg-max", "nosuch=1M"], "no cgroup 'nosuch'"),
])
def test_conflicting_or_ignored_options_are_errors(command: str, argv: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """run and advise refuse, in one line, what they would otherwise ignore or override."""
    code, _, err = _cli([command, *TINY, *argv], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_compressors_times_sweep_is_a_grid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["run", *TINY, "--json", "-c", "lz4,lzo", "--sweep",
                         "max_pool_percent=10,40"], capsys)
    assert code == 0
    runs = json.loads(out)["runs"]
    assert [(r["compressor"], r["parameters"]["max_pool_percent"]) for r in runs] == [
        ("lz4", 10), ("lzo", 10), ("lz4", 40), ("lzo", 40)]


def test_small_ram_is_shown_in_a_readable_unit(capsys: pytest.CaptureFixture[str]) -> None:
    from pyzswap.run.report import _mib

    assert _mib(4096) == "4.00 KiB" and _mib(3 << 20) == "3.00 MiB" and _mib(12) == "12 B"
    assert _mib(5 << 30) == "5.00 GiB"


def test_shrinker_writeback_time_is_counted() -> None:
    r = run_workload(builtin_workload("default", scale=0.05, ops=3000),
                     RunConfig(shrinker_enabled=True, max_pool_percent=100)).data
    if r["writeback"]["written_back_pages"]:
        assert r["cpu_seconds"]["writeback"] > 0 and r["writeback"]["seconds"] > 0


def test_small_ram_in_the_run_header(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["run", *TINY, "--ram", "409700"], capsys)
    assert code == 0 and "in 400.00 KiB of RAM" in out


def test_swap_file_goes_to_swap_dir(tmp_path: Path) -> None:
    """The run's swap file is made in swap_dir (and unlinked at once: it is seen through the
    process's open descriptors, as ``path (deleted)``)."""
    seen: list[str] = []

    def progress(done: int, total: int) -> None:
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                seen.append(os.readlink(f"/proc/self/fd/{fd}"))

    run_workload(builtin_workload("default", scale=0.05, ops=3000), RunConfig(),
                 progress=progress, swap_dir=str(tmp_path))
    assert any(t.startswith(f"{tmp_path}/pyzswap-run-") and t.endswith("(deleted)")
               for t in seen), seen
    assert list(tmp_path.iterdir()) == []


def test_progress_names_run_index_configuration_and_seed() -> None:
    from pyzswap.run.evaluate import evaluate

    calls: list[tuple[str, int, int]] = []
    evaluate(lambda s: builtin_workload("default", seed=s, scale=0.05, ops=2000),
             [RunConfig(compressor="lz4", label="lz4"), RunConfig(label="lzo")],
             seeds=[0, 1], device=SWAP_DEVICES["nvme"],
             progress=lambda label, run, runs, done, total: calls.append((label, run, runs)))
    labels = {label for label, _, _ in calls}
    assert {"lz4 seed 0", "lz4 seed 1", "lzo seed 0", "no zswap seed 1"} <= labels
    assert {runs for _, _, runs in calls} == {6}  # 2 configurations x 2 seeds + 2 baselines
    assert sorted({run for _, run, _ in calls}) == list(range(6))


def test_checked_line_says_why_nothing_was_verified(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["run", *TINY, "--ram", "1G"], capsys)
    assert code == 0
    assert "nothing was swapped in (no memory pressure)" in out and "--no-verify" not in out
    code, out, _ = _cli(["run", *TINY, "--no-verify"], capsys)
    assert code == 0 and "not verified (--no-verify)" in out


def test_a_parent_cgroup_of_the_workload_is_known(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.trace"
    trace.write_text("# pyzswap trace v1\nproc 1 64 memcg=c/d pageset=real\n"
                     "w 1 0-63\n")
    code, _, err = _cli(["run", str(trace), "--memcg-max", "c=64K", "--json"], capsys)
    assert code == 0, err
    code, _, err = _cli(["run", str(trace), "--memcg-max", "e=64K"], capsys)
    assert code == 2 and "no cgroup 'e'" in err
