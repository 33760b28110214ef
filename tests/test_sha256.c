/* SHA-256 (checkpoint/sha256.h) against the FIPS 180-4 / NIST example
 * vectors, streaming in odd pieces, and against llama-gguf-hash: every
 * per-tensor and per-model sha256 line of ../shared/gguf/gguf-hash-sha256.txt. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/gguf.h"
#include "checkpoint/sha256.h"
#include "support/files.h"

TestSuite(sha256);

static void hex_of(char hex[65], const unsigned char d[32]) {
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

Test(sha256, nist_vectors) {
    char hex[65];
    qtf_sha256_hex(hex, "", 0);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    qtf_sha256_hex(hex, "abc", 3);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    qtf_sha256_hex(hex, m448, strlen(m448));
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    qtf_sha256_hex(hex, m896, strlen(m896));
    cr_assert_str_eq(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* one million 'a', fed in pieces of 7 bytes (crosses every block boundary) */
    qtf_sha256 s;
    unsigned char d[32];
    char a[7];
    memset(a, 'a', sizeof a);
    qtf_sha256_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t n = left < 7 ? left : 7;
        qtf_sha256_update(&s, a, n);
        left -= n;
    }
    qtf_sha256_final(&s, d);
    hex_of(hex, d);
    cr_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

Test(sha256, every_split_gives_the_same_digest) {
    unsigned char msg[300];
    for (int i = 0; i < 300; i++) msg[i] = (unsigned char)(i * 31 + 7);
    char want[65];
    qtf_sha256_hex(want, msg, sizeof msg);
    for (size_t cut = 0; cut <= sizeof msg; cut++) {
        qtf_sha256 s;
        unsigned char d[32];
        char hex[65];
        qtf_sha256_init(&s);
        qtf_sha256_update(&s, msg, cut);
        qtf_sha256_update(&s, msg + cut, sizeof msg - cut);
        qtf_sha256_final(&s, d);
        hex_of(hex, d);
        cr_assert_str_eq(hex, want, "cut at %zu", cut);
    }
}

/* llama-gguf-hash --sha256 hashes each tensor's data, and the model as the
 * concatenation of all tensor data in file order. */
Test(sha256, equals_llama_gguf_hash_on_every_fixture) {
    TS_NEED(path, "gguf/gguf-hash-sha256.txt");
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char line[1024], file[4096] = "";
    qtf_gguf *g = NULL;
    int checked = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "## ", 3) == 0) {
            qtf_gguf_close(g);
            snprintf(file, sizeof file, "gguf/%s", line + 3);
            const char *gpath = ts_shared(file);
            cr_assert(gpath, "../shared/%s is missing", file);
            cr_assert_eq(qtf_gguf_open(&g, gpath, 0), QTF_OK, "%s", qtf_error_detail());
            continue;
        }
        char algo[16], hex[80], what[512];
        if (sscanf(line, "%15s %79s %511s", algo, hex, what) != 3) continue;
        cr_assert_str_eq(algo, "sha256");
        cr_assert(g);
        const char *colon = strchr(what, ':');
        qtf_sha256 s;
        unsigned char d[32];
        char got[65];
        qtf_sha256_init(&s);
        for (uint64_t i = 0; i < qtf_gguf_tensor_count(g); i++) {
            if (colon && strcmp(qtf_gguf_tensor_get(g, i)->name, colon + 1) != 0) continue;
            const void *p;
            uint64_t n;
            cr_assert_eq(qtf_gguf_tensor_data(&p, &n, g, i), QTF_OK);
            qtf_sha256_update(&s, p, (size_t)n);
        }
        qtf_sha256_final(&s, d);
        hex_of(got, d);
        cr_assert_str_eq(got, hex, "%s %s", file, what);
        checked++;
    }
    qtf_gguf_close(g);
    fclose(f);
    cr_assert_eq(checked, 828);
}
