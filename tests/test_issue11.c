/* tests/test_issue11.c — issue 11, "Nothing lost, nothing hidden": one test
 * (or a few) per item, named itemN_..., each failing before the fix. The
 * tools are run as subprocesses; the library checks are called directly. */
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "support/source.h"
#include "support/container.h"
#include "support/tools.h"
#include "checkpoint/json_check.h"
#include "checkpoint/source.h"
#include "cli/cli_util.h"
#include "cli/progress.h"

/* --- helpers ---------------------------------------------------------------- */

/* Runs `name` with the NULL-terminated arguments, capturing into dir. */
static tf_run_result run_tool(const char *dir, const char *name, const char *const *args) {
    char *argv[40];
    int n = 0;
    argv[n++] = ts_find_tool(name);
    for (int i = 0; args[i]; i++) {
        cr_assert(n < 39);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    tf_run_result r = tf_run(argv, dir);
    free(argv[0]);
    return r;
}
#define RUN(dir, name, ...) run_tool(dir, name, (const char *const[]){ __VA_ARGS__, NULL })

static void assert_exit(const tf_run_result *r, int code, const char *what) {
    cr_assert(r->exited, "%s: killed by signal %d; stderr: %s", what, r->sig, r->err);
    cr_assert_eq(r->code, code, "%s: exit %d, expected %d; stderr: %s", what, r->code, code,
                 r->err);
}

static void assert_err_has(const tf_run_result *r, const char *needle) {
    cr_assert(r->err && strstr(r->err, needle), "stderr lacks \"%s\": %s", needle,
              r->err ? r->err : "(none)");
}

static char *tmp;
static void setup(void) { tmp = tf_tmpdir(); }
static void teardown(void) {
    tf_rm_rf(tmp);
    free(tmp);
}
TestSuite(issue11, .init = setup, .fini = teardown);

/* Runs tool `name` with the arguments and checks its exit code and, unless
 * NULL, a piece of its stderr. */
static void expect_run(int code, const char *err_needle, const char *name,
                       const char *const *args) {
    tf_run_result r = run_tool(tmp, name, args);
    char what[256];
    snprintf(what, sizeof what, "%s %s ...", name, args[0] ? args[0] : "");
    assert_exit(&r, code, what);
    if (err_needle) assert_err_has(&r, err_needle);
    tf_run_free(&r);
}
#define EXPECT(code, needle, name, ...) \
    expect_run(code, needle, name, (const char *const[]){ __VA_ARGS__, NULL })

/* A 64x64 F32 weight matrix with values of magnitude `scale`. */
static float *weights(float scale, unsigned seed) {
    float *x = tf_values(seed, 64 * 64);
    for (unsigned i = 0; i < 64 * 64; i++) x[i] *= scale;
    return x;
}

static qtf_status quantize(const char *spec, const float *x, uint32_t rows, uint32_t cols,
                           const float *importance) {
    qtf_encoding e;
    cr_assert_eq(qtf_encoding_parse(&e, spec), QTF_OK, "%s", qtf_error_detail());
    uint64_t dims[2] = { rows, cols };
    qtf_quantize_options o = QTF_QUANTIZE_OPTIONS_INIT;
    o.importance = importance;
    qtf_encoded *enc = NULL;
    qtf_status st = qtf_quantize(&enc, &e, x, 2, dims, &o);
    qtf_encoded_free(enc);
    return st;
}

/* --- item 10: scale underflow ----------------------------------------------- */

Test(issue11, item10_int8_f16_scale_underflow_is_numeric_error) {
    float *x = weights(2e-6f, 1);
    cr_assert_eq(quantize("int8", x, 64, 64, NULL), QTF_E_NUMERIC, "int8 at 1e-6 quantized");
    cr_assert(strstr(qtf_error_detail(), "underflows"), "%s", qtf_error_detail());
    cr_assert(strstr(qtf_error_detail(), "64 group(s) underflows F16 (first: row 0)"), "%s",
              qtf_error_detail());
    /* the search path and the general path agree */
    cr_assert_eq(quantize("int8:search", x, 64, 64, NULL), QTF_E_NUMERIC);
    /* a wider scale type is the remedy */
    cr_assert_eq(quantize("int8:scale=f32", x, 64, 64, NULL), QTF_OK, "%s", qtf_error_detail());
    free(x);
}

Test(issue11, item10_q8_0_and_int4_underflow) {
    float *x = weights(2e-6f, 2);
    cr_assert_eq(quantize("q8_0", x, 64, 64, NULL), QTF_E_NUMERIC, "q8_0 at 1e-6 quantized");
    cr_assert(strstr(qtf_error_detail(), "128 group(s) underflows F16"), "%s", qtf_error_detail());
    free(x);
    x = weights(2e-7f, 3);
    cr_assert_eq(quantize("int4:group=32", x, 64, 64, NULL), QTF_E_NUMERIC, "int4 at 1e-7");
    cr_assert_eq(quantize("q4_0", x, 64, 64, NULL), QTF_E_NUMERIC, "q4_0 at 1e-7");
    cr_assert_eq(quantize("int4:group=32,scale=f32", x, 64, 64, NULL), QTF_OK);
    free(x);
    /* NF4's scale is the absmax itself: it underflows F16 below 3e-8 */
    x = weights(2e-8f, 3);
    cr_assert_eq(quantize("nf4:group=64", x, 64, 64, NULL), QTF_E_NUMERIC, "nf4 at 1e-8");
    free(x);
}

Test(issue11, item10_no_false_alarm) {
    /* Asymmetric groups far from 0 with a tiny spread: the minimum carries
     * them, a zero scale loses less than the minimum's own rounding. */
    float x[64 * 32];
    for (unsigned i = 0; i < 64 * 32; i++) x[i] = 1.0f + 1e-9f * (float)(i % 5);
    cr_assert_eq(quantize("int4:group=32,asym", x, 64, 32, NULL), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(quantize("q4_1", x, 64, 32, NULL), QTF_OK, "%s", qtf_error_detail());
    /* an all-zero tensor has zero scales: exact, not an underflow */
    memset(x, 0, sizeof x);
    cr_assert_eq(quantize("int8", x, 64, 32, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(quantize("q8_0", x, 64, 32, NULL), QTF_OK, "%s", qtf_error_detail());
    /* one tiny row in an ordinary tensor: it loses nothing that matters */
    float *t = weights(0.1f, 9);
    for (unsigned j = 0; j < 64; j++) t[5 * 64 + j] *= 1e-6f;
    cr_assert_eq(quantize("int8", t, 64, 64, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(quantize("q8_0", t, 64, 64, NULL), QTF_OK, "%s", qtf_error_detail());
    free(t);
    /* ordinary magnitudes, subnormal F16 scales included (1e-5 / 127) */
    float *w = weights(1e-5f, 4);
    cr_assert_eq(quantize("int8", w, 64, 64, NULL), QTF_OK, "%s", qtf_error_detail());
    free(w);
}

Test(issue11, item10_pal_f16_scale_underflow) {
    /* absmax ~1e-8 rounds to an F16 scale of 0: every row decodes to 0 */
    float *x = weights(3e-9f, 7);
    cr_assert_eq(quantize("pal4:rowscale", x, 64, 64, NULL), QTF_E_NUMERIC, "pal rowscale at 3e-9");
    cr_assert(strstr(qtf_error_detail(), "64 group(s) underflows F16 (first: row 0)"), "%s",
              qtf_error_detail());
    cr_assert_eq(quantize("pal4:group=32", x, 64, 64, NULL), QTF_E_NUMERIC, "pal group at 3e-9");
    cr_assert(strstr(qtf_error_detail(), "128 group(s) underflows F16"), "%s", qtf_error_detail());
    cr_assert(strstr(qtf_error_detail(), "use double-quantized scales (dq)"), "%s", qtf_error_detail());
    /* double-quantized scales go through F32 steps: nothing underflows */
    cr_assert_eq(quantize("pal4:rowscale,dq", x, 64, 64, NULL), QTF_OK, "%s", qtf_error_detail());
    free(x);
    /* no false alarm at ordinary magnitudes, nor for one tiny row */
    x = weights(0.1f, 8);
    for (unsigned j = 0; j < 64; j++) x[3 * 64 + j] *= 1e-9f;
    cr_assert_eq(quantize("pal4:rowscale", x, 64, 64, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(quantize("pal4:group=32", x, 64, 64, NULL), QTF_OK, "%s", qtf_error_detail());
    free(x);
}

Test(issue11, item10_q8_0_overflow_is_numeric_error) {
    float *x = weights(1e8f, 5);
    cr_assert_eq(quantize("q8_0", x, 64, 64, NULL), QTF_E_NUMERIC, "q8_0 at 1e7 quantized");
    cr_assert(strstr(qtf_error_detail(), "outside the range of F16"), "%s", qtf_error_detail());
    free(x);
}

Test(issue11, item10_convert_names_the_tensor) {
    char *model = tf_path(tmp, "tiny.safetensors"), *out = tf_path(tmp, "tiny.qtf");
    float *x = weights(1e-6f, 6);
    ts_st_tensor t = { "model.layers.0.mlp.up_proj.weight", QTF_DTYPE_F32, 2, { 64, 64 }, x };
    ts_write_safetensors(model, &t, 1);
    tf_run_result r = RUN(tmp, "qtf-convert", "-q", model, out);
    assert_exit(&r, 1, "convert of a 1e-6 tensor");
    assert_err_has(&r, "model.layers.0.mlp.up_proj.weight");
    assert_err_has(&r, "underflows");
    cr_assert(access(out, F_OK) != 0, "an output was left behind");
    tf_run_free(&r);
    free(x);
    free(model);
    free(out);
}

/* --- item 13: BOOL bytes and importance vectors ------------------------------ */

Test(issue11, item13_bool_byte_other_than_0_1_refused) {
    char *model = tf_path(tmp, "b.safetensors"), *out = tf_path(tmp, "b.qtf");
    unsigned char mask[16] = { 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 1 };
    ts_st_tensor t = { "attn.mask", QTF_DTYPE_BOOL, 1, { 16 }, mask };
    ts_write_safetensors(model, &t, 1);
    tf_run_result r = RUN(tmp, "qtf-convert", "-q", model, out);
    cr_assert(r.exited && r.code != 0, "a BOOL byte 2 was converted (exit %d)", r.code);
    assert_err_has(&r, "attn.mask");
    assert_err_has(&r, "element 10 is byte 2");
    tf_run_free(&r);
    /* qtf_convert_to_f32 refuses it as well */
    float f[16];
    cr_assert_eq(qtf_convert_to_f32(f, mask, QTF_DTYPE_BOOL, 16), QTF_E_VALUE);
    mask[10] = 1;
    cr_assert_eq(qtf_convert_to_f32(f, mask, QTF_DTYPE_BOOL, 16), QTF_OK);
    free(model);
    free(out);
}

Test(issue11, item13_importance_all_zero_or_extreme) {
    float *x = weights(0.1f, 7);
    float w[64];
    memset(w, 0, sizeof w);
    cr_assert_eq(quantize("int4:group=32,search", x, 64, 64, w), QTF_E_INVALID_ARG,
                 "all-zero importance accepted");
    cr_assert(strstr(qtf_error_detail(), "all zero"), "%s", qtf_error_detail());
    for (unsigned i = 0; i < 64; i++) w[i] = 1e30f;
    cr_assert_eq(quantize("int4:group=32,search", x, 64, 64, w), QTF_E_INVALID_ARG,
                 "importance summing to 6e31 accepted");
    for (unsigned i = 0; i < 64; i++) w[i] = 1.0f + (float)(i % 3);
    cr_assert_eq(quantize("int4:group=32,search", x, 64, 64, w), QTF_OK, "%s", qtf_error_detail());
    free(x);
}

Test(issue11, item13_convert_importance_zero_refused_extreme_rescaled) {
    char *model = tf_path(tmp, "m.safetensors"), *imp = tf_path(tmp, "imp.safetensors");
    char *out = tf_path(tmp, "m.qtf");
    float *x = weights(0.1f, 8);
    const char *name = "model.layers.0.mlp.up_proj.weight";
    ts_st_tensor t = { name, QTF_DTYPE_F32, 2, { 64, 64 }, x };
    ts_write_safetensors(model, &t, 1);
    float w[64];
    memset(w, 0, sizeof w);
    ts_st_tensor v = { name, QTF_DTYPE_F32, 1, { 64 }, w };
    ts_write_safetensors(imp, &v, 1);
    tf_run_result r = RUN(tmp, "qtf-convert", "-e", "int4:group=32,search", "--importance", imp,
                          model, out);
    cr_assert(r.exited && r.code != 0, "all-zero importance accepted");
    assert_err_has(&r, "all 64 weights are zero");
    tf_run_free(&r);
    for (unsigned i = 0; i < 64; i++) w[i] = 1e30f * (float)(1 + i % 2);
    ts_write_safetensors(imp, &v, 1);
    EXPECT(0, "rescaled by 2^", "qtf-convert", "-e", "int4:group=32,search", "--importance", imp, model, out);
    free(x);
    free(model);
    free(imp);
    free(out);
}

/* --- item 11: NaN/Inf in decoded values and in the source -------------------- */

/* A .qtf with tensor `name` (64x64) holding x encoded as `spec`; with
 * nan_scale the first stored scale of an int8 encoding is made a NaN before
 * writing (the checksums are then computed over the damaged bytes). */
static void write_qtf_tensor_shaped(const char *path, const char *name, const char *spec,
                                    const float *x, int nan_scale, uint64_t rows, uint64_t cols) {
    qtf_encoding e = ts_parse(spec);
    uint64_t dims[2] = { rows, cols };
    if (!nan_scale) {
        ts_write_quantized(path, name, &e, x, 2, dims, QTF_DTYPE_F32, (int)e.zstd_level);
        return;
    }
    qtf_encoded *enc = NULL;
    cr_assert_eq(qtf_quantize(&enc, &e, x, 2, dims, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(enc->layout[1].role, QTF_ROLE_SCALES);
    unsigned char *sc = enc->data[1];
    sc[0] = 0x00;
    sc[1] = 0x7e; /* F16 quiet NaN */
    qtf_writer *w = ts_writer(path);
    cr_assert_eq(ts_add_encoded(w, name, &e, enc, 2, dims, QTF_DTYPE_F32, (int)e.zstd_level),
                 QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    qtf_encoded_free(enc);
}

static void write_qtf_tensor(const char *path, const char *name, const char *spec, const float *x,
                             int nan_scale) {
    write_qtf_tensor_shaped(path, name, spec, x, nan_scale, 64, 64);
}

Test(issue11, item11_nan_scale_fails_verification) {
    char *q = tf_path(tmp, "nan.qtf");
    float *x = weights(0.1f, 10);
    write_qtf_tensor(q, "w", "int8", x, 1);
    tf_run_result r = RUN(tmp, "qtf-verify", q);
    assert_exit(&r, 1, "verify of a NaN scale");
    cr_assert(strstr(r.out, "decodes to 64 NaN/Inf values (first at element 0)"), "%s", r.out);
    cr_assert(strstr(r.out, "RESULT: FAILED"), "%s", r.out);
    tf_run_free(&r);
    r = RUN(tmp, "qtf-verify", "--json", q);
    assert_exit(&r, 1, "verify --json");
    cr_assert(strstr(r.out, "\"nonfinite\""), "%s", r.out);
    tf_run_free(&r);
    /* the same tensor without damage passes */
    write_qtf_tensor(q, "w", "int8", x, 0);
    EXPECT(0, NULL, "qtf-verify", q);
    free(x);
    free(q);
}

Test(issue11, item11_source_nan_reported_as_such) {
    char *q = tf_path(tmp, "f.qtf"), *src = tf_path(tmp, "f.safetensors");
    float *x = weights(0.1f, 11);
    x[7] = NAN;
    x[9] = INFINITY;
    ts_st_tensor t = { "w", QTF_DTYPE_F32, 2, { 64, 64 }, x };
    ts_write_safetensors(src, &t, 1);
    write_qtf_tensor(q, "w", "f32", x, 0);
    tf_run_result r = RUN(tmp, "qtf-verify", q, "--against", src);
    assert_exit(&r, 0, "verify against a source with NaN, stored as is");
    cr_assert(!strstr(r.out, "cannot read the source"), "%s", r.out);
    cr_assert(strstr(r.out, "1 with NaN/Inf in the source"), "%s", r.out);
    tf_run_free(&r);
    /* a NaN in the file where the source is finite fails */
    float *y = weights(0.1f, 11);
    ts_write_safetensors(src, &(ts_st_tensor){ "w", QTF_DTYPE_F32, 2, { 64, 64 }, y }, 1);
    r = RUN(tmp, "qtf-verify", q, "--against", src);
    assert_exit(&r, 1, "verify of NaN where the source is finite");
    cr_assert(strstr(r.out, "decodes to 2 NaN/Inf values (first at element 7), where the source "
                            "has finite values"), "%s", r.out);
    tf_run_free(&r);
    free(y);
    free(x);
    free(q);
    free(src);
}

/* --- item 7: bounded decoded size of zstd parts ------------------------------ */

Test(issue11, item7_zstd_bomb_refused_by_ratio) {
    /* 80 MiB of zeros compress about 30000:1: beyond the default 1024:1
     * above the 64 MiB floor. */
    const uint64_t rows = 20, cols = 1 << 20;
    float *x = calloc(rows * cols, sizeof *x);
    cr_assert(x);
    char *q = tf_path(tmp, "bomb.qtf");
    write_qtf_tensor_shaped(q, "zeros", "f32:zstd", x, 0, rows, cols);
    free(x);
    struct stat sb;
    cr_assert_eq(stat(q, &sb), 0);
    cr_assert_lt(sb.st_size, 1 << 20, "the test file is %lld bytes", (long long)sb.st_size);

    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, q, NULL), QTF_OK, "%s", qtf_error_detail());
    float one;
    cr_assert_eq(qtf_part_decode(&one, 0, f, 0, 0), QTF_E_INVALID_ARG); /* size check first */
    float *y = malloc(rows * cols * sizeof *y);
    cr_assert(y);
    cr_assert_eq(qtf_tensor_dequantize(y, QTF_DTYPE_F32, rows * cols, f, 0, 1), QTF_E_LIMIT);
    cr_assert(strstr(qtf_error_detail(), "beyond the limits"), "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_verify(f, 0), QTF_E_LIMIT);
    qtf_file_close(f);
    /* a caller that trusts the file raises the ratio */
    qtf_open_options oo = QTF_OPEN_OPTIONS_INIT;
    oo.max_decoded_ratio = 1u << 20;
    cr_assert_eq(qtf_file_open(&f, q, &oo), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_dequantize(y, QTF_DTYPE_F32, rows * cols, f, 0, 1), QTF_OK, "%s",
                 qtf_error_detail());
    qtf_file_close(f);
    free(y);

    tf_run_result r = RUN(tmp, "qtf-verify", q);
    assert_exit(&r, 1, "qtf-verify of a zstd bomb");
    cr_assert(strstr(r.out, "beyond the limits"), "%s", r.out);
    tf_run_free(&r);
    EXPECT(0, NULL, "qtf-verify", "--max-decoded-ratio", "1048576", q);
    r = RUN(tmp, "qtf-inspect", "--detail", "-t", "zeros", q);
    cr_assert(r.exited && r.code != 0, "qtf-inspect --detail decoded the bomb");
    tf_run_free(&r);
    free(q);
}

Test(issue11, item7_max_decoded_size_option) {
    char *q = tf_path(tmp, "z.qtf");
    float *x = weights(0.1f, 12);
    write_qtf_tensor(q, "w", "int8:zstd", x, 0);
    free(x);
    tf_run_result r = RUN(tmp, "qtf-verify", "--max-decoded-size", "1KiB", q);
    assert_exit(&r, 1, "qtf-verify --max-decoded-size 1K");
    cr_assert(strstr(r.out, "4096 bytes, beyond the limits (1024 bytes"), "%s", r.out);
    tf_run_free(&r);
    EXPECT(0, NULL, "qtf-verify", "--max-decoded-size", "4KiB", q);
    EXPECT(2, NULL, "qtf-verify", "--max-decoded-size", "lots", q);
    char *out = tf_path(tmp, "z.safetensors");
    r = RUN(tmp, "qtf-convert", "-q", "--max-decoded-size", "1KiB", q, out);
    cr_assert(r.exited && r.code != 0, "qtf-convert ignored --max-decoded-size");
    assert_err_has(&r, "beyond the limits");
    tf_run_free(&r);
    free(out);
    free(q);
}

/* --- item 5: model.safetensors next to model.safetensors.index.json ---------- */

Test(issue11, item5_single_file_and_index_transformers_order_with_warning) {
    char *dir = tf_path(tmp, "m"), *single = tf_path(dir, "model.safetensors");
    char *index = tf_path(dir, "model.safetensors.index.json"), *shard = tf_path(dir, "model-00001-of-00001.safetensors");
    char *out = tf_path(tmp, "m.qtf");
    cr_assert_eq(mkdir(dir, 0755), 0);
    float *x = weights(0.1f, 13);
    ts_write_safetensors(single, &(ts_st_tensor){ "current.weight", QTF_DTYPE_F32, 2, { 64, 64 }, x }, 1);
    ts_write_safetensors(shard, &(ts_st_tensor){ "stale.weight", QTF_DTYPE_F32, 2, { 64, 64 }, x }, 1);
    tu_write_text(index, "{\"metadata\":{},\"weight_map\":{\"stale.weight\":"
                      "\"model-00001-of-00001.safetensors\"}}");
    EXPECT(0, "both model.safetensors and model.safetensors.index.json: reading "
                       "model.safetensors", "qtf-convert", dir, out);
    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, out, NULL), QTF_OK);
    uint64_t i;
    cr_assert_eq(qtf_tensor_find(&i, f, "current.weight"), QTF_OK, "the single file was not read");
    qtf_file_close(f);
    free(x);
    free(dir);
    free(single);
    free(index);
    free(shard);
    free(out);
}

/* --- item 17: one option vocabulary ------------------------------------------ */

Test(issue11, item17_threads_is_j_everywhere_and_t_means_tensor) {
    char *q = tf_path(tmp, "s.qtf"), *out = tf_path(tmp, "s.safetensors");
    float *x = weights(0.1f, 14);
    write_qtf_tensor(q, "w", "int8", x, 0);
    free(x);
    EXPECT(0, NULL, "qtf-inspect", "-j", "2", "--detail", "-t", "w", q);
    EXPECT(0, NULL, "qtf-verify", "-j", "2", q);
    EXPECT(0, NULL, "qtf-convert", "-q", "-j", "2", q, out);
    unlink(out);
    /* -t is --tensor (qtf-inspect); qtf-convert has no -t any more */
    EXPECT(2, NULL, "qtf-convert", "-q", "-t", "2", q, out);
    free(q);
    free(out);
}

/* --- item 15: inputs judged by content; outputs by a known extension --------- */

Test(issue11, item15_wrong_kind_of_input_named_for_what_it_is) {
    char *cfg = tf_path(tmp, "config.json"), *gg = tf_path(tmp, "model.gguf");
    char *out = tf_path(tmp, "o.qtf"), *st = tf_path(tmp, "w.safetensors");
    tu_write_text(cfg, "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64}\n");
    tu_write_text(gg, "GGUF\003\000\000\000 and then some bytes");
    tf_run_result r = RUN(tmp, "qtf-convert", "-q", cfg, out);
    assert_exit(&r, 2, "convert config.json");
    assert_err_has(&r, "config.json is JSON, not a safetensors");
    cr_assert(!strstr(r.err, "header length"), "%s", r.err);
    tf_run_free(&r);
    /* a broken GGUF (qtf-convert reads GGUF files): a GGUF error, in words */
    r = RUN(tmp, "qtf-convert", "-q", gg, out);
    assert_exit(&r, 2, "convert a broken GGUF file");
    assert_err_has(&r, "model.gguf");
    cr_assert(!strstr(r.err, "QTF_E_"), "%s", r.err);
    tf_run_free(&r);
    /* the .qtf tools say what a non-QTF file is */
    float *x = weights(0.1f, 15);
    ts_write_safetensors(st, &(ts_st_tensor){ "w", QTF_DTYPE_F32, 2, { 64, 64 }, x }, 1);
    free(x);
    EXPECT(2, "w.safetensors is a safetensors file, not a QTF file", "qtf-inspect", st);
    EXPECT(2, "config.json is a JSON file, not a QTF file", "qtf-verify", cfg);
    /* qtf-inspect reads GGUF files: a broken one is a GGUF error */
    r = RUN(tmp, "qtf-inspect", gg);
    assert_exit(&r, 2, "inspect a broken GGUF file");
    assert_err_has(&r, "model.gguf");
    cr_assert(!strstr(r.err, "QTF_E_") && !strstr(r.err, "not a QTF file"), "%s", r.err);
    tf_run_free(&r);
    free(cfg);
    free(gg);
    free(out);
    free(st);
}

Test(issue11, item15_unknown_output_extension_refused) {
    /* (x.gguf, refused before the GGUF writer landed, is now a GGUF) */
    char *st = tf_path(tmp, "w.safetensors"), *bin = tf_path(tmp, "x.bin");
    float *x = weights(0.1f, 16);
    ts_write_safetensors(st, &(ts_st_tensor){ "w", QTF_DTYPE_F32, 2, { 64, 64 }, x }, 1);
    free(x);
    tf_run_result r = RUN(tmp, "qtf-convert", "-q", st, bin);
    assert_exit(&r, 2, "convert to x.bin");
    assert_err_has(&r, "unknown extension");
    cr_assert(access(bin, F_OK) != 0, "x.bin was written");
    tf_run_free(&r);
    free(st);
    free(bin);
}

Test(issue11, item15_unknown_encoding_parameter_key_reported_as_such) {
    qtf_tensor_info t;
    memset(&t, 0, sizeof t);
    t.encoding_id = QTF_ENC_INT;
    t.n_params = 1;
    t.params[0].key = 99;
    t.params[0].value = 1;
    char buf[512];
    cli_unknown_encoding_text(buf, sizeof buf, &t);
    cr_assert(strstr(buf, "parameter 0 has key 99, not known"), "%s", buf);
    cr_assert(!strstr(buf, "encoding id 4 is not known"), "%s", buf);
    t.encoding_id = 200;
    t.n_params = 0;
    cli_unknown_encoding_text(buf, sizeof buf, &t);
    cr_assert(strstr(buf, "encoding id 200 is not known"), "%s", buf);
}

/* --- item 16: exit codes as documented --------------------------------------- */

Test(issue11, item16_missing_output_directory_is_usage_error) {
    char *st = tf_path(tmp, "w.safetensors"), *out = tf_path(tmp, "no/such/dir/o.qtf");
    float *x = weights(0.1f, 17);
    ts_write_safetensors(st, &(ts_st_tensor){ "w", QTF_DTYPE_F32, 2, { 64, 64 }, x }, 1);
    free(x);
    EXPECT(2, "the directory does not exist", "qtf-convert", "-q", st, out);
    free(st);
    free(out);
}

/* --- item 6 (SIGTERM part): a blocked tool ends promptly ---------------------- */

Test(issue11, item6_sigterm_ends_a_blocked_convert) {
    /* 1000 tensors and -v: about 90 KB of lines to a stderr pipe nobody
     * reads, so the tool blocks in write(2) (restarted after a signal) well
     * before it finishes. One SIGTERM must still end it. */
    enum { N = 1000 };
    static float vals[N][16];
    static ts_st_tensor t[N];
    static char names[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "layer.%04d.bias", i);
        for (int j = 0; j < 16; j++) vals[i][j] = (float)(i + j);
        t[i] = (ts_st_tensor){ names[i], QTF_DTYPE_F32, 1, { 16 }, vals[i] };
    }
    char *model = tf_path(tmp, "many.safetensors"), *out = tf_path(tmp, "many.qtf");
    ts_write_safetensors(model, t, N);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    char *exe = ts_find_tool("qtf-convert");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(exe, exe, "-v", "-j", "1", model, out, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    struct timespec pause = { 1, 0 };
    nanosleep(&pause, NULL);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int status = 0, done = 0;
    for (int k = 0; k < 100 && !done; k++) { /* up to 10 s */
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) done = 1;
        else nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    close(pfd[0]);
    cr_assert(done, "qtf-convert still running 10 s after SIGTERM");
    int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    cr_assert_eq(code, 128 + SIGTERM, "exit %d", code);
    cr_assert(access(out, F_OK) != 0, "an output was left behind");
    free(exe);
    free(model);
    free(out);
}

/* --- item 17: the progress line and escaping ---------------------------------- */

Test(issue11, item17_progress_line_fits_names_tensor_one_unit_family) {
    qtfc_progress p;
    memset(&p, 0, sizeof p);
    p.total_items = 300;
    p.done_items = 120;
    p.total_bytes = 3ull << 30;
    p.done_bytes = 1ull << 30;
    p.start = 0.0;
    snprintf(p.current, sizeof p.current, "%s",
             "model.layers.27.self_attn.q_proj.weight\xE2\x80\x8B.extra.long.suffix");
    char line[1024];
    for (unsigned width = 20; width <= 200; width += 7) {
        qtfc_progress_format(line, sizeof line, &p, 10.0, width);
        size_t cols = cli_display_width(line);
        cr_assert_lt(cols, width, "width %u: %zu columns: %s", width, cols, line);
        cr_assert(!strstr(line, "MB/s") && !strstr(line, " KB") && !strstr(line, " GB"),
                  "mixed unit families: %s", line);
    }
    qtfc_progress_format(line, sizeof line, &p, 10.0, 200);
    cr_assert(strstr(line, "3072.0 MiB") && strstr(line, "MiB/s"), "%s", line);
    cr_assert(strstr(line, "model.layers.27.self_attn.q_proj.weight\\u200B.extra"), "%s", line);
    qtfc_progress_format(line, sizeof line, &p, 10.0, 100);
    cr_assert(strstr(line, "model.layers.27"), "the current tensor is not named: %s", line);
}

Test(issue11, item17_zero_width_characters_escaped_like_bidi) {
    static const char *const in[] = { "a\xE2\x80\x8B" "b", "a\xE2\x80\x8D" "b", "a\xE2\x81\xA0" "b",
                                       "a\xC2\xAD" "b", "a\xF3\xA0\x80\x81" "b" };
    static const char *const want[] = { "a\\u200Bb", "a\\u200Db", "a\\u2060b", "a\\u00ADb",
                                         "a\\U000E0001b" };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        char *e = cli_escape_dup(in[i], strlen(in[i]), 0);
        cr_assert_str_eq(e, want[i]);
        free(e);
    }
}

/* --- item 12: embedded files: links and JSON ----------------------------------- */

static char *model_dir(const char *name, unsigned seed) {
    char *dir = tf_path(tmp, name), *st = tf_path(dir, "model.safetensors");
    cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s", dir);
    float *x = weights(0.1f, seed);
    ts_write_safetensors(st, &(ts_st_tensor){ "w", QTF_DTYPE_F32, 2, { 64, 64 }, x }, 1);
    free(x);
    free(st);
    return dir;
}

Test(issue11, item12_link_leaving_the_model_folder_refused) {
    char *secret = tf_path(tmp, "secret.txt");
    tu_write_text(secret, "{\"api_key\": \"do-not-publish\"}");
    char *dir = model_dir("m", 18), *tok = tf_path(dir, "tokenizer.json"), *out = tf_path(tmp, "m.qtf");
    cr_assert_eq(symlink(secret, tok), 0);
    tf_run_result r = RUN(tmp, "qtf-convert", "-q", dir, out);
    assert_exit(&r, 2, "a tokenizer.json link to a file outside");
    assert_err_has(&r, "outside the model folder");
    cr_assert(access(out, F_OK) != 0, "the output was written");
    tf_run_free(&r);
    /* ../ inside the folder is fine */
    char *sub = tf_path(dir, "sub"), *real = tf_path(sub, "tok.json");
    cr_assert_eq(mkdir(sub, 0755), 0);
    tu_write_text(real, "{\"version\": \"1.0\"}");
    unlink(tok);
    cr_assert_eq(symlink("sub/../sub/tok.json", tok), 0);
    EXPECT(0, NULL, "qtf-convert", "-q", dir, out);
    free(secret);
    free(dir);
    free(tok);
    free(out);
    free(sub);
    free(real);
}

Test(issue11, item12_hugging_face_cache_layout_allowed) {
    char *cache = tf_path(tmp, "models--org--m"), *snaps = tf_path(cache, "snapshots");
    char *blobs = tf_path(cache, "blobs"), *blob = tf_path(blobs, "0123abcd");
    cr_assert_eq(mkdir(cache, 0755), 0);
    cr_assert_eq(mkdir(snaps, 0755), 0);
    cr_assert_eq(mkdir(blobs, 0755), 0);
    tu_write_text(blob, "{\"model\": {\"type\": \"BPE\"}}");
    char *rev = tf_path(snaps, "rev1"), *st = tf_path(rev, "model.safetensors");
    char *tok = tf_path(rev, "tokenizer.json"), *out = tf_path(tmp, "c.qtf");
    cr_assert_eq(mkdir(rev, 0755), 0);
    float *x = weights(0.1f, 19);
    ts_write_safetensors(st, &(ts_st_tensor){ "w", QTF_DTYPE_F32, 2, { 64, 64 }, x }, 1);
    free(x);
    cr_assert_eq(symlink("../../blobs/0123abcd", tok), 0);
    EXPECT(0, NULL, "qtf-convert", "-q", rev, out);
    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, out, NULL), QTF_OK);
    uint64_t k;
    cr_assert_eq(qtf_meta_find(&k, f, "hf.file.tokenizer.json"), QTF_OK);
    qtf_file_close(f);
    free(cache);
    free(snaps);
    free(blobs);
    free(blob);
    free(rev);
    free(st);
    free(tok);
    free(out);
}

Test(issue11, item12_every_embedded_json_must_parse) {
    char *dir = model_dir("j", 20), *tok = tf_path(dir, "tokenizer_config.json");
    char *out = tf_path(tmp, "j.qtf");
    tu_write_text(tok, "{\"bos_token\": \"<s>\",\n \"eos_token\": \"</s>\",}\n");
    tf_run_result r = RUN(tmp, "qtf-convert", "-q", dir, out);
    assert_exit(&r, 2, "a tokenizer_config.json with a trailing comma");
    assert_err_has(&r, "tokenizer_config.json: not valid JSON: line 2 column 22");
    cr_assert(access(out, F_OK) != 0, "the output was written");
    tf_run_free(&r);
    free(dir);
    free(tok);
    free(out);
}

Test(issue11, item12_json_checker) {
    static const char *const good[] = { "{}", "[]", " {\"a\": [1, -2.5e+3, true, false, null]} ",
                                        "\"\\u00e9\\ud83d\\ude00\"", "0", "[[[]]]", "{\"\":{}}" };
    static const char *const bad[] = { "", "{", "{\"a\":1,}", "[1 2]", "01", "tru", "{\"a\" 1}",
                                       "[\"\\x\"]", "\"\\ud800\"", "{}{}", "[1,]", "\"a\nb\"",
                                       "{'a':1}", "[.5]", "[1.]", "nul" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(qtf_json_check(NULL, good[i], strlen(good[i]), "t", 64, 0), QTF_OK,
                     "%s: %s", good[i], qtf_error_detail());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(qtf_json_check(NULL, bad[i], strlen(bad[i]), "t", 64, 0), QTF_E_PARSE,
                     "accepted %s", bad[i]);
    qtf_json_stats st;
    cr_assert_eq(qtf_json_check(&st, "{\"a\":[1,2,{\"b\":3}]}", 19, "t", 64, 0), QTF_OK);
    cr_assert_eq(st.values, 6);
    cr_assert_eq(st.depth, 3);
    cr_assert_eq(qtf_json_check(NULL, "[[[[1]]]]", 9, "t", 3, 0), QTF_E_LIMIT);
    cr_assert_eq(qtf_json_check(NULL, "[1,2,3,4]", 9, "t", 8, 4), QTF_E_LIMIT);
}

/* --- item 8: memory bounded for a hostile safetensors header ------------------ */

Test(issue11, item8_hostile_safetensors_header_bounded) {
    /* 40 MB of header holding 20 million tiny values: as a jansson tree
     * that is well over a gigabyte. Counted first, it is refused at once,
     * and within a 300 MB data limit. */
    char *path = tf_path(tmp, "hostile.safetensors"), *out = tf_path(tmp, "h.qtf");
    const size_t n_vals = 20u << 20;
    const char head[] = "{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,0],\"shape\":[";
    size_t len = strlen(head) + 2 * n_vals + 3;
    char *json = malloc(len + 8);
    cr_assert(json);
    uint64_t hl = len;
    for (int i = 0; i < 8; i++) json[i] = (char)(hl >> (8 * i));
    char *p = json + 8;
    memcpy(p, head, strlen(head));
    p += strlen(head);
    for (size_t i = 0; i < n_vals; i++) {
        *p++ = '0';
        *p++ = ',';
    }
    p[-1] = ']';
    memcpy(p, "}}", 2);
    p += 2;
    *p++ = ' ';
    cr_assert_eq((size_t)(p - json), len + 8);
    tu_write(path, json, len + 8);
    free(json);

    qtf_source *s = NULL;
    cr_assert_eq(qtf_source_open(&s, path), QTF_E_LIMIT, "%s", qtf_error_detail());
    cr_assert(strstr(qtf_error_detail(), "more than 2097152 JSON values"), "%s", qtf_error_detail());

    char *exe = ts_find_tool("qtf-convert");
    tf_run_opts lim = { .data_limit = 300ul << 20 };
    tf_run_result r = tf_run_ex((char *[]){ exe, "-q", "-j", "1", path, out, NULL }, NULL, &lim);
    cr_assert(r.exited && r.code == 2, "exit %d, signal %d", r.code, r.sig);
    free(exe);
    free(path);
    free(out);
}

/* --- item 14: warnings and the summary line ------------------------------------ */

Test(issue11, item14_rule_importance_fallback_warnings_and_summary) {
    char *model = tf_path(tmp, "m.safetensors"), *imp = tf_path(tmp, "imp.safetensors");
    char *out = tf_path(tmp, "m.qtf");
    float *a = weights(0.1f, 21), *b = tf_values(22, 96 * 48);
    /* b has 48 columns: int4:group=32 cannot apply, the fallback takes it */
    ts_st_tensor t[2] = { { "layers.0.a.weight", QTF_DTYPE_F32, 2, { 64, 64 }, a },
                   { "layers.0.b.weight", QTF_DTYPE_F32, 2, { 96, 48 }, b } };
    ts_write_safetensors(model, t, 2);
    float w[64];
    for (int i = 0; i < 64; i++) w[i] = 1.0f + (float)(i % 4);
    ts_write_safetensors(imp, &(ts_st_tensor){ "layers.0.a.weight", QTF_DTYPE_F32, 1, { 64 }, w }, 1);

    tf_run_result r = RUN(tmp, "qtf-convert", "-e", "int4:group=32,search", "--fallback", "int8",
                          "-r", "nothing.here.*=int8", "--importance", imp, model, out);
    assert_exit(&r, 0, "convert with an unmatched rule and a fallback");
    assert_err_has(&r, "warning: --rule 1 'nothing.here.*=int8' matches no tensor");
    assert_err_has(&r, "warning: 1 tensor got the fallback encoding int8: 'layers.0.b.weight'");
    assert_err_has(&r, "warnings: --rule 1 matched no tensor; 1 fallback ('layers.0.b.weight')");
    tf_run_free(&r);
    unlink(out);

    /* importance unused by every chosen encoding */
    r = RUN(tmp, "qtf-convert", "-e", "int8", "--importance", imp, model, out);
    assert_exit(&r, 0, "convert with an unused importance file");
    assert_err_has(&r, "no tensor's encoding uses importance");
    assert_err_has(&r, "warnings: --importance unused");
    tf_run_free(&r);
    unlink(out);

    /* importance missing for a tensor that uses it */
    EXPECT(0, "no vector for 1 tensor that uses one ('layers.0.b.weight')", "qtf-convert", "-e", "int4:group=16,search", "--importance", imp, model, out);
    free(a);
    free(b);
    free(model);
    free(imp);
    free(out);
}

Test(issue11, item14_requantizing_a_lossy_qtf_needs_allow_requantize) {
    char *model = tf_path(tmp, "m.safetensors"), *q4 = tf_path(tmp, "m4.qtf");
    char *q8 = tf_path(tmp, "m8.qtf"), *st = tf_path(tmp, "back.safetensors");
    float *a = weights(0.1f, 23);
    ts_write_safetensors(model, &(ts_st_tensor){ "layers.0.a.weight", QTF_DTYPE_F32, 2, { 64, 64 }, a }, 1);
    free(a);
    EXPECT(0, NULL, "qtf-convert", "-q", "-e", "int4:group=32", model, q4);
    tf_run_result r = RUN(tmp, "qtf-convert", "-q", "-e", "int8", q4, q8);
    assert_exit(&r, 2, "re-quantizing an int4 .qtf");
    assert_err_has(&r, "is already quantized");
    assert_err_has(&r, "--allow-requantize");
    cr_assert(access(q8, F_OK) != 0, "written anyway");
    tf_run_free(&r);
    EXPECT(0, NULL, "qtf-convert", "-q", "--allow-requantize", "-e", "int8", q4, q8);
    /* dequantizing is not re-quantizing */
    EXPECT(0, NULL, "qtf-convert", "-q", q4, st);
    free(model);
    free(q4);
    free(q8);
    free(st);
}

/* --- item 9: a .qtf truncated while mapped ---------------------------------------- */

/* In a child: open `q` (mapped, or read with --no-mmap), guard it as the
 * tools do, truncate it to 0 bytes (what another process could do at any
 * moment), then verify every checksum. Returns the child's wait status;
 * its stderr goes to err_path. */
static int truncate_while_reading(const char *q, const char *err_path, unsigned flags) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, 2);
        cli_set_program("qtf-test");
        qtf_open_options oo = QTF_OPEN_OPTIONS_INIT;
        oo.flags = flags;
        qtf_file *f = NULL;
        if (qtf_file_open(&f, q, &oo) != QTF_OK) _exit(90);
        if (!(flags & QTF_OPEN_NO_MMAP)) cli_guard_mapped_file(q);
        if (truncate(q, 0) != 0) _exit(91);
        qtf_status res[4];
        qtf_status st = qtf_file_verify(f, 1, res);
        _exit(st == QTF_OK ? 0 : 92);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

Test(issue11, item9_truncated_while_mapped_is_a_clean_io_error) {
    char *q = tf_path(tmp, "t.qtf"), *err = tf_path(tmp, "err.txt");
    float *x = tf_values(24, 256 * 256);
    write_qtf_tensor_shaped(q, "w", "f32", x, 0, 256, 256);
    int status = truncate_while_reading(q, err, 0);
    cr_assert(!WIFSIGNALED(status), "killed by signal %d", WTERMSIG(status));
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2, "status %d", status);
    char *text = tf_slurp(err, NULL);
    cr_assert(text && strstr(text, "qtf-test: ") && strstr(text, "t.qtf: I/O error: the file was "
                                                             "truncated"), "%s", text ? text : "");
    free(text);
    /* --no-mmap: the bytes were read at open, the truncation changes nothing */
    write_qtf_tensor_shaped(q, "w", "f32", x, 0, 256, 256);
    status = truncate_while_reading(q, err, QTF_OPEN_NO_MMAP);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    /* the tools take --no-mmap */
    write_qtf_tensor_shaped(q, "w", "f32", x, 0, 256, 256);
    EXPECT(0, NULL, "qtf-verify", "--no-mmap", q);
    EXPECT(0, NULL, "qtf-inspect", "--no-mmap", "--detail", "-t", "w", q);
    free(x);
    free(q);
    free(err);
}

Test(issue11, item16_messages_without_raw_status_names) {
    char *missing = tf_path(tmp, "absent.safetensors"), *out = tf_path(tmp, "o.qtf");
    tf_run_result r = RUN(tmp, "qtf-convert", "-q", missing, out);
    assert_exit(&r, 2, "convert of a missing file");
    assert_err_has(&r, "absent.safetensors");
    cr_assert(!strstr(r.err, "QTF_E_"), "a raw status name: %s", r.err);
    cr_assert(!strchr(strchr(r.err, '\n') + 1, '\n'), "more than one line: %s", r.err);
    tf_run_free(&r);
    /* a damaged file: text for people, the stable name in --json */
    char *q = tf_path(tmp, "d.qtf");
    float *x = weights(0.1f, 25);
    write_qtf_tensor(q, "w", "int8", x, 0);
    free(x);
    tu_set_byte(q, 200, 0x5a);
    r = RUN(tmp, "qtf-verify", q);
    assert_exit(&r, 1, "verify of a damaged file");
    cr_assert(strstr(r.out, "w: checksum failed: ") && !strstr(r.out, "QTF_E_"), "%s", r.out);
    tf_run_free(&r);
    r = RUN(tmp, "qtf-verify", "--json", q);
    cr_assert(strstr(r.out, "\"QTF_E_CHECKSUM\""), "%s", r.out);
    tf_run_free(&r);
    cr_assert_str_eq(qtf_status_text(QTF_E_TRUNCATED), "file ends too early");
    for (int s = 0; s < QTF_STATUS_COUNT_; s++)
        cr_assert(!strstr(qtf_status_text((qtf_status)s), "QTF_"), "status %d", s);
    free(missing);
    free(out);
    free(q);
}

/* --- item 8: qtf-inspect --json on huge metadata ------------------------------------ */

Test(issue11, item8_inspect_json_streams_metadata) {
    /* 4 million short strings (~40 MB of metadata): as one jansson tree
     * plus its text that is ~400 MB; streamed entry by entry and element by
     * element, qtf-inspect --json stays within a 200 MB data limit. */
    enum { N = 4 << 20 };
    char *q = tf_path(tmp, "meta.qtf"), *json = tf_path(tmp, "meta.json");
    const char **strs = malloc(N * sizeof *strs);
    uint64_t *lens = malloc(N * sizeof *lens);
    cr_assert(strs && lens);
    static const char *const words[] = { "tok", "en", "<s>", "a b" };
    for (size_t i = 0; i < N; i++) {
        strs[i] = words[i & 3];
        lens[i] = strlen(words[i & 3]);
    }
    qtf_writer *w = ts_writer(q);
    cr_assert_eq(qtf_writer_set_string_array(w, "tokenizer.tokens", strs, lens, N), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    free(strs);
    free(lens);
    char *exe = ts_find_tool("qtf-inspect");
    tf_run_opts lim = { .data_limit = 200ul << 20, .out_path = json };
    tf_run_result r = tf_run_ex((char *[]){ exe, "--json", "--metadata-only", q, NULL }, NULL, &lim);
    cr_assert(r.exited && r.code == 0, "exit %d, signal %d", r.code, r.sig);
    /* checked without a tree of our own: 4M strings would cost the test
     * the memory it checks the tool does not use */
    size_t len = 0;
    char *text = tf_slurp(json, &len);
    cr_assert(text);
    qtf_json_stats st;
    cr_assert_eq(qtf_json_check(&st, text, len, "qtf-inspect --json", 16, 0), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_geq(st.values, (uint64_t)N, "%llu values", (unsigned long long)st.values);
    cr_assert(strstr(text, "\"tokenizer.tokens\": \"array[string]\""), "types missing");
    cr_assert(strstr(text, "\"tokenizer.tokens\": [\n      \"tok\",\n      \"en\",\n      \"<s>\""),
              "values missing");
    free(text);
    free(exe);
    free(q);
    free(json);
}
