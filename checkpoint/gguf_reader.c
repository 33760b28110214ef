/* checkpoint/gguf_reader.c — opening a GGUF file: every header field, every
 * key/value record, every tensor info and the data layout are validated
 * before anything is trusted (gguf.h lists the rules and the named errors).
 *
 * The header is parsed through a reader that either looks at the whole file
 * (mmap or a caller buffer) or, for a metadata-only open, grows a private
 * copy with pread as the parser asks for more bytes. Because that copy can
 * move while it grows, the parser records absolute file offsets and turns
 * them into pointers only through g->hdr once parsing is done. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/names.h"
#include "checkpoint/gguf.h"

/* Smallest records on disk, used to bound counts by the bytes present before
 * anything is allocated: key length + 1-byte key + value type + 1-byte value;
 * name length + 1-byte name + n_dims (0) + type + offset. */
#define MIN_KV_RECORD 14u
#define MIN_TENSOR_RECORD 25u
#define GGUF_HEADER_FIXED 24u /* magic, version, tensor count, kv count */

typedef struct gg_kv {
    char *key;                  /* NUL-terminated copy */
    uint32_t key_len;
    qtf_type type;
    qtf_type elem_type;         /* ARRAY */
    uint64_t count;             /* ARRAY: elements */
    uint64_t val_off;           /* file offset of the value (arrays: first element) */
    uint64_t len;               /* STRING: bytes */
    uint64_t *str_offs;         /* ARRAY of STRING: file offset of each element's length */
    uint64_t rec_off;           /* file offset of the record */
} gg_kv;

struct qtf_gguf {
    char *name;
    qtf_gguf_info info;
    unsigned flags;
    const unsigned char *hdr;   /* header bytes, indexed by file offset */
    const unsigned char *base;  /* whole file; NULL on a metadata-only open */
    void *map;
    size_t map_len;
    unsigned char *owned;       /* metadata-only: the header copy */
    gg_kv *kv;
    qtf_gguf_tensor *tensors;
    qtf__name_index key_index;
    qtf__name_index tensor_index;
    uint64_t heap;              /* bytes requested from the allocator */
};

/* --- allocation with accounting --------------------------------------------- */

static void *gg_alloc(qtf_gguf *g, uint64_t n) {
    if (n > SIZE_MAX) return NULL;
    void *p = qtf__malloc((size_t)n);
    if (p) g->heap += n;
    return p;
}

static void *gg_calloc(qtf_gguf *g, uint64_t n, size_t size) {
    uint64_t total;
    if (!qtf__mul_u64(&total, n, size) || total > SIZE_MAX) return NULL;
    void *p = qtf__calloc((size_t)n, size);
    if (p) g->heap += total;
    return p;
}

/* --- the byte source ---------------------------------------------------------- */

typedef struct rd {
    qtf_gguf *g;
    const unsigned char *buf;   /* bytes [0, have) of the file */
    uint64_t have;
    uint64_t size;              /* file size */
    int fd;                     /* >= 0: grow buf with pread (metadata-only) */
    unsigned char *grow;
    uint64_t cap;
    uint64_t pos;
    const char *subj_kind;      /* "key" / "tensor" being parsed, or NULL */
    const char *subj;
} rd;

/* " key 'x'" / " tensor 'y'" naming what is being parsed, for messages. */
static const char *subject(char *buf, size_t cap, const rd *r) {
    char esc[QTF__ESC_CAP];
    if (!r->subj_kind) buf[0] = '\0';
    else snprintf(buf, cap, " %s '%s':", r->subj_kind,
                  qtf__escape(esc, sizeof esc, r->subj, strlen(r->subj)));
    return buf;
}

/* " 12" after a field name, or nothing for idx UINT64_MAX. */
static const char *index_str(char *buf, size_t cap, uint64_t idx) {
    if (idx == UINT64_MAX) buf[0] = '\0';
    else snprintf(buf, cap, " %" PRIu64, idx);
    return buf;
}

/* Makes [pos, pos + n) readable, or names what the file lacks. `what` and
 * `idx` describe the field for the message (idx UINT64_MAX: none). */
static qtf_status need(rd *r, uint64_t n, const char *what, uint64_t idx) {
    if (n > r->size - r->pos) {
        char num[32], sj[QTF__ESC_CAP + 16];
        return qtf__error(QTF_E_TRUNCATED, "%s:%s %s%s at offset %" PRIu64 " needs %" PRIu64
                          " bytes but the file ends at offset %" PRIu64 " (%" PRIu64
                          " bytes remain)", r->g->name, subject(sj, sizeof sj, r), what,
                          index_str(num, sizeof num, idx), r->pos, n, r->size, r->size - r->pos);
    }
    uint64_t end = r->pos + n;
    if (end <= r->have) return QTF_OK;
    /* metadata-only: grow the copy geometrically, never past the file */
    uint64_t cap = r->cap ? r->cap : 65536;
    while (cap < end) cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
    if (cap > r->size) cap = r->size;
    if (cap > SIZE_MAX)
        return qtf__error(QTF_E_NOMEM, "%s: header of %" PRIu64 " bytes does not fit this "
                          "address space", r->g->name, cap);
    unsigned char *p = qtf__realloc(r->grow, (size_t)cap);
    if (!p)
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " bytes for the header",
                          r->g->name, cap);
    r->g->heap += cap - r->cap;
    r->grow = p;
    r->cap = cap;
    qtf_status st = qtf__pread_all(r->fd, p + r->have, cap - r->have, r->have, r->g->name);
    if (st) return st;
    r->have = cap;
    r->buf = p;
    return QTF_OK;
}

static const unsigned char *at(const rd *r) { return r->buf + r->pos; }

static qtf_status take_u32(uint32_t *out, rd *r, const char *what, uint64_t idx) {
    qtf_status st = need(r, 4, what, idx);
    if (st) return st;
    *out = qtf__ld32(at(r));
    r->pos += 4;
    return QTF_OK;
}

static qtf_status take_u64(uint64_t *out, rd *r, const char *what, uint64_t idx) {
    qtf_status st = need(r, 8, what, idx);
    if (st) return st;
    *out = qtf__ld64(at(r));
    r->pos += 8;
    return QTF_OK;
}

/* A GGUF string (u64 length + bytes): checks the length against `max` and
 * the bytes left, leaves the bytes readable, and returns their offset. */
static qtf_status take_string(uint64_t *off, uint64_t *len, rd *r, uint64_t max,
                              const char *what, uint64_t idx) {
    uint64_t at0 = r->pos;
    qtf_status st = take_u64(len, r, what, idx);
    if (st) return st;
    if (*len > max) {
        char num[32], sj[QTF__ESC_CAP + 16];
        return qtf__error(QTF_E_LIMIT, "%s:%s %s%s at offset %" PRIu64 ": length %" PRIu64
                          " exceeds the limit %" PRIu64, r->g->name, subject(sj, sizeof sj, r),
                          what, index_str(num, sizeof num, idx), at0, *len, max);
    }
    st = need(r, *len, what, idx);
    if (st) return st;
    *off = r->pos;
    r->pos += *len;
    return QTF_OK;
}

/* --- key/value records ---------------------------------------------------------- */

/* Keys whose type llama.cpp fixes; a file giving them another type would make
 * its loader fail (or, in old readers, crash): refused at open. */
static const struct {
    const char *key;
    qtf_type type;
    qtf_type elem_type;
} typed_keys[] = {
    { "general.alignment", QTF_TYPE_U32, 0 },
    { "general.architecture", QTF_TYPE_STRING, 0 },
    { "general.type", QTF_TYPE_STRING, 0 },
    { "general.name", QTF_TYPE_STRING, 0 },
    { "general.file_type", QTF_TYPE_U32, 0 },
    { "general.quantization_version", QTF_TYPE_U32, 0 },
    { "tokenizer.ggml.model", QTF_TYPE_STRING, 0 },
    { "tokenizer.ggml.pre", QTF_TYPE_STRING, 0 },
    { "tokenizer.ggml.tokens", QTF_TYPE_ARRAY, QTF_TYPE_STRING },
    { "tokenizer.ggml.scores", QTF_TYPE_ARRAY, QTF_TYPE_F32 },
    { "tokenizer.ggml.token_type", QTF_TYPE_ARRAY, QTF_TYPE_I32 },
    { "tokenizer.ggml.merges", QTF_TYPE_ARRAY, QTF_TYPE_STRING },
    { "tokenizer.ggml.bos_token_id", QTF_TYPE_U32, 0 },
    { "tokenizer.ggml.eos_token_id", QTF_TYPE_U32, 0 },
    { "tokenizer.ggml.unknown_token_id", QTF_TYPE_U32, 0 },
    { "tokenizer.ggml.padding_token_id", QTF_TYPE_U32, 0 },
    { "tokenizer.ggml.seperator_token_id", QTF_TYPE_U32, 0 },
    { "tokenizer.chat_template", QTF_TYPE_STRING, 0 },
};

static const char *type_desc(char *buf, size_t cap, qtf_type type, qtf_type elem) {
    if (type == QTF_TYPE_ARRAY) snprintf(buf, cap, "array of %s", qtf_type_name(elem));
    else snprintf(buf, cap, "%s", qtf_type_name(type));
    return buf;
}

static qtf_status check_typed_key(const qtf_gguf *g, const gg_kv *kv) {
    for (size_t i = 0; i < sizeof typed_keys / sizeof typed_keys[0]; i++) {
        if (strcmp(typed_keys[i].key, kv->key) != 0) continue;
        if (typed_keys[i].type == kv->type &&
            (kv->type != QTF_TYPE_ARRAY || typed_keys[i].elem_type == kv->elem_type))
            return QTF_OK;
        char want[40], got[40];
        return qtf__error(QTF_E_TYPE, "%s: key '%s' at offset %" PRIu64 " must be %s, found %s",
                          g->name, kv->key, kv->rec_off,
                          type_desc(want, sizeof want, typed_keys[i].type, typed_keys[i].elem_type),
                          type_desc(got, sizeof got, kv->type, kv->elem_type));
    }
    return QTF_OK;
}

static void kv_name_of(const void *ctx, uint32_t item, const char **s, size_t *len) {
    const gg_kv *kv = ctx;
    *s = kv[item].key;
    *len = kv[item].key_len;
}

static void tensor_name_of(const void *ctx, uint32_t item, const char **s, size_t *len) {
    const qtf_gguf_tensor *t = ctx;
    *s = t[item].name;
    *len = t[item].name_len;
}

/* A key or tensor name: 1..max bytes of UTF-8 without NUL, copied. */
static qtf_status take_name(char **out, uint32_t *out_len, rd *r, uint64_t max,
                            const char *what, uint64_t idx) {
    uint64_t off, len, rec = r->pos;
    qtf_status st = take_string(&off, &len, r, max, what, idx);
    if (st) return st;
    size_t bad;
    if (len == 0)
        return qtf__error(QTF_E_UTF8, "%s: %s %" PRIu64 " at offset %" PRIu64 " is empty",
                          r->g->name, what, idx, rec);
    if (!qtf__utf8_check(r->buf + off, (size_t)len, &bad)) {
        char esc[QTF__ESC_CAP];
        return qtf__error(QTF_E_UTF8, "%s: %s %" PRIu64 " '%s' at offset %" PRIu64 ": byte %zu "
                          "is %s", r->g->name, what, idx,
                          qtf__escape(esc, sizeof esc, r->buf + off, (size_t)len), rec, bad,
                          r->buf[off + bad] ? "not valid UTF-8" : "NUL");
    }
    char *s = gg_alloc(r->g, len + 1);
    if (!s) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %s %" PRIu64, r->g->name, what, idx);
    memcpy(s, r->buf + off, (size_t)len);
    s[len] = '\0';
    *out = s;
    *out_len = (uint32_t)len;
    return QTF_OK;
}

static qtf_status check_value_type(const rd *r, uint32_t t, const char *key, uint64_t at0,
                                   const char *what) {
    if (t <= qtf_type_code(QTF_TYPE_F64)) return QTF_OK;
    return qtf__error(QTF_E_TYPE, "%s: key '%s': %s at offset %" PRIu64 " is %" PRIu32
                      ", expected 0..12 (GGUF value types)", r->g->name, key, what, at0, t);
}

static qtf_status parse_value(rd *r, gg_kv *kv) {
    qtf_gguf *g = r->g;
    qtf_status st;
    size_t fixed = qtf_type_size(kv->type);
    if (fixed) {
        kv->val_off = r->pos;
        st = need(r, fixed, "value", UINT64_MAX);
        if (st) return st;
        if (kv->type == QTF_TYPE_BOOL && *at(r) > 1)
            return qtf__error(QTF_E_VALUE, "%s: key '%s': bool at offset %" PRIu64 " is %u, "
                              "expected 0 or 1", g->name, kv->key, r->pos, *at(r));
        r->pos += fixed;
        return QTF_OK;
    }
    if (kv->type == QTF_TYPE_STRING)
        return take_string(&kv->val_off, &kv->len, r, QTF_GGUF_MAX_STRING_LEN,
                           "string value", UINT64_MAX);
    /* ARRAY */
    uint32_t et;
    uint64_t at0 = r->pos;
    st = take_u32(&et, r, "array element type", UINT64_MAX);
    if (st) return st;
    st = check_value_type(r, et, kv->key, at0, "array element type");
    if (st) return st;
    if (qtf_type_from_code(et) == QTF_TYPE_ARRAY)
        return qtf__error(QTF_E_TYPE, "%s: key '%s': nested array at offset %" PRIu64
                          " (GGUF arrays hold scalars or strings)", g->name, kv->key, at0);
    kv->elem_type = qtf_type_from_code(et);
    at0 = r->pos;
    st = take_u64(&kv->count, r, "array length", UINT64_MAX);
    if (st) return st;
    if (kv->count > QTF_GGUF_MAX_ARRAY_LEN)
        return qtf__error(QTF_E_LIMIT, "%s: key '%s': array length %" PRIu64 " at offset %" PRIu64
                          " exceeds the limit %llu", g->name, kv->key, kv->count, at0,
                          (unsigned long long)QTF_GGUF_MAX_ARRAY_LEN);
    kv->val_off = r->pos;
    size_t es = qtf_type_size(kv->elem_type);
    /* strings take at least their 8-byte length each */
    uint64_t min_bytes = kv->count * (es ? es : 8); /* count <= 2^30: no overflow */
    if (min_bytes > r->size - r->pos)
        return qtf__error(QTF_E_TRUNCATED, "%s: key '%s': array of %" PRIu64 " %s at offset %"
                          PRIu64 " needs at least %" PRIu64 " bytes but only %" PRIu64 " remain",
                          g->name, kv->key, kv->count, qtf_type_name(kv->elem_type), at0,
                          min_bytes, r->size - r->pos);
    if (es) {
        st = need(r, min_bytes, "array data", UINT64_MAX);
        if (st) return st;
        if (kv->elem_type == QTF_TYPE_BOOL)
            for (uint64_t j = 0; j < kv->count; j++)
                if (at(r)[j] > 1)
                    return qtf__error(QTF_E_VALUE, "%s: key '%s': bool element %" PRIu64
                                      " at offset %" PRIu64 " is %u, expected 0 or 1", g->name,
                                      kv->key, j, r->pos + j, at(r)[j]);
        r->pos += min_bytes;
        return QTF_OK;
    }
    if (kv->count) {
        kv->str_offs = gg_calloc(g, kv->count, sizeof *kv->str_offs);
        if (!kv->str_offs)
            return qtf__error(QTF_E_NOMEM, "%s: key '%s': cannot index %" PRIu64 " strings",
                              g->name, kv->key, kv->count);
    }
    for (uint64_t j = 0; j < kv->count; j++) {
        uint64_t off, len;
        kv->str_offs[j] = r->pos;
        st = take_string(&off, &len, r, QTF_GGUF_MAX_STRING_LEN, "array string", j);
        if (st) return st;
    }
    return QTF_OK;
}

static qtf_status parse_kvs(rd *r) {
    qtf_gguf *g = r->g;
    uint64_t n = g->info.kv_count;
    if (n == 0) return QTF_OK;
    g->kv = gg_calloc(g, n, sizeof *g->kv);
    if (!g->kv) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " records", g->name, n);
    qtf_status st = qtf__name_index_reserve(&g->key_index, n, kv_name_of, g->kv);
    if (st) return st;
    g->heap += (g->key_index.mask + 1) * sizeof(uint32_t);
    for (uint64_t i = 0; i < n; i++) {
        gg_kv *kv = &g->kv[i];
        kv->rec_off = r->pos;
        r->subj_kind = NULL;
        st = take_name(&kv->key, &kv->key_len, r, QTF_GGUF_MAX_KEY_LEN, "key of record", i);
        if (st) return st;
        uint32_t dup;
        if (!qtf__name_index_add(&g->key_index, kv->key, kv->key_len, (uint32_t)i, kv_name_of,
                                 g->kv, &dup))
            return qtf__error(QTF_E_DUPLICATE, "%s: key '%s' of record %" PRIu64 " at offset %"
                              PRIu64 " repeats record %" PRIu32 " at offset %" PRIu64, g->name,
                              kv->key, i, kv->rec_off, dup, g->kv[dup].rec_off);
        r->subj_kind = "key";
        r->subj = kv->key;
        uint32_t t;
        uint64_t at0 = r->pos;
        st = take_u32(&t, r, "value type", UINT64_MAX);
        if (st) return st;
        st = check_value_type(r, t, kv->key, at0, "value type");
        if (st) return st;
        kv->type = qtf_type_from_code(t);
        st = parse_value(r, kv);
        if (st) return st;
        st = check_typed_key(g, kv);
        if (st) return st;
    }
    r->subj_kind = NULL;
    return QTF_OK;
}

static const gg_kv *find_kv(const qtf_gguf *g, const char *key) {
    uint32_t item;
    if (!g->kv || !qtf__name_index_find(&g->key_index, key, strlen(key), kv_name_of, g->kv, &item))
        return NULL;
    return &g->kv[item];
}

/* general.alignment, and the tokenizer arrays that must line up. */
static qtf_status check_special_keys(qtf_gguf *g, const unsigned char *hdr) {
    g->info.alignment = QTF_GGUF_DEFAULT_ALIGNMENT;
    const gg_kv *kv = find_kv(g, "general.alignment");
    if (kv) {
        uint32_t a = qtf__ld32(hdr + kv->val_off);
        if (a == 0 || (a & (a - 1)) || a > QTF_GGUF_MAX_ALIGNMENT)
            return qtf__error(QTF_E_ALIGNMENT, "%s: general.alignment at offset %" PRIu64 " is %"
                              PRIu32 ", expected a power of two in 1..%u", g->name, kv->val_off, a,
                              QTF_GGUF_MAX_ALIGNMENT);
        g->info.alignment = a;
    }
    const gg_kv *tokens = find_kv(g, "tokenizer.ggml.tokens");
    static const char *const parallel[] = { "tokenizer.ggml.scores", "tokenizer.ggml.token_type" };
    for (size_t i = 0; i < 2; i++) {
        const gg_kv *o = find_kv(g, parallel[i]);
        if (!o) continue;
        if (!tokens)
            return qtf__error(QTF_E_VALUE, "%s: key '%s' at offset %" PRIu64 " without "
                              "tokenizer.ggml.tokens", g->name, parallel[i], o->rec_off);
        if (o->count != tokens->count)
            return qtf__error(QTF_E_VALUE, "%s: key '%s' at offset %" PRIu64 " has %" PRIu64
                              " elements, expected %" PRIu64 " (one per token)", g->name,
                              parallel[i], o->rec_off, o->count, tokens->count);
    }
    return QTF_OK;
}

/* --- tensor infos ----------------------------------------------------------------- */

static qtf_status parse_tensor(rd *r, uint64_t i) {
    qtf_gguf *g = r->g;
    qtf_gguf_tensor *t = &g->tensors[i];
    t->info_offset = r->pos;
    uint64_t len0 = r->pos;
    r->subj_kind = NULL;
    uint64_t name_len;
    qtf_status st = need(r, 8, "name length of tensor", i);
    if (st) return st;
    name_len = qtf__ld64(at(r));
    if (name_len > QTF_GGUF_MAX_NAME_LEN && name_len <= r->size - r->pos - 8) {
        char esc[QTF__ESC_CAP];
        uint64_t show = name_len > 100 ? 100 : name_len;
        st = need(r, 8 + show, "name of tensor", i);
        if (st) return st;
        return qtf__error(QTF_E_LIMIT, "%s: tensor %" PRIu64 " at offset %" PRIu64 ": name '%s' "
                          "is %" PRIu64 " bytes, ggml allows at most %u", g->name, i, len0,
                          qtf__escape(esc, sizeof esc, at(r) + 8, (size_t)show), name_len,
                          QTF_GGUF_MAX_NAME_LEN);
    }
    char *name;
    st = take_name(&name, &t->name_len, r, QTF_GGUF_MAX_NAME_LEN, "name of tensor", i);
    if (st) return st;
    t->name = name;
    r->subj_kind = "tensor";
    r->subj = name;
    uint32_t dup;
    if (!qtf__name_index_add(&g->tensor_index, t->name, t->name_len, (uint32_t)i, tensor_name_of,
                             g->tensors, &dup))
        return qtf__error(QTF_E_DUPLICATE, "%s: tensor %" PRIu64 " at offset %" PRIu64 " is named '%s'"
                          " like tensor %" PRIu32 " at offset %" PRIu64, g->name, i, t->info_offset,
                          t->name, dup, g->tensors[dup].info_offset);
    uint64_t at0 = r->pos;
    st = take_u32(&t->n_dims, r, "n_dims", UINT64_MAX);
    if (st) return st;
    if (t->n_dims > QTF_GGUF_MAX_DIMS)
        return qtf__error(QTF_E_SHAPE, "%s: tensor '%s': n_dims at offset %" PRIu64 " is %" PRIu32
                          ", expected at most %d", g->name, t->name, at0, t->n_dims,
                          QTF_GGUF_MAX_DIMS);
    t->n_elements = 1;
    int overflow = 0;
    for (uint32_t d = 0; d < QTF_GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        at0 = r->pos;
        st = take_u64(&t->ne[d], r, "ne", d);
        if (st) return st;
        if (t->ne[d] > INT64_MAX)
            return qtf__error(QTF_E_SHAPE, "%s: tensor '%s': ne[%" PRIu32 "] at offset %" PRIu64
                              " is %" PRId64 ", expected >= 0", g->name, t->name, d, at0,
                              (int64_t)t->ne[d]);
        if (!qtf__mul_u64(&t->n_elements, t->n_elements, t->ne[d]) || t->n_elements > INT64_MAX)
            overflow = 1;
    }
    if (overflow)
        return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s' at offset %" PRIu64 ": element count "
                          "%" PRIu64 " x %" PRIu64 " x %" PRIu64 " x %" PRIu64 " overflows int64",
                          g->name, t->name, t->info_offset, t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
    at0 = r->pos;
    st = take_u32(&t->type, r, "ggml type", UINT64_MAX);
    if (st) return st;
    if (!qtf_ggml_type_get(t->type))
        return qtf__error(QTF_E_UNKNOWN_ENCODING, "%s: tensor '%s': ggml type id %" PRIu32
                          " at offset %" PRIu64 " is not known (known: 0..39 except the removed "
                          "4, 5, 31..33, 36..38)", g->name, t->name, t->type, at0);
    st = qtf_ggml_nbytes(&t->nbytes, t->type, t->n_dims, t->ne);
    if (st) {
        qtf__error_prefix("%s: tensor '%s' at offset %" PRIu64 ": ", g->name, t->name,
                          t->info_offset);
        return st;
    }
    return take_u64(&t->offset, r, "data offset", UINT64_MAX);
}

static qtf_status parse_tensors(rd *r) {
    qtf_gguf *g = r->g;
    uint64_t n = g->info.tensor_count;
    if (n == 0) return QTF_OK;
    g->tensors = gg_calloc(g, n, sizeof *g->tensors);
    if (!g->tensors)
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " tensor infos", g->name, n);
    qtf_status st = qtf__name_index_reserve(&g->tensor_index, n, tensor_name_of, g->tensors);
    if (st) return st;
    g->heap += (g->tensor_index.mask + 1) * sizeof(uint32_t);
    for (uint64_t i = 0; i < n; i++) {
        st = parse_tensor(r, i);
        if (st) return st;
    }
    return QTF_OK;
}

/* Offsets must be exactly the running padded total, as ggml's reader
 * demands: no holes, no overlap, no reordering. The data section must be
 * complete (padding of the last tensor included) and nothing may follow. */
static qtf_status check_layout(qtf_gguf *g) {
    qtf_gguf_info *in = &g->info;
    uint64_t a = in->alignment;
    if (!qtf__align_up_u64(&in->data_offset, in->header_size, a))
        return qtf__error(QTF_E_OVERFLOW, "%s: data offset overflows", g->name);
    uint64_t running = 0;
    for (uint64_t i = 0; i < in->tensor_count; i++) {
        const qtf_gguf_tensor *t = &g->tensors[i];
        if (t->offset % a)
            return qtf__error(QTF_E_OFFSET, "%s: tensor '%s': data offset %" PRIu64 " (info at "
                              "offset %" PRIu64 ") is not a multiple of the alignment %" PRIu64,
                              g->name, t->name, t->offset, t->info_offset, a);
        if (t->offset != running) {
            const char *why = t->offset < running ? "overlaps the tensor before it"
                              : t->offset > in->file_size ? "points beyond the end of the file"
                                                          : "leaves a hole after the tensor before it";
            return qtf__error(QTF_E_OFFSET, "%s: tensor '%s': data offset %" PRIu64 " (info at "
                              "offset %" PRIu64 ") %s: expected %" PRIu64 " (the padded end of "
                              "the tensors before it)", g->name, t->name, t->offset,
                              t->info_offset, why, running);
        }
        uint64_t padded;
        if (!qtf__align_up_u64(&padded, t->nbytes, a) || !qtf__add_u64(&running, running, padded))
            return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s': data end overflows", g->name,
                              t->name);
    }
    in->data_size = running;
    uint64_t end;
    if (!qtf__add_u64(&end, in->data_offset, running))
        return qtf__error(QTF_E_OVERFLOW, "%s: data offset %" PRIu64 " + data size %" PRIu64
                          " overflows", g->name, in->data_offset, running);
    if (in->tensor_count == 0 && in->file_size >= in->header_size && in->file_size <= end)
        return QTF_OK; /* no data: the header padding may be absent */
    if (in->file_size < end) {
        for (uint64_t i = 0; i < in->tensor_count; i++) {
            const qtf_gguf_tensor *t = &g->tensors[i];
            uint64_t t_end = in->data_offset + t->offset + t->nbytes; /* <= end */
            if (t_end > in->file_size)
                return qtf__error(QTF_E_TRUNCATED, "%s: tensor '%s' (%s, %" PRIu64 " bytes) needs "
                                  "the file to reach offset %" PRIu64 " but it ends at %" PRIu64,
                                  g->name, t->name, qtf_ggml_type_name(t->type), t->nbytes,
                                  t_end, in->file_size);
        }
        return qtf__error(QTF_E_TRUNCATED, "%s: the data section must end at offset %" PRIu64
                          " (padding to %" PRIu64 " included) but the file ends at %" PRIu64,
                          g->name, end, a, in->file_size);
    }
    if (in->file_size > end)
        return qtf__error(QTF_E_OFFSET, "%s: %" PRIu64 " trailing bytes after the data section, "
                          "which ends at offset %" PRIu64, g->name, in->file_size - end, end);
    return QTF_OK;
}

/* --- the header ---------------------------------------------------------------------- */

int qtf_gguf_has_magic(const void *buf, size_t len) {
    return buf && len >= 4 && (memcmp(buf, "GGUF", 4) == 0 || memcmp(buf, "FUGG", 4) == 0);
}

static qtf_status parse(rd *r) {
    qtf_gguf *g = r->g;
    qtf_gguf_info *in = &g->info;
    in->file_size = r->size;
    if (r->size < 4 || !qtf_gguf_has_magic(r->buf, 4)) {
        if (r->size < 4 && memcmp(r->buf, "GGUF", (size_t)r->size) == 0)
            return qtf__error(QTF_E_TRUNCATED, "%s: file is %" PRIu64 " bytes, shorter than the "
                              "GGUF magic", g->name, r->size);
        unsigned char m[4] = { 0 };
        memcpy(m, r->buf, r->size < 4 ? (size_t)r->size : 4);
        return qtf__error(QTF_E_MAGIC, "%s: not a GGUF file (magic at offset 0 is %02X %02X %02X "
                          "%02X, expected 47 47 55 46 \"GGUF\")", g->name, m[0], m[1], m[2], m[3]);
    }
    r->pos = 4;
    uint32_t v;
    qtf_status st = take_u32(&v, r, "version", UINT64_MAX);
    if (st) return st;
    uint32_t swapped = __builtin_bswap32(v);
    if (memcmp(r->buf, "FUGG", 4) == 0 || ((v & 0xFFFF) == 0 && swapped >= 1 && swapped <= 3))
        return qtf__error(QTF_E_BYTE_ORDER, "%s: big-endian GGUF (version at offset 4 reads 0x%08"
                          PRIX32 " = %" PRIu32 " byte-swapped): only little-endian files are "
                          "supported", g->name, v, swapped);
    if (v != 2 && v != 3)
        return qtf__error(QTF_E_VERSION, "%s: GGUF version %" PRIu32 " at offset 4 is not "
                          "supported (expected 2 or 3)", g->name, v);
    in->version = v;
    st = take_u64(&in->tensor_count, r, "tensor count", UINT64_MAX);
    if (st) return st;
    st = take_u64(&in->kv_count, r, "key/value count", UINT64_MAX);
    if (st) return st;
    if (in->tensor_count > QTF_GGUF_MAX_TENSORS)
        return qtf__error(QTF_E_LIMIT, "%s: tensor count %" PRIu64 " at offset 8 exceeds the "
                          "limit %u", g->name, in->tensor_count, QTF_GGUF_MAX_TENSORS);
    if (in->kv_count > QTF_GGUF_MAX_KV)
        return qtf__error(QTF_E_LIMIT, "%s: key/value count %" PRIu64 " at offset 16 exceeds the "
                          "limit %u", g->name, in->kv_count, QTF_GGUF_MAX_KV);
    /* both counts are below 2^24, so this cannot overflow */
    uint64_t min = in->kv_count * MIN_KV_RECORD + in->tensor_count * MIN_TENSOR_RECORD;
    if (min > r->size - GGUF_HEADER_FIXED)
        return qtf__error(QTF_E_TRUNCATED, "%s: %" PRIu64 " key/value records and %" PRIu64
                          " tensor infos need at least %" PRIu64 " bytes after offset %u, the file "
                          "has %" PRIu64, g->name, in->kv_count, in->tensor_count, min,
                          GGUF_HEADER_FIXED, r->size - GGUF_HEADER_FIXED);
    st = parse_kvs(r);
    if (st) return st;
    st = parse_tensors(r);
    if (st) return st;
    in->header_size = r->pos;
    st = check_special_keys(g, r->buf);
    if (st) return st;
    return check_layout(g);
}

/* --- open / close -------------------------------------------------------------------- */

static qtf_status new_gguf(qtf_gguf **out, const char *name, unsigned flags) {
    if (flags & ~QTF_GGUF_OPEN_METADATA_ONLY)
        return qtf__error(QTF_E_INVALID_ARG, "%s: unknown open flags 0x%x", name, flags);
    qtf_gguf *g = qtf__calloc(1, sizeof *g);
    if (!g) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate the file object", name);
    g->heap = sizeof *g;
    size_t n = strlen(name);
    g->name = gg_alloc(g, n + 1);
    if (!g->name) {
        free(g);
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate the file name", name);
    }
    memcpy(g->name, name, n + 1);
    g->flags = flags;
    qtf__name_index_init(&g->key_index);
    qtf__name_index_init(&g->tensor_index);
    *out = g;
    return QTF_OK;
}

static qtf_status open_buffer(qtf_gguf *g, const unsigned char *buf, uint64_t len) {
    rd r = { .g = g, .buf = buf, .have = len, .size = len, .fd = -1 };
    qtf_status st = parse(&r);
    if (st) return st;
    g->hdr = buf;
    if (!(g->flags & QTF_GGUF_OPEN_METADATA_ONLY)) g->base = buf;
    return QTF_OK;
}

/* fd: a regular file of `size` bytes (qtf__parse_path). */
static qtf_status open_fd(void *ctx, int fd, uint64_t size) {
    qtf_gguf *g = ctx;
    static const unsigned char empty[4];
    if (g->flags & QTF_GGUF_OPEN_METADATA_ONLY) {
        rd r = { .g = g, .buf = empty, .have = 0, .size = size, .fd = fd };
        /* the magic and version are needed at once; a shorter file is
         * described by parse() from the bytes it has */
        qtf_status st = need(&r, size < GGUF_HEADER_FIXED ? size : GGUF_HEADER_FIXED, "header",
                             UINT64_MAX);
        if (st == QTF_OK) st = parse(&r);
        g->owned = r.grow;
        g->hdr = r.buf;
        return st;
    }
    if (size == 0) return open_buffer(g, empty, 0); /* mmap of 0 bytes fails */
    void *m;
    qtf_status st = qtf__map_readonly(&m, fd, size, g->name);
    if (st) return st;
    g->map = m;
    g->map_len = (size_t)size;
    return open_buffer(g, m, size);
}

qtf_status qtf_gguf_open(qtf_gguf **out, const char *path, unsigned flags) {
    if (!out || !path) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_open: NULL argument");
    *out = NULL;
    qtf_gguf *g;
    qtf_status st = new_gguf(&g, path, flags);
    if (st) return st;
    st = qtf__parse_path(path, open_fd, g);
    if (st) {
        qtf_gguf_close(g);
        return st;
    }
    *out = g;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_gguf_open_memory(qtf_gguf **out, const void *buf, size_t len, const char *name,
                                unsigned flags) {
    if (!out || (!buf && len))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_open_memory: NULL argument");
    *out = NULL;
    if (!name) name = "<memory>";
    qtf_gguf *g;
    qtf_status st = new_gguf(&g, name, flags);
    if (st) return st;
    static const unsigned char empty[4];
    st = open_buffer(g, buf ? buf : empty, len);
    if (st) {
        qtf_gguf_close(g);
        return st;
    }
    *out = g;
    qtf__error_clear();
    return QTF_OK;
}

void qtf_gguf_close(qtf_gguf *g) {
    if (!g) return;
    if (g->kv) {
        for (uint64_t i = 0; i < g->info.kv_count; i++) {
            free(g->kv[i].key);
            free(g->kv[i].str_offs);
        }
        free(g->kv);
    }
    if (g->tensors) {
        for (uint64_t i = 0; i < g->info.tensor_count; i++) free((char *)g->tensors[i].name);
        free(g->tensors);
    }
    qtf__name_index_free(&g->key_index);
    qtf__name_index_free(&g->tensor_index);
    free(g->owned);
    if (g->map) munmap(g->map, g->map_len);
    free(g->name);
    free(g);
}

int qtf_gguf_file_is_gguf(const char *path) {
    if (!path) return 0;
    int fd;
    uint64_t size;
    if (qtf__open_regular(&fd, &size, path)) {
        qtf__error_clear();
        return 0;
    }
    unsigned char m[4];
    int ok = size >= 4 && pread(fd, m, 4, 0) == 4 && qtf_gguf_has_magic(m, 4);
    close(fd);
    return ok;
}

const qtf_gguf_info *qtf_gguf_get_info(const qtf_gguf *g) { return g ? &g->info : NULL; }
const char *qtf_gguf_name(const qtf_gguf *g) { return g ? g->name : NULL; }
uint64_t qtf_gguf_heap_bytes(const qtf_gguf *g) { return g ? g->heap : 0; }

/* --- metadata access --------------------------------------------------------------- */

uint64_t qtf_gguf_kv_count(const qtf_gguf *g) { return g ? g->info.kv_count : 0; }

const char *qtf_gguf_kv_key(const qtf_gguf *g, uint64_t i) {
    return g && i < g->info.kv_count ? g->kv[i].key : NULL;
}

uint64_t qtf_gguf_kv_offset(const qtf_gguf *g, uint64_t i) {
    return g && i < g->info.kv_count ? g->kv[i].rec_off : 0;
}

qtf_status qtf_gguf_kv_value(qtf_value *out, const qtf_gguf *g, uint64_t i) {
    if (!out || !g) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_kv_value: NULL argument");
    if (i >= g->info.kv_count)
        return qtf__error(QTF_E_NOT_FOUND, "%s: no key/value record %" PRIu64 " (%" PRIu64 " records)",
                          g->name, i, g->info.kv_count);
    const gg_kv *kv = &g->kv[i];
    memset(out, 0, sizeof *out);
    out->type = kv->type;
    if (kv->type == QTF_TYPE_STRING) {
        out->str = (const char *)g->hdr + kv->val_off;
        out->len = kv->len;
    } else if (kv->type == QTF_TYPE_ARRAY) {
        out->elem_type = kv->elem_type;
        out->count = kv->count;
        if (kv->elem_type != QTF_TYPE_STRING) out->data = g->hdr + kv->val_off;
    } else {
        qtf__value_load_scalar(out, kv->type, g->hdr + kv->val_off);
    }
    return QTF_OK;
}

qtf_status qtf_gguf_kv_find(uint64_t *out_index, const qtf_gguf *g, const char *key) {
    if (!out_index || !g || !key) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_kv_find: NULL argument");
    const gg_kv *kv = find_kv(g, key);
    if (!kv) {
        char esc[QTF__ESC_CAP];
        return qtf__error(QTF_E_NOT_FOUND, "%s: no key '%s'", g->name,
                          qtf__escape(esc, sizeof esc, key, strlen(key)));
    }
    *out_index = (uint64_t)(kv - g->kv);
    return QTF_OK;
}

qtf_status qtf_gguf_array_elem(qtf_value *out, const qtf_gguf *g, uint64_t i, uint64_t j) {
    if (!out || !g) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_array_elem: NULL argument");
    if (i >= g->info.kv_count)
        return qtf__error(QTF_E_NOT_FOUND, "%s: no key/value record %" PRIu64, g->name, i);
    const gg_kv *kv = &g->kv[i];
    if (kv->type != QTF_TYPE_ARRAY)
        return qtf__error(QTF_E_TYPE_MISMATCH, "%s: key '%s' is %s, not an array", g->name,
                          kv->key, qtf_type_name(kv->type));
    if (j >= kv->count)
        return qtf__error(QTF_E_NOT_FOUND, "%s: key '%s': element %" PRIu64 " of %" PRIu64,
                          g->name, kv->key, j, kv->count);
    memset(out, 0, sizeof *out);
    if (kv->elem_type == QTF_TYPE_STRING) {
        out->type = QTF_TYPE_STRING;
        out->len = qtf__ld64(g->hdr + kv->str_offs[j]);
        out->str = (const char *)g->hdr + kv->str_offs[j] + 8;
    } else {
        qtf__value_load_scalar(out, kv->elem_type, g->hdr + kv->val_off + j * qtf_type_size(kv->elem_type));
    }
    return QTF_OK;
}

static qtf_status get_value(qtf_value *v, uint64_t *idx, const qtf_gguf *g, const char *key,
                            const char *fn) {
    if (!g || !key) return qtf__error(QTF_E_INVALID_ARG, "%s: NULL argument", fn);
    uint64_t i;
    qtf_status st = qtf_gguf_kv_find(&i, g, key);
    if (st) return st;
    if (idx) *idx = i;
    return qtf_gguf_kv_value(v, g, i);
}

static qtf_status mismatch(const qtf_gguf *g, const char *key, const char *want, const qtf_value *v) {
    char got[40];
    return qtf__error(QTF_E_TYPE_MISMATCH, "%s: key '%s' is %s, expected %s", g->name, key,
                      type_desc(got, sizeof got, v->type, v->elem_type), want);
}

static int is_unsigned(qtf_type t) {
    return t == QTF_TYPE_U8 || t == QTF_TYPE_U16 || t == QTF_TYPE_U32 || t == QTF_TYPE_U64;
}
static int is_signed(qtf_type t) {
    return t == QTF_TYPE_I8 || t == QTF_TYPE_I16 || t == QTF_TYPE_I32 || t == QTF_TYPE_I64;
}

qtf_status qtf_gguf_get_u64(uint64_t *out, const qtf_gguf *g, const char *key) {
    qtf_value v;
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_get_u64: NULL argument");
    qtf_status st = get_value(&v, NULL, g, key, "qtf_gguf_get_u64");
    if (st) return st;
    if (is_unsigned(v.type)) *out = v.num.u64;
    else if (is_signed(v.type) && v.num.i64 >= 0) *out = (uint64_t)v.num.i64;
    else return mismatch(g, key, "a non-negative integer", &v);
    return QTF_OK;
}

qtf_status qtf_gguf_get_i64(int64_t *out, const qtf_gguf *g, const char *key) {
    qtf_value v;
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_get_i64: NULL argument");
    qtf_status st = get_value(&v, NULL, g, key, "qtf_gguf_get_i64");
    if (st) return st;
    if (is_signed(v.type)) *out = v.num.i64;
    else if (is_unsigned(v.type) && v.num.u64 <= INT64_MAX) *out = (int64_t)v.num.u64;
    else return mismatch(g, key, "an integer representable as i64", &v);
    return QTF_OK;
}

qtf_status qtf_gguf_get_f64(double *out, const qtf_gguf *g, const char *key) {
    qtf_value v;
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_get_f64: NULL argument");
    qtf_status st = get_value(&v, NULL, g, key, "qtf_gguf_get_f64");
    if (st) return st;
    if (v.type != QTF_TYPE_F32 && v.type != QTF_TYPE_F64) return mismatch(g, key, "F32 or F64", &v);
    *out = v.num.f64;
    return QTF_OK;
}

qtf_status qtf_gguf_get_bool(int *out, const qtf_gguf *g, const char *key) {
    qtf_value v;
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_get_bool: NULL argument");
    qtf_status st = get_value(&v, NULL, g, key, "qtf_gguf_get_bool");
    if (st) return st;
    if (v.type != QTF_TYPE_BOOL) return mismatch(g, key, "BOOL", &v);
    *out = (int)v.num.u64;
    return QTF_OK;
}

qtf_status qtf_gguf_get_string(const char **out, uint64_t *out_len, const qtf_gguf *g,
                               const char *key) {
    qtf_value v;
    if (!out || !out_len) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_get_string: NULL argument");
    qtf_status st = get_value(&v, NULL, g, key, "qtf_gguf_get_string");
    if (st) return st;
    if (v.type != QTF_TYPE_STRING) return mismatch(g, key, "STRING", &v);
    *out = v.str;
    *out_len = v.len;
    return QTF_OK;
}

qtf_status qtf_gguf_get_array(qtf_value *out, uint64_t *out_index, const qtf_gguf *g,
                              const char *key, qtf_type elem_type) {
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_get_array: NULL argument");
    uint64_t i;
    qtf_status st = get_value(out, &i, g, key, "qtf_gguf_get_array");
    if (st) return st;
    if (out->type != QTF_TYPE_ARRAY || out->elem_type != elem_type) {
        char want[40];
        return mismatch(g, key, type_desc(want, sizeof want, QTF_TYPE_ARRAY, elem_type), out);
    }
    if (out_index) *out_index = i;
    return QTF_OK;
}

/* --- tensors ------------------------------------------------------------------------ */

uint64_t qtf_gguf_tensor_count(const qtf_gguf *g) { return g ? g->info.tensor_count : 0; }

const qtf_gguf_tensor *qtf_gguf_tensor_get(const qtf_gguf *g, uint64_t i) {
    return g && i < g->info.tensor_count ? &g->tensors[i] : NULL;
}

qtf_status qtf_gguf_tensor_find(uint64_t *out_index, const qtf_gguf *g, const char *name) {
    if (!out_index || !g || !name)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_tensor_find: NULL argument");
    uint32_t item;
    if (!g->tensors || !qtf__name_index_find(&g->tensor_index, name, strlen(name), tensor_name_of,
                                             g->tensors, &item)) {
        char esc[QTF__ESC_CAP];
        return qtf__error(QTF_E_NOT_FOUND, "%s: no tensor '%s'", g->name,
                          qtf__escape(esc, sizeof esc, name, strlen(name)));
    }
    *out_index = item;
    return QTF_OK;
}

qtf_status qtf_gguf_tensor_data(const void **out, uint64_t *out_size, const qtf_gguf *g,
                                uint64_t i) {
    if (!out || !out_size || !g)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_tensor_data: NULL argument");
    if (i >= g->info.tensor_count)
        return qtf__error(QTF_E_NOT_FOUND, "%s: no tensor %" PRIu64 " (%" PRIu64 " tensors)",
                          g->name, i, g->info.tensor_count);
    if (!g->base)
        return qtf__error(QTF_E_STATE, "%s: tensor '%s': opened metadata-only, no data access",
                          g->name, g->tensors[i].name);
    *out = g->base + g->info.data_offset + g->tensors[i].offset;
    *out_size = g->tensors[i].nbytes;
    return QTF_OK;
}
