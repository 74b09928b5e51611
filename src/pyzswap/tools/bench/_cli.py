"""Click commands: ``pyzswap bench`` (the main benchmark), ``bench scaling``, ``bench memory``.

Thin: they load the pages, call :mod:`._core`, :mod:`._scaling` or :mod:`._memory`, and print
one JSON object (``--json``) or rich tables with the ratios beside the absolute figures.
Progress goes to stderr. Every error a user can cause (unknown compressor or page set, a
missing or malformed page file, a page file with no non-zero page) becomes a one-line
:class:`click.ClickException` with exit status 2, so ``pyzswap.cli.main`` prints
``pyzswap: error: ...`` and no traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ..._cliutil import EXIT_USAGE, console, one_line_errors
from ...compress import available_compressors
from ._common import DEFAULT_PAGESET, PageSource, Progress, load_pages, stderr_progress
from ._core import DEFAULT_COMPRESSORS, run_bench
from ._memory import DEFAULT_ENTRIES, run_memory
from ._scaling import DEFAULT_MAX_PAGES, DEFAULT_WINDOW, run_scaling

__all__ = ["bench"]

F = TypeVar("F", bound=Callable[..., Any])


class BenchCliError(click.ClickException):
    exit_code = EXIT_USAGE


#: ZswapError/OSError -> one-line ClickException (exit 2), as the other commands do.
_one_line_errors = one_line_errors(BenchCliError)


def _source_options(func: F) -> F:
    func = click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
                        help="seed of the built-in page set")(func)
    func = click.option("--pages", type=click.IntRange(1), default=None,
                        help="pages to generate (default 8192), or the first pages of --pagefile"
                        )(func)
    func = click.option("--pagefile", type=click.Path(path_type=Path), default=None,
                        help="raw 4 KiB pages, as dd writes them (instead of a page set)")(func)
    func = click.option("--pageset", default=None, metavar="NAME",
                        help=f"built-in page set (default {DEFAULT_PAGESET!r}; 'real' or "
                             "'mixed', see pyzswap.tools.pagesets)")(func)
    return func


_json_opt = click.option("--json", "as_json", is_flag=True, help="print one JSON object")
_quiet_opt = click.option("--quiet", "-q", is_flag=True, help="no progress lines on stderr")


def _console() -> Any:
    """The command's rich console (no wrapping when stdout is not a terminal)."""
    return console()


def _progress(quiet: bool) -> Progress | None:
    return None if quiet else stderr_progress


def _source(pageset: str | None, pagefile: Path | None, pages: int | None,
            seed: int) -> PageSource:
    return load_pages(pageset=pageset, pagefile=pagefile, pages=pages, seed=seed)


def _split_compressors(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise BenchCliError("no compressor given")
    known = set(available_compressors())
    for name in names:
        if name not in known:
            raise BenchCliError(f"unknown compressor {name!r}; valid names: "
                                f"{', '.join(sorted(known))}")
    return names


# ---- the main benchmark ------------------------------------------------------------------------


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@_source_options
@click.option("--compressor", "-c", "compressors", default=",".join(DEFAULT_COMPRESSORS),
              show_default=True, metavar="NAME[,NAME...]",
              help="compressors to measure (any registered name; the default: every one a "
                   "target names)")
@click.option("--repeat", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="repetitions per figure (median, min and max are reported)")
@click.option("--kernel/--no-kernel", default=False, show_default=True,
              help="also time the kernel's zram (root): hot-adds a zram device, restored after")
@click.option("--no-batched", is_flag=True, help="skip the batched stores")
@click.option("--replay-cases", default="all", show_default=True, metavar="NAME[,NAME...]",
              help="with --kernel: the fidelity cases whose replay speed is measured against "
                   "the kernel's live replay, paired ('none': skip them)")
@_json_opt
@_quiet_opt
@click.pass_context
@_one_line_errors
def bench(ctx: click.Context, pageset: str | None, pagefile: Path | None, pages: int | None,
          seed: int, compressors: str, repeat: int, kernel: bool, no_batched: bool,
          replay_cases: str, as_json: bool, quiet: bool) -> None:
    """Time pyzswap against the raw codec and the kernel's zram, on the same pages.

    Without a subcommand: for each compressor, raw compress/decompress loops, zswap store and
    load of 4 KiB folios, batched stores (64 KiB and 2 MiB folios, reclaim batches of 32) on
    the compressor batched over two engine threads, and, with --kernel (root, a kernel with
    zram), zram write/read with the same algorithm on a zram device of its own, the kernel's
    zswap fault-in, and pyzswap run's replay speed against the kernel replaying each
    fidelity case (--replay-cases; ~10 minutes at --repeat 5). Every figure is the median of
    --repeat repetitions (min-max beside it; the batched stores after one untimed pass);
    ratios are taken per repetition. See docs/PERFORMANCE.md.
    """
    if ctx.invoked_subcommand is not None:
        return
    names = _split_compressors(compressors)
    from ..kernel.suite import SUITE

    cases = (list(SUITE) if replay_cases.strip() == "all" else []
             if replay_cases.strip() == "none"
             else [c.strip() for c in replay_cases.split(",") if c.strip()])
    source = _source(pageset, pagefile, pages, seed)
    report = run_bench(source, names, repeat=repeat, kernel=kernel,
                       batched=not no_batched, progress=_progress(quiet), replay_cases=cases)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_bench(report)


_ROWS: list[tuple[str, str]] = [
    ("raw_compress", "raw compress"),
    ("store", "store 4K"),
    ("zram_write", "zram write"),
    ("raw_decompress", "raw decompress"),
    ("load", "load"),
    ("zram_read", "zram read"),
]
#: row -> [(ratio key, what the ratio compares)]; "time" ratios: lower is better, "pages/s"
#: ratios: higher is better.
_RATIO_OF: dict[str, list[tuple[str, str]]] = {
    "store": [("store_vs_raw_compress", "time / raw compress"),
              ("store_throughput_vs_zram_write", "pages/s / zram write")],
    "load": [("load_vs_raw_decompress", "time / raw decompress"),
             ("load_throughput_vs_zram_read", "pages/s / zram read")],
}
_SHAPE_LABEL: dict[str, str] = {"4k": "store 4K folios", "64k": "store 64K folios",
                                "2m": "store 2M folios", "reclaim": "store_batch 32x4K"}


def _fig(f: dict[str, float]) -> tuple[str, str, str]:
    return (f"{f['us_per_page']:.2f}", f"{f['min']:.2f}-{f['max']:.2f}",
            f"{f['pages_per_s']:,}")


def _ratio(r: dict[str, float]) -> str:
    return f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})"


def _target_text(result: dict[str, Any], key: str) -> str:
    t = result["targets"].get(key)
    if not t or t["met"] is None:
        return ""
    return f"{t['target']} {'met' if t['met'] else 'MISSED'}"


def _print_bench(report: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    src = report["source"]
    what = (f"page set {src['pageset']!r} (seed {src['seed']})" if src["pagefile"] is None
            else src["pagefile"])
    console.print(f"{what}: {src['pages']:,} non-zero pages ({src['zero_pages_skipped']:,} zero "
                  f"pages skipped); median of {report['repeat']} repetitions, min-max beside; "
                  f"{report['machine']['cpus']} CPUs, load {report['machine']['loadavg']}")
    for r in report["results"]:
        table = Table(title=f"{r['compressor']} ({r['incompressible_pages']:,} pages stored "
                            "as-is)", title_justify="left")
        table.add_column("measurement")
        for col in ("µs/page", "min-max", "pages/s", "ratio (min-max)"):
            table.add_column(col, justify="right")
        table.add_column("ratio of")
        table.add_column("target")
        figs, ratios = r["figures"], r["ratios"]
        for key, label in _ROWS:
            if key not in figs:
                continue
            extra = [(k, what) for k, what in _RATIO_OF.get(key, []) if k in ratios]
            cells = [_ratio(ratios[extra[0][0]]), extra[0][1],
                     _target_text(r, extra[0][0])] if extra else ["", "", ""]
            table.add_row(label, *_fig(figs[key]), *cells)
            for k, what in extra[1:]:
                table.add_row("", "", "", "", _ratio(ratios[k]), what, _target_text(r, k))
        for shape, label in _SHAPE_LABEL.items():
            seq, bat = f"store_{shape}_seq", f"store_{shape}_batched"
            if seq not in figs:
                continue
            table.add_row(f"{label}, {r['compressor']}", *_fig(figs[seq]), "", "", "")
            table.add_row(f"{label}, {r['batched_compressor']}", *_fig(figs[bat]),
                          _ratio(ratios[f"store_{shape}_batched_speedup"]),
                          "pages/s / sequential", "")
            if f"zram_write_{shape}" in figs:
                table.add_row("  zram write, same blocks", *_fig(figs[f"zram_write_{shape}"]),
                              "", "", "")
            if f"raw_compress_{shape}" in figs:
                table.add_row("  raw compress, same pages", *_fig(figs[f"raw_compress_{shape}"]),
                              _ratio(ratios[f"store_{shape}_seq_vs_raw_compress"]),
                              "sequential time / raw", "")
        key = "store_batched_throughput_vs_zram_write"
        if key in ratios:
            table.add_row("best batched store", "", "", "", _ratio(ratios[key]),
                          "pages/s / zram write", _target_text(r, key))
        if "kernel_zswap_faultin" in figs:
            table.add_row("kernel zswap fault-in", *_fig(figs["kernel_zswap_faultin"]), "", "",
                          "")
            key = "load_throughput_vs_zswap_faultin"
            table.add_row("load, paired", *_fig(figs["load_faultin_pair"]),
                          _ratio(ratios[key]), "pages/s / kernel fault-in",
                          _target_text(r, key))
        console.print(table)
        for note in r["notes"]:
            console.print(f"  note: {note}")
    _print_targets(report["targets"])


def _print_targets(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="targets (median of the paired repetitions, min-max)",
                  title_justify="left")
    for col in ("ratio", "compressor", "target", "median (min-max)", "in CPU time", "verdict"):
        table.add_column(col)
    for row in rows:
        cpu = "" if row.get("cpu_median") is None else f"{row['cpu_median']:.3f}"
        if row["median"] is None:
            measured, verdict = "", f"not measured: {row['why']}"
        else:
            measured = f"{row['median']:.3f} ({row['min']:.3f}-{row['max']:.3f})"
            verdict = "met" if row["met"] else "MISSED"
        ratio = row["ratio"] if "case" not in row else f"{row['ratio']} ({row['case']})"
        table.add_row(ratio, row["compressor"], row["target"], measured, cpu, verdict)
    _console().print(table)


# ---- scaling -----------------------------------------------------------------------------------


@bench.command()
@_source_options
@click.option("--compressor", "-c", default="lz4", show_default=True, metavar="NAME")
@click.option("--max-pages", type=click.IntRange(1), default=DEFAULT_MAX_PAGES,
              show_default=True, help="largest pool size measured")
@click.option("--min-pages", type=click.IntRange(1), default=1000, show_default=True,
              help="smallest pool size; sizes go up by 10x")
@click.option("--window", type=click.IntRange(1), default=DEFAULT_WINDOW, show_default=True,
              help="pages stored and loaded back at each size")
@click.option("--repeat", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="paired window passes per size (median, min and max are reported)")
@_json_opt
@_quiet_opt
@_one_line_errors
def scaling(pageset: str | None, pagefile: Path | None, pages: int | None, seed: int,
            compressor: str, max_pages: int, min_pages: int, window: int, repeat: int,
            as_json: bool, quiet: bool) -> None:
    """Store and load cost per page as the pool grows (1k -> 1M stored pages).

    At each size, a fixed window of pages is stored and loaded back (median of --repeat
    passes), each pass paired with one on a pool of the smallest size kept alive beside it;
    the median ratio at the largest size is the figure (target: within 1.2x).
    """
    _split_compressors(compressor)
    if min_pages > max_pages:
        raise BenchCliError(f"--min-pages {min_pages} is above --max-pages {max_pages}")
    source = _source(pageset, pagefile, 4096 if pages is None else pages, seed)
    report = run_scaling(source, compressor, max_pages=max_pages, min_pages=min_pages,
                         window=window, repeat=repeat, progress=_progress(quiet))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.table import Table

    console = _console()
    table = Table(title=f"scaling, {compressor}: window of {window:,} pages, median of "
                        f"{repeat} (min-max)", title_justify="left")
    for col in ("stored pages", "store µs/page", "min-max", "vs smallest", "load µs/page",
                "min-max", "vs smallest", "fill µs/page", "pool_total_size"):
        table.add_column(col, justify="right")
    for row in report["rows"]:
        s, ld, vs = row["store"], row["load"], row["vs_smallest"]
        table.add_row(f"{row['stored_pages']:,}", f"{s['us_per_page']:.2f}",
                      f"{s['min']:.2f}-{s['max']:.2f}", f"{vs['store']['median']:.2f}x",
                      f"{ld['us_per_page']:.2f}", f"{ld['min']:.2f}-{ld['max']:.2f}",
                      f"{vs['load']['median']:.2f}x",
                      "" if row["fill_us_per_page"] is None else f"{row['fill_us_per_page']:.2f}",
                      f"{row['pool_total_size']:,}")
    console.print(table)
    for op, ratio in report["ratio_max_vs_min"].items():
        verdict = "met" if report["met"][op] else "MISSED"
        console.print(f"{op}: cost at {report['sizes'][-1]:,} / cost at {report['sizes'][0]:,} "
                      f"= {ratio:.2f}x, paired passes ({report['target']}: {verdict})")


# ---- memory ------------------------------------------------------------------------------------


@bench.command()
@_source_options
@click.option("--compressor", "-c", default="lz4", show_default=True, metavar="NAME")
@click.option("--entries", type=click.IntRange(1), default=DEFAULT_ENTRIES, show_default=True,
              help="entries stored for the measurement")
@_json_opt
@_quiet_opt
@_one_line_errors
def memory(pageset: str | None, pagefile: Path | None, pages: int | None, seed: int,
           compressor: str, entries: int, as_json: bool, quiet: bool) -> None:
    """Python-side bytes per stored entry, beyond the compressed data and zsmalloc's waste.

    Measured with tracemalloc (every allocation of the stores, minus zsmalloc's pages) and
    cross-checked with the RSS; shown beside the kernel's 56-byte entry + 8-byte handle.
    """
    _split_compressors(compressor)
    source = _source(pageset, pagefile, 4096 if pages is None else pages, seed)
    report = run_memory(source, compressor, entries=entries, progress=_progress(quiet))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    t, rss = report["tracemalloc"], report["rss"]
    verdict = "met" if report["met"] else "MISSED"
    click.echo(f"memory per stored entry, {compressor}, {entries:,} entries:")
    click.echo(f"  overhead (tracemalloc):    {t['python_bytes_per_entry']:.1f} bytes "
               f"(target {report['target']}: {verdict})")
    click.echo(f"  overhead (RSS delta):      {rss['python_bytes_per_entry']:.1f} bytes")
    click.echo(f"  kernel: {report['kernel_bytes_per_entry']} bytes (zswap_entry "
               f"{report['kernel']['zswap_entry']} + handle {report['kernel']['zsmalloc_handle']})")
    click.echo(f"  compressed data: {t['compressed_bytes_per_entry']:.1f} bytes, zsmalloc waste: "
               f"{t['zsmalloc_waste_bytes_per_entry']:.1f} bytes")
    click.echo("  top allocation sites (bytes per entry):")
    for site in t["top_sites"]:
        click.echo(f"    {site['bytes_per_entry']:8.1f}  {site['site']:18s} {site['code']}")
