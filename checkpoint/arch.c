/* checkpoint/arch.c — the Llama-family HF <-> GGUF mapping (see arch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"

static const char *const llama_classes[] = { "LlamaForCausalLM", "MistralForCausalLM", NULL };

/* In the order llama.cpp's converter writes them. rope.dimension_count is
 * head_dim, or hidden_size / num_attention_heads (computed by the caller). */
static const qtf_arch_hparam llama_hparams[] = {
    { "block_count", QTF_ARCH_HP_U32, { "num_hidden_layers" }, 1 },
    { "context_length", QTF_ARCH_HP_U32, { "max_position_embeddings" }, 1 },
    { "embedding_length", QTF_ARCH_HP_U32, { "hidden_size" }, 1 },
    { "feed_forward_length", QTF_ARCH_HP_U32, { "intermediate_size" }, 1 },
    { "attention.head_count", QTF_ARCH_HP_U32, { "num_attention_heads" }, 1 },
    { "attention.head_count_kv", QTF_ARCH_HP_U32,
      { "num_key_value_heads", "num_attention_heads" }, 1 },
    { "rope.freq_base", QTF_ARCH_HP_F32, { "rope_theta", "rope_parameters.rope_theta" }, 0 },
    { "attention.layer_norm_rms_epsilon", QTF_ARCH_HP_F32, { "rms_norm_eps" }, 1 },
};

static const qtf_arch archs[] = {
    { "llama", llama_classes, llama_hparams, sizeof llama_hparams / sizeof llama_hparams[0] },
};

/* Per-layer names: HF suffix after "model.layers.N." -> GGUF suffix after
 * "blk.N.", and the permutation. */
typedef struct name_pair {
    const char *hf, *gguf;
    qtf_arch_permute perm;
} name_pair;

static const name_pair llama_layer_names[] = {
    { "self_attn.q_proj", "attn_q", QTF_ARCH_PERMUTE_Q },
    { "self_attn.k_proj", "attn_k", QTF_ARCH_PERMUTE_K },
    { "self_attn.v_proj", "attn_v", QTF_ARCH_PERMUTE_NONE },
    { "self_attn.o_proj", "attn_output", QTF_ARCH_PERMUTE_NONE },
    { "mlp.gate_proj", "ffn_gate", QTF_ARCH_PERMUTE_NONE },
    { "mlp.up_proj", "ffn_up", QTF_ARCH_PERMUTE_NONE },
    { "mlp.down_proj", "ffn_down", QTF_ARCH_PERMUTE_NONE },
    { "input_layernorm", "attn_norm", QTF_ARCH_PERMUTE_NONE },
    { "post_attention_layernorm", "ffn_norm", QTF_ARCH_PERMUTE_NONE },
};

static const name_pair llama_global_names[] = {
    { "model.embed_tokens", "token_embd", QTF_ARCH_PERMUTE_NONE },
    { "model.norm", "output_norm", QTF_ARCH_PERMUTE_NONE },
    { "lm_head", "output", QTF_ARCH_PERMUTE_NONE },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const qtf_arch *qtf_arch_from_hf_class(const char *hf_class) {
    for (size_t i = 0; hf_class && i < N_OF(archs); i++)
        for (const char *const *c = archs[i].hf_classes; *c; c++)
            if (strcmp(*c, hf_class) == 0) return &archs[i];
    return NULL;
}

const qtf_arch *qtf_arch_from_gguf_name(const char *gguf_name) {
    for (size_t i = 0; gguf_name && i < N_OF(archs); i++)
        if (strcmp(archs[i].gguf_name, gguf_name) == 0) return &archs[i];
    return NULL;
}

/* Splits "STEM.weight" / "STEM.bias" into the stem length and suffix. */
static const char *param_suffix(const char *name, size_t *stem_len) {
    const char *dot = strrchr(name, '.');
    if (!dot || (strcmp(dot, ".weight") != 0 && strcmp(dot, ".bias") != 0)) return NULL;
    *stem_len = (size_t)(dot - name);
    return dot;
}

/* Parses "PREFIX<digits>." at the start of s; returns the rest or NULL. */
static const char *layer_prefix(const char *s, const char *prefix, unsigned long *layer) {
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0) return NULL;
    s += n;
    if (*s < '0' || *s > '9') return NULL;
    char *end;
    *layer = strtoul(s, &end, 10);
    if (*end != '.' || *layer > 1000000) return NULL;
    return end + 1;
}

static int map_name(char *out, size_t cap, qtf_arch_permute *perm, const char *name,
                    int to_gguf) {
    size_t stem_len;
    const char *suffix = param_suffix(name, &stem_len);
    if (!suffix) {
        /* Buffers that are not model parameters. */
        if (to_gguf && strstr(name, "rotary_emb.inv_freq")) return 0;
        return -1;
    }
    *perm = QTF_ARCH_PERMUTE_NONE;
    for (size_t i = 0; i < N_OF(llama_global_names); i++) {
        const char *from = to_gguf ? llama_global_names[i].hf : llama_global_names[i].gguf;
        const char *to = to_gguf ? llama_global_names[i].gguf : llama_global_names[i].hf;
        if (strlen(from) == stem_len && strncmp(name, from, stem_len) == 0) {
            int n = snprintf(out, cap, "%s%s", to, suffix);
            return n > 0 && (size_t)n < cap ? 1 : -1;
        }
    }
    unsigned long layer;
    const char *rest = layer_prefix(name, to_gguf ? "model.layers." : "blk.", &layer);
    if (!rest) return -1;
    size_t rest_len = stem_len - (size_t)(rest - name);
    for (size_t i = 0; i < N_OF(llama_layer_names); i++) {
        const char *from = to_gguf ? llama_layer_names[i].hf : llama_layer_names[i].gguf;
        const char *to = to_gguf ? llama_layer_names[i].gguf : llama_layer_names[i].hf;
        if (strlen(from) == rest_len && strncmp(rest, from, rest_len) == 0) {
            *perm = strcmp(suffix, ".weight") == 0 ? llama_layer_names[i].perm
                                                   : QTF_ARCH_PERMUTE_NONE;
            int n = snprintf(out, cap, "%s%lu.%s%s", to_gguf ? "blk." : "model.layers.", layer,
                             to, suffix);
            return n > 0 && (size_t)n < cap ? 1 : -1;
        }
    }
    return -1;
}

int qtf_arch_map_to_gguf(char *out, size_t cap, qtf_arch_permute *perm, const qtf_arch *a,
                         const char *hf_name) {
    if (!a || !hf_name || !out || !perm) return -1;
    return map_name(out, cap, perm, hf_name, 1);
}

int qtf_arch_map_to_hf(char *out, size_t cap, qtf_arch_permute *perm, const qtf_arch *a,
                       const char *gguf_name) {
    if (!a || !gguf_name || !out || !perm) return -1;
    return map_name(out, cap, perm, gguf_name, 0);
}

int qtf_arch_permute_rows(void *data, void *scratch, uint64_t rows, uint64_t row_bytes,
                          uint32_t n_heads, int inverse) {
    if (n_heads == 0 || rows % (2ull * n_heads) != 0) return -1;
    uint64_t d = rows / n_heads, half = d / 2;
    unsigned char *src = data, *dst = scratch;
    /* Within each head of d rows: GGUF row 2i + j is HF row j * d/2 + i. */
    for (uint64_t h = 0; h < n_heads; h++)
        for (uint64_t i = 0; i < half; i++)
            for (uint64_t j = 0; j < 2; j++) {
                uint64_t g = h * d + 2 * i + j, f = h * d + j * half + i;
                uint64_t to = inverse ? f : g, from = inverse ? g : f;
                memcpy(dst + to * row_bytes, src + from * row_bytes, (size_t)row_bytes);
            }
    memcpy(data, scratch, (size_t)(rows * row_bytes));
    return 0;
}
