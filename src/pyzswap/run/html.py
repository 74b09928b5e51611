"""Self-contained HTML reports of ``pyzswap run --html`` and ``pyzswap advise --html``.

One file, no network: the charts are inline SVG drawn here (no charting library to vendor),
the style and the little script (legend entries toggle their series; points and lines show
their values on hover) are inline too. Legends sit below the plot as HTML, so they wrap
instead of being clipped, and long labels are never drawn over the data.

Charts of a run report: the zswap pool and what it holds over the run, the latency CDF of
zswap's stores and loads, and (several configurations) memory saved against estimated time
lost per configuration. The advise report adds the ranked grid and the recommended
configuration's pool over time.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .report import cost_rows

__all__ = ["write_advise_html", "write_run_html"]

_W: Final = 760
_H: Final = 300
_M: Final = {"l": 70, "r": 20, "t": 16, "b": 44}
_COLORS: Final = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                  "#17becf", "#7f7f7f", "#bcbd22")
_MIB: Final = float(1 << 20)

_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:22px 0 6px}
.sub{color:#555;margin:0 0 10px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
th:first-child,td:first-child,.t{text-align:left}
td.t:last-child{white-space:normal;min-width:16em}
thead th{background:#f0f0f0}
.wrap{overflow-x:auto}
figure{margin:8px 0 18px;background:#fff;border:1px solid #ddd;padding:8px;max-width:900px}
figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto;display:block}
svg text{font-size:12px;fill:#333}
.legend{list-style:none;padding:0;margin:4px 0 0;display:flex;flex-wrap:wrap;gap:4px 14px}
.legend li{cursor:pointer;user-select:none}.legend li.off{opacity:.35}
.legend i{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}
pre{background:#fff;border:1px solid #ddd;padding:8px;overflow-x:auto}
.rec{background:#eef6ee;border:1px solid #9c9;padding:8px 12px}
.bad{color:#a00}
#tip{position:fixed;pointer-events:none;background:#222;color:#fff;padding:3px 7px;
border-radius:3px;font-size:12px;display:none}
"""

_JS: Final = """
(function(){
  var tip=document.getElementById('tip');
  document.querySelectorAll('[data-tip]').forEach(function(el){
    el.addEventListener('mousemove',function(e){tip.textContent=el.getAttribute('data-tip');
      tip.style.display='block';tip.style.left=(e.clientX+12)+'px';
      tip.style.top=(e.clientY+12)+'px';});
    el.addEventListener('mouseleave',function(){tip.style.display='none';});
  });
  document.querySelectorAll('.legend li').forEach(function(li){
    li.addEventListener('click',function(){
      var fig=li.closest('figure');var key=li.getAttribute('data-series');
      var off=li.classList.toggle('off');
      fig.querySelectorAll('[data-series="'+key+'"]').forEach(function(el){
        if(el!==li){el.style.display=off?'none':'';}});
    });
  });
})();
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(k * step, 10) for k in range(first, max(last, first + 1) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.3g}"


class _Chart:
    """A plot area with linear (or log10) axes; series are added as SVG fragments."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], xlabel: str, ylabel: str,
                 logx: bool = False) -> None:
        self.logx = logx
        fx = [math.log10(x) for x in xs if x > 0] if logx else [float(x) for x in xs]
        fy = [float(y) for y in ys if math.isfinite(y)]
        x0, x1 = (min(fx), max(fx)) if fx else (0.0, 1.0)
        y0, y1 = (min(fy), max(fy)) if fy else (0.0, 1.0)
        if logx:
            x0, x1 = math.floor(x0), math.ceil(x1) if x1 > x0 else math.floor(x0) + 1
            self.xticks = [float(t) for t in range(int(x0), int(x1) + 1)]
        else:
            self.xticks = _nice_ticks(x0, x1)
            x0, x1 = self.xticks[0], self.xticks[-1]
        self.yticks = _nice_ticks(y0, y1 if y1 > y0 else y0 + 1)
        self.x0, self.x1 = x0, (x1 if x1 > x0 else x0 + 1)
        self.y0, self.y1 = self.yticks[0], self.yticks[-1]
        self.parts: list[str] = []
        self.legend: list[tuple[str, str]] = []
        self.xlabel, self.ylabel = xlabel, ylabel

    def px(self, x: float) -> float:
        v = math.log10(x) if self.logx else x
        return _M["l"] + (v - self.x0) / (self.x1 - self.x0) * (_W - _M["l"] - _M["r"])

    def py(self, y: float) -> float:
        return _H - _M["b"] - (y - self.y0) / (self.y1 - self.y0) * (_H - _M["t"] - _M["b"])

    def line(self, xs: Sequence[float], ys: Sequence[float], name: str, unit: str) -> None:
        color = _COLORS[len(self.legend) % len(_COLORS)]
        pts = [(self.px(x), self.py(y)) for x, y in zip(xs, ys, strict=True)
               if (x > 0 or not self.logx) and math.isfinite(y)]
        if not pts:
            return
        key = f"s{len(self.legend)}"
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        last = ys[-1]
        self.parts.append(f'<path data-series="{key}" d="{d}" fill="none" stroke="{color}" '
                          f'stroke-width="2" data-tip="{_esc(name)}: {_fmt(last)} {unit} at '
                          f'the end"/>')
        self.legend.append((name, color))

    def points(self, pts: Sequence[tuple[float, float, str]], name: str, marker: str = "circle",
               labels: Sequence[str] = ()) -> None:
        """Points with a hover text each; ``labels`` (a few points) are written beside them."""
        color = _COLORS[len(self.legend) % len(_COLORS)]
        key = f"s{len(self.legend)}"
        for k, (x, y, tip) in enumerate(pts):
            cx, cy = self.px(x), self.py(y)
            if k < len(labels):
                anchor = "end" if cx > _W * 0.7 else "start"
                dx = -9 if anchor == "end" else 9
                self.parts.append(f'<text data-series="{key}" x="{cx + dx:.1f}" '
                                  f'y="{cy - 7:.1f}" text-anchor="{anchor}" '
                                  f'font-size="11">{_esc(labels[k])}</text>')
            if marker == "square":
                self.parts.append(f'<rect data-series="{key}" x="{cx - 6:.1f}" y="{cy - 6:.1f}" '
                                  f'width="12" height="12" fill="{color}" data-tip="{_esc(tip)}"'
                                  f'><title>{_esc(tip)}</title></rect>')
            else:
                self.parts.append(f'<circle data-series="{key}" cx="{cx:.1f}" cy="{cy:.1f}" '
                                  f'r="5" fill="{color}" fill-opacity=".8" '
                                  f'data-tip="{_esc(tip)}"><title>{_esc(tip)}</title></circle>')
        self.legend.append((name, color))

    def svg(self, title: str) -> str:
        if not self.legend:
            return ""
        axes = []
        for t in self.yticks:
            y = self.py(t)
            axes.append(f'<line x1="{_M["l"]}" x2="{_W - _M["r"]}" y1="{y:.1f}" y2="{y:.1f}" '
                        'stroke="#e4e4e4"/>')
            axes.append(f'<text x="{_M["l"] - 6}" y="{y + 4:.1f}" text-anchor="end">'
                        f'{_fmt(t)}</text>')
        for t in self.xticks:
            x = self.px(10 ** t if self.logx else t)
            label = _fmt(10 ** t) if self.logx else _fmt(t)
            axes.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_M["t"]}" y2="{_H - _M["b"]}" '
                        'stroke="#f0f0f0"/>')
            axes.append(f'<text x="{x:.1f}" y="{_H - _M["b"] + 16}" text-anchor="middle">'
                        f'{label}</text>')
        axes.append(f'<text x="{(_W + _M["l"]) / 2:.0f}" y="{_H - 8}" text-anchor="middle">'
                    f'{_esc(self.xlabel)}</text>')
        axes.append(f'<text transform="translate(16,{(_H - _M["b"]) / 2:.0f}) rotate(-90)" '
                    f'text-anchor="middle">{_esc(self.ylabel)}</text>')
        axes.append(f'<rect x="{_M["l"]}" y="{_M["t"]}" width="{_W - _M["l"] - _M["r"]}" '
                    f'height="{_H - _M["t"] - _M["b"]}" fill="none" stroke="#999"/>')
        legend = "".join(f'<li data-series="s{i}"><i style="background:{c}"></i>{_esc(n)}</li>'
                         for i, (n, c) in enumerate(self.legend))
        return (f'<figure><figcaption>{_esc(title)}</figcaption>'
                f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" '
                f'aria-label="{_esc(title)}">{"".join(axes)}{"".join(self.parts)}</svg>'
                f'<ul class="legend">{legend}</ul></figure>')


def _mib(n: float) -> str:
    return f"{n / _MIB:,.2f} MiB"


def _page(title: str, subtitle: str, body: str, data: Mapping[str, Any]) -> str:
    blob = json.dumps(data).replace("</", "<\\/")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{_esc(title)}</title><style>{_CSS}</style></head><body><main>'
            f'<h1>{_esc(title)}</h1><p class="sub">{_esc(subtitle)}</p>{body}</main>'
            f'<div id="tip"></div>'
            f'<script type="application/json" id="report-data">{blob}</script>'
            f'<script>{_JS}</script></body></html>')


def _table(head: Sequence[str], rows: Sequence[Sequence[object]],
           text_columns: Sequence[int] = (0,)) -> str:
    """A table; the ``text_columns`` are left-aligned (the last one may wrap)."""
    def cls(i: int) -> str:
        return ' class="t"' if i in text_columns else ""

    th = "".join(f"<th{cls(i)}>{_esc(h)}</th>" for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{_esc(c)}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f'<div class="wrap"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>' \
           "</div>"


def _pool_chart(runs: Sequence[Mapping[str, Any]], title: str) -> str:
    """Pool size over the run: one line per run (several runs), else pool, stored, resident."""
    if not runs:
        return ""
    xs_all: list[float] = []
    ys_all: list[float] = []
    lines: list[tuple[list[float], list[float], str]] = []
    for r in runs:
        s = r.get("series") or {}
        ops = s.get("ops") or []
        if not ops:
            continue
        xs = [float(o) for o in ops]
        pool = [v / _MIB for v in s["pool_total_size"]]
        if len(runs) == 1:
            lines.append((xs, pool, "zswap pool (pool_total_size)"))
            lines.append((xs, [v * 4096 / _MIB for v in s["stored_pages"]],
                          "pages in the pool, uncompressed"))
            lines.append((xs, [v * 4096 / _MIB for v in s["resident_pages"]],
                          "resident memory"))
        else:
            lines.append((xs, pool, str(r["label"])))
    for xs, ys, _ in lines:
        xs_all += xs
        ys_all += ys
    if not lines:
        return ""
    chart = _Chart(xs_all, [*ys_all, 0.0], "accesses replayed", "MiB")
    for xs, ys, name in lines[:len(_COLORS)]:
        chart.line(xs, ys, name, "MiB")
    return chart.svg(title)


def _latency_chart(r: Mapping[str, Any]) -> str:
    lat = r.get("latency_us") or {}
    series = []
    for name in ("store", "load"):
        vals = sorted(v for v in lat.get(name, []) if v > 0)
        if len(vals) >= 2:
            n = len(vals)
            step = max(1, n // 400)
            pts = [(vals[i], 100.0 * (i + 1) / n) for i in range(0, n, step)]
            pts.append((vals[-1], 100.0))
            series.append((name, pts))
    if not series:
        return ""
    chart = _Chart([x for _, p in series for x, _ in p], [0.0, 100.0],
                   "latency (µs, log scale)", "% of calls at or below", logx=True)
    for name, pts in series:
        chart.line([x for x, _ in pts], [y for _, y in pts], f"zswap {name}", "%")
    return chart.svg("Latency CDF of zswap's stores and loads (measured)")


def _tradeoff_chart(items: Sequence[tuple[str, float, float, str]], title: str) -> str:
    """Memory saved (MiB) against estimated time lost (s) per configuration; ``items`` are
    (name, time, MiB, group): one colour per group (the backend; "baseline" is a square)."""
    if not items:
        return ""
    ts = [t for _, t, _, _ in items]
    ms = [m for _, _, m, _ in items]
    pad_t = (max(ts) - min(ts)) * 0.08 or max(abs(max(ts)), 1e-3) * 0.1
    pad_m = (max(ms) - min(ms)) * 0.08 or max(abs(max(ms)), 0.1) * 0.1
    lo_t = min(ts) - pad_t
    chart = _Chart([max(0.0, lo_t) if min(ts) >= 0 else lo_t, max(ts) + pad_t],
                   [min(ms) - pad_m if min(ms) < 0 else 0.0, max(ms) + pad_m],
                   "estimated time lost: fault stall + CPU (s)", "RAM saved, mean (MiB)")
    groups = list(dict.fromkeys(g for *_, g in items if g != "baseline"))
    label_them = len(items) <= 9
    for group in groups:
        pts = [(t, m, f"{n}: {m:.2f} MiB saved, {t:.3f} s") for n, t, m, g in items
               if g == group]
        names = [n for n, _, _, g in items if g == group]
        chart.points(pts, group + ("" if label_them else " (hover for the configuration)"),
                     labels=names if label_them else ())
    base = [(t, m, f"{n}: {m:.2f} MiB saved, {t:.3f} s") for n, t, m, g in items
            if g == "baseline"]
    if base:
        chart.points(base, "no zswap (baseline)", marker="square")
    return chart.svg(title)


def _cost_table(r: Mapping[str, Any]) -> str:
    if "cost" not in r:
        return ""
    return _table(["", f"{r.get('backend', 'zswap')} ({r['label']})", "no zswap (baseline)"],
                  cost_rows(r))


def _run_time(r: Mapping[str, Any], key: str = "spread") -> float:
    return float(r[key]["time_seconds"]["mean"])


def run_html(results: Sequence[Mapping[str, Any]]) -> str:
    """The HTML of ``pyzswap run`` (one or several configurations)."""
    ok = [r for r in results if "failed" not in r]
    body: list[str] = []
    for f in results:
        if "failed" in f:
            body.append(f'<p class="bad">{_esc(f["label"])}: {_esc(f["failed"])}</p>')
    if not ok:
        return _page("pyzswap run", "no configuration ran", "".join(body), {"runs": results})
    first = ok[0]
    dev = first.get("cost", {}).get("swap_device", {})
    sub = (f"workload {first['workload']} ({first['description']}); {first['total_pages']:,} "
           f"pages in {_mib(first['ram_bytes'])} of RAM; seeds {first.get('seeds', [0])}; "
           f"swap device {dev.get('name', '?')}: {dev.get('source', '')}")
    if len(ok) == 1:
        r = first
        body.append("<h2>Cost model versus no zswap</h2>" + _cost_table(r))
        body.append(_pool_chart([r], "Pool size over the run"))
        body.append(_latency_chart(r))
    else:
        head = ["", *(str(r["label"]) for r in ok)]
        rows: list[list[object]] = []
        for name, key, unit in (("RAM saved (mean)", "memory_saved_bytes", "MiB"),
                                ("est. fault stall", "stall_seconds", "s"),
                                ("CPU (compress+decompress+wb)", "cpu_seconds", "s"),
                                ("device reads", "device_reads", ""),
                                ("device writes", "device_writes", ""),
                                ("major faults", "major_faults", "")):
            means = [float(r["spread"][key]["mean"]) for r in ok]
            rows.append([name, *(_mib(m) if unit == "MiB" else f"{m:.3f} s" if unit == "s"
                                 else f"{m:,.0f}" for m in means)])
        body.append("<h2>Configurations (means over the seeds)</h2>" + _table(head, rows))
        items = [(str(r["label"]), _run_time(r),
                  r["spread"]["memory_saved_bytes"]["mean"] / _MIB,
                  "baseline" if r.get("backend") == "none" else str(r.get("backend", "zswap")))
                 for r in ok]
        if "baseline_spread" in first and all(r.get("backend") != "none" for r in ok):
            items.append(("no zswap (baseline)", _run_time(first, "baseline_spread"), 0.0,
                          "baseline"))
        body.append(_tradeoff_chart(items, "RAM saved against time lost, per configuration"))
        body.append(_pool_chart(ok, "Pool size over the run, per configuration"))
        body.append(_latency_chart(first).replace(
            "Latency CDF of zswap's stores and loads (measured)",
            f"Latency CDF of zswap's stores and loads ({first['label']}, measured)"))
    slim = [{k: v for k, v in r.items() if k not in ("latency_us", "series", "timeline")}
            for r in results]
    return _page("pyzswap run", sub, "".join(body), {"runs": slim})


def advise_html(advice: Mapping[str, Any], results: Sequence[Mapping[str, Any]]) -> str:
    """The HTML of ``pyzswap advise``."""
    body: list[str] = []
    best = advice["recommendation"]
    apply = advice.get("apply") or {}
    if best is not None:
        what = ("leave zswap off" if best["backend"] == "none" else best["label"])
        sp = best["spread"]
        body.append(f'<div class="rec"><b>Recommendation: {_esc(what)}</b> (objective '
                    f'{_esc(advice["objective"])}, score = {_esc(advice["formula"])}): RAM saved '
                    f'{_mib(sp["memory_saved_bytes"]["mean"])} ± '
                    f'{_mib(sp["memory_saved_bytes"]["stdev"])}, fault stall '
                    f'{sp["stall_seconds"]["mean"]:.3f} s, CPU {sp["cpu_seconds"]["mean"]:.3f} s '
                    f'(means over {sp["memory_saved_bytes"]["n"]} seeds).</div>')
        body.append("<h2>Apply it</h2><pre>" + _esc(apply.get("runtime", "")) + "</pre>")
        body.append(f"<p>Kernel command line: <code>{_esc(apply.get('kernel_command_line'))}"
                    "</code></p>")
        if "zram_generator" in apply:
            body.append("<pre>" + _esc(apply["zram_generator"]) + "</pre>")
    rows = []
    for i, row in enumerate(advice["grid"], 1):
        if row["failed"]:
            rows.append([i, row["label"], "-", "-", "-", "-", "does not fit: " + row["failed"]])
            continue
        sp = row["spread"]
        note = {False: "not offered by this kernel", None: "offer unknown"}.get(row["offered"],
                                                                               "")
        inc = row["time_increase"]
        rows.append([i, row["label"], f"{row['score']:+.3f}",
                     f"{_mib(sp['memory_saved_bytes']['mean'])} ± "
                     f"{_mib(sp['memory_saved_bytes']['stdev'])}",
                     f"{row['time_seconds']:.3f} ± {sp['time_seconds']['stdev']:.3f} s",
                     "-" if inc is None else f"{inc:+.0%}", note])
    body.append("<h2>Ranking</h2>" + _table(
        ["#", "configuration", "score", "RAM saved (mean ± sd)", "stall + CPU (mean ± sd)",
         "vs baseline",
         "note"], rows, text_columns=(1, 6)))
    items = [(r["label"], r["time_seconds"], r["spread"]["memory_saved_bytes"]["mean"] / _MIB,
              "baseline" if r["backend"] == "none" else r["backend"])
             for r in advice["grid"] if not r["failed"]]
    body.append(_tradeoff_chart(items, "RAM saved against time lost, per configuration"))
    if best is not None and best["backend"] != "none":
        run = next((r for r in results if r.get("label") == best["label"]), None)
        if run is not None:
            body.append(_pool_chart([run], f"Pool size over the run: {best['label']}"))
            body.append(_latency_chart(run))
    dev = advice["swap_device"]
    sub = (f"workload {advice['workload']} ({advice['description']}); "
           f"{advice['total_pages']:,} pages in {_mib(advice['ram_bytes'] or 0)} of RAM; "
           f"swap device behind zswap: {dev['name']} ({dev['source']})")
    return _page("pyzswap advise", sub, "".join(body), advice)


def write_run_html(results: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    out = Path(path)
    out.write_text(run_html(results), encoding="utf-8")
    return out


def write_advise_html(advice: Mapping[str, Any], results: Sequence[Mapping[str, Any]],
                      path: str | Path) -> Path:
    out = Path(path)
    out.write_text(advise_html(advice, results), encoding="utf-8")
    return out
