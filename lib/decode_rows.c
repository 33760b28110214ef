/* lib/decode_rows.c — qtf_tensor_dequantize_rows: the rows of a tensor
 * asked for, decoded from the bytes of its parts that cover them. Parts are
 * cut at the encoding's row unit (format/rows.c) and given to
 * qtf_dequantize() as a smaller tensor of the same encoding, so the values
 * are those of the whole-tensor decode. Uses only the public reader API. */
#include <stdlib.h>
#include <string.h>

#include "format/family.h"

/* Decoded bytes of part k (zero-copy when stored plain; *owned is set when a
 * compressed part had to be decoded whole into a new buffer). */
static qtf_status part_bytes(const unsigned char **out, void **owned, const qtf_file *f,
                             uint64_t tensor, uint32_t k, const qtf_part_info *p) {
    *owned = NULL;
    if (p->compression == QTF_COMPRESSION_NONE) return qtf_part_data((const void **)out, f, tensor, k);
    if (p->decoded_size > SIZE_MAX) return qtf__error(QTF_E_NOMEM, "part too large");
    void *buf = qtf__malloc(p->decoded_size ? (size_t)p->decoded_size : 1);
    if (!buf)
        return qtf__error(QTF_E_NOMEM, "cannot allocate %llu bytes to decode part %u",
                          (unsigned long long)p->decoded_size, k);
    qtf_status st = qtf_part_decode(buf, p->decoded_size, f, tensor, k);
    if (st) {
        free(buf);
        return st;
    }
    *owned = buf;
    *out = buf;
    return QTF_OK;
}

typedef struct rows_ctx {
    const qtf_file *f;
    uint64_t tensor;
    const qtf_tensor_info *t;
    uint64_t rows, cols;
} rows_ctx;

/* Decodes the aligned rows [a, b) (a multiple of the unit; b a multiple of it
 * or the last row) into dst. */
static qtf_status decode_aligned(void *dst, qtf_dtype dst_type, const rows_ctx *c, uint64_t a,
                                 uint64_t b, unsigned threads) {
    const qtf_tensor_info *t = c->t;
    const qtf_encoding *e = &t->encoding;
    qtf_part_layout l1[QTF_MAX_PARTS], lall[QTF_MAX_PARTS], lhead[QTF_MAX_PARTS],
        lsub[QTF_MAX_PARTS];
    uint32_t n1, nall, nhead, nsub;
    uint64_t d1[2] = { 1, c->cols }, dall[2] = { c->rows, c->cols }, dhead[2] = { a, c->cols },
             dsub[2] = { b - a, c->cols };
    qtf_status st;
    if ((st = qtf_encoding_layout(l1, &n1, e, 2, d1)) ||
        (st = qtf_encoding_layout(lall, &nall, e, 2, dall)) ||
        (st = qtf_encoding_layout(lhead, &nhead, e, 2, dhead)) ||
        (st = qtf_encoding_layout(lsub, &nsub, e, 2, dsub)))
        return st;
    if (nall != t->n_parts || n1 != nall || nhead != nall || nsub != nall)
        return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': %u parts stored, the layout has "
                          "%u", qtf_file_name(c->f), t->name, t->n_parts, nall);
    qtf_part_view views[QTF_MAX_PARTS];
    void *owned[QTF_MAX_PARTS] = { 0 };
    for (uint32_t k = 0; k < nall && !st; k++) {
        const qtf_part_info *p = &t->parts[k];
        const unsigned char *bytes = NULL;
        if (p->decoded_size != lall[k].size) {
            st = qtf__error(QTF_E_ENCODING, "%s: tensor '%s': part %u holds %llu bytes, the "
                            "layout %llu", qtf_file_name(c->f), t->name, k,
                            (unsigned long long)p->decoded_size,
                            (unsigned long long)lall[k].size);
            break;
        }
        st = part_bytes(&bytes, &owned[k], c->f, c->tensor, k, p);
        if (st) break;
        uint64_t off = 0, size = lall[k].size;
        if (l1[k].size != lall[k].size) { /* row-major part: cut it */
            off = lhead[k].size;
            size = lsub[k].size;
            if (off > lall[k].size || size > lall[k].size - off) {
                st = qtf__error(QTF_E_ENCODING, "%s: tensor '%s': part %u: rows %llu..%llu "
                                "fall outside it", qtf_file_name(c->f), t->name, k,
                                (unsigned long long)a, (unsigned long long)b);
                break;
            }
        }
        views[k] = (qtf_part_view){ p->role, p->type, bytes + off, size };
    }
    if (!st) {
        st = qtf_dequantize(dst, dst_type, (b - a) * c->cols, e, 2, dsub, views, nall, threads);
        if (st) qtf__error_prefix("%s: tensor '%s': ", qtf_file_name(c->f), t->name);
    }
    for (uint32_t k = 0; k < QTF_MAX_PARTS; k++) free(owned[k]);
    return st;
}

qtf_status qtf_tensor_dequantize_rows(void *dst, qtf_dtype dst_type, uint64_t dst_count,
                                      const qtf_file *f, uint64_t tensor, uint64_t row_begin,
                                      uint64_t row_end, unsigned threads) {
    const qtf_tensor_info *t = qtf_tensor_get(f, tensor);
    if (!t)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_tensor_dequantize_rows: tensor index %llu "
                          "out of range", (unsigned long long)tensor);
    if (!t->encoding_known)
        return qtf__error(QTF_E_UNKNOWN_ENCODING, "tensor '%s': encoding %u is not known to "
                          "this version of libqtf", t->name, t->encoding_id);
    rows_ctx c = { f, tensor, t, 0, 0 };
    qtf_status st = qtf__shape_rows_cols(&c.rows, &c.cols, t->n_dims, t->dims);
    if (st) return st;
    if (row_begin > row_end || row_end > c.rows)
        return qtf__error(QTF_E_INVALID_ARG, "tensor '%s': rows %llu..%llu asked, it has %llu "
                          "rows", t->name, (unsigned long long)row_begin,
                          (unsigned long long)row_end, (unsigned long long)c.rows);
    if (dst_count != (row_end - row_begin) * c.cols || (!dst && dst_count))
        return qtf__error(QTF_E_INVALID_ARG, "tensor '%s': destination holds %llu elements, "
                          "rows %llu..%llu have %llu", t->name, (unsigned long long)dst_count,
                          (unsigned long long)row_begin, (unsigned long long)row_end,
                          (unsigned long long)((row_end - row_begin) * c.cols));
    if (dst_type != QTF_DTYPE_F32 && dst_type != QTF_DTYPE_F16 && dst_type != QTF_DTYPE_BF16)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_tensor_dequantize_rows: destination type %s,"
                          " expected F32, F16 or BF16", qtf_dtype_name(dst_type));
    if (dst_count == 0) {
        qtf__error_clear();
        return QTF_OK;
    }
    uint64_t unit;
    if ((st = qtf__encoding_row_unit(&unit, &t->encoding, c.rows, c.cols))) return st;
    uint64_t a = row_begin / unit * unit, b = (row_end + unit - 1) / unit * unit;
    if (b > c.rows) b = c.rows;
    size_t es = qtf_dtype_size(dst_type);
    if (a == row_begin && b == row_end) {
        st = decode_aligned(dst, dst_type, &c, a, b, threads);
    } else {
        /* rows outside the request but inside its units: decode and drop */
        uint64_t n = (b - a) * c.cols;
        unsigned char *tmp = n <= SIZE_MAX / es ? qtf__malloc((size_t)(n * es)) : NULL;
        if (!tmp)
            return qtf__error(QTF_E_NOMEM, "tensor '%s': cannot allocate %llu elements",
                              t->name, (unsigned long long)n);
        st = decode_aligned(tmp, dst_type, &c, a, b, threads);
        if (!st)
            memcpy(dst, tmp + (row_begin - a) * c.cols * es, (size_t)(dst_count * es));
        free(tmp);
    }
    if (st) return st;
    qtf__error_clear();
    return QTF_OK;
}
