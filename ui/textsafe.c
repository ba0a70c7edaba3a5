/* textsafe.c — the terminal sanitiser: a small UTF-8 decoder that keeps printable characters
 * and replaces the rest. It does not transliterate, shorten or escape for any other medium. */
#include "ui/textsafe.h"

#include <stdint.h>
#include <string.h>

/* Decodes one UTF-8 character at s (len bytes left); returns its length, 0 when invalid
 * (overlong forms, surrogates and values above U+10FFFF included). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return n;
}

static int unsafe(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff || cp == 0x200e || cp == 0x200f;
}

char *textsafe_copy(char *dst, size_t n, const char *src, int utf8)
{
    if (n == 0) return dst;
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t len = strlen((const char *)s);
    while (len > 0) {
        uint32_t cp = 0;
        size_t k = utf8_decode(s, len, &cp);
        const unsigned char *out = s;
        size_t out_len = k;
        if (k == 0) {
            k = 1;
            out = (const unsigned char *)"?";
            out_len = 1;
        } else if (cp == '\t' || cp == '\n' || cp == '\r') {
            out = (const unsigned char *)" ";
            out_len = 1;
        } else if (unsafe(cp) || (!utf8 && cp >= 0x80)) {
            out = (const unsigned char *)"?";
            out_len = 1;
        }
        if (o + out_len >= n) break;
        memcpy(dst + o, out, out_len);
        o += out_len;
        s += k;
        len -= k;
    }
    dst[o] = 0;
    return dst;
}
