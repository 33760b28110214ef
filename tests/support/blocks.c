/* tests/support/blocks.c — block-family helpers (blocks.h). */
#include "support/blocks.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "support/container.h"

qtf_encoding enc(const char *text) { return ts_parse(text); }

qtf_status blk_quantize(blk *b, const qtf_encoding *e, const float *x, uint64_t rows,
                        uint64_t cols, const float *importance, unsigned threads) {
    memset(b, 0, sizeof *b);
    b->e = *e;
    b->rows = rows;
    b->cols = cols;
    qtf_status st = qtf__block_layout(b->layout, &b->n, e, rows, cols);
    if (st != QTF_OK) return st;
    for (uint32_t i = 0; i < b->n; i++) {
        b->part[i] = malloc((size_t)b->layout[i].size + 1);
        cr_assert_not_null(b->part[i]);
        memset(b->part[i], 0xAB, (size_t)b->layout[i].size + 1);
    }
    return qtf__block_quantize(e, x, rows, cols, importance, threads, b->part);
}

float *blk_dequantize(const blk *b, unsigned threads) {
    float *y = malloc((size_t)(b->rows * b->cols) * sizeof(float) + 4);
    cr_assert_not_null(y);
    qtf_status st = qtf__block_dequantize(y, &b->e, b->rows, b->cols,
                                          (const void *const *)b->part, threads);
    cr_assert_eq(st, QTF_OK, "dequantize: %s", qtf_error_detail());
    return y;
}

float *blk_round_trip(blk *b, const qtf_encoding *e, const float *x, uint64_t rows,
                      uint64_t cols, const float *importance, unsigned threads) {
    qtf_status st = blk_quantize(b, e, x, rows, cols, importance, threads);
    char text[96] = "?";
    if (st != QTF_OK) qtf_encoding_format(text, sizeof text, e);
    cr_assert_eq(st, QTF_OK, "quantize %s: %s", text, qtf_error_detail());
    return blk_dequantize(b, threads);
}

float *blk_decode(const qtf_encoding *e, const float *x, uint64_t rows, uint64_t cols,
                  const float *importance, unsigned threads) {
    blk b;
    float *y = blk_round_trip(&b, e, x, rows, cols, importance, threads);
    blk_free(&b);
    return y;
}

qtf_metrics blk_metrics(const qtf_encoding *e, const float *x, uint64_t rows, uint64_t cols,
                        const float *importance, const float *colw) {
    float *y = blk_decode(e, x, rows, cols, importance, 1);
    qtf_metrics m;
    cr_assert_eq(qtf_metrics_compute(&m, x, y, rows * cols, colw, colw ? cols : 0), QTF_OK, "%s",
                 qtf_error_detail());
    free(y);
    return m;
}

void blk_free(blk *b) {
    for (uint32_t i = 0; i < b->n; i++) free(b->part[i]);
    memset(b, 0, sizeof *b);
}

int blk_same_bytes(const blk *a, const blk *b) {
    if (a->n != b->n) return 0;
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->layout[i].size != b->layout[i].size) return 0;
        if (memcmp(a->part[i], b->part[i], (size_t)a->layout[i].size) != 0) return 0;
    }
    return 1;
}

int blk_find(const blk *b, qtf_part_role role) {
    for (uint32_t i = 0; i < b->n; i++)
        if (b->layout[i].role == role) return (int)i;
    return -1;
}

float *t4_data(uint64_t n, uint64_t seed) {
    rng r = { seed * 0x9E3779B97F4A7C15ull + 1 };
    float *x = malloc((size_t)n * sizeof(float) + 4);
    cr_assert_not_null(x);
    for (uint64_t i = 0; i < n; i++) x[i] = (float)rng_t4(&r);
    return x;
}

float f32_at(const void *p, uint64_t i) {
    uint32_t u = qtf__ld32((const unsigned char *)p + 4 * i);
    float v;
    memcpy(&v, &u, 4);
    return v;
}
