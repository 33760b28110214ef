/* inspect/gguf_inspect.h — qtf-inspect on a GGUF file: the summary, metadata
 * and tensor table of a QTF file, with ggml types in place of encodings,
 * `--json` in the QTF schema plus "format": "gguf", and `--detail`
 * (values and statistics of the dequantized tensor). Not installed. */
#ifndef QTF_INSPECT_GGUF_INSPECT_H
#define QTF_INSPECT_GGUF_INSPECT_H

#include <stddef.h>
#include <stdint.h>

typedef struct gguf_inspect_options {
    const char *path;
    const char *tensor_glob;    /* or NULL */
    int json, detail, metadata_only, no_tensors, no_metadata;
    size_t value_width;         /* 0 = never shorten */
    uint64_t n_values;          /* --detail values shown */
    unsigned threads;
} gguf_inspect_options;

/* Prints the report; returns the exit status (0, 1: --detail could not
 * decode or --tensor matched nothing, 2: the file is malformed). */
int gguf_inspect_main(const gguf_inspect_options *o);

#endif
