/* test_form.c — the form as a user drives it: moving between fields, stepping choices and
 * numbers, typing a number, refusing a bad one, submitting and cancelling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ui/form.h"

static const char *const methods[] = {"unified", "ehr", "late"};

static void setup_form(Form *f, FormField *fl)
{
    memset(fl, 0, 3 * sizeof *fl);
    fl[0] = (FormField){.label = "method", .kind = FORM_CHOICE, .choices = methods, .n_choices = 3};
    fl[1] = (FormField){.label = "epochs", .kind = FORM_INT, .value = 3, .min = 1, .max = 100, .step = 1};
    fl[2] = (FormField){.label = "lr", .kind = FORM_FLOAT, .value = 0.001, .min = 1e-6, .max = 1,
                        .step = 10, .log_step = 1};
    *f = (Form){.title = "t", .fields = fl, .n = 3};
}

static void keys(Form *f, const char *s)
{
    for (; *s; s++) form_key(f, (unsigned char)*s);
}

static void navigate_and_step(void **state)
{
    (void)state;
    Form f;
    FormField fl[3];
    setup_form(&f, fl);
    assert_int_equal(form_key(&f, KEY_RIGHT), FORM_CHANGED);
    assert_int_equal(fl[0].choice, 1);
    form_key(&f, KEY_LEFT);
    form_key(&f, KEY_LEFT); /* wraps */
    assert_int_equal(fl[0].choice, 2);
    form_key(&f, '\t');
    assert_int_equal(f.cur, 1);
    form_key(&f, KEY_RIGHT);
    assert_true(fl[1].value == 4);
    for (int i = 0; i < 10; i++) form_key(&f, KEY_LEFT);
    assert_true(fl[1].value == 1); /* clamped at min */
    form_key(&f, KEY_DOWN);
    form_key(&f, KEY_RIGHT);
    char b[32];
    form_value_text(&fl[2], b, sizeof b);
    assert_string_equal(b, "0.01");
    form_key(&f, KEY_DOWN); /* wraps to the first field */
    assert_int_equal(f.cur, 0);
    form_key(&f, KEY_BTAB);
    assert_int_equal(f.cur, 2);
    assert_int_equal(form_key(&f, 'z'), FORM_NONE);
}

static void typed_numbers(void **state)
{
    (void)state;
    Form f;
    FormField fl[3];
    setup_form(&f, fl);
    f.cur = 1;
    keys(&f, "12");
    char b[32];
    form_value_text(&fl[1], b, sizeof b);
    assert_string_equal(b, "12");
    assert_int_equal(form_key(&f, '\n'), FORM_SUBMIT);
    assert_true(fl[1].value == 12);
    /* out of range: refused, cursor stays, message names the field */
    keys(&f, "500");
    assert_int_equal(form_key(&f, '\t'), FORM_CHANGED);
    assert_int_equal(f.cur, 1);
    assert_non_null(strstr(f.err, "epochs"));
    assert_int_equal(form_key(&f, '\n'), FORM_CHANGED); /* not submitted */
    assert_true(fl[1].value == 12);
    form_key(&f, KEY_BACKSPACE);
    form_key(&f, KEY_BACKSPACE);
    assert_int_equal(form_key(&f, '\n'), FORM_SUBMIT);
    assert_true(fl[1].value == 5);
    /* not a whole number; not a number */
    keys(&f, "2.5");
    assert_int_equal(form_key(&f, '\n'), FORM_CHANGED);
    assert_non_null(strstr(f.err, "whole"));
    for (int i = 0; i < 3; i++) form_key(&f, 127);
    f.cur = 2;
    keys(&f, "1e-");
    assert_int_equal(form_key(&f, '\n'), FORM_CHANGED);
    form_key(&f, KEY_BACKSPACE);
    form_key(&f, KEY_BACKSPACE);
    keys(&f, "e-4");
    assert_int_equal(form_key(&f, '\n'), FORM_SUBMIT);
    assert_true(fl[2].value > 0.99e-4 && fl[2].value < 1.01e-4);
    /* letters do not type into a choice field */
    f.cur = 0;
    assert_int_equal(form_key(&f, '5'), FORM_NONE);
    assert_int_equal(form_key(&f, 27), FORM_CANCEL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(navigate_and_step),
        cmocka_unit_test(typed_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
