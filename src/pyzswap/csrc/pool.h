/* The C parts of a zswap pool (pool.c): its reference count and its per-CPU contexts.
 *
 * pyzswap.pool.ZswapPool (Python) owns one PercpuRef (the kernel's `struct percpu_ref ref` of
 * `struct zswap_pool`) and one AcompCtx per possible CPU (`struct crypto_acomp_ctx`), whose
 * resources, while a CPU holds them, are a CtxResources (the transform, request slots and
 * destination buffers). Python creates, fills and frees them as the context designs say
 * (pool.py); the zswap state (state.c) drops pool references and the C flow (flow.c) locks a
 * context and uses its resources, both through the structs below with no Python call.
 *
 * The fields are Python attributes too, so the Python reference flow reads them as it would a
 * __slots__ class's. The setters check types, so C code may rely on them: an AcompCtx's mutex
 * is always a pyzswap Lock and its res NULL, None or a CtxResources; a CtxResources' reqs and
 * buffers are lists (fixed at creation; their items are checked at use).
 *
 * Locking: the GIL. A context's `res` changes only under its mutex or while no user can hold
 * it (the designs say which: pool.py); `freed` is set by CPU hotplug, possibly while a migrated
 * thread still uses the resources (the race the naive designs have, detected after use).
 */
#ifndef PYZSWAP_POOL_H
#define PYZSWAP_POOL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* percpu_ref of a pool: `count` references; `dead` once killed (percpu_ref_kill) until
 * resurrected. tryget fails on a count of zero, as percpu_ref_tryget after the last put. */
typedef struct {
    PyObject_HEAD
    long long count;
    char dead;
} PercpuRefObject;

typedef struct {
    PyObject_HEAD
    PyObject *tfm;      /* the transform (a PageCodec, or any object with compress/decompress) */
    PyObject *single;   /* the transform a single page runs on: tfm, or the base transform of a
                         * batching one (whose single-page calls are its base's) */
    PyObject *reqs;     /* list of request slots (pyzswap.pool.AcompReq) */
    PyObject *buffers;  /* list of the destination buffers (PAGE_SIZE bytearrays) */
    long long nbytes;   /* pyzswap bytes these resources own (reports) */
    char freed;         /* released by CPU hotplug; a racing user may still hold them */
} CtxResourcesObject;

typedef struct {
    PyObject_HEAD
    int cpu;
    PyObject *mutex;    /* a pyzswap Lock (shared designs: the shared context's) */
    PyObject *res;      /* CtxResources, or NULL / None while the CPU holds none */
    long long allocations, frees;
} AcompCtxObject;

extern PyTypeObject PercpuRefType, CtxResourcesType, AcompCtxType;

#define PYZ_PERCPU_REF_CHECK(o) (Py_TYPE(o) == &PercpuRefType)
#define PYZ_ACOMP_CTX_CHECK(o) (Py_TYPE(o) == &AcompCtxType)

/* The resources a context holds now (borrowed), or NULL. */
static inline CtxResourcesObject *pyz_ctx_res(AcompCtxObject *ctx)
{
    return ctx->res && ctx->res != Py_None ? (CtxResourcesObject *)ctx->res : NULL;
}

int pyz_pool_add_types(PyObject *module);

#endif
