/* test_textsafe.c — what the TUI shows from data cannot drive the terminal (escapes, controls,
 * C1, bidi overrides and broken UTF-8 are neutralised by store/sanitize), ordinary text (accents,
 * ✓) is kept, and an ASCII locale gets ASCII only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ui/textsafe.h"

static void escapes_and_controls_are_replaced(void **state)
{
    (void)state;
    char out[128];
    /* A title that would clear the screen and set the window title. */
    textsafe_copy(out, sizeof out, "ICU\033[2J\033]0;pwned\007 unit", 1);
    assert_null(strchr(out, 0x1b));
    assert_null(strchr(out, 0x07));
    assert_string_equal(out, "ICU?[2J?]0;pwned? unit");
    textsafe_copy(out, sizeof out, "a\tb\nc\rd\x7f" "e", 1);
    assert_string_equal(out, "a?b?c?d?e");
}

static void c1_bidi_and_invalid_utf8(void **state)
{
    (void)state;
    char out[128];
    textsafe_copy(out, sizeof out, "x\xc2\x9b" "31m", 1); /* U+009B: 8-bit CSI */
    assert_string_equal(out, "x?31m");
    textsafe_copy(out, sizeof out, "ab\xe2\x80\xae" "cd", 1); /* U+202E right-to-left override */
    assert_string_equal(out, "ab?cd");
    textsafe_copy(out, sizeof out, "\xff\xc0\xaf" "z", 1); /* invalid, overlong '/' */
    assert_string_equal(out, "???z");
    textsafe_copy(out, sizeof out, "\xed\xa0\x80", 1); /* a UTF-16 surrogate */
    assert_string_equal(out, "???");
}

static void ordinary_text_survives(void **state)
{
    (void)state;
    char out[128];
    textsafe_copy(out, sizeof out, "Médical ICU ✓ (MICU)", 1);
    assert_string_equal(out, "Médical ICU ✓ (MICU)");
    textsafe_copy(out, sizeof out, "Médical ✓", 0); /* ASCII locale */
    assert_string_equal(out, "M?dical ?");
}

static void truncation_keeps_characters_whole(void **state)
{
    (void)state;
    char out[5];
    textsafe_copy(out, sizeof out, "ab✓cd", 1); /* ✓ is 3 bytes: "ab" + ✓ needs 6 */
    assert_string_equal(out, "ab");
    textsafe_copy(out, sizeof out, NULL, 1);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escapes_and_controls_are_replaced),
        cmocka_unit_test(c1_bidi_and_invalid_utf8),
        cmocka_unit_test(ordinary_text_survives),
        cmocka_unit_test(truncation_keeps_characters_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
