/* chart.h — time-series charts in terminal cells: a framed line chart, a one-row sparkline and
 * a one-row strip for categorical channels.
 *
 * Two layers, as ui/image.h. The pure layer renders into a ChartGrid (code points plus a role
 * per cell) so tests can read the chart as text; chart_grid_draw puts a grid on a curses window
 * with theme attributes. In UTF-8 locales lines are braille dots (2x4 per cell) and sparklines
 * eighth blocks; in ASCII locales every cell is a plain ASCII character.
 *
 * A chart shows: the title with the unit, the last value and when it was taken; y labels at the
 * top and bottom of the range and at the normal range's edges, which are drawn as dotted lines;
 * points outside the normal range in the warning role; hours on the x axis.
 */
#ifndef CHART_H
#define CHART_H

#include <stddef.h>
#include <stdint.h>

#include "store/catalog.h"
#include "store/ps.h"
#include "ui/term.h"
#include "ui/theme.h"

typedef enum {
    CHART_BLANK = 0,
    CHART_TEXT,  /* labels */
    CHART_TITLE, /* the channel's name */
    CHART_VALUE, /* the last value */
    CHART_AXIS,  /* axis lines and tick labels */
    CHART_BAND,  /* the normal range's edges */
    CHART_LINE,  /* data within the normal range (or with no range) */
    CHART_OUT,   /* data outside the normal range */
    CHART_GOOD,  /* strip: a normal category */
    CHART_WARN,  /* strip: somewhat abnormal */
    CHART_BAD,   /* strip: far from normal */
    CHART_GAP,   /* strip / sparkline: no measurement here */
} ChartRole;

typedef struct {
    uint32_t ch; /* code point; ' ' when blank */
    uint8_t role;
} ChartCell;

typedef struct {
    int rows, cols;
    ChartCell *cells; /* rows*cols, row-major; owned, free with chart_grid_free */
} ChartGrid;

typedef struct {
    const char *title; /* e.g. "Heart Rate" (terminal-safe text) */
    const char *brief; /* e.g. "HR", used when the title does not fit; may be NULL */
    const char *unit;  /* e.g. "bpm"; "" or NULL when unitless */
    const float *x, *y; /* n points, x (hours) ascending; NaN values are skipped */
    size_t n;
    double x0, x1; /* hours shown */
    double y0, y1; /* value range shown (y0 < y1) */
    int has_band;
    double band_lo, band_hi; /* normal range (band_lo <= band_hi) */
    int decimals;            /* for value labels */
    /* categorical channels: scores, for strips and their colours */
    int categorical;
    double display_lo, display_hi;
} ChartSpec;

/* Fills s for catalog channel ch over the points (x, y, n) and the hours [x0, x1]: title,
 * unit, y range (display range widened to the data), normal band, decimals. */
void chart_spec_for_channel(ChartSpec *s, int ch, const float *x, const float *y, size_t n,
                            double x0, double x1);

/* The y range of channel c for the values y: [display_low, display_high] widened to cover
 * every finite value, with a little headroom when widened. */
void chart_y_range(const CatalogChannel *c, const float *y, size_t n, double *lo, double *hi);

/* Decimals worth showing for values spanning [lo, hi]: 2 under a span of 2.5, 1 under 25, else 0. */
int chart_decimals(double lo, double hi);

/* The last finite point: index, or -1 when there is none. */
long chart_last_point(const ChartSpec *s);

PsStatus chart_grid_alloc(ChartGrid *g, int rows, int cols, PsErr *err);
void chart_grid_free(ChartGrid *g);

/* The whole chart (title row, plot with y labels, x axis row) into g; g->rows >= 4 and
 * g->cols >= 16 for anything useful (smaller grids get what fits). */
void chart_render(ChartGrid *g, const ChartSpec *s, int utf8);

/* One row at (row, col) of g, width cells: per column the mean of the values in that slice of
 * hours, as a bar height; blank where there is no measurement. */
void chart_sparkline(ChartGrid *g, int row, int col, int width, const ChartSpec *s, int utf8);

/* One row for a categorical channel: per column the last score in that slice of hours, as a
 * digit (scores 0..9) or a bar height, coloured good / warn / bad by distance from normal. */
void chart_strip(ChartGrid *g, int row, int col, int width, const ChartSpec *s, int utf8);

/* Writes text into row of g from col, at most width cells, with role. Returns cells used. */
int chart_put(ChartGrid *g, int row, int col, int width, const char *text, ChartRole role);

/* Row of g as UTF-8 (for tests and text dumps). */
void chart_grid_row_text(const ChartGrid *g, int row, char *buf, size_t n);

/* Draws g at (y, x) of win. */
void chart_grid_draw(WINDOW *win, int y, int x, const ChartGrid *g, const Theme *th);

/* Convenience for screens: render and draw a chart / sparkline / strip in one call (allocation
 * failures draw nothing). */
void chart_draw(WINDOW *win, int y, int x, int h, int w, const ChartSpec *s, const Theme *th, int utf8);
void chart_draw_sparkline(WINDOW *win, int y, int x, int w, const ChartSpec *s, const Theme *th, int utf8);
void chart_draw_strip(WINDOW *win, int y, int x, int w, const ChartSpec *s, const Theme *th, int utf8);

/* Formats v with the spec's decimals ("-" for NaN). */
void chart_fmt(char *buf, size_t n, double v, int decimals);

#endif
