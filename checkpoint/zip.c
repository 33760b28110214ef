/* checkpoint/zip.c — minimal reader of the zip archives written by torch.save:
 * central directory (ZIP64 aware) plus each entry's local header, enough to
 * know where every STORED entry's bytes lie. Nothing is decompressed; an
 * entry that is compressed, encrypted, overlapping another or lying outside
 * the archive is refused. */
#include <stdlib.h>
#include <string.h>

#include "source_internal.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOCATOR64 0x07064b50u
#define EOCD_SIZE 22u
#define LOCATOR64_SIZE 20u
#define EOCD64_SIZE 56u
#define CENTRAL_SIZE 46u
#define LOCAL_SIZE 30u
#define MAX_COMMENT 65535u
#define MAX_CD_SIZE (256u << 20)

typedef struct zsrc {
    int fd;
    const unsigned char *mem;
    uint64_t size;
    const char *path;
} zsrc;

static qtf_status zread(const zsrc *z, void *buf, size_t len, uint64_t off) {
    uint64_t end;
    if (!qtf__add_u64(&end, off, len) || end > z->size)
        return qtf__error(QTF_E_TRUNCATED, "%s: zip structure at offset %llu (%zu bytes) runs "
                          "past the end of the file (%llu bytes)", z->path,
                          (unsigned long long)off, len, (unsigned long long)z->size);
    if (z->mem) {
        memcpy(buf, z->mem + off, len);
        return QTF_OK;
    }
    return qtf__pread_all(z->fd, buf, len, off, z->path);
}

void qtf__zip_free(qtf__zip *z) {
    if (!z) return;
    for (uint64_t i = 0; i < z->n; i++) free(z->entries[i].name);
    free(z->entries);
    memset(z, 0, sizeof *z);
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const qtf__zip_entry *)a)->name, ((const qtf__zip_entry *)b)->name);
}

const qtf__zip_entry *qtf__zip_find(const qtf__zip *z, const char *name) {
    qtf__zip_entry key = {(char *)name, 0, 0};
    return bsearch(&key, z->entries, z->n, sizeof key, cmp_entry_name);
}

typedef struct eocd {
    uint64_t count, cd_size, cd_offset, eocd_pos;
} eocd;

static qtf_status find_eocd(eocd *e, const zsrc *z) {
    if (z->size < EOCD_SIZE)
        return qtf__error(QTF_E_TRUNCATED, "%s: %llu bytes, too short for a zip archive", z->path,
                          (unsigned long long)z->size);
    uint64_t span = z->size < EOCD_SIZE + MAX_COMMENT ? z->size : EOCD_SIZE + MAX_COMMENT;
    unsigned char *tail = malloc((size_t)span);
    if (!tail) return qtf__error(QTF_E_NOMEM, "%s: out of memory", z->path);
    qtf_status st = zread(z, tail, (size_t)span, z->size - span);
    if (st) {
        free(tail);
        return st;
    }
    /* The record whose comment reaches exactly the end of the file. */
    int64_t found = -1;
    for (int64_t i = (int64_t)(span - EOCD_SIZE); i >= 0; i--) {
        const unsigned char *p = tail + i;
        if (qtf__ld32(p) == SIG_EOCD && (uint64_t)i + EOCD_SIZE + qtf__ld16(p + 20) == span) {
            found = i;
            break;
        }
    }
    if (found < 0) {
        free(tail);
        return qtf__error(QTF_E_MAGIC, "%s: no zip end-of-central-directory record found in the "
                          "last %llu bytes", z->path, (unsigned long long)span);
    }
    const unsigned char *p = tail + found;
    e->eocd_pos = z->size - span + (uint64_t)found;
    uint16_t disk = qtf__ld16(p + 4), cd_disk = qtf__ld16(p + 6);
    uint64_t on_disk = qtf__ld16(p + 8);
    e->count = qtf__ld16(p + 10);
    e->cd_size = qtf__ld32(p + 12);
    e->cd_offset = qtf__ld32(p + 16);
    free(tail);
    int need64 = e->count == 0xFFFF || on_disk == 0xFFFF || e->cd_size == 0xFFFFFFFFu ||
                 e->cd_offset == 0xFFFFFFFFu;
    unsigned char loc[LOCATOR64_SIZE];
    int has_locator = 0;
    if (e->eocd_pos >= LOCATOR64_SIZE) {
        st = zread(z, loc, sizeof loc, e->eocd_pos - LOCATOR64_SIZE);
        if (st) return st;
        has_locator = qtf__ld32(loc) == SIG_LOCATOR64;
    }
    if (need64 && !has_locator)
        return qtf__error(QTF_E_HEADER, "%s: zip end record at offset %llu needs ZIP64 values "
                          "but has no ZIP64 locator", z->path, (unsigned long long)e->eocd_pos);
    if (has_locator) {
        uint64_t off64 = qtf__ld64(loc + 8);
        if (qtf__ld32(loc + 4) != 0 || qtf__ld32(loc + 16) > 1)
            return qtf__error(QTF_E_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                              z->path);
        unsigned char r[EOCD64_SIZE];
        uint64_t end64;
        if (!qtf__add_u64(&end64, off64, EOCD64_SIZE) || end64 > e->eocd_pos - LOCATOR64_SIZE)
            return qtf__error(QTF_E_OFFSET, "%s: ZIP64 end record offset %llu is out of range",
                              z->path, (unsigned long long)off64);
        st = zread(z, r, sizeof r, off64);
        if (st) return st;
        if (qtf__ld32(r) != SIG_EOCD64)
            return qtf__error(QTF_E_MAGIC, "%s: no ZIP64 end record at offset %llu", z->path,
                              (unsigned long long)off64);
        disk = qtf__ld32(r + 16) != 0;
        cd_disk = qtf__ld32(r + 20) != 0;
        on_disk = qtf__ld64(r + 24);
        e->count = qtf__ld64(r + 32);
        e->cd_size = qtf__ld64(r + 40);
        e->cd_offset = qtf__ld64(r + 48);
        e->eocd_pos = off64;
    }
    if (disk != 0 || cd_disk != 0 || on_disk != e->count)
        return qtf__error(QTF_E_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                          z->path);
    uint64_t cd_end;
    if (!qtf__add_u64(&cd_end, e->cd_offset, e->cd_size) || cd_end > e->eocd_pos)
        return qtf__error(QTF_E_OFFSET, "%s: central directory [%llu, +%llu) overruns the end "
                          "record at %llu", z->path, (unsigned long long)e->cd_offset,
                          (unsigned long long)e->cd_size, (unsigned long long)e->eocd_pos);
    if (e->cd_size > MAX_CD_SIZE)
        return qtf__error(QTF_E_LIMIT, "%s: central directory of %llu bytes (limit %u)", z->path,
                          (unsigned long long)e->cd_size, MAX_CD_SIZE);
    if (e->count > e->cd_size / CENTRAL_SIZE)
        return qtf__error(QTF_E_LIMIT, "%s: %llu entries cannot fit in a %llu-byte central "
                          "directory", z->path, (unsigned long long)e->count,
                          (unsigned long long)e->cd_size);
    return QTF_OK;
}

/* Applies the ZIP64 extended-information extra field to the values that the
 * fixed record marks as 0xFFFFFFFF. */
static qtf_status apply_zip64(const zsrc *z, const char *name, const unsigned char *extra,
                              size_t len, uint64_t *usize, uint64_t *csize, uint64_t *offset,
                              uint64_t at) {
    size_t i = 0;
    while (i + 4 <= len) {
        uint16_t id = qtf__ld16(extra + i), sz = qtf__ld16(extra + i + 2);
        if (sz > len - i - 4) break;
        if (id == 0x0001) {
            const unsigned char *p = extra + i + 4;
            size_t k = 0;
            uint64_t *fields[3] = {usize, csize, offset};
            for (int f = 0; f < 3; f++) {
                if (!fields[f] || *fields[f] != 0xFFFFFFFFu) continue;
                if (k + 8 > sz)
                    return qtf__error(QTF_E_HEADER, "%s: zip entry '%s' at offset %llu: ZIP64 "
                                      "field too short", z->path, name, (unsigned long long)at);
                *fields[f] = qtf__ld64(p + k);
                k += 8;
            }
            return QTF_OK;
        }
        i += 4 + (size_t)sz;
    }
    if ((usize && *usize == 0xFFFFFFFFu) || (csize && *csize == 0xFFFFFFFFu) ||
        (offset && *offset == 0xFFFFFFFFu))
        return qtf__error(QTF_E_HEADER, "%s: zip entry '%s' at offset %llu: ZIP64 values "
                          "missing", z->path, name, (unsigned long long)at);
    return QTF_OK;
}

typedef struct pending {
    uint64_t local_offset;
    uint64_t index;
} pending;

static int cmp_pending(const void *a, const void *b) {
    const pending *x = a, *y = b;
    return x->local_offset < y->local_offset ? -1 : x->local_offset > y->local_offset;
}

static qtf_status zip_open(qtf__zip *out, const zsrc *z) {
    memset(out, 0, sizeof *out);
    eocd e = {0, 0, 0, 0};
    qtf_status st = find_eocd(&e, z);
    if (st) return st;
    unsigned char *cd = malloc(e.cd_size ? (size_t)e.cd_size : 1);
    pending *order = malloc((e.count ? e.count : 1) * sizeof *order);
    out->entries = calloc(e.count ? e.count : 1, sizeof *out->entries);
    if (!cd || !order || !out->entries) {
        st = qtf__error(QTF_E_NOMEM, "%s: out of memory for %llu zip entries", z->path,
                        (unsigned long long)e.count);
        goto done;
    }
    st = zread(z, cd, (size_t)e.cd_size, e.cd_offset);
    if (st) goto done;
    uint64_t pos = 0;
    char esc[QTF__ESC_CAP];
    for (uint64_t i = 0; i < e.count; i++) {
        uint64_t at = e.cd_offset + pos;
        if (e.cd_size - pos < CENTRAL_SIZE || qtf__ld32(cd + pos) != SIG_CENTRAL) {
            st = qtf__error(QTF_E_HEADER, "%s: central directory entry %llu at offset %llu: bad "
                            "signature or truncated", z->path, (unsigned long long)i,
                            (unsigned long long)at);
            goto done;
        }
        const unsigned char *p = cd + pos;
        uint16_t flags = qtf__ld16(p + 8), method = qtf__ld16(p + 10);
        uint64_t csize = qtf__ld32(p + 20), usize = qtf__ld32(p + 24);
        size_t nlen = qtf__ld16(p + 28), xlen = qtf__ld16(p + 30), clen = qtf__ld16(p + 32);
        uint64_t loff = qtf__ld32(p + 42);
        if (e.cd_size - pos - CENTRAL_SIZE < (uint64_t)nlen + xlen + clen) {
            st = qtf__error(QTF_E_TRUNCATED, "%s: central directory entry %llu at offset %llu "
                            "runs past the directory", z->path, (unsigned long long)i,
                            (unsigned long long)at);
            goto done;
        }
        const char *nm = (const char *)p + CENTRAL_SIZE;
        const char *en = qtf__escape(esc, sizeof esc, nm, nlen);
        if (nlen == 0 || memchr(nm, 0, nlen)) {
            st = qtf__error(QTF_E_UTF8, "%s: zip entry %llu at offset %llu has an empty name or "
                            "one containing NUL", z->path, (unsigned long long)i,
                            (unsigned long long)at);
            goto done;
        }
        if (flags & 0x41u) {
            st = qtf__error(QTF_E_UNSUPPORTED, "%s: zip entry '%s' is encrypted", z->path, en);
            goto done;
        }
        st = apply_zip64(z, en, p + CENTRAL_SIZE + nlen, xlen, &usize, &csize, &loff, at);
        if (st) goto done;
        if (method != 0) {
            st = qtf__error(QTF_E_UNSUPPORTED, "%s: zip entry '%s' is compressed (method %u); "
                            "only stored entries, as torch.save writes them, are supported",
                            z->path, en, (unsigned)method);
            goto done;
        }
        if (csize != usize) {
            st = qtf__error(QTF_E_HEADER, "%s: stored zip entry '%s': compressed size %llu != "
                            "size %llu", z->path, en, (unsigned long long)csize,
                            (unsigned long long)usize);
            goto done;
        }
        qtf__zip_entry *ze = &out->entries[i];
        ze->name = malloc(nlen + 1);
        if (!ze->name) {
            st = qtf__error(QTF_E_NOMEM, "%s: out of memory", z->path);
            goto done;
        }
        memcpy(ze->name, nm, nlen);
        ze->name[nlen] = '\0';
        ze->size = usize;
        out->n = i + 1;
        order[i].local_offset = loff;
        order[i].index = i;
        pos += CENTRAL_SIZE + nlen + xlen + clen;
    }
    /* Local headers: where the bytes start; entries must not overlap. */
    qsort(order, e.count, sizeof *order, cmp_pending);
    uint64_t prev_end = 0;
    const char *prev_name = NULL;
    for (uint64_t k = 0; k < e.count; k++) {
        qtf__zip_entry *ze = &out->entries[order[k].index];
        uint64_t loff = order[k].local_offset;
        const char *en = qtf__escape(esc, sizeof esc, ze->name, strlen(ze->name));
        if (loff < prev_end) {
            char pesc[QTF__ESC_CAP];
            st = qtf__error(QTF_E_OFFSET, "%s: zip entry '%s' at offset %llu overlaps entry '%s' "
                            "(which ends at %llu)", z->path, en, (unsigned long long)loff,
                            qtf__escape(pesc, sizeof pesc, prev_name, strlen(prev_name)),
                            (unsigned long long)prev_end);
            goto done;
        }
        unsigned char lh[LOCAL_SIZE];
        st = zread(z, lh, sizeof lh, loff);
        if (st) goto done;
        size_t nlen = qtf__ld16(lh + 26), xlen = qtf__ld16(lh + 28);
        if (qtf__ld32(lh) != SIG_LOCAL || nlen != strlen(ze->name)) {
            st = qtf__error(QTF_E_HEADER, "%s: zip entry '%s': no matching local header at "
                            "offset %llu", z->path, en, (unsigned long long)loff);
            goto done;
        }
        char *lname = malloc(nlen ? nlen : 1);
        if (!lname) {
            st = qtf__error(QTF_E_NOMEM, "%s: out of memory", z->path);
            goto done;
        }
        st = zread(z, lname, nlen, loff + LOCAL_SIZE);
        int same = !st && memcmp(lname, ze->name, nlen) == 0;
        free(lname);
        if (st) goto done;
        if (!same || qtf__ld16(lh + 8) != 0) {
            st = qtf__error(QTF_E_HEADER, "%s: zip entry '%s': local header at offset %llu "
                            "disagrees with the central directory (name or method)", z->path,
                            en, (unsigned long long)loff);
            goto done;
        }
        uint64_t data = loff + LOCAL_SIZE + nlen + xlen, end;
        if (!qtf__add_u64(&end, data, ze->size) || end > e.cd_offset) {
            st = qtf__error(QTF_E_OFFSET, "%s: zip entry '%s': data [%llu, +%llu) runs past the "
                            "central directory at %llu", z->path, en, (unsigned long long)data,
                            (unsigned long long)ze->size, (unsigned long long)e.cd_offset);
            goto done;
        }
        ze->data_offset = data;
        prev_end = end;
        prev_name = ze->name;
    }
    qsort(out->entries, out->n, sizeof *out->entries, cmp_entry_name);
    for (uint64_t i = 1; i < out->n; i++) {
        if (strcmp(out->entries[i].name, out->entries[i - 1].name) == 0) {
            st = qtf__error(QTF_E_DUPLICATE, "%s: zip entry '%s' appears twice", z->path,
                            qtf__escape(esc, sizeof esc, out->entries[i].name,
                                        strlen(out->entries[i].name)));
            goto done;
        }
    }
done:
    free(cd);
    free(order);
    if (st) qtf__zip_free(out);
    return st;
}

qtf_status qtf__zip_open(qtf__zip *out, int fd, uint64_t file_size, const char *path) {
    zsrc z = {fd, NULL, file_size, path};
    return zip_open(out, &z);
}

qtf_status qtf__zip_open_memory(qtf__zip *out, const void *buf, size_t len, const char *path) {
    zsrc z = {-1, buf, len, path};
    return zip_open(out, &z);
}
