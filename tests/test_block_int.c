/* INT encodings (format/block_int.c, format/block.c): layouts, exact codes and
 * bit packing on hand-computed cases, error bounds, groups, shapes, the
 * NaN/Inf rule and thread-count determinism. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/common.h"
#include "support/blocks.h"

#include "format/block_family.h"

static const unsigned char *bytes_of(const blk *b, qtf_part_role role) {
    int i = blk_find(b, role);
    cr_assert(i >= 0, "no part with role %d", (int)role);
    return b->part[i];
}

Test(int_codes, int3_row_of_eight_hand_computed) {
    /* extreme -2 (first of largest magnitude) -> scale -2 / -4 = 0.5;
     * codes round(x / 0.5) + 4 = 0..7 */
    const float x[8] = { -2.0f, -1.5f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f };
    qtf_encoding e = enc("int3:group=8,scale=f32");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 8, NULL, 1), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(b.n, 2);
    cr_assert_eq(b.layout[0].role, QTF_ROLE_CODES);
    cr_assert_eq(b.layout[0].type, QTF_DTYPE_PACKED);
    cr_assert_eq(b.layout[0].size, 3);
    cr_assert_eq(b.layout[1].role, QTF_ROLE_SCALES);
    cr_assert_eq(b.layout[1].size, 4);
    /* sum k << 3k for k = 0..7 = 0xFAC688 */
    const unsigned char *c = bytes_of(&b, QTF_ROLE_CODES);
    cr_assert_eq(c[0], 0x88);
    cr_assert_eq(c[1], 0xC6);
    cr_assert_eq(c[2], 0xFA);
    cr_assert_eq(f32_at(bytes_of(&b, QTF_ROLE_SCALES), 0), 0.5f);
    float *y = blk_dequantize(&b, 1);
    for (int j = 0; j < 8; j++) cr_assert_eq(y[j], x[j], "element %d: %g", j, (double)y[j]);
    free(y);
    blk_free(&b);
}

Test(int_codes, positive_extreme_gives_negative_scale_and_ties_to_even) {
    /* extreme +4 -> scale 4 / -4 = -1; x / s = -4 -> code 0; 0.5 -> 0 (even),
     * 1.5 -> 2, 2.5 -> 2, -2.5 -> -2 (codes = value + 4) */
    const float x[8] = { 4.0f, -0.5f, -1.5f, -2.5f, 2.5f, 3.0f, -3.5f, 0.0f };
    qtf_encoding e = enc("int3:group=8,scale=f32");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 8, NULL, 1), QTF_OK);
    cr_assert_eq(f32_at(bytes_of(&b, QTF_ROLE_SCALES), 0), -1.0f);
    /* x/s: -4, 0.5, 1.5, 2.5, -2.5, -3, 3.5 -> clamp 3 (to +3), 0 */
    const unsigned expect[8] = { 0, 4, 6, 6, 2, 1, 7, 4 };
    uint8_t codes[8];
    qtf__block_unpack(codes, bytes_of(&b, QTF_ROLE_CODES), 8, 3);
    for (int j = 0; j < 8; j++) cr_assert_eq(codes[j], expect[j], "code %d = %u", j, codes[j]);
    blk_free(&b);
}

Test(int_codes, int2_asym_hand_computed) {
    /* min 1, scale (4 - 1) / 3 = 1, codes 0 1 2 3 -> one byte 0b11100100 */
    const float x[4] = { 1.0f, 2.0f, 3.0f, 4.0f };
    qtf_encoding e = enc("int2:group=4,asym,scale=f16");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 4, NULL, 1), QTF_OK);
    cr_assert_eq(b.n, 3);
    cr_assert_eq(b.layout[2].role, QTF_ROLE_ZEROS);
    cr_assert_eq(b.layout[2].type, QTF_DTYPE_F16);
    cr_assert_eq(bytes_of(&b, QTF_ROLE_CODES)[0], 0xE4);
    cr_assert_eq(qtf__ld16(bytes_of(&b, QTF_ROLE_SCALES)), 0x3c00); /* 1.0 */
    cr_assert_eq(qtf__ld16(bytes_of(&b, QTF_ROLE_ZEROS)), 0x3c00);
    float *y = blk_dequantize(&b, 1);
    for (int j = 0; j < 4; j++) cr_assert_eq(y[j], x[j]);
    free(y);
    blk_free(&b);
}

/* Bit k of a row's stream is bit k % 8 of byte k / 8 (spec, LSB first). */
static unsigned ref_code(const unsigned char *row, uint64_t j, unsigned bits) {
    unsigned v = 0;
    for (unsigned k = 0; k < bits; k++) {
        uint64_t bit = j * bits + k;
        v |= (unsigned)((row[bit / 8] >> (bit % 8)) & 1) << k;
    }
    return v;
}

Test(int_codes, packing_matches_the_bit_stream_definition_for_every_width) {
    rng r = { 77 };
    for (unsigned bits = 2; bits <= 8; bits++) {
        for (uint64_t n = 1; n <= 41; n++) {
            uint8_t codes[64], back[64];
            unsigned char packed[64];
            for (uint64_t j = 0; j < n; j++) codes[j] = (uint8_t)(rng_u64(&r) & ((1u << bits) - 1));
            uint64_t nbytes = (n * bits + 7) / 8;
            memset(packed, 0xFF, sizeof packed);
            qtf__block_pack(packed, codes, n, bits);
            for (uint64_t j = 0; j < n; j++)
                cr_assert_eq(ref_code(packed, j, bits), codes[j], "bits %u n %llu j %llu", bits,
                             (unsigned long long)n, (unsigned long long)j);
            if ((n * bits) % 8) /* pad bits are zero */
                cr_assert_eq(packed[nbytes - 1] >> ((n * bits) % 8), 0, "bits %u n %llu", bits,
                             (unsigned long long)n);
            cr_assert_eq(packed[nbytes], 0xFF, "wrote past the row");
            qtf__block_unpack(back, packed, n, bits);
            cr_assert_eq(memcmp(back, codes, n), 0);
        }
    }
}

Test(int_codes, int4_low_nibble_first_and_rows_padded_to_bytes) {
    /* 2 rows of 3 int4 codes: each row is 2 bytes, the pad nibble zero */
    const float x[6] = { -8.0f, 7.0f, 0.0f, 1.0f, -8.0f, 3.0f };
    qtf_encoding e = enc("int4:group=row,scale=f32");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 2, 3, NULL, 1), QTF_OK);
    cr_assert_eq(b.layout[0].size, 4);
    const unsigned char *c = bytes_of(&b, QTF_ROLE_CODES);
    /* row 0: scale -8/-8 = 1: codes 0, 15, 8 */
    cr_assert_eq(c[0], 0xF0);
    cr_assert_eq(c[1], 0x08);
    /* row 1: codes 9, 0, 11 */
    cr_assert_eq(c[2], 0x09);
    cr_assert_eq(c[3], 0x0B);
    blk_free(&b);
}

Test(int_codes, zstd_layout_stores_one_code_per_byte) {
    float *x = t4_data(4 * 96, 3);
    qtf_encoding packed = enc("int5:group=32"), unpacked = enc("int5:group=32,zstd=1");
    blk a, b;
    cr_assert_eq(blk_quantize(&a, &packed, x, 4, 96, NULL, 1), QTF_OK);
    cr_assert_eq(blk_quantize(&b, &unpacked, x, 4, 96, NULL, 1), QTF_OK);
    cr_assert_eq(b.layout[0].type, QTF_DTYPE_U8);
    cr_assert_eq(b.layout[0].size, 4 * 96);
    cr_assert_eq(a.layout[0].size, 4 * 60);
    for (int r = 0; r < 4; r++) {
        uint8_t codes[96];
        qtf__block_unpack(codes, (const unsigned char *)a.part[0] + r * 60, 96, 5);
        cr_assert_eq(memcmp(codes, (const unsigned char *)b.part[0] + r * 96, 96), 0);
    }
    cr_assert_eq(memcmp(a.part[1], b.part[1], (size_t)a.layout[1].size), 0);
    float *ya = blk_dequantize(&a, 1), *yb = blk_dequantize(&b, 1);
    cr_assert_eq(memcmp(ya, yb, 4 * 96 * sizeof(float)), 0);
    free(ya);
    free(yb);
    free(x);
    blk_free(&a);
    blk_free(&b);
}

/* rtn error bound: |x - y| <= |s|/2 (plus rounding of the decode), except
 * sym elements of sign opposite to the group's extreme that hit the clamp,
 * which are within |s|. */
static void check_rtn_bound(const char *text, uint64_t rows, uint64_t cols, uint64_t group) {
    float *x = t4_data(rows * cols, 11);
    qtf_encoding e = enc(text);
    blk b;
    float *y = blk_round_trip(&b, &e, x, rows, cols, NULL, 2);
    const unsigned char *sp = bytes_of(&b, QTF_ROLE_SCALES);
    uint64_t gpr = cols / group;
    for (uint64_t r = 0; r < rows; r++) {
        for (uint64_t g = 0; g < gpr; g++) {
            float s = qtf__block_load_scale(sp, r * gpr + g, e.scale_type);
            for (uint64_t j = g * group; j < (g + 1) * group; j++) {
                uint64_t i = r * cols + j;
                double err = fabs((double)x[i] - (double)y[i]);
                double bound = fabs((double)s) * 0.5;
                if (!e.asym && (double)x[i] * (double)s > 0 &&
                    fabs((double)x[i] / (double)s) > (double)((1u << (e.bits - 1)) - 1))
                    bound = fabs((double)s); /* clamped at the positive end */
                if (e.asym) /* the stored minimum's rounding (half an ulp) */
                    bound += fabs((double)x[i]) *
                             (e.scale_type == QTF_DTYPE_BF16 ? 0x1p-8
                              : e.scale_type == QTF_DTYPE_F16 ? 0x1p-11 : 0x1p-24);
                bound += 1e-6 * (fabs((double)x[i]) + fabs((double)s));
                cr_assert(err <= bound, "%s row %llu col %llu: x %g y %g s %g", text,
                          (unsigned long long)r, (unsigned long long)j, (double)x[i],
                          (double)y[i], (double)s);
            }
        }
    }
    free(x);
    free(y);
    blk_free(&b);
}

Test(int_rtn, error_within_half_a_step_for_every_width_and_scale_type) {
    const char *texts[] = {
        "int2:group=16",      "int3:group=32,scale=bf16", "int4:group=32",
        "int5:group=64,scale=f32", "int6:group=128", "int7:group=64,scale=bf16",
        "int8:group=32",      "int4:group=32,asym",       "int3:group=16,asym,scale=f32",
        "int8:group=64,asym,scale=bf16", "int2:group=8,asym",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        qtf_encoding e = enc(texts[i]);
        check_rtn_bound(texts[i], 16, 256, e.group);
    }
    check_rtn_bound("int4:group=row", 16, 256, 256);
}

Test(int_groups, per_row_and_per_tensor_scales) {
    const uint64_t rows = 3, cols = 5;
    float x[15];
    for (int i = 0; i < 15; i++) x[i] = (float)(i % 7) - 3.0f;
    x[7] = -12.0f; /* tensor extreme, row 1 */
    qtf_encoding row = enc("int4:group=row,scale=f32"), ten = enc("int4:group=tensor,scale=f32");
    blk a, b;
    cr_assert_eq(blk_quantize(&a, &row, x, rows, cols, NULL, 1), QTF_OK);
    cr_assert_eq(blk_quantize(&b, &ten, x, rows, cols, NULL, 1), QTF_OK);
    cr_assert_eq(a.layout[1].size, 3 * 4);
    cr_assert_eq(b.layout[1].size, 4);
    cr_assert_eq(f32_at(b.part[1], 0), -12.0f / -8.0f);
    /* row 0 is -3 -2 -1 0 1: extreme -3 */
    cr_assert_eq(f32_at(a.part[1], 0), -3.0f / -8.0f);
    cr_assert_eq(f32_at(a.part[1], 1), -12.0f / -8.0f);
    blk_free(&a);
    blk_free(&b);
}

Test(int_groups, all_zero_and_constant_groups_decode_exactly) {
    float x[64] = { 0 };
    for (int j = 32; j < 64; j++) x[j] = 2.5f; /* constant group */
    const char *texts[] = { "int4:group=32", "int4:group=32,asym", "int8:group=32,dq",
                            "int3:group=32,asym,dq" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        qtf_encoding e = enc(texts[t]);
        blk b;
        float *y = blk_round_trip(&b, &e, x, 1, 64, NULL, 1);
        for (int j = 0; j < 32; j++) cr_assert_eq(y[j], 0.0f, "%s j %d", texts[t], j);
        if (e.asym && !e.dq)
            for (int j = 32; j < 64; j++) cr_assert_eq(y[j], 2.5f, "%s j %d", texts[t], j);
        free(y);
        blk_free(&b);
    }
    /* the zero group has scale 0 and the code of value 0 */
    qtf_encoding e = enc("int4:group=32,scale=f32");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 64, NULL, 1), QTF_OK);
    cr_assert_eq(f32_at(b.part[1], 0), 0.0f);
    for (int j = 0; j < 16; j++) cr_assert_eq(((unsigned char *)b.part[0])[j], 0x88);
    blk_free(&b);
}

Test(int_shapes, row_not_divisible_by_group_is_a_shape_error) {
    qtf_encoding e = enc("int4:group=64");
    qtf_part_layout l[QTF_MAX_PARTS];
    uint32_t n;
    cr_assert_eq(qtf__block_layout(l, &n, &e, 4, 100), QTF_E_SHAPE);
    cr_assert_not_null(strstr(qtf_error_detail(), "100"), "%s", qtf_error_detail());
    cr_assert_not_null(strstr(qtf_error_detail(), "64"), "%s", qtf_error_detail());
    float x[100] = { 0 };
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 100, NULL, 1), QTF_E_SHAPE);
    qtf_encoding q = enc("q4_0"), m = enc("mxfp4");
    cr_assert_eq(qtf__block_layout(l, &n, &q, 1, 48), QTF_E_SHAPE);
    cr_assert_eq(qtf__block_layout(l, &n, &m, 1, 40), QTF_E_SHAPE);
}

Test(int_shapes, empty_tensor) {
    const char *texts[] = { "int4", "int4:group=tensor", "nf4:dq", "mxfp4", "q8_0",
                            "int6:asym,dq" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        qtf_encoding e = enc(texts[t]);
        blk b;
        cr_assert_eq(blk_quantize(&b, &e, NULL, 0, 64, NULL, 1), QTF_OK, "%s: %s", texts[t],
                     qtf_error_detail());
        for (uint32_t i = 0; i < b.n; i++) {
            if (b.layout[i].role == QTF_ROLE_DQ_OFFSET) {
                cr_assert_eq(b.layout[i].size, 4);
                cr_assert_eq(f32_at(b.part[i], 0), 0.0f);
            } else {
                cr_assert_eq(b.layout[i].size, 0, "%s part %u", texts[t], i);
            }
        }
        float y[1];
        cr_assert_eq(qtf__block_dequantize(y, &e, 0, 64, (const void *const *)b.part, 1), QTF_OK);
        blk_free(&b);
    }
}

Test(int_numeric, nan_and_inf_are_rejected_naming_the_first_row_and_column) {
    const uint64_t rows = 1000, cols = 64;
    float *x = t4_data(rows * cols, 5);
    x[900 * cols + 3] = NAN;
    x[5 * cols + 17] = INFINITY;
    const char *texts[] = { "int4", "int4:asym", "int4:search", "nf4", "fp4", "mxfp4", "q8_0",
                            "q4_1", "int8:group=tensor" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        qtf_encoding e = enc(texts[t]);
        for (unsigned threads = 1; threads <= 7; threads += 6) {
            blk b;
            cr_assert_eq(blk_quantize(&b, &e, x, rows, cols, NULL, threads), QTF_E_NUMERIC,
                         "%s", texts[t]);
            cr_assert_not_null(strstr(qtf_error_detail(), "row 5, column 17"), "%s: %s",
                               texts[t], qtf_error_detail());
            cr_assert_not_null(strstr(qtf_error_detail(), "Inf"));
            blk_free(&b);
        }
    }
    x[5 * cols + 17] = 1.0f;
    qtf_encoding e = enc("int4");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, rows, cols, NULL, 2), QTF_E_NUMERIC);
    cr_assert_not_null(strstr(qtf_error_detail(), "row 900, column 3: NaN"), "%s",
                       qtf_error_detail());
    blk_free(&b);
    free(x);
}

Test(int_numeric, scale_outside_f16_range_is_rejected) {
    float x[32] = { 0 };
    x[4] = 1e6f; /* 1e6 / 8 > 65504 */
    qtf_encoding e = enc("int4:group=32,scale=f16");
    blk b;
    cr_assert_eq(blk_quantize(&b, &e, x, 1, 32, NULL, 1), QTF_E_NUMERIC);
    cr_assert_not_null(strstr(qtf_error_detail(), "F16"), "%s", qtf_error_detail());
    blk_free(&b);
    qtf_encoding f = enc("int4:group=32,scale=f32");
    cr_assert_eq(blk_quantize(&b, &f, x, 1, 32, NULL, 1), QTF_OK);
    blk_free(&b);
}

Test(int_threads, identical_bytes_for_1_2_and_7_threads) {
    const uint64_t rows = 301, cols = 256;
    float *x = t4_data(rows * cols, 9);
    float imp[256];
    for (int j = 0; j < 256; j++) imp[j] = (float)(1 + j % 5);
    const char *texts[] = { "int4", "int4:search", "int3:group=64,asym,search", "int5:group=row",
                            "int8:group=tensor", "int4:group=tensor,search", "int6:dq,zstd=1",
                            "nf4:dq,search", "fp4", "mxfp4", "mxfp4", "q4_0", "q4_1", "q8_0" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        qtf_encoding e = enc(texts[t]);
        if (t == 10) e.search = 1; /* mxfp4 search: set directly (family level) */
        blk b1, b2, b7;
        cr_assert_eq(blk_quantize(&b1, &e, x, rows, cols, imp, 1), QTF_OK, "%s", texts[t]);
        cr_assert_eq(blk_quantize(&b2, &e, x, rows, cols, imp, 2), QTF_OK);
        cr_assert_eq(blk_quantize(&b7, &e, x, rows, cols, imp, 7), QTF_OK);
        cr_assert(blk_same_bytes(&b1, &b2), "%s: 1 vs 2 threads", texts[t]);
        cr_assert(blk_same_bytes(&b1, &b7), "%s: 1 vs 7 threads", texts[t]);
        float *y1 = blk_dequantize(&b1, 1), *y7 = blk_dequantize(&b1, 7);
        cr_assert_eq(memcmp(y1, y7, rows * cols * sizeof(float)), 0, "%s", texts[t]);
        free(y1);
        free(y7);
        blk_free(&b1);
        blk_free(&b2);
        blk_free(&b7);
    }
    free(x);
}

Test(int_hostile, dequantizing_random_parts_never_faults) {
    rng r = { 123 };
    const char *texts[] = { "int3:group=8", "int4:asym,dq", "nf4", "fp4:zstd=1", "mxfp4",
                            "q4_1", "int7:group=tensor" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        qtf_encoding e = enc(texts[t]);
        blk b;
        float x[3 * 64] = { 0 };
        cr_assert_eq(blk_quantize(&b, &e, x, 3, 64, NULL, 1), QTF_OK);
        for (uint32_t i = 0; i < b.n; i++)
            for (uint64_t k = 0; k < b.layout[i].size; k++)
                ((unsigned char *)b.part[i])[k] = (unsigned char)rng_u64(&r);
        float *y = blk_dequantize(&b, 2);
        free(y);
        blk_free(&b);
    }
}

Test(int_layout, bits_per_weight_of_common_encodings) {
    uint64_t dims[2] = { 4096, 4096 };
    qtf_encoding e = enc("int4:group=32");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, dims), 4.5, 1e-9);
    e = enc("int4:group=64,asym");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, dims), 4.5, 1e-9);
    e = enc("int8:group=row,scale=f32");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, dims), 8.0 + 32.0 / 4096, 1e-9);
    e = enc("mxfp4");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, dims), 4.25, 1e-9);
    e = enc("q4_0");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, dims), 4.5, 1e-9);
    e = enc("q8_0");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, dims), 8.5, 1e-9);
}

Test(int_hostile, one_per_byte_codes_use_their_low_bits) {
    /* int4 sym, scale 1: byte 0xF3 decodes like code 3 (value 3 - 8 = -5) */
    qtf_encoding e = enc("int4:group=4,scale=f32,zstd=1");
    unsigned char codes[4] = { 0xF3, 0x03, 0x8A, 0x0A };
    unsigned char scale[4];
    qtf__st32(scale, 0x3f800000u);
    const void *parts[2] = { codes, scale };
    float y[4];
    cr_assert_eq(qtf__block_dequantize(y, &e, 1, 4, parts, 1), QTF_OK);
    cr_assert_eq(y[0], -5.0f);
    cr_assert_eq(y[1], -5.0f);
    cr_assert_eq(y[2], 2.0f);
    cr_assert_eq(y[3], 2.0f);
}

Test(int_alloc, allocation_failures_are_reported_not_fatal) {
    const uint64_t rows = 8, cols = 64;
    float *x = t4_data(rows * cols, 2);
    const char *texts[] = { "int4", "int5:dq,search", "nf4:dq", "mxfp4", "int3:group=tensor" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        qtf_encoding e = enc(texts[t]);
        int succeeded = 0;
        for (long k = 0; k < 12 && !succeeded; k++) {
            blk b;
            qtf__test_fail_alloc_after(k);
            qtf_status st = blk_quantize(&b, &e, x, rows, cols, NULL, 1);
            float *y = NULL;
            if (st == QTF_OK) {
                y = malloc(rows * cols * sizeof *y);
                st = qtf__block_dequantize(y, &e, rows, cols, (const void *const *)b.part, 1);
            }
            qtf__test_fail_alloc_after(-1);
            cr_assert(st == QTF_OK || st == QTF_E_NOMEM, "%s k %ld: %s", texts[t], k,
                      qtf_status_name(st));
            succeeded = st == QTF_OK;
            free(y);
            blk_free(&b);
        }
        cr_assert(succeeded, "%s never succeeded", texts[t]);
    }
    free(x);
}

Test(int_layout, hostile_dims_overflow_cleanly) {
    qtf_part_layout l[QTF_MAX_PARTS];
    uint32_t n;
    const char *texts[] = { "int4", "int3:group=row,asym", "nf4:dq", "mxfp4", "q4_1",
                            "int8:zstd=1" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        qtf_encoding e = enc(texts[t]);
        cr_assert_eq(qtf__block_layout(l, &n, &e, 1ull << 40, 1ull << 30), QTF_E_OVERFLOW,
                     "%s", texts[t]);
        cr_assert_eq(qtf__block_layout(l, &n, &e, 3, 1ull << 62), QTF_E_OVERFLOW, "%s",
                     texts[t]);
        /* fits in u64 elements but not in bytes of codes plus scales */
        qtf_status st = qtf__block_layout(l, &n, &e, 1ull << 31, 1ull << 32);
        cr_assert(st == QTF_OK || st == QTF_E_OVERFLOW, "%s", texts[t]);
    }
}

Test(int_codes, spec_example_int3_stream) {
    /* block.md: codes 1 2 3 4 5 6 7 0 -> D1 58 1F */
    const uint8_t codes[8] = { 1, 2, 3, 4, 5, 6, 7, 0 };
    unsigned char out[3];
    qtf__block_pack(out, codes, 8, 3);
    cr_assert_eq(out[0], 0xD1);
    cr_assert_eq(out[1], 0x58);
    cr_assert_eq(out[2], 0x1F);
}
