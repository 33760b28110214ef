/* bench/bench_verify.c — speed of the tools on files in the page cache.
 *
 *   bench_verify BUILD_ROOT [--size-mib N] [--dir DIR] [--keep]
 *
 * 1. XXH3-64 single-core rate on an in-memory buffer (the ceiling for
 *    checksum verification on one core).
 * 2. qtf-verify --checksums-only of an N MiB file (default 2048) with 1 and 2
 *    threads; target: 1 thread >= 0.8x the XXH3 rate, 2 threads faster.
 * 3. qtf-verify --against: 64 M int8 weights against an f32 .qtf source;
 *    target >= 500 M weights/s for dequantize + compare (the tool's own
 *    "decode" timing), also reported end to end (wall clock of the process).
 * 4. qtf-inspect of a 10,000-tensor file (text and --json); target < 50 ms.
 * Each figure is the best of several runs. Prints a Markdown table. */
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "qtf.h"
#include "support/container.h"

extern char **environ;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
    fprintf(stderr, "bench_verify: %s: %s\n", what, qtf_error_detail());
    exit(1);
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* CPU seconds (user + system) of the last child run: on a shared machine
 * wall time measures the other processes too; CPU time much less so. */
static double last_cpu;

/* Runs argv with stdout to out_path (or /dev/null); returns wall seconds. */
static double run(char *const argv[], const char *out_path, int *code) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    double t0 = now();
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        fprintf(stderr, "bench_verify: cannot run %s\n", argv[0]);
        exit(1);
    }
    int status = 0;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double t = now() - t0;
    last_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    posix_spawn_file_actions_destroy(&fa);
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return t;
}

static double best_cpu;

static double best_run(char *const argv[], int reps, const char *out_path) {
    double best = INFINITY;
    best_cpu = INFINITY;
    for (int i = 0; i < reps; i++) {
        int code;
        double t = run(argv, out_path, &code);
        if (code != 0) {
            fprintf(stderr, "bench_verify: %s exited with %d\n", argv[0], code);
            exit(1);
        }
        if (t < best) best = t;
        if (last_cpu < best_cpu) best_cpu = last_cpu;
    }
    return best;
}

static double xxh3_rate(void) {
    size_t n = 256u << 20;
    unsigned char *buf = malloc(n);
    if (!buf) die("malloc");
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rng();
        memcpy(buf + i, &v, 8);
    }
    volatile uint64_t sink = 0;
    double best = INFINITY;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        sink ^= XXH3_64bits(buf, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    (void)sink;
    free(buf);
    return (double)n / best;
}

/* f16 tensors of random bytes: checksummed like any data, never decoded. */
static void make_big(const char *path, uint64_t mib) {
    const uint64_t per = 64ull << 20; /* elements per tensor: 128 MiB of f16 */
    uint64_t total = mib << 20, done = 0;
    unsigned char *buf = malloc(per * 2);
    if (!buf) die("malloc");
    for (uint64_t i = 0; i < per * 2; i += 8) {
        uint64_t v = rng();
        memcpy(buf + i, &v, 8);
    }
    qtf_writer *w;
    if (qtf_writer_create(&w, path, NULL)) die("create");
    qtf_encoding e;
    qtf_encoding_parse(&e, "f16");
    for (unsigned k = 0; done < total; k++) {
        uint64_t elems = (total - done) / 2 < per ? (total - done) / 2 : per;
        uint64_t dims[2] = {elems / 1024, 1024};
        char name[64];
        snprintf(name, sizeof name, "blk.%u.weight", k);
        buf[k % 4096] ^= 1; /* distinct tensors */
        if (tu_add(w, name, 2, dims, &e, buf, dims[0] * dims[1] * 2, 0)) die("add");
        done += dims[0] * dims[1] * 2;
    }
    if (qtf_writer_finish(w)) die("finish");
    free(buf);
}

/* n_tensors tensors of `elems` weights, encoded with spec; values are the
 * same for both files so that one is the other's source. */
static void make_model(const char *path, const char *spec, unsigned n_tensors, uint64_t rows,
                       uint64_t cols) {
    qtf_writer *w;
    if (qtf_writer_create(&w, path, NULL)) die("create");
    qtf_encoding e;
    if (qtf_encoding_parse(&e, spec)) die("parse");
    float *x = malloc(rows * cols * sizeof *x);
    if (!x) die("malloc");
    for (unsigned k = 0; k < n_tensors; k++) {
        for (uint64_t i = 0; i < rows * cols; i++)
            x[i] = (float)((double)(int64_t)(rng() >> 11) / 9007199254740992.0 - 0.5) * 0.1f;
        uint64_t dims[2] = {rows, cols};
        qtf_encoded *enc;
        if (qtf_quantize(&enc, &e, x, 2, dims, NULL)) die("quantize");
        char name[64];
        snprintf(name, sizeof name, "layers.%u.weight", k);
        if (ts_add_encoded(w, name, &e, enc, 2, dims, QTF_DTYPE_F32, 0)) die("add");
        qtf_encoded_free(enc);
    }
    if (qtf_writer_finish(w)) die("finish");
    free(x);
}

static void make_many(const char *path, unsigned n) {
    qtf_writer *w;
    if (qtf_writer_create(&w, path, NULL)) die("create");
    qtf_encoding e;
    qtf_encoding_parse(&e, "f16");
    uint16_t data[64] = {0};
    for (unsigned i = 0; i < 32; i++) {
        char key[32];
        snprintf(key, sizeof key, "bench.key.%u", i);
        qtf_writer_set_u32(w, key, i);
    }
    for (unsigned k = 0; k < n; k++) {
        char name[96];
        snprintf(name, sizeof name, "model.layers.%u.block.%u.weight", k / 16, k % 16);
        uint64_t dims[2] = {4, 16};
        data[0] = (uint16_t)k;
        if (tu_add(w, name, 2, dims, &e, data, sizeof data, 0)) die("add");
    }
    if (qtf_writer_finish(w)) die("finish");
}

/* The "decode" seconds qtf-verify reports (dequantize + source read + metrics). */
static double decode_seconds(const char *out_path) {
    FILE *f = fopen(out_path, "r");
    if (!f) return NAN;
    char line[512];
    double s = NAN;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "dequantized (");
        if (p) s = strtod(p + strlen("dequantized ("), NULL);
    }
    fclose(f);
    return s;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_verify BUILD_ROOT [--size-mib N] [--dir DIR] [--keep]\n");
        return 2;
    }
    const char *root = argv[1];
    uint64_t mib = 2048;
    const char *dir_base = "/tmp";
    int keep = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--size-mib") && i + 1 < argc) mib = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir_base = argv[++i];
        else if (!strcmp(argv[i], "--keep")) keep = 1;
        else {
            fprintf(stderr, "bench_verify: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char dir[4096], verify[4096], inspect[4096], big[4200], q[4200], src[4200], many[4200], out[4200];
    snprintf(dir, sizeof dir, "%s/bench-verify-XXXXXX", dir_base);
    if (!mkdtemp(dir)) die("mkdtemp");
    snprintf(verify, sizeof verify, "%s/inspect/qtf-verify", root);
    snprintf(inspect, sizeof inspect, "%s/inspect/qtf-inspect", root);
    snprintf(big, sizeof big, "%s/big.qtf", dir);
    snprintf(q, sizeof q, "%s/int8.qtf", dir);
    snprintf(src, sizeof src, "%s/source.qtf", dir);
    snprintf(many, sizeof many, "%s/many.qtf", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);

    printf("| measurement | result | target |\n|---|---|---|\n");
    double xxh = xxh3_rate();
    printf("| XXH3-64, one core, in memory | %.2f GB/s | - |\n", xxh / 1e9);
    fflush(stdout);

    make_big(big, mib);
    qtf_file *f;
    if (qtf_file_open(&f, big, NULL)) die("open");
    qtf_file_verify(f, 0, NULL); /* into the page cache */
    double lib1 = INFINITY, lib2 = INFINITY;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        if (qtf_file_verify(f, 1, NULL)) die("verify");
        double t = now() - t0;
        if (t < lib1) lib1 = t;
        t0 = now();
        if (qtf_file_verify(f, 2, NULL)) die("verify");
        t = now() - t0;
        if (t < lib2) lib2 = t;
    }
    uint64_t bytes = qtf_file_get_info(f)->file_size;
    qtf_file_close(f);
    char *v1[] = {verify, "--checksums-only", "--quiet", "--threads", "1", big, NULL};
    char *v2[] = {verify, "--checksums-only", "--quiet", "--threads", "2", big, NULL};
    double t1 = best_run(v1, 3, NULL);
    double t2 = best_run(v2, 3, NULL);
    printf("| qtf_file_verify, %llu MiB, 1 thread | %.2f GB/s (%.2fx XXH3) | - |\n",
           (unsigned long long)(bytes >> 20), (double)bytes / lib1 / 1e9, (double)bytes / lib1 / xxh);
    printf("| qtf_file_verify, 2 threads | %.2f GB/s (%.2fx 1 thread) | - |\n",
           (double)bytes / lib2 / 1e9, lib1 / lib2);
    printf("| qtf-verify --checksums-only, 1 thread (process wall) | %.2f GB/s (%.2fx XXH3) | >= 0.8x |\n",
           (double)bytes / t1 / 1e9, (double)bytes / t1 / xxh);
    printf("| qtf-verify --checksums-only, 2 threads (process wall) | %.2f GB/s (%.2fx 1 thread) | > 1x |\n",
           (double)bytes / t2 / 1e9, t1 / t2);
    fflush(stdout);
    if (!keep) unlink(big);

    const unsigned n_t = 16;
    const uint64_t rows = 1024, cols = 4096;
    /* the same generator sequence for both, so one is the other's source */
    rng_state = 0x243F6A8885A308D3ull;
    make_model(q, "int8", n_t, rows, cols);
    rng_state = 0x243F6A8885A308D3ull;
    make_model(src, "f32", n_t, rows, cols);
    uint64_t weights = (uint64_t)n_t * rows * cols;
    for (unsigned threads = 1; threads <= 2; threads++) {
        char tstr[8];
        snprintf(tstr, sizeof tstr, "%u", threads);
        char *va[] = {verify, q, "--against", src, "--quiet", "--threads", tstr, NULL};
        double best_dec = INFINITY, best_wall = INFINITY, cpu = INFINITY;
        for (int r = 0; r < 3; r++) {
            int code;
            double t = run(va, out, &code);
            double d = decode_seconds(out);
            if (t < best_wall) best_wall = t;
            if (d < best_dec) best_dec = d;
            if (last_cpu < cpu) cpu = last_cpu;
        }
        printf("| qtf-verify --against, %llu M int8 weights, %u thread%s: dequantize + compare | "
               "%.0f M weights/s | >= 500 |\n", (unsigned long long)(weights / 1000000), threads,
               threads > 1 ? "s" : "", (double)weights / best_dec / 1e6);
        printf("| same, whole process (open, checksums, compare) | %.0f M weights/s | - |\n",
               (double)weights / best_wall / 1e6);
        if (threads == 1)
            printf("| same, whole process, per CPU second | %.0f M weights/s | - |\n",
                   (double)weights / cpu / 1e6);
    }
    fflush(stdout);

    make_many(many, 10000);
    char *i1[] = {inspect, many, NULL};
    char *i2[] = {inspect, "--json", many, NULL};
    char *i3[] = {inspect, "--no-tensors", many, NULL};
    double w;
    w = best_run(i1, 5, NULL);
    printf("| qtf-inspect, 10,000 tensors, text | %.1f ms (CPU %.1f ms) | < 50 ms |\n", w * 1e3, best_cpu * 1e3);
    w = best_run(i2, 5, NULL);
    printf("| qtf-inspect --json, 10,000 tensors | %.1f ms (CPU %.1f ms) | - |\n", w * 1e3, best_cpu * 1e3);
    w = best_run(i3, 5, NULL);
    printf("| qtf-inspect --no-tensors, 10,000 tensors | %.1f ms (CPU %.1f ms) | - |\n", w * 1e3, best_cpu * 1e3);

    if (!keep) {
        unlink(q);
        unlink(src);
        unlink(many);
        unlink(out);
        rmdir(dir);
    } else {
        fprintf(stderr, "bench_verify: files kept in %s\n", dir);
    }
    return 0;
}
