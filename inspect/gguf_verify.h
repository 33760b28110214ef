/* inspect/gguf_verify.h — qtf-verify on a GGUF file: structure (everything
 * the GGUF reader validates), the tensor data against a llama-gguf-hash
 * manifest when one is given (GGUF stores no checksums), decoding of every
 * tensor, and with a source checkpoint the per-tensor error with the names
 * mapped back to the checkpoint's and llama.cpp's Q/K permutation undone.
 * Fills the same verify_report as a QTF file, so text, Markdown, JSON and
 * the chart are shared. Not installed. */
#ifndef QTF_INSPECT_GGUF_VERIFY_H
#define QTF_INSPECT_GGUF_VERIFY_H

#include "report.h"

typedef struct gguf_verify_options {
    const char *path;
    const char *against;        /* or NULL */
    const char *manifest;       /* --hash-manifest, or NULL */
    const char *const *ignore;  /* --ignore globs */
    unsigned n_ignore;
    int checksums_only;
    unsigned threads;
    const char *importance;     /* --importance FILE (needs against), or NULL */
} gguf_verify_options;

/* Fills r (zeroed by the caller; thresholds set by the caller before
 * report_finish). Returns 0, 1 for out of memory, or 2 when the file, the
 * source or the manifest cannot be opened or parsed (message printed). */
int gguf_verify_build(verify_report *r, const gguf_verify_options *o);

/* Frees what gguf_verify_build allocated beyond report_free's share. */
void gguf_verify_free(verify_report *r);

#endif
