/* lib/writer.c — streaming writer. Tensor parts go to disk as they arrive
 * (memory: one tensor's parts plus the metadata and directory); metadata,
 * directory and the real header are written at finish, then the file is
 * fsynced and given the destination name by common/outfile.c (temp file in
 * the destination directory, the rules on existing files and inputs). An
 * edit writer made with QTF_WRITER_IN_PLACE has no output file: it collects
 * the metadata in memory and its finish hands it to lib/edit.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#define ZSTD_STATIC_LINKING_ONLY /* custom allocator, ZSTD_getCParams: exported by libzstd */
#include <zstd.h>
#include <zstd_errors.h>

#include "common/outfile.h"
#include "container.h"
#include "edit.h"

typedef struct byte_buf {
    unsigned char *p;
    size_t len, cap;
} byte_buf;

typedef struct name_ref {
    size_t off;                 /* into the metadata or directory buffer */
    uint32_t len;
} name_ref;

struct qtf_writer {
    char *path;                 /* destination */
    qtf__outfile out;           /* the temp file (or device) being written */
    int fd;                     /* out.fd */
    uint32_t alignment;
    uint64_t data_offset;
    uint64_t data_end;          /* end of the last part, relative to the data */
    byte_buf meta, dir;
    uint64_t n_meta, n_tensors;
    name_ref *keys, *names;
    size_t keys_cap, names_cap;
    qtf__name_index key_ix, name_ix;
    ZSTD_CCtx *cctx;
    unsigned char *zbuf;
    size_t zcap;
    XXH3_state_t *hash;         /* checksum of the part being written */
    uint64_t pos;               /* file offset of the next write */
    uint64_t writeback_from;    /* writeback started for [0, writeback_from) */
    int no_writeback;           /* sync_file_range unsupported here */
    qtf_status failed;          /* nonzero once the file state is unknown */
    uint16_t minor;             /* lowest minor version the tensors need */
    int in_place;               /* QTF_WRITER_IN_PLACE: no output file (fd -1) */
    qtf__edit_target edit;      /* in_place: the file edited */
};

/* Parts are hashed and written in pieces of this size, so that each piece
 * is hashed while the kernel's copy of it into the page cache still finds
 * it in cache, instead of a second full pass over a tensor from memory. */
#define HASH_WRITE_PIECE ((size_t)1 << 20)

/* Writeback is started every WRITEBACK_WINDOW bytes written (see
 * start_writeback). */
#define WRITEBACK_WINDOW ((uint64_t)64 << 20)

static const unsigned char zeros[4096];

/* ------------------------------------------------------------------------- */
/* buffers and low-level I/O                                                  */

static qtf_status buf_reserve(byte_buf *b, uint64_t more, const char *file) {
    if (more <= b->cap - b->len) return QTF_OK;
    uint64_t need;
    if (!qtf__add_u64(&need, b->len, more) || need > SIZE_MAX / 2)
        return qtf__error(QTF_E_LIMIT, "%s: section would exceed %zu bytes", file,
                          (size_t)(SIZE_MAX / 2));
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    unsigned char *p = qtf__realloc(b->p, cap);
    if (!p) return qtf__error(QTF_E_NOMEM, "%s: cannot grow a section buffer to %zu bytes",
                              file, cap);
    b->p = p;
    b->cap = cap;
    return QTF_OK;
}

static void put(byte_buf *b, const void *p, size_t n) {
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void put32(byte_buf *b, uint32_t v) { qtf__st32(b->p + b->len, v); b->len += 4; }
static void put64(byte_buf *b, uint64_t v) { qtf__st64(b->p + b->len, v); b->len += 8; }

/* Asks the kernel to start writing back each full window of the file as
 * soon as it is written, so the disk works while the caller computes the
 * next tensor and the fsync at finish finds little left to do (on a 1 GB
 * output that fsync otherwise costs about as long as writing the file).
 * Before starting a window it waits until the previous one is on disk,
 * which bounds this writer's dirty pages to about two windows whatever the
 * file size. Only a hint: fsync at finish stays the durability point and
 * reports any I/O error, so failures here are ignored. */
static void start_writeback(qtf_writer *w) {
    if (w->no_writeback || w->pos < w->writeback_from + WRITEBACK_WINDOW) return;
    uint64_t from = w->writeback_from, len = w->pos - from;
    if (from >= WRITEBACK_WINDOW)
        (void)sync_file_range(w->fd, (off64_t)(from - WRITEBACK_WINDOW),
                              (off64_t)WRITEBACK_WINDOW, SYNC_FILE_RANGE_WAIT_BEFORE);
    if (sync_file_range(w->fd, (off64_t)from, (off64_t)len, SYNC_FILE_RANGE_WRITE) != 0 &&
        (errno == ENOSYS || errno == ESPIPE || errno == EINVAL)) {
        w->no_writeback = 1;
        return;
    }
    w->writeback_from = w->pos;
}

static qtf_status write_all(qtf_writer *w, const void *p, uint64_t n) {
    const unsigned char *s = p;
    while (n) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
        ssize_t r = write(w->fd, s, chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return qtf__error(QTF_E_IO, "%s: write of %zu bytes failed: %s", w->path, chunk,
                              r < 0 ? strerror(errno) : "no progress");
        s += r;
        n -= (uint64_t)r;
        w->pos += (uint64_t)r;
    }
    start_writeback(w);
    return QTF_OK;
}

/* Writes n bytes and returns their XXH3-64 in *hash, hashing each piece
 * right before writing it (same value as one XXH3_64bits over all). */
static qtf_status write_hashed(qtf_writer *w, const void *p, uint64_t n, uint64_t *hash) {
    const unsigned char *s = p;
    if (XXH3_64bits_reset(w->hash) != XXH_OK)
        return qtf__error(QTF_E_INVALID_ARG, "%s: cannot reset the hash state", w->path);
    while (n) {
        size_t piece = n > HASH_WRITE_PIECE ? HASH_WRITE_PIECE : (size_t)n;
        (void)XXH3_64bits_update(w->hash, s, piece);
        qtf_status st = write_all(w, s, piece);
        if (st) return st;
        s += piece;
        n -= piece;
    }
    *hash = XXH3_64bits_digest(w->hash);
    return QTF_OK;
}

static qtf_status write_zeros(qtf_writer *w, uint64_t n) {
    while (n) {
        uint64_t chunk = n < sizeof zeros ? n : sizeof zeros;
        qtf_status st = write_all(w, zeros, chunk);
        if (st) return st;
        n -= chunk;
    }
    return QTF_OK;
}

static void *zstd_alloc(void *opaque, size_t n) { (void)opaque; return qtf__malloc(n); }
static void zstd_free(void *opaque, void *p) { (void)opaque; free(p); }

/* ------------------------------------------------------------------------- */
/* create / abort                                                             */

static void writer_free(qtf_writer *w) {
    qtf__outfile_abort(&w->out);
    free(w->path);
    free(w->meta.p);
    free(w->dir.p);
    free(w->keys);
    free(w->names);
    qtf__name_index_free(&w->key_ix);
    qtf__name_index_free(&w->name_ix);
    ZSTD_freeCCtx(w->cctx);
    free(w->zbuf);
    XXH3_freeState(w->hash);
    free(w->edit.path);
    free(w);
}

void qtf_writer_abort(qtf_writer *w) {
    if (w) writer_free(w);
}

/* *o = the caller's options, reading only the fields its version has (an
 * older caller's struct is smaller): the others keep their defaults. */
static qtf_status read_options(qtf_writer_options *o, const qtf_writer_options *opts,
                               const char *path) {
    *o = (qtf_writer_options)QTF_WRITER_OPTIONS_INIT;
    if (!opts) return QTF_OK;
    if (opts->version < 1 || opts->version > QTF_WRITER_OPTIONS_VERSION)
        return qtf__error(QTF_E_INVALID_ARG, "%s: writer options version %u, expected 1..%d",
                          path, opts->version, QTF_WRITER_OPTIONS_VERSION);
    o->alignment = opts->alignment;
    o->flags = opts->flags;
    if (opts->version >= 2) {
        o->protected_paths = opts->protected_paths;
        o->n_protected = opts->n_protected;
    }
    if (opts->version >= 3) {
        o->on_step = opts->on_step;
        o->step_ctx = opts->step_ctx;
    }
    if (o->flags & ~(unsigned)(QTF_WRITER_NO_REPLACE | QTF_WRITER_IN_PLACE))
        return qtf__error(QTF_E_INVALID_ARG, "%s: unknown writer flags 0x%x", path, o->flags);
    if (o->n_protected && !o->protected_paths)
        return qtf__error(QTF_E_INVALID_ARG, "%s: n_protected is %zu but protected_paths is "
                          "NULL", path, o->n_protected);
    return QTF_OK;
}

/* A writer with no output yet: buffers, hash state, alignment. */
static qtf_status writer_new(qtf_writer **out, const char *path, uint32_t alignment) {
    uint32_t a = alignment ? alignment : QTF_DEFAULT_ALIGNMENT;
    if (a < QTF_MIN_ALIGNMENT || a > QTF_MAX_ALIGNMENT || (a & (a - 1)))
        return qtf__error(QTF_E_ALIGNMENT, "%s: alignment %" PRIu32 " is not a power of two in "
                          "%u..%u", path, a, QTF_MIN_ALIGNMENT, QTF_MAX_ALIGNMENT);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return qtf__error(QTF_E_INVALID_ARG, "%s: destination has no file name", path);
    qtf_writer *w = qtf__calloc(1, sizeof *w);
    if (!w) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate the writer", path);
    qtf__outfile_init(&w->out);
    w->fd = -1;
    w->alignment = a;
    w->data_offset = (QTF__HEADER_SIZE + (uint64_t)a - 1) & ~((uint64_t)a - 1);
    qtf__name_index_init(&w->key_ix);
    qtf__name_index_init(&w->name_ix);
    qtf_status st = QTF_OK;
    w->path = qtf__strndup(path, strlen(path));
    if (!w->path) st = qtf__error(QTF_E_NOMEM, "%s: cannot copy the path", path);
    if (!st) {
        w->hash = XXH3_createState();
        if (!w->hash) st = qtf__error(QTF_E_NOMEM, "%s: cannot allocate a hash state", path);
    }
    if (st) {
        writer_free(w);
        return st;
    }
    *out = w;
    return QTF_OK;
}

qtf_status qtf_writer_create(qtf_writer **out, const char *path, const qtf_writer_options *opts) {
    if (!out || !path) return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_create: NULL argument");
    *out = NULL;
    /* every older version is accepted: fields it lacks keep their defaults */
    qtf_writer_options o;
    qtf_status st = read_options(&o, opts, path);
    if (st) return st;
    if (o.flags & QTF_WRITER_IN_PLACE)
        return qtf__error(QTF_E_INVALID_ARG, "%s: QTF_WRITER_IN_PLACE is for "
                          "qtf_writer_create_edit only", path);
    unsigned out_flags = QTF__OUT_SEEKS;
    if (!(o.flags & QTF_WRITER_NO_REPLACE)) out_flags |= QTF__OUT_REPLACE;
    qtf_writer *w = NULL;
    if ((st = writer_new(&w, path, o.alignment))) return st;
    st = qtf__outfile_open(&w->out, path, out_flags, o.protected_paths, o.n_protected);
    w->fd = w->out.fd;
    /* placeholder header: zero, rewritten with the real one at finish */
    if (!st) st = write_zeros(w, w->data_offset);
    if (st) {
        writer_free(w);
        return st;
    }
    *out = w;
    qtf__error_clear();
    return QTF_OK;
}

/* ------------------------------------------------------------------------- */
/* metadata                                                                   */

static void key_of(const void *ctx, uint32_t item, const char **s, size_t *len) {
    const qtf_writer *w = ctx;
    *s = (const char *)w->meta.p + w->keys[item].off;
    *len = w->keys[item].len;
}

static void name_of(const void *ctx, uint32_t item, const char **s, size_t *len) {
    const qtf_writer *w = ctx;
    *s = (const char *)w->dir.p + w->names[item].off;
    *len = w->names[item].len;
}

static qtf_status grow_refs(name_ref **refs, size_t *cap, uint64_t need, const char *file) {
    if (need <= *cap) return QTF_OK;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) n *= 2;
    name_ref *p = qtf__realloc(*refs, n * sizeof *p);
    if (!p) return qtf__error(QTF_E_NOMEM, "%s: cannot grow the name list", file);
    *refs = p;
    *cap = n;
    return QTF_OK;
}

/* Validates the key, reserves room for a record whose value takes
 * `value_size` bytes, and writes the key and type. The caller then writes
 * exactly value_size bytes. */
static qtf_status begin_entry(qtf_writer *w, const char *key, qtf_type type, qtf_type elem,
                              uint64_t value_size) {
    if (!w || !key) return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_set_*: NULL argument");
    if (w->failed)
        return qtf__error(QTF_E_STATE, "%s: the writer failed earlier and can only be aborted",
                          w->path);
    size_t key_len = strlen(key);
    qtf_status st = qtf__check_name(w->path, "metadata key", key, key_len, QTF_MAX_KEY_LEN,
                                    QTF__NO_OFFSET);
    if (st) return st;
    st = qtf__meta_check_reserved(w->path, key, key_len, type, elem);
    if (st) return st;
    uint32_t dup;
    if (qtf__name_index_find(&w->key_ix, key, key_len, key_of, w, &dup))
        return qtf__error(QTF_E_DUPLICATE, "%s: metadata key '%s' is already set", w->path, key);
    if (w->n_meta >= QTF_MAX_METADATA_COUNT)
        return qtf__error(QTF_E_LIMIT, "%s: key '%s': more than %u metadata entries", w->path, key,
                          QTF_MAX_METADATA_COUNT);
    uint64_t rec = 4 + key_len + 4 + value_size, total; /* value_size <= 2^33 + small */
    if (!qtf__add_u64(&total, w->meta.len, rec) || total > QTF_MAX_METADATA_SIZE)
        return qtf__error(QTF_E_LIMIT, "%s: key '%s': the metadata section would exceed %llu bytes",
                          w->path, key, (unsigned long long)QTF_MAX_METADATA_SIZE);
    if ((st = buf_reserve(&w->meta, rec, w->path))) return st;
    if ((st = grow_refs(&w->keys, &w->keys_cap, w->n_meta + 1, w->path))) return st;
    if ((st = qtf__name_index_reserve(&w->key_ix, w->n_meta + 1, key_of, w))) return st;
    put32(&w->meta, (uint32_t)key_len);
    w->keys[w->n_meta] = (name_ref){ w->meta.len, (uint32_t)key_len };
    put(&w->meta, key, key_len);
    put32(&w->meta, qtf_type_code(type));
    qtf__name_index_add(&w->key_ix, key, key_len, (uint32_t)w->n_meta, key_of, w, &dup);
    w->n_meta++;
    return QTF_OK;
}

static qtf_status set_fixed(qtf_writer *w, const char *key, qtf_type type, const void *le) {
    size_t n = qtf__type_fixed_size(type);
    qtf_status st = begin_entry(w, key, type, 0, n);
    if (st) return st;
    put(&w->meta, le, n);
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_writer_set_u32(qtf_writer *w, const char *key, uint32_t v) {
    unsigned char b[4];
    qtf__st32(b, v);
    return set_fixed(w, key, QTF_TYPE_U32, b);
}
qtf_status qtf_writer_set_u64(qtf_writer *w, const char *key, uint64_t v) {
    unsigned char b[8];
    qtf__st64(b, v);
    return set_fixed(w, key, QTF_TYPE_U64, b);
}
qtf_status qtf_writer_set_i64(qtf_writer *w, const char *key, int64_t v) {
    unsigned char b[8];
    qtf__st64(b, (uint64_t)v);
    return set_fixed(w, key, QTF_TYPE_I64, b);
}
qtf_status qtf_writer_set_f64(qtf_writer *w, const char *key, double v) {
    unsigned char b[8];
    uint64_t bits;
    memcpy(&bits, &v, 8);
    qtf__st64(b, bits);
    return set_fixed(w, key, QTF_TYPE_F64, b);
}
qtf_status qtf_writer_set_bool(qtf_writer *w, const char *key, int v) {
    unsigned char b = v != 0;
    return set_fixed(w, key, QTF_TYPE_BOOL, &b);
}

static qtf_status check_string(const qtf_writer *w, const char *key, const char *s,
                               uint64_t len) {
    if (!s && len) return qtf__error(QTF_E_INVALID_ARG, "%s: key '%s': NULL string", w->path, key);
    if (len > QTF_MAX_STRING_LEN)
        return qtf__error(QTF_E_LIMIT, "%s: key '%s': string of %" PRIu64 " bytes exceeds the "
                          "limit %u", w->path, key, len, QTF_MAX_STRING_LEN);
    size_t bad;
    if (len && !qtf__utf8_check((const unsigned char *)s, (size_t)len, &bad))
        return qtf__error(QTF_E_UTF8, "%s: key '%s': string has %s at byte %zu", w->path, key,
                          s[bad] ? "invalid UTF-8" : "an embedded NUL", bad);
    return QTF_OK;
}

qtf_status qtf_writer_set_string(qtf_writer *w, const char *key, const char *s, uint64_t len) {
    if (!w || !key) return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_set_string: NULL argument");
    qtf_status st = check_string(w, key, s, len);
    if (st) return st;
    if ((st = begin_entry(w, key, QTF_TYPE_STRING, 0, 8 + len))) return st;
    put64(&w->meta, len);
    put(&w->meta, s, (size_t)len);
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_writer_set_blob(qtf_writer *w, const char *key, const char *media_type,
                               const void *data, uint64_t len) {
    if (!w || !key || !media_type || (!data && len))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_set_blob: NULL argument");
    size_t mlen = strlen(media_type);
    qtf_status st = qtf__check_media_type(w->path, key, media_type, mlen, QTF__NO_OFFSET);
    if (st) return st;
    if (len > QTF_MAX_METADATA_SIZE)
        return qtf__error(QTF_E_LIMIT, "%s: key '%s': blob of %" PRIu64 " bytes exceeds the "
                          "metadata limit", w->path, key, len);
    if ((st = begin_entry(w, key, QTF_TYPE_BLOB, 0, 4 + mlen + 8 + len))) return st;
    put32(&w->meta, (uint32_t)mlen);
    put(&w->meta, media_type, mlen);
    put64(&w->meta, len);
    put(&w->meta, data, (size_t)len);
    qtf__error_clear();
    return QTF_OK;
}

static qtf_status check_bools(const qtf_writer *w, const char *key, const unsigned char *p,
                              uint64_t n) {
    for (uint64_t j = 0; j < n; j++)
        if (p[j] > 1)
            return qtf__error(QTF_E_VALUE, "%s: key '%s': bool element %" PRIu64 " is %u, "
                              "expected 0 or 1", w->path, key, j, p[j]);
    return QTF_OK;
}

qtf_status qtf_writer_set_value(qtf_writer *w, const char *key, qtf_type type,
                                qtf_type elem_type, const void *data, uint64_t count) {
    if (!w || !key) return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_set_value: NULL argument");
    if (qtf_type_code(type) == UINT32_MAX)
        return qtf__error(QTF_E_TYPE, "%s: key '%s': type %u is not a metadata value type%s",
                          w->path, key, (unsigned)type,
                          (unsigned)type < QTF_DTYPE_COUNT_ ? " (an element type, QTF_DTYPE_*? "
                          "metadata types are QTF_TYPE_*)" : "");
    qtf_status st;
    if (type != QTF_TYPE_ARRAY) {
        /* scalars: `data` holds one element, elem_type and count are unused */
        if (!qtf__type_fixed_size(type))
            return qtf__error(QTF_E_INVALID_ARG, "%s: key '%s': use the string/blob setters for "
                              "%s values", w->path, key, qtf_type_name(type));
        if (!data) return qtf__error(QTF_E_INVALID_ARG, "%s: key '%s': NULL value", w->path, key);
        if (type == QTF_TYPE_BOOL && (st = check_bools(w, key, data, 1))) return st;
        return set_fixed(w, key, type, data);
    }
    if (qtf_type_code(elem_type) == UINT32_MAX || elem_type == QTF_TYPE_ARRAY ||
        elem_type == QTF_TYPE_BLOB)
        return qtf__error(QTF_E_TYPE, "%s: key '%s': array element type %u is not a scalar or "
                          "string type", w->path, key, (unsigned)elem_type);
    if (elem_type == QTF_TYPE_STRING)
        return qtf__error(QTF_E_INVALID_ARG, "%s: key '%s': use qtf_writer_set_string_array",
                          w->path, key);
    if (count > QTF_MAX_ARRAY_LEN)
        return qtf__error(QTF_E_LIMIT, "%s: key '%s': array of %" PRIu64 " elements exceeds the "
                          "limit %llu", w->path, key, count, (unsigned long long)QTF_MAX_ARRAY_LEN);
    if (!data && count)
        return qtf__error(QTF_E_INVALID_ARG, "%s: key '%s': NULL array data", w->path, key);
    uint64_t bytes = count * qtf__type_fixed_size(elem_type);
    if (elem_type == QTF_TYPE_BOOL && (st = check_bools(w, key, data, count))) return st;
    if ((st = begin_entry(w, key, QTF_TYPE_ARRAY, elem_type, 12 + bytes))) return st;
    put32(&w->meta, qtf_type_code(elem_type));
    put64(&w->meta, count);
    put(&w->meta, data, (size_t)bytes);
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_writer_set_string_array(qtf_writer *w, const char *key, const char *const *strs,
                                       const uint64_t *lens, uint64_t count) {
    if (!w || !key || (!strs && count))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_set_string_array: NULL argument");
    if (count > QTF_MAX_ARRAY_LEN)
        return qtf__error(QTF_E_LIMIT, "%s: key '%s': array of %" PRIu64 " strings exceeds the "
                          "limit %llu", w->path, key, count, (unsigned long long)QTF_MAX_ARRAY_LEN);
    uint64_t bytes = 12;
    for (uint64_t j = 0; j < count; j++) {
        uint64_t len = lens ? lens[j] : (strs[j] ? strlen(strs[j]) : 0);
        qtf_status st = check_string(w, key, strs[j], len);
        if (st) {
            qtf__error_prefix("element %" PRIu64 ": ", j);
            return st;
        }
        if (!qtf__add_u64(&bytes, bytes, 8 + len) || bytes > QTF_MAX_METADATA_SIZE)
            return qtf__error(QTF_E_LIMIT, "%s: key '%s': the array exceeds the metadata limit",
                              w->path, key);
    }
    qtf_status st = begin_entry(w, key, QTF_TYPE_ARRAY, QTF_TYPE_STRING, bytes);
    if (st) return st;
    put32(&w->meta, qtf_type_code(QTF_TYPE_STRING));
    put64(&w->meta, count);
    for (uint64_t j = 0; j < count; j++) {
        uint64_t len = lens ? lens[j] : (strs[j] ? strlen(strs[j]) : 0);
        put64(&w->meta, len);
        put(&w->meta, strs[j], (size_t)len);
    }
    qtf__error_clear();
    return QTF_OK;
}

/* ------------------------------------------------------------------------- */
/* tensors                                                                    */

/* The layout of a descriptor (version 1 has none: row-major). */
static uint32_t layout_of(const qtf_tensor_desc *d) {
    return d->version >= 2 ? d->layout : QTF_LAYOUT_ROW_MAJOR;
}

/* The shape the parts encode (spec/FORMAT.md section 6.4): dims, or for a
 * transposed tensor its transpose. */
static qtf_status stored_shape(uint64_t *out, const qtf_writer *w, const qtf_tensor_desc *d) {
    uint32_t layout = layout_of(d);
    if (layout != QTF_LAYOUT_ROW_MAJOR && layout != QTF_LAYOUT_TRANSPOSED)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s': layout %" PRIu32 ", expected %u "
                          "(row-major) or %u (transposed)", w->path, d->name, layout,
                          QTF_LAYOUT_ROW_MAJOR, QTF_LAYOUT_TRANSPOSED);
    if (layout == QTF_LAYOUT_TRANSPOSED && d->n_dims != 2)
        return qtf__error(QTF_E_SHAPE, "%s: tensor '%s': a transposed layout needs 2 dims, the "
                          "tensor has %" PRIu32, w->path, d->name, d->n_dims);
    for (uint32_t k = 0; k < d->n_dims; k++) out[k] = d->dims[k];
    if (layout == QTF_LAYOUT_TRANSPOSED) {
        out[0] = d->dims[1];
        out[1] = d->dims[0];
    }
    return QTF_OK;
}

static qtf_status check_desc(const qtf_writer *w, const qtf_tensor_desc *d,
                             const qtf_part_view *parts, uint32_t n_parts,
                             qtf_part_layout *lay) {
    if (d->version < 1 || d->version > QTF_TENSOR_DESC_VERSION)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor desc version %u, expected 1..%d",
                          w->path, d->version, QTF_TENSOR_DESC_VERSION);
    if (!d->name || !d->encoding || (d->n_dims && !d->dims) || (n_parts && !parts))
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor desc has a NULL field", w->path);
    size_t name_len = strlen(d->name);
    qtf_status st = qtf__check_name(w->path, "tensor name", d->name, name_len, QTF_MAX_NAME_LEN,
                                    QTF__NO_OFFSET);
    if (st) return st;
    const char *nm = d->name;
    uint32_t dup;
    if (qtf__name_index_find(&w->name_ix, nm, name_len, name_of, w, &dup))
        return qtf__error(QTF_E_DUPLICATE, "%s: tensor '%s' was already added", w->path, nm);
    if (w->n_tensors >= QTF_MAX_TENSORS)
        return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': more than %u tensors", w->path, nm,
                          QTF_MAX_TENSORS);
    if (d->n_dims > QTF_MAX_DIMS)
        return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': %" PRIu32 " dims exceed the limit %d",
                          w->path, nm, d->n_dims, QTF_MAX_DIMS);
    uint64_t elements = 1;
    for (uint32_t k = 0; k < d->n_dims; k++)
        if (!qtf__mul_u64(&elements, elements, d->dims[k]))
            return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s': the product of its dims overflows",
                              w->path, nm);
    if (elements > QTF__MAX_ELEMENTS)
        return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': %" PRIu64 " elements exceed 2^62",
                          w->path, nm, elements);
    if ((unsigned)d->source_type >= QTF_DTYPE_COUNT_)
        return qtf__error(QTF_E_TYPE, "%s: tensor '%s': source dtype %u is not known", w->path, nm,
                          (unsigned)d->source_type);
    if (d->zstd_level < 0 || d->zstd_level > QTF__MAX_ZSTD_LEVEL)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s': zstd level %d, expected 0..%d",
                          w->path, nm, d->zstd_level, QTF__MAX_ZSTD_LEVEL);
    uint64_t stored[QTF_MAX_DIMS];
    if ((st = stored_shape(stored, w, d))) return st;
    uint32_t n = 0;
    st = qtf_encoding_layout(lay, &n, d->encoding, d->n_dims, stored);
    if (st) {
        qtf__error_prefix("%s: tensor '%s': ", w->path, nm);
        return st;
    }
    if (n != n_parts)
        return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': the encoding needs %" PRIu32
                          " parts, %" PRIu32 " given", w->path, nm, n, n_parts);
    for (uint32_t k = 0; k < n; k++) {
        if (parts[k].role != lay[k].role || parts[k].type != lay[k].type ||
            parts[k].size != lay[k].size)
            return qtf__error(QTF_E_ENCODING, "%s: tensor '%s' part %" PRIu32 ": expected %s %s of %"
                              PRIu64 " bytes, given %s %s of %" PRIu64, w->path, nm, k,
                              qtf_part_role_name(lay[k].role), qtf_dtype_name(lay[k].type),
                              lay[k].size, qtf_part_role_name(parts[k].role),
                              qtf_dtype_name(parts[k].type), parts[k].size);
        if (!parts[k].data && parts[k].size)
            return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s' part %" PRIu32 ": NULL data",
                              w->path, nm, k);
        if (parts[k].size > SIZE_MAX / 2)
            return qtf__error(QTF_E_LIMIT, "%s: tensor '%s' part %" PRIu32 ": %" PRIu64
                              " bytes do not fit this address space", w->path, nm, k,
                              parts[k].size);
    }
    return QTF_OK;
}

/* The one place that decides a tensor's zstd level: the encoding's, which
 * the directory records, so the directory never says "plain" for a
 * compressed part. desc->zstd_level is a shorthand for it (resolve_zstd). */
static int zstd_level_of(const qtf_tensor_desc *d) { return (int)d->encoding->zstd_level; }

/* Folds desc->zstd_level into a copy of the encoding (*enc, and
 * out->encoding = enc): refused when the two levels disagree, or when the
 * level would change the encoding's part layout (block codes are stored one
 * per byte under zstd), since the parts were made without it. */
static qtf_status resolve_zstd(qtf_tensor_desc *out, qtf_encoding *enc, const qtf_writer *w,
                               const qtf_tensor_desc *d) {
    *out = *d;
    *enc = *d->encoding;
    out->encoding = enc;
    if (d->zstd_level == 0 || (uint32_t)d->zstd_level == enc->zstd_level) return QTF_OK;
    if (enc->zstd_level)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s': zstd level %d in the "
                          "descriptor, %u in the encoding; set it in one place", w->path,
                          d->name, d->zstd_level, enc->zstd_level);
    qtf_encoding z = *enc;
    z.zstd_level = (uint32_t)d->zstd_level;
    qtf_part_layout a[QTF_MAX_PARTS], b[QTF_MAX_PARTS];
    uint32_t na, nb;
    uint64_t stored[QTF_MAX_DIMS];
    qtf_status st = stored_shape(stored, w, d);
    if (!st) st = qtf_encoding_layout(a, &na, enc, d->n_dims, stored);
    if (!st) st = qtf_encoding_layout(b, &nb, &z, d->n_dims, stored);
    if (st) return st;
    int same = na == nb;
    for (uint32_t k = 0; same && k < na; k++)
        same = a[k].role == b[k].role && a[k].type == b[k].type && a[k].size == b[k].size;
    if (!same)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s': zstd changes the part layout "
                          "of this encoding; quantize with the level in the encoding (e.g. "
                          "\"int4:zstd\")", w->path, d->name);
    *enc = z;
    out->zstd_level = d->zstd_level;
    return QTF_OK;
}

/* Everything that can fail for lack of memory happens here, before a byte
 * of the tensor is written. */
static qtf_status prepare_compression(qtf_writer *w, const qtf_tensor_desc *d,
                                      const qtf_part_view *parts, uint32_t n_parts) {
    if (zstd_level_of(d) == 0) return QTF_OK;
    size_t bound = 0;
    for (uint32_t k = 0; k < n_parts; k++) {
        size_t b = ZSTD_compressBound((size_t)parts[k].size);
        if (ZSTD_isError(b))
            return qtf__error(QTF_E_LIMIT, "%s: tensor '%s' part %" PRIu32 " is too large for zstd",
                              w->path, d->name, k);
        if (b > bound) bound = b;
    }
    if (bound > w->zcap) {
        unsigned char *p = qtf__realloc(w->zbuf, bound);
        if (!p) return qtf__error(QTF_E_NOMEM, "%s: tensor '%s': cannot allocate %zu bytes for "
                                  "compression", w->path, d->name, bound);
        w->zbuf = p;
        w->zcap = bound;
    }
    if (!w->cctx) {
        ZSTD_customMem mem = { zstd_alloc, zstd_free, NULL };
        w->cctx = ZSTD_createCCtx_advanced(mem);
        if (!w->cctx) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate a zstd context", w->path);
    }
    return QTF_OK;
}

/* Compresses a part; *out_stored is 0 when compression did not shrink it
 * and the part is to be stored plain. */
static qtf_status compress_part(qtf_writer *w, const qtf_tensor_desc *d, uint32_t k,
                                const qtf_part_view *p, size_t *out_stored) {
    *out_stored = 0;
    if (p->size == 0) return QTF_OK;
    ZSTD_CCtx *c = w->cctx;
    ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
    int level = zstd_level_of(d);
    size_t r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
    if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);
    if (!ZSTD_isError(r)) {
        /* readers refuse windows above 2^QTF_MAX_ZSTD_WINDOW_LOG */
        ZSTD_compressionParameters cp = ZSTD_getCParams(level, p->size, 0);
        if (cp.windowLog > QTF_MAX_ZSTD_WINDOW_LOG)
            r = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, QTF_MAX_ZSTD_WINDOW_LOG);
    }
    if (!ZSTD_isError(r)) r = ZSTD_compress2(c, w->zbuf, w->zcap, p->data, (size_t)p->size);
    if (ZSTD_isError(r))
        return qtf__error(ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? QTF_E_NOMEM
                                                                                : QTF_E_COMPRESSION,
                          "%s: tensor '%s' part %" PRIu32 ": zstd: %s", w->path, d->name, k,
                          ZSTD_getErrorName(r));
    if (r < p->size) *out_stored = r;
    return QTF_OK;
}

/* Puts the file back to where it was before a failed tensor, so that the
 * writer stays usable; if even that fails the writer is poisoned. */
static void roll_back(qtf_writer *w, uint64_t data_end) {
    uint64_t pos = w->data_offset + data_end;
    if (lseek(w->fd, (off_t)pos, SEEK_SET) < 0 || ftruncate(w->fd, (off_t)pos) != 0)
        w->failed = QTF_E_IO;
    w->data_end = data_end;
    w->pos = pos;
    if (w->writeback_from > pos) w->writeback_from = pos;
}

qtf_status qtf_writer_add_tensor(qtf_writer *w, const qtf_tensor_desc *desc,
                                 const qtf_part_view *parts, uint32_t n_parts) {
    if (!w || !desc) return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_add_tensor: NULL argument");
    if (w->failed)
        return qtf__error(QTF_E_STATE, "%s: the writer failed earlier and can only be aborted",
                          w->path);
    if (w->in_place)
        return qtf__error(QTF_E_STATE, "%s: tensor '%s': an in-place edit changes metadata only",
                          w->path, desc->name ? desc->name : "(null)");
    qtf_part_layout lay[QTF_MAX_PARTS];
    qtf_status st = check_desc(w, desc, parts, n_parts, lay);
    if (st) return st;
    qtf_tensor_desc resolved;
    qtf_encoding enc;
    if ((st = resolve_zstd(&resolved, &enc, w, desc))) return st;
    desc = &resolved;
    uint32_t enc_id, n_params = 0;
    qtf_encoding_param params[QTF_MAX_PARAMS];
    st = qtf_encoding_to_params(&enc_id, params, &n_params, desc->encoding);
    if (st) {
        qtf__error_prefix("%s: tensor '%s': ", w->path, desc->name);
        return st;
    }
    /* the layout is a container parameter after the encoding's (key 13 is
     * above every encoding key); row-major is the absence of the key */
    uint32_t layout = layout_of(desc);
    if (n_params > QTF_MAX_PARAMS ||
        (layout != QTF_LAYOUT_ROW_MAJOR && n_params == QTF_MAX_PARAMS))
        return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': %" PRIu32 " encoding parameters%s",
                          w->path, desc->name, n_params,
                          layout != QTF_LAYOUT_ROW_MAJOR ? " leave no room for the layout" : "");
    if (layout != QTF_LAYOUT_ROW_MAJOR)
        params[n_params++] = (qtf_encoding_param){ QTF_PARAM_LAYOUT, layout };
    size_t name_len = strlen(desc->name);
    uint64_t rec = 4 + name_len + 4 + 8ull * desc->n_dims + 12 + 8ull * n_params + 4 +
                   (uint64_t)QTF__PART_RECORD_SIZE * n_parts, total;
    if (!qtf__add_u64(&total, w->dir.len, rec) || total > QTF_MAX_DIRECTORY_SIZE)
        return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': the directory would exceed %llu bytes",
                          w->path, desc->name, (unsigned long long)QTF_MAX_DIRECTORY_SIZE);
    if ((st = buf_reserve(&w->dir, rec, w->path))) return st;
    if ((st = grow_refs(&w->names, &w->names_cap, w->n_tensors + 1, w->path))) return st;
    if ((st = qtf__name_index_reserve(&w->name_ix, w->n_tensors + 1, name_of, w))) return st;
    if ((st = prepare_compression(w, desc, parts, n_parts))) return st;

    /* data: each part at the running end aligned up, zero padding between */
    uint64_t start_end = w->data_end;
    unsigned char part_rec[QTF_MAX_PARTS][QTF__PART_RECORD_SIZE];
    for (uint32_t k = 0; k < n_parts && !st; k++) {
        const qtf_part_view *p = &parts[k];
        size_t zsize = 0;
        if (zstd_level_of(desc) > 0 && (st = compress_part(w, desc, k, p, &zsize))) break;
        const void *bytes = zsize ? (const void *)w->zbuf : p->data;
        uint64_t stored = zsize ? zsize : p->size, offset, end;
        if (!qtf__align_up_u64(&offset, w->data_end, w->alignment) ||
            !qtf__add_u64(&end, offset, stored) || end > UINT64_MAX / 2) {
            st = qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s': data section size overflows",
                            w->path, desc->name);
            break;
        }
        uint64_t hash = 0;
        if ((st = write_zeros(w, offset - w->data_end))) break;
        if ((st = write_hashed(w, bytes, stored, &hash))) break;
        w->data_end = end;
        unsigned char *r = part_rec[k];
        memset(r, 0, QTF__PART_RECORD_SIZE);
        qtf__st16(r, (uint16_t)p->role);
        qtf__st16(r + 2, (uint16_t)p->type);
        r[4] = zsize ? QTF_COMPRESSION_ZSTD : QTF_COMPRESSION_NONE;
        qtf__st64(r + 8, offset);
        qtf__st64(r + 16, stored);
        qtf__st64(r + 24, p->size);
        qtf__st_hash(r + 32, hash);
    }
    if (st) {
        roll_back(w, start_end);
        return st;
    }

    put32(&w->dir, (uint32_t)name_len);
    w->names[w->n_tensors] = (name_ref){ w->dir.len, (uint32_t)name_len };
    put(&w->dir, desc->name, name_len);
    put32(&w->dir, desc->n_dims);
    for (uint32_t d = 0; d < desc->n_dims; d++) put64(&w->dir, desc->dims[d]);
    put32(&w->dir, (uint32_t)desc->source_type);
    put32(&w->dir, enc_id);
    put32(&w->dir, n_params);
    for (uint32_t k = 0; k < n_params; k++) {
        put32(&w->dir, params[k].key);
        put32(&w->dir, params[k].value);
    }
    put32(&w->dir, n_parts);
    for (uint32_t k = 0; k < n_parts; k++) put(&w->dir, part_rec[k], QTF__PART_RECORD_SIZE);
    uint32_t dup;
    qtf__name_index_add(&w->name_ix, desc->name, name_len, (uint32_t)w->n_tensors, name_of, w,
                        &dup);
    w->n_tensors++;
    if (layout != QTF_LAYOUT_ROW_MAJOR && w->minor < 1) w->minor = 1; /* format 1.1 */
    qtf__error_clear();
    return QTF_OK;
}

/* ------------------------------------------------------------------------- */
/* finish                                                                     */

static qtf_status write_header(qtf_writer *w, uint64_t data_size) {
    unsigned char h[QTF__HEADER_SIZE] = { 0 };
    uint64_t meta_off = w->data_offset + data_size;
    memcpy(h, qtf__magic, 8);
    qtf__st16(h + 8, QTF_FORMAT_MAJOR);
    qtf__st16(h + 10, w->minor);
    qtf__st32(h + 12, QTF__BYTE_ORDER_MARK);
    qtf__st32(h + 16, QTF__HEADER_SIZE);
    qtf__st32(h + 20, 0);
    qtf__st32(h + 24, w->alignment);
    qtf__st32(h + 28, QTF__CHECKSUM_XXH3_64);
    qtf__st64(h + 32, w->n_tensors);
    qtf__st64(h + 40, w->n_meta);
    qtf__st64(h + 48, w->data_offset);
    qtf__st64(h + 56, data_size);
    qtf__st64(h + 64, meta_off);
    qtf__st64(h + 72, w->meta.len);
    qtf__st64(h + 80, meta_off + w->meta.len);
    qtf__st64(h + 88, w->dir.len);
    XXH3_state_t *hs = XXH3_createState();
    if (!hs) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate a hash state", w->path);
    XXH3_64bits_reset(hs);
    XXH3_64bits_update(hs, h, QTF__HEADER_HASHED);
    XXH3_64bits_update(hs, w->meta.p, w->meta.len);
    XXH3_64bits_update(hs, w->dir.p, w->dir.len);
    qtf__st_hash(h + 120, XXH3_64bits_digest(hs));
    XXH3_freeState(hs);
    ssize_t r;
    do r = pwrite(w->fd, h, sizeof h, 0);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof h)
        return qtf__error(QTF_E_IO, "%s: writing the header failed: %s", w->path,
                          r < 0 ? strerror(errno) : "short write");
    return QTF_OK;
}

qtf_status qtf_writer_finish(qtf_writer *w) {
    if (!w) return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_finish: NULL writer");
    qtf_status st = QTF_OK;
    if (w->failed)
        st = qtf__error(QTF_E_STATE, "%s: the writer failed earlier; nothing was written", w->path);
    if (!st && w->in_place) {
        /* the metadata serialized in memory; the directory is the file's */
        st = qtf__edit_in_place(&w->edit, w->meta.p, w->meta.len, w->n_meta, w->dir.p,
                                w->dir.len);
        writer_free(w);
        if (!st) qtf__error_clear();
        return st;
    }
    uint64_t data_size = 0;
    if (!st && !qtf__align_up_u64(&data_size, w->data_end, w->alignment))
        st = qtf__error(QTF_E_OVERFLOW, "%s: data size overflows", w->path);
    if (!st) st = write_zeros(w, data_size - w->data_end);
    if (!st) st = write_all(w, w->meta.p, w->meta.len);
    if (!st) st = write_all(w, w->dir.p, w->dir.len);
    if (!st) st = write_header(w, data_size);
    if (!st) {
        st = qtf__outfile_commit(&w->out);
        w->fd = -1;
    }
    writer_free(w);
    if (!st) qtf__error_clear();
    return st;
}

/* ------------------------------------------------------------------------- */
/* editing: a new file that shares the data section of an existing one       */

/* Copies [off, off + len) of src_fd to the same offsets of the output. The
 * data section does not move when only metadata changes, so every part
 * offset in the copied directory stays valid. */
static qtf_status copy_data(qtf_writer *w, int src_fd, const unsigned char *src_mem, uint64_t off,
                            uint64_t len) {
    loff_t in = (loff_t)off, out = (loff_t)off;
    uint64_t left = len;
    while (src_fd >= 0 && left) {
        size_t chunk = left > (1u << 30) ? (1u << 30) : (size_t)left;
        ssize_t r = copy_file_range(src_fd, &in, w->fd, &out, chunk, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP ||
                      errno == EINVAL))
            break; /* not supported between these files: copy by hand */
        if (r < 0)
            return qtf__error(QTF_E_IO, "%s: copying tensor data failed: %s", w->path,
                              strerror(errno));
        if (r == 0)
            return qtf__error(QTF_E_TRUNCATED, "%s: the source file ended at offset %llu while "
                              "copying its data", w->path, (unsigned long long)in);
        left -= (uint64_t)r;
    }
    unsigned char *buf = NULL;
    if (left && !src_mem) {
        buf = qtf__malloc(1u << 20);
        if (!buf) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate a copy buffer", w->path);
    }
    while (left) {
        size_t chunk = left > (1u << 20) ? (1u << 20) : (size_t)left;
        const unsigned char *from = src_mem ? src_mem + in : buf;
        if (!src_mem) {
            ssize_t r = pread(src_fd, buf, chunk, in);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                free(buf);
                return qtf__error(r < 0 ? QTF_E_IO : QTF_E_TRUNCATED, "%s: reading the source "
                                  "data at offset %llu failed: %s", w->path,
                                  (unsigned long long)in, r < 0 ? strerror(errno) : "end of file");
            }
            chunk = (size_t)r;
        }
        ssize_t wr = pwrite(w->fd, from, chunk, out);
        if (wr < 0 && errno == EINTR) continue;
        if (wr <= 0) {
            free(buf);
            return qtf__error(QTF_E_IO, "%s: write of %zu bytes failed: %s", w->path, chunk,
                              wr < 0 ? strerror(errno) : "no progress");
        }
        in += wr;
        out += wr;
        left -= (uint64_t)wr;
    }
    free(buf);
    if (lseek(w->fd, (off_t)(off + len), SEEK_SET) < 0)
        return qtf__error(QTF_E_IO, "%s: seek failed: %s", w->path, strerror(errno));
    w->pos = off + len;
    return QTF_OK;
}

/* The source's bytes: its file when it can be reopened and is provably the
 * same (size and header checksum), else its mapping or buffer. */
static qtf_status open_source(int *out_fd, const unsigned char **out_mem, const qtf_file *src) {
    *out_fd = -1;
    *out_mem = NULL;
    int fd = open(src->name, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat sb;
        unsigned char sum[8];
        if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size == src->info.file_size &&
            pread(fd, sum, 8, 120) == 8 && qtf__ld_hash(sum) == src->info.header_checksum) {
            *out_fd = fd;
            return QTF_OK;
        }
        close(fd);
    }
    if (src->base) {
        *out_mem = src->base;
        return QTF_OK;
    }
    return qtf__error(QTF_E_STATE, "%s: opened metadata-only and its file cannot be reopened "
                      "unchanged: no source for the tensor data", src->name);
}

qtf_status qtf_writer_create_edit(qtf_writer **out, const char *path, const qtf_file *src,
                                  const qtf_writer_options *opts) {
    if (!out || !path || !src)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_create_edit: NULL argument");
    *out = NULL;
    qtf_writer_options o;
    qtf_status st = read_options(&o, opts, path);
    if (st) return st;
    if (o.alignment && o.alignment != src->info.alignment)
        return qtf__error(QTF_E_ALIGNMENT, "%s: alignment %" PRIu32 " differs from the source's %"
                          PRIu32 "; changing it moves the data: write a new file instead", path,
                          o.alignment, src->info.alignment);
    o.alignment = src->info.alignment;
    o.version = QTF_WRITER_OPTIONS_VERSION; /* o is complete (read_options) */
    qtf_writer *w = NULL;
    if (o.flags & QTF_WRITER_IN_PLACE) {
        /* nothing is opened or written here: the file is checked, leased and
         * changed at finish (lib/edit.c), when the metadata is complete */
        if ((o.flags & QTF_WRITER_NO_REPLACE) || o.n_protected)
            return qtf__error(QTF_E_INVALID_ARG, "%s: an in-place edit changes the file itself: "
                              "QTF_WRITER_NO_REPLACE and protected paths do not apply", path);
        st = writer_new(&w, path, o.alignment);
        if (!st) {
            w->in_place = 1;
            w->edit.src = src->info;
            w->edit.on_step = o.on_step;
            w->edit.step_ctx = o.step_ctx;
            w->edit.path = qtf__strndup(path, strlen(path));
            if (!w->edit.path) st = qtf__error(QTF_E_NOMEM, "%s: cannot copy the path", path);
        }
    } else {
        int src_fd;
        const unsigned char *src_mem;
        st = open_source(&src_fd, &src_mem, src);
        if (st) return st;
        st = qtf_writer_create(&w, path, &o);
        if (!st) st = copy_data(w, src_fd, src_mem, src->info.data_offset, src->info.data_size);
        if (src_fd >= 0) close(src_fd);
    }
    uint64_t n = src->info.tensor_count;
    if (!st) {
        w->data_end = src->info.data_size;
        st = buf_reserve(&w->dir, src->info.directory_size, path);
    }
    if (!st) st = grow_refs(&w->names, &w->names_cap, n, path);
    if (!st) st = qtf__name_index_reserve(&w->name_ix, n, name_of, w);
    if (st) {
        if (w) writer_free(w);
        return st;
    }
    put(&w->dir, src->dir, (size_t)src->info.directory_size);
    /* locate each name in the copied directory (records were validated) */
    size_t at = 0;
    for (uint64_t i = 0; i < n; i++) {
        const qtf_tensor_info *t = &src->tensors[i];
        uint32_t dup;
        w->names[i] = (name_ref){ at + 4, t->name_len };
        qtf__name_index_add(&w->name_ix, t->name, t->name_len, (uint32_t)i, name_of, w, &dup);
        at += 4 + t->name_len + 4 + 8 * (size_t)t->n_dims + 12 + 8 * (size_t)t->n_params + 4 +
              (size_t)QTF__PART_RECORD_SIZE * t->n_parts;
    }
    w->n_tensors = n;
    /* the directory is copied as is, with whatever features it uses */
    w->minor = src->info.minor;
    *out = w;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_writer_copy_meta(qtf_writer *w, const qtf_file *src, uint64_t i) {
    if (!w || !src) return qtf__error(QTF_E_INVALID_ARG, "qtf_writer_copy_meta: NULL argument");
    const qtf__meta_entry *e = NULL;
    qtf_status st = qtf__meta_entry_at(&e, src, i);
    if (st) return st;
    /* the record is copied as stored: key, type and value were validated by
     * the reader and are re-validated by the next open */
    st = begin_entry(w, e->key, e->type, e->elem_type, e->rec_len - 8 - e->key_len);
    if (st) return st;
    put(&w->meta, e->rec + 8 + e->key_len, (size_t)(e->rec_len - 8 - e->key_len));
    qtf__error_clear();
    return QTF_OK;
}
