/* app.h — the TUI's frame: screens, the main loop, the top bar, the status line and the
 * permanent "research use only" line.
 *
 * A screen is a file ui/screen_<name>.c exporting one UiScreen (designated initializers). The
 * app owns each screen's state (created on first visit, freed at exit), routes keys to the
 * current screen first and handles what it leaves (number keys, ?, q, Esc), calls on_tick on
 * every loop turn so screens can pick up results from their workers, and redraws a frame only
 * when something changed. Screens draw inside the rect they are given and only read state in
 * draw.
 */
#ifndef APP_H
#define APP_H

#include <stdint.h>

#include "store/store.h"
#include "ui/graphics.h"
#include "ui/image.h"
#include "ui/term.h"
#include "ui/theme.h"
#include "ui/worker.h"

typedef enum {
    SCREEN_COHORT = 0,
    SCREEN_STAY,
    SCREEN_RADIOGRAPH,
    SCREEN_TRAINING,
    SCREEN_PREDICTIONS,
    SCREEN_HELP,
    SCREEN_COUNT
} ScreenId;

typedef struct {
    int y, x, h, w;
} UiRect;

typedef struct App App;

/* on_key results */
#define SCREEN_KEY_IGNORED 0 /* the app may use the key (number keys, q, Esc, ?) */
#define SCREEN_KEY_USED 1

typedef struct {
    const char *name; /* shown in the top bar, e.g. "Cohort" */
    /* Creates the screen's state on first visit; NULL on failure (app_status says why). */
    void *(*open)(App *app);
    void (*close)(void *state);
    /* Draws into r of stdscr. Reads state only. */
    void (*draw)(void *state, App *app, UiRect r);
    /* A key for the screen; SCREEN_KEY_USED when it consumed it. */
    int (*on_key)(void *state, App *app, int key);
    /* Picks up fresh data (worker results, snapshots); 1 when the screen must be redrawn. */
    int (*on_tick)(void *state, App *app);
    /* 1 while the screen is waiting for its data (headless tests wait before the next key). */
    int (*busy)(void *state);
    /* Key hints for the status line when there is no message ("/ search  t split ..."). */
    const char *(*hints)(void *state, App *app);
    /* Optional: called when the user quits; 1 holds the quit back (the screen is shown and asks
     * the user, e.g. to stop a training run cleanly, and sets app->quit itself). */
    int (*quit_guard)(void *state, App *app);
} UiScreen;

typedef struct {
    const char *store_path; /* resolved path of the store (the workers open their own handle) */
    Store *store;           /* the UI thread's read-only handle, or NULL */
    const char *graphics;   /* --graphics override or NULL */
    int mask_ids;
    int headless;           /* --frames given: no terminal, keys from `keys` */
    int frames;             /* headless: loop turns before exiting (0 = until the keys end) */
    int rows, cols;         /* headless screen size */
    const char *keys;       /* headless key script (term_parse_key syntax) */
    const char *dump_path;  /* headless: write the last screen as text here */
    const char *theme;      /* "256", "8", "mono" or NULL (from the terminal and NO_COLOR) */
} AppOptions;

struct App {
    AppOptions opt;
    Term term;
    Theme theme;
    GraphicsInfo graphics;
    ImageView images;
    int utf8;
    ScreenId stack[8]; /* navigation: stack[0] is the top level (cohort) */
    int depth;
    void *state[SCREEN_COUNT];
    int64_t selected_stay; /* the stay Enter opened (0 = none) */
    char status[256];
    long status_until; /* monotonic ms */
    int dirty, quit, exit_code;
    long now_ms; /* monotonic ms at the start of this loop turn */
};

/* Runs the TUI until the user quits (or a signal arrives). Returns the process exit status
 * (0 after q; 128+signal after SIGINT/SIGTERM/SIGHUP; 1 when the terminal cannot be used, with
 * one line already printed on stderr after the terminal was restored). */
int app_run(const AppOptions *o);

/* The screen being shown. */
ScreenId app_current(const App *app);
/* Shows screen id on top of the current one (Esc / q returns). */
void app_push(App *app, ScreenId id);
/* Returns to the previous screen; at the top level it does nothing. */
void app_back(App *app);
/* Opens the stay screen on stay_id (from the cohort's Enter). */
void app_open_stay(App *app, int64_t stay_id);
/* A one-line message on the status line for a few seconds. Sanitised by the caller. */
void app_status(App *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Marks the frame for redraw. */
void app_redraw(App *app);

/* Draws text in exactly w cells at (y, x) of stdscr in the theme's role plus extra attributes
 * (A_BOLD, or 0): clipped with an ellipsis mark or padded (table_put_text), what the terminal
 * cannot show drawn as '?'. Nothing when w <= 0. The one text primitive the screens share. */
void app_put(const App *app, int y, int x, int w, ThemeRole role, attr_t extra, const char *text);

/* worker_take for a screen: 0 when w is NULL (its loader never started) or no result is ready;
 * else 1 with the result in res and d->err sanitised for the terminal, ready to show. */
int app_take(const App *app, Worker *w, void *res, WorkerDone *d);

/* Terminal-safe glyphs for the locale: a UTF-8 glyph, or the ASCII stand-in. */
static inline const char *app_glyph(const App *app, const char *utf8, const char *ascii)
{
    return app->utf8 ? utf8 : ascii;
}

/* The screens, each defined in its own file. NULL entries are not built yet. */
extern const UiScreen screen_cohort;
extern const UiScreen screen_help;
extern const UiScreen screen_stay;
extern const UiScreen screen_radiograph;
extern const UiScreen screen_train;
extern const UiScreen screen_predict;

#endif
