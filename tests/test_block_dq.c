/* Double quantization of group scales (format/dq.c) and its use by the
 * grouped encodings: sizes, the reconstruction bound, degenerate inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/common.h"
#include "support/blocks.h"

#include "format/block_family.h"

Test(dq, nf4_group64_dq_costs_4_127_bits_per_weight) {
    uint64_t dims[2] = { 4096, 4096 };
    qtf_encoding e = enc("nf4:group=64,dq");
    double bpw = qtf_encoding_bits_per_weight(&e, 2, dims);
    /* codes 4 + dq codes 8/64 + f32 block scales 32/(64*256) + 32-bit offset */
    double want = 4.0 + 8.0 / 64 + 32.0 / (64 * 256) + 32.0 / (4096.0 * 4096.0);
    cr_assert_float_eq(bpw, want, 1e-12, "%.6f", bpw);
    cr_assert(fabs(bpw - 4.127) < 1e-3);
    qtf_part_layout l[QTF_MAX_PARTS];
    uint32_t n;
    cr_assert_eq(qtf__block_layout(l, &n, &e, 4096, 4096), QTF_OK);
    cr_assert_eq(n, 4);
    cr_assert_eq(l[1].role, QTF_ROLE_DQ_CODES);
    cr_assert_eq(l[1].type, QTF_DTYPE_U8);
    cr_assert_eq(l[1].size, 4096 * 64);
    cr_assert_eq(l[2].role, QTF_ROLE_DQ_SCALES);
    cr_assert_eq(l[2].size, 4 * 1024);
    cr_assert_eq(l[3].role, QTF_ROLE_DQ_OFFSET);
    cr_assert_eq(l[3].size, 4);
}

Test(dq, reconstruction_within_half_a_step) {
    const uint64_t n = 1000; /* not a multiple of the 256-block */
    float *s = malloc(n * sizeof *s), *back = malloc(n * sizeof *back);
    uint8_t *codes = malloc(n);
    float steps[4], offset;
    rng r = { 5 };
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        s[i] = (float)(0.05 + fabs(rng_t4(&r)) * 0.01);
        sum += s[i];
    }
    qtf__dq_quantize(s, n, codes, steps, &offset);
    cr_assert_eq(offset, (float)(sum / n));
    qtf__dq_dequantize(back, n, codes, steps, offset);
    for (uint64_t b = 0; b < 4; b++) {
        float amax = 0;
        for (uint64_t i = b * 256; i < n && i < (b + 1) * 256; i++)
            amax = fmaxf(amax, fabsf(s[i] - offset));
        cr_assert_eq(steps[b], amax / 127.0f, "block %llu", (unsigned long long)b);
    }
    for (uint64_t i = 0; i < n; i++) {
        cr_assert(codes[i] >= 1, "code 0 is never written");
        float step = steps[i / 256];
        cr_assert(fabsf(back[i] - s[i]) <= 0.5f * step * (1 + 1e-5f) + 1e-7f, "scale %llu",
                  (unsigned long long)i);
    }
    free(s);
    free(back);
    free(codes);
}

Test(dq, equal_scales_and_empty_input) {
    float s[300], back[300], steps[2], offset = -1;
    uint8_t codes[300];
    for (int i = 0; i < 300; i++) s[i] = 0.375f;
    qtf__dq_quantize(s, 300, codes, steps, &offset);
    cr_assert_eq(offset, 0.375f);
    cr_assert_eq(steps[0], 0.0f);
    cr_assert_eq(steps[1], 0.0f);
    for (int i = 0; i < 300; i++) cr_assert_eq(codes[i], 128);
    qtf__dq_dequantize(back, 300, codes, steps, offset);
    for (int i = 0; i < 300; i++) cr_assert_eq(back[i], 0.375f);
    qtf__dq_quantize(s, 0, codes, steps, &offset);
    cr_assert_eq(offset, 0.0f);
}

Test(dq, codes_are_nearest_for_the_double_quantized_scales) {
    /* int8 sym with dq: each code is the nearest (clamped) code for the
     * group's reconstructed scale, not for the scale chosen before dq */
    const uint64_t rows = 64, cols = 128;
    float *x = t4_data(rows * cols, 17);
    qtf_encoding e = enc("int8:group=32,dq");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, rows, cols, NULL, 2), QTF_OK);
    uint64_t n = rows * cols / 32;
    float *scales = malloc(n * sizeof *scales), steps[1];
    steps[0] = f32_at(b.part[2], 0);
    qtf__dq_dequantize(scales, n, b.part[1], steps, f32_at(b.part[3], 0));
    float *y = blk_dequantize(&b, 1);
    for (uint64_t i = 0; i < rows * cols; i++) {
        double s = scales[i / 32], q = nearbyint(x[i] / s);
        q = q < -128 ? -128 : q > 127 ? 127 : q;
        cr_assert(fabs(y[i] - q * s) <= 1e-6 * (fabs(q * s) + fabs(s)), "element %llu: %g vs %g",
                  (unsigned long long)i, (double)y[i], q * s);
    }
    free(scales);
    free(y);
    free(x);
    blk_free(&b);
}

Test(dq, search_picks_better_dq_codes) {
    /* with search, each group's dq code is re-chosen among its neighbours:
     * never worse per group than the nearest dq code at the same choice */
    const uint64_t rows = 64, cols = 256;
    float *x = t4_data(rows * cols, 19);
    qtf_encoding r = enc("int8:group=32,dq"), s = enc("int8:group=32,dq,search");
    qtf_metrics ma = blk_metrics(&r, x, rows, cols, NULL, NULL);
    qtf_metrics mb = blk_metrics(&s, x, rows, cols, NULL, NULL);
    cr_assert(mb.mse < ma.mse * 0.85, "dq search %g vs dq rtn %g", mb.mse, ma.mse);
    free(x);
}

Test(dq, costs_little_error_for_nf4) {
    const uint64_t rows = 128, cols = 1024;
    float *x = t4_data(rows * cols, 23);
    const char *texts[2] = { "nf4:group=64,scale=f32", "nf4:group=64,dq" };
    double err[2];
    for (int t = 0; t < 2; t++) {
        qtf_encoding e = enc(texts[t]);
        err[t] = blk_metrics(&e, x, rows, cols, NULL, NULL).rel_rmse;
    }
    cr_assert(err[1] < err[0] * 1.01, "dq %g vs f32 scales %g", err[1], err[0]);
    free(x);
}

Test(dq, asym_minimums_stay_f32) {
    qtf_encoding e = enc("int4:group=32,asym,dq");
    qtf_part_layout l[QTF_MAX_PARTS];
    uint32_t n;
    cr_assert_eq(qtf__block_layout(l, &n, &e, 2, 64), QTF_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(l[4].role, QTF_ROLE_ZEROS);
    cr_assert_eq(l[4].type, QTF_DTYPE_F32);
    cr_assert_eq(l[4].size, 4 * 4);
}

/* spec/encodings/block.md: decode is binary32, one rounding per operation, no
 * fused multiply-add. (255 - 128) * (1 + 2^-23) rounds to 127 + 2^-16 before
 * the offset -127 is added; a contracted fma would give 127 * 2^-23 instead. */
Test(dq, decode_rounds_the_product_before_the_offset) {
    const uint8_t code = 255;
    const float step = nextafterf(1.0f, 2.0f);
    float scale = 0.0f;
    qtf__dq_dequantize(&scale, 1, &code, &step, -127.0f);
    cr_assert_eq(scale, 0x1p-16f, "decoded %a, expected 0x1p-16 (two roundings)",
                 (double)scale);
}
