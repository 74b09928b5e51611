"""zswap pools: one compressor, one zsmalloc pool, per-CPU compression contexts, a refcount.

A pool is what the ``compressor`` parameter selects. The *current* pool holds an initial
reference for its role; every stored entry holds one more. Switching compressors kills the old
pool's initial reference (``percpu_ref_kill``): it stays readable while entries use it and is
destroyed when the last one is freed. Switching back to a compressor whose pool still lives
resurrects that pool instead of building a new one (``zswap_compressor_param_set``,
``zswap_pool_find_get``; docs/KERNEL_REFERENCE.md §3).

Per-CPU compression contexts: six designs (docs/KERNEL_REFERENCE.md §5)
-----------------------------------------------------------------------
A CPU compresses on a *context*: a mutex, request slot(s) (``struct acomp_req``), PAGE_SIZE
destination buffer(s) and the transform (``struct crypto_acomp``). Which of these each pool
owns, who allocates them and when they are freed is the *design* (``Zswap(lifetime=...)``,
:data:`LIFETIMES`). The first three give every pool its own contexts; the other three share
the buffers among all pools, as the zswap batching thread discussed (the reply to "[PATCH v8
12/14] mm: zswap: Simplify acomp_ctx resource allocation/deletion and mutex lock usage",
2025-03-18) and as zswap did before commit 8ba2f844f050:

``pool`` (merged into the mm tree in 2026: "mm: zswap: Tie per-CPU acomp_ctx lifetime to the
pool", series v9 patch 15 to v14 patch 23; §5.3)
    ``zswap_cpu_comp_prepare`` allocates a CPU's resources the first time the CPU is online
    while the pool exists; no teardown callback is registered, so going offline frees
    nothing; ``zswap_pool_destroy`` frees every CPU's. Users: ``raw_cpu_ptr`` + mutex.
``lock-retry`` (Linux 6.13-6.18; §5.2)
    prepare allocates (outside the mutex) and publishes under it; ``zswap_cpu_comp_dead``
    takes the mutex, unpublishes and frees. Users: ``acomp_ctx_get_cpu_lock``, which retries
    on the CPU the thread is now on if the resources went meanwhile.
``naive`` (6.8-6.12, before the fix in ``acomp_ctx_get_cpu_lock``)
    the dead callback frees without the mutex while a migrated thread may still be using the
    context: a use-after-free, which pyzswap *detects* (:class:`~pyzswap.errors.UseAfterFree`).
``global-max`` and ``global-one`` (option (b) of the thread, §5.4: "dis-associate the acomp_ctx
from the pool ... a global percpu zswap resource that gets allocated once in zswap_setup()")
    one per-CPU context for all pools, prepared by its own cpuhp state with no teardown, with
    ``ZSWAP_MAX_BATCH_SIZE`` (8) requests and buffers (``global-max``: the "~57 KB per cpu"
    proposal, or ``CONFIG_ALLOC_ZSWAP_BATCHING_RESOURCES=y``) or one of each (``global-one``:
    that option's default, off). **Assumption** (the thread leaves it open): a request is
    allocated for one transform (``acomp_request_alloc(tfm)``), and an old pool's entries must
    still decompress with *their* algorithm after a switch, so one global transform cannot
    serve every pool. pyzswap keeps a transform per pool per CPU (allocated when the pool is
    created, kept through offline, like ``pool``) and binds the global request to the pool's
    transform each time a pool takes the context. A switch therefore still allocates one
    transform per online CPU; only the requests and buffers are not reallocated.
    ``global-one`` cannot batch: a batching compressor is accepted, but its batch size is
    clamped to the one buffer the context has, so it compresses one page per call.
``percpu-shared`` (before commit 8ba2f844f050, "mm/zswap: change per-cpu mutex and buffer to
per-acomp_ctx", i.e. up to 6.7; §5.4)
    a global per-CPU mutex and destination buffer (``zswap_mutex``, ``zswap_dstmem``) made by
    their own cpuhp state (prepare allocates, dead frees) and shared by all pools; each pool
    still has a per-CPU transform and request (its own cpuhp instance, freed at CPU dead),
    which copy the global mutex and buffer pointers at prepare. One buffer per CPU: it cannot
    batch either. Users take ``raw_cpu_ptr`` + the shared mutex with no retry, so the hotplug
    race of ``naive`` exists here too (and the shared mutex itself is freed at CPU dead).

Compressor state (6.18): a software algorithm keeps its working memory in per-CPU *streams*
owned by the crypto layer, one set per algorithm (``crypto_acomp_alloc_streams`` /
``crypto_acomp_lock_stream_bh``, crypto/acompress.c; ``crypto_scomp_init_tfm``), shared by every
transform of that algorithm and not freed at CPU offline or pool destruction.
:class:`CompStreams` models that per :class:`~pyzswap.zswap.Zswap`: a context's transform is
the stream of its algorithm for its CPU, made the first time a context of that algorithm is
prepared on the CPU (the kernel makes it at first use, in a work item), and kept until the
``Zswap`` closes. It is the same in every design.

Batch size: a pool compresses ``compr_batch_size = min(ZSWAP_MAX_BATCH_SIZE, the compressor's
batch size)`` pages per call (the series' ``zswap_pool_create``), further limited by the
buffers a shared context has. A compressor declaring more than ``ZSWAP_MAX_BATCH_SIZE`` is
clamped, not refused.

Every allocation of pool creation and of CPU preparation goes through an optional memory
hook (``mem_hook(nbytes, what)``), the stand-in for the page allocator: it may run "direct
reclaim", which can re-enter zswap's store on the current (old) pool. Nothing here holds a
lock zswap's store needs while calling it. ``nbytes`` is pyzswap's size for what it allocates
itself (buffers, requests) and the kernel's size of the modelled allocation otherwise (0 where
not derived).

The refcount is the pool's :class:`~pyzswap._native.PercpuRef` (``ZswapPool.percpu_ref``;
``ref`` reads it). zswap's state (``pyzswap._native.ZswapState``) takes and drops references
under zswap's lock, which plays the part of the kernel's percpu_ref atomics. The per-CPU
contexts (:class:`AcompCtx`) and their resources (:class:`CtxResources`) are C objects too
(csrc/pool.c), so the C flow locks and uses them without a Python call; Python makes, fills and
frees them here, as each design says.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
import threading
from collections.abc import Callable
from typing import Final, TypedDict

from ._native import AcompCtx, CtxResources, Lock, PercpuRef
from .compress import PAGE_SIZE, ZSWAP_MAX_BATCH_SIZE, BatchingCompressor, Compressor, Transform
from .compress.native import NativeBatchingTransform
from .cpu import CpuModel
from .errors import InvalidParameter, UseAfterFree, ZswapError
from .zsmalloc import ZsPool

__all__ = [
    "CTX_STRUCT_BYTES",
    "GLOBAL_DESIGNS",
    "KERNEL_SIZES",
    "KERNEL_STREAM_BYTES",
    "LIFETIMES",
    "PER_POOL_DESIGNS",
    "STABLE_DESIGNS",
    "TEARDOWN_DESIGNS",
    "AcompCtx",
    "AcompReq",
    "CompStreams",
    "CpuCtxReport",
    "CtxResources",
    "MemHook",
    "SharedCtxs",
    "ZswapPool",
    "check_lifetime",
    "kernel_percpu_bytes",
    "measure_stream_bytes",
]

#: The per-CPU context designs, default first (see the module docstring).
LIFETIMES: Final = ("pool", "lock-retry", "naive", "global-max", "global-one", "percpu-shared")
#: Designs where each pool owns its requests and buffers.
PER_POOL_DESIGNS: Final = ("pool", "lock-retry", "naive")
#: Option (b) of the thread: one context per CPU for all pools, allocated at setup.
GLOBAL_DESIGNS: Final = ("global-max", "global-one")
#: Designs that free nothing while a pool lives: users need no retry, and a thread migrated
#: after the lookup keeps using the old CPU's context safely.
STABLE_DESIGNS: Final = ("pool", "global-max", "global-one")
#: Designs with a teardown (``zswap_cpu_comp_dead``) that frees a pool's part at CPU dead.
TEARDOWN_DESIGNS: Final = ("lock-retry", "naive", "percpu-shared")

#: ``mem_hook(nbytes, what)``: called before every allocation of pool creation and CPU
#: preparation (see the module docstring).
MemHook = Callable[[int, str], None]


def check_lifetime(lifetime: object) -> str:
    """``lifetime`` if it is one of :data:`LIFETIMES`, else :class:`InvalidParameter`."""
    if not isinstance(lifetime, str) or lifetime not in LIFETIMES:
        raise InvalidParameter(
            f"unknown context lifetime {lifetime!r} (choose from {', '.join(LIFETIMES)})"
        )
    return lifetime


# ---------------------------------------------------------------- kernel-equivalent sizes --
#: x86-64 sizes (bytes) of the kernel structures a context is built from, from the members of
#: the 6.18 definitions (no debug options), rounded up to the slab size kmalloc hands out.
#: ``kernel_percpu_bytes`` adds them up per design; docs/LAB.md shows the sums.
KERNEL_SIZES: Final = {
    # struct mutex: owner 8, wait_lock 4, osq 4, wait_list 16
    "mutex": 32,
    # struct crypto_acomp_ctx (6.18 mm/zswap.c): acomp 8, req 8, wait 32 (struct crypto_wait:
    # completion 24 + err 4, padded), buffer 8, mutex 32 -- a percpu area, not slab-rounded
    "acomp_ctx": 88,
    # struct acomp_req: crypto_async_request 48, src 8, dst 8, slen 4, dlen 4 = 72, plus the
    # transform's reqsize; acomp_request_alloc() kzallocs it: the kmalloc-96 slab
    "acomp_req": 96,
    # the destination buffer: kmalloc_node(PAGE_SIZE) since 6.18 (2 * PAGE_SIZE before)
    "buffer": PAGE_SIZE,
    # a pointer (the series' u8 **buffers array entries; a per-pool percpu tfm pointer)
    "pointer": 8,
    # before 8ba2f844f050 a pool's per-CPU acomp_ctx: acomp 8, req 8, wait 32, dstmem 8,
    # mutex pointer 8
    "acomp_ctx_percpu_shared": 64,
}

#: 6.18 stream sizes per algorithm (``alloc_ctx`` of the algorithm): lz4 and lzo allocate
#: LZ4_MEM_COMPRESS / LZO1X_MEM_COMPRESS (16 KiB); others are not derived here.
KERNEL_STREAM_BYTES: Final = {"lz4": 16_384, "lzo": 16_384, "lzo-rle": 16_384}

_KMALLOC_SIZES: Final = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)


def _kmalloc(nbytes: int) -> int:
    """The slab object size kmalloc uses for ``nbytes``."""
    return next((s for s in _KMALLOC_SIZES if s >= nbytes), nbytes)


def kernel_percpu_bytes(lifetime: str, batch: int, *, pools: int = 1,
                        offline: bool = False) -> dict[str, int]:
    """Kernel-equivalent bytes per CPU of ``pools`` pools whose compressor batches ``batch``
    pages, derived from 6.18's structures (:data:`KERNEL_SIZES`): one entry per structure.
    ``offline``: what stays allocated for a CPU that went offline (the percpu context areas
    always do; the teardown designs free the rest).

    Streams (the algorithm's working memory) are not included: they belong to the crypto
    layer and are the same in every design (:data:`KERNEL_STREAM_BYTES`).
    """
    check_lifetime(lifetime)
    k = KERNEL_SIZES
    n = min(max(batch, 1), ZSWAP_MAX_BATCH_SIZE)
    out: dict[str, int] = {}
    if offline and lifetime in TEARDOWN_DESIGNS:
        # alloc_percpu() made the context structs for every possible CPU; dead freed the rest
        struct = "acomp_ctx" if lifetime != "percpu-shared" else "acomp_ctx_percpu_shared"
        out["acomp_ctx" if struct == "acomp_ctx" else "acomp_ctx (per pool)"] = (
            pools * k[struct])
        return out
    if lifetime in PER_POOL_DESIGNS:
        # 6.18 / series v13: one request, compr_batch_size buffers (a pointer array if > 1)
        out["acomp_ctx"] = pools * k["acomp_ctx"]
        out["acomp_req"] = pools * k["acomp_req"]
        out["buffers"] = pools * n * k["buffer"]
        if n > 1:
            out["buffer pointer array"] = pools * _kmalloc(n * k["pointer"])
    elif lifetime in GLOBAL_DESIGNS:
        slots = ZSWAP_MAX_BATCH_SIZE if lifetime == "global-max" else 1
        # the global context (v8's shape: nr_reqs requests and buffers), once per CPU
        out["acomp_ctx (global)"] = k["acomp_ctx"]
        out["acomp_req (global)"] = slots * k["acomp_req"]
        out["buffers (global)"] = slots * k["buffer"]
        if slots > 1:
            out["request and buffer pointer arrays (global)"] = 2 * _kmalloc(
                slots * k["pointer"])
        out["transform pointer (per pool)"] = pools * k["pointer"]
    else:  # percpu-shared
        out["zswap_dstmem buffer (global)"] = k["buffer"]
        out["zswap_mutex (global)"] = _kmalloc(k["mutex"])
        out["acomp_ctx (per pool)"] = pools * k["acomp_ctx_percpu_shared"]
        out["acomp_req (per pool)"] = pools * k["acomp_req"]
    return out


# ---------------------------------------------------------------- measured sizes ------------
class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _heap_in_use() -> int | None:
    """C heap bytes in use (glibc ``mallinfo2``: ``uordblks + hblkhd``), None if unknown."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    try:
        fn = ctypes.CDLL(libc_name).mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    info = fn()
    return int(info.uordblks + info.hblkhd)


_STREAM_BYTES: dict[int, int | None] = {}


def measure_stream_bytes(compressor: Compressor, samples: int = 8) -> int | None:
    """Bytes one stream (transform) of ``compressor`` holds, measured: the C heap in use
    (glibc ``mallinfo2``) before and after making ``samples`` transforms and compressing and
    decompressing one page on each (codecs allocate their work areas on first use), divided
    by ``samples``. None where ``mallinfo2`` is not available. Cached per compressor object;
    run it while no other thread allocates."""
    key = id(compressor)
    if key in _STREAM_BYTES:
        return _STREAM_BYTES[key]
    page = (bytes(range(256)) * (PAGE_SIZE // 256))
    gc.collect()
    before = _heap_in_use()
    if before is None:
        _STREAM_BYTES[key] = None
        return None
    keep: list[Transform] = []
    out = bytearray(PAGE_SIZE)
    back = bytearray(PAGE_SIZE)
    for _ in range(samples):
        tfm = compressor.new_transform()
        n = tfm.compress(page, out)
        tfm.decompress(bytes(out[:n]), back)
        keep.append(tfm)
    after = _heap_in_use()
    del keep
    gc.collect()
    value = max(0, (after or before) - before) // samples
    _STREAM_BYTES[key] = value
    return value


# ---------------------------------------------------------------- objects -------------------
class AcompReq:
    """One request slot (``struct acomp_req``): source, destination, lengths, status, and the
    transform it is bound to (a shared context's request is bound to the user's pool)."""

    __slots__ = ("dlen", "dst", "slen", "src", "status", "tfm")

    def __init__(self) -> None:
        self.src: object = None
        self.dst: object = None
        self.slen = 0
        self.dlen = 0
        self.status = 0
        self.tfm: Transform | None = None


_BUFFER_BYTES: Final = sys.getsizeof(bytearray(PAGE_SIZE))
_REQ_BYTES: Final = sys.getsizeof(AcompReq())
_MUTEX_BYTES: Final = sys.getsizeof(Lock())


class _NoTransform(Transform):
    """The transform slot of a shared context: each pool brings its own (never called)."""

    __slots__ = ()

    def compress(self, src: object, dst: bytearray | memoryview) -> int:
        raise ZswapError("a shared context has no transform of its own")

    def decompress(self, src: object, dst: bytearray | memoryview) -> int:
        raise ZswapError("a shared context has no transform of its own")


_NO_TFM: Final = _NoTransform()


#: pyzswap bytes of a context object itself (kept for every possible CPU while its owner
#: lives, like the kernel's percpu area): the AcompCtx (csrc/pool.c), plus its own mutex where
#: it has one. A CPU's resources while it holds them are a CtxResources (the transform, request
#: slots and buffers; ``free()`` marks them freed, still reachable by a racing user).
CTX_STRUCT_BYTES: Final = sys.getsizeof(AcompCtx(0)) + _MUTEX_BYTES


class CompStreams:
    """A :class:`~pyzswap.zswap.Zswap`'s per-algorithm per-CPU streams (6.18's
    ``crypto_acomp_streams``): the transform every context of an algorithm on a CPU uses.

    Made on first request for an (algorithm, CPU) pair, never freed before :meth:`clear`
    (``Zswap.close``): the kernel keeps them while the algorithm is registered. A stream is
    only used under the mutex of a context on its CPU, and one ``Zswap`` has at most one
    usable pool per algorithm, so no two threads use one stream at once.
    """

    __slots__ = ("_lock", "_streams", "allocations")

    def __init__(self) -> None:
        self._streams: dict[tuple[Compressor, int], Transform] = {}
        self._lock = threading.Lock()
        self.allocations = 0

    def get(self, compressor: Compressor, cpu: int, mem_hook: MemHook | None) -> Transform:
        """The stream of ``compressor`` for ``cpu``, made (through ``mem_hook``) if needed."""
        key = (compressor, cpu)
        stream = self._streams.get(key)
        if stream is not None:
            return stream
        if mem_hook is not None:
            mem_hook(KERNEL_STREAM_BYTES.get(compressor.name, 0),
                     f"stream {compressor.name} cpu{cpu}")
        made = compressor.new_transform()
        with self._lock:
            stream = self._streams.setdefault(key, made)
            if stream is made:
                self.allocations += 1
        return stream

    def held(self) -> dict[str, list[int]]:
        """CPUs holding a stream, per algorithm name."""
        with self._lock:
            keys = list(self._streams)
        out: dict[str, list[int]] = {}
        for comp, cpu in keys:
            out.setdefault(comp.name, []).append(cpu)
        return {name: sorted(cpus) for name, cpus in out.items()}

    def compressors(self) -> list[Compressor]:
        with self._lock:
            return list(dict.fromkeys(comp for comp, _ in self._streams))

    def clear(self) -> None:
        with self._lock:
            self._streams.clear()


class SharedCtxs:
    """Per-CPU context resources every pool shares (``zswap_setup``): the global context of
    ``global-max`` / ``global-one`` (no teardown: kept through offline), or the
    ``zswap_dstmem`` buffer and ``zswap_mutex`` of ``percpu-shared`` (freed at CPU dead).

    Created with :meth:`create`, which registers its own cpuhp state (before any pool's, so
    its prepare runs first when a CPU comes up and its teardown last when one goes down).
    """

    __slots__ = ("acomp_ctx", "cpuhp_state", "cpus", "destroyed", "lifetime", "mem_hook", "nr",
                 "views")

    def __init__(self, lifetime: str, cpus: CpuModel, mem_hook: MemHook | None) -> None:
        self.lifetime = lifetime
        self.cpus = cpus
        self.mem_hook = mem_hook
        #: requests and buffers per CPU: 8 for global-max, else 1
        self.nr = ZSWAP_MAX_BATCH_SIZE if lifetime == "global-max" else 1
        self.acomp_ctx = [AcompCtx(cpu) for cpu in cpus.possible_cpus()]
        #: percpu-shared: the pools' views of each CPU's buffer (marked freed with it)
        self.views: list[list[CtxResources]] = [[] for _ in cpus.possible_cpus()]
        self.cpuhp_state = 0
        self.destroyed = False

    @classmethod
    def create(cls, lifetime: str, cpus: CpuModel,
               mem_hook: MemHook | None) -> SharedCtxs | None:
        """The shared resources of a shared design (None for a per-pool one), prepared for
        every online CPU. An allocation failure frees what was made and propagates."""
        if lifetime in PER_POOL_DESIGNS:
            return None
        shared = cls(lifetime, cpus, mem_hook)
        if lifetime == "percpu-shared":
            state = cpus.setup_state_multi("mm/zswap:prepare", _shared_prepare, _shared_dead)
        else:
            state = cpus.setup_state_multi("mm/zswap_acomp_ctx:prepare", _shared_prepare, None)
        try:
            cpus.state_add_instance(state, shared)
        except BaseException:
            shared._free_all()
            cpus.remove_state(state)
            raise
        shared.cpuhp_state = state
        return shared

    def cpu_prepare(self, cpu: int) -> None:
        """Allocate ``cpu``'s shared requests and buffers (global) or buffer and mutex."""
        ctx = self.acomp_ctx[cpu]
        if ctx.res is not None:
            return  # global designs: kept from an earlier online period
        hook = self.mem_hook
        if self.lifetime == "percpu-shared":
            if hook is not None:
                hook(_BUFFER_BYTES, f"zswap_dstmem cpu{cpu}")
                hook(_MUTEX_BYTES, f"zswap_mutex cpu{cpu}")
            # zswap_dstmem_prepare kmallocs the buffer and the mutex per online period. The
            # mutex object here stays the same (a thread may hold it across a CPU's death and
            # return: it must release what it took); its death is the freed mark of ``res``.
            ctx.res = CtxResources(_NO_TFM, [], [bytearray(PAGE_SIZE)],
                                   _BUFFER_BYTES + _MUTEX_BYTES)
        else:
            for _ in range(self.nr):
                if hook is not None:
                    hook(_REQ_BYTES, f"acomp_req global cpu{cpu}")
            for _ in range(self.nr):
                if hook is not None:
                    hook(_BUFFER_BYTES, f"buffer global cpu{cpu}")
            ctx.res = CtxResources(_NO_TFM, [AcompReq() for _ in range(self.nr)],
                                   [bytearray(PAGE_SIZE) for _ in range(self.nr)],
                                   self.nr * (_REQ_BYTES + _BUFFER_BYTES))
        ctx.allocations += 1

    def cpu_dead(self, cpu: int) -> None:
        """``zswap_dstmem_dead`` (percpu-shared): free the buffer and the mutex, with no
        regard for a thread still using them (pyzswap marks them freed: detected)."""
        ctx = self.acomp_ctx[cpu]
        res, ctx.res = ctx.res, None
        _free_once(ctx, res)
        for view in self.views[cpu]:
            view.free()
        self.views[cpu] = []

    def _free_all(self) -> None:
        for cpu in self.cpus.possible_cpus():
            self.cpu_dead(cpu)

    def destroy(self) -> None:
        """Leave CPU hotplug and free every CPU's shared resources (``Zswap.close``)."""
        if not self.destroyed:
            self.destroyed = True
            if self.cpuhp_state:
                self.cpus.state_remove_instance(self.cpuhp_state, self)
                self.cpus.remove_state(self.cpuhp_state)
            self._free_all()

    def memory_bytes(self) -> int:
        """pyzswap bytes of the shared resources held, over all CPUs."""
        return sum(ctx.res.nbytes for ctx in self.acomp_ctx
                   if ctx.res is not None and not ctx.res.freed)

    def cpus_holding(self) -> list[int]:
        return [ctx.cpu for ctx in self.acomp_ctx if ctx.res is not None and not ctx.res.freed]


def _free_once(ctx: AcompCtx, res: CtxResources | None) -> bool:
    """Free a context's resources unless already freed, counting it; True if freed now."""
    if res is None or res.freed:
        return False
    res.free()
    ctx.frees += 1
    return True


def _shared_prepare(cpu: int, shared: SharedCtxs) -> None:
    shared.cpu_prepare(cpu)


def _shared_dead(cpu: int, shared: SharedCtxs) -> None:
    shared.cpu_dead(cpu)


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

    __slots__ = ("acomp_ctx", "comp_streams", "compr_batch_size", "compressor", "cpuhp_state",
                 "cpus", "ctx_retries", "destroyed", "id", "lifetime", "mem_hook", "percpu_ref",
                 "shared", "streams", "tfm_name", "zs_pool")

    def __init__(self, compressor: Compressor, cpus: CpuModel, pool_id: int, *,
                 chain_size: int = 8, lifetime: str = "pool",
                 mem_hook: MemHook | None = None, shared: SharedCtxs | None = None,
                 streams: CompStreams | None = None) -> None:
        check_lifetime(lifetime)
        if (shared is None) != (lifetime in PER_POOL_DESIGNS) or (
                shared is not None and shared.lifetime != lifetime):
            raise InvalidParameter(f"lifetime {lifetime!r} needs the shared contexts of "
                                   "the same design (and only shared designs have them)")
        self.id = pool_id
        self.compressor = compressor
        self.tfm_name = compressor.name
        self.cpus = cpus
        self.lifetime = lifetime
        self.mem_hook = mem_hook
        self.shared = shared
        self.comp_streams = streams if streams is not None else CompStreams()
        #: Pages per compress call: the compressor's batch size, clamped to
        #: ZSWAP_MAX_BATCH_SIZE (zswap_pool_create) and to a shared context's buffers.
        limit = ZSWAP_MAX_BATCH_SIZE if shared is None else shared.nr
        self.compr_batch_size = max(1, min(compressor.batch_size, limit))
        #: Stores of more than one page stream through the compressor's native engines
        #: (``compress_stream``). Not with batch size 1: a one-buffer ring leaves the engines
        #: nothing to do ahead of the caller, so such a pool stores like a software one.
        self.streams = (type(compressor) is BatchingCompressor
                        and compressor.engine == "native" and self.compr_batch_size > 1)
        # zsmalloc needs unique names: the kernel uses "zswap%x" with a global counter.
        self.zs_pool = ZsPool(f"zswap{pool_id:x}", chain_size=chain_size)
        self.acomp_ctx = [AcompCtx(cpu) for cpu in cpus.possible_cpus()]
        if shared is not None:
            for ctx in self.acomp_ctx:  # one mutex per CPU for every pool
                ctx.mutex = shared.acomp_ctx[ctx.cpu].mutex
        self.cpuhp_state = 0
        #: ``lock-retry`` only: lookups that found their context freed and retried elsewhere
        self.ctx_retries = 0
        #: percpu_ref: the initial reference, held by the "current" role, and one per entry
        self.percpu_ref = PercpuRef()
        self.destroyed = False

    @classmethod
    def create(cls, compressor: Compressor, cpus: CpuModel, pool_id: int, cpuhp_state: int, *,
               chain_size: int = 8, lifetime: str = "pool",
               mem_hook: MemHook | None = None, shared: SharedCtxs | None = None,
               streams: CompStreams | None = None) -> ZswapPool:
        """``zswap_pool_create``: the pool struct, its zsmalloc pool, the per-CPU context
        array, the cpuhp instance (PREPARE for every online CPU) and the percpu_ref, each
        allocation through ``mem_hook``.

        If an allocation fails, everything already allocated is freed (without a teardown
        callback the cpuhp core would not do it) and the error propagates.
        """
        name = compressor.name
        if mem_hook is not None:
            mem_hook(0, f"zswap_pool {name}#{pool_id}")
            mem_hook(0, f"zs_pool zswap{pool_id:x}")
        pool = cls(compressor, cpus, pool_id, chain_size=chain_size, lifetime=lifetime,
                   mem_hook=mem_hook, shared=shared, streams=streams)
        try:
            if mem_hook is not None:
                mem_hook(0, f"alloc_percpu {name}#{pool_id}")
            cpus.state_add_instance(cpuhp_state, pool)
            pool.cpuhp_state = cpuhp_state
            if mem_hook is not None:
                mem_hook(0, f"percpu_ref {name}#{pool_id}")
        except BaseException:
            if pool.cpuhp_state:
                cpus.state_remove_instance(cpuhp_state, pool)
                pool.cpuhp_state = 0
            pool._free_all_resources()
            pool.zs_pool.destroy()
            pool.destroyed = True
            raise
        return pool

    # -- CPU hotplug callbacks ----------------------------------------------------------------
    def cpu_prepare(self, cpu: int) -> None:
        """``zswap_cpu_comp_prepare``: give ``cpu`` its resources (before it is online)."""
        ctx = self.acomp_ctx[cpu]
        if self.lifetime in STABLE_DESIGNS and ctx.res is not None:
            return  # allocated during an earlier online period: kept while offline
        hook = self.mem_hook
        tag = f"{self.tfm_name}#{self.id} cpu{cpu}"
        # Allocate outside the mutex: the allocation may recurse into reclaim and zswap.
        if hook is not None:
            hook(0, f"acomp {tag}")  # crypto_alloc_acomp_node: the transform
        tfm = self.comp_streams.get(self.compressor, cpu, hook)
        # A native batching transform runs one page on its base: the C flow calls that directly.
        one = tfm.base if isinstance(tfm, NativeBatchingTransform) else None
        shared = self.shared
        if shared is None:
            n = self.compr_batch_size
            if hook is not None:
                hook(_REQ_BYTES, f"acomp_ctx {tag}")  # the request (6.18: one per context)
                for _ in range(n):
                    hook(_BUFFER_BYTES, f"buffer {tag}")
            res = CtxResources(tfm, [AcompReq()], [bytearray(PAGE_SIZE) for _ in range(n)],
                               _REQ_BYTES + n * _BUFFER_BYTES, one)
        else:
            sres = shared.acomp_ctx[cpu].res
            if sres is None or sres.freed:
                raise ZswapError(f"CPU {cpu} has no shared context (the shared state "
                                 "prepares a CPU before any pool)")
            if self.lifetime == "percpu-shared":
                if hook is not None:
                    hook(_REQ_BYTES, f"acomp_ctx {tag}")
                # the pointer copies of zswap_cpu_comp_prepare: this period's buffer
                res = CtxResources(tfm, [AcompReq()], sres.buffers, _REQ_BYTES, one)
                shared.views[cpu].append(res)
            else:
                res = CtxResources(tfm, sres.reqs, sres.buffers, 0, one)
        if self.lifetime == "lock-retry":
            with ctx.mutex:
                ctx.res = res
        else:
            ctx.res = res
        ctx.allocations += 1

    def cpu_dead(self, cpu: int) -> None:
        """``zswap_cpu_comp_dead`` (lock-retry, naive, percpu-shared): free a dead CPU's."""
        ctx = self.acomp_ctx[cpu]
        if self.lifetime == "lock-retry":
            with ctx.mutex:  # wait for a user; unpublish; free outside the mutex
                res, ctx.res = ctx.res, None
        else:  # no mutex, and the stale pointer stays for a racing user to find
            res = ctx.res
        self._release(ctx, res)

    def _release(self, ctx: AcompCtx, res: CtxResources | None) -> None:
        """Free a CPU's resources of this pool (a shared context's view: only this pool's
        part, and it stops following the shared buffer)."""
        if _free_once(ctx, res) and self.shared is not None:
            views = self.shared.views[ctx.cpu]
            if res in views:
                views.remove(res)

    def _free_all_resources(self) -> None:
        for ctx in self.acomp_ctx:
            res, ctx.res = ctx.res, None
            self._release(ctx, res)

    # -- using a context (acomp_ctx_get_cpu_lock / raw_cpu_ptr + mutex_lock) -------------------
    def ctx_get_cpu_lock(self) -> tuple[AcompCtx, CtxResources]:
        """Lock the current CPU's context; return it with the resources to use.

        ``lock-retry``: retry on the thread's new CPU if the resources were freed between the
        lookup and the lock. Every other design: the context of the CPU the thread is on at
        lookup, locked; a thread migrated meanwhile still uses it (safe where nothing is freed,
        :data:`STABLE_DESIGNS`). Global designs then bind the shared request to this pool's
        transform (``acomp_request_set_tfm``).
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
                if self.shared is not None:
                    res.reqs[0].tfm = res.tfm
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
                if self.shared is not None:
                    res.reqs[0].tfm = res.tfm
                return ctx, res
            ctx.mutex.release()  # freed under us: the CPU died; retry where we are now
            self.count_ctx_retry()

    def count_ctx_retry(self) -> None:
        """A lookup found its context freed and retries on the thread's new CPU (lock-retry);
        both flows count it here."""
        self.ctx_retries += 1

    def check_res(self, ctx: AcompCtx, res: CtxResources) -> None:
        """After using ``res``: raise :class:`UseAfterFree` if hotplug freed it meanwhile."""
        if res.freed:
            raise UseAfterFree(
                f"pool {self.tfm_name}#{self.id}: CPU {ctx.cpu}'s compression context was used "
                f"after CPU hotplug freed it ({self.lifetime} lifetime)"
            )

    # -- references (caller holds the zswap lock) -------------------------------------------
    @property
    def ref(self) -> int:
        """References held now (the PercpuRef's count)."""
        return int(self.percpu_ref.count)

    @ref.setter
    def ref(self, value: int) -> None:
        self.percpu_ref.count = value

    @property
    def killed(self) -> bool:
        """No longer current: the initial reference was dropped (percpu_ref_kill)."""
        return bool(self.percpu_ref.dead)

    def tryget(self) -> bool:
        """Take a reference unless the pool is already dead (percpu_ref_tryget)."""
        return self.percpu_ref.tryget()

    def put(self, nr: int = 1) -> bool:
        """Drop ``nr`` references; True when the count reached zero (the pool is empty)."""
        if nr > self.ref:
            raise ZswapError(f"pool {self.tfm_name}#{self.id}: reference count underflow")
        return self.percpu_ref.put(nr)

    def kill(self) -> bool:
        """Drop the initial reference as the pool stops being current (percpu_ref_kill)."""
        return self.percpu_ref.kill()

    def resurrect(self) -> None:
        """Give a killed pool its initial reference back (percpu_ref_resurrect)."""
        self.percpu_ref.resurrect()

    # -- accounting -------------------------------------------------------------------------
    def total_pages(self) -> int:
        """Pages allocated by this pool's zsmalloc pool (zs_get_total_pages)."""
        return self.zs_pool.pages_allocated

    def ctx_report(self) -> list[CpuCtxReport]:
        """Per-CPU resources: which CPUs hold them, how many, and the bytes the pool owns."""
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
        """Bytes of per-CPU resources this pool owns, over all CPUs."""
        return sum(row["bytes"] for row in self.ctx_report())

    def destroy(self) -> None:
        """``zswap_pool_destroy``: leave CPU hotplug, free every CPU's resources and zsmalloc."""
        if self.destroyed:
            return
        self.destroyed = True
        if self.cpuhp_state:
            # lock-retry/naive/percpu-shared: the teardown frees online CPUs' resources; the
            # other designs have none and every CPU's resources are freed below.
            self.cpus.state_remove_instance(self.cpuhp_state, self)
        self._free_all_resources()
        self.zs_pool.destroy()

    def __repr__(self) -> str:
        state = "destroyed" if self.destroyed else "killed" if self.killed else "live"
        return f"<ZswapPool {self.tfm_name}#{self.id} ref={self.ref} {state} {self.lifetime}>"
