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
#include "test_tmpdir.h"
#include "checkpoint/source.h"

extern char **environ;

static char out_text[1 << 16], err_text[1 << 16];
static const char *run_in;      /* working directory of the next conversions, or NULL */

TestSuite(gguf_convert, .fini = test_tmpdir_remove);

/* ../shared/<rel>, or NULL when ../shared is absent. */
static const char *shared(const char *rel) {
    static char bufs[8][512];
    static int next;
    const char *src = getenv("QTF_SOURCE_ROOT");
    char *p = bufs[next++ % 8];
    struct stat st;
    if (!src) return NULL;
    snprintf(p, 512, "%s/../shared/%s", src, rel);
    return stat(p, &st) == 0 ? p : NULL;
}

#define NEED(var, rel)                                                              \
    const char *var = shared(rel);                                                  \
    if (!var) cr_skip_test("../shared/%s not available: GGUF fixture test skipped", rel)

static void slurp_into(char *buf, size_t cap, const char *path) {
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* Runs build/convert/qtf-convert with args; stdout/stderr kept. */
static int convert(const char *const *args) {
    const char *root = getenv("QTF_BUILD_ROOT");
    cr_assert(root, "QTF_BUILD_ROOT is not set (run through meson test)");
    char exe[512];
    snprintf(exe, sizeof exe, "%s/convert/qtf-convert", root);
    const char *argv[32];
    int n = 0;
    argv[n++] = exe;
    for (int i = 0; args[i]; i++) argv[n++] = args[i];
    argv[n] = NULL;
    /* Own buffers: the paths in args may come from in_tmp's ring. */
    char o_path[600], e_path[600];
    (void)test_tmpdir_path("");
    snprintf(o_path, sizeof o_path, "%s/stdout.txt", test_tmpdir);
    snprintf(e_path, sizeof e_path, "%s/stderr.txt", test_tmpdir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, o_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, e_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (run_in) posix_spawn_file_actions_addchdir_np(&fa, run_in);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "spawn %s: %s", exe, strerror(rc));
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    slurp_into(out_text, sizeof out_text, o_path);
    slurp_into(err_text, sizeof err_text, e_path);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
#define CONVERT(...) convert((const char *const[]){ __VA_ARGS__, NULL })

static qtf_gguf *open_gguf(const char *path) {
    qtf_gguf *g = NULL;
    qtf_status st = qtf_gguf_open(&g, path, 0);
    cr_assert_eq(st, QTF_OK, "%s: %s: %s", path, qtf_status_name(st), qtf_error_detail());
    return g;
}

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
    qtf_gguf *ours = open_gguf(ours_path), *fix = open_gguf(fixture_path);
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

/* Converts `model` with --pure -e preset and compares with the fixture. */
static void check_type(const char *model_rel, const char *name, const char *fixture_dir,
                       const char *preset, const char *fixture_type) {
    NEED(model, model_rel);
    char fixture_rel[256];
    snprintf(fixture_rel, sizeof fixture_rel, "gguf/%s/model-%s.gguf", fixture_dir,
             fixture_type);
    NEED(fixture, fixture_rel);
    const char *out = test_tmpdir_path("out.gguf");
    int rc = CONVERT("-q", "--pure", "-e", preset, "--name", name, model, out);
    cr_assert_eq(rc, 0, "qtf-convert -e %s: exit %d: %s", preset, rc, err_text);
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
    NEED(model, model_rel);
    char rel[256], link_dir[600], link[700];
    snprintf(rel, sizeof rel, "gguf/%s/imatrix.gguf", dir);
    NEED(imatrix, rel);
    snprintf(rel, sizeof rel, "gguf/%s/model-%s-imatrix.gguf", dir, fixture_type);
    NEED(fixture, rel);
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
    cr_assert_eq(rc, 0, "%s", err_text);
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
    NEED(model, AID);
    NEED(not_imatrix, "gguf/aidreams-260k/model-Q8_0.gguf");
    const char *out = test_tmpdir_path("noim.gguf");
    cr_assert_eq(CONVERT("-q", "-e", "q4_0", "--importance", not_imatrix, model, out), 2);
    cr_assert(strstr(err_text, "imatrix"), "%s", err_text);
    cr_assert_eq(access(out, F_OK), -1);
}

/* llama-quantize's real Q4_K_M mixture (not --pure): Q6_K for the tied
 * token embedding, attn_v and ffn_down of a 1-layer model, Q4_K elsewhere. */
Test(gguf_convert, synth_q4_k_m_mixture) {
    NEED(model, SYN);
    NEED(fixture, "gguf/synth/model-Q4_K_M-mix.gguf");
    const char *out = test_tmpdir_path("mix.gguf");
    cr_assert_eq(CONVERT("-q", "-e", "q4_k_m", "--name", "synth-llama-256x512", model, out), 0,
                 "%s", err_text);
    assert_same_gguf(out, fixture);
    /* --dry-run shows that recipe: per-tensor rules, then the base type. */
    cr_assert_eq(CONVERT("--dry-run", "-e", "q4_k_m", model, out), 0, "%s", err_text);
    cr_assert(strstr(out_text, "token_embd.weight=q6_k"), "%s", out_text);
    cr_assert(strstr(out_text, "blk.0.attn_v.weight=q6_k"), "%s", out_text);
    cr_assert(strstr(out_text, "blk.0.ffn_down.weight=q6_k"), "%s", out_text);
    cr_assert(strstr(out_text, "\n*=q4_k"), "%s", out_text);
    cr_assert(strstr(out_text, "general.file_type 15"), "%s", out_text);
}

/* --rule overrides the preset (GGUF names), and the type lands in the file. */
Test(gguf_convert, rule_overrides_preset) {
    NEED(model, AID);
    const char *out = test_tmpdir_path("rule.gguf");
    cr_assert_eq(CONVERT("-q", "--pure", "-e", "q8_0", "-r", "blk.1.attn_q.weight=q4_1",
                         "-r", "*ffn_down*=bf16", model, out), 0, "%s", err_text);
    qtf_gguf *g = open_gguf(out);
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
    cr_assert(memmem(recipe, len, "blk.1.attn_q.weight=q4_1  # --rule 1", 36), "%.*s",
              (int)len, recipe);
    qtf_gguf_close(g);
    /* A GGUF preset with a .qtf (or no) output says what to do. */
    cr_assert_eq(CONVERT("--dry-run", "-e", "q4_k_m", model), 2);
    cr_assert(strstr(err_text, "GGUF preset") && strstr(err_text, ".gguf"), "%s", err_text);
    /* A rule naming something that is not a ggml type is a usage error. */
    cr_assert_eq(CONVERT("-q", "-e", "q8_0", "-r", "*=int4", model, out), 2);
    cr_assert(strstr(err_text, "--rule 1") && strstr(err_text, "int4"), "%s", err_text);
}

/* A .qtf whose encodings are ggml types becomes the same GGUF as the
 * checkpoint, its blocks copied (not re-quantized). */
static void check_qtf_copy(const char *model_rel, const char *name, const char *enc,
                           const char *fixture_rel) {
    NEED(model, model_rel);
    NEED(fixture, fixture_rel);
    const char *q = test_tmpdir_path("m.qtf"), *out = test_tmpdir_path("from-qtf.gguf");
    cr_assert_eq(CONVERT("-q", "-e", enc, "--fallback", "f16", "--all-layers", model, q), 0,
                 "%s", err_text);
    cr_assert_eq(CONVERT("--dry-run", q, out), 0, "%s", err_text);
    cr_assert(strstr(out_text, "blocks copied"), "%s", out_text);
    cr_assert_eq(CONVERT("-q", "--name", name, q, out), 0, "%s", err_text);
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
    NEED(model, AID);
    const char *q = test_tmpdir_path("int8.qtf"), *out = test_tmpdir_path("int8.gguf");
    cr_assert_eq(CONVERT("-q", "-e", "int8", model, q), 0, "%s", err_text);
    cr_assert_eq(CONVERT("-q", q, out), 2);
    cr_assert(strstr(err_text, "model.embed_tokens.weight") && strstr(err_text, "int8") &&
              strstr(err_text, "llama.cpp cannot read"), "%s", err_text);
    cr_assert_eq(access(out, F_OK), -1, "%s was created", out);
    /* With a preset it is re-quantized instead. */
    cr_assert_eq(CONVERT("-q", "-e", "q8_0", q, out), 0, "%s", err_text);
    cr_assert_eq(access(out, F_OK), 0);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    fputs(text, f);
    fclose(f);
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
    NEED(model, AID);
    NEED(imatrix, "gguf/aidreams-260k/imatrix.gguf");
    char out[512], im_copy[512];
    snprintf(out, sizeof out, "%s", test_tmpdir_path("keep.gguf"));
    write_file(out, "precious");
    cr_assert_eq(CONVERT("-q", "-e", "q9_9", model, out), 2);
    cr_assert(strstr(err_text, "q9_9") && strstr(err_text, "q4_k_m"), "%s", err_text);
    assert_file_text(out, "precious");
    cr_assert_neq(CONVERT("-q", "-e", "q8_0", model, out), 0);
    cr_assert(strstr(err_text, "--force"), "%s", err_text);
    assert_file_text(out, "precious");
    cr_assert_eq(CONVERT("-q", "--force", "-e", "q8_0", model, out), 0, "%s", err_text);
    qtf_gguf_close(open_gguf(out));
    /* A copy of the imatrix as both --importance and the output. */
    snprintf(im_copy, sizeof im_copy, "%s", test_tmpdir_path("im.gguf"));
    FILE *src = fopen(imatrix, "rb"), *dst = fopen(im_copy, "wb");
    cr_assert(src && dst);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, src)) > 0) cr_assert_eq(fwrite(buf, 1, n, dst), n);
    fclose(src);
    fclose(dst);
    cr_assert_neq(CONVERT("-q", "--force", "-e", "q4_0", "--importance", im_copy, model,
                          im_copy), 0);
    cr_assert(strstr(err_text, im_copy), "%s", err_text);
    qtf_gguf *g = open_gguf(im_copy);       /* still the importance matrix */
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
    NEED(aid_gguf, "gguf/aidreams-260k/model-f32.gguf");
    NEED(aid, AID "/model.safetensors");
    NEED(syn_gguf, "gguf/synth/model-f32.gguf");
    NEED(syn, SYN "/model.safetensors");
    const char *out = test_tmpdir_path("back.safetensors");
    cr_assert_eq(CONVERT("-q", aid_gguf, out), 0, "%s", err_text);
    assert_same_tensors(out, aid, 0, 4, 4);
    cr_assert_eq(CONVERT("-q", "--force", syn_gguf, out), 0, "%s", err_text);
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
        NEED(gguf, cases[k][0]);
        NEED(ref, cases[k][1]);
        const char *out = test_tmpdir_path("deq.safetensors");
        cr_assert_eq(CONVERT("-q", "--force", gguf, out), 0, "%s", err_text);
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
        NEED(fixture, files[k]);
        const char *q = test_tmpdir_path("rt.qtf"), *out = test_tmpdir_path("rt.gguf");
        cr_assert_eq(CONVERT("-q", "--force", fixture, q), 0, "%s", err_text);
        qtf_file *f = NULL;
        cr_assert_eq(qtf_file_open(&f, q, NULL), QTF_OK, "%s", qtf_error_detail());
        cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK, "%s", qtf_error_detail());
        uint64_t idx;
        cr_assert_eq(qtf_tensor_find(&idx, f, "model.layers.0.self_attn.q_proj.weight"), QTF_OK);
        qtf_file_close(f);
        cr_assert_eq(CONVERT("--dry-run", q, out), 0, "%s", err_text);
        cr_assert(strstr(out_text, "blocks copied"), "%s", out_text);
        cr_assert_eq(CONVERT("-q", "--force", q, out), 0, "%s", err_text);
        assert_same_gguf(out, fixture);
        cr_log_info("round trip GGUF -> QTF -> GGUF identical: %s", files[k]);
    }
}

Test(gguf_convert, gguf_input_refusals) {
    NEED(fixture, "gguf/aidreams-260k/model-Q8_0.gguf");
    char out[512];
    snprintf(out, sizeof out, "%s", test_tmpdir_path("x.qtf"));
    cr_assert_eq(CONVERT("-q", "-e", "int4", fixture, out), 2);
    cr_assert(strstr(err_text, "GGUF input"), "%s", err_text);
    cr_assert_eq(CONVERT("-q", "-e", "q4_0", fixture, test_tmpdir_path("x.safetensors")), 2);
    cr_assert_eq(CONVERT("-q", fixture, test_tmpdir_path("x.gguf")), 2);
    cr_assert_eq(access(out, F_OK), -1);
}

/* The output does not depend on the thread count: whole files compared. */
Test(gguf_convert, same_bytes_for_any_thread_count) {
    NEED(model, SYN);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", test_tmpdir_path("t1.gguf"));
    snprintf(b, sizeof b, "%s", test_tmpdir_path("t2.gguf"));
    cr_assert_eq(CONVERT("-q", "-j", "1", "-e", "q4_k_m", model, a), 0, "%s", err_text);
    cr_assert_eq(CONVERT("-q", "-j", "3", "-e", "q4_k_m", model, b), 0, "%s", err_text);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    cr_assert(fa && fb);
    int ca, cb;
    uint64_t at = 0;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        cr_assert_eq(ca, cb, "files differ at byte %llu", (unsigned long long)at);
        at++;
    } while (ca != EOF);
    fclose(fa);
    fclose(fb);
}
