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
from ._cliutil import SEED, finite_float, main_error_message, terminate_on_sigterm
from .compress import available_compressors, get_compressor
from .errors import ZswapError
from .folio import PAGE_SIZE
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
    return f"{PAGE_SIZE / us_per_page:,.0f}"


@cli.command()
@click.argument("workload", required=False)
@click.option("--ram", default=None, metavar="SIZE",
              help="the machine's RAM (MemTotal: the base of max_pool_percent and the "
                   "watermarks): 64M, 64MiB, 1.5G, 64MB (10^6), bytes; default: the "
                   "workload's suggestion")
@click.option("--cgroup-version", type=click.Choice(["1", "2"]), default="2",
              show_default=True,
              help="memory cgroup version: 1 = memory.limit_in_bytes, zswap not charged; "
                   "2 = memory.max, zswap charged")
@click.option("--compressor", "-c", default="lzo", show_default=True, metavar="NAME[,NAME…]",
              help="compression algorithm; several (comma-separated) compare them")
@click.option("--max-pool-percent", type=click.IntRange(0, 100), default=20, show_default=True)
@click.option("--accept-threshold-percent", type=click.IntRange(0, 100), default=90,
              show_default=True)
@click.option("--shrinker/--no-shrinker", "shrinker", default=False, show_default=True,
              help="zswap's memory-pressure shrinker (shrinker_enabled)")
@click.option("--memcg-max", multiple=True, metavar="PATH=SIZE",
              help="memory limit of a cgroup (v2 memory.max, v1 memory.limit_in_bytes), e.g. "
                   "batch=64M (repeatable)")
@click.option("--swappiness", type=click.IntRange(0, 200), default=60, show_default=True,
              help="vm.swappiness (and each v1 group's memory.swappiness)")
@click.option("--page-cluster", type=click.IntRange(0, 31), default=3, show_default=True,
              help="vm.page-cluster: swap readahead of up to 2**N pages")
@click.option("--min-free-kbytes", type=click.IntRange(0, None), default=None,
              help="vm.min_free_kbytes (watermarks); default: the kernel's for the RAM size")
@click.option("--zswap-max", multiple=True, metavar="PATH=SIZE",
              help="memory.zswap.max of a cgroup (repeatable)")
@click.option("--no-writeback", "no_writeback", multiple=True, metavar="PATH",
              help="memory.zswap.writeback=0 for a cgroup (repeatable)")
@click.option("--sweep", default=None, metavar="NAME=V1,V2,…",
              help="run once per value of max_pool_percent, accept_threshold_percent, "
                   "shrinker_enabled or ram, and compare")
@click.option("--ops", type=click.IntRange(1, MAX_OPS), default=None,
              help="number of accesses (default: the workload's)")
@click.option("--scale", type=finite_float(0.01, 100.0), default=1.0, show_default=True,
              help="scale a built-in workload's pages and accesses")
@click.option("--pattern", type=click.Choice(["uniform", "zipf", "phased", "scan"]),
              default="zipf", show_default=True, help="access pattern for a page file")
@click.option("--seed", type=SEED, default=0, show_default=True, help="workload seed")
@click.option("--no-verify", is_flag=True, help="do not check every fault against the truth")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="write PNG charts into this directory")
def run(workload: str | None, ram: str | None, cgroup_version: str, compressor: str,
        max_pool_percent: int, accept_threshold_percent: int, shrinker: bool,
        memcg_max: tuple[str, ...], swappiness: int, page_cluster: int,
        min_free_kbytes: int | None, zswap_max: tuple[str, ...], no_writeback: tuple[str, ...],
        sweep: str | None, ops: int | None, scale: float, pattern: str, seed: int,
        no_verify: bool, as_json: bool, plot_dir: Path | None) -> None:
    """Replay a workload through zswap under memory pressure and report what zswap did.

    WORKLOAD is a built-in workload (default, heap, phased, scan, cgroups), a page file
    (e.g. from `pyzswap snapshot`) or a trace file (docs/WORKLOADS.md). The default run
    finishes in well under a minute.
    """
    from .pagesets import check_regular_file
    from .run.harness import RunConfig, run_workload
    from .run.workload import workload_from_name
    from .units import parse_size

    names = [c.strip() for c in compressor.split(",") if c.strip()]
    if not names:
        raise CliError("--compressor: give at least one algorithm name")
    if len(names) > MAX_RUNS:
        raise CliError(f"--compressor: at most {MAX_RUNS} algorithms, got {len(names)}")
    for name in names:
        _check_compressor(name)
    ram_pages = None if ram is None else _ram_pages(ram, parse_size)
    if cgroup_version == "1" and (zswap_max or no_writeback):
        raise CliError("--zswap-max and --no-writeback set cgroup v2 files "
                       "(memory.zswap.*); this run is --cgroup-version 1")
    base = RunConfig(
        compressor=names[0], ram_pages=ram_pages, max_pool_percent=max_pool_percent,
        accept_threshold_percent=accept_threshold_percent, shrinker_enabled=shrinker,
        cgroup_version=int(cgroup_version), swappiness=swappiness, page_cluster=page_cluster,
        min_free_kbytes=min_free_kbytes,
        memcg_max=_limits(memcg_max, "--memcg-max", parse_size),
        zswap_max=_limits(zswap_max, "--zswap-max", parse_size),
        zswap_writeback=dict.fromkeys(no_writeback, False), seed=seed, verify=not no_verify,
    )
    configs = _run_configs(base, names, sweep, parse_size)
    if workload is not None:
        check_regular_file(workload)  # a FIFO would block the look at its first bytes
    wl = workload_from_name(workload, seed=seed, pattern=pattern, ops=ops, scale=scale)
    reports = []
    for cfg in configs:
        with _progress_events(not as_json, f"{wl.name} [{cfg.label}]") as progress:
            reports.append(run_workload(wl, cfg, progress=progress).to_dict())
    result: dict[str, Any] = reports[0] if len(reports) == 1 else {"runs": reports}
    if plot_dir is not None:
        from .run.plots import write_plots

        written = write_plots(result, plot_dir)
        result = {**result, "plots": [str(p) for p in written]}
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        from .run.report import print_comparison, print_run

        if len(reports) == 1:
            print_run(reports[0])
        else:
            print_comparison(reports)
        if plot_dir is not None:
            click.echo(f"charts: {', '.join(result['plots'])}")
    bad = [r["label"] for r in reports if not r["consistency"]["identity_holds"]]
    if bad:
        raise CliError(f"statistics are inconsistent in run(s) {', '.join(bad)}")


def _ram_pages(text: str, parse_size: Callable[[str, str], int]) -> int:
    try:
        nbytes = parse_size(text, "--ram")
    except ZswapError as exc:
        raise CliError(str(exc)) from None
    if nbytes < PAGE_SIZE:
        raise CliError(f"--ram {text}: RAM must be at least one page ({PAGE_SIZE} bytes)")
    if nbytes > MAX_RAM_BYTES:
        raise CliError(f"--ram {text}: at most 1T (a RAM of {MAX_RAM_BYTES >> 30} GiB)")
    return nbytes // PAGE_SIZE


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
    if len(names) > 1:
        raise CliError("--sweep and several --compressor values cannot be combined")
    key, sep, values = sweep.partition("=")
    choices = {"max_pool_percent", "accept_threshold_percent", "shrinker_enabled", "ram"}
    if not sep or key not in choices or not values:
        raise CliError(f"--sweep {sweep!r}: expected NAME=V1,V2 with NAME one of "
                       f"{', '.join(sorted(choices))}")
    if values.count(",") >= MAX_RUNS:
        raise CliError(f"--sweep: at most {MAX_RUNS} values, got {values.count(',') + 1}")
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
        configs.append(replace(cfg, label=f"{key}={raw}"))
    return configs


@contextmanager
def _progress_events(enabled: bool, title: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar over the replayed events (only on a terminal)."""
    with _progress(enabled) as update:
        if update is None:
            yield None
            return
        yield lambda done, total: update(title, done, total)


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
    "kernel": ("pyzswap.kernel.cli", "kernel"),
    "snapshot": ("pyzswap.kernel.cli", "snapshot"),
    "lab": ("pyzswap.lab.cli", "lab"),
    "soak": ("pyzswap.soak", "soak"),
    "bench": ("pyzswap.bench", "bench"),
    "status": ("pyzswap.status", "status"),
    "trace": ("pyzswap.run.trace_cli", "trace"),
    "study": ("pyzswap.study.cli", "study"),
}


def _load_tool(name: str) -> click.Command:
    """Import a tool's command (``bench`` also gets ``bench study``)."""
    import importlib

    module, attr = _TOOLS[name]
    command: click.Command = getattr(importlib.import_module(module), attr)
    if name == "bench" and isinstance(command, click.Group) and "study" not in command.commands:
        from .study.bench import study_bench

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
