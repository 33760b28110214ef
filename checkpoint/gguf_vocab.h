/* checkpoint/gguf_vocab.h — a model's tokenizer as the tokenizer.ggml.* keys
 * of a GGUF file, built from the files a checkpoint ships:
 *   - SentencePiece tokenizer.model (protobuf) -> model "llama": pieces as
 *     they are (spaces already U+2581), scores, piece types;
 *   - llama2.c tok512.bin-style files (int32 max length, then per token
 *     f32 score, int32 length, bytes) -> model "llama": spaces as U+2581,
 *     control tokens stripped of the newlines llama2.c puts around them;
 *   - Hugging Face tokenizer.json with a BPE model -> model "gpt2": tokens
 *     by id, merges "a b", token types from added_tokens, and a
 *     pre-tokenizer name when the pre-tokenizer is one llama.cpp knows;
 * plus special token ids and add_bos/add_eos from tokenizer_config.json
 * (then config.json), and the chat template. */
#ifndef QTF_CHECKPOINT_GGUF_VOCAB_H
#define QTF_CHECKPOINT_GGUF_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "gguf_writer.h"

/* llama.cpp token types (llama_token_type / gguf TokenType). */
enum {
    QTF_TOKEN_NORMAL = 1,
    QTF_TOKEN_UNKNOWN = 2,
    QTF_TOKEN_CONTROL = 3,
    QTF_TOKEN_USER_DEFINED = 4,
    QTF_TOKEN_UNUSED = 5,
    QTF_TOKEN_BYTE = 6
};

/* Which special ids a vocabulary can carry, in the order they are written. */
enum { QTF_VOCAB_BOS, QTF_VOCAB_EOS, QTF_VOCAB_UNK, QTF_VOCAB_SEP, QTF_VOCAB_PAD,
       QTF_VOCAB_N_SPECIAL };

typedef struct qtf_vocab {
    const char *model;          /* "llama" or "gpt2" (static) */
    const char *pre;            /* tokenizer.ggml.pre (static) */
    const char *source;         /* file it came from (static name, for messages) */
    uint64_t n_tokens;
    char **tokens;              /* bytes, token_lens[i] long (NUL-terminated too) */
    uint64_t *token_lens;
    float *scores;              /* "llama" only, else NULL */
    int32_t *types;
    uint64_t n_merges;          /* "gpt2" only */
    char **merges;
    uint64_t *merge_lens;
    int64_t special[QTF_VOCAB_N_SPECIAL]; /* -1 when absent */
    int add_bos, add_eos;       /* -1 when unspecified, else 0/1 */
    char *chat_template;        /* NULL when none */
} qtf_vocab;

/* The contents of the tokenizer files found (any may be NULL). */
typedef struct qtf_vocab_files {
    const void *spm; size_t spm_len;                 /* tokenizer.model */
    const void *tokenizer_json; size_t tokenizer_json_len;
    const void *tokenizer_config; size_t tokenizer_config_len;
    const void *llama2c; size_t llama2c_len;         /* tok512.bin and the like */
    const void *config; size_t config_len;           /* config.json */
    int owned;                  /* 1: the buffers belong to this struct */
} qtf_vocab_files;

/* Reads those files from a model folder (a missing file stays NULL; each
 * at most 64 MiB, QTF_E_LIMIT otherwise). Free with qtf_vocab_files_free. */
qtf_status qtf_vocab_files_read_dir(qtf_vocab_files *out, const char *dir);
/* Frees what qtf_vocab_files_read_dir allocated (no-op for borrowed ones). */
void qtf_vocab_files_free(qtf_vocab_files *f);

/* Builds the vocabulary from the first usable source, in llama.cpp's order:
 * tokenizer.model, tokenizer.json (BPE), llama2.c. `origin` names the
 * checkpoint in messages. QTF_E_NOT_FOUND when there is none; QTF_E_PARSE,
 * QTF_E_VALUE or QTF_E_UNSUPPORTED (naming file and entry) when a file is
 * malformed or of a kind not supported (a non-BPE tokenizer.json). */
qtf_status qtf_vocab_load(qtf_vocab *out, const qtf_vocab_files *files, const char *origin);
void qtf_vocab_free(qtf_vocab *v);

/* Writes tokenizer.ggml.{model, pre, tokens, scores, token_type, merges,
 * special ids, add_bos/add_eos} and tokenizer.chat_template. */
qtf_status qtf_vocab_write_gguf(const qtf_vocab *v, qtf_gguf_writer *w);

#endif
