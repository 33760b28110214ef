/* format/ggml_kquants_search.h — the scale searches behind ggml's K-quants
 * (private to format/ggml_kquants*.c).
 *
 * Each function reproduces one of ggml's helpers (named in its comment)
 * operation for operation: the same float expressions in the same order, the
 * same integer types for the codes, the same tie rules. That, with
 * -ffp-contract=off and no -ffast-math, is what makes the output bytes equal
 * to ggml's; a "better" search would be a different format.
 *
 * Speed without reordering a single sum: ggml searches the sub-blocks of a
 * super-block one after another, each with sequential float sums that must
 * not be reassociated. The sub-blocks are independent, so the searches here
 * run KQ_LANES sub-blocks side by side, one per SIMD lane: every lane does
 * exactly ggml's scalar sequence for its sub-block, and branches become
 * per-lane selects. Data is transposed: element i of lane s is at [i].v[s]. */
#ifndef QTF_FORMAT_GGML_KQUANTS_SEARCH_H
#define QTF_FORMAT_GGML_KQUANTS_SEARCH_H

#include <stdint.h>
#include <string.h>

/* ggml's GROUP_MAX_EPS: a group whose largest |x| is below it is all zero. */
#define QTF__KQ_GROUP_MAX_EPS 1e-15f

/* Sub-blocks searched at once (one AVX2 register of floats). */
#define QTF__KQ_LANES 8
/* Longest sub-block (Q4_K/Q5_K: 32 elements). */
#define QTF__KQ_MAX_N 32

/* One element of each of the 8 sub-blocks (structs, not bare arrays, so that
 * const pointers to them convert in ISO C11). */
typedef struct qtf__kq_lanes_f {
    float v[QTF__KQ_LANES];
} qtf__kq_lanes_f;
typedef struct qtf__kq_lanes_u8 {
    uint8_t v[QTF__KQ_LANES];
} qtf__kq_lanes_u8;
typedef struct qtf__kq_lanes_i8 {
    int8_t v[QTF__KQ_LANES];
} qtf__kq_lanes_i8;

/* ggml's nearest_int: adding 1.5 * 2^23 leaves round-half-even(v) in the low
 * mantissa bits. Defined (and used by ggml) for |v| < 2^22; beyond that the
 * result is still a deterministic function of v, and we return the same one,
 * because ggml's searches can feed it such values (e.g. x * sl2 / slx). */
static inline int qtf__kq_nearest_int(float v) {
    float biased = v + 12582912.f;
    int32_t bits;
    memcpy(&bits, &biased, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

/* make_qx_quants with rmse_type 1, for 8 sub-blocks of n elements: symmetric
 * codes L in [0, 2*nmax) (value L - nmax), weights qw (NULL: x^2). Scale from
 * the largest-|x| element, then the least-squares scale of 18 nearby trial
 * scales, the best kept. scale[s]: the returned scale of lane s. */
void qtf__kq_make_qx_lanes(int n, int nmax, const qtf__kq_lanes_f *x, const qtf__kq_lanes_f *qw,
                           qtf__kq_lanes_i8 *L, float *scale);

/* make_q3_quants with do_rmse, 8 sub-blocks: like make_qx_quants for weights
 * x^2, then up to five rounds of moving single codes while that raises
 * sumlx^2 / suml2. */
void qtf__kq_make_q3_lanes(int n, int nmax, const qtf__kq_lanes_f *x, qtf__kq_lanes_i8 *L,
                           float *scale);

/* make_qkx2_quants (qkx3 = 0) or make_qkx3_quants (qkx3 = 1), 8 sub-blocks:
 * asymmetric codes in [0, nmax] above a min <= 0 (returned negated in
 * the_min[s]); trial scales (rmin + rdelta*is + nmax) / (max - min) for
 * is = 0..nstep, each refitted by weighted least squares and kept if its
 * weighted error (|d| with use_mad, else d^2) is lower. The two differ only in
 * how a trial's codes are rounded (qkx3: v <= 0 -> 0, v capped at nmax first)
 * and in the flat test (qkx3: max <= min). */
void qtf__kq_make_qkx_lanes(int n, int nmax, const qtf__kq_lanes_f *x, const qtf__kq_lanes_f *w,
                            qtf__kq_lanes_u8 *L, float *scale, float *the_min, float rmin,
                            float rdelta, int nstep, int use_mad, int qkx3);

/* make_qp_quants: non-negative x (sub-block scales or mins) to codes in
 * [0, nmax] with weights quant_weights; returns the super-block scale. */
float qtf__kq_make_qp(int n, int nmax, const float *x, uint8_t *L, const float *quant_weights);

#endif
