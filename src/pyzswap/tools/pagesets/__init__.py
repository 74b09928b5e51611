"""Realistic 4 KiB page contents, and raw page files.

zswap's behaviour (which pages are rejected as incompressible, how full zsmalloc's size classes
get, how fast the compressors run) depends on what the pages hold. A benchmark over ``os.urandom``
pages or over one page repeated says nothing about a real machine, so the tools, benchmarks and
property tests draw their pages from here.

Every page *kind* has a numpy-vectorised generator that makes ``n`` pages at once as one
contiguous ``n * 4096`` uint8 buffer (a folio-shaped buffer, as the rest of pyzswap wants), from a
``numpy.random.Generator``; nothing loops per page in Python, so 16,384 pages take a fraction of a
second. The kinds are modelled on what anonymous memory holds:

``zero``
    all-zero pages (the swap layer's zero bitmap catches these since 6.12).
``text``
    English-like text: words from a built-in vocabulary with Zipf-ish frequencies, punctuation,
    newlines, numbers, some log-style line prefixes (a document or log buffer).
``heap``
    a C / Python heap of small objects: 16-byte aligned records with refcounts, repeating type
    pointers, heap pointers sharing their high bits, small ints, hashes, short strings, padding.
``numeric``
    numpy-like arrays: small int32/int64 values, sorted index arrays, counters, float64 values of
    limited precision.
``random``
    already-compressed or encrypted data: incompressible (ratio ~1.0).
``json``
    JSON text: records with repeating keys and varied values.
``mixed_page``
    a page whose halves or quarters come from different kinds (objects of different kinds sharing
    a page).

A *profile* (``PAGESETS``) says which fraction of a page set is of each kind. ``"mixed"`` is the
synthetic set of docs/KERNEL_REFERENCE.md §10 (20% zero, 30% text, 15% random, 35% numeric) and
``"real"`` approximates that section's live-Python-process set. The generators are aimed at the
kernel's measurements there, not tuned to them: stored the zram way (same-filled pages 0 bytes,
outputs >= 3625 bytes stored as 4096), 16,384 pages of "mixed" come to within 1% of zram's lz4
size and 2% of its lzo size; "real" comes out about 8% larger than zram's (2.0:1 against 2.15:1
for lz4). Generation is deterministic for a seed: pages of the different kinds are interleaved
in a seeded shuffled order, as in real memory.

Page files are raw pages back to back, as ``dd`` writes them (and as ``dd`` can feed them to
``/dev/zram0``): no header, the length a multiple of 4096.
"""


from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ...errors import InvalidParameter
from ...folio import PAGE_SIZE, zero_page_mask
from ._gen import _CORPUS_PAGES as _CORPUS_PAGES  # the tests read it
from ._gen import _check_count, random_pages, text_pages, zero_pages
from .files import (
    MAX_PAGE_FILE_BYTES,
    PARTIAL_SUFFIX,
    U8Array,
    check_regular_file,
    count_zero_pages,
    iter_page_file,
    read_page_file,
    same_filled_mask,
    write_page_file,
)
from .kinds import GENERATORS, heap_pages, json_pages, mixed_page_pages, numeric_pages

__all__ = [
    "DEFAULT_PAGESET",
    "GENERATORS",
    "KINDS",
    "MAX_PAGE_FILE_BYTES",
    "PAGESETS",
    "PAGE_SIZE",
    "PARTIAL_SUFFIX",
    "PageSet",
    "check_regular_file",
    "count_zero_pages",
    "generate_pages",
    "heap_pages",
    "iter_page_file",
    "json_pages",
    "make_pages",
    "make_pages_view",
    "make_pageset",
    "mixed_page_pages",
    "numeric_pages",
    "page_kinds",
    "random_pages",
    "read_page_file",
    "same_filled_mask",
    "text_pages",
    "write_page_file",
    "zero_page_mask",
    "zero_pages",
]

KINDS: Final[tuple[str, ...]] = tuple(GENERATORS)
"""Every page kind, in a fixed order (which also fixes each kind's seed stream)."""

PAGESETS: Final[dict[str, dict[str, float]]] = {
    # docs/KERNEL_REFERENCE.md §10's synthetic set.
    "mixed": {"zero": 0.20, "text": 0.30, "random": 0.15, "numeric": 0.35},
    # A Python process's anonymous memory: object heap, strings, parsed JSON, numpy arrays,
    # a little compressed data, 0.6% zero pages.
    "real": {
        "heap": 0.48,
        "text": 0.10,
        "json": 0.12,
        "numeric": 0.14,
        "mixed_page": 0.12,
        "random": 0.034,
        "zero": 0.006,
    },
    "text": {"text": 1.0},
    "heap": {"heap": 1.0},
    "numeric": {"numeric": 1.0},
    "json": {"json": 1.0},
    "mixed_page": {"mixed_page": 1.0},
    "random": {"random": 1.0},
    "zero": {"zero": 1.0},
}
"""Named profiles: page kind → fraction of the pages (fractions sum to 1)."""

DEFAULT_PAGESET: Final = "real"


def generate_pages(kind: str, n: int, rng: np.random.Generator | int = 0) -> bytes:
    """``n`` pages of one kind as ``bytes`` (``rng`` a Generator or a seed)."""
    try:
        gen = GENERATORS[kind]
    except KeyError:
        raise InvalidParameter(
            f"unknown page kind {kind!r}; valid kinds: {', '.join(KINDS)}"
        ) from None
    return gen(n, rng).tobytes()


def _resolve_profile(profile: str | Mapping[str, float]) -> tuple[str, dict[str, float]]:
    if isinstance(profile, str):
        try:
            return profile, PAGESETS[profile]
        except KeyError:
            raise InvalidParameter(
                f"unknown page set {profile!r}; valid names: {', '.join(PAGESETS)}"
            ) from None
    fractions = dict(profile)
    unknown = sorted(set(fractions) - set(KINDS))
    if unknown:
        raise InvalidParameter(
            f"unknown page kind(s) {', '.join(unknown)}; valid kinds: {', '.join(KINDS)}"
        )
    if any(not math.isfinite(v) or v < 0 for v in fractions.values()):
        raise InvalidParameter("page kind fractions must be finite and >= 0")
    total = sum(fractions.values())
    if total <= 0:
        raise InvalidParameter("page kind fractions must not all be zero")
    return "custom", {k: v / total for k, v in fractions.items()}


def _kind_counts(fractions: Mapping[str, float], n: int) -> dict[str, int]:
    """Pages per kind: largest-remainder rounding, so each count is within 1 of fraction * n
    and the counts sum to exactly ``n`` (ties go to the earlier kind in ``KINDS``)."""
    total = sum(fractions.values())
    exact = {k: n * fractions.get(k, 0.0) / total for k in KINDS}
    counts = {k: math.floor(v) for k, v in exact.items()}
    short = n - sum(counts.values())
    by_remainder = sorted(KINDS, key=lambda k: (-(exact[k] - counts[k]), KINDS.index(k)))
    for k in by_remainder[:short]:
        counts[k] += 1
    return counts


def _seeds(seed: int) -> list[np.random.Generator]:
    """Independent generators: [layout, one per kind in KINDS order]. A kind's pages depend only
    on the seed and how many of them there are, not on the other kinds of the profile."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidParameter(f"seed must be an int >= 0, got {seed!r}")
    children = np.random.SeedSequence(seed).spawn(1 + len(KINDS))
    return [np.random.default_rng(c) for c in children]


def _layout(
    fractions: Mapping[str, float], n: int, rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """The kind id of each page: exact counts, in a seeded shuffled order."""
    counts = _kind_counts(fractions, n)
    ids = np.repeat(np.arange(len(KINDS)), [counts[k] for k in KINDS])
    return rng.permutation(ids)


@dataclass(frozen=True)
class PageSet:
    """A generated page set: the pages and the kind of each page."""

    profile: str
    seed: int
    data: bytes
    kinds: tuple[str, ...]

    @property
    def n_pages(self) -> int:
        return len(self.kinds)

    def counts(self) -> dict[str, int]:
        """Pages per kind (kinds with no pages omitted)."""
        out: dict[str, int] = {}
        for k in self.kinds:
            out[k] = out.get(k, 0) + 1
        return out

    def page(self, i: int) -> bytes:
        """Page ``i`` as bytes."""
        if not 0 <= i < self.n_pages:
            raise InvalidParameter(f"page index {i} out of range 0..{self.n_pages - 1}")
        return self.data[i * PAGE_SIZE : (i + 1) * PAGE_SIZE]


def make_pageset(
    profile: str | Mapping[str, float] = DEFAULT_PAGESET, n_pages: int = 4096, seed: int = 0
) -> PageSet:
    """Generate ``n_pages`` pages of a profile, with the kind of each page.

    ``profile`` is a name in ``PAGESETS`` or a mapping kind → weight (normalised). Page kinds are
    counted by largest-remainder rounding and interleaved in a seeded shuffled order.
    """
    name, out, ids = _generate(profile, n_pages, seed)
    return PageSet(name, seed, out.tobytes(), tuple(KINDS[i] for i in ids))


def _generate(profile: str | Mapping[str, float], n_pages: int, seed: int
              ) -> tuple[str, U8Array, npt.NDArray[np.intp]]:
    """The profile's name, the pages as an (n, 4096) array, and each page's kind index."""
    name, fractions = _resolve_profile(profile)
    n = _check_count(n_pages)
    rngs = _seeds(seed)
    ids = _layout(fractions, n, rngs[0])
    out = np.empty((n, PAGE_SIZE), dtype=np.uint8)
    for i, kind in enumerate(KINDS):
        rows = np.flatnonzero(ids == i)
        if len(rows):
            out[rows] = GENERATORS[kind](len(rows), rngs[1 + i]).reshape(len(rows), PAGE_SIZE)
    return name, out, ids


def make_pages_view(
    profile: str | Mapping[str, float] = DEFAULT_PAGESET, n_pages: int = 4096, seed: int = 0
) -> memoryview:
    """The bytes of :func:`make_pages` as a read-only memoryview of the generated array,
    without the copy into a ``bytes`` object (a run's contents are copied once, into the
    model's memory)."""
    _, out, _ = _generate(profile, n_pages, seed)
    return out.reshape(-1).data.toreadonly()


def make_pages(
    profile: str | Mapping[str, float] = DEFAULT_PAGESET, n_pages: int = 4096, seed: int = 0
) -> bytes:
    """``n_pages * 4096`` bytes of pages of a profile; deterministic for ``seed``.

    Raises ``InvalidParameter`` for an unknown profile (the message lists the valid names), a
    negative ``n_pages`` or a negative seed. ``n_pages == 0`` gives ``b""``.
    """
    return make_pageset(profile, n_pages, seed).data


def page_kinds(
    profile: str | Mapping[str, float] = DEFAULT_PAGESET, n_pages: int = 4096, seed: int = 0
) -> list[str]:
    """The kind of each page ``make_pages(profile, n_pages, seed)`` makes, without generating."""
    _, fractions = _resolve_profile(profile)
    n = _check_count(n_pages)
    ids = _layout(fractions, n, _seeds(seed)[0])
    return [KINDS[i] for i in ids]


