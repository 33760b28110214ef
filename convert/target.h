/* convert/target.h — qtf-convert --target-bpw / --target-size: one encoding
 * per weight matrix, from a fixed candidate ladder, so that the file meets a
 * size budget with the least summed predicted error (convert/budget.c).
 *
 * Candidate ladder (each used where it applies to the tensor's shape; one
 * row per rung in target.c, qtf_ladder, with when it applies):
 *   bf16; int8; int6:group=32; int5:group=32; int4:group=32 and ,search;
 *   int4:group=64 and ,search; pal4:group=32,dq; int3:group=32 and ,search;
 *   int3:group=64 and ,search; int3:group=32,dq,search; pal3:group=32,dq;
 *   with an importance file, as the floor only, int3:group=64,dq,search and
 *   pal3:group=64,dq (a 3-bit floor from about 3.14 bits per weight);
 *   int2:group=16,dq,search; int2:group=32 and ,search; int2:group=32,dq,search;
 *   pal2:group=32,dq;
 *   and entropy-coded rungs (one code per byte, zstd level 1):
 *   int6:group=row,search,zstd; int5:group=row,zstd and ,search,zstd;
 *   int5:group=128,search,zstd; int4:group=row,zstd and ,search,zstd;
 *   int4:group=128,search,zstd; int3:group=row,search,zstd;
 *   int3:group=128,search,zstd.
 * With an importance file the palettized rungs and the int2 rung with
 * groups of 16 take `opt` (the robust scale fit, format/pal.c and
 * format/block_hqq.c) instead: with importance it lowered bytes-c's loss
 * (3.25 bits +0.142% -> +0.027%), without it raised the loss from 2.5 to 3.5
 * bits (bytes-c by 0.09 to 0.43 point; bench/RESULTS.md, rounds 3 and 6).
 * The int2 rung with groups of 16 is never the floor (below).
 * The zstd rungs are candidates only when the budget is 4 bits per weight
 * or more, or for tensors whose rows take no group of 32 (e.g. rows of
 * 172), which would otherwise have only int8 and bf16. Measured on bytes-c (bench/RESULTS.md, model-level table), with
 * them at 4.25 bits the loss fell from +0.071% to -0.060% (pal4 alone:
 * +0.050%), but at 3.25 and 3.5 bits the solver mixed int4/int3 zstd rungs
 * with pal3/pal2 for a lower predicted error and a much higher loss (+1.27%
 * and +1.44% against +0.14% and -0.11% without them); keeping only the
 * int5/int6 zstd rungs did not help either (+0.48% at 3.25, +0.10% at
 * 4.25). The predicted error ranks encodings within a family far better
 * than across families.
 * Sizes are stored bytes: the layout size for plain encodings, and for the
 * zstd rungs the size of the parts compressed exactly as the writer will
 * (same level and parameters; zstd is deterministic), so the budget is met
 * by the file as written. The budget (--target-bpw X: X * elements / 8;
 * --target-size) counts the stored tensor bytes; pinned tensors count
 * their layout size. The plan printed after the allocation shows layout
 * sizes (a zstd encoding's codes at 8 bits each); the allocation table
 * above it shows the stored ones.
 *
 * Tensors above 2^18 elements are measured on an evenly spaced sample of
 * their rows (the same for any thread count); a zstd size estimated on the
 * sample is measured on the whole tensor once the solver picks it, and the
 * knapsack solved again, so every chosen size is exact (target.c). On the
 * 1 GB bench checkpoint, 2 threads, with an importance file: 52 s wall (95 s
 * of CPU) at 4.25 bits, 68 s (111 s) at 3.25 bits, where the group-64
 * floor rungs are measured too; about 21 s without importance
 * (bench/RESULTS.md, rounds 7 and 11).
 *
 * Predicted error of a tensor W under candidate Q, normalized so that
 * tensors of different sizes and scales compare:
 *     sum_ij a_j (W_ij - Q_ij)^2 / sum_ij a_j W_ij^2
 * where a_j is the importance of input column j (E[x_j^2] over calibration
 * text, --importance) or 1 without it: the relative output error of the
 * layer under the usual diagonal approximation. The solver minimises the
 * sum of these over the free tensors. Without an importance file each term
 * is weighted by the tensor's share of the free weights (the sum is then
 * the relative squared error of all free weights together): counted alike,
 * the small k/v projections' upgrades were paid for by the large MLP
 * matrices, and the loss rose (held-out model at 3.5 bits +0.907% ->
 * +0.226% with the weighting; target.c, weigh_by_share). With a file the
 * tensors count alike, which measured better there, unless the file also
 * gives every free tensor its sensitivity: a value NAME.sensitivity (F32,
 * one element, finite, > 0) next to NAME's vector, sum_ij F_ij W_ij^2 with
 * F the empirical Fisher information of the loss in K-FAC form, E[g_i^2]
 * E[x_j^2] (g the loss's gradient at output i), which
 * `bench/model_quality.py importance` writes. Second order, the loss rises
 * by about half the sensitivity times the relative error; each term is then
 * weighted by the sensitivity to the power 1 with QTF's ladder when the
 * floor takes 3 bits per weight or more (the second-order estimate itself,
 * for small errors: it lowered the divergence from the unquantized model
 * on the three models measured at 4.25 and 3.5 bits), to the power 1/4 with
 * a 2-bit floor (with large errors the estimate itself spread the plans and
 * raised the loss), 1/2 with the ggml ladder (measured, target.c,
 * weigh_by_sensitivity): the output head and the first layers' down_proj
 * count most, as in llama.cpp's mixtures. A file that gives only some free
 * tensors one is said and weighs none; llama.cpp's imatrix files have none.
 *
 * Free tensors: float tensors of 2 or more dims whose encoding comes from
 * the default policy (the --encoding or the embedding rule). Tensors matched
 * by a --rule/--recipe rule are pinned, as are 1-D and small tensors (kept);
 * their sizes count in the budget as they are. The choice is added to the
 * recipe as one rule per free tensor, after the user's rules, so it is
 * recorded in the file's qtf.recipe like any rule.
 *
 * A .gguf output (qtfc_target_ggml, called by convert/gguf_out.c) takes
 * the ggml ladder instead: f16, q8_0, q6_k, q5_1, q5_k, q5_0, q4_1, q4_k,
 * q4_0, q3_k, q2_k (a type whose block does not divide the row is no
 * candidate for that tensor; not iq4_nl and iq4_xs, whose lower weight
 * error the loss does not follow: convert/target.c), measured with the
 * same error and the same importance (an imatrix, as llama-quantize uses
 * it). The free tensors are those llama-quantize would quantize and no
 * --rule names; the others count as the GGUF stores them (F32 norms, ruled
 * types). The choice becomes one exact-name GGUF rule per tensor, recorded
 * in the GGUF's qtf.recipe. A .qtf output takes the same ladder with
 * --target-ladder ggml (its tensors then convert to GGUF by block copy).
 *
 * The floor: of the fixed-rate rungs (no zstd) that apply to every free
 * tensor, the one that fits the budget alone with the least summed
 * predicted error (convert/budget.c, qtfc_budget_floor) is the floor, and
 * each tensor keeps only the floor rung and the candidates whose predicted
 * error there is at least 20% below the floor's (FLOOR_GAIN: smaller gains
 * are sideways moves the predicted error cannot rank; at the size of
 * int3:group=64,search they cost the held-out model 0.41 point without
 * importance, bench/RESULTS.md round 6). The allocation is then the best uniform
 * encoding that fits plus upgrades (as llama.cpp's own mixtures are a base
 * type with upgrades), at least as good as it on every tensor. Without the
 * floor the solver lowered a tensor below that base to pay for upgrades
 * elsewhere, which lowered the summed predicted error and raised the loss.
 * With the ggml ladder on bytes-c, where the floor binds: 3.5 bits with
 * importance +1.067% -> +0.673% (layer 0's ffn_down no longer q2_k); 4.75
 * bits +0.219% -> -0.130% without importance, +0.028% -> +0.138% with;
 * 5 bits +0.088% -> -0.063% without, +0.232% -> +0.089% with (better in
 * four cases of five, by 0.19 point on average). The row-wide zstd rungs are no floor:
 * their size and error vary with the tensor, and a floor from them made
 * things worse (bytes-c at 4 bits +0.377% -> +0.488%; aidreams at 4.25 bits
 * with importance -0.939% -> -0.412%). With the QTF ladder the floor
 * changes no allocation of bytes-c or aidreams at 2.5 to 5 bits
 * (bench/RESULTS.md, round 4). The int2 rung with groups of 16 is no floor
 * either: fitting alone from about 2.53 bits, it became the floor there and
 * forbade pal2, which the good 3.25-bit plans use (with importance bytes-c
 * +0.027% -> +0.660%, the held-out model +0.649% -> +1.127%); as a candidate
 * only it changes no plan of either model from 3 bits up (round 6).
 *
 * A plan replaces the floor alone only if it predicts at least 10% less
 * summed error (PLAN_GAIN): a budget barely above a uniform encoding gets
 * that encoding, and the message says so. Few upgrades predicting a few
 * percent are within what the predicted error cannot rank (the ggml ladder
 * at 3.5 bits without importance, the floor q3_k: plans 4-5% better by
 * prediction scored 0.12 point above q3_k on bytes-c, 0.18 below on the
 * held-out model; every plan measured in the table predicts at
 * least 13% less; bench/RESULTS.md round 8). */
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
    int ggml_ladder;                    /* 1: the ggml ladder for a .qtf output too
                                           (--target-ladder ggml), so that it converts
                                           to GGUF with its blocks copied */
} qtfc_target_options;

/* Chooses the encodings and appends them to `recipe` as rules. With
 * dry_run (or verbose) prints the allocation with predicted errors to
 * stdout. Returns QTFC_EXIT_OK, or an exit code (convert.h) after a message
 * on stderr. */
int qtfc_target_apply(qtfc_recipe *recipe, const qtfc_target_options *o);
/* GGUF output: chooses a ggml type (its lower-case name, a static string)
 * for each of the n checkpoint tensors `names` (Hugging Face names, 2-D
 * weights) so that their bytes plus fixed_bytes meet the budget, which
 * --target-bpw computes over `elements` (the GGUF's weights). Returns
 * QTFC_EXIT_OK, or an exit code after a message on stderr. */
/* `name` with fnmatch's special characters escaped, so that a rule made of
 * it matches that name only (truncated to cap - 1 bytes). */
void qtfc_glob_escape(char *out, size_t cap, const char *name);
int qtfc_target_ggml(const char **out_types, const char *const *names, size_t n,
                     uint64_t fixed_bytes, uint64_t elements, const qtfc_target_options *o);

#endif
