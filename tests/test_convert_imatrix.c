/* qtf-convert --importance with llama.cpp's own importance matrices, end to
 * end against llama-quantize: converting aidreams-llama-260k-hf to iq4_nl
 * with aidreams-260k/imatrix.gguf (and with the legacy imatrix.dat) gives,
 * for every weight, exactly the blocks of llama.cpp's
 * model-IQ4_NL-imatrix.gguf once the Q/K rows are permuted as llama.cpp's
 * converter does. Also the errors: entries naming no tensor, wrong sizes. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/arch.h"
#include "checkpoint/gguf.h"
#include <dirent.h>
#include <sys/wait.h>
#include "support/files.h"
#include "support/gguf.h"

TestSuite(convert_imatrix);


/* Runs qtf-convert ARGS; *err gets its messages (the previous text freed). */
static int qc(char **err, const char *args) {
    free(*err);
    return gt_run(err, "convert/qtf-convert", args);
}

/* Compares every IQ4_NL tensor of the llama.cpp file with the QTF output. */
static int compare_blocks(const char *qtf_path, const char *gguf_path, const char *ckpt) {
    qtf_file *q;
    cr_assert_eq(qtf_file_open(&q, qtf_path, NULL), QTF_OK, "%s", qtf_error_detail());
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, gguf_path, 0), QTF_OK, "%s", qtf_error_detail());
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", ckpt);
    qtf_arch_config c;
    cr_assert_eq(qtf_arch_config_load(&c, cfg), QTF_OK);
    int compared = 0;
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        if (t->type != QTF_GGML_IQ4_NL) continue;
        char hf[256];
        const qtf_arch_tensor *e;
        cr_assert_eq(qtf_arch_gguf_to_hf(hf, sizeof hf, &e, NULL, c.arch, t->name, NULL, NULL), QTF_OK);
        uint64_t qi;
        cr_assert_eq(qtf_tensor_find(&qi, q, hf), QTF_OK, "%s", hf);
        const void *qd;
        uint64_t qn;
        cr_assert_eq(qtf_part_data(&qd, q, qi, 0), QTF_OK, "%s: %s", hf, qtf_error_detail());
        const void *gd;
        uint64_t gn;
        cr_assert_eq(qtf_gguf_tensor_data(&gd, &gn, g, i), QTF_OK);
        qn = qtf_tensor_get(q, qi)->parts[0].stored_size;
        cr_assert_eq(qn, gn, "%s: %" PRIu64 " vs %" PRIu64 " bytes", hf, qn, gn);
        unsigned char *perm = malloc(gn);
        uint32_t heads = qtf_arch_permute_heads(e, c.n_head, c.n_head_kv);
        if (heads)
            cr_assert_eq(qtf_arch_permute_rows(perm, qd, t->ne[1], gn / t->ne[1], heads, 0), QTF_OK);
        else
            memcpy(perm, qd, gn);
        cr_assert(memcmp(perm, gd, gn) == 0, "%s: QTF blocks differ from llama-quantize's %s", hf,
                  t->name);
        free(perm);
        compared++;
    }
    qtf_gguf_close(g);
    qtf_file_close(q);
    return compared;
}

Test(convert_imatrix, iq4_nl_blocks_equal_llama_quantize_with_gguf_and_dat) {
    TS_NEED(ckpt, "checkpoints/aidreams-llama-260k-hf");
    TS_NEED(want, "gguf/aidreams-260k/model-IQ4_NL-imatrix.gguf");
    TS_NEED(img, "gguf/aidreams-260k/imatrix.gguf");
    TS_NEED(imd, "gguf/aidreams-260k/imatrix.dat");
    const char *ims[2] = { img, imd };
    for (int k = 0; k < 2; k++) {
        char out[256], args[16384], *err = NULL;
        snprintf(out, sizeof out, "%s/o%d.qtf", gt_tmp(), k);
        /* --all-layers: token_embd is IQ4_NL in llama.cpp's --pure file too */
        snprintf(args, sizeof args, "'%s' '%s' -e iq4_nl --all-layers --fallback f16 "
                 "--importance '%s' --quiet", ckpt, out, ims[k]);
        cr_assert_eq(qc(&err, args), 0, "%s", err);
        int n = compare_blocks(out, want, ckpt);
        cr_assert_eq(n, 25, "compared %d tensors", n); /* embeddings + 4 layers x q k v o gate up */
        free(err);
    }
}

Test(convert_imatrix, without_importance_equals_plain_llama_quantize) {
    TS_NEED(ckpt, "checkpoints/aidreams-llama-260k-hf");
    TS_NEED(want, "gguf/aidreams-260k/model-IQ4_NL.gguf");
    char out[256], args[16384], *err = NULL;
    snprintf(out, sizeof out, "%s/plain.qtf", gt_tmp());
    snprintf(args, sizeof args, "'%s' '%s' -e iq4_nl --all-layers --fallback f16 --quiet", ckpt, out);
    cr_assert_eq(qc(&err, args), 0, "%s", err);
    /* the plain conversion equals llama-quantize without imatrix */
    cr_assert_eq(compare_blocks(out, want, ckpt), 25);
    free(err);
}

Test(convert_imatrix, errors_name_the_entry) {
    TS_NEED(ckpt, "checkpoints/aidreams-llama-260k-hf");
    TS_NEED(synth_im, "gguf/synth/imatrix.gguf");
    TS_NEED(gpt2, "checkpoints/capp-gpt2-tiny-hf");
    char out[256], args[16384], *err = NULL;
    snprintf(out, sizeof out, "%s/bad.qtf", gt_tmp());
    /* synth's imatrix has rows of 256 where aidreams has 64 */
    snprintf(args, sizeof args, "'%s' '%s' -e q4_0 --fallback f16 --importance '%s'", ckpt, out,
             synth_im);
    cr_assert_neq(qc(&err, args), 0);
    cr_assert(strstr(err, "importance entry 'blk.0.attn_k.weight' has 256 values"), "%s", err);
    cr_assert(strstr(err, "rows of 64 elements"), "%s", err);
    cr_assert_neq(access(out, F_OK), 0, "no output on error");
    /* llama names that the architecture (GPT-2) does not have */
    snprintf(args, sizeof args, "'%s' '%s' -e q4_0 --fallback f16 --importance '%s'", gpt2, out,
             synth_im);
    cr_assert_neq(qc(&err, args), 0);
    cr_assert(strstr(err, "importance entry 'blk.0.attn_k.weight' names no tensor"), "%s", err);
    free(err);
}

Test(convert_imatrix, uncovered_weight_warned) {
    TS_NEED(ckpt, "checkpoints/aidreams-llama-260k-hf");
    /* an imatrix covering only blk.0.attn_q.weight (legacy .dat built here) */
    char dat[256];
    snprintf(dat, sizeof dat, "%s/one.dat", gt_tmp());
    FILE *f = fopen(dat, "wb");
    int32_t hdr[1] = { 1 }, len = 19, ncall = 1, nval = 64;
    fwrite(hdr, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite("blk.0.attn_q.weight", 1, 19, f);
    fwrite(&ncall, 4, 1, f);
    fwrite(&nval, 4, 1, f);
    for (int j = 0; j < 64; j++) {
        float v = 1.0f + (float)j;
        fwrite(&v, 4, 1, f);
    }
    fclose(f);
    char out[256], args[16384], *err = NULL;
    snprintf(out, sizeof out, "%s/one.qtf", gt_tmp());
    snprintf(args, sizeof args, "'%s' '%s' -e iq4_nl --fallback f16 --importance '%s'", ckpt, out,
             dat);
    cr_assert_eq(qc(&err, args), 0, "%s", err);
    cr_assert(strstr(err, "has no importance for 'model.layers.0.self_attn.k_proj.weight': "
                          "weighted uniformly"), "%s", err);
    cr_assert_null(strstr(err, "'model.layers.0.self_attn.q_proj.weight': weighted"), "%s", err);
    cr_assert_null(strstr(err, "input_layernorm"), "norms are not linear weights: %s", err);
    free(err);
}
