/* safetensors header rules (one failing case per rule, each asserting the
 * status and a detail naming the file and tensor) and the streaming writer. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include "support/source.h"
#include "support/container.h"
#include "support/files.h"

#include "checkpoint/source.h"
#include "checkpoint/source_internal.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmtree(dir); }
TestSuite(safetensors, .init = setup, .fini = teardown);

/* A file image: u64 N, the JSON, then data_size bytes (0, 1, 2, ...). */
static unsigned char *image(const char *json, size_t data_size, size_t *len) {
    size_t n = strlen(json);
    *len = 8 + n + data_size;
    unsigned char *b = malloc(*len);
    qtf__st64(b, n);
    memcpy(b + 8, json, n);
    for (size_t i = 0; i < data_size; i++) b[8 + n + i] = (unsigned char)i;
    return b;
}

static qtf_status parse(const char *json, size_t data_size, qtf__st_header *h) {
    size_t len;
    unsigned char *b = image(json, data_size, &len);
    qtf_status st = qtf__st_parse_memory(h, "t.safetensors", b, len);
    free(b);
    return st;
}

static void expect_fail(const char *json, size_t data_size, qtf_status want, const char *needle1,
                        const char *needle2) {
    qtf__st_header h;
    qtf_status st = parse(json, data_size, &h);
    cr_assert_eq(st, want, "got %s (%s), want %s", qtf_status_name(st), qtf_error_detail(),
                 qtf_status_name(want));
    const char *d = qtf_error_detail();
    cr_assert(strstr(d, "t.safetensors"), "detail names the file: %s", d);
    if (needle1) cr_assert(strstr(d, needle1), "detail '%s' lacks '%s'", d, needle1);
    if (needle2) cr_assert(strstr(d, needle2), "detail '%s' lacks '%s'", d, needle2);
}

Test(safetensors, valid_header_sorted_by_offset_with_metadata) {
    const char *json =
        "{\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]},"
        "\"__metadata__\":{\"format\":\"pt\",\"x\":\"y\"},"
        "\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]},"
        "\"empty\":{\"dtype\":\"I64\",\"shape\":[0,5],\"data_offsets\":[24,24]},"
        "\"scalar\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[24,25]}}   ";
    qtf__st_header h;
    cr_assert_eq(parse(json, 25, &h), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(h.n_entries, 4);
    cr_assert_str_eq(h.entries[0].name, "a");
    cr_assert_eq(h.entries[0].dtype, QTF_DTYPE_BF16);
    cr_assert_str_eq(h.entries[1].name, "b");
    cr_assert_eq(h.entries[1].n_dims, 2);
    cr_assert_eq(h.entries[1].dims[1], 2);
    cr_assert_str_eq(h.entries[2].name, "empty", "zero-size tensor sorts before the scalar");
    cr_assert_eq(h.entries[2].begin, 24);
    cr_assert_eq(h.entries[2].end, 24);
    cr_assert_str_eq(h.entries[3].name, "scalar");
    cr_assert_eq(h.entries[3].n_dims, 0);
    cr_assert_eq(h.n_meta, 2);
    cr_assert_str_eq(h.meta_keys[0], "format");
    cr_assert_str_eq(h.meta_values[0], "pt");
    cr_assert_eq(h.data_start, 8 + strlen(json));
    qtf__st_header_free(&h);
}

Test(safetensors, header_length_above_100MB) {
    unsigned char b[16] = {0};
    qtf__st64(b, 100000001);
    qtf__st_header h;
    cr_assert_eq(qtf__st_parse_memory(&h, "t.safetensors", b, sizeof b), QTF_E_LIMIT);
    cr_assert(strstr(qtf_error_detail(), "100000001"), "%s", qtf_error_detail());
}

Test(safetensors, header_length_past_end_of_file) {
    size_t len;
    unsigned char *b = image("{}", 0, &len);
    qtf__st64(b, 3); /* 3 + 8 > 10 */
    qtf__st_header h;
    cr_assert_eq(qtf__st_parse_memory(&h, "t.safetensors", b, len), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "exceeds the file size 10"), "%s", qtf_error_detail());
    cr_assert_eq(qtf__st_parse_memory(&h, "t.safetensors", b, 7), QTF_E_TRUNCATED);
    free(b);
}

Test(safetensors, invalid_json_and_non_object) {
    expect_fail("{\"a\":", 0, QTF_E_PARSE, "invalid", NULL);
    expect_fail("[1, 2]", 0, QTF_E_PARSE, "must be a JSON object", NULL);
    expect_fail("{\"a\":{}}\x01", 0, QTF_E_PARSE, "invalid", NULL);
}

Test(safetensors, duplicate_keys) {
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                2, QTF_E_PARSE, "duplicate", NULL);
}

Test(safetensors, hole_between_tensors) {
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}",
                5, QTF_E_OFFSET, "tensor 'b': data_offsets begin at 3, expected 2", "a hole");
}

Test(safetensors, hole_at_start) {
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, QTF_E_OFFSET,
                "tensor 'a': data starts at 1, expected 0", NULL);
}

Test(safetensors, overlapping_tensors) {
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
                4, QTF_E_OFFSET, "expected 4 where tensor 'a' ends", "overlap");
}

Test(safetensors, trailing_bytes_after_last_tensor) {
    expect_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 6,
                QTF_E_OFFSET, "2 trailing bytes", NULL);
}

Test(safetensors, data_region_too_short) {
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
                QTF_E_TRUNCATED, "need 16 data bytes", "holds 12");
}

Test(safetensors, byte_size_differs_from_shape) {
    expect_fail("{\"w\":{\"dtype\":\"F16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}", 8,
                QTF_E_SHAPE, "tensor 'w'", "hold 8 bytes, expected 12 (6 elements of F16)");
}

Test(safetensors, shape_product_overflows) {
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                "\"data_offsets\":[0,0]}}", 0, QTF_E_OVERFLOW, "tensor 'w'", "overflows");
    expect_fail("{\"w\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],"
                "\"data_offsets\":[0,0]}}", 0, QTF_E_OVERFLOW, "tensor 'w'", "8 bytes");
}

Test(safetensors, negative_and_fractional_values) {
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1,
                QTF_E_OFFSET, "tensor 'w': data_offsets[0]", "negative integer");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1.0]}}", 1,
                QTF_E_OFFSET, "data_offsets[1]", "non-integer");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1,
                QTF_E_SHAPE, "shape[0]", "non-integer");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[-2],\"data_offsets\":[0,1]}}", 1,
                QTF_E_SHAPE, "shape[0]", "negative");
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}", 1,
                QTF_E_OFFSET, "ends before it begins", NULL);
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 1,
                QTF_E_OFFSET, "[begin, end]", NULL);
}

Test(safetensors, integers_above_2_53_are_exact) {
    /* A double would read 9007199254740993 as ...992. */
    qtf__st_header h;
    cr_assert_eq(parse("{\"e\":{\"dtype\":\"U8\",\"shape\":[9007199254740993,0],"
                       "\"data_offsets\":[0,0]}}", 0, &h), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(h.entries[0].dims[0], 9007199254740993ull);
    qtf__st_header_free(&h);
    expect_fail("{\"e\":{\"dtype\":\"U8\",\"shape\":[9007199254740993],"
                "\"data_offsets\":[0,9007199254740993]}}", 0, QTF_E_TRUNCATED,
                "need 9007199254740993 data bytes", NULL);
    /* Beyond int64: refused by the JSON layer rather than rounded. */
    expect_fail("{\"e\":{\"dtype\":\"U8\",\"shape\":[18446744073709551615],"
                "\"data_offsets\":[0,0]}}", 0, QTF_E_PARSE, "invalid", NULL);
}

Test(safetensors, unknown_dtype_names_tensor_and_dtype) {
    expect_fail("{\"w\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1,
                QTF_E_TYPE, "tensor 'w'", "dtype 'F4' is not supported");
    expect_fail("{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,1]}}", 1, QTF_E_TYPE,
                "dtype must be a string", NULL);
}

Test(safetensors, every_supported_dtype_has_its_size) {
    static const char *names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8",
                                  "BOOL", "F8_E4M3", "F8_E5M2"};
    static const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1, 1, 1};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        char json[160];
        snprintf(json, sizeof json,
                 "{\"t\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%zu]}}", names[k],
                 3 * sizes[k]);
        qtf__st_header h;
        cr_assert_eq(parse(json, 3 * sizes[k], &h), QTF_OK, "%s: %s", names[k],
                     qtf_error_detail());
        cr_assert_str_eq(qtf_dtype_name(h.entries[0].dtype), names[k]);
        qtf__st_header_free(&h);
    }
}

Test(safetensors, entry_structure_errors) {
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, QTF_E_PARSE,
                "missing field 'data_offsets'", NULL);
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 1,
                QTF_E_PARSE, "unexpected field 'x'", NULL);
    expect_fail("{\"w\":[1]}", 0, QTF_E_TYPE, "tensor 'w'", "found an array");
    expect_fail("{\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, QTF_E_UTF8,
                "empty name", NULL);
    expect_fail("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                "\"data_offsets\":[0,1]}}", 1, QTF_E_LIMIT, "9 dimensions", NULL);
    expect_fail("{\"__metadata__\":{\"k\":1}}", 0, QTF_E_TYPE, "__metadata__['k']", NULL);
    expect_fail("{\"__metadata__\":[]}", 0, QTF_E_TYPE, "__metadata__ must be an object", NULL);
    expect_fail("{\"w\\u0000x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
                QTF_E_PARSE, "invalid", NULL);
}

Test(safetensors, every_truncation_of_a_valid_file_is_refused) {
    size_t len;
    unsigned char *b = image("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} ",
                             8, &len);
    for (size_t cut = 0; cut < len; cut++) {
        qtf__st_header h;
        qtf_status st = qtf__st_parse_memory(&h, "t.safetensors", b, cut);
        cr_assert_neq(st, QTF_OK, "prefix of %zu bytes accepted", cut);
    }
    qtf__st_header h;
    cr_assert_eq(qtf__st_parse_memory(&h, "t.safetensors", b, len), QTF_OK);
    qtf__st_header_free(&h);
    free(b);
}

Test(safetensors, file_errors_name_the_path) {
    char *p = tu_path(dir, "bad.safetensors");
    size_t len;
    unsigned char *b = image("{\"w\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}", 2,
                             &len);
    tu_write(p, b, len);
    qtf_source *s = NULL;
    cr_assert_eq(qtf_source_open(&s, p), QTF_E_TRUNCATED);
    cr_assert_null(s);
    cr_assert(strstr(qtf_error_detail(), p), "%s", qtf_error_detail());
    free(b);
    free(p);
}

/* --- writer ----------------------------------------------------------------- */

Test(safetensors, writer_round_trip_is_byte_identical) {
    char *p = tu_path(dir, "out.safetensors");
    qtf_st_writer *w = ts_st_writer(p);
    uint64_t d1[2] = {3, 5}, d2[1] = {7}, d3[2] = {0, 4};
    cr_assert_eq(qtf_st_writer_declare(w, "z.weight", QTF_DTYPE_BF16, 2, d1), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(w, "a.bias", QTF_DTYPE_F32, 1, d2), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(w, "empty", QTF_DTYPE_I64, 2, d3), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(w, "a.bias", QTF_DTYPE_F32, 1, d2), QTF_E_DUPLICATE);
    cr_assert_eq(qtf_st_writer_declare(w, "__metadata__", QTF_DTYPE_F32, 1, d2), QTF_E_VALUE);
    cr_assert_eq(qtf_st_writer_metadata(w, "format", "pt"), QTF_OK);
    unsigned char x[30], y[28];
    for (int i = 0; i < 30; i++) x[i] = (unsigned char)(i * 7 + 1);
    for (int i = 0; i < 28; i++) y[i] = (unsigned char)(200 - i);
    cr_assert_eq(qtf_st_writer_write(w, x, 29), QTF_E_INVALID_ARG, "size must match");
    cr_assert_eq(qtf_st_writer_write(w, x, 30), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_st_writer_metadata(w, "late", "x"), QTF_E_STATE);
    cr_assert_eq(access(p, F_OK), -1, "nothing at the destination before finish");
    cr_assert_eq(qtf_st_writer_write(w, y, 28), QTF_OK);
    cr_assert_eq(qtf_st_writer_write(w, NULL, 0), QTF_OK);
    cr_assert_eq(qtf_st_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(tu_dir_entries(dir), 1, "no temporary file left");

    size_t len;
    unsigned char *b = tu_read(p, &len);
    uint64_t n = qtf__ld64(b);
    cr_assert_eq(n % 8, 0, "header padded to a multiple of 8");
    cr_assert_eq(len, 8 + n + 58);
    const char *head = "{\"__metadata__\":{\"format\":\"pt\"},\"z.weight\"";
    cr_assert_eq(memcmp(b + 8, head, strlen(head)), 0,
                 "__metadata__ first, then declaration order: %.60s", b + 8);
    uint64_t last = 8 + n - 1;
    while (b[last] == ' ') last--;
    cr_assert_eq(b[last], '}', "only spaces pad the JSON");
    cr_assert_eq(memcmp(b + 8 + n, x, 30), 0);
    cr_assert_eq(memcmp(b + 8 + n + 30, y, 28), 0);
    free(b);

    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_tensor_count(s), 3);
    uint64_t i;
    cr_assert_eq(qtf_source_tensor_find(&i, s, "z.weight"), QTF_OK);
    unsigned char back[30];
    cr_assert_eq(qtf_source_read_raw(back, 30, s, i), QTF_OK);
    cr_assert_eq(memcmp(back, x, 30), 0);
    cr_assert_eq(qtf_source_tensor_find(&i, s, "a.bias"), QTF_OK);
    cr_assert_eq(qtf_source_read_raw(back, 28, s, i), QTF_OK);
    cr_assert_eq(memcmp(back, y, 28), 0);
    cr_assert_eq(qtf_source_tensor_find(&i, s, "empty"), QTF_OK);
    cr_assert_eq(qtf_source_tensor_get(s, i)->nbytes, 0);
    qtf_source_close(s);
    free(p);
}

Test(safetensors, writer_failure_leaves_nothing) {
    char *p = tu_path(dir, "never.safetensors");
    qtf_st_writer *w = ts_st_writer(p);
    uint64_t d[1] = {4};
    cr_assert_eq(qtf_st_writer_declare(w, "a", QTF_DTYPE_F32, 1, d), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(w, "b", QTF_DTYPE_F32, 1, d), QTF_OK);
    float v[4] = {1, 2, 3, 4};
    cr_assert_eq(qtf_st_writer_write(w, v, 16), QTF_OK);
    cr_assert_eq(qtf_st_writer_finish(w), QTF_E_STATE, "one tensor missing");
    cr_assert(strstr(qtf_error_detail(), "1 of 2"), "%s", qtf_error_detail());
    cr_assert_eq(tu_dir_entries(dir), 0, "neither the file nor its temp file remains");

    /* An existing file at the destination survives an abort. */
    tu_write(p, "keep", 4);
    cr_assert_eq(qtf_st_writer_create(&w, p, NULL), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(w, "a", QTF_DTYPE_F32, 1, d), QTF_OK);
    cr_assert_eq(qtf_st_writer_write(w, v, 16), QTF_OK);
    qtf_st_writer_abort(w);
    size_t len;
    unsigned char *b = tu_read(p, &len);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(b, "keep", 4), 0);
    cr_assert_eq(tu_dir_entries(dir), 1);
    free(b);
    char *bad = tu_path(dir, "no/such/dir.safetensors");
    cr_assert_eq(qtf_st_writer_create(&w, bad, NULL), QTF_E_IO);
    free(bad);
    free(p);
}

Test(safetensors, writer_empty_file_is_valid) {
    char *p = tu_path(dir, "empty.safetensors");
    ts_write_safetensors(p, NULL, 0);
    size_t len;
    unsigned char *b = tu_read(p, &len);
    cr_assert_eq(len, 16);
    cr_assert_eq(memcmp(b + 8, "{}      ", 8), 0);
    free(b);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_tensor_count(s), 0);
    qtf_source_close(s);
    free(p);
}

Test(safetensors, writer_names_and_types) {
    char *p = tu_path(dir, "names.safetensors");
    qtf_st_writer *w = ts_st_writer(p);
    uint64_t d[1] = {2};
    cr_assert_eq(qtf_st_writer_declare(w, "caf\xc3\xa9.w\"q", QTF_DTYPE_F16, 1, d), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(w, "bad\xff", QTF_DTYPE_F16, 1, d), QTF_E_UTF8);
    cr_assert_eq(qtf_st_writer_declare(w, "", QTF_DTYPE_F16, 1, d), QTF_E_UTF8);
    cr_assert_eq(qtf_st_writer_declare(w, "e8", QTF_DTYPE_E8M0, 1, d), QTF_E_TYPE,
                 "no safetensors spelling for E8M0");
    cr_assert(strstr(qtf_error_detail(), "E8M0"), "%s", qtf_error_detail());
    uint16_t v[2] = {0x3C00, 0xC000};
    cr_assert_eq(qtf_st_writer_write(w, v, 4), QTF_OK);
    cr_assert_eq(qtf_st_writer_write(w, v, 4), QTF_E_STATE, "nothing more was declared");
    cr_assert_eq(qtf_st_writer_finish(w), QTF_OK, "a refused call changes nothing: %s",
                 qtf_error_detail());
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    uint64_t i;
    cr_assert_eq(qtf_source_tensor_find(&i, s, "caf\xc3\xa9.w\"q"), QTF_OK,
                 "escaped JSON names read back as the same bytes");
    float f[2];
    cr_assert_eq(qtf_source_read_f32(f, 2, s, i, 1), QTF_OK);
    cr_assert_eq(f[0], 1.0f);
    cr_assert_eq(f[1], -2.0f);
    qtf_source_close(s);
    free(p);
}

Test(safetensors, tiny_and_empty_files) {
    char *p = tu_path(dir, "zero.safetensors");
    tu_write(p, "", 0);
    qtf_source *s = NULL;
    cr_assert_eq(qtf_source_open(&s, p), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "0 bytes, too short"), "%s", qtf_error_detail());
    tu_write(p, "\x01\x00\x00\x00\x00\x00\x00\x00{", 9);
    cr_assert_eq(qtf_source_open(&s, p), QTF_E_PARSE);
    cr_assert(strstr(qtf_error_detail(), "too small for a JSON object"), "%s",
              qtf_error_detail());
    free(p);
}
