"""The C fast paths of ``Zswap.store`` / ``Zswap.load`` (src/pyzswap/csrc/fastpath.c).

The Python flow is the reference. The fast path declines every context design but "pool",
so a ``lifetime="naive"`` instance (identical to "pool" while no CPU goes offline) runs the
same operations entirely in Python; the two must agree on every result, counter, entry and
byte. Every other design must agree with the fast path the same way (the shared designs
differ in where the buffers live, not in what is stored).
"""

from __future__ import annotations

import threading

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.errors import DecompressFail, InvalidParameter, ZswapError
from pyzswap.zsmalloc import ZsPool

from .conftest import random_page, text_page


def _pair(slow_lifetime: str = "naive", **kw: object) -> tuple[Zswap, Zswap]:
    kw.setdefault("totalram_pages", None)
    kw.setdefault("shrink_work", "inline")  # writeback at the limit runs at once, not later
    fast = Zswap(lifetime="pool", cpus=2, **kw)  # type: ignore[arg-type]
    slow = Zswap(lifetime=slow_lifetime, cpus=2, **kw)  # type: ignore[arg-type]
    for z in (fast, slow):
        z.swapon(0, 64)
    return fast, slow


def _page(kind: int, seed: int) -> bytes | memoryview:
    if kind == 0:
        return text_page(seed)
    if kind == 3:  # a page of a larger buffer, as tools hand them over
        return memoryview(bytearray(b"x" * 5 + text_page(seed) + b"y"))[5:5 + PAGE_SIZE]
    if kind == 1:
        return random_page(seed)  # incompressible: stored as-is
    return bytes(PAGE_SIZE - 8) + seed.to_bytes(8, "little")


def _state(z: Zswap) -> tuple[object, ...]:
    return (z.stats(), z.vmstat(), z.entries(0), z.lru.items(0), z.total_pages(),
            z.compressed_bytes(), [(p.tfm_name, p.ref) for p in z.pools()])


def _load_or_invalidate(z: Zswap, op: tuple[object, ...]) -> object:
    """The ``load`` and ``invalidate`` ops the differential tests share: their result."""
    off = int(op[1])  # type: ignore[call-overload]
    if op[0] == "load":
        out = bytearray(PAGE_SIZE)
        return z.load(out, 0, off), bytes(out)
    return z.invalidate(0, off)


def _slot_or_param_op(z: Zswap, op: tuple[object, ...]) -> object:
    """``load`` / ``invalidate`` (their result), or a parameter write (None)."""
    if op[0] in ("load", "invalidate"):
        return _load_or_invalidate(z, op)
    z.set_param(str(op[0]), op[1])
    return None


_op = st.one_of(
    st.tuples(st.just("store"), st.integers(0, 63), st.integers(0, 3), st.integers(0, 9)),
    # a large folio: offset, pages (a 2 MiB folio is 512; 2..20 keeps the test quick), kinds
    st.tuples(st.just("folio"), st.integers(0, 60), st.integers(2, 20), st.integers(0, 3)),
    st.tuples(st.just("load"), st.integers(0, 63)),
    st.tuples(st.just("invalidate"), st.integers(0, 63)),
    st.tuples(st.just("compressor"), st.sampled_from(["lz4", "zstd", "lzo", "lz4-x2"])),
    st.tuples(st.just("enabled"), st.booleans()),
    st.tuples(st.just("max_pool_percent"), st.integers(1, 100)),
)


def _without_handles(state: tuple[object, ...]) -> tuple[object, ...]:
    """``_state`` with each entry's zsmalloc handle left out.

    For the designs that clamp a batching compressor to batch size 1 (``global-one``,
    ``percpu-shared``), the Python flow compresses a large folio as a software compressor's
    (every page, then one publish), while the fast path's native stream publishes per batch of
    ZSWAP_MAX_BATCH_SIZE: an older entry displaced by the folio is freed at a different moment,
    so a later page may reuse its handle on one side and not the other. The handle's value is
    not observable in the kernel; everything else (lengths, pools, LRU order, counters, zsmalloc
    pages) must still agree.
    """
    def strip(entry: object) -> object:
        return entry._replace(handle=0) if hasattr(entry, "_replace") else entry

    stats, vmstat, entries, lru, *rest = state
    return (stats, vmstat, [strip(e) for e in entries],  # type: ignore[attr-defined]
            [(k, strip(e), ref) for k, e, ref in lru], *rest)  # type: ignore[attr-defined]


def _agree(ops: list[tuple[object, ...]], limited: bool, slow_lifetime: str) -> None:
    # limited: a 64-page "RAM" so the global limit and its hysteresis come into play
    fast, slow = _pair(slow_lifetime, compressor="lz4", totalram_pages=64 if limited else None)
    try:
        for op in ops:
            results = []
            for z in (fast, slow):
                if op[0] == "store":
                    _, off, kind, seed = op
                    results.append(z.store(_page(int(kind), int(seed)), 0, int(off)))  # type: ignore[call-overload]
                elif op[0] == "folio":
                    _, off, nr, kind = op
                    nr = min(int(nr), 64 - int(off))  # type: ignore[call-overload]
                    pages = [bytes(_page((int(kind) + i) % 3, int(off) + i))  # type: ignore[call-overload]
                             for i in range(nr)]
                    results.append(z.store(b"".join(pages), 0, int(off)))  # type: ignore[call-overload]
                else:
                    results.append(_slot_or_param_op(z, op))
            assert results[0] == results[1], op
            if slow_lifetime in ("global-one", "percpu-shared"):
                assert _without_handles(_state(fast)) == _without_handles(_state(slow)), op
            else:
                assert _state(fast) == _state(slow), op
        assert slow._c.fast_stores == slow._c.fast_loads == 0
    finally:
        fast.close()
        slow.close()


@settings(max_examples=120, deadline=None)
@given(st.lists(_op, max_size=50), st.booleans())
def test_fast_path_agrees_with_the_python_flow(ops: list[tuple[object, ...]],
                                               limited: bool) -> None:
    _agree(ops, limited, "naive")


@pytest.mark.parametrize("lifetime", ["lock-retry", "global-max", "global-one",
                                      "percpu-shared"])
@settings(max_examples=20, deadline=None)
@given(ops=st.lists(_op, max_size=40), limited=st.booleans())
# a folio displacing an older entry of one of its slots, longer than one batch
@example(ops=[("compressor", "lz4-x2"), ("store", 0, 0, 0), ("folio", 0, 9, 0)], limited=False)
def test_every_design_agrees_with_the_fast_path(lifetime: str, ops: list[tuple[object, ...]],
                                                limited: bool) -> None:
    _agree(ops, limited, lifetime)


def test_the_common_4k_store_and_load_take_the_fast_path() -> None:
    fast, _ = _pair(compressor="lz4")
    pages = [text_page(i) for i in range(10)] + [random_page(1)]
    for off, page in enumerate(pages):
        assert fast.store(page if off % 2 else memoryview(page), 0, off)
    assert fast._c.fast_stores == 10  # the first store placed the thread on a CPU (Python)
    out = bytearray(PAGE_SIZE)
    for off, page in enumerate(pages):
        assert fast.load(out, 0, off) and bytes(out) == page
    assert fast._c.fast_loads == 11
    assert fast.stats()["stored_pages"] == 0 and fast.total_pages() == 0


def test_fault_injecting_zsmalloc_is_honoured() -> None:
    # a zsmalloc subclass (as faults.FaultyZsPool) must see every call: the fast path declines
    from pyzswap.faults import FaultyZsPool, install_zs_pool

    fast, _ = _pair(compressor="lz4")
    faulty = install_zs_pool(fast)
    assert isinstance(faulty, FaultyZsPool)
    faulty.alloc_fail.fail_next()
    assert not fast.store(text_page(1), 0, 1)
    assert fast.stats()["reject_alloc_fail"] == 1 and fast._c.fast_stores == 0


def test_allocation_failure_in_the_fast_path_undoes_the_store() -> None:
    fast, slow = _pair(compressor="lz4")
    for z in (fast, slow):
        z.store(text_page(0), 0, 0)  # place the thread on a CPU
        z.invalidate(0, 0)
        pool = z.current_pool()
        old = pool.zs_pool  # empty again
        pool.zs_pool = ZsPool("tiny", max_pages=0)  # a plain ZsPool that is full at once
        assert not z.store(random_page(3), 0, 5)
        assert z.lookup(0, 5) is None
        assert z.stats()["reject_alloc_fail"] == 1 and pool.ref == 1
        pool.zs_pool = old
    assert fast._c.fast_stores == 0 and _state(fast) == _state(slow)


def test_a_large_folio_that_does_not_fit_is_undone_whole() -> None:
    """zsmalloc fills up part-way through a 16-page folio: every object of the folio is freed,
    its slots stay empty (an older entry there goes), the references come back, as in the
    Python flow."""
    fast, slow = _pair(compressor="lz4")
    folio = b"".join(random_page(i) for i in range(16))  # incompressible: one zspage page each
    for z in (fast, slow):
        z.store(text_page(0), 0, 0)  # place the thread on a CPU
        z.invalidate(0, 0)
        assert z.store(text_page(9), 0, 20)  # an older entry inside the folio's slots
        pool = z.current_pool()
        old = pool.zs_pool
        z.invalidate(0, 20)
        pool.zs_pool = ZsPool("tiny", max_pages=5)  # a plain ZsPool: room for 5 pages
        assert z.store(text_page(9), 0, 20)
        assert not z.store(folio, 0, 16)
        assert [z.lookup(0, i) for i in range(16, 32)] == [None] * 16
        assert z.stats()["reject_alloc_fail"] == 1 and pool.ref == 1
        assert pool.zs_pool.pages_allocated == 0
        assert z.store(folio[:4 * PAGE_SIZE], 0, 40)  # four pages fit
        old.destroy()  # empty: the tiny pool keeps this pool's objects from here on
    assert _state(fast) == _state(slow)
    assert fast._c.fast_stores == 6 and slow._c.fast_stores == 0  # the folios went through C


def test_corrupt_object_raises_and_keeps_the_entry_in_the_fast_path() -> None:
    fast, _ = _pair(compressor="lz4")
    assert fast.store(text_page(9), 0, 9)
    entry = fast.lookup(0, 9)
    assert entry is not None
    fast.entry_pool(entry).zs_pool.write(entry.handle, b"\xff" * entry.length)
    with pytest.raises(DecompressFail, match="0:9 with lz4"):
        fast.load(bytearray(PAGE_SIZE), 0, 9)
    assert fast.stats()["decompress_fail"] == 1 and fast.lookup(0, 9) == entry
    assert fast._c.fast_loads == 0


def test_bad_arguments_get_the_python_flows_errors() -> None:
    fast, _ = _pair(compressor="lz4")
    with pytest.raises(Exception, match="outside type 0"):
        fast.store(text_page(1), 0, 64)
    with pytest.raises(Exception, match="not on"):
        fast.store(text_page(1), 3, 0)
    with pytest.raises(Exception, match="4096"):
        fast.load(bytearray(100), 0, 0)
    assert fast.store(text_page(1), 0, 1)  # places the thread: the next store is offered to C
    with pytest.raises(InvalidParameter, match="memcg must be a MemCgroup or None, not str"):
        fast.store(text_page(2), 0, 2, "web")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="not int"):
        fast.store_batch([(text_page(2), 0, 2)], 5)  # type: ignore[arg-type]
    assert fast._c.fast_stores == 0 and fast.stats()["stored_pages"] == 1
    assert [p.ref for p in fast.pools()] == [2]  # no pool reference left behind


def test_threads_storing_and_loading_lose_nothing() -> None:
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=2)
    z.swapon(0, 4 * 500)
    errors: list[BaseException] = []

    def worker(base: int) -> None:
        try:
            out = bytearray(PAGE_SIZE)
            for rnd in range(2):
                for i in range(500):
                    assert z.store(text_page(base + i + rnd), 0, base + i)
                for i in range(500):
                    assert z.load(out, 0, base + i) and bytes(out) == text_page(base + i + rnd)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 500,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert z.stats()["stored_pages"] == 0 and z.total_pages() == 0 and len(z.lru) == 0
    # each thread's first store placed it on a CPU (the Python flow)
    assert z._c.fast_stores == 4 * 2 * 500 - 4 and z._c.fast_loads == 4 * 2 * 500


_stream_op = st.one_of(
    st.tuples(st.just("folio"), st.integers(0, 48), st.integers(2, 16), st.integers(0, 3),
              st.booleans()),
    # a batch names each slot once (the same slot twice is refused: InvalidParameter)
    st.tuples(st.just("batch"), st.lists(st.tuples(st.integers(0, 63), st.integers(0, 3)),
                                         min_size=1, max_size=12, unique_by=lambda s: s[0]),
              st.booleans()),
    st.tuples(st.just("invalidate"), st.integers(0, 63)),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_stream_op, max_size=12), st.sampled_from(["lz4-x2", "zstd-x2-b4"]))
def test_stream_consumer_in_c_agrees_with_the_python_loop(ops: list[tuple[object, ...]],
                                                          compressor: str) -> None:
    """Large folios and reclaim batches on native engines: ``stream_consume`` (C) against
    ``_stream_pages`` (Python), with and without a memcg, store by store."""
    from pyzswap.memcg import MemCgroup

    zs = []
    for c_stream in (True, False):
        root = MemCgroup()
        z = Zswap(compressor=compressor, totalram_pages=None, cpus=2, memcg_root=root,
                  shrink_work="inline")
        z._c_stream = c_stream
        z.swapon(0, 64)
        zs.append((z, root.create("job")))
    try:
        for op in ops:
            results = []
            for z, memcg in zs:
                if op[0] == "folio":
                    _, off, nr, kind, charged = op
                    nr = min(int(nr), 64 - int(off))  # type: ignore[call-overload]
                    folio = b"".join(bytes(_page(int(kind), int(off) + i))  # type: ignore[call-overload]
                                     for i in range(nr))
                    results.append(z.store(folio, 0, int(off),  # type: ignore[call-overload]
                                           memcg if charged else None))
                elif op[0] == "batch":
                    _, slots, charged = op
                    folios = [(bytes(_page(int(kind), int(off))), 0, int(off))  # type: ignore[call-overload]
                              for off, kind in slots]  # type: ignore[union-attr]
                    results.append(z.store_batch(folios, memcg if charged else None))
                else:
                    results.append(_load_or_invalidate(z, op))
            assert results[0] == results[1], op
            (a, ma), (b, mb) = zs
            assert _state(a) == _state(b), op
            assert (ma.zswap_current, ma.zswapped) == (mb.zswap_current, mb.zswapped), op
            assert a.lru.items(ma.id) == b.lru.items(mb.id), op
        for z, _ in zs:  # and every byte comes back
            for e in z.entries(0):
                out = bytearray(PAGE_SIZE)
                assert z.load(out, 0, e.offset, swapcache=False)
        (a, _), (b, _) = zs
        for e in a.entries(0):
            oa, ob = bytearray(PAGE_SIZE), bytearray(PAGE_SIZE)
            a.load(oa, 0, e.offset, swapcache=False)
            b.load(ob, 0, e.offset, swapcache=False)
            assert oa == ob
    finally:
        for z, _ in zs:
            z.close()


_batch_op = st.one_of(
    # a reclaim batch: (offset, kind, shape) per folio; shape 0 bytes, 1 memoryview,
    # 2 a two-page folio, 3 a slot outside the swap area, 4 a bytearray, 5 a released view,
    # 6 a strided view
    st.tuples(st.just("batch"), st.lists(st.tuples(st.integers(0, 47), st.integers(0, 3),
                                                   st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5,
                                                                    6])),
                                         max_size=12)),
    st.tuples(st.just("load"), st.integers(0, 47)),
    st.tuples(st.just("invalidate"), st.integers(0, 47)),
    st.tuples(st.just("enabled"), st.booleans()),
    st.tuples(st.just("max_pool_percent"), st.integers(1, 100)),
)


def _folio(off: int, kind: int, shape: int) -> tuple[object, int, int]:
    page = bytes(_page(kind, off))
    if shape == 1:
        return memoryview(page), 0, off
    if shape == 2:
        return page + page, 0, off
    if shape == 3:
        return page, 0, 1000 + off
    if shape == 4:
        return bytearray(page), 0, off
    if shape == 5:
        view = memoryview(page)
        view.release()
        return view, 0, off
    if shape == 6:
        return memoryview(page + page)[::2], 0, off
    return page, 0, off


@settings(max_examples=100, deadline=None)
@given(st.lists(_batch_op, max_size=25), st.booleans())
# always: the pool fills, then drains to between the accept threshold and the limit, where
# the hysteresis still refuses a batch
@example([("max_pool_percent", 20), ("batch", [(o, 0, 0) for o in range(12)]),
          ("batch", [(o, 0, 1) for o in range(12, 30)]), ("batch", [(40, 0, 0)])]
         + [("invalidate", o) for o in range(8)] + [("batch", [(41, 0, 0), (42, 1, 1)])],
         True)
def test_reclaim_batch_admission_in_c_agrees_with_the_python_checks(
        ops: list[tuple[object, ...]], limited: bool) -> None:
    """``store_batch`` of 4 KiB folios without a memcg: ``admit_batch`` (C) admits the whole
    batch or declines; the per-folio ``_check_folio`` / ``_admit`` must give the same results,
    errors, counters (``pool_limit_hit``, the hysteresis) and entries."""
    sides = []
    for c_admit in (True, False):
        z = Zswap(compressor="lz4-x2", totalram_pages=64 if limited else None, cpus=2,
                  shrink_work="inline")
        z._c_admit_batch = c_admit
        z.swapon(0, 48)
        sides.append(z)
    try:
        for op in ops:
            results: list[object] = []
            for z in sides:
                if op[0] == "batch":
                    folios = [_folio(int(o), int(k), int(sh)) for o, k, sh in op[1]]  # type: ignore[union-attr]
                    try:
                        results.append(z.store_batch(folios))  # type: ignore[arg-type]
                    except Exception as exc:  # the same error from both, nothing stored
                        results.append((type(exc), str(exc)))
                else:
                    results.append(_slot_or_param_op(z, op))
            assert results[0] == results[1], op
            assert _state(sides[0]) == _state(sides[1]), op
            assert sides[0]._c.reached_full == sides[1]._c.reached_full, op
    finally:
        for z in sides:
            z.close()


def test_a_reclaim_batch_of_4k_pages_is_admitted_in_one_call() -> None:
    z = Zswap(compressor="lz4-x2", totalram_pages=None, cpus=1)
    z.swapon(0, 64)
    calls = []
    real = z._check_folio

    def spy(*a: object) -> object:
        calls.append(a)
        return real(*a)  # type: ignore[arg-type]

    z._check_folio = spy  # type: ignore[method-assign]
    pages = [text_page(i) for i in range(32)]
    assert z.store_batch([(p, 0, i) for i, p in enumerate(pages)]) == [True] * 32
    assert calls == []  # no per-folio Python check
    assert z.store_batch([(pages[0] * 2, 0, 40)]) == [True]  # a 2-page folio: per folio
    assert len(calls) == 1
    out = bytearray(PAGE_SIZE)
    for i, p in enumerate(pages):
        assert z.load(out, 0, i) and out == p
    z.close()


def test_close_unbinds_the_fast_paths_and_frees_the_instance() -> None:
    import gc
    import weakref

    z = Zswap(compressor="lz4", totalram_pages=1000, cpus=1)
    z.swapon(0, 8)
    assert z.store(text_page(1), 0, 1) and z.store(text_page(2), 0, 2)
    z.close()
    assert z.stats()["stored_pages"] == 2  # counters stay readable
    assert z._c.store_page(text_page(3), 0, 3) is NotImplemented
    assert z._c.load_page(bytearray(PAGE_SIZE), 0, 1) is NotImplemented
    assert not z._c.check_limits()
    ref = weakref.ref(z)
    del z
    gc.collect()
    assert ref() is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("store"), st.integers(0, 31), st.integers(0, 3), st.integers(0, 2)),
    st.tuples(st.just("load"), st.integers(0, 31)),
    st.tuples(st.just("invalidate"), st.integers(0, 31)),
    st.tuples(st.just("offline"), st.integers(1, 2)),
    st.tuples(st.just("zswap_max"), st.integers(1, 2), st.integers(0, 6)),
    st.tuples(st.just("writeback"), st.integers(0, 2), st.booleans()),
), max_size=40))
# the declines, always: a group at its zswap.max, and one whose writeback is off (an
# incompressible page is then rejected instead of stored as-is)
@example([("store", 0, 0, 1), ("zswap_max", 1, 0), ("store", 1, 0, 1), ("load", 0)])
@example([("store", 0, 0, 2), ("writeback", 2, False), ("store", 1, 1, 2), ("store", 2, 0, 2),
          ("writeback", 2, True), ("store", 3, 1, 2)])
def test_memcg_stores_and_loads_agree_with_the_python_flow(
        ops: list[tuple[object, ...]]) -> None:
    """Stores charged to memcgs and loads of their entries, fast path against the Python flow:
    charges, events, LRU lists, reparenting (a memcg removed while its entries are stored),
    a group at its ``memory.zswap.max`` (the fast store declines: the Python flow writes the
    group's entries back first) and ``memory.zswap.writeback`` 0 (declined too)."""
    from pyzswap.memcg import MemCgroup

    sides = []
    for lifetime in ("pool", "naive"):
        root = MemCgroup()
        groups = [root, root.create("a"), root.create("b")]
        z = Zswap(compressor="lz4", totalram_pages=None, cpus=2, lifetime=lifetime,
                  memcg_root=root, shrink_work="inline")
        z.swapon(0, 32)
        sides.append((z, groups))
    try:
        for op in ops:
            results = []
            for z, groups in sides:
                if op[0] == "store":
                    _, off, kind, g = op
                    memcg = groups[int(g)]  # type: ignore[call-overload]
                    results.append(z.store(_page(int(kind), int(off)), 0, int(off),  # type: ignore[call-overload]
                                           memcg if memcg.online else groups[0]))
                elif op[0] in ("load", "invalidate"):
                    results.append(_load_or_invalidate(z, op))
                elif op[0] == "zswap_max":
                    g = groups[int(op[1])]  # type: ignore[call-overload]
                    if g.online:
                        g.zswap_max = int(op[2]) * PAGE_SIZE  # type: ignore[call-overload]
                    results.append(None)
                elif op[0] == "writeback":
                    g = groups[int(op[1])]  # type: ignore[call-overload]
                    if g.online:
                        g.zswap_writeback = bool(op[2])
                    results.append(None)
                else:
                    g = groups[int(op[1])]  # type: ignore[call-overload]
                    if g.online:
                        g.remove()
                    results.append(None)
            assert results[0] == results[1], op
            (a, ga), (b, gb) = sides
            assert _state(a) == _state(b), op
            for x, y in zip(ga, gb, strict=True):
                assert (x.zswap_current, x.zswapped, x.events()) == \
                    (y.zswap_current, y.zswapped, y.events()), op
        assert sides[1][0]._c.fast_loads == sides[1][0]._c.fast_stores == 0
    finally:
        for z, _ in sides:
            z.close()


def test_a_memcg_charged_entry_is_stored_and_loaded_by_the_fast_path() -> None:
    from pyzswap.memcg import MemCgroup

    root = MemCgroup()
    job = root.create("job")
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=1, memcg_root=root)
    z.swapon(0, 8)
    assert z.store(text_page(0), 0, 0, job)  # the first store places the thread (Python)
    assert z.store(text_page(1), 0, 1, job)  # then the fast path, memcg and all
    assert z._c.fast_stores == 1
    assert job.zswapped == 2 and job.zswap_current > 0 and job.events()["zswpout"] == 2
    assert root.zswapped == 2 and z.lru.memcg_ids() == [job.id]
    assert z.invalidate(0, 0)
    out = bytearray(PAGE_SIZE)
    assert z.load(out, 0, 1) and bytes(out) == text_page(1)
    assert z._c.fast_loads == 1
    assert job.zswapped == 0 and job.zswap_current == 0 and job.events()["zswpin"] == 1
    assert root.zswapped == 0 and z.stats()["stored_pages"] == 0
    z.close()


def test_instance_store_and_load_are_one_c_call() -> None:
    """Zswap.__init__ makes the instance's store/load ZswapFast's: no Python frame on the fast
    path, and the same results as the class's methods for every argument form."""
    fast, _ = _pair(compressor="lz4")
    try:
        assert fast.store == fast._c.store and fast.load == fast._c.load
        page = text_page(7)
        assert fast.store(page, 0, 1)  # positional: the C fast path
        assert fast.store(page, swp_type=0, offset=2)  # keywords: the Python flow
        assert Zswap.store(fast, page, 0, 3)  # the class's method: the same steps
        out = bytearray(PAGE_SIZE)
        assert fast.load(out, 0, 1) and bytes(out) == page
        assert fast.load(out, 0, 2, swapcache=False) and bytes(out) == page  # the Python flow
        assert fast.load(out, swp_type=0, offset=2) and bytes(out) == page
        assert not fast.load(out, 0, 2)  # exclusive: gone
        assert Zswap.load(fast, out, 0, 3) and bytes(out) == page
        assert fast._c.fast_stores >= 1 and fast._c.fast_loads >= 1
        with pytest.raises(TypeError):
            fast.store(page, 0)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            fast.load(out, 0, 4, True)  # type: ignore[misc]
    finally:
        fast.close()


def test_closed_instance_refuses_stores_with_a_clear_error() -> None:
    z = Zswap(compressor="lz4", totalram_pages=None)
    z.swapon(0, 8)
    store = z.store  # a bound method taken before close() still reaches the Python flow
    z.close()
    for call in (lambda: z.store(text_page(1), 0, 1), lambda: store(text_page(1), 0, 1),
                 lambda: z.store_batch([(text_page(1), 0, 1)])):
        with pytest.raises(ZswapError, match="closed"):
            call()
    # loads and invalidations too, whether or not the slot had a page: the pages are gone
    for call in (lambda: z.load(bytearray(PAGE_SIZE), 0, 1), lambda: z.invalidate(0, 1)):
        with pytest.raises(ZswapError, match="closed"):
            call()


def test_a_subclass_keeps_its_own_store_and_load() -> None:
    calls: list[str] = []

    class Traced(Zswap):
        def store(self, *args: object, **kw: object) -> bool:  # type: ignore[override]
            calls.append("store")
            return super().store(*args, **kw)  # type: ignore[arg-type]

        def load(self, *args: object, **kw: object) -> bool:  # type: ignore[override]
            calls.append("load")
            return super().load(*args, **kw)  # type: ignore[arg-type]

    z = Traced(compressor="lz4", totalram_pages=None)
    try:
        z.swapon(0, 8)
        out = bytearray(PAGE_SIZE)
        assert z.store(text_page(1), 0, 1) and z.load(out, 0, 1)
        assert calls == ["store", "load"] and bytes(out) == text_page(1)
    finally:
        z.close()


def test_the_fast_store_follows_a_migrated_thread() -> None:
    """The C path keeps each thread's CPU between stores; a migration must be seen at once.
    Which context compressed a page shows in that context's buffer."""
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=2)
    try:
        z.swapon(0, 8)
        lz4 = z.pools()[0].compressor.new_transform()
        p, q = text_page(1), text_page(2)

        def compressed(page: bytes) -> bytes:
            buf = bytearray(2 * PAGE_SIZE)
            return bytes(buf[:lz4.compress(page, buf)])

        def in_buffer(cpu: int, want: bytes) -> bool:
            res = z.pools()[0].acomp_ctx[cpu].res
            return res is not None and bytes(res.buffers[0][:len(want)]) == want

        last: dict[int, bytes] = {}
        for cpu, page in ((0, p), (1, q), (0, q), (1, p), (1, q), (0, p)):
            z.cpus.migrate_current(cpu)
            before = z._c.fast_stores
            assert z.store(page, 0, 0) and z.store(page, 0, 1)
            assert z._c.fast_stores >= before + 1  # at least the second store ran in C
            last[cpu] = page
            for c, want in last.items():  # this CPU's buffer changed, the other one did not
                assert in_buffer(c, compressed(want))
    finally:
        z.close()
