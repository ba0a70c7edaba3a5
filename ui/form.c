/* form.c — the form widget (see form.h): key handling and drawing.
 *
 * It does not know what the fields mean (the screen reads them after FORM_SUBMIT) and has no
 * free-text fields: every value is a choice or a number, so nothing typed reaches the store.
 */
#include "ui/form.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui/table.h"

void form_value_text(const FormField *fl, char *buf, size_t n)
{
    if (fl->text[0]) snprintf(buf, n, "%s", fl->text);
    else if (fl->kind == FORM_CHOICE)
        snprintf(buf, n, "%s", fl->n_choices > 0 ? fl->choices[fl->choice] : "");
    else if (fl->kind == FORM_INT) snprintf(buf, n, "%.0f", fl->value);
    else snprintf(buf, n, "%g", fl->value);
}

/* Parses a typed number into the field; 0 with f->err set when it is not valid. */
static int commit_text(Form *f, FormField *fl)
{
    if (!fl->text[0]) return 1;
    char *end;
    double v = strtod(fl->text, &end);
    if (end == fl->text || *end || !isfinite(v)) {
        snprintf(f->err, sizeof f->err, "%s: '%s' is not a number", fl->label, fl->text);
        return 0;
    }
    if (fl->kind == FORM_INT && v != floor(v)) {
        snprintf(f->err, sizeof f->err, "%s: needs a whole number", fl->label);
        return 0;
    }
    if (v < fl->min || v > fl->max) {
        snprintf(f->err, sizeof f->err, "%s: between %g and %g", fl->label, fl->min, fl->max);
        return 0;
    }
    fl->value = v;
    fl->text[0] = 0;
    f->err[0] = 0;
    return 1;
}

static void step_field(FormField *fl, int dir)
{
    if (fl->kind == FORM_CHOICE) {
        if (fl->n_choices > 0) fl->choice = (fl->choice + dir + fl->n_choices) % fl->n_choices;
        return;
    }
    double v = fl->log_step ? (dir > 0 ? fl->value * fl->step : fl->value / fl->step)
                            : fl->value + dir * fl->step;
    if (fl->log_step) { /* 0.001 * 3 shown as 0.003, not 0.0030000000000000001 */
        char b[32];
        snprintf(b, sizeof b, "%.6g", v);
        v = strtod(b, NULL);
    }
    if (v < fl->min) v = fl->min;
    if (v > fl->max) v = fl->max;
    fl->value = v;
}

static int move_to(Form *f, int cur)
{
    if (!commit_text(f, &f->fields[f->cur])) return FORM_CHANGED;
    f->cur = (cur + f->n) % f->n;
    return FORM_CHANGED;
}

int form_key(Form *f, int key)
{
    if (f->n <= 0) return key == 27 ? FORM_CANCEL : FORM_NONE;
    FormField *fl = &f->fields[f->cur];
    switch (key) {
    case 27: return FORM_CANCEL;
    case '\n':
    case '\r':
    case KEY_ENTER:
        if (!commit_text(f, fl)) return FORM_CHANGED;
        f->err[0] = 0;
        return FORM_SUBMIT;
    case '\t':
    case KEY_DOWN:
    case 'j': return move_to(f, f->cur + 1);
    case KEY_BTAB:
    case KEY_UP:
    case 'k': return move_to(f, f->cur - 1);
    case KEY_LEFT:
    case 'h':
    case KEY_RIGHT:
    case 'l':
        if (!commit_text(f, fl)) return FORM_CHANGED;
        step_field(fl, key == KEY_LEFT || key == 'h' ? -1 : 1);
        return FORM_CHANGED;
    case KEY_BACKSPACE:
    case 127:
    case 8: {
        size_t l = strlen(fl->text);
        if (l) fl->text[l - 1] = 0;
        if (!fl->text[0]) f->err[0] = 0;
        return FORM_CHANGED;
    }
    default: break;
    }
    if (fl->kind != FORM_CHOICE && key < 128 &&
        (isdigit(key) || key == '.' || key == 'e' || key == '-' || key == '+')) {
        size_t l = strlen(fl->text);
        if (l + 1 < sizeof fl->text) {
            fl->text[l] = (char)key;
            fl->text[l + 1] = 0;
        }
        return FORM_CHANGED;
    }
    return FORM_NONE;
}

void form_draw(const Form *f, WINDOW *win, int y, int x, int h, int w, const Theme *th, int utf8)
{
    if (h < 3 || w < 20) return;
    wattrset(win, theme_attr(th, THEME_BORDER));
    for (int r = 0; r < h; r++) mvwhline(win, y + r, x, ' ', w);
    char title[96];
    snprintf(title, sizeof title, " %s ", f->title ? f->title : "");
    wattrset(win, theme_attr(th, THEME_HEADER));
    table_put_text(win, y, x, w, title, TABLE_LEFT, utf8);
    int lw = 0;
    for (int i = 0; i < f->n; i++) {
        int l = (int)strlen(f->fields[i].label);
        if (l > lw) lw = l;
    }
    if (lw > w / 2) lw = w / 2;
    for (int i = 0; i < f->n && 1 + i < h - 2; i++) {
        const FormField *fl = &f->fields[i];
        int sel = i == f->cur;
        char val[64], line[128];
        form_value_text(fl, val, sizeof val);
        const char *lt = utf8 ? "\xe2\x97\x80" : "<", *rt = utf8 ? "\xe2\x96\xb6" : ">";
        if (fl->text[0]) snprintf(line, sizeof line, "  %s_", val);
        else snprintf(line, sizeof line, "%s %s %s", sel ? lt : " ", val, sel ? rt : " ");
        wattrset(win, theme_attr(th, THEME_NORMAL));
        table_put_text(win, y + 1 + i, x + 1, lw, fl->label, TABLE_RIGHT, utf8);
        wattrset(win, theme_attr(th, sel ? THEME_SELECTED : THEME_NORMAL));
        table_put_text(win, y + 1 + i, x + lw + 2, w - lw - 3, line, TABLE_LEFT, utf8);
    }
    const FormField *cf = &f->fields[f->cur];
    int hr = y + (f->n + 1 < h - 2 ? f->n + 1 : h - 2);
    wattrset(win, theme_attr(th, f->err[0] ? THEME_BAD : THEME_DIM));
    table_put_text(win, hr, x + 1, w - 2, f->err[0] ? f->err : cf->help ? cf->help : "",
                   TABLE_LEFT, utf8);
    wattrset(win, theme_attr(th, THEME_DIM));
    table_put_text(win, hr + 1, x + 1, w - 2,
                   "Tab/Up/Down field  Left/Right change  digits type  Enter start  Esc cancel",
                   TABLE_LEFT, utf8);
    wattrset(win, A_NORMAL);
}
