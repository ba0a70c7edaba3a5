/* sanitize.h — making strings from data safe to show on a terminal.
 *
 * Data (a careunit name, an ICD title, a file path, an SQLite message quoting one) may hold
 * escape sequences, bidirectional-override characters or broken UTF-8 that would repaint,
 * reorder or garble a terminal. Everything printed to a terminal or to stderr passes here.
 */
#ifndef SANITIZE_H
#define SANITIZE_H

#include <stddef.h>

/* Copies src into dst (size n, n > 0; always NUL-terminated) replacing with '?' each C0
 * control (including newline and tab), DEL, each C1 control (U+0080..U+009F), each
 * bidirectional control (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069), and each
 * byte of invalid UTF-8 (stray continuation bytes, overlong forms, surrogates, code points
 * above U+10FFFF, truncated sequences). Valid UTF-8 is kept; truncation never splits a
 * character. Returns the length written (excluding the NUL). src NULL is treated as "". */
size_t sanitize_for_terminal(char *dst, size_t n, const char *src);

/* The same for text shown by the TUI, which knows the terminal's locale: with utf8 = 0 (an
 * ASCII terminal) each non-ASCII character becomes one '?' too, so curses never receives
 * bytes the terminal cannot show. Same rules otherwise (n >= 1, src NULL is ""). Returns dst. */
char *sanitize_for_locale(char *dst, size_t n, const char *src, int utf8);

/* Decodes one well-formed UTF-8 character at s (at most len bytes): returns its byte length
 * (1..4) and sets *cp, or returns 0 when the bytes are not a valid, shortest-form character. */
int sanitize_utf8_decode(const unsigned char *s, size_t len, unsigned *cp);

#endif
