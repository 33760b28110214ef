/* Tensors stored transposed (spec/FORMAT.md 6.4, container format 1.1):
 * GPT-2's Conv1D weights [in, out] are encoded as their [out, in] transpose
 * so that quantization groups run along the input axis, and every reader
 * (whole tensor, rows, verify --against, export, GGUF out and in) returns
 * the original [in, out] tensor.
 *
 * The key fixture is a weight whose input-axis groups are exactly
 * representable in int4 (each group holds k * s_o with k in -8..7 and one
 * -8, s_o a power of two per output o), while its output-axis groups mix
 * scales 2^0 .. 2^-7 and cannot be: the transposed layout round-trips it
 * exactly, the row-major one does not. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/gguf.h"
#include "checkpoint/source.h"
#include "support/container.h"
#include "support/files.h"
#include "support/gguf.h"
#include "support/source.h"
#include "qtf.h"

TestSuite(layout);

#define IN 128
#define OUT 64

/* W[i][o] = k * 2^-(o % 8), k in -7..7, k = -8 at i % 32 == 0: int4 sym
 * maps a group's extreme to code -8, so each input-axis group's scale is
 * exactly 2^-(o % 8) and every value a code times it. */
static float *exact_on_input_axis(void) {
    float *w = malloc(IN * OUT * sizeof *w);
    cr_assert(w);
    for (int i = 0; i < IN; i++)
        for (int o = 0; o < OUT; o++) {
            int k = i % 32 == 0 ? -8 : (int)((i * 7 + o * 3) % 15) - 7;
            w[i * OUT + o] = ldexpf((float)k, -(o % 8));
        }
    return w;
}

static void transpose(float *dst, const float *src, uint64_t rows, uint64_t cols) {
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

/* Adds tensor `name` [rows, cols] to w, quantized with `text`, stored
 * transposed (the parts encode the transpose) or row-major. */
static void add(qtf_writer *w, const char *name, const char *text, const float *x, uint64_t rows,
                uint64_t cols, uint32_t layout) {
    qtf_encoding enc = ts_parse(text);
    uint64_t dims[2] = { rows, cols }, sdims[2] = { cols, rows };
    float *t = malloc(rows * cols * sizeof *t);
    transpose(t, x, rows, cols);
    qtf_encoded *e = NULL;
    int tr = layout == QTF_LAYOUT_TRANSPOSED;
    cr_assert_eq(qtf_quantize(&e, &enc, tr ? t : x, 2, tr ? sdims : dims, NULL), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(ts_add_encoded_as(w, name, &enc, e, 2, dims, QTF_DTYPE_F32, 0, layout), QTF_OK,
                 "%s", qtf_error_detail());
    qtf_encoded_free(e);
    free(t);
}

static uint64_t mismatches(const float *a, const float *b, uint64_t n) {
    uint64_t k = 0;
    for (uint64_t i = 0; i < n; i++) k += a[i] != b[i];
    return k;
}

Test(layout, groups_run_along_the_input_axis) {
    float *w = exact_on_input_axis();
    char *path = tu_path(gt_tmp(), "exact.qtf");
    qtf_writer *wr;
    cr_assert_eq(qtf_writer_create(&wr, path, NULL), QTF_OK);
    add(wr, "conv1d", "int4:group=32", w, IN, OUT, QTF_LAYOUT_TRANSPOSED);
    add(wr, "rowmajor", "int4:group=32", w, IN, OUT, QTF_LAYOUT_ROW_MAJOR);
    cr_assert_eq(qtf_writer_finish(wr), QTF_OK, "%s", qtf_error_detail());
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_file_get_info(f)->minor, 1, "a transposed tensor makes the file 1.1");
    const qtf_tensor_info *t = qtf_tensor_get(f, 0);
    cr_assert_eq(t->layout, QTF_LAYOUT_TRANSPOSED);
    cr_assert(t->dims[0] == IN && t->dims[1] == OUT, "the logical shape is kept");
    cr_assert(t->stored_dims[0] == OUT && t->stored_dims[1] == IN);
    cr_assert_eq(t->params[t->n_params - 1].key, QTF_PARAM_LAYOUT);
    cr_assert_eq(t->params[t->n_params - 1].value, QTF_LAYOUT_TRANSPOSED);
    cr_assert_eq(qtf_tensor_get(f, 1)->layout, QTF_LAYOUT_ROW_MAJOR);
    cr_assert_eq(qtf_tensor_get(f, 1)->params[qtf_tensor_get(f, 1)->n_params - 1].key, 11);
    float *d = malloc(IN * OUT * sizeof *d);
    cr_assert_eq(qtf_tensor_dequantize(d, QTF_DTYPE_F32, IN * OUT, f, 0, 2), QTF_OK);
    cr_assert_eq(mismatches(d, w, IN * OUT), 0, "groups along the input: exact");
    cr_assert_eq(qtf_tensor_dequantize(d, QTF_DTYPE_F32, IN * OUT, f, 1, 2), QTF_OK);
    cr_assert_gt(mismatches(d, w, IN * OUT), IN * OUT / 4, "groups along the output: lossy");
    /* a metadata edit copies the directory: the file stays 1.1 */
    char *edited = tu_path(gt_tmp(), "edited.qtf");
    cr_assert_eq(qtf_writer_create_edit(&wr, edited, f, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(wr, "general.name", "x", 1), QTF_OK);
    cr_assert_eq(qtf_writer_finish(wr), QTF_OK, "%s", qtf_error_detail());
    qtf_file *g;
    cr_assert_eq(qtf_file_open(&g, edited, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_file_get_info(g)->minor, 1);
    cr_assert_eq(qtf_tensor_get(g, 0)->layout, QTF_LAYOUT_TRANSPOSED);
    cr_assert_eq(qtf_tensor_dequantize(d, QTF_DTYPE_F32, IN * OUT, g, 0, 1), QTF_OK);
    cr_assert_eq(mismatches(d, w, IN * OUT), 0);
    qtf_file_close(g);
    free(edited);
    qtf_file_close(f);
    free(d);
    free(w);
    free(path);
}

Test(layout, writer_rules) {
    char *path = tu_path(gt_tmp(), "rules.qtf");
    qtf_writer *wr;
    cr_assert_eq(qtf_writer_create(&wr, path, NULL), QTF_OK);
    qtf_encoding enc;
    qtf_encoding_parse(&enc, "f32");
    float x[8] = { 0 };
    uint64_t d3[3] = { 2, 2, 2 };
    qtf_part_view v = { QTF_ROLE_DATA, QTF_DTYPE_F32, x, sizeof x };
    qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
    d.name = "cube";
    d.n_dims = 3;
    d.dims = d3;
    d.encoding = &enc;
    d.layout = QTF_LAYOUT_TRANSPOSED;
    cr_assert_eq(qtf_writer_add_tensor(wr, &d, &v, 1), QTF_E_SHAPE);
    d.layout = 7;
    cr_assert_eq(qtf_writer_add_tensor(wr, &d, &v, 1), QTF_E_INVALID_ARG);
    /* a version-1 descriptor has no layout field: row-major */
    d.version = 1;
    cr_assert_eq(qtf_writer_add_tensor(wr, &d, &v, 1), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(wr), QTF_OK);
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK);
    cr_assert_eq(qtf_file_get_info(f)->minor, 0, "no 1.1 feature used: still a 1.0 file");
    cr_assert_eq(qtf_tensor_get(f, 0)->layout, QTF_LAYOUT_ROW_MAJOR);
    qtf_file_close(f);
    free(path);
}

/* Rows of the logical tensor, in F32 and F16, equal the same rows of the
 * whole-tensor decode, for encodings with row units (pal tables, dq
 * blocks) and a compressed part; and the whole decode is the transpose of
 * the stored matrix's decode. */
Test(layout, rows_api_returns_logical_rows) {
    static const char *const encs[] = { "int4:group=32", "q8_0", "pal4:rows=8",
                                        "int4:group=32,dq", "int8:zstd", "q4_k" };
    enum { R = 256, C = 96 };
    float *x = malloc(R * C * sizeof *x), *t = malloc(R * C * sizeof *t);
    for (int i = 0; i < R * C; i++) x[i] = sinf(0.37f * (float)i) + 0.01f * (float)(i % 13);
    transpose(t, x, R, C);
    char *path = tu_path(gt_tmp(), "rows.qtf");
    qtf_writer *wr;
    cr_assert_eq(qtf_writer_create(&wr, path, NULL), QTF_OK);
    for (size_t k = 0; k < sizeof encs / sizeof encs[0]; k++)
        add(wr, encs[k], encs[k], x, R, C, QTF_LAYOUT_TRANSPOSED);
    cr_assert_eq(qtf_writer_finish(wr), QTF_OK, "%s", qtf_error_detail());
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK, "%s", qtf_error_detail());
    float *whole = malloc(R * C * 4), *rows = malloc(R * C * 4), *ref = malloc(R * C * 4);
    uint16_t *w16 = malloc(R * C * 2), *r16 = malloc(R * C * 2);
    for (uint64_t k = 0; k < qtf_tensor_count(f); k++) {
        const qtf_tensor_info *ti = qtf_tensor_get(f, k);
        cr_assert_eq(qtf_tensor_dequantize(whole, QTF_DTYPE_F32, R * C, f, k, 1), QTF_OK, "%s: %s",
                     ti->name, qtf_error_detail());
        /* the reference: quantize the transpose, decode it, transpose back */
        qtf_encoded *e;
        uint64_t sd[2] = { C, R };
        cr_assert_eq(qtf_quantize(&e, &ti->encoding, t, 2, sd, NULL), QTF_OK);
        qtf_part_view v[QTF_MAX_PARTS];
        uint32_t n = qtf_encoded_views(v, e);
        cr_assert_eq(qtf_dequantize(rows, QTF_DTYPE_F32, R * C, &ti->encoding, 2, sd, v, n, 1),
                     QTF_OK);
        qtf_encoded_free(e);
        transpose(ref, rows, C, R);
        cr_assert_eq(memcmp(whole, ref, R * C * 4), 0, "%s: whole decode", ti->name);
        for (unsigned threads = 1; threads <= 2; threads++) {
            uint64_t a = 5, b = 37;
            cr_assert_eq(qtf_tensor_dequantize_rows(rows, QTF_DTYPE_F32, (b - a) * C, f, k, a, b,
                                                    threads), QTF_OK, "%s", qtf_error_detail());
            cr_assert_eq(memcmp(rows, whole + a * C, (b - a) * C * 4), 0, "%s rows f32", ti->name);
            cr_assert_eq(qtf_tensor_dequantize(w16, QTF_DTYPE_F16, R * C, f, k, threads), QTF_OK);
            cr_assert_eq(qtf_tensor_dequantize_rows(r16, QTF_DTYPE_F16, (b - a) * C, f, k, a, b,
                                                    threads), QTF_OK);
            cr_assert_eq(memcmp(r16, w16 + a * C, (b - a) * C * 2), 0, "%s rows f16", ti->name);
            cr_assert_eq(qtf_tensor_dequantize_rows(rows, QTF_DTYPE_F32, R * C, f, k, 0, R,
                                                    threads), QTF_OK);
            cr_assert_eq(memcmp(rows, whole, R * C * 4), 0, "%s all rows", ti->name);
        }
    }
    qtf_file_close(f);
    free(x);
    free(t);
    free(whole);
    free(rows);
    free(ref);
    free(w16);
    free(r16);
    free(path);
}

/* --- the converter on a hand-made GPT-2 checkpoint ------------------------------ */

/* dir/model.safetensors: c_fc [IN, OUT] = the exact fixture, c_proj
 * [OUT, IN], a bias; dir/config.json naming `cls` (none when NULL). */
static void make_checkpoint(const char *dir, const char *cls, const float *w) {
    mkdir(dir, 0755);
    char p[4200];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    float *t = malloc(IN * OUT * 4);
    transpose(t, w, IN, OUT);
    const ts_st_tensor st[] = {
        { "transformer.h.0.mlp.c_fc.weight", QTF_DTYPE_F32, 2, { IN, OUT }, w },
        { "transformer.h.0.mlp.c_proj.weight", QTF_DTYPE_F32, 2, { OUT, IN }, t },
        { "transformer.h.0.mlp.c_fc.bias", QTF_DTYPE_F32, 1, { OUT }, w },
    };
    ts_write_safetensors(p, st, 3);
    free(t);
    if (cls) {
        char cfg[512];
        snprintf(cfg, sizeof cfg, "{\"architectures\": [\"%s\"], \"model_type\": \"gpt2\", "
                 "\"n_embd\": %d, \"n_layer\": 1, \"n_head\": 2}\n", cls, OUT);
        snprintf(p, sizeof p, "%s/config.json", dir);
        tu_write_text(p, cfg);
    }
}

static float *read_tensor(const char *path, const char *name, uint64_t *dims) {
    qtf_file *f = ts_open(path, 0);
    uint64_t i;
    const qtf_tensor_info *t = ts_tensor(f, name, &i);
    float *x = malloc(t->n_elements * 4);
    cr_assert_eq(qtf_tensor_dequantize(x, QTF_DTYPE_F32, t->n_elements, f, i, 1), QTF_OK);
    dims[0] = t->dims[0];
    dims[1] = t->dims[1];
    dims[2] = t->layout;
    qtf_file_close(f);
    return x;
}

/* The export at path holds c_fc as [IN, OUT] with exactly the values w. */
static void expect_exported_c_fc(const char *path, const float *w) {
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, path), QTF_OK, "%s", qtf_error_detail());
    uint64_t i;
    cr_assert_eq(qtf_source_tensor_find(&i, s, "transformer.h.0.mlp.c_fc.weight"), QTF_OK);
    const qtf_source_tensor *stt = qtf_source_tensor_get(s, i);
    cr_assert(stt->n_dims == 2 && stt->dims[0] == IN && stt->dims[1] == OUT);
    float *x = malloc(IN * OUT * 4);
    cr_assert_eq(qtf_source_read_f32(x, IN * OUT, s, i, 1), QTF_OK);
    cr_assert_eq(mismatches(x, w, IN * OUT), 0);
    free(x);
    qtf_source_close(s);
}

Test(layout, converter_transposes_conv1d_weights) {
    float *w = exact_on_input_axis();
    char *ck = tu_path(gt_tmp(), "gpt2ish"), *plain = tu_path(gt_tmp(), "plain"), args[16384], *out = NULL;
    make_checkpoint(ck, "GPT2LMHeadModel", w);
    make_checkpoint(plain, NULL, w);    /* no config.json: no architecture, row-major */
    char *q1 = tu_path(gt_tmp(), "g1.qtf"), *q2 = tu_path(gt_tmp(), "g2.qtf"), *q3 = tu_path(gt_tmp(), "plain.qtf");
    snprintf(args, sizeof args, "'%s' '%s' -e int4:group=32 -j 1 -q", ck, q1);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    snprintf(args, sizeof args, "'%s' '%s' -e int4:group=32 -j 2 -q", ck, q2);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    snprintf(args, sizeof args, "'%s' '%s' -e int4:group=32 -q", plain, q3);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    size_t n1, n2;
    unsigned char *b1 = tu_read(q1, &n1), *b2 = tu_read(q2, &n2);
    cr_assert(n1 == n2 && memcmp(b1, b2, n1) == 0, "same bytes for any thread count");
    free(b1);
    free(b2);
    uint64_t dims[3];
    float *x = read_tensor(q1, "transformer.h.0.mlp.c_fc.weight", dims);
    cr_assert(dims[0] == IN && dims[1] == OUT && dims[2] == QTF_LAYOUT_TRANSPOSED);
    cr_assert_eq(mismatches(x, w, IN * OUT), 0, "Conv1D weight round-trips exactly");
    free(x);
    x = read_tensor(q3, "transformer.h.0.mlp.c_fc.weight", dims);
    cr_assert(dims[0] == IN && dims[1] == OUT && dims[2] == QTF_LAYOUT_ROW_MAJOR);
    cr_assert_gt(mismatches(x, w, IN * OUT), 0, "without the table: groups along the output");
    free(x);
    /* c_proj [OUT, IN] holds the transpose: also Conv1D, also exact */
    x = read_tensor(q1, "transformer.h.0.mlp.c_proj.weight", dims);
    float *t = malloc(IN * OUT * 4);
    transpose(t, w, IN, OUT);
    cr_assert(dims[0] == OUT && dims[1] == IN && dims[2] == QTF_LAYOUT_TRANSPOSED);
    free(x);
    free(t);
    /* the 1-D bias is untouched; the files without a layout stay 1.0 */
    x = read_tensor(q1, "transformer.h.0.mlp.c_fc.bias", dims);
    cr_assert_eq(dims[2], QTF_LAYOUT_ROW_MAJOR);
    free(x);
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, q3, NULL), QTF_OK);
    cr_assert_eq(qtf_file_get_info(f)->minor, 0);
    qtf_file_close(f);

    /* verify --against compares in the original layout */
    snprintf(args, sizeof args, "'%s' --against '%s'", q1, ck);
    gt_expect("inspect/qtf-verify", args, 0, "RESULT: OK", NULL);
    /* inspect shows it */
    snprintf(args, sizeof args, "'%s' --json", q1);
    gt_expect("inspect/qtf-inspect", args, 0, "\"layout\": \"transposed\"", "\"layout\": \"row-major\"", NULL);
    snprintf(args, sizeof args, "'%s' --tensor '*c_fc.weight' --detail -n 0", q1);
    cr_assert_eq(gt_run(&out, "inspect/qtf-inspect", args), 0, "%s", out);
    cr_assert(strstr(out, "[128, 64] transposed"), "%s", out);
    cr_assert(strstr(out, "layout       transposed: the parts encode the [64, 128] transpose"),
              "%s", out);
    free(out);
    /* --dry-run says so */
    snprintf(args, sizeof args, "'%s' '%s' -e int4:group=32 --dry-run", ck, q2);
    gt_expect("convert/qtf-convert", args, 0, "transposed (groups along dim 0)", NULL);

    /* export: the original layout back, exactly */
    char *st = tu_path(gt_tmp(), "back.safetensors");
    snprintf(args, sizeof args, "'%s' '%s' -q", q1, st);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    expect_exported_c_fc(st, w);
    free(st);
    /* the same through a folder export (what transformers loads) */
    char *folder = tu_path(gt_tmp(), "exported");
    snprintf(args, sizeof args, "'%s' '%s/' -q", q1, folder);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    expect_exported_c_fc(folder, w);
    free(folder);

    /* a .qtf source: re-encoding keeps the layout decision (and f16 is
     * lossless, so row-major) */
    char *q4 = tu_path(gt_tmp(), "re.qtf");
    snprintf(args, sizeof args, "'%s' '%s' -e q8_0 --allow-requantize -q", q1, q4);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    x = read_tensor(q4, "transformer.h.0.mlp.c_fc.weight", dims);
    cr_assert_eq(dims[2], QTF_LAYOUT_TRANSPOSED);
    /* the int4 values are exact, so re-encoding them equals encoding the
     * checkpoint directly */
    char *q5 = tu_path(gt_tmp(), "direct8.qtf");
    snprintf(args, sizeof args, "'%s' '%s' -e q8_0 -q", ck, q5);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    float *y = read_tensor(q5, "transformer.h.0.mlp.c_fc.weight", dims);
    cr_assert_eq(mismatches(x, y, IN * OUT), 0);
    free(y);
    free(q5);
    free(x);
    snprintf(args, sizeof args, "'%s' '%s' -e f16 -q --force", ck, q4);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    x = read_tensor(q4, "transformer.h.0.mlp.c_fc.weight", dims);
    cr_assert_eq(dims[2], QTF_LAYOUT_ROW_MAJOR, "lossless encodings stay row-major");
    free(x);
    free(q4);
    free(w);
    free(ck);
    free(plain);
    free(q1);
    free(q2);
    free(q3);
}

/* Llama has no input-first weight: its .qtf files keep every tensor
 * row-major and stay format 1.0 (byte-identical to before). */
Test(layout, llama_stays_row_major) {
    TS_NEED(ck, "checkpoints/aidreams-llama-260k-hf");
    char *q = tu_path(gt_tmp(), "llama.qtf"), args[16384];
    snprintf(args, sizeof args, "'%s' '%s' -e int4:group=4,search --fallback f16 -q", ck, q);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, q, NULL), QTF_OK);
    cr_assert_eq(qtf_file_get_info(f)->minor, 0);
    for (uint64_t i = 0; i < qtf_tensor_count(f); i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        cr_assert_eq(t->layout, QTF_LAYOUT_ROW_MAJOR, "%s", t->name);
        for (uint32_t k = 0; k < t->n_params; k++)
            cr_assert_neq(t->params[k].key, QTF_PARAM_LAYOUT, "%s", t->name);
    }
    qtf_file_close(f);
    free(q);
}

/* --importance on a Conv1D weight: one value per input (dims[0]). */
Test(layout, importance_is_per_input) {
    float *w = exact_on_input_axis();
    char *ck = tu_path(gt_tmp(), "gpt2imp"), *q = tu_path(gt_tmp(), "imp.qtf"), args[16384], *out = NULL;
    make_checkpoint(ck, "GPT2LMHeadModel", w);
    char *imp = tu_path(gt_tmp(), "imp.safetensors");
    qtf_st_writer *sw;
    cr_assert_eq(qtf_st_writer_create(&sw, imp, NULL), QTF_OK);
    uint64_t din[1] = { IN }, dout[1] = { OUT };
    cr_assert_eq(qtf_st_writer_declare(sw, "transformer.h.0.mlp.c_fc.weight", QTF_DTYPE_F32, 1,
                                       din), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(sw, "transformer.h.0.mlp.c_proj.weight", QTF_DTYPE_F32, 1,
                                       dout), QTF_OK);
    float v[IN];
    for (int k = 0; k < IN; k++) v[k] = 1.0f + (float)(k % 5);
    cr_assert_eq(qtf_st_writer_write(sw, v, IN * 4), QTF_OK);
    cr_assert_eq(qtf_st_writer_write(sw, v, OUT * 4), QTF_OK);
    cr_assert_eq(qtf_st_writer_finish(sw), QTF_OK);
    snprintf(args, sizeof args, "'%s' '%s' -e int4:group=32,search --importance '%s' --dry-run",
             ck, q, imp);
    gt_expect("convert/qtf-convert", args, 0, "importance, transposed", NULL);
    snprintf(args, sizeof args, "'%s' '%s' -e int4:group=32,search --importance '%s' -q", ck, q,
             imp);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    uint64_t dims[3];
    float *x = read_tensor(q, "transformer.h.0.mlp.c_fc.weight", dims);
    cr_assert_eq(dims[2], QTF_LAYOUT_TRANSPOSED);
    free(x);
    /* a vector of the output length is refused, naming the input axis */
    char *bad = tu_path(gt_tmp(), "bad.safetensors");
    cr_assert_eq(qtf_st_writer_create(&sw, bad, NULL), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(sw, "transformer.h.0.mlp.c_fc.weight", QTF_DTYPE_F32, 1,
                                       dout), QTF_OK);
    cr_assert_eq(qtf_st_writer_write(sw, v, OUT * 4), QTF_OK);
    cr_assert_eq(qtf_st_writer_finish(sw), QTF_OK);
    snprintf(args, sizeof args, "'%s' '%s' -e int4:group=32,search --importance '%s' --force",
             ck, q, bad);
    cr_assert_eq(gt_run(&out, "convert/qtf-convert", args), 2, "%s", out);
    cr_assert(strstr(out, "expected a 1-D F32 tensor of 128 elements (the input dimension"), "%s",
              out);
    free(out);
    free(bad);
    free(imp);
    free(w);
    free(ck);
    free(q);
}

/* A llama.cpp imatrix (legacy .dat) entry for GPT-2's ffn_up (c_fc, a
 * Conv1D [64, 256]) has one value per input, 64: accepted now (it was
 * refused while groups ran along the output); 256 values are refused. */
static void write_dat(const char *path, const char *name, int n) {
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    int32_t count = 1, len = (int32_t)strlen(name), ncall = 1;
    fwrite(&count, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite(name, 1, (size_t)len, f);
    fwrite(&ncall, 4, 1, f);
    fwrite(&n, 4, 1, f);
    for (int j = 0; j < n; j++) {
        float v = 1.0f + (float)(j % 3);
        fwrite(&v, 4, 1, f);
    }
    fclose(f);
}

Test(layout, imatrix_entry_for_conv1d) {
    TS_NEED(ck, "checkpoints/capp-gpt2-tiny-hf");
    char *dat = tu_path(gt_tmp(), "ffn_up.dat"), *q = tu_path(gt_tmp(), "im.qtf"), args[16384], *out = NULL;
    write_dat(dat, "blk.0.ffn_up.weight", 64);
    snprintf(args, sizeof args, "'%s' '%s' -e iq4_nl --fallback f16 --importance '%s' --dry-run", ck,
             q, dat);
    cr_assert_eq(gt_run(&out, "convert/qtf-convert", args), 0, "%s", out);
    char *line = strstr(out, "transformer.h.0.mlp.c_fc.weight");
    cr_assert(line, "%s", out);
    cr_assert(strstr(line, "importance, transposed"), "%s", out);
    free(out);
    write_dat(dat, "blk.0.ffn_up.weight", 256);
    cr_assert_neq(gt_run(&out, "convert/qtf-convert", args), 0, "%s", out);
    cr_assert(strstr(out, "importance entry 'blk.0.ffn_up.weight' has 256 values"), "%s", out);
    cr_assert(strstr(out, "an input dimension (dims[0] of a Conv1D weight) of 64"), "%s", out);
    free(out);
    free(dat);
    free(q);
}

/* --- GGUF: llama.cpp wants GPT-2's Conv1D weights as [out, in] too --------------- */

/* A copy of `src` as a writer before format 1.1 made it: every transposed
 * tensor re-encoded row-major (groups along its output axis), the rest and
 * the metadata copied. */
static void write_row_major_copy(const char *src, const char *dst) {
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, src, NULL), QTF_OK);
    qtf_writer *w;
    cr_assert_eq(qtf_writer_create(&w, dst, NULL), QTF_OK);
    for (uint64_t i = 0; i < qtf_meta_count(f); i++)
        cr_assert_eq(qtf_writer_copy_meta(w, f, i), QTF_OK);
    for (uint64_t i = 0; i < qtf_tensor_count(f); i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
        d.name = t->name;
        d.n_dims = t->n_dims;
        d.dims = t->dims;
        d.source_type = t->source_type;
        d.encoding = &t->encoding;
        qtf_part_view v[QTF_MAX_PARTS];
        void *bufs[QTF_MAX_PARTS] = { 0 };
        qtf_encoded *e = NULL;
        uint32_t n = t->n_parts;
        if (t->layout == QTF_LAYOUT_TRANSPOSED) {
            float *x = malloc(t->n_elements * 4);
            cr_assert_eq(qtf_tensor_dequantize(x, QTF_DTYPE_F32, t->n_elements, f, i, 1), QTF_OK);
            cr_assert_eq(qtf_quantize(&e, &t->encoding, x, t->n_dims, t->dims, NULL), QTF_OK);
            n = qtf_encoded_views(v, e);
            free(x);
        } else {
            for (uint32_t k = 0; k < n; k++) {
                bufs[k] = malloc(t->parts[k].decoded_size + 1);
                cr_assert_eq(qtf_part_decode(bufs[k], t->parts[k].decoded_size, f, i, k), QTF_OK);
                v[k] = (qtf_part_view){ t->parts[k].role, t->parts[k].type, bufs[k],
                                        t->parts[k].decoded_size };
            }
        }
        cr_assert_eq(qtf_writer_add_tensor(w, &d, v, n), QTF_OK, "%s", qtf_error_detail());
        qtf_encoded_free(e);
        for (uint32_t k = 0; k < QTF_MAX_PARTS; k++) free(bufs[k]);
    }
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    qtf_file_close(f);
}

static const void *gguf_data(const qtf_gguf *g, const char *name, uint64_t *n) {
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        if (strcmp(t->name, name) != 0) continue;
        const void *d;
        cr_assert_eq(qtf_gguf_tensor_data(&d, n, g, i), QTF_OK);
        return d;
    }
    cr_assert_fail("no tensor %s", name);
    return NULL;
}

Test(layout, gguf_blocks_copied_both_ways) {
    TS_NEED(tiny, "checkpoints/capp-gpt2-tiny-hf");
    TS_NEED(tok, "checkpoints/tokenizers-only/gpt2");
    /* the tiny GPT-2 has no tokenizer, which a GGUF needs: GPT-2's own
     * (copied: folder files may not link outside the folder) */
    char *ck = tu_path(gt_tmp(), "gpt2tok"), cmd[32768];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s'/config.json '%s'/model.safetensors "
             "'%s'/tokenizer.json '%s'/tokenizer_config.json '%s'/", ck, tiny, tiny, tok, tok, ck);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    char *direct = tu_path(gt_tmp(), "direct.gguf"), *q = tu_path(gt_tmp(), "g.qtf"), *via = tu_path(gt_tmp(), "via.gguf");
    char *back = tu_path(gt_tmp(), "back.qtf"), args[16384], *out = NULL;
    snprintf(args, sizeof args, "'%s' '%s' -e q8_0 -q", ck, direct);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    /* --all-layers: the embeddings in q8_0 too, so that every tensor's
     * type is the one the GGUF preset picks and all blocks are copied */
    snprintf(args, sizeof args, "'%s' '%s' -e q8_0 --all-layers -q", ck, q);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    snprintf(args, sizeof args, "'%s' '%s' -e q8_0 --dry-run", q, via);
    gt_expect("convert/qtf-convert", args, 0, "transposed, blocks copied", NULL);
    snprintf(args, sizeof args, "'%s' '%s' -e q8_0 -q", q, via);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    qtf_gguf *a, *b;
    cr_assert_eq(qtf_gguf_open(&a, direct, 0), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_open(&b, via, 0), QTF_OK, "%s", qtf_error_detail());
    /* every tensor: the Conv1D weights (attn_qkv, attn_output, ffn_up,
     * ffn_down) among them, as llama.cpp wants them ([out, in] rows) */
    cr_assert_eq(qtf_gguf_tensor_count(a), qtf_gguf_tensor_count(b));
    for (uint64_t k = 0; k < qtf_gguf_tensor_count(a); k++) {
        const qtf_gguf_tensor *ta = qtf_gguf_tensor_get(a, k);
        uint64_t na, nb;
        const void *da = gguf_data(a, ta->name, &na), *db = gguf_data(b, ta->name, &nb);
        cr_assert(na == nb && memcmp(da, db, na) == 0, "%s: blocks equal", ta->name);
    }
    qtf_gguf_close(a);
    qtf_gguf_close(b);
    /* GGUF -> QTF: the [out, in] blocks become a transposed tensor of the
     * HF shape, decoding to the same values as the .qtf made directly */
    snprintf(args, sizeof args, "'%s' '%s' -q", direct, back);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    uint64_t d1[3], d2[3];
    float *x = read_tensor(q, "transformer.h.0.attn.c_attn.weight", d1);
    float *y = read_tensor(back, "transformer.h.0.attn.c_attn.weight", d2);
    cr_assert(d1[0] == 64 && d1[1] == 192 && d2[0] == 64 && d2[1] == 192);
    cr_assert(d1[2] == QTF_LAYOUT_TRANSPOSED && d2[2] == QTF_LAYOUT_TRANSPOSED);
    cr_assert_eq(mismatches(x, y, 64 * 192), 0);
    free(x);
    free(y);
    snprintf(args, sizeof args, "'%s' --against '%s'", back, ck);
    gt_expect("inspect/qtf-verify", args, 0, NULL);
    /* A 1.0 file (Conv1D weights row-major, groups along the output) has
     * q8_0 blocks in the wrong order for GGUF: re-quantized, not copied
     * (copying them gave a rel. RMSE of 1.4 before format 1.1) */
    char *old = tu_path(gt_tmp(), "old.qtf"), *oldg = tu_path(gt_tmp(), "old.gguf");
    write_row_major_copy(q, old);
    snprintf(args, sizeof args, "'%s' '%s' -e q8_0 --dry-run", old, oldg);
    cr_assert_eq(gt_run(&out, "convert/qtf-convert", args), 0, "%s", out);
    char *line = strstr(out, "blk.0.attn_qkv.weight");
    cr_assert(line && strstr(line, "transposed\n"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "'%s' '%s' -e q8_0 -q", old, oldg);
    gt_expect("convert/qtf-convert", args, 0, NULL);
    qtf_gguf *og;
    cr_assert_eq(qtf_gguf_open(&og, oldg, 0), QTF_OK);
    uint64_t on;
    const void *od = gguf_data(og, "blk.0.attn_qkv.weight", &on);
    qtf_encoding q8;
    qtf_encoding_parse(&q8, "q8_0");
    uint64_t sd[2] = { 192, 64 };
    float *got = malloc(64 * 192 * 4), *want = malloc(64 * 192 * 4);
    qtf_part_view pv = { QTF_ROLE_BLOCKS, QTF_DTYPE_PACKED, od, on };
    cr_assert_eq(qtf_dequantize(got, QTF_DTYPE_F32, 64 * 192, &q8, 2, sd, &pv, 1, 1), QTF_OK,
                 "%s", qtf_error_detail());
    x = read_tensor(old, "transformer.h.0.attn.c_attn.weight", d1);
    transpose(want, x, 64, 192);
    double num = 0, den = 0;
    for (int k = 0; k < 64 * 192; k++) {
        num += (got[k] - want[k]) * (double)(got[k] - want[k]);
        den += (double)want[k] * want[k];
    }
    cr_assert_lt(sqrt(num / den), 0.02, "GGUF rows are the input axis: rel. RMSE %g",
                 sqrt(num / den));
    free(x);
    free(got);
    free(want);
    qtf_gguf_close(og);
    free(old);
    free(oldg);
    free(direct);
    free(q);
    free(via);
    free(back);
    free(ck);
}
