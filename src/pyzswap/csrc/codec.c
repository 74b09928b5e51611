/* pyzswap._native.PageCodec: the lz4 and lzo families as transforms that C code calls directly.
 *
 * One object is one transform (the kernel's crypto_acomp tfm of one per-CPU context). Its
 * codec state (LZ4's 16 KiB hash table, LZ4HC's 256 KiB chain tables, or LZO's 16 KiB
 * dictionary: the kernel's per-CPU workmem) is allocated once and reused. The state is taken out of the object for the length
 * of a call with an atomic exchange, so two threads calling one object at once cannot share it:
 * the second allocates a state of its own for that call (zswap never does this; the context
 * mutex serialises its calls, but a Python caller might).
 *
 * Output is liblz4's LZ4_compress_fast(acceleration 1) / LZ4_compress_HC(level), which is
 * byte-identical to the streams cramjam produced before (tests/compress/test_lz4.py) and
 * reproduces the kernel's compressed sizes (docs/KERNEL_ORACLE.md). lzo and lzo-rle are the
 * kernel's own LZO1X-1 and LZO-RLE (lzo.c), stream for stream.
 */
#include "codec.h"
#include "lzo.h"

#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <lz4hc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"

enum { CODEC_LZ4, CODEC_LZ4HC, CODEC_LZO, CODEC_LZO_RLE, CODEC_COUNT };
static const char *const codec_names[CODEC_COUNT] = {"lz4", "lz4hc", "lzo", "lzo-rle"};

struct pyz_codec {
    PyObject_HEAD
    int algo;
    int level;           /* lz4hc's level; 1 (the acceleration) for lz4; 0 for lzo */
    int ready;           /* __init__ ran: the algorithm (and so the state's size) is fixed */
    void *_Atomic state; /* NULL while a call has it */
};

static PyObject *compress_descr, *decompress_descr; /* PageCodec's own methods */

int pyz_load_errors(void)
{
    return pyz_load_zswap_errors(); /* every pyzswap.errors class C raises (lifecycle.c) */
}

/* ---------------------------------------------------------------- the C interface -------- */

static void *state_take(PyzCodecObject *c)
{
    void *s = atomic_exchange(&c->state, NULL);
    if (s)
        return s;
    switch (c->algo) {
    case CODEC_LZ4:
        return malloc((size_t)LZ4_sizeofState());
    case CODEC_LZ4HC:
        return malloc((size_t)LZ4_sizeofStateHC());
    default:
        return malloc(PYZ_LZO_WORKMEM);
    }
}

static void state_put(PyzCodecObject *c, void *s)
{
    void *expected = NULL;
    if (!atomic_compare_exchange_strong(&c->state, &expected, s))
        free(s); /* another call put its state back first */
}

int pyz_codec_compress(PyzCodecObject *c, const void *src, int slen, void *dst, int cap)
{
    void *st = state_take(c);
    if (!st)
        return -ENOMEM;
    int r;
    if (c->algo == CODEC_LZ4) {
        r = LZ4_compress_fast_extState(st, src, dst, slen, cap, 1);
    } else if (c->algo == CODEC_LZ4HC) {
        r = LZ4_compress_HC_extStateHC(st, src, dst, slen, cap, c->level);
    } else { /* the kernel's overrun check: an output that does not fit is refused, 0 */
        size_t dlen = (size_t)cap;
        r = pyz_lzo_compress(src, (size_t)slen, dst, &dlen, st,
                             c->algo == CODEC_LZO ? PYZ_LZO_V0 : PYZ_LZO_RLE) == PYZ_LZO_OK
                ? (int)dlen
                : 0;
    }
    state_put(c, st);
    return r;
}

int pyz_codec_decompress(PyzCodecObject *c, const void *src, int slen, void *dst, int cap)
{
    if (c->algo == CODEC_LZ4 || c->algo == CODEC_LZ4HC) /* both are the LZ4 block format */
        return LZ4_decompress_safe(src, dst, slen, cap);
    /* one decoder for both LZO versions, as the kernel's lzo1x_decompress_safe */
    size_t dlen = (size_t)cap;
    int r = pyz_lzo_decompress(src, (size_t)slen, dst, &dlen);
    return r == PYZ_LZO_OK ? (int)dlen : r;
}

/* ---------------------------------------------------------------- Python methods --------- */

static int get_buffers(PyObject *const *args, Py_ssize_t nargs, const char *what,
                       Py_buffer *src, Py_buffer *dst)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s(src, dst) takes 2 arguments, got %zd", what, nargs);
        return -1;
    }
    if (PyObject_GetBuffer(args[0], src, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: src must be a contiguous bytes-like object, not %.100s",
                     what, Py_TYPE(args[0])->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(args[1], dst, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(src);
        PyErr_Format(PyExc_TypeError, "%s: dst must be a writable contiguous buffer, not %.100s",
                     what, Py_TYPE(args[1])->tp_name);
        return -1;
    }
    return 0;
}

static PyObject *pc_compress(PyzCodecObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer src, dst;
    if (!self->ready) /* the state's size depends on the algorithm __init__ chooses */
        return pyz_err_uninit("PageCodec");
    if (pyz_load_errors() < 0 || get_buffers(args, nargs, "compress", &src, &dst) < 0)
        return NULL;
    PyObject *ret = NULL;
    const char *name = codec_names[self->algo];
    if (src.len > LZ4_MAX_INPUT_SIZE) {
        PyErr_Format(pyz_CompressFail, "%s: a %zd-byte source is too large", name, src.len);
        goto out;
    }
    int cap = dst.len > INT_MAX ? INT_MAX : (int)dst.len;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = pyz_codec_compress(self, src.buf, (int)src.len, dst.buf, cap);
    Py_END_ALLOW_THREADS
    if (r > 0)
        ret = PyLong_FromLong(r);
    else if (r == 0) /* the output does not fit (LZ4 returns 0, LZO an overrun): -ENOSPC */
        PyErr_Format(pyz_CompressPoor, "%s: output does not fit the destination buffer", name);
    else if (r == -ENOMEM)
        PyErr_NoMemory();
    else
        PyErr_Format(pyz_CompressFail, "%s: compression failed (%d)", name, r);
out:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return ret;
}

static PyObject *pc_decompress(PyzCodecObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer src, dst;
    if (!self->ready)
        return pyz_err_uninit("PageCodec");
    if (pyz_load_errors() < 0 || get_buffers(args, nargs, "decompress", &src, &dst) < 0)
        return NULL;
    PyObject *ret = NULL;
    int slen = src.len > INT_MAX ? INT_MAX : (int)src.len;
    int cap = dst.len > INT_MAX ? INT_MAX : (int)dst.len;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = pyz_codec_decompress(self, src.buf, slen, dst.buf, cap);
    Py_END_ALLOW_THREADS
    if (r >= 0)
        ret = PyLong_FromLong(r);
    else if (self->algo == CODEC_LZ4 || self->algo == CODEC_LZ4HC)
        PyErr_Format(pyz_DecompressFail,
                     "%s: corrupt stream (LZ4_decompress_safe failed at input byte %d of %d)",
                     codec_names[self->algo], -r - 1, slen);
    else
        PyErr_Format(pyz_DecompressFail, "%s: corrupt stream (%s)", codec_names[self->algo],
                     pyz_lzo_strerror(r));
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return ret;
}

static int pc_init(PyzCodecObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"algorithm", "level", NULL};
    const char *algorithm;
    int level = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|i:PageCodec", kwlist, &algorithm, &level))
        return -1;
    if (self->ready) /* a call on another thread may hold a state sized for the algorithm */
        return pyz_err_init_twice("PageCodec");
    int algo = -1;
    for (int i = 0; i < CODEC_COUNT; i++)
        if (strcmp(algorithm, codec_names[i]) == 0)
            algo = i;
    if (algo < 0) {
        PyErr_Format(PyExc_ValueError,
                     "PageCodec: unknown algorithm %R (known: lz4, lz4hc, lzo, lzo-rle)",
                     PyTuple_GET_ITEM(args, 0));
        return -1;
    }
    if (algo == CODEC_LZ4HC && level == 0)
        level = LZ4HC_CLEVEL_DEFAULT;
    if (algo == CODEC_LZ4    ? level != 0 && level != 1
        : algo == CODEC_LZ4HC ? level < LZ4HC_CLEVEL_MIN || level > LZ4HC_CLEVEL_MAX
                              : level != 0) { /* lzo has no levels */
        PyErr_Format(PyExc_ValueError, "PageCodec: level %d is out of range for %s", level,
                     codec_names[algo]);
        return -1;
    }
    if (algo == CODEC_LZ4)
        level = 1;
    free(atomic_exchange(&self->state, NULL)); /* none can exist: no call runs before this */
    self->algo = algo;
    self->level = level;
    self->ready = 1;
    return 0;
}

static void pc_dealloc(PyzCodecObject *self)
{
    free(atomic_exchange(&self->state, NULL));
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *pc_get_algorithm(PyzCodecObject *self, void *Py_UNUSED(c))
{
    if (!self->ready)
        return pyz_err_uninit("PageCodec");
    return PyUnicode_FromString(codec_names[self->algo]);
}

static PyObject *pc_get_level(PyzCodecObject *self, void *Py_UNUSED(c))
{
    if (!self->ready)
        return pyz_err_uninit("PageCodec");
    return PyLong_FromLong(self->level);
}

static PyMethodDef pc_methods[] = {
    {"compress", (PyCFunction)(void (*)(void))pc_compress, METH_FASTCALL,
     "compress(src, dst) -> length; CompressPoor if it does not fit dst (GIL released)."},
    {"decompress", (PyCFunction)(void (*)(void))pc_decompress, METH_FASTCALL,
     "decompress(src, dst) -> length; DecompressFail for a corrupt stream (GIL released)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pc_getset[] = {
    {"algorithm", (getter)pc_get_algorithm, NULL, "'lz4', 'lz4hc', 'lzo' or 'lzo-rle'", NULL},
    {"level", (getter)pc_get_level, NULL,
     "lz4hc's level (1 for lz4: its acceleration; 0 for lzo and lzo-rle)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PageCodecType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pyzswap._native.PageCodec",
    .tp_basicsize = sizeof(PyzCodecObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "PageCodec(algorithm, level=0): an lz4, lz4hc, lzo or lzo-rle transform callable "
              "from C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)pc_init,
    .tp_dealloc = (destructor)pc_dealloc,
    .tp_methods = pc_methods,
    .tp_getset = pc_getset,
};

PyzCodecObject *pyz_codec_native(PyObject *tfm)
{
    PyTypeObject *t = Py_TYPE(tfm);
    if (!PyObject_TypeCheck(tfm, &PageCodecType) || !((PyzCodecObject *)tfm)->ready)
        return NULL; /* not initialised: its Python methods raise */
    if (t == &PageCodecType)
        return (PyzCodecObject *)tfm;
    /* a subclass: only if nothing overrides the two methods (no instance dict, no class
     * attribute in front of ours) */
    if (t->tp_dictoffset != 0)
        return NULL;
    PyObject *name_c = PyUnicode_InternFromString("compress");
    PyObject *name_d = PyUnicode_InternFromString("decompress");
    int ours = name_c && name_d && _PyType_Lookup(t, name_c) == compress_descr &&
               _PyType_Lookup(t, name_d) == decompress_descr;
    Py_XDECREF(name_c);
    Py_XDECREF(name_d);
    PyErr_Clear();
    return ours ? (PyzCodecObject *)tfm : NULL;
}

int pyz_codec_add_types(PyObject *module)
{
    if (PyType_Ready(&PageCodecType) < 0)
        return -1;
    compress_descr = PyDict_GetItemString(PageCodecType.tp_dict, "compress");
    decompress_descr = PyDict_GetItemString(PageCodecType.tp_dict, "decompress");
    if (!compress_descr || !decompress_descr)
        return -1;
    Py_INCREF(compress_descr);
    Py_INCREF(decompress_descr);
    return PyModule_AddObjectRef(module, "PageCodec", (PyObject *)&PageCodecType);
}
