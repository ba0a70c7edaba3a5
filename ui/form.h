/* form.h — a small form: labelled fields that are either a choice from a list or a number, a
 * cursor that moves with Tab / Shift-Tab / Up / Down, Enter to submit, Esc to cancel.
 *
 * Keys on the current field: Left / Right (h / l) step a choice or a number by its step (or
 * multiply / divide by it for logarithmic fields such as a learning rate); digits, '.', 'e' and
 * '-' type a new number (Backspace edits, moving away or Enter checks it). A typed number that
 * does not parse or lies outside [min, max] keeps the cursor on the field and sets form.err.
 * The pure key logic (form_key) is separate from drawing so tests drive it without a terminal.
 */
#ifndef FORM_H
#define FORM_H

#include "ui/term.h"
#include "ui/theme.h"

typedef enum { FORM_CHOICE = 0, FORM_INT, FORM_FLOAT } FormKind;

typedef struct {
    const char *label;
    const char *help; /* one line shown under the form for the current field; may be NULL */
    FormKind kind;
    const char *const *choices; /* FORM_CHOICE */
    int n_choices;
    int choice;
    double value, min, max, step; /* numbers; step > 0 */
    int log_step;                 /* 1: Left / Right divide / multiply by step */
    char text[32];                /* the number being typed; empty when not editing */
} FormField;

typedef struct {
    const char *title;
    FormField *fields; /* caller-owned, n of them */
    int n, cur;
    char err[128];
} Form;

enum { FORM_NONE = 0, FORM_CHANGED, FORM_SUBMIT, FORM_CANCEL };

/* Handles a key; returns FORM_NONE (not a form key), FORM_CHANGED, FORM_SUBMIT (every field
 * valid) or FORM_CANCEL. */
int form_key(Form *f, int key);
/* The field's value as text ("64", "0.001", "unified") into buf. */
void form_value_text(const FormField *fl, char *buf, size_t n);
/* Draws the form in the rect (a box with the title, one row per field, the help line, the
 * error). */
void form_draw(const Form *f, WINDOW *win, int y, int x, int h, int w, const Theme *th, int utf8);

#endif
