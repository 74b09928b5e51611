/* The batching engines' C API for the rest of the extension (csrc/engines.c).
 *
 * Python sees Engines and Job (engines.c). The C flow's stream store (stream.c) takes each
 * page of a Job in order through pyz_job_take, the same step as Job.take without a Python
 * call per page. Locking: called with the GIL held; it drops the GIL while it waits for the
 * page (and works on the job's unclaimed pages meanwhile), as Job.take does.
 */
#ifndef PYZ_ENGINES_H
#define PYZ_ENGINES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Whether `o` is a pyzswap._native.Job (or a subclass). */
int pyz_is_job(PyObject *o);

/* Job.take(i) of `job` (a pyzswap._native.Job): 0 with page i's result in *result (the
 * length, -ENOSPC or -EINVAL), or -1 with an exception (not a Job, out of order, closed). */
int pyz_job_take(PyObject *job, Py_ssize_t i, int *result);

#endif
