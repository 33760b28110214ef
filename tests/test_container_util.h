/* tests/test_container_util.h — helpers shared by the container tests:
 * temp directories, whole-file I/O, sample files, and re-sealing a mutated
 * file's header checksum so that a test reaches the check it targets. */
#ifndef QTF_TEST_CONTAINER_UTIL_H
#define QTF_TEST_CONTAINER_UTIL_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/common.h"
#include "qtf.h"

static inline char *tu_mkdtemp(void) {
    char *d = strdup("/tmp/qtf-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static inline void tu_rmtree(char *dir) {
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

/* Number of entries in a directory besides . and .. */
static inline int tu_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static inline char *tu_path(const char *dir, const char *name) {
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static inline unsigned char *tu_read(const char *path, size_t *len) {
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

static inline void tu_write(const char *path, const void *b, size_t len) {
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(b, 1, len, fp), len);
    fclose(fp);
}

static inline qtf_encoding tu_enc(qtf_encoding_id id) {
    qtf_encoding e;
    cr_assert_eq(qtf_encoding_default(&e, id), QTF_OK);
    return e;
}

static inline qtf_encoding tu_raw(qtf_dtype t) {
    qtf_encoding e;
    memset(&e, 0, sizeof e);
    e.id = QTF_ENC_RAW;
    e.raw_type = t;
    return e;
}

/* Adds a tensor whose single part is `data` (encoding F32/F16/BF16/RAW). */
static inline qtf_status tu_add(qtf_writer *w, const char *name, uint32_t n_dims,
                                const uint64_t *dims, const qtf_encoding *enc, const void *data,
                                uint64_t size, int zstd_level) {
    qtf_part_layout lay[QTF_MAX_PARTS];
    uint32_t n = 0;
    qtf_status st = qtf_encoding_layout(lay, &n, enc, n_dims, dims);
    if (st) return st;
    qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
    d.name = name;
    d.n_dims = n_dims;
    d.dims = dims;
    d.encoding = enc;
    d.zstd_level = zstd_level;
    d.source_type = QTF_DTYPE_F32;
    qtf_part_view v = { lay[0].role, lay[0].type, data, size };
    return qtf_writer_add_tensor(w, &d, &v, 1);
}

/* Sample: 3 metadata entries, tensors "a" (2x3 f32), "b" (4 f16 bytes),
 * alignment 64. */
static inline void tu_write_sample(const char *path, int zstd_level) {
    qtf_writer *w;
    cr_assert_eq(qtf_writer_create(&w, path, NULL), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_writer_set_string(w, "general.name", "tiny", 4), QTF_OK);
    cr_assert_eq(qtf_writer_set_u32(w, "answer", 42), QTF_OK);
    cr_assert_eq(qtf_writer_set_bool(w, "flag", 1), QTF_OK);
    float a[6] = { 1, 2, 3, 4, 5, 6 };
    uint64_t da[2] = { 2, 3 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32), f16 = tu_enc(QTF_ENC_F16);
    cr_assert_eq(tu_add(w, "a", 2, da, &f32, a, sizeof a, zstd_level), QTF_OK, "%s",
                 qtf_error_detail());
    uint16_t b[4] = { 0x3C00, 0x4000, 0x4200, 0x4400 };
    uint64_t db[1] = { 4 };
    cr_assert_eq(tu_add(w, "b", 1, db, &f16, b, sizeof b, zstd_level), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
}

/* Header field offsets (qtf.h). */
enum {
    H_MAJOR = 8, H_BOM = 12, H_HSIZE = 16, H_FLAGS = 20, H_ALIGN = 24, H_ALGO = 28,
    H_NT = 32, H_NM = 40, H_DOFF = 48, H_DSIZE = 56, H_MOFF = 64, H_MSIZE = 72,
    H_DIROFF = 80, H_DIRSIZE = 88, H_SUM = 120
};

/* Recomputes the header checksum from the section fields (clamped to the
 * buffer) so that a deliberately broken field is what the reader meets. */
static inline void tu_reseal(unsigned char *b, size_t len) {
    if (len < 128) return;
    uint64_t mo = qtf__ld64(b + H_MOFF), ms = qtf__ld64(b + H_MSIZE);
    uint64_t dof = qtf__ld64(b + H_DIROFF), ds = qtf__ld64(b + H_DIRSIZE);
    XXH3_state_t *s = XXH3_createState();
    XXH3_64bits_reset(s);
    XXH3_64bits_update(s, b, 120);
    if (mo <= len && ms <= len - mo) XXH3_64bits_update(s, b + mo, (size_t)ms);
    if (dof <= len && ds <= len - dof) XXH3_64bits_update(s, b + dof, (size_t)ds);
    qtf__st_hash(b + H_SUM, XXH3_64bits_digest(s));
    XXH3_freeState(s);
}

/* Opens a memory buffer and returns the status (closing on success). */
static inline qtf_status tu_open_mem(const void *b, size_t len, unsigned flags) {
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = flags;
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open_memory(&f, b, len, "mem.qtf", &o);
    if (st == QTF_OK) cr_assert_not_null(f);
    else cr_assert_null(f);
    qtf_file_close(f);
    return st;
}

#endif
