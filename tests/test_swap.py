"""Swap devices: entries, real swap files, slots, zero bitmap, swap cache, I/O errors, table."""

from __future__ import annotations

import errno
import os
import random
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap.errors import InvalidParameter, ZswapError
from pyzswap.swap import (
    MAX_SWAPFILES,
    SWAP_HAS_CACHE,
    SWAP_HEADER_MAGIC,
    SWAP_MAP_BAD,
    SWAPFILE_CLUSTER,
    SWP_OFFSET_MASK,
    SWP_TYPE_SHIFT,
    IOFaults,
    SwapBusy,
    SwapDevice,
    SwapIOError,
    SwapSlotFree,
    SwapTable,
    swp_entry,
    swp_offset,
    swp_type,
)

PAGE = 4096


def page(seed: int) -> bytes:
    return random.Random(seed).randbytes(PAGE)


@pytest.fixture
def dev(tmp_path):
    d = SwapDevice.create(tmp_path / "swapfile", 2048)
    yield d
    d.close()


def check_invariants(d: SwapDevice) -> None:
    """Cross-check the allocator's bookkeeping against the swap map."""
    m = d._map
    used = np.count_nonzero((m != 0) & (m != SWAP_MAP_BAD))
    assert used == d.inuse_pages
    for ci, count in enumerate(d._ci_count):
        seg = m[ci * SWAPFILE_CLUSTER:(ci + 1) * SWAPFILE_CLUSTER]
        assert count == np.count_nonzero(seg), ci
        if count == 0:
            assert d._ci_order[ci] == -1
            assert d._in_free[ci] and ci in d._free_clusters
    assert not d._zero[m == 0].any()
    assert not d._written[m == 0].any()


# ------------------------------------------------------------------------------ entries ------
def test_swp_entry_constants() -> None:
    assert SWP_TYPE_SHIFT == 58 and MAX_SWAPFILES == 32
    assert swp_entry(3, 5) == (3 << 58) | 5
    assert swp_type(swp_entry(31, SWP_OFFSET_MASK)) == 31
    assert swp_offset(swp_entry(31, SWP_OFFSET_MASK)) == SWP_OFFSET_MASK


@given(st.integers(0, MAX_SWAPFILES - 1), st.integers(0, SWP_OFFSET_MASK))
def test_swp_entry_round_trip(t: int, off: int) -> None:
    val = swp_entry(t, off)
    assert (swp_type(val), swp_offset(val)) == (t, off)
    assert 0 <= val < 1 << 63


# ------------------------------------------------------------------------------ the file -----
def test_create_writes_a_valid_swap_header(tmp_path) -> None:
    path = tmp_path / "swap"
    with SwapDevice.create(path, 1000, label=b"test") as d:
        assert os.path.getsize(path) == 1000 * PAGE
        raw = path.read_bytes()[:PAGE]
        assert raw[4086:] == SWAP_HEADER_MAGIC == b"SWAPSPACE2"
        hdr = SwapDevice.read_header(path)
        assert (hdr.version, hdr.last_page, hdr.nr_badpages, hdr.label) == (1, 999, 0, b"test")
        assert len(hdr.uuid) == 16
        assert d.swap_map[0] == SWAP_MAP_BAD and d.free_pages == 999
    assert path.exists()  # a named file is the caller's: kept after close


def test_create_refuses_existing_file_and_bad_sizes(tmp_path) -> None:
    path = tmp_path / "swap"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        SwapDevice.create(path, 16)
    assert path.read_bytes() == b"precious"
    SwapDevice.create(path, 16, exist_ok=True, preallocate=True).close()
    assert SwapDevice.read_header(path).last_page == 15
    for bad in (0, 1, -5, 2.0, True):
        with pytest.raises(InvalidParameter):
            SwapDevice.create(tmp_path / "x", bad)  # type: ignore[arg-type]
    notswap = tmp_path / "notswap"
    notswap.write_bytes(bytes(PAGE))
    with pytest.raises(InvalidParameter):
        SwapDevice.read_header(notswap)


def test_temporary_file_is_removed_on_close(tmp_path) -> None:
    d = SwapDevice.create(None, 64, directory=str(tmp_path))
    assert os.path.exists(d.path) and os.path.dirname(d.path) == str(tmp_path)
    d.close()
    d.close()  # idempotent
    assert not os.path.exists(d.path) and d.closed
    with pytest.raises(InvalidParameter):
        d.alloc_slots(1)


# ------------------------------------------------------------------------------ round trips --
def test_pages_round_trip(dev: SwapDevice) -> None:
    offs = dev.get_swap_slots(64)
    for off in offs:
        dev.write_page(off, page(off))
    out = bytearray(PAGE)
    for off in reversed(offs):
        dev.read_page(off, out)
        assert out == page(off)
    assert dev.stats()["pswpout"] == 64 == dev.stats()["pswpin"]


def test_large_folio_round_trip_into_caller_buffer(dev: SwapDevice) -> None:
    off = dev.alloc_slots(16)
    assert off is not None and off % 16 == 0
    folio = b"".join(page(i) for i in range(16))
    dev.write_page(off, memoryview(folio))
    big = bytearray(20 * PAGE)
    dev.read_page(off, memoryview(big)[PAGE:17 * PAGE])  # straight into a slice of it
    assert big[PAGE:17 * PAGE] == folio and big[:PAGE] == bytes(PAGE)
    one = bytearray(PAGE)
    dev.read_page(off + 7, one)
    assert one == page(7)


def test_io_argument_checks(dev: SwapDevice) -> None:
    off = dev.alloc_slots(1)
    assert off is not None
    with pytest.raises(InvalidParameter):
        dev.write_page(off, b"x" * 100)
    with pytest.raises(InvalidParameter):
        dev.write_page(0, page(0))  # the header
    with pytest.raises(InvalidParameter):
        dev.write_page(dev.nr_pages, page(0))
    free = off + 1
    with pytest.raises(InvalidParameter):
        dev.write_page(free, page(0))  # not allocated
    with pytest.raises(InvalidParameter):
        dev.read_page(off, bytes(PAGE))  # read-only buffer
    with pytest.raises(InvalidParameter):
        dev.read_page(off, bytearray(PAGE))  # never written: no stale bytes


# ------------------------------------------------------------------------------ slots --------
def test_slot_allocation_and_free(dev: SwapDevice) -> None:
    offs = dev.get_swap_slots(100)
    assert len(set(offs)) == 100 and all(1 <= o < dev.nr_pages for o in offs)
    assert offs == sorted(offs) and offs[0] == 1  # front to back, the header skipped
    assert dev.inuse_pages == 100 and all(dev.swap_count(o) == 1 for o in offs)
    dev.free_slot(offs[0])
    assert dev.swap_count(offs[0]) == 0 and dev.inuse_pages == 99
    with pytest.raises(InvalidParameter):
        dev.free_slot(offs[0])  # double free refused
    assert dev.inuse_pages == 99
    dev.free_slots(offs[1], 5)
    with pytest.raises(InvalidParameter):
        dev.free_slots(offs[1], 10)  # all or nothing
    assert all(dev.swap_count(o) == 1 for o in offs[6:])
    check_invariants(dev)


def test_device_fills_up_and_frees_make_room(tmp_path) -> None:
    with SwapDevice.create(tmp_path / "s", 700) as d:
        got = d.get_swap_slots(1000)
        assert len(got) == 699 and d.free_pages == 0
        assert d.alloc_slots(1) is None and d.get_swap_slots(3) == []
        d.free_slot(got[300])
        assert d.alloc_slots(1) == got[300]
        check_invariants(d)


def test_large_folios_are_aligned_and_contiguous(tmp_path) -> None:
    with SwapDevice.create(tmp_path / "s", 16 * SWAPFILE_CLUSTER) as d:
        for nr in (1, 2, 4, 16, 64, 512, 8, 512, 2, 16):
            off = d.alloc_slots(nr)
            assert off is not None and off % nr == 0
            assert (d.swap_map[off:off + nr] == 1).all()
        with pytest.raises(InvalidParameter):
            d.alloc_slots(3)
        with pytest.raises(InvalidParameter):
            d.alloc_slots(1024)
        check_invariants(d)


def test_each_order_fills_its_own_clusters(tmp_path) -> None:
    """Like the kernel's per-order clusters: once every cluster belongs to some order, a new
    order finds no room even though slots are free; order 0 still steals any free slot."""
    with SwapDevice.create(tmp_path / "s", 4 * SWAPFILE_CLUSTER) as d:
        assert [d.alloc_slots(nr) for nr in (1, 2, 4, 16)] == [1, 512, 1024, 1536]
        assert d.alloc_slots(64) is None
        assert d.alloc_slots(2) == 514 and d.alloc_slots(16) == 1552
        left = d.free_pages
        assert len(d.get_swap_slots(left)) == left and d.free_pages == 0
        check_invariants(d)


def test_fragmentation_refuses_large_folio_but_not_pages(tmp_path) -> None:
    with SwapDevice.create(tmp_path / "s", 2 * SWAPFILE_CLUSTER) as d:
        offs = d.get_swap_slots(d.free_pages)
        for off in offs[::2]:
            d.free_slot(off)
        assert d.free_pages == len(offs[::2])
        assert d.alloc_slots(2) is None  # no aligned pair left: the caller splits the folio
        got = d.get_swap_slots(5)
        assert len(got) == 5 and set(got) <= set(offs[::2])
        # whole clusters coming free are reusable for large folios again
        rest = [o for o in offs if d.swap_count(o)]
        d.free_slots(rest[0], 1)
        for o in rest[1:]:
            d.free_slot(o)
        assert d.inuse_pages == 0
        assert d.alloc_slots(512) == SWAPFILE_CLUSTER  # cluster 0 holds the header
        check_invariants(d)


def test_swap_duplicate_keeps_slot_until_last_reference(dev: SwapDevice) -> None:
    off = dev.alloc_slots(1)
    assert off is not None
    dev.swap_duplicate(off)
    assert dev.swap_count(off) == 2
    dev.free_slot(off)
    assert dev.swap_count(off) == 1 and dev.inuse_pages == 1
    dev.free_slot(off)
    assert dev.inuse_pages == 0
    with pytest.raises(InvalidParameter):
        dev.swap_duplicate(off)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["alloc", "free", "dup"]),
                          st.sampled_from([1, 1, 1, 2, 4, 16, 512]),
                          st.integers(0, 10**6)), max_size=60))
def test_allocator_bookkeeping_random_ops(tmp_path_factory, ops) -> None:
    d = SwapDevice.create(None, 3 * SWAPFILE_CLUSTER + 100,
                          directory=str(tmp_path_factory.getbasetemp()))
    held: dict[int, tuple[int, int]] = {}  # offset -> (nr, references)
    try:
        for op, nr, pick in ops:
            if op == "alloc":
                off = d.alloc_slots(nr)
                if off is None:
                    continue
                assert off % nr == 0
                for o, (n, _) in held.items():
                    assert off + nr <= o or o + n <= off  # disjoint
                held[off] = (nr, 1)
            elif held:
                off = sorted(held)[pick % len(held)]
                n, refs = held[off]
                if op == "dup":
                    d.swap_duplicate(off, n)
                    held[off] = (n, refs + 1)
                else:
                    d.free_slots(off, n)
                    if refs == 1:
                        del held[off]
                    else:
                        held[off] = (n, refs - 1)
            check_invariants(d)
        assert d.inuse_pages == sum(n for n, _ in held.values())
    finally:
        d.close()


def test_concurrent_allocation_never_hands_out_a_slot_twice(tmp_path) -> None:
    with SwapDevice.create(tmp_path / "s", 8 * SWAPFILE_CLUSTER) as d:
        barrier = threading.Barrier(4)
        results: list[list[int]] = [[] for _ in range(4)]

        def worker(i: int) -> None:
            barrier.wait()
            for _ in range(300):
                off = d.alloc_slots(1)
                assert off is not None
                results[i].append(off)
                if off % 3 == 0:
                    d.free_slot(off)
                    results[i].pop()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        held = [o for r in results for o in r]
        assert len(held) == len(set(held)) == d.inuse_pages
        check_invariants(d)


def test_on_free_hook_runs_before_reuse(dev: SwapDevice) -> None:
    calls: list[tuple[int, int, int, int]] = []
    dev.on_free = lambda t, off, nr: calls.append((t, off, nr, int(dev._map[off])))
    off = dev.alloc_slots(8)
    assert off is not None
    dev.free_slots(off, 8)
    one = dev.alloc_slots(1)
    assert one is not None
    dev.free_slot(one)
    assert calls == [(0, off, 8, 0), (0, one, 1, 0)]


# ------------------------------------------------------------------------------ zero bitmap --
def test_zero_bitmap(dev: SwapDevice) -> None:
    off = dev.alloc_slots(4)
    assert off is not None
    dev.zeromap_set(off, 4)
    assert dev.zeromap_count(off, 4) == 4 and dev.zeromap[off]
    out = bytearray(b"\xff" * 4 * PAGE)
    dev.read_page(off, out)
    assert out == bytes(4 * PAGE)
    assert dev.stats()["pswpin"] == 0 and dev.stats()["swpin_zero"] == 4
    one = bytearray(b"\xff" * PAGE)
    dev.read_page(off + 2, one)  # a page of a zero folio
    assert one == bytes(PAGE)
    dev.write_page(off + 1, page(1))  # I/O leaves the bit: the swap core clears it
    assert dev.zeromap_count(off, 4) == 4
    dev.zeromap_clear(off + 1)
    assert dev.zeromap_count(off, 4) == 3
    with pytest.raises(InvalidParameter):
        dev.read_page(off, bytearray(4 * PAGE))  # mixed folio
    dev.zeromap_clear(off, 4)
    assert dev.zeromap_count(off, 4) == 0
    dev.zeromap_set(off + 3)
    dev.free_slots(off, 4)
    assert not dev.zeromap.any()  # freeing clears the bitmap
    assert dev.stats()["swpout_zero"] == 5


# ------------------------------------------------------------------------------ swap cache ---
def test_swap_cache_eexist_and_lookup(dev: SwapDevice) -> None:
    off = dev.alloc_slots(1)
    assert off is not None
    folio = bytearray(page(9))
    assert dev.lookup_swap_cache(off) is None
    assert dev.add_to_swap_cache(off, folio) is True
    assert dev.swap_map[off] == 1 | SWAP_HAS_CACHE
    assert dev.add_to_swap_cache(off, bytearray(PAGE)) is False  # -EEXIST
    assert dev.lookup_swap_cache(off) is folio
    assert dev.delete_from_swap_cache(off) is folio
    assert dev.lookup_swap_cache(off) is None and dev.swap_map[off] == 1
    assert dev.delete_from_swap_cache(off) is None
    with pytest.raises(SwapSlotFree) as exc:
        dev.add_to_swap_cache(off + 1, folio)  # free slot: -ENOENT
    assert exc.value.errno == errno.ENOENT


def test_swap_cache_pins_slot_after_last_reference(dev: SwapDevice) -> None:
    off = dev.alloc_slots(1)
    assert off is not None
    assert dev.add_to_swap_cache(off, b"folio")
    dev.free_slot(off)  # the last PTE went, but the folio is still in the swap cache
    assert dev.inuse_pages == 1 and dev.swap_map[off] == SWAP_HAS_CACHE
    assert off not in dev.get_swap_slots(10)  # not reusable
    with pytest.raises(InvalidParameter):
        dev.free_slot(off)
    assert dev.add_to_swap_cache(off, b"other") is False
    dev.delete_from_swap_cache(off)
    assert dev.swap_map[off] == 0 and dev.inuse_pages == 10


def test_swap_cache_large_folio_all_or_nothing(dev: SwapDevice) -> None:
    off = dev.alloc_slots(8)
    assert off is not None
    assert dev.add_to_swap_cache(off + 3, b"small")
    assert dev.add_to_swap_cache(off, b"big", nr=8) is False
    assert dev.lookup_swap_cache(off) is None
    dev.delete_from_swap_cache(off + 3)
    assert dev.add_to_swap_cache(off, b"big", nr=8)
    assert all(dev.lookup_swap_cache(o) == b"big" for o in range(off, off + 8))
    dev.free_slots(off, 8)
    assert dev.inuse_pages == 8
    assert dev.delete_from_swap_cache(off, 8) == b"big"
    assert dev.inuse_pages == 0 and dev.stats()["swap_cache_pages"] == 0
    check_invariants(dev)


# ------------------------------------------------------------------------------ I/O errors ---
def test_injected_enospc_is_counted_and_loses_nothing(dev: SwapDevice) -> None:
    off = dev.alloc_slots(1)
    assert off is not None
    dev.write_page(off, page(1))
    data = bytearray(page(2))
    dev.faults.fail_next_writes(1)  # ENOSPC by default
    with pytest.raises(SwapIOError) as exc:
        dev.write_page(off, data)
    e = exc.value
    assert e.errno == errno.ENOSPC and isinstance(e, OSError) and isinstance(e, ZswapError)
    assert (e.op, e.swp_type, e.offset, e.nr) == ("write", 0, off, 1)
    assert data == page(2) and dev.write_errors == 1
    assert dev.swap_count(off) == 1  # the slot is still the caller's
    with pytest.raises(InvalidParameter):
        dev.read_page(off, bytearray(PAGE))  # marked not written: no stale page comes back
    dev.write_page(off, data)  # the retry succeeds
    out = bytearray(PAGE)
    dev.read_page(off, out)
    assert out == data
    assert dev.faults.injected == {"write": 1, "read": 0} and not dev.faults.armed


def test_injected_faults_at_offsets_and_reads(dev: SwapDevice) -> None:
    off = dev.alloc_slots(16)
    assert off is not None
    folio = b"".join(page(i) for i in range(16))
    dev.faults.fail_writes_at([off + 5], errno.EIO)
    for _ in range(2):  # persistent until cleared
        with pytest.raises(SwapIOError) as exc:
            dev.write_page(off, folio)
        assert exc.value.errno == errno.EIO
    dev.write_page(off + 4, page(4))  # another slot is fine
    dev.faults.clear()
    dev.write_page(off, folio)
    dev.faults.fail_reads_at([off + 1], times=2)
    out = bytearray(PAGE)
    for _ in range(2):
        with pytest.raises(SwapIOError):
            dev.read_page(off + 1, out)
    dev.read_page(off + 1, out)
    assert out == page(1)
    dev.faults.fail_next_reads(1, errno.EIO)
    with pytest.raises(SwapIOError) as exc:
        dev.read_page(off, bytearray(16 * PAGE))
    assert exc.value.errno == errno.EIO and exc.value.op == "read"
    st_ = dev.stats()
    assert (st_["write_errors"], st_["read_errors"]) == (2, 3)
    with pytest.raises(InvalidParameter):
        dev.faults.fail_next_writes(1, err=0)
    assert isinstance(dev.faults, IOFaults)


def test_real_os_errors_map_to_swap_io_error(dev: SwapDevice, monkeypatch) -> None:
    off = dev.alloc_slots(1)
    assert off is not None

    def broken(*args: object) -> int:
        raise OSError(errno.EIO, "device gone")

    monkeypatch.setattr(os, "pwrite", broken)
    with pytest.raises(SwapIOError) as exc:
        dev.write_page(off, page(0))
    assert exc.value.errno == errno.EIO and dev.write_errors == 1
    monkeypatch.undo()
    dev.write_page(off, page(0))
    monkeypatch.setattr(os, "preadv", lambda *a: 0)  # EOF: a short read is an I/O error
    with pytest.raises(SwapIOError):
        dev.read_page(off, bytearray(PAGE))
    assert dev.read_errors == 1


# ------------------------------------------------------------------------------ the table ----
def test_swap_table_swapon_swapoff(tmp_path) -> None:
    with SwapTable(directory=tmp_path) as table:
        a = table.swapon(None, 600)
        b = table.swapon(tmp_path / "named.swap", 600)
        assert (a, b) == (0, 1) and table.types() == [0, 1] and len(table) == 2
        path_a = table.device(a).path
        swp = table.folio_alloc_swap()
        assert swp is not None and swp_type(swp) == a
        table.write_page(swp, page(5))
        out = bytearray(PAGE)
        table.read_page(swp, out)
        assert out == page(5)
        assert table.add_to_swap_cache(swp, out) and not table.add_to_swap_cache(swp, out)
        assert table.lookup_swap_cache(swp) is out
        with pytest.raises(SwapBusy) as exc:
            table.swapoff(a)
        assert exc.value.errno == errno.EBUSY
        table.swap_free(swp)
        with pytest.raises(SwapBusy):
            table.swapoff(a)  # still in the swap cache
        table.delete_from_swap_cache(swp)
        table.swapoff(a)
        assert not os.path.exists(path_a) and table.types() == [1]
        with pytest.raises(InvalidParameter):
            table.device(a)
        assert table.swapon(None, 8) == 0  # lowest free type again
        assert table.types() == [1, 0]  # priority follows swapon order
    assert (tmp_path / "named.swap").exists()


def test_swap_table_falls_back_to_next_device(tmp_path) -> None:
    with SwapTable(directory=tmp_path) as table:
        table.swapon(None, 5)
        table.swapon(None, 600)
        got = [table.folio_alloc_swap() for _ in range(6)]
        assert [swp_type(s) for s in got if s is not None] == [0, 0, 0, 0, 1, 1]
        big = table.folio_alloc_swap(512)
        assert big is None  # no device has a free aligned 512-slot run
        calls: list[tuple[int, int, int]] = []
        table.on_free = lambda t, o, n: calls.append((t, o, n))
        s0 = got[0]
        assert s0 is not None
        table.swap_free(s0)
        assert calls == [(0, swp_offset(s0), 1)]
        stats = table.stats()
        assert stats[0]["inuse_pages"] == 3 and stats[1]["inuse_pages"] == 2


def test_a_strided_one_page_view_is_swapped_out_and_back(tmp_path) -> None:
    """SwapCore.swap_writeout takes a one-page memoryview of any layout (the zero check and
    zswap read one contiguous page: a strided view is copied first)."""
    from pyzswap import PAGE_SIZE, Zswap
    from pyzswap.swapcore import SwapCore

    z = Zswap(compressor="lz4", totalram_pages=1 << 16, cpus=1, shrink_work="inline")
    core = SwapCore(z, directory=tmp_path)
    core.swapon(64)
    try:
        page = bytes(range(256)) * (PAGE_SIZE // 256)
        mem = bytearray(2 * PAGE_SIZE)
        mem[::2] = page
        for view, want, where in ((memoryview(mem)[::2], page, "zswap"),
                                  (memoryview(bytearray(2 * PAGE_SIZE))[::2], bytes(PAGE_SIZE),
                                   "zero")):
            swp = core.folio_alloc_swap()
            assert swp is not None
            assert core.swap_writeout(swp, view) == where
            out = bytearray(PAGE_SIZE)
            assert core.swap_in(swp, out) == where and out == want
    finally:
        core.close()
