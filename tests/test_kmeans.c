/* tests/test_kmeans.c — 1-D and vector k-means of the palettized family.
 * The oracle is the exact DP (qtf__kmeans1d_exact), itself checked against
 * brute-force enumeration of all contiguous partitions and a plain O(k n^2)
 * DP. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/kmeans.h"
#include <stdint.h>
#include "support/rng.h"

/* ---- data --------------------------------------------------------------- */

static double t4rand(void) { /* Student-t(4), unit variance */
    double z = nrand(), c = 0.0;
    for (int i = 0; i < 4; i++) {
        double g = nrand();
        c += g * g;
    }
    return z / sqrt(c / 4.0) / sqrt(2.0);
}

enum { D_NORMAL, D_T4, D_UNIFORM, D_BLOBS, D_FEWVALS, D_DUPS, D_SKEWED, D_KINDS };

static void fill(float *v, uint64_t n, int kind) {
    for (uint64_t i = 0; i < n; i++) {
        switch (kind) {
        case D_NORMAL: v[i] = (float)nrand(); break;
        case D_T4: v[i] = (float)t4rand(); break;
        case D_UNIFORM: v[i] = (float)(urand() * 2 - 1); break;
        case D_BLOBS: v[i] = (float)(10.0 * (qtf__splitmix64(&rng_state) % 5) + 0.1 * nrand()); break;
        case D_FEWVALS: v[i] = (float)(qtf__splitmix64(&rng_state) % 5) * 0.25f; break;
        case D_DUPS: v[i] = (float)(int)(nrand() * 4) / 4.0f; break;
        default: v[i] = (float)exp(2.0 * nrand()); break; /* log-normal, skewed */
        }
    }
}

/* ---- reference solvers -------------------------------------------------- */

static double seg_cost(const double *xs, const double *ws, int a, int b) {
    double s0 = 0, s1 = 0;
    for (int i = a; i < b; i++) {
        s0 += ws[i];
        s1 += ws[i] * xs[i];
    }
    double mu = s1 / s0, c = 0;
    for (int i = a; i < b; i++) c += ws[i] * (xs[i] - mu) * (xs[i] - mu);
    return c;
}

/* all ways to cut sorted points [start, n) into `left` non-empty runs */
static double brute(const double *xs, const double *ws, int start, int n, int left) {
    if (left == 1) return seg_cost(xs, ws, start, n);
    double best = INFINITY;
    for (int cut = start + 1; cut <= n - left + 1; cut++) {
        double c = seg_cost(xs, ws, start, cut) + brute(xs, ws, cut, n, left - 1);
        if (c < best) best = c;
    }
    return best;
}

/* plain DP, O(k n^2), on sorted distinct points */
static double plain_dp(const double *xs, const double *ws, int n, int k) {
    if (k > n) k = n;
    double *d = malloc(sizeof(double) * (size_t)(n + 1) * (size_t)(k + 1));
#define D(l, i) d[(size_t)(l) * (size_t)(n + 1) + (size_t)(i)]
    for (int i = 1; i <= n; i++) D(1, i) = seg_cost(xs, ws, 0, i);
    for (int l = 2; l <= k; l++)
        for (int i = l; i <= n; i++) {
            double best = INFINITY;
            for (int j = l - 1; j < i; j++) {
                double c = D(l - 1, j) + seg_cost(xs, ws, j, i);
                if (c < best) best = c;
            }
            D(l, i) = best;
        }
    double r = D(k, n);
#undef D
    free(d);
    return r;
}

/* sorts (v, w) pairs, merges equal values (what the exact solver does) */
static int merge_points(double *xs, double *ws, const float *v, const float *w, int n) {
    int *ord = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) ord[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort: tests only */
        for (int j = i; j > 0 && v[ord[j - 1]] > v[ord[j]]; j--) {
            int t = ord[j]; ord[j] = ord[j - 1]; ord[j - 1] = t;
        }
    int m = 0;
    for (int i = 0; i < n; i++) {
        double wi = w ? w[ord[i]] : 1.0;
        if (m && xs[m - 1] == v[ord[i]]) ws[m - 1] += wi;
        else { xs[m] = v[ord[i]]; ws[m] = wi; m++; }
    }
    free(ord);
    return m;
}

static void assert_close(double got, double want, double rel, const char *what) {
    cr_assert(got <= want * (1.0 + rel) + 1e-9 && got >= want * (1.0 - 1e-9) - 1e-9,
              "%s: got %.12g, optimum %.12g", what, got, want);
}

/* ---- exact DP ----------------------------------------------------------- */

Test(kmeans_dp, matches_brute_force_on_tiny_inputs) {
    rng_state = 1;
    for (int trial = 0; trial < 300; trial++) {
        int n = 1 + trial % 10;
        float v[10], w[10];
        for (int i = 0; i < n; i++) {
            v[i] = (float)(int)(urand() * 8) * 0.5f; /* duplicates on purpose */
            w[i] = (float)(0.25 + urand() * 4);
        }
        double xs[10], ws[10];
        int m = merge_points(xs, ws, v, w, n);
        for (uint32_t k = 1; k <= (uint32_t)n; k++) {
            float c[10];
            double cost;
            cr_assert_eq(qtf__kmeans1d_exact(c, &cost, k, v, w, (uint64_t)n), QTF_OK);
            int kk = (int)k < m ? (int)k : m;
            double want = brute(xs, ws, 0, m, kk);
            assert_close(cost, want, 1e-9, "exact vs brute force");
            for (uint32_t i = 1; i < k; i++) cr_assert_leq(c[i - 1], c[i]);
        }
    }
}

Test(kmeans_dp, divide_and_conquer_matches_plain_dp) {
    rng_state = 2;
    for (int trial = 0; trial < 60; trial++) {
        int n = 20 + trial * 3;
        float *v = malloc(sizeof(float) * (size_t)n), *w = malloc(sizeof(float) * (size_t)n);
        fill(v, (uint64_t)n, trial % D_KINDS);
        for (int i = 0; i < n; i++) w[i] = (float)(trial % 2 ? urand() * 3 : 1.0);
        double *xs = malloc(sizeof(double) * (size_t)n), *ws = malloc(sizeof(double) * (size_t)n);
        int m = merge_points(xs, ws, v, w, n);
        uint32_t ks[] = { 2, 3, 4, 8, 16 };
        for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
            float c[16];
            double cost;
            cr_assert_eq(qtf__kmeans1d_exact(c, &cost, ks[q], v, w, (uint64_t)n), QTF_OK);
            assert_close(cost, plain_dp(xs, ws, m, (int)ks[q]), 1e-9, "D&C vs plain DP");
        }
        free(v); free(w); free(xs); free(ws);
    }
}

Test(kmeans_dp, fewer_distinct_values_than_k) {
    const float v[] = { 3, 1, 2, 2, 3, 1, 1 };
    float c[8];
    double cost;
    cr_assert_eq(qtf__kmeans1d_exact(c, &cost, 8, v, NULL, 7), QTF_OK);
    cr_assert_eq(cost, 0.0);
    const float want[8] = { 1, 2, 3, 3, 3, 3, 3, 3 }; /* unused entries repeat the largest */
    for (int i = 0; i < 8; i++) cr_assert_eq(c[i], want[i], "entry %d: %g", i, c[i]);
    /* production path agrees, including the histogram path */
    qtf__kmeans1d_opts o = { 0, 64, 4 };
    cr_assert_eq(qtf__kmeans1d(c, 8, v, NULL, 7, &o), QTF_OK);
    for (int i = 0; i < 8; i++) cr_assert_eq(c[i], want[i], "histogram entry %d: %g", i, c[i]);
}

Test(kmeans_dp, hand_computed_two_clusters) {
    const float v[] = { 0, 1, 2, 3, 10, 11, 12, 13 };
    float c[2];
    double cost;
    cr_assert_eq(qtf__kmeans1d_exact(c, &cost, 2, v, NULL, 8), QTF_OK);
    cr_assert_eq(c[0], 1.5f);
    cr_assert_eq(c[1], 11.5f);
    cr_assert_float_eq(cost, 10.0, 1e-12); /* 2 * (2.25 + 0.25) * 2 */
    /* weights pull the centre: {0 (w 3), 4 (w 1)} in one cluster -> 1 */
    const float v2[] = { 0, 4, 100 }, w2[] = { 3, 1, 1 };
    cr_assert_eq(qtf__kmeans1d_exact(c, &cost, 2, v2, w2, 3), QTF_OK);
    cr_assert_eq(c[0], 1.0f);
    cr_assert_eq(c[1], 100.0f);
    cr_assert_float_eq(cost, 3.0 * 1 + 1.0 * 9, 1e-12);
}

Test(kmeans_dp, zero_weights_ignored_all_zero_means_uniform) {
    const float v[] = { 0, 1, 50, 2 }, w[] = { 1, 1, 0, 1 };
    float c[1];
    cr_assert_eq(qtf__kmeans1d_exact(c, NULL, 1, v, w, 4), QTF_OK);
    cr_assert_eq(c[0], 1.0f);
    const float z[] = { 0, 0, 0, 0 };
    cr_assert_eq(qtf__kmeans1d_exact(c, NULL, 1, v, z, 4), QTF_OK);
    cr_assert_eq(c[0], 53.0f / 4);
}

/* ---- production solver against the oracle ------------------------------- */

static void check_against_oracle(int kind, uint64_t n, uint32_t k, int weighted,
                                 const qtf__kmeans1d_opts *o, double tol) {
    float *v = malloc(sizeof(float) * n), *w = weighted ? malloc(sizeof(float) * n) : NULL;
    fill(v, n, kind);
    /* weighted 1: heavy-tailed importance with zeros; 2: mild */
    if (w)
        for (uint64_t i = 0; i < n; i++)
            w[i] = weighted == 2 ? (float)(0.5 + urand())
                                 : (float)(i % 7 == 0 ? 0.0 : urand() * urand() * 10);
    float c[256], co[256];
    double opt;
    cr_assert_eq(qtf__kmeans1d_exact(co, &opt, k, v, w, n), QTF_OK);
    cr_assert_eq(qtf__kmeans1d(c, k, v, w, n, o), QTF_OK);
    for (uint32_t i = 1; i < k; i++) cr_assert_leq(c[i - 1], c[i]);
    double got = qtf__kmeans1d_cost(c, k, v, w, n);
    cr_assert(got <= opt * (1.0 + tol) + 1e-6 * (opt + 1e-3),
              "kind %d n %llu k %u weighted %d bins %u: cost %.9g vs optimum %.9g (+%.3f%%)",
              kind, (unsigned long long)n, k, weighted, o ? o->bins : 0, got, opt,
              100.0 * (got / opt - 1.0));
    free(v);
    free(w);
}

Test(kmeans_1d, histogram_path_within_half_percent_small_inputs) {
    rng_state = 3;
    const uint32_t ks[] = { 2, 4, 8, 16, 64 };
    for (int kind = 0; kind < D_KINDS; kind++)
        for (size_t q = 0; q < 5; q++)
            for (int b = 0; b < 2; b++)
                for (int weighted = 0; weighted < 2; weighted++) {
                    uint64_t n = 200 + (uint64_t)(kind * 257 + q * 131 + (size_t)b * 97) % 1800;
                    /* force the histogram path with as many and twice as many bins as points */
                    uint32_t nb = (uint32_t)(b ? 2 * n : n);
                    if (nb < 16 * ks[q]) nb = 16 * ks[q];
                    qtf__kmeans1d_opts o = { 0, nb, 4 };
                    check_against_oracle(kind, n, ks[q], weighted, &o, 0.005);
                }
}

Test(kmeans_1d, default_path_within_half_percent_large_inputs) {
    rng_state = 4;
    for (int kind = 0; kind < D_KINDS; kind++) {
        check_against_oracle(kind, 60000, 16, 0, NULL, 0.005);
        check_against_oracle(kind, 32768, 16, 2, NULL, 0.005);
        check_against_oracle(kind, 30000, 4, 0, NULL, 0.005);
        /* heavy-tailed random importance: boundaries between heavy points
         * that share a bin are the limit; measured worst case below 1% */
        check_against_oracle(kind, 60000, 16, 1, NULL, 0.01);
    }
    check_against_oracle(D_T4, 120000, 256, 0, NULL, 0.005);
    check_against_oracle(D_NORMAL, 50000, 8, 2, NULL, 0.005);
}

Test(kmeans_1d, adversarial_ties_and_outliers) {
    /* exact ties between two clusters, a lone far outlier, and constant data */
    float v[3000];
    for (int i = 0; i < 3000; i++) v[i] = (float)(i % 3) - 1.0f;
    v[1234] = 1e6f;
    qtf__kmeans1d_opts o = { 0, 0, 4 };
    float c[4], co[4];
    double opt;
    cr_assert_eq(qtf__kmeans1d_exact(co, &opt, 4, v, NULL, 3000), QTF_OK);
    cr_assert_leq(opt, 1e-9);
    cr_assert_eq(qtf__kmeans1d(c, 4, v, NULL, 3000, &o), QTF_OK);
    cr_assert_leq(qtf__kmeans1d_cost(c, 4, v, NULL, 3000), 1e-3,
                  "centres %g %g %g %g", c[0], c[1], c[2], c[3]);
    for (int i = 0; i < 3000; i++) v[i] = 0.75f;
    cr_assert_eq(qtf__kmeans1d(c, 4, v, NULL, 3000, &o), QTF_OK);
    for (int i = 0; i < 4; i++) cr_assert_eq(c[i], 0.75f);
}

Test(kmeans_1d, weights_pull_centres_toward_heavy_points) {
    rng_state = 5;
    enum { N = 20000 };
    float *v = malloc(sizeof(float) * N), *w = malloc(sizeof(float) * N);
    fill(v, N, D_NORMAL);
    for (int i = 0; i < N; i++) w[i] = v[i] > 1.0f ? 50.0f : 1.0f;
    float cu[4], cw[4];
    cr_assert_eq(qtf__kmeans1d(cu, 4, v, NULL, N, NULL), QTF_OK);
    cr_assert_eq(qtf__kmeans1d(cw, 4, v, w, N, NULL), QTF_OK);
    /* more entries above 1 when those points weigh more */
    int au = 0, aw = 0;
    for (int i = 0; i < 4; i++) {
        au += cu[i] > 1.0f;
        aw += cw[i] > 1.0f;
    }
    cr_assert_gt(aw, au);
    cr_assert_lt(qtf__kmeans1d_cost(cw, 4, v, w, N), qtf__kmeans1d_cost(cu, 4, v, w, N));
    free(v);
    free(w);
}

Test(kmeans_1d, nearest_matches_brute_force_with_ties) {
    rng_state = 6;
    for (int trial = 0; trial < 200; trial++) {
        uint32_t k = 1u + (uint32_t)(qtf__splitmix64(&rng_state) % 256);
        float c[256];
        for (uint32_t i = 0; i < k; i++) c[i] = (float)(int)(nrand() * 8) / 4.0f; /* dups */
        for (uint32_t i = 1; i < k; i++) /* sort */
            for (uint32_t j = i; j > 0 && c[j - 1] > c[j]; j--) {
                float t = c[j]; c[j] = c[j - 1]; c[j - 1] = t;
            }
        qtf__nearest nr;
        qtf__nearest_init(&nr, c, k);
        for (int q = 0; q < 300; q++) {
            float x = q % 3 == 0 ? c[qtf__splitmix64(&rng_state) % k] : (float)(nrand() * 3);
            if (q % 5 == 0 && k > 1) { /* exact midpoints */
                uint32_t i = (uint32_t)(qtf__splitmix64(&rng_state) % (k - 1));
                x = 0.5f * c[i] + 0.5f * c[i + 1];
            }
            uint32_t got = qtf__nearest_find(&nr, x);
            /* brute force with the documented rule: lowest index among the
             * entries at the smallest distance, midpoint ties to the lower */
            uint32_t want = 0;
            for (uint32_t i = 0; i + 1 < k; i++)
                if (0.5f * c[i] + 0.5f * c[i + 1] < x) want = i + 1;
            cr_assert_eq(got, want, "k %u x %g: got %u want %u", k, x, got, want);
            float dg = fabsf(x - c[got]);
            for (uint32_t i = 0; i < k; i++) cr_assert_leq(dg, fabsf(x - c[i]) * (1 + 1e-6f) + 1e-6f);
        }
    }
}

Test(kmeans_1d, deterministic_and_input_order_free_on_exact_path) {
    rng_state = 7;
    float v[1000], r[1000], c1[16], c2[16];
    fill(v, 1000, D_T4);
    for (int i = 0; i < 1000; i++) r[i] = v[999 - i];
    cr_assert_eq(qtf__kmeans1d(c1, 16, v, NULL, 1000, NULL), QTF_OK);
    cr_assert_eq(qtf__kmeans1d(c2, 16, r, NULL, 1000, NULL), QTF_OK);
    cr_assert_eq(memcmp(c1, c2, sizeof c1), 0);
}

/* ---- vector k-means ----------------------------------------------------- */

Test(kmeans_vec, recovers_separated_blobs) {
    rng_state = 8;
    enum { N = 4000 };
    static float v[N * 2];
    const float blob[4][2] = { { -5, -5 }, { -5, 5 }, { 5, -5 }, { 5, 5 } };
    for (int i = 0; i < N; i++) {
        int b = i % 4;
        v[2 * i] = blob[b][0] + 0.1f * (float)nrand();
        v[2 * i + 1] = blob[b][1] + 0.1f * (float)nrand();
    }
    float c[8];
    cr_assert_eq(qtf__kmeans_vec(c, 4, 2, v, NULL, N, 50), QTF_OK);
    for (int b = 0; b < 4; b++) {
        uint32_t j = qtf__kmeans_vec_nearest(c, 4, 2, blob[b], NULL);
        cr_assert_lt(fabsf(c[2 * j] - blob[b][0]) + fabsf(c[2 * j + 1] - blob[b][1]), 0.05f);
    }
    float c2[8];
    cr_assert_eq(qtf__kmeans_vec(c2, 4, 2, v, NULL, N, 50), QTF_OK);
    cr_assert_eq(memcmp(c, c2, sizeof c), 0);
}

Test(kmeans_vec, near_the_1d_optimum_on_a_line) {
    /* points (x, x): the 2-D problem is the 1-D one with twice the error */
    rng_state = 9;
    enum { N = 3000 };
    static float v[N * 2], x[N];
    fill(x, N, D_NORMAL);
    for (int i = 0; i < N; i++) v[2 * i] = v[2 * i + 1] = x[i];
    float c[32], c1[16];
    double opt;
    cr_assert_eq(qtf__kmeans1d_exact(c1, &opt, 16, x, NULL, N), QTF_OK);
    cr_assert_eq(qtf__kmeans_vec(c, 16, 2, v, NULL, N, 100), QTF_OK);
    double cost = 0;
    for (int i = 0; i < N; i++) {
        uint32_t j = qtf__kmeans_vec_nearest(c, 16, 2, v + 2 * i, NULL);
        cost += pow(v[2 * i] - c[2 * j], 2) + pow(v[2 * i + 1] - c[2 * j + 1], 2);
    }
    cr_assert_lt(cost, 2 * opt * 1.10, "vector %g vs 2 x 1-D optimum %g", cost, 2 * opt);
}

Test(kmeans_vec, fewer_points_than_k_and_weights) {
    const float v[] = { 1, 2, 3, 4, 1, 2 };
    float c[8 * 2];
    cr_assert_eq(qtf__kmeans_vec(c, 8, 2, v, NULL, 3, 10), QTF_OK);
    /* both distinct points are entries; the error is zero */
    for (int i = 0; i < 3; i++) {
        uint32_t j = qtf__kmeans_vec_nearest(c, 8, 2, v + 2 * i, NULL);
        cr_assert_eq(c[2 * j], v[2 * i]);
        cr_assert_eq(c[2 * j + 1], v[2 * i + 1]);
    }
    /* one cluster: per-component weighted means */
    const float w[] = { 3, 1, 1, 3, 0, 0 };
    cr_assert_eq(qtf__kmeans_vec(c, 1, 2, v, w, 3, 10), QTF_OK);
    cr_assert_float_eq(c[0], (3 * 1 + 1 * 3) / 4.0f, 1e-6);
    cr_assert_float_eq(c[1], (1 * 2 + 3 * 4) / 4.0f, 1e-6);
}

Test(kmeans_vec, sampled_path_on_a_large_table) {
    /* more points than the seeding sample: Lloyd runs on the sample, then on
     * all points */
    rng_state = 10;
    enum { N = 150000 };
    float *v = malloc(sizeof(float) * 2 * N), *x = malloc(sizeof(float) * N);
    fill(x, N, D_T4);
    for (int i = 0; i < N; i++) v[2 * i] = v[2 * i + 1] = x[i];
    float c[32], c1[16];
    double opt;
    cr_assert_eq(qtf__kmeans1d_exact(c1, &opt, 16, x, NULL, N), QTF_OK);
    cr_assert_eq(qtf__kmeans_vec(c, 16, 2, v, NULL, N, 24), QTF_OK);
    double cost = 0;
    for (int i = 0; i < N; i++) {
        uint32_t j = qtf__kmeans_vec_nearest(c, 16, 2, v + 2 * i, NULL);
        cost += pow(v[2 * i] - c[2 * j], 2) + pow(v[2 * i + 1] - c[2 * j + 1], 2);
    }
    cr_assert_lt(cost, 2 * opt * 1.10, "vector %g vs 2 x 1-D optimum %g", cost, 2 * opt);
    float c2[32];
    cr_assert_eq(qtf__kmeans_vec(c2, 16, 2, v, NULL, N, 24), QTF_OK);
    cr_assert_eq(memcmp(c, c2, sizeof c), 0);
    free(v);
    free(x);
}

Test(kmeans_vec, pruned_nearest_equals_brute_force) {
    rng_state = 11;
    for (int trial = 0; trial < 100; trial++) {
        uint32_t dim = trial % 2 ? 4 : 2;
        uint32_t k = 1u + (uint32_t)(qtf__splitmix64(&rng_state) % 256);
        float c[256 * 4];
        for (uint32_t i = 0; i < k * dim; i++) c[i] = (float)(int)(nrand() * 4) / 2.0f; /* dups */
        qtf__vnearest vn;
        qtf__vnearest_init(&vn, c, k, dim);
        for (int q = 0; q < 200; q++) {
            float p[4], pw[4];
            for (uint32_t d = 0; d < dim; d++) {
                p[d] = q % 4 == 0 ? c[(qtf__splitmix64(&rng_state) % k) * dim + d]
                                  : (float)(nrand() * 2);
                pw[d] = q % 3 == 0 ? 0.0f : (float)urand() * 3;
            }
            const float *w = q % 2 ? pw : NULL;
            cr_assert_eq(qtf__vnearest_find(&vn, p, w), qtf__kmeans_vec_nearest(c, k, dim, p, w),
                         "trial %d query %d", trial, q);
        }
    }
}
