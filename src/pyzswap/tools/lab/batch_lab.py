"""Design-lab experiment on compress batching: ``batching``.

``batching`` is pyzswap's counterpart of the series' usemem table (docs/KERNEL_REFERENCE.md
§9): store
throughput and latency of 4K, 64K and 2M folios, and of reclaim batching (``store_batch`` of
SWAP_CLUSTER_MAX 4K folios), for the plain software compressor (the sequential baseline) and
batching compressors of every batch size and engine count, on the same real pages in the same
run. (What the per-CPU context designs cost for batching pools is in
:mod:`pyzswap.tools.lab.ctx_lab`.)

It builds batching compressors only through the public API (``BatchingCompressor(base,
engines, batch_size=N)`` registered by name), so they measure whatever engine implementation
``pyzswap.compress`` has at the time.

Timing on a shared 2-vCPU VM drifts by tens of percent within seconds, so the variants of one
case run *interleaved*, block by block (one untimed warm-up block first, then the round order
rotates), and a speedup is the median of per-round ratios over the same pages. Throughput and
latency are therefore not deterministic; everything else (what is stored, memory) is.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ...compress import (
    BatchingCompressor,
    Compressor,
    available_compressors,
    get_compressor,
    register_compressor,
    unregister_compressor,
)
from ...cpu import CpuModel
from ...errors import ZswapError
from ...folio import PAGE_SIZE, zero_page_mask
from ...zswap import Zswap
from ..pagesets import make_pages
from .result import LabResult, LabTable, progress

__all__ = ["BATCH_SIZES", "ENGINES", "SWAP_CLUSTER_MAX", "batching"]

#: Folios reclaim isolates and hands to swap-out at once (mm/vmscan.c).
SWAP_CLUSTER_MAX = 32
#: The batch sizes and engine counts ``batching`` crosses (the series caps batches at 8).
BATCH_SIZES = (1, 2, 4, 8)
ENGINES = (1, 2)
#: What the series' v13 cover letter reports for usemem30 (deflate-iaa batching vs sequential;
#: zstd with the series vs without), beside our rows for comparison (docs/KERNEL_REFERENCE.md §9).
_SERIES_V13 = {
    "4K": "not reported",
    "64K": "IAA +62%, zstd +0.3%",
    "2M": "IAA +67%, zstd +0.1%",
    f"reclaim {SWAP_CLUSTER_MAX}x4K": "no throughput posted",
}


# ------------------------------------------------------------------ compressors --------------
@contextmanager
def _batching_compressors(specs: Sequence[tuple[str, int, int]]) -> Iterator[dict[
        tuple[str, int, int], str]]:
    """Register ``BatchingCompressor(base, engines, batch_size=b)`` for each spec; yield the
    registered name of each.

    A name someone already registered is used as it is and left alone; the compressors made
    here are unregistered and closed (engine threads joined) afterwards, even on error, so an
    experiment leaves the registry as it found it. (Registered, not ``has_compressor``: that
    is also true of names the registry would make on first use, which would then stay.)
    """
    made: list[BatchingCompressor] = []
    names: dict[tuple[str, int, int], str] = {}
    try:
        registered = set(available_compressors())
        for base, engines, batch in specs:
            c = BatchingCompressor(base, engines, batch_size=batch)
            if c.name in registered:
                c.close()  # never started: nothing to join
            else:
                register_compressor(c)
                made.append(c)
            names[(base, engines, batch)] = c.name
        yield names
    finally:
        for c in made:
            unregister_compressor(c.name)
            c.close()


def _engine_pages(compressor: Compressor) -> int | None:
    """Pages a batching compressor's engines (not the caller) processed, if it says."""
    value = getattr(compressor, "engine_pages", None)
    return value if isinstance(value, int) else None


# ------------------------------------------------------------------ pages --------------------
def _nonzero_pages(n: int, seed: int) -> memoryview:
    """``n``-ish real pages without the zero ones: the swap core keeps zero pages in its
    bitmap, so zswap never sees them (6.18)."""
    data = make_pages("real", n, seed)
    keep = ~zero_page_mask(data)
    mv = memoryview(data)
    return memoryview(b"".join(mv[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
                               for i in range(n) if keep[i]))


@dataclass(frozen=True)
class _Workload:
    """What one store call hands zswap: ``per_call`` folios of ``folio_pages`` pages."""

    label: str
    folio_pages: int
    per_call: int = 1


_FOLIOS = (_Workload("4K", 1), _Workload("64K", 16), _Workload("2M", 512),
           _Workload(f"reclaim {SWAP_CLUSTER_MAX}x4K", 1, SWAP_CLUSTER_MAX))


@dataclass
class _Variant:
    """One configuration being measured: its zswap, and what its stores took."""

    label: str
    compressor: Compressor
    zswap: Zswap
    call_ns: list[int] = field(default_factory=list)
    round_ns: list[int] = field(default_factory=list)
    pages: int = 0
    engine_pages: int | None = None


def _pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): a value that was really observed."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _measure(workload: _Workload, variants: list[_Variant], pages: memoryview,
             nr_folios: int, rounds: int) -> None:
    """Store ``nr_folios`` folios per round into every variant, interleaved, timing each call.

    Round -1 is an untimed warm-up (engines started, cost estimates settled, zsmalloc classes
    populated). After each block a sample of pages is loaded back and compared byte for byte,
    and every entry is invalidated, so each block starts from the same, empty trees. Python's
    cyclic GC is paused while a block is timed: the kernel has no such pauses, and a full
    collection (milliseconds with this many objects) would land on whichever variant happened
    to be running.
    """
    fp = workload.folio_pages
    usable = (len(pages) // PAGE_SIZE) // fp * fp
    if usable < fp:
        raise ZswapError(f"{workload.label}: need at least {fp} pages, have {usable}")
    for r in range(-1, rounds):
        first = max(r, 0) * nr_folios
        folios = [pages[s * PAGE_SIZE:(s + fp) * PAGE_SIZE]
                  for s in (((first + k) * fp) % usable for k in range(nr_folios))]
        shift = max(r, 0) % len(variants)
        for v in variants[shift:] + variants[:shift]:
            calls: list[int] = []
            engine0 = _engine_pages(v.compressor)
            gc_was_on = gc.isenabled()
            gc.disable()
            try:
                _store_block(workload, v, folios, calls)
            finally:
                if gc_was_on:
                    gc.enable()
            if r >= 0:
                v.call_ns.extend(calls)
                v.round_ns.append(sum(calls))
                v.pages += nr_folios * fp
                engine1 = _engine_pages(v.compressor)
                if engine0 is not None and engine1 is not None:
                    v.engine_pages = (v.engine_pages or 0) + engine1 - engine0
            _verify_and_drop(v, folios, fp)


def _store_block(workload: _Workload, v: _Variant, folios: Sequence[memoryview],
                 calls: list[int]) -> None:
    """Store one block of folios at slots 0.., appending each store call's nanoseconds."""
    z = v.zswap
    clock = time.perf_counter_ns
    fp = workload.folio_pages
    if workload.per_call == 1:
        store = z.store
        for k, folio in enumerate(folios):
            t0 = clock()
            ok = store(folio, 0, k * fp)
            calls.append(clock() - t0)
            if not ok:
                raise ZswapError(f"{v.label}: an unlimited zswap refused a folio")
        return
    for start in range(0, len(folios), workload.per_call):
        batch = [(folio, 0, (start + j) * fp)
                 for j, folio in enumerate(folios[start:start + workload.per_call])]
        t0 = clock()
        results = z.store_batch(batch)
        calls.append(clock() - t0)
        if not all(results):
            raise ZswapError(f"{v.label}: an unlimited zswap refused a folio")


def _pages_per_s(v: _Variant) -> int:
    """Pages per second of a typical round: pages per round / the median round's time (a
    round disturbed by other load does not drag the figure, as with the speedups)."""
    return round(v.pages / len(v.round_ns) / (statistics.median(v.round_ns) / 1e9))


def _verify_and_drop(v: _Variant, folios: Sequence[memoryview], fp: int) -> None:
    """Load the first and last page of three folios back (byte-exact or raise), then drop
    every entry of the block."""
    z = v.zswap
    out = bytearray(PAGE_SIZE)
    for k in sorted({0, len(folios) // 2, len(folios) - 1}):
        for p in sorted({0, fp - 1}):
            off = k * fp + p
            if not z.load(out, 0, off) or out != folios[k][p * PAGE_SIZE:(p + 1) * PAGE_SIZE]:
                raise ZswapError(f"{v.label}: slot {off} did not load back byte-exact")
    for off in range(len(folios) * fp):
        z.invalidate(0, off)


def _speedup(base: _Variant, v: _Variant) -> float:
    """Median over rounds of base time / variant time (same pages each round)."""
    return statistics.median(b / x for b, x in zip(base.round_ns, v.round_ns, strict=True)
                             if x > 0)


def _size_params(size: float) -> tuple[int, int]:
    """(pages per block, timed rounds) for a ``--size``."""
    return max(SWAP_CLUSTER_MAX, round(1024 * size)), max(2, round(16 * size))


def _nr_folios(workload: _Workload, block_pages: int) -> int:
    n = max(1, block_pages // workload.folio_pages)
    return max(workload.per_call, n // workload.per_call * workload.per_call)


# ------------------------------------------------------------------ batching -----------------
def batching(size: float = 1.0, compressors: Sequence[str] = ("lz4", "zstd")) -> LabResult:
    """Store throughput and latency by folio size, compressor, batch size and engines."""
    block_pages, rounds = _size_params(size)
    pages = _nonzero_pages(min(8192, max(1024, 4 * block_pages)), seed=0)
    ncpus = os.cpu_count() or 1
    rows: list[list[Any]] = []
    summary: list[list[Any]] = []
    for base in compressors:
        specs = [(base, e, b) for e in ENGINES for b in BATCH_SIZES]
        with _batching_compressors(specs) as names:
            for workload in _FOLIOS:
                progress(f"batching: {base}, {workload.label} folios")
                nr_folios = _nr_folios(workload, block_pages)
                variants = [_Variant("sequential", get_compressor(base),
                                     _fresh(base, ncpus, nr_folios * workload.folio_pages))]
                for spec in specs:
                    name = names[spec]
                    variants.append(_Variant(f"x{spec[1]} b{spec[2]}", get_compressor(name),
                                             _fresh(name, ncpus,
                                                    nr_folios * workload.folio_pages)))
                try:
                    _measure(workload, variants, pages, nr_folios, rounds)
                finally:
                    for v in variants:
                        v.zswap.close()
                seq = variants[0]
                per_call_pages = workload.folio_pages * workload.per_call
                for v, spec in zip(variants, [(base, 0, 1), *specs], strict=True):
                    page_ns = [c / per_call_pages for c in v.call_ns]
                    share = ("-" if v.engine_pages is None
                             else round(100 * v.engine_pages / max(1, v.pages), 1))
                    rows.append([
                        workload.label, base, v.label, v.compressor.name, spec[2], spec[1],
                        _pages_per_s(v), round(_speedup(seq, v), 2),
                        *(round(_pct(v.call_ns, p) / 1e3, 1) for p in (50, 90, 99)),
                        *(round(_pct(page_ns, p) / 1e3, 2) for p in (50, 90, 99)),
                        share,
                    ])
                by_label = {v.label: v for v in variants}
                x1, x2 = by_label["x1 b8"], by_label["x2 b8"]
                summary.append([workload.label, base, _pages_per_s(seq),
                                _pages_per_s(x1),
                                _pages_per_s(x2),
                                _percent(_speedup(seq, x1)), _percent(_speedup(seq, x2)),
                                _SERIES_V13[workload.label]])
    notes = [
        "sequential = the plain software compressor; 'xE bB' = BatchingCompressor(base, E, "
        "batch_size=B), registered by name, default hand-off policy (what zswap gets).",
        "speedup = median over rounds of sequential time / variant time on the same pages; "
        "pages/s = pages per round / the median round's store-call time. Timings are not "
        "deterministic (interleaved rounds tame the VM's drift, not other load).",
        "latency: per store call (one folio, or one store_batch of 32 folios for reclaim) and "
        "per page (call time / pages in the call); nearest-rank percentiles, so with few "
        "calls (2M folios) p99 is close to the maximum.",
        "engine pages % = share of pages the engine threads compressed (the rest ran on the "
        "caller: batches of 1, batches judged too cheap to hand off, the caller's own share).",
        "Every block loads back a sample of pages byte-exact; zero pages are left out, as the "
        "swap core keeps them in its zero bitmap.",
    ]
    return LabResult(
        "batching", "Does compress batching raise store throughput, by folio size, compressor, "
        "batch size and engines, and with reclaim batching?",
        ["workload", "compressor", "variant", "registered as", "batch size", "engines",
         "pages/s", "speedup", "call p50 us", "call p90 us", "call p99 us", "page p50 us",
         "page p90 us", "page p99 us", "engine pages %"],
        rows, notes, {"size": size, "rounds": rounds, "block_pages": block_pages,
                      "compressors": list(compressors), "cpus": ncpus},
        [LabTable("batching vs sequential (the series' usemem table, pyzswap side)",
                  ["workload", "compressor", "sequential pages/s", "x1 b8 pages/s",
                   "x2 b8 pages/s", "x1 b8 vs sequential", "x2 b8 vs sequential",
                   "series v13 usemem30"], summary)],
    )


def _percent(speedup: float) -> str:
    return f"{(speedup - 1) * 100:+.0f}%"


def _fresh(compressor: str, ncpus: int, nr_pages: int) -> Zswap:
    """An unlimited zswap with one swap type of ``nr_pages`` slots."""
    z = Zswap(compressor=compressor, totalram_pages=None, cpus=CpuModel(ncpus))
    z.swapon(0, max(nr_pages, 1))
    return z
