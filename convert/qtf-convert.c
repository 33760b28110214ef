/* qtf-convert — turns a Hugging Face checkpoint (or a .qtf) into one
 * compact, checksummed .qtf file, or a .qtf back into .safetensors. */
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/progress.h"
#include "convert.h"
#include "checkpoint/gguf.h"
#include "gguf_in.h"
#include "gguf_out.h"
#include "gguf_recipe.h"
#include "folder.h"
#include "target.h"

static volatile sig_atomic_t got_signal = 0;

/* Ends the process by signal `sig` (exit status 128+sig), leaving the
 * terminal on a clean line. Async-signal-safe. */
static void die_by(int sig) {
    qtfc_progress_interrupted();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* The first SIGINT/SIGTERM/SIGHUP asks the conversion to stop between
 * tensors (the writers then clean up); a tool blocked in a read or busy with
 * one large tensor would not get there, so a second later the process ends
 * anyway. The writers' unnamed temp files (O_TMPFILE) leave nothing behind
 * either way. A second signal ends it at once. */
static void on_alarm(int sig) {
    (void)sig;
    die_by(got_signal ? (int)got_signal : SIGTERM);
}

static void on_signal(int sig) {
    if (got_signal) die_by(sig);
    got_signal = sig;
    alarm(1);
}

/* Stop between tensors on SIGINT/SIGTERM so the writers can clean up. */
static void install_signal_handlers(void) {
    cli_on_signal(SIGINT, on_signal);
    cli_on_signal(SIGTERM, on_signal);
    cli_on_signal(SIGHUP, on_signal);
    cli_on_signal(SIGALRM, on_alarm);
    /* A file-size limit must surface as a write error (EFBIG), not kill us. */
    signal(SIGXFSZ, SIG_IGN);
}

static void usage(FILE *f) {
    fprintf(f,
"Usage: qtf-convert [OPTIONS] INPUT OUTPUT\n"
"\n"
"Converts a downloaded Hugging Face model into one compact, checksummed .qtf\n"
"file, streaming one tensor at a time (memory: about 3x the largest tensor in\n"
"f32, whatever the model size).\n"
"\n"
"INPUT   a model folder (model.safetensors, sharded *.safetensors + index,\n"
"        pytorch_model.bin, sharded .bin + index), one such file, or a .qtf\n"
"        to re-encode or decode.\n"
"OUTPUT  FILE.qtf; or FILE.safetensors to write every tensor dequantized to\n"
"        the --encoding f32|f16|bf16|keep (integer tensors keep their type);\n"
"        or DIR/ (an existing folder or a path ending in '/') from a .qtf: a\n"
"        Hugging Face folder back, the embedded config.json,\n"
"        generation_config.json and tokenizer files byte for byte and the\n"
"        tensors as safetensors (--encoding keep by default: source dtypes),\n"
"        sharded with model.safetensors.index.json; the folder must be new\n"
"        or empty.\n"
"      --max-shard-size SIZE  largest safetensors shard of a folder output\n"
"                        (bytes, or 500MB, 5GB, 2GiB; default 5GB)\n"
"\n""\n");
    fprintf(f,
"GGUF (llama.cpp's format):\n"
"  OUTPUT FILE.gguf      from a checkpoint or a .qtf: what llama.cpp loads\n"
"                        (architecture keys from config.json, tokenizer from\n"
"                        tokenizer.model / tokenizer.json / tok512.bin, tensors\n"
"                        renamed and Q/K rows permuted as llama.cpp does)\n"
"  -e PRESET             f32 f16 bf16 q8_0 q6_k q5_k_m q5_1 q5_0 q4_k_m q4_1\n"
"                        q4_0 q3_k_m q2_k iq4_xs iq4_nl: per-tensor types as\n"
"                        llama-quantize chooses them (default f16; from a .qtf\n"
"                        without -e: its stored ggml types, blocks copied)\n"
"      --pure            the preset's type for every matrix (llama-quantize\n"
"                        --pure); norms stay F32\n"
"  -r GLOB=TYPE          ggml type (q6_k, f16, ...) for GGUF tensor names\n"
"                        matching GLOB, before the preset\n"
"      --importance imatrix.gguf  llama-imatrix's importance matrix\n"
"      --name NAME       general.name (default: the model folder's name)\n"
"  INPUT FILE.gguf       to FILE.qtf (ggml blocks copied under Hugging Face\n"
"                        names, checksummed; converts back to the same GGUF)\n"
"                        or to FILE.safetensors (dequantized, -e f32|f16|bf16)\n"
"  --dry-run with a .gguf OUTPUT prints the recipe and every tensor's type;\n"
"  nothing is written.\n"
"\n"
"Encoding choice (.qtf output):\n"
"  -e, --encoding SPEC   encoding of weight matrices (default: int8, i.e. 8-bit\n"
"                        symmetric with one f16 scale per row: safe everywhere)\n"
"  -r, --rule GLOB=SPEC  encoding for tensors whose name matches GLOB; repeatable,\n"
"                        the first matching rule wins; rules come before the\n"
"                        default policy\n"
"      --recipe FILE     rules from FILE, one GLOB=SPEC per line; blank lines and\n"
"                        lines starting with '#' are ignored; rules from --recipe\n"
"                        and --rule keep their command-line order\n"
"      --fallback SPEC   encoding for tensors the chosen one cannot apply to\n"
"                        (e.g. a row length not divisible by the group); without\n"
"                        it such a tensor is an error\n"
"      --all-layers      embeddings and the output head get the default encoding\n"
"                        too\n"
"      --importance FILE\n"
"                        per-column importance for the search quantizers:\n"
"                        FILE.safetensors (1-D F32, one value per input feature:\n"
"                        an element of a row, dims[0] for a GPT-2 Conv1D weight;\n"
"                        by tensor name), or llama.cpp's imatrix (GGUF or\n"
"                        legacy .dat, llama.cpp names mapped through config.json);\n"
"                        a tensor without a vector is weighted uniformly;\n"
"                        with --target-bpw, values NAME.sensitivity (one F32\n"
"                        each, bench/model_quality.py importance) weigh each\n"
"                        tensor's error by the loss's sensitivity to it\n");
    fprintf(f,
"      --target-bpw X    choose each weight matrix's encoding from a candidate\n"
"                        ladder so that the tensors take at most X bits per\n"
"                        weight (every tensor counted) with the least summed\n"
"                        predicted (importance-weighted) error, no tensor\n"
"                        below the best single fixed-rate encoding that fits\n"
"                        (the floor); --rule pins tensors; --dry-run shows\n"
"                        the allocation. For a .gguf output the candidates\n"
"                        are ggml types (f16, q8_0, q6_k .. q2_k: k-quants\n"
"                        and legacy quants, no iq4; no -e PRESET)\n"
"      --target-size BYTES\n"
"                        the same for a budget of BYTES tensor bytes\n"
"      --target-ladder qtf|ggml\n"
"                        the candidates of a .qtf output: QTF's encodings\n"
"                        (default) or only ggml types, so that the .qtf\n"
"                        converts to GGUF with its blocks copied\n"
"\n"
"  SPEC is an encoding NAME[:OPTION,...] such as int8, int4:group=32,asym,\n"
"  nf4:group=64,dq, mxfp4, q4_0, pal4:rows=8, f16, bf16, int8:zstd (zstd\n"
"  compresses the stored parts), or `keep`: the source type unchanged\n"
"  (`keep:zstd[=N]`: the same, zstd-compressed).\n"
"  GLOB is an fnmatch pattern on the full tensor name; '*' also matches '.'.\n"
"\n");
    fprintf(f,
"  Default policy, in order:\n"
"    1. integer and bool tensors are always stored unchanged (lossless);\n"
"    2. the first matching --rule/--recipe rule (it applies to every float\n"
"       tensor it matches, 1-D ones included);\n"
"    3. 1-D tensors (norms, biases) and tensors under 4096 elements: keep;\n"
"    4. embeddings and the output head (*embed_tokens*, *wte*, *wpe*,\n"
"       *lm_head*, *embed_out*, *word_embeddings*): int8 when the default is\n"
"       narrower than 8 bits, unless --all-layers;\n"
"    5. everything else: the --encoding.\n"
"  Weights whose input is their first axis (GPT-2's Conv1D [in, out], from the\n"
"  architecture of config.json) are stored transposed when their encoding is\n"
"  lossy, so that groups run along the input (container format 1.1); every\n"
"  reader still returns them as [in, out].\n"
"\n"
"Other options:\n"
"  -n, --dry-run         print the plan (tensor, shape, source dtype, encoding,\n"
"                        bytes, bits/weight) and totals; write nothing\n"
"  -j, --threads N       worker threads (default 0 = all cores); the output is\n"
"                        identical for any N; with N > 1 one of them reads the\n"
"                        next tensor while the current one is written\n"
"  -q, --quiet           no progress, summary or warnings (errors only)\n"
"  -v, --verbose         one line per tensor and per fallback\n"
"      --progress        force the progress line even when stderr is not a\n"
"                        terminal (default: only on a terminal)\n"
"  (for a .qtf INPUT)\n"
"      --allow-requantize  re-quantize tensors that the .qtf INPUT already\n"
"                        stores lossy (refused by default: the errors add up)\n"
CLI_OPEN_OPTIONS_HELP
"      --force           replace an existing OUTPUT (without it, an existing\n"
"                        file is refused); an input (checkpoint file, shard,\n"
"                        index, importance file, recipe, embedded file) is\n"
"                        never replaced, whatever path or link names it; an\n"
"                        existing device or FIFO (/dev/null) is written to\n"
"  -h, --help            this text\n"
"  -V, --version         version\n"
"\n");
    fprintf(f,
"Embedded in the .qtf: config.json, generation_config.json and tokenizer files\n"
"(hf.file.<name>), general.architecture, general.name, hf.config.<field>,\n"
"qtf.source.format/files/sizes, qtf.converter, qtf.recipe and every tensor's\n"
"source dtype.\n"
"\n"
"Exit status: 0 success; 1 processing failure (write error, quantization\n"
"error); 2 usage or input error (bad option, unreadable or malformed\n"
"checkpoint, recipe error, encoding that cannot apply); 128+N when stopped\n"
"by signal N. On failure nothing is left at OUTPUT and an existing OUTPUT is\n"
"untouched. A refused OUTPUT (exists without --force, is an input) exits 2.\n"
"\n"
"Examples:\n"
"  qtf-convert ~/models/Llama-3.2-1B llama-int8.qtf\n"
"  qtf-convert -e int4:group=32 --fallback int8 model/ model-int4.qtf\n"
"  qtf-convert -e nf4:group=64,dq -r '*.mlp.down_proj.*=int8' model/ m.qtf\n"
"  qtf-convert -e pal4:rows=8 --dry-run model/\n"
"  qtf-convert --encoding bf16 model.qtf model.safetensors\n"
"  qtf-convert model.qtf hf-folder/\n"
"  qtf-convert -e q4_k_m --importance imatrix.gguf model/ model-Q4_K_M.gguf\n"
"  qtf-convert model-Q4_K_M.gguf model.qtf\n");
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The one place that decides what OUTPUT becomes: an existing directory or a
 * path ending in '/' is a Hugging Face folder back from a .qtf
 * (convert/folder.c, *folder = 1); otherwise the extension: .qtf,
 * .safetensors or .gguf (*gguf = 1), anything else refused except an existing device or FIFO without a known extension
 * (/dev/null), which gets a QTF stream. 0, or -1 with why in err. */
static int output_kind_of(qtfc_output_kind *out, int *folder, int *gguf, const char *path,
                          char *err, size_t cap) {
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    *folder = 0;
    *gguf = 0;
    if ((exists && S_ISDIR(sb.st_mode)) || ends_with(path, "/")) {
        *folder = 1;
        *out = QTFC_OUTPUT_QTF;
        return 0;
    }
    if (ends_with(path, ".qtf")) {
        *out = QTFC_OUTPUT_QTF;
        return 0;
    }
    if (ends_with(path, ".safetensors")) {
        *out = QTFC_OUTPUT_SAFETENSORS;
        return 0;
    }
    if (exists && !S_ISREG(sb.st_mode)) {
        *out = QTFC_OUTPUT_QTF;
        return 0;
    }
    if (ends_with(path, ".gguf")) {
        *gguf = 1; /* the GGUF writer (convert/gguf_convert.c) */
        *out = QTFC_OUTPUT_QTF;
        return 0;
    }
    snprintf(err, cap, "output '%s': unknown extension; name it FILE.qtf (QTF), FILE.gguf "
             "(llama.cpp), FILE.safetensors (dequantized) or DIR/ (a Hugging Face folder)",
             path);
    return -1;
}

/* A usage error (exit 2) when OUTPUT's directory does not exist: a typo in
 * the command, not a failure of the conversion. */
static int output_dir_exists(const char *path) {
    char dir[4096];
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--; /* a folder output "new/" */
    if (len >= sizeof dir) return 1; /* let the writer report it */
    memcpy(dir, path, len);
    dir[len] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash) return 1;
    if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    struct stat sb;
    return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* --target-bpw X (0 < X <= 64) or --target-size BYTES (> 0). */
static int parse_target(qtfc_target_options *t, int bpw, const char *s) {
    char *end;
    errno = 0;
    if (bpw) {
        double v = strtod(s, &end);
        if (errno || end == s || *end || !(v > 0.0 && v <= 64.0)) return -1;
        t->target_bpw = v;
        t->target_bytes = 0;
    } else {
        if (*s < '0' || *s > '9') return -1;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || v == 0) return -1;
        t->target_bytes = (uint64_t)v;
        t->target_bpw = 0;
    }
    return 0;
}

enum { OPT_RECIPE = 256, OPT_FALLBACK, OPT_ALL_LAYERS, OPT_IMPORTANCE, OPT_PROGRESS,
       OPT_MAX_SHARD, OPT_FORCE, OPT_TARGET_BPW, OPT_TARGET_SIZE, OPT_PURE, OPT_NAME,
       OPT_OPEN, OPT_ALLOW_REQUANTIZE, OPT_TARGET_LADDER };

/* Recipe files given with --recipe: inputs the output must never replace. */
#define MAX_RECIPES 64

int main(int argc, char **argv) {
    static const struct option long_opts[] = {
        { "encoding", required_argument, NULL, 'e' },
        { "rule", required_argument, NULL, 'r' },
        { "recipe", required_argument, NULL, OPT_RECIPE },
        { "fallback", required_argument, NULL, OPT_FALLBACK },
        { "all-layers", no_argument, NULL, OPT_ALL_LAYERS },
        { "importance", required_argument, NULL, OPT_IMPORTANCE },
        { "target-bpw", required_argument, NULL, OPT_TARGET_BPW },
        { "target-size", required_argument, NULL, OPT_TARGET_SIZE },
        { "dry-run", no_argument, NULL, 'n' },
        { "threads", required_argument, NULL, 'j' },
        { "allow-requantize", no_argument, NULL, OPT_ALLOW_REQUANTIZE },
        { "target-ladder", required_argument, NULL, OPT_TARGET_LADDER },
        CLI_OPEN_LONG_OPTIONS(OPT_OPEN),
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "progress", no_argument, NULL, OPT_PROGRESS },
        { "pure", no_argument, NULL, OPT_PURE },
        { "name", required_argument, NULL, OPT_NAME },
        { "max-shard-size", required_argument, NULL, OPT_MAX_SHARD },
        { "force", no_argument, NULL, OPT_FORCE },
        CLI_END_LONG_OPTIONS,
    };
    cli_set_program("qtf-convert");
    qtfc_recipe recipe;
    qtfc_recipe_init(&recipe);
    qtfc_target_options target;
    int target_ladder_given = 0;
    memset(&target, 0, sizeof target);
    const char *recipe_files[MAX_RECIPES];
    qtfc_options o;
    memset(&o, 0, sizeof o);
    o.recipe = &recipe;
    o.open = (qtf_open_options)QTF_OPEN_OPTIONS_INIT;
    const char *encoding = NULL;
    int force_progress = 0, recipe_options = 0, code = QTFC_EXIT_USAGE;
    unsigned long rule_no = 0;
    uint64_t max_shard = QTFC_DEFAULT_MAX_SHARD;
    char err[2048], rule_err[2048] = "";
    /* GGUF output: rules are GLOB=TYPE with ggml type names, checked later. */
    const char **rule_texts = calloc((size_t)argc + 1, sizeof *rule_texts);
    size_t n_rule_texts = 0;
    int pure = 0, qtf_only_options = 0;
    const char *gguf_name = NULL;
    if (!rule_texts) {
        fputs("qtf-convert: out of memory\n", stderr);
        return QTFC_EXIT_FAILURE;
    }

    opterr = 0;
    int c, li = -1;
    while ((c = getopt_long(argc, argv, ":e:r:nj:qvhV", long_opts, &li)) != -1) {
        switch (c) {
        case 'e': encoding = optarg; break;
        case 'r': {
            char origin[64];
            snprintf(origin, sizeof origin, "--rule %lu", ++rule_no);
            recipe_options = 1;
            rule_texts[n_rule_texts++] = optarg;
            /* Reported only for a .qtf output (a .gguf one takes ggml types). */
            if (!rule_err[0] &&
                qtfc_recipe_add_rule(&recipe, optarg, origin, err, sizeof err) != 0)
                snprintf(rule_err, sizeof rule_err, "%s", err);
            break;
        }
        case OPT_PURE: pure = 1; break;
        case OPT_NAME: gguf_name = optarg; break;
        case OPT_RECIPE:
            recipe_options = qtf_only_options = 1;
            if (o.n_extra_inputs == MAX_RECIPES) {
                code = cli_usage_error("at most %d --recipe files", MAX_RECIPES);
                goto out;
            }
            recipe_files[o.n_extra_inputs++] = optarg;
            if (qtfc_recipe_load_file(&recipe, optarg, err, sizeof err) != 0) {
                code = cli_usage_error("%s", err);
                goto out;
            }
            break;
        case OPT_FALLBACK:
            recipe_options = qtf_only_options = 1;
            if (qtfc_spec_parse(&recipe.fallback, optarg, err, sizeof err) != 0) {
                code = cli_usage_error("--fallback: %s", err);
                goto out;
            }
            recipe.has_fallback = 1;
            break;
        case OPT_ALL_LAYERS: recipe.all_layers = 1; recipe_options = qtf_only_options = 1; break;
        case OPT_IMPORTANCE: o.importance_path = optarg; recipe_options = 1; break;
        case OPT_TARGET_BPW:
        case OPT_TARGET_SIZE:
            if (target.target_bpw > 0 || target.target_bytes > 0) {
                code = cli_usage_error("%s", "give --target-bpw or --target-size once");
                goto out;
            }
            if (parse_target(&target, c == OPT_TARGET_BPW, optarg) != 0) {
                code = cli_usage_error(c == OPT_TARGET_BPW
                                       ? "--target-bpw: expected a number of bits per weight "
                                         "above 0 and at most 64, found '%s'"
                                       : "--target-size: expected a number of bytes above 0, "
                                         "found '%s'", optarg);
                goto out;
            }
            recipe_options = 1;
            break;
        case 'n': o.dry_run = 1; break;
        case OPT_OPEN:
            if (cli_open_option(&o.open, long_opts[li].name, optarg) != 0) {
                code = QTFC_EXIT_USAGE;
                goto out;
            }
            break;
        case 'j': {
            uint64_t v;
            if (!cli_parse_u64(&v, optarg, 4096)) {
                code = cli_usage_error("--threads: expected a number 0..4096, found '%s'", optarg);
                goto out;
            }
            o.threads = (unsigned)v;
            break;
        }
        case 'q': o.quiet = 1; break;
        case 'v': o.verbose = 1; break;
        case OPT_PROGRESS: force_progress = 1; break;
        case OPT_ALLOW_REQUANTIZE: o.allow_requantize = 1; break;
        case OPT_TARGET_LADDER:
            if (strcmp(optarg, "qtf") != 0 && strcmp(optarg, "ggml") != 0) {
                code = cli_usage_error("--target-ladder: expected qtf or ggml, found '%s'",
                                       optarg);
                goto out;
            }
            target.ggml_ladder = strcmp(optarg, "ggml") == 0;
            target_ladder_given = 1;
            break;
        case OPT_MAX_SHARD:
            if (!cli_parse_size(&max_shard, optarg)) {
                code = cli_usage_error("--max-shard-size: expected bytes or a size such as 5GB or "
                                   "500MB, found '%s'", optarg);
                goto out;
            }
            break;
        case OPT_FORCE: o.force = 1; break;
        case 'h':
            usage(stdout);
            code = fflush(stdout) == 0 ? QTFC_EXIT_OK : QTFC_EXIT_FAILURE;
            goto out;
        case 'V':
            printf("qtf-convert %s (libqtf, container format %d.%d)\n", QTF_VERSION_STRING,
                   QTF_FORMAT_MAJOR, QTF_FORMAT_MINOR);
            code = fflush(stdout) == 0 ? QTFC_EXIT_OK : QTFC_EXIT_FAILURE;
            goto out;
        default:
            code = cli_getopt_error(c, argv, long_opts);
            goto out;
        }
    }
    int n_pos = argc - optind;
    if (n_pos < 1 || n_pos > 2 || (n_pos == 1 && !o.dry_run)) {
        code = cli_usage_error("%s", n_pos < 1 ? "missing INPUT and OUTPUT"
                                 : n_pos == 1 ? "missing OUTPUT (or give --dry-run)"
                                              : "too many arguments");
        goto out;
    }
    o.extra_inputs = recipe_files;
    o.input = argv[optind];
    o.output = n_pos == 2 ? argv[optind + 1] : NULL;
    int folder = 0, gguf_out = 0;
    o.kind = QTFC_OUTPUT_QTF;
    if (o.output && output_kind_of(&o.kind, &folder, &gguf_out, o.output, err, sizeof err) != 0) {
        code = cli_usage_error("%s", err);
        goto out;
    }
    if (o.output && !output_dir_exists(o.output)) {
        code = cli_usage_error("output '%s': the directory does not exist", o.output);
        goto out;
    }
    if (target_ladder_given && !(target.target_bpw > 0 || target.target_bytes > 0)) {
        code = cli_usage_error("%s", "--target-ladder applies with --target-bpw or --target-size");
        goto out;
    }
    if (target_ladder_given && gguf_out && !target.ggml_ladder) {
        code = cli_usage_error("%s", "a .gguf output takes ggml types only: --target-ladder qtf "
                               "does not apply");
        goto out;
    }
    int gguf_in = qtf_gguf_file_is_gguf(o.input);
    int to_st = o.kind == QTFC_OUTPUT_SAFETENSORS;
    if (gguf_in || gguf_out) {
        qtfg_options g;
        memset(&g, 0, sizeof g);
        g.input = o.input;
        g.output = o.output;
        g.threads = o.threads;
        g.quiet = o.quiet;
        g.verbose = o.verbose;
        g.dry_run = o.dry_run;
        g.force = o.force;
        g.interrupted = &got_signal;
        if (gguf_in) {
            /* A GGUF in: blocks copied to .qtf, or dequantized to .safetensors. */
            const char *e = encoding ? encoding : "f32";
            g.st_dtype = strcmp(e, "f32") == 0 ? QTF_DTYPE_F32
                         : strcmp(e, "f16") == 0 ? QTF_DTYPE_F16
                         : strcmp(e, "bf16") == 0 ? QTF_DTYPE_BF16 : QTF_DTYPE_NONE;
            if (recipe_options || pure || (encoding && !to_st) || folder || !g.st_dtype ||
                (o.output && !to_st && !ends_with(o.output, ".qtf"))) {
                code = cli_usage_error("%s", "a GGUF input converts to FILE.qtf (blocks copied, no "
                                   "encoding options) or to FILE.safetensors "
                                   "(-e f32|f16|bf16)");
                goto out;
            }
        } else if (qtf_only_options) {
            code = cli_usage_error("%s", "a .gguf output takes -e PRESET, --rule GLOB=TYPE, --pure, "
                               "--target-bpw/--target-size, --importance imatrix.gguf and "
                               "--name (not --recipe, --fallback or --all-layers)");
            goto out;
        } else {
            g.preset = encoding;
            g.pure = pure;
            g.rules = rule_texts;
            g.n_rules = n_rule_texts;
            g.name = gguf_name;
            g.importance = o.importance_path;
            g.target_bpw = target.target_bpw;
            g.target_bytes = target.target_bytes;
            if ((g.target_bpw > 0 || g.target_bytes > 0) && (encoding || pure)) {
                code = cli_usage_error("%s", "--target-bpw/--target-size choose the ggml type of "
                                   "every quantizable tensor: give no -e PRESET or --pure");
                goto out;
            }
        }
        install_signal_handlers();
        code = gguf_in ? qtfg_convert_from_gguf(&g, to_st) : qtfg_convert(&g);
        goto out;
    }
    if (pure || gguf_name) {
        code = cli_usage_error("%s", "--pure and --name apply to a .gguf output only");
        goto out;
    }
    if (rule_err[0]) {
        code = cli_usage_error("%s", rule_err);
        goto out;
    }
    if (folder || o.kind == QTFC_OUTPUT_SAFETENSORS) {
        if (recipe_options) {
            code = cli_usage_error("%s", "a .safetensors or folder output takes only --encoding "
                               "f32|f16|bf16|keep (no rules, fallback or importance)");
            goto out;
        }
        if (folder && o.dry_run) {
            code = cli_usage_error("%s", "--dry-run applies to .qtf outputs only");
            goto out;
        }
        const char *e = encoding ? encoding : folder ? "keep" : "f32";
        if (strcmp(e, "keep") == 0) o.st_keep = 1;
        else if (strcmp(e, "f32") == 0) o.st_dtype = QTF_DTYPE_F32;
        else if (strcmp(e, "f16") == 0) o.st_dtype = QTF_DTYPE_F16;
        else if (strcmp(e, "bf16") == 0) o.st_dtype = QTF_DTYPE_BF16;
        else {
            code = cli_usage_error("--encoding for a .safetensors output must be f32, f16, bf16 "
                               "or keep, found '%s'", e);
            goto out;
        }
    } else if (encoding) {
        if (qtfc_spec_parse(&recipe.default_spec, encoding, err, sizeof err) != 0) {
            if (qtfg_preset_find(encoding))     /* q4_k_m and the like */
                code = cli_usage_error("--encoding: '%s' is a GGUF preset: give an OUTPUT "
                                       "ending in .gguf (with --dry-run too)", encoding);
            else
                code = cli_usage_error("--encoding: %s", err);
            goto out;
        }
    } else if (recipe.default_spec.text[0] == '\0' ||
               qtfc_spec_parse(&recipe.default_spec, QTFC_DEFAULT_ENCODING, err,
                               sizeof err) != 0) {
        code = cli_usage_error("default encoding: %s", err);
        goto out;
    }
    o.progress_bar = force_progress || isatty(STDERR_FILENO);
    if (target.target_bpw > 0 || target.target_bytes > 0) {
        target.input = o.input;
        target.importance_path = o.importance_path;
        target.threads = o.threads;
        target.dry_run = o.dry_run;
        target.quiet = o.quiet;
        target.verbose = o.verbose;
        code = qtfc_target_apply(&recipe, &target);
        if (code != QTFC_EXIT_OK) goto out;
    }

    install_signal_handlers();
    o.interrupted = &got_signal;
#ifdef __GLIBC__
    /* Every tensor allocates buffers of similar sizes; keeping freed memory
     * in the heap (instead of a fresh mmap per allocation) saves a page
     * fault per 4 KiB written on every tensor. Peak use is unchanged. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif

    code = folder ? qtfc_export_folder(&o, max_shard) : qtfc_convert(&o);
out:
    qtfc_recipe_free(&recipe);
    free(rule_texts);
    return code;
}
