/* format/kmeans.c — 1-D weighted k-means: the exact dynamic programme, the
 * histogram-accelerated solver built on it, and nearest-entry lookup.
 *
 * Why a DP: in one dimension the optimal clusters are contiguous runs of the
 * sorted values, so the optimum is a shortest path over split points
 * (Bellman; Wang & Song's Ckmeans.1d.dp). The cost of a run satisfies the
 * quadrangle inequality, so the best split of a prefix moves right as the
 * prefix grows and each DP level can be solved by divide and conquer in
 * O(m log m). On large inputs the points are first binned into a weighted
 * two-level histogram (fine bins where an optimal quantizer puts its levels):
 * the DP on bins is the exact optimum among partitions whose boundaries fall
 * on bin edges, and a few Lloyd passes on the real values then move the
 * boundaries off the edges.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"

/* ---- exact DP ----------------------------------------------------------- */

typedef struct dp_level {
    const double *p0, *p1;  /* prefix sums of weight and centred weighted value */
    const double *prev;     /* best cost of j points in l-1 clusters */
    double *cur;            /* best cost of i points in l clusters */
    uint32_t *split;        /* start of the last cluster for cur[i] */
} dp_level;

/* Cost of the run [a, b) minus its (partition-independent) sum of w*x^2:
 * -S1^2/S0 with the values centred on the global mean. */
static inline double run_cost(const double *p0, const double *p1, uint64_t a, uint64_t b) {
    double s0 = p0[b] - p0[a];
    double s1 = p1[b] - p1[a];
    return s0 > 0.0 ? -(s1 * s1) / s0 : 0.0;
}

static void dp_solve(const dp_level *L, uint64_t lo, uint64_t hi, uint64_t optlo,
                     uint64_t opthi) {
    while (lo <= hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint64_t jhi = opthi < mid - 1 ? opthi : mid - 1;
        double best = INFINITY;
        uint64_t bj = optlo;
        for (uint64_t j = optlo; j <= jhi; j++) {
            double c = L->prev[j] + run_cost(L->p0, L->p1, j, mid);
            if (c < best) {
                best = c;
                bj = j;
            }
        }
        L->cur[mid] = best;
        L->split[mid] = (uint32_t)bj;
        /* left half recursively, right half by iteration: depth O(log m) */
        if (mid > lo) dp_solve(L, lo, mid - 1, optlo, bj);
        lo = mid + 1;
        optlo = bj;
    }
}

/* Core of the DP. ends[c] (optional, k entries) receives the exclusive end
 * point index of cluster c. Returns clusters used, 0 on allocation failure. */
static uint32_t dp_core(double *centers, uint64_t *ends, uint32_t k, const double *w,
                        const double *wv, uint64_t m) {
    if (m == 0 || k == 0) {
        for (uint32_t c = 0; c < k; c++) centers[c] = 0.0;
        return k == 0 ? 0 : 1;
    }
    if (m >= UINT32_MAX) {
        qtf__error(QTF_E_LIMIT, "k-means: %llu points exceed the DP limit",
                   (unsigned long long)m);
        return 0;
    }
    uint32_t kk = (uint64_t)k < m ? k : (uint32_t)m;
    double *p0 = qtf__malloc((size_t)(m + 1) * sizeof *p0);
    double *p1 = qtf__malloc((size_t)(m + 1) * sizeof *p1);
    double *prev = qtf__malloc((size_t)(m + 1) * sizeof *prev);
    double *cur = qtf__malloc((size_t)(m + 1) * sizeof *cur);
    uint32_t *split = kk > 1 ? qtf__malloc((size_t)(kk - 1) * (size_t)(m + 1) * sizeof *split)
                             : NULL;
    if (!p0 || !p1 || !prev || !cur || (kk > 1 && !split)) {
        free(p0); free(p1); free(prev); free(cur); free(split);
        qtf__error(QTF_E_NOMEM, "k-means: no memory for a DP over %llu points",
                   (unsigned long long)m);
        return 0;
    }
    double tw = 0.0, twv = 0.0;
    for (uint64_t i = 0; i < m; i++) {
        tw += w[i];
        twv += wv[i];
    }
    /* centring keeps -S1^2/S0 small, so that the double sums keep precision */
    double mu = tw > 0.0 ? twv / tw : 0.0;
    p0[0] = 0.0;
    p1[0] = 0.0;
    for (uint64_t i = 0; i < m; i++) {
        p0[i + 1] = p0[i] + w[i];
        p1[i + 1] = p1[i] + (wv[i] - w[i] * mu);
    }
    prev[0] = 0.0;
    for (uint64_t i = 1; i <= m; i++) prev[i] = run_cost(p0, p1, 0, i);
    for (uint32_t l = 2; l <= kk; l++) {
        dp_level L = { p0, p1, prev, cur, split + (size_t)(l - 2) * (size_t)(m + 1) };
        /* only the full prefix matters on the last level */
        uint64_t lo = l == kk ? m : l;
        dp_solve(&L, lo, m, l - 1, m - 1);
        double *t = prev;
        prev = cur;
        cur = t;
    }
    uint64_t end = m;
    for (uint32_t l = kk; l >= 1; l--) {
        uint64_t start = l == 1 ? 0 : split[(size_t)(l - 2) * (size_t)(m + 1) + end];
        /* the mean from the raw sums: exact for a run of equal values */
        double s0 = 0.0, s1 = 0.0;
        for (uint64_t i = start; i < end; i++) {
            s0 += w[i];
            s1 += wv[i];
        }
        centers[l - 1] = s0 > 0.0 ? s1 / s0 : mu;
        if (ends) ends[l - 1] = end;
        end = start;
    }
    for (uint32_t c = kk; c < k; c++) {
        centers[c] = centers[kk - 1];
        if (ends) ends[c] = m;
    }
    free(p0); free(p1); free(prev); free(cur); free(split);
    return kk;
}

uint32_t qtf__kmeans1d_dp(double *centers, uint32_t k, const double *w, const double *wv,
                          uint64_t m) {
    return dp_core(centers, NULL, k, w, wv, m);
}

typedef struct wpoint {
    float v, w;
} wpoint;

static int wpoint_cmp(const void *a, const void *b) {
    const wpoint *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    return 0;
}

static int all_weights_zero(const float *w, uint64_t n) {
    if (!w) return 0;
    for (uint64_t i = 0; i < n; i++)
        if (w[i] != 0.0f) return 0;
    return 1;
}

qtf_status qtf__kmeans1d_exact(float *centers, double *cost, uint32_t k, const float *v,
                               const float *w, uint64_t n) {
    if (k == 0 || k > QTF__KMEANS_MAX_K)
        return qtf__error(QTF_E_INVALID_ARG, "k-means: k = %u outside 1..%u", k,
                          QTF__KMEANS_MAX_K);
    if (all_weights_zero(w, n)) w = NULL;
    if (n > SIZE_MAX / sizeof(wpoint))
        return qtf__error(QTF_E_NOMEM, "k-means: %llu points", (unsigned long long)n);
    wpoint *pts = qtf__malloc(n ? (size_t)n * sizeof *pts : 1);
    double *pw = qtf__malloc(n ? (size_t)n * sizeof *pw : 1);
    double *pwv = qtf__malloc(n ? (size_t)n * sizeof *pwv : 1);
    double *dc = qtf__malloc((size_t)k * sizeof *dc);
    uint64_t *ends = qtf__malloc((size_t)k * sizeof *ends);
    if (!pts || !pw || !pwv || !dc || !ends) {
        free(pts); free(pw); free(pwv); free(dc); free(ends);
        return qtf__error(QTF_E_NOMEM, "k-means: no memory for %llu points",
                          (unsigned long long)n);
    }
    uint64_t np = 0;
    for (uint64_t i = 0; i < n; i++) {
        float wi = w ? w[i] : 1.0f;
        if (wi > 0.0f) pts[np++] = (wpoint){ v[i], wi };
    }
    qsort(pts, (size_t)np, sizeof *pts, wpoint_cmp);
    uint64_t m = 0;
    for (uint64_t i = 0; i < np; i++) {
        if (m > 0 && pts[i].v == pts[m - 1].v) {
            pw[m - 1] += pts[i].w;
            pwv[m - 1] += (double)pts[i].w * pts[i].v;
        } else {
            pts[m] = pts[i];
            pw[m] = pts[i].w;
            pwv[m] = (double)pts[i].w * pts[i].v;
            m++;
        }
    }
    qtf_status st = QTF_OK;
    if (dp_core(dc, ends, k, pw, pwv, m) == 0) {
        st = QTF_E_NOMEM;
    } else {
        double total = 0.0;
        uint64_t start = 0;
        for (uint32_t c = 0; c < k; c++) {
            for (uint64_t i = start; i < ends[c]; i++) {
                double d = (double)pts[i].v - dc[c];
                total += pw[i] * d * d;
            }
            if (ends[c] > start) start = ends[c];
            centers[c] = (float)dc[c];
        }
        if (cost) *cost = total;
    }
    free(pts); free(pw); free(pwv); free(dc); free(ends);
    return st;
}

/* ---- nearest entry ------------------------------------------------------ */

void qtf__nearest_init(qtf__nearest *nr, const float *centers, uint32_t k) {
    nr->k = k;
    nr->lo = 0.0f;
    nr->inv = 0.0f;
    memset(nr->start, 0, sizeof nr->start);
    if (k <= 1) return;
    for (uint32_t i = 0; i + 1 < k; i++)
        nr->mid[i] = 0.5f * centers[i] + 0.5f * centers[i + 1];
    float lo = nr->mid[0], hi = nr->mid[k - 2];
    float inv = (float)(QTF__NEAREST_BINS - 1) / (hi - lo);
    if (!(hi > lo) || !isfinite(inv)) return; /* start hints 0: exact scan */
    nr->lo = lo;
    nr->inv = inv;
    uint32_t i = 0;
    for (uint32_t b = 0; b < QTF__NEAREST_BINS; b++) {
        float edge = lo + (float)b / inv;
        while (i < k - 1 && nr->mid[i] < edge) i++;
        nr->start[b] = (uint8_t)(i > 255 ? 255 : i);
    }
}

/* ---- production solver -------------------------------------------------- */

double qtf__kmeans1d_cost(const float *centers, uint32_t k, const float *v, const float *w,
                          uint64_t n) {
    qtf__nearest nr;
    qtf__nearest_init(&nr, centers, k);
    if (all_weights_zero(w, n)) w = NULL;
    double total = 0.0;
    for (uint64_t i = 0; i < n; i++) {
        double d = (double)v[i] - centers[qtf__nearest_find(&nr, v[i])];
        total += (w ? w[i] : 1.0) * d * d;
    }
    return total;
}

static void sort_floats(float *c, uint32_t k) {
    for (uint32_t i = 1; i < k; i++) {
        float x = c[i];
        uint32_t j = i;
        while (j > 0 && c[j - 1] > x) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = x;
    }
}

/* Weighted Lloyd passes on the real points, at most `passes`, stopping when
 * no centre moves. s0/s1/s2 keep the weight, sum and sum of squares of each
 * cluster of the last assignment; centres stay sorted. */
static void lloyd(float *centers, uint32_t k, const float *v, const float *w, uint64_t n,
                  uint32_t passes, double *s0, double *s1, double *s2) {
    qtf__nearest nr;
    memset(s0, 0, (size_t)k * sizeof *s0);
    memset(s1, 0, (size_t)k * sizeof *s1);
    memset(s2, 0, (size_t)k * sizeof *s2);
    for (uint32_t pass = 0; pass < passes; pass++) {
        qtf__nearest_init(&nr, centers, k);
        memset(s0, 0, (size_t)k * sizeof *s0);
        memset(s1, 0, (size_t)k * sizeof *s1);
        memset(s2, 0, (size_t)k * sizeof *s2);
        if (w) {
            for (uint64_t i = 0; i < n; i++) {
                if (!(w[i] > 0.0f)) continue;
                uint32_t j = qtf__nearest_find(&nr, v[i]);
                double wv = (double)w[i] * v[i];
                s0[j] += w[i];
                s1[j] += wv;
                s2[j] += wv * v[i];
            }
        } else {
            for (uint64_t i = 0; i < n; i++) {
                uint32_t j = qtf__nearest_find(&nr, v[i]);
                s0[j] += 1.0;
                s1[j] += v[i];
                s2[j] += (double)v[i] * v[i];
            }
        }
        int moved = 0;
        for (uint32_t j = 0; j < k; j++) {
            if (!(s0[j] > 0.0)) continue; /* empty: keep its centre */
            float c = (float)(s1[j] / s0[j]);
            if (c != centers[j]) {
                centers[j] = c;
                moved = 1;
            }
        }
        sort_floats(centers, k);
        if (!moved) break;
    }
}

/* Bins: 32 or more per cluster, at least n/32, at most 16384, and fewer when
 * the O(k B log B) DP would cost more than ~512 evaluations per point (large
 * k on small tables). Measured on normal, Student-t and log-normal data
 * (kmeans tests, bench/RESULTS-pal.md): within 0.01% of the optimum. */
static uint32_t default_bins(uint64_t n, uint32_t k) {
    uint64_t b = n / 32;
    if (b < 32ull * k) b = 32ull * k;
    if (b > 16384) b = 16384;
    if (b < 256) b = 256;
    while (b > 256) {
        unsigned lg = 0;
        while ((1ull << lg) < b) lg++;
        if ((uint64_t)k * b * lg <= 512 * n) break;
        b /= 2;
    }
    return (uint32_t)b;
}

qtf_status qtf__kmeans1d(float *centers, uint32_t k, const float *v, const float *w,
                         uint64_t n, const qtf__kmeans1d_opts *opts) {
    static const qtf__kmeans1d_opts defaults = QTF__KMEANS1D_OPTS_DEFAULT;
    if (!opts) opts = &defaults;
    if (k == 0 || k > QTF__KMEANS_MAX_K)
        return qtf__error(QTF_E_INVALID_ARG, "k-means: k = %u outside 1..%u", k,
                          QTF__KMEANS_MAX_K);
    if (all_weights_zero(w, n)) w = NULL;
    if (n <= opts->exact_max_n) return qtf__kmeans1d_exact(centers, NULL, k, v, w, n);

    float vmin = INFINITY, vmax = -INFINITY;
    for (uint64_t i = 0; i < n; i++) {
        if (w && !(w[i] > 0.0f)) continue;
        if (v[i] < vmin) vmin = v[i];
        if (v[i] > vmax) vmax = v[i];
    }
    if (!(vmin < vmax)) { /* one distinct value (or none) */
        float c = vmin <= vmax ? vmin : 0.0f;
        for (uint32_t j = 0; j < k; j++) centers[j] = c;
        return QTF_OK;
    }
    /* as many coarse bins as fine bins wanted: occupied coarse bins get at
     * least one fine bin each, so the DP sees between want and ~2 want points */
    const uint32_t want = opts->bins ? opts->bins : default_bins(n, k);
    const uint32_t nc = want;
    double *hw = NULL, *hwv = NULL;
    double *cw = qtf__calloc(nc, sizeof *cw);
    uint32_t *base = qtf__malloc((size_t)nc * sizeof *base);
    uint32_t *span = qtf__malloc((size_t)nc * sizeof *span);
    double *dc = qtf__malloc((size_t)k * sizeof *dc);
    double *s0 = qtf__malloc((size_t)k * sizeof *s0);
    double *s1 = qtf__malloc((size_t)k * sizeof *s1);
    double *s2 = qtf__malloc((size_t)k * sizeof *s2);
    qtf_status st = QTF_OK;
    if (!cw || !base || !span || !dc || !s0 || !s1 || !s2) {
        st = qtf__error(QTF_E_NOMEM, "k-means: no memory for %u bins", want);
        goto done;
    }
    /* Pass 1: coarse equal-width histogram of the weight. Pass 2: each
     * occupied coarse bin is split into equal-width fine bins, as many as its
     * share of the cumulative cube root of the coarse weights (an optimal
     * quantizer's levels have density p^(1/3)), and at least one. Fine bins
     * therefore go where clusters are narrow, and never straddle two coarse
     * bins, so that two far-apart points across an empty stretch stay apart. */
    const double dmin = vmin;
    const double cscale = (double)nc / ((double)vmax - (double)vmin);
    for (uint64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (!(wi > 0.0)) continue;
        double t = ((double)v[i] - dmin) * cscale;
        uint32_t b = t >= (double)(nc - 1) ? nc - 1 : (uint32_t)t;
        cw[b] += wi;
    }
    double croot = 0.0;
    for (uint32_t b = 0; b < nc; b++) croot += cbrt(cw[b]);
    uint32_t nb = 0;
    for (uint32_t b = 0; b < nc; b++) {
        double share = cbrt(cw[b]) / croot * (double)want + 0.5;
        uint32_t sb = cw[b] > 0.0 ? (share < 1.0 ? 1u : share > 65536.0 ? 65536u : (uint32_t)share)
                                  : 0u;
        base[b] = nb;
        span[b] = sb;
        nb += sb; /* <= want + nc / 2 + nc */
    }
    hw = qtf__calloc(nb, sizeof *hw);
    hwv = qtf__calloc(nb, sizeof *hwv);
    if (!hw || !hwv) {
        st = qtf__error(QTF_E_NOMEM, "k-means: no memory for %u bins", nb);
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (!(wi > 0.0)) continue;
        double t = ((double)v[i] - dmin) * cscale;
        uint32_t b = t >= (double)(nc - 1) ? nc - 1 : (uint32_t)t;
        double g = (t - (double)b) * span[b];
        uint32_t fb = g >= (double)(span[b] - 1) ? span[b] - 1 : (uint32_t)g;
        hw[base[b] + fb] += wi;
        hwv[base[b] + fb] += wi * v[i];
    }
    uint32_t m = 0;
    for (uint32_t b = 0; b < nb; b++) {
        if (hw[b] > 0.0) {
            hw[m] = hw[b];
            hwv[m] = hwv[b];
            m++;
        }
    }
    uint32_t used = dp_core(dc, NULL, k, hw, hwv, m);
    if (used == 0) {
        st = QTF_E_NOMEM;
        goto done;
    }
    for (uint32_t j = 0; j < k; j++) centers[j] = (float)dc[j];
    lloyd(centers, k, v, w, n, opts->lloyd_max, s0, s1, s2);
    /* Fewer distinct centres than k while a cluster still has an error: the
     * data spans far more than the bins resolve (a dense core next to a huge
     * outlier). Split the cluster with the largest error around its mean
     * into a spare (duplicate) entry, and let Lloyd settle; repeat. */
    for (uint32_t round = 0; round < k; round++) {
        uint32_t spare = k;
        for (uint32_t j = 1; j < k && spare == k; j++)
            if (centers[j] == centers[j - 1]) spare = j;
        if (spare == k) break;
        uint32_t worst = k;
        double worst_sse = 0.0;
        for (uint32_t j = 0; j < k; j++) {
            if (!(s0[j] > 0.0)) continue;
            double sse = s2[j] - s1[j] * s1[j] / s0[j];
            if (sse > worst_sse * (1.0 + 1e-12) && sse > 1e-12 * s2[j]) {
                worst_sse = sse;
                worst = j;
            }
        }
        if (worst == k) break;
        double mean = s1[worst] / s0[worst], sd = sqrt(worst_sse / s0[worst]);
        float lo = (float)(mean - 0.5 * sd), hi = (float)(mean + 0.5 * sd);
        if (!(lo < hi)) break;
        centers[worst] = lo;
        centers[spare] = hi;
        sort_floats(centers, k);
        lloyd(centers, k, v, w, n, opts->lloyd_max > 2 ? opts->lloyd_max : 2, s0, s1, s2);
    }
done:
    free(hw); free(hwv); free(cw); free(base); free(span); free(dc); free(s0); free(s1); free(s2);
    return st;
}
