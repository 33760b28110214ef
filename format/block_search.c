/* format/block_search.c — data-driven choice of a group's (scale, min) for the
 * grouped encodings (INT, NF4, FP4), minimising the (importance-weighted)
 * squared error sum_j w_j (x_j - decode(encode(x_j)))^2.
 *
 * Method (in the spirit of ggml's make_qx_quants / make_qkx2_quants):
 * 1. a small grid of candidate scales around the round-to-nearest one; for
 *    each, the nearest codes q, then the least-squares (scale, min) for those
 *    codes in closed form — its error is sum wx^2 - s*sum wxq - m*sum wx, so
 *    ranking a candidate costs one pass;
 * 2. two alternating rounds from the best (re-encode, re-fit);
 * 3. the winner and the rtn choice are both rounded to the stored precision
 *    and evaluated exactly; the better is kept (ties keep rtn), so search is
 *    never worse than rtn on any group.
 * All sums are float within 256-element chunks and double across chunks, in
 * a fixed order: the result depends only on the group's data. */
#if defined(__GNUC__) && !defined(__clang__)
/* The hot loops have run-time trip counts; -O2's "very cheap" vectorizer
 * cost model skips such loops, which costs 2-3x here. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <float.h>
#include <math.h>
#include <string.h>

#include "block_family.h"

#define CHUNK 256
#define ROUND_MAGIC 12582912.0f /* see block_int.c */
#define LANES 8

typedef struct sums {
    double w, x, q, qq, xq, xx;
} sums;

#define ONE8 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f
#define ONE64 ONE8, ONE8, ONE8, ONE8, ONE8, ONE8, ONE8, ONE8
static const float ones[CHUNK] = { ONE64, ONE64, ONE64, ONE64 };

/* Moments that do not depend on the codes: sum w, sum wx, sum wx^2. */
static void data_moments(const qtf__span *s, sums *out) {
    memset(out, 0, sizeof *out);
    QTF__SPAN_CHUNKS(s, CHUNK, r, at, n) {
        const float *x = s->x + r * s->stride + at, *w = s->w ? s->w + at : ones;
        float sw[LANES] = { 0 }, sx[LANES] = { 0 }, sxx[LANES] = { 0 };
        uint64_t j = 0;
        for (; j + LANES <= n; j += LANES) {
            for (int k = 0; k < LANES; k++) {
                float wx = w[j + k] * x[j + k];
                sw[k] += w[j + k];
                sx[k] += wx;
                sxx[k] += wx * x[j + k];
            }
        }
        for (int k = 0; j < n; j++, k++) {
            float wx = w[j] * x[j];
            sw[k] += w[j];
            sx[k] += wx;
            sxx[k] += wx * x[j];
        }
        for (int k = 0; k < LANES; k++) {
            out->w += sw[k];
            out->x += sx[k];
            out->xx += sxx[k];
        }
    }
}

/* Adds the code-dependent moments sum wq, sum wq^2, sum wxq of the nearest
 * codes at (scale, min) to a copy of the data moments. */
QTF__HOT static void accumulate(const qtf__codec *c, const qtf__span *s, float scale, float min,
                       const sums *data, sums *out) {
    float v[CHUNK];
    *out = *data;
    out->q = out->qq = out->xq = 0.0;
    QTF__SPAN_CHUNKS(s, CHUNK, r, at, n) {
        const float *x = s->x + r * s->stride + at, *w = s->w ? s->w + at : ones;
        if (c->uniform) {
            /* the value at scale 1 is the rounded, clamped coordinate */
            const float inv = fabsf(scale) >= FLT_MIN ? 1.0f / scale : 0.0f;
            const float lo = c->qmin, hi = c->qmax;
            for (uint64_t j = 0; j < n; j++) {
                float t = (x[j] - min) * inv;
                t = t < lo ? lo : t;
                t = t > hi ? hi : t;
                v[j] = (t + ROUND_MAGIC) - ROUND_MAGIC;
            }
        } else {
            qtf__codebook_values(c, x, n, scale, v);
        }
        /* Eight independent partial sums per moment: a fixed summation
         * order that the compiler can map onto vector lanes. */
        float sq[LANES] = { 0 }, sqq[LANES] = { 0 }, sxq[LANES] = { 0 };
        uint64_t j = 0;
        for (; j + LANES <= n; j += LANES) {
            for (int k = 0; k < LANES; k++) {
                float wq = w[j + k] * v[j + k];
                sq[k] += wq;
                sqq[k] += wq * v[j + k];
                sxq[k] += wq * x[j + k];
            }
        }
        for (int k = 0; j < n; j++, k++) {
            float wq = w[j] * v[j];
            sq[k] += wq;
            sqq[k] += wq * v[j];
            sxq[k] += wq * x[j];
        }
        for (int k = 0; k < LANES; k++) {
            out->q += sq[k];
            out->qq += sqq[k];
            out->xq += sxq[k];
        }
    }
}

QTF__HOT double qtf__codec_span_error(const qtf__codec *c, const qtf__span *s, float scale,
                                      float min) {
    uint8_t codes[CHUNK];
    float y[CHUNK];
    double total = 0.0;
    QTF__SPAN_CHUNKS(s, CHUNK, r, at, n) {
        const float *x = s->x + r * s->stride + at;
        qtf__codec_encode(c, x, n, scale, min, codes);
        qtf__codec_decode(c, codes, n, scale, min, y);
        float e[LANES] = { 0 };
        const float *w = s->w ? s->w + at : ones;
        uint64_t j = 0;
        for (; j + LANES <= n; j += LANES) {
            for (int k = 0; k < LANES; k++) {
                float d = x[j + k] - y[j + k];
                e[k] += w[j + k] * d * d;
            }
        }
        for (int k = 0; j < n; j++, k++) {
            float d = x[j] - y[j];
            e[k] += w[j] * d * d;
        }
        for (int k = 0; k < LANES; k++) total += e[k];
    }
    return total;
}

/* Least-squares refit for fixed codes. Returns the fitted error, or +inf if
 * the codes do not determine a fit (all equal, or zero weight). */
static double refit(const qtf__codec *c, const sums *m, double sxx, float *scale, float *min) {
    if (c->asym) {
        double det = m->qq * m->w - m->q * m->q;
        if (!(det > 0.0)) return INFINITY;
        double s = (m->xq * m->w - m->q * m->x) / det;
        double b = (m->qq * m->x - m->q * m->xq) / det;
        *scale = (float)s;
        *min = (float)b;
        return sxx - s * m->xq - b * m->x;
    }
    if (!(m->qq > 0.0)) return INFINITY;
    double s = m->xq / m->qq;
    *scale = (float)s;
    *min = 0.0f;
    return sxx - s * m->xq;
}

static float round_to(float v, qtf_dtype t) {
    return qtf__block_round_scale(v, t);
}

void qtf__codec_search(const qtf__codec *c, const qtf__span *s, qtf_dtype scale_type,
                       float *scale, float *min) {
    float s0, m0;
    qtf__codec_rtn_stored(c, s, scale_type, &s0, &m0);
    *scale = s0;
    *min = m0;
    if (s0 == 0.0f || !isfinite(s0)) return;

    /* Candidate scales as multiples of the rtn scale: below 1 clips the
     * extremes to spend resolution on the bulk, above 1 leaves headroom. */
    static const float sym_f[] = { 0.84f, 0.92f, 1.0f, 1.08f };
    static const float asym_d[] = { -0.75f, -0.25f, 0.0f, 0.25f, 0.75f };
    sums data, m;
    data_moments(s, &data);
    const double sxx = data.xx;
    double best = INFINITY;
    float bs = s0, bm = m0;
    if (c->asym) {
        /* range [m0, m0 + qmax*s0]: candidates stretch it over qmax + d codes */
        for (unsigned k = 0; k < sizeof asym_d / sizeof asym_d[0]; k++) {
            float sc = s0 * c->qmax / (c->qmax + asym_d[k]);
            accumulate(c, s, sc, m0, &data, &m);
            float fs, fm;
            double err = refit(c, &m, sxx, &fs, &fm);
            if (err < best) {
                best = err;
                bs = fs;
                bm = fm;
            }
        }
    } else {
        for (unsigned k = 0; k < sizeof sym_f / sizeof sym_f[0]; k++) {
            accumulate(c, s, s0 * sym_f[k], 0.0f, &data, &m);
            float fs, fm;
            double err = refit(c, &m, sxx, &fs, &fm);
            if (err < best) {
                best = err;
                bs = fs;
                bm = fm;
            }
        }
    }
    if (!isfinite(best)) return;
    for (int round = 0; round < 2; round++) {
        float fs, fm;
        accumulate(c, s, bs, bm, &data, &m);
        double err = refit(c, &m, sxx, &fs, &fm);
        if (!(err < best)) break;
        best = err;
        bs = fs;
        bm = fm;
    }
    /* Judge both after rounding to the stored precision, with nearest codes. */
    float rs0 = round_to(s0, scale_type), rm0 = c->asym ? round_to(m0, scale_type) : 0.0f;
    float rbs = round_to(bs, scale_type), rbm = c->asym ? round_to(bm, scale_type) : 0.0f;
    if (!isfinite(rbs) || !isfinite(rbm)) return;
    double e_rtn = qtf__codec_span_error(c, s, rs0, rm0);
    double e_best = qtf__codec_span_error(c, s, rbs, rbm);
    if (e_best < e_rtn) {
        *scale = bs;
        *min = bm;
    }
}
