"""``pyzswap status``: the read-only host view, against fixture /sys and /proc trees and live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyzswap.cli import main
from pyzswap.tools import status as status_mod
from pyzswap.tools.status import StatusPaths, collect, human_bytes, rates

MEMINFO = """MemTotal:       24684032 kB
MemAvailable:   20000000 kB
SwapTotal:       1048572 kB
SwapFree:         524288 kB
SwapCached:         1024 kB
Zswap:             40960 kB
Zswapped:         163840 kB
"""
PARAMS = {"enabled": "Y", "compressor": "zstd", "max_pool_percent": "20",
          "accept_threshold_percent": "90", "shrinker_enabled": "N"}
DEBUGFS = {"pool_total_size": 41943040, "stored_pages": 40960, "written_back_pages": 7,
           "reject_compress_poor": 3, "pool_limit_hit": 0}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _vmstat(zswpout: int, zswpin: int) -> str:
    return (f"nr_free_pages 1\nzswpout {zswpout}\nzswpin {zswpin}\nzswpwb 7\npswpout 100\n"
            "pswpin 50\nswpout_zero 4\nswpin_zero 2\n")


def make_host(root: Path, *, cgroup_version: int = 2, debugfs: bool = True) -> Path:
    """A fixture host: zswap enabled with zstd, one swap file, zram0 in use, two cgroups."""
    for name, value in PARAMS.items():
        _write(root / "sys/module/zswap/parameters" / name, value + "\n")
    mounts = "sysfs /sys sysfs rw 0 0\n"
    if debugfs:
        mounts += "debugfs /sys/kernel/debug debugfs rw 0 0\n"
        for name, value in DEBUGFS.items():
            _write(root / "sys/kernel/debug/zswap" / name, f"{value}\n")
    _write(root / "proc/mounts", mounts)
    _write(root / "proc/meminfo", MEMINFO)
    _write(root / "proc/vmstat", _vmstat(1000, 500))
    _write(root / "proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n"
                                "/var/swapfile  file  1048572  524284  -2\n")
    z = root / "sys/block/zram0"
    _write(z / "initstate", "1\n")
    _write(z / "disksize", str(4 << 30) + "\n")
    _write(z / "comp_algorithm", "lzo [lzo-rle] lz4 zstd\n")
    _write(z / "mm_stat", "104857600 26214400 27262976 0 27262976 120 0 15 15\n")
    _write(root / "sys/block/zram1/initstate", "0\n")  # unused devices are not listed
    cg = root / "sys/fs/cgroup"
    if cgroup_version == 2:
        _write(cg / "cgroup.controllers", "cpuset cpu io memory pids\n")
        for path, current, wb in (("", 0, None), ("web", 8 << 20, "1"),
                                  ("batch/job1", 32 << 20, "0")):
            d = cg / path if path else cg
            if path:
                _write(d / "memory.zswap.current", f"{current}\n")
                _write(d / "memory.zswap.max", "max\n")
                _write(d / "memory.stat", f"anon 1\nzswap {current}\nzswapped {4 * current}\n"
                                          "zswpout 10\nzswpin 5\nzswpwb 1\n")
                if wb is not None:
                    _write(d / "memory.zswap.writeback", wb + "\n")
    else:
        _write(cg / "memory/memory.usage_in_bytes", "4096\n")
    return root


def test_collect_reads_every_source(tmp_path: Path) -> None:
    snap = collect(StatusPaths.under(make_host(tmp_path)))
    assert snap["zswap_parameters"]["values"] == PARAMS
    assert snap["zswap_debugfs"]["values"] == DEBUGFS
    assert snap["meminfo"]["values"]["Zswap"] == 40960 * 1024
    assert snap["compression_ratio"] == 4.0
    assert snap["vmstat"]["values"]["zswpout"] == 1000
    (swap,) = snap["swaps"]["values"]
    assert swap == {"name": "/var/swapfile", "type": "file", "size": 1048572 * 1024,
                    "used": 524284 * 1024, "priority": -2}
    (zram,) = snap["zram"]["values"]
    assert zram["device"] == "zram0" and zram["algorithm"] == "lzo-rle"
    assert zram["mm_stat"]["compr_data_size"] == 26214400
    assert zram["mm_stat"]["huge_pages_since"] == 15
    cg = snap["cgroups"]["values"]
    assert cg["version"] == 2
    assert [g["path"] for g in cg["groups"]] == ["/batch/job1", "/web"]  # largest first
    job = cg["groups"][0]
    assert job["zswap_current"] == 32 << 20 and job["zswap_writeback"] is False
    assert job["zswapped"] == 128 << 20 and job["zswpwb"] == 1


def test_cgroup_v1_says_zswap_is_not_charged(tmp_path: Path) -> None:
    cg = collect(StatusPaths.under(make_host(tmp_path, cgroup_version=1)))["cgroups"]["values"]
    assert cg["version"] == 1 and cg["groups"] == []
    assert "not charged" in cg["note"]


def test_missing_sources_are_reasons_not_errors(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    snap = collect(StatusPaths.under(tmp_path))
    for key in ("zswap_parameters", "zswap_debugfs", "meminfo", "vmstat", "swaps", "cgroups"):
        assert snap[key]["unavailable"], key
    assert "no zswap" in snap["zswap_parameters"]["unavailable"]


def test_unmounted_debugfs_names_the_mount_command(tmp_path: Path) -> None:
    snap = collect(StatusPaths.under(make_host(tmp_path, debugfs=False)))
    assert "mount -t debugfs" in snap["zswap_debugfs"]["unavailable"]


def test_rates_between_snapshots(tmp_path: Path) -> None:
    paths = StatusPaths.under(make_host(tmp_path))
    before = collect(paths)
    (tmp_path / "proc/vmstat").write_text(_vmstat(1300, 540))
    after = collect(paths)
    after["time"] = before["time"] + 2.0
    per_s = rates(before, after)
    assert per_s is not None
    assert per_s["zswpout_per_s"] == 150.0 and per_s["zswpin_per_s"] == 20.0
    assert per_s["zswpwb_per_s"] == 0.0
    after["time"] = before["time"]
    assert rates(before, after) is None


def test_human_bytes() -> None:
    assert human_bytes(0) == "0 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 << 30) == "3.0 GiB"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_json_and_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = make_host(tmp_path)
    rc, out, err = run(capsys, "status", "--root", str(root), "--interval", "0", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["zswap_parameters"]["values"]["compressor"] == "zstd"
    assert data["rates"] is None
    rc, out, _ = run(capsys, "status", "--root", str(root), "--interval", "0")
    assert rc == 0
    for text in ("zswap parameters", "40.0 MiB", "4.00", "zswpout", "/var/swapfile",
                 "lzo-rle", "25.0 MiB", "/batch/job1", "32.0 MiB"):
        assert text in out, text
    # Redirected output is not wrapped at 80 columns: each table row stays on one line.
    assert any(len(line) > 80 for line in out.splitlines())


def test_cli_watch_json_lines_until_ctrl_c(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_host(tmp_path)
    ticks: list[float] = []

    def fake_sleep(seconds: float) -> None:
        ticks.append(seconds)
        if len(ticks) > 2:
            raise KeyboardInterrupt
        (root / "proc/vmstat").write_text(_vmstat(1000 + 10 * len(ticks), 500))

    monkeypatch.setattr(status_mod.time, "sleep", fake_sleep)
    rc, out, _ = run(capsys, "status", "--root", str(root), "--watch", "--json",
                     "--interval", "0.5")
    assert rc == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 2 and all(line["rates"] is not None for line in lines)
    assert ticks == [0.5, 0.5, 0.5]


def test_cli_refusals(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, _, err = run(capsys, "status", "--watch", "--interval", "0")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--interval" in err
    rc, _, err = run(capsys, "status", "--interval", "-1")
    assert rc == 2 and len(err.strip().splitlines()) == 1


def test_live_host_read_only(capsys: pytest.CaptureFixture[str]) -> None:
    """On this machine, as whoever runs the tests: it shows what it can and changes nothing
    (the session's host check would fail otherwise)."""
    from ..hoststate import host_state

    before = host_state()
    rc, out, err = run(capsys, "status", "--interval", "0", "--json")
    assert rc == 0, err
    data: dict[str, Any] = json.loads(out)
    assert "values" in data["meminfo"]
    assert host_state() == before
