/* checkpoint/gguf_writer.c — streaming, atomic GGUF v3 writer. The header
 * (key/values and tensor infos) is serialized into memory as it is declared
 * and written once, before the first data byte; tensor data then streams
 * through in declaration order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_writer.h"
#include "common/common.h"
#include "common/outfile.h"

/* --- writer -------------------------------------------------------------- */

typedef struct gguf_decl {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[QTF_GGUF_MAX_DIMS];
    uint64_t nbytes, offset;    /* offset relative to the data section */
} gguf_decl;

typedef struct byte_buf {
    unsigned char *p;
    size_t len, cap;
} byte_buf;

struct qtf_gguf_writer {
    char *path;
    qtf__outfile out;           /* temp file, published by commit (common/outfile.h) */
    int fd;                     /* out.fd */
    uint32_t alignment;
    byte_buf kv;                /* serialized key/value pairs */
    uint64_t n_kv;
    char **keys;                /* for duplicate checks */
    gguf_decl *decls;
    uint64_t n_decls, cap_decls;
    uint64_t data_size;         /* running aligned end of declared data */
    uint64_t cur, cur_written;  /* tensor being written, bytes of it so far */
    int header_written, failed;
};

static int buf_reserve(byte_buf *b, size_t more) {
    if (b->cap - b->len >= more) return 1;
    size_t need;
    if (__builtin_add_overflow(b->len, more, &need)) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    unsigned char *p = realloc(b->p, cap);
    if (!p) return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

static int buf_put(byte_buf *b, const void *src, size_t n) {
    if (!buf_reserve(b, n)) return 0;
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
    return 1;
}

static int buf_u32(byte_buf *b, uint32_t v) {
    unsigned char t[4];
    qtf__st32(t, v);
    return buf_put(b, t, 4);
}

static int buf_u64(byte_buf *b, uint64_t v) {
    unsigned char t[8];
    qtf__st64(t, v);
    return buf_put(b, t, 8);
}

static int buf_str(byte_buf *b, const char *s, uint64_t len) {
    return len <= SIZE_MAX && buf_u64(b, len) && buf_put(b, s, (size_t)len);
}

static qtf_status write_all(qtf_gguf_writer *w, const void *buf, uint64_t len) {
    qtf_status st = qtf__write_all(w->fd, buf, len, w->path);
    if (st) w->failed = 1;
    return st;
}

static const unsigned char zeros[64];

static qtf_status write_zeros(qtf_gguf_writer *w, uint64_t n) {
    while (n > 0) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        qtf_status st = write_all(w, zeros, k);
        if (st) return st;
        n -= k;
    }
    return QTF_OK;
}

static void free_writer(qtf_gguf_writer *w) {
    for (uint64_t i = 0; i < w->n_decls; i++) free(w->decls[i].name);
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    free(w->keys);
    free(w->decls);
    free(w->kv.p);
    free(w->path);
    qtf__outfile_abort(&w->out);
    free(w);
}

qtf_status qtf_gguf_writer_create(qtf_gguf_writer **out, const char *path,
                                  const qtf_writer_options *opts) {
    if (!out || !path) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_writer_create: NULL");
    *out = NULL;
    if (opts && (opts->version < 1 || opts->version > QTF_WRITER_OPTIONS_VERSION ||
                 (opts->flags & ~(unsigned)QTF_WRITER_NO_REPLACE) ||
                 (opts->version >= 2 && opts->n_protected && !opts->protected_paths)))
        return qtf__error(QTF_E_INVALID_ARG, "%s: writer options (version %u, flags 0x%x) not "
                          "valid for the GGUF writer", path, opts->version, opts->flags);
    uint32_t alignment = opts && opts->alignment ? opts->alignment : QTF_GGUF_DEFAULT_ALIGNMENT;
    if (alignment < 8 || alignment > QTF_MAX_ALIGNMENT || (alignment & (alignment - 1)))
        return qtf__error(QTF_E_ALIGNMENT, "%s: GGUF alignment %u must be a power of two "
                          "8..%u", path, alignment, QTF_MAX_ALIGNMENT);
    qtf_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return qtf__error(QTF_E_NOMEM, "out of memory");
    qtf__outfile_init(&w->out);
    w->fd = -1;
    w->alignment = alignment;
    if (!(w->path = strdup(path))) {
        qtf_gguf_writer_abort(w);
        return qtf__error(QTF_E_NOMEM, "out of memory");
    }
    unsigned flags = opts && (opts->flags & QTF_WRITER_NO_REPLACE) ? 0 : QTF__OUT_REPLACE;
    qtf_status st = qtf__outfile_open(&w->out, path, flags,
                                      opts && opts->version >= 2 ? opts->protected_paths : NULL,
                                      opts && opts->version >= 2 ? opts->n_protected : 0);
    if (!st && alignment != QTF_GGUF_DEFAULT_ALIGNMENT) {
        w->fd = w->out.fd;
        st = qtf_gguf_writer_set_u32(w, "general.alignment", alignment);
    }
    if (st) {
        qtf_gguf_writer_abort(w);
        return st;
    }
    w->fd = w->out.fd;
    *out = w;
    return QTF_OK;
}

/* Checks a key or tensor name: 1..max bytes of UTF-8 (keys: GGUF's limit;
 * tensor names: ggml's GGML_MAX_NAME, beyond which llama.cpp refuses). */
static qtf_status check_name(const qtf_gguf_writer *w, const char *what, const char *s,
                             size_t max) {
    size_t len = strlen(s);
    if (len == 0 || len > max || !qtf__utf8_check((const unsigned char *)s, len, NULL))
        return qtf__error(len > max ? QTF_E_LIMIT : QTF_E_UTF8, "%s: %s '%.200s' must be "
                          "1..%zu bytes of UTF-8 (found %zu bytes)", w->path, what, s, max, len);
    return QTF_OK;
}

/* Common start of every setter: state, key validity, uniqueness; appends the
 * key and the type id to the serialized pairs. */
static qtf_status begin_kv(qtf_gguf_writer *w, const char *key, qtf_type type) {
    if (!w || !key) return qtf__error(QTF_E_INVALID_ARG, "GGUF writer: NULL argument");
    if (w->failed) return qtf__error(QTF_E_STATE, "%s: writer failed earlier", w->path);
    if (w->header_written)
        return qtf__error(QTF_E_STATE, "%s: key '%.200s' set after tensor data was written",
                          w->path, key);
    qtf_status st = check_name(w, "key", key, QTF_GGUF_MAX_KEY_LEN);
    if (st) return st;
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return qtf__error(QTF_E_DUPLICATE, "%s: key '%.200s' set twice", w->path, key);
    char **keys = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *keys);
    if (!keys) return qtf__error(QTF_E_NOMEM, "out of memory");
    w->keys = keys;
    if (!(w->keys[w->n_kv] = strdup(key)) || !buf_str(&w->kv, key, strlen(key)) ||
        !buf_u32(&w->kv, qtf_type_code(type))) {
        free(w->keys[w->n_kv]);
        return qtf__error(QTF_E_NOMEM, "out of memory");
    }
    w->n_kv++;
    return QTF_OK;
}

/* Undoes begin_kv after a failure while serializing the value. */
static qtf_status drop_kv(qtf_gguf_writer *w, size_t mark, qtf_status st) {
    w->kv.len = mark;
    free(w->keys[--w->n_kv]);
    return st;
}

static int fixed_type(qtf_type t) {
    return qtf_type_size(t) != 0;
}

/* Appends one fixed-size value from host representation as little-endian. */
static int put_fixed(byte_buf *b, qtf_type t, const void *v) {
    unsigned char tmp[8];
    size_t n = qtf_type_size(t);
    switch (n) {
    case 1: tmp[0] = *(const uint8_t *)v; break;
    case 2: qtf__st16(tmp, *(const uint16_t *)v); break;
    case 4: { uint32_t x; memcpy(&x, v, 4); qtf__st32(tmp, x); break; }
    case 8: { uint64_t x; memcpy(&x, v, 8); qtf__st64(tmp, x); break; }
    default: return 0;
    }
    return buf_put(b, tmp, n);
}

qtf_status qtf_gguf_writer_set_value(qtf_gguf_writer *w, const char *key, qtf_type type,
                                     const void *value) {
    if (!fixed_type(type) || !value)
        return qtf__error(QTF_E_INVALID_ARG, "GGUF key '%.200s': %s is not a fixed-size "
                          "value type", key ? key : "(null)", qtf_type_name(type));
    if (type == QTF_TYPE_BOOL && *(const uint8_t *)value > 1)
        return qtf__error(QTF_E_VALUE, "GGUF key '%.200s': bool must be 0 or 1", key);
    size_t mark = w ? w->kv.len : 0;
    qtf_status st = begin_kv(w, key, type);
    if (st) return st;
    if (!put_fixed(&w->kv, type, value))
        return drop_kv(w, mark, qtf__error(QTF_E_NOMEM, "out of memory"));
    return QTF_OK;
}

qtf_status qtf_gguf_writer_set_u32(qtf_gguf_writer *w, const char *key, uint32_t v) {
    return qtf_gguf_writer_set_value(w, key, QTF_TYPE_U32, &v);
}

qtf_status qtf_gguf_writer_set_f32(qtf_gguf_writer *w, const char *key, float v) {
    return qtf_gguf_writer_set_value(w, key, QTF_TYPE_F32, &v);
}

qtf_status qtf_gguf_writer_set_string(qtf_gguf_writer *w, const char *key, const char *s,
                                      uint64_t len) {
    if (!s && len) return qtf__error(QTF_E_INVALID_ARG, "GGUF writer: NULL string");
    if (s && !qtf__utf8_check((const unsigned char *)s, (size_t)len, NULL))
        return qtf__error(QTF_E_UTF8, "GGUF key '%.200s': value is not valid UTF-8",
                          key ? key : "(null)");
    size_t mark = w ? w->kv.len : 0;
    qtf_status st = begin_kv(w, key, QTF_TYPE_STRING);
    if (st) return st;
    if (!buf_str(&w->kv, s, len)) return drop_kv(w, mark, qtf__error(QTF_E_NOMEM, "out of memory"));
    return QTF_OK;
}

qtf_status qtf_gguf_writer_set_array(qtf_gguf_writer *w, const char *key, qtf_type elem_type,
                                     const void *data, uint64_t count) {
    if (!fixed_type(elem_type) || (!data && count))
        return qtf__error(QTF_E_INVALID_ARG, "GGUF key '%.200s': array of %s", key ? key : "?",
                          qtf_type_name(elem_type));
    size_t es = qtf_type_size(elem_type);
    if (elem_type == QTF_TYPE_BOOL)
        for (uint64_t i = 0; i < count; i++)
            if (((const uint8_t *)data)[i] > 1)
                return qtf__error(QTF_E_VALUE, "GGUF key '%.200s': element %llu: bool must "
                                  "be 0 or 1", key, (unsigned long long)i);
    size_t mark = w ? w->kv.len : 0;
    qtf_status st = begin_kv(w, key, QTF_TYPE_ARRAY);
    if (st) return st;
    uint64_t bytes;
    if (!qtf__mul_u64(&bytes, count, es) || bytes > SIZE_MAX || !buf_u32(&w->kv, qtf_type_code(elem_type)) ||
        !buf_u64(&w->kv, count) || !buf_reserve(&w->kv, (size_t)bytes))
        return drop_kv(w, mark, qtf__error(QTF_E_NOMEM, "out of memory"));
    const unsigned char *p = data;
    for (uint64_t i = 0; i < count; i++) put_fixed(&w->kv, elem_type, p + i * es);
    return QTF_OK;
}

qtf_status qtf_gguf_writer_set_string_array(qtf_gguf_writer *w, const char *key,
                                            const char *const *strs, const uint64_t *lens,
                                            uint64_t count) {
    if (count && (!strs || !lens))
        return qtf__error(QTF_E_INVALID_ARG, "GGUF writer: NULL string array");
    for (uint64_t i = 0; i < count; i++)
        if ((!strs[i] && lens[i]) ||
            (strs[i] && !qtf__utf8_check((const unsigned char *)strs[i], (size_t)lens[i], NULL)))
            return qtf__error(QTF_E_UTF8, "GGUF key '%.200s': element %llu is not valid UTF-8",
                              key ? key : "?", (unsigned long long)i);
    size_t mark = w ? w->kv.len : 0;
    qtf_status st = begin_kv(w, key, QTF_TYPE_ARRAY);
    if (st) return st;
    int ok = buf_u32(&w->kv, qtf_type_code(QTF_TYPE_STRING)) && buf_u64(&w->kv, count);
    for (uint64_t i = 0; i < count && ok; i++) ok = buf_str(&w->kv, strs[i], lens[i]);
    if (!ok) return drop_kv(w, mark, qtf__error(QTF_E_NOMEM, "out of memory"));
    return QTF_OK;
}

qtf_status qtf_gguf_writer_declare(qtf_gguf_writer *w, const char *name, uint32_t type,
                                   uint32_t n_dims, const uint64_t *ne) {
    if (!w || !name || !ne) return qtf__error(QTF_E_INVALID_ARG, "GGUF declare: NULL argument");
    if (w->failed) return qtf__error(QTF_E_STATE, "%s: writer failed earlier", w->path);
    if (w->header_written)
        return qtf__error(QTF_E_STATE, "%s: tensor '%.200s' declared after data was written",
                          w->path, name);
    qtf_status st = check_name(w, "tensor name", name, QTF_GGUF_MAX_NAME_LEN);
    if (st) return st;
    for (uint64_t i = 0; i < w->n_decls; i++)
        if (strcmp(w->decls[i].name, name) == 0)
            return qtf__error(QTF_E_DUPLICATE, "%s: tensor '%.200s' declared twice", w->path,
                              name);
    uint64_t nbytes, end;
    if ((st = qtf_ggml_nbytes(&nbytes, type, n_dims, ne))) {
        qtf__error_prefix("%s: tensor '%.200s': ", w->path, name);
        return st;
    }
    if (!qtf__add_u64(&end, w->data_size, nbytes) ||
        !qtf__align_up_u64(&end, end, w->alignment) || end > (uint64_t)INT64_MAX)
        return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%.200s': data offsets overflow", w->path,
                          name);
    if (w->n_decls == w->cap_decls) {
        uint64_t cap = w->cap_decls ? w->cap_decls * 2 : 64;
        gguf_decl *d = realloc(w->decls, (size_t)cap * sizeof *d);
        if (!d) return qtf__error(QTF_E_NOMEM, "out of memory");
        w->decls = d;
        w->cap_decls = cap;
    }
    gguf_decl *d = &w->decls[w->n_decls];
    memset(d, 0, sizeof *d);
    if (!(d->name = strdup(name))) return qtf__error(QTF_E_NOMEM, "out of memory");
    d->type = type;
    d->n_dims = n_dims;
    memcpy(d->ne, ne, n_dims * sizeof *ne);
    d->nbytes = nbytes;
    d->offset = w->data_size;
    w->data_size = end;
    w->n_decls++;
    return QTF_OK;
}

uint64_t qtf_gguf_writer_tensor_size(const qtf_gguf_writer *w, uint64_t i) {
    return w && i < w->n_decls ? w->decls[i].nbytes : 0;
}

static qtf_status write_header(qtf_gguf_writer *w) {
    byte_buf h = { 0 };
    int ok = buf_put(&h, "GGUF", 4) && buf_u32(&h, QTF_GGUF_VERSION) &&
             buf_u64(&h, w->n_decls) && buf_u64(&h, w->n_kv) && buf_put(&h, w->kv.p, w->kv.len);
    for (uint64_t i = 0; i < w->n_decls && ok; i++) {
        const gguf_decl *d = &w->decls[i];
        ok = buf_str(&h, d->name, strlen(d->name)) && buf_u32(&h, d->n_dims);
        for (uint32_t k = 0; k < d->n_dims && ok; k++) ok = buf_u64(&h, d->ne[k]);
        ok = ok && buf_u32(&h, d->type) && buf_u64(&h, d->offset);
    }
    uint64_t padded = 0;
    ok = ok && qtf__align_up_u64(&padded, h.len, w->alignment) &&
         buf_reserve(&h, (size_t)(padded - h.len));
    if (!ok) {
        free(h.p);
        w->failed = 1;
        return qtf__error(QTF_E_NOMEM, "%s: out of memory building the GGUF header", w->path);
    }
    memset(h.p + h.len, 0, (size_t)(padded - h.len));
    qtf_status st = write_all(w, h.p, padded);
    free(h.p);
    if (!st) w->header_written = 1;
    return st;
}

/* Finishes the current tensor once complete: zero padding to the next offset. */
static qtf_status close_tensor(qtf_gguf_writer *w) {
    const gguf_decl *d = &w->decls[w->cur];
    uint64_t next = w->cur + 1 < w->n_decls ? w->decls[w->cur + 1].offset : w->data_size;
    qtf_status st = write_zeros(w, next - d->offset - d->nbytes);
    if (st) return st;
    w->cur++;
    w->cur_written = 0;
    return QTF_OK;
}

qtf_status qtf_gguf_writer_write(qtf_gguf_writer *w, const void *data, uint64_t size) {
    if (!w || (!data && size)) return qtf__error(QTF_E_INVALID_ARG, "GGUF write: NULL");
    if (w->failed) return qtf__error(QTF_E_STATE, "%s: writer failed earlier", w->path);
    if (w->cur >= w->n_decls)
        return qtf__error(QTF_E_STATE, "%s: all %llu declared tensors are already written",
                          w->path, (unsigned long long)w->n_decls);
    const gguf_decl *d = &w->decls[w->cur];
    if (size > d->nbytes - w->cur_written)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%.200s': %llu more bytes given, "
                          "%llu remain of %llu", w->path, d->name, (unsigned long long)size,
                          (unsigned long long)(d->nbytes - w->cur_written),
                          (unsigned long long)d->nbytes);
    qtf_status st = QTF_OK;
    if (!w->header_written) st = write_header(w);
    if (!st) st = write_all(w, data, size);
    if (!st) {
        w->cur_written += size;
        if (w->cur_written == d->nbytes) st = close_tensor(w);
    }
    if (st) w->failed = 1;
    return st;
}

qtf_status qtf_gguf_writer_finish(qtf_gguf_writer *w) {
    if (!w) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_writer_finish: NULL");
    qtf_status st = QTF_OK;
    if (w->failed)
        st = qtf__error(QTF_E_STATE, "%s: writer failed earlier; nothing written", w->path);
    else if (!w->header_written)
        st = write_header(w);
    /* Zero-size tensors complete without a write call. */
    while (!st && w->cur < w->n_decls && w->decls[w->cur].nbytes == 0) st = close_tensor(w);
    if (!st && w->cur != w->n_decls)
        st = qtf__error(QTF_E_STATE, "%s: %llu of %llu declared tensors written", w->path,
                        (unsigned long long)w->cur, (unsigned long long)w->n_decls);
    if (!st) {
        st = qtf__outfile_commit(&w->out);
        w->fd = -1;
    }
    free_writer(w);
    return st;
}

void qtf_gguf_writer_abort(qtf_gguf_writer *w) {
    if (w) free_writer(w);
}
