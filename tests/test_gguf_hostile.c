/* Hostile GGUF input: each test breaks exactly one rule of an otherwise valid
 * file (tests/support/gguf.h) and asserts the named status and that the
 * detail names the key or tensor, the offset, and expected vs found. The
 * list follows the public GGUF parser CVEs (CVE-2024-25664..25668,
 * TALOS-2024-1912..1916) and ../shared/reference/containers-and-hostile-input.md. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint/gguf.h"
#include <stdint.h>
#include <stdlib.h>
#include "support/gguf.h"

TestSuite(gguf_hostile);

/* Opens b from memory (and, for parity, metadata-only) and returns the
 * status; both opens must agree. */
static qtf_status open_status(const gb *b, char *detail, size_t cap) {
    qtf_gguf *g = NULL;
    qtf_status st = qtf_gguf_open_memory(&g, b->p, b->len, "hostile.gguf", 0);
    snprintf(detail, cap, "%s", qtf_error_detail());
    if (st == QTF_OK) {
        cr_assert_leq(qtf_gguf_heap_bytes(g), QTF_GGUF_HEAP_BOUND(qtf_gguf_get_info(g)->header_size));
        qtf_gguf_close(g);
    }
    qtf_gguf *g2 = NULL;
    qtf_status st2 = qtf_gguf_open_memory(&g2, b->p, b->len, "hostile.gguf",
                                          QTF_GGUF_OPEN_METADATA_ONLY);
    qtf_gguf_close(g2);
    cr_assert_eq(st, st2, "memory %s vs metadata-only %s", qtf_status_name(st),
                 qtf_status_name(st2));
    return st;
}

static void expect(const gb_spec *s, qtf_status want, const char *const *needles) {
    gb b;
    gb_build(&b, s);
    char detail[1024];
    qtf_status st = open_status(&b, detail, sizeof detail);
    cr_assert_eq(st, want, "got %s, want %s: %s", qtf_status_name(st), qtf_status_name(want),
                 detail);
    for (const char *const *n = needles; n && *n; n++)
        cr_assert(strstr(detail, *n), "detail lacks '%s': %s", *n, detail);
    cr_assert(strstr(detail, "hostile.gguf"), "detail does not name the file: %s", detail);
    free(b.p);
}

#define EXPECT(spec, status, ...)                                          \
    do {                                                                   \
        static const char *const needles_[] = { __VA_ARGS__, NULL };      \
        expect(&(spec), status, needles_);                                 \
    } while (0)

Test(gguf_hostile, default_file_is_valid) {
    gb_spec s = gb_default();
    gb b;
    gb_build(&b, &s);
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open_memory(&g, b.p, b.len, "ok.gguf", 0), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_tensor_count(g), 2);
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, 1);
    cr_assert_str_eq(t->name, "b");
    cr_assert_eq(t->type, QTF_GGML_Q8_0);
    cr_assert_eq(t->nbytes, 34);
    cr_assert_eq(t->offset, 64);
    const void *p;
    uint64_t n;
    cr_assert_eq(qtf_gguf_tensor_data(&p, &n, g, 1), QTF_OK);
    cr_assert_eq(n, 34);
    cr_assert_eq(((const unsigned char *)p)[1], 8); /* builder byte j*7 + i with j=1, i=1 */
    qtf_gguf_close(g);
    free(b.p);
}

/* --- header ------------------------------------------------------------------- */

Test(gguf_hostile, bad_magic) {
    gb_spec s = gb_default();
    gb b;
    gb_build(&b, &s);
    b.p[0] = 'X';
    char d[1024];
    cr_assert_eq(open_status(&b, d, sizeof d), QTF_E_MAGIC, "%s", d);
    cr_assert(strstr(d, "expected 47 47 55 46"), "%s", d);
    free(b.p);
}

Test(gguf_hostile, version_1_and_4_refused) {
    gb_spec s = gb_default();
    s.version = 1;
    EXPECT(s, QTF_E_VERSION, "version 1", "expected 2 or 3");
    s.version = 4;
    EXPECT(s, QTF_E_VERSION, "version 4");
}

Test(gguf_hostile, version_2_accepted) {
    gb_spec s = gb_default();
    s.version = 2;
    gb b;
    gb_build(&b, &s);
    char d[1024];
    cr_assert_eq(open_status(&b, d, sizeof d), QTF_OK, "%s", d);
    free(b.p);
}

Test(gguf_hostile, big_endian_refused) {
    gb_spec s = gb_default();
    s.version = 0x03000000u; /* 3 written big-endian */
    EXPECT(s, QTF_E_BYTE_ORDER, "big-endian", "little-endian");
}

Test(gguf_hostile, counts_beyond_remaining_bytes) {
    gb_spec s = gb_default();
    s.kv_count_delta = 1000000;
    EXPECT(s, QTF_E_TRUNCATED, "key/value records", "need at least");
    s = gb_default();
    s.tensor_count_delta = 100000;
    EXPECT(s, QTF_E_TRUNCATED, "tensor infos");
    s = gb_default();
    s.kv_count_delta = (int64_t)1 << 40;
    EXPECT(s, QTF_E_LIMIT, "key/value count", "exceeds the limit");
    s = gb_default();
    s.tensor_count_delta = INT64_MAX - 2; /* counts near 2^63 must not wrap */
    EXPECT(s, QTF_E_LIMIT, "tensor count");
}

/* --- key/value records ---------------------------------------------------------- */

static void kv_huge_string(gb *b) {
    gb_str(b, "general.name");
    gb_u32(b, GB_STRING);
    gb_u64(b, UINT64_MAX); /* len + 1 wraps to 0 in naive readers */
}
static void kv_long_string(gb *b) {
    gb_str(b, "general.name");
    gb_u32(b, GB_STRING);
    gb_u64(b, 100000); /* within the limit, beyond the file */
}
static void kv_huge_key(gb *b) {
    gb_u64(b, UINT64_MAX - 7);
}
static void kv_empty_key(gb *b) {
    gb_u64(b, 0);
    gb_u32(b, GB_U8);
    gb_u8(b, 1);
}
static void kv_bad_utf8_key(gb *b) {
    gb_u64(b, 4);
    gb_bytes(b, "ab\xC0\x80", 4);
    gb_u32(b, GB_U8);
    gb_u8(b, 1);
}
static void kv_nul_key(gb *b) {
    gb_u64(b, 3);
    gb_bytes(b, "a\0b", 3);
    gb_u32(b, GB_U8);
    gb_u8(b, 1);
}
static void kv_dup_key(gb *b) {
    gb_key(b, "general.architecture", GB_STRING);
    gb_str(b, "gpt2");
}
static void kv_bad_type(gb *b) {
    gb_key(b, "x.y", 13);
    gb_u8(b, 0);
}
static void kv_bad_bool(gb *b) {
    gb_key(b, "x.flag", GB_BOOL);
    gb_u8(b, 2);
}
static void kv_nested_array(gb *b) {
    gb_key(b, "x.nested", GB_ARRAY);
    gb_u32(b, GB_ARRAY);
    gb_u64(b, 1);
}
static void kv_array_bad_elem(gb *b) {
    gb_key(b, "x.arr", GB_ARRAY);
    gb_u32(b, 0x7fffffff);
    gb_u64(b, 1);
}
static void kv_array_huge_count(gb *b) {
    gb_key(b, "x.arr", GB_ARRAY);
    gb_u32(b, GB_U64);
    gb_u64(b, UINT64_MAX / 4); /* count * 8 wraps in naive readers */
}
static void kv_array_count_beyond(gb *b) {
    gb_key(b, "x.arr", GB_ARRAY);
    gb_u32(b, GB_U32);
    gb_u64(b, 1u << 20);
}
static void kv_string_array_count_beyond(gb *b) {
    gb_key(b, "x.strs", GB_ARRAY);
    gb_u32(b, GB_STRING);
    gb_u64(b, 1u << 20);
}
static void kv_string_array_bad_elem_len(gb *b) {
    gb_key(b, "x.strs", GB_ARRAY);
    gb_u32(b, GB_STRING);
    gb_u64(b, 2);
    gb_str(b, "ok");
    gb_u64(b, 1ull << 40);
}
static void kv_bool_array_bad(gb *b) {
    gb_key(b, "x.bools", GB_ARRAY);
    gb_u32(b, GB_BOOL);
    gb_u64(b, 3);
    gb_u8(b, 0);
    gb_u8(b, 1);
    gb_u8(b, 7);
}
static void kv_alignment_string(gb *b) {
    gb_key(b, "general.alignment", GB_STRING);
    gb_str(b, "32");
}
static void kv_file_type_i32(gb *b) {
    gb_key(b, "general.file_type", GB_I32);
    gb_u32(b, 15);
}

#define EXTRA(s, fn, n) do { (s).extra_kv = (fn); (s).n_extra_kv = (n); } while (0)

Test(gguf_hostile, string_length_u64_max) {
    gb_spec s = gb_default();
    EXTRA(s, kv_huge_string, 1);
    EXPECT(s, QTF_E_LIMIT, "key 'general.name'", "string value", "exceeds the limit");
}

Test(gguf_hostile, string_length_beyond_file) {
    gb_spec s = gb_default();
    EXTRA(s, kv_long_string, 1);
    EXPECT(s, QTF_E_TRUNCATED, "key 'general.name'", "needs 100000 bytes");
}

Test(gguf_hostile, key_length_huge) {
    gb_spec s = gb_default();
    EXTRA(s, kv_huge_key, 1);
    EXPECT(s, QTF_E_LIMIT, "key of record 5", "exceeds the limit");
}

Test(gguf_hostile, key_empty_invalid_utf8_nul) {
    gb_spec s = gb_default();
    EXTRA(s, kv_empty_key, 1);
    EXPECT(s, QTF_E_UTF8, "key of record 5", "empty");
    EXTRA(s, kv_bad_utf8_key, 1);
    EXPECT(s, QTF_E_UTF8, "not valid UTF-8", "byte 2");
    EXTRA(s, kv_nul_key, 1);
    EXPECT(s, QTF_E_UTF8, "NUL");
}

Test(gguf_hostile, duplicate_key) {
    gb_spec s = gb_default();
    EXTRA(s, kv_dup_key, 1);
    EXPECT(s, QTF_E_DUPLICATE, "key 'general.architecture'", "repeats record 0", "offset 24");
}

Test(gguf_hostile, value_type_outside_enum) {
    gb_spec s = gb_default();
    EXTRA(s, kv_bad_type, 1);
    EXPECT(s, QTF_E_TYPE, "key 'x.y'", "value type", "is 13", "expected 0..12");
}

Test(gguf_hostile, bool_not_0_or_1) {
    gb_spec s = gb_default();
    EXTRA(s, kv_bad_bool, 1);
    EXPECT(s, QTF_E_VALUE, "key 'x.flag'", "is 2", "expected 0 or 1");
    EXTRA(s, kv_bool_array_bad, 1);
    EXPECT(s, QTF_E_VALUE, "key 'x.bools'", "element 2", "is 7");
}

Test(gguf_hostile, nested_array) {
    gb_spec s = gb_default();
    EXTRA(s, kv_nested_array, 1);
    EXPECT(s, QTF_E_TYPE, "key 'x.nested'", "nested array");
}

Test(gguf_hostile, array_element_type_outside_enum) {
    gb_spec s = gb_default();
    EXTRA(s, kv_array_bad_elem, 1);
    EXPECT(s, QTF_E_TYPE, "key 'x.arr'", "array element type", "2147483647");
}

Test(gguf_hostile, array_count_overflow_and_beyond_file) {
    gb_spec s = gb_default();
    EXTRA(s, kv_array_huge_count, 1);
    EXPECT(s, QTF_E_LIMIT, "key 'x.arr'", "array length", "exceeds the limit");
    EXTRA(s, kv_array_count_beyond, 1);
    EXPECT(s, QTF_E_TRUNCATED, "key 'x.arr'", "1048576 u32", "needs at least 4194304 bytes");
    EXTRA(s, kv_string_array_count_beyond, 1);
    EXPECT(s, QTF_E_TRUNCATED, "key 'x.strs'", "1048576 string");
    EXTRA(s, kv_string_array_bad_elem_len, 1);
    EXPECT(s, QTF_E_LIMIT, "key 'x.strs'", "array string 1", "exceeds the limit");
}

Test(gguf_hostile, reserved_key_wrong_type) {
    gb_spec s = gb_default();
    s.with_alignment = 0;
    EXTRA(s, kv_alignment_string, 1);
    EXPECT(s, QTF_E_TYPE, "key 'general.alignment'", "must be u32", "found string");
    s = gb_default();
    EXTRA(s, kv_file_type_i32, 1);
    EXPECT(s, QTF_E_TYPE, "key 'general.file_type'", "must be u32", "found i32");
}

/* --- tokenizer arrays ---------------------------------------------------------------- */

static void tok_tokens_i32(gb *b) {
    gb_key(b, "tokenizer.ggml.tokens", GB_ARRAY);
    gb_u32(b, GB_I32);
    gb_u64(b, 1);
    gb_u32(b, 5);
}
static void tok_scores_strings(gb *b) {
    gb_key(b, "tokenizer.ggml.scores", GB_ARRAY);
    gb_u32(b, GB_STRING);
    gb_u64(b, 1);
    gb_str(b, "0.5");
}
static void tok_type_string(gb *b) {
    gb_key(b, "tokenizer.ggml.token_type", GB_STRING);
    gb_str(b, "normal");
}
static void tok_merges_u8(gb *b) {
    gb_key(b, "tokenizer.ggml.merges", GB_ARRAY);
    gb_u32(b, GB_U8);
    gb_u64(b, 1);
    gb_u8(b, 0);
}
static void tok_bos_string(gb *b) {
    gb_key(b, "tokenizer.ggml.bos_token_id", GB_STRING);
    gb_str(b, "1");
}
static void tok_full_short_scores(gb *b) {
    static const char *const tokens[] = { "a", "b" };
    gb_str_array(b, "tokenizer.ggml.tokens", tokens, 2);
    gb_key(b, "tokenizer.ggml.scores", GB_ARRAY);
    gb_u32(b, GB_F32);
    gb_u64(b, 1);
    gb_f32(b, 0.0f);
}

Test(gguf_hostile, tokenizer_arrays_of_wrong_type) {
    gb_spec s = gb_default();
    s.with_tokenizer = 0;
    EXTRA(s, tok_tokens_i32, 1);
    EXPECT(s, QTF_E_TYPE, "key 'tokenizer.ggml.tokens'", "array of string", "found array of i32");
    EXTRA(s, tok_scores_strings, 1);
    EXPECT(s, QTF_E_TYPE, "key 'tokenizer.ggml.scores'", "array of f32", "found array of string");
    EXTRA(s, tok_type_string, 1);
    EXPECT(s, QTF_E_TYPE, "key 'tokenizer.ggml.token_type'", "array of i32", "found string");
    EXTRA(s, tok_merges_u8, 1);
    EXPECT(s, QTF_E_TYPE, "key 'tokenizer.ggml.merges'", "array of string");
    EXTRA(s, tok_bos_string, 1);
    EXPECT(s, QTF_E_TYPE, "key 'tokenizer.ggml.bos_token_id'", "must be u32");
}

Test(gguf_hostile, tokenizer_arrays_of_different_lengths) {
    gb_spec s = gb_default();
    s.with_tokenizer = 0;
    EXTRA(s, tok_full_short_scores, 2);
    EXPECT(s, QTF_E_VALUE, "key 'tokenizer.ggml.scores'", "has 1 elements, expected 2");
}

/* --- alignment ------------------------------------------------------------------------ */

Test(gguf_hostile, alignment_zero_or_not_power_of_two) {
    gb_spec s = gb_default();
    s.alignment = 0;
    EXPECT(s, QTF_E_ALIGNMENT, "general.alignment", "is 0", "power of two");
    s.alignment = 48;
    EXPECT(s, QTF_E_ALIGNMENT, "is 48");
    s.alignment = 1u << 31;
    EXPECT(s, QTF_E_ALIGNMENT, "is 2147483648");
}

Test(gguf_hostile, alignment_other_valid_values) {
    uint32_t values[] = { 1, 8, 64, 4096 };
    for (size_t i = 0; i < 4; i++) {
        gb_spec s = gb_default();
        s.alignment = values[i];
        gb b;
        gb_build(&b, &s);
        qtf_gguf *g;
        cr_assert_eq(qtf_gguf_open_memory(&g, b.p, b.len, "a.gguf", 0), QTF_OK, "%u: %s",
                     values[i], qtf_error_detail());
        cr_assert_eq(qtf_gguf_get_info(g)->alignment, values[i]);
        cr_assert_eq(qtf_gguf_get_info(g)->data_offset % values[i], 0);
        qtf_gguf_close(g);
        free(b.p);
    }
}

/* --- tensor infos ---------------------------------------------------------------------- */

Test(gguf_hostile, n_dims_above_4) {
    gb_spec s = gb_default();
    s.tensors[0].n_dims = 5;
    EXPECT(s, QTF_E_SHAPE, "tensor 'a'", "n_dims", "is 5", "at most 4");
    s.tensors[0].n_dims = 0xFFFFFFFFu;
    EXPECT(s, QTF_E_SHAPE, "is 4294967295");
}

Test(gguf_hostile, negative_ne) {
    gb_spec s = gb_default();
    s.tensors[0].ne[1] = (uint64_t)-2;
    EXPECT(s, QTF_E_SHAPE, "tensor 'a'", "ne[1]", "is -2", "expected >= 0");
}

Test(gguf_hostile, ne_product_overflows) {
    gb_spec s = gb_default();
    s.tensors[0].n_dims = 4;
    s.tensors[0].ne[0] = 1ull << 20;
    s.tensors[0].ne[1] = 1ull << 20;
    s.tensors[0].ne[2] = 1ull << 20;
    s.tensors[0].ne[3] = 1ull << 5; /* 2^65 */
    EXPECT(s, QTF_E_OVERFLOW, "tensor 'a'", "overflows");
}

Test(gguf_hostile, byte_size_overflows) {
    gb_spec s = gb_default();
    /* 2^62 F32 elements: the count fits int64, the byte size does not */
    s.tensors[0].ne[0] = 1ull << 31;
    s.tensors[0].ne[1] = 1ull << 31;
    EXPECT(s, QTF_E_OVERFLOW, "tensor 'a'", "byte size");
}

Test(gguf_hostile, row_not_multiple_of_block) {
    gb_spec s = gb_default();
    s.tensors[1].ne[0] = 33;
    EXPECT(s, QTF_E_SHAPE, "tensor 'b'", "ne[0] = 33", "Q8_0 block size 32");
}

Test(gguf_hostile, unknown_and_removed_type_ids) {
    uint32_t ids[] = { 4, 5, 31, 36, 40, 0xFFFFFFFFu };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        gb_spec s = gb_default();
        s.tensors[1].type = ids[i];
        char want[32];
        snprintf(want, sizeof want, "type id %" PRIu32, ids[i]);
        const char *const needles[] = { "tensor 'b'", want, "not known", NULL };
        expect(&s, QTF_E_UNKNOWN_ENCODING, needles);
    }
}

Test(gguf_hostile, tensor_name_too_long_empty_utf8) {
    gb_spec s = gb_default();
    s.tensors[0].name = "a_name_that_is_much_longer_than_the_sixty_three_bytes_ggml_allows";
    EXPECT(s, QTF_E_LIMIT, "tensor 0", "at most 63");
    s.tensors[0].name = "";
    EXPECT(s, QTF_E_UTF8, "name of tensor 0", "empty");
    s.tensors[0].name = "bad\xFF";
    EXPECT(s, QTF_E_UTF8, "not valid UTF-8");
}

Test(gguf_hostile, duplicate_tensor_name) {
    gb_spec s = gb_default();
    s.tensors[1].name = "a";
    s.tensors[1].type = 0;
    s.tensors[1].ne[0] = 8;
    s.tensors[1].nbytes = 32;
    EXPECT(s, QTF_E_DUPLICATE, "tensor 1", "named 'a'", "like tensor 0");
}

Test(gguf_hostile, offset_misaligned) {
    gb_spec s = gb_default();
    s.tensors[1].offset_delta = 4;
    EXPECT(s, QTF_E_OFFSET, "tensor 'b'", "data offset 68", "not a multiple of the alignment 32");
}

Test(gguf_hostile, offset_overlapping) {
    gb_spec s = gb_default();
    s.tensors[1].offset_delta = -32;
    EXPECT(s, QTF_E_OFFSET, "tensor 'b'", "data offset 32", "overlaps", "expected 64");
    s = gb_default();
    s.tensors[1].offset_delta = -64; /* aliasing tensor a */
    EXPECT(s, QTF_E_OFFSET, "tensor 'b'", "data offset 0", "overlaps");
}

Test(gguf_hostile, offset_hole_and_out_of_range) {
    gb_spec s = gb_default();
    s.tensors[1].offset_delta = 32;
    EXPECT(s, QTF_E_OFFSET, "tensor 'b'", "leaves a hole", "expected 64");
    s = gb_default();
    s.tensors[1].explicit_offset = 1;
    s.tensors[1].offset = 1ull << 40;
    EXPECT(s, QTF_E_OFFSET, "tensor 'b'", "beyond the end of the file");
    s.tensors[1].offset = UINT64_MAX - 31; /* offset + size wraps in naive readers */
    EXPECT(s, QTF_E_OFFSET, "tensor 'b'");
}

Test(gguf_hostile, tensor_data_beyond_file) {
    gb_spec s = gb_default();
    s.tensors[1].nbytes = 0; /* info says 34 bytes, none written */
    EXPECT(s, QTF_E_TRUNCATED, "tensor 'b'", "Q8_0, 34 bytes");
}

Test(gguf_hostile, trailing_bytes) {
    gb_spec s = gb_default();
    s.trailing = 32;
    EXPECT(s, QTF_E_OFFSET, "32 trailing bytes");
}

Test(gguf_hostile, zero_tensors_zero_elements) {
    gb_spec s = gb_default();
    s.n_tensors = 0;
    gb b;
    gb_build(&b, &s);
    char d[1024];
    cr_assert_eq(open_status(&b, d, sizeof d), QTF_OK, "%s", d);
    free(b.p);
    s = gb_default();
    s.tensors[0].ne[1] = 0;
    s.tensors[0].nbytes = 0;
    gb_build(&b, &s);
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open_memory(&g, b.p, b.len, "z.gguf", 0), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_tensor_get(g, 0)->n_elements, 0);
    cr_assert_eq(qtf_gguf_tensor_get(g, 1)->offset, 0);
    qtf_gguf_close(g);
    free(b.p);
}

/* --- truncation and memory ----------------------------------------------------------------- */

Test(gguf_hostile, truncation_at_every_byte) {
    gb_spec s = gb_default();
    gb b;
    gb_build(&b, &s);
    for (size_t len = 0; len < b.len; len++) {
        char d[1024];
        gb t = { b.p, len, len };
        qtf_status st = open_status(&t, d, sizeof d);
        cr_assert_eq(st, QTF_E_TRUNCATED, "prefix %zu of %zu: %s %s", len, b.len,
                     qtf_status_name(st), d);
    }
    free(b.p);
}

/* Many minimal records: the heap stays within the documented bound. */
static void many_small_kvs(gb *b) {
    for (unsigned i = 0; i < 20000; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%u", i);
        gb_key(b, key, GB_U8);
        gb_u8(b, 1);
    }
}

Test(gguf_hostile, heap_bound_with_many_records) {
    gb_spec s = gb_default();
    EXTRA(s, many_small_kvs, 20000);
    gb b;
    gb_build(&b, &s);
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open_memory(&g, b.p, b.len, "many.gguf", 0), QTF_OK, "%s",
                 qtf_error_detail());
    uint64_t h = qtf_gguf_get_info(g)->header_size;
    cr_assert_leq(qtf_gguf_heap_bytes(g), QTF_GGUF_HEAP_BOUND(h), "%" PRIu64 " > bound for %" PRIu64,
                  qtf_gguf_heap_bytes(g), h);
    qtf_gguf_close(g);
    free(b.p);
}

/* --- files on disk ---------------------------------------------------------------------- */

Test(gguf_hostile, not_a_regular_file) {
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, "/tmp", 0), QTF_E_IO);
    cr_assert(strstr(qtf_error_detail(), "not a regular file"));
    cr_assert_eq(qtf_gguf_open(&g, "/nonexistent/x.gguf", 0), QTF_E_IO);
    cr_assert_eq(qtf_gguf_file_is_gguf("/tmp"), 0);
}

Test(gguf_hostile, metadata_only_file_truncated_in_data) {
    gb_spec s = gb_default();
    gb b;
    gb_build(&b, &s);
    char path[] = "/tmp/qtf-gguf-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, b.p, b.len - 40), (ssize_t)(b.len - 40));
    close(fd);
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, path, QTF_GGUF_OPEN_METADATA_ONLY), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "tensor 'b'"), "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_open(&g, path, 0), QTF_E_TRUNCATED);
    cr_assert_eq(qtf_gguf_file_is_gguf(path), 1);
    unlink(path);
    free(b.p);
}

/* A header larger than the first read of a metadata-only open (64 KiB):
 * the private copy grows with pread, and values read afterwards are intact. */
static char big_value[300001];
static void kv_big(gb *b) {
    memset(big_value, 'x', sizeof big_value - 1);
    big_value[12345] = 'y';
    gb_key(b, "general.description", GB_STRING);
    gb_str(b, big_value);
}

Test(gguf_hostile, metadata_only_header_larger_than_first_read) {
    gb_spec s = gb_default();
    EXTRA(s, kv_big, 1);
    gb b;
    gb_build(&b, &s);
    char path[] = "/tmp/qtf-gguf-big-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, b.p, b.len), (ssize_t)b.len);
    close(fd);
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, path, QTF_GGUF_OPEN_METADATA_ONLY), QTF_OK, "%s",
                 qtf_error_detail());
    const char *v;
    uint64_t len;
    cr_assert_eq(qtf_gguf_get_string(&v, &len, g, "general.description"), QTF_OK);
    cr_assert_eq(len, sizeof big_value - 1);
    cr_assert_eq(v[12345], 'y');
    cr_assert_eq(v[len - 1], 'x');
    uint64_t idx;
    cr_assert_eq(qtf_gguf_tensor_find(&idx, g, "b"), QTF_OK);
    uint64_t h = qtf_gguf_get_info(g)->header_size;
    cr_assert_gt(h, 300000);
    cr_assert_leq(qtf_gguf_heap_bytes(g), QTF_GGUF_HEAP_BOUND(h) + 2 * h);
    qtf_gguf_close(g);
    /* cut inside the big value: truncated, named */
    cr_assert_eq(truncate(path, 200000), 0);
    cr_assert_eq(qtf_gguf_open(&g, path, QTF_GGUF_OPEN_METADATA_ONLY), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "key 'general.description'"), "%s", qtf_error_detail());
    unlink(path);
    free(b.p);
}
