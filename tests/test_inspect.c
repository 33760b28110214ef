/* tests/test_inspect.c — qtf-inspect run as a subprocess on files built with
 * the public writer; its --json output is parsed and compared with what the
 * reader says. The display helpers (escaping, sizes, JSON numbers) are tested
 * directly by linking the cli/ library into this test. */
#include <jansson.h>
#include <xxhash.h>

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
#include "support/container.h"
#include "support/tools.h"
#include "cli/cli_util.h"


/* Every test gets a temp dir with the sample file, and the tool. */
static tf_fixture fx;
static void setup(void) { fx = tf_fixture_setup("qtf-inspect"); }
static void teardown(void) { tf_fixture_teardown(&fx); }
TestSuite(inspect, .init = setup, .fini = teardown);

Test(inspect, json_summary_matches_reader) {
    tf_run_result r;
    json_t *j = tf_run_json(&fx, &r, NULL, 0);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(json_string_value(json_object_get(j, "version")), "1.0");
    cr_assert_eq(json_integer_value(json_object_get(j, "schema_version")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(j, "file")), fx.file);
    cr_assert_eq(json_integer_value(json_object_get(j, "tensor_count")), (json_int_t)TF_SAMPLE_COUNT);
    cr_assert_eq(json_array_size(json_object_get(j, "tensors")), TF_SAMPLE_COUNT);
    cr_assert_eq(json_integer_value(json_object_get(j, "metadata_count")), 9);
    cr_assert_eq(json_integer_value(json_object_get(j, "alignment")), 64);

    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, fx.file, NULL), QTF_OK);
    cr_assert_eq(json_integer_value(json_object_get(j, "file_size")),
                 (json_int_t)qtf_file_get_info(f)->file_size);
    uint64_t params = 0, stored = 0;
    for (uint64_t i = 0; i < qtf_tensor_count(f); i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        json_t *tj = json_array_get(json_object_get(j, "tensors"), i);
        cr_assert_str_eq(json_string_value(json_object_get(tj, "name")), t->name, "file order kept");
        /* tensor checksum: XXH3-64 of the parts' canonical checksums */
        unsigned char canon[8 * QTF_MAX_PARTS];
        for (uint32_t p = 0; p < t->n_parts; p++)
            for (int b = 0; b < 8; b++) canon[8 * p + b] = (unsigned char)(t->parts[p].checksum >> (56 - 8 * b));
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits(canon, 8 * t->n_parts));
        cr_assert_str_eq(json_string_value(json_object_get(tj, "checksum")), hex);
        json_t *parts = json_object_get(tj, "parts");
        cr_assert_eq(json_array_size(parts), t->n_parts);
        for (uint32_t p = 0; p < t->n_parts; p++) {
            json_t *pj = json_array_get(parts, p);
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)t->parts[p].checksum);
            cr_assert_str_eq(json_string_value(json_object_get(pj, "checksum")), hex);
            cr_assert_eq(json_integer_value(json_object_get(pj, "offset")), (json_int_t)t->parts[p].offset);
            cr_assert_eq(json_integer_value(json_object_get(pj, "stored_size")),
                         (json_int_t)t->parts[p].stored_size);
            stored += t->parts[p].stored_size;
        }
        params += t->n_elements;
    }
    qtf_file_close(f);
    json_t *s = json_object_get(j, "summary");
    cr_assert_eq(json_integer_value(json_object_get(s, "parameters")), (json_int_t)params);
    cr_assert_eq(json_integer_value(json_object_get(s, "stored_bytes")), (json_int_t)stored);
    cr_assert_eq(json_integer_value(json_object_get(s, "f16_bytes")), (json_int_t)(2 * params));
    /* every tensor records BF16 as its source type: source bytes = 2 per element */
    cr_assert_eq(json_integer_value(json_object_get(s, "source_bytes")), (json_int_t)(2 * params));
    cr_assert_float_eq(json_real_value(json_object_get(s, "ratio_vs_f16")), 2.0 * (double)params / (double)stored, 1e-12);
    cr_assert_str_eq(json_string_value(json_object_get(s, "converter")), "qtf-test 1.0");
    cr_assert_str_eq(json_string_value(json_object_get(s, "recipe")), TF_RECIPE);
    json_decref(j);
    tf_run_free(&r);
}

Test(inspect, json_tensor_fields) {
    tf_run_result r;
    json_t *j = tf_run_json(&fx, &r, NULL, 0);
    cr_assert_eq(r.code, 0);
    /* int4, group 32, f16 scales: 4 + 16/32 bits per weight */
    json_t *t = tf_tensor_json(j, "layers.0.attention.wq.weight");
    cr_assert(t);
    cr_assert_str_eq(json_string_value(json_object_get(t, "encoding")), "int4");
    cr_assert_float_eq(json_number_value(json_object_get(t, "bits_per_weight")), 4.5, 1e-12);
    json_t *shape = json_object_get(t, "shape");
    cr_assert_eq(json_array_size(shape), 2);
    cr_assert_eq(json_integer_value(json_array_get(shape, 0)), 8);
    cr_assert_eq(json_integer_value(json_array_get(shape, 1)), 64);
    cr_assert_eq(json_integer_value(json_object_get(t, "n_elements")), 512);
    cr_assert_str_eq(json_string_value(json_object_get(t, "source_type")), "BF16");
    /* q8_0: 34 bytes per 32 weights */
    t = tf_tensor_json(j, "layers.0.feed_forward.w2.weight");
    cr_assert_float_eq(json_number_value(json_object_get(t, "bits_per_weight")), 8.5, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(t, "stored_bytes")), 4 * 2 * 34);
    t = tf_tensor_json(j, "tok_embeddings.weight");
    cr_assert_float_eq(json_number_value(json_object_get(t, "bits_per_weight")), 16.0, 1e-12);
    cr_assert_eq(json_integer_value(json_object_get(t, "stored_bytes")), 16 * 32 * 2);
    cr_assert_str_eq(json_string_value(json_object_get(t, "compression")), "none");
    t = tf_tensor_json(j, "norm.weight");
    cr_assert_float_eq(json_number_value(json_object_get(t, "bits_per_weight")), 32.0, 1e-12);
    t = tf_tensor_json(j, "layers.0.attention.wk.weight");
    cr_assert_str_eq(json_string_value(json_object_get(t, "encoding")), "int8:zstd");
    json_decref(j);
    tf_run_free(&r);
}

Test(inspect, json_metadata_values) {
    tf_run_result r;
    json_t *j = tf_run_json(&fx, &r, NULL, 0);
    cr_assert_eq(r.code, 0);
    json_t *m = json_object_get(j, "metadata"), *types = json_object_get(j, "metadata_types");
    /* control characters survive the JSON round trip exactly */
    cr_assert_str_eq(json_string_value(json_object_get(m, "test.control")), tf_control_string);
    /* ...and the output itself is plain ASCII without raw control bytes */
    for (size_t i = 0; i < r.out_len; i++) {
        unsigned char c = (unsigned char)r.out[i];
        cr_assert(c == '\n' || (c >= 0x20 && c < 0x7F), "byte 0x%02x at %zu in JSON output", c, i);
    }
    json_t *blob = json_object_get(m, "test.blob");
    cr_assert_str_eq(json_string_value(json_object_get(blob, "type")), "blob");
    cr_assert_eq(json_integer_value(json_object_get(blob, "size")), 7);
    cr_assert_str_eq(json_string_value(json_object_get(blob, "media_type")), "application/json");
    /* beyond 2^53: a decimal string */
    cr_assert_str_eq(json_string_value(json_object_get(m, "test.big")), "1152921504606846977");
    cr_assert_float_eq(json_real_value(json_object_get(m, "test.pi")), 3.25, 0);
    cr_assert(json_is_true(json_object_get(m, "test.flag")));
    json_t *sq = json_object_get(m, "test.squares");
    cr_assert_eq(json_array_size(sq), 10);
    cr_assert_eq(json_integer_value(json_array_get(sq, 9)), 81);
    json_t *tok = json_object_get(m, "test.tokens");
    cr_assert_eq(json_array_size(tok), 3);
    cr_assert_str_eq(json_string_value(json_array_get(tok, 1)), "line\nbreak");
    cr_assert_str_eq(json_string_value(json_object_get(types, "test.squares")), "array[u32]");
    cr_assert_str_eq(json_string_value(json_object_get(types, "test.blob")), "blob");
    cr_assert_str_eq(json_string_value(json_object_get(types, "test.big")), "u64");
    json_decref(j);
    tf_run_free(&r);
}

Test(inspect, human_output_escapes_control_characters) {
    char *argv[] = {fx.tool, fx.file, NULL};
    tf_run_result r = tf_run(argv, fx.dir);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_not(tf_has_raw_control(r.out, r.out_len), "raw control character in output:\n%s", r.out);
    cr_assert(strstr(r.out, "tab\\there\\nESC\\x1b[31mred\\x07 del\\x7f rlo\\u202E end"),
              "escaped string not found:\n%s", r.out);
    cr_assert(strstr(r.out, "blob application/json, 7 B"), "%s", r.out);
    cr_assert(strstr(r.out, "[0, 1, 4, 9, 16, 25, 36, 49, \xE2\x80\xA6] (10)"), "%s", r.out);
    cr_assert(strstr(r.out, "[\"<s>\", \"line\\nbreak\", \"</s>\"] (3)"), "%s", r.out);
    cr_assert(strstr(r.out, "Converter     qtf-test 1.0\n"), "%s", r.out);
    cr_assert(strstr(r.out, "Recipe        # default: int4\n              *embed*=int8\n\n"), "%s", r.out);
    cr_assert(strstr(r.out, "Tensors       6"), "%s", r.out);
    const char *line = strstr(r.out, "  layers.0.attention.wq.weight ");
    cr_assert(line, "%s", r.out);
    const char *eol = strchr(line, '\n');
    char row[256];
    snprintf(row, sizeof row, "%.*s", (int)(eol - line), line);
    cr_assert(strstr(row, " [8, 64] ") && strstr(row, " int4 ") && strstr(row, " 4.500 ") &&
              strstr(row, " 288 "), "%s", row);
    tf_run_free(&r);
}

Test(inspect, control_characters_in_tensor_names) {
    char *path = tf_path(fx.dir, "names.qtf");
    qtf_writer *w = ts_writer(path);
    uint64_t dims[1] = {8};
    tf_add(w, "evil\x1b]0;title\x07\n\xe2\x80\xaename", "f32", 1, dims, 1, QTF_DTYPE_F32);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    char *argv[] = {fx.tool, path, NULL};
    tf_run_result r = tf_run(argv, fx.dir);
    cr_assert_eq(r.code, 0);
    cr_assert_not(tf_has_raw_control(r.out, r.out_len), "%s", r.out);
    cr_assert(strstr(r.out, "evil\\x1b]0;title\\x07\\n\\u202Ename"), "%s", r.out);
    tf_run_free(&r);
    char *argv2[] = {fx.tool, path, "--json", NULL};
    r = tf_run(argv2, fx.dir);
    json_t *j = json_loadb(r.out, r.out_len, 0, NULL);
    cr_assert(j);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "tensors"), 0), "name")),
                     "evil\x1b]0;title\x07\n\xe2\x80\xaename");
    json_decref(j);
    tf_run_free(&r);
    free(path);
}

Test(inspect, filters) {
    tf_run_result r;
    char *glob[] = {"--tensor", "layers.0.*"};
    json_t *j = tf_run_json(&fx, &r, glob, 2);
    cr_assert_eq(r.code, 0);
    cr_assert_eq(json_array_size(json_object_get(j, "tensors")), 4);
    json_decref(j);
    tf_run_free(&r);

    char *meta_only[] = {"--metadata-only"};
    j = tf_run_json(&fx, &r, meta_only, 1);
    cr_assert_eq(r.code, 0);
    cr_assert_null(json_object_get(j, "tensors"));
    cr_assert_null(json_object_get(j, "summary"));
    cr_assert_not_null(json_object_get(j, "metadata"));
    json_decref(j);
    tf_run_free(&r);

    char *no_tensors[] = {"--no-tensors"};
    j = tf_run_json(&fx, &r, no_tensors, 1);
    cr_assert_eq(r.code, 0);
    cr_assert_null(json_object_get(j, "tensors"));
    cr_assert_not_null(json_object_get(j, "summary"));
    json_decref(j);
    tf_run_free(&r);

    /* a pattern matching nothing is an error the caller should see */
    char *none[] = {"--tensor", "nothing.*"};
    j = tf_run_json(&fx, &r, none, 2);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "qtf-inspect: no tensor matches"), "%s", r.err);
    json_decref(j);
    tf_run_free(&r);

    char *argv[] = {fx.tool, fx.file, "--metadata-only", NULL};
    r = tf_run(argv, fx.dir);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "test.control"));
    cr_assert_null(strstr(r.out, "Tensors"));
    tf_run_free(&r);
}

Test(inspect, detail_values_and_histogram) {
    tf_run_result r;
    char *opts[] = {"--tensor", "layers.0.attention.wq.weight", "--detail"};
    json_t *j = tf_run_json(&fx, &r, opts, 3);
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_t *d = json_object_get(json_array_get(json_object_get(j, "tensors"), 0), "detail");
    cr_assert(d);
    cr_assert(json_is_true(json_object_get(d, "checksum_ok")));
    json_t *vals = json_object_get(d, "values");
    cr_assert_eq(json_array_size(vals), 16);
    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, fx.file, NULL), QTF_OK);
    uint64_t idx;
    cr_assert_eq(qtf_tensor_find(&idx, f, "layers.0.attention.wq.weight"), QTF_OK);
    float deq[512];
    cr_assert_eq(qtf_tensor_dequantize(deq, QTF_DTYPE_F32, 512, f, idx, 1), QTF_OK);
    for (size_t i = 0; i < 16; i++)
        cr_assert_float_eq(json_number_value(json_array_get(vals, i)), (double)deq[i], 0, "value %zu", i);
    json_t *h = json_object_get(d, "histogram");
    cr_assert_str_eq(json_string_value(json_object_get(h, "kind")), "codes");
    cr_assert_eq(json_integer_value(json_object_get(h, "bits")), 4);
    json_t *counts = json_object_get(h, "counts");
    cr_assert_eq(json_array_size(counts), 16);
    json_int_t total = 0;
    for (size_t k = 0; k < 16; k++) total += json_integer_value(json_array_get(counts, k));
    cr_assert_eq(total, 512);
    json_decref(j);
    tf_run_free(&r);

    /* palettized: look-up-table usage, one count per table entry */
    char *pal[] = {"--tensor", "*.w1.weight", "--detail", "--values", "4"};
    j = tf_run_json(&fx, &r, pal, 5);
    cr_assert_eq(r.code, 0);
    d = json_object_get(json_array_get(json_object_get(j, "tensors"), 0), "detail");
    cr_assert_eq(json_array_size(json_object_get(d, "values")), 4);
    h = json_object_get(d, "histogram");
    cr_assert_str_eq(json_string_value(json_object_get(h, "kind")), "lut");
    total = 0;
    for (size_t k = 0; k < json_array_size(json_object_get(h, "counts")); k++)
        total += json_integer_value(json_array_get(json_object_get(h, "counts"), k));
    cr_assert_eq(total, 512);
    json_decref(j);
    tf_run_free(&r);

    char *argv[] = {fx.tool, fx.file, "--tensor", "layers.0.feed_forward.w2.weight", "--detail", NULL};
    tf_expect_out(argv, fx.dir, 0, "code histogram (8 bits, 256 codes", "values       first 16 of 256", NULL);
    qtf_file_close(f);
}

Test(inspect, exit_codes) {
    char *usage[] = {fx.tool, "--no-such-option", fx.file, NULL};
    tf_run_result r;
    tf_expect_err(usage, fx.dir, 2, "qtf-inspect: unknown option '--no-such-option'", "Try 'qtf-inspect --help'", NULL);

    char *nofile[] = {fx.tool, NULL};
    tf_expect_out(nofile, fx.dir, 2, NULL);

    char *detail_alone[] = {fx.tool, fx.file, "--detail", NULL};
    tf_expect_out(detail_alone, fx.dir, 2, NULL);

    char *missing_path = tf_path(fx.dir, "absent.qtf");
    char *missing[] = {fx.tool, missing_path, NULL};
    r = tf_run(missing, fx.dir);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "qtf-inspect: cannot open"), "%s", r.err);
    /* for people: the reason, not a status name (issue 11, item 16) */
    cr_assert(strstr(r.err, "No such file or directory") && !strstr(r.err, "QTF_E_"), "%s", r.err);
    tf_run_free(&r);

    /* a truncated file: the reader's reason reaches the user */
    char *trunc_path = tf_path(fx.dir, "trunc.qtf");
    size_t len;
    char *bytes = tf_slurp(fx.file, &len);
    tu_write(trunc_path, bytes, len - 3);
    char *trunc[] = {fx.tool, trunc_path, NULL};
    r = tf_run(trunc, fx.dir);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "qtf-inspect: cannot open"), "%s", r.err);
    cr_assert_eq(r.out_len, 0, "nothing on stdout for a bad file");
    tf_run_free(&r);

    char *help[] = {fx.tool, "--help", NULL};
    r = tf_run(help, fx.dir);
    cr_assert_eq(r.code, 0);
    const char *opts[] = {"--tensor", "--detail", "--values", "--metadata-only", "--no-tensors",
                          "--no-metadata", "--width", "--threads", "--json", "--help", "--version",
                          "Exit status", "Examples"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        cr_assert(strstr(r.out, opts[i]), "--help does not mention %s", opts[i]);
    tf_run_free(&r);

    char *version[] = {fx.tool, "--version", NULL};
    r = tf_run(version, fx.dir);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, QTF_VERSION_STRING));
    tf_run_free(&r);
    free(bytes);
    free(trunc_path);
    free(missing_path);
}

/* --detail statistics on values far from zero with a small spread: 2^24 +
 * {0, 2, 4, 6} (exact in f32) has mean 2^24 + 3 and standard deviation
 * sqrt(5); E[x^2] - mean^2 in doubles would lose it to cancellation. */
Test(inspect, detail_statistics_far_from_zero) {
    char *path = tf_path(fx.dir, "offset.qtf");
    enum { N = 4096 };
    float *x = malloc(N * sizeof *x);
    cr_assert(x);
    for (unsigned i = 0; i < N; i++) x[i] = 16777216.0f + (float)(2 * (i % 4));
    qtf_encoding e = ts_parse("f32");
    uint64_t dims[1] = {N};
    ts_write_quantized(path, "norm.weight", &e, x, 1, dims, QTF_DTYPE_NONE, 0);
    free(x);

    char *argv[] = {fx.tool, path, "--json", "--tensor", "norm.weight", "--detail", NULL};
    tf_run_result r = tf_run(argv, fx.dir);
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_t *j = json_loadb(r.out, r.out_len, 0, NULL);
    cr_assert(j, "%s", r.out);
    json_t *st = json_object_get(json_object_get(json_array_get(json_object_get(j, "tensors"), 0), "detail"),
                                 "statistics");
    cr_assert(st, "%s", r.out);
    cr_assert_float_eq(json_number_value(json_object_get(st, "mean")), 16777219.0, 1e-6);
    cr_assert_float_eq(json_number_value(json_object_get(st, "std")), sqrt(5.0), 1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(st, "min")), 16777216.0, 0);
    cr_assert_float_eq(json_number_value(json_object_get(st, "max")), 16777222.0, 0);
    json_decref(j);
    tf_run_free(&r);
    free(path);
}

/* getopt_long reports these three ways; each message must name the option as
 * the user typed it (a value given to a flag once printed "unknown option '-'"
 * followed by a raw control byte). */
Test(inspect, option_error_messages) {
    static const struct {
        const char *arg, *expected;
    } cases[] = {
        {"--json=1", "qtf-inspect: option '--json' takes no value (found '--json=1')"},
        {"--detail=yes", "qtf-inspect: option '--detail' takes no value"},
        {"--no", "qtf-inspect: ambiguous option '--no': give more of its name"},
        {"--bogus=3", "qtf-inspect: unknown option '--bogus=3'"},
        {"-z", "qtf-inspect: unknown option '-z'"},
        {"-dz", "qtf-inspect: unknown option '-z'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *argv[] = {fx.tool, fx.file, (char *)cases[i].arg, NULL};
        tf_run_result r = tf_run(argv, fx.dir);
        cr_assert_eq(r.code, 2, "%s: exit %d", cases[i].arg, r.code);
        cr_assert(strstr(r.err, cases[i].expected), "%s: stderr was: %s", cases[i].arg, r.err);
        cr_assert_eq(r.out_len, 0);
        for (const char *p = r.err; *p; p++)
            cr_assert(*p == '\n' || (unsigned char)*p >= 0x20, "control byte in: %s", r.err);
        tf_run_free(&r);
    }
    char *missing_value[] = {fx.tool, fx.file, "--tensor", NULL};
    tf_expect_err(missing_value, fx.dir, 2, "qtf-inspect: option '--tensor' needs a value", NULL);
    char *two_files[] = {fx.tool, fx.file, fx.file, NULL};
    tf_expect_err(two_files, fx.dir, 2, "one file at a time", NULL);
}

/* --- display helpers ------------------------------------------------------------------ */

static char *esc(const char *s, size_t len, size_t cols, unsigned flags) {
    cli_buf b;
    cli_buf_init(&b);
    cli_escape(&b, s, len, cols, flags);
    return cli_buf_take(&b);
}

Test(inspect_util, escape) {
    char *e = esc("a\nb\t\x01\\", 6, 0, 0);
    cr_assert_str_eq(e, "a\\nb\\t\\x01\\\\");
    free(e);
    /* invalid UTF-8: lone continuation, overlong, surrogate, truncated */
    e = esc("\x80 \xc0\xaf \xed\xa0\x80 \xe2\x82", 11, 0, 0);
    cr_assert_str_eq(e, "\\x80 \\xc0\\xaf \\xed\\xa0\\x80 \\xe2\\x82");
    free(e);
    /* valid multi-byte text passes; C1 control and bidi override do not */
    e = esc("caf\xc3\xa9 \xc2\x9b \xe2\x80\xae", 12, 0, 0);
    cr_assert_str_eq(e, "caf\xc3\xa9 \\u009B \\u202E");
    free(e);
    /* text libqtf already escaped keeps its backslashes, controls still go */
    e = esc("name 'a\\x01'\x1b", 13, 0, CLI_ESC_KEEP_BACKSLASH);
    cr_assert_str_eq(e, "name 'a\\x01'\\x1b");
    free(e);
    e = esc("say \"hi\"", 8, 0, CLI_ESC_QUOTE);
    cr_assert_str_eq(e, "say \\\"hi\\\"");
    free(e);
    /* shortening counts characters and never cuts an escape in half */
    e = esc("abcdefghij", 10, 10, 0);
    cr_assert_str_eq(e, "abcdefghij");
    free(e);
    e = esc("abcdefghijk", 11, 10, 0);
    cr_assert_str_eq(e, "abcdefghi\xE2\x80\xA6");
    free(e);
    e = esc("abcdefg\nhij", 11, 9, 0);
    cr_assert_str_eq(e, "abcdefg\xE2\x80\xA6");
    free(e);
    cr_assert_eq(cli_display_width("caf\xc3\xa9\xE2\x80\xA6"), 5);
}

Test(inspect_util, numbers_and_json) {
    char buf[64];
    cr_assert_str_eq(cli_human_bytes(buf, sizeof buf, 512), "512 B");
    cr_assert_str_eq(cli_human_bytes(buf, sizeof buf, 1536), "1.50 KiB");
    cr_assert_str_eq(cli_human_bytes(buf, sizeof buf, 3ull << 30), "3.00 GiB");
    cr_assert_str_eq(cli_human_count(buf, sizeof buf, 1100000000ull), "1.10 G");
    cr_assert_str_eq(cli_human_count(buf, sizeof buf, 999), "999");
    cr_assert_str_eq(cli_human_bytes(buf, sizeof buf, 1023), "1023 B");
    cr_assert_str_eq(cli_human_bytes(buf, sizeof buf, 1024), "1.00 KiB");
    /* rounding never shows a unit's worth of the smaller unit */
    cr_assert_str_eq(cli_human_bytes(buf, sizeof buf, (1ull << 20) - 100), "1.00 MiB");
    cr_assert_str_eq(cli_human_count(buf, sizeof buf, 999999), "1.00 M");
    cr_assert_str_eq(cli_human_count(buf, sizeof buf, 9999), "10.0 k");
    cr_assert_str_eq(cli_human_count(buf, sizeof buf, 99990), "100 k");
    cr_assert_str_eq(cli_human_bytes(buf, sizeof buf, UINT64_MAX), "16.0 EiB");
    cr_assert_str_eq(cli_format_double(buf, sizeof buf, 0.1), "0.1");
    cr_assert_str_eq(cli_format_double(buf, sizeof buf, 1.0 / 3.0), "0.3333333333333333");
    cr_assert_str_eq(cli_format_double(buf, sizeof buf, 10000.0), "10000");
    cr_assert_str_eq(cli_format_double(buf, sizeof buf, 1e-5), "1e-05");
    cr_assert_str_eq(cli_format_double(buf, sizeof buf, 1e300), "1e+300");
    json_t *j = cli_json_u64(1ull << 53);
    cr_assert(json_is_integer(j));
    json_decref(j);
    j = cli_json_u64((1ull << 53) + 1);
    cr_assert_str_eq(json_string_value(j), "9007199254740993");
    json_decref(j);
    j = cli_json_i64(INT64_MIN);
    cr_assert_str_eq(json_string_value(j), "-9223372036854775808");
    json_decref(j);
    j = cli_json_real(INFINITY);
    cr_assert_str_eq(json_string_value(j), "inf");
    json_decref(j);
    j = cli_json_real(NAN);
    cr_assert_str_eq(json_string_value(j), "nan");
    json_decref(j);
    j = cli_json_string("a\xff" "b", 3);
    cr_assert_str_eq(json_string_value(j), "a\xEF\xBF\xBD" "b");
    json_decref(j);
    uint64_t v;
    cr_assert(cli_parse_u64(&v, "4096", 4096));
    cr_assert_not(cli_parse_u64(&v, "4097", 4096));
    cr_assert_not(cli_parse_u64(&v, "-1", 4096));
    cr_assert_not(cli_parse_u64(&v, "99999999999999999999", UINT64_MAX));
    double d;
    cr_assert(cli_parse_double(&d, "1e-3"));
    cr_assert_float_eq(d, 1e-3, 0);
    cr_assert_not(cli_parse_double(&d, "0.1x"));
    cr_assert_not(cli_parse_double(&d, "nan"));
    cr_assert(cli_glob_match("layers.*.weight", "layers.0.attn.weight"));
    cr_assert_not(cli_glob_match("layers.?.weight", "layers.10.weight"));
}

/* Without --detail only the header, metadata and directory are read: a
 * corrupted tensor goes unnoticed (that is qtf-verify's job); --detail
 * checks the tensor's checksums and says so (exit 1). */
Test(inspect, reads_data_only_for_detail) {
    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, fx.file, NULL), QTF_OK);
    uint64_t idx;
    cr_assert_eq(qtf_tensor_find(&idx, f, "norm.weight"), QTF_OK);
    uint64_t off = qtf_tensor_get(f, idx)->parts[0].offset + 5;
    qtf_file_close(f);
    tu_set_byte(fx.file, off, tu_byte_at(fx.file, off) ^ 0x10);
    tf_run_result r;
    json_t *j = tf_run_json(&fx, &r, NULL, 0);
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_decref(j);
    tf_run_free(&r);
    char *opts[] = {"--tensor", "norm.weight", "--detail"};
    j = tf_run_json(&fx, &r, opts, 3);
    cr_assert_eq(r.code, 1);
    json_t *d = json_object_get(json_array_get(json_object_get(j, "tensors"), 0), "detail");
    cr_assert(json_is_false(json_object_get(d, "checksum_ok")));
    cr_assert_str_eq(json_string_value(json_object_get(d, "checksum_status")), "QTF_E_CHECKSUM");
    json_decref(j);
    tf_run_free(&r);
    char *argv[] = {fx.tool, fx.file, "--tensor", "norm.weight", "--detail", NULL};
    tf_expect_out(argv, fx.dir, 1, "(MISMATCH)", NULL);
}
