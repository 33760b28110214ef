/* format/family.h — the interface between the encoding dispatcher
 * (format/encoding.c, format/quantize.c) and the encoding families.
 *
 * A tensor of shape dims is seen as `rows` x `cols`: cols = dims[n_dims-1]
 * (1 for a scalar), rows = product of the other dims (1 for n_dims <= 1).
 * Every function receives an encoding already checked by
 * qtf__encoding_validate(), an importance vector (if any) already checked to
 * be finite and >= 0 by qtf_quantize(), and part buffers of exactly the sizes
 * its own layout function returned, in that order. Families do their own threading
 * with qtf__parallel_for() and must give identical bytes for any thread count.
 */
#ifndef QTF_FORMAT_FAMILY_H
#define QTF_FORMAT_FAMILY_H

#include "common/common.h"

/* rows/cols of a shape, overflow-checked (QTF_E_OVERFLOW / QTF_E_SHAPE). */
qtf_status qtf__shape_rows_cols(uint64_t *rows, uint64_t *cols, uint32_t n_dims,
                                const uint64_t *dims);

/* Checks field values and combinations of an encoding (QTF_E_ENCODING with a
 * detail naming the field). */
qtf_status qtf__encoding_validate(const qtf_encoding *e);

/* Rows that must be decoded together (format/rows.c): every part is either
 * shared by all rows (its size does not depend on the row count) or stored in
 * whole-byte chunks of `unit` rows. 1 <= *out <= rows (0 for rows = 0). */
qtf_status qtf__encoding_row_unit(uint64_t *out, const qtf_encoding *e, uint64_t rows,
                                  uint64_t cols);

/* --- float family: F32 F16 BF16 RAW (format/float.c) --- */
qtf_status qtf__float_layout(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *e,
                             uint64_t rows, uint64_t cols);
qtf_status qtf__float_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                               uint64_t cols, const float *importance, unsigned threads,
                               void *const *parts);
qtf_status qtf__float_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                                 uint64_t cols, const void *const *parts, unsigned threads);

/* --- block family: INT NF4 FP4 MXFP4 Q8_0 Q4_0 Q4_1 (format/block_*.c) --- */
qtf_status qtf__block_layout(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *e,
                             uint64_t rows, uint64_t cols);
qtf_status qtf__block_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                               uint64_t cols, const float *importance, unsigned threads,
                               void *const *parts);
qtf_status qtf__block_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                                 uint64_t cols, const void *const *parts, unsigned threads);

/* --- ggml block types (format/block_ggml.c and the files of each type): a
 * row of the encoding table (format/encodings.h) with block, bytes and the
 * row kernels set. Encodings of these ids have bits, group = block and scale
 * type fixed by the row, and one BLOCKS part of rows * cols / block * bytes. */
typedef struct qtf__encoding_row qtf__encoding_row;
typedef qtf__encoding_row qtf__ggml_type;

/* The row of id, or NULL when id is not a ggml block type. */
const qtf__ggml_type *qtf__ggml_type_of(qtf_encoding_id id);

/* --- palettized family: PAL (format/pal_*.c, format/kmeans.c) --- */
qtf_status qtf__pal_layout(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *e,
                           uint64_t rows, uint64_t cols);
qtf_status qtf__pal_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                             uint64_t cols, const float *importance, unsigned threads,
                             void *const *parts);
qtf_status qtf__pal_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                               uint64_t cols, const void *const *parts, unsigned threads);

/* --- double quantization of scales (format/dq.c), shared by block and pal ---
 * n f32 scales -> u8 codes[n], f32 block_scales[ceil(n/QTF__DQ_BLOCK)],
 * one f32 offset (mean of the scales), the bitsandbytes scheme. */
#define QTF__DQ_BLOCK 256u
void qtf__dq_quantize(const float *scales, uint64_t n, uint8_t *codes, float *block_scales,
                      float *offset);
void qtf__dq_dequantize(float *scales, uint64_t n, const uint8_t *codes,
                        const float *block_scales, float offset);

#endif
