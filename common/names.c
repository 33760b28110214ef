/* common/names.c — duplicate detection and lookup of keys and tensor names in
 * expected O(1), so that opening 10^5..10^7 tensors stays linear. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#include "common/names.h"

void qtf__name_index_init(qtf__name_index *ix) {
    memset(ix, 0, sizeof *ix);
    uint64_t seed = 0;
    /* A failed or short getrandom only weakens collision resistance. */
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = (uint64_t)(uintptr_t)ix ^ 0x9E3779B97F4A7C15ull;
    ix->seed = seed;
}

static uint64_t hash_of(const qtf__name_index *ix, const char *s, size_t len) {
    return XXH3_64bits_withSeed(s, len, ix->seed);
}

static void insert_slot(uint32_t *slots, uint64_t mask, uint64_t h, uint32_t item) {
    uint64_t i = h & mask;
    while (slots[i]) i = (i + 1) & mask;
    slots[i] = item + 1;
}

qtf_status qtf__name_index_reserve(qtf__name_index *ix, uint64_t n, qtf__name_of_fn name_of,
                                   const void *ctx) {
    uint64_t cap = ix->slots ? ix->mask + 1 : 0;
    if (n < cap / 2) return QTF_OK; /* load factor stays <= 1/2 */
    uint64_t want = 16;
    while (want / 2 <= n) {
        if (want > (UINT64_C(1) << 40))
            return qtf__error(QTF_E_LIMIT, "name index: %llu names is too many",
                              (unsigned long long)n);
        want *= 2;
    }
    if (want > SIZE_MAX / sizeof(uint32_t))
        return qtf__error(QTF_E_NOMEM, "name index: %llu slots", (unsigned long long)want);
    uint32_t *slots = qtf__calloc((size_t)want, sizeof *slots);
    if (!slots)
        return qtf__error(QTF_E_NOMEM, "name index: cannot allocate %llu slots",
                          (unsigned long long)want);
    for (uint64_t i = 0; i < cap; i++) {
        if (!ix->slots[i]) continue;
        const char *s;
        size_t len;
        name_of(ctx, ix->slots[i] - 1, &s, &len);
        insert_slot(slots, want - 1, hash_of(ix, s, len), ix->slots[i] - 1);
    }
    free(ix->slots);
    ix->slots = slots;
    ix->mask = want - 1;
    return QTF_OK;
}

/* The slot holding the name s[0,len), or the empty slot where it would go
 * (the load factor stays <= 1/2, so there always is one). */
static uint64_t probe(const qtf__name_index *ix, const char *s, size_t len, qtf__name_of_fn name_of,
                      const void *ctx) {
    uint64_t i = hash_of(ix, s, len) & ix->mask;
    while (ix->slots[i]) {
        const char *o;
        size_t olen;
        name_of(ctx, ix->slots[i] - 1, &o, &olen);
        if (olen == len && memcmp(o, s, len) == 0) break;
        i = (i + 1) & ix->mask;
    }
    return i;
}

int qtf__name_index_find(const qtf__name_index *ix, const char *s, size_t len,
                         qtf__name_of_fn name_of, const void *ctx, uint32_t *item) {
    if (!ix->slots) return 0;
    uint64_t i = probe(ix, s, len, name_of, ctx);
    if (!ix->slots[i]) return 0;
    *item = ix->slots[i] - 1;
    return 1;
}

int qtf__name_index_add(qtf__name_index *ix, const char *s, size_t len, uint32_t item,
                        qtf__name_of_fn name_of, const void *ctx, uint32_t *dup) {
    uint64_t i = probe(ix, s, len, name_of, ctx);
    if (ix->slots[i]) {
        *dup = ix->slots[i] - 1;
        return 0;
    }
    ix->slots[i] = item + 1;
    ix->used++;
    return 1;
}

void qtf__name_index_free(qtf__name_index *ix) {
    free(ix->slots);
    ix->slots = NULL;
    ix->mask = 0;
    ix->used = 0;
}
