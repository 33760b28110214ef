/* libFuzzer target: llama.cpp importance matrices (GGUF and legacy .dat)
 * from memory; accepted files must give finite, non-negative vectors that
 * are not all zero. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint/imatrix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qtf_imatrix *m;
    if (qtf_imatrix_open_memory(&m, data, size, "fuzz.imatrix") != QTF_OK) return 0;
    for (uint64_t i = 0; i < qtf_imatrix_count(m); i++) {
        const qtf_imatrix_entry *e = qtf_imatrix_get(m, i);
        int nonzero = 0;
        for (uint64_t j = 0; j < e->n; j++) {
            if (!(e->values[j] >= 0.0f) || isinf(e->values[j])) __builtin_trap();
            nonzero |= e->values[j] != 0.0f;
        }
        if (!nonzero || qtf_imatrix_find(m, e->name) != e) __builtin_trap();
    }
    qtf_imatrix_close(m);
    return 0;
}
