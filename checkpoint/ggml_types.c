/* checkpoint/ggml_types.c — the ggml tensor types a GGUF file can name: block
 * size and bytes per block (the sizes of ggml-common.h's block structs), so
 * that every tensor's byte size is computed here and nowhere else. */
#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

#include "checkpoint/gguf.h"
#include "common/common.h"

/* Indexed by ggml type id; a NULL name marks an id that is unused or was
 * removed from the format. */
static const qtf_ggml_type_info types[QTF_GGML_TYPE_COUNT_] = {
    [QTF_GGML_F32] = { "F32", 1, 4, 0 },
    [QTF_GGML_F16] = { "F16", 1, 2, 0 },
    [QTF_GGML_Q4_0] = { "Q4_0", 32, 18, 1 },       /* f16 d, 16 B nibbles */
    [QTF_GGML_Q4_1] = { "Q4_1", 32, 20, 1 },       /* f16 d, f16 m, 16 B */
    [QTF_GGML_Q5_0] = { "Q5_0", 32, 22, 1 },       /* f16 d, 4 B high bits, 16 B */
    [QTF_GGML_Q5_1] = { "Q5_1", 32, 24, 1 },
    [QTF_GGML_Q8_0] = { "Q8_0", 32, 34, 1 },       /* f16 d, 32 x i8 */
    [QTF_GGML_Q8_1] = { "Q8_1", 32, 36, 1 },
    [QTF_GGML_Q2_K] = { "Q2_K", 256, 84, 1 },      /* 16 scales, 64 qs, d, dmin */
    [QTF_GGML_Q3_K] = { "Q3_K", 256, 110, 1 },     /* 32 hmask, 64 qs, 12 scales, d */
    [QTF_GGML_Q4_K] = { "Q4_K", 256, 144, 1 },     /* d, dmin, 12 scales, 128 qs */
    [QTF_GGML_Q5_K] = { "Q5_K", 256, 176, 1 },     /* + 32 B high bits */
    [QTF_GGML_Q6_K] = { "Q6_K", 256, 210, 1 },     /* 128 ql, 64 qh, 16 scales, d */
    [QTF_GGML_Q8_K] = { "Q8_K", 256, 292, 1 },     /* f32 d, 256 qs, 16 x i16 sums */
    [QTF_GGML_IQ2_XXS] = { "IQ2_XXS", 256, 66, 1 },
    [QTF_GGML_IQ2_XS] = { "IQ2_XS", 256, 74, 1 },
    [QTF_GGML_IQ3_XXS] = { "IQ3_XXS", 256, 98, 1 },
    [QTF_GGML_IQ1_S] = { "IQ1_S", 256, 50, 1 },
    [QTF_GGML_IQ4_NL] = { "IQ4_NL", 32, 18, 1 },
    [QTF_GGML_IQ3_S] = { "IQ3_S", 256, 110, 1 },
    [QTF_GGML_IQ2_S] = { "IQ2_S", 256, 82, 1 },
    [QTF_GGML_IQ4_XS] = { "IQ4_XS", 256, 136, 1 },  /* d, scales_h, 4 scales_l, 128 qs */
    [QTF_GGML_I8] = { "I8", 1, 1, 0 },
    [QTF_GGML_I16] = { "I16", 1, 2, 0 },
    [QTF_GGML_I32] = { "I32", 1, 4, 0 },
    [QTF_GGML_I64] = { "I64", 1, 8, 0 },
    [QTF_GGML_F64] = { "F64", 1, 8, 0 },
    [QTF_GGML_IQ1_M] = { "IQ1_M", 256, 56, 1 },
    [QTF_GGML_BF16] = { "BF16", 1, 2, 0 },
    [QTF_GGML_TQ1_0] = { "TQ1_0", 256, 54, 1 },
    [QTF_GGML_TQ2_0] = { "TQ2_0", 256, 66, 1 },
    [QTF_GGML_MXFP4] = { "MXFP4", 32, 17, 1 },     /* e8m0 e, 16 B nibbles */
};

const qtf_ggml_type_info *qtf_ggml_type_get(uint32_t id) {
    if (id >= QTF_GGML_TYPE_COUNT_ || !types[id].name) return NULL;
    return &types[id];
}

const char *qtf_ggml_type_name(uint32_t id) {
    const qtf_ggml_type_info *t = qtf_ggml_type_get(id);
    return t ? t->name : NULL;
}

qtf_status qtf_ggml_type_from_name(uint32_t *out, const char *name) {
    if (!out || !name) return qtf__error(QTF_E_INVALID_ARG, "qtf_ggml_type_from_name: NULL argument");
    for (uint32_t i = 0; i < QTF_GGML_TYPE_COUNT_; i++) {
        if (types[i].name && strcasecmp(types[i].name, name) == 0) {
            *out = i;
            return QTF_OK;
        }
    }
    return qtf__error(QTF_E_NOT_FOUND, "'%s' is not a ggml type name", name);
}

qtf_status qtf_ggml_nbytes(uint64_t *out, uint32_t id, uint32_t n_dims, const uint64_t *ne) {
    const qtf_ggml_type_info *t = qtf_ggml_type_get(id);
    if (!t) return qtf__error(QTF_E_UNKNOWN_ENCODING, "ggml type id %" PRIu32 " is not known "
                              "(known: 0..39 except the removed 4, 5, 31..33, 36..38)", id);
    if (n_dims > QTF_GGUF_MAX_DIMS)
        return qtf__error(QTF_E_SHAPE, "%" PRIu32 " dims, at most %d", n_dims, QTF_GGUF_MAX_DIMS);
    uint64_t row = n_dims ? ne[0] : 1;
    if (row % t->block_size)
        return qtf__error(QTF_E_SHAPE, "row length ne[0] = %" PRIu64 " is not a multiple of the "
                          "%s block size %" PRIu32, row, t->name, t->block_size);
    uint64_t n;
    if (!qtf__mul_u64(&n, row / t->block_size, t->type_size))
        return qtf__error(QTF_E_OVERFLOW, "row of %" PRIu64 " %s elements: byte size overflows",
                          row, t->name);
    for (uint32_t d = 1; d < n_dims; d++)
        if (!qtf__mul_u64(&n, n, ne[d]))
            return qtf__error(QTF_E_OVERFLOW, "byte size of a %s tensor overflows at ne[%" PRIu32
                              "] = %" PRIu64, t->name, d, ne[d]);
    *out = n;
    return QTF_OK;
}
