/* convert/plan.c — deciding, before writing anything, what every tensor becomes. */
#include "plan.h"

#include "checkpoint/arch.h"
#include "cli/cli_util.h"
#include "cli/progress.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Config files larger than this are not a model's config.json. */
#define CONFIG_MAX_BYTES (4u << 20)

const qtf_arch *qtfc_source_arch(const qtf_source *src) {
    const qtf_file *f = qtf_source_qtf_file(src);
    if (f) {
        const char *s;
        uint64_t len;
        char cls[128];
        if (qtf_meta_get_string(&s, &len, f, "general.architecture") != QTF_OK ||
            len >= sizeof cls)
            return NULL;
        memcpy(cls, s, (size_t)len);
        cls[len] = '\0';
        return qtf_arch_by_hf_class(cls);
    }
    char *text = NULL;
    size_t n = 0;
    if (qtf_source_read_folder_file(&text, &n, src, "config.json", CONFIG_MAX_BYTES) != QTF_OK)
        return NULL;
    json_t *root = json_loadb(text, n, 0, NULL);
    free(text);
    const json_t *a = root ? json_object_get(root, "architectures") : NULL;
    const json_t *cls = json_is_array(a) ? json_array_get(a, 0) : NULL;
    const qtf_arch *arch = json_is_string(cls) ? qtf_arch_by_hf_class(json_string_value(cls))
                                               : NULL;
    json_decref(root);
    return arch;
}

/* Whether the table says tensor t's input is its first axis. */
static int input_first(const qtf_arch *arch, const qtf_source_tensor *t) {
    char gguf[1100];
    const qtf_arch_tensor *e = NULL;
    if (!arch || t->n_dims != 2 ||
        qtf_arch_hf_to_gguf(gguf, sizeof gguf, &e, NULL, arch, t->name) != QTF_OK)
        return 0;
    return e && e->input_axis == 0;
}

void qtfc_transpose_f32(float *dst, const float *src, uint64_t rows, uint64_t cols) {
    enum { TILE = 32 };
    for (uint64_t r0 = 0; r0 < rows; r0 += TILE)
        for (uint64_t c0 = 0; c0 < cols; c0 += TILE) {
            uint64_t r1 = rows - r0 < TILE ? rows : r0 + TILE;
            uint64_t c1 = cols - c0 < TILE ? cols : c0 + TILE;
            for (uint64_t r = r0; r < r1; r++)
                for (uint64_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
        }
}

void qtfc_format_shape(char *buf, size_t cap, uint32_t n_dims, const uint64_t *dims) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (uint32_t i = 0; i < n_dims && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%llu", i ? ", " : "",
                                 (unsigned long long)dims[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

void qtfc_item_encoding_text(char *buf, size_t cap, const qtfc_plan *p,
                             const qtfc_plan_item *it) {
    if (p->kind == QTFC_OUTPUT_SAFETENSORS) {
        snprintf(buf, cap, "%s", qtf_dtype_name(it->out_dtype));
        return;
    }
    if (qtf_encoding_format(buf, cap, &it->choice.enc) != QTF_OK)
        snprintf(buf, cap, "encoding#%u", (unsigned)it->choice.enc.id);
}

/* The element type an encoding stores its DATA part in, for the lossless
 * ones (NONE for the quantized encodings). */
static qtf_dtype lossless_type(const qtf_encoding *e) {
    switch (e->id) {
    case QTF_ENC_F32: return QTF_DTYPE_F32;
    case QTF_ENC_F16: return QTF_DTYPE_F16;
    case QTF_ENC_BF16: return QTF_DTYPE_BF16;
    case QTF_ENC_RAW: return e->raw_type;
    default: return QTF_DTYPE_NONE;
    }
}

/* Whether the source can hand over tensor i's bytes as stored in `type`:
 * always for checkpoints (their dtype is the stored type), and for a .qtf
 * only when it stores that tensor losslessly in exactly that type. */
static int source_has_raw(const qtf_source *src, const qtf_source_tensor *t, qtf_dtype type) {
    if (type == QTF_DTYPE_NONE || t->dtype != type) return 0;
    if (qtf_source_get_kind(src) != QTF_SOURCE_QTF) return 1;
    const qtf_file *f = qtf_source_qtf_file(src);
    uint64_t idx;
    if (!f || qtf_tensor_find(&idx, f, t->name) != QTF_OK) return 0;
    const qtf_tensor_info *ti = qtf_tensor_get(f, idx);
    /* a transposed tensor's bytes are not in the order of its shape */
    return ti && ti->encoding_known && ti->layout == QTF_LAYOUT_ROW_MAJOR &&
           lossless_type(&ti->encoding) == type;
}

static int check_importance(qtfc_plan_item *it, const qtfc_plan_options *o, char *err, size_t cap) {
    const qtf_source *imp = o->importance;
    uint64_t idx;
    it->importance = -1;
    if (o->imatrix) {
        /* sizes were checked when the entries were mapped onto the tensors */
        uint64_t n;
        if (qtf_imatrix_map_find(o->imatrix, it->tensor->name, &n)) it->importance = (long)it->source_index;
        else if (qtf_imatrix_map_expects(o->imatrix, it->tensor->name)) it->importance = -2;
        return 0;
    }
    if (!imp || qtf_source_tensor_find(&idx, imp, it->tensor->name) != QTF_OK) return 0;
    const qtf_source_tensor *v = qtf_source_tensor_get(imp, idx);
    const qtf_source_tensor *t = it->tensor;
    /* one weight per input feature: a stored column, dims[0] of a weight
     * stored transposed */
    uint64_t cols = t->n_dims ? it->stored_dims[t->n_dims - 1] : 1;
    if (!v || v->n_dims != 1 || v->dtype != QTF_DTYPE_F32 || v->dims[0] != cols) {
        char shape[160];
        if (v) qtfc_format_shape(shape, sizeof shape, v->n_dims, v->dims);
        return cli_fail(err, cap, "importance vector '%s': expected a 1-D F32 tensor of %llu "
                        "elements (%s), found %s %s", t->name, (unsigned long long)cols,
                        it->layout == QTF_LAYOUT_TRANSPOSED
                            ? "the input dimension, dims[0], of this Conv1D weight"
                            : "the row length of the weight",
                        v ? qtf_dtype_name(v->dtype) : "?", v ? shape : "?");
    }
    it->importance = (long)idx;
    return 0;
}

/* Returns 0, -1 (error in err) or 1 (the recipe cannot encode this tensor:
 * reported together with every other such tensor). */
static int plan_item(qtfc_plan_item *it, const qtf_source *src, const qtfc_plan_options *o,
                     const qtf_arch *arch, char *err, size_t cap) {
    const qtf_source_tensor *t = it->tensor;
    it->layout = QTF_LAYOUT_ROW_MAJOR;
    for (uint32_t d = 0; d < t->n_dims; d++) it->stored_dims[d] = t->dims[d];
    uint64_t f32_bytes;
    if (__builtin_mul_overflow(t->n_elements, (uint64_t)sizeof(float), &f32_bytes))
        return cli_fail(err, cap, "tensor '%s': %llu elements overflow a buffer size", t->name,
                        (unsigned long long)t->n_elements);
    it->importance = -1;

    if (o->kind == QTFC_OUTPUT_SAFETENSORS) {
        qtf_encoding keep;
        qtfc_keep_encoding(&keep, t->dtype);
        if (keep.id == QTF_ENC_RAW && source_has_raw(src, t, t->dtype)) {
            it->out_dtype = t->dtype;   /* integers, bool, f64: lossless, as stored */
        } else if (o->st_keep) {
            it->out_dtype = keep.id == QTF_ENC_RAW ? QTF_DTYPE_F32 : t->dtype;
        } else {
            it->out_dtype = o->st_dtype;
        }
        it->read_raw = source_has_raw(src, t, it->out_dtype);
        size_t es = qtf_dtype_size(it->out_dtype);
        if (__builtin_mul_overflow(t->n_elements, (uint64_t)es, &it->out_bytes))
            return cli_fail(err, cap, "tensor '%s': size overflows", t->name);
        it->bpw = 8.0 * (double)es;
        it->read_bytes = it->read_raw ? t->nbytes : f32_bytes;
        return 0;
    }

    /* A weight whose input is dims[0] is encoded as its transpose, so that
     * groups (and importance) run along the input as for nn.Linear; the
     * recipe decides on the shape the encoding will see. Lossless encodings
     * gain nothing from it and stay row-major (and byte-identical). */
    it->input_first = input_first(arch, t);
    if (it->input_first) {
        it->stored_dims[0] = t->dims[1];
        it->stored_dims[1] = t->dims[0];
    }
    if (qtfc_recipe_choose(&it->choice, o->recipe, t->name, t->dtype, t->n_dims, it->stored_dims,
                           err, cap) != 0)
        return 1;
    qtf_encoding *enc = &it->choice.enc;
    qtf_dtype stored = lossless_type(enc);
    if (it->input_first && stored == QTF_DTYPE_NONE) {
        it->layout = QTF_LAYOUT_TRANSPOSED;
    } else {
        for (uint32_t d = 0; d < t->n_dims; d++) it->stored_dims[d] = t->dims[d];
    }
    it->read_raw = source_has_raw(src, t, stored);
    if (enc->id == QTF_ENC_RAW && !it->read_raw) {
        /* `keep` of a float type the encodings cannot produce from f32 (f64,
         * f8) when the source is a .qtf that already stored it lossy: the
         * values exist only as f32 now, so f32 keeps them exactly. */
        if (qtfc_dtype_is_integer(t->dtype))
            return cli_fail(err, cap, "tensor '%s': integer tensor of the source .qtf is not "
                            "stored losslessly", t->name);
        uint32_t zstd = enc->zstd_level;
        qtf_encoding_default(enc, QTF_ENC_F32);
        enc->zstd_level = zstd;
    }
    qtf_part_layout layout[QTF_MAX_PARTS];
    uint32_t n_parts = 0;
    qtf_status st = qtf_encoding_layout(layout, &n_parts, enc, t->n_dims, it->stored_dims);
    if (st != QTF_OK)
        return cli_fail(err, cap, "tensor '%s': %s", t->name, cli_why(st));
    it->out_bytes = 0;
    for (uint32_t i = 0; i < n_parts; i++)
        if (__builtin_add_overflow(it->out_bytes, layout[i].size, &it->out_bytes))
            return cli_fail(err, cap, "tensor '%s': encoded size overflows", t->name);
    it->bpw = t->n_elements ? 8.0 * (double)it->out_bytes / (double)t->n_elements : 0.0;
    it->read_bytes = it->read_raw ? t->nbytes : f32_bytes;
    if (stored == QTF_DTYPE_NONE) return check_importance(it, o, err, cap);
    return 0;
}

int qtfc_plan_build(qtfc_plan *out, const qtf_source *src, const qtfc_plan_options *o,
                    char *err, size_t err_cap) {
    memset(out, 0, sizeof *out);
    out->kind = o->kind;
    uint64_t n = qtf_source_tensor_count(src);
    if (n > SIZE_MAX / sizeof *out->items) return cli_fail(err, err_cap, "too many tensors");
    out->items = calloc(n ? n : 1, sizeof *out->items);
    if (!out->items) return cli_fail(err, err_cap, "out of memory planning %llu tensors",
                                     (unsigned long long)n);
    out->n_items = n;
    const qtf_arch *arch = o->kind == QTFC_OUTPUT_QTF ? qtfc_source_arch(src) : NULL;
    /* Tensors the recipe cannot encode are all named in one message, so that
     * one run shows everything a --rule or --fallback has to cover. */
    uint64_t n_unfit = 0;
    size_t unfit_len = 0;
    for (uint64_t i = 0; i < n; i++) {
        qtfc_plan_item *it = &out->items[i];
        it->source_index = i;
        it->tensor = qtf_source_tensor_get(src, i);
        if (!it->tensor) {
            qtfc_plan_free(out);
            return cli_fail(err, err_cap, "tensor %llu missing from the source",
                            (unsigned long long)i);
        }
        char *slot = n_unfit ? err + unfit_len : err;
        size_t slot_cap = n_unfit ? err_cap - unfit_len : err_cap;
        int rc = plan_item(it, src, o, arch, slot, slot_cap);
        if (rc < 0) {
            if (n_unfit) memmove(err, slot, strlen(slot) + 1);
            qtfc_plan_free(out);
            return -1;
        }
        if (rc > 0) {
            if (n_unfit == 0) {
                unfit_len = strlen(err);
            } else if (unfit_len + 2 < err_cap) {
                /* Later ones: just the name. */
                unfit_len += (size_t)snprintf(err + unfit_len, err_cap - unfit_len, "%s%s",
                                              n_unfit == 1 ? "\n  same for: " : ", ",
                                              it->tensor->name);
                if (unfit_len >= err_cap) unfit_len = err_cap - 1;
            }
            n_unfit++;
            continue;
        }
        if (__builtin_add_overflow(out->total_elements, it->tensor->n_elements,
                                   &out->total_elements) ||
            __builtin_add_overflow(out->total_source_bytes, it->tensor->nbytes,
                                   &out->total_source_bytes) ||
            __builtin_add_overflow(out->total_out_bytes, it->out_bytes, &out->total_out_bytes)) {
            qtfc_plan_free(out);
            return cli_fail(err, err_cap, "total checkpoint size overflows");
        }
        if (it->read_bytes > out->max_read_bytes) out->max_read_bytes = it->read_bytes;
        out->n_fallbacks += (uint64_t)it->choice.fell_back;
    }
    if (n_unfit) {
        qtfc_plan_free(out);
        return -1;
    }
    return 0;
}

void qtfc_plan_free(qtfc_plan *p) {
    if (!p) return;
    free(p->items);
    memset(p, 0, sizeof *p);
}

void qtfc_plan_print(FILE *f, const qtfc_plan *p) {
    size_t name_w = 6;
    for (uint64_t i = 0; i < p->n_items; i++) {
        size_t l = strlen(p->items[i].tensor->name);
        if (l > name_w) name_w = l;
    }
    if (name_w > 64) name_w = 64;
    fprintf(f, "%-*s  %-16s %-5s %-28s %12s %7s  %s\n", (int)name_w, "tensor", "shape", "src",
            p->kind == QTFC_OUTPUT_SAFETENSORS ? "dtype" : "encoding", "bytes", "bpw", "why");
    for (uint64_t i = 0; i < p->n_items; i++) {
        const qtfc_plan_item *it = &p->items[i];
        char shape[160], enc[96];
        qtfc_format_shape(shape, sizeof shape, it->tensor->n_dims, it->tensor->dims);
        qtfc_item_encoding_text(enc, sizeof enc, p, it);
        const char *why = p->kind == QTFC_OUTPUT_SAFETENSORS ? "output"
                          : qtfc_reason_name(it->choice.why);
        fprintf(f, "%-*s  %-16s %-5s %-28s %12llu %7.3f  %s%s%s%s\n", (int)name_w,
                it->tensor->name, shape, qtf_dtype_name(it->tensor->dtype), enc,
                (unsigned long long)it->out_bytes, it->bpw, why,
                it->choice.fell_back ? ", fallback" : "", it->importance >= 0 ? ", importance" : "",
                it->layout == QTF_LAYOUT_TRANSPOSED ? ", transposed (groups along dim 0)" : "");
    }
    char in[32], out[32];
    qtfc_human_bytes(in, sizeof in, p->total_source_bytes);
    qtfc_human_bytes(out, sizeof out, p->total_out_bytes);
    double bpw = p->total_elements ? 8.0 * (double)p->total_out_bytes / (double)p->total_elements
                                   : 0.0;
    /* zstd parts are stored smaller than their encoded size, which is only
     * known once compressed: say that these totals are an upper bound. */
    uint64_t n_zstd = 0;
    for (uint64_t i = 0; i < p->n_items; i++)
        n_zstd += p->kind == QTFC_OUTPUT_QTF && p->items[i].choice.enc.zstd_level > 0;
    char zstd_note[96] = "";
    if (n_zstd)
        snprintf(zstd_note, sizeof zstd_note, "; %llu zstd tensor%s stored smaller",
                 (unsigned long long)n_zstd, n_zstd == 1 ? " is" : "s are");
    fprintf(f, "total: %llu tensors, %llu elements, source %s -> %s tensor bytes%s "
            "(%.3f bits/weight, ratio %.3f%s), %llu fallbacks\n",
            (unsigned long long)p->n_items, (unsigned long long)p->total_elements, in, out,
            n_zstd ? " before zstd" : "", bpw,
            p->total_source_bytes ? (double)p->total_out_bytes / (double)p->total_source_bytes
                                  : 0.0,
            zstd_note, (unsigned long long)p->n_fallbacks);
    char big[32];
    qtfc_human_bytes(big, sizeof big, p->max_read_bytes);
    fprintf(f, "largest tensor buffer: %s (peak memory stays within about 3x this + 64 MiB)\n",
            big);
}
