/* image.h — a gray image in a rectangle of terminal cells: sixel, symbols (chafa), or blocks.
 *
 * Two layers. The pure layer turns pixels into output a test can inspect: a sixel byte stream
 * (image_sixel_encode) or a grid of cells with characters and palette colours
 * (image_symbols, image_blocks). The screen layer (ImageView) puts that on the terminal and
 * remembers what it put there, so a sixel image never outlives the screen, scroll position or
 * layout that drew it.
 *
 * Frame protocol for the screen layer (the app loop does this; screens only call place):
 *   image_view_begin(iv)            before drawing a frame
 *   image_view_place(iv, ...)       while drawing, once per image on the frame
 *   image_view_before_flush(iv)     after drawing, before doupdate
 *   term_flush(); image_view_after_flush(iv, term)   writes a sixel image if one is due
 *   image_view_invalidate(iv)       when the whole screen was repainted (resize, Ctrl-L)
 */
#ifndef IMAGE_H
#define IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "store/ps.h"
#include "ui/graphics.h"
#include "ui/term.h"
#include "ui/theme.h"

typedef struct {
    uint32_t ch;   /* Unicode code point (ASCII in ASCII locales) */
    int16_t fg, bg; /* palette indices, -1 for the terminal default */
} ImageCell;

typedef struct {
    int cols, rows;
    ImageCell *cells; /* rows*cols, row-major; owned, free with image_cells_free */
} ImageCells;

/* The largest (dw, dh) with the aspect ratio of sw x sh fitting in maxw x maxh (each >= 1). */
void image_fit(int sw, int sh, int maxw, int maxh, int *dw, int *dh);

/* Area-average resampling of a gray image to dw x dh. dst holds dw*dh bytes. */
void image_resample(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh);

/* Encodes gray (w x h) as a sixel stream with a palette of ncolors evenly spaced grays
 * (2..256), nearest-level mapping, no dithering (small, stable output). *out is malloc'd and
 * NUL-terminated, the caller frees it; *n is its length. */
PsStatus image_sixel_encode(const uint8_t *gray, int w, int h, int ncolors, char **out, size_t *n,
                            PsErr *err);

/* Symbol art through libchafa: exactly cols x rows cells. Colours follow the theme mode
 * (256: indices 16..255; 8 and mono: characters only, fg/bg -1). utf8 = 0 restricts the
 * symbols to ASCII. cell_w/cell_h give the pixel aspect of a cell. */
PsStatus image_symbols(const uint8_t *gray, int w, int h, int cols, int rows, int cell_w,
                       int cell_h, ThemeMode mode, int utf8, ImageCells *out, PsErr *err);

/* The last-resort renderer, without chafa: upper half blocks with two grays per cell in 256
 * colours, otherwise a brightness ramp of characters (" .:-=+*#%@", or shades in UTF-8). */
PsStatus image_blocks(const uint8_t *gray, int w, int h, int cols, int rows, ThemeMode mode,
                      int utf8, ImageCells *out, PsErr *err);

void image_cells_free(ImageCells *c);

/* Cells an image of w x h pixels occupies when fitted inside max_cols x max_rows cells whose
 * pixel size is cell_w x cell_h. */
void image_fit_cells(int w, int h, int max_cols, int max_rows, int cell_w, int cell_h, int *cols,
                     int *rows);

/* ---- screen layer ---------------------------------------------------------------------- */

#define IMAGE_PAIR_SLOTS 4096

typedef struct {
    GraphicsMode mode;
    ThemeMode theme;
    int utf8;
    int cell_w, cell_h, ncolors, max_w, max_h;
    /* colour pairs for symbol cells: open addressing on (fg, bg) */
    int pair_key[IMAGE_PAIR_SLOTS]; /* (fg+1) * 512 + (bg+1) + 1, 0 = empty */
    int pair_num[IMAGE_PAIR_SLOTS];
    int pairs_used, pair_limit;
    /* the sixel image on the terminal now */
    int shown, sy, sx, srows, scols;
    uint64_t sid;
    /* the sixel image placed during this frame */
    int placed, py, px, prows, pcols;
    uint64_t pid;
    int invalid;
    /* one encoded image and one symbol grid, cached by id and size */
    char *six;
    size_t six_len;
    uint64_t six_id;
    int six_rows, six_cols;
    ImageCells sym;
    uint64_t sym_id;
    int sym_max_rows, sym_max_cols;
    char status[PS_ERRMSG_MAX]; /* the last rendering error, for the status line ("" when fine) */
} ImageView;

void image_view_init(ImageView *iv, const GraphicsInfo *g, ThemeMode theme, int utf8,
                     int color_pairs);
void image_view_done(ImageView *iv);
void image_view_begin(ImageView *iv);
/* Draws (symbols) or schedules (sixel) gray (w x h) inside the rect at screen row y, column
 * x, rows x cols cells, centred. id names the picture: the same id means the same pixels. */
void image_view_place(ImageView *iv, WINDOW *win, int y, int x, int rows, int cols,
                      const uint8_t *gray, int w, int h, uint64_t id);
void image_view_before_flush(ImageView *iv, WINDOW *win);
void image_view_after_flush(ImageView *iv, Term *t);
void image_view_invalidate(ImageView *iv);

/* Draws cells at (y, x) of win with colour pairs from iv. */
void image_cells_draw(ImageView *iv, WINDOW *win, int y, int x, const ImageCells *c);

#endif
