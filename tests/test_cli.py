"""The command line: reports, JSON, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyzswap.cli import main

from .conftest import mixed_page, random_page, text_page


def _page_file(tmp_path: Path, pages: list[bytes]) -> Path:
    path = tmp_path / "pages.bin"
    path.write_bytes(b"".join(pages))
    return path


def _run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_store_json_report_counts_and_verifies(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pages = [text_page(1), bytes(4096), random_page(2), mixed_page(3), bytes(4096)]
    path = _page_file(tmp_path, pages)
    report = _run_json(["store", str(path), "--compressor", "lz4", "--json"], capsys)
    assert report["pages"] == 5
    assert report["zero_pages"] == 2
    assert report["stored_pages"] == 3
    assert report["stored_incompressible_pages"] == 1
    assert report["verified"] is True
    assert isinstance(report["compressed_bytes"], int) and report["compressed_bytes"] > 4096
    assert isinstance(report["pool_total_size"], int) and report["pool_total_size"] >= 4096 * 2
    assert report["store_seconds"] >= 0 and report["load_seconds"] >= 0  # type: ignore[operator]


def test_store_with_large_folios_sends_mixed_folios_through_zswap(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A folio that is not entirely zero goes to zswap whole, zero pages included (6.18).
    pages = [bytes(4096), text_page(1), bytes(4096), bytes(4096)]
    path = _page_file(tmp_path, pages)
    report = _run_json(["store", str(path), "--folio-pages", "2", "--json"], capsys)
    assert report["stored_pages"] == 2
    assert report["zero_pages"] == 3
    assert report["verified"] is True


def test_store_human_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _page_file(tmp_path, [text_page(i) for i in range(8)])
    assert main(["store", str(path), "-c", "zstd"]) == 0
    out = capsys.readouterr().out
    assert "stored_pages" in out and "pool_total_size" in out and "yes" in out


def test_store_compares_compressors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """-c A,B,C: each compressor on its own fresh zswap, the same pages, one table / JSON list
    in the order given, each report equal to what -c NAME alone gives (sizes are exact)."""
    path = _page_file(tmp_path, [text_page(i) for i in range(6)] + [random_page(9), bytes(4096)])
    data = _run_json(["store", str(path), "-c", "zstd,lz4,lzo", "--json"], capsys)
    results = data["results"]
    assert isinstance(results, list)
    assert [r["compressor"] for r in results] == ["zstd", "lz4", "lzo"]
    for r in results:
        alone = _run_json(["store", str(path), "-c", r["compressor"], "--json"], capsys)
        for key in ("stored_pages", "stored_incompressible_pages", "compressed_bytes",
                    "pool_total_size", "zero_pages"):
            assert r[key] == alone[key], (r["compressor"], key)
        assert r["verified"] is True
    assert main(["store", str(path), "-c", "lz4,zstd"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == 2 and "lz4" in rows[0] and "zstd" in rows[1]
    assert "store MB/s" in out


@pytest.mark.parametrize(
    ("argv_tail", "message"),
    [
        (["--compressor", "lz5"], "unknown compressor 'lz5'"),
        (["--compressor", "lz4,lz5"], "unknown compressor 'lz5'"),
        (["--compressor", "lz4,,zstd"], "empty name"),
        (["--compressor", "lz4,lz4"], "given twice"),
        (["--folio-pages", "0"], "folio-pages"),
    ],
)
def test_store_usage_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         argv_tail: list[str], message: str) -> None:
    path = _page_file(tmp_path, [text_page(1)])
    assert main(["store", str(path), *argv_tail]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_store_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "odd.bin"
    odd.write_bytes(bytes(4097))
    for argv, message in (([str(odd)], "4096"), ([str(tmp_path / "missing.bin")], "no such"),
                          ([str(tmp_path)], "directory")):
        assert main(["store", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert message in err.lower()


def test_cli_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"x" * 10)
    proc = subprocess.run([sys.executable, "-m", "pyzswap.cli", "store", str(odd)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("pyzswap: error:") and proc.stderr.count("\n") == 1
    ok = subprocess.run([sys.executable, "-m", "pyzswap.cli", "run", "--scale", "0.05"],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "every fault returned its page" in ok.stdout


def test_pools_report_json(capsys: pytest.CaptureFixture[str]) -> None:
    for lifetime, holding in (("pool", 8), ("lock-retry", 6)):
        out = _run_json(["pools", "--cpus", "8", "--offline", "2,5", "--pages", "64",
                         "--switch", "zstd", "--lifetime", lifetime, "--json"], capsys)
        pools = out["pools"]
        assert isinstance(pools, list) and [p["compressor"] for p in pools] == ["zstd", "lzo"]
        assert all(len(p["cpus_holding"]) == holding for p in pools)
        assert pools[1]["ref"] == 64  # the old pool lives on for its 64 entries
        assert out["shared"] is None
        assert out["streams"] == {"lzo": list(range(8)), "zstd": list(range(8))}
    out = _run_json(["pools", "--cpus", "4", "--lifetime", "global-one", "--json"], capsys)
    assert out["shared"]["slots"] == 1 and out["shared"]["cpus_holding"] == [0, 1, 2, 3]


def test_pools_bad_cpu_lists(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("x", "9", "0-7"):
        assert main(["pools", "--cpus", "8", "--offline", bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
