/* image.c — gray images on the terminal: sixel (libsixel), symbols (libchafa), blocks.
 *
 * Implements resampling, the three renderers and the on-screen bookkeeping that erases a
 * sixel image as soon as the frame that placed it is gone. It does not decode JPEG (the store
 * hands over gray pixels) and it does not detect the terminal (graphics.c).
 *
 * Sixel images live outside curses: curses keeps their cells blank and never writes there,
 * the image bytes go to the terminal after curses has flushed. To remove one, the lines it
 * covered are marked corrupted (wredrawln), so curses repaints them with the frame's text.
 */
#include "ui/image.h"

#include <chafa.h>
#include <sixel.h>
#include <stdlib.h>
#include <string.h>

void image_fit(int sw, int sh, int maxw, int maxh, int *dw, int *dh)
{
    if (sw < 1) sw = 1;
    if (sh < 1) sh = 1;
    if (maxw < 1) maxw = 1;
    if (maxh < 1) maxh = 1;
    /* compare maxw/sw with maxh/sh without division */
    if ((long long)maxw * sh <= (long long)maxh * sw) {
        *dw = maxw;
        *dh = (int)(((long long)sh * maxw + sw / 2) / sw);
    } else {
        *dh = maxh;
        *dw = (int)(((long long)sw * maxh + sh / 2) / sh);
    }
    if (*dw < 1) *dw = 1;
    if (*dh < 1) *dh = 1;
    if (*dw > maxw) *dw = maxw;
    if (*dh > maxh) *dh = maxh;
}

void image_resample(uint8_t *dst, int dw, int dh, const uint8_t *src, int sw, int sh)
{
    for (int y = 0; y < dh; y++) {
        int y0 = (int)((long long)y * sh / dh), y1 = (int)((long long)(y + 1) * sh / dh);
        if (y1 <= y0) y1 = y0 + 1;
        for (int x = 0; x < dw; x++) {
            int x0 = (int)((long long)x * sw / dw), x1 = (int)((long long)(x + 1) * sw / dw);
            if (x1 <= x0) x1 = x0 + 1;
            unsigned long sum = 0;
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++) sum += src[(size_t)yy * sw + xx];
            unsigned long cnt = (unsigned long)(y1 - y0) * (unsigned long)(x1 - x0);
            dst[(size_t)y * dw + x] = (uint8_t)((sum + cnt / 2) / cnt);
        }
    }
}

void image_fit_cells(int w, int h, int max_cols, int max_rows, int cell_w, int cell_h, int *cols,
                     int *rows)
{
    int dw, dh;
    image_fit(w, h, max_cols * cell_w, max_rows * cell_h, &dw, &dh);
    *cols = (dw + cell_w - 1) / cell_w;
    *rows = (dh + cell_h - 1) / cell_h;
    if (*cols > max_cols) *cols = max_cols;
    if (*rows > max_rows) *rows = max_rows;
    if (*cols < 1) *cols = 1;
    if (*rows < 1) *rows = 1;
}

/* ---- sixel ----------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} Sink;

static int sink_write(char *data, int size, void *priv)
{
    Sink *s = priv;
    if (s->failed || size <= 0) return 0;
    if (s->len + (size_t)size + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        while (cap < s->len + (size_t)size + 1) cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) {
            s->failed = 1;
            return 0;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, (size_t)size);
    s->len += (size_t)size;
    s->buf[s->len] = 0;
    return size;
}

PsStatus image_sixel_encode(const uint8_t *gray, int w, int h, int ncolors, char **out, size_t *n,
                            PsErr *err)
{
    PS_CHECK(err, gray && w > 0 && h > 0 && out && n);
    PS_CHECK(err, ncolors >= 2 && ncolors <= 256);
    *out = NULL;
    *n = 0;
    PsStatus rc = PS_OK;
    Sink sink = {0};
    sixel_output_t *output = NULL;
    sixel_dither_t *dither = NULL;
    unsigned char *pix = NULL;
    unsigned char pal[256 * 3];
    uint8_t level[256];

    /* Snap every pixel to its nearest palette gray first, so the quantiser's lookup is exact
     * and no dithering noise enters the stream. */
    for (int i = 0; i < ncolors; i++) {
        unsigned char v = (unsigned char)((i * 255 + (ncolors - 1) / 2) / (ncolors - 1));
        pal[3 * i] = pal[3 * i + 1] = pal[3 * i + 2] = v;
    }
    for (int v = 0; v < 256; v++) {
        int i = (v * (ncolors - 1) + 127) / 255;
        level[v] = pal[3 * i];
    }
    pix = malloc((size_t)w * h * 3);
    if (!pix) {
        rc = ps_err(err, PS_ERR_NOMEM, "sixel: no memory for a %dx%d image", w, h);
        goto done;
    }
    for (size_t i = 0; i < (size_t)w * h; i++) pix[3 * i] = pix[3 * i + 1] = pix[3 * i + 2] = level[gray[i]];

    SIXELSTATUS s = sixel_output_new(&output, sink_write, &sink, NULL);
    if (SIXEL_FAILED(s)) {
        rc = ps_err(err, PS_ERR_NOMEM, "sixel: cannot create the output: %s", sixel_helper_format_error(s));
        goto done;
    }
    sixel_output_set_encode_policy(output, SIXEL_ENCODEPOLICY_SIZE);
    s = sixel_dither_new(&dither, ncolors, NULL);
    if (SIXEL_FAILED(s)) {
        rc = ps_err(err, PS_ERR_NOMEM, "sixel: cannot create the palette: %s", sixel_helper_format_error(s));
        goto done;
    }
    sixel_dither_set_palette(dither, pal);
    sixel_dither_set_pixelformat(dither, SIXEL_PIXELFORMAT_RGB888);
    sixel_dither_set_diffusion_type(dither, SIXEL_DIFFUSE_NONE);
    s = sixel_encode(pix, w, h, 3, dither, output);
    if (SIXEL_FAILED(s)) {
        rc = ps_err(err, PS_ERR_INVALID, "sixel: encoding a %dx%d image failed: %s", w, h,
                    sixel_helper_format_error(s));
        goto done;
    }
    if (sink.failed) {
        rc = ps_err(err, PS_ERR_NOMEM, "sixel: no memory for the encoded image");
        goto done;
    }
    *out = sink.buf;
    *n = sink.len;
    sink.buf = NULL;
done:
    if (dither) sixel_dither_unref(dither);
    if (output) sixel_output_unref(output);
    free(sink.buf);
    free(pix);
    return rc;
}

/* ---- cells ------------------------------------------------------------------------------ */

void image_cells_free(ImageCells *c)
{
    free(c->cells);
    c->cells = NULL;
    c->cols = c->rows = 0;
}

static PsStatus cells_alloc(ImageCells *c, int cols, int rows, PsErr *err)
{
    c->cells = calloc((size_t)cols * rows, sizeof *c->cells);
    if (!c->cells) return ps_err(err, PS_ERR_NOMEM, "image: no memory for %dx%d cells", cols, rows);
    c->cols = cols;
    c->rows = rows;
    return PS_OK;
}

PsStatus image_symbols(const uint8_t *gray, int w, int h, int cols, int rows, int cell_w,
                       int cell_h, ThemeMode mode, int utf8, ImageCells *out, PsErr *err)
{
    PS_CHECK(err, gray && w > 0 && h > 0 && cols > 0 && rows > 0 && out);
    memset(out, 0, sizeof *out);
    PsStatus rc = cells_alloc(out, cols, rows, err);
    if (rc != PS_OK) return rc;
    guint8 *rgba = malloc((size_t)w * h * 4);
    if (!rgba) {
        image_cells_free(out);
        return ps_err(err, PS_ERR_NOMEM, "image: no memory for a %dx%d image", w, h);
    }
    for (size_t i = 0; i < (size_t)w * h; i++) {
        rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = gray[i];
        rgba[4 * i + 3] = 255;
    }
    ChafaSymbolMap *map = chafa_symbol_map_new();
    if (utf8)
        chafa_symbol_map_add_by_tags(map, CHAFA_SYMBOL_TAG_BLOCK | CHAFA_SYMBOL_TAG_BORDER |
                                              CHAFA_SYMBOL_TAG_SPACE);
    else
        chafa_symbol_map_add_by_tags(map, CHAFA_SYMBOL_TAG_ASCII);
    /* Ambiguous-width and wide symbols would break the cell grid curses relies on. */
    chafa_symbol_map_remove_by_tags(map, CHAFA_SYMBOL_TAG_WIDE | CHAFA_SYMBOL_TAG_AMBIGUOUS);
    ChafaCanvasConfig *cfg = chafa_canvas_config_new();
    chafa_canvas_config_set_geometry(cfg, cols, rows);
    chafa_canvas_config_set_cell_geometry(cfg, cell_w > 0 ? cell_w : 8, cell_h > 0 ? cell_h : 16);
    /* Eight colours hold no grays between black and white (chafa would reach for yellow), so
     * there, as in monochrome, the symbols alone carry the picture. */
    ChafaCanvasMode cm = mode == THEME_MODE_256 ? CHAFA_CANVAS_MODE_INDEXED_240 : CHAFA_CANVAS_MODE_FGBG;
    chafa_canvas_config_set_canvas_mode(cfg, cm);
    chafa_canvas_config_set_symbol_map(cfg, map);
    if (cm == CHAFA_CANVAS_MODE_FGBG) {
        /* Characters alone carry the brightness: light ink on a dark terminal. */
        chafa_canvas_config_set_fg_color(cfg, 0xffffff);
        chafa_canvas_config_set_bg_color(cfg, 0x000000);
    }
    ChafaCanvas *canvas = chafa_canvas_new(cfg);
    if (!canvas) {
        rc = ps_err(err, PS_ERR_NOMEM, "chafa: cannot create a %dx%d canvas", cols, rows);
    } else {
        chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_RGBA8_UNASSOCIATED, rgba, w, h, w * 4);
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++) {
                ImageCell *c = &out->cells[(size_t)y * cols + x];
                gunichar ch = chafa_canvas_get_char_at(canvas, x, y);
                c->ch = ch ? (uint32_t)ch : ' ';
                c->fg = c->bg = -1;
                if (cm != CHAFA_CANVAS_MODE_FGBG) {
                    gint fg = -1, bg = -1;
                    chafa_canvas_get_raw_colors_at(canvas, x, y, &fg, &bg);
                    c->fg = (int16_t)(fg >= 0 && fg < 256 ? fg : -1);
                    c->bg = (int16_t)(bg >= 0 && bg < 256 ? bg : -1);
                }
            }
        chafa_canvas_unref(canvas);
    }
    chafa_canvas_config_unref(cfg);
    chafa_symbol_map_unref(map);
    free(rgba);
    if (rc != PS_OK) image_cells_free(out);
    return rc;
}

/* Nearest entry of the xterm 256-colour palette for a gray level: the 24-step gray ramp
 * (232..255 = 8, 18, ..., 238) or black 16 / white 231. */
static int16_t gray_to_256(int v)
{
    if (v < 4) return 16;
    if (v > 246) return 231;
    int i = (v - 3) / 10;
    if (i > 23) i = 23;
    return (int16_t)(232 + i);
}

PsStatus image_blocks(const uint8_t *gray, int w, int h, int cols, int rows, ThemeMode mode,
                      int utf8, ImageCells *out, PsErr *err)
{
    PS_CHECK(err, gray && w > 0 && h > 0 && cols > 0 && rows > 0 && out);
    memset(out, 0, sizeof *out);
    PsStatus rc = cells_alloc(out, cols, rows, err);
    if (rc != PS_OK) return rc;
    /* Two pixels per cell vertically: the top goes to the foreground of an upper half block. */
    uint8_t *px = malloc((size_t)cols * rows * 2);
    if (!px) {
        image_cells_free(out);
        return ps_err(err, PS_ERR_NOMEM, "image: no memory for %dx%d cells", cols, rows);
    }
    image_resample(px, cols, rows * 2, gray, w, h);
    static const char ramp[] = " .:-=+*#%@";
    static const uint32_t shades[] = {' ', 0x2591, 0x2592, 0x2593, 0x2588};
    for (int y = 0; y < rows; y++)
        for (int x = 0; x < cols; x++) {
            int top = px[(size_t)(2 * y) * cols + x], bot = px[(size_t)(2 * y + 1) * cols + x];
            ImageCell *c = &out->cells[(size_t)y * cols + x];
            if (mode == THEME_MODE_256 && utf8) {
                c->ch = 0x2580; /* upper half block */
                c->fg = gray_to_256(top);
                c->bg = gray_to_256(bot);
            } else {
                int v = (top + bot) / 2;
                c->fg = c->bg = -1;
                c->ch = utf8 ? shades[v * 5 / 256] : (uint32_t)ramp[v * 10 / 256];
            }
        }
    free(px);
    return PS_OK;
}

/* ---- screen layer ----------------------------------------------------------------------- */

void image_view_init(ImageView *iv, const GraphicsInfo *g, ThemeMode theme, int utf8,
                     int color_pairs)
{
    memset(iv, 0, sizeof *iv);
    iv->mode = g->mode;
    iv->theme = theme;
    iv->utf8 = utf8;
    iv->cell_w = g->cell_w > 0 ? g->cell_w : GRAPHICS_GUESS_CELL_W;
    iv->cell_h = g->cell_h > 0 ? g->cell_h : GRAPHICS_GUESS_CELL_H;
    iv->ncolors = g->color_registers >= 2 ? g->color_registers : 64;
    iv->max_w = g->sixel_max_w;
    iv->max_h = g->sixel_max_h;
    iv->pair_limit = color_pairs - THEME_FIRST_FREE_PAIR;
    /* chafa would render on a thread pool with the UI thread waiting for it: on a busy machine
     * the pool threads wait for a core and a screen switch took 0.7 s for 3 ms of work. A
     * small picture is cheaper drawn on the UI thread itself (measured: tests/bench_tui.sh). */
    chafa_set_n_threads(1);
    if (iv->pair_limit > IMAGE_PAIR_SLOTS / 2) iv->pair_limit = IMAGE_PAIR_SLOTS / 2;
    if (iv->pair_limit < 0) iv->pair_limit = 0;
}

void image_view_done(ImageView *iv)
{
    free(iv->six);
    iv->six = NULL;
    image_cells_free(&iv->sym);
}

void image_view_begin(ImageView *iv) { iv->placed = 0; }

void image_view_invalidate(ImageView *iv) { iv->invalid = 1; }

static int pair_for(ImageView *iv, int fg, int bg)
{
    if (fg < 0 && bg < 0) return 0;
    if (iv->pair_limit <= 0) return 0;
    int key = (fg + 1) * 512 + (bg + 1) + 1;
    unsigned h = (unsigned)key * 2654435761u % IMAGE_PAIR_SLOTS;
    for (int probe = 0; probe < IMAGE_PAIR_SLOTS; probe++) {
        unsigned s = (h + (unsigned)probe) % IMAGE_PAIR_SLOTS;
        if (iv->pair_key[s] == key) return iv->pair_num[s];
        if (iv->pair_key[s] == 0) {
            if (iv->pairs_used >= iv->pair_limit) {
                /* Full: start over. Older images on screen may change colour; rare. */
                memset(iv->pair_key, 0, sizeof iv->pair_key);
                iv->pairs_used = 0;
                return pair_for(iv, fg, bg);
            }
            int num = THEME_FIRST_FREE_PAIR + iv->pairs_used++;
            if (init_extended_pair(num, fg, bg) == ERR) return 0;
            iv->pair_key[s] = key;
            iv->pair_num[s] = num;
            return num;
        }
    }
    return 0;
}

void image_cells_draw(ImageView *iv, WINDOW *win, int y, int x, const ImageCells *c)
{
    for (int r = 0; r < c->rows; r++)
        for (int k = 0; k < c->cols; k++) {
            const ImageCell *cell = &c->cells[(size_t)r * c->cols + k];
            int pair = iv->theme == THEME_MODE_MONO ? 0 : pair_for(iv, cell->fg, cell->bg);
            wchar_t wch[2] = {(wchar_t)cell->ch, 0};
            if (!iv->utf8 && cell->ch > 126) wch[0] = L'#';
            cchar_t cc;
            setcchar(&cc, wch, A_NORMAL, 0, &pair);
            mvwadd_wch(win, y + r, x + k, &cc);
        }
}

static void place_text(WINDOW *win, int y, int x, int rows, int cols, const char *msg)
{
    int len = (int)strlen(msg);
    if (len > cols) len = cols;
    mvwaddnstr(win, y + rows / 2, x + (cols - len) / 2, msg, len);
}

void image_view_place(ImageView *iv, WINDOW *win, int y, int x, int rows, int cols,
                      const uint8_t *gray, int w, int h, uint64_t id)
{
    if (rows < 1 || cols < 1 || !gray || w < 1 || h < 1) return;
    PsErr err;
    if (iv->mode == GRAPHICS_NONE) {
        place_text(win, y, x, rows, cols, "[image hidden: --graphics=none]");
        return;
    }
    if (iv->mode == GRAPHICS_SIXEL) {
        int maxw = cols * iv->cell_w, maxh = rows * iv->cell_h;
        if (iv->max_w > 0 && maxw > iv->max_w) maxw = iv->max_w;
        if (iv->max_h > 0 && maxh > iv->max_h) maxh = iv->max_h;
        int dw, dh;
        image_fit(w, h, maxw, maxh, &dw, &dh);
        /* Sixel bands are 6 pixels tall; a partial band would spill into the next row. */
        if (dh >= 6) dh -= dh % 6;
        int ccols = (dw + iv->cell_w - 1) / iv->cell_w, crows = (dh + iv->cell_h - 1) / iv->cell_h;
        if (!iv->six || iv->six_id != id || iv->six_rows != rows || iv->six_cols != cols) {
            free(iv->six);
            iv->six = NULL;
            uint8_t *px = malloc((size_t)dw * dh);
            if (!px) {
                snprintf(iv->status, sizeof iv->status, "image: out of memory");
                return;
            }
            image_resample(px, dw, dh, gray, w, h);
            PsStatus rc = image_sixel_encode(px, dw, dh, iv->ncolors, &iv->six, &iv->six_len, &err);
            free(px);
            if (rc != PS_OK) {
                snprintf(iv->status, sizeof iv->status, "%s", err.msg);
                return;
            }
            iv->six_id = id;
            iv->six_rows = rows;
            iv->six_cols = cols;
        }
        int oy = (rows - crows) / 2, ox = (cols - ccols) / 2;
        for (int r = 0; r < crows; r++) mvwhline(win, y + oy + r, x + ox, ' ', ccols);
        iv->placed = 1;
        iv->py = getbegy(win) + y + oy;
        iv->px = getbegx(win) + x + ox;
        iv->prows = crows;
        iv->pcols = ccols;
        iv->pid = id;
        return;
    }
    int ccols, crows;
    image_fit_cells(w, h, cols, rows, iv->cell_w, iv->cell_h, &ccols, &crows);
    if (!iv->sym.cells || iv->sym_id != id || iv->sym.cols != ccols || iv->sym.rows != crows) {
        image_cells_free(&iv->sym);
        PsStatus rc = image_symbols(gray, w, h, ccols, crows, iv->cell_w, iv->cell_h, iv->theme,
                                    iv->utf8, &iv->sym, &err);
        if (rc != PS_OK) rc = image_blocks(gray, w, h, ccols, crows, iv->theme, iv->utf8, &iv->sym, &err);
        if (rc != PS_OK) {
            snprintf(iv->status, sizeof iv->status, "%s", err.msg);
            return;
        }
        iv->sym_id = id;
    }
    image_cells_draw(iv, win, y + (rows - crows) / 2, x + (cols - ccols) / 2, &iv->sym);
}

void image_view_before_flush(ImageView *iv, WINDOW *win)
{
    if (!iv->shown) return;
    int same = iv->placed && iv->sid == iv->pid && iv->sy == iv->py && iv->sx == iv->px &&
               iv->srows == iv->prows && iv->scols == iv->pcols;
    if (same && !iv->invalid) return;
    /* The old picture's lines must be repainted by curses, even where its text did not change. */
    int y0 = iv->sy - getbegy(win);
    if (y0 < 0) y0 = 0;
    int n = iv->srows;
    if (y0 + n > getmaxy(win)) n = getmaxy(win) - y0;
    if (n > 0) wredrawln(win, y0, n);
    iv->shown = 0;
}

void image_view_after_flush(ImageView *iv, Term *t)
{
    if (iv->placed && (!iv->shown || iv->invalid) && iv->six) {
        char pos[32];
        /* save cursor, move to the image's top-left cell, image, restore cursor */
        int k = snprintf(pos, sizeof pos, "\0337\033[%d;%dH", iv->py + 1, iv->px + 1);
        term_write_raw(t, pos, (size_t)k);
        term_write_raw(t, iv->six, iv->six_len);
        term_write_raw(t, "\0338", 2);
        iv->shown = 1;
        iv->sy = iv->py;
        iv->sx = iv->px;
        iv->srows = iv->prows;
        iv->scols = iv->pcols;
        iv->sid = iv->pid;
    }
    iv->invalid = 0;
}
