/* theme.c — the three colour themes. Colour choices only; it draws nothing.
 *
 * 256 colours: a dark-blue title bar, soft cyan headers, amber accents, muted split colours.
 * 8 colours: the same roles with the basic ANSI colours. Monochrome: bold/reverse/underline.
 * The terminal's own background is kept (use_default_colors, colour -1), as htop does.
 */
#include "ui/theme.h"

#include <string.h>

ThemeMode theme_choose(int colors, const char *no_color, const char *force)
{
    if (force) {
        if (strcmp(force, "256") == 0) return colors >= 256 ? THEME_MODE_256 : THEME_MODE_8;
        if (strcmp(force, "8") == 0) return colors >= 8 ? THEME_MODE_8 : THEME_MODE_MONO;
        if (strcmp(force, "mono") == 0) return THEME_MODE_MONO;
    }
    if (no_color && *no_color) return THEME_MODE_MONO;
    if (colors >= 256) return THEME_MODE_256;
    if (colors >= 8) return THEME_MODE_8;
    return THEME_MODE_MONO;
}

const char *theme_mode_name(ThemeMode m)
{
    switch (m) {
    case THEME_MODE_256: return "256-colour";
    case THEME_MODE_8: return "8-colour";
    case THEME_MODE_MONO: return "monochrome";
    }
    return "?";
}

typedef struct {
    short fg, bg;
    attr_t extra;
} RoleColour;

/* Index by ThemeRole. -1 is the terminal's default colour. */
static const RoleColour colours_256[THEME_N_ROLES] = {
    [THEME_NORMAL] = {-1, -1, 0},
    [THEME_TITLE] = {255, 24, A_BOLD},
    [THEME_TAB] = {252, 24, 0},
    [THEME_TAB_ACTIVE] = {16, 179, A_BOLD},
    [THEME_HEADER] = {16, 73, 0},
    [THEME_HEADER_SORT] = {16, 116, A_BOLD},
    [THEME_SELECTED] = {16, 152, 0},
    [THEME_STATUS] = {252, 236, 0},
    [THEME_STATUS_KEY] = {179, 236, A_BOLD},
    [THEME_RESEARCH] = {223, 52, 0},
    [THEME_DIM] = {244, -1, 0},
    [THEME_ACCENT] = {179, -1, 0},
    [THEME_GOOD] = {114, -1, 0},
    [THEME_WARN] = {179, -1, 0},
    [THEME_BAD] = {174, -1, A_BOLD},
    [THEME_SPLIT_TRAIN] = {110, -1, 0},
    [THEME_SPLIT_VAL] = {180, -1, 0},
    [THEME_SPLIT_TEST] = {175, -1, 0},
    [THEME_SEARCH] = {16, 179, 0},
    [THEME_BORDER] = {240, -1, 0},
};

static const RoleColour colours_8[THEME_N_ROLES] = {
    [THEME_NORMAL] = {-1, -1, 0},
    [THEME_TITLE] = {COLOR_WHITE, COLOR_BLUE, A_BOLD},
    [THEME_TAB] = {COLOR_WHITE, COLOR_BLUE, 0},
    [THEME_TAB_ACTIVE] = {COLOR_BLACK, COLOR_YELLOW, 0},
    [THEME_HEADER] = {COLOR_BLACK, COLOR_GREEN, 0},
    [THEME_HEADER_SORT] = {COLOR_BLACK, COLOR_YELLOW, 0},
    [THEME_SELECTED] = {COLOR_BLACK, COLOR_CYAN, 0},
    [THEME_STATUS] = {COLOR_WHITE, COLOR_BLUE, 0},
    [THEME_STATUS_KEY] = {COLOR_YELLOW, COLOR_BLUE, A_BOLD},
    [THEME_RESEARCH] = {COLOR_WHITE, COLOR_RED, 0},
    [THEME_DIM] = {-1, -1, A_DIM},
    [THEME_ACCENT] = {COLOR_YELLOW, -1, 0},
    [THEME_GOOD] = {COLOR_GREEN, -1, 0},
    [THEME_WARN] = {COLOR_YELLOW, -1, 0},
    [THEME_BAD] = {COLOR_RED, -1, A_BOLD},
    [THEME_SPLIT_TRAIN] = {COLOR_CYAN, -1, 0},
    [THEME_SPLIT_VAL] = {COLOR_YELLOW, -1, 0},
    [THEME_SPLIT_TEST] = {COLOR_MAGENTA, -1, 0},
    [THEME_SEARCH] = {COLOR_BLACK, COLOR_YELLOW, 0},
    [THEME_BORDER] = {COLOR_BLUE, -1, 0},
};

static const attr_t mono[THEME_N_ROLES] = {
    [THEME_NORMAL] = A_NORMAL,       [THEME_TITLE] = A_REVERSE | A_BOLD,
    [THEME_TAB] = A_REVERSE,         [THEME_TAB_ACTIVE] = A_BOLD | A_UNDERLINE,
    [THEME_HEADER] = A_BOLD | A_UNDERLINE, [THEME_HEADER_SORT] = A_REVERSE | A_BOLD,
    [THEME_SELECTED] = A_REVERSE,    [THEME_STATUS] = A_REVERSE,
    [THEME_STATUS_KEY] = A_REVERSE | A_BOLD,
    [THEME_RESEARCH] = A_BOLD,       [THEME_DIM] = A_DIM,
    [THEME_ACCENT] = A_BOLD,         [THEME_GOOD] = A_NORMAL,
    [THEME_WARN] = A_BOLD,           [THEME_BAD] = A_BOLD,
    [THEME_SPLIT_TRAIN] = A_NORMAL,  [THEME_SPLIT_VAL] = A_NORMAL,
    [THEME_SPLIT_TEST] = A_NORMAL,   [THEME_SEARCH] = A_REVERSE | A_BOLD,
    [THEME_BORDER] = A_NORMAL,
};

void theme_init(Theme *t, ThemeMode mode)
{
    t->mode = mode;
    if (mode == THEME_MODE_MONO) {
        memcpy(t->attr, mono, sizeof t->attr);
        return;
    }
    const RoleColour *c = mode == THEME_MODE_256 ? colours_256 : colours_8;
    for (int r = 0; r < THEME_N_ROLES; r++) {
        if (r == THEME_NORMAL) {
            t->attr[r] = A_NORMAL;
            continue;
        }
        init_pair((short)r, c[r].fg, c[r].bg);
        t->attr[r] = COLOR_PAIR(r) | c[r].extra;
    }
}
