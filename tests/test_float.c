/* IEEE f16/bf16 conversions and the bulk conversions (format/float.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qtf.h"

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Value of an f16 from its definition, independent of the library. */
static double f16_value(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

Test(f16, hand_computed_rounding) {
    cr_assert_eq(qtf_f32_to_f16(1.0f), 0x3c00);
    cr_assert_eq(qtf_f32_to_f16(-2.0f), 0xc000);
    cr_assert_eq(qtf_f32_to_f16(0.0f), 0x0000);
    cr_assert_eq(qtf_f32_to_f16(-0.0f), 0x8000);
    cr_assert_eq(qtf_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(qtf_f32_to_f16(65519.99f), 0x7bff);   /* below the midpoint */
    cr_assert_eq(qtf_f32_to_f16(65520.0f), 0x7c00);    /* tie, rounds to even = Inf */
    cr_assert_eq(qtf_f32_to_f16(1e10f), 0x7c00);
    cr_assert_eq(qtf_f32_to_f16(-1e10f), 0xfc00);
    cr_assert_eq(qtf_f32_to_f16(INFINITY), 0x7c00);
    cr_assert_eq(qtf_f32_to_f16(-INFINITY), 0xfc00);
    /* ties to even in the normal range: 1 + 2^-11 lies between 0x3c00 and 0x3c01 */
    cr_assert_eq(qtf_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    cr_assert_eq(qtf_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    cr_assert_eq(qtf_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    /* subnormals */
    cr_assert_eq(qtf_f32_to_f16(0x1p-24f), 0x0001);
    cr_assert_eq(qtf_f32_to_f16(0x1p-25f), 0x0000);             /* tie to even 0 */
    cr_assert_eq(qtf_f32_to_f16(-0x1p-25f), 0x8000);
    cr_assert_eq(qtf_f32_to_f16(0x1p-25f * 1.0000001f), 0x0001);
    cr_assert_eq(qtf_f32_to_f16(3 * 0x1p-25f), 0x0002);         /* tie 1|2 -> 2 */
    cr_assert_eq(qtf_f32_to_f16(5 * 0x1p-25f), 0x0002);         /* tie 2|3 -> 2 */
    cr_assert_eq(qtf_f32_to_f16(1023 * 0x1p-24f), 0x03ff);
    cr_assert_eq(qtf_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400);  /* tie 3ff|400 -> 400 */
    cr_assert_eq(qtf_f32_to_f16(0x1p-14f), 0x0400);
    cr_assert_eq(qtf_f32_to_f16(0x1p-149f), 0x0000);            /* f32 subnormal */
}

Test(f16, nan_keeps_sign_and_payload_and_is_quiet) {
    cr_assert_eq(qtf_f32_to_f16(from_bits(0x7fc00000u)), 0x7e00);
    cr_assert_eq(qtf_f32_to_f16(from_bits(0x7fc00001u)), 0x7e00); /* low payload lost */
    cr_assert_eq(qtf_f32_to_f16(from_bits(0xffa00000u)), 0xff00); /* signalling -> quiet */
    cr_assert_eq(qtf_f32_to_f16(from_bits(0x7f800001u)), 0x7e00); /* never becomes Inf */
    cr_assert_eq(bits(qtf_f16_to_f32(0x7d00)), 0x7fe00000u);
    cr_assert_eq(bits(qtf_f16_to_f32(0xfc01)), 0xffc02000u);
}

Test(f16, to_f32_hand_computed) {
    cr_assert_eq(qtf_f16_to_f32(0x0001), 0x1p-24f);
    cr_assert_eq(qtf_f16_to_f32(0x03ff), 1023 * 0x1p-24f);
    cr_assert_eq(qtf_f16_to_f32(0x0400), 0x1p-14f);
    cr_assert_eq(qtf_f16_to_f32(0x3c00), 1.0f);
    cr_assert_eq(qtf_f16_to_f32(0x7bff), 65504.0f);
    cr_assert_eq(bits(qtf_f16_to_f32(0x8000)), 0x80000000u);
    cr_assert_eq(qtf_f16_to_f32(0x7c00), INFINITY);
    cr_assert_eq(qtf_f16_to_f32(0xfc00), -INFINITY);
}

Test(f16, exhaustive_round_trip) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qtf_f16_to_f32((uint16_t)h);
        uint16_t back = qtf_f32_to_f16(f);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            cr_assert(isnan(f), "h=%04x", h);
            cr_assert_eq(back, h | 0x0200, "NaN %04x came back as %04x", h, back);
            cr_assert_eq(bits(f) >> 31, h >> 15);
        } else if ((h & 0x7fff) == 0x7c00) {
            cr_assert(isinf(f));
            cr_assert_eq(back, h);
        } else {
            cr_assert_eq((double)f, f16_value((uint16_t)h), "h=%04x", h);
            cr_assert_eq(back, h, "h=%04x came back as %04x", h, back);
        }
    }
}

/* Reference rounding: nearest of the two neighbouring f16 values in exact
 * double arithmetic, ties to the even code. */
static uint16_t f16_reference(float x) {
    if (isnan(x)) return 0;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    if (a >= 65520.0) return sign | 0x7c00;
    uint16_t lo = 0, hi = 0x7bff;
    while (lo < hi) { /* largest code with value <= a */
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if (f16_value(mid) <= a) lo = mid;
        else hi = (uint16_t)(mid - 1);
    }
    if (f16_value(lo) == a || lo == 0x7bff) return sign | lo;
    double dlo = a - f16_value(lo), dhi = f16_value((uint16_t)(lo + 1)) - a;
    if (dlo < dhi) return sign | lo;
    if (dhi < dlo) return sign | (uint16_t)(lo + 1);
    return sign | ((lo & 1) ? (uint16_t)(lo + 1) : lo);
}

Test(f16, random_values_match_reference_and_bulk) {
    enum { N = 200000 };
    float *src = malloc(N * sizeof *src);
    uint16_t *bulk = malloc(N * sizeof *bulk);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t u = (uint32_t)(s >> 32);
        /* concentrate on the f16 range: exponents 100..145 */
        if (i & 1) u = (u & 0x807fffffu) | ((100u + (u >> 23) % 46u) << 23);
        src[i] = from_bits(u);
    }
    cr_assert_eq(qtf_convert_from_f32(bulk, QTF_DTYPE_F16, src, N), QTF_OK);
    for (int i = 0; i < N; i++) {
        uint16_t one = qtf_f32_to_f16(src[i]);
        cr_assert_eq(bulk[i], one, "bulk differs at %d", i);
        if (!isnan(src[i]))
            cr_assert_eq(one, f16_reference(src[i]), "x=%a (%08x): got %04x want %04x", src[i],
                         bits(src[i]), one, f16_reference(src[i]));
    }
    free(src);
    free(bulk);
}

Test(bf16, hand_computed_rounding) {
    cr_assert_eq(qtf_f32_to_bf16(1.0f), 0x3f80);
    cr_assert_eq(qtf_f32_to_bf16(-0.0f), 0x8000);
    cr_assert_eq(qtf_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);         /* tie -> even */
    cr_assert_eq(qtf_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);     /* tie -> even */
    cr_assert_eq(qtf_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    cr_assert_eq(qtf_f32_to_bf16(from_bits(0x7f7fffffu)), 0x7f80); /* FLT_MAX -> Inf */
    cr_assert_eq(qtf_f32_to_bf16(from_bits(0x7f7f7fffu)), 0x7f7f);
    cr_assert_eq(qtf_f32_to_bf16(-INFINITY), 0xff80);
    cr_assert_eq(qtf_f32_to_bf16(from_bits(0x00018000u)), 0x0002); /* subnormal tie */
    cr_assert_eq(qtf_f32_to_bf16(from_bits(0x7f800001u)), 0x7fc0); /* sNaN -> quiet NaN */
    cr_assert_eq(qtf_f32_to_bf16(from_bits(0xffa50000u)), 0xffe5); /* payload + sign kept */
    cr_assert_eq(bits(qtf_bf16_to_f32(0x7f81)), 0x7fc10000u);
    cr_assert_eq(bits(qtf_bf16_to_f32(0x0001)), 0x00010000u);
}

Test(bf16, exhaustive_round_trip) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = qtf_bf16_to_f32((uint16_t)h);
        uint16_t back = qtf_f32_to_bf16(f);
        int is_nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        if (is_nan) {
            cr_assert(isnan(f));
            cr_assert_eq(bits(f), (h << 16) | 0x00400000u);
            cr_assert_eq(back, h | 0x0040);
        } else {
            cr_assert_eq(bits(f), h << 16, "h=%04x", h);
            cr_assert_eq(back, h, "h=%04x", h);
        }
    }
}

Test(bulk, widening_matches_scalar_at_any_alignment) {
    enum { N = 3000 };
    unsigned char *raw = malloc(2 * N + 1);
    float *out = malloc(N * sizeof *out);
    for (int i = 0; i < 2 * N + 1; i++) raw[i] = (unsigned char)(i * 37 + 11);
    for (int off = 0; off < 2; off++) {
        cr_assert_eq(qtf_convert_to_f32(out, raw + off, QTF_DTYPE_F16, N), QTF_OK);
        for (int i = 0; i < N; i++) {
            uint16_t h = (uint16_t)(raw[off + 2 * i] | raw[off + 2 * i + 1] << 8);
            float want = qtf_f16_to_f32(h);
            cr_assert_eq(bits(out[i]), bits(want), "f16 off=%d i=%d", off, i);
        }
        cr_assert_eq(qtf_convert_to_f32(out, raw + off, QTF_DTYPE_BF16, N), QTF_OK);
        for (int i = 0; i < N; i++) {
            uint16_t h = (uint16_t)(raw[off + 2 * i] | raw[off + 2 * i + 1] << 8);
            cr_assert_eq(bits(out[i]), bits(qtf_bf16_to_f32(h)), "bf16 off=%d i=%d", off, i);
        }
    }
    free(raw);
    free(out);
}

Test(bulk, narrowing_to_unaligned_destination) {
    float src[5] = { 1.0f, -2.0f, 65520.0f, 0x1p-25f, 3.0f };
    unsigned char buf[11];
    cr_assert_eq(qtf_convert_from_f32(buf + 1, QTF_DTYPE_F16, src, 5), QTF_OK);
    const uint16_t want[5] = { 0x3c00, 0xc000, 0x7c00, 0x0000, 0x4200 };
    for (int i = 0; i < 5; i++) cr_assert_eq(buf[1 + 2 * i] | buf[2 + 2 * i] << 8, want[i]);
    cr_assert_eq(qtf_convert_from_f32(buf + 1, QTF_DTYPE_BF16, src, 5), QTF_OK);
    const uint16_t wantb[5] = { 0x3f80, 0xc000, 0x4780, 0x3300, 0x4040 };
    for (int i = 0; i < 5; i++) cr_assert_eq(buf[1 + 2 * i] | buf[2 + 2 * i] << 8, wantb[i]);
    float f[5];
    cr_assert_eq(qtf_convert_from_f32(f, QTF_DTYPE_F32, src, 5), QTF_OK);
    cr_assert_eq(memcmp(f, src, sizeof f), 0);
    cr_assert_eq(qtf_convert_from_f32(f, QTF_DTYPE_I8, src, 5), QTF_E_TYPE);
    cr_assert_eq(qtf_convert_from_f32(f, QTF_DTYPE_F64, src, 5), QTF_E_TYPE);
    cr_assert_eq(qtf_convert_from_f32(NULL, QTF_DTYPE_F16, src, 0), QTF_OK);
}

Test(bulk, integer_bool_and_f64_sources) {
    float out[4];
    const int8_t i8[4] = { -128, -1, 0, 127 };
    cr_assert_eq(qtf_convert_to_f32(out, i8, QTF_DTYPE_I8, 4), QTF_OK);
    cr_assert(out[0] == -128 && out[1] == -1 && out[2] == 0 && out[3] == 127);
    const uint8_t u8[4] = { 0, 1, 200, 255 };
    cr_assert_eq(qtf_convert_to_f32(out, u8, QTF_DTYPE_U8, 4), QTF_OK);
    cr_assert(out[2] == 200 && out[3] == 255);
    const int16_t i16[4] = { -32768, -5, 5, 32767 };
    cr_assert_eq(qtf_convert_to_f32(out, i16, QTF_DTYPE_I16, 4), QTF_OK);
    cr_assert(out[0] == -32768 && out[3] == 32767);
    const uint16_t u16[4] = { 0, 1, 40000, 65535 };
    cr_assert_eq(qtf_convert_to_f32(out, u16, QTF_DTYPE_U16, 4), QTF_OK);
    cr_assert(out[2] == 40000 && out[3] == 65535);
    const int32_t i32[4] = { INT32_MIN, -7, 16777217, INT32_MAX };
    cr_assert_eq(qtf_convert_to_f32(out, i32, QTF_DTYPE_I32, 4), QTF_OK);
    cr_assert(out[0] == -0x1p31f && out[1] == -7 && out[2] == 16777216.0f && out[3] == 0x1p31f);
    const uint32_t u32[4] = { 0, 3, 16777219u, UINT32_MAX };
    cr_assert_eq(qtf_convert_to_f32(out, u32, QTF_DTYPE_U32, 4), QTF_OK);
    cr_assert(out[2] == 16777220.0f && out[3] == 0x1p32f); /* nearest, ties to even */
    const int64_t i64[4] = { INT64_MIN, -1, 1, INT64_MAX };
    cr_assert_eq(qtf_convert_to_f32(out, i64, QTF_DTYPE_I64, 4), QTF_OK);
    cr_assert(out[0] == -0x1p63f && out[3] == 0x1p63f);
    const uint64_t u64[4] = { 0, 1, 1ull << 40, UINT64_MAX };
    cr_assert_eq(qtf_convert_to_f32(out, u64, QTF_DTYPE_U64, 4), QTF_OK);
    cr_assert(out[2] == 0x1p40f && out[3] == 0x1p64f);
    const unsigned char b[4] = { 0, 1, 1, 0 };
    cr_assert_eq(qtf_convert_to_f32(out, b, QTF_DTYPE_BOOL, 4), QTF_OK);
    cr_assert(out[0] == 0 && out[1] == 1 && out[2] == 1 && out[3] == 0);
    const double f64[4] = { 0.1, -1e300, 1e-300, 3.5 };
    cr_assert_eq(qtf_convert_to_f32(out, f64, QTF_DTYPE_F64, 4), QTF_OK);
    cr_assert(out[0] == 0.1f && out[1] == -INFINITY && out[2] == 0.0f && out[3] == 3.5f);
    cr_assert_eq(qtf_convert_to_f32(out, b, QTF_DTYPE_PACKED, 4), QTF_E_TYPE);
    cr_assert_eq(qtf_convert_to_f32(out, b, QTF_DTYPE_E8M0, 4), QTF_E_TYPE);
    cr_assert_eq(qtf_convert_to_f32(out, b, (qtf_dtype)99, 4), QTF_E_TYPE);
}

Test(bulk, fp8_sources) {
    /* E4M3: 0x38 = 1.0, 0x7e = 448 (max), 0x01 = 2^-9, 0x7f NaN, 0xb8 = -1 */
    const uint8_t e4[5] = { 0x38, 0x7e, 0x01, 0x7f, 0xb8 };
    float out[5];
    cr_assert_eq(qtf_convert_to_f32(out, e4, QTF_DTYPE_F8_E4M3, 5), QTF_OK);
    cr_assert(out[0] == 1.0f && out[1] == 448.0f && out[2] == 0x1p-9f && isnan(out[3]) &&
              out[4] == -1.0f);
    /* E5M2: the top byte of an f16 */
    const uint8_t e5[5] = { 0x3c, 0x7b, 0x01, 0x7c, 0xfe };
    cr_assert_eq(qtf_convert_to_f32(out, e5, QTF_DTYPE_F8_E5M2, 5), QTF_OK);
    cr_assert(out[0] == 1.0f && out[1] == 57344.0f && out[2] == 0x1p-16f &&
              out[3] == INFINITY && isnan(out[4]));
}
