/* Encoding parameters, layouts, and the quantize/dequantize API on the float
 * family (format/encoding.c, format/quantize.c, format/float.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/family.h"
#include "qtf.h"
#include "support/container.h"
#include "support/encoding.h"

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* --- parameters ------------------------------------------------------------ */

Test(params, exact_serialization_of_int4) {
    qtf_encoding e = ts_parse("int4:group=128,asym,search,zstd=5");
    uint32_t id, n;
    qtf_encoding_param p[QTF_MAX_PARAMS];
    cr_assert_eq(qtf_encoding_to_params(&id, p, &n, &e), QTF_OK);
    cr_assert_eq(id, QTF_ENC_INT);
    const qtf_encoding_param want[] = { { 1, 4 }, { 2, 128 }, { 3, 1 }, { 4, QTF_DTYPE_F16 },
                                        { 5, 0 }, { 10, 1 }, { 11, 5 } };
    cr_assert_eq(n, 7);
    for (uint32_t i = 0; i < n; i++)
        cr_assert(p[i].key == want[i].key && p[i].value == want[i].value, "param %u: %u=%u", i,
                  p[i].key, p[i].value);
}

Test(params, exact_serialization_of_other_ids) {
    uint32_t id, n;
    qtf_encoding_param p[QTF_MAX_PARAMS];
    qtf_encoding e = ts_parse("f16");
    cr_assert_eq(qtf_encoding_to_params(&id, p, &n, &e), QTF_OK);
    cr_assert(id == QTF_ENC_F16 && n == 1 && p[0].key == 11 && p[0].value == 0);
    e = ts_parse("raw:u16,zstd");
    cr_assert_eq(qtf_encoding_to_params(&id, p, &n, &e), QTF_OK);
    cr_assert(id == QTF_ENC_RAW && n == 2 && p[0].key == 11 && p[0].value == 1 &&
              p[1].key == 12 && p[1].value == QTF_DTYPE_U16);
    e = ts_parse("q4_1");
    cr_assert_eq(qtf_encoding_to_params(&id, p, &n, &e), QTF_OK);
    cr_assert(id == QTF_ENC_Q4_1 && n == 1 && p[0].key == 11);
    e = ts_parse("pal3:rows=8,rowscale,dq,lut=int8,dim=2");
    cr_assert_eq(qtf_encoding_to_params(&id, p, &n, &e), QTF_OK);
    const qtf_encoding_param want[] = { { 1, 3 }, { 2, 0 }, { 5, 1 }, { 6, 8 }, { 7, 1 },
                                        { 8, QTF_DTYPE_I8 }, { 9, 2 }, { 11, 0 } };
    cr_assert(id == QTF_ENC_PAL && n == 8);
    for (uint32_t i = 0; i < n; i++)
        cr_assert(p[i].key == want[i].key && p[i].value == want[i].value, "param %u", i);
    e = ts_parse("nf4:dq");
    cr_assert_eq(qtf_encoding_to_params(&id, p, &n, &e), QTF_OK);
    cr_assert(id == QTF_ENC_NF4 && n == 5 && p[0].key == 2 && p[0].value == 64 &&
              p[1].key == 4 && p[1].value == QTF_DTYPE_NONE && p[2].key == 5 && p[2].value == 1);
}

Test(params, round_trip_over_many_encodings) {
    const char *texts[] = {
        "f32", "f16:zstd", "bf16:zstd=22", "raw:i8", "raw:bool", "raw:f64,zstd=9",
        "raw:f8_e4m3", "int2", "int3:group=7,asym", "int5:group=row,scale=bf16", "int6:dq",
        "int7:group=tensor,search", "int8", "int8:group=4294967294,asym,scale=f32,search,zstd",
        "nf4", "nf4:dq", "fp4:group=16,scale=f32", "mxfp4", "mxfp4:zstd=2", "q8_0", "q4_0",
        "q4_1:zstd", "pal1", "pal2:rows=4294967295", "pal4:group=64,dq", "pal6:rowscale",
        "pal8:lut=f32,dim=4",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        qtf_encoding e = ts_parse(texts[i]), back;
        uint32_t id, n;
        qtf_encoding_param p[QTF_MAX_PARAMS];
        cr_assert_eq(qtf_encoding_to_params(&id, p, &n, &e), QTF_OK, "%s", texts[i]);
        cr_assert_leq(n, QTF_MAX_PARAMS);
        for (uint32_t k = 1; k < n; k++) cr_assert_gt(p[k].key, p[k - 1].key);
        memset(&back, 0x77, sizeof back);
        cr_assert_eq(qtf_encoding_from_params(&back, id, p, n), QTF_OK, "%s: %s", texts[i],
                     qtf_error_detail());
        cr_assert(enc_equal(&e, &back), "%s", texts[i]);
    }
}

static qtf_status from(uint32_t id, const qtf_encoding_param *p, uint32_t n) {
    qtf_encoding e;
    return qtf_encoding_from_params(&e, id, p, n);
}

/* The parameters of encoding `text` with key's value replaced by `value`,
 * through from(). */
static qtf_status from_patched(const char *text, uint32_t key, uint32_t value) {
    qtf_encoding e = ts_parse(text);
    qtf_encoding_param p[QTF_MAX_PARAMS];
    uint32_t id, n;
    cr_assert_eq(qtf_encoding_to_params(&id, p, &n, &e), QTF_OK, "%s", text);
    for (uint32_t k = 0; k < n; k++)
        if (p[k].key == key) p[k].value = value;
    return from(id, p, n);
}

Test(params, unknown_ids_and_keys) {
    const qtf_encoding_param z[] = { { 11, 0 } };
    cr_assert_eq(from(QTF_ENC_COUNT_, z, 1), QTF_E_UNKNOWN_ENCODING);
    cr_assert_eq(from(UINT32_MAX, z, 1), QTF_E_UNKNOWN_ENCODING);
    cr_assert_eq(from(QTF_ENC_F16, z, 1), QTF_OK);
    const qtf_encoding_param k0[] = { { 0, 0 }, { 11, 0 } };
    cr_assert_eq(from(QTF_ENC_F16, k0, 2), QTF_E_UNKNOWN_ENCODING);
    const qtf_encoding_param k99[] = { { 11, 0 }, { 99, 1 } };
    cr_assert_eq(from(QTF_ENC_F16, k99, 2), QTF_E_UNKNOWN_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "99") != NULL);
    /* a key known elsewhere but not for this id */
    const qtf_encoding_param bits[] = { { 1, 4 }, { 11, 0 } };
    cr_assert_eq(from(QTF_ENC_F16, bits, 2), QTF_E_UNKNOWN_ENCODING);
    const qtf_encoding_param rows[] = { { 6, 8 }, { 11, 0 } };
    cr_assert_eq(from(QTF_ENC_Q4_0, rows, 2), QTF_E_UNKNOWN_ENCODING);
    /* unknown keys win over ordering problems */
    const qtf_encoding_param mixed[] = { { 11, 0 }, { 11, 0 }, { 13, 0 } };
    cr_assert_eq(from(QTF_ENC_F32, mixed, 3), QTF_E_UNKNOWN_ENCODING);
    qtf_encoding_param many[QTF_MAX_PARAMS + 1];
    memset(many, 0, sizeof many);
    cr_assert_eq(from(QTF_ENC_F32, many, QTF_MAX_PARAMS + 1), QTF_E_LIMIT);
    cr_assert_eq(from(QTF_ENC_F32, NULL, 1), QTF_E_INVALID_ARG);
}

Test(params, invalid_values_and_structure) {
    /* missing keys */
    cr_assert_eq(from(QTF_ENC_F16, NULL, 0), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "zstd_level") != NULL, "%s", qtf_error_detail());
    const qtf_encoding_param no_group[] = { { 1, 4 }, { 3, 0 }, { 4, 2 }, { 5, 0 }, { 10, 0 },
                                            { 11, 0 } };
    cr_assert_eq(from(QTF_ENC_INT, no_group, 6), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "group") != NULL, "%s", qtf_error_detail());
    /* order and duplicates */
    const qtf_encoding_param dup[] = { { 11, 0 }, { 11, 0 } };
    cr_assert_eq(from(QTF_ENC_F16, dup, 2), QTF_E_ENCODING);
    const qtf_encoding_param order[] = { { 12, QTF_DTYPE_I8 }, { 11, 0 } };
    cr_assert_eq(from(QTF_ENC_RAW, order, 2), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "ascending") != NULL);
    /* values */
    struct { uint32_t key, value; } bad[] = {
        { 1, 1 }, { 1, 9 }, { 3, 2 }, { 4, QTF_DTYPE_E8M0 }, { 4, QTF_DTYPE_NONE },
        { 4, 99 }, { 5, 2 }, { 10, 7 }, { 11, 23 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(from_patched("int4", bad[i].key, bad[i].value), QTF_E_ENCODING,
                     "key %u value %u", bad[i].key, bad[i].value);
    /* dq needs scale_type NONE */
    cr_assert_eq(from_patched("int4:dq", 4, QTF_DTYPE_F16), QTF_E_ENCODING);
    /* palettized combinations */
    struct { uint32_t key, value; } badpal[] = {
        { 1, 5 }, { 1, 0 }, { 2, 8 } /* group with rowscale */, { 2, UINT32_MAX },
        { 8, QTF_DTYPE_BF16 }, { 9, 3 }, { 7, 2 },
    };
    for (size_t i = 0; i < sizeof badpal / sizeof badpal[0]; i++)
        cr_assert_eq(from_patched("pal4:rowscale", badpal[i].key, badpal[i].value),
                     QTF_E_ENCODING, "pal key %u value %u", badpal[i].key, badpal[i].value);
    cr_assert_eq(from_patched("pal4", 5, 1), QTF_E_ENCODING); /* dq without scales */
    /* raw element types */
    const qtf_encoding_param raw_f32[] = { { 11, 0 }, { 12, QTF_DTYPE_F32 } };
    cr_assert_eq(from(QTF_ENC_RAW, raw_f32, 2), QTF_E_ENCODING);
    const qtf_encoding_param raw_none[] = { { 11, 0 }, { 12, QTF_DTYPE_NONE } };
    cr_assert_eq(from(QTF_ENC_RAW, raw_none, 2), QTF_E_ENCODING);
    const qtf_encoding_param raw_big[] = { { 11, 0 }, { 12, 1000 } };
    cr_assert_eq(from(QTF_ENC_RAW, raw_big, 2), QTF_E_ENCODING);
}

/* --- shapes and layouts ------------------------------------------------------ */

Test(layout, rows_cols_view) {
    uint64_t r, c;
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 0, NULL), QTF_OK);
    cr_assert(r == 1 && c == 1);
    const uint64_t d1[] = { 7 };
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 1, d1), QTF_OK);
    cr_assert(r == 1 && c == 7);
    const uint64_t d3[] = { 2, 3, 5 };
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 3, d3), QTF_OK);
    cr_assert(r == 6 && c == 5);
    const uint64_t z[] = { 4, 0, 5 };
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 3, z), QTF_OK);
    cr_assert(r == 0 && c == 5);
    const uint64_t big[] = { 1ull << 32, 1ull << 32 };
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 2, big), QTF_E_OVERFLOW);
    /* a zero does not hide an overflow, wherever it is */
    const uint64_t z1[] = { 0, 1ull << 40, 1ull << 40 };
    const uint64_t z2[] = { 1ull << 40, 1ull << 40, 0 };
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 3, z1), QTF_E_OVERFLOW);
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 3, z2), QTF_E_OVERFLOW);
    const uint64_t nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 9, nine), QTF_E_LIMIT);
    cr_assert_eq(qtf__shape_rows_cols(&r, &c, 2, NULL), QTF_E_INVALID_ARG);
}

static void layout_is(const char *text, uint32_t n_dims, const uint64_t *dims,
                      qtf_dtype type, uint64_t size) {
    qtf_encoding e = ts_parse(text);
    qtf_part_layout l[QTF_MAX_PARTS];
    uint32_t n = 99;
    cr_assert_eq(qtf_encoding_layout(l, &n, &e, n_dims, dims), QTF_OK, "%s", text);
    cr_assert_eq(n, 1);
    cr_assert_eq(l[0].role, QTF_ROLE_DATA);
    cr_assert_eq(l[0].type, type, "%s", text);
    cr_assert_eq(l[0].size, size, "%s: size %llu", text, (unsigned long long)l[0].size);
}

Test(layout, float_family) {
    const uint64_t d[] = { 2, 3 };
    layout_is("f32", 2, d, QTF_DTYPE_F32, 24);
    layout_is("f16:zstd", 2, d, QTF_DTYPE_F16, 12);
    layout_is("bf16", 2, d, QTF_DTYPE_BF16, 12);
    layout_is("raw:i64", 2, d, QTF_DTYPE_I64, 48);
    layout_is("raw:bool", 2, d, QTF_DTYPE_BOOL, 6);
    layout_is("raw:f8_e5m2", 2, d, QTF_DTYPE_F8_E5M2, 6);
    layout_is("f32", 0, NULL, QTF_DTYPE_F32, 4);
    const uint64_t empty[] = { 0, 5 };
    layout_is("f16", 2, empty, QTF_DTYPE_F16, 0);
    const uint64_t empty2[] = { 5, 0 };
    layout_is("raw:u64", 2, empty2, QTF_DTYPE_U64, 0);
}

Test(layout, overflow_and_invalid) {
    qtf_part_layout l[QTF_MAX_PARTS];
    uint32_t n;
    qtf_encoding e = ts_parse("f32");
    const uint64_t big[] = { 1ull << 62, 2 };  /* 2^63 elements fit, bytes do not */
    cr_assert_eq(qtf_encoding_layout(l, &n, &e, 2, big), QTF_E_OVERFLOW);
    e = ts_parse("raw:u8");
    cr_assert_eq(qtf_encoding_layout(l, &n, &e, 2, big), QTF_OK);
    cr_assert_eq(l[0].size, 1ull << 63);
    const uint64_t huge[] = { 1ull << 40, 1ull << 40 };
    cr_assert_eq(qtf_encoding_layout(l, &n, &e, 2, huge), QTF_E_OVERFLOW);
    e = ts_parse("f16");
    e.bits = 16;
    const uint64_t d[] = { 4 };
    cr_assert_eq(qtf_encoding_layout(l, &n, &e, 1, d), QTF_E_ENCODING);
    e.bits = 0;
    e.id = (qtf_encoding_id)40;
    cr_assert_eq(qtf_encoding_layout(l, &n, &e, 1, d), QTF_E_UNKNOWN_ENCODING);
    cr_assert_eq(qtf_encoding_layout(l, &n, NULL, 1, d), QTF_E_INVALID_ARG);
}

Test(layout, bits_per_weight) {
    const uint64_t d[] = { 4, 8 };
    qtf_encoding e = ts_parse("f16");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, d), 16.0, 0);
    e = ts_parse("raw:f64");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, d), 64.0, 0);
    e = ts_parse("raw:bool");
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, d), 8.0, 0);
    const uint64_t z[] = { 0, 8 };
    cr_assert_float_eq(qtf_encoding_bits_per_weight(&e, 2, z), 0.0, 0);
    e.raw_type = QTF_DTYPE_F32;
    cr_assert(isnan(qtf_encoding_bits_per_weight(&e, 2, d)));
}

/* --- quantize / dequantize, float family ---------------------------------------- */

static qtf_encoded *quantize_ok(const char *text, const float *src, uint32_t n_dims,
                                const uint64_t *dims, unsigned threads) {
    qtf_encoding e = ts_parse(text);
    qtf_quantize_options o = QTF_QUANTIZE_OPTIONS_INIT;
    o.threads = threads;
    qtf_encoded *q = NULL;
    qtf_status st = qtf_quantize(&q, &e, src, n_dims, dims, &o);
    cr_assert_eq(st, QTF_OK, "%s: %s", text, qtf_error_detail());
    return q;
}

static qtf_status dequantize(void *dst, qtf_dtype t, uint64_t count, const char *text,
                             uint32_t n_dims, const uint64_t *dims, const qtf_encoded *q) {
    qtf_encoding e = ts_parse(text);
    qtf_part_view v[QTF_MAX_PARTS];
    uint32_t n = qtf_encoded_views(v, q);
    return qtf_dequantize(dst, t, count, &e, n_dims, dims, v, n, 0);
}

Test(quantize, f32_is_bit_exact) {
    const float src[6] = { 1.5f, -0.0f, INFINITY, NAN, 0x1p-149f, -3.25e38f };
    const uint64_t d[] = { 2, 3 };
    qtf_encoded *q = quantize_ok("f32", src, 2, d, 0);
    cr_assert_eq(q->n_parts, 1);
    cr_assert_eq(q->layout[0].size, 24);
    cr_assert_eq(memcmp(q->data[0], src, 24), 0);
    float out[6];
    cr_assert_eq(dequantize(out, QTF_DTYPE_F32, 6, "f32", 2, d, q), QTF_OK);
    cr_assert_eq(memcmp(out, src, 24), 0);
    qtf_encoded_free(q);
}

Test(quantize, bf16_representable_values_round_trip) {
    enum { N = 4096 };
    float *src = malloc(N * sizeof *src), *out = malloc(N * sizeof *out);
    uint16_t *half = malloc(N * 2);
    for (int i = 0; i < N; i++) src[i] = qtf_bf16_to_f32((uint16_t)(i * 15 + 3));
    src[7] = NAN;
    const uint64_t d[] = { 64, 64 };
    qtf_encoded *q = quantize_ok("bf16", src, 2, d, 2);
    cr_assert_eq(q->layout[0].type, QTF_DTYPE_BF16);
    cr_assert_eq(dequantize(out, QTF_DTYPE_F32, N, "bf16", 2, d, q), QTF_OK);
    for (int i = 0; i < N; i++) {
        if (isnan(src[i])) cr_assert(isnan(out[i]));
        else cr_assert_eq(f32_bits(out[i]), f32_bits(src[i]), "i=%d", i);
    }
    cr_assert_eq(dequantize(half, QTF_DTYPE_BF16, N, "bf16", 2, d, q), QTF_OK);
    cr_assert_eq(memcmp(half, q->data[0], N * 2), 0);
    cr_assert_eq(dequantize(half, QTF_DTYPE_F16, N, "bf16", 2, d, q), QTF_OK);
    for (int i = 0; i < N; i++) {
        uint16_t want = qtf_f32_to_f16(src[i]);
        if (!isnan(src[i])) cr_assert_eq(half[i], want, "i=%d", i);
    }
    qtf_encoded_free(q);
    free(src);
    free(out);
    free(half);
}

Test(quantize, f16_any_thread_count_gives_the_same_bytes) {
    enum { N = 300001 };
    float *src = malloc(N * sizeof *src);
    uint32_t s = 1;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        src[i] = ((float)(s >> 8) - 8388608.0f) * 0x1p-16f;
    }
    const uint64_t d[] = { N };
    qtf_encoded *a = quantize_ok("f16", src, 1, d, 1);
    qtf_encoded *b = quantize_ok("f16", src, 1, d, 2);
    qtf_encoded *c = quantize_ok("f16", src, 1, d, 7);
    cr_assert_eq(memcmp(a->data[0], b->data[0], N * 2), 0);
    cr_assert_eq(memcmp(a->data[0], c->data[0], N * 2), 0);
    const uint16_t *h = a->data[0];
    for (int i = 0; i < N; i += 997) cr_assert_eq(h[i], qtf_f32_to_f16(src[i]));
    float *out = malloc(N * sizeof *out);
    cr_assert_eq(dequantize(out, QTF_DTYPE_F32, N, "f16", 1, d, a), QTF_OK);
    for (int i = 0; i < N; i++) cr_assert_eq(f32_bits(out[i]), f32_bits(qtf_f16_to_f32(h[i])));
    uint16_t *bf = malloc(N * 2);
    cr_assert_eq(dequantize(bf, QTF_DTYPE_BF16, N, "f16", 1, d, a), QTF_OK);
    for (int i = 0; i < N; i += 13) cr_assert_eq(bf[i], qtf_f32_to_bf16(qtf_f16_to_f32(h[i])));
    qtf_encoded_free(a);
    qtf_encoded_free(b);
    qtf_encoded_free(c);
    free(src);
    free(out);
    free(bf);
}

Test(quantize, f32_to_half_destinations) {
    const float src[4] = { 1.0f, 65520.0f, -0x1p-25f, 1.0f + 0x1p-8f };
    const uint64_t d[] = { 4 };
    qtf_encoded *q = quantize_ok("f32", src, 1, d, 0);
    uint16_t h[4];
    cr_assert_eq(dequantize(h, QTF_DTYPE_F16, 4, "f32", 1, d, q), QTF_OK);
    cr_assert(h[0] == 0x3c00 && h[1] == 0x7c00 && h[2] == 0x8000 && h[3] == 0x3c04);
    cr_assert_eq(dequantize(h, QTF_DTYPE_BF16, 4, "f32", 1, d, q), QTF_OK);
    cr_assert(h[0] == 0x3f80 && h[1] == 0x4780 && h[2] == 0xb300 && h[3] == 0x3f80);
    qtf_encoded_free(q);
}

Test(quantize, raw_integers_exact_or_refused) {
    const uint64_t d[] = { 2, 3 };
    const float ok[6] = { -2147483648.0f, -1, 0, 7, 16777216.0f, 2147483520.0f };
    qtf_encoded *q = quantize_ok("raw:i32", ok, 2, d, 0);
    const int32_t *v = q->data[0];
    cr_assert(v[0] == INT32_MIN && v[1] == -1 && v[3] == 7 && v[4] == 16777216 &&
              v[5] == 2147483520);
    float out[6];
    cr_assert_eq(dequantize(out, QTF_DTYPE_F32, 6, "raw:i32", 2, d, q), QTF_OK);
    cr_assert_eq(memcmp(out, ok, sizeof out), 0);
    qtf_encoded_free(q);

    struct { const char *enc; float bad; } cases[] = {
        { "raw:i32", 0.5f }, { "raw:i32", 2147483648.0f }, { "raw:i32", NAN },
        { "raw:i32", INFINITY }, { "raw:u8", -1.0f }, { "raw:u8", 256.0f }, { "raw:i8", 128.0f },
        { "raw:i8", -129.0f }, { "raw:u16", 65536.0f }, { "raw:i16", 1.25f },
        { "raw:u32", 0x1p32f }, { "raw:i64", 0x1p63f }, { "raw:u64", 0x1p64f },
        { "raw:u64", -1.0f }, { "raw:bool", 2.0f }, { "raw:bool", 0.5f },
        { "raw:f8_e4m3", 0.3f }, { "raw:f8_e4m3", 480.0f }, { "raw:f8_e4m3", INFINITY },
        { "raw:f8_e5m2", 1.1f },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float src[6] = { 0, 1, 0, 1, cases[i].bad, 0 };
        qtf_encoding e = ts_parse(cases[i].enc);
        qtf_encoded *r = (qtf_encoded *)&r;
        cr_assert_eq(qtf_quantize(&r, &e, src, 2, d, NULL), QTF_E_VALUE, "%s %g", cases[i].enc,
                     (double)cases[i].bad);
        cr_assert_null(r);
        cr_assert(strstr(qtf_error_detail(), "element 4 (row 1, column 1)") != NULL, "%s",
                  qtf_error_detail());
    }
}

Test(quantize, raw_other_types) {
    const uint64_t d[] = { 5 };
    const float src[5] = { 1.0f, 448.0f, -0.5f, 0x1p-9f, -0.0f };
    qtf_encoded *q = quantize_ok("raw:f8_e4m3", src, 1, d, 0);
    const uint8_t *b = q->data[0];
    cr_assert(b[0] == 0x38 && b[1] == 0x7e && b[2] == 0xb0 && b[3] == 0x01 && b[4] == 0x80);
    float out[5];
    cr_assert_eq(dequantize(out, QTF_DTYPE_F32, 5, "raw:f8_e4m3", 1, d, q), QTF_OK);
    cr_assert_eq(memcmp(out, src, sizeof out), 0);
    qtf_encoded_free(q);
    const float s5[5] = { 57344.0f, -INFINITY, 0x1p-16f, NAN, 1.5f };
    q = quantize_ok("raw:f8_e5m2", s5, 1, d, 0);
    b = q->data[0];
    cr_assert(b[0] == 0x7b && b[1] == 0xfc && b[2] == 0x01 && (b[3] & 0x7f) > 0x7c &&
              b[4] == 0x3e);
    qtf_encoded_free(q);
    const float f[5] = { 0.1f, -1e30f, NAN, 0, 1 };
    q = quantize_ok("raw:f64", f, 1, d, 0);
    const double *dd = q->data[0];
    cr_assert(dd[0] == (double)0.1f && dd[1] == (double)-1e30f && isnan(dd[2]));
    qtf_encoded_free(q);
    const float bools[5] = { 0, 1, 1, 0, 1 };
    q = quantize_ok("raw:bool", bools, 1, d, 0);
    cr_assert_eq(memcmp(q->data[0], "\0\1\1\0\1", 5), 0);
    qtf_encoded_free(q);
}

Test(quantize, empty_and_scalar_tensors) {
    const uint64_t d[] = { 0, 16 };
    qtf_encoding e = ts_parse("f16");
    qtf_encoded *q = NULL;
    cr_assert_eq(qtf_quantize(&q, &e, NULL, 2, d, NULL), QTF_OK);
    cr_assert_eq(q->n_parts, 1);
    cr_assert_eq(q->layout[0].size, 0);
    cr_assert_eq(dequantize(NULL, QTF_DTYPE_F32, 0, "f16", 2, d, q), QTF_OK);
    qtf_encoded_free(q);
    const float one = 2.5f;
    q = quantize_ok("bf16", &one, 0, NULL, 0);
    float back;
    cr_assert_eq(dequantize(&back, QTF_DTYPE_F32, 1, "bf16", 0, NULL, q), QTF_OK);
    cr_assert_eq(back, 2.5f);
    qtf_encoded_free(q);
}

Test(quantize, argument_errors) {
    const float src[4] = { 1, 2, 3, 4 };
    const uint64_t d[] = { 2, 2 };
    qtf_encoding e = ts_parse("f16");
    qtf_encoded *q = NULL;
    qtf_quantize_options o = QTF_QUANTIZE_OPTIONS_INIT;
    o.version = 99;
    cr_assert_eq(qtf_quantize(&q, &e, src, 2, d, &o), QTF_E_INVALID_ARG);
    o.version = QTF_QUANTIZE_OPTIONS_VERSION;
    const float imp_bad[2] = { 1.0f, -1.0f };
    o.importance = imp_bad;
    cr_assert_eq(qtf_quantize(&q, &e, src, 2, d, &o), QTF_E_INVALID_ARG);
    cr_assert(strstr(qtf_error_detail(), "importance[1]") != NULL);
    const float imp_nan[2] = { NAN, 1.0f };
    o.importance = imp_nan;
    cr_assert_eq(qtf_quantize(&q, &e, src, 2, d, &o), QTF_E_INVALID_ARG);
    const float imp_ok[2] = { 0.0f, 3.0f };
    o.importance = imp_ok;
    cr_assert_eq(qtf_quantize(&q, &e, src, 2, d, &o), QTF_OK);
    qtf_encoded_free(q);
    cr_assert_eq(qtf_quantize(&q, &e, NULL, 2, d, NULL), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_quantize(NULL, &e, src, 2, d, NULL), QTF_E_INVALID_ARG);
    e.zstd_level = 40;
    cr_assert_eq(qtf_quantize(&q, &e, src, 2, d, NULL), QTF_E_ENCODING);
    qtf_encoded_free(NULL);
    cr_assert_eq(qtf_encoded_views(NULL, NULL), 0);
}

Test(quantize, allocation_failures_are_reported) {
    const float src[4] = { 1, 2, 3, 4 };
    const uint64_t d[] = { 4 };
    qtf_encoding e = ts_parse("f16");
    for (long k = 0; k < 2; k++) {
        qtf_encoded *q = (qtf_encoded *)&q;
        qtf__test_fail_alloc_after(k);
        qtf_status st = qtf_quantize(&q, &e, src, 1, d, NULL);
        qtf__test_fail_alloc_after(-1);
        cr_assert_eq(st, QTF_E_NOMEM, "k=%ld", k);
        cr_assert_null(q);
    }
}

Test(dequantize, parts_are_checked_against_the_layout) {
    const float src[4] = { 1, 2, 3, 4 };
    const uint64_t d[] = { 2, 2 };
    qtf_encoded *q = quantize_ok("f16", src, 2, d, 0);
    qtf_encoding e = ts_parse("f16");
    qtf_part_view v[QTF_MAX_PARTS];
    cr_assert_eq(qtf_encoded_views(v, q), 1);
    float out[4];
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 4, &e, 2, d, v, 1, 1), QTF_OK);
    cr_assert(out[0] == 1 && out[3] == 4);

    qtf_part_view w = v[0];
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 4, &e, 2, d, v, 0, 1), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "0 parts") != NULL, "%s", qtf_error_detail());
    qtf_part_view two[2] = { w, w };
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 4, &e, 2, d, two, 2, 1), QTF_E_ENCODING);
    w.role = QTF_ROLE_CODES;
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 4, &e, 2, d, &w, 1, 1), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "part 0") != NULL, "%s", qtf_error_detail());
    w = v[0];
    w.type = QTF_DTYPE_BF16;
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 4, &e, 2, d, &w, 1, 1), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "expected data F16 of 8 bytes") != NULL, "%s",
              qtf_error_detail());
    w = v[0];
    w.size = 6;
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 4, &e, 2, d, &w, 1, 1), QTF_E_ENCODING);
    w = v[0];
    w.data = NULL;
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 4, &e, 2, d, &w, 1, 1), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 3, &e, 2, d, v, 1, 1), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_I8, 4, &e, 2, d, v, 1, 1), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_dequantize(NULL, QTF_DTYPE_F32, 4, &e, 2, d, v, 1, 1), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 4, NULL, 2, d, v, 1, 1), QTF_E_INVALID_ARG);
    const uint64_t wrong[] = { 3, 2 };
    cr_assert_eq(qtf_dequantize(out, QTF_DTYPE_F32, 6, &e, 2, wrong, v, 1, 1), QTF_E_ENCODING);
    qtf_encoded_free(q);
}

/* --- the dispatcher with the quantized families ------------------------------ */

/* Plumbing only (the families test their own numerics): every family is
 * reached, parts have their layout sizes, 16-bit destinations equal the f32
 * result converted, the thread count does not change a byte, and empty
 * tensors give zero-filled parts. */
Test(dispatch, quantized_families_through_the_public_api) {
    const char *specs[] = { "q8_0", "q4_0", "int4", "int3:group=16,asym", "int4:dq", "nf4:dq",
                            "fp4", "mxfp4", "pal4", "pal2:rowscale,dq", "int4:zstd" };
    enum { ROWS = 16, COLS = 128, N = ROWS * COLS };
    const uint64_t d[] = { ROWS, COLS };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    uint16_t *h = malloc(N * 2);
    for (int i = 0; i < N; i++) x[i] = sinf((float)i * 0.37f) * (float)(1 + i % 7);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        qtf_encoded *a = quantize_ok(specs[k], x, 2, d, 1);
        qtf_encoded *b = quantize_ok(specs[k], x, 2, d, 2);
        qtf_part_layout l[QTF_MAX_PARTS];
        uint32_t nl;
        qtf_encoding e = ts_parse(specs[k]);
        cr_assert_eq(qtf_encoding_layout(l, &nl, &e, 2, d), QTF_OK);
        cr_assert_eq(a->n_parts, nl, "%s", specs[k]);
        for (uint32_t p = 0; p < nl; p++) {
            cr_assert(a->layout[p].size == l[p].size && a->layout[p].role == l[p].role);
            cr_assert_eq(memcmp(a->data[p], b->data[p], (size_t)l[p].size), 0,
                         "%s: part %u depends on the thread count", specs[k], p);
        }
        cr_assert_eq(dequantize(y, QTF_DTYPE_F32, N, specs[k], 2, d, a), QTF_OK, "%s: %s",
                     specs[k], qtf_error_detail());
        qtf_metrics m;
        cr_assert_eq(qtf_metrics_compute(&m, x, y, N, NULL, 0), QTF_OK);
        cr_assert_lt(m.rel_rmse, 0.5, "%s: rel_rmse %g", specs[k], m.rel_rmse);
        cr_assert_eq(dequantize(h, QTF_DTYPE_BF16, N, specs[k], 2, d, a), QTF_OK);
        for (int i = 0; i < N; i++) cr_assert_eq(h[i], qtf_f32_to_bf16(y[i]), "%s", specs[k]);
        cr_assert_eq(dequantize(h, QTF_DTYPE_F16, N, specs[k], 2, d, a), QTF_OK);
        for (int i = 0; i < N; i++) cr_assert_eq(h[i], qtf_f32_to_f16(y[i]), "%s", specs[k]);
        qtf_encoded_free(a);
        qtf_encoded_free(b);

        const uint64_t empty[] = { 0, COLS };
        qtf_encoded *z = NULL;
        cr_assert_eq(qtf_quantize(&z, &e, NULL, 2, empty, NULL), QTF_OK, "%s", specs[k]);
        for (uint32_t p = 0; p < z->n_parts; p++)
            for (uint64_t i = 0; i < z->layout[p].size; i++)
                cr_assert_eq(((unsigned char *)z->data[p])[i], 0);
        qtf_encoded_free(z);
    }
    free(x);
    free(y);
    free(h);
}

Test(dispatch, half_destination_buffer_failure_is_reported) {
    enum { N = 64 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)i - 20.0f;
    const uint64_t d[] = { 2, 32 };
    qtf_encoded *q = quantize_ok("q8_0", x, 2, d, 1);
    uint16_t h[N];
    qtf__test_fail_alloc_after(0);
    qtf_status st = dequantize(h, QTF_DTYPE_F16, N, "q8_0", 2, d, q);
    qtf__test_fail_alloc_after(-1);
    cr_assert_eq(st, QTF_E_NOMEM);
    cr_assert_eq(dequantize(h, QTF_DTYPE_F16, N, "q8_0", 2, d, q), QTF_OK);
    cr_assert_str_eq(qtf_error_detail(), "");
    qtf_encoded_free(q);
}

Test(quantize, raw_fp8_every_code_round_trips) {
    const char *specs[2] = { "raw:f8_e4m3", "raw:f8_e5m2" };
    const qtf_dtype types[2] = { QTF_DTYPE_F8_E4M3, QTF_DTYPE_F8_E5M2 };
    for (int t = 0; t < 2; t++) {
        uint8_t codes[256];
        float vals[256];
        for (int i = 0; i < 256; i++) codes[i] = (uint8_t)i;
        cr_assert_eq(qtf_convert_to_f32(vals, codes, types[t], 256), QTF_OK);
        const uint64_t d[] = { 256 };
        qtf_encoded *q = quantize_ok(specs[t], vals, 1, d, 0);
        const uint8_t *back = q->data[0];
        for (int i = 0; i < 256; i++) {
            if (isnan(vals[i])) {
                cr_assert(back[i] == (t == 0 ? (i & 0x80) | 0x7f : (i & 0x80) | 0x7e),
                          "%s NaN code %02x -> %02x", specs[t], i, back[i]);
            } else {
                cr_assert_eq(back[i], i, "%s code %02x (%g) -> %02x", specs[t], i,
                             (double)vals[i], back[i]);
            }
        }
        qtf_encoded_free(q);
    }
}
