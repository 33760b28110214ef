/* tests/support/container.h — making .qtf files in tests, benches and fuzz
 * targets: adding tensors, a small sample file, and re-sealing a mutated
 * file's header checksum so that a test reaches the check it targets.
 * tu_reseal, ts_add_encoded and tu_add do not use Criterion (benches, fuzz
 * targets); the others fail the running Criterion test. */
#ifndef QTF_TEST_SUPPORT_CONTAINER_H
#define QTF_TEST_SUPPORT_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "qtf.h"

/* Header field offsets (spec/FORMAT.md). */
enum {
    H_MAJOR = 8, H_BOM = 12, H_HSIZE = 16, H_FLAGS = 20, H_ALIGN = 24, H_ALGO = 28,
    H_NT = 32, H_NM = 40, H_DOFF = 48, H_DSIZE = 56, H_MOFF = 64, H_MSIZE = 72,
    H_DIROFF = 80, H_DIRSIZE = 88, H_SUM = 120
};

/* Recomputes the header checksum from the section fields (clamped to the
 * buffer) so that a deliberately broken field is what the reader meets. */
void tu_reseal(unsigned char *b, size_t len);

/* Adds tensor `name` (n_dims, dims) holding the parts of `enc`, encoded as
 * *e, with this source type and zstd level: the status of the add. */
qtf_status ts_add_encoded(qtf_writer *w, const char *name, const qtf_encoding *e,
                          const qtf_encoded *enc, uint32_t n_dims, const uint64_t *dims,
                          qtf_dtype source_type, int zstd_level);

/* ts_add_encoded with a layout (QTF_LAYOUT_*): for TRANSPOSED, enc holds the
 * parts of the transpose while dims stays the logical shape. */
qtf_status ts_add_encoded_as(qtf_writer *w, const char *name, const qtf_encoding *e,
                             const qtf_encoded *enc, uint32_t n_dims, const uint64_t *dims,
                             qtf_dtype source_type, int zstd_level, uint32_t layout);

/* Quantizes x (n_dims, dims) as *e, which must succeed, and adds it as
 * ts_add_encoded does: the status of the add. */
qtf_status ts_add_quantized(qtf_writer *w, const char *name, const qtf_encoding *e,
                            const float *x, uint32_t n_dims, const uint64_t *dims,
                            qtf_dtype source_type, int zstd_level);

/* A .qtf at path holding only that tensor (ts_add_quantized); all must succeed. */
void ts_write_quantized(const char *path, const char *name, const qtf_encoding *e,
                        const float *x, uint32_t n_dims, const uint64_t *dims,
                        qtf_dtype source_type, int zstd_level);

/* The encoding `text`, which must parse. */
qtf_encoding ts_parse(const char *text);

/* Default parameters of encoding `id`; a RAW encoding of element type t. */
qtf_encoding tu_enc(qtf_encoding_id id);
qtf_encoding tu_raw(qtf_dtype t);

/* Adds a tensor whose single part is `data` (encoding F32/F16/BF16/RAW),
 * source type F32; tu_add_as with a layout (QTF_LAYOUT_*). */
qtf_status tu_add(qtf_writer *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                  const qtf_encoding *enc, const void *data, uint64_t size, int zstd_level);
qtf_status tu_add_as(qtf_writer *w, const char *name, uint32_t n_dims, const uint64_t *dims,
                     const qtf_encoding *enc, const void *data, uint64_t size, int zstd_level,
                     uint32_t layout);

/* Sample: 3 metadata entries, tensors "a" (2x3 f32), "b" (4 f16 bytes),
 * alignment 64. */
void tu_write_sample(const char *path, int zstd_level);

/* Opens a memory buffer and returns the status (closing on success). */
qtf_status tu_open_mem(const void *b, size_t len, unsigned flags);

/* A child process creates a writer at `out` (a safetensors writer that has
 * written some data when `safetensors`, else a .qtf writer) and is killed
 * by SIGKILL before finishing; the test fails if it did not get that far. */
void ts_killed_writer(int safetensors, const char *out);

/* Opens the file at path with these flags; fails the test otherwise. */
qtf_file *ts_open(const char *path, unsigned flags);

/* A writer at path (default options, or this data alignment); fails the
 * test otherwise. */
qtf_writer *ts_writer(const char *path);
qtf_writer *ts_writer_aligned(const char *path, uint32_t alignment);

/* The file at path opens, holds n_tensors tensors and passes verification. */
void ts_expect_valid(const char *path, uint64_t n_tensors);

/* The tensor `name` of f (its index into *index unless NULL); must exist. */
const qtf_tensor_info *ts_tensor(const qtf_file *f, const char *name, uint64_t *index);

/* The metadata entry `key` of f: an array of `count` elements of elem_type. */
qtf_value ts_meta_array(const qtf_file *f, const char *key, qtf_type elem_type, uint64_t count);

#endif
