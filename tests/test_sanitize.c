/* test_sanitize.c — what may reach a terminal: controls, bidi overrides, broken UTF-8; and
 * for the TUI (sanitize_for_locale) the same, plus ASCII only when the locale is not UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "store/sanitize.h"

static void check(const char *in, const char *want)
{
    char out[256];
    size_t n = sanitize_for_terminal(out, sizeof out, in);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void plain_and_unicode_kept(void **state)
{
    (void)state;
    check("Heart Rate 88 bpm", "Heart Rate 88 bpm");
    check("Temp 37.5 \xc2\xb0" "C, Ren\xc3\xa9, \xe5\x8c\xbb\xe9\x99\xa2, \xf0\x9f\xa9\xba",
          "Temp 37.5 \xc2\xb0" "C, Ren\xc3\xa9, \xe5\x8c\xbb\xe9\x99\xa2, \xf0\x9f\xa9\xba");
    check("", "");
    check(NULL, "");
}

static void controls_replaced(void **state)
{
    (void)state;
    check("a\x1b[2Jb", "a?[2Jb");        /* ESC: a screen clear becomes visible text */
    check("line1\nline2\r\t", "line1?line2??");
    check("del\x7f", "del?");
    check("c1 \xc2\x9b" "31m", "c1 ?31m"); /* U+009B, the 8-bit CSI */
    check("c1 \xc2\x85", "c1 ?");           /* U+0085 NEL */
    check("\xc2\xa0ok", "\xc2\xa0ok");      /* U+00A0 is printable */
}

static void bidi_replaced(void **state)
{
    (void)state;
    check("abc\xe2\x80\xae" "fdp.exe", "abc?fdp.exe"); /* U+202E RIGHT-TO-LEFT OVERRIDE */
    check("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "????");
    check("\xe2\x81\xa6x\xe2\x81\xa7y\xe2\x81\xa8z\xe2\x81\xa9", "?x?y?z?");
    check("\xe2\x80\x8ex\xe2\x80\x8f", "?x?");          /* LRM, RLM */
    check("\xe2\x80\xa9", "\xe2\x80\xa9");              /* U+2029 is not in the bidi set */
}

static void invalid_utf8_replaced(void **state)
{
    (void)state;
    check("a\x80z", "a?z");                 /* stray continuation */
    check("a\xc3", "a?");                   /* truncated at the end */
    check("a\xe2\x82z", "a??z");            /* truncated in the middle: one ? per byte */
    check("\xc0\xaf", "??");                /* overlong '/' */
    check("\xe0\x80\xaf", "???");           /* overlong, 3 bytes */
    check("\xed\xa0\x80", "???");           /* UTF-16 surrogate */
    check("\xf4\x90\x80\x80", "????");      /* above U+10FFFF */
    check("\xff\xfe", "??");
}

static void truncation_keeps_characters_whole(void **state)
{
    (void)state;
    char out[5];
    /* "ab" + U+00E9 (2 bytes) + "c": 4 bytes of room fit "ab\xc3\xa9" exactly. */
    assert_int_equal(sanitize_for_terminal(out, sizeof out, "ab\xc3\xa9" "c"), 4);
    assert_string_equal(out, "ab\xc3\xa9");
    char small[4];
    assert_int_equal(sanitize_for_terminal(small, sizeof small, "ab\xc3\xa9"), 2);
    assert_string_equal(small, "ab");
    char one[1];
    assert_int_equal(sanitize_for_terminal(one, sizeof one, "xyz"), 0);
    assert_string_equal(one, "");
}

static void locale_utf8_same_as_terminal(void **state)
{
    (void)state;
    char out[128];
    /* A title that would clear the screen and set the window title. */
    assert_ptr_equal(sanitize_for_locale(out, sizeof out, "ICU\033[2J\033]0;pwned\007 unit", 1), out);
    assert_string_equal(out, "ICU?[2J?]0;pwned? unit");
    sanitize_for_locale(out, sizeof out, "x\xc2\x9b" "31m \xe2\x80\xae \xff", 1);
    assert_string_equal(out, "x?31m ? ?");
    sanitize_for_locale(out, sizeof out, "M\xc3\xa9" "dical ICU \xe2\x9c\x93 (MICU)", 1);
    assert_string_equal(out, "M\xc3\xa9" "dical ICU \xe2\x9c\x93 (MICU)");
    sanitize_for_locale(out, sizeof out, NULL, 1);
    assert_string_equal(out, "");
}

static void locale_ascii_folds_each_character_once(void **state)
{
    (void)state;
    char out[128];
    /* One '?' per character whatever its length; one per byte of invalid UTF-8, as above. */
    sanitize_for_locale(out, sizeof out, "M\xc3\xa9" "dical \xe2\x9c\x93 \xf0\x9f\xa9\xba", 0);
    assert_string_equal(out, "M?dical ? ?");
    sanitize_for_locale(out, sizeof out, "\xff\xc0\xaf" "z\x1b[31m\xc2\x9d", 0);
    assert_string_equal(out, "???z?[31m?");
    for (const char *p = out; *p; p++) assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    /* Folding happens before truncation: the '?' for a character that would not fit whole in
     * UTF-8 still fits. */
    char small[4];
    sanitize_for_locale(small, sizeof small, "ab\xe2\x9c\x93" "cd", 0);
    assert_string_equal(small, "ab?");
    sanitize_for_locale(small, sizeof small, "ab\xe2\x9c\x93" "cd", 1);
    assert_string_equal(small, "ab");
    char one[1] = {'x'};
    sanitize_for_locale(one, sizeof one, "xyz", 0);
    assert_string_equal(one, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_and_unicode_kept),
        cmocka_unit_test(controls_replaced),
        cmocka_unit_test(bidi_replaced),
        cmocka_unit_test(invalid_utf8_replaced),
        cmocka_unit_test(truncation_keeps_characters_whole),
        cmocka_unit_test(locale_utf8_same_as_terminal),
        cmocka_unit_test(locale_ascii_folds_each_character_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
