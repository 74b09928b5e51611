"""The store / load / invalidate flows, limits, pools and parameters of :class:`Zswap`."""

from __future__ import annotations

import pytest

from pyzswap import DEBUGFS_STATS, PAGE_SIZE, Zswap
from pyzswap.errors import (
    AllocFail,
    DecompressFail,
    InvalidPage,
    InvalidParameter,
    UnknownCompressor,
    ZswapError,
)
from pyzswap.zsmalloc import ZsPool

from .conftest import COMPRESSORS, mixed_page, random_page, text_page

#: The behavioural suite runs once per flow (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")


def _zswap(**kw: object) -> Zswap:
    kw.setdefault("totalram_pages", None)
    z = Zswap(**kw)  # type: ignore[arg-type]
    z.swapon(0, 4096)
    return z


def _load(z: Zswap, off: int, swp_type: int = 0, **kw: bool) -> bytes | None:
    out = bytearray(PAGE_SIZE)
    return bytes(out) if z.load(out, swp_type, off, **kw) else None


@pytest.mark.parametrize("name", COMPRESSORS)
def test_store_load_invalidate_round_trip(name: str) -> None:
    z = _zswap(compressor=name)
    pages = [text_page(1), random_page(2), mixed_page(3)]
    for off, page in enumerate(pages):
        assert z.store(page, 0, off)
    st = z.stats()
    assert st["stored_pages"] == 3
    assert st["stored_incompressible_pages"] == 1  # the random page is stored as-is (6.18)
    assert st["pool_total_size"] > 0
    assert z.lookup(0, 1) is not None and z.lookup(0, 1).length == PAGE_SIZE  # type: ignore[union-attr]
    assert _load(z, 0, swapcache=False) == pages[0]  # non-exclusive: the entry stays
    assert z.lookup(0, 0) is not None
    for off, page in enumerate(pages):
        assert _load(z, off) == page
        assert z.lookup(0, off) is None  # exclusive load erased it
    assert z.stats()["stored_pages"] == 0
    assert z.stats()["pool_total_size"] == 0
    assert z.vmstat() == {"zswpin": 4, "zswpout": 3, "zswpwb": 0}
    assert _load(z, 0) is None
    assert not z.invalidate(0, 0)


def test_stats_have_the_debugfs_names() -> None:
    z = _zswap()
    assert list(z.stats()) == list(DEBUGFS_STATS)
    assert set(DEBUGFS_STATS) == {
        "pool_limit_hit", "reject_reclaim_fail", "reject_alloc_fail", "reject_kmemcache_fail",
        "reject_compress_fail", "reject_compress_poor", "decompress_fail", "written_back_pages",
        "pool_total_size", "stored_pages", "stored_incompressible_pages",
    }


@pytest.mark.parametrize("nr", [1, 2, 16, 512])
def test_large_folio_store_then_per_page_load(nr: int) -> None:
    z = _zswap(compressor="lz4")
    pages = [mixed_page(i) for i in range(nr)]
    assert z.store(b"".join(pages), 0, 100)
    assert z.stats()["stored_pages"] == nr
    for i, page in enumerate(pages):
        assert _load(z, 100 + i) == page


def test_bad_folios_and_slots_raise_and_change_nothing() -> None:
    z = _zswap()
    assert z.store(text_page(0), 0, 7)
    before = z.stats()
    for bad in (b"", bytes(100), bytes(PAGE_SIZE + 1), bytes(513 * PAGE_SIZE)):
        with pytest.raises(InvalidPage):
            z.store(bad, 0, 0)
    strided = memoryview(text_page(1) * 2)[::2]  # 4096 bytes, but not one buffer
    with pytest.raises(InvalidPage, match="contiguous"):
        z.store(strided, 0, 0)
    with pytest.raises(InvalidPage, match="contiguous"):
        z.store_batch([(strided, 0, 0)])
    with pytest.raises(InvalidParameter, match="not on"):
        z.store(text_page(0), 3, 0)
    with pytest.raises(InvalidParameter, match="outside"):
        z.store(text_page(0) * 2, 0, 4095)
    with pytest.raises(InvalidParameter):
        z.store(text_page(0), 0, -1)
    with pytest.raises(InvalidPage):
        z.load(bytearray(2 * PAGE_SIZE), 0, 7)
    with pytest.raises(InvalidPage):
        z.load(memoryview(bytes(PAGE_SIZE)), 0, 7)  # read-only destination
    assert z.stats() == before
    assert _load(z, 7) == text_page(0)


def test_restore_over_an_existing_entry_replaces_it() -> None:
    z = _zswap()
    assert z.store(text_page(1), 0, 5)
    assert z.store(text_page(2), 0, 5)
    assert z.stats()["stored_pages"] == 1
    assert _load(z, 5) == text_page(2)


def test_failed_store_erases_the_whole_folio_and_every_stale_entry(
        monkeypatch: pytest.MonkeyPatch) -> None:
    z = _zswap(compressor="lz4")
    for off in range(8):
        assert z.store(text_page(off), 0, off)  # older copies of slots 0..7
    real = ZsPool.malloc_write
    calls = {"n": 0}

    def flaky(self: ZsPool, data: object, length: int) -> int:
        calls["n"] += 1
        if calls["n"] == 5:
            raise AllocFail("injected zs_malloc failure")
        return real(self, data, length)  # type: ignore[arg-type]

    monkeypatch.setattr(ZsPool, "malloc_write", flaky)
    folio = b"".join(mixed_page(100 + i) for i in range(8))
    assert not z.store(folio, 0, 0)
    st = z.stats()
    assert st["reject_alloc_fail"] == 1
    assert st["stored_pages"] == 0  # old entries of the folio's slots are gone too
    assert st["pool_total_size"] == 0
    assert all(z.lookup(0, off) is None for off in range(8))


def test_disabled_zswap_refuses_and_erases_stale_entries() -> None:
    z = _zswap()
    assert z.store(text_page(1), 0, 1)
    assert z.store(text_page(2), 0, 2)
    z.set_param("enabled", "N")
    assert not z.enabled
    assert not z.store(text_page(3), 0, 1)
    assert z.lookup(0, 1) is None
    assert _load(z, 2) == text_page(2)  # existing entries still load
    z.set_param("enabled", True)
    assert z.store(text_page(3), 0, 1)


def test_global_limit_with_accept_threshold_hysteresis() -> None:
    # 100 pages of RAM, 20% -> max 20 pages, threshold 90% -> 18 pages.
    z = Zswap(compressor="lz4", totalram_pages=100, max_pool_percent=20,
              accept_threshold_percent=90)
    z.swapon(0, 1000)
    assert z.max_pages() == 20 and z.accept_thr_pages() == 18
    off = 0
    while z.store(random_page(off), 0, off):  # incompressible: one zsmalloc page each
        off += 1
    assert off == 20
    assert z.stats()["pool_limit_hit"] == 1
    assert z.total_pages() == 20
    z.invalidate(0, 0)  # 19 pages: below max, but not yet below the threshold
    assert not z.store(random_page(500), 0, 500)
    z.invalidate(0, 1)  # 18 pages: at the threshold, accepting again
    assert z.store(random_page(501), 0, 501)
    assert z.stats()["pool_limit_hit"] == 1  # counted only when a check sees cur >= max
    assert z.store(random_page(502), 0, 502)  # 20 pages now
    assert not z.store(random_page(503), 0, 503)
    assert z.stats()["pool_limit_hit"] == 2


def test_compressor_switch_keeps_old_pool_readable_until_its_last_entry() -> None:
    z = _zswap(compressor="lzo")
    for off in range(10):
        assert z.store(text_page(off), 0, off)
    lzo_pool = z.current_pool()
    z.set_param("compressor", "zstd")
    assert z.compressor == "zstd"
    assert [p.tfm_name for p in z.pools()] == ["zstd", "lzo"]
    for off in range(10, 20):
        assert z.store(text_page(off), 0, off)
    assert z.lookup(0, 3).pool_id == lzo_pool.id  # type: ignore[union-attr]
    assert z.entry_pool(z.lookup(0, 13)).tfm_name == "zstd"  # type: ignore[arg-type]
    # pool_total_size counts every live pool
    assert z.stats()["pool_total_size"] == sum(p.total_pages() for p in z.pools()) * PAGE_SIZE
    # switching back while the lzo pool lives reuses it
    z.set_param("compressor", "lzo")
    assert z.current_pool() is lzo_pool and not lzo_pool.killed
    z.set_param("compressor", "zstd")
    zstd_pool = z.current_pool()
    for off in range(10):
        assert _load(z, off) == text_page(off)
    assert lzo_pool.destroyed and [p.tfm_name for p in z.pools()] == ["zstd"]
    z.set_param("compressor", "lzo")  # a new pool now: the old one is gone
    assert z.current_pool() is not lzo_pool
    for off in range(10, 20):
        z.invalidate(0, off)
    assert zstd_pool.destroyed
    assert z.stats()["pool_total_size"] == 0 and z.stats()["stored_pages"] == 0
    assert [p.tfm_name for p in z.pools()] == ["lzo"]


def test_switch_to_the_current_compressor_is_a_no_op() -> None:
    z = _zswap(compressor="lz4")
    pool = z.current_pool()
    z.set_param("compressor", "lz4")
    assert z.current_pool() is pool and len(z.pools()) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_pool_percent", 101), ("max_pool_percent", -1), ("max_pool_percent", "abc"),
     ("accept_threshold_percent", 200), ("enabled", "maybe"), ("shrinker_enabled", 2),
     ("compressor", ""), ("compressor", 5)],
)
def test_invalid_parameters_are_refused_and_change_nothing(name: str, value: object) -> None:
    z = _zswap()
    before = z.params()
    with pytest.raises(InvalidParameter):
        z.set_param(name, value)
    assert z.params() == before


def test_unknown_compressor_and_parameter() -> None:
    z = _zswap(compressor="lz4")
    with pytest.raises(UnknownCompressor, match="lz5"):
        z.set_param("compressor", "lz5")
    assert z.compressor == "lz4" and len(z.pools()) == 1
    with pytest.raises(InvalidParameter, match="unknown parameter"):
        z.set_param("zpool", "zsmalloc")  # removed in 6.18
    with pytest.raises(UnknownCompressor):
        Zswap(compressor="nope")
    z.set_param("max_pool_percent", "35")
    assert z.get_param("max_pool_percent") == 35


def test_decompress_failure_is_counted_and_keeps_the_entry() -> None:
    z = _zswap(compressor="lz4")
    assert z.store(text_page(9), 0, 9)
    entry = z.lookup(0, 9)
    assert entry is not None
    zs = z.entry_pool(entry).zs_pool
    zs.write(entry.handle, b"\xff" * entry.length)  # corrupt the compressed object
    with pytest.raises(DecompressFail):
        z.load(bytearray(PAGE_SIZE), 0, 9)
    assert z.stats()["decompress_fail"] == 1
    assert z.lookup(0, 9) == entry


def test_swapoff_requires_an_empty_tree() -> None:
    z = _zswap()
    assert z.store(text_page(1), 0, 1)
    with pytest.raises(ZswapError, match="still in zswap"):
        z.swapoff(0)
    z.invalidate(0, 1)
    z.swapoff(0)
    with pytest.raises(InvalidParameter):
        z.store(text_page(1), 0, 1)


def test_entries_across_64mib_of_swap() -> None:
    # the kernel's per-64-MiB trees are one C table here: slots on both sides of the split
    z = Zswap(totalram_pages=None)
    z.swapon(1, (1 << 14) * 2 + 1)
    assert z.store(text_page(1), 1, (1 << 14) * 2)
    assert z.store(text_page(2), 1, 5)
    assert [e.offset for e in z.entries(1)] == [5, (1 << 14) * 2]


def test_pool_total_size_is_zsmalloc_pages_of_the_class_of_each_length() -> None:
    # Independent recomputation from the size-class table (docs/KERNEL_REFERENCE.md §6):
    # objects of one
    # class fill ceil(n / objs_per_zspage) zspages of pages_per_zspage pages each.
    from collections import Counter

    from pyzswap.zsmalloc import ZS_HANDLE_SIZE, class_index_for, size_class_table

    z = _zswap(compressor="lz4")
    pages = [text_page(i) for i in range(300)] + [random_page(i) for i in range(7)]
    for off, page in enumerate(pages):
        assert z.store(page, 0, off)
    table = size_class_table()
    per_class: Counter[int] = Counter()
    for entry in z.entries(0):
        size = entry.length + ZS_HANDLE_SIZE
        idx = 254 if entry.length >= 3625 else class_index_for(size)
        per_class[table[idx].index] += 1
    expected_pages = 0
    for idx, count in per_class.items():
        info = table[idx]
        expected_pages += -(-count // info.objs_per_zspage) * info.pages_per_zspage
    assert z.stats()["pool_total_size"] == expected_pages * PAGE_SIZE
    assert per_class[254] == 7  # the incompressible pages, one page each


def test_store_batch_with_a_software_compressor_is_per_folio() -> None:
    z = _zswap(compressor="lz4")
    folios = [(text_page(i), 0, i) for i in range(32)]
    folios.append((b"".join(mixed_page(100 + k) for k in range(4)), 0, 100))
    assert z.store_batch(folios) == [True] * 33
    for i in range(32):
        assert _load(z, i) == text_page(i)
    for k in range(4):
        assert _load(z, 100 + k) == mixed_page(100 + k)
    with pytest.raises(InvalidPage):
        z.store_batch([(bytes(10), 0, 0)])


def test_load_batch_matches_single_loads_and_keeps_failed_entries() -> None:
    z = _zswap(compressor="zstd")
    for off in range(12):
        assert z.store(mixed_page(off), 0, off)
    outs = [bytearray(PAGE_SIZE) for _ in range(14)]
    assert z.load_batch(outs, 0, list(range(14))) == [True] * 12 + [False] * 2
    assert [bytes(o) for o in outs[:12]] == [mixed_page(i) for i in range(12)]
    assert z.stats()["stored_pages"] == 0
    for off in range(3):
        assert z.store(text_page(off), 0, off)
    bad = z.lookup(0, 1)
    assert bad is not None
    z.entry_pool(bad).zs_pool.write(bad.handle, b"\xff" * bad.length)
    outs = [bytearray(PAGE_SIZE) for _ in range(3)]
    with pytest.raises(DecompressFail, match=r"\[1\]"):
        z.load_batch(outs, 0, [0, 1, 2])
    assert bytes(outs[0]) == text_page(0) and bytes(outs[2]) == text_page(2)
    assert z.lookup(0, 1) == bad and z.stats()["decompress_fail"] == 1


def test_compact_skips_a_pool_destroyed_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    z = _zswap(compressor="lz4")
    assert z.store(text_page(1), 0, 1)
    old = z.current_pool()
    z.set_param("compressor", "zstd")
    listed = z.pools()  # the list compact() will walk: the old pool is still in it
    z.invalidate(0, 1)  # ...and now its last entry goes: destroyed
    assert old.destroyed
    monkeypatch.setattr(z, "pools", lambda: listed)
    assert z.compact() == 0
