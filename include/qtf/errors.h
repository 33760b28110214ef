/* include/qtf/errors.h — status codes and the error detail.
 * Part of the public API; include <qtf.h> (the umbrella) or this header. */
#ifndef QTF_ERRORS_H
#define QTF_ERRORS_H

#include "defs.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* Replaces this thread's error detail with a copy of `text` (truncated to
 * 1023 bytes; control characters but newline and tab become '?'); NULL or ""
 * clears it. For code built over libqtf that reports its errors through
 * qtf_error_detail, as QTF's own tools and readers of foreign formats do. */
QTF_API void qtf_error_set_detail(const char *text);

#ifdef __cplusplus
}
#endif
#endif /* QTF_ERRORS_H */
