"""``pyzswap bench memcg``: what a memory cgroup costs a zswap store and load, same pages, one run.

Two ``Zswap`` instances with the same compressor, one storing every page charged to a memcg
(``root/a``: the charge, the ``zswpout`` event, the memcg's LRU list) and one without; their
stores, then their loads, alternate in blocks of :data:`~._core.BLOCK` pages so the machine's
drift hits both alike. Per repetition it takes µs/page and the ratio memcg/plain; the summary
is the median (min-max) over repetitions. The first page of each side is stored untimed (it
places the thread on a CPU) and stays stored, so both pools end the run holding one page, which
the run checks against the memcg's own count.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ...compress import get_compressor
from ...folio import PAGE_SIZE
from ...memcg import MemCgroup
from ...zswap import Zswap
from . import _subcommand as sub
from ._common import PageSource, Progress, ratio_summary
from ._core import BLOCK, BenchError

__all__ = ["memcg", "run_memcg"]

_SIDES = ("plain", "memcg")


def _one_rep(name: str, pages: Sequence[memoryview]) -> dict[str, float]:
    """Seconds of each side's stores and loads (``store_plain`` ...) for one repetition."""
    root = MemCgroup()
    group = root.create("a")
    n = len(pages)
    charged = {"plain": None, "memcg": group}
    zs = {side: Zswap(compressor=name, totalram_pages=None, cpus=1, memcg_root=root)
          for side in _SIDES}
    t = {f"{op}_{side}": 0.0 for op in ("store", "load") for side in _SIDES}
    out = bytearray(PAGE_SIZE)
    try:
        for side, z in zs.items():
            z.swapon(0, n)
            z.store(pages[0], 0, 0, charged[side])  # places the thread on a CPU (untimed)
        for op in ("store", "load"):
            for start in range(1, n, BLOCK):
                block = range(start, min(start + BLOCK, n))
                for side, z in zs.items():
                    memcg = charged[side]
                    t0 = time.perf_counter()
                    if op == "store":
                        store = z.store
                        for i in block:
                            if not store(pages[i], 0, i, memcg):
                                raise BenchError(f"{name}: zswap refused page {i}")
                    else:
                        load = z.load
                        for i in block:
                            if not load(out, 0, i):
                                raise BenchError(f"{name}: zswap lost page {i}")
                    t[f"{op}_{side}"] += time.perf_counter() - t0
        if group.zswapped != 1 or zs["memcg"].stats()["stored_pages"] != 1:
            raise BenchError("the memcg's charges do not add up")
    finally:
        for z in zs.values():
            z.close()
    return t


def run_memcg(source: PageSource, compressor: str = "lz4", *, repeat: int = 5,
              progress: Progress | None = None) -> dict[str, Any]:
    """The benchmark of the module docstring (``source`` needs at least 2 pages)."""
    get_compressor(compressor)
    pages = source.page_views("memcg", at_least=2)
    n = len(pages)
    reps = []
    for rep in range(repeat):
        if progress:
            progress(f"memcg {compressor}: repetition {rep + 1}/{repeat} ({n} pages)")
        reps.append(_one_rep(compressor, pages))
    timed = n - 1
    figures = {k: ratio_summary([r[k] * 1e6 / timed for r in reps]) for k in reps[0]}
    ratios = {f"{op}_memcg_vs_plain": ratio_summary([r[f"{op}_memcg"] / r[f"{op}_plain"]
                                                     for r in reps])
              for op in ("store", "load")}
    return {"compressor": compressor, "source": source.to_dict(), "repeat": repeat,
            "timed_pages": timed, "us_per_page": figures, "ratios": ratios}


@sub.subcommand("memcg")
@click.option("--compressor", "-c", default="lz4", show_default=True, metavar="NAME")
def memcg(pageset: str | None, pagefile: Path | None, pages: int | None, seed: int,
          compressor: str, repeat: int, as_json: bool, quiet: bool) -> None:
    """What charging a memory cgroup costs a zswap store and load.

    Stores and loads of the same pages with and without a memcg, alternating in blocks;
    µs/page and the ratio memcg/plain, medians of --repeat repetitions (min-max beside).
    """
    sub.split_compressors(compressor)
    report = run_memcg(sub.page_source(pageset, pagefile, pages, seed), compressor, repeat=repeat,
                       progress=sub.progress(quiet))
    if sub.emit(report, as_json):
        return
    click.echo(f"{compressor}, {report['timed_pages']:,} timed pages, median (min-max) of "
               f"{repeat}")
    rows = {**report["us_per_page"], **report["ratios"]}
    for key, v in rows.items():
        unit = "x" if key in report["ratios"] else " µs/page"
        click.echo(f"  {key:22s} {v['median']:7.2f}{unit}  ({v['min']:.2f}-{v['max']:.2f})")
