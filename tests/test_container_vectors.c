/* Test vectors (spec/vectors/): the committed files must be exactly what
 * the writer produces today, and must read back as the values the spec's
 * annotated hex dumps show. QTF_REGEN_VECTORS=1 rewrites the files. */
#include <zstd.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include <xxhash.h>

#include "support/container.h"
#include "support/files.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmtree(dir); }
TestSuite(container_vectors, .init = setup, .fini = teardown);

/* The zstd frame bytes depend on the libzstd version; the structure and the
 * decoded data do not. */
#define VECTORS_ZSTD_VERSION 10504

static const float tiny_values[4] = { 1.0f, -2.0f, 0.5f, 3.0f };

static void gen_empty(const char *path) {
    qtf_writer *w = ts_writer(path);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
}

static void gen_tiny_f32(const char *path) {
    qtf_writer *w = ts_writer_aligned(path, 8);
    cr_assert_eq(qtf_writer_set_string(w, "general.name", "tiny", 4), QTF_OK);
    cr_assert_eq(qtf_writer_set_u32(w, "tiny.block_count", 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_bool(w, "tiny.tied", 1), QTF_OK);
    uint64_t dims[2] = { 2, 2 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "w", 2, dims, &f32, tiny_values, 16, 0), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
}

static void gen_tiny_zstd(const char *path) {
    qtf_writer *w = ts_writer_aligned(path, 8);
    float zeros[256] = { 0 };
    uint64_t dims[1] = { 256 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    f32.zstd_level = 3;
    cr_assert_eq(tu_add(w, "z", 1, dims, &f32, zeros, sizeof zeros, 3), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
}

/* Format 1.1: a Conv1D-like weight [in = 2, out = 3] stored transposed.
 * f32 so that the stored order (the transpose) shows in the dump. */
static const float conv_values[6] = { 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f };

static void gen_tiny_transposed(const char *path) {
    qtf_writer *w = ts_writer_aligned(path, 8);
    uint64_t dims[2] = { 2, 3 };
    float stored[6] = { 1.0f, 4.0f, 2.0f, 5.0f, 3.0f, 6.0f };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add_as(w, "c", 2, dims, &f32, stored, sizeof stored, 0, QTF_LAYOUT_TRANSPOSED),
                 QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
}

/* spec/vectors/NAME of the source tree. */
static const char *vector_path(const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "spec/vectors/%s", name);
    return ts_source_path(rel);
}

static unsigned char *committed(const char *name, size_t *len) {
    return tu_read(vector_path(name), len);
}

/* Regenerates `name` and compares it with the committed copy. */
static void check_regen(const char *name, void (*gen)(const char *), int exact) {
    char *p = tu_path(dir, name);
    gen(p);
    size_t l1, l2;
    unsigned char *mine = tu_read(p, &l1);
    if (getenv("QTF_REGEN_VECTORS")) {
        tu_write(vector_path(name), mine, l1);
    }
    unsigned char *ref = committed(name, &l2);
    if (exact) {
        cr_assert_eq(l1, l2, "%s: %zu bytes, committed %zu", name, l1, l2);
        for (size_t i = 0; i < l1; i++)
            cr_assert_eq(mine[i], ref[i], "%s: byte %zu is %02X, committed %02X", name, i,
                         mine[i], ref[i]);
    }
    free(mine);
    free(ref);
    free(p);
}

static qtf_file *open_committed(const char *name, unsigned char **buf) {
    size_t len;
    *buf = committed(name, &len);
    qtf_file *f;
    cr_assert_eq(qtf_file_open_memory(&f, *buf, len, name, NULL), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK, "%s", qtf_error_detail());
    return f;
}

Test(container_vectors, empty) {
    check_regen("empty.qtf", gen_empty, 1);
    size_t len;
    unsigned char *b = committed("empty.qtf", &len);
    static const unsigned char head[48] = {
        0x89, 'Q', 'T', 'F', 0x0D, 0x0A, 0x1A, 0x0A, 1, 0, 0, 0, 4, 3, 2, 1,
        128, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 1, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    };
    cr_assert_eq(len, 128);
    cr_assert_eq(memcmp(b, head, 48), 0);
    cr_assert_eq(qtf__ld64(b + 48), 128);
    cr_assert_eq(qtf__ld64(b + 56), 0);
    cr_assert_eq(qtf__ld64(b + 64), 128);
    cr_assert_eq(qtf__ld64(b + 80), 128);
    cr_assert_eq(qtf__ld_hash(b + 120), XXH3_64bits(b, 120));
    free(b);
}

Test(container_vectors, tiny_f32) {
    check_regen("tiny-f32.qtf", gen_tiny_f32, 1);
    unsigned char *b;
    qtf_file *f = open_committed("tiny-f32.qtf", &b);
    const qtf_file_info *in = qtf_file_get_info(f);
    cr_assert_eq(in->alignment, 8);
    cr_assert_eq(in->data_offset, 128);
    cr_assert_eq(in->data_size, 16);
    cr_assert_eq(in->metadata_offset, 144);
    /* 3 records: 4+12+4+8+4, 4+16+4+4, 4+9+4+1 */
    cr_assert_eq(in->metadata_size, 32 + 28 + 18);
    cr_assert_eq(in->directory_offset, 144 + 78);
    /* 4+1 name, 4 + 16 dims, 4 dtype, 4 id, 4 + 8 params, 4 + 40 part */
    cr_assert_eq(in->directory_size, 5 + 20 + 4 + 4 + 12 + 44);
    cr_assert_eq(in->file_size, 222 + 89);
    /* the four floats, little-endian, at 128 */
    static const unsigned char data[16] = { 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0,
                                            0, 0, 0, 0x3F, 0, 0, 0x40, 0x40 };
    cr_assert_eq(memcmp(b + 128, data, 16), 0);
    const qtf_tensor_info *t = qtf_tensor_get(f, 0);
    cr_assert_eq(t->parts[0].checksum, XXH3_64bits(data, 16));
    cr_assert_eq(t->encoding_id, QTF_ENC_F32);
    cr_assert_eq(t->n_params, 1);
    cr_assert_eq(t->params[0].key, 11); /* zstd_level */
    cr_assert_eq(t->params[0].value, 0);
    const char *s;
    uint64_t len, u;
    int flag;
    cr_assert_eq(qtf_meta_get_string(&s, &len, f, "general.name"), QTF_OK);
    cr_assert_eq(len, 4);
    cr_assert_eq(qtf_meta_get_u64(&u, f, "tiny.block_count"), QTF_OK);
    cr_assert_eq(u, 1);
    cr_assert_eq(qtf_meta_get_bool(&flag, f, "tiny.tied"), QTF_OK);
    cr_assert_eq(flag, 1);
    float out[4];
    cr_assert_eq(qtf_tensor_dequantize(out, QTF_DTYPE_F32, 4, f, 0, 1), QTF_OK);
    cr_assert_eq(memcmp(out, tiny_values, 16), 0);
    qtf_file_close(f);
    free(b);
}

Test(container_vectors, tiny_zstd) {
    check_regen("tiny-zstd.qtf", gen_tiny_zstd, ZSTD_versionNumber() == VECTORS_ZSTD_VERSION);
    unsigned char *b;
    qtf_file *f = open_committed("tiny-zstd.qtf", &b);
    const qtf_tensor_info *t = qtf_tensor_get(f, 0);
    cr_assert_eq(t->parts[0].compression, QTF_COMPRESSION_ZSTD);
    cr_assert_eq(t->parts[0].decoded_size, 1024);
    cr_assert_lt(t->parts[0].stored_size, 64);
    cr_assert_eq(t->parts[0].offset, 128);
    /* a zstd frame: magic 28 B5 2F FD */
    cr_assert_eq(memcmp(b + 128, "\x28\xB5\x2F\xFD", 4), 0);
    cr_assert_eq(t->params[0].value, 3); /* zstd_level recorded */
    float out[256];
    memset(out, 0xFF, sizeof out);
    cr_assert_eq(qtf_tensor_dequantize(out, QTF_DTYPE_F32, 256, f, 0, 1), QTF_OK);
    for (int i = 0; i < 256; i++) cr_assert_eq(out[i], 0.0f);
    qtf_file_close(f);
    free(b);
}

Test(container_vectors, tiny_transposed) {
    check_regen("tiny-transposed.qtf", gen_tiny_transposed, 1);
    unsigned char *b;
    qtf_file *f = open_committed("tiny-transposed.qtf", &b);
    const qtf_file_info *in = qtf_file_get_info(f);
    cr_assert_eq(in->minor, 1);
    cr_assert_eq(in->file_size, 128 + 24 + 97); /* header, data, directory */
    const qtf_tensor_info *t = qtf_tensor_get(f, 0);
    cr_assert_eq(t->n_params, 2);
    cr_assert_eq(t->params[1].key, 13); /* layout */
    cr_assert_eq(t->params[1].value, 1); /* transposed */
    cr_assert_eq(t->layout, QTF_LAYOUT_TRANSPOSED);
    /* stored: the [3, 2] transpose, column by column of the tensor */
    static const float stored[6] = { 1.0f, 4.0f, 2.0f, 5.0f, 3.0f, 6.0f };
    cr_assert_eq(memcmp(b + 128, stored, 24), 0);
    float out[6];
    cr_assert_eq(qtf_tensor_dequantize(out, QTF_DTYPE_F32, 6, f, 0, 1), QTF_OK);
    cr_assert_eq(memcmp(out, conv_values, 24), 0);
    cr_assert_eq(qtf_tensor_dequantize_rows(out, QTF_DTYPE_F32, 3, f, 0, 1, 2, 1), QTF_OK);
    cr_assert_eq(memcmp(out, conv_values + 3, 12), 0);
    qtf_file_close(f);
    free(b);
}
