/*
 * pyzswap._native.Engines: batching engines in C.
 *
 * An Engines object is a small accelerator made of CPU cores: `threads` persistent POSIX
 * threads, each owning its own codec context (an LZ4 state, a ZSTD_CCtx/DCtx, a zlib stream,
 * an LZO dictionary), that compress or decompress pages without ever touching the Python
 * interpreter. Work is handed over as a Job: many pages at once, one hand-off per job, never
 * one per page. The caller takes results in page order (Job.take) and, while it waits, works
 * on the job's unclaimed pages itself with a codec context of its own (taken from a free
 * list), so a job always completes even if no engine ever wakes up.
 *
 * A compress job writes into a ring of `nslots` destination buffers: page i goes to slot
 * i % nslots, and page i may be claimed only once the caller has taken page i - nslots
 * (take(j) releases the slots of pages < j). So a 512-page folio streams through the 8
 * buffers of a per-CPU context: the caller stores page i while engines compress pages
 * i+1 .. i+7. With nslots >= pages it is a plain batch.
 *
 * Results per page: the output length (> 0), or -ENOSPC (the output does not fit the
 * destination: the kernel's "compress poor"), or -EINVAL (the codec failed / the stream is
 * corrupt).
 *
 * Lock rules: one mutex per Engines (`mu`) protects every job's counters and the job list;
 * it is never held while a codec runs and never held while calling into Python. The GIL is
 * released whenever the caller might block or run a codec.
 *
 * Lifetime: an Engines refuses every method until __init__ ran, and a second __init__
 * (lifecycle.h). A Job may be closed while another thread waits in take() or wait(): close
 * cancels it, wakes the waiters (who raise ValueError) and frees the job only after the last
 * of them has left it (`users`) and the pages in flight have finished.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"  /* the codec table: every page runs through it */
#include "consts.h"
#include "engines.h"

#include "lifecycle.h"

#define MAX_THREADS 64

/* ------------------------------------------------------------------ codec contexts ------ */
/* A codec context of the table (codec.h) on an engine's or a caller's free list. */
typedef struct Codec {
    struct pyz_codec_ctx *ctx;
    struct Codec *next;
} Codec;

static void codec_free(Codec *c)
{
    if (!c)
        return;
    pyz_codec_ctx_free(c->ctx);
    free(c);
}

/* A fresh context (its work memory allocated on first use). NULL on ENOMEM. */
static Codec *codec_new(int algo, int level)
{
    Codec *c = calloc(1, sizeof(*c));
    if (c && !(c->ctx = pyz_codec_ctx_new(algo, level))) {
        free(c);
        c = NULL;
    }
    return c;
}

/* ------------------------------------------------------------------ jobs and engines ---- */
struct Engines;

typedef struct Job {
    unsigned long done_gen; /* bumped (under mu) per finished page; read atomically */
    int decompress;
    Py_ssize_t n, nslots;
    const char **src;
    Py_ssize_t *slen;
    char **dst;
    int *dcap;
    int *result;
    unsigned char *done;
    Py_ssize_t next_claim; /* pages below were claimed */
    Py_ssize_t consumed;   /* slots of pages below were released by the caller */
    Py_ssize_t nr_done, inflight, engine_pages;
    int cancelled, waiting, listed;
    int users; /* callers inside take()/wait() with the GIL released (mu-protected) */
    pthread_cond_t done_cv;
    struct Job *prev, *next;
} Job;

typedef struct Engines {
    PyObject_HEAD
    int algo, level, nthreads;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;
    Job *jobs; /* jobs with work, oldest first */
    int started, stopping, sleeping, live;
    int signaled; /* of the sleeping threads, how many were signalled and have not woken yet */
    int ready; /* __init__ ran */
    pid_t pid;
    pthread_t threads[MAX_THREADS];
    Codec *free_codecs;
    long long engine_pages, jobs_submitted;
    long long wakeups; /* times an engine left its sleep (not its polling) */
    long spin_ns;      /* how long a thread polls before it sleeps */
    unsigned long gen; /* bumped (under mu) whenever work may have appeared; read atomically */
} Engines;

typedef struct {
    PyObject_HEAD
    Engines *eng; /* strong reference */
    Job *job;
    Py_buffer *bufs;
    Py_ssize_t nbufs;
    Py_ssize_t taken; /* next page the caller takes */
    int closed;
} JobObject;

static inline int claimable(const Job *j)
{
    return !j->cancelled && j->next_claim < j->n && j->next_claim < j->consumed + j->nslots;
}

static inline void run_page(Codec *c, Job *j, Py_ssize_t i)
{
    Py_ssize_t slot = i % j->nslots;
    if (j->decompress)
        j->result[i] = j->slen[i] > INT32_MAX
                           ? -EINVAL
                           : pyz_codec_decompress(c->ctx, j->src[i], (int)j->slen[i],
                                                  j->dst[slot], j->dcap[slot]);
    else
        j->result[i] = pyz_codec_compress(c->ctx, j->src[i], PAGE_SIZE, j->dst[slot],
                                          j->dcap[slot]);
}

static void unlist(Engines *e, Job *j)
{
    if (!j->listed)
        return;
    if (j->prev)
        j->prev->next = j->next;
    else
        e->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
    j->listed = 0;
}

/* Mark page i of j finished (mu held). */
static inline void finish_page(Job *j, Py_ssize_t i, int by_engine)
{
    j->done[i] = 1;
    j->nr_done++;
    __atomic_store_n(&j->done_gen, j->done_gen + 1, __ATOMIC_RELEASE);
    j->inflight--;
    if (by_engine)
        j->engine_pages++;
    if (j->waiting) /* a taker and a closer may both wait: wake every one */
        pthread_cond_broadcast(&j->done_cv);
}

/* Tests only: a pause between a caller's poll and its re-lock, to widen the window in which a
 * lost wake-up would strand the caller (see tests/compress/test_native.py). */
static long test_delay_ns;

static inline long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/*
 * Poll (mu NOT held) until `*word` differs from `seen` or spin_ns passed; yield between
 * polls so a thread sharing the core runs. Waking a sleeping thread costs tens of µs on a
 * virtual machine (an idle vCPU halts); the next job or page usually comes sooner.
 */
static int spin_until_changed(const Engines *e, const unsigned long *word, unsigned long seen)
{
    if (e->spin_ns <= 0)
        return 0;
    long end = now_ns() + e->spin_ns;
    do {
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != seen)
            return 1;
        sched_yield();
    } while (now_ns() < end);
    return __atomic_load_n(word, __ATOMIC_ACQUIRE) != seen;
}

static void *engine_main(void *arg)
{
    Engines *e = arg;
    Codec *c = codec_new(e->algo, e->level);
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        Job *j = e->jobs;
        while (j && !claimable(j))
            j = j->next;
        if (!j || !c) {
            unsigned long seen = e->gen;
            pthread_mutex_unlock(&e->mu);
            int changed = c && spin_until_changed(e, &e->gen, seen);
            pthread_mutex_lock(&e->mu);
            if (changed || e->gen != seen || e->stopping)
                continue;
            e->sleeping++;
            pthread_cond_wait(&e->work_cv, &e->mu);
            e->sleeping--;
            if (e->signaled > 0)
                e->signaled--;
            e->wakeups++;
            continue;
        }
        Py_ssize_t i = j->next_claim++;
        j->inflight++;
        if (j->next_claim >= j->n)
            unlist(e, j);
        pthread_mutex_unlock(&e->mu);
        run_page(c, j, i);
        pthread_mutex_lock(&e->mu);
        finish_page(j, i, 1);
        e->engine_pages++;
    }
    e->live--;
    pthread_mutex_unlock(&e->mu);
    codec_free(c);
    return NULL;
}

/* Start the engine threads if needed (mu held). Returns 0 or an errno. */
static int engines_start(Engines *e)
{
    if (e->started && e->pid != getpid()) {
        /* A forked child: the threads stayed in the parent. */
        pthread_mutex_init(&e->mu, NULL);
        pthread_cond_init(&e->work_cv, NULL);
        pthread_mutex_lock(&e->mu);
        e->started = 0;
        e->live = 0;
        e->sleeping = 0;
        e->signaled = 0;
        e->jobs = NULL;
        e->free_codecs = NULL;
    }
    if (e->started || e->stopping)
        return 0;
    e->started = 1;
    e->pid = getpid();
    for (int k = 0; k < e->nthreads; k++) {
        int err = pthread_create(&e->threads[k], NULL, engine_main, e);
        if (err) {
            e->nthreads = k;
            return err;
        }
        e->live++;
    }
    return 0;
}

static Codec *caller_codec(Engines *e)
{
    Codec *c = e->free_codecs;
    if (c) {
        e->free_codecs = c->next;
        return c;
    }
    return codec_new(e->algo, e->level);
}

/* Take one claimable page of j and run it on the caller's context (mu held on entry and
 * exit, dropped while the codec runs). 0 if nothing was claimable or no context. */
static int caller_run_one(Engines *e, Job *j, Codec **c)
{
    if (!claimable(j) || (!*c && !(*c = caller_codec(e))))
        return 0;
    Py_ssize_t i = j->next_claim++;
    j->inflight++;
    if (j->next_claim >= j->n)
        unlist(e, j);
    pthread_mutex_unlock(&e->mu);
    run_page(*c, j, i);
    pthread_mutex_lock(&e->mu);
    finish_page(j, i, 0);
    return 1;
}

static void caller_codec_put(Engines *e, Codec *c)
{
    if (c) {
        c->next = e->free_codecs;
        e->free_codecs = c;
    }
}

/* Wake one sleeping engine that no one signalled yet, if there is one (mu held). */
static void wake_one(Engines *e)
{
    if (e->sleeping > e->signaled) {
        e->signaled++;
        pthread_cond_signal(&e->work_cv);
    }
}

/* Release the slots of pages below `release` (mu held); wake an engine if that made work
 * for the engines: a job the caller runs alone (never listed) is none of theirs, and waking
 * one per page would cost the caller a futex wake each and put a polling engine beside it. */
static void job_release(Engines *e, Job *j, Py_ssize_t release)
{
    if (release > j->consumed) {
        j->consumed = release;
        if (j->listed && claimable(j)) {
            __atomic_store_n(&e->gen, e->gen + 1, __ATOMIC_RELEASE);
            wake_one(e);
        }
    }
}

/* Wait (mu held, GIL released) until page i is done (i = -1: every page), working on the
 * job's claimable pages meanwhile; or until the job is cancelled (Job.close on another
 * thread). 0 when done, -1 if cancelled. */
static int job_wait(Engines *e, Job *j, Py_ssize_t i)
{
    Codec *c = NULL;
    int spun = 0;
    while (!j->cancelled && (i < 0 ? j->nr_done < j->n : !j->done[i])) {
        if (caller_run_one(e, j, &c))
            continue;
        if (!spun && e->spin_ns > 0) {
            /* The page is in an engine's hands: poll a while before sleeping, then check
             * everything again under the lock (a page finished after the poll must not be
             * missed: its engine signals only a thread already waiting). */
            unsigned long seen = j->done_gen;
            spun = 1;
            pthread_mutex_unlock(&e->mu);
            spin_until_changed(e, &j->done_gen, seen);
            if (test_delay_ns > 0) {
                struct timespec ts = {0, test_delay_ns};
                nanosleep(&ts, NULL);
            }
            pthread_mutex_lock(&e->mu);
            continue;
        }
        j->waiting++;
        pthread_cond_wait(&j->done_cv, &e->mu);
        j->waiting--;
        spun = 0;
    }
    caller_codec_put(e, c);
    return j->cancelled ? -1 : 0;
}

/* Stop handing out pages of j, wake its waiters, and wait for the pages in flight and for
 * every caller inside take()/wait() to leave (mu held). */
static void job_cancel(Engines *e, Job *j)
{
    j->cancelled = 1;
    unlist(e, j);
    pthread_cond_broadcast(&j->done_cv);
    while (j->inflight > 0 || j->users > 0) {
        j->waiting++;
        pthread_cond_wait(&j->done_cv, &e->mu);
        j->waiting--;
    }
}

static void job_free(Job *j)
{
    if (!j)
        return;
    pthread_cond_destroy(&j->done_cv);
    free(j->src);
    free(j->slen);
    free(j->dst);
    free(j->dcap);
    free(j->result);
    free(j->done);
    free(j);
}

/* ------------------------------------------------------------------ Python: Job --------- */
static PyTypeObject JobType;

static void jobobj_release(JobObject *self)
{
    if (self->closed)
        return;
    self->closed = 1;
    if (self->job) {
        Engines *e = self->eng;
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&e->mu);
        job_cancel(e, self->job);
        pthread_mutex_unlock(&e->mu);
        Py_END_ALLOW_THREADS
        job_free(self->job);
        self->job = NULL;
    }
    for (Py_ssize_t k = 0; k < self->nbufs; k++)
        PyBuffer_Release(&self->bufs[k]);
    PyMem_Free(self->bufs);
    self->bufs = NULL;
    self->nbufs = 0;
}

static void jobobj_dealloc(JobObject *self)
{
    jobobj_release(self);
    Py_XDECREF(self->eng);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int jobobj_check(JobObject *self)
{
    if (self->closed || !self->job) {
        PyErr_SetString(PyExc_ValueError, "the job is closed");
        return -1;
    }
    return 0;
}

/* A caller of take()/wait() is done with the job (GIL held; mu is never held for long). */
static void job_leave(Engines *e, Job *j)
{
    pthread_mutex_lock(&e->mu);
    if (--j->users == 0 && j->cancelled)
        pthread_cond_broadcast(&j->done_cv); /* the closer waits for us */
    pthread_mutex_unlock(&e->mu);
}

static PyObject *job_closed_error(void)
{
    PyErr_SetString(PyExc_ValueError, "the job was closed while this call waited for it");
    return NULL;
}

/* take(i) (GIL held): wait for page i (in order), releasing the slots of pages before it.
 * 0 with page i's result in *result, or -1 with an exception. */
static int job_take(JobObject *self, Py_ssize_t i, int *out)
{
    if (jobobj_check(self) < 0)
        return -1;
    Job *j = self->job;
    if (i < self->taken || i >= j->n) {
        PyErr_Format(PyExc_IndexError, "take(%zd): pages are taken in order, next is %zd of %zd",
                     i, self->taken, j->n);
        return -1;
    }
    Engines *e = self->eng;
    pthread_mutex_lock(&e->mu);
    job_release(e, j, i);
    /* an engine writes result[i] outside mu, then marks it done under mu: read it only then */
    int ready = j->done[i], result = ready ? j->result[i] : 0, rc = 0;
    j->users++; /* from here until it is back under mu: a close waits for us */
    pthread_mutex_unlock(&e->mu);
    if (!ready) {
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&e->mu);
        rc = job_wait(e, j, i);
        result = j->result[i];
        pthread_mutex_unlock(&e->mu);
        Py_END_ALLOW_THREADS
    }
    job_leave(e, j);
    if (rc < 0) {
        job_closed_error();
        return -1;
    }
    self->taken = i + 1;
    *out = result;
    return 0;
}

int pyz_is_job(PyObject *o)
{
    return PyObject_TypeCheck(o, &JobType);
}

int pyz_job_take(PyObject *job, Py_ssize_t i, int *result)
{
    if (!pyz_is_job(job)) {
        PyErr_Format(PyExc_TypeError, "expected a pyzswap._native.Job, got %.100s",
                     Py_TYPE(job)->tp_name);
        return -1;
    }
    return job_take((JobObject *)job, i, result);
}

static PyObject *jobobj_take(JobObject *self, PyObject *arg)
{
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    int result;
    if ((i == -1 && PyErr_Occurred()) || job_take(self, i, &result) < 0)
        return NULL;
    return PyLong_FromLong(result);
}

/* wait(): every page done; the per-page results as a list. */
static PyObject *jobobj_wait(JobObject *self, PyObject *Py_UNUSED(ignored))
{
    if (jobobj_check(self) < 0)
        return NULL;
    Job *j = self->job;
    if (j->nslots < j->n && self->taken < j->n - j->nslots) {
        PyErr_SetString(PyExc_ValueError,
                        "wait() on a ring job: take() pages until the rest fit in the ring");
        return NULL;
    }
    Engines *e = self->eng;
    int rc;
    pthread_mutex_lock(&e->mu);
    j->users++;
    pthread_mutex_unlock(&e->mu);
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&e->mu);
    job_release(e, j, j->n);
    rc = job_wait(e, j, -1);
    pthread_mutex_unlock(&e->mu);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        job_leave(e, j);
        return job_closed_error();
    }
    /* every page is done: the results no longer change, and a close waits for job_leave */
    PyObject *out = PyList_New(j->n);
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; out && i < j->n; i++) {
        PyObject *v = PyLong_FromLong(j->result[i]);
        if (!v)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, v);
    }
    if (out)
        self->taken = j->n;
    job_leave(e, j);
    return out;
}

/* poll(): True when every page is done (never blocks). */
static PyObject *jobobj_poll(JobObject *self, PyObject *Py_UNUSED(ignored))
{
    if (jobobj_check(self) < 0)
        return NULL;
    Engines *e = self->eng;
    pthread_mutex_lock(&e->mu);
    int all = self->job->nr_done == self->job->n;
    pthread_mutex_unlock(&e->mu);
    return PyBool_FromLong(all);
}

static PyObject *jobobj_close(JobObject *self, PyObject *Py_UNUSED(ignored))
{
    jobobj_release(self);
    Py_RETURN_NONE;
}

static PyObject *jobobj_enter(JobObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_NewRef(self);
}

static PyObject *jobobj_exit(JobObject *self, PyObject *Py_UNUSED(args))
{
    jobobj_release(self);
    Py_RETURN_FALSE;
}

static PyObject *jobobj_get_pages(JobObject *self, void *Py_UNUSED(c))
{
    return PyLong_FromSsize_t(self->job ? self->job->n : 0);
}

static PyObject *jobobj_get_engine_pages(JobObject *self, void *Py_UNUSED(c))
{
    if (!self->job)
        return PyLong_FromLong(0);
    pthread_mutex_lock(&self->eng->mu);
    Py_ssize_t n = self->job->engine_pages;
    pthread_mutex_unlock(&self->eng->mu);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef job_methods[] = {
    {"take", (PyCFunction)jobobj_take, METH_O,
     "take(i) -> result of page i; pages are taken in order, and taking page i releases the "
     "ring slots of the pages before it (page i's slot stays valid until the next take)."},
    {"wait", (PyCFunction)jobobj_wait, METH_NOARGS, "wait() -> every page's result."},
    {"poll", (PyCFunction)jobobj_poll, METH_NOARGS, "poll() -> True when every page is done."},
    {"close", (PyCFunction)jobobj_close, METH_NOARGS,
     "Stop the job: pages not started are dropped, pages in flight finish; then the buffers "
     "are released. Idempotent."},
    {"__enter__", (PyCFunction)jobobj_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)jobobj_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef job_getset[] = {
    {"pages", (getter)jobobj_get_pages, NULL, "pages in the job", NULL},
    {"engine_pages", (getter)jobobj_get_engine_pages, NULL,
     "pages an engine thread (not the caller) processed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject JobType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pyzswap._native.Job",
    .tp_basicsize = sizeof(JobObject),
    .tp_dealloc = (destructor)jobobj_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Pages handed to an Engines object; see Engines.compress.",
    .tp_methods = job_methods,
    .tp_getset = job_getset,
};

/* ------------------------------------------------------------------ Python: Engines ----- */
static int engines_init(Engines *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"algorithm", "level", "threads", "spin_us", NULL};
    const char *name;
    int level = 0, threads = 1;
    double spin_us = 50.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|iid", kwlist, &name, &level, &threads,
                                     &spin_us))
        return -1;
    if (!(spin_us >= 0.0 && spin_us <= 1e6)) {
        PyErr_Format(PyExc_ValueError, "spin_us must be in 0..1000000, got %R",
                     PyTuple_Size(args) > 3 ? PyTuple_GET_ITEM(args, 3) : Py_None);
        return -1;
    }
    int algo = pyz_algo_find(name);
    if (algo < 0) {
        PyErr_Format(PyExc_ValueError, "no native engine for %R", PyTuple_GET_ITEM(args, 0));
        return -1;
    }
    if (!pyz_algo_level_ok(algo, level)) {
        PyErr_Format(PyExc_ValueError, "level %d is out of range for %s", level, name);
        return -1;
    }
    if (threads < 0 || threads > MAX_THREADS) {
        PyErr_Format(PyExc_ValueError, "threads must be in 0..%d, got %d", MAX_THREADS, threads);
        return -1;
    }
    if (self->ready || self->started)
        return pyz_err_init_twice("Engines");
    self->algo = algo;
    self->level = level;
    self->nthreads = threads;
    self->spin_ns = (long)(spin_us * 1000.0);
    self->ready = 1;
    return 0;
}

static PyObject *engines_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Engines *self = (Engines *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->work_cv, NULL);
    return (PyObject *)self;
}

static void engines_stop(Engines *e)
{
    int n = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&e->mu);
    int mine = e->started && e->pid == getpid();
    if (mine && !e->stopping) {
        e->stopping = 1;
        n = e->nthreads;
        __atomic_store_n(&e->gen, e->gen + 1, __ATOMIC_RELEASE); /* ends their polling */
        pthread_cond_broadcast(&e->work_cv);
    }
    pthread_mutex_unlock(&e->mu);
    for (int k = 0; k < n; k++)
        pthread_join(e->threads[k], NULL);
    pthread_mutex_lock(&e->mu);
    if (n) {
        e->started = 0;
        e->stopping = 0;
    }
    Codec *c = e->free_codecs;
    e->free_codecs = NULL;
    pthread_mutex_unlock(&e->mu);
    while (c) {
        Codec *next = c->next;
        codec_free(c);
        c = next;
    }
    Py_END_ALLOW_THREADS
}

static void engines_dealloc(Engines *self)
{
    engines_stop(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *engines_close(Engines *self, PyObject *Py_UNUSED(ignored))
{
    if (!self->ready)
        return pyz_err_uninit("Engines");
    engines_stop(self);
    Py_RETURN_NONE;
}

/*
 * Build a job: `srcs` (pages or streams), `dsts` (the slots), the number of engines to wake.
 * For a compress job every source buffer holds a whole number of 4096-byte pages.
 */
/* A job of `npages` pages over `nd` destination slots, its arrays allocated (not filled), or
 * NULL with MemoryError. */
static Job *job_alloc(int decompress, Py_ssize_t npages, Py_ssize_t nd)
{
    Job *j = calloc(1, sizeof(*j));
    if (!j) {
        PyErr_NoMemory();
        return NULL;
    }
    pthread_cond_init(&j->done_cv, NULL);
    j->decompress = decompress;
    j->n = npages;
    j->nslots = nd;
    size_t np = (size_t)(npages ? npages : 1);
    j->src = malloc(np * sizeof(*j->src));
    j->slen = malloc(np * sizeof(*j->slen));
    j->result = malloc(np * sizeof(*j->result));
    j->done = calloc(np, 1);
    j->dst = malloc((size_t)nd * sizeof(*j->dst));
    j->dcap = malloc((size_t)nd * sizeof(*j->dcap));
    if (!j->src || !j->slen || !j->result || !j->done || !j->dst || !j->dcap) {
        PyErr_NoMemory();
        job_free(j);
        return NULL;
    }
    return j;
}

/* The job's page sources from its `ns` source buffers: one stream per buffer to decompress, or
 * each PAGE_SIZE page of each buffer to compress. */
static void job_set_sources(Job *j, const Py_buffer *bufs, Py_ssize_t ns)
{
    Py_ssize_t p = 0;
    for (Py_ssize_t k = 0; k < ns; k++) {
        const Py_buffer *b = &bufs[k];
        if (j->decompress) {
            j->src[p] = b->buf;
            j->slen[p++] = b->len;
            continue;
        }
        for (Py_ssize_t off = 0; off < b->len; off += PAGE_SIZE) {
            j->src[p] = (const char *)b->buf + off;
            j->slen[p++] = PAGE_SIZE;
        }
    }
}

/* Hand a filled job over to the engines: one lock, one wake-up per engine asked for (`wake`
 * engines, all if negative, never more than the pages after the caller's first). With no
 * engine woken the caller does every page itself. */
static void job_hand_over(Engines *self, Job *j, int wake, Py_ssize_t npages)
{
    if (wake < 0 || wake > self->nthreads)
        wake = self->nthreads;
    if (wake > npages - 1)
        wake = (int)(npages - 1);
    if (wake <= 0)
        return;
    pthread_mutex_lock(&self->mu);
    (void)engines_start(self); /* fewer engines than asked: the caller does their share */
    j->listed = 1;
    j->prev = NULL;
    j->next = NULL;
    if (!self->jobs) {
        self->jobs = j;
    } else {
        Job *t = self->jobs;
        while (t->next)
            t = t->next;
        t->next = j;
        j->prev = t;
    }
    self->jobs_submitted++;
    __atomic_store_n(&self->gen, self->gen + 1, __ATOMIC_RELEASE);
    for (int k = 0; k < wake; k++)
        wake_one(self);
    pthread_mutex_unlock(&self->mu);
}

static PyObject *engines_submit(Engines *self, PyObject *args, PyObject *kwds, int decompress)
{
    static char *kwlist[] = {"srcs", "dsts", "wake", NULL};
    PyObject *srcs_o, *dsts_o;
    int wake = -1;
    if (!self->ready)
        return pyz_err_uninit("Engines");
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|i", kwlist, &srcs_o, &dsts_o, &wake))
        return NULL;
    PyObject *srcs = PySequence_Fast(srcs_o, "srcs must be a sequence of buffers");
    if (!srcs)
        return NULL;
    PyObject *dsts = PySequence_Fast(dsts_o, "dsts must be a sequence of writable buffers");
    if (!dsts) {
        Py_DECREF(srcs);
        return NULL;
    }
    Py_ssize_t ns = PySequence_Fast_GET_SIZE(srcs), nd = PySequence_Fast_GET_SIZE(dsts);
    JobObject *jo = PyObject_New(JobObject, &JobType);
    Job *j = NULL;
    if (!jo)
        goto fail_seq;
    jo->eng = (Engines *)Py_NewRef(self);
    jo->job = NULL;
    jo->nbufs = 0;
    jo->taken = 0;
    jo->closed = 0;
    jo->bufs = PyMem_Calloc((size_t)(ns + nd) + 1, sizeof(Py_buffer));
    if (!jo->bufs) {
        PyErr_NoMemory();
        goto fail;
    }
    if (nd == 0) {
        PyErr_SetString(PyExc_ValueError, "dsts is empty");
        goto fail;
    }
    /* sources */
    Py_ssize_t npages = 0;
    for (Py_ssize_t k = 0; k < ns; k++) {
        Py_buffer *b = &jo->bufs[jo->nbufs];
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(srcs, k), b, PyBUF_SIMPLE) < 0)
            goto fail;
        jo->nbufs++;
        if (!decompress && (b->len <= 0 || b->len % PAGE_SIZE)) {
            PyErr_Format(PyExc_ValueError, "source %zd is %zd bytes, not whole %d-byte pages",
                         k, b->len, PAGE_SIZE);
            goto fail;
        }
        npages += decompress ? 1 : b->len / PAGE_SIZE;
    }
    if (decompress && nd != ns) {
        PyErr_Format(PyExc_ValueError, "%zd streams but %zd destinations", ns, nd);
        goto fail;
    }
    j = job_alloc(decompress, npages, nd);
    if (!j)
        goto fail;
    job_set_sources(j, jo->bufs, ns);
    for (Py_ssize_t k = 0; k < nd; k++) {
        Py_buffer *b = &jo->bufs[jo->nbufs];
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(dsts, k), b,
                               PyBUF_SIMPLE | PyBUF_WRITABLE) < 0)
            goto fail;
        jo->nbufs++;
        if (b->len <= 0) {
            PyErr_Format(PyExc_ValueError, "destination %zd is empty", k);
            goto fail;
        }
        j->dst[k] = b->buf;
        j->dcap[k] = b->len > INT32_MAX ? INT32_MAX : (int)b->len;
    }
    Py_DECREF(srcs);
    Py_DECREF(dsts);
    srcs = dsts = NULL;
    jo->job = j;
    if (npages == 0)
        return (PyObject *)jo;
    job_hand_over(self, j, wake, npages);
    return (PyObject *)jo;

fail:
    if (j) {
        jo->job = NULL;
        job_free(j);
    }
    Py_XDECREF(jo);
fail_seq:
    Py_XDECREF(srcs);
    Py_XDECREF(dsts);
    return NULL;
}

static PyObject *engines_compress(Engines *self, PyObject *args, PyObject *kwds)
{
    return engines_submit(self, args, kwds, 0);
}

static PyObject *engines_decompress(Engines *self, PyObject *args, PyObject *kwds)
{
    return engines_submit(self, args, kwds, 1);
}

static PyObject *engines_get_engine_pages(Engines *self, void *Py_UNUSED(c))
{
    pthread_mutex_lock(&self->mu);
    long long n = self->engine_pages;
    pthread_mutex_unlock(&self->mu);
    return PyLong_FromLongLong(n);
}

/* The engines asleep now, and how often one woke: what a caller's hand-overs cost. */
static PyObject *engines_get_sleeping(Engines *self, void *Py_UNUSED(c))
{
    pthread_mutex_lock(&self->mu);
    int n = (self->started && self->pid == getpid()) ? self->sleeping - self->signaled : 0;
    pthread_mutex_unlock(&self->mu);
    return PyLong_FromLong(n);
}

static PyObject *engines_get_wakeups(Engines *self, void *Py_UNUSED(c))
{
    pthread_mutex_lock(&self->mu);
    long long n = self->wakeups;
    pthread_mutex_unlock(&self->mu);
    return PyLong_FromLongLong(n);
}

static PyObject *engines_get_live(Engines *self, void *Py_UNUSED(c))
{
    pthread_mutex_lock(&self->mu);
    int n = (self->started && self->pid == getpid()) ? self->live : 0;
    pthread_mutex_unlock(&self->mu);
    return PyLong_FromLong(n);
}

static PyObject *engines_get_threads(Engines *self, void *Py_UNUSED(c))
{
    if (!self->ready)
        return pyz_err_uninit("Engines");
    return PyLong_FromLong(self->nthreads);
}

static PyObject *engines_get_algorithm(Engines *self, void *Py_UNUSED(c))
{
    if (!self->ready)
        return pyz_err_uninit("Engines");
    return PyUnicode_FromString(pyz_algos[self->algo].name);
}

static PyMethodDef engines_methods[] = {
    {"compress", (PyCFunction)(void (*)(void))engines_compress, METH_VARARGS | METH_KEYWORDS,
     "compress(srcs, dsts, wake=-1) -> Job. srcs: buffers of whole 4096-byte pages (the "
     "pages in order); dsts: the ring of destination slots (page i -> slot i % len(dsts)); "
     "wake: engines to wake (-1: all, 0: the caller does every page in take()/wait())."},
    {"decompress", (PyCFunction)(void (*)(void))engines_decompress,
     METH_VARARGS | METH_KEYWORDS,
     "decompress(srcs, dsts, wake=-1) -> Job. One compressed stream per destination."},
    {"close", (PyCFunction)engines_close, METH_NOARGS,
     "Stop and join the engine threads (a later job starts them again)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef engines_getset[] = {
    {"engine_pages", (getter)engines_get_engine_pages, NULL, "pages engines processed", NULL},
    {"live", (getter)engines_get_live, NULL, "engine threads running", NULL},
    {"sleeping", (getter)engines_get_sleeping, NULL,
     "engine threads asleep (waiting for work, not yet signalled)", NULL},
    {"wakeups", (getter)engines_get_wakeups, NULL, "times an engine thread woke from sleep",
     NULL},
    {"threads", (getter)engines_get_threads, NULL, "engine threads (when started)", NULL},
    {"algorithm", (getter)engines_get_algorithm, NULL, "the algorithm's name", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EnginesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pyzswap._native.Engines",
    .tp_basicsize = sizeof(Engines),
    .tp_dealloc = (destructor)engines_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Engines(algorithm, level=0, threads=1): engine threads with their own codec "
              "contexts; see the module source for the protocol.",
    .tp_methods = engines_methods,
    .tp_getset = engines_getset,
    .tp_init = (initproc)engines_init,
    .tp_new = engines_new,
};

/* ------------------------------------------------------------------ module ------------- */
static PyObject *mod_test_delay(PyObject *Py_UNUSED(m), PyObject *arg)
{
    long ns = PyLong_AsLong(arg);
    if (ns == -1 && PyErr_Occurred())
        return NULL;
    if (ns < 0 || ns > 999999999) {
        PyErr_SetString(PyExc_ValueError, "delay must be in 0..999999999 ns");
        return NULL;
    }
    test_delay_ns = ns;
    Py_RETURN_NONE;
}

static PyMethodDef engines_functions[] = {
    {"_test_delay_after_poll", mod_test_delay, METH_O,
     "Tests only: sleep this many ns between a waiting caller's poll and its re-lock."},
    {NULL, NULL, 0, NULL},
};

int pyz_engines_add_types(PyObject *module)
{
    if (PyType_Ready(&EnginesType) < 0 || PyType_Ready(&JobType) < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "Engines", (PyObject *)&EnginesType) < 0 ||
        PyModule_AddObjectRef(module, "Job", (PyObject *)&JobType) < 0)
        return -1;
    return PyModule_AddFunctions(module, engines_functions);
}
