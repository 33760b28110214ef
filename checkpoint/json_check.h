/* checkpoint/json_check.h — checking JSON text without building a tree
 * (checkpoint/json_check.c): embedded config and tokenizer files must parse,
 * and a safetensors header is measured before jansson turns it into a DOM
 * that costs 30-40 times its size. Memory: O(max_depth). */
#ifndef QTF_CHECKPOINT_JSON_CHECK_H
#define QTF_CHECKPOINT_JSON_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "qtf.h"

typedef struct qtf_json_stats {
    uint64_t values;            /* objects, arrays, strings, numbers, literals */
    uint32_t depth;             /* deepest nesting of objects and arrays */
} qtf_json_stats;

/* Checks that text[0,len) is one JSON value (RFC 8259: UTF-8, no trailing
 * commas, no comments, only white space around it), nested at most max_depth
 * deep, with at most max_values values (0: no limit). QTF_E_PARSE names
 * `what`, the line and the column of the first error; QTF_E_LIMIT a limit.
 * stats (may be NULL) is filled on success. Duplicate keys are not checked. */
qtf_status qtf_json_check(qtf_json_stats *stats, const void *text, size_t len, const char *what,
                          uint32_t max_depth, uint64_t max_values);

#endif
