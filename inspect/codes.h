/* inspect/codes.h — histogram of the quantization codes of one tensor, for
 * `qtf-inspect --detail` (what share of the code range or look-up table a
 * tensor really uses). Not installed. */
#ifndef QTF_INSPECT_CODES_H
#define QTF_INSPECT_CODES_H

#include <stdint.h>

#include "qtf.h"

typedef struct code_histogram {
    int available;          /* 0: no code part, or its layout is not recognised */
    uint32_t part;          /* part index the codes come from */
    unsigned bits;
    int is_lut;             /* codes index a palettization look-up table */
    int is_signed;          /* bins are two's complement values (q8_0) */
    uint64_t n_codes;
    uint64_t counts[256];   /* bin k: code k (signed: value k - 128) */
    char reason[96];        /* why not available */
} code_histogram;

/* Fills h from the decoded code part of tensor `ti` (needs a full open).
 * Returns QTF_OK with h->available = 0 when the tensor has no codes to
 * count; an error only when decoding the part fails. */
qtf_status code_histogram_compute(code_histogram *h, const qtf_file *f, uint64_t ti);

#endif
