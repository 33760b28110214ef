/* bench/bench_kquants.c — quantize and dequantize throughput of the ggml
 * K-quants (format/ggml_kquants.c) on one core, with and without an
 * importance vector, optionally side by side with ggml itself.
 *
 *   bench_kquants [ROWS [COLS]]            default 4096 x 4096
 *   QTF_BENCH_GGML=/path/libggml-base.so bench_kquants ...
 *
 * Data: Student-t(4) scaled to unit variance (the anchors' "t4"), fixed seed;
 * importance: a fixed positive per-column vector (mean of squared
 * activations is what llama-imatrix produces: here g^2 + 0.05 for Gaussian g).
 * Times are thread CPU time (a shared machine's other jobs do not count);
 * quantize best of 2, dequantize the whole matrix best of 7 through the
 * public qtf_dequantize (which streams a destination larger than the caches,
 * format/stream.h; ggml's row function writes with normal stores) and a
 * 64-row chunk (L2-resident output, the row function itself) best of 200 (the
 * compute rate). With QTF_BENCH_GGML, ggml's
 * quantize_<type> and dequantize_row_<type> from that library run on the same
 * data, and the output bytes are compared (the target is ratio >= 1.0 with
 * identical bytes). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "format/ggml_kquants.h"
#include "qtf.h"

typedef void (*quant_fn)(const float *, void *, int64_t, int64_t, const float *);
typedef void (*dequant_fn)(const void *, float *, int64_t);
typedef size_t (*ggml_quant_fn)(const float *, void *, int64_t, int64_t, const float *);

static const struct {
    const char *name, *ggml_name, *spec;
    size_t bytes;
    quant_fn quantize;
    dequant_fn dequantize;
} TYPES[] = {
    {"Q2_K", "q2_K", "q2_k", 84, qtf__ggml_quantize_q2_k, qtf__ggml_dequantize_q2_k},
    {"Q3_K", "q3_K", "q3_k", 110, qtf__ggml_quantize_q3_k, qtf__ggml_dequantize_q3_k},
    {"Q4_K", "q4_K", "q4_k", 144, qtf__ggml_quantize_q4_k, qtf__ggml_dequantize_q4_k},
    {"Q5_K", "q5_K", "q5_k", 176, qtf__ggml_quantize_q5_k, qtf__ggml_dequantize_q5_k},
    {"Q6_K", "q6_K", "q6_k", 210, qtf__ggml_quantize_q6_k, qtf__ggml_dequantize_q6_k},
};

int main(int argc, char **argv) {
    const int64_t rows = argc > 1 ? atoll(argv[1]) : 4096;
    const int64_t cols = argc > 2 ? atoll(argv[2]) : 4096;
    if (rows <= 0 || cols <= 0 || cols % QTF__QK_K) {
        fprintf(stderr, "usage: bench_kquants [ROWS [COLS]] (COLS a multiple of 256)\n");
        return 2;
    }
    const size_t n = (size_t)rows * (size_t)cols;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *imp = malloc(cols * sizeof *imp);
    uint8_t *ours = malloc(n / 256 * 210), *theirs = malloc(n / 256 * 210);
    if (!x || !y || !imp || !ours || !theirs) return 1;
    for (size_t i = 0; i < n; i++) x[i] = (float)bench_t4();
    for (int64_t i = 0; i < cols; i++) {
        const double g = bench_gauss();
        imp[i] = (float)(g * g + 0.05);
    }
    memset(y, 0, n * sizeof *y);
    memset(ours, 0, n / 256 * 210);
    memset(theirs, 0, n / 256 * 210);

    void *lib = NULL;
    const char *ggml_path = getenv("QTF_BENCH_GGML");
    if (ggml_path && !(lib = dlopen(ggml_path, RTLD_NOW | RTLD_LOCAL))) {
        fprintf(stderr, "cannot load %s: %s\n", ggml_path, dlerror());
        return 1;
    }
    printf("%lld x %lld t4, 1 thread, thread CPU time%s%s\n\n", (long long)rows,
           (long long)cols, lib ? "; ggml from " : "", lib ? ggml_path : "");
    printf("| type | importance | quantize M w/s | ggml M w/s | ratio | bytes equal | "
           "dequantize G w/s | ggml G w/s | dequantize 64 rows G w/s | ggml 64 rows G w/s |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t k = 0; k < sizeof TYPES / sizeof *TYPES; k++) {
        const size_t nbytes = n / 256 * TYPES[k].bytes;
        ggml_quant_fn gq = NULL;
        dequant_fn gd = NULL;
        if (lib) {
            char sym[64];
            snprintf(sym, sizeof sym, "quantize_%s", TYPES[k].ggml_name);
            *(void **)&gq = dlsym(lib, sym);
            snprintf(sym, sizeof sym, "dequantize_row_%s", TYPES[k].ggml_name);
            *(void **)&gd = dlsym(lib, sym);
        }
        for (int use = 0; use < 2; use++) {
            const float *w = use ? imp : NULL;
            double best = 1e30, gbest = 1e30;
            for (int rep = 0; rep < 2; rep++) {
                double t0 = bench_now();
                TYPES[k].quantize(x, ours, rows, cols, w);
                double t = bench_now() - t0;
                if (t < best) best = t;
                if (gq) {
                    t0 = bench_now();
                    gq(x, theirs, rows, cols, w);
                    t = bench_now() - t0;
                    if (t < gbest) gbest = t;
                }
            }
            qtf_encoding enc;
            qtf_part_layout lay[QTF_MAX_PARTS];
            uint32_t n_lay = 0;
            const uint64_t dims[2] = { (uint64_t)rows, (uint64_t)cols };
            if (qtf_encoding_parse(&enc, TYPES[k].spec) != QTF_OK ||
                qtf_encoding_layout(lay, &n_lay, &enc, 2, dims) != QTF_OK || n_lay != 1) {
                fprintf(stderr, "%s: %s\n", TYPES[k].spec, qtf_error_detail());
                return 1;
            }
            const qtf_part_view view = { .role = lay[0].role, .type = lay[0].type,
                                         .size = lay[0].size, .data = ours };
            double dq = 1e30, gdq = 1e30;
            for (int rep = 0; rep < 7; rep++) {
                double t0 = bench_now();
                if (qtf_dequantize(y, QTF_DTYPE_F32, n, &enc, 2, dims, &view, 1, 1) != QTF_OK) {
                    fprintf(stderr, "%s: %s\n", TYPES[k].spec, qtf_error_detail());
                    return 1;
                }
                double t = bench_now() - t0;
                if (t < dq) dq = t;
                if (gd) {
                    t0 = bench_now();
                    gd(ours, y, (int64_t)n);
                    t = bench_now() - t0;
                    if (t < gdq) gdq = t;
                }
            }
            /* the compute rate: a 64-row chunk whose output stays in L2 */
            const int64_t chunk = (rows < 64 ? rows : 64) * cols;
            double cq = 1e30, gcq = 1e30;
            for (int rep = 0; rep < 200; rep++) {
                double t0 = bench_now();
                TYPES[k].dequantize(ours, y, chunk);
                double t = bench_now() - t0;
                if (t < cq) cq = t;
                if (gd) {
                    t0 = bench_now();
                    gd(ours, y, chunk);
                    t = bench_now() - t0;
                    if (t < gcq) gcq = t;
                }
            }
            const double mq = (double)n / best * 1e-6;
            if (gq) {
                const double mg = (double)n / gbest * 1e-6;
                printf("| %s | %s | %.1f | %.1f | %.2f | %s | %.2f | %.2f | %.2f | %.2f |\n",
                       TYPES[k].name, use ? "yes" : "no", mq, mg, mq / mg,
                       memcmp(ours, theirs, nbytes) == 0 ? "yes" : "NO", (double)n / dq * 1e-9,
                       gd ? (double)n / gdq * 1e-9 : 0.0, (double)chunk / cq * 1e-9,
                       gd ? (double)chunk / gcq * 1e-9 : 0.0);
            } else {
                printf("| %s | %s | %.1f | - | - | - | %.2f | - | %.2f | - |\n", TYPES[k].name,
                       use ? "yes" : "no", mq, (double)n / dq * 1e-9, (double)chunk / cq * 1e-9);
            }
            fflush(stdout);
        }
    }
    if (lib) dlclose(lib);
    free(x), free(y), free(imp), free(ours), free(theirs);
    return 0;
}
