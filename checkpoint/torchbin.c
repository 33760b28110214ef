/* checkpoint/torchbin.c — pytorch_model.bin (the zip format of torch.save since
 * 1.6): <archive>/data.pkl describes the state dict, <archive>/data/<key>
 * holds each storage's raw little-endian bytes. Tensors become (file offset,
 * byte size) pairs after checking that each is a C-contiguous view that lies
 * inside its storage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_internal.h"

/* Finds "<archive>/data.pkl"; *prefix_len = strlen("<archive>/"). */
static qtf_status find_pickle(const qtf__zip_entry **out, size_t *prefix_len, const qtf__zip *z,
                              const char *path) {
    *out = NULL;
    for (uint64_t i = 0; i < z->n; i++) {
        const char *nm = z->entries[i].name;
        const char *slash = strchr(nm, '/');
        if (!slash || slash == nm || strcmp(slash + 1, "data.pkl") != 0) continue;
        if (*out)
            return qtf__error(QTF_E_DUPLICATE, "%s: two pickles (%s and %s) in one archive",
                              path, (*out)->name, nm);
        *out = &z->entries[i];
        *prefix_len = (size_t)(slash - nm) + 1;
    }
    if (!*out)
        return qtf__error(QTF_E_NOT_FOUND, "%s: zip archive without an <archive>/data.pkl entry "
                          "(not a torch.save checkpoint)", path);
    return QTF_OK;
}

static const qtf__zip_entry *find_member(const qtf__zip *z, const char *prefix, size_t plen,
                                         const char *member) {
    size_t ml = strlen(member);
    char *name = malloc(plen + ml + 1);
    if (!name) return NULL;
    memcpy(name, prefix, plen);
    memcpy(name + plen, member, ml + 1);
    const qtf__zip_entry *e = qtf__zip_find(z, name);
    free(name);
    return e;
}

static int is_contiguous(const qtf__pkl_tensor *t) {
    uint64_t expected = 1;
    for (uint32_t d = t->n_dims; d-- > 0;) {
        if (t->dims[d] == 0) return 1; /* empty: any strides */
    }
    for (uint32_t d = t->n_dims; d-- > 0;) {
        if (t->dims[d] == 1) continue; /* the stride of a size-1 dim is never used */
        if (t->strides[d] != expected) return 0;
        expected *= t->dims[d];        /* bounded: checked against numel before */
    }
    return 1;
}

static qtf_status add_tensor(qtf_source *s, uint32_t fi, const qtf__zip *z, const char *prefix,
                             size_t plen, qtf__pkl_tensor *t) {
    const char *path = s->files[fi].path;
    char esc[QTF__ESC_CAP];
    const char *en = qtf__escape(esc, sizeof esc, t->name, strlen(t->name));
    size_t es = qtf_dtype_size(t->dtype);
    char member[300];
    snprintf(member, sizeof member, "data/%s", t->storage_key);
    const qtf__zip_entry *e = find_member(z, prefix, plen, member);
    if (!e)
        return qtf__error(QTF_E_NOT_FOUND, "%s: tensor '%s': storage '%.*s%s' is not in the "
                          "archive", path, en, (int)plen, prefix, member);
    uint64_t storage_bytes, n = 1, end, byte_off;
    if (!qtf__mul_u64(&storage_bytes, t->storage_numel, es) || storage_bytes != e->size)
        return qtf__error(QTF_E_SHAPE, "%s: tensor '%s': storage %s holds %llu bytes, expected "
                          "%llu elements of %s", path, en, t->storage_key,
                          (unsigned long long)e->size, (unsigned long long)t->storage_numel,
                          qtf_dtype_name(t->dtype));
    for (uint32_t d = 0; d < t->n_dims; d++)
        if (!qtf__mul_u64(&n, n, t->dims[d]))
            return qtf__error(QTF_E_OVERFLOW, "%s: tensor '%s': element count overflows", path,
                              en);
    if (!qtf__add_u64(&end, t->storage_offset, n) || end > t->storage_numel ||
        t->storage_offset > t->storage_numel)
        return qtf__error(QTF_E_OFFSET, "%s: tensor '%s': elements [%llu, +%llu) lie outside "
                          "storage %s of %llu elements", path, en,
                          (unsigned long long)t->storage_offset, (unsigned long long)n,
                          t->storage_key, (unsigned long long)t->storage_numel);
    if (!is_contiguous(t)) {
        char shape[160] = "", stride[160] = "";
        size_t a = 0, b = 0;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            a += (size_t)snprintf(shape + a, sizeof shape - a, d ? ",%llu" : "%llu",
                                  (unsigned long long)t->dims[d]);
            b += (size_t)snprintf(stride + b, sizeof stride - b, d ? ",%llu" : "%llu",
                                  (unsigned long long)t->strides[d]);
        }
        return qtf__error(QTF_E_SHAPE, "%s: tensor '%s': strides (%s) for shape (%s) are not "
                          "C-contiguous; save the state dict with .contiguous() tensors", path,
                          en, stride, shape);
    }
    byte_off = e->data_offset + t->storage_offset * es; /* inside the entry: no overflow */
    char *name = t->name;
    t->name = NULL;
    return qtf__source_add_tensor(s, name, t->dtype, t->n_dims, t->dims, fi, byte_off);
}

qtf_status qtf__torch_load_file(qtf_source *s, uint32_t fi) {
    const qtf__src_file *f = &s->files[fi];
    qtf__zip z;
    qtf_status st = qtf__zip_open(&z, f->fd, f->size, f->path);
    if (st) return st;
    const qtf__zip_entry *pk = NULL;
    size_t plen = 0;
    char *pkl = NULL;
    qtf__pkl_state_dict sd;
    memset(&sd, 0, sizeof sd);
    st = find_pickle(&pk, &plen, &z, f->path);
    if (st) goto done;
    const char *prefix = pk->name;
    const qtf__zip_entry *bo = find_member(&z, prefix, plen, "byteorder");
    if (bo) {
        char order[16] = {0};
        if (bo->size >= sizeof order) {
            st = qtf__error(QTF_E_BYTE_ORDER, "%s: byteorder entry of %llu bytes, expected "
                            "\"little\"", f->path, (unsigned long long)bo->size);
            goto done;
        }
        st = qtf__pread_all(f->fd, order, (size_t)bo->size, bo->data_offset, f->path);
        if (st) goto done;
        if (strcmp(order, "little") != 0) {
            char esc[QTF__ESC_CAP];
            st = qtf__error(QTF_E_BYTE_ORDER, "%s: byteorder is '%s', only \"little\" is "
                            "supported", f->path, qtf__escape(esc, sizeof esc, order,
                                                              strlen(order)));
            goto done;
        }
    }
    if (pk->size > QTF__PICKLE_MAX_SIZE) {
        st = qtf__error(QTF_E_LIMIT, "%s: data.pkl is %llu bytes (limit %u)", f->path,
                        (unsigned long long)pk->size, QTF__PICKLE_MAX_SIZE);
        goto done;
    }
    pkl = malloc(pk->size ? (size_t)pk->size : 1);
    if (!pkl) {
        st = qtf__error(QTF_E_NOMEM, "%s: out of memory for data.pkl", f->path);
        goto done;
    }
    st = qtf__pread_all(f->fd, pkl, (size_t)pk->size, pk->data_offset, f->path);
    if (st) goto done;
    {
        size_t ll = strlen(f->path) + plen + 16;
        char *label = malloc(ll);
        if (!label) {
            st = qtf__error(QTF_E_NOMEM, "out of memory");
            goto done;
        }
        snprintf(label, ll, "%s: %.*sdata.pkl", f->path, (int)plen, prefix);
        st = qtf__pickle_load_state_dict(&sd, pkl, (size_t)pk->size, label);
        free(label);
    }
    for (uint64_t i = 0; i < sd.n && !st; i++) st = add_tensor(s, fi, &z, prefix, plen,
                                                               &sd.tensors[i]);
done:
    free(pkl);
    qtf__pkl_state_dict_free(&sd);
    qtf__zip_free(&z);
    return st;
}
