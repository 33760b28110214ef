/* tests/support/source.c — checkpoints compared through qtf_source (source.h). */
#include "support/source.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "support/files.h"

uint64_t ts_source_pairs(const qtf_source *a, const qtf_source *b, ts_pair_fn fn, void *ctx) {
    cr_assert_eq(qtf_source_tensor_count(a), qtf_source_tensor_count(b));
    for (uint64_t i = 0; i < qtf_source_tensor_count(a); i++) {
        const qtf_source_tensor *ta = qtf_source_tensor_get(a, i);
        uint64_t j;
        cr_assert_eq(qtf_source_tensor_find(&j, b, ta->name), QTF_OK, "%s", ta->name);
        const qtf_source_tensor *tb = qtf_source_tensor_get(b, j);
        cr_assert_eq(ta->n_dims, tb->n_dims, "%s", ta->name);
        for (uint32_t d = 0; d < ta->n_dims; d++) cr_assert_eq(ta->dims[d], tb->dims[d]);
        if (fn) fn(a, i, b, j, ctx);
    }
    return qtf_source_tensor_count(a);
}

/* Same element type, size and bytes. */
static void same_raw(const qtf_source *a, uint64_t i, const qtf_source *b, uint64_t j, void *ctx) {
    (void)ctx;
    const qtf_source_tensor *ta = qtf_source_tensor_get(a, i), *tb = qtf_source_tensor_get(b, j);
    cr_assert_eq(ta->dtype, tb->dtype, "%s", ta->name);
    cr_assert_eq(ta->nbytes, tb->nbytes);
    unsigned char *x = malloc(ta->nbytes + 1), *y = malloc(tb->nbytes + 1);
    cr_assert(x && y);
    cr_assert_eq(qtf_source_read_raw(x, ta->nbytes, a, i), QTF_OK);
    cr_assert_eq(qtf_source_read_raw(y, tb->nbytes, b, j), QTF_OK);
    cr_assert(memcmp(x, y, ta->nbytes) == 0, "%s differs after the round trip", ta->name);
    free(x);
    free(y);
}

void assert_same_tensors(const char *orig, const char *back) {
    qtf_source *a = NULL, *b = NULL;
    cr_assert_eq(qtf_source_open(&a, orig), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_open(&b, back), QTF_OK, "%s", qtf_error_detail());
    ts_source_pairs(a, b, same_raw, NULL);
    qtf_source_close(a);
    qtf_source_close(b);
}

qtf_st_writer *ts_st_writer(const char *path) {
    qtf_st_writer *w = NULL;
    cr_assert_eq(qtf_st_writer_create(&w, path, NULL), QTF_OK, "%s: %s", path, qtf_error_detail());
    return w;
}

void ts_write_safetensors(const char *path, const ts_st_tensor *t, size_t n) {
    qtf_st_writer *w = ts_st_writer(path);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(qtf_st_writer_declare(w, t[i].name, t[i].dtype, t[i].n_dims, t[i].dims),
                     QTF_OK, "%s", qtf_error_detail());
    for (size_t i = 0; i < n; i++) {
        uint64_t bytes = qtf_dtype_size(t[i].dtype);
        for (uint32_t d = 0; d < t[i].n_dims; d++) bytes *= t[i].dims[d];
        cr_assert_eq(qtf_st_writer_write(w, t[i].data, bytes), QTF_OK, "%s", qtf_error_detail());
    }
    cr_assert_eq(qtf_st_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
}


void ts_write_zip(const char *path, const ts_zip_entry *e, int n, int zip64) {
    static unsigned char out[1 << 16];
    size_t o = 0, offs[16];
    const size_t xl = zip64 ? 28 : 0;
    for (int k = 0; k < n; k++) {
        size_t nl = strlen(e[k].name);
        offs[k] = o;
        unsigned char *h = out + o;
        memset(h, 0, 30);
        qtf__st32(h, 0x04034b50u);
        qtf__st16(h + 4, 20);
        qtf__st16(h + 8, (uint16_t)e[k].method);
        qtf__st32(h + 18, zip64 ? 0xFFFFFFFFu : (uint32_t)e[k].len);
        qtf__st32(h + 22, zip64 ? 0xFFFFFFFFu : (uint32_t)e[k].len);
        qtf__st16(h + 26, (uint16_t)nl);
        qtf__st16(h + 28, (uint16_t)(zip64 ? 20 : 0));
        memcpy(h + 30, e[k].name, nl);
        if (zip64) {
            qtf__st16(h + 30 + nl, 1);
            qtf__st16(h + 32 + nl, 16);
            qtf__st64(h + 34 + nl, e[k].len);
            qtf__st64(h + 42 + nl, e[k].len);
        }
        size_t lx = zip64 ? 20 : 0;
        memcpy(h + 30 + nl + lx, e[k].data, e[k].len);
        o += 30 + nl + lx + e[k].len;
    }
    size_t cd = o;
    for (int k = 0; k < n; k++) {
        size_t nl = strlen(e[k].name);
        unsigned char *h = out + o;
        memset(h, 0, 46);
        qtf__st32(h, 0x02014b50u);
        qtf__st16(h + 4, 45);
        qtf__st16(h + 6, 45);
        qtf__st16(h + 10, (uint16_t)e[k].method);
        qtf__st32(h + 20, zip64 ? 0xFFFFFFFFu : (uint32_t)e[k].len);
        qtf__st32(h + 24, zip64 ? 0xFFFFFFFFu : (uint32_t)e[k].len);
        qtf__st16(h + 28, (uint16_t)nl);
        qtf__st16(h + 30, (uint16_t)xl);
        qtf__st32(h + 42, zip64 ? 0xFFFFFFFFu : (uint32_t)offs[k]);
        memcpy(h + 46, e[k].name, nl);
        if (zip64) {
            qtf__st16(h + 46 + nl, 1);
            qtf__st16(h + 48 + nl, 24);
            qtf__st64(h + 50 + nl, e[k].len);  /* size */
            qtf__st64(h + 58 + nl, e[k].len);  /* compressed size */
            qtf__st64(h + 66 + nl, offs[k]);   /* local header offset */
        }
        o += 46 + nl + xl;
    }
    size_t cd_size = o - cd;
    if (zip64) {
        unsigned char *r = out + o;
        memset(r, 0, 56 + 20);
        qtf__st32(r, 0x06064b50u);
        qtf__st64(r + 4, 44);
        qtf__st64(r + 24, (uint64_t)n);
        qtf__st64(r + 32, (uint64_t)n);
        qtf__st64(r + 40, cd_size);
        qtf__st64(r + 48, cd);
        qtf__st32(r + 56, 0x07064b50u);
        qtf__st64(r + 64, o);
        qtf__st32(r + 72, 1);
        o += 76;
    }
    unsigned char *h = out + o;
    memset(h, 0, 22);
    qtf__st32(h, 0x06054b50u);
    qtf__st16(h + 8, zip64 ? 0xFFFF : (uint16_t)n);
    qtf__st16(h + 10, zip64 ? 0xFFFF : (uint16_t)n);
    qtf__st32(h + 12, zip64 ? 0xFFFFFFFFu : (uint32_t)cd_size);
    qtf__st32(h + 16, zip64 ? 0xFFFFFFFFu : (uint32_t)cd);
    o += 22;
    cr_assert(o <= sizeof out);
    tu_write(path, out, o);
}

