/* tests/support/rng.h — the deterministic test data generators (no
 * Criterion): a process-wide splitmix64 state (test_kmeans, test_pal) and a
 * caller-owned xorshift64* state (the block-family tests). The streams are
 * what the tests' expected values were measured with: do not change them. */
#ifndef QTF_TEST_SUPPORT_RNG_H
#define QTF_TEST_SUPPORT_RNG_H

#include <stdint.h>

/* splitmix64 (format/kmeans.h): seeded by assigning rng_state. */
extern uint64_t rng_state;
/* Uniform in [0, 1). */
double urand(void);
/* Standard normal (Box-Muller; u kept away from 0 for log). */
double nrand(void);

/* xorshift64*: Gaussian by Box-Muller, Student-t with 4 degrees of freedom
 * scaled to unit variance. */
typedef struct rng { uint64_t s; } rng;
uint64_t rng_u64(rng *r);
double rng_unit(rng *r);
double rng_gauss(rng *r);
double rng_t4(rng *r);

/* n heavy-tailed values from a 64-bit LCG (malloc'd; the ggml type tests). */
float *t4_like(uint64_t n, uint64_t seed);

#endif
