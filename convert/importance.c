/* convert/importance.c — llama.cpp importance matrices mapped onto a
 * checkpoint's tensor names (importance.h). */
#include "importance.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/arch.h"
#include "checkpoint/gguf.h"
#include "checkpoint/imatrix.h"
#include "cli/cli_util.h"

struct qtfc_imatrix_map {
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
        return cli_fail(err, cap, "%s: checkpoint folder name too long", path);
    qtf_arch_config c;
    qtf_status st = qtf_arch_config_load(&c, cfg);
    if (st)
        return cli_fail(err, cap, "%s: llama.cpp names need the checkpoint's architecture: %s",
                        path, cli_why(st));
    *out = c.arch;
    return 0;
}

static int map_entries(qtfc_imatrix_map *m, const char *path, char *err, size_t cap) {
    uint64_t nt = qtf_source_tensor_count(m->src);
    m->by_tensor = calloc(nt ? nt : 1, sizeof *m->by_tensor);
    if (!m->by_tensor) return cli_fail(err, cap, "%s: out of memory", path);
    for (uint64_t i = 0; i < qtf_imatrix_count(m->im); i++) {
        const qtf_imatrix_entry *e = qtf_imatrix_get(m->im, i);
        char hf[1100];
        const qtf_arch_tensor *at;
        qtf_status st = qtf_arch_gguf_to_hf(hf, sizeof hf, &at, NULL, m->arch, e->name, has_tensor,
                                            (void *)m->src);
        if (st)
            return cli_fail(err, cap, "%s: importance entry '%s' names no tensor of the checkpoint "
                            "(%s)", path, e->name, qtf_error_detail());
        uint64_t ti;
        qtf_source_tensor_find(&ti, m->src, hf);
        const qtf_source_tensor *t = qtf_source_tensor_get(m->src, ti);
        if (at->input_axis != 0 && at->input_axis != 1)
            return cli_fail(err, cap, "%s: importance entry '%s' -> '%s': not a linear layer's "
                            "weight, which has no input axis", path, e->name, hf);
        /* one value per input feature: dims[1] of an nn.Linear [out, in],
         * dims[0] of a Conv1D [in, out] (stored transposed, plan.c) */
        uint32_t ax = (uint32_t)at->input_axis;
        if (e->n_experts != 1 || t->n_dims != 2 || e->n != t->dims[ax])
            return cli_fail(err, cap, "%s: importance entry '%s' has %" PRIu64 " values (%" PRIu64
                            " expert(s)), but '%s' has %s of %" PRIu64 " elements", path, e->name,
                            e->n, e->n_experts, hf,
                            ax == 0 ? "an input dimension (dims[0] of a Conv1D weight)" : "rows",
                            t->n_dims == 2 ? t->dims[ax] : t->n_dims ? t->dims[t->n_dims - 1] : 1);
        m->by_tensor[ti] = e;
    }
    return 0;
}

int qtfc_imatrix_map_open(qtfc_imatrix_map **out, const char *path, const qtf_source *src,
                          char *err, size_t cap) {
    *out = NULL;
    qtf_imatrix *im = NULL;
    qtf_status st;
    if (qtf_gguf_file_is_gguf(path)) {
        st = qtf_imatrix_open(&im, path);
        if (st)
            return cli_fail(err, cap, "%s: cannot read the importance matrix: %s", path,
                            cli_why(st));
    } else {
        qtf_source *probe;
        st = qtf_source_open(&probe, path);
        if (st == QTF_OK) {
            qtf_source_close(probe);
            return 0; /* a safetensors/torch file of importance vectors */
        }
        char first[512];
        snprintf(first, sizeof first, "%s", cli_why(st));
        st = qtf_imatrix_open(&im, path);
        if (st)
            return cli_fail(err, cap, "%s: neither a safetensors importance file (%s) nor a "
                            "llama.cpp imatrix (%s)", path, first, cli_why(st));
    }
    qtfc_imatrix_map *m = calloc(1, sizeof *m);
    if (!m) {
        qtf_imatrix_close(im);
        return cli_fail(err, cap, "%s: out of memory", path);
    }
    m->im = im;
    m->src = src;
    if (load_arch(&m->arch, path, src, err, cap) != 0 || map_entries(m, path, err, cap) != 0) {
        qtfc_imatrix_map_free(m);
        return -1;
    }
    *out = m;
    return 1;
}

void qtfc_imatrix_map_free(qtfc_imatrix_map *m) {
    if (!m) return;
    qtf_imatrix_close(m->im);
    free(m->by_tensor);
    free(m);
}

const float *qtfc_imatrix_map_find(const qtfc_imatrix_map *m, const char *name, uint64_t *n) {
    uint64_t i;
    if (!m || qtf_source_tensor_find(&i, m->src, name) != QTF_OK || !m->by_tensor[i]) return NULL;
    *n = m->by_tensor[i]->n;
    return m->by_tensor[i]->values;
}

int qtfc_imatrix_map_expects(const qtfc_imatrix_map *m, const char *name) {
    char out[1100];
    const qtf_arch_tensor *e;
    if (!m || qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, m->arch, name) != QTF_OK) return 0;
    return e->gguf && e->input_axis >= 0;
}

uint64_t qtfc_imatrix_map_count(const qtfc_imatrix_map *m) { return m ? qtf_imatrix_count(m->im) : 0; }
