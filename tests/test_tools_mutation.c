/* tests/test_tools_mutation.c — both tools over every truncation of a small
 * valid file and a thousand deterministic single-byte flips. They must exit
 * with 0, 1 or 2, never by a signal (the sanitizer build turns any memory
 * error into one). Every byte of a QTF file is covered by a checksum (header,
 * metadata and directory by the header checksum, tensor bytes by theirs,
 * padding must be zero), so qtf-verify must also reject every mutation. */
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
#include "support/tools.h"

#define N_FLIPS 1000

/* A small file (about 1.2 KB) with every encoding family, compression, a
 * blob and text with control characters: more code paths per byte. */
static void make_small(const char *path) {
    qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
    wo.alignment = QTF_MIN_ALIGNMENT;
    qtf_writer *w = NULL;
    cr_assert_eq(qtf_writer_create(&w, path, &wo), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "qtf.converter", "t", 1), QTF_OK);
    cr_assert_eq(qtf_writer_set_string(w, "c", "a\n\x1b[1m\x7f", 7), QTF_OK);
    cr_assert_eq(qtf_writer_set_blob(w, "b", "text/plain", "xyz", 3), QTF_OK);
    uint16_t arr[3] = {1, 2, 3};
    cr_assert_eq(qtf_writer_set_value(w, "a", QTF_TYPE_ARRAY, QTF_TYPE_U16, arr, 3), QTF_OK);
    const char *strs[2] = {"x", "y\tz"};
    uint64_t lens[2] = {1, 3};
    cr_assert_eq(qtf_writer_set_string_array(w, "s", strs, lens, 2), QTF_OK);
    tf_add_sample(w, tf_small_sample, TF_SAMPLE_COUNT, QTF_DTYPE_BF16);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
}

typedef struct mut_fixture {
    char *dir, *good, *mutant, *inspect, *verify;
    unsigned char *bytes;
    size_t len;
} mut_fixture;

static mut_fixture mf_setup(void) {
    mut_fixture m;
    m.dir = tf_tmpdir();
    m.good = tf_path(m.dir, "good.qtf");
    m.mutant = tf_path(m.dir, "mutant.qtf");
    m.inspect = tf_tool("qtf-inspect");
    m.verify = tf_tool("qtf-verify");
    make_small(m.good);
    m.bytes = (unsigned char *)tf_slurp(m.good, &m.len);
    cr_assert(m.bytes && m.len > 128);
    cr_assert_lt(m.len, 4096, "the mutation sample should stay small (%zu bytes)", m.len);
    return m;
}

static void mf_teardown(mut_fixture *m) {
    tf_rm_rf(m->dir);
    free(m->dir);
    free(m->good);
    free(m->mutant);
    free(m->inspect);
    free(m->verify);
    free(m->bytes);
}

static void write_mutant(const mut_fixture *m, const unsigned char *bytes, size_t len) {
    tu_write(m->mutant, bytes, len);
}

/* Runs a tool on the mutant; returns its exit code after checking it. */
static int run_checked(char *const argv[], const char *what, size_t at) {
    tf_run_result r = tf_run(argv, NULL);
    cr_assert_not(r.signaled, "%s %s: killed by signal %d (mutation at %zu)", argv[0], what, r.sig, at);
    cr_assert(r.exited && r.code >= 0 && r.code <= 2, "%s %s: exit %d (mutation at %zu)", argv[0], what,
              r.code, at);
    return r.code;
}

/* Deterministic flips: position and a non-zero xor mask from an LCG. */
static void flip_at(size_t i, size_t len, size_t *pos, unsigned char *mask) {
    uint64_t x = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    *pos = (size_t)(x % len);
    *mask = (unsigned char)(1u + (x >> 40) % 255u);
}

/* The mutant: the sample with flip i applied (through `copy`, m->len bytes). */
static void write_flip(const mut_fixture *m, unsigned char *copy, size_t i, size_t *pos,
                       unsigned char *mask) {
    flip_at(i, m->len, pos, mask);
    memcpy(copy, m->bytes, m->len);
    copy[*pos] ^= *mask;
    write_mutant(m, copy, m->len);
}

Test(tools_mutation, sanity) {
    mut_fixture m = mf_setup();
    cr_log_info("mutation sample: %zu bytes", m.len);
    char *v[] = {m.verify, "--json", m.good, NULL};
    cr_assert_eq(run_checked(v, "good file", 0), 0);
    char *i[] = {m.inspect, "--json", "--tensor", "*", "--detail", m.good, NULL};
    cr_assert_eq(run_checked(i, "good file", 0), 0);
    mf_teardown(&m);
}

/* `tool --json MUTANT` refuses (exit 2) every truncation of the sample. */
static void check_truncations(const mut_fixture *m, char *tool) {
    char *argv[] = {tool, "--json", m->mutant, NULL};
    for (size_t len = 0; len < m->len; len++) {
        write_mutant(m, m->bytes, len);
        cr_assert_eq(run_checked(argv, "truncated", len), 2, "truncation to %zu bytes not refused", len);
    }
}

Test(tools_mutation, truncations_verify) {
    mut_fixture m = mf_setup();
    check_truncations(&m, m.verify);
    mf_teardown(&m);
}

Test(tools_mutation, truncations_inspect) {
    mut_fixture m = mf_setup();
    check_truncations(&m, m.inspect);
    mf_teardown(&m);
}

Test(tools_mutation, flips_verify) {
    mut_fixture m = mf_setup();
    unsigned char *copy = malloc(m.len);
    cr_assert(copy);
    char *argv[] = {m.verify, "--json", "--threads", "2", m.mutant, NULL};
    unsigned refused_at_open = 0, failed_checks = 0;
    for (size_t i = 0; i < N_FLIPS; i++) {
        size_t pos;
        unsigned char mask;
        write_flip(&m, copy, i, &pos, &mask);
        int code = run_checked(argv, "flipped", pos);
        cr_assert_neq(code, 0, "flip of byte %zu (xor 0x%02x) went unnoticed", pos, mask);
        refused_at_open += code == 2;
        failed_checks += code == 1;
    }
    /* both kinds must occur: flips in the data fail checksums, the rest fail at open */
    cr_assert_gt(refused_at_open, 0);
    cr_assert_gt(failed_checks, 0);
    free(copy);
    mf_teardown(&m);
}

Test(tools_mutation, flips_inspect) {
    mut_fixture m = mf_setup();
    unsigned char *copy = malloc(m.len);
    cr_assert(copy);
    /* --detail on every tensor: full open, checksums, dequantization and
     * code histograms of corrupted data */
    char *argv[] = {m.inspect, "--json", "--tensor", "*", "--detail", m.mutant, NULL};
    for (size_t i = 0; i < N_FLIPS; i++) {
        size_t pos;
        unsigned char mask;
        write_flip(&m, copy, i, &pos, &mask);
        run_checked(argv, "flipped", pos);
    }
    free(copy);
    mf_teardown(&m);
}
