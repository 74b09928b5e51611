"""Every native type refuses use before ``__init__``, a second ``__init__`` and use after it
was closed or destroyed, with a Python exception and nothing changed (docs/RELIABILITY.md).

Each case used to crash or corrupt the heap: a ``PageCodec`` used uninitialised and then
initialised as lz4hc reused a 16 KiB lz4 state as a 256 KiB lz4hc one; an uninitialised
``EntryTable`` dereferenced NULL on its second insert; two ``lru_reparent`` calls made a
redirect cycle that hung the next insert; ``Job.close()`` freed a job another thread was
waiting on. The zswap state, the C flow and a pool's C parts keep the same contract.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable

import pytest

from pyzswap import _native
from pyzswap.compress import PAGE_SIZE
from pyzswap.errors import InvalidParameter, ZswapError
from pyzswap.zswap import ZswapEntry

PAGE = bytes(range(256)) * 16


def _uninit(cls: type) -> object:
    return cls.__new__(cls)


# ---------------------------------------------------------------- use before __init__ --------
UNINIT_CALLS: list[tuple[type, str, Callable[[object], object]]] = [
    (_native.PageCodec, "compress", lambda c: c.compress(PAGE, bytearray(8192))),  # type: ignore[attr-defined]
    (_native.PageCodec, "decompress", lambda c: c.decompress(b"\x10a", bytearray(16))),  # type: ignore[attr-defined]
    (_native.PageCodec, "algorithm", lambda c: c.algorithm),  # type: ignore[attr-defined]
    (_native.EntryTable, "swapon", lambda t: t.swapon(0, 100)),  # type: ignore[attr-defined]
    (_native.EntryTable, "insert", lambda t: t.insert(0, 1, 100, 1, 1, -1, 0)),  # type: ignore[attr-defined]
    (_native.EntryTable, "get", lambda t: t.get(0, 1)),  # type: ignore[attr-defined]
    (_native.EntryTable, "lru_reparent", lambda t: t.lru_reparent(1, 2)),  # type: ignore[attr-defined]
    (_native.EntryTable, "lru_rotate_head", lambda t: t.lru_rotate_head(0)),  # type: ignore[attr-defined]
    (_native.EntryTable, "slots_begin", lambda t: t.slots_begin(0, 1)),  # type: ignore[attr-defined]
    (_native.NativeFlow, "store", lambda f: f.store(PAGE, 0, 1)),  # type: ignore[attr-defined]
    (_native.NativeFlow, "load", lambda f: f.load(bytearray(PAGE_SIZE), 0, 1)),  # type: ignore[attr-defined]
    (_native.NativeFlow, "store_batch", lambda f: f.store_batch([(PAGE, 0, 1)])),  # type: ignore[attr-defined]
    (_native.NativeFlow, "on_swap_free", lambda f: f.on_swap_free(0, 1, 1)),  # type: ignore[attr-defined]
    (_native.NativeFlow, "precompress", lambda f: f.precompress(None, [PAGE])),  # type: ignore[attr-defined]
    (_native.SwapFreeHook, "__call__", lambda h: h(0, 1, 1)),  # type: ignore[operator]
    (_native.ZswapState, "check_limits", lambda s: s.check_limits()),  # type: ignore[attr-defined]
    (_native.ZswapState, "stats", lambda s: s.stats()),  # type: ignore[attr-defined]
    (_native.ZswapState, "pools", lambda s: s.pools()),  # type: ignore[attr-defined]
    (_native.ZswapState, "take_released", lambda s: s.take_released()),  # type: ignore[attr-defined]
    (_native.ZswapState, "publish", lambda s: s.publish(0, 1, 1, [(1, 100)], -1)),  # type: ignore[attr-defined]
    (_native.ZswapState, "table", lambda s: s.table),  # type: ignore[attr-defined]
    (_native.AcompCtx, "mutex", lambda c: c.mutex),  # type: ignore[attr-defined]
    (_native.CtxResources, "free", lambda r: r.free()),  # type: ignore[attr-defined]
    (_native.ZsPool, "malloc_write", lambda z: z.malloc_write(b"x", 1)),  # type: ignore[attr-defined]
    (_native.Engines, "compress", lambda e: e.compress([PAGE], [bytearray(8192)])),  # type: ignore[attr-defined]
    (_native.Engines, "threads", lambda e: e.threads),  # type: ignore[attr-defined]
]


@pytest.mark.parametrize(("cls", "what", "call"), UNINIT_CALLS,
                         ids=[f"{c.__name__}.{w}" for c, w, _ in UNINIT_CALLS])
def test_use_before_init_raises(cls: type, what: str,
                                call: Callable[[object], object]) -> None:
    obj = _uninit(cls)
    with pytest.raises(RuntimeError, match=r"__init__ was not called"):
        call(obj)


def test_a_flow_over_an_uninitialised_state_is_refused() -> None:
    """A NativeFlow needs a ZswapState whose __init__ ran; an uninitialised CtxResources
    cannot become a context's resources (the C flow would find no buffers)."""
    cpus = types.SimpleNamespace(online=[True], placement_gen=1, preempt_hook=None)
    class Owner:
        pass

    owner = Owner()
    with pytest.raises(RuntimeError, match="__init__ was not called"):
        _native.NativeFlow(_uninit(_native.ZswapState), owner, cpus)  # type: ignore[arg-type]
    ctx = _native.AcompCtx(0)
    with pytest.raises(RuntimeError, match="__init__ was not called"):
        ctx.res = _uninit(_native.CtxResources)  # type: ignore[assignment]
    with pytest.raises(TypeError, match=r"must be a pyzswap\._native\.Lock"):
        ctx.mutex = object()  # type: ignore[assignment]
    assert ctx.res is None


def test_entry_table_without_init_refuses_inserts_and_lookups() -> None:
    """The issue's case: a second insert and a get() on an uninitialised table."""
    t = _uninit(_native.EntryTable)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            t.insert(0, 1, 100, 1, 1, -1, 0)  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        t.get(0, 1)  # type: ignore[attr-defined]
    assert len(t) == 0  # type: ignore[arg-type]


def test_a_lock_made_without_init_works() -> None:
    """Lock's state is set up by __new__: there is nothing left for __init__ to do."""
    lock = _uninit(_native.Lock)
    with lock:  # type: ignore[attr-defined]
        assert lock.locked()  # type: ignore[attr-defined]
    assert not lock.locked()  # type: ignore[attr-defined]


def test_a_job_cannot_be_made_from_python() -> None:
    with pytest.raises(TypeError):
        _native.Job()
    with pytest.raises(TypeError):
        _native.Job.__new__(_native.Job)


# ---------------------------------------------------------------- a second __init__ ----------
def test_page_codec_used_uninitialised_then_initialised_is_refused() -> None:
    """The issue's case: without the fix the lz4 state was reused as an lz4hc one (heap
    overflow, glibc abort)."""
    c = _uninit(_native.PageCodec)
    with pytest.raises(RuntimeError):
        c.compress(PAGE, bytearray(8192))  # type: ignore[attr-defined]
    c.__init__("lz4hc")  # type: ignore[misc]
    out = bytearray(8192)
    n = c.compress(PAGE, out)  # type: ignore[attr-defined]
    back = bytearray(PAGE_SIZE)
    assert c.decompress(bytes(out[:n]), back) == PAGE_SIZE and bytes(back) == PAGE  # type: ignore[attr-defined]


def _hook_flow() -> object:
    """A NativeFlow of a live Zswap (kept alive by the flow's hook below)."""
    from pyzswap import Zswap
    z = Zswap(totalram_pages=None, cpus=1)
    _KEEP.append(z)
    return z._native_flow


_KEEP: list[object] = []


def _hook() -> object:
    return _native.SwapFreeHook(_hook_flow(), _KEEP[-1])  # type: ignore[attr-defined]


REINIT: list[tuple[Callable[[], object], tuple[object, ...], Callable[[object], object]]] = [
    (lambda: _native.PageCodec("lz4"), ("lz4hc",), lambda c: c.algorithm),  # type: ignore[attr-defined]
    (lambda: _native.EntryTable(ZswapEntry), (tuple,), lambda t: t.get(0, 1)),  # type: ignore[attr-defined]
    (lambda: _native.ZswapState(_native.EntryTable(tuple), _native.Lock()),
     (_native.EntryTable(tuple), _native.Lock()), lambda s: s.table),  # type: ignore[attr-defined]
    (lambda: _native.AcompCtx(1), (2,), lambda c: (c.cpu, c.mutex)),  # type: ignore[attr-defined]
    (lambda: _native.ZsPool("a"), ("b",), lambda z: z.name),  # type: ignore[attr-defined]
    (lambda: _native.Engines("lz4", threads=0), ("zstd",), lambda e: e.algorithm),  # type: ignore[attr-defined]
    (lambda: _hook(), (_hook_flow(), None), lambda h: h(9, 1, 1)),  # type: ignore[operator]
]



@pytest.mark.parametrize(("make", "args", "probe"), REINIT,
                         ids=["PageCodec", "EntryTable", "ZswapState", "AcompCtx", "ZsPool",
                              "Engines", "SwapFreeHook"])
def test_a_second_init_is_refused_and_changes_nothing(
        make: Callable[[], object], args: tuple[object, ...],
        probe: Callable[[object], object]) -> None:
    obj = make()
    if isinstance(obj, _native.EntryTable):
        obj.swapon(0, 8)
        obj.insert(0, 1, 100, 1, 1, -1, 0)
    before = probe(obj)
    with pytest.raises(RuntimeError, match="called twice"):
        obj.__init__(*args)  # type: ignore[misc]
    assert probe(obj) == before


# ---------------------------------------------------------------- after close ----------------
def test_a_closed_state_refuses_changes_and_its_flow_refuses_calls() -> None:
    from pyzswap import Zswap

    z = Zswap(compressor="lz4", totalram_pages=None, flow="native")
    z.swapon(0, 8)
    state, lock = z._state, z._lock
    with pytest.raises(RuntimeError, match="needs Zswap's lock held"):
        state.publish(0, 1, 1, [(1, 100)], -1)
    z.close()
    with lock, pytest.raises(ZswapError, match="closed"):
        state.publish(0, 1, 1, [(1, 100)], -1)
    with lock:
        assert state.current_get(1) is None and state.close() == []
    for call in (lambda: z.store(PAGE, 0, 1), lambda: z.load(bytearray(PAGE_SIZE), 0, 1),
                 lambda: z.store_batch([(PAGE, 0, 1)])):
        with pytest.raises(ZswapError, match="closed"):
            call()


def test_zspool_after_destroy_raises() -> None:
    z = _native.ZsPool("p")
    h = z.malloc_write(b"abc", 3)
    z.destroy()
    with pytest.raises(InvalidParameter, match="destroyed"):
        z.read(h)
    with pytest.raises(InvalidParameter, match="destroyed"):
        z.malloc_write(b"abc", 3)


def test_job_after_close_raises() -> None:
    e = _native.Engines("lz4", threads=0)
    job = e.compress([PAGE], [bytearray(8192)])
    job.close()
    with pytest.raises(ValueError, match="closed"):
        job.take(0)
    with pytest.raises(ValueError, match="closed"):
        job.wait()


def test_job_closed_while_another_thread_waits_wakes_it() -> None:
    """The issue's hang: ``Job.wait()`` in one thread and ``Job.close()`` in another. Close
    used to free the job under the waiter, which then slept forever on a page nobody would
    finish. Now the waiter is woken (ValueError) and the job freed after it left. The job
    (512 pages of lz4hc at level 12, about a second here) is still running when close
    comes."""
    pages = b"".join((b"abc%05d" % i) * 512 for i in range(512))
    for _ in range(3):
        e = _native.Engines("lz4hc", 12, threads=1)
        job = e.compress([pages], [bytearray(8192) for _ in range(512)])
        waiting = threading.Event()
        outcome: list[BaseException | int] = []

        def waiter(job: _native.Job = job, waiting: threading.Event = waiting,
                   outcome: list[BaseException | int] = outcome) -> None:
            waiting.set()
            try:
                outcome.append(len(job.wait()))
            except BaseException as exc:
                outcome.append(exc)

        t = threading.Thread(target=waiter, daemon=True)
        t.start()
        assert waiting.wait(10)
        job.close()
        t.join(10)
        assert not t.is_alive(), "Job.wait() did not return after Job.close()"
        assert outcome[0] == 512 or isinstance(outcome[0], ValueError)
        e.close()


# ---------------------------------------------------------------- EntryTable's LRU ids -------
def test_reparent_cycle_is_refused() -> None:
    """The issue's hang: lru_reparent(1, 2) then (2, 1) made 2 redirect to 1 and 1 to 2, and
    the next insert spun forever holding the GIL."""
    t = _native.EntryTable(ZswapEntry)
    t.swapon(0, 100)
    t.lru_reparent(1, 2)
    with pytest.raises(ValueError, match="own descendant"):
        t.lru_reparent(2, 1)
    t.insert(0, 1, 100, 1, 1, 1, 1)  # lands on 2's list, which 1 redirects to
    assert t.lru_count(2) == 1 and t.lru_where(1) == (2, True)


@pytest.mark.parametrize("call", [
    lambda t: t.lru_count(2**32 - 1),
    lambda t: t.lru_add(1, 2**31, True),
    lambda t: t.lru_reparent(1, 2**30),
    lambda t: t.lru_rotate_head(-1),
    lambda t: t.insert(0, 1, 100, 1, 1, -1, 2**32 - 1),
])
def test_huge_memcg_ids_are_refused_without_allocating(call: Callable[[object], object]) -> None:
    """The issue's case: an id near 2^32 made the LRU grow a 128 GiB list array."""
    t = _native.EntryTable(ZswapEntry)
    t.swapon(0, 100)
    nbytes = t.nbytes
    with pytest.raises((ValueError, OverflowError)):
        call(t)
    assert t.nbytes == nbytes and len(t) == 0
