/* checkpoint/safetensors.c — validating reader of the safetensors header.
 *
 * Layout: u64 LE N, N bytes of JSON (an object, may be padded with spaces),
 * then the data region. Every rule of the format is enforced here so that the
 * rest of the converter can trust offsets and sizes: entries sorted by offset
 * tile the data region exactly, and each entry's byte size equals
 * product(shape) * dtype size. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json_check.h"
#include "source_internal.h"

static const struct {
    const char *name;
    qtf_dtype dtype;
} st_dtypes[] = {
    {"F64", QTF_DTYPE_F64},   {"F32", QTF_DTYPE_F32},         {"F16", QTF_DTYPE_F16},
    {"BF16", QTF_DTYPE_BF16}, {"I64", QTF_DTYPE_I64},         {"I32", QTF_DTYPE_I32},
    {"I16", QTF_DTYPE_I16},   {"I8", QTF_DTYPE_I8},           {"U8", QTF_DTYPE_U8},
    {"U16", QTF_DTYPE_U16},   {"U32", QTF_DTYPE_U32},         {"U64", QTF_DTYPE_U64},
    {"BOOL", QTF_DTYPE_BOOL}, {"F8_E4M3", QTF_DTYPE_F8_E4M3}, {"F8_E5M2", QTF_DTYPE_F8_E5M2},
};

qtf_dtype qtf__st_dtype_from_name(const char *name) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0) return st_dtypes[i].dtype;
    return QTF_DTYPE_NONE;
}

void qtf__st_header_free(qtf__st_header *h) {
    if (!h) return;
    for (uint64_t i = 0; i < h->n_entries; i++) free(h->entries[i].name);
    for (uint64_t i = 0; i < h->n_meta; i++) {
        free(h->meta_keys[i]);
        free(h->meta_values[i]);
    }
    free(h->entries);
    free(h->meta_keys);
    free(h->meta_values);
    memset(h, 0, sizeof *h);
}

static int cmp_entry(const void *a, const void *b) {
    const qtf__st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A JSON integer >= 0. jansson stores integers as long long and refuses
 * larger literals, so every accepted value is exact (also above 2^53). */
static int get_uint(uint64_t *out, const json_t *v) {
    if (!json_is_integer(v)) return 0;
    json_int_t i = json_integer_value(v);
    if (i < 0) return 0;
    *out = (uint64_t)i;
    return 1;
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return json_integer_value(v) < 0 ? "a negative integer" : "an integer";
    case JSON_REAL: return "a non-integer number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static qtf_status parse_metadata(qtf__st_header *h, const char *file, const json_t *meta) {
    char esc[QTF__ESC_CAP];
    if (!json_is_object(meta))
        return qtf__error(QTF_E_TYPE, "%s: __metadata__ must be an object of strings, found %s",
                          file, json_kind(meta));
    size_t n = json_object_size(meta);
    if (n == 0) return QTF_OK;
    h->meta_keys = calloc(n, sizeof *h->meta_keys);
    h->meta_values = calloc(n, sizeof *h->meta_values);
    if (!h->meta_keys || !h->meta_values)
        return qtf__error(QTF_E_NOMEM, "%s: out of memory for %zu metadata entries", file, n);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)meta, key, val) {
        if (!json_is_string(val))
            return qtf__error(QTF_E_TYPE, "%s: __metadata__['%s'] must be a string, found %s",
                              file, qtf__escape(esc, sizeof esc, key, strlen(key)),
                              json_kind(val));
        const char *s = json_string_value(val);
        size_t len = json_string_length(val);
        h->meta_keys[h->n_meta] = strdup(key);
        h->meta_values[h->n_meta] = malloc(len + 1);
        if (!h->meta_keys[h->n_meta] || !h->meta_values[h->n_meta]) {
            free(h->meta_keys[h->n_meta]);
            free(h->meta_values[h->n_meta]);
            return qtf__error(QTF_E_NOMEM, "%s: out of memory for metadata", file);
        }
        memcpy(h->meta_values[h->n_meta], s, len);
        h->meta_values[h->n_meta][len] = '\0';
        h->n_meta++;
    }
    return QTF_OK;
}

static qtf_status parse_entry(qtf__st_entry *e, const char *file, const char *name,
                              const json_t *obj) {
    char esc[QTF__ESC_CAP];
    const char *n = qtf__escape(esc, sizeof esc, name, strlen(name));
    if (!json_is_object(obj))
        return qtf__error(QTF_E_TYPE, "%s: tensor '%s': expected an object {dtype, shape, "
                          "data_offsets}, found %s", file, n, json_kind(obj));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (strcmp(key, "dtype") != 0 && strcmp(key, "shape") != 0 &&
            strcmp(key, "data_offsets") != 0) {
            char kesc[QTF__ESC_CAP];
            return qtf__error(QTF_E_PARSE, "%s: tensor '%s': unexpected field '%s' (expected "
                              "only dtype, shape, data_offsets)", file, n,
                              qtf__escape(kesc, sizeof kesc, key, strlen(key)));
        }
    }
    const json_t *dt = json_object_get(obj, "dtype");
    const json_t *shape = json_object_get(obj, "shape");
    const json_t *offs = json_object_get(obj, "data_offsets");
    if (!dt || !shape || !offs)
        return qtf__error(QTF_E_PARSE, "%s: tensor '%s': missing field '%s'", file, n,
                          !dt ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dt))
        return qtf__error(QTF_E_TYPE, "%s: tensor '%s': dtype must be a string, found %s", file,
                          n, json_kind(dt));
    e->dtype = qtf__st_dtype_from_name(json_string_value(dt));
    if (e->dtype == QTF_DTYPE_NONE) {
        char desc[QTF__ESC_CAP];
        return qtf__error(QTF_E_TYPE, "%s: tensor '%s': dtype '%s' is not supported (expected "
                          "F64 F32 F16 BF16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 F8_E5M2)",
                          file, n, qtf__escape(desc, sizeof desc, json_string_value(dt),
                                               json_string_length(dt)));
    }
    if (!json_is_array(shape))
        return qtf__error(QTF_E_TYPE, "%s: tensor '%s': shape must be an array, found %s", file,
                          n, json_kind(shape));
    size_t nd = json_array_size(shape);
    if (nd > QTF_MAX_DIMS)
        return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': shape has %zu dimensions (limit %d)",
                          file, n, nd, QTF_MAX_DIMS);
    uint64_t elems = 1;
    int overflow = 0;
    e->n_dims = (uint32_t)nd;
    for (size_t d = 0; d < nd; d++) {
        const json_t *v = json_array_get(shape, d);
        if (!get_uint(&e->dims[d], v))
            return qtf__error(QTF_E_SHAPE, "%s: tensor '%s': shape[%zu] must be an integer >= 0, "
                              "found %s", file, n, d, json_kind(v));
        if (!qtf__mul_u64(&elems, elems, e->dims[d])) overflow = 1;
    }
    uint64_t nbytes = 0;
    if (overflow || !qtf__mul_u64(&nbytes, elems, qtf_dtype_size(e->dtype)))
        return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s': product of shape times %zu bytes "
                          "overflows 64 bits", file, n, qtf_dtype_size(e->dtype));
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return qtf__error(QTF_E_OFFSET, "%s: tensor '%s': data_offsets must be an array [begin, "
                          "end], found %s", file, n, json_kind(offs));
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_array_get(offs, (size_t)k);
        if (!get_uint(k ? &e->end : &e->begin, v))
            return qtf__error(QTF_E_OFFSET, "%s: tensor '%s': data_offsets[%d] must be an integer "
                              ">= 0, found %s", file, n, k, json_kind(v));
    }
    if (e->end < e->begin)
        return qtf__error(QTF_E_OFFSET, "%s: tensor '%s': data_offsets [%llu, %llu) ends before "
                          "it begins", file, n, (unsigned long long)e->begin,
                          (unsigned long long)e->end);
    if (e->end - e->begin != nbytes)
        return qtf__error(QTF_E_SHAPE, "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu "
                          "bytes, expected %llu (%llu elements of %s)", file, n,
                          (unsigned long long)e->begin, (unsigned long long)e->end,
                          (unsigned long long)(e->end - e->begin), (unsigned long long)nbytes,
                          (unsigned long long)elems, qtf_dtype_name(e->dtype));
    return QTF_OK;
}

qtf_status qtf__st_parse_header(qtf__st_header *out, const char *file, const void *json,
                                size_t json_len, uint64_t data_size) {
    memset(out, 0, sizeof *out);
    out->header_len = json_len;
    out->data_start = 8 + (uint64_t)json_len;
    /* Measured first, without a tree: a hostile 84 MB header of tiny values
     * would otherwise cost gigabytes as a jansson DOM. */
    qtf_json_stats js;
    char hwhat[1024];
    snprintf(hwhat, sizeof hwhat, "%s: header", file);
    qtf_status cst = qtf_json_check(&js, json, json_len, hwhat, QTF__ST_MAX_HEADER_DEPTH,
                                    QTF__ST_MAX_HEADER_VALUES);
    if (cst == QTF_E_LIMIT) return cst;
    json_error_t jerr;
    json_t *root = json_loadb(json, json_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return qtf__error(QTF_E_PARSE, "%s: header JSON invalid at byte %llu (line %d column "
                          "%d): %s", file, (unsigned long long)(8 + (uint64_t)jerr.position),
                          jerr.line, jerr.column, jerr.text);
    qtf_status st = QTF_OK;
    if (!json_is_object(root)) {
        st = qtf__error(QTF_E_PARSE, "%s: header must be a JSON object, found %s", file,
                        json_kind(root));
        goto done;
    }
    size_t n = json_object_size(root);
    if (n > QTF_MAX_TENSORS + 1u) {
        st = qtf__error(QTF_E_LIMIT, "%s: header lists %zu tensors (limit %u)", file, n,
                        (unsigned)QTF_MAX_TENSORS);
        goto done;
    }
    out->entries = calloc(n ? n : 1, sizeof *out->entries);
    if (!out->entries) {
        st = qtf__error(QTF_E_NOMEM, "%s: out of memory for %zu header entries", file, n);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            st = parse_metadata(out, file, val);
            if (st) goto done;
            continue;
        }
        size_t klen = strlen(key);
        if (klen == 0) {
            st = qtf__error(QTF_E_UTF8, "%s: header has a tensor with an empty name", file);
            goto done;
        }
        if (klen > QTF_MAX_NAME_LEN) {
            char esc[QTF__ESC_CAP];
            st = qtf__error(QTF_E_LIMIT, "%s: tensor '%s': name is %zu bytes (limit %u)", file,
                            qtf__escape(esc, sizeof esc, key, klen), klen, QTF_MAX_NAME_LEN);
            goto done;
        }
        qtf__st_entry *e = &out->entries[out->n_entries];
        st = parse_entry(e, file, key, val);
        if (st) goto done;
        e->name = strdup(key);
        if (!e->name) {
            st = qtf__error(QTF_E_NOMEM, "%s: out of memory", file);
            goto done;
        }
        out->n_entries++;
    }
    qsort(out->entries, out->n_entries, sizeof *out->entries, cmp_entry);
    uint64_t pos = 0;
    for (uint64_t i = 0; i < out->n_entries; i++) {
        const qtf__st_entry *e = &out->entries[i];
        char esc[QTF__ESC_CAP];
        if (e->begin != pos) {
            const char *what = e->begin > pos ? "a hole" : "an overlap";
            if (i == 0)
                st = qtf__error(QTF_E_OFFSET, "%s: tensor '%s': data starts at %llu, expected 0 "
                                "(%s of %llu bytes at the start of the data region)", file,
                                qtf__escape(esc, sizeof esc, e->name, strlen(e->name)),
                                (unsigned long long)e->begin, what,
                                (unsigned long long)e->begin);
            else {
                char pesc[QTF__ESC_CAP];
                const char *prev = out->entries[i - 1].name;
                st = qtf__error(QTF_E_OFFSET, "%s: tensor '%s': data_offsets begin at %llu, "
                                "expected %llu where tensor '%s' ends (%s)", file,
                                qtf__escape(esc, sizeof esc, e->name, strlen(e->name)),
                                (unsigned long long)e->begin, (unsigned long long)pos,
                                qtf__escape(pesc, sizeof pesc, prev, strlen(prev)), what);
            }
            goto done;
        }
        pos = e->end;
    }
    if (pos != data_size) {
        if (pos > data_size)
            st = qtf__error(QTF_E_TRUNCATED, "%s: tensors need %llu data bytes after the header "
                            "(at offset %llu) but the file holds %llu", file,
                            (unsigned long long)pos, (unsigned long long)out->data_start,
                            (unsigned long long)data_size);
        else
            st = qtf__error(QTF_E_OFFSET, "%s: %llu trailing bytes after the last tensor (data "
                            "region is %llu bytes, tensors cover %llu)", file,
                            (unsigned long long)(data_size - pos), (unsigned long long)data_size,
                            (unsigned long long)pos);
        goto done;
    }
done:
    json_decref(root);
    if (st) qtf__st_header_free(out);
    return st;
}

/* Checks N against the rules and the file size; *json_len = N. */
static qtf_status check_header_len(uint64_t *json_len, const char *file, const unsigned char *p8,
                                   uint64_t file_size) {
    if (file_size < 8)
        return qtf__error(QTF_E_TRUNCATED, "%s: %llu bytes, too short for the 8-byte header "
                          "length of a safetensors file", file, (unsigned long long)file_size);
    uint64_t n = qtf__ld64(p8);
    if (n > QTF__ST_MAX_HEADER)
        return qtf__error(QTF_E_LIMIT, "%s: header length %llu exceeds the safetensors limit of "
                          "%u bytes", file, (unsigned long long)n, QTF__ST_MAX_HEADER);
    if (n > file_size - 8)
        return qtf__error(QTF_E_TRUNCATED, "%s: header length %llu + 8 exceeds the file size "
                          "%llu", file, (unsigned long long)n, (unsigned long long)file_size);
    if (n < 2)
        return qtf__error(QTF_E_PARSE, "%s: header length %llu is too small for a JSON object",
                          file, (unsigned long long)n);
    *json_len = n;
    return QTF_OK;
}

qtf_status qtf__st_parse_memory(qtf__st_header *out, const char *file, const void *buf,
                                size_t len) {
    memset(out, 0, sizeof *out);
    uint64_t n = 0;
    qtf_status st = check_header_len(&n, file, buf, len);
    if (st) return st;
    return qtf__st_parse_header(out, file, (const unsigned char *)buf + 8, (size_t)n,
                                len - 8 - n);
}

qtf_status qtf__st_load_file(qtf_source *s, uint32_t file_index) {
    const qtf__src_file *f = &s->files[file_index];
    unsigned char p8[8];
    uint64_t n = 0;
    qtf_status st = QTF_OK;
    if (f->size >= 8) st = qtf__pread_all(f->fd, p8, 8, 0, f->path);
    if (st) return st;
    st = check_header_len(&n, f->path, p8, f->size);
    if (st) return st;
    char *json = malloc((size_t)n);
    if (!json) return qtf__error(QTF_E_NOMEM, "%s: out of memory for a %llu-byte header",
                                 f->path, (unsigned long long)n);
    st = qtf__pread_all(f->fd, json, (size_t)n, 8, f->path);
    qtf__st_header h;
    if (!st) st = qtf__st_parse_header(&h, f->path, json, (size_t)n, f->size - 8 - n);
    free(json);
    if (st) return st;
    for (uint64_t i = 0; i < h.n_entries && !st; i++) {
        qtf__st_entry *e = &h.entries[i];
        st = qtf__source_add_tensor(s, e->name, e->dtype, e->n_dims, e->dims, file_index,
                                    h.data_start + e->begin);
        e->name = NULL; /* owned by the source now */
    }
    qtf__st_header_free(&h);
    return st;
}
