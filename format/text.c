/* format/text.c — the canonical text form of encodings, NAME[:OPTION,...]
 * (spec/encodings/README.md, "Text form"). Parsing is strict: every option
 * must apply to the name, none may repeat, and the error detail lists what
 * would have been accepted. Names and options are ASCII case-insensitive;
 * the canonical form is lower case. */
#include <stdio.h>
#include <string.h>

#include "family.h"

#define MAX_TEXT 256

typedef struct name_entry {
    const char *name;
    qtf_encoding_id id;
    uint32_t bits;
} name_entry;

static const name_entry names[] = {
    { "f32", QTF_ENC_F32, 0 },    { "f16", QTF_ENC_F16, 0 },    { "bf16", QTF_ENC_BF16, 0 },
    { "int2", QTF_ENC_INT, 2 },   { "int3", QTF_ENC_INT, 3 },   { "int4", QTF_ENC_INT, 4 },
    { "int5", QTF_ENC_INT, 5 },   { "int6", QTF_ENC_INT, 6 },   { "int7", QTF_ENC_INT, 7 },
    { "int8", QTF_ENC_INT, 8 },   { "nf4", QTF_ENC_NF4, 4 },    { "fp4", QTF_ENC_FP4, 4 },
    { "mxfp4", QTF_ENC_MXFP4, 4 }, { "pal1", QTF_ENC_PAL, 1 },  { "pal2", QTF_ENC_PAL, 2 },
    { "pal3", QTF_ENC_PAL, 3 },   { "pal4", QTF_ENC_PAL, 4 },   { "pal6", QTF_ENC_PAL, 6 },
    { "pal8", QTF_ENC_PAL, 8 },   { "q8_0", QTF_ENC_Q8_0, 8 },  { "q4_0", QTF_ENC_Q4_0, 4 },
    { "q4_1", QTF_ENC_Q4_1, 4 },  { "q5_0", QTF_ENC_Q5_0, 5 },  { "q5_1", QTF_ENC_Q5_1, 5 },
    { "q2_k", QTF_ENC_Q2_K, 2 },  { "q3_k", QTF_ENC_Q3_K, 3 },  { "q4_k", QTF_ENC_Q4_K, 4 },
    { "q5_k", QTF_ENC_Q5_K, 5 },  { "q6_k", QTF_ENC_Q6_K, 6 },
    { "iq4_nl", QTF_ENC_IQ4_NL, 4 }, { "iq4_xs", QTF_ENC_IQ4_XS, 4 },
    { "ggml_mxfp4", QTF_ENC_GGML_MXFP4, 4 }, { "raw", QTF_ENC_RAW, 0 },
};
#define N_NAMES (sizeof names / sizeof names[0])

static const char valid_names[] =
    "f32, f16, bf16, int2, int3, int4, int5, int6, int7, int8, nf4, fp4, mxfp4, pal1, pal2, "
    "pal3, pal4, pal6, pal8, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, "
    "iq4_nl, iq4_xs, ggml_mxfp4, raw:TYPE";

/* Element types a raw encoding may name, as options of "raw". */
typedef struct raw_entry {
    const char *name;
    qtf_dtype type;
} raw_entry;
static const raw_entry raw_types[] = {
    { "f64", QTF_DTYPE_F64 },   { "i8", QTF_DTYPE_I8 },     { "u8", QTF_DTYPE_U8 },
    { "i16", QTF_DTYPE_I16 },   { "u16", QTF_DTYPE_U16 },   { "i32", QTF_DTYPE_I32 },
    { "u32", QTF_DTYPE_U32 },   { "i64", QTF_DTYPE_I64 },   { "u64", QTF_DTYPE_U64 },
    { "bool", QTF_DTYPE_BOOL }, { "f8_e4m3", QTF_DTYPE_F8_E4M3 },
    { "f8_e5m2", QTF_DTYPE_F8_E5M2 },
};
#define N_RAW (sizeof raw_types / sizeof raw_types[0])

/* Option kinds; mutually exclusive spellings (sym/asym, rtn/search, the raw
 * types) share one kind so that giving both is a repetition. */
enum {
    O_GROUP, O_SYM, O_SCALE, O_DQ, O_ROWS, O_ROWSCALE, O_LUT, O_DIM, O_SEARCH, O_ZSTD,
    O_RAWTYPE, O_COUNT_
};

static uint32_t options_of(qtf_encoding_id id) {
#define B(o) (1u << (o))
    switch (id) {
    case QTF_ENC_RAW: return B(O_RAWTYPE) | B(O_ZSTD);
    case QTF_ENC_INT:
        return B(O_GROUP) | B(O_SYM) | B(O_SCALE) | B(O_DQ) | B(O_SEARCH) | B(O_ZSTD);
    case QTF_ENC_NF4: case QTF_ENC_FP4:
        return B(O_GROUP) | B(O_SCALE) | B(O_DQ) | B(O_SEARCH) | B(O_ZSTD);
    case QTF_ENC_PAL:
        return B(O_GROUP) | B(O_DQ) | B(O_ROWS) | B(O_ROWSCALE) | B(O_LUT) | B(O_DIM) |
               B(O_ZSTD);
    default: return B(O_ZSTD);
    }
#undef B
}

static const char *const option_help[O_COUNT_] = {
    [O_GROUP] = "group=N|row|tensor", [O_SYM] = "sym|asym",
    [O_SCALE] = "scale=f16|bf16|f32", [O_DQ] = "dq", [O_ROWS] = "rows=N|tensor",
    [O_ROWSCALE] = "rowscale", [O_LUT] = "lut=f16|f32|int8", [O_DIM] = "dim=1|2|4",
    [O_SEARCH] = "rtn|search", [O_ZSTD] = "zstd[=1..22]",
    [O_RAWTYPE] = "f64|i8|u8|i16|u16|i32|u32|i64|u64|bool|f8_e4m3|f8_e5m2",
};

static void list_options(char *buf, size_t cap, qtf_encoding_id id) {
    uint32_t set = options_of(id);
    size_t at = 0;
    buf[0] = '\0';
    for (unsigned o = 0; o < O_COUNT_; o++) {
        if (!(set & (1u << o))) continue;
        const char *h = (id == QTF_ENC_PAL && o == O_GROUP) ? "group=N" : option_help[o];
        int w = snprintf(buf + at, cap - at, "%s%s", at ? ", " : "", h);
        if (w < 0 || (size_t)w >= cap - at) break;
        at += (size_t)w;
    }
}

/* Decimal u32 in [lo, hi]; digits only. */
static int parse_u32(uint32_t *out, const char *s, uint32_t lo, uint32_t hi) {
    if (!*s) return 0;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > hi) return 0;
    }
    if (v < lo) return 0;
    *out = (uint32_t)v;
    return 1;
}

static qtf_status bad_option(const char *text, qtf_encoding_id id, const char *what,
                             const char *opt) {
    char valid[256];
    list_options(valid, sizeof valid, id);
    return qtf__error(QTF_E_PARSE, "encoding \"%s\": %s \"%s\"; valid options: %s", text, what,
                      opt, valid);
}

qtf_status qtf_encoding_parse(qtf_encoding *out, const char *text) {
    if (!out || !text) return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_parse: NULL argument");
    size_t len = strnlen(text, MAX_TEXT + 1);
    if (len > MAX_TEXT)
        return qtf__error(QTF_E_PARSE, "encoding text longer than %u bytes", MAX_TEXT);
    char buf[MAX_TEXT + 1], shown[MAX_TEXT + 1];
    for (size_t i = 0; i <= len; i++) {
        char c = text[i];
        /* Control and non-ASCII bytes become '?', which no name or option
         * contains, so they still fail and error messages stay printable. */
        if (c != '\0' && (c < 0x20 || c >= 0x7f)) c = '?';
        shown[i] = c;
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    char *colon = strchr(buf, ':');
    if (colon) *colon = '\0';
    const name_entry *ne = NULL;
    for (size_t i = 0; i < N_NAMES; i++)
        if (strcmp(buf, names[i].name) == 0) ne = &names[i];
    if (!ne)
        return qtf__error(QTF_E_PARSE, "encoding \"%s\": unknown name \"%s\"; valid names: %s",
                          shown, buf, valid_names);

    qtf_encoding e;
    memset(&e, 0, sizeof e);
    if (ne->id != QTF_ENC_RAW) {
        qtf_status st = qtf_encoding_default(&e, ne->id);
        if (st) return st;
        e.bits = ne->bits;
        if (ne->id == QTF_ENC_INT && ne->bits == 8) e.group = QTF_GROUP_ROW;
    } else {
        e.id = QTF_ENC_RAW;
    }

    uint32_t allowed = options_of(ne->id), seen = 0;
    char *opt = colon ? colon + 1 : NULL;
    while (opt) {
        char *comma = strchr(opt, ',');
        if (comma) *comma = '\0';
        char *eq = strchr(opt, '=');
        const char *val = NULL;
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        int kind = -1, ok = 1;
        if (strcmp(opt, "group") == 0) {
            kind = O_GROUP;
            if (!val) ok = 0;
            else if (ne->id != QTF_ENC_PAL && strcmp(val, "row") == 0) e.group = QTF_GROUP_ROW;
            else if (ne->id != QTF_ENC_PAL && strcmp(val, "tensor") == 0)
                e.group = QTF_GROUP_TENSOR;
            else ok = parse_u32(&e.group, val, 1, UINT32_MAX - 1);
        } else if (strcmp(opt, "sym") == 0 || strcmp(opt, "asym") == 0) {
            kind = O_SYM;
            ok = !val;
            e.asym = opt[0] == 'a';
        } else if (strcmp(opt, "scale") == 0) {
            kind = O_SCALE;
            if (!val) ok = 0;
            else if (strcmp(val, "f16") == 0) e.scale_type = QTF_DTYPE_F16;
            else if (strcmp(val, "bf16") == 0) e.scale_type = QTF_DTYPE_BF16;
            else if (strcmp(val, "f32") == 0) e.scale_type = QTF_DTYPE_F32;
            else ok = 0;
        } else if (strcmp(opt, "dq") == 0) {
            kind = O_DQ;
            ok = !val;
            e.dq = 1;
        } else if (strcmp(opt, "rows") == 0) {
            kind = O_ROWS;
            if (!val) ok = 0;
            else if (strcmp(val, "tensor") == 0) e.rows = QTF_ROWS_TENSOR;
            else ok = parse_u32(&e.rows, val, 1, UINT32_MAX);
        } else if (strcmp(opt, "rowscale") == 0) {
            kind = O_ROWSCALE;
            ok = !val;
            e.rowscale = 1;
        } else if (strcmp(opt, "lut") == 0) {
            kind = O_LUT;
            if (!val) ok = 0;
            else if (strcmp(val, "f16") == 0) e.lut_type = QTF_DTYPE_F16;
            else if (strcmp(val, "f32") == 0) e.lut_type = QTF_DTYPE_F32;
            else if (strcmp(val, "int8") == 0) e.lut_type = QTF_DTYPE_I8;
            else ok = 0;
        } else if (strcmp(opt, "dim") == 0) {
            kind = O_DIM;
            ok = val && parse_u32(&e.dim, val, 1, 4) && e.dim != 3;
        } else if (strcmp(opt, "rtn") == 0 || strcmp(opt, "search") == 0) {
            kind = O_SEARCH;
            ok = !val;
            e.search = opt[0] == 's';
        } else if (strcmp(opt, "zstd") == 0) {
            kind = O_ZSTD;
            /* Level 1 by default: on quantization codes, levels 3-9 spend more
             * on short matches in near-random streams than they save
             * (bench/RESULTS.md), and level 1 is also the fastest. */
            e.zstd_level = 1;
            if (val) ok = parse_u32(&e.zstd_level, val, 1, 22);
        } else {
            for (size_t i = 0; i < N_RAW; i++)
                if (strcmp(opt, raw_types[i].name) == 0) {
                    kind = O_RAWTYPE;
                    ok = !val;
                    e.raw_type = raw_types[i].type;
                }
        }
        if (eq) *eq = '=';
        if (kind < 0 || !(allowed & (1u << kind)))
            return bad_option(shown, ne->id,
                              kind < 0 ? "unknown option" : "option does not apply:", opt);
        if (seen & (1u << kind))
            return bad_option(shown, ne->id, "option given twice or contradicted:", opt);
        seen |= 1u << kind;
        if (!ok) {
            char valid[256];
            list_options(valid, sizeof valid, ne->id);
            return qtf__error(QTF_E_PARSE, "encoding \"%s\": invalid value in \"%s\" (expected "
                              "%s%s); valid options: %s", shown, opt,
                              (ne->id == QTF_ENC_PAL && kind == O_GROUP) ? "group=N"
                                                                          : option_help[kind],
                              kind == O_GROUP || kind == O_ROWS ? ", N >= 1" : "", valid);
        }
        opt = comma ? comma + 1 : NULL;
    }

    if (ne->id == QTF_ENC_RAW && !(seen & (1u << O_RAWTYPE)))
        return bad_option(shown, ne->id, "missing element type, e.g.", "raw:i32");
    if (e.dq && (seen & (1u << O_SCALE)))
        return bad_option(shown, ne->id,
                          "dq stores u8 scale codes with f32 second-level scales, so it "
                          "excludes", "scale");
    if (e.dq) e.scale_type = QTF_DTYPE_NONE;
    if (ne->id == QTF_ENC_PAL) {
        /* Palettized tensors have scales only with rowscale or group; plain
         * ones are f16 (implied), and dq needs them. */
        int has_scales = e.rowscale || e.group;
        if (e.rowscale && e.group)
            return bad_option(shown, ne->id, "per-row and per-group scales exclude each other:",
                              "rowscale with group");
        if (!has_scales && e.dq)
            return bad_option(shown, ne->id, "there are no scales to double-quantize without "
                              "rowscale or group:", "dq");
        if (has_scales && !e.dq) e.scale_type = QTF_DTYPE_F16;
    }
    qtf_status st = qtf__encoding_validate(&e);
    if (st) {
        /* the detail is the buffer qtf__error writes to: copy it first */
        char why[256];
        snprintf(why, sizeof why, "%s", qtf_error_detail());
        return qtf__error(QTF_E_PARSE, "encoding \"%s\": %s", shown, why);
    }
    *out = e;
    qtf__error_clear();
    return QTF_OK;
}

/* --- canonical text ------------------------------------------------------ */

typedef struct out_buf {
    char *p;
    size_t cap, len;
    int overflow;
    int first;
} out_buf;

static void append(out_buf *b, const char *s) {
    size_t n = strlen(s);
    if (b->overflow || b->len + n + 1 > b->cap) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* One option: "key", "key=text" or "key=number", with its separator. */
static void put_opt(out_buf *b, const char *key, const char *text, uint32_t number) {
    char tmp[48];
    if (text) snprintf(tmp, sizeof tmp, "%c%s%s%s", b->first ? ':' : ',', key,
                       *text ? "=" : "", text);
    else snprintf(tmp, sizeof tmp, "%c%s=%u", b->first ? ':' : ',', key, number);
    b->first = 0;
    append(b, tmp);
}

static const char *half_name(qtf_dtype t) {
    switch (t) {
    case QTF_DTYPE_F16: return "f16";
    case QTF_DTYPE_BF16: return "bf16";
    case QTF_DTYPE_F32: return "f32";
    case QTF_DTYPE_I8: return "int8";
    default: return "?";
    }
}

qtf_status qtf_encoding_format(char *buf, size_t cap, const qtf_encoding *enc) {
    if (!buf || !enc) return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_format: NULL argument");
    qtf_status st = qtf__encoding_validate(enc);
    if (st) return st;
    out_buf b = { .p = buf, .cap = cap, .len = 0, .overflow = 0, .first = 1 };
    const name_entry *ne = NULL;
    for (size_t i = 0; i < N_NAMES && !ne; i++)
        if (names[i].id == enc->id && (names[i].bits == enc->bits || enc->id == QTF_ENC_RAW))
            ne = &names[i];
    if (!ne) return qtf__error(QTF_E_ENCODING, "encoding id %u bits %u has no name",
                               (unsigned)enc->id, enc->bits);
    append(&b, ne->name);

    qtf_encoding def;
    memset(&def, 0, sizeof def);
    if (enc->id != QTF_ENC_RAW) {
        qtf_encoding_default(&def, enc->id);
        if (enc->id == QTF_ENC_INT && enc->bits == 8) def.group = QTF_GROUP_ROW;
        if (enc->id == QTF_ENC_PAL) def.scale_type = enc->scale_type; /* implied */
    }
    for (size_t i = 0; i < N_RAW && enc->id == QTF_ENC_RAW; i++)
        if (raw_types[i].type == enc->raw_type) put_opt(&b, raw_types[i].name, "", 0);
    if (enc->group != def.group) {
        if (enc->id != QTF_ENC_PAL && enc->group == QTF_GROUP_ROW) put_opt(&b, "group", "row", 0);
        else if (enc->id != QTF_ENC_PAL && enc->group == QTF_GROUP_TENSOR)
            put_opt(&b, "group", "tensor", 0);
        else put_opt(&b, "group", NULL, enc->group);
    }
    if (enc->asym) put_opt(&b, "asym", "", 0);
    if (!enc->dq && enc->scale_type != def.scale_type)
        put_opt(&b, "scale", half_name(enc->scale_type), 0);
    if (enc->dq) put_opt(&b, "dq", "", 0);
    if (enc->rows) put_opt(&b, "rows", NULL, enc->rows);
    if (enc->rowscale) put_opt(&b, "rowscale", "", 0);
    if (enc->lut_type != def.lut_type) put_opt(&b, "lut", half_name(enc->lut_type), 0);
    if (enc->dim != def.dim) put_opt(&b, "dim", NULL, enc->dim);
    if (enc->search) put_opt(&b, "search", "", 0);
    if (enc->zstd_level == 1) put_opt(&b, "zstd", "", 0);
    else if (enc->zstd_level) put_opt(&b, "zstd", NULL, enc->zstd_level);
    if (b.overflow) {
        if (cap) buf[0] = '\0';
        return qtf__error(QTF_E_INVALID_ARG, "qtf_encoding_format: buffer of %zu bytes is too "
                          "small", cap);
    }
    qtf__error_clear();
    return QTF_OK;
}
