/* tests/support/qtf_build.c — the parts of container.h without Criterion:
 * adding a tensor, re-sealing a header. */
#include "support/container.h"

#include <xxhash.h>

#include "common/common.h"

void tu_reseal(unsigned char *b, size_t len) {
    if (len < 128) return;
    uint64_t mo = qtf__ld64(b + H_MOFF), ms = qtf__ld64(b + H_MSIZE);
    uint64_t dof = qtf__ld64(b + H_DIROFF), ds = qtf__ld64(b + H_DIRSIZE);
    XXH3_state_t *s = XXH3_createState();
    if (!s) return;
    XXH3_64bits_reset(s);
    XXH3_64bits_update(s, b, 120);
    if (mo <= len && ms <= len - mo) XXH3_64bits_update(s, b + mo, (size_t)ms);
    if (dof <= len && ds <= len - dof) XXH3_64bits_update(s, b + dof, (size_t)ds);
    qtf__st_hash(b + H_SUM, XXH3_64bits_digest(s));
    XXH3_freeState(s);
}

/* The one place the tests fill a tensor description. */
static qtf_status add_parts(qtf_writer *w, const char *name, const qtf_encoding *e,
                            uint32_t n_dims, const uint64_t *dims, qtf_dtype source_type,
                            int zstd_level, uint32_t layout, const qtf_part_view *v, uint32_t n) {
    qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
    d.name = name;
    d.n_dims = n_dims;
    d.dims = dims;
    d.encoding = e;
    d.source_type = source_type;
    d.zstd_level = zstd_level;
    d.layout = layout;
    return qtf_writer_add_tensor(w, &d, v, n);
}

qtf_status ts_add_encoded_as(qtf_writer *w, const char *name, const qtf_encoding *e,
                             const qtf_encoded *enc, uint32_t n_dims, const uint64_t *dims,
                             qtf_dtype source_type, int zstd_level, uint32_t layout) {
    qtf_part_view v[QTF_MAX_PARTS];
    uint32_t np = qtf_encoded_views(v, enc);
    return add_parts(w, name, e, n_dims, dims, source_type, zstd_level, layout, v, np);
}

qtf_status ts_add_encoded(qtf_writer *w, const char *name, const qtf_encoding *e,
                          const qtf_encoded *enc, uint32_t n_dims, const uint64_t *dims,
                          qtf_dtype source_type, int zstd_level) {
    return ts_add_encoded_as(w, name, e, enc, n_dims, dims, source_type, zstd_level,
                             QTF_LAYOUT_ROW_MAJOR);
}

qtf_status tu_add_as(qtf_writer *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                     const qtf_encoding *enc, const void *data, uint64_t size, int zstd_level,
                     uint32_t layout) {
    qtf_part_layout lay[QTF_MAX_PARTS];
    uint32_t n = 0;
    qtf_status st = qtf_encoding_layout(lay, &n, enc, n_dims, dims);
    if (st) return st;
    qtf_part_view v = { lay[0].role, lay[0].type, data, size };
    return add_parts(w, name, enc, n_dims, dims, QTF_DTYPE_F32, zstd_level, layout, &v, 1);
}

qtf_status tu_add(qtf_writer *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                  const qtf_encoding *enc, const void *data, uint64_t size, int zstd_level) {
    return tu_add_as(w, name, n_dims, dims, enc, data, size, zstd_level, QTF_LAYOUT_ROW_MAJOR);
}
