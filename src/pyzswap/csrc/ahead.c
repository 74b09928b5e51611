/*
 * Look-ahead compression on a helper thread (the contract is in ahead.h).
 *
 * 4 * PYZ_AHEAD_MAX slots. A slot is EMPTY, PENDING (handed over, nobody has it), RUNNING (the
 * helper compresses it), DONE (its result waits) or TAKEN (used, or claimed by the caller, who
 * compresses it itself). The last batch handed over names its slots in the caller's order;
 * slots of earlier batches stay until their place is needed (oldest first), so a page handed
 * over early (the next reclaim's candidates) is still there when reclaim isolates it in a later,
 * smaller batch, which keeps its slot rather than copying it again. The caller stores a batch's
 * pages in order; the helper takes the PENDING slot of the newest batch that is last in it, and
 * a caller that wants a PENDING slot claims it (TAKEN) and compresses the page itself, so the
 * two split a batch between two cores and meet in the middle, rather than the caller waiting
 * behind the helper page after page.
 *
 * Every result in the slots is made with the algorithm, level and capacity of the last batch: a
 * batch made otherwise drops them (the slot the helper may be compressing is dropped when it
 * finishes: its generation is old). The helper owns its codec context (remade when a batch
 * names another algorithm or level); nobody else touches it. The mutex is never held while the
 * codec runs.
 */
#define _GNU_SOURCE /* PTHREAD_MUTEX_ADAPTIVE_NP */
#include "ahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "consts.h"

enum { EMPTY, PENDING, RUNNING, DONE, TAKEN };

/* Forks this process descends through: a child's atfork handler adds one before any other
 * thread exists in it, so an object made before the fork sees a different count. */
static unsigned long fork_count;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void count_fork(void)
{
    fork_count++;
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, count_fork);
}

/* How long a caller polls for the page the helper is compressing before it sleeps: a page
 * takes microseconds, a sleep and a wake-up about as long again. */
#define SPIN_NS 50000L

static long elapsed_ns(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The helper polls the mutex while the caller holds it (a hand-over copies and compares up to
 * a batch of pages under it) for up to SPIN_NS before it sleeps on it: a sleeper costs the
 * caller's unlock a wake-up in the kernel, several times what the hold costs. */
static void lock_polling(pthread_mutex_t *mu)
{
    if (!pthread_mutex_trylock(mu))
        return;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 1;; i++) {
        cpu_relax();
        if (!(i & 63) && elapsed_ns(&t0) >= SPIN_NS)
            break;
        if (!(i & 7) && !pthread_mutex_trylock(mu))
            return;
    }
    pthread_mutex_lock(mu);
}

#define NSLOTS (4 * PYZ_AHEAD_MAX)

struct slot {
    _Atomic int state; /* changed under mu; read without it only to poll */
    int result; /* the codec's: a length, -ENOSPC, -ENOMEM or -EINVAL */
    int pos; /* its place in the batch that handed it over last */
    unsigned gen; /* the parameters' generation it was copied under */
    unsigned long long seq; /* that batch's number: the oldest slot is replaced first */
    const char *src; /* where the caller's page was */
    int copied; /* copy holds the bytes compressed (0: a lent page the helper has not copied) */
    unsigned char *copy; /* PAGE_SIZE bytes of the object's page memory */
    unsigned char *out;  /* 2 * PAGE_SIZE bytes after it */
};

struct pyz_ahead {
    pthread_mutex_t mu;
    pthread_cond_t work; /* PENDING slots appeared, or stop */
    pthread_cond_t done; /* a RUNNING slot finished */
    pthread_t thread;
    int started, stop;
    unsigned long forks; /* fork_count when made */
    int algo, level, cap; /* of every result the slots hold */
    unsigned gen; /* bumped when they change */
    int n, hint, running; /* the last batch's size; the slot after the last one taken */
    unsigned long long seq; /* batches handed over */
    int order[PYZ_AHEAD_MAX];   /* the last batch: its pages' slots, in the caller's order */
    struct pyz_codec_ctx *ctx;  /* the helper's */
    long long taken, submitted;
    /* The slots apart from their pages: a hand-over walks every slot, which finds them all in
     * a few cache lines instead of one line (and one TLB entry) per 12 KiB. */
    struct slot slots[NSLOTS];
    unsigned char *pages; /* NSLOTS * SLOT_BYTES: each slot's copy, then its output */
};

#define SLOT_BYTES (3 * PAGE_SIZE)

/* A power of two, at least twice NSLOTS: a probe ends at an empty entry soon. */
#define HASH_SIZE (4 * NSLOTS)

static unsigned src_hash(const char *src)
{
    uintptr_t v = (uintptr_t)src >> 12; /* pages: the low bits are mostly zero */
    return (unsigned)((v * 0x9E3779B97F4A7C15ULL) >> 32) & (HASH_SIZE - 1);
}

#define BATCH(a, i) (&(a)->slots[(a)->order[i]])

/* Under mu, so relaxed: the atomic is only for pyz_ahead_take's poll of a RUNNING slot, which
 * takes the mutex before it reads anything else of the slot. */
#define SET_STATE(s, v) atomic_store_explicit(&(s)->state, (v), memory_order_relaxed)

static int live(const struct slot *s)
{
    return s->state == PENDING || s->state == RUNNING || s->state == DONE;
}

/* Under mu: is the live slot `s` the page at `page`? By its bytes once it has its copy; before
 * that (a lent page: the helper may be writing the copy) by its place, and the bytes are
 * checked when the result is taken. */
static int same_page(const struct slot *s, const char *page)
{
    return s->copied ? !memcmp(s->copy, page, PAGE_SIZE) : s->src == page;
}

/* The PENDING slot to compress next: the newest batch's, last in it first. */
static struct slot *next_pending(struct pyz_ahead *a)
{
    struct slot *best = NULL;
    for (int j = 0; j < NSLOTS; j++) {
        struct slot *s = &a->slots[j];
        if (s->state == PENDING &&
            (!best || s->seq > best->seq || (s->seq == best->seq && s->pos > best->pos)))
            best = s;
    }
    return best;
}

static void *helper(void *arg)
{
    struct pyz_ahead *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct slot *s = next_pending(a);
        if (!s) {
            pthread_cond_wait(&a->work, &a->mu);
            continue;
        }
        SET_STATE(s, RUNNING);
        a->running++;
        int algo = a->algo, level = a->level, cap = a->cap;
        unsigned gen = a->gen;
        pthread_mutex_unlock(&a->mu);
        if (a->ctx &&
            (pyz_codec_ctx_algo(a->ctx) != algo || pyz_codec_ctx_level(a->ctx) != level)) {
            pyz_codec_ctx_free(a->ctx);
            a->ctx = NULL;
        }
        if (!a->ctx)
            a->ctx = pyz_codec_ctx_new(algo, level);
        if (!s->copied) /* a lent page: the caller keeps it alive until pyz_ahead_end_loan */
            memcpy(s->copy, s->src, PAGE_SIZE);
        int r = a->ctx ? pyz_codec_compress(a->ctx, s->copy, PAGE_SIZE, s->out, cap) : -ENOMEM;
        lock_polling(&a->mu);
        s->copied = 1;
        s->result = r;
        SET_STATE(s, gen == a->gen ? DONE : EMPTY);
        a->running--;
        pthread_cond_broadcast(&a->done);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

struct pyz_ahead *pyz_ahead_new(void)
{
    struct pyz_ahead *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->pages = aligned_alloc(PAGE_SIZE, (size_t)NSLOTS * SLOT_BYTES);
    if (!a->pages) {
        free(a);
        return NULL;
    }
    for (int j = 0; j < NSLOTS; j++) {
        a->slots[j].copy = a->pages + (size_t)j * SLOT_BYTES;
        a->slots[j].out = a->slots[j].copy + PAGE_SIZE;
    }
    pthread_mutexattr_t attr;
    int bad = pthread_mutexattr_init(&attr);
    if (!bad) { /* the helper and the caller each hold it for a few instructions: spin first */
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
        bad = pthread_mutex_init(&a->mu, &attr);
        pthread_mutexattr_destroy(&attr);
    }
    if (bad) {
        free(a->pages);
        free(a);
        return NULL;
    }
    if (pthread_cond_init(&a->work, NULL)) {
        pthread_mutex_destroy(&a->mu);
        free(a->pages);
        free(a);
        return NULL;
    }
    if (pthread_cond_init(&a->done, NULL)) {
        pthread_cond_destroy(&a->work);
        pthread_mutex_destroy(&a->mu);
        free(a->pages);
        free(a);
        return NULL;
    }
    pthread_once(&atfork_once, register_atfork);
    a->forks = fork_count;
    return a;
}

void pyz_ahead_free(struct pyz_ahead *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->work);
    pthread_mutex_unlock(&a->mu);
    if (a->started)
        pthread_join(a->thread, NULL);
    pyz_codec_ctx_free(a->ctx);
    pthread_cond_destroy(&a->done);
    pthread_cond_destroy(&a->work);
    pthread_mutex_destroy(&a->mu);
    free(a->pages);
    free(a);
}

int pyz_ahead_here(const struct pyz_ahead *a)
{
    return a->forks == fork_count;
}

int pyz_ahead_submit(struct pyz_ahead *a, int algo, int level, const char *const *pages, int n,
                     int page_size, int cap, int lent)
{
    if (page_size != PAGE_SIZE || cap < 1 || cap > 2 * PAGE_SIZE || n < 0 ||
        algo < 0 || algo >= PYZ_NR_ALGOS || !pyz_algo_level_ok(algo, level))
        return 0;
    if (n > PYZ_AHEAD_MAX)
        n = PYZ_AHEAD_MAX;
    pthread_mutex_lock(&a->mu);
    if (!a->started) {
        if (pthread_create(&a->thread, NULL, helper, a)) {
            pthread_mutex_unlock(&a->mu);
            return 0;
        }
        a->started = 1;
    }
    if (algo != a->algo || level != a->level || cap != a->cap) {
        a->gen++; /* every result is for the old parameters: dropped */
        for (int j = 0; j < NSLOTS; j++)
            if (a->slots[j].state != RUNNING)
                SET_STATE(&a->slots[j], EMPTY);
        a->algo = algo;
        a->level = level;
        a->cap = cap;
    }
    unsigned long long seq = ++a->seq;
    unsigned char in_batch[NSLOTS] = {0};
    /* the live slots by source pointer (open addressing), so that a page handed over before is
     * found in one probe or two rather than by a walk of every slot */
    short by_src[HASH_SIZE];
    memset(by_src, -1, sizeof(by_src));
    for (int i = 0; i < NSLOTS; i++) {
        struct slot *s = &a->slots[i];
        if (live(s) && s->gen == a->gen) {
            unsigned h = src_hash(s->src);
            while (by_src[h] >= 0)
                h = (h + 1) & (HASH_SIZE - 1);
            by_src[h] = (short)i;
        }
    }
    /* first the pages handed over before from here, bytes unchanged: they keep their slots */
    int fresh = 0;
    for (int k = 0; k < n; k++) {
        int j = -1;
        for (unsigned h = src_hash(pages[k]); by_src[h] >= 0 && j < 0;
             h = (h + 1) & (HASH_SIZE - 1)) {
            int i = by_src[h];
            struct slot *s = &a->slots[i];
            if (!in_batch[i] && s->src == pages[k] && live(s) && same_page(s, pages[k]))
                j = i;
        }
        a->order[k] = j;
        if (j >= 0) {
            in_batch[j] = 1;
            a->slots[j].seq = seq;
            a->slots[j].pos = k;
        } else {
            fresh++;
        }
    }
    /* then the others, into free slots, else the oldest ones not compressing nor in this
     * batch (n <= PYZ_AHEAD_MAX and one slot RUNNING at most: there are enough) */
    int room[NSLOTS], nroom = 0;
    for (int i = 0; i < NSLOTS && nroom < fresh; i++)
        if (!in_batch[i] && !live(&a->slots[i]))
            room[nroom++] = i;
    while (nroom < fresh) {
        int j = -1;
        for (int i = 0; i < NSLOTS; i++) {
            struct slot *s = &a->slots[i];
            if (!in_batch[i] && s->state != RUNNING && (j < 0 || s->seq < a->slots[j].seq))
                j = i;
        }
        in_batch[j] = 1; /* taken: not a candidate again */
        room[nroom++] = j;
    }
    for (int k = 0, r = 0; k < n; k++) {
        if (a->order[k] >= 0)
            continue;
        int j = room[r++];
        struct slot *s = &a->slots[j];
        if (!lent)
            memcpy(s->copy, pages[k], PAGE_SIZE);
        s->copied = !lent;
        s->src = pages[k];
        s->gen = a->gen;
        SET_STATE(s, PENDING);
        s->seq = seq;
        s->pos = k;
        a->order[k] = j;
    }
    a->n = n;
    a->hint = 0;
    a->submitted += fresh;
    pthread_mutex_unlock(&a->mu);
    /* after the unlock: a helper woken while the mutex is held sleeps again on it, and the
     * unlock wakes it a second time */
    if (fresh) /* else nothing new: a helper that waits has no PENDING slot to find */
        pthread_cond_signal(&a->work);
    return n;
}

int pyz_ahead_take(struct pyz_ahead *a, int algo, int level, const char *page, int page_size,
                   void *dst, int cap, int *result)
{
    int hit = 0;
    pthread_mutex_lock(&a->mu);
    struct slot *s = NULL;
    if (page_size == PAGE_SIZE && algo == a->algo && level == a->level && cap == a->cap) {
        /* the slot after the last one taken first: stores come in the batch's order */
        for (int j = 0; j < a->n && !s; j++) {
            int i = (a->hint + j) % a->n;
            struct slot *t = BATCH(a, i);
            if (live(t) && t->gen == a->gen && same_page(t, page)) {
                s = t;
                a->hint = i + 1;
            }
        }
        /* then an earlier batch's page, from the same place */
        for (int i = 0; i < NSLOTS && !s; i++) {
            struct slot *t = &a->slots[i];
            if (t->src == page && live(t) && t->gen == a->gen && same_page(t, page))
                s = t;
        }
    }
    if (s) {
        if (s->state == PENDING) {
            SET_STATE(s, TAKEN); /* the caller is here first: it compresses the page itself */
            s = NULL;
        }
    }
    if (s && s->state == RUNNING) {
        pthread_mutex_unlock(&a->mu);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (atomic_load(&s->state) == RUNNING && elapsed_ns(&t0) < SPIN_NS)
            ;
        pthread_mutex_lock(&a->mu);
    }
    while (s && s->state == RUNNING)
        pthread_cond_wait(&a->done, &a->mu);
    /* a batch handed over meanwhile may have reused the slot */
    if (s && s->state == DONE && algo == a->algo && level == a->level && cap == a->cap &&
        s->gen == a->gen && !memcmp(s->copy, page, PAGE_SIZE)) {
        SET_STATE(s, TAKEN);
        int r = s->result;
        if (r > 0 || r == -ENOSPC) {
            if (r > 0)
                memcpy(dst, s->out, (size_t)r);
            *result = r;
            a->taken++;
            hit = 1;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return hit;
}

void pyz_ahead_end_loan(struct pyz_ahead *a)
{
    pthread_mutex_lock(&a->mu);
    for (;;) {
        int copying = 0;
        for (int j = 0; j < NSLOTS; j++) {
            struct slot *s = &a->slots[j];
            if (s->copied)
                continue;
            if (s->state == RUNNING) {
                copying = 1; /* a lent page the helper copies or has copied: copied stays 0
                                until it finishes the page */
            } else {
                SET_STATE(s, EMPTY); /* never read from its place again */
                s->copied = 1;
            }
        }
        if (!copying)
            break;
        pthread_cond_wait(&a->done, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
}

void pyz_ahead_wait(struct pyz_ahead *a)
{
    pthread_mutex_lock(&a->mu);
    for (;;) {
        int busy = a->running || next_pending(a);
        if (!busy || !a->started)
            break;
        pthread_cond_wait(&a->done, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
}

void pyz_ahead_counts(struct pyz_ahead *a, long long *taken, long long *submitted)
{
    pthread_mutex_lock(&a->mu);
    *taken = a->taken;
    *submitted = a->submitted;
    pthread_mutex_unlock(&a->mu);
}
