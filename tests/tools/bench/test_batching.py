"""``pyzswap bench batching``: the issue's JSON keys, every case, targets reported, errors."""

from __future__ import annotations

import json

import pytest

from pyzswap.cli import main
from pyzswap.compress import available_compressors
from pyzswap.errors import InvalidParameter, UnknownCompressor
from pyzswap.tools.bench import load_pages, run_batching_bench


def test_json_has_every_case_with_the_issue_keys(capsys: pytest.CaptureFixture[str]) -> None:
    before = available_compressors()
    rc = main(["bench", "batching", "--pages", "600", "--repeat", "1", "-c", "zstd",
               "--min-pages", "0", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    report = json.loads(out)
    rows = {r["case"]: r for r in report["cases"]}
    assert set(rows) == {"4k", "64k", "2m", "reclaim"}
    for row in rows.values():
        assert {"folio_pages", "compressor", "sequential_pages_per_s", "batched_pages_per_s",
                "speedup"} <= set(row)
        assert row["compressor"] == "zstd" and row["batched_compressor"] == "zstd-x2"
        assert row["sequential_pages_per_s"] > 0 and row["batched_pages_per_s"] > 0
    assert [rows[c]["folio_pages"] for c in ("4k", "64k", "2m", "reclaim")] == [1, 16, 512, 1]
    assert rows["reclaim"]["folios_per_call"] == 32 and rows["2m"]["pages"] == 512
    assert rows["2m"]["target"] == 1.8 and rows["64k"]["target"] == 1.5
    assert rows["4k"]["target"] == 0.97  # never slower than sequential, on any compressor
    assert "zstd 2m: 512 pages" in err  # progress on stderr
    assert available_compressors() == before  # the batching compressor it made is gone


def test_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "batching", "--pages", "64", "--repeat", "1", "-c", "lz4",
               "--cases", "64k,reclaim", "--min-pages", "0"])
    out, _ = capsys.readouterr()
    assert rc == 0 and "lz4" in out and "reclaim" in out and "speedup" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["-c", "lz5"], "unknown compressor"),
    (["--cases", "4m"], "unknown case"),
    (["--pagefile", "/nonexistent/pages.bin"], "no such file"),
    (["-c", "lz4", "--cases", "2m", "--pages", "100"], "fewer than one 512-page folio"),
])
def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                             message: str) -> None:
    rc = main(["bench", "batching", "--repeat", "1", "--pages", "100", "--min-pages", "0",
               *argv])
    _, err = capsys.readouterr()
    assert rc == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_library_call_and_bad_arguments() -> None:
    source = load_pages(pages=40)
    result = run_batching_bench(source, ["lzo"], cases=["reclaim"], repeat=2, min_pages=0)
    (row,) = result["cases"]
    assert len(row["sequential_us_per_page"]) == 3 and row["pages"] == source.pages
    # min_pages: the set is stored again at fresh slots until enough pages were stored
    again = run_batching_bench(source, ["lzo"], cases=["64k"], repeat=1, min_pages=100)
    n = source.pages // 16 * 16  # whole 64K folios: 32 of the 40 pages
    assert again["cases"][0]["pages"] == 4 * n  # four passes to reach 100
    with pytest.raises(UnknownCompressor):
        run_batching_bench(source, ["nope"])
    with pytest.raises(InvalidParameter, match="repeat"):
        run_batching_bench(source, ["lz4"], repeat=0)
