/* Hostile input: every item of the reader checklist, each asserting the
 * specific status. Files are assembled byte by byte (builder below) so
 * that each test breaks exactly one rule and is otherwise valid, header
 * checksum included. */
#include <dirent.h>
#include <zstd.h>

#include "lib/container.h"
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include <xxhash.h>

#include "support/bytes.h"
#include "support/container.h"
#include "support/files.h"

TestSuite(container_hostile);

/* --- byte builder ----------------------------------------------------------- */

static void tb_str32(gb *b, const char *s) { gb_u32(b, (uint32_t)strlen(s)); gb_bytes(b, s, strlen(s)); }

/* A metadata key and type; the caller appends the value. */
/* A value type as the file stores it: QTF_TYPE_* as its code, any other
 * number (a deliberately bad code) as is. */
static uint32_t type_code(uint32_t type) {
    return type >= (uint32_t)QTF_TYPE_BASE_ ? qtf_type_code((qtf_type)type) : type;
}

static void meta_key(gb *m, const char *key, uint32_t type) {
    tb_str32(m, key);
    gb_u32(m, type_code(type));
}

/* One part record. */
static void part_rec(gb *d, uint16_t role, uint16_t type, uint8_t comp, uint64_t off,
                     uint64_t stored, uint64_t decoded, const void *bytes) {
    gb_u16(d, role);
    gb_u16(d, type);
    gb_u8(d, comp);
    gb_zero(d, 3);
    gb_u64(d, off);
    gb_u64(d, stored);
    gb_u64(d, decoded);
    unsigned char h[8];
    qtf__st_hash(h, bytes ? XXH3_64bits(bytes, (size_t)stored) : 0);
    gb_bytes(d, h, 8);
}

/* Tensor record header up to (excluding) n_parts, encoding F32 with its one
 * parameter (key 11 zstd_level = 0). */
static void tensor_head(gb *d, const char *name, uint32_t n_dims, const uint64_t *dims) {
    tb_str32(d, name);
    gb_u32(d, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) gb_u64(d, dims[i]);
    gb_u32(d, QTF_DTYPE_F32);
    gb_u32(d, QTF_ENC_F32);
    gb_u32(d, 1);
    gb_u32(d, 11);
    gb_u32(d, 0);
}

/* Plain f32 tensor with one part. */
static void tensor_f32(gb *d, const char *name, uint64_t n, uint64_t off, const void *bytes) {
    uint64_t dims[1] = { n };
    tensor_head(d, name, 1, dims);
    gb_u32(d, 1);
    part_rec(d, QTF_ROLE_DATA, QTF_DTYPE_F32, 0, off, n * 4, n * 4, bytes);
}

/* Assembles header + data + metadata + directory with a valid checksum.
 * data_size is data->len rounded up to the alignment. */
static unsigned char *build(size_t *out_len, uint32_t align, const gb *data, uint64_t n_meta,
                            const gb *meta, uint64_t n_tensors, const gb *dir) {
    uint64_t doff = (128 + (uint64_t)align - 1) & ~((uint64_t)align - 1);
    uint64_t dlen = data ? data->len : 0;
    uint64_t dsize = (dlen + align - 1) & ~((uint64_t)align - 1);
    uint64_t mlen = meta ? meta->len : 0, dirlen = dir ? dir->len : 0;
    size_t total = (size_t)(doff + dsize + mlen + dirlen);
    unsigned char *b = calloc(1, total);
    memcpy(b, "\x89QTF\r\n\x1a\n", 8);
    qtf__st16(b + 8, 1);
    qtf__st16(b + 10, 0);
    qtf__st32(b + 12, 0x01020304);
    qtf__st32(b + 16, 128);
    qtf__st32(b + H_ALIGN, align);
    qtf__st32(b + H_ALGO, 1);
    /* the u64 fields: counts, then each section's offset and size */
    const struct { int at; uint64_t v; } u64s[] = {
        { H_NT, n_tensors }, { H_NM, n_meta }, { H_DOFF, doff }, { H_DSIZE, dsize },
        { H_MOFF, doff + dsize }, { H_MSIZE, mlen }, { H_DIROFF, doff + dsize + mlen },
        { H_DIRSIZE, dirlen },
    };
    for (size_t i = 0; i < sizeof u64s / sizeof u64s[0]; i++) qtf__st64(b + u64s[i].at, u64s[i].v);
    if (dlen) memcpy(b + doff, data->p, (size_t)dlen);
    if (mlen) memcpy(b + doff + dsize, meta->p, (size_t)mlen);
    if (dirlen) memcpy(b + doff + dsize + mlen, dir->p, (size_t)dirlen);
    tu_reseal(b, total);
    *out_len = total;
    return b;
}

/* Opens a file made of one metadata record in `m` (no tensors). */
static qtf_status open_meta(gb *m, uint64_t count) {
    size_t len;
    unsigned char *b = build(&len, 64, NULL, count, m, 0, NULL);
    qtf_status st = tu_open_mem(b, len, 0);
    qtf_status st2 = tu_open_mem(b, len, QTF_OPEN_METADATA_ONLY);
    cr_assert_eq(st, st2, "mmap-less and metadata-only opens disagree");
    free(b);
    free(m->p);
    return st;
}

/* Opens a file with the given directory and data (no metadata). */
static qtf_status open_dir(gb *d, uint64_t count, gb *data) {
    size_t len;
    unsigned char *b = build(&len, 64, data, 0, NULL, count, d);
    qtf_status st = tu_open_mem(b, len, 0);
    free(b);
    free(d->p);
    if (data) free(data->p);
    return st;
}

static const float four[2] = { 1.0f, 2.0f };

/* The valid baseline for header tests: one key, one 2-element f32 tensor. */
static unsigned char *baseline(size_t *len) {
    gb m = { 0 }, d = { 0 }, data = { 0 };
    meta_key(&m, "k", QTF_TYPE_U32);
    gb_u32(&m, 7);
    gb_bytes(&data, four, 8);
    tensor_f32(&d, "w", 2, 0, four);
    unsigned char *b = build(len, 64, &data, 1, &m, 1, &d);
    free(m.p);
    free(d.p);
    free(data.p);
    return b;
}

static qtf_status header_case(int field, int width, uint64_t value, int reseal) {
    size_t len;
    unsigned char *b = baseline(&len);
    if (width == 2) qtf__st16(b + field, (uint16_t)value);
    else if (width == 4) qtf__st32(b + field, (uint32_t)value);
    else qtf__st64(b + field, value);
    if (reseal) tu_reseal(b, len);
    qtf_status st = tu_open_mem(b, len, 0);
    free(b);
    return st;
}

#define ASSERT_ST(expr, want)                                                               \
    do {                                                                                    \
        qtf_status st_ = (expr);                                                            \
        cr_assert_eq(st_, want, "got %s (%s), want %s", qtf_status_name(st_),               \
                     qtf_error_detail(), qtf_status_name(want));                            \
    } while (0)

/* --- 1. truncation ------------------------------------------------------------ */

Test(container_hostile, baseline_is_valid) {
    size_t len;
    unsigned char *b = baseline(&len);
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_OK);
    qtf_file *f;
    cr_assert_eq(qtf_file_open_memory(&f, b, len, "x", NULL), QTF_OK);
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK, "%s", qtf_error_detail());
    qtf_file_close(f);
    free(b);
}

Test(container_hostile, truncation_at_every_offset) {
    char *dir = tu_mkdtemp();
    char *p = tu_path(dir, "t.qtf");
    qtf_writer *w = ts_writer(p);
    cr_assert_eq(qtf_writer_set_string(w, "general.name", "x", 1), QTF_OK);
    const char *toks[2] = { "a", "bc" };
    cr_assert_eq(qtf_writer_set_string_array(w, "toks", toks, NULL, 2), QTF_OK);
    cr_assert_eq(qtf_writer_set_blob(w, "hf.file.a", "text/plain", "hi", 2), QTF_OK);
    float z[64] = { 0 };
    uint64_t dims[2] = { 8, 8 };
    qtf_encoding f32 = tu_enc(QTF_ENC_F32);
    cr_assert_eq(tu_add(w, "z", 2, dims, &f32, z, sizeof z, 3), QTF_OK);
    uint64_t d1[1] = { 2 };
    cr_assert_eq(tu_add(w, "p", 1, d1, &f32, four, 8, 0), QTF_OK);
    cr_assert_eq(qtf_writer_finish(w), QTF_OK);
    size_t len;
    unsigned char *full = tu_read(p, &len);
    ASSERT_ST(tu_open_mem(full, len, 0), QTF_OK);
    for (size_t n = 0; n < len; n++) {
        unsigned char *cut = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
        memcpy(cut, full, n);
        qtf_status a = tu_open_mem(cut, n, 0), m = tu_open_mem(cut, n, QTF_OPEN_METADATA_ONLY);
        cr_assert_eq(a, QTF_E_TRUNCATED, "length %zu: %s", n, qtf_status_name(a));
        cr_assert_eq(m, QTF_E_TRUNCATED, "length %zu: %s", n, qtf_status_name(m));
        free(cut);
    }
    /* through the file system too, for each open mode, at a few lengths */
    size_t cuts[] = { 0, 5, 127, 128, 200, len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        tu_write(p, full, cuts[i]);
        for (unsigned flags = 0; flags < 3; flags++) {
            qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
            o.flags = flags;
            qtf_file *f = (qtf_file *)1;
            ASSERT_ST(qtf_file_open(&f, p, &o), QTF_E_TRUNCATED);
            cr_assert_null(f);
        }
    }
    free(full);
    free(p);
    tu_rmtree(dir);
}

/* --- 2. identity and version -------------------------------------------------- */

Test(container_hostile, magic) {
    size_t len;
    unsigned char *b = baseline(&len);
    b[1] = 'G';
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_E_MAGIC);
    ASSERT_ST(tu_open_mem("GGUF\3\0\0\0", 8, 0), QTF_E_MAGIC);
    ASSERT_ST(tu_open_mem("\x89QTX", 4, 0), QTF_E_MAGIC);
    ASSERT_ST(tu_open_mem("\x89QT", 3, 0), QTF_E_TRUNCATED);
    cr_assert(strstr(qtf_error_detail(), "mem.qtf") != NULL);
    free(b);
}

Test(container_hostile, versions) {
    ASSERT_ST(header_case(H_MAJOR, 2, 2, 1), QTF_E_VERSION);
    ASSERT_ST(header_case(H_MAJOR, 2, 0, 1), QTF_E_VERSION);
    ASSERT_ST(header_case(H_MAJOR, 2, 0xFFFF, 1), QTF_E_VERSION);
    /* a newer minor is read */
    ASSERT_ST(header_case(10, 2, 9, 1), QTF_OK);
}

Test(container_hostile, byte_order) {
    ASSERT_ST(header_case(H_BOM, 4, 0x04030201, 1), QTF_E_BYTE_ORDER);
    ASSERT_ST(header_case(H_BOM, 4, 0, 1), QTF_E_BYTE_ORDER);
    /* a big-endian writer: major reads 0x0100 and the marker is swapped */
    size_t len;
    unsigned char *b = baseline(&len);
    b[8] = 0; b[9] = 1;
    b[12] = 1; b[13] = 2; b[14] = 3; b[15] = 4;
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_E_BYTE_ORDER);
    free(b);
}

Test(container_hostile, header_fields) {
    ASSERT_ST(header_case(H_HSIZE, 4, 256, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_HSIZE, 4, 0, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_FLAGS, 4, 2, 1), QTF_E_HEADER);
    /* bit 0 is EDITING (FORMAT.md 13.1): the canonical layout stays valid */
    ASSERT_ST(header_case(H_FLAGS, 4, 1, 1), QTF_OK);
    ASSERT_ST(header_case(H_FLAGS, 4, 3, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_FLAGS, 4, 0x8000, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_FLAGS, 4, 0xFFFF0000u, 1), QTF_OK); /* optional bits ignored */
    /* reserved bytes are ignored (but covered by the checksum) */
    size_t len;
    unsigned char *b = baseline(&len);
    memset(b + 96, 0xEE, 24);
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_E_CHECKSUM);
    tu_reseal(b, len);
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_OK);
    free(b);
}

/* --- 8. alignment ------------------------------------------------------------- */

Test(container_hostile, alignment) {
    ASSERT_ST(header_case(H_ALIGN, 4, 0, 1), QTF_E_ALIGNMENT);
    ASSERT_ST(header_case(H_ALIGN, 4, 3, 1), QTF_E_ALIGNMENT);
    ASSERT_ST(header_case(H_ALIGN, 4, 4, 1), QTF_E_ALIGNMENT);
    ASSERT_ST(header_case(H_ALIGN, 4, 96, 1), QTF_E_ALIGNMENT);
    ASSERT_ST(header_case(H_ALIGN, 4, 2u << 20, 1), QTF_E_ALIGNMENT);
    ASSERT_ST(header_case(H_ALIGN, 4, 0x80000000u, 1), QTF_E_ALIGNMENT);
    /* a valid alignment that the data offset does not follow */
    ASSERT_ST(header_case(H_ALIGN, 4, 256, 1), QTF_E_HEADER);
    /* 32 keeps the data offset at 128, but then the 8-byte part ends at
     * 32 and the 64-byte data section has trailing bytes */
    ASSERT_ST(header_case(H_ALIGN, 4, 32, 1), QTF_E_OFFSET);
}

/* --- 12. checksums -------------------------------------------------------------- */

Test(container_hostile, checksum_algorithm_and_header_checksum) {
    ASSERT_ST(header_case(H_ALGO, 4, 0, 1), QTF_E_CHECKSUM_ALGO);
    ASSERT_ST(header_case(H_ALGO, 4, 2, 1), QTF_E_CHECKSUM_ALGO);
    size_t len;
    unsigned char *b = baseline(&len);
    b[len - 1] ^= 1; /* last directory byte: checksum catches it first */
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_E_CHECKSUM);
    cr_assert(strstr(qtf_error_detail(), "offset 120") != NULL, "%s", qtf_error_detail());
    b[len - 1] ^= 1;
    b[121] ^= 0x40;
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_E_CHECKSUM);
    b[121] ^= 0x40;
    b[H_NT] = 1; /* unchanged value: header intact */
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_OK);
    free(b);
}

/* --- section placement and sizes ------------------------------------------------- */

Test(container_hostile, section_placement) {
    ASSERT_ST(header_case(H_DOFF, 8, 192, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_DOFF, 8, 0, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_DSIZE, 8, 65, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_DSIZE, 8, 128, 1), QTF_E_HEADER); /* metadata offset no longer matches */
    ASSERT_ST(header_case(H_MOFF, 8, 200, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_DIROFF, 8, 0, 1), QTF_E_HEADER);
    ASSERT_ST(header_case(H_DSIZE, 8, UINT64_MAX - 63, 1), QTF_E_OVERFLOW);
    ASSERT_ST(header_case(H_MSIZE, 8, (1ull << 31) + 1, 1), QTF_E_LIMIT);
    ASSERT_ST(header_case(H_DIRSIZE, 8, (1ull << 31) + 1, 1), QTF_E_LIMIT);
    ASSERT_ST(header_case(H_DIRSIZE, 8, 1ull << 31, 1), QTF_E_TRUNCATED);
    size_t len;
    unsigned char *b = baseline(&len);
    unsigned char *more = calloc(1, len + 5);
    memcpy(more, b, len);
    ASSERT_ST(tu_open_mem(more, len + 5, 0), QTF_E_HEADER); /* trailing bytes */
    cr_assert(strstr(qtf_error_detail(), "trailing") != NULL);
    free(more);
    free(b);
}

/* --- 3. counts beyond the bytes present, 5. caps -------------------------------- */

Test(container_hostile, counts) {
    ASSERT_ST(header_case(H_NT, 8, (1ull << 24) + 1, 1), QTF_E_LIMIT);
    ASSERT_ST(header_case(H_NT, 8, UINT64_MAX, 1), QTF_E_LIMIT);
    ASSERT_ST(header_case(H_NM, 8, (1ull << 20) + 1, 1), QTF_E_LIMIT);
    ASSERT_ST(header_case(H_NM, 8, 1ull << 20, 1), QTF_E_TRUNCATED);
    ASSERT_ST(header_case(H_NT, 8, 1ull << 24, 1), QTF_E_TRUNCATED);
    ASSERT_ST(header_case(H_NM, 8, 2, 1), QTF_E_TRUNCATED);
    ASSERT_ST(header_case(H_NT, 8, 2, 1), QTF_E_TRUNCATED);
    ASSERT_ST(header_case(H_NM, 8, 0, 1), QTF_E_HEADER); /* bytes left over */
    ASSERT_ST(header_case(H_NT, 8, 0, 1), QTF_E_HEADER);
}

/* --- 6, 7. metadata records ------------------------------------------------------ */

Test(container_hostile, metadata_keys) {
    gb m = { 0 };
    gb_u32(&m, 0); gb_u32(&m, type_code(QTF_TYPE_U8)); gb_u8(&m, 1); gb_zero(&m, 2);
    ASSERT_ST(open_meta(&m, 1), QTF_E_UTF8);
    m = (gb){ 0 };
    gb_u32(&m, 257); gb_zero(&m, 300);
    ASSERT_ST(open_meta(&m, 1), QTF_E_LIMIT);
    m = (gb){ 0 };
    gb_u32(&m, 0xFFFFFFFFu); gb_zero(&m, 8);
    ASSERT_ST(open_meta(&m, 1), QTF_E_LIMIT);
    m = (gb){ 0 };
    gb_u32(&m, 200); gb_zero(&m, 10);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TRUNCATED);
    static const char *const bad[] = {
        "\xC0\x80",             /* overlong NUL */
        "\xE0\x80\xAF",         /* overlong '/' */
        "\xF0\x80\x80\xAF",     /* overlong, 4 bytes */
        "\xED\xA0\x80",         /* surrogate D800 */
        "\xED\xBF\xBF",         /* surrogate DFFF */
        "\xF4\x90\x80\x80",     /* U+110000 */
        "\xF5\x80\x80\x80",
        "\xFF",
        "\x80",                 /* stray continuation */
        "ab\xE2\x82",           /* cut sequence */
        "a\xC3(",               /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = (gb){ 0 };
        meta_key(&m, bad[i], QTF_TYPE_U8);
        gb_u8(&m, 0);
        ASSERT_ST(open_meta(&m, 1), QTF_E_UTF8);
    }
    m = (gb){ 0 };
    gb_u32(&m, 3); gb_bytes(&m, "a\0b", 3); gb_u32(&m, type_code(QTF_TYPE_U8)); gb_u8(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_E_UTF8);
    cr_assert(strstr(qtf_error_detail(), "NUL") != NULL, "%s", qtf_error_detail());
    /* valid edge code points are accepted */
    m = (gb){ 0 };
    meta_key(&m, "\xF4\x8F\xBF\xBF\xEF\xBF\xBF\xE0\xA0\x80\xC2\x80", QTF_TYPE_U8);
    gb_u8(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_OK);
    m = (gb){ 0 };
    meta_key(&m, "dup", QTF_TYPE_U8); gb_u8(&m, 0);
    meta_key(&m, "other", QTF_TYPE_U8); gb_u8(&m, 0);
    meta_key(&m, "dup", QTF_TYPE_U16); gb_u16(&m, 0);
    ASSERT_ST(open_meta(&m, 3), QTF_E_DUPLICATE);
    cr_assert(strstr(qtf_error_detail(), "'dup'") != NULL, "%s", qtf_error_detail());
}

Test(container_hostile, metadata_values) {
    gb m = { 0 };
    meta_key(&m, "t", 14); gb_u8(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TYPE);
    m = (gb){ 0 };
    meta_key(&m, "t", 0xFFFFFFFFu); gb_u8(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TYPE);
    m = (gb){ 0 };
    meta_key(&m, "b", QTF_TYPE_BOOL); gb_u8(&m, 2);
    ASSERT_ST(open_meta(&m, 1), QTF_E_VALUE);
    m = (gb){ 0 };
    meta_key(&m, "b", QTF_TYPE_BOOL); gb_u8(&m, 1);
    ASSERT_ST(open_meta(&m, 1), QTF_OK);
    m = (gb){ 0 };
    meta_key(&m, "u", QTF_TYPE_U64); gb_u32(&m, 0); /* cut value at section end */
    ASSERT_ST(open_meta(&m, 1), QTF_E_TRUNCATED);
    /* strings */
    m = (gb){ 0 };
    meta_key(&m, "s", QTF_TYPE_STRING); gb_u64(&m, (1ull << 30) + 1);
    ASSERT_ST(open_meta(&m, 1), QTF_E_LIMIT);
    m = (gb){ 0 };
    meta_key(&m, "s", QTF_TYPE_STRING); gb_u64(&m, UINT64_MAX);
    ASSERT_ST(open_meta(&m, 1), QTF_E_LIMIT);
    m = (gb){ 0 };
    meta_key(&m, "s", QTF_TYPE_STRING); gb_u64(&m, 100); gb_bytes(&m, "abc", 3);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TRUNCATED);
    m = (gb){ 0 };
    meta_key(&m, "s", QTF_TYPE_STRING); gb_u64(&m, 2); gb_bytes(&m, "\xC3\x28", 2);
    ASSERT_ST(open_meta(&m, 1), QTF_E_UTF8);
    m = (gb){ 0 };
    meta_key(&m, "s", QTF_TYPE_STRING); gb_u64(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_OK);
    /* trailing bytes inside the metadata section */
    m = (gb){ 0 };
    meta_key(&m, "s", QTF_TYPE_STRING); gb_u64(&m, 0); gb_zero(&m, 3);
    ASSERT_ST(open_meta(&m, 1), QTF_E_HEADER);
}

Test(container_hostile, metadata_arrays) {
    static const uint32_t bad_elems[] = { QTF_TYPE_ARRAY, QTF_TYPE_BLOB, 14, 0xFFFFFFFFu };
    for (int i = 0; i < 4; i++) {
        gb m = { 0 };
        meta_key(&m, "a", QTF_TYPE_ARRAY); gb_u32(&m, bad_elems[i]); gb_u64(&m, 1); gb_zero(&m, 16);
        ASSERT_ST(open_meta(&m, 1), QTF_E_TYPE);
    }
    gb m = { 0 };
    meta_key(&m, "a", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_U8)); gb_u64(&m, (1ull << 30) + 1);
    ASSERT_ST(open_meta(&m, 1), QTF_E_LIMIT);
    m = (gb){ 0 };
    meta_key(&m, "a", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_U64)); gb_u64(&m, 1ull << 30);
    gb_zero(&m, 64);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TRUNCATED);
    /* 2^30 strings claimed in 64 bytes: refused before any allocation */
    m = (gb){ 0 };
    meta_key(&m, "a", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_STRING)); gb_u64(&m, 1ull << 30);
    gb_zero(&m, 64);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TRUNCATED);
    m = (gb){ 0 };
    meta_key(&m, "a", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_STRING)); gb_u64(&m, 2);
    gb_u64(&m, 1); gb_u8(&m, 'x'); gb_u64(&m, 1ull << 40);
    ASSERT_ST(open_meta(&m, 1), QTF_E_LIMIT);
    m = (gb){ 0 };
    meta_key(&m, "a", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_STRING)); gb_u64(&m, 2);
    gb_u64(&m, 1); gb_u8(&m, 'x'); gb_u64(&m, 1); gb_u8(&m, 0xFE);
    ASSERT_ST(open_meta(&m, 1), QTF_E_UTF8);
    m = (gb){ 0 };
    meta_key(&m, "a", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_BOOL)); gb_u64(&m, 3);
    gb_u8(&m, 1); gb_u8(&m, 0); gb_u8(&m, 2);
    ASSERT_ST(open_meta(&m, 1), QTF_E_VALUE);
    m = (gb){ 0 };
    meta_key(&m, "a", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_I16)); gb_u64(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_OK);
}

Test(container_hostile, metadata_blobs) {
    gb m = { 0 };
    meta_key(&m, "hf.file.x", QTF_TYPE_BLOB); gb_u32(&m, 0); gb_u64(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_E_VALUE);
    m = (gb){ 0 };
    meta_key(&m, "hf.file.x", QTF_TYPE_BLOB); gb_u32(&m, 128); gb_zero(&m, 140);
    ASSERT_ST(open_meta(&m, 1), QTF_E_LIMIT);
    m = (gb){ 0 };
    meta_key(&m, "hf.file.x", QTF_TYPE_BLOB); tb_str32(&m, "text/\x7F"); gb_u64(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_E_VALUE);
    m = (gb){ 0 };
    meta_key(&m, "hf.file.x", QTF_TYPE_BLOB); tb_str32(&m, "text/plain"); gb_u64(&m, 5);
    gb_bytes(&m, "abc", 3);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TRUNCATED);
    m = (gb){ 0 };
    meta_key(&m, "hf.file.x", QTF_TYPE_BLOB); tb_str32(&m, "text/plain"); gb_u64(&m, UINT64_MAX);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TRUNCATED);
    m = (gb){ 0 };
    meta_key(&m, "hf.file.x", QTF_TYPE_BLOB); gb_u32(&m, 50); gb_bytes(&m, "text", 4);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TRUNCATED);
    m = (gb){ 0 };
    meta_key(&m, "hf.file.x", QTF_TYPE_BLOB); tb_str32(&m, "application/octet-stream");
    gb_u64(&m, 3); gb_bytes(&m, "\0\1\2", 3);
    ASSERT_ST(open_meta(&m, 1), QTF_OK);
}

Test(container_hostile, reserved_key_types) {
    gb m = { 0 };
    meta_key(&m, "general.name", QTF_TYPE_U32); gb_u32(&m, 1);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TYPE);
    cr_assert(strstr(qtf_error_detail(), "general.name") != NULL);
    m = (gb){ 0 };
    meta_key(&m, "hf.file.config.json", QTF_TYPE_STRING); gb_u64(&m, 2); gb_bytes(&m, "{}", 2);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TYPE);
    m = (gb){ 0 };
    meta_key(&m, "qtf.source.files", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_U64)); gb_u64(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_E_TYPE);
    m = (gb){ 0 };
    meta_key(&m, "qtf.source.sizes", QTF_TYPE_ARRAY); gb_u32(&m, type_code(QTF_TYPE_U64)); gb_u64(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_OK);
    m = (gb){ 0 };
    meta_key(&m, "qtf.whatever", QTF_TYPE_F32); gb_u32(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_OK);
}

/* --- directory records ------------------------------------------------------------- */

static qtf_status open_one_tensor(void (*edit)(gb *d), gb *data) {
    gb d = { 0 };
    edit(&d);
    return open_dir(&d, 1, data);
}

Test(container_hostile, tensor_names) {
    gb d = { 0 };
    tensor_f32(&d, "", 2, 0, NULL);
    ASSERT_ST(open_dir(&d, 1, NULL), QTF_E_UTF8);
    d = (gb){ 0 };
    gb_u32(&d, 1025); gb_zero(&d, 1100);
    ASSERT_ST(open_dir(&d, 1, NULL), QTF_E_LIMIT);
    d = (gb){ 0 };
    gb_u32(&d, 1000); gb_zero(&d, 100);
    ASSERT_ST(open_dir(&d, 1, NULL), QTF_E_TRUNCATED);
    d = (gb){ 0 };
    tensor_f32(&d, "\xED\xB0\x80", 2, 0, NULL);
    ASSERT_ST(open_dir(&d, 1, NULL), QTF_E_UTF8);
    gb data = { 0 };
    gb_bytes(&data, four, 8);
    gb_zero(&data, 56);
    gb_bytes(&data, four, 8);
    d = (gb){ 0 };
    tensor_f32(&d, "same", 2, 0, four);
    tensor_f32(&d, "same", 2, 64, four);
    ASSERT_ST(open_dir(&d, 2, &data), QTF_E_DUPLICATE);
    cr_assert(strstr(qtf_error_detail(), "'same'") != NULL);
}

static void ed_dims9(gb *d) {
    uint64_t dims[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 2 };
    tensor_head(d, "w", 9, dims);
    gb_u32(d, 1);
    part_rec(d, 0, QTF_DTYPE_F32, 0, 0, 8, 8, four);
}
static void ed_dims_overflow(gb *d) {
    uint64_t dims[3] = { 1ull << 32, 1ull << 32, 0 };
    tensor_head(d, "w", 3, dims);
    gb_u32(d, 1);
    part_rec(d, 0, QTF_DTYPE_F32, 0, 0, 0, 0, NULL);
}
static void ed_dims_too_many_elements(gb *d) {
    uint64_t dims[2] = { 1ull << 31, 1ull << 32 };
    tensor_head(d, "w", 2, dims);
    gb_u32(d, 1);
    part_rec(d, 0, QTF_DTYPE_F32, 0, 0, 0, 0, NULL);
}
static void ed_dims_cut(gb *d) {
    tb_str32(d, "w");
    gb_u32(d, 8);
    gb_zero(d, 70); /* 8 dims fit, the dtype/encoding/n_params do not */
}
static void ed_source_dtype(gb *d) {
    tensor_f32(d, "w", 2, 0, four);
    qtf__st32(d->p + 4 + 1 + 4 + 8, QTF_DTYPE_COUNT_);
}
static void ed_params17(gb *d) {
    tb_str32(d, "w"); gb_u32(d, 1); gb_u64(d, 2);
    gb_u32(d, QTF_DTYPE_F32); gb_u32(d, QTF_ENC_F32); gb_u32(d, 17);
    gb_zero(d, 17 * 8 + 4 + 40);
}
static void ed_parts0(gb *d) {
    uint64_t dims[1] = { 2 };
    tensor_head(d, "w", 1, dims);
    gb_u32(d, 0);
    gb_zero(d, 40);
}
static void ed_parts9(gb *d) {
    uint64_t dims[1] = { 2 };
    tensor_head(d, "w", 1, dims);
    gb_u32(d, 9);
    gb_zero(d, 9 * 40);
}
static void ed_parts_cut(gb *d) {
    uint64_t dims[1] = { 2 };
    tensor_head(d, "w", 1, dims);
    gb_u32(d, 2);
    part_rec(d, 0, QTF_DTYPE_F32, 0, 0, 8, 8, four);
}

Test(container_hostile, tensor_shape_and_counts) {
    gb data = { 0 };
    gb_bytes(&data, four, 8);
    ASSERT_ST(open_one_tensor(ed_dims9, &data), QTF_E_LIMIT);
    ASSERT_ST(open_one_tensor(ed_dims_overflow, NULL), QTF_E_OVERFLOW);
    ASSERT_ST(open_one_tensor(ed_dims_too_many_elements, NULL), QTF_E_LIMIT);
    ASSERT_ST(open_one_tensor(ed_dims_cut, NULL), QTF_E_TRUNCATED);
    data = (gb){ 0 };
    gb_bytes(&data, four, 8);
    ASSERT_ST(open_one_tensor(ed_source_dtype, &data), QTF_E_TYPE);
    ASSERT_ST(open_one_tensor(ed_params17, NULL), QTF_E_LIMIT);
    ASSERT_ST(open_one_tensor(ed_parts0, NULL), QTF_E_ENCODING);
    ASSERT_ST(open_one_tensor(ed_parts9, NULL), QTF_E_LIMIT);
    ASSERT_ST(open_one_tensor(ed_parts_cut, NULL), QTF_E_TRUNCATED);
}

/* One f32 tensor of 2 elements whose single part record is given. */
static qtf_status part_case(uint16_t role, uint16_t type, uint8_t comp, uint64_t off,
                            uint64_t stored, uint64_t decoded, uint8_t reserved) {
    gb d = { 0 }, data = { 0 };
    uint64_t dims[1] = { 2 };
    tensor_head(&d, "w", 1, dims);
    gb_u32(&d, 1);
    part_rec(&d, role, type, comp, off, stored, decoded, NULL);
    d.p[d.len - 40 + 5] = reserved;
    gb_bytes(&data, four, 8);
    return open_dir(&d, 1, &data);
}

Test(container_hostile, part_records) {
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 0, 0, 8, 8, 0), QTF_OK);
    ASSERT_ST(part_case(QTF_ROLE_COUNT_, QTF_DTYPE_F32, 0, 0, 8, 8, 0), QTF_E_TYPE);
    ASSERT_ST(part_case(0xFFFF, QTF_DTYPE_F32, 0, 0, 8, 8, 0), QTF_E_TYPE);
    ASSERT_ST(part_case(0, QTF_DTYPE_NONE, 0, 0, 8, 8, 0), QTF_E_TYPE);
    ASSERT_ST(part_case(0, QTF_DTYPE_COUNT_, 0, 0, 8, 8, 0), QTF_E_TYPE);
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 2, 0, 8, 8, 0), QTF_E_COMPRESSION);
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 0xFF, 0, 8, 8, 0), QTF_E_COMPRESSION);
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 0, 0, 8, 8, 1), QTF_E_VALUE);
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 0, 0, 4, 8, 0), QTF_E_COMPRESSION);
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 1, 0, 0, 8, 0), QTF_E_COMPRESSION);
    /* encoding layout mismatches */
    ASSERT_ST(part_case(QTF_ROLE_CODES, QTF_DTYPE_F32, 0, 0, 8, 8, 0), QTF_E_ENCODING);
    ASSERT_ST(part_case(0, QTF_DTYPE_U32, 0, 0, 8, 8, 0), QTF_E_ENCODING);
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 0, 0, 4, 4, 0), QTF_E_ENCODING);
}

Test(container_hostile, part_offsets) {
    /* misaligned */
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 0, 8, 8, 8, 0), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "offset 8 is not the expected 0") != NULL, "%s",
              qtf_error_detail());
    cr_assert(strstr(qtf_error_detail(), "tensor 'w' part 0") != NULL);
    cr_assert(strstr(qtf_error_detail(), "mem.qtf") != NULL);
    /* hole (aligned but late) / out of bounds */
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 0, 64, 8, 8, 0), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "hole") != NULL);
    ASSERT_ST(part_case(0, QTF_DTYPE_F32, 0, 0, 72, 72, 0), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "past the end") != NULL);
    /* overlap: second tensor at the first one's offset */
    gb d = { 0 }, data = { 0 };
    gb_bytes(&data, four, 8);
    gb_zero(&data, 56);
    gb_bytes(&data, four, 8);
    tensor_f32(&d, "a", 2, 0, four);
    tensor_f32(&d, "b", 2, 0, four);
    ASSERT_ST(open_dir(&d, 2, &data), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "overlaps") != NULL);
    /* out of order */
    d = (gb){ 0 };
    data = (gb){ 0 };
    gb_bytes(&data, four, 8);
    gb_zero(&data, 56);
    gb_bytes(&data, four, 8);
    tensor_f32(&d, "a", 2, 64, four);
    tensor_f32(&d, "b", 2, 0, four);
    ASSERT_ST(open_dir(&d, 2, &data), QTF_E_OFFSET);
    /* beyond the data section */
    d = (gb){ 0 };
    data = (gb){ 0 };
    gb_bytes(&data, four, 8);
    tensor_f32(&d, "a", 2, 0, four);
    tensor_f32(&d, "b", 2, 64, four);
    ASSERT_ST(open_dir(&d, 2, &data), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "past the end") != NULL);
    /* offset + size overflows */
    d = (gb){ 0 };
    data = (gb){ 0 };
    gb_bytes(&data, four, 8);
    tensor_f32(&d, "a", 2, 0, four);
    uint64_t dims[1] = { 2 };
    tensor_head(&d, "b", 1, dims);
    gb_u32(&d, 1);
    part_rec(&d, 0, QTF_DTYPE_F32, 1, 64, UINT64_MAX - 10, 8, NULL);
    ASSERT_ST(open_dir(&d, 2, &data), QTF_E_OVERFLOW);
    /* trailing data: data section larger than its parts */
    d = (gb){ 0 };
    data = (gb){ 0 };
    gb_bytes(&data, four, 8);
    gb_zero(&data, 100);
    tensor_f32(&d, "a", 2, 0, four);
    ASSERT_ST(open_dir(&d, 1, &data), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "trailing") != NULL);
    /* data but no tensors */
    data = (gb){ 0 };
    gb_zero(&data, 64);
    size_t len;
    unsigned char *b = build(&len, 64, &data, 0, NULL, 0, NULL);
    ASSERT_ST(tu_open_mem(b, len, 0), QTF_E_OFFSET);
    free(b);
    free(data.p);
    /* directory bytes left over */
    d = (gb){ 0 };
    data = (gb){ 0 };
    gb_bytes(&data, four, 8);
    tensor_f32(&d, "a", 2, 0, four);
    gb_zero(&d, 7);
    ASSERT_ST(open_dir(&d, 1, &data), QTF_E_HEADER);
}

/* --- 10. encodings ------------------------------------------------------------------ */

/* Opens one tensor record `d` over the 8 data bytes of `four`; with `out`,
 * the open file and its buffer are returned (close and free them). */
static qtf_status open_built(gb *d, qtf_file **out, unsigned char **out_buf) {
    gb data = { 0 };
    gb_bytes(&data, four, 8);
    size_t len;
    unsigned char *b = build(&len, 64, &data, 0, NULL, 1, d);
    free(d->p);
    free(data.p);
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open_memory(&f, b, len, "mem.qtf", NULL);
    if (out && f) {
        *out = f;
        *out_buf = b;
        return st;
    }
    qtf_file_close(f);
    free(b);
    return st;
}

static qtf_status encoding_case(uint32_t id, uint32_t n_params, const uint32_t *kv,
                                qtf_file **out, unsigned char **out_buf) {
    gb d = { 0 };
    tb_str32(&d, "w");
    gb_u32(&d, 1);
    gb_u64(&d, 2);
    gb_u32(&d, QTF_DTYPE_F32);
    gb_u32(&d, id);
    gb_u32(&d, n_params);
    for (uint32_t i = 0; i < 2 * n_params; i++) gb_u32(&d, kv[i]);
    gb_u32(&d, 1);
    part_rec(&d, 0, QTF_DTYPE_F32, 0, 0, 8, 8, four);
    return open_built(&d, out, out_buf);
}

Test(container_hostile, unknown_encoding_is_listed_not_decoded) {
    static const uint32_t none[2] = { 0, 0 };
    static const uint32_t plain[2] = { 11, 0 };
    static const uint32_t unk[4] = { 11, 0, 99, 1 };
    qtf_file *f = NULL;
    unsigned char *buf = NULL;
    ASSERT_ST(encoding_case(200, 0, none, &f, &buf), QTF_OK);
    const qtf_tensor_info *t = qtf_tensor_get(f, 0);
    cr_assert_eq(t->encoding_known, 0);
    cr_assert_eq(t->encoding_id, 200);
    float out[2];
    ASSERT_ST(qtf_tensor_dequantize(out, QTF_DTYPE_F32, 2, f, 0, 1), QTF_E_UNKNOWN_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "'w'") != NULL, "%s", qtf_error_detail());
    ASSERT_ST(qtf_tensor_verify(f, 0), QTF_OK);
    ASSERT_ST(qtf_file_verify(f, 1, NULL), QTF_OK);
    const void *p;
    ASSERT_ST(qtf_part_data(&p, f, 0, 0), QTF_OK);
    cr_assert_eq(memcmp(p, four, 8), 0);
    qtf_file_close(f);
    free(buf);
    f = NULL;
    ASSERT_ST(encoding_case(QTF_ENC_F32, 2, unk, &f, &buf), QTF_OK);
    cr_assert_eq(qtf_tensor_get(f, 0)->encoding_known, 0);
    qtf_file_close(f);
    free(buf);
    ASSERT_ST(encoding_case(QTF_ENC_F32, 1, plain, NULL, NULL), QTF_OK);
}

Test(container_hostile, invalid_encoding_parameters) {
    static const uint32_t bad_level[2] = { 11, 99 };
    static const uint32_t missing[2] = { 0, 0 };
    static const uint32_t unordered[4] = { 12, 1, 11, 0 };
    ASSERT_ST(encoding_case(QTF_ENC_F32, 1, bad_level, NULL, NULL), QTF_E_ENCODING);
    ASSERT_ST(encoding_case(QTF_ENC_F32, 0, missing, NULL, NULL), QTF_E_ENCODING);
    ASSERT_ST(encoding_case(QTF_ENC_RAW, 2, unordered, NULL, NULL), QTF_E_ENCODING);
}

Test(container_hostile, shape_incompatible_with_encoding) {
    /* q8_0 needs rows that are whole 32-element blocks */
    qtf_encoding q = tu_enc(QTF_ENC_Q8_0);
    qtf_encoding_param params[QTF_MAX_PARAMS];
    uint32_t id, n;
    cr_assert_eq(qtf_encoding_to_params(&id, params, &n, &q), QTF_OK);
    gb d = { 0 }, data = { 0 };
    tb_str32(&d, "q");
    gb_u32(&d, 1);
    gb_u64(&d, 33);
    gb_u32(&d, QTF_DTYPE_F32);
    gb_u32(&d, id);
    gb_u32(&d, n);
    for (uint32_t i = 0; i < n; i++) {
        gb_u32(&d, params[i].key);
        gb_u32(&d, params[i].value);
    }
    gb_u32(&d, 1);
    part_rec(&d, QTF_ROLE_BLOCKS, QTF_DTYPE_PACKED, 0, 0, 34, 34, NULL);
    gb_zero(&data, 34);
    ASSERT_ST(open_dir(&d, 1, &data), QTF_E_SHAPE);
}

/* --- 11. zstd frames (checked on decode and verify) --------------------------------- */

typedef struct zcase {
    unsigned char *file;
    size_t len;
    qtf_file *f;
} zcase;

/* A file whose tensor "w" (2 x f32) has one zstd part with these bytes. */
static zcase zfile(const void *frame, size_t n) {
    gb d = { 0 }, data = { 0 };
    uint64_t dims[1] = { 2 };
    tensor_head(&d, "w", 1, dims);
    gb_u32(&d, 1);
    part_rec(&d, 0, QTF_DTYPE_F32, 1, 0, n, 8, frame);
    gb_bytes(&data, frame, n);
    zcase z;
    z.file = build(&z.len, 64, &data, 0, NULL, 1, &d);
    free(d.p);
    free(data.p);
    cr_assert_eq(qtf_file_open_memory(&z.f, z.file, z.len, "z.qtf", NULL), QTF_OK, "%s",
                 qtf_error_detail());
    return z;
}

static qtf_status zdecode(const void *frame, size_t n) {
    zcase z = zfile(frame, n);
    float out[2];
    qtf_status st = qtf_part_decode(out, 8, z.f, 0, 0);
    qtf_status v = qtf_tensor_verify(z.f, 0);
    float deq[2];
    qtf_status q = qtf_tensor_dequantize(deq, QTF_DTYPE_F32, 2, z.f, 0, 1);
    cr_assert_eq(q, st, "dequantize %s vs decode %s", qtf_status_name(q), qtf_status_name(st));
    if (st == QTF_OK) {
        cr_assert_eq(memcmp(out, four, 8), 0);
        cr_assert_eq(memcmp(deq, four, 8), 0);
    } else if (v != QTF_OK) {
        cr_assert_eq(v, st, "verify %s vs decode %s", qtf_status_name(v), qtf_status_name(st));
    }
    qtf_file_close(z.f);
    free(z.file);
    return st;
}

/* A hand-made frame: FHD with an 8-byte content size and a window
 * descriptor, one raw block holding `four`. */
static size_t handmade_frame(unsigned char *o, unsigned window_log, uint64_t content_size,
                             int dict) {
    size_t n = 0;
    static const unsigned char magic[4] = { 0x28, 0xB5, 0x2F, 0xFD };
    memcpy(o, magic, 4);
    n = 4;
    o[n++] = (unsigned char)(0xC0 | (dict ? 1 : 0)); /* FCS 8 bytes, not single segment */
    o[n++] = (unsigned char)((window_log - 10) << 3);
    if (dict) o[n++] = 7;
    qtf__st64(o + n, content_size);
    n += 8;
    uint32_t bh = 1u | (0u << 1) | (8u << 3); /* last, raw, 8 bytes */
    o[n++] = (unsigned char)bh;
    o[n++] = (unsigned char)(bh >> 8);
    o[n++] = (unsigned char)(bh >> 16);
    memcpy(o + n, four, 8);
    return n + 8;
}

Test(container_hostile, zstd_frames) {
    unsigned char frame[128];
    size_t n = ZSTD_compress(frame, sizeof frame, four, 8, 3);
    cr_assert(!ZSTD_isError(n));
    ASSERT_ST(zdecode(frame, n), QTF_OK);
    /* trailing bytes after the frame */
    unsigned char tr[160];
    memcpy(tr, frame, n);
    memcpy(tr + n, "abc", 3);
    ASSERT_ST(zdecode(tr, n + 3), QTF_E_COMPRESSION);
    /* two frames */
    memcpy(tr + n, frame, n);
    ASSERT_ST(zdecode(tr, 2 * n), QTF_E_COMPRESSION);
    /* content size not equal to the decoded size */
    float twelve[3] = { 1, 2, 3 };
    size_t m = ZSTD_compress(tr, sizeof tr, twelve, 12, 3);
    ASSERT_ST(zdecode(tr, m), QTF_E_COMPRESSION);
    /* content size absent */
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    ZSTD_outBuffer ob = { tr, sizeof tr, 0 };
    ZSTD_inBuffer ib = { four, 8, 0 };
    cr_assert_eq(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_end), 0);
    ZSTD_freeCCtx(c);
    ASSERT_ST(zdecode(tr, ob.pos), QTF_E_COMPRESSION);
    /* hand-made frames: window at the limit is fine, above it is refused */
    m = handmade_frame(tr, 27, 8, 0);
    ASSERT_ST(zdecode(tr, m), QTF_OK);
    m = handmade_frame(tr, 28, 8, 0);
    ASSERT_ST(zdecode(tr, m), QTF_E_COMPRESSION);
    m = handmade_frame(tr, 20, 8, 1);
    ASSERT_ST(zdecode(tr, m), QTF_E_COMPRESSION);
    /* a block that claims more bytes than the frame has */
    m = handmade_frame(tr, 20, 8, 0);
    ASSERT_ST(zdecode(tr, m - 3), QTF_E_COMPRESSION);
    /* corrupt compressed block: not decodable */
    unsigned char bad[128];
    memcpy(bad, frame, n);
    for (size_t i = 6; i < n; i++) bad[i] ^= 0x5A;
    qtf_status st = zdecode(bad, n);
    cr_assert(st == QTF_E_COMPRESSION, "%s", qtf_status_name(st));
    /* skippable frame */
    unsigned char skip[16] = { 0x50, 0x2A, 0x4D, 0x18, 8, 0, 0, 0 };
    ASSERT_ST(zdecode(skip, 16), QTF_E_COMPRESSION);
    /* not a frame at all */
    ASSERT_ST(zdecode("abcdefghij", 10), QTF_E_COMPRESSION);
    ASSERT_ST(zdecode("\x28\xB5\x2F\xFD", 4), QTF_E_COMPRESSION);
}

/* --- messages escape what they quote -------------------------------------------------- */

Test(container_hostile, error_detail_escapes_control_bytes) {
    gb m = { 0 };
    meta_key(&m, "a\x1b[31mred", QTF_TYPE_U8); gb_u8(&m, 0);
    meta_key(&m, "a\x1b[31mred", QTF_TYPE_U8); gb_u8(&m, 0);
    ASSERT_ST(open_meta(&m, 2), QTF_E_DUPLICATE);
    cr_assert_null(strchr(qtf_error_detail(), 0x1b), "%s", qtf_error_detail());
}

Test(container_hostile, error_detail_is_valid_utf8) {
    gb m = { 0 };
    meta_key(&m, "ok\xE2\x82\xAC-\xC0\x80-\xF0\x9F\x98", QTF_TYPE_U8); gb_u8(&m, 0);
    ASSERT_ST(open_meta(&m, 1), QTF_E_UTF8);
    const char *d = qtf_error_detail();
    cr_assert(qtf__utf8_check((const unsigned char *)d, strlen(d), NULL), "%s", d);
    cr_assert(strstr(d, "ok\xE2\x82\xAC-\\xC0\\x80-\\xF0\\x9F\\x98") != NULL, "%s", d);
}

/* --- regression corpus ---------------------------------------------------------------- */

/* Replays the fuzzer's seed corpus (fuzz/corpus/reader: first byte = mode,
 * as in fuzz_reader.c): every file opens or fails cleanly in every mode, and
 * the modes agree. */
Test(container_hostile, fuzz_corpus_replay) {
    const char *d = ts_source_path("fuzz/corpus/reader");
    DIR *dp = opendir(d);
    if (!dp) cr_skip_test("no corpus at %s", d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        size_t len;
        unsigned char *b = tu_read(p, &len);
        if (len == 0) {
            free(b);
            continue;
        }
        unsigned char *file = malloc(len - 1 ? len - 1 : 1);
        memcpy(file, b + 1, len - 1);
        if (b[0] & 1) tu_reseal(file, len - 1);
        qtf_status full = tu_open_mem(file, len - 1, 0);
        qtf_status meta = tu_open_mem(file, len - 1, QTF_OPEN_METADATA_ONLY);
        qtf_status copy = tu_open_mem(file, len - 1, QTF_OPEN_NO_MMAP);
        cr_assert_eq(full, meta, "%s", e->d_name);
        cr_assert_eq(full, copy, "%s", e->d_name);
        if (full == QTF_OK) {
            qtf_file *f;
            cr_assert_eq(qtf_file_open_memory(&f, file, len - 1, e->d_name, NULL), QTF_OK);
            qtf_status st = qtf_file_verify(f, 2, NULL);
            cr_assert(st == QTF_OK || st == QTF_E_CHECKSUM || st == QTF_E_OFFSET ||
                      st == QTF_E_COMPRESSION, "%s: %s", e->d_name, qtf_status_name(st));
            qtf_file_close(f);
        }
        free(file);
        free(b);
        files++;
    }
    closedir(dp);
    cr_assert_gt(files, 0);
}

/* The element count rule does not depend on where a zero dim sits nor on
 * whether the reader knows the encoding (spec/encodings/README.md, "Shapes"):
 * a zero in front of two 2^40 dims does not hide their overflow. */
static void ed_dims_overflow_behind_zero(gb *d) {
    uint64_t dims[3] = { 0, 1ull << 40, 1ull << 40 };
    tb_str32(d, "w");
    gb_u32(d, 3);
    for (int i = 0; i < 3; i++) gb_u64(d, dims[i]);
    gb_u32(d, QTF_DTYPE_F32);
    gb_u32(d, 200); /* an encoding id this reader does not know */
    gb_u32(d, 0);
    gb_u32(d, 1);
    part_rec(d, QTF_ROLE_DATA, QTF_DTYPE_F32, 0, 0, 0, 0, NULL);
}

Test(container_hostile, dims_overflow_behind_a_zero_dim) {
    ASSERT_ST(open_one_tensor(ed_dims_overflow_behind_zero, NULL), QTF_E_OVERFLOW);
    cr_assert(strstr(qtf_error_detail(), "'w'") != NULL, "%s", qtf_error_detail());
}

/* spec/FORMAT.md section 11: a later minor version may add encodings that use
 * part roles, element types and source dtypes this version does not know.
 * With an unknown encoding id the tensor is listed with the numbers as
 * stored (not a corrupt file); with a known id they are QTF_E_TYPE. */
static void unknown_numbers(gb *d, uint32_t enc_id, uint16_t role, uint16_t type,
                            uint32_t source) {
    uint64_t dims[1] = { 2 };
    tb_str32(d, "future");
    gb_u32(d, 1);
    gb_u64(d, dims[0]);
    gb_u32(d, source);
    gb_u32(d, enc_id);
    gb_u32(d, 1);
    gb_u32(d, 99);      /* a parameter key this version does not know */
    gb_u32(d, 7);
    gb_u32(d, 1);
    part_rec(d, role, type, 0, 0, 8, 8, four);
}

Test(container_hostile, unknown_roles_and_types_of_an_unknown_encoding_are_listed) {
    gb d = { 0 }, data = { 0 };
    unknown_numbers(&d, 4000, 42, 99, 77);
    qtf_file *f = NULL;
    unsigned char *b = NULL;
    qtf_status st = open_built(&d, &f, &b);
    cr_assert_eq(st, QTF_OK, "%s: %s", qtf_status_name(st), qtf_error_detail());
    const qtf_tensor_info *t = qtf_tensor_get(f, 0);
    cr_assert_eq(t->encoding_known, 0);
    cr_assert_eq(t->encoding_id, 4000);
    cr_assert_eq((unsigned)t->parts[0].role, 42);
    cr_assert_eq((unsigned)t->parts[0].type, 99);
    cr_assert_eq((unsigned)t->source_type, 77);
    cr_assert_str_eq(qtf_part_role_name(t->parts[0].role), "?");
    /* listed and verifiable, not decodable */
    cr_assert_eq(qtf_file_verify(f, 1, NULL), QTF_OK);
    float out[2];
    cr_assert_eq(qtf_tensor_dequantize(out, QTF_DTYPE_F32, 2, f, 0, 1), QTF_E_UNKNOWN_ENCODING);
    qtf_file_close(f);
    free(b);
    /* the same role under a known encoding (f32) */
    d = (gb){ 0 };
    uint64_t dims[1] = { 2 };
    tensor_head(&d, "w", 1, dims);
    gb_u32(&d, 1);
    part_rec(&d, 42, QTF_DTYPE_F32, 0, 0, 8, 8, NULL);
    gb_bytes(&data, four, 8);
    ASSERT_ST(open_dir(&d, 1, &data), QTF_E_TYPE);
    cr_assert(strstr(qtf_error_detail(), "role 42"), "%s", qtf_error_detail());
}

/* --- tensor layout (spec/FORMAT.md 6.4, format 1.1) ----------------------------- */

/* Tensor "w" of F32 with the parameters kv (zstd_level first) over one
 * 8-byte part holding {1, 2}. */
static qtf_status layout_case(uint32_t n_dims, const uint64_t *dims, uint32_t n_params,
                              const uint32_t *kv, qtf_file **out, unsigned char **out_buf) {
    gb d = { 0 };
    tb_str32(&d, "w");
    gb_u32(&d, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) gb_u64(&d, dims[i]);
    gb_u32(&d, QTF_DTYPE_F32);
    gb_u32(&d, QTF_ENC_F32);
    gb_u32(&d, n_params);
    for (uint32_t i = 0; i < 2 * n_params; i++) gb_u32(&d, kv[i]);
    gb_u32(&d, 1);
    part_rec(&d, 0, QTF_DTYPE_F32, 0, 0, 8, 8, four);
    return open_built(&d, out, out_buf);
}

Test(container_hostile, layout_parameter) {
    static const uint64_t m12[2] = { 1, 2 }, v2[1] = { 2 }, c3[3] = { 1, 1, 2 };
    static const uint32_t zero[4] = { 11, 0, 13, 0 }, one[4] = { 11, 0, 13, 1 };
    static const uint32_t two[4] = { 11, 0, 13, 2 }, after[6] = { 11, 0, 13, 1, 14, 1 };
    /* row-major is the absence of the key: 0 is not a canonical file */
    ASSERT_ST(layout_case(2, m12, 2, zero, NULL, NULL), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "'w'") != NULL, "%s", qtf_error_detail());
    /* transposed needs a matrix */
    ASSERT_ST(layout_case(1, v2, 2, one, NULL, NULL), QTF_E_SHAPE);
    ASSERT_ST(layout_case(3, c3, 2, one, NULL, NULL), QTF_E_SHAPE);
    cr_assert(strstr(qtf_error_detail(), "transposed") != NULL, "%s", qtf_error_detail());
    /* a valid transposed tensor: stored [2, 1], returned [1, 2] */
    qtf_file *f = NULL;
    unsigned char *buf = NULL;
    ASSERT_ST(layout_case(2, m12, 2, one, &f, &buf), QTF_OK);
    const qtf_tensor_info *t = qtf_tensor_get(f, 0);
    cr_assert_eq(t->encoding_known, 1);
    cr_assert_eq(t->layout, QTF_LAYOUT_TRANSPOSED);
    cr_assert_eq(t->stored_dims[0], 2);
    cr_assert_eq(t->stored_dims[1], 1);
    cr_assert_eq(t->dims[0], 1);
    cr_assert_eq(t->n_params, 2, "params are listed as stored");
    float v[2];
    ASSERT_ST(qtf_tensor_dequantize(v, QTF_DTYPE_F32, 2, f, 0, 1), QTF_OK);
    cr_assert(v[0] == 1.0f && v[1] == 2.0f);
    /* what a 1.0 reader does with these parameters: an unknown encoding,
     * never a row-major decode of the stored transpose */
    qtf_encoding e;
    ASSERT_ST(qtf_encoding_from_params(&e, QTF_ENC_F32, t->params, t->n_params),
              QTF_E_UNKNOWN_ENCODING);
    qtf_file_close(f);
    free(buf);
    /* a later minor version's layout, or a key after it: listed, not decoded */
    f = NULL;
    ASSERT_ST(layout_case(2, m12, 2, two, &f, &buf), QTF_OK);
    cr_assert_eq(qtf_tensor_get(f, 0)->encoding_known, 0);
    cr_assert_eq(qtf_tensor_get(f, 0)->layout, 2);
    ASSERT_ST(qtf_tensor_dequantize(v, QTF_DTYPE_F32, 2, f, 0, 1), QTF_E_UNKNOWN_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "'w'") != NULL, "%s", qtf_error_detail());
    ASSERT_ST(qtf_tensor_verify(f, 0), QTF_OK);
    qtf_file_close(f);
    free(buf);
    f = NULL;
    ASSERT_ST(layout_case(2, m12, 3, after, &f, &buf), QTF_OK);
    cr_assert_eq(qtf_tensor_get(f, 0)->encoding_known, 0);
    qtf_file_close(f);
    free(buf);
}
