"""``pyzswap study report``: a study's table aggregated into one self-contained HTML file.

What an operator tuning a fleet asks, answered from the table (docs/FLEET.md):

* the **best configuration per workload** (seeds averaged: a seed is a replica, not a
  setting), with what it costs and how far the runner-up is behind;
* the **best configuration per workload class** and for the **whole fleet**: the configuration
  with the best mean objective over every workload of the class (only configurations that ran
  on all of them), and its *regret*, what the class loses against tuning each workload alone;
* the **distribution across the fleet** of savings and costs for every configuration
  (10th/50th/90th percentiles over workloads, and charts);
* the cells that failed, with their errors.

Metrics are table columns or the derived ones in :data:`METRICS` (``saved_pct``: the mean
memory saved over the run as a share of the workload's memory). The objective is any of them,
maximised or minimised; constraints (``disk_faults_per_kop<=5``) rule cells out. Charts are
inline SVG (matplotlib), so the file needs nothing beside it.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from ...errors import InvalidParameter
from ...folio import PAGE_SIZE

__all__ = ["DEFAULT_COSTS", "METRICS", "Constraint", "Objective", "StudySummary",
           "render_html", "summarise", "write_report"]

Row = Mapping[str, Any]


def _get(row: Row, *names: str) -> float | None:
    """The sum of numeric columns (None if one is missing)."""
    total = 0.0
    for n in names:
        value = row.get(n)
        if not isinstance(value, int | float):
            return None
        total += value
    return total


def _per_kop(row: Row, name: str) -> float | None:
    value, events = _get(row, name), _get(row, "events")
    return None if value is None or not events else 1000 * value / events


def _saved_pct(row: Row) -> float | None:
    saved, pages = _get(row, "memory.mean_saved_bytes"), _get(row, "total_pages")
    return None if saved is None or not pages else 100 * saved / (pages * PAGE_SIZE)


#: Derived metrics: name -> (what it is, unit, how to compute it from a row).
METRICS: Final[dict[str, tuple[str, str, Callable[[Row], float | None]]]] = {
    "saved_pct": ("memory saved (mean over the run)", "% of the workload", _saved_pct),
    "cpu_seconds": ("CPU in zswap store + load + writeback", "s",
                    lambda r: _get(r, "cpu_seconds.store", "cpu_seconds.load",
                                   "cpu_seconds.writeback")),
    "disk_faults_per_kop": ("faults served from the swap device", "per 1k accesses",
                            lambda r: _per_kop(r, "faults.disk")),
    "writeback_per_kop": ("pages written back", "per 1k accesses",
                          lambda r: _per_kop(r, "writeback.written_back_pages")),
    "load_p99_us": ("zswap load latency p99", "µs", lambda r: _get(r, "latency.load.p99_us")),
}
#: The costs shown beside the savings (more with ``--cost COLUMN``).
DEFAULT_COSTS: Final = ("cpu_seconds", "disk_faults_per_kop", "writeback_per_kop",
                        "load_p99_us")


def metric(row: Row, name: str) -> float | None:
    """A derived metric or a numeric column of ``row``."""
    if name in METRICS:
        return METRICS[name][2](row)
    value = row.get(name)
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Objective:
    """``max:NAME`` or ``min:NAME`` (a metric or a column)."""

    name: str = "saved_pct"
    maximise: bool = True

    @classmethod
    def parse(cls, text: str) -> Objective:
        how, sep, name = text.partition(":")
        if not sep:
            how, name = "max", text
        if how not in ("max", "min") or not name:
            raise InvalidParameter(f"objective {text!r}: expected max:NAME or min:NAME")
        return cls(name, how == "max")

    def better(self, a: float, b: float) -> bool:
        return a > b if self.maximise else a < b

    def __str__(self) -> str:
        return f"{'max' if self.maximise else 'min'}:{self.name}"


_CONSTRAINT: Final = re.compile(r"^\s*([\w.\-]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``NAME<=VALUE`` (or ``<``, ``>=``, ``>``): cells outside it are not eligible."""

    name: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        m = _CONSTRAINT.match(text)
        if m is None:
            raise InvalidParameter(f"constraint {text!r}: expected NAME<=VALUE (or <, >=, >)")
        try:
            return cls(m.group(1), m.group(2), float(m.group(3)))
        except ValueError:
            raise InvalidParameter(f"constraint {text!r}: bad number") from None

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return {"<=": value <= self.value, "<": value < self.value,
                ">=": value >= self.value, ">": value > self.value}[self.op]

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value:g}"


@dataclass
class Choice:
    """The best configuration for a group of workloads."""

    group: str
    config: str
    value: float
    runner_up: str | None
    runner_up_value: float | None
    costs: dict[str, float | None]
    saved_pct: float | None
    workloads: int = 1
    #: mean objective lost against each workload's own best configuration
    regret: float = 0.0


@dataclass
class StudySummary:
    """Everything the report shows, computed from the table's rows."""

    name: str
    objective: Objective
    constraints: list[Constraint]
    costs: list[str]
    cells: int
    ok: int
    failed: list[Row]
    seeds: int
    configs: list[str]
    #: variant -> class
    classes: dict[str, str]
    #: (variant, config) -> metric -> mean over seeds
    means: dict[tuple[str, str], dict[str, float | None]]
    per_workload: list[Choice]
    per_class: list[Choice]
    fleet: Choice | None
    #: config -> metric -> (p10, p50, p90) over workloads
    distribution: dict[str, dict[str, tuple[float, float, float] | None]]
    metadata: dict[str, str] = field(default_factory=dict)


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def summarise(rows: Sequence[Row], *, objective: Objective | None = None,
              constraints: Sequence[Constraint] = (), costs: Sequence[str] = DEFAULT_COSTS,
              name: str = "study", metadata: Mapping[str, str] | None = None) -> StudySummary:
    """Aggregate a study's rows (see the module docstring)."""
    obj = objective or Objective()
    names = list(dict.fromkeys([obj.name, "saved_pct", *costs]))
    ok_rows = [r for r in rows if r.get("cell.status") == "ok"]
    failed = [r for r in rows if r.get("cell.status") != "ok"]
    by_cell: dict[tuple[str, str], list[Row]] = defaultdict(list)
    classes: dict[str, str] = {}
    for r in ok_rows:
        by_cell[(str(r["cell.variant"]), str(r["cell.config"]))].append(r)
        classes[str(r["cell.variant"])] = str(r.get("cell.class") or r["cell.variant"])
    means: dict[tuple[str, str], dict[str, float | None]] = {}
    eligible: dict[tuple[str, str], bool] = {}
    for key, group in by_cell.items():
        means[key] = {n: _mean(metric(r, n) for r in group) for n in names}
        eligible[key] = means[key][obj.name] is not None and all(
            c.holds(_mean(metric(r, c.name) for r in group)) for c in constraints)
    configs = list(dict.fromkeys(str(r["cell.config"]) for r in rows))
    variants = list(dict.fromkeys(classes))
    own_best: dict[str, float] = {}
    per_workload = []
    for v in variants:
        choice = _best(v, [v], configs, means, eligible, obj, costs)
        if choice is not None:
            per_workload.append(choice)
            own_best[v] = choice.value
    per_class = []
    for cls in dict.fromkeys(classes.values()):
        members = [v for v in variants if classes[v] == cls]
        choice = _best(cls, members, configs, means, eligible, obj, costs, own_best)
        if choice is not None:
            per_class.append(choice)
    fleet = _best("fleet", variants, configs, means, eligible, obj, costs, own_best)
    distribution = {c: {n: _percentiles([means[(v, c)][n] for v in variants
                                         if (v, c) in means])
                        for n in names} for c in configs}
    return StudySummary(name, obj, list(constraints), list(costs), len(rows), len(ok_rows),
                        failed, len({r.get("cell.seed") for r in ok_rows}), configs, classes,
                        means, per_workload, per_class, fleet, distribution,
                        dict(metadata or {}))


def _percentiles(values: list[float | None]) -> tuple[float, float, float] | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None
    p10, p50, p90 = np.percentile(np.asarray(vals), [10, 50, 90])
    return float(p10), float(p50), float(p90)


def _best(group: str, members: list[str], configs: list[str],
          means: dict[tuple[str, str], dict[str, float | None]],
          eligible: dict[tuple[str, str], bool], obj: Objective, costs: Sequence[str],
          own_best: Mapping[str, float] | None = None) -> Choice | None:
    """The configuration with the best mean objective over ``members`` (eligible for all)."""
    scored: list[tuple[float, str]] = []
    for config in configs:
        if not all(eligible.get((v, config), False) for v in members):
            continue
        value = _mean(means[(v, config)][obj.name] for v in members)
        if value is not None:
            scored.append((value, config))
    if not scored:
        return None
    scored.sort(key=lambda t: -t[0] if obj.maximise else t[0])
    value, config = scored[0]
    runner = scored[1] if len(scored) > 1 else None
    regret = 0.0
    if own_best is not None:
        lost = [abs(own_best[v] - (means[(v, config)][obj.name] or 0.0)) for v in members
                if v in own_best]
        regret = sum(lost) / len(lost) if lost else 0.0
    return Choice(group, config, value, runner[1] if runner else None,
                  runner[0] if runner else None,
                  {c: _mean(means[(v, config)][c] for v in members) for c in costs},
                  _mean(means[(v, config)]["saved_pct"] for v in members), len(members),
                  regret)


# ------------------------------------------------------------------------------ HTML --------

_CSS: Final = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 8px;
border-bottom:2px solid #d9dde5;padding-bottom:4px}
p.lead{color:#4a5263;margin:2px 0 14px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #d9dde5;border-radius:8px;padding:10px 14px;
min-width:130px}.card b{display:block;font-size:22px}.card span{color:#5b6477;font-size:13px}
table{border-collapse:collapse;background:#fff;margin:8px 0 4px;font-size:13.5px;width:100%}
th,td{border:1px solid #d9dde5;padding:5px 8px;text-align:right;vertical-align:top}
th{background:#eef1f6;font-weight:600}td.l,th.l{text-align:left}
tr.best td{background:#eaf6ec}.scroll{overflow-x:auto}
code{font-size:12.5px;background:#eef1f6;padding:1px 4px;
border-radius:3px;white-space:nowrap}.note{color:#5b6477;font-size:13px}.err{color:#a1261b}
figure{margin:12px 0;background:#fff;border:1px solid #d9dde5;border-radius:8px;
padding:8px}figure svg{width:100%;height:auto}figcaption{color:#5b6477;font-size:13px}
"""


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _unit(name: str) -> str:
    return f"{METRICS[name][0]} ({METRICS[name][1]})" if name in METRICS else name


def _short(name: str) -> str:
    return {"saved_pct": "saved %", "cpu_seconds": "CPU s",
            "disk_faults_per_kop": "disk faults /1k", "writeback_per_kop": "written back /1k",
            "load_p99_us": "load p99 µs"}.get(name, name)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *,
           left: Sequence[int] = (0,), best_first: bool = False) -> str:
    """An HTML table; columns in ``left`` (text) are left-aligned, the rest (numbers) right."""
    out = ["<div class='scroll'><table><tr>"]
    out += [f'<th class="{"l" if i in left else ""}">{html.escape(h)}</th>'
            for i, h in enumerate(headers)]
    out.append("</tr>")
    for n, row in enumerate(rows):
        cls = ' class="best"' if best_first and n == 0 else ""
        out.append(f"<tr{cls}>" + "".join(
            f'<td class="{"l" if i in left else ""}">{cell}</td>' for i, cell in enumerate(row))
            + "</tr>")
    out.append("</table></div>")
    return "".join(out)


def _choice_rows(choices: Sequence[Choice], s: StudySummary, *, regret: bool
                 ) -> Iterator[list[str]]:
    for c in choices:
        row = [html.escape(c.group)]
        if regret:
            row.append(str(c.workloads))
        row += [f"<code>{html.escape(c.config)}</code>", _fmt(c.value)]
        if s.objective.name != "saved_pct":
            row.append(_fmt(c.saved_pct))
        row += [_fmt(c.costs.get(k)) for k in s.costs]
        row.append(f"<code>{html.escape(c.runner_up)}</code> ({_fmt(c.runner_up_value)})"
                   if c.runner_up else "–")
        if regret:
            row.append(_fmt(c.regret))
        yield row


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _saved_of(s: StudySummary, config: str) -> list[float]:
    """saved_pct of every workload under ``config`` (seeds averaged)."""
    return [v for (_, c), m in s.means.items() if c == config
            and (v := m.get("saved_pct")) is not None]


def _chart_distribution(s: StudySummary) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = []
    for config in s.configs:
        vals = _saved_of(s, config)
        if vals:
            data.append((float(np.median(vals)), config, vals))
    if not data:
        return None
    data.sort()
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.38 * len(data)))
    horizontal: dict[str, Any] = {"orientation": "horizontal"} \
        if tuple(int(x) for x in matplotlib.__version__.split(".")[:2]) >= (3, 10) \
        else {"vert": False}
    ax.boxplot([d[2] for d in data], widths=0.6, showfliers=True, **horizontal)
    for i, (_, _, vals) in enumerate(data, start=1):
        ax.scatter(vals, np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), s=10,
                   alpha=0.6, color="#2f6db5", zorder=3)
    ax.set_yticks(range(1, len(data) + 1), [d[1] for d in data], fontsize=8)
    ax.set_xlabel("memory saved, mean over the run (% of the workload's memory)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Savings across the fleet, per configuration (one dot per workload)",
                 fontsize=11, loc="left")
    return _svg(fig)


def _chart_tradeoff(s: StudySummary) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cost = next((c for c in s.costs if any(
        (d.get(c)) for d in s.distribution.values())), None)
    points = [(i, c, d["saved_pct"], d[cost]) for i, (c, d) in
              enumerate(s.distribution.items(), start=1)
              if cost is not None and d.get("saved_pct") and d.get(cost)]
    if not points or cost is None:
        return None
    fig, ax = plt.subplots(figsize=(9, 4.6))
    for i, _config, saved, c in points:
        assert saved is not None and c is not None
        ax.errorbar(c[1], saved[1], xerr=[[c[1] - c[0]], [c[2] - c[1]]],
                    yerr=[[saved[1] - saved[0]], [saved[2] - saved[1]]], fmt="o", ms=6,
                    color="#2f6db5", ecolor="#9fb8d8", capsize=2)
        ax.annotate(str(i), (c[1], saved[1]), textcoords="offset points", xytext=(5, 4),
                    fontsize=9)
    ax.set_xlabel(f"{_short(cost)}: {_unit(cost)} — median, bars 10th–90th percentile")
    ax.set_ylabel("memory saved (% of workload)")
    ax.grid(alpha=0.3)
    ax.set_title("Savings against cost per configuration (numbers: the table below)",
                 fontsize=11, loc="left")
    return _svg(fig)


def _chart_ecdf(s: StudySummary) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    own = sorted(c.saved_pct for c in s.per_workload if c.saved_pct is not None)
    if not own:
        return None
    fig, ax = plt.subplots(figsize=(9, 3.8))
    y = np.arange(1, len(own) + 1) / len(own)
    ax.step(own, y, where="post", label="each workload's best configuration", lw=3.5,
            color="#2f6db5", alpha=0.8)
    if s.fleet is not None:
        fleet = sorted(_saved_of(s, s.fleet.config))
        ax.step(fleet, np.arange(1, len(fleet) + 1) / len(fleet), where="post", lw=1.8,
                ls="--", color="#d9731a",
                label=f"one configuration for the fleet ({s.fleet.config})")
    ax.set_xlabel("memory saved, mean over the run (% of the workload's memory)")
    ax.set_ylabel("share of workloads")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title("How much the fleet saves: cumulative share of workloads", fontsize=11,
                 loc="left")
    return _svg(fig)


def render_html(s: StudySummary) -> str:
    """The report as one HTML document (inline CSS and SVG, no outside resources)."""
    esc = html.escape
    workloads = len(s.classes)
    classes = len(set(s.classes.values()))
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
             f"<title>pyzswap study: {esc(s.name)}</title><style>{_CSS}</style></head>"
             f"<body><main><h1>pyzswap study: {esc(s.name)}</h1>"]
    version = s.metadata.get("pyzswap.version", "")
    written = s.metadata.get("pyzswap.written_at", "")
    limits = ", ".join(f"<code>{esc(str(c))}</code>" for c in s.constraints)
    parts.append(f"<p class='lead'>pyzswap {esc(version)}; table written {esc(written)}. "
                 f"Objective <code>{esc(str(s.objective))}</code> "
                 f"({esc(_unit(s.objective.name))})"
                 + (f"; constraints {limits}" if limits else "") + ". Seeds are averaged.</p>")
    cards = [(f"{s.ok}/{s.cells}", "cells ok"), (str(len(s.failed)), "failed"),
             (str(workloads), "workloads"), (str(classes), "classes"),
             (str(len(s.configs)), "configurations"), (str(s.seeds), "seeds")]
    if s.fleet is not None:
        cards.append((_fmt(s.fleet.saved_pct, 1) + "%", "saved, best fleet configuration"))
    parts.append("<div class='cards'>" + "".join(
        f"<div class='card'><b>{esc(v)}</b><span>{esc(k)}</span></div>" for v, k in cards)
        + "</div>")
    cost_heads = [_short(c) for c in s.costs]
    obj_heads = [_short(s.objective.name)] + (["saved %"] if s.objective.name != "saved_pct"
                                              else [])
    parts.append("<h2>Best configuration for the fleet and per workload class</h2>")
    parts.append("<p class='note'>The configuration with the best mean objective over every "
                 "workload of the group, among those that ran (and met the constraints) on all "
                 "of them. <i>Regret</i>: the objective lost on average against giving each "
                 "workload its own best configuration.</p>")
    groups = ([s.fleet] if s.fleet else []) + s.per_class
    if groups:
        heads = ["group", "workloads", "configuration", *obj_heads, *cost_heads, "runner-up",
                 "regret"]
        parts.append(_table(heads, _choice_rows(groups, s, regret=True),
                            left=(0, 2, len(heads) - 2), best_first=s.fleet is not None))
    else:
        parts.append("<p>No configuration ran on every workload of any group.</p>")
    parts.append("<h2>Best configuration per workload</h2>")
    heads = ["workload", "configuration", *obj_heads, *cost_heads, "runner-up"]
    parts.append(_table(heads, _choice_rows(s.per_workload, s, regret=False),
                        left=(0, 1, len(heads) - 1)))
    parts.append("<h2>Savings and costs across the fleet</h2>")
    for chart, caption in ((_chart_distribution(s), "Each dot is one workload (seeds "
                            "averaged); boxes span the middle half of the fleet."),
                           (_chart_ecdf(s), "Read across: the share of workloads that save "
                            "at most x%."),
                           (_chart_tradeoff(s), "Up and to the left is better.")):
        if chart:
            parts.append(f"<figure>{chart}<figcaption>{esc(caption)}</figcaption></figure>")
    heads = ["#", "configuration"] + [f"{_short(n)} p10 / p50 / p90"
                                      for n in ["saved_pct", *s.costs]]
    dist_rows = []
    for i, (config, d) in enumerate(s.distribution.items(), start=1):
        cells = [str(i), f"<code>{esc(config)}</code>"]
        for n in ["saved_pct", *s.costs]:
            p = d.get(n)
            cells.append("–" if p is None else " / ".join(_fmt(x) for x in p))
        dist_rows.append(cells)
    parts.append(_table(heads, dist_rows, left=(1,)))
    parts.append("<p class='note'>Metrics: " + "; ".join(
        f"<b>{esc(_short(n))}</b>: {esc(_unit(n))}" for n in ["saved_pct", *s.costs])
        + ".</p>")
    parts.append(f"<h2>Failed cells ({len(s.failed)})</h2>")
    if s.failed:
        parts.append(_table(["workload", "configuration", "seed", "error"], (
            [esc(str(r.get("cell.variant"))), f"<code>{esc(str(r.get('cell.config')))}</code>",
             esc(str(r.get("cell.seed"))), f"<span class='err'>{esc(str(r.get('cell.error')))}"
             "</span>"] for r in s.failed), left=(0, 1, 3)))
    else:
        parts.append("<p>None.</p>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(table_path: str | Path, output: str | Path, *,
                 objective: Objective | None = None, constraints: Sequence[Constraint] = (),
                 costs: Sequence[str] = DEFAULT_COSTS) -> StudySummary:
    """Read a study's table, summarise it and write the HTML report to ``output``."""
    from .store import atomic_write, read_table

    table = read_table(table_path)
    obj = objective or Objective()
    for name in [obj.name, *(c.name for c in constraints), *costs]:
        if name not in METRICS and name not in table.column_names:
            raise InvalidParameter(f"{name!r} is neither a metric ({', '.join(METRICS)}) nor "
                                   "a column of the table")
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    rows = table.to_pylist()
    summary = summarise(rows, objective=objective, constraints=constraints, costs=costs,
                        name=meta.get("pyzswap.tools.study", Path(table_path).stem), metadata=meta)
    atomic_write(Path(output), render_html(summary).encode())
    return summary
