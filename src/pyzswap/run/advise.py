"""``pyzswap advise``: should this workload get zswap, zram or neither, with which settings?

:func:`advise_grid` is the small grid that decides it: zswap with each compressor this kernel
offers x ``max_pool_percent`` x ``shrinker_enabled``, zram with each compressor zram offers, and
no compression (the baseline). :func:`rank` scores every configuration of the grid, run by
:func:`pyzswap.run.evaluate.evaluate` over several seeds, for an objective:

* ``saved`` = the mean memory the compressed pool saves (mean over the run, then over the
  seeds) as a fraction of RAM;
* ``time`` = estimated fault stall plus CPU time of compression, decompression and writeback
  (the cost model, :mod:`pyzswap.run.cost`), and ``time_increase`` = ``(time - time of the
  baseline) / time of the baseline``;

``--objective memory``
    score = ``saved`` (ties: less ``time``);
``--objective latency``
    score = ``-time_increase`` (the baseline scores 0: only a configuration that makes faults
    cheaper can beat it);
``--objective balanced`` (default)
    score = ``saved - time_increase``: saving 10% of RAM is worth 10% more time lost in faults
    and CPU. The baseline scores 0, so zswap is recommended only when it pays by this measure.

A configuration that runs out of memory (zram whose pool would take most of RAM) ranks last;
a compressor the running kernel does not offer is never recommended (``offered: false``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from ..compress import available_compressors
from .harness import RunConfig

__all__ = ["OBJECTIVES", "POOL_PERCENTS", "advise_grid", "apply_commands", "kernel_offers",
           "rank"]

OBJECTIVES: Final = ("memory", "latency", "balanced")
#: max_pool_percent values of the grid.
POOL_PERCENTS: Final = (10, 20, 40)
#: What pyzswap can model for each backend (zram: the kernel's zcomp backends).
_ZSWAP_CANDIDATES: Final = ("lzo", "lzo-rle", "lz4", "zstd", "deflate")
_ZRAM_CANDIDATES: Final = ("lzo", "lzo-rle", "lz4", "zstd", "deflate")


def kernel_offers() -> dict[str, list[str] | None]:
    """The compressors the running kernel offers: zswap's from ``/proc/crypto``, zram's from an
    existing device's ``comp_algorithm`` (None: unknown, no zram device). Reads only; no root
    needed."""
    from ..tools.kernel.zram import zram_algorithms
    from ..tools.kernel.zswap import zswap_algorithms

    out: dict[str, list[str] | None] = {}
    try:
        out["zswap"] = zswap_algorithms()
    except OSError:
        out["zswap"] = None
    try:
        out["zram"] = zram_algorithms() or None
    except OSError:
        out["zram"] = None
    return out


def _offered(name: str, offers: list[str] | None) -> bool | None:
    return None if offers is None else name in offers


def advise_grid(base: RunConfig, offers: Mapping[str, list[str] | None], *,
                compressors: Sequence[str] | None = None,
                pool_percents: Iterable[int] = POOL_PERCENTS,
                include_unoffered: bool = False,
                backends: Sequence[str] = ("zswap", "zram")) -> list[RunConfig]:
    """The grid's configurations (the baseline is added by the evaluation). Compressors default
    to those the kernel offers for each backend that pyzswap has (all candidates where the
    kernel's list is unknown; every candidate with ``include_unoffered``)."""
    have = set(available_compressors())
    grid: list[RunConfig] = []
    for backend, candidates in (("zswap", _ZSWAP_CANDIDATES), ("zram", _ZRAM_CANDIDATES)):
        if backend not in backends:
            continue
        names = list(compressors) if compressors else [
            c for c in candidates if c in have and (
                include_unoffered or _offered(c, offers.get(backend)) is not False)]
        for name in names:
            if backend == "zram":
                grid.append(replace(base, backend="zram", compressor=name,
                                    label=f"zram {name}"))
                continue
            for pct in pool_percents:
                for shrinker in (False, True):
                    grid.append(replace(
                        base, backend="zswap", compressor=name, max_pool_percent=pct,
                        shrinker_enabled=shrinker,
                        label=f"zswap {name} {pct}%{' shrinker' if shrinker else ''}"))
    return grid


def _time(r: Mapping[str, Any], spread_key: str = "spread") -> float:
    return float(r[spread_key]["time_seconds"]["mean"])


def rank(results: Sequence[Mapping[str, Any]], objective: str,
         offers: Mapping[str, list[str] | None]) -> list[dict[str, Any]]:
    """One row per configuration plus the baseline, best first (module docstring)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}")
    ok = [r for r in results if "failed" not in r]
    rows: list[dict[str, Any]] = []
    if not ok:
        return [_failed_row(r, offers) for r in results]
    first = ok[0]
    ram = float(first["ram_bytes"])
    base_time = _time(first, "baseline_spread")
    base_sp = first["baseline_spread"]
    rows.append(_row("no zswap (baseline)", "none", None, None, None, base_sp, ram, base_time,
                     base_time, objective, True))
    for r in results:
        if "failed" in r:
            rows.append(_failed_row(r, offers))
            continue
        params = r["parameters"]
        backend = r["backend"]
        if backend == "none":
            continue  # the baseline row
        offered = _offered(r["compressor"], offers.get(backend))
        row = _row(r["label"], backend, r["compressor"],
                   params.get("max_pool_percent") if backend == "zswap" else None,
                   params.get("shrinker_enabled") if backend == "zswap" else None,
                   r["spread"], ram, _time(r), base_time, objective, offered)
        row["versus_baseline"] = r.get("versus_baseline")
        if backend == "zram":
            row["zram"] = r["zram"]
        rows.append(row)
    rows.sort(key=lambda x: (x["failed"] is not None, x["offered"] is False, -x["score"],
                             x["time_seconds"] if x["time_seconds"] is not None else math.inf))
    return rows


def _row(label: str, backend: str, compressor: str | None, pct: Any, shrinker: Any,
         sp: Mapping[str, Any], ram: float, time_s: float, base_time: float, objective: str,
         offered: bool | None) -> dict[str, Any]:
    saved = float(sp["memory_saved_bytes"]["mean"]) / ram if ram else 0.0
    increase = (time_s - base_time) / base_time if base_time > 0 else (
        0.0 if time_s == base_time else math.inf)
    score = {"memory": saved, "latency": -increase, "balanced": saved - increase}[objective]
    return {"label": label, "backend": backend, "compressor": compressor,
            "max_pool_percent": pct, "shrinker_enabled": shrinker, "offered": offered,
            "failed": None, "score": round(score, 6) if math.isfinite(score) else -1e9,
            "saved_fraction": round(saved, 6), "time_seconds": round(time_s, 6),
            "time_increase": round(increase, 6) if math.isfinite(increase) else None,
            "spread": dict(sp)}


def _failed_row(r: Mapping[str, Any], offers: Mapping[str, list[str] | None]
                ) -> dict[str, Any]:
    return {"label": r["label"], "backend": r["backend"], "compressor": r["compressor"],
            "max_pool_percent": None, "shrinker_enabled": None,
            "offered": _offered(r["compressor"], offers.get(r["backend"])),
            "failed": r["failed"], "score": -1e9, "saved_fraction": 0.0,
            "time_seconds": None, "time_increase": None, "spread": {}}


def apply_commands(row: Mapping[str, Any], zram_size_bytes: int | None = None
                   ) -> dict[str, str]:
    """How to apply a recommendation: runtime sysfs writes, the kernel command line, and (zram)
    a zram-generator configuration. The runtime writes last until reboot."""
    backend = row["backend"]
    if backend == "none":
        return {
            "runtime": "echo N > /sys/module/zswap/parameters/enabled",
            "kernel_command_line": "zswap.enabled=0",
            "note": "keep the swap device as it is; zswap off means every swapped-out page goes "
                    "to it",
        }
    if backend == "zswap":
        c, pct = row["compressor"], row["max_pool_percent"]
        shrink = "Y" if row["shrinker_enabled"] else "N"
        return {
            "runtime": "\n".join([
                f"echo {c} > /sys/module/zswap/parameters/compressor",
                f"echo {pct} > /sys/module/zswap/parameters/max_pool_percent",
                f"echo {shrink} > /sys/module/zswap/parameters/shrinker_enabled",
                "echo Y > /sys/module/zswap/parameters/enabled"]),
            "kernel_command_line": (f"zswap.enabled=1 zswap.compressor={c} "
                                    f"zswap.max_pool_percent={pct} "
                                    f"zswap.shrinker_enabled={shrink}"),
            "note": "zswap needs a swap device behind it (swapon); do not put it in front of "
                    "zram (pages would be compressed twice)",
        }
    c = row["compressor"]
    size = _size_arg(zram_size_bytes)
    return {
        "runtime": "\n".join([
            "echo N > /sys/module/zswap/parameters/enabled",
            "modprobe zram",
            f"dev=$(zramctl --find --size {size} --algorithm {c})",
            "mkswap \"$dev\" && swapon --priority 100 \"$dev\""]),
        "kernel_command_line": "zswap.enabled=0",
        "zram_generator": "\n".join([
            "# /etc/systemd/zram-generator.conf (then: systemctl daemon-reload && "
            "systemctl start systemd-zram-setup@zram0.service)",
            "[zram0]", f"zram-size = {size_mib(zram_size_bytes)}",
            f"compression-algorithm = {c}", "swap-priority = 100"]),
        "note": "zram holds compressed pages in RAM with no disk behind it: size it for the "
                "swapped-out data (disksize counts uncompressed pages)",
    }


def _size_arg(nbytes: int | None) -> str:
    if not nbytes:
        return "50%"  # not reached: the CLI always passes a size
    return f"{max(1, math.ceil(nbytes / (1 << 20)))}M"


def size_mib(nbytes: int | None) -> str:
    """zram-generator's ``zram-size`` (an expression in MiB)."""
    if not nbytes:
        return "ram / 2"
    return str(max(1, math.ceil(nbytes / (1 << 20))))
