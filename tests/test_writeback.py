"""The writeback tier through the public interface: SwapCore + Zswap + swap files + memcg."""

from __future__ import annotations

import errno
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.memcg import MemCgroup, ZswapShrinkCursor
from pyzswap.swap import SWP_OFFSET_MASK
from pyzswap.swapcore import AOP_WRITEPAGE_ACTIVATE, SwapCore
from pyzswap.zswap import SHRINK_STOP
from pyzswap.zswap.params import MAX_RECLAIM_RETRIES, PASS_END
from pyzswap.zswap.shrink import SHRINK_DONE

from .conftest import mixed_page, random_page, text_page

#: The behavioural suite runs once per flow (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")


@pytest.fixture
def core(tmp_path: Path) -> Iterator[SwapCore]:
    z = Zswap(compressor="lz4", totalram_pages=None, memcg_root=MemCgroup())
    c = SwapCore(z, directory=tmp_path)
    yield c
    c.close()


def _swapped_in(core: SwapCore, swp: int, memcg: MemCgroup | None = None) -> bytes:
    out = bytearray(PAGE_SIZE)
    core.swap_in(swp, out, memcg)
    return bytes(out)


def test_pages_go_to_zero_bitmap_zswap_or_disk_and_come_back(core: SwapCore) -> None:
    core.swapon(64)
    z = core.zswap
    pages = [bytes(PAGE_SIZE), text_page(1), random_page(2)]
    swps = [core.swap_out(p) for p in pages]
    assert None not in swps
    z.set_param("enabled", False)  # now zswap refuses: to disk
    disk_swp = core.swap_out(text_page(3))
    assert core.stats()["swpout_zero"] == 1 and core.stats()["swpout_zswap"] == 2
    assert core.stats()["pswpout"] == 1
    assert [_swapped_in(core, s) for s in swps] == pages  # type: ignore[arg-type]
    assert _swapped_in(core, disk_swp) == text_page(3)  # type: ignore[arg-type]
    assert core.stats()["pswpin"] == 1


def test_writeback_entry_writes_to_the_slot_and_frees_the_entry(core: SwapCore) -> None:
    core.swapon(64)
    z = core.zswap
    swp = core.swap_out(text_page(7))
    assert swp is not None
    entry = z.entries(0)[0]
    assert z.writeback_entry(entry) == 0
    assert z.entries(0) == [] and z.stats()["stored_pages"] == 0
    assert z.vmstat()["zswpwb"] == 1
    assert _swapped_in(core, swp) == text_page(7)
    assert core.stats()["pswpin"] == 1  # it came from the file


def test_writeback_races_eexist_stale_entry_and_reused_slot(core: SwapCore) -> None:
    core.swapon(64)
    z, table = core.zswap, core.table
    swp = core.swap_out(text_page(1))
    assert swp is not None
    entry = z.entries(0)[0]
    # The slot's folio is already in the swap cache (a swap-in in flight): -EEXIST.
    assert table.add_to_swap_cache(swp, bytearray(PAGE_SIZE))
    assert z.writeback_entry(entry) == -errno.EEXIST
    table.delete_from_swap_cache(swp)
    # The slot is redirtied and stored again: the old entry must not be written.
    swp2 = swp
    z.store(text_page(2), 0, swp2 & ((1 << 58) - 1))
    writes = table.device(0).stats()["pswpout"]
    assert z.writeback_entry(entry) == -errno.ENOMEM
    assert table.device(0).stats()["pswpout"] == writes
    assert _swapped_in(core, swp) == text_page(2)
    # The entry was invalidated (slot freed) before writeback: nothing written either.
    swp3 = core.swap_out(text_page(3))
    assert swp3 is not None
    entry3 = z.lookup(0, swp3 & ((1 << 58) - 1))
    assert entry3 is not None
    core.swap_free(swp3)
    assert z.writeback_entry(entry3) == -errno.ENOMEM


def test_writeback_io_and_decompress_failures_lose_nothing(core: SwapCore) -> None:
    core.swapon(64)
    z, table = core.zswap, core.table
    swps = [core.swap_out(text_page(i)) for i in range(3)]
    device = table.device(0)
    device.faults.fail_next_writes(1, errno.ENOSPC)
    e0 = z.entries(0)[0]
    assert z.writeback_entry(e0) == -errno.EIO
    assert z.lookup(0, e0.offset) == e0 and device.write_errors == 1
    assert z.writeback_entry(e0) == 0  # the fault is gone: it goes through now
    # A corrupt object: decompression fails during writeback, the entry stays.
    e1 = z.entries(0)[0]
    zs = z.entry_pool(e1).zs_pool
    good = zs.read(e1.handle, e1.length)
    zs.write(e1.handle, b"\xff" * e1.length)
    assert z.writeback_entry(e1) == -errno.EIO
    assert z.stats()["decompress_fail"] == 1 and z.lookup(0, e1.offset) == e1
    zs.write(e1.handle, good)
    # Read errors on swap-in are reported and the page is still there afterwards.
    device.faults.fail_next_reads(1, errno.EIO)
    with pytest.raises(OSError):
        _swapped_in(core, swps[0])  # type: ignore[arg-type]
    assert device.read_errors == 1
    for i, swp in enumerate(swps):
        assert _swapped_in(core, swp) == text_page(i)  # type: ignore[arg-type]


def test_pool_limit_worker_writes_back_to_the_threshold_at_scale(tmp_path: Path) -> None:
    """50k pages through a small pool while the compressor changes: the shrink worker keeps the
    pool under its limit, and every page comes back byte-exact, by swap-in (from zswap or the
    file) for half of them and by swapoff for the rest."""
    nr = 50_000
    z = Zswap(compressor="lz4", totalram_pages=40_000, max_pool_percent=20,
              accept_threshold_percent=90)
    core = SwapCore(z, directory=tmp_path)
    try:
        t = core.swapon(nr + 1024)
        rng = np.random.default_rng(5)
        words = rng.integers(0, 64, size=(nr, PAGE_SIZE // 8), dtype=np.uint64)
        words[:, ::7] = rng.integers(0, 1 << 62, size=(nr, len(range(0, 512, 7))),
                                     dtype=np.uint64)
        words[::97] = 0  # some zero pages for the swap core's bitmap
        data = words.tobytes()
        view = memoryview(data)
        swps = []
        for i in range(nr):
            if i and i % 12_500 == 0:
                z.set_param("compressor", ["zstd", "lzo", "lz4"][i // 12_500 - 1])
            swp = core.swap_out(view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
            assert swp is not None
            swps.append(swp)
        assert z.shrink_work_flush(timeout=120)
        st = z.stats()
        assert st["pool_limit_hit"] > 0 and st["written_back_pages"] > 0
        assert z.total_pages() <= z.max_pages()  # type: ignore[operator]
        assert core.stats()["pswpout"] > 0 and core.stats()["swpout_zero"] > 0
        out = bytearray(PAGE_SIZE)
        for i in range(0, nr, 2):
            core.swap_in(swps[i], out)
            assert out == view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE], i
            core.swap_free(swps[i])
        assert core.stats()["pswpin"] > 0 and core.stats()["swpin_zswap"] > 0
        index = {swp: i for i, swp in enumerate(swps)}
        mismatches: list[int] = []

        def restore(swp: int, page: bytes) -> None:
            i = index[swp]
            if page != view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]:
                mismatches.append(i)

        assert core.swapoff(t, restore) == nr // 2
        assert not mismatches
        assert z.stats()["stored_pages"] == 0 and z.stats()["pool_total_size"] == 0
        assert len(z.pools()) == 1
    finally:
        core.close()


def test_swapoff_brings_every_page_back_and_leaves_nothing(core: SwapCore) -> None:
    t = core.swapon(256)
    z = core.zswap
    owned: dict[int, bytes] = {}
    for i in range(200):
        page = [bytes(PAGE_SIZE), text_page(i), random_page(i), mixed_page(i)][i % 4]
        swp = core.swap_out(page)
        assert swp is not None
        owned[swp] = page
    for entry in z.entries(t)[:30]:
        assert z.writeback_entry(entry) == 0
    z.set_param("compressor", "zstd")  # a second pool, still holding nothing
    back: dict[int, bytes] = {}
    assert core.swapoff(t, lambda swp, page: back.__setitem__(swp, page)) == 200
    assert back == owned
    assert z.stats()["stored_pages"] == 0 and z.stats()["pool_total_size"] == 0
    assert core.table.types() == []


def test_shrinker_second_chance_and_count_scaling(core: SwapCore) -> None:
    core.swapon(256)
    z = core.zswap
    assert z.shrinker_count() == 0  # disabled by default, as CONFIG_ZSWAP_SHRINKER_DEFAULT_ON
    z.set_param("shrinker_enabled", True)
    for i in range(100):
        core.swap_out(text_page(i))
    count = z.shrinker_count()  # entries stored without a memcg: the root LRU, global totals
    # freeable entries scaled by pool pages / stored pages (better compression: less writeback)
    assert 0 < count < 100
    assert count == 100 * z.total_pages() // 100
    # First pass: every entry is referenced and only rotates; then cold entries go.
    assert z.shrinker_scan(None, 100) == SHRINK_STOP
    assert z.stats()["written_back_pages"] == 0
    assert z.shrinker_scan(None, 10) == 10
    assert z.stats()["written_back_pages"] == 10
    # Swap-ins from disk protect as many entries from the next count.
    for _ in range(90):
        z.folio_swapin()
    assert z.shrinker_count() == 0
    assert z.shrinker_count() > 0  # the protection was consumed
    # Per memcg: the group's own counters and LRU.
    root = z.memcg_root
    assert root is not None
    g = root.create("g")
    for i in range(20):
        core.swap_out(text_page(500 + i), g)
    assert 0 < z.shrinker_count(g) <= 20
    g.write("memory.zswap.writeback", "0")
    assert z.shrinker_count(g) == 0


# ---- the kernel's cgroup zswap selftests (tools/testing/selftests/cgroup/test_zswap.c) ----

def test_zswap_max_limits_the_group_and_writes_back_its_own_entries(core: SwapCore) -> None:
    core.swapon(1024)
    z, root = core.zswap, core.zswap.memcg_root
    assert root is not None
    a, b = root.create("a"), root.create("b")
    for i in range(50):
        core.swap_out(text_page(i), b)
    b_entries = len(z.entries(0))
    a.write("memory.zswap.max", "64K")
    for i in range(200):
        core.swap_out(text_page(1000 + i), a)
    assert a.zswap_current <= 64 * 1024 + PAGE_SIZE
    assert a.events()["zswpwb"] > 0  # a wrote back its own entries...
    assert b.events()["zswpwb"] == 0  # ...never b's
    assert sum(1 for e in z.entries(0) if z._objcg_memcg(e.objcg) is b) == b_entries


def test_zswap_max_zero_disables_zswap_for_the_group(core: SwapCore) -> None:
    core.swapon(64)
    root = core.zswap.memcg_root
    assert root is not None
    g = root.create("nozswap")
    g.write("memory.zswap.max", "0")
    swp = core.swap_out(text_page(1), g)
    assert core.stats()["pswpout"] == 1 and g.zswap_current == 0
    assert _swapped_in(core, swp, g) == text_page(1)  # type: ignore[arg-type]


def test_writeback_disabled_means_nothing_written_back_and_incompressible_rejected(
        tmp_path: Path) -> None:
    root = MemCgroup()
    z = Zswap(compressor="lz4", totalram_pages=400, max_pool_percent=10,
              memcg_root=root)
    core = SwapCore(z, directory=tmp_path)
    try:
        core.swapon(1024)
        g = root.create("nowb")
        g.write("memory.zswap.writeback", "0")
        for i in range(300):
            core.swap_out(text_page(i), g)
        assert z.shrink_work_flush(timeout=60)
        assert g.events()["zswpwb"] == 0 and z.stats()["written_back_pages"] == 0
        assert z.shrink_memcg(g) == -errno.ENOENT
    finally:
        core.close()


def test_incompressible_pages_are_rejected_when_writeback_is_disabled(core: SwapCore) -> None:
    core.swapon(64)
    z, root = core.zswap, core.zswap.memcg_root
    assert root is not None
    g = root.create("nowb")
    core.swap_out(random_page(1), g)  # writeback on: stored as-is (6.18)
    assert z.stats()["stored_incompressible_pages"] == 1
    g.write("memory.zswap.writeback", "0")
    assert core.swap_out(random_page(2), g) is None  # it stays in memory (swap_writeout)
    st = z.stats()
    assert st["stored_incompressible_pages"] == 1 and st["reject_compress_poor"] == 1
    assert core.stats()["pswpout"] == 0


def test_writeback_disabled_refused_page_is_kept_in_memory_not_written(core: SwapCore) -> None:
    """6.18 ``swap_writeout``: zswap refuses a page of a group with memory.zswap.writeback 0
    (here its zswap.max is 0) -> AOP_WRITEPAGE_ACTIVATE: nothing reaches the swap device and
    the slots stay with the folio (the swap cache) for the next attempt."""
    core.swapon(64)
    root = core.zswap.memcg_root
    assert root is not None
    g = root.create("nowb0")
    g.write("memory.zswap.writeback", "0")
    g.write("memory.zswap.max", "0")
    swp = core.folio_alloc_swap()
    assert swp is not None
    assert core.swap_writeout(swp, text_page(7), g) == AOP_WRITEPAGE_ACTIVATE
    assert core.stats()["pswpout"] == 0 and core.stats()["swpout_disk"] == 0
    assert core.table.device(0).swap_count(swp & SWP_OFFSET_MASK) == 1  # slot kept
    assert core.swap_out(text_page(8), g) is None
    assert core.table.device(0).stats()["inuse_pages"] == 1
    g.write("memory.zswap.writeback", "1")  # writeback on again: the refused page goes to disk
    assert core.swap_writeout(swp, text_page(7), g) == "disk"
    assert core.stats()["pswpout"] == 1
    assert _swapped_in(core, swp, g) == text_page(7)


def test_shrinker_scan_stops_when_disabled_or_writeback_off(core: SwapCore) -> None:
    """``zswap_shrinker_scan`` returns SHRINK_STOP before walking the LRU when
    shrinker_enabled is off or the memcg's writeback is disabled."""
    core.swapon(256)
    z, root = core.zswap, core.zswap.memcg_root
    assert root is not None
    g = root.create("scan")
    for i in range(40):
        core.swap_out(text_page(i), g)
    assert z.shrinker_scan(g, 40) == SHRINK_STOP  # shrinker_enabled is off by default
    assert z.shrinker_scan(g, 40) == SHRINK_STOP
    assert z.stats()["written_back_pages"] == 0
    z.set_param("shrinker_enabled", True)
    g.write("memory.zswap.writeback", "0")
    assert z.shrinker_scan(g, 40) == SHRINK_STOP
    assert z.shrinker_scan(g, 40) == SHRINK_STOP
    assert z.stats()["written_back_pages"] == 0 and g.events()["zswpwb"] == 0
    g.write("memory.zswap.writeback", "1")
    assert z.shrinker_scan(g, 40) == SHRINK_STOP  # first pass: referenced entries rotate
    assert z.shrinker_scan(g, 10) == 10
    assert z.stats()["written_back_pages"] == 10


def test_memcg_statistics_follow_the_entries(core: SwapCore) -> None:
    core.swapon(64)
    z, root = core.zswap, core.zswap.memcg_root
    assert root is not None
    parent = root.create("p")
    child = parent.create("c")
    swps = [core.swap_out(text_page(i), child) for i in range(5)]
    compressed = sum(e.length for e in z.entries(0))
    assert child.zswap_current == compressed == parent.zswap_current  # hierarchical
    assert child.zswapped == 5 and child.events()["zswpout"] == 5
    assert child.read("memory.zswap.current") == f"{compressed}\n"
    _swapped_in(core, swps[0], child)  # type: ignore[arg-type]
    assert child.events()["zswpin"] == 1 and child.zswapped == 4
    child_entries = z.entries(0)
    assert z.writeback_entry(child_entries[0]) == 0
    assert child.events()["zswpwb"] == 1 and parent.events()["zswpwb"] == 1
    child.remove()  # offline: charges and LRU entries move to the parent
    assert parent.zswapped == 3
    assert z.lru.count(parent.id) == 3
    for swp in swps[1:]:
        core.swap_free(swp)  # type: ignore[arg-type]
    assert parent.zswapped == 0 and parent.zswap_current == 0


def test_concurrent_writeback_worker_with_stores_loads_and_frees(tmp_path: Path) -> None:
    """The shrink worker runs on its own thread while this thread stores, loads and frees."""
    z = Zswap(compressor="lz4", totalram_pages=2000, max_pool_percent=10,
              accept_threshold_percent=50)
    core = SwapCore(z, directory=tmp_path)
    try:
        core.swapon(4096)
        rng = random.Random(3)
        owned: dict[int, bytes] = {}
        for step in range(3000):
            op = rng.random()
            if op < 0.6 or not owned:
                page = mixed_page(step)
                swp = core.swap_out(page)
                if swp is not None:
                    owned[swp] = page
            elif op < 0.85:
                # A fault: the page comes back (and leaves zswap), its slot is freed; later
                # reclaim swaps it out again to a new slot.
                swp = rng.choice(list(owned))
                page = owned.pop(swp)
                assert _swapped_in(core, swp) == page
                core.swap_free(swp)
                again = core.swap_out(page)
                if again is not None:
                    owned[again] = page
            else:
                swp = rng.choice(list(owned))
                core.swap_free(swp)
                del owned[swp]
        assert z.shrink_work_flush(timeout=60)
        assert z.stats()["written_back_pages"] > 0
        for swp, page in owned.items():
            assert _swapped_in(core, swp) == page
    finally:
        core.close()


@pytest.mark.parametrize("compressor", ["lz4", "zstd-x2"])
def test_writeback_entries_batch(tmp_path: Path, compressor: str) -> None:
    """A batch writeback gives what writeback_entry would, per entry; a batching pool's
    entries are decompressed together (in parallel) first."""
    from pyzswap.tools.faults import corrupt_entry

    # "zstd-x2" is made (and registered) on first use of the name
    z = Zswap(compressor=compressor, totalram_pages=None)
    core = SwapCore(z, directory=tmp_path)
    core.swapon(256)
    pages = [text_page(i) if i % 5 else mixed_page(i) for i in range(40)]
    swps = [core.swap_out(p) for p in pages]
    entries = sorted(z.entries(0), key=lambda e: e.offset)
    assert len(entries) == 40
    corrupt_entry(z, 0, entries[3].offset)  # decompression fails: -EIO, entry kept
    z.invalidate(0, entries[7].offset)  # gone meanwhile: -ENOMEM, nothing written
    assert core.table.add_to_swap_cache(swps[9], bytearray(PAGE_SIZE))  # busy: -EEXIST
    results = z.writeback_entries(entries)
    core.table.delete_from_swap_cache(swps[9])
    assert results[3] == -errno.EIO and results[7] == -errno.ENOMEM
    assert results[9] == -errno.EEXIST
    assert [r for k, r in enumerate(results) if k not in (3, 7, 9)] == [0] * 37
    assert z.vmstat()["zswpwb"] == 37 and z.stats()["decompress_fail"] == 1
    assert {e.offset for e in z.entries(0)} == {entries[3].offset, entries[9].offset}
    for k, swp in enumerate(swps):
        if k not in (3, 7):
            assert _swapped_in(core, swp) == pages[k]  # type: ignore[arg-type]
    core.close()


def _full_pool(tmp_path: Path) -> tuple[SwapCore, list[MemCgroup]]:
    """A pool at its limit (shrink work queued, not run: the clock's owner runs it), its
    entries in two of four groups, all still referenced (stored, never scanned)."""
    root = MemCgroup()
    groups = [root.create(name) for name in ("a", "b", "c", "d")]
    z = Zswap(compressor="lz4", totalram_pages=256, memcg_root=root, shrink_work="clock",
              cpus=1)
    core = SwapCore(z, directory=tmp_path)
    core.swapon(1024)
    _fill(core, groups, 0)
    return core, groups


def _fill(core: SwapCore, groups: list[MemCgroup], seed: int) -> None:
    """Swap out pages into groups a and c until zswap refuses one at its limit."""
    z = core.zswap
    hits = z.stats()["pool_limit_hit"]
    while z.stats()["pool_limit_hit"] == hits:
        core.swap_out(text_page(seed), groups[seed % 2 * 2])
        seed += 1
    assert z.shrink_work_take()


def _kernel_shrink_worker(z: Zswap, cursor: ZswapShrinkCursor) -> list[int | None]:
    """6.18's ``shrink_worker`` loop as the kernel writes it: ``mem_cgroup_iter`` one group
    at a time, ``shrink_memcg`` on each (None marks the end of a pass)."""
    thr = z.accept_thr_pages()
    assert thr is not None
    out: list[int | None] = []
    failures = attempts = 0
    while True:
        memcg = cursor.next()
        if memcg is None:
            out.append(None)
            if not attempts:
                failures += 1
                if failures == MAX_RECLAIM_RETRIES:
                    break
            attempts = 0
        else:
            ret = z.shrink_memcg(memcg)
            out.append(ret)
            if ret != -errno.ENOENT:
                attempts += 1
                if ret:
                    failures += 1
                    if failures == MAX_RECLAIM_RETRIES:
                        break
        if z.stats()["pool_total_size"] <= thr * PAGE_SIZE:
            break
    return out


def test_the_shrink_worker_takes_the_kernel_loop_s_steps(tmp_path: Path) -> None:
    """shrink_worker_steps (a ShrinkWalk: groups with nothing to write back passed as one
    -ENOENT step) writes back the same entries, in the same order of calls, as the kernel's
    loop over every group; a walk ends with SHRINK_DONE, again on every later step. Seven runs:
    the first ones only rotate (every entry is referenced: 16 failures a run), later ones
    write back, the last finds writeback disabled everywhere (16 empty passes)."""
    runs = []
    for side in ("walk", "kernel"):
        (tmp_path / side).mkdir()
        core, groups = _full_pool(tmp_path / side)
        z = core.zswap
        root = groups[0].parent
        assert root is not None
        cursor = ZswapShrinkCursor(root)
        steps: list[int | None] = []
        for run in range(7):
            if run == 6:  # full again, nothing to write back anywhere: passes without attempts
                _fill(core, groups, 1000)
                for g in groups:
                    g.write("memory.zswap.writeback", "0")
            if side == "walk":
                walk = z.shrink_walk()
                while (ret := walk.step()) != SHRINK_DONE:
                    if ret == PASS_END:
                        steps.append(None)
                    else:
                        steps.extend([ret] * (walk.enoent_run if ret == -errno.ENOENT else 1))
                assert walk.step() == SHRINK_DONE
            else:
                steps += _kernel_shrink_worker(z, cursor)
            steps.append(SHRINK_DONE)
        runs.append((steps, z.vmstat()["zswpwb"], sorted(e.offset for e in z.entries(0)),
                     [z.lru.items(g.id) for g in groups]))
        core.close()
    assert runs[0] == runs[1]
    steps = runs[0][0]
    assert runs[0][1] > 0 and -errno.EAGAIN in steps and 0 in steps
    assert -errno.ENOENT in steps and None in steps
    last = steps[-1 - steps[:-1][::-1].index(SHRINK_DONE):]  # the seventh run's steps
    assert last.count(None) == MAX_RECLAIM_RETRIES and last[-2:] == [None, SHRINK_DONE]
    assert set(last[:-1]) == {-errno.ENOENT, None}
    assert last[-7:-1] == [-errno.ENOENT] * 5 + [None]  # a whole pass: root, a, b, c, d


def test_the_shrink_worker_reads_its_threshold_when_it_starts(tmp_path: Path) -> None:
    """shrink_worker reads zswap_accept_thr_pages() when the work runs, not when it is
    queued: a limit raised in between ends the walk at its first check."""
    core, _ = _full_pool(tmp_path)
    z = core.zswap
    walk = z.shrink_walk()
    z.set_param("max_pool_percent", 100)
    assert walk.step() == -errno.ENOENT  # the root group, passed
    assert walk.step() == SHRINK_DONE  # the pool is below the new threshold
    core.close()
