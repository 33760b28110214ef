/* Metadata: every value type round trips, getters convert only when the
 * value fits, reserved keys keep their types, and the writer validates as
 * the reader does. */
#include <math.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include "support/container.h"
#include "support/files.h"

static char *dir, *path;
static void setup(void) {
    dir = tu_mkdtemp();
    path = tu_path(dir, "m.qtf");
}
static void teardown(void) {
    free(path);
    tu_rmtree(dir);
}
TestSuite(container_meta, .init = setup, .fini = teardown);

static qtf_file *reopen(qtf_writer *w, unsigned flags) {
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = flags;
    qtf_file *f;
    qtf_status st = qtf_file_open(&f, path, &o);
    cr_assert_eq(st, QTF_OK, "%s", qtf_error_detail());
    return f;
}

/* expect_T(f, key, want): the typed getter of `key` succeeds and reads
 * back `want`. */
#define EXPECT_GETTER(name, type, getter)                                              \
    static void name(const qtf_file *f, const char *key, type want) {                  \
        type got;                                                                      \
        cr_assert_eq(getter(&got, f, key), QTF_OK, "%s: %s", key, qtf_error_detail()); \
        cr_assert_eq(got, want, "%s", key);                                            \
    }
EXPECT_GETTER(expect_u64, uint64_t, qtf_meta_get_u64)
EXPECT_GETTER(expect_i64, int64_t, qtf_meta_get_i64)
EXPECT_GETTER(expect_f64, double, qtf_meta_get_f64)
EXPECT_GETTER(expect_bool, int, qtf_meta_get_bool)

Test(container_meta, every_scalar_type) {
    qtf_writer *w = ts_writer(path);
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int32_t i32 = -2000000000;
    float f32 = 1.5f;
    uint8_t t = 1;
    unsigned char le[2];
    cr_assert_eq(qtf_writer_set_value(w, "u8", QTF_TYPE_U8, 0, &u8, 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_value(w, "i8", QTF_TYPE_I8, 0, &i8, 1), QTF_OK);
    qtf__st16(le, u16);
    cr_assert_eq(qtf_writer_set_value(w, "u16", QTF_TYPE_U16, 0, le, 1), QTF_OK);
    qtf__st16(le, (uint16_t)i16);
    cr_assert_eq(qtf_writer_set_value(w, "i16", QTF_TYPE_I16, 0, le, 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_u32(w, "u32", 4000000000u), QTF_OK);
    cr_assert_eq(qtf_writer_set_value(w, "i32", QTF_TYPE_I32, 0, &i32, 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_value(w, "f32", QTF_TYPE_F32, 0, &f32, 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_value(w, "bool", QTF_TYPE_BOOL, 0, &t, 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_u64(w, "u64", UINT64_MAX), QTF_OK);
    cr_assert_eq(qtf_writer_set_i64(w, "i64", INT64_MIN), QTF_OK);
    cr_assert_eq(qtf_writer_set_f64(w, "f64", -0.1), QTF_OK);
    cr_assert_eq(qtf_writer_set_string(w, "str", "h\xC3\xA9llo", 6), QTF_OK);
    cr_assert_eq(qtf_writer_set_string(w, "empty", "", 0), QTF_OK);
    cr_assert_eq(qtf_writer_set_blob(w, "hf.file.config.json", "application/json", "{}", 2),
                 QTF_OK);
    cr_assert_eq(qtf_writer_set_bool(w, "bool2", 7), QTF_OK);
    qtf_file *f = reopen(w, 0);
    cr_assert_eq(qtf_meta_count(f), 15);
    cr_assert_str_eq(qtf_meta_key(f, 0), "u8");
    cr_assert_null(qtf_meta_key(f, 15));
    uint64_t u;
    int64_t i;
    double d;
    int b;
    expect_u64(f, "u8", 200);
    expect_i64(f, "i8", -100);
    expect_u64(f, "u16", 60000);
    expect_i64(f, "i16", -30000);
    expect_u64(f, "u32", 4000000000u);
    expect_i64(f, "i32", -2000000000);
    expect_f64(f, "f32", 1.5);
    expect_bool(f, "bool", 1);
    expect_bool(f, "bool2", 1);
    expect_u64(f, "u64", UINT64_MAX);
    expect_i64(f, "i64", INT64_MIN);
    expect_f64(f, "f64", -0.1);
    const char *s;
    uint64_t len;
    cr_assert_eq(qtf_meta_get_string(&s, &len, f, "str"), QTF_OK);
    cr_assert_eq(len, 6);
    cr_assert_eq(memcmp(s, "h\xC3\xA9llo", 6), 0);
    cr_assert_eq(qtf_meta_get_string(&s, &len, f, "empty"), QTF_OK);
    cr_assert_eq(len, 0);
    const void *blob;
    const char *mt;
    cr_assert_eq(qtf_meta_get_blob(&blob, &len, &mt, f, "hf.file.config.json"), QTF_OK);
    cr_assert_eq(len, 2);
    cr_assert_eq(memcmp(blob, "{}", 2), 0);
    cr_assert_str_eq(mt, "application/json");

    /* conversions only when the value fits; never an abort */
    cr_assert_eq(qtf_meta_get_i64(&i, f, "u64"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_meta_get_u64(&u, f, "i8"), QTF_E_TYPE_MISMATCH);
    expect_i64(f, "u32", 4000000000);
    cr_assert_eq(qtf_meta_get_u64(&u, f, "f32"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_meta_get_u64(&u, f, "bool"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_meta_get_f64(&d, f, "u8"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_meta_get_bool(&b, f, "u8"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_meta_get_string(&s, &len, f, "hf.file.config.json"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_meta_get_blob(&blob, &len, &mt, f, "str"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_meta_get_u64(&u, f, "missing"), QTF_E_NOT_FOUND);
    cr_assert_eq(qtf_meta_get_u64(NULL, f, "u8"), QTF_E_INVALID_ARG);
    qtf_value v;
    cr_assert_eq(qtf_meta_value(&v, f, 15), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_meta_value(&v, f, 5), QTF_OK);
    cr_assert_eq(v.type, QTF_TYPE_I32);
    cr_assert_eq(v.num.i64, -2000000000);
    qtf_file_close(f);
}

Test(container_meta, arrays) {
    qtf_writer *w = ts_writer(path);
    uint64_t sizes[3] = { 10, 20, 1ull << 40 };
    cr_assert_eq(qtf_writer_set_value(w, "qtf.source.sizes", QTF_TYPE_ARRAY, QTF_TYPE_U64, sizes,
                                      3), QTF_OK);
    const char *files[3] = { "a.safetensors", "", "c\xE2\x82\xAC" };
    cr_assert_eq(qtf_writer_set_string_array(w, "qtf.source.files", files, NULL, 3), QTF_OK);
    int16_t i16[4] = { -1, 2, -3, 4 };
    cr_assert_eq(qtf_writer_set_value(w, "i16s", QTF_TYPE_ARRAY, QTF_TYPE_I16, i16, 4), QTF_OK);
    uint8_t bools[3] = { 0, 1, 1 };
    cr_assert_eq(qtf_writer_set_value(w, "bools", QTF_TYPE_ARRAY, QTF_TYPE_BOOL, bools, 3), QTF_OK);
    cr_assert_eq(qtf_writer_set_value(w, "none", QTF_TYPE_ARRAY, QTF_TYPE_F32, NULL, 0), QTF_OK);
    cr_assert_eq(qtf_writer_set_string_array(w, "nostr", NULL, NULL, 0), QTF_OK);
    /* rejected */
    uint8_t two[2] = { 0, 2 };
    cr_assert_eq(qtf_writer_set_value(w, "b2", QTF_TYPE_ARRAY, QTF_TYPE_BOOL, two, 2), QTF_E_VALUE);
    cr_assert_eq(qtf_writer_set_value(w, "nest", QTF_TYPE_ARRAY, QTF_TYPE_ARRAY, two, 1), QTF_E_TYPE);
    cr_assert_eq(qtf_writer_set_value(w, "blobs", QTF_TYPE_ARRAY, QTF_TYPE_BLOB, two, 1), QTF_E_TYPE);
    cr_assert_eq(qtf_writer_set_value(w, "big", QTF_TYPE_ARRAY, QTF_TYPE_U8, two,
                                      QTF_MAX_ARRAY_LEN + 1), QTF_E_LIMIT);
    const char *bad[1] = { "\xED\xA0\x80" };
    cr_assert_eq(qtf_writer_set_string_array(w, "bad", bad, NULL, 1), QTF_E_UTF8);
    qtf_file *f = reopen(w, QTF_OPEN_METADATA_ONLY);
    uint64_t i;
    qtf_value v = ts_meta_array(f, "qtf.source.sizes", QTF_TYPE_U64, 3);
    cr_assert_eq(qtf__ld64((const unsigned char *)v.data + 16), 1ull << 40);
    cr_assert_eq(qtf_meta_find(&i, f, "qtf.source.files"), QTF_OK);
    const char *s;
    uint64_t len;
    cr_assert_eq(qtf_meta_array_string(&s, &len, f, i, 0), QTF_OK);
    cr_assert_eq(len, 13);
    cr_assert_eq(memcmp(s, "a.safetensors", 13), 0);
    cr_assert_eq(qtf_meta_array_string(&s, &len, f, i, 1), QTF_OK);
    cr_assert_eq(len, 0);
    cr_assert_eq(qtf_meta_array_string(&s, &len, f, i, 2), QTF_OK);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(s, "c\xE2\x82\xAC", 4), 0);
    cr_assert_eq(qtf_meta_array_string(&s, &len, f, i, 3), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_meta_find(&i, f, "i16s"), QTF_OK);
    cr_assert_eq(qtf_meta_array_string(&s, &len, f, i, 0), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_meta_value(&v, f, i), QTF_OK);
    cr_assert_eq((int16_t)qtf__ld16((const unsigned char *)v.data + 4), -3);
    cr_assert_eq(qtf_meta_find(&i, f, "bools"), QTF_OK);
    cr_assert_eq(qtf_meta_value(&v, f, i), QTF_OK);
    cr_assert_eq(((const uint8_t *)v.data)[2], 1);
    /* the element stride of an array's raw bytes */
    cr_assert_eq(qtf_type_size(v.elem_type), 1);
    cr_assert_eq(qtf_type_size(QTF_TYPE_I16), 2);
    cr_assert_eq(qtf_type_size(QTF_TYPE_F32), 4);
    cr_assert_eq(qtf_type_size(QTF_TYPE_U64), 8);
    cr_assert_eq(qtf_type_size(QTF_TYPE_F64), 8);
    cr_assert_eq(qtf_type_size(QTF_TYPE_STRING), 0);
    cr_assert_eq(qtf_type_size(QTF_TYPE_ARRAY), 0);
    cr_assert_eq(qtf_type_size(QTF_TYPE_BLOB), 0);
    cr_assert_eq(qtf_type_size((qtf_type)QTF_TYPE_COUNT_), 0);
    cr_assert_eq(qtf_meta_find(&i, f, "none"), QTF_OK);
    cr_assert_eq(qtf_meta_value(&v, f, i), QTF_OK);
    cr_assert_eq(v.count, 0);
    cr_assert_eq(qtf_meta_count(f), 6);
    qtf_file_close(f);
}

Test(container_meta, reserved_keys_and_key_rules) {
    qtf_writer *w = ts_writer(path);
    cr_assert_eq(qtf_writer_set_u32(w, "general.name", 1), QTF_E_TYPE);
    cr_assert_eq(qtf_writer_set_u32(w, "general.architecture", 1), QTF_E_TYPE);
    cr_assert_eq(qtf_writer_set_string(w, "hf.file.tokenizer.json", "x", 1), QTF_E_TYPE);
    uint32_t u32s[1] = { 1 };
    cr_assert_eq(qtf_writer_set_value(w, "qtf.source.sizes", QTF_TYPE_ARRAY, QTF_TYPE_U32, u32s, 1),
                 QTF_E_TYPE);
    cr_assert_eq(qtf_writer_set_u64(w, "qtf.source.files", 1), QTF_E_TYPE);
    cr_assert_eq(qtf_writer_set_blob(w, "qtf.recipe", "text/plain", "x", 1), QTF_E_TYPE);
    /* other qtf.* / general.* keys: reserved for future definition, any type */
    cr_assert_eq(qtf_writer_set_u32(w, "qtf.future", 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_u32(w, "general.quantization_version", 2), QTF_OK);
    cr_assert_eq(qtf_writer_set_string(w, "qtf.recipe", "int4", 4), QTF_OK);
    cr_assert_eq(qtf_writer_set_string(w, "qtf.recipe", "int8", 4), QTF_E_DUPLICATE);
    cr_assert_eq(qtf_writer_set_u32(w, "", 1), QTF_E_UTF8);
    cr_assert_eq(qtf_writer_set_u32(w, "\xC0\x80", 1), QTF_E_UTF8);
    cr_assert_eq(qtf_writer_set_u32(w, "\xF4\x90\x80\x80", 1), QTF_E_UTF8);
    char key[QTF_MAX_KEY_LEN + 2];
    memset(key, 'k', sizeof key);
    key[QTF_MAX_KEY_LEN] = '\0';
    cr_assert_eq(qtf_writer_set_u32(w, key, 1), QTF_OK);
    key[QTF_MAX_KEY_LEN] = 'k';
    key[QTF_MAX_KEY_LEN + 1] = '\0';
    cr_assert_eq(qtf_writer_set_u32(w, key, 1), QTF_E_LIMIT);
    cr_assert_eq(qtf_writer_set_string(w, "nul", "a\0b", 3), QTF_E_UTF8);
    cr_assert_eq(qtf_writer_set_string(w, "bad", "\xFF", 1), QTF_E_UTF8);
    cr_assert_eq(qtf_writer_set_blob(w, "b0", "", "x", 1), QTF_E_VALUE);
    cr_assert_eq(qtf_writer_set_blob(w, "b1", "text/\x01", "x", 1), QTF_E_VALUE);
    char mt[QTF_MAX_MEDIA_TYPE_LEN + 2];
    memset(mt, 'm', sizeof mt - 1);
    mt[sizeof mt - 1] = '\0';
    cr_assert_eq(qtf_writer_set_blob(w, "b2", mt, "x", 1), QTF_E_LIMIT);
    cr_assert_eq(qtf_writer_set_value(w, "s", QTF_TYPE_STRING, 0, "x", 1), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_writer_set_value(w, "t", (qtf_type)14, 0, "x", 1), QTF_E_TYPE);
    uint8_t two = 2;
    cr_assert_eq(qtf_writer_set_value(w, "b", QTF_TYPE_BOOL, 0, &two, 1), QTF_E_VALUE);
    /* Element types and metadata types are disjoint numbers: a QTF_DTYPE_*
     * given as a metadata type (or the other way round) is refused, where
     * QTF_DTYPE_F32 (1) used to be stored as an i8. The casts stand for a
     * caller who ignored -Wenum-conversion. */
    float one = 1.0f;
    cr_assert_eq(qtf_writer_set_value(w, "f", (qtf_type)QTF_DTYPE_F32, 0, &one, 1), QTF_E_TYPE);
    cr_assert(strstr(qtf_error_detail(), "an element type") != NULL, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_value(w, "a", QTF_TYPE_ARRAY, (qtf_type)QTF_DTYPE_U8, &two, 1),
                 QTF_E_TYPE);
    cr_assert_eq(qtf_dtype_size((qtf_dtype)QTF_TYPE_F32), 0);
    cr_assert_eq(qtf_type_size((qtf_type)QTF_DTYPE_F32), 0);
    cr_assert_str_eq(qtf_type_name((qtf_type)QTF_DTYPE_F32), "?");
    float dst[1];
    cr_assert_eq(qtf_convert_to_f32(dst, &one, (qtf_dtype)QTF_TYPE_F32, 1), QTF_E_TYPE);
    /* the file's codes are the spec's (GGUF's) numbers */
    cr_assert_eq(qtf_type_code(QTF_TYPE_U8), 0);
    cr_assert_eq(qtf_type_code(QTF_TYPE_F64), 12);
    cr_assert_eq(qtf_type_code(QTF_TYPE_BLOB), 13);
    cr_assert_eq(qtf_type_code((qtf_type)QTF_DTYPE_F32), UINT32_MAX);
    cr_assert_eq(qtf_type_from_code(8), QTF_TYPE_STRING);
    cr_assert_eq(qtf_type_code(qtf_type_from_code(14)), UINT32_MAX);
    qtf_file *f = reopen(w, 0);
    cr_assert_eq(qtf_meta_count(f), 4);
    const char *s;
    uint64_t len;
    cr_assert_eq(qtf_meta_get_string(&s, &len, f, "qtf.recipe"), QTF_OK);
    cr_assert_eq(memcmp(s, "int4", 4), 0);
    qtf_file_close(f);
}

Test(container_meta, large_values) {
    qtf_writer *w = ts_writer(path);
    size_t n = 3u << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    cr_assert_eq(qtf_writer_set_string(w, "general.description", big, n), QTF_OK);
    cr_assert_eq(qtf_writer_set_blob(w, "hf.file.tokenizer.json", "application/json", big, n),
                 QTF_OK);
    enum { COUNT = 50000 };
    char **strs = malloc(COUNT * sizeof *strs);
    for (int i = 0; i < COUNT; i++) {
        strs[i] = malloc(16);
        snprintf(strs[i], 16, "tok%d", i);
    }
    cr_assert_eq(qtf_writer_set_string_array(w, "tokens", (const char *const *)strs, NULL, COUNT),
                 QTF_OK);
    qtf_file *f = reopen(w, QTF_OPEN_NO_MMAP);
    const char *s;
    uint64_t len, i;
    cr_assert_eq(qtf_meta_get_string(&s, &len, f, "general.description"), QTF_OK);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(s, big, n), 0);
    cr_assert_eq(qtf_meta_find(&i, f, "tokens"), QTF_OK);
    for (int j = COUNT - 1; j >= 0; j -= 997) {
        cr_assert_eq(qtf_meta_array_string(&s, &len, f, i, (uint64_t)j), QTF_OK);
        cr_assert_eq(len, strlen(strs[j]));
        cr_assert_eq(memcmp(s, strs[j], len), 0);
    }
    qtf_file_close(f);
    for (int j = 0; j < COUNT; j++) free(strs[j]);
    free(strs);
    free(big);
}

Test(container_meta, nan_and_special_floats_round_trip) {
    qtf_writer *w = ts_writer(path);
    cr_assert_eq(qtf_writer_set_f64(w, "nan", NAN), QTF_OK);
    cr_assert_eq(qtf_writer_set_f64(w, "inf", -INFINITY), QTF_OK);
    qtf_file *f = reopen(w, 0);
    double d;
    cr_assert_eq(qtf_meta_get_f64(&d, f, "nan"), QTF_OK);
    cr_assert(isnan(d));
    cr_assert_eq(qtf_meta_get_f64(&d, f, "inf"), QTF_OK);
    cr_assert(isinf(d) && d < 0);
    qtf_file_close(f);
}

/* --- editing --------------------------------------------------------------- */

static void write_editable(void) {
    qtf_writer *w = ts_writer(path);
    cr_assert_eq(qtf_writer_set_string(w, "general.name", "before", 6), QTF_OK);
    cr_assert_eq(qtf_writer_set_u32(w, "keep", 7), QTF_OK);
    cr_assert_eq(qtf_writer_set_string(w, "chat_template", "{{old}}", 7), QTF_OK);
    float v[300];
    for (int i = 0; i < 300; i++) v[i] = (float)(i % 7);
    uint64_t dims[2] = { 3, 100 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "a", 2, dims, &f32, v, sizeof v, 0), QTF_OK);
    cr_assert_eq(tu_add(w, "b", 2, dims, &f32, v, sizeof v, 3), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
}

/* Keeps "keep", replaces the others, adds a tensor. */
static qtf_status edit(const char *dst, const qtf_file *src) {
    qtf_writer *w;
    qtf_status st = qtf_writer_create_edit(&w, dst, src, NULL);
    if (st) return st;
    uint64_t keep;
    cr_assert_eq(qtf_meta_find(&keep, src, "keep"), QTF_OK);
    float c[4] = { 9, 8, 7, 6 };
    uint64_t dims[1] = { 4 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    if (!st) st = qtf_writer_copy_meta(w, src, keep);
    if (!st) st = qtf_writer_set_string(w, "general.name", "after", 5);
    if (!st) st = qtf_writer_set_string(w, "chat_template", "{{new template}}", 16);
    if (!st) st = tu_add(w, "c", 1, dims, &f32, c, sizeof c, 0);
    if (st) {
        qtf_writer_abort(w);
        return st;
    }
    return qtf_writer_finish(w);
}

static void check_edited(const char *p, const unsigned char *orig, uint64_t orig_doff,
                         uint64_t orig_dsize) {
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, p, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_file_verify(f, 2, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_count(f), 3);
    cr_assert_eq(qtf_meta_count(f), 3);
    cr_assert_str_eq(qtf_meta_key(f, 0), "keep");
    expect_u64(f, "keep", 7);
    const char *s;
    uint64_t len;
    cr_assert_eq(qtf_meta_get_string(&s, &len, f, "general.name"), QTF_OK);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(s, "after", 5), 0);
    uint64_t idx;
    cr_assert_eq(qtf_tensor_find(&idx, f, "c"), QTF_OK);
    float c[4];
    cr_assert_eq(qtf_tensor_dequantize(c, QTF_DTYPE_F32, 4, f, idx, 1), QTF_OK);
    cr_assert_eq(c[3], 6.0f);
    /* the original data section is unchanged, byte for byte, at the same place */
    const qtf_file_info *in = qtf_file_get_info(f);
    cr_assert_eq(in->data_offset, orig_doff);
    const void *d;
    cr_assert_eq(qtf_part_data(&d, f, 0, 0), QTF_OK);
    cr_assert_eq(memcmp((const unsigned char *)d - qtf_tensor_get(f, 0)->parts[0].offset + orig_doff,
                        orig + orig_doff, (size_t)orig_dsize), 0);
    float a[300];
    cr_assert_eq(qtf_tensor_dequantize(a, QTF_DTYPE_F32, 300, f, 1, 1), QTF_OK);
    cr_assert_eq(a[299], (float)(299 % 7));
    qtf_file_close(f);
}

Test(container_meta, edit_in_place_keeps_data) {
    write_editable();
    size_t len;
    unsigned char *orig = tu_read(path, &len);
    uint64_t doff = qtf__ld64(orig + H_DOFF), dsize = qtf__ld64(orig + H_DSIZE);
    qtf_file *src;
    cr_assert_eq(qtf_file_open(&src, path, NULL), QTF_OK);
    cr_assert_eq(edit(path, src), QTF_OK, "%s", qtf_error_detail());
    /* src still reads the old inode through its mapping */
    cr_assert_eq(qtf_file_verify(src, 1, NULL), QTF_OK);
    qtf_file_close(src);
    check_edited(path, orig, doff, dsize);
    cr_assert_eq(tu_dir_entries(dir), 1);
    free(orig);
}

Test(container_meta, edit_sources) {
    write_editable();
    size_t len;
    unsigned char *orig = tu_read(path, &len);
    uint64_t doff = qtf__ld64(orig + H_DOFF), dsize = qtf__ld64(orig + H_DSIZE);
    char *out = tu_path(dir, "out.qtf");
    /* metadata-only source: data comes from the reopened file */
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = QTF_OPEN_METADATA_ONLY;
    qtf_file *src;
    cr_assert_eq(qtf_file_open(&src, path, &o), QTF_OK);
    cr_assert_eq(edit(out, src), QTF_OK, "%s", qtf_error_detail());
    qtf_file_close(src);
    check_edited(out, orig, doff, dsize);
    /* memory source whose name is not a file: data comes from the buffer */
    cr_assert_eq(qtf_file_open_memory(&src, orig, len, "not-a-file", NULL), QTF_OK);
    cr_assert_eq(edit(out, src), QTF_OK, "%s", qtf_error_detail());
    qtf_file_close(src);
    check_edited(out, orig, doff, dsize);
    /* ...and metadata-only from memory has no data at all */
    cr_assert_eq(qtf_file_open_memory(&src, orig, len, "not-a-file", &o), QTF_OK);
    cr_assert_eq(edit(out, src), QTF_E_STATE);
    /* a source whose file changed since it was opened is not trusted */
    qtf_file_close(src);
    cr_assert_eq(qtf_file_open_memory(&src, orig, len, path, &o), QTF_OK);
    unsigned char *other = malloc(len);
    memcpy(other, orig, len);
    other[120] ^= 1;
    tu_write(path, other, len);
    cr_assert_eq(edit(out, src), QTF_E_STATE);
    qtf_file_close(src);
    free(other);
    free(out);
    free(orig);
}

Test(container_meta, edit_rules) {
    write_editable();
    qtf_file *src;
    cr_assert_eq(qtf_file_open(&src, path, NULL), QTF_OK);
    char *out = tu_path(dir, "o.qtf");
    qtf_writer *w;
    qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
    wo.alignment = 128;
    cr_assert_eq(qtf_writer_create_edit(&w, out, src, &wo), QTF_E_ALIGNMENT);
    cr_assert_eq(qtf_writer_create_edit(&w, out, src, NULL), QTF_OK);
    cr_assert_eq(qtf_writer_copy_meta(w, src, 0), QTF_OK);
    cr_assert_eq(qtf_writer_copy_meta(w, src, 0), QTF_E_DUPLICATE);
    cr_assert_eq(qtf_writer_copy_meta(w, src, 3), QTF_E_INVALID_ARG);
    float v[300] = { 0 };
    uint64_t dims[2] = { 3, 100 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "a", 2, dims, &f32, v, sizeof v, 0), QTF_E_DUPLICATE);
    qtf_writer_abort(w);
    cr_assert_eq(tu_dir_entries(dir), 1);
    /* allocation failures anywhere in an edit: clean error, nothing left */
    long n;
    for (n = 0; n < 10000; n++) {
        qtf__test_fail_alloc_after(n);
        qtf_status st = edit(out, src);
        qtf__test_fail_alloc_after(-1);
        if (st == QTF_OK) break;
        cr_assert_eq(st, QTF_E_NOMEM, "allocation %ld: %s", n, qtf_status_name(st));
        cr_assert_eq(tu_dir_entries(dir), 1);
    }
    cr_assert_gt(n, 5);
    qtf_file_close(src);
    free(out);
}
