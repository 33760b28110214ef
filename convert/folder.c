/* convert/folder.c — `qtf-convert model.qtf out-dir/`: a Hugging Face folder
 * back from a .qtf. The embedded files (hf.file.NAME blobs: config.json,
 * generation_config.json, tokenizer files) are written byte for byte, the
 * tensors as safetensors, sharded like transformers' save_pretrained:
 * model.safetensors, or model-0000i-of-0000n.safetensors of at most
 * max_shard bytes each (a larger tensor gets a shard of its own) plus
 * model.safetensors.index.json. Every file appears atomically (temp file,
 * fsync, rename); the folder must be new or empty, so nothing is replaced.
 * Memory: one tensor at a time. */
#include "folder.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include "checkpoint/source.h"
#include "cli/cli_util.h"
#include "cli/output.h"

typedef struct out_tensor {
    uint64_t index;
    qtf_dtype dtype;       /* safetensors dtype written */
    int raw;               /* stored elements copied as they are */
    uint64_t nbytes;
    uint32_t shard;
} out_tensor;

static int fail(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "qtf-convert: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return QTFC_EXIT_FAILURE;
}

/* New or empty directory (created when missing). 0, or an exit code. */
static int prepare_dir(const char *dir) {
    if (mkdir(dir, 0777) == 0) return 0;
    if (errno != EEXIST) return fail("%s: cannot create the folder: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d) return fail("%s: not a folder: %s", dir, strerror(errno));
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(d);
    if (!empty) {
        fprintf(stderr, "qtf-convert: %s: the folder is not empty; give a new or empty folder "
                        "(nothing is replaced)\n", dir);
        return QTFC_EXIT_USAGE;
    }
    return 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir), m = strlen(name);
    char *p = malloc(n + m + 2);
    if (!p) return NULL;
    memcpy(p, dir, n);
    size_t k = n;
    if (k == 0 || p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, m + 1);
    return p;
}

/* A new file of the folder, by the tools' one output mechanism (cli/output.h):
 * complete or absent, never replacing anything. 0 or an errno-style code. */
static int write_new_file(const char *path, const void *data, size_t len, const char *input) {
    cli_output *out = NULL;
    const char *inputs[1] = { input };
    qtf_status st = cli_output_open(&out, path, 0, inputs, 1);
    if (!st) st = cli_output_write(out, data, len);
    if (!st) return cli_output_commit(out) ? EIO : 0;
    cli_output_abort(out);
    return st == QTF_E_NOMEM ? ENOMEM : EIO;
}

/* An embedded file name must be one plain path component. */
static int plain_name(const char *s, uint64_t len) {
    if (len == 0 || len > 255 || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (uint64_t i = 0; i < len; i++)
        if (s[i] == '/' || s[i] == '\0') return 0;
    return 1;
}

static int write_embedded(const qtf_file *f, const char *dir, const char *input, int quiet,
                          unsigned *n_files) {
    for (uint64_t i = 0; i < qtf_meta_count(f); i++) {
        const char *key = qtf_meta_key(f, i);
        qtf_value v;
        if (strncmp(key, "hf.file.", 8) != 0 || qtf_meta_value(&v, f, i) != QTF_OK ||
            v.type != QTF_TYPE_BLOB)
            continue;
        const char *name = key + 8;
        if (!plain_name(name, strlen(name)))
            return fail("metadata '%s': '%s' is not a plain file name; not written", key, name);
        char *path = join(dir, name);
        int err = path ? write_new_file(path, v.str, (size_t)v.len, input) : ENOMEM;
        if (err) {
            int rc = fail("%s: %s", path ? path : name, strerror(err));
            free(path);
            return rc;
        }
        if (!quiet) fprintf(stderr, "wrote %s (%llu bytes, %s)\n", path,
                            (unsigned long long)v.len, key);
        free(path);
        (*n_files)++;
    }
    return 0;
}

/* The dtype each tensor is written in: integer tensors as stored; float
 * tensors in `want` (F32/F16/BF16), or with keep their source dtype when it
 * is a float type, else F32. */
static int plan_tensors(out_tensor *out, const qtf_file *f, int keep, qtf_dtype want) {
    for (uint64_t i = 0; i < qtf_tensor_count(f); i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        out_tensor *o = &out[i];
        o->index = i;
        o->raw = t->encoding_known && t->encoding.id == QTF_ENC_RAW;
        if (!t->encoding_known)
            return fail("tensor '%s': encoding %s is not known to this version", t->name,
                        "(unknown id)");
        if (o->raw) o->dtype = t->encoding.raw_type;
        else if (!keep) o->dtype = want;
        else if (t->source_type == QTF_DTYPE_F32 || t->source_type == QTF_DTYPE_F16 ||
                 t->source_type == QTF_DTYPE_BF16)
            o->dtype = t->source_type;
        else o->dtype = QTF_DTYPE_F32;
        if (t->n_elements > UINT64_MAX / 8) return fail("tensor '%s': %s", t->name, "too large");
        o->nbytes = t->n_elements * qtf_dtype_size(o->dtype);
    }
    return 0;
}

static uint32_t assign_shards(out_tensor *ts, uint64_t n, uint64_t max_shard) {
    uint32_t shard = 0;
    uint64_t size = 0, in_shard = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (in_shard && size + ts[i].nbytes > max_shard) {
            shard++;
            size = in_shard = 0;
        }
        ts[i].shard = shard;
        size += ts[i].nbytes;
        in_shard++;
    }
    return shard + 1;
}

static qtf_status write_tensor(qtf_st_writer *w, const qtf_file *f, const out_tensor *o,
                               unsigned threads) {
    const qtf_tensor_info *t = qtf_tensor_get(f, o->index);
    if (o->nbytes > SIZE_MAX) return QTF_E_NOMEM;
    void *buf = malloc(o->nbytes ? (size_t)o->nbytes : 1);
    if (!buf) return QTF_E_NOMEM;
    qtf_status st = o->raw ? qtf_part_decode(buf, o->nbytes, f, o->index, 0)
                           : qtf_tensor_dequantize(buf, o->dtype, t->n_elements, f, o->index,
                                                   threads);
    if (!st) st = qtf_st_writer_write(w, buf, o->nbytes);
    free(buf);
    return st;
}

static int write_shard(const char *path, const qtf_file *f, const out_tensor *ts, uint64_t n,
                       uint32_t shard, const qtfc_options *opt) {
    qtf_st_writer *w = NULL;
    const char *inputs[1] = { opt->input };
    qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
    wo.flags = QTF_WRITER_NO_REPLACE;  /* the folder was new or empty */
    wo.protected_paths = inputs;
    wo.n_protected = 1;
    qtf_status st = qtf_st_writer_create(&w, path, &wo);
    if (!st) st = qtf_st_writer_metadata(w, "format", "pt");
    for (uint64_t i = 0; !st && i < n; i++) {
        if (ts[i].shard != shard) continue;
        const qtf_tensor_info *t = qtf_tensor_get(f, ts[i].index);
        st = qtf_st_writer_declare(w, t->name, ts[i].dtype, t->n_dims, t->dims);
    }
    for (uint64_t i = 0; !st && i < n; i++) {
        if (ts[i].shard != shard) continue;
        if (opt->interrupted && *opt->interrupted) {
            qtf_st_writer_abort(w);
            fprintf(stderr, "qtf-convert: interrupted; %s not written\n", path);
            return QTFC_EXIT_SIGNAL_BASE + (int)*opt->interrupted;
        }
        st = write_tensor(w, f, &ts[i], opt->threads);
        if (st) {
            fprintf(stderr, "qtf-convert: %s: tensor '%s': %s\n", path,
                    qtf_tensor_get(f, ts[i].index)->name, cli_why(st));
            qtf_st_writer_abort(w);
            return QTFC_EXIT_FAILURE;
        }
    }
    if (!st) {
        st = qtf_st_writer_finish(w);
        w = NULL;
    }
    if (st) {
        qtf_st_writer_abort(w);
        fprintf(stderr, "qtf-convert: %s: %s\n", path, cli_why(st));
        return QTFC_EXIT_FAILURE;
    }
    return 0;
}

static int write_index(const char *dir, const char *input, const qtf_file *f,
                       const out_tensor *ts, uint64_t n, uint32_t n_shards) {
    json_t *root = json_object(), *meta = json_object(), *map = json_object();
    uint64_t total = 0;
    char name[64];
    for (uint64_t i = 0; i < n; i++) {
        snprintf(name, sizeof name, "model-%05u-of-%05u.safetensors", ts[i].shard + 1, n_shards);
        json_object_set_new(map, qtf_tensor_get(f, ts[i].index)->name, json_string(name));
        total += ts[i].nbytes;
    }
    json_object_set_new(meta, "total_size", json_integer((json_int_t)total));
    json_object_set_new(root, "metadata", meta);
    json_object_set_new(root, "weight_map", map);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    char *path = join(dir, "model.safetensors.index.json");
    int err = ENOMEM;
    if (text && path) {
        size_t len = strlen(text);
        text[len] = '\n';  /* json_dumps' NUL becomes the final newline */
        err = write_new_file(path, text, len + 1, input);
    }
    int rc = err ? fail("%s: %s", path ? path : "index", strerror(err)) : 0;
    free(text);
    free(path);
    return rc;
}

int qtfc_export_folder(const qtfc_options *o, uint64_t max_shard) {
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open(&f, o->input, &o->open);
    if (st) {
        fprintf(stderr, "qtf-convert: %s: a folder output needs a .qtf input: %s\n",
                o->input, cli_why(st));
        return QTFC_EXIT_USAGE;
    }
    uint64_t n = qtf_tensor_count(f);
    out_tensor *ts = calloc(n ? n : 1, sizeof *ts);
    int rc = ts ? plan_tensors(ts, f, o->st_keep, o->st_dtype) : QTFC_EXIT_FAILURE;
    unsigned n_files = 0;
    if (!rc) rc = prepare_dir(o->output);
    if (!rc) rc = write_embedded(f, o->output, o->input, o->quiet, &n_files);
    uint32_t n_shards = rc ? 0 : assign_shards(ts, n, max_shard);
    for (uint32_t s = 0; !rc && s < n_shards; s++) {
        char name[64];
        if (n_shards == 1) snprintf(name, sizeof name, "model.safetensors");
        else snprintf(name, sizeof name, "model-%05u-of-%05u.safetensors", s + 1, n_shards);
        char *path = join(o->output, name);
        rc = path ? write_shard(path, f, ts, n, s, o) : QTFC_EXIT_FAILURE;
        if (!rc && !o->quiet) fprintf(stderr, "wrote %s\n", path);
        free(path);
        n_files++;
    }
    if (!rc && n_shards > 1) {
        rc = write_index(o->output, o->input, f, ts, n, n_shards);
        n_files++;
    }
    if (!rc && !o->quiet)
        fprintf(stderr, "%s: %u files (%llu tensors in %u safetensors file%s)\n", o->output,
                n_files, (unsigned long long)n, n_shards, n_shards == 1 ? "" : "s");
    free(ts);
    qtf_file_close(f);
    return rc;
}
