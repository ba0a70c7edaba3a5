/* test_image.c — images reach the terminal as the pixels they are: sixel streams decode back
 * to the source, symbol and block renderings have the requested size and follow the picture. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sixel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "ui/image.h"

/* A test pattern: a horizontal gradient in the top half, a checkerboard of 8-pixel squares
 * with a dark disc in the bottom half. Sharp edges catch shifted or flipped output. */
static uint8_t *pattern(int w, int h)
{
    uint8_t *g = malloc((size_t)w * h);
    assert_non_null(g);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v;
            if (y < h / 2) {
                v = x * 255 / (w - 1);
            } else {
                v = ((x / 8 + y / 8) & 1) ? 220 : 40;
                int dx = x - w / 2, dy = y - 3 * h / 4;
                if (dx * dx + dy * dy < (h / 8) * (h / 8)) v = 128;
            }
            g[(size_t)y * w + x] = (uint8_t)v;
        }
    return g;
}

/* Gray level of an xterm 256-colour palette entry (the 6x6x6 cube and the gray ramp). */
static int xterm_gray(int idx)
{
    static const int cube[6] = {0, 95, 135, 175, 215, 255};
    static const int basic[16] = {0, 64, 64, 128, 64, 64, 64, 192, 128, 128, 128, 224, 128, 128, 224, 255};
    if (idx < 0) return -1;
    if (idx < 16) return basic[idx];
    if (idx < 232) {
        int i = idx - 16;
        return (cube[i / 36] * 30 + cube[(i / 6) % 6] * 59 + cube[i % 6] * 11) / 100;
    }
    return 8 + 10 * (idx - 232);
}

static void check_decoded(const char *six, size_t n, const uint8_t *src, int w, int h, int ncolors)
{
    unsigned char *pixels = NULL, *palette = NULL;
    int dw = 0, dh = 0, nc = 0;
    SIXELSTATUS s = sixel_decode_raw((unsigned char *)six, (int)n, &pixels, &dw, &dh, &palette, &nc, NULL);
    assert_true(SIXEL_SUCCEEDED(s));
    assert_int_equal(dw, w);
    assert_int_equal(dh, h);
    assert_true(nc <= ncolors);
    /* Every pixel within half a palette step of the source (plus rounding). */
    int tol = (255 / (ncolors - 1)) / 2 + 1, worst = 0, wx = 0, wy = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int idx = pixels[(size_t)y * dw + x];
            assert_true(idx < nc);
            int r = palette[3 * idx], g = palette[3 * idx + 1], b = palette[3 * idx + 2];
            assert_int_equal(r, g);
            assert_int_equal(g, b);
            int d = abs(r - src[(size_t)y * w + x]);
            if (d > worst) {
                worst = d;
                wx = x;
                wy = y;
            }
        }
    if (worst > tol) fprintf(stderr, "worst pixel (%d,%d): off by %d (tolerance %d)\n", wx, wy, worst, tol);
    assert_true(worst <= tol);
    free(pixels);
    free(palette);
}

static void sixel_decodes_back_to_source(void **state)
{
    (void)state;
    int w = 120, h = 96;
    uint8_t *g = pattern(w, h);
    char *six = NULL;
    size_t n = 0;
    PsErr err;
    assert_int_equal(image_sixel_encode(g, w, h, 64, &six, &n, &err), PS_OK);
    assert_true(n > 10);
    assert_int_equal((unsigned char)six[0], 0x1b); /* DCS ... */
    assert_int_equal(six[1], 'P');
    assert_int_equal(six[n - 2], 0x1b); /* ... ST */
    assert_int_equal(six[n - 1], '\\');
    check_decoded(six, n, g, w, h, 64);
    free(six);
    free(g);
}

static void sixel_with_few_registers_still_decodes(void **state)
{
    (void)state;
    int w = 64, h = 48;
    uint8_t *g = pattern(w, h);
    char *six = NULL;
    size_t n = 0;
    PsErr err;
    assert_int_equal(image_sixel_encode(g, w, h, 16, &six, &n, &err), PS_OK);
    check_decoded(six, n, g, w, h, 16);
    /* No more colour registers defined than asked for: "#i;2;r;g;b" entries. */
    int defs = 0;
    for (size_t i = 0; i + 2 < n; i++)
        if (six[i] == '#' && six[i + 1] >= '0' && six[i + 1] <= '9') {
            size_t j = i + 1;
            while (j < n && six[j] >= '0' && six[j] <= '9') j++;
            if (j + 1 < n && six[j] == ';' && six[j + 1] == '2') defs++;
        }
    assert_true(defs >= 2 && defs <= 16);
    free(six);
    free(g);
}

/* Width and height from a PNG's IHDR chunk. */
static int png_size(const char *path, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char b[24];
    size_t got = fread(b, 1, sizeof b, f);
    fclose(f);
    if (got != sizeof b || memcmp(b, "\x89PNG", 4) != 0 || memcmp(b + 12, "IHDR", 4) != 0) return -1;
    *w = (b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19];
    *h = (b[20] << 24) | (b[21] << 16) | (b[22] << 8) | b[23];
    return 0;
}

static void sixel2png_reads_our_stream(void **state)
{
    (void)state;
    if (system("command -v sixel2png >/dev/null 2>&1") != 0) {
        skip();
        return;
    }
    int w = 90, h = 60;
    uint8_t *g = pattern(w, h);
    char *six = NULL;
    size_t n = 0;
    PsErr err;
    assert_int_equal(image_sixel_encode(g, w, h, 32, &six, &n, &err), PS_OK);
    char in[] = "/tmp/ps_six_XXXXXX";
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, six, n), (ssize_t)n);
    close(fd);
    char out[64], cmd[256];
    snprintf(out, sizeof out, "%s.png", in);
    snprintf(cmd, sizeof cmd, "sixel2png -i %s -o %s 2>/dev/null", in, out);
    int rc = system(cmd);
    int pw = 0, ph = 0;
    int ok = png_size(out, &pw, &ph);
    unlink(in);
    unlink(out);
    assert_int_equal(rc, 0);
    assert_int_equal(ok, 0);
    assert_int_equal(pw, w);
    assert_int_equal(ph, h);
    free(six);
    free(g);
}

/* Mean gray of the cells in columns [c0, c1). */
static double mean_gray(const ImageCells *c, int c0, int c1)
{
    double s = 0;
    int n = 0;
    for (int y = 0; y < c->rows; y++)
        for (int x = c0; x < c1; x++) {
            const ImageCell *k = &c->cells[(size_t)y * c->cols + x];
            int f = xterm_gray(k->fg), b = xterm_gray(k->bg);
            if (f < 0 || b < 0) continue;
            s += (f + b) / 2.0;
            n++;
        }
    return n ? s / n : -1;
}

static uint8_t *gradient(int w, int h)
{
    uint8_t *g = malloc((size_t)w * h);
    assert_non_null(g);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) g[(size_t)y * w + x] = (uint8_t)(x * 255 / (w - 1));
    return g;
}

static void symbols_have_size_and_follow_the_picture(void **state)
{
    (void)state;
    int w = 200, h = 100;
    uint8_t *g = gradient(w, h);
    ImageCells c;
    PsErr err;
    assert_int_equal(image_symbols(g, w, h, 40, 12, 10, 20, THEME_MODE_256, 1, &c, &err), PS_OK);
    assert_int_equal(c.cols, 40);
    assert_int_equal(c.rows, 12);
    double left = mean_gray(&c, 0, 10), right = mean_gray(&c, 30, 40);
    assert_true(left >= 0 && right >= 0);
    assert_true(right - left > 100); /* dark on the left, light on the right */
    for (int i = 0; i < c.cols * c.rows; i++) {
        assert_true(c.cells[i].fg >= 16 && c.cells[i].fg <= 255);
        assert_true(c.cells[i].ch >= 32);
    }
    image_cells_free(&c);
    free(g);
}

static void symbols_in_ascii_locale_are_ascii(void **state)
{
    (void)state;
    int w = 64, h = 64;
    uint8_t *g = pattern(w, h);
    ImageCells c;
    PsErr err;
    assert_int_equal(image_symbols(g, w, h, 30, 15, 8, 16, THEME_MODE_MONO, 0, &c, &err), PS_OK);
    assert_int_equal(c.cols, 30);
    assert_int_equal(c.rows, 15);
    int distinct[128] = {0}, nd = 0;
    for (int i = 0; i < c.cols * c.rows; i++) {
        assert_true(c.cells[i].ch >= 32 && c.cells[i].ch < 127);
        if (!distinct[c.cells[i].ch]++) nd++;
    }
    assert_true(nd >= 3); /* not a blank or a single repeated character */
    image_cells_free(&c);
    free(g);
}

static void blocks_follow_the_picture(void **state)
{
    (void)state;
    int w = 100, h = 40;
    uint8_t *g = gradient(w, h);
    ImageCells c;
    PsErr err;
    assert_int_equal(image_blocks(g, w, h, 20, 8, THEME_MODE_256, 1, &c, &err), PS_OK);
    assert_int_equal(c.cols, 20);
    assert_int_equal(c.rows, 8);
    assert_int_equal(c.cells[0].ch, 0x2580);
    assert_true(mean_gray(&c, 15, 20) - mean_gray(&c, 0, 5) > 150);
    image_cells_free(&c);

    /* The ASCII ramp: blank at black, '@' at white. */
    assert_int_equal(image_blocks(g, w, h, 20, 8, THEME_MODE_MONO, 0, &c, &err), PS_OK);
    assert_int_equal(c.cells[0].ch, ' ');
    assert_int_equal(c.cells[19].ch, '@');
    image_cells_free(&c);
    free(g);
}

static void fit_keeps_aspect(void **state)
{
    (void)state;
    int dw, dh;
    image_fit(400, 300, 200, 200, &dw, &dh);
    assert_int_equal(dw, 200);
    assert_int_equal(dh, 150);
    image_fit(300, 400, 200, 200, &dw, &dh);
    assert_int_equal(dw, 150);
    assert_int_equal(dh, 200);
    int cols, rows;
    /* A square picture in cells twice as tall as wide: twice as many columns as rows. */
    image_fit_cells(224, 224, 80, 20, 10, 20, &cols, &rows);
    assert_int_equal(rows, 20);
    assert_int_equal(cols, 40);
}

static void resample_averages(void **state)
{
    (void)state;
    uint8_t src[4 * 2] = {0, 100, 200, 250, 0, 100, 200, 250};
    uint8_t dst[2];
    image_resample(dst, 2, 1, src, 4, 2);
    assert_int_equal(dst[0], 50);
    assert_int_equal(dst[1], 225);
    uint8_t up[8 * 4];
    image_resample(up, 8, 4, src, 4, 2);
    assert_int_equal(up[0], 0);
    assert_int_equal(up[7], 250);
}

/* Bytes written to fd since offset *off (the raw terminal stream); advances *off. */
static size_t new_bytes(int fd, off_t *off, char *buf, size_t n)
{
    off_t end = lseek(fd, 0, SEEK_END);
    size_t len = (size_t)(end - *off);
    if (len >= n) len = n - 1;
    ssize_t got = pread(fd, buf, len, *off);
    buf[got > 0 ? got : 0] = 0;
    *off = end;
    return got > 0 ? (size_t)got : 0;
}

static void frame(ImageView *iv, Term *t, int place, uint64_t id, const uint8_t *px)
{
    image_view_begin(iv);
    werase(stdscr);
    if (place) image_view_place(iv, stdscr, 2, 2, 6, 12, px, 64, 64, id);
    image_view_before_flush(iv, stdscr);
    wnoutrefresh(stdscr);
    term_flush(t);
    image_view_after_flush(iv, t);
}

/* A sixel image is written once, not again while it stays, removed (its lines repainted by
 * curses) as soon as a frame does not place it, and written again after a full repaint. */
static void sixel_view_never_leaves_a_stale_image(void **state)
{
    (void)state;
    Term t;
    TermOptions o = {.headless = 1, .rows = 24, .cols = 80, .term = "xterm-256color"};
    PsErr err;
    assert_int_equal(term_start(&t, &o, &err), PS_OK);
    char path[] = "/tmp/ps_term_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    t.fd_out = fd;
    GraphicsInfo g = {.mode = GRAPHICS_SIXEL, .cell_w = 10, .cell_h = 20, .color_registers = 16};
    ImageView iv;
    image_view_init(&iv, &g, THEME_MODE_256, 1, COLOR_PAIRS);
    uint8_t *px = pattern(64, 64);
    static char buf[1 << 20];
    off_t off = 0;

    frame(&iv, &t, 1, 7, px);
    assert_true(new_bytes(fd, &off, buf, sizeof buf) > 100);
    /* at the rect's top-left cell (row 3, column 3 counting from 1), cursor saved and restored */
    assert_non_null(strstr(buf, "\0337\033[3;3H\033P"));
    assert_non_null(strstr(buf, "\033\\\0338"));
    assert_int_equal(iv.shown, 1);

    frame(&iv, &t, 1, 7, px);
    assert_int_equal(new_bytes(fd, &off, buf, sizeof buf), 0); /* unchanged: nothing sent */

    /* The next screen has no image: its lines are marked for repaint before the flush. */
    image_view_begin(&iv);
    /* (no werase: it would touch every line and hide what before_flush does) */
    for (int y = 0; y < 24; y++) assert_false(is_linetouched(stdscr, y));
    image_view_before_flush(&iv, stdscr);
    for (int y = 2; y < 8; y++) assert_true(is_linetouched(stdscr, y));
    assert_false(is_linetouched(stdscr, 1));
    assert_false(is_linetouched(stdscr, 8));
    assert_int_equal(iv.shown, 0);
    wnoutrefresh(stdscr);
    term_flush(&t);
    image_view_after_flush(&iv, &t);
    assert_int_equal(new_bytes(fd, &off, buf, sizeof buf), 0);

    frame(&iv, &t, 1, 7, px); /* back: drawn again */
    assert_true(new_bytes(fd, &off, buf, sizeof buf) > 100);

    image_view_invalidate(&iv); /* resize or Ctrl-L repainted everything */
    frame(&iv, &t, 1, 7, px);
    assert_true(new_bytes(fd, &off, buf, sizeof buf) > 100);

    frame(&iv, &t, 1, 8, px); /* another picture in the same place replaces it */
    assert_true(new_bytes(fd, &off, buf, sizeof buf) > 100);
    assert_int_equal(iv.sid, 8);

    image_view_done(&iv);
    free(px);
    term_stop(&t);
    close(fd);
}

/* Symbols are ordinary curses cells inside the rect. */
static void symbols_view_draws_cells(void **state)
{
    (void)state;
    Term t;
    TermOptions o = {.headless = 1, .rows = 24, .cols = 80, .term = "xterm-256color"};
    PsErr err;
    assert_int_equal(term_start(&t, &o, &err), PS_OK);
    GraphicsInfo g = {.mode = GRAPHICS_SYMBOLS, .cell_w = 10, .cell_h = 20};
    ImageView iv;
    image_view_init(&iv, &g, THEME_MODE_256, 1, COLOR_PAIRS);
    uint8_t *px = pattern(64, 64);
    image_view_begin(&iv);
    werase(stdscr);
    image_view_place(&iv, stdscr, 2, 2, 6, 12, px, 64, 64, 1);
    int inked = 0, outside = 0;
    for (int y = 0; y < 24; y++)
        for (int x = 0; x < 80; x++) {
            cchar_t cc;
            wchar_t wch[CCHARW_MAX + 1];
            attr_t a;
            short pair;
            mvwin_wch(stdscr, y, x, &cc);
            getcchar(&cc, wch, &a, &pair, NULL);
            int blank = wch[0] == L' ' && pair == 0;
            int in = y >= 2 && y < 8 && x >= 2 && x < 14;
            if (!blank && in) inked++;
            if (!blank && !in) outside++;
        }
    assert_true(inked > 30);
    assert_int_equal(outside, 0);
    image_view_done(&iv);
    free(px);
    term_stop(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sixel_decodes_back_to_source),
        cmocka_unit_test(sixel_with_few_registers_still_decodes),
        cmocka_unit_test(sixel2png_reads_our_stream),
        cmocka_unit_test(symbols_have_size_and_follow_the_picture),
        cmocka_unit_test(symbols_in_ascii_locale_are_ascii),
        cmocka_unit_test(blocks_follow_the_picture),
        cmocka_unit_test(fit_keeps_aspect),
        cmocka_unit_test(resample_averages),
        cmocka_unit_test(sixel_view_never_leaves_a_stale_image),
        cmocka_unit_test(symbols_view_draws_cells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
