/* convert/target.h — qtf-convert --target-bpw / --target-size: one encoding
 * per weight matrix, from a fixed candidate ladder, so that the file meets a
 * size budget with the least summed predicted error (convert/budget.c).
 *
 * Candidate ladder (each used where it applies to the tensor's shape):
 *   bf16; int8; int6:group=32; int5:group=32; int4:group=32 and ,search;
 *   int4:group=64 and ,search; pal4:group=32,dq; int3:group=32 and ,search;
 *   int3:group=64 and ,search; int3:group=32,dq,search; pal3:group=32,dq;
 *   int2:group=32 and ,search; int2:group=32,dq,search; pal2:group=32,dq.
 * Sizes are the encodings' exact layout sizes (no zstd candidates: their
 * size would have to be measured by compressing, not yet done).
 *
 * Predicted error of a tensor W under candidate Q, normalized so that
 * tensors of different sizes and scales compare:
 *     sum_ij a_j (W_ij - Q_ij)^2 / sum_ij a_j W_ij^2
 * where a_j is the importance of input column j (E[x_j^2] over calibration
 * text, --importance) or 1 without it: the relative output error of the
 * layer under the usual diagonal approximation. The solver minimises the
 * sum of these over the free tensors.
 *
 * Free tensors: float tensors of 2 or more dims whose encoding comes from
 * the default policy (the --encoding or the embedding rule). Tensors matched
 * by a --rule/--recipe rule are pinned, as are 1-D and small tensors (kept);
 * their sizes count in the budget as they are. The choice is added to the
 * recipe as one rule per free tensor, after the user's rules, so it is
 * recorded in the file's qtf.recipe like any rule. */
#ifndef QTF_CONVERT_TARGET_H
#define QTF_CONVERT_TARGET_H

#include "cli/recipe.h"

typedef struct qtfc_target_options {
    const char *input;
    const char *importance_path;        /* optional */
    double target_bpw;                  /* > 0, or 0 when target_bytes is given */
    uint64_t target_bytes;              /* tensor bytes; used when target_bpw == 0 */
    unsigned threads;                   /* 0 = all cores; the choice is the same for any */
    int dry_run, quiet, verbose;
} qtfc_target_options;

/* Chooses the encodings and appends them to `recipe` as rules. With
 * dry_run (or verbose) prints the allocation with predicted errors to
 * stdout. Returns QTFC_EXIT_OK, or an exit code (convert.h) after a message
 * on stderr. */
int qtfc_target_apply(qtfc_recipe *recipe, const qtfc_target_options *o);

#endif
