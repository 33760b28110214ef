/* tests/support/bytes.c — a growing byte buffer (bytes.h). */
#include "support/bytes.h"

#include <stdlib.h>
#include <string.h>

void gb_bytes(gb *b, const void *s, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
}

void gb_u8(gb *b, uint8_t v) { gb_bytes(b, &v, 1); }

void gb_u16(gb *b, uint16_t v) {
    unsigned char t[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
    gb_bytes(b, t, 2);
}

void gb_u32(gb *b, uint32_t v) {
    unsigned char t[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    gb_bytes(b, t, 4);
}

void gb_u64(gb *b, uint64_t v) {
    gb_u32(b, (uint32_t)v);
    gb_u32(b, (uint32_t)(v >> 32));
}

void gb_f32(gb *b, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    gb_u32(b, u);
}

void gb_zero(gb *b, size_t n) {
    while (n--) gb_u8(b, 0);
}

void gb_pad(gb *b, size_t align) {
    while (b->len % align) gb_u8(b, 0);
}
