"""Click commands: ``pyzswap kernel zram|zswap|compare`` and ``pyzswap snapshot``.

Thin: they read the page file, call :mod:`pyzswap.tools.kernel` or
:mod:`pyzswap.tools.snapshot`, and print either one JSON object (``--json``) or rich tables. Every
error a user or the host can cause
(:class:`~pyzswap.errors.ZswapError`, including :class:`KernelUnavailable`, and ``OSError``) is
turned into a one-line :class:`click.ClickException` with exit status 2 here, so the commands
behave the same whether they run under the main ``pyzswap`` CLI or on their own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from ..._cliutil import console
from ..pagesets import read_page_file
from ._clierr import KernelCliError
from ._clierr import one_line_errors as _one_line_errors
from ._host import KernelUnavailable
from .compare import TARGETS, compare
from .zram import run_zram
from .zswap import DEFAULT_SWAP_DIR, run_zswap

__all__ = ["kernel", "snapshot"]

F = TypeVar("F", bound=Callable[..., Any])


def _pages(path: Path) -> bytes:
    if not path.exists():
        raise KernelCliError(f"{path}: no such file")
    if path.is_dir():
        raise KernelCliError(f"{path}: is a directory, expected a page file")
    data = read_page_file(path)
    if not data:
        raise KernelCliError(f"{path}: empty page file")
    return data


_json_opt = click.option("--json", "as_json", is_flag=True, help="print one JSON object")
_compressor_opt = click.option(
    "--compressor", "-c", default="lzo", show_default=True, metavar="ALG",
    help="kernel algorithm name (zram: see /sys/block/zram0/comp_algorithm; zswap: /proc/crypto)",
)
_swap_dir_opt = click.option(
    "--swap-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_SWAP_DIR,
    show_default=True, help="directory for the temporary swap file (a disk filesystem)",
)


def _echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False))


def _table(title: str, rows: Sequence[tuple[str, ...]], headers: tuple[str, ...]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right", style="bold" if i == 0
                         else None)
    for row in rows:
        table.add_row(*row)
    console().print(table)


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _pct(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float | int):
        return f"{100 * value:+.3f}%"
    return str(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def kernel() -> None:
    """Validate pyzswap against this machine's kernel (root; restores everything it changes)."""
    from . import _host

    if _host.announce is None:
        _host.announce = lambda message: click.echo(f"pyzswap kernel: {message}", err=True)
    _host.begin_command()


@kernel.command("zram")
@click.argument("pagefile", type=click.Path(path_type=Path))
@_compressor_opt
@click.option("--device", metavar="zramN", default=None,
              help="use this unused device instead of a hot-added one")
@_json_opt
@_one_line_errors
def zram_cmd(pagefile: Path, compressor: str, device: str | None, as_json: bool) -> None:
    """Write PAGEFILE into a fresh zram device and report its mm_stat."""
    data = _pages(pagefile)
    run = run_zram(data, compressor, device=device)
    if as_json:
        _echo_json(run.to_dict())
        return
    rows = [(k, _fmt(v)) for k, v in run.mm_stat.items()]
    rows += [
        ("write (O_DIRECT)", f"{run.write_seconds:.4f} s ({run.to_dict()['write_us_per_page']} "
                             "µs/page)"),
        ("read back (O_DIRECT)", f"{run.read_seconds:.4f} s ({run.to_dict()['read_us_per_page']}"
                                 " µs/page)"),
        ("verified", _fmt(run.verified)),
    ]
    _table(f"kernel zram ({run.device}, {compressor}): {pagefile}, {run.pages:,} pages", rows,
           ("mm_stat", "value"))


@kernel.command("zswap")
@click.argument("pagefile", type=click.Path(path_type=Path))
@_compressor_opt
@_swap_dir_opt
@_json_opt
@_one_line_errors
def zswap_cmd(pagefile: Path, compressor: str, swap_dir: Path, as_json: bool) -> None:
    """Page PAGEFILE out through this kernel's zswap and report its debugfs statistics."""
    data = _pages(pagefile)
    run = run_zswap(data, compressor, swap_dir=swap_dir)
    if as_json:
        _echo_json(run.to_dict())
        return
    d = run.to_dict()
    rows = [("pages", _fmt(run.pages)), ("zero pages (swap core)", _fmt(run.zero_pages))]
    rows += [(k, _fmt(v)) for k, v in run.stats.items()]
    rows += [(f"vmstat {k}", _fmt(v)) for k, v in run.vmstat.items()]
    rows += [
        ("page-out (MADV_PAGEOUT)", f"{run.pageout_seconds:.4f} s ({d['pageout_us_per_page']} "
                                    "µs/page)"),
        ("read back", f"{run.readback_seconds:.4f} s ({d['readback_us_per_page']} µs/page)"),
        ("all non-zero pages in zswap", _fmt(run.complete)),
        ("verified", _fmt(run.verified)),
    ]
    _table(f"kernel zswap ({compressor}): {pagefile}", rows, ("statistic", "value"))
    for note in run.notes:
        click.echo(f"note: {note}")


def _is_trace(path: Path) -> bool:
    """A trace file starts (after blanks) with a comment or a ``proc`` line; a page file is
    raw pages."""
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    return head.lstrip().startswith((b"#", b"proc"))


def _replay_compare_options(func: F) -> F:
    from .replay_cli import replay_options

    return replay_options(func, skip=("compressor", "swap_dir"))


@kernel.command("compare")
@click.argument("pagefile", metavar="PAGEFILE|TRACE", type=click.Path(path_type=Path))
@_compressor_opt
@click.option("--target", type=click.Choice([*TARGETS, "both"]), default=None,
              help="page file: which kernel side [default: both, skipping one that lacks ALG]")
@_swap_dir_opt
@click.option("--per-page", is_flag=True,
              help="page file, zram: also get every page's stored length from the kernel, "
                   "list the pages whose length differs from pyzswap's (all lengths in --json) "
                   "and analyse compressor vs zsmalloc differences (slower writes)")
@_replay_compare_options
@click.option("--runs", type=click.IntRange(1, 100), default=3, show_default=True,
              help="trace: kernel replays (the model runs once)")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="trace: write the stored_pages timeline chart (PNG) here")
@_json_opt
@_one_line_errors
def compare_cmd(pagefile: Path, compressor: str, target: str | None, swap_dir: Path,
                per_page: bool, runs: int, plot_dir: Path | None, as_json: bool,
                **replay: Any) -> None:
    """Run the kernel and pyzswap on the same input and show both with their differences.

    A PAGEFILE (raw pages) is stored through the kernel's zram/zswap and pyzswap's. A TRACE
    (docs/WORKLOADS.md) is replayed on the kernel RUNS times (`pyzswap kernel run`) and once
    by `pyzswap run` with the same options, metric by metric against the fidelity targets
    (docs/KERNEL_ORACLE.md).
    """
    ctx = click.get_current_context()
    given = {name for name in ctx.params
             if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}
    if _is_trace(pagefile):
        wrong = sorted(given & {"target", "per_page"})
        if wrong:
            raise KernelCliError(f"--{wrong[0].replace('_', '-')} applies to page files, "
                                 f"and {pagefile} is a trace")
        from .replay_cli import compare_trace

        compare_trace(pagefile, {**replay, "compressor": compressor, "swap_dir": swap_dir},
                      runs, as_json, plot_dir)
        return
    wrong = sorted(given & {*replay, "runs", "plot_dir"})
    if wrong:
        raise KernelCliError(f"--{wrong[0].replace('_', '-')} applies to traces, and "
                             f"{pagefile} is a page file")
    _compare_pages(pagefile, compressor, target, swap_dir, per_page, as_json)


def _compare_pages(pagefile: Path, compressor: str, target: str | None, swap_dir: Path,
                   per_page: bool, as_json: bool) -> None:
    from ._host import crypto_algorithms, require_root
    from .zram import zram_algorithms

    data = _pages(pagefile)
    skipped: list[str] = []
    if target in (None, "both"):
        targets = list(TARGETS)
        if target is None:
            require_root()
            offered = {"zram": zram_algorithms(), "zswap": sorted(crypto_algorithms())}
            for t in TARGETS:
                if offered[t] and compressor not in offered[t]:
                    targets.remove(t)
                    skipped.append(f"{t} skipped: this kernel's {t} does not offer "
                                   f"{compressor!r}")
            if not targets:
                raise KernelUnavailable(f"neither zram nor zswap offers {compressor!r} here")
    else:
        targets = [target]
    result = compare(data, compressor, tuple(targets), swap_dir=swap_dir, per_page=per_page,
                     progress=None if as_json else _progress_echo())
    result["notes"] = [*skipped, *result["notes"]]  # type: ignore[misc]
    if as_json:
        _echo_json(result)
        return
    _print_compare(result, pagefile)


def _progress_echo() -> Callable[[str], None] | None:
    if not sys.stderr.isatty():
        return None
    return lambda msg: click.echo(f"… {msg}", err=True)


_ZRAM_ROWS = ("orig_data_size", "compr_data_size", "mem_used_total", "same_pages", "huge_pages")
_ZSWAP_ROWS = ("zero_pages", "stored_pages", "stored_incompressible_pages", "pool_total_size",
               "pool_total_size_per_stored_page")


def _print_compare(result: dict[str, Any], pagefile: Path) -> None:
    for t, fields in (("zram", _ZRAM_ROWS), ("zswap", _ZSWAP_ROWS)):
        if t not in result["kernel"]:
            continue
        k, o, d, delta = (result[key][t] for key in ("kernel", "pyzswap", "diff", "delta"))
        rows = [(f, _fmt(k[f]), _fmt(o[f]), _fmt(delta[f]), _pct(d[f])) for f in fields]
        _table(f"{t}: kernel vs pyzswap, {result['compressor']} — {pagefile}, "
               f"{result['pages']:,} pages", rows,
               ("", "kernel", "pyzswap", "difference", "relative"))
    zram_analysis = result.get("analysis", {}).get("zram")
    if zram_analysis:
        _print_per_page(zram_analysis)
    for note in result["notes"]:
        click.echo(f"note: {note}")


#: Differing pages listed under the per-page summary (all of them are in the JSON).
_PER_PAGE_ROWS = 20


def _print_per_page(a: dict[str, Any]) -> None:
    """The per-page comparison: how many pages have the kernel's exact stored length, and the
    first differing pages with both lengths."""
    differing = a["differing_pages"]
    kernel, ours = a["page_lengths"]["kernel"], a["page_lengths"]["pyzswap"]
    if differing:
        rows = [(f"{i:,}", _fmt(kernel[i]), _fmt(ours[i]), f"{ours[i] - kernel[i]:+,}")
                for i in differing[:_PER_PAGE_ROWS]]
        more = len(differing) - len(rows)
        _table(f"zram: {len(differing):,} pages differ"
               + (f" (first {len(rows)} shown)" if more > 0 else ""), rows,
               ("page", "kernel", "pyzswap", "difference"))
    click.echo(f"zram per page: {a['pages_with_identical_size']:,} of {a['stored_pages']:,} "
               f"stored pages have the kernel's exact length "
               f"({100 * a['identical_size_fraction']:.1f}%), {len(differing):,} pages differ, "
               f"mean difference {a['mean_size_difference_bytes']:+.2f} bytes; pyzswap's "
               f"zsmalloc fed the kernel's lengths: mem_used_total "
               f"{a['zsmalloc_replay_mem_used_total']:,} ({_pct(a['zsmalloc_replay_diff'])})")


def _add_replay_commands() -> None:
    from .replay_cli import run_cmd, suite

    kernel.add_command(run_cmd, "run")
    kernel.add_command(suite, "suite")


_add_replay_commands()


@click.command("snapshot")
@click.argument("pid", type=click.IntRange(1, 2**31 - 1), required=False)
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="page file to write (metadata goes to OUTPUT.json); with --all, a directory")
@click.option("--all-pages", is_flag=True,
              help="also take pages the process never touched (they read as zeros)")
@click.option("--all", "every", is_flag=True,
              help="every process of the host (or those --match selects) into the directory "
                   "OUTPUT, with an index.json of command lines, cgroups and RSS (study input)")
@click.option("--match", default=None, metavar="REGEX",
              help="with --all: only processes whose command line or name matches")
@_json_opt
@_one_line_errors
def snapshot(pid: int | None, output: Path, all_pages: bool, every: bool, match: str | None,
             as_json: bool) -> None:
    """Snapshot process PID's anonymous memory into a page file (root or ptrace access).

    With --all, every process (or those --match selects), each into OUTPUT/PID-COMM.pages.
    """
    from ..snapshot import snapshot_process

    if every or match is not None:
        if pid is not None or not every:
            raise KernelCliError("give either PID or --all (with --match to select)")
        _snapshot_all(output, match, all_pages, as_json)
        return
    if pid is None:
        raise KernelCliError("missing PID (or --all)")
    with _snapshot_progress(not as_json) as progress:
        info = snapshot_process(pid, output, all_pages=all_pages, progress=progress)
    if as_json:
        _echo_json({k: v for k, v in info.to_dict().items() if k != "regions"}
                   | {"regions": len(info.regions), "metadata": f"{output}.json"})
        return
    rows = [
        ("process", f"{pid} ({info.comm})"),
        ("anonymous regions", _fmt(len(info.regions))),
        ("pages written", f"{info.total_pages:,} ({info.total_pages * 4096 / (1 << 20):.1f} "
                          "MiB)"),
        ("zero pages", _fmt(info.zero_pages)),
        ("unreadable pages (skipped)", _fmt(info.unreadable_pages)),
        ("untouched pages (skipped)", _fmt(info.unpopulated_pages_skipped)),
        ("page file", str(output)),
        ("metadata", f"{output}.json"),
        ("time", f"{info.seconds:.2f} s"),
    ]
    _table("pyzswap snapshot", rows, ("", "value"))
    for note in info.notes:
        click.echo(f"note: {note}")


def _snapshot_all(output: Path, match: str | None, all_pages: bool, as_json: bool) -> None:
    """``snapshot --all``: the study's collection (:func:`..study.collect.snapshot_all`)."""
    from ..study.collect import INDEX_NAME, snapshot_all

    if output.exists() and not output.is_dir():
        raise KernelCliError(f"{output}: exists and is not a directory (--all writes a "
                             "directory)")

    def progress(done: int, total: int, info: dict[str, Any]) -> None:
        if not as_json:
            click.echo(f"snapshot {done + 1}/{total}: {info['pid']} {info['comm']}", err=True)

    index = snapshot_all(output, match=match, all_pages=all_pages, progress=progress)
    if as_json:
        _echo_json(index)
        return
    rows = [(str(p["pid"]), p["comm"], f"{(p['rss_bytes'] or 0) / (1 << 20):,.1f}",
             f"{p['pages']:,}", p["cgroup"] or "-") for p in index["processes"]]
    _table(f"pyzswap snapshot --all ({output}/{INDEX_NAME})", rows,
           ("pid", "command", "RSS MiB", "pages", "memory cgroup"))
    if index["skipped"]:
        click.echo(f"skipped {len(index['skipped'])} process(es): " + "; ".join(
            f"{s['pid']} {s['comm']} ({s['reason']})" for s in index["skipped"][:5])
            + (" …" if len(index["skipped"]) > 5 else ""))


@contextmanager
def _snapshot_progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr for a big process (only when stderr is a terminal)."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    with Progress(TextColumn("snapshot"), BarColumn(), TaskProgressColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("snapshot", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
