/* checkpoint/importance.c — importance vectors for a checkpoint's tensors
 * (importance.h): llama.cpp importance matrices mapped onto the checkpoint's
 * tensor names, and the one lookup over either file format that
 * qtf-verify uses. Moved here from convert/ so that inspect/ can use it
 * without a sideways include. */
#include "importance.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/arch.h"
#include "common/common.h"
#include "checkpoint/gguf.h"
#include "checkpoint/imatrix.h"

struct qtf_imatrix_map {
    qtf_imatrix *im;
    const qtf_arch *arch;
    const qtf_source *src;
    /* per source tensor: the entry mapped onto it, or NULL */
    const qtf_imatrix_entry **by_tensor;
};

static int has_tensor(void *ctx, const char *name) {
    uint64_t i;
    return qtf_source_tensor_find(&i, ctx, name) == QTF_OK;
}

/* The architecture of the checkpoint, from its config.json. */
static int load_arch(const qtf_arch **out, const char *path, const qtf_source *src, char *err,
                     size_t cap) {
    char cfg[4096];
    const char *dir = qtf_source_dir(src);
    if (snprintf(cfg, sizeof cfg, "%s/config.json", dir ? dir : ".") >= (int)sizeof cfg)
        return qtf__fail_msg(err, cap, "%s: checkpoint folder name too long", path);
    qtf_arch_config c;
    qtf_status st = qtf_arch_config_load(&c, cfg);
    if (st)
        return qtf__fail_msg(err, cap, "%s: llama.cpp names need the checkpoint's architecture: %s",
                        path, qtf__status_why(st));
    *out = c.arch;
    return 0;
}

static int map_entries(qtf_imatrix_map *m, const char *path, char *err, size_t cap) {
    uint64_t nt = qtf_source_tensor_count(m->src);
    m->by_tensor = calloc(nt ? nt : 1, sizeof *m->by_tensor);
    if (!m->by_tensor) return qtf__fail_msg(err, cap, "%s: out of memory", path);
    for (uint64_t i = 0; i < qtf_imatrix_count(m->im); i++) {
        const qtf_imatrix_entry *e = qtf_imatrix_get(m->im, i);
        char hf[1100];
        const qtf_arch_tensor *at;
        qtf_status st = qtf_arch_gguf_to_hf(hf, sizeof hf, &at, NULL, m->arch, e->name, has_tensor,
                                            (void *)m->src);
        if (st)
            return qtf__fail_msg(err, cap, "%s: importance entry '%s' names no tensor of the checkpoint "
                            "(%s)", path, e->name, qtf_error_detail());
        uint64_t ti;
        qtf_source_tensor_find(&ti, m->src, hf);
        const qtf_source_tensor *t = qtf_source_tensor_get(m->src, ti);
        if (at->input_axis != 0 && at->input_axis != 1)
            return qtf__fail_msg(err, cap, "%s: importance entry '%s' -> '%s': not a linear layer's "
                            "weight, which has no input axis", path, e->name, hf);
        /* one value per input feature: dims[1] of an nn.Linear [out, in],
         * dims[0] of a Conv1D [in, out] (stored transposed, plan.c) */
        uint32_t ax = (uint32_t)at->input_axis;
        if (e->n_experts != 1 || t->n_dims != 2 || e->n != t->dims[ax])
            return qtf__fail_msg(err, cap, "%s: importance entry '%s' has %" PRIu64 " values (%" PRIu64
                            " expert(s)), but '%s' has %s of %" PRIu64 " elements", path, e->name,
                            e->n, e->n_experts, hf,
                            ax == 0 ? "an input dimension (dims[0] of a Conv1D weight)" : "rows",
                            t->n_dims == 2 ? t->dims[ax] : t->n_dims ? t->dims[t->n_dims - 1] : 1);
        m->by_tensor[ti] = e;
    }
    return 0;
}

int qtf_imatrix_map_open(qtf_imatrix_map **out, const char *path, const qtf_source *src,
                          char *err, size_t cap) {
    *out = NULL;
    qtf_imatrix *im = NULL;
    qtf_status st;
    if (qtf_gguf_file_is_gguf(path)) {
        st = qtf_imatrix_open(&im, path);
        if (st)
            return qtf__fail_msg(err, cap, "%s: cannot read the importance matrix: %s", path,
                            qtf__status_why(st));
    } else {
        qtf_source *probe;
        st = qtf_source_open(&probe, path);
        if (st == QTF_OK) {
            qtf_source_close(probe);
            return 0; /* a safetensors/torch file of importance vectors */
        }
        char first[512];
        snprintf(first, sizeof first, "%s", qtf__status_why(st));
        st = qtf_imatrix_open(&im, path);
        if (st)
            return qtf__fail_msg(err, cap, "%s: neither a safetensors importance file (%s) nor a "
                            "llama.cpp imatrix (%s)", path, first, qtf__status_why(st));
    }
    qtf_imatrix_map *m = calloc(1, sizeof *m);
    if (!m) {
        qtf_imatrix_close(im);
        return qtf__fail_msg(err, cap, "%s: out of memory", path);
    }
    m->im = im;
    m->src = src;
    if (load_arch(&m->arch, path, src, err, cap) != 0 || map_entries(m, path, err, cap) != 0) {
        qtf_imatrix_map_free(m);
        return -1;
    }
    *out = m;
    return 1;
}

void qtf_imatrix_map_free(qtf_imatrix_map *m) {
    if (!m) return;
    qtf_imatrix_close(m->im);
    free(m->by_tensor);
    free(m);
}

const float *qtf_imatrix_map_find(const qtf_imatrix_map *m, const char *name, uint64_t *n) {
    uint64_t i;
    if (!m || qtf_source_tensor_find(&i, m->src, name) != QTF_OK || !m->by_tensor[i]) return NULL;
    *n = m->by_tensor[i]->n;
    return m->by_tensor[i]->values;
}

int qtf_imatrix_map_expects(const qtf_imatrix_map *m, const char *name) {
    char out[1100];
    const qtf_arch_tensor *e;
    if (!m || qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, m->arch, name) != QTF_OK) return 0;
    return e->gguf && e->input_axis >= 0;
}

uint64_t qtf_imatrix_map_count(const qtf_imatrix_map *m) { return m ? qtf_imatrix_count(m->im) : 0; }

/* --- either format ----------------------------------------------------------- */

struct qtf_importance {
    qtf_imatrix_map *imx;       /* a llama.cpp importance matrix, or */
    float **vectors;            /* per source tensor: its vector read from a file of them */
    const qtf_source *src;
};

static int check_values(const float *v, uint64_t n, const char *path, const char *name,
                        char *err, size_t cap) {
    for (uint64_t j = 0; j < n; j++)
        if (!(v[j] >= 0.0f) || isinf(v[j]))
            return qtf__fail_msg(err, cap, "%s: importance for '%s': element %" PRIu64 " is %g, "
                            "expected a finite value >= 0", path, name, j, (double)v[j]);
    return 0;
}

/* Every vector of the file that names a 2-D tensor of src, read and checked
 * now, so that a bad one is reported before any work; vectors naming no
 * tensor are left alone, as qtf-convert does (plan.c). */
static int load_vectors(qtf_importance *im, const char *path, char *err, size_t cap) {
    qtf_source *f = NULL;
    qtf_status st = qtf_source_open(&f, path);
    if (st != QTF_OK)
        return qtf__fail_msg(err, cap, "%s: cannot open the importance file: %s", path, qtf__status_why(st));
    uint64_t nt = qtf_source_tensor_count(im->src);
    im->vectors = calloc(nt ? nt : 1, sizeof *im->vectors);
    int rc = im->vectors ? 0 : qtf__fail_msg(err, cap, "%s: out of memory", path);
    for (uint64_t i = 0; rc == 0 && i < qtf_source_tensor_count(f); i++) {
        const qtf_source_tensor *v = qtf_source_tensor_get(f, i);
        uint64_t ti;
        if (qtf_source_tensor_find(&ti, im->src, v->name) != QTF_OK) continue;
        const qtf_source_tensor *t = qtf_source_tensor_get(im->src, ti);
        uint64_t cols = t->n_dims ? t->dims[t->n_dims - 1] : 0;
        if (t->n_dims < 2) continue;
        if (v->n_dims != 1 || v->n_elements != cols) {
            rc = qtf__fail_msg(err, cap, "%s: importance vector '%s': expected a 1-D tensor of "
                          "%" PRIu64 " elements (the row length), found %" PRIu64 " element(s) "
                          "in %u dim(s)", path, v->name, cols, v->n_elements, v->n_dims);
            break;
        }
        float *buf = malloc((size_t)(cols ? cols : 1) * sizeof *buf);
        if (!buf) {
            rc = qtf__fail_msg(err, cap, "%s: out of memory", path);
            break;
        }
        im->vectors[ti] = buf;
        st = qtf_source_read_f32(buf, cols, f, i, 1);
        if (st != QTF_OK)
            rc = qtf__fail_msg(err, cap, "%s: importance vector '%s': %s", path, v->name,
                          qtf__status_why(st));
        else
            rc = check_values(buf, cols, path, v->name, err, cap);
    }
    qtf_source_close(f);
    return rc;
}

int qtf_importance_open(qtf_importance **out, const char *path, const qtf_source *src,
                        char *err, size_t cap) {
    *out = NULL;
    qtf_importance *im = calloc(1, sizeof *im);
    if (!im) return qtf__fail_msg(err, cap, "%s: out of memory", path);
    im->src = src;
    int is_imatrix = qtf_imatrix_map_open(&im->imx, path, src, err, cap);
    int rc = is_imatrix < 0 ? -1 : 0;
    if (is_imatrix == 0) rc = load_vectors(im, path, err, cap);
    for (uint64_t i = 0; rc == 0 && im->imx && i < qtf_source_tensor_count(src); i++) {
        const qtf_source_tensor *t = qtf_source_tensor_get(src, i);
        uint64_t n;
        const float *v = qtf_imatrix_map_find(im->imx, t->name, &n);
        if (v) rc = check_values(v, n, path, t->name, err, cap);
    }
    if (rc != 0) {
        qtf_importance_close(im);
        return -1;
    }
    *out = im;
    return 0;
}

void qtf_importance_close(qtf_importance *im) {
    if (!im) return;
    qtf_imatrix_map_free(im->imx);
    if (im->vectors)
        for (uint64_t i = 0; i < qtf_source_tensor_count(im->src); i++) free(im->vectors[i]);
    free(im->vectors);
    free(im);
}

const float *qtf_importance_find(const qtf_importance *im, const char *name, uint64_t *n) {
    if (!im) return NULL;
    if (im->imx) return qtf_imatrix_map_find(im->imx, name, n);
    uint64_t i;
    if (qtf_source_tensor_find(&i, im->src, name) != QTF_OK || !im->vectors[i]) return NULL;
    const qtf_source_tensor *t = qtf_source_tensor_get(im->src, i);
    *n = t->dims[t->n_dims - 1];
    return im->vectors[i];
}
