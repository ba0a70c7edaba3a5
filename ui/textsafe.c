/* textsafe.c — the TUI's door to store/sanitize: the shared sanitiser does the security work;
 * this adds only the ASCII-locale fold. It does not shorten, transliterate or escape. */
#include "ui/textsafe.h"

#include "store/sanitize.h"

char *textsafe_copy(char *dst, size_t n, const char *src, int utf8)
{
    if (n == 0) return dst;
    size_t len = sanitize_for_terminal(dst, n, src);
    if (utf8) return dst;
    /* In place: a character of k bytes becomes one '?', so the text only shrinks. */
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned cp = 0;
        int k = (unsigned char)dst[i] < 0x80 ? 1 : sanitize_utf8_decode((const unsigned char *)dst + i, len - i, &cp);
        if (k <= 0) k = 1;
        dst[o++] = (unsigned char)dst[i] < 0x80 ? dst[i] : '?';
        i += (size_t)k;
    }
    dst[o] = 0;
    return dst;
}
