"""zram as an oracle, against this machine's kernel (skipped without root or zram).

Every test also passes through conftest's ``host_unchanged``: zram devices, their state and
everything else the oracle touches must be as before.
"""

from __future__ import annotations

import pytest

from pyzswap.errors import InvalidParameter
from pyzswap.tools.kernel import zram as zram_mod
from pyzswap.tools.kernel._host import KernelRunError, KernelUnavailable
from pyzswap.tools.kernel.compare import pyzswap_zram, zram_size_analysis
from pyzswap.tools.kernel.zram import MM_STAT_FIELDS, ZramDevice, run_zram, zram_algorithms

from .conftest import ZRAM_MARKS

pytestmark = ZRAM_MARKS


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

    monkeypatch.setattr(zram_mod.ZramDevice, "write", fail)
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


def _algorithm() -> str:
    return "lz4" if "lz4" in zram_algorithms() else "lzo"


def test_device_block_io_matches_one_pass(small_mixed: bytes) -> None:
    """Blocks written out of order, then read back block by block, give the one-pass run's
    accounting; a reset empties the device for a second round."""
    pages = len(small_mixed) // 4096
    whole = run_zram(small_mixed, _algorithm())
    view = memoryview(small_mixed)
    blocks = [(i, min(i + 100, pages)) for i in range(0, pages, 100)]
    with ZramDevice(_algorithm(), pages) as dev:
        for _round in range(2):
            seconds = [dev.write(lo, view[lo * 4096:hi * 4096]) for lo, hi in reversed(blocks)]
            assert all(s > 0 for s in seconds)
            assert dev.mm_stat()["compr_data_size"] == whole.mm_stat["compr_data_size"]
            assert dev.compr_data_size() == whole.mm_stat["compr_data_size"]
            assert all(dev.read(lo, hi - lo) > 0 for lo, hi in blocks)
            assert dev.mismatched_pages() == 0
            dev.reset()
            assert dev.mm_stat()["orig_data_size"] == 0


def test_device_refuses_bad_ranges_and_use_outside_the_block(small_mixed: bytes) -> None:
    with ZramDevice(_algorithm(), 8) as dev:
        page = small_mixed[:4096]
        with pytest.raises(InvalidParameter, match="outside"):
            dev.write(8, page)
        with pytest.raises(InvalidParameter, match="outside"):
            dev.read(7, 2)
        with pytest.raises(InvalidParameter, match="whole number of pages"):
            dev.write(0, page[:100])
        dev.write(7, page)
    with pytest.raises(KernelRunError, match="not open"):
        dev.write(0, page)
    with pytest.raises(InvalidParameter, match="at least one page"):
        ZramDevice(_algorithm(), 0)
