/* table.c — the table widget: index arrays for order and view, cursor and scrolling, column
 * layout for any width, drawing with the theme.
 *
 * It knows nothing of stays or phenotypes: rows, text, ordering and filters are callbacks.
 * It does not sanitise text (the callback's contract) and it does not read keys itself.
 */
#include "ui/table.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

void table_init(Table *t, const TableSpec *spec, void *ctx)
{
    memset(t, 0, sizeof *t);
    t->spec = spec;
    t->ctx = ctx;
    t->page = 10;
}

void table_done(Table *t)
{
    free(t->order);
    free(t->view);
    t->order = t->view = NULL;
    t->n_rows = t->n_view = 0;
}

static int cmp_rows(const void *pa, const void *pb, void *arg)
{
    const Table *t = arg;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int c = t->spec->compare ? t->spec->compare(t->ctx, a, b, t->sort_col) : 0;
    if (t->sort_desc) c = -c;
    if (c) return c;
    return a < b ? -1 : a > b;
}

typedef struct {
    uint64_t k[2];
    size_t row;
} KeyRow;

/* Stable LSD radix sort of the rows by (k[0], k[1]), starting from row order so ties keep
 * ascending row index, as cmp_rows does. Byte positions where every key agrees are skipped.
 * 0 when memory runs short (the caller falls back to qsort). */
static int radix_sort(Table *t)
{
    size_t n = t->n_rows;
    KeyRow *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    size_t(*count)[256] = calloc(16, sizeof *count);
    if (!a || !b || !count) {
        free(a);
        free(b);
        free(count);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        t->spec->sort_key(t->ctx, i, t->sort_col, a[i].k);
        if (t->sort_desc) {
            a[i].k[0] = ~a[i].k[0];
            a[i].k[1] = ~a[i].k[1];
        }
        a[i].row = i;
        for (int p = 0; p < 16; p++) count[p][(a[i].k[p < 8 ? 1 : 0] >> (8 * (p % 8))) & 0xff]++;
    }
    /* passes 0-7: the bytes of k[1], low first; 8-15: those of k[0] */
    for (int p = 0; p < 16; p++) {
        int w = p < 8 ? 1 : 0, sh = 8 * (p % 8);
        size_t *c = count[p];
        int trivial = 0;
        for (int v = 0; v < 256; v++)
            if (c[v] == n) trivial = 1;
        if (trivial) continue;
        size_t pos = 0;
        for (int v = 0; v < 256; v++) {
            size_t k = c[v];
            c[v] = pos;
            pos += k;
        }
        for (size_t i = 0; i < n; i++) b[c[(a[i].k[w] >> sh) & 0xff]++] = a[i];
        KeyRow *tmp = a;
        a = b;
        b = tmp;
    }
    for (size_t i = 0; i < n; i++) t->order[i] = a[i].row;
    free(a);
    free(b);
    free(count);
    return 1;
}

static void resort(Table *t)
{
    if (t->n_rows < 2) return;
    if (t->spec->sort_key && radix_sort(t)) return;
    qsort_r(t->order, t->n_rows, sizeof *t->order, cmp_rows, t);
}

/* Rebuilds view from order; the cursor stays on row `keep` when it is still visible. */
static void rebuild_view(Table *t, size_t keep)
{
    const TableSpec *s = t->spec;
    size_t n = 0, at = TABLE_NONE;
    int searching = t->search[0] && s->match;
    if (searching && s->begin_search) s->begin_search(t->ctx, t->search);
    for (size_t i = 0; i < t->n_rows; i++) {
        size_t r = t->order[i];
        if (s->keep && !s->keep(t->ctx, r)) continue;
        if (searching && !s->match(t->ctx, r, t->search)) continue;
        if (r == keep) at = n;
        t->view[n++] = r;
    }
    t->n_view = n;
    if (at != TABLE_NONE) t->cursor = at;
    else if (t->cursor >= n) t->cursor = n ? n - 1 : 0;
    if (t->top > t->cursor) t->top = t->cursor;
}

PsStatus table_set_rows(Table *t, size_t n_rows, PsErr *err)
{
    size_t *o = NULL, *v = NULL;
    if (n_rows) {
        o = malloc(n_rows * sizeof *o);
        v = malloc(n_rows * sizeof *v);
        if (!o || !v) {
            free(o);
            free(v);
            return ps_err(err, PS_ERR_NOMEM, "table: no memory for %zu rows", n_rows);
        }
    }
    free(t->order);
    free(t->view);
    t->order = o;
    t->view = v;
    t->n_rows = n_rows;
    for (size_t i = 0; i < n_rows; i++) o[i] = i;
    t->cursor = t->top = 0;
    resort(t);
    rebuild_view(t, TABLE_NONE);
    return PS_OK;
}

size_t table_selected(const Table *t)
{
    return t->n_view ? t->view[t->cursor] : TABLE_NONE;
}

void table_sort(Table *t, int col, int desc)
{
    if (col < 0 || col >= t->spec->n_cols) return;
    t->sort_col = col;
    t->sort_desc = desc;
    resort(t);
    /* A new order is read from its top, as after a click on a column header. */
    t->cursor = t->top = 0;
    rebuild_view(t, TABLE_NONE);
}

void table_set_search(Table *t, const char *needle)
{
    size_t keep = table_selected(t);
    snprintf(t->search, sizeof t->search, "%s", needle ? needle : "");
    rebuild_view(t, keep);
}

void table_refilter(Table *t) { rebuild_view(t, table_selected(t)); }

int table_key(Table *t, int key)
{
    size_t n = t->n_view;
    size_t page = t->page > 1 ? (size_t)t->page - 1 : 1;
    switch (key) {
    case KEY_UP:
    case 'k':
        if (t->cursor > 0) t->cursor--;
        break;
    case KEY_DOWN:
    case 'j':
        if (t->cursor + 1 < n) t->cursor++;
        break;
    case KEY_PPAGE:
    case 'U' - 64: /* Ctrl-U */
        t->cursor = t->cursor > page ? t->cursor - page : 0;
        break;
    case KEY_NPAGE:
    case 'D' - 64: /* Ctrl-D */
    case ' ':
        t->cursor = n ? (t->cursor + page < n ? t->cursor + page : n - 1) : 0;
        break;
    case KEY_HOME:
    case 'g':
        t->cursor = 0;
        break;
    case KEY_END:
    case 'G':
        t->cursor = n ? n - 1 : 0;
        break;
    default:
        return 0;
    }
    return 1;
}

int table_layout(const TableSpec *spec, int w, int *out)
{
    int n = spec->n_cols;
    int shown[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) shown[i] = 1;
    for (;;) {
        int need = 0, flex = -1, count = 0;
        for (int i = 0; i < n; i++) {
            if (!shown[i]) continue;
            count++;
            if (spec->cols[i].width == 0) {
                flex = i;
                need += spec->cols[i].min_width;
            } else {
                need += spec->cols[i].width;
            }
        }
        need += count > 0 ? count - 1 : 0; /* one blank between columns */
        if (need <= w || count == 0) {
            for (int i = 0; i < n; i++) out[i] = shown[i] ? spec->cols[i].width : 0;
            if (flex >= 0) out[flex] = spec->cols[flex].min_width + (w - need);
            return count;
        }
        /* Drop the shown column with the highest drop rank; give up when none may go. */
        int worst = -1;
        for (int i = 0; i < n; i++)
            if (shown[i] && spec->cols[i].drop > 0 &&
                (worst < 0 || spec->cols[i].drop > spec->cols[worst].drop))
                worst = i;
        if (worst < 0) {
            /* Even the essential columns do not fit: show them clipped at the right edge. */
            for (int i = 0; i < n; i++)
                out[i] = shown[i] ? (spec->cols[i].width ? spec->cols[i].width : spec->cols[i].min_width) : 0;
            return count;
        }
        shown[worst] = 0;
    }
}

int table_text_width(const char *text)
{
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    int w = 0;
    size_t len = strlen(text);
    while (len > 0) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, text, len, &ps);
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
            memset(&ps, 0, sizeof ps);
            k = 1;
            wc = L'?';
        }
        int cw = wcwidth(wc);
        w += cw > 0 ? cw : 0;
        text += k;
        len -= k;
    }
    return w;
}

void table_put_text(WINDOW *win, int y, int x, int width, const char *text, TableAlign align,
                    int utf8)
{
    if (width <= 0) return;
    wchar_t buf[512];
    int widths[512];
    int n = 0, total = 0;
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    size_t len = strlen(text);
    while (len > 0 && n < 511) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, text, len, &ps);
        if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
            memset(&ps, 0, sizeof ps);
            k = 1;
            wc = L'?';
        }
        int cw = wcwidth(wc);
        if (cw < 0) {
            wc = L'?';
            cw = 1;
        }
        buf[n] = wc;
        widths[n++] = cw;
        total += cw;
        text += k;
        len -= k;
    }
    int cut = 0;
    if (total > width) {
        /* Keep what fits in width-1 cells, then the mark. */
        int w = 0, i = 0;
        while (i < n && w + widths[i] <= width - 1) w += widths[i++];
        n = i;
        total = w + 1;
        cut = 1;
    }
    int pad = width - total, lead = align == TABLE_RIGHT ? pad : 0;
    wmove(win, y, x);
    for (int i = 0; i < lead; i++) waddch(win, ' ');
    if (n > 0) waddnwstr(win, buf, n);
    if (cut) {
        if (utf8) waddwstr(win, L"\u2026");
        else waddch(win, '~');
    }
    for (int i = 0; i < pad - lead; i++) waddch(win, ' ');
}

void table_draw(Table *t, WINDOW *win, int y, int x, int h, int w, const Theme *th, int utf8)
{
    const TableSpec *s = t->spec;
    if (h < 1 || w < 1) return;
    int widths[64];
    table_layout(s, w, widths);
    int n = s->n_cols > 64 ? 64 : s->n_cols;

    /* header */
    wattrset(win, theme_attr(th, THEME_HEADER));
    mvwhline(win, y, x, ' ', w);
    int cx = x;
    for (int i = 0; i < n && cx < x + w; i++) {
        if (!widths[i]) continue;
        int cw = widths[i] < x + w - cx ? widths[i] : x + w - cx;
        char title[96];
        const char *arrow = "";
        if (i == t->sort_col) arrow = utf8 ? (t->sort_desc ? "\u25bc" : "\u25b2") : (t->sort_desc ? "v" : "^");
        if (s->cols[i].align == TABLE_RIGHT) snprintf(title, sizeof title, "%s%s", arrow, s->cols[i].title);
        else snprintf(title, sizeof title, "%s%s", s->cols[i].title, arrow);
        wattrset(win, theme_attr(th, i == t->sort_col ? THEME_HEADER_SORT : THEME_HEADER));
        table_put_text(win, y, cx, cw, title, s->cols[i].align, utf8);
        cx += cw + 1;
    }
    wattrset(win, A_NORMAL);

    int body = h - 1;
    t->page = body > 0 ? body : 1;
    if (body <= 0) return;
    /* Scroll so the cursor stays visible, keeping the page full where possible. */
    if (t->cursor < t->top) t->top = t->cursor;
    if (t->cursor >= t->top + (size_t)body) t->top = t->cursor - (size_t)body + 1;
    if (t->n_view > (size_t)body && t->top + (size_t)body > t->n_view) t->top = t->n_view - (size_t)body;
    if (t->n_view <= (size_t)body) t->top = 0;

    char text[256];
    for (int r = 0; r < body; r++) {
        size_t vi = t->top + (size_t)r;
        int ry = y + 1 + r;
        if (vi >= t->n_view) {
            wattrset(win, A_NORMAL);
            mvwhline(win, ry, x, ' ', w);
            continue;
        }
        size_t row = t->view[vi];
        int sel = vi == t->cursor;
        attr_t base = sel ? theme_attr(th, THEME_SELECTED) : A_NORMAL;
        wattrset(win, base);
        mvwhline(win, ry, x, ' ', w);
        cx = x;
        for (int i = 0; i < n && cx < x + w; i++) {
            if (!widths[i]) continue;
            int cw = widths[i] < x + w - cx ? widths[i] : x + w - cx;
            ThemeRole role = THEME_NORMAL;
            text[0] = 0;
            s->cell(t->ctx, row, i, text, sizeof text, &role);
            wattrset(win, sel || role == THEME_NORMAL ? base : theme_attr(th, role));
            table_put_text(win, ry, cx, cw, text, s->cols[i].align, utf8);
            wattrset(win, base);
            cx += cw + 1;
        }
    }
    wattrset(win, A_NORMAL);
}
