/* checkpoint/importance.h — importance vectors (E[x_j^2] per input column)
 * for a checkpoint's tensors, as qtf-convert --importance and qtf-verify
 * --importance read them: a safetensors (or torch) file of 1-D F32 vectors
 * named like the weights, or a llama.cpp importance matrix (GGUF imatrix or
 * legacy .dat) whose entries are named in llama.cpp's
 * scheme ("blk.0.attn_q.weight") mapped to the checkpoint's tensors through
 * the architecture table of its config.json, each checked against the
 * weight's row length.
 *
 * Importance is per input feature (one value per element of a row, for HF
 * nn.Linear weights [out, in]). The Q/K permutation llama.cpp applies
 * reorders rows (outputs) only, so the vectors apply unchanged. GPT-2's
 * Conv1D weights ([in, out]) have their input along dims[0]: qtf-convert
 * stores them transposed (spec/FORMAT.md 6.4), so the vector again weighs
 * one stored column per value. */
#ifndef QTF_CHECKPOINT_IMPORTANCE_H
#define QTF_CHECKPOINT_IMPORTANCE_H

#include <stddef.h>

#include "checkpoint/source.h"

typedef struct qtf_imatrix_map qtf_imatrix_map;

/* If `path` is a llama.cpp importance matrix (GGUF magic, or a file that is
 * not a safetensors/torch checkpoint but parses as a legacy .dat), maps it
 * onto src's tensors: returns 1 and *out. Returns 0 when the file is not an
 * imatrix (the caller opens it as a safetensors importance file), -1 with a
 * message in err naming the file and the entry on any error (unknown names,
 * wrong sizes, an architecture the table does not cover). */
int qtf_imatrix_map_open(qtf_imatrix_map **out, const char *path, const qtf_source *src,
                          char *err, size_t cap);
void qtf_imatrix_map_free(qtf_imatrix_map *m);

/* The vector for checkpoint tensor `name` (n values), or NULL. */
const float *qtf_imatrix_map_find(const qtf_imatrix_map *m, const char *name, uint64_t *n);
/* 1 when `name` is a linear layer's weight, which llama.cpp's imatrix would
 * normally cover (a missing entry deserves a warning). */
int qtf_imatrix_map_expects(const qtf_imatrix_map *m, const char *name);
/* Entries read, for the summary line. */
uint64_t qtf_imatrix_map_count(const qtf_imatrix_map *m);

/* Either format behind one lookup (qtf-verify). */
typedef struct qtf_importance qtf_importance;

/* Opens `path` as an imatrix mapped onto src, or else as a file of vectors
 * named like src's tensors; every vector that applies is read and checked
 * now (1-D, the row length, values finite and >= 0). Returns 0, or -1 with
 * a message in err naming the file and the vector. src must outlive it. */
int qtf_importance_open(qtf_importance **out, const char *path, const qtf_source *src,
                        char *err, size_t cap);
void qtf_importance_close(qtf_importance *im);
/* The vector of checkpoint tensor `name` (*n = its row length), or NULL. */
const float *qtf_importance_find(const qtf_importance *im, const char *name, uint64_t *n);

#endif
