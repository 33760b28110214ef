/* libFuzzer target: the tokenizer parsers of the GGUF writer
 * (checkpoint/gguf_vocab.h) on hostile bytes. The first byte picks the
 * parser (SentencePiece tokenizer.model, llama2.c tok512.bin or
 * tokenizer.json); a fixed config.json supplies vocab_size and the special
 * ids. Whatever is accepted must be consistent and serialize through the
 * GGUF writer's key setters into a file under /dev/null's directory. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checkpoint/gguf_vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char config[] = "{\"vocab_size\": 40, \"bos_token_id\": 1, \"eos_token_id\": 2}";
    qtf_vocab_files f;
    memset(&f, 0, sizeof f);
    f.config = config;
    f.config_len = sizeof config - 1;
    switch (data[0] % 3) {
    case 0: f.spm = data + 1; f.spm_len = size - 1; break;
    case 1: f.llama2c = data + 1; f.llama2c_len = size - 1; break;
    default: f.tokenizer_json = data + 1; f.tokenizer_json_len = size - 1; break;
    }
    qtf_vocab v;
    if (qtf_vocab_load(&v, &f, "fuzz") != QTF_OK) return 0;
    if (v.n_tokens == 0) __builtin_trap();
    for (uint64_t i = 0; i < v.n_tokens; i++) {
        if (!v.tokens[i] || strlen(v.tokens[i]) > v.token_lens[i]) __builtin_trap();
        if (v.types[i] < QTF_TOKEN_NORMAL || v.types[i] > QTF_TOKEN_BYTE) __builtin_trap();
    }
    for (int k = 0; k < QTF_VOCAB_N_SPECIAL; k++)
        if (v.special[k] >= (int64_t)v.n_tokens) __builtin_trap();
    qtf_gguf_writer *w;
    if (qtf_gguf_writer_create(&w, "/tmp/qtf-fuzz-vocab.gguf", NULL) == QTF_OK) {
        qtf_status st = qtf_vocab_write_gguf(&v, w);
        /* Every accepted token is valid UTF-8, so the writer takes them all. */
        if (st != QTF_OK && st != QTF_E_NOMEM) __builtin_trap();
        qtf_gguf_writer_abort(w);
    }
    qtf_vocab_free(&v);
    return 0;
}
