/* format/block_codebook.c — the two 4-bit table codecs: NF4 (the
 * bitsandbytes NormalFloat table, scale = group absmax) and FP4 (OCP E2M1
 * values, scale = group absmax / 6). Codes are table indices; the grouped
 * driver (block_int.c) handles scales, dq and packing. */
#if defined(__GNUC__) && !defined(__clang__)
/* The hot loops have run-time trip counts; -O2's "very cheap" vectorizer
 * cost model skips such loops, which costs 2-3x here. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <float.h>
#include <math.h>
#include <string.h>

#include "block_family.h"

/* bitsandbytes' NF4 table (csrc/kernels.cu), index order. */
static const float nf4_table[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* OCP E2M1: code bits s e1 e0 m; magnitudes of codes 0..7. */
const float qtf__e2m1_values[8] = { 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f };

void qtf__codebook_init(qtf__codec *c, qtf_encoding_id id) {
    c->bits = 4;
    c->n_codes = 16;
    c->uniform = 0;
    if (id != QTF_ENC_NF4) {
        for (unsigned k = 0; k < 16; k++)
            c->value[k] = (k & 8) ? -qtf__e2m1_values[k & 7] : qtf__e2m1_values[k & 7];
        c->rtn_divisor = 6.0f;
        return;
    }
    c->nf4 = 1;
    memcpy(c->value, nf4_table, sizeof nf4_table);
    c->rtn_divisor = 1.0f;
    for (unsigned k = 0; k < 15; k++) c->mid[k] = 0.5f * (nf4_table[k] + nf4_table[k + 1]);
    for (unsigned b = 0; b < 256; b++) {
        c->nf4_pair[b][0] = nf4_table[b & 15];
        c->nf4_pair[b][1] = nf4_table[b >> 4];
    }
}

QTF__HOT void qtf__codebook_values(const qtf__codec *c, const float *restrict x, uint64_t n,
                                   float scale, float *restrict v) {
    const float inv = fabsf(scale) >= FLT_MIN ? 1.0f / scale : 0.0f;
    if (c->nf4) {
        /* the midpoints ascend: the last one below u selects the value */
        float m[15], t[16];
        memcpy(m, c->mid, sizeof m);
        memcpy(t, c->value, sizeof t);
        for (uint64_t j = 0; j < n; j++) {
            float u = x[j] * inv, r = t[0];
            for (int k = 0; k < 15; k++) r = u > m[k] ? t[k + 1] : r;
            v[j] = r;
        }
        return;
    }
    for (uint64_t j = 0; j < n; j++) {
        float u = x[j] * inv;
        float a = fabsf(u);
        uint32_t idx = (uint32_t)((a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) +
                                  (a > 2.5f) + (a >= 3.5f) + (a > 5.0f));
        uint32_t neg = (uint32_t)((u < 0.0f) & (idx != 0));
        v[j] = qtf__e2m1_unit(idx | (neg << 3));
    }
}

QTF__HOT void qtf__codebook_encode(const qtf__codec *c, const float *restrict x, uint64_t n,
                          float scale, uint8_t *restrict codes) {
    const float inv = fabsf(scale) >= FLT_MIN ? 1.0f / scale : 0.0f;
    if (c->nf4) {
        /* NF4: the code is the number of midpoints below v (ties go to the
         * lower code). Fifteen compares per element look wasteful but
         * vectorize (8 lanes with the AVX2 clone), which a search or a
         * look-up table with a correction step does not; measured faster. */
        float m[15];
        memcpy(m, c->mid, sizeof m);
        for (uint64_t j = 0; j < n; j++) {
            float v = x[j] * inv;
            int idx = 0;
            for (int k = 0; k < 15; k++) idx += v > m[k];
            codes[j] = (uint8_t)idx;
        }
        return;
    }
    /* FP4: magnitude with round-to-nearest, ties to the even mantissa (the OCP
     * conversion rule), then the sign; zero is always code 0. */
    for (uint64_t j = 0; j < n; j++) {
        float v = x[j] * inv;
        float a = fabsf(v);
        int idx = (a > 0.25f) + (a >= 0.75f) + (a > 1.25f) + (a >= 1.75f) + (a > 2.5f) +
                  (a >= 3.5f) + (a > 5.0f);
        int neg = (v < 0.0f) & (idx != 0);
        codes[j] = (uint8_t)(idx | (neg << 3));
    }
}

QTF__HOT void qtf__e2m1_decode(float *restrict dst, const uint8_t *restrict codes, uint64_t n,
                               float scale) {
    for (uint64_t j = 0; j < n; j++) dst[j] = qtf__e2m1_unit(codes[j]) * scale;
}

QTF__HOT void qtf__codebook_decode(const qtf__codec *c, const uint8_t *restrict codes, uint64_t n,
                          float scale, float *restrict dst) {
    if (!c->nf4) {
        qtf__e2m1_decode(dst, codes, n, scale);
        return;
    }
    float t[16];
    for (int k = 0; k < 16; k++) t[k] = c->value[k] * scale;
    for (uint64_t j = 0; j < n; j++) dst[j] = t[codes[j] & 15];
}
