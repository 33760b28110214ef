/* convert/target.c — --target-bpw / --target-size (target.h): measure every
 * ladder candidate on every free tensor, solve the knapsack, add the rules. */
#include "target.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getCParams, as lib/writer.c uses it */
#include <zstd.h>

#include "budget.h"
#include "convert.h"
#include "plan.h"
#include "checkpoint/source.h"
#include "cli/cli_util.h"

/* One row per rung: its text, and when it is a candidate (target.h). */
enum {
    RUNG_ALWAYS = 0,
    RUNG_WITH_IMPORTANCE = 1,     /* only with an importance file */
    RUNG_WITHOUT_IMPORTANCE = 2,  /* only without one */
    RUNG_NO_FLOOR = 4,            /* a candidate, never the floor */
    RUNG_FLOOR_ONLY = 8,          /* a candidate only as the floor itself */
};

typedef struct rung {
    const char *text;
    unsigned when;
} rung;

/* With an importance file the palettized rungs (and int2 with groups of 16)
 * take `opt`, the robust scale fit (format/pal.c, format/block_hqq.c);
 * without one they do not. With importance it lowered bytes-c's loss (3.25
 * bits +0.142% -> +0.027%); without, it raised the loss (bytes-c: 3.25 bits
 * +1.311% -> +1.532%, 3.5 bits +0.571% -> +0.665%, 2.5 bits +6.033% ->
 * +6.465%; the held-out model: 0.02 and 0.06 point at 3.25 and 2.5 bits, no
 * difference at 3.5; bench/RESULTS.md, round 6): its fit lets a few large
 * weights keep large errors, which only the importance can tell harmless. */
static const rung qtf_ladder[] = {
    { "bf16", RUNG_ALWAYS },
    { "int8", RUNG_ALWAYS },
    { "int6:group=32", RUNG_ALWAYS },
    { "int5:group=32", RUNG_ALWAYS },
    { "int4:group=32", RUNG_ALWAYS },
    { "int4:group=32,search", RUNG_ALWAYS },
    { "int4:group=64", RUNG_ALWAYS },
    { "int4:group=64,search", RUNG_ALWAYS },
    { "pal4:group=32,dq,opt", RUNG_WITH_IMPORTANCE },
    { "pal4:group=32,dq", RUNG_WITHOUT_IMPORTANCE },
    { "int3:group=32", RUNG_ALWAYS },
    { "int3:group=32,search", RUNG_ALWAYS },
    { "int3:group=64", RUNG_ALWAYS },
    { "int3:group=64,search", RUNG_ALWAYS },
    { "int3:group=32,dq,search", RUNG_ALWAYS },
    { "pal3:group=32,dq,opt", RUNG_WITH_IMPORTANCE },
    { "pal3:group=32,dq", RUNG_WITHOUT_IMPORTANCE },
    /* 3-bit rungs with groups of 64 (about 3.14 bits/weight), with an
     * importance file, as the floor only. Without them nothing 3-bit fits
     * a budget between 3.14 bits and the group-32 rungs' 3.26: the floor
     * was pal2, and the allocation paid for its upgrades with 2-bit
     * matrices (layer 0's down_proj at int2 on a 3-layer model). As the
     * floor there they keep every matrix at 3 bits or more (and give the
     * sensitivity's power 1). Paired, points of percent (bench/RESULTS.md,
     * round 11), with importance, bits per byte / divergence from the
     * unquantized model: a 3-layer model no choice was made on, 3.25 bits
     * -0.476 +- 0.037 / -0.474 +- 0.007, 3.2 bits -0.817 +- 0.043 /
     * -0.728 +- 0.010; bytes-c, 3.25 bits +0.210 +- 0.058 / -0.515 +- 0.009
     * (+0.246%: its aim is +0.6%). As candidates above a pal2 floor they
     * raised the divergence at 2.5 bits (bytes-c +0.050 +- 0.018, the
     * 3-layer model +0.13), so they are the floor or nothing. Without an
     * importance file pal3:group=64,dq as the floor scored worse than the
     * plan with pal2 it replaced (bytes-c 3.25 bits: divergence 3.322%
     * against 3.265%, bits per byte +1.699% against +0.912%). */
    { "int3:group=64,dq,search", RUNG_FLOOR_ONLY | RUNG_WITH_IMPORTANCE },
    { "pal3:group=64,dq,opt", RUNG_FLOOR_ONLY | RUNG_WITH_IMPORTANCE },
    /* Groups of 16: the best uniform encoding near 2.5 bits on both models
     * measured (bytes-c +4.766%, the held-out model +5.220%, with
     * importance), so that an allocation there can use it. Never the
     * floor: as the floor (it fits alone from about 2.53 bits) it forbade
     * pal2, which the good 3.25-bit plans use (bytes-c +0.027% -> +0.660%,
     * the held-out model +0.649% -> +1.127%), and raised the predicted error
     * at 2.6 bits by a third. As a candidate only, it changes no plan of
     * either model from 3 bits up (bench/RESULTS.md, round 6). */
    { "int2:group=16,dq,opt", RUNG_NO_FLOOR | RUNG_WITH_IMPORTANCE },
    { "int2:group=16,dq,search", RUNG_NO_FLOOR | RUNG_WITHOUT_IMPORTANCE },
    { "int2:group=32", RUNG_ALWAYS },
    { "int2:group=32,search", RUNG_ALWAYS },
    { "int2:group=32,dq,search", RUNG_ALWAYS },
    { "pal2:group=32,dq,opt", RUNG_WITH_IMPORTANCE },
    { "pal2:group=32,dq", RUNG_WITHOUT_IMPORTANCE },
    /* Entropy-coded rungs: one code per byte, zstd level 1 (the level
     * spec/encodings/block.md recommends). Their stored size is measured by
     * compressing the candidate's parts exactly as the writer will. With a
     * row-wide scale the codes of heavy-tailed weights are far from uniform:
     * on bytes-c int4:group=row,search,zstd stores 3.61 bits/weight with a
     * relative RMSE of 0.107, against 0.167 for pal3:group=32,dq at 3.27
     * and 0.080 for pal4:group=32,dq at 4.27 (bench/RESULTS.md). Candidates
     * from ZSTD_MIN_BPW only (measure_all). */
    { "int6:group=row,search,zstd", RUNG_ALWAYS },
    { "int5:group=row,zstd", RUNG_ALWAYS },
    { "int5:group=row,search,zstd", RUNG_ALWAYS },
    { "int5:group=128,search,zstd", RUNG_ALWAYS },
    { "int4:group=row,zstd", RUNG_ALWAYS },
    { "int4:group=row,search,zstd", RUNG_ALWAYS },
    { "int4:group=128,search,zstd", RUNG_ALWAYS },
    { "int3:group=row,search,zstd", RUNG_ALWAYS },
    { "int3:group=128,search,zstd", RUNG_ALWAYS },
};
#define N_QTF_LADDER (sizeof qtf_ladder / sizeof qtf_ladder[0])

/* Each RUNG_FLOOR_ONLY rung and its finer rung: the same encoding with
 * smaller groups, so more exact, where both fit (floor_only_skips). */
static const struct {
    const char *coarse, *finer;
} finer_rungs[] = {
    { "int3:group=64,dq,search", "int3:group=32,dq,search" },
    { "pal3:group=64,dq,opt", "pal3:group=32,dq,opt" },
};

/* A .gguf output: the ggml types llama.cpp reads and QTF quantizes
 * byte-exactly (with the importance as llama-quantize uses an imatrix),
 * largest first. A type whose block does not divide the row is no
 * candidate for that tensor (no silent fallback inside an allocation).
 *
 * Not iq4_nl and iq4_xs: their non-uniform grid gives a lower weight error
 * than q4_k's at fewer bits, which the loss does not follow, and plans that
 * took them lost to plans of k-quants alone. Without them, paired, points
 * of percent (bench/RESULTS.md, round 9), with importance: the held-out
 * model at 3.5 bits -0.141 +- 0.021, at 4.5 bits -0.051 +- 0.022; bytes-c
 * at 3.5 bits -0.097 +- 0.017 (now below uniform q3_k), at 4.5 bits
 * -0.117 +- 0.023; without importance the held-out model at 4.5 bits
 * -0.070 +- 0.029, bytes-c at 4.25 bits -0.301 +- 0.030. It cost 0.05 to
 * 0.17 point in three other cases (4.25 bits), where no plan then lost to
 * a uniform encoding of its size; with the iq4 rungs, the held-out plan at
 * q4_k's size lost to q4_k (+0.050 +- 0.027). A --rule still gives a
 * tensor either type. */
static const rung ggml_ladder[] = {
    { "f16", RUNG_ALWAYS },    { "q8_0", RUNG_ALWAYS },   { "q6_k", RUNG_ALWAYS },
    { "q5_1", RUNG_ALWAYS },   { "q5_k", RUNG_ALWAYS },   { "q5_0", RUNG_ALWAYS },
    { "q4_1", RUNG_ALWAYS },   { "q4_k", RUNG_ALWAYS },   { "q4_0", RUNG_ALWAYS },
    { "q3_k", RUNG_ALWAYS },   { "q2_k", RUNG_ALWAYS },
};
#define N_GGML_LADDER (sizeof ggml_ladder / sizeof ggml_ladder[0])
#define MAX_LADDER (N_QTF_LADDER > N_GGML_LADDER ? N_QTF_LADDER : N_GGML_LADDER)

/* The power of a tensor's sensitivity that weighs its predicted error when
 * the importance file gives sensitivities (weigh_by_sensitivity): per
 * ladder, and with QTF's ladder per floor.
 *
 * The sensitivity times a tensor's relative error is the second-order
 * estimate of the loss's rise (target.h), which holds for small errors.
 * With QTF's ladder the power is 1, that estimate itself, when the floor
 * (of the errors not weighed by it) takes SENSITIVITY_FULL_FLOOR_BPW bits
 * per weight or more, so that no tensor can fall to a 2-bit rung. Measured
 * by the divergence from the unquantized model (bench/model_quality.py
 * --kld, which has no first-order term; bench/RESULTS.md, round 10), power 1
 * against 1/4: at 4.25 bits the stand-in -0.036 +- 0.001 point, bytes-c
 * -0.081 +- 0.002, a model none of this was chosen on -0.022 +- 0.001; at
 * 3.5 bits (floor pal3) -0.258 +- 0.005, -0.056 +- 0.005, -0.145 +- 0.002.
 * (Bits per byte disagree on two models, +0.17 and +0.63 point at 3.5
 * bits: these models are overconfident on their text, and a file that
 * blunts their logits gains bits per byte while it departs further from
 * the model; the divergence counts that as error. Round 10.)
 *
 * With a 2-bit floor it is 1/4: there the power 1 put large matrices at
 * pal2 and raised the divergence at 3.25 bits (stand-in +0.337 +- 0.011,
 * bytes-c +0.420 +- 0.009), as if large errors cost more than the second
 * order says; 1/4 was the power (of 0, 1/4, 1/2, 1) that made every
 * allocation of the held-out model better than without it and than without
 * an importance file (round 8). With the ggml ladder, whose rungs are about
 * a bit apart, 1/2: 1/4 left the 3.5-bit plans worse than uniform q3_k on
 * both models (held-out +1.116% against +0.943%, bytes-c +0.673% against
 * +0.534%) and 1/2 made them better or equal (+0.829%, +0.562%). */
#define QTF_SENSITIVITY_POWER 0.25
#define QTF_SENSITIVITY_POWER_FULL 1.0
#define SENSITIVITY_FULL_FLOOR_BPW 3.0
#define GGML_SENSITIVITY_POWER 0.5

/* The candidates of one allocation. */
typedef struct ladder {
    const char *text[MAX_LADDER];
    unsigned when[MAX_LADDER];          /* the rung's RUNG_* conditions */
    uint32_t finer[MAX_LADDER];         /* index of the rung's `finer`, or UINT32_MAX */
    qtf_encoding enc[MAX_LADDER];
    uint32_t n;
    double sensitivity_power;           /* QTF_ or GGML_SENSITIVITY_POWER */
    double power_full_floor_bpw;        /* floors (bpw) from which the power is
                                           QTF_SENSITIVITY_POWER_FULL; INFINITY: none */
} ladder;

/* The rungs of `rungs` that apply with (or without) an importance file;
 * the zstd rungs' budget condition applies when measuring (measure_all). */
static int ladder_init(ladder *l, const rung *rungs, size_t n, int with_importance) {
    l->n = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned w = rungs[k].when;
        if ((w & RUNG_WITH_IMPORTANCE) && !with_importance) continue;
        if ((w & RUNG_WITHOUT_IMPORTANCE) && with_importance) continue;
        if (qtf_encoding_parse(&l->enc[l->n], rungs[k].text) != QTF_OK) {
            fprintf(stderr, "qtf-convert: --target: ladder entry %s: %s\n", rungs[k].text,
                    qtf_error_detail());
            return -1;
        }
        l->text[l->n] = rungs[k].text;
        l->when[l->n++] = w;
    }
    for (uint32_t k = 0; k < l->n; k++) {
        const char *finer = NULL;
        for (size_t j = 0; j < sizeof finer_rungs / sizeof finer_rungs[0]; j++)
            if (strcmp(finer_rungs[j].coarse, l->text[k]) == 0) finer = finer_rungs[j].finer;
        l->finer[k] = UINT32_MAX;
        for (uint32_t j = 0; finer && j < l->n; j++)
            if (strcmp(l->text[j], finer) == 0) l->finer[k] = j;
    }
    return 0;
}

/* Tensors larger than this are measured on a sample of their rows (evenly
 * spaced, the same for any thread count): errors are relative, so a few
 * hundred thousand elements estimate them closely, and measuring every
 * candidate on every element of a 1 GB checkpoint took minutes per
 * candidate (bench/RESULTS.md). Plain sizes stay exact (the layout of the
 * full shape); a sampled zstd size is an estimate until the solver picks it,
 * then it is measured on the whole tensor and the knapsack solved again
 * (qtfc_target_apply), so the budget holds on the sizes of the file. */
#define SAMPLE_ELEMENTS (1u << 18)

/* Budgets (bits per weight over all elements) from which the zstd rungs
 * are candidates (target.h): below, mixing them with the palettized rungs
 * scored better on the predicted error but worse on the model's loss. */
#define ZSTD_MIN_BPW 4.0
/* A tensor leaves the floor rung only for a candidate that predicts at
 * least 20% less error there (target.h): smaller gains are sideways moves
 * that the predicted error cannot rank across encodings. At the size of
 * int3:group=64,search, such moves (to int3:group=32,dq,search, about 15%
 * less predicted error) raised the held-out model's loss by 0.41 point
 * without importance; with the gain required the allocation scores as that
 * uniform file (-0.029 +- 0.040 point; bytes-c +0.000 +- 0.018). */
#define FLOOR_GAIN 0.8

/* A plan replaces the floor alone only when it predicts at least 10% less
 * summed error (target.h): a budget barely above a uniform encoding leaves
 * room for a few upgrades whose predicted gains are smaller than what the
 * predicted error can rank. Measured with the ggml ladder at 3.5 bits
 * without importance (the floor q3_k, 3.45 bits): plans predicting 4-5%
 * less error scored +0.116 +- 0.022 point above uniform q3_k on bytes-c
 * and -0.183 +- 0.024 below it on the held-out model; every other plan
 * measured (both ladders, both models, 2.5 to 4.5 bits, with and without
 * importance) predicts at least 13% less (bench/RESULTS.md, round 8). */
#define PLAN_GAIN 0.9

typedef struct free_tensor {
    const qtfc_plan_item *item;
    qtfc_budget_option options[MAX_LADDER];
    uint32_t which[MAX_LADDER];        /* ladder index of each option */
    uint32_t label[MAX_LADDER];        /* which[], or QTFC_BUDGET_NO_LABEL (the floor's) */
    double floor_error;                /* the floor rung's predicted error here, or NAN */
    unsigned char exact[MAX_LADDER];   /* 0: a zstd size estimated from the sample */
    uint32_t n;
    uint64_t rows, cols, sample_rows;  /* sample_rows == rows: measured whole */
    float *importance;                 /* a copy of its vector (cols values), or NULL */
} free_tensor;

static int is_free(const qtfc_plan_item *it) {
    const qtf_source_tensor *t = it->tensor;
    if (it->choice.why != QTFC_WHY_DEFAULT && it->choice.why != QTFC_WHY_EMBEDDING) return 0;
    if (t->n_dims < 2) return 0;
    if (t->dtype != QTF_DTYPE_F32 && t->dtype != QTF_DTYPE_F16 && t->dtype != QTF_DTYPE_BF16)
        return 0;
    /* A rule is GLOB=SPEC split at the first '=': such a name cannot be one. */
    return strchr(t->name, '=') == NULL;
}

static uint64_t layout_bytes(const qtf_encoding *e, const qtf_source_tensor *t, int *ok) {
    qtf_part_layout lay[QTF_MAX_PARTS];
    uint32_t n = 0;
    *ok = qtf_encoding_layout(lay, &n, e, t->n_dims, t->dims) == QTF_OK;
    uint64_t total = 0;
    for (uint32_t p = 0; *ok && p < n; p++) {
        if (__builtin_add_overflow(total, lay[p].size, &total)) *ok = 0;
    }
    return total;
}

/* Bytes the writer will store for these parts under zstd at `level`: each
 * part compressed alone with the writer's parameters (lib/writer.c: content
 * size recorded, no frame checksum, window capped), kept plain when that is
 * not smaller. zstd is deterministic for given input and parameters, so
 * this is the size of the file, not an estimate. */
static qtf_status zstd_stored_bytes(uint64_t *out, ZSTD_CCtx *c, void **buf, size_t *cap,
                                    const qtf_part_view *views, uint32_t nv, int level) {
    uint64_t total = 0;
    for (uint32_t k = 0; k < nv; k++) {
        size_t n = (size_t)views[k].size, r = 0;
        if (n > 0) {
            size_t bound = ZSTD_compressBound(n);
            if (ZSTD_isError(bound)) return QTF_E_LIMIT;
            if (bound > *cap) {
                free(*buf);
                *buf = malloc(bound);
                *cap = *buf ? bound : 0;
                if (!*buf) return QTF_E_NOMEM;
            }
            ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
            r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
            if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
            if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);
            ZSTD_compressionParameters cp = ZSTD_getCParams(level, n, 0);
            if (!ZSTD_isError(r) && cp.windowLog > QTF_MAX_ZSTD_WINDOW_LOG)
                r = ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, QTF_MAX_ZSTD_WINDOW_LOG);
            if (!ZSTD_isError(r)) r = ZSTD_compress2(c, *buf, *cap, views[k].data, n);
            if (ZSTD_isError(r)) return QTF_E_COMPRESSION;
        }
        total += r > 0 && r < n ? r : n;
    }
    *out = total;
    return QTF_OK;
}

typedef struct zstd_ctx {
    ZSTD_CCtx *cctx;
    void *buf;
    size_t cap;
} zstd_ctx;

/* Normalized importance-weighted error of `enc` on w (rows x cols), and
 * for a zstd encoding the bytes it will be stored in (*bytes is left alone
 * otherwise: the layout size is exact). */
static qtf_status measure(double *out, uint64_t *bytes, const qtf_encoding *enc, const float *w,
                          float *deq, uint32_t n_dims, const uint64_t *dims, uint64_t n,
                          const float *imp, unsigned threads, zstd_ctx *z) {
    qtf_quantize_options qo = QTF_QUANTIZE_OPTIONS_INIT;
    qo.threads = threads;
    qo.importance = imp;
    qtf_encoded *e = NULL;
    qtf_status st = qtf_quantize(&e, enc, w, n_dims, dims, &qo);
    if (st != QTF_OK) return st;
    qtf_part_view views[QTF_MAX_PARTS];
    uint32_t nv = qtf_encoded_views(views, e);
    if (enc->zstd_level > 0)
        st = zstd_stored_bytes(bytes, z->cctx, &z->buf, &z->cap, views, nv, (int)enc->zstd_level);
    if (st == QTF_OK && deq)
        st = qtf_dequantize(deq, QTF_DTYPE_F32, n, enc, n_dims, dims, views, nv, threads);
    qtf_encoded_free(e);
    if (st != QTF_OK || !deq) return st;
    qtf_metrics m;
    st = qtf_metrics_compute(&m, w, deq, n, imp, dims[n_dims - 1]);
    if (st != QTF_OK) return st;
    *out = m.rel_rmse * m.rel_rmse;
    return QTF_OK;
}

void qtfc_glob_escape(char *out, size_t cap, const char *name) {
    size_t j = 0;
    for (const char *p = name; *p && j + 2 < cap; p++) {
        if (strchr("*?[]\\", *p)) out[j++] = '\\';
        out[j++] = *p;
    }
    out[j] = '\0';
}

/* Rows of the sample: row k of rows_s is (2k+1) rows / (2 rows_s), evenly
 * spread over the tensor. */
static void take_sample(float *dst, const float *w, uint64_t rows, uint64_t cols,
                        uint64_t rows_s) {
    for (uint64_t k = 0; k < rows_s; k++) {
        uint64_t r = (2 * k + 1) * rows / (2 * rows_s);
        memcpy(dst + k * cols, w + r * cols, (size_t)cols * sizeof *dst);
    }
}

/* The candidates of one tensor, measured in parallel: each candidate on one
 * thread with one-thread quantizers (whose output does not depend on the
 * thread count), each result in its own slot whichever worker takes it, so
 * the options are the same for any number of workers. A candidate's quantization of a sample is too
 * small to spread over threads by itself. */
#define MAX_WORKERS 64
typedef struct cand_job {
    const ladder *lad;
    uint32_t ks[MAX_LADDER], nk;     /* ladder indices to measure */
    const float *x, *weights;
    uint32_t nd;
    const uint64_t *dims;
    uint64_t n;
    double err[MAX_LADDER];
    uint64_t bytes[MAX_LADDER];      /* layout size in, stored size out */
    qtf_status st[MAX_LADDER];
    char detail[MAX_LADDER][256];    /* the worker's error detail (thread-local there) */
    unsigned n_workers;
    uint32_t next;                   /* the next slot to take (atomic): the costly
                                        palettized rungs go to whoever is free */
} cand_job;

typedef struct cand_worker {
    cand_job *job;
    float *deq;
    zstd_ctx z;
} cand_worker;

static void *cand_main(void *arg) {
    cand_worker *w = arg;
    cand_job *j = w->job;
    for (uint32_t s; (s = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED)) < j->nk;) {
        j->st[s] = measure(&j->err[s], &j->bytes[s], &j->lad->enc[j->ks[s]], j->x, w->deq,
                           j->nd, j->dims, j->n, j->weights, 1, &w->z);
        if (j->st[s] != QTF_OK)
            snprintf(j->detail[s], sizeof j->detail[s], "%s", cli_why(j->st[s]));
    }
    return NULL;
}

/* Runs the job on workers[0..n_workers), worker 0 on this thread; a thread
 * that cannot be started leaves its share to the others. */
static void cand_run(cand_job *j, cand_worker *workers) {
    pthread_t tid[MAX_WORKERS];
    unsigned want = j->n_workers < j->nk ? j->n_workers : j->nk, started = 1;
    if (want == 0) want = 1;
    j->next = 0;
    for (unsigned t = 0; t < want; t++) workers[t].job = j;
    for (unsigned t = 1; t < want; t++) {
        if (pthread_create(&tid[started], NULL, cand_main, &workers[t]) != 0) break;
        started++;
    }
    cand_main(&workers[0]);
    for (unsigned t = 1; t < started; t++) pthread_join(tid[t], NULL);
}

static unsigned worker_count(unsigned threads) {
    long n = threads ? (long)threads : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

/* The shape a free tensor is measured and stored in: a Conv1D weight's
 * transpose (plan.c encodes it so). */
static qtf_source_tensor measured_shape(const free_tensor *t) {
    qtf_source_tensor shape = *t->item->tensor;
    if (t->item->input_first) {
        shape.dims[0] = t->item->tensor->dims[1];
        shape.dims[1] = t->item->tensor->dims[0];
    }
    return shape;
}

/* Whether fixed-rate rung k fits free_budget alone on every free tensor
 * (its sizes are exact without quantizing). */
static int fits_alone(const ladder *lad, uint32_t k, const free_tensor *ft, uint64_t n_free,
                      uint64_t free_budget) {
    if (lad->enc[k].zstd_level != 0) return 0;
    uint64_t total = 0;
    for (uint64_t i = 0; i < n_free; i++) {
        qtf_source_tensor shape = measured_shape(&ft[i]);
        int ok;
        uint64_t b = layout_bytes(&lad->enc[k], &shape, &ok);
        if (!ok || __builtin_add_overflow(total, b, &total) || total > free_budget) return 0;
    }
    return 1;
}

/* Marks the RUNG_FLOOR_ONLY rungs not worth measuring: one that does not
 * fit the free budget alone on every free tensor can never be the floor,
 * nor one whose `finer` rung (the same encoding with smaller groups, so
 * the smaller error) fits too. Sizes of fixed-rate rungs are exact without
 * quantizing. Measuring the two group-64 rungs took a third of the
 * allocation's time on the 1 GB bench checkpoint (bench/RESULTS.md, round
 * 11); now only budgets between their size and their finer rungs' do. */
static void floor_only_skips(unsigned char *skip, const free_tensor *ft, uint64_t n_free,
                             const ladder *lad, uint64_t free_budget) {
    for (uint32_t k = 0; k < lad->n; k++)
        skip[k] = (lad->when[k] & RUNG_FLOOR_ONLY) &&
                  (!fits_alone(lad, k, ft, n_free, free_budget) ||
                   (lad->finer[k] != UINT32_MAX &&
                    fits_alone(lad, lad->finer[k], ft, n_free, free_budget)));
}

static int measure_all(free_tensor *ft, uint64_t n_free, const qtf_source *src,
                       const qtf_source *imp, const qtf_imatrix_map *imx, const ladder *lad,
                       double budget_bpw, uint64_t free_budget, const qtfc_target_options *o) {
    const qtf_encoding *encs = lad->enc;
    uint64_t max_n = 0, max_cols = 0, max_s = 0;
    for (uint64_t i = 0; i < n_free; i++) {
        const qtf_source_tensor *t = ft[i].item->tensor;
        /* a Conv1D weight is measured as its transpose: rows of dims[0] */
        ft[i].cols = ft[i].item->input_first ? t->dims[0] : t->dims[t->n_dims - 1];
        ft[i].rows = ft[i].cols ? t->n_elements / ft[i].cols : 0;
        uint64_t want = ft[i].cols ? (SAMPLE_ELEMENTS + ft[i].cols - 1) / ft[i].cols : 0;
        ft[i].sample_rows = want < ft[i].rows ? want : ft[i].rows;
        uint64_t measured = ft[i].sample_rows * ft[i].cols;
        if (t->n_elements > max_n) max_n = t->n_elements;
        if (measured > max_s) max_s = measured;
        if (ft[i].cols > max_cols) max_cols = ft[i].cols;
    }
    if (max_n > SIZE_MAX / 2 / sizeof(float)) {
        fprintf(stderr, "qtf-convert: --target: a tensor of %llu elements does not fit in memory\n",
                (unsigned long long)max_n);
        return -1;
    }
    float *w = malloc((size_t)(max_n ? max_n : 1) * sizeof *w);
    float *ws = malloc((size_t)(max_s ? max_s : 1) * sizeof *ws);
    float *a = malloc((size_t)(max_cols ? max_cols : 1) * sizeof *a);
    const unsigned n_workers = worker_count(o->threads);
    cand_worker *workers = calloc(n_workers, sizeof *workers);
    cand_job *job = calloc(1, sizeof *job);
    int workers_ok = workers && job;
    for (unsigned t = 0; workers_ok && t < n_workers; t++) {
        workers[t].deq = malloc((size_t)(max_s ? max_s : 1) * sizeof(float));
        workers[t].z.cctx = ZSTD_createCCtx();
        if (!workers[t].deq || !workers[t].z.cctx) workers_ok = 0;
    }
    float *wt = NULL;           /* the transpose of an input-first (Conv1D) weight */
    for (uint64_t i = 0; i < n_free && !wt; i++)
        if (ft[i].item->input_first) wt = malloc((size_t)max_n * sizeof *wt);
    int rc = -1;
    if (!w || !ws || !a || !workers_ok) {
        fprintf(stderr, "qtf-convert: --target: out of memory\n");
        goto out;
    }
    unsigned char skip[MAX_LADDER];
    floor_only_skips(skip, ft, n_free, lad, free_budget);
    for (uint64_t i = 0; i < n_free; i++) {
        const qtfc_plan_item *it = ft[i].item;
        const qtf_source_tensor *t = it->tensor;
        qtf_status st = qtf_source_read_f32(w, t->n_elements, src, it->source_index, o->threads);
        if (st != QTF_OK) {
            fprintf(stderr, "qtf-convert: %s: tensor '%s': %s\n", o->input, t->name,
                    cli_why(st));
            goto out;
        }
        const float *weights = NULL;
        if (it->importance >= 0 && imx) {   /* checked when the imatrix was mapped */
            uint64_t nv;
            weights = qtf_imatrix_map_find(imx, t->name, &nv);
        } else if (it->importance >= 0) {
            const qtf_source_tensor *v = qtf_source_tensor_get(imp, (uint64_t)it->importance);
            st = qtf_source_read_f32(a, v->n_elements, imp, (uint64_t)it->importance, 1);
            if (st != QTF_OK) {
                fprintf(stderr, "qtf-convert: %s: importance '%s': %s\n", o->importance_path,
                        v->name, cli_why(st));
                goto out;
            }
            weights = a;
        }
        if (weights) {   /* kept for measure_chosen: search depends on it */
            ft[i].importance = malloc((size_t)ft[i].cols * sizeof *weights);
            if (!ft[i].importance) {
                fprintf(stderr, "qtf-convert: --target: out of memory\n");
                goto out;
            }
            memcpy(ft[i].importance, weights, (size_t)ft[i].cols * sizeof *weights);
        }
        /* A Conv1D weight is encoded as its transpose (groups along the
         * input, plan.c): measured in that form. bf16, the one lossless
         * candidate, stays row-major, with the same size and error. */
        qtf_source_tensor shape = measured_shape(&ft[i]);
        const float *x = w;
        if (it->input_first) {
            if (!wt) {
                fprintf(stderr, "qtf-convert: --target: out of memory\n");
                goto out;
            }
            qtfc_transpose_f32(wt, w, t->dims[0], t->dims[1]);
            x = wt;
        }
        int sampled = ft[i].sample_rows < ft[i].rows;
        uint32_t nd = shape.n_dims;
        const uint64_t *dims = shape.dims;
        uint64_t sdims[2] = { ft[i].sample_rows, ft[i].cols }, n = t->n_elements;
        if (sampled) {
            take_sample(ws, x, ft[i].rows, ft[i].cols, ft[i].sample_rows);
            x = ws;
            nd = 2;
            dims = sdims;
            n = sdims[0] * sdims[1];
        }
        /* Rows that take no group of 32 have only int8 and bf16 besides the
         * row-wide zstd rungs: those stay candidates at any budget. */
        int rows_take_groups = ft[i].cols % 32 == 0;
        *job = (cand_job){ .lad = lad, .x = x, .weights = weights, .nd = nd, .dims = dims,
                           .n = n, .n_workers = n_workers };
        for (uint32_t k = 0; k < lad->n; k++) {
            int ok;
            uint64_t bytes = layout_bytes(&encs[k], &shape, &ok);
            if (!ok || skip[k] ||
                (encs[k].zstd_level > 0 && budget_bpw < ZSTD_MIN_BPW && rows_take_groups))
                continue;
            job->bytes[job->nk] = bytes;
            job->ks[job->nk++] = k;
        }
        cand_run(job, workers);
        ft[i].n = 0;
        for (uint32_t c = 0; c < job->nk; c++) {    /* in ladder order, as the solver wants */
            uint32_t k = job->ks[c];
            uint64_t bytes = job->bytes[c];
            double err = job->err[c];
            if (job->st[c] != QTF_OK) {
                fprintf(stderr, "qtf-convert: tensor '%s': %s: %s\n", t->name, lad->text[k],
                        job->detail[c]);
                goto out;
            }
            if (!isfinite(err)) continue;   /* e.g. an all-zero weighting: not a candidate */
            int exact = !sampled || encs[k].zstd_level == 0;
            if (!exact) {   /* the sample's stored bytes scaled to the whole tensor */
                double b = ceil((double)bytes * (double)ft[i].rows / (double)ft[i].sample_rows);
                bytes = (uint64_t)b;
            }
            ft[i].options[ft[i].n] = (qtfc_budget_option){ bytes, err };
            ft[i].exact[ft[i].n] = (unsigned char)exact;
            ft[i].which[ft[i].n++] = k;
        }
        if (o->verbose && !o->dry_run)
            fprintf(stderr, "qtf-convert: target: measured %s (%u candidates%s)\n", t->name,
                    ft[i].n, sampled ? ", on a sample of rows" : "");
    }
    rc = 0;
out:
    free(w);
    free(ws);
    free(wt);
    free(a);
    for (unsigned t = 0; workers && t < n_workers; t++) {
        free(workers[t].deq);
        free(workers[t].z.buf);
        ZSTD_freeCCtx(workers[t].z.cctx);
    }
    free(workers);
    free(job);
    return rc;
}

/* The chosen options whose size is a sample's estimate get their stored
 * size measured on the whole tensor. Returns the number of options
 * updated, or -1 after a message. */
static long measure_chosen(free_tensor *ft, uint64_t n_free, const uint32_t *choice,
                           const qtf_source *src, const ladder *lad,
                           const qtfc_target_options *o) {
    const qtf_encoding *encs = lad->enc;
    long updated = 0;
    float *w = NULL, *wt = NULL;
    uint64_t cap = 0;
    zstd_ctx z = { ZSTD_createCCtx(), NULL, 0 };
    if (!z.cctx) goto oom;
    for (uint64_t i = 0; i < n_free; i++) {
        uint32_t c = choice[i];
        if (ft[i].exact[c]) continue;
        const qtf_source_tensor *t = ft[i].item->tensor;
        if (t->n_elements > cap) {
            free(w);
            free(wt);
            w = malloc((size_t)t->n_elements * sizeof *w);
            wt = malloc((size_t)t->n_elements * sizeof *wt);
            cap = w && wt ? t->n_elements : 0;
            if (!w || !wt) goto oom;
        }
        qtf_status st = qtf_source_read_f32(w, t->n_elements, src, ft[i].item->source_index,
                                            o->threads);
        uint64_t bytes = 0;
        double unused;
        uint64_t dims[QTF_MAX_DIMS];
        memcpy(dims, t->dims, sizeof dims);
        const float *x = w;
        if (ft[i].item->input_first) {  /* measured as stored: transposed (plan.c) */
            qtfc_transpose_f32(wt, w, t->dims[0], t->dims[1]);
            dims[0] = t->dims[1];
            dims[1] = t->dims[0];
            x = wt;
        }
        /* with the importance: search's scales, hence the codes and their
         * size, depend on it */
        if (st == QTF_OK)
            st = measure(&unused, &bytes, &encs[ft[i].which[c]], x, NULL, t->n_dims, dims,
                         t->n_elements, ft[i].importance, o->threads, &z);
        if (st != QTF_OK) {
            fprintf(stderr, "qtf-convert: tensor '%s': %s: %s\n", t->name,
                    lad->text[ft[i].which[c]], cli_why(st));
            updated = -1;
            goto out;
        }
        ft[i].options[c].bytes = bytes;
        ft[i].exact[c] = 1;
        updated++;
    }
    goto out;
oom:
    fprintf(stderr, "qtf-convert: --target: out of memory\n");
    updated = -1;
out:
    free(w);
    free(wt);
    free(z.buf);
    ZSTD_freeCCtx(z.cctx);
    return updated;
}

static void print_allocation(FILE *f, const ladder *lad, const free_tensor *ft, uint64_t n_free,
                             const uint32_t *choice, const qtfc_budget_result *r, uint64_t budget,
                             uint64_t fixed, uint64_t elements, int importance) {
    fprintf(f, "%-48s %-26s %12s %8s %14s %14s\n", "tensor (--target allocation)", "encoding",
            "bytes", "bpw", importance ? "pred. w-error" : "pred. error", "floor's error");
    for (uint64_t i = 0; i < n_free; i++) {
        const qtfc_budget_option *op = &ft[i].options[choice[i]];
        const qtf_source_tensor *t = ft[i].item->tensor;
        fprintf(f, "%-48s %-26s %12llu %8.3f %14.6e", t->name, lad->text[ft[i].which[choice[i]]],
                (unsigned long long)op->bytes, 8.0 * (double)op->bytes / (double)t->n_elements,
                op->error);
        if (isnan(ft[i].floor_error)) fprintf(f, " %14s\n", "-");
        else fprintf(f, " %14.6e\n", ft[i].floor_error);
    }
    fprintf(f, "target: budget %llu tensor bytes (%.3f bits/weight); planned %llu (%.3f "
            "bits/weight), of which %llu fixed; summed predicted error %.6e, lower bound "
            "%.6e (%s, unit %llu bytes)\n",
            (unsigned long long)budget, 8.0 * (double)budget / (double)elements,
            (unsigned long long)(r->bytes + fixed),
            8.0 * (double)(r->bytes + fixed) / (double)elements, (unsigned long long)fixed,
            r->error, r->lower_bound, r->exact ? "exact optimum" : "rounded sizes",
            (unsigned long long)r->unit);
}

/* One allocation: the checkpoint, its importance, a plan of its tensors
 * (importance vectors found and checked, Conv1D layout), the free tensors
 * and their measured candidates. */
typedef struct target_run {
    const qtfc_target_options *o;
    qtf_source *src, *imp;
    qtf_imatrix_map *imx;
    qtfc_plan plan;
    ladder lad;
    free_tensor *ft;
    uint64_t n_free;
    uint32_t *choice;           /* per free tensor: index into its options */
    qtfc_budget_item *items;
    qtfc_budget_result res;
} target_run;

static void run_free(target_run *r) {
    free(r->items);
    free(r->choice);
    for (uint64_t i = 0; r->ft && i < r->n_free; i++) free(r->ft[i].importance);
    free(r->ft);
    qtfc_plan_free(&r->plan);
    qtf_imatrix_map_free(r->imx);
    qtf_source_close(r->imp);
    qtf_source_close(r->src);
}

/* Opens the checkpoint and the importance, and plans the tensors with
 * `recipe`. Returns an exit code after a message. */
static int run_open(target_run *r, const qtfc_target_options *o, const qtfc_recipe *recipe,
                    const rung *rungs, size_t n_rungs) {
    memset(r, 0, sizeof *r);
    r->o = o;
    if (ladder_init(&r->lad, rungs, n_rungs, o->importance_path != NULL) != 0)
        return QTFC_EXIT_FAILURE;
    r->lad.sensitivity_power = rungs == ggml_ladder ? GGML_SENSITIVITY_POWER
                                                    : QTF_SENSITIVITY_POWER;
    r->lad.power_full_floor_bpw = rungs == ggml_ladder ? INFINITY : SENSITIVITY_FULL_FLOOR_BPW;
    qtf_status st = qtf_source_open(&r->src, o->input);
    if (st != QTF_OK) {
        fprintf(stderr, "qtf-convert: %s: cannot open checkpoint: %s\n", o->input,
                cli_why(st));
        return QTFC_EXIT_USAGE;
    }
    char err[8192];
    int is_imatrix = o->importance_path ? qtf_imatrix_map_open(&r->imx, o->importance_path,
                                                                r->src, err, sizeof err) : 0;
    if (is_imatrix < 0) {
        fprintf(stderr, "qtf-convert: %s\n", err);
        return QTFC_EXIT_USAGE;
    }
    if (o->importance_path && !is_imatrix) {
        st = qtf_source_open(&r->imp, o->importance_path);
        if (st != QTF_OK) {
            fprintf(stderr, "qtf-convert: %s: cannot open importance file: %s\n",
                    o->importance_path, cli_why(st));
            return QTFC_EXIT_USAGE;
        }
    }
    qtfc_plan_options po = { QTFC_OUTPUT_QTF, recipe, 0, QTF_DTYPE_F32, r->imp, r->imx };
    if (qtfc_plan_build(&r->plan, r->src, &po, err, sizeof err) != 0) {
        fprintf(stderr, "qtf-convert: %s\n", err);
        return QTFC_EXIT_USAGE;
    }
    r->ft = calloc(r->plan.n_items ? r->plan.n_items : 1, sizeof *r->ft);
    if (!r->ft) {
        fprintf(stderr, "qtf-convert: --target: out of memory\n");
        return QTFC_EXIT_FAILURE;
    }
    return QTFC_EXIT_OK;
}

/* The budget in tensor bytes for `elements` weights. */
static uint64_t budget_of(const qtfc_target_options *o, uint64_t elements) {
    if (o->target_bpw <= 0) return o->target_bytes;
    double b = floor(o->target_bpw * (double)elements / 8.0);
    return b >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)b;
}

/* The option index of ladder rung k in a free tensor's options; the floor
 * rung is in every one (qtfc_budget_floor chose it so, apply_floor keeps it). */
static uint32_t option_of(const free_tensor *t, uint32_t k) {
    uint32_t c = 0;
    while (t->which[c] != k) c++;
    return c;
}

/* Keeps, for every free tensor, the floor rung (ladder index k, or
 * QTFC_BUDGET_NO_LABEL: none) and the options whose predicted error is at
 * most FLOOR_GAIN times the floor rung's there, and none of the other
 * RUNG_FLOOR_ONLY rungs, in ladder order; records the floor's error for the
 * table. */
static void apply_floor(free_tensor *ft, uint64_t n_free, uint32_t k, const ladder *lad) {
    for (uint64_t i = 0; i < n_free; i++) {
        uint32_t f = k == QTFC_BUDGET_NO_LABEL ? UINT32_MAX : option_of(&ft[i], k);
        double limit = f == UINT32_MAX ? INFINITY : ft[i].options[f].error;
        ft[i].floor_error = f == UINT32_MAX ? NAN : limit;
        uint32_t m = 0;
        for (uint32_t c = 0; c < ft[i].n; c++) {
            if (c != f && (lad->when[ft[i].which[c]] & RUNG_FLOOR_ONLY)) continue;
            if (c != f && ft[i].options[c].error > FLOOR_GAIN * limit) continue;
            ft[i].options[m] = ft[i].options[c];
            ft[i].which[m] = ft[i].which[c];
            ft[i].exact[m] = ft[i].exact[c];
            m++;
        }
        ft[i].n = m;
    }
}

/* Weights of the free tensors. */
static double free_elements(const free_tensor *ft, uint64_t n_free) {
    double n = 0;
    for (uint64_t i = 0; i < n_free; i++) n += (double)ft[i].item->tensor->n_elements;
    return n;
}

/* Without an importance file, weighs each tensor's predicted error by its
 * share of the free weights, so that the sum is the relative squared error
 * of all free weights together (target.h). Unweighted, every tensor counted
 * alike, and the solver paid for upgrades of the small k/v projections with
 * downgrades of the large MLP matrices, which weight error favours and the
 * loss does not: measured without importance, weighted against unweighted
 * (paired, points of percent; bench/RESULTS.md, round 7), the held-out model
 * at 3.5 bits -0.681 +- 0.032, 3.25 bits -0.227 +- 0.075, 2.5 bits
 * -0.722 +- 0.072, bytes-c at 3.25 bits -0.400 +- 0.069, the ggml ladder
 * -0.084 to -0.157 on the held-out model; it costs +0.055 and +0.079 at
 * 4.25 bits, and +0.198 on bytes-c's ggml plan at 3.5 bits (lm_head to
 * iq4_xs, whose lower weight error there comes with a higher loss). With an
 * importance file the tensors stay alike: there the weighting raised the
 * loss (bytes-c at 3.25 bits +0.142% -> +0.581%, the held-out model at 3.25
 * bits +0.649% -> +0.853%, at 3.5 bits +0.333% -> +0.429%; rounds 3, 5, 7). */
static void weigh_by_share(free_tensor *ft, uint64_t n_free) {
    double total = free_elements(ft, n_free);
    for (uint64_t i = 0; i < n_free; i++) {
        double share = (double)ft[i].item->tensor->n_elements / total;
        for (uint32_t c = 0; c < ft[i].n; c++) ft[i].options[c].error *= share;
    }
}

/* With an importance file that gives every free tensor a sensitivity
 * (NAME.sensitivity: one finite value > 0, sum_ij F_ij W_ij^2 with F the
 * empirical Fisher information of the loss; bench/model_quality.py writes
 * it), weighs each tensor's predicted error by its sensitivity to the power
 * `power` (the ladder's; target.h). The relative errors alone count every
 * tensor alike, and the output head, whose errors cost the loss most, went
 * to int2 at 2.5 bits. The sensitivity itself is a poor weight: it spans
 * two orders of magnitude over the tensors of one model, and weighted by
 * it the plans spread from 3.3 to 5.5 bits at 4.25 bits and the loss rose
 * (held-out model +0.038% -> +0.174%, 3.25 bits +0.649% -> +1.184%).
 * Returns 1 when applied, 0 when the file has no sensitivities (or not for
 * every free tensor: said, and none is used), -1 after a message on a
 * malformed value. */
#define SENSITIVITY_SUFFIX ".sensitivity"
static int weigh_by_sensitivity(free_tensor *ft, uint64_t n_free, const qtf_source *imp,
                                const char *path, double power) {
    if (!imp || n_free == 0) return 0;
    double *s = calloc(n_free, sizeof *s);
    if (!s) {
        fprintf(stderr, "qtf-convert: --target: out of memory\n");
        return -1;
    }
    uint64_t found = 0, first_missing = UINT64_MAX;
    int rc = 0;
    for (uint64_t i = 0; i < n_free; i++) {
        char key[1024];
        int kn = snprintf(key, sizeof key, "%s%s", ft[i].item->tensor->name, SENSITIVITY_SUFFIX);
        uint64_t idx;
        if (kn < 0 || (size_t)kn >= sizeof key || qtf_source_tensor_find(&idx, imp, key) != QTF_OK) {
            if (first_missing == UINT64_MAX) first_missing = i;
            continue;
        }
        const qtf_source_tensor *v = qtf_source_tensor_get(imp, idx);
        float x = NAN;
        if (v->n_elements != 1 || qtf_source_read_f32(&x, 1, imp, idx, 1) != QTF_OK ||
            !isfinite(x) || x <= 0) {
            fprintf(stderr, "qtf-convert: %s: '%s': expected one finite value > 0 (the "
                    "tensor's sensitivity), found %llu element%s%s%g\n", path, key,
                    (unsigned long long)v->n_elements, v->n_elements == 1 ? "" : "s",
                    v->n_elements == 1 ? ": " : "", v->n_elements == 1 ? (double)x : 0.0);
            rc = -1;
            goto out;
        }
        s[i] = pow((double)x, power);
        found++;
    }
    if (found == 0) goto out;
    if (found < n_free) {
        fprintf(stderr, "qtf-convert: warning: --importance %s: %llu of the %llu allocated "
                "tensors have no sensitivity (first '%s%s'): the allocation weighs no tensor "
                "by its sensitivity\n", path, (unsigned long long)(n_free - found),
                (unsigned long long)n_free, ft[first_missing].item->tensor->name,
                SENSITIVITY_SUFFIX);
        goto out;
    }
    for (uint64_t i = 0; i < n_free; i++)
        for (uint32_t c = 0; c < ft[i].n; c++) ft[i].options[c].error *= s[i];
    rc = 1;
out:
    free(s);
    return rc;
}

/* Bits per weight of the smallest candidate of a free tensor; its option
 * index in *at. */
static double smallest_bpw(const free_tensor *ft, uint32_t *at) {
    uint32_t m = 0;
    for (uint32_t c = 1; c < ft->n; c++)
        if (ft->options[c].bytes < ft->options[m].bytes) m = c;
    *at = m;
    return 8.0 * (double)ft->options[m].bytes / (double)ft->item->tensor->n_elements;
}

/* After a budget that cannot be met: names the tensors whose smallest
 * candidate takes more bits per weight than the budget (e.g. rows of 172,
 * which only f16 fits among the ggml types), so the user knows what to pin
 * or why; one line when that is every tensor. (Every free tensor has a
 * candidate: run_allocate checked it.) */
static void name_costly_tensors(const free_tensor *ft, uint64_t n_free, const ladder *lad,
                                double budget_bpw) {
    uint64_t count = 0;
    double least = INFINITY;
    uint32_t m;
    for (uint64_t i = 0; i < n_free; i++) {
        double bpw = smallest_bpw(&ft[i], &m);
        if (bpw <= budget_bpw) continue;
        count++;
        if (bpw < least) least = bpw;
    }
    if (count == n_free) {
        fprintf(stderr, "qtf-convert: --target: every tensor's smallest candidate takes %.3f "
                "bits/weight or more\n", least);
        return;
    }
    uint64_t shown = 0;
    for (uint64_t i = 0; i < n_free && shown < 8; i++) {
        double bpw = smallest_bpw(&ft[i], &m);
        if (bpw <= budget_bpw) continue;
        fprintf(stderr, "qtf-convert: --target: tensor '%s' (rows of %llu): its smallest "
                "candidate, %s, takes %.3f bits/weight\n", ft[i].item->tensor->name,
                (unsigned long long)ft[i].cols, lad->text[ft[i].which[m]], bpw);
        shown++;
    }
    if (count > shown) fprintf(stderr, "qtf-convert: --target: and %llu more such tensors\n",
                               (unsigned long long)(count - shown));
}

/* Measures the candidates of the free tensors (r->ft[0..n_free)) and
 * solves the knapsack for budget - fixed bytes; prints the allocation with
 * dry_run or verbose. Returns an exit code after a message. */
static int run_allocate(target_run *r, uint64_t budget, uint64_t fixed, uint64_t elements) {
    const qtfc_target_options *o = r->o;
    char err[8192];
    if (fixed > budget) {
        fprintf(stderr, "qtf-convert: --target: the budget of %llu tensor bytes cannot be met: "
                "the pinned and kept tensors alone take %llu\n", (unsigned long long)budget,
                (unsigned long long)fixed);
        return QTFC_EXIT_USAGE;
    }
    double budget_bpw = elements ? 8.0 * (double)budget / (double)elements : 0.0;
    if (measure_all(r->ft, r->n_free, r->src, r->imp, r->imx, &r->lad, budget_bpw,
                    budget - fixed, o) != 0)
        return QTFC_EXIT_FAILURE;
    if (!o->importance_path) weigh_by_share(r->ft, r->n_free);
    r->items = calloc(r->n_free ? r->n_free : 1, sizeof *r->items);
    r->choice = calloc(r->n_free ? r->n_free : 1, sizeof *r->choice);
    if (!r->items || !r->choice) {
        fprintf(stderr, "qtf-convert: --target: out of memory\n");
        return QTFC_EXIT_FAILURE;
    }
    for (uint64_t i = 0; i < r->n_free; i++) {
        if (r->ft[i].n == 0) {
            fprintf(stderr, "qtf-convert: --target: no candidate encoding applies to tensor "
                    "'%s'; pin it with --rule\n", r->ft[i].item->tensor->name);
            return QTFC_EXIT_USAGE;
        }
    }
    /* The floor's candidates (target.h): fixed-rate rungs only, whose size
     * is exact (a zstd rung's size and error vary with the tensor). */
    const uint32_t **labels = calloc(r->n_free ? r->n_free : 1, sizeof *labels);
    if (!labels) {
        fprintf(stderr, "qtf-convert: --target: out of memory\n");
        return QTFC_EXIT_FAILURE;
    }
    for (uint64_t i = 0; i < r->n_free; i++) {
        free_tensor *t = &r->ft[i];
        for (uint32_t c = 0; c < t->n; c++)
            t->label[c] = t->exact[c] && r->lad.enc[t->which[c]].zstd_level == 0 &&
                                  !(r->lad.when[t->which[c]] & RUNG_NO_FLOOR)
                              ? t->which[c]
                              : QTFC_BUDGET_NO_LABEL;
        r->items[i] = (qtfc_budget_item){ t->options, t->n };
        labels[i] = t->label;
        t->floor_error = NAN;           /* apply_floor sets it */
    }
    double floor_err = 0;
    uint64_t floor_bytes = 0;
    /* The power of the sensitivities (SENSITIVITY_FULL_FLOOR_BPW): full when
     * the floor of the errors not yet weighed by them takes that many bits
     * per weight, so that no tensor can take a rung of fewer bits. */
    double power = r->lad.sensitivity_power;
    if (o->importance_path && r->lad.power_full_floor_bpw < INFINITY) {
        uint32_t k0 = qtfc_budget_floor(&floor_err, &floor_bytes, r->items, labels, r->n_free,
                                        r->lad.n, budget - fixed);
        if (k0 != QTFC_BUDGET_NO_LABEL &&
            8.0 * (double)floor_bytes >= r->lad.power_full_floor_bpw * free_elements(r->ft, r->n_free))
            power = QTF_SENSITIVITY_POWER_FULL;
    }
    int by_sensitivity = weigh_by_sensitivity(r->ft, r->n_free, r->imp, o->importance_path,
                                              power);
    if (by_sensitivity < 0) {
        free(labels);
        return QTFC_EXIT_USAGE;
    }
    if (by_sensitivity && !o->quiet)
        fprintf(stderr, "qtf-convert: target: each tensor's predicted error weighed by its "
                "sensitivity to the power %g (%s)\n", power, o->importance_path);
    uint32_t fk = qtfc_budget_floor(&floor_err, &floor_bytes, r->items, labels, r->n_free,
                                    r->lad.n, budget - fixed);
    free(labels);
    apply_floor(r->ft, r->n_free, fk, &r->lad);
    if (!o->quiet) {
        if (fk != QTFC_BUDGET_NO_LABEL)
            fprintf(stderr, "qtf-convert: target: floor %s (every tensor at least as good as "
                    "with it; alone it takes %.3f bits/weight, summed predicted error %.4e)\n",
                    r->lad.text[fk], 8.0 * (double)(floor_bytes + fixed) / (double)elements,
                    floor_err);
        else if (o->dry_run || o->verbose)
            fprintf(stderr, "qtf-convert: target: no floor (no single fixed-rate candidate "
                    "fits the budget on every tensor)\n");
    }
    for (uint64_t i = 0; i < r->n_free; i++)
        r->items[i] = (qtfc_budget_item){ r->ft[i].options, r->ft[i].n };
    for (;;) {
        if (qtfc_budget_solve(r->choice, &r->res, r->items, r->n_free, budget - fixed, 0, err,
                              sizeof err) != 0) {
            fprintf(stderr, "qtf-convert: --target: %s (%llu of the budget's %llu bytes are "
                    "taken by pinned and kept tensors)\n", err, (unsigned long long)fixed,
                    (unsigned long long)budget);
            name_costly_tensors(r->ft, r->n_free, &r->lad, 8.0 * (double)budget / (double)elements);
            return QTFC_EXIT_USAGE;
        }
        /* Until every chosen size is measured on its whole tensor: each
         * round makes at least one estimate exact, so this ends. */
        long updated = measure_chosen(r->ft, r->n_free, r->choice, r->src, &r->lad, o);
        if (updated < 0) return QTFC_EXIT_FAILURE;
        if (updated == 0) break;
    }
    if (fk != QTFC_BUDGET_NO_LABEL && r->res.error > PLAN_GAIN * floor_err &&
        r->res.error < floor_err) {
        if (!o->quiet)
            fprintf(stderr, "qtf-convert: target: the best plan predicts %.1f%% less error than "
                    "%s alone, under the %.0f%% the predicted error can rank: every tensor "
                    "takes %s (%.3f bits/weight)\n",
                    floor_err > 0 ? 100.0 * (1.0 - r->res.error / floor_err) : 0.0,
                    r->lad.text[fk], 100.0 * (1.0 - PLAN_GAIN), r->lad.text[fk],
                    8.0 * (double)(floor_bytes + fixed) / (double)elements);
        for (uint64_t i = 0; i < r->n_free; i++) r->choice[i] = option_of(&r->ft[i], fk);
        r->res.bytes = floor_bytes;
        r->res.error = floor_err;
    }
    if (o->dry_run || o->verbose)
        print_allocation(stdout, &r->lad, r->ft, r->n_free, r->choice, &r->res, budget, fixed,
                         elements, o->importance_path != NULL);
    else if (!o->quiet)
        fprintf(stderr, "qtf-convert: target: %llu tensors allocated, %.3f bits/weight planned, "
                "summed predicted error %.4e (lower bound %.4e)\n", (unsigned long long)r->n_free,
                8.0 * (double)(r->res.bytes + fixed) / (double)elements, r->res.error,
                r->res.lower_bound);
    return QTFC_EXIT_OK;
}

/* The ladder text chosen for free tensor i. */
static const char *run_chosen(const target_run *r, uint64_t i) {
    return r->lad.text[r->ft[i].which[r->choice[i]]];
}

int qtfc_target_apply(qtfc_recipe *recipe, const qtfc_target_options *o) {
    target_run r;
    int code = o->ggml_ladder ? run_open(&r, o, recipe, ggml_ladder, N_GGML_LADDER)
                              : run_open(&r, o, recipe, qtf_ladder, N_QTF_LADDER);
    if (code != QTFC_EXIT_OK) goto out;
    uint64_t budget = budget_of(o, r.plan.total_elements), fixed = 0;
    for (uint64_t i = 0; i < r.plan.n_items; i++) {
        if (is_free(&r.plan.items[i])) r.ft[r.n_free++].item = &r.plan.items[i];
        else fixed += r.plan.items[i].out_bytes;
    }
    code = run_allocate(&r, budget, fixed, r.plan.total_elements);
    if (code != QTFC_EXIT_OK) goto out;
    for (uint64_t i = 0; i < r.n_free; i++) {
        char glob[1024], rule[1200], err[1024];
        qtfc_glob_escape(glob, sizeof glob, r.ft[i].item->tensor->name);
        snprintf(rule, sizeof rule, "%s=%s", glob, run_chosen(&r, i));
        if (qtfc_recipe_add_rule(recipe, rule, o->target_bpw > 0 ? "--target-bpw" : "--target-size",
                                 err, sizeof err) != 0) {
            fprintf(stderr, "qtf-convert: %s\n", err);
            code = QTFC_EXIT_FAILURE;
            goto out;
        }
    }
out:
    run_free(&r);
    return code;
}

int qtfc_target_ggml(const char **out_types, const char *const *names, size_t n,
                     uint64_t fixed_bytes, uint64_t elements, const qtfc_target_options *o) {
    /* A QTF plan of the checkpoint finds and checks each tensor's
     * importance vector and its layout; every float tensor plans under
     * int8, which fits any row. */
    qtfc_recipe recipe;
    qtfc_recipe_init(&recipe);
    recipe.all_layers = 1;
    target_run r;
    int code = QTFC_EXIT_FAILURE;
    if (qtfc_spec_parse(&recipe.default_spec, "int8", NULL, 0) != 0) {
        memset(&r, 0, sizeof r);
        fprintf(stderr, "qtf-convert: --target: int8: %s\n", qtf_error_detail());
        goto out;
    }
    code = run_open(&r, o, &recipe, ggml_ladder, N_GGML_LADDER);
    if (code != QTFC_EXIT_OK) goto out;
    for (size_t i = 0; i < n; i++) {
        uint64_t k;     /* the plan has one item per source tensor, in source order */
        const qtfc_plan_item *it = qtf_source_tensor_find(&k, r.src, names[i]) == QTF_OK &&
                                           k < r.plan.n_items
                                       ? &r.plan.items[k]
                                       : NULL;
        if (!it || it->tensor->n_dims < 2) {
            fprintf(stderr, "qtf-convert: --target: tensor '%s' is not a weight matrix of %s\n",
                    names[i], o->input);
            code = QTFC_EXIT_USAGE;
            goto out;
        }
        r.ft[r.n_free++].item = it;
    }
    code = run_allocate(&r, budget_of(o, elements), fixed_bytes, elements);
    if (code != QTFC_EXIT_OK) goto out;
    for (size_t i = 0; i < n; i++) out_types[i] = run_chosen(&r, i);
out:
    run_free(&r);
    qtfc_recipe_free(&recipe);
    return code;
}
