"""A v1 trace file read into arrays: what ``pyzswap run`` replays, without an object per line.

:func:`pyzswap.run.trace.parse_trace` makes one :class:`~pyzswap.run.trace.TraceEvent` per
line, about 10 µs each: seconds for a trace of a few hundred thousand lines, before the replay
starts. :func:`read_trace_arrays` reads the same file into :class:`TraceArrays` (one entry per
event in four numpy arrays) and accepts and refuses exactly what ``parse_trace`` does, with the
same messages:

* the lines of the strict form ``r|w <pid> <page>[-<last>]`` (one space between fields, digits
  only, no comment) are recognised and converted with vectorised numpy passes over the file's
  bytes; their pids and page ranges are checked a run of such lines at a time against the
  processes live at that point (a run ends at any other line, so liveness cannot change
  inside it);
* every other line (``proc``, ``exit``, comments, other spacing, non-ASCII bytes, a failed
  check) goes through ``parse_trace``'s own line parser, which raises its usual error.

A file holding a carriage return anywhere is read by ``parse_trace`` whole (text mode turns
``\\r`` into line breaks, which the byte scanner does not model).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from .trace import ProcSpec, Trace, TraceEvent, _no_gc, _Parser

__all__ = ["EVENT_OPS", "TraceArrays", "read_trace_arrays"]

#: The event codes of :attr:`TraceArrays.ops`: the index of the trace's op name.
EVENT_OPS: Final = ("r", "w", "exit", "pageout", "reclaim", "set")
_CODE: Final = {op: i for i, op in enumerate(EVENT_OPS)}
#: Bytes scanned per numpy pass (whole lines): bounds the temporary arrays.
_WINDOW: Final = 4 << 20
#: Longest number the scanner converts (int64-safe); longer ones take the line parser.
_MAX_DIGITS: Final = 18
_POW10: Final = 10 ** np.arange(_MAX_DIGITS + 1, dtype=np.int64)
_NL, _SP, _DASH, _R, _W = 10, 32, 45, 114, 119

I64 = npt.NDArray[np.int64]


@dataclass
class TraceArrays:
    """A parsed trace: processes, and event ``i`` as ``ops[i]`` (an :data:`EVENT_OPS` index),
    ``pids[i]``, ``firsts[i]``, ``lasts[i]`` (an exit's range is 0..-1, a cgroup event's pid
    -1); the non-access events' lines are in :attr:`others` by event index."""

    procs: dict[int, ProcSpec]
    ops: npt.NDArray[np.int8]
    pids: I64
    firsts: I64
    lasts: I64
    others: dict[int, TraceEvent] = field(default_factory=dict)
    name: str = "<string>"

    @property
    def accesses(self) -> int:
        """Page accesses (every page of every ``r`` and ``w`` range once)."""
        acc = self.ops <= 1
        return int((self.lasts[acc] - self.firsts[acc] + 1).sum())

    def __len__(self) -> int:
        return len(self.ops)


class _Builder:
    """Event arrays accumulated in parts (vectorised runs and single parsed lines)."""

    def __init__(self) -> None:
        self.parts: list[tuple[npt.NDArray[np.int8], I64, I64, I64]] = []
        self.count = 0
        self.others: dict[int, TraceEvent] = {}

    def add_run(self, ops: npt.NDArray[np.int8], pids: I64, firsts: I64, lasts: I64) -> None:
        self.parts.append((ops, pids, firsts, lasts))
        self.count += len(ops)

    def add_events(self, events: list[TraceEvent]) -> None:
        for ev in events:
            if ev.op != "r" and ev.op != "w":
                self.others[self.count] = ev
            self.add_run(np.array([_CODE[ev.op]], dtype=np.int8),
                         np.array([ev.pid], dtype=np.int64),
                         np.array([ev.first], dtype=np.int64),
                         np.array([ev.last], dtype=np.int64))
        events.clear()

    def arrays(self) -> tuple[npt.NDArray[np.int8], I64, I64, I64]:
        if not self.parts:
            empty = np.zeros(0, dtype=np.int64)
            return np.zeros(0, dtype=np.int8), empty, empty, empty
        ops, pids, firsts, lasts = zip(*self.parts, strict=True)
        return (np.concatenate(ops), np.concatenate(pids), np.concatenate(firsts),
                np.concatenate(lasts))


def _scan(b: npt.NDArray[np.uint8]) -> tuple[I64, npt.NDArray[np.bool_], npt.NDArray[np.int8],
                                             I64, I64, I64]:
    """The lines of ``b`` (bytes ending with a newline): where each ends, whether it is a
    strict access line, and for those its op (0 r, 1 w), pid, first and last page."""
    nl = np.flatnonzero(b == _NL)
    starts = np.concatenate(([0], nl[:-1] + 1))
    isdig = (b >= 48) & (b <= 57)
    edges = np.diff(np.concatenate(([0], isdig.view(np.int8), [0])))
    ts = np.flatnonzero(edges == 1)   # token starts
    te = np.flatnonzero(edges == -1)  # token ends (exclusive)
    tlen = te - ts
    # each token's value: sum of digit * 10^(distance to its end), tokens of <= 18 digits
    pos = np.flatnonzero(isdig)
    tok_of = np.repeat(np.arange(len(ts)), tlen)
    exp = np.minimum(te[tok_of] - 1 - pos, _MAX_DIGITS)
    contrib = (b[pos].astype(np.int64) - 48) * _POW10[exp]
    firstpos = np.cumsum(tlen) - tlen
    val = np.add.reduceat(contrib, firstpos) if len(ts) else np.zeros(0, dtype=np.int64)
    nlines = len(nl)
    cnt = np.bincount(np.searchsorted(nl, ts), minlength=nlines)
    t0 = np.cumsum(cnt) - cnt
    ntok = max(len(ts), 1)

    def tok(k: I64) -> I64:
        return np.minimum(k, ntok - 1)

    if not len(ts):
        ts = te = tlen = val = np.zeros(1, dtype=np.int64)
    a, c, d = tok(t0), tok(t0 + 1), tok(t0 + 2)
    ends = nl
    op_byte = b[np.minimum(starts, len(b) - 1)]
    sep1 = b[np.minimum(te[a], len(b) - 1)]
    sep2 = b[np.minimum(te[c], len(b) - 1)]
    ok = ((op_byte == _R) | (op_byte == _W)) & (b[np.minimum(starts + 1, len(b) - 1)] == _SP)
    ok &= (cnt == 2) | (cnt == 3)
    ok &= (ts[a] == starts + 2) & (sep1 == _SP) & (ts[c] == te[a] + 1)
    two = (cnt == 2) & (te[c] == ends)
    three = (cnt == 3) & (sep2 == _DASH) & (ts[d] == te[c] + 1) & (te[d] == ends)
    ok &= two | three
    ok &= (tlen[a] <= _MAX_DIGITS) & (tlen[c] <= _MAX_DIGITS)
    ok &= ~three | (tlen[d] <= _MAX_DIGITS)
    ops = (op_byte == _W).astype(np.int8)
    first = val[c]
    last = np.where(three, val[d], first)
    return ends, ok, ops, val[a], first, last


def _valid_run(parser: _Parser, pids: I64, firsts: I64, lasts: I64) -> bool:
    """Every pid live and every range inside its process (else the line parser says why)."""
    uniq, inv = np.unique(pids, return_inverse=True)
    limit = np.array([parser.live.get(int(p), -1) for p in uniq], dtype=np.int64)[inv]
    return bool(((limit >= 0) & (lasts < limit) & (firsts <= lasts)).all())


def _window(parser: _Parser, out: _Builder, b: npt.NDArray[np.uint8], lineno: int) -> int:
    """Parse the whole lines of ``b``; the line number after them."""
    ends, ok, ops, pids, firsts, lasts = _scan(b)
    starts = np.concatenate(([0], ends[:-1] + 1))
    n = len(ends)
    # runs of strict access lines and the single lines between them
    change = np.flatnonzero(np.diff(ok.view(np.int8))) + 1
    bounds = np.concatenate(([0], change, [n])).tolist()
    for lo, hi in pairwise(bounds):
        if ok[lo] and _valid_run(parser, pids[lo:hi], firsts[lo:hi], lasts[lo:hi]):
            out.add_run(ops[lo:hi].copy(), pids[lo:hi].copy(), firsts[lo:hi].copy(),
                        lasts[lo:hi].copy())
            parser.seen_content = True
            continue
        for k in range(lo, hi):  # the line parser: other lines, or a run that fails a check
            parser.events_before = out.count
            raw = b[starts[k]:ends[k]].tobytes().decode("utf-8", errors="replace")
            parser.line(raw, lineno + k)
            out.add_events(parser.events)
    return lineno + n


def read_trace_arrays(path: str | os.PathLike[str], *, check_files: bool = True
                      ) -> TraceArrays:
    """Read a v1 trace file into arrays (module docstring); errors as ``parse_trace``'s."""
    path = Path(path)
    data = path.read_bytes()
    parser = _Parser(str(path), path.parent, check_files)
    if b"\r" in data:
        with _no_gc():
            return _from_trace(parser.run(data.decode("utf-8", errors="replace")
                                          .replace("\r\n", "\n").replace("\r", "\n")
                                          .split("\n")))
    if data and not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, dtype=np.uint8)
    out = _Builder()
    lineno = 1
    pos = 0
    while pos < len(buf):
        end = min(pos + _WINDOW, len(buf))
        if end < len(buf):
            end = int(data.rfind(b"\n", pos, end)) + 1 or int(data.index(b"\n", end)) + 1
        lineno = _window(parser, out, buf[pos:end], lineno)
        pos = end
    ops, pids, firsts, lasts = out.arrays()
    return TraceArrays(parser.procs, ops, pids, firsts, lasts, out.others, str(path))


def _from_trace(trace: Trace) -> TraceArrays:
    out = _Builder()
    out.add_events(list(trace.events))
    ops, pids, firsts, lasts = out.arrays()
    return TraceArrays(trace.procs, ops, pids, firsts, lasts, out.others, trace.name)
