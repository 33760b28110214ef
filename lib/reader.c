/* lib/reader.c — opening a container: the fixed header, section placement,
 * the header checksum, and the three ways of getting at the bytes (mmap,
 * read into memory, or metadata and directory only via pread). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "container.h"
#include "common/content.h"

const unsigned char qtf__magic[8] = { 0x89, 'Q', 'T', 'F', 0x0D, 0x0A, 0x1A, 0x0A };

/* Checks the header fields and section placement against the real file
 * size; fills f->info. */
static qtf_status parse_header(qtf_file *f, const unsigned char *h, uint64_t file_size) {
    const char *nm = f->name;
    qtf_file_info *in = &f->info;
    if (file_size < 8 || memcmp(h, qtf__magic, 8) != 0) {
        size_t n = file_size < 8 ? (size_t)file_size : 8;
        if (memcmp(h, qtf__magic, n) == 0)
            return qtf__error(QTF_E_TRUNCATED, "%s: file is %" PRIu64 " bytes, shorter than the "
                              "%u-byte header", nm, file_size, QTF__HEADER_SIZE);
        const char *kind = qtf__content_kind(h, file_size < QTF__CONTENT_HEAD
                                                    ? (size_t)file_size : QTF__CONTENT_HEAD,
                                             file_size);
        if (kind && strcmp(kind, "text") != 0)
            return qtf__error(QTF_E_MAGIC, "%s is a %s file, not a QTF file", nm, kind);
        return qtf__error(QTF_E_MAGIC, "%s: not a QTF file (magic at offset 0 is %02X %02X %02X "
                          "%02X..., expected 89 51 54 46 0D 0A 1A 0A)", nm, h[0],
                          n > 1 ? h[1] : 0, n > 2 ? h[2] : 0, n > 3 ? h[3] : 0);
    }
    if (file_size < 12)
        return qtf__error(QTF_E_TRUNCATED, "%s: file is %" PRIu64 " bytes, shorter than the "
                          "%u-byte header", nm, file_size, QTF__HEADER_SIZE);
    in->major = qtf__ld16(h + 8);
    in->minor = qtf__ld16(h + 10);
    if (in->major != QTF_FORMAT_MAJOR) {
        if (in->major == 0x0100 && file_size >= 16 && qtf__ld32(h + 12) == 0x04030201u)
            return qtf__error(QTF_E_BYTE_ORDER, "%s: byte-order marker at offset 12 reads "
                              "0x04030201: the file was written big-endian", nm);
        return qtf__error(QTF_E_VERSION, "%s: format version %u.%u (offset 8) is not supported; "
                          "this library reads major version %d", nm, in->major, in->minor,
                          QTF_FORMAT_MAJOR);
    }
    if (file_size < QTF__HEADER_SIZE)
        return qtf__error(QTF_E_TRUNCATED, "%s: file is %" PRIu64 " bytes, shorter than the "
                          "%u-byte header", nm, file_size, QTF__HEADER_SIZE);
    uint32_t bom = qtf__ld32(h + 12);
    if (bom != QTF__BYTE_ORDER_MARK)
        return qtf__error(QTF_E_BYTE_ORDER, "%s: byte-order marker at offset 12 is 0x%08" PRIX32
                          ", expected 0x01020304", nm, bom);
    uint32_t hsize = qtf__ld32(h + 16);
    if (hsize != QTF__HEADER_SIZE)
        return qtf__error(QTF_E_HEADER, "%s: header size at offset 16 is %" PRIu32 ", expected %u",
                          nm, hsize, QTF__HEADER_SIZE);
    in->flags = qtf__ld32(h + 20);
    if (in->flags & 0xFFFFu & ~(uint32_t)QTF__FLAG_EDITING)
        return qtf__error(QTF_E_HEADER, "%s: required flags 0x%04" PRIX32 " at offset 20 are not "
                          "known to this reader", nm, in->flags & 0xFFFFu);
    /* an in-place metadata edit is under way (FORMAT.md section 13): the
     * sections may sit further on, with stale bytes before and after them */
    const int editing = (in->flags & QTF__FLAG_EDITING) != 0;
    in->alignment = qtf__ld32(h + 24);
    uint32_t a = in->alignment;
    if (a < QTF_MIN_ALIGNMENT || a > QTF_MAX_ALIGNMENT || (a & (a - 1)))
        return qtf__error(QTF_E_ALIGNMENT, "%s: alignment at offset 24 is %" PRIu32 ", expected a "
                          "power of two in %u..%u", nm, a, QTF_MIN_ALIGNMENT, QTF_MAX_ALIGNMENT);
    in->checksum_algo = qtf__ld32(h + 28);
    if (in->checksum_algo != QTF__CHECKSUM_XXH3_64)
        return qtf__error(QTF_E_CHECKSUM_ALGO, "%s: checksum algorithm %" PRIu32 " at offset 28 "
                          "is not known (1 = XXH3-64)", nm, in->checksum_algo);
    in->tensor_count = qtf__ld64(h + 32);
    in->metadata_count = qtf__ld64(h + 40);
    in->data_offset = qtf__ld64(h + 48);
    in->data_size = qtf__ld64(h + 56);
    in->metadata_offset = qtf__ld64(h + 64);
    in->metadata_size = qtf__ld64(h + 72);
    in->directory_offset = qtf__ld64(h + 80);
    in->directory_size = qtf__ld64(h + 88);
    in->header_checksum = qtf__ld_hash(h + 120);
    in->file_size = file_size;
    if (in->tensor_count > QTF_MAX_TENSORS)
        return qtf__error(QTF_E_LIMIT, "%s: tensor count %" PRIu64 " at offset 32 exceeds the "
                          "limit %u", nm, in->tensor_count, QTF_MAX_TENSORS);
    if (in->metadata_count > QTF_MAX_METADATA_COUNT)
        return qtf__error(QTF_E_LIMIT, "%s: metadata count %" PRIu64 " at offset 40 exceeds the "
                          "limit %u", nm, in->metadata_count, QTF_MAX_METADATA_COUNT);
    uint64_t want_data = (QTF__HEADER_SIZE + (uint64_t)a - 1) & ~((uint64_t)a - 1);
    if (in->data_offset != want_data)
        return qtf__error(QTF_E_HEADER, "%s: data offset at offset 48 is %" PRIu64 ", expected %"
                          PRIu64 " (header size aligned to %" PRIu32 ")", nm, in->data_offset,
                          want_data, a);
    if (in->data_size % a)
        return qtf__error(QTF_E_HEADER, "%s: data size %" PRIu64 " at offset 56 is not a "
                          "multiple of the alignment %" PRIu32, nm, in->data_size, a);
    uint64_t end;
    if (!qtf__add_u64(&end, in->data_offset, in->data_size))
        return qtf__error(QTF_E_OVERFLOW, "%s: data offset %" PRIu64 " + data size %" PRIu64
                          " overflows", nm, in->data_offset, in->data_size);
    if (editing ? in->metadata_offset < end || in->metadata_offset % a
                : in->metadata_offset != end)
        return qtf__error(QTF_E_HEADER, "%s: metadata offset at offset 64 is %" PRIu64
                          ", expected %s%" PRIu64 " (end of the data section)%s", nm,
                          in->metadata_offset, editing ? "an aligned offset >= " : "", end,
                          editing ? ", editing flag set" : "");
    if (in->metadata_size > QTF_MAX_METADATA_SIZE)
        return qtf__error(QTF_E_LIMIT, "%s: metadata size %" PRIu64 " at offset 72 exceeds the "
                          "limit %llu", nm, in->metadata_size,
                          (unsigned long long)QTF_MAX_METADATA_SIZE);
    if (!qtf__add_u64(&end, in->metadata_offset, in->metadata_size))
        return qtf__error(QTF_E_OVERFLOW, "%s: metadata offset %" PRIu64 " + size %" PRIu64
                          " overflows", nm, in->metadata_offset, in->metadata_size);
    if (in->directory_offset != end)
        return qtf__error(QTF_E_HEADER, "%s: directory offset at offset 80 is %" PRIu64
                          ", expected %" PRIu64 " (end of the metadata section)", nm,
                          in->directory_offset, end);
    if (in->directory_size > QTF_MAX_DIRECTORY_SIZE)
        return qtf__error(QTF_E_LIMIT, "%s: directory size %" PRIu64 " at offset 88 exceeds the "
                          "limit %llu", nm, in->directory_size,
                          (unsigned long long)QTF_MAX_DIRECTORY_SIZE);
    if (!qtf__add_u64(&end, in->directory_offset, in->directory_size))
        return qtf__error(QTF_E_OVERFLOW, "%s: directory offset %" PRIu64 " + size %" PRIu64
                          " overflows", nm, in->directory_offset, in->directory_size);
    if (file_size < end)
        return qtf__error(QTF_E_TRUNCATED, "%s: file is %" PRIu64 " bytes but its header declares %"
                          PRIu64 " (data %" PRIu64 " + metadata %" PRIu64 " + directory %" PRIu64
                          " bytes)", nm, file_size, end, in->data_size, in->metadata_size,
                          in->directory_size);
    if (file_size > end && !editing)
        return qtf__error(QTF_E_HEADER, "%s: file is %" PRIu64 " bytes but its header declares %"
                          PRIu64 ": %" PRIu64 " trailing bytes after the directory", nm,
                          file_size, end, file_size - end);
    return QTF_OK;
}

static qtf_status check_header_checksum(const qtf_file *f, const unsigned char *h) {
    XXH3_state_t *st = XXH3_createState();
    if (!st) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate a hash state", f->name);
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, h, QTF__HEADER_HASHED);
    XXH3_64bits_update(st, f->meta, (size_t)f->info.metadata_size);
    XXH3_64bits_update(st, f->dir, (size_t)f->info.directory_size);
    uint64_t got = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    if (got != f->info.header_checksum)
        return qtf__error(QTF_E_CHECKSUM, "%s: header checksum at offset 120 is %016" PRIx64
                          " but header, metadata and directory hash to %016" PRIx64, f->name,
                          f->info.header_checksum, got);
    return QTF_OK;
}

/* Everything after the header is validated here, once the metadata and
 * directory bytes are in memory. */
static qtf_status parse_sections(qtf_file *f, const unsigned char *h) {
    qtf_status st = check_header_checksum(f, h);
    if (st) return st;
    /* every key, name and media type costs at least its 4-byte length on
     * disk, so the section sizes bound the pool including NULs */
    uint64_t pool_size = f->info.metadata_size + f->info.directory_size + 1;
    if (pool_size > SIZE_MAX)
        return qtf__error(QTF_E_NOMEM, "%s: sections too large for this address space", f->name);
    f->pool = qtf__malloc((size_t)pool_size);
    if (!f->pool)
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " bytes for names", f->name,
                          pool_size);
    char *cursor = f->pool;
    st = qtf__parse_metadata(f, &cursor);
    if (st) return st;
    return qtf__parse_directory(f, &cursor);
}

static qtf_status new_file(qtf_file **out, const char *name, const qtf_open_options *opts) {
    qtf_file *f = qtf__calloc(1, sizeof *f);
    if (!f) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate the file object", name);
    size_t n = strlen(name);
    f->name = qtf__malloc(n + 1);
    if (!f->name) {
        free(f);
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate the file name", name);
    }
    memcpy(f->name, name, n + 1);
    f->flags = opts ? opts->flags : 0;
    f->max_decoded_size = QTF_DEFAULT_MAX_DECODED_SIZE;
    f->max_decoded_ratio = QTF_DEFAULT_MAX_DECODED_RATIO;
    if (opts && opts->version >= 2) {
        if (opts->max_decoded_size) f->max_decoded_size = opts->max_decoded_size;
        if (opts->max_decoded_ratio) f->max_decoded_ratio = opts->max_decoded_ratio;
    }
    qtf__name_index_init(&f->key_index);
    qtf__name_index_init(&f->tensor_index);
    *out = f;
    return QTF_OK;
}

static qtf_status check_opts(const qtf_open_options *opts, const char *what) {
    if (!opts) return QTF_OK;
    /* every older version is accepted: fields it lacks keep their defaults */
    if (opts->version < 1 || opts->version > QTF_OPEN_OPTIONS_VERSION)
        return qtf__error(QTF_E_INVALID_ARG, "%s: options version %u, expected 1 to %d", what,
                          opts->version, QTF_OPEN_OPTIONS_VERSION);
    if (opts->flags & ~(QTF_OPEN_METADATA_ONLY | QTF_OPEN_NO_MMAP))
        return qtf__error(QTF_E_INVALID_ARG, "%s: unknown open flags 0x%x", what, opts->flags);
    return QTF_OK;
}

/* Parses a file whose bytes are all at `buf`. */
static qtf_status open_buffer(qtf_file *f, const unsigned char *buf, uint64_t len) {
    unsigned char small[QTF__HEADER_SIZE] = { 0 };
    const unsigned char *h = buf;
    if (len < QTF__HEADER_SIZE) { /* let parse_header name what is missing */
        if (len) memcpy(small, buf, (size_t)len);
        h = small;
    }
    qtf_status st = parse_header(f, h, len);
    if (st) return st;
    f->meta = buf + f->info.metadata_offset;
    f->dir = buf + f->info.directory_offset;
    st = parse_sections(f, h);
    if (st) return st;
    if (!(f->flags & QTF_OPEN_METADATA_ONLY)) f->base = buf;
    return QTF_OK;
}

static qtf_status open_metadata_only(qtf_file *f, int fd, uint64_t size) {
    unsigned char h[QTF__HEADER_SIZE] = { 0 };
    uint64_t hl = size < QTF__HEADER_SIZE ? size : QTF__HEADER_SIZE;
    qtf_status st = qtf__pread_all(fd, h, hl, 0, f->name);
    if (st) return st;
    st = parse_header(f, h, size);
    if (st) return st;
    /* metadata and directory are contiguous up to the end of the file, and
     * parse_header matched their declared sizes against the real size */
    uint64_t tail = f->info.metadata_size + f->info.directory_size;
    if (tail > SIZE_MAX)
        return qtf__error(QTF_E_NOMEM, "%s: sections too large for this address space", f->name);
    f->owned = qtf__malloc((size_t)tail);
    if (!f->owned)
        return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " bytes for metadata and "
                          "directory", f->name, tail);
    st = qtf__pread_all(fd, f->owned, tail, f->info.metadata_offset, f->name);
    if (st) return st;
    f->meta = f->owned;
    f->dir = f->owned + f->info.metadata_size;
    return parse_sections(f, h);
}

/* fd: a regular file of `size` bytes (qtf__parse_path). */
static qtf_status open_fd(void *ctx, int fd, uint64_t size) {
    qtf_file *f = ctx;
    if (f->flags & QTF_OPEN_METADATA_ONLY) return open_metadata_only(f, fd, size);
    if (size < QTF__HEADER_SIZE || (f->flags & QTF_OPEN_NO_MMAP)) {
        /* even with mmap, a file this small is read: mmap of 0 bytes fails */
        f->owned = qtf__malloc(size ? (size_t)size : 1);
        if (!f->owned)
            return qtf__error(QTF_E_NOMEM, "%s: cannot allocate %" PRIu64 " bytes to read the file",
                              f->name, size);
        qtf_status st = qtf__pread_all(fd, f->owned, size, 0, f->name);
        if (st) return st;
        return open_buffer(f, f->owned, size);
    }
    qtf_status st = qtf__map_readonly(&f->map, fd, size, f->name);
    if (st) return st;
    f->map_len = (size_t)size;
    return open_buffer(f, f->map, size);
}

qtf_status qtf_file_open(qtf_file **out, const char *path, const qtf_open_options *opts) {
    if (!out || !path) return qtf__error(QTF_E_INVALID_ARG, "qtf_file_open: NULL argument");
    *out = NULL;
    qtf_status st = check_opts(opts, path);
    if (st) return st;
    qtf_file *f;
    st = new_file(&f, path, opts);
    if (st) return st;
    st = qtf__parse_path(path, open_fd, f);
    if (st) {
        qtf_file_close(f);
        return st;
    }
    *out = f;
    qtf__error_clear();
    return QTF_OK;
}

qtf_status qtf_file_open_memory(qtf_file **out, const void *buf, size_t len, const char *name,
                                const qtf_open_options *opts) {
    if (!out || (!buf && len))
        return qtf__error(QTF_E_INVALID_ARG, "qtf_file_open_memory: NULL argument");
    *out = NULL;
    if (!name) name = "<memory>";
    qtf_status st = check_opts(opts, name);
    if (st) return st;
    qtf_file *f;
    st = new_file(&f, name, opts);
    if (st) return st;
    static const unsigned char empty[1];
    st = open_buffer(f, buf ? buf : empty, len);
    if (st) {
        qtf_file_close(f);
        return st;
    }
    *out = f;
    qtf__error_clear();
    return QTF_OK;
}

void qtf_file_close(qtf_file *f) {
    if (!f) return;
    if (f->entries) {
        for (uint64_t i = 0; i < f->info.metadata_count; i++) free(f->entries[i].str_offsets);
        free(f->entries);
    }
    free(f->tensors);
    qtf__name_index_free(&f->key_index);
    qtf__name_index_free(&f->tensor_index);
    free(f->pool);
    free(f->owned);
    if (f->map) munmap(f->map, f->map_len);
    free(f->name);
    free(f);
}

const qtf_file_info *qtf_file_get_info(const qtf_file *f) { return f ? &f->info : NULL; }

const char *qtf_file_name(const qtf_file *f) { return f ? f->name : NULL; }
