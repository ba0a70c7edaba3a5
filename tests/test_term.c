/* test_term.c — headless key scripts parse as a user's keys would arrive, wide characters do not
 * collide with curses function keys, and the theme follows NO_COLOR and the terminal's colours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <string.h>

#include "ui/term.h"
#include "ui/theme.h"

static void key_scripts(void **state)
{
    (void)state;
    assert_non_null(setlocale(LC_ALL, "C.UTF-8"));
    const char *s = "a<Enter><Esc><PgDn><<é✓<Resize:100x30><Tick>";
    int rows = 0, cols = 0;
    assert_int_equal(term_parse_key(&s, &rows, &cols), 'a');
    assert_int_equal(term_parse_key(&s, &rows, &cols), '\n');
    assert_int_equal(term_parse_key(&s, &rows, &cols), 27);
    assert_int_equal(term_parse_key(&s, &rows, &cols), KEY_NPAGE);
    assert_int_equal(term_parse_key(&s, &rows, &cols), '<');
    int k = term_parse_key(&s, &rows, &cols);
    assert_int_equal(term_key_char(k), 0xe9);
    k = term_parse_key(&s, &rows, &cols);
    assert_int_equal(k, TERM_KEY_WCHAR_BASE + 0x2713);
    assert_int_equal(term_key_char(k), 0x2713);
    assert_int_equal(term_parse_key(&s, &rows, &cols), KEY_RESIZE);
    assert_int_equal(cols, 100);
    assert_int_equal(rows, 30);
    assert_int_equal(term_parse_key(&s, &rows, &cols), TERM_KEY_NONE);
    assert_int_equal(term_parse_key(&s, &rows, &cols), 0);
    s = "<Bogus>";
    assert_int_equal(term_parse_key(&s, &rows, &cols), TERM_KEY_BAD);
    s = "<Resize:3x2>"; /* too small to be a screen */
    assert_int_equal(term_parse_key(&s, &rows, &cols), TERM_KEY_BAD);
}

static void function_keys_are_not_characters(void **state)
{
    (void)state;
    /* U+0102 (Ă) shares its number with KEY_DOWN; only the offset keeps them apart. */
    assert_int_equal(term_key_char(KEY_DOWN), -1);
    assert_int_equal(term_key_char(KEY_RESIZE), -1);
    assert_int_equal(term_key_char(TERM_KEY_WCHAR_BASE + 0x102), 0x102);
    assert_int_equal(term_key_char(27), -1);
    assert_int_equal(term_key_char(127), -1);
    assert_int_equal(term_key_char('q'), 'q');
}

static void theme_follows_terminal_and_no_color(void **state)
{
    (void)state;
    assert_int_equal(theme_choose(256, NULL, NULL), THEME_MODE_256);
    assert_int_equal(theme_choose(8, NULL, NULL), THEME_MODE_8);
    assert_int_equal(theme_choose(0, NULL, NULL), THEME_MODE_MONO);
    assert_int_equal(theme_choose(256, "1", NULL), THEME_MODE_MONO);
    assert_int_equal(theme_choose(256, "", NULL), THEME_MODE_256); /* set but empty: ignored */
    assert_int_equal(theme_choose(256, NULL, "8"), THEME_MODE_8);
    assert_int_equal(theme_choose(8, NULL, "256"), THEME_MODE_8); /* cannot exceed the terminal */
    assert_int_equal(theme_choose(256, NULL, "mono"), THEME_MODE_MONO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_scripts),
        cmocka_unit_test(function_keys_are_not_characters),
        cmocka_unit_test(theme_follows_terminal_and_no_color),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
