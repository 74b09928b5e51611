/* PercpuRef, AcompCtx and CtxResources: the C parts of a zswap pool (see pool.h). */
#include "pool.h"

#include "lifecycle.h"
#include "lock.h"

#include <structmember.h>

/* ---------------------------------------------------------------- PercpuRef -------------- */

static int ref_init(PercpuRefObject *self, PyObject *args, PyObject *kw)
{
    if (!_PyArg_NoKeywords("PercpuRef", kw) || !PyArg_ParseTuple(args, ":PercpuRef"))
        return -1;
    self->count = 1; /* percpu_ref_init: the initial reference */
    self->dead = 0;
    return 0;
}

static int nr_arg(PyObject *const *args, Py_ssize_t nargs, long long *nr)
{
    *nr = 1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "takes at most one argument (nr)");
        return -1;
    }
    if (nargs == 1) {
        *nr = PyLong_AsLongLong(args[0]);
        if (*nr == -1 && PyErr_Occurred())
            return -1;
        if (*nr < 0) {
            PyErr_SetString(PyExc_ValueError, "nr must be >= 0");
            return -1;
        }
    }
    return 0;
}

static PyObject *ref_tryget(PercpuRefObject *self, PyObject *unused)
{
    if (self->count <= 0)
        Py_RETURN_FALSE;
    self->count++;
    Py_RETURN_TRUE;
}

static PyObject *ref_get(PercpuRefObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long nr;
    if (nr_arg(args, nargs, &nr) < 0)
        return NULL;
    self->count += nr;
    Py_RETURN_NONE;
}

static PyObject *ref_put(PercpuRefObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    long long nr;
    if (nr_arg(args, nargs, &nr) < 0)
        return NULL;
    if (nr > self->count) {
        PyErr_Format(PyExc_ValueError, "percpu_ref underflow: put(%lld) of %lld", nr,
                     self->count);
        return NULL;
    }
    self->count -= nr;
    return PyBool_FromLong(self->count == 0);
}

static PyObject *ref_kill(PercpuRefObject *self, PyObject *unused)
{
    if (self->dead || self->count <= 0) {
        PyErr_SetString(PyExc_ValueError, "percpu_ref_kill of a dead reference");
        return NULL;
    }
    self->dead = 1;
    self->count--;
    return PyBool_FromLong(self->count == 0);
}

static PyObject *ref_resurrect(PercpuRefObject *self, PyObject *unused)
{
    if (!self->dead || self->count <= 0) {
        PyErr_SetString(PyExc_ValueError, "percpu_ref_resurrect of a live or released "
                                          "reference");
        return NULL;
    }
    self->dead = 0;
    self->count++;
    Py_RETURN_NONE;
}

static PyMethodDef ref_methods[] = {
    {"tryget", (PyCFunction)ref_tryget, METH_NOARGS,
     "percpu_ref_tryget: take a reference unless the count is zero; True if taken."},
    {"get", (PyCFunction)(void (*)(void))ref_get, METH_FASTCALL, "get(nr=1): percpu_ref_get_many"},
    {"put", (PyCFunction)(void (*)(void))ref_put, METH_FASTCALL,
     "put(nr=1) -> True when the count reached zero (percpu_ref_put_many)."},
    {"kill", (PyCFunction)ref_kill, METH_NOARGS,
     "percpu_ref_kill: drop the initial reference; True when the count reached zero."},
    {"resurrect", (PyCFunction)ref_resurrect, METH_NOARGS,
     "percpu_ref_resurrect: a killed reference with users left gets its initial one back."},
    {NULL},
};

static PyMemberDef ref_members[] = {
    {"count", T_LONGLONG, offsetof(PercpuRefObject, count), 0, "references held"},
    {"dead", T_BOOL, offsetof(PercpuRefObject, dead), READONLY, "killed, not resurrected"},
    {NULL},
};

PyTypeObject PercpuRefType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.PercpuRef",
    .tp_basicsize = sizeof(PercpuRefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "PercpuRef(): a pool's reference count (percpu_ref), starting at 1.",
    .tp_methods = ref_methods,
    .tp_members = ref_members,
    .tp_init = (initproc)ref_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- CtxResources ----------- */

static int res_init(CtxResourcesObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"tfm", "reqs", "buffers", "nbytes", "single", NULL};
    PyObject *tfm, *reqs, *buffers, *single = Py_None;
    long long nbytes;
    if (self->buffers)
        return pyz_err_init_twice("CtxResources");
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO!O!L|O:CtxResources", kwlist, &tfm,
                                     &PyList_Type, &reqs, &PyList_Type, &buffers, &nbytes,
                                     &single))
        return -1;
    self->tfm = Py_NewRef(tfm);
    self->single = Py_NewRef(single == Py_None ? tfm : single);
    self->reqs = Py_NewRef(reqs);
    self->buffers = Py_NewRef(buffers);
    self->nbytes = nbytes;
    return 0;
}

static PyObject *res_free(CtxResourcesObject *self, PyObject *unused)
{
    if (!self->buffers)
        return pyz_err_uninit("CtxResources");
    self->freed = 1; /* the object stays reachable by a racing user, marked freed */
    Py_RETURN_NONE;
}

static int res_traverse(CtxResourcesObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->tfm);
    Py_VISIT(self->single);
    Py_VISIT(self->reqs);
    Py_VISIT(self->buffers);
    return 0;
}

static int res_clear(CtxResourcesObject *self)
{
    Py_CLEAR(self->tfm);
    Py_CLEAR(self->single);
    Py_CLEAR(self->reqs);
    Py_CLEAR(self->buffers);
    return 0;
}

static void res_dealloc(CtxResourcesObject *self)
{
    PyObject_GC_UnTrack(self);
    res_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef res_methods[] = {
    {"free", (PyCFunction)res_free, METH_NOARGS,
     "Release the resources: marked freed, still reachable by a racing user."},
    {NULL},
};

static PyMemberDef res_members[] = {
    {"tfm", T_OBJECT_EX, offsetof(CtxResourcesObject, tfm), READONLY, "the transform"},
    {"single", T_OBJECT_EX, offsetof(CtxResourcesObject, single), READONLY,
     "the transform single pages run on (tfm unless given)"},
    {"reqs", T_OBJECT_EX, offsetof(CtxResourcesObject, reqs), READONLY, "request slots"},
    {"buffers", T_OBJECT_EX, offsetof(CtxResourcesObject, buffers), READONLY,
     "destination buffers"},
    {"nbytes", T_LONGLONG, offsetof(CtxResourcesObject, nbytes), READONLY,
     "pyzswap bytes these resources own"},
    {"freed", T_BOOL, offsetof(CtxResourcesObject, freed), READONLY,
     "released by CPU hotplug (see free)"},
    {NULL},
};

PyTypeObject CtxResourcesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.CtxResources",
    .tp_basicsize = sizeof(CtxResourcesObject),
    .tp_dealloc = (destructor)res_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "CtxResources(tfm, reqs, buffers, nbytes, single=None): what a context uses on "
              "one CPU; single: the transform single pages run on (default tfm).",
    .tp_traverse = (traverseproc)res_traverse,
    .tp_clear = (inquiry)res_clear,
    .tp_methods = res_methods,
    .tp_members = res_members,
    .tp_init = (initproc)res_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------- AcompCtx --------------- */

static int ctx_init(AcompCtxObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"cpu", NULL};
    int cpu;
    if (self->mutex)
        return pyz_err_init_twice("AcompCtx");
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i:AcompCtx", kwlist, &cpu))
        return -1;
    if (cpu < 0) {
        PyErr_Format(PyExc_ValueError, "cpu must be >= 0, got %d", cpu);
        return -1;
    }
    /* initialised for every possible CPU when the pool is made, so hotplug never
     * re-initialises a mutex somebody holds */
    self->mutex = PyObject_CallNoArgs((PyObject *)&LockType);
    if (!self->mutex)
        return -1;
    self->cpu = cpu;
    self->res = Py_NewRef(Py_None);
    return 0;
}

static PyObject *ctx_get_mutex(AcompCtxObject *self, void *unused)
{
    if (!self->mutex)
        return pyz_err_uninit("AcompCtx");
    return Py_NewRef(self->mutex);
}

static int ctx_set_mutex(AcompCtxObject *self, PyObject *value, void *unused)
{
    if (!value || !PYZ_LOCK_CHECK(value)) {
        PyErr_SetString(PyExc_TypeError, "AcompCtx.mutex must be a pyzswap._native.Lock");
        return -1;
    }
    Py_XSETREF(self->mutex, Py_NewRef(value));
    return 0;
}

static PyObject *ctx_get_res(AcompCtxObject *self, void *unused)
{
    return Py_NewRef(self->res ? self->res : Py_None);
}

static int ctx_set_res(AcompCtxObject *self, PyObject *value, void *unused)
{
    if (!value || (value != Py_None && Py_TYPE(value) != &CtxResourcesType)) {
        PyErr_SetString(PyExc_TypeError, "AcompCtx.res must be a CtxResources or None");
        return -1;
    }
    if (value != Py_None && !((CtxResourcesObject *)value)->buffers)
        return (pyz_err_uninit("CtxResources"), -1);
    Py_XSETREF(self->res, Py_NewRef(value));
    return 0;
}

static int ctx_traverse(AcompCtxObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->mutex);
    Py_VISIT(self->res);
    return 0;
}

static int ctx_clear(AcompCtxObject *self)
{
    Py_CLEAR(self->res);
    return 0; /* the mutex stays: a holder must be able to release what it took */
}

static void ctx_dealloc(AcompCtxObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->res);
    Py_CLEAR(self->mutex);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyGetSetDef ctx_getset[] = {
    {"mutex", (getter)ctx_get_mutex, (setter)ctx_set_mutex,
     "the context's mutex (a shared design's is the shared context's)", NULL},
    {"res", (getter)ctx_get_res, (setter)ctx_set_res,
     "the CtxResources this CPU holds now, or None", NULL},
    {NULL},
};

static PyMemberDef ctx_members[] = {
    {"cpu", T_INT, offsetof(AcompCtxObject, cpu), READONLY, "the CPU"},
    {"allocations", T_LONGLONG, offsetof(AcompCtxObject, allocations), 0,
     "times resources were allocated for this CPU"},
    {"frees", T_LONGLONG, offsetof(AcompCtxObject, frees), 0, "times they were freed"},
    {NULL},
};

PyTypeObject AcompCtxType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.AcompCtx",
    .tp_basicsize = sizeof(AcompCtxObject),
    .tp_dealloc = (destructor)ctx_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "AcompCtx(cpu): one CPU's compression context of a pool (struct "
              "crypto_acomp_ctx).",
    .tp_traverse = (traverseproc)ctx_traverse,
    .tp_clear = (inquiry)ctx_clear,
    .tp_getset = ctx_getset,
    .tp_members = ctx_members,
    .tp_init = (initproc)ctx_init,
    .tp_new = PyType_GenericNew,
};

int pyz_pool_add_types(PyObject *module)
{
    PyTypeObject *types[] = {&PercpuRefType, &CtxResourcesType, &AcompCtxType};
    const char *names[] = {"PercpuRef", "CtxResources", "AcompCtx"};
    for (int i = 0; i < 3; i++)
        if (PyType_Ready(types[i]) < 0 || PyModule_AddObjectRef(module, names[i],
                                                                (PyObject *)types[i]) < 0)
            return -1;
    return 0;
}
