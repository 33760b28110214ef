/* Checkpoint sources: folder layout detection, sharded index rules, reading
 * and converting data, .qtf sources, and the real checkpoints in
 * $QTF_SHARED_CHECKPOINTS (F32, sharded, pytorch .bin, F16, BF16, GPT-2). */
#include <math.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include "support/container.h"
#include "support/files.h"
#include "support/source.h"

#include "checkpoint/source.h"
#include "checkpoint/source_internal.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmtree(dir); }
TestSuite(source, .init = setup, .fini = teardown);

/* A shard holding F32 tensors of shape [2] with values (k, k + 0.5). */
static void write_shard(const char *name, const char *const *tensors, int n) {
    char *p = tu_path(dir, name);
    float v[8][2];
    ts_st_tensor t[8];
    cr_assert_leq(n, 8);
    for (int k = 0; k < n; k++) {
        v[k][0] = (float)k;
        v[k][1] = (float)k + 0.5f;
        t[k] = (ts_st_tensor){tensors[k], QTF_DTYPE_F32, 1, {2}, v[k]};
    }
    ts_write_safetensors(p, t, (size_t)n);
    free(p);
}

static void write_text(const char *name, const char *text) {
    char *p = tu_path(dir, name);
    tu_write(p, text, strlen(text));
    free(p);
}

static void good_shards(void) {
    static const char *s1[] = {"a", "b"}, *s2[] = {"c"};
    write_shard("model-00001-of-00002.safetensors", s1, 2);
    write_shard("model-00002-of-00002.safetensors", s2, 1);
}

#define INDEX_HEAD "{\"metadata\":{\"total_size\":24},\"weight_map\":{"

static qtf_status open_dir(qtf_source **s) {
    *s = NULL;
    return qtf_source_open(s, dir);
}

static void expect_dir_fails(qtf_status want, const char *n1, const char *n2) {
    qtf_source *s;
    qtf_status st = open_dir(&s);
    cr_assert_eq(st, want, "got %s: %s", qtf_status_name(st), qtf_error_detail());
    cr_assert_null(s);
    if (n1) cr_assert(strstr(qtf_error_detail(), n1), "'%s' lacks '%s'", qtf_error_detail(), n1);
    if (n2) cr_assert(strstr(qtf_error_detail(), n2), "'%s' lacks '%s'", qtf_error_detail(), n2);
}

Test(source, sharded_folder_reads_in_shard_then_offset_order) {
    good_shards();
    write_text("model.safetensors.index.json", INDEX_HEAD
               "\"c\":\"model-00002-of-00002.safetensors\","
               "\"b\":\"model-00001-of-00002.safetensors\","
               "\"a\":\"model-00001-of-00002.safetensors\"}}");
    qtf_source *s;
    cr_assert_eq(open_dir(&s), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_SAFETENSORS_SHARDED);
    cr_assert_str_eq(qtf_source_kind_name(qtf_source_get_kind(s)), "safetensors-sharded");
    cr_assert_str_eq(qtf_source_dir(s), dir);
    cr_assert_eq(qtf_source_file_count(s), 2);
    cr_assert_str_eq(qtf_source_file_name(s, 0), "model-00001-of-00002.safetensors");
    cr_assert_eq(qtf_source_tensor_count(s), 3);
    const char *order[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) cr_assert_str_eq(qtf_source_tensor_get(s, (uint64_t)i)->name,
                                                 order[i]);
    cr_assert_eq(qtf_source_tensor_get(s, 2)->file_index, 1);
    uint64_t i;
    cr_assert_eq(qtf_source_tensor_find(&i, s, "b"), QTF_OK);
    float v[2];
    cr_assert_eq(qtf_source_read_f32(v, 2, s, i, 1), QTF_OK);
    cr_assert_eq(v[0], 1.0f);
    cr_assert_eq(v[1], 1.5f);
    cr_assert_eq(qtf_source_read_f32(v, 3, s, i, 1), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_source_tensor_find(&i, s, "zz"), QTF_E_NOT_FOUND);
    cr_assert_null(qtf_source_tensor_get(s, 3));
    cr_assert_null(qtf_source_qtf_file(s));
    qtf_source_close(s);
}

/* transformers' order (issue 11, item 5): the single file wins, and the
 * source says so, naming both. */
Test(source, single_file_preferred_over_index_as_in_transformers) {
    good_shards();
    static const char *one[] = {"only"};
    write_shard("model.safetensors", one, 1);
    write_text("model.safetensors.index.json", INDEX_HEAD
               "\"a\":\"model-00001-of-00002.safetensors\","
               "\"b\":\"model-00001-of-00002.safetensors\","
               "\"c\":\"model-00002-of-00002.safetensors\"}}");
    qtf_source *s;
    cr_assert_eq(open_dir(&s), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_SAFETENSORS);
    cr_assert_eq(qtf_source_tensor_count(s), 1);
    const char *note = qtf_source_note(s);
    cr_assert(note && strstr(note, "both model.safetensors and model.safetensors.index.json"),
              "%s", note ? note : "(no note)");
    qtf_source_close(s);
}

Test(source, shard_names_must_be_plain_file_names) {
    good_shards();
    const char *bad[] = {"../x.safetensors", "sub/x.safetensors", "x\\\\y", "", "..", "a..b"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char text[256];
        snprintf(text, sizeof text, INDEX_HEAD "\"a\":\"%s\"}}", bad[k]);
        write_text("model.safetensors.index.json", text);
        expect_dir_fails(QTF_E_VALUE, "weight_map['a']", "plain file name");
    }
    write_text("model.safetensors.index.json", INDEX_HEAD "\"a\":\"x\\u0000y\"}}");
    expect_dir_fails(QTF_E_PARSE, "model.safetensors.index.json", NULL);
}

Test(source, missing_shard_file) {
    good_shards();
    write_text("model.safetensors.index.json", INDEX_HEAD
               "\"a\":\"model-00001-of-00002.safetensors\","
               "\"b\":\"model-00001-of-00002.safetensors\","
               "\"c\":\"model-00003-of-00003.safetensors\"}}");
    expect_dir_fails(QTF_E_NOT_FOUND, "model-00003-of-00003.safetensors", "does not exist");
}

Test(source, tensor_of_index_missing_from_shards) {
    good_shards();
    write_text("model.safetensors.index.json", INDEX_HEAD
               "\"a\":\"model-00001-of-00002.safetensors\","
               "\"b\":\"model-00001-of-00002.safetensors\","
               "\"c\":\"model-00002-of-00002.safetensors\","
               "\"d\":\"model-00002-of-00002.safetensors\"}}");
    expect_dir_fails(QTF_E_NOT_FOUND, "tensor 'd'", "no shard holds it");
}

Test(source, shard_tensor_not_listed_in_index) {
    good_shards();
    write_text("model.safetensors.index.json", INDEX_HEAD
               "\"a\":\"model-00001-of-00002.safetensors\","
               "\"c\":\"model-00002-of-00002.safetensors\"}}");
    expect_dir_fails(QTF_E_VALUE, "tensor 'b' is not listed", "model-00001-of-00002");
}

Test(source, tensor_duplicated_across_shards) {
    static const char *s1[] = {"a", "b"}, *s2[] = {"b"};
    write_shard("s1.safetensors", s1, 2);
    write_shard("s2.safetensors", s2, 1);
    write_text("model.safetensors.index.json", INDEX_HEAD
               "\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}");
    expect_dir_fails(QTF_E_DUPLICATE, "tensor 'b' appears twice", "s2.safetensors");
}

Test(source, tensor_in_a_different_shard_than_mapped) {
    good_shards();
    write_text("model.safetensors.index.json", INDEX_HEAD
               "\"a\":\"model-00001-of-00002.safetensors\","
               "\"b\":\"model-00002-of-00002.safetensors\","
               "\"c\":\"model-00002-of-00002.safetensors\"}}");
    expect_dir_fails(QTF_E_VALUE, "tensor 'b' is mapped to model-00002-of-00002.safetensors",
                     "found in model-00001-of-00002.safetensors");
}

Test(source, index_structure_errors) {
    good_shards();
    write_text("model.safetensors.index.json", "{\"metadata\":{}}");
    expect_dir_fails(QTF_E_PARSE, "weight_map", NULL);
    write_text("model.safetensors.index.json", INDEX_HEAD "\"a\":3}}");
    expect_dir_fails(QTF_E_TYPE, "weight_map['a'] must be a string", NULL);
    write_text("model.safetensors.index.json",
               INDEX_HEAD "\"a\":\"s.safetensors\",\"a\":\"s.safetensors\"}}");
    expect_dir_fails(QTF_E_PARSE, "duplicate", NULL);
    write_text("model.safetensors.index.json", INDEX_HEAD "}}");
    expect_dir_fails(QTF_E_VALUE, "lists no tensors", NULL);
}

Test(source, folder_without_checkpoint_lists_what_was_looked_for) {
    write_text("config.json", "{}");
    expect_dir_fails(QTF_E_NOT_FOUND, "model.safetensors.index.json, model.safetensors, "
                     "pytorch_model.bin.index.json, pytorch_model.bin", NULL);
    qtf_source *s = NULL;
    char *p = tu_path(dir, "nope");
    cr_assert_eq(qtf_source_open(&s, p), QTF_E_IO);
    cr_assert(strstr(qtf_error_detail(), p));
    free(p);
}

Test(source, bare_pickle_is_refused_clearly) {
    write_text("pytorch_model.bin", "\x80\x02}q\x00.");
    expect_dir_fails(QTF_E_UNSUPPORTED, "before 1.6", NULL);
}

Test(source, large_bf16_tensor_converts_in_chunks_exactly) {
    /* 5M elements: the 8 MiB conversion buffer is refilled twice. */
    const uint64_t n = 5u << 20;
    uint16_t *h = malloc(n * 2);
    for (uint64_t i = 0; i < n; i++) {
        h[i] = (uint16_t)(i * 2654435761u >> 16);
        if ((h[i] & 0x7F80) == 0x7F80) h[i] &= 0xBFFF; /* NaN payloads are quieted: avoid */
    }
    char *p = tu_path(dir, "big.safetensors");
    qtf_st_writer *w = ts_st_writer(p);
    uint64_t d[2] = {5, 1u << 20};
    cr_assert_eq(qtf_st_writer_declare(w, "w", QTF_DTYPE_BF16, 2, d), QTF_OK);
    cr_assert_eq(qtf_st_writer_write(w, h, n * 2), QTF_OK);
    cr_assert_eq(qtf_st_writer_finish(w), QTF_OK);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    float *f = malloc(n * sizeof *f);
    cr_assert_eq(qtf_source_read_f32(f, n, s, 0, 1), QTF_OK, "%s", qtf_error_detail());
    for (uint64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &f[i], 4);
        if (bits != (uint32_t)h[i] << 16)
            cr_assert_fail("element %llu: 0x%08x from bf16 0x%04x", (unsigned long long)i, bits,
                           h[i]);
    }
    qtf_source_close(s);
    free(f);
    free(h);
    free(p);
}

Test(source, integer_tensors_keep_type_and_convert) {
    char *p = tu_path(dir, "ints.safetensors");
    int64_t v[3] = {-7, 0, 123456};
    ts_write_safetensors(p, &(ts_st_tensor){"pos", QTF_DTYPE_I64, 1, {3}, v}, 1);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK);
    cr_assert_eq(qtf_source_tensor_get(s, 0)->dtype, QTF_DTYPE_I64);
    cr_assert_eq(qtf_source_tensor_get(s, 0)->nbytes, 24);
    float f[3];
    cr_assert_eq(qtf_source_read_f32(f, 3, s, 0, 1), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(f[0], -7.0f);
    cr_assert_eq(f[2], 123456.0f);
    int64_t back[3];
    cr_assert_eq(qtf_source_read_raw(back, 24, s, 0), QTF_OK);
    cr_assert_eq(memcmp(back, v, 24), 0);
    cr_assert_eq(qtf_source_read_raw(back, 16, s, 0), QTF_E_INVALID_ARG);
    qtf_source_close(s);
    free(p);
}

Test(source, qtf_file_as_source) {
    char *p = tu_path(dir, "m.qtf");
    qtf_writer *w = ts_writer(p);
    float a[8] = {1, -2, 3.5f, 0, 0.25f, 7, -8, 9};
    uint64_t dims[2] = {2, 4};
    qtf_encoding f32 = ts_parse("f32"), q8 = ts_parse("q8_0");
    cr_assert_eq(tu_add(w, "plain", 2, dims, &f32, a, sizeof a, 0), QTF_OK, "%s",
                 qtf_error_detail());
    float big[64];
    for (int i = 0; i < 64; i++) big[i] = (float)i / 8.0f - 3.0f;
    uint64_t bd[2] = {2, 32};
    cr_assert_eq(ts_add_quantized(w, "quant", &q8, big, 2, bd, QTF_DTYPE_BF16, 0), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());

    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_QTF);
    cr_assert_not_null(qtf_source_qtf_file(s));
    cr_assert_eq(qtf_source_tensor_count(s), 2);
    uint64_t i;
    cr_assert_eq(qtf_source_tensor_find(&i, s, "plain"), QTF_OK);
    float back[8];
    cr_assert_eq(qtf_source_read_raw(back, sizeof back, s, i), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(memcmp(back, a, sizeof a), 0);
    cr_assert_eq(qtf_source_tensor_find(&i, s, "quant"), QTF_OK);
    const qtf_source_tensor *t = qtf_source_tensor_get(s, i);
    cr_assert_eq(t->dtype, QTF_DTYPE_BF16, "dtype is the recorded source type");
    uint16_t raw[64];
    cr_assert_eq(qtf_source_read_raw(raw, sizeof raw, s, i), QTF_E_UNSUPPORTED);
    cr_assert(strstr(qtf_error_detail(), "quant"), "%s", qtf_error_detail());
    float deq[64];
    cr_assert_eq(qtf_source_read_f32(deq, 64, s, i, 1), QTF_OK, "%s", qtf_error_detail());
    for (int k = 0; k < 64; k++) cr_assert_float_eq(deq[k], big[k], 0.03, "element %d", k);
    qtf_source_close(s);
    free(p);
}

/* --- real checkpoints -------------------------------------------------------- */

static qtf_source *open_shared(const char *sub) {
    const char *p = ts_checkpoint(sub);
    if (!p) cr_skip_test("no $QTF_SHARED_CHECKPOINTS/%s", sub);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s: %s", sub, qtf_error_detail());
    return s;
}

static float *read_all(const qtf_source *s, uint64_t i) {
    const qtf_source_tensor *t = qtf_source_tensor_get(s, i);
    float *f = malloc(t->n_elements * sizeof *f + 1);
    cr_assert_eq(qtf_source_read_f32(f, t->n_elements, s, i, 1), QTF_OK, "%s: %s", t->name,
                 qtf_error_detail());
    return f;
}

/* Bit-identical f32 values (ctx: non-NULL) or f32 values that read (NULL). */
static void same_f32(const qtf_source *a, uint64_t i, const qtf_source *b, uint64_t j, void *exact) {
    const qtf_source_tensor *ta = qtf_source_tensor_get(a, i);
    float *x = read_all(a, i), *y = read_all(b, j);
    if (exact) cr_assert_eq(memcmp(x, y, ta->n_elements * 4), 0, "%s differs", ta->name);
    free(x);
    free(y);
}

/* Same names, shapes and bit-identical f32 values; returns tensors compared. */
static uint64_t compare_sources(const qtf_source *a, const qtf_source *b, int exact) {
    return ts_source_pairs(a, b, same_f32, exact ? (void *)b : NULL);
}

Test(source, shared_f32_sharded_and_pytorch_bin_are_identical) {
    qtf_source *f32 = open_shared("aidreams-llama-260k-hf");
    qtf_source *sh = open_shared("aidreams-llama-260k-hf-sharded");
    qtf_source *pt = open_shared("aidreams-llama-260k-hf-pytorch-bin");
    cr_assert_eq(qtf_source_get_kind(sh), QTF_SOURCE_SAFETENSORS_SHARDED);
    cr_assert_eq(qtf_source_file_count(sh), 4);
    cr_assert_eq(qtf_source_get_kind(pt), QTF_SOURCE_TORCH);
    /* Tied embeddings: no copy of the model stores lm_head, so the sets match. */
    uint64_t i;
    cr_assert_eq(qtf_source_tensor_find(&i, f32, "lm_head.weight"), QTF_E_NOT_FOUND);
    cr_assert_eq(compare_sources(f32, sh, 1), 38);
    cr_assert_eq(compare_sources(f32, pt, 1), 38);
    cr_assert_eq(qtf_source_tensor_find(&i, pt, "model.layers.0.mlp.gate_proj.weight"), QTF_OK);
    const qtf_source_tensor *t = qtf_source_tensor_get(pt, i);
    cr_assert_eq(t->dims[0], 172);
    cr_assert_eq(t->dims[1], 64);
    cr_assert_eq(t->dtype, QTF_DTYPE_F32);
    qtf_source_close(f32);
    qtf_source_close(sh);
    qtf_source_close(pt);
}

static void check_half_copy(const char *sub, qtf_dtype dt, float (*widen)(uint16_t)) {
    qtf_source *f32 = open_shared("aidreams-llama-260k-hf");
    qtf_source *h = open_shared(sub);
    cr_assert_eq(compare_sources(f32, h, 0), 38);
    for (uint64_t i = 0; i < qtf_source_tensor_count(h); i++) {
        const qtf_source_tensor *t = qtf_source_tensor_get(h, i);
        cr_assert_eq(t->dtype, dt);
        uint16_t *raw = malloc(t->nbytes);
        cr_assert_eq(qtf_source_read_raw(raw, t->nbytes, h, i), QTF_OK);
        float *f = read_all(h, i);
        for (uint64_t k = 0; k < t->n_elements; k++) {
            float want = widen(raw[k]);
            if (memcmp(&want, &f[k], 4) != 0)
                cr_assert_fail("%s[%llu]: %a, want %a", t->name, (unsigned long long)k, f[k],
                               want);
        }
        /* The half copy is the f32 original rounded to nearest. */
        uint64_t j;
        cr_assert_eq(qtf_source_tensor_find(&j, f32, t->name), QTF_OK);
        float *o = read_all(f32, j);
        for (uint64_t k = 0; k < t->n_elements; k++) {
            uint16_t r = dt == QTF_DTYPE_F16 ? qtf_f32_to_f16(o[k]) : qtf_f32_to_bf16(o[k]);
            if (r != raw[k])
                cr_assert_fail("%s[%llu]: stored 0x%04x, rounding the f32 gives 0x%04x", t->name,
                               (unsigned long long)k, raw[k], r);
        }
        free(o);
        free(f);
        free(raw);
    }
    qtf_source_close(f32);
    qtf_source_close(h);
}

Test(source, shared_f16_copy_converts_exactly) {
    check_half_copy("aidreams-llama-260k-hf-f16", QTF_DTYPE_F16, qtf_f16_to_f32);
}

Test(source, shared_bf16_copy_converts_exactly) {
    check_half_copy("aidreams-llama-260k-hf-bf16", QTF_DTYPE_BF16, qtf_bf16_to_f32);
}

Test(source, shared_gpt2_tiny_reads) {
    qtf_source *s = open_shared("capp-gpt2-tiny-hf");
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_SAFETENSORS);
    uint64_t total = 0;
    for (uint64_t i = 0; i < qtf_source_tensor_count(s); i++) {
        const qtf_source_tensor *t = qtf_source_tensor_get(s, i);
        float *f = read_all(s, i);
        for (uint64_t k = 0; k < t->n_elements; k++) cr_assert(isfinite(f[k]));
        total += t->n_elements;
        free(f);
    }
    cr_assert_eq(total, 236224, "parameter count of the README");
    qtf_source_close(s);
}

Test(source, shared_single_file_opened_directly) {
    const char *p = ts_checkpoint("aidreams-llama-260k-hf-pytorch-bin/pytorch_model.bin");
    if (!p) cr_skip_test("no shared checkpoints");
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_TORCH);
    cr_assert_str_eq(qtf_source_file_name(s, 0), "pytorch_model.bin");
    cr_assert(strstr(qtf_source_dir(s), "aidreams-llama-260k-hf-pytorch-bin"));
    cr_assert_eq(qtf_source_tensor_count(s), 38);
    qtf_source_close(s);
}

Test(source, shards_may_be_symlinks_as_in_the_hub_cache) {
    static const char *s1[] = {"a"};
    write_shard("blob-1234", s1, 1);
    char *blob = tu_path(dir, "blob-1234"), *link = tu_path(dir, "model-1.safetensors");
    cr_assert_eq(symlink("blob-1234", link), 0);
    write_text("model.safetensors.index.json", INDEX_HEAD "\"a\":\"model-1.safetensors\"}}");
    qtf_source *s;
    cr_assert_eq(open_dir(&s), QTF_OK, "%s", qtf_error_detail());
    cr_assert_str_eq(qtf_source_file_name(s, 0), "model-1.safetensors");
    qtf_source_close(s);
    free(blob);
    free(link);
}

Test(source, file_shrinking_after_open_is_a_clean_error) {
    static const char *names[] = {"a", "b"};
    write_shard("model.safetensors", names, 2);
    qtf_source *s;
    cr_assert_eq(open_dir(&s), QTF_OK, "%s", qtf_error_detail());
    char *p = tu_path(dir, "model.safetensors");
    uint64_t size = qtf_source_file_size(s, 0);
    cr_assert_eq(truncate(p, (off_t)size - 4), 0);
    uint64_t i;
    cr_assert_eq(qtf_source_tensor_find(&i, s, "b"), QTF_OK);
    float v[2];
    cr_assert_eq(qtf_source_read_f32(v, 2, s, i, 1), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "tensor 'b'"), "%s", qtf_error_detail());
    cr_assert(strstr(qtf_error_detail(), p), "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_tensor_find(&i, s, "a"), QTF_OK);
    cr_assert_eq(qtf_source_read_f32(v, 2, s, i, 1), QTF_OK, "earlier bytes are intact");
    qtf_source_close(s);
    free(p);
}
