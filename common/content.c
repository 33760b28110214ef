/* common/content.c — see content.h. */
#include "content.h"

#include <string.h>

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

const char *qtf__content_kind(const unsigned char *head, size_t n, uint64_t file_size) {
    static const unsigned char qtf_magic[8] = { 0x89, 'Q', 'T', 'F', 0x0D, 0x0A, 0x1A, 0x0A };
    if (n >= 8 && memcmp(head, qtf_magic, 8) == 0) return "QTF";
    if (n >= 4 && memcmp(head, "GGUF", 4) == 0) return "GGUF";
    if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return "zip";
    if (n >= 9 && head[8] == '{') {
        uint64_t len = 0;
        for (int i = 7; i >= 0; i--) len = len << 8 | head[i];
        if (len >= 2 && len <= file_size - 8) return "safetensors";
    }
    if (n >= 2 && head[0] == 0x80 && head[1] <= 5) return "pickle";
    size_t i = 0;
    /* UTF-8 byte-order mark, then white space */
    if (n >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF) i = 3;
    while (i < n && is_space(head[i])) i++;
    if (i < n && (head[i] == '{' || head[i] == '[')) return "JSON";
    int printable = n > 0;
    for (size_t k = 0; k < n; k++)
        if (head[k] < 0x20 && !is_space(head[k])) printable = 0;
    return printable ? "text" : NULL;
}
