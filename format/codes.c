/* format/codes.c — the quantization codes of a tensor, one byte per code,
 * read from the decoded code part by the layout its table row names
 * (format/encodings.h, qtf__codes_kind); for code histograms (qtf-inspect). */
#include <string.h>

#include "encodings.h"

static const qtf__encoding_row *code_row(const qtf_encoding *enc) {
    if (qtf__encoding_validate(enc) != QTF_OK) return NULL;
    return qtf__encoding_row_of(enc->id);
}

qtf_status qtf_encoding_code_info(qtf_code_info *out, const qtf_encoding *enc) {
    if (!out || !enc) return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_code_info: NULL");
    const qtf__encoding_row *row = code_row(enc);
    if (!row) return qtf__error(QTF_E_ENCODING, "%s", qtf_error_detail());
    if (row->codes == QTF__CODES_NONE)
        return qtf__error(QTF_E_UNSUPPORTED, "encoding %s has no codes that can be listed",
                          row->name);
    /* the code part: the first part of the layout with the codes' role */
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n;
    uint64_t one[2] = { 1, row->block ? row->block : 256 }; /* any shape the layout takes */
    if (!row->fixed_block && (row->fields & QTF__F_GROUP) && enc->group &&
        enc->group != QTF_GROUP_TENSOR)
        one[1] = enc->group;
    qtf_status st = qtf_encoding_layout(layout, &n, enc, 2, one);
    if (st) return st;
    qtf_part_role want = row->codes == QTF__CODES_BLOCKS ? QTF_ROLE_BLOCKS : QTF_ROLE_CODES;
    uint32_t p = 0;
    while (p < n && layout[p].role != want) p++;
    if (p == n) return qtf__error(QTF_E_UNSUPPORTED, "encoding %s has no code part", row->name);
    memset(out, 0, sizeof *out);
    out->part = p;
    out->bits = enc->bits;
    out->is_signed = row->codes == QTF__CODES_BLOCKS && row->bits == 8;
    out->indexes_lut = enc->id == QTF_ENC_PAL;
    qtf__error_clear();
    return QTF_OK;
}

/* Rows of `bits`-bit codes, LSB first, each row padded to a byte; or one
 * code per byte (zstd layouts). */
static qtf_status unpack_rows(uint8_t *codes, uint64_t *out_n, const qtf_encoding *enc,
                              uint64_t rows, uint64_t cols, const uint8_t *p, uint64_t size) {
    unsigned bits = enc->bits;
    uint64_t dim = enc->id == QTF_ENC_PAL && enc->dim > 1 ? enc->dim : 1;
    uint64_t per_row = cols / dim;
    if (rows == 0 || per_row == 0 || size % rows != 0)
        return qtf__error(QTF_E_ENCODING, "code part of %llu bytes does not hold %llu rows",
                          (unsigned long long)size, (unsigned long long)rows);
    uint64_t row_bytes = size / rows, packed = (per_row * bits + 7) / 8;
    unsigned mask = (1u << bits) - 1u;
    if (row_bytes == per_row) {
        for (uint64_t i = 0; i < size; i++) codes[i] = (uint8_t)(p[i] & mask);
    } else if (row_bytes == packed) {
        for (uint64_t r = 0; r < rows; r++) {
            const uint8_t *row = p + r * row_bytes;
            for (uint64_t i = 0, bit = 0; i < per_row; i++, bit += bits) {
                unsigned shift = (unsigned)(bit & 7u);
                unsigned v = (unsigned)row[bit >> 3] >> shift;
                if (shift + bits > 8) v |= (unsigned)row[(bit >> 3) + 1] << (8 - shift);
                codes[r * per_row + i] = (uint8_t)(v & mask);
            }
        }
    } else {
        return qtf__error(QTF_E_ENCODING, "code rows of %llu bytes match neither %llu packed "
                          "nor %llu one-per-byte codes", (unsigned long long)row_bytes,
                          (unsigned long long)packed, (unsigned long long)per_row);
    }
    *out_n = rows * per_row;
    return QTF_OK;
}

/* ggml blocks: code_offset bytes of scales, then `block` codes; 8-bit codes
 * are bytes, 4-bit ones nibbles (low: element j, high: j + 16 of each 32);
 * 5-bit codes take bit 4 from the u32 just before the nibbles. */
static void unpack_blocks(uint8_t *codes, const qtf__encoding_row *row, const uint8_t *p,
                          uint64_t n_blocks) {
    for (uint64_t b = 0; b < n_blocks; b++) {
        const uint8_t *q = p + b * row->bytes + row->code_offset;
        uint8_t *out = codes + b * row->block;
        if (row->bits == 8) {
            memcpy(out, q, row->block);
            continue;
        }
        uint32_t qh = row->bits == 5 ? qtf__ld32(q - 4) : 0;
        for (unsigned k = 0; k < row->block / 2; k++) {
            unsigned j = k % 16, base = (k / 16) * 32;
            out[base + j] = (uint8_t)((q[k] & 0x0Fu) | (((qh >> j) & 1u) << 4));
            out[base + j + 16] = (uint8_t)((q[k] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
        }
    }
}

qtf_status qtf_encoding_unpack_codes(uint8_t *codes, uint64_t cap, uint64_t *out_n,
                                     const qtf_encoding *enc, uint32_t n_dims,
                                     const uint64_t *dims, const void *part, uint64_t size) {
    if (!codes || !out_n || !enc || (size && !part))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_unpack_codes: NULL argument");
    *out_n = 0;
    qtf_code_info info;
    qtf_status st = qtf_encoding_code_info(&info, enc);
    if (st) return st;
    uint64_t rows, cols, n;
    if ((st = qtf__shape_rows_cols(&rows, &cols, n_dims, dims)) != QTF_OK) return st;
    if (!qtf__mul_u64(&n, rows, cols))
        return qtf__error(QTF_E_OVERFLOW, "shape overflows");
    if (cap < n)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_unpack_codes: room for %llu codes, "
                          "%llu needed", (unsigned long long)cap, (unsigned long long)n);
    const qtf__encoding_row *row = qtf__encoding_row_of(enc->id);
    if (row->codes == QTF__CODES_BLOCKS) {
        uint64_t n_blocks = size / row->bytes;
        if (size % row->bytes || n_blocks * row->block != n)
            return qtf__error(QTF_E_ENCODING, "encoding %s: a part of %llu bytes is not %llu "
                              "blocks of %u bytes", row->name, (unsigned long long)size,
                              (unsigned long long)(n / row->block), row->bytes);
        unpack_blocks(codes, row, part, n_blocks);
        *out_n = n;
    } else if ((st = unpack_rows(codes, out_n, enc, rows, cols, part, size)) != QTF_OK) {
        return st;
    }
    qtf__error_clear();
    return QTF_OK;
}
