/* checkpoint/sha256.h — SHA-256 (FIPS 180-4), for checking the manifests
 * that llama.cpp's llama-gguf-hash --sha256 writes (GGUF itself carries no
 * checksums). Streaming: init, update any number of times, final. */
#ifndef QTF_CHECKPOINT_SHA256_H
#define QTF_CHECKPOINT_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct qtf_sha256 {
    uint32_t h[8];
    uint64_t total;             /* bytes hashed so far */
    unsigned char buf[64];
    size_t used;
} qtf_sha256;

void qtf_sha256_init(qtf_sha256 *s);
void qtf_sha256_update(qtf_sha256 *s, const void *data, size_t len);
void qtf_sha256_final(qtf_sha256 *s, unsigned char digest[32]);
/* One call: 64 lowercase hex digits and a NUL into hex[65]. */
void qtf_sha256_hex(char hex[65], const void *data, size_t len);

#endif
