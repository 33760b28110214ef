/* format/ggml_kquants_search.c — ggml's K-quant scale searches, reproduced
 * bit for bit (see ggml_kquants_search.h for why the order matters).
 *
 * Conventions that keep the arithmetic identical to ggml's C:
 *  - integer codes enter float expressions as (float)code at the point where
 *    C's usual conversions put them, e.g. w*l*l is (w*(float)l)*(float)l;
 *  - sums are accumulated in float, left to right, in element order;
 *  - code arrays have ggml's element types (int8_t / uint8_t), because some
 *    codes pass through a narrowing store before they are reused. */
#include "ggml_kquants_search.h"

#include <math.h>

static inline int kq_clamp(int v, int lo, int hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

float qtf__kq_make_qx(int n, int nmax, const float *x, int8_t *L, const float *qw) {
    /* The element of largest magnitude, first one on ties (strict >). */
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < QTF__KQ_GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    /* -nmax / max: the extreme element maps to code -nmax (its sign chosen so
     * that the asymmetric range [-nmax, nmax-1] holds it exactly). */
    float iscale = (float)(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = kq_clamp(qtf__kq_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = kq_clamp(qtf__kq_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        /* sumlx^2 / suml2 is the error reduction of the least-squares scale;
         * compared cross-multiplied as ggml does. */
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = kq_clamp(qtf__kq_nearest_int(iscale * x[i]), -nmax, nmax - 1);
                L[i] = (int8_t)(l + nmax);
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

float qtf__kq_make_q3(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < QTF__KQ_GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const float iscale = (float)(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = kq_clamp(qtf__kq_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l; /* signed here; offset by nmax at the end */
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                /* The code of x[i] that is best for the scale the other
                 * elements imply, kept if it improves the whole group. */
                int new_l = qtf__kq_nearest_int(x[i] * sl2 / slx);
                new_l = kq_clamp(new_l, -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Weighted error term of one element: |d| (mean absolute) or d^2. */
static inline float kq_err(float diff, int use_mad) {
    return use_mad ? fabsf(diff) : diff * diff;
}

/* The part make_qkx2 and make_qkx3 share after the trial codes of one step
 * are known: least-squares (scale, min) for the codes Laux, then the error;
 * updates the best state when it is lower. */
static inline void kq_try_fit(int n, const float *x, const float *weights, uint8_t *L,
                              const uint8_t *Laux, float sum_w, float sum_x, float sum_l,
                              float sum_l2, float sum_xl, int use_mad, float *best_error,
                              float *scale, float *min) {
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (!(D > 0)) return;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) {
        /* The min is capped at 0 (codes are offsets above a non-positive
         * minimum); refit the scale alone. */
        this_min = 0;
        this_scale = sum_xl / sum_l2;
    }
    float cur_error = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = this_scale * (float)Laux[i] + this_min - x[i];
        cur_error += weights[i] * kq_err(diff, use_mad);
    }
    if (cur_error < *best_error) {
        memcpy(L, Laux, (size_t)n);
        *best_error = cur_error;
        *scale = this_scale;
        *min = this_min;
    }
}

/* Shared head of make_qkx2/make_qkx3: range, weighted sums, initial codes and
 * error. Returns 0 when the group is flat (codes zeroed, *scale = 0). */
static inline int kq_qkx_start(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                               int use_mad, int flat_if_max_le_min, float *out_min,
                               float *out_max, float *out_sum_w, float *out_sum_x,
                               float *out_scale, float *out_best) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    *out_min = min;
    if (flat_if_max_le_min ? max <= min : max == min) {
        memset(L, 0, (size_t)n);
        *out_scale = 0.f;
        return 0;
    }
    const float iscale = (float)nmax / (max - min);
    const float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; ++i) {
        const int l = qtf__kq_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)kq_clamp(l, 0, nmax);
        const float diff = scale * (float)L[i] + min - x[i];
        best += weights[i] * kq_err(diff, use_mad);
    }
    *out_max = max;
    *out_sum_w = sum_w;
    *out_sum_x = sum_x;
    *out_scale = scale;
    *out_best = best;
    return 1;
}

float qtf__kq_make_qkx2(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                        float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                        int use_mad) {
    float min, max = 0, sum_w = 0, sum_x = 0, scale, best = 0;
    if (!kq_qkx_start(n, nmax, x, weights, L, use_mad, 0, &min, &max, &sum_w, &sum_x, &scale,
                      &best)) {
        *the_min = -min;
        return 0.f;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    /* As in ggml, every trial is taken relative to the best min found so far
     * (min changes when a trial wins), not to the initial one. */
    for (int is = 0; is <= nstep; ++is) {
        const float iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = kq_clamp(qtf__kq_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        kq_try_fit(n, x, weights, L, Laux, sum_w, sum_x, sum_l, sum_l2, sum_xl, use_mad, &best,
                   &scale, &min);
    }
    *the_min = -min;
    return scale;
}

float qtf__kq_make_qkx3(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                        float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                        int use_mad) {
    float min, max = 0, sum_w = 0, sum_x = 0, scale, best = 0;
    if (!kq_qkx_start(n, nmax, x, weights, L, use_mad, 1, &min, &max, &sum_w, &sum_x, &scale,
                      &best)) {
        *the_min = -min;
        return 0.f;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        const float iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            /* The best min so far can sit at or near max, so v may be Inf,
             * NaN or huge: ggml 0.21 maps v <= 0 (and NaN) to 0 and caps v at
             * nmax before rounding. */
            const float v = iscale * (x[i] - min);
            const int l = v > 0 ? qtf__kq_nearest_int(v < (float)nmax ? v : (float)nmax) : 0;
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        kq_try_fit(n, x, weights, L, Laux, sum_w, sum_x, sum_l, sum_l2, sum_xl, use_mad, &best,
                   &scale, &min);
    }
    *the_min = -min;
    return scale;
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
