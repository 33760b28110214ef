/* inspect/gguf_inspect.c — qtf-inspect's view of a GGUF file (gguf_inspect.h).
 * Same sections and JSON schema as for a QTF file (inspect/JSON-SCHEMA.md):
 * a tensor's "encoding" is its ggml type, it has one part (the ggml blocks,
 * or the plain elements), no compression and no checksum (GGUF has none:
 * the checksum fields are null). Every string from the file is escaped. */
#include "gguf_inspect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/gguf.h"
#include "cli/cli_util.h"

#define ARRAY_PREVIEW 8

typedef struct type_sum {
    uint64_t tensors, elements, bytes;
    int order;                  /* first appearance, -1 = none */
} type_sum;

typedef struct summary {
    uint64_t elements, bytes;
    type_sum by_type[QTF_GGML_TYPE_COUNT_];
    int n_types;
} summary;

static void summarize(summary *s, const qtf_gguf *g) {
    memset(s, 0, sizeof *s);
    for (int k = 0; k < QTF_GGML_TYPE_COUNT_; k++) s->by_type[k].order = -1;
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        type_sum *ts = &s->by_type[t->type];
        if (ts->order < 0) ts->order = s->n_types++;
        ts->tensors++;
        ts->elements += t->n_elements;   /* sums bounded by the file size */
        ts->bytes += t->nbytes;
        s->elements += t->n_elements;
        s->bytes += t->nbytes;
    }
}

static double bits_per(uint64_t bytes, uint64_t n) { return n ? 8.0 * (double)bytes / (double)n : NAN; }

static void lower(char *dst, size_t cap, const char *s) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) dst[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    dst[i] = '\0';
}

static void type_text(char *buf, size_t cap, const qtf_value *v) {
    if (v->type == QTF_TYPE_ARRAY) snprintf(buf, cap, "array[%s]", qtf_type_name(v->elem_type));
    else snprintf(buf, cap, "%s", qtf_type_name(v->type));
}

/* --- values ------------------------------------------------------------------------------ */

static void scalar_text(cli_buf *out, const qtf_value *v, size_t width) {
    char num[64];
    switch (v->type) {
    case QTF_TYPE_U8: case QTF_TYPE_U16: case QTF_TYPE_U32: case QTF_TYPE_U64:
        cli_buf_printf(out, "%llu", (unsigned long long)v->num.u64);
        break;
    case QTF_TYPE_I8: case QTF_TYPE_I16: case QTF_TYPE_I32: case QTF_TYPE_I64:
        cli_buf_printf(out, "%lld", (long long)v->num.i64);
        break;
    case QTF_TYPE_F32: case QTF_TYPE_F64:
        cli_buf_puts(out, cli_format_double(num, sizeof num, v->num.f64));
        break;
    case QTF_TYPE_BOOL: cli_buf_puts(out, v->num.u64 ? "true" : "false"); break;
    case QTF_TYPE_STRING:
        cli_buf_putn(out, "\"", 1);
        cli_escape(out, v->str, (size_t)v->len, width, CLI_ESC_QUOTE);
        cli_buf_putn(out, "\"", 1);
        break;
    default: cli_buf_puts(out, "?"); break;
    }
}

static void value_text(cli_buf *out, const qtf_gguf *g, uint64_t i, size_t width) {
    qtf_value v;
    if (qtf_gguf_kv_value(&v, g, i) != QTF_OK) return;
    if (v.type != QTF_TYPE_ARRAY) {
        scalar_text(out, &v, width);
        if (v.type == QTF_TYPE_STRING && width && v.len > width)
            cli_buf_printf(out, " (%llu bytes)", (unsigned long long)v.len);
        return;
    }
    cli_buf_putn(out, "[", 1);
    for (uint64_t j = 0; j < v.count && j < ARRAY_PREVIEW; j++) {
        qtf_value e;
        if (qtf_gguf_array_elem(&e, g, i, j) != QTF_OK) break;
        if (j) cli_buf_puts(out, ", ");
        scalar_text(out, &e, 24);
    }
    cli_buf_printf(out, "%s] (%llu)", v.count > ARRAY_PREVIEW ? ", …" : "",
                   (unsigned long long)v.count);
}

static json_t *scalar_json(const qtf_value *v) {
    switch (v->type) {
    case QTF_TYPE_U8: case QTF_TYPE_U16: case QTF_TYPE_U32: case QTF_TYPE_U64:
        return cli_json_u64(v->num.u64);
    case QTF_TYPE_I8: case QTF_TYPE_I16: case QTF_TYPE_I32: case QTF_TYPE_I64:
        return cli_json_i64(v->num.i64);
    case QTF_TYPE_F32: case QTF_TYPE_F64: return cli_json_real(v->num.f64);
    case QTF_TYPE_BOOL: return json_boolean(v->num.u64 != 0);
    case QTF_TYPE_STRING: return cli_json_string(v->str, (size_t)v->len);
    default: return json_null();
    }
}

static json_t *value_json(const qtf_gguf *g, uint64_t i, int *oom) {
    qtf_value v;
    if (qtf_gguf_kv_value(&v, g, i) != QTF_OK) return json_null();
    if (v.type != QTF_TYPE_ARRAY) return scalar_json(&v);
    json_t *a = json_array();
    for (uint64_t j = 0; a && j < v.count; j++) {
        qtf_value e;
        if (qtf_gguf_array_elem(&e, g, i, j) != QTF_OK) break;
        cli_json_append(a, scalar_json(&e), oom);
    }
    return a;
}

/* --- tensors ----------------------------------------------------------------------------- */

static char *shape_of(const qtf_gguf_tensor *t) {
    uint64_t dims[QTF_GGUF_MAX_DIMS];
    uint32_t nd = qtf_gguf_tensor_dims(dims, t);
    return cli_dims_dup(nd, dims);
}

static int decodable(uint32_t type) {
    qtf_encoding e;
    int ok = qtf_gguf_type_encoding(&e, type) == QTF_OK;
    return ok;
}

typedef struct detail {
    qtf_status st;
    char *error;
    float *values;
    uint64_t n;
    cli_value_stats s;
} detail;

static void detail_compute(detail *d, const qtf_gguf *g, uint64_t i, unsigned threads) {
    memset(d, 0, sizeof *d);
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
    d->n = t->n_elements;
    d->values = malloc((size_t)(d->n ? d->n : 1) * sizeof(float));
    d->st = d->values ? qtf_gguf_tensor_dequantize(d->values, d->n, g, i, threads) : QTF_E_NOMEM;
    if (d->st != QTF_OK) {
        d->error = cli_detail_dup();
        return;
    }
    cli_value_stats_compute(&d->s, d->values, d->n);
}

static void print_detail(const qtf_gguf *g, uint64_t i, const detail *d, const gguf_inspect_options *o) {
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
    char *name = cli_escape_dup(t->name, t->name_len, 0), *shape = shape_of(t);
    printf("\nTensor %s\n", name ? name : "?");
    printf("  shape        %s, %llu elements (ne", shape ? shape : "?", (unsigned long long)t->n_elements);
    for (uint32_t k = 0; k < t->n_dims; k++) printf(" %llu", (unsigned long long)t->ne[k]);
    printf(")\n  type         %s (ggml type %u), %.3f bits/weight\n", qtf_ggml_type_name(t->type),
           t->type, bits_per(t->nbytes, t->n_elements));
    printf("  data         offset %llu, %llu bytes, no checksum (GGUF has none)\n",
           (unsigned long long)(qtf_gguf_get_info(g)->data_offset + t->offset),
           (unsigned long long)t->nbytes);
    free(name);
    free(shape);
    if (d->st != QTF_OK) {
        printf("  values       cannot decode: %s\n",
               d->error && d->error[0] ? d->error : qtf_status_text(d->st));
        return;
    }
    cli_values_print(d->values, d->n, o->n_values, &d->s);
}

static json_t *detail_json(const detail *d, const gguf_inspect_options *o, int *oom) {
    json_t *j = json_object();
    if (!j) return NULL;
    cli_json_set(j, "checksum_ok", json_null(), oom);
    cli_json_set(j, "checksum_status", json_null(), oom);
    cli_json_set(j, "decode_ok", json_boolean(d->st == QTF_OK), oom);
    if (d->st != QTF_OK) {
        cli_json_set(j, "decode_status", json_string(qtf_status_name(d->st)), oom);
        cli_json_set(j, "decode_error", json_string(d->error ? d->error : ""), oom);
        return j;
    }
    cli_values_json(j, d->values, d->n, o->n_values, &d->s, oom);
    cli_json_set(j, "histogram", json_null(), oom);
    return j;
}

static json_t *tensor_json(const qtf_gguf *g, uint64_t i, int *oom) {
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
    json_t *j = json_object();
    if (!j) return NULL;
    uint64_t dims[QTF_GGUF_MAX_DIMS];
    uint32_t nd = qtf_gguf_tensor_dims(dims, t);
    json_t *shape = json_array();
    for (uint32_t d = 0; shape && d < nd; d++) cli_json_append(shape, cli_json_u64(dims[d]), oom);
    char enc[32];
    lower(enc, sizeof enc, qtf_ggml_type_name(t->type));
    double bpw = bits_per(t->nbytes, t->n_elements);
    cli_json_set(j, "name", cli_json_string(t->name, t->name_len), oom);
    cli_json_set(j, "shape", shape, oom);
    cli_json_set(j, "n_elements", cli_json_u64(t->n_elements), oom);
    cli_json_set(j, "source_type", json_null(), oom);
    cli_json_set(j, "encoding", json_string(enc), oom);
    cli_json_set(j, "encoding_id", json_integer(t->type), oom);     /* the ggml type id */
    cli_json_set(j, "encoding_known", json_boolean(decodable(t->type)), oom);
    cli_json_set(j, "layout", json_string("row-major"), oom);  /* GGUF shapes as stored */
    cli_json_set(j, "params", json_array(), oom);
    cli_json_set(j, "bits_per_weight", isnan(bpw) ? json_null() : cli_json_real(bpw), oom);
    cli_json_set(j, "stored_bits_per_weight", isnan(bpw) ? json_null() : cli_json_real(bpw), oom);
    cli_json_set(j, "stored_bytes", cli_json_u64(t->nbytes), oom);
    cli_json_set(j, "decoded_bytes", cli_json_u64(t->nbytes), oom);
    cli_json_set(j, "compression", json_string("none"), oom);
    cli_json_set(j, "checksum", json_null(), oom);
    json_t *parts = json_array(), *p = json_object();
    if (p) {
        const qtf_ggml_type_info *ti = qtf_ggml_type_get(t->type);
        cli_json_set(p, "role", json_string(ti->quantized ? "blocks" : "data"), oom);
        cli_json_set(p, "type", json_string(ti->quantized ? "PACKED" : ti->name), oom);
        cli_json_set(p, "compression", json_string("none"), oom);
        cli_json_set(p, "offset", cli_json_u64(qtf_gguf_get_info(g)->data_offset + t->offset), oom);
        cli_json_set(p, "stored_size", cli_json_u64(t->nbytes), oom);
        cli_json_set(p, "decoded_size", cli_json_u64(t->nbytes), oom);
        cli_json_set(p, "checksum", json_null(), oom);
    }
    cli_json_append(parts, p, oom);
    cli_json_set(j, "parts", parts, oom);
    return j;
}

/* --- sections ------------------------------------------------------------------------------ */

static const char *meta_str(char *buf, size_t cap, const qtf_gguf *g, const char *key) {
    const char *s;
    uint64_t len;
    if (qtf_gguf_get_string(&s, &len, g, key) != QTF_OK) return NULL;
    cli_buf b;
    cli_buf_init(&b);
    cli_escape(&b, s, (size_t)len, 60, 0);
    snprintf(buf, cap, "%s", cli_buf_cstr(&b));
    cli_buf_free(&b);
    return buf;
}

static void print_summary(const qtf_gguf *g, const summary *s) {
    const qtf_gguf_info *in = qtf_gguf_get_info(g);
    char a[64], b[64];
    char *name = cli_escape_dup(qtf_gguf_name(g), strlen(qtf_gguf_name(g)), 0);
    printf("File          %s\n", name ? name : "?");
    free(name);
    printf("Format        GGUF v%u, alignment %u, no checksums (GGUF has none; qtf-verify "
           "--hash-manifest checks llama-gguf-hash output)\n", in->version, in->alignment);
    printf("File size     %s (%llu bytes)\n", cli_human_bytes(a, sizeof a, in->file_size),
           (unsigned long long)in->file_size);
    printf("Tensors       %llu\n", (unsigned long long)in->tensor_count);
    printf("Metadata      %llu keys\n", (unsigned long long)in->kv_count);
    printf("Parameters    %s (%llu elements)\n", cli_human_count(a, sizeof a, s->elements),
           (unsigned long long)s->elements);
    printf("Tensor data   %s\n", cli_human_bytes(a, sizeof a, s->bytes));
    if (s->elements) printf("Bits/weight   %.3f\n", bits_per(s->bytes, s->elements));
    if (s->bytes)
        printf("vs f16        %.2fx smaller (f16: %s)\n", (double)s->elements * 2.0 / (double)s->bytes,
               cli_human_bytes(a, sizeof a, s->elements * 2));
    const char *v = meta_str(b, sizeof b, g, "general.architecture");
    if (v) printf("Architecture  %s\n", v);
    v = meta_str(b, sizeof b, g, "general.name");
    if (v) printf("Name          %s\n", v);
    uint64_t ft;
    if (qtf_gguf_get_u64(&ft, g, "general.file_type") == QTF_OK)
        printf("File type     %llu (llama_ftype)\n", (unsigned long long)ft);
    printf("\nBy ggml type\n");
    const char *hdr[] = { "type", "tensors", "parameters", "bytes", "bits/w", "share" };
    cli_table *tb = cli_table_new(6, hdr, "lrrrrr");
    for (int ord = 0; ord < s->n_types; ord++)
        for (int k = 0; k < QTF_GGML_TYPE_COUNT_; k++) {
            const type_sum *ts = &s->by_type[k];
            if (ts->order != ord) continue;
            char c1[32], c2[32], c3[32], c4[32], c5[32];
            snprintf(c1, sizeof c1, "%llu", (unsigned long long)ts->tensors);
            cli_human_count(c2, sizeof c2, ts->elements);
            cli_human_bytes(c3, sizeof c3, ts->bytes);
            snprintf(c4, sizeof c4, "%.3f", bits_per(ts->bytes, ts->elements));
            snprintf(c5, sizeof c5, "%.1f%%", s->bytes ? 100.0 * (double)ts->bytes / (double)s->bytes : 0);
            const char *row[] = { qtf_ggml_type_name((uint32_t)k), c1, c2, c3, c4, c5 };
            cli_table_add(tb, row);
        }
    cli_table_print(tb, stdout, 2);
    cli_table_free(tb);
}

static void print_metadata(const qtf_gguf *g, const gguf_inspect_options *o) {
    printf("Metadata (%llu)\n", (unsigned long long)qtf_gguf_kv_count(g));
    const char *hdr[] = { "key", "type", "value" };
    cli_table *tb = cli_table_new(3, hdr, "lll");
    for (uint64_t i = 0; i < qtf_gguf_kv_count(g); i++) {
        qtf_value v;
        char type[40];
        if (qtf_gguf_kv_value(&v, g, i) != QTF_OK) continue;
        type_text(type, sizeof type, &v);
        cli_buf val;
        cli_buf_init(&val);
        value_text(&val, g, i, o->value_width);
        char *key = cli_escape_dup(qtf_gguf_kv_key(g, i), strlen(qtf_gguf_kv_key(g, i)), 0);
        const char *row[] = { key ? key : "?", type, cli_buf_cstr(&val) };
        cli_table_add(tb, row);
        free(key);
        cli_buf_free(&val);
    }
    cli_table_print(tb, stdout, 2);
    cli_table_free(tb);
}

static void print_tensors(const qtf_gguf *g, const gguf_inspect_options *o, uint64_t matched) {
    uint64_t n = qtf_gguf_tensor_count(g);
    if (o->tensor_glob)
        printf("Tensors (%llu of %llu matching the pattern)\n", (unsigned long long)matched,
               (unsigned long long)n);
    else
        printf("Tensors (%llu)\n", (unsigned long long)n);
    const char *hdr[] = { "name", "shape", "type", "bits/w", "bytes", "offset" };
    cli_table *tb = cli_table_new(6, hdr, "lllrrr");
    for (uint64_t i = 0; i < n; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        if (o->tensor_glob && !cli_glob_match(o->tensor_glob, t->name)) continue;
        char *name = cli_escape_dup(t->name, t->name_len, 0), *shape = shape_of(t);
        char c1[32], c2[32], c3[32];
        snprintf(c1, sizeof c1, "%.3f", bits_per(t->nbytes, t->n_elements));
        snprintf(c2, sizeof c2, "%llu", (unsigned long long)t->nbytes);
        snprintf(c3, sizeof c3, "%llu", (unsigned long long)(qtf_gguf_get_info(g)->data_offset + t->offset));
        const char *row[] = { name ? name : "?", shape ? shape : "?", qtf_ggml_type_name(t->type), c1, c2, c3 };
        cli_table_add(tb, row);
        free(name);
        free(shape);
    }
    cli_table_print(tb, stdout, 2);
    cli_table_free(tb);
}

static json_t *summary_json(const summary *s, int *oom) {
    json_t *j = json_object();
    if (!j) return NULL;
    double bpw = bits_per(s->bytes, s->elements);
    cli_json_set(j, "parameters", cli_json_u64(s->elements), oom);
    cli_json_set(j, "stored_bytes", cli_json_u64(s->bytes), oom);
    cli_json_set(j, "decoded_bytes", cli_json_u64(s->bytes), oom);
    cli_json_set(j, "bits_per_weight", isnan(bpw) ? json_null() : cli_json_real(bpw), oom);
    cli_json_set(j, "stored_bits_per_weight", isnan(bpw) ? json_null() : cli_json_real(bpw), oom);
    cli_json_set(j, "f16_bytes", cli_json_u64(s->elements * 2), oom);
    cli_json_set(j, "ratio_vs_f16", s->bytes ? cli_json_real((double)s->elements * 2.0 / (double)s->bytes)
                                             : json_null(), oom);
    cli_json_set(j, "source_bytes", json_null(), oom);
    cli_json_set(j, "ratio_vs_source", json_null(), oom);
    uint64_t n = 0;
    for (int k = 0; k < QTF_GGML_TYPE_COUNT_; k++) n += s->by_type[k].tensors;
    cli_json_set(j, "source_unknown_tensors", cli_json_u64(n), oom);
    cli_json_set(j, "source_types", json_object(), oom);
    json_t *encs = json_array();
    for (int ord = 0; encs && ord < s->n_types; ord++)
        for (int k = 0; k < QTF_GGML_TYPE_COUNT_; k++) {
            const type_sum *ts = &s->by_type[k];
            if (ts->order != ord) continue;
            json_t *e = json_object();
            char enc[32];
            lower(enc, sizeof enc, qtf_ggml_type_name((uint32_t)k));
            double b = bits_per(ts->bytes, ts->elements);
            if (e) {
                cli_json_set(e, "encoding", json_string(enc), oom);
                cli_json_set(e, "tensors", cli_json_u64(ts->tensors), oom);
                cli_json_set(e, "parameters", cli_json_u64(ts->elements), oom);
                cli_json_set(e, "stored_bytes", cli_json_u64(ts->bytes), oom);
                cli_json_set(e, "decoded_bytes", cli_json_u64(ts->bytes), oom);
                cli_json_set(e, "bits_per_weight", isnan(b) ? json_null() : cli_json_real(b), oom);
                cli_json_set(e, "stored_bits_per_weight", isnan(b) ? json_null() : cli_json_real(b), oom);
            }
            cli_json_append(encs, e, oom);
        }
    cli_json_set(j, "encodings", encs, oom);
    cli_json_set(j, "converter", json_null(), oom);
    cli_json_set(j, "recipe", json_null(), oom);
    return j;
}

static json_t *build_json(const qtf_gguf *g, const summary *s, const gguf_inspect_options *o,
                          int *exit_code, int *oom) {
    const qtf_gguf_info *in = qtf_gguf_get_info(g);
    json_t *root = json_object();
    if (!root) return NULL;
    char ver[16];
    snprintf(ver, sizeof ver, "%u", in->version);
    cli_json_set(root, "schema_version", json_integer(1), oom);
    cli_json_set(root, "file", cli_json_string(o->path, strlen(o->path)), oom);
    cli_json_set(root, "format", json_string("gguf"), oom);
    cli_json_set(root, "version", json_string(ver), oom);
    if (!o->metadata_only) {
        cli_json_set(root, "alignment", json_integer(in->alignment), oom);
        cli_json_set(root, "checksum_algorithm", json_string("none"), oom);
        cli_json_set(root, "file_size", cli_json_u64(in->file_size), oom);
        cli_json_set(root, "tensor_count", cli_json_u64(in->tensor_count), oom);
        cli_json_set(root, "metadata_count", cli_json_u64(in->kv_count), oom);
        cli_json_set(root, "summary", summary_json(s, oom), oom);
    }
    if (!o->no_metadata) {
        json_t *types = json_object(), *meta = json_object();
        for (uint64_t i = 0; types && meta && i < qtf_gguf_kv_count(g); i++) {
            qtf_value v;
            char type[40];
            if (qtf_gguf_kv_value(&v, g, i) != QTF_OK) continue;
            type_text(type, sizeof type, &v);
            cli_json_set(types, qtf_gguf_kv_key(g, i), json_string(type), oom);
            cli_json_set(meta, qtf_gguf_kv_key(g, i), value_json(g, i, oom), oom);
        }
        cli_json_set(root, "metadata_types", types, oom);
        cli_json_set(root, "metadata", meta, oom);
    }
    if (o->metadata_only || o->no_tensors) return root;
    json_t *arr = json_array();
    for (uint64_t i = 0; arr && i < qtf_gguf_tensor_count(g); i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        if (o->tensor_glob && !cli_glob_match(o->tensor_glob, t->name)) continue;
        json_t *tj = tensor_json(g, i, oom);
        if (tj && o->detail) {
            detail d;
            detail_compute(&d, g, i, o->threads);
            if (d.st != QTF_OK) *exit_code = CLI_EXIT_FAIL;
            cli_json_set(tj, "detail", detail_json(&d, o, oom), oom);
            free(d.values);
            free(d.error);
        }
        cli_json_append(arr, tj, oom);
    }
    cli_json_set(root, "tensors", arr, oom);
    return root;
}

int gguf_inspect_main(const gguf_inspect_options *o) {
    qtf_gguf *g = NULL;
    qtf_status st = qtf_gguf_open(&g, o->path, o->detail ? 0 : QTF_GGUF_OPEN_METADATA_ONLY);
    if (st != QTF_OK) {
        char *p = cli_escape_dup(o->path, strlen(o->path), 0);
        cli_error_status(st, "cannot open '%s'", p ? p : "?");
        free(p);
        return CLI_EXIT_USAGE;
    }
    summary s;
    summarize(&s, g);
    int exit_code = CLI_EXIT_OK, oom = 0;
    uint64_t matched = 0;
    for (uint64_t i = 0; o->tensor_glob && i < qtf_gguf_tensor_count(g); i++)
        matched += cli_glob_match(o->tensor_glob, qtf_gguf_tensor_get(g, i)->name) != 0;
    if (o->tensor_glob && !matched && !o->metadata_only) {
        char *p = cli_escape_dup(o->tensor_glob, strlen(o->tensor_glob), 0);
        cli_error("no tensor matches '%s'", p ? p : "?");
        free(p);
        exit_code = CLI_EXIT_FAIL;
    }
    if (o->json) {
        json_t *root = build_json(g, &s, o, &exit_code, &oom);
        if (!root || oom || cli_json_print(root, stdout) != 0) oom = 1;
        json_decref(root);
    } else {
        if (!o->metadata_only) print_summary(g, &s);
        if (!o->no_metadata) {
            if (!o->metadata_only) printf("\n");
            print_metadata(g, o);
        }
        if (!o->metadata_only && !o->no_tensors) {
            printf("\n");
            print_tensors(g, o, matched);
        }
        for (uint64_t i = 0; o->detail && i < qtf_gguf_tensor_count(g); i++) {
            if (!cli_glob_match(o->tensor_glob, qtf_gguf_tensor_get(g, i)->name)) continue;
            detail d;
            detail_compute(&d, g, i, o->threads);
            if (d.st != QTF_OK) exit_code = CLI_EXIT_FAIL;
            print_detail(g, i, &d, o);
            free(d.values);
            free(d.error);
        }
    }
    qtf_gguf_close(g);
    if (oom) {
        cli_error("out of memory while formatting the output");
        return CLI_EXIT_FAIL;
    }
    return cli_finish_stdout(exit_code);
}
