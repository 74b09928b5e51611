"""``pyzswap bench batching``: batched vs sequential stores, per folio size and compressor.

The compress-batching issue's benchmark. For each compressor ``c`` and each case, the same
pages are stored into two fresh zswaps in the same run: *sequential* on the software
compressor ``c`` (batch size 1: the pages of a folio are compressed one after another), and
*batched* on ``c-xE``, ``c`` run by :class:`~pyzswap.compress.BatchingCompressor` on ``E``
engines (native C engine threads for the stock algorithms). Calls alternate between the two,
in an order that itself alternates (sequential first, then batched first, ...), so machine
drift and warm caches hit both alike; every figure is the median of ``repeat`` repetitions,
with min and max. Cases:

* ``4k``, ``64k``, ``2m``: folios of 1, 16 and 512 pages, one ``store`` call each;
* ``reclaim``: 4 KiB folios handed over 32 at a time (``SWAP_CLUSTER_MAX``) through
  ``store_batch``, as reclaim's shrink_folio_list would.

Each repetition checks that every page was stored; the last one loads a sample back and
compares it byte for byte, so a fast wrong answer cannot pass.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Final

import click

from ...compress import (
    PAGE_SIZE,
    BatchingCompressor,
    available_compressors,
    get_compressor,
    register_compressor,
    unregister_compressor,
)
from ...errors import InvalidParameter
from ...zswap import Zswap
from ._cli import _one_line_errors
from ._common import PageSource, Progress, load_pages, stderr_progress
from ._core import TARGETS

__all__ = ["CASES", "BatchingCase", "batching", "run_batching_bench"]

#: case -> (pages per folio, folios per call)
CASES: Final[dict[str, tuple[int, int]]] = {
    "4k": (1, 1),
    "64k": (16, 1),
    "2m": (512, 1),
    "reclaim": (1, 32),
}
#: Batching may never cost more than this against sequential: the 4 KiB target of the main
#: benchmark's table (:data:`._core.TARGETS`), which holds every case's target.
MIN_SPEEDUP_ANY: Final = TARGETS["store_4k_batched_speedup"][0][1]


def _target(compressor: str, case: str) -> float | None:
    """The minimum speedup the main benchmark's targets set for ``compressor`` and ``case``."""
    for _, bound, applies in TARGETS.get(f"store_{case}_batched_speedup", ()):
        if applies is None or compressor in applies:
            return bound
    return None
#: Pages each side stores per repetition at least (the page set is gone through again at
#: fresh slots): 32 2 MiB folios, so one slow folio does not swing a repetition.
MIN_PAGES_PER_REP: Final = 16384


@dataclass
class BatchingCase:
    """One row: a compressor and a case, sequential vs batched on the same pages."""

    compressor: str
    batched_compressor: str
    case: str
    folio_pages: int
    folios_per_call: int
    pages: int
    sequential_us: list[float]
    batched_us: list[float]
    speedups: list[float]

    @property
    def speedup(self) -> float:
        return statistics.median(self.speedups)

    def to_dict(self) -> dict[str, Any]:
        seq = statistics.median(self.sequential_us)
        bat = statistics.median(self.batched_us)
        target = _target(self.compressor, self.case)
        return {
            "case": self.case,
            "folio_pages": self.folio_pages,
            "folios_per_call": self.folios_per_call,
            "compressor": self.compressor,
            "batched_compressor": self.batched_compressor,
            "pages": self.pages,
            "sequential_pages_per_s": round(1e6 / seq),
            "batched_pages_per_s": round(1e6 / bat),
            "sequential_us_per_page": _spread(self.sequential_us),
            "batched_us_per_page": _spread(self.batched_us),
            "speedup": round(self.speedup, 3),
            "speedup_min": round(min(self.speedups), 3),
            "speedup_max": round(max(self.speedups), 3),
            "target": target,
            "target_met": None if target is None else self.speedup >= target,
            "no_slower_than_sequential": self.speedup >= MIN_SPEEDUP_ANY,
        }


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def _calls(data: bytes, folio_pages: int, per_call: int,
           min_pages: int = 0) -> list[list[tuple[memoryview, int, int]]]:
    """The store calls of a case: lists of ``(folio, type, offset)``, whole folios only. The
    pages are gone through as many times as it takes to store ``min_pages`` (at fresh slots
    each time), so a repetition holds enough large folios for a steady figure."""
    view = memoryview(data)
    n = (len(data) // PAGE_SIZE) // folio_pages * folio_pages
    rounds = max(1, -(-min_pages // n)) if n else 1
    folios = [(view[off * PAGE_SIZE:(off + folio_pages) * PAGE_SIZE], 0, r * n + off)
              for r in range(rounds) for off in range(0, n, folio_pages)]
    return [folios[k:k + per_call] for k in range(0, len(folios), per_call)]


def _one_rep(seq_name: str, bat_name: str, calls: list[list[tuple[memoryview, int, int]]],
             pages: int, verify: bool) -> tuple[float, float]:
    """Store every call into a fresh sequential and a fresh batched zswap, alternating."""
    seq = Zswap(compressor=seq_name, totalram_pages=None)
    bat = Zswap(compressor=bat_name, totalram_pages=None)
    try:
        seq.swapon(0, pages)
        bat.swapon(0, pages)
        t_seq = t_bat = 0.0
        single = all(len(c) == 1 for c in calls)
        # Whoever goes second finds the folio's bytes in the CPU caches: alternate the order
        # call by call so neither side always gets that (~5-10% on 4 KiB folios here).
        order = ((seq, bat), (bat, seq))
        for n_call, call in enumerate(calls):
            first, second = order[n_call & 1]
            if single:
                folio, t, off = call[0]
                t0 = perf_counter()
                first.store(folio, t, off)
                t1 = perf_counter()
                second.store(folio, t, off)
                t2 = perf_counter()
            else:
                t0 = perf_counter()
                first.store_batch(call)
                t1 = perf_counter()
                second.store_batch(call)
                t2 = perf_counter()
            if first is seq:
                t_seq += t1 - t0
                t_bat += t2 - t1
            else:
                t_bat += t1 - t0
                t_seq += t2 - t1
        stored = sum(len(f) for call in calls for f, _, _ in call) // PAGE_SIZE
        for z in (seq, bat):
            got = z.stats()["stored_pages"]
            if got != stored:
                raise InvalidParameter(f"{z.compressor}: {got} of {stored} pages stored "
                                       "(the benchmark needs zswap to take every page)")
        if verify:
            _verify(bat, calls)
    finally:
        seq.close()
        bat.close()
    return t_seq, t_bat


def _verify(z: Zswap, calls: list[list[tuple[memoryview, int, int]]]) -> None:
    out = bytearray(PAGE_SIZE)
    for call in calls[::max(1, len(calls) // 16)]:
        folio, t, off = call[-1]
        last = len(folio) // PAGE_SIZE - 1
        z.load(out, t, off + last)
        if out != folio[last * PAGE_SIZE:]:
            raise InvalidParameter(f"{z.compressor}: slot {off + last} loaded different bytes")


def _batched_compressor(name: str, engines: int) -> tuple[str, BatchingCompressor | None]:
    """``name-xE``: the registered one, or a new one we register (and drop afterwards)."""
    if isinstance(get_compressor(name), BatchingCompressor):
        raise InvalidParameter(f"{name!r} is already a batching compressor; give its base")
    made = BatchingCompressor(name, engines)
    if made.name in available_compressors():
        made.close()
        return made.name, None
    register_compressor(made)
    return made.name, made


def run_batching_bench(source: PageSource, compressors: Sequence[str], *,
                       cases: Sequence[str] = tuple(CASES), engines: int = 2, repeat: int = 5,
                       min_pages: int = MIN_PAGES_PER_REP,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Every (compressor, case) pair, sequential vs batched; see the module docstring.
    ``min_pages``: pages stored per side and repetition at least (the set is repeated)."""
    for case in cases:
        if case not in CASES:
            raise InvalidParameter(f"unknown case {case!r}; valid: {', '.join(CASES)}")
    if repeat < 1:
        raise InvalidParameter(f"repeat must be >= 1, got {repeat}")
    for name in compressors:
        get_compressor(name)  # UnknownCompressor names the valid ones
    rows: list[BatchingCase] = []
    for name in compressors:
        bat_name, made = _batched_compressor(name, engines)
        try:
            for case in cases:
                folio_pages, per_call = CASES[case]
                calls = _calls(source.data, folio_pages, per_call, min_pages)
                n = sum(len(c) for c in calls) * folio_pages
                if not n:
                    raise InvalidParameter(f"{source.pages} pages are fewer than one "
                                           f"{folio_pages}-page folio")
                if progress:
                    progress(f"{name} {case}: {n} pages x {repeat}")
                _one_rep(name, bat_name, calls, n, False)  # warm-up: contexts, engines, caches
                seq_us: list[float] = []
                bat_us: list[float] = []
                for rep in range(repeat):
                    t_seq, t_bat = _one_rep(name, bat_name, calls, n, rep == repeat - 1)
                    seq_us.append(t_seq * 1e6 / n)
                    bat_us.append(t_bat * 1e6 / n)
                rows.append(BatchingCase(name, bat_name, case, folio_pages, per_call, n, seq_us,
                                         bat_us, [s / b for s, b in zip(seq_us, bat_us,
                                                                        strict=True)]))
        finally:
            if made is not None:
                unregister_compressor(made.name)
                made.close()
    return {"source": source.to_dict(), "engines": engines, "repeat": repeat,
            "min_pages": min_pages, "cases": [r.to_dict() for r in rows]}


def _print(result: dict[str, Any], echo: Callable[[str], None]) -> None:
    src = result["source"]
    what = src["pagefile"] or f"page set {src['pageset']!r} (seed {src['seed']})"
    echo(f"batched vs sequential store, {src['pages']} non-zero pages of {what} (stored again "
         f"until {result['min_pages']:,} per repetition); {result['engines']} engines; "
         f"median of {result['repeat']} (min-max)")
    echo(f"{'compressor':<10} {'case':<8} {'seq pages/s':>12} {'batched pages/s':>16} "
         f"{'speedup':>8} {'(min-max)':>12}  target")
    for row in result["cases"]:
        target = row["target"]
        mark = "" if target is None else (
            f">= {target}: {'met' if row['target_met'] else 'MISSED'}")
        if not row["no_slower_than_sequential"]:
            mark = (mark + "  " if mark else "") + "SLOWER than sequential"
        echo(f"{row['compressor']:<10} {row['case']:<8} {row['sequential_pages_per_s']:>12,} "
             f"{row['batched_pages_per_s']:>16,} {row['speedup']:>7.2f}x "
             f"{row['speedup_min']:>5.2f}-{row['speedup_max']:<5.2f}  {mark}")


@click.command()
@click.option("-c", "--compressors", default="lz4,zstd", show_default=True,
              help="comma-separated software compressors (each is also run batched)")
@click.option("--cases", default=",".join(CASES), show_default=True,
              help="comma-separated cases: 4k, 64k, 2m (folio sizes), reclaim (32 x 4k)")
@click.option("--engines", type=click.IntRange(1, 64), default=2, show_default=True,
              help="engines of the batching compressor")
@click.option("--repeat", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--pageset", default=None, help="built-in page set (default: real)")
@click.option("--pagefile", type=click.Path(dir_okay=False), default=None,
              help="raw 4 KiB pages to use instead of a page set")
@click.option("--pages", type=click.IntRange(1), default=None,
              help="pages to generate (or the first pages of --pagefile)")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option("--min-pages", type=click.IntRange(0), default=MIN_PAGES_PER_REP,
              show_default=True,
              help="pages each side stores per repetition at least (the set is repeated)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@_one_line_errors
def batching(compressors: str, cases: str, engines: int, repeat: int, pageset: str | None,
             pagefile: str | None, pages: int | None, seed: int, min_pages: int,
             as_json: bool) -> None:
    """Batched vs sequential stores of 4K, 64K and 2M folios and reclaim batches."""
    source = load_pages(pageset=pageset, pagefile=pagefile, pages=pages, seed=seed)
    result = run_batching_bench(
        source, [c.strip() for c in compressors.split(",") if c.strip()],
        cases=[c.strip() for c in cases.split(",") if c.strip()], engines=engines,
        repeat=repeat, min_pages=min_pages, progress=stderr_progress)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print(result, click.echo)
