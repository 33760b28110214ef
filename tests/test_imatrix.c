/* llama.cpp importance matrices (checkpoint/imatrix.h): the GGUF and legacy
 * .dat files of the same llama-imatrix run give bit-identical vectors; hand
 * values; and hostile files (GGUF built with tests/support/gguf.h, .dat
 * byte by byte), each a named error naming the weight. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint/gguf.h"
#include "checkpoint/imatrix.h"
#include <stdint.h>
#include "support/gguf.h"
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>
#include "support/files.h"

TestSuite(imatrix);


Test(imatrix, gguf_and_dat_give_identical_vectors) {
    TS_NEED(pg, "gguf/aidreams-260k/imatrix.gguf");
    TS_NEED(pd, "gguf/aidreams-260k/imatrix.dat");
    qtf_imatrix *a, *b;
    cr_assert_eq(qtf_imatrix_open(&a, pg), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_imatrix_open(&b, pd), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_imatrix_get_format(a), QTF_IMATRIX_GGUF);
    cr_assert_eq(qtf_imatrix_get_format(b), QTF_IMATRIX_LEGACY);
    cr_assert_eq(qtf_imatrix_count(a), 28); /* 4 layers x 7 matrices */
    cr_assert_eq(qtf_imatrix_count(b), 28);
    cr_assert_eq(qtf_imatrix_chunk_count(a), 24);
    cr_assert_eq(qtf_imatrix_chunk_count(b), 24);
    for (uint64_t i = 0; i < qtf_imatrix_count(a); i++) {
        const qtf_imatrix_entry *e = qtf_imatrix_get(a, i), *f = qtf_imatrix_find(b, e->name);
        cr_assert(f, "%s only in the GGUF", e->name);
        cr_assert_eq(e->n, strstr(e->name, "ffn_down") ? 172u : 64u, "%s", e->name);
        cr_assert_eq(f->n, e->n);
        cr_assert_eq(e->n_experts, 1);
        cr_assert_eq(e->uniform, 0);
        cr_assert(memcmp(e->values, f->values, e->n * sizeof(float)) == 0, "%s differs", e->name);
    }
    /* hand value: the .dat stores 30.53066635131836 for blk.0.attn_k.weight[0]
     * with ncall 24; llama-quantize divides in float */
    const qtf_imatrix_entry *k = qtf_imatrix_find(b, "blk.0.attn_k.weight");
    cr_assert(k);
    cr_assert_eq(k->values[0], 30.53066635131836f / 24.0f);
    cr_assert_null(qtf_imatrix_find(a, "token_embd.weight"));
    qtf_imatrix_close(a);
    qtf_imatrix_close(b);
}

Test(imatrix, synth_gguf) {
    TS_NEED(p, "gguf/synth/imatrix.gguf");
    qtf_imatrix *m;
    cr_assert_eq(qtf_imatrix_open(&m, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_imatrix_count(m), 7);
    const qtf_imatrix_entry *e = qtf_imatrix_find(m, "blk.0.ffn_down.weight");
    cr_assert(e);
    cr_assert_eq(e->n, 512);
    e = qtf_imatrix_find(m, "blk.0.attn_q.weight");
    cr_assert(e);
    cr_assert_eq(e->n, 256);
    for (uint64_t j = 0; j < e->n; j++) cr_assert(e->values[j] > 0.0f && isfinite(e->values[j]));
    qtf_imatrix_close(m);
}

Test(imatrix, model_file_is_not_an_imatrix) {
    TS_NEED(p, "gguf/synth/model-Q8_0.gguf");
    qtf_imatrix *m;
    cr_assert_eq(qtf_imatrix_open(&m, p), QTF_E_VALUE);
    cr_assert(strstr(qtf_error_detail(), "general.type is 'model', expected 'imatrix'"), "%s",
              qtf_error_detail());
}

/* --- hostile GGUF imatrix files -------------------------------------------------- */

static void kv_imatrix(gb *b) {
    gb_key(b, "general.type", GB_STRING);
    gb_str(b, "imatrix");
}

static float sums4[4] = { 2.0f, 4.0f, 6.0f, 8.0f };
static float counts1[1] = { 2.0f };

/* One weight "w.weight": in_sum2 (4 values), counts (1 value). */
static gb_spec spec_imatrix(const float *sums, const float *counts, uint32_t ncounts) {
    gb_spec s = gb_default();
    s.with_tokenizer = 0;
    s.extra_kv = kv_imatrix;
    s.n_extra_kv = 1;
    s.n_tensors = 2;
    s.tensors[0] = (gb_tensor){ "w.weight.in_sum2", 1, { 4, 1, 1, 1 }, QTF_GGML_F32, 16, 0, 0, 0,
                                sums };
    s.tensors[1] = (gb_tensor){ "w.weight.counts", 1, { ncounts, 1, 1, 1 }, QTF_GGML_F32,
                                4 * ncounts, 0, 0, 0, counts };
    return s;
}

static qtf_status open_spec(const gb_spec *s, qtf_imatrix **m) {
    gb b;
    gb_build(&b, s);
    qtf_status st = qtf_imatrix_open_memory(m, b.p, b.len, "im.gguf");
    free(b.p);
    return st;
}

static void expect(const gb_spec *s, qtf_status want, const char *needle) {
    qtf_imatrix *m = NULL;
    qtf_status st = open_spec(s, &m);
    cr_assert_eq(st, want, "got %s: %s", qtf_status_name(st), qtf_error_detail());
    cr_assert(strstr(qtf_error_detail(), needle), "detail lacks '%s': %s", needle, qtf_error_detail());
    cr_assert(strstr(qtf_error_detail(), "im.gguf"));
}

Test(imatrix, built_gguf_hand_values) {
    gb_spec s = spec_imatrix(sums4, counts1, 1);
    qtf_imatrix *m;
    cr_assert_eq(open_spec(&s, &m), QTF_OK, "%s", qtf_error_detail());
    const qtf_imatrix_entry *e = qtf_imatrix_find(m, "w.weight");
    cr_assert(e);
    float want[4] = { 1.0f, 2.0f, 3.0f, 4.0f };
    cr_assert(memcmp(e->values, want, sizeof want) == 0);
    qtf_imatrix_close(m);
    /* a count of 0: llama-quantize weights the expert uniformly (1.0) */
    static float zero[1] = { 0.0f };
    s = spec_imatrix(sums4, zero, 1);
    cr_assert_eq(open_spec(&s, &m), QTF_OK);
    e = qtf_imatrix_get(m, 0);
    cr_assert_eq(e->uniform, 1);
    for (int j = 0; j < 4; j++) cr_assert_eq(e->values[j], 1.0f);
    qtf_imatrix_close(m);
    /* two experts of 2 values, counts rounded with lround (2.6 -> 3) */
    static float c2[2] = { 1.0f, 2.6f };
    s = spec_imatrix(sums4, c2, 2);
    cr_assert_eq(open_spec(&s, &m), QTF_OK);
    e = qtf_imatrix_get(m, 0);
    cr_assert_eq(e->n_experts, 2);
    cr_assert_eq(e->values[1], 4.0f);
    cr_assert_eq(e->values[2], 6.0f / 3.0f);
    qtf_imatrix_close(m);
}

Test(imatrix, nan_negative_allzero_sums) {
    static float nan_s[4] = { 1.0f, NAN, 1.0f, 1.0f };
    gb_spec s = spec_imatrix(nan_s, counts1, 1);
    expect(&s, QTF_E_NUMERIC, "importance of 'w.weight': value 1 is nan");
    static float neg_s[4] = { 1.0f, 1.0f, -1.0f, 1.0f };
    s = spec_imatrix(neg_s, counts1, 1);
    expect(&s, QTF_E_VALUE, "importance of 'w.weight': value 2 is -1");
    static float zero_s[4] = { 0 };
    s = spec_imatrix(zero_s, counts1, 1);
    expect(&s, QTF_E_VALUE, "importance of 'w.weight': all 4 values are zero");
    static float inf_s[4] = { INFINITY, 1, 1, 1 };
    s = spec_imatrix(inf_s, counts1, 1);
    expect(&s, QTF_E_NUMERIC, "value 0 is inf");
}

Test(imatrix, bad_counts) {
    static float neg_c[1] = { -3.0f };
    gb_spec s = spec_imatrix(sums4, neg_c, 1);
    expect(&s, QTF_E_VALUE, "importance of 'w.weight': count 0 is -3");
    static float nan_c[1] = { NAN };
    s = spec_imatrix(sums4, nan_c, 1);
    expect(&s, QTF_E_NUMERIC, "count 0 is nan");
    static float huge_c[1] = { 1e30f };
    s = spec_imatrix(sums4, huge_c, 1);
    expect(&s, QTF_E_VALUE, "count 0 is 1e+30");
    static float c3[3] = { 1, 1, 1 };
    s = spec_imatrix(sums4, c3, 3);
    expect(&s, QTF_E_SHAPE, "4 sums and 3 counts");
}

Test(imatrix, missing_or_mistyped_tensors) {
    gb_spec s = spec_imatrix(sums4, counts1, 1);
    s.n_tensors = 1;
    expect(&s, QTF_E_NOT_FOUND, "'w.weight.in_sum2' has no 'w.weight.counts'");
    s = spec_imatrix(sums4, counts1, 1);
    s.tensors[0] = s.tensors[1];
    s.tensors[0].name = "v.weight.counts";
    expect(&s, QTF_E_NOT_FOUND, "'v.weight.counts' has no 'v.weight.in_sum2'");
    s = spec_imatrix(sums4, counts1, 1);
    s.tensors[0].type = QTF_GGML_F16;
    s.tensors[0].ne[0] = 8;
    expect(&s, QTF_E_TYPE, "tensor 'w.weight.in_sum2' is F16, expected F32");
    s = spec_imatrix(sums4, counts1, 1);
    s.n_tensors = 0;
    expect(&s, QTF_E_NOT_FOUND, "no NAME.in_sum2 tensors");
}

static void kv_model(gb *b) {
    gb_key(b, "general.type", GB_STRING);
    gb_str(b, "model");
}

Test(imatrix, not_an_imatrix_gguf) {
    gb_spec s = spec_imatrix(sums4, counts1, 1);
    s.extra_kv = kv_model;
    expect(&s, QTF_E_VALUE, "general.type is 'model'");
    s.extra_kv = NULL;
    s.n_extra_kv = 0;
    expect(&s, QTF_E_NOT_FOUND, "not a llama-imatrix file");
}

/* --- legacy .dat ----------------------------------------------------------------- */

static void dat_entry(gb *b, const char *name, int32_t ncall, int32_t nval, const float *v) {
    gb_u32(b, (uint32_t)strlen(name));
    gb_bytes(b, name, strlen(name));
    gb_u32(b, (uint32_t)ncall);
    gb_u32(b, (uint32_t)nval);
    for (int32_t j = 0; j < nval; j++) gb_f32(b, v[j]);
}

static gb dat_file(int32_t n_entries, int trailer) {
    gb b = { 0 };
    gb_u32(&b, (uint32_t)n_entries);
    dat_entry(&b, "blk.0.attn_q.weight", 4, 4, sums4);
    dat_entry(&b, "blk.0.attn_k.weight", 0, 4, sums4);
    if (trailer) {
        gb_u32(&b, 4);
        gb_u32(&b, 8);
        gb_bytes(&b, "text.txt", 8);
    }
    return b;
}

Test(imatrix, legacy_hand_values_and_trailer) {
    for (int trailer = 0; trailer < 2; trailer++) {
        gb b = dat_file(2, trailer);
        qtf_imatrix *m;
        cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_OK, "%s",
                     qtf_error_detail());
        cr_assert_eq(qtf_imatrix_get_format(m), QTF_IMATRIX_LEGACY);
        cr_assert_eq(qtf_imatrix_chunk_count(m), trailer ? 4u : 0u);
        const qtf_imatrix_entry *q = qtf_imatrix_find(m, "blk.0.attn_q.weight");
        cr_assert_eq(q->values[3], 2.0f);       /* 8 / 4 */
        const qtf_imatrix_entry *k = qtf_imatrix_find(m, "blk.0.attn_k.weight");
        cr_assert_eq(k->values[3], 8.0f);       /* ncall 0: raw values, as llama-quantize */
        qtf_imatrix_close(m);
        free(b.p);
    }
}

Test(imatrix, legacy_truncated_at_every_byte) {
    gb b = dat_file(2, 1);
    for (size_t n = 0; n < b.len; n++) {
        qtf_imatrix *m;
        qtf_status st = qtf_imatrix_open_memory(&m, b.p, n, "im.dat");
        /* a prefix ending exactly after the entries is a valid file without trailer */
        if (n == b.len - 16) {
            cr_assert_eq(st, QTF_OK, "%zu: %s", n, qtf_error_detail());
            qtf_imatrix_close(m);
            continue;
        }
        cr_assert_neq(st, QTF_OK, "prefix %zu accepted", n);
        cr_assert(st == QTF_E_TRUNCATED || st == QTF_E_VALUE, "prefix %zu: %s: %s", n,
                  qtf_status_name(st), qtf_error_detail());
    }
    free(b.p);
}

Test(imatrix, legacy_hostile) {
    qtf_imatrix *m;
    gb b = dat_file(0, 0);
    cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_E_VALUE);
    free(b.p);
    b = dat_file(1000000, 0);
    cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "entry count 1000000"));
    free(b.p);
    /* a name length beyond the file */
    b = (gb){ 0 };
    gb_u32(&b, 1);
    gb_u32(&b, 0x7fffffff);
    gb_bytes(&b, "abcdefghijklmnopqrstu", 21);
    cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_E_LIMIT);
    free(b.p);
    /* value count beyond the file; negative call count; duplicate names */
    b = (gb){ 0 };
    gb_u32(&b, 1);
    dat_entry(&b, "x.weight", 1, 1, sums4);
    b.p[4 + 4 + 8 + 4] = 0xff; /* nval low byte: 255 values */
    cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "importance of 'x.weight'"), "%s", qtf_error_detail());
    free(b.p);
    b = (gb){ 0 };
    gb_u32(&b, 1);
    dat_entry(&b, "x.weight", -5, 4, sums4);
    cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_E_VALUE);
    cr_assert(strstr(qtf_error_detail(), "call count -5"));
    free(b.p);
    b = (gb){ 0 };
    gb_u32(&b, 2);
    dat_entry(&b, "x.weight", 1, 4, sums4);
    dat_entry(&b, "x.weight", 1, 4, sums4);
    cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_E_DUPLICATE);
    cr_assert(strstr(qtf_error_detail(), "'x.weight' is given twice"));
    free(b.p);
    static float negv[4] = { 1, -2, 3, 4 };
    b = (gb){ 0 };
    gb_u32(&b, 1);
    dat_entry(&b, "x.weight", 1, 4, negv);
    cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_E_VALUE);
    cr_assert(strstr(qtf_error_detail(), "importance of 'x.weight': value 1 is -2"));
    free(b.p);
    /* trailing garbage after the trailer */
    b = dat_file(2, 1);
    gb_u8(&b, 1);
    cr_assert_eq(qtf_imatrix_open_memory(&m, b.p, b.len, "im.dat"), QTF_E_OFFSET);
    free(b.p);
}
