/* cli/recipe.c — parsing recipes and choosing each tensor's encoding. */
#include "recipe.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

/* A recipe file is a short list of rules; anything larger is a mistake. */
#define RECIPE_MAX_FILE_BYTES (1u << 20)
#define RECIPE_MAX_LINE 4096u

static char *dup_range(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void qtfc_recipe_init(qtfc_recipe *r) {
    memset(r, 0, sizeof *r);
    /* The built-in default parses by construction; should the encoding
     * library reject it, the first use reports the error. */
    if (qtfc_spec_parse(&r->default_spec, QTFC_DEFAULT_ENCODING, NULL, 0) != 0)
        snprintf(r->default_spec.text, sizeof r->default_spec.text, "%s", QTFC_DEFAULT_ENCODING);
}

void qtfc_recipe_free(qtfc_recipe *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_rules; i++) {
        free(r->rules[i].glob);
        free(r->rules[i].origin);
    }
    free(r->rules);
    memset(r, 0, sizeof *r);
}

/* "keep" or "keep:zstd[=N]": the source type, optionally zstd-compressed.
 * The zstd option is parsed as the float encodings' own (same syntax and
 * default level) and nothing else is accepted. */
static int parse_keep(qtfc_spec *out, const char *text, char *err, size_t err_cap) {
    out->keep = 1;
    if (text[4] == '\0') {
        snprintf(out->text, sizeof out->text, "keep");
        return 0;
    }
    char as_f32[128];
    if ((size_t)snprintf(as_f32, sizeof as_f32, "f32:%s", text + 5) >= sizeof as_f32)
        return cli_fail(err, err_cap, "invalid encoding '%s': too long", text);
    qtf_encoding e, plain;
    qtf_encoding_default(&plain, QTF_ENC_F32);
    if (qtf_encoding_parse(&e, as_f32) != QTF_OK || e.zstd_level == 0)
        return cli_fail(err, err_cap, "invalid encoding '%s': keep takes only zstd[=1..22]", text);
    out->enc.zstd_level = e.zstd_level;
    e.zstd_level = 0;
    char a[96], b[96];
    if (qtf_encoding_format(a, sizeof a, &e) != QTF_OK ||
        qtf_encoding_format(b, sizeof b, &plain) != QTF_OK || strcmp(a, b) != 0)
        return cli_fail(err, err_cap, "invalid encoding '%s': keep takes only zstd[=1..22]", text);
    snprintf(out->text, sizeof out->text, "keep:zstd=%u", (unsigned)out->enc.zstd_level);
    return 0;
}

int qtfc_spec_parse(qtfc_spec *out, const char *text, char *err, size_t err_cap) {
    memset(out, 0, sizeof *out);
    if (strncmp(text, "keep", 4) == 0 && (text[4] == '\0' || text[4] == ':'))
        return parse_keep(out, text, err, err_cap);
    qtf_status st = qtf_encoding_parse(&out->enc, text);
    if (st != QTF_OK)
        return cli_fail(err, err_cap, "invalid encoding '%s': %s", text, qtf_error_detail());
    st = qtf_encoding_format(out->text, sizeof out->text, &out->enc);
    if (st != QTF_OK)
        return cli_fail(err, err_cap, "encoding '%s' cannot be formatted: %s", text,
                        qtf_error_detail());
    return 0;
}

static const char *skip_blank(const char *s, const char *end) {
    while (s < end && isspace((unsigned char)*s)) s++;
    return s;
}

static const char *trim_end(const char *begin, const char *end) {
    while (end > begin && isspace((unsigned char)end[-1])) end--;
    return end;
}

/* Parses one rule from [text, end) (not NUL-terminated: file lines). */
static int add_rule_range(qtfc_recipe *r, const char *text, const char *end,
                          const char *origin, char *err, size_t err_cap) {
    const char *eq = memchr(text, '=', (size_t)(end - text));
    if (!eq)
        return cli_fail(err, err_cap, "%s: expected GLOB=SPEC (e.g. '*.mlp.*=int4:group=32'), "
                        "found '%.*s'", origin, (int)(end - text), text);
    const char *g0 = skip_blank(text, eq), *g1 = trim_end(g0, eq);
    const char *s0 = skip_blank(eq + 1, end), *s1 = trim_end(s0, end);
    if (g0 == g1) return cli_fail(err, err_cap, "%s: empty glob before '='", origin);
    if (s0 == s1) return cli_fail(err, err_cap, "%s: empty encoding after '='", origin);
    if (memchr(g0, '\0', (size_t)(g1 - g0)) || memchr(s0, '\0', (size_t)(s1 - s0)))
        return cli_fail(err, err_cap, "%s: NUL byte in rule", origin);

    char *spec_text = dup_range(s0, (size_t)(s1 - s0));
    if (!spec_text) return cli_fail(err, err_cap, "%s: out of memory", origin);
    qtfc_spec spec;
    char why[768];
    int rc = qtfc_spec_parse(&spec, spec_text, why, sizeof why);
    free(spec_text);
    if (rc != 0) return cli_fail(err, err_cap, "%s: %s", origin, why);

    if (r->n_rules == r->cap_rules) {
        size_t cap = r->cap_rules ? r->cap_rules * 2 : 8;
        qtfc_rule *n = realloc(r->rules, cap * sizeof *n);
        if (!n) return cli_fail(err, err_cap, "%s: out of memory", origin);
        r->rules = n;
        r->cap_rules = cap;
    }
    qtfc_rule *rule = &r->rules[r->n_rules];
    rule->glob = dup_range(g0, (size_t)(g1 - g0));
    rule->origin = dup_range(origin, strlen(origin));
    if (!rule->glob || !rule->origin) {
        free(rule->glob);
        free(rule->origin);
        return cli_fail(err, err_cap, "%s: out of memory", origin);
    }
    rule->spec = spec;
    r->n_rules++;
    return 0;
}

int qtfc_recipe_add_rule(qtfc_recipe *r, const char *text, const char *origin,
                         char *err, size_t err_cap) {
    return add_rule_range(r, text, text + strlen(text), origin, err, err_cap);
}

int qtfc_recipe_load_file(qtfc_recipe *r, const char *path, char *err, size_t err_cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail(err, err_cap, "%s: cannot open recipe: %s", path, strerror(errno));
    char *buf = malloc(RECIPE_MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return cli_fail(err, err_cap, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, RECIPE_MAX_FILE_BYTES + 1, f);
    int read_error = ferror(f) ? errno : 0;
    fclose(f);
    if (read_error) {
        free(buf);
        return cli_fail(err, err_cap, "%s: cannot read recipe: %s", path, strerror(read_error));
    }
    if (n > RECIPE_MAX_FILE_BYTES) {
        free(buf);
        return cli_fail(err, err_cap, "%s: recipe larger than %u bytes", path,
                        RECIPE_MAX_FILE_BYTES);
    }
    int rc = 0;
    unsigned long line_no = 0;
    const char *p = buf, *end = buf + n;
    while (p < end && rc == 0) {
        line_no++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        char origin[600];
        snprintf(origin, sizeof origin, "%.500s:%lu", path, line_no);
        if ((size_t)(line_end - p) > RECIPE_MAX_LINE) {
            rc = cli_fail(err, err_cap, "%s: line longer than %u bytes", origin, RECIPE_MAX_LINE);
            break;
        }
        const char *s = skip_blank(p, line_end);
        const char *e = trim_end(s, line_end);   /* also drops a CR of CRLF files */
        /* A '#' after a blank starts a trailing comment: tensor names and
         * encodings never contain blanks, so no rule is cut by it. */
        for (const char *c = s; c + 1 < e; c++)
            if ((c[0] == ' ' || c[0] == '\t') && c[1] == '#') {
                e = trim_end(s, c);
                break;
            }
        if (s < e && *s != '#') rc = add_rule_range(r, s, e, origin, err, err_cap);
        p = nl ? nl + 1 : end;
    }
    free(buf);
    return rc;
}

int qtfc_dtype_is_integer(qtf_dtype t) {
    switch (t) {
    case QTF_DTYPE_I8: case QTF_DTYPE_U8: case QTF_DTYPE_I16: case QTF_DTYPE_U16:
    case QTF_DTYPE_I32: case QTF_DTYPE_U32: case QTF_DTYPE_I64: case QTF_DTYPE_U64:
    case QTF_DTYPE_BOOL:
        return 1;
    default:
        return 0;
    }
}

void qtfc_keep_encoding(qtf_encoding *out, qtf_dtype source) {
    memset(out, 0, sizeof *out);
    switch (source) {
    case QTF_DTYPE_F32: qtf_encoding_default(out, QTF_ENC_F32); break;
    case QTF_DTYPE_F16: qtf_encoding_default(out, QTF_ENC_F16); break;
    case QTF_DTYPE_BF16: qtf_encoding_default(out, QTF_ENC_BF16); break;
    case QTF_DTYPE_NONE: qtf_encoding_default(out, QTF_ENC_F32); break;
    default:
        qtf_encoding_default(out, QTF_ENC_RAW);
        out->id = QTF_ENC_RAW;
        out->raw_type = source;
        break;
    }
}

int qtfc_is_embedding_name(const char *name) {
    static const char *const globs[] = { QTFC_EMBEDDING_GLOBS };
    for (size_t i = 0; i < sizeof globs / sizeof globs[0]; i++)
        if (fnmatch(globs[i], name, 0) == 0) return 1;
    return 0;
}

/* Encodings with fewer than 8 bits per code, for which embeddings and the
 * output head are better left at int8 (the NNCF default). */
static int narrower_than_8_bits(const qtfc_spec *s) {
    if (s->keep) return 0;
    switch (s->enc.id) {
    case QTF_ENC_INT: case QTF_ENC_PAL: return s->enc.bits < 8;
    case QTF_ENC_NF4: case QTF_ENC_FP4: case QTF_ENC_MXFP4:
    case QTF_ENC_Q4_0: case QTF_ENC_Q4_1: case QTF_ENC_Q5_0: case QTF_ENC_Q5_1:
    case QTF_ENC_Q2_K: case QTF_ENC_Q3_K: case QTF_ENC_Q4_K: case QTF_ENC_Q5_K:
    case QTF_ENC_Q6_K: case QTF_ENC_IQ4_NL: case QTF_ENC_IQ4_XS: case QTF_ENC_GGML_MXFP4:
        return 1;
    default: return 0;
    }
}

static void resolve(qtf_encoding *out, const qtfc_spec *s, qtf_dtype source) {
    if (s->keep) {
        qtfc_keep_encoding(out, source);
        out->zstd_level = s->enc.zstd_level;
    } else {
        *out = s->enc;
    }
}

static uint64_t element_count(uint32_t n_dims, const uint64_t *dims) {
    uint64_t n = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        if (__builtin_mul_overflow(n, dims[i], &n)) return UINT64_MAX;
    }
    return n;
}

static void format_shape(char *buf, size_t cap, uint32_t n_dims, const uint64_t *dims) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < n_dims && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%llu", i ? ", " : "",
                                 (unsigned long long)dims[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

static int applies(const qtf_encoding *enc, uint32_t n_dims, const uint64_t *dims,
                   char *why, size_t why_cap) {
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n = 0;
    qtf_status st = qtf_encoding_layout(layout, &n, enc, n_dims, dims);
    if (st == QTF_OK) return 1;
    snprintf(why, why_cap, "%s", qtf_error_detail()[0] ? qtf_error_detail() : qtf_status_text(st));
    return 0;
}

int qtfc_recipe_choose(qtfc_choice *out, const qtfc_recipe *r, const char *name,
                       qtf_dtype source, uint32_t n_dims, const uint64_t *dims,
                       char *err, size_t err_cap) {
    memset(out, 0, sizeof *out);
    out->rule = -1;
    const qtfc_spec *spec = NULL;
    const char *origin = "--encoding";
    qtfc_spec embed;

    if (qtfc_dtype_is_integer(source)) {
        qtfc_keep_encoding(&out->enc, source);
        out->why = QTFC_WHY_INTEGER;
        return 0;
    }
    for (size_t i = 0; i < r->n_rules && !spec; i++) {
        if (fnmatch(r->rules[i].glob, name, 0) == 0) {
            spec = &r->rules[i].spec;
            out->why = QTFC_WHY_RULE;
            out->rule = (long)i;
            origin = r->rules[i].origin;
        }
    }
    if (!spec) {
        uint64_t n = element_count(n_dims, dims);
        if (n_dims <= 1 || n < QTFC_SMALL_ELEMENTS) {
            qtfc_keep_encoding(&out->enc, source);
            out->why = n_dims <= 1 ? QTFC_WHY_ONE_DIM : QTFC_WHY_SMALL;
            return 0;
        }
        if (!r->all_layers && narrower_than_8_bits(&r->default_spec) &&
            qtfc_is_embedding_name(name)) {
            if (qtfc_spec_parse(&embed, QTFC_EMBEDDING_ENCODING, err, err_cap) != 0) return -1;
            embed.enc.zstd_level = r->default_spec.enc.zstd_level;
            spec = &embed;
            out->why = QTFC_WHY_EMBEDDING;
            origin = "embedding/output-head policy";
        } else {
            spec = &r->default_spec;
            out->why = QTFC_WHY_DEFAULT;
        }
    }
    resolve(&out->enc, spec, source);
    char why[640];
    if (applies(&out->enc, n_dims, dims, why, sizeof why)) return 0;

    char shape[160];
    format_shape(shape, sizeof shape, n_dims, dims);
    if (!r->has_fallback)
        return cli_fail(err, err_cap,
                        "tensor '%s' %s: encoding %s (from %s) cannot apply: %s; "
                        "add a --rule for this tensor or give --fallback SPEC",
                        name, shape, spec->text, origin, why);
    snprintf(out->fallback_note, sizeof out->fallback_note, "%s (from %s) cannot apply: %s",
             spec->text, origin, why);
    resolve(&out->enc, &r->fallback, source);
    out->fell_back = 1;
    if (applies(&out->enc, n_dims, dims, why, sizeof why)) return 0;
    return cli_fail(err, err_cap,
                    "tensor '%s' %s: encoding %s (from %s) cannot apply, and neither can "
                    "the fallback %s: %s", name, shape, spec->text, origin, r->fallback.text, why);
}

const char *qtfc_reason_name(qtfc_reason why) {
    switch (why) {
    case QTFC_WHY_INTEGER: return "integer";
    case QTFC_WHY_RULE: return "rule";
    case QTFC_WHY_ONE_DIM: return "1-D";
    case QTFC_WHY_SMALL: return "small";
    case QTFC_WHY_EMBEDDING: return "embedding";
    case QTFC_WHY_DEFAULT: return "default";
    }
    return "?";
}

/* Appends to a growing string; returns 0, or -1 on OOM (buffer freed). */
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return -1;
        if (*buf && (size_t)n < *cap - *len) {
            *len += (size_t)n;
            return 0;
        }
        size_t want = *len + (size_t)n + 1, ncap = *cap ? *cap : 256;
        while (ncap < want) ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb) {
            free(*buf);
            *buf = NULL;
            return -1;
        }
        *buf = nb;
        *cap = ncap;
    }
}

char *qtfc_recipe_describe(const qtfc_recipe *r) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = append(&buf, &len, &cap,
                    "# qtf-convert recipe: rules in order, first match wins\n");
    for (size_t i = 0; i < r->n_rules && rc == 0; i++)
        rc = append(&buf, &len, &cap, "%s=%s\n", r->rules[i].glob, r->rules[i].spec.text);
    if (rc == 0)
        rc = append(&buf, &len, &cap,
                    "# default: %s\n# fallback: %s\n"
                    "# policy: integer tensors kept; 1-D and < %u elements kept; "
                    "embeddings/output head %s\n",
                    r->default_spec.text, r->has_fallback ? r->fallback.text : "none",
                    QTFC_SMALL_ELEMENTS,
                    r->all_layers ? "use the default (--all-layers)"
                    : narrower_than_8_bits(&r->default_spec) ? QTFC_EMBEDDING_ENCODING
                    : "use the default");
    return rc == 0 ? buf : NULL;
}
