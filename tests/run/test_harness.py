"""The memory-pressure harness: consistency, determinism, verification, cgroups, workloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pyzswap.cli import main
from pyzswap.run.harness import RunConfig, run_workload
from pyzswap.run.mm import LostPage
from pyzswap.run.workload import builtin_workload, page_file_workload
from pyzswap.zswap import Zswap

_TIMING_KEYS = {"wall_seconds", "cpu_seconds", "latency", "latency_us", "median_store_us"}


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in _TIMING_KEYS}
    out["writeback"] = {k: v for k, v in report["writeback"].items() if k != "seconds"}
    return out


def test_small_default_run_is_consistent_and_verified() -> None:
    r = run_workload(builtin_workload("default", scale=0.2), RunConfig(compressor="lz4")).data
    c, f, s = r["consistency"], r["faults"], r["swapins"]
    assert c["identity_holds"] and c["pool_total_size_matches_zsmalloc"]
    assert c["verified_faults"] == s["zswap"] + s["disk"] + s["zero"] > 0
    assert f["total"] == f["first_touch"] + f["swapcache"] + f["major"]
    assert f["major"] == r["pgmajfault"]
    # every swap-in read is a major fault's page or a readahead page
    assert s["zswap"] + s["disk"] + s["zero"] == f["major"] + s["readahead"]
    assert r["zswpin"] == s["zswap"] and r["pswpin"] == s["disk"] and r["swpin_zero"] == s["zero"]
    assert r["zswpout"] > 0 and r["stored_pages"] >= 0
    assert r["memory"]["pool_total_size"] == r["debugfs"]["pool_total_size"]
    assert sum(r["ratio_histogram"]["counts"]) == r["debugfs"]["stored_pages"]
    assert len(r["timeline"]) >= 2 and r["latency"]["store"]["count"] > 0


def test_same_seed_same_statistics_other_seed_other_statistics() -> None:
    def go(seed: int) -> dict[str, Any]:
        return _stable(run_workload(builtin_workload("default", seed=seed, scale=0.15),
                                    RunConfig(compressor="lzo", seed=seed)).data)

    a, b, c = go(3), go(3), go(4)
    assert a == b
    assert a["vmstat"] != c["vmstat"]


def test_a_corrupted_swap_in_is_caught_as_a_lost_page(monkeypatch: pytest.MonkeyPatch) -> None:
    # zswap's loads flip a byte from the 50th on: the swap-in of the mm model (compiled,
    # setup.py) must compare what it read with the page's truth
    real_init = Zswap.__init__
    calls = {"n": 0}

    def init(self: Zswap, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        load = self.load

        def flaky(out: Any, *args: Any, **kwargs: Any) -> bool:
            found = load(out, *args, **kwargs)
            calls["n"] += 1
            if found and calls["n"] >= 50:
                out[100] ^= 0xFF
            return found

        self.load = flaky  # type: ignore[method-assign]

    monkeypatch.setattr(Zswap, "__init__", init)
    with pytest.raises(LostPage, match="different bytes"):
        run_workload(builtin_workload("heap", scale=0.1), RunConfig(compressor="lz4"))


def test_memcg_memory_max_triggers_reclaim_in_the_group() -> None:
    r = run_workload(builtin_workload("cgroups", scale=0.2), RunConfig(compressor="lz4")).data
    batch = r["memcg"]["/batch"]
    limit = int(r["total_pages"] * 0.25) * 4096
    assert batch["memory.max"] == limit
    assert batch["memory.current"] <= limit + 4096
    assert r["mm"]["memcg_reclaims"].get("/batch", 0) > 0
    assert batch["zswpout"] > 0 and r["consistency"]["identity_holds"]


def test_zswap_max_and_writeback_knobs_apply() -> None:
    cfg = RunConfig(compressor="lz4", zswap_max={"web": 64 * 1024},
                    zswap_writeback={"batch": False})
    r = run_workload(builtin_workload("cgroups", scale=0.2), cfg).data
    # obj_cgroup_may_zswap compares whole pages of zswap bytes (rounded down) with the limit,
    # before the store adds its object (up to a page): the usage may pass it by two pages
    assert r["memcg"]["/web"]["memory.zswap.current"] < 64 * 1024 + 2 * 4096
    assert r["memcg"]["/batch"]["zswpwb"] == 0
    assert r["consistency"]["identity_holds"]


def test_shrinker_enabled_scans_under_pressure() -> None:
    cfg = RunConfig(compressor="lz4", shrinker_enabled=True, max_pool_percent=60)
    r = run_workload(builtin_workload("heap", scale=0.15), cfg).data
    assert r["mm"]["shrinker_scanned"] > 0 and r["writeback"]["written_back_pages"] > 0
    assert r["consistency"]["identity_holds"]


def test_page_file_workload(tmp_path: Path) -> None:
    from pyzswap.tools.pagesets import make_pages

    path = tmp_path / "pages.bin"
    path.write_bytes(make_pages("mixed", 1024, seed=2))
    wl = page_file_workload(path, pattern="phased", ops=5000)
    r = run_workload(wl, RunConfig(compressor="zstd")).data
    assert r["workload"] == "pages.bin" and r["accesses"] == 5000
    assert r["consistency"]["identity_holds"]


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_run_json_compare_and_sweep(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run_cli(["run", "--scale", "0.1", "-c", "lz4,zstd", "--json"], capsys)
    assert code == 0
    runs = json.loads(out)["runs"]
    assert [r["compressor"] for r in runs] == ["lz4", "zstd"]
    code, out, _ = _run_cli(["run", "heap", "--scale", "0.1", "--sweep",
                             "max_pool_percent=10,40", "--json"], capsys)
    assert code == 0
    runs = json.loads(out)["runs"]
    assert [r["parameters"]["max_pool_percent"] for r in runs] == [10, 40]
    code, out, _ = _run_cli(["run", "--scale", "0.1"], capsys)
    assert code == 0 and "pool_total_size" in out and "every fault returned its page" in out
    # a pool-limit run on a machine with no other memory cgroups says what it left out
    code, out, _ = _run_cli(["run", "--scale", "0.1", "--max-pool-percent", "1", "--no-baseline"],
                            capsys)
    assert code == 0 and "pool limit was hit" in " ".join(out.split())
    code, out, _ = _run_cli(["run", "--scale", "0.1", "--max-pool-percent", "1", "--no-baseline",
                             "--host-memcgs", "2"], capsys)
    assert code == 0 and "pool limit was hit" not in " ".join(out.split())
    code, out, _ = _run_cli(["run", "--scale", "0.1", "--host-memcgs", "3", "--dying-memcgs",
                             "40", "--no-baseline", "--json"], capsys)
    assert code == 0
    assert (json.loads(out)["host_memcgs"], json.loads(out)["dying_memcgs"]) == (3, 40)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nosuch"], "unknown workload"),
        (["run", "--ram", "100"], "at least one page"),
        (["run", "--ram", "12Q"], "--ram"),
        (["run", "--ram", "10^23G"], "--ram"),
        (["run", "--ram", "99E"], "too large"),
        (["run", "--memcg-max", "a=1.5X"], "--memcg-max"),
        (["run", "--memcg-max", "oops"], "PATH=SIZE"),
        (["run", "--sweep", "colour=1,2"], "--sweep"),
        (["run", "-c", "lz4", "--sweep", "max_pool_percent=200"], "bad value"),
        (["run", "-c", "lz5"], "unknown compressor"),
        (["run", "--host-memcgs", "-1"], "--host-memcgs"),
        (["run", "--dying-memcgs", "x"], "--dying-memcgs"),
        (["run", "--host-memcgs", "lots"], "give a count or auto"),
    ],
)
def test_cli_run_errors_are_one_line(argv: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run_cli(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_snapshot_of_a_real_process_feeds_store_and_run(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, json\n"
         "data = [{'k': i, 'v': str(i) * 20} for i in range(60000)]\n"
         "blob = json.dumps(data)\n"
         "print('ready', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        out_file = tmp_path / "snap.pages"
        code, _, err = _run_cli(["snapshot", str(child.pid), "-o", str(out_file)], capsys)
        assert code == 0, err
    finally:
        child.communicate("")
    assert out_file.stat().st_size % 4096 == 0 and out_file.stat().st_size > 0
    code, out, _ = _run_cli(["store", str(out_file), "--json"], capsys)
    assert code == 0 and json.loads(out)["verified"] is True
    code, out, _ = _run_cli(["run", str(out_file), "--ops", "20000", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["consistency"]["identity_holds"]


def test_snapshot_of_a_missing_pid_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    pid = 4_000_000  # above pid_max on Linux
    code, _, err = _run_cli(["snapshot", str(pid), "-o", "/tmp/never.pages"], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_default_run_finishes_within_a_minute() -> None:
    t0 = time.perf_counter()
    r = run_workload(builtin_workload("default"), RunConfig())
    assert r["consistency"]["identity_holds"]
    assert time.perf_counter() - t0 < 60


def test_trace_workload_runs_and_exit_frees_everything(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["# pyzswap trace v1", "proc 1 512 memcg=web pageset=heap",
             "proc 2 256 pageset=text"]
    for i in range(40):
        lines.append(f"r 1 {i * 7 % 512}-{i * 7 % 512}")
        lines.append(f"w 2 {i % 256}")
        lines.append(f"r 1 0-{(i * 13) % 500}")
    lines.append("exit 2")
    lines.append("r 1 100-200")
    trace = tmp_path / "t.trace"
    trace.write_text("\n".join(lines) + "\n")
    code, out, err = _run_cli(["run", str(trace), "--ram", "1M", "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    assert r["mm"]["exits"] == 1 and r["consistency"]["identity_holds"]
    assert r["memcg"]["/web"]["zswpout"] > 0
    trace.write_text("proc 1 16\nr 1 3\nr 1 99\n")
    code, _, err = _run_cli(["run", str(trace)], capsys)
    assert code == 2 and ":3:" in err and err.count("\n") == 1


def test_plots_are_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    code, out, err = _run_cli(["run", "--scale", "0.05", "-c", "lz4,zstd", "--plot",
                               str(tmp_path / "charts"), "--json"], capsys)
    assert code == 0, err
    plots = json.loads(out)["plots"]
    assert len(plots) == 3
    for p in plots:
        assert Path(p).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("ram", ["64M", "64MiB", "64m", "0.0625G", "65536K", "67108864"])
def test_cli_ram_sizes_as_zramctl_reads_them(ram: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run_cli(["run", "--ram", ram, "--ops", "50", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["ram_pages"] == 16384


def test_default_swap_dir_is_tmpfs_only_with_room(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """The run's swap file goes to a writable SHM_DIR with room for all of it, else to the
    system's temporary directory (None)."""
    from pyzswap.run import harness

    monkeypatch.setattr(harness, "SHM_DIR", str(tmp_path))
    assert harness.default_swap_dir(16) == str(tmp_path)
    assert harness.default_swap_dir(1 << 50) is None
    monkeypatch.setattr(harness, "SHM_DIR", str(tmp_path / "missing"))
    assert harness.default_swap_dir(16) is None


def test_the_temporary_swap_file_is_unlinked_while_the_run_uses_it(tmp_path: Path) -> None:
    """A killed run leaves nothing: the swap file and its temporary directory are removed
    from the file system once the file is open."""
    seen: list[list[str]] = []

    def progress(done: int, total: int) -> None:
        seen.append(os.listdir(tmp_path))

    wl = builtin_workload("scan", scale=0.05, ops=400)
    report = run_workload(wl, RunConfig(ram_pages=64), progress=progress, swap_dir=str(tmp_path))
    assert report["accesses"] == 400 and report["pswpout"] + report["zswpout"] > 0
    assert seen and all(names == [] for names in seen)
    assert list(tmp_path.iterdir()) == []
