/* table.h — a scrolling, sortable, filterable table widget over rows the caller owns.
 *
 * The table never copies row data: it keeps index arrays. `order` is every row sorted by the
 * current column; `view` is the subsequence that passes the filter and the search. A new
 * search or filter only re-walks `order` (linear), a new sort column re-sorts once (a radix sort
 * on keys when the spec gives sort_key), so 50,000 rows stay instant. The cursor follows its row across searches and filters when it can;
 * a new sort starts at the top.
 *
 * Cell text comes from a callback that must return terminal-safe text (sanitised).
 */
#ifndef TABLE_H
#define TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/ps.h"
#include "ui/term.h"
#include "ui/theme.h"

typedef enum { TABLE_LEFT = 0, TABLE_RIGHT = 1 } TableAlign;

typedef struct {
    const char *title;
    int width;    /* cells; 0 = flexible: takes what is left, at least min_width */
    int min_width;
    TableAlign align;
    int drop;     /* when the screen is narrow, columns with higher drop go first; 0 never */
} TableColumn;

typedef struct {
    const TableColumn *cols;
    int n_cols;
    /* Text of a cell into buf (UTF-8, terminal-safe); *role may be set to a theme role. */
    void (*cell)(void *ctx, size_t row, int col, char *buf, size_t n, ThemeRole *role);
    /* Orders two rows by column col (ascending); ties are broken by row index. */
    int (*compare)(void *ctx, size_t a, size_t b, int col);
    /* Optional, and then used instead of compare to sort (a radix sort, a few ms for 50,000
     * rows where qsort with compare takes tens): the row's order under column col as two keys
     * compared as unsigned numbers, key[0] first. Must agree with compare. Ties are broken by
     * row index. table_key_i64 / table_key_dbl turn numbers into such keys. */
    void (*sort_key)(void *ctx, size_t row, int col, uint64_t key[2]);
    /* 1 when row passes the caller's filters; NULL = every row. */
    int (*keep)(void *ctx, size_t row);
    /* Called once before a search pass with the search text, so match can stay cheap;
     * NULL = nothing to prepare. */
    void (*begin_search)(void *ctx, const char *needle);
    /* 1 when row matches the search text (non-empty); NULL = search disabled. */
    int (*match)(void *ctx, size_t row, const char *needle);
} TableSpec;

/* Order-preserving unsigned keys for sort_key. NaN sorts after +inf. */
static inline uint64_t table_key_i64(int64_t v) { return (uint64_t)v ^ (1ull << 63); }
static inline uint64_t table_key_dbl(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b >> 63) ? ~b : b | (1ull << 63);
}

#define TABLE_SEARCH_MAX 64
#define TABLE_NONE ((size_t)-1)

typedef struct {
    const TableSpec *spec;
    void *ctx;
    size_t n_rows;
    size_t *order; /* all rows in sort order */
    size_t *view;  /* visible rows, a subsequence of order */
    size_t n_view;
    size_t cursor, top; /* positions in view */
    int sort_col, sort_desc;
    char search[TABLE_SEARCH_MAX];
    int page; /* body rows at the last draw, for PgUp/PgDn */
} Table;

void table_init(Table *t, const TableSpec *spec, void *ctx);
void table_done(Table *t);

/* (Re)binds the table to n_rows rows of ctx: sorts and filters them. */
PsStatus table_set_rows(Table *t, size_t n_rows, PsErr *err);

/* Sorts by column col, descending when desc; the cursor goes to the first row. */
void table_sort(Table *t, int col, int desc);

/* Sets the search text ("" clears it) and refilters. */
void table_set_search(Table *t, const char *needle);

/* Re-applies filters and search (call after the caller's filter settings change). */
void table_refilter(Table *t);

/* Navigation keys: arrows, j/k, PgUp/PgDn, Home/End, g/G, Ctrl-D/Ctrl-U. 1 when used. */
int table_key(Table *t, int key);

/* The row under the cursor, or TABLE_NONE when the view is empty. */
size_t table_selected(const Table *t);

/* Draws header and rows in the rect (y, x, h, w) of win. */
void table_draw(Table *t, WINDOW *win, int y, int x, int h, int w, const Theme *th, int utf8);

/* Column widths for a total width w: out[i] is 0 for a dropped column. Returns the number of
 * columns shown. */
int table_layout(const TableSpec *spec, int w, int *out);

/* Writes UTF-8 text into exactly `width` cells at (y, x): truncated with an ellipsis mark
 * when too long, padded with blanks, aligned. Shared by screens for labels and values. */
void table_put_text(WINDOW *win, int y, int x, int width, const char *text, TableAlign align,
                    int utf8);

/* Display width of UTF-8 text (invalid bytes count as one cell). */
int table_text_width(const char *text);

#endif
