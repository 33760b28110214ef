/* Recipe parsing and the per-tensor encoding choice of qtf-convert. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/recipe.h"
#include "support/container.h"

static char err[4096];

static int same_encoding(const qtf_encoding *a, const qtf_encoding *b) {
    char x[96], y[96];
    if (qtf_encoding_format(x, sizeof x, a) != QTF_OK) return 0;
    if (qtf_encoding_format(y, sizeof y, b) != QTF_OK) return 0;
    return strcmp(x, y) == 0 && a->id == b->id && a->bits == b->bits && a->group == b->group &&
           a->raw_type == b->raw_type;
}

static qtfc_choice choose(const qtfc_recipe *r, const char *name, qtf_dtype t, uint32_t n_dims,
                          uint64_t d0, uint64_t d1) {
    uint64_t dims[2] = { d0, d1 };
    qtfc_choice c;
    int rc = qtfc_recipe_choose(&c, r, name, t, n_dims, dims, err, sizeof err);
    cr_assert_eq(rc, 0, "choose %s: %s", name, err);
    return c;
}

Test(recipe, spec_parse_keep_and_encoding) {
    qtfc_spec s;
    cr_assert_eq(qtfc_spec_parse(&s, "keep", err, sizeof err), 0);
    cr_assert_eq(s.keep, 1);
    cr_assert_str_eq(s.text, "keep");
    cr_assert_eq(qtfc_spec_parse(&s, "int4:group=32", err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.keep, 0);
    cr_assert_eq(s.enc.id, QTF_ENC_INT);
    cr_assert_eq(s.enc.bits, 4);
    cr_assert_eq(s.enc.group, 32);
    /* The stored text is canonical: it parses back to the same encoding. */
    qtf_encoding back = ts_parse(s.text);
    cr_assert(same_encoding(&back, &s.enc));
    cr_assert_eq(qtfc_spec_parse(&s, "int9", err, sizeof err), -1);
    cr_assert(strstr(err, "int9") != NULL, "%s", err);
    cr_assert_eq(qtfc_spec_parse(&s, "Keep", err, sizeof err), -1);
}

Test(recipe, default_is_int8_per_row) {
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(r.default_spec.keep, 0);
    cr_assert_eq(r.default_spec.enc.id, QTF_ENC_INT);
    cr_assert_eq(r.default_spec.enc.bits, 8);
    cr_assert_eq(r.default_spec.enc.group, QTF_GROUP_ROW);
    cr_assert_eq(r.n_rules, 0);
    cr_assert_eq(r.has_fallback, 0);
    qtfc_recipe_free(&r);
}

Test(recipe, rule_syntax_errors) {
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "noequals", "--rule 1", err, sizeof err), -1);
    cr_assert(strstr(err, "--rule 1") && strstr(err, "GLOB=SPEC"), "%s", err);
    cr_assert_eq(qtfc_recipe_add_rule(&r, " =int8", "--rule 2", err, sizeof err), -1);
    cr_assert(strstr(err, "empty glob"), "%s", err);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*.weight=  ", "--rule 3", err, sizeof err), -1);
    cr_assert(strstr(err, "empty encoding"), "%s", err);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*=int4:grup=32", "--rule 4", err, sizeof err), -1);
    cr_assert(strstr(err, "--rule 4") && strstr(err, "grup"), "%s", err);
    cr_assert_eq(r.n_rules, 0);
    /* Split at the first '=': the encoding keeps its own '='. Blanks trimmed. */
    cr_assert_eq(qtfc_recipe_add_rule(&r, "  *.mlp.* = int4:group=32 ", "--rule 5", err,
                                      sizeof err), 0, "%s", err);
    cr_assert_eq(r.n_rules, 1);
    cr_assert_str_eq(r.rules[0].glob, "*.mlp.*");
    cr_assert_eq(r.rules[0].spec.enc.group, 32);
    cr_assert_str_eq(r.rules[0].origin, "--rule 5");
    qtfc_recipe_free(&r);
}

Test(recipe, first_match_wins) {
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*.mlp.*=int4:group=32", "a", err, sizeof err), 0);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*.mlp.up_proj.*=q8_0", "b", err, sizeof err), 0);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*=nf4", "c", err, sizeof err), 0);
    qtfc_choice c = choose(&r, "model.layers.0.mlp.up_proj.weight", QTF_DTYPE_BF16, 2, 172, 64);
    cr_assert_eq(c.why, QTFC_WHY_RULE);
    cr_assert_eq(c.rule, 0, "the earlier, broader rule wins");
    cr_assert_eq(c.enc.id, QTF_ENC_INT);
    cr_assert_eq(c.enc.bits, 4);
    c = choose(&r, "model.layers.0.self_attn.q_proj.weight", QTF_DTYPE_BF16, 2, 64, 64);
    cr_assert_eq(c.rule, 2);
    cr_assert_eq(c.enc.id, QTF_ENC_NF4);
    /* '*' crosses dots (no FNM_PATHNAME). */
    c = choose(&r, "a.b.c.d", QTF_DTYPE_F32, 2, 128, 128);
    cr_assert_eq(c.rule, 2);
    qtfc_recipe_free(&r);
}

Test(recipe, keep_resolves_to_source_type) {
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*=keep", "k", err, sizeof err), 0);
    qtfc_choice c = choose(&r, "w", QTF_DTYPE_BF16, 2, 256, 256);
    cr_assert_eq(c.enc.id, QTF_ENC_BF16);
    c = choose(&r, "w", QTF_DTYPE_F16, 2, 256, 256);
    cr_assert_eq(c.enc.id, QTF_ENC_F16);
    c = choose(&r, "w", QTF_DTYPE_F32, 2, 256, 256);
    cr_assert_eq(c.enc.id, QTF_ENC_F32);
    c = choose(&r, "w", QTF_DTYPE_F64, 2, 256, 256);
    cr_assert_eq(c.enc.id, QTF_ENC_RAW);
    cr_assert_eq(c.enc.raw_type, QTF_DTYPE_F64);
    qtfc_recipe_free(&r);
}

Test(recipe, integers_always_kept) {
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*=int4:group=32", "x", err, sizeof err), 0);
    const qtf_dtype ints[] = { QTF_DTYPE_I8, QTF_DTYPE_U8, QTF_DTYPE_I16, QTF_DTYPE_U16,
                               QTF_DTYPE_I32, QTF_DTYPE_U32, QTF_DTYPE_I64, QTF_DTYPE_U64,
                               QTF_DTYPE_BOOL };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        qtfc_choice c = choose(&r, "position_ids", ints[i], 2, 1024, 64);
        cr_assert_eq(c.why, QTFC_WHY_INTEGER);
        cr_assert_eq(c.enc.id, QTF_ENC_RAW);
        cr_assert_eq(c.enc.raw_type, ints[i]);
    }
    qtfc_recipe_free(&r);
}

Test(recipe, default_policy_small_and_one_dim) {
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_spec_parse(&r.default_spec, "int4:group=32", err, sizeof err), 0);
    qtfc_choice c = choose(&r, "model.norm.weight", QTF_DTYPE_BF16, 1, 8192, 0);
    cr_assert_eq(c.why, QTFC_WHY_ONE_DIM);
    cr_assert_eq(c.enc.id, QTF_ENC_BF16);
    /* 4095 elements: small; 4096: not small. */
    c = choose(&r, "x.weight", QTF_DTYPE_F32, 2, 63, 65);
    cr_assert_eq(c.why, QTFC_WHY_SMALL);
    cr_assert_eq(c.enc.id, QTF_ENC_F32);
    c = choose(&r, "x.weight", QTF_DTYPE_F32, 2, 64, 64);
    cr_assert_eq(c.why, QTFC_WHY_DEFAULT);
    cr_assert_eq(c.enc.id, QTF_ENC_INT);
    cr_assert_eq(c.enc.bits, 4);
    /* A scalar is 0-D: kept. */
    c = choose(&r, "logit_scale", QTF_DTYPE_F32, 0, 0, 0);
    cr_assert_eq(c.why, QTFC_WHY_ONE_DIM);
    /* A rule overrides the policy, even for 1-D tensors. */
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*norm*=f16", "n", err, sizeof err), 0);
    c = choose(&r, "model.norm.weight", QTF_DTYPE_BF16, 1, 8192, 0);
    cr_assert_eq(c.why, QTFC_WHY_RULE);
    cr_assert_eq(c.enc.id, QTF_ENC_F16);
    qtfc_recipe_free(&r);
}

Test(recipe, embeddings_and_head_int8_unless_all_layers) {
    const char *names[] = { "model.embed_tokens.weight", "lm_head.weight",
                            "transformer.wte.weight", "transformer.wpe.weight",
                            "gpt_neox.embed_out.weight", "bert.embeddings.word_embeddings.weight" };
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_spec_parse(&r.default_spec, "nf4", err, sizeof err), 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        cr_assert(qtfc_is_embedding_name(names[i]), "%s", names[i]);
        qtfc_choice c = choose(&r, names[i], QTF_DTYPE_BF16, 2, 512, 64);
        cr_assert_eq(c.why, QTFC_WHY_EMBEDDING, "%s", names[i]);
        cr_assert_eq(c.enc.id, QTF_ENC_INT);
        cr_assert_eq(c.enc.bits, 8);
    }
    cr_assert(!qtfc_is_embedding_name("model.layers.0.mlp.up_proj.weight"));
    r.all_layers = 1;
    qtfc_choice c = choose(&r, "lm_head.weight", QTF_DTYPE_BF16, 2, 512, 64);
    cr_assert_eq(c.why, QTFC_WHY_DEFAULT);
    cr_assert_eq(c.enc.id, QTF_ENC_NF4);
    r.all_layers = 0;
    /* A rule says otherwise. */
    cr_assert_eq(qtfc_recipe_add_rule(&r, "lm_head.*=q4_0", "h", err, sizeof err), 0);
    c = choose(&r, "lm_head.weight", QTF_DTYPE_BF16, 2, 512, 64);
    cr_assert_eq(c.why, QTFC_WHY_RULE);
    cr_assert_eq(c.enc.id, QTF_ENC_Q4_0);
    /* With an 8-bit or wider default the embeddings simply get the default. */
    qtfc_recipe_free(&r);
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_spec_parse(&r.default_spec, "f16", err, sizeof err), 0);
    c = choose(&r, "model.embed_tokens.weight", QTF_DTYPE_BF16, 2, 512, 64);
    cr_assert_eq(c.why, QTFC_WHY_DEFAULT);
    cr_assert_eq(c.enc.id, QTF_ENC_F16);
    qtfc_recipe_free(&r);
}

Test(recipe, shape_error_names_tensor_or_falls_back) {
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_spec_parse(&r.default_spec, "int4:group=32", err, sizeof err), 0);
    uint64_t dims[2] = { 64, 172 };
    qtfc_choice c;
    int rc = qtfc_recipe_choose(&c, &r, "model.layers.0.mlp.down_proj.weight", QTF_DTYPE_F32, 2,
                                dims, err, sizeof err);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err, "model.layers.0.mlp.down_proj.weight"), "%s", err);
    cr_assert(strstr(err, "[64, 172]"), "%s", err);
    cr_assert(strstr(err, "not a multiple of the group size"), "%s", err);
    cr_assert(strstr(err, "--fallback"), "%s", err);

    cr_assert_eq(qtfc_spec_parse(&r.fallback, "int8", err, sizeof err), 0);
    r.has_fallback = 1;
    rc = qtfc_recipe_choose(&c, &r, "model.layers.0.mlp.down_proj.weight", QTF_DTYPE_F32, 2,
                            dims, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(c.fell_back, 1);
    cr_assert_eq(c.enc.bits, 8);
    cr_assert(strstr(c.fallback_note, "int4"), "%s", c.fallback_note);
    /* Tensors the encoding fits do not fall back. */
    dims[1] = 64;
    rc = qtfc_recipe_choose(&c, &r, "w", QTF_DTYPE_F32, 2, dims, err, sizeof err);
    cr_assert_eq(rc, 0);
    cr_assert_eq(c.fell_back, 0);
    cr_assert_eq(c.enc.bits, 4);
    /* A fallback that does not fit either is an error naming both. */
    dims[1] = 172;
    cr_assert_eq(qtfc_spec_parse(&r.fallback, "q8_0", err, sizeof err), 0);
    rc = qtfc_recipe_choose(&c, &r, "down", QTF_DTYPE_F32, 2, dims, err, sizeof err);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(err, "down") && strstr(err, "q8_0"), "%s", err);
    /* keep as fallback always fits. */
    cr_assert_eq(qtfc_spec_parse(&r.fallback, "keep", err, sizeof err), 0);
    rc = qtfc_recipe_choose(&c, &r, "down", QTF_DTYPE_BF16, 2, dims, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(c.enc.id, QTF_ENC_BF16);
    qtfc_recipe_free(&r);
}

static char *write_temp(const char *content) {
    static char path[64];
    strcpy(path, "/tmp/qtf-recipe-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    size_t n = strlen(content);
    cr_assert_eq(write(fd, content, n), (ssize_t)n);
    close(fd);
    return path;
}

Test(recipe, file_comments_blanks_crlf) {
    char *path = write_temp("# attention in 8 bits\n\n   \n*.self_attn.*=int8\r\n"
                            "  # indented comment\n*.mlp.*=int4:group=32\n*norm*=keep");
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.n_rules, 3);
    cr_assert_str_eq(r.rules[0].glob, "*.self_attn.*");
    cr_assert_eq(r.rules[0].spec.enc.bits, 8);
    cr_assert_str_eq(r.rules[1].glob, "*.mlp.*");
    cr_assert_eq(r.rules[2].spec.keep, 1);
    char origin[128];
    snprintf(origin, sizeof origin, "%s:6", path);
    cr_assert_str_eq(r.rules[1].origin, origin);
    qtfc_recipe_free(&r);
    unlink(path);

    /* trailing comments after a blank; a '#' inside a rule is part of it */
    path = write_temp("*.mlp.* = int4:group=64   # the MLP\r\n*q_proj*=keep\t# as is\n"
                      "*#x*=int8\n");
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.n_rules, 3);
    cr_assert_str_eq(r.rules[0].glob, "*.mlp.*");
    cr_assert_eq(r.rules[0].spec.enc.bits, 4);
    cr_assert_eq(r.rules[0].spec.enc.group, 64);
    cr_assert_str_eq(r.rules[1].glob, "*q_proj*");
    cr_assert_eq(r.rules[1].spec.keep, 1);
    cr_assert_str_eq(r.rules[2].glob, "*#x*");
    qtfc_recipe_free(&r);
    unlink(path);
}

Test(recipe, file_errors_name_line) {
    char *path = write_temp("*.a=int8\n# ok\n*.b=int4:group=32\n\n*.c=pal4:rows=x\n");
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, path, err, sizeof err), -1);
    char where[128];
    snprintf(where, sizeof where, "%s:5:", path);
    cr_assert(strstr(err, where), "expected '%s' in: %s", where, err);
    qtfc_recipe_free(&r);
    unlink(path);

    path = write_temp("*.a=int8\njust-a-glob\n");
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, path, err, sizeof err), -1);
    snprintf(where, sizeof where, "%s:2:", path);
    cr_assert(strstr(err, where) && strstr(err, "GLOB=SPEC"), "%s", err);
    qtfc_recipe_free(&r);
    unlink(path);

    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, "/nonexistent/recipe.txt", err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/recipe.txt"), "%s", err);
    qtfc_recipe_free(&r);
}

Test(recipe, describe_lists_rules_default_fallback_flags) {
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*.mlp.*=int4:group=32", "a", err, sizeof err), 0);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*norm*=keep", "b", err, sizeof err), 0);
    cr_assert_eq(qtfc_spec_parse(&r.default_spec, "nf4:group=64,dq", err, sizeof err), 0);
    cr_assert_eq(qtfc_spec_parse(&r.fallback, "int8", err, sizeof err), 0);
    r.has_fallback = 1;
    char *text = qtfc_recipe_describe(&r);
    cr_assert(text);
    char *a = strstr(text, "\n*.mlp.*="), *b = strstr(text, "\n*norm*=keep\n");
    cr_assert(a && b && a < b, "rules in order: %s", text);
    cr_assert(strstr(text, "# default: nf4"), "%s", text);
    cr_assert(strstr(text, "# fallback: int8"), "%s", text);
    cr_assert(strstr(text, "embeddings/output head int8"), "%s", text);
    free(text);
    r.all_layers = 1;
    text = qtfc_recipe_describe(&r);
    cr_assert(strstr(text, "--all-layers"), "%s", text);
    free(text);

    /* The rule lines of the description form a valid recipe file. */
    text = qtfc_recipe_describe(&r);
    char *path = write_temp(text);
    qtfc_recipe back;
    qtfc_recipe_init(&back);
    cr_assert_eq(qtfc_recipe_load_file(&back, path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(back.n_rules, 2);
    cr_assert(same_encoding(&back.rules[0].spec.enc, &r.rules[0].spec.enc));
    qtfc_recipe_free(&back);
    unlink(path);
    free(text);
    qtfc_recipe_free(&r);
}

Test(recipe, keep_with_zstd) {
    qtfc_spec s;
    cr_assert_eq(qtfc_spec_parse(&s, "keep:zstd=5", err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.keep, 1);
    cr_assert_eq(s.enc.zstd_level, 5);
    cr_assert_str_eq(s.text, "keep:zstd=5");
    cr_assert_eq(qtfc_spec_parse(&s, "keep:zstd", err, sizeof err), 0, "%s", err);
    cr_assert_gt(s.enc.zstd_level, 0);
    cr_assert_eq(qtfc_spec_parse(&s, "keep:group=32", err, sizeof err), -1);
    cr_assert(strstr(err, "keep takes only zstd"), "%s", err);
    cr_assert_eq(qtfc_spec_parse(&s, "keep:zstd=3,scale=f32", err, sizeof err), -1);
    cr_assert_eq(qtfc_spec_parse(&s, "keeps", err, sizeof err), -1);
    qtfc_recipe r;
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_add_rule(&r, "*=keep:zstd=7", "z", err, sizeof err), 0, "%s", err);
    qtfc_choice c = choose(&r, "w", QTF_DTYPE_BF16, 2, 128, 128);
    cr_assert_eq(c.enc.id, QTF_ENC_BF16);
    cr_assert_eq(c.enc.zstd_level, 7);
    c = choose(&r, "ids", QTF_DTYPE_I32, 2, 128, 128);
    cr_assert_eq(c.enc.zstd_level, 0, "integer policy keep is plain");
    qtfc_recipe_free(&r);
}

static char *write_temp_bytes(const void *data, size_t n) {
    static char path[64];
    strcpy(path, "/tmp/qtf-recipe-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

Test(recipe, hostile_files) {
    qtfc_recipe r;
    /* NUL byte inside a rule. */
    static const char nul[] = "*.a=int8\n*.b\0x=int8\n";
    char *path = write_temp_bytes(nul, sizeof nul - 1);
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, path, err, sizeof err), -1);
    cr_assert(strstr(err, ":2:") && strstr(err, "NUL"), "%s", err);
    qtfc_recipe_free(&r);
    unlink(path);
    /* A line longer than the limit. */
    size_t n = 10000;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\n';
    path = write_temp_bytes(big, n + 1);
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, path, err, sizeof err), -1);
    cr_assert(strstr(err, ":1:") && strstr(err, "longer"), "%s", err);
    qtfc_recipe_free(&r);
    unlink(path);
    free(big);
    /* A file over 1 MiB. */
    n = (1u << 20) + 10;
    big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (i % 16 == 15) ? '\n' : '#';
    path = write_temp_bytes(big, n);
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, path, err, sizeof err), -1);
    cr_assert(strstr(err, "larger"), "%s", err);
    qtfc_recipe_free(&r);
    unlink(path);
    free(big);
    /* Random bytes: an error or rules, never a crash; errors name a line. */
    uint32_t s = 12345;
    for (int round = 0; round < 200; round++) {
        unsigned char junk[256];
        for (size_t i = 0; i < sizeof junk; i++) {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5;
            junk[i] = "=*#:\n ,ab.int48keepgroup"[s % 24];
        }
        path = write_temp_bytes(junk, sizeof junk);
        qtfc_recipe_init(&r);
        if (qtfc_recipe_load_file(&r, path, err, sizeof err) != 0)
            cr_assert(strstr(err, path) && strchr(err + strlen(path), ':'), "%s", err);
        qtfc_recipe_free(&r);
        unlink(path);
    }
    /* A directory is not a recipe. */
    qtfc_recipe_init(&r);
    cr_assert_eq(qtfc_recipe_load_file(&r, "/tmp", err, sizeof err), -1);
    cr_assert(strstr(err, "/tmp"), "%s", err);
    qtfc_recipe_free(&r);
}
