/* convert/importance.h — llama.cpp importance matrices (GGUF imatrix or
 * legacy .dat) for qtf-convert's --importance: entries named in llama.cpp's
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
#ifndef QTF_CONVERT_IMPORTANCE_H
#define QTF_CONVERT_IMPORTANCE_H

#include <stddef.h>

#include "checkpoint/source.h"

typedef struct qtfc_imatrix_map qtfc_imatrix_map;

/* If `path` is a llama.cpp importance matrix (GGUF magic, or a file that is
 * not a safetensors/torch checkpoint but parses as a legacy .dat), maps it
 * onto src's tensors: returns 1 and *out. Returns 0 when the file is not an
 * imatrix (the caller opens it as a safetensors importance file), -1 with a
 * message in err naming the file and the entry on any error (unknown names,
 * wrong sizes, an architecture the table does not cover). */
int qtfc_imatrix_map_open(qtfc_imatrix_map **out, const char *path, const qtf_source *src,
                          char *err, size_t cap);
void qtfc_imatrix_map_free(qtfc_imatrix_map *m);

/* The vector for checkpoint tensor `name` (n values), or NULL. */
const float *qtfc_imatrix_map_find(const qtfc_imatrix_map *m, const char *name, uint64_t *n);
/* 1 when `name` is a linear layer's weight, which llama.cpp's imatrix would
 * normally cover (a missing entry deserves a warning). */
int qtfc_imatrix_map_expects(const qtfc_imatrix_map *m, const char *name);
/* Entries read, for the summary line. */
uint64_t qtfc_imatrix_map_count(const qtfc_imatrix_map *m);

#endif
