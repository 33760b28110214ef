/* lib/container.h — what the container reader, writer and verifier share
 * (not installed). The on-disk layout is specified in spec/FORMAT.md. */
#ifndef QTF_LIB_CONTAINER_H
#define QTF_LIB_CONTAINER_H

#include <stddef.h>

#include <string.h>

#include "common/common.h"
#include "common/names.h"

/* --- fixed header ----------------------------------------------------------- */
#define QTF__HEADER_SIZE 128u
#define QTF__HEADER_HASHED 120u      /* the header checksum covers [0,120) */
#define QTF__BYTE_ORDER_MARK 0x01020304u
#define QTF__CHECKSUM_XXH3_64 1u
#define QTF__FLAG_EDITING QTF_FILE_FLAG_EDITING
#define QTF__PART_RECORD_SIZE 40u
#define QTF__MAX_ELEMENTS (1ull << 62)
#define QTF__MAX_ZSTD_LEVEL 22
extern const unsigned char qtf__magic[8];

/* Smallest possible records, used to bound counts by the bytes present
 * before anything is allocated: key_len + 1-byte key + type + 1-byte value;
 * name_len + 1-byte name + n_dims + dtype + encoding + n_params + n_parts +
 * one part record. */
#define QTF__MIN_META_RECORD 10u
#define QTF__MIN_TENSOR_RECORD (4u + 1u + 4u + 4u + 4u + 4u + 4u + QTF__PART_RECORD_SIZE)

/* --- metadata rules shared by reader and writer (metadata.c) ---------------- */

/* Fixed size of a scalar of type t (1 for BOOL), 0 for STRING/ARRAY/BLOB or
 * values outside the enum. */
size_t qtf__type_fixed_size(qtf_type t);
/* QTF_E_TYPE when `key` is reserved with another type (spec "Reserved keys"). */
qtf_status qtf__meta_check_reserved(const char *file, const char *key, size_t key_len,
                                    qtf_type type, qtf_type elem_type);
/* QTF_E_UTF8 / QTF_E_LIMIT for an invalid key (what names "key" or "name").
 * `at` is the file offset quoted in messages, QTF__NO_OFFSET for values
 * given to the writer. */
#define QTF__NO_OFFSET UINT64_MAX
qtf_status qtf__check_name(const char *file, const char *what, const void *s, uint64_t len,
                           uint64_t max_len, uint64_t at);
/* Media type of a blob: 1..127 printable ASCII bytes. */
qtf_status qtf__check_media_type(const char *file, const char *key, const void *s,
                                 uint64_t len, uint64_t at);

/* --- section cursor -------------------------------------------------------- */

/* Reads records of one section; callers check `left` before every load and
 * format their own error (formatting only on failure keeps opening fast). */
typedef struct qtf__cursor {
    const unsigned char *p;
    uint64_t len, pos;
    uint64_t file_off;          /* absolute file offset of p[0] */
} qtf__cursor;

static inline uint64_t qtf__left(const qtf__cursor *c) { return c->len - c->pos; }
static inline uint64_t qtf__at(const qtf__cursor *c) { return c->file_off + c->pos; }
/* Copies the next len bytes of c (checked to be there) into the string pool
 * as a NUL-terminated string, advancing both; returns the copy. */
static inline char *qtf__pool_take(qtf__cursor *c, char **pool_cursor, uint32_t len) {
    char *s = *pool_cursor;
    memcpy(s, c->p + c->pos, len);
    s[len] = '\0';
    *pool_cursor += len + 1;
    c->pos += len;
    return s;
}

/* The length-prefixed name of record i of a section (a tensor name, a
 * metadata key): u32 length (at most `limit`), bytes checked as a name
 * (qtf__check_name, `what` naming it) and copied to the pool. Errors say
 * "FILE: KIND I: FIELD length N at offset O exceeds the limit L" or are
 * qtf__truncated / qtf__check_name's. *out_at: the offset of the length. */
typedef struct qtf__name_field {
    const char *kind;           /* "tensor", "metadata entry" */
    const char *field;          /* "name", "key" */
    const char *len_field;      /* "name length", "key length" */
    const char *section;        /* "directory", "metadata" */
    uint32_t limit;
} qtf__name_field;
qtf_status qtf__take_name(char **out, uint32_t *out_len, uint64_t *out_at, qtf__cursor *c,
                          const char *file, const qtf__name_field *nf, uint64_t i,
                          const char *what, char **pool_cursor);

/* QTF_E_HEADER unless the n records of a section end exactly where the
 * header says the section ends: "FILE: SECTION size is L but its N RECORDS
 * end after P bytes (offset O)". */
qtf_status qtf__section_end(const qtf__cursor *c, const char *file, const char *section,
                            uint64_t n, const char *records);

/* QTF_E_TRUNCATED for record `i` ('name') of a section: "FILE: KIND I
 * ('NAME'): WHAT needs NEED bytes at offset O but the SECTION section has L
 * left". */
qtf_status qtf__truncated(const char *file, const char *kind, uint64_t i, const char *name,
                          const char *what, uint64_t need, const qtf__cursor *c,
                          const char *section);
static inline uint32_t qtf__take32(qtf__cursor *c) {
    uint32_t v = qtf__ld32(c->p + c->pos);
    c->pos += 4;
    return v;
}
static inline uint64_t qtf__take64(qtf__cursor *c) {
    uint64_t v = qtf__ld64(c->p + c->pos);
    c->pos += 8;
    return v;
}

/* --- reader state ----------------------------------------------------------- */

typedef struct qtf__meta_entry {
    const char *key;            /* NUL-terminated copy in the string pool */
    uint32_t key_len;
    qtf_type type;
    qtf_type elem_type;         /* ARRAY */
    uint64_t count;             /* ARRAY */
    const unsigned char *value; /* first byte of the value (after its type) */
    uint64_t len;               /* STRING/BLOB payload length */
    const char *media_type;     /* BLOB, NUL-terminated copy in the pool */
    uint64_t *str_offsets;      /* ARRAY of STRING: offset of element j's u64
                                   length, relative to `value` */
    const unsigned char *rec;   /* the whole record as stored, for copying */
    uint64_t rec_len;
} qtf__meta_entry;

struct qtf_file {
    char *name;
    qtf_file_info info;
    unsigned flags;             /* QTF_OPEN_* */
    uint64_t max_decoded_size;  /* per zstd part (qtf_open_options) */
    uint64_t max_decoded_ratio;
    const unsigned char *base;  /* the whole file; NULL on a metadata-only open */
    void *map;                  /* mmap'ed region (munmap on close) */
    size_t map_len;
    unsigned char *owned;       /* file read into memory, or metadata+directory */
    const unsigned char *meta;  /* metadata section bytes */
    const unsigned char *dir;   /* directory section bytes */
    char *pool;                 /* NUL-terminated keys, names and media types */
    qtf__meta_entry *entries;
    qtf__name_index key_index;
    qtf_tensor_info *tensors;
    qtf__name_index tensor_index;
};

/* Parse the metadata / directory section of f (f->meta, f->dir and the info
 * set); the pool has room for every key, name and media type plus NULs. */
qtf_status qtf__parse_metadata(qtf_file *f, char **pool_cursor);
/* Entry i of f's metadata, or QTF_E_INVALID_ARG naming f and the range. */
qtf_status qtf__meta_entry_at(const qtf__meta_entry **out, const qtf_file *f, uint64_t i);
qtf_status qtf__parse_directory(qtf_file *f, char **pool_cursor);

/* Stored bytes of a part, or QTF_E_STATE on a metadata-only open. */
qtf_status qtf__part_bytes(const unsigned char **out, const qtf_file *f, uint64_t tensor,
                           uint32_t part);
/* Checks a zstd part's frame header against the directory without
 * decompressing (exactly one frame, content size, window, no dictionary). */
qtf_status qtf__zstd_check_frame(const qtf_file *f, const qtf_tensor_info *t, uint32_t part,
                                 const unsigned char *src);

#endif
