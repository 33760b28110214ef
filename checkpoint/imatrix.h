/* checkpoint/imatrix.h — llama.cpp importance matrices (llama-imatrix output)
 * as per-weight importance vectors, computed exactly as llama-quantize does.
 *
 * Two formats (llama.cpp common/imatrix-loader.cpp):
 *  - GGUF (general.type "imatrix"): for each weight NAME an F32 tensor
 *    NAME.in_sum2 (sum of squared activations, ne0 x n_experts) and an F32
 *    tensor NAME.counts (n_experts values, rounded to integers with lround);
 *    optional NAME.in_sum. Mean = in_sum2 / (float)count per expert; an
 *    expert with count 0 gets 1.0 everywhere (llama-quantize's fallback).
 *  - legacy .dat: i32 n_entries, then per entry i32 name length, name,
 *    i32 ncall, i32 nval, nval f32; optionally i32 chunk count, i32 dataset
 *    name length and the name. Mean = value / (float)ncall, the raw values
 *    when ncall <= 0.
 *
 * Hostile input: every size is checked against the bytes present; a weight
 * without both tensors, tensors that are not F32 or whose sizes disagree,
 * NaN/Inf or negative sums or counts, duplicate names, and vectors whose
 * means are all zero are errors naming the weight (and file offset for the
 * .dat format). Memory: one float per stored value plus the names.
 * Names are llama.cpp's ("blk.0.attn_q.weight"); checkpoint/arch.h maps them.
 * Not installed. */
#ifndef QTF_CHECKPOINT_IMATRIX_H
#define QTF_CHECKPOINT_IMATRIX_H

#include "qtf.h"

typedef enum qtf_imatrix_format {
    QTF_IMATRIX_GGUF = 0,
    QTF_IMATRIX_LEGACY = 1
} qtf_imatrix_format;

typedef struct qtf_imatrix_entry {
    const char *name;           /* weight name, NUL-terminated */
    uint64_t n;                 /* values: row length x n_experts */
    uint64_t n_experts;         /* counts stored (1 for dense weights) */
    const float *values;        /* the means llama-quantize uses */
    int uniform;                /* 1: some count was 0 and its values are 1.0 */
} qtf_imatrix_entry;

typedef struct qtf_imatrix qtf_imatrix;

/* Detects the format by content (GGUF magic, else legacy). Caller owns *out. */
qtf_status qtf_imatrix_open(qtf_imatrix **out, const char *path);
qtf_status qtf_imatrix_open_memory(qtf_imatrix **out, const void *buf, size_t len,
                                   const char *name);
void qtf_imatrix_close(qtf_imatrix *m);

qtf_imatrix_format qtf_imatrix_get_format(const qtf_imatrix *m);
/* Entries in file order (GGUF: order of the NAME.in_sum2 tensors). */
uint64_t qtf_imatrix_count(const qtf_imatrix *m);
const qtf_imatrix_entry *qtf_imatrix_get(const qtf_imatrix *m, uint64_t i);
/* NULL when absent. */
const qtf_imatrix_entry *qtf_imatrix_find(const qtf_imatrix *m, const char *name);
/* Chunks the matrix was computed on (0 when the file does not say). */
uint32_t qtf_imatrix_chunk_count(const qtf_imatrix *m);

#endif
