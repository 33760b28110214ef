/* tests/support/gguf.h — what the GGUF, imatrix and architecture tests
 * share:
 *  - gb_*: assembling GGUF files byte by byte, a valid default file that each
 *    hostile test changes in exactly one place (no Criterion);
 *  - gf_*: the llama.cpp fixtures of ../shared/gguf seen through the product
 *    reader (checkpoint/gguf.h) in the small shape the ggml type tests use
 *    (no Criterion);
 *  - gt_*: a scratch folder, running a built tool with its output captured,
 *    the fixture folders of ../shared/gguf (Criterion). */
#ifndef QTF_TEST_SUPPORT_GGUF_H
#define QTF_TEST_SUPPORT_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint/gguf.h"
#include "support/bytes.h"

/* --- gb: a GGUF file byte by byte (the buffer: support/bytes.h) ------------ */
/* u64 length + bytes */
void gb_str(gb *b, const char *s);
/* key + value type; the caller appends the value */
void gb_key(gb *b, const char *key, uint32_t type);
/* key + ARRAY of n STRING values */
void gb_str_array(gb *b, const char *key, const char *const *strs, uint64_t n);

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
gb_spec gb_default(void);
/* The file `s` describes, into a fresh *b (free b->p). */
void gb_build(gb *b, const gb_spec *s);

/* --- gf: fixtures through the product reader ------------------------------- */
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

/* 0, or -1 when the file cannot be opened. */
int gf_load(gf_file *f, const char *path);
void gf_free(gf_file *f);
const gf_tensor *gf_find(const gf_file *f, const char *name);
uint64_t gf_nelements(const gf_tensor *t);
/* The tensor's bytes when it holds at least nbytes of them, else NULL. */
const void *gf_data(const gf_file *f, const gf_tensor *t, uint64_t nbytes);

/* --- gt: ../shared, scratch folder, tools ---------------------------------- */
/* The GGUF file at path, which must open. */
qtf_gguf *gt_open(const char *path);

/* Tensor `name` of g and its bytes (*data), or NULL when g has no such tensor. */
const qtf_gguf_tensor *gt_tensor(const void **data, const qtf_gguf *g, const char *name);

/* llama-quantize's importance of a weight from an imatrix GGUF: in_sum2 /
 * counts, divided in f32 (malloc'd, n_per_row values); NULL when the imatrix
 * has no entry for `tensor` (token_embd is never a matmul input). */
float *gt_importance(const qtf_gguf *im, const char *tensor, uint64_t n_per_row);

/* A scratch folder for this test process (test_tmpdir of support/files.h),
 * made on first use and removed when the process exits. */
const char *gt_tmp(void);

/* Runs $QTF_BUILD_ROOT/TOOL ARGS (a shell command line); stdout and stderr
 * into *out (malloc'd, NUL-terminated). Returns the exit status. */
int gt_run(char **out, const char *tool, const char *args);

/* gt_run(TOOL, ARGS): the exit status is `code` and the output holds each
 * of the NULL-terminated strings that follow. */
void gt_expect(const char *tool, const char *args, int code, ...);

/* Calls fn(folder, name, ctx) for every file of the fixture folders
 * ../shared/gguf/aidreams-260k and ../shared/gguf/synth whose name ends with
 * `suffix` (folder is the full path of the folder, name the file name).
 * Returns how many; skips the test visibly when ../shared is absent. */
typedef void (*gt_fixture_fn)(const char *folder, const char *name, void *ctx);
int gt_each_fixture(const char *suffix, gt_fixture_fn fn, void *ctx);

#endif
