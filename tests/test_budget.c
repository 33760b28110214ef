/* tests/test_budget.c — the --target-bpw knapsack (convert/budget.c):
 * hand-computed cases, a case greedy gets wrong, brute-force oracles on
 * pseudo-random instances (exact and rounded resolutions), budget always
 * met, determinism, refusals. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "convert/budget.h"

#define OPT(b, e) { (b), (e) }

static qtfc_budget_result solve_ok(uint32_t *choice, const qtfc_budget_item *items, size_t n,
                                   uint64_t budget, uint64_t table) {
    qtfc_budget_result r;
    char err[256] = "";
    int rc = qtfc_budget_solve(choice, &r, items, n, budget, table, err, sizeof err);
    cr_assert_eq(rc, 0, "solve failed: %s", err);
    return r;
}

Test(budget, two_items_by_hand) {
    /* A: 10 B err 5 | 20 B err 2 | 30 B err 0;  B: 10 B err 4 | 20 B err 1.5. */
    const qtfc_budget_option a[] = { OPT(10, 5.0), OPT(20, 2.0), OPT(30, 0.0) };
    const qtfc_budget_option b[] = { OPT(10, 4.0), OPT(20, 1.5) };
    const qtfc_budget_item items[] = { { a, 3 }, { b, 2 } };
    uint32_t ch[2];
    /* 30 B: A20+B10 = 6 beats A10+B20 = 6.5. */
    qtfc_budget_result r = solve_ok(ch, items, 2, 30, 0);
    cr_assert_eq(ch[0], 1);
    cr_assert_eq(ch[1], 0);
    cr_assert_eq(r.bytes, 30);
    cr_assert_float_eq(r.error, 6.0, 1e-12);
    cr_assert_eq(r.exact, 1);
    cr_assert_eq(r.unit, 10);
    /* 40 B: A20+B20 = 3.5 beats A30+B10 = 4. */
    r = solve_ok(ch, items, 2, 40, 0);
    cr_assert_eq(ch[0], 1);
    cr_assert_eq(ch[1], 1);
    cr_assert_float_eq(r.error, 3.5, 1e-12);
    /* 49 B: still 40 (sizes are multiples of 10). */
    r = solve_ok(ch, items, 2, 49, 0);
    cr_assert_eq(r.bytes, 40);
    /* 50 B and more: the best of each. */
    r = solve_ok(ch, items, 2, 1000, 0);
    cr_assert_eq(ch[0], 2);
    cr_assert_eq(ch[1], 1);
    cr_assert_eq(r.bytes, 50);
    cr_assert_float_eq(r.error, 1.5, 1e-12);
    /* 20 B: only the smallest of each. */
    r = solve_ok(ch, items, 2, 20, 0);
    cr_assert_eq(ch[0], 0);
    cr_assert_eq(ch[1], 0);
    cr_assert_float_eq(r.error, 9.0, 1e-12);
}

Test(budget, greedy_by_ratio_would_fail) {
    /* Greedy on error saved per byte takes A (10/6) first and then nothing
     * fits: error 12. The optimum upgrades B and C: error 10. */
    const qtfc_budget_option a[] = { OPT(0, 10.0), OPT(6, 0.0) };
    const qtfc_budget_option b[] = { OPT(0, 6.0), OPT(5, 0.0) };
    const qtfc_budget_option c[] = { OPT(0, 6.0), OPT(5, 0.0) };
    const qtfc_budget_item items[] = { { a, 2 }, { b, 2 }, { c, 2 } };
    uint32_t ch[3];
    qtfc_budget_result r = solve_ok(ch, items, 3, 10, 0);
    cr_assert_eq(ch[0], 0);
    cr_assert_eq(ch[1], 1);
    cr_assert_eq(ch[2], 1);
    cr_assert_eq(r.bytes, 10);
    cr_assert_float_eq(r.error, 10.0, 1e-12);
    cr_assert_float_eq(r.lower_bound, 10.0, 1e-12);
}

Test(budget, infeasible_names_the_smallest_size) {
    const qtfc_budget_option a[] = { OPT(10, 5.0), OPT(20, 2.0) };
    const qtfc_budget_option b[] = { OPT(12, 4.0) };
    const qtfc_budget_item items[] = { { a, 2 }, { b, 1 } };
    uint32_t ch[2];
    qtfc_budget_result r;
    char err[256] = "";
    cr_assert_eq(qtfc_budget_solve(ch, &r, items, 2, 21, 0, err, sizeof err), -1);
    cr_assert(strstr(err, "22 bytes") != NULL, "message: %s", err);
    cr_assert(strstr(err, "21 bytes") != NULL, "message: %s", err);
    /* Exactly the smallest size is feasible. */
    r = solve_ok(ch, items, 2, 22, 0);
    cr_assert_eq(r.bytes, 22);
}

Test(budget, refuses_bad_input) {
    qtfc_budget_option a[] = { OPT(10, NAN) };
    qtfc_budget_item items[] = { { a, 1 } };
    uint32_t ch[1];
    qtfc_budget_result r;
    char err[256] = "";
    cr_assert_eq(qtfc_budget_solve(ch, &r, items, 1, 100, 0, err, sizeof err), -1);
    cr_assert(strstr(err, "error") != NULL, "message: %s", err);
    a[0].error = -1.0;
    cr_assert_eq(qtfc_budget_solve(ch, &r, items, 1, 100, 0, err, sizeof err), -1);
    items[0].n_options = 0;
    cr_assert_eq(qtfc_budget_solve(ch, &r, items, 1, 100, 0, err, sizeof err), -1);
    cr_assert(strstr(err, "0 options") != NULL, "message: %s", err);
}

Test(budget, ties_keep_the_earlier_option_and_the_smaller_file) {
    /* Same error at 10 and 20 bytes: the 10-byte one; identical options: the first. */
    const qtfc_budget_option a[] = { OPT(20, 1.0), OPT(10, 1.0), OPT(10, 1.0) };
    const qtfc_budget_item items[] = { { a, 3 } };
    uint32_t ch[1];
    qtfc_budget_result r = solve_ok(ch, items, 1, 100, 0);
    cr_assert_eq(ch[0], 1);
    cr_assert_eq(r.bytes, 10);
}

Test(budget, empty_problem) {
    uint32_t ch[1] = { 7 };
    qtfc_budget_result r = solve_ok(ch, NULL, 0, 0, 0);
    cr_assert_eq(r.bytes, 0);
    cr_assert_float_eq(r.error, 0.0, 0.0);
}

/* --- oracles on pseudo-random instances ------------------------------------ */

static uint64_t rng_state;
static uint32_t rng(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

#define N_ITEMS 5
#define N_OPTS 4

/* Least error over all N_OPTS^N_ITEMS choices within the budget (INFINITY if none). */
static double brute_force(const qtfc_budget_item *items, uint64_t budget) {
    double best = INFINITY;
    uint32_t idx[N_ITEMS] = { 0 };
    for (;;) {
        uint64_t b = 0;
        double e = 0;
        for (int i = 0; i < N_ITEMS; i++) {
            b += items[i].options[idx[i]].bytes;
            e += items[i].options[idx[i]].error;
        }
        if (b <= budget && e < best) best = e;
        int i = 0;
        while (i < N_ITEMS && ++idx[i] == items[i].n_options) idx[i++] = 0;
        if (i == N_ITEMS) break;
    }
    return best;
}

static void random_instance(qtfc_budget_option opts[N_ITEMS][N_OPTS],
                            qtfc_budget_item items[N_ITEMS], uint64_t scale) {
    for (int i = 0; i < N_ITEMS; i++) {
        for (int k = 0; k < N_OPTS; k++) {
            opts[i][k].bytes = (uint64_t)(1 + rng() % 200) * scale;
            opts[i][k].error = (double)(rng() % 10000) / 1000.0;
        }
        items[i].options = opts[i];
        items[i].n_options = N_OPTS;
    }
}

Test(budget, exact_matches_brute_force) {
    rng_state = 12345;
    for (int t = 0; t < 300; t++) {
        qtfc_budget_option opts[N_ITEMS][N_OPTS];
        qtfc_budget_item items[N_ITEMS];
        random_instance(opts, items, (t % 3) + 1);
        uint64_t budget = (uint64_t)(rng() % 1000) + 100;
        double best = brute_force(items, budget);
        uint32_t ch[N_ITEMS];
        qtfc_budget_result r;
        char err[256];
        int rc = qtfc_budget_solve(ch, &r, items, N_ITEMS, budget, 0, err, sizeof err);
        if (isinf(best)) {
            cr_assert_eq(rc, -1, "case %d: infeasible but solved", t);
            continue;
        }
        cr_assert_eq(rc, 0, "case %d: %s", t, err);
        cr_assert_eq(r.exact, 1);
        cr_assert_leq(r.bytes, budget, "case %d: budget missed", t);
        cr_assert_float_eq(r.error, best, 1e-9, "case %d: %g, optimum %g", t, r.error, best);
        double e = 0;
        uint64_t b = 0;
        for (int i = 0; i < N_ITEMS; i++) {
            cr_assert_lt(ch[i], N_OPTS);
            e += opts[i][ch[i]].error;
            b += opts[i][ch[i]].bytes;
        }
        cr_assert_eq(b, r.bytes);
        cr_assert_float_eq(e, r.error, 1e-12);
    }
}

Test(budget, coarse_resolution_meets_budget_and_bounds_the_gap) {
    /* A 40-byte table forces units far above the gcd: sizes round up, the
     * budget is still met, and lower_bound <= optimum <= error. */
    rng_state = 777;
    int solved = 0;
    for (int t = 0; t < 300; t++) {
        qtfc_budget_option opts[N_ITEMS][N_OPTS];
        qtfc_budget_item items[N_ITEMS];
        random_instance(opts, items, 1);
        uint64_t budget = (uint64_t)(rng() % 1000) + 100;
        double best = brute_force(items, budget);
        uint32_t ch[N_ITEMS];
        qtfc_budget_result r;
        char err[256];
        if (qtfc_budget_solve(ch, &r, items, N_ITEMS, budget, 40, err, sizeof err) != 0) {
            cr_assert(isinf(best) || strstr(err, "resolution") != NULL, "case %d: %s", t, err);
            continue;
        }
        solved++;
        cr_assert_leq(r.bytes, budget, "case %d: budget missed", t);
        cr_assert_geq(r.error, best - 1e-9, "case %d", t);
        cr_assert_leq(r.lower_bound, best + 1e-9, "case %d: bound %g above optimum %g", t,
                      r.lower_bound, best);
        if (!r.exact) cr_assert_gt(r.unit, 1);
    }
    cr_assert_gt(solved, 150);
}

Test(budget, deterministic) {
    rng_state = 99;
    qtfc_budget_option opts[N_ITEMS][N_OPTS];
    qtfc_budget_item items[N_ITEMS];
    random_instance(opts, items, 4);
    uint32_t c1[N_ITEMS], c2[N_ITEMS];
    qtfc_budget_result r1 = solve_ok(c1, items, N_ITEMS, 2000, 0);
    qtfc_budget_result r2 = solve_ok(c2, items, N_ITEMS, 2000, 0);
    cr_assert_arr_eq(c1, c2, sizeof c1);
    cr_assert_eq(r1.bytes, r2.bytes);
    cr_assert(r1.error == r2.error);
}

/* The floor (convert/target.h): the label every item offers that fits the
 * budget when every item takes it, with the least summed error. */
Test(budget, floor_by_hand) {
    /* Labels 0..3. A: 0 (40 B, err 0), 1 (20 B, 1.0), 2 (10 B, 3.0), 3 (15 B, 0.5);
     * B: 0 (40 B, 0), 1 (20 B, 2.0), 2 (10 B, 4.0) -- no label 3. */
    const qtfc_budget_option a[] = { OPT(40, 0.0), OPT(20, 1.0), OPT(10, 3.0), OPT(15, 0.5) };
    const qtfc_budget_option b[] = { OPT(40, 0.0), OPT(20, 2.0), OPT(10, 4.0) };
    const uint32_t la[] = { 0, 1, 2, 3 }, lb[] = { 0, 1, 2 };
    const qtfc_budget_item items[] = { { a, 4 }, { b, 3 } };
    const uint32_t *labels[] = { la, lb };
    double e = -1;
    uint64_t bytes = 0;
    /* 80 B: label 0 fits (80) with error 0. */
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels, 2, 4, 80), 0);
    cr_assert_eq(bytes, 80);
    cr_assert_float_eq(e, 0.0, 1e-12);
    /* 79 B: label 1 (40 B, error 3); label 3 would be 15 + nothing: B lacks it. */
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels, 2, 4, 79), 1);
    cr_assert_eq(bytes, 40);
    cr_assert_float_eq(e, 3.0, 1e-12);
    /* 39 B: label 2 (20 B, error 7). */
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels, 2, 4, 39), 2);
    cr_assert_float_eq(e, 7.0, 1e-12);
    /* 19 B: nothing uniform fits. */
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels, 2, 4, 19), QTFC_BUDGET_NO_LABEL);
    /* n_labels bounds the labels looked at. */
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels, 2, 2, 39), QTFC_BUDGET_NO_LABEL);
    /* An option labelled QTFC_BUDGET_NO_LABEL (a size still estimated) is no floor:
     * with label 1 unlabelled in B, 79 B falls back to label 2. */
    const uint32_t lb2[] = { 0, QTFC_BUDGET_NO_LABEL, 2 };
    const uint32_t *labels2[] = { la, lb2 };
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels2, 2, 4, 79), 2);
    /* Only item A: label 3 (15 B, 0.5) beats label 1 (20 B, 1.0) at 30 B. */
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels, 1, 4, 30), 3);
    cr_assert_float_eq(e, 0.5, 1e-12);
    /* No items: no floor. */
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels, 0, 4, 100), QTFC_BUDGET_NO_LABEL);
}

Test(budget, floor_ties_keep_the_smaller_label) {
    const qtfc_budget_option a[] = { OPT(10, 1.0), OPT(10, 1.0) };
    const uint32_t la[] = { 5, 2 };
    const qtfc_budget_item items[] = { { a, 2 } };
    const uint32_t *labels[] = { la };
    double e;
    uint64_t bytes;
    cr_assert_eq(qtfc_budget_floor(&e, &bytes, items, labels, 1, 8, 10), 2);
}
