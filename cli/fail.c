/* cli/fail.c — the err/cap convention of the tools' helpers (recipes, plans,
 * importance maps): a message into the caller's buffer and -1. Its own file
 * because the Python extension links the recipe rules without the rest of
 * cli_util.c (jansson, terminal output). */
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
