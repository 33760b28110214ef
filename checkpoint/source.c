/* checkpoint/source.c — opening a checkpoint (folder or file), the tensor table
 * shared by every reader, and reading tensor data with pread. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/content.h"
#include "source_internal.h"

/* --- I/O ------------------------------------------------------------------- */

qtf_status qtf__read_small_file(char **out, size_t *out_len, const char *path, size_t cap) {
    *out = NULL;
    *out_len = 0;
    int fd;
    uint64_t size;
    qtf_status st = qtf__open_regular_optional(&fd, &size, path);
    if (st) return st;
    if (size > cap) {
        st = qtf__error(QTF_E_LIMIT, "%s: %llu bytes, larger than the %zu-byte limit for this "
                        "file", path, (unsigned long long)size, cap);
    } else {
        size_t len = (size_t)size;
        char *buf = malloc(len + 1);
        if (!buf) st = qtf__error(QTF_E_NOMEM, "%s: out of memory for %zu bytes", path, len);
        if (!st) st = qtf__pread_all(fd, buf, len, 0, path);
        if (st) {
            free(buf);
        } else {
            buf[len] = '\0';
            *out = buf;
            *out_len = len;
        }
    }
    close(fd);
    return st;
}

/* 1 if `path` is `root` or below it (both resolved). */
static int path_inside(const char *path, const char *root) {
    size_t n = strlen(root);
    if (n == 1 && root[0] == '/') return 1;
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Files read from the folder end up embedded in a file the user publishes:
 * one that resolves outside the folder (tokenizer.json -> ~/secret.txt) is
 * refused. A Hugging Face cache snapshot (<cache>/snapshots/<rev>/) links its
 * files to <cache>/blobs/<hash>: that folder of the same cache is allowed.
 * A path that does not resolve is left to the reader (not found). */
static qtf_status check_folder_link(const char *dir, const char *path) {
    char rdir[PATH_MAX], rfile[PATH_MAX], blobs[PATH_MAX];
    if (!realpath(path, rfile)) return QTF_OK;
    if (!realpath(dir, rdir))
        return qtf__error(QTF_E_IO, "%s: cannot resolve the folder: %s", dir, strerror(errno));
    if (path_inside(rfile, rdir)) return QTF_OK;
    char *rev = strrchr(rdir, '/');
    if (rev && rev != rdir) {
        *rev = '\0';
        char *snap = strrchr(rdir, '/');
        if (snap && strcmp(snap + 1, "snapshots") == 0 &&
            (size_t)snprintf(blobs, sizeof blobs, "%.*s/blobs", (int)(snap - rdir), rdir) <
                sizeof blobs &&
            path_inside(rfile, blobs))
            return QTF_OK;
        *rev = '/';
    }
    return qtf__error(QTF_E_VALUE, "%s links to %s, outside the model folder %s; refusing to "
                      "embed it (copy the file into the folder if it belongs to the model)",
                      path, rfile, rdir);
}

qtf_status qtf_source_read_folder_file(char **out, size_t *out_len, const qtf_source *s,
                                       const char *name, size_t cap) {
    *out = NULL;
    *out_len = 0;
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return qtf__error(QTF_E_INVALID_ARG, "%s: not a plain file name", name ? name : "NULL");
    size_t n = strlen(s->dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (!path) return qtf__error(QTF_E_NOMEM, "%s/%s: out of memory", s->dir, name);
    snprintf(path, n, "%s/%s", s->dir, name);
    qtf_status st = check_folder_link(s->dir, path);
    if (st == QTF_OK) st = qtf__read_small_file(out, out_len, path, cap);
    free(path);
    return st;
}

/* --- the tensor table -------------------------------------------------------- */

qtf_status qtf__source_add_file(qtf_source *s, const char *path, const char *name,
                                uint32_t *out_index) {
    if (s->n_files == s->cap_files) {
        uint32_t cap = s->cap_files ? s->cap_files * 2 : 4;
        qtf__src_file *f = realloc(s->files, (size_t)cap * sizeof *f);
        if (!f) return qtf__error(QTF_E_NOMEM, "%s: out of memory", path);
        s->files = f;
        s->cap_files = cap;
    }
    qtf__src_file *f = &s->files[s->n_files];
    memset(f, 0, sizeof *f);
    qtf_status st = qtf__open_regular(&f->fd, &f->size, path);
    if (st) return st;
    f->path = strdup(path);
    f->name = strdup(name);
    if (!f->path || !f->name) {
        free(f->path);
        free(f->name);
        close(f->fd);
        return qtf__error(QTF_E_NOMEM, "%s: out of memory", path);
    }
    /* Tensors are read front to back; tell the kernel to read ahead. */
    (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    *out_index = s->n_files++;
    return QTF_OK;
}

qtf_status qtf__source_add_tensor(qtf_source *s, char *name, qtf_dtype dtype, uint32_t n_dims,
                                  const uint64_t *dims, uint32_t file_index, uint64_t offset) {
    if (s->n_tensors >= QTF_MAX_TENSORS) {
        free(name);
        return qtf__error(QTF_E_LIMIT, "%s: more than %u tensors", s->files[file_index].path,
                          (unsigned)QTF_MAX_TENSORS);
    }
    if (s->n_tensors == s->cap_tensors) {
        uint64_t cap = s->cap_tensors ? s->cap_tensors * 2 : 64;
        qtf_source_tensor *t = realloc(s->tensors, cap * sizeof *t);
        if (t) s->tensors = t;
        uint64_t *o = realloc(s->offsets, cap * sizeof *o);
        if (o) s->offsets = o;
        if (!t || !o) {
            free(name);
            return qtf__error(QTF_E_NOMEM, "out of memory for %llu tensors",
                              (unsigned long long)cap);
        }
        s->cap_tensors = cap;
    }
    qtf_source_tensor *t = &s->tensors[s->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dtype;
    t->n_dims = n_dims;
    t->n_elements = 1;
    t->file_index = file_index;
    for (uint32_t d = 0; d < n_dims; d++) {
        t->dims[d] = dims[d];
        if (!qtf__mul_u64(&t->n_elements, t->n_elements, dims[d])) {
            free(name);
            return qtf__error(QTF_E_OVERFLOW, "%s: tensor element count overflows",
                              s->files[file_index].path);
        }
    }
    if (!qtf__mul_u64(&t->nbytes, t->n_elements, qtf_dtype_size(dtype))) {
        free(name);
        return qtf__error(QTF_E_OVERFLOW, "%s: tensor byte size overflows",
                          s->files[file_index].path);
    }
    s->offsets[s->n_tensors] = offset;
    s->n_tensors++;
    return QTF_OK;
}

static int cmp_offset(const void *a, const void *b, void *ctx) {
    const qtf_source *s = ctx;
    uint64_t i = *(const uint64_t *)a, j = *(const uint64_t *)b;
    uint64_t x = s->offsets[i], y = s->offsets[j];
    if (x != y) return x < y ? -1 : 1;
    return strcmp(s->tensors[i].name, s->tensors[j].name);
}

static int cmp_name(const void *a, const void *b, void *ctx) {
    const qtf_source *s = ctx;
    uint64_t i = *(const uint64_t *)a, j = *(const uint64_t *)b;
    int c = strcmp(s->tensors[i].name, s->tensors[j].name);
    if (c) return c;
    return i < j ? -1 : i > j;
}

qtf_status qtf__source_sort_file_tensors(qtf_source *s, uint64_t first) {
    uint64_t n = s->n_tensors - first;
    if (n < 2) return QTF_OK;
    uint64_t *perm = malloc(n * sizeof *perm);
    qtf_source_tensor *t = malloc(n * sizeof *t);
    uint64_t *o = malloc(n * sizeof *o);
    if (!perm || !t || !o) {
        free(perm);
        free(t);
        free(o);
        return qtf__error(QTF_E_NOMEM, "out of memory sorting %llu tensors",
                          (unsigned long long)n);
    }
    for (uint64_t i = 0; i < n; i++) perm[i] = first + i;
    qsort_r(perm, n, sizeof *perm, cmp_offset, s);
    for (uint64_t i = 0; i < n; i++) {
        t[i] = s->tensors[perm[i]];
        o[i] = s->offsets[perm[i]];
    }
    memcpy(s->tensors + first, t, n * sizeof *t);
    memcpy(s->offsets + first, o, n * sizeof *o);
    free(perm);
    free(t);
    free(o);
    return QTF_OK;
}

/* Builds the by-name index; a name seen twice is an error naming both files. */
static qtf_status build_name_index(qtf_source *s) {
    free(s->by_name);
    s->by_name = malloc((s->n_tensors ? s->n_tensors : 1) * sizeof *s->by_name);
    if (!s->by_name) return qtf__error(QTF_E_NOMEM, "out of memory for the tensor index");
    for (uint64_t i = 0; i < s->n_tensors; i++) s->by_name[i] = i;
    qsort_r(s->by_name, s->n_tensors, sizeof *s->by_name, cmp_name, s);
    for (uint64_t k = 1; k < s->n_tensors; k++) {
        const qtf_source_tensor *a = &s->tensors[s->by_name[k - 1]];
        const qtf_source_tensor *b = &s->tensors[s->by_name[k]];
        if (strcmp(a->name, b->name) == 0) {
            char esc[QTF__ESC_CAP];
            return qtf__error(QTF_E_DUPLICATE, "tensor '%s' appears twice: in %s and in %s",
                              qtf__escape(esc, sizeof esc, a->name, strlen(a->name)),
                              s->files[a->file_index].path, s->files[b->file_index].path);
        }
    }
    return QTF_OK;
}

/* --- sharded checkpoints ------------------------------------------------------ */

static qtf_status join_path(char **out, const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    *out = malloc(a + b + 2);
    if (!*out) return qtf__error(QTF_E_NOMEM, "out of memory");
    memcpy(*out, dir, a);
    (*out)[a] = '/';
    memcpy(*out + a + 1, name, b + 1);
    return QTF_OK;
}

/* Every tensor of the index must be found exactly once, in the shard the
 * index names; shards may hold nothing the index does not list. */
static qtf_status check_against_index(const qtf_source *s, const qtf__shard_index *ix,
                                      const char *index_path) {
    uint64_t i = 0, j = 0;
    char esc[QTF__ESC_CAP];
    while (i < ix->n || j < s->n_tensors) {
        const qtf_source_tensor *t = j < s->n_tensors ? &s->tensors[s->by_name[j]] : NULL;
        int c = i >= ix->n ? 1 : !t ? -1 : strcmp(ix->tensor[i], t->name);
        if (c < 0)
            return qtf__error(QTF_E_NOT_FOUND, "%s: tensor '%s' is mapped to %s but no shard "
                              "holds it", index_path,
                              qtf__escape(esc, sizeof esc, ix->tensor[i], strlen(ix->tensor[i])),
                              ix->shards[ix->shard[i]]);
        if (c > 0)
            return qtf__error(QTF_E_VALUE, "%s: tensor '%s' is not listed in %s",
                              s->files[t->file_index].path,
                              qtf__escape(esc, sizeof esc, t->name, strlen(t->name)),
                              index_path);
        /* Files are added in the order of ix->shards, so indices coincide. */
        if (t->file_index != ix->shard[i])
            return qtf__error(QTF_E_VALUE, "%s: tensor '%s' is mapped to %s but found in %s",
                              index_path, qtf__escape(esc, sizeof esc, t->name, strlen(t->name)),
                              ix->shards[ix->shard[i]], s->files[t->file_index].name);
        i++;
        j++;
    }
    return QTF_OK;
}

static qtf_status open_sharded(qtf_source *s, const char *dir, const char *index_path,
                               int torch) {
    qtf__shard_index ix;
    s->index_path = strdup(index_path);
    if (!s->index_path) return qtf__error(QTF_E_NOMEM, "%s: out of memory", index_path);
    qtf_status st = qtf__shard_index_load(&ix, index_path);
    if (st) return st;
    for (uint32_t k = 0; k < ix.n_shards && !st; k++) {
        char *path;
        uint32_t fi;
        st = join_path(&path, dir, ix.shards[k]);
        if (st) break;
        if (access(path, F_OK) != 0) {
            st = qtf__error(QTF_E_NOT_FOUND, "%s: shard file %s listed in the index does not "
                            "exist", index_path, path);
            free(path);
            break;
        }
        st = qtf__source_add_file(s, path, ix.shards[k], &fi);
        free(path);
        if (st) break;
        uint64_t first = s->n_tensors;
        st = torch ? qtf__torch_load_file(s, fi) : qtf__st_load_file(s, fi);
        if (!st) st = qtf__source_sort_file_tensors(s, first);
    }
    if (!st) st = build_name_index(s);
    if (!st) st = check_against_index(s, &ix, index_path);
    qtf__shard_index_free(&ix);
    return st;
}

/* --- opening ------------------------------------------------------------------ */

static const unsigned char qtf_magic[8] = {0x89, 'Q', 'T', 'F', 0x0D, 0x0A, 0x1A, 0x0A};

static qtf_status open_single(qtf_source *s, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    unsigned char head[QTF__CONTENT_HEAD] = {0};
    uint32_t fi;
    qtf_status st = qtf__source_add_file(s, path, base, &fi);
    if (st) return st;
    size_t have = s->files[fi].size < sizeof head ? (size_t)s->files[fi].size : sizeof head;
    st = qtf__pread_all(s->files[fi].fd, head, have, 0, path);
    if (st) return st;
    /* Judge by content, not by name; a file of another kind is named for
     * what it is rather than failing inside the safetensors parser. */
    const char *kind = qtf__content_kind(head, have, s->files[fi].size);
    if (kind && (strcmp(kind, "JSON") == 0 || strcmp(kind, "text") == 0 ||
                 strcmp(kind, "GGUF") == 0)) {
        const char *what = strcmp(kind, "GGUF") == 0
                               ? "a GGUF file, not a safetensors, pytorch_model.bin or QTF file"
                               : strcmp(kind, "JSON") == 0
                                     ? "JSON, not a safetensors, pytorch_model.bin or QTF file"
                                     : "text, not a safetensors, pytorch_model.bin or QTF file";
        return qtf__error(QTF_E_MAGIC, "%s is %s%s", path, what,
                          strcmp(kind, "JSON") == 0
                              ? " (give the model folder to read an index or config)"
                              : "");
    }
    if (have >= 8 && memcmp(head, qtf_magic, 8) == 0) {
        s->kind = QTF_SOURCE_QTF;
        /* The container library reads the file itself. */
        close(s->files[fi].fd);
        s->files[fi].fd = -1;
        st = qtf__qtf_source_load(s, path);
    } else if (have >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
        s->kind = QTF_SOURCE_TORCH;
        st = qtf__torch_load_file(s, fi);
    } else if (have >= 2 && head[0] == 0x80 && head[1] <= 5 && !(have >= 9 && head[8] == '{')) {
        /* (A safetensors header of 128 + 256 k bytes, k <= 5, also starts
         * 80 0k: its JSON at byte 8 tells them apart.) */
        st = qtf__error(QTF_E_UNSUPPORTED, "%s: a bare pickle (torch's format before 1.6, or "
                        "not a checkpoint); re-save it with a current torch.save", path);
    } else {
        s->kind = QTF_SOURCE_SAFETENSORS;
        st = qtf__st_load_file(s, fi);
    }
    if (st) return st;
    if (s->kind != QTF_SOURCE_QTF) st = qtf__source_sort_file_tensors(s, 0);
    return st ? st : build_name_index(s);
}

static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

qtf_status qtf_source_open(qtf_source **out, const char *path) {
    return qtf_source_open_with(out, path, NULL);
}

qtf_status qtf_source_open_with(qtf_source **out, const char *path,
                                const qtf_open_options *qtf_opts) {
    if (!out || !path) return qtf__error(QTF_E_INVALID_ARG, "qtf_source_open: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return qtf__error(QTF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    qtf_source *s = calloc(1, sizeof *s);
    if (!s) return qtf__error(QTF_E_NOMEM, "out of memory");
    if (qtf_opts) s->qtf_opts = *qtf_opts;
    else s->qtf_opts = (qtf_open_options)QTF_OPEN_OPTIONS_INIT;
    qtf_status st = QTF_OK;
    if (S_ISDIR(sb.st_mode)) {
        s->dir = strdup(path);
        if (!s->dir) {
            free(s);
            return qtf__error(QTF_E_NOMEM, "out of memory");
        }
        static const struct {
            const char *name;
            qtf_source_kind kind;
        } layouts[] = {
            /* transformers' order (modeling_utils: the single file is
             * checked before the index, safetensors before .bin) */
            {"model.safetensors", QTF_SOURCE_SAFETENSORS},
            {"model.safetensors.index.json", QTF_SOURCE_SAFETENSORS_SHARDED},
            {"pytorch_model.bin", QTF_SOURCE_TORCH},
            {"pytorch_model.bin.index.json", QTF_SOURCE_TORCH_SHARDED},
        };
        size_t k;
        char *p = NULL;
        for (k = 0; k < sizeof layouts / sizeof layouts[0]; k++) {
            st = join_path(&p, path, layouts[k].name);
            if (st) break;
            if (access(p, F_OK) == 0) break;
            free(p);
            p = NULL;
        }
        /* A single file next to its index is usually a stale leftover of
         * one or the other: say which one is read (item 5 of issue 11). */
        if (!st && p && (k == 0 || k == 2)) {
            char *idx = NULL;
            st = join_path(&idx, path, layouts[k + 1].name);
            if (!st && access(idx, F_OK) == 0)
                snprintf(s->note, sizeof s->note, "%s holds both %s and %s: reading %s, as "
                         "transformers does (remove the stale one)", path, layouts[k].name,
                         layouts[k + 1].name, layouts[k].name);
            free(idx);
        }
        if (!st && !p)
            st = qtf__error(QTF_E_NOT_FOUND, "%s: no checkpoint found (looked for "
                            "model.safetensors.index.json, model.safetensors, "
                            "pytorch_model.bin.index.json, pytorch_model.bin)", path);
        if (!st) {
            s->kind = layouts[k].kind;
            if (s->kind == QTF_SOURCE_SAFETENSORS_SHARDED)
                st = open_sharded(s, path, p, 0);
            else if (s->kind == QTF_SOURCE_TORCH_SHARDED)
                st = open_sharded(s, path, p, 1);
            else
                st = open_single(s, p);
            if (!st && s->kind == QTF_SOURCE_QTF)
                st = qtf__error(QTF_E_VALUE, "%s: is a QTF file, not a Hugging Face checkpoint",
                                p);
        }
        free(p);
    } else {
        s->dir = dir_of(path);
        if (!s->dir) st = qtf__error(QTF_E_NOMEM, "out of memory");
        if (!st) st = open_single(s, path);
    }
    if (st) {
        qtf_source_close(s);
        return st;
    }
    *out = s;
    qtf__error_clear();
    return QTF_OK;
}

void qtf_source_close(qtf_source *s) {
    if (!s) return;
    for (uint32_t i = 0; i < s->n_files; i++) {
        if (s->files[i].fd >= 0) close(s->files[i].fd);
        free(s->files[i].path);
        free(s->files[i].name);
    }
    for (uint64_t i = 0; i < s->n_tensors; i++) free((char *)s->tensors[i].name);
    qtf_file_close(s->qtf);
    free(s->files);
    free(s->tensors);
    free(s->offsets);
    free(s->by_name);
    free(s->dir);
    free(s->index_path);
    free(s);
}

/* --- accessors ---------------------------------------------------------------- */

qtf_source_kind qtf_source_get_kind(const qtf_source *s) { return s->kind; }

const char *qtf_source_kind_name(qtf_source_kind k) {
    switch (k) {
    case QTF_SOURCE_SAFETENSORS: return "safetensors";
    case QTF_SOURCE_SAFETENSORS_SHARDED: return "safetensors-sharded";
    case QTF_SOURCE_TORCH: return "pytorch-bin";
    case QTF_SOURCE_TORCH_SHARDED: return "pytorch-bin-sharded";
    case QTF_SOURCE_QTF: return "qtf";
    }
    return "?";
}

const char *qtf_source_dir(const qtf_source *s) { return s->dir; }
const char *qtf_source_note(const qtf_source *s) { return s->note[0] ? s->note : NULL; }
uint32_t qtf_source_file_count(const qtf_source *s) { return s->n_files; }

const char *qtf_source_file_name(const qtf_source *s, uint32_t i) {
    return i < s->n_files ? s->files[i].name : NULL;
}

uint64_t qtf_source_file_size(const qtf_source *s, uint32_t i) {
    return i < s->n_files ? s->files[i].size : 0;
}

uint32_t qtf_source_input_count(const qtf_source *s) {
    return s->n_files + (s->index_path ? 1u : 0u);
}

const char *qtf_source_input_path(const qtf_source *s, uint32_t i) {
    if (i < s->n_files) return s->files[i].path;
    return i == s->n_files ? s->index_path : NULL;
}

uint64_t qtf_source_tensor_count(const qtf_source *s) { return s->n_tensors; }

const qtf_source_tensor *qtf_source_tensor_get(const qtf_source *s, uint64_t i) {
    return i < s->n_tensors ? &s->tensors[i] : NULL;
}

qtf_status qtf_source_tensor_find(uint64_t *out_index, const qtf_source *s, const char *name) {
    uint64_t lo = 0, hi = s->n_tensors;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->tensors[s->by_name[mid]].name, name);
        if (c == 0) {
            *out_index = s->by_name[mid];
            return QTF_OK;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    char esc[QTF__ESC_CAP];
    return qtf__error(QTF_E_NOT_FOUND, "%s: no tensor named '%s'", s->dir,
                      qtf__escape(esc, sizeof esc, name, strlen(name)));
}

const qtf_file *qtf_source_qtf_file(const qtf_source *s) { return s->qtf; }

/* BOOL tensors are copied as stored: a byte other than 0/1 is refused
 * (naming file and tensor), never passed through. */
static qtf_status bool_check(const void *data, const qtf_source_tensor *t, const char *path) {
    char what[512];
    snprintf(what, sizeof what, "%s: tensor '%s'", path, t->name);
    return qtf__bool_check(data, t->nbytes, what);
}

qtf_status qtf_source_read_raw(void *dst, uint64_t dst_size, const qtf_source *s, uint64_t i) {
    if (!dst && dst_size) return qtf__error(QTF_E_INVALID_ARG, "qtf_source_read_raw: NULL dst");
    if (i >= s->n_tensors)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_source_read_raw: tensor %llu of %llu",
                          (unsigned long long)i, (unsigned long long)s->n_tensors);
    const qtf_source_tensor *t = &s->tensors[i];
    if (dst_size != t->nbytes)
        return qtf__error(QTF_E_INVALID_ARG, "tensor '%s': dst_size %llu, expected %llu",
                          t->name, (unsigned long long)dst_size, (unsigned long long)t->nbytes);
    if (s->kind == QTF_SOURCE_QTF) {
        qtf_status st = qtf__qtf_source_read_raw(dst, dst_size, s, i);
        if (st == QTF_OK && t->dtype == QTF_DTYPE_BOOL)
            st = bool_check(dst, t, qtf_file_name(s->qtf));
        return st;
    }
    if (dst_size > SIZE_MAX)
        return qtf__error(QTF_E_LIMIT, "tensor '%s': %llu bytes do not fit in memory", t->name,
                          (unsigned long long)dst_size);
    const qtf__src_file *f = &s->files[t->file_index];
    qtf_status st = qtf__pread_all(f->fd, dst, (size_t)dst_size, s->offsets[i], f->path);
    if (st) qtf__error_prefix("tensor '%s': ", t->name);
    else if (t->dtype == QTF_DTYPE_BOOL) st = bool_check(dst, t, f->path);
    return st;
}

qtf_status qtf_source_read_f32(float *dst, uint64_t n, const qtf_source *s, uint64_t i,
                               unsigned threads) {
    if (!dst && n) return qtf__error(QTF_E_INVALID_ARG, "qtf_source_read_f32: NULL dst");
    if (i >= s->n_tensors)
        return qtf__error(QTF_E_INVALID_ARG, "qtf_source_read_f32: tensor %llu of %llu",
                          (unsigned long long)i, (unsigned long long)s->n_tensors);
    const qtf_source_tensor *t = &s->tensors[i];
    if (n != t->n_elements)
        return qtf__error(QTF_E_INVALID_ARG, "tensor '%s': n %llu, expected %llu elements",
                          t->name, (unsigned long long)n, (unsigned long long)t->n_elements);
    if (s->kind == QTF_SOURCE_QTF) return qtf__qtf_source_read_f32(dst, n, s, i, threads);
    if (t->dtype == QTF_DTYPE_F32) return qtf_source_read_raw(dst, t->nbytes, s, i);
    /* Convert through a bounded buffer: no second full-size copy. */
    size_t es = qtf_dtype_size(t->dtype);
    uint64_t per_chunk = QTF__READ_CHUNK / es;
    size_t buf_size = (size_t)((n < per_chunk ? n : per_chunk) * es);
    unsigned char *buf = malloc(buf_size ? buf_size : 1);
    if (!buf) return qtf__error(QTF_E_NOMEM, "tensor '%s': out of memory for a %zu-byte read "
                                "buffer", t->name, buf_size);
    const qtf__src_file *f = &s->files[t->file_index];
    qtf_status st = QTF_OK;
    for (uint64_t done = 0; done < n && !st;) {
        uint64_t k = n - done < per_chunk ? n - done : per_chunk;
        st = qtf__pread_all(f->fd, buf, (size_t)(k * es), s->offsets[i] + done * es, f->path);
        if (!st) st = qtf_convert_to_f32(dst + done, buf, t->dtype, k);
        done += k;
    }
    free(buf);
    if (st) qtf__error_prefix("tensor '%s': ", t->name);
    return st;
}
