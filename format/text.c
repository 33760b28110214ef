/* format/text.c — the canonical text form of encodings, NAME[:OPTION,...]
 * (spec/encodings/README.md, "Text form"). Parsing is strict: every option
 * must apply to the name, none may repeat, and the error detail lists what
 * would have been accepted. Names and options are ASCII case-insensitive;
 * the canonical form is lower case. */
#include <stdio.h>
#include <string.h>

#include "encodings.h"

#define MAX_TEXT 256

/* Text names come from the encoding table: NAME, or NAME<bits> for the
 * rows with text_bits (int2..int8, pal1..pal8). */
typedef struct name_entry {
    qtf_encoding_id id;
    uint32_t bits;              /* from the name; 0 when the name has no bits */
} name_entry;

/* Decimal bits after the row's name, in the row's text_bits. */
static int match_name(name_entry *out, const qtf__encoding_row *r, const char *text) {
    size_t n = strlen(r->name);
    if (strncmp(text, r->name, n) != 0) return 0;
    if (!r->text_bits) {
        if (text[n]) return 0;
        *out = (name_entry){ r->id, r->bits };
        return 1;
    }
    uint32_t bits = 0;
    if (text[n] < '1' || text[n] > '9' || text[n + 1]) return 0; /* one digit: 1..9 */
    bits = (uint32_t)(text[n] - '0');
    if (!(r->text_bits & (1u << bits))) return 0;
    *out = (name_entry){ r->id, bits };
    return 1;
}

static int find_name(name_entry *out, const char *text) {
    for (unsigned id = 0; id < QTF_ENC_COUNT_; id++) {
        const qtf__encoding_row *r = qtf__encoding_row_of((qtf_encoding_id)id);
        if (r && match_name(out, r, text)) return 1;
    }
    return 0;
}

/* "f32, f16, ..., int2, ..., raw:TYPE" in id order. */
static void list_names(char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = '\0';
    for (unsigned id = 0; id < QTF_ENC_COUNT_; id++) {
        const qtf__encoding_row *r = qtf__encoding_row_of((qtf_encoding_id)id);
        if (!r) continue;
        for (unsigned b = 0; b < 10; b++) {
            if (r->text_bits ? !(r->text_bits & (1u << b)) : b > 0) continue;
            char one[32];
            if (r->text_bits) snprintf(one, sizeof one, "%s%u", r->name, b);
            else snprintf(one, sizeof one, "%s%s", r->name, id == QTF_ENC_RAW ? ":TYPE" : "");
            int w = snprintf(buf + at, cap - at, "%s%s", at ? ", " : "", one);
            if (w < 0 || (size_t)w >= cap - at) return;
            at += (size_t)w;
        }
    }
}

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

static uint32_t options_of(qtf_encoding_id id) {
    return qtf__encoding_row_of(id)->options;
}

static const char *const option_help[QTF__O_COUNT_] = {
    [QTF__O_GROUP] = "group=N|row|tensor", [QTF__O_SYM] = "sym|asym",
    [QTF__O_SCALE] = "scale=f16|bf16|f32", [QTF__O_DQ] = "dq", [QTF__O_ROWS] = "rows=N|tensor",
    [QTF__O_ROWSCALE] = "rowscale", [QTF__O_LUT] = "lut=f16|f32|int8", [QTF__O_DIM] = "dim=1|2|4",
    [QTF__O_SEARCH] = "rtn|search|opt", [QTF__O_ZSTD] = "zstd[=1..22]",
    [QTF__O_RAWTYPE] = "f64|i8|u8|i16|u16|i32|u32|i64|u64|bool|f8_e4m3|f8_e5m2",
};

static void list_options(char *buf, size_t cap, qtf_encoding_id id) {
    uint32_t set = options_of(id);
    size_t at = 0;
    buf[0] = '\0';
    for (unsigned o = 0; o < QTF__O_COUNT_; o++) {
        if (!(set & (1u << o))) continue;
        /* pal takes no group=row|tensor (rowscale, rows) and only `opt` of
         * the fits: it always searches its scales */
        const char *h = (id == QTF_ENC_PAL && o == QTF__O_GROUP)    ? "group=N"
                        : (id == QTF_ENC_PAL && o == QTF__O_SEARCH) ? "opt"
                                                                    : option_help[o];
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
    name_entry found;
    const name_entry *ne = find_name(&found, buf) ? &found : NULL;
    if (!ne) {
        char valid[512];
        list_names(valid, sizeof valid);
        return qtf__error(QTF_E_PARSE, "encoding \"%s\": unknown name \"%s\"; valid names: %s",
                          shown, buf, valid);
    }

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
            kind = QTF__O_GROUP;
            if (!val) ok = 0;
            else if (ne->id != QTF_ENC_PAL && strcmp(val, "row") == 0) e.group = QTF_GROUP_ROW;
            else if (ne->id != QTF_ENC_PAL && strcmp(val, "tensor") == 0)
                e.group = QTF_GROUP_TENSOR;
            else ok = parse_u32(&e.group, val, 1, UINT32_MAX - 1);
        } else if (strcmp(opt, "sym") == 0 || strcmp(opt, "asym") == 0) {
            kind = QTF__O_SYM;
            ok = !val;
            e.asym = opt[0] == 'a';
        } else if (strcmp(opt, "scale") == 0) {
            kind = QTF__O_SCALE;
            if (!val) ok = 0;
            else if (strcmp(val, "f16") == 0) e.scale_type = QTF_DTYPE_F16;
            else if (strcmp(val, "bf16") == 0) e.scale_type = QTF_DTYPE_BF16;
            else if (strcmp(val, "f32") == 0) e.scale_type = QTF_DTYPE_F32;
            else ok = 0;
        } else if (strcmp(opt, "dq") == 0) {
            kind = QTF__O_DQ;
            ok = !val;
            e.dq = 1;
        } else if (strcmp(opt, "rows") == 0) {
            kind = QTF__O_ROWS;
            if (!val) ok = 0;
            else if (strcmp(val, "tensor") == 0) e.rows = QTF_ROWS_TENSOR;
            else ok = parse_u32(&e.rows, val, 1, UINT32_MAX);
        } else if (strcmp(opt, "rowscale") == 0) {
            kind = QTF__O_ROWSCALE;
            ok = !val;
            e.rowscale = 1;
        } else if (strcmp(opt, "lut") == 0) {
            kind = QTF__O_LUT;
            if (!val) ok = 0;
            else if (strcmp(val, "f16") == 0) e.lut_type = QTF_DTYPE_F16;
            else if (strcmp(val, "f32") == 0) e.lut_type = QTF_DTYPE_F32;
            else if (strcmp(val, "int8") == 0) e.lut_type = QTF_DTYPE_I8;
            else ok = 0;
        } else if (strcmp(opt, "dim") == 0) {
            kind = QTF__O_DIM;
            ok = val && parse_u32(&e.dim, val, 1, 4) && e.dim != 3;
        } else if (strcmp(opt, "rtn") == 0 || strcmp(opt, "search") == 0 ||
                   strcmp(opt, "opt") == 0) {
            kind = QTF__O_SEARCH;
            ok = !val;
            e.search = opt[0] == 's' ? 1 : opt[0] == 'o' ? 2 : 0;
        } else if (strcmp(opt, "zstd") == 0) {
            kind = QTF__O_ZSTD;
            /* Level 1 by default: on quantization codes, levels 3-9 spend more
             * on short matches in near-random streams than they save
             * (bench/RESULTS.md), and level 1 is also the fastest. */
            e.zstd_level = 1;
            if (val) ok = parse_u32(&e.zstd_level, val, 1, 22);
        } else {
            for (size_t i = 0; i < N_RAW; i++)
                if (strcmp(opt, raw_types[i].name) == 0) {
                    kind = QTF__O_RAWTYPE;
                    ok = !val;
                    e.raw_type = raw_types[i].type;
                }
        }
        if (eq) *eq = '=';
        if (kind == QTF__O_SEARCH && ne->id == QTF_ENC_PAL && e.search != 2) kind = -2;
        if (kind < 0 || !(allowed & (1u << kind)))
            return bad_option(shown, ne->id,
                              kind == -1 ? "unknown option" : "option does not apply:", opt);
        if (seen & (1u << kind))
            return bad_option(shown, ne->id, "option given twice or contradicted:", opt);
        seen |= 1u << kind;
        if (!ok) {
            char valid[256];
            list_options(valid, sizeof valid, ne->id);
            return qtf__error(QTF_E_PARSE, "encoding \"%s\": invalid value in \"%s\" (expected "
                              "%s%s); valid options: %s", shown, opt,
                              (ne->id == QTF_ENC_PAL && kind == QTF__O_GROUP) ? "group=N"
                                                                          : option_help[kind],
                              kind == QTF__O_GROUP || kind == QTF__O_ROWS ? ", N >= 1" : "", valid);
        }
        opt = comma ? comma + 1 : NULL;
    }

    if (ne->id == QTF_ENC_RAW && !(seen & (1u << QTF__O_RAWTYPE)))
        return bad_option(shown, ne->id, "missing element type, e.g.", "raw:i32");
    if (e.dq && (seen & (1u << QTF__O_SCALE)))
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
    const qtf__encoding_row *row = qtf__encoding_row_of(enc->id);
    if (row->text_bits && !(row->text_bits & (1u << (enc->bits < 10 ? enc->bits : 0))))
        return qtf__error(QTF_E_ENCODING, "encoding id %u bits %u has no name",
                          (unsigned)enc->id, enc->bits);
    char name[32];
    if (row->text_bits) snprintf(name, sizeof name, "%s%u", row->name, enc->bits);
    else snprintf(name, sizeof name, "%s", row->name);
    append(&b, name);

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
    if (enc->search) put_opt(&b, enc->search == 2 ? "opt" : "search", "", 0);
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
