/* cli/progress.c — the terminal status line of qtf-convert. */
#include "progress.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"

#define REDRAW_INTERVAL 0.1  /* seconds: at most ~10 redraws per second */

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

/* Set by SIGWINCH: the width is read again before the next draw. */
static volatile sig_atomic_t resized = 1;
/* A status line is on screen (for qtfc_progress_interrupted). */
static volatile sig_atomic_t on_screen = 0;
static int on_screen_fd = 2;

static void on_winch(int sig) {
    (void)sig;
    resized = 1;
}

void qtfc_progress_interrupted(void) {
    if (on_screen) {
        on_screen = 0;
        ssize_t r = write(on_screen_fd, "\n", 1);
        (void)r;
    }
}

static unsigned terminal_width(FILE *out) {
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    long v = c ? strtol(c, NULL, 10) : 0;
    return v >= 20 && v <= 1000 ? (unsigned)v : 80;
}

void qtfc_progress_format(char *buf, size_t cap, const qtfc_progress *p, double now,
                          unsigned width) {
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done_bytes / elapsed : 0;
    double frac = p->total_bytes ? (double)p->done_bytes / (double)p->total_bytes
                  : p->total_items ? (double)p->done_items / (double)p->total_items : 1.0;
    char done[32], total[32], eta[32], speed[32];
    qtfc_human_bytes(done, sizeof done, p->done_bytes);
    qtfc_human_bytes(total, sizeof total, p->total_bytes);
    qtfc_human_bytes(speed, sizeof speed, (uint64_t)rate);
    format_duration(eta, sizeof eta,
                    rate > 0 ? (double)(p->total_bytes - p->done_bytes) / rate : -1);
    /* Everything but the bar and the name; both give way to a narrow screen. */
    char core[200];
    int n = snprintf(core, sizeof core, "%3d%%  %llu/%llu tensors  %s/%s  %s/s  ETA %s",
                     (int)(frac * 100), (unsigned long long)p->done_items,
                     (unsigned long long)p->total_items, done, total, speed, eta);
    size_t core_len = n > 0 ? (size_t)n : 0;
    if (width < 20) width = 20;
    size_t avail = width - 1; /* the last column would wrap on some terminals */
    enum { BAR = 24 };
    char bar[BAR + 4] = "";
    /* The tensor's name matters more than the bar: keep room for 32 columns
     * of it (or all of a shorter one). */
    size_t want_name = p->current[0] ? 2 + (strlen(p->current) < 32 ? strlen(p->current) : 32) : 0;
    if (core_len + BAR + 3 + want_name <= avail) {
        int fill = (int)(frac * BAR);
        if (fill > BAR) fill = BAR;
        bar[0] = '[';
        memset(bar + 1, '#', (size_t)fill);
        memset(bar + 1 + fill, '.', (size_t)(BAR - fill));
        bar[BAR + 1] = ']';
        bar[BAR + 2] = ' ';
        bar[BAR + 3] = '\0';
    }
    size_t used = strlen(bar) + core_len;
    cli_buf name;
    cli_buf_init(&name);
    if (p->current[0] && used + 3 < avail)
        cli_escape(&name, p->current, strlen(p->current), avail - used - 2, 0);
    if (used > avail) core[avail > 0 ? avail : 0] = '\0';
    snprintf(buf, cap, "%s%s%s%s", bar, core, name.len ? "  " : "", cli_buf_cstr(&name));
    cli_buf_free(&name);
}

static void draw(qtfc_progress *p, double now) {
    if (resized) {
        resized = 0;
        p->width = terminal_width(p->out);
    }
    char line[1024];
    qtfc_progress_format(line, sizeof line, p, now, p->width);
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->drawn = 1;
    on_screen_fd = fileno(p->out);
    on_screen = 1;
    p->last_draw = now;
}

void qtfc_progress_begin(qtfc_progress *p, FILE *out, int bar, uint64_t total_items,
                         uint64_t total_bytes) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->bar = bar;
    p->total_items = total_items;
    p->total_bytes = total_bytes;
    p->start = cli_now();
    p->width = 80;
    if (p->bar) {
        cli_on_signal(SIGWINCH, on_winch);
        resized = 1;
        draw(p, p->start);
    }
}

void qtfc_progress_current(qtfc_progress *p, const char *name) {
    snprintf(p->current, sizeof p->current, "%s", name ? name : "");
    double now = cli_now();
    if (p->bar && now - p->last_draw >= REDRAW_INTERVAL) draw(p, now);
}

void qtfc_progress_step(qtfc_progress *p, uint64_t bytes) {
    p->done_items++;
    p->done_bytes += bytes;
    if (p->done_bytes > p->total_bytes) p->done_bytes = p->total_bytes;
    if (!p->bar) return;
    double now = cli_now();
    if (now - p->last_draw >= REDRAW_INTERVAL || p->done_items == p->total_items) draw(p, now);
}

static void erase(qtfc_progress *p) {
    if (p->drawn) {
        on_screen = 0;
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
    if (p->bar) draw(p, cli_now());
}

void qtfc_progress_end(qtfc_progress *p) {
    erase(p);
    fflush(p->out);
}
