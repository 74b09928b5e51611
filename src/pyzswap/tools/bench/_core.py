"""The main benchmark: pyzswap against the raw codec and the kernel's zram, on the same pages.

For each compressor, in one process and one run, on the same non-zero pages:

``raw_compress`` / ``raw_decompress``
    The compressor's own :class:`~pyzswap.compress.Transform` in a bare loop, into one
    preallocated PAGE_SIZE buffer (compress) or into the page's output buffer (decompress). A
    page that does not compress is caught (``CompressPoor``) and, on the way back, copied, as the
    least any user of the codec must do. This is the floor pyzswap is measured against.
``store`` / ``load``
    ``Zswap(compressor=c, totalram_pages=None).store`` of 4 KiB folios after ``swapon``, then
    ``load`` of every page (exclusive, as from the swap cache, so the pool empties again).
    Every loaded page is checked against the original after the timed loops. Both are also
    timed in thread CPU time (``*_cpu``), which a shared machine disturbs far less.
``store_4k`` / ``store_64k`` / ``store_2m`` / ``store_reclaim`` (``_seq`` and ``_batched``)
    Folios of 1, 16 and 512 pages through ``store``, and reclaim batches of 32 4 KiB folios
    through ``store_batch``, on the plain compressor (``_seq``: one page after another) and on
    ``f"{c}-x2"``, the compressor run by :class:`~pyzswap.compress.BatchingCompressor` on two
    engine threads (``_batched``), registered for the run if it is not registered already; and
    the raw codec loop over the same pages (``raw_compress_{shape}``).
``zram_write`` / ``zram_read`` (and ``zram_write_{shape}``)
    The kernel's zram with the same algorithm, written and read with O_DIRECT, one 1 MiB request
    per block of :data:`BLOCK` pages (:class:`pyzswap.tools.kernel.ZramDevice`: a fresh
    device, reset before every round and restored on the way out). Skipped with a note when not
    root, without zram, or when zram does not offer the algorithm.
``kernel_zswap_faultin`` / ``load_faultin_pair``
    With ``kernel``: the same pages paged out through the host's zswap and faulted back in,
    against pyzswap's loads of them right after (:mod:`._faultin`).
``load_1thread`` / ``load_2threads``
    Non-exclusive loads of every page from one thread, and from two threads at once (each on
    its own CPU of the model, half the pages each), with the raw decompress done the same way
    beside them: ``load_2threads_speedup`` against ``raw_decompress_2threads_speedup`` says
    whether concurrent loads serialise on a lock (the kernel's zswap_decompress holds only the
    object's zspage read lock while decompressing). With the batched shapes (two cores),
    after all the other repetitions.

Every target of :data:`TARGETS` gets a row in the report (:func:`target_rows`), measured or
with the reason it was not.

Drift control: within each repetition, every block of :data:`BLOCK` pages goes through raw
compress, store and zram write in turn (then raw decompress, load and zram read), and the
batched shapes run the raw loop, the sequential and the batched store call by call in a
rotating order, with the zram write of those pages after every :data:`BLOCK` pages (a fresh
round of the device per shape, so each shape is paired with zram writes of its own time). The
batched shapes run once untimed first (the batching gate's first jobs measure both ways). Every
ratio is taken per repetition and summarised as median/min/max (:mod:`._common`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from ...compress import (
    BatchingCompressor,
    available_compressors,
    get_compressor,
    register_batching,
    unregister_compressor,
)
from ...errors import ZswapError
from ...folio import PAGE_SIZE
from ...zswap import Zswap
from ..kernel import KernelRunError, KernelUnavailable, ZramDevice, zram_algorithms
from ..kernel._host import HOST, HostPaths
from ._common import (
    BenchError,
    PageSource,
    Progress,
    cpu_times,
    ratio_summary,
    steal_percent,
    timing_summary,
)
from ._faultin import faultin_rep, faultin_unavailable

__all__ = [
    "BATCHED_ENGINES",
    "BLOCK",
    "DEFAULT_COMPRESSORS",
    "FOLIO_SHAPES",
    "KERNEL_TARGETS",
    "TARGETS",
    "BenchError",
    "run_bench",
]

#: Pages per interleaved block: large enough that the clock reads cost nothing, small enough
#: that raw and pyzswap see the same machine speed.
BLOCK: Final = 256
#: Engine threads of the batching compressor (``lz4-x2``): this machine has 2 cores.
BATCHED_ENGINES: Final = 2
#: name -> (pages per folio, folios per call): 4 KiB, 64 KiB and 2 MiB folios through
#: ``store``, and reclaim's SWAP_CLUSTER_MAX batch of 32 4 KiB folios through ``store_batch``.
FOLIO_SHAPES: Final[dict[str, tuple[int, int]]] = {
    "4k": (1, 1),
    "64k": (16, 1),
    "2m": (512, 1),
    "reclaim": (1, 32),
}
#: The compressors of the default run: every compressor a target names.
DEFAULT_COMPRESSORS: Final = ("lz4", "zstd", "lzo", "lzo-rle", "deflate")
_FAST_PATH: Final = ("zstd", "lzo", "lzo-rle", "deflate")
#: The issues' targets: ratio name -> the bounds as (comparison, bound, compressors it applies
#: to or None); the first bound that applies to a compressor is its target. Every ratio is a
#: median over paired repetitions; "time" ratios (``_vs_raw_``) must stay below their bound,
#: throughput ratios (``_throughput_``, ``_speedup``) above it.
TARGETS: Final[dict[str, tuple[tuple[str, float, tuple[str, ...] | None], ...]]] = {
    # every codec on the fast path: stores within 5% of the raw codec call, loads within 10%
    "store_vs_raw_compress": (("<=", 1.05, _FAST_PATH), ("<=", 1.3, ("lz4",))),
    "store_64k_seq_vs_raw_compress": (("<=", 1.05, _FAST_PATH),),
    "store_2m_seq_vs_raw_compress": (("<=", 1.05, _FAST_PATH),),
    "load_vs_raw_decompress": (("<=", 1.10, _FAST_PATH), ("<=", 1.5, ("lz4",))),
    # batching toward the limit of two cores
    "store_2m_batched_speedup": ((">=", 1.8, ("lz4", "zstd")),),
    "store_64k_batched_speedup": ((">=", 1.5, ("zstd",)),),
    "store_reclaim_batched_speedup": ((">=", 1.6, ("zstd",)),),
    "store_4k_batched_speedup": ((">=", 0.97, None),),
    # against the kernel (root)
    "store_throughput_vs_zram_write": ((">=", 1.0, ("lz4", "lzo", "lzo-rle")),),
    "store_batched_throughput_vs_zram_write": ((">=", 1.8, ("lz4",)),),
    "load_throughput_vs_zram_read": ((">=", 1.0, ("lzo", "lzo-rle")), (">=", 0.8, None)),
    "load_throughput_vs_zswap_faultin": ((">=", 1.0, ("lzo",)),),
}
#: Targets measured on the kernel: skipped (with the reason) without --kernel or root.
KERNEL_TARGETS: Final = frozenset({
    "store_throughput_vs_zram_write", "store_batched_throughput_vs_zram_write",
    "load_throughput_vs_zram_read", "load_throughput_vs_zswap_faultin"})

clock = time.perf_counter
cpu = time.thread_time


def _blocks(n: int, size: int = BLOCK) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _raw_round(name: str, pages: Sequence[memoryview]) -> list[bytes | None]:
    """Compress every page once (untimed): the inputs of the raw decompress loop.
    ``None`` marks a page that does not compress (stored as-is, copied back)."""
    tfm = get_compressor(name).new_transform()
    buf = bytearray(PAGE_SIZE)
    out: list[bytes | None] = []
    for page in pages:
        try:
            n = tfm.compress(page, buf)
        except ZswapError:
            n = PAGE_SIZE
        out.append(bytes(buf[:n]) if 0 < n < PAGE_SIZE else None)
    return out


def _raw_decompress(decompress: Callable[[bytes, memoryview], int], block: range,
                    compressed: Sequence[bytes | None], pages: Sequence[memoryview],
                    outs: Sequence[memoryview]) -> None:
    """The raw codec's side of a load, for the pages of ``block``: decompress into the page's
    output buffer (a page stored as-is: a 4 KiB copy, as zswap does)."""
    for i in block:
        src = compressed[i]
        if src is None:
            outs[i][:] = pages[i]
        else:
            decompress(src, outs[i])


class _Run:
    """One compressor's measurements: per-repetition seconds and ratios, and notes."""

    def __init__(self, name: str, n: int) -> None:
        self.name = name
        self.n = n
        self.seconds: dict[str, list[float]] = {}
        self.ratios: dict[str, list[float]] = {}
        self.notes: list[str] = []

    def add(self, key: str, seconds: float) -> None:
        self.seconds.setdefault(key, []).append(seconds)

    def ratio(self, key: str, value: float) -> None:
        self.ratios.setdefault(key, []).append(value)


def _single_thread_rep(run: _Run, pages: Sequence[memoryview],
                       compressed: Sequence[bytes | None], out: memoryview,
                       outs: Sequence[memoryview], data: bytes,
                       zram: ZramDevice | None) -> None:
    """One repetition of raw compress/store(/zram write) and raw decompress/load(/zram read),
    block-interleaved: every block of pages goes through each of them in turn."""
    name, n = run.name, run.n
    tfm = get_compressor(name).new_transform()
    compress, decompress = tfm.compress, tfm.decompress
    buf = bytearray(PAGE_SIZE)
    z = Zswap(compressor=name, totalram_pages=None, cpus=1)
    try:
        z.swapon(0, n)
        store, load = z.store, z.load
        t_raw = t_store = t_zw = c_raw = c_store = 0.0
        refused = 0
        view = memoryview(data)
        if zram is not None:
            zram.reset()
        for block in _blocks(n):
            c0, t0 = cpu(), clock()
            for i in block:
                try:  # noqa: SIM105 - contextlib.suppress costs a call per page; a bare floor
                    compress(pages[i], buf)
                except ZswapError:
                    pass
            t1, c1 = clock(), cpu()
            for i in block:
                if not store(pages[i], 0, i):
                    refused += 1
            t2, c2 = clock(), cpu()
            t_raw += t1 - t0
            t_store += t2 - t1
            c_raw += c1 - c0
            c_store += c2 - c1
            if zram is not None:
                t_zw += zram.write(block.start, view[block.start * PAGE_SIZE:
                                                     block.stop * PAGE_SIZE])
        if refused:
            raise BenchError(f"{name}: zswap refused {refused} of {n} pages with no limit set")
        t_rawd = t_load = t_zr = c_rawd = c_load = 0.0
        missing = 0
        for block in _blocks(n):
            c0, t0 = cpu(), clock()
            _raw_decompress(decompress, block, compressed, pages, outs)
            t1, c1 = clock(), cpu()
            for i in block:
                if not load(outs[i], 0, i):
                    missing += 1
            t2, c2 = clock(), cpu()
            t_rawd += t1 - t0
            t_load += t2 - t1
            c_rawd += c1 - c0
            c_load += c2 - c1
            if zram is not None:
                t_zr += zram.read(block.start, len(block))
        if missing:
            raise BenchError(f"{name}: zswap had no entry for {missing} stored pages")
        if out != data:
            raise BenchError(f"{name}: a page loaded from zswap differs from the one stored")
        if z.stats()["stored_pages"]:
            raise BenchError(f"{name}: entries left in zswap after loading every page")
    finally:
        z.close()
    run.add("raw_compress", t_raw)
    run.add("store", t_store)
    run.add("raw_decompress", t_rawd)
    run.add("load", t_load)
    run.ratio("store_vs_raw_compress", t_store / t_raw)
    run.ratio("load_vs_raw_decompress", t_load / t_rawd)
    # The same in this thread's CPU time: on a shared machine the wall clock of a block
    # depends on its share of the CPU, the CPU time does not (reported, not a target).
    run.ratio("store_vs_raw_compress_cpu", c_store / c_raw)
    run.ratio("load_vs_raw_decompress_cpu", c_load / c_rawd)
    for key, seconds in (("raw_compress_cpu", c_raw), ("store_cpu", c_store),
                         ("raw_decompress_cpu", c_rawd), ("load_cpu", c_load)):
        run.add(key, seconds)
    if zram is not None:
        bad = zram.mismatched_pages()
        if bad:
            raise BenchError(f"zram read back {bad} pages wrong")
        run.add("zram_write", t_zw)
        run.add("zram_read", t_zr)
        run.ratio("store_throughput_vs_zram_write", t_zw / t_store)
        run.ratio("load_throughput_vs_zram_read", t_zr / t_load)


#: The three ways a call's pages are timed, in the order of the call's rotation: whoever goes
#: later finds the pages in the CPU caches, so each goes first, second and third equally often.
_ROTATIONS: Final = (("raw", "seq", "bat"), ("seq", "bat", "raw"), ("bat", "raw", "seq"))


def _batched_rep(run: _Run, batched_name: str, data: bytes,
                 pages: Sequence[memoryview], zram: ZramDevice | None) -> None:
    """One repetition of every folio shape: per call, the raw codec over its pages, the
    sequential store and the batched store, in a rotating order; and zram writes of the same
    pages after every :data:`BLOCK` pages stored (on a reset device per shape). The best
    shape's throughput is taken against its own zram writes."""
    n = run.n
    view = memoryview(data)
    compress = get_compressor(run.name).new_transform().compress
    buf = bytearray(PAGE_SIZE)
    best: float | None = None
    for shape, (folio_pages, per_call) in FOLIO_SHAPES.items():
        if zram is not None:
            zram.reset()
        t_zw = 0.0
        written = 0

        def zram_upto(stored: int) -> float:
            """Write zram in BLOCK-page requests up to ``stored`` pages; returns the seconds."""
            nonlocal written
            seconds = 0.0
            while zram is not None and written < stored and (
                    stored - written >= BLOCK or stored == n):
                stop = min(written + BLOCK, stored)
                seconds += zram.write(written, view[written * PAGE_SIZE:stop * PAGE_SIZE])
                written = stop
            return seconds

        seq = Zswap(compressor=run.name, totalram_pages=None)
        bat = Zswap(compressor=batched_name, totalram_pages=None)
        try:
            seq.swapon(0, n)
            bat.swapon(0, n)
            # (first page, pages, the store_batch argument); a folio call stores the whole
            # range of pages as one folio
            calls: list[tuple[int, int, list[tuple[memoryview, int, int]]]] = []
            step = folio_pages * per_call
            for start in range(0, n, step):
                stop = min(start + step, n)
                calls.append((start, stop - start, [] if per_call == 1 else
                              [(pages[i], 0, i) for i in range(start, stop)]))
            t = {"raw": 0.0, "seq": 0.0, "bat": 0.0}
            zs = {"seq": seq, "bat": bat}
            for k, (start, count, batch) in enumerate(calls):
                folio = view[start * PAGE_SIZE:(start + count) * PAGE_SIZE]
                for who in _ROTATIONS[k % 3]:
                    z = zs.get(who)
                    t0 = clock()
                    if z is None:
                        for i in range(start, start + count):
                            try:  # noqa: SIM105 - as the single-page raw loop
                                compress(pages[i], buf)
                            except ZswapError:
                                pass
                    elif batch:
                        z.store_batch(batch)
                    else:
                        z.store(folio, 0, start)
                    t[who] += clock() - t0
                t_zw += zram_upto(start + count)
            for z in (seq, bat):
                if z.stats()["stored_pages"] != n:
                    raise BenchError(f"{shape} store with {z.compressor}: "
                                     f"{z.stats()['stored_pages']} of {n} pages stored")
        finally:
            seq.close()
            bat.close()
        run.add(f"store_{shape}_seq", t["seq"])
        run.add(f"store_{shape}_batched", t["bat"])
        run.add(f"raw_compress_{shape}", t["raw"])
        run.ratio(f"store_{shape}_batched_speedup", t["seq"] / t["bat"])
        run.ratio(f"store_{shape}_seq_vs_raw_compress", t["seq"] / t["raw"])
        if zram is not None:
            run.add(f"zram_write_{shape}", t_zw)
            best = max(best or 0.0, t_zw / t["bat"])
    if best is not None:
        run.ratio("store_batched_throughput_vs_zram_write", best)


def _two_threads(work: Callable[[int, range], None], n: int, threads: int) -> float:
    """Wall seconds for ``work(k, pages)`` over ``range(n)`` split into ``threads`` halves,
    run on that many threads at once (one: on this thread)."""
    if threads == 1:
        t0 = clock()
        work(0, range(n))
        return clock() - t0
    parts = [range(k * n // threads, (k + 1) * n // threads) for k in range(threads)]
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def body(k: int) -> None:
        start.wait()
        try:
            work(k, parts[k])
        except BaseException as exc:  # reported below, on the calling thread
            errors.append(exc)

    pool = [threading.Thread(target=body, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = clock()
    for t in pool:
        t.join()
    seconds = clock() - t0
    if errors:
        raise errors[0]
    return seconds


def _parallel_load_rep(run: _Run, pages: Sequence[memoryview],
                       compressed: Sequence[bytes | None], outs: Sequence[memoryview]) -> None:
    """Loads from two threads at once against one thread, on one Zswap with two CPUs (each
    thread on its own CPU and context, each loading its half of the pages, non-exclusively so
    the entries stay), and the raw codec's decompress the same way (a transform per thread):
    whether concurrent loads serialise on a lock the codec itself does not take. Alternating
    one and two threads, raw and zswap, in a rotating order."""
    name, n = run.name, run.n
    z = Zswap(compressor=name, totalram_pages=None, cpus=BATCHED_ENGINES)
    try:
        z.swapon(0, n)
        for i in range(n):
            if not z.store(pages[i], 0, i):
                raise BenchError(f"{name}: zswap refused a page with no limit set")
        load = z.load
        decompress = [get_compressor(name).new_transform().decompress
                      for _ in range(BATCHED_ENGINES)]

        def zswap_load(k: int, part: range) -> None:
            z.cpus.migrate_current(k)
            for i in part:
                if not load(outs[i], 0, i, swapcache=False):
                    raise BenchError(f"{name}: zswap had no entry for page {i}")

        def raw_decompress(k: int, part: range) -> None:
            _raw_decompress(decompress[k], part, compressed, pages, outs)

        t: dict[tuple[str, int], float] = {}
        order = [("raw", 1), ("raw", BATCHED_ENGINES), ("zswap", 1), ("zswap", BATCHED_ENGINES)]
        for shift in range(len(order)):
            for who, threads in order[shift:] + order[:shift]:
                fn = raw_decompress if who == "raw" else zswap_load
                t[who, threads] = t.get((who, threads), 0.0) + _two_threads(fn, n, threads)
        if any(bytes(outs[i]) != bytes(pages[i]) for i in range(n)):
            raise BenchError(f"{name}: a page loaded from two threads differs from the one stored")
    finally:
        z.close()
    passes = len(order)  # every pass loads every page once: seconds per pass, as the others
    run.add("load_1thread", t["zswap", 1] / passes)
    run.add("load_2threads", t["zswap", BATCHED_ENGINES] / passes)
    run.ratio("load_2threads_speedup", t["zswap", 1] / t["zswap", BATCHED_ENGINES])
    run.ratio("raw_decompress_2threads_speedup", t["raw", 1] / t["raw", BATCHED_ENGINES])


def _zram_available(name: str, host: HostPaths) -> str | None:
    """Why zram cannot run ``name`` here, or None (checked without changing the host)."""
    if os.geteuid() != 0:
        return "kernel zram skipped: not root"
    if not (host.zram_control / "hot_add").exists() and not any(
            p.name.startswith("zram") for p in host.sys_block.glob("zram*")):
        return "kernel zram skipped: no zram in this kernel"
    offered = zram_algorithms(host)
    if offered and name not in offered:
        return (f"kernel zram skipped: zram does not offer {name!r} here "
                f"(offers {', '.join(offered)})")
    return None


def _ensure_batching(name: str) -> tuple[str | None, BatchingCompressor | None, str | None]:
    """The ``{name}-x2`` compressor: (name or None, one we registered or None, note or None)."""
    batched = f"{name}-x{BATCHED_ENGINES}"
    if batched in available_compressors():
        return batched, None, None
    try:
        made = register_batching(name, BATCHED_ENGINES)
    except ZswapError as exc:
        return None, None, f"batched stores skipped: {exc}"
    return batched, made, None


def bench_compressor(name: str, source: PageSource, *, repeat: int, kernel: bool = False,
                     batched: bool = True, host: HostPaths = HOST,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Every measurement of the module docstring for one compressor; one result dict."""
    data = source.data
    n = source.pages
    pages = source.page_views("main", at_least=0)
    compressed = _raw_round(name, pages)
    out_buf = bytearray(len(data))
    out = memoryview(out_buf)
    outs = [out[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n)]
    run = _Run(name, n)
    incompressible = sum(1 for c in compressed if c is None)
    zram_why = _zram_available(name, host) if kernel else "kernel zram skipped: no --kernel"
    if zram_why:
        run.notes.append(zram_why)
    batched_name, registered, note = _ensure_batching(name) if batched else (None, None, None)
    if note:
        run.notes.append(note)
    zram_device = None
    try:
        with contextlib.ExitStack() as stack:
            zram: ZramDevice | None = None
            if zram_why is None:
                try:
                    zram = stack.enter_context(ZramDevice(name, n, host=host))
                except (KernelUnavailable, KernelRunError) as exc:
                    run.notes.append(f"kernel zram skipped: {exc}")
                else:
                    zram_device = zram.device
            if batched_name is not None:
                # Untimed, as `bench batching` does: the batching gate (NativeGate) measures
                # jobs with and without engines before it settles, and that learning is the
                # process's once, not every repetition's. No zram writes: nothing of it is kept.
                if progress:
                    progress(f"{name}: batched warm-up ({n} pages)")
                _batched_rep(_Run(name, n), batched_name, data, pages, None)
            for rep in range(repeat):
                if progress:
                    progress(f"{name}: repetition {rep + 1}/{repeat} ({n} pages)")
                out[:] = bytes(len(out))  # a page load failed to write must not pass as verified
                gc.collect()
                _single_thread_rep(run, pages, compressed, out, outs, data, zram)
                if batched_name is not None:
                    _batched_rep(run, batched_name, data, pages, zram)
        # Loads on two threads, after every other repetition: nothing measured above runs
        # next to them or after them.
        for rep in range(repeat if batched_name is not None else 0):
            if progress:
                progress(f"{name}: loads on two threads {rep + 1}/{repeat} ({n} pages)")
            out[:] = bytes(len(out))
            gc.collect()
            _parallel_load_rep(run, pages, compressed, outs)
        # Outside the zram device's host session: each kernel zswap run is a session of its
        # own (one host change at a time, under the run lock).
        faultin_why = (faultin_unavailable(name, host) if kernel
                       else "kernel zswap fault-in skipped: no --kernel")
        for rep in range(repeat if faultin_why is None else 0):
            if progress:
                progress(f"{name}: kernel zswap fault-in {rep + 1}/{repeat} ({n} pages)")
            gc.collect()
            try:
                f = faultin_rep(name, data, pages, outs, out, host)
            except (KernelUnavailable, KernelRunError) as exc:
                faultin_why = f"kernel zswap fault-in skipped: {exc}"
                break
            run.add("kernel_zswap_faultin", f.kernel_seconds)
            run.add("load_faultin_pair", f.load_seconds)
            run.add("load_faultin_pair_cpu", f.load_cpu_seconds)
            run.ratio("load_throughput_vs_zswap_faultin", f.kernel_seconds / f.load_seconds)
            if f.kernel_cpu_seconds is not None:
                run.add("kernel_zswap_faultin_cpu", f.kernel_cpu_seconds)
                run.ratio("load_throughput_vs_zswap_faultin_cpu",
                          f.kernel_cpu_seconds / f.load_cpu_seconds)
        if faultin_why:
            run.notes.append(faultin_why)
    finally:
        if registered is not None:
            unregister_compressor(registered.name)
            registered.close()
    result: dict[str, Any] = {
        "compressor": name,
        "batched_compressor": batched_name,
        "pages": n,
        "incompressible_pages": incompressible,
        "zram_device": zram_device,
        "figures": {k: timing_summary(v, n) for k, v in run.seconds.items()},
        "ratios": {k: ratio_summary(v) for k, v in run.ratios.items()},
        "notes": run.notes,
    }
    result["targets"] = _targets(name, result["ratios"], run.notes,
                                 {k: len(v) for k, v in run.ratios.items()})
    return result


def _applicable(key: str, name: str) -> tuple[str, float] | None:
    """The (comparison, bound) of target ``key`` for compressor ``name``, or None."""
    for op, bound, applies in TARGETS[key]:
        if applies is None or name in applies:
            return op, bound
    return None


def _targets(name: str, ratios: dict[str, dict[str, float]], notes: Sequence[str] = (),
             counts: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """Each applicable target with the measured median, min and max over its ``repetitions``
    (paired: one ratio per repetition) and whether it is met; an unmeasured one (``met``
    None) says why (the run's note about it, if any)."""
    out: dict[str, dict[str, Any]] = {}
    for key in TARGETS:
        applicable = _applicable(key, name)
        if applicable is None:
            continue
        op, bound = applicable
        summary = ratios.get(key)
        row: dict[str, Any] = {"target": f"{op} {bound}",
                               "median": None if summary is None else summary["median"],
                               "min": None if summary is None else summary["min"],
                               "max": None if summary is None else summary["max"],
                               "met": None, "repetitions": (counts or {}).get(key, 0)}
        if summary is not None:
            value = summary["median"]
            row["met"] = value <= bound if op == "<=" else value >= bound
            cpu_ratio = ratios.get(f"{key}_cpu")
            if cpu_ratio is not None:  # the same ratio in thread CPU time, beside the verdict
                row["cpu_median"] = cpu_ratio["median"]
        else:
            side = "zswap fault-in" if "faultin" in key else "zram" if "zram" in key else ""
            why = [note for note in notes if side and side in note]
            row["why"] = why[0] if why else ("batched stores not run" if "batched" in key
                                             else "not measured")
        out[key] = row
    return out


def target_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per target and compressor, every target of :data:`TARGETS` included: a target
    for a compressor that was not measured is a row with ``met`` None and the reason."""
    measured = {r["compressor"]: r for r in results}
    rows: list[dict[str, Any]] = []
    for key, bounds in TARGETS.items():
        names: list[str] = []
        for _, _, applies in bounds:
            for name in (list(measured) if applies is None else applies):
                if name not in names and _applicable(key, name) is not None:
                    names.append(name)
        for name in names:
            if name in measured:
                row = dict(measured[name]["targets"][key])
            else:
                op, bound = _applicable(key, name) or ("", 0.0)
                row = {"target": f"{op} {bound}", "median": None, "min": None, "max": None,
                       "met": None, "repetitions": 0,
                       "why": f"{name} not measured (not in --compressor)"}
            rows.append({"ratio": key, "compressor": name, "kernel": key in KERNEL_TARGETS,
                         **row})
    return rows


#: The replay-speed target's row name: ``pyzswap run``'s replay wall time over the kernel's
#: replay of the same fidelity case, paired per repetition (``pyzswap bench replay --kernel``).
REPLAY_RATIO: Final = "replay_vs_kernel_replay"


def _case_compressor(args: Sequence[str]) -> str:
    """The compressor a fidelity case runs with (its ``-c`` option)."""
    for k, arg in enumerate(args[:-1]):
        if arg in ("-c", "--compressor"):
            return args[k + 1]
    return "lzo"


def replay_rows(cases: Sequence[str], report: dict[str, Any] | None, why: str | None
                ) -> list[dict[str, Any]]:
    """One target row per fidelity case for the replay speed: measured (``report``, from
    :func:`~pyzswap.tools.bench.replay.replay_bench` with the kernel live and paired) or not,
    with ``why``."""
    from ..kernel.suite import suite_case
    from .replay import REPLAY_TARGET

    measured = {c["case"]: c for c in (report or {}).get("cases", [])}
    rows = []
    for name in cases:
        row: dict[str, Any] = {"ratio": REPLAY_RATIO, "case": name,
                               "compressor": _case_compressor(suite_case(name).args),
                               "kernel": True, "target": f"<= {REPLAY_TARGET}",
                               "median": None, "min": None, "max": None, "met": None,
                               "repetitions": 0}
        c = measured.get(name)
        if c is None:
            row["why"] = why or "not measured"
        else:
            row.update(c["replay_vs_kernel"])
            row["met"] = c["met"]
            row["repetitions"] = report["repeat"] if report is not None else 0
            cpu = c.get("replay_cpu_vs_kernel_cpu")
            if cpu is not None:
                row["cpu_median"] = cpu["median"]
        rows.append(row)
    return rows


def run_bench(source: PageSource, compressors: Sequence[str], *, repeat: int = 5,
              kernel: bool = False, batched: bool = True, host: HostPaths = HOST,
              progress: Progress | None = None,
              replay_cases: Sequence[str] = ()) -> dict[str, Any]:
    """The whole benchmark: one result per compressor, with the page source and the machine.

    The replay-speed rows, one per fidelity case of ``replay_cases`` (``pyzswap bench``
    passes every case): with ``kernel``, each case replayed on this host's kernel and by
    ``pyzswap run``, paired, ``repeat`` times (``pyzswap bench replay --kernel``); without,
    rows saying why they were not measured. Unknown compressor or case names raise before
    anything is measured.
    """
    from ..kernel.suite import suite_case

    for name in compressors:
        get_compressor(name)
    cases = list(replay_cases)
    for case in cases:
        suite_case(case)
    t0 = clock()
    ticks0 = cpu_times()
    results = [bench_compressor(name, source, repeat=repeat, kernel=kernel, batched=batched,
                                host=host, progress=progress) for name in compressors]
    replay: dict[str, Any] | None = None
    why = None
    if not kernel:
        why = "needs --kernel (root): the case is replayed live on this host's kernel"
    elif cases:
        from .replay import replay_bench

        try:
            replay = replay_bench(cases, repeat, progress=progress, kernel=True, hits=False)
        except KernelUnavailable as exc:
            why = f"kernel replay unavailable: {exc}"
    report = {
        "source": source.to_dict(),
        "repeat": repeat,
        "block_pages": BLOCK,
        "machine": _machine(),
        "targets": target_rows(results) + replay_rows(cases, replay, why),
        "results": results,
        "seconds": round(clock() - t0, 2),
        # the batched rows use both CPUs, the single-thread ones one: steal skews the first
        "host_steal_percent": steal_percent(ticks0, cpu_times()),
    }
    if replay is not None:
        report["replay"] = replay
    return report


def _machine() -> dict[str, Any]:
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0],
            "kernel": platform.release(), "loadavg": load}
