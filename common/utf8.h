/* common/utf8.h — strict UTF-8 validation and escaping of untrusted bytes
 * quoted in error messages (common/utf8.c). Not installed. */
#ifndef QTF_COMMON_UTF8_H
#define QTF_COMMON_UTF8_H

#include <stddef.h>

/* 1 if s[0,len) is well-formed UTF-8 (no overlongs, surrogates or code points
 * above U+10FFFF) without NUL bytes; otherwise 0 and *bad_at = offset of the
 * first offending byte. */
int qtf__utf8_check(const unsigned char *s, size_t len, size_t *bad_at);

/* Copies s[0,len) into buf for an error message: control bytes, DEL, quotes
 * and backslashes escaped, long text shortened with "...". Returns buf. */
const char *qtf__escape(char *buf, size_t cap, const void *s, size_t len);
#define QTF__ESC_CAP 160

#endif
