/* fuzz/fuzz_reader.c — libFuzzer target for the container reader.
 *
 * The first input byte selects options; the rest is the file. Because the
 * header checksum would reject almost every mutation before the parsers run,
 * bit 0 asks the harness to recompute it, so that mutations reach the
 * metadata, directory, placement and encoding checks. Every accessor is then
 * exercised on whatever opened: metadata getters, tensor lookup, checksum
 * verification, part decoding and dequantization (sizes capped so that a
 * legitimately huge declared tensor does not exhaust the fuzzer's memory). */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/common.h"
#include "qtf.h"
#include "support/container.h"

#define MAX_DECODE (1u << 20)
#define MAX_DEQUANT_ELEMENTS (1u << 16)

/* Hashing every returned byte range makes ASan check that it is readable. */
static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk_metadata(const qtf_file *f) {
    uint64_t n = qtf_meta_count(f);
    for (uint64_t i = 0; i < n; i++) {
        const char *key = qtf_meta_key(f, i);
        qtf_value v;
        if (!key || qtf_meta_value(&v, f, i) != QTF_OK) abort();
        uint64_t idx;
        if (qtf_meta_find(&idx, f, key) != QTF_OK || idx != i) abort();
        uint64_t u;
        int64_t s;
        double d;
        int b;
        const char *str;
        const void *blob;
        uint64_t len;
        const char *mt;
        qtf_meta_get_u64(&u, f, key);
        qtf_meta_get_i64(&s, f, key);
        qtf_meta_get_f64(&d, f, key);
        qtf_meta_get_bool(&b, f, key);
        if (qtf_meta_get_string(&str, &len, f, key) == QTF_OK) sink ^= XXH3_64bits(str, len);
        if (qtf_meta_get_blob(&blob, &len, &mt, f, key) == QTF_OK) {
            if (strlen(mt) > 127) abort();
            sink ^= XXH3_64bits(blob, len);
        }
        if (v.type == QTF_TYPE_ARRAY && v.elem_type != QTF_TYPE_STRING) {
            sink ^= XXH3_64bits(v.data, v.count * qtf_type_size(v.elem_type));
        }
        if (v.type == QTF_TYPE_ARRAY && v.elem_type == QTF_TYPE_STRING) {
            for (uint64_t j = 0; j < v.count && j < 64; j++) {
                if (qtf_meta_array_string(&str, &len, f, i, j) != QTF_OK) abort();
                sink ^= XXH3_64bits(str, len);
            }
            if (v.count && qtf_meta_array_string(&str, &len, f, i, v.count - 1) != QTF_OK)
                abort();
        }
    }
}

static void walk_tensors(const qtf_file *f, int data) {
    uint64_t n = qtf_tensor_count(f);
    for (uint64_t i = 0; i < n; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        uint64_t idx;
        if (!t || qtf_tensor_find(&idx, f, t->name) != QTF_OK || idx != i) abort();
        if (!data) continue;
        qtf_tensor_verify(f, i);
        for (uint32_t k = 0; k < t->n_parts; k++) {
            const void *p;
            if (qtf_part_data(&p, f, i, k) == QTF_OK)
                sink ^= XXH3_64bits(p, (size_t)t->parts[k].stored_size);
            uint64_t dsz = t->parts[k].decoded_size;
            if (dsz > MAX_DECODE) continue;
            void *buf = malloc(dsz ? (size_t)dsz : 1);
            if (!buf) continue;
            qtf_part_decode(buf, dsz, f, i, k);
            free(buf);
        }
        if (t->encoding_known && t->n_elements <= MAX_DEQUANT_ELEMENTS) {
            uint64_t total = 0;
            for (uint32_t k = 0; k < t->n_parts; k++) total += t->parts[k].decoded_size;
            if (total > MAX_DECODE) continue;
            float *out = malloc(t->n_elements ? (size_t)t->n_elements * sizeof *out : 1);
            if (!out) continue;
            qtf_tensor_dequantize(out, QTF_DTYPE_F32, t->n_elements, f, i, 1);
            /* the first rows alone (a transposed tensor gathers columns) */
            uint64_t cols = t->n_dims ? t->dims[t->n_dims - 1] : 1;
            uint64_t rows = cols ? t->n_elements / cols : 0, r = rows > 1 ? 2 : rows;
            if (r) qtf_tensor_dequantize_rows(out, QTF_DTYPE_F32, r * cols, f, i, 0, r, 1);
            free(out);
        }
    }
    if (data) {
        qtf_status *res = malloc(n ? (size_t)n * sizeof *res : 1);
        if (res) qtf_file_verify(f, 1, res);
        free(res);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned mode = data[0];
    size_t len = size - 1;
    unsigned char *b = malloc(len ? len : 1); /* exact size: over-reads are caught */
    if (!b) return 0;
    memcpy(b, data + 1, len);
    if (mode & 1) tu_reseal(b, len);
    qtf_open_options o = QTF_OPEN_OPTIONS_INIT;
    o.flags = (mode & 2) ? QTF_OPEN_METADATA_ONLY : 0;
    if (mode & 4) { /* tight decode limits: the QTF_E_LIMIT paths */
        o.max_decoded_size = 4096;
        o.max_decoded_ratio = 2;
    }
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open_memory(&f, b, len, "fuzz.qtf", &o);
    if (st == QTF_OK) {
        walk_metadata(f);
        walk_tensors(f, !(mode & 2));
        qtf_file_close(f);
    } else if (f) {
        abort(); /* a failed open must not hand out an object */
    }
    free(b);
    return 0;
}
