"""``--plot DIR``: the three charts for one run and for a comparison, missing data skipped,
malformed data refused."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import pytest

from pyzswap.errors import CorruptData, ZswapError
from pyzswap.run.plots import PLOT_FILES, write_plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_report(compressor: str, scale: float = 1.0) -> dict[str, Any]:
    n = 50
    ops = [i * 1000 for i in range(n)]
    stored = [max(0, i - 10) * 40 for i in range(n)]
    compressed = [int(s * 4096 / (2.5 * scale)) for s in stored]
    return {
        "workload": "trace:test.txt", "compressor": compressor, "label": compressor,
        "series": {
            "ops": ops,
            "pool_total_size": [int(c * 1.1) for c in compressed],
            "compressed_bytes": compressed,
            "stored_pages": stored,
            "resident_pages": [min(i * 100, 2000) for i in range(n)],
            "written_back_pages": [max(0, i - 40) * 10 for i in range(n)],
            "pswpout": [max(0, i - 40) * 10 for i in range(n)],
        },
        "ratio_histogram": {"edges": [1.0, 1.5, 2.0, 3.0, 4.0, 8.0, 16.0, 64.0],
                            "counts": [10, 40, 120, 80, 30, 5, 1]},
        "latency_us": {"store": [5.0 * scale + (i % 37) * 0.7 for i in range(500)],
                       "load": [2.0 * scale + (i % 17) * 0.3 for i in range(300)]},
        "other": {"ignored": True},
    }


@pytest.fixture(autouse=True)
def _need_matplotlib() -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install "
                                            "matplotlib); the --plot charts cannot be drawn")


def assert_pngs(paths: list[Path], directory: Path, names: tuple[str, ...]) -> None:
    assert paths == [directory / name for name in names]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 5000  # a drawn chart, not an empty canvas


def test_single_run_writes_three_pngs(tmp_path: Path) -> None:
    out = tmp_path / "plots" / "nested"  # created, parents included
    paths = write_plots(run_report("lz4"), out)
    assert_pngs(paths, out, PLOT_FILES)


def test_compare_writes_one_file_per_chart(tmp_path: Path) -> None:
    report = {"runs": [run_report("lz4"), run_report("zstd", 1.6), run_report("lzo", 1.2)]}
    report["runs"][2].pop("label")  # labelled by its compressor instead
    # other bins than the first two: drawn on a (log) value axis instead of bin slots
    report["runs"][2]["ratio_histogram"] = {"edges": [1.0, 2.0, 4.0, 8.0, 4096.0],
                                            "counts": [5, 50, 20, 2]}
    paths = write_plots(report, tmp_path)
    assert_pngs(paths, tmp_path, PLOT_FILES)


@pytest.mark.parametrize(("drop", "expected"), [
    ("series", ("ratio_histogram.png", "latency_cdf.png")),
    ("ratio_histogram", ("pool_size.png", "latency_cdf.png")),
    ("latency_us", ("pool_size.png", "ratio_histogram.png")),
])
def test_missing_section_skips_its_chart(tmp_path: Path, drop: str,
                                         expected: tuple[str, ...]) -> None:
    report = run_report("lz4")
    del report[drop]
    assert_pngs(write_plots(report, tmp_path), tmp_path, expected)
    for name in set(PLOT_FILES) - set(expected):
        assert not (tmp_path / name).exists()


def test_missing_series_are_skipped(tmp_path: Path) -> None:
    report = run_report("lz4")
    timeline = report["series"]
    for key in ("compressed_bytes", "stored_pages", "written_back_pages", "resident_pages"):
        del timeline[key]
    report["latency_us"] = {"store": [], "load": [3.0, 4.0, 0.0]}  # empty; a 0 on a log axis
    report["ratio_histogram"] = {"edges": [1.0, 2.0]}  # no counts
    assert_pngs(write_plots(report, tmp_path), tmp_path, ("pool_size.png", "latency_cdf.png"))


def test_timeline_without_ops_uses_sample_index(tmp_path: Path) -> None:
    report = {"series": run_report("lz4")["series"]}
    del report["series"]["ops"]
    assert_pngs(write_plots(report, tmp_path), tmp_path, ("pool_size.png",))


def test_nothing_to_draw(tmp_path: Path) -> None:
    assert write_plots({"workload": "x", "compressor": "lz4"}, tmp_path) == []
    assert write_plots({"runs": []}, tmp_path) == []
    assert write_plots({"series": {}, "latency_us": {"store": []}}, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_compare_with_a_run_missing_a_section(tmp_path: Path) -> None:
    partial = run_report("zstd")
    del partial["latency_us"]
    del partial["series"]["pool_total_size"]
    paths = write_plots({"runs": [run_report("lz4"), partial]}, tmp_path)
    assert_pngs(paths, tmp_path, PLOT_FILES)


def test_degenerate_data_still_draws(tmp_path: Path) -> None:
    report = {"compressor": "lz4",
              "series": {"ops": [0], "pool_total_size": [0]},
              "ratio_histogram": {"edges": [0.0, 1.0], "counts": [0]},
              "latency_us": {"store": [1.0]}}
    assert_pngs(write_plots(report, tmp_path), tmp_path, PLOT_FILES)


def test_long_series_are_thinned(tmp_path: Path) -> None:
    n = 100_000
    report = {"compressor": "lz4",
              "series": {"ops": list(range(n)), "pool_total_size": list(range(n))},
              "latency_us": {"store": [1.0 + (i % 1000) for i in range(n)]}}
    assert_pngs(write_plots(report, tmp_path), tmp_path, ("pool_size.png", "latency_cdf.png"))


@pytest.mark.parametrize(("report", "message"), [
    ({"ratio_histogram": {"edges": [1.0, 2.0], "counts": [1, 2]}},
     "ratio_histogram has 2 edges for 2 counts"),
    ({"ratio_histogram": {"edges": [2.0, 1.0], "counts": [1]}},
     "ratio_histogram.edges are not increasing"),
    ({"series": {"ops": [1, 2, 3], "stored_pages": [1, 2]}},
     "series.stored_pages has 2 values, series.ops has 3"),
    ({"series": {"ops": [1], "stored_pages": ["many"]}},
     "series.stored_pages is not a list of numbers"),
    ({"series": {"ops": [1], "stored_pages": "1"}},
     "series.stored_pages is not a list of numbers"),
    ({"series": [1, 2]}, "series is not an object"),
    ({"latency_us": {"load": [[1.0], [2.0]]}}, "latency_us.load is not a flat list"),
    ({"runs": [{"ratio_histogram": {"edges": [1.0], "counts": [1]}}]},
     "runs[0].ratio_histogram has 1 edges"),
    ({"runs": "lz4"}, "runs is not a list"),
    ({"runs": [1]}, "runs[0] is not an object"),
])
def test_malformed_fields_are_refused(tmp_path: Path, report: dict[str, Any],
                                      message: str) -> None:
    with pytest.raises(CorruptData) as info:
        write_plots(report, tmp_path)
    assert message in str(info.value)


def test_missing_matplotlib_gives_an_install_hint(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ZswapError, match="pip install matplotlib"):
        write_plots(run_report("lz4"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_importing_the_module_does_not_import_matplotlib() -> None:
    import subprocess

    code = ("import sys, pyzswap.run.plots; "
            "sys.exit(1 if any(m.startswith('matplotlib') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
