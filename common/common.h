/* common/common.h — the bottom layer, shared by every library source file
 * (not installed): status and error detail, checked arithmetic, endian
 * loads/stores, parallel-for, allocation with failure injection, UTF-8. */
#ifndef QTF_COMMON_H
#define QTF_COMMON_H

#include <stdarg.h>
#include <string.h>

#include "qtf.h"
#include "utf8.h"

#if defined(__GNUC__)
#define QTF__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define QTF__PRINTF(a, b)
#endif

/* Records the thread-local error detail and returns `status`, so that error
 * paths read `return qtf__error(QTF_E_TRUNCATED, "%s: ...", name, ...);`.
 * The message should name the file, tensor or key, the offset, and what was
 * expected versus found. */
qtf_status qtf__error(qtf_status status, const char *fmt, ...) QTF__PRINTF(2, 3);

/* Prefixes the current detail with more context ("file.qtf: " + detail). */
void qtf__error_prefix(const char *fmt, ...) QTF__PRINTF(1, 2);

/* The err/cap convention of the parsers and planners above the library
 * (recipes, importance maps): formats into err (when err && cap) and
 * returns -1. */
int qtf__fail_msg(char *err, size_t cap, const char *fmt, ...) QTF__PRINTF(3, 4);
int qtf__vfail_msg(char *err, size_t cap, const char *fmt, va_list ap);
/* The detail of the last error if any, else the status's text. */
const char *qtf__status_why(qtf_status st);

/* Clears the detail (called on success paths of public entry points). */
void qtf__error_clear(void);

/* Checked arithmetic: return 0 on overflow, 1 otherwise. */
static inline int qtf__add_u64(uint64_t *out, uint64_t a, uint64_t b) {
    return !__builtin_add_overflow(a, b, out);
}
static inline int qtf__mul_u64(uint64_t *out, uint64_t a, uint64_t b) {
    return !__builtin_mul_overflow(a, b, out);
}
/* Rounds v up to a multiple of align (a power of two). */
static inline int qtf__align_up_u64(uint64_t *out, uint64_t v, uint64_t align) {
    uint64_t t;
    if (!qtf__add_u64(&t, v, align - 1)) return 0;
    *out = t & ~(align - 1);
    return 1;
}

/* Little-endian loads/stores that work at any alignment. */
static inline uint16_t qtf__ld16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t qtf__ld32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t qtf__ld64(const unsigned char *p) {
    return (uint64_t)qtf__ld32(p) | ((uint64_t)qtf__ld32(p + 4) << 32);
}
static inline void qtf__st16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
}
static inline void qtf__st32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline void qtf__st64(unsigned char *p, uint64_t v) {
    qtf__st32(p, (uint32_t)v); qtf__st32(p + 4, (uint32_t)(v >> 32));
}
/* The bits of an f32 and back (memcpy: no aliasing or union tricks). */
static inline uint32_t qtf__f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static inline float qtf__f32_from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* Greatest common divisor (gcd(a, 0) = a). */
static inline uint64_t qtf__gcd_u64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Canonical (big-endian) hash bytes, as xxHash's XXH64_canonical_t. */
static inline void qtf__st_hash(unsigned char *p, uint64_t h) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(h >> (56 - 8 * i));
}
static inline uint64_t qtf__ld_hash(const unsigned char *p) {
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h = (h << 8) | p[i];
    return h;
}

/* Sets v->type = t and the number of scalar type t stored little-endian at p
 * (p already checked to hold qtf_type_size(t) bytes; other types leave
 * v->num alone). Shared by the .qtf metadata and the GGUF reader. */
void qtf__value_load_scalar(qtf_value *v, qtf_type t, const unsigned char *p);

/* Opens path read-only (a FIFO is refused without blocking) and checks it is
 * a regular file; *out_fd (the caller closes it) and its size. Errors, naming
 * path: QTF_E_IO "cannot open: REASON", "fstat failed: REASON", "not a
 * regular file"; then *out_fd is -1 and nothing is left open. */
qtf_status qtf__open_regular(int *out_fd, uint64_t *out_size, const char *path);
/* The same; a path that does not exist is QTF_E_NOT_FOUND (optional files). */
qtf_status qtf__open_regular_optional(int *out_fd, uint64_t *out_size, const char *path);

/* The one way a reader opens a path: qtf__open_regular, then
 * parse(ctx, fd, size), then the descriptor is closed whatever parse
 * returned (a parser that keeps the bytes maps or reads them before it
 * returns). Returns the first error. */
qtf_status qtf__parse_path(const char *path, qtf_status (*parse)(void *ctx, int fd, uint64_t size),
                           void *ctx);

/* Maps the whole of fd (`size` bytes, size > 0) read-only and shared into
 * *out_map; errors name `name`: QTF_E_NOMEM when size exceeds the address
 * space, QTF_E_IO when mmap fails. The caller munmaps (size bytes). */
/* Reads exactly len bytes at offset off (EINTR retried, reads of at most
 * 1 GiB); a file that ends first is QTF_E_TRUNCATED, naming `name`. */
qtf_status qtf__pread_all(int fd, void *buf, uint64_t len, uint64_t off, const char *name);
/* The same loops for callers that build their own message: 0, an errno
 * value, or (pread) -1 when the file ends first; *at (may be NULL): the
 * offset reached. pwrite: 0 or an errno value (EIO for a write of 0). */
int qtf__pread_errno(int fd, void *buf, uint64_t len, uint64_t off, uint64_t *at);
int qtf__pwrite_errno(int fd, const void *buf, uint64_t len, uint64_t off);

qtf_status qtf__map_readonly(void **out_map, int fd, uint64_t size, const char *name);

/* Runs fn(ctx, begin, end) over [0, n) in contiguous chunks on up to
 * `threads` threads (0 = all cores). Chunking never affects results as long
 * as fn treats items independently; callers rely on that for determinism.
 * Returns the error of the lowest-indexed failing chunk, or QTF_OK.
 * The error detail of that chunk is carried to the calling thread. */
/* QTF_E_VALUE naming the first byte of a BOOL array that is neither 0 nor 1
 * (`what` names the tensor); BOOL has no other values. */
static inline qtf_status qtf__bool_check(const void *data, uint64_t n, const char *what) {
    const unsigned char *b = data;
    unsigned char any = 0;
    for (uint64_t i = 0; i < n; i++) any |= b[i];
    if (!(any & 0xfe)) return QTF_OK;
    uint64_t i = 0;
    while (b[i] <= 1) i++;
    return qtf__error(QTF_E_VALUE, "%s: BOOL element %llu is byte %u, expected 0 or 1", what,
                      (unsigned long long)i, (unsigned)b[i]);
}

/* dst (cols x rows) = the transpose of src (rows x cols), both row-major,
 * elements of `elem` bytes copied unchanged; dst and src do not overlap. */
void qtf__transpose(void *dst, const void *src, uint64_t rows, uint64_t cols, size_t elem);

typedef qtf_status (*qtf__range_fn)(void *ctx, uint64_t begin, uint64_t end);
qtf_status qtf__parallel_for(uint64_t n, uint64_t min_chunk, unsigned threads,
                             qtf__range_fn fn, void *ctx);

/* Test hook for allocation-failure injection: when the counter reaches zero
 * qtf__malloc/qtf__calloc/qtf__realloc fail (return NULL). -1 = disabled. */
void *qtf__malloc(size_t n);
void *qtf__calloc(size_t n, size_t size);
void *qtf__realloc(void *p, size_t n);
/* A NUL-terminated copy of the n bytes at s (qtf__malloc: fails under
 * injection like any allocation); NULL when out of memory. Caller frees. */
char *qtf__strndup(const char *s, size_t n);
void qtf__test_fail_alloc_after(long n);

#endif
