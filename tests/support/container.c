/* tests/support/container.c — the Criterion parts of container.h. */
#include "support/container.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/source.h"

qtf_status ts_add_quantized(qtf_writer *w, const char *name, const qtf_encoding *e,
                            const float *x, uint32_t n_dims, const uint64_t *dims,
                            qtf_dtype source_type, int zstd_level) {
    qtf_encoded *enc = NULL;
    cr_assert_eq(qtf_quantize(&enc, e, x, n_dims, dims, NULL), QTF_OK, "quantize %s: %s", name,
                 qtf_error_detail());
    qtf_status st = ts_add_encoded(w, name, e, enc, n_dims, dims, source_type, zstd_level);
    qtf_encoded_free(enc);
    return st;
}

void ts_write_quantized(const char *path, const char *name, const qtf_encoding *e,
                        const float *x, uint32_t n_dims, const uint64_t *dims,
                        qtf_dtype source_type, int zstd_level) {
    qtf_writer *w = NULL;
    cr_assert_eq(qtf_writer_create(&w, path, NULL), QTF_OK, "%s: %s", path, qtf_error_detail());
    cr_assert_eq(ts_add_quantized(w, name, e, x, n_dims, dims, source_type, zstd_level), QTF_OK,
                 "%s: %s", name, qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s: %s", path, qtf_error_detail());
}

qtf_encoding ts_parse(const char *text) {
    qtf_encoding e;
    memset(&e, 0xa5, sizeof e); /* a field the parser forgets to set shows up */
    qtf_status st = qtf_encoding_parse(&e, text);
    cr_assert_eq(st, QTF_OK, "parse(\"%s\") = %s: %s", text, qtf_status_name(st),
                 qtf_error_detail());
    return e;
}

qtf_encoding tu_enc(qtf_encoding_id id) {
    qtf_encoding e;
    cr_assert_eq(qtf_encoding_default(&e, id), QTF_OK);
    return e;
}

qtf_encoding tu_raw(qtf_dtype t) {
    qtf_encoding e;
    memset(&e, 0, sizeof e);
    e.id = QTF_ENC_RAW;
    e.raw_type = t;
    return e;
}

void tu_write_sample(const char *path, int zstd_level) {
    qtf_writer *w;
    cr_assert_eq(qtf_writer_create(&w, path, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "general.name", "tiny", 4), QTF_OK);
    cr_assert_eq(qtf_writer_set_u32(w, "answer", 42), QTF_OK);
    cr_assert_eq(qtf_writer_set_bool(w, "flag", 1), QTF_OK);
    float a[6] = { 1, 2, 3, 4, 5, 6 };
    uint64_t da[2] = { 2, 3 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32), f16 = tu_enc(QTF_ENC_F16);
    cr_assert_eq(tu_add(w, "a", 2, da, &f32, a, sizeof a, zstd_level), QTF_OK, "%s",
                 qtf_error_detail());
    uint16_t b[4] = { 0x3C00, 0x4000, 0x4200, 0x4400 };
    uint64_t db[1] = { 4 };
    cr_assert_eq(tu_add(w, "b", 1, db, &f16, b, sizeof b, zstd_level), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
}

qtf_status tu_open_mem(const void *b, size_t len, unsigned flags) {
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = flags;
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open_memory(&f, b, len, "mem.qtf", &o);
    if (st == QTF_OK) cr_assert_not_null(f);
    else cr_assert_null(f);
    qtf_file_close(f);
    return st;
}

qtf_file *ts_open(const char *path, unsigned flags) {
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = flags;
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open(&f, path, &o);
    cr_assert_eq(st, QTF_OK, "%s: %s: %s", path, qtf_status_name(st), qtf_error_detail());
    return f;
}

void ts_killed_writer(int safetensors, const char *out) {
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        static float v[1 << 16];
        uint64_t dims[1] = { 1 << 16 };
        if (safetensors) {
            qtf_st_writer *w;
            if (qtf_st_writer_create(&w, out, NULL)) _exit(1);
            if (qtf_st_writer_declare(w, "t", QTF_DTYPE_F32, 1, dims)) _exit(1);
            if (qtf_st_writer_write(w, v, sizeof v)) _exit(1);
        } else {
            qtf_writer *w;
            if (qtf_writer_create(&w, out, NULL)) _exit(1);
        }
        raise(SIGKILL);
        _exit(2);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child did not get that far");
}

qtf_writer *ts_writer(const char *path) {
    qtf_writer *w = NULL;
    cr_assert_eq(qtf_writer_create(&w, path, NULL), QTF_OK, "%s: %s", path, qtf_error_detail());
    return w;
}

qtf_writer *ts_writer_aligned(const char *path, uint32_t alignment) {
    qtf_writer_options o = QTF_WRITER_OPTIONS_INIT;
    o.alignment = alignment;
    qtf_writer *w = NULL;
    cr_assert_eq(qtf_writer_create(&w, path, &o), QTF_OK, "%s: %s", path, qtf_error_detail());
    return w;
}

void ts_expect_valid(const char *path, uint64_t n_tensors) {
    qtf_file *f = ts_open(path, 0);
    cr_assert_eq(qtf_tensor_count(f), n_tensors, "%s", path);
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK, "%s: %s", path, qtf_error_detail());
    qtf_file_close(f);
}

const qtf_tensor_info *ts_tensor(const qtf_file *f, const char *name, uint64_t *index) {
    uint64_t i;
    cr_assert_eq(qtf_tensor_find(&i, f, name), QTF_OK, "%s missing", name);
    if (index) *index = i;
    return qtf_tensor_get(f, i);
}

qtf_value ts_meta_array(const qtf_file *f, const char *key, qtf_type elem_type, uint64_t count) {
    uint64_t i;
    qtf_value v;
    cr_assert_eq(qtf_meta_find(&i, f, key), QTF_OK, "%s missing", key);
    cr_assert_eq(qtf_meta_value(&v, f, i), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(v.type, QTF_TYPE_ARRAY, "%s", key);
    cr_assert_eq(v.elem_type, elem_type, "%s", key);
    cr_assert_eq(v.count, count, "%s", key);
    return v;
}
