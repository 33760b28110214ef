/* inspect/codes.c — see codes.h. The codes are read by the library
 * (qtf_encoding_code_info / qtf_encoding_unpack_codes, from the encoding
 * table's row), so this file only counts them. A tensor whose code part does
 * not match its layout is reported as "not recognised" rather than counted
 * wrongly. */
#include "codes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

qtf_status code_histogram_compute(code_histogram *h, const qtf_file *f, uint64_t ti) {
    memset(h, 0, sizeof *h);
    const qtf_tensor_info *t = qtf_tensor_get(f, ti);
    if (!t) {
        snprintf(h->reason, sizeof h->reason, "no such tensor");
        return QTF_OK;
    }
    if (!t->encoding_known) {
        snprintf(h->reason, sizeof h->reason, "unknown encoding");
        return QTF_OK;
    }
    const qtf_encoding *e = &t->encoding;
    qtf_code_info info;
    if (qtf_encoding_code_info(&info, e) != QTF_OK || info.part >= t->n_parts) {
        snprintf(h->reason, sizeof h->reason, "encoding has no codes that can be listed");
        return QTF_OK;
    }
    uint64_t size = t->parts[info.part].decoded_size;
    if (size == 0 || size > SIZE_MAX || t->n_elements == 0 || t->n_elements > SIZE_MAX) {
        snprintf(h->reason, sizeof h->reason, "empty code part");
        return QTF_OK;
    }
    unsigned char *buf = malloc((size_t)size);
    uint8_t *codes = malloc((size_t)t->n_elements);
    if (!buf || !codes) {
        free(buf);
        free(codes);
        return QTF_E_NOMEM;
    }
    qtf_status st = qtf_part_decode(buf, size, f, ti, info.part);
    uint64_t n = 0;
    if (st == QTF_OK &&
        qtf_encoding_unpack_codes(codes, t->n_elements, &n, e, t->n_dims, t->stored_dims, buf,
                                  size) !=
            QTF_OK) {
        snprintf(h->reason, sizeof h->reason, "code layout not recognised");
        n = 0;
    }
    for (uint64_t i = 0; i < n; i++) h->counts[codes[i]]++;
    if (info.is_signed) {
        /* bin k holds value k - 128 */
        uint64_t c[256];
        for (unsigned k = 0; k < 256; k++) c[(k + 128u) & 0xFFu] = h->counts[k];
        memcpy(h->counts, c, sizeof c);
    }
    h->part = info.part;
    h->bits = info.bits;
    h->is_lut = info.indexes_lut;
    h->is_signed = info.is_signed;
    h->n_codes = n;
    h->available = n > 0;
    free(buf);
    free(codes);
    return st;
}
