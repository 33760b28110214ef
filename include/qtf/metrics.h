/* include/qtf/metrics.h — error metrics and float conversion.
 * Part of the public API; include <qtf.h> (the umbrella) or this header. */
#ifndef QTF_METRICS_H
#define QTF_METRICS_H

#include "errors.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 *  7. ERROR METRICS AND FLOAT CONVERSION
 * ========================================================================== */

typedef struct qtf_metrics {
    uint64_t n;                 /* elements compared */
    double mse;                 /* mean squared error */
    double rel_rmse;            /* ||W - W'|| / ||W|| (0 if both zero) */
    double max_abs_err;
    double snr_db;              /* 10 log10(||W||^2 / ||W - W'||^2); +inf if exact */
    double cosine;              /* <W,W'> / (||W|| ||W'||) (1 if both zero) */
} qtf_metrics;

/* Double-precision metrics of approx against ref (n elements). If col_weights
 * is non-NULL (cols entries, n a multiple of cols), every squared term of
 * element j is weighted by col_weights[j % cols]. */
QTF_API qtf_status qtf_metrics_compute(qtf_metrics *out, const float *ref, const float *approx,
                                       uint64_t n, const float *col_weights, uint64_t cols);

/* IEEE conversions, round to nearest even; NaN stays NaN (quiet), Inf stays
 * Inf, f32 overflow to f16 gives Inf. */
QTF_API uint16_t qtf_f32_to_f16(float x);
QTF_API float qtf_f16_to_f32(uint16_t h);
QTF_API uint16_t qtf_f32_to_bf16(float x);
QTF_API float qtf_bf16_to_f32(uint16_t h);

/* Converts n elements of src_type (F64 F32 F16 BF16 or an integer/bool type)
 * to f32. */
QTF_API qtf_status qtf_convert_to_f32(float *dst, const void *src, qtf_dtype src_type,
                                      uint64_t n);
/* Converts n f32 to dst_type (F32, F16, BF16). */
QTF_API qtf_status qtf_convert_from_f32(void *dst, qtf_dtype dst_type, const float *src,
                                        uint64_t n);

/* Number of online CPUs (>= 1), used for threads = 0. */
QTF_API unsigned qtf_default_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* QTF_METRICS_H */
