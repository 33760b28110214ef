/* convert/gguf_out.h — qtf-convert's GGUF output: a Hugging Face checkpoint
 * (or a .qtf whose encodings are ggml types) written as a GGUF file that
 * llama.cpp loads: general.* and architecture keys from config.json, the
 * tokenizer, tensors renamed and Q/K rows permuted as llama.cpp's converter
 * does, each in the ggml type the recipe chooses. Streaming: one tensor in
 * memory at a time. */
#ifndef QTF_CONVERT_GGUF_OUT_H
#define QTF_CONVERT_GGUF_OUT_H

#include <signal.h>
#include <stddef.h>

#include "qtf.h"

typedef struct qtfg_options {
    const char *input;
    const char *output;                 /* NULL only with dry_run */
    const char *preset;                 /* NULL: f16 for checkpoints, the stored types for .qtf */
    int pure;
    const char *const *rules;           /* GLOB=TYPE, in command-line order */
    size_t n_rules;
    const char *name;                   /* general.name; NULL = from config/folder */
    const char *importance;             /* llama-imatrix's imatrix.gguf, or NULL */
    qtf_dtype st_dtype;                 /* GGUF -> .safetensors: F32, F16 or BF16 */
    unsigned threads;
    int quiet, verbose, dry_run;
    int force;                          /* replace an existing output file */
    double target_bpw;                  /* --target-bpw (> 0), or 0 */
    uint64_t target_bytes;              /* --target-size (> 0), or 0 */
    volatile sig_atomic_t *interrupted;
} qtfg_options;

/* 0 for QTF_OK; otherwise prints "what: STATUS: detail" and returns -1. */
int qtfg_check(qtf_status st, const char *what);

/* Runs the conversion; returns qtf-convert's exit code (0, 1 processing
 * failure, 2 usage/input error, 128+N signal). Nothing is left at
 * o->output on failure. */
int qtfg_convert(const qtfg_options *o);

#endif
