/* tests/test_rng.h — the splitmix64 test data of test_kmeans and test_pal:
 * one generator state per test process, seeded by assigning rng_state.
 * Header-only, for the Criterion tests. */
#ifndef QTF_TESTS_RNG_H
#define QTF_TESTS_RNG_H

#include <math.h>
#include <stdint.h>

#include "format/kmeans.h"

static uint64_t rng_state;

/* Uniform in [0, 1). */
static inline double urand(void) {
    return (double)(qtf__splitmix64(&rng_state) >> 11) * 0x1.0p-53;
}

/* Standard normal (Box-Muller; u kept away from 0 for log). */
static inline double nrand(void) {
    double u = urand(), v = urand();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#endif
