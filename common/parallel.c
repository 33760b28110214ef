/* common/parallel.c — a minimal fork-join loop over contiguous index ranges.
 * Threads are created per call: callers hand it work of at least a few
 * milliseconds (a tensor), so a pool would not pay for its complexity. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

unsigned qtf_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    if (n > 256) return 256;
    return (unsigned)n;
}

typedef struct chunk {
    qtf__range_fn fn;
    void *ctx;
    uint64_t begin, end;
    qtf_status status;
    char detail[1024];
} chunk;

static void *run_chunk(void *arg) {
    chunk *c = arg;
    c->status = c->fn(c->ctx, c->begin, c->end);
    if (c->status != QTF_OK) {
        strncpy(c->detail, qtf_error_detail(), sizeof c->detail - 1);
        c->detail[sizeof c->detail - 1] = '\0';
    }
    return NULL;
}

qtf_status qtf__parallel_for(uint64_t n, uint64_t min_chunk, unsigned threads,
                             qtf__range_fn fn, void *ctx) {
    if (n == 0) return QTF_OK;
    if (threads == 0) threads = qtf_default_threads();
    if (min_chunk == 0) min_chunk = 1;
    uint64_t max_by_size = (n + min_chunk - 1) / min_chunk;
    uint64_t nt = threads < max_by_size ? threads : max_by_size;
    if (nt <= 1) return fn(ctx, 0, n);

    chunk *cs = calloc((size_t)nt, sizeof *cs);
    pthread_t *tids = calloc((size_t)nt, sizeof *tids);
    int *started = calloc((size_t)nt, sizeof *started);
    if (!cs || !tids || !started) {
        free(cs); free(tids); free(started);
        return fn(ctx, 0, n); /* degrade to one thread rather than fail */
    }
    uint64_t per = n / nt, rem = n % nt, at = 0;
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t len = per + (i < rem ? 1 : 0);
        cs[i] = (chunk){ .fn = fn, .ctx = ctx, .begin = at, .end = at + len };
        at += len;
    }
    /* chunk 0 runs on the calling thread */
    for (uint64_t i = 1; i < nt; i++)
        started[i] = pthread_create(&tids[i], NULL, run_chunk, &cs[i]) == 0;
    run_chunk(&cs[0]);
    for (uint64_t i = 1; i < nt; i++) {
        if (started[i]) pthread_join(tids[i], NULL);
        else run_chunk(&cs[i]); /* thread creation failed: do it here */
    }
    qtf_status st = QTF_OK;
    for (uint64_t i = 0; i < nt; i++) {
        if (cs[i].status != QTF_OK) {
            st = qtf__error(cs[i].status, "%s", cs[i].detail);
            break;
        }
    }
    free(cs); free(tids); free(started);
    return st;
}
