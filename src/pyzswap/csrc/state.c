/* pyzswap._native.ZswapState: zswap's accounting, in one place (see state.h). */
#include "state.h"

#include "consts.h"
#include "lifecycle.h"
#include "lock.h"
#include "slotattr.h"
#include "zsmalloc_py.h"

#include <structmember.h>

static const char *const stat_names[NR_STATS] = {
    "pool_limit_hit", "reject_reclaim_fail", "reject_alloc_fail", "reject_kmemcache_fail",
    "reject_compress_fail", "reject_compress_poor", "decompress_fail", "written_back_pages",
    "stored_pages", "stored_incompressible_pages", "zswpin", "zswpout", "zswpwb",
    "invalidated_pages", "ctx_use_after_free",
};

/* The counters a flow bumps by name with count(); the others change only through the
 * operations (publish, the frees, loaded, written_back, stored, check_limits). */
static const int countable[NR_STATS] = {
    [STAT_REJECT_RECLAIM_FAIL] = 1, [STAT_REJECT_ALLOC_FAIL] = 1,
    [STAT_REJECT_KMEMCACHE_FAIL] = 1, [STAT_REJECT_COMPRESS_FAIL] = 1,
    [STAT_REJECT_COMPRESS_POOR] = 1, [STAT_DECOMPRESS_FAIL] = 1,
    [STAT_WRITTEN_BACK_PAGES] = 1, [STAT_CTX_USE_AFTER_FREE] = 1,
};

static const char *const lifetime_names[NR_LIFETIMES] = {
    "pool", "lock-retry", "naive", "global-max", "global-one", "percpu-shared",
};

static PyObject *s_charge_zswap, *s_uncharge_zswap, *s_count_event, *s_zswpin, *s_zswpout,
    *s_zswpwb, *s_id, *s_percpu_ref, *s_acomp_ctx, *s_lifetime, *s_compr_batch_size,
    *s_tfm_name, *s_zs_pool, *s_compressor, *s_pages_allocated, *s_free, *s_streams;
static PyObject *InvalidParameter;
/* count_event's names, by enum MEMCG_* */
static PyObject **const event_names[NR_MEMCG_EVENTS] = {&s_zswpin, &s_zswpout, &s_zswpwb};

static int init_names(void)
{
    if (InvalidParameter)
        return 0;
#define INTERN(var, text) \
    if (!(var = PyUnicode_InternFromString(text))) \
        return -1
    INTERN(s_charge_zswap, "charge_zswap");
    INTERN(s_uncharge_zswap, "uncharge_zswap");
    INTERN(s_count_event, "count_event");
    INTERN(s_zswpin, "zswpin");
    INTERN(s_zswpout, "zswpout");
    INTERN(s_zswpwb, "zswpwb");
    INTERN(s_id, "id");
    INTERN(s_percpu_ref, "percpu_ref");
    INTERN(s_acomp_ctx, "acomp_ctx");
    INTERN(s_lifetime, "lifetime");
    INTERN(s_compr_batch_size, "compr_batch_size");
    INTERN(s_tfm_name, "tfm_name");
    INTERN(s_zs_pool, "zs_pool");
    INTERN(s_compressor, "compressor");
    INTERN(s_pages_allocated, "pages_allocated");
    INTERN(s_free, "free");
    INTERN(s_streams, "streams");
#undef INTERN
    PyObject *m = PyImport_ImportModule("pyzswap.errors");
    if (!m)
        return -1;
    InvalidParameter = PyObject_GetAttrString(m, "InvalidParameter");
    Py_DECREF(m);
    return InvalidParameter ? 0 : -1;
}

/* ---------------------------------------------------------------- counters --------------- */

/* The one writer of every counter. */
static inline void stat_add(ZswapStateObject *s, enum pyz_stat stat, long long n)
{
    s->stat[stat] += n;
}

void pyz_state_count(ZswapStateObject *s, enum pyz_stat stat, long long n)
{
    if (countable[stat])
        stat_add(s, stat, n);
}

/* ---------------------------------------------------------------- memcg hooks ------------ */

/* The first error of an operation that goes on after a hook failed (see state.h). */
struct first_error {
    PyObject *type, *value, *tb;
};

static void keep_error(struct first_error *err)
{
    if (err->type)
        PyErr_Clear();
    else
        PyErr_Fetch(&err->type, &err->value, &err->tb);
}

/* Restore the first error, if any: -1 then, else 0. */
static int report_error(struct first_error *err)
{
    if (!err->type)
        return 0;
    PyErr_Restore(err->type, err->value, err->tb);
    err->type = err->value = err->tb = NULL;
    return -1;
}

/* 1 (the error kept in err) if the state has no hooks for an entry of object cgroup objcg. */
static int no_memcg_root(ZswapStateObject *s, int32_t objcg, struct first_error *err)
{
    if (s->hooks && s->hooks != Py_None)
        return 0;
    PyErr_Format(InvalidParameter, "an entry has object cgroup %d but zswap has no memcg root",
                 (int)objcg);
    keep_error(err);
    return 1;
}

/* hooks.<name>(objcg, arg, [nr]) for an entry's object cgroup (objcg >= 0). */
static void hook(ZswapStateObject *s, PyObject *name, int32_t objcg, PyObject *arg, long long nr,
                 struct first_error *err)
{
    if (no_memcg_root(s, objcg, err))
        return;
    PyObject *o = PyLong_FromLong(objcg);
    PyObject *n = o && nr >= 0 ? PyLong_FromLongLong(nr) : NULL;
    PyObject *r = NULL;
    if (o && (nr < 0 || n)) {
        PyObject *argv[4] = {s->hooks, o, arg, n};
        r = PyObject_VectorcallMethod(name, argv, nr >= 0 ? 4 : 3, NULL);
    }
    Py_XDECREF(o);
    Py_XDECREF(n);
    if (r)
        Py_DECREF(r);
    else
        keep_error(err);
}

/* count_objcg_events(objcg, event, nr), as the kernel's per-CPU memcg counters: added up here
 * and handed to hooks.count_event by pyz_state_flush_events. */
static void count_event(ZswapStateObject *s, int32_t objcg, int event, long long nr,
                        struct first_error *err)
{
    if (no_memcg_root(s, objcg, err))
        return;
    if (objcg >= s->nr_events) {
        int32_t n = s->nr_events < 16 ? 16 : s->nr_events;
        while (n <= objcg && n < INT32_MAX / 2)
            n *= 2;
        long long(*grown)[NR_MEMCG_EVENTS] =
            n > objcg ? PyMem_Realloc(s->events, (size_t)n * sizeof(*s->events)) : NULL;
        if (!grown) { /* no room: handed over at once */
            hook(s, s_count_event, objcg, *event_names[event], nr, err);
            return;
        }
        memset(grown + s->nr_events, 0, (size_t)(n - s->nr_events) * sizeof(*grown));
        s->events = grown;
        s->nr_events = n;
    }
    s->events[objcg][event] += nr;
    s->events_pending = 1;
}

int pyz_state_flush_events(ZswapStateObject *s)
{
    if (!s->events_pending)
        return 0;
    s->events_pending = 0;
    /* a hook may let the GIL go: another thread's counts land in what is zeroed already, or
     * in a grown array (read again at every step) */
    for (int32_t id = 0; id < s->nr_events; id++) {
        for (int ev = 0; ev < NR_MEMCG_EVENTS; ev++) {
            long long nr = s->events[id][ev];
            if (!nr)
                continue;
            s->events[id][ev] = 0;
            struct first_error err = {NULL};
            hook(s, s_count_event, id, *event_names[ev], nr, &err);
            if (err.type) { /* kept for the next flush: the error says why it failed */
                s->events[id][ev] += nr;
                s->events_pending = 1;
                return report_error(&err);
            }
        }
    }
    return 0;
}

static void charge(ZswapStateObject *s, PyObject *name, int32_t objcg, unsigned nbytes,
                   struct first_error *err)
{
    PyObject *b = PyLong_FromUnsignedLong(nbytes);
    if (!b) {
        keep_error(err);
        return;
    }
    hook(s, name, objcg, b, -1, err);
    Py_DECREF(b);
}

/* ---------------------------------------------------------------- pools ------------------ */

struct pyz_pool *pyz_state_pool(ZswapStateObject *s, uint32_t id)
{
    for (int i = 0; i < s->nr_pools; i++)
        if (s->pools[i]->id == id)
            return s->pools[i];
    return NULL;
}

static int pool_index(ZswapStateObject *s, PyObject *pool)
{
    for (int i = 0; i < s->nr_pools; i++)
        if (s->pools[i]->pool == pool)
            return i;
    return -1;
}

static void record_free(struct pyz_pool *p)
{
    Py_XDECREF(p->pool);
    Py_XDECREF(p->ref);
    Py_XDECREF(p->acomp_ctx);
    Py_XDECREF(p->tfm_name);
    Py_XDECREF(p->compressor);
    Py_XDECREF(p->zs);
    PyMem_Free(p);
}

/* A record for a ZswapPool from its public attributes. NULL with an exception. */
static struct pyz_pool *record_new(PyObject *pool)
{
    struct pyz_pool *p = PyMem_Calloc(1, sizeof(*p));
    if (!p)
        return (struct pyz_pool *)PyErr_NoMemory();
    p->pool = Py_NewRef(pool);
    PyObject *id = PyObject_GetAttr(pool, s_id);
    PyObject *lifetime = id ? PyObject_GetAttr(pool, s_lifetime) : NULL;
    PyObject *batch = lifetime ? PyObject_GetAttr(pool, s_compr_batch_size) : NULL;
    PyObject *ref = batch ? PyObject_GetAttr(pool, s_percpu_ref) : NULL;
    p->ref = (PercpuRefObject *)ref;
    p->acomp_ctx = ref ? PyObject_GetAttr(pool, s_acomp_ctx) : NULL;
    p->tfm_name = p->acomp_ctx ? PyObject_GetAttr(pool, s_tfm_name) : NULL;
    p->compressor = p->tfm_name ? PyObject_GetAttr(pool, s_compressor) : NULL;
    PyObject *streams = p->compressor ? PyObject_GetAttr(pool, s_streams) : NULL;
    p->streams = streams ? PyObject_IsTrue(streams) : 0;
    Py_XDECREF(streams);
    if (p->compressor && p->streams >= 0) {
        p->id = (uint32_t)PyLong_AsUnsignedLong(id);
        p->batch = (int)PyLong_AsLong(batch);
        p->lifetime = -1;
        for (int i = 0; i < NR_LIFETIMES && PyUnicode_Check(lifetime); i++)
            if (PyUnicode_CompareWithASCIIString(lifetime, lifetime_names[i]) == 0)
                p->lifetime = i;
        p->shared = p->lifetime >= LT_GLOBAL_MAX;
        if (!PyErr_Occurred() &&
            (!PYZ_PERCPU_REF_CHECK(ref) || !PyList_Check(p->acomp_ctx) || p->lifetime < 0 ||
             p->batch < 1 || p->batch > ZSWAP_MAX_BATCH_SIZE))
            PyErr_Format(PyExc_TypeError, "not a zswap pool: %R", pool);
    }
    Py_XDECREF(id);
    Py_XDECREF(lifetime);
    Py_XDECREF(batch);
    if (PyErr_Occurred()) {
        record_free(p);
        return NULL;
    }
    return p;
}

PyObject *pyz_pool_zs(struct pyz_pool *p, struct zs_pool **zp)
{
    static struct pyz_slot_cache zs_slot;
    PyObject *zs = pyz_slot_get(p->pool, s_zs_pool, &zs_slot);
    if (!zs)
        return NULL;
    PyTypeObject *t = Py_TYPE(zs);
    if (zs != p->zs || !(t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) ||
        t->tp_version_tag != p->zs_tag) {
        /* first use, replaced (fault injection) or its class changed: resolve it again */
        (void)_PyType_Lookup(t, s_free); /* gives the type a version tag to watch */
        struct zs_pool *c = pyz_zspool_is_exact(zs) ? pyz_zspool_pool(zs) : NULL;
        if (!c && PyErr_Occurred()) {
            Py_DECREF(zs);
            return NULL;
        }
        Py_XSETREF(p->zs, Py_NewRef(zs));
        p->zp = c;
        p->zs_tag = t->tp_version_tag;
    }
    *zp = p->zp;
    return zs;
}

/* The pool's zsmalloc pages (zs_get_total_pages), or -1 with an exception. */
static long long pool_pages(struct pyz_pool *p)
{
    struct zs_pool *zp;
    PyObject *zs = pyz_pool_zs(p, &zp);
    if (!zs)
        return -1;
    long long n;
    struct zs_pool *any = zp ? zp : pyz_zspool_pool(zs); /* a subclass counts the same */
    if (any) {
        n = zs_pages_allocated(any);
    } else {
        PyErr_Clear();
        PyObject *v = PyObject_GetAttr(zs, s_pages_allocated);
        n = v ? PyLong_AsLongLong(v) : -1;
        Py_XDECREF(v);
    }
    Py_DECREF(zs);
    return n;
}

static long long total_pages(ZswapStateObject *s)
{
    long long n = 0;
    for (int i = 0; i < s->nr_pools; i++) {
        long long k = pool_pages(s->pools[i]);
        if (k < 0)
            return -1;
        n += k;
    }
    return n;
}

/* __zswap_pool_empty: the pool leaves the list, and waits in `released` for its destruction. */
static int release(ZswapStateObject *s, int i)
{
    struct pyz_pool *p = s->pools[i];
    int rc = PyList_Append(s->released, p->pool);
    memmove(&s->pools[i], &s->pools[i + 1], (size_t)(s->nr_pools - i - 1) * sizeof(*s->pools));
    s->nr_pools--;
    record_free(p);
    return rc;
}

static int put_index(ZswapStateObject *s, int i, long long nr)
{
    PercpuRefObject *ref = s->pools[i]->ref;
    ref->count -= nr;
    return ref->count <= 0 ? release(s, i) : 0;
}

void pyz_state_pool_put(ZswapStateObject *s, uint32_t id, long long nr)
{
    for (int i = 0; i < s->nr_pools; i++)
        if (s->pools[i]->id == id) {
            if (put_index(s, i, nr) < 0)
                PyErr_Clear(); /* out of memory for the list: the pool is only leaked */
            return;
        }
}

struct pyz_pool *pyz_state_current_get(ZswapStateObject *s, int nr)
{
    if (s->closed || !s->nr_pools)
        return NULL;
    s->pools[0]->ref->count += nr;
    return s->pools[0];
}

/* Free a zsmalloc object of pool p (in C, or through its ZsPool's free for a subclass). The
 * zsmalloc pool is the one the store that made the object resolved: a pool's zs_pool is only
 * ever replaced while it holds no object (faults.install_zs_pool). */
static int zs_free_handle(struct pyz_pool *p, uint32_t handle)
{
    struct zs_pool *zp = p->zp;
    PyObject *zs = p->zs ? Py_NewRef(p->zs) : pyz_pool_zs(p, &zp);
    if (!zs)
        return -1;
    int rc = 0;
    if (zp) {
        if (zs_trylock(zp) != 0) {
            Py_BEGIN_ALLOW_THREADS
            zs_lock(zp);
            Py_END_ALLOW_THREADS
        }
        zs_free_locked(zp, handle); /* -ESHUTDOWN once destroyed: nothing to free */
        zs_unlock(zp);
    } else {
        PyObject *h = PyLong_FromUnsignedLong(handle);
        PyObject *r = h ? PyObject_CallMethodOneArg(zs, s_free, h) : NULL;
        Py_XDECREF(h);
        rc = r ? 0 : -1;
        Py_XDECREF(r);
    }
    Py_DECREF(zs);
    return rc;
}

/* ---------------------------------------------------------------- entries ---------------- */

/* zswap_entry_free of an entry already erased from the table: the memcg uncharge, the
 * zsmalloc object, the pool reference, the counters. */
static void entry_free(ZswapStateObject *s, uint32_t id, struct first_error *err)
{
    struct et_rec e = *et_rec(s->table, id);
    et_release(s->table, id);
    if (e.objcg >= 0 && s->charges)
        charge(s, s_uncharge_zswap, e.objcg, e.length, err);
    int i = -1;
    for (int k = 0; k < s->nr_pools; k++)
        if (s->pools[k]->id == e.pool_id)
            i = k;
    if (i >= 0) {
        if (zs_free_handle(s->pools[i], e.handle) < 0)
            keep_error(err);
        if (put_index(s, i, 1) < 0)
            keep_error(err);
    }
    stat_add(s, STAT_STORED_PAGES, -1);
    if (e.length == PAGE_SIZE)
        stat_add(s, STAT_STORED_INCOMPRESSIBLE_PAGES, -1);
}

int pyz_state_publish(ZswapStateObject *s, unsigned type, uint64_t off, uint32_t pool_id,
                      const uint32_t *handles, const unsigned *lens, int n, int32_t objcg)
{
    struct first_error err = {NULL};
    struct pyz_pool *pool = pyz_state_pool(s, pool_id);
    if (!pool) {
        PyErr_Format(PyExc_ValueError, "publish: pool %u is not live", pool_id);
        return 0;
    }
    PercpuRefObject *ref = (PercpuRefObject *)Py_NewRef(pool->ref); /* the record may go */
    int done = 0;
    for (; done < n; done++) {
        uint32_t old;
        /* the entry goes in the tree and at the tail of its memcg's LRU list, referenced */
        if (!et_insert(s->table, type, off + (uint64_t)done, lens[done], pool_id, handles[done],
                       objcg, objcg >= 0 ? (uint32_t)objcg : 0, 1, &old))
            break;
        /* the entry's own pool reference (zswap_pool_get), taken before an older entry of
         * the slot (redirtied, swapped out again) is freed with its own */
        ref->count++;
        if (old)
            entry_free(s, old, &err);
        stat_add(s, STAT_STORED_PAGES, 1);
        if (lens[done] == PAGE_SIZE)
            stat_add(s, STAT_STORED_INCOMPRESSIBLE_PAGES, 1);
        if (objcg >= 0 && s->charges) /* obj_cgroup_charge_zswap */
            charge(s, s_charge_zswap, objcg, lens[done], &err);
    }
    if (done < n)
        keep_error(&err); /* the table's MemoryError or ValueError */
    Py_DECREF(ref);
    report_error(&err);
    return done;
}

int pyz_state_stored(ZswapStateObject *s, long long nr, int32_t objcg)
{
    struct first_error err = {NULL};
    stat_add(s, STAT_ZSWPOUT, nr);
    if (objcg >= 0)
        count_event(s, objcg, MEMCG_ZSWPOUT, nr, &err);
    return report_error(&err);
}

/* Erase and free the entries of slots off..off+nr-1; how many there were. */
static long long erase(ZswapStateObject *s, unsigned type, uint64_t off, uint64_t nr,
                       struct first_error *err)
{
    long long freed = 0;
    for (uint64_t k = 0; k < nr; k++) {
        uint32_t id = et_lookup(s->table, type, off + k);
        if (!id)
            continue;
        et_erase(s->table, id);
        entry_free(s, id, err);
        freed++;
    }
    return freed;
}

int pyz_state_erase(ZswapStateObject *s, unsigned type, uint64_t off, uint64_t nr)
{
    struct first_error err = {NULL};
    erase(s, type, off, nr, &err);
    return report_error(&err);
}

/* zswap_invalidate's erase and count (locked): the entries freed, or -1. */
static long long invalidate_locked(ZswapStateObject *s, unsigned type, uint64_t off, uint64_t nr)
{
    struct first_error err = {NULL};
    long long freed = s->closed ? 0 : erase(s, type, off, nr, &err);
    stat_add(s, STAT_INVALIDATED_PAGES, freed);
    return report_error(&err) < 0 ? -1 : freed;
}

long long pyz_state_invalidate(ZswapStateObject *s, unsigned type, uint64_t off, uint64_t nr)
{
    if (et_slots_busy(s->table, type, off, (uint32_t)nr)) {
        PyErr_Format(pyz_SlotBusy, "invalidate of swap slots %u:%llu+%llu while a store, load "
                     "or writeback of one of them is in flight", type,
                     (unsigned long long)off, (unsigned long long)nr);
        return -1;
    }
    return invalidate_locked(s, type, off, nr);
}

static int same_entry(const struct et_rec *a, const struct et_rec *b)
{
    return a->handle == b->handle && a->pool_id == b->pool_id && a->length == b->length &&
           a->objcg == b->objcg && a->offset == b->offset && a->type == b->type;
}

/* Erase and free the slot's entry if it is still `e`: 1 if it was. */
static int erase_if_same(ZswapStateObject *s, unsigned type, uint64_t off, const struct et_rec *e,
                         struct first_error *err)
{
    uint32_t id = et_lookup(s->table, type, off);
    if (!id || !same_entry(et_rec(s->table, id), e))
        return 0;
    et_erase(s->table, id);
    entry_free(s, id, err);
    return 1;
}

int pyz_state_loaded(ZswapStateObject *s, unsigned type, uint64_t off, const struct et_rec *e,
                     int exclusive)
{
    struct first_error err = {NULL};
    stat_add(s, STAT_ZSWPIN, 1);
    if (e->objcg >= 0)
        count_event(s, e->objcg, MEMCG_ZSWPIN, 1, &err);
    int erased = exclusive ? erase_if_same(s, type, off, e, &err) : 0;
    return report_error(&err) < 0 ? -1 : erased;
}

/* zswap_check_limits' verdict: 1 while the pool is (still) full, 0, -1 with an exception;
 * with `apply` its effects too (pool_limit_hit, the hysteresis between max and threshold). */
static int limits(ZswapStateObject *s, int apply)
{
    if (s->max_pages < 0)
        return 0;
    long long cur = total_pages(s);
    if (cur < 0)
        return -1;
    int full = cur >= s->max_pages;
    int still = s->reached_full && cur > s->thr_pages;
    if (!apply)
        return full || still;
    if (full)
        stat_add(s, STAT_POOL_LIMIT_HIT, 1);
    s->reached_full = full || still;
    return s->reached_full;
}

int pyz_state_limits_full(ZswapStateObject *s)
{
    return limits(s, 0);
}

int pyz_state_check_limits(ZswapStateObject *s)
{
    return limits(s, 1);
}

/* ---------------------------------------------------------------- Python methods --------- */

/* Every method: the object is ready (its __init__ ran). */
#define NEED_READY(s)                           \
    do {                                        \
        if (!(s)->ready)                        \
            return pyz_err_uninit("ZswapState"); \
    } while (0)

/* A method that changes entries or pools: the object is ready and Zswap's lock is held. */
static int need_lock(ZswapStateObject *s, const char *what)
{
    if (!s->ready) {
        pyz_err_uninit("ZswapState");
        return -1;
    }
    if (!atomic_load(&((LockObject *)s->lock)->locked)) {
        PyErr_Format(PyExc_RuntimeError, "ZswapState.%s needs Zswap's lock held", what);
        return -1;
    }
    return 0;
}

/* (type, offset, nr) naming slots of a swapped-on type: 0, else -1 with ValueError. */
static int parse_slots(ZswapStateObject *s, PyObject *t, PyObject *o, long long nr,
                       unsigned *type, uint64_t *off)
{
    long tv = PyLong_AsLong(t);
    long long ov = tv == -1 && PyErr_Occurred() ? -1 : PyLong_AsLongLong(o);
    if (PyErr_Occurred())
        return -1;
    struct et_tree *tr = tv >= 0 && tv < ET_MAX_TYPES ? s->table->trees[tv] : NULL;
    if (!tr || ov < 0 || nr < 1 || (uint64_t)ov + (uint64_t)nr > tr->nr_pages) {
        PyErr_Format(PyExc_ValueError, "slots %ld:%lld+%lld are not in a swapped-on type", tv,
                     ov, nr);
        return -1;
    }
    *type = (unsigned)tv;
    *off = (uint64_t)ov;
    return 0;
}

/* A ZswapEntry (type, offset, length, pool_id, handle, objcg) as a record to compare. */
static int parse_entry(PyObject *entry, struct et_rec *e)
{
    long long v[6];
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 6) {
        PyErr_SetString(PyExc_TypeError, "expected a ZswapEntry");
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        v[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, i));
        if (v[i] == -1 && PyErr_Occurred())
            return -1;
    }
    memset(e, 0, sizeof(*e));
    e->type = (uint8_t)v[0];
    e->offset = (uint32_t)v[1];
    e->length = (uint16_t)v[2];
    e->pool_id = (uint32_t)v[3];
    e->handle = (uint32_t)v[4];
    e->objcg = (int32_t)v[5];
    return 0;
}

static int parse_objcg(PyObject *o, int32_t *objcg)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < -1 || v > INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "object cgroup id %ld is out of range", v);
        return -1;
    }
    *objcg = (int32_t)v;
    return 0;
}

/* publish(type, offset, pool_id, stored, objcg): stored is [(handle, length), ...]. */
static PyObject *st_publish(ZswapStateObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned type;
    uint64_t off;
    int32_t objcg;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "publish(type, offset, pool_id, stored, objcg)");
        return NULL;
    }
    if (need_lock(s, "publish") < 0 || parse_objcg(args[4], &objcg) < 0)
        return NULL;
    PyObject *stored = PySequence_Fast(args[3], "stored must be a sequence");
    if (!stored)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(stored);
    uint32_t pool_id = (uint32_t)PyLong_AsUnsignedLong(args[2]);
    uint32_t *handles = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(*handles));
    unsigned *lens = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(*lens));
    PyObject *ret = NULL;
    if (!handles || !lens) {
        PyErr_NoMemory();
        goto out;
    }
    if (PyErr_Occurred() || parse_slots(s, args[0], args[1], n ? n : 1, &type, &off) < 0)
        goto out;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long h, l;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(stored, i), "kk", &h, &l))
            goto out;
        if (l < 1 || l > PAGE_SIZE) {
            PyErr_Format(PyExc_ValueError, "entry length %lu is not 1..%d", l, PAGE_SIZE);
            goto out;
        }
        handles[i] = (uint32_t)h;
        lens[i] = (unsigned)l;
    }
    if (s->closed) {
        PyErr_SetString(pyz_ZswapError, "this Zswap is closed: its pools and pages are gone");
        goto out;
    }
    if (pyz_state_publish(s, type, off, pool_id, handles, lens, (int)n, objcg) == n &&
        !PyErr_Occurred())
        ret = Py_NewRef(Py_None);
out:
    PyMem_Free(handles);
    PyMem_Free(lens);
    Py_DECREF(stored);
    return ret;
}

/* stored(nr, objcg): a whole folio of nr pages was stored (zswpout). */
static PyObject *st_stored(ZswapStateObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    int32_t objcg;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "stored(nr, objcg)");
        return NULL;
    }
    long long nr = PyLong_AsLongLong(args[0]);
    if ((nr == -1 && PyErr_Occurred()) || need_lock(s, "stored") < 0 ||
        parse_objcg(args[1], &objcg) < 0)
        return NULL;
    if (pyz_state_stored(s, nr, objcg) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* erase(type, offset, nr) / invalidate(type, offset, nr=1): the entries freed. */
static PyObject *erase_slots(ZswapStateObject *s, PyObject *const *args, Py_ssize_t nargs,
                             int invalidate)
{
    unsigned type;
    uint64_t off;
    if (nargs != 3 && !(invalidate && nargs == 2)) {
        PyErr_SetString(PyExc_TypeError, invalidate ? "invalidate(type, offset, nr=1)"
                                                    : "erase(type, offset, nr)");
        return NULL;
    }
    long long nr = nargs == 3 ? PyLong_AsLongLong(args[2]) : 1;
    if ((nr == -1 && PyErr_Occurred()) || need_lock(s, invalidate ? "invalidate" : "erase") < 0 ||
        parse_slots(s, args[0], args[1], nr, &type, &off) < 0)
        return NULL;
    long long freed;
    if (invalidate) {
        freed = invalidate_locked(s, type, off, (uint64_t)nr);
    } else {
        struct first_error err = {NULL};
        freed = s->closed ? 0 : erase(s, type, off, (uint64_t)nr, &err);
        if (report_error(&err) < 0)
            freed = -1;
    }
    return freed < 0 ? NULL : PyLong_FromLongLong(freed);
}

static PyObject *st_erase(ZswapStateObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    return erase_slots(s, args, nargs, 0);
}

static PyObject *st_invalidate(ZswapStateObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    return erase_slots(s, args, nargs, 1);
}

/* loaded(entry, exclusive) -> bool: the entry was erased and freed. */
static PyObject *st_loaded(ZswapStateObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    struct et_rec e;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "loaded(entry, exclusive)");
        return NULL;
    }
    int exclusive = PyObject_IsTrue(args[1]);
    if (exclusive < 0 || need_lock(s, "loaded") < 0 || parse_entry(args[0], &e) < 0)
        return NULL;
    if (s->closed) {
        PyErr_SetString(pyz_ZswapError, "this Zswap is closed: its pools and pages are gone");
        return NULL;
    }
    int r = pyz_state_loaded(s, e.type, e.offset, &e, exclusive);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

/* written_back(entry) -> bool: zswpwb, and the entry erased and freed if still the slot's. */
static PyObject *st_written_back(ZswapStateObject *s, PyObject *entry)
{
    struct et_rec e;
    if (need_lock(s, "written_back") < 0 || parse_entry(entry, &e) < 0)
        return NULL;
    if (s->closed) {
        PyErr_SetString(pyz_ZswapError, "this Zswap is closed: its pools and pages are gone");
        return NULL;
    }
    struct first_error err = {NULL};
    int erased = erase_if_same(s, e.type, e.offset, &e, &err);
    stat_add(s, STAT_ZSWPWB, 1);
    if (e.objcg >= 0)
        count_event(s, e.objcg, MEMCG_ZSWPWB, 1, &err);
    return report_error(&err) < 0 ? NULL : PyBool_FromLong(erased);
}

/* count(name, n=1): one of the counters the flows bump by name. */
static PyObject *st_count(ZswapStateObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    NEED_READY(s);
    if (nargs < 1 || nargs > 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "count(name, n=1)");
        return NULL;
    }
    long long n = nargs == 2 ? PyLong_AsLongLong(args[1]) : 1;
    if (n == -1 && PyErr_Occurred())
        return NULL;
    for (int i = 0; i < NR_STATS; i++)
        if (countable[i] && PyUnicode_CompareWithASCIIString(args[0], stat_names[i]) == 0) {
            stat_add(s, (enum pyz_stat)i, n);
            Py_RETURN_NONE;
        }
    PyErr_Format(PyExc_ValueError, "%R is not a counter count() bumps", args[0]);
    return NULL;
}

static PyObject *st_check_limits(ZswapStateObject *s, PyObject *unused)
{
    NEED_READY(s);
    int full = pyz_state_check_limits(s);
    return full < 0 ? NULL : PyBool_FromLong(full);
}

static PyObject *st_set_limits(ZswapStateObject *s, PyObject *args)
{
    NEED_READY(s);
    long long max_pages, thr_pages;
    if (!PyArg_ParseTuple(args, "LL:set_limits", &max_pages, &thr_pages))
        return NULL;
    s->max_pages = max_pages < 0 ? -1 : max_pages;
    s->thr_pages = thr_pages < 0 ? -1 : thr_pages;
    Py_RETURN_NONE;
}

static PyObject *st_stats(ZswapStateObject *s, PyObject *unused)
{
    NEED_READY(s);
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < NR_STATS; i++) {
        PyObject *v = PyLong_FromLongLong(s->stat[i]);
        if (!v || PyDict_SetItemString(d, stat_names[i], v) < 0)
            Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyObject *st_total_pages(ZswapStateObject *s, PyObject *unused)
{
    NEED_READY(s);
    long long n = total_pages(s);
    return n < 0 ? NULL : PyLong_FromLongLong(n);
}

/* pool_add(pool): make it the current pool (the head of the list), new or already live. */
static PyObject *st_pool_add(ZswapStateObject *s, PyObject *pool)
{
    if (need_lock(s, "pool_add") < 0)
        return NULL;
    if (s->closed) {
        PyErr_SetString(pyz_ZswapError, "this Zswap is closed: its pools and pages are gone");
        return NULL;
    }
    int i = pool_index(s, pool);
    struct pyz_pool *p = i >= 0 ? s->pools[i] : record_new(pool);
    if (!p)
        return NULL;
    if (i < 0) {
        if (s->nr_pools == s->cap_pools) {
            int cap = s->cap_pools ? 2 * s->cap_pools : 4;
            struct pyz_pool **a = PyMem_Realloc(s->pools, (size_t)cap * sizeof(*a));
            if (!a) {
                record_free(p);
                return PyErr_NoMemory();
            }
            s->pools = a;
            s->cap_pools = cap;
        }
        i = s->nr_pools++;
    }
    memmove(&s->pools[1], &s->pools[0], (size_t)i * sizeof(*s->pools));
    s->pools[0] = p;
    Py_RETURN_NONE;
}

/* pool_kill(pool): percpu_ref_kill as the pool stops being current. */
static PyObject *st_pool_kill(ZswapStateObject *s, PyObject *pool)
{
    if (need_lock(s, "pool_kill") < 0)
        return NULL;
    int i = pool_index(s, pool);
    if (i < 0 || s->pools[i]->ref->dead) {
        PyErr_Format(PyExc_ValueError, "%R is not a live pool of this zswap", pool);
        return NULL;
    }
    s->pools[i]->ref->dead = 1;
    if (put_index(s, i, 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* pool_put(pool, nr): zswap_pool_put of nr references. */
static PyObject *st_pool_put(ZswapStateObject *s, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "pool_put(pool, nr)");
        return NULL;
    }
    long long nr = PyLong_AsLongLong(args[1]);
    if ((nr == -1 && PyErr_Occurred()) || need_lock(s, "pool_put") < 0)
        return NULL;
    int i = pool_index(s, args[0]);
    if (i < 0 || nr < 0 || nr > s->pools[i]->ref->count) {
        PyErr_Format(PyExc_ValueError, "pool_put(%R, %lld): not that many references", args[0],
                     nr);
        return NULL;
    }
    if (put_index(s, i, nr) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* current_get(nr) -> pool: zswap_pool_current_get, nr references; None once closed. */
static PyObject *st_current_get(ZswapStateObject *s, PyObject *arg)
{
    long nr = PyLong_AsLong(arg);
    if ((nr == -1 && PyErr_Occurred()) || need_lock(s, "current_get") < 0)
        return NULL;
    if (nr < 0) {
        PyErr_SetString(PyExc_ValueError, "current_get: nr must be >= 0");
        return NULL;
    }
    struct pyz_pool *p = pyz_state_current_get(s, (int)nr);
    return Py_NewRef(p ? p->pool : Py_None);
}

static PyObject *st_pools(ZswapStateObject *s, PyObject *unused)
{
    NEED_READY(s);
    PyObject *l = PyList_New(s->nr_pools);
    for (int i = 0; l && i < s->nr_pools; i++)
        PyList_SET_ITEM(l, i, Py_NewRef(s->pools[i]->pool));
    return l;
}

static PyObject *st_pool(ZswapStateObject *s, PyObject *arg)
{
    NEED_READY(s);
    unsigned long id = PyLong_AsUnsignedLong(arg);
    if (id == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    struct pyz_pool *p = id <= UINT32_MAX ? pyz_state_pool(s, (uint32_t)id) : NULL;
    return Py_NewRef(p ? p->pool : Py_None);
}

/* take_released() -> [pool]: the pools whose last reference went, for their destruction. */
static PyObject *st_take_released(ZswapStateObject *s, PyObject *unused)
{
    NEED_READY(s);
    PyObject *l = PyList_New(0);
    if (!l)
        return NULL;
    PyObject *taken = s->released;
    s->released = l;
    return taken;
}

/* close() -> [pool]: no pool, nothing published or erased from now on; the live pools. */
static PyObject *st_close(ZswapStateObject *s, PyObject *unused)
{
    if (need_lock(s, "close") < 0)
        return NULL;
    PyObject *l = PyList_New(0);
    if (!l)
        return NULL;
    s->closed = 1;
    while (s->nr_pools) {
        struct pyz_pool *p = s->pools[--s->nr_pools];
        if (PyList_Insert(l, 0, p->pool) < 0)
            PyErr_Clear();
        record_free(p);
    }
    return l;
}

/* ---------------------------------------------------------------- the type --------------- */

static int st_init(ZswapStateObject *s, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"table", "lock", "hooks", NULL};
    PyObject *table, *lock, *hooks = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!O!|O:ZswapState", kwlist, &EntryTableType,
                                     &table, &LockType, &lock, &hooks))
        return -1;
    if (s->ready)
        return pyz_err_init_twice("ZswapState");
    int charges = 1; /* read before any reference is taken: a failure leaves nothing held */
    if (hooks != Py_None) {
        PyObject *v = PyObject_GetAttrString(hooks, "charges_zswap");
        if (!v) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                return -1;
            PyErr_Clear();
        } else {
            charges = PyObject_IsTrue(v);
            Py_DECREF(v);
            if (charges < 0)
                return -1;
        }
    }
    if (init_names() < 0 || !(s->released = PyList_New(0)))
        return -1;
    s->table = (EntryTableObject *)Py_NewRef(table);
    s->lock = Py_NewRef(lock);
    s->charges = (char)charges;
    s->hooks = Py_NewRef(hooks);
    s->max_pages = s->thr_pages = -1;
    s->enabled = 1;
    s->ready = 1;
    return 0;
}

static int st_traverse(ZswapStateObject *s, visitproc visit, void *arg)
{
    Py_VISIT(s->table);
    Py_VISIT(s->lock);
    Py_VISIT(s->hooks);
    Py_VISIT(s->released);
    for (int i = 0; i < s->nr_pools; i++) {
        Py_VISIT(s->pools[i]->pool);
        Py_VISIT(s->pools[i]->zs);
    }
    return 0;
}

static int st_clear(ZswapStateObject *s)
{
    while (s->nr_pools)
        record_free(s->pools[--s->nr_pools]);
    Py_CLEAR(s->hooks);
    Py_CLEAR(s->released);
    return 0;
}

/* Counts not yet flushed go to the hooks before the state goes (PEP 442: before a cycle's
 * clear, while the hooks are still there). */
static void st_finalize(ZswapStateObject *s)
{
    if (!s->events_pending || !s->hooks)
        return;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    if (pyz_state_flush_events(s) < 0)
        PyErr_WriteUnraisable((PyObject *)s);
    PyErr_Restore(et, ev, tb);
}

static void st_dealloc(ZswapStateObject *s)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)s) < 0)
        return; /* resurrected */
    PyObject_GC_UnTrack(s);
    if (s->weakreflist)
        PyObject_ClearWeakRefs((PyObject *)s);
    st_clear(s);
    PyMem_Free(s->events);
    PyMem_Free(s->pools);
    Py_CLEAR(s->table);
    Py_CLEAR(s->lock);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *st_get_stat(ZswapStateObject *s, void *which)
{
    return PyLong_FromLongLong(s->stat[(intptr_t)which]);
}

static PyObject *st_get_object(ZswapStateObject *s, void *which)
{
    PyObject *o = which ? (PyObject *)s->table : s->lock;
    if (!o)
        return pyz_err_uninit("ZswapState");
    return Py_NewRef(o);
}

static PyGetSetDef st_getset[NR_STATS + 3];

static PyObject *st_flush_memcg_events(ZswapStateObject *s, PyObject *unused)
{
    NEED_READY(s);
    if (pyz_state_flush_events(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef st_methods[] = {
    {"publish", (PyCFunction)(void (*)(void))st_publish, METH_FASTCALL,
     "publish(type, offset, pool_id, stored, objcg): the stored pages' entries (locked)"},
    {"stored", (PyCFunction)(void (*)(void))st_stored, METH_FASTCALL,
     "stored(nr, objcg): a whole folio was stored: zswpout (locked)"},
    {"erase", (PyCFunction)(void (*)(void))st_erase, METH_FASTCALL,
     "erase(type, offset, nr) -> freed: a failed store's slots (locked)"},
    {"invalidate", (PyCFunction)(void (*)(void))st_invalidate, METH_FASTCALL,
     "invalidate(type, offset, nr=1) -> freed: zswap_invalidate (locked)"},
    {"loaded", (PyCFunction)(void (*)(void))st_loaded, METH_FASTCALL,
     "loaded(entry, exclusive) -> erased: zswap_load's accounting (locked)"},
    {"written_back", (PyCFunction)st_written_back, METH_O,
     "written_back(entry) -> erased: zswap_writeback_entry's accounting (locked)"},
    {"count", (PyCFunction)(void (*)(void))st_count, METH_FASTCALL,
     "count(name, n=1): a reject counter, decompress_fail, written_back_pages or "
     "ctx_use_after_free"},
    {"flush_memcg_events", (PyCFunction)st_flush_memcg_events, METH_NOARGS,
     "flush_memcg_events(): hand the memcg event counts added up so far to the hooks"},
    {"check_limits", (PyCFunction)st_check_limits, METH_NOARGS,
     "zswap_check_limits() -> full (pool_limit_hit, the hysteresis)"},
    {"set_limits", (PyCFunction)st_set_limits, METH_VARARGS,
     "set_limits(max_pages, thr_pages): the global limit and threshold, -1 for none"},
    {"stats", (PyCFunction)st_stats, METH_NOARGS, "every counter, by name"},
    {"total_pages", (PyCFunction)st_total_pages, METH_NOARGS,
     "zswap_total_pages(): zsmalloc pages of every live pool"},
    {"pool_add", (PyCFunction)st_pool_add, METH_O,
     "pool_add(pool): make it current, at the head of the list (locked)"},
    {"pool_kill", (PyCFunction)st_pool_kill, METH_O,
     "pool_kill(pool): percpu_ref_kill as it stops being current (locked)"},
    {"pool_put", (PyCFunction)(void (*)(void))st_pool_put, METH_FASTCALL,
     "pool_put(pool, nr): zswap_pool_put (locked)"},
    {"current_get", (PyCFunction)st_current_get, METH_O,
     "current_get(nr) -> pool or None: zswap_pool_current_get (locked)"},
    {"pools", (PyCFunction)st_pools, METH_NOARGS, "the live pools, current first"},
    {"pool", (PyCFunction)st_pool, METH_O, "pool(id) -> the live pool with that id, or None"},
    {"take_released", (PyCFunction)st_take_released, METH_NOARGS,
     "the pools whose last reference went since the last call (to destroy)"},
    {"close", (PyCFunction)st_close, METH_NOARGS,
     "close() -> the live pools: nothing is published or erased any more (locked)"},
    {NULL},
};

static PyMemberDef st_members[] = {
    {"max_pages", T_LONGLONG, offsetof(ZswapStateObject, max_pages), READONLY,
     "the global limit in pages; -1: none"},
    {"thr_pages", T_LONGLONG, offsetof(ZswapStateObject, thr_pages), READONLY,
     "the accept threshold in pages; -1: none"},
    {"reached_full", T_BOOL, offsetof(ZswapStateObject, reached_full), READONLY,
     "the pool hit the limit and has not gone below the threshold since"},
    {"enabled", T_BOOL, offsetof(ZswapStateObject, enabled), 0, "the enabled parameter"},
    {"closed", T_BOOL, offsetof(ZswapStateObject, closed), READONLY, "close() ran"},
    {NULL},
};

PyTypeObject ZswapStateType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.ZswapState",
    .tp_basicsize = sizeof(ZswapStateObject),
    .tp_dealloc = (destructor)st_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "ZswapState(table, lock, hooks=None): zswap's entries, counters, limits and "
              "pools; the one place accounting happens (csrc/state.h).",
    .tp_traverse = (traverseproc)st_traverse,
    .tp_clear = (inquiry)st_clear,
    .tp_methods = st_methods,
    .tp_members = st_members,
    .tp_getset = st_getset,
    .tp_init = (initproc)st_init,
    .tp_new = PyType_GenericNew,
    .tp_finalize = (destructor)st_finalize,
    .tp_weaklistoffset = offsetof(ZswapStateObject, weakreflist),
};

int pyz_state_add_types(PyObject *module)
{
    for (int i = 0; i < NR_STATS; i++)
        st_getset[i] = (PyGetSetDef){(char *)stat_names[i], (getter)st_get_stat, NULL,
                                     "a counter (debugfs, vmstat or pyzswap's)",
                                     (void *)(intptr_t)i};
    st_getset[NR_STATS] = (PyGetSetDef){"table", (getter)st_get_object, NULL,
                                        "the EntryTable", (void *)1};
    st_getset[NR_STATS + 1] = (PyGetSetDef){"lock", (getter)st_get_object, NULL,
                                            "Zswap's lock", NULL};
    if (PyType_Ready(&ZswapStateType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "ZswapState", (PyObject *)&ZswapStateType);
}
