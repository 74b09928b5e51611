/*
 * The zswap state (state.c): the one place zswap's accounting happens.
 *
 * A ZswapState holds what mm/zswap.c keeps in globals and per-pool fields: the entry table (the
 * per-type trees and the memcg LRU lists, entries.h), the debugfs statistics and vmstat events,
 * the global limit with its hysteresis, the `enabled` parameter, and the live pools (current
 * first, as the zswap_pools list) with their references. Both flows, the Python reference
 * (pyzswap.zswap) and the C flow (flow.c), change all of that only through the operations
 * below, each of which follows one kernel step:
 *
 *   publish      zswap_store_page's xa_store + LRU add + obj_cgroup_charge_zswap and the
 *                stored_pages / stored_incompressible_pages increments (an older entry of a slot
 *                is freed, as zswap_store does)
 *   stored       zswap_store's count_vm_events(ZSWPOUT) and count_objcg_events for a whole folio
 *   erase        the failure path of zswap_store: every entry of the folio's slots erased and
 *                freed (zswap_entry_free)
 *   invalidate   zswap_invalidate (and pyzswap's invalidated_pages)
 *   loaded       zswap_load's ZSWPIN events, and for a folio in the swap cache the xa_erase and
 *                zswap_entry_free of the entry if the slot still holds it
 *   written_back zswap_writeback_entry's ZSWPWB events and the entry's erase and free
 *   count        the reject_* counters, decompress_fail, written_back_pages and
 *                ctx_use_after_free, each bumped where the kernel bumps it (named by the flows)
 *   check_limits zswap_check_limits with its hysteresis (pool_limit_hit)
 *   current_get / pool_put / pool_kill   zswap_pool_current_get, zswap_pool_put and
 *                percpu_ref_kill; a pool whose last reference goes leaves the list at once
 *                (__zswap_pool_empty) and waits in `released` for Python to destroy it
 * Every counter is bumped in exactly one function of state.c (stat_add); nothing else writes
 * one, in C or in Python.
 *
 * The only calls the state makes into Python are the memcg hooks, a declared protocol (typed in
 * _native.pyi as MemcgHooks): charge_zswap(objcg, nbytes), uncharge_zswap(objcg, nbytes) and
 * count_event(objcg, name, nr), each taking an object cgroup id (no charge calls when the hooks'
 * `charges_zswap` attribute, read once, is false: cgroup v1, where obj_cgroup_charge_zswap and
 * obj_cgroup_uncharge_zswap return before they charge). Events are not handed over one by one:
 * as the kernel's per-CPU memcg event counts (count_objcg_events), they add up here by object
 * cgroup and go to count_event when flushed (flush_memcg_events(): whoever reads the memcg
 * events, or moves an object cgroup to another group, flushes first; and the state flushes
 * when it is finalized). And reading a pool's public
 * attributes when it is added (its PercpuRef, contexts, design, batch size) and its zs_pool
 * when it is used (tests and fault injection may replace it). A hook that raises leaves the C
 * side complete and consistent; the first error is reported when the operation returns.
 *
 * Locking: the GIL, and Zswap's lock (`lock`, a pyzswap Lock) for every operation that changes
 * entries or pools (marked "locked"; the Python methods check the lock is held). The counters
 * alone need only the GIL. The hooks run under Zswap's lock (the memcg locks nest inside it).
 * A pool record (struct pyz_pool) is valid only until the GIL or Zswap's lock is let go: a C
 * caller that waits or compresses holds its own references to the Python objects it uses and
 * finds the record again by id.
 */
#ifndef PYZSWAP_STATE_H
#define PYZSWAP_STATE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#include "entries.h"
#include "pool.h"
#include "zsmalloc.h"

/* The statistics, the debugfs ones in the kernel's order, then vmstat, then pyzswap's. */
enum pyz_stat {
    STAT_POOL_LIMIT_HIT,
    STAT_REJECT_RECLAIM_FAIL,
    STAT_REJECT_ALLOC_FAIL,
    STAT_REJECT_KMEMCACHE_FAIL,
    STAT_REJECT_COMPRESS_FAIL,
    STAT_REJECT_COMPRESS_POOR,
    STAT_DECOMPRESS_FAIL,
    STAT_WRITTEN_BACK_PAGES,
    STAT_STORED_PAGES,
    STAT_STORED_INCOMPRESSIBLE_PAGES,
    STAT_ZSWPIN,
    STAT_ZSWPOUT,
    STAT_ZSWPWB,
    STAT_INVALIDATED_PAGES,   /* entries dropped by zswap_invalidate */
    STAT_CTX_USE_AFTER_FREE,  /* detected uses of a per-CPU context freed by hotplug */
    NR_STATS,
};

/* The memcg events zswap counts (count_objcg_events), in memory.stat order. */
enum { MEMCG_ZSWPIN, MEMCG_ZSWPOUT, MEMCG_ZSWPWB, NR_MEMCG_EVENTS };

/* The per-CPU context designs (pyzswap.pool.LIFETIMES, in that order). */
enum pyz_lifetime {
    LT_POOL,
    LT_LOCK_RETRY,
    LT_NAIVE,
    LT_GLOBAL_MAX,
    LT_GLOBAL_ONE,
    LT_PERCPU_SHARED,
    NR_LIFETIMES,
};

/* One live pool. */
struct pyz_pool {
    uint32_t id;
    PyObject *pool;          /* the ZswapPool */
    PercpuRefObject *ref;    /* pool.percpu_ref */
    PyObject *acomp_ctx;     /* pool.acomp_ctx: a list of AcompCtx, one per possible CPU */
    PyObject *tfm_name;      /* pool.tfm_name (messages) */
    PyObject *compressor;    /* pool.compressor */
    int lifetime;            /* enum pyz_lifetime */
    int shared;              /* a shared design: the request is bound to the pool's transform */
    int batch;               /* pool.compr_batch_size */
    int streams;             /* pool.streams: a native batching pool (compress_stream) */
    PyObject *zs;            /* the ZsPool last read from pool.zs_pool ... */
    struct zs_pool *zp;      /* ... and its C pool when zs is exactly a ZsPool, else NULL, */
    unsigned int zs_tag;     /* ... as its type was at this version (a monkeypatch changes it) */
};

typedef struct {
    PyObject_HEAD
    int ready;
    int closed;                /* close() ran: no pool, nothing published or erased any more */
    EntryTableObject *table;
    PyObject *lock;            /* Zswap's lock */
    PyObject *hooks;           /* MemcgHooks, or None */
    char charges;              /* hooks.charges_zswap (true if it has none) */
    long long stat[NR_STATS];
    long long max_pages, thr_pages; /* the global limit and accept threshold; -1: none */
    char reached_full;         /* the hysteresis bit of zswap_check_limits */
    char enabled;              /* the `enabled` parameter */
    struct pyz_pool **pools;   /* live pools, current first */
    int nr_pools, cap_pools;
    PyObject *released;        /* list of ZswapPools whose last reference went */
    long long (*events)[NR_MEMCG_EVENTS]; /* counts not yet flushed, by objcg id ... */
    int32_t nr_events;         /* ... for ids below this */
    char events_pending;       /* one of them may be non-zero */
    PyObject *weakreflist;     /* the memcg tree holds the state weakly (to flush it) */
} ZswapStateObject;

extern PyTypeObject ZswapStateType;

/* ---- for the C flow (flow.c); GIL held. "locked": Zswap's lock held too. ---- */

/* The current pool with nr references taken (locked); NULL (no exception) when closed. */
struct pyz_pool *pyz_state_current_get(ZswapStateObject *s, int nr);
/* The record of pool `id`, or NULL. */
struct pyz_pool *pyz_state_pool(ZswapStateObject *s, uint32_t id);
/* zswap_pool_put of nr references of pool `id` (locked). */
void pyz_state_pool_put(ZswapStateObject *s, uint32_t id, long long nr);
/* The pool's zsmalloc pool, a new reference, with *zp its C pool when it may be used directly
 * (exactly a ZsPool) or NULL (its methods must be called). NULL with an exception on error. */
PyObject *pyz_pool_zs(struct pyz_pool *p, struct zs_pool **zp);
/* zswap_check_limits: 1 while the pool is (still) full, 0, or -1 with an exception. */
int pyz_state_check_limits(ZswapStateObject *s);
/* What pyz_state_check_limits would answer now, without its effects (no pool_limit_hit, the
 * hysteresis unchanged): 1 full, 0, or -1 with an exception. */
int pyz_state_limits_full(ZswapStateObject *s);
/* Bump one of the counters the flows name (rejects, decompress_fail, use after free). */
void pyz_state_count(ZswapStateObject *s, enum pyz_stat stat, long long n);
/* Publish n stored pages at slots off.. (locked). Returns how many entries went in (all n, or
 * fewer with an exception set: the handles from there on are still the caller's). */
int pyz_state_publish(ZswapStateObject *s, unsigned type, uint64_t off, uint32_t pool_id,
                      const uint32_t *handles, const unsigned *lens, int n, int32_t objcg);
/* A whole folio of nr pages was stored (locked): 0 or -1. */
int pyz_state_stored(ZswapStateObject *s, long long nr, int32_t objcg);
/* Hand the memcg event counts added up so far to hooks.count_event (GIL): 0, or -1 with the
 * first hook's error (that count is kept for the next flush). */
int pyz_state_flush_events(ZswapStateObject *s);
/* Erase and free every entry of slots off..off+nr-1 (locked): 0 or -1. */
int pyz_state_erase(ZswapStateObject *s, unsigned type, uint64_t off, uint64_t nr);
/* zswap_invalidate of slots off..off+nr-1 of a swapped-on type, which became free (locked):
 * SlotBusy if a store, load or writeback of one of them is in flight, else their entries
 * erased and freed and counted in invalidated_pages. The entries freed, or -1. */
long long pyz_state_invalidate(ZswapStateObject *s, unsigned type, uint64_t off, uint64_t nr);
/* zswap_load's accounting once `e` (a copy of the slot's record) was decompressed (locked):
 * 1 if the entry was erased and freed (exclusive and still the slot's), 0, or -1. */
int pyz_state_loaded(ZswapStateObject *s, unsigned type, uint64_t off,
                     const struct et_rec *e, int exclusive);

int pyz_state_add_types(PyObject *module);

#endif
