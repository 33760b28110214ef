/* include/qtf/encodings.h — what an encoding is, its text and directory forms, layouts, quantization and dequantization.
 * Part of the public API; include <qtf.h> (the umbrella) or this header. */
#ifndef QTF_ENCODINGS_H
#define QTF_ENCODINGS_H

#include "errors.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 *  5a. ENCODING DESCRIPTION (used by reader, writer and quantizers)
 * ========================================================================== */

typedef enum qtf_encoding_id {
    QTF_ENC_RAW = 0,    /* lossless copy in raw_type (integer/bool/f64 tensors) */
    QTF_ENC_F32 = 1,
    QTF_ENC_F16 = 2,
    QTF_ENC_BF16 = 3,
    QTF_ENC_INT = 4,    /* block-quantized intN, N = bits (2..8) */
    QTF_ENC_NF4 = 5,
    QTF_ENC_FP4 = 6,
    QTF_ENC_MXFP4 = 7,
    QTF_ENC_PAL = 8,    /* palettized, 2^bits-entry look-up tables */
    QTF_ENC_Q8_0 = 9,   /* ggml-compatible blocks */
    QTF_ENC_Q4_0 = 10,
    QTF_ENC_Q4_1 = 11,
    QTF_ENC_Q5_0 = 12,
    QTF_ENC_Q5_1 = 13,
    QTF_ENC_Q2_K = 14,  /* ggml K-quants: 256-element super-blocks */
    QTF_ENC_Q3_K = 15,
    QTF_ENC_Q4_K = 16,
    QTF_ENC_Q5_K = 17,
    QTF_ENC_Q6_K = 18,
    QTF_ENC_IQ4_NL = 19,
    QTF_ENC_IQ4_XS = 20,
    QTF_ENC_GGML_MXFP4 = 21, /* MXFP4 in ggml's block layout (u8 e, qs[16]) */
    QTF_ENC_COUNT_ = 22
} qtf_encoding_id;

#define QTF_GROUP_ROW 0u            /* one scale per row */
#define QTF_GROUP_TENSOR UINT32_MAX /* one scale for the whole tensor */
#define QTF_ROWS_TENSOR 0u          /* PAL: one table for the whole tensor */

/* A fully resolved encoding. qtf_encoding_parse() fills every field,
 * defaults included; fields that do not apply to `id` are zero. */
typedef struct qtf_encoding {
    qtf_encoding_id id;
    uint32_t bits;        /* INT 2..8; PAL 1,2,3,4,6,8; 4 for nf4/fp4/mxfp4/q4_*; 8 q8_0 */
    uint32_t group;       /* elements of a row sharing one scale, or QTF_GROUP_* */
    uint32_t asym;        /* INT: 1 = scale + zero point */
    qtf_dtype scale_type; /* F16 | BF16 | F32 (E8M0 for mxfp4, F16 for q*) */
    uint32_t dq;          /* 1 = scales double-quantized */
    uint32_t rows;        /* PAL: rows sharing one table, or QTF_ROWS_TENSOR */
    uint32_t rowscale;    /* PAL: per-row scale before clustering */
    qtf_dtype lut_type;   /* PAL: F16 | F32 | I8 */
    uint32_t dim;         /* PAL: vector length 1, 2 or 4 */
    uint32_t search;      /* 0 = rtn, 1 = search, 2 = opt (recorded, not needed to decode) */
    uint32_t zstd_level;  /* 0 = parts stored plain; 1..22 zstd (recorded) */
    qtf_dtype raw_type;   /* RAW: element type stored */
} qtf_encoding;

/* One serialized encoding parameter (directory: u32 key, u32 value). */
typedef struct qtf_encoding_param {
    uint32_t key;
    uint32_t value;
} qtf_encoding_param;

/* Size and kind of one part as the encoding requires it (decoded bytes). */
typedef struct qtf_part_layout {
    qtf_part_role role;
    qtf_dtype type;
    uint64_t size;
} qtf_part_layout;

/* A part's bytes as given to the writer or the dequantizer (decoded form). */
typedef struct qtf_part_view {
    qtf_part_role role;
    qtf_dtype type;
    const void *data;
    uint64_t size;
} qtf_part_view;


/* ==========================================================================
 *  5b. ENCODINGS: text form, serialization, layout
 * ========================================================================== */

/* Parses the canonical text form NAME[:OPTION,...] (spec/encodings/). On
 * QTF_E_PARSE the detail lists the valid names or options. */
QTF_API qtf_status qtf_encoding_parse(qtf_encoding *out, const char *text);

/* Canonical text: defaults omitted, options in a fixed order, so that
 * parse(format(e)) == e. Returns QTF_E_INVALID_ARG if cap is too small
 * (64 bytes always suffice). */
QTF_API qtf_status qtf_encoding_format(char *buf, size_t cap, const qtf_encoding *enc);

/* Default encoding for an id (as parse("name") would give). */
QTF_API qtf_status qtf_encoding_default(qtf_encoding *out, qtf_encoding_id id);

/* Directory form. out_params capacity is QTF_MAX_PARAMS. */
QTF_API qtf_status qtf_encoding_to_params(uint32_t *out_id, qtf_encoding_param *out_params,
                                          uint32_t *out_n, const qtf_encoding *enc);
/* QTF_E_UNKNOWN_ENCODING: id or a parameter key not known to this version.
 * QTF_E_ENCODING: known keys with invalid values or combinations. */
QTF_API qtf_status qtf_encoding_from_params(qtf_encoding *out, uint32_t id,
                                            const qtf_encoding_param *params, uint32_t n);

/* The parts (role, type, decoded size in bytes, in storage order) that this
 * encoding produces for a tensor of this shape. QTF_E_SHAPE when it cannot
 * apply (e.g. row length not divisible by the group). out capacity is
 * QTF_MAX_PARTS. Overflow-checked. */
QTF_API qtf_status qtf_encoding_layout(qtf_part_layout *out, uint32_t *out_n,
                                       const qtf_encoding *enc, uint32_t n_dims,
                                       const uint64_t *dims);

/* Bits per weight, everything counted (sum of layout sizes * 8 / elements). */
QTF_API double qtf_encoding_bits_per_weight(const qtf_encoding *enc, uint32_t n_dims,
                                            const uint64_t *dims);

/* Where the quantization codes of an encoding are, for code histograms. */
typedef struct qtf_code_info {
    uint32_t part;              /* index of the part that holds the codes */
    uint32_t bits;              /* bits per code (1..8) */
    int is_signed;              /* codes are two's complement bytes (q8_0) */
    int indexes_lut;            /* codes index a look-up table (pal) */
} qtf_code_info;

/* QTF_E_UNSUPPORTED when the encoding has no codes that can be listed (the
 * float encodings, the K-quants whose code bits are scattered). */
QTF_API qtf_status qtf_encoding_code_info(qtf_code_info *out, const qtf_encoding *enc);

/* Unpacks the codes held in a decoded code part (qtf_part_decode of part
 * qtf_code_info.part) into one byte per code; *out_n = the count (elements,
 * or elements / dim for vector palettes). `cap` must be at least the element
 * count. QTF_E_ENCODING when `size` does not match the layout. */
QTF_API qtf_status qtf_encoding_unpack_codes(uint8_t *codes, uint64_t cap, uint64_t *out_n,
                                             const qtf_encoding *enc, uint32_t n_dims,
                                             const uint64_t *dims, const void *part,
                                             uint64_t size);


/* ==========================================================================
 *  6. QUANTIZATION AND DEQUANTIZATION
 * ========================================================================== */

typedef struct qtf_quantize_options {
    unsigned version;
    unsigned threads;           /* 0 = all cores; output identical for any value */
    const float *importance;    /* optional per-column weights (>= 0), one per
                                   element of a row (dims[n_dims-1]); NULL = uniform */
} qtf_quantize_options;
#define QTF_QUANTIZE_OPTIONS_VERSION 1
#define QTF_QUANTIZE_OPTIONS_INIT { QTF_QUANTIZE_OPTIONS_VERSION, 0, NULL }

/* Owned result of qtf_quantize: parts in layout order. */
typedef struct qtf_encoded {
    uint32_t n_parts;
    qtf_part_layout layout[QTF_MAX_PARTS];
    void *data[QTF_MAX_PARTS];
} qtf_encoded;

/* Quantizes src (n_elements f32, row-major, last dim contiguous).
 * QTF_E_SHAPE if the encoding cannot apply; QTF_E_NUMERIC for NaN/Inf where
 * the encoding's rule (spec) refuses them. Deterministic. */
QTF_API qtf_status qtf_quantize(qtf_encoded **out, const qtf_encoding *enc, const float *src,
                                uint32_t n_dims, const uint64_t *dims,
                                const qtf_quantize_options *opts);
QTF_API void qtf_encoded_free(qtf_encoded *e);

/* Views of an encoded result, for qtf_writer_add_tensor / qtf_dequantize.
 * out capacity QTF_MAX_PARTS; returns n_parts. */
QTF_API uint32_t qtf_encoded_views(qtf_part_view *out, const qtf_encoded *e);

/* Dequantizes decoded parts to dst_type (F32, F16 or BF16); dst_count must
 * equal the tensor's element count. Parts are validated against the layout. */
QTF_API qtf_status qtf_dequantize(void *dst, qtf_dtype dst_type, uint64_t dst_count,
                                  const qtf_encoding *enc, uint32_t n_dims,
                                  const uint64_t *dims, const qtf_part_view *parts,
                                  uint32_t n_parts, unsigned threads);

#ifdef __cplusplus
}
#endif
#endif /* QTF_ENCODINGS_H */
