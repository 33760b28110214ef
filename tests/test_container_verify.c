/* Data integrity: per-part checksums, per-tensor results, padding, and the
 * same verdict for any thread count. */
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

/* The file of every test, in this process's temp folder. */
static const char *path;
static void setup(void) { path = test_tmpdir_path("v.qtf"); }
TestSuite(container_verify, .init = setup, .fini = test_tmpdir_remove);

/* 12 tensors of 100 floats, tensor i filled with i; every odd one zstd. */
static unsigned char *make(size_t *len) {
    qtf_writer *w = ts_writer(path);
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    uint64_t dims[2] = { 10, 10 };
    for (int i = 0; i < 12; i++) {
        float v[100];
        for (int j = 0; j < 100; j++) v[j] = (float)i;
        char name[8];
        snprintf(name, sizeof name, "t%02d", i);
        cr_assert_eq(tu_add(w, name, 2, dims, &f32, v, sizeof v, i % 2 ? 3 : 0), QTF_OK);
    }
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    return tu_read(path, len);
}

static qtf_file *open_buf(const unsigned char *b, size_t len) {
    qtf_file *f;
    cr_assert_eq(qtf_file_open_memory(&f, b, len, "v.qtf", NULL), QTF_OK, "%s",
                 qtf_error_detail());
    return f;
}

Test(container_verify, clean_file_all_thread_counts) {
    size_t len;
    unsigned char *b = make(&len);
    qtf_file *f = open_buf(b, len);
    for (unsigned t = 0; t <= 5; t++) {
        qtf_status res[12];
        memset(res, 0xFF, sizeof res);
        cr_assert_eq(qtf_file_verify(f, t, res), QTF_OK, "%s", qtf_error_detail());
        for (int i = 0; i < 12; i++) cr_assert_eq(res[i], QTF_OK);
    }
    for (uint64_t i = 0; i < 12; i++) cr_assert_eq(qtf_tensor_verify(f, i), QTF_OK);
    cr_assert_eq(qtf_tensor_verify(f, 12), QTF_E_INVALID_ARG);
    qtf_file_close(f);
    free(b);
}

Test(container_verify, corrupted_tensors_are_named_and_isolated) {
    size_t len;
    unsigned char *b = make(&len);
    qtf_file *f = open_buf(b, len);
    const qtf_tensor_info *t3 = qtf_tensor_get(f, 3), *t8 = qtf_tensor_get(f, 8);
    uint64_t o3 = t3->parts[0].offset, o8 = t8->parts[0].offset + 99;
    qtf_file_close(f);
    b[o3 + 2] ^= 0x01; /* t03 is compressed: its stored bytes change */
    b[o8] ^= 0x80;
    f = open_buf(b, len); /* the header checksum does not cover data */
    for (unsigned t = 1; t <= 4; t++) {
        qtf_status res[12];
        qtf_status st = qtf_file_verify(f, t, res);
        cr_assert_eq(st, QTF_E_CHECKSUM, "threads %u: %s", t, qtf_status_name(st));
        cr_assert(strstr(qtf_error_detail(), "'t03'") != NULL, "%s", qtf_error_detail());
        cr_assert(strstr(qtf_error_detail(), "2 of 12") != NULL, "%s", qtf_error_detail());
        for (int i = 0; i < 12; i++)
            cr_assert_eq(res[i], i == 3 || i == 8 ? QTF_E_CHECKSUM : QTF_OK, "tensor %d", i);
    }
    cr_assert_eq(qtf_tensor_verify(f, 8), QTF_E_CHECKSUM);
    cr_assert(strstr(qtf_error_detail(), "t08") != NULL);
    cr_assert_eq(qtf_tensor_verify(f, 7), QTF_OK);
    /* the plain tensor still decodes (verification is separate) */
    float out[100];
    cr_assert_eq(qtf_tensor_dequantize(out, QTF_DTYPE_F32, 100, f, 8, 1), QTF_OK);
    qtf_file_close(f);
    free(b);
}

Test(container_verify, nonzero_padding) {
    size_t len;
    unsigned char *b = make(&len);
    qtf_file *f = open_buf(b, len);
    uint64_t end = qtf_tensor_get(f, 0)->parts[0].offset + 400; /* 400 -> pad to 448 */
    qtf_file_close(f);
    b[end + 5] = 1;
    f = open_buf(b, len);
    qtf_status res[12];
    cr_assert_eq(qtf_file_verify(f, 2, res), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "padding") != NULL, "%s", qtf_error_detail());
    cr_assert_eq(res[0], QTF_E_OFFSET);
    cr_assert_eq(res[1], QTF_OK);
    cr_assert_eq(qtf_tensor_verify(f, 0), QTF_OK); /* checksums alone are fine */
    qtf_file_close(f);
    free(b);
}

Test(container_verify, nonzero_padding_after_header) {
    qtf_writer *w = ts_writer_aligned(path, 4096);
    float v[4] = { 1, 2, 3, 4 };
    uint64_t dims[1] = { 4 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "x", 1, dims, &f32, v, 16, 0), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    size_t len;
    unsigned char *b = tu_read(path, &len);
    cr_assert_eq(qtf__ld64(b + H_DOFF), 4096);
    qtf_file *f = open_buf(b, len);
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK);
    qtf_file_close(f);
    b[1000] = 7;
    f = open_buf(b, len);
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "offset 1000") != NULL, "%s", qtf_error_detail());
    qtf_file_close(f);
    free(b);
}

Test(container_verify, no_tensors) {
    qtf_writer *w = ts_writer(path);
    cr_assert_eq(qtf_writer_set_u32(w, "k", 1), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK);
    cr_assert_eq(qtf_file_verify(f, 0, NULL), QTF_OK);
    qtf_file_close(f);
}
