"""What a replay measured: the replayer's output records and the counter files of its samples,
turned into the run's metrics and timeline (the contract of :mod:`.replay`)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ._host import KernelRunError
from .lrutrace import LruCounts
from .replay_program import CompiledTrace

__all__ = [
    "COUNTER_KEYS",
    "DEBUGFS_COUNTERS",
    "GAUGE_KEYS",
    "METRIC_KEYS",
    "Output",
    "SampleFiles",
    "parse_keyed",
    "parse_output",
    "replay_result",
]

#: The JSON's counters (deltas over the run), in the order of the trace semantics.
COUNTER_KEYS: Final = (
    "zswpout", "zswpin", "zswpwb", "pswpin", "pswpout", "swpout_zero", "swpin_zero",
    "pgmajfault", "pgscan_anon", "pgsteal_anon", "pgactivate", "pgdeactivate",
    "workingset_refault_anon", "workingset_activate_anon",
)
#: zswap's debugfs gauges (values at the end of the run).
GAUGE_KEYS: Final = ("pool_total_size", "stored_pages", "stored_incompressible_pages")
#: zswap's debugfs counters (deltas).
DEBUGFS_COUNTERS: Final = ("written_back_pages", "pool_limit_hit")
#: Every metric of the JSON, in order.
METRIC_KEYS: Final = (*COUNTER_KEYS, *GAUGE_KEYS, *DEBUGFS_COUNTERS)
#: Counters read from the trace's cgroups rather than /proc/vmstat where the cgroup version has
#: them (v1's memory.stat has only these two of the list; the hierarchical "total_" form covers
#: every group of the trace). /proc/vmstat counts the whole host, so a counter other processes
#: also move (pgmajfault: anyone's file reads) is better taken from the group.
_MEMCG_COUNTERS: Final = {1: {"pgmajfault": "total_pgmajfault",
                              "workingset_refault_anon": "total_workingset_refault_anon"},
                          2: {k: k for k in COUNTER_KEYS}}
#: Counted from the replay's own tracepoints under cgroup v1 (:mod:`.lrutrace`).
_LRU_KEYS: Final = ("pgactivate", "pgdeactivate")
#: Extra per-sample series of the timeline (besides t, stored_pages, pool_total_size).
_TIMELINE_COUNTERS: Final = ("zswpout", "zswpin", "pswpin", "pswpout", "written_back_pages")




@dataclass
class _Sample:
    kind: str
    accesses: int
    ns: int
    files: dict[int, str]


@dataclass
class Output:
    samples: list[_Sample]
    verify: dict[int, tuple[int, int, int]]
    cpu_ns: dict[int, int]
    done_ns: int | None
    error: str | None
    clock_ns: int = 0


def parse_output(raw: bytes) -> Output:
    """The replayer's records (csrc/replay.h)."""
    out = Output([], {}, {}, None, None)
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        if end < 0:
            break
        words = raw[pos:end].decode(errors="replace").split()
        pos = end + 1
        if not words:
            continue
        if words[0] == "sample":
            out.samples.append(_Sample(words[1], int(words[2]), int(words[3]), {}))
        elif words[0] == "file":
            length = int(words[2])
            out.samples[-1].files[int(words[1])] = raw[pos:pos + length].decode(errors="replace")
            pos += length + 1
        elif words[0] == "verify":
            out.verify[int(words[1])] = (int(words[2]), int(words[3]), int(words[4]))
            out.cpu_ns[int(words[1])] = int(words[5])
        elif words[0] == "done":
            out.done_ns = int(words[1])
        elif words[0] == "clock":
            out.clock_ns = int(words[1])
        elif words[0] == "error":
            out.error = " ".join(words[1:])
    return out




def parse_keyed(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            with contextlib.suppress(ValueError):
                out[parts[0]] = int(parts[1])
    return out


@dataclass
class SampleFiles:
    """Which counter file sits at which index of a sample, and how to read them."""

    paths: list[str] = field(default_factory=list)
    vmstat: int = -1
    debugfs: dict[str, int] = field(default_factory=dict)
    parent_stat: int = -1
    parent_usage: int = -1
    group_stat: dict[str, int] = field(default_factory=dict)
    group_usage: dict[str, int] = field(default_factory=dict)

    def add(self, path: Path) -> int:
        self.paths.append(str(path))
        return len(self.paths) - 1


def _sample_values(sample: _Sample, files: SampleFiles, version: int,
                   lru: tuple[LruCounts, int] | None) -> dict[str, int]:
    """Every metric's raw (cumulative or gauge) value at one sample. ``lru``: the traced
    (de)activation counts and the replayer's clock at its first step."""
    vm = parse_keyed(sample.files.get(files.vmstat, ""))
    values: dict[str, int] = {k: vm[k] for k in COUNTER_KEYS if k in vm}
    if lru is not None:
        for key in _LRU_KEYS:
            if key in values:
                values[f"host_{key}"] = values[key]
        counts, clock = lru
        values["pgactivate"], values["pgdeactivate"] = counts.at(clock + sample.ns)
    if files.parent_stat >= 0:
        stat = parse_keyed(sample.files.get(files.parent_stat, ""))
        for key, name in _MEMCG_COUNTERS[version].items():
            if name in stat:
                values[key] = stat[name]
    for name, i in files.debugfs.items():
        with contextlib.suppress(ValueError):
            values[name] = int(sample.files.get(i, "").split()[0])
    if files.parent_usage >= 0:
        with contextlib.suppress(ValueError, IndexError):
            values["memcg_usage"] = int(sample.files[files.parent_usage].split()[0])
    return values


def replay_result(compiled: CompiledTrace, out: Output, files: SampleFiles, version: int,
            counts: LruCounts | None) -> dict[str, Any]:
    """The contract's metrics and timeline from the samples (see the module docstring)."""
    timeline_samples = [s for s in out.samples if s.kind == "t"]
    if not timeline_samples:
        raise KernelRunError("the replayer took no samples")
    lru = None if counts is None else (counts, out.clock_ns)

    def _values(sample: _Sample) -> dict[str, int]:
        return _sample_values(sample, files, version, lru)

    first = _values(timeline_samples[0])
    last = _values(timeline_samples[-1])
    host_wide = tuple(f"host_{k}" for k in _LRU_KEYS)
    counters = (*COUNTER_KEYS, *DEBUGFS_COUNTERS, *host_wide)
    # Around every exit: the check's own swap-ins, taken out of every later counter value.
    adjust_at: list[tuple[int, dict[str, int]]] = []
    pending: _Sample | None = None
    paused_ns = 0
    for s in out.samples:
        if s.kind == "pre":
            pending = s
        elif s.kind == "post" and pending is not None:
            pre, post = _values(pending), _values(s)
            adjust_at.append((s.ns, {k: post[k] - pre[k] for k in counters
                                     if k in pre and k in post}))
            paused_ns += s.ns - pending.ns
            pending = None

    def counter(values: dict[str, int], key: str, ns: int) -> int | None:
        if key not in values or key not in first:
            return None
        taken = sum(d.get(key, 0) for at, d in adjust_at if at <= ns)
        return values[key] - first[key] - taken

    metrics: dict[str, Any] = {}
    for key in METRIC_KEYS:
        if key in GAUGE_KEYS:
            metrics[key] = last.get(key)
        else:
            metrics[key] = counter(last, key, timeline_samples[-1].ns)
    total = max(compiled.total_accesses, 1)
    timeline = []
    for s in timeline_samples:
        v = _values(s)
        point: dict[str, Any] = {"t": round(s.accesses / total, 6),
                                 "stored_pages": v.get("stored_pages"),
                                 "pool_total_size": v.get("pool_total_size")}
        for key in _TIMELINE_COUNTERS:
            point[key] = counter(v, key, s.ns)
        if "memcg_usage" in v:
            point["memcg_usage"] = v["memcg_usage"]
        timeline.append(point)
    wall_ns = timeline_samples[-1].ns - timeline_samples[0].ns - paused_ns
    exits = {key: sum(d.get(key, 0) for _, d in adjust_at) for key in counters}
    return {**metrics, "timeline": timeline, "wall_seconds": round(wall_ns / 1e9, 3),
            "exit_check_adjustment": {k: v for k, v in exits.items() if v},
            "host_vmstat": {k[5:]: counter(last, k, timeline_samples[-1].ns) for k in host_wide
                            if k in last}}
