/* inspect/report.h — the results of qtf-verify and their presentations:
 * plain text, Markdown, JSON (schema in inspect/JSON-SCHEMA.md) and an SVG
 * chart. Not installed. */
#ifndef QTF_INSPECT_REPORT_H
#define QTF_INSPECT_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "qtf.h"
#include "cli/output.h"

/* Why a tensor failed (bit set). */
enum {
    VF_CHECKSUM = 1u << 0,      /* stored bytes do not hash to the recorded value */
    VF_DECODE = 1u << 1,        /* unknown encoding or dequantization failed */
    VF_EXTRA = 1u << 2,         /* in the file, not in the source */
    VF_SHAPE = 1u << 3,         /* shape differs from the source */
    VF_SOURCE = 1u << 4,        /* the source tensor could not be read */
    VF_REL_RMSE = 1u << 5,      /* above --max-rel-rmse */
    VF_COSINE = 1u << 6,        /* below --min-cosine */
    VF_SNR = 1u << 7,           /* below --min-snr */
    VF_NONFINITE = 1u << 8,     /* decodes to NaN/Inf the source (or encoding) cannot have */
};

typedef struct vt_result {
    char *name;                 /* escaped for display (valid UTF-8, no controls) */
    char *raw_name;             /* as stored (NUL-terminated UTF-8) */
    char encoding[80];
    uint64_t n_elements;
    char *shape;                /* "[a, b]" */
    qtf_status checksum;        /* QTF_OK, QTF_E_CHECKSUM, QTF_E_OFFSET (padding), ... */
    char *checksum_error;       /* libqtf's detail, NULL when OK */
    int decode_checked;
    qtf_status decode;
    char *decode_error;
    int ignored;                /* --ignore matched: not compared with the source */
    int in_source;
    char *source_shape;         /* on a shape mismatch */
    char *source_error;         /* source read failure */
    uint64_t nonfinite;         /* NaN/Inf among the decoded values */
    uint64_t first_nonfinite;   /* element index of the first (when nonfinite > 0) */
    int source_checked;         /* source values read: source_nonfinite is valid */
    uint64_t source_nonfinite;  /* NaN/Inf in the source tensor (then not compared) */
    int compared;               /* metrics valid */
    qtf_metrics m;
    unsigned fail;              /* VF_* */
} vt_result;

typedef struct verify_report {
    const char *file;           /* display forms (escaped) */
    const char *against;        /* NULL without --against */
    const char *against_kind;
    const char *file_raw, *against_raw;  /* as given on the command line (JSON) */
    uint64_t source_tensors;
    uint64_t metadata_count;
    unsigned threads;
    int checksums_only;
    /* GGUF input (inspect/gguf_verify.c): format "gguf"; a GGUF file has no
     * checksums, so they are checked only against --hash-manifest */
    const char *format;         /* NULL for QTF */
    const char *manifest;       /* GGUF: manifest path (escaped), NULL without */
    const char *manifest_raw;
    const char *manifest_algos; /* "sha256", "xxh64", "sha256+xxh64" */
    /* thresholds (set when has_*) */
    int has_max_rel_rmse, has_min_cosine, has_min_snr;
    double max_rel_rmse, min_cosine, min_snr;
    /* structure check beyond the per-tensor results (header padding, ...) */
    qtf_status structure;
    char *structure_error;
    double checksum_seconds;
    uint64_t checksum_bytes;
    double decode_seconds;
    uint64_t n;                 /* tensors in the file */
    vt_result *t;
    char **missing;             /* escaped names: in the source, not in the file */
    uint64_t n_missing;
    /* derived by report_finish() */
    uint64_t n_failed_tensors, n_checksum_failed, n_decode_failed, n_extra, n_shape,
        n_threshold, n_compared, n_exact, n_ignored, n_source_nonfinite;
    uint64_t compared_elements;
    double w_rel_rmse, w_cosine, w_snr_db, max_abs_err;
    int have_snr;
    uint64_t *worst;            /* indices of compared tensors, worst rel. RMSE first */
    uint64_t n_worst;
    int ok;
} verify_report;

#define REPORT_WORST 10

/* Applies thresholds, counts failures, computes the weighted summary and
 * the worst list. 0 on allocation failure. */
int report_finish(verify_report *r);
void report_free(verify_report *r);

void report_print_text(const verify_report *r, FILE *out, int quiet);
void report_print_markdown(const verify_report *r, FILE *out, int quiet);
/* NULL on allocation failure. */
json_t *report_json(const verify_report *r);

/* SVG chart of rel. RMSE per tensor (log scale), in file order, coloured by
 * encoding, written to `out` (published by the caller). */
qtf_status svg_write_chart(const verify_report *r, cli_output *out);

#endif
