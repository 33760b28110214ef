/* qtf-verify on GGUF files (inspect/gguf_verify.c), run as a program:
 * - `--against synth-llama-hf` on llama.cpp's synth/model-Q4_K_M.gguf
 *   reports, per tensor, exactly the error computed here from ggml's own
 *   dequantization (model-Q4_K_M.ref.safetensors) with the names mapped
 *   back and the Q/K rows un-permuted;
 * - --hash-manifest with llama-gguf-hash output (sha256) and an xxh64
 *   manifest made here: matching data passes, a changed digest or damaged
 *   data fails naming the tensor; no checksums is said, never claimed ok. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "checkpoint/arch.h"
#include "checkpoint/gguf.h"
#include "checkpoint/source.h"
#include "gguf_test_util.h"

TestSuite(verify_gguf);


static double jnum(const json_t *v) {
    if (json_is_number(v)) return json_number_value(v);
    if (json_is_string(v) && strcmp(json_string_value(v), "inf") == 0) return INFINITY;
    cr_assert_fail("not a number");
    return 0;
}

Test(verify_gguf, against_checkpoint_equals_error_from_ref_file) {
    GT_NEED(gguf, "gguf/synth/model-Q4_K_M.gguf");
    GT_NEED(ref_path, "gguf/synth/model-Q4_K_M.ref.safetensors");
    GT_NEED(ckpt, "gguf/synth-llama-hf");
    char args[12288], *out;
    snprintf(args, sizeof args, "'%s' --against '%s' --json", gguf, ckpt);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 0, "%s", out);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert(root, "%s: %s", je.text, out);
    cr_assert_str_eq(json_string_value(json_object_get(root, "format")), "gguf");
    json_t *tensors = json_object_get(root, "tensors");
    cr_assert_eq(json_array_size(tensors), 11);

    /* the oracle: ggml's dequantized values, put back in HF layout here */
    qtf_source *ref, *src;
    cr_assert_eq(qtf_source_open(&ref, ref_path), QTF_OK);
    cr_assert_eq(qtf_source_open(&src, ckpt), QTF_OK);
    const qtf_arch *a = qtf_arch_by_gguf_name("llama");
    size_t k;
    json_t *t;
    int permuted = 0;
    json_array_foreach(tensors, k, t) {
        const char *hf = json_string_value(json_object_get(t, "name"));
        char gname[256];
        const qtf_arch_tensor *e;
        cr_assert_eq(qtf_arch_hf_to_gguf(gname, sizeof gname, &e, NULL, a, hf), QTF_OK, "%s", hf);
        uint64_t ri, si;
        cr_assert_eq(qtf_source_tensor_find(&ri, ref, gname), QTF_OK, "%s", gname);
        cr_assert_eq(qtf_source_tensor_find(&si, src, hf), QTF_OK);
        const qtf_source_tensor *st = qtf_source_tensor_get(src, si);
        uint64_t n = st->n_elements;
        float *w = malloc(n * 4), *r = malloc(n * 4), *rh = malloc(n * 4);
        cr_assert_eq(qtf_source_read_f32(w, n, src, si, 1), QTF_OK);
        cr_assert_eq(qtf_source_read_f32(r, n, ref, ri, 1), QTF_OK);
        uint32_t heads = qtf_arch_permute_heads(e, 4, 2); /* synth: 4 heads, 2 KV heads */
        if (heads) {
            cr_assert_eq(qtf_arch_permute_rows(rh, r, st->dims[0], st->dims[1] * 4, heads, 1), QTF_OK);
            permuted++;
        } else {
            memcpy(rh, r, n * 4);
        }
        qtf_metrics m;
        cr_assert_eq(qtf_metrics_compute(&m, w, rh, n, NULL, 0), QTF_OK);
        cr_assert_eq(jnum(json_object_get(t, "rel_rmse")), m.rel_rmse, "%s", hf);
        cr_assert_eq(jnum(json_object_get(t, "max_abs_err")), m.max_abs_err, "%s", hf);
        cr_assert_eq(jnum(json_object_get(t, "cosine")), m.cosine, "%s", hf);
        cr_assert_eq(jnum(json_object_get(t, "mse")), m.mse, "%s", hf);
        cr_assert_eq(jnum(json_object_get(t, "snr_db")), m.snr_db, "%s", hf);
        /* Q4_K keeps ~9% relative error; un-permuted Q/K rows would be ~140% */
        if (json_string_value(json_object_get(t, "encoding"))[0] == 'Q')
            cr_assert_lt(m.rel_rmse, 0.1, "%s", hf);
        cr_assert(json_is_null(json_object_get(t, "checksum_ok")), "no checksums in a GGUF");
        free(w);
        free(r);
        free(rh);
    }
    cr_assert_eq(permuted, 2);
    json_t *cs = json_object_get(json_object_get(root, "checks"), "checksums");
    cr_assert(json_is_false(json_object_get(cs, "available")));
    json_decref(root);
    qtf_source_close(ref);
    qtf_source_close(src);
    free(out);
}

Test(verify_gguf, text_says_there_are_no_checksums) {
    GT_NEED(gguf, "gguf/aidreams-260k/model-Q8_0.gguf");
    char args[8192], *out;
    snprintf(args, sizeof args, "'%s'", gguf);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 0, "%s", out);
    cr_assert(strstr(out, "checksums   none: GGUF stores no checksums"), "%s", out);
    cr_assert(strstr(out, "decode      ok: 38 of 38 tensors dequantized"), "%s", out);
    free(out);
}

static void copy_file(const char *from, const char *to, long flip_at) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b);
    int c;
    long i = 0;
    while ((c = fgetc(a)) != EOF) fputc(i++ == flip_at ? c ^ 0x40 : c, b);
    fclose(a);
    fclose(b);
}

Test(verify_gguf, sha256_manifest_of_llama_gguf_hash) {
    GT_NEED(gguf, "gguf/synth/model-Q4_K_M.gguf");
    GT_NEED(manifest, "gguf/gguf-hash-sha256.txt");
    char args[12288], *out;
    snprintf(args, sizeof args, "'%s' --hash-manifest '%s'", gguf, manifest);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 0, "%s", out);
    cr_assert(strstr(out, "checksums   ok: 11 of 11 tensors match sha256"), "%s", out);
    free(out);
    /* the same data under another folder: the "## synth/..." section does not apply */
    char copy[256];
    snprintf(copy, sizeof copy, "%s/model-Q4_K_M.gguf", gt_tmp());
    copy_file(gguf, copy, -1);
    snprintf(args, sizeof args, "'%s' --hash-manifest '%s'", copy, manifest);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 2, "%s", out);
    cr_assert(strstr(out, "has no sha256 or xxh64 line for 'model-Q4_K_M.gguf'"), "%s", out);
    free(out);
    /* damaged data: one byte of blk.0.attn_q.weight flipped */
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, gguf, 0), QTF_OK);
    uint64_t qi;
    cr_assert_eq(qtf_gguf_tensor_find(&qi, g, "blk.0.attn_q.weight"), QTF_OK);
    long at = (long)(qtf_gguf_get_info(g)->data_offset + qtf_gguf_tensor_get(g, qi)->offset + 100);
    qtf_gguf_close(g);
    char dir[256], bad[300], man[300];
    snprintf(dir, sizeof dir, "%s/synth", gt_tmp());
    mkdir(dir, 0700);
    snprintf(bad, sizeof bad, "%s/model-Q4_K_M.gguf", dir);
    copy_file(gguf, bad, at);
    snprintf(man, sizeof man, "%s/manifest.txt", gt_tmp());
    copy_file(manifest, man, -1);
    snprintf(args, sizeof args, "'%s' --hash-manifest '%s'", bad, man);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 1, "%s", out);
    cr_assert(strstr(out, "blk.0.attn_q.weight: checksum failed"), "%s", out);
    cr_assert(strstr(out, "model sha256 (all tensor data) is"), "%s", out);
    cr_assert(strstr(out, "10 of 11 tensors match"), "%s", out);
    free(out);
}

Test(verify_gguf, xxh64_manifest_and_missing_lines) {
    GT_NEED(gguf, "gguf/aidreams-260k/model-Q4_0.gguf");
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, gguf, 0), QTF_OK);
    char man[256];
    snprintf(man, sizeof man, "%s/xxh.txt", gt_tmp());
    FILE *f = fopen(man, "w");
    XXH64_state_t *all = XXH64_createState();
    XXH64_reset(all, 0);
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
        const void *p;
        uint64_t n;
        cr_assert_eq(qtf_gguf_tensor_data(&p, &n, g, i), QTF_OK);
        XXH64_update(all, p, n);
        /* leave out one tensor */
        if (strcmp(qtf_gguf_tensor_get(g, i)->name, "output_norm.weight") == 0) continue;
        fprintf(f, "xxh64     %016llx  model-Q4_0.gguf:%s\n", (unsigned long long)XXH64(p, n, 0),
                qtf_gguf_tensor_get(g, i)->name);
    }
    fprintf(f, "xxh64     %016llx  model-Q4_0.gguf\n", (unsigned long long)XXH64_digest(all));
    fprintf(f, "sha1      0000000000000000000000000000000000000000  model-Q4_0.gguf\n");
    fclose(f);
    XXH64_freeState(all);
    qtf_gguf_close(g);
    char args[8192], *out;
    snprintf(args, sizeof args, "'%s' --hash-manifest '%s' --json", gguf, man);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 1, "%s", out);
    json_t *root = json_loads(out, 0, NULL);
    cr_assert(root, "%s", out);
    json_t *cs = json_object_get(json_object_get(root, "checks"), "checksums");
    cr_assert_str_eq(json_string_value(json_object_get(cs, "algorithms")), "xxh64");
    cr_assert_eq(json_integer_value(json_object_get(cs, "failed")), 1);
    json_t *fails = json_object_get(root, "failures");
    cr_assert_eq(json_array_size(fails), 1, "%s", out);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(fails, 0), "tensor")),
                     "output_norm.weight");
    json_decref(root);
    free(out);
}

Test(verify_gguf, malformed_file_is_a_usage_error) {
    GT_NEED(gguf, "gguf/aidreams-260k/model-Q4_0.gguf");
    char bad[256], args[8192], *out;
    snprintf(bad, sizeof bad, "%s/cut.gguf", gt_tmp());
    FILE *a = fopen(gguf, "rb"), *b = fopen(bad, "wb");
    char buf[5000];
    cr_assert_eq(fread(buf, 1, sizeof buf, a), sizeof buf);
    fwrite(buf, 1, sizeof buf, b);
    fclose(a);
    fclose(b);
    snprintf(args, sizeof args, "'%s'", bad);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 2, "%s", out);
    cr_assert(strstr(out, "the file ends at offset"), "%s", out);
    free(out);
    /* --hash-manifest is for GGUF files */
    snprintf(args, sizeof args, "/dev/null --hash-manifest /dev/null");
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 2, "%s", out);
    free(out);
}

/* The wrong checkpoint: every tensor reported, by the checkpoint's name. */
Test(verify_gguf, wrong_checkpoint_reports_shapes_and_extras) {
    GT_NEED(gguf, "gguf/aidreams-260k/model-Q8_0.gguf");
    GT_NEED(ckpt, "gguf/synth-llama-hf");
    char args[12288], *out;
    snprintf(args, sizeof args, "'%s' --against '%s' -q", gguf, ckpt);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 1, "%s", out);
    cr_assert(strstr(out, "0 compared, 0 missing, 27 extra, 11 shape mismatches"), "%s", out);
    cr_assert(strstr(out, "model.layers.0.self_attn.q_proj.weight: shape [64, 64], source has "
                          "[256, 256]"), "%s", out);
    cr_assert(strstr(out, "blk.3.ffn_up.weight: extra tensor"), "%s", out);
    free(out);
}
