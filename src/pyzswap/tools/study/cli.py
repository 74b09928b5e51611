"""``pyzswap study SPEC`` and ``pyzswap study report RESULTS`` (docs/FLEET.md).

Thin: parse the spec, call :func:`~.engine.run_study` or :func:`~.report.write_report`, show
progress. User errors (a bad spec, an unknown option, a missing file, an unreachable
scheduler) are one line and exit status 2; Ctrl-C keeps every finished cell (rerun to resume).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ..._cliutil import EXIT_USAGE, one_line_errors
from ...units import parse_size

__all__ = ["study"]


class StudyCliError(click.ClickException):
    exit_code = EXIT_USAGE


_one_line_errors = one_line_errors(StudyCliError)


class _DefaultRun(click.Group):
    """``pyzswap study SPEC …`` is ``pyzswap study run SPEC …``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultRun)
def study() -> None:
    """Fleet studies: many workloads × a grid of run options, on Dask (docs/FLEET.md).

    \b
    pyzswap study SPEC [-o DIR]        run every cell not yet in DIR
    pyzswap study report DIR           the HTML report of a study's table
    """


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _line(state: Any) -> str:
    return (f"{state.done}/{state.total} cells ({state.cached} cached), {state.failed} failed, "
            f"elapsed {_duration(state.elapsed)}, ETA {_duration(state.eta())}")


@contextmanager
def _terminal_progress(quiet: bool) -> Iterator[Callable[[Any, dict[str, Any] | None], None]]:
    """A live line on a terminal; otherwise one line per finished cell on stderr."""
    announced = [False]

    def announce(state: Any) -> None:
        if announced[0]:
            return
        announced[0] = True
        workers = f", {state.workers} workers" if state.workers else ""
        where = f", dashboard {state.dashboard}" if state.dashboard else ""
        click.echo(f"study: {state.total} cells, {state.cached} already done{workers}{where}",
                   err=True)

    if quiet:
        yield lambda state, record: None
        return
    if not sys.stderr.isatty():
        def plain(state: Any, record: dict[str, Any] | None) -> None:
            announce(state)
            if record is not None:
                status = "ok" if record["status"] == "ok" else f"FAILED ({record['error']})"
                click.echo(f"study: {_line(state)} - {status}", err=True)

        yield plain
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    console = Console(stderr=True)
    with Progress(TextColumn("study"), BarColumn(), TextColumn("{task.fields[line]}"),
                  console=console, transient=False) as bar:
        task = bar.add_task("study", total=None, line="starting the cluster")

        def live(state: Any, record: dict[str, Any] | None) -> None:
            if not announced[0]:
                announced[0] = True
                workers = f", {state.workers} workers" if state.workers else ""
                where = f", dashboard {state.dashboard}" if state.dashboard else ""
                bar.console.print(f"{state.total} cells, {state.cached} already done"
                                  f"{workers}{where}")
            if record is not None and record["status"] != "ok":
                bar.console.print(f"[red]failed[/red] {record['key'][:12]}: {record['error']}")
            bar.update(task, total=state.total, completed=state.done, line=_line(state))

        yield live


def _default_out(spec: Path) -> Path:
    return spec.with_suffix(".study")


@study.command("run")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="study directory (cells, results.parquet); default SPEC "
                                 "without its suffix + .study")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="an existing Dask scheduler, e.g. tcp://HOST:8786 (default: a local "
                   "cluster of processes, one per core)")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="local cluster size (default: one per core)")
@click.option("--ship", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True,
              help="send workload files with the task (auto: on a --scheduler cluster, "
                   "files up to --ship-limit) instead of reading them at their path")
@click.option("--ship-limit", default="8M", show_default=True, metavar="SIZE",
              help="largest workload shipped with the task by --ship auto")
@click.option("--retry-failed", is_flag=True, help="run failed cells again")
@click.option("--no-dashboard", is_flag=True, help="no Dask dashboard for the local cluster")
@click.option("--quiet", "-q", is_flag=True, help="no progress on stderr")
@_one_line_errors
def run_cmd(spec: Path, out: Path | None, scheduler: str | None, workers: int | None,
            ship: str, ship_limit: str, retry_failed: bool, no_dashboard: bool,
            quiet: bool) -> None:
    """Run every cell of the study SPEC (a TOML file) that is not finished yet."""
    from .engine import run_study
    from .spec import load_spec
    from .store import CellStore

    if scheduler is not None and workers is not None:
        raise StudyCliError("--workers sizes the local cluster; it cannot go with --scheduler")
    out = out or _default_out(spec)
    store = CellStore(out)  # creates nothing until the first cell (a bad spec changes nothing)
    parsed = load_spec(spec, hasher=store.file_sha256)
    limit = parse_size(ship_limit, "--ship-limit")
    t0 = time.perf_counter()
    with _terminal_progress(quiet) as progress:
        try:
            result = run_study(parsed, store, scheduler=scheduler, workers=workers, ship=ship,
                               ship_limit=limit, retry_failed=retry_failed, progress=progress,
                               dashboard=not no_dashboard)
        except KeyboardInterrupt:
            click.echo(f"study: interrupted; finished cells are kept in {out}, rerun to "
                       "resume", err=True)
            raise
        except OSError as exc:  # the scheduler cannot be reached
            if scheduler is not None and not getattr(exc, "filename", None):
                raise StudyCliError(f"scheduler {scheduler}: {exc}") from None
            raise
    click.echo(f"study {parsed.name}: {result.total} cells, {result.computed} computed, "
               f"{result.cached} cached, {result.failed} failed, "
               f"{time.perf_counter() - t0:.1f} s")
    click.echo(f"table: {result.table}")
    click.echo(f"report: pyzswap study report {out}")


@study.command("report")
@click.argument("results", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file (default: report.html beside the table)")
@click.option("--objective", default="max:saved_pct", show_default=True,
              metavar="max:NAME|min:NAME",
              help="what 'best' means: a metric (saved_pct, cpu_seconds, disk_faults_per_kop, "
                   "writeback_per_kop, load_p99_us) or any numeric column")
@click.option("--constraint", "constraints", multiple=True, metavar="NAME<=VALUE",
              help="cells must meet this to be chosen (repeatable; <, <=, >, >=)")
@click.option("--cost", "costs", multiple=True, metavar="NAME",
              help="costs to show (repeatable; default: the four derived costs)")
@_one_line_errors
def report_cmd(results: Path, output: Path | None, objective: str,
               constraints: tuple[str, ...], costs: tuple[str, ...]) -> None:
    """Aggregate a study's table (a study directory or its results.parquet) into HTML."""
    from .report import DEFAULT_COSTS, Constraint, Objective, write_report

    table_dir = results if results.is_dir() else results.parent
    output = output or table_dir / "report.html"
    summary = write_report(results, output, objective=Objective.parse(objective),
                           constraints=[Constraint.parse(c) for c in constraints],
                           costs=list(costs) or list(DEFAULT_COSTS))
    click.echo(f"report: {output} ({summary.ok}/{summary.cells} cells ok, "
               f"{len(summary.classes)} workloads, {len(summary.configs)} configurations)")
    if summary.fleet is not None:
        click.echo(f"best for the fleet: {summary.fleet.config} "
                   f"({summary.objective.name} {summary.fleet.value:.3g})")
