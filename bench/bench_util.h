/* What the benchmarks share: a CPU-time clock and a fixed-seed random
 * generator, so every bench measures the same data on every run. */
#ifndef QTF_BENCH_UTIL_H
#define QTF_BENCH_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* CPU time of the calling thread: with threads = 1 all the work runs on it,
 * and unlike wall time it does not count time lost to other processes on a
 * shared machine. */
static inline double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* xorshift64* and Box-Muller: fixed seeds, the same data on every run. */
static uint64_t bench_rng_state = 0x9E3779B97F4A7C15ull;

static inline void bench_seed(uint64_t seed) { bench_rng_state = seed; }

/* Uniform in (0, 1), never 0 (log(0) in bench_gauss). */
static inline double bench_unit(void) {
    bench_rng_state ^= bench_rng_state >> 12;
    bench_rng_state ^= bench_rng_state << 25;
    bench_rng_state ^= bench_rng_state >> 27;
    return ((double)((bench_rng_state * 2685821657736338717ull) >> 11) + 0.5) *
           (1.0 / 9007199254740992.0);
}

/* Standard normal; draws u then v, in that order. */
static inline double bench_gauss(void) {
    double u = bench_unit(), v = bench_unit();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Student-t with 4 degrees of freedom scaled to unit variance: heavy tails
 * like LLM weights. */
static inline double bench_t4(void) {
    double z = bench_gauss(), c = 0.0;
    for (int i = 0; i < 4; i++) {
        double g = bench_gauss();
        c += g * g;
    }
    return z / sqrt(c / 4.0) / sqrt(2.0); /* t4 has variance 2 */
}

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
