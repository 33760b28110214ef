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

qtf_status qtf__open_regular(int *out_fd, uint64_t *out_size, const char *path) {
    *out_fd = -1;
    *out_size = 0;
    /* O_NONBLOCK: a FIFO must reach the regular-file check below instead of
     * blocking here; it does not affect reads of regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return qtf__error(QTF_E_IO, "%s: cannot open: %s", path, strerror(errno));
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
