/* format/ggml_legacy.h — ggml's 32-element block types beyond the reference
 * quantizers of format/block_ggml.c, and the 4-bit non-linear types
 * (private to format/block_ggml.c, format/ggml_*.c and tests).
 *
 * Every quantizer here reproduces, byte for byte, what ggml's quantize_<type>
 * (src/ggml-quants.c, ggml 0.21) writes for one row: the same operations in
 * the same order on f32 (the project compiles with -ffp-contract=off, as the
 * CPU build that wrote the fixtures in ../shared/gguf behaves), the same
 * tie-breaking, the same rounding of scales to f16. `imp` is the per-column
 * importance (llama.cpp's imatrix mean, in_sum2 / counts), NULL for none; it
 * is indexed like the row. Rows are whole blocks (the caller checks).
 * Layouts: spec/encodings/ggml.md. */
#ifndef QTF_FORMAT_GGML_LEGACY_H
#define QTF_FORMAT_GGML_LEGACY_H

#include <stdint.h>
#include <string.h>

#define QTF__QK 32 /* elements of a Q4/Q5/Q8/IQ4_NL/MXFP4 block */

/* Dequantizers with an AVX2 form (x86-64 GCC/clang) pick it at run time
 * (__builtin_cpu_supports); QTF__AVX2 marks those functions. */
#if defined(__GNUC__) && defined(__x86_64__)
#define QTF__GGML_AVX2 1
#define QTF__AVX2 __attribute__((target("avx2")))
#include <immintrin.h>
/* In a void function: run the AVX2 form f(args) and return when the CPU has
 * AVX2 (elsewhere the form does not exist and this is a no-op). */
#define QTF__TRY_AVX2(f, ...)                                                            \
    do {                                                                                 \
        if (__builtin_cpu_supports("avx2")) {                                            \
            f(__VA_ARGS__);                                                              \
            return;                                                                      \
        }                                                                                \
    } while (0)
#else
#define QTF__GGML_AVX2 0
#define QTF__AVX2
#define QTF__TRY_AVX2(f, ...) ((void)0)
#endif

/* The 16 IQ4_NL / IQ4_XS levels (kvalues_iq4nl), ascending. */
extern const int8_t qtf__iq4nl_values[16];

/* Bytes of one block. */
#define QTF__Q5_0_BYTES 22   /* f16 d, u8 qh[4], u8 qs[16] */
#define QTF__Q5_1_BYTES 24   /* f16 d, f16 m, u8 qh[4], u8 qs[16] */
#define QTF__IQ4_NL_BYTES 18 /* f16 d, u8 qs[16] */
#define QTF__IQ4_XS_BYTES 136 /* f16 d, u16 scales_h, u8 scales_l[4], u8 qs[128] */
#define QTF__MXFP4_GGML_BYTES 17 /* u8 e, u8 qs[16] */

/* One row of n elements (n a multiple of the block) -> n / block blocks. */
void qtf__ggml_q4_0_row_weighted(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_q4_1_row_weighted(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_q5_0_row(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_q5_1_row(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_iq4_nl_row(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_iq4_xs_row(const float *x, uint8_t *out, int64_t n, const float *imp);
void qtf__ggml_mxfp4_row(const float *x, uint8_t *out, int64_t n, const float *imp);

/* n elements (a multiple of the block) from n / block blocks, exactly as
 * ggml's dequantize_row_<type>. */
void qtf__ggml_q5_0_dequant(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_q5_1_dequant(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_iq4_nl_dequant(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_iq4_xs_dequant(const uint8_t *in, float *y, int64_t n);
void qtf__ggml_mxfp4_dequant(const uint8_t *in, float *y, int64_t n);

#endif
