"""``Zswap.precompress``: pages about to be stored compressed ahead on a helper thread.

Whatever the helper did or did not finish, a store must leave exactly what a store without
it leaves: the same results, counters, entries and bytes in zsmalloc. These tests compare a
C-flow instance that precompresses with one that does not, including pages changed after
they were handed over, a compressor switched in between, and a fork.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.errors import InvalidPage

from .conftest import random_page, text_page


def _zswap(**kw: object) -> Zswap:
    kw.setdefault("totalram_pages", None)
    kw.setdefault("shrink_work", "inline")
    kw.setdefault("cpus", 1)
    z = Zswap(flow="native", **kw)  # type: ignore[arg-type]
    z.swapon(0, 256)
    return z


def _page(kind: int, seed: int) -> bytes:
    if kind == 0:
        return text_page(seed)
    if kind == 1:
        return random_page(seed)  # incompressible: stored as-is
    return bytes(PAGE_SIZE - 8) + seed.to_bytes(8, "little")


def _state(z: Zswap) -> tuple[object, ...]:
    objects = [z.entry_pool(e).zs_pool.read(e.handle, e.length) for e in z.entries(0)]
    return z.stats(), z.vmstat(), z.entries(0), z.total_pages(), z.compressed_bytes(), objects


def _buffer(pages: list[bytes]) -> tuple[memoryview, list[memoryview]]:
    """The pages in one buffer, as the mm model holds its memory, and a view of each."""
    mem = memoryview(bytearray(b"".join(pages)))
    return mem, [mem[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(len(pages))]


def _run_threads(worker: Callable[[int], None], n: int) -> None:
    """worker(0) .. worker(n - 1) on n threads at once, until all are done."""
    import threading

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_stores_take_the_helpers_output_and_store_the_same() -> None:
    pages = [_page(i % 3, i) for i in range(32)]
    ahead, plain = _zswap(), _zswap()
    _, views = _buffer(pages)
    assert ahead.precompress(views) == 32
    ahead.precompress_wait()
    for i, v in enumerate(views):
        assert ahead.store(v, 0, i + 1) == plain.store(pages[i], 0, i + 1)
    assert ahead.precompress_counts() == (32, 32)
    assert _state(ahead) == _state(plain)


def test_a_page_changed_after_the_hand_over_is_compressed_again() -> None:
    pages = [text_page(i) for i in range(4)]
    mem, views = _buffer(pages)
    ahead, plain = _zswap(), _zswap()
    ahead.precompress(views)
    ahead.precompress_wait()
    mem[PAGE_SIZE + 100:PAGE_SIZE + 108] = b"CHANGED!"
    for i, v in enumerate(views):
        ahead.store(v, 0, i + 1)
        plain.store(bytes(v), 0, i + 1)
    assert ahead.precompress_counts() == (3, 4)
    assert _state(ahead) == _state(plain)
    out = bytearray(PAGE_SIZE)
    assert ahead.load(out, 0, 2) and out == mem[PAGE_SIZE:2 * PAGE_SIZE]


def test_a_page_handed_over_again_keeps_its_result() -> None:
    """Reclaim hands its next candidates over early, then isolates them in smaller batches:
    each page handed over again from the same place with the same bytes keeps what the helper
    did (not copied, not compressed again), and the stores take every result."""
    pages = [_page(i % 3, i) for i in range(8)]
    ahead, plain = _zswap(), _zswap()
    _, views = _buffer(pages)
    assert ahead.precompress(views[::-1]) == 8
    ahead.precompress_wait()
    for k in range(0, 8, 2):
        assert ahead.precompress(views[k:k + 2]) == 2
        for i in (k, k + 1):
            assert ahead.store(views[i], 0, i + 1) == plain.store(pages[i], 0, i + 1)
    assert ahead.precompress_counts() == (8, 8)
    assert _state(ahead) == _state(plain)


def test_a_page_changed_before_it_is_handed_over_again_is_copied_again() -> None:
    pages = [text_page(i) for i in range(4)]
    mem, views = _buffer(pages)
    ahead, plain = _zswap(), _zswap()
    ahead.precompress(views)
    ahead.precompress_wait()
    mem[100:108] = b"CHANGED!"
    ahead.precompress(views)
    ahead.precompress_wait()
    for i, v in enumerate(views):
        ahead.store(v, 0, i + 1)
        plain.store(bytes(v), 0, i + 1)
    assert ahead.precompress_counts() == (4, 5)
    assert _state(ahead) == _state(plain)


def test_pages_picked_by_index_from_one_buffer_are_the_same_hand_over() -> None:
    """precompress(buffer, indexes), the mm model's form, hands over the very pages of the
    buffer: stores of views of them take the results, and handing them over again as views
    keeps what was done (same place, same bytes)."""
    pages = [_page(i % 3, i) for i in range(12)]
    ahead, plain = _zswap(), _zswap()
    mem, views = _buffer(pages)
    assert ahead.precompress(mem, [11, 3, 7, 0]) == 4
    assert ahead.precompress(mem.obj, range(8, 11)) == 3  # any buffer, any int sequence
    ahead.precompress_wait()
    assert ahead.precompress([views[i] for i in (0, 3, 7, 8, 9, 10, 11)]) == 7
    for i in (0, 3, 7, 8, 9, 10, 11, 1):
        assert ahead.store(views[i], 0, i + 1) == plain.store(pages[i], 0, i + 1)
    assert ahead.precompress_counts() == (7, 7)
    assert _state(ahead) == _state(plain)


def test_results_of_earlier_batches_outlast_a_batch_of_new_pages() -> None:
    """Reclaim hands over the 64 folios at the inactive tail in two batches, then isolates
    some folios that were not among them: their batch takes free room, and the 64 results
    are all still there when their stores come."""
    pages = [_page(i % 3, i) for i in range(80)]
    ahead, plain = _zswap(max_pool_percent=100), _zswap(max_pool_percent=100)
    ahead.swapoff(0)
    ahead.swapon(0, 256)
    mem, views = _buffer(pages)
    assert ahead.precompress(mem, range(0, 32)) == 32
    assert ahead.precompress(mem, range(32, 64)) == 32
    ahead.precompress_wait()
    assert ahead.precompress(mem, range(64, 80)) == 16
    ahead.precompress_wait()
    for start in range(0, 80, 16):
        ahead.precompress(mem, range(start, start + 16))
        for i in range(start, start + 16):
            assert ahead.store(views[i], 0, i + 1) == plain.store(pages[i], 0, i + 1)
    assert ahead.precompress_counts() == (80, 80)
    assert _state(ahead) == _state(plain)


def test_a_lent_buffer_stays_until_released_and_its_changes_are_never_stale() -> None:
    """The index form lends its buffer: the helper copies each page when it gets to it, so
    the buffer stays exported (a bytearray cannot be resized) until another buffer is lent,
    precompress_wait() or close(); dropping the caller's last reference to it is safe; and a
    page changed at any point before its store is stored as it is then."""
    pages = [_page(i % 3, i) for i in range(32)]
    ahead, plain = _zswap(), _zswap()
    mem = bytearray(b"".join(pages))
    assert ahead.precompress(mem, range(32)) == 32
    with pytest.raises(BufferError):
        mem.extend(b"x")  # lent: its memory must stay where the helper reads it
    for i in range(0, 32, 3):  # changed while the helper may be copying it
        mem[i * PAGE_SIZE:i * PAGE_SIZE + 8] = b"CHANGED!"
    view = memoryview(mem)
    for i in range(32):
        page = view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
        assert ahead.store(page, 0, i + 1) == plain.store(bytes(page), 0, i + 1)
    del page, view
    assert _state(ahead) == _state(plain)
    ahead.precompress_wait()
    mem.extend(b"x")  # released

    other = bytearray(mem[:8 * PAGE_SIZE])
    assert ahead.precompress(mem, range(8)) == 8
    assert ahead.precompress(other, range(8)) == 8  # another buffer lent: the first released
    del mem[-1]
    ahead.close()
    other.extend(b"x")  # close() released it

    z = _zswap()
    lent = bytearray(b"".join(pages))
    z.precompress(lent, range(32))
    del lent  # the flow keeps the memory until the helper is done with it
    gc.collect()
    z.precompress_wait()
    assert z.precompress_counts()[1] == 32


def test_another_compressor_since_the_hand_over_is_a_miss() -> None:
    pages = [text_page(i) for i in range(3)]
    ahead, plain = _zswap(), _zswap()
    ahead.precompress(pages)
    ahead.precompress_wait()
    for z in (ahead, plain):
        z.set_param("compressor", "lz4")
        for i, p in enumerate(pages):
            z.store(p, 0, i + 1)
    assert ahead.precompress_counts() == (0, 3)
    assert _state(ahead) == _state(plain)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 50), st.booleans(),
                          st.booleans()), min_size=1, max_size=40),
       st.integers(0, 3))
def test_any_mix_of_hand_overs_changes_and_stores_is_unchanged(
        ops: list[tuple[int, int, bool, bool]], wait_every: int) -> None:
    """Batches handed over at random points, pages changed or not stored, the helper waited
    for or not: the outcome is the plain store's."""
    ahead, plain = _zswap(max_pool_percent=100), _zswap(max_pool_percent=100)
    mem = bytearray(PAGE_SIZE * len(ops))
    views = [memoryview(mem)[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(len(ops))]
    for i, (kind, seed, _, _) in enumerate(ops):
        views[i][:] = _page(kind, seed)
    for start in range(0, len(ops), 7):
        batch = list(range(start, min(start + 7, len(ops))))
        if start % 14 == 0:  # the next candidates early, as reclaim hands them over
            ahead.precompress([views[i] for i in range(start, min(start + 32, len(ops)))])
        if start % 21 == 0:  # by index, as the mm model does
            ahead.precompress(mem, batch)
        else:
            ahead.precompress([views[i] for i in batch])
        if wait_every and start % (7 * wait_every) == 0:
            ahead.precompress_wait()
        for i in batch:
            _, seed, change, skip = ops[i]
            if change:
                views[i][:8] = (seed + 1).to_bytes(8, "little")
            if skip:
                continue
            assert ahead.store(views[i], 0, i + 1) == plain.store(bytes(views[i]), 0, i + 1)
    assert _state(ahead) == _state(plain)


def test_bad_hand_overs_are_refused_and_change_nothing() -> None:
    z = _zswap()
    with pytest.raises(InvalidPage):
        z.precompress([bytes(PAGE_SIZE), bytes(100)])
    with pytest.raises(TypeError):
        z.precompress(5)  # type: ignore[arg-type]
    mem = bytearray(4 * PAGE_SIZE)
    for bad in ([0, 4], [-1], [1, 10**30]):
        with pytest.raises(InvalidPage):
            z.precompress(mem, bad)
    with pytest.raises(TypeError):
        z.precompress(mem, [0, "1"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        z.precompress(5, [0])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        z.precompress(mem, 3)  # type: ignore[arg-type]
    assert z.precompress_counts() == (0, 0)
    assert z.precompress([text_page(i) for i in range(40)]) == 32  # reclaim's batch at most
    assert z.precompress([]) == 0


def test_the_python_flow_does_nothing() -> None:
    z = Zswap(flow="python", totalram_pages=None, cpus=1)
    assert z.precompress([text_page(0)]) == 0


def test_a_zswap_dropped_with_work_in_flight_stops_its_helper() -> None:
    for _ in range(20):
        z = _zswap()
        z.precompress([text_page(i) for i in range(32)])
        del z
        gc.collect()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_stores_without_its_parents_helper() -> None:
    pages = [text_page(i) for i in range(8)]
    z, plain = _zswap(), _zswap()
    z.precompress(pages)
    pid = os.fork()
    if pid == 0:  # the child: the helper thread is not here
        code = 1
        try:
            for i, p in enumerate(pages):
                z.store(p, 0, i + 1)
                plain.store(p, 0, i + 1)
            z.precompress(pages)  # a helper of its own
            z.precompress_wait()
            code = 0 if _state(z) == _state(plain) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_threads_handing_over_and_storing_at_once_store_what_they_meant() -> None:
    """Several threads, one helper: batches replace each other under the stores of other
    threads; every page must still load back as it was stored."""
    z = _zswap(max_pool_percent=100)
    z.swapoff(0)
    z.swapon(0, 4 * 32 * 8 + 1)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for rnd in range(8):
                base = 1 + (k * 8 + rnd) * 32
                pages = [_page((k + i) % 3, base + i) for i in range(32)]
                z.precompress(pages)
                for i, p in enumerate(pages):
                    assert z.store(p, 0, base + i)
                out = bytearray(PAGE_SIZE)
                for i, p in enumerate(pages):
                    assert z.load(out, 0, base + i) and out == p
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    _run_threads(worker, 4)
    assert not errors


def test_threads_lending_their_own_buffers_at_once_store_what_they_meant() -> None:
    """Each thread lends its own buffer (the index form), which ends the loan of the buffer
    lent before, while other threads store from theirs and change them: every page loads
    back as it was stored, and every buffer can be resized once the helper is waited for."""
    z = _zswap(max_pool_percent=100)
    z.swapoff(0)
    z.swapon(0, 4 * 6 * 16 + 1)
    errors: list[BaseException] = []
    buffers = [bytearray(16 * PAGE_SIZE) for _ in range(4)]

    def worker(k: int) -> None:
        try:
            mem = buffers[k]
            view = memoryview(mem)
            for rnd in range(6):
                base = 1 + (k * 6 + rnd) * 16
                for i in range(16):
                    view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] = _page((k + i) % 3, base + i)
                z.precompress(mem, range(16))
                view[:8] = b"CHANGED!"  # while the helper may be copying it
                for i in range(16):
                    assert z.store(view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE], 0, base + i)
                out = bytearray(PAGE_SIZE)
                for i in range(16):
                    assert z.load(out, 0, base + i)
                    assert out == view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
            view.release()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    _run_threads(worker, 4)
    assert not errors
    z.precompress_wait()
    for mem in buffers:
        mem.extend(b"x")  # no loan left


def test_nothing_is_handed_over_while_the_pool_is_full() -> None:
    """A full pool refuses stores before they compress (zswap_check_limits): handing their
    pages to the helper would be wasted work. Once the pool is below the accept threshold
    again, pages are handed over; not while zswap is disabled."""
    z = _zswap(totalram_pages=64, shrink_work="clock")
    offset = 1
    while not z.stats()["pool_limit_hit"]:
        z.store(text_page(offset), 0, offset)
        offset += 1
    pages = [text_page(1000 + i) for i in range(8)]
    assert z.precompress(pages) == 0
    assert not z.store(pages[0], 0, offset)  # refused, as the hand-over foresaw
    for e in z.entries(0):  # make room below the threshold
        z.invalidate(0, e.offset)
    assert z.precompress(pages) == 8
    z.precompress_wait()
    assert z.store(pages[0], 0, offset)
    assert z.precompress_counts() == (1, 8)
    z.set_param("enabled", False)
    assert z.precompress(pages) == 0
