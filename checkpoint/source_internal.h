/* checkpoint/source_internal.h — what the checkpoint readers share (not installed):
 * the qtf_source object they fill, and the parsers exposed to tests and fuzzers. */
#ifndef QTF_SOURCE_INTERNAL_H
#define QTF_SOURCE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "source.h"

/* Limits applied before anything is allocated from a size read in a file. */
#define QTF__ST_MAX_HEADER (100u * 1000u * 1000u) /* safetensors rule: 100 MB */
#define QTF__INDEX_MAX_SIZE (16u << 20)           /* *.index.json (real ones: < 1 MB) */
/* JSON values in one safetensors header, counted before jansson builds its
 * tree (about 100 bytes per value): a tensor takes about 8 (name, dtype,
 * shape, offsets), so this is ~250 000 tensors in one file, and the tree
 * stays under ~200 MB whatever the header holds (issue 11, item 8). */
#define QTF__ST_MAX_HEADER_VALUES (2u << 20)
#define QTF__ST_MAX_HEADER_DEPTH 64u
#define QTF__PICKLE_MAX_SIZE (256u << 20)         /* data.pkl */
#define QTF__READ_CHUNK (8u << 20)                /* conversion buffer of read_f32 */

typedef struct qtf__src_file {
    char *name;                 /* base name */
    char *path;                 /* as opened, used in messages */
    int fd;
    uint64_t size;
} qtf__src_file;

struct qtf_source {
    qtf_source_kind kind;
    char *dir;
    uint32_t n_files, cap_files;
    qtf__src_file *files;
    uint64_t n_tensors, cap_tensors;
    qtf_source_tensor *tensors; /* names owned */
    uint64_t *offsets;          /* absolute file offset of each tensor's first byte */
    uint64_t *by_name;          /* tensor indices sorted by name (strcmp) */
    qtf_file *qtf;              /* QTF sources only */
    qtf_open_options qtf_opts;  /* how a QTF source is opened (decode limits, flags) */
    char note[1024];            /* what the caller should be told (qtf_source_note) */
    char *index_path;           /* sharded sources: the *.index.json read */
};

/* --- source.c: building a source -------------------------------------------- */

/* Opens `path` read-only and appends it (base name `name`). *out_index = its
 * position. QTF_E_IO naming the path. */
qtf_status qtf__source_add_file(qtf_source *s, const char *path, const char *name,
                                uint32_t *out_index);
/* Appends a tensor; takes ownership of `name` (malloc'ed) in every case. */
qtf_status qtf__source_add_tensor(qtf_source *s, char *name, qtf_dtype dtype, uint32_t n_dims,
                                  const uint64_t *dims, uint32_t file_index, uint64_t offset);
/* Reads a whole small file (at most `cap` bytes, else QTF_E_LIMIT). *out is
 * NUL-terminated; free() it. */
qtf_status qtf__read_small_file(char **out, size_t *out_len, const char *path, size_t cap);
/* Sorts tensors of file `file_index` that were appended from position
 * `first` on into (offset, name) order. */
qtf_status qtf__source_sort_file_tensors(qtf_source *s, uint64_t first);

/* --- safetensors.c ---------------------------------------------------------- */

typedef struct qtf__st_entry {
    char *name;
    qtf_dtype dtype;
    uint32_t n_dims;
    uint64_t dims[QTF_MAX_DIMS];
    uint64_t begin, end;        /* relative to the data start */
} qtf__st_entry;

typedef struct qtf__st_header {
    uint64_t header_len;        /* N */
    uint64_t data_start;        /* 8 + N */
    uint64_t n_entries;
    qtf__st_entry *entries;     /* sorted by (begin, end, name) */
    uint64_t n_meta;
    char **meta_keys, **meta_values;
} qtf__st_header;

/* Validates the JSON header of a safetensors file whose data region holds
 * data_size bytes (`file` names it in messages). */
qtf_status qtf__st_parse_header(qtf__st_header *out, const char *file, const void *json,
                                size_t json_len, uint64_t data_size);
/* Same from a complete file held in memory (the fuzzing entry point). */
qtf_status qtf__st_parse_memory(qtf__st_header *out, const char *file, const void *buf,
                                size_t len);
void qtf__st_header_free(qtf__st_header *h);
/* Name of a safetensors dtype, QTF_DTYPE_NONE when unknown. */
qtf_dtype qtf__st_dtype_from_name(const char *name);

/* Parses file `file_index` of s and appends its tensors in offset order. */
qtf_status qtf__st_load_file(qtf_source *s, uint32_t file_index);

/* --- json_util.c: sharded checkpoints ---------------------------------------- */

typedef struct qtf__shard_index {
    uint64_t n;                 /* weight_map entries, sorted by tensor name */
    char **tensor;
    uint32_t *shard;            /* index into shards[] */
    uint32_t n_shards;          /* distinct shard file names, sorted */
    char **shards;
} qtf__shard_index;

/* Reads and validates an index JSON ({"metadata": {...}, "weight_map": {...}}). */
qtf_status qtf__shard_index_load(qtf__shard_index *out, const char *path);
qtf_status qtf__shard_index_parse(qtf__shard_index *out, const char *path, const char *text,
                                  size_t len);
void qtf__shard_index_free(qtf__shard_index *ix);
/* QTF_E_VALUE unless `name` is a plain file name (no '/', '\\', "..", empty). */
qtf_status qtf__check_shard_name(const char *index_path, const char *tensor, const char *name);

/* --- zip.c ------------------------------------------------------------------ */

typedef struct qtf__zip_entry {
    char *name;
    uint64_t data_offset;       /* absolute offset of the stored bytes */
    uint64_t size;
} qtf__zip_entry;

typedef struct qtf__zip {
    uint64_t n;
    qtf__zip_entry *entries;    /* sorted by name */
} qtf__zip;

/* Reads the central directory of a zip archive of STORED entries (ZIP64
 * aware) and the local header of every entry. */
qtf_status qtf__zip_open(qtf__zip *out, int fd, uint64_t file_size, const char *path);
/* Same on a memory image. */
qtf_status qtf__zip_open_memory(qtf__zip *out, const void *buf, size_t len, const char *path);
const qtf__zip_entry *qtf__zip_find(const qtf__zip *z, const char *name);
void qtf__zip_free(qtf__zip *z);

/* --- pickle.c --------------------------------------------------------------- */

typedef struct qtf__pkl_tensor {
    char *name;                 /* state-dict key */
    char *storage_key;          /* data/<key> in the archive */
    qtf_dtype dtype;            /* from the storage class */
    uint64_t storage_numel;     /* elements of the storage, as the pickle says */
    uint64_t storage_offset;    /* elements */
    uint32_t n_dims;
    uint64_t dims[QTF_MAX_DIMS];
    uint64_t strides[QTF_MAX_DIMS];
} qtf__pkl_tensor;

typedef struct qtf__pkl_state_dict {
    uint64_t n;
    qtf__pkl_tensor *tensors;   /* in pickle order */
} qtf__pkl_state_dict;

/* Runs the restricted unpickler over a torch data.pkl. `label` prefixes
 * messages ("pytorch_model.bin: data.pkl"). Executes nothing. */
qtf_status qtf__pickle_load_state_dict(qtf__pkl_state_dict *out, const void *buf, size_t len,
                                       const char *label);
void qtf__pkl_state_dict_free(qtf__pkl_state_dict *sd);

/* --- torchbin.c ------------------------------------------------------------- */

/* Parses file `file_index` of s (a torch zip) and appends its tensors. */
qtf_status qtf__torch_load_file(qtf_source *s, uint32_t file_index);

/* --- qtf_source.c ----------------------------------------------------------- */

qtf_status qtf__qtf_source_load(qtf_source *s, const char *path);
qtf_status qtf__qtf_source_read_raw(void *dst, uint64_t dst_size, const qtf_source *s,
                                    uint64_t i);
qtf_status qtf__qtf_source_read_f32(float *dst, uint64_t n, const qtf_source *s, uint64_t i,
                                    unsigned threads);

#endif
