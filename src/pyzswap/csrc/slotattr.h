/*
 * Reading a Python object's __slots__ attribute on a hot path (header only).
 *
 * The C flow reads a few attributes of Python objects on every store and load (the CPU
 * model's placement_gen, a pool's zs_pool). PyObject_GetAttr finds a slot through the type's
 * method cache and the member descriptor's getter: tens of nanoseconds per read. When the
 * attribute is a plain __slots__ member, its value lives at a fixed offset in the object, so a
 * call site remembers (type, version tag, offset) and reads the slot directly while the type's
 * version tag is unchanged. Any change to the class (an attribute assigned, a base changed)
 * gives it a new tag, and the next read resolves the name again. A type whose tag is invalid
 * or that has its own attribute lookup (__getattribute__, __getattr__), a name that is not a
 * plain object member (a property, a method, an instance-dict attribute) and an empty slot all
 * go through PyObject_GetAttr, which raises exactly what Python would.
 *
 * Tags come from one process-wide counter and are never reused, so a cached type pointer
 * that was freed and reused by another type cannot match. The cache is written only with the
 * GIL held (every caller holds it).
 */
#ifndef PYZSWAP_SLOTATTR_H
#define PYZSWAP_SLOTATTR_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

struct pyz_slot_cache {
    PyTypeObject *type; /* borrowed: compared with its tag, never dereferenced */
    unsigned int tag;
    Py_ssize_t offset;  /* > 0 once resolved */
};

/* obj.<name> (a new reference), or NULL with the exception PyObject_GetAttr raises. */
static inline PyObject *pyz_slot_get(PyObject *obj, PyObject *name, struct pyz_slot_cache *c)
{
    PyTypeObject *t = Py_TYPE(obj);
    int generic = t->tp_getattro == PyObject_GenericGetAttr;
    if (!(generic && (t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) && c->type == t &&
          c->tag == t->tp_version_tag && c->offset > 0)) {
        PyObject *d = _PyType_Lookup(t, name); /* borrowed; gives the type a version tag */
        c->type = NULL;
        c->offset = 0;
        if (generic && d && Py_IS_TYPE(d, &PyMemberDescr_Type) &&
            (t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG)) {
            PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
            if (m->type == T_OBJECT_EX && !(m->flags & PY_AUDIT_READ) && m->offset > 0) {
                c->type = t;
                c->tag = t->tp_version_tag;
                c->offset = m->offset;
            }
        }
        if (!c->offset)
            return PyObject_GetAttr(obj, name);
    }
    PyObject *v = *(PyObject **)((char *)obj + c->offset);
    return v ? Py_NewRef(v) : PyObject_GetAttr(obj, name); /* unset: its AttributeError */
}

#endif
