/* convert/gguf_recipe.c — llama-quantize's per-tensor type choice as a
 * recipe (see gguf_recipe.h). */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_recipe.h"
#include "checkpoint/gguf.h"

/* llama_ftype ids (llama.h), which are also general.file_type. */
enum {
    FT_ALL_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8,
    FT_Q5_1 = 9, FT_Q2_K = 10, FT_Q3_K_M = 12, FT_Q4_K_M = 15, FT_Q5_K_M = 17, FT_Q6_K = 18,
    FT_IQ4_NL = 25, FT_IQ4_XS = 30, FT_BF16 = 32
};

static const qtfg_preset presets[] = {
    { "f32", QTF_GGML_F32, FT_ALL_F32, FT_ALL_F32 },
    { "f16", QTF_GGML_F16, FT_F16, FT_F16 },
    { "bf16", QTF_GGML_BF16, FT_BF16, FT_BF16 },
    { "q8_0", QTF_GGML_Q8_0, FT_Q8_0, FT_Q8_0 },
    { "q6_k", QTF_GGML_Q6_K, FT_Q6_K, FT_Q6_K },
    { "q5_k_m", QTF_GGML_Q5_K, FT_Q5_K_M, FT_Q5_K_M },
    { "q5_1", QTF_GGML_Q5_1, FT_Q5_1, FT_Q5_1 },
    { "q5_0", QTF_GGML_Q5_0, FT_Q5_0, FT_Q5_0 },
    { "q4_k_m", QTF_GGML_Q4_K, FT_Q4_K_M, FT_Q4_K_M },
    { "q4_1", QTF_GGML_Q4_1, FT_Q4_1, FT_Q4_1 },
    { "q4_0", QTF_GGML_Q4_0, FT_Q4_0, FT_Q4_0 },
    { "q3_k_m", QTF_GGML_Q3_K, FT_Q3_K_M, FT_Q3_K_M },
    { "q2_k", QTF_GGML_Q2_K, FT_Q2_K, FT_Q2_K },
    { "iq4_xs", QTF_GGML_IQ4_XS, FT_IQ4_XS, FT_IQ4_XS },
    { "iq4_nl", QTF_GGML_IQ4_NL, FT_IQ4_NL, FT_IQ4_NL },
};

const qtfg_preset *qtfg_preset_find(const char *name) {
    for (size_t i = 0; name && i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

void qtfg_preset_names(char *buf, size_t cap) {
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof presets / sizeof presets[0] && o < cap; i++) {
        int n = snprintf(buf + o, cap - o, "%s%s", i ? " " : "", presets[i].name);
        if (n < 0) break;
        o += (size_t)n;
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int qtfg_is_quantizable(const qtfg_tensor *t) {
    uint32_t dims = t->n_dims;
    while (dims > 1 && t->ne[dims - 1] == 1) dims--;   /* ggml_n_dims */
    return dims >= 2 && ends_with(t->name, "weight") && !strstr(t->name, "_norm.weight");
}

uint32_t qtfg_fallback(uint32_t type, uint64_t ne0) {
    const qtf_ggml_type_info *tr = qtf_ggml_type_get(type);
    if (!tr || ne0 % tr->block_size == 0) return type;
    uint32_t fb;
    switch (type) {
    case QTF_GGML_IQ1_S: case QTF_GGML_IQ1_M: case QTF_GGML_IQ2_XXS: case QTF_GGML_IQ2_XS:
    case QTF_GGML_IQ2_S: case QTF_GGML_IQ3_XXS: case QTF_GGML_IQ3_S: case QTF_GGML_IQ4_XS:
        fb = QTF_GGML_IQ4_NL; break;
    case QTF_GGML_Q2_K: case QTF_GGML_Q3_K: case QTF_GGML_TQ1_0: case QTF_GGML_TQ2_0:
        fb = QTF_GGML_Q4_0; break;
    case QTF_GGML_Q4_K: fb = QTF_GGML_Q5_0; break;
    case QTF_GGML_Q5_K: fb = QTF_GGML_Q5_1; break;
    case QTF_GGML_Q6_K: fb = QTF_GGML_Q8_0; break;
    /* llama-quantize has no fallback for the 32-blocks (it stops); F16 is
     * what it uses when a fallback does not fit either. */
    default: fb = QTF_GGML_F16; break;
    }
    tr = qtf_ggml_type_get(fb);
    return ne0 % tr->block_size == 0 ? fb : QTF_GGML_F16;
}

static void lower(char *dst, size_t cap, const char *s) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) dst[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    dst[i] = '\0';
}

static int push_rule(qtfg_recipe *r, const char *glob, size_t glob_len, uint32_t type,
                     const char *note) {
    qtfg_rule *n = realloc(r->rules, (r->n_rules + 1) * sizeof *n);
    if (!n) return -1;
    r->rules = n;
    qtfg_rule *x = &r->rules[r->n_rules];
    x->glob = strndup(glob, glob_len);
    x->note = strdup(note);
    x->type = type;
    if (!x->glob || !x->note) {
        free(x->glob);
        free(x->note);
        return -1;
    }
    r->n_rules++;
    return 0;
}

int qtfg_recipe_add_rule(qtfg_recipe *r, const char *text, const char *origin, char *err,
                         size_t err_cap) {
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || !eq[1]) {
        snprintf(err, err_cap, "%s: expected GLOB=TYPE, found '%s'", origin, text);
        return -1;
    }
    uint32_t type;
    if (qtf_ggml_type_from_name(&type, eq + 1) != QTF_OK) {
        snprintf(err, err_cap, "%s: '%s' is not a ggml type (f32, f16, bf16, q8_0, q4_0, "
                 "q4_1, q5_0, q5_1, q2_k .. q6_k, iq4_nl, iq4_xs, ...)", origin, eq + 1);
        return -1;
    }
    if (r->n_rules != r->n_user) {
        snprintf(err, err_cap, "%s: user rules must come before the preset", origin);
        return -1;
    }
    if (push_rule(r, text, (size_t)(eq - text), type, origin) != 0) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    r->n_user++;
    return 0;
}

/* llama-quantize's use_more_bits(i_layer, n_layers). */
static int use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int layer_of(const char *name) {
    int layer = -1;
    if (sscanf(name, "blk.%d.", &layer) != 1) return -1;
    return layer;
}

/* llama_tensor_get_type_impl for the non-MoE, non-Falcon, non-70B models
 * QTF converts, with the preset's mixture ftype. Returns the type before the
 * block fallback and a short reason. */
static uint32_t mixture_type(const qtfg_preset *p, const qtfg_model *m, const qtfg_tensor *t,
                             int has_output, char *why, size_t why_cap) {
    const char *n = t->name;
    uint32_t type = p->base;
    int ft = p->mixture, gqa4 = m->n_head_kv && m->n_head / m->n_head_kv >= 4;
    int layer = layer_of(n), nl = (int)m->n_layer;
    snprintf(why, why_cap, "%s base type", p->name);
    if (strcmp(n, "output.weight") == 0 || (!has_output && strcmp(n, "token_embd.weight") == 0)) {
        const qtf_ggml_type_info *tr = qtf_ggml_type_get(p->base);
        if (t->ne[0] % tr->block_size != 0) type = QTF_GGML_Q8_0;
        else if (type != QTF_GGML_Q8_0) type = QTF_GGML_Q6_K;
        snprintf(why, why_cap, "output head%s: llama-quantize's output type",
                 has_output ? "" : " (tied token embedding)");
        return type;
    }
    if (strcmp(n, "token_embd.weight") == 0) return type;
    if (strstr(n, "attn_v.weight")) {
        if (ft == FT_Q2_K) type = gqa4 ? QTF_GGML_Q4_K : QTF_GGML_Q3_K;
        else if (ft == FT_Q3_K_M) type = layer < 2 ? QTF_GGML_Q5_K : QTF_GGML_Q4_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && gqa4) type = QTF_GGML_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(layer, nl))
            type = QTF_GGML_Q6_K;
        if (type != p->base) snprintf(why, why_cap, "attn_v of layer %d/%d", layer, nl);
        return type;
    }
    if (strstr(n, "ffn_down")) {
        if (ft == FT_Q2_K) type = QTF_GGML_Q3_K;
        else if (ft == FT_Q3_K_M) type = layer < nl / 16 ? QTF_GGML_Q5_K : QTF_GGML_Q4_K;
        else if (ft == FT_Q4_K_M) { if (use_more_bits(layer, nl)) type = QTF_GGML_Q6_K; }
        else if (layer < nl / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS) && !m->has_imatrix)
            type = QTF_GGML_Q5_K;
        else if (ft == FT_Q5_K_M && use_more_bits(layer, nl)) type = QTF_GGML_Q6_K;
        else if ((ft == FT_Q4_0 || ft == FT_Q5_0) && m->has_imatrix && layer < nl / 8)
            type = ft == FT_Q4_0 ? QTF_GGML_Q4_1 : QTF_GGML_Q5_1;
        if (type != p->base) snprintf(why, why_cap, "ffn_down of layer %d/%d", layer, nl);
        return type;
    }
    if (strstr(n, "attn_output.weight")) {
        if (ft == FT_Q2_K) type = QTF_GGML_Q3_K;
        else if (ft == FT_Q3_K_M) type = QTF_GGML_Q4_K;
        if (type != p->base) snprintf(why, why_cap, "attn_output");
    }
    return type;
}

static int is_quantized_type(uint32_t t) {
    const qtf_ggml_type_info *tr = qtf_ggml_type_get(t);
    return tr && tr->quantized;
}

int qtfg_recipe_build(qtfg_recipe *r, const qtfg_preset *p, int pure, const qtfg_model *m,
                      char *err, size_t err_cap) {
    r->preset = p;
    r->pure = pure;
    int has_output = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, "output.weight") == 0) has_output = 1;
    /* llama-quantize applies its mixture only to quantized base types; F16,
     * BF16 and F32 files get the base type for every quantizable tensor. */
    if (!pure && is_quantized_type(p->base)) {
        for (size_t i = 0; i < m->n_tensors; i++) {
            const qtfg_tensor *t = &m->tensors[i];
            if (!qtfg_is_quantizable(t)) continue;
            char why[128];
            uint32_t type = mixture_type(p, m, t, has_output, why, sizeof why);
            if (type == p->base) continue;
            if (push_rule(r, t->name, strlen(t->name), type, why) != 0) goto oom;
        }
    }
    char note[96];
    snprintf(note, sizeof note, "%s%s: every other quantizable tensor", p->name,
             pure ? " --pure" : "");
    if (push_rule(r, "*", 1, p->base, note) != 0) goto oom;
    return 0;
oom:
    snprintf(err, err_cap, "out of memory");
    return -1;
}

void qtfg_recipe_free(qtfg_recipe *r) {
    for (size_t i = 0; i < r->n_rules; i++) {
        free(r->rules[i].glob);
        free(r->rules[i].note);
    }
    free(r->rules);
    memset(r, 0, sizeof *r);
}

const char QTFG_NOT_QUANTIZED[] = "not quantized (1-D, norm or not a weight)";

uint32_t qtfg_recipe_choose(const qtfg_recipe *r, const qtfg_tensor *t, const char **why,
                            int *fell_back) {
    *fell_back = 0;
    for (size_t i = 0; i < r->n_rules; i++) {
        /* User rules apply to any tensor they name; the preset's only to
         * tensors llama-quantize quantizes. */
        if (i >= r->n_user && !qtfg_is_quantizable(t)) break;
        if (fnmatch(r->rules[i].glob, t->name, 0) != 0) continue;
        *why = r->rules[i].note;
        uint32_t type = qtfg_fallback(r->rules[i].type, t->ne[0]);
        *fell_back = type != r->rules[i].type;
        return type;
    }
    *why = QTFG_NOT_QUANTIZED;
    return QTF_GGML_F32;
}

char *qtfg_recipe_describe(const qtfg_recipe *r) {
    size_t cap = 512;
    for (size_t i = 0; i < r->n_rules; i++)
        cap += strlen(r->rules[i].glob) + strlen(r->rules[i].note) + 32;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t o = 0;
    o += (size_t)snprintf(s + o, cap - o,
                          "# GGUF recipe: preset %s%s (general.file_type %u); first matching "
                          "rule wins;\n# tensors llama-quantize never quantizes (1-D, norms) "
                          "stay F32 unless a --rule names them;\n# a type whose block does "
                          "not divide the row falls back as llama-quantize does\n",
                          r->preset ? r->preset->name : "(none)", r->pure ? " --pure" : "",
                          r->preset ? r->preset->file_type : 0);
    for (size_t i = 0; i < r->n_rules; i++) {
        char t[16];
        lower(t, sizeof t, qtf_ggml_type_get(r->rules[i].type)->name);
        o += (size_t)snprintf(s + o, cap - o, "%s=%s  # %s\n", r->rules[i].glob, t,
                              r->rules[i].note);
    }
    return s;
}
