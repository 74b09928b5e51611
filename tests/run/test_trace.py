"""pyzswap trace v1: every line form, every malformed line (with its number), round trips."""

from __future__ import annotations

import random
import re
import textwrap
from pathlib import Path

import pytest

from pyzswap.errors import CorruptData, InvalidParameter
from pyzswap.run.trace import (
    TRACE_HEADER,
    ProcSpec,
    Trace,
    TraceEvent,
    parse_trace,
    parse_trace_text,
    write_trace,
)
from pyzswap.tools.pagesets import DEFAULT_PAGESET, PAGESETS


def parse(text: str, **kwargs: object) -> Trace:
    return parse_trace_text(textwrap.dedent(text), "t.txt", **kwargs)  # type: ignore[arg-type]


def error_of(text: str, **kwargs: object) -> str:
    with pytest.raises(CorruptData) as info:
        parse(text, **kwargs)
    return str(info.value)


# -------------------------------------------------------------------------- line forms ------
def test_every_line_form() -> None:
    trace = parse("""\
        # pyzswap trace v1
        proc 1 4096
        proc 2 16 memcg=a/b pageset=mixed seed=7

        r 1 0            # one page
        w 1 10-19        # a range
        r 2 15
        w 2 3-3
        exit 2
        r 1 4095
    """)
    assert trace.procs == {
        1: ProcSpec(1, 4096, None, DEFAULT_PAGESET, None, None),
        2: ProcSpec(2, 16, "/a/b", "mixed", None, 7),
    }
    assert list(trace.procs) == [1, 2]
    assert trace.procs[1].line == 2 and trace.procs[2].line == 3
    assert trace.events == [
        TraceEvent("r", 1, 0, 0), TraceEvent("w", 1, 10, 19), TraceEvent("r", 2, 15, 15),
        TraceEvent("w", 2, 3, 3), TraceEvent("exit", 2, 0, -1), TraceEvent("r", 1, 4095, 4095),
    ]
    assert [e.line for e in trace.events] == [5, 6, 7, 8, 9, 10]
    assert list(trace.iter_events()) == trace.events
    assert trace.events[1].pages == range(10, 20) and trace.events[1].npages == 10
    assert trace.events[4].pages == range(0) and trace.events[4].npages == 0
    assert trace.accesses == 1 + 10 + 1 + 1 + 1
    assert trace.name == "t.txt"


def test_comments_whitespace_and_crlf() -> None:
    trace = parse_trace_text("#only a comment\r\n\r\n  proc\t5  8 # declared\r\n"
                             "r 5 1-2#no space before the comment\r\n   \n#\n", "x")
    assert trace.procs[5].npages == 8
    assert trace.events == [TraceEvent("r", 5, 1, 2)]
    assert trace.events[0].line == 4


def test_empty_trace() -> None:
    trace = parse_trace_text("", "empty")
    assert trace.procs == {} and trace.events == [] and trace.accesses == 0


@pytest.mark.parametrize(("given", "normalised"), [
    ("a/b", "/a/b"), ("/a/b", "/a/b"), ("/", "/"), ("a//b/", "/a/b"), ("web", "/web"),
])
def test_memcg_paths_are_normalised(given: str, normalised: str) -> None:
    assert parse(f"proc 1 1 memcg={given}").procs[1].memcg == normalised


@pytest.mark.parametrize("pageset", list(PAGESETS))
def test_every_pageset_is_accepted(pageset: str) -> None:
    assert parse(f"proc 1 1 pageset={pageset}").procs[1].pageset == pageset


def test_page_file_resolved_against_trace_directory(tmp_path: Path) -> None:
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "heap.bin").write_bytes(bytes(8 * 4096))
    trace_file = tmp_path / "t.txt"
    trace_file.write_text("proc 1 8 file=pages/heap.bin\nproc 2 4 file=pages/heap.bin\n")
    trace = parse_trace(trace_file)
    expected = str((tmp_path / "pages" / "heap.bin").resolve())
    assert trace.procs[1].file == expected and trace.procs[2].file == expected
    # parse_trace_text resolves against base_dir
    text_trace = parse_trace_text("proc 1 8 file=heap.bin", base_dir=tmp_path / "pages")
    assert text_trace.procs[1].file == expected


@pytest.mark.parametrize(("size", "npages", "message"), [
    (None, 4, "page file 'p.bin': No such file or directory"),
    (4 * 4096 + 1, 4, "is 16385 bytes, not a multiple of 4096"),
    (3 * 4096, 4, "page file 'p.bin' has 3 pages, process 1 needs 4"),
])
def test_page_file_checked_when_parsed(tmp_path: Path, size: int | None, npages: int,
                                       message: str) -> None:
    if size is not None:
        (tmp_path / "p.bin").write_bytes(bytes(size))
    trace_file = tmp_path / "t.txt"
    trace_file.write_text(f"\nproc 1 {npages} file=p.bin\n")
    with pytest.raises(CorruptData, match=f"^{re.escape(str(trace_file))}:2: .*"
                                          f"{re.escape(message)}"):
        parse_trace(trace_file)
    # check_files=False defers the check to whoever reads the pages
    assert parse_trace(trace_file, check_files=False).procs[1].npages == npages


def test_page_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    assert "is not a regular file" in error_of("proc 1 1 file=d", base_dir=tmp_path)


def test_proc_may_come_mid_trace() -> None:
    trace = parse("proc 1 2\nr 1 0\nproc 2 2\nr 2 1\n")
    assert [e.pid for e in trace.events] == [1, 2]
    assert trace.procs[2].line == 3


# ----------------------------------------------------------------------------- errors -------
@pytest.mark.parametrize(("text", "message"), [
    ("proc 1 4\nx 1 0",
     "t.txt:2: unknown operation 'x' (expected proc, r, w, exit, pageout, reclaim or set)"),
    ("proc 1 4\nR 1 0", "t.txt:2: unknown operation 'R'"),
    ("proc 1 4\nr 1", "t.txt:2: expected 'r <pid> <page>[-<last>]', got 2 fields"),
    ("proc 1 4\nw 1 0 1", "t.txt:2: expected 'w <pid> <page>[-<last>]', got 4 fields"),
    ("proc 1 4\nexit", "t.txt:2: expected 'exit <pid>', got 1 fields"),
    ("proc 1 4\nexit 1 2", "t.txt:2: expected 'exit <pid>', got 3 fields"),
    ("proc 1", "t.txt:1: expected 'proc <pid> <npages>"),
    ("proc", "t.txt:1: expected 'proc <pid> <npages>"),
    ("proc x 4", "t.txt:1: pid 'x' is not a non-negative integer"),
    ("proc -1 4", "t.txt:1: pid '-1' is not a non-negative integer"),
    ("proc 1 4\nr one 0", "t.txt:2: pid 'one' is not a non-negative integer"),
    ("proc 1 4\nr +1 0", "t.txt:2: pid '+1' is not a non-negative integer"),
    ("proc 1 four", "t.txt:1: npages 'four' is not a positive integer"),
    ("proc 1 0", "t.txt:1: npages '0' is not a positive integer"),
    ("proc 1 1_000", "t.txt:1: npages '1_000' is not a positive integer"),
    ("proc 1 4\nr 1 x", "t.txt:2: page 'x' is not a page number or a range <first>-<last>"),
    ("proc 1 4\nr 1 -1", "t.txt:2: page '-1' is not a page number"),
    ("proc 1 4\nr 1 1-", "t.txt:2: page '1-' is not a page number"),
    ("proc 1 4\nr 1 1-2-3", "t.txt:2: page '1-2-3' is not a page number"),
    ("proc 1 4\nr 1 ٣", "t.txt:2: page '٣' is not a page number"),
    ("proc 3 4096\nr 3 4096", "t.txt:2: page 4096 is outside process 3 (0..4095)"),
    ("proc 3 4096\n\nw 3 4000-4100", "t.txt:3: pages 4000-4100 are outside process 3 (0..4095)"),
    ("proc 1 4\nr 1 3-1", "t.txt:2: page range 3-1 is reversed (last < first)"),
    ("r 1 0", "t.txt:1: pid 1 is not declared (a 'proc 1 <npages>' line must come before"),
    ("proc 1 4\nexit 2", "t.txt:2: pid 2 is not declared"),
    ("proc 1 4\nproc 1 8", "t.txt:2: pid 1 is already declared at line 1"),
    ("proc 1 4\nexit 1\nproc 1 4", "t.txt:3: pid 1 is already declared at line 1"),
    ("proc 1 4\nexit 1\nr 1 0", "t.txt:3: pid 1 is used after its exit at line 2"),
    ("proc 1 4\nexit 1\nw 1 0-1", "t.txt:3: pid 1 is used after its exit at line 2"),
    ("proc 1 4\nexit 1\nexit 1", "t.txt:3: pid 1 is used after its exit at line 2"),
    ("proc 1 4 pageset=nope", "t.txt:1: unknown pageset 'nope' (valid: mixed, real,"),
    ("proc 1 4 colour=red", "t.txt:1: unknown proc option 'colour' "
                            "(keys: memcg, pageset, file, seed)"),
    ("proc 1 4 memcg", "t.txt:1: proc option 'memcg' is not key=value"),
    ("proc 1 4 memcg=", "t.txt:1: proc option 'memcg' has an empty value"),
    ("proc 1 4 seed=1 seed=2", "t.txt:1: proc option 'seed' is given twice"),
    ("proc 1 4 seed=x", "t.txt:1: seed 'x' is not a non-negative integer"),
    ("proc 1 4 seed=-3", "t.txt:1: seed '-3' is not a non-negative integer"),
    ("proc 1 4 memcg=a/../b", "t.txt:1: memcg 'a/../b' is not a cgroup path"),
    ("# pyzswap trace v2\nproc 1 4", "t.txt:1: unsupported trace version v2"),
    ("# pyzswap trace v\n", "t.txt:1: unsupported trace version v "),
])
def test_malformed_lines(text: str, message: str) -> None:
    assert error_of(text).startswith(message)


def test_version_words_after_content_are_just_comments() -> None:
    assert parse("proc 1 1\n# pyzswap trace v2 (a note, not a header)\n").procs[1].npages == 1
    assert parse("proc 1 1  # pyzswap trace v2 (a note)\n").procs[1].npages == 1


def test_first_error_wins_and_nothing_after_it_matters() -> None:
    assert error_of("proc 1 4\nr 1 9\nbogus line\n").startswith("t.txt:2:")


def test_error_names_the_file(tmp_path: Path) -> None:
    trace_file = tmp_path / "trace.txt"
    trace_file.write_text("proc 3 4096\n" + "r 3 1\n" * 10 + "r 3 4096\n")
    with pytest.raises(CorruptData) as info:
        parse_trace(trace_file)
    assert str(info.value) == f"{trace_file}:12: page 4096 is outside process 3 (0..4095)"


def test_undecodable_bytes_are_a_malformed_line(tmp_path: Path) -> None:
    trace_file = tmp_path / "t.txt"
    trace_file.write_bytes(b"# caf\xe9 comment is fine\nproc 1 4\nr 1 \xff\n")
    with pytest.raises(CorruptData, match=r"t\.txt:3: page '\ufffd' is not a page number"):
        parse_trace(trace_file)


def test_missing_trace_file_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        parse_trace(tmp_path / "nope.txt")


# ------------------------------------------------------------------------- round trip -------
def test_write_then_parse_round_trip(tmp_path: Path) -> None:
    page_file = tmp_path / "p.bin"
    page_file.write_bytes(bytes(64 * 4096))
    procs = {
        7: ProcSpec(7, 64, "/a/b", "text", str(page_file), 11),
        0: ProcSpec(0, 1, None, DEFAULT_PAGESET, None, None),
        9: ProcSpec(9, 100, "/", "heap", None, 0),
    }
    events = [TraceEvent("w", 7, 0, 63), TraceEvent("r", 0, 0, 0), TraceEvent("r", 9, 5, 5),
              TraceEvent("exit", 7, 0, -1), TraceEvent("w", 9, 98, 99)]
    out = tmp_path / "sub" / "out.txt"
    out.parent.mkdir()
    write_trace(out, procs, events)
    text = out.read_text()
    assert text.startswith(TRACE_HEADER + "\n")
    assert "exit 7\n" in text and "r 9 5\n" in text and "w 7 0-63\n" in text
    back = parse_trace(out)
    assert back.procs == procs and list(back.procs) == list(procs)
    assert back.events == events
    # The Trace method writes the same thing; an iterable of specs works as well as a dict.
    again = tmp_path / "again.txt"
    back.write(again)
    assert again.read_text() == text
    write_trace(again, list(procs.values()), events)
    assert again.read_text() == text


def test_write_trace_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="no ProcSpec"):
        write_trace(tmp_path / "t", [ProcSpec(1, 4)], [TraceEvent("r", 2, 0, 0)])
    with pytest.raises(InvalidParameter, match="whitespace"):
        write_trace(tmp_path / "t", [ProcSpec(1, 4, file="/a b/c")], [])
    with pytest.raises(InvalidParameter, match="'#'"):
        write_trace(tmp_path / "t", [ProcSpec(1, 4, memcg="/a#b")], [])


def test_large_trace_parses(tmp_path: Path) -> None:
    rnd = random.Random(6)
    lines = [TRACE_HEADER, "proc 1 65536 memcg=web", "proc 2 4096 pageset=mixed"]
    expected_accesses = 0
    for _ in range(100_000):
        pid, npages = rnd.choice(((1, 65536), (2, 4096)))
        first = rnd.randrange(npages)
        last = min(npages - 1, first + rnd.randrange(8))
        expected_accesses += last - first + 1
        lines.append(f"{rnd.choice('rw')} {pid} {first}-{last}" if last > first
                     else f"r {pid} {first}  # one page")
    trace_file = tmp_path / "big.txt"
    trace_file.write_text("\n".join(lines) + "\n")
    trace = parse_trace(trace_file)
    assert len(trace.events) == 100_000
    assert trace.accesses == expected_accesses
    assert trace.events[-1].line == 100_003
