/* tests/test_rows.c — qtf_tensor_dequantize_rows: every row range of tensors
 * of every encoding family (row units from palette tables and dq blocks,
 * shared parts, zstd parts) gives bit for bit the rows of the whole-tensor
 * decode; argument errors. */
#include <math.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include "support/container.h"
#include "support/files.h"

static const char *const encodings[] = {
    "f32", "f16", "bf16", "int8", "int4:group=32", "int3:group=16,asym", "int4:group=tensor",
    "int4:group=16,dq", "int2:group=8,dq,asym", "nf4:group=64", "fp4:group=32", "mxfp4",
    "q8_0", "q4_0", "q4_1", "pal4", "pal3:rows=3", "pal4:rows=4,rowscale,dq",
    "pal2:rows=5,group=16,lut=int8", "pal4:dim=2,rows=2", "int4:group=32,zstd",
    "pal4:rows=3,zstd", "q5_0", "q5_1", "iq4_nl", "iq4_xs", "q2_k", "q3_k", "q4_k", "q5_k",
    "q6_k", "ggml_mxfp4",
};

/* Writes one rows x cols tensor "w" with encoding `spec`. */
static char *write_file(const char *dir, const char *spec, float *src, uint64_t rows,
                        uint64_t cols) {
    char *path = tu_path(dir, "rows.qtf");
    qtf_encoding enc = ts_parse(spec);
    uint64_t dims[2] = { rows, cols };
    ts_write_quantized(path, "w", &enc, src, 2, dims, QTF_DTYPE_F32, (int)enc.zstd_level);
    return path;
}

/* rows x cols pseudo-random values in [-0.5, 0.5), row i scaled by 1 + i % 7 */
static float *random_matrix(uint64_t rows, uint64_t cols, uint32_t seed) {
    float *src = malloc(rows * cols * sizeof *src);
    cr_assert_not_null(src);
    for (uint64_t i = 0; i < rows * cols; i++) {
        seed = seed * 1664525u + 1013904223u;
        src[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * (1.0f + (float)(i / cols % 7));
    }
    return src;
}

Test(rows, every_range_matches_the_whole_decode) {
    const uint64_t rows = 37, cols = 256; /* K-quants: 256-element super-blocks */
    float *src = random_matrix(rows, cols, 12345);
    char *dir = tu_mkdtemp();
    for (size_t k = 0; k < sizeof encodings / sizeof *encodings; k++) {
        char *path = write_file(dir, encodings[k], src, rows, cols);
        qtf_file *f = NULL;
        cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK, "%s", qtf_error_detail());
        static const qtf_dtype types[] = { QTF_DTYPE_F32, QTF_DTYPE_BF16 };
        for (size_t ti = 0; ti < 2; ti++) {
            size_t es = qtf_dtype_size(types[ti]);
            unsigned char *all = malloc(rows * cols * es), *part = malloc(rows * cols * es);
            cr_assert_eq(qtf_tensor_dequantize(all, types[ti], rows * cols, f, 0, 1), QTF_OK);
            for (uint64_t a = 0; a <= rows; a += (a < 6 ? 1 : 5))
                for (uint64_t b = a; b <= rows; b += (b - a < 4 ? 1 : 7)) {
                    uint64_t n = (b - a) * cols;
                    memset(part, 0xAB, rows * cols * es);
                    cr_assert_eq(qtf_tensor_dequantize_rows(part, types[ti], n, f, 0, a, b,
                                                            2), QTF_OK,
                                 "%s rows %llu..%llu: %s", encodings[k], (unsigned long long)a,
                                 (unsigned long long)b, qtf_error_detail());
                    cr_assert_eq(memcmp(part, all + a * cols * es, n * es), 0,
                                 "%s %s rows %llu..%llu differ from the whole decode",
                                 encodings[k], qtf_dtype_name(types[ti]),
                                 (unsigned long long)a, (unsigned long long)b);
                    /* nothing written past the rows asked for */
                    cr_assert_eq(part[n * es], 0xAB);
                }
            free(all);
            free(part);
        }
        qtf_file_close(f);
        unlink(path);
        free(path);
    }
    tu_rmtree(dir);
    free(src);
}

Test(rows, refuses_bad_ranges_and_types) {
    const uint64_t rows = 4, cols = 32;
    float src[4 * 32] = { 0 };
    src[5] = 1.0f;
    char *dir = tu_mkdtemp();
    char *path = write_file(dir, "int8", src, rows, cols);
    qtf_file *f = NULL;
    cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK);
    float out[4 * 32];
    cr_assert_eq(qtf_tensor_dequantize_rows(out, QTF_DTYPE_F32, 64, f, 0, 3, 5, 1),
                 QTF_E_INVALID_ARG);
    cr_assert(strstr(qtf_error_detail(), "it has 4 rows"), "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_dequantize_rows(out, QTF_DTYPE_F32, 64, f, 0, 2, 1, 1),
                 QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_tensor_dequantize_rows(out, QTF_DTYPE_F32, 63, f, 0, 0, 2, 1),
                 QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_tensor_dequantize_rows(out, QTF_DTYPE_I8, 64, f, 0, 0, 2, 1),
                 QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_tensor_dequantize_rows(out, QTF_DTYPE_F32, 64, f, 1, 0, 2, 1),
                 QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_tensor_dequantize_rows(out, QTF_DTYPE_F32, 32, f, 0, 0, 1, 1), QTF_OK);
    cr_assert_eq(out[5], 1.0f);
    qtf_file_close(f);
    unlink(path);
    free(path);
    tu_rmtree(dir);
}

/* Tensors larger than one decoding piece (16-bit destinations of quantized
 * encodings go through a cache-sized f32 buffer, a piece at a time, split
 * across threads): still the whole decode, bit for bit. */
Test(rows, pieces_and_threads_match_the_whole_decode) {
    const uint64_t rows = 10007, cols = 64;
    float *src = random_matrix(rows, cols, 99);
    static const char *const specs[] = { "int4:group=32", "pal3:rows=3", "int4:group=16,dq",
                                         "q4_0" };
    char *dir = tu_mkdtemp();
    uint16_t *all = malloc(rows * cols * 2), *part = malloc(rows * cols * 2);
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        char *path = write_file(dir, specs[k], src, rows, cols);
        qtf_file *f = NULL;
        cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK);
        cr_assert_eq(qtf_tensor_dequantize(all, QTF_DTYPE_BF16, rows * cols, f, 0, 1), QTF_OK);
        for (unsigned threads = 1; threads <= 3; threads++) {
            memset(part, 0, rows * cols * 2);
            cr_assert_eq(qtf_tensor_dequantize_rows(part, QTF_DTYPE_BF16, rows * cols, f, 0, 0,
                                                    rows, threads), QTF_OK, "%s",
                         qtf_error_detail());
            cr_assert_eq(memcmp(part, all, rows * cols * 2), 0, "%s, %u threads", specs[k],
                         threads);
        }
        cr_assert_eq(qtf_tensor_dequantize(all, QTF_DTYPE_F16, rows * cols, f, 0, 1), QTF_OK);
        for (unsigned threads = 1; threads <= 2; threads++) {
            cr_assert_eq(qtf_tensor_dequantize_rows(part, QTF_DTYPE_F16, (rows - 4101) * cols, f,
                                                    0, 4100, rows - 1, threads), QTF_OK);
            cr_assert_eq(memcmp(part, all + 4100 * cols, (rows - 4101) * cols * 2), 0,
                         "%s rows 4100.. F16, %u threads", specs[k], threads);
        }
        qtf_file_close(f);
        unlink(path);
        free(path);
    }
    free(all);
    free(part);
    tu_rmtree(dir);
    free(src);
}
