/* cli/errbuf.c — the err/cap error convention of the parsers and planners
 * (cli_util.h), over common/'s one implementation. Its own file because the
 * Python extension links it with recipe.c alone (python/qtf/meson.build). */
#include <stdarg.h>

#include "cli_util.h"
#include "common/common.h"

int cli_fail(char *err, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = qtf__vfail_msg(err, cap, fmt, ap);
    va_end(ap);
    return rc;
}
