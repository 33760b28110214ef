/* tests/gguf_fixture.h — the llama.cpp fixtures of ../shared/gguf seen through
 * the product GGUF reader (checkpoint/gguf.h), in the small shape the ggml type
 * tests use: an indexable tensor array, lookup by name, bounded data access. */
#ifndef QTF_TESTS_GGUF_FIXTURE_H
#define QTF_TESTS_GGUF_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/gguf.h"

typedef struct gf_tensor {
    const char *name;
    uint32_t type;     /* ggml type id */
    uint64_t ne[4];    /* ne[0] = row length */
    uint32_t n_dims;
    uint64_t index;    /* in the reader */
} gf_tensor;

typedef struct gf_file {
    qtf_gguf *g;
    uint32_t n_tensors;
    gf_tensor *t;
} gf_file;

static inline int gf_load(gf_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    if (qtf_gguf_open(&f->g, path, 0) != QTF_OK) return -1;
    const uint64_t n = qtf_gguf_tensor_count(f->g);
    f->t = calloc(n ? n : 1, sizeof *f->t);
    if (!f->t) return -1;
    for (uint64_t i = 0; i < n; i++) {
        const qtf_gguf_tensor *src = qtf_gguf_tensor_get(f->g, i);
        gf_tensor *t = &f->t[i];
        t->name = src->name;
        t->type = src->type;
        t->n_dims = src->n_dims;
        memcpy(t->ne, src->ne, sizeof t->ne);
        t->index = i;
    }
    f->n_tensors = (uint32_t)n;
    return 0;
}

static inline void gf_free(gf_file *f) {
    qtf_gguf_close(f->g);
    free(f->t);
    memset(f, 0, sizeof *f);
}

static inline const gf_tensor *gf_find(const gf_file *f, const char *name) {
    uint64_t i;
    return qtf_gguf_tensor_find(&i, f->g, name) == QTF_OK ? &f->t[i] : NULL;
}

static inline uint64_t gf_nelements(const gf_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* The tensor's bytes when it holds at least nbytes of them, else NULL. */
static inline const void *gf_data(const gf_file *f, const gf_tensor *t, uint64_t nbytes) {
    const void *p;
    uint64_t size;
    if (qtf_gguf_tensor_data(&p, &size, f->g, t->index) != QTF_OK || size < nbytes) return NULL;
    return p;
}

#endif
