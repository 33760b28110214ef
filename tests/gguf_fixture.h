/* tests/gguf_fixture.h — TEST-ONLY minimal GGUF v3 loader for the trusted
 * llama.cpp fixtures in ../shared/gguf. Not a product reader: it exists only
 * until the GGUF reader of branch `gguf` (checkpoint/gguf*.h) is on main, and
 * is to be replaced by it then. It reads the whole file, skips the metadata
 * values, and indexes the tensor infos; bounds are checked so that a damaged
 * fixture fails the test instead of crashing it. */
#ifndef QTF_TESTS_GGUF_FIXTURE_H
#define QTF_TESTS_GGUF_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GF_MAX_TENSORS 64
#define GF_MAX_NAME 96

typedef struct gf_tensor {
    char name[GF_MAX_NAME];
    uint32_t type;     /* ggml type: 0 F32, 10 Q2_K .. 14 Q6_K */
    uint64_t ne[4];    /* ne[0] = row length */
    uint32_t n_dims;
    uint64_t offset;   /* from the start of the data section */
} gf_tensor;

typedef struct gf_file {
    unsigned char *bytes;
    uint64_t size;
    uint64_t data_start;
    uint32_t n_tensors;
    gf_tensor t[GF_MAX_TENSORS];
} gf_file;

typedef struct gf_cursor {
    const unsigned char *p;
    uint64_t left;
    int bad;
} gf_cursor;

static inline uint64_t gf_take(gf_cursor *c, unsigned n) {
    if (c->bad || c->left < n) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    c->left -= n;
    return v;
}

static inline void gf_skip(gf_cursor *c, uint64_t n) {
    if (c->bad || c->left < n) {
        c->bad = 1;
        return;
    }
    c->p += n;
    c->left -= n;
}

/* Skips one metadata value of GGUF type t; returns its u32 value when t is
 * UINT32 (for general.alignment). */
static inline uint64_t gf_skip_value(gf_cursor *c, uint32_t t, int depth) {
    static const unsigned fixed[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t == 8) {
        gf_skip(c, gf_take(c, 8));
    } else if (t == 9 && depth == 0) {
        const uint32_t at = (uint32_t)gf_take(c, 4);
        const uint64_t n = gf_take(c, 8);
        for (uint64_t i = 0; i < n && !c->bad; i++) gf_skip_value(c, at, 1);
    } else if (t < 13 && fixed[t]) {
        return gf_take(c, fixed[t]);
    } else {
        c->bad = 1;
    }
    return 0;
}

/* Loads path; 0 on success, -1 if the file is missing or malformed. */
static inline int gf_load(gf_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    if (fseek(fp, 0, SEEK_END) != 0) {
        fclose(fp);
        return -1;
    }
    const long sz = ftell(fp);
    rewind(fp);
    if (sz <= 0 || !(f->bytes = malloc((size_t)sz)) ||
        fread(f->bytes, 1, (size_t)sz, fp) != (size_t)sz) {
        fclose(fp);
        free(f->bytes);
        f->bytes = NULL;
        return -1;
    }
    fclose(fp);
    f->size = (uint64_t)sz;
    gf_cursor c = {f->bytes, f->size, 0};
    if (gf_take(&c, 4) != 0x46554747u || gf_take(&c, 4) != 3) return -1; /* "GGUF", v3 */
    const uint64_t nt = gf_take(&c, 8), nkv = gf_take(&c, 8);
    if (nt > GF_MAX_TENSORS) return -1;
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < nkv && !c.bad; i++) {
        const uint64_t klen = gf_take(&c, 8);
        const unsigned char *key = c.p;
        gf_skip(&c, klen);
        const uint32_t t = (uint32_t)gf_take(&c, 4);
        const uint64_t v = gf_skip_value(&c, t, 0);
        if (!c.bad && klen == 17 && memcmp(key, "general.alignment", 17) == 0 && t == 4)
            alignment = v;
    }
    for (uint64_t i = 0; i < nt && !c.bad; i++) {
        gf_tensor *t = &f->t[i];
        const uint64_t nlen = gf_take(&c, 8);
        if (nlen >= GF_MAX_NAME || c.left < nlen) return -1;
        memcpy(t->name, c.p, nlen);
        gf_skip(&c, nlen);
        t->n_dims = (uint32_t)gf_take(&c, 4);
        if (t->n_dims == 0 || t->n_dims > 4) return -1;
        for (int d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) t->ne[d] = gf_take(&c, 8);
        t->type = (uint32_t)gf_take(&c, 4);
        t->offset = gf_take(&c, 8);
    }
    if (c.bad || alignment == 0) return -1;
    const uint64_t pos = f->size - c.left;
    f->data_start = (pos + alignment - 1) / alignment * alignment;
    f->n_tensors = (uint32_t)nt;
    return 0;
}

static inline void gf_free(gf_file *f) {
    free(f->bytes);
    f->bytes = NULL;
}

static inline const gf_tensor *gf_find(const gf_file *f, const char *name) {
    for (uint32_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

static inline uint64_t gf_nelements(const gf_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* The tensor's bytes (nbytes of them), or NULL if they lie outside the file. */
static inline const void *gf_data(const gf_file *f, const gf_tensor *t, uint64_t nbytes) {
    const uint64_t at = f->data_start + t->offset;
    if (at < f->data_start || at > f->size || f->size - at < nbytes) return NULL;
    return f->bytes + at;
}

#endif
