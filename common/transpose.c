/* common/transpose.c — transposing a row-major matrix of fixed-size
 * elements, for tensors stored transposed (spec/FORMAT.md section 6.4). */
#include <string.h>

#include "common.h"

/* Tiles keep both the rows read and the rows written in cache; elements
 * are moved as bits, so the result is exact for any type. */
#define TILE 32u

#define TRANSPOSE_TILES(T)                                                                  \
    do {                                                                                    \
        T *d = dst;                                                                         \
        const T *s = src;                                                                   \
        for (uint64_t r0 = 0; r0 < rows; r0 += TILE) {                                      \
            uint64_t r1 = rows - r0 < TILE ? rows : r0 + TILE;                              \
            for (uint64_t c0 = 0; c0 < cols; c0 += TILE) {                                  \
                uint64_t c1 = cols - c0 < TILE ? cols : c0 + TILE;                          \
                for (uint64_t r = r0; r < r1; r++)                                          \
                    for (uint64_t c = c0; c < c1; c++) d[c * rows + r] = s[r * cols + c];   \
            }                                                                               \
        }                                                                                   \
    } while (0)

void qtf__transpose(void *dst, const void *src, uint64_t rows, uint64_t cols, size_t elem) {
    if (elem == 4) {
        TRANSPOSE_TILES(uint32_t);
        return;
    }
    if (elem == 2) {
        TRANSPOSE_TILES(uint16_t);
        return;
    }
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++)
            memcpy(d + (c * rows + r) * elem, s + (r * cols + c) * elem, elem);
}
