/* qtf-verify — can this .qtf file be trusted and shipped? Checks structure,
 * every checksum (in parallel), that every tensor decodes, and with
 * --against how far each tensor is from its source checkpoint, with
 * thresholds and an exit code a release pipeline can gate on. Every failing
 * tensor is reported by name, not only the first. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "gguf_verify.h"
#include "report.h"
#include "checkpoint/gguf.h"
#include "checkpoint/importance.h"
#include "checkpoint/source.h"

#define MAX_IGNORE 64

typedef struct options {
    const char *path;
    const char *ignore[MAX_IGNORE];     /* --ignore globs */
    unsigned n_ignore;
    const char *against;
    const char *importance;             /* --importance FILE, or NULL */
    const char *plot;
    int force;
    const char *manifest;               /* --hash-manifest (GGUF) */
    int json, markdown, quiet, checksums_only;
    int has_max_rel_rmse, has_min_cosine, has_min_snr;
    double max_rel_rmse, min_cosine, min_snr;
    unsigned threads;
    qtf_open_options open;  /* decode limits, --no-mmap */
} options;

static void print_help(void) {
    printf(
"Usage: qtf-verify [OPTIONS] FILE.qtf\n"
"\n"
"Checks that a QTF file is sound and, with --against, how close every tensor\n"
"is to its source checkpoint. All problems are reported, each tensor by name.\n"
"A GGUF file (recognised by its content) gets the same checks: structure,\n"
"decoding of every tensor (a ggml type without a decoder here fails it), and\n"
"with --against the error against the checkpoint with names mapped back and\n"
"llama.cpp's Q/K row permutation undone; its data is checked only against\n"
"--hash-manifest (GGUF has no checksums).\n"
"\n"
"Checks:\n"
"  structure   header, metadata and directory (everything the reader validates)\n"
"              and zero padding in the data section\n"
"  checksums   the XXH3-64 of every part of every tensor, in parallel\n"
"  decode      every tensor has a known encoding and dequantizes (one tensor\n"
"              at a time: memory stays bounded by the largest tensor, one\n"
"              f32 copy of it, two with --against)\n"
"  source      with --against: every source tensor is in the file and every\n"
"              file tensor in the source, with the same shape; per tensor the\n"
"              relative RMSE ||W-W'||/||W||, max |W-W'|, SNR in dB\n"
"              (10 log10 ||W||^2/||W-W'||^2) and cosine similarity of the\n"
"              dequantized tensor W' against the source W; a summary weighted\n"
"              by element count; the %d worst tensors by relative RMSE\n"
"\n"
"Options:\n"
"  -a, --against SOURCE  compare with a checkpoint: a directory (safetensors,\n"
"                        sharded safetensors, pytorch_model.bin), a .safetensors\n"
"                        or pytorch_model.bin file, or another .qtf file\n"
"      --importance FILE with --against: also report the importance-weighted\n"
"                        relative error sqrt(sum a_j (W-W')^2 / sum a_j W^2)\n"
"                        per tensor and overall (a_j = E[x_j^2] of input column\n"
"                        j): the files qtf-convert --importance reads (1-D F32\n"
"                        vectors named like the weights, or a llama.cpp imatrix)\n"
"      --max-rel-rmse X  fail a tensor whose relative RMSE is above X\n"
"      --min-cosine X    fail a tensor whose cosine similarity is below X\n"
"      --min-snr X       fail a tensor whose SNR is below X dB\n"
"                        (thresholds need --against; a NaN metric fails)\n"
"      --ignore GLOB     with --against: do not compare tensors whose name\n"
"                        matches GLOB (fnmatch(3)), nor count them as missing or\n"
"                        extra, e.g. buffers a converter drops on purpose\n"
"                        ('*.rotary_emb.inv_freq'); repeatable (up to %d); their\n"
"                        checksums and decoding are still checked\n"
"      --checksums-only  structure and checksums only (no decoding)\n"
"      --hash-manifest FILE\n"
"                        GGUF input: check every tensor's data (and the model\n"
"                        hash) against llama-gguf-hash --sha256 or --xxh64\n"
"                        output; GGUF stores no checksums of its own\n"
"      --json            JSON report on stdout (schema: inspect/JSON-SCHEMA.md;\n"
"                        NaN and infinities as \"nan\", \"inf\", \"-inf\")\n"
"      --markdown        Markdown report on stdout (for CI summaries)\n"
"      --plot FILE.svg   write an SVG chart of the relative RMSE of every tensor\n"
"                        (log scale, file order, coloured by encoding); needs\n"
"                        --against; written atomically (temp file + rename);\n"
"                        an existing FILE.svg is kept unless --force, an input\n"
"                        (the verified file, the source) is never replaced\n"
"      --force           let --plot replace an existing file\n"
"  -q, --quiet           leave the per-tensor table out of text and Markdown\n"
"  -j, --threads N       threads (default: all cores, 0 = all cores)\n",
        REPORT_WORST, MAX_IGNORE);
    /* in two parts: C99 guarantees string literals of 4095 bytes only */
    printf(
CLI_OPEN_OPTIONS_HELP
"  -h, --help            this text\n"
"  -V, --version         program and library version\n"
"\n"
"Exit status:\n"
"  0  every check passed\n"
"  1  a check failed: a tensor checksum or the header checksum (header,\n"
"     metadata and directory), decode, threshold, or a missing or extra\n"
"     tensor or shape mismatch against the source\n"
"  2  usage error, or FILE or SOURCE cannot be opened or is malformed\n"
"\n"
"Examples:\n"
"  qtf-verify model.qtf\n"
"  qtf-verify model.qtf --against ./Llama-3-8B --max-rel-rmse 0.1 \\\n"
"             --min-cosine 0.99\n"
"  qtf-verify model.qtf --against model.safetensors --plot errors.svg --quiet\n"
"  qtf-verify model.qtf --json | jq '.tensors[] | select(.ok | not) | .name'\n");
}

static int parse_threshold(double *out, int *has, const char *opt, const char *arg) {
    if (!cli_parse_double(out, arg) || isinf(*out))
        return cli_usage_error("%s wants a finite number, not '%s'", opt, arg);
    *has = 1;
    return 0;
}

static int parse_args(options *o, int argc, char **argv) {
    enum { OPT_MAX_REL = 256, OPT_MIN_COS, OPT_MIN_SNR, OPT_JSON, OPT_MD, OPT_PLOT, OPT_CSUM,
           OPT_IGNORE, OPT_OPEN, OPT_FORCE, OPT_MANIFEST, OPT_IMPORTANCE };
    static const struct option longopts[] = {
        {"against", required_argument, NULL, 'a'},
        {"importance", required_argument, NULL, OPT_IMPORTANCE},
        {"max-rel-rmse", required_argument, NULL, OPT_MAX_REL},
        {"min-cosine", required_argument, NULL, OPT_MIN_COS},
        {"min-snr", required_argument, NULL, OPT_MIN_SNR},
        {"checksums-only", no_argument, NULL, OPT_CSUM},
        {"ignore", required_argument, NULL, OPT_IGNORE},
        {"hash-manifest", required_argument, NULL, OPT_MANIFEST},
        {"json", no_argument, NULL, OPT_JSON},
        {"markdown", no_argument, NULL, OPT_MD},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"force", no_argument, NULL, OPT_FORCE},
        {"quiet", no_argument, NULL, 'q'},
        {"threads", required_argument, NULL, 'j'},
        CLI_OPEN_LONG_OPTIONS(OPT_OPEN),
        CLI_END_LONG_OPTIONS,
    };
    memset(o, 0, sizeof *o);
    o->open = (qtf_open_options)QTF_OPEN_OPTIONS_INIT;
    opterr = 0;
    int c, rc, li = -1;
    uint64_t v;
    while ((c = getopt_long(argc, argv, ":a:qj:hV", longopts, &li)) != -1) {
        switch (c) {
        case 'a': o->against = optarg; break;
        case OPT_IMPORTANCE: o->importance = optarg; break;
        case OPT_MAX_REL:
            if ((rc = parse_threshold(&o->max_rel_rmse, &o->has_max_rel_rmse, "--max-rel-rmse", optarg))) return rc;
            break;
        case OPT_MIN_COS:
            if ((rc = parse_threshold(&o->min_cosine, &o->has_min_cosine, "--min-cosine", optarg))) return rc;
            break;
        case OPT_MIN_SNR:
            if ((rc = parse_threshold(&o->min_snr, &o->has_min_snr, "--min-snr", optarg))) return rc;
            break;
        case OPT_CSUM: o->checksums_only = 1; break;
        case OPT_OPEN:
            if ((rc = cli_open_option(&o->open, longopts[li].name, optarg))) return rc;
            break;
        case OPT_IGNORE:
            if (o->n_ignore == MAX_IGNORE) return cli_usage_error("at most %d --ignore patterns", MAX_IGNORE);
            o->ignore[o->n_ignore++] = optarg;
            break;
        case OPT_JSON: o->json = 1; break;
        case OPT_MD: o->markdown = 1; break;
        case OPT_PLOT: o->plot = optarg; break;
        case OPT_FORCE: o->force = 1; break;
        case OPT_MANIFEST: o->manifest = optarg; break;
        case 'q': o->quiet = 1; break;
        case 'j':
            if (!cli_parse_u64(&v, optarg, 4096))
                return cli_usage_error("--threads wants a number from 0 to 4096, not '%s'", optarg);
            o->threads = (unsigned)v;
            break;
        case 'h': print_help(); return -1;
        case 'V': cli_print_version(); return -1;
        default: return cli_getopt_error(c, argv, longopts);
        }
    }
    int usage = cli_take_one_path(&o->path, argc, argv);
    if (usage) return usage;
    if (o->json && o->markdown) return cli_usage_error("--json and --markdown exclude each other");
    if ((o->has_max_rel_rmse || o->has_min_cosine || o->has_min_snr) && !o->against)
        return cli_usage_error("thresholds need --against SOURCE");
    if (o->plot && !o->against) return cli_usage_error("--plot needs --against SOURCE");
    if (o->importance && !o->against)
        return cli_usage_error("--importance needs --against SOURCE");
    if (o->force && !o->plot) return cli_usage_error("--force needs --plot FILE");
    if (o->n_ignore && !o->against) return cli_usage_error("--ignore needs --against SOURCE");
    if (o->checksums_only && o->against)
        return cli_usage_error("--checksums-only and --against exclude each other");
    if (o->threads == 0) o->threads = qtf_default_threads();
    return 0;
}

static char *dup_escaped(const char *s) { return cli_escape_dup(s, strlen(s), 0); }

static char *dup_detail(void) { return cli_detail_dup(); }

static int same_shape(const qtf_tensor_info *t, const qtf_source_tensor *s) {
    if (t->n_dims != s->n_dims) return 0;
    for (uint32_t d = 0; d < t->n_dims && d < QTF_MAX_DIMS; d++)
        if (t->dims[d] != s->dims[d]) return 0;
    return 1;
}

static char *source_shape_text(const qtf_source_tensor *s) {
    return cli_dims_dup(s->n_dims < QTF_MAX_DIMS ? s->n_dims : QTF_MAX_DIMS, s->dims);
}

/* A float buffer that grows to the largest tensor seen and is then reused. */
typedef struct scratch {
    float *p;
    uint64_t cap;
} scratch;

static qtf_status scratch_reserve(scratch *s, uint64_t n) {
    if (n <= s->cap && s->p) return QTF_OK;
    if (n > SIZE_MAX / sizeof(float)) return QTF_E_NOMEM;
    free(s->p);
    s->p = malloc(n ? (size_t)n * sizeof(float) : sizeof(float));
    s->cap = s->p ? n : 0;
    return s->p ? QTF_OK : QTF_E_NOMEM;
}

static void check_checksums(verify_report *r, const qtf_file *f, unsigned threads) {
    uint64_t n = r->n;
    qtf_status *res = calloc(n ? n : 1, sizeof *res);
    double t0 = cli_now();
    qtf_status st = res ? qtf_file_verify(f, threads, res) : QTF_E_NOMEM;
    r->checksum_seconds = cli_now() - t0;
    char *detail = dup_detail();
    for (uint64_t i = 0; i < n; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        for (uint32_t p = 0; p < t->n_parts; p++) r->checksum_bytes += t->parts[p].stored_size;
    }
    if (!res) {
        r->structure = QTF_E_NOMEM;
        r->structure_error = detail;
        return;
    }
    int any_tensor = 0;
    for (uint64_t i = 0; i < n; i++) {
        r->t[i].checksum = res[i];
        if (res[i] == QTF_OK) continue;
        any_tensor = 1;
        r->t[i].fail |= VF_CHECKSUM;
        /* Per-tensor details are lost across threads: ask again for this one.
         * A padding error is only found by the file-wide pass. */
        qtf_status again = qtf_tensor_verify(f, i);
        r->t[i].checksum_error = again != QTF_OK ? dup_detail()
                                                 : dup_escaped("padding after the tensor is not zero");
    }
    /* The file-wide result also covers the padding after the header. */
    if (st != QTF_OK && !(any_tensor && (st == QTF_E_CHECKSUM || st == QTF_E_OFFSET ||
                                         st == QTF_E_COMPRESSION))) {
        r->structure = st;
        r->structure_error = detail;
        detail = NULL;
    }
    free(detail);
    free(res);
}

static int open_source(qtf_source **src, const char *path, const qtf_open_options *oo) {
    qtf_status st = qtf_source_open_with(src, path, oo);
    if (st != QTF_OK) {
        char *p = dup_escaped(path);
        cli_error_status(st, "cannot open the source '%s'", p ? p : "?");
        free(p);
        return 0;
    }
    if (qtf_source_get_kind(*src) == QTF_SOURCE_QTF && !(oo->flags & QTF_OPEN_NO_MMAP))
        cli_guard_mapped_file(path);
    const char *note = qtf_source_note(*src);
    if (note) {
        char *n = dup_escaped(note);
        cli_error("warning: %s", n ? n : "?");
        free(n);
    }
    return 1;
}

/* The dequantized tensor and its source, reused from tensor to tensor. */
typedef struct stage {
    scratch deq, ref;
    int compare;                /* both buffers hold the current tensor, same shape */
} stage;

typedef struct tensor_job {
    const options *o;
    verify_report *r;
    const qtf_file *f;
    const qtf_source *src;
    const qtf_importance *importance;
    unsigned threads;
    uint64_t index;
    stage *stage;
} tensor_job;

static char *dup_message(const char *fmt, unsigned long long v) {
    char msg[128];
    snprintf(msg, sizeof msg, fmt, v);
    return dup_escaped(msg);
}

static int ignored(const options *o, const char *name) {
    for (unsigned k = 0; k < o->n_ignore; k++)
        if (cli_glob_match(o->ignore[k], name)) return 1;
    return 0;
}

static int is_float_encoding(const qtf_tensor_info *t) {
    qtf_encoding_id id = t->encoding.id;
    return id == QTF_ENC_RAW || id == QTF_ENC_F32 || id == QTF_ENC_F16 || id == QTF_ENC_BF16;
}

/* Matches the tensor with the source, dequantizes it and reads the source
 * tensor as f32. */
static void prepare_tensor(const tensor_job *job) {
    const qtf_tensor_info *t = qtf_tensor_get(job->f, job->index);
    vt_result *v = &job->r->t[job->index];
    stage *sg = job->stage;
    sg->compare = 0;
    uint64_t si = 0;
    const qtf_source_tensor *st = NULL;
    v->ignored = job->src && ignored(job->o, t->name);
    if (job->src && !v->ignored) {
        if (qtf_source_tensor_find(&si, job->src, t->name) == QTF_OK) st = qtf_source_tensor_get(job->src, si);
        v->in_source = st != NULL;
        if (!st) v->fail |= VF_EXTRA;
        else if (!same_shape(t, st)) {
            v->fail |= VF_SHAPE;
            v->source_shape = source_shape_text(st);
        }
    }
    v->decode_checked = 1;
    if (!t->encoding_known) {
        v->decode = QTF_E_UNKNOWN_ENCODING;
        char why[512];
        v->decode_error = dup_escaped(cli_unknown_encoding_text(why, sizeof why, t));
        v->fail |= VF_DECODE;
        return;
    }
    v->decode = scratch_reserve(&sg->deq, t->n_elements);
    if (v->decode != QTF_OK) {
        v->decode_error = dup_message("cannot allocate %llu floats", t->n_elements);
    } else {
        v->decode = qtf_tensor_dequantize(sg->deq.p, QTF_DTYPE_F32, t->n_elements, job->f, job->index,
                                          job->threads);
        if (v->decode != QTF_OK) v->decode_error = dup_detail();
    }
    if (v->decode != QTF_OK) {
        v->fail |= VF_DECODE;
        return;
    }
    /* Only the float encodings can hold a NaN or Inf of the source:
     * anything else decoding to one is damage, whatever the checksums say. */
    report_check_decoded(v, sg->deq.p, t->n_elements, is_float_encoding(t));
    if (!st || (v->fail & VF_SHAPE)) return;
    qtf_status rs = scratch_reserve(&sg->ref, st->n_elements);
    if (rs == QTF_OK) rs = qtf_source_read_f32(sg->ref.p, st->n_elements, job->src, si, job->threads);
    if (rs != QTF_OK) {
        v->fail |= VF_SOURCE;
        v->source_error = rs == QTF_E_NOMEM && !qtf_error_detail()[0]
                              ? dup_message("cannot allocate %llu floats", st->n_elements)
                              : dup_detail();
        return;
    }
    sg->compare = 1;
}

static void compare_tensor(verify_report *r, uint64_t i, const stage *sg,
                           const qtf_importance *imp) {
    vt_result *v = &r->t[i];
    if (!sg->compare) return;
    if (!report_check_source(v, sg->deq.p, sg->ref.p, v->n_elements)) return;
    uint64_t cols = 0;
    const float *a = imp ? qtf_importance_find(imp, v->raw_name, &cols) : NULL;
    if (qtf_metrics_compute(&v->m, sg->ref.p, sg->deq.p, v->n_elements, NULL, 0) != QTF_OK ||
        (a && report_importance_error(v, sg->ref.p, sg->deq.p, v->n_elements, a, cols) != QTF_OK)) {
        v->fail |= VF_SOURCE;
        v->source_error = dup_detail();
        return;
    }
    v->compared = 1;
}

/* Decodes every tensor, one at a time into reused buffers, and with a
 * source compares it. Each tensor's results depend only on that tensor, so
 * the report is the same for any thread count. The threads go to the
 * library's dequantization and source conversion; running tensors side by
 * side was measured slower (bench/RESULTS-tools.md): the work streams
 * through memory, and more buffers cost more page faults than they save. */
static void check_tensors(const options *o, verify_report *r, const qtf_file *f, const qtf_source *src,
                          const qtf_importance *imp, unsigned threads) {
    stage sg;
    memset(&sg, 0, sizeof sg);
    double t0 = cli_now();
    tensor_job job = {o, r, f, src, imp, threads, 0, &sg};
    for (uint64_t i = 0; i < r->n; i++) {
        job.index = i;
        prepare_tensor(&job);
        compare_tensor(r, i, &sg, imp);
    }
    r->decode_seconds = cli_now() - t0;
    free(sg.deq.p);
    free(sg.ref.p);
}

static int find_missing(const options *o, verify_report *r, const qtf_file *f, const qtf_source *src) {
    uint64_t ns = qtf_source_tensor_count(src), cap = 0;
    r->source_tensors = ns;
    for (uint64_t i = 0; i < ns; i++) {
        const qtf_source_tensor *st = qtf_source_tensor_get(src, i);
        uint64_t idx;
        if (!st || ignored(o, st->name) || qtf_tensor_find(&idx, f, st->name) == QTF_OK) continue;
        if (r->n_missing == cap) {
            cap = cap ? cap * 2 : 16;
            char **p = realloc(r->missing, cap * sizeof *p);
            if (!p) return 0;
            r->missing = p;
        }
        r->missing[r->n_missing] = dup_escaped(st->name);
        if (!r->missing[r->n_missing]) return 0;
        r->n_missing++;
    }
    return 1;
}

/* Opens the --plot output before any work, so that a refused destination
 * (an existing file without --force, or an input: the verified file or a
 * file of the source) is reported at once. */
static int open_plot(cli_output **out, const options *o, const qtf_source *src) {
    uint32_t n_src = src ? qtf_source_input_count(src) : 0;
    const char **inputs = malloc((2 + (size_t)n_src) * sizeof *inputs);
    if (!inputs) {
        cli_error("out of memory");
        return 0;
    }
    size_t n = 0;
    inputs[n++] = o->path;
    inputs[n++] = o->against;
    for (uint32_t i = 0; i < n_src; i++) inputs[n++] = qtf_source_input_path(src, i);
    qtf_status st = cli_output_open(out, o->plot, o->force, inputs, n);
    free(inputs);
    if (st != QTF_OK) {
        char *p = dup_escaped(o->plot);
        cli_error_status(st, "cannot write the chart '%s'", p ? p : "?");
        free(p);
        return 0;
    }
    return 1;
}

/* Thresholds from the options, then the report in the chosen form. Returns
 * the exit status. */
static int emit_report(const options *o, verify_report *r, int ok, const char *file_disp,
                       cli_output *plot) {
    r->has_max_rel_rmse = o->has_max_rel_rmse;
    r->max_rel_rmse = o->max_rel_rmse;
    r->has_min_cosine = o->has_min_cosine;
    r->min_cosine = o->min_cosine;
    r->has_min_snr = o->has_min_snr;
    r->min_snr = o->min_snr;
    r->threads = o->threads;
    r->checksums_only = o->checksums_only;
    if (ok) ok = report_finish(r);
    int exit_code = CLI_EXIT_FAIL;
    if (!ok) {
        cli_error("out of memory");
    } else {
        exit_code = r->ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        if (o->json) {
            json_t *j = report_json(r);
            /* A failed write to stdout is reported once, below. */
            if (!j || (cli_json_print(j, stdout) != 0 && !ferror(stdout))) {
                cli_error("out of memory while writing the JSON report");
                exit_code = CLI_EXIT_FAIL;
            }
            json_decref(j);
        } else if (o->markdown) {
            report_print_markdown(r, stdout, o->quiet);
        } else {
            report_print_text(r, stdout, o->quiet);
        }
        if (plot) {
            qtf_status ps = svg_write_chart(r, plot);
            if (ps == QTF_OK) ps = cli_output_commit(plot);
            else cli_output_abort(plot);
            plot = NULL;
            if (ps != QTF_OK) {
                char *p = dup_escaped(o->plot);
                if (ps == QTF_E_NOMEM) cli_error("cannot write the chart '%s': out of memory",
                                                 p ? p : "?");
                else cli_error_status(ps, "cannot write the chart '%s'", p ? p : "?");
                free(p);
                exit_code = CLI_EXIT_FAIL;
            }
        }
        if (!r->ok && !o->json)
            cli_error("%s: verification FAILED", file_disp);
    }
    cli_output_abort(plot);
    return exit_code;
}

/* A GGUF file: the same report, filled by inspect/gguf_verify.c. */
static int verify_gguf(const options *o) {
    cli_output *plot = NULL;
    if (o->plot && !open_plot(&plot, o, NULL)) return CLI_EXIT_USAGE;
    verify_report r;
    memset(&r, 0, sizeof r);
    char *file_disp = dup_escaped(o->path);
    char *against_disp = o->against ? dup_escaped(o->against) : NULL;
    char *manifest_disp = o->manifest ? dup_escaped(o->manifest) : NULL;
    r.file = file_disp;
    r.against = against_disp;
    r.file_raw = o->path;
    r.against_raw = o->against;
    r.manifest = manifest_disp;
    r.manifest_raw = o->manifest;
    char *importance_disp = o->importance ? dup_escaped(o->importance) : NULL;
    r.importance = importance_disp;
    r.importance_raw = o->importance;
    gguf_verify_options go = { o->path, o->against, o->manifest, o->ignore, o->n_ignore,
                               o->checksums_only, o->threads, o->importance };
    int rc = file_disp && (!o->against || against_disp) && (!o->manifest || manifest_disp) &&
                     (!o->importance || importance_disp)
                 ? gguf_verify_build(&r, &go) : 1;
    int exit_code;
    if (rc == 2) {
        cli_output_abort(plot);
        exit_code = CLI_EXIT_USAGE;
    } else {
        exit_code = emit_report(o, &r, rc == 0, file_disp, plot);
    }
    gguf_verify_free(&r);
    report_free(&r);
    free(file_disp);
    free(against_disp);
    free(manifest_disp);
    free(importance_disp);
    return cli_finish_stdout(exit_code);
}

int main(int argc, char **argv) {
    cli_set_program("qtf-verify");
    options o;
    int rc = parse_args(&o, argc, argv);
    if (rc != 0) return rc < 0 ? CLI_EXIT_OK : rc;
    if (qtf_gguf_file_is_gguf(o.path)) return verify_gguf(&o);
    if (o.manifest)
        return cli_usage_error("--hash-manifest applies to GGUF files (a QTF file checks its own "
                               "checksums)");

    qtf_file *f = NULL;
    qtf_status st = qtf_file_open(&f, o.path, &o.open);
    if (st != QTF_OK) {
        char *p = dup_escaped(o.path);
        cli_error_status(st, "cannot open '%s'", p ? p : "?");
        free(p);
        /* Bytes that fail the header checksum are damage the verifier found
         * (a check failed), not a file it could not read. */
        return st == QTF_E_CHECKSUM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
    }
    if (!(o.open.flags & QTF_OPEN_NO_MMAP)) cli_guard_mapped_file(o.path);
    qtf_source *src = NULL;
    if (o.against && !open_source(&src, o.against, &o.open)) {
        qtf_file_close(f);
        return CLI_EXIT_USAGE;
    }

    qtf_importance *imp = NULL;
    if (o.importance) {
        char err[4096];
        if (qtf_importance_open(&imp, o.importance, src, err, sizeof err) != 0) {
            char *m = dup_escaped(err);
            cli_error("%s", m ? m : "cannot read the importance file");
            free(m);
            qtf_source_close(src);
            qtf_file_close(f);
            return CLI_EXIT_USAGE;
        }
    }

    cli_output *plot = NULL;
    if (o.plot && !open_plot(&plot, &o, src)) {
        qtf_importance_close(imp);
        qtf_source_close(src);
        qtf_file_close(f);
        return CLI_EXIT_USAGE;
    }

    verify_report r;
    memset(&r, 0, sizeof r);
    char *file_disp = dup_escaped(o.path);
    char *against_disp = o.against ? dup_escaped(o.against) : NULL;
    char *importance_disp = o.importance ? dup_escaped(o.importance) : NULL;
    r.file = file_disp;
    r.against = against_disp;
    r.importance = importance_disp;
    r.importance_raw = o.importance;
    r.file_raw = o.path;
    r.against_raw = o.against;
    r.against_kind = src ? qtf_source_kind_name(qtf_source_get_kind(src)) : NULL;
    r.metadata_count = qtf_meta_count(f);
    r.n = qtf_tensor_count(f);
    r.t = calloc(r.n ? r.n : 1, sizeof *r.t);
    int ok = r.t && file_disp && (!o.against || against_disp) && (!o.importance || importance_disp);
    for (uint64_t i = 0; ok && i < r.n; i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        vt_result *v = &r.t[i];
        v->name = dup_escaped(t->name);
        v->raw_name = strdup(t->name);
        cli_encoding_text(v->encoding, sizeof v->encoding, t);
        v->n_elements = t->n_elements;
        cli_buf b;
        cli_buf_init(&b);
        cli_shape_text(&b, t);
        v->shape = cli_buf_take(&b);
        ok = v->name && v->raw_name && v->shape;
    }
    if (ok) {
        check_checksums(&r, f, o.threads);
        if (!o.checksums_only) check_tensors(&o, &r, f, src, imp, o.threads);
        if (src) ok = find_missing(&o, &r, f, src);
    }
    int exit_code = emit_report(&o, &r, ok, file_disp, plot);
    report_free(&r);
    free(file_disp);
    free(against_disp);
    free(importance_disp);
    qtf_importance_close(imp);
    qtf_source_close(src);
    qtf_file_close(f);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write to standard output");
        return CLI_EXIT_FAIL;
    }
    return exit_code;
}
