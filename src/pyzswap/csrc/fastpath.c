/* zswap's hot paths in C: the store of a folio (a 4 KiB page, or a large folio on a PageCodec)
 * and the load of a page, same steps as Zswap.store / Zswap.load (src/pyzswap/zswap.py), which
 * stay the reference flow and take every case this file declines.
 *
 * The object (pyzswap._native.ZswapFast) is a Zswap's counters (Zswap._c: the debugfs
 * statistics and vmstat events, shared with the Python flow), its limit state, and the fast
 * paths. A fast path returns NotImplemented *before any side effect* when the case is not
 * the common one (a store for a memcg at its zswap.max or with writeback off, a lifetime other
 * than "pool", a zsmalloc subclass with fault injection, a CPU without resources, a preemption
 * hook, a bad argument), and the Python flow then runs from the start. What it does run is
 * the Python flow's steps in order, on the same objects and locks:
 *
 *   store: slot -> enabled / the memcg's zswap.max and writeback / global limit -> current
 *          pool reference (zswap lock) -> this CPU's context mutex -> compress with the
 *          context's transform -> zsmalloc -> mutex released -> publish under the zswap lock
 *          (tree, LRU, memcg charge, counters; the memcg's zswpout after) -> release emptied
 *          pools.
 *   load:  slot -> lookup -> context mutex -> copy the object out of zsmalloc, decompress ->
 *          mutex released -> under the zswap lock: zswpin (and the memcg's event), erase,
 *          uncharge the memcg, free the object, drop the pool reference, counters -> release
 *          emptied pools.
 *
 * Python objects are reached through a small per-pool cache (pool, its zsmalloc, and per CPU
 * the context mutex, resources, buffer and the transform's bound methods). It is valid
 * because, under the "pool" lifetime, a context's resources live exactly as long as the pool,
 * and Zswap drops a pool from the cache (forget) before destroying it.
 *
 * Lifetime and races (docs/RELIABILITY.md): the methods refuse an object whose __init__ did
 * not run; bind() is once only. A fast path marks its slots busy in the entry table for its
 * whole length (et_slots_begin: an overlapping store, load, invalidate or swapoff is refused
 * meanwhile), counts itself in `active`, and re-checks `closed` under zswap's lock before it
 * publishes or erases anything, since Zswap.close() may run while it waits or compresses.
 * unbind() (Zswap.close) sets `closed` and drops the references to the Zswap and its objects
 * once no call is active (the last active call drops them otherwise).
 */
#include "codec.h"
#include "entries.h"
#include "lifecycle.h"
#include "lock.h"
#include "zsmalloc.h"
#include "zsmalloc_py.h"

#include <errno.h>
#include <stddef.h>
#include <structmember.h>
#include <string.h>

#define PAGE_SIZE 4096
#define NR_SLOTS 8
#define MAX_FOLIO_PAGES 512    /* folio.MAX_FOLIO_PAGES: a 2 MiB folio */
#define ZSWAP_MAX_BATCH_SIZE 8 /* pages per context-mutex hold in a large folio's store */

struct cpu_slot {
    PyObject *mutex;                     /* ctx.mutex */
    PyObject *buffer;                    /* res.buffers[0] */
    PyObject *compress, *decompress;     /* res.tfm's bound methods */
    PyzCodecObject *codec; /* res.tfm if it is a PageCodec (kept alive by compress), or NULL */
};

struct pool_slot {
    PyObject *pool;       /* NULL: empty slot */
    uint32_t id;
    int eligible;         /* lifetime "pool" (the zsmalloc type is checked per call) */
    PyTypeObject *exact_type; /* zs's type, when pyz_zspool_is_exact said yes ... */
    unsigned int exact_tag;   /* ... at this type version (a monkeypatch changes it) */
    PyObject *zs;         /* the ZsPool */
    struct zs_pool *zp;
    PyObject *acomp_ctx;  /* list of AcompCtx */
    Py_ssize_t nr_cpus;
    struct cpu_slot *cpu; /* nr_cpus entries, filled on first use */
};

typedef struct {
    PyObject_HEAD
    /* Zswap._c: every counter the Python flow also bumps (under the zswap lock) */
    long long pool_limit_hit, reject_reclaim_fail, reject_alloc_fail, reject_kmemcache_fail,
        reject_compress_fail, reject_compress_poor, decompress_fail, written_back_pages,
        stored_pages, stored_incompressible_pages, zswpin, zswpout, zswpwb;
    /* the global limit in pages (-1: none), its accept threshold, and the hysteresis bit */
    long long max_pages, thr_pages;
    /* pyzswap diagnostics: pages the fast paths stored / loaded (the rest took the Python flow) */
    long long fast_stores, fast_loads;
    int reached_full;
    int enabled;
    int ready;  /* __init__ ran */
    int closed; /* unbind() ran: nothing is published or erased any more */
    int active; /* calls in flight that use the references below (GIL-protected) */
    /* what the fast paths use; set by bind() */
    PyObject *zswap;
    EntryTableObject *table;
    PyObject *lock;            /* Zswap._lock */
    PyObject *pools;           /* Zswap._pools (mutated in place) */
    PyObject *pool_ids;        /* Zswap._pool_ids */
    PyObject *release_pending; /* Zswap._release_pending (mutated in place) */
    PyObject *cpus, *cpus_local, *cpus_online;
    /* a weak reference to the Zswap, kept after unbind(): store()/load() fall back to its
     * Python flows (a weak one, so the instance method adds no reference cycle) */
    PyObject *owner;
    struct pool_slot slots[NR_SLOTS];
} ZswapFastObject;

static PyObject *self_store_rejected;
static PyObject *s_objcg_memcg, *s_count_event, *s_zswpin, *s_uncharge_zswap;
static PyObject *s_zswap_store_target, *s_charge_zswap, *s_zswpout;
static PyObject *s_pending, *s_published, *s_zs_store, *s_stream_fail, *s_nr, *s_swp_type,
    *s_offset, *s_charged, *s_wb_enabled, *s_failed, *s_publish;
static PyObject *s_id, *s_ref, *s_cpu, *s_preempt_hook, *s_flush_releases, *s_entry_free_locked,
    *s_store_failed, *s_store_undo, *s_zs_pool, *s_lifetime, *s_acomp_ctx, *s_mutex, *s_res,
    *s_buffers, *s_tfm, *s_compress, *s_decompress, *s_acquire, *s_release, *s_pool_str,
    *s_tfm_name, *s_freed, *s_store_flow, *s_load_flow, *s_placement_gen;
static PyObject *ONE;

static void fp_release_refs(ZswapFastObject *self);

/* The end of a call counted in `active`: the last one out of a closed object drops its
 * references (see the top). */
static void fp_leave(ZswapFastObject *self)
{
    if (--self->active == 0 && self->closed)
        fp_release_refs(self);
}

/* A method that needs the bound objects: 0, or -1 with the error (before __init__, before
 * bind, after unbind). */
static int fp_check_bound(ZswapFastObject *self)
{
    if (!self->ready) {
        pyz_err_uninit("ZswapFast");
        return -1;
    }
    if (self->closed || !self->zswap) {
        if (pyz_load_zswap_errors() == 0)
            PyErr_SetString(pyz_ZswapError, self->closed ? "this Zswap is closed"
                                                         : "ZswapFast is not bound to a Zswap");
        return -1;
    }
    return 0;
}

static int init_names(void)
{
    if (s_ref)
        return 0;
#define INTERN(var, text) if (!(var = PyUnicode_InternFromString(text))) return -1
    INTERN(s_id, "id");
    INTERN(s_objcg_memcg, "_objcg_memcg");
    INTERN(s_count_event, "count_event");
    INTERN(s_zswpin, "zswpin");
    INTERN(s_zswpout, "zswpout");
    INTERN(s_zswap_store_target, "zswap_store_target");
    INTERN(s_charge_zswap, "charge_zswap");
    INTERN(s_uncharge_zswap, "uncharge_zswap");
    INTERN(s_pending, "pending");
    INTERN(s_published, "published");
    INTERN(s_zs_store, "_zs_store");
    INTERN(s_stream_fail, "_stream_fail");
    INTERN(s_nr, "nr");
    INTERN(s_swp_type, "swp_type");
    INTERN(s_offset, "offset");
    INTERN(s_charged, "charged");
    INTERN(s_wb_enabled, "wb_enabled");
    INTERN(s_failed, "failed");
    INTERN(s_publish, "_publish");
    INTERN(s_ref, "ref");
    INTERN(s_cpu, "cpu");
    INTERN(s_preempt_hook, "preempt_hook");
    INTERN(s_flush_releases, "_flush_releases");
    INTERN(s_entry_free_locked, "_entry_free_locked");
    INTERN(s_store_failed, "_store_failed");
    INTERN(s_store_undo, "_store_undo");
    INTERN(s_zs_pool, "zs_pool");
    INTERN(s_lifetime, "lifetime");
    INTERN(s_acomp_ctx, "acomp_ctx");
    INTERN(s_mutex, "mutex");
    INTERN(s_res, "res");
    INTERN(s_buffers, "buffers");
    INTERN(s_tfm, "tfm");
    INTERN(s_compress, "compress");
    INTERN(s_decompress, "decompress");
    INTERN(s_acquire, "acquire");
    INTERN(s_release, "release");
    INTERN(s_pool_str, "pool");
    INTERN(s_tfm_name, "tfm_name");
    INTERN(s_freed, "freed");
    INTERN(s_store_flow, "_store_flow");
    INTERN(s_load_flow, "_load_flow");
    INTERN(s_placement_gen, "placement_gen");
    if (!(ONE = PyLong_FromLong(1)))
        return -1;
#undef INTERN
    return pyz_load_errors();
}

/* ---------------------------------------------------------------- small helpers ---------- */

/* A Python call whose result is not needed: 0, or -1 if it raised. */
static inline int drop_result(PyObject *r)
{
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* obj.name(n) for a byte or page count (a memcg's charge, uncharge): 0 or -1. */
static int call_with_count(PyObject *obj, PyObject *name, unsigned long n)
{
    PyObject *arg = PyLong_FromUnsignedLong(n);
    int rc = drop_result(arg ? PyObject_CallMethodOneArg(obj, name, arg) : NULL);
    Py_XDECREF(arg);
    return rc;
}

/* o.name = v for an int attribute: 0 or -1. */
static int set_int_attr(PyObject *o, PyObject *name, long long v)
{
    PyObject *x = PyLong_FromLongLong(v);
    if (!x)
        return -1;
    int rc = PyObject_SetAttr(o, name, x);
    Py_DECREF(x);
    return rc;
}

/* Take / drop a lock: directly for a pyzswap Lock, else through its methods. */
static int lk_acquire(PyObject *lock)
{
    if (PYZ_LOCK_CHECK(lock))
        return pyz_lock_acquire(lock) ? 0 : -1;
    return drop_result(PyObject_CallMethodNoArgs(lock, s_acquire));
}

static int lk_release(PyObject *lock)
{
    if (PYZ_LOCK_CHECK(lock))
        return pyz_lock_release(lock);
    return drop_result(PyObject_CallMethodNoArgs(lock, s_release));
}

/* Drop a lock on an error path, keeping the pending exception. */
static void lk_release_keep_error(PyObject *lock)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    lk_release(lock);
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
}

/* Where a __slots__ attribute lives in objects of one type: the hot paths read and write
 * pool.ref, pool.zs_pool and cpus.preempt_hook at their offset, as PyMember_GetOne/SetOne do
 * for T_OBJECT_EX members, without the attribute lookup each time. One type per cache (held,
 * so its address cannot be reused), re-resolved when the type changes (its version tag). */
struct slot_cache {
    PyTypeObject *type;
    unsigned int tag;
    Py_ssize_t off; /* -1: not a plain writable object slot of that type */
};
static struct slot_cache ref_slot, zs_pool_slot, hook_slot, gen_slot;

static Py_ssize_t slot_offset(struct slot_cache *c, PyObject *obj, PyObject *name)
{
    PyTypeObject *t = Py_TYPE(obj);
    if (c->type == t && (t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) && t->tp_version_tag == c->tag)
        return c->off;
    Py_ssize_t off = -1;
    PyObject *d = _PyType_Lookup(t, name); /* borrowed; assigns the version tag */
    if (d && Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY))
            off = m->offset;
    }
    Py_XSETREF(c->type, (PyTypeObject *)Py_NewRef(t));
    c->tag = t->tp_version_tag;
    c->off = off;
    return off;
}

/* obj.name's value through the slot cache, borrowed; NULL (no exception) when the cache does
 * not apply or the slot is empty: then the caller asks PyObject_GetAttr. */
static inline PyObject *slot_peek(struct slot_cache *c, PyObject *obj, PyObject *name)
{
    Py_ssize_t off = slot_offset(c, obj, name);
    return off < 0 ? NULL : *(PyObject **)((char *)obj + off);
}

/* pool.ref += delta; returns the new value (or -1 with an exception). */
static long long pool_ref_add(PyObject *pool, long long delta)
{
    PyObject *cur = slot_peek(&ref_slot, pool, s_ref);
    if (cur && PyLong_CheckExact(cur)) {
        long long v = PyLong_AsLongLong(cur);
        if (v == -1 && PyErr_Occurred())
            return -1;
        long long ref = v + delta;
        PyObject *x = PyLong_FromLongLong(ref);
        if (!x)
            return -1;
        Py_SETREF(*(PyObject **)((char *)pool + ref_slot.off), x);
        return ref;
    }
    PyObject *v = PyObject_GetAttr(pool, s_ref);
    if (!v)
        return -1;
    long long ref = PyLong_AsLongLong(v) + delta;
    Py_DECREF(v);
    if (PyErr_Occurred() || set_int_attr(pool, s_ref, ref) < 0)
        return -1;
    return ref;
}

/* zs_lock without ever blocking while holding the GIL. */
static void zs_lock_gil(struct zs_pool *p)
{
    if (zs_trylock(p) != 0) {
        Py_BEGIN_ALLOW_THREADS
        zs_lock(p);
        Py_END_ALLOW_THREADS
    }
}

static void cpu_slot_clear(struct cpu_slot *c)
{
    Py_CLEAR(c->mutex);
    Py_CLEAR(c->buffer);
    Py_CLEAR(c->compress);
    Py_CLEAR(c->decompress);
    c->codec = NULL;
}

static void pool_slot_clear(struct pool_slot *s)
{
    if (s->cpu) {
        for (Py_ssize_t i = 0; i < s->nr_cpus; i++)
            cpu_slot_clear(&s->cpu[i]);
        PyMem_Free(s->cpu);
        s->cpu = NULL;
    }
    Py_CLEAR(s->pool);
    Py_CLEAR(s->zs);
    Py_CLEAR(s->acomp_ctx);
    s->zp = NULL;
    s->exact_type = NULL;
    s->nr_cpus = 0;
    s->eligible = 0;
}

/* The cache slot of a pool (filled on first use). NULL with an exception on error. */
static struct pool_slot *pool_slot(ZswapFastObject *self, PyObject *pool, uint32_t id)
{
    struct pool_slot *s = &self->slots[id % NR_SLOTS];
    if (s->pool == pool) {
        PyObject *cur = slot_peek(&zs_pool_slot, pool, s_zs_pool);
        if (cur && cur == s->zs)
            return s;
    }
    PyObject *zs = PyObject_GetAttr(pool, s_zs_pool);
    if (!zs)
        return NULL;
    if (s->pool == pool && s->zs == zs) { /* a fault-injection test may swap the zsmalloc */
        Py_DECREF(zs);
        return s;
    }
    pool_slot_clear(s);
    PyObject *lifetime = PyObject_GetAttr(pool, s_lifetime);
    PyObject *ctxs = lifetime ? PyObject_GetAttr(pool, s_acomp_ctx) : NULL;
    if (!ctxs) {
        Py_XDECREF(zs);
        Py_XDECREF(lifetime);
        return NULL;
    }
    int plain_pool = PyUnicode_Check(lifetime) &&
                     PyUnicode_Compare(lifetime, s_pool_str) == 0;
    Py_DECREF(lifetime);
    s->pool = Py_NewRef(pool);
    s->id = id;
    s->zs = zs;
    s->acomp_ctx = ctxs;
    s->zp = pyz_zspool_pool(zs);
    if (!s->zp) {
        pool_slot_clear(s);
        return NULL;
    }
    s->eligible = plain_pool && PyList_Check(ctxs);
    if (s->eligible) {
        s->nr_cpus = PyList_GET_SIZE(ctxs);
        s->cpu = PyMem_Calloc((size_t)(s->nr_cpus ? s->nr_cpus : 1), sizeof(struct cpu_slot));
        if (!s->cpu) {
            pool_slot_clear(s);
            PyErr_NoMemory();
            return NULL;
        }
    }
    return s;
}

/* This thread's CPU (cpus.local.cpu), or -1 (no exception) if it is not placed yet: then the
 * Python flow places it. Kept per thread with the CpuModel's placement_gen, which changes (to a
 * value never used before in the process) whenever a thread is placed or migrated; only the
 * thread itself places or migrates itself, so a cached CPU is this thread's current one. */
static __thread struct {
    long long gen;
    Py_ssize_t cpu;
} thread_cpu_cache = {-1, -1};

static Py_ssize_t thread_cpu(ZswapFastObject *self)
{
    PyObject *gen = slot_peek(&gen_slot, self->cpus, s_placement_gen);
    long long gen_value = -1;
    if (gen && PyLong_CheckExact(gen)) {
        gen_value = PyLong_AsLongLong(gen);
        if (gen_value == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            gen_value = -1;
        }
        if (gen_value > 0 && gen_value == thread_cpu_cache.gen)
            return thread_cpu_cache.cpu;
    }
    PyObject *cpu_obj = PyObject_GetAttr(self->cpus_local, s_cpu);
    if (!cpu_obj) {
        PyErr_Clear(); /* not placed yet: the Python flow places the thread */
        return -1;
    }
    Py_ssize_t cpu = PyLong_AsSsize_t(cpu_obj);
    Py_DECREF(cpu_obj);
    if (cpu < 0) {
        PyErr_Clear();
        return -1;
    }
    if (gen_value > 0) {
        thread_cpu_cache.gen = gen_value;
        thread_cpu_cache.cpu = cpu;
    }
    return cpu;
}

/* This thread's CPU context of a pool, as ctx_get_cpu_lock's common case finds it; NULL
 * (no exception) when the common case does not apply. */
static struct cpu_slot *cpu_slot(ZswapFastObject *self, struct pool_slot *s)
{
    PyObject *hook = slot_peek(&hook_slot, self->cpus, s_preempt_hook);
    if (!hook) {
        PyObject *h = PyObject_GetAttr(self->cpus, s_preempt_hook);
        if (!h) {
            PyErr_Clear();
            return NULL;
        }
        int hooked = h != Py_None;
        Py_DECREF(h);
        if (hooked)
            return NULL;
    } else if (hook != Py_None) {
        return NULL;
    }
    Py_ssize_t cpu = thread_cpu(self);
    if (cpu < 0 || cpu >= s->nr_cpus || cpu >= PyList_GET_SIZE(self->cpus_online))
        return NULL;
    if (PyList_GET_ITEM(self->cpus_online, cpu) != Py_True)
        return NULL;
    struct cpu_slot *c = &s->cpu[cpu];
    if (c->mutex)
        return c;
    /* first use on this CPU: ctx.mutex, ctx.res (allocated: the pool lifetime keeps it) */
    PyObject *ctx = PyList_GET_ITEM(s->acomp_ctx, cpu);
    PyObject *res = PyObject_GetAttr(ctx, s_res);
    if (!res || res == Py_None) {
        Py_XDECREF(res);
        PyErr_Clear();
        return NULL;
    }
    PyObject *mutex = PyObject_GetAttr(ctx, s_mutex);
    PyObject *buffers = PyObject_GetAttr(res, s_buffers);
    PyObject *tfm = PyObject_GetAttr(res, s_tfm);
    Py_DECREF(res);
    if (mutex && buffers && tfm && PyList_Check(buffers) && PyList_GET_SIZE(buffers) > 0) {
        c->buffer = Py_NewRef(PyList_GET_ITEM(buffers, 0));
        c->compress = PyObject_GetAttr(tfm, s_compress);
        c->decompress = PyObject_GetAttr(tfm, s_decompress);
        c->codec = pyz_codec_native(tfm);
        c->mutex = Py_NewRef(mutex);
    }
    Py_XDECREF(mutex);
    Py_XDECREF(buffers);
    Py_XDECREF(tfm);
    if (!c->mutex || !c->compress || !c->decompress ||
        !PyByteArray_Check(c->buffer) || PyByteArray_GET_SIZE(c->buffer) < PAGE_SIZE) {
        cpu_slot_clear(c);
        PyErr_Clear();
        return NULL;
    }
    return c;
}

/* What one fast-path call uses, with its own references: the cache slot it came from may be
 * evicted or forgotten by another thread while this one waits for a lock or runs the codec. */
struct pinned {
    PyObject *pool, *zs, *mutex, *buffer, *compress, *decompress;
    PyzCodecObject *codec; /* kept alive by compress */
    struct zs_pool *zp;
};

static void unpin(struct pinned *p)
{
    Py_CLEAR(p->pool);
    Py_CLEAR(p->zs);
    Py_CLEAR(p->mutex);
    Py_CLEAR(p->buffer);
    Py_CLEAR(p->compress);
    Py_CLEAR(p->decompress);
}

/* Resolve a pool for this thread's CPU: 1 (pinned), 0 (decline: the Python flow), -1. */
static int pin(ZswapFastObject *self, PyObject *pool, uint32_t id, struct pinned *p)
{
    memset(p, 0, sizeof(*p));
    struct pool_slot *s = pool_slot(self, pool, id);
    if (!s)
        return -1;
    /* fault injection (a ZsPool subclass) goes through the Python methods */
    if (!s->eligible)
        return 0;
    PyTypeObject *zt = Py_TYPE(s->zs);
    if (!(zt == s->exact_type && zt->tp_version_tag == s->exact_tag &&
          (zt->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG))) {
        if (!pyz_zspool_is_exact(s->zs))
            return 0;
        s->exact_type = zt;
        s->exact_tag = zt->tp_version_tag;
    }
    struct cpu_slot *c = cpu_slot(self, s);
    if (!c)
        return 0;
    p->pool = Py_NewRef(pool);
    p->zs = Py_NewRef(s->zs);
    p->zp = s->zp;
    p->mutex = Py_NewRef(c->mutex);
    p->buffer = Py_NewRef(c->buffer);
    p->compress = Py_NewRef(c->compress);
    p->decompress = Py_NewRef(c->decompress);
    p->codec = c->codec;
    return 1;
}

static long long total_pages(ZswapFastObject *self)
{
    long long n = 0;
    if (!self->pools) /* unbound: Zswap.close() destroyed every pool */
        return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(self->pools); i++) {
        PyObject *zs = PyObject_GetAttr(PyList_GET_ITEM(self->pools, i), s_zs_pool);
        if (!zs)
            return -1;
        struct zs_pool *zp = pyz_zspool_pool(zs);
        Py_DECREF(zs);
        if (!zp)
            return -1;
        n += zs_pages_allocated(zp);
    }
    return n;
}

/* zswap_check_limits(): 1 while the pool is (still) considered full, -1 on error. */
static int check_limits(ZswapFastObject *self)
{
    if (self->max_pages < 0)
        return 0;
    long long cur = total_pages(self);
    if (cur < 0)
        return -1;
    if (cur >= self->max_pages) {
        self->pool_limit_hit++;
        self->reached_full = 1;
    } else if (self->reached_full && cur <= self->thr_pages) {
        self->reached_full = 0;
    }
    return self->reached_full;
}

static int flush_releases(ZswapFastObject *self)
{
    if (PyList_GET_SIZE(self->release_pending) == 0)
        return 0;
    return drop_result(PyObject_CallMethodNoArgs(self->zswap, s_flush_releases));
}

/* Publish n entries under zswap's lock: each into the tree and at the tail of its LRU list
 * (the charged memcg's, or the root's when charged is NULL), an older entry of the slot
 * freed, the memcg charged, the counters (zswpout too if count_out, for a whole folio,
 * and then the memcg's zswpout event after the lock). Returns how many were inserted; fewer
 * than n, or an exception set, on failure. Entries from the returned index on are not in the
 * table: their objects are still the caller's. (Zswap._publish.) */
static int publish_entries(ZswapFastObject *self, int type, uint64_t off, uint32_t pool_id,
                           uint32_t *handles, unsigned *lens, int n, int count_out,
                           PyObject *charged, long charged_id)
{
    EntryTableObject *t = self->table;
    if (lk_acquire(self->lock) < 0)
        return 0;
    if (self->closed) {
        /* Zswap.close() ran while this store compressed: its pools are gone */
        lk_release(self->lock);
        if (pyz_load_zswap_errors() == 0)
            PyErr_SetString(pyz_ZswapError, "this Zswap was closed during the store: nothing "
                                            "was stored");
        return 0;
    }
    int done = 0;
    while (done < n) {
        uint32_t old;
        if (!et_insert(t, (unsigned)type, off + (uint64_t)done, lens[done], pool_id,
                       handles[done], charged ? (int32_t)charged_id : -1,
                       charged ? (uint32_t)charged_id : 0, 1, &old))
            break;
        if (lens[done] == PAGE_SIZE)
            self->stored_incompressible_pages++;
        self->stored_pages++;
        if (count_out) {
            self->zswpout++;
            self->fast_stores++;
        }
        done++;
        if (old) {
            PyObject *e = et_entry_obj(t, old);
            et_release(t, old);
            PyObject *r = e ? PyObject_CallMethodOneArg(self->zswap, s_entry_free_locked, e)
                            : NULL;
            Py_XDECREF(e);
            if (!r)
                break;
            Py_DECREF(r);
        }
        /* obj_cgroup_charge_zswap, under the lock as in _publish */
        if (charged && call_with_count(charged, s_charge_zswap, lens[done - 1]) < 0)
            break;
    }
    if (PyErr_Occurred())
        lk_release_keep_error(self->lock);
    else
        lk_release(self->lock); /* we hold it: cannot fail */
    if (count_out && charged && done > 0 && !PyErr_Occurred()) {
        PyObject *nr = PyLong_FromLong(done);
        drop_result(nr ? PyObject_CallMethodObjArgs(charged, s_count_event, s_zswpout, nr, NULL)
                       : NULL);
        Py_XDECREF(nr);
    }
    return done;
}

/* Free objects that never made it into the table: in C, or through the ZsPool's own
 * free() when zp is NULL (a subclass, e.g. fault injection). Keeps a pending exception. */
static void zs_free_many(struct zs_pool *zp, PyObject *zs, uint32_t *handles, int n)
{
    if (n <= 0)
        return;
    if (zp) {
        zs_lock_gil(zp);
        for (int i = 0; i < n; i++)
            zs_free_locked(zp, handles[i]);
        zs_unlock(zp);
        return;
    }
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    for (int i = 0; i < n; i++) {
        PyObject *h = PyLong_FromUnsignedLong(handles[i]);
        PyObject *r = h ? PyObject_CallMethod(zs, "free", "O", h) : NULL;
        Py_XDECREF(h);
        Py_XDECREF(r);
        PyErr_Clear();
    }
    PyErr_Restore(et, ev, tb);
}

/* Call a Zswap failure-path method, (pool,) type, offset, nr, and answer False (or NULL). */
static PyObject *fail_store(ZswapFastObject *self, PyObject *name, PyObject *pool,
                            PyObject *const *args, PyObject *nr)
{
    PyObject *r = pool ? PyObject_CallMethodObjArgs(self->zswap, name, pool, args[1], args[2],
                                                    nr, NULL)
                       : PyObject_CallMethodObjArgs(self->zswap, name, args[1], args[2], nr,
                                                    NULL);
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

/* ---------------------------------------------------------------- store ------------------ */

static PyObject *fp_store_checked(ZswapFastObject *self, PyObject *page, const char *page_buf,
                                  int nr, PyObject *const *args, PyObject *memcg);

/* The (type, offset) arguments of a fast path: 1 if they name a slot of a swapped-on type,
 * 0 if not (the Python flow raises the right error). */
static int slot_args(ZswapFastObject *self, PyObject *const *args, long *type, long long *off)
{
    if (!PyLong_CheckExact(args[1]) || !PyLong_CheckExact(args[2]))
        return 0;
    *type = PyLong_AsLong(args[1]);
    *off = PyLong_AsLongLong(args[2]);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    EntryTableObject *t = self->table;
    return *type >= 0 && *type < ET_MAX_TYPES && t->trees[*type] && *off >= 0 &&
           (uint64_t)*off < t->trees[*type]->nr_pages;
}

/* A folio's bytes: bytes, or a contiguous 1-D byte buffer (a memoryview of a page file).
 * 1 with *buf and *size set, and *view to release if view->obj is set; 0 (no exception) for
 * anything else, which the Python flow checks (and rejects or converts). */
static int folio_bytes(PyObject *folio, Py_buffer *view, const char **buf, Py_ssize_t *size)
{
    view->obj = NULL;
    if (PyBytes_CheckExact(folio)) {
        *buf = PyBytes_AS_STRING(folio);
        *size = PyBytes_GET_SIZE(folio);
        return 1;
    }
    /* a released or strided view fails here */
    if (PyObject_GetBuffer(folio, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        view->obj = NULL;
        return 0;
    }
    if (view->itemsize != 1 || view->ndim > 1) {
        PyBuffer_Release(view);
        return 0;
    }
    *buf = view->buf;
    *size = view->len;
    return 1;
}

/* store_page(page, type, offset) -> True / False / NotImplemented */
static PyObject *fp_store_page(ZswapFastObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "store_page(page, type, offset, memcg=None)");
        return NULL;
    }
    PyObject *memcg = nargs == 4 && args[3] != Py_None ? args[3] : NULL;
    if (!self->ready)
        return pyz_err_uninit("ZswapFast");
    if (!self->zswap || self->closed) /* not bound, or Zswap.close() ran: the Python flow */
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *page = args[0];
    long type;
    long long off;
    if (!slot_args(self, args, &type, &off))
        Py_RETURN_NOTIMPLEMENTED; /* the Python flow raises the error */
    /* a folio of 1..MAX_FOLIO_PAGES whole pages */
    const char *page_buf;
    Py_ssize_t size;
    Py_buffer pview;
    if (!folio_bytes(page, &pview, &page_buf, &size))
        Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t nr = size / PAGE_SIZE;
    PyObject *ret;
    EntryTableObject *t = self->table;
    if (size % PAGE_SIZE || nr < 1 || nr > MAX_FOLIO_PAGES ||
        (uint64_t)off + (uint64_t)nr > t->trees[type]->nr_pages) {
        ret = Py_NewRef(Py_NotImplemented); /* the Python flow raises the error */
    } else if (et_slots_begin(t, (unsigned)type, (uint64_t)off, (uint32_t)nr) < 0) {
        ret = NULL; /* SlotBusy: another operation on these slots is in flight */
    } else {
        self->active++;
        ret = fp_store_checked(self, page, page_buf, (int)nr, args, memcg);
        et_slots_end(t, (unsigned)type, (uint64_t)off, (uint32_t)nr);
        fp_leave(self);
    }
    if (pview.obj)
        PyBuffer_Release(&pview);
    return ret;
}

/* zswap_compress's call on this CPU's context (its mutex held): the length, 0 when the codec
 * refused the page (CompressPoor / CompressFail: writeback is enabled here, with no memcg or a
 * memcg that allows it, so the page is stored as-is), -1 with an exception. A PageCodec is
 * called directly, GIL released. */
static long ctx_compress(struct pinned *c, PyObject *page, const char *page_buf)
{
    if (c->codec) {
        Py_buffer dst; /* held, so the buffer cannot be resized while the GIL is released */
        if (PyObject_GetBuffer(c->buffer, &dst, PyBUF_WRITABLE) < 0)
            return -1;
        int cap = dst.len > PAGE_SIZE * 2 ? PAGE_SIZE * 2 : (int)dst.len;
        int r;
        Py_BEGIN_ALLOW_THREADS
        r = pyz_codec_compress(c->codec, page_buf, PAGE_SIZE, dst.buf, cap);
        Py_END_ALLOW_THREADS
        PyBuffer_Release(&dst);
        if (r == -ENOMEM) {
            PyErr_NoMemory();
            return -1;
        }
        return r > 0 ? r : 0;
    }
    PyObject *res = PyObject_Vectorcall(c->compress, (PyObject *[]){page, c->buffer}, 2, NULL);
    if (res) {
        long dlen = PyLong_AsLong(res);
        Py_DECREF(res);
        if (dlen == -1 && PyErr_Occurred())
            return -1;
        return dlen > 0 ? dlen : 0; /* not a length: stored as-is, as before */
    }
    if (PyErr_ExceptionMatches(pyz_CompressPoor) || PyErr_ExceptionMatches(pyz_CompressFail)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* _admit's memcg steps, none of which has a side effect (MemCgroup.zswap_store_target: the
 * group to charge, may it zswap, is its writeback enabled). 1 with *charged (a new reference)
 * and its id; 0 to decline (over zswap.max, where the Python flow writes back the group's
 * entries first, or writeback disabled); -1 on error. */
static int memcg_admit(PyObject *memcg, PyObject **charged, long *charged_id)
{
    *charged = NULL;
    PyObject *t = PyObject_CallMethodNoArgs(memcg, s_zswap_store_target);
    if (!t)
        return -1;
    int ok = -1;
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != 3) {
        PyErr_SetString(PyExc_TypeError, "zswap_store_target() must return a 3-tuple");
        goto out;
    }
    int may = PyObject_IsTrue(PyTuple_GET_ITEM(t, 1));
    int wb = may > 0 ? PyObject_IsTrue(PyTuple_GET_ITEM(t, 2)) : may;
    if (wb <= 0) {
        ok = wb;
        goto out;
    }
    PyObject *cg = PyTuple_GET_ITEM(t, 0);
    PyObject *id = PyObject_GetAttr(cg, s_id);
    *charged_id = id ? PyLong_AsLong(id) : -1;
    Py_XDECREF(id);
    if (*charged_id < 0 || *charged_id > INT32_MAX) {
        if (!PyErr_Occurred())
            ok = 0; /* not an id the entry table can hold: the Python flow decides */
        goto out;
    }
    *charged = Py_NewRef(cg);
    ok = 1;
out:
    Py_DECREF(t);
    return ok;
}

/* zswap_store of a folio of nr pages at page_buf (slots checked by the caller). Large folios
 * only on a PageCodec (lz4, lz4hc), called directly per page; the context mutex is taken per
 * ZSWAP_MAX_BATCH_SIZE pages, as in _compress_pages. The folio is all or nothing. */
static PyObject *fp_store_checked(ZswapFastObject *self, PyObject *page, const char *page_buf,
                                  int nr, PyObject *const *args, PyObject *memcg)
{
    /* 1. The slot (checked by the caller). */
    long type = PyLong_AsLong(args[1]);
    long long off = PyLong_AsLongLong(args[2]);
    /* 2. Enabled? The global limit? (checked once: its counter has a side effect) */
    if (!self->enabled)
        Py_RETURN_NOTIMPLEMENTED;
    /* 3. The current pool, usable here? (nothing done yet, so declining is free) */
    if (PyList_GET_SIZE(self->pools) == 0)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *pool = PyList_GET_ITEM(self->pools, 0);
    uint32_t pool_id = 0;
    int cached = 0;
    for (int i = 0; i < NR_SLOTS; i++)
        if (self->slots[i].pool == pool) {
            pool_id = self->slots[i].id;
            cached = 1;
            break;
        }
    if (!cached) {
        PyObject *id_obj = PyObject_GetAttr(pool, s_id);
        if (!id_obj)
            return NULL;
        pool_id = (uint32_t)PyLong_AsUnsignedLong(id_obj);
        Py_DECREF(id_obj);
        if (PyErr_Occurred())
            return NULL;
    }
    struct pinned pin_, *c = &pin_;
    int ok = pin(self, pool, pool_id, c);
    if (ok <= 0) {
        if (ok < 0)
            return NULL;
        Py_RETURN_NOTIMPLEMENTED;
    }
    pool = c->pool; /* our reference: the list may change while locks are dropped */
    PyObject *ret = NULL;
    /* the memcg's zswap.max and writeback setting (declined before any side effect) */
    PyObject *charged = NULL;
    long charged_id = -1;
    uint32_t handle1, *handles = &handle1;
    unsigned len1, *lens = &len1;
    PyObject *nr_obj = nr == 1 ? Py_NewRef(ONE) : PyLong_FromLong(nr);
    if (!nr_obj)
        goto out;
    if (nr > 1 && !c->codec) {
        /* a large folio on any other transform: the Python flow (its batches) */
        ret = Py_NewRef(Py_NotImplemented);
        goto out;
    }
    if (memcg) {
        int admitted = memcg_admit(memcg, &charged, &charged_id);
        if (admitted <= 0) {
            /* nothing done yet: the Python flow decides, and raises a bad memcg's error */
            PyErr_Clear();
            ret = Py_NewRef(Py_NotImplemented);
            goto out;
        }
    }
    int full = check_limits(self);
    if (full < 0)
        goto out;
    if (full) {
        ret = fail_store(self, s_store_failed, NULL, args, nr_obj);
        goto out;
    }
    /* zswap_pool_current_get: one reference for the entry, on the pool that is current
     * under the lock (a switch may have killed the one seen above: then decline) */
    if (lk_acquire(self->lock) < 0)
        goto out;
    if (PyList_GET_SIZE(self->pools) == 0 || PyList_GET_ITEM(self->pools, 0) != pool) {
        if (lk_release(self->lock) == 0)
            ret = Py_NewRef(Py_NotImplemented);
        goto out;
    }
    long long ref = pool_ref_add(pool, nr);
    if (lk_release(self->lock) < 0 || ref < 0)
        goto out;
    if (nr > 1) {
        handles = PyMem_Malloc((size_t)nr * sizeof(*handles));
        lens = PyMem_Malloc((size_t)nr * sizeof(*lens));
        if (!handles || !lens) {
            PyErr_NoMemory();
            goto undo;
        }
    }
    /* 4. Compress on this CPU's context and allocate (zswap_compress), page by page, the
     * context locked per batch. */
    struct zs_pool *zp = c->zp;
    int stored = 0, err = 0;
    for (int start = 0; start < nr && !err; start += ZSWAP_MAX_BATCH_SIZE) {
        int end = start + ZSWAP_MAX_BATCH_SIZE < nr ? start + ZSWAP_MAX_BATCH_SIZE : nr;
        if (lk_acquire(c->mutex) < 0)
            goto undo_free;
        for (int i = start; i < end; i++) {
            const char *pg = page_buf + (size_t)i * PAGE_SIZE;
            long dlen = ctx_compress(c, page, pg);
            if (dlen < 0) {
                lk_release_keep_error(c->mutex);
                goto undo_free;
            }
            const void *src = PyByteArray_AS_STRING(c->buffer);
            if (!(dlen > 0 && dlen < PAGE_SIZE)) {
                src = pg;
                dlen = PAGE_SIZE;
            }
            zs_lock_gil(zp);
            err = zs_malloc_write_locked(zp, src, (unsigned)dlen, &handles[i]);
            zs_unlock(zp);
            if (err)
                break;
            lens[i] = (unsigned)dlen;
            stored++;
        }
        if (lk_release(c->mutex) < 0)
            goto undo_free;
    }
    if (self->closed) {
        /* Zswap.close() ran while this store compressed: its pools are destroyed */
        zs_free_many(zp, NULL, handles, stored);
        PyErr_SetString(pyz_ZswapError, "this Zswap was closed during the store: nothing was "
                                        "stored");
        goto out;
    }
    if (err) { /* all or nothing: the folio's other objects go too */
        zs_free_many(zp, NULL, handles, stored);
        stored = 0;
        if (lk_acquire(self->lock) < 0)
            goto undo;
        if (err == -ENOSPC)
            self->reject_compress_poor++;
        else
            self->reject_alloc_fail++;
        if (lk_release(self->lock) < 0)
            goto undo;
        ret = fail_store(self, s_store_undo, pool, args, nr_obj);
        goto out;
    }
    /* 5. Publish: the entries in the tree and at their LRU tail; older entries go. */
    int done = publish_entries(self, (int)type, (uint64_t)off, pool_id, handles, lens, nr, 1,
                               charged, charged_id);
    if (done == 0) {
        /* out of memory for the table: the objects go, the store is undone */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        zs_free_many(zp, NULL, handles, nr);
        PyErr_Restore(et, ev, tb);
        goto undo;
    }
    if (done < nr) /* the table failed part-way (an exception is set, as _publish raises) */
        zs_free_many(zp, NULL, handles + done, nr - done);
    if (PyErr_Occurred() || flush_releases(self) < 0)
        goto out; /* the entries are in; freeing an older one failed */
    ret = Py_NewRef(Py_True);
    goto out;
undo_free: {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        zs_free_many(zp, NULL, handles, stored);
        PyErr_Restore(et, ev, tb);
    }
undo: {
        /* the Python flow's _store_undo: the reference back, the slot erased (nothing to give
         * back once Zswap.close() destroyed the pools) */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyObject *r = self->closed ? Py_NewRef(Py_None)
                                   : PyObject_CallMethodObjArgs(self->zswap, s_store_undo, pool,
                                                                args[1], args[2], nr_obj, NULL);
        Py_XDECREF(r);
        if (r || !et)
            PyErr_Restore(et, ev, tb);
        else {
            Py_XDECREF(et);
            Py_XDECREF(ev);
            Py_XDECREF(tb);
        }
    }
out:
    if (handles != &handle1)
        PyMem_Free(handles);
    if (lens != &len1)
        PyMem_Free(lens);
    Py_XDECREF(nr_obj);
    Py_XDECREF(charged);
    unpin(c);
    return ret;
}

/* ---------------------------------------------------------------- load ------------------- */

static PyObject *load_checked(ZswapFastObject *self, EntryTableObject *t, PyObject *out,
                              Py_buffer *vp, long type, long long off);

/* load_page(out, type, offset) -> True / False / NotImplemented (swapcache=True only) */
static PyObject *fp_load_page(ZswapFastObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "load_page(out, type, offset)");
        return NULL;
    }
    if (!self->ready)
        return pyz_err_uninit("ZswapFast");
    if (!self->zswap || self->closed)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *out = args[0];
    long type;
    long long off;
    if (!slot_args(self, args, &type, &off))
        Py_RETURN_NOTIMPLEMENTED;
    EntryTableObject *t = self->table;
    Py_buffer view;
    if (PyObject_GetBuffer(out, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *ret = NULL;
    if (view.len != PAGE_SIZE) {
        ret = Py_NewRef(Py_NotImplemented);
        goto release_view;
    }
    if (et_slots_begin(t, (unsigned)type, (uint64_t)off, 1) < 0)
        goto release_view; /* SlotBusy */
    self->active++;
    ret = load_checked(self, t, out, &view, type, off);
    et_slots_end(t, (unsigned)type, (uint64_t)off, 1);
    fp_leave(self);
release_view:
    PyBuffer_Release(&view);
    return ret;
}

/* load_page's steps once its slot is marked busy: True, False or NotImplemented. */
static PyObject *load_checked(ZswapFastObject *self, EntryTableObject *t, PyObject *out,
                              Py_buffer *vp, long type, long long off)
{
    struct {
        void *buf;
    } view = {vp->buf}; /* the caller holds the buffer */
    PyObject *ret = NULL;
    uint32_t id = et_lookup(t, (unsigned)type, (uint64_t)off);
    if (!id) {
        ret = Py_NewRef(Py_False);
        goto release_view;
    }
    struct et_rec *r = et_rec(t, id);
    /* a snapshot of the entry: the record may be freed and reused while locks are dropped */
    struct et_rec e = *r;
    PyObject *key = PyLong_FromUnsignedLong(e.pool_id);
    if (!key)
        goto release_view;
    PyObject *pool = PyDict_GetItemWithError(self->pool_ids, key);
    Py_DECREF(key);
    if (!pool) {
        if (!PyErr_Occurred())
            ret = Py_NewRef(Py_NotImplemented);
        goto release_view;
    }
    struct pinned pin_, *c = &pin_;
    int ok = pin(self, pool, e.pool_id, c);
    if (ok <= 0) {
        if (ok == 0)
            ret = Py_NewRef(Py_NotImplemented);
        goto release_view;
    }
    pool = c->pool;
    /* zswap_decompress on this CPU's context */
    if (lk_acquire(c->mutex) < 0)
        goto release_pool;
    struct zs_pool *zp = c->zp;
    long dlen = -1;
    int failed_call = 0;
    zs_lock_gil(zp);
    unsigned size;
    unsigned char *obj = zs_obj_ptr_locked(zp, e.handle, &size);
    if (!obj) {
        zs_unlock(zp);
        lk_release(c->mutex);
        /* freed under us (a racing invalidate): the Python flow reports it */
        ret = Py_NewRef(Py_NotImplemented);
        goto release_pool;
    }
    /* copy the object out: no Python code runs under the zsmalloc mutex (zsmalloc.h) */
    unsigned char copy[PAGE_SIZE];
    unsigned clen = e.length <= size ? e.length : size;
    memcpy(e.length == PAGE_SIZE ? (unsigned char *)view.buf : copy, obj, clen);
    zs_unlock(zp);
    if (e.length == PAGE_SIZE) {
        dlen = PAGE_SIZE;
    } else if (c->codec) {
        int r;
        Py_BEGIN_ALLOW_THREADS
        r = pyz_codec_decompress(c->codec, copy, (int)clen, view.buf, PAGE_SIZE);
        Py_END_ALLOW_THREADS
        dlen = r < 0 ? -1 : r;
    } else {
        PyObject *src = PyMemoryView_FromMemory((char *)copy, clen, PyBUF_READ);
        PyObject *res = src ? PyObject_Vectorcall(c->decompress, (PyObject *[]){src, out}, 2,
                                                  NULL)
                            : NULL;
        if (src && Py_REFCNT(src) > 1) { /* kept by the codec: cut it off the stack copy */
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            PyObject *r = PyObject_CallMethod(src, "release", NULL);
            Py_XDECREF(r);
            PyErr_Clear();
            PyErr_Restore(et, ev, tb);
        }
        Py_XDECREF(src);
        if (res) {
            dlen = PyLong_AsLong(res);
            Py_DECREF(res);
            if (dlen == -1 && PyErr_Occurred())
                failed_call = 1;
        } else if (PyErr_ExceptionMatches(pyz_DecompressFail)) {
            PyErr_Clear();
            dlen = -1;
        } else {
            failed_call = 1;
        }
    }
    if (failed_call) {
        lk_release_keep_error(c->mutex);
        goto release_pool;
    }
    if (lk_release(c->mutex) < 0)
        goto release_pool;
    if (lk_acquire(self->lock) < 0)
        goto release_pool;
    if (self->closed) {
        /* Zswap.close() ran while this load decompressed: report it, as the Python flow does */
        lk_release(self->lock);
        if (pyz_load_zswap_errors() == 0)
            PyErr_SetString(pyz_ZswapError, "this Zswap was closed during the load");
        goto release_pool;
    }
    if (dlen != PAGE_SIZE) {
        self->decompress_fail++;
        lk_release(self->lock);
        PyObject *name = PyObject_GetAttr(pool, s_tfm_name);
        if (name) {
            PyErr_Format(pyz_DecompressFail,
                         "zswap: decompressing %ld:%lld with %S failed (got %ld bytes); the "
                         "entry is kept", type, off, name, dlen);
            Py_DECREF(name);
        }
        goto release_pool;
    }
    /* zswpin (and the memcg's event); the folio is in the swap cache: erase the entry and
     * free it (zswap_entry_free: uncharge, zsmalloc object, pool reference, counters) */
    self->zswpin++;
    self->fast_loads++;
    int err = 0;
    PyObject *memcg = NULL;
    if (e.objcg >= 0) {
        PyObject *objcg = PyLong_FromLong(e.objcg);
        memcg = objcg ? PyObject_CallMethodOneArg(self->zswap, s_objcg_memcg, objcg) : NULL;
        Py_XDECREF(objcg);
        if (drop_result(memcg ? PyObject_CallMethodOneArg(memcg, s_count_event, s_zswpin)
                              : NULL) < 0)
            err = 1;
    }
    uint32_t now = err ? 0 : et_lookup(t, (unsigned)type, (uint64_t)off);
    if (now) {
        struct et_rec *n = et_rec(t, now);
        if (n->handle == e.handle && n->pool_id == e.pool_id && n->length == e.length &&
            n->objcg == e.objcg) {
            et_erase(t, now);
            et_release(t, now);
            if (memcg && call_with_count(memcg, s_uncharge_zswap, e.length) < 0)
                err = 1;
            zs_lock_gil(zp);
            zs_free_locked(zp, e.handle);
            zs_unlock(zp);
            long long ref = pool_ref_add(pool, -1);
            if (ref < 0)
                err = 1;
            else if (ref == 0 && PyList_Append(self->release_pending, pool) < 0)
                err = 1;
            self->stored_pages--;
            if (e.length == PAGE_SIZE)
                self->stored_incompressible_pages--;
        }
    }
    Py_XDECREF(memcg);
    if (err) {
        lk_release_keep_error(self->lock);
        goto release_pool;
    }
    if (lk_release(self->lock) < 0 || flush_releases(self) < 0)
        goto release_pool;
    ret = Py_NewRef(Py_True);
release_pool:
    unpin(c);
release_view:
    return ret;
}

/* ---------------------------------------------------------------- stream consumer -------- */

/* Write a folio's C pending list into its Python ``pending`` list (for _stream_fail). */
static int sync_pending(PyObject *f, uint32_t *handles, unsigned *lens, int n)
{
    PyObject *pending = PyObject_GetAttr(f, s_pending);
    if (!pending)
        return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        PyObject *t = Py_BuildValue("(II)", handles[i], lens[i]);
        rc = t ? PyList_Append(pending, t) : -1;
        Py_XDECREF(t);
    }
    Py_DECREF(pending);
    return rc;
}

/* stream_consume(take, error, pages, ring, folios, pool, batch): Zswap._store_stream's
 * per-page loop. For each page in order: take the engines' result, put it in zsmalloc and,
 * once a batch (or the folio) is complete, publish the folio's entries. Pages of a folio
 * that failed are skipped. Folios with a memcg, results that are not a plain compressed
 * length, and a zsmalloc subclass go through the Python methods (_zs_store, _publish). */
static PyObject *stream_consume(ZswapFastObject *self, PyObject *const *args);

static PyObject *fp_stream_consume(ZswapFastObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (fp_check_bound(self) < 0)
        return NULL;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError,
                        "stream_consume(take, error, pages, ring, folios, pool, batch)");
        return NULL;
    }
    self->active++;
    PyObject *r = stream_consume(self, args);
    fp_leave(self);
    return r;
}

/* stream_consume's loop (the object counted active). */
static PyObject *stream_consume(ZswapFastObject *self, PyObject *const *args)
{
    PyObject *take = args[0], *error = args[1], *pages = args[2], *ring = args[3],
             *folios = args[4], *pool = args[5];
    int batch = PyLong_AsLong(args[6]);
    if (batch == -1 && PyErr_Occurred())
        return NULL;
    if (!PyList_Check(pages) || !PyList_Check(ring) || !PyList_Check(folios) || batch < 1 ||
        batch > 64 || PyList_GET_SIZE(ring) < 1) {
        PyErr_SetString(PyExc_TypeError, "stream_consume: lists and 1 <= batch <= 64");
        return NULL;
    }
    Py_ssize_t nslots = PyList_GET_SIZE(ring);
    PyObject *zs = PyObject_GetAttr(pool, s_zs_pool);
    PyObject *id_obj = zs ? PyObject_GetAttr(pool, s_id) : NULL;
    if (!id_obj) {
        Py_XDECREF(zs);
        return NULL;
    }
    uint32_t pool_id = (uint32_t)PyLong_AsUnsignedLong(id_obj);
    Py_DECREF(id_obj);
    int direct = pyz_zspool_is_exact(zs);
    struct zs_pool *zp = direct ? pyz_zspool_pool(zs) : NULL;
    if (direct && !zp) {
        Py_DECREF(zs);
        return NULL;
    }
    uint32_t handles[64];
    unsigned lens[64];
    Py_ssize_t k = 0;
    PyObject *f = NULL, *charged = NULL, *wb = NULL;
    for (Py_ssize_t fi = 0; fi < PyList_GET_SIZE(folios); fi++) {
        f = PyList_GET_ITEM(folios, fi);
        long nr, type, published;
        long long offset;
        PyObject *v;
#define GETL(dst, name, conv) \
        if (!(v = PyObject_GetAttr(f, name))) goto error; \
        dst = conv(v); Py_DECREF(v); if (PyErr_Occurred()) goto error;
        GETL(nr, s_nr, PyLong_AsLong);
        GETL(type, s_swp_type, PyLong_AsLong);
        GETL(offset, s_offset, PyLong_AsLongLong);
        GETL(published, s_published, PyLong_AsLong);
#undef GETL
        if (!(charged = PyObject_GetAttr(f, s_charged)) ||
            !(wb = PyObject_GetAttr(f, s_wb_enabled)))
            goto error;
        v = PyObject_GetAttr(f, s_failed);
        if (!v)
            goto error;
        int failed = PyObject_IsTrue(v);
        Py_DECREF(v);
        int n = 0; /* pending in C */
        for (long i = 0; i < nr; i++, k++) {
            PyObject *kobj = PyLong_FromSsize_t(k);
            PyObject *codeobj = kobj ? PyObject_Vectorcall(take, &kobj, 1, NULL) : NULL;
            Py_XDECREF(kobj);
            if (!codeobj)
                goto error_f;
            long code = PyLong_AsLong(codeobj);
            if (code == -1 && PyErr_Occurred()) {
                Py_DECREF(codeobj);
                goto error_f;
            }
            if (failed) {
                Py_DECREF(codeobj);
                continue;
            }
            PyObject *buf = PyList_GET_ITEM(ring, k % nslots);
            int rc = 1; /* 1: not done here */
            if (direct && code > 0 && code < PAGE_SIZE && PyByteArray_Check(buf) &&
                PyByteArray_GET_SIZE(buf) >= code) {
                zs_lock_gil(zp);
                rc = zs_malloc_write_locked(zp, PyByteArray_AS_STRING(buf), (unsigned)code,
                                            &handles[n]);
                zs_unlock(zp);
                if (rc == 0)
                    lens[n++] = (unsigned)code;
            }
            if (rc != 0) {
                /* the Python flow: as-is storage, rejections, errors, counters */
                PyObject *result = code > 0 ? Py_NewRef(codeobj)
                                            : PyObject_CallOneArg(error, codeobj);
                PyObject *page = result ? PyList_GET_ITEM(pages, k) : NULL;
                PyObject *item = result ? PyObject_CallMethodObjArgs(
                                              self->zswap, s_zs_store, page, buf, result, pool,
                                              wb, NULL)
                                        : NULL;
                Py_XDECREF(result);
                if (!item) {
                    Py_DECREF(codeobj);
                    if (!PyErr_ExceptionMatches(self_store_rejected))
                        goto error_f;
                    PyErr_Clear();
                    /* this page failed its folio: hand the pending objects to _stream_fail */
                    if (sync_pending(f, handles, lens, n) < 0)
                        goto error;
                    n = 0;
                    if (set_int_attr(f, s_published, published) < 0)
                        goto error;
                    PyObject *r = PyObject_CallMethodObjArgs(self->zswap, s_stream_fail, f, pool,
                                                             NULL);
                    if (!r)
                        goto error;
                    Py_DECREF(r);
                    failed = 1;
                    continue;
                }
                unsigned long hh, ll;
                if (!PyArg_ParseTuple(item, "kk", &hh, &ll)) {
                    Py_DECREF(item);
                    Py_DECREF(codeobj);
                    goto error_f;
                }
                Py_DECREF(item);
                handles[n] = (uint32_t)hh;
                lens[n++] = (unsigned)ll;
            }
            Py_DECREF(codeobj);
            if (n == batch || i == nr - 1) {
                uint64_t at = (uint64_t)(offset + published);
                if (charged == Py_None) {
                    int done = publish_entries(self, (int)type, at, pool_id, handles, lens,
                                               n, 0, NULL, -1);
                    if (done < n || PyErr_Occurred()) {
                        /* the entries in the table count as published; the rest are freed,
                         * and _stream_fail then undoes the folio */
                        zs_free_many(zp, zs, handles + done, n - done);
                        published += done;
                        n = 0;
                        goto error_f;
                    }
                } else {
                    PyObject *stored = PyList_New(n);
                    for (int j = 0; stored && j < n; j++) {
                        PyObject *t = Py_BuildValue("(II)", handles[j], lens[j]);
                        if (!t) {
                            Py_CLEAR(stored);
                            break;
                        }
                        PyList_SET_ITEM(stored, j, t);
                    }
                    if (!stored)
                        goto error_f;
                    PyObject *meth = PyObject_GetAttr(self->zswap, s_publish);
                    PyObject *a = meth ? Py_BuildValue("(lLOOO)", type, (long long)at, stored,
                                                       pool, charged)
                                       : NULL;
                    PyObject *kw = a ? Py_BuildValue("{s:O,s:O}", "count_out", Py_False,
                                                     "flush", Py_False)
                                     : NULL;
                    PyObject *r = kw ? PyObject_Call(meth, a, kw) : NULL;
                    Py_XDECREF(meth);
                    Py_XDECREF(a);
                    Py_XDECREF(kw);
                    Py_DECREF(stored);
                    if (!r) {
                        n = 0;
                        goto error_f;
                    }
                    Py_DECREF(r);
                }
                published += n;
                n = 0;
            }
        }
        if (set_int_attr(f, s_published, published) < 0)
            goto error;
        Py_CLEAR(charged);
        Py_CLEAR(wb);
        continue;
error_f:
        /* leave the folio's state where the Python error path expects it */
        {
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            sync_pending(f, handles, lens, n);
            set_int_attr(f, s_published, published);
            PyErr_Clear();
            PyErr_Restore(et, ev, tb);
        }
        goto error;
    }
    Py_DECREF(zs);
    Py_RETURN_NONE;
error:
    Py_XDECREF(charged);
    Py_XDECREF(wb);
    Py_DECREF(zs);
    return NULL;
}

/* ---------------------------------------------------------------- Python glue ------------ */

static PyObject *fp_bind(ZswapFastObject *self, PyObject *args)
{
    PyObject *zswap, *table, *lock, *pools, *pool_ids, *pending, *cpus;
    if (!self->ready)
        return pyz_err_uninit("ZswapFast");
    if (!PyArg_ParseTuple(args, "OO!OO!O!O!O:bind", &zswap, &EntryTableType, &table,
                          &lock, &PyList_Type, &pools, &PyDict_Type, &pool_ids, &PyList_Type,
                          &pending, &cpus))
        return NULL;
    if (self->zswap || self->closed) {
        PyErr_SetString(PyExc_RuntimeError, self->closed ? "ZswapFast.bind after unbind"
                                                         : "ZswapFast.bind called twice");
        return NULL;
    }
    if (!((EntryTableObject *)table)->entry_type)
        return pyz_err_uninit("EntryTable");
    PyObject *local = PyObject_GetAttrString(cpus, "local");
    PyObject *online = local ? PyObject_GetAttrString(cpus, "online") : NULL;
    if (!online || !PyList_Check(online)) {
        Py_XDECREF(local);
        Py_XDECREF(online);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "bind: cpus.online must be a list");
        return NULL;
    }
    PyObject *owner = PyWeakref_NewRef(zswap, NULL);
    if (!owner) {
        Py_DECREF(local);
        Py_DECREF(online);
        return NULL;
    }
    Py_XSETREF(self->owner, owner);
    Py_XSETREF(self->zswap, Py_NewRef(zswap));
    Py_XSETREF(self->table, (EntryTableObject *)Py_NewRef(table));
    Py_XSETREF(self->lock, Py_NewRef(lock));
    if (!self_store_rejected) {
        PyObject *m = PyImport_ImportModule("pyzswap.zswap");
        self_store_rejected = m ? PyObject_GetAttrString(m, "_StoreRejected") : NULL;
        Py_XDECREF(m);
        if (!self_store_rejected)
            return NULL;
    }
    Py_XSETREF(self->pools, Py_NewRef(pools));
    Py_XSETREF(self->pool_ids, Py_NewRef(pool_ids));
    Py_XSETREF(self->release_pending, Py_NewRef(pending));
    Py_XSETREF(self->cpus, Py_NewRef(cpus));
    Py_XSETREF(self->cpus_local, local);
    Py_XSETREF(self->cpus_online, online);
    Py_RETURN_NONE;
}

static PyObject *fp_forget(ZswapFastObject *self, PyObject *pool)
{
    if (!self->ready)
        return pyz_err_uninit("ZswapFast");
    for (int i = 0; i < NR_SLOTS; i++)
        if (self->slots[i].pool == pool)
            pool_slot_clear(&self->slots[i]);
    Py_RETURN_NONE;
}

static int fp_clear(ZswapFastObject *self);

/* unbind(): Zswap.close(). From now on nothing is published or erased (an active call
 * notices under zswap's lock), and every reference (the Zswap, its pools, the cache) is
 * dropped as soon as no call is active, which also breaks the Zswap <-> ZswapFast reference
 * cycle. The counters stay readable. */
static PyObject *fp_unbind(ZswapFastObject *self, PyObject *unused)
{
    if (!self->ready)
        return pyz_err_uninit("ZswapFast");
    self->closed = 1;
    if (!self->active)
        fp_release_refs(self);
    Py_RETURN_NONE;
}

/*
 * admit_batch(folios, spec) -> [spec(folio, 1, type, offset, None, True), ...] or
 * NotImplemented: steps 1-2 of store_batch (_check_folio, _admit) for a reclaim batch in one
 * call, when every folio is one 4 KiB page (bytes, or a 1-D byte memoryview) at a valid slot
 * and no memcg is charged. It declines, before any side effect, when zswap is disabled, a
 * folio is anything else, or the pool is (still) full: then the Python steps run per folio
 * and raise, count or fail exactly as before. Admitting all at once is what the per-folio
 * checks would do: with the pool below its limit, the first zswap_check_limits() may clear
 * the hysteresis bit and every later one finds the same pool and returns "not full" too.
 */
static PyObject *admit_batch(ZswapFastObject *self, PyObject *const *args);

static PyObject *fp_admit_batch(ZswapFastObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "admit_batch(folios, spec)");
        return NULL;
    }
    if (fp_check_bound(self) < 0)
        return NULL;
    PyObject *folios = args[0];
    if (!self->enabled || !PyList_CheckExact(folios))
        Py_RETURN_NOTIMPLEMENTED;
    self->active++;
    PyObject *r = admit_batch(self, args);
    fp_leave(self);
    return r;
}

/* admit_batch's steps (the object counted active). */
static PyObject *admit_batch(ZswapFastObject *self, PyObject *const *args)
{
    PyObject *folios = args[0], *spec = args[1];
    Py_ssize_t n = PyList_GET_SIZE(folios);
    if (n == 0) /* nothing to check or admit (the Python steps check no limit either) */
        Py_RETURN_NOTIMPLEMENTED;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *item = PyList_GET_ITEM(folios, k);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 3)
            Py_RETURN_NOTIMPLEMENTED;
        PyObject *folio = PyTuple_GET_ITEM(item, 0);
        /* bytes or a memoryview, which _check_folio passes on as they are (it would wrap
         * any other buffer in a new memoryview) */
        if (!PyBytes_CheckExact(folio) && !PyMemoryView_Check(folio))
            Py_RETURN_NOTIMPLEMENTED;
        Py_buffer v;
        const char *buf;
        Py_ssize_t size;
        if (!folio_bytes(folio, &v, &buf, &size))
            Py_RETURN_NOTIMPLEMENTED;
        if (v.obj)
            PyBuffer_Release(&v);
        if (size != PAGE_SIZE)
            Py_RETURN_NOTIMPLEMENTED;
        PyObject *slot[3] = {folio, PyTuple_GET_ITEM(item, 1), PyTuple_GET_ITEM(item, 2)};
        long type;
        long long off;
        if (!slot_args(self, slot, &type, &off))
            Py_RETURN_NOTIMPLEMENTED; /* the Python flow raises the error */
    }
    if (self->max_pages >= 0) {
        long long cur = total_pages(self);
        if (cur < 0)
            return NULL;
        if (cur >= self->max_pages || (self->reached_full && cur > self->thr_pages))
            Py_RETURN_NOTIMPLEMENTED; /* full: the Python flow counts it per folio */
        if (check_limits(self) != 0) /* clears the hysteresis bit if it was set */
            return NULL;
    }
    PyObject *specs = PyList_New(n);
    if (!specs)
        return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *item = PyList_GET_ITEM(folios, k);
        PyObject *argv[6] = {PyTuple_GET_ITEM(item, 0), ONE, PyTuple_GET_ITEM(item, 1),
                             PyTuple_GET_ITEM(item, 2), Py_None, Py_True};
        PyObject *f = PyObject_Vectorcall(spec, argv, 6, NULL);
        if (!f) {
            Py_DECREF(specs);
            return NULL;
        }
        PyList_SET_ITEM(specs, k, f);
    }
    return specs;
}

static PyObject *fp_check_limits(ZswapFastObject *self, PyObject *unused)
{
    if (!self->ready)
        return pyz_err_uninit("ZswapFast");
    self->active++;
    int full = check_limits(self);
    fp_leave(self);
    if (full < 0)
        return NULL;
    return PyBool_FromLong(full);
}

static int fp_init(ZswapFastObject *self, PyObject *args, PyObject *kw)
{
    if (!_PyArg_NoKeywords("ZswapFast", kw) || !PyArg_ParseTuple(args, ":ZswapFast"))
        return -1;
    if (self->ready)
        return pyz_err_init_twice("ZswapFast");
    if (init_names() < 0 || pyz_load_zswap_errors() < 0)
        return -1;
    self->max_pages = self->thr_pages = -1;
    self->enabled = 1;
    self->ready = 1;
    return 0;
}

static int fp_traverse(ZswapFastObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->zswap);
    Py_VISIT(self->table);
    Py_VISIT(self->lock);
    Py_VISIT(self->pools);
    Py_VISIT(self->pool_ids);
    Py_VISIT(self->release_pending);
    Py_VISIT(self->cpus);
    Py_VISIT(self->cpus_local);
    Py_VISIT(self->cpus_online);
    for (int i = 0; i < NR_SLOTS; i++) {
        struct pool_slot *s = &self->slots[i];
        Py_VISIT(s->pool);
        Py_VISIT(s->zs);
        Py_VISIT(s->acomp_ctx);
        for (Py_ssize_t k = 0; s->cpu && k < s->nr_cpus; k++) {
            Py_VISIT(s->cpu[k].mutex);
            Py_VISIT(s->cpu[k].buffer);
            Py_VISIT(s->cpu[k].compress);
            Py_VISIT(s->cpu[k].decompress);
        }
    }
    return 0;
}

static int fp_clear(ZswapFastObject *self)
{
    fp_release_refs(self);
    return 0;
}

static void fp_release_refs(ZswapFastObject *self)
{
    for (int i = 0; i < NR_SLOTS; i++)
        pool_slot_clear(&self->slots[i]);
    Py_CLEAR(self->zswap);
    Py_CLEAR(self->table);
    Py_CLEAR(self->lock);
    Py_CLEAR(self->pools);
    Py_CLEAR(self->pool_ids);
    Py_CLEAR(self->release_pending);
    Py_CLEAR(self->cpus);
    Py_CLEAR(self->cpus_local);
    Py_CLEAR(self->cpus_online);
}

static void fp_dealloc(ZswapFastObject *self)
{
    PyObject_GC_UnTrack(self);
    fp_clear(self);
    Py_CLEAR(self->owner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define COUNTER(name, doc) {#name, T_LONGLONG, offsetof(ZswapFastObject, name), 0, doc}
static PyMemberDef fp_members[] = {
    COUNTER(pool_limit_hit, "debugfs pool_limit_hit"),
    COUNTER(reject_reclaim_fail, "debugfs reject_reclaim_fail"),
    COUNTER(reject_alloc_fail, "debugfs reject_alloc_fail"),
    COUNTER(reject_kmemcache_fail, "debugfs reject_kmemcache_fail"),
    COUNTER(reject_compress_fail, "debugfs reject_compress_fail"),
    COUNTER(reject_compress_poor, "debugfs reject_compress_poor"),
    COUNTER(decompress_fail, "debugfs decompress_fail"),
    COUNTER(written_back_pages, "debugfs written_back_pages"),
    COUNTER(stored_pages, "debugfs stored_pages"),
    COUNTER(stored_incompressible_pages, "debugfs stored_incompressible_pages"),
    COUNTER(zswpin, "vmstat zswpin"),
    COUNTER(zswpout, "vmstat zswpout"),
    COUNTER(zswpwb, "vmstat zswpwb"),
    COUNTER(max_pages, "the global limit in pages; -1: none"),
    COUNTER(thr_pages, "accept threshold in pages; -1: none"),
    COUNTER(fast_stores, "pages stored by the C fast path (not a kernel statistic)"),
    COUNTER(fast_loads, "pages loaded by the C fast path (not a kernel statistic)"),
    {"reached_full", T_BOOL, offsetof(ZswapFastObject, reached_full), 0,
     "the pool hit the limit and has not yet gone below the threshold"},
    {"enabled", T_BOOL, offsetof(ZswapFastObject, enabled), 0, "the enabled parameter"},
    {NULL},
};
#undef COUNTER

/* The Zswap's Python flow `name` (its _store_flow / _load_flow) called with these arguments. */
static PyObject *call_flow(ZswapFastObject *self, PyObject *name, PyObject *const *args,
                           Py_ssize_t nargs, PyObject *kwnames)
{
    if (!self->ready)
        return pyz_err_uninit("ZswapFast");
    if (!self->owner) {
        PyErr_SetString(PyExc_RuntimeError, "ZswapFast is not bound to a Zswap");
        return NULL;
    }
    PyObject *zswap = PyWeakref_GetObject(self->owner);
    if (!zswap)
        return NULL;
    if (zswap == Py_None) {
        PyErr_SetString(PyExc_ReferenceError, "the Zswap instance of this method is gone");
        return NULL;
    }
    Py_INCREF(zswap);
    PyObject *flow = PyObject_GetAttr(zswap, name);
    Py_DECREF(zswap);
    if (!flow)
        return NULL;
    PyObject *r = PyObject_Vectorcall(flow, args, (size_t)nargs, kwnames);
    Py_DECREF(flow);
    return r;
}

/* store(folio, swp_type, offset, memcg=None): Zswap.store for one instance (Zswap.__init__
 * puts it in the instance's __dict__, so a store is one C call, with no Python frame): the
 * fast path, or else the Python flow, Zswap._store_flow (always for keyword arguments). */
static PyObject *fp_store(ZswapFastObject *self, PyObject *const *args, size_t nargsf,
                          PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!kwnames && (nargs == 3 || nargs == 4)) {
        PyObject *r = fp_store_page(self, args, nargs);
        if (r != Py_NotImplemented)
            return r;
        Py_DECREF(r);
    }
    return call_flow(self, s_store_flow, args, nargs, kwnames);
}

/* load(out, swp_type, offset, *, swapcache=True): Zswap.load for one instance, the same way;
 * Zswap._load_flow for everything the fast path declines. */
static PyObject *fp_load(ZswapFastObject *self, PyObject *const *args, size_t nargsf,
                         PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!kwnames && nargs == 3) {
        PyObject *r = fp_load_page(self, args, nargs);
        if (r != Py_NotImplemented)
            return r;
        Py_DECREF(r);
    }
    return call_flow(self, s_load_flow, args, nargs, kwnames);
}

static PyMethodDef fp_methods[] = {
    {"store", (PyCFunction)(void (*)(void))fp_store, METH_FASTCALL | METH_KEYWORDS,
     "store(folio, swp_type, offset, memcg=None): Zswap.store (fast path, else the Python "
     "flow)"},
    {"load", (PyCFunction)(void (*)(void))fp_load, METH_FASTCALL | METH_KEYWORDS,
     "load(out, swp_type, offset, *, swapcache=True): Zswap.load (fast path, else the Python "
     "flow)"},
    {"bind", (PyCFunction)fp_bind, METH_VARARGS,
     "bind(zswap, table, lock, pools, pool_ids, release_pending, cpus)"},
    {"store_page", (PyCFunction)(void (*)(void))fp_store_page, METH_FASTCALL,
     "store_page(page, type, offset) -> True, False, or NotImplemented (use the Python flow)"},
    {"load_page", (PyCFunction)(void (*)(void))fp_load_page, METH_FASTCALL,
     "load_page(out, type, offset) -> True, False, or NotImplemented (use the Python flow)"},
    {"forget", (PyCFunction)fp_forget, METH_O, "forget(pool): drop it from the cache"},
    {"unbind", (PyCFunction)fp_unbind, METH_NOARGS, "unbind(): drop all references"},
    {"stream_consume", (PyCFunction)(void (*)(void))fp_stream_consume, METH_FASTCALL,
     "stream_consume(take, error, pages, ring, folios, pool, batch): _store_stream's loop"},
    {"check_limits", (PyCFunction)fp_check_limits, METH_NOARGS, "zswap_check_limits()"},
    {"admit_batch", (PyCFunction)(void (*)(void))fp_admit_batch, METH_FASTCALL,
     "admit_batch(folios, spec) -> [spec, ...] or NotImplemented: store_batch's steps 1-2"},
    {NULL},
};

PyTypeObject ZswapFastType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.ZswapFast",
    .tp_basicsize = sizeof(ZswapFastObject),
    .tp_dealloc = (destructor)fp_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A Zswap's counters and limit state, and its store/load fast paths.",
    .tp_traverse = (traverseproc)fp_traverse,
    .tp_clear = (inquiry)fp_clear,
    .tp_methods = fp_methods,
    .tp_members = fp_members,
    .tp_init = (initproc)fp_init,
    .tp_new = PyType_GenericNew,
};

int pyz_fastpath_add_types(PyObject *module)
{
    if (PyType_Ready(&ZswapFastType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "ZswapFast", (PyObject *)&ZswapFastType);
}
