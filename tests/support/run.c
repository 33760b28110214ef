/* tests/support/run.c — built tools as subprocesses (run.h). */
#include "support/run.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/files.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

char ts_out_text[1 << 16], ts_err_text[1 << 16];

/* In the child: fd `fd` to `path` (or /dev/null); _exit(99) when it cannot. */
static void child_redirect(int fd, const char *path) {
    int o = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : open("/dev/null", O_WRONLY);
    if (o < 0 || dup2(o, fd) < 0) _exit(99);
    close(o);
}

tf_run_result tf_run_ex(char *const argv[], const char *capture_dir, const tf_run_opts *o) {
    static const tf_run_opts none;
    if (!o) o = &none;
    tf_run_result r;
    memset(&r, 0, sizeof r);
    char *out_path = NULL, *err_path = NULL;
    if (capture_dir) {
        out_path = tf_path(capture_dir, "stdout.txt");
        err_path = tf_path(capture_dir, "stderr.txt");
    }
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        child_redirect(1, o->out_path ? o->out_path : out_path);
        child_redirect(2, err_path);
        if (o->chdir && chdir(o->chdir) != 0) _exit(97);
        if (o->fsize_limit > 0) {
            struct rlimit rl = { (rlim_t)o->fsize_limit, (rlim_t)o->fsize_limit };
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (o->data_limit && !UNDER_ASAN) {
            struct rlimit rl = { (rlim_t)o->data_limit, (rlim_t)o->data_limit };
            setrlimit(RLIMIT_DATA, &rl);
        }
        if (o->alarm_seconds) alarm(o->alarm_seconds);
        execv(argv[0], argv);
        _exit(98);
    }
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

tf_run_result tf_run(char *const argv[], const char *capture_dir) {
    cr_assert(access(argv[0], X_OK) == 0, "cannot run %s", argv[0]);
    return tf_run_ex(argv, capture_dir, NULL);
}

void tf_run_free(tf_run_result *r) {
    free(r->out);
    free(r->err);
}

int tf_status(const tf_run_result *r) { return r->signaled ? 128 + r->sig : r->code; }

char *ts_build_path(const char *rel) {
    const char *root = getenv("QTF_BUILD_ROOT");
    cr_assert(root, "QTF_BUILD_ROOT is not set (run through meson test)");
    return tu_path(root, rel);
}

char *tf_tool(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "inspect/%s", name);
    return ts_build_path(rel);
}

char *ts_find_tool(const char *name) {
    static const char *const dirs[] = { "cli", "convert", "inspect", "tools", "" };
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "%s/%s", dirs[i], name);
        char *p = ts_build_path(rel);
        if (access(p, X_OK) == 0) return p;
        free(p);
    }
    cr_assert_fail("%s is not built under %s", name, getenv("QTF_BUILD_ROOT"));
    return NULL;
}

/* tf_expect_out / tf_expect_err: the needles in stdout (err = 0) or stderr. */
static void expect_run(char *const argv[], const char *dir, int code, int err, va_list ap) {
    tf_run_result r = tf_run(argv, dir);
    cr_assert_eq(r.code, code, "%s: exit %d, not %d; stderr: %s", argv[0], r.code, code, r.err);
    const char *text = err ? r.err : r.out;
    for (const char *s; (s = va_arg(ap, const char *));)
        cr_assert(strstr(text, s), "\"%s\" missing from the %s: %s", s, err ? "stderr" : "stdout",
                  text);
    tf_run_free(&r);
}

void tf_expect_out(char *const argv[], const char *dir, int code, ...) {
    va_list ap;
    va_start(ap, code);
    expect_run(argv, dir, code, 0, ap);
    va_end(ap);
}

void tf_expect_err(char *const argv[], const char *dir, int code, ...) {
    va_list ap;
    va_start(ap, code);
    expect_run(argv, dir, code, 1, ap);
    va_end(ap);
}

static char capture[256];

static void capture_remove(void) {
    if (capture[0]) tf_rm_rf(capture);
}

const char *ts_capture_dir(void) {
    if (!capture[0]) {
        char *d = tf_tmpdir();
        snprintf(capture, sizeof capture, "%s", d);
        free(d);
        atexit(capture_remove);
    }
    return capture;
}

/* At most cap - 1 bytes of s into buf, NUL-terminated. */
static void keep_text(char *buf, size_t cap, const char *s, size_t n) {
    if (!s) n = 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(buf, s, n);
    buf[n] = '\0';
}

int ts_tool(const char *rel, const char *const *args, const tf_run_opts *o) {
    char *exe = ts_build_path(rel);
    if (access(exe, X_OK) != 0) {
        free(exe);
        return -1;
    }
    const char *argv[64];
    int n = 0;
    argv[n++] = exe;
    for (int i = 0; args[i]; i++) {
        cr_assert(n < 63, "too many arguments for %s", rel);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    tf_run_result r = tf_run_ex((char *const *)argv, ts_capture_dir(), o);
    keep_text(ts_out_text, sizeof ts_out_text, r.out, r.out_len);
    keep_text(ts_err_text, sizeof ts_err_text, r.err, r.err_len);
    tf_run_free(&r);
    free(exe);
    return tf_status(&r);
}
