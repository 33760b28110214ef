/* In-place metadata edit through the public writer API
 * (qtf_writer_create_edit with QTF_WRITER_IN_PLACE, lib/edit.c): same inode,
 * tensor data untouched, the bytes of the copy-and-rename edit, the seven
 * steps reported by on_step, a valid file after a crash at every step, and a
 * refusal (QTF_E_UNSUPPORTED) with nothing written when in place is not
 * possible. */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qtf.h"
#include "support/container.h"
#include "support/files.h"

static char *dir, *path, *ref;
static void setup(void) {
    dir = tu_mkdtemp();
    path = tu_path(dir, "m.qtf");
    ref = tu_path(dir, "ref.qtf");
}
static void teardown(void) {
    free(path);
    free(ref);
    tu_rmtree(dir);
}
TestSuite(edit_in_place, .init = setup, .fini = teardown);

static void write_sample(const char *p) {
    qtf_writer *w;
    cr_assert_eq(qtf_writer_create(&w, p, NULL), QTF_OK);
    cr_assert_eq(qtf_writer_set_string(w, "general.name", "before", 6), QTF_OK);
    cr_assert_eq(qtf_writer_set_u32(w, "keep", 7), QTF_OK);
    cr_assert_eq(qtf_writer_set_string(w, "drop", "{{old}}", 7), QTF_OK);
    float v[300];
    for (int i = 0; i < 300; i++) v[i] = (float)(i % 7) - 2.5f;
    uint64_t dims[2] = { 3, 100 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "a", 2, dims, &f32, v, sizeof v, 0), QTF_OK);
    cr_assert_eq(tu_add(w, "b", 2, dims, &f32, v, sizeof v, 3), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
}

/* The edit: keeps "keep", replaces general.name, drops "drop", adds a blob
 * large enough that the metadata grows past the old end of the file. */
static char big[5000];
static void fill(qtf_writer *w, const qtf_file *src) {
    uint64_t keep;
    cr_assert_eq(qtf_meta_find(&keep, src, "keep"), QTF_OK);
    cr_assert_eq(qtf_writer_copy_meta(w, src, keep), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "general.name", "after", 5), QTF_OK);
    memset(big, 'x', sizeof big);
    cr_assert_eq(qtf_writer_set_blob(w, "hf.file.big.txt", "text/plain", big, sizeof big),
                 QTF_OK);
}

/* An edit with no change: every entry copied as it is. */
static void fill_same(qtf_writer *w, const qtf_file *src) {
    for (uint64_t i = 0; i < qtf_meta_count(src); i++)
        cr_assert_eq(qtf_writer_copy_meta(w, src, i), QTF_OK, "%s", qtf_error_detail());
}

typedef struct steps {
    int seen[16];
    int n;
    int crash_after;            /* 0: none */
} steps;

static void on_step(void *ctx, int step) {
    steps *s = ctx;
    if (s->n < 16) s->seen[s->n++] = step;
    if (step == s->crash_after) _exit(70); /* as a crash right after that step */
}

/* In place on p with `fill_fn`; the source is closed before finish (its
 * mapping would make the lease fail). */
static qtf_status edit_in_place(const char *p, void (*fill_fn)(qtf_writer *, const qtf_file *),
                                steps *s) {
    qtf_file *src;
    cr_assert_eq(qtf_file_open(&src, p, NULL), QTF_OK, "%s", qtf_error_detail());
    qtf_writer_options o = QTF_WRITER_OPTIONS_INIT;
    o.flags = QTF_WRITER_IN_PLACE;
    o.on_step = on_step;
    o.step_ctx = s;
    qtf_writer *w;
    cr_assert_eq(qtf_writer_create_edit(&w, p, src, &o), QTF_OK, "%s", qtf_error_detail());
    fill_fn(w, src);
    qtf_file_close(src);
    return qtf_writer_finish(w);
}

/* The copy-and-rename edit of p with `fill_fn`. */
static void edit_copy(const char *p, void (*fill_fn)(qtf_writer *, const qtf_file *)) {
    qtf_file *src;
    cr_assert_eq(qtf_file_open(&src, p, NULL), QTF_OK, "%s", qtf_error_detail());
    qtf_writer *w;
    cr_assert_eq(qtf_writer_create_edit(&w, p, src, NULL), QTF_OK, "%s", qtf_error_detail());
    fill_fn(w, src);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    qtf_file_close(src);
}

static int same_file(const char *a, const char *b) {
    size_t la, lb;
    unsigned char *x = tu_read(a, &la), *y = tu_read(b, &lb);
    int same = la == lb && !memcmp(x, y, la);
    free(x);
    free(y);
    return same;
}

/* Opens and verifies p; returns its general.name ("before" or "after") and
 * whether it has the EDITING flag. */
static const char *check_valid(const char *p, int *editing) {
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, p, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_count(f), 2);
    float a[300];
    cr_assert_eq(qtf_tensor_dequantize(a, QTF_DTYPE_F32, 300, f, 1, 1), QTF_OK);
    cr_assert_eq(a[299], (float)(299 % 7) - 2.5f);
    *editing = (qtf_file_get_info(f)->flags & QTF_FILE_FLAG_EDITING) != 0;
    const char *s;
    uint64_t len;
    cr_assert_eq(qtf_meta_get_string(&s, &len, f, "general.name"), QTF_OK);
    const char *name = len == 5 && !memcmp(s, "after", 5)    ? "after"
                       : len == 6 && !memcmp(s, "before", 6) ? "before"
                                                              : "other";
    qtf_file_close(f);
    return name;
}

Test(edit_in_place, same_inode_same_data_and_the_bytes_of_the_copy) {
    write_sample(path);
    write_sample(ref);
    cr_assert(same_file(path, ref));
    size_t len0;
    unsigned char *orig = tu_read(path, &len0);
    qtf_file *f0;
    cr_assert_eq(qtf_file_open(&f0, path, NULL), QTF_OK);
    const qtf_file_info i0 = *qtf_file_get_info(f0);
    qtf_file_close(f0);
    struct stat before, after;
    cr_assert_eq(stat(path, &before), 0);

    steps s = { .n = 0 };
    cr_assert_eq(edit_in_place(path, fill, &s), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(s.n, 7, "on_step called %d times", s.n);
    for (int k = 0; k < 7; k++) cr_assert_eq(s.seen[k], k + 1);
    cr_assert_eq(stat(path, &after), 0);
    cr_assert_eq(after.st_ino, before.st_ino, "in place keeps the inode");
    cr_assert_eq(tu_dir_entries(dir), 2, "no temp file left");

    edit_copy(ref, fill);
    cr_assert(same_file(path, ref), "in place and copy-and-rename give the same bytes");
    int editing;
    cr_assert_str_eq(check_valid(path, &editing), "after");
    cr_assert_not(editing);
    /* header and data section: only the header changed, data byte for byte */
    size_t len1;
    unsigned char *now = tu_read(path, &len1);
    cr_assert_gt(len1, len0, "the metadata grew by the blob");
    cr_assert_eq(memcmp(now + i0.data_offset, orig + i0.data_offset, (size_t)i0.data_size), 0);
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, path, NULL), QTF_OK);
    const void *b;
    uint64_t blen;
    const char *media;
    cr_assert_eq(qtf_meta_get_blob(&b, &blen, &media, f, "hf.file.big.txt"), QTF_OK);
    cr_assert_eq(blen, sizeof big);
    uint64_t idx;
    cr_assert_eq(qtf_meta_find(&idx, f, "drop"), QTF_E_NOT_FOUND);
    cr_assert_eq(qtf_meta_count(f), 3);
    qtf_file_close(f);
    free(now);

    /* shrinking back: the file is truncated after the new sections */
    s.n = 0;
    cr_assert_eq(edit_in_place(path, fill_same, &s), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(s.n, 7);
    edit_copy(ref, fill_same);
    cr_assert(same_file(path, ref));
    free(orig);
}

/* A crash right after each step (a child _exits from on_step, its lease and
 * fd dropped by the kernel): the file opens and verifies with the old
 * metadata before the commit (step 3) and the new from it on, EDITING set
 * until step 7; an edit with no change then gives the canonical bytes. */
Test(edit_in_place, a_crash_after_every_step_leaves_a_valid_file) {
    char *want_old = tu_path(dir, "old.qtf"), *want_new = tu_path(dir, "new.qtf");
    write_sample(want_old);
    write_sample(want_new);
    edit_copy(want_new, fill);
    for (int step = 1; step <= 7; step++) {
        write_sample(path);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            steps s = { .n = 0, .crash_after = step };
            qtf_status st = edit_in_place(path, fill, &s);
            _exit(st == QTF_OK ? 0 : 1);
        }
        int ws;
        cr_assert_eq(waitpid(pid, &ws, 0), pid);
        cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 70, "step %d: child status %d", step, ws);
        int editing;
        const char *name = check_valid(path, &editing);
        cr_assert_str_eq(name, step < 3 ? "before" : "after", "step %d", step);
        cr_assert_eq(editing, step < 7, "step %d: EDITING flag %d", step, editing);
        /* finishing: an in-place edit with no change */
        steps s = { .n = 0 };
        cr_assert_eq(edit_in_place(path, fill_same, &s), QTF_OK, "step %d: %s", step,
                     qtf_error_detail());
        cr_assert_eq(s.n, 7);
        cr_assert(same_file(path, step < 3 ? want_old : want_new), "step %d", step);
    }
    free(want_old);
    free(want_new);
}

/* Another open file description of the file (here an fd of this process;
 * another process's mapping is the same to the kernel): no lease, refused
 * before anything is written, and on_step never called. */
Test(edit_in_place, refused_while_the_file_is_open_elsewhere) {
    write_sample(path);
    write_sample(ref);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    steps s = { .n = 0 };
    cr_assert_eq(edit_in_place(path, fill, &s), QTF_E_UNSUPPORTED);
    cr_assert_not_null(strstr(qtf_error_detail(),
                              "in place not possible: another process has it open or mapped"),
                       "%s", qtf_error_detail());
    cr_assert_not_null(strstr(qtf_error_detail(), path), "the detail names the file");
    cr_assert_eq(s.n, 0);
    close(fd);
    cr_assert(same_file(path, ref), "nothing written");
    /* once it is closed, in place works */
    cr_assert_eq(edit_in_place(path, fill, &s), QTF_OK, "%s", qtf_error_detail());
}

/* The file changed between open and finish (replaced by another writer):
 * refused, the new file left alone. */
Test(edit_in_place, refused_when_the_file_changed_since_it_was_opened) {
    write_sample(path);
    qtf_file *src;
    cr_assert_eq(qtf_file_open(&src, path, NULL), QTF_OK);
    qtf_writer_options o = QTF_WRITER_OPTIONS_INIT;
    o.flags = QTF_WRITER_IN_PLACE;
    qtf_writer *w;
    cr_assert_eq(qtf_writer_create_edit(&w, path, src, &o), QTF_OK, "%s", qtf_error_detail());
    fill(w, src);
    qtf_file_close(src);
    qtf_writer *other;
    cr_assert_eq(qtf_writer_create(&other, path, NULL), QTF_OK);
    cr_assert_eq(qtf_writer_set_u32(other, "other", 1), QTF_OK);
    cr_assert_eq(qtf_writer_finish(other), QTF_OK);
    size_t l0;
    unsigned char *b0 = tu_read(path, &l0);
    cr_assert_eq(qtf_writer_finish(w), QTF_E_UNSUPPORTED);
    cr_assert_not_null(strstr(qtf_error_detail(), "changed since it was opened"), "%s",
                       qtf_error_detail());
    size_t l1;
    unsigned char *b1 = tu_read(path, &l1);
    cr_assert(l0 == l1 && !memcmp(b0, b1, l0), "nothing written");
    free(b0);
    free(b1);
}

/* No write permission: refused (QTF_E_UNSUPPORTED) with nothing written.
 * Root may write anything, so the check runs in a child that gives up root. */
Test(edit_in_place, refused_on_a_read_only_file) {
    write_sample(path);
    write_sample(ref);
    cr_assert_eq(chmod(path, 0444), 0);
    cr_assert_eq(chmod(dir, 0755), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
        steps s = { .n = 0 };
        qtf_status st = edit_in_place(path, fill, &s);
        if (st != QTF_E_UNSUPPORTED) _exit(4);
        if (!strstr(qtf_error_detail(), "in place not possible: cannot open it for writing"))
            _exit(5);
        _exit(s.n == 0 ? 0 : 6);
    }
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "child status %d", ws);
    cr_assert(same_file(path, ref), "nothing written");
}

Test(edit_in_place, api_rules) {
    write_sample(path);
    qtf_file *src;
    cr_assert_eq(qtf_file_open(&src, path, NULL), QTF_OK);
    qtf_writer *w;
    qtf_writer_options o = QTF_WRITER_OPTIONS_INIT;
    o.flags = QTF_WRITER_IN_PLACE;
    /* a new file has nothing to edit in place */
    cr_assert_eq(qtf_writer_create(&w, ref, &o), QTF_E_INVALID_ARG);
    o.flags = QTF_WRITER_IN_PLACE | QTF_WRITER_NO_REPLACE;
    cr_assert_eq(qtf_writer_create_edit(&w, path, src, &o), QTF_E_INVALID_ARG);
    /* version 2 of the options (no on_step) is still accepted */
    qtf_writer_options v2 = { 2, 0, QTF_WRITER_IN_PLACE, NULL, 0, NULL, NULL };
    cr_assert_eq(qtf_writer_create_edit(&w, path, src, &v2), QTF_OK, "%s", qtf_error_detail());
    /* metadata only: no tensor can be added in place */
    float c[4] = { 1, 2, 3, 4 };
    uint64_t dims[1] = { 4 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "c", 1, dims, &f32, c, sizeof c, 0), QTF_E_STATE);
    fill(w, src);
    /* abort writes nothing */
    qtf_writer_abort(w);
    int editing;
    cr_assert_str_eq(check_valid(path, &editing), "before");
    cr_assert_eq(tu_dir_entries(dir), 1);
    qtf_file_close(src);
}
