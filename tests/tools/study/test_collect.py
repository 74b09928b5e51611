"""``pyzswap snapshot --all``: every matching process, with command line, cgroup and RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pyzswap.cli import cli
from pyzswap.tools.pagesets import read_page_file
from pyzswap.tools.study import load_spec, process_info, snapshot_all

MARK = f"pyzswap-study-target-{uuid.uuid4().hex[:8]}"
_TARGET = ("import sys\nbuf = bytearray(b'FLEET-MARK' * 200_000)\nprint('ready', flush=True)\n"
           "sys.stdin.read()\n")


@pytest.fixture(scope="module")
def targets() -> Iterator[list[int]]:
    """Two live processes whose command lines carry a unique mark."""
    procs = [subprocess.Popen([sys.executable, "-c", _TARGET, MARK, str(i)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="reads other processes' memory")


def test_process_info_has_command_cgroup_and_rss(targets: list[int]) -> None:
    info = process_info(targets[0])
    assert info is not None and MARK in info["cmdline"]
    assert info["rss_bytes"] > 2_000_000 and info["rss_anon_bytes"] > 2_000_000
    assert info["cgroup"] is not None and info["cgroup"].startswith("/")
    assert process_info(2) is None or process_info(2)["cmdline"]  # kthreadd: None


def test_snapshot_all_takes_every_match_with_its_metadata(tmp_path: Path,
                                                          targets: list[int]) -> None:
    index = snapshot_all(tmp_path / "snaps", match=MARK)
    assert sorted(p["pid"] for p in index["processes"]) == sorted(targets)
    assert json.loads((tmp_path / "snaps" / "index.json").read_text()) == index
    for proc in index["processes"]:
        data = read_page_file(tmp_path / "snaps" / proc["page_file"])
        assert b"FLEET-MARK" * 100 in data and len(data) == proc["pages"] * 4096
        assert (tmp_path / "snaps" / proc["metadata"]).is_file()  # the single snapshot's
        assert proc["comm"] and proc["cgroup"] and proc["rss_bytes"] and proc["host"]
    # the directory is study input: one workload per process, its command as the class
    (tmp_path / "s.toml").write_text('[[workload]]\nsnapshots = "snaps"\n')
    spec = load_spec(tmp_path / "s.toml")
    assert len(spec.workloads) == 2
    assert {w.meta["pid"] for w in spec.workloads} == set(targets)
    assert {w.cls for w in spec.workloads} == {index["processes"][0]["comm"]}


def test_snapshot_all_cli(tmp_path: Path, targets: list[int]) -> None:
    result = CliRunner().invoke(cli, ["snapshot", "--all", "--match", MARK, "-o",
                                      str(tmp_path / "d"), "--json"])
    assert result.exit_code == 0, result.output
    index = json.loads(result.output[result.output.index("{"):])
    assert len(index["processes"]) == 2
    for args, message in ((["1", "--all"], "either PID or --all"),
                          (["--match", "x"], "either PID or --all"), ([], "missing PID"),
                          (["--all", "--match", "("], "--match")):
        bad = CliRunner().invoke(cli, ["snapshot", *args, "-o", str(tmp_path / "e")])
        assert bad.exit_code == 2 and message in bad.output, bad.output
    assert not (tmp_path / "e").exists()
