/* tests/test_tools_output.c — the tools never destroy a file and never hang
 * on a model folder (issue 11, items 1-4 and the embedded-file part of 6).
 * qtf-convert and qtf-verify run as subprocesses on a small checkpoint
 * written with the safetensors writer; each child gets alarm(30) before
 * exec, so a regression that blocks fails with SIGALRM instead of hanging.
 * The writers' own guarantee (nothing left after SIGKILL) is tested in
 * process. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "checkpoint/source.h"
#include "common/outfile.h"
#include "qtf.h"
#include "support/source.h"
#include "support/container.h"
#include "support/files.h"
#include "support/run.h"

TestSuite(tools_output, .init = test_tmpdir_make, .fini = test_tmpdir_remove);


static const char *path_in(const char *name) { return test_tmpdir_path(name); }

static int same_bytes(const char *path, const char *text) {
    size_t n;
    char *p = tf_slurp(path, &n);
    int same = p && n == strlen(text) && memcmp(p, text, n) == 0;
    free(p);
    return same;
}

/* A model folder: model.safetensors with two F32 tensors, config.json. */
static const char *make_model(const char *name) {
    static char d[512];
    snprintf(d, sizeof d, "%s", path_in(name));
    cr_assert_eq(mkdir(d, 0755), 0);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    qtf_st_writer *w = ts_st_writer(p);
    uint64_t dims[2] = { 8, 64 };
    float v[8 * 64];
    for (int i = 0; i < 8 * 64; i++) v[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    cr_assert_eq(qtf_st_writer_declare(w, "model.layers.0.mlp.up_proj.weight", QTF_DTYPE_F32, 2,
                                       dims), QTF_OK);
    cr_assert_eq(qtf_st_writer_declare(w, "model.norm.weight", QTF_DTYPE_F32, 1, dims + 1),
                 QTF_OK);
    cr_assert_eq(qtf_st_writer_write(w, v, sizeof v), QTF_OK);
    cr_assert_eq(qtf_st_writer_write(w, v, 64 * sizeof(float)), QTF_OK);
    cr_assert_eq(qtf_st_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    snprintf(p, sizeof p, "%s/config.json", d);
    tu_write_text(p, "{\"model_type\": \"llama\", \"hidden_size\": 64}");
    return d;
}

/* Runs build/TOOL with args (NULL-terminated) under alarm(30); stderr in
 * ts_err_text. Returns the exit code, or 128 + signal. */
static int run_tool(const char *tool, const char *const *args) {
    tf_run_opts o = { .alarm_seconds = 30 };
    return ts_tool(tool, args, &o);
}

#define CONVERT(...) run_tool("convert/qtf-convert", (const char *const[]){ __VA_ARGS__, NULL })
#define VERIFY(...) run_tool("inspect/qtf-verify", (const char *const[]){ __VA_ARGS__, NULL })

/* --- item 1: qtf-convert ------------------------------------------------------ */

Test(tools_output, convert_refuses_an_existing_output_without_force) {
    const char *model = make_model("m");
    const char *out = path_in("o.qtf");
    tu_write_text(out, "previous content");
    cr_assert_eq(CONVERT("-q", model, out), 2, "%s", ts_err_text);
    cr_assert(strstr(ts_err_text, "already exists"), "%s", ts_err_text);
    cr_assert(same_bytes(out, "previous content"));
    /* the ordinary case of item 1: a .qtf over an unrelated checkpoint file */
    const char *other = path_in("other.safetensors");
    tu_write_text(other, "an F32 checkpoint");
    cr_assert_eq(CONVERT("-q", "-e", "bf16", model, other), 2, "%s", ts_err_text);
    cr_assert(same_bytes(other, "an F32 checkpoint"));
    /* --force replaces it */
    cr_assert_eq(CONVERT("-q", "--force", model, out), 0, "%s", ts_err_text);
    qtf_file *f;
    cr_assert_eq(qtf_file_open(&f, out, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_count(f), 2);
    qtf_file_close(f);
}

Test(tools_output, convert_never_replaces_an_input_even_with_force) {
    const char *model = make_model("m");
    char src[600], cfg[600];
    snprintf(src, sizeof src, "%s/model.safetensors", model);
    snprintf(cfg, sizeof cfg, "%s/config.json", model);
    size_t src_len;
    char *before = tf_slurp(src, &src_len);
    cr_assert(before);
    /* the checkpoint file itself, given as file and as folder */
    cr_assert_eq(CONVERT("-q", "--force", "-e", "bf16", src, src), 2, "%s", ts_err_text);
    cr_assert(strstr(ts_err_text, "input"), "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "--force", "-e", "bf16", model, src), 2, "%s", ts_err_text);
    /* another name for it: a hard link and a symbolic link */
    cr_assert_eq(link(src, path_in("hard.safetensors")), 0);
    cr_assert_eq(symlink(src, path_in("soft.safetensors")), 0);
    cr_assert_eq(CONVERT("-q", "--force", "-e", "bf16", model, path_in("hard.safetensors")), 2,
                 "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "--force", "-e", "bf16", model, path_in("soft.safetensors")), 2,
                 "%s", ts_err_text);
    /* an embedded file of the folder, the recipe, the importance file */
    cr_assert_eq(CONVERT("-q", "--force", model, cfg), 2, "%s", ts_err_text);
    const char *recipe = path_in("r.recipe");
    tu_write_text(recipe, "*norm*=keep\n");
    cr_assert_eq(CONVERT("-q", "--force", "--recipe", recipe, model, recipe), 2, "%s", ts_err_text);
    cr_assert(same_bytes(recipe, "*norm*=keep\n"));
    /* a .qtf source converted back over itself */
    const char *q = path_in("m.qtf");
    cr_assert_eq(CONVERT("-q", model, q), 0, "%s", ts_err_text);
    struct stat sq;
    cr_assert_eq(stat(q, &sq), 0);
    cr_assert_eq(CONVERT("-q", "--force", "-e", "int4:group=32", q, q), 2, "%s", ts_err_text);
    struct stat sq2;
    cr_assert_eq(stat(q, &sq2), 0);
    cr_assert_eq(sq.st_ino, sq2.st_ino, "the source .qtf was replaced");
    size_t after_len;
    char *after = tf_slurp(src, &after_len);
    cr_assert(after && after_len == src_len && memcmp(before, after, src_len) == 0,
              "the source checkpoint changed");
    free(before);
    free(after);
}

/* --- item 2: qtf-verify --plot -------------------------------------------------- */

Test(tools_output, verify_plot_keeps_existing_files_and_inputs) {
    const char *model = make_model("m");
    const char *q = path_in("m.qtf");
    cr_assert_eq(CONVERT("-q", model, q), 0, "%s", ts_err_text);
    char src[600];
    snprintf(src, sizeof src, "%s/model.safetensors", model);
    const char *svg = path_in("e.svg");
    tu_write_text(svg, "old chart");
    cr_assert_eq(VERIFY("-q", "--against", model, "--plot", svg, q), 2, "%s", ts_err_text);
    cr_assert(strstr(ts_err_text, "already exists"), "%s", ts_err_text);
    cr_assert(same_bytes(svg, "old chart"));
    cr_assert_eq(VERIFY("-q", "--against", model, "--plot", svg, "--force", q), 0, "%s",
                 ts_err_text);
    size_t n;
    char *p = tf_slurp(svg, &n);
    cr_assert(p && strstr(p, "<svg"), "no chart written");
    free(p);
    /* the verified file and the source checkpoint, even with --force */
    struct stat before, after;
    cr_assert_eq(stat(q, &before), 0);
    cr_assert_eq(VERIFY("-q", "--against", model, "--plot", q, "--force", q), 2, "%s", ts_err_text);
    cr_assert_eq(stat(q, &after), 0);
    cr_assert_eq(before.st_ino, after.st_ino);
    cr_assert_eq(before.st_size, after.st_size);
    cr_assert_eq(stat(src, &before), 0);
    cr_assert_eq(VERIFY("-q", "--against", model, "--plot", src, "--force", q), 2, "%s",
                 ts_err_text);
    cr_assert_eq(stat(src, &after), 0);
    cr_assert_eq(before.st_ino, after.st_ino);
    cr_assert_eq(before.st_size, after.st_size);
}

/* --- item 3: devices, FIFOs and sockets are never unlinked ----------------------- */

/* `qtf-convert MODEL /dev/null` must leave /dev/null a device. The test uses
 * its own node of the same device (1, 3) in its directory: a regression run
 * as root would replace that node, never the machine's /dev/null. */
Test(tools_output, dev_null_is_written_through) {
    const char *model = make_model("m");
    const char *null = path_in("null");
    if (mknod(null, S_IFCHR | 0666, makedev(1, 3)) != 0)
        cr_skip_test("cannot create a /dev/null node here (%s): needs CAP_MKNOD",
                     strerror(errno));
    struct stat before, after;
    cr_assert_eq(stat(null, &before), 0);
    cr_assert_eq(CONVERT("-q", model, null), 0, "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "-e", "bf16", model, null), 0, "%s", ts_err_text);
    const char *q = path_in("m.qtf");
    cr_assert_eq(CONVERT("-q", model, q), 0, "%s", ts_err_text);
    cr_assert_eq(VERIFY("-q", "--against", model, "--plot", null, q), 0, "%s", ts_err_text);
    cr_assert_eq(lstat(null, &after), 0);
    cr_assert(S_ISCHR(after.st_mode), "the device node was replaced");
    cr_assert_eq(before.st_ino, after.st_ino);
    cr_assert_eq(before.st_rdev, after.st_rdev);
}

Test(tools_output, fifo_output_is_written_through_never_replaced) {
    const char *model = make_model("m");
    /* the reference bytes, written to a regular file */
    const char *ref = path_in("ref.safetensors");
    cr_assert_eq(CONVERT("-q", "-e", "bf16", model, ref), 0, "%s", ts_err_text);
    const char *fifo = path_in("pipe.safetensors");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    /* without a reader: refused at once, not waited on */
    cr_assert_eq(CONVERT("-q", "-e", "bf16", model, fifo), 1, "%s", ts_err_text);
    cr_assert(strstr(ts_err_text, "FIFO"), "%s", ts_err_text);
    /* with a reader: the bytes arrive through the FIFO */
    char got_path[600];
    snprintf(got_path, sizeof got_path, "%s/got", ts_capture_dir());
    pid_t reader = fork();
    cr_assert(reader >= 0);
    if (reader == 0) {
        alarm(30);
        int in = open(fifo, O_RDONLY);
        int o = open(got_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char buf[4096];
        ssize_t r;
        while (in >= 0 && (r = read(in, buf, sizeof buf)) > 0)
            if (write(o, buf, (size_t)r) != r) _exit(1);
        _exit(0);
    }
    int code = -1;
    for (int tries = 0; tries < 100; tries++) {
        /* the reader may not have opened the FIFO yet */
        code = CONVERT("-q", "-e", "bf16", model, fifo);
        if (code == 0 || !strstr(ts_err_text, "nobody reads")) break;
        usleep(50000);
    }
    cr_assert_eq(code, 0, "%s", ts_err_text);
    int status;
    cr_assert_eq(waitpid(reader, &status, 0), reader);
    struct stat sb;
    cr_assert_eq(lstat(fifo, &sb), 0);
    cr_assert(S_ISFIFO(sb.st_mode), "the FIFO was replaced by a regular file");
    size_t n_ref, n_got;
    char *a = tf_slurp(ref, &n_ref), *b = tf_slurp(got_path, &n_got);
    cr_assert(a && b && n_ref == n_got && memcmp(a, b, n_ref) == 0,
              "bytes through the FIFO differ from the regular file");
    free(a);
    free(b);
    /* a .qtf is written with seeks: refused, FIFO kept */
    const char *qfifo = path_in("pipe.qtf");
    cr_assert_eq(mkfifo(qfifo, 0600), 0);
    cr_assert_eq(CONVERT("-q", "--force", model, qfifo), 2, "%s", ts_err_text);
    cr_assert(strstr(ts_err_text, "seeks"), "%s", ts_err_text);
    cr_assert_eq(lstat(qfifo, &sb), 0);
    cr_assert(S_ISFIFO(sb.st_mode));
}

Test(tools_output, socket_output_is_refused_and_kept) {
    const char *model = make_model("m");
    const char *sock = path_in("s.qtf");
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    cr_assert_lt(strlen(sock), sizeof a.sun_path);
    strcpy(a.sun_path, sock);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(CONVERT("-q", "--force", model, sock), 2, "%s", ts_err_text);
    cr_assert(strstr(ts_err_text, "socket"), "%s", ts_err_text);
    struct stat sb;
    cr_assert_eq(lstat(sock, &sb), 0);
    cr_assert(S_ISSOCK(sb.st_mode));
    close(fd);
}

/* --- item 4: nothing left behind after SIGKILL ---------------------------------- */

Test(tools_output, killed_writers_leave_nothing) {
    ts_killed_writer(1, path_in("k.safetensors"));
    ts_killed_writer(0, path_in("k.qtf"));
    cr_assert_eq(tu_dir_entries(test_tmpdir), 0, "a killed writer left a file behind");
}

/* The library rules behind the tools: QTF_WRITER_NO_REPLACE, protected
 * paths compared by inode, for both writers. */
Test(tools_output, writer_options_protect_inputs) {
    const char *in = path_in("in.bin");
    tu_write_text(in, "input");
    cr_assert_eq(link(in, path_in("alias.bin")), 0);
    const char *prot[] = { in };
    qtf_writer_options o = QTF_WRITER_OPTIONS_INIT;
    o.protected_paths = prot;
    o.n_protected = 1;
    qtf_writer *w;
    qtf_st_writer *sw;
    cr_assert_eq(qtf_writer_create(&w, path_in("alias.bin"), &o), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_st_writer_create(&sw, path_in("alias.bin"), &o), QTF_E_INVALID_ARG);
    o.flags = QTF_WRITER_NO_REPLACE;
    o.n_protected = 0;
    cr_assert_eq(qtf_writer_create(&w, in, &o), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_st_writer_create(&sw, in, &o), QTF_E_INVALID_ARG);
    cr_assert(same_bytes(in, "input"));
    /* an older version of the options is still accepted */
    qtf_writer_options v1 = { 1, 0, 0, NULL, 0, NULL, NULL };
    cr_assert_eq(qtf_writer_create(&w, path_in("new.qtf"), &v1), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    /* a file that appears at the destination while a NO_REPLACE writer
     * works is not replaced at finish, in both temp-file modes */
    for (int named = 0; named < 2; named++) {
        qtf__test_force_named_temp(named);
        const char *late = path_in(named ? "late2.qtf" : "late1.qtf");
        cr_assert_eq(qtf_writer_create(&w, late, &o), QTF_OK, "%s", qtf_error_detail());
        tu_write_text(late, "arrived meanwhile");
        cr_assert_eq(qtf_writer_finish(w), QTF_E_INVALID_ARG);
        cr_assert(same_bytes(late, "arrived meanwhile"));
        qtf__test_force_named_temp(0);
    }
    cr_assert_eq(tu_dir_entries(test_tmpdir), 5, "a temp file was left behind");
}

/* --- item 6 (embedded files): a FIFO in the model folder ------------------------ */

Test(tools_output, fifo_embedded_file_is_refused_without_blocking) {
    const char *names[] = { "config.json", "generation_config.json", "tokenizer.json",
                            "tokenizer_config.json" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char mdir[32], p[700];
        snprintf(mdir, sizeof mdir, "m%zu", i);
        const char *model = make_model(mdir);
        snprintf(p, sizeof p, "%s/%s", model, names[i]);
        unlink(p);
        cr_assert_eq(mkfifo(p, 0600), 0);
        char out[600];
        snprintf(out, sizeof out, "%s.qtf", model);
        int code = CONVERT("-q", model, out);
        cr_assert_eq(code, 2, "%s: exit %d (142 = blocked until the alarm): %s", names[i], code,
                     ts_err_text);
        cr_assert(strstr(ts_err_text, "not a regular file") && strstr(ts_err_text, names[i]), "%s",
                  ts_err_text);
        cr_assert_eq(access(out, F_OK), -1);
    }
}
