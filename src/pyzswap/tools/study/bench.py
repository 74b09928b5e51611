"""``pyzswap bench study``: what the Dask engine costs and what a second worker buys.

The same 48-cell study (4 built-in workloads × 3 compressors × 2 pool limits × 2 seeds) is
run three ways, each into a fresh study directory, in this order:

* ``loop``: :func:`~.engine.execute_cell` on every cell in a plain loop in this process, the
  floor (no Dask, no cell files);
* ``engine, 1 worker`` and ``engine, 2 workers``: :func:`~.engine.run_study` on a local
  cluster of that many worker processes.

Two times per engine run: ``cells`` from the first submission to the last recorded result
(what the engine adds per cell: scheduling, moving the record, writing the cell file) and
``total`` with the cluster's start and stop and the table. Figures: the speedup of 2 workers
over 1 (cells time; the target on a 2-core machine is 1.8x) and the engine's per-cell
overhead, ``engine 1 worker / loop - 1`` (target at most 5%). Because the loop and the engine
run at different moments, a busy machine moves that ratio more than the engine does; the
bench therefore also gives the engine's time *outside* the cells on 1 worker (wall time minus
the time each cell measured inside itself), and the CPU time of each phase (the loop's process;
the engine's workers plus the process that runs the client and the scheduler), both of which
the machine's load moves far less than wall time. Ratios are taken between phases that ran
next to each other in a repetition, then the median over repetitions. The load average
before each phase is reported: on a shared machine the figures are only as quiet as the
machine was.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import click

from ..._cliutil import EXIT_USAGE, one_line_errors
from .engine import _connect, _warm_up, execute_cell, run_study
from .spec import Spec, parse_spec
from .store import CellStore

__all__ = ["BENCH_SPEC", "run_study_bench", "study_bench"]

#: 4 workloads × 3 compressors × 2 pool limits × 2 seeds = 48 cells.
BENCH_SPEC: Final = """
name = "bench"
[run]
scale = {scale}
[grid]
compressor = ["lz4", "zstd", "lzo"]
max-pool-percent = [10, 30]
seed = [0, 1]
[[workload]]
builtin = ["default", "heap", "phased", "cgroups"]
"""
SPEEDUP_TARGET: Final = 1.8
OVERHEAD_TARGET: Final = 0.05


def _load() -> float:
    return os.getloadavg()[0]


def _cpu_seconds() -> float:
    """This process's CPU time, every thread (user + system)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _loop(spec: Spec) -> dict[str, Any]:
    load = _load()
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    records = [execute_cell(c) for c in spec.cells]
    wall = time.perf_counter() - t0
    return {"cells_seconds": wall, "total_seconds": wall, "load_before": load,
            "inside_seconds": sum(r["execution"]["seconds"] for r in records),
            "cpu_seconds": _cpu_seconds() - cpu0,
            "failed": sum(r["status"] != "ok" for r in records)}


def _engine(spec: Spec, directory: Path, workers: int) -> dict[str, Any]:
    """One engine run on a fresh local cluster; CPU is the workers' plus this process's
    (the client, the scheduler and the cell files), counted once the workers are up."""
    load = _load()
    t0 = time.perf_counter()
    client, close = _connect(None, workers, dashboard=False)
    try:
        client.run(_warm_up)
        cpu0 = sum(client.run(_cpu_seconds).values()) + _cpu_seconds()
        result = run_study(spec, directory, client=client)
        cpu = sum(client.run(_cpu_seconds).values()) + _cpu_seconds() - cpu0
    finally:
        close()
    total = time.perf_counter() - t0
    store = CellStore(directory)
    inside = sum(r["execution"]["seconds"] for c in spec.cells
                 if (r := store.get(c.key)) is not None)
    return {"cells_seconds": result.cells_seconds, "total_seconds": total,
            "load_before": load, "inside_seconds": inside, "cpu_seconds": cpu,
            "failed": result.failed}


def run_study_bench(scale: float = 0.1, *, repeat: int = 1,
                    spec: Spec | None = None) -> dict[str, Any]:
    """Run the three phases ``repeat`` times (the order reversed every other time) and return
    the phases' medians and the medians of the per-repetition ratios (see the module)."""
    spec = spec or parse_spec(BENCH_SPEC.format(scale=scale), base=Path.cwd())
    cells = len(spec.cells)
    names = ["loop", "engine, 1 worker", "engine, 2 workers"]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="pyzswap-bench-study-") as tmp:
        for rep in range(repeat):
            for name in names if rep % 2 == 0 else names[::-1]:
                if name == "loop":
                    runs[name].append(_loop(spec))
                else:
                    workers = 1 if "1 worker" in name else 2
                    runs[name].append(_engine(spec, Path(tmp, f"{rep}-{workers}"), workers))
    phases = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
              for n, rs in runs.items()}
    loop, one, two = (runs[n] for n in names)
    # ratios of phases run next to each other in each repetition, then their median: a
    # machine whose load drifts moves both sides of a pair alike
    speedups = [a["cells_seconds"] / b["cells_seconds"] for a, b in zip(one, two, strict=True)]
    speedups_total = [a["total_seconds"] / b["total_seconds"]
                      for a, b in zip(one, two, strict=True)]
    vs_loop = [a["cells_seconds"] / b["cells_seconds"] - 1
               for a, b in zip(one, loop, strict=True)]
    vs_loop_total = [a["total_seconds"] / b["cells_seconds"] - 1
                     for a, b in zip(one, loop, strict=True)]
    outside = [1000 * (a["cells_seconds"] - a["inside_seconds"]) / cells for a in one]
    cpu_vs_loop = [a["cpu_seconds"] / b["cpu_seconds"] - 1 for a, b in zip(one, loop, strict=True)]
    share = [a["cells_seconds"] / a["inside_seconds"] - 1 for a in one]
    med = statistics.median
    return {
        "cells": cells, "scale": scale, "repeat": repeat, "cpus": os.cpu_count(),
        "phases": phases, "runs": runs,
        "speedup_2_over_1": med(speedups), "speedup_2_over_1_runs": speedups,
        "speedup_2_over_1_total": med(speedups_total),
        "overhead_vs_loop": med(vs_loop), "overhead_vs_loop_runs": vs_loop,
        "overhead_vs_loop_total": med(vs_loop_total),
        # what the engine adds around the cells, 1 worker: wall time not spent in a cell
        "engine_ms_per_cell": med(outside), "engine_share": med(share),
        # CPU time: what a busy machine moves least
        "cpu_overhead_vs_loop": med(cpu_vs_loop), "cpu_overhead_vs_loop_runs": cpu_vs_loop,
        "load_after": _load(),
        "targets": {"speedup_2_over_1": SPEEDUP_TARGET, "overhead_vs_loop": OVERHEAD_TARGET},
    }


class _BenchError(click.ClickException):
    exit_code = EXIT_USAGE


@click.command("study")
@click.option("--scale", type=click.FloatRange(0.01, 10.0), default=0.1, show_default=True,
              help="scale of the built-in workloads (0.1: about a second per cell)")
@click.option("--repeat", type=click.IntRange(1, 20), default=1, show_default=True,
              help="run the three phases this many times (alternating order); medians")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@one_line_errors(_BenchError)
def study_bench(scale: float, repeat: int, as_json: bool) -> None:
    """A 48-cell study: plain loop vs the Dask engine on 1 and 2 local workers."""
    result = run_study_bench(scale, repeat=repeat)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    loop = result["phases"]["loop"]["cells_seconds"]
    table = Table(title=f"pyzswap bench study: {result['cells']} cells, scale {scale}",
                  title_justify="left")
    for col in ("phase", "cells s", "total s", "in cells s", "CPU s", "per cell ms",
                "vs loop", "failed", "load before"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for name, p in result["phases"].items():
        table.add_row(name, f"{p['cells_seconds']:.1f}", f"{p['total_seconds']:.1f}",
                      f"{p['inside_seconds']:.1f}", f"{p['cpu_seconds']:.1f}",
                      f"{1000 * p['cells_seconds'] / result['cells']:.0f}",
                      f"{p['cells_seconds'] / loop:.3f}x", f"{p['failed']:g}",
                      f"{p['load_before']:.2f}")
    Console().print(table)
    runs = ", ".join(f"{x:.2f}" for x in result["speedup_2_over_1_runs"])
    click.echo(f"speedup, 2 workers over 1: {result['speedup_2_over_1']:.2f}x [{runs}] (target >= "
               f"{SPEEDUP_TARGET}x; {result['speedup_2_over_1_total']:.2f}x with cluster "
               "start and stop)")
    runs = ", ".join(f"{100 * x:+.1f}%" for x in result["overhead_vs_loop_runs"])
    click.echo(f"engine, 1 worker vs the loop: {100 * result['overhead_vs_loop']:+.1f}% [{runs}] "
               f"(target <= {100 * OVERHEAD_TARGET:.0f}%; "
               f"{100 * result['overhead_vs_loop_total']:+.1f}% with cluster start and stop)")
    click.echo(f"engine time outside the cells, 1 worker: {result['engine_ms_per_cell']:.1f} ms "
               f"per cell ({100 * result['engine_share']:+.2f}% of the time in cells)")
    runs = ", ".join(f"{100 * x:+.1f}%" for x in result["cpu_overhead_vs_loop_runs"])
    click.echo(f"CPU, engine with 1 worker vs the loop: "
               f"{100 * result['cpu_overhead_vs_loop']:+.1f}% [{runs}]")
    click.echo(f"load average after: {result['load_after']:.2f} on {result['cpus']} CPUs")
