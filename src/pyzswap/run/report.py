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

__all__ = ["cost_rows", "print_advice", "print_comparison", "print_run"]

_MIB = 1 << 20


def _mib(nbytes: float) -> str:
    """A size in the largest binary unit that keeps it at least 1 (4096 -> "4.00 KiB")."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:,.0f} B" if unit == "B" else f"{value:,.2f} {unit}"
        value /= 1024
    return f"{value:,.2f} GiB"  # pragma: no cover


def _secs(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if abs(seconds) < 1 else f"{seconds:,.2f} s"


def _spread(sp: Mapping[str, Any] | None, key: str, fmt: Any) -> str:
    """"mean ± stdev (min-max, N seeds)" of one spread field, or "" for one seed."""
    if not sp or key not in sp or sp[key]["n"] < 2 or sp[key]["min"] == sp[key]["max"]:
        return ""
    f = sp[key]
    return f" ± {fmt(f['stdev'])} ({fmt(f['min'])} to {fmt(f['max'])}, {f['n']} seeds)"


def _mean(r: Mapping[str, Any], key: str, fallback: float) -> float:
    sp = r.get("spread")
    return float(sp[key]["mean"]) if sp and key in sp else fallback


def cost_rows(r: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(name, this configuration, no-zswap baseline) rows of the cost model, means over the
    seeds with their spread."""
    c = r["cost"]
    b = r.get("baseline", {}).get("cost")
    sp, bsp = r.get("spread"), r.get("baseline_spread")

    def both(name: str, key: str, get: Any, fmt: Any) -> tuple[str, str, str]:
        mine = _mean(r, key, get(c))
        base = "-" if b is None else fmt(_mean({"spread": bsp}, key, get(b))) + _spread(
            bsp, key, fmt)
        return name, fmt(mine) + _spread(sp, key, fmt), base

    def count(x: float) -> str:
        return f"{x:,.0f}"

    rows = [
        both("memory saved (mean over the run)", "memory_saved_bytes",
             lambda x: x["memory_saved_bytes"], _mib),
        both("memory saved at the end", "memory_saved_now_bytes",
             lambda x: x["memory_saved_now_bytes"], _mib),
        both("estimated stall in faults", "stall_seconds",
             lambda x: x["stall_seconds"]["total"], _secs),
        ("  of which decompressing (zswap/zram loads)",
         f"{c['decompressions']:,} x {c['load_us']:.1f} µs = "
         f"{_secs(c['stall_seconds']['zswap_loads'])}",
         "-" if b is None else f"{b['decompressions']:,}"),
        ("  of which reading the swap device",
         f"{c['device_reads']:,} pages = {_secs(c['stall_seconds']['device_reads'])}",
         "-" if b is None else f"{b['device_reads']:,} pages = "
                               f"{_secs(b['stall_seconds']['device_reads'])}"),
        ("major faults", count(_mean(r, "major_faults", r["faults"]["major"]))
         + _spread(sp, "major_faults", count),
         "-" if b is None else count(_mean({"spread": bsp}, "major_faults",
                                           r["baseline"]["faults"]["major"]))
         + _spread(bsp, "major_faults", count)),
        both("pages written to the swap device", "device_writes",
             lambda x: x["device_writes"], count),
        ("device time writing (asynchronous)", _secs(c["device_write_seconds"]),
         "-" if b is None else _secs(b["device_write_seconds"])),
        both("CPU: compress + decompress + writeback", "cpu_seconds",
             lambda x: x["cpu_seconds"]["total"], _secs),
        ("  compress / decompress / writeback",
         f"{c['compressions']:,} x {c['store_us']:.1f} µs / {c['decompressions']:,} x "
         f"{c['load_us']:.1f} µs / {c['written_back']:,} x {c['load_us']:.1f} µs = "
         + " / ".join(_secs(c["cpu_seconds"][k]) for k in ("compress", "decompress",
                                                            "writeback")), "-"),
    ]
    return rows


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
    backend = r.get("backend", "zswap")
    con.print(f"[bold]pyzswap run[/bold]: workload {r['workload']!r} ({r['description']}), "
              + (f"backend {backend}, " if backend != "zswap" else "")
              + (f"compressor {r['compressor']}, " if backend != "none" else "")
              + f"seed {r['seed']}")
    con.print(f"{len(r['processes'])} processes, {r['total_pages']:,} pages "
              f"({_mib(r['total_pages'] * 4096)}) in {_mib(r['ram_bytes'])} of RAM; "
              f"{r['events']:,} events in {r['wall_seconds']:.1f} s")
    summary = [
        ("memory saved (mean over the run)", _mib(mem["mean_saved_bytes"])),
        ("memory saved at the end", f"{_mib(mem['saved_bytes'])}"),
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
    if "cost" in r:
        dev = r["cost"]["swap_device"]
        table = Table(title=f"cost model: swap device {dev['name']} ({dev['source']})",
                      title_justify="left")
        table.add_column("")
        table.add_column(f"{r.get('backend', 'zswap')} ({r['label']})", justify="right")
        with_base = "baseline" in r  # not run with --no-baseline
        if with_base:
            table.add_column("no zswap (baseline)", justify="right")
        for row in cost_rows(r):
            table.add_row(*(row if with_base else row[:2]))
        con.print(table)
        if "versus_baseline" in r:
            con.print(_verdict(r))
    if r.get("zram"):
        z = r["zram"]
        con.print(_kv_table(f"zram mm_stat at the end ({z['compressor']}, disksize "
                            f"{_mib(z['disksize'])})",
                            [(k, f"{z[k]:,}") for k in ("orig_data_size", "compr_data_size",
                                                         "mem_used_total", "same_pages",
                                                         "huge_pages")]))
    con.print(_kv_table("/sys/kernel/debug/zswap", [(k, f"{v:,}")
                                                     for k, v in r["debugfs"].items()]))
    if r["debugfs"].get("pool_limit_hit") and not (r.get("host_memcgs") or
                                                   r.get("dying_memcgs")):
        con.print("zswap's pool limit was hit: how much its shrink worker writes back depends on "
                  "the machine's other memory cgroups, which this run had none of (--host-memcgs "
                  "and --dying-memcgs; auto reads this machine's: docs/KERNEL_ORACLE.md, \"What "
                  "paces the shrink worker\")")
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


def _verdict(r: Mapping[str, Any]) -> str:
    """One sentence on the trade-off against the baseline (means over the seeds)."""
    v = r["versus_baseline"]
    stall = v["stall_seconds"]
    saved = v["memory_saved_bytes"]
    verb = "adds" if stall > 0 else "saves"
    return (f"versus no zswap: {_mib(saved)} of RAM saved on average; {verb} "
            f"{_secs(abs(stall))} of estimated fault stall, {v['device_reads']:+,.0f} device "
            f"reads, {v['device_writes']:+,.0f} device writes, {_secs(v['cpu_seconds'])} "
            "more CPU")


def _checked(consistency: Mapping[str, Any]) -> str:
    if not consistency.get("verify", True):
        return "not verified (--no-verify)"
    if not consistency["verified_faults"]:
        return "nothing was swapped in (no memory pressure)"
    return "every fault returned its page"


def print_comparison(reports: Sequence[Mapping[str, Any]], console: Console | None = None) -> None:
    """Several runs of one workload side by side."""
    con = console or rich_console()
    for f in reports:
        if "failed" in f:
            con.print(f"[bold]{f['label']}[/bold]: {f['failed']}")
    reports = [r for r in reports if "failed" not in r]
    if not reports:
        return
    first = reports[0]
    nseeds = len(first.get("seeds", [first["seed"]]))
    con.print(f"[bold]pyzswap run[/bold]: workload {first['workload']!r}, "
              f"{first['total_pages']:,} pages, {first['events']:,} events, "
              + (f"seed {first['seed']}" if nseeds == 1 else
                 f"{nseeds} seeds from {first['seed']} (means)"))
    if "cost" in first:
        dev = first["cost"]["swap_device"]
        con.print(f"cost model: swap device {dev['name']}: {dev['source']}")
    table = Table(title="comparison", title_justify="left")
    table.add_column("")
    for r in reports:
        table.add_column(str(r["label"]), justify="right")
    # the baseline gets its own column unless it is one of the runs already
    with_base = "baseline" in first and all(r.get("backend") != "none" for r in reports)
    if with_base:
        table.add_column("no zswap (baseline)", justify="right")
    rows: list[tuple[str, Any]] = [
        ("RAM", lambda r: _mib(r["ram_bytes"])),
        ("saved now", lambda r: _mib(r["memory"]["saved_bytes"])),
        ("compression ratio", lambda r: f"{r['memory']['compression_ratio']:.2f}"),
        ("pool ratio", lambda r: f"{r['memory']['pool_ratio']:.2f}"),
        ("peak pool", lambda r: _mib(r["memory"]["peak_pool_total_size"])),
        ("swap-ins zswap", lambda r: f"{r['swapins']['zswap']:,}"),
        ("swap-ins disk", lambda r: f"{r['swapins']['disk']:,}"),
        ("written back", lambda r: f"{r['writeback']['written_back_pages']:,}"),
        ("pool_limit_hit", lambda r: f"{r['debugfs']['pool_limit_hit']:,}"),
        ("store p50 µs", lambda r: f"{r['latency']['store']['p50_us']:.1f}"),
        ("load p50 µs", lambda r: f"{r['latency']['load']['p50_us']:.1f}"),
        ("CPU store/load/wb s",
         lambda r: f"{r['cpu_seconds']['store']:.2f}/{r['cpu_seconds']['load']:.2f}/"
                   f"{r['cpu_seconds']['writeback']:.2f}"),
        ("wall s", lambda r: f"{r['wall_seconds']:.1f}"),
    ]
    cost: list[tuple[str, Any, Any]] = [
        ("saved (mean, seeds)", lambda r: _mib(_mean(r, "memory_saved_bytes", 0)),
         lambda r: "-"),
        ("est. stall in faults", lambda r: _secs(_mean(r, "stall_seconds", 0)),
         lambda r: _secs(r["baseline_spread"]["stall_seconds"]["mean"])),
        ("device reads", lambda r: f"{_mean(r, 'device_reads', 0):,.0f}",
         lambda r: f"{r['baseline_spread']['device_reads']['mean']:,.0f}"),
        ("device writes", lambda r: f"{_mean(r, 'device_writes', 0):,.0f}",
         lambda r: f"{r['baseline_spread']['device_writes']['mean']:,.0f}"),
        ("CPU compress+decompress+wb", lambda r: _secs(_mean(r, "cpu_seconds", 0)),
         lambda r: "-"),
    ]
    if "cost" in first:
        for name, get, base in cost:
            table.add_row(name, *(get(r) for r in reports),
                          *([base(first)] if with_base else []))
    zswap_only = {"compression ratio", "pool ratio", "peak pool", "swap-ins zswap",
                  "written back", "pool_limit_hit", "store p50 µs", "load p50 µs",
                  "CPU store/load/wb s"}
    for name, get in rows:
        table.add_row(name, *("-" if name in zswap_only and r.get("backend") == "none"
                              else get(r) for r in reports),
                      *(["-"] if with_base else []))
    con.print(table)


def _pm(sp: Mapping[str, Any], key: str, fmt: Any) -> str:
    f = sp[key]
    if f["n"] < 2 or f["min"] == f["max"]:
        return str(fmt(f["mean"]))
    return f"{fmt(f['mean'])} ± {fmt(f['stdev'])}"


def print_advice(a: Mapping[str, Any], console: Console | None = None, top: int = 12) -> None:
    """``pyzswap advise``: the ranked grid, the recommendation and how to apply it."""
    con = console or rich_console()
    dev = a["swap_device"]
    offers = a["kernel_offers"]
    con.print(f"[bold]pyzswap advise[/bold]: workload {a['workload']!r} ({a['description']}), "
              f"{a['total_pages']:,} pages in {_mib(a['ram_bytes'] or 0)} of RAM; "
              f"{a['seeds']} seeds per configuration; objective {a['objective']} "
              f"(score = {a['formula']})")
    con.print(f"swap device behind zswap: {dev['name']} ({dev['source']})")
    for backend, source in (("zswap", "/proc/crypto"), ("zram", "zram's comp_algorithm")):
        have = offers.get(backend)
        con.print(f"this kernel's {backend} offers: "
                  + (", ".join(have) + f" (from {source})" if have is not None else
                     f"unknown ({source} not readable; no zram device?)"))
    table = Table(title=f"ranking (best first; top {top})", title_justify="left")
    for col, just in (("#", "right"), ("configuration", "left"), ("score", "right"),
                      ("RAM saved (mean)", "right"), ("stall + CPU", "right"),
                      ("vs baseline", "right"), ("device reads", "right"), ("note", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for i, row in enumerate(a["grid"][:top], 1):
        if row["failed"]:
            table.add_row(str(i), row["label"], "-", "-", "-", "-", "-",
                          "does not fit: " + row["failed"].split(":")[0])
            continue
        sp = row["spread"]
        note = "not offered by this kernel" if row["offered"] is False else (
            "offer unknown" if row["offered"] is None else "")
        inc = row["time_increase"]
        table.add_row(str(i), row["label"], f"{row['score']:+.3f}",
                      _pm(sp, "memory_saved_bytes", _mib),
                      _pm(sp, "time_seconds", _secs),
                      "-" if inc is None else f"{inc:+.0%}",
                      _pm(sp, "device_reads", lambda x: f"{x:,.0f}"), note)
    con.print(table)
    failed = [r for r in a["grid"][top:] if r["failed"]]
    if failed:
        con.print(f"{len(failed)} more configuration(s) do not fit: "
                  + ", ".join(r["label"] for r in failed))
    best = a["recommendation"]
    if best is None:
        con.print("[bold]no recommendation[/bold]: no configuration of the grid ran")
        return
    sp = best["spread"]
    if best["backend"] == "none":
        con.print("[bold]recommendation: leave zswap off[/bold] (no configuration of the grid "
                  f"beats the baseline for objective {a['objective']})")
    else:
        con.print(f"[bold]recommendation: {best['label']}[/bold]")
        v = best.get("versus_baseline") or {}
        base_stall = sp["stall_seconds"]["mean"] - v.get("stall_seconds", 0)
        con.print(f"expected, versus no zswap: RAM saved {_pm(sp, 'memory_saved_bytes', _mib)}"
                  f" on average; fault stall {_pm(sp, 'stall_seconds', _secs)} "
                  f"(baseline {_secs(base_stall)}); "
                  f"CPU {_pm(sp, 'cpu_seconds', _secs)}; device reads "
                  f"{v.get('device_reads', 0):+,.0f}, writes {v.get('device_writes', 0):+,.0f} "
                  f"(means over {sp['memory_saved_bytes']['n']} seeds, ± one standard deviation)")
    apply = a["apply"]
    con.print("[bold]apply now[/bold] (as root; lasts until reboot):")
    con.print(apply["runtime"], markup=False, highlight=False)
    con.print("[bold]kernel command line[/bold] (persistent): " + apply["kernel_command_line"],
              highlight=False)
    if "zram_generator" in apply:
        con.print("[bold]zram-generator[/bold]:")
        con.print(apply["zram_generator"], markup=False, highlight=False)
    con.print(apply["note"], highlight=False)
