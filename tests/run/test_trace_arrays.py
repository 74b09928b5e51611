"""read_trace_arrays reads what parse_trace reads: the same events, the same errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap.errors import CorruptData
from pyzswap.run import trace_arrays
from pyzswap.run.trace import parse_trace
from pyzswap.run.trace_arrays import EVENT_OPS, read_trace_arrays


def _outcome(fn, path: Path) -> tuple[str, object]:
    try:
        return "ok", fn(path)
    except CorruptData as exc:
        return "error", str(exc)


def _same(path: Path) -> None:
    want_kind, want = _outcome(parse_trace, path)
    got_kind, got = _outcome(read_trace_arrays, path)
    assert got_kind == want_kind, (want, got)
    if want_kind == "error":
        assert got == want
        return
    assert got.procs == want.procs
    assert [(p.line, p.at) for p in got.procs.values()] == \
        [(p.line, p.at) for p in want.procs.values()]
    events = want.events
    assert [EVENT_OPS[o] for o in got.ops.tolist()] == [e.op for e in events]
    assert got.pids.tolist() == [e.pid for e in events]
    assert got.firsts.tolist() == [e.first for e in events]
    assert got.lasts.tolist() == [e.last for e in events]
    others = {i: e for i, e in enumerate(events) if e.op not in ("r", "w")}
    assert got.others == others
    assert [e.line for e in got.others.values()] == [e.line for e in others.values()]
    assert got.accesses == want.accesses


CASES = {
    "plain": "# pyzswap trace v1\nproc 1 64 memcg=g\nw 1 0-63\nr 1 5\nw 1 7\nexit 1\n",
    "no final newline": "proc 1 8\nr 1 0\nr 1 7",
    "comments and spacing": "proc 1 8  # x\nr  1 3\nr\t1 2\nr 1 4 # c\n\n   \nw 1 0-7\n",
    "late start": "proc 1 8\nr 1 1\nproc 2 4 memcg=b\nr 2 3\nr 1 2\nexit 2\nr 1 0\n",
    "controls": "proc 1 8 memcg=a\nr 1 1\npageout 1 0-3\nreclaim a 1M\nset a memory.max 2M\n"
                "r 1 2\n",
    "crlf": "proc 1 8\r\nr 1 1\r\nr 1 2\rr 1 3\n",
    "bad version": "# pyzswap trace v2\nproc 1 8\n",
    "undeclared": "proc 1 8\nr 1 1\nr 2 1\n",
    "after exit": "proc 1 8\nexit 1\nr 1 1\n",
    "out of range": "proc 1 8\nr 1 1\nr 1 8\n",
    "range out": "proc 1 8\nr 1 1-8\n",
    "reversed": "proc 1 8\nr 1 5-3\n",
    "huge pid": "proc 1 8\nr 99999999999999999999999 1\n",
    "huge page": "proc 1 8\nr 1 123456789012345678901\n",
    "big pid": "proc 1 8\nr 3000000000 1\n",
    "leading zeros": "proc 1 8\nr 01 007\nw 001 1-0002\n",
    "non-ascii": "proc 1 8\nr 1 \u0661\n",
    "bad utf8": b"proc 1 8\nr 1 1\nr 1 \xff\n",
    "dash only": "proc 1 8\nr 1 -\nr 1 1-\n",
    "extra field": "proc 1 8\nr 1 1 2\n",
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_parse_trace(tmp_path: Path, name: str) -> None:
    text = CASES[name]
    path = tmp_path / "t.trace"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    _same(path)


def test_windows_split_at_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines are never cut where the scanner's windows end."""
    monkeypatch.setattr(trace_arrays, "_WINDOW", 64)
    rng = np.random.default_rng(1)
    lines = ["proc 1 4096", "proc 2 16"]
    for k in range(500):
        pid = 1 if k % 7 else 2
        page = int(rng.integers(0, 4096 if pid == 1 else 16))
        lines.append(f"{'w' if k % 3 == 0 else 'r'} {pid} {page}")
    lines.append("w 1 10-4095")
    path = tmp_path / "t.trace"
    path.write_text("\n".join(lines) + "\n")
    _same(path)


_TOKENS = st.sampled_from(["r", "w", "exit", "proc", "pageout", "1", "2", "3", "0-3", "4-2",
                           "8", "99", "-", "#", "x", " ", "\t", "memcg=a", "0", "1-1"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_TOKENS, max_size=5).map(" ".join), max_size=12))
def test_same_on_random_lines(tmp_path_factory: pytest.TempPathFactory,
                              lines: list[str]) -> None:
    path = tmp_path_factory.mktemp("t") / "t.trace"
    path.write_text("proc 1 8\nproc 2 4\n" + "\n".join(lines) + "\n")
    _same(path)
