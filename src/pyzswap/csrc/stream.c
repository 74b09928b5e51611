/* The C flow's store on a native batching pool: every page of the admitted folios in one
 * engine job (the reference is pyzswap/zswap/stream.py, _store_stream and _stream_pages).
 *
 * The job streams through the compressor's batch_size context buffers as a ring, so the
 * engines compress the next pages while this thread puts the previous ones in zsmalloc and
 * publishes them. As in the series' zswap_store_pages, a folio's entries are published one
 * batch of batch_size pages at a time; a page that cannot be stored fails its folio (its
 * published entries and any older entries of its slots are erased, its other pages dropped)
 * and the other folios go on; zswpout counts whole folios only. The context stays locked for
 * the whole job (its buffers are the job's ring), a deliberate difference from the series,
 * which locks it per batch (docs/ARCHITECTURE.md).
 *
 * What it calls in Python: the transform's compress_stream(srcs, nr_pages, ring) and
 * end_stream(job, completed) (NativeBatchingTransform, declared in _native.pyi). The job's
 * pages are taken in C (pyz_job_take, engines.h) when it is a native Job, else through its
 * take(i).
 */
#include "flow.h"

#include "consts.h"
#include "engines.h"
#include "lock.h"

#include <errno.h>

static PyObject *s_compress_stream, *s_end_stream, *s_take;

static int init_names(void)
{
    if (s_take)
        return 0;
    s_compress_stream = PyUnicode_InternFromString("compress_stream");
    s_end_stream = PyUnicode_InternFromString("end_stream");
    s_take = PyUnicode_InternFromString("take");
    return s_compress_stream && s_end_stream && s_take ? 0 : -1;
}

/* A folio of the stream failed: its unpublished objects freed, its published entries and
 * any older entries of its slots erased (a stale copy must never be written back). */
static void stream_fail(NativeFlowObject *f, struct pool_use *p, struct stream_folio *fo)
{
    pyz_flow_zs_free(p, fo->pending_h, fo->npending);
    fo->npending = 0;
    fo->failed = 1;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    pyz_lock_acquire(f->state->lock);
    if (!f->state->closed && pyz_state_erase(f->state, fo->type, fo->off, (uint64_t)fo->nr) < 0)
        PyErr_Clear(); /* a memcg hook failed: the entries are gone all the same */
    pyz_lock_release(f->state->lock);
    PyErr_Restore(et, ev, tb);
}

/* Publish a folio's pending entries (one batch). 0 or -1. */
static int publish_pending(NativeFlowObject *f, struct pool_use *p, struct stream_folio *fo)
{
    pyz_lock_acquire(f->state->lock);
    if (f->state->closed) {
        pyz_lock_release(f->state->lock);
        pyz_flow_closed_error("store");
        return -1;
    }
    int done = pyz_state_publish(f->state, fo->type, fo->off + (uint64_t)fo->published, p->id,
                                 fo->pending_h, fo->pending_l, fo->npending, fo->objcg);
    pyz_lock_release(f->state->lock);
    if (done < fo->npending) { /* the table failed part-way: the rest are still ours */
        pyz_flow_zs_free(p, fo->pending_h + done, fo->npending - done);
        fo->published += done;
        fo->npending = 0;
        return -1;
    }
    fo->published += fo->npending;
    fo->npending = 0;
    return PyErr_Occurred() ? -1 : 0;
}

/* job.take(k): page k's result (length, -ENOSPC or -EINVAL). 0 or -1. A native Job is
 * taken in C (no Python call per page); any other job object through its take method. */
static int take(PyObject *job, Py_ssize_t k, int *code)
{
    if (pyz_is_job(job))
        return pyz_job_take(job, k, code);
    PyObject *i = PyLong_FromSsize_t(k);
    PyObject *r = i ? PyObject_CallMethodOneArg(job, s_take, i) : NULL;
    Py_XDECREF(i);
    *code = r ? (int)PyLong_AsLong(r) : -1;
    Py_XDECREF(r);
    return *code == -1 && PyErr_Occurred() ? -1 : 0;
}

/* The per-page loop: take the engines' result for each page in order, store it in zsmalloc,
 * publish the folio's entries a batch at a time. 0, or -1 with an exception. */
static int consume(NativeFlowObject *f, struct pool_use *p, struct stream_folio *folios, int n,
                   PyObject *job, PyObject *ring)
{
    Py_ssize_t nslots = PyList_GET_SIZE(ring), k = 0;
    for (int fi = 0; fi < n; fi++) {
        struct stream_folio *fo = &folios[fi];
        for (int i = 0; i < fo->nr; i++, k++) {
            int code;
            if (take(job, k, &code) < 0)
                return -1;
            if (fo->failed)
                continue;
            PyObject *buf = PyList_GET_ITEM(ring, k % nslots);
            if (!PyByteArray_Check(buf)) {
                PyErr_SetString(PyExc_TypeError, "a context's buffers must be bytearrays");
                return -1;
            }
            int r = pyz_flow_zs_store(f, p, fo->buf + (size_t)i * PAGE_SIZE,
                                      PyByteArray_AS_STRING(buf), code > 0 ? code : 0,
                                      code == -ENOSPC, fo->wb_enabled,
                                      &fo->pending_h[fo->npending], &fo->pending_l[fo->npending]);
            if (r < 0)
                return -1;
            if (r == 1) {
                stream_fail(f, p, fo);
                continue;
            }
            fo->npending++;
            if ((fo->npending == p->batch || i == fo->nr - 1) && publish_pending(f, p, fo) < 0)
                return -1;
        }
    }
    return 0;
}

/* The engine job on this CPU's context: 0, or -1 with an exception. */
static int run_job(NativeFlowObject *f, struct pool_use *p, struct stream_folio *folios, int n,
                   PyObject *srcs, int total)
{
    struct ctx_use c;
    if (pyz_flow_ctx_lock(f, p, &c) < 0)
        return -1;
    /* the ring: the pool's compr_batch_size buffers (a global-max context has eight whatever
     * the pool uses; the others stay unused, as in the kernel) */
    PyObject *ring = PyList_GetSlice(c.res->buffers, 0, p->batch);
    PyObject *nr = PyLong_FromLong(total);
    PyObject *job = ring && nr ? PyObject_CallMethodObjArgs(c.res->tfm, s_compress_stream, srcs,
                                                            nr, ring, NULL)
                               : NULL;
    Py_XDECREF(nr);
    int rc = job ? consume(f, p, folios, n, job, ring) : -1;
    if (job) { /* closed whatever happened: in-flight pages finish before the ring goes */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyObject *r = PyObject_CallMethodObjArgs(c.res->tfm, s_end_stream, job,
                                                 rc == 0 ? Py_True : Py_False, NULL);
        if (!r)
            rc = -1;
        Py_XDECREF(r);
        if (et) {
            PyErr_Clear();
            PyErr_Restore(et, ev, tb);
        }
        Py_DECREF(job);
    }
    Py_XDECREF(ring);
    if (rc < 0) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        pyz_lock_release(c.mutex);
        Py_CLEAR(c.ctx);
        Py_CLEAR(c.res);
        Py_CLEAR(c.mutex);
        PyErr_Restore(et, ev, tb);
        return -1;
    }
    return pyz_flow_ctx_unlock(f, p, &c);
}

int pyz_stream_store(NativeFlowObject *f, struct pool_use *p, struct stream_folio *folios, int n,
                     PyObject *srcs)
{
    if (init_names() < 0)
        return -1;
    int total = 0, any_failed = 0;
    for (int k = 0; k < n; k++)
        total += folios[k].nr;
    int rc = run_job(f, p, folios, n, srcs, total);
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    for (int k = 0; k < n; k++) {
        if (rc < 0 && !folios[k].failed) /* an error escaped: nothing of this store may stay */
            stream_fail(f, p, &folios[k]);
        any_failed |= folios[k].failed;
    }
    if (pyz_flow_release_pools(f) < 0 ||
        (any_failed && f->state->reached_full &&
         pyz_flow_hook(f, pyz_s_shrink_work_queue, NULL) < 0))
        rc = -1;
    /* zswpout for the folios stored whole */
    pyz_lock_acquire(f->state->lock);
    for (int k = 0; k < n && rc == 0; k++)
        if (!folios[k].failed && pyz_state_stored(f->state, folios[k].nr, folios[k].objcg) < 0)
            rc = -1;
    pyz_lock_release(f->state->lock);
    if (et) {
        PyErr_Clear();
        PyErr_Restore(et, ev, tb);
    }
    return rc;
}
