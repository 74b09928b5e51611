"""``pyzswap lab EXPERIMENT`` — run design-lab experiments, print tables, write charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import ZswapError
from .experiments import EXPERIMENTS, LabResult

__all__ = ["lab"]


@click.command()
@click.argument("experiment", type=click.Choice([*EXPERIMENTS, "all"]))
@click.option("--size", type=click.FloatRange(0.01, 10.0), default=1.0, show_default=True,
              help="scale the experiment (1 = the documented default)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="write a PNG chart per experiment into this directory")
def lab(experiment: str, size: float, as_json: bool, plot_dir: Path | None) -> None:
    """Answer a design question with a measurement (see docs/LAB.md).

    EXPERIMENT is one of: percpu-memory, hotplug-race, switch-under-pressure, or all.
    """
    names = list(EXPERIMENTS) if experiment == "all" else [experiment]
    results = [EXPERIMENTS[name](size) for name in names]
    plots = [str(p) for r in results for p in _plot(r, plot_dir)] if plot_dir else []
    if as_json:
        payload: dict[str, Any] = {"experiments": [r.to_dict() for r in results]}
        if plots:
            payload["plots"] = plots
        click.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for r in results:
        table = Table(title=f"{r.name}: {r.question}", title_justify="left")
        for col in r.columns:
            table.add_column(col, justify="right")
        for row in r.rows:
            table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
        console.print(table)
        for note in r.notes:
            console.print(f"- {note}")
        console.print(f"reproduce: pyzswap lab {r.name} --size {size}\n")
    if plots:
        click.echo(f"charts: {', '.join(plots)}")


def _plot(result: LabResult, directory: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        raise ZswapError("--plot needs matplotlib (pip install matplotlib)") from None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.name}.png"
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    cols = result.columns
    if result.name == "percpu-memory":
        series: dict[str, tuple[list[int], list[int]]] = {}
        for row in result.rows:
            rec = dict(zip(cols, row, strict=True))
            offline = rec["cpus"] - rec["online"]
            state = "half offline" if offline else "all online"
            label = f"{rec['compressor']}, {rec['lifetime']}, {state}"
            xs, ys = series.setdefault(label, ([], []))
            xs.append(rec["cpus"])
            ys.append(rec["kernel bytes"])
        for label, (xs, ys) in series.items():
            ax.plot(xs, [y / 1024 for y in ys], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("possible CPUs")
        ax.set_ylabel("kernel-equivalent context memory (KiB)")
        ax.legend(fontsize=7)
    else:
        key = "stores/s under storm" if result.name == "hotplug-race" else "switch ms"
        labels = [" ".join(str(v) for v in row[:2]) for row in result.rows]
        values = [row[cols.index(key)] for row in result.rows]
        ax.bar(range(len(values)), values)
        ax.set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(key)
    ax.set_title(result.name)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [path]
