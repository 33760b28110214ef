/* tools/qtf-make-sample.c — writes a deterministic, LLaMA-shaped Hugging Face
 * checkpoint (config, tokenizer files, sharded BF16 safetensors) whose weights
 * look like a trained LLM's to a quantizer: heavy-tailed (Student-t with 4
 * degrees of freedom) and with about 1% of input columns 10-50x larger in the
 * projection matrices, the outlier features that make per-group scales and
 * importance weighting matter.
 *
 * Same arguments give the same bytes on every machine: the generator is
 * splitmix64 and the arithmetic uses only +, *, / and sqrt (all correctly
 * rounded in IEEE 754), never libm transcendentals. Memory stays bounded by
 * the largest tensor, so multi-GB checkpoints can be produced for benchmarks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "qtf.h"
#include "checkpoint/source.h"
#include "cli/output.h"

typedef struct sample_opts {
    const char *out;
    unsigned layers, hidden, vocab, shards;
    uint64_t seed;
} sample_opts;

typedef enum tkind { T_EMBED, T_NORM, T_PROJ_HIDDEN, T_PROJ_INTER } tkind;

typedef struct tdesc {
    char name[96];
    tkind kind;
    unsigned layer;
    uint64_t rows, cols;        /* cols = 0: 1-D of `rows` */
    unsigned shard;
} tdesc;

/* --- deterministic random numbers ------------------------------------------ */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t s = a ^ (b * 0xD6E8FEB86659FD93ull);
    return splitmix64(&s);
}

/* Approximately standard normal: sum of four 16-bit uniforms, centred and
 * scaled to unit variance (Irwin-Hall). Exact arithmetic only. */
static double normal(uint64_t *s) {
    uint64_t x = splitmix64(s);
    double sum = 0;
    for (int k = 0; k < 4; k++) sum += ((double)((x >> (16 * k)) & 0xFFFF) + 0.5) / 65536.0;
    return (sum - 2.0) * 1.7320508075688772;
}

/* Student-t, 4 degrees of freedom, as Z / sqrt(chi2_4 / 4); variance 2. */
static double student_t4(uint64_t *s) {
    double z = normal(s), v = 0;
    for (int k = 0; k < 4; k++) {
        double n = normal(s);
        v += n * n;
    }
    if (v < 1e-6) v = 1e-6;
    return z / sqrt(v / 4.0);
}

/* Per-column multipliers: ~1% of columns get 10..50, the rest 1. */
static float *outlier_columns(uint64_t cols, uint64_t seed, uint64_t salt) {
    float *f = malloc(cols * sizeof *f);
    if (!f) return NULL;
    int any = 0;
    for (uint64_t c = 0; c < cols; c++) {
        uint64_t h = mix(mix(seed, salt), c);
        double u = (double)(h >> 11) / 9007199254740992.0;
        double u2 = (double)(mix(h, 7) >> 11) / 9007199254740992.0;
        f[c] = u < 0.01 ? (float)(10.0 + 40.0 * u2) : 1.0f;
        any |= u < 0.01;
    }
    if (!any) f[mix(seed, salt + 1) % cols] = 25.0f;
    return f;
}

/* --- files -------------------------------------------------------------------- */

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* The atomic output of the tools (cli/output.h); the sample folder is
 * rewritten as a whole, so existing files are replaced. */
static int write_file_atomic(const char *dir, const char *name, const char *text) {
    char *path = join(dir, name);
    qtf_status st = path ? cli_write_file(path, text, strlen(text), 1, NULL, 0) : QTF_E_NOMEM;
    if (st) fprintf(stderr, "qtf-make-sample: cannot write %s/%s: %s\n", dir, name,
                    path ? qtf_error_detail() : "out of memory");
    free(path);
    return st == QTF_OK;
}

static int write_json(const char *dir, const char *name, json_t *j) {
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))
                   : NULL;
    json_decref(j);
    if (!text) {
        fprintf(stderr, "qtf-make-sample: out of memory building %s\n", name);
        return 0;
    }
    size_t n = strlen(text);
    char *t2 = malloc(n + 2);
    int ok = 0;
    if (t2) {
        memcpy(t2, text, n);
        t2[n] = '\n';
        t2[n + 1] = '\0';
        ok = write_file_atomic(dir, name, t2);
    }
    free(t2);
    free(text);
    return ok;
}

static unsigned intermediate_size(unsigned hidden) {
    /* LLaMA: 2/3 of 4h, rounded up to a multiple of 256. */
    uint64_t i = (uint64_t)hidden * 8 / 3;
    return (unsigned)((i + 255) / 256 * 256);
}

static int write_config(const sample_opts *o) {
    unsigned heads = o->hidden / 64;
    json_t *c = json_pack("{s:[s],s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:s,s:b,s:s,s:I,"
                          "s:I,s:f,s:b,s:b,s:s}",
                          "architectures", "LlamaForCausalLM", "model_type", "llama",
                          "hidden_size", (json_int_t)o->hidden,
                          "intermediate_size", (json_int_t)intermediate_size(o->hidden),
                          "num_hidden_layers", (json_int_t)o->layers,
                          "num_attention_heads", (json_int_t)heads,
                          "num_key_value_heads", (json_int_t)heads,
                          "head_dim", (json_int_t)64,
                          "vocab_size", (json_int_t)o->vocab,
                          "max_position_embeddings", (json_int_t)2048,
                          "rms_norm_eps", 1e-5, "rope_theta", 10000.0,
                          "hidden_act", "silu", "tie_word_embeddings", 0,
                          "torch_dtype", "bfloat16",
                          "bos_token_id", (json_int_t)1, "eos_token_id", (json_int_t)2,
                          "initializer_range", 0.02, "attention_bias", 0, "use_cache", 1,
                          "transformers_version", "4.46.0");
    json_t *g = json_pack("{s:I,s:I,s:b,s:s}", "bos_token_id", (json_int_t)1, "eos_token_id",
                          (json_int_t)2, "_from_model_config", 1, "transformers_version",
                          "4.46.0");
    int ok = write_json(o->out, "config.json", c);
    return write_json(o->out, "generation_config.json", g) && ok;
}

/* A small word-level tokenizer: valid for the `tokenizers` library, and its
 * vocabulary size matches the embedding. */
static int write_tokenizer(const sample_opts *o) {
    static const char *special[3] = {"<unk>", "<s>", "</s>"};
    json_t *vocab = json_object(), *added = json_array();
    int bad = !vocab || !added;
    for (unsigned i = 0; i < o->vocab && !bad; i++) {
        char tok[32];
        if (i < 3) snprintf(tok, sizeof tok, "%s", special[i]);
        else snprintf(tok, sizeof tok, "w%u", i);
        bad = json_object_set_new(vocab, tok, json_integer(i)) != 0;
        if (i < 3 && !bad)
            bad = json_array_append_new(added, json_pack("{s:I,s:s,s:b,s:b,s:b,s:b,s:b}", "id",
                                                         (json_int_t)i, "content", special[i],
                                                         "single_word", 0, "lstrip", 0, "rstrip",
                                                         0, "normalized", 0, "special", 1)) != 0;
    }
    if (bad) {
        json_decref(vocab);
        json_decref(added);
        fprintf(stderr, "qtf-make-sample: out of memory building the tokenizer\n");
        return 0;
    }
    json_t *tok = json_pack("{s:s,s:n,s:n,s:o,s:n,s:{s:s},s:n,s:n,s:{s:s,s:o,s:s}}",
                            "version", "1.0", "truncation", "padding", "added_tokens", added,
                            "normalizer", "pre_tokenizer", "type", "Whitespace",
                            "post_processor", "decoder", "model", "type", "WordLevel", "vocab",
                            vocab, "unk_token", "<unk>");
    json_t *cfg = json_pack("{s:s,s:s,s:s,s:I,s:s,s:b}", "bos_token", "<s>", "eos_token", "</s>",
                            "unk_token", "<unk>", "model_max_length", (json_int_t)2048,
                            "tokenizer_class", "PreTrainedTokenizerFast",
                            "clean_up_tokenization_spaces", 0);
    json_t *map = json_pack("{s:s,s:s,s:s}", "bos_token", "<s>", "eos_token", "</s>",
                            "unk_token", "<unk>");
    int ok = write_json(o->out, "tokenizer.json", tok);
    ok = write_json(o->out, "tokenizer_config.json", cfg) && ok;
    return write_json(o->out, "special_tokens_map.json", map) && ok;
}

/* --- weights ------------------------------------------------------------------- */

static tdesc *plan_tensors(const sample_opts *o, unsigned *out_n) {
    unsigned n = 3 + 9 * o->layers, k = 0;
    unsigned inter = intermediate_size(o->hidden);
    tdesc *t = calloc(n, sizeof *t);
    if (!t) return NULL;
#define ADD(kind_, layer_, rows_, cols_, ...)                                   \
    do {                                                                        \
        snprintf(t[k].name, sizeof t[k].name, __VA_ARGS__);                     \
        t[k].kind = kind_;                                                      \
        t[k].layer = layer_;                                                    \
        t[k].rows = rows_;                                                      \
        t[k].cols = cols_;                                                      \
        k++;                                                                    \
    } while (0)
    ADD(T_EMBED, 0, o->vocab, o->hidden, "model.embed_tokens.weight");
    for (unsigned l = 0; l < o->layers; l++) {
        ADD(T_NORM, l, o->hidden, 0, "model.layers.%u.input_layernorm.weight", l);
        ADD(T_PROJ_HIDDEN, l, o->hidden, o->hidden, "model.layers.%u.self_attn.q_proj.weight", l);
        ADD(T_PROJ_HIDDEN, l, o->hidden, o->hidden, "model.layers.%u.self_attn.k_proj.weight", l);
        ADD(T_PROJ_HIDDEN, l, o->hidden, o->hidden, "model.layers.%u.self_attn.v_proj.weight", l);
        ADD(T_PROJ_HIDDEN, l, o->hidden, o->hidden, "model.layers.%u.self_attn.o_proj.weight", l);
        ADD(T_NORM, l, o->hidden, 0, "model.layers.%u.post_attention_layernorm.weight", l);
        ADD(T_PROJ_HIDDEN, l, inter, o->hidden, "model.layers.%u.mlp.gate_proj.weight", l);
        ADD(T_PROJ_HIDDEN, l, inter, o->hidden, "model.layers.%u.mlp.up_proj.weight", l);
        ADD(T_PROJ_INTER, l, o->hidden, inter, "model.layers.%u.mlp.down_proj.weight", l);
    }
    ADD(T_NORM, o->layers, o->hidden, 0, "model.norm.weight");
    ADD(T_EMBED, 1, o->vocab, o->hidden, "lm_head.weight");
#undef ADD
    *out_n = k;
    return t;
}

static uint64_t tensor_bytes(const tdesc *t) { return t->rows * (t->cols ? t->cols : 1) * 2; }

/* Splits tensors (in order) into at most `shards` runs of similar byte size;
 * returns the number of non-empty shards. */
static unsigned assign_shards(tdesc *t, unsigned n, unsigned shards) {
    uint64_t total = 0, cum = 0;
    for (unsigned i = 0; i < n; i++) total += tensor_bytes(&t[i]);
    unsigned last = UINT_MAX, used = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t b = tensor_bytes(&t[i]);
        double mid = ((double)cum + (double)b / 2.0) / (double)total;
        unsigned s = (unsigned)(mid * shards);
        if (s >= shards) s = shards - 1;
        if (s != last) {
            used++;
            last = s;
        }
        t[i].shard = used - 1;
        cum += b;
    }
    return used;
}

static void shard_name(char *buf, size_t cap, unsigned k, unsigned n) {
    if (n == 1) snprintf(buf, cap, "model.safetensors");
    else snprintf(buf, cap, "model-%05u-of-%05u.safetensors", k + 1, n);
}

/* Fills one tensor's BF16 values. `cols_hidden` holds the outlier multipliers
 * of hidden-size inputs (shared by every projection reading the residual
 * stream, as outlier features are in real models). */
static int fill_tensor(uint16_t *dst, const tdesc *t, unsigned index, const sample_opts *o,
                       const float *cols_hidden) {
    uint64_t s = mix(o->seed, 0x5EED0000ull + index);
    if (t->kind == T_NORM) {
        for (uint64_t i = 0; i < t->rows; i++)
            dst[i] = qtf_f32_to_bf16((float)(1.0 + 0.05 * normal(&s)));
        return 1;
    }
    const float *colmul = NULL;
    float *own = NULL;
    double scale;
    if (t->kind == T_EMBED) {
        scale = 0.02 / 1.4142135623730951;
    } else {
        scale = 0.5 / sqrt((double)t->cols) / 1.4142135623730951;
        if (t->kind == T_PROJ_HIDDEN) {
            colmul = cols_hidden;
        } else {
            own = outlier_columns(t->cols, o->seed, 0x1000ull + t->layer);
            if (!own) return 0;
            colmul = own;
        }
    }
    for (uint64_t r = 0; r < t->rows; r++) {
        uint16_t *row = dst + r * t->cols;
        for (uint64_t c = 0; c < t->cols; c++) {
            double v = student_t4(&s) * scale;
            if (colmul) v *= colmul[c];
            row[c] = qtf_f32_to_bf16((float)v);
        }
    }
    free(own);
    return 1;
}

static int write_weights(const sample_opts *o, uint64_t *out_params, uint64_t *out_bytes,
                         unsigned *out_shards) {
    unsigned n;
    tdesc *t = plan_tensors(o, &n);
    float *cols_hidden = outlier_columns(o->hidden, o->seed, 0x0FFFull);
    if (!t || !cols_hidden) {
        fprintf(stderr, "qtf-make-sample: out of memory\n");
        free(t);
        free(cols_hidden);
        return 0;
    }
    unsigned n_shards = assign_shards(t, n, o->shards);
    uint64_t max_bytes = 0, total = 0, params = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t b = tensor_bytes(&t[i]);
        if (b > max_bytes) max_bytes = b;
        total += b;
        params += b / 2;
    }
    uint16_t *buf = malloc((size_t)max_bytes);
    json_t *map = json_object();
    int ok = buf && map;
    if (!ok) fprintf(stderr, "qtf-make-sample: out of memory for a %llu-byte tensor\n",
                     (unsigned long long)max_bytes);
    unsigned i = 0;
    for (unsigned k = 0; k < n_shards && ok; k++) {
        char name[64];
        shard_name(name, sizeof name, k, n_shards);
        char *path = join(o->out, name);
        qtf_st_writer *w = NULL;
        qtf_status st = path ? qtf_st_writer_create(&w, path, NULL) : QTF_E_NOMEM;
        unsigned first = i, end = i;
        while (end < n && t[end].shard == k) end++;
        for (unsigned j = first; j < end && !st; j++) {
            uint64_t dims[2] = {t[j].rows, t[j].cols};
            st = qtf_st_writer_declare(w, t[j].name, QTF_DTYPE_BF16, t[j].cols ? 2 : 1, dims);
            if (!st && json_object_set_new(map, t[j].name, json_string(name)) != 0)
                st = QTF_E_NOMEM;
        }
        if (!st) st = qtf_st_writer_metadata(w, "format", "pt");
        for (unsigned j = first; j < end && !st; j++) {
            if (!fill_tensor(buf, &t[j], j, o, cols_hidden)) st = QTF_E_NOMEM;
            if (!st) st = qtf_st_writer_write(w, buf, tensor_bytes(&t[j]));
        }
        if (!st) st = qtf_st_writer_finish(w);
        else qtf_st_writer_abort(w);
        if (st) {
            fprintf(stderr, "qtf-make-sample: %s: %s: %s\n", path ? path : name,
                    qtf_status_name(st), qtf_error_detail());
            ok = 0;
        }
        free(path);
        i = end;
    }
    if (ok && n_shards > 1) {
        json_t *index = json_pack("{s:{s:I,s:I},s:o}", "metadata", "total_parameters",
                                  (json_int_t)params, "total_size", (json_int_t)total,
                                  "weight_map", map);
        map = NULL;
        ok = write_json(o->out, "model.safetensors.index.json", index);
    }
    json_decref(map);
    free(buf);
    free(t);
    free(cols_hidden);
    *out_params = params;
    *out_bytes = total;
    *out_shards = n_shards;
    return ok;
}

/* A re-run into the same folder must not leave weights of an earlier run
 * that a reader would pick up (an old index beats a new model.safetensors). */
static void remove_stale_weights(const char *dir, unsigned n_shards) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        unsigned k, n;
        char tail[32];
        int stale = 0;
        if (sscanf(e->d_name, "model-%5u-of-%5u.%31s", &k, &n, tail) == 3 &&
            strcmp(tail, "safetensors") == 0) {
            char want[64];
            shard_name(want, sizeof want, k - 1, n_shards);
            stale = n != n_shards || k < 1 || k > n || strcmp(want, e->d_name) != 0;
        } else if (strcmp(e->d_name, "model.safetensors") == 0) {
            stale = n_shards > 1;
        } else if (strcmp(e->d_name, "model.safetensors.index.json") == 0) {
            stale = n_shards == 1;
        }
        if (stale) {
            char *p = join(dir, e->d_name);
            if (p && unlink(p) != 0)
                fprintf(stderr, "qtf-make-sample: warning: cannot remove stale %s: %s\n", p,
                        strerror(errno));
            free(p);
        }
    }
    closedir(d);
}

/* --- command line ---------------------------------------------------------------- */

static void usage(FILE *to) {
    fprintf(to,
            "usage: qtf-make-sample OUTDIR [--layers N] [--hidden N] [--vocab N] [--shards N] "
            "[--seed S]\n"
            "Writes a deterministic LLaMA-like Hugging Face checkpoint (BF16 safetensors,\n"
            "config and tokenizer files). Defaults: --layers 2 --hidden 256 --vocab 1024\n"
            "--shards 2 --seed 1 (about 4 MB). --hidden must be a multiple of 64; --shards is\n"
            "an upper bound (shards hold whole tensors of similar total size).\n"
            "Example for a ~2 GB benchmark model: --hidden 2048 --layers 18 --vocab 32000\n");
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out) {
    if (!s || !*s || *s == '-') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    sample_opts o = {NULL, 2, 256, 1024, 2, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] == '-' && a[1] == '-') {
            /* name, smallest, largest, multiple of */
            static const struct {
                const char *name;
                uint64_t lo, hi, step;
            } opts[] = {{"--layers", 1, 4096, 1}, {"--hidden", 64, 65536, 64},
                        {"--vocab", 3, 1u << 22, 1}, {"--shards", 1, 9999, 1},
                        {"--seed", 0, UINT64_MAX, 1}};
            size_t k = 0;
            while (k < sizeof opts / sizeof opts[0] && strcmp(a, opts[k].name)) k++;
            if (k == sizeof opts / sizeof opts[0]) {
                fprintf(stderr, "qtf-make-sample: unknown option '%s'\n", a);
                usage(stderr);
                return 2;
            }
            const char *val = i + 1 < argc ? argv[i + 1] : NULL;
            uint64_t v = 0;
            if (!parse_uint(val, opts[k].hi, &v) || v < opts[k].lo || v % opts[k].step) {
                fprintf(stderr, "qtf-make-sample: invalid value '%s' for %s (expected %llu..%llu"
                        "%s)\n", val ? val : "", a, (unsigned long long)opts[k].lo,
                        (unsigned long long)opts[k].hi,
                        opts[k].step > 1 ? ", a multiple of 64" : "");
                usage(stderr);
                return 2;
            }
            switch (k) {
            case 0: o.layers = (unsigned)v; break;
            case 1: o.hidden = (unsigned)v; break;
            case 2: o.vocab = (unsigned)v; break;
            case 3: o.shards = (unsigned)v; break;
            default: o.seed = v; break;
            }
            i++;
        } else if (!o.out) {
            o.out = a;
        } else {
            fprintf(stderr, "qtf-make-sample: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.out) {
        usage(stderr);
        return 2;
    }
    if (mkdir(o.out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "qtf-make-sample: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    uint64_t params = 0, bytes = 0;
    unsigned shards = 0;
    int ok = write_config(&o) && write_tokenizer(&o) &&
             write_weights(&o, &params, &bytes, &shards);
    if (!ok) return 1;
    remove_stale_weights(o.out, shards);
    printf("wrote %s: LLaMA-like, %u layers, hidden %u, vocab %u, %llu parameters, %llu bytes "
           "of BF16 in %u shard%s\n", o.out, o.layers, o.hidden, o.vocab,
           (unsigned long long)params, (unsigned long long)bytes, shards, shards == 1 ? "" : "s");
    return 0;
}
