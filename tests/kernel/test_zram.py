"""zram as an oracle, against this machine's kernel (skipped without root or zram).

Every test also passes through conftest's ``host_unchanged``: zram devices, their state and
everything else the oracle touches must be as before.
"""

from __future__ import annotations

import pytest

from pyzswap.kernel import zram as zram_mod
from pyzswap.kernel._host import KernelUnavailable
from pyzswap.kernel.compare import pyzswap_zram, zram_size_analysis
from pyzswap.kernel.zram import MM_STAT_FIELDS, run_zram, zram_algorithms

from .conftest import needs_zram

pytestmark = needs_zram


def test_mm_stat_and_read_back(small_mixed: bytes) -> None:
    run = run_zram(small_mixed, "lzo")
    assert list(run.mm_stat) == list(MM_STAT_FIELDS)
    assert run.mm_stat["orig_data_size"] == len(small_mixed)
    assert run.verified and run.mismatched_pages == 0
    assert run.write_seconds > 0 and run.read_seconds > 0
    model = pyzswap_zram(small_mixed, "lzo")
    assert run.mm_stat["same_pages"] == model.same_pages > 0
    assert 0 < run.mm_stat["compr_data_size"] < len(small_mixed)


def test_lz4_matches_pyzswap(small_real: bytes) -> None:
    """The acceptance bounds (0.1% / 1%) on a small real-like set."""
    run = run_zram(small_real, "lz4")
    model = pyzswap_zram(small_real, "lz4").mm_stat()
    k = run.mm_stat
    assert abs(model["compr_data_size"] - k["compr_data_size"]) <= 0.001 * k["compr_data_size"]
    assert abs(model["mem_used_total"] - k["mem_used_total"]) <= 0.01 * k["mem_used_total"]
    assert model["same_pages"] == k["same_pages"]
    assert abs(model["huge_pages"] - k["huge_pages"]) <= 2


def test_zsmalloc_replays_kernel_lengths_exactly(small_mixed: bytes) -> None:
    """Fed the kernel's own per-page lengths, pyzswap's zsmalloc allocates exactly the kernel's
    pages: whatever differs in mem_used_total comes from the compressor."""
    run = run_zram(small_mixed, "lzo", per_page=True)
    assert run.page_sizes is not None and len(run.page_sizes) == len(small_mixed) // 4096
    model = pyzswap_zram(small_mixed, "lzo")
    assert model.page_sizes is not None
    analysis = zram_size_analysis(run.page_sizes, model.page_sizes,
                                  run.mm_stat["mem_used_total"])
    assert analysis["zsmalloc_replay_mem_used_total"] == run.mm_stat["mem_used_total"]
    assert sum(run.page_sizes) == run.mm_stat["compr_data_size"]


def test_unknown_algorithm_is_refused_before_any_change(small_mixed: bytes) -> None:
    with pytest.raises(KernelUnavailable, match="does not offer 'nosuchalg'"):
        run_zram(small_mixed, "nosuchalg")


def test_busy_device_is_refused(small_mixed: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zram_mod, "read_int", lambda path: 1)  # every device "initialised"
    with pytest.raises(KernelUnavailable, match="in use"):
        run_zram(small_mixed, "lzo", device="zram0")


@pytest.mark.parametrize("exc", [RuntimeError("injected"), KeyboardInterrupt()])
def test_device_restored_on_failure(small_mixed: bytes, monkeypatch: pytest.MonkeyPatch,
                                    exc: BaseException) -> None:
    def fail(*args: object) -> None:
        raise exc

    monkeypatch.setattr(zram_mod, "_do_io", fail)
    with pytest.raises(type(exc)):
        run_zram(small_mixed, "lz4" if "lz4" in zram_algorithms() else "lzo")


def test_explicit_unused_device(small_mixed: bytes) -> None:
    """--device zram0 (when it is unused): reset afterwards and its algorithm put back."""
    from pathlib import Path

    dev = Path("/sys/block/zram0")
    if not dev.exists() or dev.joinpath("initstate").read_text().strip() != "0":
        pytest.skip("zram0 missing or in use")
    run = run_zram(small_mixed[:256 * 4096], "lzo", device="zram0")
    assert run.device == "zram0" and not run.hot_added and run.verified
