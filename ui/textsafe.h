/* textsafe.h — text from data made safe for the terminal.
 *
 * Every string that comes from a store, a CSV or a file name passes through textsafe_copy
 * before curses sees it: no control character, escape sequence, C1 control, bidirectional
 * override or invalid UTF-8 reaches the terminal. (Written in ui/ because store/sanitize.h did
 * not exist when the TUI needed it; one of the two should absorb the other.)
 */
#ifndef TEXTSAFE_H
#define TEXTSAFE_H

#include <stddef.h>

/* Copies src into dst (size n >= 1, always NUL-terminated): tabs and newlines become blanks,
 * other C0 controls, DEL, C1 controls (U+0080..U+009F), bidi controls (U+202A..U+202E,
 * U+2066..U+2069), U+FEFF and invalid UTF-8 become '?'; with utf8 = 0 every non-ASCII
 * character becomes '?'. A character is never cut in half at the end. Returns dst. */
char *textsafe_copy(char *dst, size_t n, const char *src, int utf8);

#endif
