/* The ggml block types q5_0, q5_1, iq4_nl, iq4_xs, ggml_mxfp4 and the
 * importance-weighted paths of q4_0/q4_1 (format/ggml_legacy.c,
 * format/ggml_iq4.c), through the public encoding table (qtf_quantize with
 * the text encoding). Expected bytes are worked out by hand from ggml's
 * algorithms (spec/encodings/ggml.md), not by running the code under test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/gguf.h"
#include "checkpoint/source.h"
#include "common/common.h"
#include "format/encodings.h"
#include "format/ggml_legacy.h"
#include "format/stream.h"
#include "qtf.h"
#include "support/container.h"
#include "support/encoding.h"
#include "support/rng.h"
#include "support/files.h"
#include "support/gguf.h"

/* Quantizes rows x cols with the text encoding; returns the BLOCKS part. */
static qtf_encoded *quant(const char *text, const float *x, uint64_t rows, uint64_t cols,
                          const float *imp, unsigned threads) {
    qtf_encoding e = ts_parse(text);
    uint64_t dims[2] = { rows, cols };
    qtf_quantize_options o = QTF_QUANTIZE_OPTIONS_INIT;
    o.importance = imp;
    o.threads = threads;
    qtf_encoded *q = NULL;
    qtf_status st = qtf_quantize(&q, &e, x, 2, dims, &o);
    cr_assert_eq(st, QTF_OK, "%s: %s", text, qtf_error_detail());
    cr_assert_eq(q->n_parts, 1, "%s", text);
    cr_assert_eq(q->layout[0].role, QTF_ROLE_BLOCKS, "%s", text);
    return q;
}

static float *dequant(const char *text, const qtf_encoded *q, uint64_t rows, uint64_t cols) {
    qtf_encoding e = ts_parse(text);
    uint64_t dims[2] = { rows, cols };
    qtf_part_view v[QTF_MAX_PARTS];
    uint32_t n = qtf_encoded_views(v, q);
    float *y = malloc(rows * cols * sizeof *y);
    cr_assert_eq(qtf_dequantize(y, QTF_DTYPE_F32, rows * cols, &e, 2, dims, v, n, 1), QTF_OK,
                 "%s: %s", text, qtf_error_detail());
    return y;
}

static const unsigned char *bytes_of(const qtf_encoded *q) { return q->data[0]; }

/* ---- hand-checked blocks ------------------------------------------------ */

Test(q5, ramp_maps_to_every_code) {
    /* x_j = j/4 - 4: the extreme is x_0 = -4, so Q5_0 d = -4/-16 = 0.25 and
     * q = trunc(x*4 + 16.5) = j; Q5_1 d = (3.75+4)/31 = 0.25, m = -4 and
     * q = trunc((x+4)*4 + 0.5) = j. Nibbles: qs[j] = j | j<<4 (j < 16);
     * bit 4 is set exactly for the elements 16..31: qh = 0xFFFF0000. */
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)j / 4.0f - 4.0f;
    qtf_encoded *a = quant("q5_0", x, 1, 32, NULL, 1);
    qtf_encoded *b = quant("q5_1", x, 1, 32, NULL, 1);
    cr_assert_eq(a->layout[0].size, 22);
    cr_assert_eq(b->layout[0].size, 24);
    const unsigned char *p = bytes_of(a), *r = bytes_of(b);
    cr_assert_eq(qtf__ld16(p), 0x3400);     /* 0.25 */
    cr_assert_eq(qtf__ld32(p + 2), 0xFFFF0000u);
    cr_assert_eq(qtf__ld16(r), 0x3400);
    cr_assert_eq(qtf__ld16(r + 2), 0xC400); /* -4.0 */
    cr_assert_eq(qtf__ld32(r + 4), 0xFFFF0000u);
    for (int j = 0; j < 16; j++) {
        cr_assert_eq(p[6 + j], (unsigned char)(j | j << 4), "q5_0 qs[%d]", j);
        cr_assert_eq(r[8 + j], (unsigned char)(j | j << 4), "q5_1 qs[%d]", j);
    }
    /* d and m are exact in f16, so both decode to x exactly. */
    float *ya = dequant("q5_0", a, 1, 32), *yb = dequant("q5_1", b, 1, 32);
    cr_assert_eq(memcmp(ya, x, sizeof x), 0);
    cr_assert_eq(memcmp(yb, x, sizeof x), 0);
    free(ya);
    free(yb);
    qtf_encoded_free(a);
    qtf_encoded_free(b);
}

Test(q5, zeros_and_single_outlier) {
    float z[32] = { 0 };
    /* Q5_0 zeros: d = 0 / -16 = -0.0 (0x8000), id = 0, q = trunc(16.5) = 16:
     * nibbles 0, every qh bit set. Q5_1 zeros: d = 0, m = 0,
     * q = trunc(0.5) = 0: all bytes 0. */
    qtf_encoded *a = quant("q5_0", z, 1, 32, NULL, 1);
    qtf_encoded *b = quant("q5_1", z, 1, 32, NULL, 1);
    cr_assert_eq(qtf__ld16(bytes_of(a)), 0x8000);
    cr_assert_eq(qtf__ld32(bytes_of(a) + 2), 0xFFFFFFFFu);
    for (int j = 0; j < 16; j++) cr_assert_eq(bytes_of(a)[6 + j], 0);
    for (int j = 0; j < 24; j++) cr_assert_eq(bytes_of(b)[j], 0);
    qtf_encoded_free(a);
    qtf_encoded_free(b);

    /* x_5 = 2, others 0. Q5_0: d = 2/-16 = -0.125 (0xB000), id = -8:
     * x_5 -> trunc(-16 + 16.5) = 0, the zeros -> 16. Q5_1: d = 2/31
     * (f16 0x2C21), m = 0: x_5 -> trunc(2 * (1/d) + 0.5) = 31, zeros -> 0. */
    float x[32] = { 0 };
    x[5] = 2.0f;
    a = quant("q5_0", x, 1, 32, NULL, 1);
    b = quant("q5_1", x, 1, 32, NULL, 1);
    const unsigned char *p = bytes_of(a), *r = bytes_of(b);
    cr_assert_eq(qtf__ld16(p), 0xB000);
    cr_assert_eq(qtf__ld32(p + 2), 0xFFFFFFFFu & ~(1u << 5));
    for (int j = 0; j < 16; j++) cr_assert_eq(p[6 + j], 0);
    cr_assert_eq(qtf__ld16(r), 0x2C21);
    cr_assert_eq(qtf__ld16(r + 2), 0);
    cr_assert_eq(qtf__ld32(r + 4), 1u << 5);
    for (int j = 0; j < 16; j++) cr_assert_eq(r[8 + j], j == 5 ? 0x0F : 0, "qs[%d]", j);
    float *y = dequant("q5_0", a, 1, 32);
    cr_assert_eq(y[5], 2.0f);
    cr_assert_eq(y[0], 0.0f);
    free(y);
    qtf_encoded_free(a);
    qtf_encoded_free(b);
}

Test(iq4_nl, constants_zeros_and_outlier) {
    /* 32 x 1.0: first d = 1/127 puts every element on the top level 113;
     * the least-squares scale is 1/113 (f16 0x2088). The 15 trials hit the
     * level -127 and give the same (sum w q x)^2 / sum w q^2 = 32, which does
     * not replace it (strictly greater wins). Indices 15: qs = 0xFF. */
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = 1.0f;
    qtf_encoded *q = quant("iq4_nl", x, 1, 32, NULL, 1);
    cr_assert_eq(q->layout[0].size, 18);
    cr_assert_eq(qtf__ld16(bytes_of(q)), 0x2088);
    for (int j = 0; j < 16; j++) cr_assert_eq(bytes_of(q)[2 + j], 0xFF);
    float *y = dequant("iq4_nl", q, 1, 32);
    /* 113 * f16(1/113) = 113 * 0.008850097... = 1.00006103515625 */
    cr_assert_eq(y[7], 1.00006103515625f);
    free(y);
    qtf_encoded_free(q);

    /* zeros: d = 0, id = 0, every element takes the level nearest 0 (1,
     * index 8): qs = 0x88. */
    memset(x, 0, sizeof x);
    q = quant("iq4_nl", x, 1, 32, NULL, 1);
    cr_assert_eq(qtf__ld16(bytes_of(q)), 0);
    for (int j = 0; j < 16; j++) cr_assert_eq(bytes_of(q)[2 + j], 0x88);
    qtf_encoded_free(q);

    /* x_5 = 2: weights x^2 leave only element 5. First fit: level 113,
     * d = 904/51076 = 2/113 (f16 0x2488); the trials give level -127 with the
     * same ratio 16 (exactly, in f32), so 2/113 stays. Element 5 -> index 15,
     * the zeros -> index 8. */
    x[5] = 2.0f;
    q = quant("iq4_nl", x, 1, 32, NULL, 1);
    cr_assert_eq(qtf__ld16(bytes_of(q)), 0x2488);
    for (int j = 0; j < 16; j++)
        cr_assert_eq(bytes_of(q)[2 + j], j == 5 ? 0x8F : 0x88, "qs[%d]", j);
    qtf_encoded_free(q);
}

Test(iq4_xs, constants_and_zeros) {
    /* 256 x 1.0: every block fits 1/113 as in IQ4_NL; d = -(1/113)/32
     * (f16 0x8C88), id*scale = -32 -> l = -32, stored l + 32 = 0 (scales all
     * 0); the block scale d * -32 = 1/113 exactly, indices 15. */
    float x[256];
    for (int j = 0; j < 256; j++) x[j] = 1.0f;
    qtf_encoded *q = quant("iq4_xs", x, 1, 256, NULL, 1);
    cr_assert_eq(q->layout[0].size, 136);
    const unsigned char *p = bytes_of(q);
    cr_assert_eq(qtf__ld16(p), 0x8C88);
    cr_assert_eq(qtf__ld16(p + 2), 0);
    cr_assert_eq(qtf__ld32(p + 4), 0);
    for (int j = 0; j < 128; j++) cr_assert_eq(p[8 + j], 0xFF);
    float *y = dequant("iq4_xs", q, 1, 256);
    /* dl = f16(-1/3616) * -32, times 113 */
    const float d = qtf_f16_to_f32(0x8C88);
    cr_assert_eq(y[255], d * -32.0f * 113.0f);
    free(y);
    qtf_encoded_free(q);

    /* zeros: max scale 0 -> d = -0/32 = -0.0 (0x8000); l = 0 -> stored 32:
     * low nibbles 0, high bits 2 per block (scales_h = 0xAAAA); indices 8. */
    memset(x, 0, sizeof x);
    q = quant("iq4_xs", x, 1, 256, NULL, 1);
    p = bytes_of(q);
    cr_assert_eq(qtf__ld16(p), 0x8000);
    cr_assert_eq(qtf__ld16(p + 2), 0xAAAA);
    cr_assert_eq(qtf__ld32(p + 4), 0);
    for (int j = 0; j < 128; j++) cr_assert_eq(p[8 + j], 0x88);
    y = dequant("iq4_xs", q, 1, 256);
    for (int j = 0; j < 256; j++) cr_assert_eq(y[j], 0.0f);
    free(y);
    qtf_encoded_free(q);
}

Test(ggml_mxfp4, ggml_layout_and_rounding) {
    /* amax 6 -> e = floor(log2 6) - 2 + 127 = 127; d = 2^(127-128) = 0.5;
     * values k * 0.5 for kvalues k = 0 1 2 3 4 6 8 12. x = 6 -> 12 (code 7),
     * 0.75 is halfway between 0.5 (code 1) and 1.0 (code 2): the first of
     * equal errors wins (code 1); -0.1 is nearest +0 (code 0, not 8). */
    float x[32] = { 6.0f, 0.75f, -0.1f, -6.0f };
    qtf_encoded *q = quant("ggml_mxfp4", x, 1, 32, NULL, 1);
    cr_assert_eq(q->layout[0].size, 17);
    const unsigned char *p = bytes_of(q);
    cr_assert_eq(p[0], 127);
    cr_assert_eq(p[1], 0x07);
    cr_assert_eq(p[2], 0x01);
    cr_assert_eq(p[3], 0x00);
    cr_assert_eq(p[4], 0x0F); /* -6 -> -12 * 0.5: code 15 */
    float *y = dequant("ggml_mxfp4", q, 1, 32);
    cr_assert_eq(y[0], 6.0f);
    cr_assert_eq(y[1], 0.5f);
    cr_assert_eq(y[3], -6.0f);
    free(y);
    qtf_encoded_free(q);
}

Test(q4_weighted, constant_block_with_importance) {
    /* 32 x 1.0 with importance 1: every weight is sqrt(1 + 1); the fit
     * starts at l = -8 (iscale -8) and no trial beats it, scale =
     * sum(w * -8) / sum(w * 64) = -1/8 exactly (the two sums are the same
     * accumulation scaled by -8). Q4_0: d = -0.125 (0xB000), codes 0. */
    float x[32], imp[32];
    for (int j = 0; j < 32; j++) {
        x[j] = 1.0f;
        imp[j] = 1.0f;
    }
    qtf_encoded *q = quant("q4_0", x, 1, 32, imp, 1);
    cr_assert_eq(qtf__ld16(bytes_of(q)), 0xB000);
    for (int j = 0; j < 16; j++) cr_assert_eq(bytes_of(q)[2 + j], 0);
    qtf_encoded_free(q);
}

/* ---- importance: which types use it -------------------------------------- */

/* 1 if `text` quantizes x to the same blocks with (imp_a, threads_a) as
 * with (imp_b, threads_b). */
static int same_blocks(const char *text, const float *x, uint64_t rows, uint64_t cols,
                       const float *imp_a, unsigned threads_a, const float *imp_b,
                       unsigned threads_b) {
    qtf_encoded *a = quant(text, x, rows, cols, imp_a, threads_a);
    qtf_encoded *b = quant(text, x, rows, cols, imp_b, threads_b);
    int same = memcmp(a->data[0], b->data[0], a->layout[0].size) == 0;
    qtf_encoded_free(a);
    qtf_encoded_free(b);
    return same;
}

Test(importance, changes_the_weighted_types_only) {
    const uint64_t rows = 8, cols = 256;
    float *x = t4_like(rows * cols, 5);
    float imp[256];
    for (int j = 0; j < 256; j++) imp[j] = (float)((j * 37) % 11) + 0.01f;
    const char *weighted[] = { "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl", "iq4_xs" };
    for (size_t i = 0; i < sizeof weighted / sizeof weighted[0]; i++)
        cr_assert(!same_blocks(weighted[i], x, rows, cols, NULL, 1, imp, 1), "%s", weighted[i]);
    const char *ignoring[] = { "q8_0", "ggml_mxfp4" };
    for (size_t i = 0; i < 2; i++)
        cr_assert(same_blocks(ignoring[i], x, rows, cols, NULL, 1, imp, 1), "%s", ignoring[i]);
    free(x);
}

Test(threads, bytes_do_not_depend_on_the_thread_count) {
    const uint64_t rows = 64, cols = 512;
    float *x = t4_like(rows * cols, 9);
    float imp[512];
    for (int j = 0; j < 512; j++) imp[j] = 1.0f + (float)(j % 7);
    const char *types[] = { "q5_0", "q5_1", "iq4_nl", "iq4_xs", "q4_1", "ggml_mxfp4" };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        cr_assert(same_blocks(types[i], x, rows, cols, imp, 1, imp, 3), "%s", types[i]);
    free(x);
}

/* ---- registration --------------------------------------------------------- */

Test(registration, ids_sizes_and_refused_rows) {
    struct { const char *name; qtf_encoding_id id; unsigned bits, block, bytes; } t[] = {
        { "q5_0", QTF_ENC_Q5_0, 5, 32, 22 },       { "q5_1", QTF_ENC_Q5_1, 5, 32, 24 },
        { "iq4_nl", QTF_ENC_IQ4_NL, 4, 32, 18 },   { "iq4_xs", QTF_ENC_IQ4_XS, 4, 256, 136 },
        { "ggml_mxfp4", QTF_ENC_GGML_MXFP4, 4, 32, 17 },
        { "q2_k", QTF_ENC_Q2_K, 2, 256, 84 },      { "q3_k", QTF_ENC_Q3_K, 3, 256, 110 },
        { "q4_k", QTF_ENC_Q4_K, 4, 256, 144 },     { "q5_k", QTF_ENC_Q5_K, 5, 256, 176 },
        { "q6_k", QTF_ENC_Q6_K, 6, 256, 210 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        qtf_encoding e = ts_parse(t[i].name);
        cr_assert_eq(e.id, t[i].id, "%s", t[i].name);
        cr_assert_eq(e.bits, t[i].bits, "%s", t[i].name);
        cr_assert_eq(e.group, t[i].block, "%s", t[i].name);
        cr_assert_eq(e.scale_type, t[i].id == QTF_ENC_GGML_MXFP4 ? QTF_DTYPE_E8M0 : QTF_DTYPE_F16,
                     "%s", t[i].name);
        char text[64];
        cr_assert_eq(qtf_encoding_format(text, sizeof text, &e), QTF_OK);
        cr_assert_str_eq(text, t[i].name);
        qtf_part_layout l[QTF_MAX_PARTS];
        uint32_t n;
        uint64_t dims[2] = { 3, 512 };
        cr_assert_eq(qtf_encoding_layout(l, &n, &e, 2, dims), QTF_OK);
        cr_assert_eq(n, 1);
        cr_assert_eq(l[0].size, 3 * 512 / t[i].block * t[i].bytes, "%s", t[i].name);
        /* A row that is not whole blocks is refused (qtf-convert's
         * --fallback applies to it). */
        uint64_t bad[2] = { 3, t[i].block + 16 };
        cr_assert_eq(qtf_encoding_layout(l, &n, &e, 2, bad), QTF_E_SHAPE, "%s", t[i].name);
        cr_assert(strstr(qtf_error_detail(), "multiple"), "%s", qtf_error_detail());
        /* options other than zstd do not apply */
        char with[64];
        snprintf(with, sizeof with, "%s:group=64", t[i].name);
        cr_assert_eq(qtf_encoding_parse(&e, with), QTF_E_PARSE, "%s", with);
    }
}

Test(nonfinite, refused_naming_the_element) {
    float x[64] = { 0 };
    x[40] = NAN;
    qtf_encoding e = ts_parse("iq4_nl");
    uint64_t dims[2] = { 2, 32 };
    qtf_encoded *q = NULL;
    cr_assert_eq(qtf_quantize(&q, &e, x, 2, dims, NULL), QTF_E_NUMERIC);
    cr_assert_null(q);
}

/* ---- real llama.cpp output (../shared/gguf), read with the GGUF reader ---- */

/* The QTF text encoding of a ggml type id, NULL for the types not stored as
 * ggml blocks (F32, F16 here). */
static const char *encoding_of_ggml_type(uint32_t t) {
    switch (t) {
    case QTF_GGML_Q4_0: return "q4_0";
    case QTF_GGML_Q4_1: return "q4_1";
    case QTF_GGML_Q5_0: return "q5_0";
    case QTF_GGML_Q5_1: return "q5_1";
    case QTF_GGML_Q8_0: return "q8_0";
    case QTF_GGML_Q2_K: return "q2_k";
    case QTF_GGML_Q3_K: return "q3_k";
    case QTF_GGML_Q4_K: return "q4_k";
    case QTF_GGML_Q5_K: return "q5_k";
    case QTF_GGML_Q6_K: return "q6_k";
    case QTF_GGML_IQ4_NL: return "iq4_nl";
    case QTF_GGML_IQ4_XS: return "iq4_xs";
    case QTF_GGML_MXFP4: return "ggml_mxfp4";
    default: return NULL;
    }
}

/* ../shared/gguf/FOLDER/FILE, which must open; skips the test visibly
 * when ../shared is absent. */
static qtf_gguf *open_or_skip(const char *folder, const char *file) {
    char rel[512];
    snprintf(rel, sizeof rel, "gguf/%s/%s", folder, file);
    TS_NEED(path, rel);
    return gt_open(path);
}


typedef struct fixture_counts {
    int quantized, weighted, dequantized;
} fixture_counts;

/* Every ggml-block tensor of folder/file.gguf: quantizing the f32 model's
 * tensor (already in ggml's Q/K row order) through qtf_quantize gives the
 * file's bytes (with the importance of imatrix.gguf when the file name says
 * imatrix); dequantizing the file's blocks through qtf_dequantize gives the
 * .ref.safetensors values bit for bit, where that file exists. */
static fixture_counts check_fixture(const char *folder, const char *file) {
    fixture_counts n = { 0, 0, 0 };
    char name[256], rel[512];
    qtf_gguf *src = open_or_skip(folder, "model-f32.gguf");
    qtf_gguf *im = open_or_skip(folder, "imatrix.gguf");
    snprintf(name, sizeof name, "%s.gguf", file);
    qtf_gguf *g = open_or_skip(folder, name);
    qtf_source *ref = NULL;
    snprintf(rel, sizeof rel, "gguf/%s/%s.ref.safetensors", folder, file);
    const char *ref_path = ts_shared(rel);
    if (ref_path) cr_assert_eq(qtf_source_open(&ref, ref_path), QTF_OK, "%s", qtf_error_detail());
    const int use_imatrix = strstr(file, "imatrix") != NULL;
    for (uint64_t ti = 0; ti < qtf_gguf_tensor_count(g); ti++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, ti);
        const char *text = encoding_of_ggml_type(t->type);
        if (!text) continue;
        const void *xs, *want;
        uint64_t size;
        cr_assert_eq(qtf_gguf_tensor_data(&want, &size, g, ti), QTF_OK, "%s", t->name);
        const qtf_gguf_tensor *s = gt_tensor(&xs, src, t->name);
        cr_assert(s && s->type == QTF_GGML_F32 && s->n_dims == 2 && t->n_dims == 2 &&
                      s->ne[0] == t->ne[0] && s->ne[1] == t->ne[1],
                  "%s/model-f32.gguf lacks %s as 2-D f32 of the same shape", folder, t->name);
        const uint64_t cols = t->ne[0], rows = t->ne[1];
        float *x = malloc(rows * cols * sizeof *x); /* aligned copy */
        memcpy(x, xs, rows * cols * sizeof *x);
        float *w = use_imatrix ? gt_importance(im, t->name, cols) : NULL;
        qtf_encoded *q = quant(text, x, rows, cols, w, 2);
        cr_assert_eq(q->layout[0].size, size, "%s: %s size", file, t->name);
        cr_assert(memcmp(q->data[0], want, size) == 0,
                  "%s/%s: %s (%s%s) differs from llama-quantize's blocks", folder, file,
                  t->name, text, w ? ", importance" : "");
        n.quantized++;
        n.weighted += w != NULL;
        if (ref) {
            /* dequantize the fixture's own blocks (identical to q by now) */
            memcpy(q->data[0], want, size);
            float *y = dequant(text, q, rows, cols), *r = malloc(rows * cols * sizeof *r);
            uint64_t idx;
            cr_assert_eq(qtf_source_tensor_find(&idx, ref, t->name), QTF_OK, "%s", t->name);
            cr_assert_eq(qtf_source_read_f32(r, rows * cols, ref, idx, 1), QTF_OK, "%s",
                         qtf_error_detail());
            cr_assert(memcmp(y, r, rows * cols * sizeof *y) == 0,
                      "%s/%s: %s (%s) dequantizes differently from ggml", folder, file,
                      t->name, text);
            n.dequantized++;
            free(y);
            free(r);
        }
        qtf_encoded_free(q);
        free(w);
        free(x);
    }
    if (ref) qtf_source_close(ref);
    qtf_gguf_close(g);
    qtf_gguf_close(im);
    qtf_gguf_close(src);
    return n;
}

/* aidreams-260k: 25 matrices per file (ffn_down stays F16); the K-quant and
 * IQ4_XS files fell back to 32-element types (64-wide rows). */
Test(fixtures, aidreams_260k_quantize_and_dequantize_like_llama_cpp) {
    static const struct { const char *file; int has_ref; } files[] = {
        { "model-Q8_0", 1 }, { "model-Q4_0", 1 }, { "model-Q4_1", 1 }, { "model-Q5_0", 1 },
        { "model-Q5_1", 1 }, { "model-IQ4_NL", 1 }, { "model-MXFP4_MOE", 1 },
        { "model-IQ4_NL-imatrix", 1 }, { "model-Q4_K_M-imatrix", 1 }, { "model-Q2_K", 0 },
        { "model-Q3_K_M", 0 }, { "model-Q4_K_M", 0 }, { "model-Q5_K_M", 0 },
        { "model-Q6_K", 0 }, { "model-IQ4_XS", 0 },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        fixture_counts n = check_fixture("aidreams-260k", files[i].file);
        cr_assert_eq(n.quantized, 25, "%s: %d ggml tensors", files[i].file, n.quantized);
        cr_assert_eq(n.dequantized, files[i].has_ref ? 25 : 0, "%s", files[i].file);
        if (strstr(files[i].file, "imatrix"))
            cr_assert_eq(n.weighted, 24, "%s: all but token_embd weighted", files[i].file);
    }
}

/* synth: 8 matrices per file, rows of 256/512, every type applies as named. */
Test(fixtures, synth_quantize_and_dequantize_like_llama_cpp) {
    static const char *const files[] = {
        "model-Q8_0", "model-Q4_0", "model-Q4_1", "model-Q5_0", "model-Q5_1",
        "model-IQ4_NL", "model-IQ4_XS", "model-MXFP4_MOE", "model-IQ4_NL-imatrix",
        "model-Q2_K", "model-Q3_K_M", "model-Q4_K_M", "model-Q5_K_M", "model-Q6_K",
        "model-Q4_K_M-mix", "model-Q4_K_M-imatrix",
    };
    int weighted = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        fixture_counts n = check_fixture("synth", files[i]);
        cr_assert_eq(n.quantized, 8, "%s: %d ggml tensors", files[i], n.quantized);
        weighted += n.weighted;
    }
    cr_assert_eq(weighted, 2 * 7, "IQ4_NL-imatrix and Q4_K_M-imatrix: 7 weighted each");
}

Test(dequantize, f16_and_bf16_are_the_f32_values_rounded) {
    const uint64_t rows = 4, cols = 256, n = rows * cols, dims[2] = { rows, cols };
    float *x = t4_like(n, 3);
    const char *types[] = { "q5_0", "q5_1", "iq4_nl", "iq4_xs", "ggml_mxfp4", "q4_k" };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        qtf_encoded *q = quant(types[i], x, rows, cols, NULL, 1);
        float *y = dequant(types[i], q, rows, cols);
        qtf_encoding e = ts_parse(types[i]);
        qtf_part_view v[QTF_MAX_PARTS];
        uint32_t nv = qtf_encoded_views(v, q);
        uint16_t *h = malloc(n * 2), *b = malloc(n * 2);
        cr_assert_eq(qtf_dequantize(h, QTF_DTYPE_F16, n, &e, 2, dims, v, nv, 2), QTF_OK);
        cr_assert_eq(qtf_dequantize(b, QTF_DTYPE_BF16, n, &e, 2, dims, v, nv, 2), QTF_OK);
        for (uint64_t k = 0; k < n; k++) {
            cr_assert_eq(h[k], qtf_f32_to_f16(y[k]), "%s f16 [%llu]", types[i],
                         (unsigned long long)k);
            cr_assert_eq(b[k], qtf_f32_to_bf16(y[k]), "%s bf16 [%llu]", types[i],
                         (unsigned long long)k);
        }
        free(h);
        free(b);
        free(y);
        qtf_encoded_free(q);
    }
    free(x);
}

/* The AVX2 dequantizers (picked at run time) and their portable forms give
 * the same bits, on random block bytes (every code, any f16 scale including
 * subnormals, Inf and NaN). */
Test(dequantize, avx2_and_portable_forms_agree) {
    static const struct {
        qtf_encoding_id id;
        void (*scalar)(const uint8_t *, float *, int64_t);
    } forms[] = {
        { QTF_ENC_Q8_0, qtf__ggml_q8_0_dequant_scalar },
        { QTF_ENC_Q5_0, qtf__ggml_q5_0_dequant_scalar },
        { QTF_ENC_Q5_1, qtf__ggml_q5_1_dequant_scalar },
        { QTF_ENC_IQ4_NL, qtf__ggml_iq4_nl_dequant_scalar },
        { QTF_ENC_IQ4_XS, qtf__ggml_iq4_xs_dequant_scalar },
        { QTF_ENC_GGML_MXFP4, qtf__ggml_mxfp4_dequant_scalar },
    };
    const int64_t n = 4096;
    uint8_t *blocks = malloc(n / 32 * 136);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    uint64_t s = 77;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        const qtf__ggml_type *t = qtf__ggml_type_of(forms[i].id);
        cr_assert_not_null(t);
        for (int64_t k = 0; k < n / t->block * t->bytes; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            blocks[k] = (uint8_t)(s >> 56);
        }
        t->dequantize_row(blocks, a, n);
        forms[i].scalar(blocks, b, n);
        cr_assert_eq(memcmp(a, b, n * sizeof *a), 0, "encoding id %u", (unsigned)forms[i].id);
    }
    free(blocks);
    free(a);
    free(b);
}

/* A destination of at least QTF__STREAM_MIN_BYTES is written through an L1
 * chunk buffer and streaming stores (format/stream.h): the values are those
 * of the row decoder, whatever the destination's alignment and the number
 * of threads. */
Test(dequantize, large_destination_streams_the_same_values) {
    const char *const *types = ts_ggml_block_types;
    const uint64_t rows = 1024, cols = 2048, n = rows * cols;
    cr_assert_geq(n * 4, QTF__STREAM_MIN_BYTES);
    float *x = t4_like(n, 21);
    float *want = malloc(n * sizeof *want), *base = malloc((n + 8) * sizeof *base);
    cr_assert(want && base);
    for (size_t i = 0; i < TS_GGML_BLOCK_TYPE_COUNT; i++) {
        qtf_encoding e = ts_parse(types[i]);
        const qtf__ggml_type *t = qtf__ggml_type_of(e.id);
        qtf_encoded *q = quant(types[i], x, rows, cols, NULL, 2);
        const uint64_t rb = cols / t->block * t->bytes;
        for (uint64_t r = 0; r < rows; r++)
            t->dequantize_row(bytes_of(q) + r * rb, want + r * cols, (int64_t)cols);
        qtf_part_view v[QTF_MAX_PARTS];
        uint32_t nv = qtf_encoded_views(v, q);
        const uint64_t dims[2] = { rows, cols };
        for (unsigned shift = 0; shift < 4; shift += 3) {   /* 16-byte aligned, then not */
            for (unsigned threads = 1; threads <= 2; threads++) {
                float *y = base + ((4 - ((uintptr_t)base & 15) / 4) & 3) + shift;
                memset(base, 0xff, (n + 8) * sizeof *base);
                cr_assert_eq(qtf_dequantize(y, QTF_DTYPE_F32, n, &e, 2, dims, v, nv, threads),
                             QTF_OK, "%s: %s", types[i], qtf_error_detail());
                cr_assert_eq(memcmp(y, want, n * sizeof *y), 0, "%s, shift %u, %u threads",
                             types[i], shift, threads);
            }
        }
        qtf_encoded_free(q);
    }
    free(x);
    free(want);
    free(base);
}

/* qtf__ggml_mxfp4_row picks an AVX2 form at run time: the same blocks as the
 * portable form on t4 data at scales from subnormal to large, on exact ties
 * between levels (multiples of d/2), signed zeros and all-zero blocks. */
Test(ggml_mxfp4, avx2_and_portable_quantizers_agree) {
    const int64_t n = 32 * 64;
    float *x = t4_like((uint64_t)n, 33);
    const float scales[] = { 1.0f, 0x1p-140f, 0x1p-126f, 0x1p-3f, 0x1p20f, 0x1p100f };
    uint8_t *a = malloc((size_t)n / 32 * 17), *b = malloc((size_t)n / 32 * 17);
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        float *y = malloc((size_t)n * sizeof *y);
        for (int64_t j = 0; j < n; j++) y[j] = x[j] * scales[s];
        for (int64_t j = 0; j < 32; j++) y[32 + j] = (float)(j - 16) * 0.25f * scales[s];
        for (int64_t j = 0; j < 32; j++) y[64 + j] = j % 2 ? -0.0f : 0.0f;
        y[96 + 5] = -0.0f;
        y[96 + 6] = 3.0f * scales[s];
        const qtf__ggml_type *t = qtf__ggml_type_of(QTF_ENC_GGML_MXFP4);
        t->quantize_row(y, a, n, NULL);
        qtf__ggml_mxfp4_row_scalar(y, b, n);
        cr_assert_eq(memcmp(a, b, (size_t)n / 32 * 17), 0, "scale %g", (double)scales[s]);
        free(y);
    }
    free(a);
    free(b);
    free(x);
}
