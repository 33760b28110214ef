/* convert/convert.h — the streaming conversion behind qtf-convert: one
 * tensor at a time (read, quantize, write, free), so that peak memory is
 * bounded by the largest tensor whatever the model size. */
#ifndef QTF_CONVERT_CONVERT_H
#define QTF_CONVERT_CONVERT_H

#include <signal.h>

#include "plan.h"

/* Exit codes of qtf-convert. */
#define QTFC_EXIT_OK 0
#define QTFC_EXIT_FAILURE 1     /* processing failed: write error, quantization error */
#define QTFC_EXIT_USAGE 2       /* bad command line or unusable input */
#define QTFC_EXIT_SIGNAL_BASE 128

typedef struct qtfc_options {
    const char *input;
    const char *output;                 /* NULL only with dry_run */
    qtfc_output_kind kind;
    const qtfc_recipe *recipe;          /* QTF output */
    int st_keep;                        /* safetensors output: --encoding keep */
    qtf_dtype st_dtype;                 /* safetensors output: F32, F16 or BF16 */
    const char *importance_path;        /* optional */
    unsigned threads;                   /* 0 = all cores */
    int quiet, verbose, progress_bar, dry_run;
    int allow_requantize;               /* a lossy .qtf input may be re-quantized */
    qtf_open_options open;              /* how a .qtf input is opened (decode limits) */
    int force;                          /* replace an existing output */
    /* Files read besides the checkpoint and importance sources (recipes):
     * the output never replaces them, nor any file the sources read. */
    const char *const *extra_inputs;
    size_t n_extra_inputs;
    /* Set (to the signal number) by a signal handler; checked between steps. */
    volatile sig_atomic_t *interrupted;
} qtfc_options;

/* Runs the whole conversion and returns the exit code. Messages go to
 * stderr, the --dry-run plan to stdout. On any failure (or interruption)
 * nothing is left at o->output and an existing file there is untouched. */
int qtfc_convert(const qtfc_options *o);

#endif
