"""One codec table: an algorithm gives the same compressed bytes on every path that runs it.

The paths are the ``PageCodec`` transform (what the Python flow calls), the engine threads
(``_native.Engines``, what a batching pool streams through), and zswap's two flows, whose
stored objects are read back out of zsmalloc. The pages are a built-in page set (every page
kind), so the check covers compressible, poorly compressible and incompressible pages alike; a
page whose compressed length reaches PAGE_SIZE is stored as-is on every path.
"""

from __future__ import annotations

import pytest

from pyzswap import Zswap, _native
from pyzswap.folio import MAX_FOLIO_PAGES, PAGE_SIZE
from pyzswap.tools.pagesets import make_pages

#: Every algorithm of the codec table (csrc/codec.c).
ALGORITHMS = ["lzo", "lzo-rle", "lz4", "lz4hc", "zstd", "deflate"]
N_PAGES = 96
PAGES = make_pages("mixed", N_PAGES, seed=3)


def _page(i: int) -> bytes:
    return PAGES[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]


def _page_codec(algo: str) -> list[bytes]:
    """What the codec gives page by page: its stream, or the page itself when it does not
    compress below PAGE_SIZE (zswap then stores the page as-is)."""
    codec = _native.PageCodec(algo)
    out: list[bytes] = []
    for i in range(N_PAGES):
        dst = bytearray(2 * PAGE_SIZE)
        try:
            n = codec.compress(_page(i), dst)
        except Exception:  # CompressPoor: does not fit
            n = PAGE_SIZE
        out.append(_page(i) if n >= PAGE_SIZE else bytes(dst[:n]))
    return out


def _engines(algo: str) -> list[bytes | None]:
    """The engine threads' streams (None where the page did not fit a PAGE_SIZE buffer)."""
    engines = _native.Engines(algo, 0, 2)
    try:
        dsts = [bytearray(PAGE_SIZE) for _ in range(N_PAGES)]
        with engines.compress([PAGES], dsts) as job:
            codes = job.wait()
    finally:
        engines.close()
    return [bytes(d[:c]) if 0 < c < PAGE_SIZE else None for d, c in zip(dsts, codes, strict=True)]


def _stored(algo: str, flow: str, folio_pages: int) -> list[bytes]:
    """The objects zswap stored, one per page, on a flow, in folios of ``folio_pages``."""
    z = Zswap(compressor=algo, totalram_pages=None, cpus=2, flow=flow)
    try:
        assert z.flow == flow
        z.swapon(0, N_PAGES)
        for off in range(0, N_PAGES, folio_pages):
            folio = PAGES[off * PAGE_SIZE:(off + folio_pages) * PAGE_SIZE]
            assert z.store(folio, 0, off)
        out: list[bytes] = []
        for i in range(N_PAGES):
            entry = z.lookup(0, i)
            assert entry is not None
            out.append(z.entry_pool(entry).zs_pool.read(entry.handle, entry.length))
        return out
    finally:
        z.close()


@pytest.mark.parametrize("algo", ALGORITHMS)
def test_every_path_gives_the_same_bytes(algo: str) -> None:
    reference = _page_codec(algo)
    for i, stream in enumerate(_engines(algo)):
        expected = reference[i]
        if stream is None:
            assert len(expected) == PAGE_SIZE, (algo, i)
        else:
            assert stream == expected, (algo, "engines", i)
    for flow in ("python", "native"):
        for folio_pages in (1, 32):  # 4 KiB pages and large folios
            assert _stored(algo, flow, folio_pages) == reference, (algo, flow, folio_pages)


def test_large_folios_take_the_c_codec_on_every_algorithm() -> None:
    """A 2 MiB folio stores on the C flow with every algorithm of the table (no Python call per
    page: the transforms are PageCodecs, which the C flow calls directly)."""
    big = (PAGES * (MAX_FOLIO_PAGES // N_PAGES + 1))[:MAX_FOLIO_PAGES * PAGE_SIZE]
    for algo in ALGORITHMS:
        z = Zswap(compressor=algo, totalram_pages=None, cpus=1, flow="native")
        try:
            tfm = type(z.pools()[0].compressor.new_transform())
            assert issubclass(tfm, _native.PageCodec)
            assert tfm.compress is _native.PageCodec.compress  # not a Python override
            z.swapon(0, MAX_FOLIO_PAGES)
            assert z.store(big, 0, 0)
            out = bytearray(PAGE_SIZE)
            for i in (0, 1, MAX_FOLIO_PAGES - 1):
                assert z.load(out, 0, i)
                assert bytes(out) == big[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
        finally:
            z.close()
