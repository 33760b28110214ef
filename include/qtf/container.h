/* include/qtf/container.h — the .qtf container: reader and writer.
 * Part of the public API; include <qtf.h> (the umbrella) or this header. */
#ifndef QTF_CONTAINER_H
#define QTF_CONTAINER_H

#include "encodings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 *  3. READER
 * ========================================================================== */

typedef struct qtf_file qtf_file;

#define QTF_OPEN_METADATA_ONLY 0x1u /* read header, metadata and directory only;
                                       tensor data is never mapped or read */
#define QTF_OPEN_NO_MMAP 0x2u       /* read the whole file into memory */

/* Bounds on what one zstd-compressed part may expand to, so that a small
 * hostile file cannot make a reader allocate and fill gigabytes. A part whose
 * decoded size exceeds max_decoded_size, or exceeds both
 * QTF_DECODED_RATIO_FLOOR and max_decoded_ratio times its stored size, is
 * refused with QTF_E_LIMIT when it is checked or decoded (qtf_part_decode,
 * qtf_tensor_dequantize, qtf_tensor_verify, qtf_file_verify). The floor keeps
 * small, very compressible parts (zero biases) valid whatever the ratio. */
#define QTF_DEFAULT_MAX_DECODED_SIZE (1ull << 35)   /* 32 GiB per part */
#define QTF_DEFAULT_MAX_DECODED_RATIO 1024u
#define QTF_DECODED_RATIO_FLOOR (1ull << 26)        /* 64 MiB */

typedef struct qtf_open_options {
    unsigned version;
    unsigned flags;             /* QTF_OPEN_* */
    /* version >= 2; 0 = the defaults above */
    uint64_t max_decoded_size;
    uint32_t max_decoded_ratio;
} qtf_open_options;
#define QTF_OPEN_OPTIONS_VERSION 2  /* version 1 (no limits fields) is still accepted */
#define QTF_OPEN_OPTIONS_INIT { QTF_OPEN_OPTIONS_VERSION, 0, 0, 0 }

/* Opens and fully validates header, metadata and directory (not tensor
 * checksums: see qtf_file_verify*). `opts` may be NULL (defaults).
 * Preconditions: out != NULL, path != NULL. */
QTF_API qtf_status qtf_file_open(qtf_file **out, const char *path,
                                 const qtf_open_options *opts);

/* Same from a caller buffer, which must outlive the qtf_file (not copied).
 * `name` is used in error messages (may be NULL). */
QTF_API qtf_status qtf_file_open_memory(qtf_file **out, const void *buf, size_t len,
                                        const char *name, const qtf_open_options *opts);

/* NULL is a no-op. */
QTF_API void qtf_file_close(qtf_file *f);

/* Header flag (required, bit 0): an in-place metadata edit is under way or
 * was interrupted; metadata and directory may sit after a gap and be
 * followed by stale bytes (spec/FORMAT.md sections 3 and 13). A finished
 * file never has it. */
#define QTF_FILE_FLAG_EDITING 0x1u
/* Size of the fixed header at offset 0 (spec/FORMAT.md section 3). */
#define QTF_HEADER_SIZE 128u

typedef struct qtf_file_info {
    uint16_t major, minor;
    uint32_t flags;
    uint32_t alignment;
    uint32_t checksum_algo;
    uint64_t file_size;
    uint64_t tensor_count;
    uint64_t metadata_count;
    uint64_t data_offset, data_size;
    uint64_t metadata_offset, metadata_size;
    uint64_t directory_offset, directory_size;
    uint64_t header_checksum;
} qtf_file_info;

/* Borrowed. */
QTF_API const qtf_file_info *qtf_file_get_info(const qtf_file *f);
/* Name given at open (path or memory name). Borrowed. */
QTF_API const char *qtf_file_name(const qtf_file *f);

/* --- metadata ------------------------------------------------------------ */

/* A borrowed view of one stored value. For arrays, `data` points to `count`
 * little-endian elements of `elem_type` (fixed-size types), or use
 * qtf_meta_array_string() for arrays of strings. */
typedef struct qtf_value {
    qtf_type type;
    qtf_type elem_type;         /* ARRAY only */
    uint64_t count;             /* ARRAY: element count */
    union {
        uint64_t u64;           /* U8 U16 U32 U64 BOOL (zero-extended) */
        int64_t i64;            /* I8 I16 I32 I64 (sign-extended) */
        double f64;             /* F32 F64 (widened) */
    } num;
    const char *str;            /* STRING: bytes (not NUL-terminated), BLOB: bytes */
    uint64_t len;               /* STRING/BLOB length in bytes */
    const char *media_type;     /* BLOB: NUL-terminated, e.g. "application/json" */
    const void *data;           /* ARRAY of fixed-size elements: raw LE bytes */
} qtf_value;

QTF_API uint64_t qtf_meta_count(const qtf_file *f);
/* Key of entry i (NUL-terminated, borrowed); NULL when i is out of range. */
QTF_API const char *qtf_meta_key(const qtf_file *f, uint64_t i);
QTF_API qtf_status qtf_meta_value(qtf_value *out, const qtf_file *f, uint64_t i);
/* QTF_E_NOT_FOUND when absent. */
QTF_API qtf_status qtf_meta_find(uint64_t *out_index, const qtf_file *f, const char *key);

/* Typed getters: QTF_E_NOT_FOUND, or QTF_E_TYPE_MISMATCH when the stored type
 * differs (integers: any integer type whose value fits is accepted). */
QTF_API qtf_status qtf_meta_get_u64(uint64_t *out, const qtf_file *f, const char *key);
QTF_API qtf_status qtf_meta_get_i64(int64_t *out, const qtf_file *f, const char *key);
QTF_API qtf_status qtf_meta_get_f64(double *out, const qtf_file *f, const char *key);
QTF_API qtf_status qtf_meta_get_bool(int *out, const qtf_file *f, const char *key);
/* String: borrowed bytes + length (not NUL-terminated). */
QTF_API qtf_status qtf_meta_get_string(const char **out, uint64_t *out_len,
                                       const qtf_file *f, const char *key);
QTF_API qtf_status qtf_meta_get_blob(const void **out, uint64_t *out_len,
                                     const char **out_media_type,
                                     const qtf_file *f, const char *key);
/* Element j of an array of strings at entry i. */
QTF_API qtf_status qtf_meta_array_string(const char **out, uint64_t *out_len,
                                         const qtf_file *f, uint64_t i, uint64_t j);

/* --- tensors ------------------------------------------------------------- */

typedef struct qtf_part_info {
    qtf_part_role role;
    qtf_dtype type;
    qtf_compression compression;
    uint64_t offset;            /* absolute file offset */
    uint64_t stored_size;
    uint64_t decoded_size;
    uint64_t checksum;          /* XXH3-64 of the stored bytes */
} qtf_part_info;

/* Tensor layouts (spec/FORMAT.md section 6.4, format 1.1). dims is always
 * the logical shape, the one readers return; a TRANSPOSED tensor (2-D only)
 * stores the encoding of its transpose, so that groups run along dims[0]
 * (the input axis of a GPT-2 Conv1D weight [in, out]). */
#define QTF_LAYOUT_ROW_MAJOR 0u
#define QTF_LAYOUT_TRANSPOSED 1u
/* Directory parameter key that records a layout (a container parameter:
 * never part of an encoding's parameters). */
#define QTF_PARAM_LAYOUT 13u

typedef struct qtf_tensor_info {
    const char *name;           /* NUL-terminated UTF-8 */
    uint32_t name_len;
    uint32_t n_dims;
    uint64_t dims[QTF_MAX_DIMS];/* outermost first; dims[n_dims-1] is the row */
    uint64_t n_elements;
    qtf_dtype source_type;      /* dtype in the source checkpoint, NONE if unknown */
    uint32_t encoding_id;       /* as stored */
    uint32_t n_params;
    qtf_encoding_param params[QTF_MAX_PARAMS];
    int encoding_known;         /* 1: `encoding` valid and parts match its layout */
    qtf_encoding encoding;
    uint32_t n_parts;
    qtf_part_info parts[QTF_MAX_PARTS];
    /* format 1.1: QTF_LAYOUT_*, and the shape the parts encode (dims itself
     * for ROW_MAJOR; {dims[1], dims[0]} for TRANSPOSED). Part layouts, bits
     * per weight and code unpacking use stored_dims; values are returned in
     * dims. `params` above lists the parameters as stored, key 13 included. */
    uint32_t layout;
    uint64_t stored_dims[QTF_MAX_DIMS];
} qtf_tensor_info;

QTF_API uint64_t qtf_tensor_count(const qtf_file *f);
/* Borrowed; NULL when i is out of range. */
QTF_API const qtf_tensor_info *qtf_tensor_get(const qtf_file *f, uint64_t i);
QTF_API qtf_status qtf_tensor_find(uint64_t *out_index, const qtf_file *f, const char *name);

/* Zero-copy pointer to an uncompressed part (QTF_E_STATE on a metadata-only
 * open, QTF_E_COMPRESSION if the part is compressed). */
QTF_API qtf_status qtf_part_data(const void **out, const qtf_file *f, uint64_t tensor,
                                 uint32_t part);
/* Decodes (or copies) a part into dst. Precondition: dst_size equals the
 * part's decoded_size exactly (else QTF_E_INVALID_ARG). Does not verify the
 * checksum; a corrupt zstd frame gives QTF_E_COMPRESSION. */
QTF_API qtf_status qtf_part_decode(void *dst, uint64_t dst_size, const qtf_file *f,
                                   uint64_t tensor, uint32_t part);

/* Dequantizes a whole tensor to dst_type (F32, F16 or BF16), in its logical
 * shape (dims) whatever its layout. Precondition: dst_count == n_elements.
 * QTF_E_UNKNOWN_ENCODING for unknown encodings. threads: 0 = all cores. */
QTF_API qtf_status qtf_tensor_dequantize(void *dst, qtf_dtype dst_type, uint64_t dst_count,
                                         const qtf_file *f, uint64_t tensor,
                                         unsigned threads);

/* Dequantizes rows [row_begin, row_end) of a tensor seen as rows x cols
 * (cols = the last dim, rows = the product of the others), reading only the
 * bytes of the parts that cover those rows: rounded out to the encoding's row
 * unit (rows sharing a palette table or a double-quantization block); parts
 * shared by all rows are read whole, and so are zstd-compressed parts. Rows
 * are those of the logical tensor: for a TRANSPOSED tensor a row is a stored
 * column, so every stored row is decoded (in pieces of bounded size).
 * Values are bit-identical to the same rows of qtf_tensor_dequantize().
 * Precondition: dst_count == (row_end - row_begin) * cols. */
QTF_API qtf_status qtf_tensor_dequantize_rows(void *dst, qtf_dtype dst_type, uint64_t dst_count,
                                              const qtf_file *f, uint64_t tensor,
                                              uint64_t row_begin, uint64_t row_end,
                                              unsigned threads);

/* Verifies the stored-bytes checksum of every part of one tensor. */
QTF_API qtf_status qtf_tensor_verify(const qtf_file *f, uint64_t tensor);

/* Verifies all tensors with `threads` threads (0 = all cores). If `results`
 * is non-NULL it receives one status per tensor (tensor_count entries).
 * Returns QTF_OK, QTF_E_CHECKSUM if any tensor failed, or another error.
 * Also checks that padding bytes are zero (QTF_E_OFFSET). */
QTF_API qtf_status qtf_file_verify(const qtf_file *f, unsigned threads, qtf_status *results);

/* ==========================================================================
 *  4. WRITER
 * ========================================================================== */

typedef struct qtf_writer qtf_writer;

typedef struct qtf_writer_options {
    unsigned version;           /* any version 1..QTF_WRITER_OPTIONS_VERSION */
    uint32_t alignment;         /* 0 = QTF_DEFAULT_ALIGNMENT */
    unsigned flags;             /* QTF_WRITER_* */
    /* version 2: files that must never be replaced by the output (the inputs
     * the file is made from), compared by device and inode, so that no other
     * path or link to them is replaced either (QTF_E_INVALID_ARG). */
    const char *const *protected_paths;
    size_t n_protected;
    /* version 3: progress of an in-place edit (QTF_WRITER_IN_PLACE), or NULL.
     * Called with step = 1..7 right after step `step` of spec/FORMAT.md
     * section 13.1 is durable on disk (steps >= 3: the file holds the new
     * metadata), from the thread calling qtf_writer_finish; for logging
     * progress (or, in tests, stopping the process there as a crash would). */
    void (*on_step)(void *ctx, int step);
    void *step_ctx;
} qtf_writer_options;
#define QTF_WRITER_OPTIONS_VERSION 3 /* versions 1 and 2 are still accepted */
#define QTF_WRITER_OPTIONS_INIT { QTF_WRITER_OPTIONS_VERSION, 0, 0, NULL, 0, NULL, NULL }
/* Refuse (QTF_E_INVALID_ARG) an existing file at the destination instead of
 * replacing it; a tool's `--force` clears this flag. */
#define QTF_WRITER_NO_REPLACE 0x1u
/* qtf_writer_create_edit only: edit the file at `path` in place (see there)
 * instead of writing a new file and renaming it over `path`. */
#define QTF_WRITER_IN_PLACE 0x2u

/* Creates a temp file in path's directory. Nothing appears at `path` until
 * qtf_writer_finish() succeeds. An existing regular file at `path` is
 * replaced (unless QTF_WRITER_NO_REPLACE); an existing character device is
 * written in place and never unlinked (a FIFO, socket, block device or
 * directory is refused: QTF_E_INVALID_ARG). */
QTF_API qtf_status qtf_writer_create(qtf_writer **out, const char *path,
                                     const qtf_writer_options *opts);

/* Metadata may be added any time before finish. Keys: non-empty UTF-8, no
 * NUL, <= QTF_MAX_KEY_LEN; duplicates -> QTF_E_DUPLICATE; reserved keys
 * (qtf.*, general.*) must have their documented types. All data is copied. */
QTF_API qtf_status qtf_writer_set_u32(qtf_writer *w, const char *key, uint32_t v);
QTF_API qtf_status qtf_writer_set_u64(qtf_writer *w, const char *key, uint64_t v);
QTF_API qtf_status qtf_writer_set_i64(qtf_writer *w, const char *key, int64_t v);
QTF_API qtf_status qtf_writer_set_f64(qtf_writer *w, const char *key, double v);
QTF_API qtf_status qtf_writer_set_bool(qtf_writer *w, const char *key, int v);
QTF_API qtf_status qtf_writer_set_string(qtf_writer *w, const char *key,
                                         const char *s, uint64_t len);
QTF_API qtf_status qtf_writer_set_blob(qtf_writer *w, const char *key, const char *media_type,
                                       const void *data, uint64_t len);
/* Generic scalar or fixed-size array: `type` any numeric/bool type; for
 * QTF_TYPE_ARRAY pass elem_type and count with `data` = LE elements. */
QTF_API qtf_status qtf_writer_set_value(qtf_writer *w, const char *key, qtf_type type,
                                        qtf_type elem_type, const void *data, uint64_t count);
QTF_API qtf_status qtf_writer_set_string_array(qtf_writer *w, const char *key,
                                               const char *const *strs, const uint64_t *lens,
                                               uint64_t count);

typedef struct qtf_tensor_desc {
    unsigned version;
    const char *name;
    uint32_t n_dims;
    const uint64_t *dims;
    qtf_dtype source_type;      /* NONE if unknown */
    const qtf_encoding *encoding;
    int zstd_level;             /* 0 = the encoding's zstd_level (the one place the
                                   level lives, recorded in the directory); 1..22 =
                                   shorthand for it: must equal the encoding's level
                                   or, when that is 0, not change its layout
                                   (QTF_E_INVALID_ARG). Parts are kept plain when
                                   compression does not shrink them. */
    /* version 2 */
    uint32_t layout;            /* QTF_LAYOUT_*: TRANSPOSED needs n_dims == 2 and
                                   parts that encode the [dims[1], dims[0]]
                                   transpose (QTF_E_SHAPE / QTF_E_ENCODING);
                                   the file is then written as format 1.1 */
} qtf_tensor_desc;
#define QTF_TENSOR_DESC_VERSION 2   /* version 1 (no layout: row-major) is still accepted */
#define QTF_TENSOR_DESC_INIT { QTF_TENSOR_DESC_VERSION, NULL, 0, NULL, QTF_DTYPE_NONE, NULL, 0, \
                               QTF_LAYOUT_ROW_MAJOR }

/* Appends one tensor: parts must match qtf_encoding_layout() for the
 * encoding and the stored shape (dims, or its transpose for a TRANSPOSED
 * layout; QTF_E_ENCODING otherwise). Data is written (and hashed,
 * compressed) before return; the writer keeps no reference. */
QTF_API qtf_status qtf_writer_add_tensor(qtf_writer *w, const qtf_tensor_desc *desc,
                                         const qtf_part_view *parts, uint32_t n_parts);

/* Writes metadata, directory and header, fsyncs, renames over `path`, fsyncs
 * the directory. Frees the writer whatever the outcome; on failure nothing is
 * left at `path` (an existing file there is untouched), except when only the
 * directory fsync failed: QTF_E_IO says so, the file is in place but its new
 * name may not survive a crash. */
QTF_API qtf_status qtf_writer_finish(qtf_writer *w);

/* Discards everything (removes the temp file) and frees. NULL is a no-op. */
QTF_API void qtf_writer_abort(qtf_writer *w);

/* Metadata editing (spec/FORMAT.md "Editing metadata"): a writer for `path`
 * that starts with every tensor of `src` (data copied with copy_file_range,
 * which shares blocks on reflink filesystems; directory copied as is) and no
 * metadata. Add metadata with the setters (qtf_writer_copy_meta keeps an
 * entry of src), optionally more tensors, then qtf_writer_finish. `path` may
 * be src's own path: the original is replaced atomically. `src` must stay
 * open while entries are copied from it; opts->alignment must be 0 or src's
 * alignment (changing it would move the data). */
QTF_API qtf_status qtf_writer_create_edit(qtf_writer **out, const char *path,
                                          const qtf_file *src, const qtf_writer_options *opts);
/* In place (opts->flags has QTF_WRITER_IN_PLACE; spec/FORMAT.md section
 * 13.1): `path` must be the file src was opened from, and only metadata may
 * change (qtf_writer_add_tensor: QTF_E_STATE); no other flag nor protected
 * path may be given (QTF_E_INVALID_ARG). Nothing is written before
 * qtf_writer_finish, which serializes the metadata in memory, takes a write
 * lease on the file (granted only when no other open file description has
 * it: close `src` and any other qtf_file or fd of that file first, after the
 * last qtf_writer_copy_meta), checks that the file is still the one src read,
 * then writes the new metadata and directory after the data in seven durable
 * steps without touching tensor data (opts->on_step reports each). A crash
 * at any point leaves a valid file with the old metadata or the new one; a
 * file left with the EDITING flag is tidied by any later in-place edit (one
 * with no changes will do). While the edit runs SIGIO, the lease-break
 * notice, is ignored if its action was the default (ending the process).
 * qtf_writer_finish then returns
 *   QTF_OK                 the file has the new metadata, byte for byte what
 *                          the copy-and-rename edit writes;
 *   QTF_E_UNSUPPORTED      in place is not possible (no write permission, no
 *                          lease: another process has the file open or
 *                          mapped, leases unsupported, or the file changed
 *                          since src read it) and NOTHING was written; the
 *                          detail reads "PATH: in place not possible: REASON".
 *                          Copy and rename instead (a writer without the flag,
 *                          from src reopened);
 *   another error          the detail says whether the file is unchanged or
 *                          holds the new metadata with the EDITING flag. */

/* Copies metadata entry i of src unchanged (QTF_E_DUPLICATE if the key is
 * already set). */
QTF_API qtf_status qtf_writer_copy_meta(qtf_writer *w, const qtf_file *src, uint64_t i);

#ifdef __cplusplus
}
#endif
#endif /* QTF_CONTAINER_H */
