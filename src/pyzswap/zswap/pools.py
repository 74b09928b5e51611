"""zswap's pools: creating one, switching the compressor, and reports of what they hold.

The list of live pools (current first, ``zswap_pools``) and their references live in the zswap
state; this is the part that builds pools (``zswap_pool_create``, with every allocation
through ``mem_hook``), switches between them (``zswap_compressor_param_set``,
``zswap_pool_find_get``), and reports on them. docs/KERNEL_REFERENCE.md §3 and §5.
"""

from __future__ import annotations

from typing import Any

from ..compress import get_compressor
from ..errors import InvalidParameter, ZswapError
from ..pool import TEARDOWN_DESIGNS, ZswapPool, kernel_percpu_bytes
from ._base import ZswapBase
from .params import ZswapEntry

__all__ = ["ZswapPools"]


class ZswapPools(ZswapBase):
    """The pool half of a Zswap."""

    _cpuhp_states: dict[str, int]
    _pool_counter: int

    def _cpuhp_state(self, lifetime: str) -> int:
        """The ``CPUHP_MM_ZSWP_POOL_PREPARE`` state for a design (made on first use).

        The merged design and the shared designs register no teardown callback; the older
        ones free in ``dead``.
        """
        state = self._cpuhp_states.get(lifetime)
        if state is None:
            def prepare(cpu: int, pool: ZswapPool) -> None:
                pool.cpu_prepare(cpu)

            def dead(cpu: int, pool: ZswapPool) -> None:
                pool.cpu_dead(cpu)

            state = self.cpus.setup_state_multi(
                "mm/zswap_pool:prepare", prepare, dead if lifetime in TEARDOWN_DESIGNS else None
            )
            self._cpuhp_states[lifetime] = state
        return state

    def _pool_create(self, name: str) -> ZswapPool:
        """``zswap_pool_create``; no zswap lock is held: the allocations may reclaim into a
        store on the old pool."""
        compressor = get_compressor(name)  # UnknownCompressor: crypto_has_acomp failed
        with self._lock:
            self._pool_counter += 1
            pool_id = self._pool_counter
        lifetime = self.lifetime
        return ZswapPool.create(compressor, self.cpus, pool_id, self._cpuhp_state(lifetime),
                                chain_size=self.chain_size, lifetime=lifetime,
                                mem_hook=self.mem_hook, shared=self.shared_ctxs,
                                streams=self.streams)

    def _set_compressor(self, name: str) -> None:
        """``zswap_compressor_param_set``: make ``name``'s pool current, reusing a live one.
        The caller holds the parameter lock."""
        get_compressor(name)  # validate before touching anything
        state = self._state
        with self._lock:
            pools = state.pools()
            if pools and pools[0].tfm_name == name:
                self._params["compressor"] = name
                return
            pool = next((p for p in pools[1:] if p.tfm_name == name and p.tryget()), None)
            if pool is not None:  # zswap_pool_find_get: reuse the old pool
                pool.resurrect()
                pool.put()  # the find reference
        if pool is None:
            pool = self._pool_create(name)
        with self._lock:
            closed = state.closed
            if not closed:
                old = state.pools()[0] if state.pools() else None
                state.pool_add(pool)
                self._params["compressor"] = name
                if old is not None:
                    state.pool_kill(old)
        if closed:  # close() ran while the pool was made: it must not outlive the instance
            self.cpus.hotplug_lock.run_or_defer(pool.destroy)
            raise ZswapError("this Zswap was closed during the compressor switch")
        self.release_pools()
        self._configure_flow()

    def _configure_flow(self) -> None:
        """Choose the flow for the configuration (see :class:`~pyzswap.zswap.Zswap`)."""
        raise NotImplementedError

    def pools(self) -> list[ZswapPool]:
        """Live pools, current first (``zswap_pools``)."""
        pools: list[ZswapPool] = self._state.pools()
        return pools

    def current_pool(self) -> ZswapPool:
        pools = self._state.pools()
        if not pools:
            raise ZswapError("this Zswap is closed: it has no current pool")
        pool: ZswapPool = pools[0]
        return pool

    def entry_pool(self, entry: ZswapEntry) -> ZswapPool:
        """The pool an entry was stored in (still alive while the entry is)."""
        return self._pool_of(entry)

    def pool_report(self) -> list[dict[str, Any]]:
        """Per pool: compressor, design, batch size, references, and per-CPU contexts.

        ``ctx_bytes`` is what the pool's contexts own in pyzswap (sizes of its buffers and
        request objects); ``kernel_ctx_bytes_per_cpu`` the kernel-equivalent bytes of the
        pool's own per-CPU structures (x86-64, 6.18 structures: ``pool.kernel_percpu_bytes``).
        What a shared design shares is in :meth:`shared_report`, the compression streams in
        :meth:`stream_report`.
        """
        report = []
        pools = self.pools()
        for pool in pools:
            rows = pool.ctx_report()
            holding = [row for row in rows if row["allocated"]]
            batch = pool.compr_batch_size
            per_cpu = sum(v for k, v in kernel_percpu_bytes(pool.lifetime, batch).items()
                          if "(global)" not in k)
            report.append({
                "id": pool.id,
                "compressor": pool.tfm_name,
                "lifetime": pool.lifetime,
                "batch_size": batch,
                "current": pool is pools[0],
                "ref": pool.ref,
                "pool_pages": pool.total_pages(),
                "cpus_holding": [row["cpu"] for row in holding],
                "ctx_bytes": sum(row["bytes"] for row in holding),
                "kernel_ctx_bytes_per_cpu": per_cpu,
                "kernel_ctx_bytes": per_cpu * len(holding),
                "per_cpu": rows,
            })
        return report

    def shared_report(self) -> dict[str, Any] | None:
        """The per-CPU contexts a shared design shares among all pools (None for per-pool
        designs): CPUs holding them, requests and buffers per CPU, pyzswap bytes and the
        kernel-equivalent bytes per CPU."""
        shared = self.shared_ctxs
        if shared is None:
            return None
        holding = shared.cpus_holding()
        per_cpu = sum(v for k, v in kernel_percpu_bytes(self.lifetime, shared.nr).items()
                      if "(global)" in k)
        return {"lifetime": self.lifetime, "slots": shared.nr, "cpus_holding": holding,
                "ctx_bytes": shared.memory_bytes(), "kernel_ctx_bytes_per_cpu": per_cpu,
                "kernel_ctx_bytes": per_cpu * len(holding)}

    def stream_report(self) -> dict[str, list[int]]:
        """CPUs holding a compression stream, per algorithm (6.18's per-algorithm streams:
        kept through offline and after the pool that made them is gone)."""
        return self.streams.held()

    def compact(self) -> int:
        """``zs_compact`` on every live pool (zsmalloc's shrinker under memory pressure);
        the pages freed. A pool destroyed meanwhile (its last entry went) is skipped."""
        freed = 0
        for pool in self.pools():
            try:
                freed += pool.zs_pool.compact()
            except InvalidParameter:
                if not pool.zs_pool.destroyed:
                    raise
        return freed

    def compactable_pages(self) -> int:
        """What :meth:`compact` could free now (the zsmalloc shrinker's count)."""
        return sum(pool.zs_pool.compactable_pages() for pool in self.pools())
