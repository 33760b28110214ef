/* format/kmeans.h — weighted k-means for palettization (private to format/pal*.c
 * and the tests). Everything here is deterministic: no global state, no
 * random numbers except a fixed-seed generator, and a fixed arithmetic order
 * for a given input, so results do not depend on the caller's threading.
 *
 * Weights: w == NULL means every point weighs 1. Points of weight 0 do not
 * influence the centres; if every weight is 0 the points count as weight 1
 * (the caller asked for a table, so it gets the unweighted one).
 */
#ifndef QTF_FORMAT_KMEANS_H
#define QTF_FORMAT_KMEANS_H

#include "family.h"

#define QTF__KMEANS_MAX_K 256u

/* ---- exact 1-D k-means by dynamic programming --------------------------
 * m weighted points sorted by strictly increasing value: point i has weight
 * w[i] > 0 and weighted sum wv[i] (= w * value, or the sums of a histogram
 * bin). Finds the partition into at most k contiguous clusters that minimises
 * the weighted squared error, exactly (up to double rounding), in
 * O(k * m * log m) by divide and conquer over the monotone split points.
 * centers[0..k) receive the cluster means ascending; when m < k the unused
 * entries repeat the last (largest) centre. Returns the number of clusters
 * used (min(k, m)), or 0 with QTF_E_NOMEM recorded when scratch allocation
 * fails. */
uint32_t qtf__kmeans1d_dp(double *centers, uint32_t k, const double *w, const double *wv,
                          uint64_t m);

/* Exact optimum on raw points (sorts, merges equal values, runs the DP):
 * the oracle of the tests and the path taken for small inputs. Writes
 * centers[0..k) ascending (as float) and the optimal weighted squared error
 * to *cost (may be NULL). */
qtf_status qtf__kmeans1d_exact(float *centers, double *cost, uint32_t k, const float *v,
                               const float *w, uint64_t n);

/* Tuning of the production solver. */
typedef struct qtf__kmeans1d_opts {
    uint64_t exact_max_n;   /* n <= this: exact solver on the sorted points */
    uint32_t bins;          /* coarse bins above it (the fine bins number
                               about as many); 0 = chosen from n and k
                               (kmeans.c, default_bins) */
    uint32_t lloyd_max;     /* Lloyd passes over the real points after the DP */
} qtf__kmeans1d_opts;
#define QTF__KMEANS1D_OPTS_DEFAULT { 1024u, 0u, 4u }

/* Production 1-D k-means: exact for n <= exact_max_n; otherwise exact DP on a
 * weighted two-level histogram (`bins` equal-width coarse bins between the
 * smallest and the largest value, each occupied one split into fine bins in
 * proportion to the cube root of its weight; each fine bin is a point at its
 * weighted mean), then weighted Lloyd passes on the real points until no
 * centre moves or lloyd_max passes, then splits of the worst cluster into
 * spare (duplicate) centres while any remain. centers[0..k) ascending;
 * unused entries (fewer distinct values than k) repeat the largest centre.
 * opts NULL = defaults. */
qtf_status qtf__kmeans1d(float *centers, uint32_t k, const float *v, const float *w,
                         uint64_t n, const qtf__kmeans1d_opts *opts);

/* Weighted squared error of the points against their nearest centre. */
double qtf__kmeans1d_cost(const float *centers, uint32_t k, const float *v, const float *w,
                          uint64_t n);

/* ---- nearest entry of a sorted 1-D table -------------------------------
 * The index returned is the number of midpoints strictly below v, so a value
 * exactly between two entries goes to the lower index and, among equal
 * entries, the lowest index wins. A coarse bin lookup gives a starting index
 * that is then corrected, so the result is exact whatever the bin rounding. */
#define QTF__NEAREST_BINS 1024u
typedef struct qtf__nearest {
    uint32_t k;
    float lo, inv;
    float mid[QTF__KMEANS_MAX_K];
    uint8_t start[QTF__NEAREST_BINS];
} qtf__nearest;

/* centers ascending (non-decreasing), 1 <= k <= 256. */
void qtf__nearest_init(qtf__nearest *nr, const float *centers, uint32_t k);

static inline uint32_t qtf__nearest_find(const qtf__nearest *nr, float v) {
    if (nr->k <= 1) return 0;
    float t = (v - nr->lo) * nr->inv;
    uint32_t b;
    if (!(t > 0.0f)) b = 0;
    else if (t >= (float)(QTF__NEAREST_BINS - 1)) b = QTF__NEAREST_BINS - 1;
    else b = (uint32_t)t;
    uint32_t i = nr->start[b];
    uint32_t last = nr->k - 1;
    while (i < last && nr->mid[i] < v) i++;
    while (i > 0 && nr->mid[i - 1] >= v) i--;
    return i;
}

/* ---- vector k-means (format/pal_vector.c) ------------------------------
 * n points of `dim` floats (v[i*dim + c]); per-component weights
 * w[i*dim + c] (NULL = 1). Initialisation: weighted k-means++ on a strided
 * subsample of at most QTF__VKMEANS_SAMPLE points (every ceil(n/SAMPLE)-th)
 * with splitmix64 seeded from n, dim and k; then at most lloyd_max weighted
 * Lloyd passes over that sample and at most 4 over all points (all passes on
 * all points when n fits the sample), each phase stopping when no
 * assignment changes. Empty clusters keep their previous centre.
 * centers[k*dim]. */
#define QTF__VKMEANS_SAMPLE 65536u
qtf_status qtf__kmeans_vec(float *centers, uint32_t k, uint32_t dim, const float *v,
                           const float *w, uint64_t n, uint32_t lloyd_max);

/* Index of the centre nearest to the point p under per-component weights pw
 * (NULL = 1); ties go to the lowest index. */
uint32_t qtf__kmeans_vec_nearest(const float *centers, uint32_t k, uint32_t dim,
                                 const float *p, const float *pw);

/* The same result as qtf__kmeans_vec_nearest (lowest index among the
 * nearest), found faster: centres sorted by their first component, scanned
 * outwards from the query's first component and cut off once that component
 * alone is farther than the best distance. Valid while `centers` is. */
typedef struct qtf__vnearest {
    uint32_t k, dim;
    const float *centers;
    float key[QTF__KMEANS_MAX_K];       /* first components, ascending */
    uint16_t order[QTF__KMEANS_MAX_K];  /* centre index of key[i] */
} qtf__vnearest;
void qtf__vnearest_init(qtf__vnearest *vn, const float *centers, uint32_t k, uint32_t dim);
uint32_t qtf__vnearest_find(const qtf__vnearest *vn, const float *p, const float *pw);

/* splitmix64: the fixed generator used for deterministic initialisation. */
static inline uint64_t qtf__splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#endif
