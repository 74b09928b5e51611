"""Coverage-guided fuzzing of pyzswap's C extension and public API (``make fuzz``).

Each input is a program: a stream of operations, decoded by atheris's FuzzedDataProvider, on a
small world of objects: the native types of ``pyzswap._native`` (PageCodec, EntryTable, ZsPool,
Lock, Engines and their Jobs, ZswapState, NativeFlow) and its buffer helpers (zero_filled,
the model's Mmu), made with or without ``__init__``, initialised twice, used after close or
destroy, fed bad arguments; and a public ``Zswap`` (store, load, invalidate, batches,
swapon/swapoff, compressor switches, the look-ahead's hand-overs of one buffer's pages changed
under it, close). The first bytes choose how many threads run the program at once (1-3,
sharing the objects), so calls also race.

What counts as a finding: anything the sanitizers report (the extension is built with
AddressSanitizer and UndefinedBehaviorSanitizer by fuzz/build.sh), a crash, a hang (libFuzzer's
-timeout), and from the public API any exception other than a ``ZswapError`` or a
``TypeError`` for an argument of the wrong type (no bare ValueError, KeyError, ...). The raw
native types may raise any Python exception for bad use: there only memory safety counts.

Run it through ``make fuzz`` (FUZZ_SECONDS bounds it); by hand:
``LD_PRELOAD=$(python -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so
PYTHONPATH=build-fuzz/site python fuzz/fuzz_native.py CORPUS_DIR fuzz/corpus``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any

import atheris
import numpy as np

with atheris.instrument_imports(include=["pyzswap"]):
    from pyzswap import SlotBusy, Zswap, ZswapError, _native
    from pyzswap.zswap import ZswapEntry

PAGE = 4096
ALGOS = ["lz4", "lz4hc", "zstd", "lzo", "deflate", "bogus", ""]
COMPRESSORS = ["lz4", "lzo", "zstd", "lz4hc", "deflate", "lz4-x2", "bogus", "zstd-x65"]
NATIVE_ERRORS = (Exception,)  # memory safety is what counts for the raw types
API_ERRORS = (ZswapError, TypeError)


class World:
    """The objects one input works on, shared by its threads."""

    def __init__(self) -> None:
        self.codec: Any = None
        self.table: Any = None
        self.zspool: Any = None
        self.handles: list[int] = []
        self.lock = _native.Lock()
        self.engines: Any = None
        self.job: Any = None
        self.zswap: Any = None
        self.flow: Any = None
        #: pages as the mm model holds them: one buffer, handed over and stored as views
        self.mem = bytearray(8 * PAGE)

    def close(self) -> None:
        for obj in (self.job, self.engines):
            try:
                if obj is not None:
                    obj.close()
            except Exception:
                pass
        if self.zswap is not None:
            self.zswap.close()


def _page(fdp: atheris.FuzzedDataProvider) -> bytes:
    kind = fdp.ConsumeIntInRange(0, 3)
    if kind == 0:
        return bytes(PAGE)
    if kind == 1:
        seed = fdp.ConsumeBytes(16) or b"x"
        return (seed * (PAGE // len(seed) + 1))[:PAGE]
    if kind == 2:
        return fdp.ConsumeBytes(PAGE).ljust(PAGE, b"\0")
    return bytes(fdp.ConsumeIntInRange(0, 255) for _ in range(8)) * (PAGE // 8)


def _int(fdp: atheris.FuzzedDataProvider) -> int:
    """Mostly small ints, sometimes edge values."""
    pick = fdp.ConsumeIntInRange(0, 9)
    if pick < 7:
        return fdp.ConsumeIntInRange(-2, 40)
    return [2**31 - 1, 2**32 - 1, 2**32, 2**63 - 1, 2**64, -(2**63)][fdp.ConsumeIntInRange(0, 5)]


def op_native(w: World, fdp: atheris.FuzzedDataProvider) -> None:
    which = fdp.ConsumeIntInRange(0, 15)
    if which == 0:
        c = _native.PageCodec.__new__(_native.PageCodec)
        if fdp.ConsumeBool():
            c.__init__(ALGOS[fdp.ConsumeIntInRange(0, 1)], fdp.ConsumeIntInRange(0, 13))
        w.codec = c
    elif which == 1 and w.codec is not None:
        src = _page(fdp)[:fdp.ConsumeIntInRange(0, PAGE)]
        dst = bytearray(fdp.ConsumeIntInRange(0, 2 * PAGE))
        if fdp.ConsumeBool():
            w.codec.compress(src, dst)
        else:
            w.codec.decompress(src, dst)
    elif which == 2 and w.codec is not None:
        w.codec.__init__(ALGOS[fdp.ConsumeIntInRange(0, 6)])
    elif which == 3:
        t = _native.EntryTable.__new__(_native.EntryTable)
        if fdp.ConsumeBool():
            t.__init__(ZswapEntry if fdp.ConsumeBool() else tuple)
        w.table = t
    elif which == 4 and w.table is not None:
        if fdp.ConsumeBool():
            w.table.swapon(fdp.ConsumeIntInRange(-1, 33), _int(fdp))
        else:
            w.table.swapoff(fdp.ConsumeIntInRange(-1, 33))
    elif which == 5 and w.table is not None:
        k = fdp.ConsumeIntInRange(0, 3)
        t, off = fdp.ConsumeIntInRange(-1, 3), _int(fdp)
        if k == 0:
            w.table.insert(t, off, fdp.ConsumeIntInRange(0, 4097), _int(fdp) & 0xFFFF,
                           _int(fdp) & 0xFFFF, fdp.ConsumeIntInRange(-1, 5), _int(fdp))
        elif k == 1:
            w.table.get(t, off)
        elif k == 2:
            w.table.pop(t, off)
        else:
            w.table.values(t)
    elif which == 6 and w.table is not None:
        k = fdp.ConsumeIntInRange(0, 6)
        a, b = _int(fdp), _int(fdp)
        if k == 0:
            w.table.lru_reparent(a, b)
        elif k == 1:
            w.table.lru_count(a)
        elif k == 2:
            w.table.lru_add(a, b, fdp.ConsumeBool())
        elif k == 3:
            w.table.lru_move_tail(a, fdp.ConsumeBool())
        elif k == 4:
            w.table.lru_isolate(a)
        elif k == 5:
            w.table.lru_nth(a, b)
        else:
            w.table.lru_items(a)
    elif which == 7 and w.table is not None:
        k = fdp.ConsumeIntInRange(0, 3)
        args = (fdp.ConsumeIntInRange(-1, 3), _int(fdp), fdp.ConsumeIntInRange(0, 4))
        [w.table.slots_begin, w.table.slots_end, w.table.slots_busy,
         w.table.slots_try_begin][k](*args)
    elif which == 8:
        z = _native.ZsPool.__new__(_native.ZsPool)
        if fdp.ConsumeBool():
            z.__init__("fz", fdp.ConsumeIntInRange(0, 20))
        w.zspool, w.handles = z, []
    elif which == 9 and w.zspool is not None:
        k = fdp.ConsumeIntInRange(0, 5)
        if k == 0:
            w.handles.append(w.zspool.malloc_write(_page(fdp), fdp.ConsumeIntInRange(-1, 4097)))
        elif k == 1 and w.handles:
            w.zspool.free(w.handles.pop(fdp.ConsumeIntInRange(0, len(w.handles) - 1)))
        elif k == 2:
            h = w.handles[0] if w.handles and fdp.ConsumeBool() else _int(fdp)
            w.zspool.read_into(h, fdp.ConsumeIntInRange(0, PAGE), bytearray(PAGE))
        elif k == 3:
            w.zspool.compact()
        elif k == 4:
            w.zspool.destroy()
        else:
            w.zspool._check_invariants()
    elif which == 10:
        k = fdp.ConsumeIntInRange(0, 3)
        if k == 0:
            if w.lock.acquire(timeout=0.001):
                w.lock.release()
        elif k == 1:
            w.lock.acquire(blocking=False)
        elif k == 2:
            w.lock.release()
        else:
            w.lock.acquire(timeout=[float("nan"), float("inf"), -3.0, 0.0][
                fdp.ConsumeIntInRange(0, 3)])
    elif which == 11:
        e = _native.Engines.__new__(_native.Engines)
        if fdp.ConsumeBool():
            e.__init__(ALGOS[fdp.ConsumeIntInRange(0, 6)], 0, fdp.ConsumeIntInRange(-1, 3))
        if w.engines is not None and fdp.ConsumeBool():
            w.engines.close()
        w.engines = e
    elif which == 12 and w.engines is not None:
        nr = fdp.ConsumeIntInRange(0, 6)
        pages = b"".join(_page(fdp) for _ in range(nr))
        ring = [bytearray(fdp.ConsumeIntInRange(0, PAGE + 64))
                for _ in range(fdp.ConsumeIntInRange(0, 4))]
        if fdp.ConsumeBool():
            w.job = w.engines.compress([pages], ring, wake=fdp.ConsumeIntInRange(-1, 3))
        else:
            w.job = w.engines.decompress([pages[:fdp.ConsumeIntInRange(0, 200)]] * len(ring),
                                         ring)
    elif which == 13 and w.job is not None:
        k = fdp.ConsumeIntInRange(0, 3)
        if k == 0:
            w.job.take(fdp.ConsumeIntInRange(-1, 6))
        elif k == 1:
            w.job.wait()
        elif k == 2:
            w.job.poll()
        else:
            w.job.close()
    elif which == 14:
        # zswap's state layer and the C flow over it, made with or without __init__, on a
        # fresh entry table or the public Zswap's own state (then any call races the API)
        z = w.zswap
        if z is not None and fdp.ConsumeBool():
            state = z._state
        else:
            state = _native.ZswapState.__new__(_native.ZswapState)
            if fdp.ConsumeBool():
                state.__init__(_native.EntryTable(ZswapEntry), _native.Lock())
        k = fdp.ConsumeIntInRange(0, 4)
        if k == 0:
            state.check_limits()
        elif k == 1:
            state.stats()
        elif k == 2:
            state.count("decompress_fail", _int(fdp))
        else:
            f = _native.NativeFlow.__new__(_native.NativeFlow)
            if z is not None and fdp.ConsumeBool():
                f.__init__(state, z, z.cpus)
            page = _page(fdp)
            if k == 3:
                f.store(page, fdp.ConsumeIntInRange(-1, 2), _int(fdp))
            else:
                f.load(bytearray(PAGE), fdp.ConsumeIntInRange(-1, 2), _int(fdp))
            w.flow = f
    elif which == 15:
        # the module's buffer helper: any buffer, from any place
        buf = bytearray(fdp.ConsumeIntInRange(0, 3 * PAGE))
        _native.zero_filled(memoryview(buf)[fdp.ConsumeIntInRange(0, len(buf)):])
        # the model's MMU: any page indexes (in or out of its arrays), any clock, and the page
        # indexes changed between its calls
        npages = fdp.ConsumeIntInRange(0, 3)
        gs = np.array([fdp.ConsumeIntInRange(-1, 4) for _ in range(fdp.ConsumeIntInRange(0, 6))],
                      dtype=np.int64)
        mmu = _native.Mmu(gs, np.ones(len(gs), dtype=np.int8), bytearray(npages),
                          bytearray(npages), bytearray(npages), bytearray(npages * PAGE),
                          _int(fdp), _int(fdp), float(fdp.ConsumeIntInRange(0, 3)))
        for _ in range(fdp.ConsumeIntInRange(0, 8)):
            if len(gs) and fdp.ConsumeBool():
                gs[fdp.ConsumeIntInRange(0, len(gs) - 1)] = fdp.ConsumeIntInRange(-1, 4)
            mmu.next_fault(float(_int(fdp)))


def op_api(w: World, fdp: atheris.FuzzedDataProvider) -> None:
    if w.zswap is None:
        w.zswap = Zswap(compressor="lz4", totalram_pages=fdp.ConsumeIntInRange(64, 4096),
                        cpus=2, shrink_work="inline")
    z = w.zswap
    which = fdp.ConsumeIntInRange(0, 14)
    t, off = fdp.ConsumeIntInRange(0, 2), fdp.ConsumeIntInRange(0, 70)
    if which == 0:
        nr = fdp.ConsumeIntInRange(1, 3)
        z.store(b"".join(_page(fdp) for _ in range(nr)), t, off)
    elif which == 1:
        z.load(bytearray(PAGE), t, off, swapcache=fdp.ConsumeBool())
    elif which == 2:
        z.invalidate(t, off)
    elif which == 3:
        z.swapon(t, fdp.ConsumeIntInRange(1, 64))
    elif which == 4:
        z.swapoff(t)
    elif which == 5:
        z.set_param("compressor", COMPRESSORS[fdp.ConsumeIntInRange(0, len(COMPRESSORS) - 1)])
    elif which == 6:
        z.store_batch([(_page(fdp), t, off + k) for k in range(fdp.ConsumeIntInRange(1, 4))])
    elif which == 7:
        n = fdp.ConsumeIntInRange(1, 4)
        z.load_batch([bytearray(PAGE) for _ in range(n)], t, [off + k for k in range(n)])
    elif which == 8:
        entry = z.lookup(t, off)
        if entry is not None:
            z.writeback_entry(entry)
    elif which == 9:
        z.set_param(["max_pool_percent", "enabled", "accept_threshold_percent"][
            fdp.ConsumeIntInRange(0, 2)], fdp.ConsumeIntInRange(0, 100))
    elif which == 10:
        z.stats()
        z.compact()
    elif which == 11:
        # the look-ahead: early, overlapping and repeated hand-overs of the buffer's pages (or
        # of copies of them), some changed before or while they are stored
        views = [memoryview(w.mem)[i * PAGE:(i + 1) * PAGE] for i in range(8)]
        picks = [fdp.ConsumeIntInRange(0, 7) for _ in range(fdp.ConsumeIntInRange(0, 40))]
        form = fdp.ConsumeIntInRange(0, 2)
        if form == 2:  # by index into the buffer, as the mm model hands them over (or past it)
            z.precompress(w.mem, picks + [8] * fdp.ConsumeIntInRange(0, 1))
        else:
            pick = [views[i] for i in picks]
            z.precompress(pick if form == 0 else [bytes(v) for v in pick])
    elif which == 12:
        i = fdp.ConsumeIntInRange(0, 7)
        w.mem[i * PAGE:(i + 1) * PAGE] = _page(fdp)
    elif which == 13:
        i = fdp.ConsumeIntInRange(0, 7)
        z.store(memoryview(w.mem)[i * PAGE:(i + 1) * PAGE], t, off)
    elif fdp.ConsumeIntInRange(0, 7) == 0:
        z.close()


def run_program(w: World, data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    for _ in range(fdp.ConsumeIntInRange(1, 24)):
        if fdp.remaining_bytes() == 0:
            return
        if fdp.ConsumeBool():
            with contextlib.suppress(NATIVE_ERRORS):
                op_native(w, fdp)
        else:
            try:
                op_api(w, fdp)
            except SlotBusy:
                pass
            except API_ERRORS:
                pass


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    nthreads = 1 + data[0] % 3
    chunks = [data[1 + k::nthreads] for k in range(nthreads)]
    w = World()
    try:
        if nthreads == 1:
            run_program(w, chunks[0])
            return
        failures: list[BaseException] = []

        def body(chunk: bytes) -> None:
            try:
                run_program(w, chunk)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=body, args=(c,)) for c in chunks[1:]]
        for th in threads:
            th.start()
        body(chunks[0])
        for th in threads:
            th.join()
        if failures:
            raise failures[0]
    finally:
        w.close()


def main() -> None:
    sys.setswitchinterval(1e-5)  # many thread switches: more interleavings per input
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
