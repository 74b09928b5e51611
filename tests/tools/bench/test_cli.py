"""``pyzswap bench`` through the real entry point: JSON, tables, subcommands, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyzswap.cli import main

from ..kernel.conftest import needs_zram

TINY = ["--pages", "48", "--repeat", "1", "-q"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "bench", *TINY, "-c", "lz4", "--no-kernel", "--json")
    assert rc == 0 and err == ""
    report = json.loads(out)
    assert {"source", "repeat", "machine", "results", "seconds"} <= set(report)
    (r,) = report["results"]
    assert {"figures", "ratios", "targets", "notes"} <= set(r)


def test_kernel_is_opt_in(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --kernel, bench never touches zram (even as root) and says how to ask for it."""
    zram_before = sorted(p.name for p in Path("/sys/block").glob("zram*"))
    rc, out, err = run(capsys, "bench", *TINY, "-c", "lz4", "--no-batched", "--json")
    assert rc == 0 and "changing the host" not in err
    (r,) = json.loads(out)["results"]
    assert not any(k.startswith("zram") for k in r["figures"])
    assert any("no --kernel" in note for note in r["notes"])
    assert sorted(p.name for p in Path("/sys/block").glob("zram*")) == zram_before


def test_table_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "bench", "--pages", "48", "--repeat", "1", "-c", "lzo",
                       "--no-kernel", "--no-batched")
    assert rc == 0
    assert "store 4K" in out and "time / raw compress" in out
    assert "repetition 1/1" in err  # progress on stderr, not stdout


def test_pagefile(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from pyzswap.tools.pagesets import make_pages, write_page_file

    path = tmp_path / "set.pages"
    write_page_file(path, make_pages("mixed", 40, seed=2))
    rc, out, _ = run(capsys, "bench", "--pagefile", str(path), "--repeat", "1", "-q", "-c",
                     "lz4", "--no-kernel", "--no-batched", "--json")
    assert rc == 0
    assert json.loads(out)["source"]["pagefile"] == str(path)


def test_subcommands_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "bench", "scaling", "--pages", "32", "--max-pages", "200",
                     "--min-pages", "20", "--window", "8", "--repeat", "1", "-q", "--json")
    assert rc == 0
    assert json.loads(out)["sizes"] == [20, 200]
    rc, out, _ = run(capsys, "bench", "memory", "--pages", "32", "--entries", "200", "-q",
                     "--json")
    assert rc == 0
    assert json.loads(out)["entries"] == 200


def test_subcommands_text(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "bench", "scaling", "--pages", "32", "--max-pages", "100",
                     "--min-pages", "10", "--window", "8", "--repeat", "1", "-q")
    assert rc == 0 and "cost at 100 / cost at 10" in out
    rc, out, _ = run(capsys, "bench", "memory", "--pages", "32", "--entries", "100", "-q")
    assert rc == 0 and "zswap_entry 56 + handle 8" in out


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "bench", "--help")
    assert rc == 0 and "scaling" in out and "memory" in out


@pytest.mark.parametrize("argv, message", [
    (["bench", "-c", "nope"], "unknown compressor 'nope'"),
    (["bench", "-c", ","], "no compressor given"),
    (["bench", "--pageset", "nope"], "unknown page set 'nope'"),
    (["bench", "--pageset", "zero", "--pages", "4"], "no non-zero page"),
    (["bench", "--pageset", "real", "--pagefile", "x"], "not both"),
    (["bench", "--pagefile", "/nonexistent/p"], "/nonexistent/p: no such file"),
    (["bench", "--repeat", "0"], "--repeat"),
    (["bench", "--replay-cases", "nope", "--pages", "8"], "unknown suite case 'nope'"),
    (["bench", "scaling", "-c", "nope"], "unknown compressor"),
    (["bench", "scaling", "--min-pages", "10", "--max-pages", "5"], "above --max-pages"),
    (["bench", "memory", "--entries", "0"], "--entries"),
])
def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                             message: str) -> None:
    rc, _, err = run(capsys, *argv)
    assert rc == 2
    assert err.startswith("pyzswap: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_pagefiles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    odd = tmp_path / "odd"
    odd.write_bytes(b"x" * 10)
    for path, message in ((odd, "4096"), (tmp_path, "directory")):
        rc, _, err = run(capsys, "bench", "--pagefile", str(path), "--no-kernel")
        assert rc == 2 and message in err and err.count("\n") == 1


@needs_zram
def test_kernel_says_once_that_it_changes_the_host(capsys: pytest.CaptureFixture[str]) -> None:
    """Two compressors are two zram runs, but the user is told once, before the first change."""
    rc, out, err = run(capsys, "bench", *TINY, "-c", "lzo,lzo-rle", "--kernel", "--no-batched",
                       "--replay-cases", "none", "--json")
    assert rc == 0, err
    assert err.count("changing the host") == 1
    assert all(r["figures"].get("zram_write") for r in json.loads(out)["results"])
