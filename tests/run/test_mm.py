"""The mm model (``pyzswap.run.mm``) against the 6.18 rules it follows, one rule per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.errors import InvalidParameter
from pyzswap.memcg import MemCgroup
from pyzswap.run.harness import RunConfig, run_workload
from pyzswap.run.mm import MemoryModel, default_min_free_kbytes, watermarks
from pyzswap.run.trace import write_offsets
from pyzswap.run.workload import trace_workload
from pyzswap.swapcore import SwapCore
from pyzswap.tools.pagesets import make_pages

Model = Callable[..., MemoryModel]


@pytest.fixture
def model(tmp_path: Path) -> Iterator[Model]:
    """``model(limit_pages, version=1, ...)``: a MemoryModel with one group "g" (limited) on a
    big machine, a swap file, lzo, zswap's clock-driven worker."""
    cores: list[SwapCore] = []

    def make(limit: int | None = None, *, version: int = 1, ram: int = 1 << 20,
             swap: int = 4096, max_pool_percent: int = 20, host_memcgs: int = 0,
             **kwargs: object) -> MemoryModel:
        root = MemCgroup(version=version)
        for i in range(host_memcgs):
            root.create(f"host{i}")
        g = root.create("g")
        if limit is not None:
            g.write(g.limit_file, str(limit * PAGE_SIZE))
        z = Zswap(compressor="lzo", totalram_pages=ram, max_pool_percent=max_pool_percent,
                  memcg_root=root, shrink_work="clock", cpus=1)
        core = SwapCore(z, directory=tmp_path)
        core.swapon(swap)
        cores.append(core)
        mm = MemoryModel(core, ram, memcg_root=root, **kwargs)  # type: ignore[arg-type]
        return mm

    yield make
    for core in cores:
        core.close()


def _proc(mm: MemoryModel, pid: int, npages: int, pageset: str = "text",
          group: str | None = "g") -> None:
    memcg = mm.root.find(group) if group else None
    data = make_pages(pageset, npages, seed=pid)
    mm.add_process(pid, npages, lambda: data, memcg)
    mm.start(pid)


def _touch(mm: MemoryModel, pid: int, pages: range | list[int], write: bool = False) -> None:
    for p in pages:
        mm.access(pid, p, write)


def test_pages_exist_from_their_first_access(model: Model) -> None:
    """do_anonymous_page: an untouched page uses no memory; each first touch charges a page,
    and the first page of each 512-page range a page-table page (__pte_alloc)."""
    mm = model()
    _proc(mm, 1, 2000)
    assert mm.resident_pages == 0 and mm.root.find("g").memory_pages == 0
    _touch(mm, 1, [0, 1, 2, 600])
    assert mm.resident_pages == 4 and mm.pgtable_pages == 2
    assert mm.root.find("g").memory_pages == 6
    assert mm.stats.first_touch == 4 and mm.stats.pgmajfault == 0
    st = mm.page_state(1, 600)
    assert st["present"] and st["mapped"] and st["dirty"] and not st["active"]


def test_a_process_does_not_exist_before_its_start(model: Model) -> None:
    mm = model()
    data = make_pages("text", 8, seed=1)
    mm.add_process(1, 8, lambda: data, mm.root.find("g"))
    with pytest.raises(InvalidParameter, match="not running"):
        mm.access(1, 0)
    mm.start(1)
    mm.access(1, 0)
    mm.exit(1)
    assert mm.resident_pages == 0 and mm.pgtable_pages == 0 and mm.processes() == []


def test_cgroup_v1_does_not_charge_zswap_v2_does(model: Model) -> None:
    """obj_cgroup_charge_zswap returns at once unless cgroup_subsys_on_dfl: under v1 the limit
    bounds the group's pages only; under v2 zswap's compressed bytes count against it."""
    for version in (1, 2):
        mm = model(200, version=version)
        _proc(mm, 1, 300)
        _touch(mm, 1, range(300), write=True)
        g = mm.root.find("g")
        assert mm.zswap.stats()["stored_pages"] > 0
        if version == 1:
            assert g.zswap_current == 0
            assert g.memory_current == g.memory_pages * PAGE_SIZE <= 200 * PAGE_SIZE
            assert g.read("memory.usage_in_bytes") == f"{g.memory_current}\n"
        else:
            assert g.zswap_current > 0
            assert g.memory_current == g.memory_pages * PAGE_SIZE + g.zswap_current
            assert g.memory_pages * PAGE_SIZE + g.zswap_current <= 201 * PAGE_SIZE


def test_swap_cache_keeps_the_slot_of_a_read_fault_and_only_zswap_dirties(model: Model) -> None:
    """do_swap_page keeps a read-faulted page in the swap cache with its slot; zswap_load
    dirties the folio (its entry is gone), a page read from the device stays clean and is
    reclaimed again without being written (no new pswpout)."""
    mm = model(64, swap=8192, max_pool_percent=0)  # zswap refuses everything: the device
    _proc(mm, 1, 256)
    _touch(mm, 1, range(256), write=True)
    written = mm.core.stats()["pswpout"]
    assert written > 0
    victim = next(p for p in range(256) if not mm.page_state(1, p)["present"])
    mm.access(1, victim)  # a read fault from the device
    st = mm.page_state(1, victim)
    assert st["swapcache"] and st["slot"] >= 0 and not st["dirty"] and st["mapped"]
    _touch(mm, 1, [p for p in range(256) if p != victim])  # push it out again
    assert not mm.page_state(1, victim)["present"]
    mm.access(1, victim)
    assert mm.core.stats()["swpin_zero"] == 0
    # Reclaimed clean pages are not written again: every device write is a first eviction.
    assert mm.core.stats()["pswpout"] <= written + 256

    mm2 = model(64)
    _proc(mm2, 2, 256)
    _touch(mm2, 2, range(256), write=True)
    page = next(p for p in range(256) if not mm2.page_state(2, p)["present"])
    mm2.access(2, page)
    st = mm2.page_state(2, page)
    assert st["swapcache"] and st["dirty"]  # zswap_load: the only copy is in memory


def test_a_write_fault_or_a_full_swap_frees_the_slot(model: Model) -> None:
    """should_try_to_free_swap: an exclusive write fault frees the swap cache (the page is
    dirty, its slot freed); so does vm_swap_full() (over half the swap in use) on a read."""
    mm = model(64)
    _proc(mm, 1, 256)
    _touch(mm, 1, range(256), write=True)
    out = [p for p in range(256) if not mm.page_state(1, p)["present"]]
    mm.access(1, out[0], write=True)
    st = mm.page_state(1, out[0])
    assert not st["swapcache"] and st["slot"] == -1 and st["dirty"]
    mm.access(1, out[1])
    assert mm.page_state(1, out[1])["swapcache"]  # swap is mostly free: the slot stays

    full = model(64, swap=300)  # 192 pages out of 299 in use: vm_swap_full()
    _proc(full, 1, 256)
    _touch(full, 1, range(256), write=True)
    out = [p for p in range(256) if not full.page_state(1, p)["present"]]
    full.access(1, out[0])
    assert not full.page_state(1, out[0])["swapcache"]


def test_anon_pages_need_a_second_reference_to_be_activated(model: Model) -> None:
    """folio_check_references: a young PTE sets PG_referenced and keeps the folio on the
    inactive list; only a folio found young again with PG_referenced set is activated."""
    mm = model(200)
    _proc(mm, 1, 400)
    _touch(mm, 1, range(100))
    g = mm.root.find("g")
    mm.try_to_free_mem_cgroup_pages(g, 32)  # scans find young PTEs first: kept, referenced
    assert mm.stats.pgactivate == 0
    kept = [p for p in range(100) if mm.page_state(1, p)["referenced"]]
    assert len(kept) >= 2 and all(not mm.page_state(1, p)["young"] for p in kept)
    used, unused = kept[0], kept[1]
    mm.access(1, used)  # a second reference
    for _ in range(10):
        mm.try_to_free_mem_cgroup_pages(g, 32)
        if not mm.page_state(1, unused)["present"]:
            break
    assert mm.page_state(1, used)["active"] and mm.stats.pgactivate == 1
    assert not mm.page_state(1, unused)["present"]  # referenced once only: reclaimed


def test_refaults_with_a_short_distance_are_activated(model: Model) -> None:
    """workingset_refault: every swap-in with a shadow counts as workingset_refault_anon; one
    whose refault distance fits in the active list is activated (workingset_activate_anon)."""
    mm = model(100, swappiness=200, page_cluster=0)  # no readahead: a refault per fault
    _proc(mm, 1, 300)
    rng = np.random.default_rng(3)
    hot = rng.random(4000) < 0.7
    pages = np.where(hot, rng.integers(0, 60, 4000), rng.integers(60, 300, 4000))
    for k in range(0, 4000, 100):  # with memory.stat read every 100 accesses (a flush)
        _touch(mm, 1, pages[k:k + 100].tolist())
        mm.flush_stats()
    st = mm.stats
    assert st.workingset_refault_anon == st.pgmajfault > 0
    assert 0 < st.workingset_activate_anon < st.workingset_refault_anon


def test_cluster_readahead_reads_the_neighbouring_slots(model: Model) -> None:
    """swap_cluster_readahead: with page-cluster 3 the aligned slots around a fault are read
    into the swap cache; later faults on them are minor (swap cache hits, swap_ra_hit) and
    the window grows with the hits (swapin_nr_pages)."""
    mm = model(64, page_cluster=3)
    _proc(mm, 1, 512)
    _touch(mm, 1, range(512), write=True)  # evicted in order: neighbouring slots
    _touch(mm, 1, range(0, 256))
    st = mm.stats
    assert st.swap_ra > 0 and st.swap_ra_hit > 0 and st.swapcache_hits > 0
    assert st.pgmajfault + st.swapcache_hits == st.pgfault - st.first_touch
    none = model(64, page_cluster=0)
    _proc(none, 1, 512)
    _touch(none, 1, range(512), write=True)
    _touch(none, 1, range(0, 256))
    assert none.stats.swap_ra == 0 and none.stats.swapcache_hits == 0


def test_zsmalloc_compaction_runs_only_in_global_reclaim(model: Model) -> None:
    """zsmalloc's shrinker is not memcg-aware: memcg limit reclaim never compacts the pool;
    global reclaim (the root memcg's shrink_slab) does."""
    mm = model(64)
    _proc(mm, 1, 2048, "mixed")
    for _ in range(2):
        _touch(mm, 1, range(0, 2048, 3))
    assert mm.stats.compactions == 0 and mm.zswap.compactable_pages() >= 0
    glob = model(None, version=2, ram=1536, min_free_kbytes=256)  # the machine is small
    _proc(glob, 1, 2048, "mixed", group=None)
    _touch(glob, 1, range(2048), write=True)
    _touch(glob, 1, np.random.default_rng(1).integers(0, 2048, 6144).tolist())
    assert glob.stats.kswapd_wakeups + glob.stats.direct_reclaims > 0
    assert glob.stats.compactions > 0


def test_kswapd_reclaims_between_the_watermarks(model: Model) -> None:
    """Below the low watermark kswapd is woken and reclaims up to the high one; only below
    min does the allocating task reclaim directly."""
    assert watermarks(262144, 4096) == (1024, 1286, 1548)
    assert default_min_free_kbytes(262144) == 4096  # int_sqrt(1 GiB in KiB * 16)
    mm = model(None, version=2, ram=2048, min_free_kbytes=512)
    _proc(mm, 1, 4096, group=None)
    _touch(mm, 1, range(4096), write=True)
    st = mm.stats
    assert st.kswapd_wakeups > 0 and st.pgscan_kswapd > 0 and st.pgsteal_kswapd > 0
    assert mm.free_pages() > mm.wmark_min


def test_the_pool_limit_worker_is_asynchronous(model: Model) -> None:
    """zswap's shrink worker runs beside the workload: while it writes back, stores fail and
    go straight to the swap device; pswpout counts both (the kernel's meaning)."""
    mm = model(256, ram=8192, max_pool_percent=2, swappiness=200)
    _proc(mm, 1, 2048, "mixed")
    for _ in range(3):
        _touch(mm, 1, range(2048))
    z, core = mm.zswap.stats(), mm.core.stats()
    assert z["pool_limit_hit"] > 0 and z["written_back_pages"] > 0
    assert mm.stats.worker_runs > 0 and mm.stats.writeback_folios == z["written_back_pages"]
    assert core["pswpout"] == core["swpout_disk"] + mm.zswap.vmstat()["zswpwb"]
    assert core["swpout_disk"] > 0  # refused while the worker was at it


def _pool_limit_run(mm: MemoryModel) -> dict[str, int]:
    _proc(mm, 1, 2048, "mixed")
    for _ in range(3):
        _touch(mm, 1, range(2048))
    return mm.zswap.stats()


def test_the_host_s_other_memory_cgroups_slow_the_pool_limit_worker(model: Model) -> None:
    """shrink_worker walks every memcg of the machine round-robin, one shrink_memcg call per
    online group (nothing to write back in the host's own: -ENOENT), past the dying ones: with
    more of them the worker frees the pool more slowly and more stores are refused."""
    base = model(256, ram=8192, max_pool_percent=2, swappiness=200)
    z0 = _pool_limit_run(base)
    online = model(256, ram=8192, max_pool_percent=2, swappiness=200, host_memcgs=300)
    z1 = _pool_limit_run(online)
    dying = model(256, ram=8192, max_pool_percent=2, swappiness=200)
    dying.dying_memcgs = 5000
    z2 = _pool_limit_run(dying)
    assert z0["written_back_pages"] > 0
    for z in (z1, z2):
        assert z["written_back_pages"] < z0["written_back_pages"]
        assert z["stored_pages"] < z0["stored_pages"] or z["pool_limit_hit"] > z0[
            "pool_limit_hit"]
    # each of the 300 empty groups is a step of every pass (taken in one go, counted singly)
    assert online.stats.worker_steps >= 300 * online.stats.worker_runs
    assert base.stats.worker_steps < 300 * base.stats.worker_runs


def test_writes_follow_the_trace_rule(model: Model) -> None:
    """A w copies 256 bytes within the page at write_offsets(seed, n), n counting writes."""
    mm = model(seed=5)
    _proc(mm, 1, 4)
    before = mm.truth(1, 2)
    mm.access(1, 0, write=True)  # write 0 (also the first touch of page 0)
    mm.access(1, 2, write=True)  # write 1
    src, dst = write_offsets(5, 1)
    expect = bytearray(before)
    expect[dst:dst + 256] = before[src:src + 256]
    assert mm.truth(1, 2) == bytes(expect)
    gs = mm.page_index(np.array([1, 1, 1]), np.array([2, 3, 2]))
    mm.run(gs, np.array([1, 0, 1], dtype=np.int8))  # writes 2 and 3, by the MMU
    for n in (2, 3):
        src, dst = write_offsets(5, n)
        expect[dst:dst + 256] = expect[src:src + 256]
    assert mm.truth(1, 2) == bytes(expect)
    # strided indexes and boolean ops are taken as well: writes 4 and 5 (page 2, page 2)
    mm.run(np.repeat(gs, 2)[::2], np.array([True, False, True]))
    for n in (4, 5):
        src, dst = write_offsets(5, n)
        expect[dst:dst + 256] = expect[src:src + 256]
    assert mm.truth(1, 2) == bytes(expect)


def test_pageout_reclaim_and_set_lines(tmp_path: Path) -> None:
    """MADV_PAGEOUT reclaims the range now; memory.reclaim reclaims from the group; a lower
    memory.max reclaims down to it."""
    text = "\n".join(["proc 1 400 memcg=g pageset=text", "w 1 0-399",
                      "pageout 1 0-99", "r 1 300-399", "reclaim g 400K", "r 1 200-399",
                      "set g memory.max 1200K", "r 1 0-50"]) + "\n"
    path = tmp_path / "c.trace"
    path.write_text(text)
    r = run_workload(trace_workload(path), RunConfig(compressor="lz4", ram_pages=1 << 20)).data
    assert r["zswpout"] >= 100 + 100  # the pageout and the reclaim
    assert r["memcg"]["/g"]["memory.max"] == 1200 * 1024
    assert r["memcg"]["/g"]["memory.current"] <= 1200 * 1024 + PAGE_SIZE
    v1 = RunConfig(compressor="lz4", ram_pages=1 << 20, cgroup_version=1)
    with pytest.raises(InvalidParameter, match=r"memory\.reclaim is a cgroup v2 file"):
        run_workload(trace_workload(path), v1)


def test_writeback_disabled_group_keeps_refused_pages_in_memory(tmp_path: Path) -> None:
    """issue 17 (1): zswap refuses every page of a group with memory.zswap.writeback=0 and
    memory.zswap.max=0; 6.18's swap_writeout keeps each one in memory (AOP_WRITEPAGE_ACTIVATE,
    activated), so nothing reaches the swap device and reclaim frees nothing."""
    lines = ["proc 1 300 memcg=g pageset=text"] + ["w 1 0-299", "r 1 0-299"] * 2
    path = tmp_path / "t.trace"
    path.write_text("\n".join(lines) + "\n")
    cfg = RunConfig(compressor="lz4", ram_pages=4096, memcg_max={"g": 100 * 4096},
                    zswap_max={"g": 0}, zswap_writeback={"g": False})
    r = run_workload(trace_workload(path), cfg).data
    assert r["vmstat"]["pswpout"] == 0 and r["vmstat"]["zswpout"] == 0
    assert r["pgsteal_anon"] == 0
    assert r["pgactivate"] > 0 and r["mm"]["pageout_activate"] > 0
    assert r["faults"]["major"] == 0  # every page stayed in memory
    assert r["mm"]["memcg_oom"] > 0  # the kernel's OOM: nothing could be reclaimed


def test_madv_cold_deactivates_and_pageout_keeps_the_young_bit(model: Model) -> None:
    """madvise_cold_or_pageout_pte_range: MADV_COLD clears the PTE young bit and
    PG_referenced and moves active folios to the inactive list (workingset, pgdeactivate);
    MADV_PAGEOUT reclaims at once, ignoring references."""
    mm = model(version=2)
    _proc(mm, 1, 64)
    for _ in range(3):  # young + PG_referenced at two scans: activated
        _touch(mm, 1, range(64))
        mm.memory_reclaim(mm.root.find("g"), 4 * PAGE_SIZE)
    _touch(mm, 1, range(64))
    active = [p for p in range(64) if mm.page_state(1, p)["active"]]
    assert active
    before = mm.stats.pgdeactivate
    assert mm.cold(1, 0, 63) == len(active)
    assert mm.stats.pgdeactivate - before == len(active)
    for p in range(64):
        st = mm.page_state(1, p)
        assert not st["active"] and not st["young"] and not st["referenced"]
    assert all(mm.page_state(1, p)["workingset"] for p in active)
    assert mm.resident_pages == 64  # nothing reclaimed
    with pytest.raises(InvalidParameter):
        mm.cold(1, 60, 64)


def test_min_free_kbytes_at_run_time_moves_the_watermarks(model: Model) -> None:
    mm = model(None, version=2, ram=262144)
    mm.set_min_free_kbytes(8192)
    assert (mm.wmark_min, mm.wmark_low, mm.wmark_high) == watermarks(262144, 8192)
    with pytest.raises(InvalidParameter):
        mm.set_min_free_kbytes(-1)


def test_swap_max_set_line_limits_the_groups_swap(tmp_path: Path) -> None:
    """``set <memcg> memory.swap.max`` (cgroup v2): the group's slots stop at the limit
    (__mem_cgroup_try_charge_swap); a cgroup v1 run refuses the line before it starts."""
    text = "\n".join(["proc 1 256 memcg=g pageset=text", "w 1 0-255",
                      "set g memory.swap.max 128K", "pageout 1 0-255"]) + "\n"
    path = tmp_path / "s.trace"
    path.write_text(text)
    r = run_workload(trace_workload(path), RunConfig(compressor="lz4", ram_pages=1 << 18,
                                                     cgroup_version=2)).data
    assert r["vmstat"]["zswpout"] == 32  # 128K of slots
    with pytest.raises(InvalidParameter, match=r"memory\.swap\.max is not a cgroup v1 file"):
        run_workload(trace_workload(path), RunConfig(compressor="lz4", ram_pages=1 << 18,
                                                     cgroup_version=1))


def test_reclaim_hands_its_next_candidates_to_the_look_ahead(model: Model) -> None:
    """pyzswap's own (MemoryModel.precompress): at the end of a reclaim the folios at the
    inactive tail (64, in two batches) go to zswap's look-ahead compressor, so the next
    reclaim's stores find their pages compressed (on the second core) rather than racing the
    helper for them. The outcome is the same as without the look-ahead."""
    counts = []
    for precompress in (True, False):
        mm = model(256, swappiness=200, page_cluster=0)
        mm.precompress = precompress
        _proc(mm, 1, 1024)
        _touch(mm, 1, range(600))
        taken: list[int] = []
        stores: list[int] = []
        for rnd in range(3):
            mm.zswap.precompress_wait()
            before = mm.zswap.precompress_counts()[0]
            stored = mm.zswap.stats()["stored_pages"]
            batches = mm.stats.reclaim_batches
            page = 600 + rnd
            while mm.stats.reclaim_batches == batches:  # up to the next reclaim
                mm.access(1, page)
                page += 1
            stores.append(mm.zswap.stats()["stored_pages"] - stored)
            taken.append(mm.zswap.precompress_counts()[0] - before)
        assert min(stores) > 32  # more than one batch: the second half of the tail counts
        if precompress:
            # every store of each reclaim (with only 32 folios handed over early, the stores
            # beyond them raced the helper)
            assert taken == stores, (taken, stores)
        else:
            assert taken == [0, 0, 0]
        counts.append((mm.stats.to_dict(), mm.zswap.stats()))
    assert counts[0] == counts[1]
