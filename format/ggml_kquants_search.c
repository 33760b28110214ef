/* format/ggml_kquants_search.c — ggml's K-quant scale searches, reproduced
 * bit for bit, 8 sub-blocks per call (see ggml_kquants_search.h for why the
 * order matters and how the lanes keep it).
 *
 * Conventions that keep the arithmetic identical to ggml's C:
 *  - integer codes enter float expressions as (float)code at the point where
 *    C's usual conversions put them, e.g. w*l*l is (w*(float)l)*(float)l;
 *  - sums are accumulated in float, left to right, in element order, one
 *    accumulator per lane;
 *  - ggml's `if (c) { a = ...; }` becomes a = sel(c, ..., a), computed for
 *    every lane (values of lanes that do not take the branch are discarded,
 *    so a division by zero or a NaN there is harmless);
 *  - codes are kept as 32-bit ints in the lanes; every code ggml stores in an
 *    int8_t / uint8_t here is within that type's range, so nothing wraps.
 *
 * The lanes are GCC/Clang vector extensions (8 x f32 / i32): element-wise
 * IEEE operations, the same as the scalar ones lane by lane. Auto-vectorizing
 * the scalar form failed on the selects, hence the explicit types. */
#include "ggml_kquants_search.h"

#include <math.h>

#include "block_family.h" /* QTF__HOT */

#if !defined(__GNUC__)
#error "format/ggml_kquants_search.c needs GCC or Clang vector extensions"
#endif

/* Helpers below pass vectors by value. They are always inlined, also at -O0:
 * a call between the AVX2 clone and a helper compiled for the baseline
 * target would disagree on how a 256-bit vector is passed (the ABI change
 * -Wpsabi warns about). */
#pragma GCC diagnostic ignored "-Wpsabi" /* GCC and Clang */

typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

static QTF__ALWAYS_INLINE v8f splat(float a) {
    return (v8f){a, a, a, a, a, a, a, a};
}
static QTF__ALWAYS_INLINE v8i splati(int a) {
    /* a broadcast (GCC assembles a compound literal of a run-time value lane
     * by lane, inside the loop) */
    return (v8i){0, 0, 0, 0, 0, 0, 0, 0} + a;
}
/* m ? a : b per lane (m: -1 or 0 per lane, as comparisons produce). */
static QTF__ALWAYS_INLINE v8f sel(v8i m, v8f a, v8f b) {
    return (v8f)((m & (v8i)a) | (~m & (v8i)b));
}
static QTF__ALWAYS_INLINE v8i seli(v8i m, v8i a, v8i b) {
    return (m & a) | (~m & b);
}
static QTF__ALWAYS_INLINE int any(v8i m) {
    return (m[0] | m[1] | m[2] | m[3] | m[4] | m[5] | m[6] | m[7]) != 0;
}
static QTF__ALWAYS_INLINE v8f tof(v8i l) {
    return __builtin_convertvector(l, v8f);
}
static QTF__ALWAYS_INLINE v8f vabs(v8f v) {
    return (v8f)((v8i)v & splati(0x7fffffff));
}
/* qtf__kq_nearest_int per lane. */
static QTF__ALWAYS_INLINE v8i vnearest(v8f v) {
    const v8i bits = (v8i)(v + splat(12582912.f));
    return (bits & splati(0x007fffff)) - splati(0x00400000);
}
static QTF__ALWAYS_INLINE v8i clampi(v8i l, v8i lo, v8i hi) {
    l = seli(l < lo, lo, l);
    return seli(l > hi, hi, l);
}
static QTF__ALWAYS_INLINE v8f load(const qtf__kq_lanes_f *p) {
    v8f v;
    memcpy(&v, p->v, sizeof v);
    return v;
}

/* The element of largest magnitude per lane, first one on ties (ggml's strict
 * `ax > amax`): its signed value in *max, |.| in *amax. */
static QTF__ALWAYS_INLINE void lanes_absmax(int n, const v8f *x, v8f *max, v8f *amax) {
    v8f mx = splat(0), am = splat(0);
    for (int i = 0; i < n; ++i) {
        const v8f ax = vabs(x[i]);
        const v8i bigger = ax > am;
        am = sel(bigger, ax, am);
        mx = sel(bigger, x[i], mx);
    }
    *max = mx, *amax = am;
}

QTF__HOT void qtf__kq_make_qx_lanes(int n, int nmax, const qtf__kq_lanes_f *xs,
                                    const qtf__kq_lanes_f *qws, qtf__kq_lanes_i8 *Lout,
                                    float *scale_out) {
    v8f x[QTF__KQ_MAX_N], w[QTF__KQ_MAX_N];
    v8i L[QTF__KQ_MAX_N], Laux[QTF__KQ_MAX_N];
    for (int i = 0; i < n; ++i) {
        x[i] = load(xs + i);
        w[i] = qws ? load(qws + i) : x[i] * x[i];
    }
    const v8i lo = splati(-nmax), hi = splati(nmax - 1), off = splati(nmax);
    v8f max, amax;
    lanes_absmax(n, x, &max, &amax);
    /* -nmax / max: the extreme element maps to code -nmax (its sign chosen so
     * that the asymmetric range [-nmax, nmax-1] holds it exactly). */
    v8f iscale = splat((float)(-nmax)) / max, sumlx = splat(0), suml2 = splat(0);
    for (int i = 0; i < n; ++i) {
        const v8i l = clampi(vnearest(iscale * x[i]), lo, hi);
        L[i] = l + off;
        const v8f lf = tof(l);
        sumlx += w[i] * x[i] * lf;
        suml2 += w[i] * lf * lf;
    }
    v8f scale = sel(suml2 != splat(0), sumlx / suml2, splat(0));
    v8f best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = splat(-((float)nmax + 0.1f * (float)is)) / max;
        sumlx = suml2 = splat(0);
        for (int i = 0; i < n; ++i) {
            const v8i l = clampi(vnearest(iscale * x[i]), lo, hi);
            Laux[i] = l + off;
            const v8f lf = tof(l);
            sumlx += w[i] * x[i] * lf;
            suml2 += w[i] * lf * lf;
        }
        /* sumlx^2 / suml2 is the error reduction of the least-squares scale,
         * compared cross-multiplied as ggml does; ggml recomputes the winning
         * codes, which are the trial's codes. */
        const v8i win = (suml2 > splat(0)) & (sumlx * sumlx > best * suml2);
        if (!any(win)) continue;
        for (int i = 0; i < n; ++i) L[i] = seli(win, Laux[i], L[i]);
        const v8f sc = sumlx / suml2;
        scale = sel(win, sc, scale);
        best = sel(win, sc * sumlx, best);
    }
    /* Groups below GROUP_MAX_EPS: codes 0, scale 0 (ggml returns early). */
    const v8i zero = amax < splat(QTF__KQ_GROUP_MAX_EPS);
    for (int i = 0; i < n; ++i) {
        const v8i l = seli(zero, splati(0), L[i]);
        for (int s = 0; s < QTF__KQ_LANES; ++s) Lout[i].v[s] = (int8_t)l[s];
    }
    scale = sel(zero, splat(0), scale);
    memcpy(scale_out, &scale, sizeof scale);
}

QTF__HOT void qtf__kq_make_q3_lanes(int n, int nmax, const qtf__kq_lanes_f *xs,
                                    qtf__kq_lanes_i8 *Lout, float *scale_out) {
    v8f x[QTF__KQ_MAX_N];
    v8i L[QTF__KQ_MAX_N];
    for (int i = 0; i < n; ++i) x[i] = load(xs + i);
    const v8i lo = splati(-nmax), hi = splati(nmax - 1);
    v8f max, amax;
    lanes_absmax(n, x, &max, &amax);
    const v8f iscale = splat((float)(-nmax)) / max;
    v8f sumlx = splat(0), suml2 = splat(0);
    for (int i = 0; i < n; ++i) {
        const v8i l = clampi(vnearest(iscale * x[i]), lo, hi);
        L[i] = l; /* signed here; offset by nmax at the end */
        const v8f w = x[i] * x[i], lf = tof(l);
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    /* ggml stops a group after a pass without changes; a further pass over an
     * unchanged group changes nothing again, so running all lanes until none
     * changes (or five passes) gives each lane ggml's result. */
    for (int itry = 0; itry < 5; ++itry) {
        v8i changed = splati(0);
        for (int i = 0; i < n; ++i) {
            const v8f xi = x[i], w = xi * xi, li = tof(L[i]);
            const v8f slx = sumlx - w * xi * li;
            const v8f sl2 = suml2 - w * li * li;
            /* The code of x[i] that is best for the scale the other elements
             * imply, kept if it improves the whole group. */
            const v8i new_l = clampi(vnearest(xi * sl2 / slx), lo, hi);
            const v8f nl = tof(new_l);
            const v8f slx2 = slx + w * xi * nl;
            const v8f sl22 = sl2 + w * nl * nl;
            const v8i take = (slx > splat(0)) & (new_l != L[i]) & (sl22 > splat(0)) &
                             (slx2 * slx2 * suml2 > sumlx * sumlx * sl22);
            L[i] = seli(take, new_l, L[i]);
            sumlx = sel(take, slx2, sumlx);
            suml2 = sel(take, sl22, suml2);
            changed |= take;
        }
        if (!any(changed)) break;
    }
    const v8i zero = amax < splat(QTF__KQ_GROUP_MAX_EPS);
    for (int i = 0; i < n; ++i) {
        const v8i l = seli(zero, splati(0), L[i] + splati(nmax)); /* once */
        for (int s = 0; s < QTF__KQ_LANES; ++s) Lout[i].v[s] = (int8_t)l[s];
    }
    const v8f scale =
        sel(zero, splat(0), sel(suml2 > splat(0), sumlx / suml2, splat(0)));
    memcpy(scale_out, &scale, sizeof scale);
}

/* Weighted error of the codes L at (scale, min): sum w * |d| (use_mad) or
 * sum w * d^2, d = scale * L + min - x, in element order. */
static QTF__ALWAYS_INLINE v8f fit_error(int n, const v8f *x, const v8f *w, const v8i *L, v8f scale, v8f min,
                            int use_mad) {
    v8f err = splat(0);
    for (int i = 0; i < n; ++i) {
        const v8f diff = scale * tof(L[i]) + min - x[i];
        err += w[i] * (use_mad ? vabs(diff) : diff * diff);
    }
    return err;
}

QTF__HOT void qtf__kq_make_qkx_lanes(int n, int nmax, const qtf__kq_lanes_f *xs,
                                     const qtf__kq_lanes_f *ws, qtf__kq_lanes_u8 *Lout,
                                     float *scale_out, float *the_min, float rmin, float rdelta,
                                     int nstep, int use_mad, int qkx3) {
    v8f x[QTF__KQ_MAX_N], w[QTF__KQ_MAX_N];
    v8i L[QTF__KQ_MAX_N], Laux[QTF__KQ_MAX_N];
    x[0] = load(xs), w[0] = load(ws); /* n >= 1 */
    for (int i = 1; i < n; ++i) x[i] = load(xs + i), w[i] = load(ws + i);
    v8f min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        min = sel(x[i] < min, x[i], min);
        max = sel(x[i] > max, x[i], max);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    min = sel(min > splat(0), splat(0), min);
    const v8f min0 = min;
    const v8i flat = qkx3 ? max <= min : max == min;
    const v8f fnmax = splat((float)nmax);
    const v8i lo = splati(0), hi = splati(nmax);
    v8f iscale = fnmax / (max - min);
    v8f scale = splat(1) / iscale;
    for (int i = 0; i < n; ++i) L[i] = clampi(vnearest(iscale * (x[i] - min)), lo, hi);
    v8f best = fit_error(n, x, w, L, scale, min, use_mad);
    /* As in ggml, every trial is taken relative to the best min found so far
     * (min changes when a trial wins), not to the initial one. nstep < 1:
     * ggml returns the initial fit. */
    const int last_step = nstep < 1 ? -1 : nstep;
    for (int is = 0; is <= last_step; ++is) {
        iscale = splat(rmin + rdelta * (float)is + (float)nmax) / (max - min);
        v8f sum_l = splat(0), sum_l2 = splat(0), sum_xl = splat(0);
        for (int i = 0; i < n; ++i) {
            const v8f v = iscale * (x[i] - min);
            v8i l;
            if (qkx3) /* the best min can sit at max: v may be Inf or NaN */
                l = seli(v > splat(0), vnearest(sel(v < fnmax, v, fnmax)), splati(0));
            else
                l = clampi(vnearest(v), lo, hi);
            Laux[i] = l;
            const v8f lf = tof(l), wl = w[i] * lf;
            sum_l += wl;
            sum_l2 += wl * lf;
            sum_xl += wl * x[i];
        }
        const v8f D = sum_w * sum_l2 - sum_l * sum_l;
        v8i win = D > splat(0);
        if (!any(win)) continue;
        const v8f sc = (sum_w * sum_xl - sum_x * sum_l) / D;
        const v8f mn = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        /* The min is capped at 0 (codes are offsets above a non-positive
         * minimum); refit the scale alone. */
        const v8i capped = mn > splat(0);
        const v8f this_min = sel(capped, splat(0), mn);
        const v8f this_scale = sel(capped, sum_xl / sum_l2, sc);
        const v8f cur = fit_error(n, x, w, Laux, this_scale, this_min, use_mad);
        win &= cur < best;
        if (!any(win)) continue;
        best = sel(win, cur, best);
        scale = sel(win, this_scale, scale);
        min = sel(win, this_min, min);
        for (int i = 0; i < n; ++i) L[i] = seli(win, Laux[i], L[i]);
    }
    /* Flat groups: codes 0, scale 0, and the initial min (ggml returns before
     * searching; what the lane computed meanwhile is discarded). */
    for (int i = 0; i < n; ++i) {
        const v8i l = seli(flat, splati(0), L[i]);
        for (int s = 0; s < QTF__KQ_LANES; ++s) Lout[i].v[s] = (uint8_t)l[s];
    }
    scale = sel(flat, splat(0), scale);
    const v8f neg_min = -sel(flat, min0, min);
    memcpy(scale_out, &scale, sizeof scale);
    memcpy(the_min, &neg_min, sizeof neg_min);
}

float qtf__kq_make_qp(int n, int nmax, const float *x, uint8_t *L, const float *quant_weights) {
    float max = 0;
    for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
    if (max < QTF__KQ_GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = (float)nmax / max;
    for (int i = 0; i < n; ++i) L[i] = (uint8_t)qtf__kq_nearest_int(iscale * x[i]);
    const float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * (float)L[i];
        best_mse += quant_weights[i] * diff * diff;
    }
    /* Nine trial scales around nmax / max; only the inverse scale is kept. */
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * (float)is + (float)nmax) / max;
        const float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            int l = qtf__kq_nearest_int(iscale_is * x[i]);
            if (l > nmax) l = nmax;
            const float diff = x[i] - scale_is * (float)l;
            mse += quant_weights[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = qtf__kq_nearest_int(iscale * x[i]);
        if (l > nmax) l = nmax;
        L[i] = (uint8_t)l;
        const float w = quant_weights[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = quant_weights[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            if (slx > 0 && sl2 > 0) {
                int new_l = qtf__kq_nearest_int(x[i] * sl2 / slx);
                if (new_l > nmax) new_l = nmax;
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}
