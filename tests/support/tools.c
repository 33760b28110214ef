/* tests/support/tools.c — sample .qtf files and tool runs (tools.h). */
#include "support/tools.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/container.h"

const tf_tensor tf_sample[TF_SAMPLE_COUNT] = {
    {"tok_embeddings.weight", "f16", 2, {16, 32}},
    {"layers.0.attention.wq.weight", "int4:group=32", 2, {8, 64}},
    {"layers.0.feed_forward.w1.weight", "pal4", 2, {8, 64}},
    {"layers.0.feed_forward.w2.weight", "q8_0", 2, {4, 64}},
    {"layers.0.attention.wk.weight", "int8:zstd", 2, {8, 64}},
    {"norm.weight", "f32", 1, {32, 0}},
};

const tf_tensor tf_small_sample[TF_SAMPLE_COUNT] = {
    {"f16", "f16", 2, {2, 16}},
    {"i4", "int4:group=32", 2, {1, 32}},
    {"p2", "pal2", 2, {1, 32}},
    {"q8", "q8_0", 2, {1, 32}},
    {"z8", "int8:zstd", 2, {1, 32}},
    {"f32", "f32", 1, {4, 0}},
};

const char tf_control_string[] = "tab\there\nESC\x1b[31mred\x07 del\x7f rlo\xe2\x80\xae end";

uint64_t tf_elements(const tf_tensor *t) {
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) n *= t->dims[d];
    return n;
}

float *tf_values(unsigned seed, uint64_t n) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert(x);
    for (uint64_t i = 0; i < n; i++)
        x[i] = 0.5f * sinf(0.37f * (float)i + 1.3f * (float)seed) + 0.01f * (float)(i % 7);
    return x;
}

void tf_add(qtf_writer *w, const char *name, const char *encoding, uint32_t n_dims,
            const uint64_t *dims, unsigned seed, qtf_dtype source_type) {
    qtf_encoding e = ts_parse(encoding);
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) n *= dims[d];
    float *x = tf_values(seed, n);
    cr_assert_eq(ts_add_quantized(w, name, &e, x, n_dims, dims, source_type, (int)e.zstd_level),
                 QTF_OK, "add %s: %s", name, qtf_error_detail());
    free(x);
}

void tf_add_sample(qtf_writer *w, const tf_tensor *t, size_t n, qtf_dtype source_type) {
    for (unsigned k = 0; k < n; k++)
        tf_add(w, t[k].name, t[k].encoding, t[k].n_dims, t[k].dims, k, source_type);
}

void tf_make_sample(const char *path) {
    qtf_writer *w = NULL;
    cr_assert_eq(qtf_writer_create(&w, path, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "qtf.converter", "qtf-test 1.0", 12), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "qtf.recipe", TF_RECIPE, sizeof TF_RECIPE - 1), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "test.control", tf_control_string, sizeof tf_control_string - 1),
                 QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_blob(w, "test.blob", "application/json", "{\"a\":1}", 7), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_set_u64(w, "test.big", (1ull << 60) + 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_f64(w, "test.pi", 3.25), QTF_OK);
    cr_assert_eq(qtf_writer_set_bool(w, "test.flag", 1), QTF_OK);
    uint32_t arr[10];
    for (unsigned i = 0; i < 10; i++) arr[i] = i * i;
    cr_assert_eq(qtf_writer_set_value(w, "test.squares", QTF_TYPE_ARRAY, QTF_TYPE_U32, arr, 10), QTF_OK,
                 "%s", qtf_error_detail());
    const char *strs[3] = {"<s>", "line\nbreak", "</s>"};
    uint64_t lens[3] = {3, 10, 4};
    cr_assert_eq(qtf_writer_set_string_array(w, "test.tokens", strs, lens, 3), QTF_OK, "%s",
                 qtf_error_detail());
    tf_add_sample(w, tf_sample, TF_SAMPLE_COUNT, QTF_DTYPE_BF16);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
}

int tf_has_raw_control(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n') || c == 0x7F) return 1;
        /* C1 controls / bidi overrides would appear as these UTF-8 sequences */
        if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F)
            return 1;
        if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
            (unsigned char)s[i + 2] >= 0xAA && (unsigned char)s[i + 2] <= 0xAE)
            return 1;
    }
    return 0;
}

tf_fixture tf_fixture_setup(const char *tool) {
    tf_fixture fx;
    fx.dir = tf_tmpdir();
    fx.file = tf_path(fx.dir, "sample.qtf");
    fx.tool = tf_tool(tool);
    tf_make_sample(fx.file);
    return fx;
}

void tf_fixture_teardown(tf_fixture *fx) {
    tf_rm_rf(fx->dir);
    free(fx->dir);
    free(fx->file);
    free(fx->tool);
}

json_t *tf_run_json(const tf_fixture *fx, tf_run_result *r, char *const *extra, int n_extra) {
    char *argv[24] = {fx->tool, fx->file, "--json"};
    cr_assert(n_extra >= 0 && n_extra <= 20, "too many arguments (%d)", n_extra);
    int argc = 3;
    for (int i = 0; i < n_extra; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;
    *r = tf_run(argv, fx->dir);
    cr_assert(r->exited, "%s did not exit normally (signal %d)", fx->tool, r->sig);
    json_error_t err;
    json_t *j = json_loadb(r->out, r->out_len, 0, &err);
    cr_assert(j, "output is not JSON (%s): %.300s / stderr %.500s", err.text, r->out, r->err);
    return j;
}

json_t *tf_tensor_json(json_t *root, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(root, "tensors"), i, t) {
        if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0) return t;
    }
    cr_assert_fail("no tensor '%s' in the JSON", name);
    return NULL;
}

int tf_json_has(const json_t *arr, const char *s) {
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return 1;
    }
    return 0;
}
