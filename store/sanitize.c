/* sanitize.c — neutralising control characters, bidi overrides and broken UTF-8 before a
 * string reaches a terminal (see sanitize.h). Not a general Unicode normaliser: zero-width and
 * combining characters pass, as they cannot move the cursor or hide text. */
#include "store/sanitize.h"

#include <string.h>

int sanitize_utf8_decode(const unsigned char *s, size_t len, unsigned *cp)
{
    if (len == 0) return 0;
    unsigned c = s[0];
    int k;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        k = 2, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        k = 3, min = 0x800, c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        k = 4, min = 0x10000, c &= 0x07;
    } else {
        return 0; /* a continuation byte or 0xf8..0xff where a character should start */
    }
    if (len < (size_t)k) return 0;
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return k;
}

static int dangerous(unsigned cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c ||
           cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* The one sanitiser behind both entry points; ascii_only also folds every non-ASCII character
 * (valid or not) to a single '?'. */
static size_t sanitize(char *dst, size_t n, const char *src, int ascii_only)
{
    if (n == 0) return 0;
    if (!src) src = "";
    const unsigned char *s = (const unsigned char *)src;
    size_t len = strlen(src), i = 0, o = 0;
    while (i < len) {
        unsigned cp;
        int k = sanitize_utf8_decode(s + i, len - i, &cp);
        if (k == 0 || dangerous(cp) || (ascii_only && cp >= 0x80)) {
            if (o + 1 >= n) break;
            dst[o++] = '?';
            i += k ? (size_t)k : 1; /* an invalid byte costs one '?'; a bad character one too */
            continue;
        }
        if (o + (size_t)k >= n) break; /* never split a character */
        memcpy(dst + o, s + i, (size_t)k);
        o += (size_t)k;
        i += (size_t)k;
    }
    dst[o] = 0;
    return o;
}

size_t sanitize_for_terminal(char *dst, size_t n, const char *src)
{
    return sanitize(dst, n, src, 0);
}

char *sanitize_for_locale(char *dst, size_t n, const char *src, int utf8)
{
    if (n > 0) sanitize(dst, n, src, !utf8);
    return dst;
}
