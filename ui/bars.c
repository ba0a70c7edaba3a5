/* bars.c — probability and difference bars as text (see bars.h).
 *
 * Only the rendering: the caller chooses colours, labels and the numbers beside the bars. No
 * vertical bars (ui/chart.h has sparklines).
 */
#include "ui/bars.h"

#include <math.h>
#include <string.h>

/* U+2588 full block, then U+258F..U+2589: one to seven eighths (left-aligned). */
static const char *const eighth[8] = {"",           "\xe2\x96\x8f", "\xe2\x96\x8e", "\xe2\x96\x8d",
                                      "\xe2\x96\x8c", "\xe2\x96\x8b", "\xe2\x96\x8a", "\xe2\x96\x89"};
#define FULL "\xe2\x96\x88"

static double clamp01(double p) { return p < 0 ? 0 : p > 1 ? 1 : p; }

int bars_eighths(double p, int width)
{
    if (width <= 0 || isnan(p)) return 0;
    return (int)lround(clamp01(p) * width * 8);
}

/* Appends s to buf at *at if it fits (keeping room for the terminator). */
static int put(char *buf, size_t n, size_t *at, const char *s)
{
    size_t l = strlen(s);
    if (*at + l + 1 > n) return 0;
    memcpy(buf + *at, s, l);
    *at += l;
    buf[*at] = 0;
    return 1;
}

size_t bars_render(char *buf, size_t n, double p, int width, int utf8)
{
    size_t at = 0;
    if (!n) return 0;
    buf[0] = 0;
    int cells = 0;
    if (isnan(p)) {
        if (width > 0 && put(buf, n, &at, "?")) cells = 1;
    } else if (utf8) {
        int e = bars_eighths(p, width);
        for (; cells < e / 8 && put(buf, n, &at, FULL); cells++) {}
        if (e % 8 && cells < width && put(buf, n, &at, eighth[e % 8])) cells++;
    } else {
        int full = (int)lround(clamp01(p) * width);
        for (; cells < full && put(buf, n, &at, "#"); cells++) {}
    }
    for (; cells < width && put(buf, n, &at, " "); cells++) {}
    return at;
}

size_t bars_render_diff(char *buf, size_t n, double d, int width, int utf8)
{
    size_t at = 0;
    if (!n) return 0;
    buf[0] = 0;
    if (width <= 0) return 0;
    int half = (width - 1) / 2, right = width - 1 - half;
    double m = isnan(d) ? 0 : d < -1 ? -1 : d > 1 ? 1 : d;
    /* whole cells on the side of the sign: a half-cell glyph would point the wrong way on the
     * left, and whole cells read the same in both locales */
    int lfill = m < 0 ? (int)lround(-m * half) : 0;
    int rfill = m > 0 ? (int)lround(m * right) : 0;
    const char *blk = utf8 ? FULL : "=";
    for (int i = 0; i < half; i++)
        if (!put(buf, n, &at, i >= half - lfill ? blk : " ")) return at;
    if (!put(buf, n, &at, isnan(d) ? "?" : utf8 ? "\xe2\x94\x82" : "|")) return at;
    for (int i = 0; i < right; i++)
        if (!put(buf, n, &at, i < rfill ? blk : " ")) return at;
    return at;
}

void bars_draw(WINDOW *win, int y, int x, int width, double p, attr_t attr, int utf8)
{
    char buf[512];
    if (width <= 0) return;
    if (width > 120) width = 120;
    bars_render(buf, sizeof buf, p, width, utf8);
    wattrset(win, attr);
    mvwaddstr(win, y, x, buf);
    wattrset(win, A_NORMAL);
}

void bars_draw_diff(WINDOW *win, int y, int x, int width, double d, attr_t attr, int utf8)
{
    char buf[512];
    if (width <= 0) return;
    if (width > 120) width = 120;
    bars_render_diff(buf, sizeof buf, d, width, utf8);
    wattrset(win, attr);
    mvwaddstr(win, y, x, buf);
    wattrset(win, A_NORMAL);
}
