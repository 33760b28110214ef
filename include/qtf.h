/*
 * qtf.h — libqtf, the Quantized Tensor File library. One public header.
 *
 * ==========================================================================
 *  FILE LAYOUT (container v1.0; the normative text is spec/FORMAT.md)
 * ==========================================================================
 *  All integers little-endian. Hashes are XXH3-64 (seed 0) stored in xxHash's
 *  canonical (big-endian) byte order, so they read like `xxhsum -H3` output.
 *
 *   offset 0            fixed header, 128 bytes
 *     0  u8[8] magic    89 51 54 46 0D 0A 1A 0A   ("\x89QTF\r\n\x1a\n")
 *     8  u16   major    1        (unknown major -> QTF_E_VERSION)
 *    10  u16   minor    0        (newer minor -> read what is known)
 *    12  u32   byte-order marker 0x01020304 (on disk: 04 03 02 01)
 *    16  u32   header size (128)
 *    20  u32   flags    bits 0-15 required (unknown -> refuse), 16-31 optional
 *    24  u32   alignment (power of two, 8 .. 1 MiB, default 64)
 *    28  u32   checksum algorithm (1 = XXH3-64)
 *    32  u64   tensor count
 *    40  u64   metadata count
 *    48  u64   data offset      = align_up(128, alignment)
 *    56  u64   data size        (multiple of alignment)
 *    64  u64   metadata offset  = data offset + data size
 *    72  u64   metadata size
 *    80  u64   directory offset = metadata offset + metadata size
 *    88  u64   directory size;  file size = directory offset + directory size
 *    96  u8[24] reserved (written as zero, ignored on read)
 *   120  u8[8] XXH3-64 of header[0,120) || metadata || directory
 *
 *   data section        every tensor part, in directory order, each starting at
 *                       the running total rounded up to the alignment; padding
 *                       bytes are zero; no holes, overlap or trailing bytes.
 *   metadata section    metadata count key/value records (typed, see qtf_type)
 *   directory section   tensor count records: name, shape, source dtype,
 *                       encoding id + parameters, parts (role, element type,
 *                       compression, offset, stored size, decoded size, hash)
 *
 *  Metadata and directory follow the data so that a writer can stream tensors
 *  of unknown compressed size with memory bounded by one tensor plus the
 *  directory, and so that metadata can be rewritten without touching data.
 *
 * ==========================================================================
 *  CONVENTIONS
 * ==========================================================================
 *  - Functions return qtf_status; QTF_OK is 0. On failure, qtf_error_detail()
 *    gives a thread-local message naming the file, tensor or key, the offset
 *    and what was expected versus found.
 *  - Out-parameters come first. What is returned through `**out` is owned by
 *    the caller (free it with the matching _free/_close). Pointers returned
 *    directly (const) are borrowed and live as long as their parent object.
 *  - Option structs are versioned: initialise them with their _INIT macro.
 *  - No function aborts on bad input; no validation relies on assert().
 *
 *  Sections: 1. status  2. types  3. reader  4. writer  5. encodings
 *            6. quantization  7. metrics and float conversion
 */
#ifndef QTF_H
#define QTF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define QTF_API
#elif defined(__GNUC__)
#define QTF_API __attribute__((visibility("default")))
#else
#define QTF_API
#endif

#define QTF_VERSION_MAJOR 0
#define QTF_VERSION_MINOR 1
#define QTF_VERSION_PATCH 0
#define QTF_VERSION_STRING "0.1.0"

/* Container format version written by this library. */
#define QTF_FORMAT_MAJOR 1
#define QTF_FORMAT_MINOR 0

/* ==========================================================================
 *  1. STATUS
 * ========================================================================== */

/* Stable numeric codes: never renumbered, new codes are appended. */
typedef enum qtf_status {
    QTF_OK = 0,
    QTF_E_INVALID_ARG = 1,      /* caller broke a documented precondition */
    QTF_E_NOMEM = 2,            /* allocation failed */
    QTF_E_IO = 3,               /* open/read/write/fsync/rename/mmap failed */
    QTF_E_TRUNCATED = 4,        /* file ends before a structure it declares */
    QTF_E_MAGIC = 5,            /* not a QTF file */
    QTF_E_VERSION = 6,          /* unknown major version */
    QTF_E_BYTE_ORDER = 7,       /* byte-order marker not 0x01020304 */
    QTF_E_HEADER = 8,           /* header field invalid (size, flags, sections) */
    QTF_E_LIMIT = 9,            /* a hard limit (count, length, size) exceeded */
    QTF_E_OVERFLOW = 10,        /* a size or offset computation overflows */
    QTF_E_UTF8 = 11,            /* invalid UTF-8, empty, or embedded NUL */
    QTF_E_DUPLICATE = 12,       /* duplicate metadata key or tensor name */
    QTF_E_TYPE = 13,            /* value/element type outside the enum, or a
                                   reserved key with the wrong type */
    QTF_E_VALUE = 14,           /* value out of range (bool not 0/1, ...) */
    QTF_E_ALIGNMENT = 15,       /* alignment 0, not a power of two, too large */
    QTF_E_OFFSET = 16,          /* part offset misaligned, out of order,
                                   overlapping, holes, out of bounds, trailing */
    QTF_E_SHAPE = 17,           /* dims invalid or incompatible with encoding */
    QTF_E_UNKNOWN_ENCODING = 18,/* encoding id or parameter not known here */
    QTF_E_ENCODING = 19,        /* encoding parameters invalid, or parts do not
                                   match what the encoding requires */
    QTF_E_COMPRESSION = 20,     /* zstd frame invalid, size mismatch, trailing
                                   bytes, window too large, unknown method */
    QTF_E_CHECKSUM = 21,        /* checksum mismatch */
    QTF_E_CHECKSUM_ALGO = 22,   /* unknown checksum algorithm */
    QTF_E_NOT_FOUND = 23,       /* no such key or tensor */
    QTF_E_TYPE_MISMATCH = 24,   /* getter type differs from the stored type */
    QTF_E_STATE = 25,           /* call not valid in this object state (e.g.
                                   data access on a metadata-only open) */
    QTF_E_UNSUPPORTED = 26,     /* valid request this build cannot do */
    QTF_E_PARSE = 27,           /* text (encoding spec, ...) does not parse */
    QTF_E_NUMERIC = 28,         /* NaN/Inf where the encoding forbids them */
    QTF_STATUS_COUNT_ = 29
} qtf_status;

/* Short stable name of a status, e.g. "QTF_E_TRUNCATED". Never NULL. For
 * programs (JSON reports, logs); people get qtf_status_text. */
QTF_API const char *qtf_status_name(qtf_status status);
/* A few words for people, e.g. "file ends too early". Never NULL. */
QTF_API const char *qtf_status_text(qtf_status status);

/* Human description of the most recent error on this thread (file, tensor or
 * key, offset, expected vs found). Borrowed; valid until the next libqtf call
 * on this thread. "" when there is none. */
QTF_API const char *qtf_error_detail(void);

/* ==========================================================================
 *  2. TYPES
 * ========================================================================== */

/* Element types of tensor parts and of source checkpoints. */
typedef enum qtf_dtype {
    QTF_DTYPE_NONE = 0,
    QTF_DTYPE_F32 = 1,
    QTF_DTYPE_F16 = 2,
    QTF_DTYPE_BF16 = 3,
    QTF_DTYPE_F64 = 4,
    QTF_DTYPE_I8 = 5,
    QTF_DTYPE_U8 = 6,
    QTF_DTYPE_I16 = 7,
    QTF_DTYPE_U16 = 8,
    QTF_DTYPE_I32 = 9,
    QTF_DTYPE_U32 = 10,
    QTF_DTYPE_I64 = 11,
    QTF_DTYPE_U64 = 12,
    QTF_DTYPE_BOOL = 13,
    QTF_DTYPE_F8_E4M3 = 14,
    QTF_DTYPE_F8_E5M2 = 15,
    QTF_DTYPE_E8M0 = 16,        /* MX shared exponent, value 2^(e-127) */
    QTF_DTYPE_PACKED = 17,      /* bit-packed codes / opaque blocks: bytes */
    QTF_DTYPE_COUNT_ = 18
} qtf_dtype;

/* Size in bytes of one element; 1 for PACKED; 0 for NONE or unknown. */
QTF_API size_t qtf_dtype_size(qtf_dtype t);
/* "F32", "BF16", ... (safetensors spelling); "?" when unknown. */
QTF_API const char *qtf_dtype_name(qtf_dtype t);

/* Metadata value types: GGUF's 13 (same numbers) plus a binary blob. */
typedef enum qtf_type {
    QTF_TYPE_U8 = 0,
    QTF_TYPE_I8 = 1,
    QTF_TYPE_U16 = 2,
    QTF_TYPE_I16 = 3,
    QTF_TYPE_U32 = 4,
    QTF_TYPE_I32 = 5,
    QTF_TYPE_F32 = 6,
    QTF_TYPE_BOOL = 7,
    QTF_TYPE_STRING = 8,
    QTF_TYPE_ARRAY = 9,
    QTF_TYPE_U64 = 10,
    QTF_TYPE_I64 = 11,
    QTF_TYPE_F64 = 12,
    QTF_TYPE_BLOB = 13,         /* media type string + bytes (embedded files) */
    QTF_TYPE_COUNT_ = 14
} qtf_type;

QTF_API const char *qtf_type_name(qtf_type t);
/* Size in bytes of one value of a fixed-size type (the numbers and BOOL),
 * i.e. the element stride of an ARRAY's `data`; 0 for STRING, ARRAY, BLOB
 * and unknown types. */
QTF_API size_t qtf_type_size(qtf_type t);

/* Role of a stored part within a tensor. */
typedef enum qtf_part_role {
    QTF_ROLE_DATA = 0,          /* plain elements (f32/f16/bf16/raw) */
    QTF_ROLE_CODES = 1,         /* packed quantization codes / LUT indices */
    QTF_ROLE_SCALES = 2,        /* per-group or per-row scales */
    QTF_ROLE_ZEROS = 3,         /* zero points or minimums (asymmetric) */
    QTF_ROLE_LUT = 4,           /* palettization look-up tables */
    QTF_ROLE_ROWSCALES = 5,     /* per-row scales of palettized tensors */
    QTF_ROLE_DQ_CODES = 6,      /* double quantization: quantized scales */
    QTF_ROLE_DQ_SCALES = 7,     /* double quantization: block scales */
    QTF_ROLE_DQ_OFFSET = 8,     /* double quantization: per-tensor offset */
    QTF_ROLE_BLOCKS = 9,        /* interleaved blocks (the ggml types q8_0 ... iq4_xs) */
    QTF_ROLE_LUT_SCALES = 10,   /* scales of an int8 look-up table */
    QTF_ROLE_COUNT_ = 11
} qtf_part_role;

QTF_API const char *qtf_part_role_name(qtf_part_role r);

typedef enum qtf_compression {
    QTF_COMPRESSION_NONE = 0,
    QTF_COMPRESSION_ZSTD = 1
} qtf_compression;

/* Hard limits (spec/FORMAT.md "Limits"); exceeding one -> QTF_E_LIMIT. */
#define QTF_MAX_DIMS 8
#define QTF_MAX_PARTS 8
#define QTF_MAX_PARAMS 16
#define QTF_MAX_KEY_LEN 256u                 /* bytes */
#define QTF_MAX_NAME_LEN 1024u               /* bytes */
#define QTF_MAX_MEDIA_TYPE_LEN 127u          /* bytes, blob media type */
#define QTF_MAX_STRING_LEN (1u << 30)        /* bytes, one string value */
#define QTF_MAX_ARRAY_LEN (1ull << 30)       /* elements */
#define QTF_MAX_METADATA_COUNT (1u << 20)    /* key/value pairs */
#define QTF_MAX_METADATA_SIZE (1ull << 31)   /* bytes, metadata section */
#define QTF_MAX_DIRECTORY_SIZE (1ull << 31)  /* bytes, directory section */
#define QTF_MAX_TENSORS (1u << 24)
#define QTF_MAX_ALIGNMENT (1u << 20)
#define QTF_MIN_ALIGNMENT 8u
#define QTF_DEFAULT_ALIGNMENT 64u
#define QTF_MAX_ZSTD_WINDOW_LOG 27           /* 128 MiB */

/* ==========================================================================
 *  5a. ENCODING DESCRIPTION (used by reader, writer and quantizers)
 * ========================================================================== */

typedef enum qtf_encoding_id {
    QTF_ENC_RAW = 0,    /* lossless copy in raw_type (integer/bool/f64 tensors) */
    QTF_ENC_F32 = 1,
    QTF_ENC_F16 = 2,
    QTF_ENC_BF16 = 3,
    QTF_ENC_INT = 4,    /* block-quantized intN, N = bits (2..8) */
    QTF_ENC_NF4 = 5,
    QTF_ENC_FP4 = 6,
    QTF_ENC_MXFP4 = 7,
    QTF_ENC_PAL = 8,    /* palettized, 2^bits-entry look-up tables */
    QTF_ENC_Q8_0 = 9,   /* ggml-compatible blocks */
    QTF_ENC_Q4_0 = 10,
    QTF_ENC_Q4_1 = 11,
    QTF_ENC_Q5_0 = 12,
    QTF_ENC_Q5_1 = 13,
    QTF_ENC_Q2_K = 14,  /* ggml K-quants: 256-element super-blocks */
    QTF_ENC_Q3_K = 15,
    QTF_ENC_Q4_K = 16,
    QTF_ENC_Q5_K = 17,
    QTF_ENC_Q6_K = 18,
    QTF_ENC_IQ4_NL = 19,
    QTF_ENC_IQ4_XS = 20,
    QTF_ENC_GGML_MXFP4 = 21, /* MXFP4 in ggml's block layout (u8 e, qs[16]) */
    QTF_ENC_COUNT_ = 22
} qtf_encoding_id;

#define QTF_GROUP_ROW 0u            /* one scale per row */
#define QTF_GROUP_TENSOR UINT32_MAX /* one scale for the whole tensor */
#define QTF_ROWS_TENSOR 0u          /* PAL: one table for the whole tensor */

/* A fully resolved encoding. qtf_encoding_parse() fills every field,
 * defaults included; fields that do not apply to `id` are zero. */
typedef struct qtf_encoding {
    qtf_encoding_id id;
    uint32_t bits;        /* INT 2..8; PAL 1,2,3,4,6,8; 4 for nf4/fp4/mxfp4/q4_*; 8 q8_0 */
    uint32_t group;       /* elements of a row sharing one scale, or QTF_GROUP_* */
    uint32_t asym;        /* INT: 1 = scale + zero point */
    qtf_dtype scale_type; /* F16 | BF16 | F32 (E8M0 for mxfp4, F16 for q*) */
    uint32_t dq;          /* 1 = scales double-quantized */
    uint32_t rows;        /* PAL: rows sharing one table, or QTF_ROWS_TENSOR */
    uint32_t rowscale;    /* PAL: per-row scale before clustering */
    qtf_dtype lut_type;   /* PAL: F16 | F32 | I8 */
    uint32_t dim;         /* PAL: vector length 1, 2 or 4 */
    uint32_t search;      /* 0 = rtn, 1 = search, 2 = opt (recorded, not needed to decode) */
    uint32_t zstd_level;  /* 0 = parts stored plain; 1..22 zstd (recorded) */
    qtf_dtype raw_type;   /* RAW: element type stored */
} qtf_encoding;

/* One serialized encoding parameter (directory: u32 key, u32 value). */
typedef struct qtf_encoding_param {
    uint32_t key;
    uint32_t value;
} qtf_encoding_param;

/* Size and kind of one part as the encoding requires it (decoded bytes). */
typedef struct qtf_part_layout {
    qtf_part_role role;
    qtf_dtype type;
    uint64_t size;
} qtf_part_layout;

/* A part's bytes as given to the writer or the dequantizer (decoded form). */
typedef struct qtf_part_view {
    qtf_part_role role;
    qtf_dtype type;
    const void *data;
    uint64_t size;
} qtf_part_view;

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

/* Dequantizes a whole tensor to dst_type (F32, F16 or BF16). Precondition:
 * dst_count == n_elements. QTF_E_UNKNOWN_ENCODING for unknown encodings.
 * threads: 0 = all cores. */
QTF_API qtf_status qtf_tensor_dequantize(void *dst, qtf_dtype dst_type, uint64_t dst_count,
                                         const qtf_file *f, uint64_t tensor,
                                         unsigned threads);

/* Dequantizes rows [row_begin, row_end) of a tensor seen as rows x cols
 * (cols = the last dim, rows = the product of the others), reading only the
 * bytes of the parts that cover those rows: rounded out to the encoding's row
 * unit (rows sharing a palette table or a double-quantization block); parts
 * shared by all rows are read whole, and so are zstd-compressed parts.
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
} qtf_writer_options;
#define QTF_WRITER_OPTIONS_VERSION 2
#define QTF_WRITER_OPTIONS_INIT { QTF_WRITER_OPTIONS_VERSION, 0, 0, NULL, 0 }
/* Refuse (QTF_E_INVALID_ARG) an existing file at the destination instead of
 * replacing it; a tool's `--force` clears this flag. */
#define QTF_WRITER_NO_REPLACE 0x1u

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
    int zstd_level;             /* 0 = store plain; 1..22 = compress each part
                                   (kept plain when compression does not shrink it) */
} qtf_tensor_desc;
#define QTF_TENSOR_DESC_VERSION 1
#define QTF_TENSOR_DESC_INIT { QTF_TENSOR_DESC_VERSION, NULL, 0, NULL, QTF_DTYPE_NONE, NULL, 0 }

/* Appends one tensor: parts must match qtf_encoding_layout() for the
 * encoding and shape (QTF_E_ENCODING otherwise). Data is written (and
 * hashed, compressed) before return; the writer keeps no reference. */
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
/* Copies metadata entry i of src unchanged (QTF_E_DUPLICATE if the key is
 * already set). */
QTF_API qtf_status qtf_writer_copy_meta(qtf_writer *w, const qtf_file *src, uint64_t i);

/* ==========================================================================
 *  5b. ENCODINGS: text form, serialization, layout
 * ========================================================================== */

/* Parses the canonical text form NAME[:OPTION,...] (spec/encodings/). On
 * QTF_E_PARSE the detail lists the valid names or options. */
QTF_API qtf_status qtf_encoding_parse(qtf_encoding *out, const char *text);

/* Canonical text: defaults omitted, options in a fixed order, so that
 * parse(format(e)) == e. Returns QTF_E_INVALID_ARG if cap is too small
 * (64 bytes always suffice). */
QTF_API qtf_status qtf_encoding_format(char *buf, size_t cap, const qtf_encoding *enc);

/* Default encoding for an id (as parse("name") would give). */
QTF_API qtf_status qtf_encoding_default(qtf_encoding *out, qtf_encoding_id id);

/* Directory form. out_params capacity is QTF_MAX_PARAMS. */
QTF_API qtf_status qtf_encoding_to_params(uint32_t *out_id, qtf_encoding_param *out_params,
                                          uint32_t *out_n, const qtf_encoding *enc);
/* QTF_E_UNKNOWN_ENCODING: id or a parameter key not known to this version.
 * QTF_E_ENCODING: known keys with invalid values or combinations. */
QTF_API qtf_status qtf_encoding_from_params(qtf_encoding *out, uint32_t id,
                                            const qtf_encoding_param *params, uint32_t n);

/* The parts (role, type, decoded size in bytes, in storage order) that this
 * encoding produces for a tensor of this shape. QTF_E_SHAPE when it cannot
 * apply (e.g. row length not divisible by the group). out capacity is
 * QTF_MAX_PARTS. Overflow-checked. */
QTF_API qtf_status qtf_encoding_layout(qtf_part_layout *out, uint32_t *out_n,
                                       const qtf_encoding *enc, uint32_t n_dims,
                                       const uint64_t *dims);

/* Bits per weight, everything counted (sum of layout sizes * 8 / elements). */
QTF_API double qtf_encoding_bits_per_weight(const qtf_encoding *enc, uint32_t n_dims,
                                            const uint64_t *dims);

/* Where the quantization codes of an encoding are, for code histograms. */
typedef struct qtf_code_info {
    uint32_t part;              /* index of the part that holds the codes */
    uint32_t bits;              /* bits per code (1..8) */
    int is_signed;              /* codes are two's complement bytes (q8_0) */
    int indexes_lut;            /* codes index a look-up table (pal) */
} qtf_code_info;

/* QTF_E_UNSUPPORTED when the encoding has no codes that can be listed (the
 * float encodings, the K-quants whose code bits are scattered). */
QTF_API qtf_status qtf_encoding_code_info(qtf_code_info *out, const qtf_encoding *enc);

/* Unpacks the codes held in a decoded code part (qtf_part_decode of part
 * qtf_code_info.part) into one byte per code; *out_n = the count (elements,
 * or elements / dim for vector palettes). `cap` must be at least the element
 * count. QTF_E_ENCODING when `size` does not match the layout. */
QTF_API qtf_status qtf_encoding_unpack_codes(uint8_t *codes, uint64_t cap, uint64_t *out_n,
                                             const qtf_encoding *enc, uint32_t n_dims,
                                             const uint64_t *dims, const void *part,
                                             uint64_t size);

/* ==========================================================================
 *  6. QUANTIZATION AND DEQUANTIZATION
 * ========================================================================== */

typedef struct qtf_quantize_options {
    unsigned version;
    unsigned threads;           /* 0 = all cores; output identical for any value */
    const float *importance;    /* optional per-column weights (>= 0), one per
                                   element of a row (dims[n_dims-1]); NULL = uniform */
} qtf_quantize_options;
#define QTF_QUANTIZE_OPTIONS_VERSION 1
#define QTF_QUANTIZE_OPTIONS_INIT { QTF_QUANTIZE_OPTIONS_VERSION, 0, NULL }

/* Owned result of qtf_quantize: parts in layout order. */
typedef struct qtf_encoded {
    uint32_t n_parts;
    qtf_part_layout layout[QTF_MAX_PARTS];
    void *data[QTF_MAX_PARTS];
} qtf_encoded;

/* Quantizes src (n_elements f32, row-major, last dim contiguous).
 * QTF_E_SHAPE if the encoding cannot apply; QTF_E_NUMERIC for NaN/Inf where
 * the encoding's rule (spec) refuses them. Deterministic. */
QTF_API qtf_status qtf_quantize(qtf_encoded **out, const qtf_encoding *enc, const float *src,
                                uint32_t n_dims, const uint64_t *dims,
                                const qtf_quantize_options *opts);
QTF_API void qtf_encoded_free(qtf_encoded *e);

/* Views of an encoded result, for qtf_writer_add_tensor / qtf_dequantize.
 * out capacity QTF_MAX_PARTS; returns n_parts. */
QTF_API uint32_t qtf_encoded_views(qtf_part_view *out, const qtf_encoded *e);

/* Dequantizes decoded parts to dst_type (F32, F16 or BF16); dst_count must
 * equal the tensor's element count. Parts are validated against the layout. */
QTF_API qtf_status qtf_dequantize(void *dst, qtf_dtype dst_type, uint64_t dst_count,
                                  const qtf_encoding *enc, uint32_t n_dims,
                                  const uint64_t *dims, const qtf_part_view *parts,
                                  uint32_t n_parts, unsigned threads);

/* ==========================================================================
 *  7. ERROR METRICS AND FLOAT CONVERSION
 * ========================================================================== */

typedef struct qtf_metrics {
    uint64_t n;                 /* elements compared */
    double mse;                 /* mean squared error */
    double rel_rmse;            /* ||W - W'|| / ||W|| (0 if both zero) */
    double max_abs_err;
    double snr_db;              /* 10 log10(||W||^2 / ||W - W'||^2); +inf if exact */
    double cosine;              /* <W,W'> / (||W|| ||W'||) (1 if both zero) */
} qtf_metrics;

/* Double-precision metrics of approx against ref (n elements). If col_weights
 * is non-NULL (cols entries, n a multiple of cols), every squared term of
 * element j is weighted by col_weights[j % cols]. */
QTF_API qtf_status qtf_metrics_compute(qtf_metrics *out, const float *ref, const float *approx,
                                       uint64_t n, const float *col_weights, uint64_t cols);

/* IEEE conversions, round to nearest even; NaN stays NaN (quiet), Inf stays
 * Inf, f32 overflow to f16 gives Inf. */
QTF_API uint16_t qtf_f32_to_f16(float x);
QTF_API float qtf_f16_to_f32(uint16_t h);
QTF_API uint16_t qtf_f32_to_bf16(float x);
QTF_API float qtf_bf16_to_f32(uint16_t h);

/* Converts n elements of src_type (F64 F32 F16 BF16 or an integer/bool type)
 * to f32. */
QTF_API qtf_status qtf_convert_to_f32(float *dst, const void *src, qtf_dtype src_type,
                                      uint64_t n);
/* Converts n f32 to dst_type (F32, F16, BF16). */
QTF_API qtf_status qtf_convert_from_f32(void *dst, qtf_dtype dst_type, const float *src,
                                        uint64_t n);

/* Number of online CPUs (>= 1), used for threads = 0. */
QTF_API unsigned qtf_default_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* QTF_H */
