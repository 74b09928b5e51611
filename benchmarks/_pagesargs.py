"""What the store/load benchmark scripts share: their command line and their pages."""

from __future__ import annotations

import argparse

import numpy as np

from pyzswap import PAGE_SIZE
from pyzswap.folio import zero_page_mask
from pyzswap.tools.pagesets import make_pages


def parser(doc: str | None, compressors: str) -> argparse.ArgumentParser:
    """``-c/--compressors``, ``--pageset``, ``--pages``, ``--seed``, ``--repeat`` and ``--json``."""
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    p.add_argument("-c", "--compressors", default=compressors)
    p.add_argument("--pageset", default="real")
    p.add_argument("--pages", type=int, default=8192)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", action="store_true")
    return p


def nonzero_pages(args: argparse.Namespace) -> list[bytes]:
    """The page set's pages, all-zero ones dropped (the swap core keeps those from zswap)."""
    data = make_pages(args.pageset, args.pages, seed=args.seed)
    view = memoryview(data)
    return [bytes(view[i * PAGE_SIZE:(i + 1) * PAGE_SIZE])
            for i in np.flatnonzero(~zero_page_mask(data))]
