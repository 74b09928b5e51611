"""The two flows of zswap, the Python reference and the C flow, against each other.

``Zswap(flow="python")`` and ``Zswap(flow="native")`` run the same operations over the same
state layer; they must agree on every result and error, every counter, entry and LRU position,
every memcg charge and event, and every byte zsmalloc holds, in every context design. The rest
of the behavioural suite runs once per flow (``conftest.flow``); this module drives both at
once, step by step, and covers how the flow is chosen.
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.cpu import CpuModel
from pyzswap.errors import DecompressFail, InvalidParameter, SlotBusy, ZswapError
from pyzswap.memcg import MemCgroup
from pyzswap.pool import LIFETIMES
from pyzswap.zsmalloc import ZsPool

from .conftest import random_page, text_page

FLOW_PAIR = ("native", "python")


def _pair(**kw: object) -> tuple[Zswap, Zswap]:
    """A native and a Python instance with the same configuration, swapped on (type 0)."""
    kw.setdefault("totalram_pages", None)
    kw.setdefault("shrink_work", "inline")  # writeback at the limit runs at once, not later
    kw.setdefault("cpus", 2)
    nr = int(kw.pop("nr_pages", 64))  # type: ignore[call-overload]
    sides = tuple(Zswap(flow=f, **kw) for f in FLOW_PAIR)  # type: ignore[arg-type]
    for z in sides:
        z.swapon(0, nr)
    assert [z.flow for z in sides] == list(FLOW_PAIR)
    return sides  # type: ignore[return-value]


def _page(kind: int, seed: int) -> bytes | memoryview:
    if kind == 0:
        return text_page(seed)
    if kind == 3:  # a page of a larger buffer, as tools hand them over
        return memoryview(bytearray(b"x" * 5 + text_page(seed) + b"y"))[5:5 + PAGE_SIZE]
    if kind == 1:
        return random_page(seed)  # incompressible: stored as-is
    return bytes(PAGE_SIZE - 8) + seed.to_bytes(8, "little")


def _objects(z: Zswap) -> list[bytes]:
    """Every stored object's bytes, as zsmalloc holds them (compressed, or the page)."""
    return [z.entry_pool(e).zs_pool.read(e.handle, e.length) for e in z.entries(0)]


def _state(z: Zswap) -> tuple[object, ...]:
    return (z.stats(), z.vmstat(), z.entries(0), z.lru.items(0), z.total_pages(),
            z.compressed_bytes(), [(p.tfm_name, p.ref) for p in z.pools()], _objects(z),
            z.ctx_use_after_free, z.invalidated_pages)


def _slot_op(z: Zswap, op: tuple[object, ...]) -> object:
    """``load`` / ``invalidate`` (their result), or a parameter write (None)."""
    off = op[1]
    if op[0] == "load":
        out = bytearray(PAGE_SIZE)
        return z.load(out, 0, off), bytes(out)  # type: ignore[arg-type]
    if op[0] == "invalidate":
        return z.invalidate(0, off)  # type: ignore[arg-type]
    z.set_param(str(op[0]), op[1])
    return None


def _outcome(fn: object) -> object:
    """A call's result, or its error's class and message (both flows must raise alike)."""
    try:
        return fn()  # type: ignore[operator]
    except ZswapError as exc:
        return type(exc), str(exc)


_op = st.one_of(
    st.tuples(st.just("store"), st.integers(0, 63), st.integers(0, 3), st.integers(0, 9)),
    # a large folio: offset, pages (a 2 MiB folio is 512; 2..20 keeps the test quick), kinds
    st.tuples(st.just("folio"), st.integers(0, 60), st.integers(2, 20), st.integers(0, 3)),
    st.tuples(st.just("load"), st.integers(0, 63)),
    st.tuples(st.just("invalidate"), st.integers(0, 63)),
    st.tuples(st.just("compressor"),
              st.sampled_from(["lz4", "zstd", "lzo", "deflate", "lz4-x2", "lzo-rle-x2"])),
    st.tuples(st.just("enabled"), st.booleans()),
    st.tuples(st.just("max_pool_percent"), st.integers(1, 100)),
)


def _run_both(sides: tuple[Zswap, Zswap], ops: list[tuple[object, ...]],
              store_op: Callable[[Zswap, tuple[object, ...]], object]) -> None:
    """Each op on both flows in turn: the same result (or error) and the same whole state
    after every op. ``store_op`` runs the ops that store; ``_slot_op`` the rest."""
    try:
        for op in ops:
            run = store_op if op[0] in _STORE_OPS else _slot_op
            results = [_outcome(lambda z=z, op=op, run=run: run(z, op)) for z in sides]
            assert results[0] == results[1], op
            assert _state(sides[0]) == _state(sides[1]), op
    finally:
        for z in sides:
            z.close()


_STORE_OPS = ("store", "folio", "batch")


def _store_op(z: Zswap, op: tuple[object, ...]) -> object:
    """A 4 KiB ``store`` or a large ``folio`` of ``_op``."""
    if op[0] == "store":
        _, off, kind, seed = op
        return z.store(_page(int(kind), int(seed)), 0, off)  # type: ignore[arg-type, call-overload]
    _, off, nr, kind = op
    nr = min(int(nr), 64 - int(off))  # type: ignore[call-overload]
    folio = b"".join(bytes(_page((int(kind) + i) % 3, int(off) + i))  # type: ignore[call-overload]
                     for i in range(nr))
    return z.store(folio, 0, off)  # type: ignore[arg-type]


def _agree(ops: list[tuple[object, ...]], limited: bool, lifetime: str) -> None:
    # limited: a 64-page "RAM" so the global limit and its hysteresis come into play
    sides = _pair(compressor="lz4", totalram_pages=64 if limited else None, lifetime=lifetime)
    _run_both(sides, ops, _store_op)


@settings(max_examples=100, deadline=None)
@given(st.lists(_op, max_size=50), st.booleans())
def test_the_flows_agree(ops: list[tuple[object, ...]], limited: bool) -> None:
    _agree(ops, limited, "pool")


@pytest.mark.parametrize("lifetime", [lt for lt in LIFETIMES if lt != "pool"])
@settings(max_examples=15, deadline=None)
@given(ops=st.lists(_op, max_size=30), limited=st.booleans())
# a folio displacing an older entry of one of its slots, longer than one batch, on a batching
# compressor that the shared designs clamp to one page per call
@example(ops=[("compressor", "lz4-x2"), ("store", 0, 0, 0), ("folio", 0, 9, 0)], limited=False)
def test_the_flows_agree_in_every_design(lifetime: str, ops: list[tuple[object, ...]],
                                         limited: bool) -> None:
    _agree(ops, limited, lifetime)


_stream_op = st.one_of(
    st.tuples(st.just("folio"), st.integers(0, 48), st.integers(2, 16), st.integers(0, 3),
              st.booleans()),
    # a batch names each slot once (the same slot twice is refused: InvalidParameter)
    st.tuples(st.just("batch"), st.lists(st.tuples(st.integers(0, 63), st.integers(0, 3)),
                                         min_size=1, max_size=12, unique_by=lambda s: s[0]),
              st.booleans()),
    st.tuples(st.just("invalidate"), st.integers(0, 63)),
)


@settings(max_examples=30, deadline=None)
@given(st.lists(_stream_op, max_size=12), st.sampled_from(["lz4-x2", "zstd-x2-b4"]))
def test_native_engine_streams_agree(ops: list[tuple[object, ...]], compressor: str) -> None:
    """Large folios and reclaim batches streamed through native engines, with and without a
    memcg: csrc/stream.c against zswap/stream.py, store by store."""
    zs = []
    for flow in FLOW_PAIR:
        root = MemCgroup()
        z = Zswap(compressor=compressor, totalram_pages=None, cpus=2, memcg_root=root,
                  shrink_work="inline", flow=flow)
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
                    results.append(_slot_op(z, op))
            assert results[0] == results[1], op
            (a, ma), (b, mb) = zs
            assert _state(a) == _state(b), op
            assert (ma.zswap_current, ma.zswapped, ma.events()) == \
                (mb.zswap_current, mb.zswapped, mb.events()), op
            assert a.lru.items(ma.id) == b.lru.items(mb.id), op
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


@settings(max_examples=60, deadline=None)
@given(st.lists(_batch_op, max_size=25), st.booleans(), st.sampled_from(["lz4-x2", "lz4"]))
# always: the pool fills, then drains to between the accept threshold and the limit, where
# the hysteresis still refuses a batch
@example([("max_pool_percent", 20), ("batch", [(o, 0, 0) for o in range(12)]),
          ("batch", [(o, 0, 1) for o in range(12, 30)]), ("batch", [(40, 0, 0)])]
         + [("invalidate", o) for o in range(8)] + [("batch", [(41, 0, 0), (42, 1, 1)])],
         True, "lz4-x2")
def test_reclaim_batches_agree(ops: list[tuple[object, ...]], limited: bool,
                               compressor: str) -> None:
    """``store_batch``: the same results and errors (a malformed folio refuses the whole
    batch before anything is stored), counters (``pool_limit_hit``, the hysteresis) and
    entries from both flows."""
    sides = _pair(compressor=compressor, totalram_pages=64 if limited else None, nr_pages=48)
    _run_both(sides, ops, lambda z, op: z.store_batch(
        [_folio(int(o), int(k), int(sh)) for o, k, sh in op[1]]))  # type: ignore[attr-defined]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("store"), st.integers(0, 31), st.integers(0, 3), st.integers(0, 2)),
    st.tuples(st.just("load"), st.integers(0, 31)),
    st.tuples(st.just("invalidate"), st.integers(0, 31)),
    st.tuples(st.just("offline"), st.integers(1, 2)),
    st.tuples(st.just("zswap_max"), st.integers(1, 2), st.integers(0, 6)),
    st.tuples(st.just("writeback"), st.integers(0, 2), st.booleans()),
), max_size=40))
# always: a group at its zswap.max (its own entries are written back first), and one whose
# writeback is off (an incompressible page is then rejected instead of stored as-is)
@example([("store", 0, 0, 1), ("zswap_max", 1, 0), ("store", 1, 0, 1), ("load", 0)])
@example([("store", 0, 0, 2), ("writeback", 2, False), ("store", 1, 1, 2), ("store", 2, 0, 2),
          ("writeback", 2, True), ("store", 3, 1, 2)])
def test_memcg_stores_and_loads_agree(ops: list[tuple[object, ...]]) -> None:
    """Stores charged to memcgs and loads of their entries: charges, events, LRU lists,
    reparenting (a memcg removed while its entries are stored), a group at its
    ``memory.zswap.max`` and ``memory.zswap.writeback`` 0."""
    sides = []
    for flow in FLOW_PAIR:
        root = MemCgroup()
        groups = [root, root.create("a"), root.create("b")]
        z = Zswap(compressor="lz4", totalram_pages=None, cpus=2, memcg_root=root,
                  shrink_work="inline", flow=flow)
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
                    results.append(_slot_op(z, op))
                else:
                    g = groups[int(op[1])]  # type: ignore[call-overload]
                    if g.online and op[0] == "zswap_max":
                        g.zswap_max = int(op[2]) * PAGE_SIZE  # type: ignore[call-overload]
                    elif g.online and op[0] == "writeback":
                        g.zswap_writeback = bool(op[2])
                    elif g.online:
                        g.remove()
                    results.append(None)
            assert results[0] == results[1], op
            (a, ga), (b, gb) = sides
            assert _state(a) == _state(b), op
            for x, y in zip(ga, gb, strict=True):
                assert (x.zswap_current, x.zswapped, x.events()) == \
                    (y.zswap_current, y.zswapped, y.events()), op
    finally:
        for z, _ in sides:
            z.close()


# ---------------------------------------------------------------- failures, both flows ------

def test_fault_injecting_zsmalloc_is_honoured_by_both_flows() -> None:
    # a zsmalloc subclass (as faults.FaultyZsPool) sees every call, through its methods
    from pyzswap.tools.faults import FaultyZsPool, install_zs_pool

    for z in _pair(compressor="lz4"):
        faulty = install_zs_pool(z)
        assert isinstance(faulty, FaultyZsPool)
        faulty.alloc_fail.fail_next()
        assert not z.store(text_page(1), 0, 1)
        assert z.stats()["reject_alloc_fail"] == 1 and z.lookup(0, 1) is None
        assert z.store(text_page(2), 0, 2) and faulty.objects_in_use == 1
        out = bytearray(PAGE_SIZE)
        assert z.load(out, 0, 2) and out == text_page(2) and faulty.objects_in_use == 0
        z.close()


def test_a_large_folio_that_does_not_fit_is_undone_whole() -> None:
    """zsmalloc fills up part-way through a 16-page folio: every object of the folio is freed,
    its slots stay empty (an older entry there goes), the references come back."""
    folio = b"".join(random_page(i) for i in range(16))  # incompressible: one zspage page each
    sides = _pair(compressor="lz4")
    for z in sides:
        pool = z.current_pool()
        old = pool.zs_pool  # empty
        pool.zs_pool = ZsPool("tiny", max_pages=5)  # a plain ZsPool: room for 5 pages
        assert z.store(text_page(9), 0, 20)
        assert not z.store(folio, 0, 16)
        assert [z.lookup(0, i) for i in range(16, 32)] == [None] * 16
        assert z.stats()["reject_alloc_fail"] == 1 and pool.ref == 1
        assert pool.zs_pool.pages_allocated == 0
        assert z.store(folio[:4 * PAGE_SIZE], 0, 40)  # four pages fit
        old.destroy()
    assert _state(sides[0]) == _state(sides[1])


def test_a_corrupt_object_raises_and_keeps_the_entry_in_both_flows() -> None:
    for z in _pair(compressor="lz4"):
        assert z.store(text_page(9), 0, 9)
        entry = z.lookup(0, 9)
        assert entry is not None
        z.entry_pool(entry).zs_pool.write(entry.handle, b"\xff" * entry.length)
        with pytest.raises(DecompressFail, match="0:9 with lz4"):
            z.load(bytearray(PAGE_SIZE), 0, 9)
        assert z.stats()["decompress_fail"] == 1 and z.lookup(0, 9) == entry
        z.close()


def test_bad_arguments_get_the_same_errors() -> None:
    calls = [
        lambda z: z.store(text_page(1), 0, 64),
        lambda z: z.store(text_page(1), 3, 0),
        lambda z: z.store(text_page(1), 0, -1),
        lambda z: z.store(text_page(1), 0, 1.0),
        lambda z: z.store(b"x" * 100, 0, 0),
        lambda z: z.store(bytes(513 * PAGE_SIZE), 0, 0),
        lambda z: z.store("page", 0, 0),
        lambda z: z.store(memoryview(bytes(2 * PAGE_SIZE))[::2], 0, 0),
        lambda z: z.store(text_page(2), 0, 2, "web"),
        lambda z: z.store_batch([(text_page(2), 0, 2)], 5),
        lambda z: z.store_batch([(text_page(2), 0, 2), (b"", 0, 3)]),
        lambda z: z.load(bytearray(100), 0, 0),
        lambda z: z.load(bytes(PAGE_SIZE), 0, 0),
        lambda z: z.load(bytearray(PAGE_SIZE), 0, 64),
        lambda z: z.load(bytearray(PAGE_SIZE), 5, 0),
    ]
    sides = _pair(compressor="lz4")
    for call in calls:
        outcomes = []
        for z in sides:
            try:
                call(z)
            except (ZswapError, TypeError) as exc:
                outcomes.append((type(exc), str(exc)))
            else:  # pragma: no cover - reported below
                outcomes.append(None)
        assert outcomes[0] == outcomes[1] and outcomes[0] is not None, outcomes
    assert _state(sides[0]) == _state(sides[1])
    for z in sides:
        # a batch on a one-page-per-call pool is a loop of stores: the first folio went in
        assert z.stats()["stored_pages"] == 1
        assert [p.ref for p in z.pools()] == [2]  # no other pool reference left behind
        z.close()


def test_threads_storing_and_loading_lose_nothing_in_the_c_flow() -> None:
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=2, flow="native")
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
    assert z.vmstat() == {"zswpin": 4000, "zswpout": 4000, "zswpwb": 0}
    z.close()


def test_the_c_flow_follows_a_migrated_thread() -> None:
    """The C flow keeps each thread's CPU between stores; a migration must be seen at once.
    Which context compressed a page shows in that context's buffer."""
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=2, flow="native")
    try:
        z.swapon(0, 8)
        lz4 = z.pools()[0].compressor.new_transform()

        def compressed(page: bytes) -> bytes:
            buf = bytearray(2 * PAGE_SIZE)
            return bytes(buf[:lz4.compress(page, buf)])

        def in_buffer(cpu: int, want: bytes) -> bool:
            res = z.pools()[0].acomp_ctx[cpu].res
            return res is not None and bytes(res.buffers[0][:len(want)]) == want

        last: dict[int, bytes] = {}
        for cpu, page in ((0, text_page(1)), (1, text_page(2)), (0, text_page(2)),
                          (1, text_page(1)), (0, text_page(1))):
            z.cpus.migrate_current(cpu)
            assert z.store(page, 0, 0) and z.store(page, 0, 1)
            last[cpu] = page
            for c, want in last.items():  # this CPU's buffer changed, the other one did not
                assert in_buffer(c, compressed(want))
    finally:
        z.close()


def test_the_c_flow_reads_a_cpu_model_subclass_through_its_own_attribute() -> None:
    """The C flow reads ``placement_gen`` straight from its slot while the class is unchanged;
    a subclass that makes it a property (or changes the class later) is read through Python."""
    reads: list[int] = []
    member = CpuModel.placement_gen  # the slot's descriptor

    class Counting(CpuModel):
        __slots__ = ()

    z = Zswap(compressor="lz4", totalram_pages=None, cpus=Counting(2), flow="native")
    try:
        z.swapon(0, 8)
        out = bytearray(PAGE_SIZE)
        assert z.store(text_page(1), 0, 0) and z.load(out, 0, 0)

        def gen(self: CpuModel) -> int:
            value = member.__get__(self)
            reads.append(value)
            return value

        Counting.placement_gen = property(gen, member.__set__)  # type: ignore[assignment]
        for cpu in (1, 0):
            z.cpus.migrate_current(cpu)
            assert z.store(text_page(cpu), 0, 1) and z.load(out, 0, 1)
            assert bytes(out) == text_page(cpu)
            assert z.pools()[0].acomp_ctx[cpu].res is not None
        assert len(reads) >= 4  # every store and load asked the property
    finally:
        z.close()


# ---------------------------------------------------------------- choosing the flow ---------

def test_the_flow_is_chosen_once_per_configuration() -> None:
    assert Zswap(compressor="lz4", totalram_pages=None, flow="native").flow == "native"
    assert Zswap(compressor="lz4", totalram_pages=None, flow="python").flow == "python"
    with pytest.raises(InvalidParameter, match="flow must be one of auto, python, native"):
        Zswap(flow="fast")
    from pyzswap.compress import register_batching

    register_batching("lz4", 2, engine="threads")  # batches on Python engine threads
    z = Zswap(compressor="lz4", totalram_pages=None, flow="auto")
    assert z.flow_policy == "auto"
    native = z.flow
    z.set_param("compressor", "lz4-x2")  # compress_batch: only the Python flow batches it
    assert z.flow == "python" and z.store.__self__.__class__.__name__ == "PythonFlow"  # type: ignore[attr-defined]
    z.set_param("compressor", "zstd")
    assert z.flow == native
    pinned = Zswap(compressor="lz4-x2", totalram_pages=None, flow="native")
    assert pinned.flow == "native"  # served, page by page
    pinned.swapon(0, 8)
    folio = b"".join(text_page(i) for i in range(8))
    assert pinned.store(folio, 0, 0)
    out = bytearray(PAGE_SIZE)
    assert all(pinned.load(out, 0, i) and out == text_page(i) for i in range(8))
    for inst in (z, pinned):
        inst.close()


@pytest.mark.parametrize("flow", FLOW_PAIR)
def test_closed_instances_refuse_with_a_clear_error_and_are_freed(flow: str) -> None:
    z = Zswap(compressor="lz4", totalram_pages=None, flow=flow)
    z.swapon(0, 8)
    assert z.store(text_page(1), 0, 1)
    store = z.store  # a bound method taken before close()
    z.close()
    page = text_page(1)
    with pytest.raises(ZswapError, match="closed"):
        z.store(page, 0, 1)
    with pytest.raises(ZswapError, match="closed"):
        store(page, 0, 1)
    with pytest.raises(ZswapError, match="closed"):
        z.store_batch([(page, 0, 1)])
    with pytest.raises(ZswapError, match="closed"):
        z.load(bytearray(PAGE_SIZE), 0, 1)
    assert z.stats()["stored_pages"] == 1  # the counters stay readable
    ref = weakref.ref(z)
    del z, store
    gc.collect()
    assert ref() is None


def test_a_subclass_keeps_its_own_store_and_load() -> None:
    calls: list[str] = []

    class Traced(Zswap):
        def store(self, *args: object, **kw: object) -> bool:  # type: ignore[override]
            calls.append("store")
            return super().store(*args, **kw)  # type: ignore[arg-type]

        def load(self, *args: object, **kw: object) -> bool:  # type: ignore[override]
            calls.append("load")
            return super().load(*args, **kw)  # type: ignore[arg-type]

    for flow in FLOW_PAIR:
        calls.clear()
        z = Traced(compressor="lz4", totalram_pages=None, flow=flow)
        z.swapon(0, 8)
        out = bytearray(PAGE_SIZE)
        assert z.store(text_page(1), 0, 1) and z.load(out, 0, 1)
        assert calls == ["store", "load"] and bytes(out) == text_page(1)
        z.close()


def test_keyword_arguments_reach_the_same_flow() -> None:
    for z in _pair(compressor="lz4"):
        page = text_page(7)
        assert z.store(page, 0, 1) and z.store(page, swp_type=0, offset=2) is True
        assert z.store(folio=page, swp_type=0, offset=3)
        out = bytearray(PAGE_SIZE)
        assert z.load(out, 0, 2, swapcache=False) and bytes(out) == page
        assert z.load(out, swp_type=0, offset=2) and not z.load(out, 0, 2)
        assert Zswap.load(z, out, 0, 3) and bytes(out) == page
        with pytest.raises(TypeError):
            z.load(out, 0, 4, True)  # type: ignore[misc]
        z.close()


class _PythonHook(Zswap):
    """A subclass with its own slot-free hook: attach_swap keeps the Python one."""

    def _on_swap_free(self, swp_type: int, offset: int, nr: int) -> None:
        super()._on_swap_free(swp_type, offset, nr)


def test_the_slot_free_hook_in_c_does_what_the_python_one_does() -> None:
    """``NativeFlow.on_swap_free`` (the swap table's hook) against ``Zswap._on_swap_free``:
    entries of freed slots invalidated and counted, nothing for a type zswap does not have,
    SlotBusy while an operation on a slot is in flight, nothing once closed."""
    sides = [cls(totalram_pages=None, cpus=1, shrink_work="inline")
             for cls in (Zswap, _PythonHook)]
    hooks = [sides[0]._native_flow.on_swap_free, sides[1]._on_swap_free]
    for z in sides:
        z.swapon(0, 64)
        for off in range(1, 9):
            assert z.store(text_page(off), 0, off)
    for hook in hooks:
        hook(0, 2, 3)
        hook(5, 1, 1)  # not a type of this zswap
    assert _state(sides[0]) == _state(sides[1])
    assert sides[0].invalidated_pages == 3
    for z, hook in zip(sides, hooks, strict=True):
        z._table.slots_begin(0, 7, 1)
        with pytest.raises(SlotBusy, match="invalidate of swap slots 0:6"):
            hook(0, 6, 2)
        z._table.slots_end(0, 7, 1)
        with pytest.raises(ValueError):
            hook(0, 60, 10)
    assert _state(sides[0]) == _state(sides[1])
    for z, hook in zip(sides, hooks, strict=True):
        z.close()
        hook(0, 1, 1)
    assert sides[0].invalidated_pages == sides[1].invalidated_pages == 3


def test_the_swap_tables_hook_keeps_its_zswap_alive_and_refuses_misuse() -> None:
    from pyzswap._native import SwapFreeHook
    from pyzswap.swap import SwapTable

    table = SwapTable()
    z = Zswap(totalram_pages=None, cpus=1, shrink_work="inline", swap_table=table)
    ref = weakref.ref(z)
    hook = table.on_free
    assert isinstance(hook, SwapFreeHook)
    del z
    gc.collect()
    assert ref() is not None  # as a bound method of the Zswap would
    with pytest.raises(TypeError):
        hook(0, 1, nr=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        hook(0, 1)  # type: ignore[call-arg]
    hook(7, 1, 1)  # a type zswap does not have: nothing
    with pytest.raises(RuntimeError, match="__init__ was not called"):
        SwapFreeHook.__new__(SwapFreeHook)(0, 1, 1)
    table.on_free = None
    del hook
    gc.collect()
    assert ref() is None
