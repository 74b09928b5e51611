"""zswap pools: one compressor, one zsmalloc pool, per-CPU compression contexts, a refcount.

A pool is what the ``compressor`` parameter selects. The *current* pool holds an initial
reference for its role; every stored entry holds one more. Switching compressors kills the old
pool's initial reference (``percpu_ref_kill``): it stays readable while entries use it and is
destroyed when the last one is freed. Switching back to a compressor whose pool still lives
resurrects that pool instead of building a new one (docs/KERNEL_REFERENCE.md §3).

Per-CPU contexts and their lifetime (docs/KERNEL_REFERENCE.md §5)
----------------------------------------------------
Each pool owns one :class:`AcompCtx` per possible CPU: a mutex that always exists, plus the
*resources* (:class:`CtxResources`: a transform object, request slot(s) and PAGE_SIZE
destination buffer(s), as many as the compressor's batch size) that the CPU hotplug callbacks
allocate and, depending on the strategy, free. How many request slots and buffers a context
gets is the pool's ``ctx_buffers`` choice (see :data:`CTX_BUFFERS`). Three lifetime strategies,
chosen per pool:

``pool`` (default; the merged "tie per-CPU acomp_ctx lifetime to the pool")
    The PREPARE callback allocates a CPU's resources the first time the CPU is online while the
    pool exists; there is no teardown callback, so going offline frees nothing; everything is
    freed when the pool is destroyed. Users take the current CPU's context and lock its mutex:
    a thread migrated after the lookup keeps using the old CPU's context safely.
``lock-retry`` (Linux 6.13-6.18, ``acomp_ctx_get_cpu_lock``)
    PREPARE allocates, the dead callback takes the mutex, unpublishes and frees. Users lock the
    mutex and, if the resources are gone (the CPU died after the lookup), unlock and retry on the
    CPU they are now on.
``naive`` (before 2025)
    PREPARE allocates, the dead callback frees without the mutex while a migrated thread may
    still be using the context. pyzswap marks freed resources, and every use checks the mark
    after using them, so the race is *detected* (:class:`~pyzswap.errors.UseAfterFree`), never
    silent. It exists to demonstrate the race.

Allocation goes through an optional memory hook (``mem_hook(nbytes, what)``), the stand-in for
the page allocator: it may run "direct reclaim", which can re-enter zswap's store on the
current (old) pool. Nothing here holds a lock zswap's store needs while calling it.

The refcount is a plain integer: callers (:class:`pyzswap.zswap.Zswap`) change it only under
their own lock, which plays the part of the kernel's percpu_ref atomics.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Final, TypedDict

from ._native import Lock
from .compress import PAGE_SIZE, ZSWAP_MAX_BATCH_SIZE, Compressor, Transform
from .cpu import CpuModel
from .errors import InvalidParameter, UseAfterFree, ZswapError
from .zsmalloc import ZsPool

__all__ = [
    "CTX_BUFFERS",
    "KERNEL_CTX_BYTES",
    "LIFETIMES",
    "AcompCtx",
    "AcompReq",
    "CpuCtxReport",
    "CtxResources",
    "MemHook",
    "ZswapPool",
    "check_ctx_buffers",
    "kernel_ctx_bytes",
]

#: The context-lifetime strategies, default first.
LIFETIMES: Final = ("pool", "lock-retry", "naive")

#: How many request slots and destination buffers each CPU's context gets, default first.
#: ``runtime`` sizes them by the compressor's ``batch_size`` (the series' design: a software
#: compressor gets one, an 8-wide batching one eight). ``build-time`` always allocates
#: ``ZSWAP_MAX_BATCH_SIZE``, as a kernel that fixed the count in its build would, so the lab can
#: measure what that decision wastes; the compress loop still uses only ``batch_size`` of them.
CTX_BUFFERS: Final = ("runtime", "build-time")

#: Kernel per-CPU cost of a context on x86-64 (docs/KERNEL_REFERENCE.md §5.3, series v12-v14):
#: one request and one 8 KiB buffer for a software compressor; one request, 8 buffers and an
#: sg_table for a batching one. Printed next to pyzswap's own figures for comparison.
KERNEL_CTX_BYTES: Final = {1: 8_280, 8: 64_340}



def kernel_ctx_bytes(batch_size: int) -> int:
    """The kernel's per-CPU context bytes for a batch size (exact at 1 and 8, linear between:
    each extra buffer adds the same 8 KiB in the series' accounting)."""
    lo, hi = KERNEL_CTX_BYTES[1], KERNEL_CTX_BYTES[8]
    return lo + (hi - lo) * (min(max(batch_size, 1), 8) - 1) // 7


def check_ctx_buffers(ctx_buffers: object) -> str:
    """``ctx_buffers`` if it is one of :data:`CTX_BUFFERS`, else :class:`InvalidParameter`."""
    if not isinstance(ctx_buffers, str) or ctx_buffers not in CTX_BUFFERS:
        raise InvalidParameter(
            f"unknown ctx_buffers {ctx_buffers!r} (choose from {', '.join(CTX_BUFFERS)})"
        )
    return ctx_buffers


#: ``mem_hook(nbytes, what)``: called before every per-CPU resource allocation.
MemHook = Callable[[int, str], None]


class AcompReq:
    """One request slot (``struct acomp_req``): source, destination, lengths, status."""

    __slots__ = ("dlen", "dst", "slen", "src", "status")

    def __init__(self) -> None:
        self.src: object = None
        self.dst: object = None
        self.slen = 0
        self.dlen = 0
        self.status = 0


class CtxResources:
    """What the PREPARE callback allocates for one CPU of one pool."""

    __slots__ = ("buffers", "freed", "nbytes", "reqs", "tfm")

    def __init__(self, compressor: Compressor, nr: int | None = None) -> None:
        if nr is None:
            nr = compressor.batch_size
        self.tfm: Transform = compressor.new_transform()
        self.reqs = [AcompReq() for _ in range(nr)]
        self.buffers = [bytearray(PAGE_SIZE) for _ in range(nr)]
        self.freed = False
        self.nbytes = _resource_bytes(nr)

    def free(self) -> None:
        """Release the resources. The object stays reachable by a racing user, marked freed."""
        self.freed = True


def _resource_bytes(nr: int) -> int:
    """Bytes one CPU's resources take: buffers plus request objects (Python sizes)."""
    return nr * (PAGE_SIZE + sys.getsizeof(bytearray())) + nr * sys.getsizeof(AcompReq())


class AcompCtx:
    """One CPU's compression context of one pool (the kernel's ``struct crypto_acomp_ctx``)."""

    __slots__ = ("allocations", "cpu", "frees", "mutex", "res")

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        # Initialised for every possible CPU at pool creation, so hotplug never re-initialises
        # a mutex somebody holds.
        self.mutex = Lock()  # threading.Lock's interface; the C fast paths take it directly
        self.res: CtxResources | None = None
        self.allocations = 0
        self.frees = 0


class CpuCtxReport(TypedDict):
    """One CPU's row of :meth:`ZswapPool.ctx_report`."""

    cpu: int
    online: bool
    allocated: bool
    nr_reqs: int
    nr_buffers: int
    bytes: int
    allocations: int
    frees: int


class ZswapPool:
    """A compressor plus its zsmalloc pool and per-CPU contexts, kept alive by references.

    Create pools with :meth:`create`, which registers the pool with CPU hotplug (allocating the
    online CPUs' resources); :meth:`destroy` unregisters it and frees everything.
    """

    __slots__ = ("acomp_ctx", "compressor", "cpuhp_state", "cpus", "ctx_buffers", "ctx_retries",
                 "destroyed", "id", "killed", "lifetime", "mem_hook", "nr_ctx_buffers", "ref",
                 "tfm_name", "zs_pool")

    def __init__(self, compressor: Compressor, cpus: CpuModel, pool_id: int, *,
                 chain_size: int = 8, lifetime: str = "pool",
                 mem_hook: MemHook | None = None, ctx_buffers: str = "runtime") -> None:
        if lifetime not in LIFETIMES:
            raise InvalidParameter(
                f"unknown context lifetime {lifetime!r} (choose from {', '.join(LIFETIMES)})"
            )
        check_ctx_buffers(ctx_buffers)
        self.id = pool_id
        self.compressor = compressor
        self.tfm_name = compressor.name
        self.cpus = cpus
        self.lifetime = lifetime
        self.mem_hook = mem_hook
        self.ctx_buffers = ctx_buffers
        #: Request slots and buffers per CPU context: the compressor's batch size, or always
        #: ZSWAP_MAX_BATCH_SIZE for ``build-time`` (only the first ``batch_size`` are used).
        self.nr_ctx_buffers = (compressor.batch_size if ctx_buffers == "runtime"
                               else ZSWAP_MAX_BATCH_SIZE)
        # zsmalloc needs unique names: the kernel uses "zswap%x" with a global counter.
        self.zs_pool = ZsPool(f"zswap{pool_id:x}", chain_size=chain_size)
        self.acomp_ctx = [AcompCtx(cpu) for cpu in cpus.possible_cpus()]
        self.cpuhp_state = 0
        #: ``lock-retry`` only: lookups that found their context freed and retried elsewhere
        self.ctx_retries = 0
        self.ref = 1  # the initial reference, held by the "current" role
        self.killed = False
        self.destroyed = False

    @classmethod
    def create(cls, compressor: Compressor, cpus: CpuModel, pool_id: int, cpuhp_state: int, *,
               chain_size: int = 8, lifetime: str = "pool",
               mem_hook: MemHook | None = None, ctx_buffers: str = "runtime") -> ZswapPool:
        """``zswap_pool_create``: build the pool and add it as a cpuhp instance.

        Adding the instance runs PREPARE for every online CPU. If an allocation fails, the
        resources already allocated are freed (without a teardown callback the cpuhp core
        would not do it) and the error propagates; nothing is left behind.
        """
        pool = cls(compressor, cpus, pool_id, chain_size=chain_size, lifetime=lifetime,
                   mem_hook=mem_hook, ctx_buffers=ctx_buffers)
        try:
            cpus.state_add_instance(cpuhp_state, pool)
        except BaseException:
            pool._free_all_resources()
            pool.zs_pool.destroy()
            pool.destroyed = True
            raise
        pool.cpuhp_state = cpuhp_state
        return pool

    # -- CPU hotplug callbacks ----------------------------------------------------------------
    def cpu_prepare(self, cpu: int) -> None:
        """``zswap_cpu_comp_prepare``: give ``cpu`` its resources (before it is online)."""
        ctx = self.acomp_ctx[cpu]
        if self.lifetime == "pool" and ctx.res is not None:
            return  # allocated during an earlier online period: kept while offline
        # Allocate outside the mutex: the allocation may recurse into reclaim and zswap.
        if self.mem_hook is not None:
            self.mem_hook(_resource_bytes(self.nr_ctx_buffers),
                          f"acomp_ctx {self.tfm_name}#{self.id} cpu{cpu}")
        res = CtxResources(self.compressor, self.nr_ctx_buffers)
        if self.lifetime == "lock-retry":
            with ctx.mutex:
                ctx.res = res
        else:
            ctx.res = res
        ctx.allocations += 1

    def cpu_dead(self, cpu: int) -> None:
        """``zswap_cpu_comp_dead`` (``lock-retry`` and ``naive`` only): free a dead CPU's."""
        ctx = self.acomp_ctx[cpu]
        if self.lifetime == "lock-retry":
            with ctx.mutex:  # wait for a user; unpublish; free outside the mutex
                res, ctx.res = ctx.res, None
        else:  # naive: no mutex, and the stale pointer stays for a racing user to find
            res = ctx.res
        if res is not None and not res.freed:
            res.free()
            ctx.frees += 1

    def _free_all_resources(self) -> None:
        for ctx in self.acomp_ctx:
            res, ctx.res = ctx.res, None
            if res is not None and not res.freed:
                res.free()
                ctx.frees += 1

    # -- using a context (acomp_ctx_get_cpu_lock / raw_cpu_ptr + mutex_lock) -------------------
    def ctx_get_cpu_lock(self) -> tuple[AcompCtx, CtxResources]:
        """Lock the current CPU's context; return it with the resources to use.

        ``pool``/``naive``: the context of the CPU the thread is on at lookup, locked. A thread
        migrated meanwhile still uses it (safe only under ``pool``). ``lock-retry``: retry on the
        thread's new CPU if the resources were freed between the lookup and the lock.
        """
        cpus = self.cpus
        if cpus.preempt_hook is None and self.lifetime != "lock-retry":
            # The common case, kept short: raw_cpu_ptr + mutex_lock.
            try:
                cpu: int = cpus.local.cpu
                if not cpus.online[cpu]:
                    cpu = cpus.current()
            except AttributeError:
                cpu = cpus.current()
            ctx = self.acomp_ctx[cpu]
            ctx.mutex.acquire()
            res = ctx.res
            if res is not None:
                return ctx, res
            ctx.mutex.release()
        ctxs = self.acomp_ctx
        while True:
            cpu = cpus.current()
            ctx = ctxs[cpu]
            if cpus.preempt_hook is not None:
                cpus.preempt_hook("acomp_ctx_get", cpu)
            ctx.mutex.acquire()
            res = ctx.res
            if res is not None or self.lifetime != "lock-retry":
                if cpus.preempt_hook is not None:
                    cpus.preempt_hook("acomp_ctx_locked", cpu)
                    res = ctx.res  # naive: the user reads the (possibly stale) pointer now
                if res is None:
                    ctx.mutex.release()
                    raise UseAfterFree(
                        f"pool {self.tfm_name}#{self.id}: CPU {cpu}'s context has no resources"
                    )
                return ctx, res
            ctx.mutex.release()  # freed under us: the CPU died; retry where we are now
            self.ctx_retries += 1

    def check_res(self, ctx: AcompCtx, res: CtxResources) -> None:
        """After using ``res``: raise :class:`UseAfterFree` if hotplug freed it meanwhile."""
        if res.freed:
            raise UseAfterFree(
                f"pool {self.tfm_name}#{self.id}: CPU {ctx.cpu}'s compression context was used "
                f"after CPU hotplug freed it ({self.lifetime} lifetime)"
            )

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

    def ctx_report(self) -> list[CpuCtxReport]:
        """Per-CPU resources: which CPUs hold them, how many, and their bytes."""
        rows: list[CpuCtxReport] = []
        for ctx in self.acomp_ctx:
            res = ctx.res
            live = res is not None and not res.freed
            rows.append(CpuCtxReport(
                cpu=ctx.cpu, online=self.cpus.is_online(ctx.cpu), allocated=live,
                nr_reqs=len(res.reqs) if live and res else 0,
                nr_buffers=len(res.buffers) if live and res else 0,
                bytes=res.nbytes if live and res else 0,
                allocations=ctx.allocations, frees=ctx.frees,
            ))
        return rows

    def ctx_memory_bytes(self) -> int:
        """Bytes of per-CPU resources this pool holds, over all CPUs."""
        return sum(row["bytes"] for row in self.ctx_report())

    def destroy(self) -> None:
        """``zswap_pool_destroy``: leave CPU hotplug, free every CPU's resources and zsmalloc."""
        if self.destroyed:
            return
        self.destroyed = True
        if self.cpuhp_state:
            # lock-retry/naive: the teardown frees online CPUs' resources; the merged design has
            # no teardown and frees every CPU's resources itself below.
            self.cpus.state_remove_instance(self.cpuhp_state, self)
        self._free_all_resources()
        self.zs_pool.destroy()

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else "killed" if self.killed else "live"
        return f"<ZswapPool {self.tfm_name}#{self.id} ref={self.ref} {state} {self.lifetime}>"
