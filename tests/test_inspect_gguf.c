/* qtf-inspect on GGUF files (inspect/gguf_inspect.c), run as a program:
 * every fixture of ../shared/gguf is shown (text and JSON); the JSON lists
 * exactly the tensors, ggml types and shapes the reader finds, with
 * "format": "gguf" and null checksums; --detail values are ggml's own
 * dequantized values (.ref.safetensors); hostile text is escaped. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/gguf.h"
#include "checkpoint/source.h"
#include <stdint.h>
#include "support/gguf.h"
#include "support/files.h"

TestSuite(inspect_gguf);


static void check_file(const char *folder, const char *name, void *ctx) {
    (void)ctx;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    char args[9000], *out;
    snprintf(args, sizeof args, "'%s'", path);
    cr_assert_eq(gt_run(&out, "inspect/qtf-inspect", args), 0, "%s: %s", path, out);
    cr_assert(strstr(out, "Format        GGUF v3, alignment 32, no checksums"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "'%s' --json", path);
    cr_assert_eq(gt_run(&out, "inspect/qtf-inspect", args), 0, "%s", out);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert(j, "%s: not JSON", path);
    cr_assert_str_eq(json_string_value(json_object_get(j, "format")), "gguf");
    cr_assert_str_eq(json_string_value(json_object_get(j, "checksum_algorithm")), "none");
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, path, QTF_GGUF_OPEN_METADATA_ONLY), QTF_OK);
    json_t *ts = json_object_get(j, "tensors");
    cr_assert_eq(json_array_size(ts), qtf_gguf_tensor_count(g));
    cr_assert_eq(json_object_size(json_object_get(j, "metadata")), qtf_gguf_kv_count(g));
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        json_t *tj = json_array_get(ts, i);
        cr_assert_str_eq(json_string_value(json_object_get(tj, "name")), t->name);
        char enc[32];
        snprintf(enc, sizeof enc, "%s", qtf_ggml_type_name(t->type));
        for (char *c = enc; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        cr_assert_str_eq(json_string_value(json_object_get(tj, "encoding")), enc);
        json_t *shape = json_object_get(tj, "shape");
        cr_assert_eq(json_array_size(shape), t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            cr_assert_eq((uint64_t)json_integer_value(json_array_get(shape, d)), t->ne[t->n_dims - 1 - d]);
        cr_assert_eq((uint64_t)json_integer_value(json_object_get(tj, "stored_bytes")), t->nbytes);
        cr_assert(json_is_null(json_object_get(tj, "checksum")));
    }
    qtf_gguf_close(g);
    json_decref(j);
    free(out);
}

Test(inspect_gguf, every_fixture_text_and_json) {
    int n = gt_each_fixture(".gguf", check_file, NULL);
    cr_assert_eq(n, 35);
}

Test(inspect_gguf, detail_values_are_ggml_values) {
    TS_NEED(r, "gguf");
    char path[4200], ref_path[4200], args[9000], *out;
    snprintf(path, sizeof path, "%s/synth/model-Q6_K.gguf", r);
    snprintf(ref_path, sizeof ref_path, "%s/synth/model-Q6_K.ref.safetensors", r);
    snprintf(args, sizeof args, "'%s' --json -t blk.0.ffn_down.weight --detail -n 40", path);
    cr_assert_eq(gt_run(&out, "inspect/qtf-inspect", args), 0, "%s", out);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert(j, "%s", out);
    json_t *t = json_array_get(json_object_get(j, "tensors"), 0);
    json_t *vals = json_object_get(json_object_get(t, "detail"), "values");
    cr_assert_eq(json_array_size(vals), 40);
    qtf_source *ref;
    cr_assert_eq(qtf_source_open(&ref, ref_path), QTF_OK);
    uint64_t ri;
    cr_assert_eq(qtf_source_tensor_find(&ri, ref, "blk.0.ffn_down.weight"), QTF_OK);
    const qtf_source_tensor *rt = qtf_source_tensor_get(ref, ri);
    float *v = malloc(rt->n_elements * 4);
    cr_assert_eq(qtf_source_read_f32(v, rt->n_elements, ref, ri, 1), QTF_OK);
    for (size_t k = 0; k < 40; k++)
        cr_assert_eq((float)json_number_value(json_array_get(vals, k)), v[k], "value %zu", k);
    free(v);
    qtf_source_close(ref);
    json_decref(j);
    free(out);
    /* no match: exit 1 */
    snprintf(args, sizeof args, "'%s' -t 'nothing*'", path);
    gt_expect("inspect/qtf-inspect", args, 1, NULL);
}

static void kv_hostile(gb *b) {
    gb_key(b, "general.name", GB_STRING);
    gb_str(b, "evil\x1b[31mred\x07");
}

Test(inspect_gguf, hostile_text_escaped_and_malformed_refused) {
    gb_spec s = gb_default();
    s.extra_kv = kv_hostile;
    s.n_extra_kv = 1;
    gb b;
    gb_build(&b, &s);
    char path[128], args[512], *out;
    snprintf(path, sizeof path, "%s/evil.bin", gt_tmp()); /* content decides, not the name */
    tu_write(path, b.p, b.len);
    snprintf(args, sizeof args, "'%s'", path);
    cr_assert_eq(gt_run(&out, "inspect/qtf-inspect", args), 0, "%s", out);
    cr_assert_null(strchr(out, 0x1b), "raw escape reached the output");
    cr_assert(strstr(out, "evil\\x1B[31mred\\x07") || strstr(out, "evil\\x1b[31mred\\x07"), "%s", out);
    free(out);
    tu_write(path, b.p, b.len - 50);
    gt_expect("inspect/qtf-inspect", args, 2, "but it ends at", NULL);
    free(b.p);
}
