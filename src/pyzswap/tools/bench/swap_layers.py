"""``pyzswap bench swap-layers``: the CPU cost of each layer a ``pyzswap run`` swap-out and
swap-in go through, on the same pages.

The mm model (:mod:`pyzswap.run.mm`) writes a page out with
:meth:`~pyzswap.swapcore.SwapCore.swap_writeout` and reads it back with
:meth:`~pyzswap.swapcore.SwapCore.swap_read_folio`, on slots it allocates and frees on the swap
device; zswap's store and load run the codec and call back into the memcg for charges and
events. Per repetition this takes the thread CPU time per page of each layer alone:

* the raw codec call (compress, decompress into a buffer);
* ``Zswap.store`` / ``Zswap.load`` with no memcg, and charged to a cgroup v1 group (what the
  fidelity suite's cases do);
* ``swap_writeout`` / ``swap_read_folio`` for that group, the pages as the model hands them
  over (views of its memory);
* ``SwapDevice.alloc_slots(1)`` and ``free_slot`` (a free also invalidates the slot in zswap).

The summary is the median (min-max) over repetitions, µs per page.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ...compress import get_compressor
from ...folio import PAGE_SIZE
from ...memcg import MemCgroup
from ...swap import SWP_OFFSET_MASK, SWP_TYPE_SHIFT
from ...swapcore import SwapCore
from ...zswap import Zswap
from . import _subcommand as sub
from ._common import PageSource, Progress, ratio_summary
from ._core import BenchError

__all__ = ["run_swap_layers", "swap_layers"]

_cpu = time.thread_time


def _timed(fn: Callable[[], None], n: int) -> float:
    """Thread CPU µs per page of ``fn`` over ``n`` pages."""
    t0 = _cpu()
    fn()
    return (_cpu() - t0) / n * 1e6


def _codec(name: str, pages: Sequence[memoryview]) -> dict[str, float]:
    codec = get_compressor(name).new_transform()
    buf, page = bytearray(2 * PAGE_SIZE), bytearray(PAGE_SIZE)
    comp = [bytes(buf[:codec.compress(p, buf)]) for p in pages]

    def compress() -> None:
        for p in pages:
            codec.compress(p, buf)

    def decompress() -> None:
        for c in comp:
            codec.decompress(c, page)

    return {"raw_compress": _timed(compress, len(pages)),
            "raw_decompress": _timed(decompress, len(pages))}


def _zswap(name: str, pages: Sequence[memoryview], root: MemCgroup,
           memcg: MemCgroup | None) -> tuple[float, float]:
    n = len(pages)
    z = Zswap(compressor=name, totalram_pages=None, cpus=1, memcg_root=root, shrink_work="clock")
    page = bytearray(PAGE_SIZE)
    try:
        z.swapon(0, n)

        def store() -> None:
            for i, p in enumerate(pages):
                if not z.store(p, 0, i, memcg):
                    raise BenchError(f"{name}: zswap refused page {i}")

        def load() -> None:
            for i in range(n):
                if not z.load(page, 0, i):
                    raise BenchError(f"{name}: zswap lost page {i}")

        return _timed(store, n), _timed(load, n)
    finally:
        z.close()


def _swap_core(name: str, pages: Sequence[memoryview], root: MemCgroup,
               memcg: MemCgroup) -> dict[str, float]:
    n = len(pages)
    z = Zswap(compressor=name, totalram_pages=None, cpus=1, memcg_root=root, shrink_work="clock")
    page = memoryview(bytearray(PAGE_SIZE))
    with tempfile.TemporaryDirectory(prefix="pyzswap-bench-layers-") as tmp:
        core = SwapCore(z, directory=tmp)
        try:
            swp_type = core.swapon(n + 1)
            device = core.table.device(swp_type)
            entries: list[int] = []

            def alloc() -> None:
                for _ in range(n):
                    off = device.alloc_slots(1)
                    if off is None:
                        raise BenchError("the swap device is full")
                    entries.append((swp_type << SWP_TYPE_SHIFT) | off)

            def writeout() -> None:
                for swp, p in zip(entries, pages, strict=True):
                    core.swap_writeout(swp, p, memcg)

            def read() -> None:
                for swp in entries:
                    core.swap_read_folio(swp, page, memcg)

            def free() -> None:
                for swp in entries:
                    device.free_slot(swp & SWP_OFFSET_MASK)

            return {"slot_alloc": _timed(alloc, n), "swap_writeout": _timed(writeout, n),
                    "swap_read_folio": _timed(read, n), "slot_free": _timed(free, n)}
        finally:
            core.close()


def _one_rep(name: str, pages: Sequence[memoryview]) -> dict[str, float]:
    """µs per page of every layer, for one repetition."""
    out = _codec(name, pages)
    root = MemCgroup(version=1)
    group = root.create("g")
    out["zswap_store"], out["zswap_load"] = _zswap(name, pages, root, None)
    out["zswap_store_memcg"], out["zswap_load_memcg"] = _zswap(name, pages, root, group)
    out.update(_swap_core(name, pages, root, group))
    return out


def run_swap_layers(source: PageSource, compressor: str = "lzo", *, repeat: int = 5,
                    progress: Progress | None = None) -> dict[str, Any]:
    """The benchmark of the module docstring."""
    get_compressor(compressor)
    pages = source.page_views("swap-layers")
    n = len(pages)
    reps = []
    for rep in range(repeat):
        if progress:
            progress(f"swap-layers {compressor}: repetition {rep + 1}/{repeat} ({n} pages)")
        reps.append(_one_rep(compressor, pages))
    return {"compressor": compressor, "source": source.to_dict(), "repeat": repeat,
            "us_per_page": {k: ratio_summary([r[k] for r in reps]) for k in reps[0]}}


@sub.subcommand("swap-layers")
@click.option("--compressor", "-c", default="lzo", show_default=True, metavar="NAME")
def swap_layers(pageset: str | None, pagefile: Path | None, pages: int | None, seed: int,
                compressor: str, repeat: int, as_json: bool, quiet: bool) -> None:
    """The CPU cost of each layer under a `pyzswap run` swap-out and swap-in.

    The raw codec, zswap's store and load (with and without a cgroup v1 memcg), the swap core's
    write-out and read, slot allocation and free: thread CPU µs/page, medians of --repeat
    repetitions (min-max beside).
    """
    sub.split_compressors(compressor)
    report = run_swap_layers(sub.page_source(pageset, pagefile, pages, seed), compressor,
                             repeat=repeat, progress=sub.progress(quiet))
    if sub.emit(report, as_json):
        return
    click.echo(f"{compressor}, {report['source']['pages']:,} non-zero pages, thread CPU µs per "
               f"page, median (min-max) of {repeat}")
    for key, v in report["us_per_page"].items():
        click.echo(f"  {key:22s} {v['median']:7.2f}  ({v['min']:.2f}-{v['max']:.2f})")
