/* checkpoint/source.h — read-only access to model checkpoints: a Hugging Face
 * folder or file (safetensors single/sharded, torch .bin single/sharded) or a
 * .qtf file. Shared by qtf-convert and qtf-verify (not installed).
 *
 * Every reader assumes hostile bytes: sizes and offsets are checked before
 * use, and errors carry a qtf_error_detail() naming the file and tensor.
 * Tensor data is read with pread (never kept mapped), so resident memory
 * stays bounded by what the caller allocates. */
#ifndef QTF_SOURCE_H
#define QTF_SOURCE_H

#include "qtf.h"

typedef enum qtf_source_kind {
    QTF_SOURCE_SAFETENSORS = 0,         /* model.safetensors (or any *.safetensors file) */
    QTF_SOURCE_SAFETENSORS_SHARDED = 1, /* model.safetensors.index.json + shards */
    QTF_SOURCE_TORCH = 2,               /* pytorch_model.bin (torch zip) */
    QTF_SOURCE_TORCH_SHARDED = 3,       /* pytorch_model.bin.index.json + shards */
    QTF_SOURCE_QTF = 4                  /* a .qtf file */
} qtf_source_kind;

typedef struct qtf_source qtf_source;

typedef struct qtf_source_tensor {
    const char *name;                   /* NUL-terminated UTF-8 */
    qtf_dtype dtype;                    /* stored type (for QTF: the source_type, or F32) */
    uint32_t n_dims;
    uint64_t dims[QTF_MAX_DIMS];
    uint64_t n_elements;
    uint64_t nbytes;                    /* n_elements * dtype size (raw sources) */
    uint32_t file_index;                /* which file holds it */
} qtf_source_tensor;

/* Opens a directory (detects the layout in transformers' order:
 * model.safetensors, model.safetensors.index.json, pytorch_model.bin,
 * pytorch_model.bin.index.json) or a single file (by content). */
qtf_status qtf_source_open(qtf_source **out, const char *path);
/* The same; a .qtf source is opened with qtf_opts (NULL: defaults). */
qtf_status qtf_source_open_with(qtf_source **out, const char *path,
                                const qtf_open_options *qtf_opts);
/* A warning about how the source was chosen (a single file next to an index
 * it shadows), or NULL. Borrowed. */
const char *qtf_source_note(const qtf_source *s);
void qtf_source_close(qtf_source *s);

qtf_source_kind qtf_source_get_kind(const qtf_source *s);
const char *qtf_source_kind_name(qtf_source_kind k); /* "safetensors", ... */
/* Directory that holds the checkpoint files (for config.json and the like). */
const char *qtf_source_dir(const qtf_source *s);

uint32_t qtf_source_file_count(const qtf_source *s);
const char *qtf_source_file_name(const qtf_source *s, uint32_t i); /* base name */
uint64_t qtf_source_file_size(const qtf_source *s, uint32_t i);

/* Paths of every file the source reads (data files, the shard index), for
 * writers that must never replace an input (qtf_writer_options). */
uint32_t qtf_source_input_count(const qtf_source *s);
const char *qtf_source_input_path(const qtf_source *s, uint32_t i);

/* Tensors in a deterministic order: for sharded sources, shard order then
 * offset order within each shard; for a single file, offset order. */
uint64_t qtf_source_tensor_count(const qtf_source *s);
const qtf_source_tensor *qtf_source_tensor_get(const qtf_source *s, uint64_t i);
qtf_status qtf_source_tensor_find(uint64_t *out_index, const qtf_source *s, const char *name);

/* Raw little-endian bytes as stored (dst_size == nbytes). For QTF sources:
 * QTF_E_UNSUPPORTED unless the tensor is stored lossless (f32/f16/bf16/raw). */
qtf_status qtf_source_read_raw(void *dst, uint64_t dst_size, const qtf_source *s, uint64_t i);

/* Values converted to f32 (n == n_elements). Floats exactly widened,
 * integers converted; for QTF sources the tensor is dequantized. */
qtf_status qtf_source_read_f32(float *dst, uint64_t n, const qtf_source *s, uint64_t i,
                               unsigned threads);

/* Reads the small file `name` (a plain file name: config.json,
 * tokenizer.json, ...) of the checkpoint's folder into a malloc'ed,
 * NUL-terminated buffer (free() it). Only a regular file is read: a FIFO or
 * any other kind is refused at once (QTF_E_IO), never waited on; larger than
 * `cap` bytes: QTF_E_LIMIT with the size in the detail; absent:
 * QTF_E_NOT_FOUND; a link resolving outside the folder (except into the
 * blobs/ of the same Hugging Face cache): QTF_E_VALUE. */
qtf_status qtf_source_read_folder_file(char **out, size_t *out_len, const qtf_source *s,
                                       const char *name, size_t cap);

/* The open .qtf file of a QTF source (borrowed), else NULL. */
const qtf_file *qtf_source_qtf_file(const qtf_source *s);

/* --- safetensors output (checkpoint/st_writer.c) ----------------------------
 * Streaming, atomic writer (common/outfile.h: temp file, fsync, rename; the
 * rules on existing destinations and inputs): declare every tensor first,
 * then write their data in the declared order. `opts` as for the .qtf
 * writer (NULL = defaults; alignment must be 0). */
typedef struct qtf_st_writer qtf_st_writer;
qtf_status qtf_st_writer_create(qtf_st_writer **out, const char *path,
                                const qtf_writer_options *opts);
/* Declares a tensor (name copied). Order of declaration = order in file. */
qtf_status qtf_st_writer_declare(qtf_st_writer *w, const char *name, qtf_dtype dtype,
                                 uint32_t n_dims, const uint64_t *dims);
/* Adds a __metadata__ string entry (before the first write). */
qtf_status qtf_st_writer_metadata(qtf_st_writer *w, const char *key, const char *value);
/* Writes the next declared tensor's bytes (size must equal its nbytes). */
qtf_status qtf_st_writer_write(qtf_st_writer *w, const void *data, uint64_t size);
/* All tensors written: fsync + rename. Frees w whatever the outcome. */
qtf_status qtf_st_writer_finish(qtf_st_writer *w);
void qtf_st_writer_abort(qtf_st_writer *w);

#endif
