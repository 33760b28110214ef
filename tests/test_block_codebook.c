/* NF4, FP4 (format/block_codebook.c) and MXFP4 (format/block_mx.c): exact
 * codes and nibble order on hand-computed cases, nearest-value property
 * against a brute-force oracle, E8M0 exponents and saturation. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/common.h"
#include "support/blocks.h"

#include "format/block_family.h"

static const float NF4[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};
static const float E2M1[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };

static float fp4_value(unsigned c) {
    return (c & 8) ? -E2M1[c & 7] : E2M1[c & 7];
}

Test(nf4, hand_computed_codes_low_nibble_first) {
    /* absmax 2 -> scale 2; x/s = -1, 0, 0.5, 1 -> codes 0, 7, 12 (0.4407 is
     * nearer to 0.5 than 0.5626), 15 */
    const float x[4] = { -2.0f, 0.0f, 1.0f, 2.0f };
    qtf_encoding e = enc("nf4:group=4,scale=f32");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 4, NULL, 1), QTF_OK);
    cr_assert_eq(b.layout[0].size, 2);
    cr_assert_eq(((unsigned char *)b.part[0])[0], 0x70);
    cr_assert_eq(((unsigned char *)b.part[0])[1], 0xFC);
    cr_assert_eq(f32_at(b.part[1], 0), 2.0f);
    float *y = blk_dequantize(&b, 1);
    cr_assert_eq(y[0], -2.0f);
    cr_assert_eq(y[1], 0.0f);
    cr_assert_eq(y[2], NF4[12] * 2.0f);
    cr_assert_eq(y[3], 2.0f);
    free(y);
    blk_free(&b);
}

Test(nf4, codes_are_the_nearest_table_value) {
    const uint64_t rows = 8, cols = 256;
    float *x = t4_data(rows * cols, 21);
    qtf_encoding e = enc("nf4:group=64,scale=f32,zstd=1"); /* one code per byte */
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, rows, cols, NULL, 1), QTF_OK);
    const unsigned char *codes = b.part[0];
    for (uint64_t i = 0; i < rows * cols; i++) {
        float s = f32_at(b.part[1], i / 64);
        float v = x[i] / s;
        double best = INFINITY;
        for (int k = 0; k < 16; k++) best = fmin(best, fabs((double)v - NF4[k]));
        double got = fabs((double)v - NF4[codes[i]]);
        cr_assert(got <= best + 1e-6, "element %llu: code %u, |err| %g vs best %g",
                  (unsigned long long)i, codes[i], got, best);
    }
    free(x);
    blk_free(&b);
}

Test(nf4, encoder_exact_at_midpoints_and_on_a_grid) {
    /* Values right at, just below and just above every midpoint between
     * table entries and every multiple of 1/128 in [-1, 1], with scale 1 (the
     * group's absmax is 1): the code must count the midpoints strictly below
     * the value. */
    enum { N = 15 * 3 + 257 * 3 + 3 };
    static float x[N + 1];
    int n = 0;
    for (int k = 0; k < 15; k++) {
        float m = 0.5f * (NF4[k] + NF4[k + 1]);
        x[n++] = m;
        x[n++] = nextafterf(m, -2.0f);
        x[n++] = nextafterf(m, 2.0f);
    }
    for (int b = 0; b <= 256; b++) {
        float edge = -1.0f + (float)b / 128.0f;
        x[n++] = edge;
        x[n++] = nextafterf(edge, -2.0f);
        x[n++] = nextafterf(edge, 2.0f);
    }
    x[n++] = 0.0f;
    x[n++] = -1.0f;
    x[n++] = 1.0f;
    cr_assert_eq(n, N);
    for (int i = 0; i < n; i++) x[i] = fmaxf(-1.0f, fminf(1.0f, x[i]));
    qtf_encoding e = enc("nf4:group=row,scale=f32,zstd=1");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, N, NULL, 1), QTF_OK);
    cr_assert_eq(f32_at(b.part[1], 0), 1.0f);
    const unsigned char *codes = b.part[0];
    for (int i = 0; i < n; i++) {
        unsigned want = 0;
        for (int k = 0; k < 15; k++) want += x[i] > 0.5f * (NF4[k] + NF4[k + 1]);
        cr_assert_eq(codes[i], want, "x = %.9g: code %u, want %u", (double)x[i], codes[i], want);
    }
    blk_free(&b);
}

Test(fp4, hand_computed_codes_and_ties_to_even) {
    /* absmax 6 -> scale 1: 6 -> 7, -3 -> 8|5, 1.25 tie -> 1.0 (code 2), 0.75
     * tie -> 1.0 (2), 0.25 -> 0, 1.75 -> 2.0 (4), 2.5 -> 2.0 (4), 3.5 -> 4.0
     * (6), -5 -> -4 (14), -0.1 -> 0 (never -0) */
    const float x[10] = { 6.0f, -3.0f, 1.25f, 0.75f, 0.25f, 1.75f, 2.5f, 3.5f, -5.0f, -0.1f };
    const unsigned expect[10] = { 7, 13, 2, 2, 0, 4, 4, 6, 14, 0 };
    qtf_encoding e = enc("fp4:group=10,scale=f32");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 10, NULL, 1), QTF_OK);
    cr_assert_eq(f32_at(b.part[1], 0), 1.0f);
    const unsigned char *c = b.part[0];
    cr_assert_eq(c[0], 0xD7); /* low nibble = element 0 */
    for (int j = 0; j < 10; j++) {
        unsigned code = (c[j / 2] >> (4 * (j % 2))) & 15;
        cr_assert_eq(code, expect[j], "element %d: code %u", j, code);
    }
    float *y = blk_dequantize(&b, 1);
    for (int j = 0; j < 10; j++) cr_assert_eq(y[j], fp4_value(expect[j]));
    free(y);
    blk_free(&b);
}

Test(fp4, rtn_error_bound) {
    /* nearest E2M1 value: error <= half the largest gap (2, between 4 and 6)
     * times the scale */
    const uint64_t rows = 4, cols = 128;
    float *x = t4_data(rows * cols, 8);
    qtf_encoding e = enc("fp4:group=32,scale=f32");
    blk b;
    float *y = blk_round_trip(&b, &e, x, rows, cols, NULL, 1);
    for (uint64_t i = 0; i < rows * cols; i++) {
        float s = f32_at(b.part[1], i / 32);
        double a = fabs((double)x[i] / s), gap = a < 2 ? 0.25 : a < 4 ? 0.5 : 1.0;
        cr_assert(fabs((double)x[i] - y[i]) <= gap * s * (1 + 1e-6), "element %llu",
                  (unsigned long long)i);
    }
    free(x);
    free(y);
    blk_free(&b);
}

static uint8_t mx_quantize_one(const float *x32, uint8_t *codes16, int search) {
    qtf_encoding e = enc("mxfp4");
    e.search = (uint32_t)search;
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x32, 1, 32, NULL, 1), QTF_OK);
    cr_assert_eq(b.layout[0].size, 16);
    cr_assert_eq(b.layout[1].type, QTF_DTYPE_E8M0);
    cr_assert_eq(b.layout[1].size, 1);
    uint8_t exp = ((unsigned char *)b.part[1])[0];
    if (codes16) memcpy(codes16, b.part[0], 16);
    blk_free(&b);
    return exp;
}

Test(mxfp4, exponents_follow_the_ocp_rule) {
    float x[32] = { 0 };
    /* amax 6: floor(log2 6) = 2 -> e = 127 (X = 1), codes exact */
    for (int j = 0; j < 16; j++) x[j] = fp4_value((unsigned)j);
    x[16] = 6.0f;
    uint8_t codes[16];
    cr_assert_eq(mx_quantize_one(x, codes, 0), 127);
    for (int j = 0; j < 16; j++) {
        unsigned c = (codes[j / 2] >> (4 * (j % 2))) & 15;
        /* -0.0 (code 8) is written as code 0 */
        cr_assert_eq(c, j == 8 ? 0u : (unsigned)j, "element %d code %u", j, c);
    }
    /* amax 7 saturates: X = 1, 7 -> 6 (code 7) */
    memset(x, 0, sizeof x);
    x[3] = 7.0f;
    cr_assert_eq(mx_quantize_one(x, codes, 0), 127);
    cr_assert_eq((codes[1] >> 4) & 15, 7);
    /* amax 8: floor(log2 8) = 3 -> e = 128 (X = 2), 8 / 2 = 4 -> code 6 */
    x[3] = -8.0f;
    cr_assert_eq(mx_quantize_one(x, codes, 0), 128);
    cr_assert_eq((codes[1] >> 4) & 15, 8 | 6);
    /* zero block: e = 0 and codes 0 */
    memset(x, 0, sizeof x);
    cr_assert_eq(mx_quantize_one(x, codes, 0), 0);
    for (int j = 0; j < 16; j++) cr_assert_eq(codes[j], 0);
    /* clamping: tiny and huge maxima */
    x[0] = 1e-40f;
    cr_assert_eq(mx_quantize_one(x, NULL, 0), 0);
    x[0] = 3e38f; /* floor(log2) = 127 -> e = 252 */
    cr_assert_eq(mx_quantize_one(x, NULL, 0), 252);
}

Test(mxfp4, decode_of_e8m0_extremes) {
    qtf_encoding e = enc("mxfp4");
    unsigned char codes[16], scale[1];
    memset(codes, 0x11, sizeof codes); /* every element code 1 = +0.5 */
    const void *parts[2] = { codes, scale };
    float y[32];
    scale[0] = 0; /* 2^-127, a subnormal */
    cr_assert_eq(qtf__block_dequantize(y, &e, 1, 32, parts, 1), QTF_OK);
    cr_assert_eq(y[0], 0x1p-128f);
    scale[0] = 254;
    cr_assert_eq(qtf__block_dequantize(y, &e, 1, 32, parts, 1), QTF_OK);
    cr_assert_eq(y[5], 0x1p126f);
    scale[0] = 255; /* NaN scale */
    cr_assert_eq(qtf__block_dequantize(y, &e, 1, 32, parts, 1), QTF_OK);
    cr_assert(isnan(y[7]));
}

Test(mxfp4, search_takes_the_larger_exponent_when_it_wins) {
    /* all 32 = 7.5: OCP X = 1 clips every element to 6 (error 1.5); X = 2
     * gives 7.5/2 = 3.75 -> 4 -> 8 (error 0.5) */
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = 7.5f;
    cr_assert_eq(mx_quantize_one(x, NULL, 0), 127);
    cr_assert_eq(mx_quantize_one(x, NULL, 1), 128);
    /* a single large element: OCP (saturate one) wins, search keeps it */
    for (int j = 0; j < 32; j++) x[j] = (float)(j % 7) * 0.25f;
    x[0] = 7.0f;
    cr_assert_eq(mx_quantize_one(x, NULL, 1), 127);
}

Test(mxfp4, search_never_worse_than_rtn_per_block) {
    const uint64_t rows = 16, cols = 512;
    float *x = t4_data(rows * cols, 4);
    qtf_encoding r = enc("mxfp4"), s = r;
    s.search = 1;
    float *ya = blk_decode(&r, x, rows, cols, NULL, 1);
    float *yb = blk_decode(&s, x, rows, cols, NULL, 1);
    double ta = 0, tb = 0;
    for (uint64_t blk0 = 0; blk0 < rows * cols; blk0 += 32) {
        double ea = 0, eb = 0;
        for (int j = 0; j < 32; j++) {
            ea += pow((double)x[blk0 + j] - ya[blk0 + j], 2);
            eb += pow((double)x[blk0 + j] - yb[blk0 + j], 2);
        }
        cr_assert(eb <= ea * (1 + 1e-6) + 1e-12, "block %llu", (unsigned long long)blk0);
        ta += ea;
        tb += eb;
    }
    cr_assert(tb < ta, "search did not help at all: %g vs %g", tb, ta);
    free(x);
    free(ya);
    free(yb);
}

Test(nf4, packed_and_one_per_byte_layouts_decode_identically) {
    /* two decoder paths (pair table on packed bytes; per-code table) */
    const uint64_t rows = 5, cols = 192;
    float *x = t4_data(rows * cols, 29);
    const char *texts[][2] = { { "nf4:group=64", "nf4:group=64,zstd=1" },
                               { "nf4:group=3,dq", "nf4:group=3,dq,zstd=1" },
                               { "fp4:group=row", "fp4:group=row,zstd=1" } };
    for (int t = 0; t < 3; t++) {
        qtf_encoding a = enc(texts[t][0]), b = enc(texts[t][1]);
        float *ya = blk_decode(&a, x, rows, cols, NULL, 1);
        float *yb = blk_decode(&b, x, rows, cols, NULL, 1);
        cr_assert_eq(memcmp(ya, yb, rows * cols * sizeof(float)), 0, "%s", texts[t][0]);
        free(ya);
        free(yb);
    }
    free(x);
}
