/* Q8_0, Q4_0, Q4_1 (format/block_ggml.c) against ggml's reference formulas,
 * restated here from the ggml block definitions (ggml-common.h) and
 * reference quantizers (ggml-quants.c): bytes must be identical. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/common.h"
#include "support/blocks.h"

#include <float.h>

static void ref_q8_0(const float *x, unsigned char *out) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf_f32_to_f16(d));
    for (int j = 0; j < 32; j++) out[2 + j] = (unsigned char)(int8_t)roundf(x[j] * id);
}

static void ref_q4_0(const float *x, unsigned char *out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float v = x[j];
        if (amax < fabsf(v)) {
            amax = fabsf(v);
            max = v;
        }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf_f32_to_f16(d));
    for (int j = 0; j < 16; j++) {
        const float x0 = x[j] * id, x1 = x[16 + j] * id;
        const int8_t t0 = (int8_t)(x0 + 8.5f), t1 = (int8_t)(x1 + 8.5f);
        const uint8_t xi0 = t0 < 15 ? (uint8_t)t0 : 15, xi1 = t1 < 15 ? (uint8_t)t1 : 15;
        out[2 + j] = (unsigned char)(xi0 | (xi1 << 4));
    }
}

static void ref_q4_1(const float *x, unsigned char *out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / ((1 << 4) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf_f32_to_f16(d));
    qtf__st16(out + 2, qtf_f32_to_f16(min));
    for (int j = 0; j < 16; j++) {
        const float x0 = (x[j] - min) * id, x1 = (x[16 + j] - min) * id;
        const int8_t t0 = (int8_t)(x0 + 0.5f), t1 = (int8_t)(x1 + 0.5f);
        const uint8_t xi0 = t0 < 15 ? (uint8_t)t0 : 15, xi1 = t1 < 15 ? (uint8_t)t1 : 15;
        out[4 + j] = (unsigned char)(xi0 | (xi1 << 4));
    }
}

static void ref_dequant(const char *type, const unsigned char *b, float *y) {
    const float d = qtf_f16_to_f32(qtf__ld16(b));
    if (type[1] == '8') {
        for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
    } else if (type[3] == '0') {
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[2 + j] & 15) - 8) * d;
            y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
        }
    } else {
        const float m = qtf_f16_to_f32(qtf__ld16(b + 2));
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[4 + j] & 15) * d + m;
            y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
        }
    }
}

/* Blocks of every awkward kind, then plain t4 data. */
static float *tricky_data(uint64_t rows, uint64_t cols) {
    float *x = t4_data(rows * cols, 31);
    rng r = { 99 };
    uint64_t nb = rows * cols / 32;
    for (uint64_t b = 0; b < nb; b++) {
        float *v = x + b * 32;
        switch (b % 8) {
        case 0: memset(v, 0, 32 * sizeof *v); break;                  /* zero block */
        case 1: for (int j = 0; j < 32; j++) v[j] = -fabsf(v[j]) - 1; break; /* all negative */
        case 2: v[5] = 9.0f; v[20] = -9.0f; break;                    /* +a and -a */
        case 3: v[7] = -9.0f; v[2] = 9.0f; break;                     /* +a first */
        case 4: /* exact ties of x * id + 8.5 / + 0.5 and of roundf */
            for (int j = 0; j < 32; j++) v[j] = (float)((int)(rng_u64(&r) % 33) - 16) * 0.25f;
            v[0] = -4.0f;
            break;
        case 5: for (int j = 0; j < 32; j++) v[j] = 3.0f; break;      /* constant */
        case 6: for (int j = 0; j < 32; j++) v[j] *= 1e-30f; break;   /* tiny: d underflows f16 */
        default: break;
        }
    }
    return x;
}

static void check_type(const char *type) {
    const uint64_t rows = 37, cols = 256;
    float *x = tricky_data(rows, cols);
    qtf_encoding e = enc(type);
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, rows, cols, NULL, 3), QTF_OK, "%s", type);
    const uint64_t bytes = type[1] == '8' ? 34 : type[3] == '0' ? 18 : 20;
    cr_assert_eq(b.n, 1);
    cr_assert_eq(b.layout[0].role, QTF_ROLE_BLOCKS);
    cr_assert_eq(b.layout[0].size, rows * cols / 32 * bytes);
    float *y = blk_dequantize(&b, 2);
    for (uint64_t k = 0; k < rows * cols / 32; k++) {
        unsigned char want[34];
        const unsigned char *got = (const unsigned char *)b.part[0] + k * bytes;
        if (type[1] == '8') ref_q8_0(x + 32 * k, want);
        else if (type[3] == '0') ref_q4_0(x + 32 * k, want);
        else ref_q4_1(x + 32 * k, want);
        cr_assert_eq(memcmp(got, want, bytes), 0, "%s block %llu (kind %llu) differs", type,
                     (unsigned long long)k, (unsigned long long)(k % 8));
        float ry[32];
        ref_dequant(type, got, ry);
        cr_assert_eq(memcmp(ry, y + 32 * k, sizeof ry), 0, "%s block %llu dequantized", type,
                     (unsigned long long)k);
    }
    free(x);
    free(y);
    blk_free(&b);
}

Test(ggml, q8_0_bytes_identical_to_the_reference) { check_type("q8_0"); }
Test(ggml, q4_0_bytes_identical_to_the_reference) { check_type("q4_0"); }
Test(ggml, q4_1_bytes_identical_to_the_reference) { check_type("q4_1"); }

Test(ggml, q4_0_hand_computed_block) {
    /* x = j - 16: extreme -16 -> d = 2, id = 0.5; q = (int8)(x/2 + 8.5):
     * x=-16 -> 0, x=0 -> 8, x=15 -> 16 -> clamped 15 */
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    qtf_encoding e = enc("q4_0");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 32, NULL, 1), QTF_OK);
    const unsigned char *p = b.part[0];
    cr_assert_eq(qtf__ld16(p), 0x4000); /* 2.0 */
    cr_assert_eq(p[2], 0x80);           /* element 0 -> 0, element 16 -> 8 */
    cr_assert_eq(p[2 + 15], 0xF8);      /* element 15: -1 -> 8; element 31: 15 -> 15 */
    blk_free(&b);
}

Test(ggml, q8_0_rounds_half_away_from_zero) {
    /* amax 127 -> d = 1: 2.5 -> 3, -2.5 -> -3, 0.5 -> 1 */
    float x[32] = { 127.0f, 2.5f, -2.5f, 0.5f, -0.5f };
    qtf_encoding e = enc("q8_0");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 32, NULL, 1), QTF_OK);
    const unsigned char *p = b.part[0];
    cr_assert_eq(qtf__ld16(p), 0x3c00);
    cr_assert_eq((int8_t)p[2], 127);
    cr_assert_eq((int8_t)p[3], 3);
    cr_assert_eq((int8_t)p[4], -3);
    cr_assert_eq((int8_t)p[5], 1);
    cr_assert_eq((int8_t)p[6], -1);
    blk_free(&b);
}
