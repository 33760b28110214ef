/* Error metrics (format/metrics.c) against hand-computed values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qtf.h"

static qtf_metrics compute(const float *r, const float *a, uint64_t n, const float *w,
                           uint64_t cols) {
    qtf_metrics m;
    memset(&m, 0, sizeof m);
    qtf_status st = qtf_metrics_compute(&m, r, a, n, w, cols);
    cr_assert_eq(st, QTF_OK, "%s", qtf_error_detail());
    return m;
}

#define CLOSE(x, want) cr_assert_float_eq((x), (want), 1e-15 * fabs(want) + 1e-300, \
                                          "%s = %.17g, want %.17g", #x, (x), (want))

Test(metrics, three_four_versus_three_three) {
    /* d = (0, -1): ||d||^2 = 1, ||ref||^2 = 25, <ref,approx> = 21, ||approx||^2 = 18 */
    const float r[2] = { 3, 4 }, a[2] = { 3, 3 };
    qtf_metrics m = compute(r, a, 2, NULL, 0);
    cr_assert_eq(m.n, 2);
    CLOSE(m.mse, 0.5);
    CLOSE(m.rel_rmse, 0.2);
    CLOSE(m.max_abs_err, 1.0);
    CLOSE(m.snr_db, 10.0 * log10(25.0));
    CLOSE(m.cosine, 21.0 / (5.0 * sqrt(18.0)));
}

Test(metrics, weighted_single_row) {
    /* w = (2, 0.5): sum w r^2 = 26, sum w d^2 = 0.5, sum w = 2.5,
     * sum w r a = 24, sum w a^2 = 22.5 */
    const float r[2] = { 3, 4 }, a[2] = { 3, 3 }, w[2] = { 2.0f, 0.5f };
    qtf_metrics m = compute(r, a, 2, w, 2);
    CLOSE(m.mse, 0.2);
    CLOSE(m.rel_rmse, sqrt(0.5 / 26.0));
    CLOSE(m.snr_db, 10.0 * log10(52.0));
    CLOSE(m.cosine, 24.0 / sqrt(26.0 * 22.5));
    CLOSE(m.max_abs_err, 1.0);
}

Test(metrics, weighted_repeats_per_row) {
    /* rows (3,4) and (1,0) against (3,3) and (1,1), w = (1,2):
     * sum w r^2 = 9+32+1 = 42, sum w d^2 = 2+2 = 4, sum w = 6,
     * sum w r a = 9+24+1 = 34, sum w a^2 = 9+18+1+2 = 30 */
    const float r[4] = { 3, 4, 1, 0 }, a[4] = { 3, 3, 1, 1 }, w[2] = { 1, 2 };
    qtf_metrics m = compute(r, a, 4, w, 2);
    CLOSE(m.mse, 4.0 / 6.0);
    CLOSE(m.rel_rmse, sqrt(4.0 / 42.0));
    CLOSE(m.snr_db, 10.0 * log10(42.0 / 4.0));
    CLOSE(m.cosine, 34.0 / sqrt(42.0 * 30.0));
    /* unit weights give the unweighted metrics exactly */
    const float ones[2] = { 1, 1 };
    qtf_metrics u = compute(r, a, 4, ones, 2), p = compute(r, a, 4, NULL, 0);
    cr_assert(u.mse == p.mse && u.rel_rmse == p.rel_rmse && u.snr_db == p.snr_db &&
              u.cosine == p.cosine && u.max_abs_err == p.max_abs_err);
}

Test(metrics, zero_weight_columns_are_ignored) {
    const float r[4] = { 1, 100, 2, -50 }, a[4] = { 1, 0, 2, 7 }, w[2] = { 1, 0 };
    qtf_metrics m = compute(r, a, 4, w, 2);
    cr_assert_eq(m.mse, 0.0);
    cr_assert_eq(m.rel_rmse, 0.0);
    cr_assert(isinf(m.snr_db) && m.snr_db > 0);
    CLOSE(m.cosine, 1.0);
    CLOSE(m.max_abs_err, 100.0); /* the max is over all elements */
}

Test(metrics, defined_values_for_zero_inputs) {
    const float z[3] = { 0, 0, 0 }, x[3] = { 0, 1, -2 };
    qtf_metrics m = compute(z, z, 3, NULL, 0);
    cr_assert(m.mse == 0 && m.rel_rmse == 0 && m.max_abs_err == 0 && m.cosine == 1.0);
    cr_assert(isinf(m.snr_db) && m.snr_db > 0);
    m = compute(z, x, 3, NULL, 0);  /* reference zero, approximation not */
    CLOSE(m.mse, 5.0 / 3.0);
    cr_assert(isinf(m.rel_rmse) && m.rel_rmse > 0);
    cr_assert(isinf(m.snr_db) && m.snr_db < 0);
    cr_assert_eq(m.cosine, 0.0);
    m = compute(x, z, 3, NULL, 0);  /* approximation zero */
    CLOSE(m.rel_rmse, 1.0);
    CLOSE(m.snr_db, 0.0);
    cr_assert_eq(m.cosine, 0.0);
    m = compute(x, x, 3, NULL, 0);
    cr_assert(m.mse == 0 && m.rel_rmse == 0 && m.max_abs_err == 0);
    cr_assert(isinf(m.snr_db));
    CLOSE(m.cosine, 1.0);
    const float neg[3] = { 0, -1, 2 };
    m = compute(x, neg, 3, NULL, 0);
    CLOSE(m.cosine, -1.0);
    m = compute(NULL, NULL, 0, NULL, 0);
    cr_assert(m.n == 0 && m.mse == 0 && m.rel_rmse == 0 && m.cosine == 1.0);
}

Test(metrics, non_finite_inputs_are_refused) {
    float r[5] = { 1, 2, 3, 4, 5 }, a[5] = { 1, 2, 3, 4, 5 };
    qtf_metrics m;
    r[3] = NAN;
    cr_assert_eq(qtf_metrics_compute(&m, r, a, 5, NULL, 0), QTF_E_NUMERIC);
    cr_assert(strstr(qtf_error_detail(), "reference element 3") != NULL, "%s",
              qtf_error_detail());
    r[3] = 4;
    a[1] = -INFINITY;
    cr_assert_eq(qtf_metrics_compute(&m, r, a, 5, NULL, 0), QTF_E_NUMERIC);
    cr_assert(strstr(qtf_error_detail(), "approximation element 1") != NULL, "%s",
              qtf_error_detail());
    /* a NaN under a zero weight is still an error */
    const float w[5] = { 1, 0, 1, 1, 1 };
    a[1] = NAN;
    cr_assert_eq(qtf_metrics_compute(&m, r, a, 5, w, 5), QTF_E_NUMERIC);
}

Test(metrics, argument_errors) {
    const float r[4] = { 1, 2, 3, 4 }, w[3] = { 1, -1, 1 }, wn[2] = { 1, NAN };
    qtf_metrics m;
    cr_assert_eq(qtf_metrics_compute(NULL, r, r, 4, NULL, 0), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_metrics_compute(&m, NULL, r, 4, NULL, 0), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_metrics_compute(&m, r, r, 4, w, 0), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_metrics_compute(&m, r, r, 4, w, 3), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_metrics_compute(&m, r, r, 3, w, 3), QTF_E_INVALID_ARG);
    cr_assert(strstr(qtf_error_detail(), "weight 1") != NULL);
    cr_assert_eq(qtf_metrics_compute(&m, r, r, 4, wn, 2), QTF_E_INVALID_ARG);
}

/* Many terms of very different magnitude: the compensated total must match
 * an exact-enough long double reference far better than naive summation. */
Test(metrics, large_inputs_stay_accurate) {
    enum { N = 1 << 21 };
    float *r = malloc(N * sizeof *r), *a = malloc(N * sizeof *a);
    uint32_t s = 12345;
    long double rr = 0, dd = 0, ra = 0, aa = 0;
    double max_abs = 0;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        float x = ((float)(s >> 8) / 16777216.0f - 0.5f) * (i % 1000 == 0 ? 1e4f : 1.0f);
        s = s * 1664525u + 1013904223u;
        float y = x + ((float)(s >> 8) / 16777216.0f - 0.5f) * 1e-3f;
        r[i] = x;
        a[i] = y;
        long double d = (long double)y - x;
        rr += (long double)x * x;
        aa += (long double)y * y;
        dd += d * d;
        ra += (long double)x * y;
        if (fabs((double)d) > max_abs) max_abs = fabs((double)d);
    }
    qtf_metrics m = compute(r, a, N, NULL, 0);
    double mse = (double)(dd / N), rel = (double)sqrtl(dd / rr);
    double cosv = (double)(ra / sqrtl(rr * aa));
    cr_assert_float_eq(m.mse, mse, 1e-13 * mse);
    cr_assert_float_eq(m.rel_rmse, rel, 1e-13 * rel);
    cr_assert_float_eq(m.cosine, cosv, 1e-15);
    cr_assert_eq(m.max_abs_err, max_abs);
    free(r);
    free(a);
}
