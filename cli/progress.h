/* cli/progress.h — progress line on a terminal, per-tensor lines, and
 * the closing summary of qtf-convert. */
#ifndef QTF_CONVERT_PROGRESS_H
#define QTF_CONVERT_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct qtfc_progress {
    FILE *out;
    int bar;                    /* redraw a status line (stderr is a terminal) */
    int drawn;                  /* a status line is on screen */
    uint64_t total_items, total_bytes;
    uint64_t done_items, done_bytes;
    double start, last_draw;    /* seconds, monotonic clock */
} qtfc_progress;

/* Monotonic time in seconds. */
double qtfc_now(void);

void qtfc_progress_begin(qtfc_progress *p, FILE *out, int bar, uint64_t total_items,
                         uint64_t total_bytes);
/* One more item done; redraws at most 10 times a second (and at the end). */
void qtfc_progress_step(qtfc_progress *p, uint64_t bytes);
/* Prints a full line (printf-style) without tearing the status line. */
void qtfc_progress_line(qtfc_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Erases the status line. */
void qtfc_progress_end(qtfc_progress *p);

/* "12.3 MiB" style sizes. */
void qtfc_human_bytes(char *buf, size_t cap, uint64_t bytes);

#endif
