/* qtf-inspect — what is inside a .qtf file: summary, metadata, tensors, and
 * per-tensor detail. Reads only the header, metadata and directory unless
 * --detail asks for tensor data, so it answers instantly on any file size.
 * The --json schema is documented in inspect/JSON-SCHEMA.md. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/output.h"
#include "codes.h"
#include "gguf_inspect.h"
#include "checkpoint/gguf.h"

#define DEFAULT_VALUE_WIDTH 64
#define DEFAULT_DETAIL_VALUES 16
#define ARRAY_PREVIEW 8

typedef struct options {
    const char *path;
    const char *tensor_glob;
    int json;
    int detail;
    int metadata_only;
    int no_tensors;
    int no_metadata;
    size_t value_width;     /* 0 = never shorten */
    uint64_t n_values;
    unsigned threads;
    qtf_open_options open;  /* decode limits */
    const char *extract;    /* --extract KEY */
    const char *out_path;   /* -o FILE */
    int force;              /* --force: -o may replace an existing file */
} options;

static void print_help(void) {
    printf(
"Usage: qtf-inspect [OPTIONS] FILE.qtf\n"
"\n"
"Shows what a QTF file holds: a summary (format version, sizes, parameters,\n"
"size by encoding, bits per weight, ratio against f16 and against the source\n"
"checkpoint, converter and recipe), the metadata, and one line per tensor\n"
"(shape, encoding, bits per weight, stored bytes, compression, checksum).\n"
"Only the header, metadata and directory are read, so this is instant even\n"
"on a file of many GB; --detail reads the selected tensors' data.\n"
"A GGUF file (recognised by its content) is shown the same way, with ggml\n"
"types as encodings; --json adds \"format\": \"gguf\" (GGUF has no checksums).\n"
"\n"
"Options:\n"
"  -t, --tensor GLOB     only tensors whose name matches GLOB (fnmatch(3)\n"
"                        syntax; '*' also matches '.'). Quote it for the shell.\n"
"  -d, --detail          for each selected tensor: its parts (role, type,\n"
"                        file offset, stored and decoded size, compression,\n"
"                        checksum and whether it matches), the first values\n"
"                        dequantized, value statistics, and a histogram of the\n"
"                        quantization codes (look-up-table use for palettized\n"
"                        tensors). Needs --tensor.\n"
"  -n, --values N        values shown by --detail (default %d, 0 = none)\n"
"      --metadata-only   print only the metadata\n"
"      --no-tensors      leave out the tensor table\n"
"      --no-metadata     leave out the metadata table\n"
"  -w, --width N         shorten metadata values to N characters (default %d,\n"
"                        0 = never shorten; --json never shortens)\n"
"  -j, --threads N       threads for --detail dequantization (default: all cores)\n"
CLI_OPEN_OPTIONS_HELP
"  -x, --extract KEY     write the value of metadata KEY, a blob (embedded file,\n"
"                        e.g. hf.file.config.json) or a string, byte for byte\n"
"                        to standard output (refused on a terminal when it\n"
"                        holds NUL bytes) or to -o FILE; nothing else printed\n"
"  -o, --output FILE     with --extract: write to FILE (atomically; an existing file\n"
"                        only with --force, never the inspected file)\n"
"      --force           with -o: replace an existing FILE\n"
"      --json            machine-readable output (schema: inspect/JSON-SCHEMA.md;\n"
"                        ASCII only, integers above 2^53 as strings, NaN and\n"
"                        infinities as \"nan\", \"inf\", \"-inf\")\n"
"  -h, --help            this text\n"
"  -V, --version         program and library version\n"
"\n"
"Text from the file (keys, names, strings) is printed with control characters,\n"
"invalid UTF-8 and bidirectional overrides escaped (\\n, \\t, \\xNN, \\uXXXX), a\n"
"backslash as \\\\; long values end with an ellipsis. Blobs are shown by media\n"
"type and size, arrays by element type, count and first elements.\n"
"\n"
"Checksum: each part's XXH3-64 of its stored bytes (as `xxhsum -H3` prints\n"
"it). The tensor checksum is the XXH3-64 of its parts' checksums (8 bytes\n"
"each, big-endian, in part order). qtf-verify checks them against the data.\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  --detail could not decode a selected tensor, or --tensor matched nothing\n"
"  2  usage error, or the file cannot be opened or is malformed\n"
"\n"
"Examples:\n"
"  qtf-inspect model.qtf\n"
"  qtf-inspect model.qtf --tensor '*.layers.0.*'\n"
"  qtf-inspect model.qtf --tensor model.embed_tokens.weight --detail\n"
"  qtf-inspect model.qtf --json | jq '.tensors[] | {name, encoding}'\n",
        DEFAULT_DETAIL_VALUES, DEFAULT_VALUE_WIDTH);
}

/* --- metadata values -------------------------------------------------------------- */

typedef struct scalar {
    int kind;               /* 'u', 'i', 'f', 'b' */
    uint64_t u;
    int64_t i;
    double f;
} scalar;

static scalar load_elem(const unsigned char *p, qtf_type t) {
    scalar s = {'u', 0, 0, 0};
    uint64_t raw = 0;
    size_t n = qtf_type_size(t);
    for (size_t k = 0; k < n; k++) raw |= (uint64_t)p[k] << (8 * k);
    switch (t) {
    case QTF_TYPE_I8: s.kind = 'i'; s.i = (int8_t)raw; break;
    case QTF_TYPE_I16: s.kind = 'i'; s.i = (int16_t)raw; break;
    case QTF_TYPE_I32: s.kind = 'i'; s.i = (int32_t)raw; break;
    case QTF_TYPE_I64: s.kind = 'i'; s.i = (int64_t)raw; break;
    case QTF_TYPE_F32: {
        uint32_t b = (uint32_t)raw;
        float fv;
        memcpy(&fv, &b, 4);
        s.kind = 'f'; s.f = fv;
        break;
    }
    case QTF_TYPE_F64: memcpy(&s.f, &raw, 8); s.kind = 'f'; break;
    case QTF_TYPE_BOOL: s.kind = 'b'; s.u = raw; break;
    default: s.u = raw; break;
    }
    return s;
}

static scalar value_scalar(const qtf_value *v) {
    scalar s = {'u', v->num.u64, 0, 0};
    switch (v->type) {
    case QTF_TYPE_I8: case QTF_TYPE_I16: case QTF_TYPE_I32: case QTF_TYPE_I64:
        s.kind = 'i'; s.i = v->num.i64; break;
    case QTF_TYPE_F32: case QTF_TYPE_F64: s.kind = 'f'; s.f = v->num.f64; break;
    case QTF_TYPE_BOOL: s.kind = 'b'; break;
    default: break;
    }
    return s;
}

static void scalar_text(cli_buf *out, scalar s) {
    char num[40];
    switch (s.kind) {
    case 'i': cli_buf_printf(out, "%lld", (long long)s.i); break;
    case 'f': cli_buf_puts(out, cli_format_double(num, sizeof num, s.f)); break;
    case 'b': cli_buf_puts(out, s.u ? "true" : "false"); break;
    default: cli_buf_printf(out, "%llu", (unsigned long long)s.u); break;
    }
}

static json_t *scalar_json(scalar s) {
    switch (s.kind) {
    case 'i': return cli_json_i64(s.i);
    case 'f': return cli_json_real(s.f);
    case 'b': return json_boolean(s.u != 0);
    default: return cli_json_u64(s.u);
    }
}

static void type_text(cli_buf *out, const qtf_value *v) {
    if (v->type == QTF_TYPE_ARRAY)
        cli_buf_printf(out, "array[%s]", qtf_type_name(v->elem_type));
    else
        cli_buf_puts(out, qtf_type_name(v->type));
}

/* One metadata value for people, shortened to about `width` characters. */
static void value_text(cli_buf *out, const qtf_file *f, uint64_t i, const qtf_value *v,
                       size_t width) {
    char h[32];
    switch (v->type) {
    case QTF_TYPE_STRING: {
        cli_buf_putn(out, "\"", 1);
        int cut = cli_escape(out, v->str, (size_t)v->len, width, CLI_ESC_QUOTE);
        cli_buf_putn(out, "\"", 1);
        if (cut) cli_buf_printf(out, " (%llu bytes)", (unsigned long long)v->len);
        return;
    }
    case QTF_TYPE_BLOB:
        cli_buf_puts(out, "blob ");
        cli_escape(out, v->media_type ? v->media_type : "", v->media_type ? strlen(v->media_type) : 0,
                   40, 0);
        cli_buf_printf(out, ", %s", cli_human_bytes(h, sizeof h, v->len));
        if (v->len >= 1024) cli_buf_printf(out, " (%llu bytes)", (unsigned long long)v->len);
        return;
    case QTF_TYPE_ARRAY: {
        size_t start = out->len;
        cli_buf_putn(out, "[", 1);
        uint64_t shown = 0;
        size_t es = qtf_type_size(v->elem_type);
        for (; shown < v->count && shown < ARRAY_PREVIEW; shown++) {
            if (width && out->len - start > width) break;
            if (shown) cli_buf_puts(out, ", ");
            if (v->elem_type == QTF_TYPE_STRING) {
                const char *s;
                uint64_t len;
                if (qtf_meta_array_string(&s, &len, f, i, shown) != QTF_OK) {
                    cli_buf_puts(out, "?");
                    continue;
                }
                cli_buf_putn(out, "\"", 1);
                cli_escape(out, s, (size_t)len, width ? 24 : 0, CLI_ESC_QUOTE);
                cli_buf_putn(out, "\"", 1);
            } else if (es && v->data) {
                scalar_text(out, load_elem((const unsigned char *)v->data + shown * es, v->elem_type));
            } else {
                cli_buf_puts(out, "?");
            }
        }
        if (shown < v->count) cli_buf_puts(out, shown ? ", \xE2\x80\xA6" : "\xE2\x80\xA6");
        cli_buf_printf(out, "] (%llu)", (unsigned long long)v->count);
        return;
    }
    default:
        scalar_text(out, value_scalar(v));
        return;
    }
}

static json_t *value_json(const qtf_file *f, uint64_t i, const qtf_value *v) {
    int oom = 0;
    switch (v->type) {
    case QTF_TYPE_STRING: return cli_json_string(v->str, (size_t)v->len);
    case QTF_TYPE_BLOB: {
        json_t *o = json_object();
        if (!o) return NULL;
        cli_json_set(o, "type", json_string("blob"), &oom);
        cli_json_set(o, "size", cli_json_u64(v->len), &oom);
        const char *mt = v->media_type ? v->media_type : "";
        cli_json_set(o, "media_type", cli_json_string(mt, strlen(mt)), &oom);
        if (oom) { json_decref(o); return NULL; }
        return o;
    }
    case QTF_TYPE_ARRAY: {
        json_t *a = json_array();
        if (!a) return NULL;
        size_t es = qtf_type_size(v->elem_type);
        for (uint64_t j = 0; j < v->count && !oom; j++) {
            if (v->elem_type == QTF_TYPE_STRING) {
                const char *s;
                uint64_t len;
                if (qtf_meta_array_string(&s, &len, f, i, j) != QTF_OK) {
                    cli_json_append(a, json_null(), &oom);
                    continue;
                }
                cli_json_append(a, cli_json_string(s, (size_t)len), &oom);
            } else if (es && v->data) {
                cli_json_append(a, scalar_json(load_elem((const unsigned char *)v->data + j * es,
                                                         v->elem_type)), &oom);
            } else {
                cli_json_append(a, json_null(), &oom);
            }
        }
        if (oom) { json_decref(a); return NULL; }
        return a;
    }
    default: return scalar_json(value_scalar(v));
    }
}

/* --- summary ------------------------------------------------------------------------- */

#define MAX_ENCODING_ROWS 64

typedef struct enc_row {
    char name[80];
    uint64_t tensors, elements, stored, decoded;
} enc_row;

typedef struct summary {
    uint64_t elements, stored, decoded, f16_bytes;
    uint64_t source_bytes, source_elements, source_unknown;
    uint64_t source_type_count[QTF_DTYPE_COUNT_ + 1];
    enc_row *enc;
    size_t n_enc;
} summary;

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static uint64_t sat_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static int summarize(summary *s, const qtf_file *f) {
    memset(s, 0, sizeof *s);
    uint64_t n = qtf_tensor_count(f);
    size_t cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        if (!t) continue;
        uint64_t stored = cli_tensor_stored_bytes(t), decoded = cli_tensor_decoded_bytes(t);
        s->elements = sat_add(s->elements, t->n_elements);
        s->stored = sat_add(s->stored, stored);
        s->decoded = sat_add(s->decoded, decoded);
        s->f16_bytes = sat_add(s->f16_bytes, sat_mul(t->n_elements, 2));
        size_t ds = qtf_dtype_size(t->source_type);
        unsigned st = (unsigned)t->source_type < QTF_DTYPE_COUNT_ ? (unsigned)t->source_type
                                                                   : QTF_DTYPE_COUNT_;
        s->source_type_count[st]++;
        if (t->source_type == QTF_DTYPE_NONE || ds == 0 || t->source_type == QTF_DTYPE_PACKED) {
            s->source_unknown++;
        } else {
            s->source_bytes = sat_add(s->source_bytes, sat_mul(t->n_elements, ds));
            s->source_elements = sat_add(s->source_elements, t->n_elements);
        }
        char name[80];
        cli_encoding_text(name, sizeof name, t);
        size_t k = 0;
        while (k < s->n_enc && strcmp(s->enc[k].name, name) != 0) k++;
        /* A hostile file can give every tensor its own (unknown) encoding:
         * keep the table, and this search, bounded. */
        if (k == s->n_enc && s->n_enc == MAX_ENCODING_ROWS) {
            snprintf(name, sizeof name, "(other encodings)");
            k = 0;
            while (k < s->n_enc && strcmp(s->enc[k].name, name) != 0) k++;
        }
        if (k == s->n_enc) {
            if (s->n_enc == cap) {
                size_t nc = cap ? cap * 2 : 8;
                enc_row *p = realloc(s->enc, nc * sizeof *p);
                if (!p) return 0;
                s->enc = p;
                cap = nc;
            }
            memset(&s->enc[k], 0, sizeof s->enc[k]);
            memcpy(s->enc[k].name, name, sizeof name);
            s->n_enc++;
        }
        s->enc[k].tensors++;
        s->enc[k].elements = sat_add(s->enc[k].elements, t->n_elements);
        s->enc[k].stored = sat_add(s->enc[k].stored, stored);
        s->enc[k].decoded = sat_add(s->enc[k].decoded, decoded);
    }
    return 1;
}

static double ratio(uint64_t num, uint64_t den) {
    return den ? (double)num / (double)den : NAN;
}

static double bits_per(uint64_t bytes, uint64_t elements) {
    return elements ? (double)bytes * 8.0 / (double)elements : NAN;
}

/* Borrowed string metadata for the summary (NULL when absent or not a string). */
static const char *meta_string(const qtf_file *f, const char *key, uint64_t *len) {
    const char *s;
    if (qtf_meta_get_string(&s, len, f, key) != QTF_OK) return NULL;
    return s;
}

static const char *checksum_algo_name(uint32_t a) { return a == 1 ? "XXH3-64" : "unknown"; }

static const char *compression_text(const qtf_tensor_info *t) {
    int any = 0, all = t->n_parts > 0;
    for (uint32_t p = 0; p < t->n_parts; p++) {
        if (t->parts[p].compression != QTF_COMPRESSION_NONE) any = 1;
        else all = 0;
    }
    return !any ? "none" : all ? "zstd" : "mixed";
}

/* A multi-line text value (a recipe) one line per row, escaped; at most
 * RECIPE_LINES lines, each shortened to 100 characters. */
#define RECIPE_LINES 12
static void print_lines(const char *label, const char *v, size_t len) {
    cli_buf b;
    cli_buf_init(&b);
    size_t start = 0, shown = 0, total = 0;
    while (start < len || (len == 0 && total == 0)) {
        const char *nl = memchr(v + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - v) : len;
        if (shown < RECIPE_LINES) {
            cli_buf_clear(&b);
            cli_escape(&b, v + start, end - start, 100, 0);
            printf("%-13s %s\n", shown ? "" : label, cli_buf_cstr(&b));
            shown++;
        }
        total++;
        if (!nl) break;
        start = end + 1;
    }
    if (total > shown)
        printf("%-13s \xE2\x80\xA6 (%zu more lines)\n", "", total - shown);
    cli_buf_free(&b);
}

static void print_summary(const qtf_file *f, const summary *s) {
    const qtf_file_info *info = qtf_file_get_info(f);
    char a[32], b[32];
    char *name = cli_escape_dup(qtf_file_name(f), strlen(qtf_file_name(f)), 0);
    printf("File          %s\n", name ? name : "?");
    free(name);
    printf("Format        QTF %u.%u, alignment %u, checksums %s\n", info->major, info->minor,
           info->alignment, checksum_algo_name(info->checksum_algo));
    if (info->file_size < 1024)
        printf("File size     %s\n", cli_human_bytes(a, sizeof a, info->file_size));
    else
        printf("File size     %s (%llu bytes)\n", cli_human_bytes(a, sizeof a, info->file_size),
               (unsigned long long)info->file_size);
    printf("Tensors       %llu\n", (unsigned long long)info->tensor_count);
    printf("Metadata      %llu keys\n", (unsigned long long)info->metadata_count);
    printf("Parameters    %s (%llu elements)\n", cli_human_count(a, sizeof a, s->elements),
           (unsigned long long)s->elements);
    printf("Tensor data   %s stored, %s decoded\n", cli_human_bytes(a, sizeof a, s->stored),
           cli_human_bytes(b, sizeof b, s->decoded));
    if (s->elements)
        printf("Bits/weight   %.3f, all parts counted (%.3f as stored, after compression)\n",
               bits_per(s->decoded, s->elements), bits_per(s->stored, s->elements));
    if (s->stored)
        printf("vs f16        %.2fx smaller (f16: %s)\n", ratio(s->f16_bytes, s->stored),
               cli_human_bytes(a, sizeof a, s->f16_bytes));
    if (s->source_elements) {
        cli_buf types;
        cli_buf_init(&types);
        for (unsigned d = 1; d < QTF_DTYPE_COUNT_; d++)
            if (s->source_type_count[d])
                cli_buf_printf(&types, "%s%s %llu", types.len ? ", " : "", qtf_dtype_name((qtf_dtype)d),
                               (unsigned long long)s->source_type_count[d]);
        /* Compare like with like: only tensors whose source type is known. */
        uint64_t stored_known = 0;
        uint64_t n = qtf_tensor_count(f);
        for (uint64_t i = 0; i < n; i++) {
            const qtf_tensor_info *t = qtf_tensor_get(f, i);
            if (t && t->source_type != QTF_DTYPE_NONE && qtf_dtype_size(t->source_type) &&
                t->source_type != QTF_DTYPE_PACKED)
                stored_known = sat_add(stored_known, cli_tensor_stored_bytes(t));
        }
        printf("vs source     %.2fx smaller (source: %s; tensors by type: %s)\n",
               ratio(s->source_bytes, stored_known), cli_human_bytes(a, sizeof a, s->source_bytes),
               cli_buf_cstr(&types));
        if (s->source_unknown)
            printf("              (%llu tensors with unknown source type left out)\n",
                   (unsigned long long)s->source_unknown);
        cli_buf_free(&types);
    } else {
        printf("vs source     unknown (no tensor records its source type)\n");
    }
    const char *keys[2] = {"qtf.converter", "qtf.recipe"};
    const char *labels[2] = {"Converter", "Recipe"};
    for (int k = 0; k < 2; k++) {
        uint64_t len;
        const char *v = meta_string(f, keys[k], &len);
        if (!v) {
            printf("%-13s (not recorded)\n", labels[k]);
            continue;
        }
        print_lines(labels[k], v, (size_t)len);
    }
    if (s->n_enc) {
        printf("\nBy encoding\n");
        const char *hdr[] = {"encoding", "tensors", "parameters", "stored", "bits/w", "stored b/w", "share"};
        cli_table *tb = cli_table_new(7, hdr, "lrrrrrr");
        for (size_t k = 0; k < s->n_enc && tb; k++) {
            const enc_row *e = &s->enc[k];
            char c1[32], c2[32], c3[32], c4[32], c5[32], c6[32];
            snprintf(c1, sizeof c1, "%llu", (unsigned long long)e->tensors);
            cli_human_count(c2, sizeof c2, e->elements);
            cli_human_bytes(c3, sizeof c3, e->stored);
            if (e->elements) {
                snprintf(c4, sizeof c4, "%.3f", bits_per(e->decoded, e->elements));
                snprintf(c6, sizeof c6, "%.3f", bits_per(e->stored, e->elements));
            } else {
                snprintf(c4, sizeof c4, "-");
                snprintf(c6, sizeof c6, "-");
            }
            snprintf(c5, sizeof c5, "%.1f%%", s->stored ? 100.0 * ratio(e->stored, s->stored) : 0.0);
            const char *row[] = {e->name, c1, c2, c3, c4, c6, c5};
            cli_table_add(tb, row);
        }
        cli_table_print(tb, stdout, 2);
        cli_table_free(tb);
    }
}

/* --- metadata table ---------------------------------------------------------------------- */

static int print_metadata(const qtf_file *f, const options *o) {
    uint64_t n = qtf_meta_count(f);
    printf("Metadata (%llu)\n", (unsigned long long)n);
    if (n == 0) return 1;
    const char *hdr[] = {"key", "type", "value"};
    cli_table *tb = cli_table_new(3, hdr, "lll");
    if (!tb) return 0;
    cli_buf key, type, val;
    cli_buf_init(&key);
    cli_buf_init(&type);
    cli_buf_init(&val);
    for (uint64_t i = 0; i < n; i++) {
        const char *k = qtf_meta_key(f, i);
        qtf_value v;
        cli_buf_clear(&key);
        cli_buf_clear(&type);
        cli_buf_clear(&val);
        cli_escape(&key, k ? k : "?", k ? strlen(k) : 1, 0, 0);
        qtf_status st = qtf_meta_value(&v, f, i);
        if (st != QTF_OK) {
            cli_buf_puts(&type, "?");
            cli_buf_printf(&val, "(unreadable: %s)", qtf_status_text(st));
        } else {
            type_text(&type, &v);
            value_text(&val, f, i, &v, o->value_width);
        }
        const char *row[] = {cli_buf_cstr(&key), cli_buf_cstr(&type), cli_buf_cstr(&val)};
        cli_table_add(tb, row);
    }
    int ok = !key.oom && !type.oom && !val.oom && !cli_table_oom(tb);
    cli_table_print(tb, stdout, 2);
    cli_table_free(tb);
    cli_buf_free(&key);
    cli_buf_free(&type);
    cli_buf_free(&val);
    return ok;
}

/* --- tensor table ------------------------------------------------------------------------ */

static int print_tensors(const qtf_file *f, const options *o, uint64_t *matched) {
    uint64_t n = qtf_tensor_count(f);
    const char *hdr[] = {"name", "shape", "encoding", "bits/w", "stored", "compression", "checksum"};
    cli_table *tb = cli_table_new(7, hdr, "llllrll");
    if (!tb) return 0;
    cli_buf name, shape;
    cli_buf_init(&name);
    cli_buf_init(&shape);
    *matched = 0;
    for (uint64_t i = 0; i < n; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        if (!t || (o->tensor_glob && !cli_glob_match(o->tensor_glob, t->name))) continue;
        (*matched)++;
        char enc[80], bpw[32], stored[32], comp[32], sum[17];
        cli_buf_clear(&name);
        cli_buf_clear(&shape);
        cli_escape(&name, t->name, t->name_len, 0, 0);
        cli_shape_text(&shape, t);
        /* format 1.1: the logical shape is shown; the layout follows it */
        if (t->layout == QTF_LAYOUT_TRANSPOSED) cli_buf_puts(&shape, " transposed");
        else if (t->layout != QTF_LAYOUT_ROW_MAJOR) cli_buf_puts(&shape, " layout?");
        cli_encoding_text(enc, sizeof enc, t);
        double b = cli_tensor_bits_per_weight(t);
        if (isnan(b)) snprintf(bpw, sizeof bpw, "-");
        else snprintf(bpw, sizeof bpw, "%.3f", b);
        uint64_t sb = cli_tensor_stored_bytes(t), db = cli_tensor_decoded_bytes(t);
        snprintf(stored, sizeof stored, "%llu", (unsigned long long)sb);
        const char *c = compression_text(t);
        if (strcmp(c, "none") == 0) snprintf(comp, sizeof comp, "-");
        else snprintf(comp, sizeof comp, "%s %.0f%%", c, db ? 100.0 * ratio(sb, db) : 0.0);
        cli_hex64(sum, cli_tensor_digest(t));
        const char *row[] = {cli_buf_cstr(&name), cli_buf_cstr(&shape), enc, bpw, stored, comp, sum};
        cli_table_add(tb, row);
    }
    int ok = !name.oom && !shape.oom && !cli_table_oom(tb);
    printf("Tensors (%llu", (unsigned long long)*matched);
    if (o->tensor_glob) printf(" of %llu matching the pattern", (unsigned long long)n);
    printf(")\n");
    if (*matched) cli_table_print(tb, stdout, 2);
    cli_table_free(tb);
    cli_buf_free(&name);
    cli_buf_free(&shape);
    return ok;
}

/* --- detail ------------------------------------------------------------------------------- */

typedef struct detail {
    qtf_status verify;          /* checksums of the parts */
    char verify_error[512];     /* which part, recorded vs computed */
    qtf_status decode;          /* dequantization */
    char decode_error[512];
    float *values;              /* the whole tensor as f32, NULL if not decoded */
    uint64_t n;
    cli_value_stats s;
    qtf_status hist_status;
    code_histogram hist;
} detail;

static void detail_compute(detail *d, const qtf_file *f, uint64_t ti, unsigned threads) {
    memset(d, 0, sizeof *d);
    const qtf_tensor_info *t = qtf_tensor_get(f, ti);
    d->verify = qtf_tensor_verify(f, ti);
    if (d->verify != QTF_OK) snprintf(d->verify_error, sizeof d->verify_error, "%s", qtf_error_detail());
    d->n = t->n_elements;
    if (!t->encoding_known) {
        d->decode = QTF_E_UNKNOWN_ENCODING;
        cli_unknown_encoding_text(d->decode_error, sizeof d->decode_error, t);
    } else if (t->n_elements > SIZE_MAX / sizeof(float)) {
        d->decode = QTF_E_LIMIT;
        snprintf(d->decode_error, sizeof d->decode_error, "%llu elements do not fit in memory",
                 (unsigned long long)t->n_elements);
    } else {
        d->values = malloc(t->n_elements ? (size_t)t->n_elements * sizeof(float) : 1);
        if (!d->values) {
            d->decode = QTF_E_NOMEM;
            snprintf(d->decode_error, sizeof d->decode_error, "cannot allocate %llu bytes",
                     (unsigned long long)(t->n_elements * sizeof(float)));
        } else {
            d->decode = qtf_tensor_dequantize(d->values, QTF_DTYPE_F32, t->n_elements, f, ti, threads);
            if (d->decode != QTF_OK) {
                snprintf(d->decode_error, sizeof d->decode_error, "%s", qtf_error_detail());
                free(d->values);
                d->values = NULL;
            }
        }
    }
    if (d->values) cli_value_stats_compute(&d->s, d->values, d->n);
    d->hist_status = code_histogram_compute(&d->hist, f, ti);
    if (d->hist_status != QTF_OK)
        snprintf(d->hist.reason, sizeof d->hist.reason, "%s", qtf_status_text(d->hist_status));
}

static void detail_free(detail *d) { free(d->values); }

static int detail_failed(const detail *d) { return d->verify != QTF_OK || d->decode != QTF_OK; }

/* Histogram rows for people: at most 16, neighbouring codes merged. */
static void print_histogram(const code_histogram *h) {
    unsigned n_bins = h->is_signed ? 256u : 1u << h->bits;
    unsigned per = n_bins > 16 ? n_bins / 16 : 1;
    uint64_t peak = 0;
    for (unsigned b = 0; b < n_bins; b += per) {
        uint64_t c = 0;
        for (unsigned k = b; k < b + per; k++) c += h->counts[k];
        if (c > peak) peak = c;
    }
    unsigned used = 0;
    for (unsigned k = 0; k < n_bins; k++) used += h->counts[k] != 0;
    printf("  %s histogram (%u bits, %llu codes, %u of %u %s used):\n",
           h->is_lut ? "look-up-table" : "code", h->bits, (unsigned long long)h->n_codes, used,
           n_bins, h->is_lut ? "entries" : "values");
    for (unsigned b = 0; b < n_bins; b += per) {
        uint64_t c = 0;
        for (unsigned k = b; k < b + per; k++) c += h->counts[k];
        int lo = h->is_signed ? (int)b - 128 : (int)b, hi = lo + (int)per - 1;
        char label[24];
        if (per == 1) snprintf(label, sizeof label, "%d", lo);
        else snprintf(label, sizeof label, "%d..%d", lo, hi);
        unsigned bar = peak ? (unsigned)((c * 40 + peak - 1) / peak) : 0;
        printf("    %9s %12llu %6.2f%%  ", label, (unsigned long long)c,
               h->n_codes ? 100.0 * (double)c / (double)h->n_codes : 0.0);
        for (unsigned k = 0; k < bar; k++) fputc('#', stdout);
        fputc('\n', stdout);
    }
}

static void print_detail(const qtf_file *f, uint64_t ti, const detail *d, const options *o) {
    const qtf_tensor_info *t = qtf_tensor_get(f, ti);
    cli_buf b;
    cli_buf_init(&b);
    char enc[80], sum[17], num[40];
    cli_escape(&b, t->name, t->name_len, 0, 0);
    printf("\nTensor %s\n", cli_buf_cstr(&b));
    cli_buf_clear(&b);
    cli_shape_text(&b, t);
    printf("  shape        %s, %llu elements, source type %s\n", cli_buf_cstr(&b),
           (unsigned long long)t->n_elements, qtf_dtype_name(t->source_type));
    double bpw = cli_tensor_bits_per_weight(t);
    if (isnan(bpw)) snprintf(num, sizeof num, "-");
    else snprintf(num, sizeof num, "%.3f", bpw);
    printf("  encoding     %s (id %u), %s bits/weight\n", cli_encoding_text(enc, sizeof enc, t),
           (unsigned)t->encoding_id, num);
    if (t->layout == QTF_LAYOUT_TRANSPOSED)
        printf("  layout       transposed: the parts encode the [%llu, %llu] transpose, so groups "
               "run along dim 0; values are shown in the shape above\n",
               (unsigned long long)t->stored_dims[0], (unsigned long long)t->stored_dims[1]);
    else if (t->layout != QTF_LAYOUT_ROW_MAJOR)
        printf("  layout       %u, not known to this version (format 1.%u)\n", (unsigned)t->layout,
               (unsigned)QTF_FORMAT_MINOR);
    printf("  checksum     %s (%s)\n", cli_hex64(sum, cli_tensor_digest(t)),
           d->verify == QTF_OK ? "parts match" : "MISMATCH");
    if (d->verify != QTF_OK) {
        cli_buf_clear(&b);
        cli_escape(&b, d->verify_error, strlen(d->verify_error), 0, CLI_ESC_KEEP_BACKSLASH);
        printf("               %s\n", b.len ? cli_buf_cstr(&b) : qtf_status_text(d->verify));
    }
    const char *hdr[] = {"#", "role", "type", "offset", "stored", "decoded", "compression", "checksum"};
    cli_table *tb = cli_table_new(8, hdr, "rllrrrll");
    for (uint32_t p = 0; p < t->n_parts && tb; p++) {
        const qtf_part_info *pi = &t->parts[p];
        char c0[16], c3[24], c4[24], c5[24], c7[17];
        snprintf(c0, sizeof c0, "%u", p);
        snprintf(c3, sizeof c3, "%llu", (unsigned long long)pi->offset);
        snprintf(c4, sizeof c4, "%llu", (unsigned long long)pi->stored_size);
        snprintf(c5, sizeof c5, "%llu", (unsigned long long)pi->decoded_size);
        const char *row[] = {c0, qtf_part_role_name(pi->role), qtf_dtype_name(pi->type), c3, c4, c5,
                             pi->compression == QTF_COMPRESSION_ZSTD ? "zstd"
                             : pi->compression == QTF_COMPRESSION_NONE ? "none" : "?",
                             cli_hex64(c7, pi->checksum)};
        cli_table_add(tb, row);
    }
    printf("  parts\n");
    cli_table_print(tb, stdout, 4);
    cli_table_free(tb);
    if (d->decode != QTF_OK) {
        cli_buf_clear(&b);
        cli_escape(&b, d->decode_error, strlen(d->decode_error), 0, CLI_ESC_KEEP_BACKSLASH);
        printf("  values       cannot decode: %s\n",
               b.len ? cli_buf_cstr(&b) : qtf_status_text(d->decode));
    } else {
        cli_values_print(d->values, d->n, o->n_values, &d->s);
    }
    if (d->hist.available) print_histogram(&d->hist);
    else printf("  histogram    none (%s)\n", d->hist.reason);
    cli_buf_free(&b);
}

static json_t *detail_json(const detail *d, const options *o) {
    int oom = 0;
    json_t *j = json_object();
    if (!j) return NULL;
    cli_json_set(j, "checksum_ok", json_boolean(d->verify == QTF_OK), &oom);
    cli_json_set(j, "checksum_status", json_string(qtf_status_name(d->verify)), &oom);
    if (d->verify != QTF_OK)
        cli_json_set(j, "checksum_error", cli_json_string(d->verify_error, strlen(d->verify_error)), &oom);
    cli_json_set(j, "decode_ok", json_boolean(d->decode == QTF_OK), &oom);
    if (d->decode != QTF_OK) {
        cli_json_set(j, "decode_status", json_string(qtf_status_name(d->decode)), &oom);
        cli_json_set(j, "decode_error", cli_json_string(d->decode_error, strlen(d->decode_error)), &oom);
    } else {
        cli_values_json(j, d->values, d->n, o->n_values, &d->s, &oom);
    }
    if (d->hist.available) {
        json_t *h = json_object();
        if (h) {
            const code_histogram *hs = &d->hist;
            cli_json_set(h, "kind", json_string(hs->is_lut ? "lut" : "codes"), &oom);
            cli_json_set(h, "part", json_integer(hs->part), &oom);
            cli_json_set(h, "bits", json_integer(hs->bits), &oom);
            cli_json_set(h, "first_value", json_integer(hs->is_signed ? -128 : 0), &oom);
            cli_json_set(h, "codes", cli_json_u64(hs->n_codes), &oom);
            json_t *counts = json_array();
            unsigned n_bins = hs->is_signed ? 256u : 1u << hs->bits;
            for (unsigned k = 0; k < n_bins && counts; k++) cli_json_append(counts, cli_json_u64(hs->counts[k]), &oom);
            cli_json_set(h, "counts", counts, &oom);
        }
        cli_json_set(j, "histogram", h, &oom);
    } else {
        cli_json_set(j, "histogram", json_null(), &oom);
    }
    if (oom) { json_decref(j); return NULL; }
    return j;
}

/* --- JSON document ---------------------------------------------------------------------------- */

static json_t *tensor_json(const qtf_file *f, uint64_t i, int *oom) {
    const qtf_tensor_info *t = qtf_tensor_get(f, i);
    json_t *j = json_object();
    if (!j) { *oom = 1; return NULL; }
    char enc[80], sum[17];
    cli_json_set(j, "name", cli_json_string(t->name, t->name_len), oom);
    json_t *shape = json_array();
    for (uint32_t d = 0; d < t->n_dims && shape; d++) cli_json_append(shape, cli_json_u64(t->dims[d]), oom);
    cli_json_set(j, "shape", shape, oom);
    cli_json_set(j, "n_elements", cli_json_u64(t->n_elements), oom);
    cli_json_set(j, "source_type", t->source_type == QTF_DTYPE_NONE ? json_null()
                                   : json_string(qtf_dtype_name(t->source_type)), oom);
    cli_json_set(j, "encoding", json_string(cli_encoding_text(enc, sizeof enc, t)), oom);
    cli_json_set(j, "encoding_id", json_integer(t->encoding_id), oom);
    cli_json_set(j, "encoding_known", json_boolean(t->encoding_known), oom);
    cli_json_set(j, "layout", json_string(t->layout == QTF_LAYOUT_ROW_MAJOR ? "row-major"
                                          : t->layout == QTF_LAYOUT_TRANSPOSED ? "transposed"
                                                                                : "unknown"), oom);
    json_t *params = json_array();
    for (uint32_t p = 0; p < t->n_params && p < QTF_MAX_PARAMS && params; p++) {
        json_t *kv = json_pack("[II]", (json_int_t)t->params[p].key, (json_int_t)t->params[p].value);
        cli_json_append(params, kv, oom);
    }
    cli_json_set(j, "params", params, oom);
    double bpw = cli_tensor_bits_per_weight(t);
    cli_json_set(j, "bits_per_weight", isnan(bpw) ? json_null() : cli_json_real(bpw), oom);
    cli_json_set(j, "stored_bits_per_weight", t->n_elements
                 ? cli_json_real(bits_per(cli_tensor_stored_bytes(t), t->n_elements)) : json_null(), oom);
    cli_json_set(j, "stored_bytes", cli_json_u64(cli_tensor_stored_bytes(t)), oom);
    cli_json_set(j, "decoded_bytes", cli_json_u64(cli_tensor_decoded_bytes(t)), oom);
    cli_json_set(j, "compression", json_string(compression_text(t)), oom);
    cli_json_set(j, "checksum", json_string(cli_hex64(sum, cli_tensor_digest(t))), oom);
    json_t *parts = json_array();
    for (uint32_t p = 0; p < t->n_parts && parts; p++) {
        const qtf_part_info *pi = &t->parts[p];
        json_t *pj = json_object();
        if (!pj) { *oom = 1; break; }
        cli_json_set(pj, "role", json_string(qtf_part_role_name(pi->role)), oom);
        cli_json_set(pj, "type", json_string(qtf_dtype_name(pi->type)), oom);
        cli_json_set(pj, "compression", json_string(pi->compression == QTF_COMPRESSION_ZSTD ? "zstd"
                                                    : pi->compression == QTF_COMPRESSION_NONE ? "none" : "?"), oom);
        cli_json_set(pj, "offset", cli_json_u64(pi->offset), oom);
        cli_json_set(pj, "stored_size", cli_json_u64(pi->stored_size), oom);
        cli_json_set(pj, "decoded_size", cli_json_u64(pi->decoded_size), oom);
        cli_json_set(pj, "checksum", json_string(cli_hex64(sum, pi->checksum)), oom);
        cli_json_append(parts, pj, oom);
    }
    cli_json_set(j, "parts", parts, oom);
    return j;
}

static json_t *summary_json(const qtf_file *f, const summary *s, int *oom) {
    json_t *j = json_object();
    if (!j) { *oom = 1; return NULL; }
    cli_json_set(j, "parameters", cli_json_u64(s->elements), oom);
    cli_json_set(j, "stored_bytes", cli_json_u64(s->stored), oom);
    cli_json_set(j, "decoded_bytes", cli_json_u64(s->decoded), oom);
    cli_json_set(j, "bits_per_weight", s->elements ? cli_json_real(bits_per(s->decoded, s->elements)) : json_null(), oom);
    cli_json_set(j, "stored_bits_per_weight", s->elements ? cli_json_real(bits_per(s->stored, s->elements)) : json_null(), oom);
    cli_json_set(j, "f16_bytes", cli_json_u64(s->f16_bytes), oom);
    cli_json_set(j, "ratio_vs_f16", s->stored ? cli_json_real(ratio(s->f16_bytes, s->stored)) : json_null(), oom);
    uint64_t stored_known = 0;
    for (uint64_t i = 0; i < qtf_tensor_count(f); i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        if (t && t->source_type != QTF_DTYPE_NONE && qtf_dtype_size(t->source_type) &&
            t->source_type != QTF_DTYPE_PACKED)
            stored_known = sat_add(stored_known, cli_tensor_stored_bytes(t));
    }
    cli_json_set(j, "source_bytes", s->source_elements ? cli_json_u64(s->source_bytes) : json_null(), oom);
    cli_json_set(j, "ratio_vs_source", s->source_elements && stored_known
                 ? cli_json_real(ratio(s->source_bytes, stored_known)) : json_null(), oom);
    cli_json_set(j, "source_unknown_tensors", cli_json_u64(s->source_unknown), oom);
    json_t *types = json_object();
    for (unsigned d = 1; d < QTF_DTYPE_COUNT_ && types; d++)
        if (s->source_type_count[d])
            cli_json_set(types, qtf_dtype_name((qtf_dtype)d), cli_json_u64(s->source_type_count[d]), oom);
    cli_json_set(j, "source_types", types, oom);
    json_t *encs = json_array();
    for (size_t k = 0; k < s->n_enc && encs; k++) {
        const enc_row *e = &s->enc[k];
        json_t *ej = json_object();
        if (!ej) { *oom = 1; break; }
        cli_json_set(ej, "encoding", json_string(e->name), oom);
        cli_json_set(ej, "tensors", cli_json_u64(e->tensors), oom);
        cli_json_set(ej, "parameters", cli_json_u64(e->elements), oom);
        cli_json_set(ej, "stored_bytes", cli_json_u64(e->stored), oom);
        cli_json_set(ej, "decoded_bytes", cli_json_u64(e->decoded), oom);
        cli_json_set(ej, "bits_per_weight", e->elements ? cli_json_real(bits_per(e->decoded, e->elements)) : json_null(), oom);
        cli_json_set(ej, "stored_bits_per_weight", e->elements ? cli_json_real(bits_per(e->stored, e->elements)) : json_null(), oom);
        cli_json_append(encs, ej, oom);
    }
    cli_json_set(j, "encodings", encs, oom);
    const char *keys[2] = {"qtf.converter", "qtf.recipe"};
    const char *names[2] = {"converter", "recipe"};
    for (int k = 0; k < 2; k++) {
        uint64_t len;
        const char *v = meta_string(f, keys[k], &len);
        cli_json_set(j, names[k], v ? cli_json_string(v, (size_t)len) : json_null(), oom);
    }
    return j;
}

/* One JSON value or string, written and freed at once. */
static int out_json(cli_json_out *out, json_t *v, unsigned indent) {
    if (!v) return -1;
    int rc = cli_json_out_value(out, v, indent);
    json_decref(v);
    return rc;
}

/* A metadata value in the shape value_json gives it, written element by
 * element: a huge array never becomes a tree (issue 11, item 8). */
static int out_value(cli_json_out *out, const qtf_file *f, uint64_t i, const qtf_value *v) {
    if (v->type != QTF_TYPE_ARRAY) return out_json(out, value_json(f, i, v), 4);
    if (v->count == 0) {
        cli_json_out_raw(out, "[]", 2);
        return 0;
    }
    size_t es = qtf_type_size(v->elem_type);
    cli_json_out_raw(out, "[", 1);
    for (uint64_t j = 0; j < v->count; j++) {
        cli_json_out_raw(out, j ? ",\n      " : "\n      ", j ? 8 : 7);
        json_t *e;
        if (v->elem_type == QTF_TYPE_STRING) {
            const char *str;
            uint64_t len;
            e = qtf_meta_array_string(&str, &len, f, i, j) == QTF_OK
                    ? cli_json_string(str, (size_t)len) : json_null();
        } else if (es && v->data) {
            e = scalar_json(load_elem((const unsigned char *)v->data + j * es, v->elem_type));
        } else {
            e = json_null();
        }
        if (out_json(out, e, 6) != 0) return -1;
    }
    cli_json_out_raw(out, "\n    ]", 6);
    return 0;
}

/* ,"metadata_types": {...}, "metadata": {...} one entry at a time: memory
 * stays that of the largest single value whatever the metadata holds. */
static int out_metadata(cli_json_out *out, const qtf_file *f) {
    cli_buf type;
    cli_buf_init(&type);
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        static const char types_open[] = ",\n  \"metadata_types\": {";
        static const char meta_open[] = ",\n  \"metadata\": {";
        if (pass == 0) cli_json_out_raw(out, types_open, sizeof types_open - 1);
        else cli_json_out_raw(out, meta_open, sizeof meta_open - 1);
        int first = 1;
        for (uint64_t i = 0; i < qtf_meta_count(f) && rc == 0; i++) {
            const char *k = qtf_meta_key(f, i);
            if (!k) continue;
            cli_json_out_raw(out, first ? "\n    " : ",\n    ", first ? 5 : 6);
            first = 0;
            /* Keys are validated UTF-8 by the reader; cli_json_string
             * sanitises them like values. */
            rc = out_json(out, cli_json_string(k, strlen(k)), 4);
            cli_json_out_raw(out, ": ", 2);
            qtf_value v;
            int readable = rc == 0 && qtf_meta_value(&v, f, i) == QTF_OK;
            if (pass == 0) {
                cli_buf_clear(&type);
                if (readable) type_text(&type, &v);
                else cli_buf_puts(&type, "?");
                if (rc == 0) rc = out_json(out, json_string(cli_buf_cstr(&type)), 4);
            } else if (rc == 0) {
                rc = readable ? out_value(out, f, i, &v) : out_json(out, json_null(), 4);
            }
        }
        cli_json_out_raw(out, first ? "}" : "\n  }", first ? 1 : 4);
    }
    cli_buf_free(&type);
    return rc;
}

/* Writes root, then the metadata (out_metadata) and a final "tensors"
 * member, one entry and one tensor object at a time: a file with a million
 * tensors or keys never holds a million JSON trees. */
static int print_json_streamed(json_t *root, const qtf_file *f, const options *o, int *exit_code) {
    char *head = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    if (!head) return 0;
    size_t n = strlen(head);
    /* "{\n  ...\n}": drop the closing brace and the newline before it. */
    while (n > 0 && head[n - 1] != '}') n--;
    if (n > 0) n--;
    while (n > 0 && head[n - 1] == '\n') n--;
    cli_json_out *out = cli_json_out_new(stdout);
    if (!out) {
        free(head);
        return 0;
    }
    cli_json_out_raw(out, head, n);
    free(head);
    int ok = 1, first = 1;
    if (!o->no_metadata && out_metadata(out, f) != 0) ok = 0;
    if (o->metadata_only || o->no_tensors) {
        cli_json_out_raw(out, "\n}\n", 3);
        return cli_json_out_finish(out) == 0 && ok;
    }
    static const char open[] = ",\n  \"tensors\": [";
    cli_json_out_raw(out, open, sizeof open - 1);
    for (uint64_t i = 0; i < qtf_tensor_count(f) && ok; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        if (!t || (o->tensor_glob && !cli_glob_match(o->tensor_glob, t->name))) continue;
        int oom = 0;
        json_t *tj = tensor_json(f, i, &oom);
        if (tj && o->detail) {
            detail d;
            detail_compute(&d, f, i, o->threads);
            if (detail_failed(&d)) *exit_code = CLI_EXIT_FAIL;
            cli_json_set(tj, "detail", detail_json(&d, o), &oom);
            detail_free(&d);
        }
        if (!tj || oom) ok = 0;
        else {
            cli_json_out_raw(out, first ? "\n    " : ",\n    ", first ? 5 : 6);
            if (cli_json_out_value(out, tj, 4) != 0) ok = 0;
            first = 0;
        }
        json_decref(tj);
    }
    if (first) cli_json_out_raw(out, "]\n}\n", 4);
    else cli_json_out_raw(out, "\n  ]\n}\n", 7);
    if (cli_json_out_finish(out) != 0) ok = 0;
    return ok;
}

/* --- --extract ------------------------------------------------------------------------------------ */

/* Writes a blob or string value as it is stored: to o->out_path atomically,
 * or to stdout (not to a terminal when the bytes hold a NUL: binary data
 * there is garbage at best). */
static int extract_value(const qtf_file *f, const options *o) {
    uint64_t i;
    char *k = cli_escape_dup(o->extract, strlen(o->extract), 0);
    qtf_status st = qtf_meta_find(&i, f, o->extract);
    qtf_value v;
    if (!st) st = qtf_meta_value(&v, f, i);
    int rc = CLI_EXIT_OK;
    if (st == QTF_E_NOT_FOUND) {
        cli_error("no metadata key '%s' in '%s'", k ? k : "?", qtf_file_name(f));
        rc = CLI_EXIT_FAIL;
    } else if (st) {
        cli_error_status(st, "metadata '%s'", k ? k : "?");
        rc = CLI_EXIT_FAIL;
    } else if (v.type != QTF_TYPE_BLOB && v.type != QTF_TYPE_STRING) {
        cli_error("metadata '%s' is a %s; --extract writes blobs and strings (see --json for "
                  "the others)", k ? k : "?", qtf_type_name(v.type));
        rc = CLI_EXIT_FAIL;
    } else if (o->out_path) {
        /* The tools' one output mechanism: complete or absent, an existing
         * file only with --force, never the inspected file itself. */
        const char *inputs[1] = { o->path };
        cli_output *out = NULL;
        st = v.len > SIZE_MAX ? QTF_E_LIMIT
                              : cli_output_open(&out, o->out_path, o->force, inputs, 1);
        if (!st) st = cli_output_write(out, v.str, (size_t)v.len);
        if (!st) {
            st = cli_output_commit(out);
        } else {
            cli_output_abort(out);
        }
        if (st) {
            char *p = cli_escape_dup(o->out_path, strlen(o->out_path), 0);
            cli_error("cannot write '%s': %s", p ? p : "?", qtf_error_detail());
            free(p);
            rc = CLI_EXIT_FAIL;
        }
    } else if (isatty(STDOUT_FILENO) && v.len && memchr(v.str, 0, (size_t)v.len)) {
        cli_error("metadata '%s' holds binary data (%llu bytes); give -o FILE or redirect "
                  "standard output", k ? k : "?", (unsigned long long)v.len);
        rc = CLI_EXIT_FAIL;
    } else if ((v.len && fwrite(v.str, 1, (size_t)v.len, stdout) != v.len) ||
               fflush(stdout) != 0) {
        cli_error("cannot write to standard output");
        rc = CLI_EXIT_FAIL;
    }
    free(k);
    return rc;
}

/* --- main ---------------------------------------------------------------------------------------- */

static int parse_args(options *o, int argc, char **argv) {
    enum { OPT_META_ONLY = 256, OPT_NO_TENSORS, OPT_NO_METADATA, OPT_JSON, OPT_OPEN,
           OPT_FORCE };
    static const struct option longopts[] = {
        {"tensor", required_argument, NULL, 't'},
        {"detail", no_argument, NULL, 'd'},
        {"values", required_argument, NULL, 'n'},
        {"metadata-only", no_argument, NULL, OPT_META_ONLY},
        {"no-tensors", no_argument, NULL, OPT_NO_TENSORS},
        {"no-metadata", no_argument, NULL, OPT_NO_METADATA},
        {"width", required_argument, NULL, 'w'},
        {"threads", required_argument, NULL, 'j'},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_OPEN_LONG_OPTIONS(OPT_OPEN),
        {"force", no_argument, NULL, OPT_FORCE},
        {"extract", required_argument, NULL, 'x'},
        {"output", required_argument, NULL, 'o'},
        CLI_END_LONG_OPTIONS,
    };
    memset(o, 0, sizeof *o);
    o->open = (qtf_open_options)QTF_OPEN_OPTIONS_INIT;
    o->value_width = DEFAULT_VALUE_WIDTH;
    o->n_values = DEFAULT_DETAIL_VALUES;
    opterr = 0;
    int c;
    uint64_t v;
    int li = -1;
    while ((c = getopt_long(argc, argv, ":t:dn:w:j:x:o:hV", longopts, &li)) != -1) {
        switch (c) {
        case 'x': o->extract = optarg; break;
        case 'o': o->out_path = optarg; break;
        case 't': o->tensor_glob = optarg; break;
        case 'd': o->detail = 1; break;
        case 'n':
            if (!cli_parse_u64(&o->n_values, optarg, 1u << 20))
                return cli_usage_error("--values wants a count from 0 to %u, not '%s'", 1u << 20, optarg);
            break;
        case 'w':
            if (!cli_parse_u64(&v, optarg, 1u << 20))
                return cli_usage_error("--width wants a number of characters, not '%s'", optarg);
            o->value_width = (size_t)v;
            break;
        case OPT_OPEN: {
            int rc = cli_open_option(&o->open, longopts[li].name, optarg);
            if (rc) return rc;
            break;
        }
        case 'j':
            if (!cli_parse_u64(&v, optarg, 4096))
                return cli_usage_error("--threads wants a number from 0 to 4096, not '%s'", optarg);
            o->threads = (unsigned)v;
            break;
        case OPT_META_ONLY: o->metadata_only = 1; break;
        case OPT_NO_TENSORS: o->no_tensors = 1; break;
        case OPT_NO_METADATA: o->no_metadata = 1; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_FORCE: o->force = 1; break;
        case 'h': print_help(); return -1;
        case 'V': cli_print_version(); return -1;
        default: return cli_getopt_error(c, argv, longopts);
        }
    }
    int usage = cli_take_one_path(&o->path, argc, argv);
    if (usage) return usage;
    if (o->out_path && !o->extract)
        return cli_usage_error("-o/--output goes with --extract KEY");
    if (o->extract && (o->json || o->detail || o->tensor_glob || o->metadata_only ||
                       o->no_tensors || o->no_metadata))
        return cli_usage_error("--extract prints only the value: no other output option");
    if (o->detail && !o->tensor_glob)
        return cli_usage_error("--detail needs --tensor NAME (or a pattern)");
    if (o->detail && o->metadata_only)
        return cli_usage_error("--detail and --metadata-only exclude each other");
    return 0;
}

int main(int argc, char **argv) {
    cli_set_program("qtf-inspect");
    options o;
    int rc = parse_args(&o, argc, argv);
    if (rc != 0) return rc < 0 ? CLI_EXIT_OK : rc;
    if (qtf_gguf_file_is_gguf(o.path)) {
        gguf_inspect_options go = { o.path, o.tensor_glob, o.json, o.detail, o.metadata_only,
                                    o.no_tensors, o.no_metadata, o.value_width, o.n_values,
                                    o.threads };
        return gguf_inspect_main(&go);
    }

    qtf_open_options oo = o.open;
    if (!o.detail) oo.flags |= QTF_OPEN_METADATA_ONLY;
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open(&f, o.path, &oo);
    if (st != QTF_OK) {
        char *p = cli_escape_dup(o.path, strlen(o.path), 0);
        cli_error_status(st, "cannot open '%s'", p ? p : "?");
        free(p);
        return CLI_EXIT_USAGE;
    }
    if (!(oo.flags & (QTF_OPEN_METADATA_ONLY | QTF_OPEN_NO_MMAP))) cli_guard_mapped_file(o.path);
    if (o.extract) {
        rc = extract_value(f, &o);
        qtf_file_close(f);
        return rc;
    }

    summary s;
    int ok = summarize(&s, f);
    int exit_code = CLI_EXIT_OK;
    uint64_t n = qtf_tensor_count(f), matched = 0;
    for (uint64_t i = 0; i < n && o.tensor_glob; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        if (t && cli_glob_match(o.tensor_glob, t->name)) matched++;
    }
    if (o.tensor_glob && matched == 0 && !o.metadata_only) {
        char *p = cli_escape_dup(o.tensor_glob, strlen(o.tensor_glob), 0);
        cli_error("no tensor matches '%s'", p ? p : "?");
        free(p);
        exit_code = CLI_EXIT_FAIL;
    }

    if (o.json && ok) {
        int oom = 0;
        json_t *root = json_object();
        const qtf_file_info *info = qtf_file_get_info(f);
        char ver[32];
        snprintf(ver, sizeof ver, "%u.%u", info->major, info->minor);
        if (!root) oom = 1;
        else {
            const char *fname = qtf_file_name(f);
            cli_json_set(root, "schema_version", json_integer(1), &oom);
            cli_json_set(root, "file", cli_json_string(fname, strlen(fname)), &oom);
            cli_json_set(root, "version", json_string(ver), &oom);
            if (!o.metadata_only) {
                cli_json_set(root, "alignment", json_integer(info->alignment), &oom);
                cli_json_set(root, "checksum_algorithm", json_string(info->checksum_algo == 1 ? "xxh3-64" : "unknown"), &oom);
                cli_json_set(root, "file_size", cli_json_u64(info->file_size), &oom);
                cli_json_set(root, "tensor_count", cli_json_u64(info->tensor_count), &oom);
                cli_json_set(root, "metadata_count", cli_json_u64(info->metadata_count), &oom);
                cli_json_set(root, "summary", summary_json(f, &s, &oom), &oom);
            }
        }
        if (oom) ok = 0;
        else ok = print_json_streamed(root, f, &o, &exit_code);
        json_decref(root);
    } else if (ok) {
        if (!o.metadata_only) print_summary(f, &s);
        if (!o.no_metadata) {
            if (!o.metadata_only) printf("\n");
            ok = print_metadata(f, &o);
        }
        if (ok && !o.metadata_only && !o.no_tensors) {
            printf("\n");
            ok = print_tensors(f, &o, &matched);
        }
        for (uint64_t i = 0; ok && o.detail && i < n; i++) {
            const qtf_tensor_info *t = qtf_tensor_get(f, i);
            if (!t || !cli_glob_match(o.tensor_glob, t->name)) continue;
            detail d;
            detail_compute(&d, f, i, o.threads);
            if (detail_failed(&d)) exit_code = CLI_EXIT_FAIL;
            print_detail(f, i, &d, &o);
            detail_free(&d);
        }
    }
    free(s.enc);
    qtf_file_close(f);
    if (!ok) {
        cli_error("out of memory while formatting the output");
        return CLI_EXIT_FAIL;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write to standard output");
        return CLI_EXIT_FAIL;
    }
    return exit_code;
}
