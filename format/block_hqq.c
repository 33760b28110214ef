/* format/block_hqq.c — the `opt` choice of a group's (scale, min) for the
 * grouped encodings (INT, NF4, FP4): an alternating closed-form fit that is
 * robust to outliers (in the spirit of HQQ, Badri & Shaji 2023), started from
 * several clipped ranges, judged by the importance-weighted squared error
 * sum_j w_j (x_j - decode(encode(x_j)))^2 after rounding to the stored
 * precision.
 *
 * For each clipping ratio r (the rtn range shrunk to r around its centre):
 *   repeat: codes q = nearest codes at (s, m); residuals e = x - (s q + m);
 *   an L_p (p = 0.7) proximal step on the residuals normalised by their
 *   weighted RMS marks how much of each residual is "allowed error" (large
 *   for outliers, zero for the bulk); (s, m) = weighted least squares of
 *   s q + m on x minus that allowed error; beta (the step's sharpness) grows
 *   every round.
 * Every iterate, the `search` result and rtn are evaluated exactly (after
 * rounding to the stored precision, nearest codes); the best is kept, ties
 * in favour of rtn and then search, so `opt` is never worse than either on
 * any group. All sums run in a fixed order: the result depends only on the
 * group's data. */
#include <float.h>
#include <math.h>

#include "block_family.h"

#define CHUNK 256
#define ROUNDS 6
#define P_NORM 0.7

static const float clip_ratios[] = { 1.0f, 0.9f, 0.8f };

typedef struct fit_sums {
    double w, v, vv, y, vy;   /* sum w, w v, w v^2, w y, w v y (y: the fitted target) */
    double rr;                /* sum w e^2 (e: residual) */
} fit_sums;

static float value_of(const qtf__codec *c, uint8_t code) {
    return c->uniform ? (float)code - c->zero : c->value[code];
}

/* One pass over the span at (scale, min). sigma_inv == 0: plain residual
 * moments (the target is x itself); otherwise the target is x minus the
 * L_p-shrunk residual, the residual measured in units of 1/sigma_inv. */
static void pass(const qtf__codec *c, const qtf__span *s, float scale, float min,
                 double sigma_inv, double beta, fit_sums *out) {
    uint8_t codes[CHUNK];
    memset(out, 0, sizeof *out);
    QTF__SPAN_CHUNKS(s, CHUNK, r, at, n) {
        const float *x = s->x + r * s->stride + at;
        qtf__codec_encode(c, x, n, scale, min, codes);
        for (uint64_t j = 0; j < n; j++) {
            double w = s->w ? (double)s->w[at + j] : 1.0;
            double v = value_of(c, codes[j]);
            double e = (double)x[j] - ((double)scale * v + (double)min);
            double y = x[j];
            if (sigma_inv > 0.0) {
                /* prox of |u|^p / beta: |u| - |u|^(p-1) / beta, floored at 0 */
                double u = fabs(e) * sigma_inv;
                double keep = u > 0.0 ? u - pow(u, P_NORM - 1.0) / beta : 0.0;
                if (keep > 0.0) y -= copysign(keep / sigma_inv, e);
            }
            out->w += w;
            out->v += w * v;
            out->vv += w * v * v;
            out->y += w * y;
            out->vy += w * v * y;
            out->rr += w * e * e;
        }
    }
}

/* Weighted least squares of (scale, min) for the codes of the last pass. */
static int solve(const qtf__codec *c, const fit_sums *m, float *scale, float *min) {
    if (c->asym) {
        double det = m->vv * m->w - m->v * m->v;
        if (!(det > 0.0)) return 0;
        double sc = (m->vy * m->w - m->v * m->y) / det;
        double mn = (m->vv * m->y - m->v * m->vy) / det;
        if (!isfinite(sc) || !isfinite(mn)) return 0;
        *scale = (float)sc;
        *min = (float)mn;
        return 1;
    }
    if (!(m->vv > 0.0)) return 0;
    double sc = m->vy / m->vv;
    if (!isfinite(sc)) return 0;
    *scale = (float)sc;
    *min = 0.0f;
    return 1;
}

typedef struct best_choice {
    double err;
    float scale, min;
} best_choice;

/* Evaluates (scale, min) as stored and keeps it if strictly better. */
static void consider(const qtf__codec *c, const qtf__span *s, qtf_dtype t, float scale,
                     float min, best_choice *b) {
    float rs = qtf__block_round_scale(scale, t);
    float rm = c->asym ? qtf__block_round_scale(min, t) : 0.0f;
    if (!isfinite(rs) || !isfinite(rm) || rs == 0.0f) return;
    double err = qtf__codec_span_error(c, s, rs, rm);
    if (err < b->err) {
        b->err = err;
        b->scale = rs;
        b->min = rm;
    }
}

void qtf__codec_opt(const qtf__codec *c, const qtf__span *s, qtf_dtype scale_type, float *scale,
                    float *min) {
    float s0, m0;
    qtf__codec_rtn_stored(c, s, scale_type, &s0, &m0);
    *scale = s0;
    *min = m0;
    if (s0 == 0.0f || !isfinite(s0)) return;
    /* rtn as it will be stored first, so that ties keep it. */
    best_choice b = { INFINITY, s0, m0 };
    consider(c, s, scale_type, s0, m0, &b);
    float ss, sm;
    qtf__codec_search(c, s, scale_type, &ss, &sm);
    consider(c, s, scale_type, ss, sm, &b);

    for (unsigned k = 0; k < sizeof clip_ratios / sizeof clip_ratios[0]; k++) {
        /* The rtn range [m0 + qmin s0, m0 + qmax s0] shrunk by r around its centre. */
        float sc = s0 * clip_ratios[k];
        float mn = m0;
        if (c->asym) mn = m0 + 0.5f * (1.0f - clip_ratios[k]) * c->qmax * s0;
        double beta = 1.0;
        for (int round = 0; round < ROUNDS; round++) {
            fit_sums m;
            pass(c, s, sc, mn, 0.0, beta, &m);
            if (!(m.w > 0.0) || !(m.rr > 0.0)) break;   /* exact already */
            double sigma_inv = 1.0 / sqrt(m.rr / m.w);
            pass(c, s, sc, mn, sigma_inv, beta, &m);
            float ns, nm;
            if (!solve(c, &m, &ns, &nm)) break;
            consider(c, s, scale_type, ns, nm, &b);
            if (ns == sc && nm == mn) break;
            sc = ns;
            mn = nm;
            beta *= 1.5;
        }
    }
    *scale = b.scale;
    *min = b.min;
}
