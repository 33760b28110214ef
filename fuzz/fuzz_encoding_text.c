/* libFuzzer target: the encoding text parser. Whatever parses must format
 * to a canonical text that parses back to the same encoding, and that text
 * must itself be a fixed point of format(parse(.)). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qtf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const qtf_encoding *a, const qtf_encoding *b) {
    return a->id == b->id && a->bits == b->bits && a->group == b->group && a->asym == b->asym &&
           a->scale_type == b->scale_type && a->dq == b->dq && a->rows == b->rows &&
           a->rowscale == b->rowscale && a->lut_type == b->lut_type && a->dim == b->dim &&
           a->search == b->search && a->zstd_level == b->zstd_level &&
           a->raw_type == b->raw_type;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    qtf_encoding e, e2;
    qtf_status st = qtf_encoding_parse(&e, text);
    free(text);
    if (st == QTF_OK) {
        char canon[64], again[64];
        if (qtf_encoding_format(canon, sizeof canon, &e) != QTF_OK) abort();
        if (qtf_encoding_parse(&e2, canon) != QTF_OK) abort();
        if (!same(&e, &e2)) abort();
        if (qtf_encoding_format(again, sizeof again, &e2) != QTF_OK) abort();
        if (strcmp(canon, again) != 0) abort();
        /* the directory form must round-trip as well */
        uint32_t id, n;
        qtf_encoding_param p[QTF_MAX_PARAMS];
        if (qtf_encoding_to_params(&id, p, &n, &e) != QTF_OK) abort();
        if (qtf_encoding_from_params(&e2, id, p, n) != QTF_OK || !same(&e, &e2)) abort();
    } else if (st != QTF_E_PARSE) {
        abort();
    } else if (qtf_error_detail()[0] == '\0') {
        abort();
    }
    return 0;
}
