/* Text form of encodings: parse, format, defaults (format/text.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "qtf.h"
#include "support/container.h"
#include "support/encoding.h"

static const char *const all_names[] = {
    "f32", "f16", "bf16", "int2", "int3", "int4", "int5", "int6", "int7", "int8", "nf4", "fp4",
    "mxfp4", "pal1", "pal2", "pal3", "pal4", "pal6", "pal8", "q8_0", "q4_0", "q4_1", "q5_0",
    "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs", "ggml_mxfp4", "raw",
};

Test(parse, examples_from_the_spec) {
    qtf_encoding e = ts_parse("int8");
    cr_assert(e.id == QTF_ENC_INT && e.bits == 8 && e.group == QTF_GROUP_ROW && !e.asym &&
              e.scale_type == QTF_DTYPE_F16 && !e.dq && !e.search && !e.zstd_level);
    e = ts_parse("int4:group=32");
    cr_assert(e.id == QTF_ENC_INT && e.bits == 4 && e.group == 32 && !e.asym);
    e = ts_parse("int4:group=128,asym");
    cr_assert(e.group == 128 && e.asym == 1 && e.scale_type == QTF_DTYPE_F16);
    e = ts_parse("nf4:group=64,dq");
    cr_assert(e.id == QTF_ENC_NF4 && e.bits == 4 && e.group == 64 && e.dq == 1 &&
              e.scale_type == QTF_DTYPE_NONE && !e.asym);
    e = ts_parse("pal4:rows=8");
    cr_assert(e.id == QTF_ENC_PAL && e.bits == 4 && e.rows == 8 && e.lut_type == QTF_DTYPE_F16 &&
              e.dim == 1 && !e.rowscale && !e.group && !e.dq && e.scale_type == QTF_DTYPE_NONE);
    e = ts_parse("pal3:rows=8,rowscale");
    cr_assert(e.bits == 3 && e.rows == 8 && e.rowscale == 1);
    cr_assert_eq(e.scale_type, QTF_DTYPE_F16); /* plain palettization scales are f16 */
    e = ts_parse("pal4:group=32");
    cr_assert(e.group == 32 && e.scale_type == QTF_DTYPE_F16 && !e.dq);
    e = ts_parse("pal4:group=32,dq");
    cr_assert(e.group == 32 && e.scale_type == QTF_DTYPE_NONE && e.dq);
    e = ts_parse("mxfp4");
    cr_assert(e.id == QTF_ENC_MXFP4 && e.bits == 4 && e.group == 32 &&
              e.scale_type == QTF_DTYPE_E8M0);
    e = ts_parse("q4_0");
    cr_assert(e.id == QTF_ENC_Q4_0 && e.bits == 4 && e.group == 32 &&
              e.scale_type == QTF_DTYPE_F16 && !e.asym);
    e = ts_parse("int4:group=32,zstd");
    cr_assert(e.group == 32 && e.zstd_level == 1);
    e = ts_parse("q8_0:zstd=19");
    cr_assert(e.id == QTF_ENC_Q8_0 && e.bits == 8 && e.zstd_level == 19);
    e = ts_parse("pal2:group=16,dq,lut=int8,dim=4");
    cr_assert(e.group == 16 && e.dq && e.lut_type == QTF_DTYPE_I8 && e.dim == 4);
    e = ts_parse("int3:group=tensor,search,scale=bf16");
    cr_assert(e.group == QTF_GROUP_TENSOR && e.search && e.scale_type == QTF_DTYPE_BF16);
    e = ts_parse("raw:i64,zstd=1");
    cr_assert(e.id == QTF_ENC_RAW && e.raw_type == QTF_DTYPE_I64 && e.zstd_level == 1 && !e.bits);
    e = ts_parse("f16");
    cr_assert(e.id == QTF_ENC_F16 && !e.bits && !e.group && !e.scale_type && !e.zstd_level);
}

Test(parse, defaults_equal_qtf_encoding_default) {
    for (unsigned id = 1; id < QTF_ENC_COUNT_; id++) {
        qtf_encoding d;
        cr_assert_eq(qtf_encoding_default(&d, (qtf_encoding_id)id), QTF_OK);
        char text[64];
        cr_assert_eq(qtf_encoding_format(text, sizeof text, &d), QTF_OK);
        cr_assert_eq(strchr(text, ':'), NULL, "default %u formats with options: %s", id, text);
        qtf_encoding p = ts_parse(text);
        cr_assert(enc_equal(&p, &d), "id %u", id);
    }
    qtf_encoding d;
    cr_assert_eq(qtf_encoding_default(&d, QTF_ENC_RAW), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_encoding_default(&d, QTF_ENC_COUNT_), QTF_E_UNKNOWN_ENCODING);
    /* documented defaults per name */
    cr_assert_eq(ts_parse("int2").group, 32);
    cr_assert_eq(ts_parse("int6").group, 32);
    cr_assert_eq(ts_parse("int8").group, QTF_GROUP_ROW);
    cr_assert_eq(ts_parse("nf4").group, 64);
    cr_assert_eq(ts_parse("fp4").group, 64);
    cr_assert_eq(ts_parse("fp4").scale_type, QTF_DTYPE_F16);
    cr_assert_eq(ts_parse("pal8").rows, QTF_ROWS_TENSOR);
}

Test(parse, case_insensitive_and_explicit_defaults) {
    qtf_encoding a = ts_parse("Q4_0"), b = ts_parse("q4_0");
    cr_assert(enc_equal(&a, &b));
    a = ts_parse("INT4:GROUP=32,SYM,RTN,SCALE=F16");
    b = ts_parse("int4");
    cr_assert(enc_equal(&a, &b));
    a = ts_parse("int8:group=row");
    b = ts_parse("int8");
    cr_assert(enc_equal(&a, &b));
    a = ts_parse("pal4:rows=tensor,lut=f16,dim=1");
    b = ts_parse("pal4");
    cr_assert(enc_equal(&a, &b));
    a = ts_parse("int4:asym,group=128"); /* any option order */
    b = ts_parse("int4:group=128,asym");
    cr_assert(enc_equal(&a, &b));
}

static void parse_fails(const char *text, const char *must_mention) {
    qtf_encoding e;
    memset(&e, 0x5a, sizeof e);
    qtf_encoding before = e;
    qtf_status st = qtf_encoding_parse(&e, text);
    cr_assert_eq(st, QTF_E_PARSE, "parse(\"%s\") = %s, expected QTF_E_PARSE", text,
                 qtf_status_name(st));
    cr_assert(memcmp(&e, &before, sizeof e) == 0, "out written on failure for \"%s\"", text);
    if (must_mention)
        cr_assert(strstr(qtf_error_detail(), must_mention) != NULL,
                  "detail for \"%s\" does not mention \"%s\": %s", text, must_mention,
                  qtf_error_detail());
}

Test(parse, unknown_name_lists_every_valid_name) {
    const char *bad[] = { "", "int9", "int1", "int", "pal5", "pal", "q5_2", "float16", "nf4x",
                          " int4", "int4 ", "fp8", ":group=32", "int4\x01" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse_fails(bad[i], "valid names");
        for (size_t k = 0; k < sizeof all_names / sizeof all_names[0]; k++)
            cr_assert(strstr(qtf_error_detail(), all_names[k]) != NULL,
                      "detail for \"%s\" lacks name %s: %s", bad[i], all_names[k],
                      qtf_error_detail());
    }
}

Test(parse, bad_options_list_valid_options) {
    /* unknown options */
    parse_fails("int4:bogus", "group=N|row|tensor");
    parse_fails("int4:bogus", "sym|asym");
    parse_fails("int4:bogus", "rtn|search");
    parse_fails("int4:bogus", "zstd");
    parse_fails("int4:", "valid options");
    parse_fails("int4:,sym", "valid options");
    parse_fails("int4:sym,", "valid options");
    parse_fails("int4: group=32", "valid options");
    parse_fails("int4:group =32", "valid options");
    /* options that do not apply to the name */
    parse_fails("q4_0:group=32", "zstd");
    parse_fails("q8_0:sym", "zstd");
    parse_fails("mxfp4:dq", "zstd");
    parse_fails("mxfp4:search", "zstd");
    parse_fails("f16:scale=f16", "zstd");
    parse_fails("nf4:asym", "scale=f16|bf16|f32");
    parse_fails("int4:rows=8", "scale=f16|bf16|f32");
    parse_fails("int4:lut=f16", "sym|asym");
    parse_fails("pal4:search", "rows=N|tensor");
    /* pal always searches its scales: of the fits only opt, and only with scales */
    parse_fails("pal4:group=32,rtn", "opt");
    parse_fails("pal4:group=32,search", "does not apply");
    parse_fails("pal4:rows=8,opt", "needs rowscale or group");
    parse_fails("pal4:rowscale,search", "rows=N|tensor");
    parse_fails("pal4:rowscale,scale=f32", "rows=N|tensor");
    parse_fails("pal4:scale=f32", "lut=f16|f32|int8");
    parse_fails("pal4:asym", "dim=1|2|4");
    parse_fails("raw:i32,group=8", "zstd");
    parse_fails("int4:i32", "group=N");
    /* invalid values */
    parse_fails("int4:group=0", "group=N|row|tensor");
    parse_fails("int4:group=", "group");
    parse_fails("int4:group", "group");
    parse_fails("int4:group=abc", "group");
    parse_fails("int4:group=-1", "group");
    parse_fails("int4:group=+8", "group");
    parse_fails("int4:group=4294967295", "group");
    parse_fails("int4:group=99999999999999999999", "group");
    parse_fails("pal4:group=row", "group=N");
    parse_fails("pal4:group=tensor", "group=N");
    parse_fails("pal4:rows=0", "rows");
    parse_fails("int4:scale=f64", "scale");
    parse_fails("int4:scale", "scale");
    parse_fails("pal4:lut=i8", "lut");
    parse_fails("pal4:dim=3", "dim");
    parse_fails("pal4:dim=8", "dim");
    parse_fails("pal4:dim=0", "dim");
    parse_fails("int4:zstd=0", "zstd");
    parse_fails("int4:zstd=23", "zstd");
    parse_fails("int4:zstd=", "zstd");
    parse_fails("int4:sym=1", "sym");
    parse_fails("int4:dq=1", "dq");
    /* repetitions and contradictions */
    parse_fails("int4:sym,asym", "twice");
    parse_fails("int4:asym,asym", "twice");
    parse_fails("int4:group=32,group=64", "twice");
    parse_fails("int4:rtn,search", "twice");
    parse_fails("int4:zstd,zstd=1", "twice");
    parse_fails("raw:i32,u8", "twice");
    /* combinations */
    parse_fails("int4:dq,scale=f32", "dq");
    parse_fails("nf4:scale=bf16,dq", "dq");
    parse_fails("pal4:dq", "dq");
    parse_fails("pal4:rowscale,group=16", "rowscale");
    parse_fails("raw", "raw:i32");
    parse_fails("raw:f32", "f64|i8");
    parse_fails("raw:zstd", "raw:i32");
}

Test(parse, overlong_text_and_null) {
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    parse_fails(big, "longer");
    qtf_encoding e;
    cr_assert_eq(qtf_encoding_parse(&e, NULL), QTF_E_INVALID_ARG);
    cr_assert_eq(qtf_encoding_parse(NULL, "int4"), QTF_E_INVALID_ARG);
}

Test(format, canonical_text) {
    struct { const char *in, *out; } cases[] = {
        { "int8", "int8" },
        { "int8:group=row", "int8" },
        { "int8:group=32", "int8:group=32" },
        { "int4", "int4" },
        { "int4:group=row", "int4:group=row" },
        { "int4:zstd=1,asym,group=128", "int4:group=128,asym,zstd" },
        { "int4:search,scale=f32,group=tensor", "int4:group=tensor,scale=f32,search" },
        { "nf4:dq", "nf4:dq" },
        { "nf4:group=64,dq", "nf4:dq" },
        { "fp4:group=32,scale=bf16,zstd=7", "fp4:group=32,scale=bf16,zstd=7" },
        { "pal3:rowscale,rows=8", "pal3:rows=8,rowscale" },
        { "pal8:dim=2,lut=f32,rows=tensor,group=128,dq", "pal8:group=128,dq,lut=f32,dim=2" },
        { "pal1:rowscale,dq,lut=int8", "pal1:dq,rowscale,lut=int8" },
        { "mxfp4:zstd", "mxfp4:zstd" },
        { "Q4_1", "q4_1" },
        { "raw:BOOL,zstd=22", "raw:bool,zstd=22" },
        { "raw:f8_e4m3", "raw:f8_e4m3" },
        { "bf16:zstd=1", "bf16:zstd" },
        { "bf16:zstd=3", "bf16:zstd=3" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qtf_encoding e = ts_parse(cases[i].in);
        char buf[64];
        cr_assert_eq(qtf_encoding_format(buf, sizeof buf, &e), QTF_OK, "%s", cases[i].in);
        cr_assert_str_eq(buf, cases[i].out, "format(parse(\"%s\"))", cases[i].in);
    }
}

Test(format, longest_text_fits_64_bytes_and_small_buffers_fail) {
    qtf_encoding e = ts_parse("pal8:group=4294967292,dq,rows=4294967295,lut=int8,dim=4,zstd=22");
    char buf[64];
    cr_assert_eq(qtf_encoding_format(buf, sizeof buf, &e), QTF_OK);
    cr_assert_eq(strlen(buf), 63);
    cr_assert_eq(qtf_encoding_format(buf, 63, &e), QTF_E_INVALID_ARG);
    cr_assert_eq(buf[0], '\0');
    cr_assert_eq(qtf_encoding_format(buf, 0, &e), QTF_E_INVALID_ARG);
    e = ts_parse("int4");
    cr_assert_eq(qtf_encoding_format(buf, 5, &e), QTF_OK);
    cr_assert_str_eq(buf, "int4");
    cr_assert_eq(qtf_encoding_format(buf, 4, &e), QTF_E_INVALID_ARG);
}

Test(format, invalid_encodings_are_refused) {
    char buf[64];
    qtf_encoding e = ts_parse("int4");
    e.bits = 9;
    cr_assert_eq(qtf_encoding_format(buf, sizeof buf, &e), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "bits") != NULL);
    e = ts_parse("f16");
    e.group = 32;
    cr_assert_eq(qtf_encoding_format(buf, sizeof buf, &e), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "group") != NULL);
    e = ts_parse("int4");
    e.id = (qtf_encoding_id)77;
    cr_assert_eq(qtf_encoding_format(buf, sizeof buf, &e), QTF_E_UNKNOWN_ENCODING);
}

/* Every combination of candidate option values for every name: whatever
 * parses must format to a text that parses back to the same encoding, and
 * formatting is idempotent. */
Test(format, round_trip_over_all_option_combinations) {
    static const char *const group[] = { NULL, "group=1", "group=7", "group=32", "group=64",
                                         "group=row", "group=tensor", "group=4294967294" };
    static const char *const sym[] = { NULL, "sym", "asym" };
    static const char *const scale[] = { NULL, "scale=f16", "scale=bf16", "scale=f32" };
    static const char *const dq[] = { NULL, "dq" };
    static const char *const rows[] = { NULL, "rows=1", "rows=8", "rows=tensor" };
    static const char *const rowscale[] = { NULL, "rowscale" };
    static const char *const lut[] = { NULL, "lut=f16", "lut=f32", "lut=int8" };
    static const char *const dim[] = { NULL, "dim=1", "dim=2", "dim=4" };
    static const char *const search[] = { NULL, "rtn", "search", "opt" };
    static const char *const zstd[] = { NULL, "zstd", "zstd=1", "zstd=3", "zstd=22" };
    static const char *const rawt[] = { NULL, "i8", "u64", "bool", "f64", "f8_e5m2" };
    const char *const *lists[] = { group, sym, scale, dq, rows, rowscale, lut, dim, search, zstd,
                                   rawt };
    const size_t sizes[] = { 8, 3, 4, 2, 4, 2, 4, 4, 4, 5, 6 };
    enum { N_LISTS = 11 };
    unsigned long parsed = 0, tried = 0;
    for (size_t ni = 0; ni < sizeof all_names / sizeof all_names[0]; ni++) {
        const char *name = all_names[ni];
        int pal = strncmp(name, "pal", 3) == 0, is_int = strncmp(name, "int", 3) == 0;
        int codebook = !strcmp(name, "nf4") || !strcmp(name, "fp4");
        int raw = !strcmp(name, "raw");
        /* Which lists vary for this name (the others stay unset, plus zstd
         * always varies); inapplicable lists are still tried one value at a
         * time below, to check that they fail. */
        int vary[N_LISTS] = { 0 };
        vary[9] = 1;
        if (is_int || codebook) vary[0] = vary[2] = vary[3] = vary[8] = 1;
        if (is_int) vary[1] = 1;
        if (pal) vary[0] = vary[3] = vary[4] = vary[5] = vary[6] = vary[7] = vary[8] = 1;
        if (raw) vary[10] = 1;
        size_t idx[N_LISTS] = { 0 };
        for (;;) {
            char text[256];
            size_t at = (size_t)snprintf(text, sizeof text, "%s", name);
            int first = 1;
            for (int l = 0; l < N_LISTS; l++) {
                const char *o = lists[l][idx[l]];
                if (!o) continue;
                at += (size_t)snprintf(text + at, sizeof text - at, "%c%s", first ? ':' : ',', o);
                first = 0;
            }
            tried++;
            qtf_encoding e;
            qtf_status st = qtf_encoding_parse(&e, text);
            cr_assert(st == QTF_OK || st == QTF_E_PARSE, "%s: %s", text, qtf_status_name(st));
            if (st == QTF_OK) {
                parsed++;
                char canon[64], again[64];
                cr_assert_eq(qtf_encoding_format(canon, sizeof canon, &e), QTF_OK, "%s", text);
                qtf_encoding e2 = ts_parse(canon);
                cr_assert(enc_equal(&e, &e2), "\"%s\" -> \"%s\" parses differently", text,
                          canon);
                cr_assert_eq(qtf_encoding_format(again, sizeof again, &e2), QTF_OK);
                cr_assert_str_eq(canon, again);
            }
            int l = 0;
            for (; l < N_LISTS; l++) {
                if (!vary[l]) continue;
                if (++idx[l] < sizes[l]) break;
                idx[l] = 0;
            }
            if (l == N_LISTS) break;
        }
        /* one inapplicable option at a time must fail */
        for (int l = 0; l < N_LISTS; l++) {
            if (vary[l]) continue;
            for (size_t v = 1; v < sizes[l]; v++) {
                char text[128];
                snprintf(text, sizeof text, "%s:%s", name, lists[l][v]);
                if (raw) snprintf(text, sizeof text, "raw:i8,%s", lists[l][v]);
                parse_fails(text, "valid options");
            }
        }
    }
    cr_assert_gt(parsed, 10000, "only %lu of %lu combinations parsed", parsed, tried);
}

/* spec/encodings/palettized.md: a group that is not a multiple of dim is an
 * invalid combination, refused when parsed, not only when laid out. */
Test(parse, pal_group_must_be_a_multiple_of_dim) {
    parse_fails("pal4:group=6,dim=4", "multiple of dim");
    parse_fails("pal8:group=4294967294,dim=4", "multiple of dim");
    qtf_encoding e = ts_parse("pal4:group=8,dim=4");
    e.group = 6;
    char buf[64];
    cr_assert_eq(qtf_encoding_format(buf, sizeof buf, &e), QTF_E_ENCODING);
    cr_assert(strstr(qtf_error_detail(), "multiple of dim") != NULL, "%s", qtf_error_detail());
}
