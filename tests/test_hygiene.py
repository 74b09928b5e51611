"""Resource hygiene: after swapoff, close and pool teardown nothing is left behind — no thread,
no file descriptor, no temporary swap file, no zsmalloc memory, no per-CPU context."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.cpu import CpuModel
from pyzswap.errors import AllocFail, InvalidParameter
from pyzswap.memcg import MemCgroup
from pyzswap.pool import ZswapPool
from pyzswap.swapcore import SwapCore
from pyzswap.tools.faults import PoolCreationFaults

from .conftest import mixed_page, text_page

#: The behavioural suite runs once per flow (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _threads() -> set[int | None]:
    return {t.ident for t in threading.enumerate()}


def _new_threads(before: set[int | None], timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        extra = [t.name for t in threading.enumerate() if t.ident not in before]
        if not extra or time.monotonic() > deadline:
            return extra
        time.sleep(0.02)


def _released(pool: ZswapPool) -> bool:
    return (pool.destroyed and pool.zs_pool.destroyed and pool.zs_pool.pages_allocated == 0
            and not any(row["allocated"] for row in pool.ctx_report()))


@pytest.fixture
def baseline() -> Iterator[tuple[set[str], set[int | None]]]:
    gc.collect()
    yield _fds(), _threads()


def test_full_lifecycle_releases_threads_fds_files_and_memory(
        tmp_path: Path, baseline: tuple[set[str], set[int | None]]) -> None:
    fds, threads = baseline
    z = Zswap(compressor="lz4", totalram_pages=400, max_pool_percent=10,
              memcg_root=MemCgroup(), cpus=CpuModel(4))
    core = SwapCore(z, directory=tmp_path)
    t0, t1 = core.swapon(1024), core.swapon(512)
    assert len(list(tmp_path.iterdir())) == 2 and len(_fds() - fds) == 2
    owned: dict[int, bytes] = {}
    for i in range(600):  # over the pool limit: the shrink worker thread starts
        page = mixed_page(i)
        swp = core.swap_out(page)
        assert swp is not None
        owned[swp] = page
    z.set_param("compressor", "zstd")  # a second pool
    assert z.shrink_work_flush(timeout=60)
    assert any(t.name == "zswap-shrink" for t in threading.enumerate())
    pools = z.pools()
    assert len(pools) == 2
    back: dict[int, bytes] = {}
    for t in (t0, t1):
        core.swapoff(t, back.__setitem__)
    assert back == owned
    assert _released(pools[1])  # the old pool died with its last entry
    assert z.stats()["pool_total_size"] == 0 and z.stats()["stored_pages"] == 0
    assert list(tmp_path.iterdir()) == []  # swapoff removed the temporary swap files
    core.close()
    assert _new_threads(threads) == []
    assert _fds() == fds
    assert z.pools() == []  # close() tears the pools down
    assert all(_released(p) for p in pools)


def test_close_without_swapoff_still_closes_files(
        tmp_path: Path, baseline: tuple[set[str], set[int | None]]) -> None:
    fds, threads = baseline
    z = Zswap(compressor="lz4", totalram_pages=None)
    core = SwapCore(z, directory=tmp_path)
    core.swapon(64)
    for i in range(10):
        core.swap_out(text_page(i))
    core.close()  # teardown with pages still swapped out
    assert list(tmp_path.iterdir()) == [] and _fds() == fds
    assert _new_threads(threads) == []


def test_named_swap_file_is_kept_but_its_fd_is_closed(
        tmp_path: Path, baseline: tuple[set[str], set[int | None]]) -> None:
    fds, _ = baseline
    z = Zswap(compressor="lz4", totalram_pages=None)
    core = SwapCore(z)
    path = tmp_path / "swapfile"
    t = core.swapon(64, path)
    swp = core.swap_out(text_page(1))
    assert swp is not None
    core.swapoff(t, lambda swp, page: None)
    core.close()
    assert path.exists() and _fds() == fds


def test_failed_swapon_leaves_no_file_or_fd(
        tmp_path: Path, baseline: tuple[set[str], set[int | None]]) -> None:
    fds, _ = baseline
    z = Zswap(compressor="lz4", totalram_pages=None)
    core = SwapCore(z, directory=tmp_path)
    z.swapon(0, 16)  # zswap already has trees for type 0: the swap core's swapon must undo
    with pytest.raises(InvalidParameter, match="already on"):
        core.swapon(64)
    assert list(tmp_path.iterdir()) == [] and _fds() == fds
    core.close()


def test_failed_pool_creation_frees_what_it_allocated(
        baseline: tuple[set[str], set[int | None]]) -> None:
    faults = PoolCreationFaults()
    cpus = CpuModel(4)
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=cpus, mem_hook=faults)
    holding = sum(r["bytes"] for r in z.pool_report()[0]["per_cpu"])
    faults.schedule.fail_every(4)  # the last CPU of the new pool fails
    with pytest.raises(AllocFail):
        z.set_param("compressor", "zstd")
    assert len(z.pools()) == 1
    assert sum(r["bytes"] for r in z.pool_report()[0]["per_cpu"]) == holding
    faults.schedule.clear()
    z.set_param("compressor", "zstd")  # works now; lz4 had no entries, so it is gone
    assert [p.tfm_name for p in z.pools()] == ["zstd"]
    z.close()


def test_repeated_lifecycles_do_not_accumulate_fds_threads_or_files(
        tmp_path: Path, baseline: tuple[set[str], set[int | None]]) -> None:
    fds, threads = baseline
    for round_ in range(5):
        z = Zswap(compressor="lz4", totalram_pages=200, max_pool_percent=5)
        core = SwapCore(z, directory=tmp_path)
        t = core.swapon(256)
        swps = [core.swap_out(mixed_page(round_ * 100 + i)) for i in range(100)]
        out = bytearray(PAGE_SIZE)
        for swp in swps[:50]:
            assert swp is not None
            core.swap_in(swp, out)
            core.swap_free(swp)
        core.swapoff(t, lambda swp, page: None)
        pools = z.pools()
        core.close()
        for pool in pools:
            pool.destroy()
        assert all(_released(p) for p in pools)
    assert list(tmp_path.iterdir()) == [] and _fds() == fds
    assert _new_threads(threads) == []


def test_close_releases_the_pools() -> None:
    z = Zswap(compressor="lz4", totalram_pages=None)
    pools = z.pools()
    z.close()
    assert all(_released(p) for p in pools)
