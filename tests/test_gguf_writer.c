/* GGUF writer (checkpoint/gguf_writer.h), tokenizer -> tokenizer.ggml.*
 * (checkpoint/gguf_vocab.h) and the llama-quantize recipe
 * (convert/gguf_recipe.h): files read back with the GGUF reader, one file
 * compared byte by byte with a hand-assembled one, every refusal asserted
 * by status, tokenizers built from hand-made files and the real tokenizer
 * files in ../shared (skipped visibly without it), and the type choices
 * compared with llama-quantize's real Q4_K_M mixture. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/gguf.h"
#include "support/files.h"
#include "support/gguf.h"
#include "checkpoint/gguf_vocab.h"
#include "checkpoint/gguf_writer.h"
#include "convert/gguf_recipe.h"


TestSuite(gguf_writer, .fini = test_tmpdir_remove);

#define OK(expr) cr_assert_eq((expr), QTF_OK, "%s: %s", #expr, qtf_error_detail())

/* --- the writer -------------------------------------------------------------- */

/* One u32 key and one F32 [1] tensor, assembled by hand from the GGUF spec. */
Test(gguf_writer, bytes_match_hand_assembled_file) {
    const char *path = test_tmpdir_path("tiny.gguf");
    qtf_gguf_writer *w;
    OK(qtf_gguf_writer_create(&w, path, NULL));
    OK(qtf_gguf_writer_set_u32(w, "a.b", 7));
    uint64_t ne[1] = { 1 };
    OK(qtf_gguf_writer_declare(w, "t", QTF_GGML_F32, 1, ne));
    float one = 1.0f;
    OK(qtf_gguf_writer_write(w, &one, 4));
    OK(qtf_gguf_writer_finish(w));
    static const unsigned char expect[] = {
        'G', 'G', 'U', 'F', 3, 0, 0, 0,                     /* version 3 */
        1, 0, 0, 0, 0, 0, 0, 0,                             /* 1 tensor */
        1, 0, 0, 0, 0, 0, 0, 0,                             /* 1 key/value */
        3, 0, 0, 0, 0, 0, 0, 0, 'a', '.', 'b',              /* key "a.b" */
        4, 0, 0, 0, 7, 0, 0, 0,                             /* U32 7 */
        1, 0, 0, 0, 0, 0, 0, 0, 't',                        /* name "t" */
        1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,                 /* n_dims 1, ne[0] 1 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                 /* F32, offset 0 */
        0, 0, 0, 0,                                         /* pad 76 -> 96 ... */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x00, 0x00, 0x80, 0x3f,                             /* 1.0f at 96 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* pad to 128 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    };
    size_t len;
    unsigned char *got = tu_read(path, &len);
    cr_assert_eq(len, sizeof expect, "file is %zu bytes, expected %zu", len, sizeof expect);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(got[i], expect[i], "byte %zu: %02x, expected %02x", i, got[i], expect[i]);
    free(got);
}

/* Every value type, arrays of each, string arrays; tensors of three types
 * written in pieces; read back through the reader. */
Test(gguf_writer, all_value_types_round_trip) {
    const char *path = test_tmpdir_path("all.gguf");
    qtf_gguf_writer *w;
    OK(qtf_gguf_writer_create(&w, path, NULL));
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    uint32_t u32 = 4000000000u; int32_t i32 = -2000000000; float f32 = 0.1f; uint8_t b = 1;
    uint64_t u64 = 1ull << 60; int64_t i64 = -(1ll << 60); double f64 = 1e-300;
    OK(qtf_gguf_writer_set_value(w, "v.u8", QTF_TYPE_U8, &u8));
    OK(qtf_gguf_writer_set_value(w, "v.i8", QTF_TYPE_I8, &i8));
    OK(qtf_gguf_writer_set_value(w, "v.u16", QTF_TYPE_U16, &u16));
    OK(qtf_gguf_writer_set_value(w, "v.i16", QTF_TYPE_I16, &i16));
    OK(qtf_gguf_writer_set_value(w, "v.u32", QTF_TYPE_U32, &u32));
    OK(qtf_gguf_writer_set_value(w, "v.i32", QTF_TYPE_I32, &i32));
    OK(qtf_gguf_writer_set_value(w, "v.f32", QTF_TYPE_F32, &f32));
    OK(qtf_gguf_writer_set_value(w, "v.bool", QTF_TYPE_BOOL, &b));
    OK(qtf_gguf_writer_set_string(w, "v.str", "h\xc3\xa9", 3));
    OK(qtf_gguf_writer_set_value(w, "v.u64", QTF_TYPE_U64, &u64));
    OK(qtf_gguf_writer_set_value(w, "v.i64", QTF_TYPE_I64, &i64));
    OK(qtf_gguf_writer_set_value(w, "v.f64", QTF_TYPE_F64, &f64));
    int32_t ai[3] = { -1, 0, 7 };
    double ad[2] = { 0.5, -2.0 };
    uint8_t ab[3] = { 1, 0, 1 };
    OK(qtf_gguf_writer_set_array(w, "a.i32", QTF_TYPE_I32, ai, 3));
    OK(qtf_gguf_writer_set_array(w, "a.f64", QTF_TYPE_F64, ad, 2));
    OK(qtf_gguf_writer_set_array(w, "a.bool", QTF_TYPE_BOOL, ab, 3));
    OK(qtf_gguf_writer_set_array(w, "a.empty", QTF_TYPE_U16, NULL, 0));
    const char *strs[3] = { "x", "", "\xe2\x96\x81y" };
    uint64_t lens[3] = { 1, 0, 4 };
    OK(qtf_gguf_writer_set_string_array(w, "a.str", strs, lens, 3));
    uint64_t ne_a[1] = { 3 }, ne_b[2] = { 32, 2 }, ne_c[1] = { 5 };
    OK(qtf_gguf_writer_declare(w, "a", QTF_GGML_F32, 1, ne_a));
    OK(qtf_gguf_writer_declare(w, "b", QTF_GGML_Q8_0, 2, ne_b));
    OK(qtf_gguf_writer_declare(w, "c", QTF_GGML_F16, 1, ne_c));
    cr_assert_eq(qtf_gguf_writer_tensor_size(w, 1), 68);
    unsigned char data[68];
    for (int i = 0; i < 68; i++) data[i] = (unsigned char)(i * 7 + 1);
    OK(qtf_gguf_writer_write(w, data, 5));          /* tensor a in two pieces */
    OK(qtf_gguf_writer_write(w, data + 5, 7));
    OK(qtf_gguf_writer_write(w, data, 68));         /* b */
    OK(qtf_gguf_writer_write(w, data, 10));         /* c */
    OK(qtf_gguf_writer_finish(w));

    qtf_gguf *g = gt_open(path);
    const qtf_gguf_info *info = qtf_gguf_get_info(g);
    cr_assert_eq(info->version, 3);
    cr_assert_eq(info->alignment, 32);
    cr_assert_eq(info->data_offset % 32, 0);
    uint64_t u; int64_t s; double d; int bb;
    OK(qtf_gguf_get_u64(&u, g, "v.u8")); cr_assert_eq(u, 200);
    OK(qtf_gguf_get_i64(&s, g, "v.i8")); cr_assert_eq(s, -100);
    OK(qtf_gguf_get_u64(&u, g, "v.u16")); cr_assert_eq(u, 60000);
    OK(qtf_gguf_get_i64(&s, g, "v.i16")); cr_assert_eq(s, -30000);
    OK(qtf_gguf_get_u64(&u, g, "v.u32")); cr_assert_eq(u, 4000000000u);
    OK(qtf_gguf_get_i64(&s, g, "v.i32")); cr_assert_eq(s, -2000000000);
    OK(qtf_gguf_get_f64(&d, g, "v.f32")); cr_assert_eq(d, (double)0.1f);
    OK(qtf_gguf_get_bool(&bb, g, "v.bool")); cr_assert_eq(bb, 1);
    OK(qtf_gguf_get_u64(&u, g, "v.u64")); cr_assert_eq(u, 1ull << 60);
    OK(qtf_gguf_get_i64(&s, g, "v.i64")); cr_assert_eq(s, -(1ll << 60));
    OK(qtf_gguf_get_f64(&d, g, "v.f64")); cr_assert_eq(d, 1e-300);
    const char *str;
    uint64_t slen;
    OK(qtf_gguf_get_string(&str, &slen, g, "v.str"));
    cr_assert(slen == 3 && memcmp(str, "h\xc3\xa9", 3) == 0);
    qtf_value v;
    uint64_t idx;
    OK(qtf_gguf_get_array(&v, &idx, g, "a.i32", QTF_TYPE_I32));
    cr_assert_eq(v.count, 3);
    cr_assert(memcmp(v.data, "\xff\xff\xff\xff\0\0\0\0\x07\0\0\0", 12) == 0);
    OK(qtf_gguf_get_array(&v, &idx, g, "a.f64", QTF_TYPE_F64));
    cr_assert(v.count == 2 && memcmp(v.data, ad, 16) == 0);
    OK(qtf_gguf_get_array(&v, &idx, g, "a.bool", QTF_TYPE_BOOL));
    cr_assert(v.count == 3 && memcmp(v.data, ab, 3) == 0);
    OK(qtf_gguf_get_array(&v, &idx, g, "a.empty", QTF_TYPE_U16));
    cr_assert_eq(v.count, 0);
    OK(qtf_gguf_get_array(&v, &idx, g, "a.str", QTF_TYPE_STRING));
    cr_assert_eq(v.count, 3);
    for (uint64_t j = 0; j < 3; j++) {
        qtf_value e;
        OK(qtf_gguf_array_elem(&e, g, idx, j));
        cr_assert(e.len == lens[j] && memcmp(e.str, strs[j], e.len) == 0, "element %llu",
                  (unsigned long long)j);
    }
    /* Keys in the order set. */
    cr_assert_str_eq(qtf_gguf_kv_key(g, 0), "v.u8");
    cr_assert_str_eq(qtf_gguf_kv_key(g, 16), "a.str");
    const uint64_t expect_off[3] = { 0, 32, 128 }, expect_size[3] = { 12, 68, 10 };
    for (uint64_t i = 0; i < 3; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        cr_assert_eq(t->offset, expect_off[i], "tensor %s offset %llu", t->name,
                     (unsigned long long)t->offset);
        const void *p;
        uint64_t n;
        OK(qtf_gguf_tensor_data(&p, &n, g, i));
        cr_assert_eq(n, expect_size[i]);
        cr_assert(memcmp(p, data, (size_t)n) == 0, "tensor %s bytes", t->name);
    }
    cr_assert_eq(qtf_gguf_tensor_get(g, 1)->type, QTF_GGML_Q8_0);
    cr_assert_eq(info->file_size, info->data_offset + 160);
    qtf_gguf_close(g);
}

Test(gguf_writer, other_alignment_is_recorded) {
    const char *path = test_tmpdir_path("a64.gguf");
    qtf_gguf_writer *w;
    qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
    wo.alignment = 64;
    OK(qtf_gguf_writer_create(&w, path, &wo));
    uint64_t ne[1] = { 3 };
    OK(qtf_gguf_writer_declare(w, "x", QTF_GGML_F32, 1, ne));
    OK(qtf_gguf_writer_declare(w, "y", QTF_GGML_F32, 1, ne));
    float f[3] = { 1, 2, 3 };
    OK(qtf_gguf_writer_write(w, f, 12));
    OK(qtf_gguf_writer_write(w, f, 12));
    OK(qtf_gguf_writer_finish(w));
    qtf_gguf *g = gt_open(path);
    uint64_t a;
    OK(qtf_gguf_get_u64(&a, g, "general.alignment"));
    cr_assert_eq(a, 64);
    cr_assert_eq(qtf_gguf_get_info(g)->alignment, 64);
    cr_assert_eq(qtf_gguf_get_info(g)->data_offset % 64, 0);
    cr_assert_eq(qtf_gguf_tensor_get(g, 1)->offset, 64);
    qtf_gguf_close(g);
    wo.alignment = 48;
    cr_assert_eq(qtf_gguf_writer_create(&w, test_tmpdir_path("bad.gguf"), &wo), QTF_E_ALIGNMENT);
    cr_assert_eq(access(test_tmpdir_path("bad.gguf"), F_OK), -1);
}

Test(gguf_writer, refusals) {
    const char *path = test_tmpdir_path("refused.gguf");
    qtf_gguf_writer *w;
    OK(qtf_gguf_writer_create(&w, path, NULL));
    OK(qtf_gguf_writer_set_u32(w, "k", 1));
    cr_assert_eq(qtf_gguf_writer_set_u32(w, "k", 2), QTF_E_DUPLICATE);
    cr_assert_eq(qtf_gguf_writer_set_string(w, "", "x", 1), QTF_E_UTF8);
    cr_assert_eq(qtf_gguf_writer_set_string(w, "bad\xff", "x", 1), QTF_E_UTF8);
    cr_assert_eq(qtf_gguf_writer_set_string(w, "s", "\xc3", 1), QTF_E_UTF8);
    uint8_t two = 2;
    cr_assert_eq(qtf_gguf_writer_set_value(w, "b", QTF_TYPE_BOOL, &two), QTF_E_VALUE);
    cr_assert_eq(qtf_gguf_writer_set_value(w, "s2", QTF_TYPE_STRING, "x"), QTF_E_INVALID_ARG);
    /* A refused key leaves nothing behind: the same key is accepted after. */
    OK(qtf_gguf_writer_set_string(w, "s", "ok", 2));
    uint64_t ne[2] = { 33, 2 }, ne_ok[1] = { 32 }, ne5[5] = { 1, 1, 1, 1, 1 };
    cr_assert_eq(qtf_gguf_writer_declare(w, "q", QTF_GGML_Q8_0, 2, ne), QTF_E_SHAPE);
    cr_assert(strstr(qtf_error_detail(), "'q'"), "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_writer_declare(w, "q", 4, 1, ne_ok), QTF_E_UNKNOWN_ENCODING);
    cr_assert_eq(qtf_gguf_writer_declare(w, "five", QTF_GGML_F32, 5, ne5), QTF_E_SHAPE);
    char long_name[65];
    memset(long_name, 'n', 64);
    long_name[64] = '\0';
    cr_assert_eq(qtf_gguf_writer_declare(w, long_name, QTF_GGML_F32, 1, ne_ok), QTF_E_LIMIT);
    long_name[63] = '\0';
    OK(qtf_gguf_writer_declare(w, long_name, QTF_GGML_F32, 1, ne_ok));
    cr_assert_eq(qtf_gguf_writer_declare(w, long_name, QTF_GGML_F32, 1, ne_ok),
                 QTF_E_DUPLICATE);
    OK(qtf_gguf_writer_declare(w, "second", QTF_GGML_F32, 1, ne_ok));
    float data[40] = { 0 };
    cr_assert_eq(qtf_gguf_writer_write(w, data, 129), QTF_E_INVALID_ARG);
    OK(qtf_gguf_writer_write(w, data, 128));
    cr_assert_eq(qtf_gguf_writer_set_u32(w, "late", 1), QTF_E_STATE);
    cr_assert_eq(qtf_gguf_writer_declare(w, "late", QTF_GGML_F32, 1, ne_ok), QTF_E_STATE);
    /* Finishing with "second" unwritten fails and leaves nothing. */
    cr_assert_eq(qtf_gguf_writer_finish(w), QTF_E_STATE);
    cr_assert(strstr(qtf_error_detail(), "1 of 2"), "%s", qtf_error_detail());
    cr_assert_eq(access(path, F_OK), -1);
}

Test(gguf_writer, failure_keeps_existing_file) {
    const char *path = test_tmpdir_path("existing.gguf");
    tu_write_text(path, "old");
    qtf_gguf_writer *w;
    OK(qtf_gguf_writer_create(&w, path, NULL));
    uint64_t ne[1] = { 4 };
    OK(qtf_gguf_writer_declare(w, "t", QTF_GGML_F32, 1, ne));
    qtf_gguf_writer_abort(w);
    size_t len;
    unsigned char *got = tu_read(path, &len);
    cr_assert(got && len == 3 && memcmp(got, "old", 3) == 0);
    free(got);
    /* No temporary file is left next to it. */
    DIR *d = opendir(test_tmpdir);
    cr_assert(d);
    struct dirent *e;
    while ((e = readdir(d)))
        cr_assert(!strstr(e->d_name, ".tmp-"), "left behind: %s", e->d_name);
    closedir(d);
}

/* --- tokenizers ------------------------------------------------------------------ */

static size_t put_tok(unsigned char *p, float score, const char *s) {
    uint32_t len = (uint32_t)strlen(s);
    memcpy(p, &score, 4);
    memcpy(p + 4, &len, 4);
    memcpy(p + 8, s, len);
    return 8 + len;
}

Test(gguf_writer, llama2c_tokenizer) {
    unsigned char buf[256];
    uint32_t max_len = 6;
    memcpy(buf, &max_len, 4);
    size_t n = 4;
    n += put_tok(buf + n, 0.0f, "<unk>");
    n += put_tok(buf + n, 0.0f, "\n<s>\n");
    n += put_tok(buf + n, 0.0f, "\n</s>\n");
    n += put_tok(buf + n, 0.0f, "<0x0A>");
    n += put_tok(buf + n, -1.0f, " a");
    n += put_tok(buf + n, -2.5f, "b c");
    const char *config = "{\"vocab_size\": 6, \"bos_token_id\": 1, \"eos_token_id\": 2}";
    qtf_vocab_files f = { 0 };
    f.llama2c = buf;
    f.llama2c_len = n;
    f.config = config;
    f.config_len = strlen(config);
    qtf_vocab v;
    OK(qtf_vocab_load(&v, &f, "test"));
    cr_assert_str_eq(v.model, "llama");
    cr_assert_str_eq(v.pre, "default");
    cr_assert_eq(v.n_tokens, 6);
    const char *expect[6] = { "<unk>", "<s>", "</s>", "<0x0A>", "\xe2\x96\x81" "a",
                              "b\xe2\x96\x81" "c" };
    const int32_t types[6] = { 2, 3, 3, 6, 1, 1 };
    for (int i = 0; i < 6; i++) {
        cr_assert(v.token_lens[i] == strlen(expect[i]) &&
                  memcmp(v.tokens[i], expect[i], v.token_lens[i]) == 0, "token %d: %s", i,
                  v.tokens[i]);
        cr_assert_eq(v.types[i], types[i], "token %d type %d", i, v.types[i]);
    }
    cr_assert_eq(v.scores[5], -2.5f);
    cr_assert_eq(v.special[QTF_VOCAB_BOS], 1);
    cr_assert_eq(v.special[QTF_VOCAB_EOS], 2);
    cr_assert_eq(v.special[QTF_VOCAB_UNK], 0);
    cr_assert_eq(v.special[QTF_VOCAB_PAD], -1);
    qtf_vocab_free(&v);
    /* One token short: the file cannot hold vocab_size tokens. */
    f.llama2c_len = n - 3;
    cr_assert_eq(qtf_vocab_load(&v, &f, "test"), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "token 5"), "%s", qtf_error_detail());
    /* A length running past the end. */
    f.llama2c_len = n;
    uint32_t huge = 0x7fffffff;
    memcpy(buf + 4 + 4, &huge, 4);
    cr_assert_eq(qtf_vocab_load(&v, &f, "test"), QTF_E_TRUNCATED);
    f.llama2c_len = 2;
    cr_assert_eq(qtf_vocab_load(&v, &f, "test"), QTF_E_TRUNCATED);
}

/* protobuf helpers for a hand-made SentencePiece model */
static size_t pb_key(unsigned char *p, unsigned field, unsigned wire) {
    p[0] = (unsigned char)(field << 3 | wire);
    return 1;
}

static size_t pb_piece(unsigned char *p, const char *piece, float score, int type) {
    unsigned char body[64];
    size_t n = 0, len = strlen(piece);
    n += pb_key(body + n, 1, 2);
    body[n++] = (unsigned char)len;
    memcpy(body + n, piece, len);
    n += len;
    n += pb_key(body + n, 2, 5);
    memcpy(body + n, &score, 4);
    n += 4;
    if (type) {
        n += pb_key(body + n, 3, 0);
        body[n++] = (unsigned char)type;
    }
    size_t o = pb_key(p, 1, 2);
    p[o++] = (unsigned char)n;
    memcpy(p + o, body, n);
    return o + n;
}

Test(gguf_writer, sentencepiece_tokenizer) {
    unsigned char m[256];
    size_t n = 0;
    n += pb_piece(m + n, "<unk>", 0.0f, 2);
    n += pb_piece(m + n, "<s>", 0.0f, 3);
    n += pb_piece(m + n, "</s>", 0.0f, 3);
    n += pb_piece(m + n, "\xe2\x96\x81the", -1.5f, 0);     /* type omitted: NORMAL */
    n += pb_piece(m + n, "<0x41>", 0.0f, 6);
    /* trainer_spec (field 2) with pad_id (43) = 4: a two-byte key. */
    const unsigned char spec[] = { 0x12, 0x03, 0xd8, 0x02, 0x04 };
    memcpy(m + n, spec, sizeof spec);
    n += sizeof spec;
    const char *config = "{\"vocab_size\": 7}";
    qtf_vocab_files f = { 0 };
    f.spm = m;
    f.spm_len = n;
    f.config = config;
    f.config_len = strlen(config);
    qtf_vocab v;
    OK(qtf_vocab_load(&v, &f, "test"));
    cr_assert_str_eq(v.model, "llama");
    cr_assert_eq(v.n_tokens, 7);               /* padded to config's vocab_size */
    cr_assert_str_eq(v.tokens[3], "\xe2\x96\x81the");
    cr_assert_eq(v.scores[3], -1.5f);
    cr_assert_eq(v.types[3], QTF_TOKEN_NORMAL);
    cr_assert_eq(v.types[4], QTF_TOKEN_BYTE);
    cr_assert_str_eq(v.tokens[6], "[PAD6]");
    cr_assert_eq(v.types[6], QTF_TOKEN_UNUSED);
    cr_assert_eq(v.scores[6], -1000.0f);
    cr_assert_eq(v.special[QTF_VOCAB_UNK], 0);
    cr_assert_eq(v.special[QTF_VOCAB_BOS], 1);
    cr_assert_eq(v.special[QTF_VOCAB_EOS], 2);
    cr_assert_eq(v.special[QTF_VOCAB_PAD], 4);
    qtf_vocab_free(&v);
    /* A piece length past the end of the model. */
    m[1] = 0x7f;
    cr_assert_eq(qtf_vocab_load(&v, &f, "test"), QTF_E_PARSE);
}

/* The real GPT-2 tokenizer.json: a gpt2 model with every token, the 50,000
 * merges and <|endoftext|> as bos/eos/unk; written and read back. */
Test(gguf_writer, gpt2_bpe_tokenizer) {
    TS_NEED(dir, "checkpoints/tokenizers-only/gpt2");
    qtf_vocab_files f;
    OK(qtf_vocab_files_read_dir(&f, dir));
    qtf_vocab v;
    OK(qtf_vocab_load(&v, &f, dir));
    cr_assert_str_eq(v.model, "gpt2");
    cr_assert_str_eq(v.pre, "gpt-2");
    cr_assert_eq(v.n_tokens, 50257);
    cr_assert_eq(v.n_merges, 50000);
    cr_assert_str_eq(v.merges[0], "\xc4\xa0 t");        /* ["Ġ", "t"] */
    cr_assert_str_eq(v.tokens[0], "!");
    cr_assert_str_eq(v.tokens[50256], "<|endoftext|>");
    cr_assert_eq(v.types[50256], QTF_TOKEN_CONTROL);
    cr_assert_eq(v.types[0], QTF_TOKEN_NORMAL);
    cr_assert_eq(v.special[QTF_VOCAB_BOS], 50256);
    cr_assert_eq(v.special[QTF_VOCAB_EOS], 50256);
    cr_assert_eq(v.special[QTF_VOCAB_UNK], 50256);
    cr_assert(v.scores == NULL);
    const char *path = test_tmpdir_path("vocab.gguf");
    qtf_gguf_writer *w;
    OK(qtf_gguf_writer_create(&w, path, NULL));
    OK(qtf_vocab_write_gguf(&v, w));
    OK(qtf_gguf_writer_finish(w));
    qtf_vocab_free(&v);
    qtf_vocab_files_free(&f);
    qtf_gguf *g = gt_open(path);
    qtf_value val, e;
    uint64_t idx;
    OK(qtf_gguf_get_array(&val, &idx, g, "tokenizer.ggml.merges", QTF_TYPE_STRING));
    cr_assert_eq(val.count, 50000);
    OK(qtf_gguf_array_elem(&e, g, idx, 49999));
    OK(qtf_gguf_get_array(&val, &idx, g, "tokenizer.ggml.token_type", QTF_TYPE_I32));
    cr_assert_eq(val.count, 50257);
    cr_assert_eq(qtf_gguf_kv_find(&idx, g, "tokenizer.ggml.scores"), QTF_E_NOT_FOUND);
    const char *s;
    uint64_t len;
    OK(qtf_gguf_get_string(&s, &len, g, "tokenizer.ggml.pre"));
    cr_assert(len == 5 && memcmp(s, "gpt-2", 5) == 0);
    qtf_gguf_close(g);
}

/* Pythia (GPT-NeoX): added whitespace tokens are USER_DEFINED, specials
 * CONTROL, add_bos/add_eos false from tokenizer_config.json. */
Test(gguf_writer, neox_bpe_tokenizer) {
    TS_NEED(dir, "checkpoints/tokenizers-only/gpt-neox-pythia");
    qtf_vocab_files f;
    OK(qtf_vocab_files_read_dir(&f, dir));
    qtf_vocab v;
    OK(qtf_vocab_load(&v, &f, dir));
    cr_assert_str_eq(v.pre, "gpt-2");
    cr_assert_eq(v.n_merges, 50009);
    cr_assert_eq(v.types[0], QTF_TOKEN_CONTROL);
    cr_assert_eq(v.types[1], QTF_TOKEN_CONTROL);
    cr_assert_eq(v.types[50254], QTF_TOKEN_USER_DEFINED);
    cr_assert_eq(v.add_bos, 0);
    cr_assert_eq(v.add_eos, 0);
    cr_assert_eq(v.special[QTF_VOCAB_BOS], 0);
    qtf_vocab_free(&v);
    qtf_vocab_files_free(&f);
}

Test(gguf_writer, bpe_refusals) {
    const char *unigram = "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}";
    const char *odd_pre = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                          "\"pre_tokenizer\": {\"type\": \"Whitespace\"}}";
    const char *bad_id = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []},"
                         "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
    const char *tmpl = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, "
                       "\"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
    const char *tcfg = "{\"chat_template\": \"{{ messages }}\", "
                       "\"eos_token\": {\"content\": \"b\"}}";
    qtf_vocab_files f = { 0 };
    qtf_vocab v;
    f.tokenizer_json = unigram;
    f.tokenizer_json_len = strlen(unigram);
    cr_assert_eq(qtf_vocab_load(&v, &f, "t"), QTF_E_UNSUPPORTED);
    f.tokenizer_json = odd_pre;
    f.tokenizer_json_len = strlen(odd_pre);
    cr_assert_eq(qtf_vocab_load(&v, &f, "t"), QTF_E_UNSUPPORTED);
    cr_assert(strstr(qtf_error_detail(), "pre_tokenizer"), "%s", qtf_error_detail());
    f.tokenizer_json = bad_id;
    f.tokenizer_json_len = strlen(bad_id);
    cr_assert_eq(qtf_vocab_load(&v, &f, "t"), QTF_E_VALUE);
    /* An id far beyond the vocabulary (fuzz_vocab's timeout: 13 million
     * [PADn] tokens from a 300-byte file) is refused; up to config.json's
     * vocab_size the holes are padding. */
    const char *far_id = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 13580454, "
                         "\"ab\": 2}, \"merges\": [\"a b\"]}, "
                         "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
    f.tokenizer_json = far_id;
    f.tokenizer_json_len = strlen(far_id);
    cr_assert_eq(qtf_vocab_load(&v, &f, "t"), QTF_E_VALUE);
    cr_assert(strstr(qtf_error_detail(), "token id 13580454 is beyond the vocabulary"), "%s",
              qtf_error_detail());
    const char *gap = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 5}, "
                      "\"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}";
    const char *cfg8 = "{\"vocab_size\": 8}";
    f.tokenizer_json = gap;
    f.tokenizer_json_len = strlen(gap);
    cr_assert_eq(qtf_vocab_load(&v, &f, "t"), QTF_E_VALUE);    /* 2 listed, id 5 */
    f.config = cfg8;
    f.config_len = strlen(cfg8);
    OK(qtf_vocab_load(&v, &f, "t"));
    cr_assert_eq(v.n_tokens, 8);
    cr_assert_str_eq(v.tokens[3], "[PAD3]");
    cr_assert_eq(v.types[3], QTF_TOKEN_UNUSED);
    qtf_vocab_free(&v);
    f.config = NULL;
    f.config_len = 0;
    f.tokenizer_json = tmpl;
    f.tokenizer_json_len = strlen(tmpl);
    f.tokenizer_config = tcfg;
    f.tokenizer_config_len = strlen(tcfg);
    OK(qtf_vocab_load(&v, &f, "t"));
    cr_assert_str_eq(v.chat_template, "{{ messages }}");
    cr_assert_eq(v.special[QTF_VOCAB_EOS], 1);
    cr_assert_str_eq(v.merges[0], "a b");
    qtf_vocab_free(&v);
    memset(&f, 0, sizeof f);
    cr_assert_eq(qtf_vocab_load(&v, &f, "t"), QTF_E_NOT_FOUND);
}

/* --- the llama-quantize recipe ----------------------------------------------------- */

Test(gguf_writer, fallbacks_as_llama_quantize) {
    cr_assert_eq(qtfg_fallback(QTF_GGML_Q4_K, 256), QTF_GGML_Q4_K);
    cr_assert_eq(qtfg_fallback(QTF_GGML_Q2_K, 64), QTF_GGML_Q4_0);
    cr_assert_eq(qtfg_fallback(QTF_GGML_Q3_K, 64), QTF_GGML_Q4_0);
    cr_assert_eq(qtfg_fallback(QTF_GGML_Q4_K, 64), QTF_GGML_Q5_0);
    cr_assert_eq(qtfg_fallback(QTF_GGML_Q5_K, 64), QTF_GGML_Q5_1);
    cr_assert_eq(qtfg_fallback(QTF_GGML_Q6_K, 64), QTF_GGML_Q8_0);
    cr_assert_eq(qtfg_fallback(QTF_GGML_IQ4_XS, 64), QTF_GGML_IQ4_NL);
    cr_assert_eq(qtfg_fallback(QTF_GGML_Q4_K, 172), QTF_GGML_F16);
    cr_assert_eq(qtfg_fallback(QTF_GGML_Q8_0, 172), QTF_GGML_F16);
    cr_assert_eq(qtfg_fallback(QTF_GGML_F32, 172), QTF_GGML_F32);
}

static uint32_t choose(const qtfg_recipe *r, const char *name, uint64_t ne0, uint64_t ne1) {
    qtfg_tensor t = { name, ne1 ? 2 : 1, { ne0, ne1 ? ne1 : 1, 1, 1 } };
    const char *why;
    int fb;
    return qtfg_recipe_choose(r, &t, &why, &fb);
}

/* A 32-layer untied Llama: hand-applied llama_tensor_get_type. */
Test(gguf_writer, q4_k_m_and_q3_k_m_mixtures) {
    static char names[32 * 3][40];
    qtfg_tensor ts[32 * 3 + 2];
    size_t n = 0;
    for (int l = 0; l < 32; l++) {
        const char *kinds[3] = { "attn_v", "ffn_down", "attn_output" };
        for (int k = 0; k < 3; k++) {
            snprintf(names[n], sizeof names[n], "blk.%d.%s.weight", l, kinds[k]);
            ts[n] = (qtfg_tensor){ names[n], 2, { 4096, 4096, 1, 1 } };
            n++;
        }
    }
    ts[n++] = (qtfg_tensor){ "output.weight", 2, { 4096, 32000, 1, 1 } };
    ts[n++] = (qtfg_tensor){ "token_embd.weight", 2, { 4096, 32000, 1, 1 } };
    qtfg_model m = { 32, 32, 8, ts, n, 0 };
    qtfg_recipe r = { 0 };
    char err[256];
    cr_assert_eq(qtfg_recipe_build(&r, qtfg_preset_find("q4_k_m"), 0, &m, err, sizeof err), 0);
    /* use_more_bits(i, 32): i < 4, i >= 28, (i - 4) % 3 == 2 */
    for (int l = 0; l < 32; l++) {
        char name[40];
        int more = l < 4 || l >= 28 || (l - 4) % 3 == 2;
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        cr_assert_eq(choose(&r, name, 4096, 4096), more ? QTF_GGML_Q6_K : QTF_GGML_Q4_K, "%s",
                     name);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        cr_assert_eq(choose(&r, name, 4096, 4096), more ? QTF_GGML_Q6_K : QTF_GGML_Q4_K, "%s",
                     name);
        snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
        cr_assert_eq(choose(&r, name, 4096, 4096), QTF_GGML_Q4_K, "%s", name);
    }
    cr_assert_eq(choose(&r, "output.weight", 4096, 32000), QTF_GGML_Q6_K);
    cr_assert_eq(choose(&r, "token_embd.weight", 4096, 32000), QTF_GGML_Q4_K); /* untied */
    cr_assert_eq(choose(&r, "blk.0.attn_norm.weight", 4096, 0), QTF_GGML_F32);
    qtfg_recipe_free(&r);

    cr_assert_eq(qtfg_recipe_build(&r, qtfg_preset_find("q3_k_m"), 0, &m, err, sizeof err), 0);
    cr_assert_eq(choose(&r, "blk.1.attn_v.weight", 4096, 4096), QTF_GGML_Q5_K);
    cr_assert_eq(choose(&r, "blk.2.attn_v.weight", 4096, 4096), QTF_GGML_Q4_K);
    cr_assert_eq(choose(&r, "blk.1.ffn_down.weight", 4096, 4096), QTF_GGML_Q5_K); /* < 32/16 */
    cr_assert_eq(choose(&r, "blk.2.ffn_down.weight", 4096, 4096), QTF_GGML_Q4_K);
    cr_assert_eq(choose(&r, "blk.9.attn_output.weight", 4096, 4096), QTF_GGML_Q4_K);
    cr_assert_eq(choose(&r, "blk.9.attn_q.weight", 4096, 4096), QTF_GGML_Q3_K);
    qtfg_recipe_free(&r);

    /* The importance matrix changes the first eighth of ffn_down: Q4_1 for
     * q4_0 (with it), Q5_K for iq4_nl (without it). */
    cr_assert_eq(qtfg_recipe_build(&r, qtfg_preset_find("iq4_nl"), 0, &m, err, sizeof err), 0);
    cr_assert_eq(choose(&r, "blk.3.ffn_down.weight", 4096, 4096), QTF_GGML_Q5_K);
    cr_assert_eq(choose(&r, "blk.4.ffn_down.weight", 4096, 4096), QTF_GGML_IQ4_NL);
    cr_assert_eq(choose(&r, "blk.0.attn_v.weight", 4096, 4096), QTF_GGML_Q5_K);  /* gqa 4 */
    qtfg_recipe_free(&r);
    m.has_imatrix = 1;
    cr_assert_eq(qtfg_recipe_build(&r, qtfg_preset_find("q4_0"), 0, &m, err, sizeof err), 0);
    cr_assert_eq(choose(&r, "blk.3.ffn_down.weight", 4096, 4096), QTF_GGML_Q4_1);
    cr_assert_eq(choose(&r, "blk.4.ffn_down.weight", 4096, 4096), QTF_GGML_Q4_0);
    cr_assert_eq(choose(&r, "output.weight", 4096, 32000), QTF_GGML_Q6_K);
    qtfg_recipe_free(&r);
    cr_assert_eq(qtfg_recipe_build(&r, qtfg_preset_find("iq4_nl"), 0, &m, err, sizeof err), 0);
    cr_assert_eq(choose(&r, "blk.3.ffn_down.weight", 4096, 4096), QTF_GGML_IQ4_NL);
    qtfg_recipe_free(&r);
    m.has_imatrix = 0;

    /* --pure: the base type everywhere, the output head included. */
    cr_assert_eq(qtfg_recipe_build(&r, qtfg_preset_find("q2_k"), 1, &m, err, sizeof err), 0);
    cr_assert_eq(choose(&r, "output.weight", 4096, 32000), QTF_GGML_Q2_K);
    cr_assert_eq(choose(&r, "blk.0.ffn_down.weight", 4096, 4096), QTF_GGML_Q2_K);
    char *text = qtfg_recipe_describe(&r);
    cr_assert(text && strstr(text, "preset q2_k --pure") && strstr(text, "*=q2_k"), "%s", text);
    free(text);
    qtfg_recipe_free(&r);
    cr_assert_null(qtfg_preset_find("q4_k"));
}

/* The recipe reproduces llama-quantize's real Q4_K_M file type by type. */
Test(gguf_writer, q4_k_m_mixture_matches_fixture) {
    TS_NEED(path, "gguf/synth/model-Q4_K_M-mix.gguf");
    qtf_gguf *g = gt_open(path);
    uint64_t n = qtf_gguf_tensor_count(g);
    qtfg_tensor *ts = calloc(n, sizeof *ts);
    cr_assert(ts);
    for (uint64_t i = 0; i < n; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        ts[i] = (qtfg_tensor){ t->name, t->n_dims, { t->ne[0], t->ne[1], t->ne[2], t->ne[3] } };
    }
    qtfg_model m = { 1, 4, 2, ts, n, 0 };
    qtfg_recipe r = { 0 };
    char err[256];
    cr_assert_eq(qtfg_recipe_build(&r, qtfg_preset_find("q4_k_m"), 0, &m, err, sizeof err), 0);
    for (uint64_t i = 0; i < n; i++) {
        const char *why;
        int fb;
        uint32_t type = qtfg_recipe_choose(&r, &ts[i], &why, &fb);
        cr_assert_eq(type, qtf_gguf_tensor_get(g, i)->type, "%s: %s, llama-quantize %s",
                     ts[i].name, qtf_ggml_type_name(type),
                     qtf_ggml_type_name(qtf_gguf_tensor_get(g, i)->type));
    }
    qtfg_recipe_free(&r);
    free(ts);
    qtf_gguf_close(g);
}
