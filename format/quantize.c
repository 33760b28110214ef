/* format/quantize.c — the public quantize/dequantize entry points: argument
 * checks, part allocation and validation against the layout, and dispatch to
 * the encoding families. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "encodings.h"


void qtf_encoded_free(qtf_encoded *e) {
    if (!e) return;
    for (uint32_t i = 0; i < e->n_parts && i < QTF_MAX_PARTS; i++) free(e->data[i]);
    free(e);
}

uint32_t qtf_encoded_views(qtf_part_view *out, const qtf_encoded *e) {
    if (!out || !e) return 0;
    uint32_t n = e->n_parts < QTF_MAX_PARTS ? e->n_parts : QTF_MAX_PARTS;
    for (uint32_t i = 0; i < n; i++)
        out[i] = (qtf_part_view){ .role = e->layout[i].role, .type = e->layout[i].type,
                                  .data = e->data[i], .size = e->layout[i].size };
    return n;
}

qtf_status qtf_quantize(qtf_encoded **out, const qtf_encoding *enc, const float *src,
                        uint32_t n_dims, const uint64_t *dims,
                        const qtf_quantize_options *opts) {
    if (!out || !enc) return qtf__error(QTF_E_INVALID_ARG, "qtf_quantize: NULL argument");
    *out = NULL;
    /* every older version is accepted: fields it lacks keep their defaults */
    if (opts && (opts->version < 1 || opts->version > QTF_QUANTIZE_OPTIONS_VERSION))
        return qtf__error(QTF_E_INVALID_ARG,
                          "qtf_quantize: options version %u, expected 1..%u (use "
                          "QTF_QUANTIZE_OPTIONS_INIT)", opts->version,
                          QTF_QUANTIZE_OPTIONS_VERSION);
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n_parts;
    qtf_status st = qtf_encoding_layout(layout, &n_parts, enc, n_dims, dims);
    if (st) return st;
    uint64_t rows, cols;
    if ((st = qtf__shape_rows_cols(&rows, &cols, n_dims, dims)) != QTF_OK) return st;
    uint64_t n = rows * cols;  /* checked by the layout: every layout stores n elements */
    if (n && !src) return qtf__error(QTF_E_INVALID_ARG, "qtf_quantize: src is NULL");

    const float *importance = opts ? opts->importance : NULL;
    if (importance && n) {
        for (uint64_t c = 0; c < cols; c++)
            if (!(importance[c] >= 0.0f) || isinf(importance[c]))
                return qtf__error(QTF_E_INVALID_ARG,
                                  "qtf_quantize: importance[%llu] is %g, expected a finite "
                                  "value >= 0", (unsigned long long)c, (double)importance[c]);
        /* The searches sum w * x^2 in f32: all-zero weights make every
         * choice equally good, and sums far from 1 overflow or vanish, so
         * either would silently disable the search. Only relative weights
         * matter: the caller can rescale. */
        double sum = 0.0;
        for (uint64_t c = 0; c < cols; c++) sum += importance[c];
        if (sum == 0.0)
            return qtf__error(QTF_E_INVALID_ARG, "qtf_quantize: importance is all zero (%llu "
                              "weights): it would disable the search", (unsigned long long)cols);
        if (sum > 0x1p60 || sum < 0x1p-60)
            return qtf__error(QTF_E_INVALID_ARG, "qtf_quantize: importance weights sum to %g, "
                              "outside [2^-60, 2^60] (only relative weights matter: rescale "
                              "them)", sum);
    }

    qtf_encoded *e = qtf__calloc(1, sizeof *e);
    if (!e) return qtf__error(QTF_E_NOMEM, "qtf_quantize: out of memory");
    e->n_parts = n_parts;
    memcpy(e->layout, layout, sizeof layout);
    for (uint32_t i = 0; i < n_parts; i++) {
        if (layout[i].size > SIZE_MAX) {
            qtf_encoded_free(e);
            return qtf__error(QTF_E_NOMEM, "qtf_quantize: part %u (%s) of %llu bytes does not "
                              "fit in memory", i, qtf_part_role_name(layout[i].role),
                              (unsigned long long)layout[i].size);
        }
        e->data[i] = qtf__malloc((size_t)layout[i].size);
        if (!e->data[i]) {
            qtf_encoded_free(e);
            return qtf__error(QTF_E_NOMEM, "qtf_quantize: part %u (%s): cannot allocate %llu "
                              "bytes", i, qtf_part_role_name(layout[i].role),
                              (unsigned long long)layout[i].size);
        }
    }
    if (n == 0) {
        /* Families are not called for empty tensors; the few bytes some
         * layouts still have (a dq offset) are zero by definition. */
        for (uint32_t i = 0; i < n_parts; i++)
            if (layout[i].size) memset(e->data[i], 0, (size_t)layout[i].size);
    } else {
        unsigned threads = opts ? opts->threads : 0;
        st = qtf__encoding_row_of(enc->id)->ops->quantize(enc, src, rows, cols, importance,
                                                          threads, e->data);
        if (st) {
            qtf_encoded_free(e);
            return st;
        }
    }
    *out = e;
    qtf__error_clear();
    return QTF_OK;
}

/* --- dequantization -------------------------------------------------------- */

static qtf_status check_parts(const qtf_encoding *enc, const qtf_part_layout *layout,
                              uint32_t n_layout, const qtf_part_view *parts, uint32_t n_parts) {
    char name[64];
    if (qtf_encoding_format(name, sizeof name, enc) != QTF_OK) strcpy(name, "?");
    if (n_parts != n_layout)
        return qtf__error(QTF_E_ENCODING, "encoding %s: %u parts given, the layout has %u",
                          name, n_parts, n_layout);
    if (n_parts && !parts) return qtf__error(QTF_E_INVALID_ARG, "qtf_dequantize: parts is NULL");
    for (uint32_t i = 0; i < n_parts; i++) {
        const qtf_part_view *p = &parts[i];
        const qtf_part_layout *l = &layout[i];
        if (p->role != l->role || p->type != l->type || p->size != l->size)
            return qtf__error(QTF_E_ENCODING,
                              "encoding %s: part %u is %s %s of %llu bytes, expected %s %s "
                              "of %llu bytes", name, i, qtf_part_role_name(p->role),
                              qtf_dtype_name(p->type), (unsigned long long)p->size,
                              qtf_part_role_name(l->role), qtf_dtype_name(l->type),
                              (unsigned long long)l->size);
        if (p->size && !p->data)
            return qtf__error(QTF_E_INVALID_ARG, "encoding %s: part %u (%s) has no data", name,
                              i, qtf_part_role_name(p->role));
    }
    return QTF_OK;
}

/* Float encodings narrowed straight to a 16-bit destination, chunk by
 * chunk, so that no f32 copy of the whole tensor is needed. */
typedef struct narrow_job {
    qtf_dtype src_type, dst_type;
    const unsigned char *src;
    unsigned char *dst;
} narrow_job;

static qtf_status narrow_range(void *ctx, uint64_t begin, uint64_t end) {
    const narrow_job *j = ctx;
    size_t ss = qtf_dtype_size(j->src_type);
    if (j->src_type == j->dst_type) {
        memcpy(j->dst + begin * 2, j->src + begin * 2, (size_t)(end - begin) * 2);
        return QTF_OK;
    }
    float tmp[2048];
    for (uint64_t i = begin; i < end; i += 2048) {
        uint64_t m = end - i < 2048 ? end - i : 2048;
        qtf_status st = qtf_convert_to_f32(tmp, j->src + i * ss, j->src_type, m);
        if (!st) st = qtf_convert_from_f32(j->dst + i * 2, j->dst_type, tmp, m);
        if (st) return st;
    }
    return QTF_OK;
}

typedef struct half_job {
    qtf_dtype dst_type;
    const float *src;
    unsigned char *dst;
} half_job;

static qtf_status to_half_range(void *ctx, uint64_t begin, uint64_t end) {
    const half_job *j = ctx;
    return qtf_convert_from_f32(j->dst + begin * 2, j->dst_type, j->src + begin, end - begin);
}

qtf_status qtf_dequantize(void *dst, qtf_dtype dst_type, uint64_t dst_count,
                          const qtf_encoding *enc, uint32_t n_dims, const uint64_t *dims,
                          const qtf_part_view *parts, uint32_t n_parts, unsigned threads) {
    if (!enc) return qtf__error(QTF_E_INVALID_ARG, "qtf_dequantize: encoding is NULL");
    if (dst_type != QTF_DTYPE_F32 && dst_type != QTF_DTYPE_F16 && dst_type != QTF_DTYPE_BF16)
        return qtf__error(QTF_E_INVALID_ARG,
                          "qtf_dequantize: destination type %s, expected F32, F16 or BF16",
                          qtf_dtype_name(dst_type));
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n_layout;
    qtf_status st = qtf_encoding_layout(layout, &n_layout, enc, n_dims, dims);
    if (st) return st;
    uint64_t rows, cols;
    if ((st = qtf__shape_rows_cols(&rows, &cols, n_dims, dims)) != QTF_OK) return st;
    uint64_t n = rows * cols;
    if (dst_count != n)
        return qtf__error(QTF_E_INVALID_ARG,
                          "qtf_dequantize: destination holds %llu elements, the tensor has %llu",
                          (unsigned long long)dst_count, (unsigned long long)n);
    if ((st = check_parts(enc, layout, n_layout, parts, n_parts)) != QTF_OK) return st;
    if (n == 0) {
        qtf__error_clear();
        return QTF_OK;
    }
    if (!dst) return qtf__error(QTF_E_INVALID_ARG, "qtf_dequantize: dst is NULL");

    const void *data[QTF_MAX_PARTS];
    for (uint32_t i = 0; i < n_parts; i++) data[i] = parts[i].data;
    const qtf__encoding_row *row = qtf__encoding_row_of(enc->id);
    if (dst_type == QTF_DTYPE_F32)
        return row->ops->dequantize(dst, enc, rows, cols, data, threads);

    if (row->ops->dequantize == qtf__float_dequantize) { /* parts hold the values */
        narrow_job j = { .src_type = layout[0].type, .dst_type = dst_type, .src = data[0],
                         .dst = dst };
        return qtf__parallel_for(n, 1u << 16, threads, narrow_range, &j);
    }
    /* Families decode whole tensors (tables and scales may span rows), so a
     * 16-bit destination goes through one f32 buffer. */
    if (n > SIZE_MAX / 4)
        return qtf__error(QTF_E_NOMEM, "qtf_dequantize: %llu elements do not fit in memory",
                          (unsigned long long)n);
    float *tmp = qtf__malloc((size_t)n * 4);
    if (!tmp)
        return qtf__error(QTF_E_NOMEM, "qtf_dequantize: cannot allocate %llu bytes",
                          (unsigned long long)n * 4);
    st = row->ops->dequantize(tmp, enc, rows, cols, data, threads);
    if (!st) {
        half_job j = { .dst_type = dst_type, .src = tmp, .dst = dst };
        st = qtf__parallel_for(n, 1u << 16, threads, to_half_range, &j);
    }
    free(tmp);
    return st;
}
