/* bench/bench_container.c — container speed:
 *  (a) metadata-only and full open of a file with 10,000 small tensors
 *      (median of 20; target < 5 ms);
 *  (b) qtf_file_verify of a 2 GiB file (64 x 32 MiB of random bytes) from
 *      the page cache with 1 and 2 threads, against raw XXH3_64bits over a
 *      2 GiB in-memory buffer on one core (target >= 0.8x, faster with 2).
 * Usage: bench_container [TMPDIR [BIG_MIB]]   (defaults: /tmp, 2048) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "qtf.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void check(qtf_status st, const char *what) {
    if (st != QTF_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, qtf_status_name(st), qtf_error_detail());
        exit(1);
    }
}

static void fill_random(unsigned char *p, size_t n, uint64_t seed) {
    uint64_t x = seed | 1;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(p + i, &x, 8);
    }
    for (; i < n; i++) p[i] = (unsigned char)(x >> (8 * (i % 8)));
}

static void bench_many_tensors(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-10k.qtf", dir);
    qtf_writer *w;
    check(qtf_writer_create(&w, path, NULL), "create");
    check(qtf_writer_set_string(w, "general.name", "bench", 5), "meta");
    qtf_encoding f32;
    check(qtf_encoding_default(&f32, QTF_ENC_F32), "encoding");
    float data[64];
    for (int i = 0; i < 64; i++) data[i] = (float)i;
    for (int i = 0; i < 10000; i++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", i);
        uint64_t dims[2] = { 4, 16 };
        qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
        d.name = name;
        d.n_dims = 2;
        d.dims = dims;
        d.encoding = &f32;
        qtf_part_view v = { QTF_ROLE_DATA, QTF_DTYPE_F32, data, sizeof data };
        check(qtf_writer_add_tensor(w, &d, &v, 1), "add");
    }
    check(qtf_writer_finish(w), "finish");
    for (int mode = 0; mode < 2; mode++) {
        qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
        o.flags = mode == 0 ? QTF_OPEN_METADATA_ONLY : 0;
        double t[20];
        for (int r = 0; r < 20; r++) {
            qtf_file *f;
            double t0 = now();
            check(qtf_file_open(&f, path, &o), "open");
            t[r] = now() - t0;
            if (qtf_tensor_count(f) != 10000) exit(1);
            qtf_file_close(f);
        }
        double med = median(t, 20); /* sorts t */
        printf("10,000 tensors, %s open: median %.3f ms (min %.3f, max %.3f) over 20\n",
               mode == 0 ? "metadata-only" : "mmap", med * 1e3, t[0] * 1e3, t[19] * 1e3);
    }
    unlink(path);
}

static void bench_verify(const char *dir, uint64_t mib) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-verify.qtf", dir);
    const uint64_t n_tensors = 64, part = mib * (1ull << 20) / 64;
    unsigned char *buf = malloc((size_t)part);
    if (!buf) exit(1);
    qtf_writer *w;
    check(qtf_writer_create(&w, path, NULL), "create");
    qtf_encoding raw;
    memset(&raw, 0, sizeof raw);
    raw.id = QTF_ENC_RAW;
    raw.raw_type = QTF_DTYPE_U8;
    double t0 = now();
    for (uint64_t i = 0; i < n_tensors; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%llu", (unsigned long long)i);
        fill_random(buf, (size_t)part, 0x9E3779B97F4A7C15ull * (i + 1));
        uint64_t dims[1] = { part };
        qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
        d.name = name;
        d.n_dims = 1;
        d.dims = dims;
        d.encoding = &raw;
        qtf_part_view v = { QTF_ROLE_DATA, QTF_DTYPE_U8, buf, part };
        check(qtf_writer_add_tensor(w, &d, &v, 1), "add");
    }
    check(qtf_writer_finish(w), "finish");
    double total = (double)(n_tensors * part);
    printf("wrote %.0f MiB in %.2f s (with fsync)\n", total / 1048576.0, now() - t0);
    free(buf);

    /* raw XXH3 over an in-memory buffer of the same size, one core */
    unsigned char *mem = malloc((size_t)(n_tensors * part));
    if (!mem) exit(1);
    fill_random(mem, (size_t)(n_tensors * part), 12345);
    double tr[3];
    volatile uint64_t sink = 0;
    for (int r = 0; r < 3; r++) {
        t0 = now();
        sink ^= XXH3_64bits(mem, (size_t)(n_tensors * part));
        tr[r] = now() - t0;
    }
    free(mem);
    double raw_rate = total / median(tr, 3) / 1e9;
    printf("raw XXH3_64bits, in memory, 1 core: %.2f GB/s\n", raw_rate);

    qtf_file *f;
    t0 = now();
    check(qtf_file_open(&f, path, NULL), "open");
    printf("open (mmap) of the %.0f MiB file: %.3f ms\n", total / 1048576.0, (now() - t0) * 1e3);
    check(qtf_file_verify(f, 1, NULL), "warm-up verify"); /* page cache and mapping */
    for (unsigned threads = 1; threads <= 2; threads++) {
        double tv[3];
        for (int r = 0; r < 3; r++) {
            t0 = now();
            check(qtf_file_verify(f, threads, NULL), "verify");
            tv[r] = now() - t0;
        }
        double rate = total / median(tv, 3) / 1e9;
        printf("qtf_file_verify, %u thread%s: %.2f GB/s (%.2fx raw)\n", threads,
               threads > 1 ? "s" : "", rate, rate / raw_rate);
    }
    qtf_file_close(f);
    /* a cold mapping each time: what a verify right after open costs */
    double tc[3];
    for (int r = 0; r < 3; r++) {
        check(qtf_file_open(&f, path, NULL), "open");
        t0 = now();
        check(qtf_file_verify(f, 1, NULL), "verify");
        tc[r] = now() - t0;
        qtf_file_close(f);
    }
    printf("open + verify (fresh mapping, page cache warm), 1 thread: %.2f GB/s\n",
           total / median(tc, 3) / 1e9);
    unlink(path);
    (void)sink;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    uint64_t mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 2048;
    if (mib < 64) mib = 64;
    bench_many_tensors(dir);
    bench_verify(dir, mib);
    return 0;
}
