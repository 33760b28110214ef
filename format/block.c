/* format/block.c — the block family's entry points (family.h): part layouts of
 * INT NF4 FP4 MXFP4 Q8_0 Q4_0 Q4_1, argument checks, dispatch, and the helpers
 * every block encoding shares (scale storage, bit packing). The layouts are
 * normative in spec/encodings/block.md; keep the two in step. */
#if defined(__GNUC__) && !defined(__clang__)
/* The hot loops have run-time trip counts; -O2's "very cheap" vectorizer
 * cost model skips such loops, which costs 2-3x here. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include <float.h>
#include <math.h>
#include <string.h>

#include "block_family.h"
#include "encodings.h"

/* ---- scale storage --------------------------------------------------------- */

/* Stores v as t into slot i of part (if part is not NULL) and returns the
 * value a decoder reads back, tiny magnitudes flushed to zero. */
float qtf__block_settle_scale(void *part, uint64_t i, float v, qtf_dtype t) {
    return qtf__block_settle_inline(part, i, v, t);
}

float qtf__block_round_scale(float v, qtf_dtype t) {
    return qtf__block_settle_inline(NULL, 0, v, t);
}

void qtf__block_store_scale(void *part, uint64_t i, float v, qtf_dtype t) {
    unsigned char *p = part;
    if (t == QTF_DTYPE_F16) {
        qtf__st16(p + 2 * i, qtf_f32_to_f16(v));
    } else if (t == QTF_DTYPE_BF16) {
        qtf__st16(p + 2 * i, qtf_f32_to_bf16(v));
    } else {
        uint32_t u;
        memcpy(&u, &v, 4);
        qtf__st32(p + 4 * i, u);
    }
}

float qtf__block_load_scale(const void *part, uint64_t i, qtf_dtype t) {
    const unsigned char *p = part;
    if (t == QTF_DTYPE_F16) return qtf_f16_to_f32(qtf__ld16(p + 2 * i));
    if (t == QTF_DTYPE_BF16) return qtf_bf16_to_f32(qtf__ld16(p + 2 * i));
    uint32_t u = qtf__ld32(p + 4 * i);
    float v;
    memcpy(&v, &u, 4);
    return v;
}

void qtf__block_load_scales(float *dst, const void *part, uint64_t n, qtf_dtype t) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* the stored little-endian values are the host's: the vectorized bulk
     * conversion, with the same rules as qtf_f16_to_f32 / qtf_bf16_to_f32 */
    if (t == QTF_DTYPE_F16 || t == QTF_DTYPE_BF16 || t == QTF_DTYPE_F32) {
        if (qtf_convert_to_f32(dst, part, t, n) == QTF_OK) return;
    }
#endif
    for (uint64_t i = 0; i < n; i++) dst[i] = qtf__block_load_scale(part, i, t);
}

qtf_status qtf__block_check_underflow(const float *src, uint64_t rows, uint64_t cols,
                                      uint64_t group_len, qtf__group_scale_fn scale_of,
                                      const void *ctx, const char *type_name, const char *remedy) {
    const uint64_t per_row = group_len ? cols / group_len : 1;
    const uint64_t len = group_len ? group_len : rows * cols;
    const uint64_t n_groups = group_len ? rows * per_row : 1;
    double lost = 0.0;
    uint64_t n_lost = 0, first = 0;
    for (uint64_t g = 0; g < n_groups; g++) {
        float min = 0.0f;
        if (fabsf(scale_of(ctx, g, &min)) >= FLT_MIN) continue;
        /* Groups are contiguous: group g of row r starts at r*cols + k*len. */
        const float *x = src + g * len;
        double e = 0.0;
        for (uint64_t j = 0; j < len; j++) {
            double d = (double)x[j] - (double)min;
            e += d * d;
        }
        if (e > 0.0 && n_lost++ == 0) first = g;
        lost += e;
    }
    if (lost == 0.0) return QTF_OK;
    double total = 0.0;
    for (uint64_t i = 0; i < rows * cols; i++) total += (double)src[i] * src[i];
    if (!(lost > total * 0x1p-20)) return QTF_OK;
    return qtf__error(QTF_E_NUMERIC,
                      "the scale of %llu group(s) underflows %s (first: row %llu): stored as 0, "
                      "they decode to %s, a relative RMSE of %.3g; use %s",
                      (unsigned long long)n_lost, type_name,
                      (unsigned long long)(group_len ? first / per_row : 0),
                      "their minimum (0 if symmetric)", sqrt(lost / (total > 0 ? total : lost)), remedy);
}

uint64_t qtf__first_nonfinite(const float *x, uint64_t n) {
    /* Branch-free scan of the exponent bits first (it vectorizes); locate the
     * culprit only on failure. */
    uint32_t bad = 0;
    for (uint64_t j = 0; j < n; j++) bad |= (uint32_t)((qtf__f32_bits(x[j]) & 0x7f800000u) == 0x7f800000u);
    if (!bad) return n;
    uint64_t j = 0;
    while (isfinite(x[j])) j++;
    return j;
}

qtf_status qtf__block_check_finite(const float *row, uint64_t cols, uint64_t row_index) {
    uint64_t j = qtf__first_nonfinite(row, cols);
    if (j == cols) return QTF_OK;
    return qtf__error(QTF_E_NUMERIC,
                      "row %llu, column %llu: %s in the input; block encodings "
                      "quantize finite values only",
                      (unsigned long long)row_index, (unsigned long long)j,
                      isnan(row[j]) ? "NaN" : "Inf");
}

/* ---- bit packing --------------------------------------------------------- */

/* Widths that do not divide a byte (3, 5, 6, 7): eight codes fill exactly
 * `bits` bytes, so an octet of codes moves as one 64-bit word. Between the
 * packed form (codes at bit k * bits) and one code per byte (at bit 8 * k)
 * the codes are moved in three halving steps, each one shift and mask for
 * all the codes of that step: 4 + 4 codes between 32-bit halves, 2 + 2
 * within each half, 1 + 1 within each 16 bits. About 10 integer operations
 * per 8 codes, with no table (the 4- and 2-code tables they replace cost a
 * load per 2 codes and 58 KiB of cache). Always inlined with a constant
 * width, so that every shift and mask is a constant. */
#define BYTES_X8(b) (0x0101010101010101ull * (uint64_t)(b))

static QTF__ALWAYS_INLINE uint64_t spread_octet(uint64_t v, unsigned bits) {
    const unsigned half = 4 * bits, quarter = 2 * bits;
    uint64_t x = v & ((1ull << (8 * bits)) - 1);
    x = (x & ((1ull << half) - 1)) | ((x >> half) << 32);
    const uint64_t q = 0x0000000100000001ull * ((1ull << quarter) - 1);
    x = (x & q) | (((x >> quarter) & q) << 16);
    const uint64_t e = 0x0001000100010001ull * ((1ull << bits) - 1);
    return (x & e) | (((x >> bits) & e) << 8);
}

static QTF__ALWAYS_INLINE uint64_t gather_octet(uint64_t x, unsigned bits) {
    x &= BYTES_X8((1u << bits) - 1);
    x = (x & 0x00ff00ff00ff00ffull) | ((x & 0xff00ff00ff00ff00ull) >> (8 - bits));
    x = (x & 0x0000ffff0000ffffull) | ((x & 0xffff0000ffff0000ull) >> (16 - 2 * bits));
    return (x & 0xffffffffull) | ((x >> 32) << (4 * bits));
}

/* A final octet's word: only the bytes that exist are read or written (the
 * next row may belong to another thread). */
static inline uint64_t load_partial(const uint8_t *src, uint64_t nbytes) {
    uint64_t v = 0;
    for (uint64_t k = 0; k < nbytes; k++) v |= (uint64_t)src[k] << (8 * k);
    return v;
}

static inline void store_partial(uint8_t *dst, uint64_t v, uint64_t nbytes) {
    for (uint64_t k = 0; k < nbytes; k++) dst[k] = (uint8_t)(v >> (8 * k));
}

/* Full 8-byte loads and stores while they stay inside the row's `total`
 * bytes (a store's surplus bytes are rewritten by the next octet). */
static QTF__ALWAYS_INLINE void pack_octets(uint8_t *dst, const uint8_t *codes, uint64_t n,
                                           unsigned bits) {
    const uint64_t total = (n * bits + 7) / 8, octets = n / 8;
    uint64_t i = 0;
    for (; i < octets && i * bits + 8 <= total; i++)
        qtf__st64(dst + i * bits, gather_octet(qtf__ld64(codes + 8 * i), bits));
    for (; i < octets; i++)
        store_partial(dst + i * bits, gather_octet(qtf__ld64(codes + 8 * i), bits), bits);
    const uint64_t rest = n % 8;
    if (rest) {
        uint64_t word = load_partial(codes + 8 * i, rest);
        store_partial(dst + i * bits, gather_octet(word, bits), total - i * bits);
    }
}

static QTF__ALWAYS_INLINE void unpack_octets(uint8_t *codes, const uint8_t *src, uint64_t n,
                                             unsigned bits) {
    const uint64_t total = (n * bits + 7) / 8, octets = n / 8;
    uint64_t i = 0;
    for (; i < octets && i * bits + 8 <= total; i++)
        qtf__st64(codes + 8 * i, spread_octet(qtf__ld64(src + i * bits), bits));
    for (; i < octets; i++)
        qtf__st64(codes + 8 * i, spread_octet(load_partial(src + i * bits, bits), bits));
    const uint64_t rest = n % 8;
    if (rest) {
        uint64_t word = spread_octet(load_partial(src + i * bits, total - i * bits), bits);
        store_partial(codes + 8 * i, word, rest);
    }
}

QTF__HOT void qtf__block_pack(uint8_t *dst, const uint8_t *codes, uint64_t n, unsigned bits) {
    if (bits == 8) {
        memcpy(dst, codes, n);
        return;
    }
    if (bits == 4) {
        uint64_t pairs = n / 2;
        for (uint64_t i = 0; i < pairs; i++)
            dst[i] = (uint8_t)(codes[2 * i] | (codes[2 * i + 1] << 4));
        if (n & 1) dst[pairs] = codes[n - 1];
        return;
    }
    if (bits == 2) {
        uint64_t quads = n / 4, i = 0;
        for (; i < quads; i++)
            dst[i] = (uint8_t)(codes[4 * i] | (codes[4 * i + 1] << 2) | (codes[4 * i + 2] << 4) |
                               (codes[4 * i + 3] << 6));
        if (n % 4) {
            uint8_t b = 0;
            for (uint64_t k = 0; k < n % 4; k++) b |= (uint8_t)(codes[4 * i + k] << (2 * k));
            dst[i] = b;
        }
        return;
    }
    switch (bits) {
    case 3: pack_octets(dst, codes, n, 3); break;
    case 5: pack_octets(dst, codes, n, 5); break;
    case 6: pack_octets(dst, codes, n, 6); break;
    default: pack_octets(dst, codes, n, 7); break;
    }
}

QTF__HOT void qtf__block_unpack(uint8_t *codes, const uint8_t *src, uint64_t n, unsigned bits) {
    if (bits == 8) {
        memcpy(codes, src, n);
        return;
    }
    if (bits == 4) {
        uint64_t pairs = n / 2;
        for (uint64_t i = 0; i < pairs; i++) {
            codes[2 * i] = src[i] & 15;
            codes[2 * i + 1] = src[i] >> 4;
        }
        if (n & 1) codes[n - 1] = src[pairs] & 15;
        return;
    }
    if (bits == 2) {
        uint64_t quads = n / 4, i = 0;
        for (; i < quads; i++) {
            uint8_t b = src[i];
            codes[4 * i] = b & 3;
            codes[4 * i + 1] = (b >> 2) & 3;
            codes[4 * i + 2] = (b >> 4) & 3;
            codes[4 * i + 3] = (uint8_t)(b >> 6);
        }
        for (uint64_t k = 0; k < n % 4; k++) codes[4 * i + k] = (src[i] >> (2 * k)) & 3;
        return;
    }
    switch (bits) {
    case 3: unpack_octets(codes, src, n, 3); break;
    case 5: unpack_octets(codes, src, n, 5); break;
    case 6: unpack_octets(codes, src, n, 6); break;
    default: unpack_octets(codes, src, n, 7); break;
    }
}

qtf_dtype qtf__block_zeros_type(const qtf_encoding *e) {
    /* dq leaves no scale type; minimums are not double-quantized (an error
     * in a minimum shifts every element of its group), so they stay exact. */
    return e->dq ? QTF_DTYPE_F32 : e->scale_type;
}

uint64_t qtf__block_row_code_bytes(const qtf_encoding *e, uint64_t cols) {
    /* With zstd, one code per byte: zstd's Huffman stage then entropy-codes
     * the (heavily skewed) code distribution, which sub-byte packing hides. */
    if (e->zstd_level > 0) return cols;
    /* cols * bits cannot overflow: cols < 2^61 is checked by the caller. */
    return (cols * e->bits + 7) / 8;
}

/* ---- layout -------------------------------------------------------------- */

static int is_grouped(qtf_encoding_id id) {
    return id == QTF_ENC_INT || id == QTF_ENC_NF4 || id == QTF_ENC_FP4;
}

static int is_ggml(qtf_encoding_id id) {
    return qtf__ggml_type_of(id) != NULL;
}

static const char *enc_name(qtf_encoding_id id) {
    const qtf__encoding_row *row = qtf__encoding_row_of(id);
    return row ? row->name : "?";
}

/* Checks what the block family itself relies on, so that a direct caller
 * (tests) gets an error rather than undefined behaviour. */
static qtf_status check_encoding(const qtf_encoding *e) {
    if (is_grouped(e->id)) {
        unsigned want_bits = e->id == QTF_ENC_INT ? e->bits : 4;
        if (e->bits != want_bits || e->bits < 2 || e->bits > 8)
            return qtf__error(QTF_E_ENCODING, "%s: bits %u invalid (int: 2..8, nf4/fp4: 4)",
                              enc_name(e->id), e->bits);
        if (!e->dq && e->scale_type != QTF_DTYPE_F16 && e->scale_type != QTF_DTYPE_BF16 &&
            e->scale_type != QTF_DTYPE_F32)
            return qtf__error(QTF_E_ENCODING, "%s: scale type %s invalid (F16, BF16 or F32)",
                              enc_name(e->id), qtf_dtype_name(e->scale_type));
        if (e->asym && e->id != QTF_ENC_INT)
            return qtf__error(QTF_E_ENCODING, "%s: asym applies to int only", enc_name(e->id));
        return QTF_OK;
    }
    if (e->id == QTF_ENC_MXFP4 || is_ggml(e->id)) return QTF_OK;
    return qtf__error(QTF_E_ENCODING, "encoding id %u is not a block encoding", (unsigned)e->id);
}

/* Groups per row of a grouped encoding; QTF_E_SHAPE when the group does not
 * divide the row. A per-tensor group reports 1 (the caller special-cases). */
static qtf_status groups_per_row(uint64_t *out, const qtf_encoding *e, uint64_t cols) {
    if (cols == 0) {
        *out = 0;
        return QTF_OK;
    }
    if (e->group == QTF_GROUP_ROW || e->group == QTF_GROUP_TENSOR) {
        *out = 1;
        return QTF_OK;
    }
    if (cols % e->group != 0)
        return qtf__error(QTF_E_SHAPE,
                          "%s: row length %llu is not a multiple of the group size %u",
                          enc_name(e->id), (unsigned long long)cols, e->group);
    *out = cols / e->group;
    return QTF_OK;
}

qtf_status qtf__block_layout(qtf_part_layout *out, uint32_t *out_n, const qtf_encoding *e,
                             uint64_t rows, uint64_t cols) {
    qtf_status st = check_encoding(e);
    if (st != QTF_OK) return st;
    uint64_t n_el;
    if (!qtf__mul_u64(&n_el, rows, cols) || cols > (UINT64_MAX >> 4))
        return qtf__error(QTF_E_OVERFLOW, "%s: %llu x %llu elements overflow", enc_name(e->id),
                          (unsigned long long)rows, (unsigned long long)cols);
    uint32_t n = 0;

    if (is_ggml(e->id)) {
        const qtf__ggml_type *t = qtf__ggml_type_of(e->id);
        if (cols % t->block != 0)
            return qtf__error(QTF_E_SHAPE, "%s: row length %llu is not a multiple of %u",
                              t->name, (unsigned long long)cols, t->block);
        uint64_t size;
        if (!qtf__mul_u64(&size, n_el / t->block, t->bytes))
            return qtf__error(QTF_E_OVERFLOW, "%s: block bytes overflow", enc_name(e->id));
        out[n++] = (qtf_part_layout){ QTF_ROLE_BLOCKS, QTF_DTYPE_PACKED, size };
        *out_n = n;
        return QTF_OK;
    }

    uint64_t code_bytes;
    if (!qtf__mul_u64(&code_bytes, rows, qtf__block_row_code_bytes(e, cols)))
        return qtf__error(QTF_E_OVERFLOW, "%s: code bytes overflow", enc_name(e->id));
    qtf_dtype code_type = e->zstd_level > 0 ? QTF_DTYPE_U8 : QTF_DTYPE_PACKED;

    if (e->id == QTF_ENC_MXFP4) {
        if (cols % 32 != 0)
            return qtf__error(QTF_E_SHAPE, "mxfp4: row length %llu is not a multiple of 32",
                              (unsigned long long)cols);
        out[n++] = (qtf_part_layout){ QTF_ROLE_CODES, code_type, code_bytes };
        out[n++] = (qtf_part_layout){ QTF_ROLE_SCALES, QTF_DTYPE_E8M0, n_el / 32 };
        *out_n = n;
        return QTF_OK;
    }

    uint64_t gpr = 0, n_groups;
    st = groups_per_row(&gpr, e, cols);
    if (st != QTF_OK) return st;
    if (e->group == QTF_GROUP_TENSOR) n_groups = n_el ? 1 : 0;
    else n_groups = rows * gpr; /* <= n_el: cannot overflow */
    uint64_t ssize = e->dq ? 0 : qtf_dtype_size(e->scale_type);

    /* The dims may come from a hostile directory: every product is checked. */
    uint64_t scale_bytes, zero_bytes;
    qtf_dtype zt = qtf__block_zeros_type(e);
    if (!qtf__mul_u64(&scale_bytes, n_groups, ssize) ||
        !qtf__mul_u64(&zero_bytes, n_groups, qtf_dtype_size(zt)))
        return qtf__error(QTF_E_OVERFLOW, "%s: %llu group scales overflow", enc_name(e->id),
                          (unsigned long long)n_groups);
    out[n++] = (qtf_part_layout){ QTF_ROLE_CODES, code_type, code_bytes };
    if (e->dq) {
        uint64_t n_blocks = n_groups / QTF__DQ_BLOCK + (n_groups % QTF__DQ_BLOCK != 0);
        out[n++] = (qtf_part_layout){ QTF_ROLE_DQ_CODES, QTF_DTYPE_U8, n_groups };
        out[n++] = (qtf_part_layout){ QTF_ROLE_DQ_SCALES, QTF_DTYPE_F32, n_blocks * 4 };
        out[n++] = (qtf_part_layout){ QTF_ROLE_DQ_OFFSET, QTF_DTYPE_F32, 4 };
    } else {
        out[n++] = (qtf_part_layout){ QTF_ROLE_SCALES, e->scale_type, scale_bytes };
    }
    if (e->asym) out[n++] = (qtf_part_layout){ QTF_ROLE_ZEROS, zt, zero_bytes };
    *out_n = n;
    return QTF_OK;
}

/* ---- dispatch ------------------------------------------------------------ */

qtf_status qtf__block_quantize(const qtf_encoding *e, const float *src, uint64_t rows,
                               uint64_t cols, const float *importance, unsigned threads,
                               void *const *parts) {
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n_parts;
    qtf_status st = qtf__block_layout(layout, &n_parts, e, rows, cols);
    if (st != QTF_OK) return st;
    if (rows == 0 || cols == 0) {
        /* Empty tensor: only the dq offset part has bytes. */
        for (uint32_t i = 0; i < n_parts; i++)
            if (layout[i].size) memset(parts[i], 0, (size_t)layout[i].size);
        return QTF_OK;
    }
    if (is_ggml(e->id))
        return qtf__ggml_quantize(e, src, rows, cols, importance, threads, parts);
    if (e->id == QTF_ENC_MXFP4)
        return qtf__mx_quantize(e, src, rows, cols, importance, threads, parts);
    return qtf__grouped_quantize(e, src, rows, cols, importance, threads, parts);
}

qtf_status qtf__block_dequantize(float *dst, const qtf_encoding *e, uint64_t rows,
                                 uint64_t cols, const void *const *parts, unsigned threads) {
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n_parts;
    qtf_status st = qtf__block_layout(layout, &n_parts, e, rows, cols);
    if (st != QTF_OK) return st;
    if (rows == 0 || cols == 0) return QTF_OK;
    if (is_ggml(e->id)) return qtf__ggml_dequantize(dst, e, rows, cols, parts, threads);
    if (e->id == QTF_ENC_MXFP4) return qtf__mx_dequantize(dst, e, rows, cols, parts, threads);
    return qtf__grouped_dequantize(dst, e, rows, cols, parts, threads);
}
