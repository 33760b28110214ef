/* checkpoint/json_check.c — see json_check.h. A state machine over the text
 * with a stack of open containers; nothing else is allocated. */
#include "json_check.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/utf8.h"

enum { S_VALUE, S_KEY, S_AFTER };

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hex4(const unsigned char *p, size_t left, unsigned *out) {
    if (left < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d == 16) return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* The string starting at s[*pos] == '"'; *pos ends after the closing quote.
 * NULL, or why it is invalid (*pos at the offending byte). */
static const char *skip_string(const unsigned char *s, size_t len, size_t *pos) {
    size_t i = *pos + 1;
    for (;;) {
        if (i >= len) {
            *pos = i;
            return "unterminated string";
        }
        unsigned char c = s[i];
        if (c == '"') break;
        if (c < 0x20) {
            *pos = i;
            return "control character in a string (it must be escaped)";
        }
        if (c != '\\') {
            i++;
            continue;
        }
        if (i + 1 >= len) {
            *pos = i;
            return "unterminated escape";
        }
        c = s[i + 1];
        if (c != 'u') {
            if (!strchr("\"\\/bfnrt", c)) {
                *pos = i;
                return "invalid escape";
            }
            i += 2;
            continue;
        }
        unsigned u;
        if (!hex4(s + i + 2, len - i - 2, &u)) {
            *pos = i;
            return "invalid \\u escape";
        }
        i += 6;
        if (u >= 0xDC00 && u <= 0xDFFF) {
            *pos = i - 6;
            return "lone low surrogate";
        }
        if (u >= 0xD800 && u <= 0xDBFF) {
            unsigned lo;
            if (i + 1 >= len || s[i] != '\\' || s[i + 1] != 'u' ||
                !hex4(s + i + 2, len - i - 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                *pos = i - 6;
                return "high surrogate without its low surrogate";
            }
            i += 6;
        }
    }
    *pos = i + 1;
    return NULL;
}

static const char *skip_number(const unsigned char *s, size_t len, size_t *pos) {
    size_t i = *pos;
    if (s[i] == '-') i++;
    if (i >= len || !is_digit(s[i])) goto bad;
    if (s[i] == '0') i++;
    else while (i < len && is_digit(s[i])) i++;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !is_digit(s[i])) goto bad;
        while (i < len && is_digit(s[i])) i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || !is_digit(s[i])) goto bad;
        while (i < len && is_digit(s[i])) i++;
    }
    *pos = i;
    return NULL;
bad:
    *pos = i;
    return "invalid number";
}

static qtf_status fail(const unsigned char *s, size_t pos, const char *what, const char *why) {
    uint64_t line = 1, col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (s[i] == '\n') {
            line++;
            col = 1;
        } else if ((s[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    return qtf__error(QTF_E_PARSE, "%s: not valid JSON: line %llu column %llu: %s", what,
                      (unsigned long long)line, (unsigned long long)col, why);
}

qtf_status qtf_json_check(qtf_json_stats *stats, const void *text, size_t len, const char *what,
                          uint32_t max_depth, uint64_t max_values) {
    const unsigned char *s = text;
    size_t bad;
    if (!qtf__utf8_check(s, len, &bad))
        return fail(s, bad, what, s[bad] ? "invalid UTF-8" : "NUL byte");
    unsigned char *stack = malloc(max_depth ? max_depth : 1);
    if (!stack) return qtf__error(QTF_E_NOMEM, "%s: out of memory", what);
    uint32_t depth = 0, deepest = 0;
    uint64_t values = 0;
    size_t i = 0;
    int state = S_VALUE;
    const char *why = NULL;
    for (;;) {
        while (i < len && is_ws(s[i])) i++;
        if (state == S_AFTER && depth == 0) {
            if (i < len) why = "text after the JSON value";
            break;
        }
        if (i >= len) {
            why = "unexpected end of text";
            break;
        }
        unsigned char c = s[i];
        if (state == S_AFTER) {
            unsigned char top = stack[depth - 1];
            if (c == ',') {
                i++;
                state = top == '{' ? S_KEY : S_VALUE;
            } else if ((c == '}' && top == '{') || (c == ']' && top == '[')) {
                i++;
                depth--;
            } else {
                why = top == '{' ? "expected ',' or '}'" : "expected ',' or ']'";
                break;
            }
            continue;
        }
        if (state == S_KEY) {
            if (c != '"') {
                why = "expected a string key";
                break;
            }
            if ((why = skip_string(s, len, &i)) != NULL) break;
            while (i < len && is_ws(s[i])) i++;
            if (i >= len || s[i] != ':') {
                why = "expected ':' after the key";
                break;
            }
            i++;
            state = S_VALUE;
            continue;
        }
        /* a value */
        if (max_values && values >= max_values) {
            free(stack);
            return qtf__error(QTF_E_LIMIT, "%s: more than %llu JSON values (limit)", what,
                              (unsigned long long)max_values);
        }
        values++;
        if (c == '{' || c == '[') {
            if (depth >= max_depth) {
                free(stack);
                return qtf__error(QTF_E_LIMIT, "%s: JSON nested deeper than %u levels", what,
                                  max_depth);
            }
            stack[depth++] = c;
            if (depth > deepest) deepest = depth;
            i++;
            while (i < len && is_ws(s[i])) i++;
            if (i < len && s[i] == (c == '{' ? '}' : ']')) {
                i++;
                depth--;
                state = S_AFTER;
            } else {
                state = c == '{' ? S_KEY : S_VALUE;
            }
        } else if (c == '"') {
            if ((why = skip_string(s, len, &i)) != NULL) break;
            state = S_AFTER;
        } else if (c == '-' || is_digit(c)) {
            if ((why = skip_number(s, len, &i)) != NULL) break;
            state = S_AFTER;
        } else {
            static const char *const lits[] = { "true", "false", "null" };
            size_t k;
            for (k = 0; k < 3; k++) {
                size_t n = strlen(lits[k]);
                if (len - i >= n && memcmp(s + i, lits[k], n) == 0) {
                    i += n;
                    break;
                }
            }
            if (k == 3) {
                why = "unexpected character";
                break;
            }
            state = S_AFTER;
        }
    }
    free(stack);
    if (why) return fail(s, i, what, why);
    if (stats) {
        stats->values = values;
        stats->depth = deepest;
    }
    return QTF_OK;
}
