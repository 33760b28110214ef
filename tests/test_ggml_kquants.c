/* ggml K-quants (format/ggml_kquants.c): hand-checked tiny blocks per type,
 * row-split invariance, and byte/bit identity with real llama.cpp output in
 * ../shared/gguf (skipped visibly when that folder is absent). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "format/ggml_kquants.h"
#include <stdint.h>
#include "support/files.h"
#include "support/gguf.h"
#include "checkpoint/source.h"

typedef void (*quant_fn)(const float *, void *, int64_t, int64_t, const float *);
typedef void (*dequant_fn)(const void *, float *, int64_t);

typedef struct kq_type {
    const char *name;
    uint32_t ggml_type;
    size_t bytes;
    quant_fn quantize;
    dequant_fn dequantize;
} kq_type;

static const kq_type TYPES[5] = {
    {"Q2_K", 10, 84, qtf__ggml_quantize_q2_k, qtf__ggml_dequantize_q2_k},
    {"Q3_K", 11, 110, qtf__ggml_quantize_q3_k, qtf__ggml_dequantize_q3_k},
    {"Q4_K", 12, 144, qtf__ggml_quantize_q4_k, qtf__ggml_dequantize_q4_k},
    {"Q5_K", 13, 176, qtf__ggml_quantize_q5_k, qtf__ggml_dequantize_q5_k},
    {"Q6_K", 14, 210, qtf__ggml_quantize_q6_k, qtf__ggml_dequantize_q6_k},
};

static const kq_type *type_of(uint32_t ggml_type) {
    for (int i = 0; i < 5; i++)
        if (TYPES[i].ggml_type == ggml_type) return &TYPES[i];
    return NULL;
}

static float f16_value(const uint8_t *p) {
    /* the normal f16 values used below: sign 0, exponent e, mantissa m */
    const unsigned h = (unsigned)(p[0] | (p[1] << 8));
    return ldexpf(1.0f + (float)(h & 0x3ff) / 1024.0f, (int)((h >> 10) & 0x1f) - 15);
}

static void expect_block(const kq_type *t, const uint8_t *got, const uint8_t *want,
                         const char *what) {
    for (size_t i = 0; i < t->bytes; i++)
        cr_assert_eq(got[i], want[i], "%s %s: byte %zu is 0x%02x, want 0x%02x", t->name, what, i,
                     got[i], want[i]);
}

static void expect_all(const float *y, float v, const char *name, const char *what) {
    for (int i = 0; i < QTF__QK_K; i++)
        cr_assert(y[i] == v, "%s %s: y[%d] = %.9g, want %.9g", name, what, i, (double)y[i],
                  (double)v);
}

Test(ggml_kquants, block_sizes) {
    /* ggml's block_q2_K .. block_q6_K */
    static const struct { int type; size_t bytes; } sizes[] = {
        { QTF__KQ_Q2_K, 84 }, { QTF__KQ_Q3_K, 110 }, { QTF__KQ_Q4_K, 144 },
        { QTF__KQ_Q5_K, 176 }, { QTF__KQ_Q6_K, 210 },
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        cr_assert_eq(qtf__ggml_kquant_block_bytes(sizes[i].type), sizes[i].bytes, "type %d",
                     sizes[i].type);
}

/* All zeros: every search sees max == min (or |max| < 1e-15) and returns scale
 * 0 with codes 0; d and dmin are f16(0). Q3_K's importance path packs code 0
 * for every scale (make_qx_quants of all-zero scales), so every byte is 0 in
 * both paths, and every value decodes to (+/-)0. */
Test(ggml_kquants, zeros_every_type_both_paths) {
    float x[QTF__QK_K] = {0}, w[QTF__QK_K], y[QTF__QK_K];
    for (int i = 0; i < QTF__QK_K; i++) w[i] = 1.0f;
    uint8_t blk[256], zero[256] = {0};
    for (int k = 0; k < 5; k++) {
        for (int imp = 0; imp < 2; imp++) {
            memset(blk, 0xA5, sizeof blk);
            TYPES[k].quantize(x, blk, 1, QTF__QK_K, imp ? w : NULL);
            expect_block(&TYPES[k], blk, zero, imp ? "zeros+importance" : "zeros");
            TYPES[k].dequantize(blk, y, QTF__QK_K);
            expect_all(y, 0.0f, TYPES[k].name, "zeros");
        }
    }
}

/* ---- every element 1.0 ---- */

/* Q2_K: each 16-group has min 1 -> 0 (mins are <= 0), max 1: codes 3,
 * scale 1/3; every trial has identical codes (D = 0), so it stays. The 4-bit
 * scales are nearest(15/(1/3) * 1/3) = 15, mins 0; d = f16((1/3)/15 =
 * 0.0222222) = 0x25b0 (2^-6 * (1 + 432/1024) = 0.02221680), dmin = 0. Final
 * code nearest(1 / (15 d) = 3.0007) = 3, so every qs byte is 0xff and
 * x = 15 d * 3 = 0.999755859375. */
Test(ggml_kquants, const_q2_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    for (int i = 0; i < QTF__QK_K; i++) x[i] = 1.0f;
    uint8_t want[84], blk[84];
    memset(want, 0x0f, 16);      /* scales: scale 15, min 0 */
    memset(want + 16, 0xff, 64); /* four codes 3 per byte */
    want[80] = 0xb0, want[81] = 0x25, want[82] = 0, want[83] = 0;
    qtf__ggml_quantize_q2_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[0], blk, want, "const 1");
    qtf__ggml_dequantize_q2_k(blk, y, QTF__QK_K);
    expect_all(y, 0.999755859375f, "Q2_K", "const 1");
    cr_assert(y[0] == f16_value(want + 80) * 15.0f * 3.0f);
}

/* Q3_K: each 16-group's extreme (1.0) gets code -4 (iscale = -4/1), scale
 * sum(w x l)/sum(w l^2) = -0.25; moving one code would flip the sign of
 * sumlx (slx <= 0), so nothing moves. All scales -0.25: iscale = -32/-0.25 =
 * 128, stored 6-bit scales nearest(-32) + 32 = 0 (all 12 bytes 0), d =
 * f16(1/128) = 0x2000. Final codes nearest(1 / (2^-7 * -32)) = -4, stored
 * 0: hmask and qs all zero. x = (2^-7 * (0 - 32)) * (0 - 4) = 1 exactly. */
Test(ggml_kquants, const_q3_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    for (int i = 0; i < QTF__QK_K; i++) x[i] = 1.0f;
    uint8_t want[110] = {0}, blk[110];
    want[108] = 0x00, want[109] = 0x20;
    qtf__ggml_quantize_q3_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[1], blk, want, "const 1");
    qtf__ggml_dequantize_q3_k(blk, y, QTF__QK_K);
    expect_all(y, 1.0f, "Q3_K", "const 1");
}

/* Q4_K: each 32-group: min 0, max 1, codes 15, scale 1/15 (trials all have
 * D = 0). 6-bit scales nearest(63) = 63, mins 0; d = f16(1/945 = 0.00105820)
 * = 0x1456 (2^-10 * (1 + 86/1024)), dmin 0. scales[12]: bytes 0-3 = 63 |
 * (63 >> 4) << 6 = 0xff (groups 0-3 plus the top bits of groups 4-7), bytes
 * 4-7 = mins 0, bytes 8-11 = 63 & 15 = 0x0f. Final code nearest(1 / (63 d)
 * = 14.995) = 15: qs all 0xff; x = 63 d * 15. */
Test(ggml_kquants, const_q4_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    for (int i = 0; i < QTF__QK_K; i++) x[i] = 1.0f;
    uint8_t want[144], blk[144];
    want[0] = 0x56, want[1] = 0x14, want[2] = 0, want[3] = 0;
    memset(want + 4, 0xff, 4);
    memset(want + 8, 0x00, 4);
    memset(want + 12, 0x0f, 4);
    memset(want + 16, 0xff, 128);
    qtf__ggml_quantize_q4_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[2], blk, want, "const 1");
    qtf__ggml_dequantize_q4_k(blk, y, QTF__QK_K);
    const float d1 = f16_value(want) * 63.0f;
    expect_all(y, d1 * 15.0f - 0.0f, "Q4_K", "const 1");
    cr_assert(fabsf(y[0] - 1.0003567f) < 1e-6f);
}

/* Q5_K: as Q4_K with nmax 31: scale 1/31, d = f16(1/1953 = 0.000512033) =
 * 0x1032 (2^-11 * (1 + 50/1024)); final code nearest(1 / (63 d) = 30.994) =
 * 31 = 15 + 16: ql all 0xff and every qh bit set. */
Test(ggml_kquants, const_q5_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    for (int i = 0; i < QTF__QK_K; i++) x[i] = 1.0f;
    uint8_t want[176], blk[176];
    want[0] = 0x32, want[1] = 0x10, want[2] = 0, want[3] = 0;
    memset(want + 4, 0xff, 4);
    memset(want + 8, 0x00, 4);
    memset(want + 12, 0x0f, 4);
    memset(want + 16, 0xff, 32 + 128);
    qtf__ggml_quantize_q5_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[3], blk, want, "const 1");
    qtf__ggml_dequantize_q5_k(blk, y, QTF__QK_K);
    expect_all(y, f16_value(want) * 63.0f * 31.0f, "Q5_K", "const 1");
    cr_assert(fabsf(y[0] - 1.0001764f) < 1e-6f);
}

/* Q6_K: each 16-group: code -32 (iscale -32/1), scale -1/32; every trial
 * gives the same sumlx^2/suml2 = 16, never strictly better. iscale = -128 /
 * (-1/32) = 4096: int8 scales nearest(-128) = -128 (0x80), d = f16(2^-12) =
 * 0x0c00. Final codes nearest(1 / (2^-12 * -128)) = -32, stored 0: ql and qh
 * all zero; x = (2^-12 * -128) * -32 = 1 exactly. */
Test(ggml_kquants, const_q6_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    for (int i = 0; i < QTF__QK_K; i++) x[i] = 1.0f;
    uint8_t want[210] = {0}, blk[210];
    memset(want + 192, 0x80, 16);
    want[208] = 0x00, want[209] = 0x0c;
    qtf__ggml_quantize_q6_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[4], blk, want, "const 1");
    qtf__ggml_dequantize_q6_k(blk, y, QTF__QK_K);
    expect_all(y, 1.0f, "Q6_K", "const 1");
}

/* ---- one outlier: x[37] = 8, all else 0 ----
 * Element 37 is index 5 of 16-group 2 and of 32-group 1. Groups without it
 * are flat: scale 0, codes 0, and (d = 0) they keep those codes. */

static void outlier(float *x) {
    memset(x, 0, QTF__QK_K * sizeof *x);
    x[37] = 8.0f;
}

static void expect_outlier_values(const float *y, float v37, const char *name) {
    for (int i = 0; i < QTF__QK_K; i++)
        cr_assert(y[i] == (i == 37 ? v37 : 0.0f), "%s outlier: y[%d] = %.9g", name, i,
                  (double)y[i]);
}

/* Q2_K: group 2 (weights |x|: only element 5 counts) gets code 3 there, scale
 * 8/3; scales[2] = nearest(15/(8/3) * 8/3) = 15, d = f16(8/45 = 0.177778) =
 * 0x31b0 (2^-3 * (1 + 432/1024)). Final code nearest(8 / (15 d) = 3.0007) =
 * 3, which sits in qs byte 5 at bits 2-3 (code l + 32 of the first half):
 * 0x0c. x[37] = 15 d * 3 = 7.998046875. */
Test(ggml_kquants, outlier_q2_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    outlier(x);
    uint8_t want[84] = {0}, blk[84];
    want[2] = 0x0f;
    want[16 + 5] = 0x0c;
    want[80] = 0xb0, want[81] = 0x31;
    qtf__ggml_quantize_q2_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[0], blk, want, "outlier");
    qtf__ggml_dequantize_q2_k(blk, y, QTF__QK_K);
    expect_outlier_values(y, 7.998046875f, "Q2_K");
}

/* Q3_K: group 2: iscale -4/8, the 8 gets code -4, zeros code 0, scale -2.
 * Flat groups return scale 0 and raw codes 0 (not offset by 4). iscale =
 * -32/-2 = 16: stored scales 32 (value 0) except group 2: 0 (value -32).
 * 32 = 0b10_0000: low nibbles 0, top bits 2 at bit 2*(j/4) of byte 8 + j%4:
 * 0xaa, except byte 10 (holds group 2 in bits 0-1): 0xa8. d = f16(1/16) =
 * 0x2c00. Group 2 final codes: 8 -> nearest(8/-2) = -4 -> 0, zeros -> 0 ->
 * 4 (high bit set: hmask[j % 32] bit j / 32 = 1, so hmask[0..15] = 0x02
 * except hmask[5]). x[37] = (2^-4 * -32) * (0 - 4) = 8. */
Test(ggml_kquants, outlier_q3_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    outlier(x);
    uint8_t want[110] = {0}, blk[110];
    memset(want, 0x02, 16);
    want[5] = 0x00;
    want[96 + 8] = 0xaa, want[96 + 9] = 0xaa, want[96 + 10] = 0xa8, want[96 + 11] = 0xaa;
    want[108] = 0x00, want[109] = 0x2c;
    qtf__ggml_quantize_q3_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[1], blk, want, "outlier");
    qtf__ggml_dequantize_q3_k(blk, y, QTF__QK_K);
    expect_outlier_values(y, 8.0f, "Q3_K");
}

/* Q4_K: group 1: min 0, max 8, code 15 for the 8, scale 8/15 (every trial
 * fits exactly, error 0, never strictly lower). scales[1] = 63, d = f16(8/945
 * = 0.0084656) = 0x2056 (2^-7 * (1 + 86/1024)), dmin 0. Final code
 * nearest(8 / (63 d) = 14.995) = 15, the high nibble of qs[5] (group 1 =
 * codes 32..63 of the first 64): 0xf0. x[37] = 63 d * 15 = 8.00285339. */
Test(ggml_kquants, outlier_q4_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    outlier(x);
    uint8_t want[144] = {0}, blk[144];
    want[0] = 0x56, want[1] = 0x20;
    want[4 + 1] = 0x3f;
    want[16 + 5] = 0xf0;
    qtf__ggml_quantize_q4_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[2], blk, want, "outlier");
    qtf__ggml_dequantize_q4_k(blk, y, QTF__QK_K);
    expect_outlier_values(y, f16_value(want) * 63.0f * 15.0f, "Q4_K");
    cr_assert(fabsf(y[37] - 8.002853f) < 1e-5f);
}

/* Q5_K: as Q4_K with nmax 31: d = f16(8/1953 = 0.0040963) = 0x1c32 (2^-8 *
 * (1 + 50/1024)); final code nearest(8 / (63 d) = 30.994) = 31 = 15 | 16:
 * ql[5] high nibble 0xf0, and bit 1 of qh[5] (the 16 of code 32 + 5). */
Test(ggml_kquants, outlier_q5_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    outlier(x);
    uint8_t want[176] = {0}, blk[176];
    want[0] = 0x32, want[1] = 0x1c;
    want[4 + 1] = 0x3f;
    want[16 + 5] = 0x02;
    want[48 + 5] = 0xf0;
    qtf__ggml_quantize_q5_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[3], blk, want, "outlier");
    qtf__ggml_dequantize_q5_k(blk, y, QTF__QK_K);
    expect_outlier_values(y, f16_value(want) * 63.0f * 31.0f, "Q5_K");
    cr_assert(fabsf(y[37] - 8.001411f) < 1e-5f);
}

/* Q6_K: group 2: the 8 gets code -32 (iscale -32/8), scale -0.25 (weights x^2:
 * only the 8 counts, and no trial is strictly better). iscale = -128/-0.25 =
 * 512: scales[2] = -128 (0x80), others 0; d = f16(2^-9) = 0x1800. Group 2
 * final codes: 8 -> -32 -> 0; zeros -> 0 -> 32 = 0b10_0000, whose top bits
 * (2) go to bits 2-3 of qh[l] (code l + 32 of the first 128): qh[0..15] =
 * 0x08 except qh[5]. Flat groups keep code 0 with scale 0. */
Test(ggml_kquants, outlier_q6_k) {
    float x[QTF__QK_K], y[QTF__QK_K];
    outlier(x);
    uint8_t want[210] = {0}, blk[210];
    memset(want + 128, 0x08, 16);
    want[128 + 5] = 0x00;
    want[192 + 2] = 0x80;
    want[208] = 0x00, want[209] = 0x18;
    qtf__ggml_quantize_q6_k(x, blk, 1, QTF__QK_K, NULL);
    expect_block(&TYPES[4], blk, want, "outlier");
    qtf__ggml_dequantize_q6_k(blk, y, QTF__QK_K);
    expect_outlier_values(y, 8.0f, "Q6_K");
}

/* ---- properties on pseudo-random rows ---- */

static uint64_t rng_state;
static float rng_t4(void) {
    /* Student-t(4)-like heavy tails: normal / sqrt(chi2_4 / 4), from a
     * xorshift generator (deterministic, no libc rand). */
    float g[5];
    for (int i = 0; i < 5; i++) {
        float s = 0;
        for (int k = 0; k < 4; k++) {
            rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
            s += (float)(rng_state >> 40) / (float)(1u << 24);
        }
        g[i] = (s - 2.0f) * 1.7320508f;
    }
    const float chi = (g[1] * g[1] + g[2] * g[2] + g[3] * g[3] + g[4] * g[4]) / 4.0f;
    return g[0] / sqrtf(chi + 1e-3f);
}

/* Rows are independent: quantizing 6 rows at once equals quantizing them one
 * by one (the guarantee callers rely on to split rows across threads), with
 * and without importance; and the reconstruction error is what each bit
 * width allows (a gross packing error would blow these bounds). */
Test(ggml_kquants, rows_independent_and_error_bounded) {
    enum { ROWS = 6, COLS = 512 };
    static float x[ROWS * COLS], y[ROWS * COLS], imp[COLS];
    static uint8_t all[ROWS * COLS / 256 * 210], one[COLS / 256 * 210];
    rng_state = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < ROWS * COLS; i++) x[i] = rng_t4();
    for (int i = 0; i < COLS; i++) imp[i] = 0.05f + (float)(i % 17) / 4.0f;
    const double max_rel_rmse[5] = {0.45, 0.25, 0.12, 0.06, 0.035};
    for (int k = 0; k < 5; k++) {
        const kq_type *t = &TYPES[k];
        const size_t row_bytes = COLS / 256 * t->bytes;
        for (int use = 0; use < 2; use++) {
            const float *w = use ? imp : NULL;
            t->quantize(x, all, ROWS, COLS, w);
            for (int r = 0; r < ROWS; r++) {
                t->quantize(x + (size_t)r * COLS, one, 1, COLS, w);
                cr_assert(memcmp(one, all + r * row_bytes, row_bytes) == 0,
                          "%s%s: row %d differs when quantized alone", t->name,
                          use ? "+importance" : "", r);
            }
            t->dequantize(all, y, ROWS * COLS);
            double se = 0, sx = 0;
            for (int i = 0; i < ROWS * COLS; i++) {
                se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
                sx += (double)x[i] * x[i];
            }
            const double rel = sqrt(se / sx);
            cr_assert(rel < max_rel_rmse[k], "%s%s: relative RMSE %.4f >= %.3f", t->name,
                      use ? "+importance" : "", rel, max_rel_rmse[k]);
        }
    }
}

/* ---- corner cases against ggml itself ----
 * No llama.cpp fixture covers the importance paths of Q2_K, Q3_K, Q5_K and
 * Q6_K, nor inputs at the edges of the searches. The expected values below
 * are XXH3-64 hashes of the blocks (and of their dequantization) that ggml's
 * own quantize_<type> / dequantize_row_<type> produced for exactly these rows
 * (libggml-base of node-llama-cpp 3.21.1, called through ctypes on the bytes
 * of edge_rows), so a single differing bit in any block fails the test. */

/* Rows that reach the corners of the searches: heavy tails, one sign only,
 * tiny and huge magnitudes, flat and all-zero sub-blocks next to busy ones,
 * integers (exact ties), lone outliers; and an importance vector with zeros,
 * tiny and large entries. Deterministic (xorshift64). */
enum { EDGE_ROWS = 12, EDGE_COLS = 512 };

static uint64_t edge_state;
static float edge_unit(void) {
    edge_state ^= edge_state << 13, edge_state ^= edge_state >> 7, edge_state ^= edge_state << 17;
    return (float)(edge_state >> 40) / (float)(1u << 24); /* [0, 1) */
}
static float edge_t(void) { /* heavy-tailed, symmetric */
    const float u = edge_unit() - 0.5f, v = edge_unit();
    return u * 4.0f / (0.05f + v);
}

static void edge_rows(float *x, float *imp) {
    edge_state = 0x2545f4914f6cdd1dull;
    for (int r = 0; r < EDGE_ROWS; r++) {
        float *row = x + r * EDGE_COLS;
        for (int c = 0; c < EDGE_COLS; c++) {
            const float t = edge_t();
            float v;
            switch (r) {
            case 0: case 1: v = t; break;
            case 2: v = -fabsf(t); break;                       /* all <= 0 */
            case 3: v = fabsf(t) + 0.5f; break;                 /* all > 0 */
            case 4: v = t * 1e-20f; break;                      /* tiny */
            case 5: v = t * 1e4f; break;                        /* huge */
            case 6: v = (c / 16) % 3 == 0 ? 0.0f : t; break;    /* zero 16-groups */
            case 7: v = (c / 32) % 2 == 0 ? 1.25f : t; break;   /* flat 32-groups */
            case 8: v = (float)((int)(edge_unit() * 9.0f) - 4); break; /* integers */
            case 9: v = c % 97 == 5 ? 50.0f * t : 0.01f * t; break;    /* lone outliers */
            case 10: v = c < 256 ? 0.0f : -2.0f; break;         /* zero block, negative flat */
            default: v = t * (c % 2 ? 1.0f : 1e-3f); break;     /* alternating scales */
            }
            row[c] = v;
        }
    }
    for (int c = 0; c < EDGE_COLS; c++) {
        const float u = edge_unit();
        imp[c] = c % 11 == 3 ? 0.0f : (c % 7 == 1 ? 1e-6f * u : u * u * 50.0f + 0.01f);
    }
}

Test(ggml_kquants, corner_rows_equal_ggml) {
    static const struct {
        uint64_t blocks, values;
    } want[5][2] = {
        {{0x123384b1d62270c6ull, 0x6e3fd50c98369ca0ull}, {0xb0b874146bfb18a0ull, 0xfdf3215a3538572cull}},
        {{0xc276192bde297bdeull, 0xe23c97a327417806ull}, {0x509c2069597297fcull, 0x48fd61c23a2d2de1ull}},
        {{0x14ae62449c7313c1ull, 0x607b89b0104c131aull}, {0x85a4e90d08d0c0feull, 0x2d37cd6e6c978557ull}},
        {{0x8bc09eb2a6c38d1cull, 0xf02b73ba221efcb1ull}, {0x978f324e5bf3221bull, 0x3eeb7dd713c9fe75ull}},
        {{0x267e5a10645a126cull, 0x11b70353caad0a98ull}, {0x5792e395cf5b6154ull, 0xf21166b4c0faba50ull}},
    };
    static float x[EDGE_ROWS * EDGE_COLS], imp[EDGE_COLS], y[EDGE_ROWS * EDGE_COLS];
    static uint8_t blocks[EDGE_ROWS * EDGE_COLS / 256 * 210];
    edge_rows(x, imp);
    for (int k = 0; k < 5; k++) {
        const kq_type *t = &TYPES[k];
        const size_t nbytes = EDGE_ROWS * EDGE_COLS / 256 * t->bytes;
        for (int use = 0; use < 2; use++) {
            t->quantize(x, blocks, EDGE_ROWS, EDGE_COLS, use ? imp : NULL);
            cr_expect_eq(XXH3_64bits(blocks, nbytes), want[k][use].blocks,
                         "%s%s: blocks differ from ggml's", t->name, use ? " + importance" : "");
            t->dequantize(blocks, y, EDGE_ROWS * EDGE_COLS);
            cr_expect_eq(XXH3_64bits(y, sizeof y), want[k][use].values,
                         "%s%s: dequantized values differ from ggml's", t->name,
                         use ? " + importance" : "");
        }
    }
}

/* ---- real llama.cpp output (../shared/gguf) ---- */

/* ../shared/gguf/synth/FILE through the product reader; skips the test
 * visibly when ../shared is absent. */
static void load_or_skip(gf_file *f, const char *file) {
    char rel[512];
    snprintf(rel, sizeof rel, "gguf/synth/%s", file);
    TS_NEED(path, rel);
    cr_assert_eq(gf_load(f, path), 0, "cannot parse fixture %s", path);
}

/* The quantized fixture files: every matrix in them is one K type. */
static const char *const QUANT_FILES[] = {
    "model-Q2_K", "model-Q3_K_M", "model-Q4_K_M", "model-Q5_K_M", "model-Q6_K",
    "model-Q4_K_M-imatrix",
};

/* Dequantizing every K-type tensor equals ggml's own dequantization (the
 * .ref.safetensors next to each file) bit for bit. */
Test(ggml_kquants, dequantize_equals_llama_cpp) {
    int compared = 0;
    for (size_t fi = 0; fi < sizeof QUANT_FILES / sizeof *QUANT_FILES; fi++) {
        char name[256];
        gf_file g;
        snprintf(name, sizeof name, "%s.gguf", QUANT_FILES[fi]);
        load_or_skip(&g, name);
        snprintf(name, sizeof name, "gguf/synth/%s.ref.safetensors", QUANT_FILES[fi]);
        const char *ref_path = ts_shared(name);
        cr_assert(ref_path, "../shared/%s is missing next to its .gguf", name);
        qtf_source *ref = NULL;
        cr_assert_eq(qtf_source_open(&ref, ref_path), QTF_OK, "%s", qtf_error_detail());
        for (uint32_t ti = 0; ti < g.n_tensors; ti++) {
            const gf_tensor *t = &g.t[ti];
            const kq_type *kt = type_of(t->type);
            if (!kt) continue;
            const uint64_t n = gf_nelements(t);
            const void *blocks = gf_data(&g, t, n / 256 * kt->bytes);
            cr_assert_not_null(blocks, "%s: %s lies outside the file", name, t->name);
            float *got = malloc(n * sizeof *got), *want = malloc(n * sizeof *want);
            kt->dequantize(blocks, got, (int64_t)n);
            uint64_t idx;
            cr_assert_eq(qtf_source_tensor_find(&idx, ref, t->name), QTF_OK, "%s: no %s", name,
                         t->name);
            cr_assert_eq(qtf_source_read_f32(want, n, ref, idx, 1), QTF_OK, "%s",
                         qtf_error_detail());
            cr_assert(memcmp(got, want, n * sizeof *got) == 0,
                      "%s %s (%s): dequantized values differ from ggml's", QUANT_FILES[fi],
                      t->name, kt->name);
            free(got);
            free(want);
            compared++;
        }
        qtf_source_close(ref);
        gf_free(&g);
    }
    cr_assert_eq(compared, 6 * 8, "every matrix of the six files is a K type");
}

/* Quantizing the f32 fixture (already in ggml's Q/K row order) with each
 * file's type gives llama-quantize's bytes, tensor by tensor; for
 * model-Q4_K_M-imatrix with the importance from imatrix.gguf. The mix file
 * (Q6_K and Q4_K tensors) is included. */
Test(ggml_kquants, quantize_equals_llama_quantize) {
    gf_file src, im;
    load_or_skip(&src, "model-f32.gguf");
    load_or_skip(&im, "imatrix.gguf");
    static const char *const files[] = {
        "model-Q2_K", "model-Q3_K_M", "model-Q4_K_M", "model-Q5_K_M",
        "model-Q6_K", "model-Q4_K_M-mix", "model-Q4_K_M-imatrix",
    };
    int compared = 0, weighted = 0;
    for (size_t fi = 0; fi < sizeof files / sizeof *files; fi++) {
        char name[256];
        gf_file g;
        snprintf(name, sizeof name, "%s.gguf", files[fi]);
        load_or_skip(&g, name);
        const int use_imatrix = strstr(files[fi], "imatrix") != NULL;
        for (uint32_t ti = 0; ti < g.n_tensors; ti++) {
            const gf_tensor *t = &g.t[ti];
            const kq_type *kt = type_of(t->type);
            if (!kt) continue;
            const gf_tensor *s = gf_find(&src, t->name);
            cr_assert(s && s->type == 0 && s->ne[0] == t->ne[0] && s->ne[1] == t->ne[1],
                      "model-f32.gguf lacks %s as f32 of the same shape", t->name);
            const uint64_t n = gf_nelements(t), nrows = n / t->ne[0];
            const size_t nbytes = n / 256 * kt->bytes;
            const float *x = gf_data(&src, s, n * 4);
            const void *want = gf_data(&g, t, nbytes);
            cr_assert(x && want);
            float *xa = malloc(n * sizeof *xa); /* aligned copy of the f32 data */
            memcpy(xa, x, n * sizeof *xa);
            float *w = use_imatrix ? gt_importance(im.g, t->name, t->ne[0]) : NULL;
            weighted += w != NULL;
            uint8_t *got = malloc(nbytes);
            kt->quantize(xa, got, (int64_t)nrows, (int64_t)t->ne[0], w);
            for (size_t b = 0; b < nbytes; b += kt->bytes)
                cr_assert(memcmp(got + b, (const uint8_t *)want + b, kt->bytes) == 0,
                          "%s %s (%s%s): block %zu differs from llama-quantize's", files[fi],
                          t->name, kt->name, w ? " + imatrix" : "", b / kt->bytes);
            free(got);
            free(w);
            free(xa);
            compared++;
        }
        gf_free(&g);
    }
    gf_free(&src);
    gf_free(&im);
    cr_assert_eq(compared, 7 * 8, "every matrix of the seven files was compared");
    cr_assert_eq(weighted, 7, "all but token_embd carry an imatrix entry");
}
