/* Streaming stores for large destinations (format/stream.h): the decoders
 * that write through an L1 chunk buffer and non-temporal stores give the same
 * bits as their normal-store paths, for every family that streams, on shapes
 * whose rows are not a multiple of the chunk, with groups cut by chunks, for
 * aligned and unaligned destinations and any thread count. The threshold is
 * moved (0: always stream; UINT64_MAX: never) so that small tensors take both
 * paths. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/stream.h"
#include "qtf.h"
#include "support/encoding.h"
#include "support/rng.h"

/* Dequantizes q into dst (f32) with the given threshold and threads. */
static void decode(float *dst, const qtf_encoding *e, const uint64_t *dims, const qtf_encoded *q,
                   uint64_t threshold, unsigned threads, const char *spec) {
    qtf_part_view v[QTF_MAX_PARTS];
    uint32_t nv = qtf_encoded_views(v, q);
    qtf__stream_min_values = threshold;
    qtf_status st = qtf_dequantize(dst, QTF_DTYPE_F32, dims[0] * dims[1], e, 2, dims, v, nv,
                                   threads);
    qtf__stream_min_values = QTF__STREAM_MIN_BYTES / 4;
    cr_assert_eq(st, QTF_OK, "%s: %s", spec, qtf_error_detail());
}

static void check_spec(const char *spec, uint64_t rows, uint64_t cols) {
    qtf_encoding e;
    cr_assert_eq(qtf_encoding_parse(&e, spec), QTF_OK, "%s: %s", spec, qtf_error_detail());
    const uint64_t dims[2] = { rows, cols }, n = rows * cols;
    float *x = t4_like(n, rows * 31 + cols);
    qtf_quantize_options o = QTF_QUANTIZE_OPTIONS_INIT;
    o.threads = 1;
    qtf_encoded *q = NULL;
    cr_assert_eq(qtf_quantize(&q, &e, x, 2, dims, &o), QTF_OK, "%s: %s", spec,
                 qtf_error_detail());
    float *want = malloc(n * sizeof *want), *base = malloc((n + 16) * sizeof *base);
    cr_assert(want && base);
    decode(want, &e, dims, q, UINT64_MAX, 1, spec);
    /* 32-byte aligned, 16-byte but not 32-byte aligned, float aligned only */
    static const unsigned shifts[] = { 0, 4, 3 };
    for (unsigned si = 0; si < 3; si++) {
        const unsigned shift = shifts[si];
        for (unsigned threads = 1; threads <= 2; threads++) {
            float *y = base + ((8 - ((uintptr_t)base & 31) / 4) & 7) + shift;
            memset(base, 0xff, (n + 16) * sizeof *base);
            decode(y, &e, dims, q, 0, threads, spec);
            cr_assert_eq(memcmp(y, want, n * sizeof *y), 0, "%s %llux%llu, shift %u, %u threads",
                         spec, (unsigned long long)rows, (unsigned long long)cols, shift,
                         threads);
            /* the floats around the destination are untouched */
            if (shift) cr_assert_eq(((const uint32_t *)(const void *)y)[-1], 0xffffffffu, "%s", spec);
            cr_assert_eq(((const uint32_t *)(const void *)y)[n], 0xffffffffu, "%s", spec);
        }
    }
    qtf_encoded_free(q);
    free(x);
    free(want);
    free(base);
}

Test(stream, ggml_types_decode_the_same_bits) {
    for (size_t i = 0; i < TS_GGML_BLOCK_TYPE_COUNT; i++) {
        check_spec(ts_ggml_block_types[i], 5, 1280); /* 2.5 chunks per row */
        check_spec(ts_ggml_block_types[i], 3, 256);  /* rows shorter than a chunk */
    }
}

Test(stream, grouped_encodings_decode_the_same_bits) {
    /* column counts that chunks of 512 cut inside rows and inside groups */
    static const struct { const char *spec; uint64_t cols, small; } t[] = {
        { "int8", 1280, 128 }, { "int8:group=row", 1201, 201 }, { "int8:group=tensor", 1201, 201 },
        { "int8:group=32,dq", 1280, 128 }, { "int4", 1280, 128 },
        { "int4:group=64,asym", 1280, 128 }, { "int4:group=48", 1200, 240 },
        { "int3:group=64", 1280, 128 }, { "int2:group=32,asym", 1280, 128 },
        { "int5:group=40", 1200, 240 }, { "int6:group=128", 1280, 128 },
        { "int7:group=64", 1280, 128 }, { "int4:zstd=1", 1280, 128 },
        { "int6:group=1024,zstd=1", 2048, 1024 }, { "nf4", 1280, 128 }, { "nf4:dq", 1280, 128 },
        { "nf4:group=50", 1200, 200 }, { "nf4:group=row", 1201, 201 }, { "fp4", 1280, 128 },
        { "fp4:group=32", 1280, 128 }, { "mxfp4", 1248, 96 }, { "mxfp4:zstd=1", 1248, 96 },
        { "pal4", 1200, 200 }, { "pal4:rows=2", 1200, 200 }, { "pal4:group=32,dq", 1280, 128 },
        { "pal3:group=48", 1200, 240 }, { "pal2:rowscale", 1201, 201 },
        { "pal4:dim=2", 1200, 200 }, { "pal4:dim=4,group=1024", 2048, 1024 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        check_spec(t[i].spec, 6, t[i].cols);
        check_spec(t[i].spec, 3, t[i].small);
    }
}
