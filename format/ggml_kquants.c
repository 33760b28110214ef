/* format/ggml_kquants.c — ggml's K-quant super-blocks: block packing, the
 * reference and importance-weighted quantizers, dequantization.
 *
 * Layouts (little-endian f16 d/dmin; offsets in bytes; see
 * spec/encodings/ggml-kquants.md):
 *   Q2_K  84: scales[16] (lo nibble scale, hi nibble min) | qs[64] | d | dmin
 *   Q3_K 110: hmask[32] | qs[64] | scales[12] (16 x 6 bits) | d
 *   Q4_K 144: d | dmin | scales[12] (8 x (6-bit scale, 6-bit min)) | qs[128]
 *   Q5_K 176: d | dmin | scales[12] | qh[32] | qs[128]
 *   Q6_K 210: ql[128] | qh[64] | scales[16] (int8) | d
 *
 * Byte-identity with ggml rests on: the searches of ggml_kquants_search.c;
 * d and dmin rounded to f16 (round to nearest even) and read back before the
 * final codes are chosen, exactly where ggml does; the final codes computed
 * as nearest_int((x + dm) / d) with a true division (not x * (1/d)). */
#if defined(__GNUC__) && !defined(__clang__)
/* Short fixed-count loops with selects and divisions; -O2's "very cheap"
 * vectorizer cost model would leave them scalar. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include "ggml_kquants.h"

#include <math.h>
#include <string.h>

#include "block_family.h" /* qtf__f16_bits / qtf__f16_value (RNE, = GGML_FP32_TO_FP16) */
#include "ggml_kquants_search.h"

size_t qtf__ggml_kquant_block_bytes(qtf__kquant_type t) {
    switch (t) {
    case QTF__KQ_Q2_K: return QTF__Q2_K_BLOCK_BYTES;
    case QTF__KQ_Q3_K: return QTF__Q3_K_BLOCK_BYTES;
    case QTF__KQ_Q4_K: return QTF__Q4_K_BLOCK_BYTES;
    case QTF__KQ_Q5_K: return QTF__Q5_K_BLOCK_BYTES;
    case QTF__KQ_Q6_K: return QTF__Q6_K_BLOCK_BYTES;
    }
    return 0;
}

/* ---- f16 fields ---- */

static inline void kq_put_f16(uint8_t *p, float v) {
    const uint16_t h = qtf__f16_bits(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static inline float kq_get_f16(const uint8_t *p) {
    return qtf__f16_value((uint16_t)(p[0] | (p[1] << 8)));
}

static inline int kq_min_int(int a, int b) {
    return a < b ? a : b;
}

static inline int kq_clamp_int(int v, int lo, int hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- shared packing ---- */

/* Q2_K/Q3_K low bits: in each half of 128 codes, byte l holds codes l, l+32,
 * l+64, l+96 at bit offsets 0, 2, 4, 6. */
static QTF__ALWAYS_INLINE void kq_pack_2bit(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < QTF__QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
}

/* Q4_K/Q5_K 6-bit (scale, min) pairs of 8 sub-blocks in 12 bytes: sub-blocks
 * 0-3 in the low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 as
 * nibbles in bytes 8-11 with their top 2 bits in the top bits of bytes 0-7. */
static QTF__ALWAYS_INLINE void kq_pack_scale_min_k4(uint8_t *scales, const uint8_t *ls, const uint8_t *lm) {
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* ggml's get_scale_min_k4. */
static inline void kq_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K 6-bit sub-block scales (stored + 32) in 12 bytes: low nibbles of
 * sub-blocks 0-7 / 8-15 in the low / high nibbles of bytes 0-7; the top 2
 * bits of sub-block j at bit 2*(j/4) of byte 8 + j%4. */
static QTF__ALWAYS_INLINE void kq_pack_q3_scales(uint8_t *scales, const int *l6) {
    memset(scales, 0, 12);
    for (int j = 0; j < 16; ++j) {
        int l = l6[j];
        if (j < 8)
            scales[j] = (uint8_t)(l & 0xF);
        else
            scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
        l >>= 4;
        scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
    }
}

/* The signed 6-bit scale of Q3_K sub-block j (stored value - 32). */
static inline int kq_q3_scale(const uint8_t *scales, int j) {
    const int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    const int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | (hi << 4)) - 32;
}

/* Q4_K/Q5_K final codes: with d and dmin as stored, each sub-block's codes
 * are nearest_int((x + dm) / d) in [0, nmax]. A sub-block whose d is 0 keeps
 * the codes of its search, as in ggml. */
static QTF__ALWAYS_INLINE void kq_requantize_k4(const float *x, const uint8_t *blk_scales, float d_all, float dmin_all,
                             int nmax, uint8_t *L) {
    for (int j = 0; j < QTF__QK_K / 32; ++j) {
        uint8_t sc, m;
        kq_scale_min_k4(j, blk_scales, &sc, &m);
        const float d = d_all * (float)sc;
        if (d == 0.0f) continue;
        const float dm = dmin_all * (float)m;
        for (int ii = 0; ii < 32; ++ii) {
            const int l = qtf__kq_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)kq_clamp_int(l, 0, nmax);
        }
    }
}

/* The same for Q2_K (16-element sub-blocks, nibble scale and min). */
static QTF__ALWAYS_INLINE void kq_requantize_q2(const float *x, const uint8_t *blk_scales, float d_all,
                             float dmin_all, uint8_t *L) {
    for (int j = 0; j < QTF__QK_K / 16; ++j) {
        const float d = d_all * (float)(blk_scales[j] & 0xF);
        if (d == 0.0f) continue;
        const float dm = dmin_all * (float)(blk_scales[j] >> 4);
        for (int ii = 0; ii < 16; ++ii) {
            const int l = qtf__kq_nearest_int((x[16 * j + ii] + dm) / d);
            L[16 * j + ii] = (uint8_t)kq_clamp_int(l, 0, 3);
        }
    }
}

/* ---- lane transposition (see ggml_kquants_search.h) ---- */

/* dst[i].v[s] = src[stride * s + i]: element i of sub-block s of a group of 8
 * consecutive sub-blocks of `stride` elements. */
static QTF__ALWAYS_INLINE void kq_gather(qtf__kq_lanes_f *dst, const float *src, int n, int stride) {
    for (int i = 0; i < n; ++i)
        for (int s = 0; s < QTF__KQ_LANES; ++s) dst[i].v[s] = src[stride * s + i];
}

static QTF__ALWAYS_INLINE void kq_scatter_u8(uint8_t *dst, const qtf__kq_lanes_u8 *src, int n) {
    for (int s = 0; s < QTF__KQ_LANES; ++s)
        for (int i = 0; i < n; ++i) dst[n * s + i] = src[i].v[s];
}

static QTF__ALWAYS_INLINE void kq_scatter_i8(int8_t *dst, const qtf__kq_lanes_i8 *src, int n) {
    for (int s = 0; s < QTF__KQ_LANES; ++s)
        for (int i = 0; i < n; ++i) dst[n * s + i] = src[i].v[s];
}

/* Per-lane sequential sum of w[i].v[s] over i (ggml's sumw / sw[j]). */
static QTF__ALWAYS_INLINE void kq_lane_sums(float *out, const qtf__kq_lanes_f *w, int n) {
    for (int s = 0; s < QTF__KQ_LANES; ++s) out[s] = 0;
    for (int i = 0; i < n; ++i)
        for (int s = 0; s < QTF__KQ_LANES; ++s) out[s] += w[i].v[s];
}

/* Sum of x^2 over the super-block, in element order (sigma2 of the
 * importance paths). */
static inline float kq_sum_sq(const float *x) {
    float sum = 0;
    for (int j = 0; j < QTF__QK_K; ++j) sum += x[j] * x[j];
    return sum;
}

/* Importance weights qw * sqrt(sigma2 + x^2), transposed. */
static QTF__ALWAYS_INLINE void kq_importance_weights(qtf__kq_lanes_f *wt, const qtf__kq_lanes_f *xt,
                                         const float *qw, int n, float sigma2) {
    for (int i = 0; i < n; ++i)
        for (int s = 0; s < QTF__KQ_LANES; ++s)
            wt[i].v[s] = qw[n * s + i] * sqrtf(sigma2 + xt[i].v[s] * xt[i].v[s]);
}

/* The importance-weighted paths' per-group inputs for 8 sub-blocks of n
 * weights starting at x: transposed values xt, weights qw * sqrt(sigma2 +
 * x^2) in wt, and each sub-block's weight sum (ggml's sw[j]) in sw[0..8). */
static QTF__ALWAYS_INLINE void kq_lanes_importance(qtf__kq_lanes_f *xt, qtf__kq_lanes_f *wt,
                                                   float *sw, const float *x, const float *qw,
                                                   int n, float sigma2) {
    kq_gather(xt, x, n, n);
    kq_importance_weights(wt, xt, qw, n, sigma2);
    kq_lane_sums(sw, wt, n);
}

/* make_qx_quants on one group of n values (Q3_K's scales of scales): the
 * lane kernel with every lane holding the same group; lane 0 is the answer. */
static float kq_make_qx_single(int n, int nmax, const float *x, const float *w, int8_t *L) {
    qtf__kq_lanes_f xt[16], wt[16];
    qtf__kq_lanes_i8 Lt[16];
    float scale[QTF__KQ_LANES];
    for (int i = 0; i < n; ++i)
        for (int s = 0; s < QTF__KQ_LANES; ++s) xt[i].v[s] = x[i], wt[i].v[s] = w[i];
    qtf__kq_make_qx_lanes(n, nmax, xt, wt, Lt, scale);
    for (int i = 0; i < n; ++i) L[i] = Lt[i].v[0];
    return scale[0];
}

/* ---- Q2_K ---- */

QTF__HOT static void q2_k_block_ref(const float *x, uint8_t *y) {
    uint8_t L[QTF__QK_K];
    float mins[16], scales[16];
    uint8_t *const sc = y, *const qs = y + 16, *const pd = y + 80, *const pdmin = y + 82;
    const float q4scale = 15.f;
    for (int g = 0; g < 2; ++g) {
        qtf__kq_lanes_f xt[16], wt[16];
        qtf__kq_lanes_u8 Lt[16];
        kq_gather(xt, x + 128 * g, 16, 16);
        for (int i = 0; i < 16; ++i)
            for (int s = 0; s < QTF__KQ_LANES; ++s) wt[i].v[s] = fabsf(xt[i].v[s]);
        qtf__kq_make_qkx_lanes(16, 3, xt, wt, Lt, scales + 8 * g, mins + 8 * g, -0.5f, 0.1f, 15,
                               1, 0);
        kq_scatter_u8(L + 128 * g, Lt, 16);
    }
    float max_scale = 0, max_min = 0; /* scales are >= 0 (the min is deducted) */
    for (int j = 0; j < 16; ++j) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
        const float iscale = q4scale / max_scale;
        for (int j = 0; j < 16; ++j) sc[j] = (uint8_t)qtf__kq_nearest_int(iscale * scales[j]);
        kq_put_f16(pd, max_scale / q4scale);
    } else {
        memset(sc, 0, 16);
        kq_put_f16(pd, 0.f);
    }
    if (max_min > 0) {
        const float iscale = q4scale / max_min;
        for (int j = 0; j < 16; ++j)
            sc[j] |= (uint8_t)(qtf__kq_nearest_int(iscale * mins[j]) << 4);
        kq_put_f16(pdmin, max_min / q4scale);
    } else {
        kq_put_f16(pdmin, 0.f);
    }
    kq_requantize_q2(x, sc, kq_get_f16(pd), kq_get_f16(pdmin), L);
    kq_pack_2bit(qs, L);
}

QTF__HOT static void q2_k_block_impl(const float *x, uint8_t *y, const float *qw_block) {
    uint8_t L[QTF__QK_K], Ls[16], Lm[16];
    float mins[16], scales[16], sw[16];
    uint8_t *const sc = y, *const qs = y + 16, *const pd = y + 80, *const pdmin = y + 82;
    const float sigma2 = kq_sum_sq(x) / QTF__QK_K;
    for (int g = 0; g < 2; ++g) {
        qtf__kq_lanes_f xt[16], wt[16];
        qtf__kq_lanes_u8 Lt[16];
        kq_lanes_importance(xt, wt, sw + 8 * g, x + 128 * g, qw_block + 128 * g, 16, sigma2);
        qtf__kq_make_qkx_lanes(16, 3, xt, wt, Lt, scales + 8 * g, mins + 8 * g, -0.9f, 0.05f, 36,
                               0, 1);
        kq_scatter_u8(L + 128 * g, Lt, 16);
    }
    const float dm = qtf__kq_make_qp(16, 15, scales, Ls, sw);
    const float mm = qtf__kq_make_qp(16, 15, mins, Lm, sw);
    kq_put_f16(pd, dm);
    kq_put_f16(pdmin, mm);
    for (int j = 0; j < 16; ++j) sc[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    kq_requantize_q2(x, sc, kq_get_f16(pd), kq_get_f16(pdmin), L);
    kq_pack_2bit(qs, L);
}

/* ---- Q3_K ---- */

/* Final codes from the stored scales, then the split into hmask (bit 2 of
 * code j at bit j/32 of byte j%32) and the 2-bit planes. L holds codes + 4
 * (0..7) on entry for sub-blocks that keep their search codes. */
static QTF__ALWAYS_INLINE void q3_k_finish(const float *x, uint8_t *y, int8_t *L) {
    uint8_t *const hmask = y, *const qs = y + 32, *const scales = y + 96;
    const float d_all = kq_get_f16(y + 108);
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * (float)kq_q3_scale(scales, j);
        if (d == 0.0f) continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = qtf__kq_nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)(kq_clamp_int(l, -4, 3) + 4);
        }
    }
    memset(hmask, 0, 32);
    uint8_t low[QTF__QK_K];
    for (int b = 0; b < 8; ++b) {
        for (int l = 0; l < 32; ++l) {
            const int e = 32 * b + l, hi = L[e] > 3;
            hmask[l] |= (uint8_t)(hi << b);
            low[e] = (uint8_t)(L[e] - 4 * hi);
        }
    }
    kq_pack_2bit(qs, low);
}

QTF__HOT static void q3_k_block_ref(const float *x, uint8_t *y) {
    int8_t L[QTF__QK_K];
    float scales[16];
    for (int g = 0; g < 2; ++g) {
        qtf__kq_lanes_f xt[16];
        qtf__kq_lanes_i8 Lt[16];
        kq_gather(xt, x + 128 * g, 16, 16);
        qtf__kq_make_q3_lanes(16, 4, xt, Lt, scales + 8 * g);
        kq_scatter_i8(L + 128 * g, Lt, 16);
    }
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
        const float a = fabsf(scales[j]);
        if (a > amax) {
            amax = a;
            max_scale = scales[j];
        }
    }
    if (max_scale != 0.0f) {
        const float iscale = -32.f / max_scale;
        int l6[16];
        for (int j = 0; j < 16; ++j) {
            /* ggml stores nearest_int into an int8_t before clamping. */
            const int8_t l = (int8_t)qtf__kq_nearest_int(iscale * scales[j]);
            l6[j] = kq_clamp_int(l, -32, 31) + 32;
        }
        kq_pack_q3_scales(y + 96, l6);
        kq_put_f16(y + 108, 1 / iscale);
    } else {
        memset(y + 96, 0, 12);
        kq_put_f16(y + 108, 0.f);
    }
    q3_k_finish(x, y, L);
}

QTF__HOT static void q3_k_block_impl(const float *x, uint8_t *y, const float *qw_block) {
    int8_t L[QTF__QK_K], Ls[16];
    float scales[16], sw[16];
    const float sigma2 = 2 * kq_sum_sq(x) / QTF__QK_K;
    for (int g = 0; g < 2; ++g) {
        qtf__kq_lanes_f xt[16], wt[16];
        qtf__kq_lanes_i8 Lt[16];
        kq_lanes_importance(xt, wt, sw + 8 * g, x + 128 * g, qw_block + 128 * g, 16, sigma2);
        qtf__kq_make_qx_lanes(16, 4, xt, wt, Lt, scales + 8 * g);
        kq_scatter_i8(L + 128 * g, Lt, 16);
    }
    const float d_block = kq_make_qx_single(16, 32, scales, sw, Ls);
    int l6[16];
    for (int j = 0; j < 16; ++j) l6[j] = Ls[j];
    kq_pack_q3_scales(y + 96, l6);
    kq_put_f16(y + 108, d_block);
    q3_k_finish(x, y, L);
}

/* ---- Q4_K and Q5_K (same scales; 4 or 5 bits per code) ---- */

/* ggml's reference search of one super-block: per 32-element sub-block,
 * weights av_x + |x| and make_qkx2_quants; 6-bit scales and mins relative to
 * the largest. Fills the block's d, dmin, scales; returns the codes in L. */
static QTF__ALWAYS_INLINE void k4_scales_ref(const float *x, uint8_t *y, int nmax, float rmin, float rdelta,
                                 int nstep, uint8_t *L) {
    qtf__kq_lanes_f xt[32], wt[32];
    qtf__kq_lanes_u8 Lt[32];
    uint8_t ls[8], lm[8];
    float mins[8], scales[8], sum_x2[8];
    kq_gather(xt, x, 32, 32);
    for (int s = 0; s < 8; ++s) sum_x2[s] = 0;
    for (int l = 0; l < 32; ++l)
        for (int s = 0; s < 8; ++s) sum_x2[s] += xt[l].v[s] * xt[l].v[s];
    for (int s = 0; s < 8; ++s) sum_x2[s] = sqrtf(sum_x2[s] / 32); /* av_x */
    for (int l = 0; l < 32; ++l)
        for (int s = 0; s < 8; ++s) wt[l].v[s] = sum_x2[s] + fabsf(xt[l].v[s]);
    qtf__kq_make_qkx_lanes(32, nmax, xt, wt, Lt, scales, mins, rmin, rdelta, nstep, 0, 0);
    kq_scatter_u8(L, Lt, 32);
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
        /* uint8_t, then MIN(63): ggml's narrowing order. */
        const uint8_t s = (uint8_t)qtf__kq_nearest_int(inv_scale * scales[j]);
        const uint8_t m = (uint8_t)qtf__kq_nearest_int(inv_min * mins[j]);
        ls[j] = (uint8_t)kq_min_int(63, s);
        lm[j] = (uint8_t)kq_min_int(63, m);
    }
    kq_pack_scale_min_k4(y + 4, ls, lm);
    kq_put_f16(y, max_scale / 63.f);
    kq_put_f16(y + 2, max_min / 63.f);
}

/* The importance-weighted search: weights qw * sqrt(sigma2 + x^2),
 * make_qkx3_quants per sub-block, make_qp_quants for the 6-bit scales. */
static QTF__ALWAYS_INLINE void k4_scales_impl(const float *x, uint8_t *y, int nmax, const float *qw_block,
                                  uint8_t *L) {
    qtf__kq_lanes_f xt[32], wt[32];
    qtf__kq_lanes_u8 Lt[32];
    uint8_t ls[8], lm[8];
    float mins[8], scales[8], sw[8];
    const float sigma2 = 2 * kq_sum_sq(x) / QTF__QK_K;
    kq_lanes_importance(xt, wt, sw, x, qw_block, 32, sigma2);
    qtf__kq_make_qkx_lanes(32, nmax, xt, wt, Lt, scales, mins, -0.9f, 0.05f, 36, 0, 1);
    kq_scatter_u8(L, Lt, 32);
    const float d_block = qtf__kq_make_qp(8, 63, scales, ls, sw);
    const float m_block = qtf__kq_make_qp(8, 63, mins, lm, sw);
    /* make_qp_quants caps codes at 63 (Q5_K's extra MIN(63) is a no-op). */
    kq_pack_scale_min_k4(y + 4, ls, lm);
    kq_put_f16(y, d_block);
    kq_put_f16(y + 2, m_block);
}

QTF__HOT static void q4_k_block(const float *x, uint8_t *y, const float *qw_block) {
    uint8_t L[QTF__QK_K];
    if (qw_block)
        k4_scales_impl(x, y, 15, qw_block, L);
    else
        k4_scales_ref(x, y, 15, -1.f, 0.1f, 20, L);
    kq_requantize_k4(x, y + 4, kq_get_f16(y), kq_get_f16(y + 2), 15, L);
    uint8_t *q = y + 16;
    for (int j = 0; j < QTF__QK_K; j += 64, q += 32)
        for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

QTF__HOT static void q5_k_block(const float *x, uint8_t *y, const float *qw_block) {
    uint8_t L[QTF__QK_K];
    if (qw_block)
        k4_scales_impl(x, y, 31, qw_block, L);
    else
        k4_scales_ref(x, y, 31, -0.5f, 0.1f, 15, L);
    kq_requantize_k4(x, y + 4, kq_get_f16(y), kq_get_f16(y + 2), 31, L);
    /* Low nibbles as Q4_K; bit 4 of code n*64 + j (+32) in bit 2n (2n+1) of
     * qh[j]. */
    uint8_t *const qh = y + 16;
    uint8_t *ql = y + 48;
    memset(qh, 0, 32);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < QTF__QK_K; n += 64, ql += 32) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
        m1 = (uint8_t)(m1 << 2);
        m2 = (uint8_t)(m2 << 2);
    }
}

/* ---- Q6_K ---- */

QTF__HOT static void q6_k_block(const float *x, uint8_t *y, const float *qw_block) {
    int8_t L[QTF__QK_K];
    float scales[16];
    for (int g = 0; g < 2; ++g) {
        qtf__kq_lanes_f xt[16], wt[16];
        qtf__kq_lanes_i8 Lt[16];
        kq_gather(xt, x + 128 * g, 16, 16);
        /* ggml's importance path passes the importance itself as the weight
         * (its sigma2-scaled variant is commented out upstream). */
        if (qw_block) kq_gather(wt, qw_block + 128 * g, 16, 16);
        qtf__kq_make_qx_lanes(16, 32, xt, qw_block ? wt : NULL, Lt, scales + 8 * g);
        kq_scatter_i8(L + 128 * g, Lt, 16);
    }
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        const float a = fabsf(scales[ib]);
        if (a > max_abs_scale) {
            max_abs_scale = a;
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < QTF__KQ_GROUP_MAX_EPS) {
        memset(y, 0, QTF__Q6_K_BLOCK_BYTES);
        return; /* d = f16(0) is all-zero bits too */
    }
    uint8_t *const ql0 = y, *const qh0 = y + 128, *const pd = y + 208;
    int8_t *const sc = (int8_t *)(y + 192);
    const float iscale = -128.f / max_scale;
    kq_put_f16(pd, 1 / iscale);
    for (int ib = 0; ib < 16; ++ib)
        sc[ib] = (int8_t)kq_min_int(127, qtf__kq_nearest_int(iscale * scales[ib]));
    const float d_all = kq_get_f16(pd);
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * (float)sc[j];
        if (d == 0.0f) continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = qtf__kq_nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)(kq_clamp_int(l, -32, 31) + 32);
        }
    }
    /* Per 128 codes: ql[l] = code l | code l+64 << 4, ql[l+32] = code l+32 |
     * code l+96 << 4; qh[l] = the top 2 bits of codes l, l+32, l+64, l+96. */
    uint8_t *ql = ql0, *qh = qh0;
    for (int j = 0; j < QTF__QK_K; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t c0 = (uint8_t)L[j + l], c1 = (uint8_t)L[j + l + 32];
            const uint8_t c2 = (uint8_t)L[j + l + 64], c3 = (uint8_t)L[j + l + 96];
            ql[l] = (uint8_t)((c0 & 0xF) | ((c2 & 0xF) << 4));
            ql[l + 32] = (uint8_t)((c1 & 0xF) | ((c3 & 0xF) << 4));
            qh[l] = (uint8_t)((c0 >> 4) | ((c1 >> 4) << 2) | ((c2 >> 4) << 4) | ((c3 >> 4) << 6));
        }
    }
}

/* ---- row drivers ---- */

typedef void (*kq_block_fn)(const float *x, uint8_t *y, const float *qw_block);

static void kq_quantize_rows(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix, size_t block_bytes, kq_block_fn fn) {
    uint8_t *y = blocks;
    const int64_t nb = n_per_row / QTF__QK_K;
    for (int64_t r = 0; r < nrows; ++r)
        for (int64_t i = 0; i < nb; ++i, x += QTF__QK_K, y += block_bytes)
            fn(x, y, imatrix ? imatrix + QTF__QK_K * i : NULL);
}

static void q2_k_block(const float *x, uint8_t *y, const float *qw_block) {
    if (qw_block)
        q2_k_block_impl(x, y, qw_block);
    else
        q2_k_block_ref(x, y);
}

static void q3_k_block(const float *x, uint8_t *y, const float *qw_block) {
    if (qw_block)
        q3_k_block_impl(x, y, qw_block);
    else
        q3_k_block_ref(x, y);
}

void qtf__ggml_quantize_q2_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix) {
    kq_quantize_rows(x, blocks, nrows, n_per_row, imatrix, QTF__Q2_K_BLOCK_BYTES, q2_k_block);
}

void qtf__ggml_quantize_q3_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix) {
    kq_quantize_rows(x, blocks, nrows, n_per_row, imatrix, QTF__Q3_K_BLOCK_BYTES, q3_k_block);
}

void qtf__ggml_quantize_q4_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix) {
    kq_quantize_rows(x, blocks, nrows, n_per_row, imatrix, QTF__Q4_K_BLOCK_BYTES, q4_k_block);
}

void qtf__ggml_quantize_q5_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix) {
    kq_quantize_rows(x, blocks, nrows, n_per_row, imatrix, QTF__Q5_K_BLOCK_BYTES, q5_k_block);
}

void qtf__ggml_quantize_q6_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix) {
    kq_quantize_rows(x, blocks, nrows, n_per_row, imatrix, QTF__Q6_K_BLOCK_BYTES, q6_k_block);
}

/* ---- dequantization ----
 * Each output is one product (and for Q2_K/Q4_K/Q5_K one subtraction) of the
 * same operands in the same order as ggml's dequantize_row_*. Done in two
 * vectorizable passes per block: unpack the 256 codes into bytes, then
 * y = dl[g] * code (- ml[g]) with the per-16 factors dl, ml computed exactly as
 * ggml computes them; with -ffp-contract=off the vector loops round exactly
 * like ggml's scalar ones. */

/* y[16g + l] = dl[g] * q[16g + l] - ml[g] */
static inline void kq_apply_scale_min(float *restrict y, const int8_t *restrict q, const float *dl,
                                      const float *ml) {
    for (int g = 0; g < 16; ++g)
        for (int l = 0; l < 16; ++l) y[16 * g + l] = dl[g] * (float)q[16 * g + l] - ml[g];
}

/* y[16g + l] = dl[g] * q[16g + l] */
static inline void kq_apply_scale(float *restrict y, const int8_t *restrict q, const float *dl) {
    for (int g = 0; g < 16; ++g)
        for (int l = 0; l < 16; ++l) y[16 * g + l] = dl[g] * (float)q[16 * g + l];
}

QTF__HOT void qtf__ggml_dequantize_q2_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q2_K_BLOCK_BYTES, y += QTF__QK_K) {
        const float d = kq_get_f16(b + 80), dmin = kq_get_f16(b + 82);
        int8_t q[QTF__QK_K];
        float dl[16], ml[16];
        /* output 128h + 32j + l: bits 2j of qs[32h + l]; factors per 16 */
        for (int h = 0; h < 2; ++h)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; ++l)
                    q[128 * h + 32 * j + l] = (int8_t)((b[16 + 32 * h + l] >> (2 * j)) & 3);
        for (int g = 0; g < 16; ++g) {
            dl[g] = d * (float)(b[g] & 0xF);
            ml[g] = dmin * (float)(b[g] >> 4);
        }
        kq_apply_scale_min(y, q, dl, ml);
    }
}

QTF__HOT void qtf__ggml_dequantize_q3_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q3_K_BLOCK_BYTES, y += QTF__QK_K) {
        const float d_all = kq_get_f16(b + 108);
        int8_t q[QTF__QK_K];
        float dl[16];
        /* output 128h + 32j + l: bits 2j of qs[32h + l], minus 4 unless bit
         * 4h + j of hmask[l] is set */
        for (int h = 0; h < 2; ++h)
            for (int j = 0; j < 4; ++j)
                for (int l = 0; l < 32; ++l)
                    q[128 * h + 32 * j + l] =
                        (int8_t)((uint8_t)(((b[32 + 32 * h + l] >> (2 * j)) & 3) |
                                           (((b[l] >> (4 * h + j)) & 1) << 2)) -
                                 4);
        for (int g = 0; g < 16; ++g) dl[g] = d_all * (float)kq_q3_scale(b + 96, g);
        kq_apply_scale(y, q, dl);
    }
}

/* Q4_K/Q5_K factors per 32 (sub-block), as ggml: d * sc and dmin * m. */
static inline void kq_k4_factors(const uint8_t *b, float d, float dmin, float *dl, float *ml) {
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        kq_scale_min_k4(j, b + 4, &sc, &m);
        dl[2 * j] = dl[2 * j + 1] = d * (float)sc;
        ml[2 * j] = ml[2 * j + 1] = dmin * (float)m;
    }
}

/* Q4_K and Q5_K in one pass per 32 codes, as ggml's loops (the two-pass form
 * measured 10-20% slower for these two). */
QTF__HOT void qtf__ggml_dequantize_q4_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q4_K_BLOCK_BYTES) {
        float dl[16], ml[16];
        kq_k4_factors(b, kq_get_f16(b), kq_get_f16(b + 2), dl, ml);
        /* output 64c + l: low nibble of qs[32c + l]; 64c + 32 + l: high */
        const uint8_t *q = b + 16;
        for (int c = 0; c < 4; ++c, q += 32, y += 64) {
            const float d1 = dl[4 * c], m1 = ml[4 * c], d2 = dl[4 * c + 2], m2 = ml[4 * c + 2];
            for (int l = 0; l < 32; ++l) y[l] = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) y[32 + l] = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

QTF__HOT void qtf__ggml_dequantize_q5_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q5_K_BLOCK_BYTES) {
        float dl[16], ml[16];
        kq_k4_factors(b, kq_get_f16(b), kq_get_f16(b + 2), dl, ml);
        /* as Q4_K, plus 16 where bit 2c (low nibble) / 2c + 1 (high) of
         * qh[l] is set */
        const uint8_t *qh = b + 16, *ql = b + 48;
        for (int c = 0; c < 4; ++c, ql += 32, y += 64) {
            const float d1 = dl[4 * c], m1 = ml[4 * c], d2 = dl[4 * c + 2], m2 = ml[4 * c + 2];
            const uint8_t u1 = (uint8_t)(1u << (2 * c)), u2 = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; ++l)
                y[l] = d1 * (float)((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l)
                y[32 + l] = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

QTF__HOT void qtf__ggml_dequantize_q6_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q6_K_BLOCK_BYTES, y += QTF__QK_K) {
        const float d = kq_get_f16(b + 208);
        const int8_t *sc = (const int8_t *)(b + 192);
        int8_t q[QTF__QK_K];
        float dl[16];
        /* output 128h + 32k + l: a nibble of ql[64h + l (+32 for odd k)] (low
         * for k < 2) with bits 2k of qh[32h + l] on top, minus 32 */
        for (int h = 0; h < 2; ++h) {
            const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
            for (int l = 0; l < 32; ++l) {
                q[128 * h + l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                q[128 * h + 32 + l] =
                    (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                q[128 * h + 64 + l] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                q[128 * h + 96 + l] =
                    (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        /* (d * sc) * q, as ggml groups it */
        for (int g = 0; g < 16; ++g) dl[g] = d * (float)sc[g];
        kq_apply_scale(y, q, dl);
    }
}
