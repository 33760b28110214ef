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
    uint64_t rows, cols, unit;
    const unsigned char *bytes[QTF_MAX_PARTS]; /* every part, decoded */
    int shared[QTF_MAX_PARTS];                 /* size independent of the rows */
} rows_ctx;

/* Views of rows [a, b) (a a multiple of the unit; b too, or the last row):
 * row-major parts cut at the sizes of the a-row and (b-a)-row layouts,
 * shared parts whole. */
static qtf_status sub_views(qtf_part_view *views, const rows_ctx *c, uint64_t a, uint64_t b) {
    const qtf_tensor_info *t = c->t;
    qtf_part_layout lhead[QTF_MAX_PARTS], lsub[QTF_MAX_PARTS];
    uint32_t nhead, nsub;
    uint64_t dhead[2] = { a, c->cols }, dsub[2] = { b - a, c->cols };
    qtf_status st;
    if ((st = qtf_encoding_layout(lhead, &nhead, &t->encoding, 2, dhead)) ||
        (st = qtf_encoding_layout(lsub, &nsub, &t->encoding, 2, dsub)))
        return st;
    for (uint32_t k = 0; k < t->n_parts; k++) {
        const qtf_part_info *p = &t->parts[k];
        uint64_t off = 0, size = p->decoded_size;
        if (!c->shared[k]) {
            off = lhead[k].size;
            size = lsub[k].size;
            if (off > p->decoded_size || size > p->decoded_size - off)
                return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': part %u: rows %llu..%llu "
                                  "fall outside it", qtf_file_name(c->f), t->name, k,
                                  (unsigned long long)a, (unsigned long long)b);
        }
        views[k] = (qtf_part_view){ p->role, p->type, c->bytes[k] + off, size };
    }
    return QTF_OK;
}

/* Dequantizes the aligned rows [a, b) into dst with qtf_dequantize(). */
static qtf_status decode_span(void *dst, qtf_dtype dst_type, unsigned threads,
                              const rows_ctx *c, uint64_t a, uint64_t b) {
    qtf_part_view views[QTF_MAX_PARTS];
    qtf_status st = sub_views(views, c, a, b);
    if (st) return st;
    uint64_t dsub[2] = { b - a, c->cols };
    st = qtf_dequantize(dst, dst_type, (b - a) * c->cols, &c->t->encoding, 2, dsub, views,
                        c->t->n_parts, threads);
    if (st) qtf__error_prefix("%s: tensor '%s': ", qtf_file_name(c->f), c->t->name);
    return st;
}

/* 16-bit destinations of quantized encodings: qtf_dequantize() would decode
 * the whole span into one f32 buffer first (a tensor-sized allocation whose
 * page faults cost more than the decode). Instead every thread decodes its
 * rows in pieces of about CHUNK_ELEMENTS through a cache-sized f32 buffer. */
#define CHUNK_ELEMENTS (1u << 16) /* 256 KiB of f32: stays in L2 next to the output */

typedef struct chunk_job {
    const rows_ctx *c;
    unsigned char *dst;    /* row a0 */
    qtf_dtype dst_type;
    uint64_t a0, b0, step; /* rows; step: rows per piece, a multiple of the unit */
} chunk_job;

static qtf_status chunk_range(void *ctx, uint64_t begin, uint64_t end) {
    const chunk_job *j = ctx;
    const rows_ctx *c = j->c;
    uint64_t r = j->a0 + begin * c->unit, stop = j->a0 + end * c->unit;
    if (stop > j->b0) stop = j->b0;
    float *tmp = qtf__malloc((size_t)(j->step * c->cols * 4));
    if (!tmp)
        return qtf__error(QTF_E_NOMEM, "%s: tensor '%s': cannot allocate %llu floats",
                          qtf_file_name(c->f), c->t->name,
                          (unsigned long long)(j->step * c->cols));
    qtf_status st = QTF_OK;
    while (!st && r < stop) {
        uint64_t r2 = stop - r < j->step ? stop : r + j->step;
        uint64_t n = (r2 - r) * c->cols;
        st = decode_span(tmp, QTF_DTYPE_F32, 1, c, r, r2);
        if (!st) st = qtf_convert_from_f32(j->dst + (r - j->a0) * c->cols * 2, j->dst_type, tmp, n);
        r = r2;
    }
    free(tmp);
    return st;
}

static int is_float_encoding(qtf_encoding_id id) {
    return id == QTF_ENC_RAW || id == QTF_ENC_F32 || id == QTF_ENC_F16 || id == QTF_ENC_BF16;
}

/* Decodes the aligned rows [a, b) into dst. */
static qtf_status decode_aligned(void *dst, qtf_dtype dst_type, const rows_ctx *c, uint64_t a,
                                 uint64_t b, unsigned threads) {
    if (dst_type == QTF_DTYPE_F32 || is_float_encoding(c->t->encoding.id))
        return decode_span(dst, dst_type, threads, c, a, b);
    chunk_job j = { c, dst, dst_type, a, b, 0 };
    uint64_t units = CHUNK_ELEMENTS / (c->cols ? c->cols : 1) / c->unit;
    j.step = (units ? units : 1) * c->unit;
    uint64_t n_units = (b - a + c->unit - 1) / c->unit;
    return qtf__parallel_for(n_units, j.step / c->unit, threads, chunk_range, &j);
}

/* Checks the stored parts against the layout, gets their bytes (decoding
 * compressed ones whole into owned[]) and marks the shared parts. */
static qtf_status prepare(rows_ctx *c, void **owned) {
    const qtf_tensor_info *t = c->t;
    qtf_part_layout l1[QTF_MAX_PARTS], lall[QTF_MAX_PARTS];
    uint32_t n1, nall;
    uint64_t d1[2] = { 1, c->cols }, dall[2] = { c->rows, c->cols };
    qtf_status st;
    if ((st = qtf_encoding_layout(l1, &n1, &t->encoding, 2, d1)) ||
        (st = qtf_encoding_layout(lall, &nall, &t->encoding, 2, dall)))
        return st;
    if (nall != t->n_parts || n1 != nall)
        return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': %u parts stored, the layout has "
                          "%u", qtf_file_name(c->f), t->name, t->n_parts, nall);
    for (uint32_t k = 0; k < nall; k++) {
        const qtf_part_info *p = &t->parts[k];
        if (p->decoded_size != lall[k].size || p->role != lall[k].role)
            return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': part %u is %s of %llu bytes, "
                              "the layout %s of %llu", qtf_file_name(c->f), t->name, k,
                              qtf_part_role_name(p->role), (unsigned long long)p->decoded_size,
                              qtf_part_role_name(lall[k].role),
                              (unsigned long long)lall[k].size);
        c->shared[k] = l1[k].size == lall[k].size;
        if ((st = part_bytes(&c->bytes[k], &owned[k], c->f, c->tensor, k, p))) return st;
    }
    return QTF_OK;
}

/* Rows [r0, r1) of a transposed tensor (spec/FORMAT.md section 6.4): they
 * are stored columns, so every stored row is decoded, in pieces of about
 * CHUNK_ELEMENTS (whole row units), and the columns asked for are gathered
 * into an f32 result, converted to dst_type at the end. Values are those
 * of the whole-tensor decode (same kernels on the same stored rows). */
static qtf_status decode_columns(void *dst, qtf_dtype dst_type, const rows_ctx *c, uint64_t r0,
                                 uint64_t r1, unsigned threads) {
    uint64_t n = r1 - r0, srows = c->rows, scols = c->cols;
    uint64_t units = CHUNK_ELEMENTS / (scols ? scols : 1) / c->unit;
    uint64_t step = (units ? units : 1) * c->unit;
    float *acc = dst_type == QTF_DTYPE_F32 ? dst : NULL;
    float *tmp = qtf__malloc((size_t)(step * scols * 4));
    if (!acc && n * srows <= SIZE_MAX / 4) acc = qtf__malloc((size_t)(n * srows * 4));
    qtf_status st = QTF_OK;
    if (!tmp || !acc)
        st = qtf__error(QTF_E_NOMEM, "%s: tensor '%s': cannot allocate buffers to gather rows "
                        "%llu..%llu", qtf_file_name(c->f), c->t->name, (unsigned long long)r0,
                        (unsigned long long)r1);
    for (uint64_t s = 0; !st && s < srows; s += step) {
        uint64_t s2 = srows - s < step ? srows : s + step;
        st = decode_span(tmp, QTF_DTYPE_F32, threads, c, s, s2);
        for (uint64_t r = r0; !st && r < r1; r++)
            for (uint64_t j = s; j < s2; j++) acc[(r - r0) * srows + j] = tmp[(j - s) * scols + r];
    }
    if (!st && acc != dst) st = qtf_convert_from_f32(dst, dst_type, acc, n * srows);
    free(tmp);
    if (acc != dst) free(acc);
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
    /* rows/cols of the logical tensor (what is asked for); c.rows/c.cols
     * those of the stored matrix (what the parts encode) */
    uint64_t rows, cols;
    rows_ctx c = { .f = f, .tensor = tensor, .t = t };
    qtf_status st = qtf__shape_rows_cols(&rows, &cols, t->n_dims, t->dims);
    if (!st) st = qtf__shape_rows_cols(&c.rows, &c.cols, t->n_dims, t->stored_dims);
    if (st) return st;
    if (row_begin > row_end || row_end > rows)
        return qtf__error(QTF_E_INVALID_ARG, "tensor '%s': rows %llu..%llu asked, it has %llu "
                          "rows", t->name, (unsigned long long)row_begin,
                          (unsigned long long)row_end, (unsigned long long)rows);
    if (dst_count != (row_end - row_begin) * cols || (!dst && dst_count))
        return qtf__error(QTF_E_INVALID_ARG, "tensor '%s': destination holds %llu elements, "
                          "rows %llu..%llu have %llu", t->name, (unsigned long long)dst_count,
                          (unsigned long long)row_begin, (unsigned long long)row_end,
                          (unsigned long long)((row_end - row_begin) * cols));
    if (dst_type != QTF_DTYPE_F32 && dst_type != QTF_DTYPE_F16 && dst_type != QTF_DTYPE_BF16)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_tensor_dequantize_rows: destination type %s,"
                          " expected F32, F16 or BF16", qtf_dtype_name(dst_type));
    if (dst_count == 0) {
        qtf__error_clear();
        return QTF_OK;
    }
    if ((st = qtf__encoding_row_unit(&c.unit, &t->encoding, c.rows, c.cols))) return st;
    uint64_t a = row_begin / c.unit * c.unit, b = (row_end + c.unit - 1) / c.unit * c.unit;
    if (b > c.rows) b = c.rows;
    size_t es = qtf_dtype_size(dst_type);
    void *owned[QTF_MAX_PARTS] = { 0 };
    if ((st = prepare(&c, owned))) goto out;
    if (t->layout == QTF_LAYOUT_TRANSPOSED) {
        st = decode_columns(dst, dst_type, &c, row_begin, row_end, threads);
    } else if (a == row_begin && b == row_end) {
        st = decode_aligned(dst, dst_type, &c, a, b, threads);
    } else {
        /* rows outside the request but inside its units: decode and drop */
        uint64_t n = (b - a) * c.cols;
        unsigned char *tmp = n <= SIZE_MAX / es ? qtf__malloc((size_t)(n * es)) : NULL;
        if (!tmp) {
            st = qtf__error(QTF_E_NOMEM, "tensor '%s': cannot allocate %llu elements", t->name,
                            (unsigned long long)n);
            goto out;
        }
        st = decode_aligned(tmp, dst_type, &c, a, b, threads);
        if (!st)
            memcpy(dst, tmp + (row_begin - a) * c.cols * es, (size_t)(dst_count * es));
        free(tmp);
    }
out:
    for (uint32_t k = 0; k < QTF_MAX_PARTS; k++) free(owned[k]);
    if (st) return st;
    qtf__error_clear();
    return QTF_OK;
}
