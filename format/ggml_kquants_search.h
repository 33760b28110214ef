/* format/ggml_kquants_search.h — the scale searches behind ggml's K-quants
 * (private to format/ggml_kquants*.c).
 *
 * Each function reproduces one of ggml's helpers (named in its comment)
 * operation for operation: the same float expressions in the same order, the
 * same integer types for the codes, the same tie rules. That, with
 * -ffp-contract=off and no -ffast-math, is what makes the output bytes equal
 * to ggml's; a "better" search would be a different format. */
#ifndef QTF_FORMAT_GGML_KQUANTS_SEARCH_H
#define QTF_FORMAT_GGML_KQUANTS_SEARCH_H

#include <stdint.h>
#include <string.h>

/* ggml's GROUP_MAX_EPS: a group whose largest |x| is below it is all zero. */
#define QTF__KQ_GROUP_MAX_EPS 1e-15f

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

/* make_qx_quants with rmse_type 1: symmetric codes L[i] in [0, 2*nmax) (value
 * L - nmax), weights qw (NULL: x^2). Scale from the largest-|x| element, then
 * the least-squares scale of 18 nearby trial scales, the best kept. */
float qtf__kq_make_qx(int n, int nmax, const float *x, int8_t *L, const float *qw);

/* make_q3_quants with do_rmse: like make_qx_quants for weights x^2, then up to
 * five rounds of moving single codes while that raises sumlx^2 / suml2. */
float qtf__kq_make_q3(int n, int nmax, const float *x, int8_t *L);

/* make_qkx2_quants: asymmetric codes in [0, nmax] with a min <= 0 (returned
 * negated in *the_min), trial scales (rmin + rdelta*is + nmax) / (max - min)
 * for is = 0..nstep, each refitted by weighted least squares and kept if its
 * weighted error (|d| with use_mad, else d^2) is lower. Laux: n bytes. */
float qtf__kq_make_qkx2(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                        float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                        int use_mad);

/* make_qkx3_quants (weights never NULL here): make_qkx2's search with the
 * trial codes computed as ggml 0.21 does (v <= 0 -> 0, v capped at nmax). */
float qtf__kq_make_qkx3(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                        float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                        int use_mad);

/* make_qp_quants: non-negative x (sub-block scales or mins) to codes in
 * [0, nmax] with weights quant_weights; returns the super-block scale. */
float qtf__kq_make_qp(int n, int nmax, const float *x, uint8_t *L, const float *quant_weights);

#endif
