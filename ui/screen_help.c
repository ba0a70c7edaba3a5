/* screen_help.c — the ? screen: every key, grouped by screen, scrollable.
 *
 * Static text only; the same list is the KEYS section of man/phenoscope.1. It lists what the
 * program does today, nothing planned.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ui/app.h"
#include "ui/table.h"

typedef struct {
    const char *key; /* NULL: a section heading in desc */
    const char *desc;
} HelpLine;

static const HelpLine help_lines[] = {
    {NULL, "Everywhere"},
    {"1", "cohort: every ICU stay"},
    {"2 3", "the selected stay; its subject's radiographs"},
    {"4 5", "training runs; predictions for the selected stay"},
    {"?  F1", "this help"},
    {"Esc  q", "back to the previous screen; q on the cohort screen quits"},
    {"Ctrl-L", "repaint the whole screen"},
    {"Ctrl-C", "quit at once (the terminal is restored)"},
    {NULL, ""},
    {NULL, "Cohort (1)"},
    {"Up Down  j k", "move the cursor"},
    {"PgUp PgDn  Space", "a page up / down (also Ctrl-U Ctrl-D)"},
    {"Home End  g G", "first / last stay"},
    {"Enter", "open the stay under the cursor"},
    {"/", "search as you type: stay or subject id, unit, phenotype names"},
    {"  Enter  Esc", "  keep the narrowed list / clear the search"},
    {"t", "split filter: all, train, val, test"},
    {"p", "only stays with a paired radiograph"},
    {"f", "only stays positive for a phenotype (a list to pick from)"},
    {"c", "clear search and filters"},
    {"R", "reload the cohort from the store (after an import), keeping filters"},
    {"< >  , .", "sort by the previous / next column"},
    {"r", "reverse the sort order"},
    {"Esc", "clear the search"},
    {NULL, ""},
    {NULL, "Stay (2)"},
    {"Tab  Shift-Tab", "next / previous panel: charts, diagnoses, phenotypes"},
    {"Up Down  j k", "move between channels (or scroll the diagnoses / phenotypes)"},
    {"Left Right  h l", "previous / next channel (the chart grid on a big terminal)"},
    {"Enter  z", "zoom the channel to a full chart; Enter or Esc again to return"},
    {"Home End  g G", "first / last channel"},
    {"x  r", "the radiographs of this stay's subject"},
    {NULL, ""},
    {NULL, "Radiograph (3)"},
    {"Up Down  j k", "previous / next radiograph (also Left Right, h l)"},
    {"Home End  g G", "first / last radiograph"},
    {"p", "the paired radiograph (latest AP within the stay)"},
    {"Timeline", "the ICU stay as a bar; A P L = AP, PA, lateral; the paired one highlighted"},
    {"Findings", "+ positive  - negative  ? uncertain  blank: not mentioned"},
    {NULL, ""},
    {NULL, "Training (4)"},
    {"Up Down  j k", "move in the list of runs (newest first; live runs highlighted)"},
    {"Enter", "open the run: losses, validation AUROC per epoch and group, per-phenotype strip"},
    {"n", "start a run here: method, preset, epochs, image size, learning rate, seed"},
    {"  Tab Up Down", "  next / previous field; Left Right change it; digits type a number"},
    {"  Enter  Esc", "  start the run (it goes on while you use other screens) / cancel"},
    {"p  Space", "pause / resume this session's run"},
    {"s", "stop this session's run after its iteration (checkpoint saved, resumable)"},
    {"r", "resume a paused run, or continue a stopped run in this session"},
    {"m  Space", "mark a run in the list; c compares it with the run under the cursor"},
    {"c", "compare two runs side by side (the marked one, or the next in the list)"},
    {"Esc  l  Backspace", "back to the list of runs"},
    {"Live", "runs of other processes (phenoscope train) are read from the store every second"},
    {"Quit", "with a run going, q asks: y stops it cleanly and quits, n keeps training"},
    {NULL, ""},
    {NULL, "Predictions (5)"},
    {"w", "withhold / restore the X-ray: which prediction the inference rule uses"},
    {"[ ]", "previous / next finished run (default: the newest unified run)"},
    {"s", "sort by: used probability, EHR, Unified, |difference|, catalog order"},
    {"Up Down  j k", "scroll the 25 phenotypes (PgUp PgDn a page)"},
    {"R", "predict again (after training finished another run)"},
    {"Columns", "EHR-only and Unified (with the X-ray) bars; U-E their difference; Truth"},
    {"  marks", "  the used column has a triangle; a dot marks probabilities of 0.5 or more"},
    {NULL, ""},
    {NULL, "Columns"},
    {"Stay Subject", "identifiers (hidden with --mask-ids)"},
    {"Age Sex Unit", "at admission; the first care unit, abbreviated"},
    {"LOS d", "length of ICU stay in days"},
    {"CXR", "radiographs taken during the stay; a check mark when one is paired"},
    {"Split", "train / val / test"},
    {"Ph+", "number of positive phenotype labels (- when unlabelled)"},
    {NULL, ""},
    {NULL, "Images"},
    {"--graphics=M", "sixel, symbols or none; 'phenoscope probe' shows what was detected"},
    {NULL, ""},
    {NULL, "Research use only. Not a medical device; not for diagnosis or treatment."},
};

#define HELP_N ((int)(sizeof help_lines / sizeof help_lines[0]))

typedef struct {
    int top, page;
} Help;

static void *help_open(App *app)
{
    Help *h = calloc(1, sizeof *h);
    if (!h) app_status(app, "help: out of memory");
    return h;
}

static void help_close(void *state) { free(state); }

static void help_draw(void *state, App *app, UiRect r)
{
    Help *h = state;
    const Theme *th = &app->theme;
    h->page = r.h - 1;
    int max_top = HELP_N - h->page > 0 ? HELP_N - h->page : 0;
    if (h->top > max_top) h->top = max_top;
    wattrset(stdscr, theme_attr(th, THEME_TITLE));
    table_put_text(stdscr, r.y, r.x, r.w, " Keys", TABLE_LEFT, app->utf8);
    int kw = r.w >= 60 ? 20 : 14;
    for (int i = 0; i < r.h - 1 && h->top + i < HELP_N; i++) {
        const HelpLine *l = &help_lines[h->top + i];
        int y = r.y + 1 + i;
        if (!l->key) {
            wattrset(stdscr, theme_attr(th, THEME_ACCENT) | A_BOLD);
            table_put_text(stdscr, y, r.x + 1, r.w - 2, l->desc, TABLE_LEFT, app->utf8);
            continue;
        }
        wattrset(stdscr, theme_attr(th, THEME_STATUS_KEY) & ~A_COLOR);
        table_put_text(stdscr, y, r.x + 3, kw, l->key, TABLE_LEFT, app->utf8);
        wattrset(stdscr, A_NORMAL);
        if (r.w - kw - 4 > 0) table_put_text(stdscr, y, r.x + 4 + kw, r.w - kw - 4, l->desc, TABLE_LEFT, app->utf8);
    }
    wattrset(stdscr, A_NORMAL);
}

static int help_key(void *state, App *app, int key)
{
    Help *h = state;
    (void)app;
    int page = h->page > 1 ? h->page - 1 : 1;
    switch (key) {
    case KEY_UP:
    case 'k': if (h->top > 0) h->top--; return SCREEN_KEY_USED;
    case KEY_DOWN:
    case 'j': h->top++; return SCREEN_KEY_USED;
    case KEY_PPAGE: h->top = h->top > page ? h->top - page : 0; return SCREEN_KEY_USED;
    case KEY_NPAGE:
    case ' ': h->top += page; return SCREEN_KEY_USED;
    case KEY_HOME:
    case 'g': h->top = 0; return SCREEN_KEY_USED;
    case KEY_END:
    case 'G': h->top = HELP_N; return SCREEN_KEY_USED;
    }
    return SCREEN_KEY_IGNORED;
}

static const char *help_hints(void *state, App *app)
{
    (void)state;
    (void)app;
    return "Up/Down scroll  Esc/q back";
}

const UiScreen screen_help = {
    .name = "Help",
    .open = help_open,
    .close = help_close,
    .draw = help_draw,
    .on_key = help_key,
    .hints = help_hints,
};
