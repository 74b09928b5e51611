"""``pyzswap bench writeback``: zswap writeback against raw decompress + a file write, same pages.

Pages of the source are swapped out into zswap (no limit) with a real swap file behind it
(:class:`~pyzswap.swapcore.SwapCore`). Then, block by block and interleaved so machine drift
hits both alike:

* ``raw`` - the compressor's own :class:`~pyzswap.compress.Transform` decompressing the same
  compressed objects (read back from zsmalloc untimed), plus ``os.pwrite`` of each page to a
  file at its slot's offset: what writeback must do at the very least;
* ``writeback`` - ``Zswap.writeback_entry`` of the same entries (swap cache, tree check,
  decompress, write, free): the work the shrinker and the pool-limit worker do.

Pages per second for both and the cost ratio writeback/raw, median (min-max) of ``repeat``
repetitions. Every written-back page is swapped in afterwards and compared with the original.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ...compress import get_compressor
from ...folio import PAGE_SIZE
from ...swap import swp_offset
from ...swapcore import SwapCore
from ...zswap import Zswap
from . import _subcommand as sub
from ._common import PageSource, Progress, ratio_summary
from ._core import BLOCK, BenchError, _blocks

__all__ = ["run_writeback", "writeback"]


def _one_rep(name: str, pages: Sequence[memoryview], tmp: str, raw_fd: int) -> tuple[float,
                                                                                      float]:
    """(raw seconds, writeback seconds) of one repetition on a fresh zswap and swap file."""
    tfm = get_compressor(name).new_transform()
    n = len(pages)
    buf = bytearray(PAGE_SIZE)
    z = Zswap(compressor=name, totalram_pages=None, cpus=1)
    core = SwapCore(z, directory=tmp)
    try:
        core.swapon(n + 1)
        swps: list[int] = []
        for i, page in enumerate(pages):
            swp = core.swap_out(page)
            if swp is None:
                raise BenchError(f"{name}: page {i} could not be swapped out")
            swps.append(swp)
        entries = []
        for swp in swps:
            entry = z.lookup(0, swp_offset(swp))
            if entry is None:
                raise BenchError(f"{name}: a swapped-out page is not in zswap")
            entries.append(entry)
        objects = [z.entry_pool(e).zs_pool.read(e.handle, e.length) for e in entries]
        t_raw = t_wb = 0.0
        for block in _blocks(n):
            t0 = time.perf_counter()
            for i in block:
                obj = objects[i]
                if entries[i].length == PAGE_SIZE:
                    os.pwrite(raw_fd, obj, (i + 1) * PAGE_SIZE)
                else:
                    tfm.decompress(obj, buf)
                    os.pwrite(raw_fd, buf, (i + 1) * PAGE_SIZE)
            t1 = time.perf_counter()
            for i in block:
                if z.writeback_entry(entries[i]) != 0:
                    raise BenchError(f"{name}: writeback of page {i} failed")
            t_wb += time.perf_counter() - t1
            t_raw += t1 - t0
        out = bytearray(PAGE_SIZE)
        for swp, page in zip(swps, pages, strict=True):
            core.swap_in(swp, out)
            if out != page:
                raise BenchError(f"{name}: a written-back page differs")
    finally:
        core.close()
    return t_raw, t_wb


def run_writeback(source: PageSource, compressors: Sequence[str], *, repeat: int = 5,
                  progress: Progress | None = None) -> dict[str, Any]:
    """The benchmark of the module docstring, one result per compressor."""
    for name in compressors:
        get_compressor(name)
    n = source.pages
    pages = source.page_views("writeback", at_least=0)
    results = []
    with tempfile.TemporaryDirectory(prefix="pyzswap-bench-") as tmp:
        raw_fd = os.open(os.path.join(tmp, "raw.bin"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            for name in compressors:
                raw: list[float] = []
                wb: list[float] = []
                for rep in range(repeat):
                    if progress:
                        progress(f"writeback {name}: repetition {rep + 1}/{repeat} ({n} pages)")
                    t_raw, t_wb = _one_rep(name, pages, tmp, raw_fd)
                    raw.append(n / t_raw)
                    wb.append(n / t_wb)
                results.append({
                    "compressor": name,
                    "pages": n,
                    "raw_pages_per_s": ratio_summary(raw),
                    "writeback_pages_per_s": ratio_summary(wb),
                    "writeback_cost_vs_raw": ratio_summary([r / w for r, w in
                                                            zip(raw, wb, strict=True)]),
                })
        finally:
            os.close(raw_fd)
    return {"source": source.to_dict(), "repeat": repeat, "block_pages": BLOCK,
            "results": results}


@sub.subcommand("writeback")
@sub.compressors_option("lz4,zstd")
def writeback(pageset: str | None, pagefile: Path | None, pages: int | None, seed: int,
              compressors: str, repeat: int, as_json: bool, quiet: bool) -> None:
    """zswap writeback against raw decompress + a file write, on the same pages.

    Pages/s of Zswap.writeback_entry and of the bare decompress-and-pwrite of the same
    objects, interleaved block by block; the cost ratio, median of --repeat (min-max beside).
    """
    names = sub.split_compressors(compressors)
    report = run_writeback(sub.page_source(pageset, pagefile, pages, seed), names, repeat=repeat,
                           progress=sub.progress(quiet))
    if sub.emit(report, as_json):
        return
    click.echo(f"{report['source']['pages']:,} non-zero pages, median (min-max) of {repeat}")
    for r in report["results"]:
        raw, wb, cost = (r["raw_pages_per_s"], r["writeback_pages_per_s"],
                         r["writeback_cost_vs_raw"])
        click.echo(f"{r['compressor']:8s} raw decompress+write {raw['median']:>10,.0f} pages/s"
                   f"  writeback {wb['median']:>10,.0f} pages/s  cost ratio "
                   f"{cost['median']:.2f}x ({cost['min']:.2f}-{cost['max']:.2f})")
