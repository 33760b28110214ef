/* common/alloc.c — allocation wrappers with failure injection for tests. */
#include <stdlib.h>
#include <string.h>

#include "common.h"

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
