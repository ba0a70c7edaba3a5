/* test_bars.c — probability bars read as a user reads them: length proportional to p, clamped,
 * a missing value never drawn as zero, difference bars on the side of their sign. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "ui/bars.h"

/* Display cells of UTF-8 text (every glyph here is one cell wide). */
static int cells(const char *s)
{
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int count(const char *s, const char *glyph)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, glyph)); p += strlen(glyph)) n++;
    return n;
}

static void ascii_bar_lengths(void **state)
{
    (void)state;
    char b[64];
    bars_render(b, sizeof b, 0.5, 10, 0);
    assert_string_equal(b, "#####     ");
    bars_render(b, sizeof b, 0.0, 10, 0);
    assert_string_equal(b, "          ");
    bars_render(b, sizeof b, 1.0, 10, 0);
    assert_string_equal(b, "##########");
    bars_render(b, sizeof b, 2.0, 4, 0); /* clamped */
    assert_string_equal(b, "####");
    bars_render(b, sizeof b, -1.0, 4, 0);
    assert_string_equal(b, "    ");
    bars_render(b, sizeof b, NAN, 4, 0);
    assert_string_equal(b, "?   ");
}

static void utf8_bars_use_eighths(void **state)
{
    (void)state;
    char b[128];
    for (int w = 1; w <= 12; w++)
        for (double p = 0; p <= 1.0001; p += 0.0625) {
            bars_render(b, sizeof b, p, w, 1);
            assert_int_equal(cells(b), w); /* always exactly width cells: columns line up */
            int full = count(b, "\xe2\x96\x88");
            int e = bars_eighths(p, w);
            assert_int_equal(full, e / 8);
        }
    bars_render(b, sizeof b, 0.5 + 1.0 / 16, 2, 1); /* 9 eighths: one full, one eighth */
    assert_string_equal(b, "\xe2\x96\x88\xe2\x96\x8f");
    /* monotone: a larger probability never draws a shorter bar */
    int prev = -1;
    for (double p = 0; p <= 1.0; p += 0.01) {
        int e = bars_eighths(p, 10);
        assert_true(e >= prev);
        prev = e;
    }
    assert_int_equal(bars_eighths(NAN, 10), 0);
}

static void small_buffer_stays_terminated(void **state)
{
    (void)state;
    char b[8];
    size_t n = bars_render(b, sizeof b, 1.0, 20, 1);
    assert_true(n < sizeof b);
    assert_int_equal(strlen(b), n);
    /* never a cut glyph: whole blocks then spaces account for every byte */
    int spaces = 0;
    for (const char *q = b; *q; q++) spaces += *q == ' ';
    assert_int_equal((size_t)(count(b, "\xe2\x96\x88") * 3 + spaces), n);
}

static void diff_bars_follow_the_sign(void **state)
{
    (void)state;
    char b[64];
    bars_render_diff(b, sizeof b, 0.0, 9, 0);
    assert_string_equal(b, "    |    ");
    bars_render_diff(b, sizeof b, 0.5, 9, 0);
    assert_string_equal(b, "    |==  ");
    bars_render_diff(b, sizeof b, -0.5, 9, 0);
    assert_string_equal(b, "  ==|    ");
    bars_render_diff(b, sizeof b, -3, 9, 0);
    assert_string_equal(b, "====|    ");
    bars_render_diff(b, sizeof b, NAN, 5, 0);
    assert_string_equal(b, "  ?  ");
    bars_render_diff(b, sizeof b, 1.0, 9, 1);
    assert_int_equal(cells(b), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_bar_lengths),
        cmocka_unit_test(utf8_bars_use_eighths),
        cmocka_unit_test(small_buffer_stays_terminated),
        cmocka_unit_test(diff_bars_follow_the_sign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
