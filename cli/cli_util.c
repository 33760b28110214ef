/* cli/cli_util.c — see cli_util.h. */
#include "cli_util.h"
#include "common/common.h"
#include "progress.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

/* --- messages ------------------------------------------------------------------ */

static const char *program_name = "qtf";

void cli_set_program(const char *name) { program_name = name; }
const char *cli_program(void) { return program_name; }

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *cli_why(qtf_status st) { return qtf__status_why(st); }

void cli_error_status(qtf_status st, const char *fmt, ...) {
    /* The detail is copied first: formatting below may call into libqtf. */
    char *saved = cli_detail_dup();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* For people: the detail (file, tensor, expected and found), else a few
     * words; the stable status name is for --json. The detail may quote
     * file bytes; libqtf escapes them, and cli_detail_dup() makes sure of it
     * without escaping twice. */
    if (saved && saved[0]) fprintf(stderr, ": %s", saved);
    else fprintf(stderr, ": %s", qtf_status_text(st));
    fputc('\n', stderr);
    free(saved);
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", program_name);
    return CLI_EXIT_USAGE;
}

/* --- the command line ------------------------------------------------------------- */

void cli_print_version(void) {
    printf("%s %s (libqtf %s, container format %d.%d)\n", program_name, QTF_VERSION_STRING,
           QTF_VERSION_STRING, QTF_FORMAT_MAJOR, QTF_FORMAT_MINOR);
}

/* Long options whose name starts with the `n` bytes of `text`. */
static unsigned count_long_prefix(const struct option *longopts, const char *text, size_t n) {
    unsigned matches = 0;
    for (const struct option *lo = longopts; lo && lo->name; lo++)
        if (strncmp(lo->name, text, n) == 0) matches++;
    return matches;
}

int cli_getopt_error(int c, char **argv, const struct option *longopts) {
    /* getopt_long leaves optind past the offending word for long options and
     * for a missing value; for an unknown short option inside a group ("-dx")
     * only optopt names it. */
    const char *word = argv[optind - 1];
    if (c == ':') return cli_usage_error("option '%s' needs a value", word);
    if (word[0] == '-' && word[1] == '-') {
        const char *name = word + 2;
        size_t n = strcspn(name, "=");
        if (name[n] == '=' && optopt != 0)
            return cli_usage_error("option '--%.*s' takes no value (found '%s')", (int)n, name, word);
        if (n > 0 && count_long_prefix(longopts, name, n) > 1)
            return cli_usage_error("ambiguous option '%.*s': give more of its name", (int)(n + 2), word);
        return cli_usage_error("unknown option '%s'", word);
    }
    if (optopt > 0 && optopt < 128 && isgraph(optopt))
        return cli_usage_error("unknown option '-%c'", optopt);
    return cli_usage_error("unknown option '%s'", word);
}

int cli_take_one_path(const char **out, int argc, char **argv) {
    if (optind >= argc) return cli_usage_error("no input file given");
    if (optind + 1 < argc)
        return cli_usage_error("one file at a time (unexpected '%s')", argv[optind + 1]);
    *out = argv[optind];
    return 0;
}

/* --- option values ----------------------------------------------------------------- */

int cli_parse_double(double *out, const char *s) {
    if (!s || !*s) return 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || isnan(v)) return 0;
    *out = v;
    return 1;
}

int cli_parse_u64(uint64_t *out, const char *s, uint64_t max) {
    if (!s || *s < '0' || *s > '9') return 0;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    if (v > max) return 0;
    *out = v;
    return 1;
}

int cli_parse_size(uint64_t *out, const char *s) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || !(v > 0)) return 0;
    static const struct { const char *unit; double mult; } units[] = {
        { "", 1 }, { "B", 1 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 }, { "TB", 1e12 },
        { "KiB", 1024.0 }, { "MiB", 1048576.0 }, { "GiB", 1073741824.0 },
        { "TiB", 1099511627776.0 },
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcasecmp(end, units[i].unit) == 0 && v * units[i].mult < 1.8e19) {
            *out = (uint64_t)(v * units[i].mult);
            return *out != 0;
        }
    return 0;
}

int cli_open_option(qtf_open_options *oo, const char *opt, const char *arg) {
    uint64_t v = 0;
    if (strcmp(opt, "no-mmap") == 0) {
        oo->flags |= QTF_OPEN_NO_MMAP;
        return 0;
    }
    if (strcmp(opt, "max-decoded-size") == 0) {
        if (!cli_parse_size(&v, arg) || v == 0)
            return cli_usage_error("--max-decoded-size wants a size such as 4GiB or 500MB, "
                                   "not '%s'", arg);
        oo->max_decoded_size = v;
        return 0;
    }
    if (!cli_parse_u64(&v, arg, UINT32_MAX) || v == 0)
        return cli_usage_error("--max-decoded-ratio wants a whole number from 1 to %u, not '%s'",
                               UINT32_MAX, arg);
    oo->max_decoded_ratio = (uint32_t)v;
    return 0;
}

/* --- growable text ------------------------------------------------------------------ */

void cli_buf_init(cli_buf *b) { memset(b, 0, sizeof *b); }
void cli_buf_free(cli_buf *b) { free(b->p); cli_buf_init(b); }
void cli_buf_clear(cli_buf *b) {
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

static int buf_reserve(cli_buf *b, size_t extra) {
    if (b->oom) return 0;
    if (extra > SIZE_MAX - b->len - 1) { b->oom = 1; return 0; }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return 0; }
    b->p = p;
    b->cap = cap;
    return 1;
}

void cli_buf_putn(cli_buf *b, const char *s, size_t n) {
    if (!buf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void cli_buf_puts(cli_buf *b, const char *s) { cli_buf_putn(b, s, strlen(s)); }

void cli_buf_printf(cli_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    if ((size_t)n < sizeof small) { cli_buf_putn(b, small, (size_t)n); return; }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *cli_buf_cstr(cli_buf *b) { return (b->p && !b->oom) ? b->p : ""; }

char *cli_buf_take(cli_buf *b) {
    if (b->oom) { cli_buf_free(b); return NULL; }
    char *p = b->p ? b->p : strdup("");
    cli_buf_init(b);
    return p;
}

/* --- safe display ------------------------------------------------------------------------ */

/* Decodes one well-formed UTF-8 sequence (no overlongs, surrogates or values
 * above U+10FFFF). Returns its length, or 0 if s[0] does not start one. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
    unsigned char c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    size_t n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1Fu; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0Fu; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07u; min = 0x10000; }
    else return 0;
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

/* Code points that are valid UTF-8 but change how a terminal shows the text. */
static int is_display_hazard(uint32_t cp) {
    return (cp >= 0x80 && cp <= 0x9F)            /* C1 controls (8-bit CSI, ...) */
        || cp == 0x061C                          /* Arabic letter mark */
        || cp == 0x200E || cp == 0x200F          /* LRM, RLM */
        || cp == 0x2028 || cp == 0x2029          /* line/paragraph separator */
        || (cp >= 0x202A && cp <= 0x202E)        /* bidi embeddings/overrides */
        || (cp >= 0x2066 && cp <= 0x2069)        /* bidi isolates */
        || cp == 0xFEFF                          /* BOM / zero-width no-break */
        /* Invisible characters: a name holding one looks like another name. */
        || cp == 0x00AD                          /* soft hyphen */
        || cp == 0x034F                          /* combining grapheme joiner */
        || cp == 0x115F || cp == 0x1160          /* Hangul fillers */
        || cp == 0x17B4 || cp == 0x17B5          /* Khmer inherent vowels */
        || (cp >= 0x180B && cp <= 0x180F)        /* Mongolian selectors, separator */
        || (cp >= 0x200B && cp <= 0x200D)        /* zero-width space, (non-)joiner */
        || (cp >= 0x2060 && cp <= 0x2064)        /* word joiner, invisible operators */
        || (cp >= 0x206A && cp <= 0x206F)        /* deprecated format characters */
        || cp == 0x3164 || cp == 0xFFA0          /* Hangul fillers */
        || (cp >= 0xFFF9 && cp <= 0xFFFB)        /* interlinear annotation */
        || (cp >= 0xE0000 && cp <= 0xE007F);     /* tags */
}

/* One display token of the input: its text (escape or raw bytes) and how many
 * input bytes it consumes. Returns the token's width in characters. */
static size_t next_token(const unsigned char *s, size_t len, unsigned flags, char *tok,
                         size_t *tok_len, size_t *consumed) {
    unsigned char c = s[0];
    *consumed = 1;
    switch (c) {
    case '\n': memcpy(tok, "\\n", 2); *tok_len = 2; return 2;
    case '\t': memcpy(tok, "\\t", 2); *tok_len = 2; return 2;
    case '\r': memcpy(tok, "\\r", 2); *tok_len = 2; return 2;
    case '\\':
        if (flags & CLI_ESC_KEEP_BACKSLASH) break;
        memcpy(tok, "\\\\", 2);
        *tok_len = 2;
        return 2;
    case '"':
        if (flags & CLI_ESC_QUOTE) { memcpy(tok, "\\\"", 2); *tok_len = 2; return 2; }
        break;
    default: break;
    }
    if (c < 0x20 || c == 0x7F) {
        *tok_len = (size_t)snprintf(tok, 8, "\\x%02x", c);
        return 4;
    }
    uint32_t cp;
    size_t n = utf8_decode(s, len, &cp);
    if (n == 0) {
        *tok_len = (size_t)snprintf(tok, 8, "\\x%02x", c);
        return 4;
    }
    *consumed = n;
    if (is_display_hazard(cp)) {
        *tok_len = (size_t)snprintf(tok, 12, cp > 0xFFFF ? "\\U%08X" : "\\u%04X", (unsigned)cp);
        return *tok_len;
    }
    memcpy(tok, s, n);
    *tok_len = n;
    return 1;
}

int cli_escape(cli_buf *out, const void *data, size_t len, size_t max_cols, unsigned flags) {
    const unsigned char *s = data;
    char tok[16];
    size_t tok_len, used, width = 0;
    if (max_cols > 0) {
        /* Shorten only when the whole text does not fit; the ellipsis takes
         * one column, so it is never appended to text that would fit. */
        size_t total = 0;
        for (size_t i = 0; i < len && total <= max_cols; i += used)
            total += next_token(s + i, len - i, flags, tok, &tok_len, &used);
        if (total > max_cols) {
            for (size_t i = 0; i < len; i += used) {
                size_t w = next_token(s + i, len - i, flags, tok, &tok_len, &used);
                if (width + w > max_cols - 1) break;
                cli_buf_putn(out, tok, tok_len);
                width += w;
            }
            cli_buf_puts(out, "\xE2\x80\xA6"); /* U+2026 HORIZONTAL ELLIPSIS */
            return 1;
        }
    }
    for (size_t i = 0; i < len; i += used) {
        next_token(s + i, len - i, flags, tok, &tok_len, &used);
        cli_buf_putn(out, tok, tok_len);
    }
    if (!out->p) cli_buf_putn(out, "", 0);
    return 0;
}

char *cli_escape_dup(const void *s, size_t len, size_t max_cols) {
    cli_buf b;
    cli_buf_init(&b);
    cli_escape(&b, s, len, max_cols, 0);
    return cli_buf_take(&b);
}

char *cli_detail_dup(void) {
    const char *d = qtf_error_detail();
    cli_buf b;
    cli_buf_init(&b);
    cli_escape(&b, d ? d : "", d ? strlen(d) : 0, 0, CLI_ESC_KEEP_BACKSLASH);
    return cli_buf_take(&b);
}

size_t cli_display_width(const char *s) {
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

/* --- numbers for people ------------------------------------------------------------------- */

/* n in the largest unit (powers of `base`) that keeps it at least 1, with
 * three significant digits; below `base` the exact integer. */
static const char *scaled_text(char *buf, size_t cap, uint64_t n, double base,
                               const char *const units[7]) {
    const char *sep = units[0][0] ? " " : "";
    if ((double)n < base) {
        snprintf(buf, cap, "%llu%s%s", (unsigned long long)n, sep, units[0]);
        return buf;
    }
    double v = (double)n;
    unsigned u = 0;
    while (v >= base && u < 6) { v /= base; u++; }
    /* 1023.7 KiB would print as "1024 KiB": say "1.00 MiB" instead. */
    if (v >= base - 0.5 && u < 6) { v /= base; u++; }
    snprintf(buf, cap, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

const char *cli_human_bytes(char *buf, size_t cap, uint64_t n) {
    static const char *const units[7] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    return scaled_text(buf, cap, n, 1024.0, units);
}

const char *cli_human_count(char *buf, size_t cap, uint64_t n) {
    static const char *const units[7] = {"", "k", "M", "G", "T", "P", "E"};
    return scaled_text(buf, cap, n, 1000.0, units);
}

const char *cli_format_double(char *buf, size_t cap, double v) {
    if (isnan(v)) { snprintf(buf, cap, "nan"); return buf; }
    if (isinf(v)) { snprintf(buf, cap, v > 0 ? "inf" : "-inf"); return buf; }
    /* Whole numbers read better without an exponent ("10000", not "1e+04"). */
    if (v == trunc(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%.0f", v);
        return buf;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return buf;
    }
    return buf;
}

/* --- names, encodings, checksums ------------------------------------------------------------ */

int cli_glob_match(const char *pattern, const char *name) {
    return fnmatch(pattern, name, 0) == 0;
}

const char *cli_unknown_encoding_text(char *buf, size_t cap, const qtf_tensor_info *t) {
    qtf_encoding e;
    /* Asked again for its detail: the directory parse keeps only the flag. */
    if (qtf_encoding_from_params(&e, t->encoding_id, t->params, t->n_params) != QTF_OK)
        snprintf(buf, cap, "%s; this version of libqtf cannot decode it", qtf_error_detail());
    else
        snprintf(buf, cap, "encoding id %u is not known to this version of libqtf",
                 (unsigned)t->encoding_id);
    return buf;
}

const char *cli_encoding_text(char *buf, size_t cap, const qtf_tensor_info *t) {
    if (t->encoding_known && qtf_encoding_format(buf, cap, &t->encoding) == QTF_OK) return buf;
    snprintf(buf, cap, "unknown(id=%u)", (unsigned)t->encoding_id);
    return buf;
}

void cli_dims_text(cli_buf *out, uint32_t n_dims, const uint64_t *dims) {
    cli_buf_putn(out, "[", 1);
    for (uint32_t d = 0; d < n_dims; d++)
        cli_buf_printf(out, d ? ", %llu" : "%llu", (unsigned long long)dims[d]);
    cli_buf_putn(out, "]", 1);
}

char *cli_dims_dup(uint32_t n_dims, const uint64_t *dims) {
    cli_buf b;
    cli_buf_init(&b);
    cli_dims_text(&b, n_dims, dims);
    return cli_buf_take(&b);
}

void cli_shape_text(cli_buf *out, const qtf_tensor_info *t) {
    cli_dims_text(out, t->n_dims < QTF_MAX_DIMS ? t->n_dims : QTF_MAX_DIMS, t->dims);
}

uint64_t cli_tensor_digest(const qtf_tensor_info *t) {
    unsigned char bytes[8 * QTF_MAX_PARTS];
    uint32_t n = t->n_parts < QTF_MAX_PARTS ? t->n_parts : QTF_MAX_PARTS;
    for (uint32_t p = 0; p < n; p++)
        for (int i = 0; i < 8; i++)
            bytes[8 * p + (uint32_t)i] = (unsigned char)(t->parts[p].checksum >> (56 - 8 * i));
    return (uint64_t)XXH3_64bits(bytes, 8 * (size_t)n);
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

uint64_t cli_tensor_stored_bytes(const qtf_tensor_info *t) {
    uint64_t s = 0;
    for (uint32_t p = 0; p < t->n_parts && p < QTF_MAX_PARTS; p++)
        s = sat_add(s, t->parts[p].stored_size);
    return s;
}

uint64_t cli_tensor_decoded_bytes(const qtf_tensor_info *t) {
    uint64_t s = 0;
    for (uint32_t p = 0; p < t->n_parts && p < QTF_MAX_PARTS; p++)
        s = sat_add(s, t->parts[p].decoded_size);
    return s;
}

double cli_tensor_bits_per_weight(const qtf_tensor_info *t) {
    if (t->n_elements == 0) return NAN;
    if (t->encoding_known) {
        double b = qtf_encoding_bits_per_weight(&t->encoding, t->n_dims, t->stored_dims);
        if (b > 0 && isfinite(b)) return b;
    }
    return (double)cli_tensor_decoded_bytes(t) * 8.0 / (double)t->n_elements;
}

const char *cli_hex64(char *buf, uint64_t v) {
    snprintf(buf, 17, "%016llx", (unsigned long long)v);
    return buf;
}

/* --- tables ---------------------------------------------------------------------------------- */

struct cli_table {
    unsigned ncols;
    char aligns[16];
    char **cells;           /* rows * ncols, row 0 = headers */
    size_t rows, cap;
    int oom;
};

cli_table *cli_table_new(unsigned ncols, const char *const *headers, const char *aligns) {
    if (ncols == 0 || ncols > 16) return NULL;
    cli_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ncols = ncols;
    for (unsigned c = 0; c < ncols; c++) t->aligns[c] = aligns && aligns[c] == 'r' ? 'r' : 'l';
    cli_table_add(t, headers);
    if (t->oom) { cli_table_free(t); return NULL; }
    return t;
}

void cli_table_add(cli_table *t, const char *const *cells) {
    if (!t || t->oom) return;
    if (t->rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
        if (!p) { t->oom = 1; return; }
        t->cells = p;
        t->cap = cap;
    }
    char **row = t->cells + t->rows * t->ncols;
    for (unsigned c = 0; c < t->ncols; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "");
        if (!row[c]) {
            for (unsigned k = 0; k < c; k++) free(row[k]);
            t->oom = 1;
            return;
        }
    }
    t->rows++;
}

int cli_table_oom(const cli_table *t) { return !t || t->oom; }

static void put_spaces(FILE *out, size_t n) {
    while (n--) fputc(' ', out);
}

void cli_table_print(const cli_table *t, FILE *out, unsigned indent) {
    if (!t) return;
    size_t width[16] = {0};
    for (size_t r = 0; r < t->rows; r++)
        for (unsigned c = 0; c < t->ncols; c++) {
            size_t w = cli_display_width(t->cells[r * t->ncols + c]);
            if (w > width[c]) width[c] = w;
        }
    for (size_t r = 0; r < t->rows; r++) {
        put_spaces(out, indent);
        for (unsigned c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            size_t pad = width[c] - cli_display_width(cell);
            int last = c + 1 == t->ncols;
            if (t->aligns[c] == 'r') put_spaces(out, pad);
            fputs(cell, out);
            if (t->aligns[c] != 'r' && !last) put_spaces(out, pad);
            if (!last) fputs("  ", out);
        }
        fputc('\n', out);
    }
}

void cli_markdown_text(FILE *out, const char *s) {
    for (; *s; s++) {
        if (strchr("|`*_<>[]#\\", *s)) fputc('\\', out);
        fputc(*s, out);
    }
}

void cli_table_print_markdown(const cli_table *t, FILE *out) {
    if (!t) return;
    for (size_t r = 0; r < t->rows; r++) {
        fputc('|', out);
        for (unsigned c = 0; c < t->ncols; c++) {
            fputc(' ', out);
            cli_markdown_text(out, t->cells[r * t->ncols + c]);
            fputs(" |", out);
        }
        fputc('\n', out);
        if (r == 0) {
            fputc('|', out);
            for (unsigned c = 0; c < t->ncols; c++) fputs(t->aligns[c] == 'r' ? "---:|" : "---|", out);
            fputc('\n', out);
        }
    }
}

void cli_table_free(cli_table *t) {
    if (!t) return;
    for (size_t i = 0; i < t->rows * t->ncols; i++) free(t->cells[i]);
    free(t->cells);
    free(t);
}

/* --- JSON ------------------------------------------------------------------------------------- */

#define JSON_SAFE_INT (1ull << 53)

json_t *cli_json_u64(uint64_t v) {
    if (v <= JSON_SAFE_INT) return json_integer((json_int_t)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return json_string(buf);
}

json_t *cli_json_i64(int64_t v) {
    if (v >= -(int64_t)JSON_SAFE_INT && v <= (int64_t)JSON_SAFE_INT) return json_integer((json_int_t)v);
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return json_string(buf);
}

json_t *cli_json_real(double v) {
    if (isnan(v)) return json_string("nan");
    if (isinf(v)) return json_string(v > 0 ? "inf" : "-inf");
    return json_real(v);
}

json_t *cli_json_string(const void *data, size_t len) {
    const unsigned char *s = data;
    cli_buf b;
    cli_buf_init(&b);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0 || cp == 0) {
            cli_buf_putn(&b, "\xEF\xBF\xBD", 3); /* U+FFFD REPLACEMENT CHARACTER */
            i++;
        } else {
            cli_buf_putn(&b, (const char *)s + i, n);
            i += n;
        }
    }
    if (b.oom) { cli_buf_free(&b); return NULL; }
    json_t *j = json_stringn(b.p ? b.p : "", b.len);
    cli_buf_free(&b);
    return j;
}

void cli_json_set(json_t *obj, const char *key, json_t *value, int *oom) {
    if (!value || json_object_set_new(obj, key, value) != 0) *oom = 1;
}

void cli_json_append(json_t *arr, json_t *value, int *oom) {
    if (!value || json_array_append_new(arr, value) != 0) *oom = 1;
}

/* Buffered JSON output. jansson hands text over in tiny pieces, so it is
 * gathered here; DEL is escaped at flush time: JSON allows a raw DEL inside
 * strings and jansson emits it so, but it is a control character like the
 * others (outside strings it cannot occur). */
struct cli_json_out {
    FILE *out;
    size_t len;
    int failed;
    char buf[1 << 16];
};

#define JSON_FLAGS (JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

static void out_flush(cli_json_out *o) {
    const char *p = o->buf, *end = o->buf + o->len, *del;
    while ((del = memchr(p, 0x7F, (size_t)(end - p))) != NULL) {
        if (fwrite(p, 1, (size_t)(del - p), o->out) != (size_t)(del - p)) o->failed = 1;
        if (fputs("\\u007f", o->out) < 0) o->failed = 1;
        p = del + 1;
    }
    if (fwrite(p, 1, (size_t)(end - p), o->out) != (size_t)(end - p)) o->failed = 1;
    o->len = 0;
}

static void out_put(cli_json_out *o, const char *p, size_t n) {
    while (n > 0) {
        if (o->len == sizeof o->buf) out_flush(o);
        size_t k = sizeof o->buf - o->len;
        if (k > n) k = n;
        memcpy(o->buf + o->len, p, k);
        o->len += k;
        p += k;
        n -= k;
    }
}

cli_json_out *cli_json_out_new(FILE *out) {
    cli_json_out *o = malloc(sizeof *o);
    if (!o) return NULL;
    o->out = out;
    o->len = 0;
    o->failed = 0;
    return o;
}

void cli_json_out_raw(cli_json_out *o, const char *s, size_t n) { out_put(o, s, n); }

static int dump_chunk(const char *buf, size_t size, void *data) {
    out_put(data, buf, size);
    return 0;
}

int cli_json_out_value(cli_json_out *o, json_t *v, unsigned indent) {
    if (indent == 0) return json_dump_callback(v, dump_chunk, o, JSON_FLAGS) == 0 ? 0 : -1;
    char *text = json_dumps(v, JSON_FLAGS);
    if (!text) return -1;
    static const char spaces[] = "                ";
    if (indent > sizeof spaces - 1) indent = sizeof spaces - 1;
    const char *p = text, *nl;
    while ((nl = strchr(p, '\n')) != NULL) {
        out_put(o, p, (size_t)(nl - p) + 1);
        out_put(o, spaces, indent);
        p = nl + 1;
    }
    out_put(o, p, strlen(p));
    free(text);
    return 0;
}

int cli_json_out_finish(cli_json_out *o) {
    if (!o) return -1;
    out_flush(o);
    int rc = o->failed ? -1 : 0;
    free(o);
    return rc;
}

int cli_json_print(json_t *root, FILE *out) {
    cli_json_out *o = cli_json_out_new(out);
    if (!o) return -1;
    int rc = cli_json_out_value(o, root, 0);
    cli_json_out_raw(o, "\n", 1);
    if (cli_json_out_finish(o) != 0) rc = -1;
    return rc;
}

/* --- time -------------------------------------------------------------------------------------- */

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- SIGBUS on mapped files ------------------------------------------------------------------- */

static char sigbus_msg[4][1200];
static volatile sig_atomic_t sigbus_n = 0;

static void on_sigbus(int sig) {
    (void)sig;
    qtfc_progress_interrupted();
    for (int i = 0; i < sigbus_n; i++) {
        ssize_t w = write(2, sigbus_msg[i], strlen(sigbus_msg[i]));
        (void)w;
    }
    _exit(CLI_EXIT_USAGE);
}

void cli_guard_mapped_file(const char *path) {
    if (sigbus_n >= 4) return;
    char *p = cli_escape_dup(path, strlen(path), 200);
    snprintf(sigbus_msg[sigbus_n], sizeof sigbus_msg[0],
             "%s: %s: I/O error: the file was truncated or could not be read while mapped "
             "(SIGBUS); nothing was written. Check the file, or read it with --no-mmap\n",
             program_name, p ? p : "?");
    free(p);
    if (sigbus_n++ == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigbus;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, NULL);
    }
}

void cli_value_stats_compute(cli_value_stats *out, const float *v, uint64_t n) {
    double sum = 0, sq_dev = 0;
    uint64_t finite = 0;
    memset(out, 0, sizeof *out);
    out->min = INFINITY;
    out->max = -INFINITY;
    for (uint64_t i = 0; i < n; i++) {
        double x = v[i];
        if (isnan(x)) { out->n_nan++; continue; }
        if (isinf(x)) { out->n_inf++; continue; }
        finite++;
        sum += x;
        if (x < out->min) out->min = x;
        if (x > out->max) out->max = x;
    }
    if (!finite) {
        out->min = out->max = out->mean = out->std = NAN;
        return;
    }
    out->mean = sum / (double)finite;
    /* Second pass around the mean: E[x^2] - mean^2 cancels badly for
     * tensors far from zero with a small spread (norm weights). */
    for (uint64_t i = 0; i < n; i++) {
        double x = v[i];
        if (isfinite(x)) sq_dev += (x - out->mean) * (x - out->mean);
    }
    out->std = sqrt(sq_dev / (double)finite);
}

int cli_finish_stdout(int exit_code) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write to standard output");
        return CLI_EXIT_FAIL;
    }
    return exit_code;
}

void cli_on_signal(int sig, void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

uint64_t cli_gcd_u64(uint64_t a, uint64_t b) { return qtf__gcd_u64(a, b); }

void cli_values_print(const float *v, uint64_t n, uint64_t n_show, const cli_value_stats *s) {
    uint64_t shown = n_show < n ? n_show : n;
    if (shown) {
        printf("  values       first %llu of %llu:\n   ", (unsigned long long)shown,
               (unsigned long long)n);
        for (uint64_t i = 0; i < shown; i++) {
            printf(" %.6g", (double)v[i]);
            if (i % 8 == 7 && i + 1 < shown) printf("\n   ");
        }
        printf("\n");
    }
    printf("  statistics   min %.6g, max %.6g, mean %.6g, std %.6g, NaN %llu, Inf %llu\n",
           s->min, s->max, s->mean, s->std, (unsigned long long)s->n_nan,
           (unsigned long long)s->n_inf);
}

void cli_values_json(json_t *obj, const float *v, uint64_t n, uint64_t n_show,
                     const cli_value_stats *s, int *oom) {
    json_t *vals = json_array();
    uint64_t shown = n_show < n ? n_show : n;
    for (uint64_t i = 0; i < shown && vals; i++) cli_json_append(vals, cli_json_real(v[i]), oom);
    cli_json_set(obj, "values", vals, oom);
    json_t *stats = json_object();
    if (stats) {
        cli_json_set(stats, "min", cli_json_real(s->min), oom);
        cli_json_set(stats, "max", cli_json_real(s->max), oom);
        cli_json_set(stats, "mean", cli_json_real(s->mean), oom);
        cli_json_set(stats, "std", cli_json_real(s->std), oom);
        cli_json_set(stats, "nan", cli_json_u64(s->n_nan), oom);
        cli_json_set(stats, "inf", cli_json_u64(s->n_inf), oom);
    }
    cli_json_set(obj, "statistics", stats, oom);
}
