/*
 * zsmalloc in C (see zsmalloc.h for the API, the locking rules and what it reproduces).
 *
 * Layout, per pool:
 *   - classes[]: the created size classes (119 for chain 8) with their fullness lists: heads[g]
 *     for the groups 1..10 (doubly linked through the zspage descriptors, newest at the head),
 *     a bit mask of the non-empty ones, and a stack of spare zspage blocks for reuse;
 *   - zspage descriptors (32 bytes) in chunks of ZCHUNK, named by a 32-bit id (0 = none);
 *     ids of freed zspages are reused LIFO;
 *   - the handle table: 8-byte rows (zspage id, slot, size) in chunks of HCHUNK, indexed by
 *     handle; a free row's size is 0 and its zspage field links the free handles (LIFO);
 *   - object headers: the first 8 bytes of every non-huge slot hold (handle << 1 | 1) while it
 *     is allocated and (next free slot << 1) while free: the kernel's handle header and
 *     link_free. Compaction finds allocated objects by that tag, as find_alloced_obj does.
 *
 * Everything here runs without the GIL and never calls into Python; all memory is PyMem_Raw*.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>   /* PyMem_Raw* only */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "zsmalloc.h"

#define NIL 0u
#define ZS_NOSLOT 0xFFFFu
#define GROUP_ISOLATED (-1)
#define HCHUNK_SHIFT 10
#define HCHUNK (1u << HCHUNK_SHIFT)
#define ZCHUNK_SHIFT 8
#define ZCHUNK (1u << ZCHUNK_SHIFT)
#define MAX_HANDLES 0x7fffffffu   /* handles stay below 2^31 (tagged header: handle << 1 | 1) */

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

struct zspage {
    unsigned char *mem;      /* pages_per_zspage * 4096 bytes; NULL: this id is unused */
    uint32_t prev, next;     /* fullness list links; an unused id: next = next unused id */
    uint32_t serial;         /* names the zspage in debug output (_locate, _fullness_lists) */
    uint32_t owner;          /* huge class: the handle of its one object (0 if free) */
    uint16_t inuse;
    uint16_t freeidx;        /* first free slot, ZS_NOSLOT if full */
    uint8_t cls;             /* position in pool->classes */
    int8_t group;            /* fullness group, GROUP_ISOLATED during compaction */
    uint16_t readers;        /* zs_obj_read_begin pins (atomic): not freed or compacted */
};

struct hrow {
    uint32_t z;              /* zspage id; free row: next free handle */
    uint16_t slot;
    uint16_t size;           /* 1..4096; 0 = free row */
};

struct zs_size_class {
    int index, size, pages, objs, hdr, huge;
    size_t zsbytes;
    unsigned mask;                           /* bit g set iff heads[g] != NIL */
    uint32_t heads[ZS_INUSE_RATIO_99 + 1];   /* [0] unused */
    long nr_zspages, obj_used;
    unsigned char **spare;
    int nspare, spare_cap;
};

struct zs_pool {
    pthread_mutex_t lock;
    int chain_size, huge_class_size, nr_classes;
    long max_pages;
    struct zs_class_info table[ZS_SIZE_CLASSES];
    uint8_t by_index[ZS_SIZE_CLASSES];       /* raw index -> position in classes */
    struct zs_size_class *classes;
    long pages_allocated, pages_compacted, spare_pages, nr_objs;
    unsigned long migrate_seq;
    int dead, compacting;
    uint32_t next_serial;
    struct hrow **hchunks;
    uint32_t nhchunks, hdir_cap, nr_handles, hfree;   /* nr_handles: high water (first is 1) */
    struct zspage **zchunks;
    uint32_t nzchunks, zdir_cap, nr_zids, zfree;      /* nr_zids: high water (first id is 1) */
};

/* ------------------------------------------------------------------ class table ---------- */

int zs_calculate_zspage_chain_size(int class_size, int chain_size)
{
    if (chain_size < ZS_MIN_CHAIN_SIZE || chain_size > ZS_MAX_CHAIN_SIZE || class_size <= 0)
        return 0;
    if ((class_size & (class_size - 1)) == 0)
        return 1;
    int best = 1, min_waste = ZS_PAGE_SIZE + 1;
    for (int pages = 1; pages <= chain_size; pages++) {
        int waste = (pages * ZS_PAGE_SIZE) % class_size;
        if (waste < min_waste) {
            best = pages;
            min_waste = waste;
        }
    }
    return best;
}

int zs_class_index_for(int chunk_size)
{
    int idx = 0;
    if (chunk_size > ZS_MIN_ALLOC_SIZE)
        idx = (chunk_size - ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA - 1) / ZS_SIZE_CLASS_DELTA;
    return idx < ZS_SIZE_CLASSES - 1 ? idx : ZS_SIZE_CLASSES - 1;
}

int zs_build_class_table(int chain_size, struct zs_class_info table[ZS_SIZE_CLASSES])
{
    if (chain_size < ZS_MIN_CHAIN_SIZE || chain_size > ZS_MAX_CHAIN_SIZE)
        return -EINVAL;
    int huge_size = 0, prev = -1;
    for (int i = ZS_SIZE_CLASSES - 1; i >= 0; i--) {
        int size = ZS_MIN_ALLOC_SIZE + i * ZS_SIZE_CLASS_DELTA;
        if (size > ZS_MAX_ALLOC_SIZE)
            size = ZS_MAX_ALLOC_SIZE;
        int pages = zs_calculate_zspage_chain_size(size, chain_size);
        int objs = pages * ZS_PAGE_SIZE / size;
        if (pages != 1 && objs != 1 && !huge_size)
            huge_size = size - (ZS_HANDLE_SIZE - 1);
        if (prev >= 0 && table[prev].pages_per_zspage == pages &&
            table[prev].objs_per_zspage == objs) {
            table[i] = table[prev];   /* can_merge(): same geometry as the previous class */
            continue;
        }
        table[i] = (struct zs_class_info){i, size, pages, objs, pages == 1 && objs == 1};
        prev = i;
    }
    return huge_size;
}

int zs_fullness_group(int inuse, int objs)
{
    if (inuse == 0)
        return ZS_INUSE_RATIO_0;
    if (inuse == objs)
        return ZS_INUSE_RATIO_100;
    return (100 * inuse / objs) / 10 + 1;
}

/* ------------------------------------------------------------------ helpers -------------- */

static inline struct zspage *ZP(const struct zs_pool *p, uint32_t id)
{
    return &p->zchunks[id >> ZCHUNK_SHIFT][id & (ZCHUNK - 1)];
}

static inline struct hrow *HR(const struct zs_pool *p, uint32_t h)
{
    return &p->hchunks[h >> HCHUNK_SHIFT][h & (HCHUNK - 1)];
}

static inline uint64_t *HDR(const struct zs_size_class *c, const struct zspage *z, unsigned slot)
{
    return (uint64_t *)(void *)(z->mem + (size_t)slot * (size_t)c->size);
}

/* zspage_write_lock()'s part: wait (the mutex held) until no reader has z pinned. Readers
 * never wait for the mutex while pinned, so the wait ends when their codec returns. */
static void wait_unpinned(const struct zspage *z)
{
    while (__atomic_load_n(&z->readers, __ATOMIC_ACQUIRE))
        sched_yield();
}

static inline struct zs_size_class *class_for_len(const struct zs_pool *p, unsigned len)
{
    return &p->classes[p->by_index[zs_class_index_for((int)len + ZS_HANDLE_SIZE)]];
}

/* A live handle's row, or NULL. */
static inline struct hrow *live_row(const struct zs_pool *p, uint32_t h)
{
    if (h == 0 || h >= p->nr_handles)
        return NULL;
    struct hrow *r = HR(p, h);
    return r->size ? r : NULL;
}

/* Grow a chunk directory by one chunk of `bytes`; 0 or -ENOMEM. */
static int dir_add_chunk(void ***dir, uint32_t *n, uint32_t *cap, size_t bytes)
{
    if (*n == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 4;
        void **nd = PyMem_RawRealloc(*dir, (size_t)ncap * sizeof(void *));
        if (!nd)
            return -ENOMEM;
        *dir = nd;
        *cap = ncap;
    }
    void *chunk = PyMem_RawMalloc(bytes);
    if (!chunk)
        return -ENOMEM;
    (*dir)[(*n)++] = chunk;
    return 0;
}

/* Make sure a malloc can get a handle row without allocating later; 0 or -ENOMEM. */
static int reserve_handle(struct zs_pool *p)
{
    if (p->hfree || p->nr_handles < p->nhchunks * HCHUNK)
        return 0;
    if (p->nr_handles >= MAX_HANDLES)
        return -ENOMEM;
    return dir_add_chunk((void ***)&p->hchunks, &p->nhchunks, &p->hdir_cap,
                         HCHUNK * sizeof(struct hrow));
}

static inline uint32_t take_handle(struct zs_pool *p)
{
    uint32_t h = p->hfree;
    if (h) {
        p->hfree = HR(p, h)->z;
        return h;
    }
    return p->nr_handles++;
}

static void link_zspage(struct zs_pool *p, struct zs_size_class *c, uint32_t id, int g)
{
    /* insert_zspage(): at the head of group g (only 1..10 are real lists) */
    struct zspage *z = ZP(p, id);
    z->group = (int8_t)g;
    z->prev = NIL;
    if (g == ZS_INUSE_RATIO_100 || g == ZS_INUSE_RATIO_0) {
        z->next = NIL;
        return;
    }
    uint32_t head = c->heads[g];
    z->next = head;
    if (head == NIL)
        c->mask |= 1u << g;
    else
        ZP(p, head)->prev = id;
    c->heads[g] = id;
}

static void unlink_zspage(struct zs_pool *p, struct zs_size_class *c, uint32_t id)
{
    /* remove_zspage(): a no-op for the untracked groups */
    struct zspage *z = ZP(p, id);
    int g = z->group;
    if (g == ZS_INUSE_RATIO_100 || g <= ZS_INUSE_RATIO_0)
        return;
    uint32_t pr = z->prev, nx = z->next;
    if (pr == NIL) {
        c->heads[g] = nx;
        if (nx == NIL)
            c->mask &= ~(1u << g);
    } else {
        ZP(p, pr)->next = nx;
    }
    if (nx != NIL)
        ZP(p, nx)->prev = pr;
    z->prev = z->next = NIL;
}

/* ---------------------------------------------------------------- block cache ------------ */
/* Freed zspage memory, shared by every pool of the process.
 *
 * The kernel's zsmalloc gets its pages from the page allocator, whose free lists hand back
 * recently freed pages: mapped, and often still in the CPU's caches. glibc's malloc instead
 * gives freed heap memory back to the OS, so a pool created after another one died (a
 * compressor switch, the next benchmark repetition) faulted every page in again and wrote into
 * cold cache lines. So blocks that a pool's own spare cache has no room for, and the blocks of
 * a pool being destroyed, land here: one LIFO stack per zspage size in pages, up to
 * ZS_BLOCK_CACHE_PAGES in all, beyond which they are freed. zs_block_cache_drain() frees them
 * all (bench memory measures with it empty). The lock nests inside pool locks, never around
 * one. */
static struct {
    pthread_mutex_t lock;
    unsigned char **stack[ZS_MAX_CHAIN_SIZE + 1];
    int n[ZS_MAX_CHAIN_SIZE + 1], cap[ZS_MAX_CHAIN_SIZE + 1];
    long pages;
} bcache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Push a block on a growable stack (a pool's spare stack or one of the block cache's):
 * 1 if pushed, 0 if the stack could not grow (the caller frees the block). */
static int push_block(unsigned char ***stack, int *n, int *cap, unsigned char *mem)
{
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 16;
        unsigned char **ns = PyMem_RawRealloc(*stack, (size_t)ncap * sizeof(*ns));
        if (!ns)
            return 0;
        *stack = ns;
        *cap = ncap;
    }
    (*stack)[(*n)++] = mem;
    return 1;
}

static unsigned char *block_get(int pages)
{
    unsigned char *mem = NULL;
    pthread_mutex_lock(&bcache.lock);
    if (bcache.n[pages] > 0) {
        mem = bcache.stack[pages][--bcache.n[pages]];
        bcache.pages -= pages;
    }
    pthread_mutex_unlock(&bcache.lock);
    return mem;
}

/* Give a block of `pages` pages back: to the cache if it has room, else to the allocator. */
static void block_put(unsigned char *mem, int pages)
{
    int kept = 0;
    pthread_mutex_lock(&bcache.lock);
    if (bcache.pages + pages <= ZS_BLOCK_CACHE_PAGES &&
        push_block(&bcache.stack[pages], &bcache.n[pages], &bcache.cap[pages], mem)) {
        bcache.pages += pages;
        kept = 1;
    }
    pthread_mutex_unlock(&bcache.lock);
    if (!kept)
        PyMem_RawFree(mem);
}

long zs_block_cache_pages(void)
{
    pthread_mutex_lock(&bcache.lock);
    long n = bcache.pages;
    pthread_mutex_unlock(&bcache.lock);
    return n;
}

long zs_block_cache_drain(void)
{
    pthread_mutex_lock(&bcache.lock);
    long freed = bcache.pages;
    for (int k = 1; k <= ZS_MAX_CHAIN_SIZE; k++) {
        for (int i = 0; i < bcache.n[k]; i++)
            PyMem_RawFree(bcache.stack[k][i]);
        PyMem_RawFree(bcache.stack[k]);
        bcache.stack[k] = NULL;
        bcache.n[k] = bcache.cap[k] = 0;
    }
    bcache.pages = 0;
    pthread_mutex_unlock(&bcache.lock);
    return freed;
}

/* alloc_zspage(): memory (reused if possible) and a descriptor, not yet accounted. */
static int alloc_zspage(struct zs_pool *p, struct zs_size_class *c, uint32_t *out)
{
    if (p->max_pages >= 0 && p->pages_allocated + c->pages > p->max_pages)
        return -ENOMEM;
    uint32_t serial = p->next_serial++;
    unsigned char *mem;
    int from_spare = c->nspare > 0;
    if (from_spare) {
        mem = c->spare[--c->nspare];
        p->spare_pages -= c->pages;
    } else {
        mem = block_get(c->pages);
        if (!mem)
            mem = PyMem_RawMalloc(c->zsbytes);
        if (!mem)
            return -ENOMEM;
    }
    uint32_t id = p->zfree;
    if (id) {
        p->zfree = ZP(p, id)->next;
    } else {
        if (p->nr_zids >= p->nzchunks * ZCHUNK &&
            dir_add_chunk((void ***)&p->zchunks, &p->nzchunks, &p->zdir_cap,
                          ZCHUNK * sizeof(struct zspage)) < 0) {
            if (from_spare) {
                c->spare[c->nspare++] = mem;
                p->spare_pages += c->pages;
            } else {
                block_put(mem, c->pages);
            }
            return -ENOMEM;
        }
        id = p->nr_zids++;
    }
    struct zspage *z = ZP(p, id);
    z->mem = mem;
    z->prev = z->next = NIL;
    z->serial = serial;
    z->owner = 0;
    z->inuse = 0;
    z->freeidx = 0;
    z->cls = (uint8_t)(c - p->classes);
    z->group = ZS_INUSE_RATIO_0;
    z->readers = 0;
    if (!c->huge) {
        /* init_zspage(): free objects linked in slot order */
        for (int s = 0; s < c->objs; s++)
            *HDR(c, z, (unsigned)s) = (uint64_t)(s + 1 < c->objs ? (unsigned)s + 1 : ZS_NOSLOT)
                                      << 1;
    }
    *out = id;
    return 0;
}

/* __free_zspage(): drop an empty, unlinked zspage; its memory goes to the pool's spare stack
 * if that has room, else to the process-wide block cache. */
static void free_zspage(struct zs_pool *p, struct zs_size_class *c, uint32_t id)
{
    struct zspage *z = ZP(p, id);
    wait_unpinned(z); /* only a misused handle (freed while read) can leave a reader here */
    c->nr_zspages--;
    STORE(p->pages_allocated, p->pages_allocated - c->pages);
    if (p->spare_pages + c->pages <= ZS_ZSPAGE_CACHE_PAGES &&
        push_block(&c->spare, &c->nspare, &c->spare_cap, z->mem)) {
        p->spare_pages += c->pages;
    } else {
        block_put(z->mem, c->pages);
    }
    z->mem = NULL;
    z->group = ZS_INUSE_RATIO_0;
    z->prev = NIL;
    z->inuse = 0;
    z->next = p->zfree;
    p->zfree = id;
}

/* ------------------------------------------------------------------ lifetime ------------- */

struct zs_pool *zs_create(int chain_size, long max_pages)
{
    if (chain_size < ZS_MIN_CHAIN_SIZE || chain_size > ZS_MAX_CHAIN_SIZE) {
        errno = EINVAL;
        return NULL;
    }
    struct zs_pool *p = PyMem_RawCalloc(1, sizeof(*p));
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->chain_size = chain_size;
    p->max_pages = max_pages < 0 ? -1 : max_pages;
    p->huge_class_size = zs_build_class_table(chain_size, p->table);
    int n = 0;
    for (int i = 0; i < ZS_SIZE_CLASSES; i++)
        n += p->table[i].index == i;
    p->classes = PyMem_RawCalloc((size_t)n, sizeof(struct zs_size_class));
    if (!p->classes) {
        PyMem_RawFree(p);
        errno = ENOMEM;
        return NULL;
    }
    p->nr_classes = n;
    int k = 0;
    for (int i = 0; i < ZS_SIZE_CLASSES; i++) {
        const struct zs_class_info *t = &p->table[i];
        if (t->index == i) {
            struct zs_size_class *c = &p->classes[k++];
            c->index = i;
            c->size = t->size;
            c->pages = t->pages_per_zspage;
            c->objs = t->objs_per_zspage;
            c->huge = t->huge;
            c->hdr = c->huge ? 0 : ZS_HANDLE_SIZE;
            c->zsbytes = (size_t)c->pages * ZS_PAGE_SIZE;
        }
    }
    /* raw index -> position: each raw index resolves to a created index at or above it */
    for (int i = ZS_SIZE_CLASSES - 1, pos = n - 1; i >= 0; i--) {
        while (p->classes[pos].index != p->table[i].index)
            pos--;
        p->by_index[i] = (uint8_t)pos;
    }
    p->nr_handles = 1;   /* handle 0 is never valid */
    p->nr_zids = 1;      /* zspage id 0 is NIL */
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

static void release_all(struct zs_pool *p)
{
    for (uint32_t id = 1; id < p->nr_zids; id++) {
        struct zspage *z = ZP(p, id);
        wait_unpinned(z);
        if (z->mem)
            block_put(z->mem, p->classes[z->cls].pages);
    }
    for (uint32_t k = 0; k < p->nzchunks; k++)
        PyMem_RawFree(p->zchunks[k]);
    PyMem_RawFree(p->zchunks);
    for (uint32_t k = 0; k < p->nhchunks; k++)
        PyMem_RawFree(p->hchunks[k]);
    PyMem_RawFree(p->hchunks);
    p->zchunks = NULL;
    p->hchunks = NULL;
    p->nzchunks = p->zdir_cap = p->nhchunks = p->hdir_cap = 0;
    p->nr_zids = p->nr_handles = 1;
    p->zfree = p->hfree = 0;
    for (int k = 0; k < p->nr_classes; k++) {
        struct zs_size_class *c = &p->classes[k];
        for (int s = 0; s < c->nspare; s++)
            block_put(c->spare[s], c->pages);
        PyMem_RawFree(c->spare);
        c->spare = NULL;
        c->nspare = c->spare_cap = 0;
        c->mask = 0;
        memset(c->heads, 0, sizeof(c->heads));
        c->nr_zspages = c->obj_used = 0;
    }
    STORE(p->pages_allocated, 0L);
    STORE(p->nr_objs, 0L);
    p->spare_pages = 0;
}

void zs_destroy(struct zs_pool *p)
{
    if (!p)
        return;
    release_all(p);
    PyMem_RawFree(p->classes);
    pthread_mutex_destroy(&p->lock);
    PyMem_RawFree(p);
}

void zs_shutdown_locked(struct zs_pool *p)
{
    STORE(p->dead, 1);
    release_all(p);
}

int zs_is_shutdown(const struct zs_pool *p) { return LOAD(p->dead); }

void zs_lock(struct zs_pool *p) { pthread_mutex_lock(&p->lock); }
int zs_trylock(struct zs_pool *p) { return pthread_mutex_trylock(&p->lock); }
void zs_unlock(struct zs_pool *p) { pthread_mutex_unlock(&p->lock); }

/* ------------------------------------------------------------------ objects -------------- */

int zs_malloc_check_locked(const struct zs_pool *p, unsigned len)
{
    if (len == 0)
        return -EINVAL;
    if (len > ZS_MAX_ALLOC_SIZE)
        return -ENOSPC;
    if (p->dead)
        return -ESHUTDOWN;
    const struct zs_size_class *c = class_for_len(p, len);
    if (!c->mask && p->max_pages >= 0 && p->pages_allocated + c->pages > p->max_pages)
        return -ENOMEM;
    return 0;
}

/* Ask the CPU for every line of [p, p + len) with intent to write, all at once: the copy
 * into a zspage would otherwise wait for its misses one store-buffer drain at a time. */
static inline void prefetch_for_write(const unsigned char *p, size_t len)
{
    uintptr_t line = (uintptr_t)p & ~(uintptr_t)63, end = (uintptr_t)p + len;
    for (; line < end; line += 64)
        __builtin_prefetch((const void *)line, 1, 3);
}

/* Ask the CPU for the lines of the zspage's next free object, for the class's next
 * allocation. A store writes its object into memory nothing has touched for a long time (a
 * fresh zspage, or a slot freed long ago): without this, the copy's misses cost a 4 KiB lzo
 * store about 5% over its codec call (the pool lock's release waits for them). Fetched now,
 * they are usually still in the cache when the next object of this size comes. */
static inline void prefetch_next_obj(const struct zs_size_class *c, const struct zspage *z)
{
    if (c->huge || z->freeidx == ZS_NOSLOT)
        return;
    const unsigned char *next = z->mem + (size_t)z->freeidx * (size_t)c->size;
    for (int off = 0; off < c->size; off += 64)
        __builtin_prefetch(next + off, 1, 2);
}

int zs_malloc_write_locked(struct zs_pool *p, const void *src, unsigned len, uint32_t *handle)
{
    if (len == 0)
        return -EINVAL;
    if (len > ZS_MAX_ALLOC_SIZE)
        return -ENOSPC;
    if (p->dead)
        return -ESHUTDOWN;
    struct zs_size_class *c = class_for_len(p, len);
    int err = reserve_handle(p);
    if (err)
        return err;
    /* find_get_zspage(): head of the fullest non-empty group among 99%..10% */
    unsigned mask = c->mask;
    uint32_t id;
    int g0;
    if (mask) {
        g0 = 31 - __builtin_clz(mask);
        id = c->heads[g0];
    } else {
        err = alloc_zspage(p, c, &id);
        if (err)
            return err;
        g0 = ZS_INUSE_RATIO_0;
    }
    struct zspage *z = ZP(p, id);
    /* obj_malloc(): pop the head of the zspage's free-object list */
    unsigned slot = z->freeidx;
    unsigned char *obj = z->mem + (size_t)slot * (size_t)c->size;
    if (src) /* the object's lines, while its handle and zspage are updated */
        prefetch_for_write(obj, c->hdr + len);
    uint32_t h = take_handle(p);
    if (c->huge) {
        z->freeidx = ZS_NOSLOT;
        z->owner = h;
    } else {
        uint64_t *hp = (uint64_t *)(void *)obj;
        z->freeidx = (uint16_t)(*hp >> 1);
        *hp = ((uint64_t)h << 1) | 1;
    }
    if (src)
        memcpy(obj + c->hdr, src, len);
    prefetch_next_obj(c, z);
    int inuse = ++z->inuse;
    int g = zs_fullness_group(inuse, c->objs);
    if (g != g0) {
        /* fix_fullness_group(): z was the head of g0, the highest non-empty group, so the
         * group it moves up to (if not full) is empty and z becomes its only member. */
        if (g0) {
            uint32_t nx = z->next;
            c->heads[g0] = nx;
            if (nx == NIL)
                mask ^= 1u << g0;
            else
                ZP(p, nx)->prev = NIL;
        } else {
            c->nr_zspages++;
            STORE(p->pages_allocated, p->pages_allocated + c->pages);
        }
        z->next = NIL;
        z->prev = NIL;
        if (g != ZS_INUSE_RATIO_100) {
            c->heads[g] = id;
            mask |= 1u << g;
        }
        c->mask = mask;
        z->group = (int8_t)g;
    }
    c->obj_used++;
    STORE(p->nr_objs, p->nr_objs + 1);
    struct hrow *r = HR(p, h);
    r->z = id;
    r->slot = (uint16_t)slot;
    r->size = (uint16_t)len;
    *handle = h;
    return 0;
}

int zs_free_locked(struct zs_pool *p, uint32_t h)
{
    if (p->dead)
        return -ESHUTDOWN;
    struct hrow *r = live_row(p, h);
    if (!r)
        return -EINVAL;
    uint32_t id = r->z;
    unsigned slot = r->slot;
    struct zspage *z = ZP(p, id);
    struct zs_size_class *c = &p->classes[z->cls];
    /* obj_free(): push the slot at the head of the free-object list */
    if (c->huge) {
        z->freeidx = 0;
        z->owner = 0;
    } else {
        *HDR(c, z, slot) = (uint64_t)z->freeidx << 1;
        z->freeidx = (uint16_t)slot;
    }
    r->size = 0;
    r->z = p->hfree;
    p->hfree = h;
    c->obj_used--;
    STORE(p->nr_objs, p->nr_objs - 1);
    int inuse = --z->inuse;
    int g = zs_fullness_group(inuse, c->objs);
    int g0 = z->group;
    if (g != g0) {
        if (g0 != ZS_INUSE_RATIO_100)
            unlink_zspage(p, c, id);
        if (g)
            link_zspage(p, c, id, g);
        else
            free_zspage(p, c, id);
    }
    return 0;
}

unsigned char *zs_obj_ptr_locked(struct zs_pool *p, uint32_t h, unsigned *size)
{
    if (p->dead)
        return NULL;
    const struct hrow *r = live_row(p, h);
    if (!r)
        return NULL;
    const struct zspage *z = ZP(p, r->z);
    const struct zs_size_class *c = &p->classes[z->cls];
    if (size)
        *size = r->size;
    return z->mem + (size_t)r->slot * (size_t)c->size + (size_t)c->hdr;
}

unsigned char *zs_obj_read_begin_locked(struct zs_pool *p, uint32_t h, unsigned *size,
                                        void **pin)
{
    unsigned char *obj = zs_obj_ptr_locked(p, h, size);
    if (obj) {
        struct zspage *z = ZP(p, HR(p, h)->z);
        __atomic_fetch_add(&z->readers, 1, __ATOMIC_RELAXED); /* the mutex orders it */
        *pin = z;
    }
    return obj;
}

void zs_obj_read_end(void *pin)
{
    struct zspage *z = pin;
    __atomic_fetch_sub(&z->readers, 1, __ATOMIC_RELEASE); /* the reads happened before */
}

/* ------------------------------------------------------------------ accounting ----------- */

long zs_pages_allocated(const struct zs_pool *p) { return LOAD(p->pages_allocated); }
long zs_objects_in_use(const struct zs_pool *p) { return LOAD(p->nr_objs); }
long zs_pages_compacted(const struct zs_pool *p) { return LOAD(p->pages_compacted); }
unsigned long zs_migrate_seq(const struct zs_pool *p) { return LOAD(p->migrate_seq); }
int zs_chain_size(const struct zs_pool *p) { return p->chain_size; }
int zs_huge_class_size(const struct zs_pool *p) { return p->huge_class_size; }
long zs_max_pages(const struct zs_pool *p) { return p->max_pages; }
int zs_nr_classes(const struct zs_pool *p) { return p->nr_classes; }

int zs_class_info(const struct zs_pool *p, int raw_index, struct zs_class_info *out)
{
    if (raw_index < 0 || raw_index >= ZS_SIZE_CLASSES)
        return -EINVAL;
    *out = p->table[raw_index];
    return 0;
}

int zs_class_for_len(const struct zs_pool *p, unsigned len, struct zs_class_info *out)
{
    if (len == 0)
        return -EINVAL;
    if (len > ZS_MAX_ALLOC_SIZE)
        return -ENOSPC;
    *out = p->table[zs_class_index_for((int)len + ZS_HANDLE_SIZE)];
    return 0;
}

/* ------------------------------------------------------------------ compaction ----------- */

static long can_compact(const struct zs_size_class *c)
{
    if (!c->nr_zspages)
        return 0;
    long allocated = c->nr_zspages * c->objs;
    return ((allocated - c->obj_used) / c->objs) * c->pages;
}

long zs_can_compact_locked(const struct zs_pool *p, int raw_index)
{
    if (raw_index < 0 || raw_index >= ZS_SIZE_CLASSES)
        return -EINVAL;
    return can_compact(&p->classes[p->by_index[raw_index]]);
}

long zs_compactable_pages_locked(const struct zs_pool *p)
{
    long sum = 0;
    for (int k = 0; k < p->nr_classes; k++)
        sum += can_compact(&p->classes[k]);
    return sum;
}

int zs_compact_begin(struct zs_pool *p)
{
    return __atomic_exchange_n(&p->compacting, 1, __ATOMIC_ACQUIRE) == 0;
}

void zs_compact_end(struct zs_pool *p)
{
    __atomic_store_n(&p->compacting, 0, __ATOMIC_RELEASE);
}

/* isolate_{src,dst}_zspage(): take the head of the first non-empty group, from..to. */
static uint32_t isolate(struct zs_pool *p, struct zs_size_class *c, int from, int to)
{
    int step = from <= to ? 1 : -1;
    for (int g = from;; g += step) {
        uint32_t id = c->heads[g];
        if (id != NIL) {
            unlink_zspage(p, c, id);
            ZP(p, id)->group = GROUP_ISOLATED;
            return id;
        }
        if (g == to)
            return NIL;
    }
}

/* migrate_zspage(): move src's objects, lowest slot first, into dst's free slots. */
static void migrate(struct zs_pool *p, struct zs_size_class *c, struct zspage *src,
                    uint32_t dst_id)
{
    struct zspage *dst = ZP(p, dst_id);
    size_t size = (size_t)c->size;
    for (int slot = 0; slot < c->objs; slot++) {
        uint64_t *sh = HDR(c, src, (unsigned)slot);
        uint64_t tag = *sh;
        if (!(tag & 1))
            continue;
        uint32_t h = (uint32_t)(tag >> 1);
        unsigned nslot = dst->freeidx;
        uint64_t *dh = HDR(c, dst, nslot);
        dst->freeidx = (uint16_t)(*dh >> 1);
        memcpy(dh, sh, size);   /* zs_object_copy(): the whole chunk, header included */
        *sh = (uint64_t)src->freeidx << 1;
        src->freeidx = (uint16_t)slot;
        src->inuse--;
        dst->inuse++;
        struct hrow *r = HR(p, h);
        r->z = dst_id;
        r->slot = (uint16_t)nslot;
        if (dst->inuse == c->objs || src->inuse == 0)
            break;
    }
}

/* __zs_compact() for one class. */
static long compact_class(struct zs_pool *p, struct zs_size_class *c)
{
    long objs = c->objs;
    long allocated = c->nr_zspages * objs, used = c->obj_used, freed = 0;
    uint32_t dst = NIL;
    while ((allocated - used) / objs) {
        if (dst == NIL) {
            dst = isolate(p, c, ZS_INUSE_RATIO_99, ZS_INUSE_RATIO_10);
            if (dst == NIL)
                break;
        }
        uint32_t src = isolate(p, c, ZS_INUSE_RATIO_10, ZS_INUSE_RATIO_99);
        if (src == NIL)
            break;
        struct zspage *sz = ZP(p, src);
        wait_unpinned(sz); /* its objects move and their old place is reused */
        migrate(p, c, sz, dst);
        int fg = zs_fullness_group(sz->inuse, c->objs);
        if (fg == ZS_INUSE_RATIO_0) {
            free_zspage(p, c, src);
            allocated -= objs;
            freed += c->pages;
        } else {
            link_zspage(p, c, src, fg);   /* putback_zspage() */
        }
        if (ZP(p, dst)->inuse == c->objs) {
            link_zspage(p, c, dst, ZS_INUSE_RATIO_100);
            dst = NIL;
        }
    }
    if (dst != NIL)
        link_zspage(p, c, dst, zs_fullness_group(ZP(p, dst)->inuse, c->objs));
    return freed;
}

long zs_compact_locked(struct zs_pool *p)
{
    STORE(p->migrate_seq, p->migrate_seq + 1);   /* odd: objects may move */
    if (p->dead) {
        STORE(p->migrate_seq, p->migrate_seq + 1);
        return -ESHUTDOWN;
    }
    long freed = 0;
    for (int k = p->nr_classes - 1; k >= 0; k--) {
        struct zs_size_class *c = &p->classes[k];
        if (c->objs > 1 && c->nr_zspages > 1)
            freed += compact_class(p, c);
    }
    STORE(p->pages_compacted, p->pages_compacted + freed);
    STORE(p->migrate_seq, p->migrate_seq + 1);
    return freed;
}

long zs_compact(struct zs_pool *p)
{
    if (!zs_compact_begin(p))
        return 0;   /* compaction_in_progress */
    zs_lock(p);
    long freed = zs_compact_locked(p);
    zs_unlock(p);
    zs_compact_end(p);
    return freed;
}

/* ------------------------------------------------------------------ introspection -------- */

int zs_class_stats_locked(const struct zs_pool *p, struct zs_class_stat *out)
{
    for (int k = 0; k < p->nr_classes; k++) {
        const struct zs_size_class *c = &p->classes[k];
        struct zs_class_stat *s = &out[k];
        memset(s, 0, sizeof(*s));
        s->info = p->table[c->index];
        s->zspages = c->nr_zspages;
        s->obj_allocated = c->nr_zspages * c->objs;
        s->obj_used = c->obj_used;
        s->pages_used = c->nr_zspages * c->pages;
        s->freeable = can_compact(c);
    }
    for (uint32_t id = 1; id < p->nr_zids; id++) {
        const struct zspage *z = ZP(p, id);
        if (z->mem && z->group >= 0)
            out[z->cls].fullness[z->group]++;
    }
    return p->nr_classes;
}

int zs_locate_locked(const struct zs_pool *p, uint32_t h, int *class_index, uint32_t *serial,
                     int *slot)
{
    if (p->dead)
        return -ESHUTDOWN;
    const struct hrow *r = live_row(p, h);
    if (!r)
        return -EINVAL;
    const struct zspage *z = ZP(p, r->z);
    *class_index = p->classes[z->cls].index;
    *serial = z->serial;
    *slot = r->slot;
    return 0;
}

long zs_fullness_list_locked(const struct zs_pool *p, int raw_index, int group,
                             uint32_t *serials, long max)
{
    if (raw_index < 0 || raw_index >= ZS_SIZE_CLASSES || group < ZS_INUSE_RATIO_10 ||
        group > ZS_INUSE_RATIO_99)
        return -EINVAL;
    const struct zs_size_class *c = &p->classes[p->by_index[raw_index]];
    long n = 0;
    for (uint32_t id = c->heads[group]; id != NIL && n <= (long)p->nr_zids; id = ZP(p, id)->next) {
        if (n < max)
            serials[n] = ZP(p, id)->serial;
        n++;
    }
    return n;
}

#define BAD(...) do { snprintf(msg, msglen, __VA_ARGS__); return -1; } while (0)

/* Every class's fullness lists: links, mask bits, filing; the spare stacks. Marks each listed
 * zspage in `listed` and adds the spare pages to *spare. 0, or -1 with `msg` set. */
static int check_class_lists(const struct zs_pool *p, uint8_t *listed, long *spare, char *msg,
                             size_t msglen)
{
    for (int k = 0; k < p->nr_classes; k++) {
        const struct zs_size_class *c = &p->classes[k];
        for (int g = ZS_INUSE_RATIO_10; g <= ZS_INUSE_RATIO_99; g++) {
            uint32_t id = c->heads[g], prev = NIL;
            if (!!(c->mask >> g & 1) != (id != NIL))
                BAD("class %d: mask bit %d disagrees with list", c->index, g);
            while (id != NIL) {
                if (id >= p->nr_zids || !ZP(p, id)->mem)
                    BAD("class %d group %d: a listed zspage is not live", c->index, g);
                const struct zspage *z = ZP(p, id);
                if (z->prev != prev)
                    BAD("class %d group %d: broken prev link", c->index, g);
                if (z->group != g || listed[id] || z->cls != k)
                    BAD("class %d group %d: zspage %u misfiled", c->index, g, z->serial);
                listed[id] = 1;
                prev = id;
                id = z->next;
            }
        }
        if (c->mask & ~0x7feu)
            BAD("class %d: stray mask bits %#x", c->index, c->mask);
        if (c->nspare < 0 || c->nspare > c->spare_cap)
            BAD("class %d: corrupt spare stack", c->index);
        for (int s = 0; s < c->nspare; s++)
            if (!c->spare[s])
                BAD("class %d: NULL spare block", c->index);
        *spare += (long)c->nspare * c->pages;
    }
    return 0;
}

/* One live zspage: its freelist, inuse count, group and list membership, and every object's
 * handle row. Marks each owning handle in `hseen` and counts it in *owned. 0, or -1. */
static int check_zspage(const struct zs_pool *p, uint32_t id, const uint8_t *listed,
                        uint8_t *hseen, long *owned, char *msg, size_t msglen)
{
    const struct zspage *z = ZP(p, id);
    const struct zs_size_class *c = &p->classes[z->cls];
    uint8_t isfree[256];
    memset(isfree, 0, sizeof(isfree));
    int nfree = 0;
    if (c->huge) {
        if (z->freeidx == 0)
            isfree[0] = 1, nfree = 1;
        else if (z->freeidx != ZS_NOSLOT)
            BAD("zspage %u: corrupt freelist", z->serial);
    } else {
        for (unsigned s = z->freeidx; s != ZS_NOSLOT;) {
            if (s >= (unsigned)c->objs || isfree[s] || nfree >= c->objs)
                BAD("zspage %u: corrupt freelist", z->serial);
            isfree[s] = 1;
            nfree++;
            uint64_t v = *HDR(c, z, s);
            if (v & 1)
                BAD("zspage %u: free slot %u tagged allocated", z->serial, s);
            s = (unsigned)(v >> 1);
        }
    }
    if (z->inuse != c->objs - nfree || z->inuse <= 0)
        BAD("zspage %u: inuse %d with %d free", z->serial, z->inuse, nfree);
    if (z->group != zs_fullness_group(z->inuse, c->objs))
        BAD("zspage %u: group %d for inuse %d", z->serial, z->group, z->inuse);
    if ((z->group != ZS_INUSE_RATIO_100) != (listed[id] != 0))
        BAD("zspage %u: list membership wrong for group %d", z->serial, z->group);
    for (int s = 0; s < c->objs; s++) {
        uint32_t h;
        if (c->huge) {
            h = z->owner;
            if ((h == 0) != (isfree[0] != 0))
                BAD("zspage %u: owner %u vs freelist", z->serial, h);
        } else {
            uint64_t v = *HDR(c, z, (unsigned)s);
            if (!(v & 1) != (isfree[s] != 0))
                BAD("zspage %u slot %d: header tag vs freelist", z->serial, s);
            h = (v & 1) ? (uint32_t)(v >> 1) : 0;
        }
        if (!h)
            continue;
        const struct hrow *r = live_row(p, h);
        if (!r || r->z != id || r->slot != s)
            BAD("handle %u: table row does not point at its slot", h);
        if (r->size > c->size - c->hdr || class_for_len(p, r->size) != c)
            BAD("handle %u: object of size %u in the wrong class", h, r->size);
        if (hseen[h])
            BAD("handle %u owns two slots", h);
        hseen[h] = 1;
        (*owned)++;
    }
    return 0;
}

/* The handle and zspage-id free lists: exactly the unused numbers, given `live` handles and
 * `nlive` live zspages. 0, or -1. */
static int check_free_lists(const struct zs_pool *p, uint8_t *hseen, long live, long nlive,
                            char *msg, size_t msglen)
{
    long nfreeh = 0;
    for (uint32_t h = p->hfree; h;) {
        if (h >= p->nr_handles || HR(p, h)->size || hseen[h] == 2 || nfreeh > (long)p->nr_handles)
            BAD("handle free-list is not exactly the unused handle numbers");
        hseen[h] = 2;
        nfreeh++;
        h = HR(p, h)->z;
    }
    if (nfreeh + live != (long)p->nr_handles - 1)
        BAD("handle free-list is not exactly the unused handle numbers");
    long nfreez = 0;
    for (uint32_t id = p->zfree; id;) {
        if (id >= p->nr_zids || ZP(p, id)->mem || nfreez > (long)p->nr_zids)
            BAD("zspage id free-list is corrupt");
        nfreez++;
        id = ZP(p, id)->next;
    }
    if (nfreez + nlive != (long)p->nr_zids - 1)
        BAD("zspage ids: %ld free + %ld live != %u", nfreez, nlive, p->nr_zids - 1);
    return 0;
}
#undef BAD

#define FAIL(...) do { snprintf(msg, msglen, __VA_ARGS__); goto out; } while (0)

const char *zs_check_invariants_locked(const struct zs_pool *p, char *msg, size_t msglen)
{
    const char *ret = msg;
    uint8_t *listed = NULL, *hseen = NULL;
    if (p->nr_zids < 1 || p->nr_handles < 1 || p->nr_zids > p->nzchunks * ZCHUNK + 1 ||
        p->nr_handles > p->nhchunks * HCHUNK + 1) {
        snprintf(msg, msglen, "table high-water marks exceed their chunks");
        return msg;
    }
    listed = PyMem_RawCalloc(p->nr_zids, 1);
    hseen = PyMem_RawCalloc(p->nr_handles, 1);
    if (!listed || !hseen)
        FAIL("out of memory while checking");
    long pages = 0, spare = 0, owned = 0;
    if (check_class_lists(p, listed, &spare, msg, msglen) < 0)
        goto out;
    long nz[ZS_SIZE_CLASSES] = {0}, used[ZS_SIZE_CLASSES] = {0};
    for (uint32_t id = 1; id < p->nr_zids; id++) {
        const struct zspage *z = ZP(p, id);
        if (!z->mem)
            continue;
        if (z->cls >= p->nr_classes)
            FAIL("zspage %u: bad class %d", z->serial, z->cls);
        nz[z->cls]++;
        used[z->cls] += z->inuse;
        pages += p->classes[z->cls].pages;
        if (check_zspage(p, id, listed, hseen, &owned, msg, msglen) < 0)
            goto out;
    }
    long nlive = 0;
    for (int k = 0; k < p->nr_classes; k++) {
        const struct zs_size_class *c = &p->classes[k];
        if (nz[k] != c->nr_zspages || used[k] != c->obj_used)
            FAIL("class %d: counters (%ld zspages, %ld used) != counted (%ld, %ld)",
                 c->index, c->nr_zspages, c->obj_used, nz[k], used[k]);
        nlive += nz[k];
    }
    if (pages != p->pages_allocated)
        FAIL("pages_allocated %ld != %ld counted", p->pages_allocated, pages);
    if (spare != p->spare_pages || spare > ZS_ZSPAGE_CACHE_PAGES)
        FAIL("spare pages %ld != %ld counted", p->spare_pages, spare);
    long live = 0;
    for (uint32_t h = 1; h < p->nr_handles; h++)
        live += HR(p, h)->size != 0;
    if (owned != live || live != p->nr_objs)
        FAIL("handle table (%ld live, %ld objects) and zspage owners (%ld) disagree", live,
             p->nr_objs, owned);
    if (check_free_lists(p, hseen, live, nlive, msg, msglen) < 0)
        goto out;
    ret = NULL;
out:
    PyMem_RawFree(listed);
    PyMem_RawFree(hseen);
    return ret;
}
