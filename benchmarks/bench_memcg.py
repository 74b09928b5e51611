"""Benchmark: what a memory cgroup costs a zswap store and load, same pages, one run.

Run: ``.venv/bin/python benchmarks/bench_memcg.py [-c lz4] [--pages 8192] [--repeat 5] [--json]``.

Two ``Zswap`` instances with the same compressor, one storing every page charged to a memcg
(``root/a``: charge, ``zswpout`` event, the memcg's LRU list) and one without; their stores,
then their loads, alternate in blocks of 256 pages so the machine's drift hits both alike. Per
repetition it reports µs/page and the ratio memcg/plain; the summary is the median (min-max)
over repetitions. See docs/PERFORMANCE.md ("Stores with a memcg").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.folio import zero_page_mask
from pyzswap.memcg import MemCgroup
from pyzswap.tools.pagesets import make_pages

BLOCK = 256


def _one_rep(name: str, pages: list[memoryview]) -> dict[str, float]:
    root = MemCgroup()
    group = root.create("a")
    n = len(pages)
    sides = {"plain": None, "memcg": group}
    zs = {k: Zswap(compressor=name, totalram_pages=None, cpus=1, memcg_root=root)
          for k in sides}
    t = dict.fromkeys(("store_plain", "store_memcg", "load_plain", "load_memcg"), 0.0)
    out = bytearray(PAGE_SIZE)
    try:
        for k, z in zs.items():
            z.swapon(0, n)
            z.store(pages[0], 0, 0, sides[k])  # places the thread on a CPU (untimed)
        for op in ("store", "load"):
            for start in range(1, n, BLOCK):
                block = range(start, min(start + BLOCK, n))
                for k, z in zs.items():
                    memcg = sides[k]
                    t0 = time.perf_counter()
                    if op == "store":
                        store = z.store
                        for i in block:
                            store(pages[i], 0, i, memcg)
                    else:
                        load = z.load
                        for i in block:
                            load(out, 0, i)
                    t[f"{op}_{k}"] += time.perf_counter() - t0
        if group.zswapped != 1 or zs["memcg"].stats()["stored_pages"] != 1:
            raise SystemExit("bench_memcg: the memcg's charges do not add up")
    finally:
        for z in zs.values():
            z.close()
    per_page = {k: v / (n - 1) * 1e6 for k, v in t.items()}
    per_page["store_ratio"] = t["store_memcg"] / t["store_plain"]
    per_page["load_ratio"] = t["load_memcg"] / t["load_plain"]
    return per_page


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--compressor", default="lz4")
    ap.add_argument("--pages", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = make_pages("real", args.pages, seed=0)
    view = memoryview(data)
    zero = zero_page_mask(data)
    pages = [view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(args.pages) if not zero[i]]
    reps = [_one_rep(args.compressor, pages) for _ in range(args.repeat)]
    summary = {k: {"median": statistics.median(r[k] for r in reps),
                   "min": min(r[k] for r in reps), "max": max(r[k] for r in reps)}
               for k in reps[0]}
    if args.json:
        print(json.dumps({"compressor": args.compressor, "pages": len(pages),
                          "repeat": args.repeat, "summary": summary}, indent=1))
        return
    print(f"{args.compressor}, {len(pages)} non-zero pages, median (min-max) of {args.repeat}")
    for k, v in summary.items():
        unit = "x" if k.endswith("ratio") else " µs/page"
        print(f"  {k:12s} {v['median']:7.2f}{unit}  ({v['min']:.2f}-{v['max']:.2f})")


if __name__ == "__main__":
    main()
