/* theme.h — colours and attributes by role, in 256-colour, 8-colour and monochrome variants.
 *
 * Screens ask for a role (THEME_HEADER, THEME_SELECTED, ...) and get a curses attribute; they
 * never name colours. NO_COLOR (https://no-color.org) selects the monochrome theme, which
 * uses only bold, reverse and underline.
 */
#ifndef THEME_H
#define THEME_H

#include "ui/term.h"

typedef enum { THEME_MODE_MONO = 0, THEME_MODE_8 = 1, THEME_MODE_256 = 2 } ThemeMode;

typedef enum {
    THEME_NORMAL = 0,
    THEME_TITLE,       /* the top bar */
    THEME_TAB,         /* a screen name in the top bar */
    THEME_TAB_ACTIVE,  /* the current screen */
    THEME_HEADER,      /* table column headers */
    THEME_HEADER_SORT, /* the sorted column's header */
    THEME_SELECTED,    /* the cursor row */
    THEME_STATUS,      /* the status line */
    THEME_STATUS_KEY,  /* a key name in the status line */
    THEME_RESEARCH,    /* the permanent "research use only" notice */
    THEME_DIM,         /* secondary text */
    THEME_ACCENT,      /* numbers worth a glance */
    THEME_GOOD,
    THEME_WARN,
    THEME_BAD,
    THEME_SPLIT_TRAIN,
    THEME_SPLIT_VAL,
    THEME_SPLIT_TEST,
    THEME_SEARCH,      /* the search / filter prompt */
    THEME_BORDER,
    THEME_N_ROLES
} ThemeRole;

typedef struct {
    ThemeMode mode;
    attr_t attr[THEME_N_ROLES];
} Theme;

/* Picks the theme for a terminal with `colors` colours (0 when none). no_color is the value of
 * $NO_COLOR (set and non-empty means monochrome); force is "256", "8", "mono" or NULL. */
ThemeMode theme_choose(int colors, const char *no_color, const char *force);

/* Defines the colour pairs for mode (curses must be started; pairs 1..THEME_N_ROLES are used)
 * and fills t. */
void theme_init(Theme *t, ThemeMode mode);

static inline attr_t theme_attr(const Theme *t, ThemeRole r) { return t->attr[r]; }

/* "256-colour", "8-colour" or "monochrome". */
const char *theme_mode_name(ThemeMode m);

/* First pair number free for widgets that allocate their own pairs (images). */
#define THEME_FIRST_FREE_PAIR 64

#endif
