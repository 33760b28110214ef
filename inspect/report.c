/* inspect/report.c — see report.h. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"

/* --- summary ----------------------------------------------------------------------- */

/* Worst first: NaN (no meaningful error) ranks above any number; ties in
 * file order, so the list is the same on every run. */
static int cmp_worst(const void *a, const void *b, void *ctx) {
    const verify_report *r = ctx;
    double x = r->t[*(const uint64_t *)a].m.rel_rmse;
    double y = r->t[*(const uint64_t *)b].m.rel_rmse;
    int xn = isnan(x), yn = isnan(y);
    if (xn != yn) return xn ? -1 : 1;
    if (!xn && x != y) return x > y ? -1 : 1;
    uint64_t i = *(const uint64_t *)a, j = *(const uint64_t *)b;
    return i < j ? -1 : i > j;
}

/* NaN/Inf among x[0..n); *first = index of the first. */
static uint64_t count_nonfinite(const float *x, uint64_t n, uint64_t *first) {
    uint64_t c = 0;
    for (uint64_t k = 0; k < n; k++) {
        if (!isfinite(x[k]) && c++ == 0) *first = k;
    }
    return c;
}

void report_check_decoded(vt_result *v, const float *deq, uint64_t n, int holds_nonfinite) {
    v->nonfinite = count_nonfinite(deq, n, &v->first_nonfinite);
    if (v->nonfinite && !holds_nonfinite) v->fail |= VF_NONFINITE;
}

int report_check_source(vt_result *v, const float *deq, const float *ref, uint64_t n) {
    v->source_checked = 1;
    uint64_t first = 0;
    v->source_nonfinite = count_nonfinite(ref, n, &first);
    if (v->nonfinite && !(v->fail & VF_NONFINITE)) {
        for (uint64_t k = 0; k < n; k++) {
            if (!isfinite(deq[k]) && isfinite(ref[k])) {
                v->first_nonfinite = k;
                v->fail |= VF_NONFINITE;
                break;
            }
        }
    }
    return !v->source_nonfinite && !(v->fail & VF_NONFINITE);
}

qtf_status report_importance_error(vt_result *v, const float *ref, const float *deq, uint64_t n,
                                   const float *a, uint64_t cols) {
    qtf_metrics m;
    qtf_status st = qtf_metrics_compute(&m, ref, deq, n, a, cols);
    if (st != QTF_OK) return st;
    v->has_importance = 1;
    v->imp_rel_rmse = m.rel_rmse;
    return QTF_OK;
}

int report_finish(verify_report *r) {
    double sum_rel = 0, sum_cos = 0, sum_snr = 0, sum_imp = 0;
    uint64_t snr_elements = 0;
    r->n_failed_tensors = r->n_checksum_failed = r->n_decode_failed = r->n_extra = 0;
    r->n_shape = r->n_threshold = r->n_compared = r->n_exact = r->n_ignored = 0;
    r->n_source_nonfinite = 0;
    r->compared_elements = 0;
    r->max_abs_err = 0;
    r->n_importance = r->importance_elements = 0;
    r->imp_error_sum = 0;
    for (uint64_t i = 0; i < r->n; i++) {
        vt_result *t = &r->t[i];
        if (t->compared) {
            /* `!(x <= limit)` so that a NaN metric fails the threshold. */
            if (r->has_max_rel_rmse && !(t->m.rel_rmse <= r->max_rel_rmse)) t->fail |= VF_REL_RMSE;
            if (r->has_min_cosine && !(t->m.cosine >= r->min_cosine)) t->fail |= VF_COSINE;
            if (r->has_min_snr && !(t->m.snr_db >= r->min_snr)) t->fail |= VF_SNR;
            double w = (double)t->n_elements;
            r->n_compared++;
            r->compared_elements += t->n_elements;
            sum_rel += w * t->m.rel_rmse;
            sum_cos += w * t->m.cosine;
            if (isfinite(t->m.snr_db)) {
                sum_snr += w * t->m.snr_db;
                snr_elements += t->n_elements;
            } else if (t->m.snr_db > 0) {
                r->n_exact++;
            }
            if (t->m.max_abs_err > r->max_abs_err || isnan(t->m.max_abs_err)) r->max_abs_err = t->m.max_abs_err;
            if (t->has_importance) {
                r->n_importance++;
                r->importance_elements += t->n_elements;
                sum_imp += w * t->imp_rel_rmse;
                r->imp_error_sum += t->imp_rel_rmse * t->imp_rel_rmse;
            }
        }
        if (t->ignored) r->n_ignored++;
        if (t->fail) r->n_failed_tensors++;
        if (t->fail & VF_CHECKSUM) r->n_checksum_failed++;
        if (t->fail & (VF_DECODE | VF_NONFINITE)) r->n_decode_failed++;
        if (t->source_nonfinite) r->n_source_nonfinite++;
        if (t->fail & VF_EXTRA) r->n_extra++;
        if (t->fail & VF_SHAPE) r->n_shape++;
        if (t->fail & (VF_REL_RMSE | VF_COSINE | VF_SNR)) r->n_threshold++;
    }
    double total = (double)r->compared_elements;
    r->w_rel_rmse = total > 0 ? sum_rel / total : NAN;
    r->w_cosine = total > 0 ? sum_cos / total : NAN;
    r->w_imp_rel_rmse = r->importance_elements ? sum_imp / (double)r->importance_elements : NAN;
    r->have_snr = snr_elements > 0;
    r->w_snr_db = snr_elements ? sum_snr / (double)snr_elements : INFINITY;
    free(r->worst);
    r->worst = NULL;
    r->n_worst = 0;
    if (r->n_compared) {
        r->worst = malloc(r->n_compared * sizeof *r->worst);
        if (!r->worst) return 0;
        uint64_t k = 0;
        for (uint64_t i = 0; i < r->n; i++)
            if (r->t[i].compared) r->worst[k++] = i;
        qsort_r(r->worst, k, sizeof *r->worst, cmp_worst, r);
        r->n_worst = k < REPORT_WORST ? k : REPORT_WORST;
    }
    r->ok = r->n_failed_tensors == 0 && r->n_missing == 0 && r->structure == QTF_OK;
    return 1;
}

void report_free(verify_report *r) {
    for (uint64_t i = 0; i < r->n; i++) {
        vt_result *t = &r->t[i];
        free(t->name);
        free(t->raw_name);
        free(t->shape);
        free(t->checksum_error);
        free(t->decode_error);
        free(t->source_shape);
        free(t->source_error);
    }
    free(r->t);
    for (uint64_t i = 0; i < r->n_missing; i++) free(r->missing[i]);
    free(r->missing);
    free(r->structure_error);
    free(r->worst);
}

/* --- shared formatting ----------------------------------------------------------------- */

static const char *fmt_num(char *buf, size_t cap, double v, const char *spec) {
    if (isnan(v)) snprintf(buf, cap, "nan");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else snprintf(buf, cap, spec, v);
    return buf;
}

/* One line per failure reason of tensor t (escaped text). */
static void failure_lines(cli_buf *out, const verify_report *r, const vt_result *t, const char *bullet) {
    char a[32], b[32];
    if (t->fail & VF_CHECKSUM)
        cli_buf_printf(out, "%s%s: checksum failed: %s\n", bullet, t->name,
                       t->checksum_error && t->checksum_error[0] ? t->checksum_error
                                                                 : qtf_status_text(t->checksum));
    if (t->fail & VF_DECODE)
        cli_buf_printf(out, "%s%s: cannot decode: %s\n", bullet, t->name,
                       t->decode_error && t->decode_error[0] ? t->decode_error
                                                             : qtf_status_text(t->decode));
    if (t->fail & VF_NONFINITE)
        cli_buf_printf(out, "%s%s: decodes to %llu NaN/Inf value%s (first at element %llu), %s\n",
                       bullet, t->name, (unsigned long long)t->nonfinite, t->nonfinite == 1 ? "" : "s",
                       (unsigned long long)t->first_nonfinite,
                       t->source_checked ? "where the source has finite values"
                                         : "which its encoding cannot hold: damaged scales or tables");
    if (t->fail & VF_EXTRA)
        cli_buf_printf(out, "%s%s: extra tensor, not in the source\n", bullet, t->name);
    if (t->fail & VF_SHAPE)
        cli_buf_printf(out, "%s%s: shape %s, source has %s\n", bullet, t->name, t->shape,
                       t->source_shape ? t->source_shape : "?");
    if (t->fail & VF_SOURCE)
        cli_buf_printf(out, "%s%s: cannot read the source tensor: %s\n", bullet, t->name,
                       t->source_error ? t->source_error : "");
    if (t->fail & VF_REL_RMSE)
        cli_buf_printf(out, "%s%s: rel. RMSE %s above --max-rel-rmse %s\n", bullet, t->name,
                       fmt_num(a, sizeof a, t->m.rel_rmse, "%.4g"), fmt_num(b, sizeof b, r->max_rel_rmse, "%g"));
    if (t->fail & VF_COSINE)
        cli_buf_printf(out, "%s%s: cosine %s below --min-cosine %s\n", bullet, t->name,
                       fmt_num(a, sizeof a, t->m.cosine, "%.6f"), fmt_num(b, sizeof b, r->min_cosine, "%g"));
    if (t->fail & VF_SNR)
        cli_buf_printf(out, "%s%s: SNR %s dB below --min-snr %s\n", bullet, t->name,
                       fmt_num(a, sizeof a, t->m.snr_db, "%.2f"), fmt_num(b, sizeof b, r->min_snr, "%g"));
}

static const char *result_word(const vt_result *t) {
    if (t->fail & VF_CHECKSUM) return "CHECKSUM";
    if (t->fail & (VF_DECODE | VF_NONFINITE)) return "DECODE";
    if (t->fail & VF_EXTRA) return "EXTRA";
    if (t->fail & VF_SHAPE) return "SHAPE";
    if (t->fail & VF_SOURCE) return "SOURCE";
    if (t->fail & (VF_REL_RMSE | VF_COSINE | VF_SNR)) return "THRESHOLD";
    if (t->source_nonfinite) return "ok (source NaN/Inf)";
    return t->ignored ? "ok (ignored)" : "ok";
}

static cli_table *tensor_table(const verify_report *r) {
    cli_table *tb;
    if (r->against && r->importance) {
        const char *hdr[] = {"tensor", "encoding", "elements", "rel.RMSE", "imp.RMSE", "max|err|",
                             "SNR dB", "cosine", "result"};
        tb = cli_table_new(9, hdr, "llrrrrrrl");
    } else if (r->against) {
        const char *hdr[] = {"tensor", "encoding", "elements", "rel.RMSE", "max|err|", "SNR dB", "cosine", "result"};
        tb = cli_table_new(8, hdr, "llrrrrrl");
    } else {
        const char *hdr[] = {"tensor", "encoding", "elements", "checksum", "decode", "result"};
        tb = cli_table_new(6, hdr, "llrlll");
    }
    for (uint64_t i = 0; i < r->n && tb; i++) {
        const vt_result *t = &r->t[i];
        char el[32], c1[32], c2[32], c3[32], c4[32], c5[32] = "-";
        snprintf(el, sizeof el, "%llu", (unsigned long long)t->n_elements);
        if (r->against) {
            if (t->compared) {
                fmt_num(c1, sizeof c1, t->m.rel_rmse, "%.4g");
                fmt_num(c2, sizeof c2, t->m.max_abs_err, "%.4g");
                fmt_num(c3, sizeof c3, t->m.snr_db, "%.2f");
                fmt_num(c4, sizeof c4, t->m.cosine, "%.6f");
                if (t->has_importance) fmt_num(c5, sizeof c5, t->imp_rel_rmse, "%.4g");
            } else {
                strcpy(c1, "-"); strcpy(c2, "-"); strcpy(c3, "-"); strcpy(c4, "-");
            }
            if (r->importance) {
                const char *row[] = {t->name, t->encoding, el, c1, c5, c2, c3, c4, result_word(t)};
                cli_table_add(tb, row);
            } else {
                const char *row[] = {t->name, t->encoding, el, c1, c2, c3, c4, result_word(t)};
                cli_table_add(tb, row);
            }
        } else {
            const char *dec = !t->decode_checked ? "-" : t->decode == QTF_OK ? "ok" : "FAILED";
            const char *sum = r->format && !r->manifest ? "none" : t->checksum == QTF_OK ? "ok" : "BAD";
            const char *row[] = {t->name, t->encoding, el, sum, dec, result_word(t)};
            cli_table_add(tb, row);
        }
    }
    return tb;
}

static cli_table *worst_table(const verify_report *r) {
    const char *hdr[] = {"tensor", "encoding", "rel.RMSE", "SNR dB", "cosine"};
    cli_table *tb = cli_table_new(5, hdr, "llrrr");
    for (uint64_t k = 0; k < r->n_worst && tb; k++) {
        const vt_result *t = &r->t[r->worst[k]];
        char c1[32], c2[32], c3[32];
        const char *row[] = {t->name, t->encoding, fmt_num(c1, sizeof c1, t->m.rel_rmse, "%.4g"),
                             fmt_num(c2, sizeof c2, t->m.snr_db, "%.2f"),
                             fmt_num(c3, sizeof c3, t->m.cosine, "%.6f")};
        cli_table_add(tb, row);
    }
    return tb;
}

static void failures_text(cli_buf *out, const verify_report *r, const char *bullet) {
    if (r->structure != QTF_OK)
        cli_buf_printf(out, "%sfile structure: %s\n", bullet,
                       r->structure_error && r->structure_error[0] ? r->structure_error
                                                                   : qtf_status_text(r->structure));
    for (uint64_t i = 0; i < r->n; i++)
        if (r->t[i].fail) failure_lines(out, r, &r->t[i], bullet);
    for (uint64_t i = 0; i < r->n_missing; i++)
        cli_buf_printf(out, "%s%s: missing, in the source but not in the file\n", bullet, r->missing[i]);
}

static uint64_t failure_count(const verify_report *r) {
    return r->n_failed_tensors + r->n_missing + (r->structure != QTF_OK);
}

/* --- text ------------------------------------------------------------------------------ */

static void print_checks(const verify_report *r, FILE *out, const char *indent) {
    char h[32];
    int gguf = r->format && strcmp(r->format, "gguf") == 0;
    if (r->structure == QTF_OK && gguf)
        fprintf(out, "%sstructure   ok: GGUF header, key/values, tensor infos and data layout valid "
                "(%llu tensors, %llu keys)\n", indent, (unsigned long long)r->n,
                (unsigned long long)r->metadata_count);
    else if (r->structure == QTF_OK)
        fprintf(out, "%sstructure   ok: header, metadata, directory and padding valid (%llu tensors, "
                "%llu keys)\n", indent, (unsigned long long)r->n, (unsigned long long)r->metadata_count);
    else
        fprintf(out, "%sstructure   FAILED: %s (see the failures below)\n", indent,
                qtf_status_text(r->structure));
    double rate = r->checksum_seconds > 0 ? (double)r->checksum_bytes / r->checksum_seconds : 0;
    if (gguf && !r->manifest) {
        fprintf(out, "%schecksums   none: GGUF stores no checksums; the data is not checked for "
                "damage (give --hash-manifest with llama-gguf-hash output)\n", indent);
    } else {
        fprintf(out, "%schecksums   %s: %llu of %llu tensors match", indent,
                r->n_checksum_failed ? "FAILED" : "ok",
                (unsigned long long)(r->n - r->n_checksum_failed), (unsigned long long)r->n);
        if (gguf) fprintf(out, " %s of %s", r->manifest_algos, r->manifest);
        fprintf(out, ", %s", cli_human_bytes(h, sizeof h, r->checksum_bytes));
        fprintf(out, " in %.3f s (%s/s, %u threads)\n", r->checksum_seconds,
                cli_human_bytes(h, sizeof h, (uint64_t)rate), r->threads);
    }
    if (r->checksums_only)
        fprintf(out, "%sdecode      skipped (--checksums-only)\n", indent);
    else
        fprintf(out, "%sdecode      %s: %llu of %llu tensors dequantized (%.3f s)\n", indent,
                r->n_decode_failed ? "FAILED" : "ok",
                (unsigned long long)(r->n - r->n_decode_failed), (unsigned long long)r->n,
                r->decode_seconds);
    if (r->against) {
        int src_ok = !r->n_extra && !r->n_missing && !r->n_shape;
        fprintf(out, "%ssource      %s: %s (%s, %llu tensors): %llu compared, %llu missing, %llu extra, "
                "%llu shape mismatches", indent, src_ok ? "ok" : "FAILED", r->against, r->against_kind,
                (unsigned long long)r->source_tensors, (unsigned long long)r->n_compared,
                (unsigned long long)r->n_missing, (unsigned long long)r->n_extra,
                (unsigned long long)r->n_shape);
        if (r->n_ignored) fprintf(out, ", %llu ignored", (unsigned long long)r->n_ignored);
        if (r->n_source_nonfinite)
            fprintf(out, ", %llu with NaN/Inf in the source (not compared)",
                    (unsigned long long)r->n_source_nonfinite);
        fputc('\n', out);
        if (r->has_max_rel_rmse || r->has_min_cosine || r->has_min_snr) {
            fprintf(out, "%sthresholds  %s:", indent, r->n_threshold ? "FAILED" : "ok");
            if (r->has_max_rel_rmse) fprintf(out, " rel.RMSE <= %g", r->max_rel_rmse);
            if (r->has_min_cosine) fprintf(out, " cosine >= %g", r->min_cosine);
            if (r->has_min_snr) fprintf(out, " SNR >= %g dB", r->min_snr);
            fprintf(out, " (%llu tensors outside)\n", (unsigned long long)r->n_threshold);
        }
    }
}

static void summary_line(const verify_report *r, FILE *out, const char *prefix) {
    char a[32], b[32], c[32], d[32];
    fprintf(out, "%srel.RMSE %s, SNR %s dB%s, cosine %s, max|err| %s", prefix,
            fmt_num(a, sizeof a, r->w_rel_rmse, "%.4g"),
            r->have_snr ? fmt_num(b, sizeof b, r->w_snr_db, "%.2f") : "inf",
            r->n_exact ? " (exact tensors left out)" : "",
            fmt_num(c, sizeof c, r->w_cosine, "%.6f"), fmt_num(d, sizeof d, r->max_abs_err, "%.4g"));
    fprintf(out, " (%llu tensors, %llu elements, %llu exact)\n", (unsigned long long)r->n_compared,
            (unsigned long long)r->compared_elements, (unsigned long long)r->n_exact);
    if (r->importance) {
        char e[32], f[32];
        fprintf(out, "%simportance-weighted rel.RMSE %s, sum of squares %s (%llu tensors with a "
                "vector in %s, %llu elements)\n", prefix,
                fmt_num(e, sizeof e, r->w_imp_rel_rmse, "%.4g"),
                fmt_num(f, sizeof f, r->imp_error_sum, "%.6g"),
                (unsigned long long)r->n_importance, r->importance,
                (unsigned long long)r->importance_elements);
    }
}

void report_print_text(const verify_report *r, FILE *out, int quiet) {
    fprintf(out, "qtf-verify %s\n", r->file);
    print_checks(r, out, "  ");
    if (!quiet && r->n) {
        fprintf(out, "\nTensors\n");
        cli_table *tb = tensor_table(r);
        cli_table_print(tb, out, 2);
        cli_table_free(tb);
    }
    if (r->against && r->n_compared) {
        fprintf(out, "\nSummary, weighted by element count\n");
        summary_line(r, out, "  ");
        fprintf(out, "\nWorst %llu by rel.RMSE\n", (unsigned long long)r->n_worst);
        cli_table *tb = worst_table(r);
        cli_table_print(tb, out, 2);
        cli_table_free(tb);
    }
    uint64_t nf = failure_count(r);
    if (nf) {
        cli_buf b;
        cli_buf_init(&b);
        failures_text(&b, r, "  ");
        fprintf(out, "\nFailures\n%s", cli_buf_cstr(&b));
        cli_buf_free(&b);
    }
    fprintf(out, "\nRESULT: %s", r->ok ? "OK" : "FAILED");
    if (!r->ok)
        fprintf(out, " (%llu tensor%s failed, %llu missing%s)", (unsigned long long)r->n_failed_tensors,
                r->n_failed_tensors == 1 ? "" : "s", (unsigned long long)r->n_missing,
                r->structure != QTF_OK ? ", structure" : "");
    fputc('\n', out);
}

/* --- markdown --------------------------------------------------------------------------- */

void report_print_markdown(const verify_report *r, FILE *out, int quiet) {
    fputs("## qtf-verify: ", out);
    cli_markdown_text(out, r->file);
    fprintf(out, " — %s\n\n", r->ok ? "OK" : "FAILED");
    fprintf(out, "```\n");
    print_checks(r, out, "");
    fprintf(out, "```\n");
    if (r->against && r->n_compared) {
        fprintf(out, "\n### Summary, weighted by element count\n\n");
        summary_line(r, out, "");
        fprintf(out, "\n### Worst %llu by rel. RMSE\n\n", (unsigned long long)r->n_worst);
        cli_table *tb = worst_table(r);
        cli_table_print_markdown(tb, out);
        cli_table_free(tb);
    }
    uint64_t nf = failure_count(r);
    if (nf) {
        cli_buf b;
        cli_buf_init(&b);
        failures_text(&b, r, "- ");
        /* Names and messages may hold Markdown syntax; a fenced block shows
         * them literally. */
        fprintf(out, "\n### Failures (%llu)\n\n```\n%s```\n", (unsigned long long)nf, cli_buf_cstr(&b));
        cli_buf_free(&b);
    }
    if (!quiet && r->n) {
        fprintf(out, "\n### Tensors\n\n");
        cli_table *tb = tensor_table(r);
        cli_table_print_markdown(tb, out);
        cli_table_free(tb);
    }
}

/* --- JSON ------------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s) {
    return s ? cli_json_string(s, strlen(s)) : json_null();
}

static json_t *threshold_json(int has, double v) { return has ? cli_json_real(v) : json_null(); }

/* The stable names of the failure bits in --json. */
static const struct { unsigned bit; const char *check; } fail_checks[] = {
    {VF_CHECKSUM, "checksum"}, {VF_DECODE, "decode"}, {VF_NONFINITE, "nonfinite"},
    {VF_EXTRA, "extra"}, {VF_SHAPE, "shape"}, {VF_SOURCE, "source_read"},
    {VF_REL_RMSE, "max_rel_rmse"}, {VF_COSINE, "min_cosine"}, {VF_SNR, "min_snr"},
};

static json_t *failures_json(const verify_report *r, int *oom) {
    json_t *arr = json_array();
    if (!arr) { *oom = 1; return NULL; }
    if (r->structure != QTF_OK) {
        json_t *o = json_pack("{s:n,s:s,s:s}", "tensor", "check", "structure", "status",
                              qtf_status_name(r->structure));
        if (o) cli_json_set(o, "message", str_or_null(r->structure_error), oom);
        cli_json_append(arr, o, oom);
    }
    for (uint64_t i = 0; i < r->n; i++) {
        const vt_result *t = &r->t[i];
        for (size_t c = 0; c < sizeof fail_checks / sizeof fail_checks[0]; c++) {
            if (!(t->fail & fail_checks[c].bit)) continue;
            json_t *o = json_object();
            if (!o) { *oom = 1; continue; }
            cli_json_set(o, "tensor", cli_json_string(t->raw_name, strlen(t->raw_name)), oom);
            cli_json_set(o, "check", json_string(fail_checks[c].check), oom);
            cli_buf msg;
            cli_buf_init(&msg);
            vt_result one = *t;
            one.fail = fail_checks[c].bit;
            failure_lines(&msg, r, &one, "");
            if (msg.len && msg.p[msg.len - 1] == '\n') msg.p[--msg.len] = '\0';
            cli_json_set(o, "message", cli_json_string(cli_buf_cstr(&msg), msg.len), oom);
            cli_buf_free(&msg);
            cli_json_append(arr, o, oom);
        }
    }
    for (uint64_t i = 0; i < r->n_missing; i++) {
        json_t *o = json_object();
        if (!o) { *oom = 1; continue; }
        cli_json_set(o, "tensor", str_or_null(r->missing[i]), oom);
        cli_json_set(o, "check", json_string("missing"), oom);
        cli_json_set(o, "message", json_string("in the source but not in the file"), oom);
        cli_json_append(arr, o, oom);
    }
    return arr;
}

json_t *report_json(const verify_report *r) {
    int oom = 0;
    json_t *root = json_object();
    if (!root) return NULL;
    cli_json_set(root, "schema_version", json_integer(1), &oom);
    cli_json_set(root, "file", str_or_null(r->file_raw), &oom);
    if (r->format) cli_json_set(root, "format", json_string(r->format), &oom);
    cli_json_set(root, "ok", json_boolean(r->ok), &oom);
    cli_json_set(root, "threads", json_integer(r->threads), &oom);

    json_t *checks = json_object();
    if (checks) {
        json_t *s = json_object();
        if (s) {
            cli_json_set(s, "ok", json_boolean(r->structure == QTF_OK), &oom);
            cli_json_set(s, "status", json_string(qtf_status_name(r->structure)), &oom);
            cli_json_set(s, "message", str_or_null(r->structure_error), &oom);
        }
        cli_json_set(checks, "structure", s, &oom);
        json_t *c = json_object();
        if (c) {
            cli_json_set(c, "ok", json_boolean(r->n_checksum_failed == 0), &oom);
            cli_json_set(c, "failed", cli_json_u64(r->n_checksum_failed), &oom);
            cli_json_set(c, "bytes", cli_json_u64(r->checksum_bytes), &oom);
            cli_json_set(c, "seconds", cli_json_real(r->checksum_seconds), &oom);
            if (r->format) { /* GGUF: checked only against a manifest */
                cli_json_set(c, "available", json_boolean(r->manifest != NULL), &oom);
                cli_json_set(c, "manifest", str_or_null(r->manifest_raw), &oom);
                cli_json_set(c, "algorithms", str_or_null(r->manifest_algos), &oom);
            }
        }
        cli_json_set(checks, "checksums", c, &oom);
        json_t *d = json_object();
        if (d) {
            cli_json_set(d, "checked", json_boolean(!r->checksums_only), &oom);
            cli_json_set(d, "ok", json_boolean(r->n_decode_failed == 0), &oom);
            cli_json_set(d, "failed", cli_json_u64(r->n_decode_failed), &oom);
            cli_json_set(d, "seconds", cli_json_real(r->decode_seconds), &oom);
        }
        cli_json_set(checks, "decode", d, &oom);
    }
    cli_json_set(root, "checks", checks, &oom);

    if (r->against) {
        json_t *a = json_object();
        if (a) {
            cli_json_set(a, "path", str_or_null(r->against_raw), &oom);
            cli_json_set(a, "kind", str_or_null(r->against_kind), &oom);
            cli_json_set(a, "importance", str_or_null(r->importance_raw), &oom);
            cli_json_set(a, "tensors", cli_json_u64(r->source_tensors), &oom);
            cli_json_set(a, "compared", cli_json_u64(r->n_compared), &oom);
            cli_json_set(a, "ignored", cli_json_u64(r->n_ignored), &oom);
            json_t *missing = json_array(), *extra = json_array(), *shape = json_array();
            for (uint64_t i = 0; i < r->n_missing && missing; i++)
                cli_json_append(missing, str_or_null(r->missing[i]), &oom);
            for (uint64_t i = 0; i < r->n; i++) {
                const vt_result *t = &r->t[i];
                if ((t->fail & VF_EXTRA) && extra)
                    cli_json_append(extra, cli_json_string(t->raw_name, strlen(t->raw_name)), &oom);
                if ((t->fail & VF_SHAPE) && shape)
                    cli_json_append(shape, cli_json_string(t->raw_name, strlen(t->raw_name)), &oom);
            }
            cli_json_set(a, "missing", missing, &oom);
            cli_json_set(a, "extra", extra, &oom);
            cli_json_set(a, "shape_mismatch", shape, &oom);
        }
        cli_json_set(root, "against", a, &oom);
    } else {
        cli_json_set(root, "against", json_null(), &oom);
    }

    json_t *th = json_object();
    if (th) {
        cli_json_set(th, "max_rel_rmse", threshold_json(r->has_max_rel_rmse, r->max_rel_rmse), &oom);
        cli_json_set(th, "min_cosine", threshold_json(r->has_min_cosine, r->min_cosine), &oom);
        cli_json_set(th, "min_snr_db", threshold_json(r->has_min_snr, r->min_snr), &oom);
    }
    cli_json_set(root, "thresholds", th, &oom);

    if (r->against && r->n_compared) {
        json_t *s = json_object();
        if (s) {
            cli_json_set(s, "tensors", cli_json_u64(r->n_compared), &oom);
            cli_json_set(s, "elements", cli_json_u64(r->compared_elements), &oom);
            cli_json_set(s, "rel_rmse", cli_json_real(r->w_rel_rmse), &oom);
            cli_json_set(s, "snr_db", cli_json_real(r->w_snr_db), &oom);
            cli_json_set(s, "cosine", cli_json_real(r->w_cosine), &oom);
            cli_json_set(s, "max_abs_err", cli_json_real(r->max_abs_err), &oom);
            cli_json_set(s, "exact_tensors", cli_json_u64(r->n_exact), &oom);
            if (r->importance) {
                json_t *im = json_object();
                if (im) {
                    cli_json_set(im, "tensors", cli_json_u64(r->n_importance), &oom);
                    cli_json_set(im, "elements", cli_json_u64(r->importance_elements), &oom);
                    cli_json_set(im, "rel_rmse", r->n_importance ? cli_json_real(r->w_imp_rel_rmse)
                                                                 : json_null(), &oom);
                    cli_json_set(im, "error_sum", cli_json_real(r->imp_error_sum), &oom);
                }
                cli_json_set(s, "importance", im, &oom);
            }
        }
        cli_json_set(root, "summary", s, &oom);
        json_t *w = json_array();
        for (uint64_t k = 0; k < r->n_worst && w; k++) {
            const vt_result *t = &r->t[r->worst[k]];
            json_t *o = json_object();
            if (!o) { oom = 1; break; }
            cli_json_set(o, "name", cli_json_string(t->raw_name, strlen(t->raw_name)), &oom);
            cli_json_set(o, "encoding", json_string(t->encoding), &oom);
            cli_json_set(o, "rel_rmse", cli_json_real(t->m.rel_rmse), &oom);
            cli_json_append(w, o, &oom);
        }
        cli_json_set(root, "worst", w, &oom);
    } else {
        cli_json_set(root, "summary", json_null(), &oom);
        cli_json_set(root, "worst", json_array(), &oom);
    }

    json_t *tensors = json_array();
    for (uint64_t i = 0; i < r->n && tensors; i++) {
        const vt_result *t = &r->t[i];
        json_t *o = json_object();
        if (!o) { oom = 1; break; }
        cli_json_set(o, "name", cli_json_string(t->raw_name, strlen(t->raw_name)), &oom);
        cli_json_set(o, "encoding", json_string(t->encoding), &oom);
        cli_json_set(o, "n_elements", cli_json_u64(t->n_elements), &oom);
        cli_json_set(o, "ok", json_boolean(t->fail == 0), &oom);
        /* null: a GGUF file without a manifest has nothing to check against */
        cli_json_set(o, "checksum_ok", r->format && !r->manifest ? json_null()
                                       : json_boolean(t->checksum == QTF_OK), &oom);
        cli_json_set(o, "checksum_status", json_string(qtf_status_name(t->checksum)), &oom);
        cli_json_set(o, "decode_ok", t->decode_checked ? json_boolean(t->decode == QTF_OK) : json_null(), &oom);
        if (t->decode_checked && t->decode != QTF_OK)
            cli_json_set(o, "decode_error", str_or_null(t->decode_error), &oom);
        if (t->decode_checked && t->decode == QTF_OK)
            cli_json_set(o, "nonfinite", cli_json_u64(t->nonfinite), &oom);
        if (r->against) {
            cli_json_set(o, "ignored", json_boolean(t->ignored), &oom);
            cli_json_set(o, "in_source", json_boolean(t->in_source), &oom);
            cli_json_set(o, "shape_ok", json_boolean(!(t->fail & VF_SHAPE)), &oom);
            cli_json_set(o, "source_nonfinite",
                         t->source_checked ? cli_json_u64(t->source_nonfinite) : json_null(), &oom);
            if (t->compared) {
                cli_json_set(o, "rel_rmse", cli_json_real(t->m.rel_rmse), &oom);
                cli_json_set(o, "max_abs_err", cli_json_real(t->m.max_abs_err), &oom);
                cli_json_set(o, "snr_db", cli_json_real(t->m.snr_db), &oom);
                cli_json_set(o, "cosine", cli_json_real(t->m.cosine), &oom);
                cli_json_set(o, "mse", cli_json_real(t->m.mse), &oom);
                if (r->importance)
                    cli_json_set(o, "importance_rel_rmse", t->has_importance
                                 ? cli_json_real(t->imp_rel_rmse) : json_null(), &oom);
            } else {
                cli_json_set(o, "rel_rmse", json_null(), &oom);
                cli_json_set(o, "max_abs_err", json_null(), &oom);
                cli_json_set(o, "snr_db", json_null(), &oom);
                cli_json_set(o, "cosine", json_null(), &oom);
                cli_json_set(o, "mse", json_null(), &oom);
                if (r->importance) cli_json_set(o, "importance_rel_rmse", json_null(), &oom);
            }
        }
        json_t *f = json_array();
        for (size_t c = 0; c < sizeof fail_checks / sizeof fail_checks[0] && f; c++)
            if (t->fail & fail_checks[c].bit)
                cli_json_append(f, json_string(fail_checks[c].check), &oom);
        cli_json_set(o, "failures", f, &oom);
        cli_json_append(tensors, o, &oom);
    }
    cli_json_set(root, "tensors", tensors, &oom);
    cli_json_set(root, "failures", failures_json(r, &oom), &oom);
    if (oom) {
        json_decref(root);
        return NULL;
    }
    return root;
}
