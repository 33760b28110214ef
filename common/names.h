/* common/names.h — hash index of names (keys, tensor names) for duplicate
 * detection and lookup in expected O(1); used by the QTF reader and the
 * foreign-format readers alike. */
#ifndef QTF_COMMON_NAMES_H
#define QTF_COMMON_NAMES_H

#include "common/common.h"

/* Open-addressing hash index of byte strings kept elsewhere. Keys are looked
 * up through a callback so the index stores only 32-bit item numbers. The
 * seed is random per index: an adversary cannot precompute colliding names,
 * and lookups give the same answer for any seed. */
typedef struct qtf__name_index {
    uint32_t *slots;            /* item + 1, 0 = empty */
    uint64_t mask;              /* capacity - 1 */
    uint64_t used;
    uint64_t seed;
} qtf__name_index;

typedef void (*qtf__name_of_fn)(const void *ctx, uint32_t item, const char **s, size_t *len);

void qtf__name_index_init(qtf__name_index *ix);
/* Reserves room for `n` items in total (never shrinks). QTF_E_NOMEM. */
qtf_status qtf__name_index_reserve(qtf__name_index *ix, uint64_t n, qtf__name_of_fn name_of,
                                   const void *ctx);
/* Adds `item` named s[0,len). Returns 1 if added, 0 if a duplicate exists
 * (then *dup = the existing item). The caller reserved room beforehand. */
int qtf__name_index_add(qtf__name_index *ix, const char *s, size_t len, uint32_t item,
                        qtf__name_of_fn name_of, const void *ctx, uint32_t *dup);
/* 1 and *item if found. */
int qtf__name_index_find(const qtf__name_index *ix, const char *s, size_t len,
                         qtf__name_of_fn name_of, const void *ctx, uint32_t *item);
void qtf__name_index_free(qtf__name_index *ix);

#endif
