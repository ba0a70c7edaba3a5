/* fuzz_sanitize.c — libFuzzer harness for the terminal sanitiser (store/sanitize.c).
 *
 * Input: one byte choosing the output buffer size (1..256 or large), then the string (up to
 * the first NUL, as the sanitiser sees it). Invariants of the output: NUL-terminated within
 * the buffer, length as returned; valid UTF-8 throughout; no C0 control, no DEL, no C1
 * control, no bidirectional control; never longer than the input; characters are never split;
 * sanitising again changes nothing (idempotent); with room to spare, every input character
 * yields a character (so nothing is silently dropped). The ASCII-locale form
 * (sanitize_for_locale with utf8 = 0) yields printable ASCII only, one '?' per character. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "store/sanitize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int forbidden(unsigned cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c ||
           cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* Number of characters of s (valid ones) plus invalid bytes: what one '?' each stands for. */
static size_t units(const char *s)
{
    size_t n = 0, len = strlen(s);
    for (size_t i = 0; i < len;) {
        unsigned cp;
        int k = sanitize_utf8_decode((const unsigned char *)s + i, len - i, &cp);
        i += k ? (size_t)k : 1;
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t cap = data[0] == 255 ? 4 * size + 16 : (size_t)data[0] + 1;
    char *src = malloc(size);
    FUZZ_CHECK(src != NULL);
    memcpy(src, data + 1, size - 1);
    src[size - 1] = 0;
    char *dst = malloc(cap);
    FUZZ_CHECK(dst != NULL);
    size_t n = sanitize_for_terminal(dst, cap, src);
    FUZZ_CHECK(n < cap);
    FUZZ_CHECK(dst[n] == 0 && strlen(dst) == n);
    FUZZ_CHECK(n <= strlen(src) || strlen(src) == 0);
    for (size_t i = 0; i < n;) {
        unsigned cp;
        int k = sanitize_utf8_decode((const unsigned char *)dst + i, n - i, &cp);
        FUZZ_CHECK(k > 0);
        FUZZ_CHECK(!forbidden(cp));
        i += (size_t)k;
    }
    if (data[0] == 255) FUZZ_CHECK(units(dst) == units(src));
    char *again = malloc(cap);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(sanitize_for_terminal(again, cap, dst) == n);
    FUZZ_CHECK(memcmp(again, dst, n + 1) == 0);
    free(again);
    sanitize_for_locale(dst, cap, src, 0);
    for (const char *p = dst; *p; p++) FUZZ_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    if (data[0] == 255) FUZZ_CHECK(strlen(dst) == units(src));
    free(dst);
    free(src);
    return 0;
}
