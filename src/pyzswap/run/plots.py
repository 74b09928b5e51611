"""Charts of a harness run (``pyzswap run --plot DIR``): pool size, compression ratios, latency.

Numbers in a JSON report answer "how much"; the charts answer "when" and "how spread": whether
the pool grows steadily or in bursts as reclaim kicks in, whether the ratios are one bell or
two (text versus random pages), whether the latency tail is a few slow pages or a second mode.

:func:`write_plots` takes the JSON-able report of one run, or ``{"runs": [report, ...]}`` for a
comparison (one line per run, labelled with its ``label``, else its ``compressor``), and writes
up to three PNGs:

``pool_size.png``
    Over the accesses processed (``series.ops``): the zswap pool (``pool_total_size``, what
    zsmalloc really holds) and the compressed data in it (``compressed_bytes``), and below it,
    resident memory (``resident_pages``), the pages in zswap at their uncompressed size
    (``stored_pages``) and the pages written back to the swap device (``written_back_pages``),
    all in MiB.
``ratio_histogram.png``
    The compression ratio (4096 / compressed length) of the stored pages:
    ``ratio_histogram = {"edges": [...], "counts": [...]}``, ``len(edges) == len(counts) + 1``,
    edges increasing. One equal slot per bin, labelled with the edges, cropped to the occupied
    bins; the legend gives the pages and the bin holding the median page.
``latency_cdf.png``
    The CDF of the store and load latencies (``latency_us = {"store": [...], "load": [...]}``,
    in microseconds) on a log axis, with p50 and p99 marked and given in the legend. Samples
    that are not positive (a log axis has no 0) are left out.

A field that is missing or empty is skipped: a series it would draw is left out, and a chart
with nothing to draw is not written (so a report without ``latency_us`` gives no latency
chart). A field that is present but malformed (an edge count that does not match the counts, a
series of another length than ``series.ops``, values that are not numbers) raises
:class:`~pyzswap.errors.CorruptData` naming it: that is a bug in whatever produced the report.

matplotlib is imported inside :func:`write_plots`: importing this module does not import it,
and the harness runs without matplotlib unless charts are asked for. Figures are drawn on the Agg
canvas directly, without ``pyplot``: no display, no global figure state, no backend switch in
a program that uses pyplot itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from ..errors import CorruptData, ZswapError
from ..folio import PAGE_SIZE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PLOT_FILES", "write_plots"]

#: The files :func:`write_plots` may write, in the order it writes them.
PLOT_FILES: Final = ("pool_size.png", "ratio_histogram.png", "latency_cdf.png")

_MIB: Final = float(1 << 20)
_DPI: Final = 100
#: Lines longer than this are thinned before drawing: a chart 900 px wide shows no more.
_MAX_POINTS: Final = 4000
_INSTALL_HINT: Final = ("--plot needs matplotlib, which is not installed: "
                        "pip install matplotlib (or: .venv/bin/pip install matplotlib)")

FloatArray = npt.NDArray[np.float64]


def write_plots(report: Mapping[str, Any], directory: str | Path) -> list[Path]:
    """Write the charts of ``report`` into ``directory`` (created if needed).

    ``report`` is one run's report or ``{"runs": [report, ...]}`` (module docstring). Returns
    the paths written, in :data:`PLOT_FILES` order; charts with no data are not written.
    Raises :class:`ZswapError` if matplotlib is missing, :class:`CorruptData` for a malformed
    field.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ZswapError(_INSTALL_HINT) from None

    runs = _runs(report)
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for filename, draw in (("pool_size.png", _draw_pool_size),
                           ("ratio_histogram.png", _draw_ratio_histogram),
                           ("latency_cdf.png", _draw_latency_cdf)):
        fig = draw(Figure, runs)
        if fig is None:
            continue
        FigureCanvasAgg(fig)  # attaches itself to the figure
        target = out_dir / filename
        fig.savefig(target, dpi=_DPI, format="png")
        written.append(target)
    return written


# ------------------------------------------------------------------------- the input --------
class _Run:
    """One run's report, with the helpers that pull validated arrays out of it."""

    def __init__(self, report: Mapping[str, Any], index: int, compare: bool) -> None:
        self.report = report
        self.where = f"runs[{index}]." if compare else ""
        label = report.get("label") or report.get("compressor")
        self.label = str(label) if label else f"run {index + 1}"

    def section(self, key: str) -> Mapping[str, Any] | None:
        value = self.report.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise CorruptData(f"report {self.where}{key} is not an object")
        return value

    def numbers(self, section: Mapping[str, Any], key: str, parent: str) -> FloatArray | None:
        """``section[key]`` as a float array; None when missing or empty."""
        value = section.get(key)
        if value is None:
            return None
        name = f"{self.where}{parent}.{key}"
        if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
            raise CorruptData(f"report {name} is not a list of numbers")
        if len(value) == 0:
            return None
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise CorruptData(f"report {name} is not a list of numbers") from None
        if array.ndim != 1:
            raise CorruptData(f"report {name} is not a flat list of numbers")
        return array


def _runs(report: Mapping[str, Any]) -> list[_Run]:
    if not isinstance(report, Mapping):
        raise CorruptData("report is not an object")
    if "runs" not in report:
        return [_Run(report, 0, compare=False)]
    runs = report["runs"]
    if isinstance(runs, str | bytes) or not isinstance(runs, Sequence):
        raise CorruptData("report runs is not a list of run reports")
    for i, run in enumerate(runs):
        if not isinstance(run, Mapping):
            raise CorruptData(f"report runs[{i}] is not an object")
    return [_Run(run, i, compare=True) for i, run in enumerate(runs)]


def _title(runs: Sequence[_Run], what: str) -> str:
    workloads = list(dict.fromkeys(str(r.report["workload"]) for r in runs
                                   if r.report.get("workload")))
    workload = ", ".join(workloads) if workloads else "pyzswap run"
    if len(runs) == 1:
        compressor = runs[0].report.get("compressor")
        return f"{what}: {workload}" + (f" ({compressor})" if compressor else "")
    # The runs are named in the legend; a title listing them would be cut off.
    return f"{what}: {workload}, {len(runs)} runs"


def _thin(x: FloatArray, *ys: FloatArray) -> tuple[FloatArray, ...]:
    """Every k-th point (and the last), so a million-sample line draws as fast as a short one."""
    if len(x) <= _MAX_POINTS:
        return (x, *ys)
    step = math.ceil(len(x) / _MAX_POINTS)
    idx = np.unique(np.append(np.arange(0, len(x), step), len(x) - 1))
    return (x[idx], *(y[idx] for y in ys))


def _colors(n: int) -> list[Any]:
    """One distinct colour per run: the default cycle up to 10 runs, tab20 up to 20, then
    evenly spaced viridis colours (never a colour shared by two runs)."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    from matplotlib import colormaps

    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]


def _legend_outside(fig: Figure, labels: Sequence[str], colors: Sequence[Any],
                    styles: Sequence[tuple[str, str]] = ()) -> None:
    """A comparison's legend right of the plots, where it covers no data and is not clipped:
    one entry per run (its colour), then what each line style means."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, linewidth=2.4, label=_short(label))
               for label, c in zip(labels, colors, strict=True)]
    handles += [Line2D([], [], color="0.3", linewidth=1.6, label=name) for name, _ in styles]
    for handle, (_, style) in zip(handles[len(labels):], styles, strict=True):
        handle.set_linestyle(style)  # type: ignore[arg-type]
    ncols = 1 if len(handles) <= 18 else 2
    fig.legend(handles=handles, loc="outside right upper", fontsize="small", frameon=False,
               ncols=ncols)


def _short(label: str, width: int = 34) -> str:
    return label if len(label) <= width else label[:width - 1] + "…"


def _width(run_index: int) -> float:
    """Earlier runs draw wider, so a later run's identical line leaves them visible."""
    return 2.4 - 0.5 * min(run_index, 2)


def _plain_ticks(ax: Axes, minor: bool = False) -> None:
    """Log-axis labels as 1, 10, 100 rather than 10^0, 10^1, 10^2 (minor ones too or none)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    if not minor:
        ax.xaxis.set_minor_formatter(NullFormatter())


# ------------------------------------------------------------------------ pool size ---------
#: (series key, bytes per unit, legend name, line style); top panel, then bottom panel.
_POOL_SERIES: Final = (
    ("pool_total_size", 1, "zswap pool (zsmalloc)", "-"),
    ("compressed_bytes", 1, "compressed data", "--"),
)
_MEMORY_SERIES: Final = (
    ("resident_pages", PAGE_SIZE, "resident memory", "-"),
    ("stored_pages", PAGE_SIZE, "in zswap (uncompressed size)", "--"),
    ("written_back_pages", PAGE_SIZE, "written back to swap", ":"),
)


def _timeline_series(run: _Run) -> tuple[FloatArray, str, dict[str, FloatArray]] | None:
    """(x, x label, {key: MiB values}) of a run's series, or None if it has none."""
    timeline = run.section("series")
    if timeline is None:
        return None
    series: dict[str, FloatArray] = {}
    for key, unit, _, _ in (*_POOL_SERIES, *_MEMORY_SERIES):
        values = run.numbers(timeline, key, "series")
        if values is not None:
            series[key] = values * unit / _MIB
    if not series:
        return None
    ops = run.numbers(timeline, "ops", "series")
    if ops is None:
        length = max(len(v) for v in series.values())
        x, xlabel = np.arange(length, dtype=np.float64), "sample"
    else:
        x, xlabel = ops, "accesses processed"
    for key, values in series.items():
        if len(values) != len(x):
            raise CorruptData(f"report {run.where}series.{key} has {len(values)} values, "
                              f"series.ops has {len(x)}")
    return x, xlabel, series


def _draw_pool_size(figure_cls: type[Figure], runs: Sequence[_Run]) -> Figure | None:
    data = [(run, _timeline_series(run)) for run in runs]
    drawable = [(run, d) for run, d in data if d is not None]
    if not drawable:
        return None
    has_memory = any(k in d[2] for _, d in drawable for k, *_ in _MEMORY_SERIES)
    has_pool = any(k in d[2] for _, d in drawable for k, *_ in _POOL_SERIES)
    panels = [(title, spec) for title, spec, present in (
        ("zswap pool", _POOL_SERIES, has_pool),
        ("memory", _MEMORY_SERIES, has_memory)) if present]
    compare = len(runs) > 1
    # Comparing many runs, each panel keeps its main line per run (the pool; resident memory):
    # three styles times a dozen colours is unreadable.
    few = len(drawable) <= 3
    fig = figure_cls(figsize=(9.0 + (3.2 if compare else 0), 3.2 * len(panels) + 0.8),
                     layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    colors = _colors(len(runs))
    styles: dict[str, str] = {}
    for ax, (panel_title, spec) in zip(axes, panels, strict=True):
        for run_index, (_, (x, _, series)) in enumerate(drawable):
            for i, (key, _, name, style) in enumerate(spec):
                if key not in series or (compare and not few and i > 0):
                    continue
                xs, ys = _thin(x, series[key])
                if compare:
                    color, width = colors[run_index], _width(run_index)
                    styles[name] = style
                    ax.plot(xs, ys, style, color=color, linewidth=width)
                else:
                    ax.plot(xs, ys, "-", color=f"C{i}", label=name, linewidth=1.6)
        ax.set_ylabel("MiB")
        ax.set_title(panel_title, loc="left", fontsize="medium")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if not compare:
            ax.legend(fontsize="small", loc="best")
    if compare:
        _legend_outside(fig, [run.label for run, _ in drawable],
                        [colors[i] for i in range(len(drawable))],
                        list(styles.items()) if few else [])
    axes[-1].set_xlabel(drawable[0][1][1])
    from matplotlib.ticker import EngFormatter

    axes[-1].xaxis.set_major_formatter(EngFormatter(sep=""))  # 250k, 2M
    fig.suptitle(_title(runs, "Pool size"))
    return fig


# -------------------------------------------------------------------- ratio histogram -------
def _histogram(run: _Run) -> tuple[FloatArray, FloatArray] | None:
    hist = run.section("ratio_histogram")
    if hist is None:
        return None
    edges = run.numbers(hist, "edges", "ratio_histogram")
    counts = run.numbers(hist, "counts", "ratio_histogram")
    if edges is None or counts is None:
        return None
    if len(edges) != len(counts) + 1:
        raise CorruptData(f"report {run.where}ratio_histogram has {len(edges)} edges for "
                          f"{len(counts)} counts (needs counts + 1)")
    if np.any(np.diff(edges) <= 0):
        raise CorruptData(f"report {run.where}ratio_histogram.edges are not increasing")
    return edges, counts


#: Most edge labels on the ratio axis before some are left out.
_MAX_EDGE_LABELS: Final = 16


def _bin_text(edges: FloatArray, i: int) -> str:
    return f"{edges[i]:.3g}–{edges[i + 1]:.3g}"


def _draw_ratio_histogram(figure_cls: type[Figure], runs: Sequence[_Run]) -> Figure | None:
    """Bars in bin order, one bin per slot, labelled with its edges.

    The bins are the report's (the harness uses finer ones near 1-4, where most pages are,
    and an open-ended last one), so equal slots keep every bin readable; a value axis would
    give a catch-all bin such as 16-4096 most of the width. Runs with different edges cannot
    share slots and are drawn on a value axis instead (log when it spans a decade or more).
    """
    drawable = [(run, h) for run in runs if (h := _histogram(run)) is not None]
    if not drawable:
        return None
    compare = len(runs) > 1
    fig = figure_cls(figsize=(8.0 + (4.2 if compare else 0), 5.0), layout="constrained")
    ax: Axes = fig.subplots()
    colors = _colors(len(runs))
    reference = drawable[0][1][0]
    shared = all(len(e) == len(reference) and np.array_equal(e, reference)
                 for _, (e, _) in drawable)
    for run_index, (run, (edges, counts)) in enumerate(drawable):
        total = int(counts.sum())
        label = f"{run.label}: " if compare else ""
        if total:
            median_bin = int(np.searchsorted(np.cumsum(counts), total / 2))
            label += f"{total:,} pages, median in {_bin_text(edges, median_bin)}"
        else:
            label += "no pages"
        x = np.arange(len(edges), dtype=np.float64) if shared else edges
        ax.stairs(counts, x, fill=not compare, alpha=0.85 if not compare else 1.0,
                  color=colors[run_index], linewidth=_width(run_index) - 0.4, label=label)
    used = np.flatnonzero(np.sum([c for _, (_, c) in drawable], axis=0)) if shared else None
    if shared and used is not None:
        # Slots from the first to the last occupied bin: empty end bins are not worth space.
        lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, len(reference) - 1)
        ax.set_xlim(lo, hi)
        step = max(1, math.ceil((hi - lo + 1) / _MAX_EDGE_LABELS))
        ticks = list(range(lo, hi + 1, step))
        ax.set_xticks(ticks, [f"{reference[i]:.4g}" for i in ticks])
    else:
        low = min(float(e[0]) for _, (e, _) in drawable)
        high = max(float(e[-1]) for _, (e, _) in drawable)
        if low > 0 and high / low >= 10:
            ax.set_xscale("log")
            _plain_ticks(ax)
        ax.set_xlim(low, high)
    ax.set_xlabel("compression ratio (4096 / compressed length)"
                  + (", one slot per bin" if shared else ""))
    ax.set_ylabel("stored pages")
    ax.set_ylim(bottom=0)
    ax.grid(True, axis="y", alpha=0.3)
    if compare:  # right of the plot: over the bars it hides the data
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  frameon=False, ncols=1 if len(drawable) <= 18 else 2)
    else:
        ax.legend(fontsize="small")
    ax.set_title(_title(runs, "Compression ratio"))
    return fig


# -------------------------------------------------------------------------- latency ---------
_LATENCY_OPS: Final = (("store", "-"), ("load", "--"))


def _draw_latency_cdf(figure_cls: type[Figure], runs: Sequence[_Run]) -> Figure | None:
    curves: list[tuple[int, str, str, FloatArray]] = []
    for run_index, run in enumerate(runs):
        section = run.section("latency_us")
        if section is None:
            continue
        for op, style in _LATENCY_OPS:
            samples = run.numbers(section, op, "latency_us")
            if samples is None:
                continue
            samples = samples[np.isfinite(samples) & (samples > 0)]  # a log axis has no 0
            if len(samples):
                curves.append((run_index, op, style, np.sort(samples)))
    if not curves:
        return None
    compare = len(runs) > 1
    fig = figure_cls(figsize=(8.0 + (3.6 if compare else 0), 5.6), layout="constrained")
    ax: Axes = fig.subplots()
    colors = _colors(len(runs))
    for i, (run_index, op, style, ordered) in enumerate(curves):
        n = len(ordered)
        y = np.arange(1, n + 1, dtype=np.float64) / n
        xs, ys = _thin(ordered, y)
        p50, p99 = (float(v) for v in np.percentile(ordered, [50, 99]))
        color = colors[run_index] if compare else f"C{i % 10}"
        ax.step(xs, ys, style, where="post", color=color,
                linewidth=_width(run_index) - 0.6 if compare else 1.6,
                label=None if compare else f"{op}: p50 {_us(p50)}, p99 {_us(p99)} ({n:,})")
        if not compare or len(runs) <= 3:
            ax.plot([p50, p99], [0.5, 0.99], "o", color=color, markersize=5)
    for level, text in ((0.5, "p50"), (0.99, "p99")):
        ax.axhline(level, color="0.5", linewidth=0.8, linestyle=":")
        ax.annotate(text, xy=(1.0, level), xycoords=("axes fraction", "data"),
                    xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize="small", color="0.4")
    ax.set_xscale("log")
    _plain_ticks(ax)
    ax.set_xlabel("latency (µs, log scale)")
    ax.set_ylabel("fraction of operations ≤ latency")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    # Outside the axes: CDFs cross the whole plot, so no corner inside is reliably empty. A
    # comparison names each run once (its colour) and says which style is store, which load;
    # the percentiles of every run are in the text and JSON report.
    if compare:
        seen = sorted({run_index for run_index, *_ in curves})
        _legend_outside(fig, [runs[i].label for i in seen], [colors[i] for i in seen],
                        [(op, style) for op, style in _LATENCY_OPS])
    else:
        fig.legend(loc="outside lower center", ncols=min(len(curves), 3), fontsize="small",
                   frameon=False)
    ax.set_title(_title(runs, "Store and load latency"))
    return fig


def _us(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.3g} ms"
    return f"{value:.3g} µs"
