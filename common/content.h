/* common/content.h — what a file is, judged by its first bytes, so that a
 * file of the wrong kind is named for what it is ("config.json is JSON, not a
 * safetensors file") instead of failing deep inside the wrong parser. */
#ifndef QTF_COMMON_CONTENT_H
#define QTF_COMMON_CONTENT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of the head that qtf__content_kind looks at (fewer is fine). */
#define QTF__CONTENT_HEAD 16

/* The kind of a file whose first bytes are head[0..n) and whose size is
 * file_size: "QTF", "GGUF", "safetensors", "zip", "pickle", "JSON", "text",
 * or NULL when none of these. "safetensors" needs its 8-byte header length to
 * fit in the file and be followed by '{'. Pure function of its arguments. */
const char *qtf__content_kind(const unsigned char *head, size_t n, uint64_t file_size);

#endif
