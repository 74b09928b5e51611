"""Every fault-injection point: the kernel's counter moves, the page falls through to the right
place, and no page is lost (each one is read back byte for byte afterwards)."""

from __future__ import annotations

import errno
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.compress import has_compressor
from pyzswap.errors import AllocFail, DecompressFail, InvalidParameter
from pyzswap.memcg import MemCgroup
from pyzswap.swap import SWP_OFFSET_MASK, SwapIOError, swp_offset
from pyzswap.swapcore import AOP_WRITEPAGE_ACTIVATE, SwapCore
from pyzswap.tools.faults import (
    FAULT_POINTS,
    FaultSchedule,
    FaultyCompressor,
    FaultyZsPool,
    PoolCreationFaults,
    corrupt_entry,
    faulty_compressor,
    install_zs_pool,
    unregister,
)

from ..conftest import COMPRESSORS, random_page, text_page

#: The behavioural suite runs once per flow (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")

#: fault point -> the tests that show its counter and that no page is lost
COVERED: dict[str, list[str]] = {}
_names = itertools.count()


def covers(*points: str):  # type: ignore[no-untyped-def]
    def mark(fn):  # type: ignore[no-untyped-def]
        for point in points:
            COVERED.setdefault(point, []).append(fn.__name__)
        return fn
    return mark


@pytest.fixture
def core(tmp_path: Path) -> Iterator[SwapCore]:
    z = Zswap(compressor="lz4", totalram_pages=None, memcg_root=MemCgroup(),
              shrink_work="inline")
    c = SwapCore(z, directory=tmp_path)
    c.swapon(2048)  # room for aligned large folios (one cluster per order)
    yield c
    c.close()


@pytest.fixture
def faulty(core: SwapCore) -> Iterator[FaultyCompressor]:
    comp = faulty_compressor(f"faulty-test-{next(_names)}", "lz4")
    core.zswap.set_param("compressor", comp.name)
    yield comp
    unregister(comp)


def swapped_in(core: SwapCore, swp: int, memcg: MemCgroup | None = None) -> tuple[bytes, str]:
    out = bytearray(PAGE_SIZE)
    source = core.swap_in(swp, out, memcg)
    return bytes(out), source


def nowb_group(core: SwapCore) -> MemCgroup:
    root = core.zswap.memcg_root
    assert root is not None
    g = root.create(f"nowb{next(_names)}")
    g.write("memory.zswap.writeback", "0")
    return g


# ---------------------------------------------------------------------------- compressor -----
@covers("compress_fail")
def test_compress_error_stores_the_page_as_is(core: SwapCore, faulty: FaultyCompressor) -> None:
    z = core.zswap
    faulty.compress_fail.fail_next(1)
    swp = core.swap_out(text_page(1))
    assert swp is not None
    st = z.stats()
    assert faulty.compress_fail.injected == 1
    assert st["stored_incompressible_pages"] == 1 and st["stored_pages"] == 1
    assert st["reject_compress_fail"] == 0  # 6.18: not a rejection while writeback is on
    assert swapped_in(core, swp) == (text_page(1), "zswap")


@covers("compress_fail")
def test_compress_error_with_writeback_disabled_rejects_and_keeps_the_page(
        core: SwapCore, faulty: FaultyCompressor) -> None:
    z, g = core.zswap, nowb_group(core)
    faulty.compress_fail.fail_next(1)
    assert core.swap_out(text_page(2), g) is None  # swap_writeout: AOP_WRITEPAGE_ACTIVATE
    assert z.stats()["reject_compress_fail"] == 1 and z.stats()["stored_pages"] == 0
    assert core.stats()["pswpout"] == 0
    assert core.table.device(0).stats()["inuse_pages"] == 0


@covers("compress_poor")
def test_compress_enospc_is_stored_as_is_or_rejected_as_poor(
        core: SwapCore, faulty: FaultyCompressor) -> None:
    z, g = core.zswap, nowb_group(core)
    faulty.compress_poor.fail_next(2)
    kept = core.swap_out(text_page(3))
    rejected = core.swap_out(text_page(4), g)
    assert kept is not None and rejected is None  # writeback 0: stays in memory
    st = z.stats()
    assert faulty.compress_poor.injected == 2
    assert st["stored_incompressible_pages"] == 1 and st["reject_compress_poor"] == 1
    assert st["reject_compress_fail"] == 0 and core.stats()["pswpout"] == 0
    assert swapped_in(core, kept) == (text_page(3), "zswap")


@covers("compress_fail")
def test_a_failing_page_rejects_the_whole_folio_and_frees_its_objects(
        core: SwapCore, faulty: FaultyCompressor) -> None:
    z, g = core.zswap, nowb_group(core)
    pages = [text_page(10 + i) for i in range(8)]
    marker = pages[5]
    faulty.compress_fail.fail_when(lambda page: page == marker)
    swp = core.folio_alloc_swap(8)
    assert swp is not None
    assert core.swap_writeout(swp, b"".join(pages), g) == AOP_WRITEPAGE_ACTIVATE
    st = z.stats()
    assert st["reject_compress_fail"] == 1 and st["stored_pages"] == 0
    assert z.current_pool().zs_pool.objects_in_use == 0  # pages 0..4 were freed again
    assert core.stats()["pswpout"] == 0  # writeback 0: the folio stays in memory
    for i in range(8):
        assert z.lookup(0, swp_offset(swp) + i) is None
    faulty.compress_fail.clear()
    assert core.swap_writeout(swp, b"".join(pages), g) == "zswap"  # the retry from memory
    for i, page in enumerate(pages):
        assert swapped_in(core, swp + i, g) == (page, "zswap")


@covers("decompress_fail")
def test_decompression_error_keeps_the_entry_and_the_retry_succeeds(
        core: SwapCore, faulty: FaultyCompressor) -> None:
    z = core.zswap
    swp = core.swap_out(text_page(5))
    assert swp is not None
    faulty.decompress_fail.fail_next(1)
    with pytest.raises(DecompressFail):
        swapped_in(core, swp)
    assert z.stats()["decompress_fail"] == 1
    assert z.lookup(0, swp_offset(swp)) is not None
    assert swapped_in(core, swp) == (text_page(5), "zswap")


@covers("decompress_fail", "swap_write_error")
def test_writeback_of_an_undecompressable_entry_fails_and_keeps_it(
        core: SwapCore, faulty: FaultyCompressor) -> None:
    z = core.zswap
    swp = core.swap_out(text_page(6))
    assert swp is not None
    entry = z.lookup(0, swp_offset(swp))
    assert entry is not None
    faulty.decompress_fail.fail_next(1)
    assert z.writeback_entry(entry) == -errno.EIO
    assert z.stats()["decompress_fail"] == 1 and z.lookup(0, entry.offset) == entry
    assert core.stats()["pswpout"] == 0  # nothing was written
    assert z.writeback_entry(entry) == 0
    assert swapped_in(core, swp) == (text_page(6), "disk")


# ---------------------------------------------------------------------------- corruption -----
@covers("corrupt_object")
@pytest.mark.parametrize("name", COMPRESSORS)
def test_corrupted_object_is_detected_counted_and_restorable(tmp_path: Path, name: str) -> None:
    z = Zswap(compressor=name, totalram_pages=None)
    core = SwapCore(z, directory=tmp_path)
    try:
        core.swapon(64)
        swp = core.swap_out(text_page(7))
        assert swp is not None
        off = swp_offset(swp)
        restore = corrupt_entry(z, 0, off)
        out = bytearray(PAGE_SIZE)
        with pytest.raises(DecompressFail):
            z.load(out, 0, off)
        assert z.stats()["decompress_fail"] == 1
        assert z.lookup(0, off) is not None  # kept: the kernel returns -EIO, nothing freed
        assert restore() is True
        assert swapped_in(core, swp) == (text_page(7), "zswap")
        assert restore() is False  # the entry is gone now: nothing written
    finally:
        core.close()


@covers("corrupt_object")
def test_corruption_refuses_pages_stored_as_is_and_missing_entries(core: SwapCore) -> None:
    z = core.zswap
    swp = core.swap_out(random_page(1))  # incompressible: stored as-is
    assert swp is not None
    with pytest.raises(InvalidParameter, match="as-is"):
        corrupt_entry(z, 0, swp_offset(swp))
    with pytest.raises(InvalidParameter, match="no zswap entry"):
        corrupt_entry(z, 0, 200)
    assert swapped_in(core, swp) == (random_page(1), "zswap")


# ---------------------------------------------------------------------------- zsmalloc -------
@covers("alloc_fail")
def test_allocation_failure_rejects_the_folio_to_the_swap_file(core: SwapCore) -> None:
    z = core.zswap
    zs = install_zs_pool(z)
    assert isinstance(z.current_pool().zs_pool, FaultyZsPool)
    kept = core.swap_out(text_page(20))
    zs.alloc_fail.fail_every(3)  # the 3rd page of the next folio fails
    pages = [text_page(21 + i) for i in range(4)]
    swp = core.swap_out(b"".join(pages))
    assert kept is not None and swp is not None
    st = z.stats()
    assert zs.alloc_fail.injected == 1 and st["reject_alloc_fail"] == 1
    assert st["stored_pages"] == 1 and zs.objects_in_use == 1  # the two allocated were freed
    assert core.stats()["pswpout"] == 4
    zs.alloc_fail.clear()
    for i, page in enumerate(pages):
        assert swapped_in(core, swp + i) == (page, "disk")
    assert swapped_in(core, kept) == (text_page(20), "zswap")


@covers("zsmalloc_full")
def test_full_zsmalloc_refuses_new_zspages_and_recovers_after_frees(core: SwapCore) -> None:
    z = core.zswap
    zs = install_zs_pool(z, max_pages=2)
    owned: dict[int, bytes] = {}
    for i in range(60):
        page = random_page(100 + i)  # as-is pages: one zspage page each
        swp = core.swap_out(page)
        assert swp is not None
        owned[swp] = page
    st = z.stats()
    assert zs.pages_allocated <= 2 and st["stored_pages"] == 2
    assert st["reject_alloc_fail"] == 58 and core.stats()["pswpout"] == 58
    for swp, page in owned.items():
        data, _ = swapped_in(core, swp)
        assert data == page
        core.swap_free(swp)
    assert z.stats()["stored_pages"] == 0 and zs.pages_allocated == 0
    swp2 = core.swap_out(random_page(1))  # room again
    assert swp2 is not None and z.stats()["stored_pages"] == 1


def test_install_zs_pool_refuses_a_pool_that_holds_objects(core: SwapCore) -> None:
    core.swap_out(text_page(1))
    with pytest.raises(InvalidParameter, match="only be replaced while empty"):
        install_zs_pool(core.zswap)


# ---------------------------------------------------------------------------- swap I/O -------
@covers("swap_write_error", "swap_enospc")
@pytest.mark.parametrize("err", [errno.EIO, errno.ENOSPC])
def test_swap_file_write_error_keeps_the_page_with_its_owner(core: SwapCore, err: int) -> None:
    z, device = core.zswap, core.table.device(0)
    z.set_param("enabled", False)  # every folio goes to the swap file
    inuse = device.inuse_pages
    device.faults.fail_next_writes(1, err)
    page = text_page(30)
    with pytest.raises(SwapIOError) as info:
        core.swap_out(page)
    assert info.value.errno == err and device.write_errors == 1
    assert device.faults.injected["write"] == 1
    assert device.inuse_pages == inuse  # the slots were given back; the caller has the page
    swp = core.swap_out(page)  # the retry goes through
    assert swp is not None
    assert swapped_in(core, swp) == (page, "disk")


@covers("swap_write_error")
def test_writeback_write_error_counts_reclaim_fail_and_keeps_the_entry(core: SwapCore) -> None:
    z, device = core.zswap, core.table.device(0)
    swp = core.swap_out(text_page(31))
    assert swp is not None
    off = swp_offset(swp)
    device.faults.fail_writes_at([off], errno.EIO, times=1)
    assert z.shrink_memcg(None) == -errno.EAGAIN  # first pass: referenced, only rotated
    assert z.shrink_memcg(None) == -errno.EAGAIN  # then the write fails
    st = z.stats()
    assert device.write_errors == 1 and st["reject_reclaim_fail"] == 1
    assert st["written_back_pages"] == 0 and z.lookup(0, off) is not None
    assert z.shrink_memcg(None) == 0  # the fault was for one write only
    assert z.stats()["written_back_pages"] == 1
    assert swapped_in(core, swp) == (text_page(31), "disk")


@covers("swap_read_error")
def test_swap_file_read_error_leaves_the_page_on_its_slot(core: SwapCore) -> None:
    z, device = core.zswap, core.table.device(0)
    z.set_param("enabled", False)
    swp = core.swap_out(text_page(32))
    assert swp is not None
    device.faults.fail_reads_at([swp & SWP_OFFSET_MASK], errno.EIO, times=1)
    with pytest.raises(SwapIOError) as info:
        swapped_in(core, swp)
    assert info.value.errno == errno.EIO and device.read_errors == 1
    assert core.table.lookup_swap_cache(swp) is None  # the failed swap-in let the slot go
    assert swapped_in(core, swp) == (text_page(32), "disk")


# ---------------------------------------------------------------------------- pool creation --
@covers("pool_create_nomem")
def test_memory_limit_during_pool_creation_keeps_the_old_pool(tmp_path: Path) -> None:
    faults = PoolCreationFaults()
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=4, mem_hook=faults)
    core = SwapCore(z, directory=tmp_path)
    try:
        core.swapon(64)
        swp = core.swap_out(text_page(40))
        assert swp is not None
        # The 14th allocation of the switch: the request of CPU 2's context (after the pool
        # struct, its zsmalloc pool and percpu array, and per CPU the transform, stream,
        # request and buffer of CPUs 0 and 1, then CPU 2's transform and stream).
        faults.schedule.fail_every(14)
        with pytest.raises(AllocFail, match="injected"):
            z.set_param("compressor", "zstd")
        assert faults.failed == ["acomp_ctx zstd#2 cpu2"]
        assert z.compressor == "lz4" and [p.tfm_name for p in z.pools()] == ["lz4"]
        assert len(z.current_pool().ctx_report()) == 4
        swp2 = core.swap_out(text_page(41))  # zswap still works on the old pool
        assert swp2 is not None and z.stats()["stored_pages"] == 2
        faults.schedule.clear()
        z.set_param("compressor", "zstd")
        assert [p.tfm_name for p in z.pools()] == ["zstd", "lz4"]
        assert swapped_in(core, swp) == (text_page(40), "zswap")
        assert swapped_in(core, swp2) == (text_page(41), "zswap")
        assert [p.tfm_name for p in z.pools()] == ["zstd"]  # lz4 died with its last entry
    finally:
        core.close()


# ---------------------------------------------------------------------------- the API --------
def test_schedule_next_every_predicate_and_clear() -> None:
    s = FaultSchedule()
    assert not s.armed and not s.fire(b"x") and s.calls == 0
    s.fail_next(2)
    assert [s.fire() for _ in range(3)] == [True, True, False]
    s.fail_every(3)
    assert [s.fire() for _ in range(6)] == [False, False, True, False, False, True]
    s.fail_every(None)
    s.fail_when(lambda data: data.startswith(b"bad"))
    assert [s.fire(b"bad page"), s.fire(b"good"), s.fire(None)] == [True, False, False]
    assert s.injected == 5
    s.clear()
    assert not s.armed and not s.fire(b"bad")
    for bad in (-1, 1.5, "2"):
        with pytest.raises(InvalidParameter):
            s.fail_next(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter):
        s.fail_every(0)


def test_faulty_compressor_registration() -> None:
    comp = faulty_compressor("faulty-reg-test", "zstd")
    try:
        assert has_compressor("faulty-reg-test") and comp.base.name == "zstd"
        with pytest.raises(InvalidParameter, match="already registered"):
            faulty_compressor("faulty-reg-test")
        with pytest.raises(InvalidParameter):
            FaultyCompressor(comp)
        assert comp.injected == {"compress_fail": 0, "compress_poor": 0, "decompress_fail": 0}
    finally:
        unregister(comp)
    assert not has_compressor("faulty-reg-test")
    with pytest.raises(InvalidParameter):
        faulty_compressor(" spaced ")


def test_every_fault_point_has_a_test() -> None:
    assert {p.name for p in FAULT_POINTS} == set(COVERED), set(COVERED) ^ {
        p.name for p in FAULT_POINTS}
