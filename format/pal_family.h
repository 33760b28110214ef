/* format/pal_family.h — what the palettized family's files share (private to
 * format/pal*.c and the tests). The normative layout is
 * spec/encodings/palettized.md. */
#ifndef QTF_FORMAT_PAL_FAMILY_H
#define QTF_FORMAT_PAL_FAMILY_H

#include "family.h"
#include "kmeans.h"

#define QTF__PAL_NO_PART UINT32_MAX

/* Everything the layout derives from (encoding, rows, cols). */
typedef struct qtf__pal_geom {
    uint64_t rows, cols;
    uint32_t bits, k, dim;        /* k = 2^bits entries, each `dim` floats */
    uint64_t rows_per_table;      /* the last table may cover fewer rows */
    uint64_t n_tables;
    uint64_t unit;                /* elements sharing one scale: cols (rowscale),
                                     group, or 0 (no scales) */
    uint64_t units_per_row;
    uint64_t n_scales;
    uint64_t vecs_per_row;        /* cols / dim */
    uint64_t row_bytes;           /* packed codes of one row, whole bytes */
    qtf_dtype lut_type;           /* F16 F32 I8 */
    int dq;
    /* part indices in storage order, QTF__PAL_NO_PART when absent */
    uint32_t p_lut, p_lut_scales, p_scales, p_dq_codes, p_dq_scales, p_dq_offset, p_codes;
    uint32_t n_parts;
    qtf_part_layout layout[QTF_MAX_PARTS];
} qtf__pal_geom;

/* Validates the PAL fields against the shape and fills g (QTF_E_ENCODING,
 * QTF_E_SHAPE, QTF_E_OVERFLOW). */
qtf_status qtf__pal_geom_init(qtf__pal_geom *g, const qtf_encoding *e, uint64_t rows,
                              uint64_t cols);

/* ---- stored precision of tables and scales (format/pal_lut.c) ---------- */

/* Rounds table t (k*dim floats in `vals`, replaced by the values a decoder
 * will see) to g->lut_type and writes it into the LUT part (and its
 * LUT_SCALES entry for I8). QTF_E_NUMERIC when an entry does not fit. */
qtf_status qtf__pal_store_table(const qtf__pal_geom *g, uint64_t t, float *vals,
                                void *const *parts);
/* Decodes table t into vals[k*dim]. */
void qtf__pal_load_table(const qtf__pal_geom *g, uint64_t t, float *vals,
                         const void *const *parts);

/* Rounds the n_scales scales (replaced by the decoded values) to the stored
 * form and writes the scale part(s): F16, or double-quantized.
 * QTF_E_NUMERIC when a scale does not fit. */
qtf_status qtf__pal_store_scales(const qtf__pal_geom *g, float *scales, void *const *parts);
/* Decodes all scales into scales[n_scales] (QTF_E_NOMEM possible with dq). */
qtf_status qtf__pal_load_scales(const qtf__pal_geom *g, float *scales,
                                const void *const *parts);

#endif
