/* tests/test_api.c — the public API is hard to misuse: one place for a
 * tensor's zstd level (the directory never says "plain" for a compressed
 * part, nor the reverse), option structs of any older version accepted and
 * unknown ones refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qtf.h"
#include "support/container.h"
#include "support/files.h"

/* The file of every test, in this process's temp folder. */
static const char *path;
static void setup(void) { path = test_tmpdir_path("api.qtf"); }
TestSuite(api, .init = setup, .fini = test_tmpdir_remove);

static qtf_status add(qtf_writer *w, const char *name, const char *enc_text, int desc_level) {
    static float x[4 * 64];
    for (int i = 0; i < 4 * 64; i++) x[i] = (float)(i % 13) - 6.0f;
    uint64_t dims[2] = { 4, 64 };
    qtf_encoding e = ts_parse(enc_text);
    return ts_add_quantized(w, name, &e, x, 2, dims, QTF_DTYPE_NONE, desc_level);
}

Test(api, zstd_level_lives_in_one_place) {
    qtf_writer *w = ts_writer(path);
    /* two levels that disagree */
    cr_assert_eq(add(w, "a", "int8:zstd=3", 5), QTF_E_INVALID_ARG);
    cr_assert(strstr(qtf_error_detail(), "one place"), "%s", qtf_error_detail());
    /* a level that would change the layout the parts were made with */
    cr_assert_eq(add(w, "b", "int4", 3), QTF_E_INVALID_ARG);
    cr_assert(strstr(qtf_error_detail(), "layout"), "%s", qtf_error_detail());
    /* a shorthand that does not change the layout is recorded */
    cr_assert_eq(add(w, "c", "f32", 4), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(add(w, "d", "int4:zstd=2", 0), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(add(w, "e", "int4:zstd=2", 2), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_count(f), 3);
    for (uint64_t i = 0; i < 3; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        int compressed = 0;
        for (uint32_t p = 0; p < t->n_parts; p++)
            compressed |= t->parts[p].compression == QTF_COMPRESSION_ZSTD;
        cr_assert(t->encoding.zstd_level > 0, "%s: directory says plain", t->name);
        cr_assert(compressed || t->encoding.zstd_level, "%s", t->name);
    }
    cr_assert_eq(qtf_tensor_get(f, 0)->encoding.zstd_level, 4);
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK);
    qtf_file_close(f);
}

Test(api, option_structs_accept_older_versions_only) {
    float x[32] = { 1 };
    uint64_t dims[1] = { 32 };
    qtf_encoding e;
    cr_assert_eq(qtf_encoding_parse(&e, "int8"), QTF_OK);
    qtf_encoded *q = NULL;
    qtf_quantize_options qo = QTF_QUANTIZE_OPTIONS_INIT;
    cr_assert_eq(qtf_quantize(&q, &e, x, 1, dims, &qo), QTF_OK);
    qtf_encoded_free(q);
    qo.version = 0;
    cr_assert_eq(qtf_quantize(&q, &e, x, 1, dims, &qo), QTF_E_INVALID_ARG);
    qo.version = QTF_QUANTIZE_OPTIONS_VERSION + 1;
    cr_assert_eq(qtf_quantize(&q, &e, x, 1, dims, &qo), QTF_E_INVALID_ARG);
    /* writer options: version 1 (no protected paths) and the current one */
    qtf_writer *w;
    qtf_writer_options v1 = { 1, 0, 0, NULL, 0, NULL, NULL };
    cr_assert_eq(qtf_writer_create(&w, path, &v1), QTF_OK);
    qtf_writer_abort(w);
    qtf_writer_options cur = QTF_WRITER_OPTIONS_INIT;
    cr_assert_eq(qtf_writer_create(&w, path, &cur), QTF_OK);
    qtf_writer_abort(w);
    cur.version = QTF_WRITER_OPTIONS_VERSION + 1;
    cr_assert_eq(qtf_writer_create(&w, path, &cur), QTF_E_INVALID_ARG);
    /* open options */
    qtf_open_options oo = QTF_OPEN_OPTIONS_INIT;
    oo.version = 99;
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, path, &oo), QTF_E_INVALID_ARG);
}
