/* format/encodings.c — the table of encodings: one row per id (see
 * encodings.h). The normative descriptions are spec/encodings/. */
#include "block_family.h"
#include "encodings.h"
#include "ggml_kquants.h"
#include "ggml_legacy.h"

static const qtf__family_ops float_ops = { qtf__float_layout, qtf__float_quantize,
                                           qtf__float_dequantize };
static const qtf__family_ops block_ops = { qtf__block_layout, qtf__block_quantize,
                                           qtf__block_dequantize };
static const qtf__family_ops pal_ops = { qtf__pal_layout, qtf__pal_quantize,
                                         qtf__pal_dequantize };

#define F16 QTF_DTYPE_F16
#define K QTF__K
#define O QTF__O

/* Fields, keys and options shared by several rows. */
#define FLOAT_FIELDS QTF__F_ZSTD
#define FLOAT_KEYS K(QTF__KEY_ZSTD_LEVEL)
#define FLOAT_OPTIONS O(QTF__O_ZSTD)
#define CODEBOOK_FIELDS \
    (QTF__F_BITS | QTF__F_GROUP | QTF__F_SCALE | QTF__F_DQ | QTF__F_SEARCH | QTF__F_ZSTD)
#define CODEBOOK_KEYS                                                                    \
    (K(QTF__KEY_GROUP) | K(QTF__KEY_SCALE_TYPE) | K(QTF__KEY_DQ) | K(QTF__KEY_SEARCH) | \
     K(QTF__KEY_ZSTD_LEVEL))
#define CODEBOOK_OPTIONS \
    (O(QTF__O_GROUP) | O(QTF__O_SCALE) | O(QTF__O_DQ) | O(QTF__O_SEARCH) | O(QTF__O_ZSTD))
#define FIXED_FIELDS (QTF__F_BITS | QTF__F_GROUP | QTF__F_SCALE | QTF__F_ZSTD)

/* A ggml block type: bits, block and scale type fixed, one BLOCKS part of
 * `bytes` per block, the row kernels qtf__ggml_<t>_row / _dequant. */
#define GGML_AS(ID, name, t, b, blk, by, st, code_kind, code_off)                         \
    [ID] = { ID, name, 0, FIXED_FIELDS, FLOAT_KEYS, FLOAT_OPTIONS, b, blk, st, 0, 0,       \
             &block_ops, by, 1, qtf__ggml_##t##_row, qtf__ggml_##t##_dequant, code_kind,  \
             code_off }
#define GGML(ID, t, ...) GGML_AS(ID, #t, t, __VA_ARGS__)

static const qtf__encoding_row rows[QTF_ENC_COUNT_] = {
    [QTF_ENC_RAW] = { QTF_ENC_RAW, "raw", 0, QTF__F_RAW | QTF__F_ZSTD,
                      K(QTF__KEY_ZSTD_LEVEL) | K(QTF__KEY_RAW_TYPE),
                      O(QTF__O_RAWTYPE) | O(QTF__O_ZSTD), 0, 0, 0, 0, 0, &float_ops, 0, 0,
                      NULL, NULL, QTF__CODES_NONE, 0 },
    [QTF_ENC_F32] = { QTF_ENC_F32, "f32", 0, FLOAT_FIELDS, FLOAT_KEYS, FLOAT_OPTIONS, 0, 0, 0,
                      0, 0, &float_ops, 0, 0, NULL, NULL, QTF__CODES_NONE, 0 },
    [QTF_ENC_F16] = { QTF_ENC_F16, "f16", 0, FLOAT_FIELDS, FLOAT_KEYS, FLOAT_OPTIONS, 0, 0, 0,
                      0, 0, &float_ops, 0, 0, NULL, NULL, QTF__CODES_NONE, 0 },
    [QTF_ENC_BF16] = { QTF_ENC_BF16, "bf16", 0, FLOAT_FIELDS, FLOAT_KEYS, FLOAT_OPTIONS, 0, 0,
                       0, 0, 0, &float_ops, 0, 0, NULL, NULL, QTF__CODES_NONE, 0 },
    [QTF_ENC_INT] = { QTF_ENC_INT, "int", 0x1FCu /* int2..int8 */,
                      CODEBOOK_FIELDS | QTF__F_ASYM,
                      CODEBOOK_KEYS | K(QTF__KEY_BITS) | K(QTF__KEY_ASYM),
                      CODEBOOK_OPTIONS | O(QTF__O_SYM), 4, 32, F16, 0, 0, &block_ops, 0, 0,
                      NULL, NULL, QTF__CODES_ROWS, 0 },
    [QTF_ENC_NF4] = { QTF_ENC_NF4, "nf4", 0, CODEBOOK_FIELDS, CODEBOOK_KEYS, CODEBOOK_OPTIONS,
                      4, 64, F16, 0, 0, &block_ops, 0, 0, NULL, NULL, QTF__CODES_ROWS, 0 },
    [QTF_ENC_FP4] = { QTF_ENC_FP4, "fp4", 0, CODEBOOK_FIELDS, CODEBOOK_KEYS, CODEBOOK_OPTIONS,
                      4, 64, F16, 0, 0, &block_ops, 0, 0, NULL, NULL, QTF__CODES_ROWS, 0 },
    [QTF_ENC_MXFP4] = { QTF_ENC_MXFP4, "mxfp4", 0, FIXED_FIELDS, FLOAT_KEYS, FLOAT_OPTIONS, 4,
                        32, QTF_DTYPE_E8M0, 0, 0, &block_ops, 0, 1, NULL, NULL,
                        QTF__CODES_ROWS, 0 },
    [QTF_ENC_PAL] = { QTF_ENC_PAL, "pal", 0x15Eu /* pal1 2 3 4 6 8 */,
                      QTF__F_BITS | QTF__F_GROUP | QTF__F_SCALE | QTF__F_DQ | QTF__F_ROWS |
                          QTF__F_ROWSCALE | QTF__F_LUT | QTF__F_DIM | QTF__F_ZSTD |
                          QTF__F_SEARCH /* opt; not a directory key: decoding needs none */,
                      K(QTF__KEY_BITS) | K(QTF__KEY_GROUP) | K(QTF__KEY_DQ) |
                          K(QTF__KEY_ROWS) | K(QTF__KEY_ROWSCALE) | K(QTF__KEY_LUT_TYPE) |
                          K(QTF__KEY_DIM) | K(QTF__KEY_ZSTD_LEVEL),
                      O(QTF__O_GROUP) | O(QTF__O_DQ) | O(QTF__O_ROWS) | O(QTF__O_ROWSCALE) |
                          O(QTF__O_LUT) | O(QTF__O_DIM) | O(QTF__O_ZSTD) | O(QTF__O_SEARCH),
                      4, 0, 0, F16, 1, &pal_ops, 0, 0, NULL, NULL, QTF__CODES_ROWS, 0 },
    /*    id                  name     bits block bytes per block   scale  codes       offset */
    GGML(QTF_ENC_Q8_0, q8_0, 8, 32, 34, F16, QTF__CODES_BLOCKS, 2),
    GGML(QTF_ENC_Q4_0, q4_0, 4, 32, 18, F16, QTF__CODES_BLOCKS, 2),
    GGML(QTF_ENC_Q4_1, q4_1, 4, 32, 20, F16, QTF__CODES_BLOCKS, 4),
    GGML(QTF_ENC_Q5_0, q5_0, 5, 32, QTF__Q5_0_BYTES, F16, QTF__CODES_BLOCKS, 6),
    GGML(QTF_ENC_Q5_1, q5_1, 5, 32, QTF__Q5_1_BYTES, F16, QTF__CODES_BLOCKS, 8),
    /* K-quant super-blocks scatter their code bits over several fields */
    GGML(QTF_ENC_Q2_K, q2_k, 2, QTF__QK_K, QTF__Q2_K_BLOCK_BYTES, F16, QTF__CODES_NONE, 0),
    GGML(QTF_ENC_Q3_K, q3_k, 3, QTF__QK_K, QTF__Q3_K_BLOCK_BYTES, F16, QTF__CODES_NONE, 0),
    GGML(QTF_ENC_Q4_K, q4_k, 4, QTF__QK_K, QTF__Q4_K_BLOCK_BYTES, F16, QTF__CODES_NONE, 0),
    GGML(QTF_ENC_Q5_K, q5_k, 5, QTF__QK_K, QTF__Q5_K_BLOCK_BYTES, F16, QTF__CODES_NONE, 0),
    GGML(QTF_ENC_Q6_K, q6_k, 6, QTF__QK_K, QTF__Q6_K_BLOCK_BYTES, F16, QTF__CODES_NONE, 0),
    GGML(QTF_ENC_IQ4_NL, iq4_nl, 4, 32, QTF__IQ4_NL_BYTES, F16, QTF__CODES_BLOCKS, 2),
    GGML(QTF_ENC_IQ4_XS, iq4_xs, 4, 256, QTF__IQ4_XS_BYTES, F16, QTF__CODES_BLOCKS, 8),
    GGML_AS(QTF_ENC_GGML_MXFP4, "ggml_mxfp4", mxfp4, 4, 32, QTF__MXFP4_GGML_BYTES,
            QTF_DTYPE_E8M0, QTF__CODES_BLOCKS, 1),
};

#undef GGML
#undef GGML_AS
#undef F16
#undef K
#undef O

const qtf__encoding_row *qtf__encoding_row_of(qtf_encoding_id id) {
    if ((unsigned)id >= QTF_ENC_COUNT_ || !rows[id].name) return NULL;
    return &rows[id];
}

const qtf__ggml_type *qtf__ggml_type_of(qtf_encoding_id id) {
    const qtf__encoding_row *r = qtf__encoding_row_of(id);
    return r && r->quantize_row ? r : NULL;
}
