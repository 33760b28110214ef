/* format/rows.c — the row unit of an encoding: how many rows of a tensor
 * must be decoded together so that every part can be cut at a row boundary.
 * Used by qtf_tensor_dequantize_rows() (lib/decode_rows.c) to decode only
 * the rows asked for.
 *
 * What makes a unit larger than one row (spec/encodings/):
 *   - PAL tables shared by `rows` rows (the whole tensor for rows=tensor);
 *   - double-quantized scales, whose f32 block scales cover QTF__DQ_BLOCK
 *     consecutive scales: a unit must hold a whole number of dq blocks.
 * Every other part (codes, scales, zeros, ggml blocks, plain elements) is
 * stored row by row in whole bytes. Parts whose size does not depend on the
 * row count (a per-tensor scale, the dq offset, one tensor-wide table) are
 * shared by every row and are passed whole. */
#include "family.h"

/* lcm capped at `cap` (any unit >= cap means "the whole tensor"). */
static uint64_t lcm_capped(uint64_t a, uint64_t b, uint64_t cap) {
    uint64_t g = qtf__gcd_u64(a, b), m;
    if (!qtf__mul_u64(&m, a / g, b) || m > cap) return cap;
    return m;
}

qtf_status qtf__encoding_row_unit(uint64_t *out, const qtf_encoding *e, uint64_t rows,
                                  uint64_t cols) {
    uint64_t unit = 1;
    if (rows == 0) {
        *out = 0;
        return QTF_OK;
    }
    if (e->id == QTF_ENC_PAL)
        unit = e->rows == QTF_ROWS_TENSOR ? rows : lcm_capped(unit, e->rows, rows);
    if (e->dq && e->group != QTF_GROUP_TENSOR) {
        /* scales of one row: the DQ_CODES part of a one-row layout */
        qtf_part_layout l[QTF_MAX_PARTS];
        uint32_t n = 0;
        uint64_t dims[2] = { 1, cols };
        qtf_status st = qtf_encoding_layout(l, &n, e, 2, dims);
        if (st) return st;
        for (uint32_t i = 0; i < n; i++)
            if (l[i].role == QTF_ROLE_DQ_CODES && l[i].size)
                unit = lcm_capped(unit, QTF__DQ_BLOCK / qtf__gcd_u64(QTF__DQ_BLOCK, l[i].size), rows);
    }
    *out = unit < rows ? unit : rows;
    return QTF_OK;
}
