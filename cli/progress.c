/* cli/progress.c — the terminal status line of qtf-convert. */
#include "progress.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#define REDRAW_INTERVAL 0.1  /* seconds: at most ~10 redraws per second */

double qtfc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void qtfc_human_bytes(char *buf, size_t cap, uint64_t b) {
    if (b < 10000) snprintf(buf, cap, "%llu B", (unsigned long long)b);
    else if (b < 10000000ull) snprintf(buf, cap, "%.1f KiB", (double)b / 1024.0);
    else if (b < 10000000000ull) snprintf(buf, cap, "%.1f MiB", (double)b / 1048576.0);
    else snprintf(buf, cap, "%.2f GiB", (double)b / 1073741824.0);
}

static void format_duration(char *buf, size_t cap, double s) {
    if (s < 0 || s > 359999) {
        snprintf(buf, cap, "--:--");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%02lu:%02lu", t / 60, t % 60);
}

static void draw(qtfc_progress *p, double now) {
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done_bytes / elapsed : 0;
    double frac = p->total_bytes ? (double)p->done_bytes / (double)p->total_bytes
                  : p->total_items ? (double)p->done_items / (double)p->total_items : 1.0;
    char done[32], total[32], eta[32];
    qtfc_human_bytes(done, sizeof done, p->done_bytes);
    qtfc_human_bytes(total, sizeof total, p->total_bytes);
    format_duration(eta, sizeof eta,
                    rate > 0 ? (double)(p->total_bytes - p->done_bytes) / rate : -1);
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int fill = (int)(frac * WIDTH);
    if (fill > WIDTH) fill = WIDTH;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(WIDTH - fill));
    bar[WIDTH] = '\0';
    fprintf(p->out, "\r[%s] %3d%%  %llu/%llu tensors  %s/%s  %.1f MB/s  ETA %s\033[K", bar,
            (int)(frac * 100), (unsigned long long)p->done_items,
            (unsigned long long)p->total_items, done, total, rate / 1e6, eta);
    fflush(p->out);
    p->drawn = 1;
    p->last_draw = now;
}

void qtfc_progress_begin(qtfc_progress *p, FILE *out, int bar, uint64_t total_items,
                         uint64_t total_bytes) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->bar = bar;
    p->total_items = total_items;
    p->total_bytes = total_bytes;
    p->start = qtfc_now();
    if (p->bar) draw(p, p->start);
}

void qtfc_progress_step(qtfc_progress *p, uint64_t bytes) {
    p->done_items++;
    p->done_bytes += bytes;
    if (p->done_bytes > p->total_bytes) p->done_bytes = p->total_bytes;
    if (!p->bar) return;
    double now = qtfc_now();
    if (now - p->last_draw >= REDRAW_INTERVAL || p->done_items == p->total_items) draw(p, now);
}

static void erase(qtfc_progress *p) {
    if (p->drawn) {
        fputs("\r\033[K", p->out);
        p->drawn = 0;
    }
}

void qtfc_progress_line(qtfc_progress *p, const char *fmt, ...) {
    erase(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    if (p->bar) draw(p, qtfc_now());
}

void qtfc_progress_end(qtfc_progress *p) {
    erase(p);
    fflush(p->out);
}
