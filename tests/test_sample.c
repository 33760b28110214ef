/* qtf-make-sample: deterministic output, a valid Hugging Face layout that the
 * source reader accepts, and weights with the statistics it promises. */
#include <jansson.h>
#include <math.h>
#include <sys/wait.h>

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include "support/container.h"
#include "support/files.h"
#include "support/gguf.h"

#include "checkpoint/source.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) {
    /* Each run writes into a sub-folder; remove those first. */
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char *p = tu_path(dir, e->d_name);
            struct stat sb;
            if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) tu_rmtree(p);
            else free(p);
        }
        closedir(d);
    }
    tu_rmtree(dir);
}
TestSuite(sample, .init = setup, .fini = teardown);

/* qtf-make-sample DIR/SUB ARGS (a shell word list): its exit status. */
static int run_sample(const char *sub, const char *args) {
    char cmd[2048], *out;
    snprintf(cmd, sizeof cmd, "'%s/%s' %s", dir, sub, args);
    int rc = gt_run(&out, "tools/qtf-make-sample", cmd);
    free(out);
    return rc;
}

static const char *const files[] = {
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "model.safetensors.index.json",
    "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
    "model-00003-of-00003.safetensors",
};

Test(sample, two_runs_give_identical_files) {
    cr_assert_eq(run_sample("a", "--layers 3 --hidden 128 --vocab 300 --shards 3 --seed 7"), 0);
    cr_assert_eq(run_sample("b", "--layers 3 --hidden 128 --vocab 300 --shards 3 --seed 7"), 0);
    cr_assert_eq(run_sample("c", "--layers 3 --hidden 128 --vocab 300 --shards 3 --seed 8"), 0);
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        char pa[4096], pb[4096], pc[4096];
        snprintf(pa, sizeof pa, "%s/a/%s", dir, files[k]);
        snprintf(pb, sizeof pb, "%s/b/%s", dir, files[k]);
        snprintf(pc, sizeof pc, "%s/c/%s", dir, files[k]);
        size_t la, lb, lc;
        unsigned char *a = tu_read(pa, &la), *b = tu_read(pb, &lb), *c = tu_read(pc, &lc);
        cr_assert_eq(la, lb, "%s", files[k]);
        cr_assert_eq(memcmp(a, b, la), 0, "%s differs between identical runs", files[k]);
        if (strstr(files[k], ".safetensors") && !strstr(files[k], "index"))
            cr_assert(la != lc || memcmp(a, c, la) != 0, "%s: the seed changes weights",
                      files[k]);
        free(a);
        free(b);
        free(c);
    }
}

Test(sample, layout_and_config_are_consistent) {
    cr_assert_eq(run_sample("m", "--layers 2 --hidden 192 --vocab 500 --shards 2"), 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/m/config.json", dir);
    json_error_t err;
    json_t *cfg = json_load_file(p, 0, &err);
    cr_assert_not_null(cfg, "%s", err.text);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0)),
                     "LlamaForCausalLM");
    cr_assert_eq(json_integer_value(json_object_get(cfg, "hidden_size")), 192);
    cr_assert_eq(json_integer_value(json_object_get(cfg, "intermediate_size")), 512);
    cr_assert_eq(json_integer_value(json_object_get(cfg, "num_hidden_layers")), 2);
    cr_assert_eq(json_integer_value(json_object_get(cfg, "num_attention_heads")), 3);
    cr_assert_eq(json_integer_value(json_object_get(cfg, "vocab_size")), 500);
    cr_assert_str_eq(json_string_value(json_object_get(cfg, "torch_dtype")), "bfloat16");
    json_decref(cfg);
    static const char *json_files[] = {"generation_config.json", "tokenizer.json",
                                       "tokenizer_config.json", "special_tokens_map.json"};
    for (size_t k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/m/%s", dir, json_files[k]);
        json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, &err);
        cr_assert_not_null(j, "%s: %s", json_files[k], err.text);
        if (k == 1)
            cr_assert_eq(json_object_size(json_object_get(json_object_get(j, "model"), "vocab")),
                         500, "tokenizer vocabulary matches vocab_size");
        json_decref(j);
    }

    snprintf(p, sizeof p, "%s/m", dir);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_SAFETENSORS_SHARDED);
    cr_assert_eq(qtf_source_file_count(s), 2);
    cr_assert_eq(qtf_source_tensor_count(s), 3 + 9 * 2);
    const char *names[] = {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
                           "model.layers.1.mlp.down_proj.weight"};
    const uint64_t shapes[][2] = {{500, 192}, {500, 192}, {192, 0}, {192, 512}};
    for (int k = 0; k < 4; k++) {
        uint64_t i;
        cr_assert_eq(qtf_source_tensor_find(&i, s, names[k]), QTF_OK, "%s", names[k]);
        const qtf_source_tensor *t = qtf_source_tensor_get(s, i);
        cr_assert_eq(t->dtype, QTF_DTYPE_BF16);
        cr_assert_eq(t->n_dims, shapes[k][1] ? 2u : 1u, "%s", names[k]);
        cr_assert_eq(t->dims[0], shapes[k][0]);
        if (shapes[k][1]) cr_assert_eq(t->dims[1], shapes[k][1]);
    }
    qtf_source_close(s);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

Test(sample, weights_are_heavy_tailed_with_outlier_columns) {
    cr_assert_eq(run_sample("w", "--layers 1 --hidden 512 --vocab 64 --shards 1"), 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/w", dir);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_SAFETENSORS, "one shard: model.safetensors");
    uint64_t i;
    cr_assert_eq(qtf_source_tensor_find(&i, s, "model.layers.0.self_attn.q_proj.weight"), QTF_OK);
    const uint64_t rows = 512, cols = 512, n = rows * cols;
    float *w = malloc(n * sizeof *w);
    cr_assert_eq(qtf_source_read_f32(w, n, s, i, 1), QTF_OK);
    /* Column RMS: outlier columns stand far above the median. */
    double *rms = calloc(cols, sizeof *rms), *sorted = malloc(cols * sizeof *sorted);
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++) rms[c] += (double)w[r * cols + c] * w[r * cols + c];
    memcpy(sorted, rms, cols * sizeof *rms);
    qsort(sorted, cols, sizeof *sorted, cmp_double);
    double median = sorted[cols / 2];
    int outliers = 0;
    for (uint64_t c = 0; c < cols; c++) outliers += rms[c] > 50 * median; /* >7x in RMS */
    cr_assert(outliers >= 1 && outliers <= 20, "%d outlier columns of 512 (~1%% expected)",
              outliers);
    /* Excess kurtosis of the ordinary columns: t(4) is heavy-tailed (Gaussian: 0). */
    double m2 = 0, m4 = 0;
    uint64_t count = 0;
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t c = 0; c < cols; c++) {
            if (rms[c] > 50 * median) continue;
            double v = w[r * cols + c];
            m2 += v * v;
            m4 += v * v * v * v;
            count++;
        }
    m2 /= (double)count;
    m4 /= (double)count;
    double kurt = m4 / (m2 * m2) - 3.0;
    cr_assert(kurt > 1.5, "excess kurtosis %.2f", kurt);
    cr_assert_float_eq(sqrt(m2), 0.5 / sqrt(512.0), 0.2 * 0.5 / sqrt(512.0), "std %.5f",
                       sqrt(m2));
    free(w);
    free(rms);
    free(sorted);

    cr_assert_eq(qtf_source_tensor_find(&i, s, "model.norm.weight"), QTF_OK);
    float norm[512];
    cr_assert_eq(qtf_source_read_f32(norm, 512, s, i, 1), QTF_OK);
    double mean = 0;
    for (int k = 0; k < 512; k++) {
        cr_assert(fabsf(norm[k] - 1.0f) < 0.4f, "norm[%d] = %f", k, norm[k]);
        mean += norm[k];
    }
    cr_assert_float_eq(mean / 512, 1.0, 0.02);
    qtf_source_close(s);
}

Test(sample, bad_arguments_fail) {
    cr_assert_eq(run_sample("x", "--hidden 100"), 2, "hidden must be a multiple of 64");
    cr_assert_eq(run_sample("x", "--layers 0"), 2);
    cr_assert_eq(run_sample("x", "--layers"), 2);
    cr_assert_eq(run_sample("x", "--vocab -5"), 2);
    cr_assert_eq(run_sample("x", "--frobnicate 3"), 2);
    cr_assert_eq(run_sample("x", "extra-arg"), 2);
}

Test(sample, rerun_into_the_same_folder_removes_stale_weights) {
    cr_assert_eq(run_sample("r", "--layers 2 --hidden 64 --vocab 32 --shards 3"), 0);
    cr_assert_eq(run_sample("r", "--layers 2 --hidden 64 --vocab 32 --shards 1"), 0);
    char p[4096];
    snprintf(p, sizeof p, "%s/r", dir);
    cr_assert_eq(tu_dir_entries(p), 6, "config, generation config, 3 tokenizer files, weights");
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_SAFETENSORS, "no stale index wins");
    qtf_source_close(s);
    cr_assert_eq(run_sample("r", "--layers 2 --hidden 64 --vocab 32 --shards 2"), 0);
    cr_assert_eq(tu_dir_entries(p), 8, "two shards and an index replace model.safetensors");
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_file_count(s), 2);
    qtf_source_close(s);
}
