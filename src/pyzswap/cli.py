"""The ``pyzswap`` command line.

Every command composes the library; no zswap logic lives here. Errors a user can cause (a
missing file, a bad page size, an unknown compressor, an out-of-range option) print one line on
stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import click

from . import __version__
from ._cliutil import (
    EXIT_USAGE,
    MAX_RUNS,
    SEED,
    CliError,
    finite_float,
    main_error_message,
    terminate_on_sigterm,
)
from .compress import available_compressors, get_compressor
from .errors import ZswapError
from .folio import PAGE_SIZE
from .pool import LIFETIMES
from .tools.storecheck import StoreCheckReport, store_check

__all__ = ["main"]

#: The most accesses a run replays (``--ops``).
MAX_OPS = 1 << 32


def _compressor_option(default: str = "lzo") -> Callable[[Any], Any]:
    return click.option(
        "--compressor", "-c", default=default, show_default=True, metavar="NAME",
        help=f"compression algorithm ({', '.join(available_compressors())}; or NAME-xN: "
             "NAME as a batching compressor on N engines, e.g. zstd-x2)",
    )


def _check_compressor(name: str) -> None:
    try:
        get_compressor(name)
    except ZswapError as exc:
        raise CliError(str(exc)) from None


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A rich progress bar on stderr for long runs (only when stderr is a terminal)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done)

        yield update


def _print_store_report(report: StoreCheckReport, title: str) -> None:
    from rich.table import Table

    from ._cliutil import console as rich_console

    console = rich_console()
    mib = 1 << 20
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    rows: list[tuple[str, str]] = [
        ("compressor", report.compressor),
        ("folio size", f"{report.folio_pages} page(s)"),
        ("pages", f"{report.pages:,} ({report.original_bytes / mib:.1f} MiB)"),
        ("zero pages (swap core, not zswap)", f"{report.zero_pages:,}"),
        ("stored_pages", f"{report.stored_pages:,}"),
        ("stored_incompressible_pages", f"{report.stored_incompressible_pages:,}"),
        ("rejected pages (to swap device)", f"{report.rejected_pages:,}"),
        ("compressed bytes", f"{report.compressed_bytes:,} ({report.compressed_bytes / mib:.2f} "
                             "MiB)"),
        ("pool_total_size", f"{report.pool_total_size:,} ({report.pool_total_size / mib:.2f} "
                            "MiB)"),
        ("compression ratio (stored / compressed)", f"{report.compression_ratio:.2f}"),
        ("pool ratio (stored / pool_total_size)", f"{report.pool_ratio:.2f}"),
        ("memory saved vs. uncompressed", _saved(report)),
        ("store", _timing(report.store_seconds, report.stored_pages)),
        ("load", _timing(report.load_seconds, report.stored_pages)),
        ("verified (every byte loaded back)",
         "yes" if report.verified else f"NO ({report.mismatched_pages} pages differ)"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    nonzero = {k: v for k, v in report.stats.items() if k.startswith(("reject", "decompress"))
               and v}
    if nonzero:
        console.print("rejections: " + ", ".join(f"{k}={v}" for k, v in nonzero.items()))


def _saved(report: StoreCheckReport) -> str:
    held = report.stored_pages * PAGE_SIZE
    saved = held - report.pool_total_size + report.zero_pages * PAGE_SIZE
    pct = 100 * saved / report.original_bytes if report.original_bytes else 0.0
    return f"{saved / (1 << 20):.2f} MiB ({pct:.1f}% of the page set)"


def _timing(seconds: float, pages: int) -> str:
    if not pages:
        return f"{seconds:.3f} s"
    return f"{seconds:.3f} s ({seconds * 1e6 / pages:.2f} µs/page)"


class _LazyGroup(click.Group):
    """The top-level group: the tools' commands (kernel, lab, bench, ...) are imported when
    they are asked for, so ``pyzswap run`` does not pay for importing every tool (their
    modules build tables and sample pages when imported: seconds on a busy machine)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_TOOLS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _TOOLS:
            command = _load_tool(cmd_name)
            self.add_command(command, cmd_name)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pyzswap")
def cli() -> None:
    """pyzswap: the Linux zswap compressed swap cache, in Python."""


@cli.command()
@click.argument("pagefile", type=click.Path(path_type=Path))
@click.option(
    "--compressor", "-c", default="lzo", show_default=True, metavar="NAME[,NAME…]",
    help="compression algorithm, or a comma-separated list to compare them in one table "
         "(any registered name, or NAME-xN: NAME as a batching compressor on N engines)",
)
@click.option("--folio-pages", type=click.IntRange(1, 512), default=1, show_default=True,
              help="pages per folio handed to zswap_store (1..512)")
@click.option("--json", "as_json", is_flag=True,
              help="print one JSON object (with several compressors: {'results': [...]})")
def store(pagefile: Path, compressor: str, folio_pages: int, as_json: bool) -> None:
    """Store every page of PAGEFILE in a fresh zswap, load it back and verify it.

    PAGEFILE holds raw 4 KiB pages, as dd would write them. With several compressors
    (-c lz4,zstd,lzo) each gets its own fresh zswap on the same pages, and one table
    compares them.
    """
    from .tools.pagesets import read_page_file

    names = _compressor_list(compressor)
    data = _read_pages(pagefile, read_page_file)
    reports = []
    with _progress(not as_json) as progress:
        for name in names:
            reports.append(store_check(data, compressor=name, folio_pages=folio_pages,
                                       progress=progress))
    if len(reports) == 1:
        _emit(reports[0], as_json, f"pyzswap store {pagefile}")
    elif as_json:
        click.echo(json.dumps({"pagefile": str(pagefile),
                               "results": [r.to_dict() for r in reports]}, indent=2))
    else:
        _print_store_comparison(reports, f"pyzswap store {pagefile}")


def _compressor_list(text: str) -> list[str]:
    """``lz4,zstd`` → ``["lz4", "zstd"]``, each checked; empty items and repeats refused."""
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise CliError(f"--compressor: empty name in {text!r}")
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise CliError(f"--compressor: {seen[0]!r} given twice")
    for name in names:
        _check_compressor(name)
    return names


def _print_store_comparison(reports: list[StoreCheckReport], title: str) -> None:
    """One row per compressor, like lzbench's table: sizes, ratios, speeds, verification."""
    from rich.table import Table

    from ._cliutil import console as rich_console

    mib = 1 << 20
    first = reports[0]
    table = Table(title=f"{title}: {first.pages:,} pages ({first.original_bytes / mib:.1f} MiB),"
                        f" {first.zero_pages:,} zero pages, folio {first.folio_pages} page(s)",
                  title_justify="left")
    for col in ("compressor", "stored", "incompressible", "compressed MiB", "pool MiB",
                "ratio", "pool ratio", "store µs/page", "store MB/s", "load µs/page",
                "load MB/s", "verified"):
        table.add_column(col, justify="left" if col == "compressor" else "right")
    for r in reports:
        d = r.to_dict()
        store_us, load_us = d["store_us_per_page"], d["load_us_per_page"]
        table.add_row(
            r.compressor, f"{r.stored_pages:,}", f"{r.stored_incompressible_pages:,}",
            f"{r.compressed_bytes / mib:.2f}", f"{r.pool_total_size / mib:.2f}",
            f"{r.compression_ratio:.2f}", f"{r.pool_ratio:.2f}",
            _us(store_us), _mb_per_s(store_us), _us(load_us), _mb_per_s(load_us),
            "yes" if r.verified else f"NO ({r.mismatched_pages})")
    rich_console().print(table)


def _us(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float | int) else "-"


def _mb_per_s(us_per_page: object) -> str:
    """4 KiB per ``us_per_page`` µs in MB/s (10^6 bytes, as lzbench reports)."""
    if not isinstance(us_per_page, float | int) or us_per_page <= 0:
        return "-"
    return f"{PAGE_SIZE / us_per_page:,.0f}"


def _run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``run`` and ``advise`` share: the machine, the workload, the cost model."""
    options = [
        click.argument("workload", required=False),
        click.option("--ram", default=None, metavar="SIZE",
                     help="the machine's RAM (MemTotal: the base of max_pool_percent and the "
                          "watermarks): 64M, 64MiB, 1.5G, 64MB (10^6), bytes; default: the "
                          "workload's suggestion"),
        click.option("--cgroup-version", type=click.Choice(["1", "2"]), default="2",
                     show_default=True,
                     help="memory cgroup version: 1 = memory.limit_in_bytes, zswap not "
                          "charged; 2 = memory.max, zswap charged"),
        click.option("--memcg-max", multiple=True, metavar="PATH=SIZE",
                     help="memory limit of one of the workload's cgroups (v2 memory.max, v1 "
                          "memory.limit_in_bytes), e.g. batch=64M (repeatable)"),
        click.option("--swappiness", type=click.IntRange(0, 200), default=60,
                     show_default=True,
                     help="vm.swappiness (and each v1 group's memory.swappiness)"),
        click.option("--page-cluster", type=click.IntRange(0, 31), default=3,
                     show_default=True, help="vm.page-cluster: swap readahead of up to 2**N "
                                             "pages"),
        click.option("--host-memcgs", default="0", show_default=True, metavar="N|auto",
                     help="the machine's other online memory cgroups (no zswap entries): "
                          "zswap's pool-limit shrink worker walks past each one; auto: this "
                          "machine's, now"),
        click.option("--dying-memcgs", default="0", show_default=True, metavar="N|auto",
                     help="the machine's dying memory cgroups (removed, not yet freed; "
                          "/proc/cgroups counts them): the worker's walk passes them too; "
                          "auto: this machine's, now"),
        click.option("--min-free-kbytes", type=click.IntRange(0, None), default=None,
                     help="vm.min_free_kbytes (watermarks); default: the kernel's for the RAM "
                          "size"),
        click.option("--ops", type=click.IntRange(1, MAX_OPS), default=None,
                     help="number of accesses (default: the workload's)"),
        click.option("--scale", type=finite_float(0.01, 100.0), default=None,
                     help="scale a built-in workload's pages and accesses [default: 1]"),
        click.option("--pattern", type=click.Choice(["uniform", "zipf", "phased", "scan"]),
                     default=None, help="access pattern for a page file [default: zipf]"),
        click.option("--seed", type=SEED, default=0, show_default=True,
                     help="workload seed (the first one with --seeds)"),
        click.option("--swap-device", type=click.Choice(list(SWAP_DEVICE_NAMES)),
                     default=None,
                     help="the swap device of the cost model (docs/DECIDING.md) "
                          "[default: nvme; zram with --backend zram]"),
        click.option("--swap-latency", type=finite_float(0.0, 1e7), default=None,
                     metavar="US", help="a measured swap device instead: its 4 KiB read and "
                                        "write latency in microseconds"),
        click.option("--swap-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="directory of the model's swap file [default: $TMPDIR]"),
        click.option("--no-verify", is_flag=True,
                     help="do not check every fault against the truth"),
        click.option("--json", "as_json", is_flag=True, help="print one JSON object"),
        click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="write a self-contained HTML report to this file"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


#: ``--swap-device`` presets (see pyzswap.run.cost.SWAP_DEVICES).
SWAP_DEVICE_NAMES = ("nvme", "ssd", "hdd", "zram")


@cli.command()
@_run_options
@click.option("--backend", type=click.Choice(["zswap", "zram", "none"]), multiple=True,
              metavar="zswap|zram|none",
              help="where swapped-out pages go: zswap in front of the swap device, a zram "
                   "swap device, or the swap device alone (repeat to compare) [default: zswap]")
@click.option("--compressor", "-c", multiple=True, metavar="NAME[,NAME…]",
              help="compression algorithm; several (comma-separated) compare them "
                   "[default: lzo]")
@click.option("--max-pool-percent", type=click.IntRange(0, 100), default=20, show_default=True)
@click.option("--accept-threshold-percent", type=click.IntRange(0, 100), default=90,
              show_default=True)
@click.option("--shrinker/--no-shrinker", "shrinker", default=False, show_default=True,
              help="zswap's memory-pressure shrinker (shrinker_enabled)")
@click.option("--zswap-max", multiple=True, metavar="PATH=SIZE",
              help="memory.zswap.max of a cgroup (repeatable)")
@click.option("--no-writeback", "no_writeback", multiple=True, metavar="PATH",
              help="memory.zswap.writeback=0 for a cgroup (repeatable)")
@click.option("--zram-size", default=None, metavar="SIZE",
              help="zram's disksize with --backend zram [default: room for every page]")
@click.option("--sweep", multiple=True, metavar="NAME=V1,V2,…",
              help="run once per value of max_pool_percent, accept_threshold_percent, "
                   "shrinker_enabled or ram (times each compressor), and compare")
@click.option("--seeds", type=click.IntRange(1, 16), default=1, show_default=True,
              help="run each configuration with this many seeds; figures are given as the "
                   "mean with its spread")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="write PNG charts into this directory")
@click.option("--no-baseline", "no_baseline", is_flag=True,
              help="skip the no-zswap run beside each configuration (about half the time; the "
                   "report then has no baseline column)")
def run(workload: str | None, ram: str | None, cgroup_version: str,
        memcg_max: tuple[str, ...], swappiness: int, page_cluster: int,
        min_free_kbytes: int | None, host_memcgs: str, dying_memcgs: str, ops: int | None,
        scale: float | None,
        pattern: str | None, seed: int, swap_device: str | None, swap_latency: float | None,
        swap_dir: Path | None, no_verify: bool, as_json: bool, html_file: Path | None,
        backend: tuple[str, ...], compressor: tuple[str, ...], max_pool_percent: int,
        accept_threshold_percent: int, shrinker: bool, zswap_max: tuple[str, ...],
        no_writeback: tuple[str, ...], zram_size: str | None, sweep: tuple[str, ...],
        seeds: int, plot_dir: Path | None, no_baseline: bool) -> None:
    """Replay a workload through zswap under memory pressure and report what zswap did, what it
    costs, and what the same workload does without zswap.

    WORKLOAD is a built-in workload (default, heap, phased, scan, cgroups), a page file
    (e.g. from `pyzswap snapshot`) or a trace file (docs/WORKLOADS.md). Every report has a
    baseline (zswap off, same seed) and a cost model of the swap device (docs/DECIDING.md).
    The default run finishes in well under a minute.
    """
    from .run import cli_support as _cs
    from .run.harness import RunConfig
    from .units import parse_size

    if len(compressor) > 1:
        raise CliError("--compressor given twice: give one comma-separated list, "
                       "e.g. -c lzo,zstd")
    if len(sweep) > 1:
        raise CliError("--sweep given twice: one parameter can be swept per run")
    names = [c.strip() for c in (compressor[0] if compressor else "lzo").split(",")
             if c.strip()]
    if not names:
        raise CliError("--compressor: give at least one algorithm name")
    if len(names) > MAX_RUNS:
        raise CliError(f"--compressor: at most {MAX_RUNS} algorithms, got {len(names)}")
    for name in names:
        _check_compressor(name)
    backends = list(dict.fromkeys(backend or ("zswap",)))
    device = _cs.device(swap_device, swap_latency, backends)
    ram_pages = None if ram is None else _cs.ram_pages(ram, parse_size)
    if cgroup_version == "1" and (zswap_max or no_writeback):
        raise CliError("--zswap-max and --no-writeback set cgroup v2 files "
                       "(memory.zswap.*); this run is --cgroup-version 1")
    zram_pages = None
    if zram_size is not None:
        if "zram" not in backends:
            raise CliError("--zram-size is zram's disksize: it needs --backend zram")
        zram_pages = max(1, _cs.size(zram_size, "--zram-size", parse_size) // 4096)
    counts = _cs.memcg_counts(host_memcgs, dying_memcgs)
    base = RunConfig(
        compressor=names[0], ram_pages=ram_pages, max_pool_percent=max_pool_percent,
        accept_threshold_percent=accept_threshold_percent, shrinker_enabled=shrinker,
        cgroup_version=int(cgroup_version), swappiness=swappiness, page_cluster=page_cluster,
        min_free_kbytes=min_free_kbytes, host_memcgs=counts["host_memcgs"],
        dying_memcgs=counts["dying_memcgs"],
        memcg_max=_cs.limits(memcg_max, "--memcg-max", parse_size),
        zswap_max=_cs.limits(zswap_max, "--zswap-max", parse_size),
        zswap_writeback=dict.fromkeys((p.strip("/") for p in no_writeback), False),
        verify=not no_verify, zram_size_pages=zram_pages,
    )
    configs = _cs.backend_configs(_cs.run_configs(base, names, sweep[0] if sweep else None,
                                            parse_size), backends)
    if len(configs) > MAX_RUNS:
        raise CliError(f"{len(configs)} configurations: at most {MAX_RUNS} per run")
    make = _cs.workload_maker(workload, pattern, ops, scale)
    _cs.check_groups(make(seed), base)
    results = _cs.evaluate(make, configs, seed, seeds, device, as_json, swap_dir,
                           baseline=not no_baseline)
    failed = [r for r in results if "failed" in r]
    reports = [r for r in results if "failed" not in r]
    if failed and not reports:
        raise CliError(f"{failed[0]['label']}: {failed[0]['failed']}")
    result: dict[str, Any] = reports[0] if len(results) == 1 else {"runs": results}
    if plot_dir is not None:
        from .run.plots import write_plots

        written = write_plots(reports[0] if len(reports) == 1 else {"runs": reports}, plot_dir)
        result = {**result, "plots": [str(p) for p in written]}
    if html_file is not None:
        from .run.html import write_run_html

        _cs.write_html(lambda: write_run_html(results, html_file), html_file)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        from .run.report import print_comparison, print_run

        if len(results) == 1:
            print_run(reports[0])
        else:
            print_comparison(results)
        if plot_dir is not None:
            click.echo(f"charts: {', '.join(result['plots'])}")
        if html_file is not None:
            click.echo(f"HTML report: {html_file}")
    bad = [r["label"] for r in reports if not r["consistency"]["identity_holds"]]
    if bad:
        raise CliError(f"statistics are inconsistent in run(s) {', '.join(bad)}")


@cli.command()
@_run_options
@click.option("--objective", type=click.Choice(["memory", "latency", "balanced"]),
              default="balanced", show_default=True,
              help="memory: most RAM saved; latency: least fault stall and CPU; balanced: "
                   "RAM saved (fraction of RAM) minus the relative increase in stall and CPU "
                   "time (docs/DECIDING.md)")
@click.option("--seeds", type=click.IntRange(1, 16), default=2, show_default=True,
              help="seeds per configuration (figures: mean and spread)")
@click.option("--pool-percents", default="10,20,40", show_default=True, metavar="P1,P2,…",
              help="max_pool_percent values of the grid")
@click.option("--compressors", default=None, metavar="NAME,…",
              help="compressors of the grid [default: those this kernel offers]")
@click.option("--all-compressors", is_flag=True,
              help="also run the compressors this kernel does not offer (marked, never "
                   "recommended)")
@click.option("--backends", default="zswap,zram", show_default=True, metavar="B1,B2",
              help="backends of the grid besides the no-zswap baseline (zswap, zram)")
def advise(workload: str | None, ram: str | None, cgroup_version: str,
           memcg_max: tuple[str, ...], swappiness: int, page_cluster: int,
           min_free_kbytes: int | None, host_memcgs: str, dying_memcgs: str, ops: int | None,
           scale: float | None,
           pattern: str | None, seed: int, swap_device: str | None,
           swap_latency: float | None, swap_dir: Path | None, no_verify: bool, as_json: bool,
           html_file: Path | None, objective: str, seeds: int, pool_percents: str,
           compressors: str | None, all_compressors: bool, backends: str) -> None:
    """Should WORKLOAD get zswap, zram or neither, and with which settings?

    Runs the grid backend x compressor x max_pool_percent x shrinker (each configuration over
    --seeds seeds, next to the no-zswap baseline), ranks it by --objective, and prints the
    recommendation with its expected savings and costs and the commands to apply it. Only
    reads the host (/proc/crypto, zram's comp_algorithm); changes nothing.
    """
    from .run import cli_support as _cs
    from .run.advise import advise_grid, kernel_offers, rank
    from .run.harness import RunConfig
    from .units import parse_size

    try:
        percents = sorted({int(p) for p in pool_percents.split(",") if p.strip()})
    except ValueError:
        raise CliError(f"--pool-percents {pool_percents!r}: expected integers, e.g. "
                       "10,20,40") from None
    if not percents or not all(0 <= p <= 100 for p in percents):
        raise CliError("--pool-percents: give values from 0 to 100")
    chosen = None
    if compressors is not None:
        chosen = [c.strip() for c in compressors.split(",") if c.strip()]
        if not chosen:
            raise CliError("--compressors: give at least one algorithm name")
        for name in chosen:
            _check_compressor(name)
    wanted = [b.strip() for b in backends.split(",") if b.strip()]
    if not wanted or not set(wanted) <= {"zswap", "zram"}:
        raise CliError(f"--backends {backends!r}: choose from zswap, zram")
    if swap_device == "zram":
        raise CliError("--swap-device zram: the grid has zram as a backend; give the disk "
                       "behind zswap (nvme, ssd, hdd)")
    device = _cs.device(swap_device, swap_latency, ["zswap"])
    counts = _cs.memcg_counts(host_memcgs, dying_memcgs)
    base = RunConfig(ram_pages=None if ram is None else _cs.ram_pages(ram, parse_size),
                     cgroup_version=int(cgroup_version), swappiness=swappiness,
                     page_cluster=page_cluster, min_free_kbytes=min_free_kbytes,
                     host_memcgs=counts["host_memcgs"], dying_memcgs=counts["dying_memcgs"],
                     memcg_max=_cs.limits(memcg_max, "--memcg-max", parse_size),
                     verify=not no_verify)
    make = _cs.workload_maker(workload, pattern, ops, scale)
    first = make(seed)
    _cs.check_groups(first, base)
    offers = kernel_offers()
    grid = advise_grid(base, offers, compressors=chosen, pool_percents=percents,
                       include_unoffered=all_compressors, backends=wanted)
    results = _cs.evaluate(make, grid, seed, seeds, device, as_json, swap_dir)
    rows = rank(results, objective, offers)
    report = _cs.advice(first, results, rows, objective, offers, device, seeds)
    if html_file is not None:
        from .run.html import write_advise_html

        _cs.write_html(lambda: write_advise_html(report, results, html_file), html_file)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from .run.report import print_advice

    print_advice(report)
    if html_file is not None:
        click.echo(f"HTML report: {html_file}")


@cli.command()
@click.option("--cpus", "nr_cpus", type=click.IntRange(1, 4096), default=8, show_default=True,
              help="possible logical CPUs")
@click.option("--offline", default="", metavar="LIST",
              help="CPUs to take offline after the pages are stored, e.g. 3,5-7")
@_compressor_option()
@click.option("--lifetime", type=click.Choice(list(LIFETIMES)), default="pool",
              show_default=True, help="per-CPU context lifetime strategy")
@click.option("--pages", "nr_pages", type=click.IntRange(0, 1 << 20), default=1024,
              show_default=True, help="pages of the built-in workload to store first")
@click.option("--switch", "switches", multiple=True, metavar="NAME",
              help="switch the compressor to NAME after storing (repeatable)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def pools(nr_cpus: int, offline: str, compressor: str, lifetime: str, nr_pages: int,
          switches: tuple[str, ...], as_json: bool) -> None:
    """Show zswap's pools and their per-CPU compression contexts.

    Builds a zswap on a model of --cpus logical CPUs, stores --pages pages, optionally switches
    compressor and takes CPUs offline, then reports which CPUs hold context resources, their
    bytes, and what the kernel's contexts would take (x86-64).
    """
    from .cpu import CpuModel
    from .tools.pagesets import make_pages
    from .zswap import Zswap

    for name in (compressor, *switches):
        _check_compressor(name)
    cpu_list = _parse_cpu_list(offline, nr_cpus)
    if len(cpu_list) >= nr_cpus:
        raise CliError("--offline would take every CPU offline; keep at least one online")
    cpus = CpuModel(nr_cpus)
    z = Zswap(compressor=compressor, totalram_pages=None, cpus=cpus, lifetime=lifetime)
    z.swapon(0, max(nr_pages, 1))
    data = memoryview(make_pages(n_pages=nr_pages, seed=0))
    for i in range(nr_pages):
        z.store(data[i * PAGE_SIZE:(i + 1) * PAGE_SIZE], 0, i)
    for name in switches:
        z.set_param("compressor", name)
    for cpu in cpu_list:
        cpus.cpu_down(cpu)
    report = z.pool_report()
    shared, streams = z.shared_report(), z.stream_report()
    if as_json:
        click.echo(json.dumps({"cpus": nr_cpus, "online": cpus.online_cpus(), "pools": report,
                               "shared": shared, "streams": streams}, indent=2))
        return
    _print_pools(report, cpus.online_cpus(), nr_cpus)
    if shared is not None:
        click.echo(f"shared by every pool ({lifetime}): {shared['slots']} request(s) and "
                   f"buffer(s) per CPU on CPUs {_cpu_ranges(shared['cpus_holding'])}, "
                   f"{shared['ctx_bytes']:,} bytes; kernel would use "
                   f"{shared['kernel_ctx_bytes_per_cpu']:,} bytes per CPU")
    for name, held in streams.items():
        click.echo(f"compression streams of {name}: CPUs {_cpu_ranges(held)}")


def _parse_cpu_list(text: str, nr_cpus: int) -> list[int]:
    """Parse a kernel-style CPU list ("1,3-5")."""
    cpus: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise CliError(f"bad CPU list {text!r}: expected e.g. 1,3-5") from None
        if not 0 <= first <= last < nr_cpus:
            raise CliError(f"CPU list {text!r} is outside 0..{nr_cpus - 1}")
        cpus.update(range(first, last + 1))
    return sorted(cpus)


def _print_pools(report: list[dict[str, Any]], online: list[int], nr_cpus: int) -> None:
    from rich.table import Table

    from ._cliutil import console as rich_console

    console = rich_console()
    console.print(f"{len(online)}/{nr_cpus} CPUs online")
    table = Table(title="zswap pools (current first)")
    for col in ("id", "alg", "lifetime", "refs", "zs pages", "ctx CPUs", "ctx bytes",
                "kernel bytes"):
        table.add_column(col, justify="right")
    for pool in report:
        table.add_row(
            str(pool["id"]), pool["compressor"], pool["lifetime"], str(pool["ref"]),
            f"{pool['pool_pages']:,}", str(len(pool["cpus_holding"])),
            f"{pool['ctx_bytes']:,}", f"{pool['kernel_ctx_bytes']:,}",
        )
    console.print(table)
    for pool in report:
        console.print(f"pool {pool['id']} ({pool['compressor']}): contexts on CPUs "
                      f"{_cpu_ranges(pool['cpus_holding'])}; kernel would use "
                      f"{pool['kernel_ctx_bytes_per_cpu']:,} bytes per CPU")


def _cpu_ranges(cpus: list[int]) -> str:
    out: list[str] = []
    for cpu in cpus:
        if out and "-" not in out[-1] and int(out[-1]) == cpu - 1:
            out[-1] = f"{out[-1]}-{cpu}"
        elif out and "-" in out[-1] and int(out[-1].split("-")[1]) == cpu - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{cpu}"
        else:
            out.append(str(cpu))
    return ",".join(out) or "none"


#: The tools' commands, by name: (module, attribute). They live with their packages.
_TOOLS: Final[dict[str, tuple[str, str]]] = {
    "kernel": ("pyzswap.tools.kernel.cli", "kernel"),
    "snapshot": ("pyzswap.tools.kernel.cli", "snapshot"),
    "lab": ("pyzswap.tools.lab.cli", "lab"),
    "soak": ("pyzswap.tools.soak", "soak"),
    "bench": ("pyzswap.tools.bench", "bench"),
    "status": ("pyzswap.tools.status", "status"),
    "trace": ("pyzswap.run.trace_cli", "trace"),
    "study": ("pyzswap.tools.study.cli", "study"),
}


def _load_tool(name: str) -> click.Command:
    """Import a tool's command (``bench`` also gets ``bench study``)."""
    import importlib

    module, attr = _TOOLS[name]
    command: click.Command = getattr(importlib.import_module(module), attr)
    if name == "bench" and isinstance(command, click.Group) and "study" not in command.commands:
        from .tools.study.bench import study_bench

        command.add_command(study_bench)
    return command


def _read_pages(path: Path, reader: Callable[[Path], bytes]) -> bytes:
    if not path.exists():
        raise CliError(f"{path}: no such file")
    if path.is_dir():
        raise CliError(f"{path}: is a directory, expected a page file")
    return reader(path)


def _emit(report: StoreCheckReport, as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_store_report(report, title)


def _error(message: str) -> None:
    """One line on stderr, whatever the message holds (an argument may contain newlines)."""
    click.echo("pyzswap: error: " + " ".join(message.split("\n")).strip(), err=True)


def _announce_host_change(message: str) -> None:
    click.echo(f"pyzswap: {message}", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, mapping every user error to one line and exit status 2."""
    from .tools.kernel import _host

    _host.announce = _announce_host_change
    _host.begin_command()
    terminate_on_sigterm()
    try:
        cli.main(args=argv, prog_name="pyzswap", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        # `pyzswap` alone: the help, as click prints it in standalone mode.
        if exc.ctx is not None:
            click.echo(exc.ctx.get_help())
        return 0
    except click.Abort:
        click.echo("pyzswap: aborted", err=True)
        return 130
    except click.ClickException as exc:
        _error(exc.format_message())
        return EXIT_USAGE
    except ZswapError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except (OSError, ValueError, OverflowError, MemoryError) as exc:
        # what no command turned into one line: input too large or malformed for some layer
        message = main_error_message(exc)
        if message is None:  # pragma: no cover - every OSError, ValueError... has one
            raise
        _error(message)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
