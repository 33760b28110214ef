/* tests/test_tmpdir.h — one temporary directory per test process, made on
 * first use (a test that skips leaves nothing) and removed by the suite's
 * .fini (test_tmpdir_remove). Header-only, for the Criterion tests. */
#ifndef QTF_TESTS_TMPDIR_H
#define QTF_TESTS_TMPDIR_H

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char test_tmpdir[256];

static int test_tmpdir_rm(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s; (void)flag; (void)f;
    return remove(p);
}

static inline void test_tmpdir_remove(void) {
    if (test_tmpdir[0]) nftw(test_tmpdir, test_tmpdir_rm, 16, FTW_DEPTH | FTW_PHYS);
    test_tmpdir[0] = '\0';
}

/* Makes the directory if it does not exist yet (also usable as .init). */
static inline void test_tmpdir_make(void) {
    if (test_tmpdir[0]) return;
    strcpy(test_tmpdir, "/tmp/qtf-test-" QTF_TEST_NAME "-XXXXXX");
    cr_assert(mkdtemp(test_tmpdir), "mkdtemp: %s", strerror(errno));
}

/* DIR/name in a ring of 8 buffers (a path stays valid for 8 more calls). */
static inline const char *test_tmpdir_path(const char *name) {
    static char bufs[8][512];
    static int next;
    test_tmpdir_make();
    char *p = bufs[next++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir, name);
    return p;
}

#endif
