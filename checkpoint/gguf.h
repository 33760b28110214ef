/* checkpoint/gguf.h — hostile-safe reader of GGUF files (llama.cpp/ggml's
 * model container, versions 2 and 3, little-endian), and the table of ggml
 * tensor types (block size, bytes per block) that gives every tensor's size.
 *
 * Layout (ggml docs/gguf.md): "GGUF", u32 version, u64 tensor count, u64
 * key/value count, the key/value records (u64 key length + key, i32 value
 * type, value; strings are u64 length + bytes; arrays are i32 element type,
 * u64 count, elements), the tensor infos (name, u32 n_dims, i64 ne[n_dims]
 * with ne[0] contiguous, i32 ggml type, u64 offset relative to the data
 * section), zero padding up to `general.alignment` (u32, default 32), then
 * the data section: every tensor at the running total of the padded sizes
 * of the tensors before it, in tensor-info order.
 *
 * What the reader refuses (each a named qtf_status with a qtf_error_detail()
 * naming the file, the key or tensor, the file offset and expected vs
 * found): bad magic (QTF_E_MAGIC), version other than 2/3 (QTF_E_VERSION),
 * big-endian files (QTF_E_BYTE_ORDER), anything ending early
 * (QTF_E_TRUNCATED), counts and lengths larger than the bytes that remain or
 * than the limits below (QTF_E_LIMIT), size arithmetic overflowing
 * (QTF_E_OVERFLOW), empty/invalid-UTF-8/NUL-containing keys and names
 * (QTF_E_UTF8), duplicate keys or tensor names (QTF_E_DUPLICATE), value or
 * element types outside the 13, nested arrays, well-known keys with the
 * wrong type (QTF_E_TYPE), bool bytes other than 0/1 and tokenizer arrays of
 * different lengths (QTF_E_VALUE), alignment 0 / not a power of two / above
 * the cap (QTF_E_ALIGNMENT), n_dims > 4, negative ne, rows not a multiple of
 * the type's block (QTF_E_SHAPE), unknown or removed ggml type ids
 * (QTF_E_UNKNOWN_ENCODING), tensor offsets misaligned, out of order,
 * overlapping, with holes, beyond the data, or bytes after the data
 * (QTF_E_OFFSET).
 *
 * Memory: nothing is allocated from a count before that count has been
 * checked against the bytes remaining in the file. The heap used by an open
 * qtf_gguf is at most QTF_GGUF_HEAP_BOUND(H) bytes, where H is the size of
 * the header (magic through the last tensor info, H <= file size); a
 * metadata-only open also holds a copy of the header (at most 2 H while it
 * grows). Tensor data is never copied: mmap (default) or the caller's
 * buffer.
 *
 * Not installed; shared by qtf-inspect, qtf-verify and qtf-convert. */
#ifndef QTF_CHECKPOINT_GGUF_H
#define QTF_CHECKPOINT_GGUF_H

#include "qtf.h"

/* --- ggml tensor types ------------------------------------------------------ */

/* ggml_type ids as stored in GGUF tensor infos (ggml.h). Ids 4, 5 (Q4_2,
 * Q4_3) and 31..33, 36..38 (repacked layouts) were removed from the format
 * and are refused like unknown ids. */
enum {
    QTF_GGML_F32 = 0, QTF_GGML_F16 = 1, QTF_GGML_Q4_0 = 2, QTF_GGML_Q4_1 = 3,
    QTF_GGML_Q5_0 = 6, QTF_GGML_Q5_1 = 7, QTF_GGML_Q8_0 = 8, QTF_GGML_Q8_1 = 9,
    QTF_GGML_Q2_K = 10, QTF_GGML_Q3_K = 11, QTF_GGML_Q4_K = 12, QTF_GGML_Q5_K = 13,
    QTF_GGML_Q6_K = 14, QTF_GGML_Q8_K = 15, QTF_GGML_IQ2_XXS = 16, QTF_GGML_IQ2_XS = 17,
    QTF_GGML_IQ3_XXS = 18, QTF_GGML_IQ1_S = 19, QTF_GGML_IQ4_NL = 20, QTF_GGML_IQ3_S = 21,
    QTF_GGML_IQ2_S = 22, QTF_GGML_IQ4_XS = 23, QTF_GGML_I8 = 24, QTF_GGML_I16 = 25,
    QTF_GGML_I32 = 26, QTF_GGML_I64 = 27, QTF_GGML_F64 = 28, QTF_GGML_IQ1_M = 29,
    QTF_GGML_BF16 = 30, QTF_GGML_TQ1_0 = 34, QTF_GGML_TQ2_0 = 35, QTF_GGML_MXFP4 = 39,
    QTF_GGML_TYPE_COUNT_ = 40
};

typedef struct qtf_ggml_type_info {
    const char *name;       /* ggml_type_name(): "F32", "Q4_K", "IQ4_XS", ... */
    uint32_t block_size;    /* elements per block (1 for plain types) */
    uint32_t type_size;     /* bytes per block */
    int quantized;          /* 1 for block types */
} qtf_ggml_type_info;

/* Borrowed static row, or NULL when `id` is unknown or removed. */
const qtf_ggml_type_info *qtf_ggml_type_get(uint32_t id);
/* "Q4_K", or NULL when unknown. */
const char *qtf_ggml_type_name(uint32_t id);
/* Id of a type named as ggml_type_name() spells it (case-insensitive);
 * QTF_E_NOT_FOUND otherwise. */
qtf_status qtf_ggml_type_from_name(uint32_t *out, const char *name);
/* Bytes of a tensor of `n_dims` dims ne[] (ne[0] = row length) stored in
 * type `id`: QTF_E_UNKNOWN_ENCODING, QTF_E_SHAPE (row not a multiple of the
 * block), QTF_E_OVERFLOW. The detail names no file (callers prefix it). */
qtf_status qtf_ggml_nbytes(uint64_t *out, uint32_t id, uint32_t n_dims, const uint64_t *ne);

/* --- limits ----------------------------------------------------------------- */
#define QTF_GGUF_MAX_DIMS 4                 /* GGML_MAX_DIMS */
#define QTF_GGUF_MAX_NAME_LEN 63u           /* GGML_MAX_NAME - 1 bytes */
#define QTF_GGUF_MAX_KEY_LEN 65535u         /* bytes */
#define QTF_GGUF_MAX_STRING_LEN (1u << 30)  /* bytes, one string */
#define QTF_GGUF_MAX_ARRAY_LEN (1ull << 30) /* elements, one array */
#define QTF_GGUF_MAX_KV (1u << 20)          /* key/value pairs */
#define QTF_GGUF_MAX_TENSORS (1u << 24)
#define QTF_GGUF_MAX_ALIGNMENT (1u << 24)
#define QTF_GGUF_DEFAULT_ALIGNMENT 32u
/* Heap bound of an open file (see the top of this file), H = header bytes. */
#define QTF_GGUF_HEAP_BOUND(H) (8u * (uint64_t)(H) + 65536u)

/* --- opening ---------------------------------------------------------------- */

typedef struct qtf_gguf qtf_gguf;

#define QTF_GGUF_OPEN_METADATA_ONLY 0x1u /* header only, read with pread; the
                                            data is checked against the file
                                            size but never mapped or read */

typedef struct qtf_gguf_info {
    uint32_t version;           /* 2 or 3 */
    uint64_t tensor_count;
    uint64_t kv_count;
    uint32_t alignment;         /* general.alignment or 32 */
    uint64_t header_size;       /* bytes up to the end of the last tensor info */
    uint64_t data_offset;       /* header_size aligned up */
    uint64_t data_size;         /* sum of padded tensor sizes */
    uint64_t file_size;
} qtf_gguf_info;

/* Opens `path` and validates the whole header and the data layout. mmap's
 * the file unless QTF_GGUF_OPEN_METADATA_ONLY. Caller owns *out. */
qtf_status qtf_gguf_open(qtf_gguf **out, const char *path, unsigned flags);
/* Same over a caller buffer that must outlive the object (not copied).
 * `name` is quoted in errors (NULL: "<memory>"). */
qtf_status qtf_gguf_open_memory(qtf_gguf **out, const void *buf, size_t len, const char *name,
                                unsigned flags);
void qtf_gguf_close(qtf_gguf *g); /* NULL is a no-op */

/* 1 when buf starts with the GGUF magic "GGUF" (either byte order). */
int qtf_gguf_has_magic(const void *buf, size_t len);
/* 1 when the file at `path` starts with the GGUF magic; 0 otherwise
 * (also when it cannot be read). Content detection, not the extension. */
int qtf_gguf_file_is_gguf(const char *path);

const qtf_gguf_info *qtf_gguf_get_info(const qtf_gguf *g);
const char *qtf_gguf_name(const qtf_gguf *g);  /* path or memory name */
/* Heap bytes held by g (for the memory-bound tests). */
uint64_t qtf_gguf_heap_bytes(const qtf_gguf *g);

/* --- metadata --------------------------------------------------------------- */

uint64_t qtf_gguf_kv_count(const qtf_gguf *g);
/* NUL-terminated key of record i, or NULL when out of range. Borrowed. */
const char *qtf_gguf_kv_key(const qtf_gguf *g, uint64_t i);
/* File offset of record i (for messages); 0 when out of range. */
uint64_t qtf_gguf_kv_offset(const qtf_gguf *g, uint64_t i);
/* A borrowed view of value i (qtf_value: GGUF's 13 types share QTF's
 * numbers). Arrays of numbers: `data` points at `count` LE elements; arrays
 * of strings: use qtf_gguf_array_elem(). */
qtf_status qtf_gguf_kv_value(qtf_value *out, const qtf_gguf *g, uint64_t i);
/* QTF_E_NOT_FOUND when absent. */
qtf_status qtf_gguf_kv_find(uint64_t *out_index, const qtf_gguf *g, const char *key);
/* Element j of the array at record i as a scalar qtf_value (numbers widened
 * as in qtf_value, strings as str/len). QTF_E_TYPE_MISMATCH when record i is
 * not an array, QTF_E_NOT_FOUND when j >= count. */
qtf_status qtf_gguf_array_elem(qtf_value *out, const qtf_gguf *g, uint64_t i, uint64_t j);

/* Typed getters by key: QTF_E_NOT_FOUND when absent, QTF_E_TYPE_MISMATCH
 * when the stored type does not fit (integers: any integer type whose value
 * is representable; floats: F32 or F64). The detail names key and types. */
qtf_status qtf_gguf_get_u64(uint64_t *out, const qtf_gguf *g, const char *key);
qtf_status qtf_gguf_get_i64(int64_t *out, const qtf_gguf *g, const char *key);
qtf_status qtf_gguf_get_f64(double *out, const qtf_gguf *g, const char *key);
qtf_status qtf_gguf_get_bool(int *out, const qtf_gguf *g, const char *key);
/* Borrowed bytes (not NUL-terminated) and length. */
qtf_status qtf_gguf_get_string(const char **out, uint64_t *out_len, const qtf_gguf *g,
                               const char *key);
/* An array whose elements are `elem_type`; *out_index for array_elem. */
qtf_status qtf_gguf_get_array(qtf_value *out, uint64_t *out_index, const qtf_gguf *g,
                              const char *key, qtf_type elem_type);

/* --- tensors ---------------------------------------------------------------- */

typedef struct qtf_gguf_tensor {
    const char *name;           /* NUL-terminated UTF-8, 1..63 bytes */
    uint32_t name_len;
    uint32_t n_dims;            /* 0..4 as stored */
    uint64_t ne[QTF_GGUF_MAX_DIMS]; /* ne[0] = row length (contiguous); unused = 1 */
    uint32_t type;              /* known ggml type id */
    uint64_t offset;            /* relative to the data section */
    uint64_t n_elements;
    uint64_t nbytes;            /* from the type table */
    uint64_t info_offset;       /* file offset of the tensor info (messages) */
} qtf_gguf_tensor;

uint64_t qtf_gguf_tensor_count(const qtf_gguf *g);
/* Borrowed; NULL when out of range. */
const qtf_gguf_tensor *qtf_gguf_tensor_get(const qtf_gguf *g, uint64_t i);
qtf_status qtf_gguf_tensor_find(uint64_t *out_index, const qtf_gguf *g, const char *name);
/* Zero-copy pointer to tensor i's bytes (nbytes of them), valid while g is
 * open. QTF_E_STATE on a metadata-only open. */
qtf_status qtf_gguf_tensor_data(const void **out, uint64_t *out_size, const qtf_gguf *g,
                                uint64_t i);

/* --- decoding (checkpoint/gguf_decode.c, through libqtf's encodings) ------- */

/* The QTF encoding whose parts are exactly ggml type `id`'s bytes: f32, f16,
 * bf16, and the ggml block types of the encoding table (q4_0 ... q6_k,
 * iq4_nl, iq4_xs, ggml_mxfp4). QTF_E_UNSUPPORTED naming the type otherwise. */
qtf_status qtf_gguf_type_encoding(qtf_encoding *out, uint32_t ggml_type);

/* QTF dims of tensor t (ne reversed: outermost first, the row last);
 * returns n_dims (a 0-dim tensor is [1]). */
uint32_t qtf_gguf_tensor_dims(uint64_t dims[QTF_GGUF_MAX_DIMS], const qtf_gguf_tensor *t);

/* Dequantizes tensor i to f32 in GGUF element order (n == n_elements),
 * bit-identical to ggml. QTF_E_UNSUPPORTED for types without a decoder,
 * QTF_E_STATE on a metadata-only open. */
qtf_status qtf_gguf_tensor_dequantize(float *dst, uint64_t n, const qtf_gguf *g, uint64_t i,
                                      unsigned threads);

#endif
