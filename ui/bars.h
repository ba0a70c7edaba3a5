/* bars.h — horizontal probability bars in terminal cells: a bar for p in [0, 1] and a centred
 * bar for a signed difference in [-1, 1].
 *
 * Two layers, as ui/chart.h. bars_render / bars_render_diff write the bar as text (UTF-8 eighth
 * blocks, or ASCII '#' / '=' in ASCII locales) so tests can read it; bars_draw puts one on a
 * curses window with a theme attribute. Values outside the range are clamped; NaN draws an
 * empty bar with a '?' at its start so a missing value never looks like zero.
 */
#ifndef BARS_H
#define BARS_H

#include <stddef.h>

#include "ui/term.h"

/* Cells a bar of width cells fills for p, in eighths (UTF-8) or whole cells (ASCII): the
 * rounding used by bars_render, exposed for tests. */
int bars_eighths(double p, int width);

/* The bar for p as exactly width cells of text (padded with spaces) into buf; returns the bytes
 * written (buf is always terminated; a too-small buf gets a shorter bar). */
size_t bars_render(char *buf, size_t n, double p, int width, int utf8);

/* A centred bar for d in [-1, 1]: the left half fills leftwards for d < 0, the right half
 * rightwards for d > 0, a tick marks zero. width cells (odd widths keep the tick centred). */
size_t bars_render_diff(char *buf, size_t n, double d, int width, int utf8);

/* Draws a bar at (y, x) of win, width cells, with attr. */
void bars_draw(WINDOW *win, int y, int x, int width, double p, attr_t attr, int utf8);
void bars_draw_diff(WINDOW *win, int y, int x, int width, double d, attr_t attr, int utf8);

#endif
