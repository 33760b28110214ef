/* checkpoint/qtf_source.c — a .qtf file seen as a checkpoint, so that qtf-verify
 * and qtf-convert (re-encoding) treat it like any other source. */
#include <stdlib.h>
#include <string.h>

#include "source_internal.h"

qtf_status qtf__qtf_source_load(qtf_source *s, const char *path) {
    qtf_status st = qtf_file_open(&s->qtf, path, &s->qtf_opts);
    if (st) return st;
    uint64_t n = qtf_tensor_count(s->qtf);
    for (uint64_t i = 0; i < n; i++) {
        const qtf_tensor_info *ti = qtf_tensor_get(s->qtf, i);
        char *name = strdup(ti->name);
        if (!name) return qtf__error(QTF_E_NOMEM, "%s: out of memory", path);
        qtf_dtype dt = ti->source_type != QTF_DTYPE_NONE && qtf_dtype_size(ti->source_type)
                           ? ti->source_type
                           : QTF_DTYPE_F32;
        st = qtf__source_add_tensor(s, name, dt, ti->n_dims, ti->dims, 0, 0);
        if (st) return st;
    }
    return QTF_OK;
}

/* Element type of the stored data when the encoding is lossless, else NONE. */
static qtf_dtype lossless_type(const qtf_tensor_info *ti) {
    /* a transposed tensor's bytes are not in the order of its shape */
    if (!ti->encoding_known || ti->layout != QTF_LAYOUT_ROW_MAJOR) return QTF_DTYPE_NONE;
    switch (ti->encoding.id) {
    case QTF_ENC_F32: return QTF_DTYPE_F32;
    case QTF_ENC_F16: return QTF_DTYPE_F16;
    case QTF_ENC_BF16: return QTF_DTYPE_BF16;
    case QTF_ENC_RAW: return ti->encoding.raw_type;
    default: return QTF_DTYPE_NONE;
    }
}

qtf_status qtf__qtf_source_read_raw(void *dst, uint64_t dst_size, const qtf_source *s,
                                    uint64_t i) {
    const qtf_tensor_info *ti = qtf_tensor_get(s->qtf, i);
    const qtf_source_tensor *t = &s->tensors[i];
    qtf_dtype stored = lossless_type(ti);
    if (stored == QTF_DTYPE_NONE || ti->n_parts != 1) {
        char enc[64] = "unknown";
        if (ti->encoding_known) (void)qtf_encoding_format(enc, sizeof enc, &ti->encoding);
        return qtf__error(QTF_E_UNSUPPORTED, "%s: tensor '%s' is stored as %s; raw bytes exist "
                          "only for lossless encodings (use the f32 read)",
                          qtf_file_name(s->qtf), t->name, enc);
    }
    if (stored != t->dtype)
        return qtf__error(QTF_E_UNSUPPORTED, "%s: tensor '%s' is stored as %s but its source "
                          "type is %s; raw bytes of the source type are not available",
                          qtf_file_name(s->qtf), t->name, qtf_dtype_name(stored),
                          qtf_dtype_name(t->dtype));
    return qtf_part_decode(dst, dst_size, s->qtf, i, 0);
}

qtf_status qtf__qtf_source_read_f32(float *dst, uint64_t n, const qtf_source *s, uint64_t i,
                                    unsigned threads) {
    return qtf_tensor_dequantize(dst, QTF_DTYPE_F32, n, s->qtf, i, threads);
}
