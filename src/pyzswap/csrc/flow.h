/*
 * The C flow (flow.c): zswap's store, load and reclaim-batch store, as one C call each.
 *
 * pyzswap.zswap has two complete flows over one state (state.h): the readable Python reference
 * (pyzswap/zswap/flow.py) and this one, chosen per Zswap with Zswap(flow=...). They take the
 * same steps in the same order, the kernel's (mm/zswap.c zswap_store, zswap_store_page,
 * zswap_compress, zswap_load, zswap_decompress), and the differential tests compare every
 * result, counter, entry and byte:
 *
 *   store   the folio and its slots checked; enabled, the memcg's zswap.max (its own entries
 *           written back first) and writeback setting, the global limit; the current pool
 *           with a reference for the store; per batch of ZSWAP_MAX_BATCH_SIZE pages this CPU's
 *           context locked, each page compressed (incompressible pages stored as-is) and put
 *           in zsmalloc; the entries published; on any failure every entry of the folio's
 *           slots erased. A native batching pool streams the pages through its engines and
 *           publishes them a batch at a time (stream.c).
 *   load    the slot's entry looked up, decompressed on this CPU's context into the caller's
 *           page, counted, and erased and freed when the folio is in the swap cache.
 *
 * It serves every configuration: all six context designs (their lookup, retry and freed-use
 * checks, and the preemption hook of pyzswap.cpu), any transform (a PageCodec is called in C
 * with the GIL released; any other through its compress/decompress methods), any zsmalloc
 * pool (a subclass, as fault injection uses, through its methods), memcgs. A batching
 * compressor on Python engine threads is served page by page: Zswap(flow="auto") picks the
 * Python flow for it, whose batches run on those engines in parallel.
 *
 * It never names a private Python attribute. What it calls in Python is declared in
 * _native.pyi: the pool's public attributes (ZswapPool), the CPU model's placement
 * (placement_gen, online, current(), preempt_hook), the memcg's zswap_store_target() and id,
 * a transform's compress/decompress (and a native batching transform's compress_stream,
 * end_stream and its job's take), a zsmalloc subclass's malloc_write/read/read_into/free, and
 * its owner's FlowHooks (shrink_memcg, shrink_work_queue, release_pools).
 *
 * Locking (docs/ARCHITECTURE.md): the context mutex, then zsmalloc's lock inside it; Zswap's
 * lock is never held while compressing, and never together with a context mutex. Pools are
 * released (their destruction takes the hotplug lock) only after every mutex is dropped.
 */
#ifndef PYZSWAP_FLOW_H
#define PYZSWAP_FLOW_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "ahead.h"
#include "consts.h"
#include "state.h"

typedef struct {
    PyObject_HEAD
    int ready;
    ZswapStateObject *state;
    PyObject *owner;   /* a weak reference to the Zswap: its FlowHooks */
    PyObject *cpus;    /* the CpuModel */
    PyObject *online;  /* cpus.online: one bool per possible CPU, changed in place */
    struct pyz_ahead *ahead; /* precompress's helper (ahead.h); NULL until first used */
    Py_buffer lent;          /* the buffer whose pages the helper borrows (ahead.h), ... */
    int lending;             /* ... if set: held until pyz_ahead_end_loan returned */
} NativeFlowObject;

/* What a store or load uses of its pool, with its own references (the pool's record may go
 * while this thread waits for a lock or compresses). */
struct pool_use {
    uint32_t id;
    int lifetime, shared, batch, streams;
    PyObject *pool, *acomp_ctx, *tfm_name, *zs;
    struct zs_pool *zp; /* NULL: zs is a subclass, called through its methods */
    /* a one-folio store's pool reference: PUT_AT_PUBLISH, publish drops it under its hold of
     * the lock, and sets PUT_DONE */
    enum { PUT_AFTER, PUT_AT_PUBLISH, PUT_DONE } put;
};

/* A locked context and the resources it gave (own references). */
struct ctx_use {
    AcompCtxObject *ctx;
    CtxResourcesObject *res;
    PyObject *mutex;
    int cpu;
};

/* flow.c, for stream.c */
int pyz_flow_ctx_lock(NativeFlowObject *f, struct pool_use *p, struct ctx_use *c);
/* Unlock; then -1 with UseAfterFree if hotplug freed the resources meanwhile, else 0. */
int pyz_flow_ctx_unlock(NativeFlowObject *f, struct pool_use *p, struct ctx_use *c);
/* The rest of zswap_compress for one page whose codec result is dlen (> 0 a length, 0 refused
 * with poor set for -ENOSPC): 0 with *handle and *len, 1 rejected (counted), -1 error. */
int pyz_flow_zs_store(NativeFlowObject *f, struct pool_use *p, const char *page, const char *buf,
                      int dlen, int poor, int wb_enabled, uint32_t *handle, unsigned *len);
void pyz_flow_zs_free(struct pool_use *p, const uint32_t *handles, int n);
int pyz_flow_release_pools(NativeFlowObject *f);
/* ZswapError: closed (during NULL), or closed during a store or load; returns NULL. */
PyObject *pyz_flow_closed_error(const char *during);
int pyz_flow_hook(NativeFlowObject *f, PyObject *name, PyObject *arg);
extern PyObject *pyz_s_shrink_work_queue;

/* stream.c: steps 4-5 of a store on a native batching pool, for `n` admitted folios. */
struct stream_folio {
    const char *buf;    /* the folio's pages */
    int nr;
    unsigned type;
    uint64_t off;
    int32_t objcg;
    int wb_enabled;
    int published, failed;
    int npending;
    uint32_t pending_h[ZSWAP_MAX_BATCH_SIZE];
    unsigned pending_l[ZSWAP_MAX_BATCH_SIZE];
};
int pyz_stream_store(NativeFlowObject *f, struct pool_use *p, struct stream_folio *folios, int n,
                     PyObject *srcs);

int pyz_flow_add_types(PyObject *module);

#endif
