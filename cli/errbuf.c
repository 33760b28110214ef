/* cli/errbuf.c — the err/cap error convention of the parsers and planners
 * (cli_util.h). Its own file because the Python extension links it with
 * recipe.c alone (python/qtf/meson.build): it uses only the C library. */
#include <stdarg.h>
#include <stdio.h>

#include "cli_util.h"

int cli_fail(char *err, size_t cap, const char *fmt, ...) {
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}
