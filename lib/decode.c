/* lib/decode.c — access to tensor data: zero-copy views of plain parts,
 * strict zstd decoding into exactly sized buffers, and dequantization. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader: exported by libzstd */
#include <zstd.h>
#include <zstd_errors.h>

#include "container.h"

static qtf_status check_index(const qtf_file *f, uint64_t tensor, uint32_t part,
                              const char *fn) {
    if (!f) return qtf__error(QTF_E_INVALID_ARG, "%s: NULL file", fn);
    if (tensor >= f->info.tensor_count)
        return qtf__error(QTF_E_INVALID_ARG, "%s: %s: tensor index %" PRIu64 " out of range (%"
                          PRIu64 " tensors)", fn, f->name, tensor, f->info.tensor_count);
    if (part >= f->tensors[tensor].n_parts)
        return qtf__error(QTF_E_INVALID_ARG, "%s: %s: tensor '%s' has %" PRIu32 " parts, not %"
                          PRIu32, fn, f->name, f->tensors[tensor].name,
                          f->tensors[tensor].n_parts, part + 1);
    return QTF_OK;
}

qtf_status qtf__part_bytes(const unsigned char **out, const qtf_file *f, uint64_t tensor,
                           uint32_t part) {
    if (!f->base)
        return qtf__error(QTF_E_STATE, "%s: tensor '%s': data is not available on a "
                          "metadata-only open", f->name, f->tensors[tensor].name);
    *out = f->base + f->tensors[tensor].parts[part].offset;
    return QTF_OK;
}

qtf_status qtf_part_data(const void **out, const qtf_file *f, uint64_t tensor, uint32_t part) {
    if (!out) return qtf__error(QTF_E_INVALID_ARG, "qtf_part_data: NULL argument");
    qtf_status st = check_index(f, tensor, part, "qtf_part_data");
    if (st) return st;
    const qtf_part_info *p = &f->tensors[tensor].parts[part];
    if (p->compression != QTF_COMPRESSION_NONE)
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " is zstd-compressed:"
                          " use qtf_part_decode", f->name, f->tensors[tensor].name, part);
    const unsigned char *b = NULL;
    st = qtf__part_bytes(&b, f, tensor, part);
    if (st) return st;
    *out = b;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf__zstd_check_frame(const qtf_file *f, const qtf_tensor_info *t, uint32_t part,
                                 const unsigned char *src) {
    const qtf_part_info *p = &t->parts[part];
    ZSTD_frameHeader zfh;
    size_t r = ZSTD_getFrameHeader(&zfh, src, (size_t)p->stored_size);
    if (ZSTD_isError(r))
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": not a zstd frame: %s", f->name, t->name, part, p->offset,
                          ZSTD_getErrorName(r));
    if (r > 0)
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": %" PRIu64 " stored bytes hold no complete zstd frame header",
                          f->name, t->name, part, p->offset, p->stored_size);
    if (zfh.frameType != ZSTD_frame)
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": skippable frame, expected one zstd data frame", f->name, t->name,
                          part, p->offset);
    if (zfh.frameContentSize == ZSTD_CONTENTSIZE_UNKNOWN)
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": zstd frame does not record its content size", f->name, t->name,
                          part, p->offset);
    if (zfh.frameContentSize != p->decoded_size)
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": zstd content size %llu, expected the decoded size %" PRIu64,
                          f->name, t->name, part, p->offset, zfh.frameContentSize,
                          p->decoded_size);
    /* decoded_size == frameContentSize here. Ratio: decoded > ratio * stored
     * without overflowing (stored >= 1: a frame header was found). */
    if (p->decoded_size > f->max_decoded_size ||
        (p->decoded_size > QTF_DECODED_RATIO_FLOOR &&
         p->decoded_size / f->max_decoded_ratio >= p->stored_size))
        return qtf__error(QTF_E_LIMIT, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": %" PRIu64 " stored bytes decode to %" PRIu64 " bytes, beyond the "
                          "limits (%" PRIu64 " bytes, or %" PRIu64 " times the stored size "
                          "above %llu bytes); raise them with --max-decoded-size / "
                          "--max-decoded-ratio if the file is trusted", f->name, t->name, part,
                          p->offset, p->stored_size, p->decoded_size, f->max_decoded_size,
                          f->max_decoded_ratio, (unsigned long long)QTF_DECODED_RATIO_FLOOR);
    if (zfh.windowSize > (1ull << QTF_MAX_ZSTD_WINDOW_LOG))
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": zstd window %llu bytes exceeds the limit 2^%d", f->name, t->name,
                          part, p->offset, zfh.windowSize, QTF_MAX_ZSTD_WINDOW_LOG);
    if (zfh.dictID != 0)
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": zstd frame needs dictionary %u, dictionaries are not allowed",
                          f->name, t->name, part, p->offset, zfh.dictID);
    size_t fs = ZSTD_findFrameCompressedSize(src, (size_t)p->stored_size);
    if (ZSTD_isError(fs))
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": zstd frame is cut short or corrupt: %s", f->name, t->name, part,
                          p->offset, ZSTD_getErrorName(fs));
    if (fs != p->stored_size)
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": zstd frame ends after %zu of %" PRIu64 " stored bytes (trailing bytes)",
                          f->name, t->name, part, p->offset, fs, p->stored_size);
    return QTF_OK;
}

static void *zstd_alloc(void *opaque, size_t n) { (void)opaque; return qtf__malloc(n); }
static void zstd_free(void *opaque, void *p) { (void)opaque; free(p); }

static qtf_status decode_part(void *dst, const qtf_file *f, uint64_t tensor, uint32_t part) {
    const qtf_tensor_info *t = &f->tensors[tensor];
    const qtf_part_info *p = &t->parts[part];
    const unsigned char *src = NULL;
    qtf_status st = qtf__part_bytes(&src, f, tensor, part);
    if (st) return st;
    if (p->compression == QTF_COMPRESSION_NONE) {
        if (p->decoded_size) memcpy(dst, src, (size_t)p->decoded_size);
        return QTF_OK;
    }
    st = qtf__zstd_check_frame(f, t, part, src);
    if (st) return st;
    ZSTD_customMem mem = { zstd_alloc, zstd_free, NULL };
    ZSTD_DCtx *dctx = ZSTD_createDCtx_advanced(mem);
    if (!dctx) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate a zstd context", f->name);
    size_t r = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, QTF_MAX_ZSTD_WINDOW_LOG);
    if (!ZSTD_isError(r))
        r = ZSTD_decompressDCtx(dctx, dst, (size_t)p->decoded_size, src, (size_t)p->stored_size);
    ZSTD_freeDCtx(dctx);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return qtf__error(QTF_E_NOMEM, "%s: tensor '%s' part %" PRIu32 ": zstd: %s", f->name,
                              t->name, part, ZSTD_getErrorName(r));
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": zstd decoding failed: %s", f->name, t->name, part, p->offset,
                          ZSTD_getErrorName(r));
    }
    if (r != p->decoded_size)
        return qtf__error(QTF_E_COMPRESSION, "%s: tensor '%s' part %" PRIu32 " at offset %" PRIu64
                          ": zstd produced %zu bytes, expected %" PRIu64, f->name, t->name, part,
                          p->offset, r, p->decoded_size);
    return QTF_OK;
}

qtf_status qtf_part_decode(void *dst, uint64_t dst_size, const qtf_file *f, uint64_t tensor,
                           uint32_t part) {
    qtf_status st = check_index(f, tensor, part, "qtf_part_decode");
    if (st) return st;
    const qtf_part_info *p = &f->tensors[tensor].parts[part];
    if (dst_size != p->decoded_size || (!dst && dst_size))
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s' part %" PRIu32 ": destination is %"
                          PRIu64 " bytes, the decoded size is %" PRIu64, f->name,
                          f->tensors[tensor].name, part, dst_size, p->decoded_size);
    st = decode_part(dst, f, tensor, part);
    if (st) return st;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_tensor_dequantize(void *dst, qtf_dtype dst_type, uint64_t dst_count,
                                 const qtf_file *f, uint64_t tensor, unsigned threads) {
    if (!f) return qtf__error(QTF_E_INVALID_ARG, "qtf_tensor_dequantize: NULL file");
    if (tensor >= f->info.tensor_count)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor index %" PRIu64 " out of range (%" PRIu64
                          " tensors)", f->name, tensor, f->info.tensor_count);
    const qtf_tensor_info *t = &f->tensors[tensor];
    if (!t->encoding_known)
        return qtf__error(QTF_E_UNKNOWN_ENCODING, "%s: tensor '%s': encoding %" PRIu32 " (with %"
                          PRIu32 " parameters) is not known to this version of libqtf", f->name,
                          t->name, t->encoding_id, t->n_params);
    if (dst_count != t->n_elements || (!dst && dst_count))
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor '%s': destination holds %" PRIu64
                          " elements, the tensor has %" PRIu64, f->name, t->name, dst_count,
                          t->n_elements);
    if (!f->base)
        return qtf__error(QTF_E_STATE, "%s: tensor '%s': data is not available on a "
                          "metadata-only open", f->name, t->name);
    qtf_part_view views[QTF_MAX_PARTS];
    void *temp[QTF_MAX_PARTS] = { 0 };
    qtf_status st = QTF_OK;
    for (uint32_t k = 0; k < t->n_parts && !st; k++) {
        const qtf_part_info *p = &t->parts[k];
        views[k] = (qtf_part_view){ p->role, p->type, f->base + p->offset, p->decoded_size };
        if (p->compression == QTF_COMPRESSION_NONE) continue;
        if (p->decoded_size > SIZE_MAX ||
            !(temp[k] = qtf__malloc(p->decoded_size ? (size_t)p->decoded_size : 1))) {
            st = qtf__error(QTF_E_NOMEM, "%s: tensor '%s' part %" PRIu32 ": cannot allocate %"
                            PRIu64 " bytes to decode it", f->name, t->name, k, p->decoded_size);
            break;
        }
        st = decode_part(temp[k], f, tensor, k);
        views[k].data = temp[k];
    }
    /* A transposed tensor's parts encode [dims[1], dims[0]]: decoded in that
     * shape, then transposed into dst so that callers get dims. */
    void *stored = dst;
    size_t es = qtf_dtype_size(dst_type);
    int float_dst = dst_type == QTF_DTYPE_F32 || dst_type == QTF_DTYPE_F16 ||
                    dst_type == QTF_DTYPE_BF16;    /* others: refused by qtf_dequantize */
    if (!st && t->layout == QTF_LAYOUT_TRANSPOSED && dst_count && float_dst) {
        stored = es && dst_count <= SIZE_MAX / es ? qtf__malloc((size_t)dst_count * es) : NULL;
        if (!stored)
            st = qtf__error(QTF_E_NOMEM, "%s: tensor '%s': cannot allocate %" PRIu64 " elements "
                            "to transpose it", f->name, t->name, dst_count);
    }
    if (!st) {
        st = qtf_dequantize(stored, dst_type, dst_count, &t->encoding, t->n_dims, t->stored_dims,
                            views, t->n_parts, threads);
        if (st) qtf__error_prefix("%s: tensor '%s': ", f->name, t->name);
        else if (stored != dst)
            qtf__transpose(dst, stored, t->stored_dims[0], t->stored_dims[1], es);
    }
    if (stored != dst) free(stored);
    for (uint32_t k = 0; k < QTF_MAX_PARTS; k++) free(temp[k]);
    if (!st) qtf__error_clear();
    return st;
}
