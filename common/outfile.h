/* common/outfile.h — the one way every writer (.qtf, safetensors, SVG chart)
 * puts a file at its destination (common/outfile.c). Not installed.
 *
 * The content goes to a temp file in the destination's directory: an
 * unnamed O_TMPFILE where the filesystem has it (nothing is left behind even
 * after SIGKILL), else a hidden ".NAME.XXXXXX" file removed on every failure.
 * Commit fsyncs it, gives it the destination name (link or rename, so a
 * reader sees the old file or the new one, never a part), and fsyncs the
 * directory. A failed directory fsync is an error (QTF_E_IO) although the file
 * is in place: the caller asked for durability and must hear that the new
 * name may not survive a crash. Filesystems that do not support fsync on a
 * directory (EINVAL) are not an error.
 *
 * Existing destinations:
 *  - a regular file (or a link to one) is replaced only with QTF__OUT_REPLACE;
 *  - a file that is one of the `protect` files (same device and inode,
 *    whatever path or link names it) is never replaced;
 *  - a character device or a FIFO is written through (opened O_WRONLY, never
 *    unlinked, not replaced): `qtf-convert MODEL /dev/null` leaves /dev/null a
 *    device. A FIFO without a reader is refused instead of waited on, and so
 *    is a FIFO when the writer seeks (QTF__OUT_SEEKS);
 *  - a directory, block device or socket is refused. */
#ifndef QTF_COMMON_OUTFILE_H
#define QTF_COMMON_OUTFILE_H

#include <stddef.h>
#include <stdint.h>

#include "qtf.h"

#define QTF__OUT_REPLACE 0x1u   /* an existing regular file may be replaced */
#define QTF__OUT_SEEKS 0x2u     /* the writer seeks or rewrites: refuse a FIFO */

typedef struct qtf__file_id {
    uint64_t dev, ino;
} qtf__file_id;

typedef struct qtf__outfile {
    int fd;                     /* where the content goes (seekable unless `through`) */
    int through;                /* an existing device or FIFO written in place */
    char *path;                 /* destination as given, for messages */
    /* private */
    char *dir_path;             /* its directory */
    const char *base;           /* its file name, inside `path` */
    char *tmp_path;             /* named fallback: the visible temp file */
    int dirfd;
    unsigned flags;
    size_t n_protect;
    qtf__file_id *protect;
} qtf__outfile;

/* Sets an object to the closed state (abort is then a no-op). */
void qtf__outfile_init(qtf__outfile *o);

/* Opens the temp file (or the device) for `path`. `protect` lists paths that
 * must never be replaced (the inputs of the writer); paths that do not exist
 * are ignored. Errors: QTF_E_INVALID_ARG (no file name, an input, an existing
 * file without QTF__OUT_REPLACE, a directory, socket, block device or
 * unusable FIFO), QTF_E_IO, QTF_E_NOMEM. On error *o needs no cleanup. */
qtf_status qtf__outfile_open(qtf__outfile *o, const char *path, unsigned flags,
                             const char *const *protect, size_t n_protect);

/* fsync, publish under the destination name (checking the rules again), fsync
 * the directory; closes and frees in every case. On failure nothing new is
 * left at the destination, except after a failed directory fsync (above). */
qtf_status qtf__outfile_commit(qtf__outfile *o);

/* Removes the temp file, closes and frees; a written-through device or FIFO
 * is left as it is. Safe on an object after init, open (failed or not) or
 * commit. */
void qtf__outfile_abort(qtf__outfile *o);

/* Writes all len bytes to fd (in chunks of at most 1 GiB, retrying on
 * EINTR). Error: QTF_E_IO "PATH: write failed: REASON", path naming the
 * destination in the message. Used by the streaming checkpoint writers. */
qtf_status qtf__write_all(int fd, const void *buf, uint64_t len, const char *path);

/* (st_dev, st_ino) of path following links; 0 if it cannot be stat'ed. */
int qtf__file_id_of(qtf__file_id *out, const char *path);

/* Test hook: 1 makes qtf__outfile_open use a named temp file instead of
 * O_TMPFILE, as on filesystems without O_TMPFILE. Not exported. */
void qtf__test_force_named_temp(int on);

#endif
