"""``pyzswap bench replay``: ``pyzswap run`` against the kernel replaying the same trace.

Two figures, each as a ratio with its target:

* **Replay speed per fidelity case** (the cases of :mod:`pyzswap.tools.kernel.suite`, whose kernel
  replays are recorded in ``tests/fixtures/fidelity``, made with the machine idle: the busy
  machine's recordings in ``tests/fixtures/fidelity-busy`` waited for the CPU, so their wall
  times flatter the model): ``pyzswap run`` on the case's trace
  with the case's options and verification on, as a user runs it (a subprocess, through the
  CLI, as ``pyzswap kernel suite check`` does), ``--repeat`` times. Per repetition the model's
  replay wall time (``wall_seconds`` of its JSON: the accesses, from the first to the last)
  and the whole command's wall time (interpreter start, trace reading, page contents, replay,
  report) are divided by the kernel's mean replay wall time (``pyzswap kernel run``'s
  ``wall_seconds``, recorded). Target: the replay no slower than the kernel (ratio ≤ 1.0).
  The model's replay CPU time beside the kernel replayer's CPU time is reported too: on a
  shared machine it moves less than the wall clock. The counters of every repetition must be
  the same (a run is deterministic for a seed): the report says so.
* **Accesses to resident pages**: a process whose pages all fit in RAM, touched once, then a
  million accesses (20% writes, as the suite's Zipf case) replayed through
  :meth:`MemoryModel.run <pyzswap.run.mm.MemoryModel.run>`; accesses per second, median of
  ``--repeat``. Target: at least 1,000,000.

By default the kernel's figures are the recording (another day, another load): the ratios
compare this run with it. With ``kernel=True`` (``--kernel``, root: it changes the host, and
says so first) the kernel side is measured **live and paired** instead: per repetition, the
case's trace is replayed on this host's kernel (``pyzswap kernel run``'s replayer, the page
contents prepared once per case, untimed) and ``pyzswap run`` is run on it, in alternating
order, and each repetition's ratio is the model's replay wall time over that repetition's
kernel replay wall time. The kernel's own replay time moves by up to ±40% from run to run on a
2-vCPU VM (the recordings' min-max), so only paired ratios compare like with like.
``os.getloadavg()`` before and after is in the report, and the share of CPU time the host took
from this VM over the whole run (``host_steal_percent``, from ``/proc/stat``; None where there
is none to read): the model's replay runs on two CPUs and the kernel's on one, so a host that
takes CPU time slows the model more, and the text output says so from 5%.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import click
import numpy as np

from ..._cliutil import one_line_errors
from ...errors import InvalidParameter
from ._cli import BenchCliError, bench
from ._common import Progress, cpu_times, stderr_progress, steal_percent

__all__ = ["HIT_TARGET", "REPLAY_TARGET", "replay_bench", "resident_hits"]

#: The model's replay wall time / the kernel's, at most.
REPLAY_TARGET: Final = 1.0
#: Accesses per second to resident pages, at least.
HIT_TARGET: Final = 1_000_000
#: Steal (percent of the VM's CPU time) from which the text output warns the ratios are skewed.
STEAL_WARN_PERCENT: Final = 5.0


def _median_range(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


def _live_pairs(name: str, trace: Path, opts: Any, repeat: int, progress: Progress | None
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``repeat`` (kernel replay, model run) pairs of one case, in alternating order: the
    kernel's runs and the model's."""
    from ..kernel.fidelity import memcg_counts, run_model
    from ..kernel.replay import PreparedReplay

    kernel_runs: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    with PreparedReplay(trace, opts) as prepared:
        for k in range(repeat):
            for side in ("kernel", "model") if k % 2 == 0 else ("model", "kernel"):
                if side == "kernel":
                    run = prepared.run()
                    if not run["verified"]:
                        raise BenchCliError(f"{name}: the kernel replay did not verify its "
                                            f"pages ({'; '.join(run['notes'])})")
                    kernel_runs.append(run)
                else:
                    # the first kernel run's host for every model run: the same input
                    # each time (a kernel run may leave a dying group behind)
                    models.append(run_model(trace, opts, prepared.memtotal,
                                            memcg_counts(kernel_runs[:1])))
            if progress is not None:
                progress(f"replay {name} {k + 1}/{repeat}: replay "
                         f"{models[-1]['wall_seconds']:.2f} s, command "
                         f"{models[-1]['command_seconds']:.2f} s, kernel (live) "
                         f"{kernel_runs[-1]['wall_seconds']:.2f} s")
    return kernel_runs, models


def _case_bench(name: str, repeat: int, fixtures: Path, progress: Progress | None,
                kernel: bool = False) -> dict[str, Any]:
    from ..kernel.fidelity import memcg_counts, run_model
    from ..kernel.replay import METRIC_KEYS
    from ..kernel.replay_cli import load_fixture, options_from_args
    from ..kernel.suite import suite_case

    case = suite_case(name)
    with tempfile.TemporaryDirectory(prefix="pyzswap-bench-replay-") as tmp:
        trace = case.write(Path(tmp))
        opts = options_from_args(trace, case.args)
        if kernel:
            kernel_runs, runs = _live_pairs(name, trace, opts, repeat, progress)
            kernel_walls = [float(r["wall_seconds"]) for r in kernel_runs]
            kernel_cpus = [float(r["cpu_seconds"]) for r in kernel_runs]
            accesses = kernel_runs[0]["accesses"]
        else:
            fixture = load_fixture(name, fixtures)
            if fixture.get("trace_sha256") != case.sha256():
                raise InvalidParameter(f"{name}: the trace generator no longer makes the "
                                       "recorded trace (SHA-256 differs)")
            summary = fixture["summary"]
            wall = float(summary["wall_seconds"]["mean"])
            cpu = summary.get("cpu_seconds", {}).get("mean")
            accesses = fixture["accesses"]
            runs = []
            for k in range(repeat):
                model = run_model(trace, opts, int(fixture["machine"]["ram_bytes"]),
                                  memcg_counts(fixture["runs"]))
                runs.append(model)
                if progress is not None:
                    progress(f"replay {name} {k + 1}/{repeat}: replay "
                             f"{model['wall_seconds']:.2f} s, command "
                             f"{model['command_seconds']:.2f} s (kernel {wall:.2f} s)")
            kernel_walls = [wall] * repeat
            kernel_cpus = [] if cpu is None else [float(cpu)] * repeat
    walls = [float(r["wall_seconds"]) for r in runs]
    commands = [float(r["command_seconds"]) for r in runs]
    cpus = [float(r["cpu_seconds"]["replay"]) for r in runs]
    counters = [{k: r.get(k) for k in METRIC_KEYS} for r in runs]
    out: dict[str, Any] = {
        "case": name,
        "kernel": "live, paired" if kernel else "recorded",
        "accesses": accesses,
        "kernel_wall_seconds": round(statistics.median(kernel_walls), 3),
        "kernel_cpu_seconds": round(statistics.median(kernel_cpus), 3) if kernel_cpus else None,
        "replay_seconds": _median_range(walls),
        "replay_cpu_seconds": _median_range(cpus),
        "command_seconds": _median_range(commands),
        "replay_vs_kernel": _median_range([w / k for w, k in zip(walls, kernel_walls,
                                                                 strict=True)]),
        "command_vs_kernel": _median_range([c / k for c, k in zip(commands, kernel_walls,
                                                                  strict=True)]),
        "replay_cpu_vs_kernel_cpu": _median_range([c / k for c, k in zip(cpus, kernel_cpus,
                                                                         strict=True)])
        if kernel_cpus else None,
        "deterministic": all(c == counters[0] for c in counters),
        "model_backend": sorted({str(r.get("model_backend")) for r in runs}),
        "target": f"replay wall time / kernel's <= {REPLAY_TARGET}",
    }
    if kernel:
        out["kernel_wall_seconds_range"] = _median_range(kernel_walls)
    out["met"] = out["replay_vs_kernel"]["median"] <= REPLAY_TARGET
    return out


def resident_hits(repeat: int = 5, accesses: int = 1_000_000, npages: int = 16384,
                  write_fraction: float = 0.2) -> dict[str, Any]:
    """Accesses per second to pages already in memory (see the module docstring)."""
    from ...run.mm import MemoryModel
    from ...swapcore import SwapCore
    from ...zswap import Zswap
    from ..pagesets import make_pages

    ram = 1 << 22  # 16 GiB: no reclaim
    zswap = Zswap(compressor="lzo", totalram_pages=ram, shrink_work="clock", cpus=1)
    rates = []
    with tempfile.TemporaryDirectory(prefix="pyzswap-bench-hits-") as tmp:
        core = SwapCore(zswap, directory=tmp)
        try:
            core.swapon(npages + 1024)
            mm = MemoryModel(core, ram, capacity=npages + 8)
            data = make_pages("real", npages, seed=1)
            mm.add_process(1, npages, lambda: data)
            mm.start(1)
            ones = np.ones(npages, dtype=np.int64)
            mm.run(mm.page_index(ones, np.arange(npages, dtype=np.int64)),
                   np.ones(npages, dtype=np.int8))
            rng = np.random.default_rng(0)
            pids = np.ones(accesses, dtype=np.int64)
            for _ in range(repeat):
                gs = mm.page_index(pids, rng.integers(0, npages, accesses))
                ops = (rng.random(accesses) < write_fraction).astype(np.int8)
                faults = mm.stats.pgfault
                t0 = time.perf_counter()
                mm.run(gs, ops)
                rates.append(accesses / (time.perf_counter() - t0))
                if mm.stats.pgfault != faults:  # pragma: no cover - RAM holds every page
                    raise BenchCliError("resident-hit benchmark: an access faulted")
        finally:
            core.close()
    summary = _median_range(rates, 0)
    return {"accesses": accesses, "pages": npages, "write_fraction": write_fraction,
            "accesses_per_second": summary, "target": f">= {HIT_TARGET:,} accesses/s",
            "met": summary["median"] >= HIT_TARGET}


def replay_bench(names: Sequence[str], repeat: int = 5, fixtures: Path | None = None,
                 progress: Progress | None = None, *, kernel: bool = False,
                 hits: bool = True) -> dict[str, Any]:
    """Every figure of ``pyzswap bench replay`` (see the module docstring); ``kernel``: the
    kernel side live and paired (root; changes the host, restored after)."""
    from ..kernel.replay_cli import FIXTURES
    from ..kernel.suite import SUITE, suite_case

    for name in names:
        suite_case(name)
    load_before = os.getloadavg()
    cpu_before = cpu_times()
    cases = [_case_bench(name, repeat, fixtures or FIXTURES, progress, kernel)
             for name in (list(names) or list(SUITE))]
    report: dict[str, Any] = {
        "repeat": repeat, "kernel": "live, paired" if kernel else "recorded",
        "load_average_before": [round(x, 2) for x in load_before], "cases": cases,
        "met": {"replay": all(c["met"] for c in cases),
                "deterministic": all(c["deterministic"] for c in cases)}}
    if hits:
        hit = report["resident_hits"] = resident_hits(repeat)
        report["met"]["resident_hits"] = hit["met"]
        if progress is not None:
            progress(f"resident hits: {hit['accesses_per_second']['median']:,.0f} accesses/s")
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["host_steal_percent"] = steal_percent(cpu_before, cpu_times())
    return report


def _print(report: dict[str, Any], echo: Callable[[str], None]) -> None:
    echo(f"pyzswap run vs the kernel's replay of the same trace ({report['kernel']}; median "
         f"of {report['repeat']}; load average {report['load_average_before'][0]} -> "
         f"{report['load_average_after'][0]}):")
    echo(f"  {'case':16} {'kernel s':>8} {'replay s':>9} {'ratio':>6} {'command s':>10} "
         f"{'ratio':>6} {'cpu ratio':>9}  target")
    for c in report["cases"]:
        cpu = c["replay_cpu_vs_kernel_cpu"]
        echo(f"  {c['case']:16} {c['kernel_wall_seconds']:8.2f} "
             f"{c['replay_seconds']['median']:9.2f} {c['replay_vs_kernel']['median']:5.2f}x "
             f"{c['command_seconds']['median']:10.2f} {c['command_vs_kernel']['median']:5.2f}x "
             f"{'' if cpu is None else format(cpu['median'], '.2f') + 'x':>9}  "
             f"{'met' if c['met'] else 'MISSED'}"
             f"{'' if c['deterministic'] else ' (counters differ between runs!)'}"
             f"{'' if c['model_backend'] == ['compiled'] else ' (the model ran from source)'}")
    steal = report.get("host_steal_percent")
    if steal is not None and steal >= STEAL_WARN_PERCENT:
        echo(f"  note: the host took {steal}% of this VM's CPU time during the run (steal); "
             "the model replays on two CPUs and the kernel on one, so the ratios above are "
             "skewed against the model")
    h = report.get("resident_hits")
    if h is None:
        return
    echo(f"  accesses to resident pages: {h['accesses_per_second']['median']:,.0f}/s "
         f"({h['accesses_per_second']['min']:,.0f}-{h['accesses_per_second']['max']:,.0f}; "
         f"{h['target']}: {'met' if h['met'] else 'MISSED'})")


@bench.command("replay")
@click.argument("names", nargs=-1)
@click.option("--repeat", type=click.IntRange(1, 100), default=5, show_default=True,
              help="runs per case (median, min and max are reported)")
@click.option("--fixtures", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="directory of the kernel's recordings (default: the repository's, made "
                   "with the machine idle)")
@click.option("--kernel/--no-kernel", default=False, show_default=True,
              help="replay each case on this host's kernel too, paired with each run (root: "
                   "changes the host, restored after) instead of using the recordings")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--quiet", "-q", is_flag=True, help="no progress lines on stderr")
@one_line_errors(BenchCliError)
def replay(names: Sequence[str], repeat: int, fixtures: Path | None, kernel: bool,
           as_json: bool, quiet: bool) -> None:
    """pyzswap run vs the kernel's replay of each fidelity case (NAMES: all by default): its
    recording, or with --kernel a live replay paired with each run; and accesses per second
    to resident pages."""
    if kernel and fixtures is not None:
        raise InvalidParameter("--fixtures names recordings; --kernel replays live instead")
    report = replay_bench(names, repeat, fixtures, None if quiet else stderr_progress,
                          kernel=kernel)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print(report, click.echo)
