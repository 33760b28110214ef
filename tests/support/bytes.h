/* tests/support/bytes.h — a growing byte buffer with little-endian appends,
 * for the tests that build files byte by byte (GGUF files in gguf.h, hostile
 * .qtf files); no Criterion. The buffer starts zeroed ({0}); free b.p. */
#ifndef QTF_TEST_SUPPORT_BYTES_H
#define QTF_TEST_SUPPORT_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct gb {
    unsigned char *p;
    size_t len, cap;
} gb;

void gb_bytes(gb *b, const void *s, size_t n);
void gb_u8(gb *b, uint8_t v);
void gb_u16(gb *b, uint16_t v);
void gb_u32(gb *b, uint32_t v);
void gb_u64(gb *b, uint64_t v);
void gb_f32(gb *b, float f);
/* n zero bytes */
void gb_zero(gb *b, size_t n);
/* Zero bytes up to a multiple of align. */
void gb_pad(gb *b, size_t align);

#endif
