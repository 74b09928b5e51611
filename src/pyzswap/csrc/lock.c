/* pyzswap._native.Lock: a lock with threading.Lock's interface that C code can take without
 * a Python call (zswap's lock and the per-CPU context mutexes, which the C flow takes,
 * csrc/flow.c).
 *
 * The lock is one atomic flag: an uncontended acquire is one compare-and-swap and a release one
 * more (plus a load), which matters because a fast store takes three of these locks. A
 * contended acquire sleeps on a condition variable with the GIL released: it registers in
 * `waiters` and retries the flag under the pthread mutex, and a release that sees waiters
 * signals under that mutex, so no wake-up is lost (the waiter holds the mutex from its failed
 * retry until it sleeps). Any thread may release (as with threading.Lock). A blocked
 * acquire from Python (acquire(), `with`) wakes every POLL_NS to run signal handlers, so Ctrl-C
 * interrupts it as it does threading.Lock's; the C flow's acquire (pyz_lock_acquire) only
 * ever waits for a store or load step and is not interrupted. Timeouts are checked as
 * threading.Lock checks them (NaN: ValueError; above threading.TIMEOUT_MAX: OverflowError).
 * Unlike threading.Lock, a blocking acquire without a timeout by the thread that holds the
 * lock raises RuntimeError instead of waiting for itself forever: these locks are mutexes
 * (zswap's lock, the context mutexes), and such a call is a re-entrant zswap call (from a
 * compressor's or a hook's code) that would otherwise hang the process.
 */
#include "lock.h"

#include <errno.h>
#include <math.h>
#include <time.h>

#define POLL_NS 50000000L                /* 50 ms between signal checks of a Python acquire */
#define TIMEOUT_MAX 9223372036.0         /* threading.TIMEOUT_MAX on Linux, in seconds */

/* Take the lock if it is free: 1, else 0. Never waits. */
static inline int try_take(LockObject *self)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&self->locked, &expected, 1))
        return 0;
    atomic_store_explicit(&self->owner, PyThread_get_thread_ident(), memory_order_relaxed);
    return 1;
}

/* Would a blocking acquire by this thread wait for itself? (with RuntimeError set) */
static int held_by_me(LockObject *self)
{
    if (!atomic_load(&self->locked) ||
        atomic_load_explicit(&self->owner, memory_order_relaxed) != PyThread_get_thread_ident())
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "pyzswap Lock: this thread already holds it (a "
                                        "re-entrant zswap call would wait for itself forever)");
    return 1;
}

/* The slow path, GIL released: sleep until the flag is taken (1), or until the deadline
 * passes (0; deadline NULL: never). Registered in waiters while asleep (see the top). */
static int wait_take(LockObject *self, const struct timespec *deadline)
{
    int got = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->m);
    atomic_fetch_add(&self->waiters, 1);
    int rc = 0;
    while (!(got = try_take(self)) && rc != ETIMEDOUT)
        rc = deadline ? pthread_cond_timedwait(&self->c, &self->m, deadline)
                      : pthread_cond_wait(&self->c, &self->m);
    atomic_fetch_sub(&self->waiters, 1);
    pthread_mutex_unlock(&self->m);
    Py_END_ALLOW_THREADS
    return got;
}

int pyz_lock_acquire(PyObject *obj)
{
    LockObject *self = (LockObject *)obj;
    if (try_take(self))
        return 1;
    if (held_by_me(self))
        return 0;
    return wait_take(self, NULL);
}

static void ts_add_ns(struct timespec *ts, long long ns)
{
    ts->tv_sec += (time_t)(ns / 1000000000LL);
    ts->tv_nsec += (long)(ns % 1000000000LL);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* A Python caller's acquire: 1 taken, 0 not (non-blocking, or the timeout passed), -1 with
 * an exception raised by a signal handler (KeyboardInterrupt). timeout < 0: no limit. */
static int acquire_timed(LockObject *self, int blocking, double timeout)
{
    if (try_take(self))
        return 1;
    if (!blocking)
        return 0;
    if (timeout < 0 && held_by_me(self))
        return -1;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout >= 0)
        ts_add_ns(&deadline, (long long)(timeout * 1e9));
    for (;;) {
        struct timespec slice;
        clock_gettime(CLOCK_REALTIME, &slice);
        ts_add_ns(&slice, POLL_NS);
        int last = timeout >= 0 && !ts_before(&slice, &deadline);
        if (wait_take(self, last ? &deadline : &slice))
            return 1;
        if (last)
            return 0;
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

int pyz_lock_release(PyObject *obj)
{
    LockObject *self = (LockObject *)obj;
    int expected = 1;
    atomic_store_explicit(&self->owner, 0, memory_order_relaxed);
    if (!atomic_compare_exchange_strong(&self->locked, &expected, 0)) {
        PyErr_SetString(PyExc_RuntimeError, "release unlocked lock");
        return -1;
    }
    if (atomic_load(&self->waiters) > 0) {
        pthread_mutex_lock(&self->m);
        pthread_cond_signal(&self->c);
        pthread_mutex_unlock(&self->m);
    }
    return 0;
}

static PyObject *lock_acquire(LockObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"blocking", "timeout", NULL};
    int blocking = 1;
    double timeout = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|pd:acquire", kwlist, &blocking, &timeout))
        return NULL;
    if (!blocking && timeout != -1) {
        PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
        return NULL;
    }
    if (isnan(timeout)) {
        PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
        return NULL;
    }
    if (timeout < 0 && timeout != -1) {
        PyErr_SetString(PyExc_ValueError, "timeout value must be a non-negative number");
        return NULL;
    }
    if (timeout > TIMEOUT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
        return NULL;
    }
    int got = acquire_timed(self, blocking, timeout);
    return got < 0 ? NULL : PyBool_FromLong(got);
}

static PyObject *lock_enter(LockObject *self, PyObject *unused)
{
    if (acquire_timed(self, 1, -1) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static PyObject *lock_release(LockObject *self, PyObject *unused)
{
    if (pyz_lock_release((PyObject *)self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *lock_exit(LockObject *self, PyObject *args)
{
    return lock_release(self, NULL);
}

static PyObject *lock_locked(LockObject *self, PyObject *unused)
{
    return PyBool_FromLong(atomic_load(&self->locked));
}

static int lock_init(LockObject *self, PyObject *args, PyObject *kw)
{
    if (!_PyArg_NoKeywords("Lock", kw) || !PyArg_ParseTuple(args, ":Lock"))
        return -1;
    return 0;
}

static PyObject *lock_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    LockObject *self = (LockObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->m, NULL);
    pthread_cond_init(&self->c, NULL);
    atomic_init(&self->locked, 0);
    atomic_init(&self->waiters, 0);
    atomic_init(&self->owner, 0);
    return (PyObject *)self;
}

static void lock_dealloc(LockObject *self)
{
    pthread_cond_destroy(&self->c);
    pthread_mutex_destroy(&self->m);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *lock_repr(LockObject *self)
{
    return PyUnicode_FromFormat("<%s pyzswap._native.Lock object at %p>",
                                atomic_load(&self->locked) ? "locked" : "unlocked", self);
}

static PyMethodDef lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))lock_acquire, METH_VARARGS | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool, as threading.Lock.acquire"},
    {"release", (PyCFunction)lock_release, METH_NOARGS, "release(); any thread may"},
    {"locked", (PyCFunction)lock_locked, METH_NOARGS, "is it held?"},
    {"__enter__", (PyCFunction)lock_enter, METH_NOARGS, "acquire()"},
    {"__exit__", (PyCFunction)lock_exit, METH_VARARGS, "release()"},
    {NULL},
};

PyTypeObject LockType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.Lock",
    .tp_basicsize = sizeof(LockObject),
    .tp_dealloc = (destructor)lock_dealloc,
    .tp_repr = (reprfunc)lock_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A threading.Lock that pyzswap's C code can take directly.",
    .tp_methods = lock_methods,
    .tp_init = (initproc)lock_init,
    .tp_new = lock_new,
};

int pyz_lock_add_types(PyObject *module)
{
    if (PyType_Ready(&LockType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "Lock", (PyObject *)&LockType);
}
