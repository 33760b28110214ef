/* format/ggml_iq4.c — IQ4_NL, IQ4_XS and ggml's MXFP4 blocks: byte for byte
 * what ggml's quantize_iq4_nl, quantize_iq4_xs and quantize_mxfp4 write
 * (src/ggml-quants.c, ggml 0.21), and their dequantization.
 *
 * IQ4_NL and IQ4_XS store 4-bit indices into one fixed non-uniform table of
 * 16 levels (qtf__iq4nl_values). ggml's quantize_row_iq4_nl_impl fits each
 * 32-element block's scale by weighted least squares over 15 trial inverse
 * scales; the weight is x^2 without importance and imp * sqrt(sigma2 + x^2)
 * with it, sigma2 = 2 * mean square of the 32 (IQ4_NL) or 256 (IQ4_XS)
 * elements of the super-block. IQ4_NL stores the fitted scale as f16; IQ4_XS
 * stores an f16 super-block scale d and per block a 6-bit l, block scale
 * d * (l - 32). Indices are chosen for the final scale (f32, before the f16
 * rounding of the stored value, as ggml does).
 *
 *   IQ4_NL (18 bytes):  f16 d, u8 qs[16]
 *   IQ4_XS (136 bytes): f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128]
 *   MXFP4 (17 bytes):   u8 e (E8M0), u8 qs[16]
 *   qs nibbles: low = element j, high = element j + 16 of each 32. */
#if defined(__GNUC__) && !defined(__clang__)
/* As format/block_ggml.c: let -O2 vectorize the fixed-count inner loops. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <math.h>

#include "block_family.h"
#include "ggml_kquants_search.h"
#include "ggml_legacy.h"

#define QK_K 256

const int8_t qtf__iq4nl_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
                                       1,    13,   25,  38,  53,  69,  89,  113 };

/* The levels as floats, and MID2[j] = level[j-1] + level[j] (j = 1..15; [0]
 * unused): the exact integers ggml's best_index_int8 converts on every step,
 * converted once here. */
static const float LEVEL[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
                                 1,    13,   25,  38,  53,  69,  89,  113 };
static const float MID2[16] = { 0,   -231, -187, -148, -114, -84, -57, -32,
                                -9,  14,   38,   63,   91,   122, 158, 202 };

/* ggml's best_index_int8 for the sorted 16-level table: the level whose
 * interval (bounded by midpoints) holds x, a tie going to the upper level.
 * Comparing 2x with the sum of two neighbours keeps both sides exact (x + x
 * never rounds), so no midpoint is ever misjudged. A branch-free binary
 * search of 4 steps, unrolled. */
static QTF__ALWAYS_INLINE int best_index(float x) {
    const float x2 = x + x;
    int idx = x2 >= MID2[8] ? 8 : 0;
    idx = x2 >= MID2[idx + 4] ? idx + 4 : idx;
    idx = x2 >= MID2[idx + 2] ? idx + 2 : idx;
    return x2 >= MID2[idx + 1] ? idx + 1 : idx;
}

/* Element weights of one 32-element block (see the file comment). */
static QTF__ALWAYS_INLINE void block_weights(float *w, const float *xb, const float *qw, float sigma2) {
    if (qw) {
        for (int j = 0; j < QTF__QK; j++) w[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
    } else {
        for (int j = 0; j < QTF__QK; j++) w[j] = xb[j] * xb[j];
    }
}

/* The scale of one block: first d = max / 127 (the level -127 on the
 * element of largest magnitude, sign included), then the least-squares
 * scale of the codes of 15 inverse scales (itry - 127) / max, itry = -7..7,
 * kept when (sum w q x)^2 / sum w q^2 grows (compared cross-multiplied). */
static QTF__ALWAYS_INLINE float fit_block(const float *xb, const float *w) {
    const int8_t *values = qtf__iq4nl_values;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QTF__QK; j++) {
        float ax = fabsf(xb[j]);
        if (ax > amax) {
            amax = ax;
            max = xb[j];
        }
    }
    if (amax < QTF__KQ_GROUP_MAX_EPS) return 0.0f;
    float d = -max / (float)values[0];
    float id = 1.0f / d;
    float sumqx = 0.0f, sumq2 = 0.0f;
    for (int j = 0; j < QTF__QK; j++) {
        const float q = LEVEL[best_index(id * xb[j])];
        sumqx += w[j] * q * xb[j];
        sumq2 += w[j] * q * q;
    }
    d = sumq2 > 0.0f ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int itry = -7; itry <= 7; itry++) {
        id = (float)(itry + values[0]) / max;
        sumqx = sumq2 = 0.0f;
        for (int j = 0; j < QTF__QK; j++) {
            const float q = LEVEL[best_index(id * xb[j])];
            sumqx += w[j] * q * xb[j];
            sumq2 += w[j] * q * q;
        }
        if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* Indices of 32 elements at inverse scale id, packed as nibbles. */
static QTF__ALWAYS_INLINE void pack_indices(uint8_t *qs, const float *xb, float id) {
    uint8_t L[QTF__QK];
    for (int j = 0; j < QTF__QK; j++) L[j] = (uint8_t)best_index(id * xb[j]);
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

static float sum_squares(const float *x, int n) {
    float s = 0.0f;
    for (int j = 0; j < n; j++) s += x[j] * x[j];
    return s;
}

QTF__HOT void qtf__ggml_iq4_nl_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    float w[QTF__QK];
    for (int64_t b = 0; b < n / QTF__QK; b++, out += QTF__IQ4_NL_BYTES) {
        const float *xb = x + b * QTF__QK;
        float sigma2 = sum_squares(xb, QTF__QK);
        sigma2 *= 2.0f / QTF__QK;
        block_weights(w, xb, imp ? imp + b * QTF__QK : NULL, sigma2);
        const float d = fit_block(xb, w);
        qtf__st16(out, qtf__f16_bits(d));
        /* An all-zero block gets id 0: every element takes the level
         * nearest 0 (index 8, value 1), as in ggml. */
        pack_indices(out + 2, xb, d != 0.0f ? 1.0f / d : 0.0f);
    }
}

QTF__HOT void qtf__ggml_iq4_xs_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    float w[QTF__QK], scales[QK_K / QTF__QK];
    for (int64_t sb = 0; sb < n / QK_K; sb++, out += QTF__IQ4_XS_BYTES) {
        const float *xs = x + sb * QK_K;
        const float *qs_imp = imp ? imp + sb * QK_K : NULL;
        float sigma2 = sum_squares(xs, QK_K);
        sigma2 *= 2.0f / QK_K;
        float max_scale = 0.0f, amax_scale = 0.0f;
        for (int ib = 0; ib < QK_K / QTF__QK; ib++) {
            block_weights(w, xs + ib * QTF__QK, qs_imp ? qs_imp + ib * QTF__QK : NULL, sigma2);
            scales[ib] = fit_block(xs + ib * QTF__QK, w);
            if (fabsf(scales[ib]) > amax_scale) {
                amax_scale = fabsf(scales[ib]);
                max_scale = scales[ib];
            }
        }
        /* The largest-magnitude block scale maps to l - 32 = -32. With all
         * blocks zero, d is -0.0 (stored 0x8000), as in ggml. */
        const float d = -max_scale / 32.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        qtf__st16(out, qtf__f16_bits(d));
        uint16_t scales_h = 0;
        uint8_t *scales_l = out + 4;
        memset(scales_l, 0, 4);
        for (int ib = 0; ib < QK_K / QTF__QK; ib++) {
            int l = qtf__kq_nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const float dl = d * (float)l;
            pack_indices(out + 8 + 16 * ib, xs + ib * QTF__QK, dl != 0.0f ? 1.0f / dl : 0.0f);
            l += 32;
            scales_l[ib / 2] |= (uint8_t)((l & 0xF) << (4 * (ib % 2)));
            scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
        qtf__st16(out + 2, scales_h);
    }
}

/* 32 elements from 16 nibble bytes through a 16-entry table of already
 * scaled values: t[i] = scale * level[i] is the very product ggml computes
 * per element, so looking it up changes no bit. */
static inline void lut_nibbles(float *y, const uint8_t *qs, const float *t) {
    for (int j = 0; j < 16; j++) {
        y[j] = t[qs[j] & 0xF];
        y[j + 16] = t[qs[j] >> 4];
    }
}

/* Every IQ4_NL block of a row; `lut` is lut_nibbles or its AVX2 form. */
#define IQ4_NL_BLOCKS(lut)                                                               \
    do {                                                                                 \
        float t[16];                                                                     \
        for (int64_t b = 0; b < n / QTF__QK; b++, in += QTF__IQ4_NL_BYTES, y += QTF__QK) { \
            const float d = qtf__f16_value(qtf__ld16(in));                               \
            for (int i = 0; i < 16; i++) t[i] = d * (float)qtf__iq4nl_values[i];         \
            lut(y, in + 2, t);                                                           \
        }                                                                                \
    } while (0)

#if QTF__GGML_AVX2
/* The same look-up 8 at a time: two in-register permutes (entries 0-7 and
 * 8-15) and a blend on index bit 3. GCC's auto-vectorized form is a gather,
 * slower than scalar loads here. The table stays in registers: built with
 * the same products (scale * level) by one vector multiply per half. */
QTF__AVX2 static inline void lut_nibbles_avx2(float *y, const uint8_t *qs, __m256 lo,
                                              __m256 hi) {
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m128i nib[2] = { _mm_and_si128(b, m), _mm_and_si128(_mm_srli_epi16(b, 4), m) };
    for (int h = 0; h < 2; h++) {
        for (int k = 0; k < 2; k++) {
            const __m256i idx = _mm256_cvtepu8_epi32(
                k ? _mm_srli_si128(nib[h], 8) : nib[h]); /* an immediate shift count, so that -O0 builds */
            const __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));
            const __m256 v = _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx),
                                              _mm256_permutevar8x32_ps(hi, idx), sel);
            _mm256_storeu_ps(y + 16 * h + 8 * k, v);
        }
    }
}

/* levels 0-7 and 8-15 of a 16-entry int8 table, as floats */
QTF__AVX2 static inline void levels_avx2(__m256 *lo, __m256 *hi, const int8_t *v) {
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)v);
    *lo = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
    *hi = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
}

QTF__AVX2 static void iq4_nl_dequant_avx2(const uint8_t *in, float *y, int64_t n) {
    __m256 lv, hv;
    levels_avx2(&lv, &hv, qtf__iq4nl_values);
    for (int64_t b = 0; b < n / QTF__QK; b++, in += QTF__IQ4_NL_BYTES, y += QTF__QK) {
        const __m256 d = _mm256_set1_ps(qtf__f16_value(qtf__ld16(in)));
        lut_nibbles_avx2(y, in + 2, _mm256_mul_ps(d, lv), _mm256_mul_ps(d, hv));
    }
}
#endif

void qtf__ggml_iq4_nl_dequant(const uint8_t *in, float *y, int64_t n) {
    QTF__TRY_AVX2(iq4_nl_dequant_avx2, in, y, n);
    qtf__ggml_iq4_nl_dequant_scalar(in, y, n);
}

void qtf__ggml_iq4_nl_dequant_scalar(const uint8_t *in, float *y, int64_t n) {
    IQ4_NL_BLOCKS(lut_nibbles);
}

/* One super-block; `lut` is lut_nibbles or its AVX2 form. */
#define IQ4_XS_SUPERBLOCK(lut)                                                           \
    do {                                                                                 \
        const float d = qtf__f16_value(qtf__ld16(in));                                   \
        const unsigned scales_h = qtf__ld16(in + 2);                                     \
        const uint8_t *qs = in + 8;                                                      \
        for (int ib = 0; ib < QK_K / QTF__QK; ib++, qs += 16, y += QTF__QK) {            \
            const int ls = ((in[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) |                  \
                           (int)(((scales_h >> (2 * ib)) & 3) << 4);                     \
            /* d * (ls - 32) first, then times the level: two roundings, as ggml */      \
            const float dl = d * (float)(ls - 32);                                       \
            float t[16];                                                                 \
            for (int i = 0; i < 16; i++) t[i] = dl * (float)qtf__iq4nl_values[i];        \
            lut(y, qs, t);                                                               \
        }                                                                                \
    } while (0)

#if QTF__GGML_AVX2
QTF__AVX2 static void iq4_xs_dequant_avx2(const uint8_t *in, float *y, int64_t n) {
    __m256 lv, hv;
    levels_avx2(&lv, &hv, qtf__iq4nl_values);
    for (int64_t sb = 0; sb < n / QK_K; sb++, in += QTF__IQ4_XS_BYTES) {
        const float d = qtf__f16_value(qtf__ld16(in));
        const unsigned scales_h = qtf__ld16(in + 2);
        for (int ib = 0; ib < QK_K / QTF__QK; ib++, y += QTF__QK) {
            const int ls = ((in[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) |
                           (int)(((scales_h >> (2 * ib)) & 3) << 4);
            const __m256 dl = _mm256_set1_ps(d * (float)(ls - 32));
            lut_nibbles_avx2(y, in + 8 + 16 * ib, _mm256_mul_ps(dl, lv), _mm256_mul_ps(dl, hv));
        }
    }
}
#endif

void qtf__ggml_iq4_xs_dequant(const uint8_t *in, float *y, int64_t n) {
    QTF__TRY_AVX2(iq4_xs_dequant_avx2, in, y, n);
    qtf__ggml_iq4_xs_dequant_scalar(in, y, n);
}

void qtf__ggml_iq4_xs_dequant_scalar(const uint8_t *in, float *y, int64_t n) {
    for (int64_t sb = 0; sb < n / QK_K; sb++, in += QTF__IQ4_XS_BYTES)
        IQ4_XS_SUPERBLOCK(lut_nibbles);
}

/* ---- MXFP4 as ggml lays it out -------------------------------------------
 * ggml's kvalues_mxfp4 are the E2M1 values doubled (0 1 2 3 4 6 8 12, then
 * negated for codes 8..15) and its scale is the E8M0 value halved, so
 * value = kvalues[c] * 2^(e - 128). The exponent is floor(log2(amax)) - 2 +
 * 127 (the OCP rule); each element takes the first code of least |error|
 * over all 16 codes (ties to the lower code: toward zero, and +0 for small
 * negatives), which is not OCP's round-half-to-even. */
static const int8_t mxfp4_values[16] = { 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12 };

/* 2^(e - 128) as f32 bits (ggml_e8m0_to_fp32_half): e < 2 gives subnormals. */
static float e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

/* ggml's best_index_mxfp4 for 32 elements: over the 16 codes in order, the
 * first of least |k*d - x|. The codes 8..15 are the negatives of 0..7, so
 * with a = |x| every error is |k*d - a| for k in 0 1 2 3 4 6 8 12 (k*d is
 * exact: d is a power of two): for x >= 0 the negative codes never win (their
 * error exceeds that of code 0 or equals it, later), for x < 0 the positive
 * codes 1..7 never win and code 0 precedes code 8. So the search runs over 8
 * magnitudes, first minimum kept, and a negative x moves a nonzero result to
 * code + 8. Loops over the elements, which vectorize. */
static QTF__ALWAYS_INLINE void mxfp4_codes(int32_t *code, const float *xb, float d) {
    float a[QTF__QK], best[QTF__QK];
    for (int j = 0; j < QTF__QK; j++) {
        a[j] = fabsf(xb[j]);
        best[j] = a[j]; /* code 0: |0*d - x| */
        code[j] = 0;
    }
    for (int i = 1; i < 8; i++) {
        const float v = (float)mxfp4_values[i] * d;
        for (int j = 0; j < QTF__QK; j++) {
            const float err = fabsf(v - a[j]);
            const int better = err < best[j];
            best[j] = better ? err : best[j];
            code[j] = better ? i : code[j];
        }
    }
    for (int j = 0; j < QTF__QK; j++) code[j] += (xb[j] < 0.0f && code[j] > 0) ? 8 : 0;
}

/* ggml's E8M0 exponent of a block: floor(log2f(amax)) - 2 + 127, converted
 * straight to uint8_t; finite rows keep the value in 0..254 for amax >=
 * 2^-125, and smaller blocks go through int as x86 does. */
static inline uint8_t mxfp4_exponent(float amax) {
    return amax > 0.0f ? (uint8_t)(int)(floorf(log2f(amax)) - 2.0f + 127.0f) : 0;
}

QTF__HOT void qtf__ggml_mxfp4_row_scalar(const float *x, uint8_t *out, int64_t n) {
    for (int64_t b = 0; b < n / QTF__QK; b++, out += QTF__MXFP4_GGML_BYTES) {
        const float *xb = x + b * QTF__QK;
        float amax = 0.0f;
        for (int j = 0; j < QTF__QK; j++)
            if (amax < fabsf(xb[j])) amax = fabsf(xb[j]);
        const uint8_t e = mxfp4_exponent(amax);
        const float d = e8m0_half(e);
        out[0] = e;
        int32_t code[QTF__QK];
        mxfp4_codes(code, xb, d);
        for (int j = 0; j < 16; j++) out[1 + j] = (uint8_t)(code[j] | (code[j + 16] << 4));
    }
}

#if QTF__GGML_AVX2
/* mxfp4_codes on 8 elements per vector: the same errors |k*d - |x||, the
 * same strict comparison (the first code of least error kept), so the same
 * codes; the largest |x| by vector max (inputs are finite, |x| >= +0). */
QTF__AVX2 static void mxfp4_row_avx2(const float *x, uint8_t *out, int64_t n) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / QTF__QK; b++, out += QTF__MXFP4_GGML_BYTES) {
        const float *xb = x + b * QTF__QK;
        __m256 xv[4], a[4];
        for (int k = 0; k < 4; k++) {
            xv[k] = _mm256_loadu_ps(xb + 8 * k);
            a[k] = _mm256_and_ps(xv[k], abs_mask);
        }
        __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        const uint8_t e = mxfp4_exponent(_mm_cvtss_f32(m4));
        const float d = e8m0_half(e);
        out[0] = e;
        __m256i code[4];
        for (int k = 0; k < 4; k++) {
            __m256 best = a[k];
            __m256i c = _mm256_setzero_si256();
            for (int i = 1; i < 8; i++) {
                const __m256 v = _mm256_set1_ps((float)mxfp4_values[i] * d);
                const __m256 err = _mm256_and_ps(_mm256_sub_ps(v, a[k]), abs_mask);
                const __m256 better = _mm256_cmp_ps(err, best, _CMP_LT_OQ);
                best = _mm256_blendv_ps(best, err, better);
                c = _mm256_blendv_epi8(c, _mm256_set1_epi32(i), _mm256_castps_si256(better));
            }
            /* negative x with a nonzero code: code + 8 */
            const __m256i neg = _mm256_and_si256(
                _mm256_castps_si256(_mm256_cmp_ps(xv[k], zero, _CMP_LT_OQ)),
                _mm256_cmpgt_epi32(c, _mm256_setzero_si256()));
            code[k] = _mm256_add_epi32(c, _mm256_and_si256(neg, _mm256_set1_epi32(8)));
        }
        /* byte j = code[j] | code[j + 16] << 4 */
        const __m256i lo = _mm256_or_si256(code[0], _mm256_slli_epi32(code[2], 4));
        const __m256i hi = _mm256_or_si256(code[1], _mm256_slli_epi32(code[3], 4));
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
        const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w),
                                               _mm256_extracti128_si256(w, 1));
        _mm_storeu_si128((__m128i *)(void *)(out + 1), bytes);
    }
}
#endif

void qtf__ggml_mxfp4_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    (void)imp; /* quantize_mxfp4 ignores the importance */
    QTF__TRY_AVX2(mxfp4_row_avx2, x, out, n);
    qtf__ggml_mxfp4_row_scalar(x, out, n);
}

#define MXFP4_BLOCKS(lut)                                                                \
    do {                                                                                 \
        float t[16];                                                                     \
        for (int64_t b = 0; b < n / QTF__QK; b++, in += QTF__MXFP4_GGML_BYTES, y += QTF__QK) { \
            const float d = e8m0_half(in[0]);                                            \
            for (int i = 0; i < 16; i++) t[i] = (float)mxfp4_values[i] * d;              \
            lut(y, in + 1, t);                                                           \
        }                                                                                \
    } while (0)

#if QTF__GGML_AVX2
QTF__AVX2 static void mxfp4_dequant_avx2(const uint8_t *in, float *y, int64_t n) {
    __m256 lv, hv;
    levels_avx2(&lv, &hv, mxfp4_values);
    for (int64_t b = 0; b < n / QTF__QK; b++, in += QTF__MXFP4_GGML_BYTES, y += QTF__QK) {
        const __m256 d = _mm256_set1_ps(e8m0_half(in[0]));
        lut_nibbles_avx2(y, in + 1, _mm256_mul_ps(lv, d), _mm256_mul_ps(hv, d));
    }
}
#endif

void qtf__ggml_mxfp4_dequant(const uint8_t *in, float *y, int64_t n) {
    QTF__TRY_AVX2(mxfp4_dequant_avx2, in, y, n);
    qtf__ggml_mxfp4_dequant_scalar(in, y, n);
}

void qtf__ggml_mxfp4_dequant_scalar(const uint8_t *in, float *y, int64_t n) {
    MXFP4_BLOCKS(lut_nibbles);
}
