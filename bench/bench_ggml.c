/* bench/bench_ggml.c — quantize and dequantize throughput of the ggml block
 * encodings (q8_0 ... iq4_xs, ggml_mxfp4) on one core, without and with an
 * importance vector, through the public API (qtf_quantize, qtf_dequantize).
 *
 *   bench_ggml [N [SPEC ...]]
 *
 * Data: N x N f32 (default 4096), Student-t with 4 degrees of freedom scaled
 * to unit variance, the data of ggml's anchors in
 * ../shared/reference/measured-anchors.md. Importance: a fixed positive
 * per-column vector (a mean of squares, like an imatrix). Times are thread
 * CPU time (not counting time lost to other processes on a shared machine):
 * quantize once per mode, dequantize to f32 twice (best), buffers pre-faulted.
 * Prints a markdown table in M weights/s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qtf.h"

static const char *const default_specs[] = {
    "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "iq4_xs", "ggml_mxfp4",
    "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* xorshift64* and Box-Muller: fixed seed, the same data on every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double unit(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return ((double)((rng_state * 2685821657736338717ull) >> 11) + 0.5) *
           (1.0 / 9007199254740992.0);
}
static double gauss(void) {
    double u = unit(), v = unit();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
static double t4(void) {
    double z = gauss(), c = 0.0;
    for (int i = 0; i < 4; i++) {
        double g = gauss();
        c += g * g;
    }
    return z / sqrt(c / 4.0) / sqrt(2.0); /* t4 has variance 2 */
}

/* Seconds of one quantization; *out receives the result. */
static double time_quantize(qtf_encoded **out, const qtf_encoding *e, const float *x,
                            const uint64_t *dims, const float *imp) {
    qtf_quantize_options o = QTF_QUANTIZE_OPTIONS_INIT;
    o.threads = 1;
    o.importance = imp;
    double t0 = now();
    qtf_status st = qtf_quantize(out, e, x, 2, dims, &o);
    double t = now() - t0;
    if (st != QTF_OK) {
        fprintf(stderr, "quantize: %s\n", qtf_error_detail());
        exit(1);
    }
    return t;
}

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 4096;
    if (n == 0 || n % 256 != 0) {
        fprintf(stderr, "usage: %s [N (multiple of 256, default 4096) [SPEC ...]]\n", argv[0]);
        return 2;
    }
    const char *const *specs = default_specs;
    size_t n_specs = sizeof default_specs / sizeof default_specs[0];
    if (argc > 2) {
        specs = (const char *const *)(argv + 2);
        n_specs = (size_t)(argc - 2);
    }
    const uint64_t count = n * n, dims[2] = { n, n };
    float *x = malloc(count * sizeof *x), *y = malloc(count * sizeof *y);
    float *imp = malloc(n * sizeof *imp);
    if (!x || !y || !imp) return 1;
    for (uint64_t i = 0; i < count; i++) x[i] = (float)t4();
    for (uint64_t j = 0; j < n; j++) imp[j] = (float)(0.05 + 4.0 * unit() * unit());
    memset(y, 0, count * sizeof *y);

    printf("| encoding | quantize | quantize, importance | dequantize f32 |\n");
    printf("|---|---|---|---|\n");
    for (size_t s = 0; s < n_specs; s++) {
        qtf_encoding e;
        if (qtf_encoding_parse(&e, specs[s]) != QTF_OK) {
            fprintf(stderr, "%s: %s\n", specs[s], qtf_error_detail());
            return 1;
        }
        qtf_encoded *q = NULL, *qi = NULL;
        double tq = time_quantize(&q, &e, x, dims, NULL);
        double ti = time_quantize(&qi, &e, x, dims, imp);
        qtf_encoded_free(qi);
        qtf_part_view v[QTF_MAX_PARTS];
        uint32_t nv = qtf_encoded_views(v, q);
        double td = 1e30;
        for (int rep = 0; rep < 2; rep++) {
            double t0 = now();
            if (qtf_dequantize(y, QTF_DTYPE_F32, count, &e, 2, dims, v, nv, 1) != QTF_OK) {
                fprintf(stderr, "dequantize: %s\n", qtf_error_detail());
                return 1;
            }
            double t = now() - t0;
            if (t < td) td = t;
        }
        qtf_encoded_free(q);
        printf("| %s | %.1f | %.1f | %.0f |\n", specs[s], (double)count / tq * 1e-6,
               (double)count / ti * 1e-6, (double)count / td * 1e-6);
        fflush(stdout);
    }
    free(x);
    free(y);
    free(imp);
    return 0;
}
