/* convert/gguf_out.c — checkpoint (or .qtf) -> GGUF (see gguf_out.h).
 *
 * Everything that can be wrong with the input (unknown architecture or
 * tensor name, missing hyperparameter or tokenizer, a type that cannot
 * apply, an encoding llama.cpp cannot read) is found while planning, before
 * the output is created. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <unistd.h>

#include "checkpoint/arch.h"
#include "convert.h"
#include "gguf_in.h"
#include "gguf_out.h"
#include "gguf_recipe.h"
#include "checkpoint/gguf_vocab.h"
#include "checkpoint/gguf_writer.h"
#include "checkpoint/imatrix.h"
#include "checkpoint/source.h"
#include "cli/cli_util.h"
#include "target.h"

typedef struct gitem {
    uint64_t src;               /* source tensor index */
    char name[256];             /* GGUF name */
    uint32_t heads;             /* RoPE permutation: heads, 0 = not permuted */
    int transpose;              /* HF [in, out] written as [out, in] (GPT-2 Conv1D) */
    uint32_t rows;              /* rows quantized (HF order, after any transpose) */
    qtfg_tensor t;              /* name points into `name` */
    uint32_t type;
    const char *why;
    int fell_back;
    int copy;                   /* 1: stored bytes already are this ggml type */
    uint64_t nbytes;
    int imatrix;                /* 1: the importance matrix has this tensor */
} gitem;

typedef struct grun {
    const qtfg_options *o;
    qtf_source *src;
    qtf_arch_config acfg;       /* from config.json (not for GGUF-made .qtf) */
    const qtf_arch *arch;
    uint32_t n_head, n_head_kv, n_layer;
    gitem *items;
    size_t n_items;
    qtfg_recipe recipe;
    uint32_t file_type;
    int gguf_origin;            /* a .qtf made from a GGUF: metadata in gguf.* */
    char arch_name[64];
    qtf_vocab_files files;
    qtf_vocab vocab;
    int have_vocab;
    qtf_gguf_writer *w;
    qtf_imatrix *imatrix;       /* --importance */
} grun;

int qtfg_check(qtf_status st, const char *what) {
    if (st == QTF_OK) return 0;
    cli_error("%s: %s", what, cli_why(st));
    return -1;
}

/* Key setters that report their own failure (-1). */
static int put_str(qtf_gguf_writer *w, const char *key, const char *s) {
    return qtfg_check(qtf_gguf_writer_set_string(w, key, s, strlen(s)), key);
}

static int put_u32(qtf_gguf_writer *w, const char *key, uint32_t v) {
    return qtfg_check(qtf_gguf_writer_set_u32(w, key, v), key);
}

/* --- inputs: config and tokenizer files, from a folder or a .qtf ---------- */

/* The hf.file.<name> blob of a .qtf source (borrowed), or NULL. */
static const void *qtf_blob(size_t *len, const qtf_file *f, const char *name) {
    char key[QTF_MAX_KEY_LEN];
    snprintf(key, sizeof key, "hf.file.%s", name);
    const void *data;
    uint64_t n;
    const char *media;
    if (qtf_meta_get_blob(&data, &n, &media, f, key) != QTF_OK) return NULL;
    *len = (size_t)n;
    return data;
}

static int load_inputs(grun *r) {
    const qtf_file *f = qtf_source_qtf_file(r->src);
    if (f) {
        qtf_vocab_files *v = &r->files;
        v->spm = qtf_blob(&v->spm_len, f, "tokenizer.model");
        v->tokenizer_json = qtf_blob(&v->tokenizer_json_len, f, "tokenizer.json");
        v->tokenizer_config = qtf_blob(&v->tokenizer_config_len, f, "tokenizer_config.json");
        v->llama2c = qtf_blob(&v->llama2c_len, f, "tok512.bin");
        v->config = qtf_blob(&v->config_len, f, "config.json");
        uint64_t idx;
        r->gguf_origin = !v->config &&
                         qtf_meta_find(&idx, f, "gguf.general.architecture") == QTF_OK;
        return 0;
    }
    qtf_status st = qtf_vocab_files_read_dir(&r->files, qtf_source_dir(r->src));
    if (st) {
        cli_error("%s", cli_why(st));
        return -1;
    }
    return 0;
}

/* A .qtf that came from a GGUF: the architecture and head counts are in its
 * gguf.* keys. */
static int load_gguf_origin(grun *r) {
    const qtf_file *f = qtf_source_qtf_file(r->src);
    const char *s;
    uint64_t len, v;
    char key[128];
    if (qtf_meta_get_string(&s, &len, f, "gguf.general.architecture") != QTF_OK ||
        len >= sizeof r->arch_name) {
        cli_error("%s: gguf.general.architecture is not a string", r->o->input);
        return -1;
    }
    memcpy(r->arch_name, s, (size_t)len);
    r->arch_name[len] = '\0';
    if (!(r->arch = qtf_arch_by_gguf_name(r->arch_name))) {
        cli_error("%s: GGUF architecture '%s' is not supported", r->o->input, r->arch_name);
        return -1;
    }
    snprintf(key, sizeof key, "gguf.%s.attention.head_count", r->arch_name);
    if (qtf_meta_get_u64(&v, f, key) != QTF_OK || v == 0 || v > UINT32_MAX) {
        cli_error("%s: %s missing or not a positive integer", r->o->input, key);
        return -1;
    }
    r->n_head = (uint32_t)v;
    snprintf(key, sizeof key, "gguf.%s.attention.head_count_kv", r->arch_name);
    r->n_head_kv = qtf_meta_get_u64(&v, f, key) == QTF_OK && v && v <= UINT32_MAX
                       ? (uint32_t)v : r->n_head;
    snprintf(key, sizeof key, "gguf.%s.block_count", r->arch_name);
    r->n_layer = qtf_meta_get_u64(&v, f, key) == QTF_OK && v <= UINT32_MAX ? (uint32_t)v : 0;
    return 0;
}

/* config.json through the architecture table (checkpoint/arch.h), which
 * reads a file: the .qtf's embedded copy goes through a temporary file. */
static int load_config(grun *r) {
    if (r->gguf_origin) return load_gguf_origin(r);
    if (!r->files.config) {
        cli_error("%s: no config.json: a GGUF needs the architecture and its hyperparameters",
             r->o->input);
        return -1;
    }
    char path[PATH_MAX];
    int tmp = qtf_source_qtf_file(r->src) != NULL;
    qtf_status st;
    if (tmp) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/qtf-config-XXXXXX.json", dir && *dir ? dir : "/tmp");
        int fd = mkstemps(path, 5);
        if (fd < 0) {
            cli_error("%s: cannot create a temporary file for config.json: %s", path,
                     strerror(errno));
            return -1;
        }
        ssize_t n = write(fd, r->files.config, r->files.config_len);
        close(fd);
        if (n < 0 || (size_t)n != r->files.config_len) {
            unlink(path);
            cli_error("%s: cannot write the embedded config.json", path);
            return -1;
        }
    } else {
        snprintf(path, sizeof path, "%s/config.json", qtf_source_dir(r->src));
    }
    st = qtf_arch_config_load(&r->acfg, path);
    if (tmp) unlink(path);
    if (st) {
        cli_error("%s: %s", r->o->input, cli_why(st));
        return -1;
    }
    r->arch = r->acfg.arch;
    r->n_head = r->acfg.n_head;
    r->n_head_kv = r->acfg.n_head_kv;
    r->n_layer = r->acfg.n_layer;
    return 0;
}

static int load_vocab(grun *r) {
    if (r->gguf_origin) return 0;      /* the tokenizer keys are among gguf.* */
    qtf_status st = qtf_vocab_load(&r->vocab, &r->files, r->o->input);
    if (st) {
        cli_error("%s", cli_why(st));
        return -1;
    }
    r->have_vocab = 1;
    return 0;
}

/* --- importance (llama-imatrix's imatrix.gguf) ----------------------------- */

static int load_imatrix(grun *r) {
    if (!r->o->importance) return 0;
    qtf_status st = qtf_imatrix_open(&r->imatrix, r->o->importance);
    if (st != QTF_OK) {
        char why[1024];
        snprintf(why, sizeof why, "%s", cli_why(st));  /* before another open replaces it */
        qtf_source *vectors = NULL;
        if (qtf_source_open(&vectors, r->o->importance) == QTF_OK) {
            /* a file of vectors named like the checkpoint's tensors (what
             * bench/model_quality.py writes): said as such, with the way round */
            qtf_source_close(vectors);
            cli_error("%s: a file of importance vectors, not a llama.cpp importance matrix: a "
                      ".gguf output takes imatrix.gguf or imatrix.dat; with this file, convert "
                      "to .qtf with --target-ladder ggml, then the .qtf to .gguf",
                      r->o->importance);
        } else {
            cli_error("%s: %s", r->o->importance, why);
        }
        return -1;
    }
    for (size_t i = 0; i < r->n_items; i++) {
        gitem *it = &r->items[i];
        const qtf_imatrix_entry *e = qtf_imatrix_find(r->imatrix, it->name);
        if (!e) continue;
        if (e->n_experts != 1 || e->n != it->t.ne[0]) {
            cli_error("%s: entry %s has %llu values x %llu experts; the tensor's rows have %llu",
                 r->o->importance, it->name, (unsigned long long)(e->n / e->n_experts),
                 (unsigned long long)e->n_experts, (unsigned long long)it->t.ne[0]);
            return -1;
        }
        it->imatrix = 1;
    }
    return 0;
}

/* The per-column importance of item `it` (llama-quantize's means), or NULL. */
static const float *item_weights(const grun *r, const gitem *it) {
    const qtf_imatrix_entry *e = it->imatrix ? qtf_imatrix_find(r->imatrix, it->name) : NULL;
    return e ? e->values : NULL;
}

/* quantize.imatrix.* keys, as llama-quantize writes them (the dataset name
 * only exists in the GGUF form). */
static int write_imatrix_keys(grun *r) {
    if (!r->imatrix) return 0;
    const char *f = r->o->importance;
    if (put_str(r->w, "quantize.imatrix.file", f))
        return -1;
    qtf_gguf *g = NULL;
    qtf_value v, e;
    uint64_t idx;
    if (qtf_imatrix_get_format(r->imatrix) == QTF_IMATRIX_GGUF &&
        qtf_gguf_open(&g, f, QTF_GGUF_OPEN_METADATA_ONLY) == QTF_OK &&
        qtf_gguf_get_array(&v, &idx, g, "imatrix.datasets", QTF_TYPE_STRING) == QTF_OK &&
        v.count > 0 && qtf_gguf_array_elem(&e, g, idx, 0) == QTF_OK &&
        qtfg_check(qtf_gguf_writer_set_string(r->w, "quantize.imatrix.dataset", e.str, e.len), f)) {
        qtf_gguf_close(g);
        return -1;
    }
    qtf_gguf_close(g);
    uint64_t n = qtf_imatrix_count(r->imatrix);
    if (qtfg_check(qtf_gguf_writer_set_u32(r->w, "quantize.imatrix.entries_count",
                                    n > UINT32_MAX ? UINT32_MAX : (uint32_t)n), f))
        return -1;
    uint32_t chunks = qtf_imatrix_chunk_count(r->imatrix);
    if (chunks && put_u32(r->w, "quantize.imatrix.chunks_count", chunks))
        return -1;
    return 0;
}

/* --- plan ----------------------------------------------------------------- */

/* The ggml type a .qtf tensor is stored in, or -1 when its encoding is not
 * one llama.cpp reads. */
static int stored_ggml_type(const qtf_file *f, const char *name) {
    uint64_t idx;
    if (!f || qtf_tensor_find(&idx, f, name) != QTF_OK) return -1;
    const qtf_tensor_info *ti = qtf_tensor_get(f, idx);
    if (!ti->encoding_known || ti->n_parts != 1) return -1;
    char text[64];
    if (qtf_encoding_format(text, sizeof text, &ti->encoding) != QTF_OK) return -1;
    uint32_t type;
    /* Options (e.g. zstd) mean not the plain ggml layout. */
    if (strchr(text, ':') || qtf_ggml_type_from_name(&type, text) != QTF_OK) return -1;
    return (int)type;
}

/* Whether the blocks of a .qtf tensor stored in a ggml type are laid out
 * as GGUF wants them: a weight GGUF stores transposed (GPT-2's Conv1D) has
 * blocks along its input only when the .qtf stores it transposed too
 * (spec/FORMAT.md 6.4); any other weight only when stored row-major. */
static int blocks_in_gguf_order(const qtf_file *f, const char *name, int transpose) {
    uint64_t idx;
    if (!f || qtf_tensor_find(&idx, f, name) != QTF_OK) return 0;
    uint32_t layout = qtf_tensor_get(f, idx)->layout;
    return transpose ? layout == QTF_LAYOUT_TRANSPOSED : layout == QTF_LAYOUT_ROW_MAJOR;
}

static int build_items(grun *r) {
    uint64_t n = qtf_source_tensor_count(r->src);
    r->items = calloc(n ? n : 1, sizeof *r->items);
    if (!r->items) {
        cli_error("out of memory");
        return -1;
    }
    /* A GGUF-made .qtf holds exactly the GGUF's tensors, output head included. */
    int tied = !r->gguf_origin && r->acfg.tie_word_embeddings;
    for (uint64_t i = 0; i < n; i++) {
        const qtf_source_tensor *t = qtf_source_tensor_get(r->src, i);
        gitem *it = &r->items[r->n_items];
        const qtf_arch_tensor *e = NULL;
        if (qtf_arch_hf_to_gguf(it->name, sizeof it->name, &e, NULL, r->arch, t->name) !=
            QTF_OK) {
            cli_error("%s: tensor '%s' has no GGUF name for architecture %s: %s", r->o->input,
                 t->name, r->arch->gguf_arch, qtf_error_detail());
            return -1;
        }
        if (!e->gguf) continue;         /* not part of a llama.cpp model */
        if (tied && strcmp(it->name, "output.weight") == 0) {
            if (r->o->verbose) cli_error("%s: skipped (tied to the token embedding)", t->name);
            continue;
        }
        if (t->n_dims == 0 || t->n_dims > 4) {
            cli_error("%s: tensor '%s' has %u dimensions; GGUF allows 1..4", r->o->input, t->name,
                 t->n_dims);
            return -1;
        }
        if (qtfc_dtype_is_integer(t->dtype)) {
            cli_error("%s: tensor '%s' is %s; only float tensors go into a GGUF model", r->o->input,
                 t->name, qtf_dtype_name(t->dtype));
            return -1;
        }
        it->src = i;
        it->t.name = it->name;
        it->t.n_dims = t->n_dims;
        it->transpose = e->transpose;
        if (it->transpose && t->n_dims != 2) {
            cli_error("%s: tensor '%s': a transposed weight must be 2-D", r->o->input, t->name);
            return -1;
        }
        /* GGUF ne is the written shape reversed; a transposed [in, out]
         * weight is written [out, in], so its ne is the HF shape itself. */
        for (uint32_t d = 0; d < t->n_dims; d++)
            it->t.ne[d] = it->transpose ? t->dims[d] : t->dims[t->n_dims - 1 - d];
        it->rows = (uint32_t)(t->n_dims > 1 ? it->t.ne[1] : it->t.ne[0]);
        it->heads = qtf_arch_permute_heads(e, r->n_head, r->n_head_kv);
        if (it->heads && qtf_arch_permute_check(t->dims[0], it->heads) != QTF_OK) {
            cli_error("%s: tensor '%s': %s", r->o->input, t->name, qtf_error_detail());
            return -1;
        }
        r->n_items++;
    }
    return 0;
}

/* file_type of a .qtf converted with its stored types: the preset of the
 * most common type among the matrices. */
static uint32_t file_type_of_items(const grun *r) {
    size_t count[QTF_GGML_TYPE_COUNT_] = { 0 };
    for (size_t i = 0; i < r->n_items; i++)
        if (qtfg_is_quantizable(&r->items[i].t)) count[r->items[i].type]++;
    uint32_t best = QTF_GGML_F32;
    for (uint32_t t = 0; t < QTF_GGML_TYPE_COUNT_; t++)
        if (count[t] > count[best]) best = t;
    char name[16];
    const char *tn = qtf_ggml_type_get(best)->name;
    size_t k = 0;
    for (; tn[k] && k + 1 < sizeof name; k++)
        name[k] = (char)(tn[k] >= 'A' && tn[k] <= 'Z' ? tn[k] + 32 : tn[k]);
    name[k] = '\0';
    const qtfg_preset *p = qtfg_preset_find(name);
    if (!p) {
        /* K-quant bases are named by their _M mixtures. */
        char alt[24];
        snprintf(alt, sizeof alt, "%s_m", name);
        p = qtfg_preset_find(alt);
    }
    return p ? p->file_type : 0;
}

/* --target-bpw / --target-size: one ggml type per tensor that
 * llama-quantize would quantize and no --rule names (convert/target.h),
 * added as exact-name rules after the --rule ones. */
static int target_rules(grun *r) {
    const qtfg_options *o = r->o;
    const char **names = calloc(r->n_items ? r->n_items : 1, sizeof *names);
    const char **types = calloc(r->n_items ? r->n_items : 1, sizeof *types);
    size_t *which = calloc(r->n_items ? r->n_items : 1, sizeof *which);
    int rc = -1;
    if (!names || !types || !which) {
        cli_error("out of memory");
        goto out;
    }
    size_t n = 0;
    uint64_t fixed = 0, elements = 0;
    for (size_t i = 0; i < r->n_items; i++) {
        const gitem *it = &r->items[i];
        const qtf_source_tensor *t = qtf_source_tensor_get(r->src, it->src);
        const char *why = NULL;
        int fb = 0;
        uint32_t type = qtfg_recipe_choose(&r->recipe, &it->t, &why, &fb);
        elements += t->n_elements;
        if (qtfg_is_quantizable(&it->t) &&
            why == QTFG_NOT_QUANTIZED) {
            names[n] = t->name;
            which[n++] = i;
            continue;
        }
        uint64_t bytes;
        if (qtf_ggml_nbytes(&bytes, type, it->t.n_dims, it->t.ne) != QTF_OK) {
            cli_error("%s: tensor '%s': %s", o->input, t->name, qtf_error_detail());
            goto out;
        }
        fixed += bytes;
    }
    qtfc_target_options to;
    memset(&to, 0, sizeof to);
    to.input = o->input;
    to.importance_path = o->importance;
    to.target_bpw = o->target_bpw;
    to.target_bytes = o->target_bytes;
    to.threads = o->threads;
    to.dry_run = o->dry_run;
    to.quiet = o->quiet;
    to.verbose = o->verbose;
    int code = qtfc_target_ggml(types, names, n, fixed, elements, &to);
    if (code != QTFC_EXIT_OK) {
        rc = code == QTFC_EXIT_USAGE ? -1 : -2;
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        char glob[560], rule[600], err[1024];
        qtfc_glob_escape(glob, sizeof glob, r->items[which[k]].name);
        snprintf(rule, sizeof rule, "%s=%s", glob, types[k]);
        if (qtfg_recipe_add_rule(&r->recipe, rule, o->target_bpw > 0 ? "--target-bpw"
                                                                       : "--target-size",
                                 err, sizeof err) != 0) {
            cli_error("%s", err);
            goto out;
        }
    }
    rc = 0;
out:
    free(names);
    free(types);
    free(which);
    return rc;
}

static int plan(grun *r) {
    const qtfg_options *o = r->o;
    const qtf_file *qf = qtf_source_qtf_file(r->src);
    char err[1024];
    for (size_t i = 0; i < o->n_rules; i++) {
        char origin[32];
        snprintf(origin, sizeof origin, "--rule %zu", i + 1);
        if (qtfg_recipe_add_rule(&r->recipe, o->rules[i], origin, err, sizeof err) != 0) {
            cli_error("%s", err);
            return -1;
        }
    }
    int targeted = o->target_bpw > 0 || o->target_bytes > 0;
    if (targeted) {
        int rc = target_rules(r);
        if (rc != 0) return rc;
    }
    /* with a target every quantizable tensor has a rule: no preset */
    const char *preset = targeted ? NULL : o->preset ? o->preset : qf ? NULL : "f16";
    if (preset) {
        const qtfg_preset *p = qtfg_preset_find(preset);
        if (!p) {
            char names[256];
            qtfg_preset_names(names, sizeof names);
            cli_error("-e %s: not a GGUF preset; expected one of: %s", preset, names);
            return -1;
        }
        qtfg_tensor *ts = calloc(r->n_items ? r->n_items : 1, sizeof *ts);
        if (!ts) {
            cli_error("out of memory");
            return -1;
        }
        for (size_t i = 0; i < r->n_items; i++) ts[i] = r->items[i].t;
        qtfg_model m = { r->n_layer, r->n_head, r->n_head_kv, ts, r->n_items,
                         r->imatrix != NULL };
        int rc = qtfg_recipe_build(&r->recipe, p, o->pure, &m, err, sizeof err);
        free(ts);
        if (rc != 0) {
            cli_error("%s", err);
            return -1;
        }
        r->file_type = p->file_type;
    }
    for (size_t i = 0; i < r->n_items; i++) {
        gitem *it = &r->items[i];
        const qtf_source_tensor *t = qtf_source_tensor_get(r->src, it->src);
        int stored = qf ? stored_ggml_type(qf, t->name) : -1;
        {
            const char *why = NULL;
            int fb = 0;
            uint32_t type = qtfg_recipe_choose(&r->recipe, &it->t, &why, &fb);
            /* No preset (.qtf with its own types): rules first, then the stored type. */
            if (!preset && !targeted &&
                (r->recipe.n_user == 0 ||
                 why == QTFG_NOT_QUANTIZED)) {
                if (stored < 0) {
                    char enc[64] = "?";
                    uint64_t idx;
                    if (qtf_tensor_find(&idx, qf, t->name) == QTF_OK)
                        qtf_encoding_format(enc, sizeof enc, &qtf_tensor_get(qf, idx)->encoding);
                    cli_error("%s: tensor '%s' is stored as %s, which llama.cpp cannot read; give "
                         "-e PRESET (or --rule) to re-quantize it", o->input, t->name, enc);
                    return -1;
                }
                type = (uint32_t)stored;
                why = "stored type";
                fb = 0;
            }
            it->type = type;
            it->why = why;
            it->fell_back = fb;
        }
        if (qtf_ggml_nbytes(&it->nbytes, it->type, it->t.n_dims, it->t.ne) != QTF_OK) {
            cli_error("%s: tensor '%s': %s", o->input, t->name, qtf_error_detail());
            return -1;
        }
        /* same type and same block order: copied; a Conv1D weight of a .qtf
         * written before format 1.1 (groups along its output) is re-quantized */
        it->copy = stored >= 0 && (uint32_t)stored == it->type &&
                   blocks_in_gguf_order(qf, t->name, it->transpose);
    }
    uint64_t stored_ft;
    if (!preset && r->gguf_origin && r->recipe.n_user == 0 &&
        qtf_meta_get_u64(&stored_ft, qf, "gguf.general.file_type") == QTF_OK &&
        stored_ft <= UINT32_MAX)
        r->file_type = (uint32_t)stored_ft;     /* the types are the GGUF's own */
    else if (!preset)
        r->file_type = file_type_of_items(r);
    return 0;
}

static void print_plan(const grun *r, FILE *f) {
    char *text = qtfg_recipe_describe(&r->recipe);
    if (text) fputs(text, f);
    free(text);
    fprintf(f, "%-28s %-22s %-5s %-7s %10s %7s  %s\n", "tensor (GGUF)", "ne", "src", "type",
            "bytes", "bpw", "why");
    uint64_t total = 0, elems = 0;
    for (size_t i = 0; i < r->n_items; i++) {
        const gitem *it = &r->items[i];
        const qtf_source_tensor *t = qtf_source_tensor_get(r->src, it->src);
        char ne[96];
        int o = snprintf(ne, sizeof ne, "[");
        for (uint32_t d = 0; d < it->t.n_dims; d++)
            o += snprintf(ne + o, sizeof ne - (size_t)o, "%s%llu", d ? ", " : "",
                          (unsigned long long)it->t.ne[d]);
        snprintf(ne + o, sizeof ne - (size_t)o, "]");
        fprintf(f, "%-28s %-22s %-5s %-7s %10llu %7.3f  %s%s%s%s%s\n", it->name, ne,
                qtf_dtype_name(t->dtype), qtf_ggml_type_get(it->type)->name,
                (unsigned long long)it->nbytes,
                t->n_elements ? 8.0 * (double)it->nbytes / (double)t->n_elements : 0.0, it->why,
                it->fell_back ? ", fallback (block does not divide the row)" : "",
                it->heads ? ", RoPE rows permuted" : it->transpose ? ", transposed" : "",
                it->copy ? ", blocks copied" : "",
                it->imatrix && !it->copy && qtf_ggml_type_get(it->type)->quantized
                    ? ", importance" : "");
        total += it->nbytes;
        elems += t->n_elements;
    }
    fprintf(f, "total: %zu tensors, %llu elements, %llu tensor bytes (%.3f bits/weight), "
            "general.file_type %u\n", r->n_items, (unsigned long long)elems,
            (unsigned long long)total, elems ? 8.0 * (double)total / (double)elems : 0.0,
            r->file_type);
}

/* --- metadata --------------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

/* GGUF-made .qtf: its gguf.* keys back verbatim, in their order, except
 * general.file_type (the types may have changed) and general.alignment (the
 * writer's own). */
static int copy_gguf_metadata(grun *r) {
    const qtf_file *f = qtf_source_qtf_file(r->src);
    for (uint64_t i = 0; i < qtf_meta_count(f); i++) {
        const char *qkey = qtf_meta_key(f, i);
        if (strncmp(qkey, "gguf.", 5) != 0) continue;
        const char *key = qkey + 5;
        if (strcmp(key, "general.alignment") == 0) continue;
        qtf_status st;
        if (strcmp(key, "general.file_type") == 0) {
            st = qtf_gguf_writer_set_u32(r->w, key, r->file_type);
            if (qtfg_check(st, key)) return -1;
            continue;
        }
        qtf_value v;
        if (qtfg_check(qtf_meta_value(&v, f, i), qkey)) return -1;
        if (v.type == QTF_TYPE_STRING) {
            st = qtf_gguf_writer_set_string(r->w, key, v.str, v.len);
        } else if (v.type == QTF_TYPE_ARRAY && v.elem_type == QTF_TYPE_STRING) {
            const char **strs = malloc((size_t)(v.count ? v.count : 1) * sizeof *strs);
            uint64_t *lens = malloc((size_t)(v.count ? v.count : 1) * sizeof *lens);
            st = strs && lens ? QTF_OK : QTF_E_NOMEM;
            for (uint64_t j = 0; j < v.count && !st; j++)
                st = qtf_meta_array_string(&strs[j], &lens[j], f, i, j);
            if (!st) st = qtf_gguf_writer_set_string_array(r->w, key, strs, lens, v.count);
            free(strs);
            free(lens);
        } else if (v.type == QTF_TYPE_ARRAY) {
            st = qtf_gguf_writer_set_array(r->w, key, v.elem_type, v.data, v.count);
        } else if (v.type == QTF_TYPE_BLOB) {
            continue;                   /* no GGUF counterpart */
        } else {
            unsigned char le[8];
            qtfg_value_le(le, &v);
            st = qtf_gguf_writer_set_value(r->w, key, v.type, le);
        }
        if (qtfg_check(st, key)) return -1;
    }
    return 0;
}

static int write_provenance(grun *r) {
    char conv[64];
    snprintf(conv, sizeof conv, "qtf-convert %s", QTF_VERSION_STRING);
    if (put_str(r->w, "qtf.converter", conv))
        return -1;
    const char *kind = qtf_source_kind_name(qtf_source_get_kind(r->src));
    if (put_str(r->w, "qtf.source.format", kind))
        return -1;
    char *recipe = qtfg_recipe_describe(&r->recipe);
    if (!recipe) {
        cli_error("out of memory");
        return -1;
    }
    int rc = put_str(r->w, "qtf.recipe", recipe);
    free(recipe);
    return rc;
}

static int write_metadata(grun *r) {
    if (r->gguf_origin)
        return copy_gguf_metadata(r) != 0 || write_imatrix_keys(r) != 0 ? -1
                                                                          : write_provenance(r);
    const char *an = r->arch->gguf_arch;
    char key[128], name[PATH_MAX];
    if (put_str(r->w, "general.architecture", an))
        return -1;
    if (qtfg_check(qtf_gguf_writer_set_string(r->w, "general.type", "model", 5), "general.type"))
        return -1;
    if (r->o->name) {
        snprintf(name, sizeof name, "%s", r->o->name);
    } else {
        const qtf_file *qf = qtf_source_qtf_file(r->src);
        const char *s = NULL;
        uint64_t len = 0;
        if (qf && qtf_meta_get_string(&s, &len, qf, "general.name") == QTF_OK &&
            len < sizeof name) {
            memcpy(name, s, (size_t)len);
            name[len] = '\0';
        } else {
            char resolved[PATH_MAX];
            const char *dir = qtf_source_dir(r->src);
            snprintf(name, sizeof name, "%s", base_name(realpath(dir, resolved) ? resolved : dir));
            size_t n = strlen(name);
            if (n > 3 && strcmp(name + n - 3, "-hf") == 0) name[n - 3] = '\0';
        }
    }
    if (put_str(r->w, "general.name", name))
        return -1;
    for (size_t i = 0; i < r->acfg.n_values; i++) {
        const qtf_arch_hvalue *h = &r->acfg.values[i];
        if (!h->present) continue;
        snprintf(key, sizeof key, "%s.%s", an, h->gguf_key);
        qtf_status st = h->type == QTF_TYPE_F32
                            ? qtf_gguf_writer_set_f32(r->w, key, (float)h->f)
                            : qtf_gguf_writer_set_u32(r->w, key, (uint32_t)h->u);
        if (qtfg_check(st, key)) return -1;
    }
    if (put_u32(r->w, "general.file_type", r->file_type))
        return -1;
    if (put_u32(r->w, "general.quantization_version", 2))
        return -1;
    if (qtfg_check(qtf_vocab_write_gguf(&r->vocab, r->w), "tokenizer") ||
        write_imatrix_keys(r) != 0)
        return -1;
    /* Provenance (qtf.*): what made this file and from what. */
    return write_provenance(r);
}

/* --- tensors ------------------------------------------------------------------ */

/* Encodes n_dims/dims (row-major, HF order) f32 values as ggml `type`
 * blocks into *out (malloc'd, nbytes long). */
static int encode(void **out, uint32_t type, float *x, const qtf_source_tensor *t,
                  uint64_t nbytes, unsigned threads, const float *weights, const char *name) {
    *out = NULL;
    if (type == QTF_GGML_F32) {
        *out = x;               /* little-endian host: the floats are the bytes */
        return 0;
    }
    if (type == QTF_GGML_F16 || type == QTF_GGML_BF16) {
        void *d = malloc((size_t)nbytes ? (size_t)nbytes : 1);
        if (!d) {
            cli_error("%s: out of memory", name);
            return -1;
        }
        qtf_dtype dt = type == QTF_GGML_F16 ? QTF_DTYPE_F16 : QTF_DTYPE_BF16;
        if (qtfg_check(qtf_convert_from_f32(d, dt, x, t->n_elements), name)) {
            free(d);
            return -1;
        }
        *out = d;
        return 0;
    }
    const char *tn = qtf_ggml_type_name(type);
    qtf_encoding enc;
    if (qtfg_encoding_of_ggml(&enc, type) != 0) {
        cli_error("%s: ggml type %s has no quantizer in this build", name, tn);
        return -1;
    }
    qtf_quantize_options qo = QTF_QUANTIZE_OPTIONS_INIT;
    qo.threads = threads;
    qo.importance = weights;
    qtf_encoded *e = NULL;
    if (qtfg_check(qtf_quantize(&e, &enc, x, t->n_dims, t->dims, &qo), name)) return -1;
    if (e->n_parts != 1 || e->layout[0].size != nbytes) {
        cli_error("%s: the QTF encoding of %s does not produce its block layout (%u parts, %llu "
             "bytes, expected 1 part of %llu)", name, tn, e->n_parts,
             (unsigned long long)e->layout[0].size, (unsigned long long)nbytes);
        qtf_encoded_free(e);
        return -1;
    }
    *out = e->data[0];
    e->data[0] = NULL;
    qtf_encoded_free(e);
    return 0;
}

/* Buffers of write_all: f32 values, a second f32 buffer (transpose) and a
 * byte buffer (permutation), each as large as the largest tensor needs. */
typedef struct gbufs {
    float *f32, *f32b;
    void *scratch;
} gbufs;

static int write_tensor(grun *r, const gitem *it, gbufs *b) {
    const qtf_source_tensor *t = qtf_source_tensor_get(r->src, it->src);
    void *bytes = NULL;
    int own = 0;
    if (it->copy) {
        const qtf_file *qf = qtf_source_qtf_file(r->src);
        uint64_t idx;
        if (qtfg_check(qtf_tensor_find(&idx, qf, t->name), t->name)) return -1;
        bytes = b->f32;         /* big enough: nbytes <= 4 * n_elements for ggml types */
        if (qtfg_check(qtf_part_decode(bytes, it->nbytes, qf, idx, 0), t->name)) return -1;
    } else {
        float *x = b->f32;
        if (qtfg_check(qtf_source_read_f32(x, t->n_elements, r->src, it->src, r->o->threads),
                t->name))
            return -1;
        qtf_source_tensor shape = *t;
        if (it->transpose) {    /* [in, out] -> [out, in] */
            uint64_t in = t->dims[0], out = t->dims[1];
            for (uint64_t i = 0; i < in; i++)
                for (uint64_t o = 0; o < out; o++) b->f32b[o * in + i] = x[i * out + o];
            x = b->f32b;
            shape.dims[0] = out;
            shape.dims[1] = in;
        }
        if (encode(&bytes, it->type, x, &shape, it->nbytes, r->o->threads,
                   item_weights(r, it), t->name) != 0)
            return -1;
        own = bytes != b->f32 && bytes != b->f32b;
    }
    if (it->heads) {
        if (qtfg_check(qtf_arch_permute_rows(b->scratch, bytes, it->rows, it->nbytes / it->rows,
                                      it->heads, 0), t->name)) {
            if (own) free(bytes);
            return -1;
        }
        if (own) free(bytes);
        own = 0;
        bytes = b->scratch;
    }
    int rc = qtfg_check(qtf_gguf_writer_write(r->w, bytes, it->nbytes), r->o->output);
    if (own) free(bytes);
    return rc;
}

/* The GGUF writer, refusing to replace an existing output without --force,
 * or ever any of the inputs: the checkpoint's files, the tokenizer and config
 * files read, the importance matrix. */
static int create_output(grun *r) {
    static const char *const side[] = { "config.json", "tokenizer.model", "tokenizer.json",
                                        "tokenizer_config.json", "tok512.bin" };
    uint32_t n_src = qtf_source_input_count(r->src);
    size_t n_side = sizeof side / sizeof side[0], n = 0;
    const char **p = calloc(n_src + n_side + 2, sizeof *p);
    char(*paths)[PATH_MAX] = calloc(n_side, sizeof *paths);
    int rc = -1;
    if (!p || !paths) {
        cli_error("out of memory");
        goto done;
    }
    p[n++] = r->o->input;
    if (r->o->importance) p[n++] = r->o->importance;
    for (uint32_t i = 0; i < n_src; i++) p[n++] = qtf_source_input_path(r->src, i);
    for (size_t i = 0; i < n_side && !qtf_source_qtf_file(r->src); i++) {
        snprintf(paths[i], PATH_MAX, "%s/%s", qtf_source_dir(r->src), side[i]);
        p[n++] = paths[i];
    }
    qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
    wo.flags = r->o->force ? 0 : QTF_WRITER_NO_REPLACE;
    wo.protected_paths = p;
    wo.n_protected = n;
    rc = qtfg_check(qtf_gguf_writer_create(&r->w, r->o->output, &wo), r->o->output);
done:
    free(p);
    free(paths);
    return rc;
}

static int write_all(grun *r) {
    uint64_t max_elems = 1, max_bytes = 1;
    for (size_t i = 0; i < r->n_items; i++) {
        const qtf_source_tensor *t = qtf_source_tensor_get(r->src, r->items[i].src);
        if (t->n_elements > max_elems) max_elems = t->n_elements;
        if (r->items[i].nbytes > max_bytes) max_bytes = r->items[i].nbytes;
    }
    if (max_elems > SIZE_MAX / 4) {
        cli_error("a tensor is too large for this machine's address space");
        return 1;
    }
    int rc = 1;
    gbufs b = { malloc((size_t)max_elems * 4), malloc((size_t)max_elems * 4),
                malloc((size_t)max_bytes) };
    if (!b.f32 || !b.f32b || !b.scratch) {
        cli_error("out of memory allocating %llu bytes of buffers",
             (unsigned long long)(max_elems * 8 + max_bytes));
        goto done;
    }
    if (create_output(r) != 0 || write_metadata(r) != 0) goto done;
    for (size_t i = 0; i < r->n_items; i++) {
        const gitem *it = &r->items[i];
        if (qtfg_check(qtf_gguf_writer_declare(r->w, it->name, it->type, it->t.n_dims, it->t.ne),
                it->name))
            goto done;
    }
    rc = 0;
    for (size_t i = 0; i < r->n_items && rc == 0; i++) {
        if (r->o->interrupted && *r->o->interrupted) {
            rc = QTFC_EXIT_SIGNAL_BASE + *r->o->interrupted;
            break;
        }
        if (write_tensor(r, &r->items[i], &b) != 0) rc = 1;
        else if (r->o->verbose)
            cli_error("%s -> %s %s", qtf_source_tensor_get(r->src, r->items[i].src)->name,
                 r->items[i].name, qtf_ggml_type_name(r->items[i].type));
    }
    if (rc == 0) {
        qtf_gguf_writer *w = r->w;
        r->w = NULL;
        if (qtfg_check(qtf_gguf_writer_finish(w), r->o->output)) rc = 1;
    }
done:
    free(b.f32);
    free(b.f32b);
    free(b.scratch);
    return rc;
}

int qtfg_convert(const qtfg_options *o) {
    grun r;
    memset(&r, 0, sizeof r);
    r.o = o;
    int code = QTFC_EXIT_USAGE;
    qtf_status st = qtf_source_open(&r.src, o->input);
    if (st) {
        cli_error("%s: %s", o->input, cli_why(st));
        return QTFC_EXIT_USAGE;
    }
    if (load_inputs(&r) != 0 || load_config(&r) != 0 || load_vocab(&r) != 0 ||
        build_items(&r) != 0 || load_imatrix(&r) != 0)
        goto out;
    int planned = plan(&r);     /* -2: the --target measurement failed (processing) */
    if (planned != 0) {
        if (planned == -2) code = QTFC_EXIT_FAILURE;
        goto out;
    }
    if (o->dry_run) {
        print_plan(&r, stdout);
        code = fflush(stdout) == 0 ? QTFC_EXIT_OK : QTFC_EXIT_FAILURE;
        goto out;
    }
    if (o->verbose) print_plan(&r, stderr);
    code = write_all(&r);
    if (code == 0 && !o->quiet) {
        uint64_t total = 0;
        for (size_t i = 0; i < r.n_items; i++) total += r.items[i].nbytes;
        fprintf(stderr, "qtf-convert: wrote %s: %zu tensors, %llu tensor bytes, "
                "general.file_type %u\n", o->output, r.n_items, (unsigned long long)total,
                r.file_type);
    }
out:
    qtf_gguf_writer_abort(r.w);
    qtf_imatrix_close(r.imatrix);
    qtfg_recipe_free(&r.recipe);
    if (r.have_vocab) qtf_vocab_free(&r.vocab);
    qtf_vocab_files_free(&r.files);
    free(r.items);
    qtf_source_close(r.src);
    return code;
}
