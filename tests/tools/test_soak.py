"""The concurrency soak (60 s in CI), its building blocks, and the bugs it found.

``PYZSWAP_SOAK_SECONDS`` shortens (or lengthens) the soak locally; ``-m "not soak"`` skips it.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.errors import InvalidParameter
from pyzswap.memcg import MemCgroup
from pyzswap.swap import SwapIOError, swp_offset, swp_type
from pyzswap.swapcore import SwapCore
from pyzswap.tools.faults import FAULT_POINTS
from pyzswap.tools.soak import check_invariants, main, rewrite_slot, run_soak
from pyzswap.zsmalloc import ZsPool

from ..conftest import random_page, text_page

SOAK_SECONDS = float(os.environ.get("PYZSWAP_SOAK_SECONDS", "60"))


@pytest.mark.soak
def test_soak_many_threads_with_faults_loses_nothing_and_leaks_nothing(tmp_path: Path) -> None:
    report = run_soak(SOAK_SECONDS, threads=4, seed=int(os.environ.get("PYZSWAP_SOAK_SEED", "0")),
                      directory=str(tmp_path))
    text = "\n".join(report.lines())
    print(text)
    assert report.mismatches == 0, text
    assert report.unexpected_errors == 0, text
    assert report.leak_count == 0, text
    assert report.ok and report.final_pages_verified > 0
    assert report.loads_verified > 1000, text
    assert list(tmp_path.iterdir()) == []
    if SOAK_SECONDS >= 30:  # long enough for every fault and a swapoff
        assert report.checkpoints >= 3 and report.swapoffs >= 1, text
        injected = report.faults_injected
        for point in FAULT_POINTS:
            if point.name in ("swap_enospc", "swap_write_error"):
                assert injected["swap_write_error"] > 0, text
            else:
                assert injected.get(point.name, 0) > 0, (point.name, text)


@pytest.mark.parametrize("flow", ["python", "native"])
def test_short_soak_without_faults(tmp_path: Path, flow: str) -> None:
    report = run_soak(2, threads=2, seed=5, faults=False, directory=str(tmp_path),
                      checkpoint_every=0.5, concurrent_memcg_offline=False, flow=flow)
    assert report.ok, "\n".join(report.lines())
    assert report.ops > 100 and report.checkpoints >= 1 and not report.faults_injected.get(
        "corrupt_object")
    assert report.expected_errors.get("swap_in_io_error", 0) == 0
    assert report.ops_by_kind["memcg_offline"] == report.checkpoints  # removed at checkpoints


@pytest.mark.parametrize("flow", ["python", "native"])
def test_short_soak_with_faults_on_each_flow(tmp_path: Path, flow: str) -> None:
    """The 60-second soak runs the flow "auto" picks; a short one with every fault runs each
    flow explicitly, so both see the faults, the chaos and the checkpoints together."""
    report = run_soak(4, threads=3, seed=11, directory=str(tmp_path), checkpoint_every=1.0,
                      flow=flow)
    assert report.ok, "\n".join(report.lines())
    assert report.checkpoints >= 2 and report.ops > 100


def test_soak_command_json_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seconds", "1", "--threads", "1", "--seed", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["mismatches"] == 0 and out["leak_count"] == 0
    assert out["ops"] > 0 and set(out["leaks"]) >= {"threads", "fds", "temp_files", "pools"}
    assert main(["--seconds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyzswap: error:") and err.count("\n") == 1


def test_run_soak_refuses_a_bad_configuration() -> None:
    with pytest.raises(InvalidParameter, match="seconds"):
        run_soak(0)
    with pytest.raises(InvalidParameter, match="unknown soak option"):
        run_soak(1, bogus=1)
    with pytest.raises(InvalidParameter, match="threads"):
        run_soak(1, threads=0)


# ---------------------------------------------------------------------------- helpers -------
@pytest.fixture
def core(tmp_path: Path) -> Iterator[SwapCore]:
    z = Zswap(compressor="lz4", totalram_pages=None, memcg_root=MemCgroup(),
              shrink_work="inline")
    c = SwapCore(z, directory=tmp_path)
    c.swapon(256)
    yield c
    c.close()


def _read(core: SwapCore, swp: int) -> tuple[bytes, str]:
    out = bytearray(PAGE_SIZE)
    source = core.swap_in(swp, out, keep_zswap=True)
    return bytes(out), source


def test_rewrite_slot_goes_to_zswap_zero_bitmap_or_disk(core: SwapCore) -> None:
    z = core.zswap
    swp = core.swap_out(text_page(1))
    assert swp is not None
    assert rewrite_slot(core, swp, text_page(2)) == "zswap"
    assert _read(core, swp) == (text_page(2), "zswap") and z.stats()["stored_pages"] == 1
    assert rewrite_slot(core, swp, bytes(PAGE_SIZE)) == "zero"
    assert _read(core, swp) == (bytes(PAGE_SIZE), "zero") and z.stats()["stored_pages"] == 0
    z.set_param("enabled", False)
    assert rewrite_slot(core, swp, random_page(3)) == "disk"
    assert _read(core, swp) == (random_page(3), "disk")
    z.set_param("enabled", True)
    assert rewrite_slot(core, swp, text_page(4)) == "zswap"  # newer than the disk copy
    assert _read(core, swp) == (text_page(4), "zswap")
    assert check_invariants(core) == []


def test_rewrite_slot_write_error_leaves_no_stale_copy(core: SwapCore) -> None:
    z, device = core.zswap, core.table.device(0)
    swp = core.swap_out(text_page(1))
    assert swp is not None
    z.set_param("enabled", False)
    device.faults.fail_next_writes(1, errno.EIO)
    with pytest.raises(SwapIOError):
        rewrite_slot(core, swp, text_page(2))
    assert z.lookup(0, swp_offset(swp)) is None  # the old zswap copy was erased...
    with pytest.raises(InvalidParameter, match="hold no data"):  # ...and nothing stale is read
        _read(core, swp)
    assert core.table.lookup_swap_cache(swp) is None


def test_check_invariants_catches_broken_accounting(core: SwapCore) -> None:
    z = core.zswap
    for i in range(4):
        core.swap_out(text_page(i))
    z.set_param("compressor", "zstd")
    assert check_invariants(core) == []
    entry = z.entries(0)[0]
    assert z.lru.delete(0, entry.offset, entry)  # an entry falls off the LRU
    problems = check_invariants(core)
    assert any("LRU" in p for p in problems), problems
    z.lru.add(0, entry.offset, entry)
    pool = z.pools()[1]
    pool.ref += 1  # a leaked reference
    assert any("ref" in p for p in check_invariants(core))
    pool.ref -= 1
    assert check_invariants(core) == []


def test_writeback_of_a_stale_entry_under_the_zero_bit_keeps_the_zeros(tmp_path: Path) -> None:
    z = Zswap(compressor="lz4", totalram_pages=None)
    core = SwapCore(z, directory=tmp_path)
    try:
        core.swapon(64)
        swp = core.swap_out(text_page(1))
        assert swp is not None
        t, off = swp_type(swp), swp_offset(swp)
        table = core.table
        # The folio, still in the swap cache, is redirtied to zeros and written out again:
        # swap_writeout sets the zero bit and returns; the zswap entry stays (shadowed).
        zero = bytes(PAGE_SIZE)
        assert table.add_to_swap_cache(swp, zero)
        table.device(t).zeromap_set(off, 1)
        table.delete_from_swap_cache(swp)
        entry = z.lookup(t, off)
        assert entry is not None
        assert z.writeback_entry(entry) == 0  # the shrinker writes the stale entry back
        out = bytearray(PAGE_SIZE)
        core.swap_in(swp, out)
        assert out == zero
    finally:
        core.close()


def test_entry_freed_during_memcg_offline_leaves_no_stale_lru_item(tmp_path: Path) -> None:
    root = MemCgroup()
    child = root.create("c")
    late: dict[str, int] = {}
    core_box: list[SwapCore] = []

    def concurrent_free(memcg: MemCgroup, parent: MemCgroup) -> None:
        # Registered before zswap's hook: runs between memcg_reparent_objcgs and
        # memcg_reparent_list_lrus, like a swap_free on another CPU at that moment.
        core_box[0].swap_free(late["swp"])

    root.register_offline_hook(concurrent_free)
    z = Zswap(compressor="lz4", totalram_pages=None, memcg_root=root)
    core = SwapCore(z, directory=tmp_path)
    core_box.append(core)
    try:
        core.swapon(64)
        swp = core.swap_out(text_page(1), child)
        assert swp is not None
        late["swp"] = swp
        child.remove()
        assert z.stats()["stored_pages"] == 0
        assert len(z.lru) == 0, z.lru.items(root.id)
    finally:
        core.close()


def test_compact_skips_a_pool_destroyed_meanwhile(tmp_path: Path) -> None:
    z = Zswap(compressor="lz4", totalram_pages=None)
    core = SwapCore(z, directory=tmp_path)
    try:
        core.swapon(64)
        swp = core.swap_out(text_page(1))  # the lz4 pool's only entry
        assert swp is not None
        z.set_param("compressor", "zstd")
        current = z.current_pool()

        class FreesOnCompact(ZsPool):
            """The current pool's zsmalloc; compacting it stands for "meanwhile, on another
            CPU, the old pool's last entry is freed"."""

            def compact(self) -> int:
                core.swap_free(swp)
                return super().compact()

        old_zs = current.zs_pool
        current.zs_pool = FreesOnCompact(old_zs.name, old_zs.chain_size)
        old_zs.destroy()
        assert [p.tfm_name for p in z.pools()] == ["zstd", "lz4"]
        z.compact()  # the lz4 pool dies between the snapshot and its zs_compact
    finally:
        core.close()
