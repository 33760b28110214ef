/* tests/test_verify.c — qtf-verify run as a subprocess: exit codes for every
 * kind of failure, every bad tensor named, error metrics against a source
 * equal to qtf_metrics_compute on the same data, thresholds, missing/extra
 * tensors and shape mismatches, and the report formats (JSON, Markdown, SVG). */
#include <dirent.h>
#include <jansson.h>
#include <xxhash.h>

#include "checkpoint/source.h"
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
#include "common/common.h"
#include "support/source.h"
#include "support/container.h"
#include "support/tools.h"


/* Every test gets a temp dir with the sample file, and the tool. */
static tf_fixture fx;
static void setup(void) { fx = tf_fixture_setup("qtf-verify"); }
static void teardown(void) { tf_fixture_teardown(&fx); }
TestSuite(verify, .init = setup, .fini = teardown);

/* The sample's original values, stored lossless (f32) in a .qtf source.
 * skip: index of a sample tensor to leave out (-1: none); extra: add a
 * tensor the file does not have; reshape: index whose shape is transposed. */
static char *make_source(const char *name, int skip, int extra, int reshape) {
    char *path = tf_path(fx.dir, name);
    qtf_writer *w = ts_writer(path);
    for (unsigned k = 0; k < TF_SAMPLE_COUNT; k++) {
        if ((int)k == skip) continue;
        uint64_t dims[2] = {tf_sample[k].dims[0], tf_sample[k].dims[1]};
        if ((int)k == reshape) {
            dims[0] = tf_sample[k].dims[1];
            dims[1] = tf_sample[k].dims[0];
        }
        tf_add(w, tf_sample[k].name, "f32", tf_sample[k].n_dims, dims, k, QTF_DTYPE_F32);
    }
    if (extra) {
        uint64_t dims[1] = {16};
        tf_add(w, "only.in.source", "f32", 1, dims, 99, QTF_DTYPE_F32);
    }
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    return path;
}

/* Flips one byte in the middle of part `part` of tensor `name`. */
static void corrupt_tensor(const char *path, const char *name, uint32_t part) {
    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK);
    uint64_t idx;
    cr_assert_eq(qtf_tensor_find(&idx, f, name), QTF_OK);
    const qtf_tensor_info *t = qtf_tensor_get(f, idx);
    uint64_t off = t->parts[part].offset + t->parts[part].stored_size / 2;
    qtf_file_close(f);
    tu_set_byte(path, off, tu_byte_at(path, off) ^ 0x5A);
}

Test(verify, good_file_passes) {
    tf_run_result r;
    json_t *j = tf_run_json(&fx, &r, NULL, 0);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(json_is_true(json_object_get(j, "ok")));
    cr_assert_eq(json_integer_value(json_object_get(j, "schema_version")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(j, "file")), fx.file);
    json_t *ts = json_object_get(j, "tensors");
    cr_assert_eq(json_array_size(ts), TF_SAMPLE_COUNT);
    for (size_t i = 0; i < TF_SAMPLE_COUNT; i++) {
        json_t *t = json_array_get(ts, i);
        cr_assert_str_eq(json_string_value(json_object_get(t, "name")), tf_sample[i].name);
        cr_assert(json_is_true(json_object_get(t, "checksum_ok")));
        cr_assert(json_is_true(json_object_get(t, "decode_ok")));
    }
    cr_assert_eq(json_array_size(json_object_get(j, "failures")), 0);
    json_decref(j);
    tf_run_free(&r);

    char *argv[] = {fx.tool, fx.file, "--threads", "1", NULL};
    tf_expect_out(argv, fx.dir, 0, "RESULT: OK", NULL);
    char *fast[] = {fx.tool, fx.file, "--checksums-only", "--quiet", NULL};
    tf_expect_out(fast, fx.dir, 0, "decode      skipped", NULL);
}

Test(verify, every_corrupted_tensor_is_named) {
    corrupt_tensor(fx.file, "layers.0.attention.wq.weight", 0);
    corrupt_tensor(fx.file, "norm.weight", 0);
    corrupt_tensor(fx.file, "layers.0.feed_forward.w2.weight", 0);
    tf_run_result r;
    json_t *j = tf_run_json(&fx, &r, NULL, 0);
    cr_assert_eq(r.code, 1, "stderr: %s", r.err);
    cr_assert(json_is_false(json_object_get(j, "ok")));
    const char *bad[] = {"layers.0.attention.wq.weight", "norm.weight", "layers.0.feed_forward.w2.weight"};
    for (size_t k = 0; k < 3; k++) {
        json_t *t = tf_tensor_json(j, bad[k]);
        cr_assert(json_is_false(json_object_get(t, "checksum_ok")), "%s", bad[k]);
        cr_assert_str_eq(json_string_value(json_object_get(t, "checksum_status")), "QTF_E_CHECKSUM");
        cr_assert(tf_json_has(json_object_get(t, "failures"), "checksum"));
    }
    cr_assert(json_is_true(json_object_get(tf_tensor_json(j, "tok_embeddings.weight"), "checksum_ok")));
    json_t *fails = json_object_get(j, "failures");
    cr_assert_eq(json_array_size(fails), 3);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(j, "checks"), "checksums"),
                                                    "failed")), 3);
    json_decref(j);
    tf_run_free(&r);

    /* the human report names all three, with the reader's explanation */
    char *argv[] = {fx.tool, fx.file, NULL};
    r = tf_run(argv, fx.dir);
    cr_assert_eq(r.code, 1);
    for (size_t k = 0; k < 3; k++) {
        char want[128];
        snprintf(want, sizeof want, "%s: checksum failed: ", bad[k]);
        cr_assert(strstr(r.out, want), "missing '%s' in:\n%s", want, r.out);
    }
    cr_assert(strstr(r.out, "RESULT: FAILED"));
    cr_assert(strstr(r.err, "qtf-verify:"), "%s", r.err);
    tf_run_free(&r);
}

Test(verify, malformed_and_usage_exit_2) {
    size_t len;
    char *bytes = tf_slurp(fx.file, &len);
    char *bad = tf_path(fx.dir, "bad.qtf");
    tu_write(bad, bytes, len / 2);
    char *trunc[] = {fx.tool, bad, NULL};
    tf_run_result r;
    tf_expect_err(trunc, fx.dir, 2, "qtf-verify: cannot open", NULL);

    bytes[0] ^= 1;
    tu_write(bad, bytes, len);
    tf_expect_err(trunc, fx.dir, 2, "not a QTF file", NULL);

    char *cases[][6] = {
        {fx.tool, "--bogus", fx.file, NULL},
        {fx.tool, NULL},
        {fx.tool, fx.file, "--max-rel-rmse", "0.1", NULL},          /* needs --against */
        {fx.tool, fx.file, "--plot", "x.svg", NULL},                 /* needs --against */
        {fx.tool, fx.file, "--against", fx.file, "--max-rel-rmse", NULL},
        {fx.tool, fx.file, "--threads", "many", NULL},
        {fx.tool, fx.file, "--ignore", "x*", NULL},                  /* needs --against */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = tf_run(cases[i], fx.dir);
        cr_assert_eq(r.code, 2, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, "Try 'qtf-verify --help'"), "case %zu: %s", i, r.err);
        tf_run_free(&r);
    }
    char *nosrc_path = tf_path(fx.dir, "no-such-source");
    char *nosrc[] = {fx.tool, fx.file, "--against", nosrc_path, NULL};
    tf_expect_err(nosrc, fx.dir, 2, "cannot open the source", NULL);

    char *help[] = {fx.tool, "--help", NULL};
    r = tf_run(help, fx.dir);
    cr_assert_eq(r.code, 0);
    const char *opts[] = {"--against", "--max-rel-rmse", "--min-cosine", "--min-snr", "--ignore", "--checksums-only",
                          "--json", "--markdown", "--plot", "--quiet", "--threads", "--help", "--version",
                          "Exit status", "Examples"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        cr_assert(strstr(r.out, opts[i]), "--help does not mention %s", opts[i]);
    tf_run_free(&r);
    free(nosrc_path);
    free(bad);
    free(bytes);
}

/* Damage inside the metadata is caught by the header checksum at open: for
 * the verifier that is a failed check (1), while the same file given as a
 * --against source is unreadable input (2). */
Test(verify, header_checksum_failure_exits_1) {
    size_t len;
    unsigned char *bytes = (unsigned char *)tf_slurp(fx.file, &len);
    uint64_t meta_off = 0;
    for (int i = 7; i >= 0; i--) meta_off = meta_off << 8 | bytes[64 + i];
    cr_assert_lt(meta_off + 8, len);
    bytes[meta_off + 6] ^= 0x20;   /* a byte of the first key */
    char *bad = tf_path(fx.dir, "bad-meta.qtf");
    tu_write(bad, bytes, len);

    char *argv[] = {fx.tool, bad, NULL};
    tf_run_result r = tf_run(argv, fx.dir);
    cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "hash to") && !strstr(r.err, "QTF_E_"), "%s", r.err);
    cr_assert(strstr(r.err, "header checksum"), "%s", r.err);
    tf_run_free(&r);

    char *as_source[] = {fx.tool, fx.file, "--against", bad, NULL};
    r = tf_run(as_source, fx.dir);
    cr_assert_eq(r.code, 2, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "cannot open the source"), "%s", r.err);
    tf_run_free(&r);
    free(bad);
    free(bytes);
}

/* A full disk behind stdout is a write error, said once and as such (not as
 * running out of memory), with a failing exit status. */
Test(verify, stdout_write_error) {
    if (access("/dev/full", W_OK) != 0) cr_skip_test("no /dev/full");
    char *errp = tf_path(fx.dir, "stderr.txt");
    const char *formats[] = {"--json", "--markdown", "--quiet"};
    for (size_t i = 0; i < 3; i++) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "'%s' '%s' %s >/dev/full 2>'%s'", fx.tool, fx.file, formats[i], errp);
        int status = system(cmd);
        cr_assert(WIFEXITED(status));
        cr_assert_eq(WEXITSTATUS(status), 1, "%s", formats[i]);
        size_t len;
        char *err = tf_slurp(errp, &len);
        cr_assert(err);
        cr_assert(strstr(err, "qtf-verify: cannot write to standard output"), "%s: %s", formats[i], err);
        cr_assert_null(strstr(err, "out of memory"), "%s: %s", formats[i], err);
        free(err);
    }
    free(errp);
}

Test(verify, metrics_against_source) {
    char *src = make_source("source.qtf", -1, 0, -1);
    tf_run_result r;
    char *opts[] = {"--against", src};
    json_t *j = tf_run_json(&fx, &r, opts, 2);
    cr_assert_eq(r.code, 0, "stderr: %s\n%s", r.err, r.out);
    json_t *a = json_object_get(j, "against");
    cr_assert_eq(json_integer_value(json_object_get(a, "compared")), (json_int_t)TF_SAMPLE_COUNT);
    cr_assert_eq(json_array_size(json_object_get(a, "missing")), 0);
    cr_assert_eq(json_array_size(json_object_get(a, "extra")), 0);

    /* f32 is exact: rel. RMSE 0, cosine 1, SNR infinite (a string) */
    json_t *t = tf_tensor_json(j, "norm.weight");
    cr_assert_float_eq(json_number_value(json_object_get(t, "rel_rmse")), 0.0, 0);
    cr_assert_float_eq(json_number_value(json_object_get(t, "cosine")), 1.0, 1e-12);
    cr_assert_str_eq(json_string_value(json_object_get(t, "snr_db")), "inf");

    /* the quantized tensors: the same figures as qtf_metrics_compute gives */
    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, fx.file, NULL), QTF_OK);
    double weighted = 0, elements = 0;
    for (unsigned k = 0; k < TF_SAMPLE_COUNT; k++) {
        uint64_t n = tf_elements(&tf_sample[k]);
        float *ref = tf_values(k, n);
        float *deq = malloc(n * sizeof *deq);
        cr_assert_eq(qtf_tensor_dequantize(deq, QTF_DTYPE_F32, n, f, k, 1), QTF_OK);
        qtf_metrics m;
        cr_assert_eq(qtf_metrics_compute(&m, ref, deq, n, NULL, 0), QTF_OK);
        t = tf_tensor_json(j, tf_sample[k].name);
        cr_assert_float_eq(json_number_value(json_object_get(t, "rel_rmse")), m.rel_rmse, 1e-15, "%s",
                           tf_sample[k].name);
        cr_assert_float_eq(json_number_value(json_object_get(t, "max_abs_err")), m.max_abs_err, 1e-15);
        cr_assert_float_eq(json_number_value(json_object_get(t, "cosine")), m.cosine, 1e-15);
        if (isfinite(m.snr_db))
            cr_assert_float_eq(json_number_value(json_object_get(t, "snr_db")), m.snr_db, 1e-9);
        weighted += m.rel_rmse * (double)n;
        elements += (double)n;
        free(ref);
        free(deq);
    }
    qtf_file_close(f);
    json_t *s = json_object_get(j, "summary");
    cr_assert_float_eq(json_number_value(json_object_get(s, "rel_rmse")), weighted / elements, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(s, "elements")), (json_int_t)elements);
    /* worst first; the exact f32 tensor last */
    json_t *worst = json_object_get(j, "worst");
    cr_assert_eq(json_array_size(worst), TF_SAMPLE_COUNT);
    for (size_t i = 1; i < json_array_size(worst); i++)
        cr_assert_geq(json_number_value(json_object_get(json_array_get(worst, i - 1), "rel_rmse")),
                      json_number_value(json_object_get(json_array_get(worst, i), "rel_rmse")));
    json_decref(j);
    tf_run_free(&r);
    free(src);
}

/* qtf-verify --json with the 4 options `opts`: exit 1, and `failure` among
 * the failures of `tensor`. Returns the JSON (the caller frees it and *r). */
static json_t *run_failing(tf_run_result *r, char **opts, const char *tensor,
                           const char *failure) {
    json_t *j = tf_run_json(&fx, r, opts, 4);
    cr_assert_eq(r->code, 1, "%s", r->err);
    cr_assert(tf_json_has(json_object_get(tf_tensor_json(j, tensor), "failures"), failure),
              "%s: no %s failure", tensor, failure);
    return j;
}

Test(verify, thresholds) {
    char *src = make_source("source.qtf", -1, 0, -1);
    tf_run_result r;
    char *loose[] = {"--against", src, "--max-rel-rmse", "0.5", "--min-cosine", "0.9", "--min-snr", "5"};
    json_t *j = tf_run_json(&fx, &r, loose, 8);
    cr_assert_eq(r.code, 0, "%s", r.out);
    json_decref(j);
    tf_run_free(&r);

    /* int4 is far from exact: 1e-6 fails it; f32 (exact) and f16 pass or not by their error */
    char *tight[] = {"--against", src, "--max-rel-rmse", "1e-6"};
    j = run_failing(&r, tight, "layers.0.attention.wq.weight", "max_rel_rmse");
    json_t *t = tf_tensor_json(j, "norm.weight");
    cr_assert_eq(json_array_size(json_object_get(t, "failures")), 0);
    cr_assert(json_is_true(json_object_get(t, "ok")));
    json_decref(j);
    tf_run_free(&r);

    char *cos[] = {"--against", src, "--min-cosine", "0.9999999"};
    j = run_failing(&r, cos, "layers.0.feed_forward.w1.weight", "min_cosine");
    json_decref(j);
    tf_run_free(&r);

    char *snr[] = {"--against", src, "--min-snr", "200"};
    j = run_failing(&r, snr, "layers.0.attention.wk.weight", "min_snr");
    /* an exact tensor has an infinite SNR and passes any --min-snr */
    cr_assert(json_is_true(json_object_get(tf_tensor_json(j, "norm.weight"), "ok")));
    json_decref(j);
    tf_run_free(&r);

    char *argv[] = {fx.tool, fx.file, "--against", src, "--max-rel-rmse", "1e-6", "--quiet", NULL};
    tf_expect_out(argv, fx.dir, 1, "layers.0.attention.wq.weight: rel. RMSE", "above --max-rel-rmse 1e-06", NULL);
    free(src);
}

Test(verify, missing_extra_and_shape) {
    /* source lacks tensor 1 (so the file has an extra one), has one the file
     * lacks (missing), and tensor 3 with a transposed shape */
    char *src = make_source("source.qtf", 1, 1, 3);
    tf_run_result r;
    char *opts[] = {"--against", src};
    json_t *j = tf_run_json(&fx, &r, opts, 2);
    cr_assert_eq(r.code, 1);
    json_t *a = json_object_get(j, "against");
    cr_assert_eq(json_array_size(json_object_get(a, "missing")), 1);
    cr_assert(tf_json_has(json_object_get(a, "missing"), "only.in.source"));
    cr_assert_eq(json_array_size(json_object_get(a, "extra")), 1);
    cr_assert(tf_json_has(json_object_get(a, "extra"), tf_sample[1].name));
    cr_assert_eq(json_array_size(json_object_get(a, "shape_mismatch")), 1);
    cr_assert(tf_json_has(json_object_get(a, "shape_mismatch"), tf_sample[3].name));
    cr_assert_eq(json_integer_value(json_object_get(a, "compared")), (json_int_t)TF_SAMPLE_COUNT - 2);
    json_t *t = tf_tensor_json(j, tf_sample[3].name);
    cr_assert(json_is_null(json_object_get(t, "rel_rmse")));
    cr_assert(json_is_false(json_object_get(t, "shape_ok")));
    json_decref(j);
    tf_run_free(&r);

    /* --ignore takes tensors out of the comparison on both sides */
    char *ign[] = {"--against", src, "--ignore", "only.in.*", "--ignore", "*.wq.weight", "--ignore", "*.w2.weight"};
    j = tf_run_json(&fx, &r, ign, 8);
    cr_assert_eq(r.code, 0, "%s", r.out);
    a = json_object_get(j, "against");
    cr_assert_eq(json_integer_value(json_object_get(a, "ignored")), 2);
    cr_assert_eq(json_integer_value(json_object_get(a, "compared")), (json_int_t)TF_SAMPLE_COUNT - 2);
    t = tf_tensor_json(j, tf_sample[1].name);
    cr_assert(json_is_true(json_object_get(t, "ignored")));
    cr_assert(json_is_true(json_object_get(t, "checksum_ok")), "ignored tensors are still verified");
    json_decref(j);
    tf_run_free(&r);

    char *argv[] = {fx.tool, fx.file, "--against", src, NULL};
    tf_expect_out(argv, fx.dir, 1, "only.in.source: missing, in the source but not in the file", "layers.0.attention.wq.weight: extra tensor, not in the source", "layers.0.feed_forward.w2.weight: shape [4, 64], source has [64, 4]", NULL);
    free(src);
}

static size_t count_occurrences(const char *s, const char *needle) {
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

Test(verify, svg_and_markdown) {
    char *src = make_source("source.qtf", -1, 0, -1);
    char *svg = tf_path(fx.dir, "chart.svg");
    char *argv[] = {fx.tool, fx.file, "--against", src, "--plot", svg, "--markdown", "--max-rel-rmse", "0.5",
                    NULL};
    tf_expect_out(argv, fx.dir, 0, "## qtf-verify: ", "sample.qtf — OK", "| tensor | encoding |", "|---|---|", NULL);
    size_t len;
    char *text = tf_slurp(svg, &len);
    cr_assert(text, "no chart written");
    cr_assert_eq(strncmp(text, "<svg ", 5), 0);
    cr_assert(strstr(text, "xmlns=\"http://www.w3.org/2000/svg\""));
    cr_assert(strstr(text, "</svg>\n"));
    cr_assert_eq(count_occurrences(text, "class=\"pt\""), TF_SAMPLE_COUNT);
    cr_assert_eq(count_occurrences(text, "<circle class=\"pt\""), TF_SAMPLE_COUNT);
    cr_assert_eq(count_occurrences(text, "<svg"), 1);
    cr_assert(strstr(text, ">int4<") && strstr(text, ">pal4<") && strstr(text, ">q8_0<"), "legend");
    cr_assert(strstr(text, "relative RMSE (log scale)"));
    cr_assert(strstr(text, "--max-rel-rmse 0.5"));
    cr_assert_eq(count_occurrences(text, "<"), count_occurrences(text, ">"));
    free(text);
    /* written through a temp file: nothing else left in the directory */
    DIR *d = opendir(fx.dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        cr_assert_null(strstr(e->d_name, ".tmp"), "left behind: %s", e->d_name);
    closedir(d);
    free(svg);
    free(src);
}

Test(verify, control_characters_escaped) {
    char *path = tf_path(fx.dir, "names.qtf");
    const char *evil = "evil\x1b[2J\x07\n\xc2\x9b\xe2\x80\xaename";
    qtf_writer *w = ts_writer(path);
    uint64_t dims[1] = {32};
    tf_add(w, evil, "int8", 1, dims, 1, QTF_DTYPE_F32);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    corrupt_tensor(path, evil, 0);
    const char *formats[] = {NULL, "--markdown", "--json"};
    for (size_t i = 0; i < 3; i++) {
        char *argv[] = {fx.tool, path, (char *)formats[i], NULL};
        tf_run_result r = tf_run(argv, fx.dir);
        cr_assert_eq(r.code, 1);
        cr_assert_not(tf_has_raw_control(r.out, r.out_len), "format %zu:\n%s", i, r.out);
        cr_assert_not(tf_has_raw_control(r.err, r.err_len), "stderr:\n%s", r.err);
        if (i < 2) cr_assert(strstr(r.out, "evil\\x1b[2J\\x07\\n\\u009B\\u202Ename"), "%s", r.out);
        tf_run_free(&r);
    }
    free(path);
}

/* Tensor names and paths reach the SVG as XML text: markup characters in
 * them must not open elements or attributes in the chart. */
Test(verify, svg_escapes_markup_in_names) {
    char *path = tf_path(fx.dir, "m<&>.qtf");
    const char *name = "w<script>&\"x'";
    qtf_writer *w = ts_writer(path);
    uint64_t dims[2] = {2, 32};
    tf_add(w, name, "int8", 2, dims, 3, QTF_DTYPE_F32);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    char *svg = tf_path(fx.dir, "chart.svg");
    char *argv[] = {fx.tool, path, "--against", path, "--plot", svg, "--quiet", NULL};
    tf_expect_out(argv, fx.dir, 0, NULL);
    size_t len;
    char *text = tf_slurp(svg, &len);
    cr_assert(text);
    cr_assert(strstr(text, "w&lt;script&gt;&amp;&quot;x&apos;"), "%s", text);
    cr_assert(strstr(text, "m&lt;&amp;&gt;.qtf"), "the file name is escaped too");
    cr_assert_null(strstr(text, "<script"));
    cr_assert_null(strstr(text, "m<&>"));
    free(text);
    free(svg);
    free(path);
}

Test(verify, safetensors_source) {
    char *st_path = tf_path(fx.dir, "model.safetensors");
    qtf_st_writer *w = ts_st_writer(st_path);
    for (unsigned k = 0; k < TF_SAMPLE_COUNT; k++)
        cr_assert_eq(qtf_st_writer_declare(w, tf_sample[k].name, QTF_DTYPE_F32, tf_sample[k].n_dims,
                                           tf_sample[k].dims), QTF_OK);
    for (unsigned k = 0; k < TF_SAMPLE_COUNT; k++) {
        uint64_t n = tf_elements(&tf_sample[k]);
        float *x = tf_values(k, n);
        cr_assert_eq(qtf_st_writer_write(w, x, n * 4), QTF_OK, "%s", qtf_error_detail());
        free(x);
    }
    cr_assert_eq(qtf_st_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    tf_run_result r;
    char *opts[] = {"--against", fx.dir};
    json_t *j = tf_run_json(&fx, &r, opts, 2);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "against"), "kind")),
                     qtf_source_kind_name(QTF_SOURCE_SAFETENSORS));
    cr_assert_float_eq(json_number_value(json_object_get(tf_tensor_json(j, "norm.weight"), "rel_rmse")), 0.0, 0);
    json_decref(j);
    tf_run_free(&r);
    free(st_path);
}

/* End to end on a real checkpoint: qtf-convert's output verified against
 * every layout of the same model (skipped without the shared checkpoints or
 * without a built qtf-convert). */
Test(verify, real_checkpoint_all_source_layouts) {
    char *model = (char *)ts_checkpoint("aidreams-llama-260k-hf");
    if (!model) cr_skip_test("shared checkpoints not available");
    char *convert = ts_build_path("convert/qtf-convert");
    if (access(convert, X_OK) != 0) cr_skip_test("qtf-convert not built");
    free(fx.file); /* the suite's sample: this test verifies a converted checkpoint */
    fx.file = tf_path(fx.dir, "llama.qtf");
    char *conv[] = {convert, model, fx.file, "--encoding", "int4:group=32", "--fallback", "int8", NULL};
    tf_run_result r;
    tf_expect_out(conv, fx.dir, 0, NULL);
    const char *layouts[] = {"aidreams-llama-260k-hf", "aidreams-llama-260k-hf/model.safetensors",
                             "aidreams-llama-260k-hf-sharded", "aidreams-llama-260k-hf-pytorch-bin"};
    double first_rel = -1;
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        char *src = (char *)ts_checkpoint(layouts[i]);
        cr_assert(src, "%s missing", layouts[i]);
        char *opts[] = {"--against", src, "--max-rel-rmse", "0.2", "--min-cosine", "0.98"};
        json_t *j = tf_run_json(&fx, &r, opts, 6);
        cr_assert_eq(r.code, 0, "%s: %s", layouts[i], r.out);
        json_t *a = json_object_get(j, "against");
        cr_assert_eq(json_integer_value(json_object_get(a, "compared")), json_integer_value(json_object_get(a, "tensors")));
        cr_assert_eq(json_array_size(json_object_get(a, "missing")), 0);
        /* the same f32 weights in every layout: the same error */
        double rel = json_number_value(json_object_get(json_object_get(j, "summary"), "rel_rmse"));
        cr_assert_gt(rel, 0);
        if (first_rel < 0) first_rel = rel;
        else cr_assert_float_eq(rel, first_rel, 1e-12, "%s", layouts[i]);
        json_decref(j);
        tf_run_free(&r);
    }
    free(convert);
}

/* Rewrites the encoding id of tensor `index` and re-seals the header
 * checksum (spec/FORMAT.md sections 3 and 6), giving a valid file whose
 * tensor uses an encoding this version does not know. */
static void set_encoding_id(const char *path, uint64_t index, uint32_t id) {
    size_t len;
    unsigned char *b = tu_read(path, &len);
    cr_assert(len >= 128);
    size_t pos = (size_t)qtf__ld64(b + H_DIROFF);
    for (uint64_t k = 0;; k++) {
        pos += 4 + qtf__ld32(b + pos);                /* name */
        uint32_t n_dims = qtf__ld32(b + pos);
        pos += 4 + 8 * (size_t)n_dims + 4;       /* dims, source dtype */
        if (k == index) {
            qtf__st32(b + pos, id);
            break;
        }
        pos += 4;
        uint32_t n_params = qtf__ld32(b + pos);
        pos += 4 + 8 * (size_t)n_params;
        uint32_t n_parts = qtf__ld32(b + pos);
        pos += 4 + 40 * (size_t)n_parts;
        cr_assert_lt(pos, len);
    }
    tu_reseal(b, len);
    tu_write(path, b, len);
    free(b);
}

Test(verify, unknown_encoding_fails_decode_only) {
    set_encoding_id(fx.file, TF_SAMPLE_COUNT - 1, 200);
    tf_run_result r;
    json_t *j = tf_run_json(&fx, &r, NULL, 0);
    cr_assert_eq(r.code, 1, "%s", r.err);
    json_t *t = tf_tensor_json(j, "norm.weight");
    cr_assert_str_eq(json_string_value(json_object_get(t, "encoding")), "unknown(id=200)");
    cr_assert(json_is_true(json_object_get(t, "checksum_ok")), "its bytes are still verifiable");
    cr_assert(json_is_false(json_object_get(t, "decode_ok")));
    cr_assert(strstr(json_string_value(json_object_get(t, "decode_error")), "200"));
    cr_assert_eq(json_array_size(json_object_get(j, "failures")), 1);
    json_decref(j);
    tf_run_free(&r);

    /* qtf-inspect lists it (exit 0); --detail cannot decode it (exit 1) */
    char *inspect = tf_tool("qtf-inspect");
    char *list[] = {inspect, fx.file, NULL};
    tf_expect_out(list, fx.dir, 0, "unknown(id=200)", NULL);
    char *detail[] = {inspect, fx.file, "--tensor", "norm.weight", "--detail", NULL};
    tf_expect_out(detail, fx.dir, 1, "cannot decode: encoding id 200 is not known", NULL);
    free(inspect);
}

/* Removes the members that are measurements, not results. */
static void strip_timing(json_t *j) {
    json_object_del(j, "threads");
    json_t *c = json_object_get(j, "checks");
    json_object_del(json_object_get(c, "checksums"), "seconds");
    json_object_del(json_object_get(c, "decode"), "seconds");
}

Test(verify, same_report_for_any_thread_count) {
    corrupt_tensor(fx.file, "layers.0.feed_forward.w1.weight", 1);
    char *src = make_source("source.qtf", 2, 1, 4);
    tf_run_result r;
    char *one[] = {"--against", src, "--max-rel-rmse", "0.05", "--threads", "1"};
    json_t *a = tf_run_json(&fx, &r, one, 6);
    cr_assert_eq(r.code, 1);
    tf_run_free(&r);
    char *three[] = {"--against", src, "--max-rel-rmse", "0.05", "--threads", "3"};
    json_t *b = tf_run_json(&fx, &r, three, 6);
    cr_assert_eq(r.code, 1);
    tf_run_free(&r);
    strip_timing(a);
    strip_timing(b);
    char *sa = json_dumps(a, JSON_SORT_KEYS), *sb = json_dumps(b, JSON_SORT_KEYS);
    cr_assert_str_eq(sa, sb);
    free(sa);
    free(sb);
    json_decref(a);
    json_decref(b);
    free(src);
}

/* A non-zero byte in the padding after a tensor: named, exit 1. */
Test(verify, padding_must_be_zero) {
    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, fx.file, NULL), QTF_OK);
    uint64_t idx;
    cr_assert_eq(qtf_tensor_find(&idx, f, "layers.0.attention.wq.weight"), QTF_OK);
    const qtf_tensor_info *t = qtf_tensor_get(f, idx);
    const qtf_part_info *last = &t->parts[t->n_parts - 1];
    uint64_t pad = last->offset + last->stored_size;
    cr_assert_neq(pad % 64, 0, "the sample must leave padding after this tensor");
    qtf_file_close(f);
    tu_set_byte(fx.file, pad, 0x01);
    tf_run_result r;
    json_t *j = tf_run_json(&fx, &r, NULL, 0);
    cr_assert_eq(r.code, 1, "%s", r.err);
    json_t *tj = tf_tensor_json(j, "layers.0.attention.wq.weight");
    cr_assert_str_eq(json_string_value(json_object_get(tj, "checksum_status")), "QTF_E_OFFSET");
    json_t *fail = json_array_get(json_object_get(j, "failures"), 0);
    cr_assert(strstr(json_string_value(json_object_get(fail, "message")), "padding"), "%s",
              json_string_value(json_object_get(fail, "message")));
    json_decref(j);
    tf_run_free(&r);
}

/* Writes a safetensors file of F32 tensors. */
static void write_st(const char *path, unsigned n, const char *const *names, const uint32_t *n_dims,
                     const uint64_t (*dims)[2], const float *const *values) {
    qtf_st_writer *w = NULL;
    cr_assert_eq(qtf_st_writer_create(&w, path, NULL), QTF_OK, "%s", qtf_error_detail());
    for (unsigned k = 0; k < n; k++)
        cr_assert_eq(qtf_st_writer_declare(w, names[k], QTF_DTYPE_F32, n_dims[k], dims[k]), QTF_OK);
    for (unsigned k = 0; k < n; k++) {
        uint64_t e = dims[k][0] * (n_dims[k] == 2 ? dims[k][1] : 1);
        cr_assert_eq(qtf_st_writer_write(w, values[k], e * 4), QTF_OK, "%s", qtf_error_detail());
    }
    cr_assert_eq(qtf_st_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
}

/* --importance: the importance-weighted relative error computed by hand.
 * File (f32, exact) W' against source W, importance a per column:
 *   w:  W  = [[1,2,0,0],[0,0,2,1]], W' = [[1,1,0,0],[0,0,2,3]], a = [1,4,0.5,2]
 *       sum a (W-W')^2 = 4*1 + 2*4 = 12; sum a W^2 = 1+16 + 2+2 = 21
 *       -> sqrt(12/21); plain: sqrt((1+4)/10)
 *   u:  W = [[3,4]], W' = [[3,0]], a = [1,1] -> sqrt(16/25) = 0.8
 *   v:  no vector -> null, not in the importance summary
 * Summary: element-weighted (8 sqrt(12/21) + 2 * 0.8) / 10 over 2 tensors;
 * sum of squares 12/21 + 16/25. */
Test(verify, importance_weighted_error_by_hand) {
    char *dir = tf_tmpdir();
    char *file = tf_path(dir, "file.qtf"), *ckpt = tf_path(dir, "ckpt.safetensors");
    char *imp = tf_path(dir, "imp.safetensors"), *bad = tf_path(dir, "bad.safetensors");
    static const float w_ref[8] = {1, 2, 0, 0, 0, 0, 2, 1}, w_q[8] = {1, 1, 0, 0, 0, 0, 2, 3};
    static const float u_ref[2] = {3, 4}, u_q[2] = {3, 0};
    static const float v_ref[4] = {1, 1, 1, 1}, v_q[4] = {1, 1, 1, 0};
    static const float a_w[4] = {1, 4, 0.5f, 2}, a_u[2] = {1, 1};
    const char *names[3] = {"u", "v", "w"};
    const uint32_t nd[3] = {2, 2, 2};
    const uint64_t dims[3][2] = {{1, 2}, {1, 4}, {2, 4}};
    const float *refs[3] = {u_ref, v_ref, w_ref}, *qs[3] = {u_q, v_q, w_q};
    write_st(ckpt, 3, names, nd, dims, refs);
    qtf_writer *wr = NULL;
    cr_assert_eq(qtf_writer_create(&wr, file, NULL), QTF_OK);
    qtf_encoding e;
    cr_assert_eq(qtf_encoding_parse(&e, "f32"), QTF_OK);
    for (unsigned k = 0; k < 3; k++) {
        qtf_encoded *enc = NULL;
        cr_assert_eq(qtf_quantize(&enc, &e, qs[k], 2, dims[k], NULL), QTF_OK);
        qtf_part_view pv[QTF_MAX_PARTS];
        uint32_t np = qtf_encoded_views(pv, enc);
        qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
        d.name = names[k];
        d.n_dims = 2;
        d.dims = dims[k];
        d.encoding = &e;
        d.source_type = QTF_DTYPE_F32;
        cr_assert_eq(qtf_writer_add_tensor(wr, &d, pv, np), QTF_OK, "%s", qtf_error_detail());
        qtf_encoded_free(enc);
    }
    cr_assert_eq(qtf_writer_finish(wr), QTF_OK, "%s", qtf_error_detail());
    const char *inames[2] = {"u", "w"};
    const uint32_t ind[2] = {1, 1};
    const uint64_t idims[2][2] = {{2, 0}, {4, 0}};
    const float *ivals[2] = {a_u, a_w};
    write_st(imp, 2, inames, ind, idims, ivals);

    char *tool = tf_tool("qtf-verify");
    char *argv[] = {tool, file, "--against", ckpt, "--importance", imp, "--json", NULL};
    tf_run_result r = tf_run(argv, dir);
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_error_t je;
    json_t *j = json_loadb(r.out, r.out_len, 0, &je);
    cr_assert(j, "%s", je.text);
    double want_w = sqrt(12.0 / 21.0), want_u = 0.8;
    json_t *tw = tf_tensor_json(j, "w"), *tu = tf_tensor_json(j, "u"), *tv = tf_tensor_json(j, "v");
    cr_assert_float_eq(json_number_value(json_object_get(tw, "importance_rel_rmse")), want_w, 1e-12);
    cr_assert_float_eq(json_number_value(json_object_get(tw, "rel_rmse")), sqrt(0.5), 1e-12);
    cr_assert_float_eq(json_number_value(json_object_get(tu, "importance_rel_rmse")), want_u, 1e-12);
    cr_assert(json_is_null(json_object_get(tv, "importance_rel_rmse")));
    cr_assert_float_eq(json_number_value(json_object_get(tv, "rel_rmse")), 0.5, 1e-12);
    json_t *si = json_object_get(json_object_get(j, "summary"), "importance");
    cr_assert_eq(json_integer_value(json_object_get(si, "tensors")), 2);
    cr_assert_eq(json_integer_value(json_object_get(si, "elements")), 10);
    cr_assert_float_eq(json_number_value(json_object_get(si, "rel_rmse")),
                       (8 * want_w + 2 * want_u) / 10, 1e-12);
    cr_assert_float_eq(json_number_value(json_object_get(si, "error_sum")),
                       12.0 / 21.0 + 16.0 / 25.0, 1e-12);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "against"), "importance")),
                     imp);
    json_decref(j);
    tf_run_free(&r);

    /* text: the column and the summary line, with the same figures */
    char *argt[] = {tool, file, "--against", ckpt, "--importance", imp, NULL};
    r = tf_run(argt, dir);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "imp.RMSE"), "%s", r.out);
    char line[128];
    snprintf(line, sizeof line, "importance-weighted rel.RMSE %.4g, sum of squares %.6g (2 tensors",
             (8 * want_w + 2 * want_u) / 10, 12.0 / 21.0 + 16.0 / 25.0);
    cr_assert(strstr(r.out, line), "want '%s' in\n%s", line, r.out);
    tf_run_free(&r);

    /* usage: --importance without --against; a vector of the wrong length
     * and a negative weight are input errors naming the file and vector */
    char *argu[] = {tool, file, "--importance", imp, NULL};
    r = tf_run(argu, dir);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--importance needs --against"), "%s", r.err);
    tf_run_free(&r);
    const uint64_t bdims[2][2] = {{2, 0}, {3, 0}};
    write_st(bad, 2, inames, ind, bdims, ivals);
    char *argb[] = {tool, file, "--against", ckpt, "--importance", bad, NULL};
    r = tf_run(argb, dir);
    cr_assert_eq(r.code, 2, "%s", r.out);
    cr_assert(strstr(r.err, "bad.safetensors: importance vector 'w': expected a 1-D tensor of 4 "
                            "elements"), "%s", r.err);
    tf_run_free(&r);
    static const float neg[4] = {1, -1, 1, 1};
    const float *nvals[2] = {a_u, neg};
    write_st(bad, 2, inames, ind, idims, nvals);
    r = tf_run(argb, dir);
    cr_assert_eq(r.code, 2, "%s", r.out);
    cr_assert(strstr(r.err, "importance for 'w': element 1 is -1"), "%s", r.err);
    tf_run_free(&r);

    free(tool);
    tf_rm_rf(dir);
    free(dir);
    free(file);
    free(ckpt);
    free(imp);
    free(bad);
}
