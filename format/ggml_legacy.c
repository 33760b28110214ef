/* format/ggml_legacy.c — Q5_0 and Q5_1, and the importance-weighted paths of
 * Q4_0, Q4_1, Q5_0 and Q5_1: byte for byte what ggml's quantize_q4_0 ...
 * quantize_q5_1 write (src/ggml-quants.c, ggml 0.21).
 *
 * ggml has two quantizers per type. Without an importance vector it uses the
 * reference rounding (quantize_row_<type>_ref: the scale from the extreme
 * element, codes by truncating x/d + offset); with one it switches to a
 * weighted least-squares fit of the scale (make_qx_quants for the symmetric
 * types, make_qkx3_quants for those with a minimum), whose weight per element
 * is imp[j] * sqrt(sigma2 + x[j]^2), sigma2 the mean square of the whole row.
 * Q8_0 and MXFP4 ignore the importance (quantize_q8_0, quantize_mxfp4).
 *
 *   Q5_0 (22 bytes): f16 d, u32 qh (LE), u8 qs[16];          x = d * (q - 16)
 *   Q5_1 (24 bytes): f16 d, f16 m, u32 qh (LE), u8 qs[16];   x = d * q + m
 *   q = low nibble of qs[j] (element j) or high nibble (element j + 16), with
 *   bit 4 from qh bit j (element j) or bit j + 16 (element j + 16). */
#if defined(__GNUC__) && !defined(__clang__)
/* As format/block_ggml.c: let -O2 vectorize the fixed-count inner loops. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <float.h>
#include <math.h>

#include "block_family.h"
#include "ggml_legacy.h"

/* Blocks whose largest magnitude is below this are all zero (GROUP_MAX_EPS). */
#define GROUP_MAX_EPS 1e-15f

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

/* ggml's make_qx_quants with rmse_type 1 and weights w: the symmetric scale
 * maximising (sum w x l)^2 / sum w l^2 over the codes l in [-nmax, nmax-1]
 * obtained from 19 trial inverse scales -(nmax + 0.1 is) / max, is = -9..9.
 * L receives l + nmax. The products keep ggml's association: (w*x)*l and
 * (w*l)*l, accumulated in element order. */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L, const float *w) {
    float max = 0.0f, amax = 0.0f;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { /* strict: the first extreme wins ties */
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = imax(-nmax, imin(nmax - 1, qtf__ggml_nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = imax(-nmax, imin(nmax - 1, qtf__ggml_nearest_int(iscale * x[i])));
            sumlx += w[i] * x[i] * (float)l;
            suml2 += w[i] * (float)l * (float)l;
        }
        /* Compared cross-multiplied, as ggml does, so no division rounds. */
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = qtf__ggml_nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + imax(-nmax, imin(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* ggml's make_qkx3_quants (rmin -0.9, rdelta 0.05, 37 steps, squared error):
 * scale and minimum (x = scale * l + min, l in [0, nmax], min <= 0) by a
 * weighted least-squares solve for each trial inverse scale, keeping the one
 * of least weighted squared error. Returns the scale; *neg_min = -min. */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                        float *neg_min) {
    uint8_t Laux[QTF__QK];
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max <= min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_err = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = qtf__ggml_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)imax(0, imin(nmax, l));
        float diff = scale * (float)L[i] + min - x[i];
        best_err += w[i] * (diff * diff);
    }
    for (int is = 0; is <= 36; is++) {
        iscale = (-0.9f + 0.05f * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            /* Clamped before rounding: the minimum is the best fit so far
             * and may sit near max, where the product leaves the range. */
            float v = iscale * (x[i] - min);
            int l = v > 0.0f ? qtf__ggml_nearest_int(v < (float)nmax ? v : (float)nmax) : 0;
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float err = 0.0f;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                err += w[i] * (diff * diff);
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

/* sigma2 of the weighted paths: the mean square of the whole row, summed in
 * element order (ggml's loop), divided by the row length. */
static float row_sigma2(const float *x, int64_t n) {
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++) s += x[j] * x[j];
    return s / (float)n;
}

static void block_weights(float *w, const float *x, const float *imp, float sigma2) {
    for (int j = 0; j < QTF__QK; j++) w[j] = imp[j] * sqrtf(sigma2 + x[j] * x[j]);
}

/* codes 0..31 of elements j and j + 16 -> qs nibbles and the qh bit field */
static void pack5(uint8_t *qh_qs, const uint8_t *L) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qh_qs[4 + j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        qh |= ((uint32_t)(L[j] & 0x10u) >> 4) << j;
        qh |= ((uint32_t)(L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    qtf__st32(qh_qs, qh);
}

void qtf__ggml_q4_0_row_weighted(const float *x, uint8_t *out, int64_t n, const float *imp) {
    const float sigma2 = row_sigma2(x, n);
    float w[QTF__QK];
    int8_t L[QTF__QK];
    for (int64_t b = 0; b < n / QTF__QK; b++, out += 18) {
        const float *xb = x + b * QTF__QK;
        block_weights(w, xb, imp + b * QTF__QK, sigma2);
        qtf__st16(out, qtf__f16_bits(fit_symmetric(QTF__QK, 8, xb, L, w)));
        for (int j = 0; j < 16; j++) out[2 + j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

void qtf__ggml_q4_1_row_weighted(const float *x, uint8_t *out, int64_t n, const float *imp) {
    const float sigma2 = row_sigma2(x, n);
    float w[QTF__QK];
    uint8_t L[QTF__QK];
    for (int64_t b = 0; b < n / QTF__QK; b++, out += 20) {
        const float *xb = x + b * QTF__QK;
        block_weights(w, xb, imp + b * QTF__QK, sigma2);
        float neg_min;
        float d = fit_affine(QTF__QK, 15, xb, w, L, &neg_min);
        qtf__st16(out, qtf__f16_bits(d));
        qtf__st16(out + 2, qtf__f16_bits(-neg_min));
        for (int j = 0; j < 16; j++) out[4 + j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

/* quantize_row_q5_0_ref: d = max / -16 from the element of largest
 * magnitude; codes truncate x/d + 16.5 (so round half up) and clip at 31. */
static void q5_0_block_ref(const float *x, uint8_t *out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QTF__QK; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf__f16_bits(d));
    uint8_t L[QTF__QK];
    for (int j = 0; j < QTF__QK; j++) {
        /* x*id + 16.5 lies in [0.5, 32.5]: the int8 conversion of ggml is a
         * plain truncation here. */
        int q = (int)(int8_t)(x[j] * id + 16.5f);
        L[j] = (uint8_t)(q < 31 ? q : 31);
    }
    pack5(out + 2, L);
}

/* quantize_row_q5_1_ref: d = (max - min) / 31, m = min; codes truncate
 * (x - min)/d + 0.5. (x - min) * (1/d) never reaches 31.5, so ggml's missing
 * clip at 31 does not matter; the code is kept as ggml computes it. */
static void q5_1_block_ref(const float *x, uint8_t *out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < QTF__QK; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf__f16_bits(d));
    qtf__st16(out + 2, qtf__f16_bits(min));
    uint8_t L[QTF__QK];
    for (int j = 0; j < QTF__QK; j++) L[j] = (uint8_t)(int)((x[j] - min) * id + 0.5f);
    pack5(out + 4, L);
}

void qtf__ggml_q5_0_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    const int64_t nb = n / QTF__QK;
    if (!imp) {
        for (int64_t b = 0; b < nb; b++) q5_0_block_ref(x + b * QTF__QK, out + b * 22);
        return;
    }
    const float sigma2 = row_sigma2(x, n);
    float w[QTF__QK];
    int8_t L[QTF__QK];
    for (int64_t b = 0; b < nb; b++, out += 22) {
        const float *xb = x + b * QTF__QK;
        block_weights(w, xb, imp + b * QTF__QK, sigma2);
        qtf__st16(out, qtf__f16_bits(fit_symmetric(QTF__QK, 16, xb, L, w)));
        pack5(out + 2, (const uint8_t *)L);
    }
}

void qtf__ggml_q5_1_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    const int64_t nb = n / QTF__QK;
    if (!imp) {
        for (int64_t b = 0; b < nb; b++) q5_1_block_ref(x + b * QTF__QK, out + b * 24);
        return;
    }
    const float sigma2 = row_sigma2(x, n);
    float w[QTF__QK];
    uint8_t L[QTF__QK];
    for (int64_t b = 0; b < nb; b++, out += 24) {
        const float *xb = x + b * QTF__QK;
        block_weights(w, xb, imp + b * QTF__QK, sigma2);
        float neg_min;
        float d = fit_affine(QTF__QK, 31, xb, w, L, &neg_min);
        qtf__st16(out, qtf__f16_bits(d));
        qtf__st16(out + 2, qtf__f16_bits(-neg_min));
        pack5(out + 4, L);
    }
}

/* dequantize_row_q5_0 / q5_1: the integer code times d (plus m), one
 * rounding each. The 5-bit codes are first gathered into a byte array so
 * that the conversion loop is straight-line and vectorizes. */
static inline void unpack5(uint8_t *codes, const uint8_t *qh_qs) {
    const uint32_t qh = qtf__ld32(qh_qs);
    const uint8_t *qs = qh_qs + 4;
    for (int j = 0; j < 16; j++) {
        codes[j] = (uint8_t)(qs[j] & 0x0F);
        codes[j + 16] = (uint8_t)(qs[j] >> 4);
    }
    for (int j = 0; j < 32; j++) codes[j] = (uint8_t)(codes[j] | (((qh >> j) & 1u) << 4));
}

#if QTF__GGML_AVX2
/* The 32 codes of a Q5 block as four vectors of 8 int32: nibbles widened,
 * bit 4 from qh shifted right by each element's index. */
QTF__AVX2 static inline void codes5_avx2(__m256i *c, const uint8_t *qh_qs) {
    const __m256i qh = _mm256_set1_epi32((int)qtf__ld32(qh_qs));
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(qh_qs + 4));
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m128i nib[2] = { _mm_and_si128(b, m), _mm_and_si128(_mm_srli_epi16(b, 4), m) };
    const __m256i one = _mm256_set1_epi32(1);
    for (int q = 0; q < 4; q++) {
        const __m256i pos = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                             _mm256_set1_epi32(8 * q));
        const __m256i hb = _mm256_and_si256(_mm256_srlv_epi32(qh, pos), one);
        const __m256i lo = _mm256_cvtepu8_epi32(_mm_srli_si128(nib[q / 2], 8 * (q % 2)));
        c[q] = _mm256_or_si256(lo, _mm256_slli_epi32(hb, 4));
    }
}

QTF__AVX2 static void q5_0_dequant_avx2(const uint8_t *in, float *y, int64_t n) {
    const __m256i sixteen = _mm256_set1_epi32(16);
    for (int64_t b = 0; b < n / QTF__QK; b++, in += 22, y += QTF__QK) {
        const __m256 d = _mm256_set1_ps(qtf__f16_value(qtf__ld16(in)));
        __m256i c[4];
        codes5_avx2(c, in + 2);
        for (int q = 0; q < 4; q++)
            _mm256_storeu_ps(y + 8 * q,
                             _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(c[q], sixteen)), d));
    }
}

QTF__AVX2 static void q5_1_dequant_avx2(const uint8_t *in, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QTF__QK; b++, in += 24, y += QTF__QK) {
        const __m256 d = _mm256_set1_ps(qtf__f16_value(qtf__ld16(in)));
        const __m256 m = _mm256_set1_ps(qtf__f16_value(qtf__ld16(in + 2)));
        __m256i c[4];
        codes5_avx2(c, in + 4);
        /* separate multiply and add: no FMA, as ggml's x*d + m */
        for (int q = 0; q < 4; q++)
            _mm256_storeu_ps(y + 8 * q, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(c[q]), d), m));
    }
}
#endif

void qtf__ggml_q5_0_dequant(const uint8_t *in, float *y, int64_t n) {
#if QTF__GGML_AVX2
    if (__builtin_cpu_supports("avx2")) {
        q5_0_dequant_avx2(in, y, n);
        return;
    }
#endif
    uint8_t codes[QTF__QK];
    for (int64_t b = 0; b < n / QTF__QK; b++, in += 22, y += QTF__QK) {
        const float d = qtf__f16_value(qtf__ld16(in));
        unpack5(codes, in + 2);
        for (int j = 0; j < QTF__QK; j++) y[j] = (float)((int32_t)codes[j] - 16) * d;
    }
}

void qtf__ggml_q5_1_dequant(const uint8_t *in, float *y, int64_t n) {
#if QTF__GGML_AVX2
    if (__builtin_cpu_supports("avx2")) {
        q5_1_dequant_avx2(in, y, n);
        return;
    }
#endif
    uint8_t codes[QTF__QK];
    for (int64_t b = 0; b < n / QTF__QK; b++, in += 24, y += QTF__QK) {
        const float d = qtf__f16_value(qtf__ld16(in));
        const float m = qtf__f16_value(qtf__ld16(in + 2));
        unpack5(codes, in + 4);
        for (int j = 0; j < QTF__QK; j++) y[j] = (float)(int32_t)codes[j] * d + m;
    }
}
