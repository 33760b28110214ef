/* convert/gguf_recipe.h — which ggml type each tensor of a GGUF output gets.
 *
 * A preset names a llama-quantize file type (q8_0, q4_k_m, ...). Its
 * mixture is llama-quantize's llama_tensor_get_type for the same model:
 * the output head (or the token embedding when it is tied to the output)
 * gets Q6_K (Q8_0 when its rows do not fit the base type's block), attn_v
 * and ffn_down get more bits on the layers use_more_bits() picks, and so
 * on; with `pure` every quantizable tensor gets the base type. Tensors
 * llama-quantize never quantizes (1-D, norms, names not ending in
 * "weight") stay F32. A type whose block does not divide the row length
 * falls back as llama-quantize does (Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0,
 * Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL; F16 when the fallback
 * does not fit either).
 *
 * The choice is expressed as a recipe: ordered rules GLOB=TYPE matched
 * against the GGUF tensor name (first match wins), --rule ones first. The
 * text of the recipe (qtfg_recipe_describe) is what --dry-run shows and
 * what the output records as qtf.recipe. */
#ifndef QTF_CONVERT_GGUF_RECIPE_H
#define QTF_CONVERT_GGUF_RECIPE_H

#include <stddef.h>
#include <stdint.h>

/* A file type preset. */
typedef struct qtfg_preset {
    const char *name;           /* "q4_k_m" */
    uint32_t base;              /* default ggml type */
    uint32_t file_type;         /* general.file_type (llama_ftype) */
    int mixture;                /* llama_ftype id the mixture logic keys on */
} qtfg_preset;

/* NULL when unknown; the list of names for messages via qtfg_preset_names. */
const qtfg_preset *qtfg_preset_find(const char *name);
void qtfg_preset_names(char *buf, size_t cap);

typedef struct qtfg_rule {
    char *glob;
    uint32_t type;
    char *note;                 /* "--rule 1" or why the preset chose it */
} qtfg_rule;

typedef struct qtfg_recipe {
    const qtfg_preset *preset;
    int pure;
    qtfg_rule *rules;           /* user rules first, then the preset's */
    size_t n_rules, n_user;
} qtfg_recipe;

/* What the recipe needs to know about each tensor of the model. */
typedef struct qtfg_tensor {
    const char *name;           /* GGUF name */
    uint32_t n_dims;
    uint64_t ne[4];             /* GGUF order, ne[0] = row length */
} qtfg_tensor;

typedef struct qtfg_model {
    uint32_t n_layer;
    uint32_t n_head, n_head_kv;
    const qtfg_tensor *tensors;
    size_t n_tensors;
    int has_imatrix;            /* an importance matrix is given (--importance) */
} qtfg_model;

/* Adds a user rule "GLOB=TYPE" (TYPE a ggml type name such as q6_k, f16).
 * Returns 0, or -1 with a message in err. */
int qtfg_recipe_add_rule(qtfg_recipe *r, const char *text, const char *origin, char *err,
                         size_t err_cap);
/* Appends the preset's rules for this model (after the user rules). */
int qtfg_recipe_build(qtfg_recipe *r, const qtfg_preset *p, int pure, const qtfg_model *m,
                      char *err, size_t err_cap);
void qtfg_recipe_free(qtfg_recipe *r);

/* The `why` of qtfg_recipe_choose when no rule names the tensor. */
extern const char QTFG_NOT_QUANTIZED[];

/* The type of one tensor: the first matching rule, else F32 for tensors
 * that are never quantized; then the block fallback. *why receives the
 * rule note or "not quantized"; *fell_back 1 when the fallback applied. */
uint32_t qtfg_recipe_choose(const qtfg_recipe *r, const qtfg_tensor *t, const char **why,
                            int *fell_back);

/* The recipe as text (comment header, then one GLOB=TYPE line per rule).
 * malloc'd; NULL on OOM. */
char *qtfg_recipe_describe(const qtfg_recipe *r);

/* 1 when llama-quantize would quantize this tensor (2-D or more, name ends
 * in "weight", not a norm). */
int qtfg_is_quantizable(const qtfg_tensor *t);

/* The fallback llama-quantize applies when `type`'s block does not divide
 * ne0 (returns `type` when it does). */
uint32_t qtfg_fallback(uint32_t type, uint64_t ne0);

#endif
