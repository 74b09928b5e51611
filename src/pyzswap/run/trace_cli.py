"""``pyzswap trace``: make and check trace files (docs/WORKLOADS.md) from the command line."""

from __future__ import annotations

from pathlib import Path

import click

from .._cliutil import EXIT_USAGE, one_line_errors
from ..tools.pagesets import PAGESETS
from .trace import parse_trace
from .trace_damon import parse_damo_report

__all__ = ["trace"]


class TraceCliError(click.ClickException):
    exit_code = EXIT_USAGE


_one_line_errors = one_line_errors(TraceCliError)


def _pid_map(items: tuple[str, ...]) -> dict[int, int] | None:
    """``--pid 0=1 --pid 1=7`` → ``{0: 1, 1: 7}`` (DAMON target id → trace pid)."""
    if not items:
        return None
    out: dict[int, int] = {}
    for item in items:
        target, sep, pid = item.partition("=")
        if not sep or not target.isdigit() or not pid.isdigit() or int(pid) < 1:
            raise TraceCliError(f"--pid {item!r}: expected TARGET=PID, e.g. 0=1 (PID >= 1)")
        out[int(target)] = int(pid)
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def trace() -> None:
    """Make and check access traces for `pyzswap run` (docs/WORKLOADS.md)."""


@trace.command("from-damon")
@click.argument("report", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="the trace file to write")
@click.option("--pid", "pids", multiple=True, metavar="TARGET=PID",
              help="trace pid for a DAMON target id (repeat; default: pid = target id)")
@click.option("--op", type=click.Choice(["r", "w"]), default="r", show_default=True,
              help="what an accessed region becomes (DAMON cannot tell reads from writes)")
@click.option("--pageset", type=click.Choice(sorted(PAGESETS)), default="real",
              show_default=True, help="profile the pages' contents are drawn from")
@click.option("--scale", type=click.IntRange(1, 1 << 20), default=1, show_default=True,
              help="real pages per trace page (shrinks a large process)")
@_one_line_errors
def from_damon(report: Path, output: Path, pids: tuple[str, ...], op: str, pageset: str,
               scale: int) -> None:
    """Convert REPORT, the text of `damo report access --raw_form`, into a trace file."""
    converted = parse_damo_report(report, _pid_map(pids), op="w" if op == "w" else "r",
                                  pageset=pageset, scale=scale)
    converted.write(output)
    procs = len(converted.procs)
    click.echo(f"{output}: {procs} process{'es' if procs != 1 else ''}, "
               f"{converted.accesses:,} page accesses", err=True)


@trace.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_one_line_errors
def check(path: Path) -> None:
    """Parse the trace at PATH and summarise it (errors name the line)."""
    parsed = parse_trace(path)
    pages = sum(p.npages for p in parsed.procs.values())
    click.echo(f"{path}: {len(parsed.procs)} processes, {pages:,} pages "
               f"({pages * 4096 / (1 << 20):,.1f} MiB), {parsed.accesses:,} page accesses")
