"""The ``kernel`` click group and its errors (run directly with CliRunner, as the main CLI would).

Refusals need no kernel; the runs need root and zram/zswap and are skipped otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from pyzswap.tools.kernel._host import compression_algorithms
from pyzswap.tools.kernel.cli import kernel
from pyzswap.tools.kernel.zram import zram_algorithms
from pyzswap.tools.pagesets import make_pages, write_page_file

from .conftest import ZSWAP_SKIP, needs_zram, needs_zswap


@pytest.fixture(scope="module")
def pagefile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pages") / "mixed.pages"
    write_page_file(path, make_pages("mixed", 512, seed=5))
    return path


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(kernel, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def one_line_error(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_not_root_is_refused(pagefile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for cmd in ("zram", "zswap", "compare"):
        code, _, err = invoke(cmd, pagefile, "-c", "lzo")
        assert "kernel side unavailable" in one_line_error(code, err)
        assert "root" in err


def test_missing_page_file(tmp_path: Path) -> None:
    code, _, err = invoke("zram", tmp_path / "nope.pages")
    assert "no such file" in one_line_error(code, err)


def test_page_file_of_the_wrong_size(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pages"
    bad.write_bytes(b"x" * 5000)
    code, _, err = invoke("zswap", bad)
    assert "multiple of 4096" in one_line_error(code, err)


def test_unknown_pyzswap_compressor_is_refused(pagefile: Path) -> None:
    code, _, err = invoke("compare", pagefile, "-c", "nosuchalg", "--target", "zram")
    assert "unknown compressor" in one_line_error(code, err)


@needs_zram
def test_zram_json(pagefile: Path) -> None:
    code, out, err = invoke("zram", pagefile, "-c", "lzo", "--json")
    assert code == 0, err
    assert "changing the host" in err  # said before the first change
    data = json.loads(out)
    assert data["pages"] == 512 and data["verified"]
    assert list(data["mm_stat"])[:3] == ["orig_data_size", "compr_data_size", "mem_used_total"]


@needs_zram
def test_zram_table(pagefile: Path) -> None:
    code, out, err = invoke("zram", pagefile, "-c", "lzo")
    assert code == 0, err
    assert "compr_data_size" in out and "verified" in out


@needs_zswap
def test_zswap_json(pagefile: Path) -> None:
    code, out, err = invoke("zswap", pagefile, "-c", "lzo", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["complete"] and data["verified"]
    assert data["stored_pages"] == data["pages"] - data["zero_pages"]
    assert "pool_total_size" in data["stats"]


@needs_zram
@needs_zswap
def test_compare_both_json(pagefile: Path) -> None:
    code, out, err = invoke("compare", pagefile, "-c", "lzo", "--target", "both", "--json")
    assert code == 0, err
    data = json.loads(out)
    for key in ("kernel", "pyzswap", "diff"):
        assert set(data[key]) == {"zram", "zswap"}
    assert data["diff"]["zswap"]["stored_pages"] == 0.0
    assert data["kernel"]["zram"]["mem_used_total"] > 0


@needs_zram
def test_compare_lzo_rle_per_page_json(pagefile: Path) -> None:
    """pyzswap has the kernel's lzo-rle: every page's length is listed from both sides, and
    none differs."""
    if "lzo-rle" not in zram_algorithms():
        pytest.skip("zram has no lzo-rle")
    code, out, err = invoke("compare", pagefile, "-c", "lzo-rle", "--target", "zram",
                            "--per-page", "--json")
    assert code == 0, err
    data = json.loads(out)
    analysis = data["analysis"]["zram"]
    lengths = analysis["page_lengths"]
    assert len(lengths["kernel"]) == len(lengths["pyzswap"]) == 512
    assert analysis["differing_pages"] == []
    assert lengths["kernel"] == lengths["pyzswap"]
    assert data["delta"]["zram"]["compr_data_size"] == 0
    assert not [n for n in data["notes"] if "per-page" not in n]


@needs_zram
def test_compare_table_with_per_page_analysis(pagefile: Path) -> None:
    code, out, err = invoke("compare", pagefile, "-c", "lzo", "--target", "zram", "--per-page")
    assert code == 0, err
    assert "kernel" in out and "pyzswap" in out and "relative" in out
    assert "zsmalloc fed the kernel's lengths" in out
    assert "0 pages differ" in out


@needs_zram
def test_compare_per_page_lists_the_pages_that_differ(pagefile: Path) -> None:
    """lz4 (liblz4, not the kernel's port) misses the kernel's length on a few pages; the
    table lists them with both lengths."""
    if "lz4" not in zram_algorithms():
        pytest.skip("zram has no lz4")
    code, out, err = invoke("compare", pagefile, "-c", "lz4", "--target", "zram", "--per-page",
                            "--json")
    assert code == 0, err
    analysis = json.loads(out)["analysis"]["zram"]
    differing = analysis["differing_pages"]
    if not differing:
        pytest.skip("lz4 matched the kernel on every page of this set")
    code, out, err = invoke("compare", pagefile, "-c", "lz4", "--target", "zram", "--per-page")
    assert code == 0, err
    assert f"zram: {len(differing):,} pages differ" in out
    first = differing[0]
    k, o = (analysis["page_lengths"][side][first] for side in ("kernel", "pyzswap"))
    assert f"{o - k:+,}" in out


@needs_zram
def test_default_target_skips_a_side_without_the_algorithm(pagefile: Path) -> None:
    missing = [a for a in zram_algorithms() if a not in compression_algorithms()]
    if not missing or ZSWAP_SKIP:
        pytest.skip("no algorithm that zram has and zswap lacks")
    code, out, err = invoke("compare", pagefile, "-c", missing[0], "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["targets"] == ["zram"]
    assert any("zswap skipped" in n for n in data["notes"])


@needs_zswap
def test_explicit_target_without_the_algorithm_is_refused(pagefile: Path) -> None:
    if "lz4" in compression_algorithms():
        pytest.skip("this kernel's zswap has lz4")
    code, _, err = invoke("compare", pagefile, "-c", "lz4", "--target", "zswap")
    line = one_line_error(code, err)
    assert "kernel side unavailable" in line and "lz4" in line
