/* qtf-convert CHECKPOINT out.gguf against llama.cpp's own files
 * (../shared/gguf): for both fixture checkpoints and every ggml type, the
 * GGUF that QTF writes must hold the same tensors (names, types, ne, bytes)
 * and the same metadata keys and values as the file llama.cpp's converter
 * and llama-quantize --pure wrote, compared through the GGUF reader; QTF's
 * own provenance keys (qtf.*) are the only extra keys allowed. Also the
 * Q4_K_M mixture, .qtf -> GGUF with blocks copied, --dry-run, --rule, and
 * the refusals. Tests needing ../shared skip visibly without it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/arch.h"
#include "checkpoint/gguf.h"
#include "support/files.h"
#include "support/gguf.h"
#include "support/run.h"
#include "checkpoint/source.h"

static const char *run_in;      /* working directory of the next conversions, or NULL */

TestSuite(gguf_convert, .fini = test_tmpdir_remove);

/* Runs build/convert/qtf-convert with args (in run_in when set). */
static int convert(const char *const *args) {
    tf_run_opts o = { .chdir = run_in };
    return ts_tool("convert/qtf-convert", args, &o);
}
#define CONVERT(...) convert((const char *const[]){ __VA_ARGS__, NULL })

/* Same type and value (arrays element by element). */
static void assert_same_value(const qtf_gguf *a, uint64_t ia, const qtf_gguf *b, uint64_t ib,
                              const char *key) {
    qtf_value va, vb;
    cr_assert_eq(qtf_gguf_kv_value(&va, a, ia), QTF_OK);
    cr_assert_eq(qtf_gguf_kv_value(&vb, b, ib), QTF_OK);
    cr_assert_eq(va.type, vb.type, "key %s: type %d, fixture %d", key, va.type, vb.type);
    if (va.type == QTF_TYPE_STRING) {
        cr_assert(va.len == vb.len && memcmp(va.str, vb.str, va.len) == 0,
                  "key %s: '%.*s', fixture '%.*s'", key, (int)va.len, va.str, (int)vb.len,
                  vb.str);
    } else if (va.type == QTF_TYPE_ARRAY) {
        cr_assert_eq(va.elem_type, vb.elem_type, "key %s: element type", key);
        cr_assert_eq(va.count, vb.count, "key %s: %llu elements, fixture %llu", key,
                     (unsigned long long)va.count, (unsigned long long)vb.count);
        if (va.elem_type == QTF_TYPE_STRING) {
            for (uint64_t j = 0; j < va.count; j++) {
                qtf_value ea, eb;
                cr_assert_eq(qtf_gguf_array_elem(&ea, a, ia, j), QTF_OK);
                cr_assert_eq(qtf_gguf_array_elem(&eb, b, ib, j), QTF_OK);
                cr_assert(ea.len == eb.len && memcmp(ea.str, eb.str, ea.len) == 0,
                          "key %s[%llu]: '%.*s', fixture '%.*s'", key, (unsigned long long)j,
                          (int)ea.len, ea.str, (int)eb.len, eb.str);
            }
        } else {
            size_t es = qtf_type_size(va.elem_type);
            cr_assert(memcmp(va.data, vb.data, (size_t)va.count * es) == 0,
                      "key %s: array bytes differ", key);
        }
    } else {
        cr_assert(memcmp(&va.num, &vb.num, sizeof va.num) == 0, "key %s: value differs", key);
    }
}

/* The comparison the issue asks for; returns the number of tensors. */
static uint64_t assert_same_gguf(const char *ours_path, const char *fixture_path) {
    qtf_gguf *ours = gt_open(ours_path), *fix = gt_open(fixture_path);
    for (uint64_t i = 0; i < qtf_gguf_kv_count(fix); i++) {
        const char *key = qtf_gguf_kv_key(fix, i);
        uint64_t j;
        cr_assert_eq(qtf_gguf_kv_find(&j, ours, key), QTF_OK, "%s: key %s missing", ours_path,
                     key);
        assert_same_value(ours, j, fix, i, key);
    }
    for (uint64_t i = 0; i < qtf_gguf_kv_count(ours); i++) {
        const char *key = qtf_gguf_kv_key(ours, i);
        uint64_t j;
        if (strncmp(key, "qtf.", 4) == 0) continue;     /* provenance */
        cr_assert_eq(qtf_gguf_kv_find(&j, fix, key), QTF_OK, "%s: extra key %s", ours_path, key);
    }
    uint64_t n = qtf_gguf_tensor_count(fix);
    cr_assert_eq(qtf_gguf_tensor_count(ours), n, "tensor count");
    for (uint64_t i = 0; i < n; i++) {
        const qtf_gguf_tensor *tf = qtf_gguf_tensor_get(fix, i);
        uint64_t j;
        cr_assert_eq(qtf_gguf_tensor_find(&j, ours, tf->name), QTF_OK, "tensor %s missing",
                     tf->name);
        const qtf_gguf_tensor *to = qtf_gguf_tensor_get(ours, j);
        cr_assert_eq(to->type, tf->type, "%s: type %s, fixture %s", tf->name,
                     qtf_ggml_type_name(to->type), qtf_ggml_type_name(tf->type));
        cr_assert_eq(to->n_dims, tf->n_dims, "%s: n_dims", tf->name);
        for (uint32_t d = 0; d < tf->n_dims; d++)
            cr_assert_eq(to->ne[d], tf->ne[d], "%s: ne[%u]", tf->name, d);
        const void *da, *db;
        uint64_t la, lb;
        cr_assert_eq(qtf_gguf_tensor_data(&da, &la, ours, j), QTF_OK);
        cr_assert_eq(qtf_gguf_tensor_data(&db, &lb, fix, i), QTF_OK);
        cr_assert(la == lb && memcmp(da, db, (size_t)la) == 0, "%s (%s): tensor bytes differ",
                  tf->name, qtf_ggml_type_name(tf->type));
    }
    qtf_gguf_close(ours);
    qtf_gguf_close(fix);
    return n;
}

/* Two files hold the same bytes. */
static void assert_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    cr_assert(fa && fb);
    int ca, cb;
    uint64_t at = 0;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        cr_assert_eq(ca, cb, "%s and %s differ at byte %llu", a, b, (unsigned long long)at);
        at++;
    } while (ca != EOF);
    fclose(fa);
    fclose(fb);
}

/* Converts `model` with --pure -e preset and compares with the fixture. */
static void check_type(const char *model_rel, const char *name, const char *fixture_dir,
                       const char *preset, const char *fixture_type) {
    TS_NEED(model, model_rel);
    char fixture_rel[256];
    snprintf(fixture_rel, sizeof fixture_rel, "gguf/%s/model-%s.gguf", fixture_dir,
             fixture_type);
    TS_NEED(fixture, fixture_rel);
    const char *out = test_tmpdir_path("out.gguf");
    int rc = CONVERT("-q", "--pure", "-e", preset, "--name", name, model, out);
    cr_assert_eq(rc, 0, "qtf-convert -e %s: exit %d: %s", preset, rc, ts_err_text);
    uint64_t n = assert_same_gguf(out, fixture);
    cr_log_info("byte-identical: %s -e %s --pure = %s (%llu tensors)", model_rel, preset,
                fixture_rel, (unsigned long long)n);
}

#define AID "checkpoints/aidreams-llama-260k-hf"
#define SYN "gguf/synth-llama-hf"
#define TYPE_TESTS(tag, model, name, dir)                                                    \
    Test(gguf_convert, tag##_f32) { check_type(model, name, dir, "f32", "f32"); }           \
    Test(gguf_convert, tag##_q8_0) { check_type(model, name, dir, "q8_0", "Q8_0"); }        \
    Test(gguf_convert, tag##_q4_0) { check_type(model, name, dir, "q4_0", "Q4_0"); }        \
    Test(gguf_convert, tag##_q4_1) { check_type(model, name, dir, "q4_1", "Q4_1"); }        \
    Test(gguf_convert, tag##_q5_0) { check_type(model, name, dir, "q5_0", "Q5_0"); }        \
    Test(gguf_convert, tag##_q5_1) { check_type(model, name, dir, "q5_1", "Q5_1"); }        \
    Test(gguf_convert, tag##_iq4_nl) { check_type(model, name, dir, "iq4_nl", "IQ4_NL"); }  \
    Test(gguf_convert, tag##_iq4_xs) { check_type(model, name, dir, "iq4_xs", "IQ4_XS"); }  \
    Test(gguf_convert, tag##_q2_k) { check_type(model, name, dir, "q2_k", "Q2_K"); }        \
    Test(gguf_convert, tag##_q3_k_m) { check_type(model, name, dir, "q3_k_m", "Q3_K_M"); }  \
    Test(gguf_convert, tag##_q4_k_m) { check_type(model, name, dir, "q4_k_m", "Q4_K_M"); }  \
    Test(gguf_convert, tag##_q5_k_m) { check_type(model, name, dir, "q5_k_m", "Q5_K_M"); }  \
    Test(gguf_convert, tag##_q6_k) { check_type(model, name, dir, "q6_k", "Q6_K"); }

TYPE_TESTS(aidreams, AID, "aidreams-llama-260k", "aidreams-260k")
TYPE_TESTS(synth, SYN, "synth-llama-256x512", "synth")

/* --importance imatrix.gguf: llama-quantize --pure --imatrix's blocks, and its
 * quantize.imatrix.* keys. The fixtures were made with the imatrix given as
 * out/DIR/imatrix.gguf, a path recorded in quantize.imatrix.file: the
 * conversion runs where that relative path names the fixture's imatrix. */
static void check_imatrix(const char *model_rel, const char *name, const char *dir,
                          const char *preset, const char *fixture_type) {
    TS_NEED(model, model_rel);
    char rel[256], link_dir[600], link[700];
    snprintf(rel, sizeof rel, "gguf/%s/imatrix.gguf", dir);
    TS_NEED(imatrix, rel);
    snprintf(rel, sizeof rel, "gguf/%s/model-%s-imatrix.gguf", dir, fixture_type);
    TS_NEED(fixture, rel);
    char abs_model[4096], abs_imatrix[4096], out[600];
    cr_assert(realpath(model, abs_model) && realpath(imatrix, abs_imatrix));
    snprintf(link_dir, sizeof link_dir, "%s", test_tmpdir_path("out"));
    mkdir(link_dir, 0755);
    snprintf(link_dir + strlen(link_dir), sizeof link_dir - strlen(link_dir), "/%s", dir);
    mkdir(link_dir, 0755);
    snprintf(link, sizeof link, "%s/imatrix.gguf", link_dir);
    unlink(link);
    cr_assert_eq(symlink(abs_imatrix, link), 0, "%s", strerror(errno));
    snprintf(out, sizeof out, "%s", test_tmpdir_path("imatrix-out.gguf"));
    char im_arg[300];
    snprintf(im_arg, sizeof im_arg, "out/%s/imatrix.gguf", dir);
    run_in = test_tmpdir;
    int rc = CONVERT("-q", "--pure", "-e", preset, "--importance", im_arg, "--name", name,
                     abs_model, out);
    run_in = NULL;
    cr_assert_eq(rc, 0, "%s", ts_err_text);
    assert_same_gguf(out, fixture);
    cr_log_info("byte-identical with importance: %s -e %s = %s", model_rel, preset, rel);
}

Test(gguf_convert, aidreams_q4_k_m_imatrix) {
    check_imatrix(AID, "aidreams-llama-260k", "aidreams-260k", "q4_k_m", "Q4_K_M");
}
Test(gguf_convert, aidreams_iq4_nl_imatrix) {
    check_imatrix(AID, "aidreams-llama-260k", "aidreams-260k", "iq4_nl", "IQ4_NL");
}
Test(gguf_convert, synth_q4_k_m_imatrix) {
    check_imatrix(SYN, "synth-llama-256x512", "synth", "q4_k_m", "Q4_K_M");
}
Test(gguf_convert, synth_iq4_nl_imatrix) {
    check_imatrix(SYN, "synth-llama-256x512", "synth", "iq4_nl", "IQ4_NL");
}

/* An importance file that is not an imatrix is refused before writing. */
Test(gguf_convert, importance_must_be_an_imatrix) {
    TS_NEED(model, AID);
    TS_NEED(not_imatrix, "gguf/aidreams-260k/model-Q8_0.gguf");
    const char *out = test_tmpdir_path("noim.gguf");
    cr_assert_eq(CONVERT("-q", "-e", "q4_0", "--importance", not_imatrix, model, out), 2);
    cr_assert(strstr(ts_err_text, "imatrix"), "%s", ts_err_text);
    cr_assert_eq(access(out, F_OK), -1);
    /* a safetensors file (as bench/model_quality.py writes vectors): said
     * as such, with the way round (a .qtf with --target-ladder ggml) */
    char st[4096];
    snprintf(st, sizeof st, "%s/model.safetensors", model);
    cr_assert_eq(CONVERT("-q", "-e", "q4_0", "--importance", st, model, out), 2);
    cr_assert(strstr(ts_err_text, "a file of importance vectors, not a llama.cpp importance "
                                  "matrix") && strstr(ts_err_text, "--target-ladder ggml"),
              "%s", ts_err_text);
    cr_assert_eq(access(out, F_OK), -1);
}

/* llama-quantize's real Q4_K_M mixture (not --pure): Q6_K for the tied
 * token embedding, attn_v and ffn_down of a 1-layer model, Q4_K elsewhere. */
Test(gguf_convert, synth_q4_k_m_mixture) {
    TS_NEED(model, SYN);
    TS_NEED(fixture, "gguf/synth/model-Q4_K_M-mix.gguf");
    const char *out = test_tmpdir_path("mix.gguf");
    cr_assert_eq(CONVERT("-q", "-e", "q4_k_m", "--name", "synth-llama-256x512", model, out), 0,
                 "%s", ts_err_text);
    assert_same_gguf(out, fixture);
    /* --dry-run shows that recipe: per-tensor rules, then the base type. */
    cr_assert_eq(CONVERT("--dry-run", "-e", "q4_k_m", model, out), 0, "%s", ts_err_text);
    cr_assert(strstr(ts_out_text, "token_embd.weight=q6_k"), "%s", ts_out_text);
    cr_assert(strstr(ts_out_text, "blk.0.attn_v.weight=q6_k"), "%s", ts_out_text);
    cr_assert(strstr(ts_out_text, "blk.0.ffn_down.weight=q6_k"), "%s", ts_out_text);
    cr_assert(strstr(ts_out_text, "\n*=q4_k"), "%s", ts_out_text);
    cr_assert(strstr(ts_out_text, "general.file_type 15"), "%s", ts_out_text);
}

/* --rule overrides the preset (GGUF names), and the type lands in the file. */
Test(gguf_convert, rule_overrides_preset) {
    TS_NEED(model, AID);
    const char *out = test_tmpdir_path("rule.gguf");
    cr_assert_eq(CONVERT("-q", "--pure", "-e", "q8_0", "-r", "blk.1.attn_q.weight=q4_1",
                         "-r", "*ffn_down*=bf16", model, out), 0, "%s", ts_err_text);
    qtf_gguf *g = gt_open(out);
    uint64_t i;
    cr_assert_eq(qtf_gguf_tensor_find(&i, g, "blk.1.attn_q.weight"), QTF_OK);
    cr_assert_eq(qtf_gguf_tensor_get(g, i)->type, QTF_GGML_Q4_1);
    cr_assert_eq(qtf_gguf_tensor_find(&i, g, "blk.0.attn_q.weight"), QTF_OK);
    cr_assert_eq(qtf_gguf_tensor_get(g, i)->type, QTF_GGML_Q8_0);
    cr_assert_eq(qtf_gguf_tensor_find(&i, g, "blk.3.ffn_down.weight"), QTF_OK);
    cr_assert_eq(qtf_gguf_tensor_get(g, i)->type, QTF_GGML_BF16);
    const char *recipe;
    uint64_t len;
    cr_assert_eq(qtf_gguf_get_string(&recipe, &len, g, "qtf.recipe"), QTF_OK);
    ts_assert_contains(recipe, len, "blk.1.attn_q.weight=q4_1  # --rule 1");
    qtf_gguf_close(g);
    /* A GGUF preset with a .qtf (or no) output says what to do. */
    cr_assert_eq(CONVERT("--dry-run", "-e", "q4_k_m", model), 2);
    cr_assert(strstr(ts_err_text, "GGUF preset") && strstr(ts_err_text, ".gguf"), "%s", ts_err_text);
    /* A rule naming something that is not a ggml type is a usage error. */
    cr_assert_eq(CONVERT("-q", "-e", "q8_0", "-r", "*=int4", model, out), 2);
    cr_assert(strstr(ts_err_text, "--rule 1") && strstr(ts_err_text, "int4"), "%s", ts_err_text);
}

/* A .qtf whose encodings are ggml types becomes the same GGUF as the
 * checkpoint, its blocks copied (not re-quantized). */
static void check_qtf_copy(const char *model_rel, const char *name, const char *enc,
                           const char *fixture_rel) {
    TS_NEED(model, model_rel);
    TS_NEED(fixture, fixture_rel);
    const char *q = test_tmpdir_path("m.qtf"), *out = test_tmpdir_path("from-qtf.gguf");
    cr_assert_eq(CONVERT("-q", "-e", enc, "--fallback", "f16", "--all-layers", model, q), 0,
                 "%s", ts_err_text);
    cr_assert_eq(CONVERT("--dry-run", q, out), 0, "%s", ts_err_text);
    cr_assert(strstr(ts_out_text, "blocks copied"), "%s", ts_out_text);
    cr_assert_eq(CONVERT("-q", "--name", name, q, out), 0, "%s", ts_err_text);
    assert_same_gguf(out, fixture);
}

Test(gguf_convert, qtf_q8_0_blocks_copied) {
    check_qtf_copy(AID, "aidreams-llama-260k", "q8_0", "gguf/aidreams-260k/model-Q8_0.gguf");
}

Test(gguf_convert, qtf_q4_k_blocks_copied) {
    check_qtf_copy(SYN, "synth-llama-256x512", "q4_k", "gguf/synth/model-Q4_K_M.gguf");
}

/* An encoding llama.cpp cannot read is an error naming the tensor; nothing
 * is written. */
Test(gguf_convert, non_ggml_encoding_refused) {
    TS_NEED(model, AID);
    const char *q = test_tmpdir_path("int8.qtf"), *out = test_tmpdir_path("int8.gguf");
    cr_assert_eq(CONVERT("-q", "-e", "int8", model, q), 0, "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", q, out), 2);
    cr_assert(strstr(ts_err_text, "model.embed_tokens.weight") && strstr(ts_err_text, "int8") &&
              strstr(ts_err_text, "llama.cpp cannot read"), "%s", ts_err_text);
    cr_assert_eq(access(out, F_OK), -1, "%s was created", out);
    /* With a preset it is re-quantized instead. */
    cr_assert_eq(CONVERT("-q", "-e", "q8_0", q, out), 0, "%s", ts_err_text);
    cr_assert_eq(access(out, F_OK), 0);
}

static void assert_file_text(const char *path, const char *text) {
    char buf[64] = "";
    FILE *f = fopen(path, "r");
    cr_assert(f && fgets(buf, sizeof buf, f), "%s", path);
    fclose(f);
    cr_assert_str_eq(buf, text);
}

/* An existing output survives a failed conversion, and is replaced only with
 * --force; an input (here the importance matrix) never is. */
Test(gguf_convert, existing_files_and_inputs) {
    TS_NEED(model, AID);
    TS_NEED(imatrix, "gguf/aidreams-260k/imatrix.gguf");
    char out[512], im_copy[512];
    snprintf(out, sizeof out, "%s", test_tmpdir_path("keep.gguf"));
    tu_write_text(out, "precious");
    cr_assert_eq(CONVERT("-q", "-e", "q9_9", model, out), 2);
    cr_assert(strstr(ts_err_text, "q9_9") && strstr(ts_err_text, "q4_k_m"), "%s", ts_err_text);
    assert_file_text(out, "precious");
    cr_assert_neq(CONVERT("-q", "-e", "q8_0", model, out), 0);
    cr_assert(strstr(ts_err_text, "--force"), "%s", ts_err_text);
    assert_file_text(out, "precious");
    cr_assert_eq(CONVERT("-q", "--force", "-e", "q8_0", model, out), 0, "%s", ts_err_text);
    qtf_gguf_close(gt_open(out));
    /* A copy of the imatrix as both --importance and the output. */
    snprintf(im_copy, sizeof im_copy, "%s", test_tmpdir_path("im.gguf"));
    tu_copy(imatrix, im_copy, -1);
    cr_assert_neq(CONVERT("-q", "--force", "-e", "q4_0", "--importance", im_copy, model,
                          im_copy), 0);
    cr_assert(strstr(ts_err_text, im_copy), "%s", ts_err_text);
    qtf_gguf *g = gt_open(im_copy);       /* still the importance matrix */
    const char *type;
    uint64_t len;
    cr_assert_eq(qtf_gguf_get_string(&type, &len, g, "general.type"), QTF_OK);
    cr_assert(len == 7 && memcmp(type, "imatrix", 7) == 0);
    qtf_gguf_close(g);
}

/* --- GGUF in ------------------------------------------------------------------ */

/* Every tensor of a and b (same names, dtypes, shapes, bytes); b's names go
 * through the GGUF -> HF map and its Q/K rows are put back in HF order when
 * b_is_gguf_layout (the .ref files keep the GGUF layout). */
static void assert_same_tensors(const char *a_path, const char *b_path, int b_is_gguf_layout,
                                uint32_t n_head, uint32_t n_head_kv) {
    qtf_source *a = NULL, *b = NULL;
    cr_assert_eq(qtf_source_open(&a, a_path), QTF_OK, "%s: %s", a_path, qtf_error_detail());
    cr_assert_eq(qtf_source_open(&b, b_path), QTF_OK, "%s: %s", b_path, qtf_error_detail());
    const qtf_arch *arch = qtf_arch_by_gguf_name("llama");
    cr_assert_eq(qtf_source_tensor_count(a), qtf_source_tensor_count(b));
    for (uint64_t i = 0; i < qtf_source_tensor_count(b); i++) {
        const qtf_source_tensor *tb = qtf_source_tensor_get(b, i);
        char name[256];
        uint32_t heads = 0;
        if (b_is_gguf_layout) {
            const qtf_arch_tensor *e;
            cr_assert_eq(qtf_arch_gguf_to_hf(name, sizeof name, &e, NULL, arch, tb->name, NULL,
                                             NULL), QTF_OK);
            heads = qtf_arch_permute_heads(e, n_head, n_head_kv);
        } else {
            snprintf(name, sizeof name, "%s", tb->name);
        }
        uint64_t j;
        cr_assert_eq(qtf_source_tensor_find(&j, a, name), QTF_OK, "%s missing", name);
        const qtf_source_tensor *ta = qtf_source_tensor_get(a, j);
        cr_assert_eq(ta->dtype, tb->dtype, "%s: dtype", name);
        cr_assert_eq(ta->n_dims, tb->n_dims, "%s: dims", name);
        for (uint32_t d = 0; d < ta->n_dims; d++) cr_assert_eq(ta->dims[d], tb->dims[d]);
        unsigned char *x = malloc(ta->nbytes), *y = malloc(tb->nbytes), *s = malloc(tb->nbytes);
        cr_assert(x && y && s);
        cr_assert_eq(qtf_source_read_raw(x, ta->nbytes, a, j), QTF_OK);
        cr_assert_eq(qtf_source_read_raw(y, tb->nbytes, b, i), QTF_OK);
        if (heads) {
            cr_assert_eq(qtf_arch_permute_rows(s, y, tb->dims[0], tb->nbytes / tb->dims[0],
                                               heads, 1), QTF_OK);
            memcpy(y, s, tb->nbytes);
        }
        cr_assert(memcmp(x, y, ta->nbytes) == 0, "%s: values differ", name);
        free(x);
        free(y);
        free(s);
    }
    qtf_source_close(a);
    qtf_source_close(b);
}

/* llama.cpp's F32 GGUF back to safetensors is the original checkpoint, bit
 * for bit: names, shapes and the Q/K permutation undone. */
Test(gguf_convert, gguf_f32_to_safetensors_is_the_checkpoint) {
    TS_NEED(aid_gguf, "gguf/aidreams-260k/model-f32.gguf");
    TS_NEED(aid, AID "/model.safetensors");
    TS_NEED(syn_gguf, "gguf/synth/model-f32.gguf");
    TS_NEED(syn, SYN "/model.safetensors");
    const char *out = test_tmpdir_path("back.safetensors");
    cr_assert_eq(CONVERT("-q", aid_gguf, out), 0, "%s", ts_err_text);
    assert_same_tensors(out, aid, 0, 4, 4);
    cr_assert_eq(CONVERT("-q", "--force", syn_gguf, out), 0, "%s", ts_err_text);
    assert_same_tensors(out, syn, 0, 4, 2);
}

/* A quantized GGUF dequantizes to ggml's own values (the .ref files, made by
 * gguf-py/ggml), under HF names with the permutation undone. */
Test(gguf_convert, gguf_quantized_to_safetensors_matches_ggml) {
    static const char *const cases[][2] = {
        { "gguf/synth/model-Q4_K_M.gguf", "gguf/synth/model-Q4_K_M.ref.safetensors" },
        { "gguf/synth/model-IQ4_XS.gguf", "gguf/synth/model-IQ4_XS.ref.safetensors" },
        { "gguf/synth/model-Q2_K.gguf", "gguf/synth/model-Q2_K.ref.safetensors" },
        { "gguf/aidreams-260k/model-Q5_1.gguf", "gguf/aidreams-260k/model-Q5_1.ref.safetensors" },
        { "gguf/aidreams-260k/model-Q4_0.gguf", "gguf/aidreams-260k/model-Q4_0.ref.safetensors" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        TS_NEED(gguf, cases[k][0]);
        TS_NEED(ref, cases[k][1]);
        const char *out = test_tmpdir_path("deq.safetensors");
        cr_assert_eq(CONVERT("-q", "--force", gguf, out), 0, "%s", ts_err_text);
        int synth = strstr(cases[k][0], "synth") != NULL;
        assert_same_tensors(out, ref, 1, 4, synth ? 2 : 4);
        cr_log_info("dequantized like ggml: %s", cases[k][0]);
    }
}

/* GGUF -> .qtf (blocks copied, checksummed, HF names) -> GGUF gives back
 * llama.cpp's file: same keys, values, tensors and bytes. */
Test(gguf_convert, gguf_qtf_gguf_round_trip) {
    static const char *const files[] = {
        "gguf/synth/model-Q4_K_M-mix.gguf", "gguf/synth/model-IQ4_XS.gguf",
        "gguf/aidreams-260k/model-Q8_0.gguf", "gguf/aidreams-260k/model-Q2_K.gguf",
        "gguf/aidreams-260k/model-f32.gguf",
    };
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        TS_NEED(fixture, files[k]);
        const char *q = test_tmpdir_path("rt.qtf"), *out = test_tmpdir_path("rt.gguf");
        cr_assert_eq(CONVERT("-q", "--force", fixture, q), 0, "%s", ts_err_text);
        qtf_file *f = NULL;
        cr_assert_eq(qtf_file_open(&f, q, NULL), QTF_OK, "%s", qtf_error_detail());
        cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK, "%s", qtf_error_detail());
        uint64_t idx;
        cr_assert_eq(qtf_tensor_find(&idx, f, "model.layers.0.self_attn.q_proj.weight"), QTF_OK);
        qtf_file_close(f);
        cr_assert_eq(CONVERT("--dry-run", q, out), 0, "%s", ts_err_text);
        cr_assert(strstr(ts_out_text, "blocks copied"), "%s", ts_out_text);
        cr_assert_eq(CONVERT("-q", "--force", q, out), 0, "%s", ts_err_text);
        assert_same_gguf(out, fixture);
        cr_log_info("round trip GGUF -> QTF -> GGUF identical: %s", files[k]);
    }
}

Test(gguf_convert, gguf_input_refusals) {
    TS_NEED(fixture, "gguf/aidreams-260k/model-Q8_0.gguf");
    char out[512];
    snprintf(out, sizeof out, "%s", test_tmpdir_path("x.qtf"));
    cr_assert_eq(CONVERT("-q", "-e", "int4", fixture, out), 2);
    cr_assert(strstr(ts_err_text, "GGUF input"), "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "-e", "q4_0", fixture, test_tmpdir_path("x.safetensors")), 2);
    cr_assert_eq(CONVERT("-q", fixture, test_tmpdir_path("x.gguf")), 2);
    cr_assert_eq(access(out, F_OK), -1);
}

/* The output does not depend on the thread count: whole files compared. */
Test(gguf_convert, same_bytes_for_any_thread_count) {
    TS_NEED(model, SYN);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", test_tmpdir_path("t1.gguf"));
    snprintf(b, sizeof b, "%s", test_tmpdir_path("t2.gguf"));
    cr_assert_eq(CONVERT("-q", "-j", "1", "-e", "q4_k_m", model, a), 0, "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "-j", "3", "-e", "q4_k_m", model, b), 0, "%s", ts_err_text);
    assert_same_file(a, b);
}

/* The llama-quantize preset whose --pure conversion gives every tensor
 * ggml type `t` (NULL: none). */
static const char *pure_preset_of(uint32_t t) {
    switch (t) {
    case QTF_GGML_F16: return "f16";
    case QTF_GGML_Q8_0: return "q8_0";
    case QTF_GGML_Q6_K: return "q6_k";
    case QTF_GGML_Q5_K: return "q5_k_m";
    case QTF_GGML_Q5_1: return "q5_1";
    case QTF_GGML_Q5_0: return "q5_0";
    case QTF_GGML_Q4_K: return "q4_k_m";
    case QTF_GGML_Q4_1: return "q4_1";
    case QTF_GGML_Q4_0: return "q4_0";
    case QTF_GGML_IQ4_NL: return "iq4_nl";
    case QTF_GGML_IQ4_XS: return "iq4_xs";
    case QTF_GGML_Q3_K: return "q3_k_m";
    case QTF_GGML_Q2_K: return "q2_k";
    default: return NULL;
    }
}

/* --target-bpw for a .gguf output (convert/target.h): ggml types only; the
 * file's tensor bytes meet the budget; each tensor's blocks are those of
 * the --pure conversion to its type with the same imatrix (itself
 * byte-identical with llama-quantize above); qtf.recipe records one rule
 * per tensor after the --rule that pins attn_v; same bytes for 1 and 2
 * threads; mixing with a preset is refused. */
Test(gguf_convert, target_bpw_chooses_ggml_types_within_the_budget) {
    TS_NEED(model, SYN);
    TS_NEED(imatrix, "gguf/synth/imatrix.gguf");
    static const char *const budgets[] = { "4.5", "3.6" };
    int mixed = 0;
    for (size_t k = 0; k < sizeof budgets / sizeof budgets[0]; k++) {
        char a[512], b[512];
        snprintf(a, sizeof a, "%s", test_tmpdir_path("target1.gguf"));
        snprintf(b, sizeof b, "%s", test_tmpdir_path("target2.gguf"));
        cr_assert_eq(CONVERT("-q", "--force", "-j", "1", "--target-bpw", budgets[k], "--importance",
                             imatrix, "-r", "blk.0.attn_v.weight=q8_0", model, a), 0,
                     "%s", ts_err_text);
        cr_assert_eq(CONVERT("-q", "--force", "-j", "2", "--target-bpw", budgets[k], "--importance",
                             imatrix, "-r", "blk.0.attn_v.weight=q8_0", model, b), 0,
                     "%s", ts_err_text);
        assert_same_file(a, b);
        qtf_gguf *g = gt_open(a);
        uint64_t bytes = 0, elements = 0;
        uint32_t types_seen = 0;
        for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
            const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
            bytes += t->nbytes;
            elements += t->n_elements;
            if (t->n_dims < 2) {
                cr_assert_eq(t->type, QTF_GGML_F32, "%s: a norm is not quantized", t->name);
                continue;
            }
            if (strcmp(t->name, "blk.0.attn_v.weight") == 0) {
                cr_assert_eq(t->type, QTF_GGML_Q8_0, "the --rule pins attn_v");
                continue;
            }
            const char *preset = pure_preset_of(t->type);
            cr_assert(preset, "%s: %s is not a ladder type", t->name, qtf_ggml_type_name(t->type));
            types_seen |= 1u << (t->type % 32);
            /* the same blocks as the --pure conversion to that type (made
             * once per type) */
            char pure_name[64], pure[600];
            snprintf(pure_name, sizeof pure_name, "pure-%s.gguf", preset);
            snprintf(pure, sizeof pure, "%s", test_tmpdir_path(pure_name));
            if (access(pure, F_OK) != 0)
                cr_assert_eq(CONVERT("-q", "--pure", "-e", preset, "--importance", imatrix,
                                     model, pure), 0, "%s", ts_err_text);
            qtf_gguf *p = gt_open(pure);
            uint64_t j;
            cr_assert_eq(qtf_gguf_tensor_find(&j, p, t->name), QTF_OK);
            cr_assert_eq(qtf_gguf_tensor_get(p, j)->type, t->type, "%s: -e %s --pure", t->name,
                         preset);
            const void *da, *db;
            uint64_t la, lb;
            cr_assert_eq(qtf_gguf_tensor_data(&da, &la, g, i), QTF_OK);
            cr_assert_eq(qtf_gguf_tensor_data(&db, &lb, p, j), QTF_OK);
            cr_assert(la == lb && memcmp(da, db, (size_t)la) == 0,
                      "%s (%s): blocks differ from -e %s --pure", t->name,
                      qtf_ggml_type_name(t->type), preset);
            qtf_gguf_close(p);
        }
        double bpw = 8.0 * (double)bytes / (double)elements;
        cr_assert_leq(bpw, atof(budgets[k]), "budget %s: the file has %.4f bits/weight",
                      budgets[k], bpw);
        cr_assert_geq(bpw, atof(budgets[k]) - 0.5, "budget %s: only %.4f bits/weight",
                      budgets[k], bpw);
        if (__builtin_popcount(types_seen) > 1) mixed++;
        const char *recipe;
        uint64_t len;
        cr_assert_eq(qtf_gguf_get_string(&recipe, &len, g, "qtf.recipe"), QTF_OK);
        ts_assert_contains(recipe, len, "blk.0.attn_v.weight=q8_0  # --rule 1");
        ts_assert_contains(recipe, len, "blk.0.attn_q.weight=");
        ts_assert_contains(recipe, len, "  # --target-bpw");
        qtf_gguf_close(g);
        cr_log_info("--target-bpw %s: %.4f bits/weight in the GGUF", budgets[k], bpw);
    }
    cr_assert_gt(mixed, 0, "no budget mixed two types: the test proves little");
    /* --dry-run shows the allocation with its predicted errors */
    cr_assert_eq(CONVERT("-n", "--target-bpw", "4.5", model, test_tmpdir_path("n.gguf")), 0,
                 "%s", ts_err_text);
    cr_assert(strstr(ts_out_text, "tensor (--target allocation)") &&
              strstr(ts_out_text, "target: budget"), "%s", ts_out_text);
    cr_assert_eq(access(test_tmpdir_path("n.gguf"), F_OK), -1);
    /* a preset and a target both choose the types: refused */
    cr_assert_eq(CONVERT("-q", "-e", "q4_k_m", "--target-bpw", "4.5", model,
                         test_tmpdir_path("x.gguf")), 2);
    cr_assert(strstr(ts_err_text, "PRESET"), "%s", ts_err_text);
    /* a budget below the smallest types */
    cr_assert_eq(CONVERT("-q", "--target-bpw", "1", model, test_tmpdir_path("x.gguf")), 2);
    cr_assert(strstr(ts_err_text, "cannot be met"), "%s", ts_err_text);
    cr_assert_eq(access(test_tmpdir_path("x.gguf"), F_OK), -1);
}

/* --target-ladder ggml: a .qtf whose allocation takes ggml types only, so
 * that it converts to GGUF with every quantized tensor's blocks copied. */
Test(gguf_convert, target_ladder_ggml_qtf_converts_by_block_copy) {
    TS_NEED(model, SYN);
    TS_NEED(imatrix, "gguf/synth/imatrix.gguf");
    const char *q = test_tmpdir_path("ggml.qtf");
    cr_assert_eq(CONVERT("-q", "--all-layers", "--target-bpw", "4.5", "--target-ladder", "ggml",
                         "--importance", imatrix, model, q), 0, "%s", ts_err_text);
    cr_assert_eq(CONVERT("--dry-run", q, test_tmpdir_path("g.gguf")), 0, "%s", ts_err_text);
    int matrices = 0;
    for (const char *line = ts_out_text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') line++;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        /* the plan's rows of 2-D tensors: "name [ne0, ne1] ..." */
        const char *comma = memchr(line, ',', len);
        if (strncmp(line, "blk.", 4) != 0 && strncmp(line, "token_embd", 10) != 0) continue;
        if (!comma || !memchr(line, '[', len)) continue;
        matrices++;
        cr_assert(memmem(line, len, "blocks copied", 13), "not copied: %.*s", (int)len, line);
    }
    cr_assert_geq(matrices, 7, "%s", ts_out_text);
    /* refusals: without a target, an unknown ladder, QTF's ladder for a .gguf */
    const char *x = test_tmpdir_path("x.gguf");
    cr_assert_eq(CONVERT("-q", "--target-ladder", "ggml", model, test_tmpdir_path("x.qtf")), 2);
    cr_assert(strstr(ts_err_text, "--target-bpw"), "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "--target-bpw", "5", "--target-ladder", "int", model, x), 2);
    cr_assert_eq(CONVERT("-q", "--target-bpw", "5", "--target-ladder", "qtf", model, x), 2);
    cr_assert(strstr(ts_err_text, "ggml types only"), "%s", ts_err_text);
    cr_assert_eq(access(x, F_OK), -1);
}
