/* checkpoint/arch.c — the architecture tables (arch.h), name mapping in both
 * directions, the Q/K row permutation, and reading config.json. The tables
 * follow llama.cpp's convert_hf_to_gguf.py and gguf-py's tensor name map. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "checkpoint/arch.h"
#include "common/common.h"

#define L(hf, gguf) { "model.layers.{N}." hf, "blk.{N}." gguf, QTF_ARCH_PERMUTE_NONE, 0, -1 }
#define LIN(hf, gguf) { "model.layers.{N}." hf, "blk.{N}." gguf, QTF_ARCH_PERMUTE_NONE, 0, 1 }
/* Llama-style names (Llama, Mistral, Qwen2); PQ and PK say how the Q and K
 * rows (weights and biases) are permuted. */
#define LLAMA_STYLE_TENSORS(PQ, PK)                                                          \
    { "model.embed_tokens.weight", "token_embd.weight", QTF_ARCH_PERMUTE_NONE, 0, -1 },       \
    { "model.norm.weight", "output_norm.weight", QTF_ARCH_PERMUTE_NONE, 0, -1 },              \
    { "lm_head.weight", "output.weight", QTF_ARCH_PERMUTE_NONE, 0, 1 },                       \
    L("input_layernorm.weight", "attn_norm.weight"),                                          \
    { "model.layers.{N}.self_attn.q_proj.weight", "blk.{N}.attn_q.weight", PQ, 0, 1 },        \
    { "model.layers.{N}.self_attn.q_proj.bias", "blk.{N}.attn_q.bias", PQ, 0, -1 },           \
    { "model.layers.{N}.self_attn.k_proj.weight", "blk.{N}.attn_k.weight", PK, 0, 1 },        \
    { "model.layers.{N}.self_attn.k_proj.bias", "blk.{N}.attn_k.bias", PK, 0, -1 },           \
    LIN("self_attn.v_proj.weight", "attn_v.weight"),                                          \
    L("self_attn.v_proj.bias", "attn_v.bias"),                                                \
    LIN("self_attn.o_proj.weight", "attn_output.weight"),                                     \
    L("self_attn.o_proj.bias", "attn_output.bias"),                                           \
    L("post_attention_layernorm.weight", "ffn_norm.weight"),                                  \
    LIN("mlp.gate_proj.weight", "ffn_gate.weight"),                                           \
    LIN("mlp.up_proj.weight", "ffn_up.weight"),                                               \
    LIN("mlp.down_proj.weight", "ffn_down.weight"),                                           \
    { "model.layers.{N}.self_attn.rotary_emb.inv_freq", NULL, QTF_ARCH_PERMUTE_NONE, 0, -1 }

/* --- Llama / Mistral (GGUF "llama"): Q and K rows permuted ---------------------- */
static const qtf_arch_tensor llama_tensors[] = {
    LLAMA_STYLE_TENSORS(QTF_ARCH_PERMUTE_Q, QTF_ARCH_PERMUTE_K),
};

/* Table order is the order llama.cpp writes the keys (fixture dumps). Qwen2
 * writes the first QWEN2_HPARAMS of them. */
static const qtf_arch_hparam llama_hparams[] = {
    { "block_count", QTF_TYPE_U32, "num_hidden_layers", NULL, QTF_ARCH_HP_COPY, 1 },
    { "context_length", QTF_TYPE_U32, "max_position_embeddings", NULL, QTF_ARCH_HP_COPY, 1 },
    { "embedding_length", QTF_TYPE_U32, "hidden_size", NULL, QTF_ARCH_HP_COPY, 1 },
    { "feed_forward_length", QTF_TYPE_U32, "intermediate_size", NULL, QTF_ARCH_HP_COPY, 1 },
    { "attention.head_count", QTF_TYPE_U32, "num_attention_heads", NULL, QTF_ARCH_HP_COPY, 1 },
    { "attention.head_count_kv", QTF_TYPE_U32, "num_key_value_heads", "num_attention_heads",
      QTF_ARCH_HP_COPY, 1 },
    { "rope.freq_base", QTF_TYPE_F32, "rope_theta", NULL, QTF_ARCH_HP_COPY, 0 },
    { "attention.layer_norm_rms_epsilon", QTF_TYPE_F32, "rms_norm_eps", NULL, QTF_ARCH_HP_COPY, 1 },
    { "vocab_size", QTF_TYPE_U32, "vocab_size", NULL, QTF_ARCH_HP_COPY, 1 },
    { "rope.dimension_count", QTF_TYPE_U32, "hidden_size", "num_attention_heads",
      QTF_ARCH_HP_HEAD_DIM, 1 },
};
#define QWEN2_HPARAMS 8

/* --- Qwen2 (GGUF "qwen2"): NEOX rope, so nothing is permuted ------------------------ */
static const qtf_arch_tensor qwen2_tensors[] = {
    LLAMA_STYLE_TENSORS(QTF_ARCH_PERMUTE_NONE, QTF_ARCH_PERMUTE_NONE),
};

/* --- GPT-2 (GGUF "gpt2"): Conv1D weights stored [in, out], transposed ------------- */
#define G(hf, gguf) { "transformer.h.{N}." hf, "blk.{N}." gguf, QTF_ARCH_PERMUTE_NONE, 0, -1 }
#define GT(hf, gguf) { "transformer.h.{N}." hf, "blk.{N}." gguf, QTF_ARCH_PERMUTE_NONE, 1, 0 }
static const qtf_arch_tensor gpt2_tensors[] = {
    { "transformer.wte.weight", "token_embd.weight", QTF_ARCH_PERMUTE_NONE, 0, -1 },
    { "transformer.wpe.weight", "position_embd.weight", QTF_ARCH_PERMUTE_NONE, 0, -1 },
    { "transformer.ln_f.weight", "output_norm.weight", QTF_ARCH_PERMUTE_NONE, 0, -1 },
    { "transformer.ln_f.bias", "output_norm.bias", QTF_ARCH_PERMUTE_NONE, 0, -1 },
    { "lm_head.weight", "output.weight", QTF_ARCH_PERMUTE_NONE, 0, 1 },
    G("ln_1.weight", "attn_norm.weight"),
    G("ln_1.bias", "attn_norm.bias"),
    GT("attn.c_attn.weight", "attn_qkv.weight"),
    G("attn.c_attn.bias", "attn_qkv.bias"),
    GT("attn.c_proj.weight", "attn_output.weight"),
    G("attn.c_proj.bias", "attn_output.bias"),
    G("ln_2.weight", "ffn_norm.weight"),
    G("ln_2.bias", "ffn_norm.bias"),
    GT("mlp.c_fc.weight", "ffn_up.weight"),
    G("mlp.c_fc.bias", "ffn_up.bias"),
    GT("mlp.c_proj.weight", "ffn_down.weight"),
    G("mlp.c_proj.bias", "ffn_down.bias"),
    { "transformer.h.{N}.attn.bias", NULL, QTF_ARCH_PERMUTE_NONE, 0, -1 },
    { "transformer.h.{N}.attn.masked_bias", NULL, QTF_ARCH_PERMUTE_NONE, 0, -1 },
};

static const qtf_arch_hparam gpt2_hparams[] = {
    { "block_count", QTF_TYPE_U32, "n_layer", NULL, QTF_ARCH_HP_COPY, 1 },
    { "context_length", QTF_TYPE_U32, "n_ctx", "n_positions", QTF_ARCH_HP_COPY, 1 },
    { "embedding_length", QTF_TYPE_U32, "n_embd", NULL, QTF_ARCH_HP_COPY, 1 },
    /* llama.cpp writes 4 x n_embd whatever n_inner says */
    { "feed_forward_length", QTF_TYPE_U32, "n_embd", NULL, QTF_ARCH_HP_FOUR_TIMES, 1 },
    { "attention.head_count", QTF_TYPE_U32, "n_head", NULL, QTF_ARCH_HP_COPY, 1 },
    { "attention.layer_norm_epsilon", QTF_TYPE_F32, "layer_norm_epsilon", NULL, QTF_ARCH_HP_COPY, 1 },
};

#define N_OF(x) (sizeof(x) / sizeof((x)[0]))
static const qtf_arch archs[] = {
    { "LlamaForCausalLM", "llama", NULL, llama_tensors, N_OF(llama_tensors), llama_hparams,
      N_OF(llama_hparams) },
    { "MistralForCausalLM", "llama", NULL, llama_tensors, N_OF(llama_tensors), llama_hparams,
      N_OF(llama_hparams) },
    { "Qwen2ForCausalLM", "qwen2", NULL, qwen2_tensors, N_OF(qwen2_tensors), llama_hparams,
      QWEN2_HPARAMS },
    { "GPT2LMHeadModel", "gpt2", "transformer.", gpt2_tensors, N_OF(gpt2_tensors), gpt2_hparams,
      N_OF(gpt2_hparams) },
};

const qtf_arch *qtf_arch_all(size_t *n) {
    if (n) *n = N_OF(archs);
    return archs;
}

const qtf_arch *qtf_arch_by_hf_class(const char *hf_class) {
    for (size_t i = 0; hf_class && i < N_OF(archs); i++)
        if (strcmp(archs[i].hf_class, hf_class) == 0) return &archs[i];
    return NULL;
}

const qtf_arch *qtf_arch_by_gguf_name(const char *gguf_arch) {
    for (size_t i = 0; gguf_arch && i < N_OF(archs); i++)
        if (strcmp(archs[i].gguf_arch, gguf_arch) == 0) return &archs[i];
    return NULL;
}

/* --- pattern matching ---------------------------------------------------------- */

/* Matches `name` against a pattern with at most one "{N}" (a decimal block
 * index without leading zeros, below 10^9). */
static int match(const char *pat, const char *name, uint32_t *layer) {
    const char *ph = strstr(pat, "{N}");
    *layer = UINT32_MAX;
    if (!ph) return strcmp(pat, name) == 0;
    size_t pre = (size_t)(ph - pat);
    if (strncmp(pat, name, pre) != 0) return 0;
    const char *p = name + pre;
    uint32_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (digits == 9 || (digits == 1 && v == 0)) return 0;
        v = v * 10 + (uint32_t)(*p - '0');
        digits++;
        p++;
    }
    if (!digits || strcmp(p, ph + 3) != 0) return 0;
    *layer = v;
    return 1;
}

static qtf_status expand(char *out, size_t cap, const char *pat, uint32_t layer, const char *name) {
    const char *ph = strstr(pat, "{N}");
    int n;
    if (ph) n = snprintf(out, cap, "%.*s%" PRIu32 "%s", (int)(ph - pat), pat, layer, ph + 3);
    else n = snprintf(out, cap, "%s", pat);
    if (n < 0 || (size_t)n >= cap)
        return qtf__error(QTF_E_LIMIT, "tensor '%s': mapped name does not fit %zu bytes", name, cap);
    return QTF_OK;
}

qtf_status qtf_arch_hf_to_gguf(char *out, size_t cap, const qtf_arch_tensor **entry,
                               uint32_t *layer, const qtf_arch *a, const char *hf_name) {
    if (!out || !cap || !a || !hf_name)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_arch_hf_to_gguf: NULL argument");
    const char *names[2] = { hf_name, NULL };
    char prefixed[1100];
    size_t pl = a->hf_prefix_optional ? strlen(a->hf_prefix_optional) : 0;
    if (pl && strncmp(hf_name, a->hf_prefix_optional, pl) != 0 &&
        strlen(hf_name) + pl < sizeof prefixed) {
        memcpy(prefixed, a->hf_prefix_optional, pl);
        memcpy(prefixed + pl, hf_name, strlen(hf_name) + 1);
        names[1] = prefixed;
    }
    for (int k = 0; k < 2 && names[k]; k++) {
        for (size_t i = 0; i < a->n_tensors; i++) {
            uint32_t l;
            if (!match(a->tensors[i].hf, names[k], &l)) continue;
            if (entry) *entry = &a->tensors[i];
            if (layer) *layer = l;
            if (!a->tensors[i].gguf) {
                out[0] = '\0';
                return QTF_OK;
            }
            return expand(out, cap, a->tensors[i].gguf, l, hf_name);
        }
    }
    char esc[QTF__ESC_CAP];
    return qtf__error(QTF_E_NOT_FOUND, "tensor '%s' is not a known %s tensor (GGUF \"%s\")",
                      qtf__escape(esc, sizeof esc, hf_name, strlen(hf_name)), a->hf_class,
                      a->gguf_arch);
}

qtf_status qtf_arch_gguf_to_hf(char *out, size_t cap, const qtf_arch_tensor **entry,
                               uint32_t *layer, const qtf_arch *a, const char *gguf_name,
                               int (*has)(void *ctx, const char *name), void *ctx) {
    if (!out || !cap || !a || !gguf_name)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_arch_gguf_to_hf: NULL argument");
    char esc[QTF__ESC_CAP];
    for (size_t i = 0; i < a->n_tensors; i++) {
        uint32_t l;
        if (!a->tensors[i].gguf || !match(a->tensors[i].gguf, gguf_name, &l)) continue;
        qtf_status st = expand(out, cap, a->tensors[i].hf, l, gguf_name);
        if (st) return st;
        if (entry) *entry = &a->tensors[i];
        if (layer) *layer = l;
        if (!has || has(ctx, out)) return QTF_OK;
        size_t pl = a->hf_prefix_optional ? strlen(a->hf_prefix_optional) : 0;
        if (pl && strncmp(out, a->hf_prefix_optional, pl) == 0) {
            memmove(out, out + pl, strlen(out + pl) + 1);
            if (has(ctx, out)) return QTF_OK;
        }
        return qtf__error(QTF_E_NOT_FOUND, "GGUF tensor '%s' maps to '%s', which the checkpoint "
                          "does not have", qtf__escape(esc, sizeof esc, gguf_name,
                                                       strlen(gguf_name)), out);
    }
    return qtf__error(QTF_E_NOT_FOUND, "GGUF tensor '%s' is not a known %s tensor",
                      qtf__escape(esc, sizeof esc, gguf_name, strlen(gguf_name)), a->gguf_arch);
}

/* --- Q/K permutation ------------------------------------------------------------- */

qtf_status qtf_arch_permute_check(uint64_t n_rows, uint32_t n_head) {
    if (n_head == 0 || n_rows % n_head || (n_rows / n_head) % 2)
        return qtf__error(QTF_E_SHAPE, "%" PRIu64 " rows cannot be permuted as %" PRIu32
                          " heads of an even size", n_rows, n_head);
    return QTF_OK;
}

uint64_t qtf_arch_permute_src_row(uint64_t row, uint64_t n_rows, uint32_t n_head, int inverse) {
    uint64_t d = n_rows / n_head, half = d / 2;
    uint64_t head = row / d, r = row % d;
    if (!inverse) /* GGUF row 2i + j <- HF row j*d/2 + i */
        return head * d + (r % 2) * half + r / 2;
    /* HF row j*d/2 + i <- GGUF row 2i + j */
    return head * d + 2 * (r % half) + r / half;
}

qtf_status qtf_arch_permute_rows(void *dst, const void *src, uint64_t n_rows, uint64_t row_bytes,
                                 uint32_t n_head, int inverse) {
    if (!dst || !src) return qtf__error(QTF_E_INVALID_ARG, "qtf_arch_permute_rows: NULL argument");
    qtf_status st = qtf_arch_permute_check(n_rows, n_head);
    if (st) return st;
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (uint64_t r = 0; r < n_rows; r++)
        memcpy(d + r * row_bytes, s + qtf_arch_permute_src_row(r, n_rows, n_head, inverse) * row_bytes,
               (size_t)row_bytes);
    return QTF_OK;
}

uint32_t qtf_arch_permute_heads(const qtf_arch_tensor *e, uint32_t n_head, uint32_t n_head_kv) {
    if (!e) return 0;
    return e->permute == QTF_ARCH_PERMUTE_Q ? n_head : e->permute == QTF_ARCH_PERMUTE_K ? n_head_kv : 0;
}

/* --- config.json ---------------------------------------------------------------------- */

static qtf_status json_u32(uint64_t *out, const json_t *v, const char *path, const char *key) {
    if (!json_is_integer(v))
        return qtf__error(QTF_E_TYPE, "%s: \"%s\" must be an integer", path, key);
    json_int_t i = json_integer_value(v);
    if (i < 0 || i > (json_int_t)UINT32_MAX)
        return qtf__error(QTF_E_VALUE, "%s: \"%s\" is %lld, expected 0..%" PRIu32, path, key,
                          (long long)i, UINT32_MAX);
    *out = (uint64_t)i;
    return QTF_OK;
}

static const json_t *present(const json_t *root, const char *key) {
    const json_t *v = key ? json_object_get(root, key) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

static qtf_status read_hparam(qtf_arch_hvalue *hv, const qtf_arch_hparam *hp, const json_t *root,
                              const char *path) {
    hv->gguf_key = hp->gguf_key;
    hv->type = hp->type;
    const json_t *v = present(root, hp->hf_key);
    const char *key = hp->hf_key;
    if (hp->rule == QTF_ARCH_HP_COPY && !v && hp->hf_fallback) {
        v = present(root, hp->hf_fallback);
        key = hp->hf_fallback;
    }
    if (hp->rule == QTF_ARCH_HP_HEAD_DIM && present(root, "head_dim")) {
        v = present(root, "head_dim");
        key = "head_dim";
    } else if (hp->rule == QTF_ARCH_HP_HEAD_DIM) {
        uint64_t hidden, heads;
        const json_t *vh = present(root, hp->hf_key), *vn = present(root, hp->hf_fallback);
        if (!vh || !vn)
            return qtf__error(QTF_E_NOT_FOUND, "%s: \"%s\" and \"%s\" are needed for %s", path,
                              hp->hf_key, hp->hf_fallback, hp->gguf_key);
        qtf_status st = json_u32(&hidden, vh, path, hp->hf_key);
        if (!st) st = json_u32(&heads, vn, path, hp->hf_fallback);
        if (st) return st;
        if (heads == 0 || hidden % heads)
            return qtf__error(QTF_E_VALUE, "%s: \"%s\" %" PRIu64 " is not a multiple of \"%s\" %"
                              PRIu64, path, hp->hf_key, hidden, hp->hf_fallback, heads);
        hv->u = hidden / heads;
        hv->present = 1;
        return QTF_OK;
    }
    if (!v) {
        if (hp->required)
            return qtf__error(QTF_E_NOT_FOUND, "%s: \"%s\" is missing (needed for %s)", path,
                              hp->hf_key, hp->gguf_key);
        return QTF_OK;
    }
    if (hp->type == QTF_TYPE_F32) {
        if (!json_is_number(v))
            return qtf__error(QTF_E_TYPE, "%s: \"%s\" must be a number", path, key);
        hv->f = json_number_value(v);
        hv->present = 1;
        return QTF_OK;
    }
    qtf_status st = json_u32(&hv->u, v, path, key);
    if (st) return st;
    if (hp->rule == QTF_ARCH_HP_FOUR_TIMES) hv->u *= 4;
    if (hv->u > UINT32_MAX)
        return qtf__error(QTF_E_VALUE, "%s: 4 x \"%s\" exceeds u32", path, key);
    hv->present = 1;
    return QTF_OK;
}

static uint32_t value_of(const qtf_arch_config *c, const char *gguf_key) {
    for (size_t i = 0; i < c->n_values; i++)
        if (c->values[i].present && strcmp(c->values[i].gguf_key, gguf_key) == 0)
            return (uint32_t)c->values[i].u;
    return 0;
}

qtf_status qtf_arch_config_load(qtf_arch_config *out, const char *path) {
    if (!out || !path) return qtf__error(QTF_E_INVALID_ARG, "qtf_arch_config_load: NULL argument");
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return qtf__error(QTF_E_PARSE, "%s: line %d: %s", path, jerr.line, jerr.text);
    qtf_status st = QTF_OK;
    const json_t *archs_v = json_object_get(root, "architectures");
    const json_t *cls = json_is_array(archs_v) ? json_array_get(archs_v, 0) : NULL;
    if (!json_is_object(root) || !json_is_string(cls)) {
        st = qtf__error(QTF_E_NOT_FOUND, "%s: no \"architectures\": [\"<class>\"] entry", path);
        goto done;
    }
    out->arch = qtf_arch_by_hf_class(json_string_value(cls));
    if (!out->arch) {
        char esc[QTF__ESC_CAP];
        const char *c = json_string_value(cls);
        st = qtf__error(QTF_E_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: "
                        "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GPT2LMHeadModel)",
                        path, qtf__escape(esc, sizeof esc, c, strlen(c)));
        goto done;
    }
    if (out->arch->n_hparams > QTF_ARCH_MAX_HPARAMS) {
        st = qtf__error(QTF_E_LIMIT, "%s: table too large", path);
        goto done;
    }
    for (size_t i = 0; i < out->arch->n_hparams; i++) {
        st = read_hparam(&out->values[i], &out->arch->hparams[i], root, path);
        if (st) goto done;
    }
    out->n_values = out->arch->n_hparams;
    out->n_layer = value_of(out, "block_count");
    out->n_embd = value_of(out, "embedding_length");
    out->n_head = value_of(out, "attention.head_count");
    out->n_head_kv = value_of(out, "attention.head_count_kv");
    if (!out->n_head_kv) out->n_head_kv = out->n_head;
    uint64_t vocab = 0;
    const json_t *vv = present(root, "vocab_size");
    if (vv) {
        st = json_u32(&vocab, vv, path, "vocab_size");
        if (st) goto done;
    }
    out->n_vocab = (uint32_t)vocab;
    const json_t *tie = json_object_get(root, "tie_word_embeddings");
    out->tie_word_embeddings = tie && json_is_boolean(tie) ? json_is_true(tie) : 1;
    if (out->n_head == 0 || out->n_head_kv == 0 || out->n_head % out->n_head_kv) {
        st = qtf__error(QTF_E_VALUE, "%s: %" PRIu32 " attention heads and %" PRIu32 " KV heads: "
                        "expected non-zero counts, heads a multiple of KV heads", path,
                        out->n_head, out->n_head_kv);
        goto done;
    }
done:
    json_decref(root);
    return st;
}
