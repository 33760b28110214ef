/* checkpoint/gguf_writer.h — streaming, atomic GGUF v3 writer (the file
 * format llama.cpp and ggml load).
 *
 * Layout written (all little-endian): "GGUF", u32 version 3, u64 tensor
 * count, u64 key/value count, the key/value pairs in the order they were set,
 * the tensor infos (name, n_dims, ne[0..n_dims), ggml type, offset relative
 * to the data section) in declaration order, zero padding to the alignment,
 * then each tensor's bytes at its offset, each padded with zeros to the
 * alignment. The alignment is 32 (GGUF's default, no key written) unless
 * another power of two is asked for, in which case general.alignment is
 * written as a u32.
 *
 * Use: create; set metadata and declare every tensor (any order between the
 * two); then write each declared tensor's bytes in declaration order (in one
 * or several pieces); finish. The header is written when the first data byte
 * is, so memory stays bounded by the metadata plus what the caller passes.
 * Nothing appears at the path until finish succeeds (common/outfile.c: temp
 * file, fsync, link or rename, directory fsync); on any failure an existing
 * file at the path is untouched. */
#ifndef QTF_CHECKPOINT_GGUF_WRITER_H
#define QTF_CHECKPOINT_GGUF_WRITER_H

#include <stdint.h>

#include "gguf.h"
#include "qtf.h"

#define QTF_GGUF_VERSION 3u

typedef struct qtf_gguf_writer qtf_gguf_writer;

/* `opts` as for the .qtf writer (NULL = defaults): alignment 0 = 32, else a
 * power of two 8..1 MiB (QTF_E_ALIGNMENT); QTF_WRITER_NO_REPLACE refuses an
 * existing file; protected_paths (the inputs) are never replaced. The file
 * is put in place by common/outfile.c. */
qtf_status qtf_gguf_writer_create(qtf_gguf_writer **out, const char *path,
                                  const qtf_writer_options *opts);

/* Metadata (before the first tensor byte is written; keys: 1..65535 bytes of
 * UTF-8, unique, QTF_E_DUPLICATE otherwise; "general.alignment" is the
 * writer's own). All data is copied.
 * set_value: a fixed-size scalar of `type` (U8 .. F64, BOOL), `value` points
 * to it in host representation of that C type (uint8_t, int32_t, float, ...;
 * BOOL as uint8_t 0/1). */
qtf_status qtf_gguf_writer_set_value(qtf_gguf_writer *w, const char *key, qtf_type type,
                                     const void *value);
qtf_status qtf_gguf_writer_set_u32(qtf_gguf_writer *w, const char *key, uint32_t v);
qtf_status qtf_gguf_writer_set_f32(qtf_gguf_writer *w, const char *key, float v);
qtf_status qtf_gguf_writer_set_string(qtf_gguf_writer *w, const char *key, const char *s,
                                      uint64_t len);
/* Array of `count` fixed-size elements of `elem_type`, `data` in host layout
 * of that C type (stored little-endian). */
qtf_status qtf_gguf_writer_set_array(qtf_gguf_writer *w, const char *key, qtf_type elem_type,
                                     const void *data, uint64_t count);
qtf_status qtf_gguf_writer_set_string_array(qtf_gguf_writer *w, const char *key,
                                            const char *const *strs, const uint64_t *lens,
                                            uint64_t count);

/* Declares the next tensor: name (1..63 bytes of UTF-8, ggml's limit; unique), ggml type,
 * ne innermost first (GGUF order: ne[0] is the row length), 1..4 dims. */
qtf_status qtf_gguf_writer_declare(qtf_gguf_writer *w, const char *name, uint32_t type,
                                   uint32_t n_dims, const uint64_t *ne);
/* Bytes the declared tensor i takes (for callers that build its data). */
uint64_t qtf_gguf_writer_tensor_size(const qtf_gguf_writer *w, uint64_t i);

/* Appends `size` bytes of the current tensor's data; a tensor is complete
 * when its declared size has been written, and the next one begins. A piece
 * running past the current tensor's end is QTF_E_INVALID_ARG. */
qtf_status qtf_gguf_writer_write(qtf_gguf_writer *w, const void *data, uint64_t size);

/* Every declared tensor complete: pads, fsyncs, renames over the path and
 * syncs the directory. Frees w whatever the outcome. */
qtf_status qtf_gguf_writer_finish(qtf_gguf_writer *w);
/* Removes the temporary file and frees. NULL is a no-op. */
void qtf_gguf_writer_abort(qtf_gguf_writer *w);

#endif
