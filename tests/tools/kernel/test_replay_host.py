"""The kernel replayer for real: a small trace on this host's kernel, its counters, and the host
restored afterwards — after a normal run, after SIGTERM, and from the journal after SIGKILL.

These change the host (zswap parameters, vm sysctls, a swap file, memory cgroups): marked
``host``, run by ``make test-host``; the autouse fixture of conftest.py checks that every test
leaves the host as it found it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyzswap.tools.kernel._host import HostChanges, cgroup_pids
from pyzswap.tools.kernel.cgroup import memory_hierarchy
from pyzswap.tools.kernel.replay import METRIC_KEYS, ReplayOptions, run_replay

from .conftest import ZSWAP_MARKS

pytestmark = ZSWAP_MARKS

LIMIT = 8 << 20


def write_trace(path: Path, npages: int, accesses: int, *, exit_first: bool = False) -> Path:
    """Process 1 fills ``npages`` (twice the limit) and reads/writes them at random; with
    ``exit_first`` a second process starts late, is pushed out, and exits mid-trace."""
    rng = np.random.default_rng(5)
    lines = ["# pyzswap trace v1", f"proc 1 {npages} memcg=G", f"w 1 0-{npages - 1}"]
    if exit_first:
        lines += ["proc 2 1024 memcg=G pageset=mixed", "w 2 0-1023"]
    pages = rng.integers(0, npages, accesses)
    writes = rng.random(accesses) < 0.2
    lines += [f"{'w' if w else 'r'} 1 {p}" for p, w in zip(pages.tolist(), writes.tolist(),
                                                           strict=True)]
    if exit_first:
        lines.insert(len(lines) - accesses // 2, "exit 2")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_small_trace_for_real(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.trace", 4096, 20_000, exit_first=True)
    result = run_replay(trace, ReplayOptions(memcg_max={"G": LIMIT}, swappiness=200,
                                             page_cluster=0, cgroup_version=1))
    assert set(METRIC_KEYS) <= result.keys()
    assert result["verified"] and result["mismatched_pages"] == 0
    assert result["checked_pages"] == 4096 + 1024
    # twice the limit written: the rest went through zswap, and came back on faults
    assert result["zswpout"] > 4096 - LIMIT // 4096
    assert result["zswpin"] > 0 and result["stored_pages"] > 0
    assert result["pool_total_size"] > 0 and result["pswpout"] == result["pswpin"] == 0
    swapins = result["zswpin"] + result["swpin_zero"] + result["pswpin"]
    assert result["pgmajfault"] == pytest.approx(swapins, rel=0.02)
    # the exiting process's check faulted its pages back in: taken out of the counters
    assert result["exit_check_adjustment"].get("zswpin", 0) > 0
    timeline = result["timeline"]
    assert timeline[0]["t"] == 0.0 and timeline[-1]["t"] == 1.0 and len(timeline) >= 101
    assert timeline[-1]["stored_pages"] == result["stored_pages"]
    # the group tree held to the limit (plus the parent's per-CPU charge batch, 64 pages)
    assert max(p["memcg_usage"] for p in timeline) <= LIMIT + 64 * 4096
    assert result["settings"]["vm"] == {"swappiness": "200", "page-cluster": "0"}
    assert result["settings"]["memcg_max"] == {"/G": LIMIT}


def test_cli_json_has_the_contract_keys(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "t.trace", 2048, 3000)
    proc = subprocess.run([sys.executable, "-m", "pyzswap.cli", "kernel", "run", str(trace),
                           "--memcg-max", "G=4M", "--cgroup-version", "1", "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "changing the host" in proc.stderr
    data = json.loads(proc.stdout)
    assert set(METRIC_KEYS) | {"timeline", "wall_seconds"} <= data.keys()
    assert all({"t", "stored_pages", "pool_total_size"} <= p.keys() for p in data["timeline"])


def replay_groups(pid: int) -> list[Path]:
    root = memory_hierarchy().root
    return sorted(root.glob(f"pyzswap-replay-{pid}-*"))


def start_long_run(tmp_path: Path) -> subprocess.Popen[bytes]:
    """A replay that runs for a while; returns once its processes run in their cgroup."""
    trace = write_trace(tmp_path / "long.trace", 16384, 400_000)
    proc = subprocess.Popen([sys.executable, "-m", "pyzswap.cli", "kernel", "run", str(trace),
                             "--memcg-max", "G=4M"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        groups = replay_groups(proc.pid)
        if groups and cgroup_pids(groups[0] / "G"):
            return proc
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the replay did not start")


def test_sigterm_restores_the_host(tmp_path: Path) -> None:
    proc = start_long_run(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert replay_groups(proc.pid) == []
    # the autouse fixture checks zswap, swaps, sysctls, cgroups, debugfs and files


def test_a_killed_run_is_undone_by_the_next_from_its_journal(tmp_path: Path) -> None:
    proc = start_long_run(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # its replay processes die with it (PR_SET_PDEATHSIG); the host still has its changes
    groups = replay_groups(proc.pid)
    assert groups
    assert Path("/proc/swaps").read_text().count("\n") > 1
    reports: list[str] = []
    with HostChanges(report=reports.append):
        pass  # entering replays the journal
    assert reports and f"pid {proc.pid}" in reports[0]
    assert replay_groups(proc.pid) == []


def test_repeated_runs_agree(tmp_path: Path) -> None:
    """Two replays of one trace agree: the event counters within 2%, the pool's final
    occupancy within 5% (memcg reclaim reads statistics the kernel flushes on a wall-clock
    period, so on a busy machine its last decisions shift a little; seen: 2.8%)."""
    trace = write_trace(tmp_path / "t.trace", 4096, 20_000)
    opts = ReplayOptions(memcg_max={"G": LIMIT}, swappiness=200, page_cluster=0)
    runs: list[dict[str, Any]] = [run_replay(trace, opts) for _ in range(2)]
    for key, tolerance in (("zswpout", 0.02), ("zswpin", 0.02), ("pgmajfault", 0.02),
                           ("stored_pages", 0.05)):
        a, b = (r[key] for r in runs)
        assert abs(a - b) <= tolerance * max(a, b), (key, a, b)
