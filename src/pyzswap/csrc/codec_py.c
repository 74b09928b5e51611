/* pyzswap._native.PageCodec: a transform of the codec table, callable from Python and C.
 *
 * One object is one transform (the kernel's crypto_acomp tfm of one per-CPU context, whose
 * working memory is the per-CPU stream). Its codec context (codec.h) is allocated on first use
 * and reused; it is taken out of the object for the length of a call with an atomic exchange,
 * so two threads calling one object at once cannot share it: the second makes a context of
 * its own for that call (zswap never does this, the context mutex serialises its calls, but a
 * Python caller might).
 */
#include "codec_py.h"

#include "codec.h"
#include "lifecycle.h"

#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <stdatomic.h>

struct pyz_pagecodec {
    PyObject_HEAD
    int algo;
    int level;
    int ready;                           /* __init__ ran: the algorithm is fixed */
    struct pyz_codec_ctx *_Atomic ctx;   /* NULL while a call has it */
};

static PyObject *compress_descr, *decompress_descr; /* PageCodec's own methods */

/* ---------------------------------------------------------------- the C interface -------- */

static struct pyz_codec_ctx *ctx_take(PyzPageCodecObject *c)
{
    struct pyz_codec_ctx *ctx = atomic_exchange(&c->ctx, NULL);
    return ctx ? ctx : pyz_codec_ctx_new(c->algo, c->level);
}

static void ctx_put(PyzPageCodecObject *c, struct pyz_codec_ctx *ctx)
{
    struct pyz_codec_ctx *expected = NULL;
    if (!atomic_compare_exchange_strong(&c->ctx, &expected, ctx))
        pyz_codec_ctx_free(ctx); /* another call put its context back first */
}

int pyz_pagecodec_compress(PyzPageCodecObject *c, const void *src, int slen, void *dst, int cap)
{
    struct pyz_codec_ctx *ctx = ctx_take(c);
    if (!ctx)
        return -ENOMEM;
    int r = pyz_codec_compress(ctx, src, slen, dst, cap);
    ctx_put(c, ctx);
    return r;
}

/* Decompress, keeping the context's error text in *why (a static or thread-local string). */
static int decompress_why(PyzPageCodecObject *c, const void *src, int slen, void *dst, int cap,
                          const char **why)
{
    struct pyz_codec_ctx *ctx = ctx_take(c);
    if (!ctx)
        return -ENOMEM;
    int r = pyz_codec_decompress(ctx, src, slen, dst, cap);
    if (r < 0 && why)
        *why = pyz_codec_strerror(ctx);
    ctx_put(c, ctx);
    return r;
}

int pyz_pagecodec_decompress(PyzPageCodecObject *c, const void *src, int slen, void *dst,
                             int cap)
{
    return decompress_why(c, src, slen, dst, cap, NULL);
}

const char *pyz_pagecodec_name(PyzPageCodecObject *c)
{
    return pyz_algos[c->algo].name;
}

int pyz_pagecodec_algo(PyzPageCodecObject *c, int *level)
{
    *level = c->level;
    return c->algo;
}

PyObject *pyz_pagecodec_decompress_error(PyzPageCodecObject *c, int slen)
{
    if (pyz_load_zswap_errors() == 0)
        PyErr_Format(pyz_DecompressFail, "%s: corrupt stream of %d bytes", pyz_algos[c->algo].name,
                     slen);
    return NULL;
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

static PyObject *pc_compress(PyzPageCodecObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer src, dst;
    if (!self->ready) /* the context's size depends on the algorithm __init__ chooses */
        return pyz_err_uninit("PageCodec");
    if (pyz_load_zswap_errors() < 0 || get_buffers(args, nargs, "compress", &src, &dst) < 0)
        return NULL;
    PyObject *ret = NULL;
    const char *name = pyz_algos[self->algo].name;
    if (src.len > LZ4_MAX_INPUT_SIZE) {
        PyErr_Format(pyz_CompressFail, "%s: a %zd-byte source is too large", name, src.len);
        goto out;
    }
    int cap = dst.len > INT_MAX ? INT_MAX : (int)dst.len;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = pyz_pagecodec_compress(self, src.buf, (int)src.len, dst.buf, cap);
    Py_END_ALLOW_THREADS
    if (r > 0)
        ret = PyLong_FromLong(r);
    else if (r == -ENOSPC)
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

static PyObject *pc_decompress(PyzPageCodecObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer src, dst;
    if (!self->ready)
        return pyz_err_uninit("PageCodec");
    if (pyz_load_zswap_errors() < 0 || get_buffers(args, nargs, "decompress", &src, &dst) < 0)
        return NULL;
    PyObject *ret = NULL;
    int slen = src.len > INT_MAX ? INT_MAX : (int)src.len;
    int cap = dst.len > INT_MAX ? INT_MAX : (int)dst.len;
    int r;
    const char *why = "empty stream";
    Py_BEGIN_ALLOW_THREADS
    r = decompress_why(self, src.buf, slen, dst.buf, cap, &why);
    Py_END_ALLOW_THREADS
    if (r >= 0)
        ret = PyLong_FromLong(r);
    else if (r == -ENOMEM)
        PyErr_NoMemory();
    else
        PyErr_Format(pyz_DecompressFail, "%s: corrupt stream (%s; %d bytes)",
                     pyz_algos[self->algo].name, why, slen);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return ret;
}

static int pc_init(PyzPageCodecObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"algorithm", "level", NULL};
    const char *algorithm;
    int level = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|i:PageCodec", kwlist, &algorithm, &level))
        return -1;
    if (self->ready) /* a call on another thread may hold a context made for the algorithm */
        return pyz_err_init_twice("PageCodec");
    int algo = pyz_algo_find(algorithm);
    if (algo < 0) {
        PyErr_Format(PyExc_ValueError,
                     "PageCodec: unknown algorithm %R (known: lzo, lzo-rle, lz4, lz4hc, zstd, "
                     "deflate)", PyTuple_GET_ITEM(args, 0));
        return -1;
    }
    if (!pyz_algo_level_ok(algo, level)) {
        PyErr_Format(PyExc_ValueError, "PageCodec: level %d is out of range for %s", level,
                     algorithm);
        return -1;
    }
    pyz_codec_ctx_free(atomic_exchange(&self->ctx, NULL)); /* none: no call ran before this */
    self->algo = algo;
    self->level = level ? level : pyz_algos[algo].default_level;
    self->ready = 1;
    return 0;
}

static void pc_dealloc(PyzPageCodecObject *self)
{
    pyz_codec_ctx_free(atomic_exchange(&self->ctx, NULL));
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *pc_get_algorithm(PyzPageCodecObject *self, void *Py_UNUSED(c))
{
    if (!self->ready)
        return pyz_err_uninit("PageCodec");
    return PyUnicode_FromString(pyz_algos[self->algo].name);
}

static PyObject *pc_get_level(PyzPageCodecObject *self, void *Py_UNUSED(c))
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
    {"algorithm", (getter)pc_get_algorithm, NULL, "the algorithm's kernel name", NULL},
    {"level", (getter)pc_get_level, NULL,
     "the level in use (lz4: its acceleration, 1; lzo and lzo-rle: 0)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PageCodecType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pyzswap._native.PageCodec",
    .tp_basicsize = sizeof(PyzPageCodecObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "PageCodec(algorithm, level=0): a transform of pyzswap's codec table (lzo, "
              "lzo-rle, lz4, lz4hc, zstd, deflate with the kernel's parameters; level 0: the "
              "kernel's), callable from C.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)pc_init,
    .tp_dealloc = (destructor)pc_dealloc,
    .tp_methods = pc_methods,
    .tp_getset = pc_getset,
};

/* The last Python subclass checked (held, so its address cannot be reused), at its version. */
static __thread struct {
    PyTypeObject *type;
    unsigned int tag;
    int ours;
} subclass_cache;
static PyObject *s_compress_name, *s_decompress_name;

PyzPageCodecObject *pyz_pagecodec_of(PyObject *tfm)
{
    PyTypeObject *t = Py_TYPE(tfm);
    /* the subclass seen last, unchanged since: its answer (checked first, it is the common
     * case: zswap's transforms are a Python subclass) */
    if (subclass_cache.type == t && (t->tp_flags & Py_TPFLAGS_VALID_VERSION_TAG) &&
        t->tp_version_tag == subclass_cache.tag)
        return subclass_cache.ours && ((PyzPageCodecObject *)tfm)->ready
                   ? (PyzPageCodecObject *)tfm : NULL;
    if (!PyObject_TypeCheck(tfm, &PageCodecType) || !((PyzPageCodecObject *)tfm)->ready)
        return NULL;
    if (t == &PageCodecType)
        return (PyzPageCodecObject *)tfm;
    /* a subclass: only if nothing overrides the two methods (no instance dict, no class
     * attribute in front of ours); the answer is kept until the class changes */
    if (t->tp_dictoffset != 0)
        return NULL;
    int ours = _PyType_Lookup(t, s_compress_name) == compress_descr &&
               _PyType_Lookup(t, s_decompress_name) == decompress_descr; /* sets the tag */
    Py_XSETREF(subclass_cache.type, (PyTypeObject *)Py_NewRef(t));
    subclass_cache.tag = t->tp_version_tag;
    subclass_cache.ours = ours;
    return ours ? (PyzPageCodecObject *)tfm : NULL;
}

int pyz_codec_add_types(PyObject *module)
{
    if (PyType_Ready(&PageCodecType) < 0)
        return -1;
    s_compress_name = PyUnicode_InternFromString("compress");
    s_decompress_name = PyUnicode_InternFromString("decompress");
    if (!s_compress_name || !s_decompress_name)
        return -1;
    compress_descr = PyDict_GetItemString(PageCodecType.tp_dict, "compress");
    decompress_descr = PyDict_GetItemString(PageCodecType.tp_dict, "decompress");
    if (!compress_descr || !decompress_descr)
        return -1;
    Py_INCREF(compress_descr);
    Py_INCREF(decompress_descr);
    return PyModule_AddObjectRef(module, "PageCodec", (PyObject *)&PageCodecType);
}
