/* convert/target.c — --target-bpw / --target-size (target.h): measure every
 * ladder candidate on every free tensor, solve the knapsack, add the rules. */
#include "target.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "convert.h"
#include "plan.h"
#include "checkpoint/source.h"
#include "cli/cli_util.h"

static const char *const ladder[] = {
    "bf16",
    "int8",
    "int6:group=32",
    "int5:group=32",
    "int4:group=32",
    "int4:group=32,search",
    "int4:group=64",
    "int4:group=64,search",
    "pal4:group=32,dq",
    "int3:group=32",
    "int3:group=32,search",
    "int3:group=64",
    "int3:group=64,search",
    "int3:group=32,dq,search",
    "pal3:group=32,dq",
    "int2:group=32",
    "int2:group=32,search",
    "int2:group=32,dq,search",
    "pal2:group=32,dq",
};
#define N_LADDER (sizeof ladder / sizeof ladder[0])

typedef struct free_tensor {
    const qtfc_plan_item *item;
    qtfc_budget_option options[N_LADDER];
    uint32_t which[N_LADDER];          /* ladder index of each option */
    uint32_t n;
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

/* Normalized importance-weighted error of `enc` on w (rows x cols). */
static qtf_status measure(double *out, const qtf_encoding *enc, const float *w, float *deq,
                          const qtf_source_tensor *t, const float *imp, unsigned threads) {
    qtf_quantize_options qo = QTF_QUANTIZE_OPTIONS_INIT;
    qo.threads = threads;
    qo.importance = imp;
    qtf_encoded *e = NULL;
    qtf_status st = qtf_quantize(&e, enc, w, t->n_dims, t->dims, &qo);
    if (st != QTF_OK) return st;
    qtf_part_view views[QTF_MAX_PARTS];
    uint32_t nv = qtf_encoded_views(views, e);
    st = qtf_dequantize(deq, QTF_DTYPE_F32, t->n_elements, enc, t->n_dims, t->dims, views, nv,
                        threads);
    qtf_encoded_free(e);
    if (st != QTF_OK) return st;
    qtf_metrics m;
    uint64_t cols = t->dims[t->n_dims - 1];
    st = qtf_metrics_compute(&m, w, deq, t->n_elements, imp, cols);
    if (st != QTF_OK) return st;
    *out = m.rel_rmse * m.rel_rmse;
    return QTF_OK;
}

/* Escapes fnmatch's special characters so that the rule matches the name only. */
static void escape_glob(char *out, size_t cap, const char *name) {
    size_t j = 0;
    for (const char *p = name; *p && j + 2 < cap; p++) {
        if (strchr("*?[]\\", *p)) out[j++] = '\\';
        out[j++] = *p;
    }
    out[j] = '\0';
}

static int measure_all(free_tensor *ft, uint64_t n_free, const qtf_source *src,
                       const qtf_source *imp, const qtf_imatrix_map *imx,
                       const qtf_encoding *encs, const qtfc_target_options *o) {
    uint64_t max_n = 0, max_cols = 0;
    for (uint64_t i = 0; i < n_free; i++) {
        const qtf_source_tensor *t = ft[i].item->tensor;
        if (t->n_elements > max_n) max_n = t->n_elements;
        for (uint32_t d = 0; d < t->n_dims; d++)   /* dims[0]: a Conv1D weight's input */
            if (t->dims[d] > max_cols) max_cols = t->dims[d];
    }
    if (max_n > SIZE_MAX / 2 / sizeof(float)) {
        fprintf(stderr, "qtf-convert: --target: a tensor of %llu elements does not fit in memory\n",
                (unsigned long long)max_n);
        return -1;
    }
    float *w = malloc((size_t)max_n * sizeof *w), *deq = malloc((size_t)max_n * sizeof *deq);
    float *a = malloc((size_t)(max_cols ? max_cols : 1) * sizeof *a);
    float *wt = NULL;           /* the transpose of an input-first (Conv1D) weight */
    for (uint64_t i = 0; i < n_free && !wt; i++)
        if (ft[i].item->input_first) wt = malloc((size_t)max_n * sizeof *wt);
    int rc = -1;
    if (!w || !deq || !a) {
        fprintf(stderr, "qtf-convert: --target: out of memory\n");
        goto out;
    }
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
        ft[i].n = 0;
        /* A Conv1D weight is encoded as its transpose (groups along the
         * input, plan.c): measured in that form. bf16, the one lossless
         * candidate, stays row-major, with the same size and error. */
        qtf_source_tensor shape = *t;
        const float *x = w;
        if (it->input_first) {
            if (!wt) {
                fprintf(stderr, "qtf-convert: --target: out of memory\n");
                goto out;
            }
            qtfc_transpose_f32(wt, w, t->dims[0], t->dims[1]);
            shape.dims[0] = t->dims[1];
            shape.dims[1] = t->dims[0];
            x = wt;
        }
        for (uint32_t k = 0; k < N_LADDER; k++) {
            int ok;
            uint64_t bytes = layout_bytes(&encs[k], &shape, &ok);
            if (!ok) continue;
            double err;
            st = measure(&err, &encs[k], x, deq, &shape, weights, o->threads);
            if (st != QTF_OK) {
                fprintf(stderr, "qtf-convert: tensor '%s': %s: %s\n", t->name, ladder[k],
                        cli_why(st));
                goto out;
            }
            if (!isfinite(err)) continue;   /* e.g. an all-zero weighting: not a candidate */
            ft[i].options[ft[i].n] = (qtfc_budget_option){ bytes, err };
            ft[i].which[ft[i].n++] = k;
        }
        if (o->verbose && !o->dry_run)
            fprintf(stderr, "qtf-convert: target: measured %s (%u candidates)\n", t->name, ft[i].n);
    }
    rc = 0;
out:
    free(w);
    free(wt);
    free(deq);
    free(a);
    return rc;
}

static void print_allocation(FILE *f, const free_tensor *ft, uint64_t n_free,
                             const uint32_t *choice, const qtfc_budget_result *r, uint64_t budget,
                             uint64_t fixed, uint64_t elements, int importance) {
    fprintf(f, "%-48s %-26s %12s %8s %14s\n", "tensor (--target allocation)", "encoding",
            "bytes", "bpw", importance ? "pred. w-error" : "pred. error");
    for (uint64_t i = 0; i < n_free; i++) {
        const qtfc_budget_option *op = &ft[i].options[choice[i]];
        const qtf_source_tensor *t = ft[i].item->tensor;
        fprintf(f, "%-48s %-26s %12llu %8.3f %14.6e\n", t->name, ladder[ft[i].which[choice[i]]],
                (unsigned long long)op->bytes, 8.0 * (double)op->bytes / (double)t->n_elements,
                op->error);
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

int qtfc_target_apply(qtfc_recipe *recipe, const qtfc_target_options *o) {
    qtf_source *src = NULL, *imp = NULL;
    qtf_imatrix_map *imx = NULL;
    qtfc_plan plan;
    memset(&plan, 0, sizeof plan);
    free_tensor *ft = NULL;
    uint32_t *choice = NULL;
    qtfc_budget_item *items = NULL;
    int code = QTFC_EXIT_USAGE;
    char err[8192];

    qtf_encoding encs[N_LADDER];
    for (uint32_t k = 0; k < N_LADDER; k++) {
        if (qtf_encoding_parse(&encs[k], ladder[k]) != QTF_OK) {
            fprintf(stderr, "qtf-convert: --target: ladder entry %s: %s\n", ladder[k],
                    qtf_error_detail());
            return QTFC_EXIT_FAILURE;
        }
    }
    qtf_status st = qtf_source_open(&src, o->input);
    if (st != QTF_OK) {
        fprintf(stderr, "qtf-convert: %s: cannot open checkpoint: %s\n", o->input,
                cli_why(st));
        goto out;
    }
    char ierr[2048];
    int is_imatrix = o->importance_path ? qtf_imatrix_map_open(&imx, o->importance_path, src,
                                                                ierr, sizeof ierr) : 0;
    if (is_imatrix < 0) {
        fprintf(stderr, "qtf-convert: %s\n", ierr);
        goto out;
    }
    if (o->importance_path && !is_imatrix) {
        st = qtf_source_open(&imp, o->importance_path);
        if (st != QTF_OK) {
            fprintf(stderr, "qtf-convert: %s: cannot open importance file: %s\n",
                    o->importance_path, cli_why(st));
            goto out;
        }
    }
    qtfc_plan_options po = { QTFC_OUTPUT_QTF, recipe, 0, QTF_DTYPE_F32, imp, imx };
    if (qtfc_plan_build(&plan, src, &po, err, sizeof err) != 0) {
        fprintf(stderr, "qtf-convert: %s\n", err);
        goto out;
    }

    uint64_t budget;
    if (o->target_bpw > 0) {
        double b = floor(o->target_bpw * (double)plan.total_elements / 8.0);
        budget = b >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)b;
    } else {
        budget = o->target_bytes;
    }
    uint64_t n_free = 0, fixed = 0;
    ft = calloc(plan.n_items ? plan.n_items : 1, sizeof *ft);
    if (!ft) goto oom;
    for (uint64_t i = 0; i < plan.n_items; i++) {
        if (is_free(&plan.items[i])) ft[n_free++].item = &plan.items[i];
        else fixed += plan.items[i].out_bytes;
    }
    if (fixed > budget) {
        fprintf(stderr, "qtf-convert: --target: the budget of %llu tensor bytes cannot be met: "
                "the pinned and kept tensors alone take %llu\n", (unsigned long long)budget,
                (unsigned long long)fixed);
        goto out;
    }
    code = QTFC_EXIT_FAILURE;
    if (measure_all(ft, n_free, src, imp, imx, encs, o) != 0) goto out;

    items = calloc(n_free ? n_free : 1, sizeof *items);
    choice = calloc(n_free ? n_free : 1, sizeof *choice);
    if (!items || !choice) goto oom;
    code = QTFC_EXIT_USAGE;
    for (uint64_t i = 0; i < n_free; i++) {
        if (ft[i].n == 0) {
            fprintf(stderr, "qtf-convert: --target: no candidate encoding applies to tensor "
                    "'%s'; pin it with --rule\n", ft[i].item->tensor->name);
            goto out;
        }
        items[i] = (qtfc_budget_item){ ft[i].options, ft[i].n };
    }
    qtfc_budget_result res;
    if (qtfc_budget_solve(choice, &res, items, n_free, budget - fixed, 0, err, sizeof err) != 0) {
        fprintf(stderr, "qtf-convert: --target: %s (%llu of the budget's %llu bytes are taken "
                "by pinned and kept tensors)\n", err, (unsigned long long)fixed,
                (unsigned long long)budget);
        goto out;
    }
    for (uint64_t i = 0; i < n_free; i++) {
        char glob[1024], rule[1200];
        escape_glob(glob, sizeof glob, ft[i].item->tensor->name);
        snprintf(rule, sizeof rule, "%s=%s", glob, ladder[ft[i].which[choice[i]]]);
        if (qtfc_recipe_add_rule(recipe, rule, o->target_bpw > 0 ? "--target-bpw" : "--target-size",
                                 err, sizeof err) != 0) {
            fprintf(stderr, "qtf-convert: %s\n", err);
            code = QTFC_EXIT_FAILURE;
            goto out;
        }
    }
    if (o->dry_run || o->verbose)
        print_allocation(stdout, ft, n_free, choice, &res, budget, fixed, plan.total_elements,
                         o->importance_path != NULL);
    else if (!o->quiet)
        fprintf(stderr, "qtf-convert: target: %llu tensors allocated, %.3f bits/weight planned, "
                "summed predicted error %.4e (lower bound %.4e)\n", (unsigned long long)n_free,
                8.0 * (double)(res.bytes + fixed) / (double)plan.total_elements, res.error,
                res.lower_bound);
    code = QTFC_EXIT_OK;
    goto out;
oom:
    fprintf(stderr, "qtf-convert: --target: out of memory\n");
    code = QTFC_EXIT_FAILURE;
out:
    free(items);
    free(choice);
    free(ft);
    qtfc_plan_free(&plan);
    qtf_imatrix_map_free(imx);
    qtf_source_close(imp);
    qtf_source_close(src);
    return code;
}
