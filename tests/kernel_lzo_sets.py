"""The page sets behind the kernel-recorded LZO fixture, and the recorder that makes it.

``tests/fixtures/kernel_lzo.json`` holds, for every set here, the running kernel's stored length
of every page in zram (``--per-page``: 0 for a same-filled page, 4096 for a huge one, else the
compressed length) and its zswap figures (stored pages, incompressible pages, pool_total_size),
for ``lzo`` and ``lzo-rle``. ``tests/compress/test_lzo.py`` checks pyzswap against it without
root; ``tests/tools/kernel/test_lzo.py`` checks pyzswap and the fixture against the live kernel.

The sets: every profile of :data:`pyzswap.tools.pagesets.PAGESETS` (1,024 pages, seed 0), plus
``sparse`` (zero-heavy pages that are not same-filled: short non-zero spans in zero pages, zero
runs longer than LZO-RLE's 2,051-byte maximum, non-zero bytes only in a page's last 20 bytes)
and ``edge`` (incompressible pages with repeats that bring their LZO length to within tens of
bytes of 4,096 on either side: zswap's line between stored and stored as-is).

Re-record (root; changes the host and restores it, as ``pyzswap kernel`` does):
``.venv/bin/python -m tests.kernel_lzo_sets``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from pyzswap.tools.pagesets import PAGE_SIZE, PAGESETS, make_pages

FIXTURE: Final = Path(__file__).parent / "fixtures" / "kernel_lzo.json"
ALGORITHMS: Final = ("lzo", "lzo-rle")
#: Pages per generated profile set.
N_PAGES: Final = 1024


def sparse_pages(n: int = N_PAGES, seed: int = 0) -> bytes:
    """Zero-heavy pages, none of them same-filled."""
    rng = np.random.default_rng(seed)
    pages = np.zeros((n, PAGE_SIZE), dtype=np.uint8)
    for i in range(n):
        page = pages[i]
        shape = i % 4
        if shape == 0:  # a few short spans of random or small values
            for _ in range(int(rng.integers(1, 12))):
                at, ln = int(rng.integers(0, PAGE_SIZE - 64)), int(rng.integers(1, 64))
                page[at:at + ln] = rng.integers(0 if rng.random() < 0.5 else 1, 256, ln)
        elif shape == 1:  # one long zero run (longer than a zero-run instruction holds)
            head = int(rng.integers(8, 1000))
            page[:head] = rng.integers(0, 8, head)
            tail = int(rng.integers(1, 40))
            page[PAGE_SIZE - tail:] = rng.integers(1, 256, tail)
        elif shape == 2:  # non-zero bytes only at the very end (inside the final literals)
            k = int(rng.integers(1, 20))
            page[PAGE_SIZE - k:] = rng.integers(1, 256, k)
        else:  # 8-byte words, mostly zero: small integers and pointers
            words = page.view(np.uint64)
            used = rng.random(PAGE_SIZE // 8) < rng.uniform(0.02, 0.3)
            words[used] = rng.integers(1, 1 << 20, int(used.sum()), dtype=np.uint64)
    return pages.tobytes()


def edge_pages(n: int = 256, seed: int = 0) -> bytes:
    """Random pages with one repeat of 40..294 bytes: LZO lengths either side of 4,096."""
    rng = np.random.default_rng(seed)
    pages = rng.integers(0, 256, (n, PAGE_SIZE), dtype=np.uint8)
    for i in range(n):
        k = 40 + 2 * (i % 128)
        at = int(rng.integers(1000, 3000))
        pages[i, at:at + k] = pages[i, 100:100 + k]
        if i % 3 == 0:  # a short zero run too (lzo-rle codes it differently)
            z, at = int(rng.integers(4, 40)), int(rng.integers(200, 900))
            pages[i, at:at + z] = 0
    return pages.tobytes()


#: Set name -> a function making its pages (deterministic).
SETS: Final[dict[str, Callable[[], bytes]]] = {
    **{name: (lambda name=name: make_pages(name, N_PAGES, 0)) for name in PAGESETS},
    "sparse": sparse_pages,
    "edge": edge_pages,
}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def record() -> dict[str, Any]:
    """Run every set through the host's zram (per page) and zswap, for both algorithms."""
    from pyzswap.tools.kernel import run_zram, run_zswap

    out: dict[str, Any] = {
        "kernel": platform.release(),
        "recorded_with": "pyzswap.tools.kernel.run_zram(per_page=True) and run_zswap",
        "sets": {},
    }
    for name, make in SETS.items():
        data = make()
        entry: dict[str, Any] = {"pages": len(data) // PAGE_SIZE, "sha256": digest(data)}
        for alg in ALGORITHMS:
            zram = run_zram(data, alg, per_page=True)
            zswap = run_zswap(data, alg)
            if not (zram.verified and zswap.verified and zswap.complete):
                raise SystemExit(f"{name}/{alg}: the kernel run was not clean: {zswap.notes}")
            entry[alg] = {
                "zram_page_lengths": zram.page_sizes,
                "zram_mem_used_total": zram.mm_stat["mem_used_total"],
                "zswap": {"stored_pages": zswap.stored_pages,
                          "stored_incompressible_pages": zswap.stored_incompressible_pages,
                          "pool_total_size": zswap.pool_total_size},
            }
            print(f"{name}/{alg}: recorded", file=sys.stderr)
        out["sets"][name] = entry
    return out


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("recording needs root (it runs the host's zram and zswap)")
    FIXTURE.write_text(json.dumps(record(), separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE}", file=sys.stderr)


if __name__ == "__main__":
    main()
