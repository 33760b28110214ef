/* format/pal_vector.c — weighted k-means on short vectors (dim 2 or 4) for
 * vector palettization (coremltools' cluster_dim).
 *
 * There is no exact solver beyond one dimension, so this is Lloyd's algorithm
 * from a k-means++ start. Determinism comes from a fixed-seed splitmix64
 * generator and a fixed visiting order; the subsample used for seeding keeps
 * the O(k * points) seeding cost bounded on large tables.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans.h"

/* Lloyd passes over all points after the sample has converged. */
#define VEC_FULL_PASSES 4u

static inline double wdist(const float *c, const float *p, const float *pw, uint32_t dim) {
    double d = 0.0;
    for (uint32_t j = 0; j < dim; j++) {
        double t = (double)p[j] - c[j];
        d += (pw ? pw[j] : 1.0) * t * t;
    }
    return d;
}

uint32_t qtf__kmeans_vec_nearest(const float *centers, uint32_t k, uint32_t dim,
                                 const float *p, const float *pw) {
    uint32_t best = 0;
    double bd = INFINITY;
    for (uint32_t c = 0; c < k; c++) {
        double d = wdist(centers + (size_t)c * dim, p, pw, dim);
        if (d < bd) {
            bd = d;
            best = c;
        }
    }
    return best;
}

void qtf__vnearest_init(qtf__vnearest *vn, const float *centers, uint32_t k, uint32_t dim) {
    vn->k = k;
    vn->dim = dim;
    vn->centers = centers;
    for (uint32_t i = 0; i < k; i++) { /* insertion sort, stable: k <= 256 */
        float key = centers[(size_t)i * dim];
        uint32_t j = i;
        while (j > 0 && vn->key[j - 1] > key) {
            vn->key[j] = vn->key[j - 1];
            vn->order[j] = vn->order[j - 1];
            j--;
        }
        vn->key[j] = key;
        vn->order[j] = (uint16_t)i;
    }
}

uint32_t qtf__vnearest_find(const qtf__vnearest *vn, const float *p, const float *pw) {
    const uint32_t k = vn->k, dim = vn->dim;
    const double w0 = pw ? pw[0] : 1.0;
    if (!(w0 > 0.0)) return qtf__kmeans_vec_nearest(vn->centers, k, dim, p, pw);
    uint32_t lo = 0, hi = k; /* first key >= p[0] */
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (vn->key[mid] < p[0]) lo = mid + 1;
        else hi = mid;
    }
    uint32_t best = UINT32_MAX;
    double bd = INFINITY;
    /* ties: the lowest centre index, as the brute-force scan gives */
#define VISIT(i)                                                                     \
    do {                                                                             \
        uint32_t c_ = vn->order[i];                                                  \
        double d_ = wdist(vn->centers + (size_t)c_ * dim, p, pw, dim);               \
        if (d_ < bd || (d_ == bd && c_ < best)) {                                    \
            bd = d_;                                                                 \
            best = c_;                                                               \
        }                                                                            \
    } while (0)
    for (uint32_t i = lo; i < k; i++) {
        double dx = (double)vn->key[i] - p[0];
        if (w0 * dx * dx > bd) break;
        VISIT(i);
    }
    for (uint32_t i = lo; i-- > 0;) {
        double dx = (double)p[0] - vn->key[i];
        if (w0 * dx * dx > bd) break;
        VISIT(i);
    }
#undef VISIT
    return best == UINT32_MAX ? qtf__kmeans_vec_nearest(vn->centers, k, dim, p, pw) : best;
}

static double point_weight(const float *pw, uint32_t dim) {
    if (!pw) return 1.0;
    double s = 0.0;
    for (uint32_t j = 0; j < dim; j++) s += pw[j];
    return s;
}

/* A uniform double in [0, 1). */
static double unit_rand(uint64_t *state) {
    return (double)(qtf__splitmix64(state) >> 11) * 0x1.0p-53;
}

qtf_status qtf__kmeans_vec(float *centers, uint32_t k, uint32_t dim, const float *v,
                           const float *w, uint64_t n, uint32_t lloyd_max) {
    if (k == 0 || k > QTF__KMEANS_MAX_K || dim == 0 || dim > 8)
        return qtf__error(QTF_E_INVALID_ARG, "vector k-means: k = %u, dim = %u", k, dim);
    const size_t kd = (size_t)k * dim;
    memset(centers, 0, kd * sizeof *centers);
    if (w) {
        int any = 0;
        for (uint64_t i = 0; i < n * dim && !any; i++) any = w[i] != 0.0f;
        if (!any) w = NULL;
    }
    if (n == 0) return QTF_OK;

    uint64_t stride = (n + QTF__VKMEANS_SAMPLE - 1) / QTF__VKMEANS_SAMPLE;
    uint64_t ns = (n + stride - 1) / stride;
    double *dmin = qtf__malloc((size_t)ns * sizeof *dmin);
    uint8_t *assign = qtf__malloc((size_t)n);
    double *sw = qtf__malloc(kd * sizeof *sw);
    double *swv = qtf__malloc(kd * sizeof *swv);
    if (!dmin || !assign || !sw || !swv) {
        free(dmin); free(assign); free(sw); free(swv);
        return qtf__error(QTF_E_NOMEM, "vector k-means: no memory for %llu points",
                          (unsigned long long)n);
    }
    memset(assign, 0, (size_t)n);
#define PT(i) (v + (size_t)(i) * dim)
#define PW(i) (w ? w + (size_t)(i) * dim : NULL)

    /* k-means++ seeding on the sample s -> point s * stride */
    uint64_t rng = 0x5EEDu ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)dim << 40) ^
                   ((uint64_t)k << 48);
    double total = 0.0;
    for (uint64_t s = 0; s < ns; s++) total += point_weight(PW(s * stride), dim) > 0.0;
    uint64_t first = 0;
    if (total > 0.0) {
        uint64_t pick = (uint64_t)(unit_rand(&rng) * total), seen = 0;
        for (uint64_t s = 0; s < ns; s++) {
            if (!(point_weight(PW(s * stride), dim) > 0.0)) continue;
            if (seen++ == pick) {
                first = s;
                break;
            }
        }
    }
    memcpy(centers, PT(first * stride), dim * sizeof *centers);
    for (uint64_t s = 0; s < ns; s++) dmin[s] = wdist(centers, PT(s * stride), PW(s * stride), dim);
    uint32_t chosen = 1;
    for (; chosen < k; chosen++) {
        double sum = 0.0;
        for (uint64_t s = 0; s < ns; s++) sum += dmin[s];
        if (!(sum > 0.0)) break; /* every sample point already is a centre */
        double target = unit_rand(&rng) * sum, acc = 0.0;
        uint64_t pick = ns - 1;
        for (uint64_t s = 0; s < ns; s++) {
            acc += dmin[s];
            if (acc > target && dmin[s] > 0.0) {
                pick = s;
                break;
            }
        }
        float *c = centers + (size_t)chosen * dim;
        memcpy(c, PT(pick * stride), dim * sizeof *c);
        for (uint64_t s = 0; s < ns; s++) {
            double d = wdist(c, PT(s * stride), PW(s * stride), dim);
            if (d < dmin[s]) dmin[s] = d;
        }
    }
    /* fewer distinct sample points than k: the unused entries repeat the last */
    for (uint32_t c = chosen; c < k; c++)
        memcpy(centers + (size_t)c * dim, centers + (size_t)(chosen - 1) * dim,
               dim * sizeof *centers);

    /* Lloyd on the seeding sample first (cheap), then on all points: a
     * pass costs n * k * dim, which for pal8 on a large table is what
     * matters. */
    const int sampled = stride > 1;
    uint32_t full_max = sampled ? (lloyd_max < VEC_FULL_PASSES ? lloyd_max : VEC_FULL_PASSES)
                                : lloyd_max;
    for (int phase = sampled ? 0 : 1; phase < 2; phase++) {
        const uint64_t step = phase == 0 ? stride : 1;
        const uint32_t passes = phase == 0 ? lloyd_max : full_max;
        memset(assign, 0, (size_t)n);
        qtf__vnearest vn;
        for (uint32_t pass = 0; pass < passes; pass++) {
            qtf__vnearest_init(&vn, centers, k, dim);
            memset(sw, 0, kd * sizeof *sw);
            memset(swv, 0, kd * sizeof *swv);
            int changed = pass == 0;
            for (uint64_t i = 0; i < n; i += step) {
                const float *p = PT(i), *pw = PW(i);
                uint32_t a = qtf__vnearest_find(&vn, p, pw);
                if (a != assign[i]) {
                    assign[i] = (uint8_t)a;
                    changed = 1;
                }
                for (uint32_t j = 0; j < dim; j++) {
                    double wj = pw ? pw[j] : 1.0;
                    sw[(size_t)a * dim + j] += wj;
                    swv[(size_t)a * dim + j] += wj * p[j];
                }
            }
            if (!changed) break;
            for (size_t j = 0; j < kd; j++)
                if (sw[j] > 0.0) centers[j] = (float)(swv[j] / sw[j]);
        }
    }
#undef PT
#undef PW
    free(dmin); free(assign); free(sw); free(swv);
    return QTF_OK;
}
