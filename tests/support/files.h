/* tests/support/files.h — temporary folders and whole-file I/O for the
 * tests (Criterion: a failure to make or read what a test needs fails it). */
#ifndef QTF_TEST_SUPPORT_FILES_H
#define QTF_TEST_SUPPORT_FILES_H

#include <stddef.h>
#include <stdint.h>

/* --- one temporary folder per test process ---------------------------------
 * /tmp/qtf-test-NAME-XXXXXX (NAME: the test executable without "test_"),
 * made on first use (a test that skips leaves nothing) and removed by
 * test_tmpdir_remove (a suite's .fini, or atexit). */
extern char test_tmpdir[256];
void test_tmpdir_remove(void);
/* Makes the folder if it does not exist yet (also usable as .init). */
void test_tmpdir_make(void);
/* DIR/name in a ring of 8 buffers (a path stays valid for 8 more calls). */
const char *test_tmpdir_path(const char *name);

/* --- folders a test owns (malloc'd names) ---------------------------------- */
/* A new folder /tmp/qtf-test-XXXXXX. */
char *tu_mkdtemp(void);
/* Removes the files of `dir` (not recursive), the folder, and frees `dir`. */
void tu_rmtree(char *dir);
/* A new folder $TMPDIR/qtf-tools-XXXXXX (TMPDIR defaults to /tmp). */
char *tf_tmpdir(void);
/* Removes `dir` and everything below it (the caller frees the name). */
void tf_rm_rf(const char *dir);
/* Number of entries in a folder besides . and .. */
int tu_dir_entries(const char *dir);
/* "dir/name", malloc'd. */
char *tu_path(const char *dir, const char *name);
char *tf_path(const char *dir, const char *name);

/* --- whole files ----------------------------------------------------------- */
/* The file's bytes (malloc'd) and length; fails the test when it cannot be read. */
unsigned char *tu_read(const char *path, size_t *len);
/* The file's bytes plus a NUL (malloc'd), or NULL when it cannot be opened;
 * reads streams (pipes) too. len may be NULL. */
char *tf_slurp(const char *path, size_t *len);
/* Writes (replaces) the file; fails the test on any error. */
void tu_write(const char *path, const void *b, size_t len);
void tu_write_text(const char *path, const char *text);
/* Copies the file `from` to `to`; flip_at >= 0 flips bit 6 of that byte. */
void tu_copy(const char *from, const char *to, long flip_at);
/* The byte at offset `off` of the file; setting it in place. */
unsigned char tu_byte_at(const char *path, uint64_t off);
void tu_set_byte(const char *path, uint64_t off, unsigned char v);
/* 1 if something (a file, a folder, ...) is at path. */
int tu_exists(const char *path);

/* --- text ------------------------------------------------------------------ */
/* The len bytes at s contain `needle`; the test fails (showing s) otherwise. */
void ts_assert_contains(const char *s, uint64_t len, const char *needle);

/* --- the source tree and ../shared ------------------------------------------
 * Paths in a ring of 8 buffers (valid for 8 more calls of these three). */
/* $QTF_SOURCE_ROOT/REL (set by tests/meson.build), whether or not it exists. */
const char *ts_source_path(const char *rel);
/* $QTF_SOURCE_ROOT/../shared/REL, or NULL when it does not exist. */
const char *ts_shared(const char *rel);
/* $QTF_SHARED_CHECKPOINTS/REL, or NULL when it does not exist (the variable
 * points at ../shared/checkpoints; skips_visible.sh points it elsewhere). */
const char *ts_checkpoint(const char *rel);

/* Declares `var`, the path of ../shared/REL, or skips the test visibly. */
#define TS_NEED(var, rel)                                                     \
    const char *var = ts_shared(rel);                                         \
    if (!var) cr_skip_test("../shared/%s not available", rel)

#endif
