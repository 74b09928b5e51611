"""``ctx_buffers``: per-CPU request slots and buffers sized at run time or fixed "at build time".

The kernel discussion asked that batching not be a build-time decision: a kernel that always
allocates ZSWAP_MAX_BATCH_SIZE buffers per CPU wastes ~56 KB per CPU per software pool. pyzswap
sizes contexts by the compressor (``runtime``, the default); ``build-time`` exists so the design
lab can measure the alternative for real. These tests pin both: the sizes, that the compress
loop still works (it uses only ``batch_size`` of the buffers), and that a bad value is refused
before anything is created.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyzswap import PAGE_SIZE, Zswap
from pyzswap.compress import (
    ZSWAP_MAX_BATCH_SIZE,
    BatchingCompressor,
    get_compressor,
    register_compressor,
    unregister_compressor,
)
from pyzswap.cpu import CpuModel
from pyzswap.errors import InvalidParameter
from pyzswap.pool import CTX_BUFFERS, ZswapPool, kernel_ctx_bytes

from .conftest import mixed_page, text_page


@pytest.fixture
def lz4_b4() -> Iterator[str]:
    """A 4-wide batching lz4 that hands every batch to its engine (so the batched path runs)."""
    c = BatchingCompressor("lz4", 1, batch_size=4, min_parallel_us=0)
    assert c.name == "lz4-x1-b4"
    register_compressor(c)
    yield c.name
    unregister_compressor(c.name)
    c.close()


def _zswap(compressor: str, ctx_buffers: str, nr_cpus: int = 4,
           lifetime: str = "pool") -> Zswap:
    z = Zswap(compressor=compressor, totalram_pages=None, cpus=CpuModel(nr_cpus),
              lifetime=lifetime, ctx_buffers=ctx_buffers)
    z.swapon(0, 1 << 12)
    return z


def _shape(z: Zswap) -> set[tuple[int, int]]:
    """The (requests, buffers) of every allocated CPU context of the current pool."""
    return {(row["nr_reqs"], row["nr_buffers"]) for row in z.current_pool().ctx_report()
            if row["allocated"]}


def test_default_is_runtime_and_sizes_by_the_compressor(lz4_b4: str) -> None:
    assert CTX_BUFFERS[0] == "runtime"
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=CpuModel(2))
    assert z.ctx_buffers == "runtime" and _shape(z) == {(1, 1)}
    z.set_param("compressor", lz4_b4)
    assert _shape(z) == {(4, 4)}
    z.close()


def test_build_time_allocates_max_batch_size_whatever_the_compressor(lz4_b4: str) -> None:
    for name in ("lz4", lz4_b4):
        runtime, fixed = _zswap(name, "runtime"), _zswap(name, "build-time")
        assert _shape(fixed) == {(ZSWAP_MAX_BATCH_SIZE, ZSWAP_MAX_BATCH_SIZE)}
        nr = get_compressor(name).batch_size
        (rt,), (bt,) = runtime.pool_report(), fixed.pool_report()
        # Resource bytes are linear in the buffer count: build-time holds 8/nr times as much.
        assert bt["ctx_bytes"] * nr == rt["ctx_bytes"] * ZSWAP_MAX_BATCH_SIZE
        assert fixed.current_pool().nr_ctx_buffers == ZSWAP_MAX_BATCH_SIZE
        assert runtime.current_pool().nr_ctx_buffers == nr
        # The kernel-equivalent cost of the build-time choice, from the real buffer count.
        per_cpu = {kernel_ctx_bytes(row["nr_buffers"])
                   for row in fixed.current_pool().ctx_report() if row["allocated"]}
        assert per_cpu == {64_340}
        assert bt["kernel_ctx_bytes_per_cpu"] == 64_340  # pool_report counts them the same way
        assert rt["kernel_ctx_bytes_per_cpu"] == kernel_ctx_bytes(nr)
        runtime.close()
        fixed.close()


@pytest.mark.parametrize("lifetime", ["pool", "lock-retry"])
def test_build_time_pools_round_trip_and_keep_their_size_through_switch_and_hotplug(
        lz4_b4: str, lifetime: str) -> None:
    z = _zswap("lz4", "build-time", lifetime=lifetime)
    folio = b"".join(mixed_page(i) for i in range(16))  # 64K: several batches per folio
    assert z.store(folio, 0, 0)
    z.set_param("compressor", lz4_b4)  # the new pool is sized the same way
    assert _shape(z) == {(ZSWAP_MAX_BATCH_SIZE, ZSWAP_MAX_BATCH_SIZE)}
    assert z.store(folio, 0, 16)
    assert z.store_batch([(text_page(i), 0, 32 + i) for i in range(8)]) == [True] * 8
    z.cpus.cpu_down(3)
    z.cpus.cpu_up(3)  # lock-retry reallocates CPU 3: still eight
    assert _shape(z) == {(ZSWAP_MAX_BATCH_SIZE, ZSWAP_MAX_BATCH_SIZE)}
    out = bytearray(PAGE_SIZE)
    for off in range(32):
        assert z.load(out, 0, off)
        assert bytes(out) == folio[(off % 16) * PAGE_SIZE:(off % 16 + 1) * PAGE_SIZE]
    for i in range(8):
        assert z.load(out, 0, 32 + i) and bytes(out) == text_page(i)
    z.close()


def test_mem_hook_sees_the_build_time_allocation_size() -> None:
    seen: list[int] = []
    z = Zswap(compressor="lz4", totalram_pages=None, cpus=CpuModel(2), ctx_buffers="build-time",
              mem_hook=lambda nbytes, what: seen.append(nbytes))
    rt: list[int] = []
    r = Zswap(compressor="lz4", totalram_pages=None, cpus=CpuModel(2),
              mem_hook=lambda nbytes, what: rt.append(nbytes))
    assert len(seen) == len(rt) == 2
    assert seen[0] == rt[0] * ZSWAP_MAX_BATCH_SIZE
    z.close()
    r.close()


@pytest.mark.parametrize("bad", ["compile-time", "", "RUNTIME", None, 8])
def test_unknown_ctx_buffers_is_refused_before_anything_is_created(bad: object) -> None:
    cpus = CpuModel(2)
    with pytest.raises(InvalidParameter, match="ctx_buffers"):
        Zswap(compressor="lz4", totalram_pages=None, cpus=cpus,
              ctx_buffers=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="runtime, build-time"):
        ZswapPool(get_compressor("lz4"), cpus, 1, ctx_buffers=bad)  # type: ignore[arg-type]
