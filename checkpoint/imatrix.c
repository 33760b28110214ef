/* checkpoint/imatrix.c — reading llama.cpp importance matrices (imatrix.h):
 * the GGUF form through the hostile-safe GGUF reader, the legacy .dat form
 * with its own bounds-checked parser, both ending in the same per-weight
 * mean vectors that llama-quantize computes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/gguf.h"
#include "checkpoint/imatrix.h"
#include "common/common.h"

#define MAX_NAME_LEN 65535u
/* i32 name length + 1-byte name + i32 ncall + i32 nval + one f32 */
#define MIN_LEGACY_ENTRY 17u

struct qtf_imatrix {
    char *file;
    qtf_imatrix_format format;
    qtf_imatrix_entry *entries;
    uint64_t n, cap;
    const qtf_imatrix_entry **sorted;   /* by name, for lookups */
    uint32_t chunk_count;
};

static int cmp_entry_ptr(const void *a, const void *b) {
    const qtf_imatrix_entry *x = *(const qtf_imatrix_entry *const *)a;
    const qtf_imatrix_entry *y = *(const qtf_imatrix_entry *const *)b;
    return strcmp(x->name, y->name);
}

static qtf_imatrix_entry *add_entry(qtf_imatrix *m, const char *name, size_t name_len,
                                    uint64_t n) {
    if (m->n == m->cap) {
        uint64_t cap = m->cap ? m->cap * 2 : 64;
        qtf_imatrix_entry *e = qtf__realloc(m->entries, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        m->entries = e;
        m->cap = cap;
    }
    qtf_imatrix_entry *e = &m->entries[m->n];
    memset(e, 0, sizeof *e);
    char *nm = qtf__malloc(name_len + 1);
    float *v = n <= SIZE_MAX / sizeof(float) ? qtf__malloc((size_t)n * sizeof(float)) : NULL;
    if (!nm || !v) {
        free(nm);
        free(v);
        return NULL;
    }
    memcpy(nm, name, name_len);
    nm[name_len] = '\0';
    e->name = nm;
    e->values = v;
    e->n = n;
    m->n++;
    return e;
}

/* Sum (finite, >= 0) -> mean, llama-quantize's float division. */
static qtf_status check_sum(const qtf_imatrix *m, const char *name, uint64_t j, float s) {
    if (isnan(s) || isinf(s))
        return qtf__error(QTF_E_NUMERIC, "%s: importance of '%s': value %" PRIu64 " is %g, "
                          "expected a finite sum of squares", m->file, name, j, (double)s);
    if (s < 0.0f)
        return qtf__error(QTF_E_VALUE, "%s: importance of '%s': value %" PRIu64 " is %g, a sum "
                          "of squares cannot be negative", m->file, name, j, (double)s);
    return QTF_OK;
}

static qtf_status check_not_all_zero(const qtf_imatrix *m, const qtf_imatrix_entry *e) {
    for (uint64_t j = 0; j < e->n; j++)
        if (e->values[j] != 0.0f) return QTF_OK;
    return qtf__error(QTF_E_VALUE, "%s: importance of '%s': all %" PRIu64 " values are zero (the "
                      "weight never saw a non-zero input)", m->file, e->name, e->n);
}

/* --- GGUF ------------------------------------------------------------------------ */

static int has_suffix(const char *s, size_t len, const char *suf) {
    size_t n = strlen(suf);
    return len > n && memcmp(s + len - n, suf, n) == 0;
}

static qtf_status tensor_f32(const unsigned char **out, const qtf_gguf *g, const qtf_imatrix *m,
                             uint64_t i, const char *weight) {
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
    if (t->type != QTF_GGML_F32)
        return qtf__error(QTF_E_TYPE, "%s: importance of '%s': tensor '%s' is %s, expected F32",
                          m->file, weight, t->name, qtf_ggml_type_name(t->type));
    const void *p;
    uint64_t n;
    qtf_status st = qtf_gguf_tensor_data(&p, &n, g, i);
    if (st) return st;
    *out = p; /* read with ld_f32: nothing assumes 4-byte alignment */
    return QTF_OK;
}

static float ld_f32(const unsigned char *base, uint64_t j) {
    uint32_t u = qtf__ld32(base + 4 * j);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static qtf_status gguf_entry(qtf_imatrix *m, const qtf_gguf *g, uint64_t i_sum2) {
    const qtf_gguf_tensor *ts = qtf_gguf_tensor_get(g, i_sum2);
    size_t wl = ts->name_len - strlen(".in_sum2");
    char weight[QTF_GGUF_MAX_NAME_LEN + 1], other[QTF_GGUF_MAX_NAME_LEN + 16];
    memcpy(weight, ts->name, wl);
    weight[wl] = '\0';
    uint64_t i_counts, i_sum;
    snprintf(other, sizeof other, "%s.counts", weight);
    if (qtf_gguf_tensor_find(&i_counts, g, other) != QTF_OK)
        return qtf__error(QTF_E_NOT_FOUND, "%s: importance of '%s': tensor '%s' has no '%s'",
                          m->file, weight, ts->name, other);
    const qtf_gguf_tensor *tc = qtf_gguf_tensor_get(g, i_counts);
    uint64_t n = ts->n_elements, ncounts = tc->n_elements;
    if (n == 0 || ncounts == 0 || n % ncounts)
        return qtf__error(QTF_E_SHAPE, "%s: importance of '%s': %" PRIu64 " sums and %" PRIu64
                          " counts (the sums must be a non-zero multiple of the counts)", m->file,
                          weight, n, ncounts);
    snprintf(other, sizeof other, "%s.in_sum", weight);
    if (qtf_gguf_tensor_find(&i_sum, g, other) == QTF_OK) {
        const qtf_gguf_tensor *tm = qtf_gguf_tensor_get(g, i_sum);
        if (tm->n_elements != n || tm->type != QTF_GGML_F32)
            return qtf__error(QTF_E_SHAPE, "%s: importance of '%s': '%s' has %" PRIu64 " %s "
                              "values, expected %" PRIu64 " F32 like the sums", m->file, weight,
                              tm->name, tm->n_elements, qtf_ggml_type_name(tm->type), n);
    }
    const unsigned char *sums, *counts;
    qtf_status st = tensor_f32(&sums, g, m, i_sum2, weight);
    if (!st) st = tensor_f32(&counts, g, m, i_counts, weight);
    if (st) return st;
    qtf_imatrix_entry *e = add_entry(m, weight, wl, n);
    if (!e)
        return qtf__error(QTF_E_NOMEM, "%s: importance of '%s': cannot allocate %" PRIu64
                          " values", m->file, weight, n);
    e->n_experts = ncounts;
    float *v = (float *)e->values;
    uint64_t ne0 = n / ncounts;
    for (uint64_t j = 0; j < ncounts; j++) {
        float c = ld_f32(counts, j);
        if (isnan(c) || isinf(c) || c < 0.0f || c > 9.0e15f)
            return qtf__error(isnan(c) || isinf(c) ? QTF_E_NUMERIC : QTF_E_VALUE,
                              "%s: importance of '%s': count %" PRIu64 " is %g, expected a "
                              "finite count >= 0", m->file, weight, j, (double)c);
        /* llama.cpp rounds the stored count to an integer, then divides in float */
        float count = (float)lround(c);
        for (uint64_t k = 0; k < ne0; k++) {
            float s = ld_f32(sums, j * ne0 + k);
            st = check_sum(m, weight, j * ne0 + k, s);
            if (st) return st;
            v[j * ne0 + k] = count > 0.0f ? s / count : 1.0f;
        }
        if (!(count > 0.0f)) e->uniform = 1;
    }
    return check_not_all_zero(m, e);
}

static qtf_status load_gguf(qtf_imatrix *m, const qtf_gguf *g) {
    const char *type;
    uint64_t len, u;
    qtf_status st = qtf_gguf_get_string(&type, &len, g, "general.type");
    if (st == QTF_OK && !(len == 7 && memcmp(type, "imatrix", 7) == 0)) {
        char esc[QTF__ESC_CAP];
        return qtf__error(QTF_E_VALUE, "%s: general.type is '%s', expected 'imatrix' (is this a "
                          "model file?)", m->file, qtf__escape(esc, sizeof esc, type, (size_t)len));
    }
    if (st == QTF_E_TYPE_MISMATCH) return st;
    if (st == QTF_E_NOT_FOUND && qtf_gguf_get_u64(&u, g, "imatrix.chunk_count") == QTF_E_NOT_FOUND)
        return qtf__error(QTF_E_NOT_FOUND, "%s: neither general.type 'imatrix' nor "
                          "imatrix.chunk_count: not a llama-imatrix file", m->file);
    if (qtf_gguf_get_u64(&u, g, "imatrix.chunk_count") == QTF_OK)
        m->chunk_count = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
    uint64_t nt = qtf_gguf_tensor_count(g);
    for (uint64_t i = 0; i < nt; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        if (has_suffix(t->name, t->name_len, ".in_sum2")) {
            st = gguf_entry(m, g, i);
            if (st) return st;
        } else if (has_suffix(t->name, t->name_len, ".counts")) {
            /* a count without its sums */
            char other[QTF_GGUF_MAX_NAME_LEN + 16];
            uint64_t k;
            snprintf(other, sizeof other, "%.*s.in_sum2", (int)(t->name_len - 7), t->name);
            if (qtf_gguf_tensor_find(&k, g, other) != QTF_OK)
                return qtf__error(QTF_E_NOT_FOUND, "%s: importance of '%.*s': tensor '%s' has no "
                                  "'%s'", m->file, (int)(t->name_len - 7), t->name, t->name, other);
        }
        /* other tensors (in_sum, or kinds newer files add) carry no importance */
    }
    if (m->n == 0)
        return qtf__error(QTF_E_NOT_FOUND, "%s: no NAME.in_sum2 tensors: the importance matrix "
                          "is empty", m->file);
    return QTF_OK;
}

/* --- legacy .dat ---------------------------------------------------------------------- */

typedef struct cur {
    const unsigned char *p;
    uint64_t len, pos;
} cur;

static qtf_status take_i32(int32_t *out, cur *c, const qtf_imatrix *m, const char *what,
                           const char *weight) {
    if (c->len - c->pos < 4)
        return qtf__error(QTF_E_TRUNCATED, "%s: %s%s%s at offset %" PRIu64 " needs 4 bytes, the "
                          "file ends at %" PRIu64, m->file, what, weight ? " of " : "",
                          weight ? weight : "", c->pos, c->len);
    *out = (int32_t)qtf__ld32(c->p + c->pos);
    c->pos += 4;
    return QTF_OK;
}

static qtf_status load_legacy(qtf_imatrix *m, const unsigned char *buf, uint64_t len) {
    cur c = { buf, len, 0 };
    int32_t n_entries;
    qtf_status st = take_i32(&n_entries, &c, m, "entry count", NULL);
    if (st) return st;
    if (n_entries < 1 || (uint64_t)n_entries > (len - 4) / MIN_LEGACY_ENTRY)
        return qtf__error(n_entries < 1 ? QTF_E_VALUE : QTF_E_TRUNCATED, "%s: entry count %" PRId32
                          " at offset 0: expected 1..%" PRIu64 " for a %" PRIu64 "-byte file",
                          m->file, n_entries, (len - 4) / MIN_LEGACY_ENTRY, len);
    for (int32_t i = 0; i < n_entries; i++) {
        int32_t nl, ncall, nval;
        uint64_t at = c.pos;
        st = take_i32(&nl, &c, m, "name length of entry", NULL);
        if (st) return st;
        if (nl < 1 || (uint64_t)nl > MAX_NAME_LEN || (uint64_t)nl > c.len - c.pos)
            return qtf__error(nl < 1 || (uint64_t)nl > MAX_NAME_LEN ? QTF_E_LIMIT : QTF_E_TRUNCATED,
                              "%s: entry %" PRId32 " at offset %" PRIu64 ": name length %" PRId32
                              ", expected 1..%u within the %" PRIu64 " bytes left", m->file, i, at,
                              nl, MAX_NAME_LEN, c.len - c.pos);
        const char *name = (const char *)c.p + c.pos;
        size_t bad;
        char esc[QTF__ESC_CAP], nm[QTF__ESC_CAP];
        qtf__escape(nm, sizeof nm, name, (size_t)nl);
        if (!qtf__utf8_check((const unsigned char *)name, (size_t)nl, &bad))
            return qtf__error(QTF_E_UTF8, "%s: entry %" PRId32 " at offset %" PRIu64 ": name '%s' "
                              "byte %zu is not valid UTF-8 or is NUL", m->file, i, at,
                              qtf__escape(esc, sizeof esc, name, (size_t)nl), bad);
        c.pos += (uint64_t)nl;
        st = take_i32(&ncall, &c, m, "call count", nm);
        if (!st) st = take_i32(&nval, &c, m, "value count", nm);
        if (st) return st;
        if (ncall < 0)
            return qtf__error(QTF_E_VALUE, "%s: importance of '%s' (offset %" PRIu64 "): call count "
                              "%" PRId32 " is negative", m->file, nm, at, ncall);
        if (nval < 1 || (uint64_t)nval > (c.len - c.pos) / 4)
            return qtf__error(nval < 1 ? QTF_E_VALUE : QTF_E_TRUNCATED, "%s: importance of '%s' "
                              "(offset %" PRIu64 "): %" PRId32 " values, expected 1..%" PRIu64
                              " (the bytes left)", m->file, nm, at, nval, (c.len - c.pos) / 4);
        qtf_imatrix_entry *e = add_entry(m, name, (size_t)nl, (uint64_t)nval);
        if (!e) return qtf__error(QTF_E_NOMEM, "%s: importance of '%s': out of memory", m->file, nm);
        e->n_experts = 1;
        float *v = (float *)e->values;
        for (int32_t j = 0; j < nval; j++) {
            float s = ld_f32(c.p + c.pos, (uint64_t)j);
            st = check_sum(m, e->name, (uint64_t)j, s);
            if (st) return st;
            /* llama-quantize: sums / ncall in float; the raw values when ncall is 0 */
            v[j] = ncall > 0 ? s / (float)ncall : s;
        }
        c.pos += 4 * (uint64_t)nval;
        st = check_not_all_zero(m, e);
        if (st) return st;
    }
    if (c.pos == c.len) return QTF_OK;
    /* optional trailer: chunk count, dataset name */
    int32_t chunks, dl;
    st = take_i32(&chunks, &c, m, "chunk count", NULL);
    if (!st) st = take_i32(&dl, &c, m, "dataset name length", NULL);
    if (st) return st;
    if (chunks < 0 || dl < 0 || (uint64_t)dl > c.len - c.pos)
        return qtf__error(QTF_E_VALUE, "%s: trailer at offset %" PRIu64 ": chunk count %" PRId32
                          ", dataset name length %" PRId32 " with %" PRIu64 " bytes left", m->file,
                          c.pos - 8, chunks, dl, c.len - c.pos);
    m->chunk_count = (uint32_t)chunks;
    c.pos += (uint64_t)dl;
    if (c.pos != c.len)
        return qtf__error(QTF_E_OFFSET, "%s: %" PRIu64 " trailing bytes after the dataset name at "
                          "offset %" PRIu64, m->file, c.len - c.pos, c.pos);
    return QTF_OK;
}

/* --- open ------------------------------------------------------------------------------ */

static qtf_status finish(qtf_imatrix *m) {
    m->sorted = qtf__calloc((size_t)m->n, sizeof *m->sorted);
    if (!m->sorted) return qtf__error(QTF_E_NOMEM, "%s: cannot index the entries", m->file);
    for (uint64_t i = 0; i < m->n; i++) m->sorted[i] = &m->entries[i];
    qsort(m->sorted, (size_t)m->n, sizeof *m->sorted, cmp_entry_ptr);
    for (uint64_t i = 1; i < m->n; i++)
        if (strcmp(m->sorted[i - 1]->name, m->sorted[i]->name) == 0)
            return qtf__error(QTF_E_DUPLICATE, "%s: importance of '%s' is given twice", m->file,
                              m->sorted[i]->name);
    return QTF_OK;
}

static qtf_status new_imatrix(qtf_imatrix **out, const char *name) {
    qtf_imatrix *m = qtf__calloc(1, sizeof *m);
    char *f = qtf__malloc(strlen(name) + 1);
    if (!m || !f) {
        free(m);
        free(f);
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate the importance matrix", name);
    }
    memcpy(f, name, strlen(name) + 1);
    m->file = f;
    *out = m;
    return QTF_OK;
}

static qtf_status load(qtf_imatrix *m, const unsigned char *buf, uint64_t len) {
    qtf_status st;
    if (qtf_gguf_has_magic(buf, (size_t)(len < 4 ? len : 4))) {
        m->format = QTF_IMATRIX_GGUF;
        qtf_gguf *g;
        st = qtf_gguf_open_memory(&g, buf, (size_t)len, m->file, 0);
        if (st) return st;
        st = load_gguf(m, g);
        qtf_gguf_close(g);
    } else {
        m->format = QTF_IMATRIX_LEGACY;
        st = load_legacy(m, buf, len);
    }
    return st ? st : finish(m);
}

qtf_status qtf_imatrix_open_memory(qtf_imatrix **out, const void *buf, size_t len,
                                   const char *name) {
    if (!out || (!buf && len))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_imatrix_open_memory: NULL argument");
    *out = NULL;
    qtf_imatrix *m;
    qtf_status st = new_imatrix(&m, name ? name : "<memory>");
    if (st) return st;
    static const unsigned char empty[4];
    st = load(m, buf ? buf : empty, len);
    if (st) {
        qtf_imatrix_close(m);
        return st;
    }
    *out = m;
    qtf__error_clear();
    return QTF_OK;
}

/* The whole file in memory: importance files are small (one float per
 * input column of each weight), and the .dat form has no index to seek by. */
qtf_status qtf_imatrix_open(qtf_imatrix **out, const char *path) {
    if (!out || !path) return qtf__error(QTF_E_INVALID_ARG, "qtf_imatrix_open: NULL argument");
    *out = NULL;
    int fd;
    uint64_t size;
    qtf_status st = qtf__open_regular(&fd, &size, path);
    if (st) return st;
    unsigned char *buf = size <= SIZE_MAX ? qtf__malloc(size ? (size_t)size : 1) : NULL;
    if (!buf) {
        close(fd);
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " bytes", path, size);
    }
    st = qtf__pread_all(fd, buf, size, 0, path);
    if (st) {
        close(fd);
        free(buf);
        return st;
    }
    close(fd);
    qtf_imatrix *m;
    st = new_imatrix(&m, path);
    if (!st) st = load(m, buf, size);
    free(buf);
    if (st) {
        qtf_imatrix_close(m);
        return st;
    }
    *out = m;
    qtf__error_clear();
    return QTF_OK;
}

void qtf_imatrix_close(qtf_imatrix *m) {
    if (!m) return;
    for (uint64_t i = 0; i < m->n; i++) {
        free((char *)m->entries[i].name);
        free((float *)m->entries[i].values);
    }
    free(m->entries);
    free(m->sorted);
    free(m->file);
    free(m);
}

qtf_imatrix_format qtf_imatrix_get_format(const qtf_imatrix *m) { return m->format; }
uint64_t qtf_imatrix_count(const qtf_imatrix *m) { return m ? m->n : 0; }
uint32_t qtf_imatrix_chunk_count(const qtf_imatrix *m) { return m ? m->chunk_count : 0; }

const qtf_imatrix_entry *qtf_imatrix_get(const qtf_imatrix *m, uint64_t i) {
    return m && i < m->n ? &m->entries[i] : NULL;
}

const qtf_imatrix_entry *qtf_imatrix_find(const qtf_imatrix *m, const char *name) {
    if (!m || !name || !m->sorted) return NULL;
    qtf_imatrix_entry key = { .name = name };
    const qtf_imatrix_entry *kp = &key;
    const qtf_imatrix_entry **hit = bsearch(&kp, m->sorted, (size_t)m->n, sizeof *m->sorted,
                                            cmp_entry_ptr);
    return hit ? *hit : NULL;
}
