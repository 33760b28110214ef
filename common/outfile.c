/* common/outfile.c — temp file in the destination directory, fsync,
 * link/rename, fsync of the directory; the rules are in outfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "outfile.h"

/* Tests force the named fallback, which tmpfs and ext4 would never take. */
static int force_named_temp;
void qtf__test_force_named_temp(int on) { force_named_temp = on; }

int qtf__file_id_of(qtf__file_id *out, const char *path) {
    struct stat sb;
    if (!path || stat(path, &sb) != 0) return 0;
    out->dev = (uint64_t)sb.st_dev;
    out->ino = (uint64_t)sb.st_ino;
    return 1;
}

static const qtf__file_id *protected_match(const qtf__outfile *o, const struct stat *sb) {
    for (size_t i = 0; i < o->n_protect; i++)
        if (o->protect[i].dev == (uint64_t)sb->st_dev && o->protect[i].ino == (uint64_t)sb->st_ino)
            return &o->protect[i];
    return NULL;
}

/* The rules on what already exists at the destination. *through = 1 when it
 * is a device or FIFO to write in place. */
static qtf_status check_existing(const qtf__outfile *o, int *through) {
    *through = 0;
    struct stat lsb, sb;
    if (lstat(o->path, &lsb) != 0) {
        if (errno == ENOENT) return QTF_OK;
        return qtf__error(QTF_E_IO, "%s: cannot stat: %s", o->path, strerror(errno));
    }
    int dangling = S_ISLNK(lsb.st_mode) && stat(o->path, &sb) != 0;
    if (dangling) sb = lsb;
    else if (!S_ISLNK(lsb.st_mode)) sb = lsb;
    if (protected_match(o, &sb) || protected_match(o, &lsb))
        return qtf__error(QTF_E_INVALID_ARG, "%s: is an input of this run (same file); it is "
                          "never replaced", o->path);
    if (S_ISDIR(sb.st_mode))
        return qtf__error(QTF_E_INVALID_ARG, "%s: is a directory", o->path);
    if (S_ISSOCK(sb.st_mode) || S_ISBLK(sb.st_mode))
        return qtf__error(QTF_E_INVALID_ARG, "%s: is a %s; refusing to write to it", o->path,
                          S_ISSOCK(sb.st_mode) ? "socket" : "block device");
    if (S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode)) {
        if (S_ISFIFO(sb.st_mode) && (o->flags & QTF__OUT_SEEKS))
            return qtf__error(QTF_E_INVALID_ARG, "%s: is a FIFO, and this file is written with "
                              "seeks; write to a regular file", o->path);
        *through = 1;
        return QTF_OK;
    }
    if (!(o->flags & QTF__OUT_REPLACE))
        return qtf__error(QTF_E_INVALID_ARG, "%s: already exists; not replaced (--force "
                          "replaces it)", o->path);
    return QTF_OK;
}

/* Opens an existing device or FIFO for writing, without blocking on a FIFO
 * that has no reader, and checks that it is still not a regular file (which
 * O_WRONLY without O_TRUNC would overwrite in place). */
static qtf_status open_through(qtf__outfile *o) {
    o->fd = open(o->path, O_WRONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (o->fd < 0) {
        if (errno == ENXIO)
            return qtf__error(QTF_E_IO, "%s: is a FIFO that nobody reads", o->path);
        return qtf__error(QTF_E_IO, "%s: cannot open for writing: %s", o->path, strerror(errno));
    }
    struct stat sb;
    if (fstat(o->fd, &sb) != 0 || !(S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode)))
        return qtf__error(QTF_E_IO, "%s: changed while being opened", o->path);
    int fl = fcntl(o->fd, F_GETFL);
    if (fl < 0 || fcntl(o->fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        return qtf__error(QTF_E_IO, "%s: fcntl failed: %s", o->path, strerror(errno));
    o->through = 1;
    return QTF_OK;
}

/* The process umask, read without changing it (umask(2) would briefly
 * change it for every thread). */
static mode_t current_umask(void) {
    FILE *f = fopen("/proc/self/status", "re");
    unsigned mask = 022;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Umask: %o", &mask) == 1) break;
        fclose(f);
    }
    return (mode_t)mask;
}

static qtf_status open_temp(qtf__outfile *o) {
    o->dirfd = open(o->dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (o->dirfd < 0)
        return qtf__error(QTF_E_IO, "%s: cannot open directory %s: %s", o->path, o->dir_path,
                          strerror(errno));
    if (!force_named_temp) {
        o->fd = openat(o->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
        if (o->fd >= 0) return QTF_OK;
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
            return qtf__error(QTF_E_IO, "%s: cannot create a temporary file in %s: %s", o->path,
                              o->dir_path, strerror(errno));
    }
    /* no O_TMPFILE on this filesystem: a hidden named temp file instead */
    size_t n = strlen(o->dir_path) + strlen(o->base) + 16;
    o->tmp_path = qtf__malloc(n);
    if (!o->tmp_path) return qtf__error(QTF_E_NOMEM, "%s: cannot allocate a path", o->path);
    snprintf(o->tmp_path, n, "%s/.%s.XXXXXX", o->dir_path, o->base);
    o->fd = mkostemp(o->tmp_path, O_CLOEXEC);
    if (o->fd < 0) {
        qtf_status st = qtf__error(QTF_E_IO, "%s: cannot create %s: %s", o->path, o->tmp_path,
                                   strerror(errno));
        free(o->tmp_path);
        o->tmp_path = NULL;
        return st;
    }
    /* mkstemp creates 0600; give the mode O_TMPFILE would have given */
    if (fchmod(o->fd, 0666 & ~current_umask()) != 0)
        return qtf__error(QTF_E_IO, "%s: chmod of %s failed: %s", o->path, o->tmp_path,
                          strerror(errno));
    return QTF_OK;
}

void qtf__outfile_init(qtf__outfile *o) {
    memset(o, 0, sizeof *o);
    o->fd = o->dirfd = -1;
}

qtf_status qtf__outfile_open(qtf__outfile *o, const char *path, unsigned flags,
                             const char *const *protect, size_t n_protect) {
    qtf__outfile_init(o);
    if (!path) return qtf__error(QTF_E_INVALID_ARG, "output: NULL path");
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return qtf__error(QTF_E_INVALID_ARG, "%s: destination has no file name", path);
    o->flags = flags;
    qtf_status st = QTF_OK;
    o->path = qtf__strndup(path, strlen(path));
    o->dir_path = !slash          ? qtf__strndup(".", 1)
                  : slash == path ? qtf__strndup("/", 1)
                                  : qtf__strndup(path, (size_t)(slash - path));
    if (n_protect) {
        o->protect = qtf__calloc(n_protect, sizeof *o->protect);
        if (!o->protect) st = qtf__error(QTF_E_NOMEM, "%s: cannot allocate", path);
    }
    if (!st && (!o->path || !o->dir_path))
        st = qtf__error(QTF_E_NOMEM, "%s: cannot copy the path", path);
    for (size_t i = 0; !st && i < n_protect; i++)
        if (qtf__file_id_of(&o->protect[o->n_protect], protect[i])) o->n_protect++;
    int through = 0;
    if (!st) {
        o->base = o->path + (base - path);
        st = check_existing(o, &through);
    }
    if (!st) st = through ? open_through(o) : open_temp(o);
    if (st) qtf__outfile_abort(o);
    return st;
}

/* Links the O_TMPFILE under `name` in the directory. */
static int link_tmpfile(const qtf__outfile *o, const char *name) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
    int r = linkat(AT_FDCWD, proc, o->dirfd, name, AT_SYMLINK_FOLLOW);
    if (r != 0 && errno == ENOENT) /* no /proc: needs CAP_DAC_READ_SEARCH */
        r = linkat(o->fd, "", o->dirfd, name, AT_EMPTY_PATH);
    return r;
}

/* Gives the finished temp file the destination name atomically. Without
 * QTF__OUT_REPLACE the name is taken only if it is still free (EEXIST
 * otherwise), so a file that appeared meanwhile is not replaced either. */
static qtf_status publish(qtf__outfile *o) {
    int replace = (o->flags & QTF__OUT_REPLACE) != 0;
    if (o->tmp_path) {
        const char *tmp_base = strrchr(o->tmp_path, '/') + 1;
        int r;
        if (replace) {
            r = renameat(o->dirfd, tmp_base, o->dirfd, o->base);
        } else {
            r = renameat2(o->dirfd, tmp_base, o->dirfd, o->base, RENAME_NOREPLACE);
            if (r != 0 && (errno == EINVAL || errno == ENOSYS)) {
                r = linkat(o->dirfd, tmp_base, o->dirfd, o->base, 0);
                if (r == 0) unlinkat(o->dirfd, tmp_base, 0);
            }
        }
        if (r != 0)
            return qtf__error(errno == EEXIST ? QTF_E_INVALID_ARG : QTF_E_IO,
                              "%s: rename from %s failed: %s", o->path, o->tmp_path,
                              strerror(errno));
        free(o->tmp_path);
        o->tmp_path = NULL;
        return QTF_OK;
    }
    if (!replace) {
        if (link_tmpfile(o, o->base) != 0)
            return qtf__error(errno == EEXIST ? QTF_E_INVALID_ARG : QTF_E_IO,
                              "%s: cannot link the temporary file: %s", o->path,
                              errno == EEXIST ? "a file of that name appeared meanwhile"
                                              : strerror(errno));
        return QTF_OK;
    }
    /* linkat cannot replace an existing file: link under a fresh hidden
     * name, then rename that over the destination */
    char tmp[64];
    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t rnd = 0;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
            rnd = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull + (uint64_t)attempt;
        snprintf(tmp, sizeof tmp, ".qtf-tmp.%016" PRIx64, rnd);
        int r = link_tmpfile(o, tmp);
        if (r != 0 && errno == EEXIST) continue;
        if (r != 0)
            return qtf__error(QTF_E_IO, "%s: cannot link the temporary file into %s: %s", o->path,
                              o->dir_path, strerror(errno));
        if (renameat(o->dirfd, tmp, o->dirfd, o->base) != 0) {
            qtf_status st = qtf__error(QTF_E_IO, "%s: rename failed: %s", o->path,
                                       strerror(errno));
            unlinkat(o->dirfd, tmp, 0);
            return st;
        }
        return QTF_OK;
    }
    return qtf__error(QTF_E_IO, "%s: no free temporary name in %s", o->path, o->dir_path);
}

qtf_status qtf__outfile_commit(qtf__outfile *o) {
    qtf_status st = QTF_OK;
    if (o->fd < 0) {
        st = qtf__error(QTF_E_STATE, "%s: output not open", o->path ? o->path : "output");
    } else if (o->through) {
        /* devices such as /dev/null and FIFOs cannot be synced (EINVAL) */
        if (fsync(o->fd) != 0 && errno != EINVAL && errno != EROFS)
            st = qtf__error(QTF_E_IO, "%s: fsync failed: %s", o->path, strerror(errno));
        int fd = o->fd;
        o->fd = -1;
        if (close(fd) != 0 && !st)
            st = qtf__error(QTF_E_IO, "%s: close failed: %s", o->path, strerror(errno));
    } else {
        if (fsync(o->fd) != 0)
            st = qtf__error(QTF_E_IO, "%s: fsync failed: %s", o->path, strerror(errno));
        /* what is at the destination now must still be replaceable */
        int through = 0;
        if (!st) st = check_existing(o, &through);
        if (!st && through)
            st = qtf__error(QTF_E_INVALID_ARG, "%s: became a device or FIFO while being written",
                            o->path);
        if (!st) st = publish(o);
        /* the new name is durable only once the directory itself is synced */
        if (!st && fsync(o->dirfd) != 0 && errno != EINVAL)
            st = qtf__error(QTF_E_IO, "%s: written and renamed, but syncing directory '%s' "
                            "failed (the new name may not survive a crash): %s", o->path,
                            o->dir_path, strerror(errno));
    }
    qtf__outfile_abort(o);
    return st;
}

void qtf__outfile_abort(qtf__outfile *o) {
    if (o->fd >= 0) close(o->fd);
    if (o->tmp_path) unlink(o->tmp_path);
    if (o->dirfd >= 0) close(o->dirfd);
    free(o->tmp_path);
    free(o->path);
    free(o->dir_path);
    free(o->protect);
    qtf__outfile_init(o);
}

qtf_status qtf__write_all(int fd, const void *buf, uint64_t len, const char *path) {
    const unsigned char *p = buf;
    while (len > 0) {
        size_t want = len > ((uint64_t)1 << 30) ? ((size_t)1 << 30) : (size_t)len;
        ssize_t r = write(fd, p, want);
        if (r < 0) {
            if (errno == EINTR) continue;
            return qtf__error(QTF_E_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += r;
        len -= (uint64_t)r;
    }
    return QTF_OK;
}
