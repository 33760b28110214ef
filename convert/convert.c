/* convert/convert.c — streaming a checkpoint into a .qtf (or back into a
 * .safetensors), with the model's config and tokenizer files embedded. */
#include "convert.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/json_check.h"
#include "cli/cli_util.h"
#include "cli/progress.h"

/* Files embedded from the model folder are configs and tokenizers: a few
 * MB at most for the largest vocabularies. A bigger file under one of these
 * names is not what we think it is, and is skipped with a warning. */
#define EMBED_MAX_BYTES (64u << 20)

typedef struct known_file {
    const char *name;
    const char *media_type;
} known_file;

/* Embedded as hf.file.<name>. config.json and generation_config.json are
 * also parsed for a few key fields. */
static const known_file known_files[] = {
    { "config.json", "application/json" },
    { "generation_config.json", "application/json" },
    { "tokenizer.json", "application/json" },
    { "tokenizer_config.json", "application/json" },
    { "special_tokens_map.json", "application/json" },
    { "added_tokens.json", "application/json" },
    { "vocab.json", "application/json" },
    { "merges.txt", "text/plain; charset=utf-8" },
    { "vocab.txt", "text/plain; charset=utf-8" },
    { "tokenizer.model", "application/x-protobuf" },   /* SentencePiece model */
    { "spiece.model", "application/x-protobuf" },
    { "tok512.bin", "application/octet-stream" },      /* llama2.c tokenizer */
    { "sentencepiece.bpe.model", "application/x-protobuf" },
    { "chat_template.jinja", "text/plain; charset=utf-8" },
    { "chat_template.json", "application/json" },
    { "preprocessor_config.json", "application/json" },
};

/* Scalar fields of config.json worth having as typed metadata
 * (hf.config.<name>) without parsing the embedded JSON. */
static const char *const config_fields[] = {
    "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
    "max_position_embeddings", "rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon",
    "rope_theta", "hidden_act", "activation_function", "tie_word_embeddings",
    "torch_dtype", "dtype", "bos_token_id", "eos_token_id", "pad_token_id",
    "sliding_window", "num_local_experts", "num_experts_per_tok",
    "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "n_ctx",
    "transformers_version",
};

typedef struct run {
    const qtfc_options *o;
    qtf_source *src;
    qtf_source *imp;
    qtf_imatrix_map *imx;      /* --importance given a llama.cpp imatrix */
    qtfc_plan plan;
    qtfc_progress progress;
    qtf_writer *w;
    qtf_st_writer *stw;
    void *buf, *buf2;           /* read buffers (buf2: read-ahead) */
    float *importance;
    uint64_t importance_cap;
    float *transposed;          /* stored form of a tensor with a transposed layout */
    uint64_t transposed_cap;
    double t0;
    char notes[2048];           /* the closing summary's line of warnings, or "" */
} run;

static int interrupted(const run *r) {
    return r->o->interrupted && *r->o->interrupted;
}

/* --- embedded files ------------------------------------------------------- */

/* Metadata steps return 0, -1 for an input error (exit 2) or -2 for a
 * failure of the writer (exit 1). */
#define INPUT_ERROR (-1)
/* Nesting depth allowed in embedded JSON files (real ones: < 10). */
#define EMBED_JSON_MAX_DEPTH 256
#define WRITE_ERROR (-2)

static int set_status(qtf_status st, const char *what) {
    if (st == QTF_OK) return 0;
    cli_error("%s: %s", what, cli_why(st));
    return WRITE_ERROR;
}

static int config_scalar(qtf_writer *w, const char *field, json_t *v) {
    char key[QTF_MAX_KEY_LEN];
    snprintf(key, sizeof key, "hf.config.%s", field);
    qtf_status st = QTF_OK;
    switch (json_typeof(v)) {
    case JSON_INTEGER: st = qtf_writer_set_i64(w, key, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: st = qtf_writer_set_f64(w, key, json_real_value(v)); break;
    case JSON_TRUE: st = qtf_writer_set_bool(w, key, 1); break;
    case JSON_FALSE: st = qtf_writer_set_bool(w, key, 0); break;
    case JSON_STRING:
        st = qtf_writer_set_string(w, key, json_string_value(v), json_string_length(v));
        break;
    default: return 0;   /* arrays, objects, null: the JSON blob has them */
    }
    return set_status(st, key);
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

/* general.name: config's _name_or_path when it is a hub id (a local path
 * would leak the user's directories), else the model folder's name. */
static int set_general_name(qtf_writer *w, json_t *config, const char *dir) {
    json_t *n = config ? json_object_get(config, "_name_or_path") : NULL;
    const char *name = NULL;
    if (json_is_string(n) && json_string_length(n) > 0) {
        const char *s = json_string_value(n);
        name = (s[0] == '/' || s[0] == '.' || s[0] == '~') ? base_name(s) : s;
    }
    char resolved[PATH_MAX];
    if (!name) {
        if (realpath(dir, resolved)) name = base_name(resolved);
        else name = base_name(dir);
        /* A trailing slash or "/" itself leaves nothing useful. */
        if (!name[0] || strcmp(name, "/") == 0) name = "model";
    }
    return set_status(qtf_writer_set_string(w, "general.name", name, strlen(name)),
                      "general.name");
}

static int embed_config(run *r, const char *path, const unsigned char *data, uint64_t len) {
    json_error_t jerr;
    json_t *config = json_loadb((const char *)data, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
    if (!config || !json_is_object(config)) {
        cli_error("%s: not a JSON object: line %d column %d: %s", path, jerr.line, jerr.column,
            config ? "top level is not an object" : jerr.text);
        json_decref(config);
        return INPUT_ERROR;
    }
    const char *arch = NULL;
    json_t *a = json_object_get(config, "architectures");
    if (json_is_array(a) && json_array_size(a) > 0 && json_is_string(json_array_get(a, 0)))
        arch = json_string_value(json_array_get(a, 0));
    else if (json_is_string(json_object_get(config, "model_type")))
        arch = json_string_value(json_object_get(config, "model_type"));
    int rc = 0;
    if (arch && arch[0])
        rc = set_status(qtf_writer_set_string(r->w, "general.architecture", arch, strlen(arch)),
                        "general.architecture");
    if (rc == 0) rc = set_general_name(r->w, config, qtf_source_dir(r->src));
    for (size_t i = 0; rc == 0 && i < sizeof config_fields / sizeof config_fields[0]; i++) {
        json_t *v = json_object_get(config, config_fields[i]);
        if (v) rc = config_scalar(r->w, config_fields[i], v);
    }
    /* transformers 5 moved rope_theta into rope_parameters. */
    json_t *rope = json_object_get(config, "rope_parameters");
    if (rc == 0 && !json_object_get(config, "rope_theta") && json_is_object(rope) &&
        json_is_number(json_object_get(rope, "rope_theta")))
        rc = config_scalar(r->w, "rope_theta", json_object_get(rope, "rope_theta"));
    json_decref(config);
    return rc;
}

static int embed_folder_files(run *r) {
    const char *dir = qtf_source_dir(r->src);
    int have_config = 0;
    for (size_t i = 0; i < sizeof known_files / sizeof known_files[0]; i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, known_files[i].name) >= sizeof path) {
            cli_error("%s/%s: path too long", dir, known_files[i].name);
            return INPUT_ERROR;
        }
        char *text;
        size_t n;
        qtf_status rst = qtf_source_read_folder_file(&text, &n, r->src, known_files[i].name,
                                                     EMBED_MAX_BYTES);
        if (rst == QTF_E_NOT_FOUND) continue;
        if (rst == QTF_E_LIMIT) {
            if (!r->o->quiet)
                cli_error("warning: %s; more than expected of a %s: not embedded", qtf_error_detail(),
                    known_files[i].name);
            continue;
        }
        if (rst != QTF_OK) {
            cli_error("%s", qtf_error_detail());
            return INPUT_ERROR;
        }
        unsigned char *data = (unsigned char *)text;
        uint64_t len = n;
        int rc = 0;
        if (strcmp(known_files[i].name, "config.json") == 0) {
            have_config = 1;
            rc = embed_config(r, path, data, len);
        } else if (strcmp(known_files[i].media_type, "application/json") == 0) {
            /* Every embedded *.json must parse (checked without a DOM:
             * tokenizer.json runs to tens of MB). */
            if (qtf_json_check(NULL, data, (size_t)len, path, EMBED_JSON_MAX_DEPTH, 0) != QTF_OK) {
                cli_error("%s", qtf_error_detail());
                rc = INPUT_ERROR;
            }
        }
        char key[QTF_MAX_KEY_LEN];
        snprintf(key, sizeof key, "hf.file.%s", known_files[i].name);
        if (rc == 0)
            rc = set_status(qtf_writer_set_blob(r->w, key, known_files[i].media_type, data, len),
                            key);
        free(data);
        if (rc != 0) return rc;
        if (r->o->verbose)
            qtfc_progress_line(&r->progress, "embedded %s (%llu bytes) as %s",
                               known_files[i].name, (unsigned long long)len, key);
    }
    if (!have_config) {
        if (!r->o->quiet)
            cli_error("warning: %s has no config.json; general.architecture not set", dir);
        if (set_general_name(r->w, NULL, dir) != 0) return WRITE_ERROR;
    }
    return 0;
}

/* Re-encoding a .qtf: keep everything it carries except our own qtf.* keys,
 * which describe this conversion instead. */
static int copy_qtf_metadata(run *r) {
    const qtf_file *f = qtf_source_qtf_file(r->src);
    uint64_t n = f ? qtf_meta_count(f) : 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *key = qtf_meta_key(f, i);
        qtf_value v;
        if (!key || strncmp(key, "qtf.", 4) == 0) continue;
        qtf_status vst = qtf_meta_value(&v, f, i);
        if (vst != QTF_OK) {
            cli_error("%s: metadata '%s': %s", r->o->input, key, cli_why(vst));
            return INPUT_ERROR;
        }
        qtf_status st;
        switch (v.type) {
        case QTF_TYPE_STRING: st = qtf_writer_set_string(r->w, key, v.str, v.len); break;
        case QTF_TYPE_BLOB:
            st = qtf_writer_set_blob(r->w, key, v.media_type, v.str, v.len);
            break;
        case QTF_TYPE_ARRAY:
            if (v.elem_type == QTF_TYPE_STRING) {
                if (v.count > SIZE_MAX / sizeof(char *)) {
                    cli_error("%s: metadata '%s': %llu strings do not fit in memory", r->o->input,
                        key, (unsigned long long)v.count);
                    return INPUT_ERROR;
                }
                const char **strs = malloc((size_t)(v.count ? v.count : 1) * sizeof *strs);
                uint64_t *lens = malloc((size_t)(v.count ? v.count : 1) * sizeof *lens);
                st = strs && lens ? QTF_OK : QTF_E_NOMEM;
                for (uint64_t j = 0; st == QTF_OK && j < v.count; j++)
                    st = qtf_meta_array_string(&strs[j], &lens[j], f, i, j);
                if (st == QTF_OK)
                    st = qtf_writer_set_string_array(r->w, key, (const char *const *)strs, lens,
                                                     v.count);
                free(strs);
                free(lens);
            } else if (v.elem_type == QTF_TYPE_ARRAY || v.elem_type == QTF_TYPE_BLOB) {
                if (!r->o->quiet) cli_error("warning: %s: nested array not carried over", key);
                continue;
            } else {
                st = qtf_writer_set_value(r->w, key, QTF_TYPE_ARRAY, v.elem_type, v.data,
                                          v.count);
            }
            break;
        case QTF_TYPE_U8: case QTF_TYPE_U16: case QTF_TYPE_U32: case QTF_TYPE_U64:
        case QTF_TYPE_BOOL: {
            unsigned char le[8];
            for (int b = 0; b < 8; b++) le[b] = (unsigned char)(v.num.u64 >> (8 * b));
            st = qtf_writer_set_value(r->w, key, v.type, v.type, le, 1);
            break;
        }
        case QTF_TYPE_I8: case QTF_TYPE_I16: case QTF_TYPE_I32: case QTF_TYPE_I64: {
            unsigned char le[8];
            for (int b = 0; b < 8; b++) le[b] = (unsigned char)((uint64_t)v.num.i64 >> (8 * b));
            st = qtf_writer_set_value(r->w, key, v.type, v.type, le, 1);
            break;
        }
        case QTF_TYPE_F32: {
            float x = (float)v.num.f64;
            uint32_t bits;
            memcpy(&bits, &x, 4);
            unsigned char le[4];
            for (int b = 0; b < 4; b++) le[b] = (unsigned char)(bits >> (8 * b));
            st = qtf_writer_set_value(r->w, key, v.type, v.type, le, 1);
            break;
        }
        case QTF_TYPE_F64: st = qtf_writer_set_f64(r->w, key, v.num.f64); break;
        default: continue;
        }
        if (set_status(st, key) != 0) return WRITE_ERROR;
    }
    return 0;
}

static int set_source_metadata(run *r) {
    qtf_writer *w = r->w;
    const char *kind = qtf_source_kind_name(qtf_source_get_kind(r->src));
    uint32_t nf = qtf_source_file_count(r->src);
    const char **names = calloc(nf ? nf : 1, sizeof *names);
    uint64_t *lens = calloc(nf ? nf : 1, sizeof *lens);
    unsigned char *sizes = calloc(nf ? nf : 1, 8);
    int rc = WRITE_ERROR;
    if (!names || !lens || !sizes) {
        cli_error("out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < nf; i++) {
        names[i] = qtf_source_file_name(r->src, i);
        lens[i] = strlen(names[i]);
        uint64_t s = qtf_source_file_size(r->src, i);
        for (int b = 0; b < 8; b++) sizes[8 * i + (uint32_t)b] = (unsigned char)(s >> (8 * b));
    }
    if (set_status(qtf_writer_set_string(w, "qtf.source.format", kind, strlen(kind)),
                   "qtf.source.format") ||
        set_status(qtf_writer_set_string_array(w, "qtf.source.files",
                                               (const char *const *)names, lens, nf),
                   "qtf.source.files") ||
        set_status(qtf_writer_set_value(w, "qtf.source.sizes", QTF_TYPE_ARRAY, QTF_TYPE_U64,
                                        sizes, nf),
                   "qtf.source.sizes"))
        goto done;
    const char *conv = "qtf-convert " QTF_VERSION_STRING;
    if (set_status(qtf_writer_set_string(w, "qtf.converter", conv, strlen(conv)),
                   "qtf.converter"))
        goto done;
    char *recipe = qtfc_recipe_describe(r->o->recipe);
    if (!recipe) {
        cli_error("out of memory");
        goto done;
    }
    /* The importance vectors change the result: name them with the recipe. */
    char *full = recipe;
    if (r->o->importance_path) {
        const char *imp = base_name(r->o->importance_path);
        size_t n = strlen(recipe) + strlen(imp) + 32;
        full = malloc(n);
        if (full) snprintf(full, n, "%s# importance: %s\n", recipe, imp);
    }
    rc = full ? set_status(qtf_writer_set_string(w, "qtf.recipe", full, strlen(full)),
                           "qtf.recipe")
              : (cli_error("out of memory"), WRITE_ERROR);
    if (full != recipe) free(full);
    free(recipe);
done:
    free(names);
    free(lens);
    free(sizes);
    return rc;
}

/* --- tensors -------------------------------------------------------------- */

static int fail_tensor(const char *file, const qtfc_plan_item *it, const char *what,
                       qtf_status st) {
    cli_error("%s: tensor '%s': %s failed: %s", file, it->tensor->name, what,
        cli_why(st));
    return -1;
}

/* Reads item's importance vector; every weight must be finite and >= 0. */
static int load_importance(run *r, const qtfc_plan_item *it, const float **out) {
    *out = NULL;
    if (it->importance < 0) return 0;
    if (r->imx) { /* checked when the imatrix was read and mapped */
        uint64_t n;
        *out = qtf_imatrix_map_find(r->imx, it->tensor->name, &n);
        return 0;
    }
    const qtf_source_tensor *v = qtf_source_tensor_get(r->imp, (uint64_t)it->importance);
    if (v->n_elements > r->importance_cap) {
        free(r->importance);
        r->importance_cap = 0;
        r->importance = malloc((size_t)v->n_elements * sizeof(float));
        if (!r->importance) {
            cli_error("%s: out of memory for importance '%s'", r->o->importance_path, v->name);
            return -1;
        }
        r->importance_cap = v->n_elements;
    }
    qtf_status st = qtf_source_read_f32(r->importance, v->n_elements, r->imp,
                                        (uint64_t)it->importance, r->o->threads);
    if (st != QTF_OK) {
        cli_error("%s: importance '%s': %s", r->o->importance_path, v->name,
            cli_why(st));
        return -1;
    }
    for (uint64_t j = 0; j < v->n_elements; j++) {
        if (!(r->importance[j] >= 0.0f) || isinf(r->importance[j])) {
            cli_error("%s: importance '%s': element %llu is %g, expected a finite value >= 0",
                r->o->importance_path, v->name, (unsigned long long)j,
                (double)r->importance[j]);
            return -1;
        }
    }
    /* All-zero weights would disable the search: refuse. Sums far from 1
     * overflow or vanish in the searches' f32 sums: rescale by a power of
     * two (exact; only relative weights matter) and say so. */
    double sum = 0.0;
    for (uint64_t j = 0; j < v->n_elements; j++) sum += r->importance[j];
    if (sum == 0.0) {
        cli_error("%s: importance '%s': all %llu weights are zero, which would disable the search",
            r->o->importance_path, v->name, (unsigned long long)v->n_elements);
        return -1;
    }
    if (sum > 0x1p60 || sum < 0x1p-60) {
        int e;
        (void)frexp(sum / (double)v->n_elements, &e);
        for (uint64_t j = 0; j < v->n_elements; j++)
            r->importance[j] = ldexpf(r->importance[j], -e);
        if (!r->o->quiet)
            cli_error("warning: %s: importance '%s': weights sum to %g; rescaled by 2^%d",
                r->o->importance_path, v->name, sum, -e);
    }
    *out = r->importance;
    return 0;
}

/* Reads a tensor's values into buf: its bytes as stored (read_raw items) or
 * f32. Runs on the read-ahead thread when there is one. */
static qtf_status read_item(const run *r, const qtfc_plan_item *it, void *buf) {
    const qtf_source_tensor *t = it->tensor;
    if (it->read_raw) return qtf_source_read_raw(buf, t->nbytes, r->src, it->source_index);
    return qtf_source_read_f32(buf, t->n_elements, r->src, it->source_index, r->o->threads);
}

/* One tensor ready for the .qtf writer: its parts, and the quantizer's
 * output that owns them (NULL: the parts view the read buffer). */
typedef struct encoded_tensor {
    const qtfc_plan_item *it;
    qtf_encoded *enc;
    qtf_part_view views[QTF_MAX_PARTS];
    uint32_t n_views;
} encoded_tensor;

/* Encodes one tensor, already read into buf. Returns 0, -1 (processing
 * failure) or -2 (input error: a bad importance vector). */
static int encode_tensor(run *r, const qtfc_plan_item *it, void *buf, encoded_tensor *out) {
    const qtf_source_tensor *t = it->tensor;
    memset(out, 0, sizeof *out);
    out->it = it;
    qtf_status st;
    if (it->read_raw) {
        qtf_part_layout layout[QTF_MAX_PARTS];
        uint32_t n = 0;
        st = qtf_encoding_layout(layout, &n, &it->choice.enc, t->n_dims, t->dims);
        if (st != QTF_OK) return fail_tensor(r->o->output, it, "layout", st);
        if (n != 1 || layout[0].size != t->nbytes) {
            cli_error("tensor '%s': encoding stores %llu bytes in %u parts, source holds %llu",
                t->name, (unsigned long long)layout[0].size, n, (unsigned long long)t->nbytes);
            return -1;
        }
        out->views[0] = (qtf_part_view){ layout[0].role, layout[0].type, buf, t->nbytes };
        out->n_views = 1;
        return 0;
    }
    qtf_quantize_options qo = QTF_QUANTIZE_OPTIONS_INIT;
    qo.threads = r->o->threads;
    if (load_importance(r, it, &qo.importance) != 0) return -2;
    const float *x = buf;
    if (it->layout == QTF_LAYOUT_TRANSPOSED) {
        /* the encoding sees the [out, in] transpose: groups along the input */
        if (t->n_elements > r->transposed_cap) {
            free(r->transposed);
            r->transposed_cap = 0;
            r->transposed = malloc((size_t)t->n_elements * sizeof(float));
            if (!r->transposed) {
                cli_error("tensor '%s': out of memory for its transpose (%llu floats)", t->name,
                    (unsigned long long)t->n_elements);
                return -1;
            }
            r->transposed_cap = t->n_elements;
        }
        qtfc_transpose_f32(r->transposed, buf, t->dims[0], t->dims[1]);
        x = r->transposed;
    }
    st = qtf_quantize(&out->enc, &it->choice.enc, x, t->n_dims, it->stored_dims, &qo);
    if (st != QTF_OK) return fail_tensor(r->o->input, it, "quantization", st);
    out->n_views = qtf_encoded_views(out->views, out->enc);
    return 0;
}

/* Appends an encoded tensor to the .qtf and frees its encoding. Runs on the
 * writer thread when there is one: touches nothing but r->w and `e`. */
static qtf_status write_encoded(qtf_writer *w, encoded_tensor *e) {
    const qtf_source_tensor *t = e->it->tensor;
    qtf_tensor_desc desc = QTF_TENSOR_DESC_INIT;
    desc.name = t->name;
    desc.n_dims = t->n_dims;
    desc.dims = t->dims;
    desc.source_type = t->dtype;
    desc.encoding = &e->it->choice.enc;
    desc.zstd_level = (int)e->it->choice.enc.zstd_level;
    desc.layout = e->it->layout;
    qtf_status st = qtf_writer_add_tensor(w, &desc, e->views, e->n_views);
    qtf_encoded_free(e->enc);
    e->enc = NULL;
    return st;
}

/* f32 -> f16/bf16 in place, chunk by chunk: chunk k lands at byte 2*k*C,
 * which never reaches the f32 chunks not yet read (they start at 4*k*C). */
static qtf_status narrow_in_place(void *buf, qtf_dtype type, uint64_t n) {
    enum { CHUNK = 16384 };
    uint16_t tmp[CHUNK];
    float *src = buf;
    unsigned char *dst = buf;
    for (uint64_t i = 0; i < n; i += CHUNK) {
        uint64_t m = n - i < CHUNK ? n - i : CHUNK;
        qtf_status st = qtf_convert_from_f32(tmp, type, src + i, m);
        if (st != QTF_OK) return st;
        memcpy(dst + 2 * i, tmp, (size_t)m * 2);
    }
    return QTF_OK;
}

static int write_st_tensor(run *r, const qtfc_plan_item *it, void *buf) {
    const qtf_source_tensor *t = it->tensor;
    qtf_status st;
    if (!it->read_raw && it->out_dtype != QTF_DTYPE_F32) {
        st = narrow_in_place(buf, it->out_dtype, t->n_elements);
        if (st != QTF_OK) return fail_tensor(r->o->input, it, "conversion", st);
    }
    st = qtf_st_writer_write(r->stw, buf, it->out_bytes);
    return st == QTF_OK ? 0 : fail_tensor(r->o->output, it, "write", st);
}

/* --- read-ahead -------------------------------------------------------------
 * One thread reads tensor i+1 while tensor i is quantized and written, so
 * that the single-threaded parts (the source read and the kernel's copy of
 * the output) overlap. Tensors are still handled strictly in plan order:
 * the output does not depend on timing. */

typedef struct reader {
    const run *r;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int64_t request;            /* item to read next, -1: none */
    void *request_buf;
    int64_t ready;              /* last item read, -1: none */
    qtf_status status;          /* of `ready` */
    char detail[1024];          /* qtf_error_detail() of the reading thread */
} reader;

static void *reader_main(void *arg) {
    reader *rd = arg;
    pthread_mutex_lock(&rd->mu);
    for (;;) {
        while (rd->request < 0 && !rd->stop) pthread_cond_wait(&rd->cv, &rd->mu);
        if (rd->stop) break;
        int64_t i = rd->request;
        void *buf = rd->request_buf;
        rd->request = -1;
        pthread_mutex_unlock(&rd->mu);
        qtf_status st = read_item(rd->r, &rd->r->plan.items[i], buf);
        pthread_mutex_lock(&rd->mu);
        rd->status = st;
        if (st != QTF_OK) snprintf(rd->detail, sizeof rd->detail, "%s", qtf_error_detail());
        rd->ready = i;
        pthread_cond_broadcast(&rd->cv);
    }
    pthread_mutex_unlock(&rd->mu);
    return NULL;
}

static int reader_start(reader *rd, const run *r) {
    memset(rd, 0, sizeof *rd);
    rd->r = r;
    rd->request = -1;
    rd->ready = -1;
    if (pthread_mutex_init(&rd->mu, NULL) != 0) return -1;
    if (pthread_cond_init(&rd->cv, NULL) != 0) {
        pthread_mutex_destroy(&rd->mu);
        return -1;
    }
    if (pthread_create(&rd->thread, NULL, reader_main, rd) != 0) {
        pthread_cond_destroy(&rd->cv);
        pthread_mutex_destroy(&rd->mu);
        return -1;
    }
    return 0;
}

static void reader_request(reader *rd, int64_t i, void *buf) {
    pthread_mutex_lock(&rd->mu);
    rd->request = i;
    rd->request_buf = buf;
    pthread_cond_broadcast(&rd->cv);
    pthread_mutex_unlock(&rd->mu);
}

/* Waits for item i; returns its read status (detail copied into `detail`). */
static qtf_status reader_wait(reader *rd, int64_t i, char *detail, size_t cap) {
    pthread_mutex_lock(&rd->mu);
    while (rd->ready != i) pthread_cond_wait(&rd->cv, &rd->mu);
    qtf_status st = rd->status;
    if (st != QTF_OK) snprintf(detail, cap, "%s", rd->detail);
    pthread_mutex_unlock(&rd->mu);
    return st;
}

/* Lets a read in progress finish, then ends the thread. */
static void reader_stop(reader *rd) {
    pthread_mutex_lock(&rd->mu);
    rd->stop = 1;
    pthread_cond_broadcast(&rd->cv);
    pthread_mutex_unlock(&rd->mu);
    pthread_join(rd->thread, NULL);
    pthread_cond_destroy(&rd->cv);
    pthread_mutex_destroy(&rd->mu);
}

/* --- writer thread ----------------------------------------------------------
 * Appends tensor i to the .qtf (the kernel's copy of it into the page cache,
 * its checksum, starting writeback) while tensor i+1 is quantized. One
 * tensor at a time, in plan order, through the same qtf_writer calls as
 * without the thread: the output bytes do not depend on timing. */

typedef struct writer_thread {
    qtf_writer *w;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int busy;                   /* `job` is submitted and not yet written */
    encoded_tensor job;
    qtf_status status;          /* first failure; later jobs are dropped */
    const qtfc_plan_item *failed;
    char detail[1024];
} writer_thread;

static void *writer_main(void *arg) {
    writer_thread *wt = arg;
    pthread_mutex_lock(&wt->mu);
    for (;;) {
        while (!wt->busy && !wt->stop) pthread_cond_wait(&wt->cv, &wt->mu);
        if (!wt->busy) break;
        qtf_status failed_before = wt->status;
        pthread_mutex_unlock(&wt->mu);
        qtf_status st = QTF_OK;
        if (failed_before == QTF_OK) {
            st = write_encoded(wt->w, &wt->job);
        } else {
            qtf_encoded_free(wt->job.enc);
            wt->job.enc = NULL;
        }
        pthread_mutex_lock(&wt->mu);
        if (st != QTF_OK) {
            wt->status = st;
            wt->failed = wt->job.it;
            snprintf(wt->detail, sizeof wt->detail, "%s", qtf_error_detail());
        }
        wt->busy = 0;
        pthread_cond_broadcast(&wt->cv);
    }
    pthread_mutex_unlock(&wt->mu);
    return NULL;
}

static int writer_thread_start(writer_thread *wt, qtf_writer *w) {
    memset(wt, 0, sizeof *wt);
    wt->w = w;
    if (pthread_mutex_init(&wt->mu, NULL) != 0) return -1;
    if (pthread_cond_init(&wt->cv, NULL) != 0) {
        pthread_mutex_destroy(&wt->mu);
        return -1;
    }
    if (pthread_create(&wt->thread, NULL, writer_main, wt) != 0) {
        pthread_cond_destroy(&wt->cv);
        pthread_mutex_destroy(&wt->mu);
        return -1;
    }
    return 0;
}

/* Waits until the job submitted last is written; returns the first write
 * failure so far (detail and tensor copied out). */
static qtf_status writer_thread_wait(writer_thread *wt, const qtfc_plan_item **failed,
                                     char *detail, size_t cap) {
    pthread_mutex_lock(&wt->mu);
    while (wt->busy) pthread_cond_wait(&wt->cv, &wt->mu);
    qtf_status st = wt->status;
    if (st != QTF_OK) {
        *failed = wt->failed;
        snprintf(detail, cap, "%s", wt->detail);
    }
    pthread_mutex_unlock(&wt->mu);
    return st;
}

/* Hands over a tensor; the caller has waited for the previous one. */
static void writer_thread_submit(writer_thread *wt, const encoded_tensor *e) {
    pthread_mutex_lock(&wt->mu);
    wt->job = *e;
    wt->busy = 1;
    pthread_cond_broadcast(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
}

/* Lets the job in progress finish, then ends the thread. */
static void writer_thread_stop(writer_thread *wt) {
    pthread_mutex_lock(&wt->mu);
    wt->stop = 1;
    pthread_cond_broadcast(&wt->cv);
    pthread_mutex_unlock(&wt->mu);
    pthread_join(wt->thread, NULL);
    pthread_cond_destroy(&wt->cv);
    pthread_mutex_destroy(&wt->mu);
}

/* Waits for the writer thread; reports its failure, if any. */
static int wait_written(writer_thread *wt, const run *r) {
    const qtfc_plan_item *failed = NULL;
    char detail[1024] = "";
    qtf_status st = writer_thread_wait(wt, &failed, detail, sizeof detail);
    if (st == QTF_OK) return 0;
    cli_error("%s: tensor '%s': write failed: %s", r->o->output, failed->tensor->name,
        detail[0] ? detail : qtf_status_text(st));
    return -1;
}

/* The pipeline's extra threads need memory: read-ahead a second read
 * buffer, the writer thread a second encoded tensor (tensor i is written
 * while i+1 is encoded). Each is used only when the threads allow it
 * (--threads 1 means one thread) and the total stays within 3x the largest
 * tensor in f32: two read buffers plus one encoded tensor for read-ahead,
 * plus a second encoded tensor for the writer thread. */
static void plan_pipeline(const run *r, int *read_ahead, int *write_behind) {
    *read_ahead = *write_behind = 0;
    if (r->o->threads == 1 || r->plan.n_items < 2) return;
    uint64_t max_f32 = 0, max_out = 0;
    for (uint64_t i = 0; i < r->plan.n_items; i++) {
        const qtfc_plan_item *it = &r->plan.items[i];
        uint64_t f = it->tensor->n_elements * 4;
        if (f > max_f32) max_f32 = f;
        if (it->out_bytes > max_out) max_out = it->out_bytes;
    }
    if (r->o->kind == QTFC_OUTPUT_SAFETENSORS) max_out = 0;   /* written from the read buffer */
    if (max_f32 > UINT64_MAX / 4) return;
    double bound = 3.0 * (double)max_f32, reads = 2.0 * (double)r->plan.max_read_bytes;
    *read_ahead = reads + (double)max_out <= bound;
    *write_behind = *read_ahead && r->o->kind == QTFC_OUTPUT_QTF &&
                    reads + 2.0 * (double)max_out <= bound;
}

/* --- the run -------------------------------------------------------------- */

/* 1 if the quantizer of enc reads the importance vector (spec/encodings). */
static int uses_importance(const qtf_encoding *e) {
    switch (e->id) {
    case QTF_ENC_INT: case QTF_ENC_NF4: case QTF_ENC_FP4: case QTF_ENC_MXFP4: return e->search != 0;
    case QTF_ENC_PAL: return 1;
    case QTF_ENC_RAW: case QTF_ENC_F32: case QTF_ENC_F16: case QTF_ENC_BF16:
    case QTF_ENC_Q8_0: case QTF_ENC_GGML_MXFP4: return 0;
    default: return 1; /* the other ggml types: weighted fits */
    }
}

/* Appends ", name" for the first few of a list (and "..." once). */
static void note_name(char *buf, size_t cap, uint64_t k, const char *name) {
    size_t n = strlen(buf);
    if (k < 4) snprintf(buf + n, cap - n, "%s'%s'", k ? ", " : "", name);
    else if (k == 4) snprintf(buf + n, cap - n, ", ...");
}

/* What the user should hear about the plan (issue 11, item 14), as
 * warnings now and one line of the closing summary: rules that matched no
 * tensor, an importance file no encoding uses or that lacks vectors, the
 * fallbacks taken; and a refusal to re-quantize an already lossy .qtf
 * without --allow-requantize. 0, or -1 (usage error, message printed). */
static int plan_notes(run *r) {
    const qtfc_options *o = r->o;
    const qtfc_plan *p = &r->plan;
    char line[2048] = "";
    size_t len = 0;
#define NOTE(...)                                                                       \
    do {                                                                                \
        if (len < sizeof line)                                                          \
            len += (size_t)snprintf(line + len, sizeof line - len, "%s", len ? "; " : ""); \
        if (len < sizeof line) len += (size_t)snprintf(line + len, sizeof line - len, __VA_ARGS__); \
    } while (0)
    if (o->kind == QTFC_OUTPUT_QTF && qtf_source_get_kind(r->src) == QTF_SOURCE_QTF &&
        !o->allow_requantize) {
        const qtf_file *f = qtf_source_qtf_file(r->src);
        uint64_t lossy = 0;
        char names[512] = "";
        for (uint64_t i = 0; i < p->n_items; i++) {
            const qtfc_plan_item *it = &p->items[i];
            const qtf_tensor_info *ti = f ? qtf_tensor_get(f, it->source_index) : NULL;
            qtf_encoding_id was = ti && ti->encoding_known ? ti->encoding.id : QTF_ENC_F32;
            int was_lossy = was != QTF_ENC_RAW && was != QTF_ENC_F32 && was != QTF_ENC_F16 &&
                            was != QTF_ENC_BF16;
            qtf_encoding_id now = it->choice.enc.id;
            if (was_lossy && now != QTF_ENC_RAW && now != QTF_ENC_F32)
                note_name(names, sizeof names, lossy++, it->tensor->name);
        }
        if (lossy) {
            cli_error("%s is already quantized: re-quantizing %llu tensor%s (%s) adds a second "
                "error on top of the first; convert from the original checkpoint, or give "
                "--allow-requantize", o->input, (unsigned long long)lossy, lossy == 1 ? "" : "s",
                names);
            return -1;
        }
    }
    if (o->kind == QTFC_OUTPUT_QTF) {
        for (size_t k = 0; k < o->recipe->n_rules; k++) {
            uint64_t hits = 0;
            for (uint64_t i = 0; i < p->n_items; i++)
                hits += p->items[i].choice.why == QTFC_WHY_RULE && p->items[i].choice.rule == (long)k;
            if (!hits) {
                const qtfc_rule *ru = &o->recipe->rules[k];
                if (!o->quiet)
                    cli_error("warning: %s '%s=%s' matches no tensor", ru->origin, ru->glob,
                        ru->spec.text);
                NOTE("%s matched no tensor", ru->origin);
            }
        }
    }
    if (o->importance_path) {
        uint64_t users = 0, missing = 0;
        char names[512] = "";
        for (uint64_t i = 0; i < p->n_items; i++) {
            const qtfc_plan_item *it = &p->items[i];
            if (o->kind != QTFC_OUTPUT_QTF || !uses_importance(&it->choice.enc)) continue;
            users++;
            if (it->importance < 0) note_name(names, sizeof names, missing++, it->tensor->name);
        }
        if (!users) {
            if (!o->quiet)
                cli_error("warning: --importance %s: no tensor's encoding uses importance (int/nf4/"
                    "fp4/mxfp4 need ',search'; pal and the ggml k-quants use it)",
                    o->importance_path);
            NOTE("--importance unused");
        } else if (missing) {
            if (!o->quiet && !r->imx) /* with an imatrix each one is named below */
                cli_error("warning: --importance %s: no vector for %llu tensor%s that use%s one (%s): "
                    "weighted uniformly", o->importance_path, (unsigned long long)missing,
                    missing == 1 ? "" : "s", missing == 1 ? "s" : "", names);
            NOTE("importance missing for %llu tensor%s", (unsigned long long)missing,
                 missing == 1 ? "" : "s");
        }
    }
    if (p->n_fallbacks) {
        char names[512] = "";
        uint64_t k = 0;
        for (uint64_t i = 0; i < p->n_items; i++)
            if (p->items[i].choice.fell_back) note_name(names, sizeof names, k++, p->items[i].tensor->name);
        if (!o->quiet && !o->verbose && !o->dry_run)
            cli_error("warning: %llu tensor%s got the fallback encoding %s: %s (-v says why)",
                (unsigned long long)p->n_fallbacks, p->n_fallbacks == 1 ? "" : "s",
                o->recipe->fallback.text, names);
        NOTE("%llu fallback%s (%s)", (unsigned long long)p->n_fallbacks,
             p->n_fallbacks == 1 ? "" : "s", names);
    }
#undef NOTE
    snprintf(r->notes, sizeof r->notes, "%s", line);
    return 0;
}

static int open_inputs(run *r) {
    const qtfc_options *o = r->o;
    qtf_status st = qtf_source_open_with(&r->src, o->input, &o->open);
    if (st != QTF_OK) {
        cli_error("%s: cannot open checkpoint: %s", o->input, cli_why(st));
        return -1;
    }
    if (qtf_source_get_kind(r->src) == QTF_SOURCE_QTF && !(o->open.flags & QTF_OPEN_NO_MMAP))
        cli_guard_mapped_file(o->input);
    if (qtf_source_note(r->src) && !o->quiet) cli_error("warning: %s", qtf_source_note(r->src));
    char ierr[2048];
    int is_imatrix = o->importance_path ? qtf_imatrix_map_open(&r->imx, o->importance_path,
                                                                r->src, ierr, sizeof ierr) : 0;
    if (is_imatrix < 0) {
        cli_error("%s", ierr);
        return -1;
    }
    if (o->importance_path && !is_imatrix) {
        st = qtf_source_open(&r->imp, o->importance_path);
        if (st != QTF_OK) {
            cli_error("%s: cannot open importance file: %s", o->importance_path,
                cli_why(st));
            return -1;
        }
    }
    qtfc_plan_options po = { o->kind, o->recipe, o->st_keep, o->st_dtype, r->imp, r->imx };
    char err[8192];
    if (qtfc_plan_build(&r->plan, r->src, &po, err, sizeof err) != 0) {
        cli_error("%s", err);
        return -1;
    }
    if (o->verbose || (o->dry_run && !o->quiet)) {
        for (uint64_t i = 0; i < r->plan.n_items; i++) {
            const qtfc_plan_item *it = &r->plan.items[i];
            if (!it->choice.fell_back) continue;
            char enc[96];
            qtfc_item_encoding_text(enc, sizeof enc, &r->plan, it);
            cli_error("fallback: tensor '%s' gets %s: %s", it->tensor->name, enc,
                it->choice.fallback_note);
        }
    }
    /* llama.cpp quantizes a weight its imatrix does not cover without one */
    for (uint64_t i = 0; r->imx && !o->quiet && i < r->plan.n_items; i++)
        if (r->plan.items[i].importance == -2)
            cli_error("warning: %s has no importance for '%s': weighted uniformly",
                o->importance_path, r->plan.items[i].tensor->name);
    if (plan_notes(r) != 0) return -1;
    /* Importance vectors are small: check them all before writing anything. */
    for (uint64_t i = 0; i < r->plan.n_items; i++) {
        const float *unused;
        if (load_importance(r, &r->plan.items[i], &unused) != 0) return -1;
    }
    if (r->plan.max_read_bytes > SIZE_MAX - 64) {
        cli_error("%s: a tensor of %llu bytes does not fit in memory here", o->input,
            (unsigned long long)r->plan.max_read_bytes);
        return -1;
    }
    return 0;
}

static uint64_t input_bytes(const qtf_source *s) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < qtf_source_file_count(s); i++) total += qtf_source_file_size(s, i);
    return total;
}

/* Bytes the tensors take in the finished .qtf (after optional zstd). */
static uint64_t stored_tensor_bytes(const char *path, uint64_t fallback) {
    qtf_open_options oo = QTF_OPEN_OPTIONS_INIT;
    oo.flags = QTF_OPEN_METADATA_ONLY;
    qtf_file *f = NULL;
    if (qtf_file_open(&f, path, &oo) != QTF_OK) return fallback;
    uint64_t total = 0;
    for (uint64_t i = 0; i < qtf_tensor_count(f); i++) {
        const qtf_tensor_info *ti = qtf_tensor_get(f, i);
        for (uint32_t p = 0; ti && p < ti->n_parts; p++) total += ti->parts[p].stored_size;
    }
    qtf_file_close(f);
    return total;
}

static void summary(run *r) {
    double secs = cli_now() - r->t0;
    uint64_t in = input_bytes(r->src);
    struct stat st;
    uint64_t out = stat(r->o->output, &st) == 0 ? (uint64_t)st.st_size : 0;
    uint64_t tensor_bytes = r->o->kind == QTFC_OUTPUT_QTF
                                ? stored_tensor_bytes(r->o->output, r->plan.total_out_bytes)
                                : r->plan.total_out_bytes;
    char ins[32], outs[32];
    qtfc_human_bytes(ins, sizeof ins, in);
    qtfc_human_bytes(outs, sizeof outs, out);
    fprintf(stderr, "qtf-convert: %s -> %s: %llu tensors, %s -> %s (ratio %.3f), "
            "%.3f bits/weight, %.2f s, %.1f MiB/s\n", r->o->input, r->o->output,
            (unsigned long long)r->plan.n_items, ins, outs,
            in ? (double)out / (double)in : 0.0,
            r->plan.total_elements ? 8.0 * (double)tensor_bytes / (double)r->plan.total_elements
                                   : 0.0,
            secs, secs > 0 ? (double)in / secs / 1048576.0 : 0.0);
    if (r->notes[0]) fprintf(stderr, "qtf-convert: warnings: %s\n", r->notes);
}

static void verbose_line(run *r, const qtfc_plan_item *it, double secs) {
    char shape[160], enc[96];
    qtfc_format_shape(shape, sizeof shape, it->tensor->n_dims, it->tensor->dims);
    qtfc_item_encoding_text(enc, sizeof enc, &r->plan, it);
    qtfc_progress_line(&r->progress, "[%llu/%llu] %s %s %s -> %s, %llu bytes, %.3f bpw, %.3f s",
                       (unsigned long long)r->progress.done_items,
                       (unsigned long long)r->plan.n_items, it->tensor->name, shape,
                       qtf_dtype_name(it->tensor->dtype), enc,
                       (unsigned long long)it->out_bytes, it->bpw, secs);
}

/* Every file this run reads, which the output must never replace: the
 * checkpoint's files, shard index, importance file, recipes and the files
 * embedded from the checkpoint's folder. The paths of the folder files are
 * built in *folder (free() it). NULL on allocation failure. */
static const char **input_paths(run *r, size_t *n, char **folder) {
    const qtfc_options *o = r->o;
    size_t n_known = sizeof known_files / sizeof known_files[0];
    uint32_t n_src = qtf_source_input_count(r->src);
    uint32_t n_imp = r->imp ? qtf_source_input_count(r->imp) : 0;
    const char *dir = qtf_source_dir(r->src);
    size_t names = 0;
    for (size_t i = 0; i < n_known; i++) names += strlen(dir) + strlen(known_files[i].name) + 2;
    const char **p = malloc((2 + n_src + n_imp + o->n_extra_inputs + n_known) * sizeof *p);
    *folder = malloc(names);
    if (!p || !*folder) {
        free(p);
        free(*folder);
        *folder = NULL;
        return NULL;
    }
    *n = 0;
    p[(*n)++] = o->input;
    if (o->importance_path) p[(*n)++] = o->importance_path;
    for (uint32_t i = 0; i < n_src; i++) p[(*n)++] = qtf_source_input_path(r->src, i);
    for (uint32_t i = 0; i < n_imp; i++) p[(*n)++] = qtf_source_input_path(r->imp, i);
    for (size_t i = 0; i < o->n_extra_inputs; i++) p[(*n)++] = o->extra_inputs[i];
    char *at = *folder;
    for (size_t i = 0; i < n_known; i++) {
        p[(*n)++] = at;
        at += sprintf(at, "%s/%s", dir, known_files[i].name) + 1;
    }
    return p;
}

static int create_output(run *r) {
    size_t n_inputs = 0;
    char *folder;
    const char **inputs = input_paths(r, &n_inputs, &folder);
    if (!inputs) {
        cli_error("out of memory");
        return -1;
    }
    qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
    wo.flags = r->o->force ? 0 : QTF_WRITER_NO_REPLACE;
    wo.protected_paths = inputs;
    wo.n_protected = n_inputs;
    qtf_status st = r->o->kind == QTFC_OUTPUT_SAFETENSORS
                        ? qtf_st_writer_create(&r->stw, r->o->output, &wo)
                        : qtf_writer_create(&r->w, r->o->output, &wo);
    free(folder);
    free(inputs);
    if (st != QTF_OK) {
        cli_error("%s: cannot create output: %s", r->o->output, cli_why(st));
        return st == QTF_E_INVALID_ARG ? -2 : -1;
    }
    if (r->o->kind == QTFC_OUTPUT_SAFETENSORS) {
        st = qtf_st_writer_metadata(r->stw, "format", "pt");
        if (st != QTF_OK) {
            cli_error("%s: %s", r->o->output, cli_why(st));
            return -1;
        }
        for (uint64_t i = 0; i < r->plan.n_items; i++) {
            const qtfc_plan_item *it = &r->plan.items[i];
            st = qtf_st_writer_declare(r->stw, it->tensor->name, it->out_dtype,
                                       it->tensor->n_dims, it->tensor->dims);
            if (st != QTF_OK) {
                cli_error("%s: tensor '%s': %s", r->o->output, it->tensor->name,
                    cli_why(st));
                return -1;
            }
        }
        return 0;
    }
    return 0;
}

static void abort_output(run *r) {
    qtf_writer_abort(r->w);
    r->w = NULL;
    qtf_st_writer_abort(r->stw);
    r->stw = NULL;
}

static int signal_exit(const run *r) {
    int sig = (int)*r->o->interrupted;
    cli_error("interrupted by signal %d; %s not written", sig, r->o->output);
    return QTFC_EXIT_SIGNAL_BASE + sig;
}

static int convert_run(run *r) {
    const qtfc_options *o = r->o;
    if (open_inputs(r) != 0) return QTFC_EXIT_USAGE;
    if (o->dry_run) {
        qtfc_plan_print(stdout, &r->plan);
        return fflush(stdout) == 0 ? QTFC_EXIT_OK : QTFC_EXIT_FAILURE;
    }
    size_t buf_size = (size_t)(r->plan.max_read_bytes ? r->plan.max_read_bytes : 1);
    int ahead, behind;
    plan_pipeline(r, &ahead, &behind);
    r->buf = malloc(buf_size);
    r->buf2 = ahead ? malloc(buf_size) : NULL;
    if (!r->buf || (ahead && !r->buf2)) {
        cli_error("out of memory: the largest tensor needs a %llu-byte buffer",
            (unsigned long long)r->plan.max_read_bytes);
        return QTFC_EXIT_FAILURE;
    }
    qtfc_progress_begin(&r->progress, stderr, o->progress_bar && !o->quiet, r->plan.n_items,
                        r->plan.total_source_bytes);
    int created = create_output(r);
    if (created != 0) return created == -2 ? QTFC_EXIT_USAGE : QTFC_EXIT_FAILURE;
    if (o->kind == QTFC_OUTPUT_QTF) {
        int rc = qtf_source_get_kind(r->src) == QTF_SOURCE_QTF ? copy_qtf_metadata(r)
                                                               : embed_folder_files(r);
        if (rc != 0) return rc == INPUT_ERROR ? QTFC_EXIT_USAGE : QTFC_EXIT_FAILURE;
        if (set_source_metadata(r) != 0) return QTFC_EXIT_FAILURE;
    }
    reader rd;
    if (ahead && reader_start(&rd, r) != 0) ahead = 0;
    /* A tensor stored as read views its read buffer until written, which
     * only read-ahead's second buffer makes safe to overlap. */
    writer_thread wt;
    behind = behind && ahead && writer_thread_start(&wt, r->w) == 0;
    int raw_in_writer = 0;      /* the writer thread's tensor views a read buffer */
    int code = QTFC_EXIT_OK;
    if (ahead) reader_request(&rd, 0, r->buf);
    for (uint64_t i = 0; i < r->plan.n_items && code == QTFC_EXIT_OK; i++) {
        if (interrupted(r)) {
            code = signal_exit(r);
            break;
        }
        const qtfc_plan_item *it = &r->plan.items[i];
        void *buf = (ahead && (i & 1)) ? r->buf2 : r->buf;
        qtfc_progress_current(&r->progress, it->tensor->name);
        double t = cli_now();
        char detail[1024] = "";
        qtf_status st;
        if (ahead) {
            st = reader_wait(&rd, (int64_t)i, detail, sizeof detail);
            if (st == QTF_OK && i + 1 < r->plan.n_items) {
                /* the next read reuses the buffer of tensor i-1 */
                if (raw_in_writer && wait_written(&wt, r) != 0) {
                    code = QTFC_EXIT_FAILURE;
                    break;
                }
                raw_in_writer = 0;
                reader_request(&rd, (int64_t)i + 1, (i & 1) ? r->buf : r->buf2);
            }
        } else {
            st = read_item(r, it, buf);
            if (st != QTF_OK) snprintf(detail, sizeof detail, "%s", qtf_error_detail());
        }
        if (st != QTF_OK) {
            cli_error("%s: tensor '%s': read failed: %s", o->input, it->tensor->name,
                detail[0] ? detail : qtf_status_text(st));
            code = QTFC_EXIT_FAILURE;
            break;
        }
        int rc;
        if (o->kind == QTFC_OUTPUT_QTF) {
            encoded_tensor e;
            rc = encode_tensor(r, it, buf, &e);
            if (rc == 0 && behind) {
                rc = wait_written(&wt, r);
                if (rc == 0) {
                    writer_thread_submit(&wt, &e);
                    raw_in_writer = e.enc == NULL;
                } else {
                    qtf_encoded_free(e.enc);
                }
            } else if (rc == 0) {
                st = write_encoded(r->w, &e);
                if (st != QTF_OK) rc = fail_tensor(o->output, it, "write", st);
            }
        } else {
            rc = write_st_tensor(r, it, buf);
        }
        if (rc != 0) {
            code = rc == -2 ? QTFC_EXIT_USAGE : QTFC_EXIT_FAILURE;
            break;
        }
        qtfc_progress_step(&r->progress, it->tensor->nbytes);
        if (o->verbose) verbose_line(r, it, cli_now() - t);
    }
    if (behind) {
        if (code == QTFC_EXIT_OK && wait_written(&wt, r) != 0) code = QTFC_EXIT_FAILURE;
        writer_thread_stop(&wt);
    }
    if (ahead) reader_stop(&rd);
    if (code != QTFC_EXIT_OK) return code;
    if (interrupted(r)) return signal_exit(r);
    qtfc_progress_end(&r->progress);
    qtf_status st;
    if (o->kind == QTFC_OUTPUT_QTF) {
        st = qtf_writer_finish(r->w);
        r->w = NULL;
    } else {
        st = qtf_st_writer_finish(r->stw);
        r->stw = NULL;
    }
    if (st != QTF_OK) {
        cli_error("%s: finishing the output failed: %s", o->output, cli_why(st));
        return QTFC_EXIT_FAILURE;
    }
    if (!o->quiet) summary(r);
    return QTFC_EXIT_OK;
}

int qtfc_convert(const qtfc_options *o) {
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.t0 = cli_now();
    int code = convert_run(&r);
    if (code != QTFC_EXIT_OK) {
        if (r.progress.out) qtfc_progress_end(&r.progress);
        abort_output(&r);
    }
    free(r.buf);
    free(r.buf2);
    free(r.importance);
    free(r.transposed);
    qtfc_plan_free(&r.plan);
    qtf_source_close(r.imp);
    qtf_imatrix_map_free(r.imx);
    qtf_source_close(r.src);
    return code;
}
