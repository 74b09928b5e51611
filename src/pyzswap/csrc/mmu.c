/* pyzswap._native.Mmu: what the hardware does for the mm model (pyzswap.run.mm.model).
 *
 * An access to a mapped page never enters the kernel: the MMU sets the PTE's accessed (young)
 * bit, and its dirty bit for a write. Only an access to a page that is not mapped faults. The
 * model replays a run of accesses through an Mmu: next_fault() applies every access up to the
 * next one whose page is not mapped (young and dirty bytes, the trace's write rule on the
 * page's contents, the counters and the model's clock) and returns that page; the model runs
 * its fault path (pyzswap.run.mm.memory) and calls next_fault() again, which first completes
 * the faulted access (its write) and goes on.
 *
 * An Mmu holds its buffers (the run's page indexes and ops, the model's mapped/young/dirty
 * bytes and page contents) until it is freed, so they cannot be resized under it. It runs with
 * the GIL held and calls no Python code: it is used by one thread at a time. Every page index
 * is checked before it is used: a bad one raises IndexError and leaves that access undone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "consts.h"
#include "write_rule.h"

typedef struct {
    PyObject_HEAD
    Py_buffer gs, ops, mapped, young, dirty, truth;
    Py_ssize_t n;        /* accesses in the run */
    Py_ssize_t npages;   /* pages the byte arrays (and the contents) cover */
    Py_ssize_t pos;      /* the next access to apply */
    Py_ssize_t fault_g;  /* the access at pos faulted, on this page (-1: none): next_fault()
                            completes it first */
    char write;          /* that access is a write */
    unsigned long long seed;
    unsigned long long next_write; /* the trace's write number of the run's next write */
    double cost;         /* model clock per access */
    double now;          /* the model's clock after the last call */
    long long accesses, reads, writes;
} MmuObject;

/* obj's C-contiguous buffer into view (writable if asked), its items `itemsize` bytes wide:
 * 8, int64; 1, bytes (unsigned, signed, bool or char). 0, or -1 with TypeError. */
static int typed_buffer(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t itemsize,
                        const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS |
                           (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    while (*f == '@' || *f == '=' || *f == '<')
        f++;
    int ok = view->itemsize == itemsize &&
             (itemsize == 8 ? !strcmp(f, "q") || !strcmp(f, "l")
                            : !strcmp(f, "B") || !strcmp(f, "b") || !strcmp(f, "?") ||
                              !strcmp(f, "c"));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "Mmu: %s must be %s", what,
                     itemsize == 8 ? "an int64 array" : "a buffer of bytes");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void release_buffers(MmuObject *self)
{
    Py_buffer *views[] = {&self->gs, &self->ops, &self->mapped, &self->young, &self->dirty,
                          &self->truth};
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
        if (views[i]->obj)
            PyBuffer_Release(views[i]);
}

static int mmu_init(MmuObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"gs", "ops", "mapped", "young", "dirty", "truth", "seed",
                             "first_write", "cost", NULL};
    PyObject *gs, *ops, *mapped, *young, *dirty, *truth, *seed;
    unsigned long long first_write;
    double cost;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOOKd:Mmu", kwlist, &gs, &ops, &mapped,
                                     &young, &dirty, &truth, &seed, &first_write, &cost))
        return -1;
    if (!PyLong_Check(seed)) {
        PyErr_SetString(PyExc_TypeError, "Mmu: seed must be an int");
        return -1;
    }
    unsigned long long s = PyLong_AsUnsignedLongLongMask(seed); /* seed & (2**64 - 1) */
    if (s == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    release_buffers(self); /* __init__ called again: the old run is forgotten, also if this
                              one fails */
    self->n = self->npages = self->pos = 0;
    self->fault_g = -1;
    self->write = 0;
    if (typed_buffer(gs, &self->gs, 0, 8, "gs") < 0 ||
        typed_buffer(ops, &self->ops, 0, 1, "ops") < 0 ||
        typed_buffer(mapped, &self->mapped, 1, 1, "mapped") < 0 ||
        typed_buffer(young, &self->young, 1, 1, "young") < 0 ||
        typed_buffer(dirty, &self->dirty, 1, 1, "dirty") < 0 ||
        typed_buffer(truth, &self->truth, 1, 1, "truth") < 0)
        goto fail;
    if (self->ops.len != self->gs.len / 8) {
        PyErr_SetString(PyExc_ValueError, "Mmu: gs and ops differ in length");
        goto fail;
    }
    if (self->young.len != self->mapped.len || self->dirty.len != self->mapped.len) {
        PyErr_SetString(PyExc_ValueError, "Mmu: mapped, young and dirty differ in length");
        goto fail;
    }
    if (self->truth.len / PAGE_SIZE < self->mapped.len) {
        PyErr_Format(PyExc_ValueError, "Mmu: the contents hold %zd pages, mapped covers %zd",
                     self->truth.len / PAGE_SIZE, self->mapped.len);
        goto fail;
    }
    if (!(cost >= 0)) {
        PyErr_SetString(PyExc_ValueError, "Mmu: cost must be >= 0");
        goto fail;
    }
    self->n = self->ops.len;
    self->npages = self->mapped.len;
    self->seed = s;
    self->next_write = first_write;
    self->cost = cost;
    self->now = 0;
    self->accesses = self->reads = self->writes = 0;
    return 0;
fail: /* left with no run (reset above): next_fault() has nothing to do */
    release_buffers(self);
    return -1;
}

/* The write rule on page g's contents, for the run's next write. */
static inline void apply_write(MmuObject *self, Py_ssize_t g)
{
    unsigned src, dst;
    write_rule_offsets(self->seed, self->next_write++, &src, &dst);
    unsigned char *page = (unsigned char *)self->truth.buf + (size_t)g * PAGE_SIZE;
    memmove(page + dst, page + src, WRITE_RULE_SPAN);
    self->writes++;
}

static PyObject *mmu_next_fault(MmuObject *self, PyObject *arg)
{
    double now = PyFloat_AsDouble(arg);
    if (now == -1.0 && PyErr_Occurred())
        return NULL;
    const long long *gs = self->gs.buf;
    const signed char *ops = self->ops.buf;
    unsigned char *mapped = self->mapped.buf, *young = self->young.buf,
                  *dirty = self->dirty.buf;
    Py_ssize_t pos = self->pos, n = self->n, npages = self->npages;
    if (self->fault_g >= 0) { /* the faulted access, now that its page is in */
        Py_ssize_t g = self->fault_g; /* checked when it faulted (gs may have changed since) */
        if (self->write) {
            dirty[g] = 1;
            apply_write(self, g);
        } else {
            self->reads++;
        }
        self->fault_g = -1;
        self->write = 0;
        self->pos = ++pos;
    }
    Py_ssize_t start = pos;
    long long g = -1;
    for (; pos < n; pos++) {
        g = gs[pos];
        if (g < 0 || g >= npages) {
            self->pos = pos;
            self->accesses += pos - start;
            self->now = now + self->cost * (double)(pos - start);
            PyErr_Format(PyExc_IndexError, "Mmu: access %zd is to page %lld, outside the "
                         "model's %zd pages", pos, g, npages);
            return NULL;
        }
        if (!mapped[g])
            break;
        young[g] = 1;
        if (ops[pos] == 1) {
            dirty[g] = 1;
            apply_write(self, (Py_ssize_t)g);
        } else {
            self->reads++;
        }
    }
    /* the hits since the last fault, then the faulting access itself */
    now += self->cost * (double)(pos - start);
    self->accesses += pos - start;
    self->pos = pos;
    if (pos == n) {
        self->now = now;
        return PyLong_FromLong(-1);
    }
    self->accesses++;
    self->now = now + self->cost;
    self->fault_g = (Py_ssize_t)g;
    self->write = ops[pos] == 1;
    return PyLong_FromLongLong(g);
}

/* No run yet: next_fault() has nothing to do until __init__ gives it one. */
static PyObject *mmu_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    MmuObject *self = (MmuObject *)type->tp_alloc(type, 0);
    if (self)
        self->fault_g = -1;
    return (PyObject *)self;
}

static void mmu_dealloc(MmuObject *self)
{
    release_buffers(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef mmu_methods[] = {
    {"next_fault", (PyCFunction)mmu_next_fault, METH_O,
     "next_fault(now) -> int: complete the faulted access, if any; apply the accesses to "
     "mapped pages that follow; return the page of the next access that faults (counted, the "
     "clock advanced past it, not applied), or -1 at the end of the run. `now` is the model's "
     "clock; the clock after the call is `now` of the Mmu."},
    {NULL},
};

static PyMemberDef mmu_members[] = {
    {"now", T_DOUBLE, offsetof(MmuObject, now), READONLY, "the model's clock after next_fault"},
    {"write", T_BOOL, offsetof(MmuObject, write), READONLY,
     "the access that faulted is a write"},
    {"pos", T_PYSSIZET, offsetof(MmuObject, pos), READONLY,
     "the access next_fault() works on next (the one that faulted, while it is pending)"},
    {"accesses", T_LONGLONG, offsetof(MmuObject, accesses), READONLY, "accesses counted"},
    {"reads", T_LONGLONG, offsetof(MmuObject, reads), READONLY, "reads applied"},
    {"writes", T_LONGLONG, offsetof(MmuObject, writes), READONLY, "writes applied"},
    {NULL},
};

static PyTypeObject MmuType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pyzswap._native.Mmu",
    .tp_basicsize = sizeof(MmuObject),
    .tp_dealloc = (destructor)mmu_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Mmu(gs, ops, mapped, young, dirty, truth, seed, first_write, cost): a run of "
              "accesses; those to mapped pages are applied in C, each fault is the caller's.",
    .tp_methods = mmu_methods,
    .tp_members = mmu_members,
    .tp_init = (initproc)mmu_init,
    .tp_new = mmu_new,
};

int pyz_mmu_add_types(PyObject *module);

int pyz_mmu_add_types(PyObject *module)
{
    if (PyType_Ready(&MmuType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "Mmu", (PyObject *)&MmuType);
}
