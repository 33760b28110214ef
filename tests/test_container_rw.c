/* Round trips through the writer and reader: shapes, encodings, zstd,
 * alignment, open modes, and the writer's own validation. */
#include <sys/mman.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include <xxhash.h>

#include "support/container.h"
#include "support/files.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmtree(dir); }
TestSuite(container_rw, .init = setup, .fini = teardown);

static qtf_file *open_path(const char *path, unsigned flags) {
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = flags;
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open(&f, path, &o);
    cr_assert_eq(st, QTF_OK, "%s: %s", qtf_status_name(st), qtf_error_detail());
    return f;
}

Test(container_rw, empty_file_is_valid_and_minimal) {
    char *p = tu_path(dir, "empty.qtf");
    qtf_writer *w = ts_writer(p);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    size_t len;
    unsigned char *b = tu_read(p, &len);
    cr_assert_eq(len, 128, "header only: data at 128, no data, no sections");
    cr_assert_eq(memcmp(b, "\x89QTF\r\n\x1a\n", 8), 0);
    cr_assert_eq(qtf__ld64(b + H_DOFF), 128);
    cr_assert_eq(qtf__ld64(b + H_MOFF), 128);
    cr_assert_eq(qtf__ld64(b + H_DIROFF), 128);
    qtf_file *f = open_path(p, 0);
    cr_assert_eq(qtf_tensor_count(f), 0);
    cr_assert_eq(qtf_meta_count(f), 0);
    cr_assert_eq(qtf_file_verify(f, 2, NULL), QTF_OK);
    cr_assert_eq(qtf_file_get_info(f)->file_size, 128);
    cr_assert_eq(qtf_file_get_info(f)->header_checksum, XXH3_64bits(b, 120));
    qtf_file_close(f);
    free(b);
    free(p);
}

Test(container_rw, sample_layout_and_values) {
    char *p = tu_path(dir, "s.qtf");
    tu_write_sample(p, 0);
    qtf_file *f = open_path(p, 0);
    const qtf_file_info *in = qtf_file_get_info(f);
    cr_assert_eq(in->alignment, 64);
    cr_assert_eq(in->data_offset, 128);
    /* a: 24 bytes at 0; b: 8 bytes at 64; data = 128 aligned */
    cr_assert_eq(in->data_size, 128);
    cr_assert_eq(in->metadata_offset, 256);
    cr_assert_eq(qtf_tensor_count(f), 2);
    const qtf_tensor_info *a = qtf_tensor_get(f, 0), *b = qtf_tensor_get(f, 1);
    cr_assert_str_eq(a->name, "a");
    cr_assert_eq(a->n_dims, 2);
    cr_assert_eq(a->dims[0], 2);
    cr_assert_eq(a->dims[1], 3);
    cr_assert_eq(a->n_elements, 6);
    cr_assert_eq(a->encoding_known, 1);
    cr_assert_eq(a->encoding.id, QTF_ENC_F32);
    cr_assert_eq(a->n_parts, 1);
    cr_assert_eq(a->parts[0].offset, 128);
    cr_assert_eq(a->parts[0].stored_size, 24);
    cr_assert_eq(a->parts[0].compression, QTF_COMPRESSION_NONE);
    cr_assert_eq(b->parts[0].offset, 192);
    cr_assert_eq(b->parts[0].type, QTF_DTYPE_F16);
    const void *d;
    cr_assert_eq(qtf_part_data(&d, f, 0, 0), QTF_OK);
    float want[6] = { 1, 2, 3, 4, 5, 6 };
    cr_assert_eq(memcmp(d, want, 24), 0);
    cr_assert_eq(a->parts[0].checksum, XXH3_64bits(want, 24));
    float out[6];
    cr_assert_eq(qtf_tensor_dequantize(out, QTF_DTYPE_F32, 6, f, 0, 1), QTF_OK);
    cr_assert_eq(memcmp(out, want, 24), 0);
    float bo[4];
    cr_assert_eq(qtf_tensor_dequantize(bo, QTF_DTYPE_F32, 4, f, 1, 1), QTF_OK,
                 "%s", qtf_error_detail());
    cr_assert_float_eq(bo[0], 1.0f, 0);
    cr_assert_float_eq(bo[3], 4.0f, 0);
    uint64_t idx;
    cr_assert_eq(qtf_tensor_find(&idx, f, "b"), QTF_OK);
    cr_assert_eq(idx, 1);
    cr_assert_eq(qtf_tensor_find(&idx, f, "c"), QTF_E_NOT_FOUND);
    cr_assert_eq(qtf_tensor_dequantize(out, QTF_DTYPE_F32, 5, f, 0, 1), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK, "%s", qtf_error_detail());
    qtf_file_close(f);
    free(p);
}

Test(container_rw, open_modes_agree) {
    char *p = tu_path(dir, "s.qtf");
    tu_write_sample(p, 0);
    qtf_file *m = open_path(p, 0), *r = open_path(p, QTF_OPEN_NO_MMAP),
             *o = open_path(p, QTF_OPEN_METADATA_ONLY);
    cr_assert_eq(memcmp(qtf_file_get_info(m), qtf_file_get_info(r), sizeof(qtf_file_info)), 0);
    cr_assert_eq(memcmp(qtf_file_get_info(m), qtf_file_get_info(o), sizeof(qtf_file_info)), 0);
    for (uint64_t i = 0; i < 2; i++) {
        cr_assert_eq(qtf_tensor_get(m, i)->parts[0].checksum,
                     qtf_tensor_get(o, i)->parts[0].checksum);
        cr_assert_str_eq(qtf_tensor_get(m, i)->name, qtf_tensor_get(o, i)->name);
    }
    const void *d1, *d2;
    cr_assert_eq(qtf_part_data(&d1, m, 0, 0), QTF_OK);
    cr_assert_eq(qtf_part_data(&d2, r, 0, 0), QTF_OK);
    cr_assert_eq(memcmp(d1, d2, 24), 0);
    /* metadata-only: no data access of any kind */
    cr_assert_eq(qtf_part_data(&d1, o, 0, 0), QTF_E_STATE);
    float buf[6];
    cr_assert_eq(qtf_part_decode(buf, 24, o, 0, 0), QTF_E_STATE);
    cr_assert_eq(qtf_tensor_dequantize(buf, QTF_DTYPE_F32, 6, o, 0, 1), QTF_E_STATE);
    cr_assert_eq(qtf_tensor_verify(o, 0), QTF_E_STATE);
    cr_assert_eq(qtf_file_verify(o, 1, NULL), QTF_E_STATE);
    uint64_t v;
    cr_assert_eq(qtf_meta_get_u64(&v, o, "answer"), QTF_OK);
    cr_assert_eq(v, 42);
    qtf_file_close(m);
    qtf_file_close(r);
    qtf_file_close(o);
    free(p);
}

/* A metadata-only open must never read the data section: replace every data
 * byte with poison and show that the open succeeds and reports the same
 * checksums, while a full open of the same bytes fails verification. */
Test(container_rw, metadata_only_never_reads_data) {
    char *p = tu_path(dir, "s.qtf");
    tu_write_sample(p, 0);
    size_t len;
    unsigned char *b = tu_read(p, &len);
    uint64_t doff = qtf__ld64(b + H_DOFF), dsize = qtf__ld64(b + H_DSIZE);
    memset(b + doff, 0xA5, (size_t)dsize);
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = QTF_OPEN_METADATA_ONLY;
    qtf_file *f;
    cr_assert_eq(qtf_file_open_memory(&f, b, len, "poison", &o), QTF_OK);
    cr_assert_eq(qtf_tensor_count(f), 2);
    qtf_file_close(f);
    cr_assert_eq(qtf_file_open_memory(&f, b, len, "poison", NULL), QTF_OK);
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_E_CHECKSUM);
    qtf_file_close(f);
    /* on disk: the data section is a hole we can make unreadable only by
     * truncating... instead write the poisoned bytes and open via path */
    tu_write(p, b, len);
    f = open_path(p, QTF_OPEN_METADATA_ONLY);
    cr_assert_eq(qtf_tensor_get(f, 1)->parts[0].stored_size, 8);
    qtf_file_close(f);
    free(b);
    free(p);
}

/* Stronger: the data pages are made inaccessible, so any read of tensor
 * data by a metadata-only open would crash the test. */
Test(container_rw, metadata_only_open_never_touches_data_pages) {
    long pg = sysconf(_SC_PAGESIZE);
    cr_assert(pg >= 4096 && pg <= (1 << 20));
    char *p = tu_path(dir, "paged.qtf");
    qtf_writer *w = ts_writer_aligned(p, (uint32_t)pg);
    cr_assert_eq(qtf_writer_set_string(w, "general.name", "paged", 5), QTF_OK);
    float v[1000];
    for (int i = 0; i < 1000; i++) v[i] = (float)i;
    uint64_t dims[1] = { 1000 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "a", 1, dims, &f32, v, sizeof v, 0), QTF_OK);
    cr_assert_eq(tu_add(w, "b", 1, dims, &f32, v, sizeof v, 9), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    size_t len;
    unsigned char *b = tu_read(p, &len);
    uint64_t doff = qtf__ld64(b + H_DOFF), dsize = qtf__ld64(b + H_DSIZE);
    cr_assert_eq(doff, (uint64_t)pg);
    cr_assert_gt(dsize, 0);
    size_t maplen = (len + (size_t)pg - 1) & ~((size_t)pg - 1);
    unsigned char *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    memcpy(m, b, len);
    cr_assert_eq(mprotect(m + doff, (size_t)dsize, PROT_NONE), 0);
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = QTF_OPEN_METADATA_ONLY;
    qtf_file *f;
    cr_assert_eq(qtf_file_open_memory(&f, m, len, "paged", &o), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_count(f), 2);
    cr_assert_eq(qtf_tensor_get(f, 0)->parts[0].checksum, XXH3_64bits(v, sizeof v));
    cr_assert_eq(qtf_tensor_get(f, 1)->parts[0].compression, QTF_COMPRESSION_ZSTD);
    const void *d;
    cr_assert_eq(qtf_part_data(&d, f, 0, 0), QTF_E_STATE);
    cr_assert_eq(qtf_file_verify(f, 2, NULL), QTF_E_STATE);
    qtf_file_close(f);
    munmap(m, maplen);
    free(b);
    free(p);
}

Test(container_rw, shapes_including_scalar_and_empty) {
    char *p = tu_path(dir, "shapes.qtf");
    qtf_writer *w = ts_writer_aligned(p, 8);
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    static const uint64_t shapes[][8] = {
        { 0 }, { 1 }, { 5 }, { 0 }, { 3, 0 }, { 2, 3, 4 }, { 1, 1, 1, 1, 1, 1, 1, 2 },
    };
    static const uint32_t ndims[] = { 0, 1, 1, 1, 2, 3, 8 };
    float data[64];
    for (int i = 0; i < 64; i++) data[i] = (float)i * 0.5f - 3;
    for (int s = 0; s < 7; s++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", s);
        uint64_t n = 1;
        for (uint32_t d = 0; d < ndims[s]; d++) n *= shapes[s][d];
        cr_assert_eq(tu_add(w, name, ndims[s], shapes[s], &f32, data, n * 4, 0), QTF_OK,
                     "%s", qtf_error_detail());
    }
    cr_assert_eq(qtf_writer_finish(w), QTF_OK, "%s", qtf_error_detail());
    qtf_file *f = open_path(p, 0);
    cr_assert_eq(qtf_tensor_count(f), 7);
    static const uint64_t counts[] = { 1, 1, 5, 0, 0, 24, 2 };
    uint64_t running = 0;
    for (int s = 0; s < 7; s++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, (uint64_t)s);
        cr_assert_eq(t->n_dims, ndims[s]);
        cr_assert_eq(t->n_elements, counts[s], "tensor %d", s);
        cr_assert_eq(t->parts[0].offset, 128 + running, "tensor %d", s);
        running = (running + counts[s] * 4 + 7) & ~7ull;
        float out[64];
        cr_assert_eq(qtf_tensor_dequantize(counts[s] ? out : NULL, QTF_DTYPE_F32, counts[s], f,
                                           (uint64_t)s, 2), QTF_OK, "%s", qtf_error_detail());
        cr_assert_eq(memcmp(out, data, counts[s] * 4), 0);
    }
    cr_assert_eq(qtf_file_get_info(f)->data_size, running);
    cr_assert_eq(qtf_file_verify(f, 2, NULL), QTF_OK, "%s", qtf_error_detail());
    qtf_file_close(f);
    free(p);
}

Test(container_rw, zstd_parts_round_trip_and_incompressible_stay_plain) {
    char *p = tu_path(dir, "z.qtf");
    qtf_writer *w = ts_writer(p);
    enum { N = 4096 };
    float *zeros = calloc(N, 4);
    uint32_t *noise = malloc(N * 4);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        noise[i] = (uint32_t)x;
    }
    uint64_t dims[1] = { N };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32), raw = tu_raw(QTF_DTYPE_U32);
    cr_assert_eq(tu_add(w, "zeros", 1, dims, &f32, zeros, N * 4, 3), QTF_OK, "%s",
                 qtf_error_detail());
    cr_assert_eq(tu_add(w, "noise", 1, dims, &raw, noise, N * 4, 19), QTF_OK, "%s",
                 qtf_error_detail());
    /* a level recorded in the encoding asks for compression as well */
    qtf_encoding f32z = f32;
    f32z.zstd_level = 5;
    cr_assert_eq(tu_add(w, "zeros5", 1, dims, &f32z, zeros, N * 4, 0), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    qtf_file *f = open_path(p, 0);
    const qtf_tensor_info *z = qtf_tensor_get(f, 0), *n = qtf_tensor_get(f, 1);
    cr_assert_eq(qtf_tensor_get(f, 2)->parts[0].compression, QTF_COMPRESSION_ZSTD);
    cr_assert_eq(qtf_tensor_get(f, 2)->encoding.zstd_level, 5);
    cr_assert_eq(z->parts[0].compression, QTF_COMPRESSION_ZSTD);
    cr_assert_lt(z->parts[0].stored_size, 100);
    cr_assert_eq(z->parts[0].decoded_size, N * 4);
    cr_assert_eq(n->parts[0].compression, QTF_COMPRESSION_NONE);
    cr_assert_eq(n->parts[0].stored_size, N * 4);
    cr_assert_eq(n->encoding.raw_type, QTF_DTYPE_U32);
    const void *d;
    cr_assert_eq(qtf_part_data(&d, f, 0, 0), QTF_E_COMPRESSION);
    float *out = malloc(N * 4);
    cr_assert_eq(qtf_part_decode(out, N * 4 - 1, f, 0, 0), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_part_decode(out, N * 4, f, 0, 0), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(memcmp(out, zeros, N * 4), 0);
    memset(out, 0xFF, N * 4);
    cr_assert_eq(qtf_tensor_dequantize(out, QTF_DTYPE_F32, N, f, 0, 2), QTF_OK);
    cr_assert_eq(memcmp(out, zeros, N * 4), 0);
    uint32_t *u = malloc(N * 4);
    cr_assert_eq(qtf_part_decode(u, N * 4, f, 1, 0), QTF_OK);
    cr_assert_eq(memcmp(u, noise, N * 4), 0);
    cr_assert_eq(qtf_file_verify(f, 2, NULL), QTF_OK, "%s", qtf_error_detail());
    qtf_file_close(f);
    free(out);
    free(u);
    free(zeros);
    free(noise);
    free(p);
}

Test(container_rw, same_input_same_bytes) {
    char *p1 = tu_path(dir, "1.qtf"), *p2 = tu_path(dir, "2.qtf");
    tu_write_sample(p1, 5);
    tu_write_sample(p2, 5);
    size_t l1, l2;
    unsigned char *b1 = tu_read(p1, &l1), *b2 = tu_read(p2, &l2);
    cr_assert_eq(l1, l2);
    cr_assert_eq(memcmp(b1, b2, l1), 0);
    free(b1);
    free(b2);
    free(p1);
    free(p2);
}

Test(container_rw, alignments) {
    static const uint32_t aligns[] = { 8, 16, 256, 4096, 1u << 20 };
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "a%u.qtf", aligns[i]);
        char *p = tu_path(dir, name);
        qtf_writer *w = ts_writer_aligned(p, aligns[i]);
        float v[3] = { 1, 2, 3 };
        uint64_t dims[1] = { 3 };
        qtf_encoding f32 = tu_enc(QTF_ENC_F32);
        cr_assert_eq(tu_add(w, "x", 1, dims, &f32, v, 12, 0), QTF_OK);
        cr_assert_eq(tu_add(w, "y", 1, dims, &f32, v, 12, 0), QTF_OK);
        cr_assert_eq(qtf_writer_finish(w), QTF_OK);
        qtf_file *f = open_path(p, 0);
        uint64_t doff = aligns[i] < 128 ? 128 : aligns[i];
        cr_assert_eq(qtf_file_get_info(f)->data_offset, doff);
        uint64_t second = (12 + aligns[i] - 1) & ~(uint64_t)(aligns[i] - 1);
        cr_assert_eq(qtf_tensor_get(f, 1)->parts[0].offset, doff + second);
        cr_assert_eq(qtf_file_get_info(f)->data_size, 2 * second);
        cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK);
        qtf_file_close(f);
        free(p);
    }
    for (uint32_t bad = 0; bad < 3; bad++) {
        static const uint32_t bads[] = { 3, 4, 2u << 20 };
        qtf_writer *w;
        qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
        wo.alignment = bads[bad];
        char *p = tu_path(dir, "bad.qtf");
        cr_assert_eq(qtf_writer_create(&w, p, &wo), QTF_E_ALIGNMENT);
        cr_assert_null(w);
        free(p);
    }
    cr_assert_eq(tu_dir_entries(dir), 5);
}

Test(container_rw, writer_rejects_bad_tensors_and_stays_usable) {
    char *p = tu_path(dir, "v.qtf");
    qtf_writer *w = ts_writer(p);
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    float v[4] = { 1, 2, 3, 4 };
    uint64_t dims[2] = { 2, 2 };
    cr_assert_eq(tu_add(w, "ok", 2, dims, &f32, v, 16, 0), QTF_OK);
    cr_assert_eq(tu_add(w, "ok", 2, dims, &f32, v, 16, 0), QTF_E_DUPLICATE);
    cr_assert_eq(tu_add(w, "", 2, dims, &f32, v, 16, 0), QTF_E_UTF8);
    cr_assert_eq(tu_add(w, "\xC0\xAF", 2, dims, &f32, v, 16, 0), QTF_E_UTF8);
    char longname[QTF_MAX_NAME_LEN + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_assert_eq(tu_add(w, longname, 2, dims, &f32, v, 16, 0), QTF_E_LIMIT);
    /* part size not what the layout requires */
    qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
    d.name = "wrong";
    d.n_dims = 2;
    d.dims = dims;
    d.encoding = &f32;
    qtf_part_view pv = { QTF_ROLE_DATA, QTF_DTYPE_F32, v, 12 };
    cr_assert_eq(qtf_writer_add_tensor(w, &d, &pv, 1), QTF_E_ENCODING);
    pv.size = 16;
    pv.type = QTF_DTYPE_F16;
    cr_assert_eq(qtf_writer_add_tensor(w, &d, &pv, 1), QTF_E_ENCODING);
    pv.type = QTF_DTYPE_F32;
    cr_assert_eq(qtf_writer_add_tensor(w, &d, &pv, 0), QTF_E_ENCODING);
    d.zstd_level = 23;
    cr_assert_eq(qtf_writer_add_tensor(w, &d, &pv, 1), QTF_E_INVALID_ARG);
    d.zstd_level = 0;
    uint64_t many[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 };
    d.dims = many;
    d.n_dims = 9;
    cr_assert_eq(qtf_writer_add_tensor(w, &d, &pv, 1), QTF_E_LIMIT);
    uint64_t huge[2] = { 1ull << 32, 1ull << 32 };
    d.dims = huge;
    d.n_dims = 2;
    cr_assert_eq(qtf_writer_add_tensor(w, &d, &pv, 1), QTF_E_OVERFLOW);
    uint64_t big[2] = { 1ull << 31, 1ull << 32 };
    d.dims = big;
    cr_assert_eq(qtf_writer_add_tensor(w, &d, &pv, 1), QTF_E_LIMIT);
    d.dims = dims;
    cr_assert_eq(qtf_writer_add_tensor(w, &d, &pv, 1), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    ts_expect_valid(p, 2);
    free(p);
}

Test(container_rw, finish_replaces_existing_file_and_abort_leaves_nothing) {
    char *p = tu_path(dir, "out.qtf");
    tu_write(p, "old", 3);
    qtf_writer *w = ts_writer(p);
    cr_assert_eq(qtf_writer_set_u32(w, "k", 1), QTF_OK);
    float v[2] = { 1, 2 };
    uint64_t dims[1] = { 2 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "t", 1, dims, &f32, v, 8, 0), QTF_OK);
    /* nothing visible besides the old file while the writer is open */
    cr_assert_eq(tu_dir_entries(dir), 1);
    qtf_writer_abort(w);
    size_t len;
    unsigned char *b = tu_read(p, &len);
    cr_assert_eq(len, 3);
    free(b);
    cr_assert_eq(tu_dir_entries(dir), 1);
    tu_write_sample(p, 0);
    cr_assert_eq(tu_dir_entries(dir), 1);
    qtf_file *f = open_path(p, 0);
    cr_assert_eq(qtf_tensor_count(f), 2);
    qtf_file_close(f);
    qtf_writer_abort(NULL);
    free(p);
}

Test(container_rw, many_tensors_lookup) {
    char *p = tu_path(dir, "many.qtf");
    qtf_writer *w = ts_writer_aligned(p, 8);
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    uint64_t dims[1] = { 1 };
    for (int i = 0; i < 3000; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.weight", i);
        float v = (float)i;
        cr_assert_eq(tu_add(w, name, 1, dims, &f32, &v, 4, 0), QTF_OK);
    }
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    qtf_file *f = open_path(p, 0);
    for (int i = 2999; i >= 0; i -= 7) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.weight", i);
        uint64_t idx;
        cr_assert_eq(qtf_tensor_find(&idx, f, name), QTF_OK);
        cr_assert_eq(idx, (uint64_t)i);
        float v;
        cr_assert_eq(qtf_tensor_dequantize(&v, QTF_DTYPE_F32, 1, f, idx, 1), QTF_OK);
        cr_assert_float_eq(v, (float)i, 0);
    }
    qtf_status *res = calloc(3000, sizeof *res);
    cr_assert_eq(qtf_file_verify(f, 2, res), QTF_OK);
    for (int i = 0; i < 3000; i++) cr_assert_eq(res[i], QTF_OK);
    free(res);
    qtf_file_close(f);
    free(p);
}

Test(container_rw, enum_names) {
    cr_assert_eq(qtf_dtype_size(QTF_DTYPE_F32), 4);
    cr_assert_eq(qtf_dtype_size(QTF_DTYPE_BF16), 2);
    cr_assert_eq(qtf_dtype_size(QTF_DTYPE_F64), 8);
    cr_assert_eq(qtf_dtype_size(QTF_DTYPE_PACKED), 1);
    cr_assert_eq(qtf_dtype_size(QTF_DTYPE_NONE), 0);
    cr_assert_eq(qtf_dtype_size((qtf_dtype)99), 0);
    cr_assert_str_eq(qtf_dtype_name(QTF_DTYPE_F8_E4M3), "F8_E4M3");
    cr_assert_str_eq(qtf_dtype_name((qtf_dtype)99), "?");
    cr_assert_str_eq(qtf_type_name(QTF_TYPE_BLOB), "blob");
    cr_assert_str_eq(qtf_type_name((qtf_type)14), "?");
    cr_assert_str_eq(qtf_part_role_name(QTF_ROLE_LUT_SCALES), "lut_scales");
    cr_assert_str_eq(qtf_part_role_name((qtf_part_role)11), "?");
}
