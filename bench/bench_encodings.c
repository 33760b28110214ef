/* bench/bench_encodings.c — error per bit and speed of every quantized
 * encoding, through the public API (qtf_encoding_parse, qtf_quantize,
 * qtf_dequantize), one thread.
 *
 *   bench_encodings [N [SPEC ...]]
 *
 * Data (N x N f32, default 4096): Gaussian; Student-t with 4 degrees of
 * freedom scaled to unit variance ("t4"); "llm": t4 with 1% of the input
 * columns scaled by 10..50 (outlier channels). Bits per weight count every
 * part; for specs with zstd each part is compressed with ZSTD_compress at the
 * spec's level and counted at min(compressed, plain) bytes, as the writer
 * stores it. Speeds are measured on the t4 data in thread CPU time: quantize
 * once, dequantize twice (best), destination buffers pre-faulted. Prints a markdown table and
 * the status of the targets of bench/RESULTS-encodings.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "bench_util.h"
#include "qtf.h"

static const char *const default_specs[] = {
    "q8_0", "int8", "int8:group=row", "int8:group=32,search", "int8:group=32,dq",
    "int8:group=32,dq,search", "int8:group=64,dq,search",
    "q4_0", "q4_1", "int4", "int4:search", "int4:group=64", "int4:group=64,search",
    "int4:group=64,asym", "int4:group=64,asym,search", "int4:group=128,asym,search",
    "int3:group=64,search", "int2:group=32,asym,search", "int5:group=64", "int6:group=128",
    "int7:group=64",
    "nf4", "nf4:dq", "nf4:search", "nf4:dq,search", "fp4", "fp4:group=32", "mxfp4",
    "int4:zstd=1", "int5:group=128,zstd=1", "int5:group=128,search,zstd=1",
    "int6:group=512,zstd=1", "int6:group=1024,zstd=1", "int6:group=1024,search,zstd=1",
    "int6:group=1024,zstd=3", "int7:group=row,zstd=1",
    "pal4", "pal4:rows=8", "pal4:group=64", "pal4:group=32,dq",
};

enum { DATA_GAUSS, DATA_T4, DATA_LLM, N_DATA };
static const char *const data_names[N_DATA] = { "gauss", "t4", "llm" };

typedef struct result {
    int ok;
    char error[160];
    double bpw[N_DATA], rel[N_DATA];
    double quant_mps, dequant_mps;
} result;

static void make_data(float *x, uint64_t rows, uint64_t cols, int kind) {
    bench_seed(0x9E3779B97F4A7C15ull * (uint64_t)(kind + 1));
    for (uint64_t i = 0; i < rows * cols; i++) x[i] = (float)(kind == DATA_GAUSS ? bench_gauss() : bench_t4());
    if (kind == DATA_LLM) {
        for (uint64_t j = 0; j < cols; j++) {
            if (bench_unit() >= 0.01) continue;
            float f = (float)(10.0 + 40.0 * bench_unit());
            for (uint64_t r = 0; r < rows; r++) x[r * cols + j] *= f;
        }
    }
}

static uint64_t stored_bytes(const qtf_encoded *enc, int level) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < enc->n_parts; i++) {
        uint64_t size = enc->layout[i].size;
        if (level > 0 && size > 0) {
            size_t cap = ZSTD_compressBound((size_t)size);
            void *buf = malloc(cap);
            if (buf) {
                size_t c = ZSTD_compress(buf, cap, enc->data[i], (size_t)size, level);
                if (!ZSTD_isError(c) && c < size) size = c;
                free(buf);
            }
        }
        total += size;
    }
    return total;
}

static void run_one(result *res, const char *spec, const float *x, float *y, uint64_t rows,
                    uint64_t cols, int kind) {
    qtf_encoding e;
    if (qtf_encoding_parse(&e, spec) != QTF_OK) {
        snprintf(res->error, sizeof res->error, "parse: %s", qtf_error_detail());
        return;
    }
    uint64_t dims[2] = { rows, cols };
    qtf_quantize_options qo = QTF_QUANTIZE_OPTIONS_INIT;
    qo.threads = 1;
    qtf_encoded *enc = NULL;
    double t0 = bench_now();
    qtf_status st = qtf_quantize(&enc, &e, x, 2, dims, &qo);
    double t1 = bench_now();
    if (st != QTF_OK) {
        snprintf(res->error, sizeof res->error, "quantize: %s: %s", qtf_status_name(st),
                 qtf_error_detail());
        return;
    }
    qtf_part_view views[QTF_MAX_PARTS];
    uint32_t n = qtf_encoded_views(views, enc);
    double best = INFINITY;
    for (int rep = 0; rep < (kind == DATA_T4 ? 2 : 1); rep++) {
        double t2 = bench_now();
        st = qtf_dequantize(y, QTF_DTYPE_F32, rows * cols, &e, 2, dims, views, n, 1);
        double t3 = bench_now();
        if (st != QTF_OK) {
            snprintf(res->error, sizeof res->error, "dequantize: %s: %s", qtf_status_name(st),
                     qtf_error_detail());
            qtf_encoded_free(enc);
            return;
        }
        best = t3 - t2 < best ? t3 - t2 : best;
    }
    qtf_metrics m;
    qtf_metrics_compute(&m, x, y, rows * cols, NULL, 0);
    res->rel[kind] = m.rel_rmse;
    res->bpw[kind] = (double)stored_bytes(enc, (int)e.zstd_level) * 8.0 / (double)(rows * cols);
    if (kind == DATA_T4) {
        res->quant_mps = (double)(rows * cols) / (t1 - t0) / 1e6;
        res->dequant_mps = (double)(rows * cols) / best / 1e6;
    }
    res->ok = 1;
    qtf_encoded_free(enc);
}

int main(int argc, char **argv) {
    uint64_t size = argc > 1 ? strtoull(argv[1], NULL, 10) : 4096;
    if (size < 32 || size % 32 != 0) {
        fprintf(stderr, "usage: %s [N (multiple of 32, default 4096) [SPEC ...]]\n", argv[0]);
        return 2;
    }
    const char *const *specs;
    size_t n_specs = bench_specs(&specs, argc, argv, default_specs,
                                 sizeof default_specs / sizeof default_specs[0]);
    const uint64_t rows = size, cols = size;
    float *x = malloc((size_t)(rows * cols) * sizeof *x);
    float *y = malloc((size_t)(rows * cols) * sizeof *y);
    result *res = calloc(n_specs, sizeof *res);
    if (!x || !y || !res) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    memset(y, 0, (size_t)(rows * cols) * sizeof *y); /* pre-fault the destination */
    for (int kind = 0; kind < N_DATA; kind++) {
        make_data(x, rows, cols, kind);
        for (size_t s = 0; s < n_specs; s++) {
            if (kind > 0 && !res[s].ok) continue;
            res[s].ok = 0;
            run_one(&res[s], specs[s], x, y, rows, cols, kind);
            fprintf(stderr, "%s %s: %s\n", data_names[kind], specs[s],
                    res[s].ok ? "ok" : res[s].error);
        }
    }

    printf("%llux%llu f32, one thread (speeds in thread CPU time). rel = relative RMSE "
           "||x - x'|| / ||x||.\n\n",
           (unsigned long long)rows, (unsigned long long)cols);
    printf("| encoding | bpw gauss | bpw t4 | bpw llm | rel gauss | rel t4 | rel llm | "
           "quantize M/s | dequantize M/s |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (size_t s = 0; s < n_specs; s++) {
        if (!res[s].ok) {
            printf("| %s | failed: %s |||||||\n", specs[s], res[s].error);
            continue;
        }
        printf("| %s | %.4f | %.4f | %.4f | %.5f | %.5f | %.5f | %.0f | %.0f |\n", specs[s],
               res[s].bpw[0], res[s].bpw[1], res[s].bpw[2], res[s].rel[0], res[s].rel[1],
               res[s].rel[2], res[s].quant_mps, res[s].dequant_mps);
    }

    /* Targets (t4 data). */
    double best425 = INFINITY, best85 = INFINITY;
    const char *at425 = "-", *at85 = "-";
    for (size_t s = 0; s < n_specs; s++) {
        if (!res[s].ok) continue;
        if (res[s].bpw[DATA_T4] <= 4.25 && res[s].rel[DATA_T4] < best425) {
            best425 = res[s].rel[DATA_T4];
            at425 = specs[s];
        }
        if (res[s].bpw[DATA_T4] <= 8.5 && res[s].rel[DATA_T4] < best85) {
            best85 = res[s].rel[DATA_T4];
            at85 = specs[s];
        }
    }
    printf("\nTargets (t4):\n");
    printf("- best rel. RMSE at <= 4.25 bpw: %.5f (%s); target <= 0.085: %s\n", best425, at425,
           best425 <= 0.085 ? "met" : "MISSED");
    printf("- best rel. RMSE at <= 8.5 bpw: %.5f (%s); target <= 0.0073: %s\n", best85, at85,
           best85 <= 0.0073 ? "met" : "MISSED");
    free(x);
    free(y);
    free(res);
    return 0;
}
