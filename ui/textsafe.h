/* textsafe.h — text from data made safe for *this* terminal: store/sanitize.h's
 * sanitize_for_terminal (no controls, escapes, C1, bidi controls or broken UTF-8), then, when
 * the locale is not UTF-8, every non-ASCII character folded to '?' so curses never receives
 * bytes the terminal cannot show.
 */
#ifndef TEXTSAFE_H
#define TEXTSAFE_H

#include <stddef.h>

/* Copies src into dst (size n >= 1, always NUL-terminated) through sanitize_for_terminal;
 * with utf8 = 0 each non-ASCII character becomes one '?'. src NULL is "". Returns dst. */
char *textsafe_copy(char *dst, size_t n, const char *src, int utf8);

#endif
