/* tests/support/encoding.c — encodings compared field by field (encoding.h). */
#include "support/encoding.h"

int enc_equal(const qtf_encoding *a, const qtf_encoding *b) {
    return a->id == b->id && a->bits == b->bits && a->group == b->group && a->asym == b->asym &&
           a->scale_type == b->scale_type && a->dq == b->dq && a->rows == b->rows &&
           a->rowscale == b->rowscale && a->lut_type == b->lut_type && a->dim == b->dim &&
           a->search == b->search && a->zstd_level == b->zstd_level &&
           a->raw_type == b->raw_type;
}

const char *const ts_ggml_block_types[TS_GGML_BLOCK_TYPE_COUNT] = {
    "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "iq4_xs", "ggml_mxfp4",
    "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
};
