/* tests/source_compare.h — the round-trip check the converter tests share
 * (test_convert, test_e2e): two checkpoints opened with qtf_source hold the
 * same tensors byte for byte. Header-only, for the Criterion tests. */
#ifndef QTF_TESTS_SOURCE_COMPARE_H
#define QTF_TESTS_SOURCE_COMPARE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/source.h"

/* Every tensor of `orig` (a checkpoint) equals, byte for byte, the tensor of
 * the same name in `back` (a safetensors written by qtf-convert). */
static inline void assert_same_tensors(const char *orig, const char *back) {
    qtf_source *a = NULL, *b = NULL;
    cr_assert_eq(qtf_source_open(&a, orig), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_open(&b, back), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_tensor_count(a), qtf_source_tensor_count(b));
    for (uint64_t i = 0; i < qtf_source_tensor_count(a); i++) {
        const qtf_source_tensor *ta = qtf_source_tensor_get(a, i);
        uint64_t j;
        cr_assert_eq(qtf_source_tensor_find(&j, b, ta->name), QTF_OK, "%s", ta->name);
        const qtf_source_tensor *tb = qtf_source_tensor_get(b, j);
        cr_assert_eq(ta->dtype, tb->dtype, "%s", ta->name);
        cr_assert_eq(ta->n_dims, tb->n_dims);
        for (uint32_t d = 0; d < ta->n_dims; d++) cr_assert_eq(ta->dims[d], tb->dims[d]);
        cr_assert_eq(ta->nbytes, tb->nbytes);
        unsigned char *x = malloc(ta->nbytes + 1), *y = malloc(tb->nbytes + 1);
        cr_assert_eq(qtf_source_read_raw(x, ta->nbytes, a, i), QTF_OK);
        cr_assert_eq(qtf_source_read_raw(y, tb->nbytes, b, j), QTF_OK);
        cr_assert(memcmp(x, y, ta->nbytes) == 0, "%s differs after the round trip", ta->name);
        free(x);
        free(y);
    }
    qtf_source_close(a);
    qtf_source_close(b);
}

#endif
