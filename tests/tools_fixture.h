/* tests/tools_fixture.h — what the tool tests (test_inspect, test_verify,
 * test_tools_mutation) share: sample .qtf files built with the public
 * writer, and running the built qtf-inspect / qtf-verify as subprocesses. */
#ifndef QTF_TESTS_TOOLS_FIXTURE_H
#define QTF_TESTS_TOOLS_FIXTURE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "qtf.h"

extern char **environ;

/* One tensor of a sample file: values are a deterministic function of the
 * tensor number, so tests can rebuild the source exactly. */
typedef struct tf_tensor {
    const char *name;
    const char *encoding;
    uint32_t n_dims;
    uint64_t dims[2];
} tf_tensor;

/* The standard sample: one tensor per encoding family. */
static const tf_tensor tf_sample[] = {
    {"tok_embeddings.weight", "f16", 2, {16, 32}},
    {"layers.0.attention.wq.weight", "int4:group=32", 2, {8, 64}},
    {"layers.0.feed_forward.w1.weight", "pal4", 2, {8, 64}},
    {"layers.0.feed_forward.w2.weight", "q8_0", 2, {4, 64}},
    {"layers.0.attention.wk.weight", "int8:zstd", 2, {8, 64}},
    {"norm.weight", "f32", 1, {32, 0}},
};
#define TF_SAMPLE_COUNT (sizeof tf_sample / sizeof tf_sample[0])

#define TF_RECIPE "# default: int4\n*embed*=int8\n"

/* A string with C0 controls, an escape sequence, DEL and a bidi override. */
static const char tf_control_string[] = "tab\there\nESC\x1b[31mred\x07 del\x7f rlo\xe2\x80\xae end";

static inline uint64_t tf_elements(const tf_tensor *t) {
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) n *= t->dims[d];
    return n;
}

static inline float *tf_values(unsigned seed, uint64_t n) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert(x);
    for (uint64_t i = 0; i < n; i++)
        x[i] = 0.5f * sinf(0.37f * (float)i + 1.3f * (float)seed) + 0.01f * (float)(i % 7);
    return x;
}

static inline char *tf_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *dir = malloc(4096);
    cr_assert(dir);
    snprintf(dir, 4096, "%s/qtf-tools-XXXXXX", base && *base ? base : "/tmp");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
    return dir;
}

static inline char *tf_path(const char *dir, const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    cr_assert(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static inline int tf_rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static inline void tf_rm_rf(const char *dir) {
    if (nftw(dir, tf_rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) cr_log_warn("could not remove %s", dir);
}

/* Adds tensor `t` with values tf_values(seed) encoded as `encoding`. */
static inline void tf_add(qtf_writer *w, const char *name, const char *encoding, uint32_t n_dims,
                          const uint64_t *dims, unsigned seed, qtf_dtype source_type) {
    qtf_encoding e;
    cr_assert_eq(qtf_encoding_parse(&e, encoding), QTF_OK, "parse %s: %s", encoding, qtf_error_detail());
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) n *= dims[d];
    float *x = tf_values(seed, n);
    qtf_encoded *enc = NULL;
    cr_assert_eq(qtf_quantize(&enc, &e, x, n_dims, dims, NULL), QTF_OK, "quantize %s: %s", encoding,
                 qtf_error_detail());
    qtf_part_view v[QTF_MAX_PARTS];
    uint32_t np = qtf_encoded_views(v, enc);
    qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
    d.name = name;
    d.n_dims = n_dims;
    d.dims = dims;
    d.encoding = &e;
    d.source_type = source_type;
    d.zstd_level = (int)e.zstd_level;
    cr_assert_eq(qtf_writer_add_tensor(w, &d, v, np), QTF_OK, "add %s: %s", name, qtf_error_detail());
    qtf_encoded_free(enc);
    free(x);
}

/* The sample file: tf_sample tensors (seed = index) and metadata covering
 * every kind of value, including text with control characters. */
static inline void tf_make_sample(const char *path) {
    qtf_writer *w = NULL;
    cr_assert_eq(qtf_writer_create(&w, path, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "qtf.converter", "qtf-test 1.0", 12), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "qtf.recipe", TF_RECIPE, sizeof TF_RECIPE - 1), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "test.control", tf_control_string, sizeof tf_control_string - 1),
                 QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_blob(w, "test.blob", "application/json", "{\"a\":1}", 7), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_set_u64(w, "test.big", (1ull << 60) + 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_f64(w, "test.pi", 3.25), QTF_OK);
    cr_assert_eq(qtf_writer_set_bool(w, "test.flag", 1), QTF_OK);
    uint32_t arr[10];
    for (unsigned i = 0; i < 10; i++) arr[i] = i * i;
    cr_assert_eq(qtf_writer_set_value(w, "test.squares", QTF_TYPE_ARRAY, QTF_TYPE_U32, arr, 10), QTF_OK,
                 "%s", qtf_error_detail());
    const char *strs[3] = {"<s>", "line\nbreak", "</s>"};
    uint64_t lens[3] = {3, 10, 4};
    cr_assert_eq(qtf_writer_set_string_array(w, "test.tokens", strs, lens, 3), QTF_OK, "%s",
                 qtf_error_detail());
    for (unsigned k = 0; k < TF_SAMPLE_COUNT; k++)
        tf_add(w, tf_sample[k].name, tf_sample[k].encoding, tf_sample[k].n_dims, tf_sample[k].dims, k,
               QTF_DTYPE_BF16);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
}

/* Result of one run of a tool. */
typedef struct tf_run_result {
    int exited;         /* 1: normal exit with `code` */
    int code;
    int signaled;       /* 1: killed by signal `sig` */
    int sig;
    char *out, *err;    /* captured stdout/stderr (NUL-terminated), or NULL */
    size_t out_len, err_len;
} tf_run_result;

static inline char *tf_tool(const char *name) {
    const char *root = getenv("QTF_BUILD_ROOT");
    cr_assert(root, "QTF_BUILD_ROOT is not set (run through meson test)");
    char *p = malloc(strlen(root) + strlen(name) + 16);
    cr_assert(p);
    sprintf(p, "%s/inspect/%s", root, name);
    return p;
}

static inline char *tf_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    cr_assert(buf);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            cr_assert(buf);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Runs argv (argv[0] = the tool path). With `capture_dir`, stdout and stderr
 * are captured through files in it; otherwise both go to /dev/null. */
static inline tf_run_result tf_run(char *const argv[], const char *capture_dir) {
    tf_run_result r;
    memset(&r, 0, sizeof r);
    char *out_path = NULL, *err_path = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (capture_dir) {
        out_path = tf_path(capture_dir, "stdout.txt");
        err_path = tf_path(capture_dir, "stderr.txt");
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    } else {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s", argv[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) cr_assert(errno == EINTR, "waitpid failed");
    r.exited = WIFEXITED(status);
    r.code = r.exited ? WEXITSTATUS(status) : -1;
    r.signaled = WIFSIGNALED(status);
    r.sig = r.signaled ? WTERMSIG(status) : 0;
    if (capture_dir) {
        r.out = tf_slurp(out_path, &r.out_len);
        r.err = tf_slurp(err_path, &r.err_len);
        unlink(out_path);
        unlink(err_path);
    }
    free(out_path);
    free(err_path);
    return r;
}

static inline void tf_run_free(tf_run_result *r) {
    free(r->out);
    free(r->err);
}

/* 1 if the text has a control byte other than newline. */
static inline int tf_has_raw_control(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n') || c == 0x7F) return 1;
        /* C1 controls / bidi overrides would appear as these UTF-8 sequences */
        if (c == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9F)
            return 1;
        if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
            (unsigned char)s[i + 2] >= 0xAA && (unsigned char)s[i + 2] <= 0xAE)
            return 1;
    }
    return 0;
}

/* A temp dir holding the sample file (tf_make_sample), and the tool under test. */
typedef struct tf_fixture {
    char *dir, *file, *tool;
} tf_fixture;

static inline tf_fixture tf_fixture_setup(const char *tool) {
    tf_fixture fx;
    fx.dir = tf_tmpdir();
    fx.file = tf_path(fx.dir, "sample.qtf");
    fx.tool = tf_tool(tool);
    tf_make_sample(fx.file);
    return fx;
}

static inline void tf_fixture_teardown(tf_fixture *fx) {
    tf_rm_rf(fx->dir);
    free(fx->dir);
    free(fx->file);
    free(fx->tool);
}

/* Runs the tool on the fixture's file with --json and `extra` arguments; the
 * tool must exit normally and print one JSON document (returned). */
static inline json_t *tf_run_json(const tf_fixture *fx, tf_run_result *r, char *const *extra,
                                  int n_extra) {
    char *argv[24] = {fx->tool, fx->file, "--json"};
    cr_assert(n_extra >= 0 && n_extra <= 20, "too many arguments (%d)", n_extra);
    int argc = 3;
    for (int i = 0; i < n_extra; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;
    *r = tf_run(argv, fx->dir);
    cr_assert(r->exited, "%s did not exit normally (signal %d)", fx->tool, r->sig);
    json_error_t err;
    json_t *j = json_loadb(r->out, r->out_len, 0, &err);
    cr_assert(j, "output is not JSON (%s): %.300s / stderr %.500s", err.text, r->out, r->err);
    return j;
}

#endif
