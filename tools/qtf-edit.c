/* qtf-edit — sets, replaces and deletes metadata keys and embedded files of a
 * .qtf without rewriting its tensors.
 *
 * In place (the default; spec/FORMAT.md section 13, "Editing metadata in
 * place"): the new metadata section is serialized by libqtf's writer (a
 * metadata-only file in the temp directory), then the file itself is
 * changed in seven steps, each made durable (fdatasync) before the next,
 * only ever writing bytes that the current header does not point to and
 * then switching the header (128 bytes in the first sector) by one pwrite:
 *   1 set the EDITING header flag (stale bytes after the directory allowed)
 *   2 write new metadata + directory at P, past the end and past D + size
 *   3 header -> P (commit: from here the file has the new metadata)
 *   4 write the same section at D, the end of the data (where it belongs)
 *   5 header -> D        6 truncate after it        7 clear the flag
 * A crash leaves, at every step, a file that libqtf opens and verifies with
 * either the old or the new metadata (a reader checks the header checksum,
 * which covers header, metadata and directory, so a torn header write is
 * detected, never misread); `qtf-edit --finish` (or any later edit) tidies
 * a file left with the flag. Tensor data is never written. A write lease
 * (F_SETLEASE) makes sure no other process has the file open or mapped
 * (a mapped reader would see its metadata change), and makes processes that
 * open it during the edit wait until it is finished.
 *
 * Copy and rename (the fallback when in place is not possible, -o, or
 * --copy): qtf_writer_create_edit() starts a temp file in the same folder
 * whose data section is the original's, cloned with copy_file_range
 * (extents shared on reflink filesystems such as btrfs and XFS; an
 * in-kernel copy elsewhere), and whose directory is copied as stored:
 * tensors are not decoded, re-encoded or re-hashed, and their checksums stay
 * what they were. The metadata is written anew, the header checksum
 * recomputed, and the temp file fsynced and renamed over the target.
 *
 * Both give the same bytes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "cli/cli_util.h"
#include "common/common.h"

typedef enum { OP_STRING, OP_INT, OP_FLOAT, OP_BOOL, OP_BLOB, OP_DELETE } op_kind;

typedef struct op {
    op_kind kind;
    char *key;
    const char *value;      /* text after '=' (a path for OP_BLOB) */
    const char *media_type; /* OP_BLOB */
    int done;
} op;

typedef struct options {
    const char *path, *out_path;
    op *ops;
    size_t n_ops;
    int force, quiet, copy, finish;
} options;

static void print_help(void) {
    printf(
"Usage: qtf-edit [OPTIONS] FILE.qtf\n"
"\n"
"Sets, replaces and deletes metadata of a .qtf file without rewriting its\n"
"tensors. A key that exists keeps its position; new keys are appended.\n"
"\n"
"FILE is edited in place: tensor data is not touched; the new metadata and\n"
"directory are written after the data and made durable before the header is\n"
"switched to them (one 128-byte write), so a crash at any point leaves a\n"
"valid file with the old or the new metadata (see spec/FORMAT.md section 13).\n"
"When in place is not possible (another process has FILE open or mapped, no\n"
"write permission, file leases unsupported), or with -o or --copy, the data\n"
"section is cloned into a temp file (copy_file_range: shared extents on\n"
"reflink filesystems) that replaces FILE atomically (fsync, rename); the\n"
"summary line says which was done. Both give the same bytes.\n"
"\n"
"Options (repeatable, applied together; each KEY at most once):\n"
"  -s, --set KEY=TEXT        a string value\n"
"      --set-int KEY=N       a 64-bit integer (u64 above 2^63-1)\n"
"      --set-float KEY=X     a 64-bit float\n"
"      --set-bool KEY=true|false\n"
"      --set-blob KEY=PATH   the bytes of file PATH (media type from\n"
"                            --media-type, else guessed from the extension)\n"
"  -e, --embed PATH          the same as --set-blob hf.file.NAME=PATH, NAME being\n"
"                            PATH's file name: an embedded file that\n"
"                            `qtf-convert FILE.qtf DIR/` writes back\n"
"      --media-type TYPE     media type of the next --set-blob/--embed\n"
"  -d, --delete KEY          remove KEY (an error if absent)\n"
"  -f, --force               allow keys reserved by the format (qtf.*,\n"
"                            general.*); their documented types still apply\n"
"  -o, --output OUT.qtf      write OUT.qtf and leave FILE untouched\n"
"      --copy                copy and rename even when in place is possible\n"
"      --finish              change nothing; complete an in-place edit that was\n"
"                            interrupted (a file whose header has the EDITING\n"
"                            flag: still valid, but older readers refuse it)\n"
"  -q, --quiet               no summary line\n"
"  -h, --help, -V, --version\n"
"\n"
"Exit status: 0 written; 1 failed (nothing changed); 2 usage error or a FILE\n"
"that cannot be opened.\n");
}

static const char *guess_media_type(const char *path) {
    const char *dot = strrchr(path, '.');
    if (!dot) return "application/octet-stream";
    if (!strcmp(dot, ".json")) return "application/json";
    if (!strcmp(dot, ".txt") || !strcmp(dot, ".md") || !strcmp(dot, ".jinja"))
        return "text/plain; charset=utf-8";
    if (!strcmp(dot, ".model")) return "application/x-protobuf";
    return "application/octet-stream";
}

static int reserved(const char *key) {
    return !strncmp(key, "qtf.", 4) || !strncmp(key, "general.", 8);
}

static int add_op(options *o, op_kind kind, const char *arg, const char *media) {
    op *n = realloc(o->ops, (o->n_ops + 1) * sizeof *n);
    if (!n) return cli_usage_error("out of memory");
    o->ops = n;
    op *p = &o->ops[o->n_ops];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    if (kind == OP_DELETE) {
        p->key = strdup(arg);
    } else {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg)
            return cli_usage_error("expected KEY=VALUE, not '%s'", arg);
        p->key = strndup(arg, (size_t)(eq - arg));
        p->value = eq + 1;
    }
    if (!p->key) return cli_usage_error("out of memory");
    p->media_type = kind == OP_BLOB ? (media ? media : guess_media_type(p->value)) : NULL;
    o->n_ops++;
    for (size_t i = 0; i + 1 < o->n_ops; i++)
        if (!strcmp(o->ops[i].key, p->key))
            return cli_usage_error("key '%s' is given twice", p->key);
    return 0;
}

static void free_ops(options *o) {
    for (size_t i = 0; i < o->n_ops; i++) free(o->ops[i].key);
    free(o->ops);
}

static int parse_args(options *o, int argc, char **argv) {
    enum { OPT_INT = 256, OPT_FLOAT, OPT_BOOL, OPT_BLOB, OPT_MEDIA, OPT_COPY, OPT_FINISH };
    static const struct option longopts[] = {
        {"set", required_argument, NULL, 's'},
        {"set-int", required_argument, NULL, OPT_INT},
        {"set-float", required_argument, NULL, OPT_FLOAT},
        {"set-bool", required_argument, NULL, OPT_BOOL},
        {"set-blob", required_argument, NULL, OPT_BLOB},
        {"embed", required_argument, NULL, 'e'},
        {"media-type", required_argument, NULL, OPT_MEDIA},
        {"delete", required_argument, NULL, 'd'},
        {"force", no_argument, NULL, 'f'},
        {"copy", no_argument, NULL, OPT_COPY},
        {"finish", no_argument, NULL, OPT_FINISH},
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        CLI_END_LONG_OPTIONS,
    };
    memset(o, 0, sizeof *o);
    const char *media = NULL;
    opterr = 0;
    int c, rc = 0;
    while (!rc && (c = getopt_long(argc, argv, ":s:e:d:fo:qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 's': rc = add_op(o, OP_STRING, optarg, NULL); break;
        case OPT_INT: rc = add_op(o, OP_INT, optarg, NULL); break;
        case OPT_FLOAT: rc = add_op(o, OP_FLOAT, optarg, NULL); break;
        case OPT_BOOL: rc = add_op(o, OP_BOOL, optarg, NULL); break;
        case OPT_BLOB: rc = add_op(o, OP_BLOB, optarg, media); media = NULL; break;
        case 'e': {
            const char *slash = strrchr(optarg, '/');
            const char *name = slash ? slash + 1 : optarg;
            if (!*name) return cli_usage_error("--embed: '%s' has no file name", optarg);
            size_t len = strlen(name) + strlen(optarg) + 16;
            char *arg = malloc(len);
            if (!arg) return cli_usage_error("out of memory");
            snprintf(arg, len, "hf.file.%s=%s", name, optarg);
            rc = add_op(o, OP_BLOB, arg, media);
            /* value points into arg: re-point it at optarg, which lives on */
            if (!rc) o->ops[o->n_ops - 1].value = optarg;
            if (!rc && !media) o->ops[o->n_ops - 1].media_type = guess_media_type(optarg);
            free(arg);
            media = NULL;
            break;
        }
        case OPT_MEDIA: media = optarg; break;
        case 'd': rc = add_op(o, OP_DELETE, optarg, NULL); break;
        case 'f': o->force = 1; break;
        case OPT_COPY: o->copy = 1; break;
        case OPT_FINISH: o->finish = 1; break;
        case 'o': o->out_path = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'h': print_help(); return -1;
        case 'V': cli_print_version(); return -1;
        default: return cli_getopt_error(c, argv, longopts);
        }
    }
    if (rc) return rc;
    if (media) return cli_usage_error("--media-type goes before a --set-blob or --embed");
    int usage = cli_take_one_path(&o->path, argc, argv);
    if (usage) return usage;
    if (o->n_ops == 0 && !o->finish)
        return cli_usage_error("nothing to do: give --set, --delete, --embed ...");
    if (o->finish && (o->n_ops || o->out_path || o->copy))
        return cli_usage_error("--finish takes no other change, -o or --copy");
    for (size_t i = 0; i < o->n_ops; i++)
        if (reserved(o->ops[i].key) && !o->force)
            return cli_usage_error("'%s' is a key reserved by the format (qtf.*, general.*); "
                                   "give --force to change it", o->ops[i].key);
    return 0;
}

static int read_file(unsigned char **out, size_t *len, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return errno;
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode) ||
        (uint64_t)sb.st_size > QTF_MAX_STRING_LEN) {
        int e = errno && !S_ISREG(sb.st_mode) ? errno : EINVAL;
        fclose(fp);
        return e;
    }
    *len = (size_t)sb.st_size;
    *out = malloc(*len ? *len : 1);
    if (!*out) {
        fclose(fp);
        return ENOMEM;
    }
    if (*len && fread(*out, 1, *len, fp) != *len) {
        free(*out);
        fclose(fp);
        return EIO;
    }
    fclose(fp);
    return 0;
}

/* Writes the new value of `p`; 0, or an exit code after a message. */
static int set_value(qtf_writer *w, const op *p) {
    qtf_status st = QTF_OK;
    char *end;
    errno = 0;
    switch (p->kind) {
    case OP_STRING: st = qtf_writer_set_string(w, p->key, p->value, strlen(p->value)); break;
    case OP_INT: {
        if (p->value[0] == '-') {
            long long v = strtoll(p->value, &end, 10);
            if (errno || end == p->value || *end) goto bad;
            st = qtf_writer_set_i64(w, p->key, v);
        } else {
            unsigned long long v = strtoull(p->value, &end, 10);
            if (errno || end == p->value || *end) goto bad;
            st = v > INT64_MAX ? qtf_writer_set_u64(w, p->key, v)
                               : qtf_writer_set_i64(w, p->key, (int64_t)v);
        }
        break;
    }
    case OP_FLOAT: {
        double v = strtod(p->value, &end);
        if (errno || end == p->value || *end) goto bad;
        st = qtf_writer_set_f64(w, p->key, v);
        break;
    }
    case OP_BOOL:
        if (strcmp(p->value, "true") && strcmp(p->value, "false")) goto bad;
        st = qtf_writer_set_bool(w, p->key, !strcmp(p->value, "true"));
        break;
    case OP_BLOB: {
        unsigned char *data = NULL;
        size_t len = 0;
        int e = read_file(&data, &len, p->value);
        if (e) {
            cli_error("%s: cannot read '%s': %s", p->key, p->value, strerror(e));
            return CLI_EXIT_FAIL;
        }
        st = qtf_writer_set_blob(w, p->key, p->media_type, data, len);
        free(data);
        break;
    }
    case OP_DELETE: return 0;
    }
    if (st) {
        cli_error_status(st, "cannot set '%s'", p->key);
        return CLI_EXIT_FAIL;
    }
    return 0;
bad:
    cli_error("'%s': '%s' is not a valid value for this option", p->key, p->value);
    return CLI_EXIT_USAGE;
}

/* Adds f's metadata with the edits applied to w; 0 or an exit code (w is
 * then aborted). */
static int fill_metadata(options *o, qtf_file *f, qtf_writer *w, int *n_set, int *n_del) {
    qtf_status st;
    int rc = 0;
    *n_set = *n_del = 0;
    for (size_t k = 0; k < o->n_ops; k++) o->ops[k].done = 0;
    for (uint64_t i = 0; !rc && i < qtf_meta_count(f); i++) {
        const char *key = qtf_meta_key(f, i);
        op *hit = NULL;
        for (size_t k = 0; k < o->n_ops; k++)
            if (!strcmp(o->ops[k].key, key)) hit = &o->ops[k];
        if (!hit) {
            st = qtf_writer_copy_meta(w, f, i);
            if (st) {
                cli_error_status(st, "cannot copy '%s'", key);
                rc = CLI_EXIT_FAIL;
            }
            continue;
        }
        hit->done = 1;
        if (hit->kind == OP_DELETE) (*n_del)++;
        else if (!(rc = set_value(w, hit))) (*n_set)++;
    }
    for (size_t k = 0; !rc && k < o->n_ops; k++) {
        if (o->ops[k].done) continue;
        if (o->ops[k].kind == OP_DELETE) {
            cli_error("cannot delete '%s': no such key in '%s'", o->ops[k].key, o->path);
            rc = CLI_EXIT_FAIL;
        } else if (!(rc = set_value(w, &o->ops[k]))) {
            (*n_set)++;
        }
    }
    if (rc) qtf_writer_abort(w);
    return rc;
}

/* Copy and rename (qtf_writer_create_edit). */
static int edit_copy(options *o, qtf_file *f, int *n_set, int *n_del) {
    const char *target = o->out_path ? o->out_path : o->path;
    qtf_writer *w = NULL;
    qtf_status st = qtf_writer_create_edit(&w, target, f, NULL);
    if (st) {
        cli_error_status(st, "cannot start writing '%s'", target);
        return CLI_EXIT_FAIL;
    }
    int rc = fill_metadata(o, f, w, n_set, n_del);
    if (rc) return rc;
    st = qtf_writer_finish(w);
    if (st) {
        cli_error_status(st, "cannot write '%s'", target);
        return CLI_EXIT_FAIL;
    }
    return 0;
}

/* ---- in place ------------------------------------------------------------- */

/* Test hook: QTF_EDIT_CRASH_AFTER=N ends the process (exit status 70,
 * nothing cleaned up, the lease dropped by the kernel) right after step N
 * of the in-place procedure, leaving the file as a crash at that point
 * would (what was written is in the page cache; each step was fdatasync'ed
 * before the next began). */
static void crash_point(int step) {
    const char *s = getenv("QTF_EDIT_CRASH_AFTER");
    if (s && atoi(s) == step) _exit(70);
}

/* The new metadata section as libqtf's writer serializes it: a file with
 * the metadata and no tensor, in the temp directory, read back. */
static int new_metadata(options *o, qtf_file *f, int *n_set, int *n_del, unsigned char **out,
                        uint64_t *len, uint64_t *count) {
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/qtf-edit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        cli_error("cannot create a temp folder '%s': %s", dir, strerror(errno));
        return CLI_EXIT_FAIL;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/meta.qtf", dir);
    qtf_writer *w = NULL;
    qtf_status st = qtf_writer_create(&w, path, NULL);
    int rc = 0;
    if (st) {
        cli_error_status(st, "cannot start writing '%s'", path);
        rc = CLI_EXIT_FAIL;
    } else if (!(rc = fill_metadata(o, f, w, n_set, n_del)) && (st = qtf_writer_finish(w))) {
        cli_error_status(st, "cannot write '%s'", path);
        rc = CLI_EXIT_FAIL;
    }
    qtf_file *m = NULL;
    if (!rc && (st = qtf_file_open(&m, path, NULL))) {
        cli_error_status(st, "cannot read back '%s'", path);
        rc = CLI_EXIT_FAIL;
    }
    if (!rc) {
        const qtf_file_info *i = qtf_file_get_info(m);
        *len = i->metadata_size;
        *count = i->metadata_count;
        *out = malloc(*len ? (size_t)*len : 1);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (!*out || fd < 0 ||
            pread(fd, *out, (size_t)*len, (off_t)i->metadata_offset) != (ssize_t)*len) {
            cli_error("cannot read back '%s': %s", path, strerror(errno ? errno : EIO));
            rc = CLI_EXIT_FAIL;
        }
        if (fd >= 0) close(fd);
        qtf_file_close(m);
    }
    unlink(path);
    rmdir(dir);
    return rc;
}

static int write_all(int fd, const void *buf, uint64_t len, uint64_t off) {
    const unsigned char *p = buf;
    while (len) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t r = pwrite(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return errno ? errno : EIO;
        p += r;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    return 0;
}

static int read_all(int fd, void *buf, uint64_t len, uint64_t off) {
    unsigned char *p = buf;
    while (len) {
        ssize_t r = pread(fd, p, len > (1u << 30) ? (1u << 30) : (size_t)len, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r == 0 ? EIO : errno;
        p += r;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    return 0;
}

/* The header `base` pointing at metadata (meta, meta_len, count) placed at
 * meta_off and the directory `dir` right after it, with `flags`; the header
 * checksum recomputed (it covers header[0,120), metadata, directory). */
static void make_header(unsigned char h[128], const unsigned char base[128], uint32_t flags,
                        uint64_t count, uint64_t meta_off, const unsigned char *meta,
                        uint64_t meta_len, const unsigned char *dir, uint64_t dir_len) {
    memcpy(h, base, 128);
    qtf__st32(h + 20, flags);
    qtf__st64(h + 40, count);
    qtf__st64(h + 64, meta_off);
    qtf__st64(h + 72, meta_len);
    qtf__st64(h + 80, meta_off + meta_len);
    qtf__st64(h + 88, dir_len);
    XXH3_state_t *hs = XXH3_createState();
    if (!hs) abort(); /* a few hundred bytes */
    XXH3_64bits_reset(hs);
    XXH3_64bits_update(hs, h, 120);
    XXH3_64bits_update(hs, meta, (size_t)meta_len);
    XXH3_64bits_update(hs, dir, (size_t)dir_len);
    qtf__st_hash(h + 120, XXH3_64bits_digest(hs));
    XXH3_freeState(hs);
}

/* Returns 0 (done), -1 (in place not possible, *why says why, nothing
 * changed and *fp still open) or an exit code after a message. Closes *fp
 * (sets it NULL) once it is committed to editing in place. */
static int edit_in_place(options *o, qtf_file **fp, int *n_set, int *n_del, char *why,
                         size_t why_len, uint64_t *written) {
    const qtf_file_info info = *qtf_file_get_info(*fp);
    unsigned char *meta = NULL, *old_meta = NULL, *dir = NULL;
    uint64_t meta_len = 0, count = 0;
    int rc = new_metadata(o, *fp, n_set, n_del, &meta, &meta_len, &count);
    if (rc) return rc;
    int fd = open(o->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open it for writing: %s", strerror(errno));
        free(meta);
        return -1;
    }
    const uint64_t D = info.data_offset + info.data_size, a = info.alignment;
    const uint64_t dir_len = info.directory_size, old_len = info.metadata_size;
    unsigned char h0[128], h[128];
    old_meta = malloc(old_len ? (size_t)old_len : 1);
    dir = malloc(dir_len ? (size_t)dir_len : 1);
    struct stat sb, sp;
    int e;
    if (!old_meta || !dir) {
        cli_error("out of memory");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    /* the mapping of *fp would make the lease fail: close it first, keeping
     * the bytes the edit needs */
    if ((e = read_all(fd, h0, 128, 0)) || (e = read_all(fd, old_meta, old_len, info.metadata_offset)) ||
        (e = read_all(fd, dir, dir_len, info.directory_offset))) {
        cli_error("%s: cannot read: %s", o->path, strerror(e));
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    qtf_file_close(*fp);
    *fp = NULL;
    /* a lease is only granted when no other process has the file open or
     * mapped; processes opening it meanwhile wait until it is released */
    signal(SIGIO, SIG_IGN); /* the lease-break notice: we are quick anyway */
    if (fcntl(fd, F_SETLEASE, F_WRLCK) != 0) {
        snprintf(why, why_len, errno == EAGAIN ? "another process has it open or mapped"
                                               : "no file lease: %s", strerror(errno));
        rc = -1;
        goto out;
    }
    unsigned char again[128];
    if ((e = read_all(fd, again, 128, 0)) || fstat(fd, &sb) || stat(o->path, &sp) ||
        sb.st_ino != sp.st_ino || sb.st_dev != sp.st_dev || memcmp(again, h0, 128) ||
        (uint64_t)sb.st_size != info.file_size) {
        snprintf(why, why_len, "it changed while being read");
        rc = -1;
        goto unlease;
    }
    /* new tail: metadata then the unchanged directory */
    const uint64_t S = meta_len + dir_len;
    uint64_t P = info.file_size > D + S ? info.file_size : D + S;
    P = (P + a - 1) / a * a;
    unsigned char *tail = malloc(S ? (size_t)S : 1);
    if (!tail) {
        cli_error("out of memory");
        rc = CLI_EXIT_FAIL;
        goto unlease;
    }
    memcpy(tail, meta, (size_t)meta_len);
    memcpy(tail + meta_len, dir, (size_t)dir_len);
    const uint32_t flags = qtf__ld32(h0 + 20) & ~(uint32_t)QTF_FILE_FLAG_EDITING;
    int step = 0;
    e = 0;
    /* 1: the flag, on the old content */
    if (!(qtf__ld32(h0 + 20) & QTF_FILE_FLAG_EDITING)) {
        make_header(h, h0, flags | QTF_FILE_FLAG_EDITING, info.metadata_count,
                    info.metadata_offset, old_meta, old_len, dir, dir_len);
        if (!(e = write_all(fd, h, 128, 0)) && fdatasync(fd)) e = errno;
    }
    if (!e) crash_point(step = 1);
    /* 2: the new sections where nothing points, after the end and after
     * where step 4 writes */
    if (!e && !(e = write_all(fd, tail, S, P)) && fdatasync(fd)) e = errno;
    if (!e) crash_point(step = 2);
    /* 3: commit */
    make_header(h, h0, flags | QTF_FILE_FLAG_EDITING, count, P, meta, meta_len, dir, dir_len);
    if (!e && !(e = write_all(fd, h, 128, 0)) && fdatasync(fd)) e = errno;
    if (!e) crash_point(step = 3);
    /* 4, 5: the same sections at their place; the header follows */
    if (!e && !(e = write_all(fd, tail, S, D)) && fdatasync(fd)) e = errno;
    if (!e) crash_point(step = 4);
    make_header(h, h0, flags | QTF_FILE_FLAG_EDITING, count, D, meta, meta_len, dir, dir_len);
    if (!e && !(e = write_all(fd, h, 128, 0)) && fdatasync(fd)) e = errno;
    if (!e) crash_point(step = 5);
    /* 6, 7: drop the stale bytes, then the flag */
    if (!e && (ftruncate(fd, (off_t)(D + S)) || fdatasync(fd))) e = errno;
    if (!e) crash_point(step = 6);
    make_header(h, h0, flags, count, D, meta, meta_len, dir, dir_len);
    if (!e && !(e = write_all(fd, h, 128, 0)) && fsync(fd)) e = errno;
    if (!e) crash_point(step = 7);
    free(tail);
    if (e && step < 3) {
        /* not committed: put the old header and size back (best effort; the
         * file is valid either way) */
        if (!write_all(fd, h0, 128, 0) && !ftruncate(fd, (off_t)info.file_size)) fsync(fd);
        cli_error("%s: in-place edit failed at step %d: %s; the file is unchanged", o->path,
                  step + 1, strerror(e));
        rc = CLI_EXIT_FAIL;
    } else if (e) {
        cli_error("%s: in-place edit failed at step %d: %s; the file holds the new metadata "
                  "but is not tidied up: run qtf-edit --finish on it", o->path, step + 1,
                  strerror(e));
        rc = CLI_EXIT_FAIL;
    }
    *written = 2 * S + 128 * 4;
unlease:
    fcntl(fd, F_SETLEASE, F_UNLCK);
out:
    close(fd);
    free(meta);
    free(old_meta);
    free(dir);
    return rc;
}

int main(int argc, char **argv) {
    cli_set_program("qtf-edit");
    options o;
    int rc = parse_args(&o, argc, argv);
    if (rc != 0) {
        free_ops(&o);
        return rc < 0 ? CLI_EXIT_OK : rc;
    }
    qtf_file *f = NULL;
    qtf_status st = qtf_file_open(&f, o.path, NULL);
    if (st) {
        cli_error_status(st, "cannot open '%s'", o.path);
        free_ops(&o);
        return CLI_EXIT_USAGE;
    }
    int n_set = 0, n_del = 0;
    char why[512] = "";
    uint64_t written = 0;
    int in_place = !o.out_path && !o.copy;
    if (in_place) {
        rc = edit_in_place(&o, &f, &n_set, &n_del, why, sizeof why, &written);
        if (rc == -1) { /* not possible: the copy, from the file as opened */
            in_place = 0;
            rc = 0;
            if (!f && (st = qtf_file_open(&f, o.path, NULL))) {
                cli_error_status(st, "cannot open '%s'", o.path);
                rc = CLI_EXIT_FAIL;
            }
        }
    } else if (o.copy) {
        snprintf(why, sizeof why, "--copy");
    }
    if (!in_place && !rc) rc = edit_copy(&o, f, &n_set, &n_del);
    qtf_file_close(f);
    if (!rc) {
        /* the result must open: header, metadata and directory re-validated */
        const char *target = o.out_path ? o.out_path : o.path;
        st = qtf_file_open(&f, target, NULL);
        if (st) {
            cli_error_status(st, "'%s' was written but does not open", target);
            rc = CLI_EXIT_FAIL;
        } else {
            if (!o.quiet && in_place)
                fprintf(stderr, "%s: %d key%s set, %d deleted; edited in place: %llu tensors "
                                "not touched, %llu bytes written\n", target, n_set,
                        n_set == 1 ? "" : "s", n_del, (unsigned long long)qtf_tensor_count(f),
                        (unsigned long long)written);
            else if (!o.quiet)
                fprintf(stderr, "%s: %d key%s set, %d deleted; %s%s%scopied and renamed: %llu "
                                "tensors kept as stored (data cloned, not rewritten)\n", target,
                        n_set, n_set == 1 ? "" : "s", n_del, *why ? "not in place (" : "", why,
                        *why ? "): " : "", (unsigned long long)qtf_tensor_count(f));
            qtf_file_close(f);
        }
    }
    free_ops(&o);
    return rc;
}
