"""``pyzswap bench engines``: the batching engines (``zstd-x2`` etc.) against the sequential
base transform, below zswap.

``pyzswap bench batching`` measures what batching gives zswap's stores; this measures the
engines themselves, the figures :mod:`pyzswap.compress.batching` and
:mod:`pyzswap.compress.native` give for their design. On the source's non-zero pages, for
each compressor it times, interleaved block by block (each variant runs on every block in
turn and ratios are taken per run, so the machine's drift hits all alike):

* ``seq``            - the base transform's single-page loop, 8 pages per "batch";
* ``batch8``         - ``compress_batch`` of 8 pages on the batching transform (sync mode);
* ``seq+work``       - ``seq`` plus ``work_us`` of GIL-held Python per page after each batch
  (zswap's per-page zsmalloc/tree work, simulated by a busy loop);
* ``batch8+work``    - ``batch8`` plus the same work;
* ``pipelined+work`` - async: submit batch k+1, do the per-page work of batch k, wait for k+1
  (destinations double-buffered);
* ``dseq`` / ``dbatch8`` - decompression, single-page loop vs ``decompress_batch`` of 8.

Speedup = sequential time / variant time (median of the per-run ratios; ``+work`` variants
against ``seq+work``). ``ceiling`` is two plain threads compressing the two halves of the
block with no coordination: the most any engine design can get from this machine at that
moment. It also measures the hand-off itself: the caller's cost per handed-off batch (a no-op
codec, engines woken but the caller finishes first) and an engine's wake-up latency (submit
to its first page).

Policies: plain names use the default policy (what zswap gets: cheap batches inline);
``handed-off`` hands every batch to one engine beside the caller; ``engines-only`` gives
every page to the engines while the caller only waits. A run during which other processes
kept more than ``max_other_load`` CPUs busy is redone (at most 3 x ``repeat`` times): read
``other_cpus_busy`` before trusting a figure from a shared machine.
"""


from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ...compress import PAGE_SIZE, Compressor, Transform, get_compressor
from ...compress.batching import BatchingCompressor, BatchingTransform
from ...compress.native import NativeBatchingTransform
from ...errors import ZswapError
from . import _subcommand as sub
from ._common import PageSource, Progress, cpu_ticks

__all__ = ["engines", "handoff", "run_engines"]

BATCH = 8
#: A batching compressor's transform: native C engines or Python engine threads.
EngineTransform = BatchingTransform | NativeBatchingTransform
BLOCK = 256
clock = time.perf_counter


def busy(us: float) -> None:
    """Hold the GIL for ``us`` µs, like zswap's per-page Python work (no blocking, no C)."""
    end = clock() + us * 1e-6
    while clock() < end:
        pass


def _batch_pages(source: PageSource) -> list[memoryview]:
    """The source's pages, cut to whole batches."""
    view = memoryview(source.data)
    n = source.pages // BATCH * BATCH
    return [view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n)]


Variant = Callable[[Sequence[memoryview], Sequence[bytes]], float]

#: The batching transforms each variant runs on: the default policy (what zswap gets), every
#: batch handed off to one engine beside the caller, and engines only (the caller just waits).
POLICIES: dict[str, dict[str, Any]] = {
    "": {},
    " handed-off": {"min_parallel_us": 0.0},
    " engines-only": {"min_parallel_us": 0.0, "caller_helps": False},
}


def make_variants(base: Transform, peer: Transform, tfms: dict[str, EngineTransform],
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

    def batch8(tfm: EngineTransform, pages: Sequence[memoryview], work: float) -> float:
        compress_batch = tfm.compress_batch
        t0 = clock()
        for b in range(0, len(pages), BATCH):
            compress_batch(pages[b:b + BATCH], set_a)
            if work:
                for _ in range(BATCH):
                    busy(work)
        return clock() - t0

    def pipelined(tfm: EngineTransform, pages: Sequence[memoryview]) -> float:
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

    def dbatch8(tfm: EngineTransform, streams: Sequence[bytes]) -> float:
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

    def on(fn: Callable[[EngineTransform, Sequence[memoryview], Sequence[bytes]], float],
           tfm: EngineTransform) -> Variant:
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
        ticks = cpu_ticks()
        if ticks is None:
            raise OSError("/proc/stat has no cpu line")
        idle = ticks[3] + ticks[4]
        return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system

    def others(self) -> float:
        """Average number of CPUs busy with other processes since creation."""
        wall = clock() - self.t0
        other = (self._busy() - self.busy0) - (self._own() - self.own0)
        return max(other, 0.0) / wall if wall > 0 else 0.0


def _bench_compressor(name: str, pages: list[memoryview], repeat: int, work_us: float,
                      engines: int | None, max_other: float,
                      progress: Progress | None) -> dict[str, Any]:
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
    for t in tfms.values():  # warm up: engines started, cost estimates sampled
        for bp, bs in blocks[:2]:
            t.compress_batch(bp[:BATCH], [bytearray(PAGE_SIZE) for _ in range(BATCH)])
            t.decompress_batch(bs[:BATCH], [bytearray(PAGE_SIZE) for _ in range(BATCH)])
    samples: dict[str, list[float]] = {k: [] for k in variants}
    loads: list[float] = []
    discarded = 0
    while len(loads) < repeat:
        if progress:
            progress(f"engines {name}: run {len(loads) + 1}/{repeat} ({len(pages)} pages, "
                     f"{discarded} redone)")
        load = CpuLoad()
        totals = dict.fromkeys(variants, 0.0)
        for bp, bs in blocks:
            for key, fn in variants.items():
                totals[key] += fn(bp, bs)
        other = load.others()
        if other > max_other and discarded < 3 * repeat:
            discarded += 1
            continue
        loads.append(other)
        for key, value in totals.items():
            samples[key].append(value)
    for c in comps.values():
        c.close()
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


def run_engines(source: PageSource, compressors: Sequence[str], *, repeat: int = 5,
                work_us: float = 5.0, engines: int | None = None, max_other_load: float = 0.15,
                handoff_rounds: int = 2000,
                progress: Progress | None = None) -> dict[str, Any]:
    """The benchmark of the module docstring: one result per compressor, and the hand-off."""
    for name in compressors:
        get_compressor(name)
    pages = _batch_pages(source)
    if not pages:
        raise ZswapError(f"the engines benchmark needs at least {BATCH} non-zero pages")
    results = [_bench_compressor(name, pages, repeat, work_us, engines, max_other_load, progress)
               for name in compressors]
    if progress:
        progress("engines: hand-off cost and wake-up latency")
    return {"source": source.to_dict(), "pages": len(pages), "batch": BATCH, "repeat": repeat,
            "work_us": work_us, "results": results, "handoff": handoff(handoff_rounds)}


@sub.subcommand("engines")
@sub.compressors_option("lz4,zstd")
@click.option("--work-us", type=click.FloatRange(0), default=5.0, show_default=True,
              help="simulated per-page Python work of the +work variants, in µs")
@click.option("--engines", "nengines", type=click.IntRange(1, 64), default=None,
              help="engine threads (default: the batching compressor's own)")
@click.option("--max-other-load", type=click.FloatRange(0), default=0.15, show_default=True,
              help="redo a run if other processes kept more CPUs than this busy")
def engines(pageset: str | None, pagefile: Path | None, pages: int | None, seed: int,
            compressors: str, repeat: int, work_us: float, nengines: int | None,
            max_other_load: float, as_json: bool, quiet: bool) -> None:
    """The batching engines against the sequential base transform (below zswap).

    compress_batch, pipelined submit/wait and decompress_batch of 8 pages on BatchingCompressor
    engines, against the base transform's single-page loop, with and without simulated
    per-page work; plus the caller's hand-off cost and an engine's wake-up latency.
    """
    names = sub.split_compressors(compressors)
    source = sub.page_source(pageset, pagefile, 4096 if pages is None else pages, seed)
    report = run_engines(source, names, repeat=repeat, work_us=work_us, engines=nengines,
                         max_other_load=max_other_load, progress=sub.progress(quiet))
    if sub.emit(report, as_json):
        return
    results, ho = report["results"], report["handoff"]
    click.echo(f"{report['pages']:,} non-zero pages, batches of {BATCH}, {repeat} interleaved "
               f"runs (median), simulated per-page work {work_us} µs")
    click.echo(f"{'variant':28} " + "".join(f"{r['batching']:>30}" for r in results))
    for key in results[0]["variants"]:
        cells = []
        for r in results:
            v = r["variants"][key]
            sp = (f" x{v['speedup']:.2f} ({v['speedup_min']:.2f}-{v['speedup_max']:.2f})"
                  if "speedup" in v else "")
            cells.append(f"{v['pages_per_s']:>9,.0f} p/s{sp}")
        click.echo(f"{key:28} " + "".join(f"{c:>30}" for c in cells))
    click.echo("other processes kept busy (CPUs, worst kept run): "
               + "; ".join(f"{r['batching']} {r['other_cpus_busy']:.2f} "
                           f"({r['discarded_runs']} runs redone)" for r in results))
    click.echo("per-page cost estimates (µs): "
               + "; ".join(f"{r['batching']} {r['page_cost_us']}" for r in results))
    click.echo(f"hand-off: caller {ho['caller_us_per_batch']:.1f} µs per handed-off batch "
               f"(inline no-op batch {ho['inline_noop_batch_us']:.1f} µs); engine wake-up "
               f"p50 {ho['engine_wake_us_p50']:.1f} µs, p90 {ho['engine_wake_us_p90']:.1f} µs")
