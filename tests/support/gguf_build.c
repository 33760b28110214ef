/* tests/support/gguf_build.c — GGUF files byte by byte, and the fixtures
 * through the product reader (gguf.h; no Criterion). */
#include "support/gguf.h"

#include <stdlib.h>
#include <string.h>

void gb_str(gb *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_bytes(b, s, strlen(s));
}

void gb_key(gb *b, const char *key, uint32_t type) {
    gb_str(b, key);
    gb_u32(b, type);
}

void gb_str_array(gb *b, const char *key, const char *const *strs, uint64_t n) {
    gb_key(b, key, GB_ARRAY);
    gb_u32(b, GB_STRING);
    gb_u64(b, n);
    for (uint64_t i = 0; i < n; i++) gb_str(b, strs[i]);
}

gb_spec gb_default(void) {
    gb_spec s;
    memset(&s, 0, sizeof s);
    s.version = 3;
    s.with_alignment = 1;
    s.alignment = 32;
    s.with_tokenizer = 1;
    s.n_tensors = 2;
    s.tensors[0] = (gb_tensor){ "a", 2, { 8, 2, 1, 1 }, 0, 64, 0, 0, 0, NULL };
    s.tensors[1] = (gb_tensor){ "b", 1, { 32, 1, 1, 1 }, 8, 34, 0, 0, 0, NULL };
    return s;
}

/* tokens/scores/token_type with 3 entries */
static void gb_tokenizer(gb *b) {
    static const char *const tokens[] = { "<unk>", "a", "b" };
    gb_str_array(b, "tokenizer.ggml.tokens", tokens, 3);
    gb_key(b, "tokenizer.ggml.scores", GB_ARRAY);
    gb_u32(b, GB_F32);
    gb_u64(b, 3);
    for (int i = 0; i < 3; i++) gb_f32(b, (float)-i);
    gb_key(b, "tokenizer.ggml.token_type", GB_ARRAY);
    gb_u32(b, GB_I32);
    gb_u64(b, 3);
    gb_u32(b, 2);
    gb_u32(b, 1);
    gb_u32(b, 1);
}

void gb_build(gb *b, const gb_spec *s) {
    memset(b, 0, sizeof *b);
    uint32_t n_kv = 1 + (s->with_alignment ? 1 : 0) + (s->with_tokenizer ? 3 : 0) + s->n_extra_kv;
    gb_bytes(b, "GGUF", 4);
    gb_u32(b, s->version);
    gb_u64(b, (uint64_t)((int64_t)s->n_tensors + s->tensor_count_delta));
    gb_u64(b, (uint64_t)((int64_t)n_kv + s->kv_count_delta));
    gb_key(b, "general.architecture", GB_STRING);
    gb_str(b, "llama");
    if (s->with_alignment) {
        gb_key(b, "general.alignment", GB_U32);
        gb_u32(b, s->alignment);
    }
    if (s->with_tokenizer) gb_tokenizer(b);
    if (s->extra_kv) s->extra_kv(b);
    size_t align = s->alignment && !(s->alignment & (s->alignment - 1)) && s->alignment <= 4096
                   ? s->alignment : 32;
    uint64_t off = 0;
    for (uint32_t i = 0; i < s->n_tensors; i++) {
        const gb_tensor *t = &s->tensors[i];
        gb_str(b, t->name);
        gb_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims && d < 8; d++) gb_u64(b, t->ne[d < 4 ? d : 3]);
        gb_u32(b, t->type);
        gb_u64(b, t->explicit_offset ? t->offset : (uint64_t)((int64_t)off + t->offset_delta));
        off += (t->nbytes + align - 1) / align * align;
    }
    gb_pad(b, align);
    for (uint32_t i = 0; i < s->n_tensors; i++) {
        if (s->tensors[i].data)
            gb_bytes(b, s->tensors[i].data, (size_t)s->tensors[i].nbytes);
        else
            for (uint64_t j = 0; j < s->tensors[i].nbytes; j++) gb_u8(b, (uint8_t)(j * 7 + i));
        gb_pad(b, align);
    }
    for (uint64_t j = 0; j < s->trailing; j++) gb_u8(b, 0);
}

int gf_load(gf_file *f, const char *path) {
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

void gf_free(gf_file *f) {
    qtf_gguf_close(f->g);
    free(f->t);
    memset(f, 0, sizeof *f);
}

const gf_tensor *gf_find(const gf_file *f, const char *name) {
    uint64_t i;
    return qtf_gguf_tensor_find(&i, f->g, name) == QTF_OK ? &f->t[i] : NULL;
}

uint64_t gf_nelements(const gf_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

const void *gf_data(const gf_file *f, const gf_tensor *t, uint64_t nbytes) {
    const void *p;
    uint64_t size;
    if (qtf_gguf_tensor_data(&p, &size, f->g, t->index) != QTF_OK || size < nbytes) return NULL;
    return p;
}
