/* Helpers shared by the block-family tests (test_block_*.c): run the family
 * functions of format/family.h on owned buffers, and make test data. */
#ifndef QTF_TEST_BLOCK_UTIL_H
#define QTF_TEST_BLOCK_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/family.h"
#include "qtf.h"

typedef struct blk {
    qtf_encoding e;
    uint64_t rows, cols;
    uint32_t n;
    qtf_part_layout layout[QTF_MAX_PARTS];
    void *part[QTF_MAX_PARTS];
} blk;

static inline qtf_encoding enc(const char *text) {
    qtf_encoding e;
    qtf_status st = qtf_encoding_parse(&e, text);
    cr_assert_eq(st, QTF_OK, "parse \"%s\": %s", text, qtf_error_detail());
    return e;
}

/* Quantizes x (rows x cols) into b; parts are prefilled with 0xAB so that a
 * byte the quantizer forgets to write shows up. */
static inline qtf_status blk_quantize(blk *b, const qtf_encoding *e, const float *x,
                                      uint64_t rows, uint64_t cols, const float *importance,
                                      unsigned threads) {
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

static inline float *blk_dequantize(const blk *b, unsigned threads) {
    float *y = malloc((size_t)(b->rows * b->cols) * sizeof(float) + 4);
    cr_assert_not_null(y);
    qtf_status st = qtf__block_dequantize(y, &b->e, b->rows, b->cols,
                                          (const void *const *)b->part, threads);
    cr_assert_eq(st, QTF_OK, "dequantize: %s", qtf_error_detail());
    return y;
}

static inline void blk_free(blk *b) {
    for (uint32_t i = 0; i < b->n; i++) free(b->part[i]);
    memset(b, 0, sizeof *b);
}

static inline int blk_same_bytes(const blk *a, const blk *b) {
    if (a->n != b->n) return 0;
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->layout[i].size != b->layout[i].size) return 0;
        if (memcmp(a->part[i], b->part[i], (size_t)a->layout[i].size) != 0) return 0;
    }
    return 1;
}

/* Index of the first part with this role, or -1. */
static inline int blk_find(const blk *b, qtf_part_role role) {
    for (uint32_t i = 0; i < b->n; i++)
        if (b->layout[i].role == role) return (int)i;
    return -1;
}

/* Deterministic test data: xorshift64*, Gaussian by Box-Muller, Student-t
 * with 4 degrees of freedom scaled to unit variance. */
typedef struct rng { uint64_t s; } rng;
static inline uint64_t rng_u64(rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}
static inline double rng_unit(rng *r) {
    return ((double)(rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static inline double rng_gauss(rng *r) {
    double u = rng_unit(r), v = rng_unit(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
static inline double rng_t4(rng *r) {
    double z = rng_gauss(r), c = 0.0;
    for (int i = 0; i < 4; i++) {
        double g = rng_gauss(r);
        c += g * g;
    }
    return z / sqrt(c / 4.0) / sqrt(2.0);
}
static inline float *t4_data(uint64_t n, uint64_t seed) {
    rng r = { seed * 0x9E3779B97F4A7C15ull + 1 };
    float *x = malloc((size_t)n * sizeof(float) + 4);
    cr_assert_not_null(x);
    for (uint64_t i = 0; i < n; i++) x[i] = (float)rng_t4(&r);
    return x;
}

static inline float f32_at(const void *p, uint64_t i) {
    uint32_t u = qtf__ld32((const unsigned char *)p + 4 * i);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

#endif
