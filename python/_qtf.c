/* python/_qtf.c — the CPython extension behind the `qtf` package: a thin
 * layer over libqtf's public API (include/qtf.h) and qtf-convert's recipe
 * rules (convert/recipe.c, compiled in). No decoding happens in Python:
 * the package allocates numpy/torch buffers and this module fills them with
 * the GIL released, using the library's threads.
 *
 * The file is mapped here, privately and writable (copy-on-write), then
 * opened with qtf_file_open_memory(): float tensors can then be zero-copy
 * numpy/torch views that a caller may even modify without touching the
 * file. The mapping lives as long as the File object, which every exported
 * buffer references, so views stay valid after close(). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "qtf.h"
#include "cli/recipe.h"
#include "checkpoint/gguf.h"

static PyObject *QtfError, *QtfNotFoundError;

/* Raises QtfError (QtfNotFoundError for QTF_E_NOT_FOUND) carrying the status
 * name, number and the library's detail text. Returns NULL. */
static PyObject *raise_status(qtf_status st, const char *detail) {
    if (!detail || !*detail) detail = qtf_error_detail();
    PyObject *cls = st == QTF_E_NOT_FOUND ? QtfNotFoundError : QtfError;
    PyObject *msg = PyUnicode_FromFormat("%s: %s", qtf_status_name(st), detail);
    if (!msg) return NULL;
    PyObject *exc = PyObject_CallOneArg(cls, msg);
    Py_DECREF(msg);
    if (!exc) return NULL;
    PyObject *name = PyUnicode_FromString(qtf_status_name(st));
    PyObject *code = PyLong_FromLong((long)st);
    PyObject *det = PyUnicode_DecodeUTF8(detail, (Py_ssize_t)strlen(detail), "replace");
    if (name && code && det) {
        PyObject_SetAttrString(exc, "status", name);
        PyObject_SetAttrString(exc, "code", code);
        PyObject_SetAttrString(exc, "detail", det);
        PyErr_SetObject(cls, exc);
    }
    Py_XDECREF(name);
    Py_XDECREF(code);
    Py_XDECREF(det);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *raise_last(qtf_status st) { return raise_status(st, NULL); }

/* "row-major", "transposed" (spec/FORMAT.md section 6.4), or "unknown". */
static const char *layout_name(uint32_t layout) {
    return layout == QTF_LAYOUT_ROW_MAJOR ? "row-major"
           : layout == QTF_LAYOUT_TRANSPOSED ? "transposed" : "unknown";
}

static int dtype_from_name(qtf_dtype *out, const char *name) {
    for (int t = 1; t < QTF_DTYPE_COUNT_; t++)
        if (strcmp(qtf_dtype_name((qtf_dtype)t), name) == 0) {
            *out = (qtf_dtype)t;
            return 0;
        }
    PyErr_Format(PyExc_ValueError, "unknown dtype '%s' (expected F32, F16, BF16, I64, ...)",
                 name);
    return -1;
}

/* ---- File ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    qtf_file *f;
    void *base;
    size_t len;
    PyObject *path;
    int busy;       /* calls running with the GIL released */
    int closing;    /* close() asked while busy: the last one closes */
} FileObject;

/* Around every call that releases the GIL: another thread's close() must
 * not free the qtf_file under it. Both run with the GIL held. */
static void file_enter(FileObject *self) { self->busy++; }
static void file_leave(FileObject *self) {
    if (--self->busy == 0 && self->closing) {
        qtf_file_close(self->f);
        self->f = NULL;
    }
}

static int file_init(FileObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "path", NULL };
    PyObject *pathobj = NULL;
    if (self->base || self->f) {
        PyErr_SetString(PyExc_RuntimeError, "File is already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&", kwlist, PyUnicode_FSConverter, &pathobj))
        return -1;
    const char *path = PyBytes_AS_STRING(pathobj);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        char buf[1200];
        snprintf(buf, sizeof buf, "%s: cannot open: %s", path, strerror(errno));
        Py_DECREF(pathobj);
        raise_status(QTF_E_IO, buf);
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        char buf[1200];
        snprintf(buf, sizeof buf, "%s: not a regular file", path);
        close(fd);
        Py_DECREF(pathobj);
        raise_status(QTF_E_IO, buf);
        return -1;
    }
    void *base = NULL;
    size_t len = (size_t)sb.st_size;
    if (len) {
        base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (base == MAP_FAILED) {
            char buf[1200];
            snprintf(buf, sizeof buf, "%s: mmap of %zu bytes failed: %s", path, len,
                     strerror(errno));
            close(fd);
            Py_DECREF(pathobj);
            raise_status(QTF_E_IO, buf);
            return -1;
        }
    }
    close(fd);
    qtf_file *f = NULL;
    static const unsigned char empty[1];
    qtf_status st;
    Py_BEGIN_ALLOW_THREADS
    st = qtf_file_open_memory(&f, base ? base : (void *)empty, len, path, NULL);
    Py_END_ALLOW_THREADS
    if (st) {
        if (base) munmap(base, len);
        Py_DECREF(pathobj);
        raise_last(st);
        return -1;
    }
    self->f = f;
    self->base = base;
    self->len = len;
    self->path = PyUnicode_DecodeFSDefault(path);
    Py_DECREF(pathobj);
    return self->path ? 0 : -1;
}

static void file_dealloc(FileObject *self) {
    qtf_file_close(self->f);
    if (self->base) munmap(self->base, self->len);
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int file_getbuffer(FileObject *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->base, (Py_ssize_t)self->len, 0,
                             flags);
}

static PyBufferProcs file_as_buffer = { (getbufferproc)file_getbuffer, NULL };

static int check_open(FileObject *self) {
    if (self->f && !self->closing) return 0;
    PyErr_SetString(PyExc_ValueError, "the qtf file is closed");
    return -1;
}

static PyObject *file_close(FileObject *self, PyObject *unused) {
    if (self->busy) {
        self->closing = 1;
        Py_RETURN_NONE;
    }
    qtf_file_close(self->f);
    self->f = NULL;
    Py_RETURN_NONE;
}

static int find_tensor(uint64_t *out, FileObject *self, PyObject *name_obj) {
    if (check_open(self)) return -1;
    const char *name = PyUnicode_AsUTF8(name_obj);
    if (!name) return -1;
    qtf_status st = qtf_tensor_find(out, self->f, name);
    if (st) {
        char buf[1400];
        snprintf(buf, sizeof buf, "%s: no tensor named '%.1024s'", PyUnicode_AsUTF8(self->path),
                 name);
        raise_status(st, st == QTF_E_NOT_FOUND ? buf : NULL);
        return -1;
    }
    return 0;
}

static PyObject *file_keys(FileObject *self, PyObject *unused) {
    if (check_open(self)) return NULL;
    uint64_t n = qtf_tensor_count(self->f);
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (!list) return NULL;
    for (uint64_t i = 0; i < n; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(self->f, i);
        PyObject *s = PyUnicode_FromStringAndSize(t->name, t->name_len);
        if (!s) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

static PyObject *array_value(const qtf_file *f, uint64_t i, const qtf_value *v) {
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    const unsigned char *d = v->data;
    size_t es = qtf_type_size(v->elem_type);
    for (uint64_t j = 0; j < v->count; j++) {
        PyObject *item = NULL;
        if (v->elem_type == QTF_TYPE_STRING) {
            const char *s;
            uint64_t len;
            qtf_status st = qtf_meta_array_string(&s, &len, f, i, j);
            if (st) {
                Py_DECREF(list);
                return raise_last(st);
            }
            item = PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "surrogateescape");
        } else {
            const unsigned char *p = d + j * es;
            uint64_t u = 0;
            for (size_t b = 0; b < es; b++) u |= (uint64_t)p[b] << (8 * b);
            switch (v->elem_type) {
            case QTF_TYPE_U8: case QTF_TYPE_U16: case QTF_TYPE_U32: case QTF_TYPE_U64:
                item = PyLong_FromUnsignedLongLong(u);
                break;
            case QTF_TYPE_I8: item = PyLong_FromLong((int8_t)u); break;
            case QTF_TYPE_I16: item = PyLong_FromLong((int16_t)u); break;
            case QTF_TYPE_I32: item = PyLong_FromLong((int32_t)u); break;
            case QTF_TYPE_I64: item = PyLong_FromLongLong((int64_t)u); break;
            case QTF_TYPE_BOOL: item = PyBool_FromLong(u != 0); break;
            case QTF_TYPE_F32: {
                uint32_t b32 = (uint32_t)u;
                float x;
                memcpy(&x, &b32, 4);
                item = PyFloat_FromDouble(x);
                break;
            }
            case QTF_TYPE_F64: {
                double x;
                memcpy(&x, &u, 8);
                item = PyFloat_FromDouble(x);
                break;
            }
            default:
                item = Py_NewRef(Py_None);
            }
        }
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    return list;
}

/* meta() -> list of (key, type name, value, media type or None). Type names
 * are qtf_type_name() ("string", "array[f32]" is given as ("array", elem)). */
static PyObject *file_meta(FileObject *self, PyObject *unused) {
    if (check_open(self)) return NULL;
    uint64_t n = qtf_meta_count(self->f);
    PyObject *list = PyList_New(0);
    if (!list) return NULL;
    for (uint64_t i = 0; i < n; i++) {
        qtf_value v;
        qtf_status st = qtf_meta_value(&v, self->f, i);
        if (st) {
            Py_DECREF(list);
            return raise_last(st);
        }
        PyObject *val = NULL, *media = Py_NewRef(Py_None);
        switch (v.type) {
        case QTF_TYPE_U8: case QTF_TYPE_U16: case QTF_TYPE_U32: case QTF_TYPE_U64:
            val = PyLong_FromUnsignedLongLong(v.num.u64);
            break;
        case QTF_TYPE_I8: case QTF_TYPE_I16: case QTF_TYPE_I32: case QTF_TYPE_I64:
            val = PyLong_FromLongLong(v.num.i64);
            break;
        case QTF_TYPE_F32: case QTF_TYPE_F64: val = PyFloat_FromDouble(v.num.f64); break;
        case QTF_TYPE_BOOL: val = PyBool_FromLong(v.num.u64 != 0); break;
        case QTF_TYPE_STRING:
            val = PyUnicode_DecodeUTF8(v.str, (Py_ssize_t)v.len, "surrogateescape");
            break;
        case QTF_TYPE_BLOB:
            val = PyBytes_FromStringAndSize(v.str, (Py_ssize_t)v.len);
            Py_DECREF(media);
            media = PyUnicode_FromString(v.media_type ? v.media_type : "");
            break;
        case QTF_TYPE_ARRAY: val = array_value(self->f, i, &v); break;
        default: val = Py_NewRef(Py_None);
        }
        PyObject *tname = v.type == QTF_TYPE_ARRAY
                              ? PyUnicode_FromFormat("array[%s]", qtf_type_name(v.elem_type))
                              : PyUnicode_FromString(qtf_type_name(v.type));
        PyObject *tup = val && media && tname
                            ? Py_BuildValue("(sOOO)", qtf_meta_key(self->f, i), tname, val, media)
                            : NULL;
        Py_XDECREF(val);
        Py_XDECREF(media);
        Py_XDECREF(tname);
        if (!tup || PyList_Append(list, tup) < 0) {
            Py_XDECREF(tup);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(tup);
    }
    return list;
}

/* Same tensor checksum as qtf-inspect (inspect/JSON-SCHEMA.md): XXH3-64 of
 * the part checksums as big-endian bytes; computed by the package. */
static PyObject *file_info(FileObject *self, PyObject *name_obj) {
    uint64_t idx;
    if (find_tensor(&idx, self, name_obj)) return NULL;
    const qtf_tensor_info *t = qtf_tensor_get(self->f, idx);
    PyObject *shape = PyTuple_New(t->n_dims);
    if (!shape) return NULL;
    for (uint32_t d = 0; d < t->n_dims; d++)
        PyTuple_SET_ITEM(shape, d, PyLong_FromUnsignedLongLong(t->dims[d]));
    char enc[96];
    double bpw = 0.0;
    if (t->encoding_known) {
        if (qtf_encoding_format(enc, sizeof enc, &t->encoding)) strcpy(enc, "?");
        bpw = t->n_elements ? qtf_encoding_bits_per_weight(&t->encoding, t->n_dims,
                                                           t->stored_dims)
                            : 0.0;
    } else {
        snprintf(enc, sizeof enc, "unknown(id=%u)", t->encoding_id);
    }
    PyObject *parts = PyList_New(t->n_parts);
    if (!parts) {
        Py_DECREF(shape);
        return NULL;
    }
    for (uint32_t k = 0; k < t->n_parts; k++) {
        const qtf_part_info *p = &t->parts[k];
        PyList_SET_ITEM(parts, k,
                        Py_BuildValue("{s:s,s:s,s:s,s:K,s:K,s:K,s:K}", "role",
                                      qtf_part_role_name(p->role), "type",
                                      qtf_dtype_name(p->type), "compression",
                                      p->compression == QTF_COMPRESSION_ZSTD ? "zstd" : "none",
                                      "offset", (unsigned long long)p->offset, "stored_size",
                                      (unsigned long long)p->stored_size, "decoded_size",
                                      (unsigned long long)p->decoded_size, "checksum",
                                      (unsigned long long)p->checksum));
    }
    unsigned char cat[8 * QTF_MAX_PARTS];
    for (uint32_t k = 0; k < t->n_parts; k++)
        for (int b = 0; b < 8; b++) cat[8 * k + b] = (unsigned char)(t->parts[k].checksum >> (56 - 8 * b));
    char sum[17];
    snprintf(sum, sizeof sum, "%016llx", (unsigned long long)XXH3_64bits(cat, 8 * (size_t)t->n_parts));
    PyObject *r = Py_BuildValue(
        "{s:s,s:s#,s:N,s:K,s:s,s:s,s:O,s:d,s:N,s:s}", "checksum", sum, "name", t->name, (Py_ssize_t)t->name_len, "shape",
        shape, "n_elements", (unsigned long long)t->n_elements, "source_type",
        t->source_type == QTF_DTYPE_NONE ? "" : qtf_dtype_name(t->source_type), "encoding", enc,
        "encoding_known", t->encoding_known ? Py_True : Py_False, "bits_per_weight", bpw,
        "parts", parts, "layout", layout_name(t->layout));
    return r;
}

/* zero_copy(name) -> (offset, dtype name) when the tensor is one plain,
 * uncompressed DATA part (f32/f16/bf16/raw encodings), else None. */
static PyObject *file_zero_copy(FileObject *self, PyObject *name_obj) {
    uint64_t idx;
    if (find_tensor(&idx, self, name_obj)) return NULL;
    const qtf_tensor_info *t = qtf_tensor_get(self->f, idx);
    /* a transposed tensor's bytes are its transpose: never a view of it */
    if (!t->encoding_known || t->layout != QTF_LAYOUT_ROW_MAJOR || t->n_parts != 1 ||
        t->parts[0].role != QTF_ROLE_DATA ||
        t->parts[0].compression != QTF_COMPRESSION_NONE || t->parts[0].type == QTF_DTYPE_PACKED)
        Py_RETURN_NONE;
    const void *p = NULL;
    qtf_status st = qtf_part_data(&p, self->f, idx, 0);
    if (st) return raise_last(st);
    return Py_BuildValue("(ns)", (Py_ssize_t)((const char *)p - (const char *)self->base),
                         qtf_dtype_name(t->parts[0].type));
}

/* Writable contiguous buffer of exactly `need` bytes, or -1 with an error. */
static int get_out(Py_buffer *b, PyObject *out, uint64_t need) {
    if (PyObject_GetBuffer(out, b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return -1;
    if ((uint64_t)b->len != need) {
        PyErr_Format(PyExc_ValueError, "output buffer holds %zd bytes, %llu needed", b->len,
                     (unsigned long long)need);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

/* dequantize(name, dtype, out, threads=0, row_begin=0, row_end=None):
 * fills `out` (a writable buffer of the exact size) with the tensor, or rows
 * [row_begin, row_end) of its rows x cols view, as F32, F16 or BF16. */
static PyObject *file_dequantize(FileObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "name", "dtype", "out", "threads", "row_begin", "row_end", NULL };
    PyObject *name_obj, *out, *row_end_obj = Py_None;
    const char *dtype_name;
    unsigned threads = 0;
    unsigned long long row_begin = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UsO|IKO", kwlist, &name_obj, &dtype_name, &out,
                                     &threads, &row_begin, &row_end_obj))
        return NULL;
    uint64_t idx;
    if (find_tensor(&idx, self, name_obj)) return NULL;
    qtf_dtype dt;
    if (dtype_from_name(&dt, dtype_name)) return NULL;
    const qtf_tensor_info *t = qtf_tensor_get(self->f, idx);
    size_t es = qtf_dtype_size(dt);
    Py_buffer b;
    qtf_status st;
    if (row_end_obj == Py_None) {
        if (get_out(&b, out, t->n_elements * es)) return NULL;
        /* 16-bit results through the row decoder: it goes through a
         * cache-sized f32 buffer instead of a tensor-sized one (same values) */
        uint64_t cols = t->n_dims ? t->dims[t->n_dims - 1] : 1;
        file_enter(self);
        Py_BEGIN_ALLOW_THREADS
        if (dt != QTF_DTYPE_F32 && cols && t->n_elements)
            st = qtf_tensor_dequantize_rows(b.buf, dt, t->n_elements, self->f, idx, 0,
                                            t->n_elements / cols, threads);
        else
            st = qtf_tensor_dequantize(b.buf, dt, t->n_elements, self->f, idx, threads);
        Py_END_ALLOW_THREADS
        file_leave(self);
    } else {
        unsigned long long row_end = PyLong_AsUnsignedLongLong(row_end_obj);
        if (PyErr_Occurred()) return NULL;
        uint64_t cols = t->n_dims ? t->dims[t->n_dims - 1] : 1;
        if (row_end < row_begin) row_end = row_begin;
        uint64_t n = (row_end - row_begin) * cols;
        if (get_out(&b, out, n * es)) return NULL;
        file_enter(self);
        Py_BEGIN_ALLOW_THREADS
        st = qtf_tensor_dequantize_rows(b.buf, dt, n, self->f, idx, row_begin, row_end, threads);
        Py_END_ALLOW_THREADS
        file_leave(self);
    }
    PyBuffer_Release(&b);
    if (st) return raise_last(st);
    Py_RETURN_NONE;
}

/* ---- Arena: one anonymous mapping holding many decoded tensors -------------
 *
 * load_many() decodes every tensor of a state dict into one mapping, and the
 * package makes the tensors views of it (torch.frombuffer / np.frombuffer,
 * which keep the Arena alive). Why: a torch.empty() per tensor is a malloc
 * whose pages one thread faults in; here the pages are first touched (and
 * zeroed by the kernel) by the decoding threads, spread over the cores.
 * Transparent huge pages (MADV_HUGEPAGE) were measured and left out: on this
 * project's VM (THP "madvise", defrag "madvise") a 1.06 G-weight bf16 load
 * spent 5.2-5.8 s of system time in huge-page clearing against 0.8 s with
 * 4 KiB pages (bench/RESULTS.md). The memory is returned when the last
 * tensor viewing it is freed (one tensor kept alive keeps the whole arena). */
typedef struct {
    PyObject_HEAD
    void *map;       /* what mmap returned */
    size_t map_len;
    unsigned char *base; /* 2 MiB aligned start inside map */
    size_t len;
} ArenaObject;

static void arena_dealloc(ArenaObject *self) {
    if (self->map) munmap(self->map, self->map_len);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int arena_getbuffer(ArenaObject *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->base, (Py_ssize_t)self->len, 0,
                             flags);
}

static PyBufferProcs arena_as_buffer = { (getbufferproc)arena_getbuffer, NULL };

static PyTypeObject ArenaType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "qtf._qtf.Arena",
    .tp_basicsize = sizeof(ArenaObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Memory of tensors decoded by File.load_many (a writable buffer).",
    .tp_dealloc = (destructor)arena_dealloc,
    .tp_as_buffer = &arena_as_buffer,
};

#define HUGE_PAGE ((size_t)2 << 20)

/* An arena of `len` bytes (len > 0), 2 MiB aligned (cheap, and ready for
 * huge pages should they pay elsewhere). The pages are not touched here. */
static ArenaObject *arena_new(size_t len) {
    if (len > SIZE_MAX - 2 * HUGE_PAGE) {
        PyErr_NoMemory();
        return NULL;
    }
    size_t map_len = (len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
    void *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        PyErr_Format(PyExc_MemoryError, "cannot map %zu bytes for the decoded tensors: %s",
                     len, strerror(errno));
        return NULL;
    }
    unsigned char *base =
        (unsigned char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    ArenaObject *a = PyObject_New(ArenaObject, &ArenaType);
    if (!a) {
        munmap(map, map_len);
        return NULL;
    }
    a->map = map;
    a->map_len = map_len;
    a->base = base;
    a->len = len;
    return a;
}

/* One unit of work of load_many: rows [r0, r1) of a tensor (whole = decode
 * the whole tensor with qtf_tensor_dequantize). */
typedef struct {
    uint64_t tensor, r0, r1;
    unsigned char *dst;
    qtf_dtype dt;
    int whole;
    size_t batch;   /* index of the tensor in the request */
} load_item;

/* Per tensor of the request: items still to decode, and the pages of the
 * file mapping that only its parts occupy. */
typedef struct {
    atomic_size_t left;
    uintptr_t lo, hi;
} load_tensor;

typedef struct {
    const qtf_file *f;
    load_item *items;
    size_t n_items;
    load_tensor *tensors;
    uintptr_t page;
    atomic_size_t next;
    atomic_int failed;
    pthread_mutex_t lock;
    qtf_status st;      /* the first failure, under lock */
    char detail[2048];
} load_job;

static void *load_worker(void *arg) {
    load_job *j = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n_items || atomic_load(&j->failed)) break;
        const load_item *it = &j->items[i];
        const qtf_tensor_info *t = qtf_tensor_get(j->f, it->tensor);
        qtf_status st;
#ifdef MADV_POPULATE_WRITE
        {
            /* fault the item's output pages in with one call (Linux >= 5.14;
             * elsewhere it fails and the stores fault them one by one): a
             * quarter less system time than 4 KiB faults taken by stores */
            uint64_t cols = t->n_dims ? t->dims[t->n_dims - 1] : 1;
            uint64_t nb = (it->whole ? t->n_elements : (it->r1 - it->r0) * cols) *
                          qtf_dtype_size(it->dt);
            uintptr_t a = (uintptr_t)it->dst & ~(j->page - 1);
            uintptr_t b = ((uintptr_t)it->dst + (uintptr_t)nb + j->page - 1) & ~(j->page - 1);
            madvise((void *)a, b - a, MADV_POPULATE_WRITE);
        }
#endif
        if (it->whole) {
            st = qtf_tensor_dequantize(it->dst, it->dt, t->n_elements, j->f, it->tensor, 1);
        } else {
            uint64_t cols = t->dims[t->n_dims - 1];
            st = qtf_tensor_dequantize_rows(it->dst, it->dt, (it->r1 - it->r0) * cols, j->f,
                                            it->tensor, it->r0, it->r1, 1);
        }
        /* The tensor's last item: its encoded bytes will not be read again
         * by this load, so their pages of the private file mapping are given
         * back (they are in the page cache; a later read maps them again).
         * Without this the mapped file counts in the peak RSS next to the
         * decoded tensors. Only whole pages inside the tensor's own parts:
         * zero-copy views (other tensors) are never on them. */
        load_tensor *lt = &j->tensors[it->batch];
        if (!st && atomic_fetch_sub(&lt->left, 1) == 1 && lt->hi > lt->lo)
            madvise((void *)lt->lo, lt->hi - lt->lo, MADV_DONTNEED);
        if (st) {
            pthread_mutex_lock(&j->lock);
            if (!j->st) {
                j->st = st;
                snprintf(j->detail, sizeof j->detail, "%s", qtf_error_detail());
            }
            pthread_mutex_unlock(&j->lock);
            atomic_store(&j->failed, 1);
            break;
        }
    }
    return NULL;
}

/* Elements per work item: big enough that the per-call set-up (layouts,
 * scale loading) is noise, small enough (2 MiB of bf16, one huge page) that
 * two threads stay balanced over a few hundred tensors of unequal sizes. */
#define LOAD_ITEM_ELEMENTS ((uint64_t)1 << 20)

/* load_many(items, threads=0) -> (Arena or None, [byte offset, ...]).
 * items: [(name, dtype name F32/F16/BF16)]. Every tensor decoded into one
 * arena (64-byte aligned offsets), by `threads` threads (0 = all cores)
 * taking (tensor, row range) items from a shared counter: tensors of any
 * size keep every thread busy, and the values are those of
 * qtf_tensor_dequantize (row ranges decode bit-identically), whatever the
 * thread count. The GIL is released while decoding. */
static PyObject *file_load_many(FileObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "items", "threads", NULL };
    PyObject *items;
    unsigned threads = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|I", kwlist, &items, &threads)) return NULL;
    if (check_open(self)) return NULL;
    PyObject *seq = PySequence_Fast(items, "items must be a sequence of (name, dtype)");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    uint64_t *idx = PyMem_Calloc(n ? (size_t)n : 1, sizeof *idx);
    qtf_dtype *dts = PyMem_Calloc(n ? (size_t)n : 1, sizeof *dts);
    PyObject *offsets = PyList_New(n), *result = NULL;
    load_item *work = NULL;
    load_tensor *tensors = NULL;
    ArenaObject *arena = NULL;
    if (!idx || !dts || !offsets) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto out;
    }
    size_t total = 0, n_work = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name, *dtname;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "UU", &name, &dtname)) goto out;
        const char *dn = PyUnicode_AsUTF8(dtname);
        if (!dn || find_tensor(&idx[i], self, name) || dtype_from_name(&dts[i], dn)) goto out;
        if (dts[i] != QTF_DTYPE_F32 && dts[i] != QTF_DTYPE_F16 && dts[i] != QTF_DTYPE_BF16) {
            PyErr_Format(PyExc_ValueError, "load_many decodes to F32, F16 or BF16, not %s", dn);
            goto out;
        }
        const qtf_tensor_info *t = qtf_tensor_get(self->f, idx[i]);
        uint64_t bytes = t->n_elements * qtf_dtype_size(dts[i]);
        total = (total + 63) & ~(size_t)63;
        PyObject *o = PyLong_FromSize_t(total);
        if (!o) goto out;
        PyList_SET_ITEM(offsets, i, o);
        if (bytes > SIZE_MAX - total - 64) {
            PyErr_NoMemory();
            goto out;
        }
        total += (size_t)bytes;
        if (!t->n_elements) continue;
        int compressed = 0;
        for (uint32_t k = 0; k < t->n_parts; k++)
            compressed |= t->parts[k].compression != QTF_COMPRESSION_NONE;
        uint64_t cols = t->n_dims ? t->dims[t->n_dims - 1] : 1;
        /* zstd parts are decoded whole per call: one item per tensor */
        if (compressed || t->n_dims < 2) n_work++;
        else {
            uint64_t per = LOAD_ITEM_ELEMENTS / cols;
            per = per ? per : 1;
            n_work += (size_t)((t->n_elements / cols + per - 1) / per);
        }
    }
    if (total) {
        arena = arena_new(total);
        if (!arena) goto out;
    }
    work = PyMem_RawCalloc(n_work ? n_work : 1, sizeof *work);
    tensors = PyMem_RawCalloc(n ? (size_t)n : 1, sizeof *tensors);
    if (!work || !tensors) {
        PyErr_NoMemory();
        goto out;
    }
    size_t w = 0;
    const uint64_t data_off = qtf_file_get_info(self->f)->data_offset;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (Py_ssize_t i = 0; i < n; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(self->f, idx[i]);
        if (!t->n_elements) continue;
        if (self->base && t->n_parts) {
            uint64_t lo = t->parts[0].offset, hi = lo;
            for (uint32_t k = 0; k < t->n_parts; k++)
                if (t->parts[k].offset + t->parts[k].stored_size > hi)
                    hi = t->parts[k].offset + t->parts[k].stored_size;
            uintptr_t a = (uintptr_t)self->base + (uintptr_t)(data_off + lo);
            uintptr_t b = (uintptr_t)self->base + (uintptr_t)(data_off + hi);
            tensors[i].lo = (a + page - 1) & ~(page - 1);
            tensors[i].hi = b & ~(page - 1);
        }
        size_t before = w;
        unsigned char *dst = arena->base + PyLong_AsSize_t(PyList_GET_ITEM(offsets, i));
        int compressed = 0;
        for (uint32_t k = 0; k < t->n_parts; k++)
            compressed |= t->parts[k].compression != QTF_COMPRESSION_NONE;
        if (compressed || t->n_dims < 2) {
            work[w++] = (load_item){ idx[i], 0, 0, dst, dts[i], 1, (size_t)i };
        } else {
            uint64_t cols = t->dims[t->n_dims - 1], rows = t->n_elements / cols;
            uint64_t per = LOAD_ITEM_ELEMENTS / cols;
            per = per ? per : 1;
            for (uint64_t r = 0; r < rows; r += per) {
                uint64_t r1 = rows - r < per ? rows : r + per;
                work[w++] = (load_item){ idx[i], r, r1,
                                         dst + r * cols * qtf_dtype_size(dts[i]), dts[i], 0,
                                         (size_t)i };
            }
        }
        atomic_init(&tensors[i].left, w - before);
    }
    if (threads == 0) threads = qtf_default_threads();
    if ((size_t)threads > n_work) threads = n_work ? (unsigned)n_work : 1;
    load_job job = { .f = self->f, .items = work, .n_items = n_work, .tensors = tensors,
                     .page = page };
    atomic_init(&job.next, 0);
    atomic_init(&job.failed, 0);
    pthread_mutex_init(&job.lock, NULL);
    file_enter(self);
    Py_BEGIN_ALLOW_THREADS
    pthread_t tids[256];
    int started[256] = { 0 };
    unsigned nt = threads > 256 ? 256 : threads;
    for (unsigned k = 1; k < nt; k++)
        started[k] = pthread_create(&tids[k], NULL, load_worker, &job) == 0;
    load_worker(&job); /* the calling thread works too; a thread that did not start
                          leaves its share to the others */
    for (unsigned k = 1; k < nt; k++)
        if (started[k]) pthread_join(tids[k], NULL);
    Py_END_ALLOW_THREADS
    file_leave(self);
    pthread_mutex_destroy(&job.lock);
    if (job.st) {
        raise_status(job.st, job.detail);
        goto out;
    }
    result = Py_BuildValue("(OO)", arena ? (PyObject *)arena : Py_None, offsets);
out:
    Py_XDECREF(arena);
    Py_XDECREF(offsets);
    Py_DECREF(seq);
    PyMem_Free(idx);
    PyMem_Free(dts);
    PyMem_RawFree(work);
    PyMem_RawFree(tensors);
    return result;
}

/* raw(name, out): the single DATA part of a RAW/float tensor, decoded
 * (zstd) into `out`, bytes as stored. */
static PyObject *file_raw(FileObject *self, PyObject *args) {
    PyObject *name_obj, *out;
    if (!PyArg_ParseTuple(args, "UO", &name_obj, &out)) return NULL;
    uint64_t idx;
    if (find_tensor(&idx, self, name_obj)) return NULL;
    const qtf_tensor_info *t = qtf_tensor_get(self->f, idx);
    if (t->n_parts != 1 || t->parts[0].role != QTF_ROLE_DATA) {
        PyErr_Format(PyExc_ValueError, "tensor '%s' is not stored as plain elements", t->name);
        return NULL;
    }
    Py_buffer b;
    if (get_out(&b, out, t->parts[0].decoded_size)) return NULL;
    qtf_status st;
    file_enter(self);
    Py_BEGIN_ALLOW_THREADS
    st = qtf_part_decode(b.buf, t->parts[0].decoded_size, self->f, idx, 0);
    Py_END_ALLOW_THREADS
    file_leave(self);
    PyBuffer_Release(&b);
    if (st) return raise_last(st);
    Py_RETURN_NONE;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* check(threads=0, decode=True) -> (structure status, [(name, checksum
 * status name, checksum detail, decode status name or None, decode detail,
 * NaN/Inf count among the decoded values or None)], checksum seconds, decode
 * seconds).
 * Checksums in parallel by the library; decode: every tensor dequantized to
 * f32 one at a time (memory bounded by the largest tensor). */
static PyObject *file_check(FileObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "threads", "decode", NULL };
    unsigned threads = 0;
    int decode = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Ip", kwlist, &threads, &decode)) return NULL;
    if (check_open(self)) return NULL;
    uint64_t n = qtf_tensor_count(self->f);
    qtf_status *res = PyMem_Calloc(n ? n : 1, sizeof *res);
    if (!res) return PyErr_NoMemory();
    qtf_status all;
    char all_detail[2048] = "";
    file_enter(self);
    double t0 = now_seconds(), decode_secs = 0.0;
    Py_BEGIN_ALLOW_THREADS
    all = qtf_file_verify(self->f, threads, res);
    Py_END_ALLOW_THREADS
    double checksum_secs = now_seconds() - t0;
    if (all) snprintf(all_detail, sizeof all_detail, "%s", qtf_error_detail());
    PyObject *list = PyList_New(0);
    for (uint64_t i = 0; list && i < n; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(self->f, i);
        char cdetail[2048] = "", ddetail[2048] = "";
        qtf_status cs = res[i], ds = QTF_OK;
        long long nonfinite = -1;
        if (cs) {
            qtf_tensor_verify(self->f, i);
            snprintf(cdetail, sizeof cdetail, "%s", qtf_error_detail());
        }
        if (decode && t->encoding_known && t->encoding.id != QTF_ENC_RAW) {
            float *buf = t->n_elements <= SIZE_MAX / 4 ? PyMem_RawMalloc(t->n_elements * 4 + 4)
                                                      : NULL;
            if (!buf) {
                ds = QTF_E_NOMEM;
                snprintf(ddetail, sizeof ddetail, "cannot allocate %llu floats",
                         (unsigned long long)t->n_elements);
            } else {
                double d0 = now_seconds();
                Py_BEGIN_ALLOW_THREADS
                ds = qtf_tensor_dequantize(buf, QTF_DTYPE_F32, t->n_elements, self->f, i,
                                           threads);
                Py_END_ALLOW_THREADS
                decode_secs += now_seconds() - d0;
                if (ds) snprintf(ddetail, sizeof ddetail, "%s", qtf_error_detail());
                else {
                    nonfinite = 0;
                    for (uint64_t j = 0; j < t->n_elements; j++)
                        if (!isfinite(buf[j])) nonfinite++;
                }
                PyMem_RawFree(buf);
            }
        } else if (decode && !t->encoding_known) {
            ds = QTF_E_UNKNOWN_ENCODING;
            snprintf(ddetail, sizeof ddetail, "encoding %u is not known", t->encoding_id);
        } else if (decode) {
            ds = t->n_parts ? qtf_part_decode(NULL, 0, self->f, i, 0) : QTF_OK;
            if (ds == QTF_E_INVALID_ARG) ds = QTF_OK; /* size check only: data is raw */
        }
        PyObject *nf = nonfinite >= 0 ? PyLong_FromLongLong(nonfinite) : Py_NewRef(Py_None);
        PyObject *item = nf ? Py_BuildValue("(s#sszzN)", t->name, (Py_ssize_t)t->name_len,
                                            qtf_status_name(cs), cdetail,
                                            decode ? qtf_status_name(ds) : NULL,
                                            ds ? ddetail : NULL, nf)
                            : NULL;
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(list);
        } else {
            Py_DECREF(item);
        }
    }
    PyMem_Free(res);
    file_leave(self);
    if (!list) return NULL;
    return Py_BuildValue("(ssNdd)", qtf_status_name(all), all_detail, list, checksum_secs,
                         decode_secs);
}

static PyObject *file_get_path(FileObject *self, void *c) { return Py_NewRef(self->path); }
static PyObject *file_get_closed(FileObject *self, void *c) {
    return PyBool_FromLong(self->f == NULL);
}
static PyObject *file_get_header(FileObject *self, void *c) {
    if (check_open(self)) return NULL;
    const qtf_file_info *i = qtf_file_get_info(self->f);
    return Py_BuildValue("{s:s,s:I,s:K,s:K,s:K}", "version",
                         i->major == 1 && i->minor == 0 ? "1.0" : "?", "alignment", i->alignment,
                         "file_size", (unsigned long long)i->file_size, "tensor_count",
                         (unsigned long long)i->tensor_count, "metadata_count",
                         (unsigned long long)i->metadata_count);
}

static PyMethodDef file_methods[] = {
    { "close", (PyCFunction)file_close, METH_NOARGS, "Closes the file (views stay valid)." },
    { "keys", (PyCFunction)file_keys, METH_NOARGS, "Tensor names in file order." },
    { "meta", (PyCFunction)file_meta, METH_NOARGS, "[(key, type, value, media_type)]" },
    { "info", (PyCFunction)file_info, METH_O, "Directory entry of one tensor as a dict." },
    { "zero_copy", (PyCFunction)file_zero_copy, METH_O, "(offset, dtype) or None." },
    { "dequantize", (PyCFunction)(void (*)(void))file_dequantize, METH_VARARGS | METH_KEYWORDS,
      "dequantize(name, dtype, out, threads=0, row_begin=0, row_end=None)" },
    { "raw", (PyCFunction)file_raw, METH_VARARGS, "raw(name, out): stored elements." },
    { "load_many", (PyCFunction)(void (*)(void))file_load_many, METH_VARARGS | METH_KEYWORDS,
      "load_many(items, threads=0) -> (Arena, offsets)" },
    { "check", (PyCFunction)(void (*)(void))file_check, METH_VARARGS | METH_KEYWORDS,
      "check(threads=0, decode=True)" },
    { NULL, NULL, 0, NULL }
};

static PyGetSetDef file_getset[] = {
    { "path", (getter)file_get_path, NULL, NULL, NULL },
    { "closed", (getter)file_get_closed, NULL, NULL, NULL },
    { "header", (getter)file_get_header, NULL, NULL, NULL },
    { NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject FileType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "qtf._qtf.File",
    .tp_basicsize = sizeof(FileObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An open .qtf file (memory-mapped copy-on-write).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)file_init,
    .tp_dealloc = (destructor)file_dealloc,
    .tp_methods = file_methods,
    .tp_getset = file_getset,
    .tp_as_buffer = &file_as_buffer,
};

/* ---- Writer ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    qtf_writer *w;
} WriterObject;

static int writer_init(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "path", "alignment", NULL };
    PyObject *pathobj = NULL;
    unsigned alignment = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|I", kwlist, PyUnicode_FSConverter, &pathobj,
                                     &alignment))
        return -1;
    qtf_writer_options o = QTF_WRITER_OPTIONS_INIT;
    o.alignment = alignment;
    qtf_status st = qtf_writer_create(&self->w, PyBytes_AS_STRING(pathobj), &o);
    Py_DECREF(pathobj);
    if (st) {
        raise_last(st);
        return -1;
    }
    return 0;
}

static void writer_dealloc(WriterObject *self) {
    qtf_writer_abort(self->w);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_writer(WriterObject *self) {
    if (self->w) return 0;
    PyErr_SetString(PyExc_ValueError, "the writer is finished or aborted");
    return -1;
}

/* set(key, kind, value, media_type=None): kind is "u64", "i64", "f64",
 * "bool", "string", "blob", or "array[T]" for a list (T: u8..f64, bool,
 * string). */
static PyObject *writer_set(WriterObject *self, PyObject *args) {
    const char *key, *kind, *media = NULL;
    PyObject *v;
    if (!PyArg_ParseTuple(args, "ssO|z", &key, &kind, &v, &media)) return NULL;
    if (check_writer(self)) return NULL;
    qtf_status st = QTF_OK;
    if (!strcmp(kind, "u64")) {
        unsigned long long x = PyLong_AsUnsignedLongLong(v);
        if (PyErr_Occurred()) return NULL;
        st = qtf_writer_set_u64(self->w, key, x);
    } else if (!strcmp(kind, "i64")) {
        long long x = PyLong_AsLongLong(v);
        if (PyErr_Occurred()) return NULL;
        st = qtf_writer_set_i64(self->w, key, x);
    } else if (!strcmp(kind, "f64")) {
        double x = PyFloat_AsDouble(v);
        if (PyErr_Occurred()) return NULL;
        st = qtf_writer_set_f64(self->w, key, x);
    } else if (!strcmp(kind, "bool")) {
        st = qtf_writer_set_bool(self->w, key, PyObject_IsTrue(v));
    } else if (!strcmp(kind, "string")) {
        Py_ssize_t len;
        const char *s = PyUnicode_AsUTF8AndSize(v, &len);
        if (!s) return NULL;
        st = qtf_writer_set_string(self->w, key, s, (uint64_t)len);
    } else if (!strcmp(kind, "blob")) {
        Py_buffer b;
        if (PyObject_GetBuffer(v, &b, PyBUF_SIMPLE) < 0) return NULL;
        st = qtf_writer_set_blob(self->w, key, media ? media : "application/octet-stream",
                                 b.buf, (uint64_t)b.len);
        PyBuffer_Release(&b);
    } else if (!strcmp(kind, "array[string]")) {
        PyObject *seq = PySequence_Fast(v, "array value must be a sequence");
        if (!seq) return NULL;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        const char **strs = PyMem_Calloc(n ? (size_t)n : 1, sizeof *strs);
        uint64_t *lens = PyMem_Calloc(n ? (size_t)n : 1, sizeof *lens);
        int bad = !strs || !lens;
        for (Py_ssize_t i = 0; !bad && i < n; i++) {
            Py_ssize_t len;
            strs[i] = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(seq, i), &len);
            if (!strs[i]) bad = 1;
            else lens[i] = (uint64_t)len;
        }
        if (!bad) st = qtf_writer_set_string_array(self->w, key, strs, lens, (uint64_t)n);
        PyMem_Free(strs);
        PyMem_Free(lens);
        Py_DECREF(seq);
        if (bad) return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    } else if (!strncmp(kind, "array[", 6)) {
        /* fixed-size elements given as little-endian bytes by the package */
        static const struct { const char *n; qtf_type t; } types[] = {
            { "u8", QTF_TYPE_U8 }, { "i8", QTF_TYPE_I8 }, { "u16", QTF_TYPE_U16 },
            { "i16", QTF_TYPE_I16 }, { "u32", QTF_TYPE_U32 }, { "i32", QTF_TYPE_I32 },
            { "f32", QTF_TYPE_F32 }, { "bool", QTF_TYPE_BOOL }, { "u64", QTF_TYPE_U64 },
            { "i64", QTF_TYPE_I64 }, { "f64", QTF_TYPE_F64 },
        };
        int found = -1;
        for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
            size_t l = strlen(types[i].n);
            if (!strncmp(kind + 6, types[i].n, l) && !strcmp(kind + 6 + l, "]")) found = (int)i;
        }
        if (found < 0) {
            PyErr_Format(PyExc_ValueError, "unknown metadata kind '%s'", kind);
            return NULL;
        }
        Py_buffer b;
        if (PyObject_GetBuffer(v, &b, PyBUF_SIMPLE) < 0) return NULL;
        size_t es = qtf_type_size(types[found].t);
        st = qtf_writer_set_value(self->w, key, QTF_TYPE_ARRAY, types[found].t, b.buf,
                                  (uint64_t)b.len / es);
        PyBuffer_Release(&b);
    } else {
        PyErr_Format(PyExc_ValueError, "unknown metadata kind '%s'", kind);
        return NULL;
    }
    if (st) return raise_last(st);
    Py_RETURN_NONE;
}

/* add(name, shape, source_dtype, encoding, data, threads=0): `data` holds
 * the elements as f32 (float encodings and quantizers) or, for RAW, the
 * source elements as stored. */
static PyObject *writer_add(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "name", "shape", "source_dtype", "encoding", "data", "threads",
                              NULL };
    const char *name, *src_name, *enc_text;
    PyObject *shape, *data;
    unsigned threads = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sOssO|I", kwlist, &name, &shape, &src_name,
                                     &enc_text, &data, &threads))
        return NULL;
    if (check_writer(self)) return NULL;
    qtf_dtype src;
    if (dtype_from_name(&src, src_name)) return NULL;
    uint64_t dims[QTF_MAX_DIMS];
    Py_ssize_t nd = PySequence_Size(shape);
    if (nd < 0) return NULL;
    if (nd > QTF_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError, "tensor '%s' has %zd dims, at most %d", name, nd,
                     QTF_MAX_DIMS);
        return NULL;
    }
    for (Py_ssize_t d = 0; d < nd; d++) {
        PyObject *x = PySequence_GetItem(shape, d);
        if (!x) return NULL;
        dims[d] = PyLong_AsUnsignedLongLong(x);
        Py_DECREF(x);
        if (PyErr_Occurred()) return NULL;
    }
    qtf_encoding enc;
    qtf_status st = qtf_encoding_parse(&enc, enc_text);
    if (st) return raise_last(st);
    Py_buffer b;
    if (PyObject_GetBuffer(data, &b, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    qtf_tensor_desc desc = QTF_TENSOR_DESC_INIT;
    desc.name = name;
    desc.n_dims = (uint32_t)nd;
    desc.dims = dims;
    desc.source_type = src;
    desc.encoding = &enc;
    desc.zstd_level = (int)enc.zstd_level;
    Py_BEGIN_ALLOW_THREADS
    if (enc.id == QTF_ENC_RAW) {
        qtf_part_layout l[QTF_MAX_PARTS];
        uint32_t n = 0;
        st = qtf_encoding_layout(l, &n, &enc, (uint32_t)nd, dims);
        if (!st && (n != 1 || l[0].size != (uint64_t)b.len)) {
            st = QTF_E_INVALID_ARG;
        }
        if (!st) {
            qtf_part_view v = { l[0].role, l[0].type, b.buf, l[0].size };
            st = qtf_writer_add_tensor(self->w, &desc, &v, 1);
        }
    } else {
        qtf_encoded *e = NULL;
        qtf_quantize_options qo = QTF_QUANTIZE_OPTIONS_INIT;
        qo.threads = threads;
        st = qtf_quantize(&e, &enc, (const float *)b.buf, (uint32_t)nd, dims, &qo);
        if (!st) {
            qtf_part_view v[QTF_MAX_PARTS];
            uint32_t n = qtf_encoded_views(v, e);
            st = qtf_writer_add_tensor(self->w, &desc, v, n);
        }
        qtf_encoded_free(e);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    if (st == QTF_E_INVALID_ARG && enc.id == QTF_ENC_RAW && !*qtf_error_detail()) {
        char buf[1400];
        snprintf(buf, sizeof buf, "tensor '%.1024s': raw data size does not match its shape",
                 name);
        return raise_status(st, buf);
    }
    if (st) {
        char buf[2400];
        snprintf(buf, sizeof buf, "tensor '%.1024s': %s", name, qtf_error_detail());
        return raise_status(st, buf);
    }
    Py_RETURN_NONE;
}

static PyObject *writer_finish(WriterObject *self, PyObject *unused) {
    if (check_writer(self)) return NULL;
    qtf_writer *w = self->w;
    self->w = NULL;
    qtf_status st;
    Py_BEGIN_ALLOW_THREADS
    st = qtf_writer_finish(w);
    Py_END_ALLOW_THREADS
    if (st) return raise_last(st);
    Py_RETURN_NONE;
}

static PyObject *writer_abort(WriterObject *self, PyObject *unused) {
    qtf_writer_abort(self->w);
    self->w = NULL;
    Py_RETURN_NONE;
}

static PyMethodDef writer_methods[] = {
    { "set", (PyCFunction)writer_set, METH_VARARGS, "set(key, kind, value, media_type=None)" },
    { "add", (PyCFunction)(void (*)(void))writer_add, METH_VARARGS | METH_KEYWORDS,
      "add(name, shape, source_dtype, encoding, data, threads=0)" },
    { "finish", (PyCFunction)writer_finish, METH_NOARGS, "Writes and renames into place." },
    { "abort", (PyCFunction)writer_abort, METH_NOARGS, "Discards everything." },
    { NULL, NULL, 0, NULL }
};

static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "qtf._qtf.Writer",
    .tp_basicsize = sizeof(WriterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Streaming atomic .qtf writer.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)writer_init,
    .tp_dealloc = (destructor)writer_dealloc,
    .tp_methods = writer_methods,
};

/* ---- GGUF -------------------------------------------------------------------
 *
 * A GGUF file (llama.cpp) read by the project's hostile-safe reader
 * (checkpoint/gguf_reader.c, compiled into this module with its internal
 * helpers: the module links libqtf statically for them). Tensors keep the
 * GGUF's names and its element order (shape = ne reversed, outermost
 * first); every ggml block type of libqtf's encoding table decodes through
 * qtf_dequantize, bit-identical to ggml (checkpoint/gguf_decode.c). */
typedef struct {
    PyObject_HEAD
    qtf_gguf *g;
    PyObject *path;
    int busy, closing;
} GGUFObject;

static int gguf_init(GGUFObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "path", NULL };
    PyObject *pathobj = NULL;
    if (self->g) {
        PyErr_SetString(PyExc_RuntimeError, "GGUF is already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&", kwlist, PyUnicode_FSConverter, &pathobj))
        return -1;
    qtf_status st;
    qtf_gguf *g = NULL;
    const char *path = PyBytes_AS_STRING(pathobj);
    Py_BEGIN_ALLOW_THREADS
    st = qtf_gguf_open(&g, path, 0);
    Py_END_ALLOW_THREADS
    if (st) {
        Py_DECREF(pathobj);
        raise_last(st);
        return -1;
    }
    self->g = g;
    self->path = PyUnicode_DecodeFSDefault(path);
    Py_DECREF(pathobj);
    return self->path ? 0 : -1;
}

static void gguf_dealloc(GGUFObject *self) {
    qtf_gguf_close(self->g);
    Py_XDECREF(self->path);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int gguf_check(GGUFObject *self) {
    if (self->g && !self->closing) return 0;
    PyErr_SetString(PyExc_ValueError, "the GGUF file is closed");
    return -1;
}

static PyObject *gguf_close(GGUFObject *self, PyObject *unused) {
    if (self->busy) self->closing = 1;
    else {
        qtf_gguf_close(self->g);
        self->g = NULL;
    }
    Py_RETURN_NONE;
}

static int gguf_find(uint64_t *out, GGUFObject *self, PyObject *name_obj) {
    if (gguf_check(self)) return -1;
    const char *name = PyUnicode_AsUTF8(name_obj);
    if (!name) return -1;
    if (qtf_gguf_tensor_find(out, self->g, name)) {
        char buf[1400];
        snprintf(buf, sizeof buf, "%s: no tensor named '%.1024s'", PyUnicode_AsUTF8(self->path),
                 name);
        raise_status(QTF_E_NOT_FOUND, buf);
        return -1;
    }
    return 0;
}

static PyObject *gguf_keys(GGUFObject *self, PyObject *unused) {
    if (gguf_check(self)) return NULL;
    uint64_t n = qtf_gguf_tensor_count(self->g);
    PyObject *list = PyList_New((Py_ssize_t)n);
    for (uint64_t i = 0; list && i < n; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(self->g, i);
        PyObject *s = PyUnicode_FromStringAndSize(t->name, t->name_len);
        if (!s) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, s);
    }
    return list;
}

static PyObject *gguf_scalar(const qtf_value *v) {
    switch (v->type) {
    case QTF_TYPE_U8: case QTF_TYPE_U16: case QTF_TYPE_U32: case QTF_TYPE_U64:
        return PyLong_FromUnsignedLongLong(v->num.u64);
    case QTF_TYPE_I8: case QTF_TYPE_I16: case QTF_TYPE_I32: case QTF_TYPE_I64:
        return PyLong_FromLongLong(v->num.i64);
    case QTF_TYPE_F32: case QTF_TYPE_F64: return PyFloat_FromDouble(v->num.f64);
    case QTF_TYPE_BOOL: return PyBool_FromLong(v->num.u64 != 0);
    case QTF_TYPE_STRING:
        return PyUnicode_DecodeUTF8(v->str, (Py_ssize_t)v->len, "surrogateescape");
    default: Py_RETURN_NONE;
    }
}

/* meta() -> [(key, type name, value)]: "array[f32]" etc. for arrays, whose
 * value is a list. */
static PyObject *gguf_meta(GGUFObject *self, PyObject *unused) {
    if (gguf_check(self)) return NULL;
    uint64_t n = qtf_gguf_kv_count(self->g);
    PyObject *list = PyList_New(0);
    for (uint64_t i = 0; list && i < n; i++) {
        qtf_value v;
        qtf_status st = qtf_gguf_kv_value(&v, self->g, i);
        if (st) {
            Py_DECREF(list);
            return raise_last(st);
        }
        PyObject *val = NULL, *tname;
        if (v.type == QTF_TYPE_ARRAY) {
            val = PyList_New((Py_ssize_t)v.count);
            for (uint64_t j = 0; val && j < v.count; j++) {
                qtf_value e;
                if ((st = qtf_gguf_array_elem(&e, self->g, i, j))) {
                    Py_CLEAR(val);
                    raise_last(st);
                    break;
                }
                PyObject *x = gguf_scalar(&e);
                if (!x) Py_CLEAR(val);
                else PyList_SET_ITEM(val, (Py_ssize_t)j, x);
            }
            tname = PyUnicode_FromFormat("array[%s]", qtf_type_name(v.elem_type));
        } else {
            val = gguf_scalar(&v);
            tname = PyUnicode_FromString(qtf_type_name(v.type));
        }
        PyObject *tup = val && tname ? Py_BuildValue("(sOO)", qtf_gguf_kv_key(self->g, i), tname,
                                                     val)
                                     : NULL;
        Py_XDECREF(val);
        Py_XDECREF(tname);
        if (!tup || PyList_Append(list, tup) < 0) {
            Py_XDECREF(tup);
            Py_CLEAR(list);
        } else {
            Py_DECREF(tup);
        }
    }
    return list;
}

/* info(name) -> dict: shape (ne reversed), ggml_type, n_elements, nbytes,
 * bits_per_weight, offset (file offset of the data), encoding (the QTF
 * encoding that decodes it, "" when none does), decodable. */
static PyObject *gguf_info(GGUFObject *self, PyObject *name_obj) {
    uint64_t i;
    if (gguf_find(&i, self, name_obj)) return NULL;
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(self->g, i);
    uint64_t dims[QTF_GGUF_MAX_DIMS];
    uint32_t nd = t->n_dims ? qtf_gguf_tensor_dims(dims, t) : 0;
    PyObject *shape = PyTuple_New(nd);
    if (!shape) return NULL;
    for (uint32_t d = 0; d < nd; d++)
        PyTuple_SET_ITEM(shape, d, PyLong_FromUnsignedLongLong(dims[d]));
    qtf_encoding enc;
    char text[96] = "";
    int ok = qtf_gguf_type_encoding(&enc, t->type) == QTF_OK;
    if (ok && qtf_encoding_format(text, sizeof text, &enc)) text[0] = '\0';
    qtf_error_set_detail(NULL);
    const char *tn = qtf_ggml_type_name(t->type);
    return Py_BuildValue("{s:s#,s:N,s:s,s:I,s:K,s:K,s:d,s:K,s:s,s:O}", "name", t->name,
                         (Py_ssize_t)t->name_len, "shape", shape, "ggml_type", tn ? tn : "?",
                         "ggml_type_id", t->type, "n_elements",
                         (unsigned long long)t->n_elements, "nbytes",
                         (unsigned long long)t->nbytes, "bits_per_weight",
                         t->n_elements ? 8.0 * (double)t->nbytes / (double)t->n_elements : 0.0,
                         "offset",
                         (unsigned long long)(qtf_gguf_get_info(self->g)->data_offset + t->offset),
                         "encoding", text, "decodable", ok ? Py_True : Py_False);
}

/* dequantize(name, dtype, out, threads=0, row_begin=0, row_end=None): rows
 * [row_begin, row_end) of the tensor seen as rows x ne[0] (every ggml block
 * lies within one row, so a row range is a byte range) into `out` as F32,
 * F16 or BF16. */
static PyObject *gguf_dequantize(GGUFObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = { "name", "dtype", "out", "threads", "row_begin", "row_end", NULL };
    PyObject *name_obj, *out, *row_end_obj = Py_None;
    const char *dtype_name;
    unsigned threads = 0;
    unsigned long long row_begin = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "UsO|IKO", kwlist, &name_obj, &dtype_name, &out,
                                     &threads, &row_begin, &row_end_obj))
        return NULL;
    uint64_t i;
    if (gguf_find(&i, self, name_obj)) return NULL;
    qtf_dtype dt;
    if (dtype_from_name(&dt, dtype_name)) return NULL;
    if (dt != QTF_DTYPE_F32 && dt != QTF_DTYPE_F16 && dt != QTF_DTYPE_BF16) {
        PyErr_Format(PyExc_ValueError, "GGUF tensors decode to F32, F16 or BF16, not %s",
                     dtype_name);
        return NULL;
    }
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(self->g, i);
    uint64_t cols = t->ne[0], rows = cols ? t->n_elements / cols : 0;
    unsigned long long row_end = rows;
    if (row_end_obj != Py_None) {
        row_end = PyLong_AsUnsignedLongLong(row_end_obj);
        if (PyErr_Occurred()) return NULL;
    }
    if (row_begin > row_end || row_end > rows) {
        PyErr_Format(PyExc_IndexError, "rows %llu..%llu of tensor '%s' with %llu rows",
                     row_begin, row_end, t->name, (unsigned long long)rows);
        return NULL;
    }
    qtf_encoding enc;
    qtf_status st = qtf_gguf_type_encoding(&enc, t->type);
    if (st) {
        char buf[1400];
        snprintf(buf, sizeof buf, "%s: tensor '%s': %s", PyUnicode_AsUTF8(self->path), t->name,
                 qtf_error_detail());
        return raise_status(st, buf);
    }
    uint64_t n = (row_end - row_begin) * cols;
    Py_buffer b;
    if (get_out(&b, out, n * qtf_dtype_size(dt))) return NULL;
    const void *data = NULL;
    uint64_t size = 0;
    self->busy++;
    Py_BEGIN_ALLOW_THREADS
    st = qtf_gguf_tensor_data(&data, &size, self->g, i);
    if (!st && n) {
        uint64_t row_bytes = rows ? size / rows : 0;
        uint64_t dims[2] = { row_end - row_begin, cols };
        qtf_part_layout l[QTF_MAX_PARTS];
        uint32_t np = 0;
        st = qtf_encoding_layout(l, &np, &enc, 2, dims);
        if (!st && (np != 1 || l[0].size != dims[0] * row_bytes || row_bytes * rows != size)) {
            char why[160];
            snprintf(why, sizeof why, "the %s layout does not match the %llu bytes stored",
                     qtf_ggml_type_name(t->type), (unsigned long long)size);
            qtf_error_set_detail(why);
            st = QTF_E_ENCODING;
        }
        if (!st) {
            qtf_part_view v = { l[0].role, l[0].type,
                                (const unsigned char *)data + row_begin * row_bytes, l[0].size };
            st = qtf_dequantize(b.buf, dt, n, &enc, 2, dims, &v, 1, threads);
        }
        if (st) {
            char why[1024];
            snprintf(why, sizeof why, "%s: tensor '%s' (%s): %s", qtf_gguf_name(self->g), t->name,
                     qtf_ggml_type_name(t->type), qtf_error_detail());
            qtf_error_set_detail(why);
        }
    }
    Py_END_ALLOW_THREADS
    if (--self->busy == 0 && self->closing) {
        qtf_gguf_close(self->g);
        self->g = NULL;
    }
    PyBuffer_Release(&b);
    if (st) return raise_last(st);
    Py_RETURN_NONE;
}

static PyObject *gguf_get_header(GGUFObject *self, void *c) {
    if (gguf_check(self)) return NULL;
    const qtf_gguf_info *i = qtf_gguf_get_info(self->g);
    return Py_BuildValue("{s:I,s:K,s:K,s:I,s:K,s:K}", "version", i->version, "tensor_count",
                         (unsigned long long)i->tensor_count, "kv_count",
                         (unsigned long long)i->kv_count, "alignment", i->alignment,
                         "data_offset", (unsigned long long)i->data_offset, "file_size",
                         (unsigned long long)i->file_size);
}

static PyMethodDef gguf_methods[] = {
    { "close", (PyCFunction)gguf_close, METH_NOARGS, "Closes the file." },
    { "keys", (PyCFunction)gguf_keys, METH_NOARGS, "Tensor names in file order." },
    { "meta", (PyCFunction)gguf_meta, METH_NOARGS, "[(key, type, value)]" },
    { "info", (PyCFunction)gguf_info, METH_O, "Tensor info as a dict." },
    { "dequantize", (PyCFunction)(void (*)(void))gguf_dequantize, METH_VARARGS | METH_KEYWORDS,
      "dequantize(name, dtype, out, threads=0, row_begin=0, row_end=None)" },
    { NULL, NULL, 0, NULL }
};

static PyGetSetDef gguf_getset[] = {
    { "header", (getter)gguf_get_header, NULL, NULL, NULL },
    { NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject GGUFType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "qtf._qtf.GGUF",
    .tp_basicsize = sizeof(GGUFObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An open GGUF file (memory-mapped, read-only).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)gguf_init,
    .tp_dealloc = (destructor)gguf_dealloc,
    .tp_methods = gguf_methods,
    .tp_getset = gguf_getset,
};

/* is_gguf(path) -> bool: by content (the magic), not the extension. */
static PyObject *mod_is_gguf(PyObject *m, PyObject *arg) {
    PyObject *b = NULL;
    if (!PyUnicode_FSConverter(arg, &b)) return NULL;
    int r = qtf_gguf_file_is_gguf(PyBytes_AS_STRING(b));
    Py_DECREF(b);
    return PyBool_FromLong(r);
}

/* ---- module functions ------------------------------------------------------- */

/* plan(default, rules, fallback, all_layers, tensors) -> (list of (encoding
 * text, reason), recipe text). rules: ["GLOB=SPEC", ...]; tensors: [(name,
 * dtype name, shape)]. The same choice as qtf-convert (convert/recipe.c). */
static PyObject *mod_plan(PyObject *m, PyObject *args) {
    const char *def, *fallback;
    PyObject *rules, *tensors;
    int all_layers;
    if (!PyArg_ParseTuple(args, "sOzpO", &def, &rules, &fallback, &all_layers, &tensors))
        return NULL;
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    char err[2048];
    PyObject *result = NULL, *list = NULL;
    if (qtfc_spec_parse(&r.default_spec, def, err, sizeof err)) goto bad;
    if (fallback) {
        if (qtfc_spec_parse(&r.fallback, fallback, err, sizeof err)) goto bad;
        r.has_fallback = 1;
    }
    r.all_layers = all_layers;
    Py_ssize_t nr = PySequence_Size(rules);
    if (nr < 0) goto out;
    for (Py_ssize_t i = 0; i < nr; i++) {
        PyObject *o = PySequence_GetItem(rules, i);
        const char *s = o ? PyUnicode_AsUTF8(o) : NULL;
        char origin[32];
        snprintf(origin, sizeof origin, "rule %zd", i + 1);
        int rc = s ? qtfc_recipe_add_rule(&r, s, origin, err, sizeof err) : 0;
        Py_XDECREF(o);
        if (!s) goto out;
        if (rc) goto bad;
    }
    list = PyList_New(0);
    Py_ssize_t nt = list ? PySequence_Size(tensors) : -1;
    for (Py_ssize_t i = 0; i < nt; i++) {
        PyObject *o = PySequence_GetItem(tensors, i);
        const char *name, *dt_name;
        PyObject *shape;
        if (!o || !PyArg_ParseTuple(o, "ssO", &name, &dt_name, &shape)) {
            Py_XDECREF(o);
            goto out;
        }
        qtf_dtype dt;
        uint64_t dims[QTF_MAX_DIMS];
        Py_ssize_t nd = PySequence_Size(shape);
        int ok = !dtype_from_name(&dt, dt_name) && nd >= 0 && nd <= QTF_MAX_DIMS;
        for (Py_ssize_t d = 0; ok && d < nd; d++) {
            PyObject *x = PySequence_GetItem(shape, d);
            dims[d] = x ? PyLong_AsUnsignedLongLong(x) : 0;
            Py_XDECREF(x);
            if (!x || PyErr_Occurred()) ok = 0;
        }
        if (!ok) {
            if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "bad shape of '%s'", name);
            Py_DECREF(o);
            goto out;
        }
        qtfc_choice c;
        int rc = qtfc_recipe_choose(&c, &r, name, dt, (uint32_t)nd, dims, err, sizeof err);
        Py_DECREF(o);
        if (rc) goto bad;
        char text[96];
        if (qtf_encoding_format(text, sizeof text, &c.enc)) strcpy(text, "?");
        PyObject *item = Py_BuildValue("(ss)", text, qtfc_reason_name(c.why));
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            goto out;
        }
        Py_DECREF(item);
    }
    if (nt < 0) goto out;
    char *desc = qtfc_recipe_describe(&r);
    if (!desc) {
        PyErr_NoMemory();
        goto out;
    }
    result = Py_BuildValue("(Os)", list, desc);
    free(desc);
    goto out;
bad:
    raise_status(QTF_E_PARSE, err);
out:
    Py_XDECREF(list);
    qtfc_recipe_free(&r);
    return result;
}

/* encoding(text) -> canonical text (raises QtfError QTF_E_PARSE). */
static PyObject *mod_encoding(PyObject *m, PyObject *arg) {
    const char *text = PyUnicode_AsUTF8(arg);
    if (!text) return NULL;
    qtf_encoding e;
    qtf_status st = qtf_encoding_parse(&e, text);
    if (st) return raise_last(st);
    char buf[96];
    if ((st = qtf_encoding_format(buf, sizeof buf, &e))) return raise_last(st);
    return PyUnicode_FromString(buf);
}

/* metrics(ref_f32, approx_f32) -> dict, qtf_metrics_compute over two
 * float32 buffers of the same length. */
static PyObject *mod_metrics(PyObject *m, PyObject *args) {
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    Py_buffer ba, bb;
    if (PyObject_GetBuffer(a, &ba, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (PyObject_GetBuffer(b, &bb, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&ba);
        return NULL;
    }
    qtf_metrics mt;
    qtf_status st = QTF_E_INVALID_ARG;
    if (ba.len == bb.len) {
        Py_BEGIN_ALLOW_THREADS
        st = qtf_metrics_compute(&mt, ba.buf, bb.buf, (uint64_t)ba.len / 4, NULL, 0);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&ba);
    PyBuffer_Release(&bb);
    if (st) return raise_status(st, st == QTF_E_INVALID_ARG ? "sizes differ" : NULL);
    return Py_BuildValue("{s:K,s:d,s:d,s:d,s:d,s:d}", "n", (unsigned long long)mt.n, "mse",
                         mt.mse, "rel_rmse", mt.rel_rmse, "max_abs_err", mt.max_abs_err,
                         "snr_db", mt.snr_db, "cosine", mt.cosine);
}

static PyObject *mod_default_threads(PyObject *m, PyObject *unused) {
    return PyLong_FromUnsignedLong(qtf_default_threads());
}

static PyMethodDef mod_methods[] = {
    { "plan", mod_plan, METH_VARARGS, "plan(default, rules, fallback, all_layers, tensors)" },
    { "encoding", mod_encoding, METH_O, "Canonical text of an encoding." },
    { "metrics", mod_metrics, METH_VARARGS, "metrics(ref, approx) over float32 buffers" },
    { "default_threads", mod_default_threads, METH_NOARGS, "Online CPUs." },
    { "is_gguf", mod_is_gguf, METH_O, "is_gguf(path): starts with the GGUF magic." },
    { NULL, NULL, 0, NULL }
};

static struct PyModuleDef qtf_module = {
    PyModuleDef_HEAD_INIT, "_qtf", "libqtf bindings (use the qtf package).", -1, mod_methods,
    NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__qtf(void);
PyMODINIT_FUNC PyInit__qtf(void) {
    if (PyType_Ready(&FileType) < 0 || PyType_Ready(&WriterType) < 0 ||
        PyType_Ready(&ArenaType) < 0 || PyType_Ready(&GGUFType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&qtf_module);
    if (!m) return NULL;
    QtfError = PyErr_NewExceptionWithDoc(
        "qtf.QtfError", "A libqtf failure: .status (e.g. 'QTF_E_CHECKSUM'), .code, .detail.",
        NULL, NULL);
    PyObject *bases = QtfError ? PyTuple_Pack(2, QtfError, PyExc_KeyError) : NULL;
    QtfNotFoundError = bases ? PyErr_NewExceptionWithDoc("qtf.QtfNotFoundError",
                                                         "No such tensor or key.", bases, NULL)
                             : NULL;
    Py_XDECREF(bases);
    if (!QtfNotFoundError || PyModule_AddObjectRef(m, "QtfError", QtfError) < 0 ||
        PyModule_AddObjectRef(m, "QtfNotFoundError", QtfNotFoundError) < 0 ||
        PyModule_AddObjectRef(m, "File", (PyObject *)&FileType) < 0 ||
        PyModule_AddObjectRef(m, "Writer", (PyObject *)&WriterType) < 0 ||
        PyModule_AddObjectRef(m, "GGUF", (PyObject *)&GGUFType) < 0 ||
        PyModule_AddStringConstant(m, "version", QTF_VERSION_STRING) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
