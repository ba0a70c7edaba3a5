/* cmd_probe.c — `phenoscope probe`: what the terminal can show, and why we think so.
 *
 * Runs the same detection the TUI runs at start (graphics.c) and prints every input to the
 * decision: TERM, tmux, locale, colours, each reply to the batched query, and the verdict.
 * With --test-image it then draws a test pattern the chosen way, so a user can see the result
 * (and a test can decode the sixel stream). It does not open the store.
 */
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <term.h>
#include <unistd.h>

#include "ui/cmd.h"
#include "ui/graphics.h"
#include "ui/image.h"
#include "ui/term.h"
#include "ui/theme.h"


static void usage(FILE *f)
{
    fprintf(f, "usage: phenoscope [--graphics=MODE] probe [--test-image] [--timeout MS]\n"
               "\n"
               "Prints what graphics the terminal supports and why: the replies to one batched\n"
               "query (cell size, XTSMGRAPHICS, device attributes) and the decision.\n"
               "  --test-image   then draw a test pattern with the chosen method\n"
               "  --timeout MS   how long to wait for replies (default %d; slow SSH links)\n",
            GRAPHICS_DEFAULT_TIMEOUT_MS);
}

static void test_pattern(uint8_t *g, int w, int h)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = y < h / 2 ? x * 255 / (w - 1) : (((x / 12 + y / 12) & 1) ? 220 : 40);
            int dx = x - w / 2, dy = y - h / 2;
            if (dx * dx + dy * dy < (h / 5) * (h / 5)) v = 255 - v;
            g[(size_t)y * w + x] = (uint8_t)v;
        }
}

static int draw_test_image(const GraphicsInfo *gi, ThemeMode theme, int utf8)
{
    enum { W = 240, H = 160 };
    static uint8_t px[W * H];
    test_pattern(px, W, H);
    PsErr err;
    if (gi->mode == GRAPHICS_NONE) {
        printf("(no image: graphics are off)\n");
        return 0;
    }
    if (gi->mode == GRAPHICS_SIXEL) {
        char *six = NULL;
        size_t n = 0;
        if (image_sixel_encode(px, W, H, gi->color_registers, &six, &n, &err) != PS_OK) {
            fprintf(stderr, "phenoscope probe: %s\n", err.msg);
            return 1;
        }
        fflush(stdout);
        fwrite(six, 1, n, stdout);
        printf("\n");
        free(six);
        return 0;
    }
    int cols, rows;
    image_fit_cells(W, H, 48, 12, gi->cell_w, gi->cell_h, &cols, &rows);
    ImageCells c;
    if (image_symbols(px, W, H, cols, rows, gi->cell_w, gi->cell_h, theme, utf8, &c, &err) != PS_OK &&
        image_blocks(px, W, H, cols, rows, theme, utf8, &c, &err) != PS_OK) {
        fprintf(stderr, "phenoscope probe: %s\n", err.msg);
        return 1;
    }
    for (int y = 0; y < c.rows; y++) {
        for (int x = 0; x < c.cols; x++) {
            const ImageCell *k = &c.cells[(size_t)y * c.cols + x];
            if (k->fg >= 0) printf("\033[38;5;%dm", k->fg);
            if (k->bg >= 0) printf("\033[48;5;%dm", k->bg);
            char mb[8];
            int len = 0;
            uint32_t ch = k->ch;
            if (ch < 0x80) mb[len++] = (char)ch;
            else if (ch < 0x800) {
                mb[len++] = (char)(0xc0 | (ch >> 6));
                mb[len++] = (char)(0x80 | (ch & 0x3f));
            } else {
                mb[len++] = (char)(0xe0 | (ch >> 12));
                mb[len++] = (char)(0x80 | ((ch >> 6) & 0x3f));
                mb[len++] = (char)(0x80 | (ch & 0x3f));
            }
            fwrite(mb, 1, (size_t)len, stdout);
        }
        printf(theme == THEME_MODE_MONO ? "\n" : "\033[0m\n");
    }
    image_cells_free(&c);
    return 0;
}

int cmd_probe_run(const CmdGlobal *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"test-image", no_argument, NULL, 'i'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int test_image = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': test_image = 1; break;
        case 't':
            if (atoi(optarg) <= 0) {
                fprintf(stderr, "phenoscope probe: --timeout needs a positive number of ms\n");
                return 2;
            }
            setenv("PHENOSCOPE_PROBE_TIMEOUT_MS", optarg, 1);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    setlocale(LC_ALL, "");
    term_signals_install();

    GraphicsEnv env;
    graphics_env_from_process(&env, g->graphics);
    GraphicsProbe p;
    GraphicsInfo gi;
    graphics_detect(g->graphics, &gi, &p);
    if (term_quit_pending()) return 130;

    const char *cs = nl_langinfo(CODESET);
    int utf8 = cs && strcmp(cs, "UTF-8") == 0;
    int colors = 0, terr = 0;
    if (env.term && *env.term && setupterm(NULL, STDOUT_FILENO, &terr) == OK) {
        colors = tigetnum("colors");
        if (colors < 0) colors = 0;
        del_curterm(cur_term);
    }
    ThemeMode theme = theme_choose(colors, getenv("NO_COLOR"), NULL);

    printf("terminal:   TERM=%s%s%s\n", env.term && *env.term ? env.term : "(unset)",
           env.in_tmux ? ", inside tmux" : env.in_screen ? ", inside screen" : "",
           env.is_tty ? "" : ", stdin/stdout not a terminal");
    printf("locale:     %s%s\n", cs ? cs : "?", utf8 ? "" : " (not UTF-8: ASCII symbols and lines)");
    printf("colours:    %d from terminfo%s; theme %s\n", colors,
           getenv("NO_COLOR") && *getenv("NO_COLOR") ? ", NO_COLOR set" : "", theme_mode_name(theme));
    if (p.queried) {
        printf("query:      cell size, XTSMGRAPHICS (registers, geometry), device attributes:\n"
               "            %zu bytes back in %d ms%s\n",
               p.n_raw, p.elapsed_ms, p.timed_out ? " (timed out waiting for device attributes)" : "");
        printf("  DA1:      %s\n", p.da1_seen ? p.da1 : "no reply");
        if (p.da1_seen) printf("            sixel attribute 4: %s\n", p.da1_sixel ? "yes" : "no");
        if (p.cell_seen) printf("  cell:     %dx%d pixels\n", p.cell_w, p.cell_h);
        else if (gi.cell_measured == 2)
            printf("  cell:     no reply; %dx%d pixels from the window size (%dx%d px, %dx%d cells)\n",
                   gi.cell_w, gi.cell_h, p.win_xpixel, p.win_ypixel, p.win_cols, p.win_rows);
        else if (gi.cell_measured == 3)
            printf("  cell:     no reply; %dx%d pixels from the sixel area over %dx%d cells\n",
                   gi.cell_w, gi.cell_h, p.win_cols, p.win_rows);
        else printf("  cell:     no reply (assuming %dx%d pixels)\n", gi.cell_w, gi.cell_h);
        if (p.regs_seen) printf("  sixel:    %d colour registers\n", p.color_registers);
        else printf("  sixel:    colour registers not reported\n");
        if (p.geom_seen) printf("            largest image %dx%d pixels\n", p.sixel_max_w, p.sixel_max_h);
    } else {
        printf("query:      not sent\n");
    }
    printf("graphics:   %s\n", graphics_mode_name(gi.mode));
    printf("because:    %s\n", gi.reason);
    if (gi.mode == GRAPHICS_SIXEL)
        printf("images:     %d gray levels, cells %dx%d px%s\n", gi.color_registers, gi.cell_w,
               gi.cell_h, gi.cell_measured ? "" : " (guessed)");
    if (test_image) return draw_test_image(&gi, theme, utf8);
    return 0;
}
