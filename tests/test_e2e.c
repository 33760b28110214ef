/* End to end: qtf-convert on a generated sample checkpoint (qtf-make-sample)
 * and on the real checkpoints in $QTF_SHARED_CHECKPOINTS. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/source.h"
#include "support/source.h"
#include "support/container.h"
#include "support/files.h"
#include "support/run.h"

static const char *path_in(const char *name) { return test_tmpdir_path(name); }

#define NEED_SHARED()                                                              \
    do {                                                                           \
        if (!ts_checkpoint("")) cr_skip_test("QTF_SHARED_CHECKPOINTS not available");     \
    } while (0)

#define CONVERT(...) TS_TOOL("convert/qtf-convert", __VA_ARGS__)

/* Checks a converted file against its source: checksums, every tensor
 * present with its shape and source dtype, values exact where the encoding
 * is lossless, and within max_rel (relative RMSE) elsewhere. */
static void check_against_source(const char *qtf_path, const char *source, double max_rel) {
    qtf_file *f = ts_open(qtf_path, 0);
    cr_assert_eq(qtf_file_verify(f, 2, NULL), QTF_OK, "%s: %s", qtf_path, qtf_error_detail());
    qtf_source *s = NULL;
    cr_assert_eq(qtf_source_open(&s, source), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_tensor_count(f), qtf_source_tensor_count(s));
    for (uint64_t i = 0; i < qtf_source_tensor_count(s); i++) {
        const qtf_source_tensor *t = qtf_source_tensor_get(s, i);
        uint64_t j;
        const qtf_tensor_info *ti = ts_tensor(f, t->name, &j);
        cr_assert_eq(ti->n_dims, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) cr_assert_eq(ti->dims[d], t->dims[d]);
        cr_assert_eq(ti->source_type, t->dtype, "%s", t->name);
        float *ref = malloc(t->n_elements * sizeof(float) + 4);
        float *got = malloc(t->n_elements * sizeof(float) + 4);
        cr_assert(ref && got);
        cr_assert_eq(qtf_source_read_f32(ref, t->n_elements, s, i, 1), QTF_OK);
        cr_assert_eq(qtf_tensor_dequantize(got, QTF_DTYPE_F32, t->n_elements, f, j, 1), QTF_OK,
                     "%s: %s", t->name, qtf_error_detail());
        int lossless = ti->encoding.id == QTF_ENC_RAW ||
                       (ti->encoding.id == QTF_ENC_F32) ||
                       (ti->encoding.id == QTF_ENC_BF16 && t->dtype == QTF_DTYPE_BF16) ||
                       (ti->encoding.id == QTF_ENC_F16 && t->dtype == QTF_DTYPE_F16);
        if (lossless) {
            cr_assert(memcmp(ref, got, t->n_elements * sizeof(float)) == 0, "%s not exact",
                      t->name);
        } else {
            qtf_metrics m;
            cr_assert_eq(qtf_metrics_compute(&m, ref, got, t->n_elements, NULL, 0), QTF_OK);
            cr_assert(m.rel_rmse <= max_rel, "%s: %s relative RMSE %g > %g", qtf_path, t->name,
                      m.rel_rmse, max_rel);
        }
        free(ref);
        free(got);
    }
    qtf_source_close(s);
    qtf_file_close(f);
}

TestSuite(e2e, .fini = test_tmpdir_remove);

/* --- generated sample ------------------------------------------------------ */

static const char *make_sample(void) {
    const char *out = path_in("sample");
    int rc = TS_TOOL("tools/qtf-make-sample", out);
    if (rc == -1) cr_skip_test("qtf-make-sample not built");
    cr_assert_eq(rc, 0, "qtf-make-sample: %s", ts_err_text);
    return out;
}

Test(e2e, sample_all_encodings) {
    const char *sample = make_sample();
    struct {
        const char *spec;
        double max_rel;
    } cases[] = {
        { "int8", 0.08 }, { "int4:group=32", 0.25 }, { "nf4:group=64,dq", 0.25 },
        { "pal4:rows=8", 0.25 }, { "q8_0", 0.08 }, { "keep", 0.0 },
    };
    /* Loose per-tensor bounds: the sample's Student-t weights with 10-50x
     * outlier columns give per-row int8 up to ~0.05; a wrong scale or code
     * order would give errors near 1. */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *out = path_in("s.qtf");
        cr_assert_eq(CONVERT("-q", "--force", "-e", cases[i].spec, "--fallback", "int8", sample, out), 0,
                     "%s: %s", cases[i].spec, ts_err_text);
        check_against_source(out, sample, cases[i].max_rel);
    }
}

Test(e2e, sample_round_trip_to_safetensors) {
    const char *sample = make_sample();
    cr_assert_eq(CONVERT("-q", "-e", "keep", sample, path_in("k.qtf")), 0, "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "-e", "keep", path_in("k.qtf"), path_in("back.safetensors")), 0,
                 "%s", ts_err_text);
    assert_same_tensors(sample, path_in("back.safetensors"));
}

/* --target-bpw on tensors large enough to be measured on a sample of rows
 * (embedding and head of 4096 x 256 > 2^18 elements, convert/target.c):
 * the file is byte-identical for 1 and 3 threads, its stored tensor bytes
 * meet the budget, and every size in the allocation (sampled zstd rungs
 * included, measured again on the whole tensor once chosen) is the size
 * stored in the file. */
Test(e2e, target_bpw_sampled_rows_deterministic_and_exact) {
    char sample[600];   /* own copy: path_in's buffers rotate */
    snprintf(sample, sizeof sample, "%s", path_in("s4k"));
    int rc = TS_TOOL("tools/qtf-make-sample", sample, "--vocab", "4096");
    if (rc == -1) cr_skip_test("qtf-make-sample not built");
    cr_assert_eq(rc, 0, "%s", ts_err_text);
    char files[2][600];
    char *plan = NULL;
    for (int j = 0; j < 2; j++) {
        snprintf(files[j], sizeof files[j], "%s", path_in(j == 0 ? "t1.qtf" : "t3.qtf"));
        unlink(files[j]);
        /* -v prints the allocation (as a dry run would) to stdout */
        cr_assert_eq(CONVERT(j == 0 ? "-v" : "-q", "-j", j == 0 ? "1" : "3", "--all-layers",
                             "--target-bpw", "4.25", sample, files[j]), 0, "%s", ts_err_text);
        if (j == 0) plan = strdup(ts_out_text);
    }
    size_t la, lb;
    unsigned char *a = tu_read(files[0], &la), *b = tu_read(files[1], &lb);
    cr_assert(a && b && la == lb && memcmp(a, b, la) == 0, "the file depends on the thread count");
    free(a);
    free(b);
    qtf_file *f = ts_open(files[0], 0);
    uint64_t stored_all = 0, elements = 0;
    int zstd_sampled = 0, rows = 0;
    const char *end = strstr(plan, "target: budget");
    cr_assert(end, "%s", plan);
    for (uint64_t i = 0; i < qtf_tensor_count(f); i++) {
        const qtf_tensor_info *t = qtf_tensor_get(f, i);
        uint64_t stored = 0;
        for (uint32_t p = 0; p < t->n_parts; p++) stored += t->parts[p].stored_size;
        stored_all += stored;
        elements += t->n_elements;
        const char *line = strstr(plan, t->name);
        if (!line || line > end) continue;      /* a kept tensor: not allocated */
        char name[256], enc[96];
        unsigned long long bytes;
        cr_assert_eq(sscanf(line, "%255s %95s %llu", name, enc, &bytes), 3);
        cr_assert_eq(stored, bytes, "%s (%s): allocated %llu, stored %llu", name, enc, bytes,
                     (unsigned long long)stored);
        if (strstr(enc, "zstd") && t->n_elements > (1u << 18)) zstd_sampled++;
        rows++;
    }
    cr_assert_geq(rows, 10);
    cr_assert_leq(8.0 * (double)stored_all / (double)elements, 4.25);
    qtf_file_close(f);
    free(plan);
    cr_assert_gt(zstd_sampled, 0, "no sampled tensor took a zstd rung: nothing was checked");
}

/* --- shared real checkpoints ------------------------------------------------ */

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every folder of $QTF_SHARED_CHECKPOINTS that holds a checkpoint converts
 * with the default recipe and with int4, and matches its source. */
Test(e2e, shared_every_checkpoint) {
    NEED_SHARED();
    DIR *d = opendir(ts_checkpoint(""));
    cr_assert(d);
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64) {
        if (e->d_name[0] == '.') continue;
        qtf_source *s = NULL;
        if (qtf_source_open(&s, ts_checkpoint(e->d_name)) != QTF_OK) continue;
        qtf_source_close(s);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    cr_assert_geq(n, 6, "only %d checkpoints found", n);
    for (int i = 0; i < n; i++) {
        const char *src = ts_checkpoint(names[i]);
        cr_assert_eq(CONVERT("-q", "--force", src, path_in("d.qtf")), 0, "%s: %s", names[i], ts_err_text);
        check_against_source(path_in("d.qtf"), src, 0.02);
        qtf_file *f = ts_open(path_in("d.qtf"), 0);
        const char *str;
        uint64_t len;
        cr_assert_eq(qtf_meta_get_string(&str, &len, f, "general.architecture"), QTF_OK);
        cr_assert(len > 0);
        const void *blob;
        const char *media;
        cr_assert_eq(qtf_meta_get_blob(&blob, &len, &media, f, "hf.file.config.json"), QTF_OK,
                     "%s", names[i]);
        qtf_file_close(f);
        cr_assert_eq(CONVERT("-q", "--force", "-e", "int4:group=32", "--fallback", "int8", src,
                             path_in("d4.qtf")), 0, "%s: %s", names[i], ts_err_text);
        check_against_source(path_in("d4.qtf"), src, 0.2);
        free(names[i]);
    }
}

Test(e2e, shared_tokenizers_only_has_no_weights) {
    NEED_SHARED();
    cr_assert_eq(CONVERT("-q", ts_checkpoint("tokenizers-only/gpt2"), path_in("t.qtf")), 2);
    cr_assert(strstr(ts_err_text, "gpt2"), "%s", ts_err_text);
    struct stat st;
    cr_assert(stat(path_in("t.qtf"), &st) != 0);
}

Test(e2e, shared_ffn_172_group_32) {
    NEED_SHARED();
    const char *src = ts_checkpoint("aidreams-llama-260k-hf");
    cr_assert_eq(CONVERT("-q", "-e", "int4:group=32", src, path_in("x.qtf")), 2);
    cr_assert(strstr(ts_err_text, "mlp.down_proj.weight") && strstr(ts_err_text, "172"), "%s",
              ts_err_text);
    /* Every tensor that cannot take it is named in the same run. */
    for (int l = 0; l < 4; l++) {
        char name[64];
        snprintf(name, sizeof name, "model.layers.%d.mlp.down_proj.weight", l);
        cr_assert(strstr(ts_err_text, name), "%s not named: %s", name, ts_err_text);
    }
    cr_assert(!strstr(ts_err_text, "up_proj"), "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "-e", "q4_0", src, path_in("x.qtf")), 2);
    cr_assert(strstr(ts_err_text, "mlp.down_proj.weight"), "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "-e", "int4:group=32", "-r", "*.down_proj.*=int4:group=4", src,
                         path_in("x.qtf")), 0, "%s", ts_err_text);
    qtf_file *f = ts_open(path_in("x.qtf"), 0);
    uint64_t j;
    cr_assert_eq(qtf_tensor_find(&j, f, "model.layers.2.mlp.down_proj.weight"), QTF_OK);
    cr_assert_eq(qtf_tensor_get(f, j)->encoding.group, 4);
    qtf_file_close(f);
}

/* The F32, sharded and .bin copies hold the same weights: the tensors of the
 * three .qtf files must be bit-identical (same part checksums). The .bin was
 * saved without lm_head (tied to the embeddings): a tensor missing from one
 * copy is allowed only if it is lm_head.weight of a tied model. */
Test(e2e, shared_layouts_give_identical_tensors) {
    NEED_SHARED();
    const char *copies[] = { "aidreams-llama-260k-hf", "aidreams-llama-260k-hf-sharded",
                             "aidreams-llama-260k-hf-pytorch-bin" };
    const char *specs[] = { "int8", "nf4:group=4" };
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        qtf_file *f[3];
        for (int c = 0; c < 3; c++) {
            char name[32];
            snprintf(name, sizeof name, "c%d.qtf", c);
            cr_assert_eq(CONVERT("-q", "--force", "-e", specs[s], "-j", c == 1 ? "1" : "2",
                                 ts_checkpoint(copies[c]), path_in(name)), 0, "%s: %s", copies[c],
                         ts_err_text);
            f[c] = ts_open(path_in(name), 0);
        }
        for (int c = 1; c < 3; c++) {
            uint64_t matched = 0;
            for (uint64_t i = 0; i < qtf_tensor_count(f[0]); i++) {
                const qtf_tensor_info *a = qtf_tensor_get(f[0], i);
                uint64_t j;
                if (qtf_tensor_find(&j, f[c], a->name) != QTF_OK) {
                    cr_assert_str_eq(a->name, "lm_head.weight", "%s lacks %s", copies[c],
                                     a->name);
                    continue;
                }
                const qtf_tensor_info *b = qtf_tensor_get(f[c], j);
                cr_assert_eq(a->encoding_id, b->encoding_id, "%s", a->name);
                cr_assert_eq(a->n_parts, b->n_parts);
                cr_assert_eq(a->source_type, b->source_type);
                for (uint32_t p = 0; p < a->n_parts; p++) {
                    cr_assert_eq(a->parts[p].checksum, b->parts[p].checksum, "%s part %u (%s)",
                                 a->name, p, copies[c]);
                    cr_assert_eq(a->parts[p].stored_size, b->parts[p].stored_size);
                }
                matched++;
            }
            /* Whatever one copy has beyond the other must be the tied head. */
            for (uint64_t j = 0; j < qtf_tensor_count(f[c]); j++) {
                uint64_t i;
                const qtf_tensor_info *b = qtf_tensor_get(f[c], j);
                if (qtf_tensor_find(&i, f[0], b->name) != QTF_OK)
                    cr_assert_str_eq(b->name, "lm_head.weight", "%s has extra %s", copies[c],
                                     b->name);
            }
            cr_assert_geq(matched, 38, "%s: only %llu tensors matched", copies[c],
                          (unsigned long long)matched);
        }
        for (int c = 0; c < 3; c++) qtf_file_close(f[c]);
    }
}

Test(e2e, shared_bf16_lossless_round_trip) {
    NEED_SHARED();
    const char *src = ts_checkpoint("aidreams-llama-260k-hf-bf16");
    cr_assert_eq(CONVERT("-q", "-e", "bf16", src, path_in("b.qtf")), 0, "%s", ts_err_text);
    cr_assert_eq(CONVERT("-q", "-e", "bf16", path_in("b.qtf"), path_in("b.safetensors")), 0,
                 "%s", ts_err_text);
    char orig[600];
    snprintf(orig, sizeof orig, "%s/model.safetensors", src);
    assert_same_tensors(orig, path_in("b.safetensors"));
    qtf_source *b = NULL;
    cr_assert_eq(qtf_source_open(&b, path_in("b.safetensors")), QTF_OK);
    cr_assert_eq(qtf_source_get_kind(b), QTF_SOURCE_SAFETENSORS);
    for (uint64_t j = 0; j < qtf_source_tensor_count(b); j++)
        cr_assert_eq(qtf_source_tensor_get(b, j)->dtype, QTF_DTYPE_BF16);
    qtf_source_close(b);
}
