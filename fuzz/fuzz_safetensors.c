/* libFuzzer target: the safetensors header parser on an in-memory file
 * image (length prefix, JSON header, data region). */
#include <stddef.h>
#include <stdint.h>

#include "checkpoint/source_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qtf__st_header h;
    if (qtf__st_parse_memory(&h, "fuzz.safetensors", data, size) == QTF_OK) {
        /* Accepted headers must keep the promises the converter relies on. */
        uint64_t pos = 0;
        for (uint64_t i = 0; i < h.n_entries; i++) {
            const qtf__st_entry *e = &h.entries[i];
            if (e->begin != pos || e->end < e->begin) __builtin_trap();
            pos = e->end;
        }
        if (h.data_start + pos != size) __builtin_trap();
        qtf__st_header_free(&h);
    }
    return 0;
}
