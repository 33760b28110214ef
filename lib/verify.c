/* lib/verify.c — integrity checks of tensor data: XXH3-64 of every part's
 * stored bytes, zstd frame headers, and zero padding. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "container.h"

/* `tensor` names the tensor whose part the padding follows, NULL for the
 * padding between the header and the data section. */
static qtf_status check_zero(const qtf_file *f, const char *tensor, uint32_t part, uint64_t from,
                             uint64_t to) {
    const unsigned char *p = f->base;
    for (uint64_t o = from; o < to; o++) {
        if (!p[o]) continue;
        if (tensor)
            return qtf__error(QTF_E_OFFSET, "%s: padding after tensor '%s' part %" PRIu32
                              ": byte at offset %" PRIu64 " is 0x%02X, expected zero", f->name,
                              tensor, part, o, p[o]);
        return qtf__error(QTF_E_OFFSET, "%s: padding after the header: byte at offset %" PRIu64
                          " is 0x%02X, expected zero", f->name, o, p[o]);
    }
    return QTF_OK;
}

static qtf_status verify_tensor(const qtf_file *f, uint64_t i, int check_padding) {
    const qtf_tensor_info *t = &f->tensors[i];
    for (uint32_t k = 0; k < t->n_parts; k++) {
        const qtf_part_info *p = &t->parts[k];
        const unsigned char *src = NULL;
        qtf_status st = qtf__part_bytes(&src, f, i, k);
        if (st) return st;
        uint64_t h = XXH3_64bits(src, (size_t)p->stored_size);
        if (h != p->checksum)
            return qtf__error(QTF_E_CHECKSUM, "%s: tensor '%s' part %" PRIu32 " (%s, %" PRIu64
                              " bytes at offset %" PRIu64 "): checksum %016" PRIx64
                              " recorded, bytes hash to %016" PRIx64, f->name, t->name, k,
                              qtf_part_role_name(p->role), p->stored_size, p->offset,
                              p->checksum, h);
        if (p->compression == QTF_COMPRESSION_ZSTD) {
            st = qtf__zstd_check_frame(f, t, k, src);
            if (st) return st;
        }
        if (check_padding) {
            uint64_t end = p->offset + p->stored_size, padded = 0;
            /* placement was validated at open: the aligned end is in bounds */
            qtf__align_up_u64(&padded, end - f->info.data_offset, f->info.alignment);
            st = check_zero(f, t->name, k, end, f->info.data_offset + padded);
            if (st) return st;
        }
    }
    return QTF_OK;
}

qtf_status qtf_tensor_verify(const qtf_file *f, uint64_t tensor) {
    if (!f) return qtf__error(QTF_E_INVALID_ARG, "qtf_tensor_verify: NULL file");
    if (tensor >= f->info.tensor_count)
        return qtf__error(QTF_E_INVALID_ARG, "%s: tensor index %" PRIu64 " out of range (%" PRIu64
                          " tensors)", f->name, tensor, f->info.tensor_count);
    qtf_status st = verify_tensor(f, tensor, 0);
    if (!st) qtf__error_clear();
    return st;
}

typedef struct verify_ctx {
    const qtf_file *f;
    qtf_status *results;
    atomic_uint_fast64_t next;
} verify_ctx;

/* Tensors differ wildly in size, so workers pull the next tensor instead of
 * taking fixed ranges; each result depends only on its tensor, so the
 * outcome is the same for any thread count or schedule. */
static qtf_status verify_worker(void *arg, uint64_t begin, uint64_t end) {
    verify_ctx *c = arg;
    (void)begin;
    (void)end;
    for (;;) {
        uint64_t i = atomic_fetch_add(&c->next, 1);
        if (i >= c->f->info.tensor_count) break;
        c->results[i] = verify_tensor(c->f, i, 1);
    }
    return QTF_OK;
}

qtf_status qtf_file_verify(const qtf_file *f, unsigned threads, qtf_status *results) {
    if (!f) return qtf__error(QTF_E_INVALID_ARG, "qtf_file_verify: NULL file");
    if (!f->base)
        return qtf__error(QTF_E_STATE, "%s: data is not available on a metadata-only open",
                          f->name);
    uint64_t n = f->info.tensor_count;
    qtf_status *res = results;
    if (!res && n) {
        res = qtf__malloc((size_t)n * sizeof *res);
        if (!res) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " results",
                                    f->name, n);
    }
    if (threads == 0) threads = qtf_default_threads();
    uint64_t workers = threads < n ? threads : n;
    verify_ctx ctx = { f, res, 0 };
    qtf_status st = qtf__parallel_for(workers, 1, (unsigned)workers, verify_worker, &ctx);
    uint64_t failed = 0, first = n;
    for (uint64_t i = 0; i < n && !st; i++) {
        if (res[i] == QTF_OK) continue;
        if (!failed++) first = i;
    }
    if (!st && failed) {
        /* the detail was set on whichever thread saw it: recompute it here */
        st = verify_tensor(f, first, 1);
        if (st == QTF_OK) st = res[first];
        qtf__error_prefix("%" PRIu64 " of %" PRIu64 " tensors failed; first: ", failed, n);
    }
    if (!st) st = check_zero(f, NULL, 0, QTF__HEADER_SIZE, f->info.data_offset);
    if (res != results) free(res);
    if (!st) qtf__error_clear();
    return st;
}
