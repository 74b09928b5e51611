"""Tests of pyzswap.zsmalloc: the kernel's class table, accounting, placement order, compaction.

The class table is pinned against the class list computed from mm/zsmalloc.c's rules
(docs/KERNEL_REFERENCE.md §6);
placement and compaction scenarios are worked out by hand from the kernel's algorithms; a
hypothesis state machine and a threaded test check that data and accounting survive arbitrary
malloc/write/free/compact interleavings.
"""

from __future__ import annotations

import array
import errno
import itertools
import random
import sys
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from pyzswap.errors import AllocFail, CompressPoor, InvalidParameter, ZswapError
from pyzswap.reference.zsmalloc import PyZsPool
from pyzswap.zsmalloc import (
    DEFAULT_CHAIN_SIZE,
    PAGE_SIZE,
    ZS_ALIGN,
    ZS_HANDLE_SIZE,
    ZS_MAX_ALLOC_SIZE,
    ZS_MIN_ALLOC_SIZE,
    ZS_SIZE_CLASS_DELTA,
    ZS_SIZE_CLASSES,
    ZSPAGE_CACHE_PAGES,
    SizeClassInfo,
    ZsPool,
    alloc_class,
    calculate_zspage_chain_size,
    class_index_for,
    distinct_classes,
    fullness_group,
    huge_class_size,
    size_class_table,
)

# The distinct classes with chain 8 (index:size/pages/objects), from mm/zsmalloc.c's rules.
CHAIN8_TABLE = """
0:32/1/128 1:48/3/256 2:64/1/64 3:80/5/256 4:96/3/128 5:112/7/256 6:128/1/32 7:144/7/199 8:160/5/128
9:176/4/93 10:192/3/64 11:208/3/59 12:224/7/128 13:240/1/17 14:256/1/16 15:272/1/15 16:288/5/71
17:304/7/94 18:320/5/64 19:336/6/73 20:352/8/93 21:368/8/89 22:384/3/32 23:400/5/51 24:416/6/59
25:432/7/66 26:448/7/64 27:464/5/44 28:480/2/17 29:496/4/33 30:512/1/8 31:528/4/31 32:544/2/15
33:560/7/51 34:576/1/7 35:592/8/55 36:608/7/47 37:624/2/13 38:640/5/32 39:656/5/31 40:672/1/6
41:688/8/47 42:704/5/29 43:720/3/17 44:736/2/11 45:752/7/38 46:768/3/16 47:784/5/26 49:816/1/5
50:832/8/39 51:848/5/24 52:864/7/33 53:880/8/37 54:896/7/32 55:912/7/31 56:928/5/22 57:944/3/13
58:960/4/17 59:976/6/25 60:992/8/33 62:1024/1/4 64:1056/8/31 65:1072/5/19 66:1088/4/15 67:1104/3/11
68:1120/8/29 69:1136/5/18 71:1168/2/7 72:1184/7/24 73:1200/5/17 74:1216/3/10 75:1232/7/23
76:1248/4/13 78:1280/5/16 79:1296/7/22 83:1360/1/3 87:1424/8/23 88:1440/6/17 89:1456/5/14
91:1488/4/11 92:1504/7/19 94:1536/3/8 95:1552/8/21 96:1568/5/13 97:1584/7/18 100:1632/2/5
103:1680/7/17 104:1696/5/12 105:1712/8/19 107:1744/3/7 110:1792/7/16 111:1808/4/9 114:1856/5/11
116:1888/6/13 117:1904/7/15 118:1920/8/17 126:2048/1/2 134:2176/8/15 135:2192/7/13 137:2224/6/11
140:2272/5/9 144:2336/4/7 147:2384/7/12 151:2448/3/5 155:2512/8/13 158:2560/5/8 160:2592/7/11
168:2720/2/3 177:2864/7/10 180:2912/5/7 184:2976/8/11 190:3072/3/4 197:3184/7/9 202:3264/4/5
211:3408/5/6 217:3504/6/7 222:3584/7/8 225:3632/8/9 254:4096/1/1
"""


def parse_table(text: str) -> list[SizeClassInfo]:
    out = []
    for item in text.split():
        idx, rest = item.split(":")
        size, pages, objs = (int(x) for x in rest.split("/"))
        out.append(SizeClassInfo(int(idx), size, pages, objs))
    return out


def payload(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


AnyPool = ZsPool | PyZsPool
PoolType = type[ZsPool] | type[PyZsPool]


@pytest.fixture(params=[ZsPool, PyZsPool], ids=["c", "py"])
def Pool(request: pytest.FixtureRequest) -> PoolType:
    """Every test of the pool runs on the C pool and on the Python reference."""
    cls: PoolType = request.param
    return cls


def snapshot(pool: AnyPool) -> tuple[Any, ...]:
    """Everything observable about a pool's accounting, to prove an error changed nothing."""
    return (
        pool.pages_allocated,
        pool.objects_in_use,
        pool.pages_compacted,
        [tuple(sorted(row.items())) for row in pool.class_stats()],
    )


# --------------------------------------------------------------------------------------------
# Constants and the class table
# --------------------------------------------------------------------------------------------


def test_constants() -> None:
    assert (PAGE_SIZE, ZS_ALIGN, ZS_HANDLE_SIZE) == (4096, 8, 8)
    assert (ZS_MIN_ALLOC_SIZE, ZS_MAX_ALLOC_SIZE, ZS_SIZE_CLASS_DELTA) == (32, 4096, 16)
    assert ZS_SIZE_CLASSES == 255
    assert DEFAULT_CHAIN_SIZE == 8


def test_chain8_table_matches_facts_exactly() -> None:
    expected = parse_table(CHAIN8_TABLE)
    assert len(expected) == 119
    assert distinct_classes() == expected
    assert distinct_classes(8) == expected


@pytest.mark.parametrize(
    ("chain", "count", "huge", "watermark"),
    [
        (4, 69, 3257, SizeClassInfo(202, 3264, 4, 5)),
        (8, 119, 3625, SizeClassInfo(225, 3632, 8, 9)),
        (16, 192, 3833, SizeClassInfo(238, 3840, 15, 16)),
    ],
)
def test_class_counts_and_huge_watermarks(
    chain: int, count: int, huge: int, watermark: SizeClassInfo
) -> None:
    classes = distinct_classes(chain)
    assert len(classes) == count
    assert huge_class_size(chain) == huge
    # The last non-huge class is the watermark, the only huge class is 254.
    assert classes[-1] == SizeClassInfo(254, 4096, 1, 1)
    assert classes[-2] == watermark
    assert huge == watermark.size - (ZS_HANDLE_SIZE - 1)
    assert [c for c in classes if c.huge] == [classes[-1]]


@pytest.mark.parametrize("chain", range(4, 17))
def test_table_structure(chain: int) -> None:
    table = size_class_table(chain)
    created = {c.index for c in distinct_classes(chain)}
    assert len(table) == ZS_SIZE_CLASSES
    for i, info in enumerate(table):
        # An index resolves to the next created index at or above it ("rounds up").
        assert info.index == min(j for j in created if j >= i)
        assert info.size >= min(32 + 16 * i, 4096)
        assert info.pages_per_zspage == calculate_zspage_chain_size(info.size, chain)
        assert info.objs_per_zspage == info.pages_per_zspage * PAGE_SIZE // info.size
        assert 1 <= info.pages_per_zspage <= chain
    # Consecutive created classes never share a geometry (else they would have merged).
    classes = distinct_classes(chain)
    for a, b in itertools.pairwise(classes):
        assert (a.pages_per_zspage, a.objs_per_zspage) != (b.pages_per_zspage, b.objs_per_zspage)


def test_chain_size_calculation() -> None:
    for size in (32, 64, 128, 256, 512, 1024, 2048, 4096):
        assert calculate_zspage_chain_size(size) == 1
    assert calculate_zspage_chain_size(48) == 3  # 12288 % 48 == 0 first at 3 pages
    assert calculate_zspage_chain_size(3632) == 8
    assert calculate_zspage_chain_size(3632, 4) == 1  # 4096 % 3632 = 464 is the best of 1..4


@pytest.mark.parametrize("bad", [3, 17, 0, -8, "8", 8.0, None])
def test_bad_chain_size(Pool: PoolType, bad: Any) -> None:
    with pytest.raises(InvalidParameter):
        size_class_table(bad)
    with pytest.raises(InvalidParameter):
        Pool("bad", bad)


def test_class_index_for_boundaries() -> None:
    assert class_index_for(1) == 0
    assert class_index_for(32) == 0
    assert class_index_for(33) == 1
    assert class_index_for(48) == 1
    assert class_index_for(49) == 2
    assert class_index_for(3632) == 225
    assert class_index_for(3633) == 226
    assert class_index_for(4096) == 254
    assert class_index_for(4104) == 254  # 4096 + header: capped
    for bad in (0, -1, 4105, 1.0, "32"):
        with pytest.raises(InvalidParameter):
            class_index_for(bad)  # type: ignore[arg-type]


def test_alloc_class_boundaries() -> None:
    # zs_malloc adds the 8-byte header before the lookup.
    assert alloc_class(1) == SizeClassInfo(0, 32, 1, 128)
    assert alloc_class(24) == SizeClassInfo(0, 32, 1, 128)
    assert alloc_class(25) == SizeClassInfo(1, 48, 3, 256)
    assert alloc_class(3624) == SizeClassInfo(225, 3632, 8, 9)  # 3624 + 8 = 3632
    assert alloc_class(3625) == SizeClassInfo(254, 4096, 1, 1)  # = huge_class_size
    assert alloc_class(4096) == SizeClassInfo(254, 4096, 1, 1)
    assert alloc_class(1500) == SizeClassInfo(94, 1536, 3, 8)  # index 93 merges into 94
    for size in range(1, 4097):
        info = alloc_class(size)
        assert info.size - (0 if info.huge else ZS_HANDLE_SIZE) >= size
        assert info.huge == (size >= huge_class_size())
    with pytest.raises(CompressPoor):
        alloc_class(4097)
    with pytest.raises(InvalidParameter):
        alloc_class(0)


def test_fullness_group() -> None:
    assert fullness_group(0, 128) == 0
    assert fullness_group(128, 128) == 11
    assert fullness_group(1, 128) == 1  # ratio 0 still counts as the 10% group
    assert fullness_group(9, 100) == 1
    assert fullness_group(10, 100) == 2
    assert fullness_group(50, 100) == 6
    assert fullness_group(99, 100) == 10
    assert fullness_group(1, 2) == 6
    assert [fullness_group(n, 19) for n in range(20)] == [
        0, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 11
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Accounting
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 24, 25, 100, 1016, 1500, 3624, 3625, 4096])
def test_pages_for_n_objects(Pool: PoolType, size: int) -> None:
    pool = Pool("acct")
    info = alloc_class(size)
    n = 2 * info.objs_per_zspage + 1
    handles = []
    for i in range(n):
        handles.append(pool.malloc(size))
        zspages = -(-(i + 1) // info.objs_per_zspage)
        assert pool.pages_allocated == zspages * info.pages_per_zspage
    assert pool.objects_in_use == n
    assert pool.total_pages() == pool.pages_allocated == 3 * info.pages_per_zspage
    pool._check_invariants()
    for h in handles:
        pool.free(h)
    assert pool.pages_allocated == 0
    assert pool.objects_in_use == 0
    pool._check_invariants()


def test_full_page_object_costs_one_page(Pool: PoolType) -> None:
    pool = Pool("huge")
    page = payload(1, 4096)
    h = pool.malloc_write(page, 4096)
    assert pool.pages_allocated == 1
    assert pool.read(h) == page
    h2 = pool.malloc_write(page, 3625)
    assert pool.pages_allocated == 2
    h3 = pool.malloc_write(page, 3624)  # last non-huge size: an 8-page zspage of 9 objects
    assert pool.pages_allocated == 10
    assert pool.read(h2) == page[:3625] and pool.read(h3) == page[:3624]
    pool._check_invariants()


def test_zspage_freed_when_last_object_goes(Pool: PoolType) -> None:
    pool = Pool("z")
    a, b = pool.malloc(100), pool.malloc(100)  # class 112: 7 pages, 256 objects
    assert pool.pages_allocated == 7
    pool.free(a)
    assert pool.pages_allocated == 7
    pool.free(b)
    assert pool.pages_allocated == 0


def test_class_stats_totals(Pool: PoolType) -> None:
    pool = Pool("stats")
    rnd = random.Random(5)
    handles = [pool.malloc(rnd.randint(1, 4096)) for _ in range(300)]
    for h in handles[::3]:
        pool.free(h)
    rows = pool.class_stats()
    assert len(rows) == 119
    assert [r["index"] for r in rows] == [c.index for c in distinct_classes()]
    assert sum(r["pages_used"] for r in rows) == pool.pages_allocated
    assert sum(r["obj_used"] for r in rows) == pool.objects_in_use == 200
    assert sum(r["freeable"] for r in rows) == pool.compactable_pages()
    for r in rows:
        assert sum(r["fullness"]) == r["zspages"]
        assert r["fullness"][0] == 0
        assert r["obj_allocated"] == r["zspages"] * r["objs_per_zspage"]
        assert r["freeable"] == pool.can_compact(r["index"])


# --------------------------------------------------------------------------------------------
# Placement order (kernel find_get_zspage / obj_malloc / obj_free)
# --------------------------------------------------------------------------------------------


def test_slots_fill_in_order_and_are_reused_lifo(Pool: PoolType) -> None:
    pool = Pool("slots")
    hs = [pool.malloc(40) for _ in range(6)]  # class 48: 256 objects per zspage
    assert [pool._locate(h)[2] for h in hs] == [0, 1, 2, 3, 4, 5]
    pool.free(hs[1])
    pool.free(hs[4])
    assert pool._locate(pool.malloc(40))[2] == 4  # most recently freed slot first
    assert pool._locate(pool.malloc(40))[2] == 1
    assert pool._locate(pool.malloc(40))[2] == 6


def test_objects_span_page_boundaries(Pool: PoolType) -> None:
    pool = Pool("span")
    hs = [pool.malloc_write(payload(i, 40), 40) for i in range(90)]  # 48-byte chunks
    # Slot 85 covers bytes 4080..4127 of its zspage: it straddles the first page boundary.
    assert pool._locate(hs[85])[2] == 85
    assert all(pool.read(h) == payload(i, 40) for i, h in enumerate(hs))


def test_allocation_prefers_the_fullest_zspage(Pool: PoolType) -> None:
    pool = Pool("fullest")
    size = 1016  # 1016 + 8 = 1024: class 62, 1 page, 4 objects
    hs = [pool.malloc(size) for _ in range(8)]
    a, b = pool._locate(hs[0])[1], pool._locate(hs[4])[1]
    pool.free(hs[0])  # A: 3/4 = 75% -> group 8
    pool.free(hs[4])
    pool.free(hs[5])  # B: 2/4 = 50% -> group 6
    assert pool._fullness_lists(62)[8] == [a] and pool._fullness_lists(62)[6] == [b]
    assert pool._locate(pool.malloc(size))[1] == a  # fullest first
    assert pool._locate(pool.malloc(size))[1] == b  # A is full now
    assert pool.pages_allocated == 2
    pool._check_invariants()


def test_allocation_takes_most_recently_inserted_within_a_group(Pool: PoolType) -> None:
    pool = Pool("lifo")
    size = 1016
    hs = [pool.malloc(size) for _ in range(12)]  # zspages A, B, C, all full
    a, b, c = (pool._locate(hs[i])[1] for i in (0, 4, 8))
    pool.free(hs[0])  # A -> 75%
    pool.free(hs[4])  # B -> 75%, inserted at the head
    pool.free(hs[8])  # C -> 75%, inserted at the head
    assert pool._fullness_lists(62)[8] == [c, b, a]
    assert [pool._locate(pool.malloc(size))[1] for _ in range(3)] == [c, b, a]


def test_fresh_zspage_only_when_no_free_slot(Pool: PoolType) -> None:
    pool = Pool("fresh")
    hs = [pool.malloc(1016) for _ in range(4)]
    pool.free(hs[2])
    pool.malloc(1016)
    assert pool.pages_allocated == 1  # the hole was reused
    pool.malloc(1016)
    assert pool.pages_allocated == 2


# --------------------------------------------------------------------------------------------
# Compaction
# --------------------------------------------------------------------------------------------


def test_compaction_worked_example(Pool: PoolType) -> None:
    pool = Pool("compact")
    size = 1016  # class 62: 1 page, 4 objects
    data = {}
    for i in range(16):  # zspages A, B, C, D, all full
        data[pool.malloc_write(payload(i, size), size)] = payload(i, size)
    hs = list(data)
    a, b = pool._locate(hs[0])[1], pool._locate(hs[4])[1]
    for h in hs[1:4] + hs[5:8]:  # A and B keep one object each (25% -> group 3)
        pool.free(h)
        del data[h]
    assert pool._fullness_lists(62)[3] == [b, a]
    assert pool.can_compact(62) == pool.can_compact(61) == 1  # (16 - 10) // 4 * 1
    assert pool.compactable_pages() == 1
    # dst = head of the fullest list (B), src = next head from the least-full end (A).
    assert pool.compact() == 1
    assert pool.pages_allocated == 3
    assert pool.pages_compacted == 1
    assert pool._locate(hs[0])[1] == b
    assert pool._locate(hs[0])[2] == 3  # B's most recently freed slot
    assert pool.compactable_pages() == 0
    assert all(pool.read(h) == v for h, v in data.items())
    assert pool.compact() == 0
    pool._check_invariants()


def test_compaction_moves_least_full_into_fullest(Pool: PoolType) -> None:
    pool = Pool("order")
    size = 1016  # class 62: 1 page, 4 objects
    hs = [pool.malloc_write(payload(i, size), size) for i in range(16)]  # A, B, C, D full
    zs = [pool._locate(hs[i])[1] for i in (0, 4, 8, 12)]
    for h in hs[1:4] + hs[6:8] + hs[11:12]:
        pool.free(h)  # A: 1 object (group 3), B: 2 (group 6), C: 3 (group 8), D full
    assert pool.compactable_pages() == 1  # (16 - 10) // 4
    assert pool.compact() == 1
    # A's object went into C (the fullest); B was left alone; A was freed.
    assert pool._locate(hs[0])[1] == zs[2]
    assert pool._locate(hs[4])[1] == zs[1] and pool._locate(hs[5])[1] == zs[1]
    assert pool._fullness_lists(62)[6] == [zs[1]]
    assert pool.pages_allocated == 3
    kept = [0, 4, 5, 8, 9, 10, 12, 13, 14, 15]
    assert all(pool.read(hs[i]) == payload(i, size) for i in kept)
    pool._check_invariants()


def test_compaction_migrates_lowest_slot_first(Pool: PoolType) -> None:
    pool = Pool("slots")
    size = 1016
    hs = [pool.malloc_write(payload(i, size), size) for i in range(12)]  # A, B, C full
    a, b, c = (pool._locate(hs[i])[1] for i in (0, 4, 8))
    for i in (0, 3, 4, 8):  # A keeps slots 1 and 2 (50%); B and C one hole each (75%)
        pool.free(hs[i])
    assert pool._fullness_lists(62)[8] == [c, b]
    assert pool.compact() == 1
    # First destination C (head of the 75% list) receives A's lowest slot, then B the other.
    assert pool._locate(hs[1])[1:] == (c, 0)
    assert pool._locate(hs[2])[1:] == (b, 0)
    assert pool.pages_allocated == 2
    assert all(pool.read(hs[i]) == payload(i, size) for i in (1, 2, 5, 6, 7, 9, 10, 11))
    assert a not in {pool._locate(hs[i])[1] for i in (1, 2, 5, 6, 7, 9, 10, 11)}


def test_compaction_packs_to_the_minimum(Pool: PoolType) -> None:
    pool = Pool("pack")
    rnd = random.Random(3)
    data = {}
    for i in range(3000):
        size = rnd.choice([20, 100, 700, 1500, 3000])
        data[pool.malloc_write(payload(i, size), size)] = payload(i, size)
    for h in rnd.sample(list(data), 2200):
        pool.free(h)
        del data[h]
    before = pool.pages_allocated
    freed = pool.compact()
    assert freed > 0 and pool.pages_allocated == before - freed
    assert pool.pages_compacted == freed
    assert pool.compactable_pages() == 0
    assert pool.pages_allocated == minimal_pages([len(v) for v in data.values()])
    assert all(pool.read(h) == v for h, v in data.items())
    pool._check_invariants()


def minimal_pages(sizes: list[int], chain: int = DEFAULT_CHAIN_SIZE) -> int:
    """Pages of perfectly packed classes: what a pool with zs_can_compact() == 0 holds."""
    per_class: dict[SizeClassInfo, int] = {}
    for size in sizes:
        info = alloc_class(size, chain)
        per_class[info] = per_class.get(info, 0) + 1
    return sum(-(-n // c.objs_per_zspage) * c.pages_per_zspage for c, n in per_class.items())


def test_compaction_in_progress_returns_zero(Pool: PoolType) -> None:
    pool = Pool("busy")
    hs = [pool.malloc(1016) for _ in range(8)]  # two full 1-page zspages of 4 objects
    for h in hs[1:4] + hs[5:8]:
        pool.free(h)
    assert pool.compactable_pages() == 1  # (8 allocated - 2 used) // 4 * 1 page
    with pool._compact_lock:  # as if another thread were compacting
        assert pool.compact() == 0
    assert pool.pages_allocated == 2
    assert pool.compact() == 1
    assert pool.pages_allocated == 1


# --------------------------------------------------------------------------------------------
# Data access and errors
# --------------------------------------------------------------------------------------------


def test_write_read_variants(Pool: PoolType) -> None:
    pool = Pool("rw")
    page = bytearray(payload(7, 4096))
    h = pool.malloc_write(page, 1500)  # longer buffer: first 1500 bytes
    assert pool.read(h) == bytes(page[:1500])
    assert pool.read(h, 10) == bytes(page[:10])
    assert pool.read(h, 0) == b""
    assert pool.obj_size(h) == 1500
    h2 = pool.malloc_write(memoryview(page)[100:], 64)
    assert pool.read(h2) == bytes(page[100:164])
    words = array.array("I", range(100))
    h3 = pool.malloc_write(memoryview(words), 400)  # non-byte format: taken as its bytes
    assert pool.read(h3) == words.tobytes()
    h4 = pool.malloc_write(memoryview(bytes(range(200)))[::2], 100)  # strided
    assert pool.read(h4) == bytes(range(0, 200, 2))
    pool.write(h, b"hello")
    assert pool.read(h, 7) == b"hello" + bytes(page[5:7])
    pool.write(h, bytearray(b"abcdef"), 3)
    assert pool.read(h, 6) == b"abclo" + bytes(page[5:6])
    out = bytearray(2000)
    pool.read_into(h, 1500, out)
    assert out[:6] == b"abclo" + page[5:6] and out[1500:] == bytes(500)
    h5 = pool.malloc(300)
    pool.write(h5, memoryview(page)[:300])
    assert pool.read(h5) == bytes(page[:300])
    pool._check_invariants()


@pytest.mark.parametrize(
    ("size", "exc"),
    [(0, InvalidParameter), (-1, InvalidParameter), (4097, CompressPoor),
     (10**9, CompressPoor), (1.5, InvalidParameter), ("100", InvalidParameter),
     (None, InvalidParameter)],
)  # fmt: skip
def test_malloc_bad_size_changes_nothing(Pool: PoolType, size: Any, exc: type[Exception]) -> None:
    pool = Pool("bad")
    keep = pool.malloc_write(b"x" * 50, 50)
    before = snapshot(pool)
    with pytest.raises(exc):
        pool.malloc(size)
    with pytest.raises(exc):
        pool.malloc_write(b"y" * 5000, size)
    assert snapshot(pool) == before
    assert pool.read(keep) == b"x" * 50
    pool._check_invariants()


def test_error_classes_carry_errno(Pool: PoolType) -> None:
    pool = Pool("errno")
    with pytest.raises(CompressPoor) as poor:
        pool.malloc(4097)
    assert poor.value.errno == errno.ENOSPC
    with pytest.raises(InvalidParameter) as inval:
        pool.malloc(0)
    assert inval.value.errno == errno.EINVAL
    assert isinstance(inval.value, ZswapError)


@pytest.mark.parametrize(
    ("data", "length"),
    [(b"abc", 10), ("abc", 3), (12345, 4), (memoryview(bytearray(40)).cast("B", (4, 10))[::2], 8)],
)
def test_malloc_write_bad_data_changes_nothing(Pool: PoolType, data: Any, length: int) -> None:
    pool = Pool("baddata")
    before = snapshot(pool)
    with pytest.raises(InvalidParameter):
        pool.malloc_write(data, length)
    assert snapshot(pool) == before
    assert pool.pages_allocated == 0  # the zspage it would have used was not kept
    pool._check_invariants()


def test_bad_handles(Pool: PoolType) -> None:
    pool = Pool("handles")
    h = pool.malloc_write(b"a" * 30, 30)
    other = pool.malloc_write(b"b" * 30, 30)
    pool.free(h)
    before = snapshot(pool)
    bads: tuple[Any, ...] = (h, 0, -1, -2, other + 1000, "x", None, 1.5)
    for bad in bads:
        for op in (pool.free, pool.read, pool.obj_size, pool._locate):
            with pytest.raises(InvalidParameter, match="not a live handle"):
                op(bad)
        with pytest.raises(InvalidParameter):
            pool.write(bad, b"zz")
        with pytest.raises(InvalidParameter):
            pool.read_into(bad, 1, bytearray(4))
    assert snapshot(pool) == before
    assert pool.read(other) == b"b" * 30
    pool._check_invariants()


def test_length_errors(Pool: PoolType) -> None:
    pool = Pool("len")
    h = pool.malloc_write(b"q" * 100, 100)
    with pytest.raises(InvalidParameter):
        pool.read(h, 101)
    with pytest.raises(InvalidParameter):
        pool.read(h, -1)
    with pytest.raises(InvalidParameter):
        pool.write(h, b"z" * 101)
    with pytest.raises(InvalidParameter):
        pool.write(h, b"z" * 10, 11)
    with pytest.raises(InvalidParameter):
        pool.read_into(h, 101, bytearray(200))
    with pytest.raises(InvalidParameter):
        pool.read_into(h, 50, bytearray(10))
    with pytest.raises(InvalidParameter):
        pool.read_into(h, 5, b"readonly")  # type: ignore[arg-type]
    assert pool.read(h) == b"q" * 100


def test_alloc_fail_at_max_pages(Pool: PoolType) -> None:
    pool = Pool("limited", max_pages=4)
    h = pool.malloc(4096)
    pool.malloc(1016)  # class 62: 1 page
    pool.malloc(2040)  # class 126: 1 page
    pool.malloc(4000)  # huge: 1 page
    before = snapshot(pool)
    with pytest.raises(AllocFail) as exc:
        pool.malloc(100)  # class 112 would need a 7-page zspage
    assert exc.value.errno == errno.ENOMEM
    with pytest.raises(AllocFail):
        pool.malloc_write(b"a" * 100, 100)
    assert snapshot(pool) == before
    pool.malloc(1016)  # room in an existing zspage: fine
    pool.free(h)
    pool.malloc(4096)
    with pytest.raises(InvalidParameter):
        Pool("x", max_pages=-1)


def test_destroy(Pool: PoolType) -> None:
    pool = Pool("gone")
    h = pool.malloc_write(b"d" * 64, 64)
    pool.destroy()
    assert pool.destroyed and pool.pages_allocated == 0 and pool.objects_in_use == 0
    for call in (
        lambda: pool.malloc(10),
        lambda: pool.malloc_write(b"x", 1),
        lambda: pool.read(h),
        lambda: pool.write(h, b"x"),
        lambda: pool.free(h),
        lambda: pool.obj_size(h),
        pool.compact,
    ):
        with pytest.raises(InvalidParameter, match="destroyed"):
            call()
    pool.destroy()  # idempotent
    assert "destroyed" in repr(pool)


def test_spare_zspages_are_bounded_and_reused(Pool: PoolType) -> None:
    pool = Pool("spare")
    info = alloc_class(3000)
    hs = [pool.malloc_write(payload(i, 3000), 3000) for i in range(2000)]
    for h in hs:
        pool.free(h)
    assert pool.pages_allocated == 0
    pool._check_invariants()  # includes: spare memory <= ZSPAGE_CACHE_PAGES
    assert info.pages_per_zspage <= ZSPAGE_CACHE_PAGES
    h = pool.malloc_write(payload(9, 3000), 3000)
    assert pool._locate(h)[2] == 0  # a recycled zspage is re-initialised: slot 0 first
    assert pool.read(h) == payload(9, 3000)
    assert pool.pages_allocated == info.pages_per_zspage


# --------------------------------------------------------------------------------------------
# Random operation sequences
# --------------------------------------------------------------------------------------------

# Sizes concentrated on a few classes so that zspages fill, empty and fragment.
SIZES = st.one_of(
    st.integers(1, 4096),
    st.sampled_from([1, 24, 40, 100, 1016, 1500, 2040, 3624, 3625, 4096]),
)


class ZsPoolMachine(RuleBasedStateMachine):
    handles = Bundle("handles")
    pool_cls: PoolType = ZsPool

    def __init__(self) -> None:
        super().__init__()
        self.pool: AnyPool = self.pool_cls("hyp")
        self.data: dict[int, bytes] = {}

    @initialize(chain=st.integers(4, 16))
    def make_pool(self, chain: int) -> None:
        self.pool = self.pool_cls("hyp", chain)

    @rule(target=handles, size=SIZES, seed=st.integers(0, 2**16))
    def malloc_write(self, size: int, seed: int) -> int:
        blob = payload(seed, size)
        h = self.pool.malloc_write(blob + b"tail", size)
        assert h not in self.data
        self.data[h] = blob
        return h

    @rule(size=SIZES, count=st.integers(1, 60), seed=st.integers(0, 2**16))
    def malloc_many(self, size: int, count: int, seed: int) -> None:
        for i in range(count):
            blob = payload(seed + i, size)
            self.data[self.pool.malloc_write(blob, size)] = blob

    @rule(h=consumes(handles))
    def free(self, h: int) -> None:
        if h in self.data:  # may already be gone through free_many
            self.pool.free(h)
            del self.data[h]
        with pytest.raises(InvalidParameter):
            self.pool.free(h)

    @rule(fraction=st.floats(0.1, 0.9), seed=st.integers(0, 2**16))
    def free_many(self, fraction: float, seed: int) -> None:
        live = sorted(self.data)
        for h in random.Random(seed).sample(live, int(len(live) * fraction)):
            self.pool.free(h)
            del self.data[h]

    @rule(h=handles, seed=st.integers(0, 2**16), cut=st.floats(0, 1))
    def write(self, h: int, seed: int, cut: float) -> None:
        if h not in self.data:
            return
        n = int(len(self.data[h]) * cut)
        head = payload(seed, n)
        self.pool.write(h, head)
        self.data[h] = head + self.data[h][n:]

    @rule()
    def compact(self) -> None:
        before = self.pool.pages_allocated
        freed = self.pool.compact()
        assert freed >= 0 and self.pool.pages_allocated == before - freed
        assert self.pool.compactable_pages() == 0
        assert self.pool.pages_allocated == minimal_pages(
            [len(v) for v in self.data.values()], self.pool.chain_size
        )

    @invariant()
    def consistent(self) -> None:
        self.pool._check_invariants()
        assert self.pool.objects_in_use == len(self.data)
        assert self.pool.pages_allocated >= minimal_pages(
            [len(v) for v in self.data.values()], self.pool.chain_size
        )
        for h, blob in self.data.items():
            assert self.pool.read(h) == blob
            assert self.pool.obj_size(h) == len(blob)

    def teardown(self) -> None:
        for h in list(self.data):
            self.pool.free(h)
        assert self.pool.pages_allocated == 0
        assert self.pool.objects_in_use == 0
        self.pool._check_invariants()


class PyZsPoolMachine(ZsPoolMachine):
    pool_cls = PyZsPool


MACHINE_SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ZsPoolMachine.TestCase.settings = MACHINE_SETTINGS
PyZsPoolMachine.TestCase.settings = MACHINE_SETTINGS
TestZsPoolMachine = ZsPoolMachine.TestCase
TestPyZsPoolMachine = PyZsPoolMachine.TestCase


# --------------------------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------------------------


def test_concurrent_use_with_compaction(Pool: PoolType) -> None:
    pool = Pool("threads")
    # A fragmented class the workers never allocate in (objects of 100 bytes: class 112,
    # 256 per zspage), so that the first compaction pass is sure to move objects while
    # readers are reading them.
    static = {}
    for i in range(2048):
        static[pool.malloc_write(payload(i, 100), 100)] = payload(i, 100)
    for h in list(static)[::2]:
        pool.free(h)
        del static[h]
    assert pool.compactable_pages() == 28  # (2048 - 1024) // 256 * 7

    workers, readers = 3, 2
    barrier = threading.Barrier(workers + readers + 1)
    workers_done = threading.Event()
    errors: list[BaseException] = []
    compactions = [0]

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        mine: dict[int, bytes] = {}
        try:
            barrier.wait()
            for step in range(400):
                if mine and rnd.random() < 0.45:
                    h = rnd.choice(list(mine))
                    assert pool.read(h) == mine.pop(h)
                    pool.free(h)
                else:
                    size = rnd.randint(200, 4096)
                    blob = payload(seed * 1000 + step, size)
                    mine[pool.malloc_write(blob, size)] = blob
                if step % 50 == 0:
                    for h, blob in mine.items():
                        assert pool.read(h) == blob
            for h, blob in mine.items():
                assert pool.read(h) == blob
                pool.free(h)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def reader() -> None:
        try:
            barrier.wait()
            while not workers_done.is_set():
                for h, blob in static.items():
                    assert pool.read(h) == blob
        except BaseException as exc:
            errors.append(exc)

    def compactor() -> None:
        try:
            barrier.wait()
            while not workers_done.is_set():
                pool.compact()
                compactions[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(workers)]
    others = [threading.Thread(target=reader) for _ in range(readers)]
    comp = threading.Thread(target=compactor)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)  # interleave threads more finely than the default 5 ms
    try:
        for t in [*threads, *others]:
            t.start()
        # The compactor's start is the last barrier party: all threads begin together.
        comp.start()
        for t in threads:
            t.join()
        workers_done.set()
        for t in [*others, comp]:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    assert compactions[0] >= 1
    assert pool.pages_compacted >= 28
    pool._check_invariants()
    assert pool.objects_in_use == len(static)
    assert all(pool.read(h) == blob for h, blob in static.items())
    for h in static:
        pool.free(h)
    assert pool.pages_allocated == 0
