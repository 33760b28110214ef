/* tests/support/rng.c — deterministic test data generators (rng.h). */
#include "support/rng.h"

#include <math.h>
#include <stdlib.h>

#include "format/kmeans.h"

uint64_t rng_state;

double urand(void) {
    return (double)(qtf__splitmix64(&rng_state) >> 11) * 0x1.0p-53;
}

double nrand(void) {
    double u = urand(), v = urand();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

uint64_t rng_u64(rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

double rng_unit(rng *r) {
    return ((double)(rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double rng_gauss(rng *r) {
    double u = rng_unit(r), v = rng_unit(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

double rng_t4(rng *r) {
    double z = rng_gauss(r), c = 0.0;
    for (int i = 0; i < 4; i++) {
        double g = rng_gauss(r);
        c += g * g;
    }
    return z / sqrt(c / 4.0) / sqrt(2.0);
}

float *t4_like(uint64_t n, uint64_t seed) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    if (!x) abort();
    uint64_t s = seed;
    for (uint64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double u = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
        x[i] = (float)((u - 0.5) * 4.0 / (0.3 + fabs(u - 0.5)));
    }
    return x;
}
