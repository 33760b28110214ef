/* tests/gguf_test_util.h — what the GGUF, imatrix and architecture tests
 * share: paths into ../shared (skipping visibly when it is absent), a
 * scratch folder, and running a built tool with its output captured. */
#ifndef QTF_TESTS_GGUF_TEST_UTIL_H
#define QTF_TESTS_GGUF_TEST_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_tmpdir.h"

/* $QTF_SOURCE_ROOT/../shared/REL into buf, or NULL when it does not exist. */
static inline const char *gt_shared(char *buf, size_t cap, const char *rel) {
    const char *src = getenv("QTF_SOURCE_ROOT");
    if (!src) return NULL;
    snprintf(buf, cap, "%s/../shared/%s", src, rel);
    struct stat sb;
    return stat(buf, &sb) == 0 ? buf : NULL;
}

/* Declares `var`, the path of ../shared/REL, or skips the test visibly. */
#define GT_NEED(var, rel)                                                     \
    char var##_buf[4096];                                                     \
    const char *var = gt_shared(var##_buf, sizeof var##_buf, rel);           \
    if (!var) cr_skip_test("../shared/%s not available", rel)

/* A scratch folder for this test process (tests/test_tmpdir.h), made on
 * first use and removed when the process exits. */
static inline const char *gt_tmp(void) {
    if (!test_tmpdir[0]) {
        test_tmpdir_path(".");
        atexit(test_tmpdir_remove);
    }
    return test_tmpdir;
}

/* Runs $QTF_BUILD_ROOT/TOOL ARGS (a shell command line); stdout and stderr
 * into *out (malloc'd, NUL-terminated). Returns the exit status. */
static inline int gt_run(char **out, const char *tool, const char *args) {
    const char *build = getenv("QTF_BUILD_ROOT");
    cr_assert(build, "QTF_BUILD_ROOT is set by tests/meson.build");
    size_t cap = strlen(build) + strlen(tool) + strlen(args) + 256;
    char *cmd = malloc(cap), of[128];
    snprintf(of, sizeof of, "%s/out.txt", gt_tmp());
    snprintf(cmd, cap, "%s/%s %s >%s 2>&1", build, tool, args, of);
    int rc = system(cmd);
    free(cmd);
    FILE *f = fopen(of, "r");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = calloc((size_t)n + 1, 1);
    cr_assert_eq(fread(*out, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Calls fn(folder, name, ctx) for every file of the fixture folders
 * ../shared/gguf/aidreams-260k and ../shared/gguf/synth whose name ends with
 * `suffix` (folder is the full path of the folder, name the file name).
 * Returns how many; skips the test visibly when ../shared is absent. */
typedef void (*gt_fixture_fn)(const char *folder, const char *name, void *ctx);
static inline int gt_each_fixture(const char *suffix, gt_fixture_fn fn, void *ctx) {
    static const char *const dirs[] = { "gguf/aidreams-260k", "gguf/synth" };
    int n = 0;
    for (int d = 0; d < 2; d++) {
        GT_NEED(folder, dirs[d]);
        DIR *dp = opendir(folder);
        cr_assert(dp, "%s", folder);
        struct dirent *e;
        size_t sl = strlen(suffix);
        while ((e = readdir(dp))) {
            size_t l = strlen(e->d_name);
            if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0) continue;
            fn(folder, e->d_name, ctx);
            n++;
        }
        closedir(dp);
    }
    return n;
}

#endif
