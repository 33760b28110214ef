/* format/block_ggml.c — Q8_0, Q4_0, Q4_1: byte-for-byte the blocks of ggml's
 * reference quantizers (quantize_row_q8_0_ref etc. in ggml's
 * src/ggml-quants.c), so that a BLOCKS part can be copied into a GGUF file.
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

#define QK 32

uint64_t qtf__ggml_block_bytes(qtf_encoding_id id) {
    switch (id) {
    case QTF_ENC_Q8_0: return 34;
    case QTF_ENC_Q4_0: return 18;
    case QTF_ENC_Q4_1: return 20;
    default: return 0;
    }
}

/* roundf (half away from zero) for |v| < 2^31, in operations that vectorize:
 * v - trunc(v) is exact (same sign, |trunc(v)| >= |v|/2 or trunc(v) = 0). */
static inline int32_t round_half_away(float v) {
    int32_t t = (int32_t)v;
    float frac = v - (float)t;
    return t + (frac >= 0.5f) - (frac <= -0.5f);
}

/* 0, or 1 when the block's F16 scale or minimum overflowed to Inf (block.md,
 * "Numeric errors"; llama.cpp would store the Inf). */
static int f16_overflows(const uint8_t *blk, int has_min) {
    return !isfinite(qtf_f16_to_f32(qtf__ld16(blk))) ||
           (has_min && !isfinite(qtf_f16_to_f32(qtf__ld16(blk + 2))));
}

static int q8_0_block(const float *x, uint8_t *out) {
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf_f32_to_f16(d));
    int8_t q[QK];
    for (int j = 0; j < QK; j++) q[j] = (int8_t)round_half_away(x[j] * id);
    memcpy(out + 2, q, QK);
    return f16_overflows(out, 0);
}

static int q4_0_block(const float *x, uint8_t *out) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++) {
        if (amax < fabsf(x[j])) { /* strict: the first extreme wins ties */
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf_f32_to_f16(d));
    for (int j = 0; j < QK / 2; j++) {
        int lo = (int)(int8_t)(x[j] * id + 8.5f);
        int hi = (int)(int8_t)(x[j + QK / 2] * id + 8.5f);
        lo = lo < 15 ? lo : 15;
        hi = hi < 15 ? hi : 15;
        out[2 + j] = (uint8_t)(lo | (hi << 4));
    }
    return f16_overflows(out, 0);
}

static int q4_1_block(const float *x, uint8_t *out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < QK; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    qtf__st16(out, qtf_f32_to_f16(d));
    qtf__st16(out + 2, qtf_f32_to_f16(min));
    for (int j = 0; j < QK / 2; j++) {
        int lo = (int)(int8_t)((x[j] - min) * id + 0.5f);
        int hi = (int)(int8_t)((x[j + QK / 2] - min) * id + 0.5f);
        lo = lo < 15 ? lo : 15;
        hi = hi < 15 ? hi : 15;
        out[4 + j] = (uint8_t)(lo | (hi << 4));
    }
    return f16_overflows(out, 1);
}

typedef struct ggml_ctx {
    qtf_encoding_id id;
    const float *src;
    float *dst;
    uint64_t cols;
    uint64_t block_bytes;
    uint8_t *out;
    const uint8_t *in;
} ggml_ctx;

/* Block i's stored scale and minimum (Q4_1), for qtf__block_check_underflow. */
static float block_scale_of(const void *ctx, uint64_t i, float *min) {
    const ggml_ctx *g = ctx;
    const uint8_t *blk = g->out + i * g->block_bytes;
    if (g->id == QTF_ENC_Q4_1) *min = qtf_f16_to_f32(qtf__ld16(blk + 2));
    return qtf_f16_to_f32(qtf__ld16(blk));
}

static qtf_status quantize_rows(void *ctx, uint64_t begin, uint64_t end) {
    const ggml_ctx *g = ctx;
    const uint64_t nb = g->cols / QK;
    for (uint64_t r = begin; r < end; r++) {
        const float *row = g->src + r * g->cols;
        qtf_status st = qtf__block_check_finite(row, g->cols, r);
        if (st != QTF_OK) return st;
        uint8_t *out = g->out + r * nb * g->block_bytes;
        for (uint64_t b = 0; b < nb; b++) {
            const float *x = row + b * QK;
            uint8_t *blk = out + b * g->block_bytes;
            int overflow;
            if (g->id == QTF_ENC_Q8_0) overflow = q8_0_block(x, blk);
            else if (g->id == QTF_ENC_Q4_0) overflow = q4_0_block(x, blk);
            else overflow = q4_1_block(x, blk);
            if (overflow)
                return qtf__error(QTF_E_NUMERIC,
                                  "row %llu, block %llu: the scale or minimum is outside the "
                                  "range of F16",
                                  (unsigned long long)r, (unsigned long long)b);
        }
    }
    return QTF_OK;
}

QTF__HOT static qtf_status dequantize_rows(void *ctx, uint64_t begin, uint64_t end) {
    const ggml_ctx *g = ctx;
    const uint64_t nb = g->cols / QK;
    for (uint64_t r = begin; r < end; r++) {
        const uint8_t *in = g->in + r * nb * g->block_bytes;
        float *out = g->dst + r * g->cols;
        for (uint64_t b = 0; b < nb; b++) {
            const uint8_t *blk = in + b * g->block_bytes;
            float *y = out + b * QK;
            const float d = qtf_f16_to_f32(qtf__ld16(blk));
            if (g->id == QTF_ENC_Q8_0) {
                for (int j = 0; j < QK; j++) y[j] = (float)(int8_t)blk[2 + j] * d;
            } else if (g->id == QTF_ENC_Q4_0) {
                for (int j = 0; j < QK / 2; j++) {
                    y[j] = (float)((blk[2 + j] & 15) - 8) * d;
                    y[j + QK / 2] = (float)((blk[2 + j] >> 4) - 8) * d;
                }
            } else {
                const float m = qtf_f16_to_f32(qtf__ld16(blk + 2));
                for (int j = 0; j < QK / 2; j++) {
                    y[j] = (float)(blk[4 + j] & 15) * d + m;
                    y[j + QK / 2] = (float)(blk[4 + j] >> 4) * d + m;
                }
            }
        }
    }
    return QTF_OK;
}

static uint64_t rows_per_chunk(uint64_t cols) {
    return cols >= 65536 ? 1 : 65536 / cols;
}

qtf_status qtf__ggml_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                              uint64_t cols, unsigned threads, void *const *parts) {
    ggml_ctx g = { .id = e->id, .src = src, .cols = cols,
                   .block_bytes = qtf__ggml_block_bytes(e->id), .out = parts[0] };
    qtf_status st = qtf__parallel_for(rows, rows_per_chunk(cols), threads, quantize_rows, &g);
    if (st != QTF_OK) return st;
    return qtf__block_check_underflow(src, rows, cols, QK, block_scale_of, &g, "F16");
}

qtf_status qtf__ggml_dequantize(float *dst, const qtf_encoding *e, uint64_t rows, uint64_t cols,
                                const void *const *parts, unsigned threads) {
    ggml_ctx g = { .id = e->id, .dst = dst, .cols = cols,
                   .block_bytes = qtf__ggml_block_bytes(e->id), .in = parts[0] };
    return qtf__parallel_for(rows, rows_per_chunk(cols), threads, dequantize_rows, &g);
}
