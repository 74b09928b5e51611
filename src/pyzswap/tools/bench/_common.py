"""Helpers shared by the benchmarks: the page source, summaries of repeated timings, progress.

Every benchmark in this package reports a figure as the median of several repetitions with the
minimum and maximum beside it: this VM's speed drifts by tens of percent within seconds, so a
single timing (or a mean dragged by one slow repetition) says little. Ratios are taken *per
repetition* from interleaved measurements and then summarised the same way, so that the drift
of one repetition hits both sides of its ratio.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from ...errors import InvalidParameter, ZswapError
from ...folio import PAGE_SIZE, zero_page_mask
from ..pagesets import PAGESETS, make_pages, read_page_file

__all__ = [
    "DEFAULT_PAGES",
    "DEFAULT_PAGESET",
    "BenchError",
    "PageSource",
    "Progress",
    "load_pages",
    "nonzero_pages",
    "ratio_summary",
    "stderr_progress",
    "timing_summary",
]

#: Pages generated for a built-in page set unless told otherwise: 32 MiB, enough for every
#: zsmalloc size class to hold many zspages, small enough for a 2-core run well under 2 minutes.
DEFAULT_PAGES: Final = 8192
DEFAULT_PAGESET: Final = "real"

class BenchError(ZswapError):
    """The benchmark found pyzswap misbehaving (a page loaded wrong, a store refused)."""


Progress = Callable[[str], None]
"""Called with one line of progress text; the CLI prints it on stderr."""


def stderr_progress(message: str) -> None:
    """Progress on stderr, so ``--json`` output on stdout stays one parseable object."""
    print(f"pyzswap bench: {message}", file=sys.stderr, flush=True)


def cpu_ticks(stat_text: str | None = None) -> list[int] | None:
    """The ``cpu`` line of ``/proc/stat`` (or ``stat_text``): all CPUs' user, nice, system,
    idle, iowait, irq, softirq and steal time in clock ticks (guest time is already in user).
    None where the file or a field is missing."""
    if stat_text is None:
        try:
            stat_text = Path("/proc/stat").read_text()
        except OSError:
            return None
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu" and len(fields) >= 9:
            try:
                return [int(f) for f in fields[1:9]]
            except ValueError:
                return None
    return None


def cpu_times(stat_text: str | None = None) -> tuple[int, int] | None:
    """(steal, total) of all CPUs in clock ticks (:func:`cpu_ticks`): steal is the time the
    hypervisor ran something else while this VM's vCPUs wanted to run; the total is user
    through steal."""
    ticks = cpu_ticks(stat_text)
    return None if ticks is None else (ticks[7], sum(ticks))


def steal_percent(before: tuple[int, int] | None,
                  after: tuple[int, int] | None) -> float | None:
    """The share of CPU time the host took from this VM between two :func:`cpu_times`
    readings, in percent (None if either is missing or no time passed). A benchmark whose two
    sides use different numbers of CPUs (the model's replay two, the kernel's one) is skewed
    by it: the side on more vCPUs loses more."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)


class PageSource:
    """Where the pages came from, for the report (a built-in page set or a page file)."""

    __slots__ = ("data", "pagefile", "pages_read", "pageset", "seed", "zero_pages")

    def __init__(self, data: bytes, *, pageset: str | None, pagefile: str | None,
                 seed: int | None, pages_read: int, zero_pages: int) -> None:
        #: The non-zero pages, back to back (zswap never sees a zero page: the swap core's
        #: zero bitmap takes it first, so timing zswap on zero pages would measure nothing real).
        self.data = data
        self.pageset = pageset
        self.pagefile = pagefile
        self.seed = seed
        self.pages_read = pages_read
        self.zero_pages = zero_pages

    @property
    def pages(self) -> int:
        return len(self.data) // PAGE_SIZE

    def page_views(self, bench: str, at_least: int = 1) -> list[memoryview]:
        """One view per page, without copying; a :class:`BenchError` naming ``bench`` when
        there are fewer than ``at_least`` non-zero pages."""
        n = self.pages
        if n < at_least:
            pages = "page" if at_least == 1 else "pages"
            raise BenchError(f"the {bench} benchmark needs at least {at_least} non-zero {pages}")
        view = memoryview(self.data)
        return [view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE] for i in range(n)]

    def to_dict(self) -> dict[str, Any]:
        return {"pageset": self.pageset, "pagefile": self.pagefile, "seed": self.seed,
                "pages_read": self.pages_read, "zero_pages_skipped": self.zero_pages,
                "pages": self.pages}


def nonzero_pages(data: bytes) -> tuple[bytes, int]:
    """``data`` without its all-zero pages (one numpy pass), and how many were dropped."""
    if not data:
        return b"", 0
    mask = zero_page_mask(data)
    zeros = int(mask.sum())
    if not zeros:
        return data, 0
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, PAGE_SIZE)
    return rows[~mask].tobytes(), zeros


def load_pages(*, pageset: str | None = None, pagefile: str | Path | None = None,
               pages: int | None = None, seed: int = 0) -> PageSource:
    """The benchmark's pages: a built-in page set (``make_pages``) or a raw page file.

    ``pages`` caps a page file (its first pages) and sizes a generated set (default
    :data:`DEFAULT_PAGES`). Raises :class:`InvalidParameter` for an unknown page set, giving
    both sources, or a source without a single non-zero page; a page file's own errors
    (``OSError``, ``CorruptData``) pass through.
    """
    if pageset is not None and pagefile is not None:
        raise InvalidParameter("give either --pageset or --pagefile, not both")
    if pages is not None and pages <= 0:
        raise InvalidParameter(f"pages must be positive, got {pages}")
    if pagefile is not None:
        path = Path(pagefile)
        if not path.exists():
            raise FileNotFoundError(2, "no such file", str(path))
        if path.is_dir():
            raise IsADirectoryError(21, "is a directory, expected a page file", str(path))
        raw = read_page_file(path)
        if pages is not None:
            raw = raw[:pages * PAGE_SIZE]
        name: str | None = None
        used_seed: int | None = None
        where = str(path)
    else:
        name = pageset or DEFAULT_PAGESET
        if name not in PAGESETS:
            raise InvalidParameter(
                f"unknown page set {name!r}; valid names: {', '.join(PAGESETS)}")
        raw = make_pages(name, DEFAULT_PAGES if pages is None else pages, seed=seed)
        used_seed = seed
        where = f"page set {name!r}"
    data, zeros = nonzero_pages(raw)
    if not data:
        raise InvalidParameter(f"{where} has no non-zero page to benchmark "
                               f"({len(raw) // PAGE_SIZE} pages read)")
    return PageSource(data, pageset=name, pagefile=None if pagefile is None else str(pagefile),
                      seed=used_seed, pages_read=len(raw) // PAGE_SIZE, zero_pages=zeros)


def timing_summary(seconds: Sequence[float], pages: int) -> dict[str, float]:
    """Median, min and max of per-repetition times, per page; pages/s from the median."""
    us = [s * 1e6 / pages for s in seconds]
    med = statistics.median(us)
    return {"us_per_page": round(med, 3), "min": round(min(us), 3), "max": round(max(us), 3),
            "pages_per_s": round(1e6 / med) if med > 0 else 0, "repeat": len(us)}


def ratio_summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of a ratio measured once per repetition."""
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}
