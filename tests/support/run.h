/* tests/support/run.h — running the built tools as subprocesses with their
 * output captured (Criterion: a tool that cannot be started fails the test).
 * One way to start a tool for every test: tf_run (an argv, output kept in
 * the result) and ts_tool (a tool of the build tree by its relative path,
 * output kept in ts_out_text / ts_err_text) share one spawner. */
#ifndef QTF_TEST_SUPPORT_RUN_H
#define QTF_TEST_SUPPORT_RUN_H

#include <stddef.h>

/* Result of one run of a tool. */
typedef struct tf_run_result {
    int exited;         /* 1: normal exit with `code` */
    int code;
    int signaled;       /* 1: killed by signal `sig` */
    int sig;
    char *out, *err;    /* captured stdout/stderr (NUL-terminated), or NULL */
    size_t out_len, err_len;
} tf_run_result;

/* What the child does before exec (all optional, zero: nothing). */
typedef struct tf_run_opts {
    const char *chdir;          /* working directory */
    long fsize_limit;           /* RLIMIT_FSIZE */
    unsigned long data_limit;   /* RLIMIT_DATA (not under AddressSanitizer, whose
                                   shadow memory counts against it) */
    unsigned alarm_seconds;     /* kept across exec: a tool that blocks dies of SIGALRM */
    const char *out_path;       /* stdout into this file instead of the capture */
} tf_run_opts;

/* Runs argv (argv[0] = the tool path). With `capture_dir`, stdout and stderr
 * are captured through files in it; otherwise both go to /dev/null. */
tf_run_result tf_run(char *const argv[], const char *capture_dir);
/* The same with options (o may be NULL). */
tf_run_result tf_run_ex(char *const argv[], const char *capture_dir, const tf_run_opts *o);
void tf_run_free(tf_run_result *r);
/* The exit status, or 128 + the signal that killed it. */
int tf_status(const tf_run_result *r);

/* $QTF_BUILD_ROOT/inspect/NAME (malloc'd). */
char *tf_tool(const char *name);
/* $QTF_BUILD_ROOT/REL (malloc'd), e.g. "convert/qtf-convert". */
char *ts_build_path(const char *rel);
/* The built program NAME (qtf-convert, qtf-inspect, ...) wherever the build
 * keeps it (malloc'd); fails the test when it is not built. */
char *ts_find_tool(const char *name);

/* Runs argv as tf_run does, capturing into `dir`; the tool must exit with
 * `code` and print each of the NULL-terminated strings that follow on
 * stdout (tf_expect_out) or stderr (tf_expect_err). */
void tf_expect_out(char *const argv[], const char *dir, int code, ...);
void tf_expect_err(char *const argv[], const char *dir, int code, ...);

/* Runs $QTF_BUILD_ROOT/REL with the NULL-terminated args (o may be NULL);
 * its stdout and stderr are kept, cut at 64 KiB, in ts_out_text and
 * ts_err_text. Returns the exit status, 128 + signal if killed, or -1 when
 * the program is not built. */
int ts_tool(const char *rel, const char *const *args, const tf_run_opts *o);
extern char ts_out_text[1 << 16], ts_err_text[1 << 16];
#define TS_TOOL(rel, ...) ts_tool((rel), (const char *const[]){ __VA_ARGS__, NULL }, NULL)

/* A capture folder for this test process, made on first use and removed
 * when the process exits. */
const char *ts_capture_dir(void);

#endif
