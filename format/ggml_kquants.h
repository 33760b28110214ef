/* format/ggml_kquants.h — ggml's K-quant super-blocks Q2_K .. Q6_K.
 *
 * Quantization and dequantization byte- and bit-identical to ggml 0.21
 * (llama.cpp), with and without an importance vector. The layouts and the
 * formulas are in spec/encodings/ggml-kquants.md.
 *
 * Every function here is pure: no I/O, no allocation (stack buffers only), no
 * global state, so any number of threads may call them on disjoint rows, and
 * the bytes of a row never depend on how the caller splits the rows. */
#ifndef QTF_FORMAT_GGML_KQUANTS_H
#define QTF_FORMAT_GGML_KQUANTS_H

#include <stddef.h>
#include <stdint.h>

/* Weights per super-block (ggml's QK_K). */
#define QTF__QK_K 256

/* Bytes per super-block of 256 weights. */
#define QTF__Q2_K_BLOCK_BYTES 84
#define QTF__Q3_K_BLOCK_BYTES 110
#define QTF__Q4_K_BLOCK_BYTES 144
#define QTF__Q5_K_BLOCK_BYTES 176
#define QTF__Q6_K_BLOCK_BYTES 210

/* The five types, for code that picks one at run time. */
typedef enum qtf__kquant_type {
    QTF__KQ_Q2_K,
    QTF__KQ_Q3_K,
    QTF__KQ_Q4_K,
    QTF__KQ_Q5_K,
    QTF__KQ_Q6_K
} qtf__kquant_type;

/* Bytes of one super-block of `t` (one of the constants above). */
size_t qtf__ggml_kquant_block_bytes(qtf__kquant_type t);

/* Quantizes nrows rows of n_per_row floats (n_per_row % 256 == 0) into
 * nrows * n_per_row / 256 consecutive blocks, exactly as ggml's
 * quantize_<type>(src, dst, nrows, n_per_row, imatrix) does: imatrix NULL
 * takes ggml's reference quantizer (quantize_row_<type>_ref), else the
 * importance-weighted one (quantize_row_<type>_impl); imatrix then holds
 * n_per_row weights, the same for every row. The input must be finite (ggml
 * gives no meaning to NaN/Inf; the caller refuses them). */
void qtf__ggml_quantize_q2_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix);
void qtf__ggml_quantize_q3_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix);
void qtf__ggml_quantize_q4_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix);
void qtf__ggml_quantize_q5_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix);
void qtf__ggml_quantize_q6_k(const float *x, void *blocks, int64_t nrows, int64_t n_per_row,
                             const float *imatrix);

/* Dequantizes n floats (n % 256 == 0) from n / 256 blocks, bit-identical to
 * ggml's dequantize_row_<type>. */
void qtf__ggml_dequantize_q2_k(const void *blocks, float *y, int64_t n);
void qtf__ggml_dequantize_q3_k(const void *blocks, float *y, int64_t n);
void qtf__ggml_dequantize_q4_k(const void *blocks, float *y, int64_t n);
void qtf__ggml_dequantize_q5_k(const void *blocks, float *y, int64_t n);
void qtf__ggml_dequantize_q6_k(const void *blocks, float *y, int64_t n);

#endif
