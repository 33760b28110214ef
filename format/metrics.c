/* format/metrics.c — reconstruction error of a dequantized tensor.
 *
 * Accuracy: elements are summed in double, in blocks of BLOCK with LANES
 * independent partial sums (the shape compilers vectorize without
 * reassociation flags), and block results are added into the totals with
 * Neumaier's compensated summation. The error of a total is thus bounded by
 * about BLOCK/LANES roundings of a block, independent of the tensor size. */
#include <math.h>
#include <string.h>

#include "family.h"

#define LANES 8
#define BLOCK 2048

/* The block kernels are also built for AVX2 on x86-64 and chosen at load
 * time. The lanes are explicit in the source and neither target has FMA to
 * contract into, so both versions give the same bits. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(QTF_NO_CLONES)
#define HOT_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define HOT_LOOP
#endif

typedef struct block_sums {
    double rr, aa, dd, ra, w, max_abs;
} block_sums;

typedef struct compensated {
    double sum, c;
} compensated;

static void add_compensated(compensated *acc, double v) {
    double t = acc->sum + v;
    if (fabs(acc->sum) >= fabs(v)) acc->c += (acc->sum - t) + v;
    else acc->c += (v - t) + acc->sum;
    acc->sum = t;
}

static double lanes_total(const double v[LANES]) {
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

static double lanes_max(const double v[LANES]) {
    double m = v[0];
    for (unsigned j = 1; j < LANES; j++) m = v[j] > m ? v[j] : m;
    return m;
}

/* The max is taken with a compare-select: it ignores NaN, which the callers
 * detect through the sums instead. */
HOT_LOOP static void sums_plain(block_sums *s, const float *restrict r, const float *restrict a,
                       size_t m) {
    double rr[LANES] = { 0 }, aa[LANES] = { 0 }, dd[LANES] = { 0 }, ra[LANES] = { 0 },
           mx[LANES] = { 0 };
    size_t i = 0;
    for (; i + LANES <= m; i += LANES)
        for (unsigned j = 0; j < LANES; j++) {
            double x = r[i + j], y = a[i + j], d = y - x, ad = fabs(d);
            rr[j] += x * x;
            aa[j] += y * y;
            dd[j] += d * d;
            ra[j] += x * y;
            mx[j] = ad > mx[j] ? ad : mx[j];
        }
    for (unsigned j = 0; i < m; i++, j++) {
        double x = r[i], y = a[i], d = y - x, ad = fabs(d);
        rr[j] += x * x;
        aa[j] += y * y;
        dd[j] += d * d;
        ra[j] += x * y;
        mx[j] = ad > mx[j] ? ad : mx[j];
    }
    s->rr = lanes_total(rr);
    s->aa = lanes_total(aa);
    s->dd = lanes_total(dd);
    s->ra = lanes_total(ra);
    s->w = (double)m;
    s->max_abs = lanes_max(mx);
}

HOT_LOOP static void sums_weighted(block_sums *s, const float *restrict r, const float *restrict a,
                          const float *restrict wt, size_t m) {
    double rr[LANES] = { 0 }, aa[LANES] = { 0 }, dd[LANES] = { 0 }, ra[LANES] = { 0 },
           ws[LANES] = { 0 }, mx[LANES] = { 0 };
    size_t i = 0;
    for (; i + LANES <= m; i += LANES)
        for (unsigned j = 0; j < LANES; j++) {
            double x = r[i + j], y = a[i + j], w = wt[i + j], d = y - x, ad = fabs(d);
            rr[j] += w * (x * x);
            aa[j] += w * (y * y);
            dd[j] += w * (d * d);
            ra[j] += w * (x * y);
            ws[j] += w;
            mx[j] = ad > mx[j] ? ad : mx[j];
        }
    for (unsigned j = 0; i < m; i++, j++) {
        double x = r[i], y = a[i], w = wt[i], d = y - x, ad = fabs(d);
        rr[j] += w * (x * x);
        aa[j] += w * (y * y);
        dd[j] += w * (d * d);
        ra[j] += w * (x * y);
        ws[j] += w;
        mx[j] = ad > mx[j] ? ad : mx[j];
    }
    s->rr = lanes_total(rr);
    s->aa = lanes_total(aa);
    s->dd = lanes_total(dd);
    s->ra = lanes_total(ra);
    s->w = lanes_total(ws);
    s->max_abs = lanes_max(mx);
}

typedef struct totals {
    compensated rr, aa, dd, ra, w;
    double max_abs;
} totals;

static void add_block(totals *t, const block_sums *s) {
    add_compensated(&t->rr, s->rr);
    add_compensated(&t->aa, s->aa);
    add_compensated(&t->dd, s->dd);
    add_compensated(&t->ra, s->ra);
    add_compensated(&t->w, s->w);
    if (s->max_abs > t->max_abs) t->max_abs = s->max_abs;
}

static qtf_status report_non_finite(const float *ref, const float *approx, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        if (!isfinite(ref[i]))
            return qtf__error(QTF_E_NUMERIC, "metrics: reference element %llu is %g",
                              (unsigned long long)i, (double)ref[i]);
        if (!isfinite(approx[i]))
            return qtf__error(QTF_E_NUMERIC, "metrics: approximation element %llu is %g",
                              (unsigned long long)i, (double)approx[i]);
    }
    return qtf__error(QTF_E_NUMERIC, "metrics: sums are not finite");
}

qtf_status qtf_metrics_compute(qtf_metrics *out, const float *ref, const float *approx,
                               uint64_t n, const float *col_weights, uint64_t cols) {
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_metrics_compute: out is NULL");
    if (n && (!ref || !approx))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_metrics_compute: NULL input");
    if (col_weights) {
        if (cols == 0 || n % cols != 0)
            return qtf__error(QTF_E_INVALID_ARG,
                              "qtf_metrics_compute: %llu elements are not a whole number of "
                              "rows of %llu columns", (unsigned long long)n,
                              (unsigned long long)cols);
        for (uint64_t j = 0; j < cols; j++)
            if (!(col_weights[j] >= 0.0f) || isinf(col_weights[j]))
                return qtf__error(QTF_E_INVALID_ARG,
                                  "qtf_metrics_compute: column weight %llu is %g, expected a "
                                  "finite value >= 0", (unsigned long long)j,
                                  (double)col_weights[j]);
    }
    totals t;
    memset(&t, 0, sizeof t);
    block_sums s;
    if (!col_weights) {
        for (uint64_t i = 0; i < n; i += BLOCK) {
            size_t m = (size_t)(n - i < BLOCK ? n - i : BLOCK);
            sums_plain(&s, ref + i, approx + i, m);
            add_block(&t, &s);
        }
    } else {
        /* Blocks never straddle a row, so weights stay contiguous. */
        for (uint64_t row = 0; row < n; row += cols)
            for (uint64_t c = 0; c < cols; c += BLOCK) {
                size_t m = (size_t)(cols - c < BLOCK ? cols - c : BLOCK);
                sums_weighted(&s, ref + row + c, approx + row + c, col_weights + c, m);
                add_block(&t, &s);
            }
    }
    double rr = t.rr.sum + t.rr.c, aa = t.aa.sum + t.aa.c, dd = t.dd.sum + t.dd.c;
    double ra = t.ra.sum + t.ra.c, w = t.w.sum + t.w.c;
    /* Squares of finite floats cannot overflow a double sum of < 2^64 terms,
     * so a non-finite sum means a NaN or Inf input. */
    if (!isfinite(rr) || !isfinite(aa) || !isfinite(ra)) return report_non_finite(ref, approx, n);

    qtf_metrics m;
    m.n = n;
    m.mse = w > 0 ? dd / w : 0.0;
    m.max_abs_err = t.max_abs;
    if (rr > 0) {
        m.rel_rmse = sqrt(dd / rr);
        m.snr_db = dd > 0 ? 10.0 * log10(rr / dd) : INFINITY;
    } else {
        m.rel_rmse = dd > 0 ? INFINITY : 0.0;
        m.snr_db = dd > 0 ? -INFINITY : INFINITY;
    }
    if (rr > 0 && aa > 0) {
        double c = ra / (sqrt(rr) * sqrt(aa));
        m.cosine = c > 1.0 ? 1.0 : c < -1.0 ? -1.0 : c;
    } else {
        m.cosine = (rr == 0 && aa == 0) ? 1.0 : 0.0;
    }
    *out = m;
    qtf__error_clear();
    return QTF_OK;
}
