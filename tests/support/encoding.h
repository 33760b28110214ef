/* tests/support/encoding.h — comparing two parsed encodings field by field
 * (test_encoding_text, test_quantize_api, fuzz_encoding_text; no Criterion). */
#ifndef QTF_TEST_SUPPORT_ENCODING_H
#define QTF_TEST_SUPPORT_ENCODING_H

#include "qtf.h"

/* 1 if every field of a equals that of b. */
int enc_equal(const qtf_encoding *a, const qtf_encoding *b);

/* Every ggml block type QTF encodes (the ggml_types and stream tests). */
#define TS_GGML_BLOCK_TYPE_COUNT 13
extern const char *const ts_ggml_block_types[TS_GGML_BLOCK_TYPE_COUNT];

#endif
