/* cli/recipe.h — which encoding each tensor of a checkpoint gets.
 *
 * A recipe is an ordered list of rules GLOB=SPEC (first match wins; fnmatch
 * without FNM_PATHNAME, so '*' also matches '.'), a default encoding for
 * weight matrices, an optional fallback for tensors an encoding cannot
 * apply to, and the default policy:
 *   1. integer and bool tensors are always stored as they are (lossless);
 *   2. the first rule whose glob matches the tensor name decides;
 *   3. 1-D tensors (norms, biases) and tensors under QTFC_SMALL_ELEMENTS
 *      elements keep their source type;
 *   4. embeddings and the output head (QTFC_EMBEDDING_GLOBS) get int8 when
 *      the default encoding is narrower than 8 bits, unless all_layers;
 *   5. everything else gets the default encoding.
 * SPEC is an encoding text (qtf_encoding_parse) or `keep`: the source dtype
 * unchanged (f32/f16/bf16 for float sources, RAW for the others), or
 * `keep:zstd[=N]`, the same with its bytes zstd-compressed. */
#ifndef QTF_CONVERT_RECIPE_H
#define QTF_CONVERT_RECIPE_H

#include <stddef.h>
#include <stdint.h>

#include "qtf.h"

#define QTFC_SMALL_ELEMENTS 4096u
#define QTFC_DEFAULT_ENCODING "int8"
#define QTFC_EMBEDDING_ENCODING "int8"
/* Names of input embeddings and output heads across common architectures. */
#define QTFC_EMBEDDING_GLOBS "*embed_tokens*", "*wte*", "*wpe*", "*lm_head*", \
                             "*embed_out*", "*word_embeddings*"

/* An encoding as written in a recipe: either `keep` or a parsed encoding. */
typedef struct qtfc_spec {
    int keep;
    qtf_encoding enc;           /* valid when !keep; for keep only zstd_level */
    char text[96];              /* canonical text, "keep" or "keep:zstd=N" */
} qtfc_spec;

typedef struct qtfc_rule {
    char *glob;
    qtfc_spec spec;
    char *origin;               /* "--rule 2" or "file.txt:7", for messages */
} qtfc_rule;

typedef struct qtfc_recipe {
    qtfc_rule *rules;
    size_t n_rules, cap_rules;
    qtfc_spec default_spec;
    int has_fallback;
    qtfc_spec fallback;
    int all_layers;
} qtfc_recipe;

/* Why a tensor got its encoding (qtfc_reason_name gives a short word). */
typedef enum qtfc_reason {
    QTFC_WHY_INTEGER = 0,       /* integer/bool source: always kept */
    QTFC_WHY_RULE,
    QTFC_WHY_ONE_DIM,
    QTFC_WHY_SMALL,
    QTFC_WHY_EMBEDDING,
    QTFC_WHY_DEFAULT
} qtfc_reason;

typedef struct qtfc_choice {
    qtf_encoding enc;           /* fully resolved (keep already turned into a type) */
    qtfc_reason why;
    long rule;                  /* index into rules when why == RULE, else -1 */
    int fell_back;              /* 1: the chosen spec could not apply, fallback used */
    char fallback_note[1024];    /* why the fallback was needed */
} qtfc_choice;

/* Initialises with the default encoding QTFC_DEFAULT_ENCODING, no rules, no
 * fallback. Never fails. */
void qtfc_recipe_init(qtfc_recipe *r);
void qtfc_recipe_free(qtfc_recipe *r);

/* Parses SPEC ("keep", "keep:zstd[=N]" or an encoding text). Returns 0, or -1 with a message
 * in err. */
int qtfc_spec_parse(qtfc_spec *out, const char *text, char *err, size_t err_cap);

/* Adds one rule "GLOB=SPEC" (split at the first '='; blanks around both
 * halves are ignored). `origin` names where it came from in messages.
 * Returns 0, or -1 with "origin: what is wrong" in err. */
int qtfc_recipe_add_rule(qtfc_recipe *r, const char *text, const char *origin,
                         char *err, size_t err_cap);

/* Adds the rules of a recipe file: one GLOB=SPEC per line, blank lines and
 * lines starting with '#' ignored. Errors name file:line. */
int qtfc_recipe_load_file(qtfc_recipe *r, const char *path, char *err, size_t err_cap);

/* Resolves `keep` for a source dtype: F32/F16/BF16 -> that float encoding,
 * anything else -> RAW of that type. */
void qtfc_keep_encoding(qtf_encoding *out, qtf_dtype source);

/* 1 for integer and bool dtypes (stored losslessly whatever the recipe). */
int qtfc_dtype_is_integer(qtf_dtype t);

/* 1 when `name` matches one of QTFC_EMBEDDING_GLOBS. */
int qtfc_is_embedding_name(const char *name);

/* Chooses the encoding for one tensor and checks that it applies to the
 * shape (qtf_encoding_layout); when it does not, uses the fallback if any.
 * Returns 0, or -1 with a message naming the tensor, the spec and where it
 * came from, and why it cannot apply. */
int qtfc_recipe_choose(qtfc_choice *out, const qtfc_recipe *r, const char *name,
                       qtf_dtype source, uint32_t n_dims, const uint64_t *dims,
                       char *err, size_t err_cap);

const char *qtfc_reason_name(qtfc_reason why);

/* The effective recipe as text (stored as qtf.recipe): a header comment,
 * the rules in order in canonical form (a valid --recipe file), then the
 * default, fallback and flags as comment lines. malloc'd; NULL on OOM. */
char *qtfc_recipe_describe(const qtfc_recipe *r);

#endif
