/* format/float.c — IEEE conversions and the float family (F32, F16, BF16,
 * RAW): one DATA part holding every element in row-major order.
 *
 * The bulk conversions are on the converter's hot path. They are written as
 * branch-free per-element functions applied over fixed-size blocks of
 * restrict-qualified arrays, a shape that GCC and Clang vectorize at -O2
 * (a compile-time trip count needs neither alias checks nor an epilogue). */
#include <math.h>
#include <string.h>

#include "family.h"

#define f32_bits qtf__f32_bits
#define bits_f32 qtf__f32_from_bits

/* --- scalar conversions ---------------------------------------------------- */

/* All-ones when c, else zero. Selections are written as bit blends rather
 * than ?: so that the floating-point step, which the compiler may not
 * execute speculatively under -ftrapping-math, is unconditional and the
 * block loops stay branch-free and vectorizable. */
static inline uint32_t mask_if(int c) { return (uint32_t)0 - (uint32_t)c; }
static inline uint32_t blend(uint32_t m, uint32_t if_set, uint32_t if_clear) {
    return (if_set & m) | (if_clear & ~m);
}

/* Round to nearest even. Three candidates are computed and one selected:
 *  - |x| >= 2^16 (all of which round beyond 65504) or NaN: Inf, or a quiet
 *    NaN keeping the top payload bits;
 *  - |x| < 2^-14 (f16 subnormal range): adding 0.5f aligns the f32 mantissa
 *    so that the FPU itself rounds to the f16 subnormal step 2^-24;
 *  - normal: rebias the exponent and round the 13 dropped mantissa bits;
 *    a carry out of the mantissa correctly bumps the exponent, up to Inf. */
static inline uint16_t f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    uint32_t normal = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13;
    /* clamped so that the add sees no NaN or huge value in unused lanes */
    uint32_t small = blend(mask_if(a < 0x38800000u), a, 0);
    uint32_t sub = f32_bits(bits_f32(small) + 0.5f) - 0x3f000000u;
    uint32_t special =
        0x7c00u | blend(mask_if(a > 0x7f800000u), 0x200u | ((a >> 13) & 0x3ffu), 0);
    uint32_t o = blend(mask_if(a < 0x38800000u), sub, normal);
    o = blend(mask_if(a >= 0x47800000u), special, o);
    return (uint16_t)(o | sign);
}

/* Exact. Normals are rebiased with integer arithmetic; subnormals are
 * converted as the integer mantissa times 2^-24 (exact, and independent of
 * the denormals-are-zero mode an application may have set); Inf and NaN are
 * handled apart, NaN getting the quiet bit. */
static inline float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t a = h & 0x7fffu;
    uint32_t normal = (a << 13) + 0x38000000u;
    uint32_t sub = f32_bits((float)(int32_t)(a & 0x3ffu) * 0x1p-24f);
    uint32_t special = 0x7f800000u | ((a & 0x3ffu) << 13) |
                       blend(mask_if(a > 0x7c00u), 0x00400000u, 0);
    uint32_t o = blend(mask_if(a < 0x0400u), sub, normal);
    return bits_f32(blend(mask_if(a >= 0x7c00u), special, o) | sign);
}

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x0040u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    return bits_f32((u & 0x7fffffffu) > 0x7f800000u ? (u | 0x00400000u) : u);
}

uint16_t qtf_f32_to_f16(float x) { return f32_to_f16(x); }
float qtf_f16_to_f32(uint16_t h) { return f16_to_f32(h); }
uint16_t qtf_f32_to_bf16(float x) { return f32_to_bf16(x); }
float qtf_bf16_to_f32(uint16_t h) { return bf16_to_f32(h); }

/* OCP FP8 E4M3 ("fn": no infinities, S.1111.111 is NaN) and E5M2 (the top
 * byte of an IEEE f16). */
static float e4m3_to_f32(uint8_t b) {
    uint32_t e = (b >> 3) & 15u, m = b & 7u;
    float v;
    if (e == 15 && m == 7) v = NAN;
    else if (e == 0) v = (float)m * 0x1p-9f;
    else v = ldexpf(1.0f + (float)m / 8.0f, (int)e - 7);
    return (b & 0x80) ? -v : v;
}
static float e5m2_to_f32(uint8_t b) { return f16_to_f32((uint16_t)(b << 8)); }

static void f8_table(float table[256], qtf_dtype t) {
    for (unsigned i = 0; i < 256; i++)
        table[i] = t == QTF_DTYPE_F8_E4M3 ? e4m3_to_f32((uint8_t)i) : e5m2_to_f32((uint8_t)i);
}

/* --- bulk conversions ---------------------------------------------------- */

#define BLOCK 64

/* On x86-64 the block loops are also built for AVX2 and chosen at load
 * time; the arithmetic is the same, so results do not depend on the CPU. */
#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(QTF_NO_CLONES)
#define HOT_LOOP __attribute__((target_clones("avx2", "default")))
#else
#define HOT_LOOP
#endif

HOT_LOOP static void f16_to_f32_n(float *restrict dst, const uint16_t *restrict src, uint64_t n) {
    uint64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (unsigned j = 0; j < BLOCK; j++) dst[i + j] = f16_to_f32(src[i + j]);
    for (; i < n; i++) dst[i] = f16_to_f32(src[i]);
}
HOT_LOOP static void bf16_to_f32_n(float *restrict dst, const uint16_t *restrict src, uint64_t n) {
    uint64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (unsigned j = 0; j < BLOCK; j++) dst[i + j] = bf16_to_f32(src[i + j]);
    for (; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}
HOT_LOOP static void f32_to_f16_n(uint16_t *restrict dst, const float *restrict src, uint64_t n) {
    uint64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (unsigned j = 0; j < BLOCK; j++) dst[i + j] = f32_to_f16(src[i + j]);
    for (; i < n; i++) dst[i] = f32_to_f16(src[i]);
}
HOT_LOOP static void f32_to_bf16_n(uint16_t *restrict dst, const float *restrict src, uint64_t n) {
    uint64_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        for (unsigned j = 0; j < BLOCK; j++) dst[i + j] = f32_to_bf16(src[i + j]);
    for (; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}

/* Encoded buffers may be unaligned (a mapped file, a safetensors payload):
 * elements are read with memcpy, which compilers turn into plain loads, and
 * 16-bit data passes through an aligned stack block on its way to or from
 * the vectorized loops. */
#define CONVERT_INT(ctype, size)                                                           \
    do {                                                                                   \
        const unsigned char *s = src;                                                      \
        for (uint64_t i = 0; i < n; i++) {                                                 \
            ctype v;                                                                       \
            memcpy(&v, s + i * (size), (size));                                            \
            dst[i] = (float)v;                                                             \
        }                                                                                  \
    } while (0)

qtf_status qtf_convert_to_f32(float *dst, const void *src, qtf_dtype src_type, uint64_t n) {
    if (n == 0) return QTF_OK;
    if (!dst || !src) return qtf__error(QTF_E_INVALID_ARG, "qtf_convert_to_f32: NULL buffer");
    switch (src_type) {
    case QTF_DTYPE_F32: memmove(dst, src, (size_t)n * 4); break;
    case QTF_DTYPE_F16: case QTF_DTYPE_BF16: {
        uint16_t tmp[1024];
        const unsigned char *s = src;
        for (uint64_t i = 0; i < n; i += 1024) {
            uint64_t m = n - i < 1024 ? n - i : 1024;
            memcpy(tmp, s + i * 2, (size_t)m * 2);
            if (src_type == QTF_DTYPE_F16) f16_to_f32_n(dst + i, tmp, m);
            else bf16_to_f32_n(dst + i, tmp, m);
        }
        break;
    }
    case QTF_DTYPE_F64: CONVERT_INT(double, 8); break;
    case QTF_DTYPE_I8: CONVERT_INT(int8_t, 1); break;
    case QTF_DTYPE_U8: CONVERT_INT(uint8_t, 1); break;
    case QTF_DTYPE_I16: CONVERT_INT(int16_t, 2); break;
    case QTF_DTYPE_U16: CONVERT_INT(uint16_t, 2); break;
    case QTF_DTYPE_I32: CONVERT_INT(int32_t, 4); break;
    case QTF_DTYPE_U32: CONVERT_INT(uint32_t, 4); break;
    case QTF_DTYPE_I64: CONVERT_INT(int64_t, 8); break;
    case QTF_DTYPE_U64: CONVERT_INT(uint64_t, 8); break;
    case QTF_DTYPE_BOOL: {
        /* A byte other than 0/1 is not a BOOL: refuse rather than guess. */
        qtf_status st = qtf__bool_check(src, n, "qtf_convert_to_f32");
        if (st != QTF_OK) return st;
        const unsigned char *s = src;
        for (uint64_t i = 0; i < n; i++) dst[i] = s[i] ? 1.0f : 0.0f;
        break;
    }
    case QTF_DTYPE_F8_E4M3: case QTF_DTYPE_F8_E5M2: {
        float table[256];
        f8_table(table, src_type);
        const unsigned char *s = src;
        for (uint64_t i = 0; i < n; i++) dst[i] = table[s[i]];
        break;
    }
    default:
        return qtf__error(QTF_E_TYPE, "qtf_convert_to_f32: cannot convert from %s (%u)",
                          qtf_dtype_name(src_type), (unsigned)src_type);
    }
    return QTF_OK;
}

qtf_status qtf_convert_from_f32(void *dst, qtf_dtype dst_type, const float *src, uint64_t n) {
    if (n == 0) return QTF_OK;
    if (!dst || !src) return qtf__error(QTF_E_INVALID_ARG, "qtf_convert_from_f32: NULL buffer");
    switch (dst_type) {
    case QTF_DTYPE_F32: memmove(dst, src, (size_t)n * 4); break;
    case QTF_DTYPE_F16: case QTF_DTYPE_BF16: {
        if (((uintptr_t)dst & 1) == 0) { /* aligned: no bounce through the stack */
            if (dst_type == QTF_DTYPE_F16) f32_to_f16_n(dst, src, n);
            else f32_to_bf16_n(dst, src, n);
            break;
        }
        uint16_t tmp[1024];
        unsigned char *d = dst;
        for (uint64_t i = 0; i < n; i += 1024) {
            uint64_t m = n - i < 1024 ? n - i : 1024;
            if (dst_type == QTF_DTYPE_F16) f32_to_f16_n(tmp, src + i, m);
            else f32_to_bf16_n(tmp, src + i, m);
            memcpy(d + i * 2, tmp, (size_t)m * 2);
        }
        break;
    }
    default:
        return qtf__error(QTF_E_TYPE, "qtf_convert_from_f32: cannot convert to %s (%u); "
                          "expected F32, F16 or BF16", qtf_dtype_name(dst_type),
                          (unsigned)dst_type);
    }
    return QTF_OK;
}

/* --- the float family -------------------------------------------------- */

static qtf_dtype data_type(const qtf_encoding *e) {
    switch (e->id) {
    case QTF_ENC_F32: return QTF_DTYPE_F32;
    case QTF_ENC_F16: return QTF_DTYPE_F16;
    case QTF_ENC_BF16: return QTF_DTYPE_BF16;
    default: return e->raw_type;
    }
}

qtf_status qtf__float_layout(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *e,
                             uint64_t rows, uint64_t cols) {
    qtf_dtype t = data_type(e);
    uint64_t n, size;
    if (!qtf__mul_u64(&n, rows, cols) || !qtf__mul_u64(&size, n, qtf_dtype_size(t)))
        return qtf__error(QTF_E_OVERFLOW,
                          "%s data part of %llu x %llu elements overflows 64 bits",
                          qtf_dtype_name(t), (unsigned long long)rows,
                          (unsigned long long)cols);
    out[0] = (qtf_part_layout){ .role = QTF_ROLE_DATA, .type = t, .size = size };
    *out_n = 1;
    return QTF_OK;
}

/* Chunks are element ranges; each element is converted on its own, so the
 * output is the same for every split. */
#define MIN_CHUNK (1u << 16)

typedef struct convert_job {
    qtf_dtype type;
    const float *f32;
    void *other;                /* encoded side */
    const void *other_const;
    float *out;
    uint64_t cols;
} convert_job;

static qtf_status encode_range(void *ctx, uint64_t begin, uint64_t end) {
    const convert_job *j = ctx;
    unsigned char *d = j->other;
    return qtf_convert_from_f32(d + begin * qtf_dtype_size(j->type), j->type, j->f32 + begin,
                                end - begin);
}

static qtf_status decode_range(void *ctx, uint64_t begin, uint64_t end) {
    const convert_job *j = ctx;
    const unsigned char *s = j->other_const;
    return qtf_convert_to_f32(j->out + begin, s + begin * qtf_dtype_size(j->type), j->type,
                              end - begin);
}

/* f32 -> an integer type, exact or refused. The bounds are powers of two,
 * exactly representable in f32, and NaN fails every comparison. */
#define ENCODE_INT(ctype, lo, hi)                                                          \
    for (; i < end; i++) {                                                                 \
        float x = j->f32[i];                                                               \
        if (!(x >= (lo) && x < (hi)) || (float)(ctype)x != x) goto bad;                    \
        ctype v = (ctype)x;                                                                \
        memcpy(d + i * sizeof v, &v, sizeof v);                                            \
    }                                                                                      \
    break

/* Smallest code whose value is >= |x| among the non-negative finite codes,
 * which increase with the value (sign-magnitude formats). */
static int f8_encode_exact(uint8_t *out, float x, const float table[256], unsigned max_finite) {
    float a = fabsf(x);
    if (isnan(x)) {
        *out = (uint8_t)((signbit(x) ? 0x80 : 0) | (max_finite == 0x7e ? 0x7f : 0x7e));
        return 1;
    }
    unsigned lo = 0, hi = max_finite;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (table[mid] < a) lo = mid + 1;
        else hi = mid;
    }
    if (table[lo] != a) {
        if (isinf(x) && max_finite == 0x7b) {   /* E5M2 has infinities */
            *out = (uint8_t)((signbit(x) ? 0x80 : 0) | 0x7c);
            return 1;
        }
        return 0;
    }
    *out = (uint8_t)((signbit(x) ? 0x80 : 0) | lo);
    return 1;
}

static qtf_status encode_raw_range(void *ctx, uint64_t begin, uint64_t end) {
    const convert_job *j = ctx;
    unsigned char *d = j->other;
    uint64_t i = begin;
    switch (j->type) {
    case QTF_DTYPE_F64:
        for (; i < end; i++) {
            double v = j->f32[i];
            memcpy(d + i * 8, &v, 8);
        }
        break;
    case QTF_DTYPE_I8: ENCODE_INT(int8_t, -0x1p7f, 0x1p7f);
    case QTF_DTYPE_U8: ENCODE_INT(uint8_t, 0.0f, 0x1p8f);
    case QTF_DTYPE_I16: ENCODE_INT(int16_t, -0x1p15f, 0x1p15f);
    case QTF_DTYPE_U16: ENCODE_INT(uint16_t, 0.0f, 0x1p16f);
    case QTF_DTYPE_I32: ENCODE_INT(int32_t, -0x1p31f, 0x1p31f);
    case QTF_DTYPE_U32: ENCODE_INT(uint32_t, 0.0f, 0x1p32f);
    case QTF_DTYPE_I64: ENCODE_INT(int64_t, -0x1p63f, 0x1p63f);
    case QTF_DTYPE_U64: ENCODE_INT(uint64_t, 0.0f, 0x1p64f);
    case QTF_DTYPE_BOOL:
        for (; i < end; i++) {
            float x = j->f32[i];
            if (x != 0.0f && x != 1.0f) goto bad;
            d[i] = x == 1.0f;
        }
        break;
    case QTF_DTYPE_F8_E4M3: case QTF_DTYPE_F8_E5M2: {
        float table[256];
        f8_table(table, j->type);
        unsigned max_finite = j->type == QTF_DTYPE_F8_E4M3 ? 0x7e : 0x7b;
        for (; i < end; i++)
            if (!f8_encode_exact(&d[i], j->f32[i], table, max_finite)) goto bad;
        break;
    }
    default:
        return qtf__error(QTF_E_ENCODING, "raw: element type %s is not supported",
                          qtf_dtype_name(j->type));
    }
    return QTF_OK;
bad:
    return qtf__error(QTF_E_VALUE,
                      "raw %s: element %llu (row %llu, column %llu) is %.9g, which %s "
                      "cannot represent exactly", qtf_dtype_name(j->type),
                      (unsigned long long)i, (unsigned long long)(i / j->cols),
                      (unsigned long long)(i % j->cols), (double)j->f32[i],
                      qtf_dtype_name(j->type));
}

qtf_status qtf__float_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                               uint64_t cols, const float *importance, unsigned threads,
                               void *const *parts) {
    (void)importance; /* lossless or round-to-nearest: nothing to weigh */
    convert_job j = { .type = data_type(e), .f32 = src, .other = parts[0], .cols = cols };
    uint64_t n = rows * cols;
    return qtf__parallel_for(n, MIN_CHUNK, threads,
                             e->id == QTF_ENC_RAW ? encode_raw_range : encode_range, &j);
}

qtf_status qtf__float_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                                 uint64_t cols, const void *const *parts, unsigned threads) {
    convert_job j = { .type = data_type(e), .other_const = parts[0], .out = dst, .cols = cols };
    return qtf__parallel_for(rows * cols, MIN_CHUNK, threads, decode_range, &j);
}
