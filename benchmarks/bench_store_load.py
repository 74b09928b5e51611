"""Benchmark: pyzswap store/load per page against the raw compressor calls, same pages, one run.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_store_load.py [--json]``.

For each compressor it times, on the same non-zero pages of a realistic page set (zero pages
never reach zswap), in the same process:

* ``raw compress``   - the codec's own one-call API per page (what a user would write);
* ``store``          - ``Zswap.store`` of one-page folios (compress + zsmalloc + tree + stats);
* ``raw decompress`` - the codec's one-call decompression of the raw outputs;
* ``load``           - ``Zswap.load`` of every stored page (exclusive, as from the swap cache).

Each figure is the median of ``--repeat`` runs (min and max shown). The ratios are what the core
issue targets: store <= 1.3x raw compress, load <= 1.5x raw decompress (lz4 and zstd).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import cramjam
import lzo
import numpy as np
import zstandard

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.folio import zero_page_mask
from pyzswap.pagesets import make_pages

TARGETS = {"store": 1.3, "load": 1.5}


def _raw_codecs() -> dict[str, tuple[Callable[[bytes], Any], Callable[[Any], Any]]]:
    cctx = zstandard.ZstdCompressor(level=3)
    dctx = zstandard.ZstdDecompressor()
    return {
        "lz4": (lambda p: cramjam.lz4.compress_block(p, store_size=False),
                lambda c: cramjam.lz4.decompress_block(c, output_len=PAGE_SIZE)),
        "lz4hc": (lambda p: cramjam.lz4.compress_block(p, store_size=False,
                                                        mode="high_compression", compression=9),
                  lambda c: cramjam.lz4.decompress_block(c, output_len=PAGE_SIZE)),
        "zstd": (cctx.compress, lambda c: dctx.decompress(c, max_output_size=PAGE_SIZE)),
        "lzo": (lambda p: lzo.compress(p, 1, False),
                lambda c: lzo.decompress(c, False, PAGE_SIZE)),
    }


def _time(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(name: str, pages: list[bytes], repeat: int) -> dict[str, Any]:
    raw_c, raw_d = _raw_codecs()[name]
    n = len(pages)
    compressed = [bytes(raw_c(p)) for p in pages]
    outs = [memoryview(bytearray(PAGE_SIZE)) for _ in range(n)]
    samples: dict[str, list[float]] = {k: [] for k in ("raw_compress", "store",
                                                         "raw_decompress", "load")}
    for _ in range(repeat):
        def raw_compress() -> None:
            for p in pages:
                raw_c(p)

        def raw_decompress() -> None:
            for c in compressed:
                raw_d(c)

        z = Zswap(compressor=name, totalram_pages=None, cpus=1)
        z.swapon(0, n)

        def do_store(store: Callable[[bytes, int, int], bool] = z.store) -> None:
            for i, p in enumerate(pages):
                store(p, 0, i)

        def do_load(load: Callable[..., bool] = z.load) -> None:
            for i, out in enumerate(outs):
                load(out, 0, i)

        samples["raw_compress"].append(_time(raw_compress))
        samples["store"].append(_time(do_store))
        samples["raw_decompress"].append(_time(raw_decompress))
        samples["load"].append(_time(do_load))
        if any(bytes(o) != p for o, p in zip(outs, pages, strict=True)):
            raise SystemExit(f"{name}: a loaded page differs from the stored one")
    result: dict[str, Any] = {"compressor": name, "pages": n}
    for key, values in samples.items():
        per_page = [v * 1e6 / n for v in values]
        result[key] = {"us_per_page": statistics.median(per_page), "min": min(per_page),
                       "max": max(per_page), "pages_per_s": n / statistics.median(values)}
    result["store_ratio"] = result["store"]["us_per_page"] / result["raw_compress"]["us_per_page"]
    result["load_ratio"] = result["load"]["us_per_page"] / result["raw_decompress"]["us_per_page"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compressors", default="lz4,zstd,lzo")
    parser.add_argument("--pageset", default="real")
    parser.add_argument("--pages", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = make_pages(args.pageset, args.pages, seed=args.seed)
    mask = zero_page_mask(data)
    view = memoryview(data)
    pages = [bytes(view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]) for i in np.flatnonzero(~mask)]
    results = [bench(name, pages, args.repeat) for name in args.compressors.split(",")]
    if args.json:
        print(json.dumps({"pageset": args.pageset, "pages": len(pages), "results": results},
                         indent=2))
        return 0
    print(f"page set {args.pageset!r}: {len(pages)} non-zero pages, median of {args.repeat} "
          "runs, µs/page (min-max)")
    for r in results:
        print(f"\n{r['compressor']}")
        for key in ("raw_compress", "store", "raw_decompress", "load"):
            s = r[key]
            print(f"  {key:15s} {s['us_per_page']:7.2f}  ({s['min']:.2f}-{s['max']:.2f})  "
                  f"{s['pages_per_s']:>10,.0f} pages/s")
        for op, ratio in (("store", r["store_ratio"]), ("load", r["load_ratio"])):
            verdict = "ok" if ratio <= TARGETS[op] else "MISS"
            print(f"  {op} / raw = {ratio:.2f}x (target <= {TARGETS[op]}x) {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
