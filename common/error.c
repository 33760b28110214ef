/* common/error.c — the library-internal way to report an error: format a
 * detail and hand it to qtf_error_set_detail (common/status.c), so that the
 * layers above libqtf, linked to the shared library, write the same
 * thread-local detail as the library itself. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

qtf_status qtf__error(qtf_status status, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    qtf_error_set_detail(text);
    return status;
}

void qtf__error_prefix(const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int pl = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (pl < 0) pl = 0;
    if ((size_t)pl < sizeof text) snprintf(text + pl, sizeof text - (size_t)pl, "%s", qtf_error_detail());
    qtf_error_set_detail(text);
}

void qtf__error_clear(void) { qtf_error_set_detail(NULL); }

int qtf__vfail_msg(char *err, size_t cap, const char *fmt, va_list ap) {
    if (err && cap) vsnprintf(err, cap, fmt, ap);
    return -1;
}

int qtf__fail_msg(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = qtf__vfail_msg(err, cap, fmt, ap);
    va_end(ap);
    return rc;
}

const char *qtf__status_why(qtf_status st) {
    const char *d = qtf_error_detail();
    return d && d[0] ? d : qtf_status_text(st);
}
