/* format/block_ggml.c — the ggml block encodings (one row per type in the
 * encoding table, format/encodings.c) and their dispatch; Q8_0, Q4_0,
 * Q4_1 without importance are here: byte-for-byte the blocks of ggml's
 * reference quantizers (quantize_row_q8_0_ref etc. in ggml's
 * src/ggml-quants.c), so that a BLOCKS part can be copied into a GGUF file.
 * The other types live in format/ggml_legacy.c and format/ggml_iq4.c.
 * The arithmetic is ggml's: codes are computed with the f32 d, then d (and m)
 * are rounded to f16 for storage; Q4_0/Q4_1 codes are truncated after adding
 * 8.5 / 0.5, not rounded. Blocks of 32 run along the row.
 *
 *   Q8_0 (34 bytes): f16 d, int8 q[32];            x = d * q
 *   Q4_0 (18 bytes): f16 d, u8 qs[16];             x = d * (q - 8)
 *   Q4_1 (20 bytes): f16 d, f16 m, u8 qs[16];      x = d * q + m
 *   4-bit: qs[j] low nibble = element j, high nibble = element j + 16. */
#if defined(__GNUC__) && !defined(__clang__)
/* The hot loops have run-time trip counts; -O2's "very cheap" vectorizer
 * cost model skips such loops, which costs 2-3x here. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <float.h>
#include <math.h>
#include <string.h>

#include "block_family.h"
#include "ggml_kquants.h"
#include "ggml_legacy.h"
#include "stream.h"

#define QK 32

/* roundf (half away from zero) for |v| < 2^31, in operations that vectorize:
 * v - trunc(v) is exact (same sign, |trunc(v)| >= |v|/2 or trunc(v) = 0). */
static inline int32_t round_half_away(float v) {
    int32_t t = (int32_t)v;
    float frac = v - (float)t;
    return t + (frac >= 0.5f) - (frac <= -0.5f);
}

static QTF__ALWAYS_INLINE void q8_0_block(const float *x, uint8_t *out) {
    const float amax = fabsf(qtf__ggml_first_absmax(x, QK));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf__f16_bits(d));
    int8_t q[QK];
    for (int j = 0; j < QK; j++) q[j] = (int8_t)round_half_away(x[j] * id);
    memcpy(out + 2, q, QK);
}

static QTF__ALWAYS_INLINE void q4_0_block(const float *x, uint8_t *out) {
    const float max = qtf__ggml_first_absmax(x, QK); /* the first extreme wins ties */
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf__f16_bits(d));
    for (int j = 0; j < QK / 2; j++) {
        /* x * id + 8.5 lies in [0.5, 16.5]: ggml's int8 conversion truncates
         * like int's */
        int lo = (int)(x[j] * id + 8.5f);
        int hi = (int)(x[j + QK / 2] * id + 8.5f);
        lo = lo < 15 ? lo : 15;
        hi = hi < 15 ? hi : 15;
        out[2 + j] = (uint8_t)(lo | (hi << 4));
    }
}

static QTF__ALWAYS_INLINE void q4_1_block(const float *x, uint8_t *out) {
    float min;
    const float id = qtf__ggml_asym_header(out, &min, x, 15.0f);
    for (int j = 0; j < QK / 2; j++) {
        /* the value lies in [0.5, 15.5]: ggml's int8 conversion truncates
         * like int's */
        int lo = (int)((x[j] - min) * id + 0.5f);
        int hi = (int)((x[j + QK / 2] - min) * id + 0.5f);
        lo = lo < 15 ? lo : 15;
        hi = hi < 15 ? hi : 15;
        out[4 + j] = (uint8_t)(lo | (hi << 4));
    }
}

/* Row functions of the reference types: the importance switches Q4_0 and
 * Q4_1 to ggml's weighted fit (format/ggml_legacy.c); Q8_0 ignores it, as
 * ggml's quantize_q8_0 does. */
QTF__HOT void qtf__ggml_q8_0_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    (void)imp;
    for (int64_t b = 0; b < n / QK; b++) q8_0_block(x + b * QK, out + b * 34);
}

QTF__HOT void qtf__ggml_q4_0_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    if (imp) {
        qtf__ggml_q4_0_row_weighted(x, out, n, imp);
        return;
    }
    for (int64_t b = 0; b < n / QK; b++) q4_0_block(x + b * QK, out + b * 18);
}

QTF__HOT void qtf__ggml_q4_1_row(const float *x, uint8_t *out, int64_t n, const float *imp) {
    if (imp) {
        qtf__ggml_q4_1_row_weighted(x, out, n, imp);
        return;
    }
    for (int64_t b = 0; b < n / QK; b++) q4_1_block(x + b * QK, out + b * 20);
}

#if QTF__GGML_AVX2
QTF__AVX2 static void q8_0_dequant_avx2(const uint8_t *in, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, in += 34, y += QK) {
        const __m256 d = _mm256_set1_ps(qtf__f16_value(qtf__ld16(in)));
        const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(in + 2));
        const __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(in + 18));
        const __m128i q[4] = { lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8) };
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(y + 8 * k,
                             _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q[k])), d));
    }
}
#endif

void qtf__ggml_q8_0_dequant(const uint8_t *in, float *y, int64_t n) {
    QTF__TRY_AVX2(q8_0_dequant_avx2, in, y, n);
    qtf__ggml_q8_0_dequant_scalar(in, y, n);
}

void qtf__ggml_q8_0_dequant_scalar(const uint8_t *in, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, in += 34, y += QK) {
        const float d = qtf__f16_value(qtf__ld16(in));
        for (int j = 0; j < QK; j++) y[j] = (float)(int8_t)in[2 + j] * d;
    }
}

QTF__HOT void qtf__ggml_q4_0_dequant(const uint8_t *in, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, in += 18, y += QK) {
        const float d = qtf__f16_value(qtf__ld16(in));
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)((in[2 + j] & 15) - 8) * d;
            y[j + QK / 2] = (float)((in[2 + j] >> 4) - 8) * d;
        }
    }
}

QTF__HOT void qtf__ggml_q4_1_dequant(const uint8_t *in, float *y, int64_t n) {
    for (int64_t b = 0; b < n / QK; b++, in += 20, y += QK) {
        const float d = qtf__f16_value(qtf__ld16(in));
        const float m = qtf__f16_value(qtf__ld16(in + 2));
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)(in[4 + j] & 15) * d + m;
            y[j + QK / 2] = (float)(in[4 + j] >> 4) * d + m;
        }
    }
}

/* The K-quants (format/ggml_kquants.c) take rows in ggml's quantize_<type>
 * form; a row of the table is one call with nrows = 1. */
#define KQ_ROW(t)                                                                        \
    void qtf__ggml_##t##_row(const float *x, uint8_t *out, int64_t n, const float *imp) { \
        qtf__ggml_quantize_##t(x, out, 1, n, imp);                                     \
    }                                                                                  \
    void qtf__ggml_##t##_dequant(const uint8_t *in, float *y, int64_t n) {             \
        qtf__ggml_dequantize_##t(in, y, n);                                            \
    }
KQ_ROW(q2_k)
KQ_ROW(q3_k)
KQ_ROW(q4_k)
KQ_ROW(q5_k)
KQ_ROW(q6_k)
#undef KQ_ROW

typedef struct ggml_ctx {
    const qtf__ggml_type *type;
    const float *src;
    const float *importance;
    float *dst;
    uint64_t cols;
    uint8_t *out;
    const uint8_t *in;
    int stream; /* destination larger than the caches: format/stream.h */
} ggml_ctx;

static uint64_t row_bytes(const ggml_ctx *g) {
    return g->cols / g->type->block * g->type->bytes;
}

static qtf_status quantize_rows(void *ctx, uint64_t begin, uint64_t end) {
    const ggml_ctx *g = ctx;
    const uint64_t rb = row_bytes(g);
    for (uint64_t r = begin; r < end; r++) {
        const float *row = g->src + r * g->cols;
        qtf_status st = qtf__block_check_finite(row, g->cols, r);
        if (st != QTF_OK) return st;
        g->type->quantize_row(row, g->out + r * rb, (int64_t)g->cols, g->importance);
    }
    return QTF_OK;
}

/* Rows are whole blocks and the blocks of consecutive rows are contiguous, so
 * the rows [begin, end) are one run of blocks: a large destination receives
 * it chunk by chunk through an L1 buffer and streaming stores. */
static qtf_status dequantize_rows(void *ctx, uint64_t begin, uint64_t end) {
    const ggml_ctx *g = ctx;
    const qtf__ggml_type *t = g->type;
    const uint64_t rb = row_bytes(g);
    if (!g->stream) {
        for (uint64_t r = begin; r < end; r++)
            t->dequantize_row(g->in + r * rb, g->dst + r * g->cols, (int64_t)g->cols);
        return QTF_OK;
    }
    _Alignas(64) float buf[QTF__STREAM_CHUNK];
    const uint64_t step = QTF__STREAM_CHUNK / t->block * t->block;
    const uint8_t *in = g->in + begin * rb;
    for (uint64_t e = begin * g->cols, stop = end * g->cols; e < stop;) {
        const uint64_t m = stop - e < step ? stop - e : step;
        t->dequantize_row(in, buf, (int64_t)m);
        qtf__stream_copy(g->dst + e, buf, (size_t)m);
        in += m / t->block * t->bytes;
        e += m;
    }
    qtf__stream_fence();
    return QTF_OK;
}

static uint64_t rows_per_chunk(uint64_t cols) {
    return cols >= 65536 ? 1 : 65536 / cols;
}

/* The 32-element types whose block starts with an F16 scale d (and, for
 * Q4_1 and Q5_1, an F16 minimum m): block.md's numeric rules apply to them
 * after quantizing. The K-quants' super-block scales and MXFP4's E8M0 are not
 * checked. 0: not such a type; 2: d and m; 1: d only. */
static int f16_scale_fields(qtf_encoding_id id) {
    switch (id) {
    case QTF_ENC_Q8_0: case QTF_ENC_Q4_0: case QTF_ENC_Q5_0: case QTF_ENC_IQ4_NL: return 1;
    case QTF_ENC_Q4_1: case QTF_ENC_Q5_1: return 2;
    default: return 0;
    }
}

/* Block i's stored scale and minimum, for qtf__block_check_underflow. */
static float block_scale_of(const void *ctx, uint64_t i, float *min) {
    const ggml_ctx *g = ctx;
    const uint8_t *blk = g->out + i * g->type->bytes;
    if (f16_scale_fields(g->type->id) == 2) *min = qtf__f16_value(qtf__ld16(blk + 2));
    return qtf__f16_value(qtf__ld16(blk));
}

/* An F16 scale or minimum that overflowed to Inf (llama.cpp would store it)
 * is QTF_E_NUMERIC naming the block; then the underflow rule. */
static qtf_status check_scales(const ggml_ctx *g, uint64_t rows) {
    const int fields = f16_scale_fields(g->type->id);
    if (!fields) return QTF_OK;
    const uint64_t per_row = g->cols / g->type->block, bytes = g->type->bytes;
    const uint64_t n = rows * per_row;
    /* On the F16 bits, in one pass that does not convert: exponent all ones
     * is Inf or NaN; a scale d of +-0 is the only one below FLT_MIN (the
     * smallest F16 subnormal is 2^-24), so without one the underflow rule
     * has nothing to look at. */
    uint32_t bad = 0, zero = 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *blk = g->out + i * bytes;
        const uint32_t d = qtf__ld16(blk), m = fields == 2 ? qtf__ld16(blk + 2) : 0;
        bad |= (uint32_t)((d & 0x7c00u) == 0x7c00u) | (uint32_t)((m & 0x7c00u) == 0x7c00u);
        zero |= (uint32_t)((d & 0x7fffu) == 0);
    }
    for (uint64_t i = 0; bad && i < n; i++) {
        const uint8_t *blk = g->out + i * bytes;
        for (int k = 0; k < fields; k++) {
            if (!isfinite(qtf__f16_value(qtf__ld16(blk + 2 * k))))
                return qtf__error(QTF_E_NUMERIC, "row %llu, block %llu: the %s is outside the "
                                  "range of F16", (unsigned long long)(i / per_row),
                                  (unsigned long long)(i % per_row), k ? "minimum" : "scale");
        }
    }
    if (!zero) return QTF_OK;
    return qtf__block_check_underflow(g->src, rows, g->cols, g->type->block, block_scale_of, g,
                                      "F16", "a wider scale type (scale=f32)");
}

qtf_status qtf__ggml_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                              uint64_t cols, const float *importance, unsigned threads,
                              void *const *parts) {
    ggml_ctx g = { .type = qtf__ggml_type_of(e->id), .src = src, .importance = importance,
                   .cols = cols, .out = parts[0] };
    qtf_status st = qtf__parallel_for(rows, rows_per_chunk(cols), threads, quantize_rows, &g);
    return st != QTF_OK ? st : check_scales(&g, rows);
}

qtf_status qtf__ggml_dequantize(float *dst, const qtf_encoding *e, uint64_t rows, uint64_t cols,
                                const void *const *parts, unsigned threads) {
    ggml_ctx g = { .type = qtf__ggml_type_of(e->id), .dst = dst, .cols = cols,
                   .in = parts[0], .stream = qtf__stream_wanted(rows * cols) };
    return qtf__parallel_for(rows, rows_per_chunk(cols), threads, dequantize_rows, &g);
}
