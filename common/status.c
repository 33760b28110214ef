/* common/status.c — status names, the thread-local error detail, and the
 * allocation wrappers used for failure injection in tests. */
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
static void defuse_controls(char *s) {
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') || *s == 0x7F) *s = '?';
}

qtf_status qtf__error(qtf_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    defuse_controls(detail);
    return status;
}

void qtf__error_prefix(const char *fmt, ...) {
    char prefix[512], old[sizeof detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, detail, sizeof old);
    size_t pl = strlen(prefix);
    if (pl >= sizeof detail) pl = sizeof detail - 1;
    memcpy(detail, prefix, pl);
    size_t ol = strlen(old);
    if (ol > sizeof detail - 1 - pl) ol = sizeof detail - 1 - pl;
    memcpy(detail + pl, old, ol);
    detail[pl + ol] = '\0';
    defuse_controls(detail);
}

void qtf__error_clear(void) { detail[0] = '\0'; }

/* Failure injection: a process-wide countdown (tests are single-threaded
 * when they use it). */
static long alloc_countdown = -1;

void qtf__test_fail_alloc_after(long n) { alloc_countdown = n; }

static int alloc_should_fail(void) {
    if (alloc_countdown < 0) return 0;
    if (alloc_countdown == 0) return 1;
    alloc_countdown--;
    return 0;
}

void *qtf__malloc(size_t n) { return alloc_should_fail() ? NULL : malloc(n ? n : 1); }
void *qtf__calloc(size_t n, size_t size) {
    return alloc_should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}
void *qtf__realloc(void *p, size_t n) { return alloc_should_fail() ? NULL : realloc(p, n ? n : 1); }

char *qtf__strndup(const char *s, size_t n) {
    char *p = qtf__malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}
