"""run/cli_support.py: ``pyzswap run --host-memcgs auto`` reads this machine's memory
cgroups (never changes them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyzswap.cli import main

MEMORY_MOUNTED = any(
    (f.split()[2] == "cgroup" and "memory" in f.split()[3].split(","))
    or f.split()[2] == "cgroup2"
    for f in Path("/proc/mounts").read_text().splitlines() if len(f.split()) >= 4)


@pytest.mark.skipif(not MEMORY_MOUNTED, reason="no cgroup file system mounted here")
def test_auto_reads_this_machine_s_memory_cgroups(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--scale", "0.05", "--host-memcgs", "auto", "--dying-memcgs", "auto",
                 "--no-baseline", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["host_memcgs"] >= 0 and data["dying_memcgs"] >= 0
