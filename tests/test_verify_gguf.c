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
#include "checkpoint/imatrix.h"
#include "checkpoint/source.h"
#include <stdint.h>
#include "support/tools.h"
#include "support/gguf.h"
#include <dirent.h>
#include "support/files.h"

TestSuite(verify_gguf);


static double jnum(const json_t *v) {
    if (json_is_number(v)) return json_number_value(v);
    if (json_is_string(v) && strcmp(json_string_value(v), "inf") == 0) return INFINITY;
    cr_assert_fail("not a number");
    return 0;
}

/* The checkpoint's weight `hf` (*w) and ggml's dequantized values of gname
 * in the .ref file put back in HF row order (*rh: Q/K rows un-permuted, the
 * synth model has 4 heads and 2 KV heads; *permuted counts those). */
static const qtf_source_tensor *weight_and_ref(float **w, float **rh, const qtf_source *src,
                                               const qtf_source *ref, const char *hf,
                                               const char *gname, const qtf_arch_tensor *e,
                                               int *permuted) {
    uint64_t ri, si;
    cr_assert_eq(qtf_source_tensor_find(&ri, ref, gname), QTF_OK, "%s", gname);
    cr_assert_eq(qtf_source_tensor_find(&si, src, hf), QTF_OK);
    const qtf_source_tensor *st = qtf_source_tensor_get(src, si);
    uint64_t n = st->n_elements;
    float *r = malloc(n * 4);
    *w = malloc(n * 4);
    *rh = malloc(n * 4);
    cr_assert(r && *w && *rh);
    cr_assert_eq(qtf_source_read_f32(*w, n, src, si, 1), QTF_OK);
    cr_assert_eq(qtf_source_read_f32(r, n, ref, ri, 1), QTF_OK);
    uint32_t heads = qtf_arch_permute_heads(e, 4, 2);
    if (heads) {
        cr_assert_eq(qtf_arch_permute_rows(*rh, r, st->dims[0], st->dims[1] * 4, heads, 1), QTF_OK);
        (*permuted)++;
    } else {
        memcpy(*rh, r, n * 4);
    }
    free(r);
    return st;
}

Test(verify_gguf, against_checkpoint_equals_error_from_ref_file) {
    TS_NEED(gguf, "gguf/synth/model-Q4_K_M.gguf");
    TS_NEED(ref_path, "gguf/synth/model-Q4_K_M.ref.safetensors");
    TS_NEED(ckpt, "gguf/synth-llama-hf");
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
        float *w, *rh;
        const qtf_source_tensor *st = weight_and_ref(&w, &rh, src, ref, hf, gname, e, &permuted);
        uint64_t n = st->n_elements;
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

/* --importance on a GGUF input: llama.cpp's own imatrix of the synth model
 * (llama.cpp names, mapped through the checkpoint's config.json); every
 * covered tensor's importance-weighted error equals qtf_metrics_compute with
 * the imatrix means as column weights on ggml's dequantized values in HF
 * layout (Q/K rows un-permuted: the vectors weight input columns). */
Test(verify_gguf, importance_weighted_error_from_imatrix) {
    TS_NEED(gguf, "gguf/synth/model-Q4_K_M.gguf");
    TS_NEED(ref_path, "gguf/synth/model-Q4_K_M.ref.safetensors");
    TS_NEED(ckpt, "gguf/synth-llama-hf");
    TS_NEED(imx, "gguf/synth/imatrix.gguf");
    char args[16384], *out;
    snprintf(args, sizeof args, "'%s' --against '%s' --importance '%s' --json", gguf, ckpt, imx);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 0, "%s", out);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert(root, "%s: %s", je.text, out);
    qtf_source *ref, *src;
    qtf_imatrix *im;
    cr_assert_eq(qtf_source_open(&ref, ref_path), QTF_OK);
    cr_assert_eq(qtf_source_open(&src, ckpt), QTF_OK);
    cr_assert_eq(qtf_imatrix_open(&im, imx), QTF_OK);
    const qtf_arch *a = qtf_arch_by_gguf_name("llama");
    size_t k;
    json_t *t;
    int with = 0, permuted = 0;
    double sum_sq = 0;
    json_array_foreach(json_object_get(root, "tensors"), k, t) {
        const char *hf = json_string_value(json_object_get(t, "name"));
        char gname[256];
        const qtf_arch_tensor *e;
        cr_assert_eq(qtf_arch_hf_to_gguf(gname, sizeof gname, &e, NULL, a, hf), QTF_OK, "%s", hf);
        const qtf_imatrix_entry *ie = NULL;
        for (uint64_t i = 0; i < qtf_imatrix_count(im); i++)
            if (strcmp(qtf_imatrix_get(im, i)->name, gname) == 0) ie = qtf_imatrix_get(im, i);
        json_t *v = json_object_get(t, "importance_rel_rmse");
        if (!ie) {
            cr_assert(json_is_null(v), "%s has no imatrix entry", hf);
            continue;
        }
        float *w, *rh;
        const qtf_source_tensor *st = weight_and_ref(&w, &rh, src, ref, hf, gname, e, &permuted);
        uint64_t n = st->n_elements;
        cr_assert_eq(ie->n, st->dims[1]);
        qtf_metrics m;
        cr_assert_eq(qtf_metrics_compute(&m, w, rh, n, ie->values, ie->n), QTF_OK);
        cr_assert_eq(jnum(v), m.rel_rmse, "%s", hf);
        sum_sq += m.rel_rmse * m.rel_rmse;
        with++;
        free(w);
        free(rh);
    }
    cr_assert_gt(with, 0);
    cr_assert_eq(permuted, 2, "the imatrix covers attn_q and attn_k");
    json_t *si = json_object_get(json_object_get(root, "summary"), "importance");
    cr_assert_eq(json_integer_value(json_object_get(si, "tensors")), with);
    cr_assert_float_eq(jnum(json_object_get(si, "error_sum")), sum_sq, 1e-12);
    json_decref(root);
    qtf_imatrix_close(im);
    qtf_source_close(ref);
    qtf_source_close(src);
    free(out);
}

Test(verify_gguf, text_says_there_are_no_checksums) {
    TS_NEED(gguf, "gguf/aidreams-260k/model-Q8_0.gguf");
    char args[8192];
    snprintf(args, sizeof args, "'%s'", gguf);
    gt_expect("inspect/qtf-verify", args, 0, "checksums   none: GGUF stores no checksums", "decode      ok: 38 of 38 tensors dequantized", NULL);
}

Test(verify_gguf, sha256_manifest_of_llama_gguf_hash) {
    TS_NEED(gguf, "gguf/synth/model-Q4_K_M.gguf");
    TS_NEED(manifest, "gguf/gguf-hash-sha256.txt");
    char args[12288];
    snprintf(args, sizeof args, "'%s' --hash-manifest '%s'", gguf, manifest);
    gt_expect("inspect/qtf-verify", args, 0, "checksums   ok: 11 of 11 tensors match sha256", NULL);
    /* the same data under another folder: the "## synth/..." section does not apply */
    char copy[256];
    snprintf(copy, sizeof copy, "%s/model-Q4_K_M.gguf", gt_tmp());
    tu_copy(gguf, copy, -1);
    snprintf(args, sizeof args, "'%s' --hash-manifest '%s'", copy, manifest);
    gt_expect("inspect/qtf-verify", args, 2, "has no sha256 or xxh64 line for 'model-Q4_K_M.gguf'", NULL);
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
    tu_copy(gguf, bad, at);
    snprintf(man, sizeof man, "%s/manifest.txt", gt_tmp());
    tu_copy(manifest, man, -1);
    snprintf(args, sizeof args, "'%s' --hash-manifest '%s'", bad, man);
    gt_expect("inspect/qtf-verify", args, 1, "blk.0.attn_q.weight: checksum failed", "model sha256 (all tensor data) is", "10 of 11 tensors match", NULL);
}

Test(verify_gguf, xxh64_manifest_and_missing_lines) {
    TS_NEED(gguf, "gguf/aidreams-260k/model-Q4_0.gguf");
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
    TS_NEED(gguf, "gguf/aidreams-260k/model-Q4_0.gguf");
    char bad[256], args[8192];
    snprintf(bad, sizeof bad, "%s/cut.gguf", gt_tmp());
    FILE *a = fopen(gguf, "rb"), *b = fopen(bad, "wb");
    char buf[5000];
    cr_assert_eq(fread(buf, 1, sizeof buf, a), sizeof buf);
    fwrite(buf, 1, sizeof buf, b);
    fclose(a);
    fclose(b);
    snprintf(args, sizeof args, "'%s'", bad);
    gt_expect("inspect/qtf-verify", args, 2, "the file ends at offset", NULL);
    /* --hash-manifest is for GGUF files */
    snprintf(args, sizeof args, "/dev/null --hash-manifest /dev/null");
    gt_expect("inspect/qtf-verify", args, 2, NULL);
}

/* The wrong checkpoint: every tensor reported, by the checkpoint's name. */
Test(verify_gguf, wrong_checkpoint_reports_shapes_and_extras) {
    TS_NEED(gguf, "gguf/aidreams-260k/model-Q8_0.gguf");
    TS_NEED(ckpt, "gguf/synth-llama-hf");
    char args[12288], *out;
    snprintf(args, sizeof args, "'%s' --against '%s' -q", gguf, ckpt);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 1, "%s", out);
    cr_assert(strstr(out, "0 compared, 0 missing, 27 extra, 11 shape mismatches"), "%s", out);
    cr_assert(strstr(out, "model.layers.0.self_attn.q_proj.weight: shape [64, 64], source has "
                          "[256, 256]"), "%s", out);
    cr_assert(strstr(out, "blk.3.ffn_up.weight: extra tensor"), "%s", out);
    free(out);
}

/* Issue 11 item 11 on a GGUF file: a tensor decoding to NaN/Inf fails, with
 * the same "nonfinite" JSON field and failure name as for a QTF file. */
static void write_gguf(const char *path, const gb_spec *s) {
    gb b;
    gb_build(&b, s);
    tu_write(path, b.p, b.len);
    free(b.p);
}

Test(verify_gguf, nan_q8_0_scale_fails_naming_the_tensor) {
    float a[16];
    for (int i = 0; i < 16; i++) a[i] = 0.25f * (float)(i - 8);
    unsigned char q[34];
    q[0] = 0x00; /* f16 0x7e00: a quiet NaN scale */
    q[1] = 0x7e;
    for (int i = 0; i < 32; i++) q[2 + i] = (unsigned char)(i - 16);
    gb_spec s = gb_default();
    s.tensors[0].data = a;
    s.tensors[1].data = q;
    char path[512], args[1200], *out;
    snprintf(path, sizeof path, "%s/nan-scale.gguf", gt_tmp());
    write_gguf(path, &s);

    snprintf(args, sizeof args, "'%s'", path);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 1, "%s", out);
    cr_assert(strstr(out, "b: decodes to 32 NaN/Inf values (first at element 0)"), "%s", out);
    cr_assert(!strstr(out, "a: decodes"), "%s", out);
    free(out);

    snprintf(args, sizeof args, "'%s' --json", path);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 1, "%s", out);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert(root, "%s: %s", je.text, out);
    json_t *tb = tf_tensor_json(root, "b"), *ta = tf_tensor_json(root, "a");
    cr_assert_eq(json_integer_value(json_object_get(tb, "nonfinite")), 32, "%s", out);
    cr_assert(tf_json_has(json_object_get(tb, "failures"), "nonfinite"), "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(ta, "nonfinite")), 0, "%s", out);
    cr_assert(!tf_json_has(json_object_get(ta, "failures"), "nonfinite"), "%s", out);
    json_decref(root);
    free(out);
}

/* With --against: NaN in the source is reported as such (not compared, not
 * a failure); a NaN in the file where the source is finite fails. */
Test(verify_gguf, against_source_nonfinite_is_reported) {
    const char *tmp = gt_tmp();
    char st[512], g1[512], g2[512], args[2000], *out;
    snprintf(st, sizeof st, "%s/nan-src.safetensors", tmp);
    const char *hdr = "{\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[2,8],"
                      "\"data_offsets\":[0,64]}}";
    uint64_t hl = strlen(hdr);
    float a[16];
    for (int i = 0; i < 16; i++) a[i] = 0.5f * (float)(i - 8);
    a[3] = NAN;
    FILE *f = fopen(st, "wb");
    cr_assert(f);
    fwrite(&hl, 8, 1, f); /* little-endian host */
    fwrite(hdr, 1, hl, f);
    fwrite(a, 4, 16, f);
    fclose(f);

    gb_spec s = gb_default();
    s.n_tensors = 1;
    s.tensors[0].name = "token_embd.weight";
    s.tensors[0].data = a;
    snprintf(g1, sizeof g1, "%s/nan-same.gguf", tmp);
    write_gguf(g1, &s);
    float b[16];
    memcpy(b, a, sizeof b);
    b[3] = 1.0f;
    b[5] = INFINITY;
    s.tensors[0].data = b;
    snprintf(g2, sizeof g2, "%s/inf-new.gguf", tmp);
    write_gguf(g2, &s);

    json_error_t je;
    snprintf(args, sizeof args, "'%s' --against '%s' --json", g1, st);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 0, "%s", out);
    json_t *root = json_loads(out, 0, &je);
    cr_assert(root, "%s: %s", je.text, out);
    json_t *t = tf_tensor_json(root, "model.embed_tokens.weight");
    cr_assert_eq(json_integer_value(json_object_get(t, "source_nonfinite")), 1, "%s", out);
    cr_assert_eq(json_integer_value(json_object_get(t, "nonfinite")), 1, "%s", out);
    cr_assert(!tf_json_has(json_object_get(t, "failures"), "nonfinite") && !tf_json_has(json_object_get(t, "failures"), "source_read"), "%s", out);
    json_decref(root);
    free(out);

    snprintf(args, sizeof args, "'%s' --against '%s' --json", g2, st);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 1, "%s", out);
    root = json_loads(out, 0, &je);
    cr_assert(root, "%s: %s", je.text, out);
    t = tf_tensor_json(root, "model.embed_tokens.weight");
    cr_assert_eq(json_integer_value(json_object_get(t, "source_nonfinite")), 1, "%s", out);
    cr_assert(tf_json_has(json_object_get(t, "failures"), "nonfinite"), "%s", out);
    json_decref(root);
    free(out);
    snprintf(args, sizeof args, "'%s' --against '%s'", g2, st);
    cr_assert_eq(gt_run(&out, "inspect/qtf-verify", args), 1, "%s", out);
    cr_assert(strstr(out, "model.embed_tokens.weight: decodes to 1 NaN/Inf value (first at element 5), "
                          "where the source has finite values"), "%s", out);
    free(out);
}
