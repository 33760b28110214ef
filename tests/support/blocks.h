/* tests/support/blocks.h — what the block-family tests (test_block_*.c)
 * share: running the family functions of format/family.h on owned buffers,
 * and heavy-tailed test data. Criterion: failures fail the running test. */
#ifndef QTF_TEST_SUPPORT_BLOCKS_H
#define QTF_TEST_SUPPORT_BLOCKS_H

#include <stdint.h>

#include "format/family.h"
#include "qtf.h"
#include "support/rng.h"

typedef struct blk {
    qtf_encoding e;
    uint64_t rows, cols;
    uint32_t n;
    qtf_part_layout layout[QTF_MAX_PARTS];
    void *part[QTF_MAX_PARTS];
} blk;

/* The encoding `text`, which must parse. */
qtf_encoding enc(const char *text);

/* Quantizes x (rows x cols) into b; parts are prefilled with 0xAB so that a
 * byte the quantizer forgets to write shows up. */
qtf_status blk_quantize(blk *b, const qtf_encoding *e, const float *x, uint64_t rows,
                        uint64_t cols, const float *importance, unsigned threads);
/* blk_quantize, which must succeed, then blk_dequantize with as many threads. */
float *blk_round_trip(blk *b, const qtf_encoding *e, const float *x, uint64_t rows,
                      uint64_t cols, const float *importance, unsigned threads);
/* The values x decode to once quantized as *e (malloc'd); both must succeed. */
float *blk_decode(const qtf_encoding *e, const float *x, uint64_t rows, uint64_t cols,
                  const float *importance, unsigned threads);
/* The error of blk_decode (one thread) against x: qtf_metrics_compute with
 * column weights colw (cols of them) unless NULL. */
qtf_metrics blk_metrics(const qtf_encoding *e, const float *x, uint64_t rows, uint64_t cols,
                        const float *importance, const float *colw);
/* The decoded values (malloc'd); decoding must succeed. */
float *blk_dequantize(const blk *b, unsigned threads);
void blk_free(blk *b);
/* 1 if both hold the same parts, byte for byte. */
int blk_same_bytes(const blk *a, const blk *b);
/* Index of the first part with this role, or -1. */
int blk_find(const blk *b, qtf_part_role role);

/* n Student-t(4) values (rng_t4) from a stream seeded by `seed` (malloc'd). */
float *t4_data(uint64_t n, uint64_t seed);
/* The i-th little-endian f32 of p. */
float f32_at(const void *p, uint64_t i);

#endif
