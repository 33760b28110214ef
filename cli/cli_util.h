/* cli/cli_util.h — helpers shared by qtf-inspect and qtf-verify: messages,
 * option values, growable text, safe display of untrusted bytes, sizes,
 * tables, JSON values (output files: cli/output.h). Not installed. */
#ifndef QTF_CLI_UTIL_H
#define QTF_CLI_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "qtf.h"

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* Exit codes shared by both tools (documented in their --help). */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* --- messages on stderr, prefixed with the program name ------------------- */

void cli_set_program(const char *name);
const char *cli_program(void);
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* "PROG: MESSAGE: QTF_E_NAME: detail" (detail from qtf_error_detail()). */
void cli_error_status(qtf_status st, const char *fmt, ...) CLI_PRINTF(2, 3);
/* A usage error: the message plus "Try 'PROG --help'."; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* What went wrong, for people: libqtf's detail of the last error (file,
 * tensor, expected and found), or a few words for st when there is none. No
 * raw status names: those are for --json. Borrowed until the next call. */
const char *cli_why(qtf_status st);

/* The error-out convention of the parsers and planners: formats the message
 * into err (when err && cap) and returns -1. */
int cli_fail(char *err, size_t cap, const char *fmt, ...) CLI_PRINTF(3, 4);

/* --- the command line ------------------------------------------------------ */

struct option;
/* "PROG VERSION (libqtf VERSION, container format MAJOR.MINOR)" on stdout. */
void cli_print_version(void);
/* The usage error for what getopt_long returned as ':' (an option without
 * its value) or '?' (unknown or ambiguous option, or a value given to an
 * option that takes none); needs opterr = 0 and an optstring starting with
 * ':'. Returns CLI_EXIT_USAGE. */
int cli_getopt_error(int c, char **argv, const struct option *longopts);
/* The one FILE operand left after the options (argv[optind]); a usage error
 * when there is none or more than one. Returns 0 or CLI_EXIT_USAGE. */
int cli_take_one_path(const char **out, int argc, char **argv);

/* --- option values --------------------------------------------------------- */

/* Whole-string decimal/float parsing; 0 on any junk, overflow or NaN. */
/* Greatest common divisor (the library's, for tools that may not include
 * common/). */
uint64_t cli_gcd_u64(uint64_t a, uint64_t b);

int cli_parse_double(double *out, const char *s);
int cli_parse_u64(uint64_t *out, const char *s, uint64_t max);
/* A byte count > 0: a number, optionally with a unit as transformers writes
 * it (B; KB MB GB TB decimal; KiB MiB GiB TiB binary; any case); 1 if
 * parsed, 0 on junk or overflow. */
int cli_parse_size(uint64_t *out, const char *s);

/* --- how a .qtf is opened (--max-decoded-size, --max-decoded-ratio, --no-mmap) --
 * Every tool that reads a .qtf takes all three; the text of --help: */
#define CLI_OPEN_OPTIONS_HELP                                                           \
    "      --max-decoded-size SIZE\n"                                                  \
    "                        refuse a zstd part that decodes to more than SIZE bytes\n" \
    "                        (units KB MB GB, KiB MiB GiB; default 32GiB), so that a\n" \
    "                        small hostile file cannot make the tool allocate more\n"   \
    "      --max-decoded-ratio N\n"                                                    \
    "                        refuse a zstd part above 64 MiB that decodes to more\n"    \
    "                        than N times its stored size (default 1024)\n"             \
    "      --no-mmap         read the .qtf into memory instead of mapping it: a file\n" \
    "                        truncated meanwhile is then an ordinary read error\n"
/* Applies option `opt` (one of the three names, without dashes; arg NULL for
 * --no-mmap) to oo. 0, or a usage error (printed; returns CLI_EXIT_USAGE). */
int cli_open_option(qtf_open_options *oo, const char *opt, const char *arg);

/* The long options every tool that opens .qtf files shares (handled by
 * cli_open_option under one getopt id), and the table's closing rows
 * (--help, --version, the terminator). */
#define CLI_OPEN_LONG_OPTIONS(id)                            \
    { "max-decoded-size", required_argument, NULL, (id) },  \
    { "max-decoded-ratio", required_argument, NULL, (id) }, \
    { "no-mmap", no_argument, NULL, (id) }
#define CLI_END_LONG_OPTIONS                      \
    { "help", no_argument, NULL, 'h' },           \
    { "version", no_argument, NULL, 'V' },        \
    { NULL, 0, NULL, 0 }

/* A mapped file that shrinks or fails under the reader raises SIGBUS, which
 * would kill the tool without a word. After this call a SIGBUS prints
 * "PROG: PATH: I/O error ..." naming every guarded path (the fault cannot
 * tell which), ends a progress line, and exits with CLI_EXIT_USAGE (the
 * input could not be read). Up to 4 paths; the message is built now, the
 * handler only writes it. */
void cli_guard_mapped_file(const char *path);

/* Installs handler for sig with SA_RESTART (slow system calls resume
 * rather than fail with EINTR) and an empty mask. */
void cli_on_signal(int sig, void (*handler)(int));

/* --- growable text ----------------------------------------------------------- */

/* Never fails visibly: on allocation failure `oom` is set and later appends
 * are dropped, so callers check once at the end. */
typedef struct cli_buf {
    char *p;        /* NUL-terminated when len > 0 or after cli_buf_cstr() */
    size_t len, cap;
    int oom;
} cli_buf;

void cli_buf_init(cli_buf *b);
void cli_buf_free(cli_buf *b);
void cli_buf_clear(cli_buf *b);
void cli_buf_putn(cli_buf *b, const char *s, size_t n);
void cli_buf_puts(cli_buf *b, const char *s);
void cli_buf_printf(cli_buf *b, const char *fmt, ...) CLI_PRINTF(2, 3);
const char *cli_buf_cstr(cli_buf *b);     /* "" when empty or out of memory */
/* Takes ownership of the text (malloc'ed, NUL-terminated) or NULL on OOM. */
char *cli_buf_take(cli_buf *b);

/* --- safe display of untrusted bytes ----------------------------------------- */

/* Appends s[0,len) for a terminal: C0 controls as \n \t \r \xNN, DEL and
 * invalid UTF-8 bytes as \xNN, backslash as \\, C1 controls, line separators
 * and bidirectional overrides (which can make text display differently from
 * what it is) as \uXXXX; with CLI_ESC_QUOTE a double quote as \". Output is
 * valid UTF-8 without control characters. With max_cols > 0 the result is
 * shortened to at most max_cols characters ending in an ellipsis.
 * Returns 1 if it was shortened. */
#define CLI_ESC_QUOTE 0x1u
/* Leave backslashes as they are: for text that libqtf already escaped
 * (error details), which must not be escaped twice. */
#define CLI_ESC_KEEP_BACKSLASH 0x2u
int cli_escape(cli_buf *out, const void *s, size_t len, size_t max_cols, unsigned flags);
/* Convenience: escaped copy in a malloc'ed string (NULL on OOM). */
char *cli_escape_dup(const void *s, size_t len, size_t max_cols);
/* qtf_error_detail(), made safe for a terminal (NULL on OOM). */
char *cli_detail_dup(void);

/* Characters (code points) in UTF-8 text, for column alignment. */
size_t cli_display_width(const char *s);

/* --- numbers for people -------------------------------------------------------- */

/* "1.23 GiB", "512 B". buf >= 32 bytes. */
const char *cli_human_bytes(char *buf, size_t cap, uint64_t n);
/* "1.10 G", "260.1 k", "17" — element counts. */
const char *cli_human_count(char *buf, size_t cap, uint64_t n);
/* Shortest decimal text that reads back as the same double ("0.1", "1e-05"). */
const char *cli_format_double(char *buf, size_t cap, double v);

/* --- names, encodings, checksums ----------------------------------------------- */

/* fnmatch(3) without flags: '*' also matches '.' and '/'. */
int cli_glob_match(const char *pattern, const char *name);
/* Canonical encoding text, or "unknown(id=N)". buf >= 80 bytes. */
const char *cli_encoding_text(char *buf, size_t cap, const qtf_tensor_info *t);
/* Why a tensor's encoding is not known to this libqtf (encoding_known == 0):
 * an unknown encoding id, or a known id with a parameter key it does not know. */
const char *cli_unknown_encoding_text(char *buf, size_t cap, const qtf_tensor_info *t);
/* "[4096, 11008]". */
void cli_shape_text(cli_buf *out, const qtf_tensor_info *t);
/* The same for any dims (outermost first); _dup: malloc'ed, NULL on OOM. */
void cli_dims_text(cli_buf *out, uint32_t n_dims, const uint64_t *dims);
char *cli_dims_dup(uint32_t n_dims, const uint64_t *dims);
/* Tensor digest: XXH3-64 (seed 0) of the tensor's part checksums, each in
 * canonical big-endian byte order, concatenated in part order. */
uint64_t cli_tensor_digest(const qtf_tensor_info *t);
uint64_t cli_tensor_stored_bytes(const qtf_tensor_info *t);
uint64_t cli_tensor_decoded_bytes(const qtf_tensor_info *t);
/* Bits per weight of the decoded parts (qtf_encoding_bits_per_weight for
 * known encodings); NaN for a tensor without elements. */
double cli_tensor_bits_per_weight(const qtf_tensor_info *t);
/* "16 hex digits". buf >= 17 bytes. */
const char *cli_hex64(char *buf, uint64_t v);

/* --- tables -------------------------------------------------------------------- */

typedef struct cli_table cli_table;
/* aligns: one char per column, 'l' or 'r'. */
cli_table *cli_table_new(unsigned ncols, const char *const *headers, const char *aligns);
/* Cells are copied; they must already be escaped for display. */
void cli_table_add(cli_table *t, const char *const *cells);
/* Plain text with two spaces between columns, or a Markdown table (cells
 * with '|' escaped). `indent` spaces before each plain line. */
void cli_table_print(const cli_table *t, FILE *out, unsigned indent);
void cli_table_print_markdown(const cli_table *t, FILE *out);
int cli_table_oom(const cli_table *t);
/* Writes display text so that Markdown shows it literally. */
void cli_markdown_text(FILE *out, const char *s);
void cli_table_free(cli_table *t);

/* --- JSON ----------------------------------------------------------------------- */

/* Integers with magnitude <= 2^53 as JSON numbers, larger ones as decimal
 * strings (JavaScript and many parsers lose precision above 2^53). */
json_t *cli_json_u64(uint64_t v);
json_t *cli_json_i64(int64_t v);
/* Finite values as numbers; NaN as "nan", infinities as "inf" / "-inf". */
json_t *cli_json_real(double v);
/* A JSON string of s[0,len); invalid UTF-8 bytes and NULs become U+FFFD. */
json_t *cli_json_string(const void *s, size_t len);
/* Sets key to value (stealing the reference); marks *oom when value is NULL. */
void cli_json_set(json_t *obj, const char *key, json_t *value, int *oom);
void cli_json_append(json_t *arr, json_t *value, int *oom);
/* Writes with 2-space indentation, ASCII only (non-ASCII as \uXXXX, so no
 * terminal control sequences can pass through), trailing newline. */
int cli_json_print(json_t *root, FILE *out);

/* The same output built piece by piece, so that long arrays can be written
 * one element at a time instead of as one tree. */
typedef struct cli_json_out cli_json_out;
cli_json_out *cli_json_out_new(FILE *out);
/* Text that is already JSON (punctuation, member names). */
void cli_json_out_raw(cli_json_out *o, const char *s, size_t n);
/* v, indented by 2 per level, every line after the first shifted right by
 * `indent` spaces (its nesting depth in the document). */
int cli_json_out_value(cli_json_out *o, json_t *v, unsigned indent);
/* Flushes and frees; -1 if anything failed to be written. */
int cli_json_out_finish(cli_json_out *o);

/* --- time ------------------------------------------------------------------------ */

/* Statistics of decoded values: NaN and infinities counted and left out of
 * min, max, mean and std (all NaN when no value is finite). */
typedef struct cli_value_stats {
    double min, max, mean, std;
    uint64_t n_nan, n_inf;
} cli_value_stats;
void cli_value_stats_compute(cli_value_stats *out, const float *v, uint64_t n);
/* The detail view of decoded values, the same for every container: text
 * ("  values       first K of N:" in rows of 8, then "  statistics   ...")
 * and JSON ("values": the first K, "statistics": {min,max,mean,std,nan,inf}
 * set on obj). K = min(n_show, n). */
void cli_values_print(const float *v, uint64_t n, uint64_t n_show, const cli_value_stats *s);
void cli_values_json(json_t *obj, const float *v, uint64_t n, uint64_t n_show,
                     const cli_value_stats *s, int *oom);

/* Flushes stdout: exit_code, or CLI_EXIT_FAIL (with a message) when the
 * output could not be written. */
int cli_finish_stdout(int exit_code);

/* Monotonic seconds. */
double cli_now(void);

#endif
