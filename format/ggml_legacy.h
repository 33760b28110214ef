/* format/ggml_legacy.h — ggml's 32-element block types beyond the reference
 * quantizers of format/block_ggml.c, and the 4-bit non-linear types
 * (private to format/block_ggml.c, format/ggml_*.c and tests).
 *
 * Every quantizer here reproduces, byte for byte, what ggml's quantize_<type>
 * (src/ggml-quants.c, ggml 0.21) writes for one row: the same operations in
 * the same order on f32 (the project compiles with -ffp-contract=off, as the
 * CPU build that wrote the fixtures in ../shared/gguf behaves), the same
 * tie-breaking, the same rounding of scales to f16. `imp` is the per-column
 * importance (llama.cpp's imatrix mean, in_sum2 / counts), NULL for none; it
 * is indexed like the row. Rows are whole blocks (the caller checks).
 * Layouts: spec/encodings/ggml.md. */
#ifndef QTF_FORMAT_GGML_LEGACY_H
#define QTF_FORMAT_GGML_LEGACY_H

#include <stdint.h>
#include <string.h>

#include "block_family.h" /* QTF__ALWAYS_INLINE */

#define QTF__QK 32 /* elements of a Q4/Q5/Q8/IQ4_NL/MXFP4 block */

/* Dequantizers with an AVX2 form (x86-64 GCC/clang) pick it at run time
 * (__builtin_cpu_supports); QTF__AVX2 marks those functions. */
#if defined(__GNUC__) && defined(__x86_64__)
#define QTF__GGML_AVX2 1
#define QTF__AVX2 __attribute__((target("avx2")))
#include <immintrin.h>
/* In a void function: run the AVX2 form f(args) and return when the CPU has
 * AVX2 (elsewhere the form does not exist and this is a no-op). */
#define QTF__TRY_AVX2(f, ...)                                                            \
    do {                                                                                 \
        if (__builtin_cpu_supports("avx2")) {                                            \
            f(__VA_ARGS__);                                                              \
            return;                                                                      \
        }                                                                                \
    } while (0)
#else
#define QTF__GGML_AVX2 0
#define QTF__AVX2
#define QTF__TRY_AVX2(f, ...) ((void)0)
#endif

/* The block extremes ggml's reference quantizers scan for, in loops that
 * vectorize (integer max/min over the float bit patterns, which order finite
 * floats; inputs are finite here). ggml keeps the FIRST element that beats
 * the running value (strict comparison), so the value found is then looked
 * up in element order: that only matters for +0 / -0, equal as floats.
 *
 * The element of largest magnitude, first of equals, or +0 when every
 * element is zero (ggml's `max` starts at 0 and is never replaced). */
static QTF__ALWAYS_INLINE float qtf__ggml_first_absmax(const float *x, int n) {
    uint32_t m = 0;
    for (int j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, &x[j], 4);
        u &= 0x7fffffffu;
        m = u > m ? u : m;
    }
    if (m == 0) return 0.0f;
    int j = 0;
    for (;; j++) {
        uint32_t u;
        memcpy(&u, &x[j], 4);
        if ((u & 0x7fffffffu) == m) break;
    }
    return x[j];
}

/* int32 key whose order is the float order, -0 just below +0 */
static QTF__ALWAYS_INLINE int32_t qtf__ggml_order_key(float v) {
    int32_t i;
    memcpy(&i, &v, 4);
    return i ^ (int32_t)((uint32_t)(i >> 31) >> 1);
}

/* ggml's min/max scan (`if (v < min) min = v; if (v > max) max = v;` from
 * FLT_MAX / -FLT_MAX): the values, a zero carrying the sign of the first
 * zero in element order. */
static QTF__ALWAYS_INLINE void qtf__ggml_minmax(float *min, float *max, const float *x, int n) {
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (int j = 0; j < n; j++) {
        const int32_t k = qtf__ggml_order_key(x[j]);
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    int32_t bits[2] = { lo ^ (int32_t)((uint32_t)(lo >> 31) >> 1),
                        hi ^ (int32_t)((uint32_t)(hi >> 31) >> 1) };
    float v[2];
    memcpy(v, bits, sizeof v);
    for (int e = 0; e < 2; e++) {
        if (v[e] != 0.0f) continue;
        for (int j = 0; j < n; j++)
            if (x[j] == 0.0f) {
                v[e] = x[j];
                break;
            }
    }
    *min = v[0];
    *max = v[1];
}

/* The block header of the asymmetric types (Q4_1: levels 15, Q5_1: 31), as
 * ggml's reference quantizers compute it: d = (max - min) / levels and min,
 * both stored as f16 at out[0..4). Returns 1/d (0 when d is 0); *min. */
static QTF__ALWAYS_INLINE float qtf__ggml_asym_header(uint8_t *out, float *min, const float *x,
                                                      float levels) {
    float max;
    qtf__ggml_minmax(min, &max, x, QTF__QK);
    const float d = (max - *min) / levels;
    qtf__st16(out, qtf__f16_bits(d));
    qtf__st16(out + 2, qtf__f16_bits(*min));
    return d != 0.0f ? 1.0f / d : 0.0f;
}

/* The 16 IQ4_NL / IQ4_XS levels (kvalues_iq4nl), ascending. */
extern const int8_t qtf__iq4nl_values[16];

/* Bytes of one block. */
#define QTF__Q5_0_BYTES 22   /* f16 d, u8 qh[4], u8 qs[16] */
#define QTF__Q5_1_BYTES 24   /* f16 d, f16 m, u8 qh[4], u8 qs[16] */
#define QTF__IQ4_NL_BYTES 18 /* f16 d, u8 qs[16] */
#define QTF__IQ4_XS_BYTES 136 /* f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128] */
#define QTF__MXFP4_GGML_BYTES 17 /* u8 e, u8 qs[16] */

/* One row of n elements (n a multiple of the block) -> n / block blocks. */
void qtf__ggml_q4_0_row_weighted(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_q4_1_row_weighted(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_q5_0_row(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_q5_1_row(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_iq4_nl_row(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_iq4_xs_row(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_mxfp4_row(const float *x, uint8_t *out, int64_t n, const float *imp);

/* n elements (a multiple of the block) from n / block blocks, exactly as
 * ggml's dequantize_row_<type>. */
void qtf__ggml_q5_0_dequant(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_q5_1_dequant(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_iq4_nl_dequant(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_iq4_xs_dequant(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_mxfp4_dequant(const uint8_t *in, float *y, int64_t n);

/* The portable forms behind the dequantizers above that pick an AVX2 form at
 * run time (tests compare the two). */
void qtf__ggml_q8_0_dequant_scalar(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_q5_0_dequant_scalar(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_q5_1_dequant_scalar(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_iq4_nl_dequant_scalar(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_iq4_xs_dequant_scalar(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_mxfp4_dequant_scalar(const uint8_t *in, float *y, int64_t n);

/* The portable form of qtf__ggml_mxfp4_row, which picks an AVX2 form at run
 * time (tests compare the two). */
void qtf__ggml_mxfp4_row_scalar(const float *x, uint8_t *out, int64_t n);

#endif
