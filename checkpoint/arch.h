/* checkpoint/arch.h — what differs between model architectures when a Hugging
 * Face checkpoint becomes a GGUF file (and back): one table per architecture
 * giving the GGUF architecture name, the tensor name map in both directions,
 * the hyperparameter keys taken from config.json, which tensors are Q/K
 * row-permuted or transposed, and which axis of each linear layer's weight
 * is its input (the axis an importance vector runs along, and the axis QTF's
 * groups must run along).
 *
 * Covered: LlamaForCausalLM, MistralForCausalLM (GGUF "llama"),
 * Qwen2ForCausalLM ("qwen2"), GPT2LMHeadModel ("gpt2"), following
 * llama.cpp's convert_hf_to_gguf.py.
 *
 * Shapes: HF shapes are row-major, outermost first; a GGUF tensor's ne is
 * the shape it was written with, reversed (ne[0] = row length). For every
 * tensor except transposed ones the GGUF ne is the HF shape reversed; a
 * transposed tensor (GPT-2's Conv1D, stored [in, out]) is written as
 * [out, in] and its ne is [in, out].
 *
 * Not installed; this header is kept stable for the GGUF writer. */
#ifndef QTF_CHECKPOINT_ARCH_H
#define QTF_CHECKPOINT_ARCH_H

#include <stddef.h>

#include "qtf.h"

/* How the rows of a tensor are reordered between HF and GGUF. */
typedef enum qtf_arch_permute {
    QTF_ARCH_PERMUTE_NONE = 0,
    QTF_ARCH_PERMUTE_Q = 1,     /* rotate-half -> adjacent pairs, head_count heads */
    QTF_ARCH_PERMUTE_K = 2      /* same with head_count_kv heads */
} qtf_arch_permute;

/* One tensor of an architecture. Patterns use "{N}" for the block index. */
typedef struct qtf_arch_tensor {
    const char *hf;             /* "model.layers.{N}.self_attn.q_proj.weight" */
    const char *gguf;           /* "blk.{N}.attn_q.weight"; NULL: llama.cpp drops it */
    qtf_arch_permute permute;   /* rows permuted HF -> GGUF (weights and biases) */
    int transpose;              /* 1: HF stores [in, out]; GGUF gets [out, in] */
    int input_axis;             /* HF shape axis that is the layer's input: 1 for
                                   nn.Linear [out, in], 0 for Conv1D [in, out];
                                   -1: not a matrix multiply (norms, biases,
                                   embeddings looked up by row) */
} qtf_arch_tensor;

/* How a GGUF hyperparameter is computed from config.json. */
typedef enum qtf_arch_hp_rule {
    QTF_ARCH_HP_COPY = 0,       /* the value of hf_key (or hf_fallback) */
    QTF_ARCH_HP_HEAD_DIM = 1,   /* config "head_dim", else hidden / heads */
    QTF_ARCH_HP_FOUR_TIMES = 2  /* hf_fallback if non-null in config, else 4 x hf_key */
} qtf_arch_hp_rule;

typedef struct qtf_arch_hparam {
    const char *gguf_key;       /* after "<arch>.": "block_count", "rope.freq_base" */
    qtf_type type;              /* QTF_TYPE_U32 or QTF_TYPE_F32 */
    const char *hf_key;         /* config.json key */
    const char *hf_fallback;    /* used when hf_key is absent (COPY), or NULL */
    qtf_arch_hp_rule rule;
    int required;               /* 1: conversion fails without it */
} qtf_arch_hparam;

typedef struct qtf_arch {
    const char *hf_class;       /* config.json "architectures"[0] */
    const char *gguf_arch;      /* general.architecture */
    const char *hf_prefix_optional; /* names may lack this prefix ("transformer."), or NULL */
    const qtf_arch_tensor *tensors;
    size_t n_tensors;
    const qtf_arch_hparam *hparams;
    size_t n_hparams;
} qtf_arch;

/* --- lookup ----------------------------------------------------------------- */

/* NULL when not covered. */
const qtf_arch *qtf_arch_by_hf_class(const char *hf_class);
/* First table with this general.architecture ("llama" -> LlamaForCausalLM). */
const qtf_arch *qtf_arch_by_gguf_name(const char *gguf_arch);
/* Every table, for listings; *n gets the count. */
const qtf_arch *qtf_arch_all(size_t *n);

/* --- names -------------------------------------------------------------------- */

/* HF name -> GGUF name. QTF_E_NOT_FOUND (detail names the tensor) when no
 * pattern matches; QTF_E_LIMIT when out is too small. When the entry's gguf
 * is NULL (dropped by llama.cpp) `out` is "" and QTF_OK is returned: test
 * (*entry)->gguf. entry/layer may be NULL; *layer = UINT32_MAX without {N}. */
qtf_status qtf_arch_hf_to_gguf(char *out, size_t cap, const qtf_arch_tensor **entry,
                               uint32_t *layer, const qtf_arch *a, const char *hf_name);

/* GGUF name -> HF name. With `has` (may be NULL), the first spelling for
 * which has(ctx, name) is true is chosen (with and without the optional
 * prefix); otherwise the canonical spelling. QTF_E_NOT_FOUND when no pattern
 * matches (or `has` rejects every spelling). */
qtf_status qtf_arch_gguf_to_hf(char *out, size_t cap, const qtf_arch_tensor **entry,
                               uint32_t *layer, const qtf_arch *a, const char *gguf_name,
                               int (*has)(void *ctx, const char *name), void *ctx);

/* --- Q/K permutation -------------------------------------------------------------- */

/* Source row of destination row `row` when permuting HF -> GGUF (inverse=0)
 * or GGUF -> HF (inverse=1), for n_rows rows in n_head heads. Within a head
 * of d rows, GGUF row 2i + j is HF row j*d/2 + i (i < d/2, j in {0,1}).
 * Callers validated the shape with qtf_arch_permute_check(). */
uint64_t qtf_arch_permute_src_row(uint64_t row, uint64_t n_rows, uint32_t n_head, int inverse);

/* QTF_E_SHAPE unless n_rows is a multiple of n_head and the head size even. */
qtf_status qtf_arch_permute_check(uint64_t n_rows, uint32_t n_head);

/* Reorders whole rows (row_bytes each; any element type, blocks included)
 * from src to dst (distinct buffers). */
qtf_status qtf_arch_permute_rows(void *dst, const void *src, uint64_t n_rows, uint64_t row_bytes,
                                 uint32_t n_head, int inverse);

/* Heads used for an entry's permutation: head_count for Q, head_count_kv for
 * K, 0 for NONE. */
uint32_t qtf_arch_permute_heads(const qtf_arch_tensor *e, uint32_t n_head, uint32_t n_head_kv);

/* --- config.json ------------------------------------------------------------------- */

#define QTF_ARCH_MAX_HPARAMS 16

typedef struct qtf_arch_hvalue {
    const char *gguf_key;       /* suffix, borrowed from the table */
    qtf_type type;              /* U32 or F32 */
    uint64_t u;                 /* U32 value */
    double f;                   /* F32 value (as read; narrow when writing) */
    int present;                /* 0: optional and absent from config.json */
} qtf_arch_hvalue;

typedef struct qtf_arch_config {
    const qtf_arch *arch;
    uint32_t n_layer, n_embd, n_head, n_head_kv, n_vocab;
    int tie_word_embeddings;    /* config value; HF's default is 1 */
    size_t n_values;
    qtf_arch_hvalue values[QTF_ARCH_MAX_HPARAMS]; /* table order */
} qtf_arch_config;

/* Reads config.json: the class from "architectures"[0] (QTF_E_UNSUPPORTED
 * naming it when not covered) and every hyperparameter of its table
 * (QTF_E_NOT_FOUND / QTF_E_TYPE / QTF_E_VALUE naming the key when a required
 * one is missing, has the wrong JSON type or is out of range). */
qtf_status qtf_arch_config_load(qtf_arch_config *out, const char *config_json_path);

#endif
