"""The fidelity suite: workloads of different shapes, as deterministic trace generators.

Each :class:`SuiteCase` writes its trace (:meth:`SuiteCase.write`) from a fixed seed, so the
repository holds a few lines of parameters instead of megabytes of trace, and names the options
both sides run it with (:attr:`SuiteCase.args`: ``pyzswap run`` and ``pyzswap kernel run``
options, the contract's). The kernel's figures for every case, recorded on the reference
machine, are in ``tests/fixtures/fidelity/<name>.json`` (``pyzswap kernel suite record``);
``pyzswap kernel suite check`` compares ``pyzswap run`` with them without touching the host.

Shapes: a skewed (Zipf) working set three times the limit; sequential scans of twice the
limit, without and with swap readahead; two processes in phases, the second starting late and
the first exiting; a working set big enough to hit zswap's pool limit at
``max_pool_percent=1`` (1% of this machine's RAM); three memory cgroups with different limits
and page contents; mostly incompressible pages.
Every access pattern is drawn from ``numpy.random.default_rng(seed)`` with only
``random``/``permutation`` calls (stable across numpy versions), so a case's trace is the same
bytes everywhere; the fixture records its SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from ...errors import InvalidParameter

__all__ = ["BASE_ARGS", "SUITE", "SuiteCase", "suite_case"]

#: The contract's options, shared by every case (each case adds its pool limit, swappiness,
#: readahead and groups).
BASE_ARGS: Final = ("--cgroup-version", "1", "-c", "lzo")


class _Writer:
    """Trace lines, accumulated and written in one go."""

    def __init__(self) -> None:
        self.lines = ["# pyzswap trace v1"]

    def proc(self, pid: int, npages: int, memcg: str, pageset: str = "real") -> None:
        self.lines.append(f"proc {pid} {npages} memcg={memcg} pageset={pageset}")

    def fill(self, pid: int, npages: int) -> None:
        """The process writes all its pages once, in order (a program initialising its heap)."""
        self.lines.append(f"w {pid} 0-{npages - 1}")

    def accesses(self, pid: int, pages: Iterable[int], writes: Iterable[bool]) -> None:
        self.lines.extend(f"{'w' if w else 'r'} {pid} {p}"
                          for p, w in zip(pages, writes, strict=True))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _zipf(rng: np.random.Generator, npages: int, count: int, s: float) -> np.ndarray:
    """``count`` pages drawn with P(rank k) ∝ 1/k^s, the ranks scattered over the pages by a
    random permutation (hot pages are not the first ones)."""
    weights = 1.0 / np.arange(1, npages + 1, dtype=np.float64) ** s
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    ranks = np.minimum(np.searchsorted(cdf, rng.random(count), side="right"), npages - 1)
    return rng.permutation(npages)[ranks]


def _writes(rng: np.random.Generator, count: int, fraction: float) -> np.ndarray:
    return rng.random(count) < fraction


def _fill_then_zipf(npages: int, count: int, s: float) -> Callable[[np.random.Generator], str]:
    """One process in group G writes its pages, then makes ``count`` Zipf(s) accesses, 20%
    writes."""

    def make(rng: np.random.Generator) -> str:
        w = _Writer()
        w.proc(1, npages, "G")
        w.fill(1, npages)
        w.accesses(1, _zipf(rng, npages, count, s).tolist(), _writes(rng, count, 0.2).tolist())
        return w.text()

    return make


def _scan_trace(rng: np.random.Generator) -> str:
    w = _Writer()
    npages = 32768
    w.proc(1, npages, "G")
    w.fill(1, npages)
    for op in ("r", "r", "w", "r", "r"):
        w.lines.append(f"{op} 1 0-{npages - 1}")
    return w.text()


def _phased_trace(rng: np.random.Generator) -> str:
    w = _Writer()
    npages = 16384
    w.proc(1, npages, "G")
    w.fill(1, npages)
    count = 60_000
    w.accesses(1, _zipf(rng, npages, count, 0.9).tolist(), _writes(rng, count, 0.2).tolist())
    w.proc(2, npages, "G")  # starts late: exists only from here
    w.fill(2, npages)
    burst, bursts = 512, 200
    hot1 = _zipf(rng, npages, burst * bursts // 2, 0.9)
    hot2 = _zipf(rng, npages, burst * bursts // 2, 0.9)
    writes = _writes(rng, burst * bursts, 0.2)
    for k in range(bursts):
        pid, hot = (1, hot1) if k % 2 == 0 else (2, hot2)
        at = (k // 2) * burst
        w.accesses(pid, hot[at:at + burst].tolist(),
                   writes[k * burst:(k + 1) * burst].tolist())
    w.lines.append("exit 1")
    w.accesses(2, _zipf(rng, npages, count, 0.9).tolist(), _writes(rng, count, 0.2).tolist())
    return w.text()


def _memcgs_trace(rng: np.random.Generator) -> str:
    w = _Writer()
    sizes = {1: 12288, 2: 12288, 3: 8192}
    w.proc(1, sizes[1], "a", "real")
    w.proc(2, sizes[2], "b", "mixed")
    w.fill(1, sizes[1])
    w.fill(2, sizes[2])
    burst, rounds = 256, 240
    live = [1, 2]
    for k in range(rounds):
        if k == rounds // 3:
            w.proc(3, sizes[3], "c/d", "json")
            w.fill(3, sizes[3])
            live.append(3)
        if k == 2 * rounds // 3:
            w.lines.append("exit 1")
            live.remove(1)
        for pid in live:
            w.accesses(pid, _zipf(rng, sizes[pid], burst, 0.9).tolist(),
                       _writes(rng, burst, 0.2).tolist())
    return w.text()


def _incompressible_trace(rng: np.random.Generator) -> str:
    w = _Writer()
    sizes = {1: 16384, 2: 6144}
    w.proc(1, sizes[1], "G", "random")
    w.proc(2, sizes[2], "G", "real")
    w.fill(1, sizes[1])
    w.fill(2, sizes[2])
    count = 200_000
    total = sizes[1] + sizes[2]
    pages = _zipf(rng, total, count, 0.9)
    writes = _writes(rng, count, 0.2)
    for p, wr in zip(pages.tolist(), writes.tolist(), strict=True):
        pid, page = (1, p) if p < sizes[1] else (2, p - sizes[1])
        w.lines.append(f"{'w' if wr else 'r'} {pid} {page}")
    return w.text()


@dataclass(frozen=True)
class SuiteCase:
    """One workload of the suite: how to make its trace, and the options it runs with."""

    name: str
    description: str
    seed: int
    make: Callable[[np.random.Generator], str]
    limits: tuple[str, ...]
    max_pool_percent: int = 20
    swappiness: int = 200
    page_cluster: int = 0
    #: empty memory cgroups the kernel side makes for the run (``--add-memcgs``; the model is
    #: given the host's count the kernel run recorded)
    add_memcgs: int = 0

    @property
    def args(self) -> tuple[str, ...]:
        """The options of ``pyzswap kernel run`` for this case (``pyzswap run`` takes the same
        but ``--add-memcgs``: :func:`~pyzswap.tools.kernel.fidelity.model_args`)."""
        limits = tuple(a for limit in self.limits for a in ("--memcg-max", limit))
        extra = ("--add-memcgs", str(self.add_memcgs)) if self.add_memcgs else ()
        return (*BASE_ARGS, "--max-pool-percent", str(self.max_pool_percent),
                "--swappiness", str(self.swappiness), "--page-cluster", str(self.page_cluster),
                *limits, *extra)

    def text(self) -> str:
        return self.make(np.random.default_rng(self.seed))

    def write(self, directory: Path) -> Path:
        """Write the trace as ``<directory>/<name>.trace``; returns its path."""
        path = directory / f"{self.name}.trace"
        path.write_text(self.text())
        return path

    def sha256(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()


SUITE: Final[dict[str, SuiteCase]] = {c.name: c for c in (
    SuiteCase("zipf", "Zipf(1.0) accesses, 20% writes, over a 192 MiB working set in a 64 MiB "
              "group", 1801, _fill_then_zipf(49152, 300_000, 1.0), ("G=64M",)),
    SuiteCase("scan", "sequential scans (read, read, write, read, read) of 128 MiB in a 64 MiB "
              "group", 1802, _scan_trace, ("G=64M",)),
    SuiteCase("phased", "two 64 MiB processes in a 96 MiB group: the second starts late, both "
              "alternate in bursts, the first exits, the second goes on", 1803, _phased_trace,
              ("G=96M",)),
    SuiteCase("poolhit", "640 MiB in a 64 MiB group with max_pool_percent=1: zswap's pool "
              "limit (1% of RAM) is hit", 1804, _fill_then_zipf(163840, 150_000, 0.8),
              ("G=64M",), 1),
    SuiteCase("poolhit-memcgs", "'poolhit' on a host with 100 more (empty) memory cgroups: "
              "zswap's shrink worker walks past each one, and writes back far less", 1804,
              _fill_then_zipf(163840, 150_000, 0.8), ("G=64M",), 1, add_memcgs=100),
    SuiteCase("memcgs", "three groups with their own limits and contents (real, mixed with 20% "
              "zero pages, JSON); the third starts late, the first exits", 1805,
              _memcgs_trace, ("a=32M", "b=32M", "c=16M")),
    SuiteCase("incompressible", "73% incompressible pages (random) and 27% real ones in a "
              "48 MiB group", 1806, _incompressible_trace, ("G=48M",)),
    SuiteCase("scan-readahead", "the scans of 'scan' with the kernel's defaults: swap "
              "readahead of 8 pages (vm.page-cluster 3) and swappiness 60", 1802, _scan_trace,
              ("G=64M",), swappiness=60, page_cluster=3),
)}


def suite_case(name: str) -> SuiteCase:
    try:
        return SUITE[name]
    except KeyError:
        raise InvalidParameter(f"unknown suite case {name!r} (cases: "
                               f"{', '.join(SUITE)})") from None
