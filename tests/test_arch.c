/* Architecture tables (checkpoint/arch.h): name maps against real files
 * (synth-llama-hf <-> synth/model-f32.gguf made by llama.cpp's converter,
 * capp-gpt2-tiny-hf), the Q/K permutation against the converter's output
 * bytes, and config.json -> the GGUF hyperparameters the fixture holds. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/arch.h"
#include "checkpoint/gguf.h"
#include "checkpoint/source.h"
#include <dirent.h>
#include <sys/wait.h>
#include "support/files.h"
#include "support/gguf.h"

TestSuite(arch);


/* DIR/config.json, which must load. */
static qtf_arch_config load_config(const char *dir) {
    char cfg[4200];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    qtf_arch_config c;
    cr_assert_eq(qtf_arch_config_load(&c, cfg), QTF_OK, "%s: %s", cfg, qtf_error_detail());
    return c;
}

Test(arch, lookup) {
    cr_assert_str_eq(qtf_arch_by_hf_class("LlamaForCausalLM")->gguf_arch, "llama");
    cr_assert_str_eq(qtf_arch_by_hf_class("MistralForCausalLM")->gguf_arch, "llama");
    cr_assert_str_eq(qtf_arch_by_hf_class("Qwen2ForCausalLM")->gguf_arch, "qwen2");
    cr_assert_str_eq(qtf_arch_by_hf_class("GPT2LMHeadModel")->gguf_arch, "gpt2");
    cr_assert_null(qtf_arch_by_hf_class("BertModel"));
    cr_assert_str_eq(qtf_arch_by_gguf_name("llama")->hf_class, "LlamaForCausalLM");
    cr_assert_null(qtf_arch_by_gguf_name("falcon"));
    size_t n;
    cr_assert_not_null(qtf_arch_all(&n));
    cr_assert_eq(n, 4);
}

Test(arch, names_both_directions_by_hand) {
    const qtf_arch *a = qtf_arch_by_hf_class("LlamaForCausalLM");
    char out[256];
    const qtf_arch_tensor *e;
    uint32_t layer;
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, &e, &layer, a,
                                     "model.layers.17.self_attn.k_proj.weight"), QTF_OK);
    cr_assert_str_eq(out, "blk.17.attn_k.weight");
    cr_assert_eq(layer, 17);
    cr_assert_eq(e->permute, QTF_ARCH_PERMUTE_K);
    cr_assert_eq(e->input_axis, 1);
    cr_assert_eq(qtf_arch_gguf_to_hf(out, sizeof out, &e, &layer, a, "blk.3.ffn_down.weight",
                                     NULL, NULL), QTF_OK);
    cr_assert_str_eq(out, "model.layers.3.mlp.down_proj.weight");
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, NULL, &layer, a, "lm_head.weight"), QTF_OK);
    cr_assert_str_eq(out, "output.weight");
    cr_assert_eq(layer, UINT32_MAX);
    /* leading zeros, missing index, unknown names */
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, NULL, NULL, a,
                                     "model.layers.01.mlp.up_proj.weight"), QTF_E_NOT_FOUND);
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, NULL, NULL, a,
                                     "model.layers..mlp.up_proj.weight"), QTF_E_NOT_FOUND);
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, NULL, NULL, a, "model.foo"), QTF_E_NOT_FOUND);
    cr_assert(strstr(qtf_error_detail(), "'model.foo'"));
    cr_assert_eq(qtf_arch_gguf_to_hf(out, sizeof out, NULL, NULL, a, "blk.0.attn_qkv.weight",
                                     NULL, NULL), QTF_E_NOT_FOUND);
    /* dropped tensors map to "" */
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, a,
                                     "model.layers.0.self_attn.rotary_emb.inv_freq"), QTF_OK);
    cr_assert_str_eq(out, "");
    cr_assert_null(e->gguf);
    /* output too small */
    cr_assert_eq(qtf_arch_hf_to_gguf(out, 8, NULL, NULL, a, "model.layers.3.mlp.up_proj.weight"),
                 QTF_E_LIMIT);
    /* Qwen2: nothing permuted, biases mapped */
    const qtf_arch *q = qtf_arch_by_hf_class("Qwen2ForCausalLM");
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, q,
                                     "model.layers.0.self_attn.q_proj.bias"), QTF_OK);
    cr_assert_str_eq(out, "blk.0.attn_q.bias");
    cr_assert_eq(e->permute, QTF_ARCH_PERMUTE_NONE);
}

static int has_unprefixed(void *ctx, const char *name) {
    (void)ctx;
    return strncmp(name, "transformer.", 12) != 0;
}

Test(arch, gpt2_conv1d_transposed_input_axis_0) {
    const qtf_arch *a = qtf_arch_by_hf_class("GPT2LMHeadModel");
    char out[256];
    const qtf_arch_tensor *e;
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, a, "transformer.h.2.mlp.c_fc.weight"),
                 QTF_OK);
    cr_assert_str_eq(out, "blk.2.ffn_up.weight");
    cr_assert_eq(e->transpose, 1);
    cr_assert_eq(e->input_axis, 0);
    /* checkpoints saved without the "transformer." prefix */
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, a, "h.0.attn.c_attn.weight"), QTF_OK);
    cr_assert_str_eq(out, "blk.0.attn_qkv.weight");
    cr_assert_eq(qtf_arch_gguf_to_hf(out, sizeof out, NULL, NULL, a, "blk.0.attn_qkv.weight",
                                     has_unprefixed, NULL), QTF_OK);
    cr_assert_str_eq(out, "h.0.attn.c_attn.weight");
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, a, "transformer.h.0.attn.bias"),
                 QTF_OK);
    cr_assert_str_eq(out, "");
    cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, a, "lm_head.weight"), QTF_OK);
    cr_assert_eq(e->transpose, 0);
    cr_assert_eq(e->input_axis, 1);
}

Test(arch, gpt2_checkpoint_every_name_maps) {
    TS_NEED(dir, "checkpoints/capp-gpt2-tiny-hf");
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, dir), QTF_OK, "%s", qtf_error_detail());
    const qtf_arch *a = qtf_arch_by_hf_class("GPT2LMHeadModel");
    int transposed = 0;
    for (uint64_t i = 0; i < qtf_source_tensor_count(s); i++) {
        const qtf_source_tensor *t = qtf_source_tensor_get(s, i);
        char out[256], back[256];
        const qtf_arch_tensor *e;
        cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, &e, NULL, a, t->name), QTF_OK, "%s: %s",
                     t->name, qtf_error_detail());
        if (!e->gguf) continue;
        cr_assert_eq(qtf_arch_gguf_to_hf(back, sizeof back, NULL, NULL, a, out, NULL, NULL), QTF_OK);
        cr_assert_str_eq(back, t->name);
        if (e->transpose) {
            transposed++;
            /* Conv1D [in, out]: c_fc is [64, 256] with 64 = n_embd the input */
            if (strstr(t->name, "c_fc.weight")) cr_assert_eq(t->dims[e->input_axis], 64);
            if (strstr(t->name, "mlp.c_proj.weight")) cr_assert_eq(t->dims[e->input_axis], 256);
        }
    }
    cr_assert_eq(transposed, 16);
    qtf_source_close(s);
}

/* Every tensor of synth-llama-hf maps to a tensor of llama.cpp's conversion
 * with ne = HF shape reversed, and back. */
Test(arch, llama_names_match_llama_cpp_conversion) {
    TS_NEED(dir, "gguf/synth-llama-hf");
    TS_NEED(gpath, "gguf/synth/model-f32.gguf");
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, dir), QTF_OK, "%s", qtf_error_detail());
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, gpath, QTF_GGUF_OPEN_METADATA_ONLY), QTF_OK, "%s",
                 qtf_error_detail());
    const qtf_arch *a = qtf_arch_by_hf_class("LlamaForCausalLM");
    uint64_t mapped = 0;
    for (uint64_t i = 0; i < qtf_source_tensor_count(s); i++) {
        const qtf_source_tensor *t = qtf_source_tensor_get(s, i);
        char out[256], back[256];
        cr_assert_eq(qtf_arch_hf_to_gguf(out, sizeof out, NULL, NULL, a, t->name), QTF_OK, "%s",
                     t->name);
        uint64_t gi;
        cr_assert_eq(qtf_gguf_tensor_find(&gi, g, out), QTF_OK, "%s -> %s", t->name, out);
        const qtf_gguf_tensor *gt = qtf_gguf_tensor_get(g, gi);
        cr_assert_eq(gt->n_dims, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++)
            cr_assert_eq(gt->ne[d], t->dims[t->n_dims - 1 - d], "%s", out);
        cr_assert_eq(qtf_arch_gguf_to_hf(back, sizeof back, NULL, NULL, a, out, NULL, NULL), QTF_OK);
        cr_assert_str_eq(back, t->name);
        mapped++;
    }
    cr_assert_eq(mapped, qtf_gguf_tensor_count(g));
    qtf_gguf_close(g);
    qtf_source_close(s);
}

/* The permutation reproduces llama.cpp's converter bit for bit: HF q_proj /
 * k_proj rows permuted == the F32 GGUF's attn_q / attn_k, and the inverse
 * gives HF back. K has 2 KV heads, Q 4 heads. */
Test(arch, permutation_equals_llama_cpp_converter) {
    TS_NEED(dir, "gguf/synth-llama-hf");
    TS_NEED(gpath, "gguf/synth/model-f32.gguf");
    qtf_arch_config c = load_config(dir);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, dir), QTF_OK);
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, gpath, 0), QTF_OK);
    const char *names[] = { "model.layers.0.self_attn.q_proj.weight",
                            "model.layers.0.self_attn.k_proj.weight",
                            "model.layers.0.self_attn.v_proj.weight" };
    for (int k = 0; k < 3; k++) {
        uint64_t si, gi;
        cr_assert_eq(qtf_source_tensor_find(&si, s, names[k]), QTF_OK);
        const qtf_source_tensor *t = qtf_source_tensor_get(s, si);
        char gname[256];
        const qtf_arch_tensor *e;
        cr_assert_eq(qtf_arch_hf_to_gguf(gname, sizeof gname, &e, NULL, c.arch, names[k]), QTF_OK);
        cr_assert_eq(qtf_gguf_tensor_find(&gi, g, gname), QTF_OK);
        float *hf = malloc(t->n_elements * 4), *perm = malloc(t->n_elements * 4),
              *back = malloc(t->n_elements * 4);
        cr_assert_eq(qtf_source_read_f32(hf, t->n_elements, s, si, 1), QTF_OK);
        const void *gd;
        uint64_t gn;
        cr_assert_eq(qtf_gguf_tensor_data(&gd, &gn, g, gi), QTF_OK);
        cr_assert_eq(gn, t->n_elements * 4);
        uint32_t heads = qtf_arch_permute_heads(e, c.n_head, c.n_head_kv);
        cr_assert_eq(heads, k == 0 ? 4u : k == 1 ? 2u : 0u);
        if (heads) {
            cr_assert_eq(qtf_arch_permute_rows(perm, hf, t->dims[0], t->dims[1] * 4, heads, 0), QTF_OK);
            cr_assert(memcmp(hf, gd, gn) != 0, "%s: the permutation must change the rows", names[k]);
        } else {
            memcpy(perm, hf, gn);
        }
        cr_assert(memcmp(perm, gd, gn) == 0, "%s differs from %s", names[k], gname);
        if (heads) {
            cr_assert_eq(qtf_arch_permute_rows(back, gd, t->dims[0], t->dims[1] * 4, heads, 1), QTF_OK);
            cr_assert(memcmp(back, hf, gn) == 0);
        }
        free(hf);
        free(perm);
        free(back);
    }
    qtf_gguf_close(g);
    qtf_source_close(s);
}

Test(arch, permutation_by_hand) {
    /* 2 heads of 4 rows: GGUF rows (per head) = HF rows 0, 2, 1, 3 */
    uint64_t want[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };
    for (uint64_t r = 0; r < 8; r++) {
        cr_assert_eq(qtf_arch_permute_src_row(r, 8, 2, 0), want[r]);
        cr_assert_eq(qtf_arch_permute_src_row(want[r], 8, 2, 1), r);
    }
    /* head of 6: rows 0,3,1,4,2,5 */
    uint64_t want6[6] = { 0, 3, 1, 4, 2, 5 };
    for (uint64_t r = 0; r < 6; r++) cr_assert_eq(qtf_arch_permute_src_row(r, 6, 1, 0), want6[r]);
    cr_assert_eq(qtf_arch_permute_check(6, 4), QTF_E_SHAPE);
    cr_assert_eq(qtf_arch_permute_check(6, 2), QTF_E_SHAPE); /* head size 3 is odd */
    cr_assert_eq(qtf_arch_permute_check(8, 0), QTF_E_SHAPE);
    cr_assert_eq(qtf_arch_permute_check(8, 2), QTF_OK);
}

/* config.json -> the hyperparameters llama.cpp wrote into the fixture. */
Test(arch, config_hparams_equal_fixture_metadata) {
    TS_NEED(dir, "gguf/synth-llama-hf");
    TS_NEED(gpath, "gguf/synth/model-f32.gguf");
    qtf_arch_config c = load_config(dir);
    cr_assert_eq(c.n_layer, 1);
    cr_assert_eq(c.n_embd, 256);
    cr_assert_eq(c.n_head, 4);
    cr_assert_eq(c.n_head_kv, 2);
    cr_assert_eq(c.n_vocab, 512);
    cr_assert_eq(c.tie_word_embeddings, 1);
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, gpath, QTF_GGUF_OPEN_METADATA_ONLY), QTF_OK);
    for (size_t i = 0; i < c.n_values; i++) {
        char key[128];
        snprintf(key, sizeof key, "llama.%s", c.values[i].gguf_key);
        cr_assert(c.values[i].present, "%s", key);
        if (c.values[i].type == QTF_TYPE_U32) {
            uint64_t u;
            cr_assert_eq(qtf_gguf_get_u64(&u, g, key), QTF_OK, "%s", key);
            cr_assert_eq(u, c.values[i].u, "%s", key);
        } else {
            double f;
            cr_assert_eq(qtf_gguf_get_f64(&f, g, key), QTF_OK, "%s", key);
            cr_assert_eq((float)c.values[i].f, (float)f, "%s", key);
        }
    }
    qtf_gguf_close(g);
}

Test(arch, config_errors_name_the_key) {
    char path[] = "/tmp/qtf-arch-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"architectures\": [\"LlamaForCausalLM\"], \"num_hidden_layers\": 2, "
          "\"max_position_embeddings\": 64, \"hidden_size\": 64, \"intermediate_size\": 128, "
          "\"num_attention_heads\": 4, \"rms_norm_eps\": 1e-5}", f);
    fclose(f);
    qtf_arch_config c;
    cr_assert_eq(qtf_arch_config_load(&c, path), QTF_E_NOT_FOUND);
    cr_assert(strstr(qtf_error_detail(), "\"vocab_size\" is missing"), "%s", qtf_error_detail());
    tu_write_text(path, "{\"architectures\": [\"BertModel\"]}");
    cr_assert_eq(qtf_arch_config_load(&c, path), QTF_E_UNSUPPORTED);
    cr_assert(strstr(qtf_error_detail(), "'BertModel'"));
    tu_write_text(path, "{\"architectures\": [\"GPT2LMHeadModel\"], \"n_layer\": 2, \"n_ctx\": null, "
          "\"n_positions\": 32, \"n_embd\": 64, \"n_head\": -4, \"layer_norm_epsilon\": 1e-5}");
    cr_assert_eq(qtf_arch_config_load(&c, path), QTF_E_VALUE);
    cr_assert(strstr(qtf_error_detail(), "\"n_head\" is -4"), "%s", qtf_error_detail());
    tu_write_text(path, "{\"architectures\": [\"GPT2LMHeadModel\"], \"n_layer\": 2, \"n_ctx\": null, "
          "\"n_positions\": 32, \"n_embd\": 64, \"n_head\": 4, \"layer_norm_epsilon\": 1e-5}");
    cr_assert_eq(qtf_arch_config_load(&c, path), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(c.values[1].u, 32);   /* context_length from n_positions */
    cr_assert_eq(c.values[3].u, 256);  /* feed_forward_length = 4 x n_embd */
    cr_assert_eq(c.n_head_kv, 4);
    unlink(path);
}
