/* pyzswap._native.NativeFlow: zswap's store and load in C (see flow.h). */
#include "flow.h"

#include "codec_py.h"
#include "consts.h"
#include "lifecycle.h"
#include "lock.h"
#include "slotattr.h"
#include "zsmalloc_py.h"

#include <errno.h>
#include <string.h>

/* A folio and its slots, checked (parse_folio); the buffer is held in view. */
struct folio_arg {
    Py_buffer view;
    const char *buf;
    int nr;
    unsigned type;
    uint64_t off;
};

/* What admission found: the object cgroup to charge (-1: none), its writeback setting. */
struct admit {
    int32_t objcg;
    int wb_enabled;
};

static int stream_admitted(NativeFlowObject *f, struct pool_use *p, struct folio_arg *a,
                           struct admit *ad, int n, int *ok, PyObject *srcs);

static PyObject *InvalidPage, *InvalidParameter, *ZswapError, *UseAfterFree, *AllocFail;
static PyObject *s_placement_gen, *s_current, *s_preempt_hook, *s_count_ctx_retry, *s_tfm,
    *s_compress, *s_decompress, *s_release, *s_malloc_write, *s_read, *s_read_into, *s_free,
    *s_zswap_store_target, *s_id, *s_shrink_memcg, *s_release_pools, *s_acomp_ctx_get,
    *s_acomp_ctx_locked;
PyObject *pyz_s_shrink_work_queue;

static int init_names(void)
{
    if (AllocFail)
        return 0;
#define INTERN(var, text) \
    if (!(var = PyUnicode_InternFromString(text))) \
        return -1
    INTERN(s_placement_gen, "placement_gen");
    INTERN(s_current, "current");
    INTERN(s_preempt_hook, "preempt_hook");
    INTERN(s_count_ctx_retry, "count_ctx_retry");
    INTERN(s_tfm, "tfm");
    INTERN(s_compress, "compress");
    INTERN(s_decompress, "decompress");
    INTERN(s_release, "release");
    INTERN(s_malloc_write, "malloc_write");
    INTERN(s_read, "read");
    INTERN(s_read_into, "read_into");
    INTERN(s_free, "free");
    INTERN(s_zswap_store_target, "zswap_store_target");
    INTERN(s_id, "id");
    INTERN(s_shrink_memcg, "shrink_memcg");
    INTERN(s_release_pools, "release_pools");
    INTERN(pyz_s_shrink_work_queue, "shrink_work_queue");
    INTERN(s_acomp_ctx_get, "acomp_ctx_get");
    INTERN(s_acomp_ctx_locked, "acomp_ctx_locked");
#undef INTERN
    if (pyz_load_zswap_errors() < 0)
        return -1;
    InvalidPage = pyz_InvalidPage;
    InvalidParameter = pyz_InvalidParameter;
    ZswapError = pyz_ZswapError;
    UseAfterFree = pyz_UseAfterFree;
    AllocFail = pyz_AllocFail;
    return 0;
}

/* ---------------------------------------------------------------- the CPU ---------------- */

/* This thread's CPU as the CPU model last placed it, valid while the model's placement_gen is
 * unchanged: that number is drawn from one process-wide counter whenever a thread is placed
 * or migrated or the preemption hook changes, and only a thread places or migrates itself. */
static __thread struct {
    long long gen;
    int cpu, hooked;
} cpu_cache = {-1, -1, 0};

/* raw_smp_processor_id(): this thread's CPU (placed or moved by cpus.current() if needed),
 * and whether a preemption hook is set. -1 with an exception. */
static int this_cpu(NativeFlowObject *f, int *hooked)
{
    static struct pyz_slot_cache gen_slot;
    PyObject *g = pyz_slot_get(f->cpus, s_placement_gen, &gen_slot);
    long long gen = g ? PyLong_AsLongLong(g) : -1;
    Py_XDECREF(g);
    if (gen == -1 && PyErr_Occurred())
        return -1;
    int cpu = cpu_cache.cpu;
    if (gen == cpu_cache.gen && cpu >= 0 && cpu < PyList_GET_SIZE(f->online) &&
        PyList_GET_ITEM(f->online, cpu) == Py_True) {
        *hooked = cpu_cache.hooked;
        return cpu;
    }
    PyObject *c = PyObject_CallMethodNoArgs(f->cpus, s_current);
    cpu = c ? (int)PyLong_AsLong(c) : -1;
    Py_XDECREF(c);
    PyObject *h = cpu >= 0 ? PyObject_GetAttr(f->cpus, s_preempt_hook) : NULL;
    g = h ? PyObject_GetAttr(f->cpus, s_placement_gen) : NULL;
    gen = g ? PyLong_AsLongLong(g) : -1;
    Py_XDECREF(g);
    if (!h || PyErr_Occurred()) {
        Py_XDECREF(h);
        return -1;
    }
    *hooked = h != Py_None;
    Py_DECREF(h);
    cpu_cache.gen = gen;
    cpu_cache.cpu = cpu;
    cpu_cache.hooked = *hooked;
    return cpu;
}

/* cpus.preempt_hook(point, cpu), if one is set now. */
static int preempt_point(NativeFlowObject *f, PyObject *point, int cpu)
{
    PyObject *hook = PyObject_GetAttr(f->cpus, s_preempt_hook);
    if (!hook)
        return -1;
    PyObject *r = NULL;
    if (hook == Py_None) {
        r = Py_NewRef(Py_None);
    } else {
        PyObject *c = PyLong_FromLong(cpu);
        r = c ? PyObject_CallFunctionObjArgs(hook, point, c, NULL) : NULL;
        Py_XDECREF(c);
    }
    Py_DECREF(hook);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* ---------------------------------------------------------------- pools ------------------ */

/* What a store or load uses of pool r. A store resolves pool.zs_pool again (fault injection
 * may have replaced it while the pool was empty); a load uses the one its entry's store
 * resolved (`fresh` 0), since a pool's zsmalloc pool never changes while it holds objects. */
static int pool_use_take(struct pyz_pool *r, struct pool_use *p, int fresh)
{
    memset(p, 0, sizeof(*p));
    p->zp = r->zp;
    p->zs = !fresh && r->zs ? Py_NewRef(r->zs) : pyz_pool_zs(r, &p->zp);
    if (!p->zs)
        return -1;
    p->id = r->id;
    p->lifetime = r->lifetime;
    p->shared = r->shared;
    p->batch = r->batch;
    p->streams = r->streams;
    p->pool = Py_NewRef(r->pool);
    p->acomp_ctx = Py_NewRef(r->acomp_ctx);
    p->tfm_name = Py_NewRef(r->tfm_name);
    return 0;
}

static void pool_use_drop(struct pool_use *p)
{
    Py_CLEAR(p->pool);
    Py_CLEAR(p->acomp_ctx);
    Py_CLEAR(p->tfm_name);
    Py_CLEAR(p->zs);
}

/* ---------------------------------------------------------------- contexts --------------- */

static void ctx_use_drop(struct ctx_use *c)
{
    Py_CLEAR(c->ctx);
    Py_CLEAR(c->res);
    Py_CLEAR(c->mutex);
}

/* The context of `cpu`, or NULL with an exception. */
static AcompCtxObject *ctx_of(struct pool_use *p, int cpu)
{
    PyObject *ctx = cpu < PyList_GET_SIZE(p->acomp_ctx) ? PyList_GET_ITEM(p->acomp_ctx, cpu)
                                                        : NULL;
    if (!ctx || !PYZ_ACOMP_CTX_CHECK(ctx) || !((AcompCtxObject *)ctx)->mutex) {
        PyErr_Format(PyExc_TypeError, "pool %R has no context for CPU %d", p->tfm_name, cpu);
        return NULL;
    }
    return (AcompCtxObject *)ctx;
}

/* A context found without resources, or with resources freed under it: the race of the
 * designs that free at CPU offline, detected and counted (never silent). */
static int use_after_free(NativeFlowObject *f, struct pool_use *p, int cpu, int freed)
{
    pyz_state_count(f->state, STAT_CTX_USE_AFTER_FREE, 1);
    if (freed)
        PyErr_Format(UseAfterFree, "pool %U#%u: CPU %d's compression context was used after "
                     "CPU hotplug freed it", p->tfm_name, p->id, cpu);
    else
        PyErr_Format(UseAfterFree, "pool %U#%u: CPU %d's context has no resources",
                     p->tfm_name, p->id, cpu);
    return -1;
}

/* Lock the current CPU's context of the pool (acomp_ctx_get_cpu_lock, or raw_cpu_ptr and
 * mutex_lock, as the design says): 0 with *c filled, or -1 with an exception (nothing held).
 * lock-retry retries on the thread's new CPU when the resources went meanwhile; the other
 * designs use the context found, which a naive design may have freed (then: UseAfterFree). */
int pyz_flow_ctx_lock(NativeFlowObject *f, struct pool_use *p, struct ctx_use *c)
{
    memset(c, 0, sizeof(*c));
    for (;;) {
        int hooked;
        int cpu = this_cpu(f, &hooked);
        AcompCtxObject *ctx = cpu < 0 ? NULL : ctx_of(p, cpu);
        if (!ctx || (hooked && preempt_point(f, s_acomp_ctx_get, cpu) < 0))
            return -1;
        PyObject *mutex = Py_NewRef(ctx->mutex);
        pyz_lock_acquire(mutex);
        CtxResourcesObject *res = pyz_ctx_res(ctx);
        if (res || p->lifetime != LT_LOCK_RETRY) {
            if (hooked && preempt_point(f, s_acomp_ctx_locked, cpu) < 0) {
                pyz_lock_release(mutex);
                Py_DECREF(mutex);
                return -1;
            }
            res = pyz_ctx_res(ctx); /* naive: the user reads the (possibly stale) pointer now */
            if (!res) {
                pyz_lock_release(mutex);
                Py_DECREF(mutex);
                return use_after_free(f, p, cpu, 0);
            }
            /* a shared context's request is bound to this pool's transform */
            if (p->shared && PyList_Check(res->reqs) && PyList_GET_SIZE(res->reqs) > 0 &&
                PyObject_SetAttr(PyList_GET_ITEM(res->reqs, 0), s_tfm, res->tfm) < 0) {
                pyz_lock_release(mutex);
                Py_DECREF(mutex);
                return -1;
            }
            c->ctx = (AcompCtxObject *)Py_NewRef(ctx);
            c->res = (CtxResourcesObject *)Py_NewRef(res);
            c->mutex = mutex;
            c->cpu = cpu;
            return 0;
        }
        pyz_lock_release(mutex); /* freed under us: the CPU died; retry where we are now */
        Py_DECREF(mutex);
        PyObject *r = PyObject_CallMethodNoArgs(p->pool, s_count_ctx_retry);
        if (!r)
            return -1;
        Py_DECREF(r);
    }
}

int pyz_flow_ctx_unlock(NativeFlowObject *f, struct pool_use *p, struct ctx_use *c)
{
    int freed = c->res->freed;
    pyz_lock_release(c->mutex);
    int rc = freed ? use_after_free(f, p, c->cpu, 1) : 0;
    ctx_use_drop(c);
    return rc;
}

/* Drop a context on an error path, keeping the pending exception. */
static void ctx_abandon(struct ctx_use *c)
{
    pyz_lock_release(c->mutex);
    ctx_use_drop(c);
}

/* ---------------------------------------------------------------- compress ---------------- */

/* A read-only memoryview of C memory for a Python callee, released after the call (a callee
 * that keeps it gets a released view, not freed memory). */
static PyObject *call_with_view(PyObject *obj, PyObject *name, const char *mem, Py_ssize_t len,
                                PyObject *arg2)
{
    PyObject *view = PyMemoryView_FromMemory((char *)mem, len, PyBUF_READ);
    if (!view)
        return NULL;
    PyObject *argv[3] = {obj, view, arg2};
    PyObject *r = PyObject_VectorcallMethod(name, argv, 3, NULL);
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject *rel = PyObject_CallMethodNoArgs(view, s_release);
    Py_XDECREF(rel);
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
    Py_DECREF(view);
    return r;
}

/* The flow's look-ahead helper if it is usable in this process (one made before a fork()
 * is left alone in the child: its thread is not there and its lock may be held). */
static struct pyz_ahead *ahead_of(NativeFlowObject *f)
{
    if (f->ahead && !pyz_ahead_here(f->ahead))
        f->ahead = NULL;
    return f->ahead;
}

/* zswap_compress's codec call on a locked context: the length (> 0), or 0 when the codec
 * refused the page (*poor set for -ENOSPC), or -1 with an exception. A page precompress
 * handed over is taken from the helper when its bytes are unchanged (ahead.h). */
static int compress_page(NativeFlowObject *f, CtxResourcesObject *res, int k, const char *page,
                         Py_buffer *dst, int *poor)
{
    *poor = 0;
    PyObject *buf = PyList_Check(res->buffers) && k < PyList_GET_SIZE(res->buffers)
                        ? PyList_GET_ITEM(res->buffers, k) : NULL;
    /* held until the caller is done with the output: the buffer cannot be resized */
    if (!buf || !PyByteArray_Check(buf) || PyObject_GetBuffer(buf, dst, PyBUF_WRITABLE) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "a context's buffers must be bytearrays");
        return -1;
    }
    /* one page: the single-page transform (a batching transform's is its base's codec) */
    PyzPageCodecObject *codec = pyz_pagecodec_of(res->single);
    int cap = dst->len > 2 * PAGE_SIZE ? 2 * PAGE_SIZE : (int)dst->len, r;
    if (codec) {
        struct pyz_ahead *ahead = ahead_of(f);
        int level, algo = pyz_pagecodec_algo(codec, &level);
        Py_BEGIN_ALLOW_THREADS
        /* precompress's result if it has this page's bytes: the same codec's output */
        if (!ahead || !pyz_ahead_take(ahead, algo, level, page, PAGE_SIZE, dst->buf, cap, &r))
            r = pyz_pagecodec_compress(codec, page, PAGE_SIZE, dst->buf, cap);
        Py_END_ALLOW_THREADS
        if (r == -ENOMEM)
            PyErr_NoMemory();
        *poor = r == -ENOSPC;
        return r == -ENOMEM ? -1 : r > 0 ? r : 0;
    }
    PyObject *o = call_with_view(res->single, s_compress, page, PAGE_SIZE, buf);
    if (o) {
        long v = PyLong_AsLong(o);
        Py_DECREF(o);
        return v == -1 && PyErr_Occurred() ? -1 : v > 0 ? (int)v : 0;
    }
    if (PyErr_ExceptionMatches(pyz_CompressPoor) || PyErr_ExceptionMatches(pyz_CompressFail)) {
        *poor = PyErr_ExceptionMatches(pyz_CompressPoor);
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* zs_malloc + copy of a Python zsmalloc subclass: 0, 1 rejected (*poor: CompressPoor), -1. */
static int zs_store_py(struct pool_use *p, const char *src, int len, uint32_t *handle, int *poor)
{
    PyObject *n = PyLong_FromLong(len);
    PyObject *h = n ? call_with_view(p->zs, s_malloc_write, src, len, n) : NULL;
    Py_XDECREF(n);
    if (h) {
        *handle = (uint32_t)PyLong_AsUnsignedLong(h);
        Py_DECREF(h);
        return PyErr_Occurred() ? -1 : 0;
    }
    *poor = PyErr_ExceptionMatches(pyz_CompressPoor);
    if (*poor || PyErr_ExceptionMatches(AllocFail) || PyErr_ExceptionMatches(PyExc_MemoryError)) {
        PyErr_Clear();
        return 1;
    }
    return -1;
}

int pyz_flow_zs_store(NativeFlowObject *f, struct pool_use *p, const char *page, const char *buf,
                      int dlen, int poor, int wb_enabled, uint32_t *handle, unsigned *len)
{
    const char *src = buf;
    if (!(dlen > 0 && dlen < PAGE_SIZE)) {
        /* 6.18: stored as-is, unless the memcg's writeback is off (then the page is
         * rejected: -ENOSPC counts as compress_poor, any other failure as compress_fail) */
        if (!wb_enabled) {
            pyz_state_count(f->state, poor ? STAT_REJECT_COMPRESS_POOR
                                           : STAT_REJECT_COMPRESS_FAIL, 1);
            return 1;
        }
        src = page;
        dlen = PAGE_SIZE;
    }
    int rc, zpoor = 0;
    if (p->zp) {
        if (zs_trylock(p->zp) != 0) {
            Py_BEGIN_ALLOW_THREADS
            zs_lock(p->zp);
            Py_END_ALLOW_THREADS
        }
        rc = zs_malloc_write_locked(p->zp, src, (unsigned)dlen, handle);
        zs_unlock(p->zp);
        if (rc == -ESHUTDOWN || rc == -EINVAL) {
            pyz_zspool_malloc_error(p->zs, rc, (unsigned)dlen); /* destroyed: raise its error */
            return -1;
        }
        zpoor = rc == -ENOSPC;
        rc = rc ? 1 : 0;
    } else {
        rc = zs_store_py(p, src, dlen, handle, &zpoor);
    }
    if (rc == 1)
        pyz_state_count(f->state, zpoor ? STAT_REJECT_COMPRESS_POOR : STAT_REJECT_ALLOC_FAIL, 1);
    *len = (unsigned)dlen;
    return rc;
}

/* Free objects that never made it into the table (keeps a pending exception). */
void pyz_flow_zs_free(struct pool_use *p, const uint32_t *handles, int n)
{
    if (n <= 0)
        return;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    for (int i = 0; i < n; i++) {
        if (p->zp) {
            if (zs_trylock(p->zp) != 0) {
                Py_BEGIN_ALLOW_THREADS
                zs_lock(p->zp);
                Py_END_ALLOW_THREADS
            }
            zs_free_locked(p->zp, handles[i]);
            zs_unlock(p->zp);
        } else {
            PyObject *h = PyLong_FromUnsignedLong(handles[i]);
            PyObject *r = h ? PyObject_CallMethodOneArg(p->zs, s_free, h) : NULL;
            Py_XDECREF(h);
            Py_XDECREF(r);
            PyErr_Clear();
        }
    }
    PyErr_Restore(et, ev, tb);
}

/* ---------------------------------------------------------------- the owner -------------- */

/* The Zswap this flow belongs to (a new reference), or NULL with ReferenceError. */
static PyObject *owner(NativeFlowObject *f)
{
    PyObject *z = f->owner ? PyWeakref_GetObject(f->owner) : NULL;
    if (!z || z == Py_None) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ReferenceError, "the Zswap of this flow is gone");
        return NULL;
    }
    return Py_NewRef(z);
}

/* owner.<name>(arg) (arg NULL: no argument), the result dropped: 0 or -1. */
int pyz_flow_hook(NativeFlowObject *f, PyObject *name, PyObject *arg)
{
    PyObject *z = owner(f);
    if (!z)
        return -1;
    PyObject *r = arg ? PyObject_CallMethodOneArg(z, name, arg) : PyObject_CallMethodNoArgs(z, name);
    Py_DECREF(z);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* The pools whose last reference went are destroyed by the owner (under the hotplug lock). */
int pyz_flow_release_pools(NativeFlowObject *f)
{
    if (!f->state->released || PyList_GET_SIZE(f->state->released) == 0)
        return 0;
    return pyz_flow_hook(f, s_release_pools, NULL);
}

static void lock_zswap(NativeFlowObject *f)
{
    pyz_lock_acquire(f->state->lock);
}

static void unlock_zswap(NativeFlowObject *f)
{
    pyz_lock_release(f->state->lock);
}

PyObject *pyz_flow_closed_error(const char *during)
{
    if (during)
        PyErr_Format(ZswapError, "this Zswap was closed during the %s: nothing changed",
                     during);
    else
        PyErr_SetString(ZswapError, "this Zswap is closed: its pools and pages are gone");
    return NULL;
}

/* An operation that failed because Zswap.close() destroyed its pool meanwhile (a destroyed
 * zsmalloc pool, freed contexts) says so instead. Returns -1. */
static int closed_during(NativeFlowObject *f, const char *what)
{
    if (f->state->closed && (PyErr_ExceptionMatches(InvalidParameter) ||
                             PyErr_ExceptionMatches(UseAfterFree))) {
        PyErr_Clear();
        pyz_flow_closed_error(what);
    }
    return -1;
}

/* ---------------------------------------------------------------- store ------------------ */

/* Slots offset..offset+nr-1 of a swapped-on type: 0, or -1 with the Python flow's error. */
static int slots_check(NativeFlowObject *f, PyObject *t, PyObject *o, int nr, unsigned *type,
                       uint64_t *off)
{
    long tv = PyLong_Check(t) ? PyLong_AsLong(t) : -1;
    if (tv == -1 && PyErr_Occurred())
        PyErr_Clear(); /* an overflow: reported as not on, below */
    struct et_tree *tr = tv >= 0 && tv < ET_MAX_TYPES ? f->state->table->trees[tv] : NULL;
    if (!tr) {
        PyErr_Format(InvalidParameter, "swap type %R is not on (call swapon first)", t);
        return -1;
    }
    long long ov = PyLong_CheckExact(o) ? PyLong_AsLongLong(o) : -1;
    if (ov == -1 && PyErr_Occurred())
        PyErr_Clear();
    if (ov < 0 || (uint64_t)ov + (uint64_t)nr > tr->nr_pages) {
        PyErr_Format(InvalidParameter, "swap offset %R+%d is outside type %ld (0..%llu)", o, nr,
                     tv, (unsigned long long)tr->nr_pages - 1);
        return -1;
    }
    *type = (unsigned)tv;
    *off = (uint64_t)ov;
    return 0;
}

/* The folio (1..MAX_FOLIO_PAGES whole pages of one contiguous buffer) and its slots inside a
 * swapped-on type: 0 with the buffer held in a->view, or -1 with the Python flow's error. */
static int parse_folio(NativeFlowObject *f, PyObject *folio, PyObject *t, PyObject *o,
                       struct folio_arg *a)
{
    if (PyObject_GetBuffer(folio, &a->view, PyBUF_C_CONTIGUOUS) < 0) {
        int released = PyErr_ExceptionMatches(PyExc_ValueError);
        int strided = PyObject_CheckBuffer(folio);
        PyErr_Clear();
        if (released)
            PyErr_SetString(InvalidPage, "a folio's buffer was released");
        else if (strided)
            PyErr_SetString(InvalidPage, "a folio must be one contiguous buffer, got a strided "
                                         "view");
        else
            PyErr_Format(InvalidPage, "a folio must be a bytes-like object, not %.100s",
                         Py_TYPE(folio)->tp_name);
        return -1;
    }
    Py_ssize_t size = a->view.len;
    if (size % PAGE_SIZE || size < PAGE_SIZE || size > (Py_ssize_t)MAX_FOLIO_PAGES * PAGE_SIZE) {
        PyErr_Format(InvalidPage, "a folio must be 1..%d whole %d-byte pages, got %zd bytes",
                     MAX_FOLIO_PAGES, PAGE_SIZE, size);
        PyBuffer_Release(&a->view);
        return -1;
    }
    a->buf = a->view.buf;
    a->nr = (int)(size / PAGE_SIZE);
    if (slots_check(f, t, o, a->nr, &a->type, &a->off) < 0) {
        PyBuffer_Release(&a->view);
        return -1;
    }
    return 0;
}

/* owner.<name>(arg) -> int: 0 with *ret, or -1. */
static int hook_int(NativeFlowObject *f, PyObject *name, PyObject *arg, long *ret)
{
    PyObject *z = owner(f);
    PyObject *r = z ? PyObject_CallMethodOneArg(z, name, arg) : NULL;
    Py_XDECREF(z);
    *ret = r ? PyLong_AsLong(r) : -1;
    Py_XDECREF(r);
    return *ret == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The memcg's part of admission (obj_cgroup_may_zswap, and shrink_memcg of the group when it
 * is at its zswap.max; mem_cgroup_zswap_writeback_enabled): 1, 0 refused, -1. */
static int admit_memcg(NativeFlowObject *f, PyObject *memcg, struct admit *a)
{
    PyObject *t = PyObject_CallMethodNoArgs(memcg, s_zswap_store_target);
    if (!t)
        return -1;
    int rc = -1;
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 3) {
        PyErr_SetString(PyExc_TypeError, "zswap_store_target() must return a 3-tuple");
        goto out;
    }
    PyObject *charged = PyTuple_GET_ITEM(t, 0);
    PyObject *id = PyObject_GetAttr(charged, s_id);
    long objcg = id ? PyLong_AsLong(id) : -1;
    Py_XDECREF(id);
    int may = objcg >= 0 ? PyObject_IsTrue(PyTuple_GET_ITEM(t, 1)) : -1;
    a->wb_enabled = may >= 0 ? PyObject_IsTrue(PyTuple_GET_ITEM(t, 2)) : -1;
    if (a->wb_enabled < 0 || objcg > INT32_MAX) {
        if (!PyErr_Occurred())
            PyErr_Format(InvalidParameter, "memcg id %ld is out of range", objcg);
        goto out;
    }
    a->objcg = (int32_t)objcg;
    long ret = 0;
    if (!may && hook_int(f, s_shrink_memcg, charged, &ret) < 0)
        goto out;
    rc = ret == 0; /* at its limit and nothing of its own written back: refused */
out:
    Py_DECREF(t);
    return rc;
}

/* zswap_store's checks before compression (enabled; the memcg's limit and writeback
 * setting; the global limit): 1 admitted, 0 refused (nothing was done), -1 with an error. */
static int admit(NativeFlowObject *f, PyObject *memcg, struct admit *a)
{
    a->objcg = -1;
    a->wb_enabled = 1;
    if (!f->state->enabled)
        return 0;
    if (memcg) {
        int r = admit_memcg(f, memcg, a);
        if (r <= 0)
            return r;
    }
    int full = pyz_state_check_limits(f->state);
    return full < 0 ? -1 : !full;
}

/* The failure path of zswap_store: every entry of the folio's slots erased (a stale copy
 * must never be written back), the pools released, and if the pool is full the shrink
 * worker queued to write back down to the threshold. 0 or -1. */
static int store_failed(NativeFlowObject *f, struct folio_arg *a)
{
    lock_zswap(f);
    int rc = f->state->closed ? 0 : pyz_state_erase(f->state, a->type, a->off, (uint64_t)a->nr);
    unlock_zswap(f);
    if (rc == 0)
        rc = pyz_flow_release_pools(f);
    if (rc == 0 && f->state->reached_full)
        rc = pyz_flow_hook(f, pyz_s_shrink_work_queue, NULL);
    return rc;
}

/* Publish a folio's stored pages: the entries, and zswpout for the whole folio (locked
 * inside). 0, or -1 with every object of the folio freed and its slots erased. */
static int publish(NativeFlowObject *f, struct pool_use *p, struct folio_arg *a,
                   struct admit *ad, const uint32_t *h, const unsigned *l)
{
    lock_zswap(f);
    if (f->state->closed) {
        unlock_zswap(f);
        pyz_flow_zs_free(p, h, a->nr);
        pyz_flow_closed_error("store");
        return -1;
    }
    int done = pyz_state_publish(f->state, a->type, a->off, p->id, h, l, a->nr, ad->objcg);
    int rc = done == a->nr && !PyErr_Occurred() ? pyz_state_stored(f->state, a->nr, ad->objcg)
                                                : -1;
    if (p->put == PUT_AT_PUBLISH) { /* the store's zswap_pool_put, in the same hold */
        pyz_state_pool_put(f->state, p->id, 1);
        p->put = PUT_DONE;
    }
    if (done < a->nr) { /* out of memory for the table: the folio is undone whole */
        pyz_flow_zs_free(p, h + done, a->nr - done);
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        pyz_state_erase(f->state, a->type, a->off, (uint64_t)a->nr);
        PyErr_Clear();
        PyErr_Restore(et, ev, tb);
    }
    unlock_zswap(f);
    return rc;
}

/* Compress one batch of pages [start, end) on this CPU's context into zsmalloc: 1 all stored,
 * 0 one was rejected (counted), -1 error; *stored counts the objects made. */
static int store_batch_pages(NativeFlowObject *f, struct pool_use *p, struct folio_arg *a,
                             int wb_enabled, int start, int end, uint32_t *h, unsigned *l,
                             int *stored)
{
    struct ctx_use c;
    if (pyz_flow_ctx_lock(f, p, &c) < 0)
        return -1;
    int rc = 1;
    for (int i = start; i < end && rc == 1; i++) {
        const char *page = a->buf + (size_t)i * PAGE_SIZE;
        Py_buffer dst;
        int poor, dlen = compress_page(f, c.res, 0, page, &dst, &poor);
        if (dlen < 0) {
            rc = -1;
            break;
        }
        int r = pyz_flow_zs_store(f, p, page, dst.buf, dlen, poor, wb_enabled, &h[i], &l[i]);
        PyBuffer_Release(&dst);
        if (r == 0)
            (*stored)++;
        else
            rc = r < 0 ? -1 : 0;
    }
    if (rc != 1) {
        ctx_abandon(&c);
        return rc;
    }
    return pyz_flow_ctx_unlock(f, p, &c) < 0 ? -1 : 1;
}

/* Steps 4-5 of zswap_store for a folio on this CPU's context, the context locked per batch of
 * ZSWAP_MAX_BATCH_SIZE pages (so a 2 MiB store does not starve this CPU's loads): 1 stored,
 * 0 refused, -1 error. A refused or failed folio is undone whole. */
static int store_pages(NativeFlowObject *f, struct pool_use *p, struct folio_arg *a,
                       struct admit *ad)
{
    uint32_t h[MAX_FOLIO_PAGES];
    unsigned l[MAX_FOLIO_PAGES];
    int stored = 0, rc = 1;
    for (int start = 0; start < a->nr && rc == 1; start += ZSWAP_MAX_BATCH_SIZE) {
        int end = start + ZSWAP_MAX_BATCH_SIZE < a->nr ? start + ZSWAP_MAX_BATCH_SIZE : a->nr;
        rc = store_batch_pages(f, p, a, ad->wb_enabled, start, end, h, l, &stored);
    }
    if (rc == 1)
        return publish(f, p, a, ad, h, l) < 0 ? -1 : 1;
    pyz_flow_zs_free(p, h, stored);
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    int undo = store_failed(f, a);
    if (et) {
        PyErr_Restore(et, ev, tb);
        return -1;
    }
    return undo < 0 ? -1 : 0;
}

/* Steps 3-5 for admitted folios: the current pool with a reference for the store
 * (zswap_pool_current_get), the pages stored (streamed through a native batching pool's
 * engines when `srcs` names their sources: a list, or one folio object), the reference
 * dropped. Results in ok[]; 0 or -1. */
static int store_admitted(NativeFlowObject *f, struct folio_arg *a, struct admit *ad, int n,
                          int *ok, PyObject *srcs)
{
    struct pool_use p;
    lock_zswap(f);
    struct pyz_pool *r = pyz_state_current_get(f->state, 1);
    int rc = r ? pool_use_take(r, &p, 1) : -1;
    if (r && rc < 0)
        pyz_state_pool_put(f->state, r->id, 1);
    unlock_zswap(f);
    if (!r) {
        pyz_flow_closed_error(NULL);
        return -1;
    }
    if (rc < 0)
        return -1;
    if (p.streams && srcs && (n > 1 || a[0].nr > 1)) {
        PyObject *list = PyList_Check(srcs) ? Py_NewRef(srcs) : PyList_New(1);
        if (list && list != srcs)
            PyList_SET_ITEM(list, 0, Py_NewRef(srcs)); /* one folio: its object */
        rc = list ? stream_admitted(f, &p, a, ad, n, ok, list) : -1;
        Py_XDECREF(list);
    } else {
        p.put = n == 1 ? PUT_AT_PUBLISH : PUT_AFTER;
        for (int k = 0; k < n && rc == 0; k++) {
            int r1 = store_pages(f, &p, &a[k], &ad[k]);
            ok[k] = r1 == 1;
            rc = r1 < 0 ? -1 : 0;
        }
    }
    PyObject *et = NULL, *ev = NULL, *tb = NULL;
    if (rc < 0)
        PyErr_Fetch(&et, &ev, &tb);
    if (p.put != PUT_DONE) {
        lock_zswap(f);
        pyz_state_pool_put(f->state, p.id, 1);
        unlock_zswap(f);
    }
    if (pyz_flow_release_pools(f) < 0 && !et)
        rc = -1;
    else if (et)
        PyErr_Restore(et, ev, tb);
    pool_use_drop(&p);
    return rc;
}

/* A native batching pool: every admitted folio's pages in one engine job (stream.c). */
static int stream_admitted(NativeFlowObject *f, struct pool_use *p, struct folio_arg *a,
                           struct admit *ad, int n, int *ok, PyObject *srcs)
{
    struct stream_folio *sf = PyMem_Calloc((size_t)n, sizeof(*sf));
    if (!sf) {
        PyErr_NoMemory();
        return -1;
    }
    for (int k = 0; k < n; k++) {
        sf[k].buf = a[k].buf;
        sf[k].nr = a[k].nr;
        sf[k].type = a[k].type;
        sf[k].off = a[k].off;
        sf[k].objcg = ad[k].objcg;
        sf[k].wb_enabled = ad[k].wb_enabled;
    }
    int rc = pyz_stream_store(f, p, sf, n, srcs);
    for (int k = 0; k < n; k++)
        ok[k] = !sf[k].failed;
    PyMem_Free(sf);
    return rc;
}

/* A vectorcall's arguments by name, as a Python signature binds them: out[i] is the i-th
 * named parameter (borrowed) or NULL if not given. The first `npos` may be positional, the
 * first `required` must be given. 0, or -1 with TypeError naming `sig`. */
static int bind_args(const char *sig, const char *const *names, int nnames, int npos,
                     int required, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                     PyObject **out)
{
    for (int i = 0; i < nnames; i++)
        out[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    int bad = nargs > npos;
    for (Py_ssize_t k = 0; k < nkw && !bad; k++) {
        int i = 0;
        while (i < nnames &&
               PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, k), names[i]))
            i++;
        bad = i == nnames || out[i];
        if (!bad)
            out[i] = args[nargs + k];
    }
    for (int i = 0; i < required && !bad; i++)
        bad = !out[i];
    if (bad)
        PyErr_Format(PyExc_TypeError, "%s: bad arguments", sig);
    return bad ? -1 : 0;
}

static const char *const store_names[] = {"folio", "swp_type", "offset", "memcg"};
static const char *const load_names[] = {"out", "swp_type", "offset", "swapcache"};
static const char *const batch_names[] = {"folios", "memcg"};

/* A memcg argument: NULL for None or absent; InvalidParameter for what is not a memcg. */
static int memcg_arg(PyObject **memcg)
{
    if (*memcg == Py_None)
        *memcg = NULL;
    if (*memcg && !PyObject_HasAttr(*memcg, s_zswap_store_target)) {
        PyErr_Format(InvalidParameter, "memcg must be a MemCgroup or None, not %.100s",
                     Py_TYPE(*memcg)->tp_name);
        return -1;
    }
    return 0;
}

static int usable(NativeFlowObject *f)
{
    if (!f->ready) {
        pyz_err_uninit("NativeFlow");
        return -1;
    }
    if (f->state->closed) {
        pyz_flow_closed_error(NULL);
        return -1;
    }
    return 0;
}

/* One folio: checked, admitted, stored (`src`: the folio object, for a stream's sources, or
 * NULL in a batch). 1 stored, 0 refused, -1 error. */
static int store_one(NativeFlowObject *f, PyObject *folio, PyObject *t, PyObject *o,
                     PyObject *memcg, PyObject *src)
{
    struct folio_arg a;
    struct admit ad;
    int ok = 0;
    if (parse_folio(f, folio, t, o, &a) < 0)
        return -1;
    /* the slots are busy until the store is done (the kernel holds the folio lock) */
    EntryTableObject *table = f->state->table;
    if (et_slots_begin(table, a.type, a.off, (uint32_t)a.nr) < 0) {
        PyBuffer_Release(&a.view);
        return -1;
    }
    int rc = admit(f, memcg, &ad);
    if (rc == 0)
        rc = store_failed(f, &a) < 0 ? -1 : 0;
    else if (rc == 1)
        rc = store_admitted(f, &a, &ad, 1, &ok, src) < 0 ? -1 : ok;
    if (rc < 0)
        closed_during(f, "store");
    et_slots_end(table, a.type, a.off, (uint32_t)a.nr);
    PyBuffer_Release(&a.view);
    return rc;
}

/* A store call's arguments bound (the last one the memcg, None if absent), on a usable flow.
 * 0, or -1 with an exception. */
static int store_args(NativeFlowObject *f, const char *sig, const char *const *names, int n,
                      int required, PyObject *const *args, size_t nargsf, PyObject *kwnames,
                      PyObject **a)
{
    if (bind_args(sig, names, n, n, required, args, PyVectorcall_NARGS(nargsf), kwnames, a) < 0)
        return -1;
    return memcg_arg(&a[n - 1]) < 0 || usable(f) < 0 ? -1 : 0;
}

/* store(folio, swp_type, offset, memcg=None) -> bool: zswap_store. */
static PyObject *flow_store(NativeFlowObject *f, PyObject *const *args, size_t nargsf,
                           PyObject *kwnames)
{
    PyObject *a[4];
    if (store_args(f, "store(folio, swp_type, offset, memcg=None)", store_names, 4, 3, args,
                   nargsf, kwnames, a) < 0)
        return NULL;
    int rc = store_one(f, a[0], a[1], a[2], a[3], a[0]);
    return rc < 0 ? NULL : PyBool_FromLong(rc);
}

/* ---------------------------------------------------------------- load ------------------- */

/* The object of entry e into out (a stored-as-is page) or into copy (compressed), under the
 * zsmalloc lock; a subclass through its methods. 0 or -1. */
static int zs_read(struct pool_use *p, const struct et_rec *e, char *out, PyObject *out_obj,
                   char *copy)
{
    if (p->zp) {
        if (zs_trylock(p->zp) != 0) {
            Py_BEGIN_ALLOW_THREADS
            zs_lock(p->zp);
            Py_END_ALLOW_THREADS
        }
        unsigned size;
        unsigned char *obj = zs_obj_ptr_locked(p->zp, e->handle, &size);
        if (obj)
            memcpy(e->length == PAGE_SIZE ? out : copy, obj, e->length <= size ? e->length : size);
        zs_unlock(p->zp);
        return obj ? 0 : (pyz_zspool_handle_error(p->zs, e->handle), -1);
    }
    PyObject *h = PyLong_FromUnsignedLong(e->handle), *n = PyLong_FromLong(e->length), *r;
    if (!h || !n)
        r = NULL;
    else if (e->length == PAGE_SIZE)
        r = PyObject_CallMethodObjArgs(p->zs, s_read_into, h, n, out_obj, NULL);
    else
        r = PyObject_CallMethodObjArgs(p->zs, s_read, h, n, NULL);
    Py_XDECREF(h);
    Py_XDECREF(n);
    if (r && e->length != PAGE_SIZE) {
        if (!PyBytes_Check(r) || PyBytes_GET_SIZE(r) != e->length)
            PyErr_SetString(PyExc_TypeError, "ZsPool.read returned the wrong object");
        else
            memcpy(copy, PyBytes_AS_STRING(r), e->length);
    }
    Py_XDECREF(r);
    return r && !PyErr_Occurred() ? 0 : -1;
}

/* The context's decompress of copy[0..slen) into out: the length, -1 for a corrupt stream,
 * -2 with an exception. */
static int decompress_copy(CtxResourcesObject *res, const char *copy, int slen, char *out,
                           PyObject *out_obj)
{
    PyzPageCodecObject *codec = pyz_pagecodec_of(res->single);
    int r;
    if (codec) {
        Py_BEGIN_ALLOW_THREADS
        r = pyz_pagecodec_decompress(codec, copy, slen, out, PAGE_SIZE);
        Py_END_ALLOW_THREADS
        if (r == -ENOMEM) {
            PyErr_NoMemory();
            return -2;
        }
        return r < 0 ? -1 : r;
    }
    PyObject *o = call_with_view(res->single, s_decompress, copy, slen, out_obj);
    if (!o) {
        if (!PyErr_ExceptionMatches(pyz_DecompressFail))
            return -2;
        PyErr_Clear();
        return -1;
    }
    long v = PyLong_AsLong(o);
    Py_DECREF(o);
    return v == -1 && PyErr_Occurred() ? -2 : (int)v;
}

/* A compressed object of the C zsmalloc decompressed where it lies, as zswap_decompress does
 * between zs_obj_read_begin and zs_obj_read_end (which copy only an object that spans two
 * pages; ours are in one contiguous zspage). As there, the pool's lock is held only to find
 * the object and pin its zspage; the codec runs on the pinned zspage with no lock held, so
 * loads on other threads (and stores, frees) go on meanwhile. The GIL is released first (the
 * lock's rule: never block on it holding the GIL) and taken back only after the unpin. The
 * length, -1 for a corrupt stream, -2 with an exception. */
static int decompress_in_place(struct pool_use *p, const struct et_rec *e,
                               PyzPageCodecObject *codec, char *out)
{
    unsigned size = 0;
    unsigned char *obj;
    void *pin = NULL;
    int r = 0;
    Py_BEGIN_ALLOW_THREADS
    zs_lock(p->zp);
    obj = zs_obj_read_begin_locked(p->zp, e->handle, &size, &pin);
    zs_unlock(p->zp);
    if (obj) {
        r = pyz_pagecodec_decompress(codec, obj, e->length <= size ? e->length : size, out,
                                     PAGE_SIZE);
        zs_obj_read_end(pin);
    }
    Py_END_ALLOW_THREADS
    if (!obj) {
        pyz_zspool_handle_error(p->zs, e->handle);
        return -2;
    }
    if (r == -ENOMEM) {
        PyErr_NoMemory();
        return -2;
    }
    return r < 0 ? -1 : r;
}

/* zswap_decompress: the entry's bytes into out, on this CPU's context. The length (or -1 for
 * a corrupt stream), or -2 with an exception. */
static int decompress_entry(NativeFlowObject *f, struct pool_use *p, const struct et_rec *e,
                            char *out, PyObject *out_obj)
{
    struct ctx_use c;
    if (pyz_flow_ctx_lock(f, p, &c) < 0)
        return -2;
    PyzPageCodecObject *codec = p->zp && e->length != PAGE_SIZE
                                    ? pyz_pagecodec_of(c.res->single) : NULL;
    char copy[PAGE_SIZE]; /* else copied out: no Python code runs under the zsmalloc lock */
    int dlen = codec ? decompress_in_place(p, e, codec, out)
                     : zs_read(p, e, out, out_obj, copy) < 0 ? -2 : PAGE_SIZE;
    if (!codec && dlen == PAGE_SIZE && e->length != PAGE_SIZE)
        dlen = decompress_copy(c.res, copy, e->length, out, out_obj);
    if (dlen == -2) {
        ctx_abandon(&c);
        return -2;
    }
    return pyz_flow_ctx_unlock(f, p, &c) < 0 ? -2 : dlen;
}

/* zswap_load's accounting after the decompression. 0 or -1. */
static int load_done(NativeFlowObject *f, struct pool_use *p, const struct et_rec *e, int dlen,
                     int exclusive)
{
    lock_zswap(f);
    if (f->state->closed) {
        unlock_zswap(f);
        pyz_flow_closed_error("load");
        return -1;
    }
    if (dlen != PAGE_SIZE) {
        pyz_state_count(f->state, STAT_DECOMPRESS_FAIL, 1);
        unlock_zswap(f);
        PyErr_Format(pyz_DecompressFail, "zswap: decompressing %u:%u with %U failed (got %d "
                     "bytes); the entry is kept", e->type, e->offset, p->tfm_name, dlen);
        return -1;
    }
    int rc = pyz_state_loaded(f->state, e->type, e->offset, e, exclusive);
    unlock_zswap(f);
    return rc < 0 ? -1 : pyz_flow_release_pools(f);
}

/* The output page: one writable PAGE_SIZE buffer. 0 with view held, or -1 (InvalidPage). */
static int out_page(PyObject *out, Py_buffer *view)
{
    if (PyObject_GetBuffer(out, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        Py_buffer ro;
        int readonly = PyObject_GetBuffer(out, &ro, PyBUF_SIMPLE) == 0;
        Py_ssize_t n = readonly ? ro.len : 0;
        if (readonly)
            PyBuffer_Release(&ro);
        PyErr_Clear();
        if (!PyObject_CheckBuffer(out))
            PyErr_Format(InvalidPage, "the output page must be a bytes-like object, not %.100s",
                         Py_TYPE(out)->tp_name);
        else
            PyErr_Format(InvalidPage, "zswap loads one writable %d-byte page at a time (large "
                         "folios are refused, as in the kernel), got %zd bytes read-only",
                         PAGE_SIZE, n);
        return -1;
    }
    if (view->len != PAGE_SIZE) {
        PyErr_Format(InvalidPage, "zswap loads one writable %d-byte page at a time (large "
                     "folios are refused, as in the kernel), got %zd bytes", PAGE_SIZE,
                     view->len);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* The slot's entry and its pool: 1 found (*p taken), 0 none, -1 error. */
static int find_entry(NativeFlowObject *f, unsigned type, uint64_t off, struct et_rec *e,
                      struct pool_use *p)
{
    uint32_t id = et_lookup(f->state->table, type, off);
    if (!id)
        return 0;
    *e = *et_rec(f->state->table, id); /* a copy: the record may go while locks are dropped */
    struct pyz_pool *r = pyz_state_pool(f->state, e->pool_id);
    if (!r) {
        PyErr_Format(InvalidParameter, "the pool of entry %u:%llu is gone", type,
                     (unsigned long long)off);
        return -1;
    }
    return pool_use_take(r, p, 0) < 0 ? -1 : 1;
}

/* load(out, swp_type, offset, *, swapcache=True) -> bool: zswap_load. */
static PyObject *flow_load(NativeFlowObject *f, PyObject *const *args, size_t nargsf,
                          PyObject *kwnames)
{
    PyObject *a[4];
    if (bind_args("load(out, swp_type, offset, *, swapcache=True)", load_names, 4, 3, 3, args,
                  PyVectorcall_NARGS(nargsf), kwnames, a) < 0)
        return NULL;
    int swapcache = a[3] ? PyObject_IsTrue(a[3]) : 1;
    Py_buffer view;
    if (swapcache < 0 || out_page(a[0], &view) < 0)
        return NULL;
    unsigned type;
    uint64_t off;
    struct et_rec e;
    struct pool_use p;
    PyObject *ret = NULL;
    if (usable(f) < 0 || slots_check(f, a[1], a[2], 1, &type, &off) < 0)
        goto out;
    if (et_slots_begin(f->state->table, type, off, 1) < 0) /* the folio lock's part */
        goto out;
    int found = find_entry(f, type, off, &e, &p);
    if (found == 0)
        ret = Py_NewRef(Py_False);
    if (found > 0) {
        int dlen = decompress_entry(f, &p, &e, view.buf, a[0]);
        if (dlen != -2 && load_done(f, &p, &e, dlen, swapcache) == 0)
            ret = Py_NewRef(Py_True);
        pool_use_drop(&p);
    }
    if (!ret)
        closed_during(f, "load");
    et_slots_end(f->state->table, type, off, 1);
out:
    PyBuffer_Release(&view);
    return ret;
}

/* ---------------------------------------------------------------- store_batch ------------ */

static void batch_unmark(NativeFlowObject *f, struct folio_arg *a, Py_ssize_t n)
{
    for (Py_ssize_t k = 0; k < n; k++)
        et_slots_end(f->state->table, a[k].type, a[k].off, (uint32_t)a[k].nr);
}

/* Mark every folio's slots busy, or none: 0, or -1 with SlotBusy (another operation on one
 * of them is in flight), or InvalidParameter when the batch names a slot twice. */
static int batch_mark(NativeFlowObject *f, struct folio_arg *a, Py_ssize_t n)
{
    for (Py_ssize_t k = 0; k < n; k++) {
        if (et_slots_begin(f->state->table, a[k].type, a[k].off, (uint32_t)a[k].nr) == 0)
            continue;
        for (Py_ssize_t j = 0; j < k; j++)
            if (a[j].type == a[k].type && a[k].off < a[j].off + (uint64_t)a[j].nr &&
                a[j].off < a[k].off + (uint64_t)a[k].nr) {
                PyErr_Clear();
                PyErr_Format(InvalidParameter, "a batch names swap slot %u:%llu twice",
                             a[k].type, (unsigned long long)a[k].off);
                break;
            }
        batch_unmark(f, a, k);
        return -1;
    }
    return 0;
}

/* Check every folio, then admit each (the failure path for a refused one), then store the
 * admitted ones together: streamed through a native batching pool's engines, else one by
 * one. ok[k] for each folio. 0 or -1 (nothing stored if a folio is malformed). */
static int batch_store(NativeFlowObject *f, PyObject *seq, PyObject *memcg, int *ok)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), parsed = 0, todo = 0;
    int marked = 0;
    struct folio_arg *a = PyMem_Calloc((size_t)n + 1, sizeof(*a));
    struct folio_arg *adm = PyMem_Calloc((size_t)n + 1, sizeof(*adm)); /* shallow copies */
    struct admit *ad = PyMem_Calloc((size_t)n + 1, sizeof(*ad));
    int *idx = PyMem_Calloc((size_t)n + 1, sizeof(*idx));
    int *got = PyMem_Calloc((size_t)n + 1, sizeof(*got));
    PyObject *srcs = PyList_New(0);
    int rc = -1;
    if (!a || !adm || !ad || !idx || !got || !srcs) {
        PyErr_NoMemory();
        goto out;
    }
    for (; parsed < n; parsed++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, parsed);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) {
            PyErr_SetString(PyExc_TypeError, "store_batch: (folio, swp_type, offset) tuples");
            goto out;
        }
        if (parse_folio(f, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1),
                        PyTuple_GET_ITEM(item, 2), &a[parsed]) < 0)
            goto out;
    }
    if (batch_mark(f, a, n) < 0)
        goto out;
    marked = 1;
    for (Py_ssize_t k = 0; k < n; k++) {
        int r = admit(f, memcg, &ad[todo]);
        if (r < 0 || (r == 0 && store_failed(f, &a[k]) < 0))
            goto out;
        if (r == 1) {
            if (PyList_Append(srcs, PyTuple_GET_ITEM(PySequence_Fast_GET_ITEM(seq, k), 0)) < 0)
                goto out;
            adm[todo] = a[k];
            idx[todo++] = (int)k;
        }
    }
    rc = todo ? store_admitted(f, adm, ad, (int)todo, got, srcs) : 0;
    for (Py_ssize_t t = 0; t < todo; t++)
        ok[idx[t]] = got[t];
out:
    if (rc < 0)
        closed_during(f, "store");
    if (marked)
        batch_unmark(f, a, n);
    for (Py_ssize_t k = 0; a && k < parsed; k++)
        PyBuffer_Release(&a[k].view);
    PyMem_Free(a);
    PyMem_Free(adm);
    PyMem_Free(ad);
    PyMem_Free(idx);
    PyMem_Free(got);
    Py_XDECREF(srcs);
    return rc;
}

/* A loop of stores, for a pool that compresses one page per call. 0 or -1. */
static int batch_one_by_one(NativeFlowObject *f, PyObject *seq, PyObject *memcg, int *ok)
{
    for (Py_ssize_t k = 0; k < PySequence_Fast_GET_SIZE(seq); k++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, k);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) {
            PyErr_SetString(PyExc_TypeError, "store_batch: (folio, swp_type, offset) tuples");
            return -1;
        }
        int r = store_one(f, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1),
                          PyTuple_GET_ITEM(item, 2), memcg, NULL);
        if (r < 0)
            return -1;
        ok[k] = r;
    }
    return 0;
}

/* store_batch(folios, memcg=None) -> [bool]: reclaim's batch of (folio, type, offset). */
static PyObject *flow_store_batch(NativeFlowObject *f, PyObject *const *args, size_t nargsf,
                                 PyObject *kwnames)
{
    PyObject *a[2];
    if (store_args(f, "store_batch(folios, memcg=None)", batch_names, 2, 1, args, nargsf,
                   kwnames, a) < 0)
        return NULL;
    PyObject *memcg = a[1];
    PyObject *seq = PySequence_Fast(a[0], "store_batch: a sequence of folios");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    int *ok = PyMem_Calloc((size_t)n + 1, sizeof(*ok));
    PyObject *ret = NULL;
    int single = !f->state->nr_pools || f->state->pools[0]->batch == 1;
    if (!ok)
        PyErr_NoMemory();
    else if ((single ? batch_one_by_one(f, seq, memcg, ok) : batch_store(f, seq, memcg, ok)) == 0)
        ret = PyList_New(n);
    for (Py_ssize_t k = 0; ret && k < n; k++)
        PyList_SET_ITEM(ret, k, PyBool_FromLong(ok[k]));
    PyMem_Free(ok);
    Py_DECREF(seq);
    return ret;
}

/* ---------------------------------------------------------------- the type --------------- */

/* on_swap_free(type, offset, nr): the swap table's slot-free hook, zswap_invalidate of
 * slots that became free (Zswap._on_swap_free, in C: the swap core calls it for every freed
 * slot). Nothing for a type zswap does not have (or once closed); SlotBusy while an
 * operation on one of the slots is in flight. Pools whose last entry went are released. */
static PyObject *flow_on_swap_free(NativeFlowObject *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (!f->ready)
        return pyz_err_uninit("NativeFlow");
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "on_swap_free(type, offset, nr) takes 3 arguments");
        return NULL;
    }
    long tv = PyLong_AsLong(args[0]);
    long long ov = tv == -1 && PyErr_Occurred() ? -1 : PyLong_AsLongLong(args[1]);
    long long nr = ov == -1 && PyErr_Occurred() ? -1 : PyLong_AsLongLong(args[2]);
    if (PyErr_Occurred())
        return NULL;
    ZswapStateObject *s = f->state;
    lock_zswap(f);
    struct et_tree *tr = !s->closed && tv >= 0 && tv < ET_MAX_TYPES ? s->table->trees[tv] : NULL;
    long long freed = 0;
    if (tr && (ov < 0 || nr < 1 || (uint64_t)ov + (uint64_t)nr > tr->nr_pages)) {
        PyErr_Format(PyExc_ValueError, "slots %ld:%lld+%lld are not in a swapped-on type", tv,
                     ov, nr);
        freed = -1;
    } else if (tr) {
        freed = pyz_state_invalidate(s, (unsigned)tv, (uint64_t)ov, (uint64_t)nr);
    }
    unlock_zswap(f);
    if (freed < 0)
        return NULL;
    if (pyz_flow_release_pools(f) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Stop lending the buffer (the helper reads none of its pages after this) and release it.
 * The wait is for one page at most: the cycle collector's clear waits holding the GIL. With
 * the GIL let go, another thread may lend a buffer meanwhile: the flow's loan is cleared
 * before, so that one is its own. */
static void end_loan(NativeFlowObject *f, int release_gil)
{
    if (!f->lending)
        return;
    Py_buffer lent = f->lent;
    f->lending = 0;
    struct pyz_ahead *ahead = ahead_of(f);
    if (ahead && release_gil) {
        Py_BEGIN_ALLOW_THREADS
        pyz_ahead_end_loan(ahead);
        Py_END_ALLOW_THREADS
    } else if (ahead) {
        pyz_ahead_end_loan(ahead);
    }
    PyBuffer_Release(&lent);
}

/* Lend the pages of `view` (a buffer's whole-page form) to the helper: the flow keeps the
 * buffer exported, so that its memory stays, until another buffer is lent, precompress_wait()
 * or the flow goes. Takes `view` over (released now if its memory is within the lent buffer's,
 * whatever object exports it: that memory cannot go while the lent buffer is held). */
static void lend(NativeFlowObject *f, Py_buffer *view)
{
    for (;;) {
        uintptr_t lo = (uintptr_t)f->lent.buf, at = (uintptr_t)view->buf;
        if (f->lending && at >= lo && at + (uintptr_t)view->len <= lo + (uintptr_t)f->lent.len) {
            PyBuffer_Release(view);
            return;
        }
        if (!f->lending) {
            f->lent = *view;
            f->lending = 1;
            return;
        }
        end_loan(f, 1); /* lets the GIL go: look again */
    }
}

/* precompress(tfm, pages[, indexes]): hand up to PYZ_AHEAD_MAX pages to the look-ahead helper,
 * to be compressed with tfm's algorithm (a PageCodec of the codec table; any other: nothing
 * done) into at most a page, the size of every pool context's buffer (pool.py). The pages are
 * a sequence of page-sized buffers, or, with indexes, the pages at those page indexes of the
 * one buffer `pages` (no object per page: what the mm model hands over), which are lent to
 * the helper rather than copied (ahead.h; see lend()). Nothing is handed over
 * while zswap_store would refuse the pages before compressing them (admit: zswap disabled, or
 * the global limit full). Returns how many it took. */
static PyObject *flow_precompress(NativeFlowObject *f, PyObject *const *args, Py_ssize_t nargs)
{
    if (!f->ready)
        return pyz_err_uninit("NativeFlow");
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "precompress(tfm, pages[, indexes]) takes 2 or 3 "
                        "arguments");
        return NULL;
    }
    int whole = nargs == 3; /* one buffer, pages picked by index */
    PyObject *seq = PySequence_Fast(args[whole ? 2 : 1], whole ?
                                    "precompress: indexes must be a sequence of ints" :
                                    "precompress: pages must be a sequence");
    if (!seq)
        return NULL;
    PyzPageCodecObject *codec = pyz_pagecodec_of(args[0]);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > PYZ_AHEAD_MAX)
        n = PYZ_AHEAD_MAX;
    Py_buffer views[PYZ_AHEAD_MAX];
    const char *pages[PYZ_AHEAD_MAX];
    Py_ssize_t k = 0, held = 0;
    int r = 0;
    if (whole) {
        if (PyObject_GetBuffer(args[1], &views[0], PyBUF_C_CONTIGUOUS) < 0)
            goto out;
        held = 1;
        Py_ssize_t npages = views[0].len / PAGE_SIZE;
        for (; k < n; k++) {
            /* NULL: a huge int clips to +-PY_SSIZE_T_MAX, out of range below */
            Py_ssize_t at = PyNumber_AsSsize_t(PySequence_Fast_GET_ITEM(seq, k), NULL);
            if (at == -1 && PyErr_Occurred())
                goto out;
            if (at < 0 || at >= npages) {
                PyErr_Format(InvalidPage, "precompress: no page %zd in a buffer of %zd pages",
                             at, npages);
                goto out;
            }
            pages[k] = (const char *)views[0].buf + at * PAGE_SIZE;
        }
    } else {
        for (; k < n; k++, held++) {
            if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, k), &views[k],
                                   PyBUF_C_CONTIGUOUS) < 0)
                goto out;
            if (views[k].len != PAGE_SIZE) {
                PyBuffer_Release(&views[k]);
                PyErr_Format(InvalidPage, "precompress: every page must be %d bytes", PAGE_SIZE);
                goto out;
            }
            pages[k] = views[k].buf;
        }
    }
    int full = codec && n && f->state->enabled ? pyz_state_limits_full(f->state) : 1;
    if (full < 0)
        goto out;
    if (!full) {
        struct pyz_ahead *ahead = ahead_of(f);
        if (!ahead && !(ahead = f->ahead = pyz_ahead_new())) {
            PyErr_NoMemory();
            goto out;
        }
        int level, algo = pyz_pagecodec_algo(codec, &level);
        if (whole) {
            /* the flow holds it now; and the GIL stays held until the lent pages are in, so
             * that no other thread's hand-over ends the loan before */
            lend(f, &views[0]);
            held = 0;
            r = pyz_ahead_submit(ahead, algo, level, pages, (int)n, PAGE_SIZE, PAGE_SIZE, 1);
        } else {
            Py_BEGIN_ALLOW_THREADS /* copies up to a batch of pages */
            r = pyz_ahead_submit(ahead, algo, level, pages, (int)n, PAGE_SIZE, PAGE_SIZE, 0);
            Py_END_ALLOW_THREADS
        }
    }
out:
    while (held > 0)
        PyBuffer_Release(&views[--held]);
    Py_DECREF(seq);
    return PyErr_Occurred() ? NULL : PyLong_FromLong(r);
}

/* precompress_wait(): until the helper has compressed every page handed over; a lent
 * buffer is released (every page of it is copied by then). */
static PyObject *flow_precompress_wait(NativeFlowObject *f, PyObject *unused)
{
    struct pyz_ahead *ahead = ahead_of(f);
    if (ahead) {
        Py_BEGIN_ALLOW_THREADS
        pyz_ahead_wait(ahead);
        Py_END_ALLOW_THREADS
    }
    end_loan(f, 1);
    Py_RETURN_NONE;
}

/* precompress_counts() -> (taken, handed over): the look-ahead's use so far. */
static PyObject *flow_precompress_counts(NativeFlowObject *f, PyObject *unused)
{
    long long taken = 0, submitted = 0;
    struct pyz_ahead *ahead = ahead_of(f);
    if (ahead)
        pyz_ahead_counts(ahead, &taken, &submitted);
    return Py_BuildValue("(LL)", taken, submitted);
}

static int nf_init(NativeFlowObject *f, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"state", "owner", "cpus", NULL};
    PyObject *state, *own, *cpus;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!OO:NativeFlow", kwlist, &ZswapStateType,
                                     &state, &own, &cpus))
        return -1;
    if (f->ready)
        return pyz_err_init_twice("NativeFlow");
    if (init_names() < 0)
        return -1;
    PyObject *online = PyObject_GetAttrString(cpus, "online");
    if (!online || !PyList_Check(online)) {
        Py_XDECREF(online);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "NativeFlow: cpus.online must be a list");
        return -1;
    }
    PyObject *ref = PyWeakref_NewRef(own, NULL);
    if (!ref) {
        Py_DECREF(online);
        return -1;
    }
    if (!((ZswapStateObject *)state)->ready) {
        pyz_err_uninit("ZswapState");
        Py_DECREF(online);
        Py_DECREF(ref);
        return -1;
    }
    f->state = (ZswapStateObject *)Py_NewRef(state);
    f->owner = ref;
    f->cpus = Py_NewRef(cpus);
    f->online = online;
    f->ready = 1;
    return 0;
}

static int nf_traverse(NativeFlowObject *f, visitproc visit, void *arg)
{
    if (f->lending)
        Py_VISIT(f->lent.obj);
    Py_VISIT(f->state);
    Py_VISIT(f->owner);
    Py_VISIT(f->cpus);
    Py_VISIT(f->online);
    return 0;
}

static int nf_clear(NativeFlowObject *f)
{
    f->ready = 0; /* cleared by the cycle collector: refuse from now on */
    end_loan(f, 0);
    Py_CLEAR(f->state);
    Py_CLEAR(f->owner);
    Py_CLEAR(f->cpus);
    Py_CLEAR(f->online);
    return 0;
}

static void nf_dealloc(NativeFlowObject *f)
{
    PyObject_GC_UnTrack(f);
    nf_clear(f);
    pyz_ahead_free(ahead_of(f)); /* joins the helper thread, if one runs */
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyMethodDef nf_methods[] = {
    {"store", (PyCFunction)(void (*)(void))flow_store, METH_FASTCALL | METH_KEYWORDS,
     "store(folio, swp_type, offset, memcg=None) -> bool: zswap_store"},
    {"load", (PyCFunction)(void (*)(void))flow_load, METH_FASTCALL | METH_KEYWORDS,
     "load(out, swp_type, offset, *, swapcache=True) -> bool: zswap_load"},
    {"store_batch", (PyCFunction)(void (*)(void))flow_store_batch, METH_FASTCALL | METH_KEYWORDS,
     "store_batch(folios, memcg=None) -> [bool]: reclaim's batch of (folio, type, offset)"},
    {"on_swap_free", (PyCFunction)(void (*)(void))flow_on_swap_free, METH_FASTCALL,
     "on_swap_free(type, offset, nr): the swap table's hook, zswap_invalidate of freed slots"},
    {"precompress", (PyCFunction)(void (*)(void))flow_precompress, METH_FASTCALL,
     "precompress(tfm, pages[, indexes]) -> int: compress pages about to be stored on a helper "
     "thread"},
    {"precompress_wait", (PyCFunction)flow_precompress_wait, METH_NOARGS,
     "precompress_wait(): until the helper has compressed every page handed over"},
    {"precompress_counts", (PyCFunction)flow_precompress_counts, METH_NOARGS,
     "precompress_counts() -> (taken, handed_over)"},
    {NULL},
};

PyTypeObject NativeFlowType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.NativeFlow",
    .tp_basicsize = sizeof(NativeFlowObject),
    .tp_dealloc = (destructor)nf_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "NativeFlow(state, owner, cpus): zswap's store, load and reclaim batch in C over "
              "a ZswapState (csrc/flow.h).",
    .tp_traverse = (traverseproc)nf_traverse,
    .tp_clear = (inquiry)nf_clear,
    .tp_methods = nf_methods,
    .tp_init = (initproc)nf_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- the slot-free hook ----- */

/* SwapFreeHook(flow, owner): the swap table's on_free hook, a callable that runs
 * flow.on_swap_free(type, offset, nr) and keeps the owner (the Zswap) alive while the table
 * holds it, as a bound method of the Zswap would. */
typedef struct {
    PyObject_HEAD
    NativeFlowObject *flow;
    PyObject *owner;
    vectorcallfunc vectorcall;
} SwapFreeHookObject;

static PyObject *hook_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                 PyObject *kwnames)
{
    SwapFreeHookObject *h = (SwapFreeHookObject *)self;
    if (kwnames && PyTuple_GET_SIZE(kwnames)) {
        PyErr_SetString(PyExc_TypeError, "SwapFreeHook(type, offset, nr) takes no keywords");
        return NULL;
    }
    if (!h->flow)
        return pyz_err_uninit("SwapFreeHook");
    return flow_on_swap_free(h->flow, args, PyVectorcall_NARGS(nargsf));
}

static int hook_init(SwapFreeHookObject *h, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"flow", "owner", NULL};
    PyObject *flow, *own;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O:SwapFreeHook", kwlist, &NativeFlowType,
                                     &flow, &own))
        return -1;
    if (h->flow)
        return pyz_err_init_twice("SwapFreeHook");
    h->flow = (NativeFlowObject *)Py_NewRef(flow);
    h->owner = Py_NewRef(own);
    return 0;
}

static PyObject *hook_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    SwapFreeHookObject *h = (SwapFreeHookObject *)type->tp_alloc(type, 0);
    if (h)
        h->vectorcall = hook_vectorcall;
    return (PyObject *)h;
}

static int hook_traverse(SwapFreeHookObject *h, visitproc visit, void *arg)
{
    Py_VISIT(h->flow);
    Py_VISIT(h->owner);
    return 0;
}

static int hook_clear(SwapFreeHookObject *h)
{
    Py_CLEAR(h->flow);
    Py_CLEAR(h->owner);
    return 0;
}

static void hook_dealloc(SwapFreeHookObject *h)
{
    PyObject_GC_UnTrack(h);
    hook_clear(h);
    Py_TYPE(h)->tp_free((PyObject *)h);
}

static PyTypeObject SwapFreeHookType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.SwapFreeHook",
    .tp_basicsize = sizeof(SwapFreeHookObject),
    .tp_dealloc = (destructor)hook_dealloc,
    .tp_vectorcall_offset = offsetof(SwapFreeHookObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "SwapFreeHook(flow, owner): the swap table's slot-free hook, "
              "flow.on_swap_free(type, offset, nr), keeping owner alive.",
    .tp_traverse = (traverseproc)hook_traverse,
    .tp_clear = (inquiry)hook_clear,
    .tp_init = (initproc)hook_init,
    .tp_new = hook_new,
};

int pyz_flow_add_types(PyObject *module)
{
    if (PyType_Ready(&NativeFlowType) < 0 || PyType_Ready(&SwapFreeHookType) < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "SwapFreeHook", (PyObject *)&SwapFreeHookType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "NativeFlow", (PyObject *)&NativeFlowType);
}
