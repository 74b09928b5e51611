"""Benchmark: the CPU cost of each layer a ``pyzswap run`` swap-out and swap-in go through.

Run: ``.venv/bin/python benchmarks/bench_mm_ops.py [-c lzo] [--pageset real] [--pages 8192]
[--seed 0] [--repeat 5] [--json]``.

The mm model (``pyzswap.run.mm``) writes a page out with ``SwapCore.swap_writeout`` and reads
it back with ``SwapCore.swap_read_folio``, on slots it allocates and frees on the swap device;
zswap's store and load run the codec and call back into the memcg for charges and events.
This measures, on the same pages, the thread CPU time per page of each layer alone:

* the raw codec call (compress / decompress into a buffer);
* ``Zswap.store`` / ``Zswap.load`` with no memcg, and charged to a cgroup v1 group (what the
  fidelity suite's cases do);
* ``SwapCore.swap_writeout`` / ``swap_read_folio`` for that group (the model's calls);
* ``SwapDevice.alloc_slots(1)`` and ``free_slot`` (freeing also invalidates the slot in zswap).

Median (min-max) over repetitions, µs per page. See docs/PERFORMANCE.md ("`pyzswap run`
against the kernel").
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable

from _pagesargs import nonzero_pages, parser
from pyzswap import PAGE_SIZE, Zswap
from pyzswap.compress import get_compressor
from pyzswap.memcg import MemCgroup
from pyzswap.swap import SWP_TYPE_SHIFT
from pyzswap.swapcore import SwapCore

_cpu = time.thread_time


def _timed(fn: Callable[[], None], n: int) -> float:
    t0 = _cpu()
    fn()
    return (_cpu() - t0) / n * 1e6


def _one_rep(name: str, pages: list[bytes]) -> dict[str, float]:
    n = len(pages)
    out: dict[str, float] = {}
    buf, page = bytearray(2 * PAGE_SIZE), bytearray(PAGE_SIZE)
    codec = get_compressor(name).new_transform()
    comp = [bytes(buf[:codec.compress(p, buf)]) for p in pages]

    def raw_compress() -> None:
        for p in pages:
            codec.compress(p, buf)

    def raw_decompress() -> None:
        for c in comp:
            codec.decompress(c, page)

    out["raw_compress"] = _timed(raw_compress, n)
    out["raw_decompress"] = _timed(raw_decompress, n)
    root = MemCgroup(version=1)
    group = root.create("g")
    for label, memcg in (("", None), ("_memcg", group)):
        z = Zswap(compressor=name, totalram_pages=None, cpus=1, memcg_root=root,
                  shrink_work="clock")
        try:
            z.swapon(0, n)

            def store(z: Zswap = z, memcg: MemCgroup | None = memcg) -> None:
                for i, p in enumerate(pages):
                    z.store(p, 0, i, memcg)

            def load(z: Zswap = z) -> None:
                for i in range(n):
                    z.load(page, 0, i)

            out[f"zswap_store{label}"] = _timed(store, n)
            out[f"zswap_load{label}"] = _timed(load, n)
        finally:
            z.close()
    z = Zswap(compressor=name, totalram_pages=None, cpus=1, memcg_root=root,
              shrink_work="clock")
    with tempfile.TemporaryDirectory(prefix="pyzswap-bench-mm-") as tmp:
        core = SwapCore(z, directory=tmp)
        try:
            swp_type = core.swapon(n + 1)
            device = core.table.device(swp_type)
            offsets: list[int] = []
            view = memoryview(page)

            def alloc() -> None:
                offsets.extend(device.alloc_slots(1) or 0 for _ in range(n))

            folios = [memoryview(p) for p in pages]  # the model writes out views of its pages

            def writeout() -> None:
                for off, p in zip(offsets, folios, strict=True):
                    core.swap_writeout((swp_type << SWP_TYPE_SHIFT) | off, p, group)

            def read() -> None:
                for off in offsets:
                    core.swap_read_folio((swp_type << SWP_TYPE_SHIFT) | off, view, group)

            def free() -> None:
                for off in offsets:
                    device.free_slot(off)

            out["slot_alloc"] = _timed(alloc, n)
            out["swap_writeout"] = _timed(writeout, n)
            out["swap_read_folio"] = _timed(read, n)
            out["slot_free"] = _timed(free, n)
        finally:
            core.close()
    return out


def main() -> None:
    args = parser(__doc__, "lzo").parse_args()
    pages = nonzero_pages(args)
    reps = [_one_rep(args.compressors, pages) for _ in range(args.repeat)]
    summary = {k: {"median": round(statistics.median(r[k] for r in reps), 2),
                   "min": round(min(r[k] for r in reps), 2),
                   "max": round(max(r[k] for r in reps), 2)} for k in reps[0]}
    if args.json:
        print(json.dumps({"compressor": args.compressors, "pages": len(pages),
                          "repeat": args.repeat, "us_per_page": summary}, indent=1))
        return
    print(f"{args.compressors}, {len(pages)} non-zero pages, thread CPU µs per page, median of "
          f"{args.repeat} (min-max):")
    for k, s in summary.items():
        print(f"  {k:22} {s['median']:7.2f}  ({s['min']:.2f}-{s['max']:.2f})")


if __name__ == "__main__":
    main()
