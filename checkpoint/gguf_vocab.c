/* checkpoint/gguf_vocab.c — tokenizer files -> tokenizer.ggml.* (see
 * gguf_vocab.h). Every length and count read from a file is checked
 * against the bytes that remain before anything is allocated from it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "gguf_vocab.h"
#include "common/common.h"
#include "source_internal.h"

#define MAX_TOKENS (1u << 24)   /* 16 M tokens: far above any real vocabulary */

static const char *const special_names[QTF_VOCAB_N_SPECIAL] = {
    "bos", "eos", "unk", "sep", "pad",
};
/* GGUF key suffixes of the special ids. */
static const char *const special_keys[QTF_VOCAB_N_SPECIAL] = {
    "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
    "tokenizer.ggml.padding_token_id",
};

void qtf_vocab_free(qtf_vocab *v) {
    if (!v) return;
    for (uint64_t i = 0; v->tokens && i < v->n_tokens; i++) free(v->tokens[i]);
    for (uint64_t i = 0; v->merges && i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->token_lens);
    free(v->scores);
    free(v->types);
    free(v->merges);
    free(v->merge_lens);
    free(v->chat_template);
    memset(v, 0, sizeof *v);
}

static void vocab_init(qtf_vocab *v) {
    memset(v, 0, sizeof *v);
    for (int i = 0; i < QTF_VOCAB_N_SPECIAL; i++) v->special[i] = -1;
    v->add_bos = v->add_eos = -1;
}

/* Allocates n token slots (and scores when with_scores). */
static qtf_status vocab_alloc(qtf_vocab *v, uint64_t n, int with_scores) {
    if (n == 0 || n > MAX_TOKENS)
        return qtf__error(QTF_E_LIMIT, "%s: %llu tokens (expected 1..%u)", v->source,
                          (unsigned long long)n, MAX_TOKENS);
    v->tokens = calloc((size_t)n, sizeof *v->tokens);
    v->token_lens = calloc((size_t)n, sizeof *v->token_lens);
    v->types = calloc((size_t)n, sizeof *v->types);
    if (with_scores) v->scores = calloc((size_t)n, sizeof *v->scores);
    if (!v->tokens || !v->token_lens || !v->types || (with_scores && !v->scores))
        return qtf__error(QTF_E_NOMEM, "out of memory");
    v->n_tokens = n;
    return QTF_OK;
}

static qtf_status set_token(qtf_vocab *v, uint64_t i, const void *s, size_t len) {
    char *t = malloc(len + 1);
    if (!t) return qtf__error(QTF_E_NOMEM, "out of memory");
    memcpy(t, s, len);
    t[len] = '\0';
    free(v->tokens[i]);
    v->tokens[i] = t;
    v->token_lens[i] = len;
    return QTF_OK;
}

/* Ids missing from a vocabulary (or beyond it, up to config's vocab_size)
 * become "[PADn]" UNUSED tokens, as llama.cpp's converter writes them. */
static qtf_status fill_missing(qtf_vocab *v, float score) {
    for (uint64_t i = 0; i < v->n_tokens; i++) {
        if (v->tokens[i]) continue;
        char pad[40];
        int n = snprintf(pad, sizeof pad, "[PAD%llu]", (unsigned long long)i);
        qtf_status st = set_token(v, i, pad, (size_t)n);
        if (st) return st;
        v->types[i] = QTF_TOKEN_UNUSED;
        if (v->scores) v->scores[i] = score;
    }
    return QTF_OK;
}

static int64_t find_token(const qtf_vocab *v, const char *s, size_t len) {
    for (uint64_t i = 0; i < v->n_tokens; i++)
        if (v->token_lens[i] == len && memcmp(v->tokens[i], s, len) == 0) return (int64_t)i;
    return -1;
}

/* config.json vocab_size, when larger than what the tokenizer file holds. */
static uint64_t config_vocab_size(json_t *config) {
    json_t *n = config ? json_object_get(config, "vocab_size") : NULL;
    return json_is_integer(n) && json_integer_value(n) > 0 &&
                   json_integer_value(n) <= (json_int_t)MAX_TOKENS
               ? (uint64_t)json_integer_value(n) : 0;
}

/* --- SentencePiece tokenizer.model ---------------------------------------- */

typedef struct pb {
    const unsigned char *p, *end;
} pb;

static int pb_varint(pb *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return 0;
        unsigned char c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* Reads one field: key and, for length-delimited fields, the sub-range; for
 * others the value (fixed32/64 as raw bits). */
static int pb_field(pb *b, uint32_t *field, uint32_t *wire, uint64_t *value, pb *sub) {
    uint64_t key;
    if (!pb_varint(b, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX) return 0;
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(b, value);
    case 1:
        if (b->end - b->p < 8) return 0;
        *value = qtf__ld64(b->p);
        b->p += 8;
        return 1;
    case 5:
        if (b->end - b->p < 4) return 0;
        *value = qtf__ld32(b->p);
        b->p += 4;
        return 1;
    case 2:
        if (!pb_varint(b, value) || *value > (uint64_t)(b->end - b->p)) return 0;
        sub->p = b->p;
        sub->end = b->p + *value;
        b->p += *value;
        return 1;
    default: return 0;
    }
}

static qtf_status load_spm(qtf_vocab *v, const unsigned char *data, size_t len, json_t *config) {
    v->source = "tokenizer.model";
    v->model = "llama";
    v->pre = "default";
    /* Pass 1: count pieces (field 1 of ModelProto). */
    pb b = { data, data + len }, sub;
    uint32_t field, wire;
    uint64_t value, n = 0;
    int64_t ids[4] = { 0, 1, 2, -1 };   /* trainer_spec unk, bos, eos, pad defaults */
    while (b.p < b.end) {
        if (!pb_field(&b, &field, &wire, &value, &sub))
            return qtf__error(QTF_E_PARSE, "tokenizer.model: malformed protobuf at byte %zu",
                              (size_t)(b.p - data));
        if (field == 1 && wire == 2) n++;
        if (field == 2 && wire == 2) {  /* TrainerSpec: unk_id 40, bos 41, eos 42, pad 43 */
            pb t = sub, s2;
            while (t.p < t.end) {
                if (!pb_field(&t, &field, &wire, &value, &s2))
                    return qtf__error(QTF_E_PARSE, "tokenizer.model: malformed trainer_spec");
                if (wire == 0 && field >= 40 && field <= 43) ids[field - 40] = (int32_t)value;
            }
        }
    }
    uint64_t total = n, cfg = config_vocab_size(config);
    if (cfg > total) total = cfg;
    qtf_status st = vocab_alloc(v, total, 1);
    if (st) return st;
    b.p = data;
    uint64_t i = 0;
    while (b.p < b.end && !st) {
        pb_field(&b, &field, &wire, &value, &sub);
        if (field != 1 || wire != 2) continue;
        const unsigned char *piece = NULL;
        uint64_t piece_len = 0;
        float score = 0.0f;
        int32_t type = QTF_TOKEN_NORMAL;
        pb p = sub, s2;
        while (p.p < p.end) {
            if (!pb_field(&p, &field, &wire, &value, &s2))
                return qtf__error(QTF_E_PARSE, "tokenizer.model: piece %llu is malformed",
                                  (unsigned long long)i);
            if (field == 1 && wire == 2) { piece = s2.p; piece_len = value; }
            else if (field == 2 && wire == 5) {
                uint32_t bits = (uint32_t)value;
                memcpy(&score, &bits, 4);
            }
            else if (field == 3 && wire == 0) type = (int32_t)value;
        }
        if (!piece || !qtf__utf8_check(piece, (size_t)piece_len, NULL))
            return qtf__error(QTF_E_VALUE, "tokenizer.model: piece %llu has no valid UTF-8 "
                              "text", (unsigned long long)i);
        if (type < QTF_TOKEN_NORMAL || type > QTF_TOKEN_BYTE)
            return qtf__error(QTF_E_VALUE, "tokenizer.model: piece %llu has type %d (expected "
                              "1..6)", (unsigned long long)i, type);
        st = set_token(v, i, piece, (size_t)piece_len);
        v->scores[i] = score;
        v->types[i] = type;
        i++;
    }
    if (st) return st;
    const int map[4] = { QTF_VOCAB_UNK, QTF_VOCAB_BOS, QTF_VOCAB_EOS, QTF_VOCAB_PAD };
    for (int k = 0; k < 4; k++)
        if (ids[k] >= 0 && (uint64_t)ids[k] < n) v->special[map[k]] = ids[k];
    return fill_missing(v, -1000.0f);
}

/* --- llama2.c tokenizer ----------------------------------------------------- */

static qtf_status load_llama2c(qtf_vocab *v, const unsigned char *data, size_t len,
                               json_t *config) {
    v->source = "tok512.bin";
    v->model = "llama";
    v->pre = "default";
    uint64_t n = config_vocab_size(config);
    if (n == 0)
        return qtf__error(QTF_E_VALUE, "tok512.bin: the token count comes from config.json "
                          "vocab_size, which is missing");
    if (len < 4) return qtf__error(QTF_E_TRUNCATED, "tok512.bin: %zu bytes, no header", len);
    /* Each token takes at least 8 bytes: refuse a count the file cannot hold. */
    if (n > (len - 4) / 8)
        return qtf__error(QTF_E_TRUNCATED, "tok512.bin: %zu bytes cannot hold vocab_size %llu "
                          "tokens", len, (unsigned long long)n);
    int64_t bos = -1, eos = -1;
    json_t *b = config ? json_object_get(config, "bos_token_id") : NULL;
    json_t *e = config ? json_object_get(config, "eos_token_id") : NULL;
    if (json_is_integer(b)) bos = json_integer_value(b);
    if (json_is_integer(e)) eos = json_integer_value(e);
    qtf_status st = vocab_alloc(v, n, 1);
    if (st) return st;
    size_t off = 4;
    for (uint64_t i = 0; i < n; i++) {
        if (len - off < 8)
            return qtf__error(QTF_E_TRUNCATED, "tok512.bin: token %llu at byte %zu: file ends",
                              (unsigned long long)i, off);
        uint32_t bits = qtf__ld32(data + off), tlen = qtf__ld32(data + off + 4);
        off += 8;
        if (tlen > len - off)
            return qtf__error(QTF_E_TRUNCATED, "tok512.bin: token %llu at byte %zu: length %u "
                              "runs past the end (%zu bytes left)", (unsigned long long)i,
                              off - 4, tlen, len - off);
        const unsigned char *t = data + off;
        off += tlen;
        memcpy(&v->scores[i], &bits, 4);
        int32_t type = QTF_TOKEN_NORMAL;
        if ((int64_t)i == bos || (int64_t)i == eos) {
            type = QTF_TOKEN_CONTROL;
            /* llama2.c writes "\n<s>\n": the token itself has no newlines. */
            while (tlen && (*t == '\n' || *t == ' ')) { t++; tlen--; }
            while (tlen && (t[tlen - 1] == '\n' || t[tlen - 1] == ' ')) tlen--;
        } else if (tlen == 5 && memcmp(t, "<unk>", 5) == 0) {
            type = QTF_TOKEN_UNKNOWN;
            v->special[QTF_VOCAB_UNK] = (int64_t)i;
        } else if (tlen == 6 && memcmp(t, "<0x", 3) == 0 && t[5] == '>') {
            type = QTF_TOKEN_BYTE;
        }
        if (!qtf__utf8_check(t, tlen, NULL))
            return qtf__error(QTF_E_UTF8, "tok512.bin: token %llu is not valid UTF-8",
                              (unsigned long long)i);
        /* Spaces as U+2581 (SentencePiece's visible space). */
        size_t spaces = 0;
        for (uint32_t k = 0; k < tlen; k++) spaces += t[k] == ' ';
        char *s = malloc(tlen + 2 * spaces + 1);
        if (!s) return qtf__error(QTF_E_NOMEM, "out of memory");
        size_t o = 0;
        for (uint32_t k = 0; k < tlen; k++) {
            if (t[k] == ' ') { s[o++] = '\xe2'; s[o++] = '\x96'; s[o++] = '\x81'; }
            else s[o++] = (char)t[k];
        }
        s[o] = '\0';
        v->tokens[i] = s;
        v->token_lens[i] = o;
        v->types[i] = type;
    }
    if (bos >= 0 && (uint64_t)bos < n) v->special[QTF_VOCAB_BOS] = bos;
    if (eos >= 0 && (uint64_t)eos < n) v->special[QTF_VOCAB_EOS] = eos;
    return QTF_OK;
}

/* --- tokenizer.json (BPE) --------------------------------------------------- */

/* llama.cpp names pre-tokenizers by hashing what they produce; without
 * running the tokenizer we recognise the configurations whose JSON is
 * unambiguous. NULL when not recognised. */
static const char *recognise_pre(json_t *tok) {
    json_t *pre = json_object_get(tok, "pre_tokenizer");
    if (!json_is_object(pre)) return NULL;
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (!type) return NULL;
    if (strcmp(type, "ByteLevel") == 0) {
        json_t *regex = json_object_get(pre, "use_regex");
        json_t *prefix = json_object_get(pre, "add_prefix_space");
        if ((!regex || json_is_true(regex)) && (!prefix || json_is_false(prefix)))
            return "gpt-2";
        return NULL;
    }
    if (strcmp(type, "Sequence") != 0) return NULL;
    /* Split(regex) + ByteLevel(use_regex=false): name the known regexes. */
    static const struct { const char *start, *name; } known[] = {
        { "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}", "llama-bpe" },
        { "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|", "qwen2" },
    };
    json_t *list = json_object_get(pre, "pretokenizers");
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        json_t *pattern = json_object_get(json_object_get(item, "pattern"), "Regex");
        const char *re = json_string_value(pattern);
        if (!re) continue;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strncmp(re, known[k].start, strlen(known[k].start)) == 0) return known[k].name;
    }
    return NULL;
}

/* "<|...|>" and "<...>" spellings llama.cpp's converter treats as control. */
static int looks_special(const char *s, size_t len) {
    return len >= 4 && ((memcmp(s, "<|", 2) == 0 && memcmp(s + len - 2, "|>", 2) == 0) ||
                        (s[0] == '<' && s[len - 1] == '>' && strchr(s, ' ') == NULL &&
                         (strcmp(s, "<pad>") == 0 || strcmp(s, "<mask>") == 0 ||
                          strcmp(s, "<s>") == 0 || strcmp(s, "</s>") == 0 ||
                          strcmp(s, "<unk>") == 0)));
}

static qtf_status load_bpe(qtf_vocab *v, json_t *tok, json_t *config) {
    v->source = "tokenizer.json";
    v->model = "gpt2";
    json_t *model = json_object_get(tok, "model");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!mtype || strcmp(mtype, "BPE") != 0)
        return qtf__error(QTF_E_UNSUPPORTED, "tokenizer.json: model type '%s' is not supported "
                          "(only BPE is)", mtype ? mtype : "(none)");
    v->pre = recognise_pre(tok);
    if (!v->pre)
        return qtf__error(QTF_E_UNSUPPORTED, "tokenizer.json: pre_tokenizer is not one QTF "
                          "recognises (ByteLevel as GPT-2, or the Llama 3 / Qwen2 Split "
                          "regexes); llama.cpp would not tokenize it correctly");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *added = json_object_get(tok, "added_tokens");
    if (!json_is_object(vocab))
        return qtf__error(QTF_E_VALUE, "tokenizer.json: model.vocab is not an object");
    uint64_t n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) >= (json_int_t)MAX_TOKENS)
            return qtf__error(QTF_E_VALUE, "tokenizer.json: model.vocab['%.100s'] is not an id "
                              "0..%u", key, MAX_TOKENS - 1);
        if ((uint64_t)json_integer_value(val) + 1 > n) n = (uint64_t)json_integer_value(val) + 1;
    }
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= (json_int_t)MAX_TOKENS ||
            !json_is_string(json_object_get(a, "content")))
            return qtf__error(QTF_E_VALUE, "tokenizer.json: added_tokens[%zu] has no valid id "
                              "and content", i);
        if ((uint64_t)json_integer_value(id) + 1 > n) n = (uint64_t)json_integer_value(id) + 1;
    }
    /* Every id below vocab_size, which is config.json's or else the number
     * of tokens listed (llama.cpp's converter asserts the same): the holes
     * become [PADn] tokens, so an unchecked id of 13 million in a
     * 300-byte file made 13 million of them (fuzz_vocab: 10 s under ASan).
     * Memory stays proportional to the larger of the file and vocab_size. */
    uint64_t cfg = config_vocab_size(config);
    uint64_t listed = (uint64_t)json_object_size(vocab) + (uint64_t)json_array_size(added);
    uint64_t limit = cfg > listed ? cfg : listed;
    if (n > limit)
        return qtf__error(QTF_E_VALUE, "tokenizer.json: token id %llu is beyond the vocabulary "
                          "(expected ids below %llu: config.json's vocab_size %llu, %llu "
                          "tokens listed)", (unsigned long long)(n - 1),
                          (unsigned long long)limit, (unsigned long long)cfg,
                          (unsigned long long)listed);
    if (cfg > n) n = cfg;
    qtf_status st = vocab_alloc(v, n, 0);
    if (st) return st;
    json_object_foreach(vocab, key, val) {
        uint64_t id = (uint64_t)json_integer_value(val);
        if (v->tokens[id])
            return qtf__error(QTF_E_DUPLICATE, "tokenizer.json: id %llu given to two tokens",
                              (unsigned long long)id);
        if ((st = set_token(v, id, key, strlen(key)))) return st;
        v->types[id] = QTF_TOKEN_NORMAL;
    }
    json_array_foreach(added, i, a) {
        uint64_t id = (uint64_t)json_integer_value(json_object_get(a, "id"));
        json_t *c = json_object_get(a, "content");
        const char *s = json_string_value(c);
        size_t len = json_string_length(c);
        if ((st = set_token(v, id, s, len))) return st;
        v->types[id] = json_is_true(json_object_get(a, "special")) || looks_special(s, len)
                           ? QTF_TOKEN_CONTROL : QTF_TOKEN_USER_DEFINED;
    }
    if ((st = fill_missing(v, 0.0f))) return st;
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_array(merges))
        return qtf__error(QTF_E_VALUE, "tokenizer.json: model.merges is not an array");
    size_t nm = json_array_size(merges);
    v->merges = calloc(nm ? nm : 1, sizeof *v->merges);
    v->merge_lens = calloc(nm ? nm : 1, sizeof *v->merge_lens);
    if (!v->merges || !v->merge_lens) return qtf__error(QTF_E_NOMEM, "out of memory");
    json_array_foreach(merges, i, a) {
        /* "a b" (older files) or ["a", "b"] (tokenizers >= 0.20). */
        const char *l = NULL, *r = NULL;
        size_t ll = 0, rl = 0;
        if (json_is_string(a)) {
            const char *s = json_string_value(a);
            const char *sp = strchr(s, ' ');
            if (sp) { l = s; ll = (size_t)(sp - s); r = sp + 1; rl = strlen(r); }
        } else if (json_is_array(a) && json_array_size(a) == 2 &&
                   json_is_string(json_array_get(a, 0)) && json_is_string(json_array_get(a, 1))) {
            l = json_string_value(json_array_get(a, 0));
            ll = json_string_length(json_array_get(a, 0));
            r = json_string_value(json_array_get(a, 1));
            rl = json_string_length(json_array_get(a, 1));
        }
        if (!l) return qtf__error(QTF_E_VALUE, "tokenizer.json: merges[%zu] is neither \"a b\" "
                                  "nor [\"a\", \"b\"]", i);
        char *m = malloc(ll + rl + 2);
        if (!m) return qtf__error(QTF_E_NOMEM, "out of memory");
        memcpy(m, l, ll);
        m[ll] = ' ';
        memcpy(m + ll + 1, r, rl);
        m[ll + rl + 1] = '\0';
        v->merges[i] = m;
        v->merge_lens[i] = ll + rl + 1;
        v->n_merges = i + 1;
    }
    return QTF_OK;
}

/* --- special tokens, chat template ----------------------------------------- */

static json_t *parse_json(const void *data, size_t len, const char *file, size_t flags,
                          qtf_status *st) {
    json_error_t e;
    json_t *j = json_loadb(data, len, flags, &e);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        *st = qtf__error(QTF_E_PARSE, "%s: not a JSON object (line %d: %s)", file, e.line,
                         e.text);
        return NULL;
    }
    return j;
}

/* tokenizer_config.json names special tokens by text ("<s>" or {"content"}),
 * config.json by id; llama.cpp's converter prefers the former. */
static void set_specials(qtf_vocab *v, json_t *tcfg, json_t *config) {
    for (int k = 0; k < QTF_VOCAB_N_SPECIAL; k++) {
        char field[32];
        snprintf(field, sizeof field, "%s_token", special_names[k]);
        json_t *t = tcfg ? json_object_get(tcfg, field) : NULL;
        if (json_is_object(t)) t = json_object_get(t, "content");
        if (json_is_string(t)) {
            int64_t id = find_token(v, json_string_value(t), json_string_length(t));
            if (id >= 0) {
                v->special[k] = id;
                continue;
            }
        }
        snprintf(field, sizeof field, "%s_token_id", special_names[k]);
        json_t *n = config ? json_object_get(config, field) : NULL;
        if (json_is_integer(n) && json_integer_value(n) >= 0 &&
            (uint64_t)json_integer_value(n) < v->n_tokens)
            v->special[k] = json_integer_value(n);
    }
    json_t *b = tcfg ? json_object_get(tcfg, "add_bos_token") : NULL;
    json_t *e = tcfg ? json_object_get(tcfg, "add_eos_token") : NULL;
    if (json_is_boolean(b)) v->add_bos = json_is_true(b);
    if (json_is_boolean(e)) v->add_eos = json_is_true(e);
}

static qtf_status set_chat_template(qtf_vocab *v, json_t *tcfg) {
    json_t *t = tcfg ? json_object_get(tcfg, "chat_template") : NULL;
    const char *s = NULL;
    if (json_is_string(t)) s = json_string_value(t);
    else if (json_is_array(t)) {    /* [{"name": "default", "template": ...}, ...] */
        size_t i;
        json_t *item;
        json_array_foreach(t, i, item) {
            const char *name = json_string_value(json_object_get(item, "name"));
            if (name && strcmp(name, "default") == 0)
                s = json_string_value(json_object_get(item, "template"));
        }
    }
    if (s && !(v->chat_template = strdup(s))) return qtf__error(QTF_E_NOMEM, "out of memory");
    return QTF_OK;
}

qtf_status qtf_vocab_load(qtf_vocab *out, const qtf_vocab_files *f, const char *origin) {
    if (!out || !f) return qtf__error(QTF_E_INVALID_ARG, "qtf_vocab_load: NULL");
    vocab_init(out);
    qtf_status st = QTF_OK;
    json_t *config = NULL, *tcfg = NULL, *tok = NULL;
    if (f->config && !(config = parse_json(f->config, f->config_len, "config.json", 0, &st)))
        goto done;
    /* tokenizer_config.json: model_max_length is often 1e30 written as an
     * integer, beyond jansson's json_int_t; no field read here is an integer. */
    if (f->tokenizer_config &&
        !(tcfg = parse_json(f->tokenizer_config, f->tokenizer_config_len,
                            "tokenizer_config.json", JSON_DECODE_INT_AS_REAL, &st)))
        goto done;
    if (f->spm) {
        st = load_spm(out, f->spm, f->spm_len, config);
    } else if (f->tokenizer_json) {
        if ((tok = parse_json(f->tokenizer_json, f->tokenizer_json_len, "tokenizer.json", 0, &st)))
            st = load_bpe(out, tok, config);
    } else if (f->llama2c) {
        st = load_llama2c(out, f->llama2c, f->llama2c_len, config);
    } else {
        st = qtf__error(QTF_E_NOT_FOUND, "%s: no tokenizer (tokenizer.model, tokenizer.json "
                        "or tok512.bin) found", origin ? origin : "checkpoint");
        goto done;
    }
    if (!st && (tcfg || !f->llama2c)) set_specials(out, tcfg, config);
    if (!st) st = set_chat_template(out, tcfg);
done:
    if (st && origin) qtf__error_prefix("%s: ", origin);
    json_decref(config);
    json_decref(tcfg);
    json_decref(tok);
    if (st) qtf_vocab_free(out);
    return st;
}

qtf_status qtf_vocab_write_gguf(const qtf_vocab *v, qtf_gguf_writer *w) {
    qtf_status st = qtf_gguf_writer_set_string(w, "tokenizer.ggml.model", v->model,
                                               strlen(v->model));
    if (!st) st = qtf_gguf_writer_set_string(w, "tokenizer.ggml.pre", v->pre, strlen(v->pre));
    if (!st) st = qtf_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens",
                                                   (const char *const *)v->tokens,
                                                   v->token_lens, v->n_tokens);
    if (!st && v->scores)
        st = qtf_gguf_writer_set_array(w, "tokenizer.ggml.scores", QTF_TYPE_F32, v->scores,
                                       v->n_tokens);
    if (!st) st = qtf_gguf_writer_set_array(w, "tokenizer.ggml.token_type", QTF_TYPE_I32,
                                            v->types, v->n_tokens);
    if (!st && v->merges)
        st = qtf_gguf_writer_set_string_array(w, "tokenizer.ggml.merges",
                                              (const char *const *)v->merges, v->merge_lens,
                                              v->n_merges);
    for (int k = 0; k < QTF_VOCAB_N_SPECIAL && !st; k++)
        if (v->special[k] >= 0)
            st = qtf_gguf_writer_set_u32(w, special_keys[k], (uint32_t)v->special[k]);
    if (!st && v->add_bos >= 0) {
        uint8_t b = (uint8_t)v->add_bos;
        st = qtf_gguf_writer_set_value(w, "tokenizer.ggml.add_bos_token", QTF_TYPE_BOOL, &b);
    }
    if (!st && v->add_eos >= 0) {
        uint8_t b = (uint8_t)v->add_eos;
        st = qtf_gguf_writer_set_value(w, "tokenizer.ggml.add_eos_token", QTF_TYPE_BOOL, &b);
    }
    if (!st && v->chat_template)
        st = qtf_gguf_writer_set_string(w, "tokenizer.chat_template", v->chat_template,
                                        strlen(v->chat_template));
    return st;
}

qtf_status qtf_vocab_files_read_dir(qtf_vocab_files *out, const char *dir) {
    static const char *const names[] = { "tokenizer.model", "tokenizer.json",
                                         "tokenizer_config.json", "tok512.bin", "config.json" };
    memset(out, 0, sizeof *out);
    out->owned = 1;
    const void **ptrs[] = { &out->spm, &out->tokenizer_json, &out->tokenizer_config,
                            &out->llama2c, &out->config };
    size_t *lens[] = { &out->spm_len, &out->tokenizer_json_len, &out->tokenizer_config_len,
                       &out->llama2c_len, &out->config_len };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
            qtf_vocab_files_free(out);
            return qtf__error(QTF_E_LIMIT, "%s/%s: path too long", dir, names[i]);
        }
        if (access(path, F_OK) != 0) continue;
        char *data;
        qtf_status st = qtf__read_small_file(&data, lens[i], path, 64u << 20);
        if (st) {
            qtf_vocab_files_free(out);
            return st;
        }
        *ptrs[i] = data;
    }
    return QTF_OK;
}

void qtf_vocab_files_free(qtf_vocab_files *f) {
    if (!f) return;
    if (f->owned) {
        free((void *)f->spm);
        free((void *)f->tokenizer_json);
        free((void *)f->tokenizer_config);
        free((void *)f->llama2c);
        free((void *)f->config);
    }
    memset(f, 0, sizeof *f);
}
