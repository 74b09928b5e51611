"""Operations that race: swapoff, close and a second operation on the same slot while a store,
load or writeback is in flight (docs/RELIABILITY.md, "one slot, one operation").

The deterministic tests run the racing call from inside the first operation (a transform
whose compress or decompress runs a hook, so the first operation is exactly between its
lookup and its publish); the threaded ones rebuild the issue's reproducers with a time bound.
Without the fixes: a store published into a tree swapoff had freed (segfault, or an
out-of-bounds write after a smaller swapon); a load racing an invalidate and a store of its
slot handed a page out twice or deleted the newer page; a close under a store crashed.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from pyzswap import SlotBusy, Zswap, ZswapError
from pyzswap._types import BytesLike
from pyzswap.compress import (
    PAGE_SIZE,
    Compressor,
    Transform,
    get_compressor,
    register_compressor,
    unregister_compressor,
)
from pyzswap.errors import InvalidParameter
from pyzswap.swap import SwapTable


class _HookTransform(Transform):
    def __init__(self, owner: HookCompressor) -> None:
        self._owner = owner
        self._inner = get_compressor("lz4").new_transform()

    def compress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        hook, self._owner.on_compress = self._owner.on_compress, None
        if hook is not None:
            hook()
        return self._inner.compress(src, dst)

    def decompress(self, src: BytesLike, dst: bytearray | memoryview) -> int:
        hook, self._owner.on_decompress = self._owner.on_decompress, None
        if hook is not None:
            hook()
        return self._inner.decompress(src, dst)


class HookCompressor(Compressor):
    """lz4, whose next compress / decompress first runs a one-shot hook: the racing call."""

    name = "race-hook"

    def __init__(self) -> None:
        self.on_compress: Callable[[], None] | None = None
        self.on_decompress: Callable[[], None] | None = None

    def new_transform(self) -> Transform:
        return _HookTransform(self)


#: Every test here runs on both flows (conftest.flow).
pytestmark = pytest.mark.usefixtures("flow")


@pytest.fixture
def hooked(flow: str) -> Iterator[tuple[Zswap, HookCompressor]]:
    comp = register_compressor(HookCompressor(), replace=True)
    assert isinstance(comp, HookCompressor)
    z = Zswap(compressor=comp.name, totalram_pages=None, flow=flow)
    z.swapon(0, 1 << 14)
    z.store(os.urandom(PAGE_SIZE), 0, 0)  # places this thread on a CPU
    z.invalidate(0, 0)
    try:
        yield z, comp
    finally:
        z.close()
        unregister_compressor(comp.name)


def _run_threads(*targets: Callable[[], None]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _page(n: int) -> bytes:
    return (b"version %08d " % n) * (PAGE_SIZE // 17) + bytes(PAGE_SIZE % 17)


# ---------------------------------------------------------------- swapoff --------------------
@pytest.mark.parametrize("reswapon", [None, 16, 1 << 14], ids=["off", "on-smaller", "on-same"])
def test_swapoff_during_a_store_is_refused(hooked: tuple[Zswap, HookCompressor],
                                           reswapon: int | None) -> None:
    """The issue's crash 1, made deterministic: swapoff (and a swapon, maybe smaller) while a
    store of an empty type compresses. The store used to publish into the freed tree."""
    z, comp = hooked
    seen: list[BaseException] = []

    def swapoff_again() -> None:
        try:
            z.swapoff(0)
        except SlotBusy as exc:
            seen.append(exc)
            return
        if reswapon is not None:  # pragma: no cover - the swapoff must be refused
            z.swapon(0, reswapon)

    comp.on_compress = swapoff_again
    store = z.store
    assert store(_page(1), 0, 10_000)
    assert len(seen) == 1 and "in flight" in str(seen[0])
    out = bytearray(PAGE_SIZE)
    assert z.load(out, 0, 10_000) and bytes(out) == _page(1)
    z.swapoff(0)  # nothing in flight now


def test_store_and_swapoff_threads_never_crash() -> None:
    """The issue's reproducer: one thread stores and invalidates a slot, another swaps the
    type off and on; without the fix a segfault within seconds. Every refusal must be a
    clear error, and whatever was stored must read back."""
    z = Zswap(compressor="lz4", totalram_pages=None)
    z.swapon(0, 1024)
    stop = time.monotonic() + 1.5
    unexpected: list[BaseException] = []
    counts = {"stored": 0, "busy": 0, "off": 0}

    def storer() -> None:
        out = bytearray(PAGE_SIZE)
        n = 0
        while time.monotonic() < stop:
            n += 1
            try:
                if z.store(_page(n), 0, 5):
                    counts["stored"] += 1
                    if z.load(out, 0, 5) and bytes(out) != _page(n):
                        unexpected.append(AssertionError(f"page {n} came back wrong"))
                z.invalidate(0, 5)
            except SlotBusy:
                counts["busy"] += 1
            except InvalidParameter as exc:  # the type is off right now
                assert "not on" in str(exc) or "outside" in str(exc) or "swapped-on" in str(exc)
                counts["off"] += 1
            except BaseException as exc:
                unexpected.append(exc)
                return

    def swapper() -> None:
        while time.monotonic() < stop:
            try:
                z.swapoff(0)
                z.swapon(0, 1024 if time.monotonic_ns() & 1 else 8)
            except (SlotBusy, ZswapError):
                pass  # busy, or entries still stored
            except BaseException as exc:
                unexpected.append(exc)
                return

    _run_threads(storer, swapper)
    assert not unexpected, unexpected[:3]
    assert counts["stored"] > 0
    z.close()


# ---------------------------------------------------------------- the same slot --------------
def test_invalidate_and_store_during_a_load_of_the_slot_are_refused(
        hooked: tuple[Zswap, HookCompressor]) -> None:
    """The issue's silent loss, made deterministic: while a load of slot 7 decompresses, an
    invalidate and a store of slot 7 run. Without the rule the store's new entry reused the
    freed handle, the load erased it and returned the old page: the new page was lost. Now
    both are refused and the load hands the page out once."""
    z, comp = hooked
    assert z.store(_page(1), 0, 7)
    refused: list[str] = []

    def race() -> None:
        for call in (lambda: z.invalidate(0, 7), lambda: z.store(_page(2), 0, 7)):
            try:
                call()
            except SlotBusy as exc:
                refused.append(str(exc))

    comp.on_decompress = race
    out = bytearray(PAGE_SIZE)
    load = z.load
    assert load(out, 0, 7) and bytes(out) == _page(1)
    assert len(refused) == 2 and all("0:7" in r for r in refused)
    assert z.lookup(0, 7) is None and not z.load(out, 0, 7)  # handed out exactly once
    assert z.stats()["stored_pages"] == 0


def test_a_second_load_of_a_slot_being_loaded_is_refused(
        hooked: tuple[Zswap, HookCompressor]) -> None:
    z, comp = hooked
    assert z.store(_page(3), 0, 9)
    inner: list[BaseException] = []

    def load_again() -> None:
        try:
            z.load(bytearray(PAGE_SIZE), 0, 9)
        except SlotBusy as exc:
            inner.append(exc)

    comp.on_decompress = load_again
    out = bytearray(PAGE_SIZE)
    assert z.load(out, 0, 9) and bytes(out) == _page(3)
    assert len(inner) == 1


def test_load_racing_invalidate_and_store_threads_hand_out_each_page_once() -> None:
    """The issue's threaded reproducer: one thread stores version n of slot 0:5 and then
    invalidates it, another loads the slot. Every version is handed out at most once, only
    a version that was stored comes back, and every refusal is SlotBusy."""
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=2)
    z.swapon(0, 64)
    stop = time.monotonic() + 1.5
    stored: set[int] = set()
    loaded: list[int] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def writer() -> None:
        n = 0
        while time.monotonic() < stop:
            n += 1
            try:
                if z.store(_page(n), 0, 5):
                    with lock:
                        stored.add(n)
                z.invalidate(0, 5)
            except SlotBusy:
                pass
            except BaseException as exc:
                unexpected.append(exc)
                return

    def reader() -> None:
        out = bytearray(PAGE_SIZE)
        while time.monotonic() < stop:
            try:
                if z.load(out, 0, 5):
                    loaded.append(int(bytes(out[8:16])))
            except SlotBusy:
                pass
            except BaseException as exc:
                unexpected.append(exc)
                return

    _run_threads(writer, reader)
    assert not unexpected, unexpected[:3]
    assert len(loaded) == len(set(loaded)), "a page was handed out twice"
    assert set(loaded) <= stored
    z.invalidate(0, 5)
    assert z.stats()["stored_pages"] == 0 and z.total_pages() == 0
    z.close()


def test_loads_in_parallel_with_compaction_and_frees_read_every_byte_right() -> None:
    """Loads decompress on a pinned zspage with zsmalloc's lock dropped (zs_obj_read_begin):
    two threads load kept pages (each its own half: one operation per slot) over and over while
    a third stores and frees pages of
    the same size class around them and compacts, which moves objects between zspages and
    frees emptied ones. Every load must return its page exactly."""
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=3)
    kept, churn = 48, 512
    z.swapon(0, kept + churn)
    for i in range(kept):
        assert z.store(_page(i), 0, i)
    stop = time.monotonic() + 1.0
    unexpected: list[BaseException] = []
    counts = {"loads": 0, "moved": 0}

    def loader(cpu: int) -> None:
        z.cpus.migrate_current(cpu)
        out = bytearray(PAGE_SIZE)
        try:
            while time.monotonic() < stop:
                for i in range(cpu, kept, 2):
                    if not z.load(out, 0, i, swapcache=False) or bytes(out) != _page(i):
                        raise AssertionError(f"page {i} came back wrong")
                    counts["loads"] += 1
        except BaseException as exc:
            unexpected.append(exc)

    def churner() -> None:
        z.cpus.migrate_current(2)
        n = kept
        try:
            while time.monotonic() < stop:
                for i in range(kept, kept + churn):
                    n += 1
                    assert z.store(_page(n), 0, i)
                for i in range(kept, kept + churn, 2 if n % 3 else 1):
                    z.invalidate(0, i)
                counts["moved"] += z.compact()
                for i in range(kept, kept + churn):
                    z.invalidate(0, i)
        except BaseException as exc:
            unexpected.append(exc)

    _run_threads(lambda: loader(0), lambda: loader(1), churner)
    assert not unexpected, unexpected[:3]
    assert counts["loads"] > 0 and counts["moved"] > 0
    assert z.stats()["stored_pages"] == kept
    z.close()


def test_store_batch_naming_a_slot_twice_is_refused() -> None:
    z = Zswap(compressor="lz4-x2", totalram_pages=None)
    z.swapon(0, 64)
    with pytest.raises(InvalidParameter, match="twice"):
        z.store_batch([(_page(1), 0, 3), (_page(2), 0, 3)])
    assert z.stats()["stored_pages"] == 0 and z._table.busy_count() == 0
    z.close()


def test_writeback_skips_a_slot_with_a_store_in_flight(tmp_path: os.PathLike[str]) -> None:
    """Writeback of an entry whose slot is being stored again (a redirtied folio) gets
    -EEXIST, as the kernel's finds the folio in the swap cache."""
    comp = register_compressor(HookCompressor(), replace=True)
    assert isinstance(comp, HookCompressor)
    table = SwapTable(tmp_path)
    z = Zswap(compressor=comp.name, totalram_pages=None, swap_table=table)
    t = table.swapon(None, 64)
    z.swapon(t, 64)
    swp = table.folio_alloc_swap(1)
    assert swp is not None
    off = swp & 0xFFFF
    z.store(os.urandom(PAGE_SIZE), t, 60)  # place the thread
    assert z.store(_page(1), t, off)
    old = z.lookup(t, off)
    assert old is not None
    got: list[int] = []
    comp.on_compress = lambda: got.append(z.writeback_entry(old))
    assert z.store(_page(2), t, off)
    assert got == [-errno.EEXIST]
    out = bytearray(PAGE_SIZE)
    assert z.load(out, t, off) and bytes(out) == _page(2)
    z.close()
    table.close()
    unregister_compressor(comp.name)


# ---------------------------------------------------------------- close ----------------------
def test_close_during_a_store_raises_and_stores_nothing(
        hooked: tuple[Zswap, HookCompressor]) -> None:
    z, comp = hooked
    comp.on_compress = z.close
    store = z.store
    with pytest.raises(ZswapError, match="closed"):
        store(_page(1), 0, 3)
    assert z._table.busy_count() == 0


def test_close_during_a_load_raises(hooked: tuple[Zswap, HookCompressor]) -> None:
    z, comp = hooked
    assert z.store(_page(1), 0, 3)
    comp.on_decompress = z.close
    load = z.load
    with pytest.raises(ZswapError, match="closed"):
        load(bytearray(PAGE_SIZE), 0, 3)


def test_after_close_a_slot_that_had_a_page_raises_a_clear_error() -> None:
    """The issue's case: load and invalidate of a slot that still held a page raised a bare
    KeyError after close()."""
    z = Zswap(compressor="lz4", totalram_pages=None)
    z.swapon(0, 8)
    assert z.store(_page(1), 0, 1)
    z.close()
    for call in (lambda: z.load(bytearray(PAGE_SIZE), 0, 1),
                 lambda: z.load(bytearray(PAGE_SIZE), 0, 1, swapcache=False),
                 lambda: z.load_batch([bytearray(PAGE_SIZE)], 0, [1]),
                 lambda: z.invalidate(0, 1)):
        with pytest.raises(ZswapError, match="closed"):
            call()
    z.close()  # idempotent


def test_store_batch_racing_a_compressor_switch_stores_on_the_new_pool(flow: str) -> None:
    """Found by make fuzz: a reclaim batch checked against a native batching pool, then a
    switch to lz4 before it took its pool reference: it streamed into a pool that cannot
    stream. The pool it takes decides the path now. The switch runs inside the batch's
    admission (the memcg's zswap_store_target), between the checks and the pool reference."""
    from pyzswap.memcg import MemCgroup

    class Switching(MemCgroup):
        def zswap_store_target(self) -> tuple[MemCgroup, bool, bool]:
            if z.compressor != "lz4":
                z.set_param("compressor", "lz4")
            return super().zswap_store_target()

    root = Switching()
    z = Zswap(compressor="lz4-x2", totalram_pages=None, memcg_root=root, flow=flow)
    z.swapon(0, 64)
    try:
        assert z.store_batch([(_page(i), 0, i) for i in range(4)], root) == [True] * 4
        assert z.compressor == "lz4"
        out = bytearray(PAGE_SIZE)
        for i in range(4):
            assert z.load(out, 0, i) and bytes(out) == _page(i)
            assert z.lookup(0, i) is None
        assert z.stats()["stored_pages"] == 0
    finally:
        z.close()
