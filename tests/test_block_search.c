/* Scale search (format/block_search.c): never worse than rtn on any group,
 * close to a brute-force optimum, and importance weights steer it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common/common.h"
#include "support/blocks.h"

#include "format/block_family.h"

/* Weighted squared error of each group of `group` elements. */
static double *group_errors(const float *x, const float *y, uint64_t rows, uint64_t cols,
                            uint64_t group, const float *w) {
    uint64_t n = rows * cols / group;
    double *e = calloc(n, sizeof *e);
    cr_assert_not_null(e);
    for (uint64_t i = 0; i < rows * cols; i++) {
        double d = (double)x[i] - y[i];
        e[i / group] += (w ? w[i % cols] : 1.0) * d * d;
    }
    return e;
}

static void search_vs_rtn(const char *rtn_text, const char *search_text, const float *w,
                          double min_gain) {
    const uint64_t rows = 32, cols = 512;
    float *x = t4_data(rows * cols, 41);
    qtf_encoding er = enc(rtn_text), es = enc(search_text);
    uint64_t group = er.group == QTF_GROUP_ROW      ? cols
                     : er.group == QTF_GROUP_TENSOR ? rows * cols
                                                    : er.group;
    blk a, b;
    cr_assert_eq(blk_quantize(&a, &er, x, rows, cols, w, 1), QTF_OK);
    cr_assert_eq(blk_quantize(&b, &es, x, rows, cols, w, 1), QTF_OK, "%s: %s", search_text,
                 qtf_error_detail());
    float *ya = blk_dequantize(&a, 1), *yb = blk_dequantize(&b, 1);
    double *ea = group_errors(x, ya, rows, cols, group, w);
    double *eb = group_errors(x, yb, rows, cols, group, w);
    double ta = 0, tb = 0;
    for (uint64_t g = 0; g < rows * cols / group; g++) {
        /* float accumulation inside the search: allow a relative 1e-5 */
        cr_assert(eb[g] <= ea[g] * (1 + 1e-5) + 1e-12, "%s group %llu: %g > rtn %g",
                  search_text, (unsigned long long)g, eb[g], ea[g]);
        ta += ea[g];
        tb += eb[g];
    }
    cr_assert(tb <= ta * (1 - min_gain), "%s: total %g vs rtn %g (wanted %.0f%% less)",
              search_text, tb, ta, 100 * min_gain);
    free(ea);
    free(eb);
    free(ya);
    free(yb);
    free(x);
    blk_free(&a);
    blk_free(&b);
}

Test(search, never_worse_than_rtn_on_any_group) {
    search_vs_rtn("int4:group=32", "int4:group=32,search", NULL, 0.03);
    search_vs_rtn("int4:group=64,scale=bf16", "int4:group=64,scale=bf16,search", NULL, 0.03);
    search_vs_rtn("int3:group=64,asym", "int3:group=64,asym,search", NULL, 0.03);
    search_vs_rtn("int2:group=16,asym,scale=f32", "int2:group=16,asym,scale=f32,search", NULL,
                  0.03);
    search_vs_rtn("int8:group=row", "int8:group=row,search", NULL, 0.0);
    search_vs_rtn("int5:group=32,asym,scale=bf16", "int5:group=32,asym,scale=bf16,search", NULL,
                  0.01);
    search_vs_rtn("nf4:group=64", "nf4:group=64,search", NULL, 0.03);
    search_vs_rtn("fp4:group=32", "fp4:group=32,search", NULL, 0.01);
    search_vs_rtn("int4:group=tensor", "int4:group=tensor,search", NULL, 0.03);
}

Test(search, never_worse_than_rtn_with_importance) {
    float w[512];
    rng r = { 3 };
    for (int j = 0; j < 512; j++) w[j] = (float)(rng_unit(&r) * rng_unit(&r) * 10);
    w[7] = 0.0f;
    search_vs_rtn("int4:group=32", "int4:group=32,search", w, 0.03);
    search_vs_rtn("int4:group=64,asym", "int4:group=64,asym,search", w, 0.03);
    search_vs_rtn("nf4:group=64", "nf4:group=64,search", w, 0.03);
    search_vs_rtn("fp4:group=32", "fp4:group=32,search", w, 0.0);
}

Test(search, importance_weights_lower_the_weighted_error) {
    /* Weights with outlier columns (x20), and a few other columns that matter
     * 100x more (like inputs with outlier activations): the weighted search
     * must serve them better than the unweighted one. */
    const uint64_t rows = 64, cols = 512;
    float *x = t4_data(rows * cols, 43);
    for (uint64_t i = 0; i < rows * cols; i++)
        if ((i % cols) % 53 == 5) x[i] *= 20.0f;
    float w[512];
    for (int j = 0; j < 512; j++) w[j] = (j % 37 == 0) ? 100.0f : 1.0f;
    const char *texts[] = { "int4:group=64,search", "int3:group=128,asym,search",
                            "nf4:group=64,search" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        qtf_encoding e = enc(texts[t]);
        qtf_metrics ma = blk_metrics(&e, x, rows, cols, NULL, w);
        qtf_metrics mb = blk_metrics(&e, x, rows, cols, w, w);
        cr_assert(mb.mse < ma.mse * 0.95, "%s: weighted mse %g (weighted) vs %g (unweighted)",
                  texts[t], mb.mse, ma.mse);
    }
    free(x);
}

Test(search, close_to_a_brute_force_optimum) {
    /* int3 sym, groups of 16: the oracle tries 4000 scales spanning
     * [0.5, 1.5] x the rtn scale, each with nearest codes (the exact optimum
     * lies in that range for such data, up to the grid resolution). */
    const uint64_t groups = 200, group = 16;
    float *x = t4_data(groups * group, 47);
    qtf_encoding e = enc("int3:group=16,scale=f32,search");
    float *y = blk_decode(&e, x, groups, group, NULL, 1);
    double ours = 0, oracle = 0;
    for (uint64_t g = 0; g < groups; g++) {
        const float *v = x + g * group;
        float amax = 0, ext = 0;
        for (uint64_t j = 0; j < group; j++)
            if (fabsf(v[j]) > amax) {
                amax = fabsf(v[j]);
                ext = v[j];
            }
        double best = INFINITY;
        for (int k = 0; k <= 4000; k++) {
            double s = (ext / -4.0) * (0.5 + k / 4000.0), err = 0;
            for (uint64_t j = 0; j < group; j++) {
                double q = nearbyint(v[j] / s);
                q = q < -4 ? -4 : q > 3 ? 3 : q;
                err += pow(v[j] - q * s, 2);
            }
            best = fmin(best, err);
        }
        double mine = 0;
        for (uint64_t j = 0; j < group; j++) mine += pow((double)v[j] - y[g * group + j], 2);
        oracle += best;
        ours += mine;
    }
    cr_assert(ours <= oracle * 1.10, "search %g vs brute force %g", ours, oracle);
    free(x);
    free(y);
}

/* --- opt (format/block_hqq.c) ---------------------------------------------- */

Test(search, opt_text_form) {
    qtf_encoding e = enc("int4:group=32,opt");
    cr_assert_eq(e.search, 2);
    char buf[96];
    cr_assert_eq(qtf_encoding_format(buf, sizeof buf, &e), QTF_OK);
    cr_assert_str_eq(buf, "int4:opt");   /* group=32 is int4's default */
    e = enc("INT3:GROUP=64,ASYM,DQ,OPT");
    cr_assert_eq(qtf_encoding_format(buf, sizeof buf, &e), QTF_OK);
    cr_assert_str_eq(buf, "int3:group=64,asym,dq,opt");
    qtf_encoding bad;
    cr_assert_neq(qtf_encoding_parse(&bad, "int4:search,opt"), QTF_OK);   /* one kind */
    cr_assert_neq(qtf_encoding_parse(&bad, "pal4:opt"), QTF_OK);
    cr_assert(strstr(qtf_error_detail(), "opt") != NULL, "%s", qtf_error_detail());
}

Test(search, opt_never_worse_than_search_or_rtn_on_any_group) {
    float w[512];
    for (int j = 0; j < 512; j++) w[j] = 0.05f + (float)((j * 37) % 101) / 10.0f;
    search_vs_rtn("int4:group=32", "int4:group=32,opt", NULL, 0.03);
    search_vs_rtn("int4:group=32,search", "int4:group=32,opt", NULL, 0.0);
    search_vs_rtn("int4:group=32,search", "int4:group=32,opt", w, 0.0);
    search_vs_rtn("int3:group=64,asym,search", "int3:group=64,asym,opt", w, 0.0);
    search_vs_rtn("int2:group=32,search", "int2:group=32,opt", w, 0.0);
    search_vs_rtn("nf4:group=64,search", "nf4:group=64,opt", w, 0.0);
    search_vs_rtn("fp4:group=32", "fp4:group=32,opt", NULL, 0.0);
}

Test(search, opt_deterministic_across_threads) {
    const uint64_t rows = 64, cols = 256;
    float *x = t4_data(rows * cols, 7);
    qtf_encoding e = enc("int3:group=32,dq,opt");
    blk a, b;
    cr_assert_eq(blk_quantize(&a, &e, x, rows, cols, NULL, 1), QTF_OK);
    cr_assert_eq(blk_quantize(&b, &e, x, rows, cols, NULL, 2), QTF_OK);
    for (uint32_t i = 0; i < a.n; i++)
        cr_assert(memcmp(a.part[i], b.part[i], (size_t)a.layout[i].size) == 0, "part %u", i);
    blk_free(&a);
    blk_free(&b);
    free(x);
}
