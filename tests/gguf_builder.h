/* tests/gguf_builder.h — assembles GGUF files byte by byte for the reader
 * tests: a valid default file that each hostile test changes in exactly one
 * place. */
#ifndef QTF_TESTS_GGUF_BUILDER_H
#define QTF_TESTS_GGUF_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gb {
    unsigned char *p;
    size_t len, cap;
} gb;

static inline void gb_bytes(gb *b, const void *s, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
}
static inline void gb_u8(gb *b, uint8_t v) { gb_bytes(b, &v, 1); }
static inline void gb_u32(gb *b, uint32_t v) {
    unsigned char t[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    gb_bytes(b, t, 4);
}
static inline void gb_u64(gb *b, uint64_t v) {
    gb_u32(b, (uint32_t)v);
    gb_u32(b, (uint32_t)(v >> 32));
}
static inline void gb_f32(gb *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    gb_u32(b, u);
}
static inline void gb_str(gb *b, const char *s) {
    gb_u64(b, strlen(s));
    gb_bytes(b, s, strlen(s));
}
/* key + value type; the caller appends the value */
static inline void gb_key(gb *b, const char *key, uint32_t type) {
    gb_str(b, key);
    gb_u32(b, type);
}
static inline void gb_pad(gb *b, size_t align) {
    while (b->len % align) gb_u8(b, 0);
}

enum { GB_U8 = 0, GB_I8, GB_U16, GB_I16, GB_U32, GB_I32, GB_F32, GB_BOOL, GB_STRING, GB_ARRAY,
       GB_U64, GB_I64, GB_F64 };

typedef struct gb_tensor {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t type;
    uint64_t nbytes;            /* data bytes to write */
    int64_t offset_delta;       /* added to the correct offset */
    int explicit_offset;        /* 1: use `offset` as is */
    uint64_t offset;
    const void *data;           /* nbytes to write, or NULL: a byte pattern */
} gb_tensor;

/* What the default file looks like, and where a test changes it. */
typedef struct gb_spec {
    uint32_t version;           /* 3 */
    int64_t kv_count_delta, tensor_count_delta;
    int with_alignment;         /* general.alignment key present (u32) */
    uint32_t alignment;         /* value written, and used for padding when valid */
    int with_tokenizer;         /* tokens/scores/token_type with 3 entries */
    void (*extra_kv)(gb *b);    /* raw records appended to the metadata */
    uint32_t n_extra_kv;
    uint32_t n_tensors;
    gb_tensor tensors[8];
    uint64_t trailing;          /* bytes after the data */
} gb_spec;

/* Two tensors: "a" F32 8x2 (64 bytes), "b" Q8_0 32x1 (34 bytes). */
static inline gb_spec gb_default(void) {
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

static inline void gb_build(gb *b, const gb_spec *s) {
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
    if (s->with_tokenizer) {
        gb_key(b, "tokenizer.ggml.tokens", GB_ARRAY);
        gb_u32(b, GB_STRING);
        gb_u64(b, 3);
        gb_str(b, "<unk>");
        gb_str(b, "a");
        gb_str(b, "b");
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

#endif
