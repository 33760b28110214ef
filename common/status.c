/* common/status.c — status names and the thread-local error detail: public
 * API, so this file is compiled into libqtf only (one detail per thread for
 * the library and everything built over it; common/error.c writes it). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static _Thread_local char detail[1024];

static const char *const status_names[QTF_STATUS_COUNT_] = {
    "QTF_OK",
    "QTF_E_INVALID_ARG",
    "QTF_E_NOMEM",
    "QTF_E_IO",
    "QTF_E_TRUNCATED",
    "QTF_E_MAGIC",
    "QTF_E_VERSION",
    "QTF_E_BYTE_ORDER",
    "QTF_E_HEADER",
    "QTF_E_LIMIT",
    "QTF_E_OVERFLOW",
    "QTF_E_UTF8",
    "QTF_E_DUPLICATE",
    "QTF_E_TYPE",
    "QTF_E_VALUE",
    "QTF_E_ALIGNMENT",
    "QTF_E_OFFSET",
    "QTF_E_SHAPE",
    "QTF_E_UNKNOWN_ENCODING",
    "QTF_E_ENCODING",
    "QTF_E_COMPRESSION",
    "QTF_E_CHECKSUM",
    "QTF_E_CHECKSUM_ALGO",
    "QTF_E_NOT_FOUND",
    "QTF_E_TYPE_MISMATCH",
    "QTF_E_STATE",
    "QTF_E_UNSUPPORTED",
    "QTF_E_PARSE",
    "QTF_E_NUMERIC",
};

const char *qtf_status_name(qtf_status status) {
    if ((unsigned)status < QTF_STATUS_COUNT_) return status_names[status];
    return "QTF_E_UNKNOWN_STATUS";
}

const char *qtf_status_text(qtf_status status) {
    static const char *const texts[QTF_STATUS_COUNT_] = {
        "success",
        "invalid argument",
        "out of memory",
        "input/output error",
        "file ends too early",
        "not a QTF file",
        "unsupported format version",
        "wrong byte order",
        "invalid header",
        "a limit is exceeded",
        "size computation overflows",
        "invalid UTF-8 text",
        "duplicate name",
        "wrong or unknown type",
        "value out of range",
        "invalid alignment",
        "invalid data offsets",
        "invalid shape",
        "encoding not known to this version",
        "invalid encoding",
        "invalid compressed data",
        "checksum mismatch",
        "unknown checksum algorithm",
        "not found",
        "value has another type",
        "not possible in this state",
        "not supported",
        "does not parse",
        "numeric error",
    };
    if ((unsigned)status < QTF_STATUS_COUNT_) return texts[status];
    return "unknown error";
}

const char *qtf_error_detail(void) { return detail; }

/* Details quote names and keys from untrusted files: control bytes are
 * replaced so that printing a detail cannot drive the terminal. */
void qtf_error_set_detail(const char *text) {
    if (!text) text = "";
    size_t n = strlen(text);
    if (n >= sizeof detail) n = sizeof detail - 1;
    memcpy(detail, text, n);
    detail[n] = '\0';
    for (char *s = detail; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') || *s == 0x7F) *s = '?';
}
