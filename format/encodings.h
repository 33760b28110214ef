/* format/encodings.h — the table of encodings (format/encodings.c): one row
 * per encoding id, in the spirit of ggml's type_traits. A row says
 * everything the rest of the library needs to know about an encoding: its
 * name, which fields and directory parameters it uses, its defaults, its
 * family's layout/quantize/dequantize, its block size, and where its codes
 * are. Adding an encoding = its id in qtf.h, its own file (kernels), and one
 * row here (plus, for a new family, a qtf__family_ops).
 *
 * Private to format/ (and to tests of it). */
#ifndef QTF_FORMAT_ENCODINGS_H
#define QTF_FORMAT_ENCODINGS_H

#include "family.h"

/* qtf_encoding fields an id uses; the others must be zero so that one
 * encoding has exactly one representation (in memory, text and directory). */
enum {
    QTF__F_BITS = 1u << 0, QTF__F_GROUP = 1u << 1, QTF__F_ASYM = 1u << 2,
    QTF__F_SCALE = 1u << 3, QTF__F_DQ = 1u << 4, QTF__F_ROWS = 1u << 5,
    QTF__F_ROWSCALE = 1u << 6, QTF__F_LUT = 1u << 7, QTF__F_DIM = 1u << 8,
    QTF__F_SEARCH = 1u << 9, QTF__F_ZSTD = 1u << 10, QTF__F_RAW = 1u << 11,
};

/* Directory parameter keys (spec/encodings/README.md, "Directory
 * parameters"). Stable: never renumbered. */
enum {
    QTF__KEY_BITS = 1, QTF__KEY_GROUP = 2, QTF__KEY_ASYM = 3, QTF__KEY_SCALE_TYPE = 4,
    QTF__KEY_DQ = 5, QTF__KEY_ROWS = 6, QTF__KEY_ROWSCALE = 7, QTF__KEY_LUT_TYPE = 8,
    QTF__KEY_DIM = 9, QTF__KEY_SEARCH = 10, QTF__KEY_ZSTD_LEVEL = 11, QTF__KEY_RAW_TYPE = 12,
    QTF__KEY_COUNT_ = 13
};
#define QTF__K(k) (1u << (k))

/* Text options (format/text.c); mutually exclusive spellings (sym/asym,
 * rtn/search, the raw types) share one kind. */
enum {
    QTF__O_GROUP, QTF__O_SYM, QTF__O_SCALE, QTF__O_DQ, QTF__O_ROWS, QTF__O_ROWSCALE,
    QTF__O_LUT, QTF__O_DIM, QTF__O_SEARCH, QTF__O_ZSTD, QTF__O_RAWTYPE, QTF__O_COUNT_
};
#define QTF__O(o) (1u << (o))

/* What a family of encodings implements (family.h has the contracts). */
typedef struct qtf__family_ops {
    qtf_status (*layout)(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *e,
                         uint64_t rows, uint64_t cols);
    qtf_status (*quantize)(const qtf_encoding *e, const float *src, uint64_t rows,
                           uint64_t cols, const float *importance, unsigned threads,
                           void *const *parts);
    qtf_status (*dequantize)(float *dst, const qtf_encoding *e, uint64_t rows, uint64_t cols,
                             const void *const *parts, unsigned threads);
} qtf__family_ops;

/* How the quantization codes are stored, for qtf_encoding_unpack_codes. */
typedef enum qtf__codes_kind {
    QTF__CODES_NONE = 0,        /* no per-element codes that can be listed */
    QTF__CODES_ROWS,            /* CODES part: rows of `bits`-bit codes, LSB first, each row
                                   padded to a byte (or one code per byte with zstd) */
    QTF__CODES_BLOCKS,          /* BLOCKS part: per block, code_offset bytes of scales, then
                                   `block` codes: 8-bit signed, or nibbles (low: element j,
                                   high: j + 16 of each 32) with bit 4 of 5-bit codes from
                                   the u32 just before them */
} qtf__codes_kind;

struct qtf__encoding_row {
    qtf_encoding_id id;
    const char *name;           /* directory and display name: "int", "q4_k" */
    uint32_t text_bits;         /* bit b set: a text name NAME<b> (int2..int8, pal1..pal8);
                                   0: the text name is `name` */
    uint32_t fields;            /* QTF__F_* */
    uint32_t keys;              /* QTF__K(QTF__KEY_*): directory parameters written */
    uint32_t options;           /* QTF__O(QTF__O_*): text options accepted */
    /* defaults (qtf_encoding_default); for fixed-block types, the only values */
    uint32_t bits;
    uint32_t block;             /* group default; elements per block of fixed-block types */
    qtf_dtype scale_type;
    qtf_dtype lut_type;
    uint32_t dim;
    const qtf__family_ops *ops;
    uint32_t bytes;             /* BLOCKS part: bytes per block; 0 for other layouts */
    int fixed_block;            /* bits, group and scale type are implied by the id */
    /* ggml block kernels (BLOCKS part), NULL for the other families:
     * n elements of one row (a multiple of block) -> n / block blocks; imp:
     * per-column importance or NULL, as ggml's quant_weights. */
    void (*quantize_row)(const float *x, uint8_t *out, int64_t n, const float *imp);
    /* n / block blocks -> n elements, bit-identical to dequantize_row_<type>. */
    void (*dequantize_row)(const uint8_t *in, float *y, int64_t n);
    qtf__codes_kind codes;
    uint32_t code_offset;       /* QTF__CODES_BLOCKS: bytes before the codes of a block */
};

/* The row of id, or NULL when this version does not know id. */
const qtf__encoding_row *qtf__encoding_row_of(qtf_encoding_id id);

#endif
