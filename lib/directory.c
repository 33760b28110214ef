/* lib/directory.c — the directory section: every tensor record is checked
 * against the limits, the data-section placement rules and the layout its
 * encoding requires, so that later data access needs no further checks. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "container.h"

static void tensor_name(const void *ctx, uint32_t item, const char **s, size_t *len) {
    const qtf_tensor_info *t = ctx;
    *s = t[item].name;
    *len = t[item].name_len;
}

#define TRUNC(c, need, what) \
    qtf__truncated(f->name, "tensor", i, name, what, (uint64_t)(need), c, "directory")

/* Data-section placement: part k starts exactly at the running end rounded
 * up to the alignment, so parts never overlap, leave holes or move. */
static qtf_status place_part(const qtf_file *f, uint64_t i, const char *name, uint32_t k,
                             uint64_t offset, uint64_t stored, uint64_t *running_end,
                             uint64_t rec_at) {
    uint64_t align = f->info.alignment, expected;
    if (!qtf__align_up_u64(&expected, *running_end, align))
        return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s' part %" PRIu32
                          ": running data size %" PRIu64 " overflows when aligned", f->name,
                          name, k, *running_end);
    if (offset != expected) {
        const char *why = offset % align ? "misaligned"
                          : offset < expected ? "overlaps the previous part"
                                              : "leaves a hole after the previous part";
        return qtf__error(QTF_E_OFFSET, "%s: tensor '%s' part %" PRIu32 " (record at offset %"
                          PRIu64 "): offset %" PRIu64 " is not the expected %" PRIu64
                          " (running aligned total): %s", f->name, name, k, rec_at, offset,
                          expected, why);
    }
    uint64_t end;
    if (!qtf__add_u64(&end, offset, stored))
        return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s' part %" PRIu32 ": offset %" PRIu64
                          " + stored size %" PRIu64 " overflows", f->name, name, k, offset,
                          stored);
    if (end > f->info.data_size)
        return qtf__error(QTF_E_OFFSET, "%s: tensor '%s' part %" PRIu32 ": bytes [%" PRIu64
                          ", %" PRIu64 ") run past the end of the %" PRIu64 "-byte data section",
                          f->name, name, k, offset, end, f->info.data_size);
    *running_end = end;
    (void)i;
    return QTF_OK;
}

/* Takes the container's layout parameter (key 13, spec/FORMAT.md section
 * 6.4) out of the tensor's parameter list: *n_enc gets the count of the
 * encoding's own parameters, which come before it (keys ascending), and
 * *unknown is set for a layout this version does not know (the tensor is
 * then listed like one of unknown encoding, never decoded as row-major). */
static qtf_status take_layout(const qtf_file *f, qtf_tensor_info *t, uint32_t *n_enc,
                              int *unknown) {
    *n_enc = t->n_params;
    *unknown = 0;
    t->layout = QTF_LAYOUT_ROW_MAJOR;
    for (uint32_t d = 0; d < t->n_dims; d++) t->stored_dims[d] = t->dims[d];
    if (t->n_params == 0 || t->params[t->n_params - 1].key != QTF_PARAM_LAYOUT) return QTF_OK;
    uint32_t v = t->params[t->n_params - 1].value;
    *n_enc = t->n_params - 1;
    if (v == QTF_LAYOUT_ROW_MAJOR)
        return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': layout parameter (key %u) is 0; the "
                          "row-major layout is written as the absence of the key", f->name,
                          t->name, QTF_PARAM_LAYOUT);
    if (v != QTF_LAYOUT_TRANSPOSED) {
        t->layout = v;
        *unknown = 1;
        return QTF_OK;
    }
    if (t->n_dims != 2)
        return qtf__error(QTF_E_SHAPE, "%s: tensor '%s': transposed layout on a tensor of %"
                          PRIu32 " dims, it needs 2", f->name, t->name, t->n_dims);
    t->layout = QTF_LAYOUT_TRANSPOSED;
    t->stored_dims[0] = t->dims[1];
    t->stored_dims[1] = t->dims[0];
    return QTF_OK;
}

static qtf_status check_layout(const qtf_file *f, qtf_tensor_info *t) {
    qtf_part_layout lay[QTF_MAX_PARTS];
    uint32_t n = 0, n_enc;
    int unknown_layout;
    qtf_status st = take_layout(f, t, &n_enc, &unknown_layout);
    if (st) return st;
    st = unknown_layout ? QTF_E_UNKNOWN_ENCODING
                        : qtf_encoding_from_params(&t->encoding, t->encoding_id, t->params, n_enc);
    if (st == QTF_E_UNKNOWN_ENCODING) {
        /* listed, verifiable, but not decodable by this version; its part roles,
         * part types and source dtype may be numbers this version does not know */
        memset(&t->encoding, 0, sizeof t->encoding);
        t->encoding_known = 0;
        return QTF_OK;
    }
    if (st) {
        qtf__error_prefix("%s: tensor '%s': encoding %" PRIu32 ": ", f->name, t->name,
                          t->encoding_id);
        return st == QTF_E_NOMEM ? st : QTF_E_ENCODING;
    }
    /* a known encoding uses only known numbers */
    if ((unsigned)t->source_type >= QTF_DTYPE_COUNT_)
        return qtf__error(QTF_E_TYPE, "%s: tensor '%s': source dtype %u is not a known type "
                          "(0..%d)", f->name, t->name, (unsigned)t->source_type,
                          QTF_DTYPE_COUNT_ - 1);
    for (uint32_t k = 0; k < t->n_parts; k++) {
        const qtf_part_info *p = &t->parts[k];
        if ((unsigned)p->role >= QTF_ROLE_COUNT_)
            return qtf__error(QTF_E_TYPE, "%s: tensor '%s' part %" PRIu32 ": role %u is not a "
                              "known role (0..%d)", f->name, t->name, k, (unsigned)p->role,
                              QTF_ROLE_COUNT_ - 1);
        if ((unsigned)p->type >= QTF_DTYPE_COUNT_)
            return qtf__error(QTF_E_TYPE, "%s: tensor '%s' part %" PRIu32 ": element type %u is "
                              "not a known type (1..%d)", f->name, t->name, k,
                              (unsigned)p->type, QTF_DTYPE_COUNT_ - 1);
    }
    st = qtf_encoding_layout(lay, &n, &t->encoding, t->n_dims, t->stored_dims);
    if (st) {
        qtf__error_prefix("%s: tensor '%s': ", f->name, t->name);
        return st;
    }
    if (n != t->n_parts)
        return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': encoding %" PRIu32 " needs %" PRIu32
                          " parts, the directory has %" PRIu32, f->name, t->name,
                          t->encoding_id, n, t->n_parts);
    for (uint32_t k = 0; k < n; k++) {
        const qtf_part_info *p = &t->parts[k];
        if (p->role != lay[k].role || p->type != lay[k].type || p->decoded_size != lay[k].size)
            return qtf__error(QTF_E_ENCODING, "%s: tensor '%s' part %" PRIu32
                              ": expected %s %s of %" PRIu64 " bytes, found %s %s of %" PRIu64,
                              f->name, t->name, k, qtf_part_role_name(lay[k].role),
                              qtf_dtype_name(lay[k].type), lay[k].size,
                              qtf_part_role_name(p->role), qtf_dtype_name(p->type),
                              p->decoded_size);
    }
    t->encoding_known = 1;
    return QTF_OK;
}

static qtf_status parse_parts(qtf__cursor *c, const qtf_file *f, uint64_t i, qtf_tensor_info *t,
                              uint64_t *running_end) {
    const char *name = t->name;
    for (uint32_t k = 0; k < t->n_parts; k++) {
        uint64_t at = qtf__at(c);
        const unsigned char *r = c->p + c->pos;
        uint16_t role = qtf__ld16(r), type = qtf__ld16(r + 2);
        unsigned comp = r[4];
        qtf_part_info *p = &t->parts[k];
        c->pos += QTF__PART_RECORD_SIZE;
        /* A role or element type added by a later minor version is kept as
         * stored: check_layout refuses it unless the encoding is unknown too
         * (spec/FORMAT.md section 11). NONE is never a part's type. */
        if (type == QTF_DTYPE_NONE)
            return qtf__error(QTF_E_TYPE, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                              ": element type 0 (NONE), expected 1..%d", f->name, name,
                              k, at + 2, QTF_DTYPE_COUNT_ - 1);
        if (comp > QTF_COMPRESSION_ZSTD)
            return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %"
                              PRIu64 ": compression %u is not known (0 none, 1 zstd)", f->name,
                              name, k, at + 4, comp);
        if (r[5] | r[6] | r[7])
            return qtf__error(QTF_E_VALUE, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                              ": reserved bytes are %02X %02X %02X, expected zero", f->name,
                              name, k, at + 5, r[5], r[6], r[7]);
        uint64_t offset = qtf__ld64(r + 8);
        p->role = (qtf_part_role)role;
        p->type = (qtf_dtype)type;
        p->compression = (qtf_compression)comp;
        p->stored_size = qtf__ld64(r + 16);
        p->decoded_size = qtf__ld64(r + 24);
        p->checksum = qtf__ld_hash(r + 32);
        if (comp == QTF_COMPRESSION_NONE && p->stored_size != p->decoded_size)
            return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %"
                              PRIu64 ": uncompressed but stored size %" PRIu64
                              " differs from decoded size %" PRIu64, f->name, name, k, at,
                              p->stored_size, p->decoded_size);
        if (comp == QTF_COMPRESSION_ZSTD && p->stored_size == 0)
            return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %"
                              PRIu64 ": zstd part with no stored bytes", f->name, name, k, at);
        qtf_status st = place_part(f, i, name, k, offset, p->stored_size, running_end, at);
        if (st) return st;
        p->offset = f->info.data_offset + offset; /* <= metadata offset: cannot overflow */
    }
    return QTF_OK;
}

qtf_status qtf__parse_directory(qtf_file *f, char **pool_cursor) {
    uint64_t n = f->info.tensor_count;
    qtf__cursor cur = { f->dir, f->info.directory_size, 0, f->info.directory_offset };
    qtf__cursor *c = &cur;
    uint64_t running_end = 0;
    qtf_status st;
    if (n > f->info.directory_size / QTF__MIN_TENSOR_RECORD)
        return qtf__error(QTF_E_TRUNCATED, "%s: tensor count %" PRIu64 " cannot fit in the %"
                          PRIu64 "-byte directory at offset %" PRIu64
                          " (each tensor takes at least %u bytes)", f->name, n,
                          f->info.directory_size, f->info.directory_offset,
                          QTF__MIN_TENSOR_RECORD);
    if (n == 0) goto done;
    f->tensors = qtf__calloc((size_t)n, sizeof *f->tensors);
    if (!f->tensors)
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " tensor records",
                          f->name, n);
    st = qtf__name_index_reserve(&f->tensor_index, n, tensor_name, f->tensors);
    if (st) return st;
    for (uint64_t i = 0; i < n; i++) {
        qtf_tensor_info *t = &f->tensors[i];
        const char *name = "?";
        static const qtf__name_field name_field = { "tensor", "name", "name length",
                                                    "directory", QTF_MAX_NAME_LEN };
        char *s;
        uint32_t name_len;
        uint64_t name_at;
        st = qtf__take_name(&s, &name_len, &name_at, c, f->name, &name_field, i, "tensor name",
                            pool_cursor);
        if (st) return st;
        t->name = name = s;
        t->name_len = name_len;
        uint32_t dup;
        if (!qtf__name_index_add(&f->tensor_index, s, name_len, (uint32_t)i, tensor_name,
                                 f->tensors, &dup))
            return qtf__error(QTF_E_DUPLICATE, "%s: tensor %" PRIu64 " at offset %" PRIu64
                              ": name '%s' already used by tensor %" PRIu32, f->name, i,
                              name_at, name, dup);

        if (qtf__left(c) < 4) return TRUNC(c, 4, "n_dims");
        uint64_t dims_at = qtf__at(c);
        t->n_dims = qtf__take32(c);
        if (t->n_dims > QTF_MAX_DIMS)
            return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': n_dims %" PRIu32 " at offset %"
                              PRIu64 " exceeds the limit %d", f->name, name, t->n_dims, dims_at,
                              QTF_MAX_DIMS);
        if (qtf__left(c) < 8ull * t->n_dims) return TRUNC(c, 8ull * t->n_dims, "dims");
        /* The product of the non-zero dims must fit wherever a zero sits, the
         * rule qtf__shape_rows_cols applies: the verdict must not depend on
         * whether this reader knows the encoding. */
        uint64_t nonzero = 1;
        int has_zero = 0;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            t->dims[d] = qtf__take64(c);
            if (t->dims[d] == 0) {
                has_zero = 1;
                continue;
            }
            if (!qtf__mul_u64(&nonzero, nonzero, t->dims[d]))
                return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s': the product of its dims "
                                  "overflows at dim %" PRIu32 " (%" PRIu64 ", offset %" PRIu64 ")",
                                  f->name, name, d, t->dims[d], dims_at + 4 + (uint64_t)8 * d);
        }
        uint64_t elements = has_zero ? 0 : nonzero;
        if (elements > QTF__MAX_ELEMENTS)
            return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': %" PRIu64 " elements exceed the "
                              "limit 2^62", f->name, name, elements);
        t->n_elements = elements;

        if (qtf__left(c) < 12) return TRUNC(c, 12, "dtype, encoding and n_params");
        uint64_t dt_at = qtf__at(c);
        uint32_t source = qtf__take32(c);
        /* unknown numbers: refused by check_layout unless the encoding is unknown */
        if (source > 0xFFFF)
            return qtf__error(QTF_E_TYPE, "%s: tensor '%s': source dtype %" PRIu32 " at offset %"
                              PRIu64 " is not a type number", f->name, name, source, dt_at);
        t->source_type = (qtf_dtype)source;
        t->encoding_id = qtf__take32(c);
        t->n_params = qtf__take32(c);
        if (t->n_params > QTF_MAX_PARAMS)
            return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': n_params %" PRIu32 " at offset %"
                              PRIu64 " exceeds the limit %d", f->name, name, t->n_params,
                              dt_at + 8, QTF_MAX_PARAMS);
        if (qtf__left(c) < 8ull * t->n_params)
            return TRUNC(c, 8ull * t->n_params, "encoding parameters");
        for (uint32_t k = 0; k < t->n_params; k++) {
            t->params[k].key = qtf__take32(c);
            t->params[k].value = qtf__take32(c);
        }

        if (qtf__left(c) < 4) return TRUNC(c, 4, "n_parts");
        uint64_t np_at = qtf__at(c);
        t->n_parts = qtf__take32(c);
        if (t->n_parts > QTF_MAX_PARTS)
            return qtf__error(QTF_E_LIMIT, "%s: tensor '%s': n_parts %" PRIu32 " at offset %"
                              PRIu64 " exceeds the limit %d", f->name, name, t->n_parts, np_at,
                              QTF_MAX_PARTS);
        if (t->n_parts == 0)
            return qtf__error(QTF_E_ENCODING, "%s: tensor '%s': n_parts is 0 at offset %" PRIu64
                              ", every tensor has at least one part", f->name, name, np_at);
        if (qtf__left(c) < (uint64_t)QTF__PART_RECORD_SIZE * t->n_parts)
            return TRUNC(c, (uint64_t)QTF__PART_RECORD_SIZE * t->n_parts, "part records");
        st = parse_parts(c, f, i, t, &running_end);
        if (st) return st;
        st = check_layout(f, t);
        if (st) return st;
    }
done:
    st = qtf__section_end(c, f->name, "directory", n, "tensors");
    if (st) return st;
    uint64_t data_end;
    if (!qtf__align_up_u64(&data_end, running_end, f->info.alignment))
        return qtf__error(QTF_E_OVERFLOW, "%s: data end %" PRIu64 " overflows when aligned",
                          f->name, running_end);
    if (data_end != f->info.data_size)
        return qtf__error(QTF_E_OFFSET, "%s: data section is %" PRIu64 " bytes but its parts "
                          "end at %" PRIu64 " (aligned): %" PRIu64 " trailing bytes", f->name,
                          f->info.data_size, data_end, f->info.data_size - data_end);
    return QTF_OK;
}

uint64_t qtf_tensor_count(const qtf_file *f) { return f ? f->info.tensor_count : 0; }

const qtf_tensor_info *qtf_tensor_get(const qtf_file *f, uint64_t i) {
    if (!f || i >= f->info.tensor_count) return NULL;
    return &f->tensors[i];
}

qtf_status qtf_tensor_find(uint64_t *out_index, const qtf_file *f, const char *name) {
    if (!out_index || !f || !name)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_tensor_find: NULL argument");
    uint32_t item;
    if (!qtf__name_index_find(&f->tensor_index, name, strlen(name), tensor_name, f->tensors,
                              &item)) {
        char esc[QTF__ESC_CAP];
        return qtf__error(QTF_E_NOT_FOUND, "%s: no tensor '%s'", f->name,
                          qtf__escape(esc, sizeof esc, name, strlen(name)));
    }
    *out_index = item;
    qtf__error_clear();
    return QTF_OK;
}
