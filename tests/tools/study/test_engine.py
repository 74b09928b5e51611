"""The engine on real Dask clusters: worker loss, interruption and resumption, failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pyzswap.tools.pagesets import make_pages, write_page_file
from pyzswap.tools.study import CellStore, StudyProgress, load_spec, run_study

from .conftest import SPEC_12, deterministic, write_spec

DASK = str(Path(sys.executable).parent / "dask")


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[tuple[str, dict[int, subprocess.Popen[str]]]]:
    """`dask scheduler` and two `dask worker` processes (no nanny: a killed one stays dead)."""
    procs: list[subprocess.Popen[str]] = []
    try:
        sched = subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard"], stderr=subprocess.PIPE, text=True,
                                 cwd=tmp_path)
        procs.append(sched)
        assert sched.stderr is not None
        address = ""
        for line in sched.stderr:  # blocks until the scheduler says where it listens
            if "Scheduler at:" in line:
                address = line.split("Scheduler at:")[1].strip()
                break
        assert address.startswith("tcp://127.0.0.1:")
        threading.Thread(target=sched.stderr.read, daemon=True).start()  # keep draining
        workers = {}
        for i in range(2):
            w = subprocess.Popen([DASK, "worker", address, "--nthreads", "1", "--no-nanny",
                                  "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}",
                                  "--local-directory", str(tmp_path / f"w{i}")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 text=True, cwd=tmp_path)
            procs.append(w)
            workers[w.pid] = w
        yield address, workers
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_killed_worker_loses_nothing_and_results_match_the_local_run(
        tmp_path: Path, dask_cluster: tuple[str, dict[int, subprocess.Popen[str]]],
        client: Any) -> None:
    from distributed import Client

    address, workers = dask_cluster
    spec = load_spec(write_spec(tmp_path))
    watcher = Client(address)
    try:
        watcher.wait_for_workers(2)
        pids: dict[str, int] = watcher.run(os.getpid)  # worker address -> its process
        assert set(pids.values()) == set(workers)
        killed: dict[str, Any] = {}

        def kill_one_mid_study(state: StudyProgress, record: dict[str, Any] | None) -> None:
            if record is None or killed or state.computed < 3:
                return
            busy = {a: keys for a, keys in watcher.processing().items() if keys}
            victim = sorted(busy)[0]  # a worker that is running cells right now
            killed.update(address=victim, running=list(busy[victim]))
            workers[pids[victim]].kill()

        result = run_study(spec, tmp_path / "cluster", scheduler=address,
                           progress=kill_one_mid_study)
    finally:
        watcher.close()
    assert killed["running"], "the victim was running a cell when it was killed"
    assert (result.total, result.computed, result.cached, result.failed) == (12, 12, 0, 0)
    store = CellStore(tmp_path / "cluster")
    records = [store.get(c.key) for c in spec.cells]
    assert all(r is not None and r["status"] == "ok" for r in records)
    survivor = next(a for a in pids if a != killed["address"])
    lost = {k.removeprefix("cell-") for k in killed["running"]}
    for r in records:
        assert r is not None
        if r["key"] in lost:  # what the dead worker was running was run again elsewhere
            assert r["execution"]["worker"] == survivor
    # the same study on a local cluster (two worker processes) gives the same figures
    local = run_study(spec, tmp_path / "local", client=client)
    assert local.computed == 12 and local.failed == 0
    a, b = pq.read_table(result.table), pq.read_table(local.table)
    assert a.num_rows == b.num_rows == 12
    assert deterministic(a) == deterministic(b)
    assert {"memory.saved_bytes", "vmstat.zswpout", "debugfs.stored_pages",
            "series.pool_total_size", "option.compressor", "cell.class"} <= set(a.column_names)


def test_interrupted_study_resumes_without_recomputing(tmp_path: Path, client: Any) -> None:
    spec = load_spec(write_spec(tmp_path))
    out = tmp_path / "study"

    def interrupt(state: StudyProgress, record: dict[str, Any] | None) -> None:
        if record is not None and state.computed == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(spec, out, client=client, progress=interrupt)
    store = CellStore(out)
    first = {k: store.get(k) for k in store.finished()}
    assert len(first) == 5
    mtimes = {k: (out / "cells" / f"{k}.json").stat().st_mtime_ns for k in first}
    assert pq.read_table(out / "results.parquet").num_rows == 5  # the table so far
    resumed = run_study(spec, out, client=client)
    assert (resumed.cached, resumed.computed, resumed.failed) == (5, 7, 0)
    assert len(resumed.executed) == 7
    for key, record in first.items():  # the finished cells were not run again
        again = store.get(key)
        assert again is not None and record is not None
        assert again["execution"]["exec_id"] == record["execution"]["exec_id"]
        assert (out / "cells" / f"{key}.json").stat().st_mtime_ns == mtimes[key]
    exec_ids = {store.get(c.key)["execution"]["exec_id"] for c in spec.cells}  # type: ignore[index]
    assert len(exec_ids) == 12  # 5 + 7 executions in all
    third = run_study(spec, out, client=client)
    assert (third.cached, third.computed, third.executed) == (12, 0, [])
    assert pq.read_table(third.table).num_rows == 12


def test_a_failing_cell_is_recorded_and_the_study_goes_on(tmp_path: Path, client: Any) -> None:
    write_page_file(tmp_path / "good.pages", make_pages("real", 64, seed=1))
    (tmp_path / "bad.pages").write_bytes(bytes(8192))
    spec_path = write_spec(tmp_path, """
        [run]
        ops = 1000
        [grid]
        compressor = ["lz4", "zstd"]
        [[workload]]
        files = "*.pages"
    """)
    spec = load_spec(spec_path)
    (tmp_path / "bad.pages").write_bytes(bytes(100))  # not whole pages: the run will fail
    result = run_study(spec, tmp_path / "s", client=client, ship="always")
    assert (result.computed, result.failed) == (4, 2)
    table = pq.read_table(result.table).to_pylist()
    bad = [r for r in table if r["cell.workload"] == "bad.pages"]
    assert {r["cell.status"] for r in bad} == {"error"}
    assert all("CorruptData" in r["cell.error"] for r in bad)
    assert all(r["memory.saved_bytes"] is None for r in bad)
    good = [r for r in table if r["cell.workload"] == "good.pages"]
    assert {r["cell.status"] for r in good} == {"ok"}
    # failed cells are finished cells: kept, unless asked to retry them
    assert run_study(spec, tmp_path / "s", client=client).computed == 0
    retry = run_study(spec, tmp_path / "s", client=client, retry_failed=True)
    assert (retry.computed, retry.cached, retry.failed) == (2, 2, 2)


def test_ctrl_c_keeps_finished_cells_and_a_rerun_resumes(tmp_path: Path, client: Any) -> None:
    """The CLI on its default local cluster: SIGINT mid-study exits 130 and keeps every
    finished cell; the rerun computes only the rest."""
    spec = write_spec(tmp_path, SPEC_12.replace('["lz4", "zstd"]', '["lz4"]'))  # 6 cells
    cmd = [sys.executable, "-m", "pyzswap.cli", "study", str(spec), "-o", str(tmp_path / "s"),
           "--workers", "1", "--no-dashboard"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # blocks until the second cell is reported
        lines.append(line)
        if line.startswith("study: 2/6 cells"):
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait() == 130, "".join(lines) + rest
    assert "interrupted" in rest and "rerun to resume" in rest
    done = len(list((tmp_path / "s" / "cells").glob("*.json")))
    assert 2 <= done < 6
    rerun = run_study(load_spec(spec), tmp_path / "s", client=client)
    assert (rerun.computed, rerun.cached, rerun.failed) == (6 - done, done, 0)


def test_cli_errors_are_one_line_and_change_nothing(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import dask

    from pyzswap.cli import main

    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    bad = write_spec(tmp_path, "[grid]\nmax-pool-percnt = [1]\n[[workload]]\nbuiltin='heap'\n",
                     "bad.toml")
    cases = ([str(spec), "--scheduler", "tcp://127.0.0.1:9"],  # nobody listens there
             [str(bad)], [str(tmp_path / "missing.toml")],
             [str(spec), "--workers", "2", "--scheduler", "tcp://127.0.0.1:9"],
             [str(spec), "--ship-limit", "lots"])
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        for args in cases:
            assert main(["study", *args, "-o", str(out)]) == 2, args
            err = capsys.readouterr().err
            assert err.startswith("pyzswap: error: ") and err.count("\n") == 1, err
    assert not out.exists()
