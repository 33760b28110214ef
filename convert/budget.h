/* convert/budget.h — choosing one option per item so that the summed size
 * meets a budget and the summed error is minimal (a multiple-choice
 * knapsack), for qtf-convert --target-bpw / --target-size.
 *
 * Solved by dynamic programming over sizes in units of `unit` bytes: unit is
 * the greatest common divisor of all option sizes when the budget in those
 * units fits in max_cells (then the answer is exactly optimal), otherwise the
 * smallest multiple of it that fits, with every option size rounded UP to a
 * whole unit, so the budget is always met but the answer may be above the
 * optimum. The Lagrangian (LP-relaxation) lower bound is reported with the
 * answer, so that error - lower_bound bounds the gap in every case.
 *
 * Deterministic: options are tried in their given order, ties keep the
 * earlier option and then the smaller total size. */
#ifndef QTF_CONVERT_BUDGET_H
#define QTF_CONVERT_BUDGET_H

#include <stddef.h>
#include <stdint.h>

typedef struct qtfc_budget_option {
    uint64_t bytes;
    double error;                /* finite, >= 0 */
} qtfc_budget_option;

typedef struct qtfc_budget_item {
    const qtfc_budget_option *options;   /* borrowed */
    uint32_t n_options;                  /* >= 1 */
} qtfc_budget_item;

typedef struct qtfc_budget_result {
    uint64_t bytes;              /* summed size of the chosen options (<= budget) */
    double error;                /* summed error of the chosen options */
    double lower_bound;          /* no choice meeting the budget has a smaller error */
    uint64_t unit;               /* DP resolution in bytes */
    int exact;                   /* 1: unit is the gcd of the sizes, the answer is optimal */
} qtfc_budget_result;

/* Default DP size: the table (n_items x cells bytes) stays within 64 MiB. */
#define QTFC_BUDGET_TABLE_BYTES (64u << 20)

/* Writes into out_choice[i] the option chosen for item i. max_table_bytes
 * bounds the DP's choice table (0: QTFC_BUDGET_TABLE_BYTES). Returns 0, or
 * -1 with a message in err: no choice fits (the message gives the smallest
 * possible size), invalid input, or out of memory. */
int qtfc_budget_solve(uint32_t *out_choice, qtfc_budget_result *out_result,
                      const qtfc_budget_item *items, size_t n_items, uint64_t budget,
                      uint64_t max_table_bytes, char *err, size_t err_cap);

/* An option no floor may use (target.c: a size that is still an estimate). */
#define QTFC_BUDGET_NO_LABEL UINT32_MAX

/* The floor of an allocation (target.h): of the labels that every item
 * offers, the one whose options, taken by every item, fit `budget` with the
 * least summed error (ties: the smallest label). labels[i][c] labels option
 * c of item i (each label at most once per item). Writes that uniform
 * choice's summed error and bytes. Returns the label, or
 * QTFC_BUDGET_NO_LABEL when none fits (or n_items is 0). */
uint32_t qtfc_budget_floor(double *out_error, uint64_t *out_bytes, const qtfc_budget_item *items,
                           const uint32_t *const *labels, size_t n_items, uint32_t n_labels,
                           uint64_t budget);

#endif
