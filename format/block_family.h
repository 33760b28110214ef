/* format/block_family.h — what the block family's files share (private to
 * format/block*.c). The normative layouts are in spec/encodings/block.md. */
#ifndef QTF_FORMAT_BLOCK_FAMILY_H
#define QTF_FORMAT_BLOCK_FAMILY_H

#include <float.h>
#include <math.h>
#include <string.h>

#include "encodings.h"

/* Hot loops get an AVX2 clone next to the baseline one, picked at load
 * time (GCC function multi-versioning); other targets use the plain code. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define QTF__HOT __attribute__((target_clones("avx2", "default")))
#else
#define QTF__HOT
#endif

/* For bodies instantiated with constant arguments (widths, group lengths),
 * whose point is that the constants reach the loops. */
#if defined(__GNUC__)
#define QTF__ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define QTF__ALWAYS_INLINE inline
#endif

/* A set of `count` equally long runs of elements, run i starting at
 * x + i * stride, all sharing the per-element weights w[0..n) (NULL = all 1).
 * A group inside a row is one run; a per-tensor group is one run per row. */
typedef struct qtf__span {
    const float *x;
    const float *w;
    uint64_t n;
    uint64_t count;
    uint64_t stride;
} qtf__span;

/* Visits span s row by row in chunks of at most `chunk` elements, in order:
 * the body sees the row r, the chunk's first column `at` and its length n
 * (the chunk's values start at s->x + r * s->stride + at). */
#define QTF__SPAN_CHUNKS(s, chunk, r, at, n)                                                  \
    for (uint64_t r = 0; r < (s)->count; r++)                                                 \
        for (uint64_t at = 0, n = 0;                                                          \
             at < (s)->n && ((n = (s)->n - at < (chunk) ? (s)->n - at : (chunk)), 1);          \
             at += (chunk))

/* ---- scalar codecs: INT, NF4, FP4 (format/block_int.c, block_codebook.c) ----
 * A codec maps (scale, min) and a code to a value. `value[c]` is the decoded
 * value of code c at scale 1 (INT sym: c - 2^(N-1); INT asym: c; NF4/FP4: the
 * table); decoding is x = value[c] * scale (+ min for INT asym). */
typedef struct qtf__codec {
    unsigned bits;
    unsigned n_codes;          /* 2^bits */
    int asym;                  /* INT asym: scale + min */
    int uniform;               /* INT: value[c] = c - zero; else a table */
    float qmin, qmax;          /* INT: the code range as values at scale 1 */
    float zero;                /* INT sym: 2^(N-1), the code of value 0; asym: 0 */
    float value[16];           /* tables (NF4, FP4) */
    int nf4;                   /* the NF4 table (else FP4) when !uniform */
    float mid[15];             /* NF4: midpoints between consecutive values */
    float rtn_divisor;         /* rtn scale = absmax / rtn_divisor (tables) */
    /* NF4 decoder: the values of the low and high nibble of every byte. */
    float nf4_pair[256][2];
} qtf__codec;

void qtf__codec_init(qtf__codec *c, const qtf_encoding *e);

/* Nearest codes of n elements for the decoded (scale, min). */
void qtf__codec_encode(const qtf__codec *c, const float *x, uint64_t n, float scale, float min,
                       uint8_t *codes);
/* x = decode(codes) for one group. */
void qtf__codec_decode(const qtf__codec *c, const uint8_t *codes, uint64_t n, float scale,
                       float min, float *dst);
/* Round-to-nearest choice of (scale, min) for a span (importance ignored). */
void qtf__codec_rtn(const qtf__codec *c, const qtf__span *s, float *scale, float *min);
/* The same, as stored in type t: for INT asym the minimum is rounded first and
 * the scale widened so that rounding never uncovers the top of the range. */
void qtf__codec_rtn_stored(const qtf__codec *c, const qtf__span *s, qtf_dtype t, float *scale,
                           float *min);

/* Table codecs (format/block_codebook.c): NF4 and FP4. */
void qtf__codebook_init(qtf__codec *c, qtf_encoding_id id);
void qtf__codebook_encode(const qtf__codec *c, const float *x, uint64_t n, float scale,
                          uint8_t *codes);
void qtf__codebook_decode(const qtf__codec *c, const uint8_t *codes, uint64_t n, float scale,
                          float *dst);
/* v[j] = value (at scale 1) of the nearest code of x[j] at this scale: the
 * search's inner step, without the detour through codes. */
void qtf__codebook_values(const qtf__codec *c, const float *x, uint64_t n, float scale,
                          float *v);

/* ---- search (format/block_search.c) ----
 * Minimises sum w (x - decode(encode(x)))^2 over candidate (scale, min); the
 * winner and the rtn choice are compared after rounding to scale_type (the
 * stored precision), so the result is never worse than rtn. */
void qtf__codec_search(const qtf__codec *c, const qtf__span *s, qtf_dtype scale_type,
                       float *scale, float *min);
/* ---- opt (format/block_hqq.c) ----
 * Robust alternating fit from several clipped ranges (HQQ-like); keeps the
 * best of its iterates, the search result and rtn by the weighted error after
 * rounding to scale_type, so it is never worse than either. */
void qtf__codec_opt(const qtf__codec *c, const qtf__span *s, qtf_dtype scale_type, float *scale,
                    float *min);
/* Weighted squared error of a span at (scale, min) with nearest codes. */
double qtf__codec_span_error(const qtf__codec *c, const qtf__span *s, float scale, float min);

/* ---- scale rounding, inline ----
 * Bit-exact copies of qtf_f32_to_f16 / qtf_f16_to_f32 / qtf_f32_to_bf16 /
 * qtf_bf16_to_f32 (round to nearest even; subnormals; |x| >= 65520 -> Inf;
 * NaN -> quiet NaN keeping the top payload bits). At 32 elements per group the
 * two out-of-line calls per scale were a visible share of the quantizer's
 * time; inlined, the common (normal) case is a few integer operations. */
static inline uint16_t qtf__f16_bits(float f) {
    const uint32_t u = qtf__f32_bits(f);
    const uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a >= 0x47800000u) /* 2^16 and up round beyond 65504; Inf; NaN */
        return (uint16_t)(sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0));
    if (a < 0x38800000u) {
        /* Below 2^-14: adding 0.5 leaves the value's f16 subnormal step
         * (2^-24) as the last mantissa bit, so the FPU does the rounding. */
        float small;
        memcpy(&small, &a, 4);
        small += 0.5f;
        uint32_t b;
        memcpy(&b, &small, 4);
        return (uint16_t)(sign | (b - 0x3f000000u));
    }
    /* Rebias and round the 13 dropped bits; a carry bumps the exponent. */
    return (uint16_t)(sign | ((a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13));
}

static inline float qtf__f16_value(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, a = h & 0x7fffu;
    uint32_t u;
    if (a >= 0x7c00u) {
        u = 0x7f800000u | ((a & 0x3ffu) << 13) | (a > 0x7c00u ? 0x00400000u : 0);
    } else if (a < 0x0400u) {
        /* mantissa * 2^-24 is exact and does not depend on denormals-are-zero */
        float v = (float)(int32_t)a * 0x1p-24f;
        memcpy(&u, &v, 4);
    } else {
        u = (a << 13) + 0x38000000u;
    }
    return qtf__f32_from_bits(u | sign);
}

static inline uint16_t qtf__bf16_bits(float f) {
    const uint32_t u = qtf__f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float qtf__bf16_value(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u;
    return qtf__f32_from_bits(u);
}

/* qtf__block_settle_scale (below), inline for the per-group hot paths. */
static inline float qtf__block_settle_inline(void *part, uint64_t i, float v, qtf_dtype t) {
    unsigned char *p = part;
    float r = v;
    if (t == QTF_DTYPE_F16) {
        uint16_t h = qtf__f16_bits(v);
        if (p) qtf__st16(p + 2 * i, h);
        r = qtf__f16_value(h);
    } else if (t == QTF_DTYPE_BF16) {
        uint16_t h = qtf__bf16_bits(v);
        if (p) qtf__st16(p + 2 * i, h);
        r = qtf__bf16_value(h);
    } else if (p) {
        uint32_t u;
        memcpy(&u, &v, 4);
        qtf__st32(p + 4 * i, u);
    }
    /* A scale this small would make 1/scale overflow. The encoder treats
     * |scale| < FLT_MIN as zero (all codes decode to 0 or to the minimum),
     * so the decoder's tiny nonzero product is within FLT_MIN * 2^N of it. */
    if (fabsf(r) < FLT_MIN) r = 0.0f;
    return r;
}

/* ---- shared helpers (format/block.c) ---- */
/* Rounds v to the precision of t (F16, BF16, F32); magnitudes below FLT_MIN
 * become 0 (block.md, "How this implementation quantizes"). */
float qtf__block_round_scale(float v, qtf_dtype t);
/* Scale (and minimum, 0 if none) of group g as the decoder reads them. */
typedef float (*qtf__group_scale_fn)(const void *ctx, uint64_t g, float *min);
/* The underflow rule (block.md, "Numeric errors"), run after quantizing:
 * groups whose stored scale is 0 (or below FLT_MIN) decode to their minimum;
 * if that loses more than 2^-20 of the tensor's energy (sum x^2: a relative
 * RMSE of 1/1024), QTF_E_NUMERIC naming the first such group's row. Exact
 * zero groups lose nothing; nor do the rare tiny groups of a normal tensor.
 * group_len: elements of a row per group (cols: per row); 0: one group.
 * remedy completes the detail's "use ..." (what the encoding offers). */
qtf_status qtf__block_check_underflow(const float *src, uint64_t rows, uint64_t cols,
                                      uint64_t group_len, qtf__group_scale_fn scale_of,
                                      const void *ctx, const char *type_name, const char *remedy);
/* Stores v as t into slot i of part and returns qtf__block_round_scale(v). */
float qtf__block_settle_scale(void *part, uint64_t i, float v, qtf_dtype t);
void qtf__block_store_scale(void *part, uint64_t i, float v, qtf_dtype t);
float qtf__block_load_scale(const void *part, uint64_t i, qtf_dtype t);
/* dst[i] = qtf__block_load_scale(part, i, t) for i < n, in bulk (one
 * vectorized conversion rather than a call per scale). */
void qtf__block_load_scales(float *dst, const void *part, uint64_t n, qtf_dtype t);
/* QTF_E_NUMERIC naming row and column if any element is NaN or Inf. */
qtf_status qtf__block_check_finite(const float *row, uint64_t cols, uint64_t row_index);
/* Index of the first NaN or Inf of x[0..n), or n when all are finite. */
uint64_t qtf__first_nonfinite(const float *x, uint64_t n);
/* LSB-first bit stream of n codes of `bits` bits (each code < 2^bits). dst
 * holds ceil(n*bits/8) bytes; unused high bits of the last byte are zero. */
void qtf__block_pack(uint8_t *dst, const uint8_t *codes, uint64_t n, unsigned bits);
void qtf__block_unpack(uint8_t *codes, const uint8_t *src, uint64_t n, unsigned bits);
/* Element type of the ZEROS part of INT asym: the scale type, F32 with dq. */
qtf_dtype qtf__block_zeros_type(const qtf_encoding *e);
/* Bytes of one row of codes: one per code with zstd, else packed. */
uint64_t qtf__block_row_code_bytes(const qtf_encoding *e, uint64_t cols);

/* ---- the grouped scalar encodings INT NF4 FP4 (format/block_int.c) ---- */
qtf_status qtf__grouped_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                                 uint64_t cols, const float *importance, unsigned threads,
                                 void *const *parts);
qtf_status qtf__grouped_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                                   uint64_t cols, const void *const *parts, unsigned threads);

/* ---- MXFP4 (format/block_mx.c) ---- */
qtf_status qtf__mx_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                            uint64_t cols, const float *importance, unsigned threads,
                            void *const *parts);
qtf_status qtf__mx_dequantize(float *dst, const qtf_encoding *e, uint64_t rows, uint64_t cols,
                              const void *const *parts, unsigned threads);
/* E2M1 magnitudes of codes 0..7 (code bit 3 is the sign). */
extern const float qtf__e2m1_values[8];

/* The value of E2M1 code c (low 4 bits) built from its bits, equal to
 * +-qtf__e2m1_values[c & 7]: integer operations that vectorize, where a table
 * look-up would need a gather. Normal codes (exponent field >= 1) map to
 * f32 exponent e - 1 + 127 and mantissa bit 22; codes 0 and 1 are 0 and 0.5. */
static inline float qtf__e2m1_unit(uint32_t c) {
    uint32_t c3 = c & 7;
    uint32_t normal = (c3 << 22) + (126u << 23);
    uint32_t small = (c3 & 1) ? 0x3f000000u : 0u;
    return qtf__f32_from_bits((c3 >= 2 ? normal : small) | ((c & 8u) << 28));
}

/* dst[j] = E2M1 value of codes[j] * scale (format/block_codebook.c). */
void qtf__e2m1_decode(float *dst, const uint8_t *codes, uint64_t n, float scale);

/* ---- ggml row kernels, referenced by the rows of the encoding table
 * (format/encodings.c): Q8_0 Q4_0 Q4_1 and the K-quant wrappers are in
 * format/block_ggml.c, the others in format/ggml_legacy.h. */
#define QTF__GGML_ROW_KERNELS(t)                                                         \
    void qtf__ggml_##t##_row(const float *x, uint8_t *out, int64_t n, const float *imp); \
    void qtf__ggml_##t##_dequant(const uint8_t *in, float *y, int64_t n);
QTF__GGML_ROW_KERNELS(q8_0)
QTF__GGML_ROW_KERNELS(q4_0)
QTF__GGML_ROW_KERNELS(q4_1)
QTF__GGML_ROW_KERNELS(q2_k)
QTF__GGML_ROW_KERNELS(q3_k)
QTF__GGML_ROW_KERNELS(q4_k)
QTF__GGML_ROW_KERNELS(q5_k)
QTF__GGML_ROW_KERNELS(q6_k)
#undef QTF__GGML_ROW_KERNELS

/* ---- ggml blocks (format/block_ggml.c, ggml_legacy.c, ggml_iq4.c) ----
 * Rows are whole blocks (qtf__block_layout checks); importance may be NULL. */
qtf_status qtf__ggml_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                              uint64_t cols, const float *importance, unsigned threads,
                              void *const *parts);
qtf_status qtf__ggml_dequantize(float *dst, const qtf_encoding *e, uint64_t rows, uint64_t cols,
                                const void *const *parts, unsigned threads);

#endif
