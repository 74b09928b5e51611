"""Benchmark: store/load against the raw codec and the kernel's zram, in thread CPU time.

Run (root, for zram; it hot-adds a device and restores everything, as ``pyzswap bench
--kernel`` does): ``.venv/bin/python benchmarks/bench_cpu_time.py [-c lzo,lzo-rle] [--json]``.

``pyzswap bench`` times the same single-thread rounds by the wall clock. On a machine shared
with other busy processes that clock is biased, not just noisy: with more runnable threads than
CPUs, each block gets a different share of the CPU, and not at random (with zram writes
interleaved and a load average of 6, the raw compress loops were on the CPU for 64-77% of their
wall time, the stores right after them for 31-33%, in every repetition).
This script runs the same interleaved blocks of 256 pages (raw compress, store, zram write;
then raw decompress, load, zram read) and reads ``time.thread_time()`` around each: the CPU this
thread spent, in user and kernel mode. zram compresses and decompresses in the writing and
reading thread, so its figure is the kernel's codec plus its block layer, as pyzswap's is the
codec plus zswap's work. Each figure is the median of ``--repeat`` repetitions; each ratio the
median of the per-repetition ratios. ``on_cpu`` is each figure's CPU time over its wall time:
how much of the CPU that block got.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import _pagesargs
from pyzswap import PAGE_SIZE, Zswap
from pyzswap.compress import get_compressor
from pyzswap.errors import ZswapError
from pyzswap.tools.kernel import ZramDevice

BLOCK = 256
FIGURES = ("raw_compress", "store", "zram_write", "raw_decompress", "load", "zram_read")
#: ratio -> (numerator, denominator): the same ratios as ``pyzswap bench``'s targets.
RATIOS = {
    "store_vs_raw_compress": ("store", "raw_compress"),
    "store_throughput_vs_zram_write": ("zram_write", "store"),
    "load_vs_raw_decompress": ("load", "raw_decompress"),
    "load_throughput_vs_zram_read": ("zram_read", "load"),
}


def _add(cpu: dict[str, float], wall: dict[str, float], keys: tuple[str, str, str],
         cpu_marks: tuple[float, ...], wall_marks: tuple[float, ...]) -> None:
    """Add three consecutive intervals (between four clock readings) to their figures."""
    for k, key in enumerate(keys):
        cpu[key] += cpu_marks[k + 1] - cpu_marks[k]
        wall[key] += wall_marks[k + 1] - wall_marks[k]


def bench(name: str, data: bytes, repeat: int) -> dict[str, Any]:
    view = memoryview(data)
    n = len(data) // PAGE_SIZE
    pages = [view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n)]
    tfm = get_compressor(name).new_transform()
    buf = bytearray(PAGE_SIZE)
    compressed: list[bytes | None] = []
    for page in pages:
        try:
            compressed.append(bytes(buf[:tfm.compress(page, buf)]))
        except ZswapError:
            compressed.append(None)
    outs = [bytearray(PAGE_SIZE) for _ in range(n)]
    blocks = [range(i, min(i + BLOCK, n)) for i in range(0, n, BLOCK)]
    clock, wall = time.thread_time, time.perf_counter
    figures: dict[str, list[float]] = {k: [] for k in FIGURES}
    on_cpu: dict[str, list[float]] = {k: [] for k in FIGURES}
    ratios: dict[str, list[float]] = {k: [] for k in RATIOS}
    with ZramDevice(name, n) as zram:
        for _ in range(repeat):
            z = Zswap(compressor=name, totalram_pages=None, cpus=1)
            try:
                z.swapon(0, n)
                zram.reset()
                t = dict.fromkeys(FIGURES, 0.0)
                w = dict.fromkeys(FIGURES, 0.0)
                for block in blocks:
                    w0, t0 = wall(), clock()
                    for i in block:
                        try:  # noqa: SIM105 - a context manager costs a call per page
                            tfm.compress(pages[i], buf)
                        except ZswapError:
                            pass
                    w1, t1 = wall(), clock()
                    for i in block:
                        if not z.store(pages[i], 0, i):
                            raise SystemExit(f"{name}: zswap refused page {i}")
                    w2, t2 = wall(), clock()
                    zram.write(block.start, view[block.start * PAGE_SIZE:block.stop * PAGE_SIZE])
                    w3, t3 = wall(), clock()
                    _add(t, w, ("raw_compress", "store", "zram_write"), (t0, t1, t2, t3),
                         (w0, w1, w2, w3))
                for block in blocks:
                    w0, t0 = wall(), clock()
                    for i in block:
                        src = compressed[i]
                        if src is None:
                            outs[i][:] = pages[i]
                        else:
                            tfm.decompress(src, outs[i])
                    w1, t1 = wall(), clock()
                    for i in block:
                        if not z.load(outs[i], 0, i):
                            raise SystemExit(f"{name}: zswap lost page {i}")
                    w2, t2 = wall(), clock()
                    zram.read(block.start, len(block))
                    w3, t3 = wall(), clock()
                    _add(t, w, ("raw_decompress", "load", "zram_read"), (t0, t1, t2, t3),
                         (w0, w1, w2, w3))
            finally:
                z.close()
            if any(o != p for o, p in zip(outs, pages, strict=True)) or zram.mismatched_pages():
                raise SystemExit(f"{name}: a page came back different")
            for key, value in t.items():
                figures[key].append(value * 1e6 / n)
                on_cpu[key].append(value / w[key])
            for key, (num, den) in RATIOS.items():
                ratios[key].append(t[num] / t[den])
    return {
        "compressor": name,
        "pages": n,
        "cpu_us_per_page": {k: round(statistics.median(v), 3) for k, v in figures.items()},
        "on_cpu": {k: round(statistics.median(v), 3) for k, v in on_cpu.items()},
        "ratios": {k: {"median": round(statistics.median(v), 4), "min": round(min(v), 4),
                       "max": round(max(v), 4)} for k, v in ratios.items()},
    }


def main() -> int:
    args = _pagesargs.parser(__doc__, "lzo,lzo-rle").parse_args()
    data = b"".join(_pagesargs.nonzero_pages(args))
    results = [bench(name, data, args.repeat) for name in args.compressors.split(",")]
    if args.json:
        print(json.dumps({"pageset": args.pageset, "pages": len(data) // PAGE_SIZE,
                          "repeat": args.repeat, "results": results}, indent=2))
        return 0
    print(f"page set {args.pageset!r}: {len(data) // PAGE_SIZE} non-zero pages; thread CPU "
          f"µs/page and ratios, medians of {args.repeat}")
    for r in results:
        figs = ", ".join(f"{k} {v:.2f} ({100 * r['on_cpu'][k]:.0f}% on the CPU)"
                         for k, v in r["cpu_us_per_page"].items())
        print(f"\n{r['compressor']}: {figs}")
        for key, st in r["ratios"].items():
            print(f"  {key:34s} {st['median']:.3f}x ({st['min']:.3f}-{st['max']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
