/* pyzswap._native.Lock (lock.c): threading.Lock's interface, takeable from C. */
#ifndef PYZSWAP_LOCK_H
#define PYZSWAP_LOCK_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    PyObject_HEAD
    atomic_int locked;  /* 0 free, 1 held: taken and released with one atomic operation */
    atomic_int waiters; /* threads sleeping on c (they sleep with m held, see lock.c) */
    atomic_ulong owner; /* the thread that took it (PyThread_get_thread_ident), 0 if free */
    pthread_mutex_t m;
    pthread_cond_t c;
} LockObject;

extern PyTypeObject LockType;

#define PYZ_LOCK_CHECK(o) (Py_TYPE(o) == &LockType)
/* Blocking acquire (waits with the GIL released): 1, or 0 with RuntimeError if this thread
 * already holds the lock (a re-entrant call that would wait for itself forever). The GIL
 * must be held. */
int pyz_lock_acquire(PyObject *lock);
/* 0, or -1 with RuntimeError if it was not held. */
int pyz_lock_release(PyObject *lock);
int pyz_lock_add_types(PyObject *module);

#endif
