/* Allocation failures at every allocation of open, decode and write; I/O
 * failures (file size limit); killed and aborted writers. The contract:
 * a clean error, nothing leaked (ASan), nothing left at the destination. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/outfile.h"
#include "lib/container.h"
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/common.h"
#include "support/container.h"
#include "support/files.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) {
    qtf__test_fail_alloc_after(-1);
    tu_rmtree(dir);
}
TestSuite(container_failure, .init = setup, .fini = teardown);

/* Writes a file exercising every kind of record; returns its status. */
static qtf_status write_rich(const char *path) {
    qtf_writer *w;
    qtf_status st = qtf_writer_create(&w, path, NULL);
    if (st) return st;
    const char *toks[3] = { "<s>", "</s>", "hello" };
    uint32_t u32s[4] = { 1, 2, 3, 4 };
    float z[256] = { 0 };
    float r[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    uint64_t dz[2] = { 16, 16 }, dr[1] = { 8 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    if (!st) st = qtf_writer_set_string(w, "general.name", "rich", 4);
    if (!st) st = qtf_writer_set_string_array(w, "tokens", toks, NULL, 3);
    if (!st) st = qtf_writer_set_value(w, "ids", QTF_TYPE_ARRAY, QTF_TYPE_U32, u32s, 4);
    if (!st) st = qtf_writer_set_blob(w, "hf.file.config.json", "application/json", "{}", 2);
    for (int i = 0; i < 40 && !st; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i); /* enough keys to grow the index */
        st = qtf_writer_set_u32(w, key, (uint32_t)i);
    }
    if (!st) st = tu_add(w, "zeros", 2, dz, &f32, z, sizeof z, 3);
    if (!st) st = tu_add(w, "ramp", 1, dr, &f32, r, sizeof r, 0);
    for (int i = 0; i < 40 && !st; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        st = tu_add(w, name, 1, dr, &f32, r, sizeof r, i % 2 ? 1 : 0);
    }
    if (st) {
        qtf_writer_abort(w);
        return st;
    }
    return qtf_writer_finish(w);
}

/* write_rich(p) with allocation n failing, for n = 0, 1, ... until it
 * succeeds: each failure is QTF_E_NOMEM and leaves `entries` entries in dir.
 * Returns the number of failures. */
static long fail_each_allocation_of_write(const char *p, int entries) {
    long n;
    for (n = 0; n < 100000; n++) {
        qtf__test_fail_alloc_after(n);
        qtf_status st = write_rich(p);
        qtf__test_fail_alloc_after(-1);
        if (st == QTF_OK) break;
        cr_assert_eq(st, QTF_E_NOMEM, "allocation %ld: %s (%s)", n, qtf_status_name(st),
                     qtf_error_detail());
        cr_assert_eq(tu_dir_entries(dir), entries, "allocation %ld left a (temp) file", n);
    }
    return n;
}

Test(container_failure, allocation_failure_at_every_point_of_write) {
    char *p = tu_path(dir, "w.qtf");
    long n = fail_each_allocation_of_write(p, 0);
    cr_assert_gt(n, 20, "the write path makes more allocations than that");
    ts_expect_valid(p, 42);
    free(p);
}

Test(container_failure, allocation_failure_at_every_point_of_open_and_read) {
    char *p = tu_path(dir, "r.qtf");
    cr_assert_eq(write_rich(p), QTF_OK);
    for (unsigned flags = 0; flags < 3; flags++) {
        qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
        o.flags = flags;
        long n;
        for (n = 0; n < 100000; n++) {
            qtf_file *f = (qtf_file *)1;
            qtf__test_fail_alloc_after(n);
            qtf_status st = qtf_file_open(&f, p, &o);
            qtf__test_fail_alloc_after(-1);
            if (st == QTF_OK) {
                qtf_file_close(f);
                break;
            }
            cr_assert_eq(st, QTF_E_NOMEM, "flags %u allocation %ld: %s", flags, n,
                         qtf_status_name(st));
            cr_assert_null(f);
        }
        cr_assert_gt(n, 4);
    }
    /* decoding a zstd part and dequantizing: temp buffer and zstd context */
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, p, NULL), QTF_OK);
    float out[256];
    long n;
    for (n = 0; n < 10000; n++) {
        qtf__test_fail_alloc_after(n);
        qtf_status st = qtf_tensor_dequantize(out, QTF_DTYPE_F32, 256, f, 0, 1);
        qtf__test_fail_alloc_after(-1);
        if (st == QTF_OK) break;
        cr_assert_eq(st, QTF_E_NOMEM, "allocation %ld: %s", n, qtf_status_name(st));
    }
    cr_assert_gt(n, 1);
    for (int i = 0; i < 256; i++) cr_assert_eq(out[i], 0.0f);
    for (n = 0; n < 10000; n++) {
        qtf__test_fail_alloc_after(n);
        qtf_status st = qtf_file_verify(f, 1, NULL);
        qtf__test_fail_alloc_after(-1);
        if (st == QTF_OK) break;
        cr_assert_eq(st, QTF_E_NOMEM);
    }
    qtf_file_close(f);
    free(p);
}

/* Memory opens allocate too (file object, pool, indexes). */
Test(container_failure, allocation_failure_open_memory) {
    char *p = tu_path(dir, "m.qtf");
    cr_assert_eq(write_rich(p), QTF_OK);
    size_t len;
    unsigned char *b = tu_read(p, &len);
    long n;
    for (n = 0; n < 100000; n++) {
        qtf__test_fail_alloc_after(n);
        qtf_status st = tu_open_mem(b, len, 0);
        qtf__test_fail_alloc_after(-1);
        if (st == QTF_OK) break;
        cr_assert_eq(st, QTF_E_NOMEM);
    }
    cr_assert_gt(n, 4);
    free(b);
    free(p);
}

static void limit_file_size(rlim_t bytes) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = { bytes, bytes };
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

/* Criterion runs every test in its own process: the limit stays there. */
Test(container_failure, file_size_limit_during_tensor_data) {
    char *p = tu_path(dir, "big.qtf");
    tu_write(p, "old", 3);
    limit_file_size(64 * 1024);
    qtf_writer *w = ts_writer(p);
    size_t n = 1u << 18;
    float *data = calloc(n, 4);
    uint64_t dims[1] = { n };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    qtf_status st = tu_add(w, "big", 1, dims, &f32, data, n * 4, 0);
    cr_assert_eq(st, QTF_E_IO, "%s", qtf_status_name(st));
    cr_assert(strstr(qtf_error_detail(), "big.qtf") != NULL, "%s", qtf_error_detail());
    /* the writer rolled back and is still usable; a small tensor fits */
    uint64_t small[1] = { 4 };
    cr_assert_eq(tu_add(w, "small", 1, small, &f32, data, 16, 0), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, p, NULL), QTF_OK);
    cr_assert_eq(qtf_tensor_count(f), 1);
    cr_assert_str_eq(qtf_tensor_get(f, 0)->name, "small");
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK);
    qtf_file_close(f);
    cr_assert_eq(tu_dir_entries(dir), 1);
    free(data);
    free(p);
}

Test(container_failure, file_size_limit_during_finish_leaves_destination_untouched) {
    char *p = tu_path(dir, "dest.qtf");
    tu_write(p, "old", 3);
    limit_file_size(48 * 1024);
    qtf_writer *w = ts_writer(p);
    float data[1024] = { 0 };
    uint64_t dims[1] = { 1024 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    for (int i = 0; i < 8; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        cr_assert_eq(tu_add(w, name, 1, dims, &f32, data, sizeof data, 0), QTF_OK);
    }
    char *blob = calloc(1, 32 * 1024);
    cr_assert_eq(qtf_writer_set_blob(w, "hf.file.big", "application/octet-stream", blob,
                                     32 * 1024), QTF_OK);
    qtf_status st = qtf_writer_finish(w);
    cr_assert_eq(st, QTF_E_IO, "%s", qtf_status_name(st));
    cr_assert_eq(tu_dir_entries(dir), 1);
    size_t len;
    unsigned char *b = tu_read(p, &len);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(b, "old", 3), 0);
    free(b);
    free(blob);
    free(p);
}

Test(container_failure, killed_writer_leaves_nothing) {
    char *p = tu_path(dir, "k.qtf");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        qtf_writer *w;
        if (qtf_writer_create(&w, p, NULL)) _exit(1);
        float data[1024] = { 0 };
        uint64_t dims[1] = { 1024 };
        qtf_encoding f32;
        qtf_encoding_default(&f32, QTF_ENC_F32);
        qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
        d.name = "t";
        d.n_dims = 1;
        d.dims = dims;
        d.encoding = &f32;
        qtf_part_view v = { QTF_ROLE_DATA, QTF_DTYPE_F32, data, sizeof data };
        if (qtf_writer_add_tensor(w, &d, &v, 1)) _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    cr_assert_eq(tu_dir_entries(dir), 0);
    free(p);
}

Test(container_failure, bad_destinations) {
    qtf_writer *w = (qtf_writer *)1;
    cr_assert_eq(qtf_writer_create(&w, "/nonexistent-dir-qtf/x.qtf", NULL), QTF_E_IO);
    cr_assert_null(w);
    char *p = tu_path(dir, "");
    cr_assert_eq(qtf_writer_create(&w, p, NULL), QTF_E_INVALID_ARG);
    free(p);
    qtf_writer_options o = QTF_WRITER_OPTIONS_INIT;
    o.version = 99;
    p = tu_path(dir, "x.qtf");
    cr_assert_eq(qtf_writer_create(&w, p, &o), QTF_E_INVALID_ARG);
    qtf_file *f = (qtf_file *)1;
    cr_assert_eq(qtf_file_open(&f, p, NULL), QTF_E_IO);
    cr_assert_null(f);
    cr_assert_eq(qtf_file_open(&f, dir, NULL), QTF_E_IO);
    qtf_open_options oo = QTF_OPEN_OPTIONS_INIT;
    oo.flags = 0x80;
    cr_assert_eq(qtf_file_open(&f, p, &oo), QTF_E_INVALID_ARG);
    free(p);
}

/* Filesystems without O_TMPFILE: a hidden named temp file, removed on every
 * failure and renamed on success. */
Test(container_failure, named_temp_fallback) {
    qtf__test_force_named_temp(1);
    char *p = tu_path(dir, "n.qtf");
    qtf_writer *w = ts_writer(p);
    cr_assert_eq(tu_dir_entries(dir), 1); /* the visible temp file */
    qtf_writer_abort(w);
    cr_assert_eq(tu_dir_entries(dir), 0);
    cr_assert_eq(write_rich(p), QTF_OK);
    cr_assert_eq(tu_dir_entries(dir), 1);
    struct stat sb;
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0644);
    ts_expect_valid(p, 42);
    fail_each_allocation_of_write(p, 1);
    /* a killed writer leaves only its hidden temp file, never the destination */
    char *k = tu_path(dir, "killed.qtf");
    ts_killed_writer(0, k);
    cr_assert_eq(tu_dir_entries(dir), 2);
    cr_assert_neq(access(k, F_OK), 0);
    qtf__test_force_named_temp(0);
    free(k);
    free(p);
}

/* A FIFO (or any non-regular file) is refused at once, not waited on. */
Test(container_failure, fifo_is_refused_without_blocking) {
    char path[4096];
    snprintf(path, sizeof path, "%s/pipe.qtf", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    qtf_file *f = NULL;
    alarm(10); /* a regression would block in open(): fail instead of hanging */
    qtf_status st = qtf_file_open(&f, path, NULL);
    alarm(0);
    cr_assert_eq(st, QTF_E_IO, "%s", qtf_status_name(st));
    cr_assert(strstr(qtf_error_detail(), "not a regular file"), "%s", qtf_error_detail());
    cr_assert_null(f);
}
