/* lib/metadata.c — the metadata section: validation of every record when a
 * file is opened, the reserved-key rules shared with the writer, and the
 * getters. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "container.h"

size_t qtf__type_fixed_size(qtf_type t) {
    switch (t) {
    case QTF_TYPE_U8: case QTF_TYPE_I8: case QTF_TYPE_BOOL: return 1;
    case QTF_TYPE_U16: case QTF_TYPE_I16: return 2;
    case QTF_TYPE_U32: case QTF_TYPE_I32: case QTF_TYPE_F32: return 4;
    case QTF_TYPE_U64: case QTF_TYPE_I64: case QTF_TYPE_F64: return 8;
    default: return 0;
    }
}

size_t qtf_type_size(qtf_type t) { return qtf__type_fixed_size(t); }

/* Keys whose type the spec fixes; other qtf.* and general.* keys are reserved
 * for future definition and accepted with any type. */
static const struct {
    const char *key;
    qtf_type type;
    qtf_type elem_type;
} reserved_keys[] = {
    { "general.architecture", QTF_TYPE_STRING, 0 },
    { "general.name", QTF_TYPE_STRING, 0 },
    { "general.license", QTF_TYPE_STRING, 0 },
    { "general.description", QTF_TYPE_STRING, 0 },
    { "qtf.converter", QTF_TYPE_STRING, 0 },
    { "qtf.recipe", QTF_TYPE_STRING, 0 },
    { "qtf.source.format", QTF_TYPE_STRING, 0 },
    { "qtf.source.files", QTF_TYPE_ARRAY, QTF_TYPE_STRING },
    { "qtf.source.sizes", QTF_TYPE_ARRAY, QTF_TYPE_U64 },
};

#define HF_FILE_PREFIX "hf.file."

static const char *type_desc(char *buf, size_t cap, qtf_type type, qtf_type elem) {
    if (type == QTF_TYPE_ARRAY)
        snprintf(buf, cap, "array of %s", qtf_type_name(elem));
    else
        snprintf(buf, cap, "%s", qtf_type_name(type));
    return buf;
}

qtf_status qtf__meta_check_reserved(const char *file, const char *key, size_t key_len,
                                    qtf_type type, qtf_type elem_type) {
    char want[32], got[32];
    size_t plen = sizeof HF_FILE_PREFIX - 1;
    if (key_len >= plen && memcmp(key, HF_FILE_PREFIX, plen) == 0) {
        if (type != QTF_TYPE_BLOB)
            return qtf__error(QTF_E_TYPE, "%s: key '%s' must be a blob (embedded file), found %s",
                              file, key, type_desc(got, sizeof got, type, elem_type));
        return QTF_OK;
    }
    if (key_len < 4 || (memcmp(key, "qtf.", 4) != 0 && memcmp(key, "gene", 4) != 0))
        return QTF_OK; /* fast path: most keys are not reserved */
    for (size_t i = 0; i < sizeof reserved_keys / sizeof reserved_keys[0]; i++) {
        if (strlen(reserved_keys[i].key) != key_len || memcmp(reserved_keys[i].key, key, key_len))
            continue;
        if (reserved_keys[i].type != type ||
            (type == QTF_TYPE_ARRAY && reserved_keys[i].elem_type != elem_type))
            return qtf__error(QTF_E_TYPE, "%s: reserved key '%s' must be %s, found %s", file, key,
                              type_desc(want, sizeof want, reserved_keys[i].type,
                                        reserved_keys[i].elem_type),
                              type_desc(got, sizeof got, type, elem_type));
        return QTF_OK;
    }
    return QTF_OK;
}

/* " at offset N" for file records; nothing for the writer's arguments
 * (at == QTF__NO_OFFSET), which have no offset yet. */
static const char *where(char *buf, size_t cap, uint64_t at) {
    if (at == QTF__NO_OFFSET) buf[0] = '\0';
    else snprintf(buf, cap, " at offset %" PRIu64, at);
    return buf;
}

qtf_status qtf__check_name(const char *file, const char *what, const void *s, uint64_t len,
                           uint64_t max_len, uint64_t at) {
    char esc[QTF__ESC_CAP], w[40];
    if (len == 0)
        return qtf__error(QTF_E_UTF8, "%s: %s%s is empty", file, what, where(w, sizeof w, at));
    if (len > max_len)
        return qtf__error(QTF_E_LIMIT, "%s: %s%s is %" PRIu64 " bytes, the limit is %" PRIu64,
                          file, what, where(w, sizeof w, at), len, max_len);
    size_t bad;
    if (!qtf__utf8_check(s, (size_t)len, &bad))
        return qtf__error(QTF_E_UTF8, "%s: %s '%s'%s: %s at byte %zu", file, what,
                          qtf__escape(esc, sizeof esc, s, (size_t)len), where(w, sizeof w, at),
                          ((const unsigned char *)s)[bad] == 0 ? "embedded NUL"
                                                               : "invalid UTF-8", bad);
    return QTF_OK;
}

qtf_status qtf__check_media_type(const char *file, const char *key, const void *s,
                                 uint64_t len, uint64_t at) {
    char esc[QTF__ESC_CAP], w[40];
    if (len == 0 || len > QTF_MAX_MEDIA_TYPE_LEN)
        return qtf__error(len ? QTF_E_LIMIT : QTF_E_VALUE,
                          "%s: key '%s': blob media type%s is %" PRIu64 " bytes, expected 1..%u",
                          file, key, where(w, sizeof w, at), len, QTF_MAX_MEDIA_TYPE_LEN);
    const unsigned char *p = s;
    for (uint64_t i = 0; i < len; i++)
        if (p[i] < 0x20 || p[i] > 0x7E)
            return qtf__error(QTF_E_VALUE, "%s: key '%s': blob media type '%s'%s has a "
                              "non-printable byte 0x%02X at %" PRIu64, file, key,
                              qtf__escape(esc, sizeof esc, s, (size_t)len),
                              where(w, sizeof w, at), p[i], i);
    return QTF_OK;
}

/* ------------------------------------------------------------------------- */
/* parsing                                                                    */

static void entry_name(const void *ctx, uint32_t item, const char **s, size_t *len) {
    const qtf__meta_entry *e = ctx;
    *s = e[item].key;
    *len = e[item].key_len;
}

#define TRUNC(c, need, what) \
    qtf__truncated(f->name, "metadata entry", i, key, what, (uint64_t)(need), c, "metadata")

qtf_status qtf__take_name(char **out, uint32_t *out_len, uint64_t *out_at, qtf__cursor *c,
                          const char *file, const qtf__name_field *nf, uint64_t i,
                          const char *what, char **pool_cursor) {
    if (qtf__left(c) < 4)
        return qtf__truncated(file, nf->kind, i, "?", nf->len_field, 4, c, nf->section);
    const uint64_t at = qtf__at(c);
    const uint32_t len = qtf__take32(c);
    *out_at = at;
    if (len > nf->limit)
        return qtf__error(QTF_E_LIMIT, "%s: %s %" PRIu64 ": %s %" PRIu32 " at offset %" PRIu64
                          " exceeds the limit %" PRIu32, file, nf->kind, i, nf->len_field, len, at,
                          nf->limit);
    if (qtf__left(c) < len) return qtf__truncated(file, nf->kind, i, "?", nf->field, len, c, nf->section);
    qtf_status st = qtf__check_name(file, what, c->p + c->pos, len, nf->limit, at + 4);
    if (st) return st;
    *out = qtf__pool_take(c, pool_cursor, len);
    *out_len = len;
    return QTF_OK;
}

qtf_status qtf__section_end(const qtf__cursor *c, const char *file, const char *section,
                            uint64_t n, const char *records) {
    if (c->pos == c->len) return QTF_OK;
    return qtf__error(QTF_E_HEADER, "%s: %s size is %" PRIu64 " but its %" PRIu64 " %s end after %"
                      PRIu64 " bytes (offset %" PRIu64 ")", file, section, c->len, n, records,
                      c->pos, qtf__at(c));
}

qtf_status qtf__truncated(const char *file, const char *kind, uint64_t i, const char *name,
                          const char *what, uint64_t need, const qtf__cursor *c,
                          const char *section) {
    return qtf__error(QTF_E_TRUNCATED, "%s: %s %" PRIu64 " ('%s'): %s needs %" PRIu64
                      " bytes at offset %" PRIu64 " but the %s section has %" PRIu64 " left",
                      file, kind, i, name, what, need, qtf__at(c), section, qtf__left(c));
}

static qtf_status check_bools(const qtf_file *f, uint64_t i, const char *key,
                              const unsigned char *p, uint64_t n, uint64_t at) {
    for (uint64_t j = 0; j < n; j++)
        if (p[j] > 1)
            return qtf__error(QTF_E_VALUE, "%s: metadata entry %" PRIu64 " ('%s'): bool at offset %"
                              PRIu64 " is %u, expected 0 or 1", f->name, i, key, at + j, p[j]);
    return QTF_OK;
}

static qtf_status parse_string(qtf__cursor *c, const qtf_file *f, uint64_t i, const char *key,
                               uint64_t *out_len, const char *what) {
    if (qtf__left(c) < 8) return TRUNC(c, 8, what);
    uint64_t at = qtf__at(c);
    uint64_t len = qtf__take64(c);
    if (len > QTF_MAX_STRING_LEN)
        return qtf__error(QTF_E_LIMIT, "%s: metadata entry %" PRIu64 " ('%s'): %s at offset %"
                          PRIu64 " is %" PRIu64 " bytes, the limit is %u", f->name, i, key, what,
                          at, len, QTF_MAX_STRING_LEN);
    if (qtf__left(c) < len) return TRUNC(c, len, what);
    size_t bad;
    if (!qtf__utf8_check(c->p + c->pos, (size_t)len, &bad))
        return qtf__error(QTF_E_UTF8, "%s: metadata entry %" PRIu64 " ('%s'): %s at offset %"
                          PRIu64 " has %s at byte %zu", f->name, i, key, what, at,
                          c->p[c->pos + bad] ? "invalid UTF-8" : "an embedded NUL", bad);
    c->pos += len;
    *out_len = len;
    return QTF_OK;
}

static qtf_status parse_array(qtf__cursor *c, qtf_file *f, uint64_t i, qtf__meta_entry *e) {
    const char *key = e->key;
    if (qtf__left(c) < 12) return TRUNC(c, 12, "array header");
    uint64_t at = qtf__at(c);
    uint32_t elem_code = qtf__take32(c);
    uint64_t count = qtf__take64(c);
    qtf_type elem = qtf_type_from_code(elem_code);
    if (elem_code >= QTF_TYPE_COUNT_ || elem == QTF_TYPE_ARRAY || elem == QTF_TYPE_BLOB)
        return qtf__error(QTF_E_TYPE, "%s: metadata entry %" PRIu64 " ('%s'): array element type %"
                          PRIu32 " at offset %" PRIu64 " is not a scalar or string type (0..8, "
                          "10..12)", f->name, i, key, elem_code, at);
    if (count > QTF_MAX_ARRAY_LEN)
        return qtf__error(QTF_E_LIMIT, "%s: metadata entry %" PRIu64 " ('%s'): array count %" PRIu64
                          " at offset %" PRIu64 " exceeds the limit %llu", f->name, i, key, count,
                          at + 4, (unsigned long long)QTF_MAX_ARRAY_LEN);
    e->elem_type = elem;
    e->count = count;
    e->value = c->p + c->pos;
    if (elem != QTF_TYPE_STRING) {
        uint64_t bytes = count * qtf__type_fixed_size(elem); /* <= 2^33: no overflow */
        if (qtf__left(c) < bytes) return TRUNC(c, bytes, "array elements");
        if (elem == QTF_TYPE_BOOL) {
            qtf_status st = check_bools(f, i, key, c->p + c->pos, count, qtf__at(c));
            if (st) return st;
        }
        c->pos += bytes;
        return QTF_OK;
    }
    /* every string takes at least its 8-byte length: bound count first */
    if (qtf__left(c) / 8 < count) return TRUNC(c, count * 8, "array of strings");
    if (count) {
        e->str_offsets = qtf__malloc((size_t)count * sizeof *e->str_offsets);
        if (!e->str_offsets)
            return qtf__error(QTF_E_NOMEM, "%s: metadata entry %" PRIu64 " ('%s'): cannot index %"
                              PRIu64 " strings", f->name, i, key, count);
    }
    uint64_t start = c->pos;
    for (uint64_t j = 0; j < count; j++) {
        uint64_t len;
        e->str_offsets[j] = c->pos - start;
        qtf_status st = parse_string(c, f, i, key, &len, "array string");
        if (st) {
            qtf__error_prefix("element %" PRIu64 ": ", j);
            return st;
        }
    }
    return QTF_OK;
}

qtf_status qtf__parse_metadata(qtf_file *f, char **pool_cursor) {
    uint64_t n = f->info.metadata_count;
    qtf__cursor cur = { f->meta, f->info.metadata_size, 0, f->info.metadata_offset };
    qtf__cursor *c = &cur;
    if (n > f->info.metadata_size / QTF__MIN_META_RECORD)
        return qtf__error(QTF_E_TRUNCATED, "%s: metadata count %" PRIu64 " cannot fit in the %"
                          PRIu64 "-byte metadata section at offset %" PRIu64
                          " (each entry takes at least %u bytes)", f->name, n,
                          f->info.metadata_size, f->info.metadata_offset, QTF__MIN_META_RECORD);
    if (n == 0) goto done;
    f->entries = qtf__calloc((size_t)n, sizeof *f->entries);
    if (!f->entries)
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " metadata entries",
                          f->name, n);
    qtf_status st = qtf__name_index_reserve(&f->key_index, n, entry_name, f->entries);
    if (st) return st;
    for (uint64_t i = 0; i < n; i++) {
        qtf__meta_entry *e = &f->entries[i];
        const char *key = "?";
        uint64_t rec_start = c->pos;
        static const qtf__name_field key_field = { "metadata entry", "key", "key length",
                                                   "metadata", QTF_MAX_KEY_LEN };
        char what[48], *k;
        uint32_t key_len;
        uint64_t key_at;
        snprintf(what, sizeof what, "metadata entry %" PRIu64 " key", i);
        st = qtf__take_name(&k, &key_len, &key_at, c, f->name, &key_field, i, what, pool_cursor);
        if (st) return st;
        e->key = key = k;
        e->key_len = key_len;
        uint32_t dup;
        if (!qtf__name_index_add(&f->key_index, k, key_len, (uint32_t)i, entry_name, f->entries,
                                 &dup))
            return qtf__error(QTF_E_DUPLICATE, "%s: metadata entry %" PRIu64 " at offset %" PRIu64
                              ": key '%s' already used by entry %" PRIu32, f->name, i, key_at,
                              key, dup);
        if (qtf__left(c) < 4) return TRUNC(c, 4, "value type");
        uint64_t type_at = qtf__at(c);
        uint32_t code = qtf__take32(c);
        if (code >= QTF_TYPE_COUNT_)
            return qtf__error(QTF_E_TYPE, "%s: metadata entry %" PRIu64 " ('%s'): value type %"
                              PRIu32 " at offset %" PRIu64 " is not a known type (0..%d)",
                              f->name, i, key, code, type_at, QTF_TYPE_COUNT_ - 1);
        const qtf_type type = qtf_type_from_code(code);
        e->type = type;
        e->value = c->p + c->pos;
        size_t fixed = qtf__type_fixed_size(type);
        if (fixed) {
            if (qtf__left(c) < fixed) return TRUNC(c, fixed, "value");
            if (type == QTF_TYPE_BOOL) {
                st = check_bools(f, i, key, c->p + c->pos, 1, qtf__at(c));
                if (st) return st;
            }
            c->pos += fixed;
        } else if (type == QTF_TYPE_STRING) {
            st = parse_string(c, f, i, key, &e->len, "string");
            if (st) return st;
        } else if (type == QTF_TYPE_ARRAY) {
            st = parse_array(c, f, i, e);
            if (st) return st;
        } else { /* BLOB */
            if (qtf__left(c) < 4) return TRUNC(c, 4, "media type length");
            uint64_t mt_at = qtf__at(c);
            uint32_t mlen = qtf__take32(c);
            if (mlen <= QTF_MAX_MEDIA_TYPE_LEN && qtf__left(c) < mlen)
                return TRUNC(c, mlen, "media type");
            st = qtf__check_media_type(f->name, key, c->p + c->pos, mlen, mt_at);
            if (st) return st;
            e->media_type = qtf__pool_take(c, pool_cursor, mlen);
            if (qtf__left(c) < 8) return TRUNC(c, 8, "blob size");
            e->len = qtf__take64(c);
            if (qtf__left(c) < e->len) return TRUNC(c, e->len, "blob bytes");
            e->value = c->p + c->pos;
            c->pos += e->len;
        }
        st = qtf__meta_check_reserved(f->name, key, key_len, e->type, e->elem_type);
        if (st) return st;
        e->rec = c->p + rec_start;
        e->rec_len = c->pos - rec_start;
    }
done:
    return qtf__section_end(c, f->name, "metadata", n, "entries");
}

/* ------------------------------------------------------------------------- */
/* getters                                                                    */

uint64_t qtf_meta_count(const qtf_file *f) { return f ? f->info.metadata_count : 0; }

const char *qtf_meta_key(const qtf_file *f, uint64_t i) {
    if (!f || i >= f->info.metadata_count) return NULL;
    return f->entries[i].key;
}

qtf_status qtf_meta_find(uint64_t *out_index, const qtf_file *f, const char *key) {
    if (!out_index || !f || !key)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_find: NULL argument");
    uint32_t item;
    if (!qtf__name_index_find(&f->key_index, key, strlen(key), entry_name, f->entries, &item)) {
        char esc[QTF__ESC_CAP];
        return qtf__error(QTF_E_NOT_FOUND, "%s: no metadata key '%s'", f->name,
                          qtf__escape(esc, sizeof esc, key, strlen(key)));
    }
    *out_index = item;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf__meta_entry_at(const qtf__meta_entry **out, const qtf_file *f, uint64_t i) {
    if (i >= f->info.metadata_count)
        return qtf__error(QTF_E_INVALID_ARG, "%s: metadata index %" PRIu64 " out of range (%"
                          PRIu64 " entries)", f->name, i, f->info.metadata_count);
    *out = &f->entries[i];
    return QTF_OK;
}

qtf_status qtf_meta_value(qtf_value *out, const qtf_file *f, uint64_t i) {
    if (!out || !f) return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_value: NULL argument");
    const qtf__meta_entry *e = NULL;
    qtf_status st = qtf__meta_entry_at(&e, f, i);
    if (st) return st;
    memset(out, 0, sizeof *out);
    out->type = e->type;
    switch (e->type) {
    case QTF_TYPE_STRING:
        out->str = (const char *)e->value + 8;
        out->len = e->len;
        break;
    case QTF_TYPE_BLOB:
        out->str = (const char *)e->value;
        out->len = e->len;
        out->media_type = e->media_type;
        break;
    case QTF_TYPE_ARRAY:
        out->elem_type = e->elem_type;
        out->count = e->count;
        out->data = e->value;
        break;
    default:
        qtf__value_load_scalar(out, e->type, e->value);
        break;
    }
    return QTF_OK;
}

static int is_signed_int(qtf_type t) {
    return t == QTF_TYPE_I8 || t == QTF_TYPE_I16 || t == QTF_TYPE_I32 || t == QTF_TYPE_I64;
}
static int is_unsigned_int(qtf_type t) {
    return t == QTF_TYPE_U8 || t == QTF_TYPE_U16 || t == QTF_TYPE_U32 || t == QTF_TYPE_U64;
}

static qtf_status find_value(qtf_value *v, const qtf_file *f, const char *key) {
    uint64_t i;
    qtf_status st = qtf_meta_find(&i, f, key);
    if (st) return st;
    return qtf_meta_value(v, f, i);
}

static qtf_status mismatch(const qtf_file *f, const char *key, const char *want, qtf_type got) {
    return qtf__error(QTF_E_TYPE_MISMATCH, "%s: key '%s' is %s, not %s", f->name, key,
                      qtf_type_name(got), want);
}

qtf_status qtf_meta_get_u64(uint64_t *out, const qtf_file *f, const char *key) {
    qtf_value v;
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_get_u64: NULL argument");
    qtf_status st = find_value(&v, f, key);
    if (st) return st;
    if (is_unsigned_int(v.type)) {
        *out = v.num.u64;
    } else if (is_signed_int(v.type) && v.num.i64 >= 0) {
        *out = (uint64_t)v.num.i64;
    } else if (is_signed_int(v.type)) {
        return qtf__error(QTF_E_TYPE_MISMATCH, "%s: key '%s' is negative (%" PRId64
                          "), not representable as u64", f->name, key, v.num.i64);
    } else {
        return mismatch(f, key, "an integer", v.type);
    }
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_meta_get_i64(int64_t *out, const qtf_file *f, const char *key) {
    qtf_value v;
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_get_i64: NULL argument");
    qtf_status st = find_value(&v, f, key);
    if (st) return st;
    if (is_signed_int(v.type)) {
        *out = v.num.i64;
    } else if (is_unsigned_int(v.type) && v.num.u64 <= INT64_MAX) {
        *out = (int64_t)v.num.u64;
    } else if (is_unsigned_int(v.type)) {
        return qtf__error(QTF_E_TYPE_MISMATCH, "%s: key '%s' is %" PRIu64
                          ", not representable as i64", f->name, key, v.num.u64);
    } else {
        return mismatch(f, key, "an integer", v.type);
    }
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_meta_get_f64(double *out, const qtf_file *f, const char *key) {
    qtf_value v;
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_get_f64: NULL argument");
    qtf_status st = find_value(&v, f, key);
    if (st) return st;
    if (v.type != QTF_TYPE_F32 && v.type != QTF_TYPE_F64) return mismatch(f, key, "f32 or f64", v.type);
    *out = v.num.f64;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_meta_get_bool(int *out, const qtf_file *f, const char *key) {
    qtf_value v;
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_get_bool: NULL argument");
    qtf_status st = find_value(&v, f, key);
    if (st) return st;
    if (v.type != QTF_TYPE_BOOL) return mismatch(f, key, "bool", v.type);
    *out = (int)v.num.u64;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_meta_get_string(const char **out, uint64_t *out_len, const qtf_file *f,
                               const char *key) {
    qtf_value v;
    if (!out || !out_len) return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_get_string: NULL argument");
    qtf_status st = find_value(&v, f, key);
    if (st) return st;
    if (v.type != QTF_TYPE_STRING) return mismatch(f, key, "string", v.type);
    *out = v.str;
    *out_len = v.len;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_meta_get_blob(const void **out, uint64_t *out_len, const char **out_media_type,
                             const qtf_file *f, const char *key) {
    qtf_value v;
    if (!out || !out_len) return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_get_blob: NULL argument");
    qtf_status st = find_value(&v, f, key);
    if (st) return st;
    if (v.type != QTF_TYPE_BLOB) return mismatch(f, key, "blob", v.type);
    *out = v.str;
    *out_len = v.len;
    if (out_media_type) *out_media_type = v.media_type;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_meta_array_string(const char **out, uint64_t *out_len, const qtf_file *f,
                                 uint64_t i, uint64_t j) {
    if (!out || !out_len || !f)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_meta_array_string: NULL argument");
    const qtf__meta_entry *e = NULL;
    qtf_status st = qtf__meta_entry_at(&e, f, i);
    if (st) return st;
    if (e->type != QTF_TYPE_ARRAY || e->elem_type != QTF_TYPE_STRING)
        return qtf__error(QTF_E_TYPE_MISMATCH, "%s: key '%s' is not an array of strings",
                          f->name, e->key);
    if (j >= e->count)
        return qtf__error(QTF_E_INVALID_ARG, "%s: key '%s': element %" PRIu64
                          " out of range (%" PRIu64 " elements)", f->name, e->key, j, e->count);
    const unsigned char *p = e->value + e->str_offsets[j];
    *out_len = qtf__ld64(p);
    *out = (const char *)p + 8;
    qtf__error_clear();
    return QTF_OK;
}
