"""``pyzswap bench cpu-time``: store and load against the raw codec (and zram), in thread CPU time.

``pyzswap bench`` times its single-thread rounds by the wall clock. On a machine shared with
other busy processes that clock is biased, not just noisy: with more runnable threads than
CPUs, each block gets a different share of the CPU, and not at random (with zram writes
interleaved and a load average of 6, the raw compress loops were on the CPU for 64-77% of their
wall time, the stores right after them for 31-33%, in every repetition). This benchmark runs
the same interleaved blocks of :data:`~._core.BLOCK` pages (raw compress, store, zram write;
then raw decompress, load, zram read) and reads ``time.thread_time()`` around each: the CPU this
thread spent, in user and kernel mode. zram compresses and decompresses in the writing and
reading thread, so its figure is the kernel's codec plus its block layer, as pyzswap's is the
codec plus zswap's work. Each figure is the median of ``repeat`` repetitions; each ratio the
median of the per-repetition ratios. ``on_cpu`` is each figure's CPU time over its wall time:
how much of the CPU that block got.

The raw codec is the compressor's own :class:`~pyzswap.compress.Transform` in a bare loop, as
in ``pyzswap bench``. zram (``kernel=True``: root, a kernel with zram offering the algorithm)
hot-adds a device of its own and restores everything (:class:`~pyzswap.tools.kernel.ZramDevice`);
without it the zram figures and their ratios are left out with a note.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import click

from ...compress import get_compressor
from ...errors import ZswapError
from ...folio import PAGE_SIZE
from ...zswap import Zswap
from ..kernel import KernelRunError, KernelUnavailable, ZramDevice
from ..kernel._host import HOST, HostPaths
from . import _subcommand as sub
from ._cli import _console
from ._common import PageSource, Progress, ratio_summary
from ._core import BLOCK, BenchError, _blocks, _raw_round, _zram_available

__all__ = ["CPU_TIME_FIGURES", "CPU_TIME_RATIOS", "cpu_time", "run_cpu_time"]

#: The figures, in the order they are taken.
CPU_TIME_FIGURES: Final = ("raw_compress", "store", "zram_write", "raw_decompress", "load",
                           "zram_read")
#: ratio -> (numerator, denominator): the same ratios as ``pyzswap bench``'s targets.
CPU_TIME_RATIOS: Final = {
    "store_vs_raw_compress": ("store", "raw_compress"),
    "store_throughput_vs_zram_write": ("zram_write", "store"),
    "load_vs_raw_decompress": ("load", "raw_decompress"),
    "load_throughput_vs_zram_read": ("zram_read", "load"),
}

_cpu, _wall = time.thread_time, time.perf_counter


class _Clocks:
    """CPU and wall seconds per figure for one repetition."""

    def __init__(self) -> None:
        self.cpu = dict.fromkeys(CPU_TIME_FIGURES, 0.0)
        self.wall = dict.fromkeys(CPU_TIME_FIGURES, 0.0)
        self._marks: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self._marks = (_cpu(), _wall())

    def lap(self, key: str) -> None:
        """Add the time since the last mark to ``key`` and set a new mark."""
        cpu, wall = _cpu(), _wall()
        self.cpu[key] += cpu - self._marks[0]
        self.wall[key] += wall - self._marks[1]
        self._marks = (cpu, wall)


def _one_rep(name: str, pages: Sequence[memoryview], compressed: Sequence[bytes | None],
             outs: Sequence[memoryview], view: memoryview, zram: ZramDevice | None) -> _Clocks:
    """One repetition: a fresh zswap; every block through each side in turn, stores first."""
    n = len(pages)
    tfm = get_compressor(name).new_transform()
    buf = bytearray(PAGE_SIZE)
    z = Zswap(compressor=name, totalram_pages=None, cpus=1)

    def raw_compress(block: range) -> None:
        for i in block:
            try:  # noqa: SIM105 - a context manager costs a call per page
                tfm.compress(pages[i], buf)
            except ZswapError:
                pass

    def store(block: range) -> None:
        for i in block:
            if not z.store(pages[i], 0, i):
                raise BenchError(f"{name}: zswap refused page {i} with no limit set")

    def raw_decompress(block: range) -> None:
        for i in block:
            src = compressed[i]
            if src is None:
                outs[i][:] = pages[i]
            else:
                tfm.decompress(src, outs[i])

    def load(block: range) -> None:
        for i in block:
            if not z.load(outs[i], 0, i):
                raise BenchError(f"{name}: zswap lost page {i}")

    rounds: list[list[tuple[str, Callable[[range], object]]]] = [
        [("raw_compress", raw_compress), ("store", store)],
        [("raw_decompress", raw_decompress), ("load", load)],
    ]
    if zram is not None:
        rounds[0].append(("zram_write", lambda b: zram.write(
            b.start, view[b.start * PAGE_SIZE:b.stop * PAGE_SIZE])))
        rounds[1].append(("zram_read", lambda b: zram.read(b.start, len(b))))
    clocks = _Clocks()
    try:
        z.swapon(0, n)
        if zram is not None:
            zram.reset()
        for steps in rounds:
            for block in _blocks(n):
                clocks.start()
                for key, step in steps:
                    step(block)
                    clocks.lap(key)
    finally:
        z.close()
    if any(o != p for o, p in zip(outs, pages, strict=True)) or (
            zram is not None and zram.mismatched_pages()):
        raise BenchError(f"{name}: a page came back different")
    return clocks


def _zram_device(stack: contextlib.ExitStack, name: str, n: int, kernel: bool, host: HostPaths,
                 notes: list[str]) -> ZramDevice | None:
    """A zram device of ``n`` pages for ``name`` on ``stack``, or None with the reason in
    ``notes`` (no ``kernel``, not root, no zram, the algorithm not offered, set-up failed)."""
    why = _zram_available(name, host) if kernel else "kernel zram skipped: no --kernel"
    if why is None:
        try:
            device: ZramDevice = stack.enter_context(ZramDevice(name, n, host=host))
        except (KernelUnavailable, KernelRunError) as exc:
            why = f"kernel zram skipped: {exc}"
        else:
            return device
    notes.append(why)
    return None


def _cpu_time_compressor(name: str, source: PageSource, repeat: int, kernel: bool,
                         host: HostPaths, progress: Progress | None) -> dict[str, Any]:
    n = source.pages
    pages = source.page_views("cpu-time", at_least=0)
    compressed = _raw_round(name, pages)
    out = memoryview(bytearray(len(source.data)))
    outs = [out[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n)]
    notes: list[str] = []
    figures: dict[str, list[float]] = {}
    on_cpu: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        zram = _zram_device(stack, name, n, kernel, host, notes)
        for rep in range(repeat):
            if progress:
                progress(f"cpu-time {name}: repetition {rep + 1}/{repeat} ({n} pages)")
            clocks = _one_rep(name, pages, compressed, outs, memoryview(source.data), zram)
            for key, cpu in clocks.cpu.items():
                if clocks.wall[key] > 0:
                    figures.setdefault(key, []).append(cpu * 1e6 / n)
                    on_cpu.setdefault(key, []).append(cpu / clocks.wall[key])
            for key, (num, den) in CPU_TIME_RATIOS.items():
                if clocks.cpu[num] > 0 and clocks.cpu[den] > 0:
                    ratios.setdefault(key, []).append(clocks.cpu[num] / clocks.cpu[den])
    return {
        "compressor": name,
        "pages": n,
        "cpu_us_per_page": {k: ratio_summary(v) for k, v in figures.items()},
        "on_cpu": {k: ratio_summary(v) for k, v in on_cpu.items()},
        "ratios": {k: ratio_summary(v) for k, v in ratios.items()},
        "notes": notes,
    }


def run_cpu_time(source: PageSource, compressors: Sequence[str], *, repeat: int = 5,
                 kernel: bool = False, host: HostPaths = HOST,
                 progress: Progress | None = None) -> dict[str, Any]:
    """The benchmark of the module docstring, one result per compressor.

    Unknown compressor names raise :class:`~pyzswap.errors.UnknownCompressor` before anything
    is measured.
    """
    for name in compressors:
        get_compressor(name)
    return {"source": source.to_dict(), "repeat": repeat, "block_pages": BLOCK,
            "clock": "time.thread_time",
            "results": [_cpu_time_compressor(name, source, repeat, kernel, host, progress)
                        for name in compressors]}


@sub.subcommand("cpu-time")
@sub.compressors_option("lzo,lzo-rle")
@click.option("--kernel/--no-kernel", default=False, show_default=True,
              help="also time the kernel's zram (root): hot-adds a zram device, restored after")
def cpu_time(pageset: str | None, pagefile: Path | None, pages: int | None, seed: int,
             compressors: str, repeat: int, kernel: bool, as_json: bool, quiet: bool) -> None:
    """Store and load against the raw codec (and zram), in thread CPU time.

    The interleaved blocks of `pyzswap bench`, timed with time.thread_time(): the CPU this
    thread spent, which a machine shared with other busy processes does not bias as it does
    the wall clock. Medians of --repeat repetitions (min-max beside).
    """
    names = sub.split_compressors(compressors)
    report = run_cpu_time(sub.page_source(pageset, pagefile, pages, seed), names, repeat=repeat,
                          kernel=kernel, progress=sub.progress(quiet))
    if sub.emit(report, as_json):
        return
    console = _console()
    src = report["source"]
    console.print(f"{src['pages']:,} non-zero pages; thread CPU µs/page and ratios, medians of "
                  f"{repeat} (min-max)")
    for r in report["results"]:
        console.print(f"{r['compressor']}:")
        for key, fig in r["cpu_us_per_page"].items():
            console.print(f"  {key:15s} {fig['median']:8.2f}  ({fig['min']:.2f}-{fig['max']:.2f})"
                          f"  {100 * r['on_cpu'][key]['median']:.0f}% on the CPU")
        for key, st in r["ratios"].items():
            console.print(f"  {key:34s} {st['median']:.3f}x ({st['min']:.3f}-{st['max']:.3f})")
        for note in r["notes"]:
            console.print(f"  note: {note}")
