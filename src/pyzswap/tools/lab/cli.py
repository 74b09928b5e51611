"""``pyzswap lab EXPERIMENT`` — run design-lab experiments, print tables, write charts."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..._cliutil import finite_float
from ...errors import ZswapError
from .experiments import EXPERIMENTS, LabResult
from .result import set_progress

__all__ = ["lab"]


@click.command()
@click.argument("experiment", type=click.Choice([*EXPERIMENTS, "all"]))
@click.option("--size", type=finite_float(0.01, 10.0), default=1.0, show_default=True,
              help="scale the experiment (1 = the documented default)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--markdown", is_flag=True,
              help="print the tables as Markdown (how docs/LAB.md's tables are made)")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="write a PNG chart per experiment into this directory")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="say on stderr what is running (default: when stderr is a terminal)")
def lab(experiment: str, size: float, as_json: bool, markdown: bool,
        plot_dir: Path | None, show_progress: bool | None) -> None:
    """Answer a design question with a measurement (see docs/LAB.md).

    EXPERIMENT is one of: percpu-memory, hotplug-race, switch-under-pressure, batching,
    ctx-designs, or all.
    """
    names = list(EXPERIMENTS) if experiment == "all" else [experiment]
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    start = time.monotonic()
    if show_progress:
        set_progress(lambda message: click.echo(
            f"[{time.monotonic() - start:5.1f}s] {message}", err=True))
    try:
        results = []
        for k, name in enumerate(names, 1):
            if show_progress:
                click.echo(f"[{time.monotonic() - start:5.1f}s] lab {name} ({k}/{len(names)})",
                           err=True)
            results.append(EXPERIMENTS[name](size))
    finally:
        set_progress(None)
    plots = [str(p) for r in results for p in _plot(r, plot_dir)] if plot_dir else []
    if as_json:
        payload: dict[str, Any] = {"experiments": [r.to_dict() for r in results]}
        if plots:
            payload["plots"] = plots
        click.echo(json.dumps(payload, indent=2))
        return
    if markdown:
        for r in results:
            click.echo(_markdown(r, size))
        if plots:
            click.echo(f"charts: {', '.join(plots)}")
        return
    from rich.table import Table

    from ..._cliutil import console as rich_console

    console = rich_console()
    for r in results:
        for title, columns, rows in [(f"{r.name}: {r.question}", r.columns, r.rows),
                                     *((t.title, t.columns, t.rows) for t in r.tables)]:
            table = Table(title=title, title_justify="left")
            for col in columns:
                table.add_column(col, justify="right")
            for row in rows:
                table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
            console.print(table)
        for note in r.notes:
            console.print(f"- {note}")
        console.print(f"reproduce: pyzswap lab {r.name} --size {size}\n")
    if plots:
        click.echo(f"charts: {', '.join(plots)}")


def _cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _markdown(result: LabResult, size: float) -> str:
    """Every table of a result as Markdown, with the command that reproduces it."""
    size_arg = "" if size == 1.0 else f" --size {size}"
    out = [f"`pyzswap lab {result.name}{size_arg}`", ""]
    for title, columns, rows in [(result.question, result.columns, result.rows),
                                 *((t.title, t.columns, t.rows) for t in result.tables)]:
        out += [f"{title}", "", "| " + " | ".join(columns) + " |",
                "|" + "---|" * len(columns)]
        out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
        out.append("")
    out += [f"- {note}" for note in result.notes]
    return "\n".join(out) + "\n"


def _plot(result: LabResult, directory: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        raise ZswapError("--plot needs matplotlib (pip install matplotlib)") from None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.name}.png"
    if result.name == "batching":
        return _plot_batching(plt, result, path)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    cols = result.columns
    if result.name == "percpu-memory":
        recs = [dict(zip(cols, row, strict=True)) for row in result.rows]
        scenarios = list(dict.fromkeys(rec["scenario"] for rec in recs))
        designs = list(dict.fromkeys(rec["lifetime"] for rec in recs))
        width = 0.8 / max(1, len(designs))
        for j, design in enumerate(designs):
            by_scenario = {rec["scenario"]: rec["pyzswap bytes"] for rec in recs
                           if rec["lifetime"] == design}
            ax.bar([i + j * width for i in range(len(scenarios))],
                   [by_scenario.get(sc, 0) / 1024 for sc in scenarios], width, label=design)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(scenarios))], scenarios,
                      fontsize=8)
        ax.set_ylabel("pyzswap bytes per CPU (KiB)")
        ax.legend(fontsize=7)
    elif result.name == "ctx-designs":
        names = [str(row[0]) for row in result.rows]
        costs = [float(row[cols.index("lock ns per call")]) for row in result.rows]
        ax.bar(range(len(costs)), costs)
        ax.set_xticks(range(len(costs)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("lock ns per call")
    else:
        key = "stores/s under storm" if result.name == "hotplug-race" else "switch ms"
        labels = [str(row[0]) for row in result.rows]
        values = [row[cols.index(key)] for row in result.rows]
        ax.bar(range(len(values)), values)
        ax.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(key)
    ax.set_title(result.name)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [path]


def _plot_batching(plt: Any, result: LabResult, path: Path) -> list[Path]:
    """Speedup over sequential per variant, one panel per compressor, bars by workload."""
    cols = result.columns
    recs = [dict(zip(cols, row, strict=True)) for row in result.rows]
    compressors = list(dict.fromkeys(rec["compressor"] for rec in recs))
    workloads = list(dict.fromkeys(rec["workload"] for rec in recs))
    variants = [v for v in dict.fromkeys(rec["variant"] for rec in recs) if v != "sequential"]
    fig, axes = plt.subplots(1, len(compressors), figsize=(5 * len(compressors), 4.5), dpi=100,
                             squeeze=False)
    width = 0.8 / max(1, len(variants))
    for ax, comp in zip(axes[0], compressors, strict=True):
        speed = {(rec["workload"], rec["variant"]): rec["speedup"] for rec in recs
                 if rec["compressor"] == comp}
        for j, variant in enumerate(variants):
            ax.bar([i + j * width for i in range(len(workloads))],
                   [speed.get((w, variant), 0.0) for w in workloads], width, label=variant)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(workloads))], workloads,
                      fontsize=8)
        ax.set_ylabel("store speedup vs sequential")
        ax.set_title(f"batching: {comp}")
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [path]
