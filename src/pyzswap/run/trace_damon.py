"""DAMON access reports as traces: :func:`parse_damo_report` converts the text that
``damo report access --raw_form`` prints (``damo report raw`` in older versions;
``--raw_number`` or not) into a :class:`~pyzswap.run.trace.Trace`. See its docstring for what
is kept and what is approximated.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from ..errors import CorruptData, InvalidParameter
from ..folio import PAGE_SIZE
from ..tools.pagesets import DEFAULT_PAGESET, PAGESETS
from .trace import ProcSpec, Trace, TraceEvent, is_uint

__all__ = ["parse_damo_report", "parse_damo_report_text"]

_TIME_UNITS_NS: Final[dict[str, int]] = {
    "ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
    "h": 3_600_000_000_000, "d": 86_400_000_000_000,
}


def _damo_time_ns(text: str) -> int | None:
    """A damo time: raw nanoseconds (``--raw_number``) or ``1 m 2.500 s`` style; None if bad."""
    text = text.strip().replace(",", "")
    sign = 1
    if text.startswith("-"):
        sign, text = -1, text[1:]
    if is_uint(text):
        return sign * int(text)
    fields = text.split()
    if not fields or len(fields) % 2:
        return None
    total = 0.0
    for number, unit in zip(fields[::2], fields[1::2], strict=True):
        if unit not in _TIME_UNITS_NS:
            return None
        try:
            total += float(number) * _TIME_UNITS_NS[unit]
        except ValueError:
            return None
    return sign * round(total)


@dataclass
class _DamoSnapshot:
    start_ns: int
    seq: int
    line: int
    target: int | None = None
    nr_regions: int | None = None
    nr_regions_line: int = 0
    #: (first page, end page exclusive, nr_accesses, line)
    regions: list[tuple[int, int, int, int]] = field(default_factory=list)


def parse_damo_report(path: str | os.PathLike[str],
                      pid_map: Mapping[int, int] | None = None, *,
                      op: Literal["r", "w"] = "r",
                      pageset: str = DEFAULT_PAGESET,
                      scale: int = 1) -> Trace:
    """Convert the text of ``damo report access --raw_form`` into a trace.

    That output (``damo report raw`` before damo 2.x deprecated it; with or without
    ``--raw_number``) is, per record::

        base_time_absolute: <time>

        monitoring_start:    <time>      # one block per snapshot (aggregation interval)
        monitoring_end:      <time>
        monitoring_duration: <time>
        target_id: <id>
        nr_regions: <n>
        # start_addr     end_addr        length nr_accesses   age
        <start hex>-<end hex> (<length>) <nr_accesses> <age>

    What the trace keeps, and what it approximates:

    * One process per DAMON target; its pid is ``pid_map[target_id]`` (every target must be
      in it) or the target id itself when ``pid_map`` is None.
    * Addresses become page numbers. A process's pages are the union of every region any
      snapshot reports, packed densely in address order (the gaps between mappings are
      dropped), so ``npages`` is the size of what DAMON saw, not the whole address space.
      ``scale`` > 1 makes one trace page stand for ``scale`` real pages, to shrink a large
      process.
    * Each snapshot is one aggregation interval. A region with ``nr_accesses`` > 0 becomes one
      access (``op``: DAMON cannot tell reads from writes) of all its pages; a region with 0
      accesses is not touched. How many samples saw an access is dropped: the harness models
      recency, and one touch per interval is what makes a page recent.
    * Snapshots of different targets are interleaved by their absolute start time.
    * The contents of the pages are generated from ``pageset`` (DAMON records no data).

    Raises :class:`CorruptData` (name:line: what) for lines that are not damo's raw form, a
    region count that does not match ``nr_regions``, or a report with no snapshots.
    """
    path = Path(path)
    with path.open(encoding="utf-8", errors="replace") as f:
        return _parse_damo_lines(f, str(path), pid_map, op, pageset, scale)


def parse_damo_report_text(text: str, name: str = "<string>",
                           pid_map: Mapping[int, int] | None = None, *,
                           op: Literal["r", "w"] = "r",
                           pageset: str = DEFAULT_PAGESET,
                           scale: int = 1) -> Trace:
    """:func:`parse_damo_report` on a string; ``name`` is used in error messages."""
    return _parse_damo_lines(text.splitlines(), name, pid_map, op, pageset, scale)


def _parse_damo_lines(lines: Iterable[str], name: str, pid_map: Mapping[int, int] | None,
                      op: Literal["r", "w"], pageset: str, scale: int) -> Trace:
    if op not in ("r", "w"):
        raise InvalidParameter(f"op must be 'r' or 'w', not {op!r}")
    if pageset not in PAGESETS:
        raise InvalidParameter(f"unknown pageset {pageset!r} (valid: {', '.join(PAGESETS)})")
    if not isinstance(scale, int) or scale < 1:
        raise InvalidParameter(f"scale must be a positive integer, not {scale!r}")
    unit = PAGE_SIZE * scale

    def fail(lineno: int, message: str) -> CorruptData:
        return CorruptData(f"{name}:{lineno}: {message}")

    def check_count(snap: _DamoSnapshot | None) -> None:
        if snap is not None and snap.nr_regions is not None \
                and snap.nr_regions != len(snap.regions):
            raise fail(snap.nr_regions_line, f"nr_regions: {snap.nr_regions}, but the snapshot "
                                             f"lists {len(snap.regions)} regions")

    snapshots: list[_DamoSnapshot] = []
    base_ns: int | None = None
    snap: _DamoSnapshot | None = None
    for lineno, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        key, colon, value = text.partition(":")
        if colon and key.replace("_", "").isalpha():
            if key == "base_time_absolute":
                check_count(snap)
                snap = None
                base_ns = _damo_time_ns(value)
                if base_ns is None:
                    raise fail(lineno, f"bad time {value.strip()!r}")
            elif key == "monitoring_start":
                check_count(snap)
                start = _damo_time_ns(value)
                if start is None:
                    raise fail(lineno, f"bad time {value.strip()!r}")
                snap = _DamoSnapshot((base_ns or 0) + start, len(snapshots), lineno)
                snapshots.append(snap)
            elif key in ("target_id", "nr_regions"):
                if snap is None:
                    raise fail(lineno, f"{key} outside a snapshot (no monitoring_start before)")
                if not is_uint(value.strip()):
                    raise fail(lineno, f"{key} {value.strip()!r} is not a non-negative integer")
                if key == "target_id":
                    snap.target = int(value)
                else:
                    snap.nr_regions, snap.nr_regions_line = int(value), lineno
            # Other "key: value" lines (monitoring_end, monitoring_duration, fields a newer
            # damo adds) carry nothing the trace needs.
            continue
        # A region: "<start hex>-<end hex> (<length>) <nr_accesses> <age>"
        span, _, rest = text.partition("(")
        _, close, counts = rest.partition(")")
        start_hex, dash, end_hex = span.strip().partition("-")
        fields = counts.split()
        if not (close and dash and len(fields) == 2):
            raise fail(lineno, f"not a damo raw-form line: {text!r}")
        try:
            start_addr, end_addr = int(start_hex, 16), int(end_hex, 16)
            nr_accesses = int(fields[0])
        except ValueError:
            raise fail(lineno, f"not a damo raw-form region: {text!r}") from None
        if snap is None or snap.target is None:
            raise fail(lineno, "region before any monitoring_start/target_id")
        if end_addr <= start_addr or start_addr < 0:
            raise fail(lineno, f"empty or reversed region {start_hex}-{end_hex}")
        snap.regions.append((start_addr // unit, -(-end_addr // unit), nr_accesses, lineno))
    check_count(snap)
    if not snapshots:
        raise CorruptData(f"{name}: no DAMON snapshots found (expected the output of damo "
                          "report access --raw_form)")

    # Per target: the union of every region, packed densely.
    spans: dict[int, list[tuple[int, int]]] = {}
    first_line: dict[int, int] = {}
    for s in snapshots:
        if s.target is None:
            raise fail(s.line, "snapshot without target_id")
        first_line.setdefault(s.target, s.line)
        spans.setdefault(s.target, []).extend((a, b) for a, b, _, _ in s.regions)
    packing: dict[int, tuple[list[int], list[int]]] = {}  # target -> (union starts, dense base)
    npages_of: dict[int, int] = {}
    for target, ranges in spans.items():
        starts: list[int] = []
        bases: list[int] = []
        total = 0
        cur_a = cur_b = -1
        for a, b in sorted(ranges):
            if a > cur_b:
                if cur_b >= 0:
                    total += cur_b - cur_a
                starts.append(a)
                bases.append(total)
                cur_a, cur_b = a, b
            else:
                cur_b = max(cur_b, b)
        if cur_b >= 0:
            total += cur_b - cur_a
        packing[target] = (starts, bases)
        npages_of[target] = total

    pid_of: Callable[[int], int]
    if pid_map is None:
        def pid_of(target: int) -> int:
            return target
    else:
        mapping = dict(pid_map)
        missing = sorted(t for t in spans if t not in mapping)
        if missing:
            raise InvalidParameter(f"pid_map has no pid for DAMON target(s) "
                                   f"{', '.join(map(str, missing))}")
        pids = [mapping[t] for t in spans]
        if len(set(pids)) != len(pids) or any(p < 0 for p in pids):
            raise InvalidParameter("pid_map must map the targets to distinct non-negative pids")
        pid_of = mapping.__getitem__

    procs = {pid_of(t): ProcSpec(pid_of(t), max(npages_of[t], 1), None, pageset, None, None,
                                 first_line[t])
             for t in sorted(spans, key=first_line.__getitem__)}
    events: list[TraceEvent] = []
    for s in sorted(snapshots, key=lambda s: (s.start_ns, s.seq)):
        assert s.target is not None
        starts, bases = packing[s.target]
        pid = pid_of(s.target)
        for a, b, nr_accesses, line in s.regions:
            if nr_accesses <= 0:
                continue
            k = bisect.bisect_right(starts, a) - 1
            first = bases[k] + a - starts[k]
            events.append(TraceEvent(op, pid, first, first + (b - a) - 1, line))
    return Trace(procs, events, name)
