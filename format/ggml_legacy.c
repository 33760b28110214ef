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
#include "ggml_kquants_search.h"
#include "ggml_legacy.h"

/* sigma2 of the weighted paths: the mean square of the whole row, summed in
 * element order (ggml's loop), divided by the row length. */
static float row_sigma2(const float *x, int64_t n) {
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++) s += x[j] * x[j];
    return s / (float)n;
}

/* codes 0..31 of elements j and j + 16 -> qs nibbles and the qh bit field */
static QTF__ALWAYS_INLINE void pack5(uint8_t *qh_qs, const uint8_t *L) {
    for (int j = 0; j < 16; j++)
        qh_qs[4 + j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
    uint32_t qh = 0; /* codes are <= 31: L >> 4 is bit 4 */
    for (int j = 0; j < QTF__QK; j++) qh |= (uint32_t)(L[j] >> 4) << j;
    qtf__st32(qh_qs, qh);
}

/* The weighted fits are ggml's make_qx_quants (symmetric: Q4_0 nmax 8,
 * Q5_0 nmax 16) and make_qkx3_quants (scale and minimum: Q4_1 nmax 15,
 * Q5_1 nmax 31; rmin -0.9, rdelta 0.05, 36 steps, squared error), shared
 * with the K-quants (format/ggml_kquants_search.c), which run 8 blocks at a
 * time, one per SIMD lane, each with ggml's own sequence of operations.
 *
 * One row: the blocks in groups of 8 (unused lanes get zeros, an all-zero
 * block, and are dropped); `put` writes block s of the group from its codes
 * (code of element j in L[j]), scale and minimum. */
typedef void (*put_block_fn)(uint8_t *out, const uint8_t *L, float d, float neg_min);

static void weighted_row(const float *x, uint8_t *out, int64_t n, const float *imp, int nmax,
                         int affine, uint32_t block_bytes, put_block_fn put) {
    const float sigma2 = row_sigma2(x, n);
    const int64_t nb = n / QTF__QK;
    qtf__kq_lanes_f xl[QTF__QK], wl[QTF__QK];
    qtf__kq_lanes_i8 Ls[QTF__QK];
    qtf__kq_lanes_u8 La[QTF__QK];
    float scale[QTF__KQ_LANES], neg_min[QTF__KQ_LANES];
    for (int64_t b0 = 0; b0 < nb; b0 += QTF__KQ_LANES) {
        const int lanes = nb - b0 < QTF__KQ_LANES ? (int)(nb - b0) : QTF__KQ_LANES;
        memset(xl, 0, sizeof xl);
        memset(wl, 0, sizeof wl);
        for (int s = 0; s < lanes; s++) {
            const float *xb = x + (b0 + s) * QTF__QK, *ib = imp + (b0 + s) * QTF__QK;
            for (int j = 0; j < QTF__QK; j++) {
                xl[j].v[s] = xb[j];
                wl[j].v[s] = ib[j] * sqrtf(sigma2 + xb[j] * xb[j]);
            }
        }
        if (affine)
            qtf__kq_make_qkx_lanes(QTF__QK, nmax, xl, wl, La, scale, neg_min, -0.9f, 0.05f, 36,
                                   0, 1);
        else
            qtf__kq_make_qx_lanes(QTF__QK, nmax, xl, wl, Ls, scale);
        for (int s = 0; s < lanes; s++) {
            uint8_t L[QTF__QK];
            for (int j = 0; j < QTF__QK; j++) L[j] = affine ? La[j].v[s] : (uint8_t)Ls[j].v[s];
            put(out + (uint64_t)(b0 + s) * block_bytes, L, scale[s], affine ? neg_min[s] : 0.0f);
        }
    }
}

static void put_q4_0(uint8_t *out, const uint8_t *L, float d, float neg_min) {
    (void)neg_min;
    qtf__st16(out, qtf__f16_bits(d));
    for (int j = 0; j < 16; j++) out[2 + j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

static void put_q4_1(uint8_t *out, const uint8_t *L, float d, float neg_min) {
    qtf__st16(out, qtf__f16_bits(d));
    qtf__st16(out + 2, qtf__f16_bits(-neg_min));
    for (int j = 0; j < 16; j++) out[4 + j] = (uint8_t)(L[j] | (L[j + 16] << 4));
}

static void put_q5_0(uint8_t *out, const uint8_t *L, float d, float neg_min) {
    (void)neg_min;
    qtf__st16(out, qtf__f16_bits(d));
    pack5(out + 2, L);
}

static void put_q5_1(uint8_t *out, const uint8_t *L, float d, float neg_min) {
    qtf__st16(out, qtf__f16_bits(d));
    qtf__st16(out + 2, qtf__f16_bits(-neg_min));
    pack5(out + 4, L);
}

void qtf__ggml_q4_0_row_weighted(const float *x, uint8_t *out, int64_t n, const float *imp) {
    weighted_row(x, out, n, imp, 8, 0, 18, put_q4_0);
}

void qtf__ggml_q4_1_row_weighted(const float *x, uint8_t *out, int64_t n, const float *imp) {
    weighted_row(x, out, n, imp, 15, 1, 20, put_q4_1);
}

/* quantize_row_q5_0_ref: d = max / -16 from the element of largest
 * magnitude; codes truncate x/d + 16.5 (so round half up) and clip at 31. */
static QTF__ALWAYS_INLINE void q5_0_block_ref(const float *x, uint8_t *out) {
    const float max = qtf__ggml_first_absmax(x, QTF__QK);
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
static QTF__ALWAYS_INLINE void q5_1_block_ref(const float *x, uint8_t *out) {
    float min;
    const float id = qtf__ggml_asym_header(out, &min, x, 31.0f);
    uint8_t L[QTF__QK];
    for (int j = 0; j < QTF__QK; j++) L[j] = (uint8_t)(int)((x[j] - min) * id + 0.5f);
    pack5(out + 4, L);
}

QTF__HOT void qtf__ggml_q5_0_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    const int64_t nb = n / QTF__QK;
    if (!imp) {
        for (int64_t b = 0; b < nb; b++) q5_0_block_ref(x + b * QTF__QK, out + b * 22);
        return;
    }
    weighted_row(x, out, n, imp, 16, 0, QTF__Q5_0_BYTES, put_q5_0);
}

QTF__HOT void qtf__ggml_q5_1_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    const int64_t nb = n / QTF__QK;
    if (!imp) {
        for (int64_t b = 0; b < nb; b++) q5_1_block_ref(x + b * QTF__QK, out + b * 24);
        return;
    }
    weighted_row(x, out, n, imp, 31, 1, QTF__Q5_1_BYTES, put_q5_1);
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
/* The 32 codes of a Q5 block as four vectors of 8 int32: the nibbles as 32
 * bytes (elements 0-15 low, 16-31 high), bit 4 from qh spread to bytes
 * (byte j = byte j/8 of qh, tested against bit j%8), then widened. */
QTF__AVX2 static inline void codes5_avx2(__m256i *c, const uint8_t *qh_qs) {
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)qtf__ld32(qh_qs)),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit),
                                          _mm256_set1_epi8(0x10));
    const __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(qh_qs + 4));
    const __m128i m = _mm_set1_epi8(0x0F);
    const __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
    const __m256i codes = _mm256_or_si256(nib, high);
    const __m128i lo = _mm256_castsi256_si128(codes), hi = _mm256_extracti128_si256(codes, 1);
    c[0] = _mm256_cvtepu8_epi32(lo);
    c[1] = _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8));
    c[2] = _mm256_cvtepu8_epi32(hi);
    c[3] = _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8));
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
    QTF__TRY_AVX2(q5_0_dequant_avx2, in, y, n);
    qtf__ggml_q5_0_dequant_scalar(in, y, n);
}

void qtf__ggml_q5_0_dequant_scalar(const uint8_t *in, float *y, int64_t n) {
    uint8_t codes[QTF__QK];
    for (int64_t b = 0; b < n / QTF__QK; b++, in += 22, y += QTF__QK) {
        const float d = qtf__f16_value(qtf__ld16(in));
        unpack5(codes, in + 2);
        for (int j = 0; j < QTF__QK; j++) y[j] = (float)((int32_t)codes[j] - 16) * d;
    }
}

void qtf__ggml_q5_1_dequant(const uint8_t *in, float *y, int64_t n) {
    QTF__TRY_AVX2(q5_1_dequant_avx2, in, y, n);
    qtf__ggml_q5_1_dequant_scalar(in, y, n);
}

void qtf__ggml_q5_1_dequant_scalar(const uint8_t *in, float *y, int64_t n) {
    uint8_t codes[QTF__QK];
    for (int64_t b = 0; b < n / QTF__QK; b++, in += 24, y += QTF__QK) {
        const float d = qtf__f16_value(qtf__ld16(in));
        const float m = qtf__f16_value(qtf__ld16(in + 2));
        unpack5(codes, in + 4);
        for (int j = 0; j < QTF__QK; j++) y[j] = (float)(int32_t)codes[j] * d + m;
    }
}
