/* convert/plan.h — the per-tensor conversion plan: what each source tensor
 * becomes, how many bytes it takes, and how it is read. Built and fully
 * checked before any output is created, so that every input error (an
 * encoding that cannot apply, a bad importance vector) is reported before
 * a single byte is written. */
#ifndef QTF_CONVERT_PLAN_H
#define QTF_CONVERT_PLAN_H

#include <stdio.h>

#include "cli/recipe.h"
#include "checkpoint/importance.h"
#include "checkpoint/source.h"

typedef enum qtfc_output_kind {
    QTFC_OUTPUT_QTF = 0,
    QTFC_OUTPUT_SAFETENSORS = 1
} qtfc_output_kind;

typedef struct qtfc_plan_item {
    uint64_t source_index;
    const qtf_source_tensor *tensor;   /* borrowed from the source */
    qtfc_choice choice;                /* QTF output: the encoding */
    qtf_dtype out_dtype;               /* safetensors output: the element type */
    int read_raw;                      /* 1: bytes copied as stored, no f32 pass */
    uint64_t read_bytes;               /* buffer needed to read the tensor */
    uint64_t out_bytes;                /* encoded (decoded-size) bytes */
    double bpw;
    long importance;                   /* index in the importance source, or -1;
                                          with an imatrix: >= 0 has a vector, -2 is a
                                          linear weight the imatrix does not cover */
    int input_first;                   /* 1: a 2-D weight whose input is dims[0] (the
                                          architecture table: GPT-2's Conv1D [in, out]) */
    uint32_t layout;                   /* QTF output: QTF_LAYOUT_TRANSPOSED for an
                                          input_first weight with a lossy encoding, so
                                          that its groups run along the input */
    uint64_t stored_dims[QTF_MAX_DIMS];/* the shape the encoding sees (dims, or the
                                          transpose for a transposed layout) */
} qtfc_plan_item;

typedef struct qtfc_plan {
    qtfc_output_kind kind;
    qtfc_plan_item *items;
    uint64_t n_items;
    uint64_t total_elements;
    uint64_t total_source_bytes;       /* tensor bytes as stored in the source */
    uint64_t total_out_bytes;
    uint64_t max_read_bytes;           /* largest read buffer any tensor needs */
    uint64_t n_fallbacks;
} qtfc_plan;

typedef struct qtfc_plan_options {
    qtfc_output_kind kind;
    const qtfc_recipe *recipe;         /* QTF output */
    int st_keep;                       /* safetensors output: each tensor's source type */
    qtf_dtype st_dtype;                /* safetensors output: F32, F16 or BF16 */
    const qtf_source *importance;      /* optional importance vectors (1-D F32) */
    const qtf_imatrix_map *imatrix;   /* or a llama.cpp importance matrix */
} qtfc_plan_options;

/* Builds the plan. Returns 0, or -1 with a message in err naming the tensor. */
int qtfc_plan_build(qtfc_plan *out, const qtf_source *src, const qtfc_plan_options *opts,
                    char *err, size_t err_cap);
void qtfc_plan_free(qtfc_plan *p);

/* The architecture table of the source: config.json's "architectures"[0]
 * in the checkpoint folder, or general.architecture of a .qtf source. NULL
 * when there is none or it is not covered (then every tensor keeps the
 * row-major layout). */
const struct qtf_arch *qtfc_source_arch(const qtf_source *src);

/* Row-major f32 [rows, cols] -> [cols, rows] (the stored form of a
 * transposed tensor). */
void qtfc_transpose_f32(float *dst, const float *src, uint64_t rows, uint64_t cols);

/* Prints one line per tensor (name, shape, source dtype, encoding, bytes,
 * bpw, reason) and the totals. */
void qtfc_plan_print(FILE *f, const qtfc_plan *p);

/* "[4096, 11008]" into buf. */
void qtfc_format_shape(char *buf, size_t cap, uint32_t n_dims, const uint64_t *dims);
/* Text of a plan item's encoding ("int4:group=32", "keep"-resolved "bf16",
 * "raw:i64", or a safetensors dtype). */
void qtfc_item_encoding_text(char *buf, size_t cap, const qtfc_plan *p,
                             const qtfc_plan_item *it);

#endif
