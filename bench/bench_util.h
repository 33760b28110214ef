/* What the benchmarks share: a CPU-time clock and a fixed-seed random
 * generator, so every bench measures the same data on every run. */
#ifndef QTF_BENCH_UTIL_H
#define QTF_BENCH_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "support/rng.h"

/* CPU time of the calling thread: with threads = 1 all the work runs on it,
 * and unlike wall time it does not count time lost to other processes on a
 * shared machine. */
static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The tests' xorshift64* and Box-Muller (tests/support/rng.h) with a fixed
 * seed: the same data on every run. */
static rng bench_rng = { 0x9E3779B97F4A7C15ull };

static inline void bench_seed(uint64_t seed) { bench_rng.s = seed; }

/* Uniform in (0, 1), never 0 (log(0) in bench_gauss). */
static inline double bench_unit(void) { return rng_unit(&bench_rng); }

/* Standard normal; draws u then v, in that order. */
static inline double bench_gauss(void) { return rng_gauss(&bench_rng); }

/* Student-t with 4 degrees of freedom scaled to unit variance: heavy tails
 * like LLM weights. */
static inline double bench_t4(void) { return rng_t4(&bench_rng); }

/* The encodings to measure: argv[2..] when given, else the defaults. */
static inline size_t bench_specs(const char *const **out, int argc, char **argv,
                                 const char *const *defaults, size_t n_defaults) {
    if (argc > 2) {
        *out = (const char *const *)(argv + 2);
        return (size_t)(argc - 2);
    }
    *out = defaults;
    return n_defaults;
}

#endif
