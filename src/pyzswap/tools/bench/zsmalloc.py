"""``pyzswap bench zsmalloc``: the C allocator (:class:`~pyzswap.zsmalloc.ZsPool`) on its own.

Object lengths are real: the source's pages compressed with the compressor's own transform
(lz4 by default), a page that does not compress stored as-is (PAGE_SIZE), as zswap does. Each
object is written from a PAGE_SIZE buffer, as zswap passes its per-CPU compression buffer.
From Python (the loop's own cost included), per repetition on a fresh pool:

* ``malloc_write`` of ``objects`` objects, ``read_into`` of each, ``free`` of each, in µs per
  call;
* ``malloc_write+free`` pairs on a pool already holding ``objects`` objects, in µs per pair;

and, once, the metadata per object, each in a fresh interpreter (so nothing this process
allocated before counts): tracemalloc's growth while ``objects`` objects are allocated (handles
kept in an ``array``, so the caller's int objects are not counted) minus
``pages_allocated * PAGE_SIZE`` (the zspage memory: data and zsmalloc's own waste), per object;
and the same from the resident set size (``/proc/self/statm``) without tracemalloc.
"""

from __future__ import annotations

import array
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Final

import click

from ...compress import get_compressor
from ...errors import ZswapError
from ...folio import PAGE_SIZE
from ...zsmalloc import ZsPool
from . import _subcommand as sub
from ._common import PageSource, Progress, ratio_summary
from ._core import BenchError

__all__ = ["DEFAULT_OBJECTS", "run_zsmalloc", "zsmalloc"]

DEFAULT_OBJECTS: Final = 100_000
_OPS: Final = ("malloc_write", "read_into", "free", "malloc_write+free")
#: A compressed length from which zsmalloc stores an object in a class of its own (huge).
_HUGE_FROM: Final = 3625

Objects = list[tuple[memoryview, int]]


def compressed_objects(data: bytes, compressor: str = "lz4") -> Objects:
    """(PAGE_SIZE buffer holding the object, its length) for each page of ``data``."""
    tfm = get_compressor(compressor).new_transform()
    view = memoryview(data)
    out: Objects = []
    for i in range(len(data) // PAGE_SIZE):
        page = view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
        buf = bytearray(PAGE_SIZE)
        try:
            n = tfm.compress(page, buf)
        except ZswapError:
            n = PAGE_SIZE
        if not 0 < n < PAGE_SIZE:
            buf[:] = page
            n = PAGE_SIZE
        out.append((memoryview(buf), n))
    return out


def _timings(objs: Objects, count: int) -> dict[str, float]:
    """µs per call of each operation on one fresh pool."""
    srcs = [objs[i % len(objs)] for i in range(count)]
    us: dict[str, float] = {}
    clock = time.perf_counter
    pool = ZsPool("bench")
    try:
        mw = pool.malloc_write
        t0 = clock()
        handles = [mw(buf, n) for buf, n in srcs]
        us["malloc_write"] = (clock() - t0) / count * 1e6
        out = bytearray(PAGE_SIZE)
        ri = pool.read_into
        pairs = list(zip(handles, (n for _, n in srcs), strict=True))
        t0 = clock()
        for h, n in pairs:
            ri(h, n, out)
        us["read_into"] = (clock() - t0) / count * 1e6
        free = pool.free
        t0 = clock()
        for buf, n in srcs:  # steady state: a full pool, one object in and out
            free(mw(buf, n))
        us["malloc_write+free"] = (clock() - t0) / count * 1e6
        t0 = clock()
        for h in handles:
            free(h)
        us["free"] = (clock() - t0) / count * 1e6
    finally:
        pool.destroy()
    return us


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def metadata_child(source: dict[str, Any], compressor: str, count: int,
                   how: str) -> dict[str, float]:
    """In a fresh interpreter: the metadata bytes per object (see the module docstring)."""
    from ._common import load_pages

    data = load_pages(pageset=source["pageset"], pagefile=source["pagefile"],
                      pages=source["pages_read"], seed=source["seed"] or 0).data
    objs = compressed_objects(data, compressor)
    srcs = [objs[i % len(objs)] for i in range(count)]
    handles = array.array("Q", bytes(8 * count))
    warm = ZsPool("warm")  # first-use caches (type caches, the class tables) before measuring
    warm.free(warm.malloc_write(*srcs[0]))
    gc.collect()
    if how == "tracemalloc":
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if how == "tracemalloc" else _rss()
    pool = ZsPool("mem")
    mw = pool.malloc_write
    for i, (buf, n) in enumerate(srcs):
        handles[i] = mw(buf, n)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if how == "tracemalloc" else _rss()
    zs = pool.pages_allocated * PAGE_SIZE
    return {"bytes_per_object": round((after - before - zs) / count, 2),
            "pages_allocated": pool.pages_allocated,
            "data_bytes_per_object": round(sum(n for _, n in srcs) / count, 1)}


def _metadata(source: PageSource, compressor: str, count: int, how: str) -> dict[str, float]:
    code = ("import json, sys; from pyzswap.tools.bench.zsmalloc import metadata_child; "
            "print(json.dumps(metadata_child(json.loads(sys.argv[1]), sys.argv[2], "
            "int(sys.argv[3]), sys.argv[4])))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(source.to_dict()), compressor,
                           str(count), how], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise BenchError(f"the metadata child failed: {last[0]}")
    result: dict[str, float] = json.loads(proc.stdout)
    return result


def run_zsmalloc(source: PageSource, compressor: str = "lz4", *,
                 objects: int = DEFAULT_OBJECTS, repeat: int = 3,
                 progress: Progress | None = None) -> dict[str, Any]:
    """The benchmark of the module docstring."""
    objs = compressed_objects(source.data, compressor)
    lengths = [n for _, n in objs]
    runs: list[dict[str, float]] = []
    for rep in range(repeat):
        if progress:
            progress(f"zsmalloc: repetition {rep + 1}/{repeat} ({objects:,} objects)")
        runs.append(_timings(objs, objects))
    if progress:
        progress("zsmalloc: metadata per object (two child interpreters)")
    return {
        "compressor": compressor,
        "source": source.to_dict(),
        "objects": objects,
        "repeat": repeat,
        "mean_length": round(statistics.fmean(lengths), 1),
        "huge_fraction": round(sum(n >= _HUGE_FROM for n in lengths) / len(lengths), 3),
        "us_per_call": {op: ratio_summary([r[op] for r in runs]) for op in _OPS},
        "metadata": {how: _metadata(source, compressor, objects, how)
                     for how in ("tracemalloc", "rss")},
    }


@sub.subcommand("zsmalloc", repeat=3)
@click.option("--compressor", "-c", default="lz4", show_default=True, metavar="NAME",
              help="the codec whose output lengths the objects have")
@click.option("--objects", type=click.IntRange(1), default=DEFAULT_OBJECTS, show_default=True,
              help="objects allocated per repetition")
def zsmalloc(pageset: str | None, pagefile: Path | None, pages: int | None, seed: int,
             compressor: str, objects: int, repeat: int, as_json: bool, quiet: bool) -> None:
    """The C zsmalloc pool on its own: µs per call and metadata bytes per object.

    Objects of real compressed lengths; malloc_write, read_into, free and steady-state
    malloc_write+free pairs, medians of --repeat fresh pools; metadata per object by
    tracemalloc and by the RSS, each in a fresh interpreter.
    """
    sub.split_compressors(compressor)
    source = sub.page_source(pageset, pagefile, 4096 if pages is None else pages, seed)
    report = run_zsmalloc(source, compressor, objects=objects, repeat=repeat,
                          progress=sub.progress(quiet))
    if sub.emit(report, as_json):
        return
    click.echo(f"{objects:,} objects of {compressor} lengths: mean {report['mean_length']} B, "
               f"{report['huge_fraction']:.1%} huge; median (min-max) of {repeat}")
    for op, v in report["us_per_call"].items():
        click.echo(f"  {op + ' µs':22s} {v['median']:8.3f}  ({v['min']:.3f}-{v['max']:.3f})")
    for how, m in report["metadata"].items():
        click.echo(f"  metadata B/object ({how}) {m['bytes_per_object']:8.1f}")
