/* format/pal.c — the palettized family (QTF_ENC_PAL): layout, quantization
 * and dequantization. Normative layout: spec/encodings/palettized.md.
 *
 * Quantization, in phases that each parallelise over independent items (rows
 * or tables) so that the bytes never depend on the thread count:
 *   1. reject NaN/Inf (rows);
 *   2. scales (rowscale or group): absmax of each unit (rows), then rounded
 *      to the stored form for the whole tensor (double quantization needs
 *      every scale at once);
 *   3. one k-means per table on the values divided by their stored scales,
 *      each value weighted by importance[col] * scale^2 so that the table
 *      minimises the error in the original domain (tables);
 *   4. with scales, twice: choose each unit's scale by a least-squares search
 *      given the table, store the scales again and refit the tables;
 *   5. indices: nearest entry of the stored table for value / stored scale,
 *      packed LSB first, each row starting on a byte (rows).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "block_family.h"
#include "pal_family.h"
#include "stream.h"

/* ---- layout ------------------------------------------------------------- */

static int pal_bits_ok(uint32_t b) {
    return b == 1 || b == 2 || b == 3 || b == 4 || b == 6 || b == 8;
}

static void add_part(qtf__pal_geom *g, uint32_t *index, qtf_part_role role, qtf_dtype type,
                     uint64_t size) {
    *index = g->n_parts;
    g->layout[g->n_parts++] = (qtf_part_layout){ role, type, size };
}

qtf_status qtf__pal_geom_init(qtf__pal_geom *g, const qtf_encoding *e, uint64_t rows,
                              uint64_t cols) {
    memset(g, 0, sizeof *g);
    g->p_lut = g->p_lut_scales = g->p_scales = g->p_dq_codes = g->p_dq_scales =
        g->p_dq_offset = g->p_codes = QTF__PAL_NO_PART;
    if (e->id != QTF_ENC_PAL)
        return qtf__error(QTF_E_ENCODING, "pal: encoding id %u is not PAL", (unsigned)e->id);
    if (!pal_bits_ok(e->bits))
        return qtf__error(QTF_E_ENCODING, "pal: bits = %u, expected 1, 2, 3, 4, 6 or 8",
                          e->bits);
    if (e->dim != 1 && e->dim != 2 && e->dim != 4)
        return qtf__error(QTF_E_ENCODING, "pal: dim = %u, expected 1, 2 or 4", e->dim);
    if (e->lut_type != QTF_DTYPE_F16 && e->lut_type != QTF_DTYPE_F32 &&
        e->lut_type != QTF_DTYPE_I8)
        return qtf__error(QTF_E_ENCODING, "pal: lut type %s, expected F16, F32 or I8",
                          qtf_dtype_name(e->lut_type));
    if (e->rowscale > 1)
        return qtf__error(QTF_E_ENCODING, "pal: rowscale = %u, expected 0 or 1", e->rowscale);
    if (e->dq > 1)
        return qtf__error(QTF_E_ENCODING, "pal: dq = %u, expected 0 or 1", e->dq);
    if (e->group == QTF_GROUP_TENSOR)
        return qtf__error(QTF_E_ENCODING, "pal: group must be 0 (none) or a group length");
    if (e->rowscale && e->group)
        return qtf__error(QTF_E_ENCODING,
                          "pal: rowscale and group = %u are exclusive (group scales already "
                          "normalise every part of the row)", e->group);
    if (e->group % e->dim)
        return qtf__error(QTF_E_ENCODING, "pal: group = %u is not a multiple of dim = %u",
                          e->group, e->dim);
    const int has_scales = e->rowscale || e->group;
    if (e->dq && !has_scales)
        return qtf__error(QTF_E_ENCODING, "pal: dq needs rowscale or group scales to quantize");
    /* the scale type is implied (spec/encodings/README.md): F16 for plain
     * scales; with dq or without scales there is no stored scale type */
    if (has_scales && !e->dq && e->scale_type != QTF_DTYPE_F16)
        return qtf__error(QTF_E_ENCODING, "pal: scale type %s, expected F16 (implied)",
                          qtf_dtype_name(e->scale_type));
    if (cols % e->dim)
        return qtf__error(QTF_E_SHAPE, "pal: row length %llu is not a multiple of dim = %u",
                          (unsigned long long)cols, e->dim);
    if (e->group && cols % e->group)
        return qtf__error(QTF_E_SHAPE, "pal: row length %llu is not a multiple of group = %u",
                          (unsigned long long)cols, e->group);

    g->rows = rows;
    g->cols = cols;
    g->bits = e->bits;
    g->k = 1u << e->bits;
    g->dim = e->dim;
    g->lut_type = e->lut_type;
    g->dq = (int)e->dq;
    g->vecs_per_row = cols / e->dim;
    uint64_t n_elements;
    if (!qtf__mul_u64(&n_elements, rows, cols))
        return qtf__error(QTF_E_OVERFLOW, "pal: %llu x %llu elements overflow",
                          (unsigned long long)rows, (unsigned long long)cols);
    const int empty = n_elements == 0;
    g->rows_per_table = e->rows == QTF_ROWS_TENSOR || e->rows > rows ? rows : e->rows;
    g->n_tables = empty ? 0 : (rows + g->rows_per_table - 1) / g->rows_per_table;
    if (has_scales) {
        g->unit = e->rowscale ? cols : e->group;
        g->units_per_row = g->unit ? cols / g->unit : 0;
        g->n_scales = empty ? 0 : rows * g->units_per_row; /* <= n_elements */
    }
    uint64_t row_bits, lut_entries, lut_bytes, codes;
    if (!qtf__mul_u64(&row_bits, g->vecs_per_row, g->bits) ||
        !qtf__mul_u64(&lut_entries, g->n_tables, (uint64_t)g->k * g->dim) ||
        !qtf__mul_u64(&lut_bytes, lut_entries, qtf_dtype_size(g->lut_type)))
        return qtf__error(QTF_E_OVERFLOW, "pal: layout of %llu x %llu overflows",
                          (unsigned long long)rows, (unsigned long long)cols);
    g->row_bytes = row_bits / 8 + (row_bits % 8 != 0);
    if (!qtf__mul_u64(&codes, empty ? 0 : rows, g->row_bytes))
        return qtf__error(QTF_E_OVERFLOW, "pal: codes of %llu rows overflow",
                          (unsigned long long)rows);

    add_part(g, &g->p_lut, QTF_ROLE_LUT, g->lut_type, lut_bytes);
    if (g->lut_type == QTF_DTYPE_I8)
        add_part(g, &g->p_lut_scales, QTF_ROLE_LUT_SCALES, QTF_DTYPE_F32, g->n_tables * 4);
    if (has_scales && g->dq) {
        uint64_t blocks = (g->n_scales + QTF__DQ_BLOCK - 1) / QTF__DQ_BLOCK;
        add_part(g, &g->p_dq_codes, QTF_ROLE_DQ_CODES, QTF_DTYPE_U8, g->n_scales);
        add_part(g, &g->p_dq_scales, QTF_ROLE_DQ_SCALES, QTF_DTYPE_F32, blocks * 4);
        add_part(g, &g->p_dq_offset, QTF_ROLE_DQ_OFFSET, QTF_DTYPE_F32, empty ? 0 : 4);
    } else if (has_scales) {
        uint64_t bytes;
        if (!qtf__mul_u64(&bytes, g->n_scales, 2))
            return qtf__error(QTF_E_OVERFLOW, "pal: scales overflow");
        add_part(g, &g->p_scales, e->rowscale ? QTF_ROLE_ROWSCALES : QTF_ROLE_SCALES,
                 QTF_DTYPE_F16, bytes);
    }
    add_part(g, &g->p_codes, QTF_ROLE_CODES, QTF_DTYPE_PACKED, codes);
    return QTF_OK;
}

qtf_status qtf__pal_layout(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *e,
                           uint64_t rows, uint64_t cols) {
    qtf__pal_geom g;
    qtf_status st = qtf__pal_geom_init(&g, e, rows, cols);
    if (st != QTF_OK) return st;
    memcpy(out, g.layout, g.n_parts * sizeof *out);
    *out_n = g.n_parts;
    return QTF_OK;
}

/* ---- quantization ------------------------------------------------------- */

/* Scale search: candidate scales as fractions of the absmax. Below 1 the
 * largest values clip to the outermost entries in exchange for finer steps
 * everywhere else, which pays on heavy-tailed groups. */
static const float search_fractions[] = { 0.55f, 0.625f, 0.70f, 0.775f, 0.85f, 0.925f, 1.00f };
#define SEARCH_ROUNDS 2
#define VEC_LLOYD_MAX 24u

typedef struct pal_ctx {
    qtf__pal_geom g;
    const float *src;
    const float *imp;         /* NULL = uniform */
    float *raw_scales;        /* search output, before rounding */
    float *scales;            /* stored (rounded) scales, n_scales */
    float *tables;            /* stored tables, n_tables * k * dim */
    void *const *parts;
    int opt;                  /* search == 2: the robust fit of refine_scale */
} pal_ctx;

static qtf_status check_finite(void *vc, uint64_t begin, uint64_t end) {
    const pal_ctx *c = vc;
    for (uint64_t r = begin; r < end; r++) {
        const float *x = c->src + r * c->g.cols;
        uint64_t j = qtf__first_nonfinite(x, c->g.cols);
        if (j < c->g.cols)
            return qtf__error(QTF_E_NUMERIC,
                              "pal: element [row %llu, col %llu] is %s; palettization "
                              "needs finite values",
                              (unsigned long long)r, (unsigned long long)j,
                              isnan(x[j]) ? "NaN" : "Inf");
    }
    return QTF_OK;
}

static qtf_status absmax_scales(void *vc, uint64_t begin, uint64_t end) {
    pal_ctx *c = vc;
    const uint64_t unit = c->g.unit, upr = c->g.units_per_row;
    for (uint64_t r = begin; r < end; r++) {
        for (uint64_t u = 0; u < upr; u++) {
            const float *x = c->src + r * c->g.cols + u * unit;
            float a = 0.0f;
            for (uint64_t j = 0; j < unit; j++) {
                float t = fabsf(x[j]);
                if (t > a) a = t;
            }
            c->raw_scales[r * upr + u] = a;
        }
    }
    return QTF_OK;
}

static qtf_status fit_one_table(pal_ctx *c, uint64_t t) {
    const qtf__pal_geom *g = &c->g;
    const uint64_t r0 = t * g->rows_per_table;
    const uint64_t r1 = r0 + g->rows_per_table < g->rows ? r0 + g->rows_per_table : g->rows;
    const uint64_t cols = g->cols, n = (r1 - r0) * cols;
    const float *u = c->src + r0 * cols;
    float *ubuf = NULL, *wbuf = NULL;
    if (g->unit || c->imp) {
        wbuf = qtf__malloc((size_t)n * sizeof *wbuf);
        if (g->unit) ubuf = qtf__malloc((size_t)n * sizeof *ubuf);
        if (!wbuf || (g->unit && !ubuf)) {
            free(ubuf); free(wbuf);
            return qtf__error(QTF_E_NOMEM, "pal: no memory for table %llu (%llu values)",
                              (unsigned long long)t, (unsigned long long)n);
        }
        /* weights relative to the table's largest scale: same optimum, no
         * overflow of scale^2 */
        float smax = 0.0f;
        if (g->unit)
            for (uint64_t i = r0 * g->units_per_row; i < r1 * g->units_per_row; i++)
                if (fabsf(c->scales[i]) > smax) smax = fabsf(c->scales[i]);
        for (uint64_t r = r0; r < r1; r++) {
            const float *x = c->src + r * cols;
            float *ur = ubuf ? ubuf + (r - r0) * cols : NULL;
            float *wr = wbuf + (r - r0) * cols;
            if (!g->unit) {
                memcpy(wr, c->imp, (size_t)cols * sizeof *wr);
                continue;
            }
            for (uint64_t v = 0; v < g->units_per_row; v++) {
                const float s = c->scales[r * g->units_per_row + v];
                const float rel = smax > 0.0f ? s / smax : 0.0f;
                const float ws = rel * rel;
                const uint64_t j0 = v * g->unit;
                for (uint64_t j = j0; j < j0 + g->unit; j++) {
                    if (s != 0.0f) {
                        ur[j] = x[j] / s;
                        wr[j] = c->imp ? c->imp[j] * ws : ws;
                    } else {
                        ur[j] = 0.0f;
                        wr[j] = 0.0f;
                    }
                }
            }
        }
        if (ubuf) u = ubuf;
    }
    const uint64_t kd = (uint64_t)g->k * g->dim;
    float *vals = c->tables + t * kd;
    qtf_status st = g->dim == 1
                        ? qtf__kmeans1d(vals, g->k, u, wbuf, n, NULL)
                        : qtf__kmeans_vec(vals, g->k, g->dim, u, wbuf, n / g->dim, VEC_LLOYD_MAX);
    free(ubuf);
    free(wbuf);
    if (st != QTF_OK) return st;
    return qtf__pal_store_table(g, t, vals, c->parts);
}

static qtf_status fit_tables(void *vc, uint64_t begin, uint64_t end) {
    for (uint64_t t = begin; t < end; t++) {
        qtf_status st = fit_one_table(vc, t);
        if (st != QTF_OK) return st;
    }
    return QTF_OK;
}

/* Per-row view of the stored table a row uses, rebuilt when the table
 * changes. */
typedef struct row_table {
    uint64_t t;
    const float *vals;
    qtf__nearest nr;        /* dim 1 */
    qtf__vnearest vn;       /* dim 2, 4 */
} row_table;

static void row_table_use(row_table *rt, const pal_ctx *c, uint64_t r) {
    uint64_t t = r / c->g.rows_per_table;
    if (rt->vals && rt->t == t) return;
    rt->t = t;
    rt->vals = c->tables + t * (uint64_t)c->g.k * c->g.dim;
    if (c->g.dim == 1) qtf__nearest_init(&rt->nr, rt->vals, c->g.k);
    else qtf__vnearest_init(&rt->vn, rt->vals, c->g.k, c->g.dim);
}

/* Indices of the n elements x (n a multiple of dim) against the table at
 * scale s (s == 0: the entry nearest 0). pw: importance of these columns. */
static void assign_span(const pal_ctx *c, const row_table *rt, const float *x, const float *pw,
                        uint64_t n, float s, int has_scale, uint8_t *idx) {
    const uint32_t dim = c->g.dim;
    if (dim == 1) {
        /* x * (1/s): one division per span; a scale so small that 1/s
         * overflows falls back to dividing */
        const float inv = has_scale && s != 0.0f ? 1.0f / s : 0.0f;
        if (!has_scale) {
            for (uint64_t j = 0; j < n; j++) idx[j] = (uint8_t)qtf__nearest_find(&rt->nr, x[j]);
        } else if (isfinite(inv)) {
            for (uint64_t j = 0; j < n; j++)
                idx[j] = (uint8_t)qtf__nearest_find(&rt->nr, x[j] * inv);
        } else {
            for (uint64_t j = 0; j < n; j++)
                idx[j] = (uint8_t)qtf__nearest_find(&rt->nr, x[j] / s);
        }
        return;
    }
    float p[4];
    for (uint64_t j = 0; j < n; j += dim) {
        for (uint32_t d = 0; d < dim; d++)
            p[d] = !has_scale ? x[j + d] : s != 0.0f ? x[j + d] / s : 0.0f;
        idx[j / dim] = (uint8_t)qtf__vnearest_find(&rt->vn, p, pw ? pw + j : NULL);
    }
}

/* Weighted squared error of the unit x at scale s with the nearest
 * entries (what a decoder sees, before the scale is rounded); leaves those
 * entries in idx and the summed weight in *sw. */
static double unit_error(const pal_ctx *c, const row_table *rt, const float *x, const float *pw,
                         uint64_t n, double s, uint8_t *idx, double *sw) {
    const uint32_t dim = c->g.dim;
    assign_span(c, rt, x, pw, n, (float)s, 1, idx);
    double err = 0.0, wsum = 0.0;
    for (uint64_t j = 0; j < n; j++) {
        double w = pw ? pw[j] : 1.0;
        double e = (double)x[j] - s * rt->vals[(uint64_t)idx[j / dim] * dim + j % dim];
        wsum += w;
        err += w * e * e;
    }
    *sw = wsum;
    return err;
}

/* `opt` (issue 15 item 2): from the searched scale, rounds of the robust
 * alternating fit of format/block_hqq.c on the unit's scale: nearest
 * entries at s; residuals e measured in units of their weighted RMS; an L_p
 * (p = 0.7) proximal step marks the "allowed" part of each residual (large
 * for outliers, none for the bulk); s = weighted least squares of s * t on
 * x minus that part; beta grows each round. Every iterate is judged by
 * the exact weighted error (unit_error) and kept only if strictly better,
 * so opt is never worse than the search on any unit. Fixed order: the
 * result depends only on the unit's data. */
#define OPT_ROUNDS 6
#define OPT_P 0.7
static float refine_scale(const pal_ctx *c, const row_table *rt, const float *x,
                          const float *pw, uint64_t n, float s0, uint8_t *idx) {
    const uint32_t dim = c->g.dim;
    double sw, s = s0, beta = 1.0;
    /* err: the error at s, whose nearest entries are in idx */
    double err = unit_error(c, rt, x, pw, n, s, idx, &sw), best = err;
    float best_s = s0;
    for (int round = 0; round < OPT_ROUNDS && err > 0.0 && sw > 0.0; round++) {
        const double sigma_inv = 1.0 / sqrt(err / sw);
        double syt = 0.0, stt = 0.0;
        for (uint64_t j = 0; j < n; j++) {
            double w = pw ? pw[j] : 1.0;
            double t = rt->vals[(uint64_t)idx[j / dim] * dim + j % dim];
            double e = (double)x[j] - s * t, y = x[j];
            double u = fabs(e) * sigma_inv;
            double keep = u > 0.0 ? u - pow(u, OPT_P - 1.0) / beta : 0.0;
            if (keep > 0.0) y -= copysign(keep / sigma_inv, e);
            syt += w * y * t;
            stt += w * t * t;
        }
        if (!(stt > 0.0)) break;
        double ns = syt / stt;
        if (!isfinite(ns) || ns == 0.0 || (float)ns == (float)s) break;
        err = unit_error(c, rt, x, pw, n, ns, idx, &sw);
        if (err < best) {
            best = err;
            best_s = (float)ns;
        }
        s = ns;
        beta *= 1.5;
    }
    return best_s;
}

static qtf_status search_scales(void *vc, uint64_t begin, uint64_t end) {
    pal_ctx *c = vc;
    const qtf__pal_geom *g = &c->g;
    const uint64_t unit = g->unit, upr = g->units_per_row;
    const uint32_t dim = g->dim;
    uint8_t *idx = qtf__malloc((size_t)unit);
    if (!idx) return qtf__error(QTF_E_NOMEM, "pal: no memory for a scale search");
    row_table rt;
    memset(&rt, 0, sizeof rt);
    for (uint64_t r = begin; r < end; r++) {
        row_table_use(&rt, c, r);
        for (uint64_t v = 0; v < upr; v++) {
            const uint64_t j0 = v * unit;
            const float *x = c->src + r * g->cols + j0;
            const float *pw = c->imp ? c->imp + j0 : NULL;
            float amax = 0.0f;
            double sxx = 0.0;
            for (uint64_t j = 0; j < unit; j++) {
                if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
                sxx += (pw ? pw[j] : 1.0) * (double)x[j] * x[j];
            }
            float best_s = amax;
            double best_err = INFINITY;
            if (amax > 0.0f) {
                /* vectors: every other candidate (a brute-force nearest search
                 * over K vectors makes each candidate costly) */
                for (size_t f = 0; f < sizeof search_fractions / sizeof *search_fractions;
                     f += dim == 1 ? 1 : 2) {
                    float s = amax * search_fractions[f];
                    assign_span(c, &rt, x, pw, unit, s, 1, idx);
                    double sxt = 0.0, stt = 0.0;
                    for (uint64_t j = 0; j < unit; j++) {
                        double tv = rt.vals[(uint64_t)idx[j / dim] * dim + j % dim];
                        double wj = pw ? pw[j] : 1.0;
                        sxt += wj * x[j] * tv;
                        stt += wj * tv * tv;
                    }
                    if (!(stt > 0.0)) continue;
                    /* least-squares scale for these indices */
                    double err = sxx - sxt * sxt / stt;
                    if (err < best_err) {
                        best_err = err;
                        best_s = (float)(sxt / stt);
                    }
                }
            }
            if (c->opt && amax > 0.0f) best_s = refine_scale(c, &rt, x, pw, unit, best_s, idx);
            c->raw_scales[r * upr + v] = best_s;
        }
    }
    free(idx);
    return QTF_OK;
}

static void pack_row(unsigned char *out, const uint8_t *idx, uint64_t n, uint32_t bits) {
    uint64_t acc = 0;
    uint32_t have = 0;
    for (uint64_t i = 0; i < n; i++) {
        acc |= (uint64_t)idx[i] << have;
        have += bits;
        while (have >= 8) {
            *out++ = (unsigned char)acc;
            acc >>= 8;
            have -= 8;
        }
    }
    if (have) *out = (unsigned char)acc;
}

static qtf_status assign_codes(void *vc, uint64_t begin, uint64_t end) {
    pal_ctx *c = vc;
    const qtf__pal_geom *g = &c->g;
    uint8_t *idx = qtf__malloc((size_t)g->vecs_per_row);
    if (!idx) return qtf__error(QTF_E_NOMEM, "pal: no memory for %llu indices",
                                (unsigned long long)g->vecs_per_row);
    unsigned char *codes = c->parts[g->p_codes];
    row_table rt;
    memset(&rt, 0, sizeof rt);
    for (uint64_t r = begin; r < end; r++) {
        row_table_use(&rt, c, r);
        const float *x = c->src + r * g->cols;
        if (g->unit) {
            for (uint64_t v = 0; v < g->units_per_row; v++) {
                const uint64_t j0 = v * g->unit;
                assign_span(c, &rt, x + j0, c->imp ? c->imp + j0 : NULL, g->unit,
                            c->scales[r * g->units_per_row + v], 1, idx + j0 / g->dim);
            }
        } else {
            assign_span(c, &rt, x, c->imp, g->cols, 1.0f, 0, idx);
        }
        pack_row(codes + r * g->row_bytes, idx, g->vecs_per_row, g->bits);
    }
    free(idx);
    return QTF_OK;
}

static qtf_status store_scales(pal_ctx *c) {
    memcpy(c->scales, c->raw_scales, (size_t)c->g.n_scales * sizeof *c->scales);
    return qtf__pal_store_scales(&c->g, c->scales, c->parts);
}

/* Stored scale of unit i for qtf__block_check_underflow: a zero scale
 * decodes its unit to 0 whatever the table holds, so no minimum. */
static float stored_scale_of(const void *ctx, uint64_t i, float *min) {
    *min = 0.0f;
    return ((const pal_ctx *)ctx)->scales[i];
}

qtf_status qtf__pal_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                             uint64_t cols, const float *importance, unsigned threads,
                             void *const *parts) {
    pal_ctx c;
    memset(&c, 0, sizeof c);
    qtf_status st = qtf__pal_geom_init(&c.g, e, rows, cols);
    if (st != QTF_OK || c.g.n_tables == 0) return st;
    c.src = src;
    c.imp = importance;
    c.parts = parts;
    c.opt = e->search == 2;
    const uint64_t kd = (uint64_t)c.g.k * c.g.dim;
    /* the part sizes were allocated by the caller, so these fit in memory too */
    c.tables = qtf__malloc((size_t)(c.g.n_tables * kd) * sizeof *c.tables);
    if (c.g.unit) {
        c.scales = qtf__malloc((size_t)c.g.n_scales * sizeof *c.scales);
        c.raw_scales = qtf__malloc((size_t)c.g.n_scales * sizeof *c.raw_scales);
    }
    if (!c.tables || (c.g.unit && (!c.scales || !c.raw_scales))) {
        st = qtf__error(QTF_E_NOMEM, "pal: no memory for %llu tables",
                        (unsigned long long)c.g.n_tables);
        goto done;
    }
    /* rows of at least ~64 Ki elements per thread chunk */
    const uint64_t row_chunk = cols ? 1 + 65536 / cols : 1;
    st = qtf__parallel_for(rows, row_chunk, threads, check_finite, &c);
    if (st != QTF_OK) goto done;
    if (c.g.unit) {
        st = qtf__parallel_for(rows, row_chunk, threads, absmax_scales, &c);
        if (st == QTF_OK) st = store_scales(&c);
        if (st != QTF_OK) goto done;
    }
    st = qtf__parallel_for(c.g.n_tables, 1, threads, fit_tables, &c);
    if (st != QTF_OK) goto done;
    if (c.g.unit) {
        for (int round = 0; round < (c.g.dim == 1 ? SEARCH_ROUNDS : 1); round++) {
            st = qtf__parallel_for(rows, row_chunk, threads, search_scales, &c);
            if (st == QTF_OK) st = store_scales(&c);
            if (st == QTF_OK) st = qtf__parallel_for(c.g.n_tables, 1, threads, fit_tables, &c);
            if (st != QTF_OK) goto done;
        }
    }
    st = qtf__parallel_for(rows, row_chunk, threads, assign_codes, &c);
    /* F16 scales that round to 0 lose their units (block.md's underflow
     * rule); double-quantized scales are stored through F32 steps. */
    if (st == QTF_OK && c.g.unit && !c.g.dq)
        st = qtf__block_check_underflow(src, rows, cols, c.g.unit, stored_scale_of, &c, "F16",
                                        "double-quantized scales (dq), whose steps are F32");
done:
    free(c.tables);
    free(c.scales);
    free(c.raw_scales);
    return st;
}

/* ---- dequantization ----------------------------------------------------- */

typedef struct pal_deq_ctx {
    qtf__pal_geom g;
    float *dst;
    const float *scales;
    const void *const *parts;
    int stream; /* streaming stores (format/stream.h) */
    int lut16;  /* scalar tables of <= 16 entries on an AVX2 CPU: lut16_avx2 */
} pal_deq_ctx;

/* Indices of one row into idx[0..n). Byte-aligned widths unpack a byte at a
 * time; 3 and 6 bits go through a bit accumulator. */
QTF__HOT static void unpack_row(uint8_t *idx, const unsigned char *in, uint64_t n, uint32_t bits) {
    /* the block family's packing is the same (code i at bit i * bits, least
     * significant first), and its unpacker is vectorized */
    if (bits >= 2) {
        qtf__block_unpack(idx, in, n, bits);
        return;
    }
    uint64_t i = 0;
    switch (bits) {
    case 8:
        memcpy(idx, in, (size_t)n);
        return;
    case 4:
        for (; i + 2 <= n; i += 2, in++) {
            idx[i] = *in & 15;
            idx[i + 1] = (uint8_t)(*in >> 4);
        }
        break;
    case 2:
        for (; i + 4 <= n; i += 4, in++)
            for (unsigned k = 0; k < 4; k++) idx[i + k] = (uint8_t)((*in >> (2 * k)) & 3);
        break;
    case 1:
        for (; i + 8 <= n; i += 8, in++)
            for (unsigned k = 0; k < 8; k++) idx[i + k] = (uint8_t)((*in >> k) & 1);
        break;
    default:
        break;
    }
    /* the tail of the byte-aligned cases, and all of 3 and 6 bits */
    uint64_t acc = 0;
    uint32_t have = 0;
    const uint32_t mask = (1u << bits) - 1;
    for (; i < n; i++) {
        if (have < bits) {
            acc |= (uint64_t)*in++ << have;
            have += 8;
        }
        idx[i] = (uint8_t)(acc & mask);
        acc >>= bits;
        have -= bits;
    }
}

/* y[v] = table[idx[v]] (* s when scaled) for tables of up to 16 scalar
 * entries, 8 at a time: the entry is picked from the two halves of the table
 * by two permutes and index bit 3; the same single product as the loops of
 * decode_cols. */
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define PAL_AVX2 1
__attribute__((target("avx2"))) static void lut16_avx2(float *y, const uint8_t *idx, uint64_t n,
                                                       const float *table, float s, int scaled) {
    const __m256 lo = _mm256_loadu_ps(table), hi = _mm256_loadu_ps(table + 8);
    const __m256 sv = _mm256_set1_ps(s);
    uint64_t v = 0;
    for (; v + 8 <= n; v += 8) {
        const __m256i i = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(idx + v)));
        const __m256 a = _mm256_permutevar8x32_ps(lo, i), b = _mm256_permutevar8x32_ps(hi, i);
        __m256 r = _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(i, 28)));
        if (scaled) r = _mm256_mul_ps(r, sv);
        _mm256_storeu_ps(y + v, r);
    }
    for (; v < n; v++) y[v] = scaled ? table[idx[v]] * s : table[idx[v]];
}
#else
#define PAL_AVX2 0
#endif

/* The columns [c0, c1) of row r (c0 and c1 multiples of dim) from the row's
 * indices into y[0 .. c1 - c0); scale units cut by the range are decoded in
 * part (each element is its entry times its unit's scale). */
QTF__HOT static void decode_cols(const pal_deq_ctx *c, const uint8_t *idx, const float *table,
                                 uint64_t r, uint64_t c0, uint64_t c1, float *y) {
    const qtf__pal_geom *g = &c->g;
    const uint32_t dim = g->dim;
    if (!g->unit) {
#if PAL_AVX2
        if (c->lut16) {
            lut16_avx2(y, idx + c0, c1 - c0, table, 1.0f, 0);
            return;
        }
#endif
        if (dim == 1) {
            for (uint64_t v = c0; v < c1; v++) y[v - c0] = table[idx[v]];
        } else {
            for (uint64_t v = c0 / dim; v < c1 / dim; v++)
                for (uint32_t d = 0; d < dim; d++)
                    y[v * dim + d - c0] = table[idx[v] * dim + d];
        }
        return;
    }
    const float *sc = c->scales + r * g->units_per_row;
    for (uint64_t at = c0, u = c0 / g->unit; at < c1; u++) {
        const uint64_t stop = (u + 1) * g->unit < c1 ? (u + 1) * g->unit : c1;
        const float s = sc[u];
#if PAL_AVX2
        if (c->lut16) {
            lut16_avx2(y + (at - c0), idx + at, stop - at, table, s, 1);
            at = stop;
            continue;
        }
#endif
        if (dim == 1) {
            for (uint64_t v = at; v < stop; v++) y[v - c0] = table[idx[v]] * s;
        } else {
            for (uint64_t v = at / dim; v < stop / dim; v++)
                for (uint32_t d = 0; d < dim; d++)
                    y[v * dim + d - c0] = table[idx[v] * dim + d] * s;
        }
        at = stop;
    }
}

/* A destination larger than the caches (format/stream.h) receives each row
 * in chunks of whole vectors through a small buffer and streaming stores. */
static qtf_status dequantize_rows(void *vc, uint64_t begin, uint64_t end) {
    const pal_deq_ctx *c = vc;
    const qtf__pal_geom *g = &c->g;
    const uint64_t V = g->vecs_per_row;
    const uint64_t step = !c->stream ? g->cols : QTF__STREAM_CHUNK / g->dim * g->dim;
    _Alignas(64) float buf[QTF__STREAM_CHUNK];
    uint8_t *idx = qtf__malloc(V ? (size_t)V : 1);
    if (!idx) return qtf__error(QTF_E_NOMEM, "pal: no memory for %llu indices",
                                (unsigned long long)V);
    float table[QTF__KMEANS_MAX_K * 4];
    memset(table, 0, sizeof table); /* lut16_avx2 loads 16 entries of smaller tables */
    uint64_t cur = UINT64_MAX;
    const unsigned char *codes = c->parts[g->p_codes];
    for (uint64_t r = begin; r < end; r++) {
        uint64_t t = r / g->rows_per_table;
        if (t != cur) {
            qtf__pal_load_table(g, t, table, c->parts);
            cur = t;
        }
        unpack_row(idx, codes + r * g->row_bytes, V, g->bits);
        float *y = c->dst + r * g->cols;
        for (uint64_t c0 = 0; c0 < g->cols; c0 += step) {
            const uint64_t c1 = g->cols - c0 < step ? g->cols : c0 + step;
            decode_cols(c, idx, table, r, c0, c1, c->stream ? buf : y + c0);
            if (c->stream) qtf__stream_copy(y + c0, buf, (size_t)(c1 - c0));
        }
    }
    if (c->stream) qtf__stream_fence();
    free(idx);
    return QTF_OK;
}

qtf_status qtf__pal_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                               uint64_t cols, const void *const *parts, unsigned threads) {
    pal_deq_ctx c;
    memset(&c, 0, sizeof c);
    qtf_status st = qtf__pal_geom_init(&c.g, e, rows, cols);
    if (st != QTF_OK || c.g.n_tables == 0) return st;
    float *scales = NULL;
    if (c.g.unit) {
        scales = qtf__malloc((size_t)c.g.n_scales * sizeof *scales);
        if (!scales) return qtf__error(QTF_E_NOMEM, "pal: no memory for %llu scales",
                                       (unsigned long long)c.g.n_scales);
        st = qtf__pal_load_scales(&c.g, scales, parts);
        if (st != QTF_OK) {
            free(scales);
            return st;
        }
    }
    c.dst = dst;
    c.scales = scales;
    c.parts = parts;
    c.stream = qtf__stream_wanted(rows * cols);
#if PAL_AVX2
    c.lut16 = c.g.dim == 1 && c.g.k <= 16 && __builtin_cpu_supports("avx2");
#endif
    st = qtf__parallel_for(rows, cols ? 1 + 65536 / cols : 1, threads, dequantize_rows, &c);
    free(scales);
    return st;
}
