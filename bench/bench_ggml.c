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
 * Prints a markdown table in M weights/s.
 *
 * With QTF_BENCH_GGML=/path/libggml-base.so, ggml's quantize_<type> and
 * dequantize_row_<type> run on the same data in the same process (ratio
 * QTF / ggml), and ggml's blocks are compared with QTF's ("bytes equal"). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "qtf.h"

static const char *const default_specs[] = {
    "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "iq4_xs", "ggml_mxfp4",
    "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
};

typedef size_t (*ggml_quant_fn)(const float *, void *, int64_t, int64_t, const float *);
typedef void (*ggml_dequant_fn)(const void *, float *, int64_t);

/* ggml's name of a QTF ggml encoding ("q4_k" -> "q4_K", "ggml_mxfp4" -> "mxfp4"). */
static void ggml_name(char *out, size_t cap, const char *spec) {
    if (strcmp(spec, "ggml_mxfp4") == 0) spec = "mxfp4";
    snprintf(out, cap, "%s", spec);
    size_t n = strlen(out);
    if (n == 4 && out[0] == 'q' && out[3] == 'k') out[3] = 'K';
}

/* Seconds of one quantization; *out receives the result. */
static double time_quantize(qtf_encoded **out, const qtf_encoding *e, const float *x,
                            const uint64_t *dims, const float *imp) {
    qtf_quantize_options o = QTF_QUANTIZE_OPTIONS_INIT;
    o.threads = 1;
    o.importance = imp;
    double t0 = bench_now();
    qtf_status st = qtf_quantize(out, e, x, 2, dims, &o);
    double t = bench_now() - t0;
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
    const char *const *specs;
    size_t n_specs = bench_specs(&specs, argc, argv, default_specs,
                                 sizeof default_specs / sizeof default_specs[0]);
    const uint64_t count = n * n, dims[2] = { n, n };
    float *x = malloc(count * sizeof *x), *y = malloc(count * sizeof *y);
    float *imp = malloc(n * sizeof *imp);
    if (!x || !y || !imp) return 1;
    for (uint64_t i = 0; i < count; i++) x[i] = (float)bench_t4();
    for (uint64_t j = 0; j < n; j++) imp[j] = (float)(0.05 + 4.0 * bench_unit() * bench_unit());
    memset(y, 0, count * sizeof *y);

    void *lib = NULL;
    const char *ggml_path = getenv("QTF_BENCH_GGML");
    if (ggml_path && !(lib = dlopen(ggml_path, RTLD_NOW | RTLD_LOCAL))) {
        fprintf(stderr, "cannot load %s: %s\n", ggml_path, dlerror());
        return 1;
    }
    void *theirs = lib ? malloc(count * sizeof(float)) : NULL;
    if (lib) {
        printf("| encoding | quantize | ggml | ratio | importance | ggml | ratio | bytes equal "
               "| dequantize f32 | ggml | ratio |\n");
        printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    } else {
        printf("| encoding | quantize | quantize, importance | dequantize f32 |\n");
        printf("|---|---|---|---|\n");
    }
    for (size_t s = 0; s < n_specs; s++) {
        qtf_encoding e;
        if (qtf_encoding_parse(&e, specs[s]) != QTF_OK) {
            fprintf(stderr, "%s: %s\n", specs[s], qtf_error_detail());
            return 1;
        }
        ggml_quant_fn gq = NULL;
        ggml_dequant_fn gd = NULL;
        if (lib) {
            char name[32], sym[64];
            ggml_name(name, sizeof name, specs[s]);
            snprintf(sym, sizeof sym, "quantize_%s", name);
            *(void **)&gq = dlsym(lib, sym);
            snprintf(sym, sizeof sym, "dequantize_row_%s", name);
            *(void **)&gd = dlsym(lib, sym);
        }
        qtf_encoded *q = NULL, *qi = NULL;
        double tq = time_quantize(&q, &e, x, dims, NULL);
        double ti = time_quantize(&qi, &e, x, dims, imp);
        double gtq = 0, gti = 0;
        int equal = -1;
        if (gq) {
            double t0 = bench_now();
            gq(x, theirs, (int64_t)n, (int64_t)n, NULL);
            gtq = bench_now() - t0;
            equal = memcmp(theirs, q->data[0], q->layout[0].size) == 0;
            t0 = bench_now();
            gq(x, theirs, (int64_t)n, (int64_t)n, imp);
            gti = bench_now() - t0;
            equal = equal && memcmp(theirs, qi->data[0], qi->layout[0].size) == 0;
        }
        qtf_encoded_free(qi);
        qtf_part_view v[QTF_MAX_PARTS];
        uint32_t nv = qtf_encoded_views(v, q);
        double td = 1e30, gtd = 1e30;
        for (int rep = 0; rep < 2; rep++) {
            double t0 = bench_now();
            if (qtf_dequantize(y, QTF_DTYPE_F32, count, &e, 2, dims, v, nv, 1) != QTF_OK) {
                fprintf(stderr, "dequantize: %s\n", qtf_error_detail());
                return 1;
            }
            double t = bench_now() - t0;
            if (t < td) td = t;
            if (gd) {
                t0 = bench_now();
                gd(q->data[0], y, (int64_t)count);
                t = bench_now() - t0;
                if (t < gtd) gtd = t;
            }
        }
        qtf_encoded_free(q);
        const double c = (double)count * 1e-6;
        if (lib && gq && gd)
            printf("| %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f | %s | %.0f | %.0f | %.2f |\n",
                   specs[s], c / tq, c / gtq, gtq / tq, c / ti, c / gti, gti / ti,
                   equal ? "yes" : "**no**", c / td, c / gtd, gtd / td);
        else
            printf("| %s | %.1f | %.1f | %.0f |\n", specs[s], c / tq, c / ti, c / td);
        fflush(stdout);
    }
    free(theirs);
    if (lib) dlclose(lib);
    free(x);
    free(y);
    free(imp);
    return 0;
}
