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
static void kq_pack_2bit(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < QTF__QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
}

/* Q4_K/Q5_K 6-bit (scale, min) pairs of 8 sub-blocks in 12 bytes: sub-blocks
 * 0-3 in the low 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 as
 * nibbles in bytes 8-11 with their top 2 bits in the top bits of bytes 0-7. */
static void kq_pack_scale_min_k4(uint8_t *scales, const uint8_t *ls, const uint8_t *lm) {
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
static void kq_pack_q3_scales(uint8_t *scales, const int *l6) {
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
static void kq_requantize_k4(const float *x, const uint8_t *blk_scales, float d_all, float dmin_all,
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
static void kq_requantize_q2(const float *x, const uint8_t *blk_scales, float d_all,
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

/* ---- Q2_K ---- */

static void q2_k_block_ref(const float *x, uint8_t *y) {
    uint8_t L[QTF__QK_K], Laux[16];
    float weights[16], mins[16], scales[16];
    uint8_t *const sc = y, *const qs = y + 16, *const pd = y + 80, *const pdmin = y + 82;
    const float q4scale = 15.f;
    float max_scale = 0, max_min = 0; /* scales are >= 0 (the min is deducted) */
    for (int j = 0; j < 16; ++j) {
        for (int l = 0; l < 16; ++l) weights[l] = fabsf(x[16 * j + l]);
        scales[j] = qtf__kq_make_qkx2(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux,
                                      -0.5f, 0.1f, 15, 1);
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

static void q2_k_block_impl(const float *x, uint8_t *y, const float *qw_block) {
    uint8_t L[QTF__QK_K], Laux[16], Ls[16], Lm[16];
    float mins[16], scales[16], sw[16], weight[16];
    uint8_t *const sc = y, *const qs = y + 16, *const pd = y + 80, *const pdmin = y + 82;
    float sumx2 = 0;
    for (int j = 0; j < QTF__QK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = sumx2 / QTF__QK_K;
    for (int j = 0; j < 16; ++j) {
        const float *qw = qw_block + 16 * j;
        for (int l = 0; l < 16; ++l)
            weight[l] = qw[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
        sw[j] = 0;
        for (int l = 0; l < 16; ++l) sw[j] += weight[l];
        scales[j] = qtf__kq_make_qkx3(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux,
                                      -0.9f, 0.05f, 36, 0);
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
static void q3_k_finish(const float *x, uint8_t *y, int8_t *L) {
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
    for (int j = 0; j < QTF__QK_K; ++j) {
        int l = L[j];
        if (l > 3) {
            hmask[j % 32] |= (uint8_t)(1u << (j / 32));
            l -= 4;
        }
        low[j] = (uint8_t)l;
    }
    kq_pack_2bit(qs, low);
}

static void q3_k_block_ref(const float *x, uint8_t *y) {
    int8_t L[QTF__QK_K];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
        scales[j] = qtf__kq_make_q3(16, 4, x + 16 * j, L + 16 * j);
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

static void q3_k_block_impl(const float *x, uint8_t *y, const float *qw_block) {
    int8_t L[QTF__QK_K], Ls[16];
    float scales[16], weight[16], sw[16];
    float sumx2 = 0;
    for (int j = 0; j < QTF__QK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = 2 * sumx2 / QTF__QK_K;
    for (int j = 0; j < 16; ++j) {
        const float *qw = qw_block + 16 * j;
        for (int l = 0; l < 16; ++l)
            weight[l] = qw[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 16; ++l) sumw += weight[l];
        sw[j] = sumw;
        scales[j] = qtf__kq_make_qx(16, 4, x + 16 * j, L + 16 * j, weight);
    }
    const float d_block = qtf__kq_make_qx(16, 32, scales, Ls, sw);
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
static void k4_scales_ref(const float *x, uint8_t *y, int nmax, float rmin, float rdelta,
                          int nstep, uint8_t *L) {
    uint8_t Laux[32], ls[8], lm[8];
    float weights[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = qtf__kq_make_qkx2(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                      rmin, rdelta, nstep, 0);
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
static void k4_scales_impl(const float *x, uint8_t *y, int nmax, const float *qw_block,
                           uint8_t *L) {
    uint8_t Laux[32], ls[8], lm[8];
    float weights[32], mins[8], scales[8], sw[8];
    float sum_x2 = 0;
    for (int l = 0; l < QTF__QK_K; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / QTF__QK_K;
    for (int j = 0; j < 8; ++j) {
        const float *qw = qw_block + 32 * j;
        for (int l = 0; l < 32; ++l)
            weights[l] = qw[l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 32; ++l) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = qtf__kq_make_qkx3(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                      -0.9f, 0.05f, 36, 0);
    }
    const float d_block = qtf__kq_make_qp(8, 63, scales, ls, sw);
    const float m_block = qtf__kq_make_qp(8, 63, mins, lm, sw);
    /* make_qp_quants caps codes at 63 (Q5_K's extra MIN(63) is a no-op). */
    kq_pack_scale_min_k4(y + 4, ls, lm);
    kq_put_f16(y, d_block);
    kq_put_f16(y + 2, m_block);
}

static void q4_k_block(const float *x, uint8_t *y, const float *qw_block) {
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

static void q5_k_block(const float *x, uint8_t *y, const float *qw_block) {
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

static void q6_k_block(const float *x, uint8_t *y, const float *qw_block) {
    int8_t L[QTF__QK_K];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        /* ggml's importance path passes the importance itself as the weight
         * (its sigma2-scaled variant is commented out upstream). */
        const float scale = qtf__kq_make_qx(16, 32, x + 16 * ib, L + 16 * ib,
                                            qw_block ? qw_block + 16 * ib : NULL);
        scales[ib] = scale;
        const float a = fabsf(scale);
        if (a > max_abs_scale) {
            max_abs_scale = a;
            max_scale = scale;
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
 * same operands in the same order as ggml's dequantize_row_*; with
 * -ffp-contract=off the vectorized loops round exactly like ggml's scalar
 * ones. */

void qtf__ggml_dequantize_q2_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q2_K_BLOCK_BYTES) {
        const float d = kq_get_f16(b + 80), dmin = kq_get_f16(b + 82);
        const uint8_t *sc = b, *q = b + 16;
        for (int half = 0; half < 2; ++half, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int k = 0; k < 2; ++k, ++sc, y += 16) {
                    const float dl = d * (float)(*sc & 0xF), ml = dmin * (float)(*sc >> 4);
                    const uint8_t *qq = q + 16 * k;
                    for (int l = 0; l < 16; ++l) y[l] = dl * (float)((qq[l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

void qtf__ggml_dequantize_q3_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q3_K_BLOCK_BYTES) {
        const float d_all = kq_get_f16(b + 108);
        const uint8_t *hm = b, *q = b + 32, *scales = b + 96;
        int is = 0;
        unsigned m = 1;
        for (int half = 0; half < 2; ++half, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int k = 0; k < 2; ++k, ++is, y += 16) {
                    const float dl = d_all * (float)kq_q3_scale(scales, is);
                    const uint8_t *qq = q + 16 * k, *hh = hm + 16 * k;
                    for (int l = 0; l < 16; ++l)
                        y[l] = dl * (float)((int)((qq[l] >> shift) & 3) - ((hh[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

void qtf__ggml_dequantize_q4_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q4_K_BLOCK_BYTES) {
        const float d = kq_get_f16(b), dmin = kq_get_f16(b + 2);
        const uint8_t *q = b + 16;
        for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
            uint8_t sc, m;
            kq_scale_min_k4(is, b + 4, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            kq_scale_min_k4(is + 1, b + 4, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; ++l) y[l] = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) y[32 + l] = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void qtf__ggml_dequantize_q5_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q5_K_BLOCK_BYTES) {
        const float d = kq_get_f16(b), dmin = kq_get_f16(b + 2);
        const uint8_t *qh = b + 16, *ql = b + 48;
        unsigned u1 = 1, u2 = 2;
        for (int is = 0; is < 8; is += 2, ql += 32, y += 64, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            kq_scale_min_k4(is, b + 4, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            kq_scale_min_k4(is + 1, b + 4, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; ++l)
                y[l] = d1 * (float)((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l)
                y[32 + l] = d2 * (float)((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

void qtf__ggml_dequantize_q6_k(const void *blocks, float *y, int64_t n) {
    const uint8_t *b = blocks;
    for (int64_t i = 0; i < n / QTF__QK_K; ++i, b += QTF__Q6_K_BLOCK_BYTES) {
        const float d = kq_get_f16(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                /* (d * sc) * q, as ggml groups it */
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}
