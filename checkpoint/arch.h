/* checkpoint/arch.h — how a Hugging Face architecture maps to GGUF: the
 * architecture name, tensor names, which tensors are row-permuted for RoPE,
 * and the hyperparameter keys taken from config.json.
 *
 * Only the Llama family is described here (LlamaForCausalLM,
 * MistralForCausalLM): the table that issue 13 item 3 asks for (Qwen2,
 * GPT-2, input axes) is being written on branch `gguf`; this file is the
 * minimal subset the GGUF writer needs, to be replaced by that table. */
#ifndef QTF_CHECKPOINT_ARCH_H
#define QTF_CHECKPOINT_ARCH_H

#include <stddef.h>
#include <stdint.h>

/* Row permutation a converter applies to a tensor (HF -> GGUF). */
typedef enum qtf_arch_permute {
    QTF_ARCH_PERMUTE_NONE = 0,
    QTF_ARCH_PERMUTE_Q = 1,     /* rotate-half -> adjacent pairs, n_head heads */
    QTF_ARCH_PERMUTE_K = 2      /* same with n_head_kv heads */
} qtf_arch_permute;

/* How a hyperparameter is found in config.json. */
typedef enum qtf_arch_hparam_kind {
    QTF_ARCH_HP_U32 = 0,
    QTF_ARCH_HP_F32 = 1
} qtf_arch_hparam_kind;

typedef struct qtf_arch_hparam {
    const char *key;            /* GGUF key without the "ARCH." prefix */
    qtf_arch_hparam_kind kind;
    const char *fields[3];      /* config.json fields tried in order ("a.b" = nested) */
    int required;
} qtf_arch_hparam;

typedef struct qtf_arch {
    const char *gguf_name;      /* general.architecture, e.g. "llama" */
    const char *const *hf_classes;
    const qtf_arch_hparam *hparams;
    size_t n_hparams;
} qtf_arch;

/* The architecture for an HF class name (config.json "architectures"[0]);
 * NULL when not described. */
const qtf_arch *qtf_arch_from_hf_class(const char *hf_class);
/* By GGUF name ("llama"); NULL when not described. */
const qtf_arch *qtf_arch_from_gguf_name(const char *gguf_name);

/* Maps an HF tensor name to its GGUF name into out (cap bytes). Returns 1
 * and sets *perm when mapped, 0 when the tensor is not part of the GGUF
 * model (e.g. rotary inv_freq buffers), -1 when the name is not known (the
 * caller reports it). */
int qtf_arch_map_to_gguf(char *out, size_t cap, qtf_arch_permute *perm, const qtf_arch *a,
                         const char *hf_name);
/* The reverse: GGUF name -> HF name; 1 mapped, -1 unknown. */
int qtf_arch_map_to_hf(char *out, size_t cap, qtf_arch_permute *perm, const qtf_arch *a,
                       const char *gguf_name);

/* Permutes the rows of a [rows, row_bytes] matrix in place (scratch holds
 * rows * row_bytes bytes) from HF's rotate-half order to GGUF's adjacent
 * pairs (inverse = 0) or back (inverse = 1), for n_heads heads. Returns -1
 * when rows is not a multiple of 2 * n_heads. */
int qtf_arch_permute_rows(void *data, void *scratch, uint64_t rows, uint64_t row_bytes,
                          uint32_t n_heads, int inverse);

#endif
