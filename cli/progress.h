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
    char current[256];          /* the tensor being converted (raw name) */
    unsigned width;             /* terminal columns (re-read on SIGWINCH) */
} qtfc_progress;


void qtfc_progress_begin(qtfc_progress *p, FILE *out, int bar, uint64_t total_items,
                         uint64_t total_bytes);
/* One more item done; redraws at most 10 times a second (and at the end). */
void qtfc_progress_step(qtfc_progress *p, uint64_t bytes);
/* Names the tensor now being converted (shown, escaped, on the line). */
void qtfc_progress_current(qtfc_progress *p, const char *name);
/* Async-signal-safe: ends a status line on screen with a newline, so that
 * whatever the shell prints next starts on a clean line. For the handlers of
 * SIGINT/SIGTERM that end the process. */
void qtfc_progress_interrupted(void);
/* Prints a full line (printf-style) without tearing the status line. */
void qtfc_progress_line(qtfc_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Erases the status line. */
void qtfc_progress_end(qtfc_progress *p);

/* The status line for the given terminal width (columns, >= 20): progress,
 * sizes and rate in one binary unit family (KiB, MiB, GiB; MiB/s), ETA, and
 * the current tensor, shortened to fit. Exposed for tests. */
void qtfc_progress_format(char *buf, size_t cap, const qtfc_progress *p, double now,
                          unsigned width);

/* "12.3 MiB" style sizes. */
void qtfc_human_bytes(char *buf, size_t cap, uint64_t bytes);

#endif
