/* convert/budget.c — the multiple-choice knapsack behind --target-bpw
 * (budget.h): exact DP over sizes in gcd units when the table fits, rounded-up
 * units otherwise, and the Lagrangian lower bound that bounds the gap. */
#include "budget.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"

#define MAX_OPTIONS 255u     /* choices are stored in one byte per DP cell */

static uint64_t units_of(uint64_t bytes, uint64_t unit) {
    return bytes / unit + (bytes % unit != 0);
}

/* L(lambda) = sum_i min_k (e_ik + lambda b_ik) - lambda B, and the size of
 * the minimisers (ties: the smaller size) as the subgradient's first term. */
static double lagrangian(uint64_t *out_bytes, const qtfc_budget_item *items, size_t n,
                         uint64_t budget, double lambda) {
    double total = 0.0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const qtfc_budget_option *o = items[i].options;
        uint32_t best = 0;
        double best_v = o[0].error + lambda * (double)o[0].bytes;
        for (uint32_t k = 1; k < items[i].n_options; k++) {
            double v = o[k].error + lambda * (double)o[k].bytes;
            if (v < best_v || (v == best_v && o[k].bytes < o[best].bytes)) {
                best = k;
                best_v = v;
            }
        }
        total += best_v;
        bytes += o[best].bytes;   /* no overflow: sizes were checked by the caller */
    }
    *out_bytes = bytes;
    return total - lambda * (double)budget;
}

/* max over lambda >= 0 of the concave L: a lower bound on the optimum
 * (weak duality), found by bisection on the sign of the subgradient. */
static double lower_bound(const qtfc_budget_item *items, size_t n, uint64_t budget) {
    uint64_t bytes;
    double l0 = lagrangian(&bytes, items, n, budget, 0.0);
    if (bytes <= budget) return l0;
    double lo = 0.0, hi = 1.0;
    for (int i = 0; i < 4000; i++) {
        lagrangian(&bytes, items, n, budget, hi);
        if (bytes <= budget) break;
        lo = hi;
        hi *= 2.0;
    }
    double best = l0;
    for (int i = 0; i < 200; i++) {
        double mid = lo + (hi - lo) / 2.0;
        if (!(mid > lo && mid < hi)) break;
        double v = lagrangian(&bytes, items, n, budget, mid);
        if (v > best) best = v;
        if (bytes > budget) lo = mid;
        else hi = mid;
    }
    double vl = lagrangian(&bytes, items, n, budget, lo);
    double vh = lagrangian(&bytes, items, n, budget, hi);
    if (vl > best) best = vl;
    if (vh > best) best = vh;
    return best;
}

/* Size of the DP with this unit: the base (every item at its smallest
 * option) and the number of cells above it that can matter. Returns 0 if
 * the rounded sizes do not fit in the budget. */
static int dp_extent(uint64_t *out_cells, const qtfc_budget_item *items,
                     size_t n, uint64_t budget, uint64_t unit) {
    uint64_t base = 0, range = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (uint32_t k = 0; k < items[i].n_options; k++) {
            uint64_t u = units_of(items[i].options[k].bytes, unit);
            if (u < lo) lo = u;
            if (u > hi) hi = u;
        }
        base += lo;
        range += hi - lo;
    }
    uint64_t cap_units = budget / unit;
    if (base > cap_units) return 0;
    uint64_t cap = cap_units - base;
    *out_cells = (cap < range ? cap : range) + 1;
    return 1;
}

int qtfc_budget_solve(uint32_t *out_choice, qtfc_budget_result *out_result,
                      const qtfc_budget_item *items, size_t n_items, uint64_t budget,
                      uint64_t max_table_bytes, char *err, size_t err_cap) {
    if (!out_choice || !out_result || (!items && n_items))
        return cli_fail(err, err_cap, "budget: NULL argument");
    memset(out_result, 0, sizeof *out_result);
    if (max_table_bytes == 0) max_table_bytes = QTFC_BUDGET_TABLE_BYTES;

    /* Validate, and the smallest possible total. */
    uint64_t g = 0, min_total = 0;
    for (size_t i = 0; i < n_items; i++) {
        const qtfc_budget_item *it = &items[i];
        if (it->n_options == 0 || it->n_options > MAX_OPTIONS || !it->options)
            return cli_fail(err, err_cap, "budget: item %zu has %u options, expected 1..%u", i,
                            it->n_options, MAX_OPTIONS);
        uint64_t lo = UINT64_MAX;
        for (uint32_t k = 0; k < it->n_options; k++) {
            const qtfc_budget_option *o = &it->options[k];
            if (!isfinite(o->error) || o->error < 0.0)
                return cli_fail(err, err_cap, "budget: item %zu option %u: error %g, expected a "
                                "finite value >= 0", i, k, o->error);
            if (o->bytes > (UINT64_MAX >> 2))
                return cli_fail(err, err_cap, "budget: item %zu option %u: %llu bytes is too "
                                "large", i, k, (unsigned long long)o->bytes);
            g = cli_gcd_u64(g, o->bytes);
            if (o->bytes < lo) lo = o->bytes;
        }
        if (__builtin_add_overflow(min_total, lo, &min_total) || min_total > (UINT64_MAX >> 2))
            return cli_fail(err, err_cap, "budget: summed sizes overflow");
    }
    if (min_total > budget)
        return cli_fail(err, err_cap, "the budget of %llu bytes cannot be met: the smallest "
                        "candidates already take %llu bytes", (unsigned long long)budget,
                        (unsigned long long)min_total);
    if (g == 0) g = 1;   /* every option is empty */

    /* Resolution: the gcd if the table fits, else the smallest multiple that does. */
    uint64_t unit = g, cells = 0;
    uint64_t per_cell = n_items ? (uint64_t)n_items : 1;
    for (uint64_t k = 1;; ) {
        unit = g * k;
        if (!dp_extent(&cells, items, n_items, budget, unit))
            return cli_fail(err, err_cap, "the budget of %llu bytes is within the solver's "
                            "resolution (%llu bytes per item) of the smallest possible size %llu",
                            (unsigned long long)budget, (unsigned long long)unit,
                            (unsigned long long)min_total);
        if (cells <= max_table_bytes / per_cell) break;
        uint64_t next = k + (k * cells) / (max_table_bytes / per_cell + 1);
        k = next > k ? next : k + 1;
        if (k > UINT64_MAX / g / 2) return cli_fail(err, err_cap, "budget: no DP resolution fits");
    }

    double *dp = malloc((size_t)cells * sizeof *dp);
    double *nx = malloc((size_t)cells * sizeof *nx);
    unsigned char *pick = malloc((size_t)(n_items ? n_items : 1) * (size_t)cells);
    if (!dp || !nx || !pick) {
        free(dp);
        free(nx);
        free(pick);
        return cli_fail(err, err_cap, "budget: out of memory for a %llu x %llu table",
                        (unsigned long long)n_items, (unsigned long long)cells);
    }
    /* dp[c]: least error of the items so far with extra size (over their
     * smallest options) at most c units. */
    for (uint64_t c = 0; c < cells; c++) dp[c] = 0.0;
    for (size_t i = 0; i < n_items; i++) {
        const qtfc_budget_item *it = &items[i];
        uint64_t lo = UINT64_MAX;
        for (uint32_t k = 0; k < it->n_options; k++) {
            uint64_t u = units_of(it->options[k].bytes, unit);
            if (u < lo) lo = u;
        }
        unsigned char *row = pick + i * cells;
        /* Option by option over all cells (a straight, vectorizable sweep
         * instead of a division per cell and option): for every cell the
         * options are still compared in order, ties keeping the earlier. */
        for (uint64_t c = 0; c < cells; c++) {
            nx[c] = INFINITY;
            row[c] = 0;
        }
        for (uint32_t k = 0; k < it->n_options; k++) {
            uint64_t d = units_of(it->options[k].bytes, unit) - lo;
            double e = it->options[k].error;
            for (uint64_t c = d; c < cells; c++) {
                double v = dp[c - d] + e;
                if (v < nx[c]) {
                    nx[c] = v;
                    row[c] = (unsigned char)k;
                }
            }
        }
        double *t = dp;
        dp = nx;
        nx = t;
    }
    /* The smallest capacity reaching the optimum: among equal errors, the
     * smaller file. */
    uint64_t c = cells - 1;
    while (c > 0 && dp[c - 1] == dp[cells - 1]) c--;
    for (size_t i = n_items; i-- > 0;) {
        const qtfc_budget_item *it = &items[i];
        uint64_t lo = UINT64_MAX;
        for (uint32_t k = 0; k < it->n_options; k++) {
            uint64_t u = units_of(it->options[k].bytes, unit);
            if (u < lo) lo = u;
        }
        uint32_t k = pick[i * cells + c];
        out_choice[i] = k;
        c -= units_of(it->options[k].bytes, unit) - lo;
    }
    free(dp);
    free(nx);
    free(pick);

    uint64_t bytes = 0;
    double error = 0.0;
    for (size_t i = 0; i < n_items; i++) {
        bytes += items[i].options[out_choice[i]].bytes;
        error += items[i].options[out_choice[i]].error;
    }
    if (bytes > budget)   /* impossible by construction; never report a plan that misses */
        return cli_fail(err, err_cap, "budget: internal error: plan of %llu bytes exceeds %llu",
                        (unsigned long long)bytes, (unsigned long long)budget);
    out_result->bytes = bytes;
    out_result->error = error;
    out_result->unit = unit;
    out_result->exact = unit == g;
    /* Exact: the DP's answer is the optimum itself. Otherwise the
     * Lagrangian bound (clamped: floating-point sums may land a hair above). */
    double lb = out_result->exact ? error : lower_bound(items, n_items, budget);
    out_result->lower_bound = lb < error ? lb : error;
    return 0;
}

uint32_t qtfc_budget_floor(double *out_error, uint64_t *out_bytes, const qtfc_budget_item *items,
                           const uint32_t *const *labels, size_t n_items, uint32_t n_labels,
                           uint64_t budget) {
    uint32_t best = QTFC_BUDGET_NO_LABEL;
    double best_err = INFINITY;
    for (uint32_t k = 0; k < n_labels && k != QTFC_BUDGET_NO_LABEL && n_items > 0; k++) {
        uint64_t bytes = 0;
        double err = 0;
        size_t i = 0;
        for (; i < n_items; i++) {
            uint32_t c = 0;
            while (c < items[i].n_options && labels[i][c] != k) c++;
            if (c == items[i].n_options || items[i].options[c].bytes > budget - bytes) break;
            bytes += items[i].options[c].bytes;   /* <= budget: no overflow */
            err += items[i].options[c].error;
        }
        if (i == n_items && err < best_err) {
            best = k;
            best_err = err;
            *out_error = err;
            *out_bytes = bytes;
        }
    }
    return best;
}
