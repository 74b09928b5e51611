"""Benchmark: zswap writeback throughput against raw decompress + file write, same pages, one run.

Run: ``.venv/bin/python benchmarks/bench_writeback.py [--json]``.

Pages of a realistic set are swapped out into zswap (no limit) with a real swap file behind it.
Then, block by block and interleaved so machine drift hits both alike:

* ``raw``       - the codec's decompression of the same pages plus ``os.pwrite`` of each page
                  to a file at ``offset * 4096`` (what writeback must do at the very least);
* ``writeback`` - ``Zswap.writeback_entry`` of the same pages (swap cache, tree check,
                  decompress, write, free), the work the shrinker and the pool-limit worker do.

Pages per second for both and the ratio, median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import cramjam
import numpy as np
import zstandard

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.folio import zero_page_mask
from pyzswap.swapcore import SwapCore
from pyzswap.tools.pagesets import make_pages

BLOCK = 256


def _raw_decompressors() -> dict[str, Any]:
    dctx = zstandard.ZstdDecompressor()
    return {
        "lz4": lambda c: cramjam.lz4.decompress_block(c, output_len=PAGE_SIZE),
        "zstd": lambda c: dctx.decompress(c, max_output_size=PAGE_SIZE),
    }


def bench(name: str, pages: list[bytes], repeat: int) -> dict[str, Any]:
    n = len(pages)
    raw_d = _raw_decompressors()[name]
    rates: dict[str, list[float]] = {"raw": [], "writeback": []}
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        raw_fd = os.open(os.path.join(tmp, "raw.bin"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            for _ in range(repeat):
                z = Zswap(compressor=name, totalram_pages=None, cpus=1)
                core = SwapCore(z, directory=tmp)
                core.swapon(n + 1)
                swps = [core.swap_out(p) for p in pages]
                entries = [z.lookup(0, int(swp) & ((1 << 58) - 1)) for swp in swps]
                compressed = [z.entry_pool(e).zs_pool.read(e.handle, e.length)  # type: ignore[union-attr]
                              for e in entries]
                t_raw = t_wb = 0.0
                for start in range(0, n, BLOCK):
                    block = range(start, min(start + BLOCK, n))
                    t0 = time.perf_counter()
                    for i in block:
                        e = entries[i]
                        out = raw_d(compressed[i]) if e.length != PAGE_SIZE else compressed[i]  # type: ignore[union-attr]
                        os.pwrite(raw_fd, out, (i + 1) * PAGE_SIZE)
                    t1 = time.perf_counter()
                    for i in block:
                        if z.writeback_entry(entries[i]) != 0:  # type: ignore[arg-type]
                            raise SystemExit(f"{name}: writeback of page {i} failed")
                    t2 = time.perf_counter()
                    t_raw += t1 - t0
                    t_wb += t2 - t1
                out_page = bytearray(PAGE_SIZE)
                for swp, page in zip(swps, pages, strict=True):
                    core.swap_in(int(swp), out_page)  # type: ignore[arg-type]
                    if out_page != page:
                        raise SystemExit(f"{name}: a written-back page differs")
                core.close()
                rates["raw"].append(n / t_raw)
                rates["writeback"].append(n / t_wb)
                ratios.append(t_wb / t_raw)
        finally:
            os.close(raw_fd)
    return {
        "compressor": name, "pages": n,
        "raw_pages_per_s": statistics.median(rates["raw"]),
        "writeback_pages_per_s": statistics.median(rates["writeback"]),
        "writeback_cost_ratio": statistics.median(ratios),
        "ratio_min": min(ratios), "ratio_max": max(ratios),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compressors", default="lz4,zstd")
    parser.add_argument("--pageset", default="real")
    parser.add_argument("--pages", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = make_pages(args.pageset, args.pages, seed=0)
    view = memoryview(data)
    pages = [bytes(view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
             for i in np.flatnonzero(~zero_page_mask(data))]
    results = [bench(name, pages, args.repeat) for name in args.compressors.split(",")]
    if args.json:
        print(json.dumps({"pageset": args.pageset, "results": results}, indent=2))
        return 0
    print(f"page set {args.pageset!r}: {len(pages)} non-zero pages, median of {args.repeat}")
    for r in results:
        print(f"{r['compressor']:5s} raw decompress+write {r['raw_pages_per_s']:>9,.0f} pages/s"
              f"  writeback {r['writeback_pages_per_s']:>9,.0f} pages/s"
              f"  cost ratio {r['writeback_cost_ratio']:.2f}x ({r['ratio_min']:.2f}-"
              f"{r['ratio_max']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
