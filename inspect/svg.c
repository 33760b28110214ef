/* inspect/svg.c — a self-contained SVG chart of the relative RMSE of every
 * tensor (log scale) in file order, coloured by encoding, with axes, grid,
 * the --max-rel-rmse threshold and a legend. No scripts, fonts or external
 * references: any browser shows it as is, and hovering a point names it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "cli/output.h"
#include "report.h"

#define W 1100.0
#define H 520.0
#define LEFT 80.0
#define RIGHT 240.0
#define TOP 50.0
#define BOTTOM 70.0
#define PLOT_W (W - LEFT - RIGHT)
#define PLOT_H (H - TOP - BOTTOM)
#define MAX_LEGEND 16

/* Colour-blind-safe categorical palette (Okabe-Ito plus Tableau tones). */
static const char *const palette[] = {
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
    "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD", "#FF9896", "#98DF8A", "#C5B0D5",
};

/* Text from the file goes through cli_escape (no control characters, valid
 * UTF-8), then XML escaping. */
static void xml_text(cli_buf *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': cli_buf_puts(out, "&amp;"); break;
        case '<': cli_buf_puts(out, "&lt;"); break;
        case '>': cli_buf_puts(out, "&gt;"); break;
        case '"': cli_buf_puts(out, "&quot;"); break;
        case '\'': cli_buf_puts(out, "&apos;"); break;
        default: cli_buf_putn(out, s, 1); break;
        }
    }
}

static int encoding_slot(const char (*encs)[80], size_t n, const char *name) {
    for (size_t k = 0; k < n; k++)
        if (strcmp(encs[k], name) == 0) return (int)k;
    return -1;
}

qtf_status svg_write_chart(const verify_report *r, cli_output *out) {
    /* Encodings in order of first appearance; beyond the palette, "other". */
    char (*encs)[80] = calloc(MAX_LEGEND, sizeof *encs);
    if (!encs) return QTF_E_NOMEM;
    size_t n_enc = 0;
    int has_other = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (uint64_t i = 0; i < r->n; i++) {
        const vt_result *t = &r->t[i];
        if (encoding_slot((const char (*)[80])encs, n_enc, t->encoding) < 0) {
            if (n_enc < MAX_LEGEND - 1) memcpy(encs[n_enc++], t->encoding, 80);
            else has_other = 1;
        }
        if (t->compared && t->m.rel_rmse > 0 && isfinite(t->m.rel_rmse)) {
            double l = log10(t->m.rel_rmse);
            if (l < lo) lo = l;
            if (l > hi) hi = l;
        }
    }
    if (r->has_max_rel_rmse && r->max_rel_rmse > 0 && isfinite(r->max_rel_rmse)) {
        double l = log10(r->max_rel_rmse);
        if (l < lo) lo = l;
        if (l > hi) hi = l;
    }
    if (!isfinite(lo)) { lo = -4; hi = 0; }
    double y0 = floor(lo), y1 = ceil(hi);
    if (y1 - y0 < 1) y1 = y0 + 1;
    /* Exact tensors (rel. RMSE 0) sit on a band below the lowest decade. */
    double ymin = y0 - 0.5;

    cli_buf b;
    cli_buf_init(&b);
    cli_buf_printf(&b,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
        "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    cli_buf_puts(&b, "<title>qtf-verify: relative RMSE per tensor</title>\n");
    cli_buf_printf(&b, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", W, H);
    cli_buf_puts(&b, "<text x=\"80\" y=\"24\" font-size=\"15\" font-weight=\"bold\">");
    cli_buf_puts(&b, "Relative RMSE per tensor: ");
    xml_text(&b, r->file ? r->file : "");
    if (r->against) {
        cli_buf_puts(&b, " against ");
        xml_text(&b, r->against);
    }
    cli_buf_puts(&b, "</text>\n");
    cli_buf_printf(&b, "<text x=\"80\" y=\"40\" fill=\"#555555\">%llu tensors, %llu compared; "
                   "weighted rel. RMSE %.4g; hover a point for its name</text>\n",
                   (unsigned long long)r->n, (unsigned long long)r->n_compared, r->w_rel_rmse);

    /* Plot frame, decade grid lines and labels. */
    cli_buf_printf(&b, "<g stroke=\"#dddddd\" stroke-width=\"1\">\n");
    for (double d = y0; d <= y1 + 1e-9; d += 1) {
        double y = TOP + PLOT_H * (y1 - d) / (y1 - ymin);
        cli_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", LEFT, y,
                       LEFT + PLOT_W, y);
    }
    cli_buf_puts(&b, "</g>\n<g text-anchor=\"end\" fill=\"#333333\">\n");
    for (double d = y0; d <= y1 + 1e-9; d += 1) {
        double y = TOP + PLOT_H * (y1 - d) / (y1 - ymin);
        cli_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">1e%d</text>\n", LEFT - 8, y + 4, (int)d);
    }
    cli_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">exact</text>\n", LEFT - 8,
                   TOP + PLOT_H * (y1 - (ymin + 0.15)) / (y1 - ymin) + 4);
    cli_buf_puts(&b, "</g>\n");
    cli_buf_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                   "stroke=\"#333333\"/>\n", LEFT, TOP, PLOT_W, PLOT_H);

    /* X axis: tensor index ticks at a round step. */
    uint64_t n = r->n ? r->n : 1;
    uint64_t step = 1;
    for (uint64_t base = 1; n / step > 10 && base <= UINT64_MAX / 10; base *= 10) {
        static const unsigned mult[] = {1, 2, 5};
        for (int k = 0; k < 3 && (step = base * mult[k], n / step > 10); k++) {}
    }
    cli_buf_puts(&b, "<g text-anchor=\"middle\" fill=\"#333333\">\n");
    for (uint64_t i = 0; i < n; i += step) {
        double x = LEFT + PLOT_W * ((double)i + 0.5) / (double)n;
        cli_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\">%llu</text>\n", x, TOP + PLOT_H, x, TOP + PLOT_H + 5,
                       x, TOP + PLOT_H + 18, (unsigned long long)i);
    }
    cli_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\">tensor index (file order)</text>\n",
                   LEFT + PLOT_W / 2, H - 24);
    cli_buf_puts(&b, "</g>\n");
    cli_buf_printf(&b, "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\" "
                   "fill=\"#333333\">relative RMSE (log scale)</text>\n", TOP + PLOT_H / 2);

    if (r->has_max_rel_rmse && r->max_rel_rmse > 0 && isfinite(r->max_rel_rmse)) {
        double y = TOP + PLOT_H * (y1 - log10(r->max_rel_rmse)) / (y1 - ymin);
        cli_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#D00000\" "
                       "stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"%.1f\" fill=\"#D00000\" "
                       "text-anchor=\"end\">--max-rel-rmse %g</text>\n", LEFT, y, LEFT + PLOT_W, y,
                       LEFT + PLOT_W - 4, y - 4, r->max_rel_rmse);
    }

    /* One element of class "pt" per tensor: a dot when measured, a red cross
     * at the top when the tensor has no error figure (failed or unmatched). */
    double radius = r->n > 2000 ? 1.5 : r->n > 300 ? 2.5 : 3.5;
    cli_buf_puts(&b, "<g stroke-width=\"0.5\">\n");
    for (uint64_t i = 0; i < r->n; i++) {
        const vt_result *t = &r->t[i];
        double x = LEFT + PLOT_W * ((double)i + 0.5) / (double)n;
        int slot = encoding_slot((const char (*)[80])encs, n_enc, t->encoding);
        const char *color = slot >= 0 ? palette[slot] : palette[MAX_LEGEND - 1];
        char num[40];
        if (t->compared && !isnan(t->m.rel_rmse)) {
            double v = t->m.rel_rmse;
            double l = v > 0 && isfinite(v) ? log10(v) : (v > 0 ? y1 : ymin + 0.15);
            double y = TOP + PLOT_H * (y1 - l) / (y1 - ymin);
            cli_buf_printf(&b, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" "
                           "stroke=\"%s\"%s><title>", x, y, radius, color, t->fail ? "#D00000" : "#ffffff",
                           t->fail ? " stroke-width=\"1.5\"" : "");
            xml_text(&b, t->name);
            cli_buf_puts(&b, " (");
            xml_text(&b, t->encoding);
            cli_buf_printf(&b, "): rel. RMSE %s</title></circle>\n", cli_format_double(num, sizeof num, v));
        } else {
            double y = TOP + 8;
            cli_buf_printf(&b, "<path class=\"pt\" d=\"M%.1f %.1fl6 6m0 -6l-6 6\" stroke=\"#D00000\" "
                           "stroke-width=\"1.5\"><title>", x - 3, y - 3);
            xml_text(&b, t->name);
            cli_buf_puts(&b, ": no error figure (");
            xml_text(&b, t->fail ? "failed a check" : "not compared");
            cli_buf_puts(&b, ")</title></path>\n");
        }
    }
    cli_buf_puts(&b, "</g>\n");

    /* Legend. */
    double lx = LEFT + PLOT_W + 20, ly = TOP + 10;
    cli_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">encoding</text>\n", lx, ly);
    for (size_t k = 0; k <= n_enc; k++) {
        if (k == n_enc && !has_other) break;
        ly += 18;
        cli_buf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\">",
                       lx + 5, ly - 4, k < n_enc ? palette[k] : palette[MAX_LEGEND - 1], lx + 16, ly);
        xml_text(&b, k < n_enc ? encs[k] : "other");
        cli_buf_puts(&b, "</text>\n");
    }
    ly += 24;
    cli_buf_printf(&b, "<path d=\"M%.1f %.1fl6 6m0 -6l-6 6\" stroke=\"#D00000\" stroke-width=\"1.5\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\">no error figure</text>\n", lx + 2, ly - 7, lx + 16, ly);
    ly += 18;
    cli_buf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"#ffffff\" stroke=\"#D00000\" "
                   "stroke-width=\"1.5\"/><text x=\"%.1f\" y=\"%.1f\">red outline: failed</text>\n",
                   lx + 5, ly - 4, lx + 16, ly);
    cli_buf_puts(&b, "</svg>\n");
    free(encs);
    if (b.oom) {
        cli_buf_free(&b);
        return QTF_E_NOMEM;
    }
    qtf_status st = cli_output_write(out, b.p, b.len);
    cli_buf_free(&b);
    return st;
}
