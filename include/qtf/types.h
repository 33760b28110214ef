/* include/qtf/types.h — element types, metadata value types, part roles, limits.
 * Part of the public API; include <qtf.h> (the umbrella) or this header. */
#ifndef QTF_TYPES_H
#define QTF_TYPES_H

#include "defs.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* Metadata value types: GGUF's 13 plus a binary blob. In the file (and in
 * GGUF) a value type is its code 0..13 (spec/FORMAT.md); the API spells it
 * QTF_TYPE_BASE_ + code, a range disjoint from the element types (qtf_dtype
 * 0..17), so that one passed for the other is refused with QTF_E_TYPE instead
 * of being read as a different type (QTF_DTYPE_F32 would otherwise be code 1,
 * i8). Compilers also warn (-Wenum-conversion, in -Wextra). */
typedef enum qtf_type {
    QTF_TYPE_U8 = 0x4d00,        /* QTF_TYPE_BASE_: 'M'etadata << 8 */
    QTF_TYPE_I8 = QTF_TYPE_U8 + 1,
    QTF_TYPE_U16 = QTF_TYPE_U8 + 2,
    QTF_TYPE_I16 = QTF_TYPE_U8 + 3,
    QTF_TYPE_U32 = QTF_TYPE_U8 + 4,
    QTF_TYPE_I32 = QTF_TYPE_U8 + 5,
    QTF_TYPE_F32 = QTF_TYPE_U8 + 6,
    QTF_TYPE_BOOL = QTF_TYPE_U8 + 7,
    QTF_TYPE_STRING = QTF_TYPE_U8 + 8,
    QTF_TYPE_ARRAY = QTF_TYPE_U8 + 9,
    QTF_TYPE_U64 = QTF_TYPE_U8 + 10,
    QTF_TYPE_I64 = QTF_TYPE_U8 + 11,
    QTF_TYPE_F64 = QTF_TYPE_U8 + 12,
    QTF_TYPE_BLOB = QTF_TYPE_U8 + 13,         /* media type string + bytes (embedded files) */
    QTF_TYPE_BASE_ = QTF_TYPE_U8,
    QTF_TYPE_COUNT_ = 14        /* number of types (codes 0..13) */
} qtf_type;

QTF_API const char *qtf_type_name(qtf_type t);
/* The file's code (0..13) of a metadata value type, or UINT32_MAX when t is
 * not one (an element type, say); and back: the type of a code, or
 * (qtf_type)0, which is no type, when code > 13. */
QTF_API uint32_t qtf_type_code(qtf_type t);
QTF_API qtf_type qtf_type_from_code(uint32_t code);
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

#ifdef __cplusplus
}
#endif
#endif /* QTF_TYPES_H */
