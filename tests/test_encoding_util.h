/* tests/test_encoding_util.h — comparing two parsed encodings field by field
 * (test_encoding_text, test_quantize_api). Header-only. */
#ifndef QTF_TESTS_ENCODING_UTIL_H
#define QTF_TESTS_ENCODING_UTIL_H

#include "qtf.h"

static inline int enc_equal(const qtf_encoding *a, const qtf_encoding *b) {
    return a->id == b->id && a->bits == b->bits && a->group == b->group && a->asym == b->asym &&
           a->scale_type == b->scale_type && a->dq == b->dq && a->rows == b->rows &&
           a->rowscale == b->rowscale && a->lut_type == b->lut_type && a->dim == b->dim &&
           a->search == b->search && a->zstd_level == b->zstd_level &&
           a->raw_type == b->raw_type;
}

#endif
