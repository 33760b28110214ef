/* checkpoint/st_writer.c — streaming safetensors writer. The header is built
 * from the declarations before the first data byte, so data is written once,
 * in order, with memory bounded by what the caller passes to each write. The
 * file appears at its path only when finished (common/outfile.c: temp file,
 * fsync, link or rename, the rules on existing files and inputs). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/outfile.h"
#include "source_internal.h"

typedef struct st_decl {
    char *name;
    qtf_dtype dtype;
    uint32_t n_dims;
    uint64_t dims[QTF_MAX_DIMS];
    uint64_t nbytes;
} st_decl;

struct qtf_st_writer {
    char *path;
    qtf__outfile out;           /* where the bytes go */
    int fd;                     /* out.fd */
    json_t *meta;               /* __metadata__ */
    json_t *names;              /* set of declared names, for duplicates */
    st_decl *decls;
    uint64_t n_decls, cap_decls;
    uint64_t next;              /* next tensor to write */
    uint64_t data_bytes;        /* running total of declared bytes */
    int header_written;
    int failed;
};

static qtf_status write_all(qtf_st_writer *w, const void *buf, uint64_t len) {
    qtf_status st = qtf__write_all(w->fd, buf, len, w->path);
    if (st) w->failed = 1;
    return st;
}

qtf_status qtf_st_writer_create(qtf_st_writer **out, const char *path,
                                const qtf_writer_options *opts) {
    if (!out || !path) return qtf__error(QTF_E_INVALID_ARG, "qtf_st_writer_create: NULL");
    *out = NULL;
    /* the options of the .qtf writer, read the same way */
    if (opts && (opts->version < 1 || opts->version > QTF_WRITER_OPTIONS_VERSION))
        return qtf__error(QTF_E_INVALID_ARG, "%s: writer options version %u, expected 1..%d",
                          path, opts->version, QTF_WRITER_OPTIONS_VERSION);
    if (opts && (opts->alignment || (opts->flags & ~(unsigned)QTF_WRITER_NO_REPLACE)))
        return qtf__error(QTF_E_INVALID_ARG, "%s: alignment or flags 0x%x not supported by the "
                          "safetensors writer", path, opts->flags);
    const char *const *protect = opts && opts->version >= 2 ? opts->protected_paths : NULL;
    size_t n_protect = opts && opts->version >= 2 ? opts->n_protected : 0;
    if (n_protect && !protect)
        return qtf__error(QTF_E_INVALID_ARG, "%s: n_protected is %zu but protected_paths is NULL",
                          path, n_protect);
    unsigned flags = opts && (opts->flags & QTF_WRITER_NO_REPLACE) ? 0 : QTF__OUT_REPLACE;
    qtf_st_writer *w = calloc(1, sizeof *w);
    if (!w) return qtf__error(QTF_E_NOMEM, "out of memory");
    qtf__outfile_init(&w->out);
    w->fd = -1;
    w->path = strdup(path);
    w->meta = json_object();
    w->names = json_object();
    if (!w->path || !w->meta || !w->names) {
        qtf_st_writer_abort(w);
        return qtf__error(QTF_E_NOMEM, "out of memory");
    }
    qtf_status st = qtf__outfile_open(&w->out, path, flags, protect, n_protect);
    if (st) {
        qtf_st_writer_abort(w);
        return st;
    }
    w->fd = w->out.fd;
    *out = w;
    return QTF_OK;
}

qtf_status qtf_st_writer_declare(qtf_st_writer *w, const char *name, qtf_dtype dtype,
                                 uint32_t n_dims, const uint64_t *dims) {
    if (!w || !name || (n_dims && !dims))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_st_writer_declare: NULL argument");
    char esc[QTF__ESC_CAP];
    const char *en = qtf__escape(esc, sizeof esc, name, strlen(name));
    if (w->header_written)
        return qtf__error(QTF_E_STATE, "%s: tensor '%s' declared after data was written",
                          w->path, en);
    size_t len = strlen(name);
    if (len == 0 || len > QTF_MAX_NAME_LEN || !qtf__utf8_check((const unsigned char *)name, len,
                                                               NULL))
        return qtf__error(QTF_E_UTF8, "%s: tensor name '%s' must be 1..%u bytes of UTF-8",
                          w->path, en, QTF_MAX_NAME_LEN);
    if (strcmp(name, "__metadata__") == 0)
        return qtf__error(QTF_E_VALUE, "%s: '__metadata__' is reserved, not a tensor name",
                          w->path);
    if (json_object_get(w->names, name))
        return qtf__error(QTF_E_DUPLICATE, "%s: tensor '%s' declared twice", w->path, en);
    const char *dn = qtf_dtype_name(dtype);
    if (qtf__st_dtype_from_name(dn) == QTF_DTYPE_NONE)
        return qtf__error(QTF_E_TYPE, "%s: tensor '%s': dtype %s has no safetensors name",
                          w->path, en, dn);
    if (n_dims > QTF_MAX_DIMS)
        return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': %u dimensions (limit %d)", w->path, en,
                          n_dims, QTF_MAX_DIMS);
    uint64_t nbytes = qtf_dtype_size(dtype), end;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (dims[d] > (uint64_t)INT64_MAX || !qtf__mul_u64(&nbytes, nbytes, dims[d]))
            return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s': byte size overflows", w->path, en);
    }
    if (!qtf__add_u64(&end, w->data_bytes, nbytes) || end > (uint64_t)INT64_MAX)
        return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s': data offsets overflow", w->path, en);
    if (w->n_decls == w->cap_decls) {
        uint64_t cap = w->cap_decls ? w->cap_decls * 2 : 64;
        st_decl *d = realloc(w->decls, cap * sizeof *d);
        if (!d) return qtf__error(QTF_E_NOMEM, "out of memory");
        w->decls = d;
        w->cap_decls = cap;
    }
    st_decl *dcl = &w->decls[w->n_decls];
    memset(dcl, 0, sizeof *dcl);
    dcl->name = strdup(name);
    if (!dcl->name || json_object_set_new(w->names, name, json_true()) != 0) {
        free(dcl->name);
        return qtf__error(QTF_E_NOMEM, "out of memory");
    }
    dcl->dtype = dtype;
    dcl->n_dims = n_dims;
    for (uint32_t d = 0; d < n_dims; d++) dcl->dims[d] = dims[d];
    dcl->nbytes = nbytes;
    w->data_bytes = end;
    w->n_decls++;
    return QTF_OK;
}

qtf_status qtf_st_writer_metadata(qtf_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_st_writer_metadata: NULL argument");
    if (w->header_written)
        return qtf__error(QTF_E_STATE, "%s: metadata added after data was written", w->path);
    if (json_object_get(w->meta, key)) {
        char esc[QTF__ESC_CAP];
        return qtf__error(QTF_E_DUPLICATE, "%s: __metadata__ key '%s' set twice", w->path,
                          qtf__escape(esc, sizeof esc, key, strlen(key)));
    }
    json_t *v = json_string(value);
    if (!v || json_object_set_new(w->meta, key, v) != 0)
        return qtf__error(QTF_E_UTF8, "%s: __metadata__ key or value is not valid UTF-8",
                          w->path);
    return QTF_OK;
}

static qtf_status write_header(qtf_st_writer *w) {
    json_t *root = json_object();
    qtf_status st = QTF_OK;
    if (!root) return qtf__error(QTF_E_NOMEM, "out of memory");
    if (json_object_size(w->meta) > 0 && json_object_set(root, "__metadata__", w->meta) != 0)
        st = qtf__error(QTF_E_NOMEM, "out of memory");
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_decls && !st; i++) {
        const st_decl *d = &w->decls[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        int bad = !e || !shape || !offs;
        for (uint32_t k = 0; k < d->n_dims && !bad; k++)
            bad = json_array_append_new(shape, json_integer((json_int_t)d->dims[k])) != 0;
        bad = bad || json_array_append_new(offs, json_integer((json_int_t)off)) != 0 ||
              json_array_append_new(offs, json_integer((json_int_t)(off + d->nbytes))) != 0 ||
              json_object_set_new(e, "dtype", json_string(qtf_dtype_name(d->dtype))) != 0 ||
              json_object_set(e, "shape", shape) != 0 ||
              json_object_set(e, "data_offsets", offs) != 0 ||
              json_object_set(root, d->name, e) != 0;
        json_decref(e);
        json_decref(shape);
        json_decref(offs);
        if (bad) st = qtf__error(QTF_E_NOMEM, "out of memory building the header");
        off += d->nbytes;
    }
    char *text = NULL;
    if (!st) {
        text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        if (!text) st = qtf__error(QTF_E_NOMEM, "out of memory serializing the header");
    }
    json_decref(root);
    if (st) return st;
    uint64_t len = strlen(text), padded;
    (void)qtf__align_up_u64(&padded, len, 8);
    if (padded > QTF__ST_MAX_HEADER) {
        free(text);
        return qtf__error(QTF_E_LIMIT, "%s: header would be %llu bytes (limit %u)", w->path,
                          (unsigned long long)padded, QTF__ST_MAX_HEADER);
    }
    unsigned char *buf = malloc((size_t)padded + 8);
    if (!buf) {
        free(text);
        return qtf__error(QTF_E_NOMEM, "out of memory");
    }
    qtf__st64(buf, padded);
    memcpy(buf + 8, text, (size_t)len);
    memset(buf + 8 + len, ' ', (size_t)(padded - len));
    free(text);
    st = write_all(w, buf, padded + 8);
    free(buf);
    if (!st) w->header_written = 1;
    return st;
}

qtf_status qtf_st_writer_write(qtf_st_writer *w, const void *data, uint64_t size) {
    if (!w || (!data && size)) return qtf__error(QTF_E_INVALID_ARG, "qtf_st_writer_write: NULL");
    if (w->failed) return qtf__error(QTF_E_STATE, "%s: writer failed earlier", w->path);
    if (w->next >= w->n_decls)
        return qtf__error(QTF_E_STATE, "%s: all %llu declared tensors are already written",
                          w->path, (unsigned long long)w->n_decls);
    const st_decl *d = &w->decls[w->next];
    if (size != d->nbytes)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s': %llu bytes given, expected %llu",
                          w->path, d->name, (unsigned long long)size,
                          (unsigned long long)d->nbytes);
    qtf_status st = QTF_OK;
    if (!w->header_written) st = write_header(w);
    if (!st) st = write_all(w, data, size);
    if (st) {
        w->failed = 1;
        return st;
    }
    w->next++;
    return QTF_OK;
}

static void free_writer(qtf_st_writer *w) {
    for (uint64_t i = 0; i < w->n_decls; i++) free(w->decls[i].name);
    free(w->decls);
    json_decref(w->meta);
    json_decref(w->names);
    free(w->path);
    qtf__outfile_abort(&w->out);
    free(w);
}

qtf_status qtf_st_writer_finish(qtf_st_writer *w) {
    if (!w) return qtf__error(QTF_E_INVALID_ARG, "qtf_st_writer_finish: NULL");
    qtf_status st = QTF_OK;
    if (w->failed)
        st = qtf__error(QTF_E_STATE, "%s: writer failed earlier; nothing written", w->path);
    else if (w->next != w->n_decls)
        st = qtf__error(QTF_E_STATE, "%s: %llu of %llu declared tensors written", w->path,
                        (unsigned long long)w->next, (unsigned long long)w->n_decls);
    if (!st && !w->header_written) st = write_header(w); /* a file with no tensors */
    if (!st) {
        st = qtf__outfile_commit(&w->out);
        w->fd = -1;
    }
    free_writer(w);
    return st;
}

void qtf_st_writer_abort(qtf_st_writer *w) {
    if (w) free_writer(w);
}
