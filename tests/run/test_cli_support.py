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


def test_a_trace_is_read_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The option checks and the run share one reading of the trace (a large trace takes
    seconds to read); the baseline run reuses it too."""
    from pyzswap.run import workload as wl

    trace = tmp_path / "t.trace"
    trace.write_text("proc 1 64 memcg=g pageset=text\nw 1 0-63\nr 1 0-63\n")
    calls: list[str] = []
    real = wl.trace_workload

    def counted(path: object, *args: object, **kwargs: object) -> object:
        calls.append(str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(wl, "trace_workload", counted)
    code = main(["run", str(trace), "--ram", "1M", "--memcg-max", "g=128K", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["zswpout"] > 0
    assert calls == [str(trace)]
