"""A read-only live view of this host's zswap, zram and swap: what ``pyzswap status`` shows.

Everything here only *reads* procfs, sysfs, debugfs and cgroupfs; nothing is mounted, written or
loaded (an unmounted debugfs is reported with the command that would mount it, not mounted).
Each source that cannot be read (no zswap in the kernel, debugfs not mounted or not readable
without root, no zram) becomes a one-line ``unavailable`` reason in the result instead of an
error, so the view works for any user on any kernel and shows what it can.

Sources, with the kernel's names:

* ``/sys/module/zswap/parameters/*``: the module parameters (``enabled``, ``compressor``,
  ``max_pool_percent``, ``accept_threshold_percent``, ``shrinker_enabled``).
* ``/sys/kernel/debug/zswap/*``: the pool statistics (``pool_total_size``, ``stored_pages``,
  ``written_back_pages``, ``reject_*`` …); root and a mounted debugfs.
* ``/proc/meminfo``: ``Zswap`` (the pool's size) and ``Zswapped`` (what it holds uncompressed),
  readable by anyone, so the compression ratio is shown without debugfs.
* ``/proc/vmstat``: ``zswpout``, ``zswpin``, ``zswpwb``, ``pswpout``, ``pswpin``,
  ``swpout_zero``, ``swpin_zero`` — totals since boot, and rates per second between two samples.
* cgroups: on cgroup v2, each group's ``memory.zswap.current``, ``memory.zswap.max``,
  ``memory.zswap.writeback`` and the ``zswap``/``zswapped``/``zswpout``/``zswpin``/``zswpwb``
  lines of ``memory.stat``; cgroup v1 has no per-group zswap accounting (zswap is not charged to
  v1 memcgs), which the view says.
* ``/sys/block/zram*``: initialised zram devices' ``mm_stat`` fields, algorithm and disk size.
* ``/proc/swaps``: the active swap areas.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import click

from .._cliutil import EXIT_USAGE, console, one_line_errors
from .kernel._host import HOST, HostPaths, mem_info, read_text, read_vmstat

__all__ = [
    "MAX_CGROUPS",
    "MM_STAT_FIELDS",
    "VMSTAT_COUNTERS",
    "StatusPaths",
    "collect",
    "human_bytes",
    "rates",
    "render",
    "status",
]

#: ``/proc/vmstat`` counters shown, in this order (pages; events since boot).
VMSTAT_COUNTERS: Final = ("zswpout", "zswpin", "zswpwb", "pswpout", "pswpin", "swpout_zero",
                          "swpin_zero")
#: ``/sys/block/zramN/mm_stat`` fields in the kernel's order (zram.rst).
MM_STAT_FIELDS: Final = ("orig_data_size", "compr_data_size", "mem_used_total", "mem_limit",
                         "mem_used_max", "same_pages", "pages_compacted", "huge_pages",
                         "huge_pages_since")
_CGROUP_ZSWAP_STAT: Final = ("zswap", "zswapped", "zswpout", "zswpin", "zswpwb")
#: At most this many cgroups are listed (largest zswap usage first).
MAX_CGROUPS: Final = 200


@dataclass(frozen=True)
class StatusPaths:
    """Where the host's files are: the kernel oracle's :class:`HostPaths` plus the cgroup root.

    Tests point both at a fixture tree."""

    host: HostPaths = HOST
    cgroup: Path = Path("/sys/fs/cgroup")

    @classmethod
    def under(cls, root: Path) -> StatusPaths:
        """Every path re-rooted at ``root`` (``root/sys/...``, ``root/proc``)."""
        def at(p: Path) -> Path:
            return root / p.relative_to("/")

        h = HOST
        return cls(HostPaths(zswap_params=at(h.zswap_params), debugfs=at(h.debugfs),
                             zram_control=at(h.zram_control), sys_block=at(h.sys_block),
                             dev=at(h.dev), proc=at(h.proc), run_dir=at(h.run_dir)),
                   at(Path("/sys/fs/cgroup")))


def human_bytes(n: float) -> str:
    """``1536`` → ``1.5 KiB``; binary units as zramctl prints them."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _section(read: Callable[[], Any]) -> dict[str, Any]:
    """``read()``'s result under ``"values"``, or the one-line reason it could not be read."""
    try:
        return {"values": read()}
    except PermissionError as exc:
        return {"unavailable": f"{exc.filename}: permission denied (try as root)"}
    except FileNotFoundError as exc:
        why = exc.strerror if exc.strerror and exc.strerror != os.strerror(errno.ENOENT) \
            else "not present"
        return {"unavailable": f"{exc.filename}: {why}"}
    except (OSError, ValueError) as exc:
        return {"unavailable": str(exc)}


def _zswap_params(p: StatusPaths) -> dict[str, str]:
    d = p.host.zswap_params
    if not d.is_dir():
        raise FileNotFoundError(2, "no zswap in this kernel", str(d))
    return {f.name: read_text(f) for f in sorted(d.iterdir()) if f.is_file()}


def _debugfs_mounted(p: StatusPaths) -> bool:
    target = str(p.host.debugfs)
    with contextlib.suppress(OSError):
        for line in (p.host.proc / "mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == target and parts[2] == "debugfs":
                return True
    return False


def _zswap_debugfs(p: StatusPaths) -> dict[str, int]:
    base = p.host.zswap_debugfs
    if not base.is_dir():
        if not _debugfs_mounted(p):
            raise OSError(f"debugfs is not mounted (as root: mount -t debugfs none "
                          f"{p.host.debugfs})")
        raise OSError(f"{base} is missing (zswap was never enabled, or not readable)")
    out: dict[str, int] = {}
    for f in sorted(base.iterdir()):
        with contextlib.suppress(ValueError, IndexError):
            out[f.name] = int(read_text(f).split()[0])
    return out


def _meminfo(p: StatusPaths) -> dict[str, int]:
    info = mem_info(p.host)
    keys = ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree", "SwapCached", "Zswap",
            "Zswapped")
    return {k: info[k] for k in keys if k in info}


def _vmstat(p: StatusPaths) -> dict[str, int]:
    vm = read_vmstat(p.host)
    return {k: vm[k] for k in VMSTAT_COUNTERS if k in vm}


def _swaps(p: StatusPaths) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in (p.host.proc / "swaps").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5:
            out.append({"name": parts[0], "type": parts[1], "size": int(parts[2]) * 1024,
                        "used": int(parts[3]) * 1024, "priority": int(parts[4])})
    return out


def _zram(p: StatusPaths) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for dev in sorted(p.host.sys_block.glob("zram*"), key=lambda d: (len(d.name), d.name)):
        try:
            if read_text(dev / "initstate").strip() != "1":
                continue
            fields = [int(x) for x in read_text(dev / "mm_stat").split()]
            algs = read_text(dev / "comp_algorithm").split()
        except (OSError, ValueError):
            continue
        selected = next((a[1:-1] for a in algs if a.startswith("[")), None)
        out.append({"device": dev.name, "algorithm": selected,
                    "disksize": int(read_text(dev / "disksize")),
                    "mm_stat": dict(zip(MM_STAT_FIELDS, fields, strict=False))})
    return out


def _cgroup_version(root: Path) -> int | None:
    """2 if the memory controller is on the unified hierarchy at ``root``, 1 if a v1 memory
    hierarchy is mounted at ``root/memory``, None if neither."""
    with contextlib.suppress(OSError):
        if "memory" in (root / "cgroup.controllers").read_text().split():
            return 2
    if (root / "memory" / "memory.usage_in_bytes").exists():
        return 1
    return None


def _memory_stat(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[name] = int(value)
    return out


def _cgroups(p: StatusPaths) -> dict[str, Any]:
    version = _cgroup_version(p.cgroup)
    if version is None:
        raise FileNotFoundError(2, "no memory cgroup hierarchy", str(p.cgroup))
    if version == 1:
        return {"version": 1, "groups": [],
                "note": "cgroup v1: zswap is not charged to memory cgroups, so there is no "
                        "per-cgroup zswap usage (memory.zswap.* exist only on cgroup v2)"}
    groups: list[dict[str, Any]] = []
    for current in sorted(p.cgroup.rglob("memory.zswap.current")):
        d = current.parent
        with contextlib.suppress(OSError, ValueError):
            stat = _memory_stat(d / "memory.stat")
            rel = d.relative_to(p.cgroup)
            row: dict[str, Any] = {
                "path": "/" if rel == Path(".") else f"/{rel}",
                "zswap_current": int(read_text(current)),
                "zswap_max": read_text(d / "memory.zswap.max"),
            }
            wb = d / "memory.zswap.writeback"
            if wb.exists():
                row["zswap_writeback"] = read_text(wb) == "1"
            row.update({k: stat[k] for k in _CGROUP_ZSWAP_STAT if k in stat})
            groups.append(row)
    groups.sort(key=lambda g: (-int(g["zswap_current"]), g["path"]))
    return {"version": 2, "groups": groups[:MAX_CGROUPS], "total_groups": len(groups)}


def collect(paths: StatusPaths | None = None) -> dict[str, Any]:
    """One snapshot of everything the view shows (see the module docstring); JSON-ready."""
    p = paths or StatusPaths()
    snap: dict[str, Any] = {
        "time": time.time(),
        "zswap_parameters": _section(lambda: _zswap_params(p)),
        "zswap_debugfs": _section(lambda: _zswap_debugfs(p)),
        "meminfo": _section(lambda: _meminfo(p)),
        "vmstat": _section(lambda: _vmstat(p)),
        "swaps": _section(lambda: _swaps(p)),
        "zram": _section(lambda: _zram(p)),
        "cgroups": _section(lambda: _cgroups(p)),
    }
    mi = snap["meminfo"].get("values", {})
    if mi.get("Zswap"):
        snap["compression_ratio"] = round(mi.get("Zswapped", 0) / mi["Zswap"], 3)
    return snap


def rates(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float] | None:
    """Per-second rates of the vmstat counters between two :func:`collect` snapshots (None if
    either lacks vmstat or no time passed)."""
    a = before["vmstat"].get("values")
    b = after["vmstat"].get("values")
    seconds = after["time"] - before["time"]
    if a is None or b is None or seconds <= 0:
        return None
    return {f"{k}_per_s": round((b[k] - a[k]) / seconds, 1) for k in b if k in a}


def _fmt_param(name: str, value: str) -> str:
    return {"Y": "yes", "N": "no"}.get(value, value)


def render(snap: dict[str, Any], per_s: dict[str, float] | None) -> Any:
    """The snapshot as rich tables (a ``Group``), human sizes, rates where known."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []

    def table(title: str, *columns: str) -> Table:
        t = Table(title=title, title_justify="left", title_style="bold")
        for i, c in enumerate(columns):
            t.add_column(c, justify="left" if i == 0 else "right")
        parts.append(t)
        return t

    def unavailable(title: str, section: dict[str, Any]) -> bool:
        if "unavailable" in section:
            parts.append(Text(f"{title}: unavailable — {section['unavailable']}"))
            return True
        return False

    sec = snap["zswap_parameters"]
    if not unavailable("zswap parameters", sec):
        t = table("zswap parameters", "parameter", "value")
        for k, v in sec["values"].items():
            t.add_row(k, _fmt_param(k, v))
    mi = snap["meminfo"].get("values", {})
    t = table("zswap pool", "", "value")
    if "Zswap" in mi:
        t.add_row("pool size (meminfo Zswap)", human_bytes(mi["Zswap"]))
        t.add_row("stored, uncompressed (Zswapped)", human_bytes(mi.get("Zswapped", 0)))
        ratio = snap.get("compression_ratio")
        t.add_row("compression ratio", f"{ratio:.2f}" if ratio else "-")
    sec = snap["zswap_debugfs"]
    if "values" in sec:
        for k, v in sec["values"].items():
            t.add_row(k, human_bytes(v) if k == "pool_total_size" else f"{v:,}")
    else:
        parts.append(Text(f"zswap debugfs statistics: unavailable — {sec['unavailable']}"))
    sec = snap["vmstat"]
    if not unavailable("vmstat", sec):
        t = table("swap traffic (pages)", "counter", "total", "per second")
        for k, v in sec["values"].items():
            rate = per_s.get(f"{k}_per_s") if per_s else None
            t.add_row(k, f"{v:,}", "-" if rate is None else f"{rate:,.1f}")
    sec = snap["swaps"]
    if not unavailable("swap areas", sec):
        t = table("swap areas", "name", "type", "size", "used", "priority")
        for s in sec["values"]:
            t.add_row(s["name"], s["type"], human_bytes(s["size"]), human_bytes(s["used"]),
                      str(s["priority"]))
        if not sec["values"]:
            t.add_row("(no swap active)", "", "", "", "")
    sec = snap["zram"]
    if not unavailable("zram", sec) and sec["values"]:
        t = table("zram devices", "device", "algorithm", "disksize", "data",
                  "compressed", "memory used", "same pages", "huge pages")
        for z in sec["values"]:
            m = z["mm_stat"]
            t.add_row(z["device"], z["algorithm"] or "?", human_bytes(z["disksize"]),
                      human_bytes(m.get("orig_data_size", 0)),
                      human_bytes(m.get("compr_data_size", 0)),
                      human_bytes(m.get("mem_used_total", 0)),
                      f"{m.get('same_pages', 0):,}", f"{m.get('huge_pages', 0):,}")
    sec = snap["cgroups"]
    if not unavailable("cgroups", sec):
        cg = sec["values"]
        if cg["version"] == 1:
            parts.append(Text(cg["note"]))
        else:
            t = table("memory cgroups (largest zswap first)", "cgroup", "zswap.current",
                      "zswap.max", "writeback", "zswapped", "zswpout", "zswpin", "zswpwb")
            for g in cg["groups"]:
                t.add_row(g["path"], human_bytes(g["zswap_current"]), g["zswap_max"],
                          {True: "1", False: "0"}.get(g.get("zswap_writeback"), "-"),
                          human_bytes(g.get("zswapped", 0)), f"{g.get('zswpout', 0):,}",
                          f"{g.get('zswpin', 0):,}", f"{g.get('zswpwb', 0):,}")
    return Group(*parts)


class StatusError(click.ClickException):
    exit_code = EXIT_USAGE


@click.command()
@click.option("--json", "as_json", is_flag=True,
              help="print one JSON object (with --watch: one per refresh, a line each)")
@click.option("--watch", is_flag=True, help="refresh every --interval seconds until Ctrl-C")
@click.option("--interval", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
              help="seconds between the two samples that give the per-second rates "
                   "(0: totals only)")
@click.option("--root", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, hidden=True, help="read /sys and /proc under this directory")
@one_line_errors(StatusError)
def status(as_json: bool, watch: bool, interval: float, root: Path | None) -> None:
    """Show this host's zswap, zram and swap: parameters, pool statistics, swap traffic rates,
    per-cgroup zswap usage and zram devices. Read-only: it changes nothing (some sources need
    root or a mounted debugfs; it says which)."""
    import json

    if watch and interval <= 0:
        raise StatusError("--watch needs an --interval above 0")
    paths = StatusPaths.under(root) if root is not None else StatusPaths()
    out = console()

    def emit(snap: dict[str, Any], per_s: dict[str, float] | None) -> None:
        if as_json:
            click.echo(json.dumps({**snap, "rates": per_s}, indent=None if watch else 2,
                                  separators=(",", ":") if watch else None))
        else:
            out.print(render(snap, per_s))

    before = collect(paths)
    if not watch:
        if interval > 0:
            time.sleep(interval)
            after = collect(paths)
            emit(after, rates(before, after))
        else:
            emit(before, None)
        return
    try:
        if as_json or not out.is_terminal:
            while True:
                time.sleep(interval)
                after = collect(paths)
                emit(after, rates(before, after))
                before = after
        else:
            from rich.live import Live

            with Live(render(before, None), console=out, auto_refresh=False,
                      screen=False) as live:
                while True:
                    time.sleep(interval)
                    after = collect(paths)
                    live.update(render(after, rates(before, after)), refresh=True)
                    before = after
    except KeyboardInterrupt:
        return
