/* tests/support/gguf_tools.c — ../shared paths, the scratch folder and tool
 * runs of the GGUF tests (gguf.h; Criterion). */
#include "support/gguf.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "support/files.h"
#include "support/run.h"

qtf_gguf *gt_open(const char *path) {
    qtf_gguf *g = NULL;
    qtf_status st = qtf_gguf_open(&g, path, 0);
    cr_assert_eq(st, QTF_OK, "%s: %s: %s", path, qtf_status_name(st), qtf_error_detail());
    return g;
}

const char *gt_tmp(void) {
    if (!test_tmpdir[0]) {
        test_tmpdir_path(".");
        atexit(test_tmpdir_remove);
    }
    return test_tmpdir;
}

int gt_run(char **out, const char *tool, const char *args) {
    char *exe = ts_build_path(tool);
    size_t cap = strlen(exe) + strlen(args) + 16;
    char *cmd = malloc(cap);
    cr_assert(cmd);
    snprintf(cmd, cap, "%s %s 2>&1", exe, args);
    char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    tf_run_result r = tf_run_ex(argv, gt_tmp(), NULL);
    free(cmd);
    free(exe);
    cr_assert(r.out, "the output of %s was not kept", tool);
    *out = r.out;
    free(r.err);
    return r.exited ? r.code : -1;
}

void gt_expect(const char *tool, const char *args, int code, ...) {
    char *out;
    int rc = gt_run(&out, tool, args);
    cr_assert_eq(rc, code, "%s %s: exit %d, not %d: %s", tool, args, rc, code, out);
    va_list ap;
    va_start(ap, code);
    for (const char *s; (s = va_arg(ap, const char *));)
        cr_assert(strstr(out, s), "\"%s\" missing from: %s", s, out);
    va_end(ap);
    free(out);
}

int gt_each_fixture(const char *suffix, gt_fixture_fn fn, void *ctx) {
    static const char *const dirs[] = { "gguf/aidreams-260k", "gguf/synth" };
    int n = 0;
    for (int d = 0; d < 2; d++) {
        TS_NEED(folder, dirs[d]);
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

const qtf_gguf_tensor *gt_tensor(const void **data, const qtf_gguf *g, const char *name) {
    uint64_t i, size;
    if (qtf_gguf_tensor_find(&i, g, name) != QTF_OK) return NULL;
    cr_assert_eq(qtf_gguf_tensor_data(data, &size, g, i), QTF_OK, "%s", qtf_error_detail());
    return qtf_gguf_tensor_get(g, i);
}

float *gt_importance(const qtf_gguf *im, const char *tensor, uint64_t n_per_row) {
    char key[128];
    const void *sums, *count;
    snprintf(key, sizeof key, "%s.in_sum2", tensor);
    const qtf_gguf_tensor *s = gt_tensor(&sums, im, key);
    if (!s) return NULL;
    snprintf(key, sizeof key, "%s.counts", tensor);
    const qtf_gguf_tensor *c = gt_tensor(&count, im, key);
    cr_assert(c && s->type == QTF_GGML_F32 && c->type == QTF_GGML_F32 &&
                  s->n_elements == n_per_row && c->n_elements == 1,
              "imatrix entry of %s has an unexpected shape", tensor);
    float cv, *w = malloc(n_per_row * sizeof *w);
    memcpy(&cv, count, 4);
    for (uint64_t i = 0; i < n_per_row; i++) {
        float sv;
        memcpy(&sv, (const unsigned char *)sums + 4 * i, 4);
        w[i] = sv / cv;
    }
    return w;
}
