/* libFuzzer target: the tree-less JSON checker (checkpoint/json_check.c)
 * against jansson, and the content sniffer (common/content.c). Whatever
 * jansson parses (not too deep), the checker must accept, with the same
 * nesting depth; the checker never reads outside its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "checkpoint/json_check.h"
#include "common/content.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t depth_of(const json_t *j) {
    uint32_t d = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            uint32_t c = depth_of(v);
            if (c > d) d = c;
        }
        return d + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            uint32_t c = depth_of(v);
            if (c > d) d = c;
        }
        return d + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *b = malloc(size ? size : 1); /* exact size: over-reads are caught */
    if (!b) return 0;
    memcpy(b, data, size);
    (void)qtf__content_kind(b, size < QTF__CONTENT_HEAD ? size : QTF__CONTENT_HEAD, size);
    qtf_json_stats st;
    qtf_status mine = qtf_json_check(&st, b, size, "fuzz", 64, 0);
    json_error_t err;
    json_t *j = json_loadb((const char *)b, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (j) {
        uint32_t d = depth_of(j);
        /* jansson stops at a raw NUL byte as at the end of the text; the
         * checker refuses it. Otherwise both read the same grammar. A
         * duplicate key makes jansson keep only the last value, so its depth
         * is a lower bound then (the checker does not look at keys); it is
         * exact when jansson also parses with duplicates refused. */
        if (!memchr(b, 0, size) && d <= 64) {
            json_t *strict = json_loadb((const char *)b, size,
                                        JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
            /* With duplicates, a value jansson dropped may nest deeper than
             * the limit: then only QTF_E_LIMIT is right. */
            if (mine != QTF_OK && (strict || mine != QTF_E_LIMIT)) __builtin_trap();
            if (mine == QTF_OK && (strict ? st.depth != d : st.depth < d)) __builtin_trap();
            json_decref(strict);
        }
        json_decref(j);
    }
    free(b);
    return 0;
}
