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
from typing import Any

import click

from . import __version__
from ._cliutil import SEED, finite_float, main_error_message, terminate_on_sigterm
from .compress import available_compressors, get_compressor
from .errors import ZswapError
from .pool import LIFETIMES
from .storecheck import StoreCheckReport, store_check

__all__ = ["main"]

EXIT_USAGE = 2
#: The most accesses a run replays (``--ops``), and the largest ``--ram`` (1 TiB).
MAX_OPS = 1 << 32
MAX_RAM_BYTES = 1 << 40
#: The most runs one ``--sweep`` or ``--compressor`` list asks for.
MAX_RUNS = 32


class CliError(click.ClickException):
    exit_code = EXIT_USAGE


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
    held = report.stored_pages * 4096
    saved = held - report.pool_total_size + report.zero_pages * 4096
    pct = 100 * saved / report.original_bytes if report.original_bytes else 0.0
    return f"{saved / (1 << 20):.2f} MiB ({pct:.1f}% of the page set)"


def _timing(seconds: float, pages: int) -> str:
    if not pages:
        return f"{seconds:.3f} s"
    return f"{seconds:.3f} s ({seconds * 1e6 / pages:.2f} µs/page)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
    from .pagesets import read_page_file

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
    return f"{4096 / us_per_page:,.0f}"


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
def run(workload: str | None, ram: str | None, cgroup_version: str,
        memcg_max: tuple[str, ...], swappiness: int, page_cluster: int,
        min_free_kbytes: int | None, ops: int | None, scale: float | None,
        pattern: str | None, seed: int, swap_device: str | None, swap_latency: float | None,
        swap_dir: Path | None, no_verify: bool, as_json: bool, html_file: Path | None,
        backend: tuple[str, ...], compressor: tuple[str, ...], max_pool_percent: int,
        accept_threshold_percent: int, shrinker: bool, zswap_max: tuple[str, ...],
        no_writeback: tuple[str, ...], zram_size: str | None, sweep: tuple[str, ...],
        seeds: int, plot_dir: Path | None) -> None:
    """Replay a workload through zswap under memory pressure and report what zswap did, what it
    costs, and what the same workload does without zswap.

    WORKLOAD is a built-in workload (default, heap, phased, scan, cgroups), a page file
    (e.g. from `pyzswap snapshot`) or a trace file (docs/WORKLOADS.md). Every report has a
    baseline (zswap off, same seed) and a cost model of the swap device (docs/DECIDING.md).
    The default run finishes in well under a minute.
    """
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
    device = _device(swap_device, swap_latency, backends)
    ram_pages = None if ram is None else _ram_pages(ram, parse_size)
    if cgroup_version == "1" and (zswap_max or no_writeback):
        raise CliError("--zswap-max and --no-writeback set cgroup v2 files "
                       "(memory.zswap.*); this run is --cgroup-version 1")
    zram_pages = None
    if zram_size is not None:
        if "zram" not in backends:
            raise CliError("--zram-size is zram's disksize: it needs --backend zram")
        zram_pages = max(1, _size(zram_size, "--zram-size", parse_size) // 4096)
    base = RunConfig(
        compressor=names[0], ram_pages=ram_pages, max_pool_percent=max_pool_percent,
        accept_threshold_percent=accept_threshold_percent, shrinker_enabled=shrinker,
        cgroup_version=int(cgroup_version), swappiness=swappiness, page_cluster=page_cluster,
        min_free_kbytes=min_free_kbytes,
        memcg_max=_limits(memcg_max, "--memcg-max", parse_size),
        zswap_max=_limits(zswap_max, "--zswap-max", parse_size),
        zswap_writeback=dict.fromkeys((p.strip("/") for p in no_writeback), False),
        verify=not no_verify, zram_size_pages=zram_pages,
    )
    configs = _backend_configs(_run_configs(base, names, sweep[0] if sweep else None,
                                            parse_size), backends)
    if len(configs) > MAX_RUNS:
        raise CliError(f"{len(configs)} configurations: at most {MAX_RUNS} per run")
    make = _workload_maker(workload, pattern, ops, scale)
    _check_groups(make(seed), base)
    results = _evaluate(make, configs, seed, seeds, device, as_json, swap_dir)
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

        _write_html(lambda: write_run_html(results, html_file), html_file)
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
           min_free_kbytes: int | None, ops: int | None, scale: float | None,
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
    device = _device(swap_device, swap_latency, ["zswap"])
    base = RunConfig(ram_pages=None if ram is None else _ram_pages(ram, parse_size),
                     cgroup_version=int(cgroup_version), swappiness=swappiness,
                     page_cluster=page_cluster, min_free_kbytes=min_free_kbytes,
                     memcg_max=_limits(memcg_max, "--memcg-max", parse_size),
                     verify=not no_verify)
    make = _workload_maker(workload, pattern, ops, scale)
    first = make(seed)
    _check_groups(first, base)
    offers = kernel_offers()
    grid = advise_grid(base, offers, compressors=chosen, pool_percents=percents,
                       include_unoffered=all_compressors, backends=wanted)
    results = _evaluate(make, grid, seed, seeds, device, as_json, swap_dir)
    rows = rank(results, objective, offers)
    report = _advice(first, results, rows, objective, offers, device, seeds)
    if html_file is not None:
        from .run.html import write_advise_html

        _write_html(lambda: write_advise_html(report, results, html_file), html_file)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from .run.report import print_advice

    print_advice(report)
    if html_file is not None:
        click.echo(f"HTML report: {html_file}")


def _advice(wl: Any, results: list[dict[str, Any]], rows: list[dict[str, Any]],
            objective: str, offers: dict[str, Any], device: Any,
            seeds: int) -> dict[str, Any]:
    """The JSON of ``advise``: the ranked grid, the recommendation and how to apply it."""
    import math
    from dataclasses import asdict

    from .run.advise import apply_commands

    best = next((r for r in rows if r["failed"] is None and r["offered"] is not False), None)
    apply = None
    if best is not None:
        size = None
        if best["backend"] == "zram":
            run = next(r for r in results if r.get("label") == best["label"])
            peak = max(run["series"]["stored_pages"], default=0) * 4096
            size = max(int(peak * 1.25), run["ram_bytes"] // 4)
        apply = apply_commands(best, size)
    ok = next((r for r in results if "failed" not in r), None)
    return {
        "workload": wl.name, "description": wl.description,
        "ram_bytes": ok["ram_bytes"] if ok else None,
        "total_pages": wl.total_pages, "seeds": seeds, "objective": objective,
        "formula": {"memory": "saved_fraction", "latency": "-time_increase",
                    "balanced": "saved_fraction - time_increase"}[objective],
        "kernel_offers": offers,
        "swap_device": {k: (v if not isinstance(v, float) or math.isfinite(v) else None)
                        for k, v in asdict(device).items()},
        "grid": rows, "recommendation": best, "apply": apply,
    }


def _write_html(write: Callable[[], Any], path: Path) -> None:
    try:
        write()
    except OSError as exc:
        raise CliError(f"--html {path}: {exc.strerror or exc}") from None


def _device(name: str | None, latency: float | None, backends: list[str]) -> Any:
    """The cost model's swap device; conflicting choices are an error, not an override."""
    from .run.cost import swap_device

    if name is not None and latency is not None:
        raise CliError("--swap-device and --swap-latency both describe the swap device: "
                       "give one")
    if backends == ["zram"]:
        if (name not in (None, "zram")) or latency is not None:
            raise CliError("--backend zram: zram is the swap device (no --swap-device or "
                           "--swap-latency)")
        return swap_device("zram")
    if name == "zram":
        raise CliError("--swap-device zram describes zram; compare it with --backend zram")
    return swap_device(name or "nvme", latency)


def _size(text: str, option: str, parse_size: Callable[[str, str], int]) -> int:
    try:
        return parse_size(text, option)
    except ZswapError as exc:
        raise CliError(str(exc)) from None


def _backend_configs(configs: list[Any], backends: list[str]) -> list[Any]:
    """Every zswap configuration once per backend; zram takes each compressor once, and the
    no-zswap backend once (its results do not depend on zswap's parameters)."""
    from dataclasses import replace

    out: list[Any] = []
    seen: set[str] = set()
    multi = len(backends) > 1
    for b in backends:
        for cfg in configs:
            label = cfg.label if b == "zswap" else (
                f"zram {cfg.compressor}" if b == "zram" else "no zswap")
            if multi and b == "zswap":
                label = f"zswap {label}"
            if label in seen:
                continue
            seen.add(label)
            out.append(replace(cfg, backend=b, label=label))
    return out


def _workload_maker(workload: str | None, pattern: str | None, ops: int | None,
                    scale: float | None) -> Callable[[int], Any]:
    """The workload for a seed; options a workload does not use are errors, not ignored."""
    from .pagesets import check_regular_file
    from .run.workload import PROFILES, workload_from_name

    builtin = workload is None or workload in PROFILES
    if workload is not None and not builtin and Path(workload).exists():
        check_regular_file(workload)  # a FIFO would block the look at its first bytes
        with open(workload, "rb") as fh:
            is_trace = fh.read(64).lstrip().startswith((b"#", b"proc"))
        if scale is not None:
            raise CliError("--scale sizes a built-in workload; this is a "
                           f"{'trace' if is_trace else 'page file'}")
        if is_trace and (pattern is not None or ops is not None):
            raise CliError("--pattern and --ops apply to a page file or a built-in workload; "
                           "a trace gives its own accesses")
    elif pattern is not None:
        raise CliError("--pattern applies to a page file; built-in workloads have their own "
                       "patterns (docs/WORKLOADS.md)")

    def make(seed: int) -> Any:
        return workload_from_name(workload, seed=seed, pattern=pattern or "zipf", ops=ops,
                                  scale=scale if scale is not None else 1.0)

    return make


def _check_groups(wl: Any, cfg: Any) -> None:
    """A cgroup option must name one of the workload's groups (a misspelt name would make a
    new, empty group and silently limit nothing)."""
    known = {(p.memcg or "").strip("/") for p in wl.procs} | {
        k.strip("/") for k in wl.memcg_max} | {
        (ev.memcg or "").strip("/") for ev in wl.controls if getattr(ev, "memcg", None)}
    known.discard("")
    # a group's ancestors exist too (a/b makes a)
    known |= {"/".join(p.split("/")[:k]) for p in known for k in range(1, p.count("/") + 1)}
    for option, paths in (("--memcg-max", cfg.memcg_max), ("--zswap-max", cfg.zswap_max),
                          ("--no-writeback", cfg.zswap_writeback)):
        for path in paths:
            if path.strip("/") not in known:
                have = ", ".join(sorted(known)) or "none: every process is in the root group"
                raise CliError(f"{option} {path}: the workload has no cgroup {path!r} "
                               f"(its cgroups: {have})")


def _evaluate(make: Callable[[int], Any], configs: list[Any], seed: int, seeds: int,
              device: Any, quiet: bool, swap_dir: Path | None) -> list[dict[str, Any]]:
    from .run.evaluate import evaluate

    with _progress_runs(not quiet) as progress:
        return evaluate(make, configs, seeds=list(range(seed, seed + seeds)), device=device,
                        progress=progress, swap_dir=None if swap_dir is None else str(swap_dir))


def _ram_pages(text: str, parse_size: Callable[[str, str], int]) -> int:
    try:
        nbytes = parse_size(text, "--ram")
    except ZswapError as exc:
        raise CliError(str(exc)) from None
    if nbytes < 4096:
        raise CliError(f"--ram {text}: RAM must be at least one page (4096 bytes)")
    if nbytes > MAX_RAM_BYTES:
        raise CliError(f"--ram {text}: at most 1T (a RAM of {MAX_RAM_BYTES >> 30} GiB)")
    return nbytes // 4096


def _limits(items: tuple[str, ...], option: str,
            parse_size: Callable[[str, str], int]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path.strip("/"):
            raise CliError(f"{option} {item!r}: expected PATH=SIZE, e.g. batch=64M")
        try:
            out[path.strip("/")] = None if value == "max" else parse_size(value, option)
        except ZswapError as exc:
            raise CliError(str(exc)) from None
    return out


def _run_configs(base: Any, names: list[str], sweep: str | None,
                 parse_size: Callable[[str, str], int]) -> list[Any]:
    from dataclasses import replace

    if sweep is None:
        return [replace(base, compressor=n, label=n) for n in names]
    key, sep, values = sweep.partition("=")
    choices = {"max_pool_percent", "accept_threshold_percent", "shrinker_enabled", "ram"}
    if not sep or key not in choices or not values:
        raise CliError(f"--sweep {sweep!r}: expected NAME=V1,V2 with NAME one of "
                       f"{', '.join(sorted(choices))}")
    nvalues = values.count(",") + 1
    if nvalues > MAX_RUNS:
        raise CliError(f"--sweep: at most {MAX_RUNS} values, got {nvalues}")
    if nvalues * len(names) > MAX_RUNS:
        raise CliError(f"--sweep: at most {MAX_RUNS} runs, got {nvalues} values x "
                       f"{len(names)} compressors")
    configs = []
    for raw in values.split(","):
        raw = raw.strip()
        try:
            if key == "ram":
                cfg = replace(base, ram_pages=_ram_pages(raw, parse_size))
            elif key == "shrinker_enabled":
                if raw not in ("0", "1", "Y", "N", "y", "n"):
                    raise ValueError(raw)
                cfg = replace(base, shrinker_enabled=raw in ("1", "Y", "y"))
            else:
                value = int(raw)
                if not 0 <= value <= 100:
                    raise ValueError(raw)
                cfg = replace(base, **{key: value})
        except ValueError:
            raise CliError(f"--sweep {key}: bad value {raw!r}") from None
        for n in names:  # a grid: every compressor at every value
            label = f"{key}={raw}" if len(names) == 1 else f"{n} {key}={raw}"
            configs.append(replace(cfg, compressor=n, label=label))
    return configs


@contextmanager
def _progress_runs(enabled: bool) -> Iterator[Callable[[str, int, int, int, int], None] | None]:
    """One bar over every run (run index, label, seed; ETA), shown on a terminal only."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True) as bar:
        task = bar.add_task("", total=1.0)

        def update(label: str, run: int, runs: int, done: int, total: int) -> None:
            frac = (run + (done / total if total else 1.0)) / runs
            bar.update(task, completed=frac,
                       description=f"run {min(run + 1, runs)}/{runs}: {label}")

        yield update


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
    from .pagesets import make_pages
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
        z.store(data[i * 4096:(i + 1) * 4096], 0, i)
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


def _register_tools() -> None:
    """The tools' commands live with their packages (kernel, snapshot, lab, soak, bench,
    study)."""
    from .bench import bench
    from .kernel.cli import kernel, snapshot
    from .lab.cli import lab
    from .run.trace_cli import trace
    from .soak import soak
    from .status import status
    from .study.bench import study_bench
    from .study.cli import study

    cli.add_command(kernel)
    cli.add_command(snapshot)
    cli.add_command(lab)
    cli.add_command(soak)
    cli.add_command(bench)
    cli.add_command(status)
    cli.add_command(trace)
    cli.add_command(study)
    bench.add_command(study_bench)


_register_tools()


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
    from .kernel import _host

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
