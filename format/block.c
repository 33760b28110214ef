/* Temporary link placeholder, replaced by the block family implementation. */
#include "family.h"
qtf_status qtf__block_layout(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *e,
                             uint64_t rows, uint64_t cols) {
    (void)out; (void)out_n; (void)e; (void)rows; (void)cols;
    return qtf__error(QTF_E_UNSUPPORTED, "block family not built yet");
}
qtf_status qtf__block_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                               uint64_t cols, const float *importance, unsigned threads,
                               void *const *parts) {
    (void)e; (void)src; (void)rows; (void)cols; (void)importance; (void)threads; (void)parts;
    return qtf__error(QTF_E_UNSUPPORTED, "block family not built yet");
}
qtf_status qtf__block_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                                 uint64_t cols, const void *const *parts, unsigned threads) {
    (void)dst; (void)e; (void)rows; (void)cols; (void)parts; (void)threads;
    return qtf__error(QTF_E_UNSUPPORTED, "block family not built yet");
}
