/* format/encoding.c — what an encoding is: field validation, defaults, the
 * directory parameter form, and the dispatch of layouts to the families,
 * all read from the encoding table (format/encodings.c).
 * The normative description is spec/encodings/README.md. */
#include <math.h>
#include <string.h>

#include "encodings.h"

qtf_status qtf__shape_rows_cols(uint64_t *rows, uint64_t *cols, uint32_t n_dims,
                                const uint64_t *dims) {
    if (n_dims > QTF_MAX_DIMS)
        return qtf__error(QTF_E_LIMIT, "shape has %u dimensions, at most %u are allowed",
                          n_dims, QTF_MAX_DIMS);
    if (n_dims > 0 && !dims)
        return qtf__error(QTF_E_INVALID_ARG, "shape has %u dimensions but dims is NULL", n_dims);
    uint64_t c = n_dims ? dims[n_dims - 1] : 1;
    /* The overflow check runs over the non-zero dimensions so that the
     * verdict does not depend on where a zero sits: {0, 2^40, 2^40} and
     * {2^40, 2^40, 0} are both refused. */
    uint64_t r = 1, nonzero = c ? c : 1;
    int has_zero = 0;
    for (uint32_t i = 0; i + 1 < n_dims; i++) {
        uint64_t d = dims[i];
        if (d == 0) {
            has_zero = 1;
            continue;
        }
        if (!qtf__mul_u64(&nonzero, nonzero, d))
            return qtf__error(QTF_E_OVERFLOW,
                              "shape: the product of the dimensions overflows 64 bits "
                              "at dimension %u (%llu)", i, (unsigned long long)d);
        r *= d; /* cannot overflow: r divides nonzero */
    }
    if (has_zero) r = 0;
    *rows = r;
    *cols = c;
    return QTF_OK;
}

static int raw_type_ok(qtf_dtype t) {
    switch (t) {
    case QTF_DTYPE_F64: case QTF_DTYPE_I8: case QTF_DTYPE_U8: case QTF_DTYPE_I16:
    case QTF_DTYPE_U16: case QTF_DTYPE_I32: case QTF_DTYPE_U32: case QTF_DTYPE_I64:
    case QTF_DTYPE_U64: case QTF_DTYPE_BOOL: case QTF_DTYPE_F8_E4M3: case QTF_DTYPE_F8_E5M2:
        return 1;
    default: return 0;
    }
}

static int scale_type_ok(qtf_dtype t) {
    return t == QTF_DTYPE_F16 || t == QTF_DTYPE_BF16 || t == QTF_DTYPE_F32;
}

#define BAD(field, fmt, ...)                                                               \
    qtf__error(QTF_E_ENCODING, "encoding %s: field " field " " fmt, name, __VA_ARGS__)

qtf_status qtf__encoding_validate(const qtf_encoding *e) {
    if (!e) return qtf__error(QTF_E_INVALID_ARG, "encoding is NULL");
    const qtf__encoding_row *row = qtf__encoding_row_of(e->id);
    if (!row)
        return qtf__error(QTF_E_UNKNOWN_ENCODING, "encoding id %u is not known (0..%u)",
                          (unsigned)e->id, QTF_ENC_COUNT_ - 1);
    const char *name = row->name;
    uint32_t f = row->fields;
    /* Unused fields must be zero. */
    if (!(f & QTF__F_BITS) && e->bits) return BAD("bits", "is %u, expected 0", e->bits);
    if (!(f & QTF__F_GROUP) && e->group) return BAD("group", "is %u, expected 0", e->group);
    if (!(f & QTF__F_ASYM) && e->asym) return BAD("asym", "is %u, expected 0", e->asym);
    if (!(f & QTF__F_SCALE) && e->scale_type)
        return BAD("scale_type", "is %u, expected 0", (unsigned)e->scale_type);
    if (!(f & QTF__F_DQ) && e->dq) return BAD("dq", "is %u, expected 0", e->dq);
    if (!(f & QTF__F_ROWS) && e->rows) return BAD("rows", "is %u, expected 0", e->rows);
    if (!(f & QTF__F_ROWSCALE) && e->rowscale)
        return BAD("rowscale", "is %u, expected 0", e->rowscale);
    if (!(f & QTF__F_LUT) && e->lut_type)
        return BAD("lut_type", "is %u, expected 0", (unsigned)e->lut_type);
    if (!(f & QTF__F_DIM) && e->dim) return BAD("dim", "is %u, expected 0", e->dim);
    if (!(f & QTF__F_SEARCH) && e->search) return BAD("search", "is %u, expected 0", e->search);
    if (!(f & QTF__F_RAW) && e->raw_type)
        return BAD("raw_type", "is %u, expected 0", (unsigned)e->raw_type);
    if (e->zstd_level > 22) return BAD("zstd_level", "is %u, expected 0..22", e->zstd_level);
    if (e->asym > 1) return BAD("asym", "is %u, expected 0 or 1", e->asym);
    if (e->dq > 1) return BAD("dq", "is %u, expected 0 or 1", e->dq);
    if (e->rowscale > 1) return BAD("rowscale", "is %u, expected 0 or 1", e->rowscale);
    if (e->search > 2) return BAD("search", "is %u, expected 0, 1 or 2", e->search);

    switch (e->id) {
    case QTF_ENC_RAW:
        if (!raw_type_ok(e->raw_type))
            return BAD("raw_type", "is %u (%s), expected F64, an integer type, BOOL, F8_E4M3 "
                       "or F8_E5M2", (unsigned)e->raw_type, qtf_dtype_name(e->raw_type));
        break;
    case QTF_ENC_INT: case QTF_ENC_NF4: case QTF_ENC_FP4:
        if (e->id == QTF_ENC_INT ? (e->bits < 2 || e->bits > 8) : e->bits != 4)
            return BAD("bits", "is %u, expected %s", e->bits,
                       e->id == QTF_ENC_INT ? "2..8" : "4");
        /* Double quantization replaces the stored scales by u8 codes with f32
         * second-level scales, so no scale type is left to choose. */
        if (e->dq ? e->scale_type != QTF_DTYPE_NONE : !scale_type_ok(e->scale_type))
            return BAD("scale_type", "is %u (%s), expected %s", (unsigned)e->scale_type,
                       qtf_dtype_name(e->scale_type),
                       e->dq ? "NONE with dq" : "F16, BF16 or F32");
        break;
    case QTF_ENC_PAL:
        if (e->bits != 1 && e->bits != 2 && e->bits != 3 && e->bits != 4 && e->bits != 6 &&
            e->bits != 8)
            return BAD("bits", "is %u, expected 1, 2, 3, 4, 6 or 8", e->bits);
        if (e->group == UINT32_MAX)
            return BAD("group", "is %u, expected 0 (none) or 1..4294967294", e->group);
        if (e->group && e->rowscale)
            return BAD("group", "is %u with rowscale set; per-row and per-group scales "
                       "exclude each other", e->group);
        if (e->dq && !e->group && !e->rowscale)
            return BAD("dq", "is %u, but there are no scales to double-quantize (needs "
                       "rowscale or group)", e->dq);
        /* Plain (not double-quantized) row or group scales are f16; the
         * type is implied, not chosen, so that the longest canonical text
         * stays within 64 bytes. */
        if (e->scale_type != ((e->group || e->rowscale) && !e->dq ? QTF_DTYPE_F16
                                                                  : QTF_DTYPE_NONE))
            return BAD("scale_type", "is %u (%s), expected %s", (unsigned)e->scale_type,
                       qtf_dtype_name(e->scale_type),
                       (e->group || e->rowscale) && !e->dq ? "F16 (plain scales)"
                                                           : "NONE (no plain scales)");
        if (e->lut_type != QTF_DTYPE_F16 && e->lut_type != QTF_DTYPE_F32 &&
            e->lut_type != QTF_DTYPE_I8)
            return BAD("lut_type", "is %u (%s), expected F16, F32 or I8",
                       (unsigned)e->lut_type, qtf_dtype_name(e->lut_type));
        if (e->dim != 1 && e->dim != 2 && e->dim != 4)
            return BAD("dim", "is %u, expected 1, 2 or 4", e->dim);
        if (e->group % e->dim)
            return BAD("group", "is %u, not a multiple of dim = %u", e->group, e->dim);
        /* pal always searches its scales; opt adds the robust fit (pal.c) */
        if (e->search == 1)
            return BAD("search", "is %u, expected 0 or 2 (opt): pal always searches its scales",
                       e->search);
        if (e->search == 2 && !e->group && !e->rowscale)
            return BAD("search", "is %u (opt), which fits scales, but there are none (needs "
                       "rowscale or group)", e->search);
        break;
    default:
        /* fixed-block types (mxfp4, the ggml types): bits, group and scale
         * type are implied by the id, as its table row says */
        if (!row->fixed_block) break;
        if (e->bits != row->bits) return BAD("bits", "is %u, expected %u", e->bits, row->bits);
        if (e->group != row->block)
            return BAD("group", "is %u, expected %u", e->group, row->block);
        if (e->scale_type != row->scale_type)
            return BAD("scale_type", "is %u, expected %u (%s)", (unsigned)e->scale_type,
                       (unsigned)row->scale_type, qtf_dtype_name(row->scale_type));
        break;
    }
    return QTF_OK;
}
#undef BAD

qtf_status qtf_encoding_default(qtf_encoding *out, qtf_encoding_id id) {
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "out is NULL");
    const qtf__encoding_row *row = qtf__encoding_row_of(id);
    if (!row)
        return qtf__error(QTF_E_UNKNOWN_ENCODING, "encoding id %u is not known (0..%u)",
                          (unsigned)id, QTF_ENC_COUNT_ - 1);
    if (id == QTF_ENC_RAW)
        return qtf__error(QTF_E_INVALID_ARG,
                          "encoding raw has no default: its element type must be given");
    qtf_encoding e;
    memset(&e, 0, sizeof e);
    e.id = id;
    e.bits = row->bits;
    e.group = row->block;
    e.scale_type = row->scale_type;
    e.lut_type = row->lut_type;
    e.dim = row->dim;
    *out = e;
    qtf__error_clear();
    return QTF_OK;
}

/* --- directory parameters ------------------------------------------------ */

static uint32_t *field_of_key(qtf_encoding *e, uint32_t key) {
    switch (key) {
    case QTF__KEY_BITS: return &e->bits;
    case QTF__KEY_GROUP: return &e->group;
    case QTF__KEY_ASYM: return &e->asym;
    case QTF__KEY_DQ: return &e->dq;
    case QTF__KEY_ROWS: return &e->rows;
    case QTF__KEY_ROWSCALE: return &e->rowscale;
    case QTF__KEY_DIM: return &e->dim;
    case QTF__KEY_SEARCH: return &e->search;
    case QTF__KEY_ZSTD_LEVEL: return &e->zstd_level;
    default: return NULL;
    }
}

static const char *key_name(uint32_t key) {
    static const char *const names[QTF__KEY_COUNT_] = {
        "?", "bits", "group", "asym", "scale_type", "dq", "rows", "rowscale",
        "lut_type", "dim", "search", "zstd_level", "raw_type",
    };
    return key < QTF__KEY_COUNT_ ? names[key] : "?";
}

static uint32_t get_key(const qtf_encoding *e, uint32_t key) {
    switch (key) {
    case QTF__KEY_BITS: return e->bits;
    case QTF__KEY_GROUP: return e->group;
    case QTF__KEY_ASYM: return e->asym;
    case QTF__KEY_SCALE_TYPE: return (uint32_t)e->scale_type;
    case QTF__KEY_DQ: return e->dq;
    case QTF__KEY_ROWS: return e->rows;
    case QTF__KEY_ROWSCALE: return e->rowscale;
    case QTF__KEY_LUT_TYPE: return (uint32_t)e->lut_type;
    case QTF__KEY_DIM: return e->dim;
    case QTF__KEY_SEARCH: return e->search;
    case QTF__KEY_ZSTD_LEVEL: return e->zstd_level;
    case QTF__KEY_RAW_TYPE: return (uint32_t)e->raw_type;
    default: return 0;
    }
}

qtf_status qtf_encoding_to_params(uint32_t *out_id, qtf_encoding_param *out_params,
                                  uint32_t *out_n, const qtf_encoding *enc) {
    if (!out_id || !out_params || !out_n || !enc)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_to_params: NULL argument");
    qtf_status st = qtf__encoding_validate(enc);
    if (st) return st;
    uint32_t keys = qtf__encoding_row_of(enc->id)->keys, n = 0;
    for (uint32_t k = 1; k < QTF__KEY_COUNT_; k++) {
        if (!(keys & (1u << k))) continue;
        out_params[n].key = k;
        out_params[n].value = get_key(enc, k);
        n++;
    }
    *out_id = (uint32_t)enc->id;
    *out_n = n;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_encoding_from_params(qtf_encoding *out, uint32_t id,
                                    const qtf_encoding_param *params, uint32_t n) {
    if (!out || (n && !params))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_from_params: NULL argument");
    const qtf__encoding_row *row = qtf__encoding_row_of((qtf_encoding_id)id);
    if (!row)
        return qtf__error(QTF_E_UNKNOWN_ENCODING, "encoding id %u is not known (0..%u)", id,
                          QTF_ENC_COUNT_ - 1);
    const char *name = row->name;
    if (n > QTF_MAX_PARAMS)
        return qtf__error(QTF_E_LIMIT, "encoding %s: %u parameters, at most %u", name, n,
                          QTF_MAX_PARAMS);
    uint32_t keys = row->keys;
    /* Unknown keys first: a newer writer may use keys (and orderings) that
     * this version cannot judge, and must be reported as such. */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = params[i].key;
        if (k >= QTF__KEY_COUNT_ || !(keys & (1u << k)))
            return qtf__error(QTF_E_UNKNOWN_ENCODING,
                              "encoding %s: parameter %u has key %u, not known for this "
                              "encoding", name, i, k);
    }
    qtf_encoding e;
    qtf_status st;
    if (id == QTF_ENC_RAW) {
        memset(&e, 0, sizeof e);
        e.id = QTF_ENC_RAW;
    } else if ((st = qtf_encoding_default(&e, (qtf_encoding_id)id)) != QTF_OK) {
        return st;
    }
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = params[i].key, v = params[i].value;
        if (k <= prev)
            return qtf__error(QTF_E_ENCODING,
                              "encoding %s: parameter %u has key %u (%s) after key %u; keys "
                              "must be strictly ascending", name, i, k, key_name(k), prev);
        prev = k;
        if (k == QTF__KEY_SCALE_TYPE || k == QTF__KEY_LUT_TYPE || k == QTF__KEY_RAW_TYPE) {
            if (v >= QTF_DTYPE_COUNT_)
                return qtf__error(QTF_E_ENCODING,
                                  "encoding %s: parameter %s is %u, not an element type", name,
                                  key_name(k), v);
            if (k == QTF__KEY_SCALE_TYPE) e.scale_type = (qtf_dtype)v;
            else if (k == QTF__KEY_LUT_TYPE) e.lut_type = (qtf_dtype)v;
            else e.raw_type = (qtf_dtype)v;
        } else {
            *field_of_key(&e, k) = v;
        }
    }
    /* Every key of the id must be present: a missing one would silently take
     * a default that a future version might change. */
    uint32_t seen = 0;
    for (uint32_t i = 0; i < n; i++) seen |= 1u << params[i].key;
    if (seen != keys) {
        uint32_t missing = keys & ~seen;
        uint32_t k = 1;
        while (!(missing & (1u << k))) k++;
        return qtf__error(QTF_E_ENCODING, "encoding %s: parameter %s (key %u) is missing",
                          name, key_name(k), k);
    }
    if (id == QTF_ENC_PAL)
        e.scale_type = (e.group || e.rowscale) && !e.dq ? QTF_DTYPE_F16 : QTF_DTYPE_NONE;
    if ((st = qtf__encoding_validate(&e)) != QTF_OK) return st;
    *out = e;
    qtf__error_clear();
    return QTF_OK;
}

/* --- layout ----------------------------------------------------------------- */

qtf_status qtf_encoding_layout(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *enc,
                               uint32_t n_dims, const uint64_t *dims) {
    if (!out || !out_n || !enc)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_layout: NULL argument");
    qtf_status st = qtf__encoding_validate(enc);
    if (st) return st;
    uint64_t rows, cols;
    if ((st = qtf__shape_rows_cols(&rows, &cols, n_dims, dims)) != QTF_OK) return st;
    qtf_part_layout tmp[QTF_MAX_PARTS];
    uint32_t n = 0;
    memset(tmp, 0, sizeof tmp);
    const qtf__encoding_row *row = qtf__encoding_row_of(enc->id);
    st = row->ops->layout(tmp, &n, enc, rows, cols);
    if (st) return st;
    if (n == 0 || n > QTF_MAX_PARTS)
        return qtf__error(QTF_E_ENCODING, "encoding %s: layout gave %u parts (1..%u)",
                          row->name, n, QTF_MAX_PARTS);
    memcpy(out, tmp, n * sizeof *out);
    *out_n = n;
    qtf__error_clear();
    return QTF_OK;
}

double qtf_encoding_bits_per_weight(const qtf_encoding *enc, uint32_t n_dims,
                                    const uint64_t *dims) {
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n;
    if (qtf_encoding_layout(layout, &n, enc, n_dims, dims) != QTF_OK) return NAN;
    uint64_t rows, cols;
    if (qtf__shape_rows_cols(&rows, &cols, n_dims, dims) != QTF_OK) return NAN;
    double elements = (double)rows * (double)cols;
    if (elements == 0) return 0;
    double bytes = 0;
    for (uint32_t i = 0; i < n; i++) bytes += (double)layout[i].size;
    return bytes * 8.0 / elements;
}
