/* tests/support/files.c — temporary folders and whole-file I/O (files.h). */
#include "support/files.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char test_tmpdir[256];

static int rm_entry(const char *p, const struct stat *s, int flag, struct FTW *f) {
    (void)s;
    (void)flag;
    (void)f;
    return remove(p);
}

void test_tmpdir_remove(void) {
    if (test_tmpdir[0]) nftw(test_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    test_tmpdir[0] = '\0';
}

void test_tmpdir_make(void) {
    if (test_tmpdir[0]) return;
    /* the executable's name says which test left a folder behind (Criterion's
     * workers run under another argv[0]: ask the kernel for the file) */
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    const char *name = n > 0 ? strrchr(exe, '/') + 1 : program_invocation_short_name;
    if (strncmp(name, "test_", 5) == 0) name += 5;
    snprintf(test_tmpdir, sizeof test_tmpdir, "/tmp/qtf-test-%.200s-XXXXXX", name);
    cr_assert(mkdtemp(test_tmpdir), "mkdtemp: %s", strerror(errno));
}

const char *test_tmpdir_path(const char *name) {
    static char bufs[8][512];
    static int next;
    test_tmpdir_make();
    char *p = bufs[next++ % 8];
    snprintf(p, 512, "%s/%s", test_tmpdir, name);
    return p;
}

char *tu_mkdtemp(void) {
    char *d = strdup("/tmp/qtf-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

void tu_rmtree(char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

char *tf_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *dir = malloc(4096);
    cr_assert(dir);
    snprintf(dir, 4096, "%s/qtf-tools-XXXXXX", base && *base ? base : "/tmp");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
    return dir;
}

void tf_rm_rf(const char *dir) {
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) cr_log_warn("could not remove %s", dir);
}

int tu_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

char *tu_path(const char *dir, const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    cr_assert(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

char *tf_path(const char *dir, const char *name) { return tu_path(dir, name); }

unsigned char *tu_read(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(n ? (size_t)n : 1);
    cr_assert_eq(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

char *tf_slurp(const char *path, size_t *len) {
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

void tu_write(const char *path, const void *b, size_t len) {
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp, "cannot create %s", path);
    cr_assert_eq(fwrite(b, 1, len, fp), len);
    cr_assert_eq(fclose(fp), 0, "%s", path);
}

void tu_write_text(const char *path, const char *text) { tu_write(path, text, strlen(text)); }

void tu_copy(const char *from, const char *to, long flip_at) {
    size_t len;
    unsigned char *b = tu_read(from, &len);
    if (flip_at >= 0 && (size_t)flip_at < len) b[flip_at] ^= 0x40;
    tu_write(to, b, len);
    free(b);
}

unsigned char tu_byte_at(const char *path, uint64_t off) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    cr_assert_eq(fseeko(f, (off_t)off, SEEK_SET), 0);
    int c = fgetc(f);
    cr_assert_neq(c, EOF, "%s has no byte %llu", path, (unsigned long long)off);
    fclose(f);
    return (unsigned char)c;
}

void tu_set_byte(const char *path, uint64_t off, unsigned char v) {
    FILE *f = fopen(path, "r+b");
    cr_assert(f, "cannot open %s", path);
    cr_assert_eq(fseeko(f, (off_t)off, SEEK_SET), 0);
    cr_assert_neq(fputc(v, f), EOF);
    cr_assert_eq(fclose(f), 0, "%s", path);
}

int tu_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* getenv(var)/prefix+rel in the ring; NULL when var is unset, or
 * (must_exist) when nothing is there. */
static const char *env_path(const char *var, const char *prefix, const char *rel, int must_exist) {
    static char bufs[8][4096];
    static int next;
    const char *root = getenv(var);
    if (!root) return NULL;
    char *p = bufs[next++ % 8];
    snprintf(p, sizeof bufs[0], "%s/%s%s", root, prefix, rel);
    return !must_exist || tu_exists(p) ? p : NULL;
}

const char *ts_source_path(const char *rel) {
    const char *p = env_path("QTF_SOURCE_ROOT", "", rel, 0);
    cr_assert(p, "QTF_SOURCE_ROOT is set by tests/meson.build");
    return p;
}

const char *ts_shared(const char *rel) { return env_path("QTF_SOURCE_ROOT", "../shared/", rel, 1); }

const char *ts_checkpoint(const char *rel) {
    return env_path("QTF_SHARED_CHECKPOINTS", "", rel, 1);
}

void ts_assert_contains(const char *s, uint64_t len, const char *needle) {
    cr_assert(memmem(s, (size_t)len, needle, strlen(needle)), "\"%s\" missing from: %.*s", needle,
              (int)len, s);
}
