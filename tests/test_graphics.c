/* test_graphics.c — terminal replies are read correctly and lead to the right graphics mode,
 * with a reason a user can check (xterm -ti vt340, tmux 3.3a, silent terminals, overrides). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ui/graphics.h"

static GraphicsProbe parse(const char *s)
{
    GraphicsProbe p;
    memset(&p, 0, sizeof p);
    p.queried = 1;
    graphics_parse((const unsigned char *)s, strlen(s), &p);
    return p;
}

static GraphicsEnv tty_env(void)
{
    GraphicsEnv e;
    memset(&e, 0, sizeof e);
    e.term = "xterm-256color";
    e.is_tty = 1;
    return e;
}

static void xterm_vt340_replies(void **state)
{
    (void)state;
    /* What xterm -ti vt340 sends back to our batched query, in order. */
    GraphicsProbe p = parse("\033[6;20;10t\033[?1;0;256S\033[?2;0;800;480S"
                            "\033[?63;1;2;4;6;9;15;16;22;28c");
    assert_true(p.cell_seen);
    assert_int_equal(p.cell_h, 20);
    assert_int_equal(p.cell_w, 10);
    assert_true(p.regs_seen);
    assert_int_equal(p.color_registers, 256);
    assert_true(p.geom_seen);
    assert_int_equal(p.sixel_max_w, 800);
    assert_int_equal(p.sixel_max_h, 480);
    assert_true(p.da1_seen);
    assert_true(p.da1_sixel);
    assert_string_equal(p.da1, "?63;1;2;4;6;9;15;16;22;28");

    GraphicsEnv e = tty_env();
    GraphicsInfo g;
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_SIXEL);
    assert_int_equal(g.cell_w, 10);
    assert_int_equal(g.cell_h, 20);
    assert_true(g.cell_measured);
    assert_int_equal(g.color_registers, 64); /* capped: gray pictures need no more */
    assert_non_null(strstr(g.reason, "list 4 (sixel)"));
}

static void tmux_without_sixel_falls_back(void **state)
{
    (void)state;
    GraphicsProbe p = parse("\033[?1;2c");
    assert_true(p.da1_seen);
    assert_false(p.da1_sixel);
    assert_false(p.cell_seen);
    GraphicsEnv e = tty_env();
    e.term = "tmux-256color";
    e.in_tmux = 1;
    GraphicsInfo g;
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_SYMBOLS);
    assert_non_null(strstr(g.reason, "tmux"));
    assert_non_null(strstr(g.reason, "do not list 4"));
    /* No cell size reply: the documented guess. */
    assert_int_equal(g.cell_w, GRAPHICS_GUESS_CELL_W);
    assert_int_equal(g.cell_h, GRAPHICS_GUESS_CELL_H);
    assert_false(g.cell_measured);
}

static void attribute_14_is_not_sixel(void **state)
{
    (void)state;
    GraphicsProbe p = parse("\033[?62;14;22c");
    assert_true(p.da1_seen);
    assert_false(p.da1_sixel);
}

static void replies_mixed_with_noise_and_partial_tail(void **state)
{
    (void)state;
    /* A key typed during the probe, then a reply split at the end. */
    GraphicsProbe p = parse("x\033[6;18;9t\033[?64;4");
    assert_true(p.cell_seen);
    assert_int_equal(p.cell_w, 9);
    assert_false(p.da1_seen);
    /* A failed XTSMGRAPHICS (status 3) is not a geometry. */
    p = parse("\033[?2;3;0S\033[?62;4c");
    assert_false(p.geom_seen);
    assert_true(p.da1_sixel);
}

static void silent_terminal_gets_symbols(void **state)
{
    (void)state;
    GraphicsProbe p;
    memset(&p, 0, sizeof p);
    p.queried = 1;
    p.timed_out = 1;
    p.elapsed_ms = 1500;
    GraphicsEnv e = tty_env();
    GraphicsInfo g;
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_SYMBOLS);
    assert_non_null(strstr(g.reason, "1500 ms"));
}

static void overrides_win_in_order(void **state)
{
    (void)state;
    GraphicsProbe p = parse("\033[?1;2c");
    GraphicsEnv e = tty_env();
    GraphicsInfo g;
    e.env_override = "none";
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_NONE);
    assert_non_null(strstr(g.reason, "PHENOSCOPE_GRAPHICS=none"));
    e.override = "sixel"; /* the command line beats the environment */
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_SIXEL);
    assert_non_null(strstr(g.reason, "--graphics=sixel"));
    e.override = NULL;
    e.env_override = "bogus"; /* an unknown value is ignored, not obeyed */
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_SYMBOLS);
}

static void dumb_or_piped_terminals(void **state)
{
    (void)state;
    GraphicsProbe p;
    memset(&p, 0, sizeof p);
    GraphicsEnv e = tty_env();
    GraphicsInfo g;
    e.term = "dumb";
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_NONE);
    e.term = "xterm";
    e.is_tty = 0;
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_SYMBOLS);
    assert_non_null(strstr(g.reason, "not a terminal"));
}

static void cell_size_without_csi_16t(void **state)
{
    (void)state;
    /* xterm with window ops off: no CSI 16 t reply, but the sixel area is the window. */
    GraphicsProbe p = parse("\033[?1;0;1024S\033[?2;0;600;520S\033[?63;1;2;4c");
    p.win_cols = 100;
    p.win_rows = 40;
    GraphicsEnv e = tty_env();
    GraphicsInfo g;
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.cell_w, 6);
    assert_int_equal(g.cell_h, 13);
    assert_int_equal(g.cell_measured, 3);
    /* The kernel's window size in pixels wins over the sixel area when both are there. */
    p.win_xpixel = 800;
    p.win_ypixel = 640;
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.cell_w, 8);
    assert_int_equal(g.cell_h, 16);
    assert_int_equal(g.cell_measured, 2);
    /* An answer to CSI 16 t wins over both. */
    p = parse("\033[6;18;9t\033[?63;4c");
    p.win_cols = 100;
    p.win_rows = 40;
    p.win_xpixel = 800;
    p.win_ypixel = 640;
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.cell_w, 9);
    assert_int_equal(g.cell_measured, 1);
}

static void few_registers_are_respected(void **state)
{
    (void)state;
    GraphicsProbe p = parse("\033[?1;0;16S\033[?63;4c");
    GraphicsEnv e = tty_env();
    GraphicsInfo g;
    graphics_decide(&p, &e, &g);
    assert_int_equal(g.mode, GRAPHICS_SIXEL);
    assert_int_equal(g.color_registers, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(xterm_vt340_replies),
        cmocka_unit_test(tmux_without_sixel_falls_back),
        cmocka_unit_test(attribute_14_is_not_sixel),
        cmocka_unit_test(replies_mixed_with_noise_and_partial_tail),
        cmocka_unit_test(silent_terminal_gets_symbols),
        cmocka_unit_test(overrides_win_in_order),
        cmocka_unit_test(dumb_or_piped_terminals),
        cmocka_unit_test(few_registers_are_respected),
        cmocka_unit_test(cell_size_without_csi_16t),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
