"""The main benchmark through its library call, at a size that measures nothing but the shape.

Benchmarks are not timed tests: these check which figures, ratios, targets and notes come out,
that the batching compressor is registered only for the run, and the kernel-side skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyzswap.compress import available_compressors, register_batching, unregister_compressor
from pyzswap.errors import InvalidParameter, UnknownCompressor
from pyzswap.tools.bench import PageSource, run_bench
from pyzswap.tools.bench._core import FOLIO_SHAPES, KERNEL_TARGETS, REPLAY_RATIO, TARGETS
from pyzswap.tools.kernel._host import HostPaths

from ..kernel.conftest import needs_zswap

SINGLE = {"raw_compress", "store", "raw_decompress", "load", "raw_compress_cpu", "store_cpu",
          "raw_decompress_cpu", "load_cpu"}
BATCHED = ({f"store_{s}_{v}" for s in FOLIO_SHAPES for v in ("seq", "batched")}
           | {f"raw_compress_{s}" for s in FOLIO_SHAPES} | {"load_1thread", "load_2threads"})


def test_figures_ratios_and_targets(tiny_source: PageSource) -> None:
    report = run_bench(tiny_source, ["lz4"], repeat=2, kernel=False)
    assert report["repeat"] == 2
    steal = report["host_steal_percent"]  # the host's share of the CPU over the run
    assert steal is None or 0.0 <= steal <= 100.0
    assert report["source"]["pages"] == tiny_source.pages
    (r,) = report["results"]
    assert r["compressor"] == "lz4" and r["batched_compressor"] == "lz4-x2"
    assert set(r["figures"]) == SINGLE | BATCHED
    for fig in r["figures"].values():
        assert fig["min"] <= fig["us_per_page"] <= fig["max"]
        assert fig["repeat"] == 2
    assert {"store_vs_raw_compress", "load_vs_raw_decompress", "store_vs_raw_compress_cpu",
            "load_vs_raw_decompress_cpu"} <= set(r["ratios"])
    assert {f"store_{s}_batched_speedup" for s in FOLIO_SHAPES} <= set(r["ratios"])
    assert {f"store_{s}_seq_vs_raw_compress" for s in FOLIO_SHAPES} <= set(r["ratios"])
    # two threads loading at once, beside the raw codec's decompress on two threads
    assert {"load_2threads_speedup", "raw_decompress_2threads_speedup"} <= set(r["ratios"])
    assert all(r["ratios"][k]["median"] > 0 for k in ("load_2threads_speedup",
                                                        "raw_decompress_2threads_speedup"))
    lz4_targets = {k for k, bounds in TARGETS.items()
                   if any(a is None or "lz4" in a for _, _, a in bounds)}
    assert set(r["targets"]) == lz4_targets
    for key, t in r["targets"].items():
        if key in KERNEL_TARGETS:  # no zram, no kernel zswap: not measured, and why
            assert t["met"] is None and "no --kernel" in t["why"]
        else:
            assert t["met"] is not None and t["min"] <= t["median"] <= t["max"]
    assert any("no --kernel" in note for note in r["notes"])
    # The batching compressor existed for the run only.
    assert "lz4-x2" not in available_compressors()


def test_batched_shapes_warm_up_untimed_before_the_repetitions(tiny_source: PageSource) -> None:
    """The batching gate's first jobs measure both ways: they run before repetition 1, and
    no figure counts them."""
    said: list[str] = []
    report = run_bench(tiny_source, ["lz4"], repeat=1, kernel=False, progress=said.append)
    warm = [k for k, line in enumerate(said) if "batched warm-up" in line]
    first = [k for k, line in enumerate(said) if "repetition 1/1" in line]
    assert len(warm) == 1 and first and warm[0] < first[0]
    (r,) = report["results"]
    assert all(r["figures"][k]["repeat"] == 1 for k in BATCHED)


def test_existing_batching_compressor_is_reused_and_kept(tiny_source: PageSource) -> None:
    made = register_batching("lzo", 2)
    try:
        report = run_bench(tiny_source, ["lzo"], repeat=1, kernel=False)
        assert report["results"][0]["batched_compressor"] == "lzo-x2"
        assert "lzo-x2" in available_compressors()
    finally:
        unregister_compressor(made.name)
        made.close()


def test_no_batched_and_zstd_targets(tiny_source: PageSource) -> None:
    (r,) = run_bench(tiny_source, ["zstd"], repeat=1, kernel=False, batched=False)["results"]
    assert set(r["figures"]) == SINGLE
    assert r["batched_compressor"] is None
    assert "store_throughput_vs_zram_write" not in r["targets"]  # lz4 only


def test_unknown_compressor_fails_before_measuring(tiny_source: PageSource) -> None:
    with pytest.raises(UnknownCompressor):
        run_bench(tiny_source, ["lz4", "nope"], repeat=1, kernel=False)


def test_kernel_skipped_with_a_reason(tiny_source: PageSource, tmp_path: Path) -> None:
    empty = HostPaths(sys_block=tmp_path, zram_control=tmp_path / "none")
    (r,) = run_bench(tiny_source, ["lz4"], repeat=1, host=empty, batched=False,
                      kernel=True)["results"]
    reason = "not root" if os.geteuid() else "no zram in this kernel"
    assert any(reason in note for note in r["notes"])
    assert "zram_write" not in r["figures"]


def _zram_state() -> dict[str, tuple[str, str]]:
    return {p.name: ((p / "comp_algorithm").read_text(), (p / "initstate").read_text())
            for p in sorted(Path("/sys/block").glob("zram*"))}


@pytest.mark.host
@pytest.mark.skipif(os.geteuid() != 0 or not Path("/sys/class/zram-control/hot_add").exists(),
                    reason="needs root and zram hot_add")
def test_zram_figures_and_host_restored(tiny_source: PageSource) -> None:
    before = _zram_state()
    (r,) = run_bench(tiny_source, ["lz4"], repeat=1, batched=False, kernel=True)["results"]
    assert _zram_state() == before
    if any("zram skipped" in note for note in r["notes"]):
        pytest.skip("zram does not offer lz4 here")
    assert {"zram_write", "zram_read"} <= set(r["figures"])
    assert r["targets"]["load_throughput_vs_zram_read"]["met"] is not None


@pytest.mark.host
@pytest.mark.skipif(os.geteuid() != 0 or not Path("/sys/class/zram-control/hot_add").exists(),
                    reason="needs root and zram hot_add")
def test_zram_paired_with_every_batched_shape(tiny_source: PageSource) -> None:
    """Each batched shape gets zram writes of its own pages; the best batched ratio is one of
    the shapes' own zram-write / batched-store quotients."""
    before = _zram_state()
    (r,) = run_bench(tiny_source, ["lz4"], repeat=1, kernel=True)["results"]
    assert _zram_state() == before
    if any("zram skipped" in note for note in r["notes"]):
        pytest.skip("zram does not offer lz4 here")
    figs = r["figures"]
    quotients = [figs[f"zram_write_{s}"]["us_per_page"] / figs[f"store_{s}_batched"]["us_per_page"]
                 for s in FOLIO_SHAPES]
    best = r["ratios"]["store_batched_throughput_vs_zram_write"]["median"]
    assert best == pytest.approx(max(quotients), rel=0.01, abs=0.001)


def test_a_row_for_every_target(tiny_source: PageSource) -> None:
    """The report's target rows cover every target of every compressor the targets name,
    measured or not; an unmeasured one says why."""
    report = run_bench(tiny_source, ["zstd"], repeat=1, kernel=False)
    rows = {(row["ratio"], row["compressor"]): row for row in report["targets"]}
    for key, bounds in TARGETS.items():
        for _, _, applies in bounds:
            for name in applies or ("zstd",):
                assert (key, name) in rows
    zstd = rows[("store_2m_batched_speedup", "zstd")]
    assert zstd["target"] == ">= 1.8" and zstd["met"] is not None and not zstd["kernel"]
    assert zstd["repetitions"] == 1
    lzo = rows[("load_throughput_vs_zswap_faultin", "lzo")]
    assert lzo["kernel"] and lzo["met"] is None and "not measured" in lzo["why"]
    assert rows[("store_vs_raw_compress", "zstd")]["target"] == "<= 1.05"


@needs_zswap
def test_loads_paired_with_the_kernels_zswap_fault_in(tiny_source: PageSource) -> None:
    """With --kernel, each repetition pages the set out through the host's zswap and faults it
    back (lzo); the ratio is paired per repetition, and the host is restored."""
    from pyzswap.tools.kernel._host import active_swaps, read_zswap_params

    before = read_zswap_params()
    (r,) = run_bench(tiny_source, ["lzo"], repeat=2, batched=False, kernel=True)["results"]
    figs, ratios = r["figures"], r["ratios"]
    assert figs["kernel_zswap_faultin"]["repeat"] == 2
    assert {"load_throughput_vs_zswap_faultin",
            "load_throughput_vs_zswap_faultin_cpu"} <= set(ratios)
    target = r["targets"]["load_throughput_vs_zswap_faultin"]
    assert target["met"] is not None and target["cpu_median"] > 0
    assert read_zswap_params() == before and not active_swaps()


def test_replay_rows_say_why_without_the_kernel(tiny_source: PageSource) -> None:
    """The replay-speed target has a row per fidelity case asked for; without --kernel it is
    not measured (the kernel side must be replayed live, paired), and the row says so."""
    report = run_bench(tiny_source, ["lz4"], repeat=1, kernel=False, batched=False,
                       replay_cases=["phased", "memcgs"])
    rows = [r for r in report["targets"] if r["ratio"] == REPLAY_RATIO]
    assert [r["case"] for r in rows] == ["phased", "memcgs"]
    for row in rows:
        assert row["compressor"] == "lzo" and row["kernel"] and row["target"] == "<= 1.0"
        assert row["met"] is None and "needs --kernel" in row["why"]
    assert "replay" not in report


def test_unknown_replay_case_fails_before_measuring(tiny_source: PageSource) -> None:
    with pytest.raises(InvalidParameter, match="unknown suite case 'nope'"):
        run_bench(tiny_source, ["lz4"], repeat=1, kernel=True, replay_cases=["nope"])


@needs_zswap
def test_replay_row_measured_live_and_paired(tiny_source: PageSource) -> None:
    """With the kernel: the case replayed on the host beside each model run; the row is the
    paired ratio of ``pyzswap bench replay --kernel``, and its detail is in the report."""
    report = run_bench(tiny_source, ["lz4"], repeat=1, kernel=True, batched=False,
                       replay_cases=["phased"])
    (row,) = [r for r in report["targets"] if r["ratio"] == REPLAY_RATIO]
    (case,) = report["replay"]["cases"]
    assert case["kernel"] == "live, paired"
    assert row["repetitions"] == 1 and row["median"] == case["replay_vs_kernel"]["median"]
    assert row["met"] == (row["median"] <= 1.0)
