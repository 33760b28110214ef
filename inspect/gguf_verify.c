/* inspect/gguf_verify.c — qtf-verify's checks on a GGUF file (gguf_verify.h).
 *
 * Checksums: GGUF has none. A manifest in llama-gguf-hash's format
 * ("ALGO  HEX  FILE[:TENSOR]" lines, sha256 or xxh64; optional "## PATH"
 * lines naming which file the following lines are for) is checked when
 * given: every tensor's data, and the model hash (all tensor data in file
 * order). Without a manifest the report says the data was not checked.
 *
 * Against a checkpoint: the GGUF names are mapped back through the
 * architecture table of general.architecture, the dequantized Q/K rows are
 * put back in HF order (llama.cpp permutes them for its RoPE layout) and
 * transposed tensors (GPT-2's Conv1D) are transposed back, so the error is
 * measured against the checkpoint exactly as it is stored. */
#include "gguf_verify.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "checkpoint/arch.h"
#include "checkpoint/gguf.h"
#include "checkpoint/importance.h"
#include "checkpoint/sha256.h"
#include "checkpoint/source.h"
#include "cli/cli_util.h"

#define MANIFEST_MAX_BYTES (64u << 20)

typedef struct mline {
    int algo;                   /* 0 sha256, 1 xxh64 */
    char hex[65];
    char *tensor;               /* NULL: the model hash */
    int used;
} mline;

typedef struct manifest {
    mline *l;
    size_t n, cap;
    unsigned algos;             /* bit 0 sha256, bit 1 xxh64 */
    size_t skipped;             /* lines of other algorithms (sha1, uuid) */
} manifest;

static void manifest_free(manifest *m) {
    for (size_t i = 0; i < m->n; i++) free(m->l[i].tensor);
    free(m->l);
}

/* "## aidreams-260k/model-Q4_0.gguf" applies to .../aidreams-260k/model-Q4_0.gguf */
static int path_ends_with(const char *path, const char *suffix) {
    size_t pl = strlen(path), sl = strlen(suffix);
    if (sl == 0 || sl > pl || strcmp(path + pl - sl, suffix) != 0) return 0;
    return sl == pl || path[pl - sl - 1] == '/';
}

static int is_hex(const char *s, size_t n) {
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* Reads the lines of `mpath` that are about the GGUF file `gpath`. */
static int manifest_load(manifest *m, const char *mpath, const char *gpath) {
    FILE *f = fopen(mpath, "r");
    char *disp = cli_escape_dup(mpath, strlen(mpath), 0);
    if (!f) {
        cli_error("cannot open the manifest '%s'", disp ? disp : "?");
        free(disp);
        return 0;
    }
    const char *base = strrchr(gpath, '/');
    base = base ? base + 1 : gpath;
    size_t bl = strlen(base);
    char line[4096];
    int in_section = 1, ok = 1;
    unsigned long lineno = 0, total = 0;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        total += (unsigned long)strlen(line);
        if (total > MANIFEST_MAX_BYTES) {
            cli_error("%s: larger than %u MiB: not a manifest", disp, MANIFEST_MAX_BYTES >> 20);
            ok = 0;
            break;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "## ", 3) == 0) {
            in_section = path_ends_with(gpath, line + 3);
            continue;
        }
        char algo[32], hex[80], what[2048];
        if (line[0] == '\0' || line[0] == '#') continue;
        if (sscanf(line, "%31s %79s %2047s", algo, hex, what) != 3) {
            cli_error("%s: line %lu is not 'ALGO HEX FILE[:TENSOR]'", disp, lineno);
            ok = 0;
            break;
        }
        if (!in_section || strncmp(what, base, bl) != 0 || (what[bl] != '\0' && what[bl] != ':'))
            continue; /* about another file */
        int a = strcmp(algo, "sha256") == 0 ? 0 : strcmp(algo, "xxh64") == 0 ? 1 : -1;
        if (a < 0) {
            m->skipped++;
            continue;
        }
        if (!is_hex(hex, a == 0 ? 64 : 16)) {
            cli_error("%s: line %lu: '%s' is not a %s digest", disp, lineno, algo, algo);
            ok = 0;
            break;
        }
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 64;
            mline *l = realloc(m->l, cap * sizeof *l);
            if (!l) {
                ok = 0;
                break;
            }
            m->l = l;
            m->cap = cap;
        }
        mline *e = &m->l[m->n++];
        memset(e, 0, sizeof *e);
        e->algo = a;
        for (size_t i = 0; hex[i]; i++) e->hex[i] = (char)tolower((unsigned char)hex[i]);
        e->tensor = what[bl] == ':' ? strdup(what + bl + 1) : NULL;
        if (what[bl] == ':' && !e->tensor) ok = 0;
        m->algos |= 1u << a;
    }
    fclose(f);
    if (ok && m->n == 0) {
        char *b = cli_escape_dup(base, bl, 0);
        cli_error("%s has no sha256 or xxh64 line for '%s'", disp, b ? b : "?");
        free(b);
        ok = 0;
    }
    free(disp);
    return ok;
}

static void digest_hex(char out[65], int algo, const void *p, uint64_t n) {
    if (algo == 1) {
        snprintf(out, 65, "%016llx", (unsigned long long)XXH64(p, (size_t)n, 0));
        return;
    }
    qtf_sha256_hex(out, p, (size_t)n);
}

static char *msgf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *msgf(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cli_escape_dup(buf, strlen(buf), 0);
}

/* Per tensor and model hashes against the manifest. */
static void check_manifest(verify_report *r, const qtf_gguf *g, manifest *m) {
    double t0 = cli_now();
    int want_model[2] = { 0, 0 };
    for (size_t k = 0; k < m->n; k++)
        if (!m->l[k].tensor) want_model[m->l[k].algo] = 1;
    qtf_sha256 model_sha;
    XXH64_state_t *model_xxh = want_model[1] ? XXH64_createState() : NULL;
    qtf_sha256_init(&model_sha);
    if (model_xxh) XXH64_reset(model_xxh, 0);
    for (uint64_t i = 0; i < r->n; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        const void *p;
        uint64_t n;
        if (qtf_gguf_tensor_data(&p, &n, g, i) != QTF_OK) continue;
        r->checksum_bytes += n;
        if (want_model[0]) qtf_sha256_update(&model_sha, p, (size_t)n);
        if (model_xxh) XXH64_update(model_xxh, p, (size_t)n);
        int lines = 0;
        vt_result *v = &r->t[i];
        for (size_t k = 0; k < m->n; k++) {
            mline *e = &m->l[k];
            if (!e->tensor || strcmp(e->tensor, t->name) != 0) continue;
            e->used = 1;
            lines++;
            char got[65];
            digest_hex(got, e->algo, p, n);
            if (strcmp(got, e->hex) != 0 && v->checksum == QTF_OK) {
                v->checksum = QTF_E_CHECKSUM;
                v->fail |= VF_CHECKSUM;
                v->checksum_error = msgf("%s of the data is %s, the manifest says %s",
                                         e->algo ? "xxh64" : "sha256", got, e->hex);
            }
        }
        if (!lines && v->checksum == QTF_OK) {
            v->checksum = QTF_E_NOT_FOUND;
            v->fail |= VF_CHECKSUM;
            v->checksum_error = msgf("the manifest has no line for this tensor");
        }
    }
    char model_hex[2][65];
    unsigned char d[32];
    qtf_sha256_final(&model_sha, d);
    for (int i = 0; i < 32; i++) snprintf(model_hex[0] + 2 * i, 3, "%02x", d[i]);
    if (model_xxh) {
        snprintf(model_hex[1], 65, "%016llx", (unsigned long long)XXH64_digest(model_xxh));
        XXH64_freeState(model_xxh);
    }
    for (size_t k = 0; k < m->n && r->structure == QTF_OK; k++) {
        mline *e = &m->l[k];
        if (!e->tensor && strcmp(model_hex[e->algo], e->hex) != 0) {
            r->structure = QTF_E_CHECKSUM;
            r->structure_error = msgf("model %s (all tensor data) is %s, the manifest says %s",
                                      e->algo ? "xxh64" : "sha256", model_hex[e->algo], e->hex);
        } else if (e->tensor && !e->used) {
            r->structure = QTF_E_CHECKSUM;
            r->structure_error = msgf("the manifest lists tensor '%s', which the file does not "
                                      "have", e->tensor);
        }
    }
    r->checksum_seconds = cli_now() - t0;
}

/* --- decode and compare ---------------------------------------------------------- */

typedef struct ctx {
    const gguf_verify_options *o;
    verify_report *r;
    const qtf_gguf *g;
    const qtf_source *src;
    const qtf_importance *importance;
    const qtf_arch *arch;
    uint32_t n_head, n_head_kv;
    unsigned char *covered;     /* per source tensor: a GGUF tensor maps onto it */
    float *deq, *tmp, *ref;
    uint64_t cap;
} ctx;

static int has_tensor(void *c, const char *name) {
    uint64_t i;
    return qtf_source_tensor_find(&i, c, name) == QTF_OK;
}

static int ignored(const gguf_verify_options *o, const char *a, const char *b) {
    for (unsigned k = 0; k < o->n_ignore; k++)
        if (cli_glob_match(o->ignore[k], a) || (b && cli_glob_match(o->ignore[k], b))) return 1;
    return 0;
}

static int reserve(ctx *c, uint64_t n) {
    if (n <= c->cap && c->deq) return 1;
    if (n > SIZE_MAX / sizeof(float) / 2) return 0;
    free(c->deq);
    free(c->tmp);
    free(c->ref);
    size_t bytes = (size_t)(n ? n : 1) * sizeof(float);
    c->deq = malloc(bytes);
    c->tmp = malloc(bytes);
    c->ref = malloc(bytes);
    c->cap = c->deq && c->tmp && c->ref ? n : 0;
    return c->cap == n;
}

/* The dequantized GGUF tensor in the checkpoint's layout: rows un-permuted
 * (Q/K), transposed back (Conv1D). Returns the buffer holding it. */
static float *to_hf_layout(ctx *c, const qtf_gguf_tensor *t, const qtf_arch_tensor *e) {
    uint64_t rows = t->n_elements && t->ne[0] ? t->n_elements / t->ne[0] : 0, cols = t->ne[0];
    uint32_t heads = qtf_arch_permute_heads(e, c->n_head, c->n_head_kv);
    float *cur = c->deq;
    if (heads) {
        if (qtf_arch_permute_rows(c->tmp, cur, rows, cols * sizeof(float), heads, 1) != QTF_OK)
            return NULL;
        float *s = cur;
        cur = c->tmp;
        c->tmp = s;
        c->deq = cur;
    }
    if (e->transpose) {
        for (uint64_t i = 0; i < rows; i++)
            for (uint64_t j = 0; j < cols; j++) c->tmp[j * rows + i] = cur[i * cols + j];
        float *s = cur;
        cur = c->tmp;
        c->tmp = s;
        c->deq = cur;
    }
    return cur;
}

static void check_tensor(ctx *c, uint64_t i) {
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(c->g, i);
    vt_result *v = &c->r->t[i];
    const qtf_arch_tensor *e = NULL;
    const qtf_source_tensor *st = NULL;
    uint64_t si = 0;
    if (c->src) {
        char hf[1100];
        if (c->arch && qtf_arch_gguf_to_hf(hf, sizeof hf, &e, NULL, c->arch, t->name, has_tensor,
                                           (void *)c->src) == QTF_OK) {
            qtf_source_tensor_find(&si, c->src, hf);
            st = qtf_source_tensor_get(c->src, si);
            char *disp = cli_escape_dup(hf, strlen(hf), 0), *raw = strdup(hf);
            if (disp && raw) {
                free(v->name);
                free(v->raw_name);
                v->name = disp;
                v->raw_name = raw;
            } else {
                free(disp);
                free(raw);
            }
        }
        v->ignored = ignored(c->o, v->raw_name, t->name);
        if (st) c->covered[si] = 1;
        if (!v->ignored) {
            v->in_source = st != NULL;
            if (!st) v->fail |= VF_EXTRA;
        }
        if (st && !v->ignored) {
            /* HF shape: ne reversed, or ne as is for a transposed weight */
            uint64_t want[QTF_GGUF_MAX_DIMS];
            uint32_t nd = qtf_gguf_tensor_dims(want, t);
            if (e->transpose && nd == 2) {
                want[0] = t->ne[0];
                want[1] = t->ne[1];
            }
            int same = st->n_dims == nd;
            for (uint32_t d = 0; same && d < nd; d++) same = st->dims[d] == want[d];
            if (!same) {
                v->fail |= VF_SHAPE;
                v->source_shape = cli_dims_dup(st->n_dims, st->dims);
                st = NULL;
            }
        }
    }
    if (c->o->checksums_only) return;
    v->decode_checked = 1;
    if (!reserve(c, t->n_elements)) {
        v->decode = QTF_E_NOMEM;
        v->decode_error = msgf("cannot allocate buffers for %s elements", v->shape);
        v->fail |= VF_DECODE;
        return;
    }
    v->decode = qtf_gguf_tensor_dequantize(c->deq, t->n_elements, c->g, i, c->o->threads);
    if (v->decode != QTF_OK) {
        v->decode_error = cli_detail_dup();
        v->fail |= VF_DECODE;
        return;
    }
    /* as for a QTF file: only the float types can carry a NaN/Inf of the
     * source; a quantized tensor decoding to one has a damaged scale */
    report_check_decoded(v, c->deq, t->n_elements, t->type == QTF_GGML_F32 || t->type == QTF_GGML_F16 ||
                                                       t->type == QTF_GGML_BF16 || t->type == QTF_GGML_F64);
    if (!st || v->ignored) return;
    qtf_status rs = qtf_source_read_f32(c->ref, st->n_elements, c->src, si, c->o->threads);
    if (rs != QTF_OK) {
        v->fail |= VF_SOURCE;
        v->source_error = cli_detail_dup();
        return;
    }
    float *w = to_hf_layout(c, t, e);
    if (w && !report_check_source(v, w, c->ref, t->n_elements)) return;
    /* w is in the checkpoint's layout and v->raw_name its name by now, so a
     * vector per HF input column applies as it does to a .qtf file */
    uint64_t cols = 0;
    const float *a = c->importance ? qtf_importance_find(c->importance, v->raw_name, &cols) : NULL;
    if (!w || qtf_metrics_compute(&v->m, c->ref, w, t->n_elements, NULL, 0) != QTF_OK ||
        (a && report_importance_error(v, c->ref, w, t->n_elements, a, cols) != QTF_OK)) {
        v->fail |= VF_SOURCE;
        v->source_error = cli_detail_dup();
        return;
    }
    v->compared = 1;
}

static int find_missing(ctx *c) {
    uint64_t ns = qtf_source_tensor_count(c->src), cap = 0;
    c->r->source_tensors = ns;
    for (uint64_t i = 0; i < ns; i++) {
        const qtf_source_tensor *st = qtf_source_tensor_get(c->src, i);
        char out[1100];
        const qtf_arch_tensor *e = NULL;
        if (c->covered[i] || ignored(c->o, st->name, NULL)) continue;
        /* tensors llama.cpp's converter drops on purpose (rotary inv_freq, ...) */
        if (c->arch && qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, c->arch, st->name) == QTF_OK &&
            !e->gguf)
            continue;
        if (c->r->n_missing == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(c->r->missing, cap * sizeof *p);
            if (!p) return 0;
            c->r->missing = p;
        }
        c->r->missing[c->r->n_missing] = cli_escape_dup(st->name, strlen(st->name), 0);
        if (!c->r->missing[c->r->n_missing]) return 0;
        c->r->n_missing++;
    }
    return 1;
}

/* general.architecture's table and head counts, for names and Q/K rows. */
static int load_arch(ctx *c) {
    const char *s;
    uint64_t len, u;
    char name[64] = "";
    if (qtf_gguf_get_string(&s, &len, c->g, "general.architecture") == QTF_OK && len < sizeof name) {
        memcpy(name, s, (size_t)len);
        name[len] = '\0';
    }
    c->arch = qtf_arch_by_gguf_name(name);
    if (!c->arch) {
        char *d = cli_escape_dup(name, strlen(name), 0);
        cli_error("GGUF architecture '%s' has no name table here (llama, qwen2, gpt2): cannot "
                  "match its tensors with the checkpoint", d ? d : "?");
        free(d);
        return 0;
    }
    char key[128];
    snprintf(key, sizeof key, "%s.attention.head_count", name);
    c->n_head = qtf_gguf_get_u64(&u, c->g, key) == QTF_OK && u <= UINT32_MAX ? (uint32_t)u : 0;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", name);
    c->n_head_kv = qtf_gguf_get_u64(&u, c->g, key) == QTF_OK && u <= UINT32_MAX ? (uint32_t)u
                                                                                : c->n_head;
    return 1;
}

int gguf_verify_build(verify_report *r, const gguf_verify_options *o) {
    qtf_gguf *g = NULL;
    qtf_status st = qtf_gguf_open(&g, o->path, 0);
    if (st != QTF_OK) {
        char *p = cli_escape_dup(o->path, strlen(o->path), 0);
        cli_error_status(st, "cannot open '%s'", p ? p : "?");
        free(p);
        return 2;
    }
    ctx c = { .o = o, .r = r, .g = g };
    int rc = 0;
    qtf_source *src = NULL;
    qtf_importance *imp = NULL;
    manifest m;
    memset(&m, 0, sizeof m);
    if (o->manifest && !manifest_load(&m, o->manifest, o->path)) rc = 2;
    if (!rc && o->against) {
        st = qtf_source_open(&src, o->against);
        if (st != QTF_OK) {
            char *p = cli_escape_dup(o->against, strlen(o->against), 0);
            cli_error_status(st, "cannot open the source '%s'", p ? p : "?");
            free(p);
            rc = 2;
        } else if (!load_arch(&c)) {
            rc = 2;
        } else if (o->importance) {
            char err[4096];
            if (qtf_importance_open(&imp, o->importance, src, err, sizeof err) != 0) {
                char *m2 = cli_escape_dup(err, strlen(err), 0);
                cli_error("%s", m2 ? m2 : "cannot read the importance file");
                free(m2);
                rc = 2;
            }
        }
    }
    c.importance = imp;
    c.src = src;
    r->format = "gguf";
    r->against_kind = src ? qtf_source_kind_name(qtf_source_get_kind(src)) : NULL;
    r->metadata_count = qtf_gguf_kv_count(g);
    r->n = qtf_gguf_tensor_count(g);
    r->t = calloc(r->n ? r->n : 1, sizeof *r->t);
    if (src) c.covered = calloc(qtf_source_tensor_count(src) + 1, 1);
    if (!rc && (!r->t || (src && !c.covered))) rc = 1;
    for (uint64_t i = 0; !rc && i < r->n; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        vt_result *v = &r->t[i];
        v->name = cli_escape_dup(t->name, t->name_len, 0);
        v->raw_name = strdup(t->name);
        snprintf(v->encoding, sizeof v->encoding, "%s", qtf_ggml_type_name(t->type));
        v->n_elements = t->n_elements;
        uint64_t dims[QTF_GGUF_MAX_DIMS];
        uint32_t nd = qtf_gguf_tensor_dims(dims, t);
        v->shape = cli_dims_dup(nd, dims);
        if (!v->name || !v->raw_name || !v->shape) rc = 1;
    }
    if (!rc && o->manifest) {
        char algos[16];
        snprintf(algos, sizeof algos, "%s%s%s", m.algos & 1 ? "sha256" : "",
                 m.algos == 3 ? "+" : "", m.algos & 2 ? "xxh64" : "");
        r->manifest_algos = strdup(algos);
        if (!r->manifest_algos) rc = 1;
        else check_manifest(r, g, &m);
    }
    if (!rc) {
        double t0 = cli_now();
        for (uint64_t i = 0; i < r->n; i++) check_tensor(&c, i);
        r->decode_seconds = cli_now() - t0;
        if (src && !find_missing(&c)) rc = 1;
    }
    if (rc == 1) cli_error("out of memory");
    manifest_free(&m);
    free(c.covered);
    free(c.deq);
    free(c.tmp);
    free(c.ref);
    qtf_importance_close(imp);
    qtf_source_close(src);
    qtf_gguf_close(g);
    return rc;
}

void gguf_verify_free(verify_report *r) { free((char *)r->manifest_algos); }
