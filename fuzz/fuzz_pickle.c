/* libFuzzer target: reading a pytorch_model.bin. Inputs that start with a
 * zip local-header signature go through the zip reader first (and the pickle
 * it holds, if any); anything else is a data.pkl for the restricted
 * unpickler. Nothing may crash, leak, or yield an inconsistent result. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint/source_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void unpickle(const uint8_t *data, size_t size) {
    qtf__pkl_state_dict sd;
    if (qtf__pickle_load_state_dict(&sd, data, size, "fuzz/data.pkl") != QTF_OK) return;
    for (uint64_t i = 0; i < sd.n; i++) {
        const qtf__pkl_tensor *t = &sd.tensors[i];
        if (!t->name[0] || !t->storage_key[0] || t->n_dims > QTF_MAX_DIMS ||
            qtf_dtype_size(t->dtype) == 0)
            __builtin_trap();
    }
    qtf__pkl_state_dict_free(&sd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 4 && memcmp(data, "PK\x03\x04", 4) == 0) {
        qtf__zip z;
        if (qtf__zip_open_memory(&z, data, size, "fuzz.bin") != QTF_OK) return 0;
        for (uint64_t i = 0; i < z.n; i++) {
            const qtf__zip_entry *e = &z.entries[i];
            if (e->data_offset > size || e->size > size - e->data_offset) __builtin_trap();
            size_t n = strlen(e->name);
            if (n >= 9 && strcmp(e->name + n - 9, "/data.pkl") == 0)
                unpickle(data + e->data_offset, (size_t)e->size);
        }
        qtf__zip_free(&z);
        return 0;
    }
    unpickle(data, size);
    return 0;
}
