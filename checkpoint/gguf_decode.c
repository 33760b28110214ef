/* checkpoint/gguf_decode.c — a GGUF tensor's bytes are the parts of one QTF
 * encoding (ggml's block types are rows of libqtf's encoding table), so they
 * dequantize through the public qtf_dequantize without a copy. */
#include <inttypes.h>
#include <string.h>

#include "checkpoint/gguf.h"
#include "common/common.h"

static const struct {
    uint32_t ggml;
    const char *encoding;
} decodable[] = {
    { QTF_GGML_F32, "f32" },       { QTF_GGML_F16, "f16" },       { QTF_GGML_BF16, "bf16" },
    { QTF_GGML_Q4_0, "q4_0" },     { QTF_GGML_Q4_1, "q4_1" },     { QTF_GGML_Q5_0, "q5_0" },
    { QTF_GGML_Q5_1, "q5_1" },     { QTF_GGML_Q8_0, "q8_0" },     { QTF_GGML_Q2_K, "q2_k" },
    { QTF_GGML_Q3_K, "q3_k" },     { QTF_GGML_Q4_K, "q4_k" },     { QTF_GGML_Q5_K, "q5_k" },
    { QTF_GGML_Q6_K, "q6_k" },     { QTF_GGML_IQ4_NL, "iq4_nl" }, { QTF_GGML_IQ4_XS, "iq4_xs" },
    { QTF_GGML_MXFP4, "ggml_mxfp4" },
};

qtf_status qtf_gguf_type_encoding(qtf_encoding *out, uint32_t ggml_type) {
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_type_encoding: NULL argument");
    for (size_t i = 0; i < sizeof decodable / sizeof decodable[0]; i++)
        if (decodable[i].ggml == ggml_type) return qtf_encoding_parse(out, decodable[i].encoding);
    const char *name = qtf_ggml_type_name(ggml_type);
    return qtf__error(QTF_E_UNSUPPORTED, "ggml type %s (id %" PRIu32 ") has no decoder here",
                      name ? name : "?", ggml_type);
}

uint32_t qtf_gguf_tensor_dims(uint64_t dims[QTF_GGUF_MAX_DIMS], const qtf_gguf_tensor *t) {
    if (t->n_dims == 0) {
        dims[0] = 1;
        return 1;
    }
    for (uint32_t d = 0; d < t->n_dims; d++) dims[d] = t->ne[t->n_dims - 1 - d];
    return t->n_dims;
}

qtf_status qtf_gguf_tensor_dequantize(float *dst, uint64_t n, const qtf_gguf *g, uint64_t i,
                                      unsigned threads) {
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
    if (!dst || !t) return qtf__error(QTF_E_INVALID_ARG, "qtf_gguf_tensor_dequantize: bad argument");
    if (n != t->n_elements)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s' has %" PRIu64 " elements, not %"
                          PRIu64, qtf_gguf_name(g), t->name, t->n_elements, n);
    qtf_encoding enc;
    qtf_status st = qtf_gguf_type_encoding(&enc, t->type);
    if (st) {
        qtf__error_prefix("%s: tensor '%s': ", qtf_gguf_name(g), t->name);
        return st;
    }
    const void *data;
    uint64_t size;
    st = qtf_gguf_tensor_data(&data, &size, g, i);
    if (st) return st;
    uint64_t dims[QTF_GGUF_MAX_DIMS];
    uint32_t nd = qtf_gguf_tensor_dims(dims, t);
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n_parts = 0;
    st = qtf_encoding_layout(layout, &n_parts, &enc, nd, dims);
    if (st == QTF_OK && (n_parts != 1 || layout[0].size != size))
        st = qtf__error(QTF_E_ENCODING, "layout of %" PRIu32 " parts, %" PRIu64 " bytes, for %"
                        PRIu64 " bytes of data", n_parts, n_parts ? layout[0].size : 0, size);
    if (st == QTF_OK) {
        qtf_part_view view = { layout[0].role, layout[0].type, data, size };
        st = qtf_dequantize(dst, QTF_DTYPE_F32, n, &enc, nd, dims, &view, 1, threads);
    }
    if (st) qtf__error_prefix("%s: tensor '%s' (%s): ", qtf_gguf_name(g), t->name,
                              qtf_ggml_type_name(t->type));
    return st;
}
