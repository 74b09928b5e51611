"""zswap pools: one compressor, one zsmalloc pool, per-CPU compression contexts, a refcount.

A pool is what the ``compressor`` parameter selects. The *current* pool holds an initial
reference for its role; every stored entry holds one more. Switching compressors kills the old
pool's initial reference (``percpu_ref_kill``): it stays readable while entries use it and is
destroyed when the last one is freed. Switching back to a compressor whose pool still lives
resurrects that pool instead of building a new one (ZSWAP_FACTS §5).

Each pool owns an :class:`AcompCtx` per CPU: a mutex, its own transform object and a PAGE_SIZE
destination buffer (6.18 size). Their lifetime follows the pool: allocated when the pool is
created, freed when it is destroyed (the merged "tie per-CPU acomp_ctx lifetime to the pool"
design, ZSWAP_FACTS §4.4).

The refcount is a plain integer: callers (:class:`pyzswap.zswap.Zswap`) change it only under
their own lock, which plays the part of the kernel's percpu_ref atomics.
"""

from __future__ import annotations

import threading

from .compress import PAGE_SIZE, Compressor, Transform
from .cpu import CpuModel
from .errors import ZswapError
from .zsmalloc import ZsPool

__all__ = ["AcompCtx", "ZswapPool"]


class AcompCtx:
    """One CPU's compression context of one pool (the kernel's ``struct crypto_acomp_ctx``)."""

    __slots__ = ("buffer", "cpu", "mutex", "nr_reqs", "tfm")

    def __init__(self, cpu: int, compressor: Compressor) -> None:
        self.cpu = cpu
        self.mutex = threading.Lock()
        self.tfm: Transform = compressor.new_transform()
        self.nr_reqs = compressor.batch_size
        self.buffer = bytearray(PAGE_SIZE)

    def memory_bytes(self) -> int:
        """Destination buffer bytes this context holds (what the kernel counts per CPU)."""
        return len(self.buffer)


class ZswapPool:
    """A compressor plus its zsmalloc pool and per-CPU contexts, kept alive by references."""

    __slots__ = ("acomp_ctx", "compressor", "destroyed", "id", "killed", "ref", "tfm_name",
                 "zs_pool")

    def __init__(self, compressor: Compressor, cpus: CpuModel, pool_id: int,
                 chain_size: int = 8) -> None:
        self.id = pool_id
        self.compressor = compressor
        self.tfm_name = compressor.name
        # zsmalloc needs unique names: the kernel uses "zswap%x" with a global counter.
        self.zs_pool = ZsPool(f"zswap{pool_id:x}", chain_size=chain_size)
        self.acomp_ctx = [AcompCtx(cpu, compressor) for cpu in cpus.possible_cpus()]
        self.ref = 1  # the initial reference, held by the "current" role
        self.killed = False
        self.destroyed = False

    # -- references (caller holds the zswap lock) -------------------------------------------
    def tryget(self) -> bool:
        """Take a reference unless the pool is already dead (percpu_ref_tryget)."""
        if self.ref <= 0:
            return False
        self.ref += 1
        return True

    def put(self, nr: int = 1) -> bool:
        """Drop ``nr`` references; True when the count reached zero (the pool is empty)."""
        self.ref -= nr
        if self.ref < 0:
            raise ZswapError(f"pool {self.tfm_name}#{self.id}: reference count underflow")
        return self.ref == 0

    def kill(self) -> bool:
        """Drop the initial reference as the pool stops being current (percpu_ref_kill)."""
        self.killed = True
        return self.put()

    def resurrect(self) -> None:
        """Give a killed pool its initial reference back (percpu_ref_resurrect)."""
        self.killed = False
        self.ref += 1

    # -- accounting -------------------------------------------------------------------------
    def total_pages(self) -> int:
        """Pages allocated by this pool's zsmalloc pool (zs_get_total_pages)."""
        return self.zs_pool.pages_allocated

    def ctx_memory_bytes(self) -> int:
        """Bytes of per-CPU context buffers this pool holds, over all CPUs."""
        return sum(ctx.memory_bytes() for ctx in self.acomp_ctx)

    def destroy(self) -> None:
        """Free the per-CPU contexts and the zsmalloc pool (zswap_pool_destroy)."""
        if self.destroyed:
            return
        self.destroyed = True
        self.acomp_ctx = []
        self.zs_pool.destroy()

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else "killed" if self.killed else "live"
        return f"<ZswapPool {self.tfm_name}#{self.id} ref={self.ref} {state}>"
