/* convert/gguf_in.c — a GGUF file as the input of qtf-convert (see gguf_in.h):
 *   - to .qtf: every tensor under its Hugging Face name and shape, Q/K rows
 *     put back in HF order, its ggml blocks copied unchanged (the QTF
 *     encoding of the same name stores the same bytes) and checksummed; the
 *     GGUF metadata kept verbatim as gguf.<key> so that the .qtf converts
 *     back to the same GGUF;
 *   - to .safetensors: every tensor dequantized (ggml's arithmetic, through
 *     the QTF encodings) to F32/F16/BF16 under its HF name and shape, the
 *     RoPE permutation undone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/arch.h"
#include "checkpoint/gguf.h"
#include "checkpoint/source.h"
#include "cli/cli_util.h"
#include "convert.h"
#include "gguf_in.h"

int qtfg_encoding_of_ggml(qtf_encoding *out, uint32_t type) {
    const char *name = qtf_ggml_type_name(type);
    if (!name) return -1;
    char lower[16];
    size_t k = 0;
    for (; name[k] && k + 1 < sizeof lower; k++)
        lower[k] = (char)(name[k] >= 'A' && name[k] <= 'Z' ? name[k] + 32 : name[k]);
    lower[k] = '\0';
    return qtf_encoding_parse(out, lower) == QTF_OK ? 0 : -1;
}

void qtfg_value_le(unsigned char out[8], const qtf_value *v) {
    memset(out, 0, 8);
    if (v->type == QTF_TYPE_F32) {
        float f = (float)v->num.f64;
        memcpy(out, &f, 4);
    } else if (v->type == QTF_TYPE_F64) {
        memcpy(out, &v->num.f64, 8);
    } else {
        uint64_t u = v->num.u64;    /* i64 shares the bits; low bytes are the value */
        for (int i = 0; i < 8; i++) out[i] = (unsigned char)(u >> (8 * i));
    }
}

typedef struct gin {
    const qtfg_options *o;
    qtf_gguf *g;
    const qtf_arch *arch;
    uint32_t n_head, n_head_kv;
    char (*hf_names)[256];
    uint32_t *heads;            /* RoPE permutation heads per tensor, 0 = none */
    unsigned char *transposed;  /* 1: the HF weight is the transpose ([in, out]) */
} gin;

static int open_input(gin *r) {
    if (qtfg_check(qtf_gguf_open(&r->g, r->o->input, 0), r->o->input)) return -1;
    const char *an;
    uint64_t len;
    char name[64] = "";
    if (qtf_gguf_get_string(&an, &len, r->g, "general.architecture") == QTF_OK &&
        len < sizeof name) {
        memcpy(name, an, (size_t)len);
        name[len] = '\0';
    }
    r->arch = qtf_arch_by_gguf_name(name);
    if (!r->arch) {
        cli_error("%s: general.architecture '%s' has no Hugging Face mapping in this build "
             "(supported: llama)", r->o->input, name);
        return -1;
    }
    char key[128];
    uint64_t v;
    snprintf(key, sizeof key, "%s.attention.head_count", name);
    if (qtf_gguf_get_u64(&v, r->g, key) != QTF_OK || v == 0 || v > UINT32_MAX) {
        cli_error("%s: %s missing or not a positive integer", r->o->input, key);
        return -1;
    }
    r->n_head = (uint32_t)v;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", name);
    r->n_head_kv = qtf_gguf_get_u64(&v, r->g, key) == QTF_OK && v > 0 && v <= UINT32_MAX
                       ? (uint32_t)v : r->n_head;
    uint64_t n = qtf_gguf_tensor_count(r->g);
    r->hf_names = calloc(n ? n : 1, sizeof *r->hf_names);
    r->heads = calloc(n ? n : 1, sizeof *r->heads);
    r->transposed = calloc(n ? n : 1, 1);
    if (!r->hf_names || !r->heads || !r->transposed) {
        cli_error("out of memory");
        return -1;
    }
    for (uint64_t i = 0; i < n; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(r->g, i);
        const qtf_arch_tensor *e;
        if (qtf_arch_gguf_to_hf(r->hf_names[i], sizeof r->hf_names[i], &e, NULL, r->arch,
                                t->name, NULL, NULL) != QTF_OK) {
            cli_error("%s: tensor '%s' has no Hugging Face name for architecture %s", r->o->input,
                 t->name, r->arch->gguf_arch);
            return -1;
        }
        r->heads[i] = qtf_arch_permute_heads(e, r->n_head, r->n_head_kv);
        r->transposed[i] = (unsigned char)e->transpose;
        uint64_t rows = t->n_dims > 1 ? t->ne[1] : t->ne[0];
        if ((r->heads[i] && qtf_arch_permute_check(rows, r->heads[i]) != QTF_OK) ||
            (e->transpose && t->n_dims != 2)) {
            cli_error("%s: tensor '%s': %s", r->o->input, t->name,
                 e->transpose ? "a transposed weight must be 2-D" : qtf_error_detail());
            return -1;
        }
    }
    return 0;
}

/* The stored shape, outermost first: ne reversed (for a transposed weight,
 * [out, in]: the HF shape is its transpose). */
static uint32_t stored_dims(uint64_t *dims, const qtf_gguf_tensor *t) {
    uint32_t n = t->n_dims ? t->n_dims : 1;
    for (uint32_t d = 0; d < n; d++) dims[d] = t->ne[n - 1 - d];
    return n;
}

/* Undoes the RoPE row permutation of tensor i in place (rows of row_bytes). */
static int unpermute(const gin *r, uint64_t i, void *data, uint64_t n_bytes) {
    if (!r->heads[i]) return 0;
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(r->g, i);
    uint64_t rows = t->n_dims > 1 ? t->ne[1] : t->ne[0];
    void *scratch = malloc((size_t)(n_bytes ? n_bytes : 1));
    if (!scratch) {
        cli_error("out of memory");
        return -1;
    }
    int rc = qtfg_check(qtf_arch_permute_rows(scratch, data, rows, n_bytes / rows, r->heads[i],
                                              1), t->name);
    if (!rc) memcpy(data, scratch, (size_t)n_bytes);
    free(scratch);
    return rc;
}

/* No existing output replaced without --force; the input never. */
static qtf_writer_options output_options(const gin *r) {
    qtf_writer_options wo = QTF_WRITER_OPTIONS_INIT;
    wo.flags = r->o->force ? 0 : QTF_WRITER_NO_REPLACE;
    wo.protected_paths = &r->o->input;
    wo.n_protected = 1;
    return wo;
}

/* --- GGUF -> .qtf ------------------------------------------------------------ */

static int copy_kv_to_qtf(gin *r, qtf_writer *w) {
    for (uint64_t i = 0; i < qtf_gguf_kv_count(r->g); i++) {
        const char *key = qtf_gguf_kv_key(r->g, i);
        char qkey[QTF_MAX_KEY_LEN + 1];
        if ((size_t)snprintf(qkey, sizeof qkey, "gguf.%s", key) > QTF_MAX_KEY_LEN) {
            cli_error("%s: key '%.64s...' is too long to keep", r->o->input, key);
            return -1;
        }
        qtf_value v;
        if (qtfg_check(qtf_gguf_kv_value(&v, r->g, i), key)) return -1;
        qtf_status st;
        if (v.type == QTF_TYPE_STRING) {
            st = qtf_writer_set_string(w, qkey, v.str, v.len);
        } else if (v.type == QTF_TYPE_ARRAY && v.elem_type == QTF_TYPE_STRING) {
            const char **strs = malloc((size_t)(v.count ? v.count : 1) * sizeof *strs);
            uint64_t *lens = malloc((size_t)(v.count ? v.count : 1) * sizeof *lens);
            st = strs && lens ? QTF_OK : QTF_E_NOMEM;
            for (uint64_t j = 0; j < v.count && !st; j++) {
                qtf_value e;
                st = qtf_gguf_array_elem(&e, r->g, i, j);
                strs[j] = e.str;
                lens[j] = e.len;
            }
            if (!st) st = qtf_writer_set_string_array(w, qkey, strs, lens, v.count);
            free(strs);
            free(lens);
        } else if (v.type == QTF_TYPE_ARRAY) {
            st = qtf_writer_set_value(w, qkey, QTF_TYPE_ARRAY, v.elem_type, v.data, v.count);
        } else {
            unsigned char le[8];
            qtfg_value_le(le, &v);
            st = qtf_writer_set_value(w, qkey, v.type, 0, le, 1);
        }
        if (qtfg_check(st, qkey)) return -1;
    }
    return 0;
}

static int to_qtf(gin *r) {
    qtf_writer *w = NULL;
    qtf_writer_options wo = output_options(r);
    if (qtfg_check(qtf_writer_create(&w, r->o->output, &wo), r->o->output)) return 1;
    int rc = 1;
    const char *cls = r->arch->hf_class, *name;
    uint64_t len;
    char conv[64];
    snprintf(conv, sizeof conv, "qtf-convert %s", QTF_VERSION_STRING);
    if (qtfg_check(qtf_writer_set_string(w, "general.architecture", cls, strlen(cls)), "general") ||
        (qtf_gguf_get_string(&name, &len, r->g, "general.name") == QTF_OK &&
         qtfg_check(qtf_writer_set_string(w, "general.name", name, len), "general.name")) ||
        qtfg_check(qtf_writer_set_string(w, "qtf.source.format", "gguf", 4), "qtf") ||
        qtfg_check(qtf_writer_set_string(w, "qtf.converter", conv, strlen(conv)), "qtf") ||
        copy_kv_to_qtf(r, w) != 0)
        goto out;
    for (uint64_t i = 0; i < qtf_gguf_tensor_count(r->g); i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(r->g, i);
        qtf_encoding enc;
        if (qtfg_encoding_of_ggml(&enc, t->type) != 0) {
            cli_error("%s: tensor '%s' is %s, which has no QTF encoding in this build", r->o->input,
                 t->name, qtf_ggml_type_name(t->type));
            goto out;
        }
        uint64_t dims[QTF_GGUF_MAX_DIMS];
        uint32_t nd = stored_dims(dims, t);
        /* GGUF stores a Conv1D weight [in, out] as its [out, in] transpose:
         * the blocks are copied as a .qtf tensor with a transposed layout
         * (spec/FORMAT.md 6.4), whose shape is the HF one */
        uint64_t hf_dims[2];
        if (r->transposed[i]) {
            hf_dims[0] = dims[1];
            hf_dims[1] = dims[0];
        }
        qtf_part_layout lay[QTF_MAX_PARTS];
        uint32_t np;
        if (qtfg_check(qtf_encoding_layout(lay, &np, &enc, nd, dims), t->name)) goto out;
        if (np != 1 || lay[0].size != t->nbytes) {
            cli_error("%s: tensor '%s': the QTF encoding of %s does not store ggml's block layout",
                 r->o->input, t->name, qtf_ggml_type_name(t->type));
            goto out;
        }
        const void *src;
        uint64_t n;
        if (qtfg_check(qtf_gguf_tensor_data(&src, &n, r->g, i), t->name)) goto out;
        void *bytes = malloc((size_t)(n ? n : 1));
        if (!bytes) {
            cli_error("out of memory");
            goto out;
        }
        memcpy(bytes, src, (size_t)n);
        int bad = unpermute(r, i, bytes, n) != 0;
        qtf_part_view view = { lay[0].role, lay[0].type, bytes, n };
        qtf_tensor_desc desc = QTF_TENSOR_DESC_INIT;
        desc.name = r->hf_names[i];
        desc.n_dims = nd;
        desc.dims = r->transposed[i] ? hf_dims : dims;
        desc.layout = r->transposed[i] ? QTF_LAYOUT_TRANSPOSED : QTF_LAYOUT_ROW_MAJOR;
        desc.encoding = &enc;
        bad = bad || qtfg_check(qtf_writer_add_tensor(w, &desc, &view, 1), r->hf_names[i]);
        free(bytes);
        if (bad) goto out;
        if (r->o->verbose)
            cli_error("%s -> %s %s (blocks copied)", t->name, r->hf_names[i],
                 qtf_ggml_type_name(t->type));
    }
    rc = qtfg_check(qtf_writer_finish(w), r->o->output) ? 1 : 0;
    w = NULL;
out:
    qtf_writer_abort(w);
    return rc;
}

/* --- GGUF -> .safetensors ------------------------------------------------------ */

/* Tensor i as f32 in GGUF element order (ggml's dequantization). */
static int dequantize(gin *r, uint64_t i, float *dst) {
    const qtf_gguf_tensor *t = qtf_gguf_tensor_get(r->g, i);
    const void *src;
    uint64_t n;
    if (qtfg_check(qtf_gguf_tensor_data(&src, &n, r->g, i), t->name)) return -1;
    qtf_encoding enc;
    if (qtfg_encoding_of_ggml(&enc, t->type) != 0) {
        cli_error("%s: tensor '%s' is %s, which this build cannot dequantize", r->o->input, t->name,
             qtf_ggml_type_name(t->type));
        return -1;
    }
    uint64_t dims[QTF_GGUF_MAX_DIMS];
    uint32_t nd = stored_dims(dims, t);
    qtf_part_layout lay[QTF_MAX_PARTS];
    uint32_t np;
    if (qtfg_check(qtf_encoding_layout(lay, &np, &enc, nd, dims), t->name)) return -1;
    qtf_part_view view = { lay[0].role, lay[0].type, src, n };
    return qtfg_check(qtf_dequantize(dst, QTF_DTYPE_F32, t->n_elements, &enc, nd, dims, &view, 1,
                              r->o->threads), t->name);
}

static int to_safetensors(gin *r) {
    qtf_dtype dt = r->o->st_dtype ? r->o->st_dtype : QTF_DTYPE_F32;
    uint64_t n = qtf_gguf_tensor_count(r->g), max_el = 1;
    qtf_st_writer *w = NULL;
    qtf_writer_options wo = output_options(r);
    if (qtfg_check(qtf_st_writer_create(&w, r->o->output, &wo), r->o->output)) return 1;
    int rc = 1;
    float *buf = NULL;
    void *out = NULL;
    if (qtfg_check(qtf_st_writer_metadata(w, "format", "pt"), "metadata")) goto done;
    for (uint64_t i = 0; i < n; i++) {
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(r->g, i);
        uint64_t dims[QTF_GGUF_MAX_DIMS];
        uint32_t nd = stored_dims(dims, t);
        if (r->transposed[i]) {
            uint64_t d0 = dims[0];
            dims[0] = dims[1];
            dims[1] = d0;
        }
        if (qtfg_check(qtf_st_writer_declare(w, r->hf_names[i], dt, nd, dims), r->hf_names[i]))
            goto done;
        if (t->n_elements > max_el) max_el = t->n_elements;
    }
    if (max_el > SIZE_MAX / 4 || !(buf = malloc((size_t)max_el * 4)) ||
        !(out = malloc((size_t)max_el * 4))) {
        cli_error("out of memory");
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (r->o->interrupted && *r->o->interrupted) {
            rc = QTFC_EXIT_SIGNAL_BASE + *r->o->interrupted;
            goto done;
        }
        const qtf_gguf_tensor *t = qtf_gguf_tensor_get(r->g, i);
        float *x = buf;
        if (dequantize(r, i, buf) != 0 || unpermute(r, i, buf, t->n_elements * 4) != 0)
            goto done;
        if (r->transposed[i]) {     /* stored [out, in] -> HF [in, out] */
            uint64_t in = t->ne[0], outs = t->ne[1];
            float *tr = (float *)out;
            for (uint64_t o2 = 0; o2 < outs; o2++)
                for (uint64_t k = 0; k < in; k++) tr[k * outs + o2] = buf[o2 * in + k];
            memcpy(buf, tr, (size_t)(t->n_elements * 4));
            x = buf;
        }
        if (qtfg_check(qtf_convert_from_f32(out, dt, x, t->n_elements), t->name) ||
            qtfg_check(qtf_st_writer_write(w, out, t->n_elements * qtf_dtype_size(dt)),
                       r->o->output))
            goto done;
    }
    rc = qtfg_check(qtf_st_writer_finish(w), r->o->output) ? 1 : 0;
    w = NULL;
done:
    qtf_st_writer_abort(w);
    free(buf);
    free(out);
    return rc;
}

int qtfg_convert_from_gguf(const qtfg_options *o, int to_st) {
    gin r;
    memset(&r, 0, sizeof r);
    r.o = o;
    int code = QTFC_EXIT_USAGE;
    if (open_input(&r) == 0) {
        if (o->dry_run) {
            for (uint64_t i = 0; i < qtf_gguf_tensor_count(r.g); i++) {
                const qtf_gguf_tensor *t = qtf_gguf_tensor_get(r.g, i);
                printf("%-28s -> %-44s %-7s%s%s\n", t->name, r.hf_names[i],
                       qtf_ggml_type_name(t->type), to_st ? " dequantized" : " blocks copied",
                       r.heads[i] ? ", RoPE permutation undone"
                                  : r.transposed[i] ? ", transposed back" : "");
            }
            code = fflush(stdout) == 0 ? QTFC_EXIT_OK : QTFC_EXIT_FAILURE;
        } else {
            code = to_st ? to_safetensors(&r) : to_qtf(&r);
            if (code == 0 && !o->quiet)
                fprintf(stderr, "qtf-convert: wrote %s: %llu tensors from %s\n", o->output,
                        (unsigned long long)qtf_gguf_tensor_count(r.g), o->input);
        }
    }
    free(r.hf_names);
    free(r.heads);
    free(r.transposed);
    qtf_gguf_close(r.g);
    return code;
}
