/* lib/edit.c — editing a file's metadata in place (spec/FORMAT.md section
 * 13.1, normative; lib/README.md "How libqtf edits metadata").
 *
 * The new metadata section, serialized in memory by the writer, is followed
 * by the file's unchanged directory: T = metadata + directory. With D the end
 * of the data section, the file is changed in seven steps, each made durable
 * (fdatasync) before the next begins, so that the disk never holds a state
 * that a crash could expose and that is not a valid file:
 *   1 set the EDITING header flag       (old content; stale bytes allowed)
 *   2 write T at P, past the end of the file and clear of [D, D + |T|)
 *   3 header -> P                        (the commit)
 *   4 write T at D                       5 header -> D
 *   6 truncate to D + |T|                7 clear the flag
 * The only bytes ever written are the header and bytes the current header
 * does not point to; tensor data is never written. A header switch is one
 * pwrite of 128 bytes at offset 0 (inside the first sector), and the header
 * checksum covers header, metadata and directory, so a torn switch is a
 * checksum failure, never a mix of two headers.
 *
 * No other process may have the file open (a reader mapping it would see
 * its metadata change, and a page past the truncation raises SIGBUS): a
 * Linux write lease (F_SETLEASE) is granted only when nobody else has it
 * open, and makes processes opening it meanwhile wait until it is released.
 * Everything that can make in place impossible is checked before step 1,
 * and reported as QTF_E_UNSUPPORTED with nothing written. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "edit.h"

/* Header fields an edit changes (spec/FORMAT.md section 3). */
enum {
    HDR_FLAGS = 20,             /* u32 */
    HDR_META_COUNT = 40,        /* u64 */
    HDR_META_OFFSET = 64,       /* u64 */
    HDR_META_SIZE = 72,         /* u64 */
    HDR_DIR_OFFSET = 80,        /* u64 */
    HDR_DIR_SIZE = 88,          /* u64 */
    HDR_CHECKSUM = QTF__HEADER_HASHED /* u64, XXH3-64 of [0,120) + metadata + directory */
};

/* In place not possible: nothing was written (the detail format is
 * documented in include/qtf/container.h, and qtf-edit quotes REASON). */
static qtf_status refuse(const qtf__edit_target *t, const char *fmt, const char *arg) {
    return qtf__error(QTF_E_UNSUPPORTED, "%s: in place not possible: %s%s", t->path, fmt,
                      arg ? arg : "");
}

static uint64_t header_hash(const unsigned char h[QTF__HEADER_SIZE], const unsigned char *meta,
                            uint64_t meta_len, const unsigned char *dir, uint64_t dir_len,
                            XXH3_state_t *hs) {
    XXH3_64bits_reset(hs);
    XXH3_64bits_update(hs, h, QTF__HEADER_HASHED);
    XXH3_64bits_update(hs, meta, (size_t)meta_len);
    XXH3_64bits_update(hs, dir, (size_t)dir_len);
    return XXH3_64bits_digest(hs);
}

/* `base` with `flags` and pointing at metadata (meta, count) placed at
 * meta_off followed by the directory; checksum recomputed. */
static void make_header(unsigned char h[QTF__HEADER_SIZE], const unsigned char *base,
                        uint32_t flags, uint64_t count, uint64_t meta_off,
                        const unsigned char *meta, uint64_t meta_len, const unsigned char *dir,
                        uint64_t dir_len, XXH3_state_t *hs) {
    memcpy(h, base, QTF__HEADER_SIZE);
    qtf__st32(h + HDR_FLAGS, flags);
    qtf__st64(h + HDR_META_COUNT, count);
    qtf__st64(h + HDR_META_OFFSET, meta_off);
    qtf__st64(h + HDR_META_SIZE, meta_len);
    qtf__st64(h + HDR_DIR_OFFSET, meta_off + meta_len);
    qtf__st64(h + HDR_DIR_SIZE, dir_len);
    qtf__st_hash(h + HDR_CHECKSUM, header_hash(h, meta, meta_len, dir, dir_len, hs));
}

/* One header switch, made durable before the next step (see the top). */
static int switch_header(int fd, const unsigned char h[QTF__HEADER_SIZE]) {
    int e = qtf__pwrite_errno(fd, h, QTF__HEADER_SIZE, 0);
    if (!e && fdatasync(fd)) e = errno;
    return e;
}

qtf_status qtf__edit_in_place(const qtf__edit_target *t, const unsigned char *meta,
                              uint64_t meta_len, uint64_t meta_count, const unsigned char *dir,
                              uint64_t dir_len) {
    const qtf_file_info *in = &t->src;
    const uint64_t D = in->data_offset + in->data_size, a = in->alignment;
    const uint64_t S = meta_len + dir_len;
    if (dir_len != in->directory_size)
        return qtf__error(QTF_E_INVALID_ARG, "%s: an in-place edit keeps the directory as it "
                          "is (%llu bytes, given %llu)", t->path,
                          (unsigned long long)in->directory_size, (unsigned long long)dir_len);
    int fd = open(t->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return refuse(t, "cannot open it for writing: ", strerror(errno));

    /* A lease break is announced by SIGIO, whose default action ends the
     * process; the edit takes milliseconds, less than the kernel's
     * lease-break-time, so the notice is not needed: ignore it meanwhile,
     * unless the program handles or ignores SIGIO itself. */
    struct sigaction old_sigio, ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    int restore_sigio = sigaction(SIGIO, NULL, &old_sigio) == 0 &&
                        old_sigio.sa_handler == SIG_DFL && !(old_sigio.sa_flags & SA_SIGINFO) &&
                        sigaction(SIGIO, &ign, NULL) == 0;
    qtf_status st = QTF_OK;
    unsigned char *old_meta = NULL, *old_dir = NULL, *tail = NULL;
    XXH3_state_t *hs = NULL;
    int leased = 0;
    /* granted only when no other open file description (this process's
     * included: the caller closes its qtf_file first) has the file */
    if (fcntl(fd, F_SETLEASE, F_WRLCK) != 0) {
        st = errno == EAGAIN ? refuse(t, "another process has it open or mapped", NULL)
                             : refuse(t, "no file lease: ", strerror(errno));
        goto out;
    }
    leased = 1;

    /* Under the lease the file cannot change: check that it is still the
     * file the caller opened, same size and the same header, metadata and
     * directory (the stored checksum is the one read at open, and it still
     * matches the bytes), since the new metadata was made from that one. */
    unsigned char h0[QTF__HEADER_SIZE], h[QTF__HEADER_SIZE];
    struct stat sb, sp;
    old_meta = qtf__malloc(in->metadata_size ? (size_t)in->metadata_size : 1);
    old_dir = qtf__malloc(dir_len ? (size_t)dir_len : 1);
    tail = qtf__malloc(S ? (size_t)S : 1);
    hs = XXH3_createState();
    if (!old_meta || !old_dir || !tail || !hs) {
        st = qtf__error(QTF_E_NOMEM, "%s: cannot allocate %llu bytes for an in-place edit; the "
                        "file is unchanged", t->path,
                        (unsigned long long)(in->metadata_size + dir_len + S));
        goto out;
    }
    int e;
    if (fstat(fd, &sb) != 0 || stat(t->path, &sp) != 0 || !S_ISREG(sb.st_mode) ||
        sb.st_dev != sp.st_dev || sb.st_ino != sp.st_ino ||
        (uint64_t)sb.st_size != in->file_size) {
        st = refuse(t, "it changed since it was opened", NULL);
        goto out;
    }
    if ((e = qtf__pread_errno(fd, h0, sizeof h0, 0, NULL)) ||
        (e = qtf__pread_errno(fd, old_meta, in->metadata_size, in->metadata_offset, NULL)) ||
        (e = qtf__pread_errno(fd, old_dir, dir_len, in->directory_offset, NULL))) {
        if (e < 0) e = EIO; /* the file ended first */
        st = qtf__error(QTF_E_IO, "%s: reading it for an in-place edit failed: %s; the file is "
                        "unchanged", t->path, strerror(e));
        goto out;
    }
    if (qtf__ld_hash(h0 + HDR_CHECKSUM) != in->header_checksum ||
        header_hash(h0, old_meta, in->metadata_size, old_dir, dir_len, hs) != in->header_checksum ||
        memcmp(old_dir, dir, (size_t)dir_len)) {
        st = refuse(t, "it changed since it was opened", NULL);
        goto out;
    }

    /* T at P: past every byte the current header points to (the file end)
     * so that step 2 overwrites nothing live, and past D + |T| so that step
     * 4, writing at D while the header points at P, does not overwrite the
     * copy at P either. */
    memcpy(tail, meta, (size_t)meta_len);
    memcpy(tail + meta_len, dir, (size_t)dir_len);
    uint64_t P = in->file_size > D + S ? in->file_size : D + S;
    P = (P + a - 1) / a * a;
    const uint32_t flags = in->flags & ~(uint32_t)QTF__FLAG_EDITING;
    const uint32_t editing = flags | QTF__FLAG_EDITING;
    int step = 0;
#define STEP_DONE(n) do { step = (n); if (t->on_step) t->on_step(t->step_ctx, step); } while (0)

    /* 1: the flag, on the old content. The header still points at the old
     * sections; only the flag changes, which allows the stale bytes that
     * step 2 adds after them. A file left flagged by an interrupted edit
     * already has it. */
    e = 0;
    if (!(in->flags & QTF__FLAG_EDITING)) {
        make_header(h, h0, editing, in->metadata_count, in->metadata_offset, old_meta,
                    in->metadata_size, old_dir, dir_len, hs);
        e = switch_header(fd, h);
    }
    if (e) goto failed;
    STEP_DONE(1);
    /* 2: T where nothing points (stale bytes for the flagged header); a
     * crash leaves the old metadata plus ignored bytes. */
    if ((e = qtf__pwrite_errno(fd, tail, S, P)) || (fdatasync(fd) && (e = errno))) goto failed;
    STEP_DONE(2);
    /* 3, the commit: one header write points at the durable copy at P. */
    make_header(h, h0, editing, meta_count, P, meta, meta_len, dir, dir_len, hs);
    if ((e = switch_header(fd, h))) goto failed;
    STEP_DONE(3);
    /* 4: T at its canonical place D; the header points at P, which this
     * write does not reach (P >= D + |T|). */
    if ((e = qtf__pwrite_errno(fd, tail, S, D)) || (fdatasync(fd) && (e = errno))) goto failed;
    STEP_DONE(4);
    /* 5: the header follows to D; the copy at P becomes stale. */
    make_header(h, h0, editing, meta_count, D, meta, meta_len, dir, dir_len, hs);
    if ((e = switch_header(fd, h))) goto failed;
    STEP_DONE(5);
    /* 6: drop the stale bytes; the header points below the new end. */
    if (ftruncate(fd, (off_t)(D + S)) || fdatasync(fd)) {
        e = errno;
        goto failed;
    }
    STEP_DONE(6);
    /* 7: clear the flag: byte for byte what copy-and-rename writes. fsync
     * (not fdatasync): the size and times are durable too. */
    make_header(h, h0, flags, meta_count, D, meta, meta_len, dir, dir_len, hs);
    if ((e = qtf__pwrite_errno(fd, h, sizeof h, 0)) || (fsync(fd) && (e = errno))) goto failed;
    STEP_DONE(7);
#undef STEP_DONE
    goto out;

failed:
    if (step < 3) {
        /* not committed: put the old header and size back (best effort; the
         * file is valid with its old metadata either way) */
        if (!qtf__pwrite_errno(fd, h0, sizeof h0, 0) && !ftruncate(fd, (off_t)in->file_size))
            (void)fsync(fd);
        st = qtf__error(QTF_E_IO, "%s: in-place edit failed at step %d: %s; the file is "
                        "unchanged", t->path, step + 1, strerror(e ? e : EIO));
    } else {
        st = qtf__error(QTF_E_IO, "%s: in-place edit failed at step %d: %s; the file holds the "
                        "new metadata but is not tidied up (EDITING flag): an edit with no "
                        "changes (qtf-edit --finish) completes it", t->path, step + 1,
                        strerror(e ? e : EIO));
    }
out:
    if (leased) (void)fcntl(fd, F_SETLEASE, F_UNLCK);
    close(fd);
    if (restore_sigio) (void)sigaction(SIGIO, &old_sigio, NULL);
    XXH3_freeState(hs);
    free(old_meta);
    free(old_dir);
    free(tail);
    return st;
}
