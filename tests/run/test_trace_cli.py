"""``pyzswap trace from-damon`` and ``pyzswap trace check`` through the real entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyzswap.cli import main
from pyzswap.run.trace import parse_trace
from pyzswap.run.trace_damon import parse_damo_report

from .test_trace_damon import DAMO_REPORT


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_from_damon_writes_the_library_conversion(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "damon.txt"
    report.write_text(DAMO_REPORT)
    out_path = tmp_path / "damon.trace"
    rc, _, err = run(capsys, "trace", "from-damon", str(report), "-o", str(out_path),
                     "--pid", "0=3", "--pid", "1=9", "--op", "w", "--pageset", "heap",
                     "--scale", "2")
    assert rc == 0, err
    assert "2 processes" in err
    expected = parse_damo_report(report, {0: 3, 1: 9}, op="w", pageset="heap", scale=2)
    written = parse_trace(out_path)
    assert written.procs == expected.procs
    assert [(e.op, e.pid, e.first, e.last) for e in written.events] == \
        [(e.op, e.pid, e.first, e.last) for e in expected.events]
    rc, out, _ = run(capsys, "trace", "check", str(out_path))
    assert rc == 0 and "2 processes" in out and f"{written.accesses:,} page accesses" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["--pid", "zero=1"], "TARGET=PID"),
    (["--pid", "0=0"], "TARGET=PID"),
    (["--scale", "0"], "scale"),
])
def test_from_damon_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                argv: list[str], message: str) -> None:
    report = tmp_path / "damon.txt"
    report.write_text(DAMO_REPORT)
    rc, _, err = run(capsys, "trace", "from-damon", str(report), "-o", str(tmp_path / "t"),
                     *argv)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "t").exists()


def test_bad_inputs_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("not a damo report\n")
    for argv in (["from-damon", str(bad), "-o", str(tmp_path / "t")],
                 ["from-damon", str(tmp_path / "missing"), "-o", str(tmp_path / "t")],
                 ["check", str(bad)], ["check", str(tmp_path / "missing")]):
        rc, _, err = run(capsys, "trace", *argv)
        assert rc == 2 and len(err.strip().splitlines()) == 1, (argv, err)
