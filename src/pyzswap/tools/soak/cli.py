"""``pyzswap soak`` and ``python -m pyzswap.tools.soak``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ..._cliutil import MAX_SECONDS, SEED, finite_float, main_error_message, terminate_on_sigterm
from ...errors import ZswapError
from ...zswap import FLOWS
from .run import run_soak

if TYPE_CHECKING:
    pass


# ---------------------------------------------------------------------------- the command ----
@click.command()
@click.option("--seconds", type=finite_float(0, MAX_SECONDS, min_open=True), default=60.0,
              show_default=True, help="how long to run (at most a week)")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="worker threads (chaos, reclaim and fault threads come on top)")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="seed of every thread's choices (the interleaving still varies)")
@click.option("--faults/--no-faults", default=True, show_default=True,
              help="inject faults (compressor, zsmalloc, swap I/O, corruption, pool creation)")
@click.option("--cpus", "nr_cpus", type=click.IntRange(2, 64), default=4, show_default=True,
              help="logical CPUs of the CPU model (hot-plugged during the run)")
@click.option("--lifetime", type=click.Choice(["pool", "lock-retry"]), default="pool",
              show_default=True, help="per-CPU context lifetime strategy")
@click.option("--flow", type=click.Choice(list(FLOWS)), default="auto", show_default=True,
              help="zswap's flow: the Python reference, the C flow, or auto")
@click.option("--memcg-offline", type=click.Choice(["concurrent", "checkpoint"]),
              default="concurrent", show_default=True,
              help="remove a busy memcg while other threads use it, or only at checkpoints")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.pass_context
def soak(ctx: click.Context, seconds: float, threads: int, seed: int, faults: bool,
         nr_cpus: int, lifetime: str, flow: str, memcg_offline: str, as_json: bool) -> None:
    """Run zswap under many concurrent threads with faults and check nothing is lost.

    Workers swap pages out and in, overwrite and free them, each checking every load against
    a checksum ledger, while other threads switch compressors, hot-plug CPUs, change
    parameters, write back and compact. Exit status 1 if any page mismatched, an unexpected
    error occurred or a resource leaked.
    """
    report = run_soak(seconds, threads, seed, faults=faults, nr_cpus=nr_cpus, lifetime=lifetime,
                      flow=flow, concurrent_memcg_offline=memcg_offline == "concurrent")
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    if not report.ok:
        ctx.exit(1)


def main(argv: list[str] | None = None) -> int:
    """``python -m pyzswap.tools.soak``: the command alone, errors as one line and status 2."""
    terminate_on_sigterm()
    try:
        soak.main(args=argv, prog_name="pyzswap soak", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("pyzswap: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"pyzswap: error: {' '.join(exc.format_message().split())}", err=True)
        return 2
    except (ZswapError, OSError, ValueError, OverflowError, MemoryError) as exc:
        message = main_error_message(exc)
        if message is None:  # pragma: no cover
            raise
        click.echo(f"pyzswap: error: {' '.join(message.split())}", err=True)
        return 2
    return 0

