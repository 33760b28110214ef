/* tests/support/source.h — checkpoints compared through qtf_source
 * (checkpoint/source.h) (Criterion). */
#ifndef QTF_TEST_SUPPORT_SOURCE_H
#define QTF_TEST_SUPPORT_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint/source.h"

/* Called for tensor i of a and tensor j of b, which have the same name and shape. */
typedef void (*ts_pair_fn)(const qtf_source *a, uint64_t i, const qtf_source *b, uint64_t j,
                           void *ctx);

/* a and b hold the same number of tensors, and every tensor of a has one of
 * the same name and shape in b; fn (unless NULL) checks each pair further.
 * Returns the number of tensors. */
uint64_t ts_source_pairs(const qtf_source *a, const qtf_source *b, ts_pair_fn fn, void *ctx);

/* A safetensors writer at path (default options); fails the test otherwise. */
qtf_st_writer *ts_st_writer(const char *path);

/* One tensor for ts_write_safetensors. */
typedef struct ts_st_tensor {
    const char *name;
    qtf_dtype dtype;
    uint32_t n_dims;
    uint64_t dims[4];
    const void *data;
} ts_st_tensor;

/* A safetensors file at path holding these tensors (qtf_st_writer). */
void ts_write_safetensors(const char *path, const ts_st_tensor *t, size_t n);

/* One member of a zip archive for ts_write_zip. */
typedef struct ts_zip_entry {
    const char *name;
    const void *data;
    size_t len;
    unsigned method;    /* written as is: 0 = stored */
} ts_zip_entry;

/* A zip archive (as torch saves pytorch_model.bin) of the n entries, data
 * stored as given (CRC fields 0: the reader does not check them); with zip64,
 * every size and offset goes through the ZIP64 extra field and end records,
 * as torch writes archives above 4 GiB. At most 64 KiB in all. */
void ts_write_zip(const char *path, const ts_zip_entry *e, int n, int zip64);

/* Every tensor of `orig` (a checkpoint) equals, byte for byte, the tensor of
 * the same name in `back` (a safetensors written by qtf-convert). */
void assert_same_tensors(const char *orig, const char *back);

#endif
