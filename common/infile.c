/* Opening an input file by path: the one place the container reader and the
 * GGUF reader open what they then map or read. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <inttypes.h>

#include "common.h"

static qtf_status open_regular(int *out_fd, uint64_t *out_size, const char *path,
                               qtf_status if_missing) {
    *out_fd = -1;
    *out_size = 0;
    /* O_NONBLOCK: a FIFO must reach the regular-file check below instead of
     * blocking here; it does not affect reads of regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return qtf__error(errno == ENOENT ? if_missing : QTF_E_IO, "%s: cannot open: %s", path,
                          strerror(errno));
    struct stat sb;
    qtf_status st = QTF_OK;
    if (fstat(fd, &sb) != 0)
        st = qtf__error(QTF_E_IO, "%s: fstat failed: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = qtf__error(QTF_E_IO, "%s: not a regular file", path);
    if (st) {
        close(fd);
        return st;
    }
    *out_fd = fd;
    *out_size = (uint64_t)sb.st_size;
    return QTF_OK;
}

qtf_status qtf__open_regular(int *out_fd, uint64_t *out_size, const char *path) {
    return open_regular(out_fd, out_size, path, QTF_E_IO);
}

qtf_status qtf__open_regular_optional(int *out_fd, uint64_t *out_size, const char *path) {
    return open_regular(out_fd, out_size, path, QTF_E_NOT_FOUND);
}

qtf_status qtf__parse_path(const char *path, qtf_status (*parse)(void *ctx, int fd, uint64_t size),
                           void *ctx) {
    int fd;
    uint64_t size;
    qtf_status st = qtf__open_regular(&fd, &size, path);
    if (st) return st;
    st = parse(ctx, fd, size);
    close(fd);
    return st;
}

qtf_status qtf__map_readonly(void **out_map, int fd, uint64_t size, const char *name) {
    *out_map = NULL;
    if (size > SIZE_MAX)
        return qtf__error(QTF_E_NOMEM, "%s: %" PRIu64 " bytes do not fit this address space",
                          name, size);
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return qtf__error(QTF_E_IO, "%s: mmap of %" PRIu64 " bytes failed: %s", name, size,
                          strerror(errno));
    *out_map = m;
    return QTF_OK;
}

qtf_status qtf__pread_all(int fd, void *buf, uint64_t len, uint64_t off, const char *name) {
    uint64_t end;
    if (!qtf__add_u64(&end, off, len) || end > (uint64_t)INT64_MAX)
        return qtf__error(QTF_E_OVERFLOW, "%s: read of %" PRIu64 " bytes at offset %" PRIu64
                          " is beyond any file", name, len, off);
    uint64_t at;
    int e = qtf__pread_errno(fd, buf, len, off, &at);
    if (e > 0)
        return qtf__error(QTF_E_IO, "%s: read of %" PRIu64 " bytes at offset %" PRIu64
                          " failed: %s", name, len - (at - off), at, strerror(e));
    if (e < 0)
        return qtf__error(QTF_E_TRUNCATED, "%s: file ended at offset %" PRIu64
                          " while reading (it shrank while open?)", name, at);
    return QTF_OK;
}

/* pread and pwrite move at most about 2 GiB per call: 1 GiB chunks. */
int qtf__pread_errno(int fd, void *buf, uint64_t len, uint64_t off, uint64_t *at) {
    unsigned char *p = buf;
    int e = 0;
    while (len) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t r = pread(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            e = r < 0 ? errno : -1;
            break;
        }
        p += r;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    if (at) *at = off;
    return e;
}

int qtf__pwrite_errno(int fd, const void *buf, uint64_t len, uint64_t off) {
    const unsigned char *p = buf;
    while (len) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t r = pwrite(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r < 0 ? errno : EIO;
        p += r;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    return 0;
}
