/* bench/bench_float.c — throughput of the bulk float conversions and of the
 * error metrics (format/float.c, format/metrics.c), one thread.
 *
 *   bench_float [N]        N elements per buffer (default 16 Mi)
 *
 * Each figure is the best of 7 runs over buffers larger than the caches,
 * in G elements per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qtf.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { TO_F32_BF16, TO_F32_F16, FROM_F32_BF16, FROM_F32_F16, METRICS, METRICS_W, N_KINDS };
static const char *const kind_names[N_KINDS] = {
    "bf16 -> f32", "f16 -> f32", "f32 -> bf16", "f32 -> f16", "metrics", "metrics, weighted",
};

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : (size_t)16 << 20;
    if (n < 4096) n = 4096;
    const size_t cols = 4096;
    n -= n % cols;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *w = malloc(cols * 4);
    uint16_t *h = malloc(n * 2);
    if (!a || !b || !h || !w) {
        fprintf(stderr, "bench_float: out of memory\n");
        return 1;
    }
    uint32_t s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        a[i] = ((float)(s >> 8) - 8388608.0f) * 0x1p-20f;
        b[i] = a[i] * 1.01f;
    }
    for (size_t j = 0; j < cols; j++) w[j] = 1.0f + (float)(j % 7);
    qtf_convert_from_f32(h, QTF_DTYPE_F16, a, n);
    printf("| operation (%zu elements) | G elements/s |\n|---|---|\n", n);
    for (int k = 0; k < N_KINDS; k++) {
        double best = 1e30;
        for (int r = 0; r < 7; r++) {
            qtf_metrics m;
            double t0 = now();
            qtf_status st = QTF_OK;
            switch (k) {
            case TO_F32_BF16: st = qtf_convert_to_f32(b, h, QTF_DTYPE_BF16, n); break;
            case TO_F32_F16: st = qtf_convert_to_f32(b, h, QTF_DTYPE_F16, n); break;
            case FROM_F32_BF16: st = qtf_convert_from_f32(h, QTF_DTYPE_BF16, a, n); break;
            case FROM_F32_F16: st = qtf_convert_from_f32(h, QTF_DTYPE_F16, a, n); break;
            case METRICS: st = qtf_metrics_compute(&m, a, b, n, NULL, 0); break;
            case METRICS_W: st = qtf_metrics_compute(&m, a, b, n, w, cols); break;
            }
            double t = now() - t0;
            if (st != QTF_OK) {
                fprintf(stderr, "%s: %s\n", kind_names[k], qtf_error_detail());
                return 1;
            }
            if (t < best) best = t;
            /* the f16 source for the widening runs is refreshed after narrowing */
            if (k == FROM_F32_F16 || k == FROM_F32_BF16)
                qtf_convert_from_f32(h, QTF_DTYPE_F16, a, n);
        }
        printf("| %s | %.2f |\n", kind_names[k], (double)n / best / 1e9);
    }
    free(a);
    free(b);
    free(h);
    free(w);
    return 0;
}
