/* inspect/codes.c — see codes.h.
 *
 * Code parts are read by their documented shapes only (spec/encodings): a
 * CODES part holds, row by row, either one byte per code or an LSB-first bit
 * stream of `bits`-bit codes padded to a whole byte at the end of each row;
 * ggml BLOCKS interleave an f16 scale (q4_1: and an f16 minimum) with 32
 * codes. The layout is recognised from the part's decoded size, so a tensor
 * whose sizes match none of these is reported as "not recognised" rather
 * than counted wrongly. */
#include "codes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void count_packed(code_histogram *h, const unsigned char *row, uint64_t n, unsigned bits) {
    uint64_t bitpos = 0;
    unsigned mask = (1u << bits) - 1u;
    for (uint64_t i = 0; i < n; i++, bitpos += bits) {
        uint64_t byte = bitpos >> 3;
        unsigned shift = (unsigned)(bitpos & 7u);
        /* A code spans at most two bytes (bits <= 8). */
        unsigned v = (unsigned)row[byte] >> shift;
        if (shift + bits > 8) v |= (unsigned)row[byte + 1] << (8 - shift);
        h->counts[v & mask]++;
    }
}

/* Where the codes sit in a ggml block (spec/encodings/ggml.md): `offset`
 * bytes of scales, then `n` codes; 4-bit codes are nibbles (low: element j,
 * high: element j + 16 of each 32), q5 types take bit 4 from the u32 qh that
 * precedes the nibbles. K-quant super-blocks scatter their code bits over
 * several fields and are not histogrammed. */
typedef struct ggml_codes {
    qtf_encoding_id id;
    unsigned block_bytes, offset, n, bits;
} ggml_codes;

static const ggml_codes ggml_code_layouts[] = {
    { QTF_ENC_Q8_0, 34, 2, 32, 8 },    { QTF_ENC_Q4_0, 18, 2, 32, 4 },
    { QTF_ENC_Q4_1, 20, 4, 32, 4 },    { QTF_ENC_Q5_0, 22, 6, 32, 5 },
    { QTF_ENC_Q5_1, 24, 8, 32, 5 },    { QTF_ENC_IQ4_NL, 18, 2, 32, 4 },
    { QTF_ENC_IQ4_XS, 136, 8, 256, 4 }, { QTF_ENC_GGML_MXFP4, 17, 1, 32, 4 },
};

static const ggml_codes *ggml_layout_of(qtf_encoding_id id) {
    for (size_t i = 0; i < sizeof ggml_code_layouts / sizeof ggml_code_layouts[0]; i++)
        if (ggml_code_layouts[i].id == id) return &ggml_code_layouts[i];
    return NULL;
}

static int is_ggml_id(qtf_encoding_id id) {
    return ggml_layout_of(id) != NULL || (id >= QTF_ENC_Q2_K && id <= QTF_ENC_Q6_K);
}

static void ggml_histogram(code_histogram *h, const unsigned char *p, uint64_t size,
                           const ggml_codes *L) {
    uint64_t n_blocks = size / L->block_bytes;
    for (uint64_t b = 0; b < n_blocks; b++) {
        const unsigned char *blk = p + b * L->block_bytes;
        const unsigned char *q = blk + L->offset;
        if (L->bits == 8) {
            for (unsigned k = 0; k < 32; k++) h->counts[(q[k] + 128u) & 0xFFu]++;
            continue;
        }
        uint32_t qh = L->bits == 5 ? (uint32_t)q[-4] | ((uint32_t)q[-3] << 8) |
                                         ((uint32_t)q[-2] << 16) | ((uint32_t)q[-1] << 24)
                                   : 0;
        for (unsigned k = 0; k < L->n / 2; k++) {
            unsigned j = k % 16; /* position within its 32-element group */
            h->counts[(q[k] & 0x0Fu) | (((qh >> j) & 1u) << 4)]++;
            h->counts[(q[k] >> 4) | (((qh >> (j + 16)) & 1u) << 4)]++;
        }
    }
    h->n_codes = n_blocks * L->n;
    h->is_signed = L->bits == 8;
    h->bits = L->bits;
}

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
    int ggml = is_ggml_id(e->id);
    if (ggml && !ggml_layout_of(e->id)) {
        snprintf(h->reason, sizeof h->reason, "K-quant codes are not histogrammed");
        return QTF_OK;
    }
    qtf_part_role want = ggml ? QTF_ROLE_BLOCKS : QTF_ROLE_CODES;
    uint32_t p = 0;
    while (p < t->n_parts && t->parts[p].role != want) p++;
    if (p == t->n_parts) {
        snprintf(h->reason, sizeof h->reason, "encoding has no codes");
        return QTF_OK;
    }
    uint64_t size = t->parts[p].decoded_size;
    if (size == 0 || size > SIZE_MAX) {
        snprintf(h->reason, sizeof h->reason, "empty code part");
        return QTF_OK;
    }
    unsigned char *buf = malloc((size_t)size);
    if (!buf) return QTF_E_NOMEM;
    qtf_status st = qtf_part_decode(buf, size, f, ti, p);
    if (st != QTF_OK) {
        free(buf);
        return st;
    }
    h->part = p;
    h->is_lut = e->id == QTF_ENC_PAL;
    if (ggml) {
        ggml_histogram(h, buf, size, ggml_layout_of(e->id));
        h->available = h->n_codes > 0;
        if (!h->available) snprintf(h->reason, sizeof h->reason, "no complete block");
        free(buf);
        return QTF_OK;
    }
    unsigned bits = e->bits;
    uint64_t cols = t->n_dims ? t->dims[t->n_dims - 1] : 1;
    uint64_t rows = t->n_dims && cols ? t->n_elements / cols : (t->n_dims ? 0 : 1);
    uint64_t dim = (e->id == QTF_ENC_PAL && e->dim > 1) ? e->dim : 1;
    uint64_t per_row = cols / dim;
    h->bits = bits;
    if (bits < 1 || bits > 8 || rows == 0 || per_row == 0 || size % rows != 0) {
        snprintf(h->reason, sizeof h->reason, "code layout not recognised");
        free(buf);
        return QTF_OK;
    }
    uint64_t row_bytes = size / rows;
    uint64_t packed_bytes = (per_row * bits + 7) / 8;
    if (row_bytes == per_row) {
        unsigned mask = (1u << bits) - 1u;
        for (uint64_t i = 0; i < size; i++) h->counts[buf[i] & mask]++;
    } else if (row_bytes == packed_bytes) {
        for (uint64_t r = 0; r < rows; r++) count_packed(h, buf + r * row_bytes, per_row, bits);
    } else {
        snprintf(h->reason, sizeof h->reason, "code layout not recognised");
        free(buf);
        return QTF_OK;
    }
    h->n_codes = rows * per_row;
    h->available = 1;
    free(buf);
    return QTF_OK;
}
