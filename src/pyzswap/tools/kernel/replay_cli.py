"""Click commands of the kernel replayer: ``pyzswap kernel run``, the trace form of ``pyzswap
kernel compare``, and ``pyzswap kernel suite``.

``kernel run`` takes the options of ``pyzswap run`` that describe the machine and zswap
(:func:`replay_options`), so the same command line works on both sides.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from ...errors import InvalidParameter
from ...run.trace import parse_trace
from ...units import parse_size
from ._clierr import one_line_errors
from ._host import KernelRunError, mem_info
from .fidelity import compare_results, memcg_counts, plot_timelines, run_model
from .replay import MAX_ADD_MEMCGS, METRIC_KEYS, PreparedReplay, ReplayOptions
from .suite import SUITE, suite_case
from .zswap import DEFAULT_SWAP_DIR

__all__ = ["compare_trace", "options_from", "replay_options", "run_cmd", "suite"]

F = TypeVar("F", bound=Callable[..., Any])

#: The options of ``pyzswap kernel run`` (and of ``kernel compare`` on a trace), with the
#: defaults of ``pyzswap run`` and of the kernel.
_REPLAY_OPTIONS: list[Callable[[F], F]] = [
    click.option("--ram", default=None, metavar="SIZE",
                 help="this machine's RAM (MemTotal): checked, the kernel side runs on it"),
    click.option("--cgroup-version", type=click.Choice(["1", "2"]), default=None,
                 help="the host's memory cgroup version (checked)"),
    click.option("--memcg-max", multiple=True, metavar="GROUP=SIZE",
                 help="limit of a trace group, e.g. G=64M (repeatable)"),
    click.option("--zswap-max", multiple=True, metavar="GROUP=SIZE",
                 help="memory.zswap.max of a group (cgroup v2 only; repeatable)"),
    click.option("--no-writeback", multiple=True, metavar="GROUP",
                 help="memory.zswap.writeback=0 for a group (cgroup v2 only; repeatable)"),
    click.option("--compressor", "-c", default="lzo", show_default=True, metavar="ALG",
                 help="zswap's compressor (a kernel crypto algorithm name)"),
    click.option("--max-pool-percent", type=click.IntRange(0, 100), default=20,
                 show_default=True),
    click.option("--accept-threshold-percent", type=click.IntRange(0, 100), default=90,
                 show_default=True),
    click.option("--shrinker/--no-shrinker", "shrinker", default=False, show_default=True,
                 help="zswap's shrinker_enabled"),
    click.option("--swappiness", type=click.IntRange(0, 200), default=60, show_default=True,
                 help="vm.swappiness and (cgroup v1) each group's memory.swappiness"),
    click.option("--page-cluster", type=click.IntRange(0, 31), default=3, show_default=True,
                 help="vm.page-cluster (swap readahead: 2^N pages)"),
    click.option("--seed", type=click.IntRange(0, None), default=0, show_default=True,
                 help="the run's seed (page contents and the write rule)"),
    click.option("--samples", type=click.IntRange(1, 100_000), default=100,
                 show_default=True, help="timeline points over the trace's accesses"),
    click.option("--cpu", type=click.IntRange(0, None), default=None,
                 help="CPU the replay runs on [default: the lowest allowed]"),
    click.option("--swap-dir", type=click.Path(file_okay=False, path_type=Path),
                 default=DEFAULT_SWAP_DIR, show_default=True,
                 help="directory for the temporary swap file (a disk filesystem)"),
    click.option("--add-memcgs", type=click.IntRange(0, MAX_ADD_MEMCGS), default=0,
                 show_default=True,
                 help="empty memory cgroups to make for the run beside the trace's (removed "
                      "after): a host with more groups for zswap's shrink worker to walk"),
]
_OPTION_NAMES = ("ram", "cgroup_version", "memcg_max", "zswap_max", "no_writeback",
                 "compressor", "max_pool_percent", "accept_threshold_percent", "shrinker",
                 "swappiness", "page_cluster", "seed", "samples", "cpu", "swap_dir",
                 "add_memcgs")


def replay_options(func: F, skip: Sequence[str] = ()) -> F:
    """Add the replay options to a command (except those named in ``skip``, which the command
    already has under the same name)."""
    for name, option in reversed(list(zip(_OPTION_NAMES, _REPLAY_OPTIONS, strict=True))):
        if name not in skip:
            func = option(func)
    return func


def _sizes(items: Sequence[str], option: str) -> dict[str, int | None]:
    """``GROUP=SIZE`` items (SIZE with a K/M/G suffix, or ``max``) by group."""
    sizes: dict[str, int | None] = {}
    for item in items:
        group, sep, size = item.partition("=")
        if not sep or not group or not size:
            raise InvalidParameter(f"{option} {item!r}: expected GROUP=SIZE, e.g. G=64M")
        sizes[group.strip("/") or "/"] = None if size == "max" else parse_size(size, option)
    return sizes


def options_from(kw: Mapping[str, Any]) -> ReplayOptions:
    """:class:`ReplayOptions` from the parsed click options (pops nothing)."""
    return ReplayOptions(
        compressor=kw["compressor"], max_pool_percent=kw["max_pool_percent"],
        accept_threshold_percent=kw["accept_threshold_percent"],
        shrinker_enabled=kw["shrinker"], memcg_max=_sizes(kw["memcg_max"], "--memcg-max"),
        zswap_max=_sizes(kw["zswap_max"], "--zswap-max"),
        no_writeback=tuple(kw["no_writeback"]), swappiness=kw["swappiness"],
        page_cluster=kw["page_cluster"], seed=kw["seed"], samples=kw["samples"],
        cpu=kw["cpu"], swap_dir=kw["swap_dir"], add_memcgs=kw["add_memcgs"],
        ram=None if kw["ram"] is None else parse_size(kw["ram"], "--ram"),
        cgroup_version=None if kw["cgroup_version"] is None else int(kw["cgroup_version"]))


def options_from_args(trace: Path, args: Sequence[str]) -> ReplayOptions:
    """:class:`ReplayOptions` from ``pyzswap kernel run TRACE ARGS`` (a suite case's ``args``),
    parsed by that command itself."""
    ctx = run_cmd.make_context("run", [str(trace), *args])
    return options_from(ctx.params)


def _progress() -> Callable[[str], None] | None:
    if not sys.stderr.isatty():
        return None
    return lambda msg: click.echo(f"… {msg}", err=True)


def _fmt(value: object) -> str:
    """The kernel commands' number format, with one decimal, and MISS for a missed target."""
    from .cli import _fmt as fmt

    if value is None:
        return "n/a"
    if value is False:
        return "MISS"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return fmt(value)


def _print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from .cli import _table  # the kernel commands' table (cli imports this module)

    _table(title, [tuple(r) for r in rows], tuple(headers))


@click.command("run")
@click.argument("trace", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@replay_options
@click.option("--runs", type=click.IntRange(1, 100), default=1, show_default=True,
              help="replay this many times (JSON: a list when more than one)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="write a timeline chart (PNG) into this directory")
@click.option("--dry-run", is_flag=True,
              help="only run the trace's processes and check their pages: no cgroup, no "
                   "zswap, no root, no change to the host")
@one_line_errors
def run_cmd(trace: Path, runs: int, as_json: bool, plot_dir: Path | None, dry_run: bool,
            **kw: Any) -> None:
    """Replay TRACE for real on this host's kernel (root; restores everything it changes).

    The trace's processes run as real processes in fresh memory cgroups with the given limits,
    swapping through zswap into a temporary swap file; the kernel's counters are sampled along
    the run and every page is checked at the end (docs/KERNEL_ORACLE.md).
    """
    opts = options_from(kw)
    if dry_run:
        from .replay import dry_run as replay_dry

        opts.check()
        result = {k: v for k, v in replay_dry(parse_trace(trace), seed=opts.seed,
                                              samples=opts.samples).items() if k != "dump"}
        if as_json:
            click.echo(json.dumps(result, indent=2))
        else:
            click.echo(f"dry run of {trace}: {result['checked_pages']:,} pages checked, "
                       f"{result['mismatched_pages']:,} wrong, {result['exits']} exits, "
                       f"{result['wall_seconds']:.2f} s")
        if not result["verified"]:
            raise KernelRunError(f"{result['mismatched_pages']} pages did not hold their "
                                 "expected contents")
        return
    with PreparedReplay(trace, opts) as prepared:
        results = [prepared.run(_progress()) for _ in range(runs)]
    if plot_dir is not None:
        path = plot_timelines(trace.stem, results, [], plot_dir)
        for r in results:
            r["plot"] = str(path)
    if as_json:
        click.echo(json.dumps(results[0] if runs == 1 else results, indent=2))
    else:
        _print_runs(trace, results)
    bad = sum(r["mismatched_pages"] for r in results)
    if bad or not all(r["verified"] for r in results):
        raise KernelRunError(f"{bad} pages did not hold their expected contents at the end")


def _print_runs(trace: Path, results: Sequence[Mapping[str, Any]]) -> None:
    runs = len(results)
    rows = [[key, *(_fmt(r[key]) for r in results)] for key in METRIC_KEYS]
    rows.append(["wall_seconds", *(f"{r['wall_seconds']:.2f}" for r in results)])
    rows.append(["cpu_seconds", *(f"{r['cpu_seconds']:.2f}" for r in results)])
    rows.append(["verified", *(_fmt(r["verified"]) for r in results)])
    _print_table(f"kernel replay of {trace} ({results[0]['kernel']}, cgroup "
                 f"v{results[0]['cgroup_version']})", ["metric", *(f"run {i + 1}" for i in
                                                           range(runs))], rows)
    for note in results[0]["notes"]:
        click.echo(f"note: {note}")


def compare_trace(trace: Path, kw: Mapping[str, Any], runs: int, as_json: bool,
                  plot_dir: Path | None) -> dict[str, Any]:
    """``pyzswap kernel compare TRACE``: ``runs`` kernel replays and one ``pyzswap run``."""
    opts = options_from(kw)
    with PreparedReplay(trace, opts) as prepared:
        kernel_runs = [prepared.run(_progress()) for _ in range(runs)]
        ram = prepared.memtotal
    model = run_model(trace, opts, ram, memcg_counts(kernel_runs))
    result = _comparison(trace.stem, kernel_runs, model, plot_dir)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_comparison(result)
    return result


def _comparison(name: str, kernel_runs: Sequence[Mapping[str, Any]],
                model: Mapping[str, Any], plot_dir: Path | None) -> dict[str, Any]:
    comparison = compare_results(kernel_runs, model)
    result: dict[str, Any] = {"name": name, "kernel_runs": len(kernel_runs),
                              "kernel": kernel_runs[0].get("kernel") if kernel_runs else None,
                              "pyzswap_command": model.get("command"), **comparison}
    if plot_dir is not None:
        result["plot"] = str(plot_timelines(name, kernel_runs, comparison["pyzswap_timeline"],
                                            plot_dir))
    return result


def print_comparison(result: Mapping[str, Any]) -> None:
    rows = []
    for r in result["metrics"]:
        rel = r["relative_difference"]
        rows.append([r["metric"], _fmt(r["kernel_mean"]),
                     f"{_fmt(r['kernel_min'])}–{_fmt(r['kernel_max'])}",
                     "n/a" if r["kernel_spread"] is None else f"{100 * r['kernel_spread']:.2f}%",
                     _fmt(r["pyzswap"]), "n/a" if rel is None else f"{100 * rel:+.1f}%",
                     _fmt(r["meets_target"]) if r["target"] else ""])
    _print_table(f"{result['name']}: kernel ({result['kernel_runs']} runs) vs pyzswap run",
                 ["metric", "kernel mean", "kernel min–max", "spread", "pyzswap", "difference",
                  "target"], rows)
    mare = result["timeline_stored_pages_mare"]
    wall = result["wall_seconds"]
    click.echo(f"timeline of stored_pages: mean absolute error relative to the kernel's mean "
               f"{'n/a' if mare is None else f'{100 * mare:.1f}%'} "
               f"(target 10%: {_fmt(result['timeline_meets_target'])})")
    click.echo(f"wall time: kernel {_fmt(wall['kernel_mean'])} s (CPU "
               f"{_fmt(wall['kernel_cpu_mean'])} s), pyzswap {_fmt(wall['pyzswap'])} s (ratio "
               f"{_fmt(wall['ratio'])}; the pyzswap command took "
               f"{_fmt(wall['pyzswap_command'])} s)")
    click.echo(f"targets met: {result['targets_met']} of {result['targets']}")
    for note in result["model_notes"]:
        click.echo(f"note: {note}")
    if result.get("plot"):
        click.echo(f"chart: {result['plot']}")


# ---- the suite ---------------------------------------------------------------------------------

#: Where the recorded kernel figures live (tests/fixtures/fidelity in the repository).
FIXTURES = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "fidelity"


@click.group("suite")
def suite() -> None:
    """The fidelity suite: workloads recorded on the kernel, checked against pyzswap run."""


@suite.command("list")
def suite_list() -> None:
    """The suite's cases and their options."""
    for case in SUITE.values():
        click.echo(f"{case.name}: {case.description}\n    options: {' '.join(case.args)}")


@suite.command("trace")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@one_line_errors
def suite_trace(name: str, output: Path) -> None:
    """Write case NAME's trace to OUTPUT."""
    output.write_text(suite_case(name).text())


def _names(names: Sequence[str]) -> list[str]:
    for name in names:
        suite_case(name)
    return list(names) or list(SUITE)


@suite.command("record")
@click.argument("names", nargs=-1)
@click.option("--runs", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=FIXTURES,
              show_default=True, help="directory of the fixtures")
@one_line_errors
def suite_record(names: Sequence[str], runs: int, out: Path) -> None:
    """Replay cases on this host's kernel RUNS times each and write their fixtures (root)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in _names(names):
        case = suite_case(name)
        with tempfile.TemporaryDirectory(prefix="pyzswap-suite-") as tmp:
            trace = case.write(Path(tmp))
            opts = options_from_args(trace, case.args)
            with PreparedReplay(trace, opts) as prepared:
                results = [prepared.run(_progress()) for _ in range(runs)]
        fixture = _fixture(case.name, results, runs)
        path = out / f"{case.name}.json"
        path.write_text(json.dumps(fixture, indent=1) + "\n")
        click.echo(f"{case.name}: {runs} runs, wall {fixture['summary']['wall_seconds']} -> "
                   f"{path}")


def _fixture(name: str, results: Sequence[Mapping[str, Any]], runs: int) -> dict[str, Any]:
    from .fidelity import kernel_summary

    case = suite_case(name)
    keep = (*METRIC_KEYS, "wall_seconds", "cpu_seconds", "total_seconds", "verified",
            "host_memcgs", "dying_memcgs", "exit_check_adjustment", "host_vmstat", "date",
            "timeline")
    return {
        "case": case.name,
        "description": case.description,
        "trace_generator": f"pyzswap.tools.kernel.suite.SUITE[{case.name!r}] (seed {case.seed})",
        "trace_sha256": case.sha256(),
        "options": list(case.args),
        "command": f"pyzswap kernel suite record {case.name} --runs {runs}  # = pyzswap "
                   f"kernel run {case.name}.trace {' '.join(case.args)} --json, {runs} times",
        "kernel": platform.release(),
        "machine": {"ram_bytes": mem_info().get("MemTotal"), "cpus": _cpus()},
        "date": results[0]["date"],
        "accesses": results[0]["accesses"],
        "total_pages": results[0]["total_pages"],
        "settings": results[0]["settings"],
        "summary": kernel_summary(results),
        "runs": [{k: r[k] for k in keep} for r in results],
        "notes": list(results[0]["notes"]),
    }


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def load_fixture(name: str, directory: Path = FIXTURES) -> dict[str, Any]:
    path = directory / f"{name}.json"
    if not path.exists():
        raise InvalidParameter(f"no kernel recording for {name!r} ({path}); record it with "
                               f"`pyzswap kernel suite record {name}`")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@suite.command("check")
@click.argument("names", nargs=-1)
@click.option("--fixtures", type=click.Path(file_okay=False, path_type=Path), default=FIXTURES,
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="write timeline charts (PNG) into this directory")
@one_line_errors
def suite_check(names: Sequence[str], fixtures: Path, as_json: bool,
                plot_dir: Path | None) -> None:
    """Run pyzswap on cases and compare with the kernel's recorded figures (no host change)."""
    results = []
    for name in _names(names):
        case = suite_case(name)
        fixture = load_fixture(name, fixtures)
        if fixture.get("trace_sha256") != case.sha256():
            raise InvalidParameter(f"{name}: the trace generator no longer makes the recorded "
                                   "trace (SHA-256 differs); record it again")
        with tempfile.TemporaryDirectory(prefix="pyzswap-suite-") as tmp:
            trace = case.write(Path(tmp))
            opts = options_from_args(trace, case.args)
            model = run_model(trace, opts, int(fixture["machine"]["ram_bytes"]),
                              memcg_counts(fixture["runs"]))
        result = _comparison(name, fixture["runs"], model, plot_dir)
        results.append(result)
        if not as_json:
            print_comparison(result)
    if as_json:
        click.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2))
