/* The restricted unpickler (torch state dicts only, never executing
 * anything), the zip reader, and pytorch_model.bin sources built from them. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/common.h"
#include "support/source.h"
#include "support/container.h"
#include "support/files.h"

#include "checkpoint/source.h"
#include "checkpoint/source_internal.h"

static char *dir;
static void setup(void) { dir = tu_mkdtemp(); }
static void teardown(void) { tu_rmtree(dir); }
TestSuite(pickle, .init = setup, .fini = teardown);

/* --- building pickles ---------------------------------------------------------- */

typedef struct pk {
    unsigned char b[16384];
    size_t n;
} pk;

static void raw(pk *p, const void *s, size_t n) {
    cr_assert(p->n + n <= sizeof p->b);
    memcpy(p->b + p->n, s, n);
    p->n += n;
}
static void op(pk *p, unsigned c) {
    unsigned char b = (unsigned char)c;
    raw(p, &b, 1);
}
static void ustr(pk *p, const char *s) {
    unsigned char h[5] = {'X'};
    qtf__st32(h + 1, (uint32_t)strlen(s));
    raw(p, h, 5);
    raw(p, s, strlen(s));
}
static void sstr(pk *p, const char *s) { /* SHORT_BINUNICODE */
    op(p, 0x8c);
    op(p, (unsigned)strlen(s));
    raw(p, s, strlen(s));
}
static void pint(pk *p, uint32_t v) {
    unsigned char h[5];
    if (v < 256) {
        h[0] = 'K';
        h[1] = (unsigned char)v;
        raw(p, h, 2);
    } else if (v < 65536) {
        h[0] = 'M';
        qtf__st16(h + 1, (uint16_t)v);
        raw(p, h, 3);
    } else {
        h[0] = 'J';
        qtf__st32(h + 1, v);
        raw(p, h, 5);
    }
}
static void global(pk *p, const char *mod, const char *name) {
    op(p, 'c');
    raw(p, mod, strlen(mod));
    op(p, '\n');
    raw(p, name, strlen(name));
    op(p, '\n');
}

typedef struct tspec {
    const char *name, *cls, *key;
    uint32_t numel, offset, nd, dims[4], strides[4];
} tspec;

/* What torch.save writes for one state-dict entry (protocol 2). */
static void tensor(pk *p, const tspec *t) {
    ustr(p, t->name);
    global(p, "torch._utils", "_rebuild_tensor_v2");
    op(p, '(');
    op(p, '(');
    ustr(p, "storage");
    global(p, "torch", t->cls);
    ustr(p, t->key);
    ustr(p, "cpu");
    pint(p, t->numel);
    op(p, 't');
    op(p, 'Q');
    pint(p, t->offset);
    op(p, '(');
    for (uint32_t d = 0; d < t->nd; d++) pint(p, t->dims[d]);
    op(p, 't');
    op(p, '(');
    for (uint32_t d = 0; d < t->nd; d++) pint(p, t->strides[d]);
    op(p, 't');
    op(p, 0x89);
    global(p, "collections", "OrderedDict");
    op(p, ')');
    op(p, 'R');
    op(p, 't');
    op(p, 'R');
}

static void state_dict(pk *p, const tspec *t, int n) {
    p->n = 0;
    op(p, 0x80);
    op(p, 2);
    op(p, '}');
    op(p, '(');
    for (int k = 0; k < n; k++) tensor(p, &t[k]);
    op(p, 'u');
    op(p, '.');
}

static const tspec two[] = {
    {"w", "FloatStorage", "0", 6, 0, 2, {2, 3}, {3, 1}},
    {"b", "HalfStorage", "1", 4, 1, 1, {3}, {1}},
};

static qtf_status load(const pk *p, qtf__pkl_state_dict *sd) {
    return qtf__pickle_load_state_dict(sd, p->b, p->n, "m.bin: archive/data.pkl");
}

static void expect_reject(const pk *p, qtf_status want, const char *needle) {
    qtf__pkl_state_dict sd;
    qtf_status st = load(p, &sd);
    cr_assert_eq(st, want, "got %s: %s", qtf_status_name(st), qtf_error_detail());
    cr_assert_eq(sd.n, 0);
    cr_assert(strstr(qtf_error_detail(), "m.bin: archive/data.pkl"), "%s", qtf_error_detail());
    if (needle) cr_assert(strstr(qtf_error_detail(), needle), "'%s' lacks '%s'",
                          qtf_error_detail(), needle);
}

Test(pickle, torch_protocol2_state_dict) {
    pk p;
    state_dict(&p, two, 2);
    qtf__pkl_state_dict sd;
    cr_assert_eq(load(&p, &sd), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(sd.n, 2);
    cr_assert_str_eq(sd.tensors[0].name, "w");
    cr_assert_str_eq(sd.tensors[0].storage_key, "0");
    cr_assert_eq(sd.tensors[0].dtype, QTF_DTYPE_F32);
    cr_assert_eq(sd.tensors[0].storage_numel, 6);
    cr_assert_eq(sd.tensors[0].n_dims, 2);
    cr_assert_eq(sd.tensors[0].dims[1], 3);
    cr_assert_eq(sd.tensors[0].strides[0], 3);
    cr_assert_eq(sd.tensors[1].dtype, QTF_DTYPE_F16);
    cr_assert_eq(sd.tensors[1].storage_offset, 1);
    qtf__pkl_state_dict_free(&sd);
}

Test(pickle, protocol4_ordered_dict_with_metadata_and_parameters) {
    pk p = {.n = 0};
    op(&p, 0x80);
    op(&p, 4);
    op(&p, 0x95);
    unsigned char frame[8] = {0};
    raw(&p, frame, 8);
    sstr(&p, "collections");
    op(&p, 0x94);
    sstr(&p, "OrderedDict");
    op(&p, 0x94);
    op(&p, 0x93);
    op(&p, 0x94);
    op(&p, ')');
    op(&p, 'R');
    op(&p, 0x94); /* memo 3: the state dict */
    op(&p, '(');
    sstr(&p, "p");
    /* _rebuild_parameter(_rebuild_tensor_v2(...), True, OrderedDict()) */
    global(&p, "torch._utils", "_rebuild_parameter");
    op(&p, '(');
    global(&p, "torch._utils", "_rebuild_tensor_v2");
    op(&p, '(');
    op(&p, '(');
    sstr(&p, "storage");
    global(&p, "torch", "BFloat16Storage");
    sstr(&p, "7");
    sstr(&p, "cpu");
    pint(&p, 70000);
    op(&p, 't');
    op(&p, 'Q');
    op(&p, 0x8a); /* LONG1: 65536 */
    op(&p, 3);
    raw(&p, "\x00\x00\x01", 3);
    pint(&p, 4);
    op(&p, 0x85);
    pint(&p, 1);
    op(&p, 0x85);
    op(&p, 0x88);
    op(&p, 'h');
    op(&p, 2); /* the OrderedDict class from the memo */
    op(&p, ')');
    op(&p, 'R');
    op(&p, 'N'); /* metadata argument (7th) */
    op(&p, 't');
    op(&p, 'R');
    op(&p, 0x88);
    op(&p, '}');
    op(&p, 't');
    op(&p, 'R');
    sstr(&p, "q");
    op(&p, 'j'); /* LONG_BINGET 4: not set -> fix below */
    size_t at = p.n;
    raw(&p, "\x00\x00\x00\x00", 4);
    op(&p, 'u');
    /* BUILD with state {'_metadata': {}} */
    op(&p, '}');
    sstr(&p, "_metadata");
    op(&p, '}');
    op(&p, 's');
    op(&p, 'b');
    op(&p, '.');
    /* "q" shares "p"'s tensor: point LONG_BINGET at a memo slot holding it. */
    qtf__pkl_state_dict sd;
    qtf__st32(p.b + at, 99);
    expect_reject(&p, QTF_E_VALUE, "memo index 99 was never stored");
    /* Put the tensor in the memo right after it is built (insert BINPUT 9). */
    pk q = {.n = 0};
    size_t cut = at - 1 - 3; /* before SHORT_BINUNICODE "q" */
    raw(&q, p.b, cut);
    op(&q, 'q');
    op(&q, 9);
    raw(&q, p.b + cut, p.n - cut);
    qtf__st32(q.b + at + 2, 9);
    cr_assert_eq(load(&q, &sd), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(sd.n, 2);
    cr_assert_str_eq(sd.tensors[0].name, "p");
    cr_assert_str_eq(sd.tensors[1].name, "q");
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(sd.tensors[k].dtype, QTF_DTYPE_BF16);
        cr_assert_eq(sd.tensors[k].storage_numel, 70000);
        cr_assert_eq(sd.tensors[k].storage_offset, 65536);
        cr_assert_eq(sd.tensors[k].dims[0], 4);
        cr_assert_str_eq(sd.tensors[k].storage_key, "7");
    }
    qtf__pkl_state_dict_free(&sd);
}

Test(pickle, os_system_global_is_refused_with_offset) {
    pk p = {.n = 0};
    op(&p, 0x80);
    op(&p, 2);
    global(&p, "os", "system");
    ustr(&p, "echo pwned");
    op(&p, 0x85);
    op(&p, 'R');
    op(&p, '.');
    expect_reject(&p, QTF_E_VALUE, "offset 2: global 'os.system' is not allowed (only torch "
                  "tensors and OrderedDict state dicts are accepted)");
}

Test(pickle, stack_global_of_builtins_is_refused) {
    pk p = {.n = 0};
    op(&p, 0x80);
    op(&p, 4);
    sstr(&p, "builtins");
    sstr(&p, "eval");
    op(&p, 0x93);
    op(&p, '.');
    expect_reject(&p, QTF_E_VALUE, "global 'builtins.eval' is not allowed");
    p.n = 0;
    global(&p, "torch", "load");
    expect_reject(&p, QTF_E_VALUE, "global 'torch.load'");
    p.n = 0;
    global(&p, "collections\x01", "OrderedDict");
    expect_reject(&p, QTF_E_VALUE, "collections\\x01");
}

Test(pickle, reduce_on_a_non_callable_or_storage_class) {
    pk p = {.n = 0};
    ustr(&p, "os.system");
    op(&p, ')');
    op(&p, 'R');
    op(&p, '.');
    expect_reject(&p, QTF_E_VALUE, "offset 15: REDUCE of a str");
    p.n = 0;
    global(&p, "torch", "FloatStorage");
    op(&p, ')');
    op(&p, 'R');
    op(&p, '.');
    expect_reject(&p, QTF_E_VALUE, "storage class cannot be called");
    p.n = 0;
    global(&p, "torch._utils", "_rebuild_tensor_v2");
    pint(&p, 1);
    op(&p, 0x85);
    op(&p, 'R');
    op(&p, '.');
    expect_reject(&p, QTF_E_PARSE, "_rebuild_tensor_v2 expects 6 or 7 arguments");
}

Test(pickle, unknown_opcodes_are_refused) {
    /* INST, OBJ, NEWOBJ, EXT1, BINBYTES, PERSID (text): all able to build objects. */
    const unsigned ops[] = {'i', 'o', 0x81, 0x82, 'B', 'P', 'S', 'I', 0x92, 0x96, 0xFF};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        pk p = {.n = 0};
        op(&p, 0x80);
        op(&p, 2);
        op(&p, ops[k]);
        op(&p, '.');
        char needle[64];
        snprintf(needle, sizeof needle, "offset 2: opcode 0x%02X is not accepted", ops[k]);
        expect_reject(&p, QTF_E_PARSE, needle);
    }
}

Test(pickle, empty_tuple_from_a_mark_on_an_empty_stack) {
    /* Found by fuzzing: TUPLE before anything was ever pushed. */
    pk p = {.n = 0};
    raw(&p, "(t.", 3);
    expect_reject(&p, QTF_E_PARSE, "holds a tuple");
}

Test(pickle, memo_out_of_range) {
    pk p = {.n = 0};
    op(&p, 'N');
    op(&p, 'q');
    op(&p, 0);
    op(&p, 'h');
    op(&p, 5);
    op(&p, '.');
    expect_reject(&p, QTF_E_VALUE, "offset 3: memo index 5 was never stored");
    p.n = 0;
    op(&p, 'N');
    op(&p, 'r');
    raw(&p, "\xff\xff\xff\xff", 4);
    op(&p, '.');
    expect_reject(&p, QTF_E_LIMIT, "memo index too large");
    p.n = 0;
    op(&p, 'q'); /* BINPUT with nothing on the stack */
    op(&p, 0);
    op(&p, '.');
    expect_reject(&p, QTF_E_PARSE, "stack underflow");
}

Test(pickle, deep_nesting_is_capped) {
    pk p = {.n = 0};
    for (int k = 0; k < 1000; k++) op(&p, '(');
    op(&p, '.');
    expect_reject(&p, QTF_E_LIMIT, "offset 64: MARKs nested deeper than 64");
    /* Deep containers without marks cost no recursion: 5000 nested tuples
     * are fine as values, and refused as a state dict. */
    p.n = 0;
    op(&p, 'N');
    for (int k = 0; k < 5000; k++) op(&p, 0x85);
    op(&p, '.');
    expect_reject(&p, QTF_E_PARSE, "holds a tuple, expected a state dict");
}

Test(pickle, truncated_and_oversized_operands) {
    pk p;
    state_dict(&p, two, 2);
    for (size_t cut = 0; cut < p.n; cut++) {
        qtf__pkl_state_dict sd;
        qtf_status st = qtf__pickle_load_state_dict(&sd, p.b, cut, "x");
        cr_assert_neq(st, QTF_OK, "prefix of %zu bytes accepted", cut);
    }
    pk q = {.n = 0};
    op(&q, 'X');
    raw(&q, "\xff\xff\xff\xff", 4);
    raw(&q, "abc.", 4);
    expect_reject(&q, QTF_E_TRUNCATED, "offset 0: opcode operand runs past the end");
    q.n = 0;
    op(&q, 0x8d);
    raw(&q, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
    expect_reject(&q, QTF_E_TRUNCATED, NULL);
    q.n = 0;
    op(&q, 0x8a);
    op(&q, 9);
    raw(&q, "123456789.", 10);
    expect_reject(&q, QTF_E_LIMIT, "LONG1 integer wider than 64 bits");
    q.n = 0;
    op(&q, 0x95);
    raw(&q, "\x00\x00\x00\x00\x00\x00\x01\x00", 8);
    op(&q, '.');
    expect_reject(&q, QTF_E_TRUNCATED, "FRAME longer");
    q.n = 0;
    op(&q, 'c');
    for (int k = 0; k < 300; k++) op(&q, 'a');
    op(&q, '\n');
    expect_reject(&q, QTF_E_PARSE, "GLOBAL module name unterminated or too long");
    q.n = 0;
    op(&q, 0x80);
    op(&q, 6);
    expect_reject(&q, QTF_E_VERSION, "protocol");
}

Test(pickle, state_dict_shape_errors) {
    pk p = {.n = 0};
    op(&p, '}');
    ustr(&p, "step");
    pint(&p, 3);
    op(&p, 's');
    op(&p, '.');
    expect_reject(&p, QTF_E_PARSE, "state dict entry 'step' is a int, expected a tensor");
    tspec bad = two[0];
    bad.nd = 2;
    bad.dims[0] = 2;
    bad.strides[0] = 3;
    state_dict(&p, &bad, 1);
    p.b[p.n - 1] = 'u'; /* SETITEMS twice: the mark was consumed */
    op(&p, '.');
    expect_reject(&p, QTF_E_PARSE, "no MARK");
    tspec key = two[0];
    key.key = "../etc/passwd";
    state_dict(&p, &key, 1);
    expect_reject(&p, QTF_E_PARSE, "storage key must be");
    p.n = 0;
    op(&p, '}');
    ustr(&p, "");
    op(&p, 'N');
    op(&p, 's');
    op(&p, '.');
    expect_reject(&p, QTF_E_UTF8, "state dict key ''");
}

Test(pickle, shared_checkpoint_data_pkl) {
    const char *p = ts_checkpoint("aidreams-llama-260k-hf-pytorch-bin/pytorch_model.bin");
    if (!p) cr_skip_test("no shared checkpoints");
    size_t len;
    unsigned char *b = tu_read(p, &len);
    qtf__zip z;
    cr_assert_eq(qtf__zip_open_memory(&z, b, len, p), QTF_OK, "%s", qtf_error_detail());
    const qtf__zip_entry *e = qtf__zip_find(&z, "pytorch_model/data.pkl");
    cr_assert_not_null(e);
    cr_assert_eq(e->size, 3964);
    cr_assert_eq(e->data_offset % 64, 0, "torch aligns entries to 64 bytes");
    qtf__pkl_state_dict sd;
    cr_assert_eq(qtf__pickle_load_state_dict(&sd, b + e->data_offset, e->size, "data.pkl"),
                 QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(sd.n, 38);
    cr_assert_str_eq(sd.tensors[0].name, "model.embed_tokens.weight");
    cr_assert_eq(sd.tensors[0].storage_numel, 32768);
    cr_assert_eq(sd.tensors[0].dims[0], 512);
    cr_assert_eq(sd.tensors[0].strides[0], 64);
    qtf__pkl_state_dict_free(&sd);
    qtf__zip_free(&z);
    free(b);
}

/* --- zip and pytorch_model.bin ------------------------------------------------------ */


static const float w_data[6] = {1, 2, 3, 4, 5, 6};
static const uint16_t b_data[4] = {0x3C00, 0x4000, 0x4200, 0x4400}; /* f16 1 2 3 4 */

static char *write_bin(const char *name, const tspec *t, int nt, const char *byteorder,
                       unsigned method) {
    pk p;
    state_dict(&p, t, nt);
    ts_zip_entry e[4] = {
        {"archive/data.pkl", p.b, p.n, method},
        {"archive/data/0", w_data, sizeof w_data, 0},
        {"archive/data/1", b_data, sizeof b_data, 0},
        {"archive/byteorder", byteorder, byteorder ? strlen(byteorder) : 0, 0},
    };
    char *path = tu_path(dir, name);
    ts_write_zip(path, e, byteorder ? 4 : 3, 0);
    return path;
}

static void expect_bin_fails(const tspec *t, int nt, const char *byteorder, unsigned method,
                             qtf_status want, const char *needle) {
    char *p = write_bin("pytorch_model.bin", t, nt, byteorder, method);
    qtf_source *s = NULL;
    qtf_status st = qtf_source_open(&s, p);
    cr_assert_eq(st, want, "got %s: %s", qtf_status_name(st), qtf_error_detail());
    cr_assert_null(s);
    cr_assert(strstr(qtf_error_detail(), p), "detail names the file: %s", qtf_error_detail());
    if (needle) cr_assert(strstr(qtf_error_detail(), needle), "'%s' lacks '%s'",
                          qtf_error_detail(), needle);
    free(p);
}

Test(pickle, torch_bin_reads_values_and_views) {
    const tspec t[3] = {
        two[0],
        two[1],
        {"view", "FloatStorage", "0", 6, 4, 1, {2}, {1}}, /* elements 4..5 of storage 0 */
    };
    char *p = write_bin("pytorch_model.bin", t, 3, "little", 0);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, dir), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_TORCH);
    cr_assert_eq(qtf_source_tensor_count(s), 3);
    uint64_t i;
    float f[6];
    cr_assert_eq(qtf_source_tensor_find(&i, s, "w"), QTF_OK);
    cr_assert_eq(qtf_source_read_f32(f, 6, s, i, 1), QTF_OK);
    cr_assert_eq(memcmp(f, w_data, sizeof w_data), 0);
    cr_assert_eq(qtf_source_tensor_find(&i, s, "b"), QTF_OK);
    cr_assert_eq(qtf_source_tensor_get(s, i)->dtype, QTF_DTYPE_F16);
    cr_assert_eq(qtf_source_read_f32(f, 3, s, i, 1), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(f[0], 2.0f, "storage offset 1 skips the first element");
    cr_assert_eq(f[2], 4.0f);
    cr_assert_eq(qtf_source_tensor_find(&i, s, "view"), QTF_OK);
    cr_assert_eq(qtf_source_read_f32(f, 2, s, i, 1), QTF_OK);
    cr_assert_eq(f[0], 5.0f);
    cr_assert_eq(f[1], 6.0f);
    /* Offset order: w (storage 0 at 0), view (storage 0 + 16), b (storage 1 + 2). */
    cr_assert_str_eq(qtf_source_tensor_get(s, 0)->name, "w");
    cr_assert_str_eq(qtf_source_tensor_get(s, 1)->name, "view");
    qtf_source_close(s);
    free(p);
}

Test(pickle, torch_bin_non_contiguous_strides) {
    tspec t = two[0];
    t.strides[0] = 1;
    t.strides[1] = 2; /* a transpose */
    expect_bin_fails(&t, 1, "little", 0, QTF_E_SHAPE, "tensor 'w': strides (1,2) for shape (2,3) "
                     "are not C-contiguous");
}

Test(pickle, torch_bin_size_one_dims_ignore_strides) {
    tspec t = {"w", "FloatStorage", "0", 6, 0, 3, {1, 2, 3}, {999, 3, 1}};
    char *p = write_bin("pytorch_model.bin", &t, 1, NULL, 0);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, p), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_tensor_get(s, 0)->n_elements, 6);
    qtf_source_close(s);
    free(p);
}

Test(pickle, torch_bin_view_outside_storage) {
    tspec t = two[0];
    t.offset = 1; /* 1 + 6 > 6 */
    expect_bin_fails(&t, 1, "little", 0, QTF_E_OFFSET, "elements [1, +6) lie outside storage 0");
}

Test(pickle, torch_bin_storage_size_mismatch) {
    tspec t = two[0];
    t.numel = 7;
    t.dims[0] = 1;
    expect_bin_fails(&t, 1, "little", 0, QTF_E_SHAPE, "storage 0 holds 24 bytes, expected 7 "
                     "elements of F32");
}

Test(pickle, torch_bin_missing_storage) {
    tspec t = two[0];
    t.key = "5";
    expect_bin_fails(&t, 1, "little", 0, QTF_E_NOT_FOUND, "storage 'archive/data/5'");
}

Test(pickle, torch_bin_big_endian_refused) {
    expect_bin_fails(two, 2, "big", 0, QTF_E_BYTE_ORDER, "byteorder is 'big'");
}

Test(pickle, torch_bin_compressed_entry_refused) {
    expect_bin_fails(two, 2, "little", 8, QTF_E_UNSUPPORTED,
                     "'archive/data.pkl' is compressed (method 8)");
}

Test(pickle, torch_bin_duplicate_state_dict_key) {
    tspec t[2] = {two[0], two[0]};
    expect_bin_fails(t, 2, "little", 0, QTF_E_DUPLICATE, "tensor 'w' appears twice");
}

Test(pickle, zip_without_pickle_and_truncations) {
    ts_zip_entry e[1] = {{"archive/data/0", w_data, sizeof w_data, 0}};
    char *p = tu_path(dir, "x.bin");
    ts_write_zip(p, e, 1, 0);
    qtf_source *s = NULL;
    cr_assert_eq(qtf_source_open(&s, p), QTF_E_NOT_FOUND);
    cr_assert(strstr(qtf_error_detail(), "data.pkl"));
    free(p);
    /* Every truncation of a valid archive is refused without a crash. */
    p = write_bin("t.bin", two, 2, "little", 0);
    size_t len;
    unsigned char *b = tu_read(p, &len);
    for (size_t cut = 4; cut < len; cut += 7) {
        qtf__zip z;
        qtf_status st = qtf__zip_open_memory(&z, b, cut, "t.bin");
        if (st == QTF_OK) qtf__zip_free(&z);
        cr_assert_neq(st, QTF_OK, "prefix of %zu bytes accepted", cut);
    }
    /* Two entries at the same offset overlap. */
    size_t cd = qtf__ld32(b + len - 22 + 16);
    size_t second = cd + 46 + strlen("archive/data.pkl");
    qtf__st32(b + second + 42, 0);
    qtf__zip z;
    cr_assert_eq(qtf__zip_open_memory(&z, b, len, "t.bin"), QTF_E_OFFSET);
    cr_assert(strstr(qtf_error_detail(), "overlaps"), "%s", qtf_error_detail());
    free(b);
    free(p);
}

Test(pickle, sharded_torch_bins) {
    tspec a = two[0], b = two[1];
    char *p1 = write_bin("pytorch_model-00001-of-00002.bin", &a, 1, "little", 0);
    char *p2 = write_bin("pytorch_model-00002-of-00002.bin", &b, 1, "little", 0);
    char *ix = tu_path(dir, "pytorch_model.bin.index.json");
    const char *text = "{\"metadata\":{\"total_size\":30},\"weight_map\":{"
                       "\"w\":\"pytorch_model-00001-of-00002.bin\","
                       "\"b\":\"pytorch_model-00002-of-00002.bin\"}}";
    tu_write(ix, text, strlen(text));
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, dir), QTF_OK, "%s", qtf_error_detail());
    cr_assert_eq(qtf_source_get_kind(s), QTF_SOURCE_TORCH_SHARDED);
    cr_assert_eq(qtf_source_file_count(s), 2);
    cr_assert_str_eq(qtf_source_tensor_get(s, 0)->name, "w");
    cr_assert_str_eq(qtf_source_tensor_get(s, 1)->name, "b");
    qtf_source_close(s);
    free(p1);
    free(p2);
    free(ix);
}

Test(pickle, zip64_archive_reads_like_a_plain_one) {
    pk p;
    state_dict(&p, two, 2);
    ts_zip_entry e[3] = {
        {"archive/data.pkl", p.b, p.n, 0},
        {"archive/data/0", w_data, sizeof w_data, 0},
        {"archive/data/1", b_data, sizeof b_data, 0},
    };
    char *path = tu_path(dir, "z64.bin");
    ts_write_zip(path, e, 3, 1);
    qtf_source *s;
    cr_assert_eq(qtf_source_open(&s, path), QTF_OK, "%s", qtf_error_detail());
    uint64_t i;
    float f[6];
    cr_assert_eq(qtf_source_tensor_find(&i, s, "w"), QTF_OK);
    cr_assert_eq(qtf_source_read_f32(f, 6, s, i, 1), QTF_OK);
    cr_assert_eq(memcmp(f, w_data, sizeof w_data), 0);
    qtf_source_close(s);
    /* Without its ZIP64 locator the 0xFFFFFFFF fields cannot be resolved. */
    size_t len;
    unsigned char *b = tu_read(path, &len);
    memset(b + len - 22 - 20, 0, 4);
    qtf__zip z;
    cr_assert_eq(qtf__zip_open_memory(&z, b, len, "z64.bin"), QTF_E_HEADER);
    cr_assert(strstr(qtf_error_detail(), "no ZIP64 locator"), "%s", qtf_error_detail());
    free(b);
    free(path);
}
