"""Human-readable reports of ``pyzswap run`` (rich tables on stdout).

They read the JSON-able dict of :func:`pyzswap.run.harness.run_workload`, so what a person sees
is exactly what ``--json`` gives a script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from .._cliutil import console as rich_console

__all__ = ["print_comparison", "print_run"]

_MIB = 1 << 20


def _mib(nbytes: float) -> str:
    return f"{nbytes / _MIB:,.2f} MiB"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _kv_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("value", justify="right")
    for key, value in rows:
        table.add_row(key, value)
    return table


def print_run(r: Mapping[str, Any], console: Console | None = None) -> None:
    """One run: summary, zswap statistics, memcg statistics, latencies, histogram."""
    con = console or rich_console()
    mem, faults, swapins, wb = r["memory"], r["faults"], r["swapins"], r["writeback"]
    lat, cpu = r["latency"], r["cpu_seconds"]
    con.print(f"[bold]pyzswap run[/bold]: workload {r['workload']!r} ({r['description']}), "
              f"compressor {r['compressor']}, seed {r['seed']}")
    con.print(f"{len(r['processes'])} processes, {r['total_pages']:,} pages "
              f"({_mib(r['total_pages'] * 4096)}) in {_mib(r['ram_bytes'])} of RAM; "
              f"{r['events']:,} events in {r['wall_seconds']:.1f} s")
    summary = [
        ("memory saved now", f"{_mib(mem['saved_bytes'])}"),
        ("memory saved (mean over the run)", _mib(mem["mean_saved_bytes"])),
        ("stored in zswap", f"{_mib(mem['stored_bytes'])} -> pool {_mib(mem['pool_total_size'])}"
                            f" (peak {_mib(mem['peak_pool_total_size'])})"),
        ("compression ratio (stored / compressed)", f"{mem['compression_ratio']:.2f}"),
        ("pool ratio (stored / pool_total_size)", f"{mem['pool_ratio']:.2f}"),
        ("faults: first touch / swap cache / major",
         f"{faults['first_touch']:,} / {faults['swapcache']:,} / {faults['major']:,}"),
        ("pages swapped in from zswap / disk / zero",
         f"{swapins['zswap']:,} / {swapins['disk']:,} / {swapins['zero']:,} "
         f"({_pct(swapins['zswap'], swapins['zswap'] + swapins['disk'] + swapins['zero'])} "
         f"zswap; {swapins['readahead']:,} by readahead)"),
        ("written back", f"{wb['written_back_pages']:,} pages ({wb['seconds']:.2f} s)"),
        ("store latency p50 / p99", f"{lat['store']['p50_us']:.1f} / "
                                    f"{lat['store']['p99_us']:.1f} µs"),
        ("load latency p50 / p99", f"{lat['load']['p50_us']:.1f} / "
                                   f"{lat['load']['p99_us']:.1f} µs"),
        ("CPU in store / load / writeback", f"{cpu['store']:.2f} / {cpu['load']:.2f} / "
                                            f"{cpu['writeback']:.2f} s"),
        ("checked", _checked(r["consistency"])),
    ]
    con.print(_kv_table("summary", summary))
    con.print(_kv_table("/sys/kernel/debug/zswap", [(k, f"{v:,}")
                                                     for k, v in r["debugfs"].items()]))
    con.print(_kv_table("/proc/vmstat", [(k, f"{v:,}") for k, v in r["vmstat"].items()]))
    if r["memcg"]:
        table = Table(title="memory cgroups (memory.stat)", title_justify="left")
        cols = ["memory.current", "zswap", "zswapped", "zswpin", "zswpout", "zswpwb"]
        table.add_column("cgroup")
        for col in cols:
            table.add_column(col, justify="right")
        for path, st in r["memcg"].items():
            table.add_row(path, *(f"{st.get(c, 0):,}" for c in cols))
        con.print(table)
    hist = r["ratio_histogram"]
    if sum(hist["counts"]):
        edges, counts = hist["edges"], hist["counts"]
        total = sum(counts)
        table = Table(title="compression ratio of stored pages", title_justify="left")
        table.add_column("ratio")
        table.add_column("pages", justify="right")
        table.add_column("", justify="left")
        for lo, hi, n in zip(edges, edges[1:], counts, strict=False):
            label = f"{lo:g}-{hi:g}" if hi < 4096 else f">= {lo:g}"
            table.add_row(label, f"{n:,}", "#" * round(30 * n / total))
        con.print(table)


def _checked(consistency: Mapping[str, Any]) -> str:
    if not consistency.get("verify", True):
        return "not verified (--no-verify)"
    if not consistency["verified_faults"]:
        return "nothing was swapped in (no memory pressure)"
    return "every fault returned its page"


def print_comparison(reports: Sequence[Mapping[str, Any]], console: Console | None = None) -> None:
    """Several runs of one workload side by side."""
    con = console or rich_console()
    first = reports[0]
    con.print(f"[bold]pyzswap run[/bold]: workload {first['workload']!r}, "
              f"{first['total_pages']:,} pages, {first['events']:,} events, seed {first['seed']}")
    table = Table(title="comparison", title_justify="left")
    table.add_column("")
    for r in reports:
        table.add_column(str(r["label"]), justify="right")
    rows: list[tuple[str, Any]] = [
        ("RAM", lambda r: _mib(r["ram_bytes"])),
        ("saved now", lambda r: _mib(r["memory"]["saved_bytes"])),
        ("saved (mean)", lambda r: _mib(r["memory"]["mean_saved_bytes"])),
        ("compression ratio", lambda r: f"{r['memory']['compression_ratio']:.2f}"),
        ("pool ratio", lambda r: f"{r['memory']['pool_ratio']:.2f}"),
        ("peak pool", lambda r: _mib(r["memory"]["peak_pool_total_size"])),
        ("swap-ins zswap", lambda r: f"{r['swapins']['zswap']:,}"),
        ("swap-ins disk", lambda r: f"{r['swapins']['disk']:,}"),
        ("written back", lambda r: f"{r['writeback']['written_back_pages']:,}"),
        ("pool_limit_hit", lambda r: f"{r['debugfs']['pool_limit_hit']:,}"),
        ("store p50 µs", lambda r: f"{r['latency']['store']['p50_us']:.1f}"),
        ("load p50 µs", lambda r: f"{r['latency']['load']['p50_us']:.1f}"),
        ("CPU store+load s",
         lambda r: f"{r['cpu_seconds']['store'] + r['cpu_seconds']['load']:.2f}"),
        ("wall s", lambda r: f"{r['wall_seconds']:.1f}"),
    ]
    for name, get in rows:
        table.add_row(name, *(get(r) for r in reports))
    con.print(table)
