/* libFuzzer target: the restricted unpickler on arbitrary bytes (a torch
 * data.pkl). It must never crash, leak, or accept a non-state-dict. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "source_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qtf__pkl_state_dict sd;
    if (qtf__pickle_load_state_dict(&sd, data, size, "fuzz/data.pkl") == QTF_OK) {
        for (uint64_t i = 0; i < sd.n; i++) {
            const qtf__pkl_tensor *t = &sd.tensors[i];
            if (!t->name[0] || !t->storage_key[0] || t->n_dims > QTF_MAX_DIMS ||
                qtf_dtype_size(t->dtype) == 0)
                __builtin_trap();
        }
        qtf__pkl_state_dict_free(&sd);
    }
    return 0;
}
