"""DAMON's ``damo report access --raw_form`` text converted to a trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyzswap.errors import CorruptData, InvalidParameter
from pyzswap.run.trace import ProcSpec, TraceEvent, parse_trace
from pyzswap.run.trace_damon import parse_damo_report, parse_damo_report_text

# What `damo report access --raw_form` prints (damo_report_access.pr_records_raw_form), one
# record per target; human-readable numbers in the first, --raw_number style in the second.
DAMO_REPORT = """\
base_time_absolute: 8 m 59.809 s

monitoring_start:                0 ns
monitoring_end:            104.599 ms
monitoring_duration:       104.599 ms
target_id: 0
nr_regions: 3
# start_addr     end_addr        length  nr_accesses   age
55b1a3a5e000-55b1a3a60000 (    8.000 KiB)           3     1
55b1a3a60000-55b1a3a64000 (   16.000 KiB)           0     5
7ffc10000000-7ffc10001000 (    4.000 KiB)           1     0

monitoring_start:              104.599 ms
monitoring_end:            209.198 ms
monitoring_duration:       104.599 ms
target_id: 0
nr_regions: 2
# start_addr     end_addr        length  nr_accesses   age
55b1a3a5e000-55b1a3a64000 (   24.000 KiB)           2     0
7ffc10000000-7ffc10001000 (    4.000 KiB)           0     1


base_time_absolute: 539859000000

monitoring_start:          50000000
monitoring_end:           150000000
monitoring_duration:      100000000
target_id: 1
nr_regions: 1
# start_addr     end_addr        length  nr_accesses   age
000000400000-000000402000 (        8192)          20     3

"""


def test_damo_report_to_trace() -> None:
    trace = parse_damo_report_text(DAMO_REPORT, "damon.txt")
    # target 0: union of [55b1a3a5e..55b1a3a64) (6 pages) and [7ffc10000] (1 page), packed
    assert trace.procs == {0: ProcSpec(0, 7), 1: ProcSpec(1, 2)}
    assert trace.procs[0].line == 3
    # 8 m 59.809 s = 539.809 s: target 0's first snapshot, then target 1's (at 539.909 s),
    # then target 0's second (539.913 s); regions with 0 accesses are not touched.
    assert trace.events == [
        TraceEvent("r", 0, 0, 1),   # 55b1a3a5e000-55b1a3a60000
        TraceEvent("r", 0, 6, 6),   # 7ffc10000000
        TraceEvent("r", 1, 0, 1),
        TraceEvent("r", 0, 0, 5),
    ]
    assert [e.line for e in trace.events] == [9, 11, 31, 19]


def test_damo_report_options(tmp_path: Path) -> None:
    report = tmp_path / "damon.txt"
    report.write_text(DAMO_REPORT)
    trace = parse_damo_report(report, {0: 100, 1: 200}, op="w", pageset="heap", scale=2)
    assert trace.procs == {100: ProcSpec(100, 4, pageset="heap"),
                           200: ProcSpec(200, 1, pageset="heap")}
    assert {e.op for e in trace.events} == {"w"}
    assert [(e.pid, e.first, e.last) for e in trace.events] == [
        (100, 0, 0), (100, 3, 3), (200, 0, 0), (100, 0, 2)]
    # The converted trace is an ordinary trace: it writes and parses back.
    out = tmp_path / "t.txt"
    trace.write(out)
    assert parse_trace(out).events == trace.events


def test_damo_report_bad_parameters() -> None:
    with pytest.raises(InvalidParameter, match="no pid for DAMON target"):
        parse_damo_report_text(DAMO_REPORT, pid_map={0: 5})
    with pytest.raises(InvalidParameter, match="distinct"):
        parse_damo_report_text(DAMO_REPORT, pid_map={0: 5, 1: 5})
    with pytest.raises(InvalidParameter, match="pageset"):
        parse_damo_report_text(DAMO_REPORT, pageset="nope")
    with pytest.raises(InvalidParameter, match="scale"):
        parse_damo_report_text(DAMO_REPORT, scale=0)


@pytest.mark.parametrize(("text", "message"), [
    ("", "d: no DAMON snapshots found"),
    ("# only a header\n\n", "d: no DAMON snapshots found"),
    ("hello world\n", "d:1: not a damo raw-form line: 'hello world'"),
    ("monitoring_start: soon\n", "d:1: bad time 'soon'"),
    ("monitoring_start: 0\ntarget_id: x\n", "d:2: target_id 'x' is not a non-negative integer"),
    ("target_id: 0\n", "d:1: target_id outside a snapshot"),
    ("monitoring_start: 0\n000000400000-000000402000 (8192) 1 0\n",
     "d:2: region before any monitoring_start/target_id"),
    ("monitoring_start: 0\ntarget_id: 0\nzzzz-000000402000 (8192) 1 0\n",
     "d:3: not a damo raw-form region"),
    ("monitoring_start: 0\ntarget_id: 0\n000000402000-000000400000 (8192) 1 0\n",
     "d:3: empty or reversed region"),
    ("monitoring_start: 0\ntarget_id: 0\nnr_regions: 2\n000000400000-000000402000 (8192) 1 0\n",
     "d:3: nr_regions: 2, but the snapshot lists 1 regions"),
])
def test_damo_report_malformed(text: str, message: str) -> None:
    with pytest.raises(CorruptData) as info:
        parse_damo_report_text(text, "d")
    assert str(info.value).startswith(message)
