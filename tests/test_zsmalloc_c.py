"""The C zsmalloc (``ZsPool``) against the Python reference (``PyZsPool``).

Every test in test_zsmalloc.py already runs on both. Here the two run side by side: a
hypothesis machine drives both with the same random operations and, after every step, requires
the same handles, accounting, class statistics, placement (zspage serial and slot of every
object) and bytes; and every error path must raise the same class with the same message.
"""

from __future__ import annotations

import ctypes
import errno
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pyzswap import _native
from pyzswap.errors import AllocFail, InvalidParameter
from pyzswap.reference.zsmalloc import PyZsPool
from pyzswap.zsmalloc import (
    BLOCK_CACHE_PAGES,
    ZsPool,
    block_cache_pages,
    drain_block_cache,
    huge_class_size,
    size_class_table,
)

AnyPool = ZsPool | PyZsPool


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result) or ("raise", (exception class, message))."""
    try:
        return "ok", fn()
    except Exception as exc:  # compared, not swallowed
        return "raise", (type(exc), str(exc))


def both(c: AnyPool, py: AnyPool, op: Callable[[AnyPool], Any]) -> tuple[str, Any]:
    """Run ``op`` on both pools; they must return the same result or raise the same error."""
    got_c, got_py = outcome(lambda: op(c)), outcome(lambda: op(py))
    assert got_c == got_py
    return got_c


def state(pool: AnyPool) -> tuple[Any, ...]:
    return (
        pool.pages_allocated,
        pool.total_pages(),
        pool.objects_in_use,
        pool.pages_compacted,
        pool.compactable_pages(),
        pool.migrate_seq,
        pool.destroyed,
        pool.class_stats(),
    )


# --------------------------------------------------------------------------------------------
# The class table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chain", range(4, 17))
def test_c_class_table_is_size_class_table(chain: int) -> None:
    pool = ZsPool("table", chain)
    expected = [(c.index, c.size, c.pages_per_zspage, c.objs_per_zspage)
                for c in size_class_table(chain)]
    assert pool._class_table() == expected
    assert pool.huge_class_size == huge_class_size(chain)
    assert pool.chain_size == chain
    assert [r["index"] for r in pool.class_stats()] == sorted({e[0] for e in expected})


def test_zspool_is_the_c_type() -> None:
    assert issubclass(ZsPool, _native.ZsPool)
    # The hot methods are the C ones, not Python wrappers.
    for name in ("malloc_write", "free", "read_into", "obj_view", "read"):
        assert name not in ZsPool.__dict__
        assert type(getattr(_native.ZsPool, name)).__name__ == "method_descriptor"
    assert type(_native.ZsPool.__dict__["pages_allocated"]).__name__ == "getset_descriptor"


# --------------------------------------------------------------------------------------------
# Differential: the same random operations on both pools
# --------------------------------------------------------------------------------------------

LENGTHS = st.one_of(
    st.integers(1, 4096),
    st.sampled_from([1, 24, 25, 40, 100, 1016, 1500, 2040, 3624, 3625, 4096]),
)


class Differential(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c: AnyPool = ZsPool("diff")
        self.py: AnyPool = PyZsPool("diff")
        self.data: dict[int, bytes] = {}

    @initialize(chain=st.integers(4, 16), max_pages=st.none() | st.integers(0, 80))
    def make_pools(self, chain: int, max_pages: int | None) -> None:
        self.c = ZsPool("diff", chain, max_pages=max_pages)
        self.py = PyZsPool("diff", chain, max_pages=max_pages)

    def pick(self, n: int) -> int:
        live = sorted(self.data)
        return live[n % len(live)]

    @rule(length=LENGTHS, seed=st.integers(0, 2**32 - 1), extra=st.integers(0, 40))
    def malloc_write(self, length: int, seed: int, extra: int) -> None:
        blob = random.Random(seed).randbytes(length + extra)  # may be longer than length
        kind, h = both(self.c, self.py, lambda p: p.malloc_write(blob, length))
        if kind == "ok":
            assert h not in self.data
            self.data[h] = blob[:length]
        else:
            assert h[0] is AllocFail

    @rule(length=LENGTHS, count=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
    def malloc_many(self, length: int, count: int, seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(count):
            blob = rnd.randbytes(length)
            kind, h = both(self.c, self.py, lambda p, b=blob: p.malloc_write(memoryview(b), length))
            if kind != "ok":
                break
            self.data[h] = blob

    @precondition(lambda self: bool(self.data))
    @rule(n=st.integers(0, 2**32))
    def free(self, n: int) -> None:
        h = self.pick(n)
        both(self.c, self.py, lambda p: p.free(h))
        del self.data[h]
        kind, err = both(self.c, self.py, lambda p: p.free(h))  # double free
        assert kind == "raise" and err[0] is InvalidParameter

    @rule(fraction=st.floats(0.1, 1.0), seed=st.integers(0, 2**32 - 1))
    def free_many(self, fraction: float, seed: int) -> None:
        live = sorted(self.data)
        for h in random.Random(seed).sample(live, int(len(live) * fraction)):
            both(self.c, self.py, lambda p, h=h: p.free(h))
            del self.data[h]

    @rule()
    def compact(self) -> None:
        both(self.c, self.py, lambda p: p.compact())

    @precondition(lambda self: bool(self.data))
    @rule(n=st.integers(0, 2**32), cut=st.floats(0, 1))
    def read(self, n: int, cut: float) -> None:
        h = self.pick(n)
        k = int(len(self.data[h]) * cut)
        assert both(self.c, self.py, lambda p: p.read(h, k)) == ("ok", self.data[h][:k])
        out_c, out_py = bytearray(k + 3), bytearray(k + 3)
        self.c.read_into(h, k, out_c)
        self.py.read_into(h, k, out_py)
        assert out_c == out_py == self.data[h][:k] + bytes(3)
        assert bytes(self.c.obj_view(h, k)) == bytes(self.py.obj_view(h, k)) == self.data[h][:k]

    @precondition(lambda self: bool(self.data))
    @rule(n=st.integers(0, 2**32), seed=st.integers(0, 2**32 - 1), cut=st.floats(0, 1))
    def write(self, n: int, seed: int, cut: float) -> None:
        h = self.pick(n)
        head = random.Random(seed).randbytes(int(len(self.data[h]) * cut))
        both(self.c, self.py, lambda p: p.write(h, head))
        self.data[h] = head + self.data[h][len(head):]

    @rule(n=st.integers(-3, 2**33))
    def bad_handle(self, n: int) -> None:
        if n in self.data:
            return
        for op in (lambda p: p.free(n), lambda p: p.read(n), lambda p: p.obj_size(n),
                   lambda p: p._locate(n), lambda p: p.read_into(n, 1, bytearray(1))):
            kind, err = both(self.c, self.py, op)
            assert kind == "raise" and err[0] is InvalidParameter

    @invariant()
    def same(self) -> None:
        assert state(self.c) == state(self.py)
        self.c._check_invariants()
        self.py._check_invariants()
        for h, blob in self.data.items():
            assert self.c.read(h) == self.py.read(h) == blob
            assert self.c._locate(h) == self.py._locate(h)  # same class, zspage serial, slot
            assert self.c.obj_size(h) == len(blob)
        for row in self.c.class_stats():
            if row["zspages"]:
                assert self.c._fullness_lists(row["index"]) == self.py._fullness_lists(
                    row["index"])

    def teardown(self) -> None:
        for h in sorted(self.data):
            both(self.c, self.py, lambda p, h=h: p.free(h))
        assert state(self.c) == state(self.py)
        assert self.c.pages_allocated == 0
        both(self.c, self.py, lambda p: p.destroy())
        assert state(self.c) == state(self.py)


Differential.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestDifferential = Differential.TestCase


def test_long_random_sequence_agrees() -> None:
    """A longer, denser run than the machine's: 20k operations, compactions included."""
    rnd = random.Random(1234)
    c, py = ZsPool("long"), PyZsPool("long")
    data: dict[int, bytes] = {}
    for step in range(20_000):
        r = rnd.random()
        if data and r < 0.45:
            h = rnd.choice(list(data))
            c.free(h)
            py.free(h)
            del data[h]
        elif r < 0.995:
            n = rnd.choice([rnd.randint(1, 4096), rnd.randint(200, 1800)])
            blob = rnd.randbytes(n)
            h = c.malloc_write(blob, n)
            assert py.malloc_write(blob, n) == h
            data[h] = blob
        else:
            assert c.compact() == py.compact()
        if step % 2000 == 0:
            assert state(c) == state(py)
    assert state(c) == state(py)
    assert c.pages_compacted > 100  # compaction really moved objects
    for h, blob in data.items():
        assert c.read(h) == py.read(h) == blob
        assert c._locate(h) == py._locate(h)
    c._check_invariants()
    py._check_invariants()


# --------------------------------------------------------------------------------------------
# Errors: the same class and message from both
# --------------------------------------------------------------------------------------------

STRIDED_2D = memoryview(bytearray(40)).cast("B", (4, 10))[::2]


def test_errors_agree() -> None:
    c, py = ZsPool("errs"), PyZsPool("errs")
    h = both(c, py, lambda p: p.malloc_write(b"q" * 100, 100))[1]
    gone = both(c, py, lambda p: p.malloc_write(b"g" * 30, 30))[1]
    both(c, py, lambda p: p.free(gone))
    ops: list[Callable[[AnyPool], Any]] = [
        # sizes
        lambda p: p.malloc(0), lambda p: p.malloc(-1), lambda p: p.malloc(4097),
        lambda p: p.malloc(10**30), lambda p: p.malloc(-(10**30)), lambda p: p.malloc(1.5),
        lambda p: p.malloc("100"), lambda p: p.malloc(None),
        lambda p: p.malloc_write(b"x" * 5000, 0), lambda p: p.malloc_write(b"x" * 5000, 4097),
        # data
        lambda p: p.malloc_write(b"abc", 10), lambda p: p.malloc_write("abc", 3),
        lambda p: p.malloc_write(12345, 4), lambda p: p.malloc_write(STRIDED_2D, 8),
        # handles: freed, never allocated, not ints; double free
        *[(lambda p, b=bad: p.free(b)) for bad in (gone, 0, -1, 99999, 2**40, "x", None, 1.5)],
        *[(lambda p, b=bad: p.read(b)) for bad in (gone, 0, "x")],
        lambda p: p.obj_size(gone), lambda p: p._locate(gone), lambda p: p.obj_view(gone, 1),
        lambda p: p.write(gone, b"zz"), lambda p: p.read_into(gone, 1, bytearray(4)),
        # lengths
        lambda p: p.read(h, 101), lambda p: p.read(h, -1), lambda p: p.write(h, b"z" * 101),
        lambda p: p.write(h, b"z" * 10, 11), lambda p: p.write(h, b"z" * 10, -1),
        lambda p: p.write(h, "str"), lambda p: p.read_into(h, 101, bytearray(200)),
        lambda p: p.read_into(h, 50, bytearray(10)), lambda p: p.read_into(h, -1, bytearray(10)),
        lambda p: p.read_into(h, 5, b"readonly"), lambda p: p.read_into(h, 5, "str"),
        lambda p: p.read_into(h, 5, STRIDED_2D), lambda p: p.obj_view(h, 101),
        lambda p: p.obj_view(h, -1),
        # classes
        lambda p: p.can_compact(255), lambda p: p.can_compact(-1), lambda p: p.can_compact("1"),
        # constructors
        lambda p: type(p)("x", 3), lambda p: type(p)("x", 17), lambda p: type(p)("x", True),
        lambda p: type(p)("x", 8.0), lambda p: type(p)("x", max_pages=-1),
        lambda p: type(p)("x", max_pages=1.5), lambda p: type(p)("x", max_pages=True),
    ]
    before = state(c)
    for op in ops:
        kind, err = both(c, py, op)
        assert kind == "raise", err
        assert issubclass(err[0], InvalidParameter | AllocFail) or err[0].__name__ == "CompressPoor"
    assert state(c) == state(py) == before
    assert c.read(h) == py.read(h) == b"q" * 100
    # The next handle is the same: errors consumed nothing (the freed number comes back).
    assert both(c, py, lambda p: p.malloc_write(b"n" * 10, 10)) == ("ok", gone)


def test_strided_buffers_agree() -> None:
    c, py = ZsPool("strided"), PyZsPool("strided")
    src = memoryview(bytes(range(256)) * 4)[::3]
    h = both(c, py, lambda p: p.malloc_write(src, 300))[1]
    outs = [bytearray(700), bytearray(700)]
    for pool, out in zip((c, py), outs, strict=True):
        pool.read_into(h, 200, memoryview(out)[::2])
    assert outs[0] == outs[1]
    assert bytes(outs[0][:400:2]) == bytes(src[:200])
    both(c, py, lambda p: p.write(h, memoryview(bytes(range(100)))[::-1]))
    assert both(c, py, lambda p: p.read(h, 100)) == ("ok", bytes(range(99, -1, -1)))


def test_destroyed_pool_agrees() -> None:
    c, py = ZsPool("dead"), PyZsPool("dead")
    h = both(c, py, lambda p: p.malloc_write(b"d" * 64, 64))[1]
    both(c, py, lambda p: p.destroy())
    ops: list[Callable[[AnyPool], Any]] = [
        lambda p: p.malloc(10), lambda p: p.malloc_write(b"x", 1), lambda p: p.read(h),
        lambda p: p.write(h, b"x"), lambda p: p.free(h), lambda p: p.obj_size(h),
        lambda p: p.obj_view(h, 1), lambda p: p.read_into(h, 1, bytearray(1)),
        lambda p: p._locate(h), lambda p: p.compact(),
        lambda p: p.malloc_write("bad data", 3),  # the dead pool is reported first
    ]
    for op in ops:
        kind, err = both(c, py, op)
        assert kind == "raise" and err[0] is InvalidParameter and "destroyed" in err[1]
    assert state(c) == state(py)
    assert c.pages_allocated == c.objects_in_use == 0 and c.destroyed
    assert both(c, py, lambda p: p.can_compact(3)) == ("ok", 0)
    assert both(c, py, lambda p: p._fullness_lists(3)) == ("ok", [[]] * 11)
    both(c, py, lambda p: p.destroy())  # idempotent
    assert repr(c) == repr(py) == "ZsPool('dead', chain_size=8, destroyed)"
    c._check_invariants()


def test_max_pages_exhaustion_agrees_and_changes_nothing() -> None:
    c, py = ZsPool("limited", max_pages=9), PyZsPool("limited", max_pages=9)
    hs = [both(c, py, lambda p: p.malloc_write(b"a" * 3624, 3624))[1] for _ in range(9)]
    both(c, py, lambda p: p.malloc_write(b"h" * 4096, 4096))  # 8 + 1 pages: full
    before = state(c)
    assert before == state(py) and c.pages_allocated == 9
    for op in (lambda p: p.malloc(100), lambda p: p.malloc_write(b"b" * 100, 100),
               lambda p: p.malloc_write(b"b" * 3624, 3624), lambda p: p.malloc(4096),
               lambda p: p.malloc_write("bad data", 3)):  # the refused zspage is reported first
        kind, err = both(c, py, op)
        assert kind == "raise" and err[0] is AllocFail and "max_pages=9" in err[1]
    assert state(c) == state(py) == before
    # Nothing was consumed: after a free, both hand out the same handle and zspage.
    both(c, py, lambda p: p.free(hs[4]))
    assert both(c, py, lambda p: p.malloc_write(b"c" * 3600, 3600)) == ("ok", hs[4])
    assert c._locate(hs[4]) == py._locate(hs[4])
    # Bad data with room in an existing zspage is a data error, and changes nothing either.
    both(c, py, lambda p: p.free(hs[5]))
    kind, err = both(c, py, lambda p: p.malloc_write(b"x", 3600))
    assert kind == "raise" and err[0] is InvalidParameter
    assert both(c, py, lambda p: p.malloc(3600)) == ("ok", hs[5])
    assert c._locate(hs[5]) == py._locate(hs[5])


def test_bad_data_consumes_no_zspage_serial() -> None:
    c, py = ZsPool("serial"), PyZsPool("serial")
    for bad in ("str", b"short"):
        kind, _ = both(c, py, lambda p, b=bad: p.malloc_write(b, 100))
        assert kind == "raise"
    h = both(c, py, lambda p: p.malloc(100))[1]
    assert c._locate(h) == py._locate(h) == (5, 0, 0)


# --------------------------------------------------------------------------------------------
# Subclassing and object views
# --------------------------------------------------------------------------------------------


def test_python_subclass_with_slots_overrides_c_methods() -> None:
    class Counting(ZsPool):
        __slots__ = ("calls",)

        def __init__(self, name: str, chain_size: int = 8, *,
                     max_pages: int | None = None) -> None:
            super().__init__(name, chain_size, max_pages=max_pages)
            self.calls = 0

        def malloc_write(self, data: Any, length: int) -> int:
            self.calls += 1
            return super().malloc_write(data, length)

    pool = Counting("sub", 4, max_pages=100)
    h = pool.malloc_write(b"abc", 3)
    assert pool.calls == 1 and pool.read(h) == b"abc" and pool.chain_size == 4
    assert pool.max_pages == 100 and pool.name == "sub"
    with pytest.raises(AttributeError):
        pool.other = 1  # type: ignore[attr-defined]


def test_obj_view_is_a_read_only_copy() -> None:
    pool = ZsPool("view")
    h = pool.malloc_write(b"v" * 500, 500)
    view = pool.obj_view(h, 300)
    assert isinstance(view, memoryview) and view.readonly and bytes(view) == b"v" * 300
    pool.free(h)
    assert bytes(view) == b"v" * 300  # a copy: still valid after the object is gone


def test_compact_lock_hook() -> None:
    pool = ZsPool("hook")
    hs = [pool.malloc(1016) for _ in range(8)]
    for h in hs[1:4] + hs[5:8]:
        pool.free(h)
    assert pool._compact_lock.acquire(blocking=False)
    assert not pool._compact_lock.acquire(blocking=False)
    assert pool.compact() == 0
    pool._compact_lock.release()
    assert pool.compact() == 1


# --------------------------------------------------------------------------------------------
# The plain-C API (csrc/zsmalloc.h), called through ctypes as another C file would
# --------------------------------------------------------------------------------------------


def _lib() -> ctypes.PyDLL:
    lib = ctypes.PyDLL(_native.__file__)
    p, u32, vp = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "zs_create": (p, [ctypes.c_int, ctypes.c_long]),
        "zs_destroy": (None, [p]),
        "zs_lock": (None, [p]),
        "zs_unlock": (None, [p]),
        "zs_trylock": (ctypes.c_int, [p]),
        "zs_malloc_write_locked": (ctypes.c_int, [p, vp, ctypes.c_uint, ctypes.POINTER(u32)]),
        "zs_free_locked": (ctypes.c_int, [p, u32]),
        "zs_obj_ptr_locked": (p, [p, u32, ctypes.POINTER(ctypes.c_uint)]),
        "zs_pages_allocated": (ctypes.c_long, [p]),
        "zs_objects_in_use": (ctypes.c_long, [p]),
        "zs_compact": (ctypes.c_long, [p]),
        "zs_check_invariants_locked": (ctypes.c_char_p, [p, ctypes.c_char_p, ctypes.c_size_t]),
        "pyz_zspool_pool": (p, [ctypes.py_object]),
        "pyz_zspool_is_exact": (ctypes.c_int, [ctypes.py_object]),
        "pyz_zspool_malloc_error": (ctypes.py_object, [ctypes.py_object, ctypes.c_int,
                                                       ctypes.c_uint]),
        "pyz_zspool_handle_error": (ctypes.py_object, [ctypes.py_object, u32]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def test_c_api_drives_a_pool_as_the_python_type_does() -> None:
    lib = _lib()
    pool = lib.zs_create(8, -1)
    assert pool and lib.zs_create(3, -1) is None  # bad chain size
    ref = PyZsPool("capi")
    rnd = random.Random(9)
    live: dict[int, bytes] = {}
    try:
        lib.zs_lock(pool)
        assert lib.zs_trylock(pool) != 0  # busy
        h = ctypes.c_uint32()
        assert lib.zs_malloc_write_locked(pool, None, 0, ctypes.byref(h)) == -errno.EINVAL
        assert lib.zs_malloc_write_locked(pool, None, 4097, ctypes.byref(h)) == -errno.ENOSPC
        for _ in range(3000):
            if live and rnd.random() < 0.4:
                k = rnd.choice(list(live))
                assert lib.zs_free_locked(pool, k) == 0
                assert lib.zs_free_locked(pool, k) == -errno.EINVAL  # double free
                ref.free(k)
                del live[k]
            else:
                blob = rnd.randbytes(rnd.randint(1, 4096))
                assert lib.zs_malloc_write_locked(pool, blob, len(blob), ctypes.byref(h)) == 0
                assert h.value == ref.malloc_write(blob, len(blob))  # the same handle
                live[h.value] = blob
        for k, blob in live.items():
            size = ctypes.c_uint()
            ptr = lib.zs_obj_ptr_locked(pool, k, ctypes.byref(size))
            assert size.value == len(blob) and ctypes.string_at(ptr, size.value) == blob
        assert lib.zs_obj_ptr_locked(pool, 0, None) is None
        assert lib.zs_check_invariants_locked(pool, ctypes.create_string_buffer(256), 256) is None
        assert lib.zs_pages_allocated(pool) == ref.pages_allocated
        assert lib.zs_objects_in_use(pool) == ref.objects_in_use == len(live)
        lib.zs_unlock(pool)
        assert lib.zs_compact(pool) == ref.compact()
        assert lib.zs_pages_allocated(pool) == ref.pages_allocated
    finally:
        lib.zs_destroy(pool)


def test_c_helpers_for_python_pools() -> None:
    lib = _lib()

    class Sub(ZsPool):
        __slots__ = ()

        def malloc_write(self, data: Any, length: int) -> int:
            return super().malloc_write(data, length)

    assert lib.pyz_zspool_is_exact(ZsPool("x")) == 1
    assert lib.pyz_zspool_is_exact(_native.ZsPool("x")) == 1
    assert lib.pyz_zspool_is_exact(Sub("x")) == 0
    with pytest.raises(TypeError):
        lib.pyz_zspool_pool(PyZsPool("x"))
    pool = ZsPool("helpers", max_pages=1)
    assert lib.pyz_zspool_pool(pool)
    for rc, length, exc in ((-errno.EINVAL, 0, InvalidParameter), (-errno.ENOSPC, 4097, None),
                            (-errno.ENOMEM, 100, AllocFail)):
        with pytest.raises(Exception) as got:
            lib.pyz_zspool_malloc_error(pool, rc, length)
        with pytest.raises(Exception) as want:
            pool.malloc(length)
        assert (type(got.value), str(got.value)) == (type(want.value), str(want.value))
        assert exc is None or isinstance(got.value, exc)
    with pytest.raises(InvalidParameter, match="7 is not a live handle"):
        lib.pyz_zspool_handle_error(pool, 7)


def _fill_huge(pool: ZsPool, n: int) -> list[tuple[int, bytes]]:
    """n objects of the huge class (one page per zspage), each with its own bytes."""
    out = []
    for i in range(n):
        data = i.to_bytes(4, "little") * 1024
        out.append((pool.malloc_write(data, 4096), data))
    return out


def test_block_cache_hands_a_dead_pool_memory_to_the_next() -> None:
    drain_block_cache()
    a = ZsPool("a")
    _fill_huge(a, 64)
    a.destroy()
    assert block_cache_pages() == 64
    b = ZsPool("b")
    objs = _fill_huge(b, 100)  # 64 from the cache, 36 fresh
    assert block_cache_pages() == 0
    for h, data in objs:
        assert b.read(h, 4096) == data
    b._check_invariants()
    b.destroy()
    assert drain_block_cache() == 100
    assert block_cache_pages() == 0


def test_block_cache_is_bounded() -> None:
    drain_block_cache()
    p = ZsPool("big")
    _fill_huge(p, BLOCK_CACHE_PAGES + 100)
    p.destroy()
    assert block_cache_pages() == BLOCK_CACHE_PAGES
    assert drain_block_cache() == BLOCK_CACHE_PAGES


def test_block_cache_shared_by_threads() -> None:
    """Pools in two threads take and give back cached blocks at once; no byte is mixed up."""
    drain_block_cache()
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            rng = random.Random(seed)
            for _ in range(30):
                pool = ZsPool(f"t{seed}")
                objs = []
                for _ in range(rng.randrange(1, 200)):
                    size = rng.randrange(1, 4097)
                    data = rng.randbytes(size)
                    objs.append((pool.malloc_write(data, size), data))
                for h, _data in objs[::2]:
                    pool.free(h)
                for h, data in objs[1::2]:
                    assert pool.read(h, len(data)) == data
                pool._check_invariants()
                pool.destroy()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert 0 < block_cache_pages() <= BLOCK_CACHE_PAGES
    drain_block_cache()
