"""zsmalloc: the C pool (``ZsPool``) against the Python reference (``PyZsPool``).

Object lengths are real: the pages of ``pagesets.make_pages("real", N)`` (zero pages dropped,
as the swap core's zero bitmap does) compressed with cramjam's lz4 block codec, a length above
4096 stored as-is (4096), as zswap does. Each object is written from a 4096-byte buffer, as
zswap passes its per-CPU compression buffer.

Per implementation, from Python (the loop's own cost included, the same for both):

* ``malloc_write`` of OBJECTS objects, ``read_into`` of each, ``free`` of each, in µs per call;
* ``malloc_write + free`` pairs on a pool already holding OBJECTS objects, in µs per pair;
* metadata per object: in a fresh interpreter, tracemalloc's growth while OBJECTS objects are
  allocated (handles kept in an ``array``, so the caller's int objects are not counted) minus
  ``pages_allocated * 4096`` (the zspage memory: data and zsmalloc's own waste), per object;
  and the same from the resident set size (/proc/self/statm) without tracemalloc.

Usage: ``.venv/bin/python benchmarks/bench_zsmalloc.py [--objects 100000] [--json]``.
"""

from __future__ import annotations

import argparse
import array
import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import cramjam

from pyzswap.tools.pagesets import make_pages
from pyzswap.zsmalloc import PyZsPool, ZsPool

PAGE = 4096
IMPLS: dict[str, Any] = {"c": ZsPool, "py": PyZsPool}


def real_objects(n_pages: int = 4096) -> list[tuple[memoryview, int]]:
    """(4096-byte buffer holding the compressed page, compressed length) per non-zero page."""
    data = make_pages("real", n_pages)
    out = []
    zero = bytes(PAGE)
    for i in range(n_pages):
        page = data[i * PAGE : (i + 1) * PAGE]
        if page == zero:
            continue
        comp = bytes(cramjam.lz4.compress_block(page, store_size=False))
        buf = bytearray(PAGE)
        if len(comp) >= PAGE:
            buf[:] = page
            n = PAGE
        else:
            buf[: len(comp)] = comp
            n = len(comp)
        out.append((memoryview(buf), n))
    return out


def timings(cls: Any, objs: list[tuple[memoryview, int]], count: int) -> dict[str, float]:
    srcs = [objs[i % len(objs)] for i in range(count)]
    best: dict[str, float] = {}

    def keep(name: str, seconds: float, calls: int) -> None:
        us = seconds / calls * 1e6
        best[name] = min(best.get(name, us), us)

    for _ in range(3):
        pool = cls("bench")
        mw = pool.malloc_write
        t0 = time.perf_counter()
        handles = [mw(buf, n) for buf, n in srcs]
        keep("malloc_write", time.perf_counter() - t0, count)
        out = bytearray(PAGE)
        ri = pool.read_into
        pairs = list(zip(handles, (n for _, n in srcs), strict=True))
        t0 = time.perf_counter()
        for h, n in pairs:
            ri(h, n, out)
        keep("read_into", time.perf_counter() - t0, count)
        # steady state: a full pool, one object in and out
        free = pool.free
        t0 = time.perf_counter()
        for buf, n in srcs:
            free(mw(buf, n))
        keep("malloc_write+free", time.perf_counter() - t0, count)
        t0 = time.perf_counter()
        for h in handles:
            free(h)
        keep("free", time.perf_counter() - t0, count)
        pool.destroy()
    return best


def memory_child(impl: str, count: int, how: str) -> dict[str, float]:
    objs = real_objects()
    srcs = [objs[i % len(objs)] for i in range(count)]
    handles = array.array("I", bytes(4 * count))
    cls = IMPLS[impl]
    warm = cls("warm")  # first-use caches (class tables, type caches) before measuring
    warm.free(warm.malloc_write(*srcs[0]))
    gc.collect()
    if how == "tracemalloc":
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    else:
        before = rss()
    pool = cls("mem")
    mw = pool.malloc_write
    for i, (buf, n) in enumerate(srcs):
        handles[i] = mw(buf, n)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if how == "tracemalloc" else rss()
    zs = pool.pages_allocated * PAGE
    return {
        "bytes_per_object": round((after - before - zs) / count, 2),
        "pages_allocated": pool.pages_allocated,
        "data_bytes_per_object": round(sum(n for _, n in srcs) / count, 1),
    }


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory(impl: str, count: int, how: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", impl, how, "--objects", str(count)],
        check=True, capture_output=True, text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(memory_child(args.child[0], args.objects, args.child[1])))
        return
    objs = real_objects()
    report: dict[str, Any] = {
        "objects": args.objects,
        "mean_length": round(sum(n for _, n in objs) / len(objs), 1),
        "huge_fraction": round(sum(n >= 3625 for _, n in objs) / len(objs), 3),
    }
    for impl, cls in IMPLS.items():
        report[impl] = {
            "us": timings(cls, objs, args.objects),
            "tracemalloc": memory(impl, args.objects, "tracemalloc"),
            "rss": memory(impl, args.objects, "rss"),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.objects} objects, real pages + lz4: mean length {report['mean_length']} B, "
          f"{report['huge_fraction']:.1%} huge")
    print(f"{'':22}{'C ZsPool':>12}{'PyZsPool':>12}{'speedup':>9}")
    for op in ("malloc_write", "read_into", "free", "malloc_write+free"):
        c, py = report["c"]["us"][op], report["py"]["us"][op]
        print(f"{op + ' (µs)':22}{c:12.3f}{py:12.3f}{py / c:8.1f}x")
    for how in ("tracemalloc", "rss"):
        c, py = report["c"][how]["bytes_per_object"], report["py"][how]["bytes_per_object"]
        print(f"{'metadata B/obj ' + how:22}{c:12.1f}{py:12.1f}")


if __name__ == "__main__":
    main()
