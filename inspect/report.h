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
    /* --importance: the importance-weighted relative error
     *   sqrt(sum_ij a_j (W_ij - W'_ij)^2 / sum_ij a_j W_ij^2),
     * a_j the importance of input column j, normalized like m.rel_rmse (its
     * square is what qtf-convert --target-bpw sums over tensors) */
    int has_importance;         /* the file had a vector for this tensor */
    double imp_rel_rmse;
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
    const char *importance;     /* --importance path (escaped), NULL without */
    const char *importance_raw;
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
    uint64_t n_importance, importance_elements;  /* compared tensors with a vector */
    double w_imp_rel_rmse;      /* their imp_rel_rmse weighted by element count */
    double imp_error_sum;       /* sum of their imp_rel_rmse^2 */
    int have_snr;
    uint64_t *worst;            /* indices of compared tensors, worst rel. RMSE first */
    uint64_t n_worst;
    int ok;
} verify_report;

#define REPORT_WORST 10

/* NaN/Inf checks shared by the QTF and GGUF paths.
 * report_check_decoded: counts NaN/Inf among the decoded values deq[0..n)
 * into v->nonfinite/first_nonfinite; when the encoding cannot hold them
 * (`holds_nonfinite` 0: every quantized type, whose quantizers refuse
 * NaN/Inf) any is damage (a NaN scale, say) and fails VF_NONFINITE.
 * report_check_source: with the source values ref[0..n) in deq's layout,
 * counts the source's NaN/Inf (reported as such: the metrics are undefined
 * then) and fails where the file has one and the source does not. Returns
 * 1 when the metrics can be computed. */
void report_check_decoded(vt_result *v, const float *deq, uint64_t n, int holds_nonfinite);
int report_check_source(vt_result *v, const float *deq, const float *ref, uint64_t n);

/* With an importance vector a[0..cols) for the tensor: sets v's
 * importance-weighted error of deq against ref (n elements, rows of cols).
 * Returns 0 or a status (the detail set). */
qtf_status report_importance_error(vt_result *v, const float *ref, const float *deq, uint64_t n,
                                   const float *a, uint64_t cols);

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
