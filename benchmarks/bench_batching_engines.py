"""Benchmark: batching engines (``zstd-x2`` etc.) against the sequential base transform.

Run: ``.venv/bin/python benchmarks/bench_batching_engines.py [--pages N] [--json]``.

On the non-zero pages of a realistic page set (``make_pages("real", n, seed=0)``), for each
compressor it times, interleaved block by block (this VM's speed drifts by tens of percent within
seconds, so each variant runs on every block in turn and ratios are taken per run):

* ``seq``            - the base transform's single-page loop, 8 pages per "batch";
* ``batch8``         - ``compress_batch`` of 8 pages on the batching transform (sync mode);
* ``seq+work``       - ``seq`` plus ``--work-us`` of GIL-held Python per page after each batch
  (zswap's per-page zsmalloc/tree work, simulated by a busy loop);
* ``batch8+work``    - ``batch8`` plus the same work;
* ``pipelined+work`` - async: submit batch k+1, do the per-page work of batch k, wait for k+1
  (zswap's planned pipelined store; destinations double-buffered);
* ``dseq`` / ``dbatch8`` - decompression, single-page loop vs ``decompress_batch`` of 8.

Speedup = sequential time / variant time (median of the per-run ratios; ``+work`` variants
against ``seq+work``). ``ceiling`` is two plain threads compressing the two halves of the
block with no coordination: the most any engine design can get from this machine at that
moment. It also measures the hand-off itself: the caller's cost per handed-off batch (a no-op
codec, engines woken but the caller finishes first) and an engine's wake-up latency (submit
to its first page).

Policies: plain names use the default policy (what zswap gets: cheap batches inline);
``handed-off`` hands every batch to one engine beside the caller; ``engines-only`` gives
every page to the engines while the caller only waits.

``--process-prototype`` adds ``pipelined+work process-engine``: NOT pyzswap code, an
experiment for the design question the thread engines leave open. One engine *process* (own
interpreter, so its own GIL) owns a base transform and a shared-memory slot; the caller copies
the engine's share of batch k+1 into the slot, posts a semaphore, does batch k's per-page work,
compresses its own share of k+1, then waits and copies the results out. With its own GIL the
engine compresses *while* the caller runs Python, which threads cannot do.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory
from typing import Any

from pyzswap.compress import PAGE_SIZE, Compressor, Transform, get_compressor
from pyzswap.compress.batching import BatchingCompressor, BatchingTransform
from pyzswap.errors import ZswapError
from pyzswap.folio import zero_page_mask
from pyzswap.tools.pagesets import make_pages

BATCH = 8
BLOCK = 256
clock = time.perf_counter


def busy(us: float) -> None:
    """Hold the GIL for ``us`` µs, like zswap's per-page Python work (no blocking, no C)."""
    end = clock() + us * 1e-6
    while clock() < end:
        pass


def load_pages(n: int) -> list[memoryview]:
    data = make_pages("real", n, seed=0)
    mv = memoryview(data)
    zero = zero_page_mask(data)
    pages = [mv[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n) if not zero[i]]
    return pages[: len(pages) // BATCH * BATCH]


Variant = Callable[[Sequence[memoryview], Sequence[bytes]], float]

#: The batching transforms each variant runs on: the default policy (what zswap gets), every
#: batch handed off to one engine beside the caller, and engines only (the caller just waits).
POLICIES: dict[str, dict[str, Any]] = {
    "": {},
    " handed-off": {"min_parallel_us": 0.0},
    " engines-only": {"min_parallel_us": 0.0, "caller_helps": False},
}


def make_variants(base: Transform, peer: Transform, tfms: dict[str, BatchingTransform],
                  work_us: float) -> dict[str, Variant]:
    dsts = [bytearray(PAGE_SIZE) for _ in range(2 * BATCH)]
    set_a, set_b = dsts[:BATCH], dsts[BATCH:]

    def seq(pages: Sequence[memoryview], work: float) -> float:
        compress = base.compress
        t0 = clock()
        for b in range(0, len(pages), BATCH):
            for i, page in enumerate(pages[b:b + BATCH]):
                try:  # noqa: SIM105 - contextlib.suppress costs ~0.3 µs a page here
                    compress(page, set_a[i])
                except ZswapError:
                    pass
            if work:
                for _ in range(BATCH):
                    busy(work)
        return clock() - t0

    def batch8(tfm: BatchingTransform, pages: Sequence[memoryview], work: float) -> float:
        compress_batch = tfm.compress_batch
        t0 = clock()
        for b in range(0, len(pages), BATCH):
            compress_batch(pages[b:b + BATCH], set_a)
            if work:
                for _ in range(BATCH):
                    busy(work)
        return clock() - t0

    def pipelined(tfm: BatchingTransform, pages: Sequence[memoryview]) -> float:
        submit = tfm.submit_compress
        t0 = clock()
        cur, other = set_a, set_b
        results = submit(pages[0:BATCH], cur).wait()
        for b in range(BATCH, len(pages) + BATCH, BATCH):
            nxt = submit(pages[b:b + BATCH], other) if b < len(pages) else None
            for _ in results:  # the per-page work of batch k, while k+1 is in flight
                busy(work_us)
            if nxt is not None:
                results = nxt.wait()
                cur, other = other, cur
        return clock() - t0

    def dseq(streams: Sequence[bytes]) -> float:
        decompress = base.decompress
        t0 = clock()
        for b in range(0, len(streams), BATCH):
            for i, s in enumerate(streams[b:b + BATCH]):
                decompress(s, set_a[i])
        return clock() - t0

    def dbatch8(tfm: BatchingTransform, streams: Sequence[bytes]) -> float:
        decompress_batch = tfm.decompress_batch
        t0 = clock()
        for b in range(0, len(streams), BATCH):
            chunk = streams[b:b + BATCH]
            decompress_batch(chunk, set_a[:len(chunk)])
        return clock() - t0

    def ceiling(pages: Sequence[memoryview], _s: Sequence[bytes]) -> float:
        """Two uncoordinated threads on the two halves of the block."""
        half = len(pages) // 2
        other = threading.Thread(target=_loop, args=(peer, pages[half:]))
        t0 = clock()
        other.start()
        _loop(base, pages[:half])
        other.join()
        return clock() - t0

    def on(fn: Callable[[BatchingTransform, Sequence[memoryview], Sequence[bytes]], float],
           tfm: BatchingTransform) -> Variant:
        return lambda p, s: fn(tfm, p, s)

    v: dict[str, Variant] = {"seq": lambda p, s: seq(p, 0.0)}
    for label, tfm in tfms.items():
        v[f"batch8{label}"] = on(lambda t, p, s: batch8(t, p, 0.0), tfm)
    v["seq+work"] = lambda p, s: seq(p, work_us)
    for label, tfm in tfms.items():
        v[f"batch8+work{label}"] = on(lambda t, p, s: batch8(t, p, work_us), tfm)
    for label, tfm in tfms.items():
        v[f"pipelined+work{label}"] = on(lambda t, p, s: pipelined(t, p), tfm)
    v["dseq"] = lambda p, s: dseq(s)
    for label, tfm in tfms.items():
        v[f"dbatch8{label}"] = on(lambda t, p, s: dbatch8(t, s), tfm)
    v["ceiling"] = ceiling
    return v


def baseline(key: str) -> str | None:
    """The sequential variant a variant is compared with."""
    if key.startswith(("batch8+work", "pipelined")):
        return "seq+work"
    if key.startswith(("batch8", "seq+work", "ceiling")):
        return "seq"
    if key.startswith("dbatch8"):
        return "dseq"
    return None


def _loop(tfm: Transform, pages: Sequence[memoryview]) -> None:
    dst = bytearray(PAGE_SIZE)
    compress = tfm.compress
    for page in pages:
        try:  # noqa: SIM105 - as in seq
            compress(page, dst)
        except ZswapError:
            pass


class CpuLoad:
    """CPU time other processes used while we ran (this machine is shared: read it first)."""

    def __init__(self) -> None:
        self.t0, self.busy0, self.own0 = clock(), self._busy(), self._own()

    @staticmethod
    def _busy() -> float:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system

    def others(self) -> float:
        """Average number of CPUs busy with other processes since creation."""
        wall = clock() - self.t0
        other = (self._busy() - self.busy0) - (self._own() - self.own0)
        return max(other, 0.0) / wall if wall > 0 else 0.0


_HDR = 128  # int64 header: [0] pages in the job (-1: exit), [1 + i] page i's result


def _slot_views(buf: memoryview) -> tuple[memoryview, list[memoryview], list[memoryview]]:
    hdr = buf[:_HDR].cast("q")
    inp = [buf[_HDR + i * PAGE_SIZE:_HDR + (i + 1) * PAGE_SIZE] for i in range(BATCH)]
    out = [buf[_HDR + (BATCH + i) * PAGE_SIZE:_HDR + (BATCH + i + 1) * PAGE_SIZE]
           for i in range(BATCH)]
    return hdr, inp, out


def _proc_engine_main(shm_name: str, algo: str, go: Any, done: Any) -> None:
    """The prototype engine process: wait for a job, compress it in the slot, signal."""
    shm = shared_memory.SharedMemory(name=shm_name)
    assert shm.buf is not None
    hdr, inp, out = _slot_views(shm.buf)
    compress = get_compressor(algo).new_transform().compress
    try:
        while True:
            go.acquire()
            n = hdr[0]
            if n < 0:
                return
            for i in range(n):
                try:
                    hdr[1 + i] = compress(inp[i], out[i])
                except ZswapError:
                    hdr[1 + i] = -1
            done.release()
    finally:
        del hdr, inp, out
        shm.close()


class ProcessEngine:
    """Prototype only (see the module doc): one engine process and one shared-memory slot."""

    def __init__(self, algo: str) -> None:
        ctx = multiprocessing.get_context("spawn")  # fork is unsafe: engine threads exist
        self.shm = shared_memory.SharedMemory(create=True, size=_HDR + 2 * BATCH * PAGE_SIZE)
        assert self.shm.buf is not None
        self.hdr, self.inp, self.out = _slot_views(self.shm.buf)
        self.go, self.done = ctx.Semaphore(0), ctx.Semaphore(0)
        self.proc = ctx.Process(target=_proc_engine_main, daemon=True,
                                args=(self.shm.name, algo, self.go, self.done))
        self.proc.start()

    def submit(self, pages: Sequence[memoryview]) -> None:
        for slot, page in zip(self.inp, pages, strict=False):
            slot[:] = page
        self.hdr[0] = len(pages)
        self.go.release()

    def wait(self, dsts: Sequence[bytearray]) -> None:
        while not self.done.acquire(timeout=1.0):
            if not self.proc.is_alive():
                raise SystemExit("the prototype engine process died")
        hdr, out = self.hdr, self.out
        for i, dst in enumerate(dsts):
            n = hdr[1 + i]
            if n > 0:
                dst[:n] = out[i][:n]

    def close(self) -> None:
        self.hdr[0] = -1
        self.go.release()
        self.proc.join(5.0)
        if self.proc.is_alive():
            self.proc.terminate()
        del self.hdr, self.inp, self.out
        self.shm.close()
        self.shm.unlink()


def process_variant(engine: ProcessEngine, base: Transform, work_us: float,
                    share: Callable[[], int]) -> Variant:
    """Pipelined store with the prototype process engine (``share()``: its pages per batch)."""
    dsts = [bytearray(PAGE_SIZE) for _ in range(BATCH)]

    def run(pages: Sequence[memoryview], _s: Sequence[bytes]) -> float:
        compress = base.compress
        e = share()
        t0 = clock()
        engine.submit(pages[0:e])
        for b in range(0, len(pages), BATCH):
            for i in range(b + e, min(b + BATCH, len(pages))):  # the caller's share of k+1
                try:  # noqa: SIM105 - as in seq
                    compress(pages[i], dsts[i - b])
                except ZswapError:
                    pass
            engine.wait(dsts[:e])
            if b + BATCH < len(pages):
                engine.submit(pages[b + BATCH:b + BATCH + e])  # the engine starts k+1 ...
            for _ in range(BATCH):  # ... while the caller does batch k's per-page work
                busy(work_us)
        return clock() - t0

    return run


def bench(name: str, pages: list[memoryview], repeat: int, work_us: float,
          engines: int | None, max_other: float, process: bool = False) -> dict[str, Any]:
    """Every variant on every block in turn; a run disturbed by other processes is redone."""
    comps = {label: BatchingCompressor(name, engines, **kw) for label, kw in POLICIES.items()}
    tfms = {label: c.new_transform() for label, c in comps.items()}
    comp = comps[""]
    base = get_compressor(name).new_transform()
    buf = bytearray(PAGE_SIZE)
    blocks: list[tuple[list[memoryview], list[bytes]]] = []
    nstreams = 0
    for start in range(0, len(pages), BLOCK):
        bp = pages[start:start + BLOCK]
        bs = []
        for page in bp:
            try:
                n = base.compress(page, buf)
            except ZswapError:
                continue  # incompressible: nothing to decompress
            bs.append(bytes(buf[:n]))
        nstreams += len(bs)
        blocks.append((bp, bs))
    variants = make_variants(base, get_compressor(name).new_transform(), tfms, work_us)
    proc_engine = None
    if process:
        proc_engine = ProcessEngine(name)
        seq_us = [5.0]  # per-page codec time, refreshed from each run's seq variant

        def share() -> int:
            # Balance: engine e pages == caller's work for 8 pages + its (8 - e) pages.
            return max(1, min(BATCH, round((work_us * BATCH / seq_us[0] + BATCH) / 2)))

        variants["pipelined+work process-engine"] = process_variant(
            proc_engine, base, work_us, share)
    for t in tfms.values():  # warm up: engines started, cost estimates sampled
        for bp, bs in blocks[:2]:
            t.compress_batch(bp[:BATCH], [bytearray(PAGE_SIZE) for _ in range(BATCH)])
            t.decompress_batch(bs[:BATCH], [bytearray(PAGE_SIZE) for _ in range(BATCH)])
    if proc_engine is not None:
        seq_us[0] = comp.page_cost_us()["compress"] or seq_us[0]
    samples: dict[str, list[float]] = {k: [] for k in variants}
    loads: list[float] = []
    discarded = 0
    while len(loads) < repeat:
        load = CpuLoad()
        totals = dict.fromkeys(variants, 0.0)
        for bp, bs in blocks:
            for key, fn in variants.items():
                totals[key] += fn(bp, bs)
        if proc_engine is not None:
            seq_us[0] = totals["seq"] * 1e6 / len(pages)
        other = load.others()
        if other > max_other and discarded < 3 * repeat:
            discarded += 1
            continue
        loads.append(other)
        for key, value in totals.items():
            samples[key].append(value)
    for c in comps.values():
        c.close()
    if proc_engine is not None:
        proc_engine.close()
    npages = len(pages)
    result: dict[str, Any] = {"compressor": name, "batching": comp.name, "pages": npages,
                              "work_us": work_us, "variants": {}}
    for key, values in samples.items():
        count = nstreams if key.startswith("d") else npages
        med = statistics.median(values)
        row: dict[str, Any] = {"us_per_page": med * 1e6 / count, "pages_per_s": count / med}
        vs = baseline(key)
        if vs is not None:
            ratios = [b / v for b, v in zip(samples[vs], values, strict=True)]
            row["speedup"] = statistics.median(ratios)
            row["speedup_min"] = min(ratios)
            row["speedup_max"] = max(ratios)
            row["vs"] = vs
        result["variants"][key] = row
    result["page_cost_us"] = comp.page_cost_us()
    result["handed_off_batches"] = {label or " default": t.parallel_batches
                                    for label, t in tfms.items()}
    result["other_cpus_busy"] = max(loads)
    result["discarded_runs"] = discarded
    return result


class _Probe(Compressor):
    """A codec for measuring the hand-off: records who ran each page and when."""

    name = "bench-probe"
    description = "records (thread, start time) per page; optional GIL-free sleep"

    def __init__(self, sleep_s: float) -> None:
        self.sleep_s = sleep_s
        self.log: list[tuple[int, float]] = []

    def new_transform(self) -> Transform:
        probe = self

        class _T(Transform):
            def compress(self, src: Any, dst: Any) -> int:
                probe.log.append((threading.get_ident(), clock()))
                if probe.sleep_s:
                    time.sleep(probe.sleep_s)
                return 1

            def decompress(self, src: Any, dst: Any) -> int:
                return self.compress(src, dst)

        return _T()


def handoff(rounds: int = 2000) -> dict[str, float]:
    """Caller-side µs per handed-off batch, and an engine's wake-up latency (medians)."""
    page = bytes(PAGE_SIZE)
    srcs = [page] * BATCH
    dsts = [bytearray(PAGE_SIZE) for _ in range(BATCH)]
    noop = _Probe(0.0)
    inline = BatchingCompressor(noop, 2, min_parallel_us=1e18).new_transform()
    forced_c = BatchingCompressor(noop, 2, min_parallel_us=0.0)
    forced = forced_c.new_transform()
    forced.compress_batch(srcs, dsts)
    t_inline, t_forced = [], []
    for _ in range(rounds):
        t0 = clock()
        inline.compress_batch(srcs, dsts)
        t1 = clock()
        forced.compress_batch(srcs, dsts)
        t2 = clock()
        t_inline.append(t1 - t0)
        t_forced.append(t2 - t1)
        noop.log.clear()
    forced_c.close()
    # Wake-up: 2 pages, the caller's page sleeps (GIL free) so the engine takes the other one.
    probe = _Probe(300e-6)
    pc = BatchingCompressor(probe, 2, min_parallel_us=0.0)
    ptfm = pc.new_transform()
    me = threading.get_ident()
    wake = []
    for _ in range(200):
        probe.log.clear()
        t0 = clock()
        ptfm.compress_batch([page, page], dsts[:2])
        starts = [t for ident, t in probe.log if ident != me]
        if starts:
            wake.append(starts[0] - t0)
    pc.close()
    return {
        "caller_us_per_batch": (statistics.median(t_forced) - statistics.median(t_inline)) * 1e6,
        "inline_noop_batch_us": statistics.median(t_inline) * 1e6,
        "engine_wake_us_p50": statistics.median(wake) * 1e6 if wake else float("nan"),
        "engine_wake_us_p90": (sorted(wake)[len(wake) * 9 // 10] * 1e6 if wake
                               else float("nan")),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--work-us", type=float, default=5.0)
    ap.add_argument("--engines", type=int, default=None)
    ap.add_argument("--compressors", nargs="+", default=["lz4", "zstd"])
    ap.add_argument("--max-other-load", type=float, default=0.15,
                    help="redo a run if other processes kept more CPUs than this busy")
    ap.add_argument("--process-prototype", action="store_true",
                    help="also time the process-engine prototype (see the module doc)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    pages = load_pages(args.pages)
    results = [bench(name, pages, args.repeat, args.work_us, args.engines, args.max_other_load,
                     args.process_prototype) for name in args.compressors]
    ho = handoff()
    if args.json:
        print(json.dumps({"results": results, "handoff": ho}, indent=2))
        return 0
    print(f"{len(pages)} non-zero 'real' pages, batches of {BATCH}, {args.repeat} interleaved "
          f"runs (median), simulated per-page work {args.work_us} µs")
    print(f"{'variant':28} " + "".join(f"{r['batching']:>30}" for r in results))
    keys = list(results[0]["variants"])
    for key in keys:
        cells = []
        for r in results:
            v = r["variants"][key]
            sp = f" x{v['speedup']:.2f} ({v['speedup_min']:.2f}-{v['speedup_max']:.2f})" \
                if "speedup" in v else ""
            cells.append(f"{v['pages_per_s']:>9,.0f} p/s{sp}")
        print(f"{key:28} " + "".join(f"{c:>30}" for c in cells))
    print("other processes kept busy (CPUs, worst kept run): "
          + "; ".join(f"{r['batching']} {r['other_cpus_busy']:.2f} ({r['discarded_runs']} runs "
                      "redone)" for r in results))
    print("per-page cost estimates (µs): "
          + "; ".join(f"{r['batching']} {r['page_cost_us']}" for r in results))
    print(f"hand-off: caller {ho['caller_us_per_batch']:.1f} µs per handed-off batch "
          f"(inline no-op batch {ho['inline_noop_batch_us']:.1f} µs); engine wake-up "
          f"p50 {ho['engine_wake_us_p50']:.1f} µs, p90 {ho['engine_wake_us_p90']:.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
