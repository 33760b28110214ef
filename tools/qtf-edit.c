/* qtf-edit — sets, replaces and deletes metadata keys and embedded files of a
 * .qtf without rewriting its tensors. The edits themselves are libqtf's
 * (qtf_writer_create_edit); this tool turns options into metadata calls and
 * picks the procedure.
 *
 * In place (the default; spec/FORMAT.md section 13.1): an edit writer with
 * QTF_WRITER_IN_PLACE collects the metadata, and its finish writes it after
 * the data of the file itself in seven durable steps, switching the header
 * by one write, so that a crash leaves the old or the new metadata (how and
 * why: lib/edit.c). libqtf refuses (QTF_E_UNSUPPORTED, nothing written) when
 * it cannot take a write lease (another process has the file open or
 * mapped: it would see its metadata change), cannot write the file, or the
 * file changed since it was opened; this tool then copies and renames.
 * `qtf-edit --finish` is an in-place edit with no change: it tidies a file
 * an interrupted edit left with the EDITING flag.
 *
 * Copy and rename (the fallback when in place is not possible, -o, or
 * --copy): qtf_writer_create_edit() without the flag starts a temp file in
 * the same folder whose data section is the original's, cloned with
 * copy_file_range (extents shared on reflink filesystems such as btrfs and
 * XFS; an in-kernel copy elsewhere), and whose directory is copied as
 * stored: tensors are not decoded, re-encoded or re-hashed, and their
 * checksums stay what they were. The metadata is written anew, the header
 * checksum recomputed, and the temp file fsynced and renamed over the target.
 *
 * Both give the same bytes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_util.h"

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
 * would (each step was made durable before libqtf reports it). */
static void crash_point(void *ctx, int step) {
    const char *s = ctx;
    if (atoi(s) == step) _exit(70);
}

/* The text after "in place not possible: " in libqtf's detail (see
 * qtf_writer_create_edit), else the whole detail. */
static void refusal_reason(char *why, size_t why_len) {
    static const char tag[] = "in place not possible: ";
    const char *d = qtf_error_detail(), *r = strstr(d, tag);
    snprintf(why, why_len, "%s", r ? r + sizeof tag - 1 : d);
}

/* Returns 0 (done), -1 (in place not possible, *why says why, nothing
 * changed) or an exit code after a message. Closes *fp (sets it NULL) before
 * the edit: this process's own mapping would make the lease fail. */
static int edit_in_place(options *o, qtf_file **fp, int *n_set, int *n_del, char *why,
                         size_t why_len) {
    qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
    wo.flags = QTF_WRITER_IN_PLACE;
    const char *crash = getenv("QTF_EDIT_CRASH_AFTER");
    if (crash && *crash) {
        wo.on_step = crash_point;
        wo.step_ctx = (void *)crash;
    }
    qtf_writer *w = NULL;
    qtf_status st = qtf_writer_create_edit(&w, o->path, *fp, &wo);
    if (st) {
        cli_error_status(st, "cannot start editing '%s'", o->path);
        return CLI_EXIT_FAIL;
    }
    int rc = fill_metadata(o, *fp, w, n_set, n_del);
    if (rc) return rc;
    qtf_file_close(*fp);
    *fp = NULL;
    st = qtf_writer_finish(w);
    if (st == QTF_E_UNSUPPORTED) {
        refusal_reason(why, why_len);
        return -1;
    }
    if (st) {
        cli_error_status(st, "cannot edit '%s' in place", o->path);
        return CLI_EXIT_FAIL;
    }
    return 0;
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
    char why[1024] = "";
    int in_place = !o.out_path && !o.copy;
    if (in_place) {
        rc = edit_in_place(&o, &f, &n_set, &n_del, why, sizeof why);
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
            /* twice the new metadata and directory, and four headers */
            const qtf_file_info *fi = qtf_file_get_info(f);
            unsigned long long written = 2 * (fi->metadata_size + fi->directory_size) +
                                         4ull * QTF_HEADER_SIZE;
            if (!o.quiet && in_place)
                fprintf(stderr, "%s: %d key%s set, %d deleted; edited in place: %llu tensors "
                                "not touched, %llu bytes written\n", target, n_set,
                        n_set == 1 ? "" : "s", n_del, (unsigned long long)qtf_tensor_count(f), written);
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
