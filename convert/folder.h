/* convert/folder.h — qtf-convert's folder output (convert/folder.c). */
#ifndef QTF_CONVERT_FOLDER_H
#define QTF_CONVERT_FOLDER_H

#include <stdint.h>

#include "convert.h"

/* Default --max-shard-size: 5 GB, as transformers' save_pretrained. */
#define QTFC_DEFAULT_MAX_SHARD 5000000000ull

/* Writes o->input (a .qtf) as a Hugging Face folder at o->output: embedded
 * files byte for byte, tensors as safetensors (o->st_keep: source dtype,
 * else o->st_dtype) in shards of at most max_shard bytes. Returns the exit
 * code; the folder must be new or empty. */
int qtfc_export_folder(const qtfc_options *o, uint64_t max_shard);

#endif
