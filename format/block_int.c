/* format/block_int.c — the grouped scalar encodings INT, NF4 and FP4: one
 * scale (and for INT asym one minimum) per group of a row, or per row, or per
 * tensor; codes chosen against the scale as it will be decoded (after
 * rounding to the scale type, or after double quantization).
 *
 * Choose every group's (scale, min), settle the stored scales (rounding, or
 * dq, which needs all of them), then encode: three passes with dq or a
 * per-tensor group, one pass over the rows otherwise. Each pass runs over rows
 * with qtf__parallel_for and treats rows independently, so the bytes do not
 * depend on the thread count. */
#if defined(__GNUC__) && !defined(__clang__)
/* The hot loops have run-time trip counts; -O2's "very cheap" vectorizer
 * cost model skips such loops, which costs 2-3x here. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "block_family.h"
#include "stream.h"

/* Adding then subtracting 1.5 * 2^23 rounds a float of magnitude < 2^22 to
 * the nearest integer, ties to even, in the current (default) rounding mode;
 * unlike rintf() it vectorizes on baseline x86-64. */
#define ROUND_MAGIC 12582912.0f

void qtf__codec_init(qtf__codec *c, const qtf_encoding *e) {
    memset(c, 0, sizeof *c);
    if (e->id != QTF_ENC_INT) {
        qtf__codebook_init(c, e->id);
        return;
    }
    c->bits = e->bits;
    c->n_codes = 1u << e->bits;
    c->uniform = 1;
    c->asym = e->asym != 0;
    if (c->asym) {
        c->qmin = 0.0f;
        c->qmax = (float)(c->n_codes - 1);
        c->zero = 0.0f;
    } else {
        c->qmin = -(float)(c->n_codes / 2);
        c->qmax = (float)(c->n_codes / 2 - 1);
        c->zero = (float)(c->n_codes / 2);
    }
}

QTF__HOT void qtf__codec_encode(const qtf__codec *c, const float *restrict x, uint64_t n,
                                float scale, float min, uint8_t *restrict codes) {
    if (!c->uniform) {
        qtf__codebook_encode(c, x, n, scale, codes);
        return;
    }
    const float inv = fabsf(scale) >= FLT_MIN ? 1.0f / scale : 0.0f;
    const float lo = c->qmin, hi = c->qmax, zero = c->zero;
    for (uint64_t j = 0; j < n; j++) {
        float v = (x[j] - min) * inv;
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        v = (v + ROUND_MAGIC) - ROUND_MAGIC;
        codes[j] = (uint8_t)(int32_t)(v + zero);
    }
}

QTF__HOT void qtf__codec_decode(const qtf__codec *c, const uint8_t *restrict codes, uint64_t n,
                                float scale, float min, float *restrict dst) {
    if (!c->uniform) {
        qtf__codebook_decode(c, codes, n, scale, dst);
        return;
    }
    /* The mask only matters for one-code-per-byte parts, where a hostile
     * byte may exceed 2^bits - 1: the spec reads the low `bits` bits. */
    const uint8_t mask = (uint8_t)(c->n_codes - 1);
    if (c->asym) {
        for (uint64_t j = 0; j < n; j++) dst[j] = scale * (float)(codes[j] & mask) + min;
    } else {
        const int32_t zero = (int32_t)c->zero;
        for (uint64_t j = 0; j < n; j++)
            dst[j] = scale * (float)((int32_t)(codes[j] & mask) - zero);
    }
}

/* Integer keys that order like the floats they come from (finite values):
 * min/max over them vectorize, float min/max without fast-math do not. */
static inline int32_t order_key(float v) {
    int32_t i;
    memcpy(&i, &v, 4);
    return i ^ ((i >> 31) & 0x7fffffff);
}

static inline float from_order_key(int32_t k) {
    int32_t i = k ^ ((k >> 31) & 0x7fffffff);
    float v;
    memcpy(&v, &i, 4);
    return v;
}

QTF__HOT void qtf__codec_rtn(const qtf__codec *c, const qtf__span *s, float *scale, float *min) {
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (uint64_t r = 0; r < s->count; r++) {
        const float *x = s->x + r * s->stride;
        for (uint64_t j = 0; j < s->n; j++) {
            int32_t k = order_key(x[j]);
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
        }
    }
    const float flo = from_order_key(lo), fhi = from_order_key(hi);
    if (c->uniform && c->asym) {
        *scale = (fhi - flo) / c->qmax;
        *min = flo;
        return;
    }
    /* The element of largest magnitude (the first one when +a and -a both
     * occur) fixes the scale: for INT sym it maps exactly to the most
     * negative code, so that all 2^N codes are usable (the ggml/NNCF
     * convention); for tables it maps to the table's extreme. */
    float extreme = fabsf(flo) > fabsf(fhi) ? flo : fhi;
    if (fabsf(flo) == fabsf(fhi) && flo != fhi) {
        for (uint64_t r = 0, found = 0; r < s->count && !found; r++) {
            const float *x = s->x + r * s->stride;
            for (uint64_t j = 0; j < s->n; j++) {
                if (x[j] == flo || x[j] == fhi) {
                    extreme = x[j];
                    found = 1;
                    break;
                }
            }
        }
    }
    *min = 0.0f;
    if (c->uniform) *scale = extreme / c->qmin;
    else *scale = fabsf(extreme) / c->rtn_divisor;
}

/* ---- the two passes ------------------------------------------------------ */

typedef struct grouped_ctx {
    const qtf_encoding *e;
    qtf__codec codec;
    const float *src;
    float *dst;
    const float *importance;
    uint64_t rows, cols;
    uint64_t group_len;        /* elements per group (cols for row/tensor) */
    uint64_t groups_per_row;
    int tensor;                /* one group for the whole tensor */
    float *scale, *min;        /* chosen (pass 1) / effective (pass 2) */
    uint8_t *codes;            /* CODES part */
    const uint8_t *codes_in;
    uint64_t row_bytes;
    int unpacked;              /* codes stored one per byte */
    int stream;                /* dequantize: streaming stores (format/stream.h) */
    void *const *parts;        /* quantize: the output parts */
} grouped_ctx;

static uint64_t group_index(const grouped_ctx *g, uint64_t row, uint64_t k) {
    return g->tensor ? 0 : row * g->groups_per_row + k;
}

static qtf_status check_rows(void *ctx, uint64_t begin, uint64_t end) {
    const grouped_ctx *g = ctx;
    for (uint64_t r = begin; r < end; r++) {
        qtf_status st = qtf__block_check_finite(g->src + r * g->cols, g->cols, r);
        if (st != QTF_OK) return st;
    }
    return QTF_OK;
}

/* Next value above v (v >= 0) representable in t. */
static float next_up(float v, qtf_dtype t) {
    if (t == QTF_DTYPE_F16) return qtf__f16_value((uint16_t)(qtf__f16_bits(v) + 1));
    if (t == QTF_DTYPE_BF16) return qtf__bf16_value((uint16_t)(qtf__bf16_bits(v) + 1));
    return nextafterf(v, INFINITY);
}

void qtf__codec_rtn_stored(const qtf__codec *c, const qtf__span *s, qtf_dtype t, float *scale,
                           float *min) {
    qtf__codec_rtn(c, s, scale, min);
    if (!c->asym || !isfinite(*scale) || !(*scale > 0.0f) || !isfinite(*min)) return;
    /* No element may be clipped by more than the rounding of the stored
     * minimum: round the minimum first, then widen the scale to the next
     * stored value if rounding left the top of the range uncovered. */
    const float qmax = c->qmax;
    float hi = *min + *scale * qmax;
    float m = qtf__block_settle_inline(NULL, 0, *min, t);
    float r = qtf__block_settle_inline(NULL, 0, (hi - m) / qmax, t);
    if (r * qmax + m < hi) r = next_up(r, t);
    if (isfinite(r) && isfinite(m)) {
        *scale = r;
        *min = m;
    }
}

static void choose(const grouped_ctx *g, const qtf__span *s, float *scale, float *min) {
    const qtf_encoding *e = g->e;
    /* With dq the stored precision of the scales is only known once all of
     * them are chosen; choices are then made at f32 (the minimums, never
     * double-quantized, are F32 then: qtf__block_zeros_type). */
    qtf_dtype t = e->dq ? QTF_DTYPE_F32 : e->scale_type;
    if (e->search == 2) qtf__codec_opt(&g->codec, s, t, scale, min);
    else if (e->search) qtf__codec_search(&g->codec, s, t, scale, min);
    else qtf__codec_rtn_stored(&g->codec, s, t, scale, min);
}

/* Pass 1 for one row: every group's (scale, min), and the NaN/Inf rule. */
static qtf_status choose_row(const grouped_ctx *g, uint64_t r) {
    const float *row = g->src + r * g->cols;
    int finite = 1;
    for (uint64_t k = 0; k < g->groups_per_row; k++) {
        uint64_t at = k * g->group_len;
        qtf__span s = { row + at, g->importance ? g->importance + at : NULL, g->group_len, 1,
                        g->group_len };
        uint64_t i = group_index(g, r, k);
        choose(g, &s, &g->scale[i], &g->min[i]);
        finite &= isfinite(g->scale[i]) & isfinite(g->min[i]);
    }
    /* A NaN or Inf input makes its group's scale or minimum non-finite
     * (max/min keys order NaN beyond Inf); name the element. A finite row
     * can still overflow max - min: settling the scales reports that. */
    if (!finite) return qtf__block_check_finite(row, g->cols, r);
    return QTF_OK;
}

static qtf_status choose_rows(void *ctx, uint64_t begin, uint64_t end) {
    for (uint64_t r = begin; r < end; r++) {
        qtf_status st = choose_row(ctx, r);
        if (st != QTF_OK) return st;
    }
    return QTF_OK;
}

/* Pass 3 for one row: nearest codes for the settled scales, packed. */
static void encode_row(const grouped_ctx *g, uint64_t r, uint8_t *tmp) {
    const float *row = g->src + r * g->cols;
    uint8_t *out = g->codes + r * g->row_bytes;
    uint8_t *codes = g->unpacked ? out : tmp;
    for (uint64_t k = 0; k < g->groups_per_row; k++) {
        uint64_t at = k * g->group_len, i = group_index(g, r, k);
        qtf__codec_encode(&g->codec, row + at, g->group_len, g->scale[i], g->min[i], codes + at);
    }
    if (!g->unpacked) qtf__block_pack(out, tmp, g->cols, g->codec.bits);
}

/* Stores group i's minimum and scale as the decoder will read them (no dq),
 * replacing the chosen values by the stored ones. */
static qtf_status settle_group(const grouped_ctx *g, uint64_t i) {
    const qtf_encoding *e = g->e;
    uint64_t row = g->tensor ? 0 : i / g->groups_per_row;
    if (e->asym) {
        const qtf_dtype zt = qtf__block_zeros_type(e);
        float m = qtf__block_settle_scale(g->parts[e->dq ? 4 : 2], i, g->min[i], zt);
        if (!isfinite(m))
            return qtf__error(QTF_E_NUMERIC,
                              "row %llu: group minimum %g is outside the range of %s",
                              (unsigned long long)row, (double)g->min[i], qtf_dtype_name(zt));
        g->min[i] = m;
    }
    if (e->dq) return QTF_OK;
    float sc = qtf__block_settle_scale(g->parts[1], i, g->scale[i], e->scale_type);
    if (!isfinite(sc))
        return qtf__error(QTF_E_NUMERIC, "row %llu: group scale %g is outside the range of %s",
                          (unsigned long long)row, (double)g->scale[i],
                          qtf_dtype_name(e->scale_type));
    g->scale[i] = sc;
    return QTF_OK;
}

/* ---- rtn INT without dq: one fused step per group ----
 * The general path makes four out-of-line calls per group (range scan, rtn
 * choice, scale rounding, encoding), each with loops of run-time length; at
 * 32 elements per group those fixed costs were a third of the time. Here a
 * group is scanned, its scale settled and its codes written while it is in
 * L1, by one always-inlined body instantiated for the common group lengths
 * (constant trip counts: the loops unroll into whole vectors). The arithmetic
 * is that of qtf__codec_rtn, qtf__codec_rtn_stored, settle_group and
 * qtf__codec_encode, operation for operation, so the bytes are the same.
 * Anything unusual (a non-finite scale or minimum: NaN/Inf input, overflow of
 * the scale type) sends the row to the general path, which reports it. */
static QTF__ALWAYS_INLINE int rtn_int_group(const grouped_ctx *g, const float *restrict x,
                                             uint64_t n, uint64_t i, uint8_t *restrict codes) {
    const qtf__codec *c = &g->codec;
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (uint64_t j = 0; j < n; j++) {
        int32_t k = order_key(x[j]);
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    const float flo = from_order_key(lo), fhi = from_order_key(hi);
    const qtf_dtype t = g->e->scale_type;
    float scale, min = 0.0f;
    if (c->asym) {
        scale = (fhi - flo) / c->qmax;
        min = flo;
        if (isfinite(scale) && scale > 0.0f && isfinite(min)) {
            const float qmax = c->qmax;
            float top = min + scale * qmax;
            float m = qtf__block_settle_inline(NULL, 0, min, t);
            float r = qtf__block_settle_inline(NULL, 0, (top - m) / qmax, t);
            if (r * qmax + m < top) r = next_up(r, t);
            if (isfinite(r) && isfinite(m)) {
                scale = r;
                min = m;
            }
        }
        if (!isfinite(scale) || !isfinite(min)) return 0;
        min = qtf__block_settle_inline(g->parts[2], i, min, t);
        if (!isfinite(min)) return 0;
    } else {
        float extreme = fabsf(flo) > fabsf(fhi) ? flo : fhi;
        if (fabsf(flo) == fabsf(fhi) && flo != fhi) {
            for (uint64_t j = 0; j < n; j++) {
                if (x[j] == flo || x[j] == fhi) {
                    extreme = x[j];
                    break;
                }
            }
        }
        scale = extreme / c->qmin;
        if (!isfinite(scale)) return 0;
    }
    scale = qtf__block_settle_inline(g->parts[1], i, scale, t);
    if (!isfinite(scale)) return 0;
    const float inv = fabsf(scale) >= FLT_MIN ? 1.0f / scale : 0.0f;
    const float qlo = c->qmin, qhi = c->qmax, zero = c->zero;
    for (uint64_t j = 0; j < n; j++) {
        float v = (x[j] - min) * inv;
        v = v < qlo ? qlo : v;
        v = v > qhi ? qhi : v;
        v = (v + ROUND_MAGIC) - ROUND_MAGIC;
        codes[j] = (uint8_t)(int32_t)(v + zero);
    }
    return 1;
}

/* Row r's groups into codes[0..cols) (and their scales and minimums into the
 * parts); 0 if the row needs the general path. */
QTF__HOT static int rtn_int_row(const grouped_ctx *g, uint64_t r, uint8_t *restrict codes) {
    const float *row = g->src + r * g->cols;
    const uint64_t len = g->group_len, first = r * g->groups_per_row;
    int ok = 1;
    if (len == 32) {
        for (uint64_t k = 0; k < g->groups_per_row && ok; k++)
            ok = rtn_int_group(g, row + 32 * k, 32, first + k, codes + 32 * k);
    } else if (len == 64) {
        for (uint64_t k = 0; k < g->groups_per_row && ok; k++)
            ok = rtn_int_group(g, row + 64 * k, 64, first + k, codes + 64 * k);
    } else {
        for (uint64_t k = 0; k < g->groups_per_row && ok; k++)
            ok = rtn_int_group(g, row + len * k, len, first + k, codes + len * k);
    }
    return ok;
}

/* Without dq a group's stored scale depends on that group alone, so the
 * three steps run in one pass over the data (one read of each row). */
static qtf_status quantize_rows_one_pass(void *ctx, uint64_t begin, uint64_t end) {
    const grouped_ctx *g = ctx;
    uint8_t *tmp = NULL;
    if (!g->unpacked && !(tmp = qtf__malloc((size_t)g->cols)))
        return qtf__error(QTF_E_NOMEM, "%llu bytes for a row of codes",
                          (unsigned long long)g->cols);
    /* rtn INT (rtn ignores importance): the fused path. */
    const int fused = g->codec.uniform && !g->e->search && !g->e->dq && !g->tensor;
    qtf_status st = QTF_OK;
    for (uint64_t r = begin; r < end && st == QTF_OK; r++) {
        if (fused) {
            uint8_t *out = g->codes + r * g->row_bytes;
            if (rtn_int_row(g, r, g->unpacked ? out : tmp)) {
                if (!g->unpacked) qtf__block_pack(out, tmp, g->cols, g->codec.bits);
                continue;
            }
        }
        st = choose_row(g, r);
        for (uint64_t k = 0; k < g->groups_per_row && st == QTF_OK; k++)
            st = settle_group(g, group_index(g, r, k));
        if (st == QTF_OK) encode_row(g, r, tmp);
    }
    free(tmp);
    return st;
}

static qtf_status encode_rows(void *ctx, uint64_t begin, uint64_t end) {
    const grouped_ctx *g = ctx;
    uint8_t *tmp = NULL;
    if (!g->unpacked && !(tmp = qtf__malloc((size_t)g->cols)))
        return qtf__error(QTF_E_NOMEM, "%llu bytes for a row of codes",
                          (unsigned long long)g->cols);
    for (uint64_t r = begin; r < end; r++) encode_row(g, r, tmp);
    free(tmp);
    return QTF_OK;
}

/* NF4 from packed bytes: each byte's pair of unscaled values comes from a
 * 256-entry table (one 8-byte copy instead of two 16-entry look-ups and an
 * unpack pass), then each group's part is scaled in place. The products are
 * the same value[c] * scale as the generic path. Needs groups of even length,
 * so that every group starts on a byte (and even range bounds). Decodes the
 * columns [c0, c1) of a row into y[0 .. c1 - c0). */
QTF__HOT static void nf4_decode_packed(const grouped_ctx *g, const uint8_t *in, float *y,
                                       uint64_t row, uint64_t c0, uint64_t c1) {
    const float(*pair)[2] = g->codec.nf4_pair;
    const uint8_t *b = in + c0 / 2;
    for (uint64_t j = 0; j < (c1 - c0) / 2; j++) memcpy(y + 2 * j, pair[b[j]], 8);
    for (uint64_t at = c0, k = c0 / g->group_len; at < c1; k++) {
        const uint64_t stop = (k + 1) * g->group_len < c1 ? (k + 1) * g->group_len : c1;
        const float s = g->scale[group_index(g, row, k)];
        for (uint64_t j = at - c0; j < stop - c0; j++) y[j] *= s;
        at = stop;
    }
}

/* The columns [c0, c1) of row `row` from their codes codes[0 .. c1 - c0)
 * (one per byte) into y[0 .. c1 - c0): groups cut by the range are decoded in part (decoding is
 * per element). The INT codecs' arithmetic is qtf__codec_decode's, inlined
 * here so that short groups do not pay a call each. */
QTF__HOT static void decode_range(const grouped_ctx *g, const uint8_t *codes, float *y,
                                  uint64_t row, uint64_t c0, uint64_t c1) {
    const qtf__codec *c = &g->codec;
    const uint8_t mask = (uint8_t)(c->n_codes - 1);
    const int32_t zero = (int32_t)c->zero;
    for (uint64_t at = c0, k = c0 / g->group_len; at < c1; k++) {
        const uint64_t stop = (k + 1) * g->group_len < c1 ? (k + 1) * g->group_len : c1;
        const uint64_t i = group_index(g, row, k), n = stop - at;
        const float scale = g->scale[i], min = g->min[i];
        const uint8_t *restrict q = codes + (at - c0);
        float *restrict d = y + (at - c0);
        if (!c->uniform)
            qtf__codec_decode(c, q, n, scale, min, d);
        else if (c->asym)
            for (uint64_t j = 0; j < n; j++) d[j] = scale * (float)(q[j] & mask) + min;
        else
            for (uint64_t j = 0; j < n; j++) d[j] = scale * (float)((int32_t)(q[j] & mask) - zero);
        at = stop;
    }
}

/* A destination larger than the caches (format/stream.h) receives each row
 * chunk by chunk through an L1 buffer and streaming stores. */
static qtf_status decode_rows(void *ctx, uint64_t begin, uint64_t end) {
    const grouped_ctx *g = ctx;
    _Alignas(64) float buf[QTF__STREAM_CHUNK];
    const int nf4 = g->codec.nf4 && !g->unpacked && g->group_len % 2 == 0;
    uint8_t *tmp = NULL;
    if (!nf4 && !g->unpacked && !(tmp = qtf__malloc((size_t)g->cols)))
        return qtf__error(QTF_E_NOMEM, "%llu bytes for a row of codes",
                          (unsigned long long)g->cols);
    const unsigned bits = g->codec.bits;
    for (uint64_t r = begin; r < end; r++) {
        const uint8_t *in = g->codes_in + r * g->row_bytes;
        float *out = g->dst + r * g->cols;
        if (!g->stream) {
            if (nf4) {
                nf4_decode_packed(g, in, out, r, 0, g->cols);
            } else if (g->unpacked) {
                decode_range(g, in, out, r, 0, g->cols);
            } else {
                qtf__block_unpack(tmp, in, g->cols, bits);
                decode_range(g, tmp, out, r, 0, g->cols);
            }
            continue;
        }
        /* Chunks start at multiples of 8 codes, so on a byte of the packed
         * row: each chunk's codes are unpacked with it, and that work
         * overlaps the streaming stores of the chunk before. */
        for (uint64_t c0 = 0; c0 < g->cols; c0 += QTF__STREAM_CHUNK) {
            const uint64_t c1 = g->cols - c0 < QTF__STREAM_CHUNK ? g->cols : c0 + QTF__STREAM_CHUNK;
            if (nf4) {
                nf4_decode_packed(g, in, buf, r, c0, c1);
            } else if (g->unpacked) {
                decode_range(g, in + c0, buf, r, c0, c1);
            } else {
                qtf__block_unpack(tmp, in + c0 / 8 * bits, c1 - c0, bits);
                decode_range(g, tmp, buf, r, c0, c1);
            }
            qtf__stream_copy(out + c0, buf, (size_t)(c1 - c0));
        }
    }
    if (g->stream) qtf__stream_fence();
    free(tmp);
    return QTF_OK;
}

static void init_ctx(grouped_ctx *g, const qtf_encoding *e, uint64_t rows, uint64_t cols) {
    memset(g, 0, sizeof *g);
    g->e = e;
    qtf__codec_init(&g->codec, e);
    g->rows = rows;
    g->cols = cols;
    g->tensor = e->group == QTF_GROUP_TENSOR;
    if (e->group == QTF_GROUP_ROW || e->group == QTF_GROUP_TENSOR) {
        g->group_len = cols;
        g->groups_per_row = 1;
    } else {
        g->group_len = e->group;
        g->groups_per_row = cols / e->group;
    }
    g->unpacked = e->zstd_level > 0;
    g->row_bytes = qtf__block_row_code_bytes(e, cols);
}

static uint64_t n_groups_of(const grouped_ctx *g) {
    return g->tensor ? 1 : g->rows * g->groups_per_row;
}

static uint64_t rows_per_chunk(uint64_t cols) {
    return cols >= 65536 ? 1 : 65536 / cols;
}

/* dq with search: each group's 8-bit dq code is re-chosen among the nearest
 * code and its two neighbours by the group's (weighted) error. Rounding the
 * scale to the nearest dq level is blind to the encoding: for int8 a scale
 * one level too small clips the group's extreme by several steps, while
 * one level too large costs little. */
typedef struct dq_refine_ctx {
    const grouped_ctx *g;
    uint8_t *codes;
    const float *steps;
    float offset;
} dq_refine_ctx;

static void refine_dq_group(const dq_refine_ctx *d, const qtf__span *s, uint64_t i) {
    const grouped_ctx *g = d->g;
    const float step = d->steps[i / QTF__DQ_BLOCK];
    const int c0 = d->codes[i];
    double best = INFINITY;
    int best_code = c0;
    for (int c = c0 - 1; c <= c0 + 1; c++) {
        if (c < 1 || c > 255) continue;
        float sc = (float)(c - 128) * step + d->offset;
        double err = qtf__codec_span_error(&g->codec, s, sc, g->min[i]);
        if (err < best || (err == best && c == c0)) {
            best = err;
            best_code = c;
        }
    }
    d->codes[i] = (uint8_t)best_code;
    g->scale[i] = (float)(best_code - 128) * step + d->offset;
}

static qtf_status refine_dq_rows(void *ctx, uint64_t begin, uint64_t end) {
    const dq_refine_ctx *d = ctx;
    const grouped_ctx *g = d->g;
    for (uint64_t r = begin; r < end; r++) {
        const float *row = g->src + r * g->cols;
        for (uint64_t k = 0; k < g->groups_per_row; k++) {
            uint64_t at = k * g->group_len;
            qtf__span s = { row + at, g->importance ? g->importance + at : NULL, g->group_len, 1,
                            g->group_len };
            refine_dq_group(d, &s, group_index(g, r, k));
        }
    }
    return QTF_OK;
}

/* Replaces the chosen minimums and scales by the values the decoder will see,
 * and writes the ZEROS, SCALES or DQ_* parts. */
static qtf_status settle_scales(grouped_ctx *g, void *const *parts, unsigned threads) {
    const qtf_encoding *e = g->e;
    uint64_t n = n_groups_of(g);
    for (uint64_t i = 0; i < n; i++) {
        qtf_status st = settle_group(g, i);
        if (st != QTF_OK) return st;
    }
    if (!e->dq) return QTF_OK;
    for (uint64_t i = 0; i < n; i++) {
        if (!isfinite(g->scale[i]))
            return qtf__error(QTF_E_NUMERIC, "row %llu: group scale %g is not finite",
                              (unsigned long long)(g->tensor ? 0 : i / g->groups_per_row),
                              (double)g->scale[i]);
    }
    uint64_t n_blocks = (n + QTF__DQ_BLOCK - 1) / QTF__DQ_BLOCK;
    float *steps = qtf__malloc((size_t)n_blocks * sizeof *steps + 1);
    if (!steps)
        return qtf__error(QTF_E_NOMEM, "dq: %llu block scales", (unsigned long long)n_blocks);
    float offset;
    qtf__dq_quantize(g->scale, n, parts[1], steps, &offset);
    qtf__dq_dequantize(g->scale, n, parts[1], steps, offset);
    qtf_status st = QTF_OK;
    if (e->search) {
        dq_refine_ctx d = { g, parts[1], steps, offset };
        if (g->tensor) {
            qtf__span s = { g->src, g->importance, g->cols, g->rows, g->cols };
            refine_dq_group(&d, &s, 0);
        } else {
            st = qtf__parallel_for(g->rows, rows_per_chunk(g->cols), threads, refine_dq_rows, &d);
        }
    }
    for (uint64_t b = 0; b < n_blocks; b++)
        qtf__block_store_scale(parts[2], b, steps[b], QTF_DTYPE_F32);
    qtf__block_store_scale(parts[3], 0, offset, QTF_DTYPE_F32);
    free(steps);
    return st;
}

/* The stored scale and minimum of group i, for qtf__block_check_underflow. */
static float stored_scale_of(const void *ctx, uint64_t i, float *min) {
    const grouped_ctx *g = ctx;
    const qtf_encoding *e = g->e;
    if (e->asym) *min = qtf__block_load_scale(g->parts[2], i, qtf__block_zeros_type(e));
    return qtf__block_load_scale(g->parts[1], i, e->scale_type);
}

qtf_status qtf__grouped_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                                 uint64_t cols, const float *importance, unsigned threads,
                                 void *const *parts) {
    grouped_ctx g;
    init_ctx(&g, e, rows, cols);
    g.src = src;
    g.importance = importance;
    g.codes = parts[0];
    uint64_t n = n_groups_of(&g);
    g.scale = qtf__malloc((size_t)n * sizeof(float));
    g.min = qtf__calloc((size_t)n, sizeof(float));
    qtf_status st = QTF_OK;
    if (!g.scale || !g.min) {
        st = qtf__error(QTF_E_NOMEM, "%llu group scales", (unsigned long long)n);
        goto done;
    }
    uint64_t chunk = rows_per_chunk(cols);
    g.parts = parts;
    if (!e->dq && !g.tensor) {
        st = qtf__parallel_for(rows, chunk, threads, quantize_rows_one_pass, &g);
        goto done;
    }
    if (g.tensor) {
        st = qtf__parallel_for(rows, chunk, threads, check_rows, &g);
        if (st != QTF_OK) goto done;
        qtf__span s = { src, importance, cols, rows, cols };
        choose(&g, &s, &g.scale[0], &g.min[0]);
    } else {
        st = qtf__parallel_for(rows, chunk, threads, choose_rows, &g);
        if (st != QTF_OK) goto done;
    }
    st = settle_scales(&g, parts, threads);
    if (st != QTF_OK) goto done;
    st = qtf__parallel_for(rows, chunk, threads, encode_rows, &g);
done:
    /* Double-quantized scales have no scale type to underflow. */
    if (st == QTF_OK && !e->dq)
        st = qtf__block_check_underflow(src, rows, cols, g.tensor ? 0 : g.group_len,
                                        stored_scale_of, &g, qtf_dtype_name(e->scale_type),
                                        "a wider scale type (scale=f32)");
    free(g.scale);
    free(g.min);
    return st;
}

qtf_status qtf__grouped_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                                   uint64_t cols, const void *const *parts, unsigned threads) {
    grouped_ctx g;
    init_ctx(&g, e, rows, cols);
    g.dst = dst;
    g.codes_in = parts[0];
    g.stream = qtf__stream_wanted(rows * cols);
    uint64_t n = n_groups_of(&g);
    g.scale = qtf__malloc((size_t)n * sizeof(float));
    g.min = qtf__calloc((size_t)n, sizeof(float));
    qtf_status st = QTF_OK;
    if (!g.scale || !g.min) {
        st = qtf__error(QTF_E_NOMEM, "%llu group scales", (unsigned long long)n);
        goto done;
    }
    uint32_t p = 1;
    if (e->dq) {
        uint64_t n_blocks = (n + QTF__DQ_BLOCK - 1) / QTF__DQ_BLOCK;
        float *bs = qtf__malloc((size_t)n_blocks * sizeof *bs + 1);
        if (!bs) {
            st = qtf__error(QTF_E_NOMEM, "dq: %llu block scales", (unsigned long long)n_blocks);
            goto done;
        }
        for (uint64_t b = 0; b < n_blocks; b++)
            bs[b] = qtf__block_load_scale(parts[2], b, QTF_DTYPE_F32);
        qtf__dq_dequantize(g.scale, n, parts[1], bs,
                           qtf__block_load_scale(parts[3], 0, QTF_DTYPE_F32));
        free(bs);
        p += 3;
    } else {
        qtf__block_load_scales(g.scale, parts[1], n, e->scale_type);
        p += 1;
    }
    if (e->asym) {
        const qtf_dtype zt = qtf__block_zeros_type(e);
        qtf__block_load_scales(g.min, parts[p], n, zt);
    }
    st = qtf__parallel_for(rows, rows_per_chunk(cols), threads, decode_rows, &g);
done:
    free(g.scale);
    free(g.min);
    return st;
}
