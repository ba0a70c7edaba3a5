/* chart.c — line charts (braille or ASCII), sparklines and categorical strips in cells.
 *
 * Rendering is pure (into a ChartGrid) so the picture can be tested as text; only
 * chart_grid_draw touches curses. It does not choose what to chart or fetch data, and it does
 * not resample: every point lands in the dot it falls in, consecutive points are joined by a
 * straight line unless a day or more lies between them (a gap the eye should see).
 */
#include "ui/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sanitize.h"

#define JOIN_MAX_HOURS 24.0

/* 1 when the UTF-8 text fits in width cells (one cell per character). */
static int table_len_fits(const char *t, int width)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if ((*p & 0xc0) != 0x80) n++;
    return n <= width;
}

static ChartCell *cell(ChartGrid *g, int r, int c)
{
    if (r < 0 || c < 0 || r >= g->rows || c >= g->cols) return NULL;
    return &g->cells[(size_t)r * g->cols + c];
}

PsStatus chart_grid_alloc(ChartGrid *g, int rows, int cols, PsErr *err)
{
    g->rows = rows > 0 ? rows : 0;
    g->cols = cols > 0 ? cols : 0;
    g->cells = calloc((size_t)g->rows * g->cols + 1, sizeof *g->cells);
    if (!g->cells) {
        g->rows = g->cols = 0;
        return ps_err(err, PS_ERR_NOMEM, "chart: no memory for %dx%d cells", rows, cols);
    }
    for (size_t i = 0; i < (size_t)g->rows * g->cols; i++) g->cells[i] = (ChartCell){' ', CHART_BLANK};
    return PS_OK;
}

void chart_grid_free(ChartGrid *g)
{
    free(g->cells);
    g->cells = NULL;
    g->rows = g->cols = 0;
}

int chart_put(ChartGrid *g, int row, int col, int width, const char *text, ChartRole role)
{
    int used = 0;
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    size_t len = strlen((const char *)p);
    while (*p && used < width) {
        unsigned cp;
        int k = sanitize_utf8_decode(p, len, &cp);
        if (k <= 0) {
            cp = '?';
            k = 1;
        }
        ChartCell *c = cell(g, row, col + used);
        if (c) *c = (ChartCell){cp, (uint8_t)role};
        used++;
        p += k;
        len -= (size_t)k;
    }
    return used;
}

void chart_grid_row_text(const ChartGrid *g, int row, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    if (row < 0 || row >= g->rows) return;
    for (int c = 0; c < g->cols; c++) {
        uint32_t u = g->cells[(size_t)row * g->cols + c].ch;
        char mb[4];
        int m = 0;
        if (u < 0x80) mb[m++] = (char)u;
        else if (u < 0x800) {
            mb[m++] = (char)(0xc0 | (u >> 6));
            mb[m++] = (char)(0x80 | (u & 0x3f));
        } else {
            mb[m++] = (char)(0xe0 | (u >> 12));
            mb[m++] = (char)(0x80 | ((u >> 6) & 0x3f));
            mb[m++] = (char)(0x80 | (u & 0x3f));
        }
        if (k + (size_t)m + 1 > n) break;
        memcpy(buf + k, mb, (size_t)m);
        k += (size_t)m;
    }
    buf[k] = 0;
}

int chart_decimals(double lo, double hi)
{
    double span = hi - lo;
    return span < 2.5 ? 2 : span < 25 ? 1 : 0;
}

void chart_fmt(char *buf, size_t n, double v, int decimals)
{
    if (!isfinite(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.*f", decimals, v);
}

void chart_y_range(const CatalogChannel *c, const float *y, size_t n, double *lo, double *hi)
{
    double a = c->display_low, b = c->display_high;
    double dmin = INFINITY, dmax = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(y[i])) {
            if (y[i] < dmin) dmin = y[i];
            if (y[i] > dmax) dmax = y[i];
        }
    double pad = (b - a) * 0.05;
    if (dmin < a) a = dmin - pad;
    if (dmax > b) b = dmax + pad;
    if (!(b > a)) b = a + 1;
    *lo = a;
    *hi = b;
}

void chart_spec_for_channel(ChartSpec *s, int ch, const float *x, const float *y, size_t n,
                            double x0, double x1)
{
    const CatalogChannel *c = &catalog_channels[ch];
    memset(s, 0, sizeof *s);
    s->title = c->name;
    s->brief = c->brief;
    s->unit = c->unit;
    s->x = x;
    s->y = y;
    s->n = n;
    s->x0 = x0;
    s->x1 = x1 > x0 ? x1 : x0 + 1;
    chart_y_range(c, y, n, &s->y0, &s->y1);
    s->has_band = c->normal_high >= c->normal_low;
    s->band_lo = c->normal_low;
    s->band_hi = c->normal_high;
    s->decimals = c->categorical ? 0 : chart_decimals(c->display_low, c->display_high);
    s->categorical = c->categorical;
    s->display_lo = c->display_low;
    s->display_hi = c->display_high;
}

long chart_last_point(const ChartSpec *s)
{
    for (size_t i = s->n; i > 0; i--)
        if (isfinite(s->y[i - 1])) return (long)(i - 1);
    return -1;
}

static int outside(const ChartSpec *s, double v)
{
    return s->has_band && (v < s->band_lo || v > s->band_hi);
}

/* ---- the line chart ------------------------------------------------------------------------ */

typedef struct {
    int W, H; /* dots */
    uint8_t *dot; /* W*H: 0 none, 1 band, 2 data in range, 3 data outside, 4 data point */
} Dots;

static void dot_set(Dots *d, int x, int y, uint8_t v)
{
    if (x < 0 || y < 0 || x >= d->W || y >= d->H) return;
    uint8_t *p = &d->dot[(size_t)y * d->W + x];
    if (v > *p) *p = v;
}

static int dot_y(const ChartSpec *s, double v, int H)
{
    double t = (s->y1 - v) / (s->y1 - s->y0);
    int y = (int)lround(t * (H - 1));
    return y < 0 ? 0 : y >= H ? H - 1 : y;
}

static int dot_x(const ChartSpec *s, double h, int W)
{
    double t = (h - s->x0) / (s->x1 - s->x0);
    int x = (int)lround(t * (W - 1));
    return x < 0 ? 0 : x >= W ? W - 1 : x;
}

/* Value at dot row y (the inverse of dot_y at the dot's centre). */
static double dot_value(const ChartSpec *s, int y, int H)
{
    return s->y1 - (s->y1 - s->y0) * (H > 1 ? (double)y / (H - 1) : 0);
}

static void plot_dots(Dots *d, const ChartSpec *s)
{
    if (s->has_band) {
        int yh = dot_y(s, s->band_hi, d->H), yl = dot_y(s, s->band_lo, d->H);
        /* one dot every other cell: a light dotted line the data crosses over */
        for (int x = 0; x < d->W; x += 4) {
            dot_set(d, x, yh, 1);
            dot_set(d, x, yl, 1);
        }
    }
    int px = -1, py = -1;
    double ph = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i]) || s->x[i] < s->x0 || s->x[i] > s->x1) continue;
        int x = dot_x(s, s->x[i], d->W), y = dot_y(s, s->y[i], d->H);
        if (px >= 0 && s->x[i] - ph <= JOIN_MAX_HOURS) {
            /* Bresenham from the previous point; each dot judged by its own value */
            int dx = abs(x - px), dy = -abs(y - py), sx = px < x ? 1 : -1, sy = py < y ? 1 : -1;
            int e = dx + dy, cx = px, cy = py;
            for (;;) {
                dot_set(d, cx, cy, outside(s, dot_value(s, cy, d->H)) ? 3 : 2);
                if (cx == x && cy == y) break;
                int e2 = 2 * e;
                if (e2 >= dy) {
                    e += dy;
                    cx += sx;
                }
                if (e2 <= dx) {
                    e += dx;
                    cy += sy;
                }
            }
        }
        dot_set(d, x, y, outside(s, s->y[i]) ? 4 + 1 : 4);
        px = x;
        py = y;
        ph = s->x[i];
    }
}

/* Braille: dot (cx, cy) of a cell -> bit. */
static const uint8_t braille_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

static void plot_cells(ChartGrid *g, int r0, int c0, int rows, int cols, const ChartSpec *s, int utf8)
{
    Dots d = {.W = cols * (utf8 ? 2 : 1), .H = rows * (utf8 ? 4 : 1)};
    d.dot = calloc((size_t)d.W * d.H + 1, 1);
    if (!d.dot) return;
    plot_dots(&d, s);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            ChartCell *out = cell(g, r0 + r, c0 + c);
            if (!out) continue;
            int best = 0, bits = 0, point = 0;
            int cw = utf8 ? 2 : 1, chh = utf8 ? 4 : 1;
            for (int yy = 0; yy < chh; yy++)
                for (int xx = 0; xx < cw; xx++) {
                    int v = d.dot[(size_t)(r * chh + yy) * d.W + c * cw + xx];
                    if (!v) continue;
                    int rank = v == 5 ? 3 : v == 4 ? 2 : v; /* a point outside ranks as outside */
                    if (v >= 4) point = 1;
                    if (rank > best) best = rank;
                    if (utf8) bits |= braille_bit[yy][xx];
                }
            if (!best) continue;
            ChartRole role = best == 1 ? CHART_BAND : best == 3 ? CHART_OUT : CHART_LINE;
            /* a cell with data shows only the data dots, so the band never thickens the line */
            if (utf8 && best > 1) {
                bits = 0;
                for (int yy = 0; yy < chh; yy++)
                    for (int xx = 0; xx < cw; xx++)
                        if (d.dot[(size_t)(r * chh + yy) * d.W + c * cw + xx] >= 2) bits |= braille_bit[yy][xx];
            }
            uint32_t ch = utf8 ? 0x2800u + (uint32_t)bits : best == 1 ? '-' : point ? '*' : '.';
            *out = (ChartCell){ch, (uint8_t)role};
        }
    free(d.dot);
}

/* Hours between x ticks: the first nice step leaving at least min_cols columns per label. */
static double x_step(double span, int cols, int min_cols)
{
    static const double steps[] = {1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 1440, 2880, 8760};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (span / steps[i] * min_cols <= cols) return steps[i];
    return span;
}

void chart_render(ChartGrid *g, const ChartSpec *s, int utf8)
{
    if (g->rows < 1 || g->cols < 1) return;
    char buf[160], num[32];
    /* title row: name (unit) ... last value at hour */
    snprintf(buf, sizeof buf, "%s%s%s%s", s->title ? s->title : "", s->unit && s->unit[0] ? " (" : "",
             s->unit && s->unit[0] ? s->unit : "", s->unit && s->unit[0] ? ")" : "");
    long last = chart_last_point(s);
    char right[96];
    if (last >= 0) {
        chart_fmt(num, sizeof num, s->y[last], s->decimals);
        snprintf(right, sizeof right, "%s%s%s @%.0fh", num, s->unit && s->unit[0] ? " " : "",
                 s->unit && s->unit[0] ? s->unit : "", (double)s->x[last]);
    } else {
        snprintf(right, sizeof right, "no data");
    }
    int rw = (int)strlen(right);
    if (s->brief && table_len_fits(buf, g->cols - rw - 1) == 0)
        snprintf(buf, sizeof buf, "%s%s%s%s", s->brief, s->unit && s->unit[0] ? " (" : "",
                 s->unit && s->unit[0] ? s->unit : "", s->unit && s->unit[0] ? ")" : "");
    int tw = chart_put(g, 0, 0, g->cols - (rw < g->cols - 4 ? rw + 1 : 0), buf, CHART_TITLE);
    if (s->has_band && g->cols - tw - rw - 2 >= 16) {
        char lo[32], hi[32];
        chart_fmt(lo, sizeof lo, s->band_lo, s->decimals);
        chart_fmt(hi, sizeof hi, s->band_hi, s->decimals);
        snprintf(buf, sizeof buf, " normal %s%s%s", lo, utf8 ? "\u2013" : "-", hi);
        if (s->band_lo == s->band_hi) snprintf(buf, sizeof buf, " normal %s", lo);
        chart_put(g, 0, tw, g->cols - tw - rw - 1, buf, CHART_AXIS);
    }
    if (rw < g->cols - 4) chart_put(g, 0, g->cols - rw, rw, right, last >= 0 ? CHART_VALUE : CHART_AXIS);
    if (g->rows < 3) return;

    int ph = g->rows - 2;
    /* y labels: top and bottom of the range, the band's edges when they land on other rows */
    char lab[4][24];
    double val[4] = {s->y1, s->y0, s->band_hi, s->band_lo};
    int nlab = s->has_band ? 4 : 2, gw = 0;
    for (int i = 0; i < nlab; i++) {
        chart_fmt(lab[i], sizeof lab[i], val[i], s->decimals);
        int l = (int)strlen(lab[i]);
        if (l > gw) gw = l;
    }
    int pc0 = gw + 1, pw = g->cols - pc0;
    if (pw < 2) {
        pc0 = 0;
        pw = g->cols;
        gw = -1;
    }
    int rowof[4];
    int H = ph * (utf8 ? 4 : 1);
    for (int i = 0; i < nlab; i++) rowof[i] = dot_y(s, val[i], H) / (utf8 ? 4 : 1);
    if (gw >= 0) {
        for (int r = 0; r < ph; r++) {
            ChartCell *a = cell(g, 1 + r, gw);
            if (a) *a = (ChartCell){utf8 ? 0x2502u : '|', CHART_AXIS};
        }
        int used[64] = {0};
        for (int i = 0; i < nlab; i++) {
            int r = rowof[i];
            if (r < 0 || r >= ph || (r < 64 && used[r])) continue;
            if (r < 64) used[r] = 1;
            int l = (int)strlen(lab[i]);
            chart_put(g, 1 + r, gw - l, l, lab[i], i >= 2 ? CHART_BAND : CHART_AXIS);
            ChartCell *a = cell(g, 1 + r, gw);
            if (a) *a = (ChartCell){utf8 ? 0x2524u : '+', i >= 2 ? CHART_BAND : CHART_AXIS};
        }
    }
    plot_cells(g, 1, pc0, ph, pw, s, utf8);

    /* x axis: hour ticks from a nice step, labels where they do not collide */
    int xr = g->rows - 1;
    double span = s->x1 - s->x0;
    double step = x_step(span, pw, 7);
    double first = ceil(s->x0 / step) * step;
    int next_free = 0;
    if (gw >= 0) {
        ChartCell *a = cell(g, xr, gw);
        if (a) *a = (ChartCell){utf8 ? 0x2514u : '+', CHART_AXIS};
    }
    for (int c = 0; c < pw; c++) {
        ChartCell *a = cell(g, xr, pc0 + c);
        if (a) *a = (ChartCell){utf8 ? 0x2500u : '-', CHART_AXIS};
    }
    for (double t = first; t <= s->x1 + 1e-9; t += step) {
        int c = (int)lround((t - s->x0) / span * (pw * (utf8 ? 2 : 1) - 1)) / (utf8 ? 2 : 1);
        snprintf(num, sizeof num, "%.0fh", t);
        int l = (int)strlen(num);
        if (c < next_free || c + l > pw) continue;
        ChartCell *a = cell(g, xr, pc0 + c);
        if (a) *a = (ChartCell){utf8 ? 0x2534u : '+', CHART_AXIS};
        if (c + 1 + l <= pw) chart_put(g, xr, pc0 + c + 1, l, num, CHART_AXIS);
        next_free = c + l + 2;
    }
}

/* ---- one-row forms ------------------------------------------------------------------------- */

static int col_of(const ChartSpec *s, double h, int width)
{
    double t = (h - s->x0) / (s->x1 - s->x0);
    int c = (int)floor(t * width);
    return c < 0 ? 0 : c >= width ? width - 1 : c;
}

void chart_sparkline(ChartGrid *g, int row, int col, int width, const ChartSpec *s, int utf8)
{
    if (width < 1) return;
    double *sum = calloc((size_t)width, sizeof *sum);
    int *cnt = calloc((size_t)width, sizeof *cnt);
    if (!sum || !cnt) goto done;
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i]) || s->x[i] < s->x0 || s->x[i] > s->x1) continue;
        int c = col_of(s, s->x[i], width);
        sum[c] += s->y[i];
        cnt[c]++;
    }
    static const char ascii[] = "_.-:=+*#";
    for (int c = 0; c < width; c++) {
        ChartCell *o = cell(g, row, col + c);
        if (!o) continue;
        if (!cnt[c]) {
            *o = (ChartCell){' ', CHART_GAP};
            continue;
        }
        double m = sum[c] / cnt[c];
        double t = (m - s->y0) / (s->y1 - s->y0);
        int lvl = (int)floor(t * 8);
        lvl = lvl < 0 ? 0 : lvl > 7 ? 7 : lvl;
        *o = (ChartCell){utf8 ? 0x2581u + (uint32_t)lvl : (uint32_t)ascii[lvl],
                         (uint8_t)(outside(s, m) ? CHART_OUT : CHART_LINE)};
    }
done:
    free(sum);
    free(cnt);
}

static ChartRole severity(const ChartSpec *s, double v)
{
    if (!s->has_band || (v >= s->band_lo && v <= s->band_hi)) return CHART_GOOD;
    double d = v < s->band_lo ? (s->band_lo - v) / (s->band_lo - s->display_lo)
                              : (v - s->band_hi) / (s->display_hi - s->band_hi);
    if (!isfinite(d)) d = 1;
    return d > 0.6 ? CHART_BAD : CHART_WARN;
}

void chart_strip(ChartGrid *g, int row, int col, int width, const ChartSpec *s, int utf8)
{
    if (width < 1) return;
    for (int c = 0; c < width; c++) {
        ChartCell *o = cell(g, row, col + c);
        if (o) *o = (ChartCell){utf8 ? 0x00b7u : '.', CHART_GAP};
    }
    int digits = s->display_lo >= 0 && s->display_hi <= 9;
    static const char ascii[] = "_.-:=+*#";
    /* points are in time order, so the last write to a column is its latest score */
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i]) || s->x[i] < s->x0 || s->x[i] > s->x1) continue;
        ChartCell *o = cell(g, row, col + col_of(s, s->x[i], width));
        if (!o) continue;
        double v = s->y[i];
        uint32_t ch;
        if (digits && v >= 0 && v <= 9) {
            ch = (uint32_t)('0' + (int)lround(v));
        } else {
            double t = (v - s->y0) / (s->y1 - s->y0);
            int lvl = (int)floor(t * 8);
            lvl = lvl < 0 ? 0 : lvl > 7 ? 7 : lvl;
            ch = utf8 ? 0x2581u + (uint32_t)lvl : (uint32_t)ascii[lvl];
        }
        *o = (ChartCell){ch, (uint8_t)severity(s, v)};
    }
}

/* ---- curses -------------------------------------------------------------------------------- */

static attr_t role_attr(const Theme *th, uint8_t role)
{
    switch (role) {
    case CHART_TITLE: return A_BOLD;
    case CHART_VALUE: return theme_attr(th, THEME_ACCENT) | A_BOLD;
    case CHART_AXIS: return theme_attr(th, THEME_DIM);
    case CHART_BAND: return theme_attr(th, THEME_GOOD) | (th->mode == THEME_MODE_MONO ? A_DIM : 0);
    case CHART_LINE: return theme_attr(th, THEME_ACCENT);
    case CHART_OUT: return theme_attr(th, THEME_WARN) | (th->mode == THEME_MODE_MONO ? A_BOLD : 0);
    case CHART_GOOD: return theme_attr(th, THEME_GOOD);
    case CHART_WARN: return theme_attr(th, THEME_WARN) | (th->mode == THEME_MODE_MONO ? A_UNDERLINE : 0);
    case CHART_BAD: return theme_attr(th, THEME_BAD) | (th->mode == THEME_MODE_MONO ? A_BOLD | A_UNDERLINE : 0);
    case CHART_GAP: return theme_attr(th, THEME_DIM);
    default: return A_NORMAL;
    }
}

void chart_grid_draw(WINDOW *win, int y, int x, const ChartGrid *g, const Theme *th)
{
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) {
            const ChartCell *cl = &g->cells[(size_t)r * g->cols + c];
            attr_t a = role_attr(th, cl->role);
            wchar_t wch[2] = {(wchar_t)cl->ch, 0};
            cchar_t cc;
            setcchar(&cc, wch, a & ~A_COLOR, (short)PAIR_NUMBER(a), NULL);
            mvwadd_wch(win, y + r, x + c, &cc);
        }
}

void chart_draw(WINDOW *win, int y, int x, int h, int w, const ChartSpec *s, const Theme *th, int utf8)
{
    ChartGrid g;
    if (h < 1 || w < 1 || chart_grid_alloc(&g, h, w, NULL) != PS_OK) return;
    chart_render(&g, s, utf8);
    chart_grid_draw(win, y, x, &g, th);
    chart_grid_free(&g);
}

void chart_draw_sparkline(WINDOW *win, int y, int x, int w, const ChartSpec *s, const Theme *th, int utf8)
{
    ChartGrid g;
    if (w < 1 || chart_grid_alloc(&g, 1, w, NULL) != PS_OK) return;
    chart_sparkline(&g, 0, 0, w, s, utf8);
    chart_grid_draw(win, y, x, &g, th);
    chart_grid_free(&g);
}

void chart_draw_strip(WINDOW *win, int y, int x, int w, const ChartSpec *s, const Theme *th, int utf8)
{
    ChartGrid g;
    if (w < 1 || chart_grid_alloc(&g, 1, w, NULL) != PS_OK) return;
    chart_strip(&g, 0, 0, w, s, utf8);
    chart_grid_draw(win, y, x, &g, th);
    chart_grid_free(&g);
}
