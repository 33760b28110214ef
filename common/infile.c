/* Opening an input file by path: the one place the container reader and the
 * GGUF reader open what they then map or read. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
