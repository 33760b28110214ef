/* checkpoint/pickle.c — a restricted unpickler for torch state dicts.
 *
 * Python's unpickler runs arbitrary callables named in the stream; this one
 * runs none. It is a small stack machine that knows the opcodes torch.save
 * emits for a state dict and four kinds of globals (OrderedDict, the two
 * tensor rebuild functions, the typed storage classes), which it interprets
 * symbolically: a REDUCE of _rebuild_tensor_v2 yields a tensor description,
 * never a call. Anything else is refused with the offset of the opcode.
 *
 * Every value is a node in one array; containers refer to nodes by index, so
 * no structure is traversed recursively and shared references (memo) cost
 * nothing. Node, stack, memo and mark counts are capped before they grow. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source_internal.h"

#define MAX_NODES (1u << 21)
#define MAX_MEMO (1u << 21)
#define MAX_MARK_DEPTH 64u
#define MAX_GLOBAL_LINE 256u

enum kind {
    K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_TUPLE, K_LIST, K_DICT, K_GLOBAL, K_STORAGE, K_TENSOR
};

enum global {
    G_ORDERED_DICT = 1, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE
};

typedef struct node {
    uint8_t kind;
    uint8_t global;             /* K_GLOBAL: enum global */
    uint8_t dtype;              /* K_GLOBAL storage class, K_STORAGE */
    int64_t i;                  /* K_BOOL, K_INT, K_STORAGE numel, K_TENSOR index */
    uint64_t s_off, s_len;      /* K_STR, K_STORAGE key: slice of the input */
    uint32_t *kids;             /* K_TUPLE/K_LIST items; K_DICT key,value pairs */
    uint32_t n_kids, cap_kids;
} node;

typedef struct ptensor {
    uint32_t storage;           /* node index */
    uint64_t offset;
    uint32_t n_dims;
    uint64_t dims[QTF_MAX_DIMS];
    uint64_t strides[QTF_MAX_DIMS];
} ptensor;

typedef struct vm {
    const unsigned char *buf;
    size_t len;
    const char *label;
    node *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *stack;
    uint32_t sp, cap_stack;
    uint32_t marks[MAX_MARK_DEPTH];
    uint32_t n_marks;
    uint32_t *memo;             /* node + 1; 0 = unset */
    uint32_t cap_memo;
    uint32_t memo_count;        /* distinct indices set (MEMOIZE uses it) */
    ptensor *tensors;
    uint32_t n_tensors, cap_tensors;
    size_t op_at;               /* offset of the current opcode */
} vm;

static const char *kind_name(unsigned k) {
    static const char *const names[] = {"None", "bool", "int", "float", "str", "tuple", "list",
                                        "dict", "global", "storage", "tensor"};
    return k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static qtf_status fail(const vm *m, qtf_status st, const char *fmt, ...) QTF__PRINTF(3, 4);
static qtf_status fail(const vm *m, qtf_status st, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return qtf__error(st, "%s offset %zu: %s", m->label, m->op_at, what);
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem, uint32_t limit) {
    if (need <= *cap) return 1;
    if (need > limit) return 0;
    uint64_t c = *cap ? (uint64_t)*cap * 2 : 16;
    while (c < need) c *= 2;
    if (c > limit) c = limit;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q) return 0;
    *p = q;
    *cap = (uint32_t)c;
    return 1;
}

static qtf_status new_node(vm *m, uint32_t *out, unsigned kind) {
    if (!grow((void **)&m->nodes, &m->cap_nodes, m->n_nodes + 1, sizeof(node), MAX_NODES))
        return fail(m, m->n_nodes + 1 > MAX_NODES ? QTF_E_LIMIT : QTF_E_NOMEM,
                    "too many objects (limit 2097152) or out of memory");
    node *n = &m->nodes[m->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    *out = m->n_nodes++;
    return QTF_OK;
}

static qtf_status push(vm *m, uint32_t v) {
    if (!grow((void **)&m->stack, &m->cap_stack, m->sp + 1, sizeof(uint32_t), MAX_NODES))
        return fail(m, QTF_E_LIMIT, "stack too deep or out of memory");
    m->stack[m->sp++] = v;
    return QTF_OK;
}

static qtf_status push_new(vm *m, unsigned kind, uint32_t *out) {
    uint32_t v = 0;
    qtf_status st = new_node(m, &v, kind);
    if (!st) st = push(m, v);
    if (out) *out = v;
    return st;
}

/* Items above the innermost mark must not be popped by a non-mark opcode. */
static uint32_t floor_sp(const vm *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

static qtf_status pop(vm *m, uint32_t *out) {
    if (m->sp <= floor_sp(m)) return fail(m, QTF_E_PARSE, "stack underflow");
    *out = m->stack[--m->sp];
    return QTF_OK;
}

static qtf_status top(vm *m, uint32_t *out) {
    if (m->sp <= floor_sp(m)) return fail(m, QTF_E_PARSE, "stack underflow");
    *out = m->stack[m->sp - 1];
    return QTF_OK;
}

/* Pops the innermost mark; *first = stack index of the first item above it. */
static qtf_status pop_mark(vm *m, uint32_t *first) {
    if (m->n_marks == 0) return fail(m, QTF_E_PARSE, "no MARK on the stack");
    *first = m->marks[--m->n_marks];
    return QTF_OK;
}

static qtf_status add_kids(vm *m, uint32_t nd, const uint32_t *items, uint32_t count) {
    node *n = &m->nodes[nd];
    if (count == 0) return QTF_OK;
    if (!grow((void **)&n->kids, &n->cap_kids, n->n_kids + count, sizeof(uint32_t), MAX_NODES))
        return fail(m, QTF_E_LIMIT, "container too large or out of memory");
    memcpy(n->kids + n->n_kids, items, count * sizeof *items);
    n->n_kids += count;
    return QTF_OK;
}

static qtf_status make_tuple(vm *m, uint32_t first) {
    uint32_t count = m->sp - first, t = 0;
    const uint32_t *items = count ? m->stack + first : NULL; /* stack may not exist yet */
    qtf_status st = new_node(m, &t, K_TUPLE);
    if (!st) st = add_kids(m, t, items, count);
    if (st) return st;
    m->sp = first;
    return push(m, t);
}

static int str_eq(const vm *m, const node *n, const char *s) {
    size_t l = strlen(s);
    return n->kind == K_STR && n->s_len == l && memcmp(m->buf + n->s_off, s, l) == 0;
}

static const struct {
    const char *module, *name;
    uint8_t global;
    qtf_dtype dtype;
} allowed[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, QTF_DTYPE_NONE},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, QTF_DTYPE_NONE},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, QTF_DTYPE_NONE},
    {"torch", "FloatStorage", G_STORAGE, QTF_DTYPE_F32},
    {"torch", "HalfStorage", G_STORAGE, QTF_DTYPE_F16},
    {"torch", "BFloat16Storage", G_STORAGE, QTF_DTYPE_BF16},
    {"torch", "DoubleStorage", G_STORAGE, QTF_DTYPE_F64},
    {"torch", "LongStorage", G_STORAGE, QTF_DTYPE_I64},
    {"torch", "IntStorage", G_STORAGE, QTF_DTYPE_I32},
    {"torch", "ShortStorage", G_STORAGE, QTF_DTYPE_I16},
    {"torch", "CharStorage", G_STORAGE, QTF_DTYPE_I8},
    {"torch", "ByteStorage", G_STORAGE, QTF_DTYPE_U8},
    {"torch", "BoolStorage", G_STORAGE, QTF_DTYPE_BOOL},
};

static qtf_status push_global(vm *m, const unsigned char *mod, size_t mod_len,
                              const unsigned char *name, size_t name_len) {
    for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++) {
        if (strlen(allowed[k].module) == mod_len && memcmp(allowed[k].module, mod, mod_len) == 0 &&
            strlen(allowed[k].name) == name_len && memcmp(allowed[k].name, name, name_len) == 0) {
            uint32_t g;
            qtf_status st = push_new(m, K_GLOBAL, &g);
            if (st) return st;
            m->nodes[g].global = allowed[k].global;
            m->nodes[g].dtype = (uint8_t)allowed[k].dtype;
            return QTF_OK;
        }
    }
    char a[QTF__ESC_CAP], b[QTF__ESC_CAP];
    return qtf__error(QTF_E_VALUE, "%s offset %zu: global '%s.%s' is not allowed (only torch "
                      "tensors and OrderedDict state dicts are accepted)", m->label, m->op_at,
                      qtf__escape(a, sizeof a, mod, mod_len),
                      qtf__escape(b, sizeof b, name, name_len));
}

/* A tuple of non-negative ints into out[]; 0 on anything else. */
static int int_tuple(const vm *m, uint32_t nd, uint64_t *out, uint32_t *count) {
    const node *n = &m->nodes[nd];
    if (n->kind != K_TUPLE || n->n_kids > QTF_MAX_DIMS) return 0;
    for (uint32_t k = 0; k < n->n_kids; k++) {
        const node *v = &m->nodes[n->kids[k]];
        if (v->kind != K_INT || v->i < 0) return 0;
        out[k] = (uint64_t)v->i;
    }
    *count = n->n_kids;
    return 1;
}

static int is_dict_or_none(const node *n) { return n->kind == K_DICT || n->kind == K_NONE; }

static qtf_status rebuild_tensor(vm *m, const node *args) {
    /* (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
    if (args->n_kids != 6 && args->n_kids != 7)
        return fail(m, QTF_E_PARSE, "_rebuild_tensor_v2 expects 6 or 7 arguments");
    const node *a[7];
    for (uint32_t k = 0; k < args->n_kids; k++) a[k] = &m->nodes[args->kids[k]];
    ptensor t;
    memset(&t, 0, sizeof t);
    uint32_t ns = 0;
    if (a[0]->kind != K_STORAGE)
        return fail(m, QTF_E_PARSE, "_rebuild_tensor_v2: argument 1 is not a storage");
    if (a[1]->kind != K_INT || a[1]->i < 0)
        return fail(m, QTF_E_VALUE, "_rebuild_tensor_v2: storage offset is not an int >= 0");
    if (!int_tuple(m, args->kids[2], t.dims, &t.n_dims))
        return fail(m, QTF_E_SHAPE, "_rebuild_tensor_v2: size is not a tuple of at most 8 ints "
                    ">= 0");
    if (!int_tuple(m, args->kids[3], t.strides, &ns) || ns != t.n_dims)
        return fail(m, QTF_E_SHAPE, "_rebuild_tensor_v2: stride is not a tuple of ints >= 0 "
                    "matching the size");
    if (a[4]->kind != K_BOOL || !is_dict_or_none(a[5]) ||
        (args->n_kids == 7 && !is_dict_or_none(a[6])))
        return fail(m, QTF_E_PARSE, "_rebuild_tensor_v2: requires_grad must be a bool and "
                    "backward_hooks/metadata dicts");
    t.storage = args->kids[0];
    t.offset = (uint64_t)a[1]->i;
    if (!grow((void **)&m->tensors, &m->cap_tensors, m->n_tensors + 1, sizeof t, MAX_NODES))
        return fail(m, QTF_E_NOMEM, "out of memory");
    uint32_t out;
    qtf_status st = push_new(m, K_TENSOR, &out);
    if (st) return st;
    m->nodes[out].i = m->n_tensors;
    m->tensors[m->n_tensors++] = t;
    return QTF_OK;
}

static qtf_status op_reduce(vm *m) {
    uint32_t ai = 0, fi = 0;
    qtf_status st = pop(m, &ai);
    if (!st) st = pop(m, &fi);
    if (st) return st;
    const node *f = &m->nodes[fi], *args = &m->nodes[ai];
    if (f->kind != K_GLOBAL)
        return fail(m, QTF_E_VALUE, "REDUCE of a %s: only allowed globals may be called",
                    kind_name(f->kind));
    if (args->kind != K_TUPLE) return fail(m, QTF_E_PARSE, "REDUCE arguments are not a tuple");
    switch (f->global) {
    case G_ORDERED_DICT:
        if (args->n_kids != 0)
            return fail(m, QTF_E_PARSE, "OrderedDict must be created empty");
        return push_new(m, K_DICT, NULL);
    case G_REBUILD_TENSOR_V2:
        return rebuild_tensor(m, args);
    case G_REBUILD_PARAMETER: {
        /* (data, requires_grad, backward_hooks): the parameter is its data. */
        if (args->n_kids != 3 || m->nodes[args->kids[0]].kind != K_TENSOR ||
            m->nodes[args->kids[1]].kind != K_BOOL || !is_dict_or_none(&m->nodes[args->kids[2]]))
            return fail(m, QTF_E_PARSE, "_rebuild_parameter expects (tensor, bool, dict)");
        return push(m, args->kids[0]);
    }
    default:
        return fail(m, QTF_E_VALUE, "a storage class cannot be called");
    }
}

static qtf_status op_persid(vm *m) {
    uint32_t pi = 0;
    qtf_status st = pop(m, &pi);
    if (st) return st;
    const node *p = &m->nodes[pi];
    /* ('storage', storage_class, key, location, numel) */
    if (p->kind != K_TUPLE || p->n_kids != 5 || !str_eq(m, &m->nodes[p->kids[0]], "storage"))
        return fail(m, QTF_E_PARSE, "persistent id is not ('storage', class, key, location, "
                    "numel)");
    const node *cls = &m->nodes[p->kids[1]], *key = &m->nodes[p->kids[2]];
    const node *loc = &m->nodes[p->kids[3]], *numel = &m->nodes[p->kids[4]];
    if (cls->kind != K_GLOBAL || cls->global != G_STORAGE)
        return fail(m, QTF_E_PARSE, "persistent id: storage class is not a torch storage type");
    if (key->kind != K_STR || key->s_len == 0 || key->s_len > 256)
        return fail(m, QTF_E_PARSE, "persistent id: storage key is not a short string");
    for (uint64_t k = 0; k < key->s_len; k++) {
        unsigned char c = m->buf[key->s_off + k];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '_' || c == '-'))
            return fail(m, QTF_E_PARSE, "persistent id: storage key must be [A-Za-z0-9_-]+");
    }
    if (loc->kind != K_STR || numel->kind != K_INT || numel->i < 0)
        return fail(m, QTF_E_PARSE, "persistent id: location must be a string and numel an int "
                    ">= 0");
    uint32_t s;
    uint8_t dt = cls->dtype;
    uint64_t off = key->s_off, len = key->s_len;
    int64_t count = numel->i;
    st = push_new(m, K_STORAGE, &s);
    if (st) return st;
    m->nodes[s].dtype = dt;
    m->nodes[s].s_off = off;
    m->nodes[s].s_len = len;
    m->nodes[s].i = count;
    return QTF_OK;
}

static qtf_status dict_set(vm *m, uint32_t di, const uint32_t *pairs, uint32_t count) {
    if (m->nodes[di].kind != K_DICT)
        return fail(m, QTF_E_PARSE, "SETITEM(S) on a %s, not a dict",
                    kind_name(m->nodes[di].kind));
    if (count % 2) return fail(m, QTF_E_PARSE, "SETITEMS with an odd number of items");
    return add_kids(m, di, pairs, count);
}

static qtf_status list_append(vm *m, uint32_t li, const uint32_t *items, uint32_t count) {
    if (m->nodes[li].kind != K_LIST) return fail(m, QTF_E_PARSE, "APPEND(S) on a non-list");
    return add_kids(m, li, items, count);
}

/* Bytes of the operand at the current position; fails when truncated. */
#define NEED(n)                                                                       \
    do {                                                                              \
        if ((uint64_t)(n) > (uint64_t)(m->len - pos))                                 \
            return fail(m, QTF_E_TRUNCATED, "opcode operand runs past the end of data"); \
    } while (0)

static qtf_status memo_put(vm *m, uint64_t idx) {
    uint32_t v = 0;
    qtf_status st = top(m, &v);
    if (st) return st;
    if (idx >= MAX_MEMO) return fail(m, QTF_E_LIMIT, "memo index too large");
    if (idx >= m->cap_memo) {
        uint32_t cap = m->cap_memo;
        if (!grow((void **)&m->memo, &cap, (uint32_t)idx + 1, sizeof(uint32_t), MAX_MEMO))
            return fail(m, QTF_E_NOMEM, "out of memory for the memo");
        memset(m->memo + m->cap_memo, 0, (cap - m->cap_memo) * sizeof(uint32_t));
        m->cap_memo = cap;
    }
    if (m->memo[idx] == 0) m->memo_count++;
    m->memo[idx] = v + 1;
    return QTF_OK;
}

static qtf_status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->cap_memo || m->memo[idx] == 0)
        return fail(m, QTF_E_VALUE, "memo index %llu was never stored", (unsigned long long)idx);
    return push(m, m->memo[idx] - 1);
}

/* A newline-terminated text operand of at most MAX_GLOBAL_LINE bytes. */
static int line(const vm *m, size_t *pos, size_t *len) {
    size_t rem = m->len - *pos;
    const unsigned char *nl = memchr(m->buf + *pos, '\n', rem < MAX_GLOBAL_LINE ? rem
                                                                               : MAX_GLOBAL_LINE);
    if (!nl) return 0;
    *len = (size_t)(nl - (m->buf + *pos));
    *pos += *len + 1;
    return 1;
}

static qtf_status run(vm *m, uint32_t *result) {
    size_t pos = 0;
    qtf_status st = QTF_OK;
    while (!st) {
        if (pos >= m->len) {
            m->op_at = pos;
            return fail(m, QTF_E_TRUNCATED, "data ends without STOP");
        }
        m->op_at = pos;
        unsigned op = m->buf[pos++];
        uint32_t a = 0, b = 0, first = 0, t = 0;
        switch (op) {
        case 0x80: /* PROTO */
            NEED(1);
            if (m->buf[pos] > 5) return fail(m, QTF_E_VERSION, "pickle protocol above 5");
            pos++;
            break;
        case 0x95: /* FRAME: framing only matters to streaming readers */
            NEED(8);
            if (qtf__ld64(m->buf + pos) > m->len - pos - 8)
                return fail(m, QTF_E_TRUNCATED, "FRAME longer than the data");
            pos += 8;
            break;
        case 'c': { /* GLOBAL "module\nname\n" */
            size_t mod = pos, mod_len, name, name_len;
            if (!line(m, &pos, &mod_len))
                return fail(m, QTF_E_PARSE, "GLOBAL module name unterminated or too long");
            name = pos;
            if (!line(m, &pos, &name_len))
                return fail(m, QTF_E_PARSE, "GLOBAL name unterminated or too long");
            st = push_global(m, m->buf + mod, mod_len, m->buf + name, name_len);
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            st = pop(m, &b);
            if (!st) st = pop(m, &a);
            if (st) return st;
            if (m->nodes[a].kind != K_STR || m->nodes[b].kind != K_STR)
                return fail(m, QTF_E_PARSE, "STACK_GLOBAL operands are not strings");
            st = push_global(m, m->buf + m->nodes[a].s_off, (size_t)m->nodes[a].s_len,
                             m->buf + m->nodes[b].s_off, (size_t)m->nodes[b].s_len);
            break;
        case 'q': /* BINPUT */
            NEED(1);
            st = memo_put(m, m->buf[pos++]);
            break;
        case 'r': /* LONG_BINPUT */
            NEED(4);
            st = memo_put(m, qtf__ld32(m->buf + pos));
            pos += 4;
            break;
        case 0x94: /* MEMOIZE */
            st = memo_put(m, m->memo_count);
            break;
        case 'h': /* BINGET */
            NEED(1);
            st = memo_get(m, m->buf[pos++]);
            break;
        case 'j': /* LONG_BINGET */
            NEED(4);
            st = memo_get(m, qtf__ld32(m->buf + pos));
            pos += 4;
            break;
        case '}': st = push_new(m, K_DICT, NULL); break;
        case ')': st = push_new(m, K_TUPLE, NULL); break;
        case ']': st = push_new(m, K_LIST, NULL); break;
        case 'N': st = push_new(m, K_NONE, NULL); break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            st = push_new(m, K_BOOL, &t);
            if (!st) m->nodes[t].i = op == 0x88;
            break;
        case '(': /* MARK */
            if (m->n_marks >= MAX_MARK_DEPTH)
                return fail(m, QTF_E_LIMIT, "MARKs nested deeper than 64");
            m->marks[m->n_marks++] = m->sp;
            break;
        case 't': /* TUPLE */
            st = pop_mark(m, &first);
            if (!st) st = make_tuple(m, first);
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: { /* TUPLE3 */
            uint32_t n = op - 0x84;
            if (m->sp - floor_sp(m) < n) return fail(m, QTF_E_PARSE, "stack underflow");
            st = make_tuple(m, m->sp - n);
            break;
        }
        case 'X':    /* BINUNICODE */
        case 0x8c:   /* SHORT_BINUNICODE */
        case 0x8d: { /* BINUNICODE8 */
            size_t w = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            NEED(w);
            uint64_t n = w == 1 ? m->buf[pos] : w == 4 ? qtf__ld32(m->buf + pos)
                                                       : qtf__ld64(m->buf + pos);
            pos += w;
            NEED(n);
            st = push_new(m, K_STR, &t);
            if (st) return st;
            m->nodes[t].s_off = pos;
            m->nodes[t].s_len = n;
            pos += (size_t)n;
            break;
        }
        case 'J': /* BININT */
            NEED(4);
            st = push_new(m, K_INT, &t);
            if (!st) m->nodes[t].i = (int32_t)qtf__ld32(m->buf + pos);
            pos += 4;
            break;
        case 'K': /* BININT1 */
            NEED(1);
            st = push_new(m, K_INT, &t);
            if (!st) m->nodes[t].i = m->buf[pos];
            pos += 1;
            break;
        case 'M': /* BININT2 */
            NEED(2);
            st = push_new(m, K_INT, &t);
            if (!st) m->nodes[t].i = qtf__ld16(m->buf + pos);
            pos += 2;
            break;
        case 0x8a: { /* LONG1: little-endian two's complement */
            NEED(1);
            unsigned n = m->buf[pos++];
            if (n > 8) return fail(m, QTF_E_LIMIT, "LONG1 integer wider than 64 bits");
            NEED(n);
            uint64_t v = 0;
            for (unsigned k = 0; k < n; k++) v |= (uint64_t)m->buf[pos + k] << (8 * k);
            if (n > 0 && n < 8 && (m->buf[pos + n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
            pos += n;
            st = push_new(m, K_INT, &t);
            if (!st) memcpy(&m->nodes[t].i, &v, sizeof v);
            break;
        }
        case 'G': /* BINFLOAT (big-endian double); kept only as a value */
            NEED(8);
            st = push_new(m, K_FLOAT, NULL);
            pos += 8;
            break;
        case 'R': st = op_reduce(m); break;
        case 'Q': st = op_persid(m); break;
        case 'b': /* BUILD: state on an OrderedDict (e.g. _metadata) or a tensor is ignored */
            st = pop(m, &a);
            if (!st) st = top(m, &b);
            if (st) return st;
            if ((m->nodes[b].kind != K_DICT && m->nodes[b].kind != K_TENSOR) ||
                !is_dict_or_none(&m->nodes[a]))
                return fail(m, QTF_E_PARSE, "BUILD is only accepted on an OrderedDict or a tensor "
                            "with a dict state");
            break;
        case 's': /* SETITEM */
            if (m->sp - floor_sp(m) < 3) return fail(m, QTF_E_PARSE, "stack underflow");
            st = dict_set(m, m->stack[m->sp - 3], m->stack + m->sp - 2, 2);
            m->sp -= 2;
            break;
        case 'u': /* SETITEMS */
            st = pop_mark(m, &first);
            if (st) return st;
            if (first == floor_sp(m)) return fail(m, QTF_E_PARSE, "SETITEMS without a dict");
            st = dict_set(m, m->stack[first - 1], m->stack + first, m->sp - first);
            m->sp = first;
            break;
        case 'a': /* APPEND */
            if (m->sp - floor_sp(m) < 2) return fail(m, QTF_E_PARSE, "stack underflow");
            st = list_append(m, m->stack[m->sp - 2], m->stack + m->sp - 1, 1);
            m->sp -= 1;
            break;
        case 'e': /* APPENDS */
            st = pop_mark(m, &first);
            if (st) return st;
            if (first == floor_sp(m)) return fail(m, QTF_E_PARSE, "APPENDS without a list");
            st = list_append(m, m->stack[first - 1], m->stack + first, m->sp - first);
            m->sp = first;
            break;
        case '.': /* STOP */
            return pop(m, result);
        default:
            return fail(m, QTF_E_PARSE, "opcode 0x%02X is not accepted (not used by torch.save "
                        "for state dicts)", op);
        }
    }
    return st;
}

static void vm_free(vm *m) {
    for (uint32_t i = 0; i < m->n_nodes; i++) free(m->nodes[i].kids);
    free(m->nodes);
    free(m->stack);
    free(m->memo);
    free(m->tensors);
}

void qtf__pkl_state_dict_free(qtf__pkl_state_dict *sd) {
    if (!sd) return;
    for (uint64_t i = 0; i < sd->n; i++) {
        free(sd->tensors[i].name);
        free(sd->tensors[i].storage_key);
    }
    free(sd->tensors);
    memset(sd, 0, sizeof *sd);
}

static char *slice_dup(const vm *m, uint64_t off, uint64_t len) {
    char *s = malloc((size_t)len + 1);
    if (s) {
        memcpy(s, m->buf + off, (size_t)len);
        s[len] = '\0';
    }
    return s;
}

static qtf_status collect(vm *m, uint32_t root, qtf__pkl_state_dict *out) {
    const node *d = &m->nodes[root];
    if (d->kind != K_DICT)
        return qtf__error(QTF_E_PARSE, "%s: the pickle holds a %s, expected a state dict of "
                          "tensors", m->label, kind_name(d->kind));
    uint32_t n = d->n_kids / 2;
    out->tensors = calloc(n ? n : 1, sizeof *out->tensors);
    if (!out->tensors) return qtf__error(QTF_E_NOMEM, "%s: out of memory", m->label);
    for (uint32_t k = 0; k < n; k++) {
        const node *key = &m->nodes[d->kids[2 * k]], *val = &m->nodes[d->kids[2 * k + 1]];
        char esc[QTF__ESC_CAP];
        size_t bad;
        if (key->kind != K_STR)
            return qtf__error(QTF_E_PARSE, "%s: state dict key %u is a %s, expected a string",
                              m->label, k, kind_name(key->kind));
        const unsigned char *ks = m->buf + key->s_off;
        const char *en = qtf__escape(esc, sizeof esc, ks, (size_t)key->s_len);
        if (key->s_len == 0 || key->s_len > QTF_MAX_NAME_LEN ||
            !qtf__utf8_check(ks, (size_t)key->s_len, &bad))
            return qtf__error(QTF_E_UTF8, "%s: state dict key '%s' must be 1..%u bytes of UTF-8 "
                              "without NUL", m->label, en, QTF_MAX_NAME_LEN);
        if (val->kind != K_TENSOR)
            return qtf__error(QTF_E_PARSE, "%s: state dict entry '%s' is a %s, expected a tensor",
                              m->label, en, kind_name(val->kind));
        const ptensor *pt = &m->tensors[val->i];
        const node *stor = &m->nodes[pt->storage];
        qtf__pkl_tensor *t = &out->tensors[k];
        t->name = slice_dup(m, key->s_off, key->s_len);
        t->storage_key = slice_dup(m, stor->s_off, stor->s_len);
        out->n = k + 1;
        if (!t->name || !t->storage_key)
            return qtf__error(QTF_E_NOMEM, "%s: out of memory", m->label);
        t->dtype = (qtf_dtype)stor->dtype;
        t->storage_numel = (uint64_t)stor->i;
        t->storage_offset = pt->offset;
        t->n_dims = pt->n_dims;
        memcpy(t->dims, pt->dims, sizeof t->dims);
        memcpy(t->strides, pt->strides, sizeof t->strides);
    }
    return QTF_OK;
}

qtf_status qtf__pickle_load_state_dict(qtf__pkl_state_dict *out, const void *buf, size_t len,
                                       const char *label) {
    memset(out, 0, sizeof *out);
    vm m = { .buf = buf, .len = len, .label = label };
    uint32_t root = 0;
    qtf_status st = run(&m, &root);
    if (!st) st = collect(&m, root, out);
    vm_free(&m);
    if (st) qtf__pkl_state_dict_free(out);
    return st;
}
