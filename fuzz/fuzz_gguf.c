/* libFuzzer target: the GGUF reader on an in-memory file, then every
 * accessor over what it accepted (values, array elements, tensor data). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qtf_gguf *g;
    if (qtf_gguf_open_memory(&g, data, size, "fuzz.gguf", 0) != QTF_OK) return 0;
    const qtf_gguf_info *in = qtf_gguf_get_info(g);
    if (in->data_offset + in->data_size != size && in->tensor_count) __builtin_trap();
    if (qtf_gguf_heap_bytes(g) > QTF_GGUF_HEAP_BOUND(in->header_size)) __builtin_trap();
    volatile uint64_t sink = 0;
    for (uint64_t i = 0; i < qtf_gguf_kv_count(g); i++) {
        qtf_value v;
        if (qtf_gguf_kv_value(&v, g, i) != QTF_OK) __builtin_trap();
        if (v.type == QTF_TYPE_STRING && v.len) sink += (unsigned char)v.str[v.len - 1];
        if (v.type == QTF_TYPE_ARRAY && v.count) {
            qtf_value e;
            if (qtf_gguf_array_elem(&e, g, i, v.count - 1) != QTF_OK) __builtin_trap();
            if (e.type == QTF_TYPE_STRING && e.len) sink += (unsigned char)e.str[e.len - 1];
        }
        uint64_t idx;
        if (qtf_gguf_kv_find(&idx, g, qtf_gguf_kv_key(g, i)) != QTF_OK || idx != i) __builtin_trap();
    }
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
        const void *p;
        uint64_t n;
        if (qtf_gguf_tensor_data(&p, &n, g, i) != QTF_OK) __builtin_trap();
        const uint8_t *b = p;
        if (b < data || b + n > data + size) __builtin_trap();
        if (n) sink += b[n - 1];
    }
    (void)sink;
    qtf_gguf_close(g);
    return 0;
}
