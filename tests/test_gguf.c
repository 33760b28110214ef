/* GGUF reader against real llama.cpp output (../shared/gguf): every fixture
 * is opened three ways (mmap, metadata-only, memory) and its keys, types,
 * values, tensor names, ggml types and ne are compared with gguf_dump's
 * listing of the same file (dumps/). Also the ggml type table and the typed
 * getters. Tests needing ../shared skip visibly when it is absent. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint/gguf.h"
#include "checkpoint/source.h"
#include <sys/wait.h>
#include <unistd.h>
#include "support/files.h"
#include "support/gguf.h"

TestSuite(gguf);

#define NEED_ROOT(r) TS_NEED(r, "gguf")

/* --- gguf_dump listings ------------------------------------------------------- */

static const char *dump_type_name(qtf_type t) {
    static const char *const names[] = { "UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32",
                                         "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64",
                                         "FLOAT64" };
    uint32_t code = qtf_type_code(t);
    return code < 13 ? names[code] : "?";
}

/* Checks g against the dump listing at dump_path; returns the number of
 * tensors compared. */
static uint64_t check_against_dump(const qtf_gguf *g, const char *dump_path) {
    FILE *f = fopen(dump_path, "r");
    cr_assert(f, "no dump %s", dump_path);
    char line[8192];
    uint64_t kv_seen = 0, t_seen = 0;
    int in_tensors = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "* Dumping") && strstr(line, "tensor(s)")) {
            in_tensors = 1;
            continue;
        }
        unsigned idx;
        int used = 0;
        if (sscanf(line, " %u:%n", &idx, &used) != 1 || used == 0) continue;
        char *rest = line + used;
        if (!in_tensors) {
            char type[32];
            unsigned long long count;
            char key[512];
            if (sscanf(rest, " %31s | %llu | %511s", type, &count, key) != 3) continue;
            char *val = strstr(rest, " = ");
            cr_assert(val, "%s", line);
            val += 3;
            val[strcspn(val, "\n")] = '\0';
            if (strcmp(key, "GGUF.version") == 0) {
                cr_assert_eq(qtf_gguf_get_info(g)->version, strtoul(val, NULL, 10));
                continue;
            }
            if (strcmp(key, "GGUF.tensor_count") == 0) {
                cr_assert_eq(qtf_gguf_tensor_count(g), strtoull(val, NULL, 10));
                continue;
            }
            if (strcmp(key, "GGUF.kv_count") == 0) {
                cr_assert_eq(qtf_gguf_kv_count(g), strtoull(val, NULL, 10));
                continue;
            }
            /* gguf_dump lists records in file order */
            cr_assert_str_eq(qtf_gguf_kv_key(g, kv_seen), key, "%s", dump_path);
            qtf_value v;
            cr_assert_eq(qtf_gguf_kv_value(&v, g, kv_seen), QTF_OK);
            kv_seen++;
            if (type[0] == '[') {
                char want[40];
                snprintf(want, sizeof want, "[%s]", dump_type_name(v.elem_type));
                cr_assert_eq(v.type, QTF_TYPE_ARRAY, "%s", key);
                cr_assert_str_eq(type, want, "%s", key);
                cr_assert_eq(v.count, count, "%s", key);
                continue;
            }
            cr_assert_str_eq(type, dump_type_name(v.type), "%s", key);
            if (v.type == QTF_TYPE_U32 || v.type == QTF_TYPE_U64)
                cr_assert_eq(v.num.u64, strtoull(val, NULL, 10), "%s", key);
            else if (v.type == QTF_TYPE_F32)
                cr_assert_eq((float)v.num.f64, strtof(val, NULL), "%s: %s", key, val);
            else if (v.type == QTF_TYPE_STRING && val[0] == '\'' && !strstr(val, "\\")) {
                size_t n = strlen(val);
                cr_assert(n >= 2 && val[n - 1] == '\'', "%s", val);
                cr_assert_eq(v.len, n - 2, "%s", key);
                cr_assert(memcmp(v.str, val + 1, n - 2) == 0, "%s", key);
            }
        } else {
            unsigned long long n_el, ne[4];
            char type[32], name[256];
            if (sscanf(rest, " %llu | %llu, %llu, %llu, %llu | %31s | %255s", &n_el, &ne[0], &ne[1],
                       &ne[2], &ne[3], type, name) != 7)
                continue;
            const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, t_seen);
            cr_assert(t, "%s: tensor %" PRIu64, dump_path, t_seen);
            cr_assert_str_eq(t->name, name);
            cr_assert_str_eq(qtf_ggml_type_name(t->type), type, "%s", name);
            for (int d = 0; d < 4; d++) cr_assert_eq(t->ne[d], ne[d], "%s ne[%d]", name, d);
            cr_assert_eq(t->n_elements, n_el, "%s", name);
            uint64_t idx2;
            cr_assert_eq(qtf_gguf_tensor_find(&idx2, g, name), QTF_OK);
            cr_assert_eq(idx2, t_seen);
            t_seen++;
        }
    }
    fclose(f);
    cr_assert_eq(kv_seen, qtf_gguf_kv_count(g), "%s", dump_path);
    cr_assert_eq(t_seen, qtf_gguf_tensor_count(g), "%s", dump_path);
    return t_seen;
}

static void check_fixture(const char *folder, const char *file, void *ctx) {
    (void)ctx;
    char path[4200], dump[4400];
    const char *dir = strrchr(folder, '/') + 1;
    snprintf(path, sizeof path, "%s/%s", folder, file);
    snprintf(dump, sizeof dump, "%s/../dumps/%s--%.*s.txt", folder, dir, (int)(strlen(file) - 5), file);
    qtf_gguf *g, *gm, *gmem;
    cr_assert_eq(qtf_gguf_open(&g, path, 0), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_open(&gm, path, QTF_GGUF_OPEN_METADATA_ONLY), QTF_OK, "%s",
                 qtf_error_detail());
    size_t len;
    unsigned char *buf = tu_read(path, &len);
    cr_assert(buf);
    cr_assert_eq(qtf_gguf_open_memory(&gmem, buf, len, file, 0), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_file_is_gguf(path), 1);
    const qtf_gguf_info *in = qtf_gguf_get_info(g);
    cr_assert_eq(in->file_size, len);
    cr_assert_eq(in->data_offset + in->data_size, len, "%s", path);
    cr_assert_eq(in->alignment, 32);
    cr_assert_leq(qtf_gguf_heap_bytes(g), QTF_GGUF_HEAP_BOUND(in->header_size));
    cr_assert_leq(qtf_gguf_heap_bytes(gm), QTF_GGUF_HEAP_BOUND(in->header_size) + 2 * in->header_size +
                  65536);
    cr_assert_eq(memcmp(qtf_gguf_get_info(gm), in, sizeof *in), 0);
    cr_assert_eq(memcmp(qtf_gguf_get_info(gmem), in, sizeof *in), 0);
    check_against_dump(g, dump);
    check_against_dump(gm, dump);
    check_against_dump(gmem, dump);
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
        const void *p, *q;
        uint64_t n, m;
        cr_assert_eq(qtf_gguf_tensor_data(&p, &n, g, i), QTF_OK);
        cr_assert_eq(qtf_gguf_tensor_data(&q, &m, gmem, i), QTF_OK);
        cr_assert_eq(n, m);
        cr_assert_eq(n, qtf_gguf_tensor_get(g, i)->nbytes);
        cr_assert_eq((const unsigned char *)q - buf, in->data_offset + qtf_gguf_tensor_get(g, i)->offset);
        cr_assert(memcmp(p, q, (size_t)n) == 0);
        cr_assert_eq(qtf_gguf_tensor_data(&p, &n, gm, i), QTF_E_STATE);
    }
    qtf_gguf_close(g);
    qtf_gguf_close(gm);
    qtf_gguf_close(gmem);
    free(buf);
}

Test(gguf, every_fixture_matches_its_dump) {
    int n = gt_each_fixture(".gguf", check_fixture, NULL);
    cr_assert_geq(n, 35, "only %d fixtures", n);
}

Test(gguf, typed_getters_on_a_real_file) {
    TS_NEED(path, "gguf/synth/model-Q4_K_M.gguf");
    qtf_gguf *g;
    cr_assert_eq(qtf_gguf_open(&g, path, 0), QTF_OK, "%s", qtf_error_detail());
    const char *s;
    uint64_t len, u;
    int64_t i64;
    double f;
    cr_assert_eq(qtf_gguf_get_string(&s, &len, g, "general.architecture"), QTF_OK);
    cr_assert_eq(len, 5);
    cr_assert(memcmp(s, "llama", 5) == 0);
    cr_assert_eq(qtf_gguf_get_u64(&u, g, "llama.attention.head_count_kv"), QTF_OK);
    cr_assert_eq(u, 2);
    cr_assert_eq(qtf_gguf_get_i64(&i64, g, "general.file_type"), QTF_OK);
    cr_assert_eq(i64, 15);
    cr_assert_eq(qtf_gguf_get_f64(&f, g, "llama.rope.freq_base"), QTF_OK);
    cr_assert_eq(f, 10000.0);
    cr_assert_eq(qtf_gguf_get_f64(&f, g, "llama.attention.layer_norm_rms_epsilon"), QTF_OK);
    cr_assert_eq((float)f, 1e-5f);
    /* mismatches are statuses naming key and types */
    cr_assert_eq(qtf_gguf_get_u64(&u, g, "general.architecture"), QTF_E_TYPE_MISMATCH);
    cr_assert(strstr(qtf_error_detail(), "'general.architecture' is string"), "%s",
              qtf_error_detail());
    cr_assert_eq(qtf_gguf_get_string(&s, &len, g, "llama.block_count"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_gguf_get_f64(&f, g, "llama.block_count"), QTF_E_TYPE_MISMATCH);
    int b;
    cr_assert_eq(qtf_gguf_get_bool(&b, g, "llama.block_count"), QTF_E_TYPE_MISMATCH);
    cr_assert_eq(qtf_gguf_get_u64(&u, g, "no.such.key"), QTF_E_NOT_FOUND);
    cr_assert(strstr(qtf_error_detail(), "no key 'no.such.key'"));
    qtf_value v;
    uint64_t idx;
    cr_assert_eq(qtf_gguf_get_array(&v, &idx, g, "tokenizer.ggml.tokens", QTF_TYPE_F32),
                 QTF_E_TYPE_MISMATCH);
    cr_assert(strstr(qtf_error_detail(), "is array of string, expected array of f32"), "%s",
              qtf_error_detail());
    cr_assert_eq(qtf_gguf_get_array(&v, &idx, g, "tokenizer.ggml.tokens", QTF_TYPE_STRING), QTF_OK);
    cr_assert_eq(v.count, 512);
    qtf_value e;
    cr_assert_eq(qtf_gguf_array_elem(&e, g, idx, 1), QTF_OK);
    cr_assert_eq(e.len, 3);
    cr_assert(memcmp(e.str, "<s>", 3) == 0);
    cr_assert_eq(qtf_gguf_array_elem(&e, g, idx, 512), QTF_E_NOT_FOUND);
    cr_assert_eq(qtf_gguf_get_array(&v, &idx, g, "tokenizer.ggml.token_type", QTF_TYPE_I32), QTF_OK);
    cr_assert_eq(qtf_gguf_array_elem(&e, g, idx, 0), QTF_OK);
    cr_assert_eq(e.type, QTF_TYPE_I32);
    cr_assert_eq(e.num.i64, 2);   /* <unk> UNKNOWN */
    cr_assert_eq(qtf_gguf_array_elem(&e, g, idx, 3), QTF_OK);
    cr_assert_eq(e.num.i64, 6);   /* <0x00> BYTE */
    cr_assert_eq(qtf_gguf_get_array(&v, &idx, g, "tokenizer.ggml.scores", QTF_TYPE_F32), QTF_OK);
    cr_assert_eq(qtf_gguf_array_elem(&e, g, idx, 0), QTF_OK);
    cr_assert_eq(e.type, QTF_TYPE_F32);
    cr_assert_eq(qtf_gguf_array_elem(&e, g, 0, 0), QTF_E_TYPE_MISMATCH);
    uint64_t ti;
    cr_assert_eq(qtf_gguf_tensor_find(&ti, g, "blk.0.attn_q.weight"), QTF_OK);
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, ti);
    cr_assert_eq(t->type, QTF_GGML_Q4_K);
    cr_assert_eq(t->nbytes, 256 / 256 * 144 * 256);
    cr_assert_eq(qtf_gguf_tensor_find(&ti, g, "nope"), QTF_E_NOT_FOUND);
    qtf_gguf_close(g);
}

/* Every prefix of a real file is refused as truncated: the whole imatrix
 * file (small), and for a model every byte of the header plus every 97th
 * byte of the data. */
Test(gguf, real_files_truncated_at_every_byte) {
    NEED_ROOT(root);
    const char *files[] = { "aidreams-260k/imatrix.gguf", "aidreams-260k/model-Q4_0.gguf" };
    for (int k = 0; k < 2; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", root, files[k]);
        size_t len;
        unsigned char *buf = tu_read(path, &len);
        cr_assert(buf);
        qtf_gguf *g;
        cr_assert_eq(qtf_gguf_open_memory(&g, buf, len, files[k], 0), QTF_OK);
        uint64_t hs = qtf_gguf_get_info(g)->header_size;
        qtf_gguf_close(g);
        for (size_t n = 0; n < len; n += n < hs + 64 ? 1 : 97) {
            qtf_status st = qtf_gguf_open_memory(&g, buf, n, files[k], 0);
            cr_assert_eq(st, QTF_E_TRUNCATED, "%s prefix %zu: %s: %s", files[k], n,
                         qtf_status_name(st), qtf_error_detail());
        }
        free(buf);
    }
}

/* --- ggml type table ---------------------------------------------------------------- */

Test(gguf, ggml_type_table) {
    /* bytes per block = sizeof the ggml-common.h block struct */
    struct { uint32_t id; const char *name; uint32_t bs, ts; } want[] = {
        { QTF_GGML_F32, "F32", 1, 4 },        { QTF_GGML_F16, "F16", 1, 2 },
        { QTF_GGML_BF16, "BF16", 1, 2 },      { QTF_GGML_Q4_0, "Q4_0", 32, 18 },
        { QTF_GGML_Q4_1, "Q4_1", 32, 20 },    { QTF_GGML_Q5_0, "Q5_0", 32, 22 },
        { QTF_GGML_Q5_1, "Q5_1", 32, 24 },    { QTF_GGML_Q8_0, "Q8_0", 32, 34 },
        { QTF_GGML_Q2_K, "Q2_K", 256, 84 },   { QTF_GGML_Q3_K, "Q3_K", 256, 110 },
        { QTF_GGML_Q4_K, "Q4_K", 256, 144 },  { QTF_GGML_Q5_K, "Q5_K", 256, 176 },
        { QTF_GGML_Q6_K, "Q6_K", 256, 210 },  { QTF_GGML_IQ4_NL, "IQ4_NL", 32, 18 },
        { QTF_GGML_IQ4_XS, "IQ4_XS", 256, 136 }, { QTF_GGML_MXFP4, "MXFP4", 32, 17 },
        { QTF_GGML_IQ2_XXS, "IQ2_XXS", 256, 66 }, { QTF_GGML_IQ2_XS, "IQ2_XS", 256, 74 },
        { QTF_GGML_IQ2_S, "IQ2_S", 256, 82 },  { QTF_GGML_IQ3_XXS, "IQ3_XXS", 256, 98 },
        { QTF_GGML_IQ3_S, "IQ3_S", 256, 110 }, { QTF_GGML_IQ1_S, "IQ1_S", 256, 50 },
        { QTF_GGML_IQ1_M, "IQ1_M", 256, 56 },  { QTF_GGML_TQ1_0, "TQ1_0", 256, 54 },
        { QTF_GGML_TQ2_0, "TQ2_0", 256, 66 },  { QTF_GGML_Q8_K, "Q8_K", 256, 292 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const qtf_ggml_type_info *t = qtf_ggml_type_get(want[i].id);
        cr_assert(t, "%s", want[i].name);
        cr_assert_str_eq(t->name, want[i].name);
        cr_assert_eq(t->block_size, want[i].bs, "%s", want[i].name);
        cr_assert_eq(t->type_size, want[i].ts, "%s", want[i].name);
        uint32_t id;
        cr_assert_eq(qtf_ggml_type_from_name(&id, want[i].name), QTF_OK);
        cr_assert_eq(id, want[i].id);
    }
    uint32_t id;
    cr_assert_eq(qtf_ggml_type_from_name(&id, "q4_k"), QTF_OK);
    cr_assert_eq(id, QTF_GGML_Q4_K);
    cr_assert_eq(qtf_ggml_type_from_name(&id, "Q4_2"), QTF_E_NOT_FOUND);
    for (uint32_t gone = 4; gone <= 5; gone++) cr_assert_null(qtf_ggml_type_get(gone));
    cr_assert_null(qtf_ggml_type_get(31));
    cr_assert_null(qtf_ggml_type_get(38));
    cr_assert_null(qtf_ggml_type_get(40));
    uint64_t ne[4] = { 512, 3, 1, 1 }, n;
    cr_assert_eq(qtf_ggml_nbytes(&n, QTF_GGML_Q6_K, 2, ne), QTF_OK);
    cr_assert_eq(n, 2 * 210 * 3);
    ne[0] = 100;
    cr_assert_eq(qtf_ggml_nbytes(&n, QTF_GGML_Q6_K, 2, ne), QTF_E_SHAPE);
    cr_assert_eq(qtf_ggml_nbytes(&n, 40, 2, ne), QTF_E_UNKNOWN_ENCODING);
    uint64_t big[4] = { 1ull << 40, 1ull << 30, 1, 1 };
    cr_assert_eq(qtf_ggml_nbytes(&n, QTF_GGML_F32, 2, big), QTF_E_OVERFLOW);
}

/* --- decoding -------------------------------------------------------------------- */

/* Every tensor of every fixture that has a .ref.safetensors dequantizes to
 * the values ggml gives, bit for bit (F32, F16 and the block types). */
static void check_reference(const char *folder, const char *name, void *ctx) {
    int *tensors = ctx;
    size_t stem = strlen(name) - strlen(".ref.safetensors");
    char ref_path[4200], gguf_path[4200];
    snprintf(ref_path, sizeof ref_path, "%s/%s", folder, name);
    snprintf(gguf_path, sizeof gguf_path, "%s/%.*s.gguf", folder, (int)stem, name);
    qtf_source *ref;
    qtf_gguf *g;
    cr_assert_eq(qtf_source_open(&ref, ref_path), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_open(&g, gguf_path, 0), QTF_OK, "%s", qtf_error_detail());
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(g, i);
        uint64_t ri;
        cr_assert_eq(qtf_source_tensor_find(&ri, ref, t->name), QTF_OK, "%s", t->name);
        float *a = malloc(t->n_elements * 4), *b = malloc(t->n_elements * 4);
        cr_assert_eq(qtf_gguf_tensor_dequantize(a, t->n_elements, g, i, 2), QTF_OK, "%s",
                     qtf_error_detail());
        cr_assert_eq(qtf_source_read_f32(b, t->n_elements, ref, ri, 1), QTF_OK);
        cr_assert(memcmp(a, b, t->n_elements * 4) == 0, "%s: %s (%s) differs from ggml",
                  gguf_path, t->name, qtf_ggml_type_name(t->type));
        free(a);
        free(b);
        (*tensors)++;
    }
    qtf_gguf_close(g);
    qtf_source_close(ref);
}

Test(gguf, dequantize_equals_ggml_reference) {
    int tensors = 0;
    int files = gt_each_fixture(".ref.safetensors", check_reference, &tensors);
    cr_assert_eq(files, 16, "%d reference files", files);
    cr_assert_geq(tensors, 16 * 11);
}

Test(gguf, types_without_decoder_are_named) {
    qtf_encoding enc;
    cr_assert_eq(qtf_gguf_type_encoding(&enc, QTF_GGML_IQ2_XXS), QTF_E_UNSUPPORTED);
    cr_assert(strstr(qtf_error_detail(), "IQ2_XXS (id 16) has no decoder"), "%s", qtf_error_detail());
    cr_assert_eq(qtf_gguf_type_encoding(&enc, QTF_GGML_Q4_K), QTF_OK);
    cr_assert_eq(enc.id, QTF_ENC_Q4_K);
    cr_assert_eq(qtf_gguf_type_encoding(&enc, QTF_GGML_MXFP4), QTF_OK);
    cr_assert_eq(enc.id, QTF_ENC_GGML_MXFP4);
}
