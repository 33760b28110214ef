/* libFuzzer target: the encoding text parser. Whatever parses must format
 * to a canonical text that parses back to the same encoding, and that text
 * must itself be a fixed point of format(parse(.)).
 *
 * Bytes after a NUL are a shape (one byte n_dims, then little-endian u64
 * dims, as hostile as a file's directory) given to qtf_encoding_layout, so
 * that every family's layout arithmetic meets extreme dimensions. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qtf.h"
#include "format/encodings.h"
#include "support/encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t text_len = strlen(text);
    const uint8_t *shape = text_len < size ? data + text_len + 1 : NULL;
    size_t shape_len = shape ? size - text_len - 1 : 0;
    qtf_encoding e, e2;
    qtf_status st = qtf_encoding_parse(&e, text);
    free(text);
    if (st == QTF_OK) {
        char canon[64], again[64];
        if (qtf_encoding_format(canon, sizeof canon, &e) != QTF_OK) abort();
        if (qtf_encoding_parse(&e2, canon) != QTF_OK) abort();
        if (!enc_equal(&e, &e2)) abort();
        if (qtf_encoding_format(again, sizeof again, &e2) != QTF_OK) abort();
        if (strcmp(canon, again) != 0) abort();
        /* the directory form must round-trip as well */
        uint32_t id, n;
        qtf_encoding_param p[QTF_MAX_PARAMS];
        if (qtf_encoding_to_params(&id, p, &n, &e) != QTF_OK) abort();
        if (qtf_encoding_from_params(&e2, id, p, n) != QTF_OK) abort();
        /* A family whose directory has no search key (pal: `opt` says how the
         * writer fits the palette, which the reader needs not know) loses it. */
        int has_search = 0;
        for (uint32_t i = 0; i < n; i++) has_search |= p[i].key == QTF__KEY_SEARCH;
        if (!has_search) e2.search = e.search;
        if (!enc_equal(&e, &e2)) abort();
        if (shape_len >= 1) {
            uint32_t n_dims = shape[0] % (QTF_MAX_DIMS + 2);
            uint64_t dims[QTF_MAX_DIMS + 1] = { 0 };
            for (uint32_t d = 0; d < n_dims && d < QTF_MAX_DIMS + 1; d++)
                for (unsigned b = 0; b < 8; b++) {
                    size_t at = 1 + (size_t)d * 8 + b;
                    if (at < shape_len) dims[d] |= (uint64_t)shape[at] << (8 * b);
                }
            qtf_part_layout lay[QTF_MAX_PARTS];
            uint32_t n_parts = 0;
            qtf_status ls = qtf_encoding_layout(lay, &n_parts, &e, n_dims, dims);
            if (ls == QTF_OK) {
                if (n_parts == 0 || n_parts > QTF_MAX_PARTS) abort();
                (void)qtf_encoding_bits_per_weight(&e, n_dims, dims);
            } else if (qtf_error_detail()[0] == '\0') {
                abort();
            }
        }
    } else if (st != QTF_E_PARSE) {
        abort();
    } else if (qtf_error_detail()[0] == '\0') {
        abort();
    }
    return 0;
}
