/* common/utf8.c — strict UTF-8 validation of keys, names and strings, and
 * escaping of untrusted bytes quoted in error messages. */
#include <stdio.h>
#include <string.h>

#include "utf8.h"

int qtf__utf8_check(const unsigned char *s, size_t len, size_t *bad_at) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == 0) goto bad;
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0) lo = 0xA0;         /* overlong */
            else if (c == 0xED) hi = 0x9F;    /* surrogates U+D800..DFFF */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0) lo = 0x90;         /* overlong */
            else if (c == 0xF4) hi = 0x8F;    /* above U+10FFFF */
        } else {
            goto bad;                         /* C0, C1 overlongs, F5..FF, stray continuation */
        }
        if (len - i <= n) goto bad;
        if (s[i + 1] < lo || s[i + 1] > hi) goto bad;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80) goto bad;
        i += n + 1;
    }
    return 1;
bad:
    if (bad_at) *bad_at = i;
    return 0;
}

const char *qtf__escape(char *buf, size_t cap, const void *s, size_t len) {
    const unsigned char *p = s;
    size_t o = 0;
    if (cap == 0) return buf;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        char tmp[5];
        size_t n = 1, take = 1;
        if (c >= 0x80) {
            /* whole valid sequences are kept; any other byte is escaped so
             * that the message itself is valid UTF-8 */
            size_t seq = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (seq <= len - i && qtf__utf8_check(p + i, seq, NULL)) {
                memcpy(tmp, p + i, seq);
                n = take = seq;
            } else {
                snprintf(tmp, sizeof tmp, "\\x%02X", c);
                n = 4;
            }
        } else if (c < 0x20 || c == 0x7F || c == '\'' || c == '\\' || c == '"') {
            snprintf(tmp, sizeof tmp, "\\x%02X", c);
            n = 4;
        } else {
            tmp[0] = (char)c;
        }
        if (o + n + 4 > cap) { /* room for "..." and NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, tmp, n);
        o += n;
        i += take;
    }
    buf[o] = '\0';
    return buf;
}
