/* app.c — the TUI loop: screen stack, key routing, frames, the bars around every screen.
 *
 * One loop turn: pick up fresh data (on_tick of every open screen), draw a frame if anything
 * changed (one flush), wait for a key with a timeout, route it. Screens own their workers;
 * this file never waits on them. It does not open the store or parse options (cmd_tui.c).
 */
#include "ui/app.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ui/latency.h"
#include "ui/table.h"
#include "store/sanitize.h"

/* Screens not built into this version are NULL; their number keys say so. */
static const UiScreen *const screens[SCREEN_COUNT] = {
    [SCREEN_COHORT] = &screen_cohort,
    [SCREEN_STAY] = &screen_stay,
    [SCREEN_RADIOGRAPH] = &screen_radiograph,
    [SCREEN_TRAINING] = &screen_train,
    [SCREEN_PREDICTIONS] = &screen_predict,
    [SCREEN_HELP] = &screen_help,
};

static const char *const screen_names[SCREEN_COUNT] = {
    [SCREEN_COHORT] = "Cohort",         [SCREEN_STAY] = "Stay",
    [SCREEN_RADIOGRAPH] = "Radiograph", [SCREEN_TRAINING] = "Training",
    [SCREEN_PREDICTIONS] = "Predictions", [SCREEN_HELP] = "Help",
};

#define MIN_ROWS 10
#define MIN_COLS 40
#define TICK_MS 100
#define STATUS_MS 4000

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ScreenId app_current(const App *app) { return app->stack[app->depth - 1]; }

void app_redraw(App *app) { app->dirty = 1; }

void app_put(const App *app, int y, int x, int w, ThemeRole role, attr_t extra, const char *text)
{
    if (w <= 0) return;
    wattrset(stdscr, theme_attr(&app->theme, role) | extra);
    table_put_text(stdscr, y, x, w, text, TABLE_LEFT, app->utf8);
    wattrset(stdscr, A_NORMAL);
}

int app_take(const App *app, Worker *w, void *res, WorkerDone *d)
{
    if (!w || !worker_take(w, res, d)) return 0;
    char raw[sizeof d->err];
    memcpy(raw, d->err, sizeof raw);
    sanitize_for_locale(d->err, sizeof d->err, raw, app->utf8);
    return 1;
}

void app_status(App *app, const char *fmt, ...)
{
    char raw[sizeof app->status];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    sanitize_for_locale(app->status, sizeof app->status, raw, app->utf8);
    app->status_until = mono_ms() + STATUS_MS;
    app->dirty = 1;
}

/* Creates the screen's state on first use; 0 when the screen cannot be shown. */
static int ensure_open(App *app, ScreenId id)
{
    if (!screens[id]) {
        app_status(app, "%s screen: not built into this version yet", screen_names[id]);
        return 0;
    }
    if (!app->state[id]) {
        app->state[id] = screens[id]->open(app);
        if (!app->state[id]) return 0;
    }
    return 1;
}

void app_push(App *app, ScreenId id)
{
    if (app_current(app) == id || !ensure_open(app, id)) return;
    if (app->depth < (int)(sizeof app->stack / sizeof app->stack[0])) app->stack[app->depth++] = id;
    else app->stack[app->depth - 1] = id;
    app->dirty = 1;
}

/* Number keys: the cohort is always underneath, so Esc / q from any screen lands there. */
static void app_switch(App *app, ScreenId id)
{
    if (id == SCREEN_COHORT) {
        app->depth = 1;
        app->dirty = 1;
        return;
    }
    if (!ensure_open(app, id)) return;
    app->depth = 1;
    app->stack[app->depth++] = id;
    app->dirty = 1;
}

void app_back(App *app)
{
    if (app->depth > 1) {
        app->depth--;
        app->dirty = 1;
    }
}

void app_open_stay(App *app, int64_t stay_id)
{
    app->selected_stay = stay_id;
    if (!screens[SCREEN_STAY]) {
        if (app->opt.mask_ids) app_status(app, "Stay screen: not built into this version yet");
        else app_status(app, "Stay %lld: the stay screen is not built into this version yet", (long long)stay_id);
        return;
    }
    app_push(app, SCREEN_STAY);
}

/* ---- the frame ------------------------------------------------------------------------------ */

static void draw_topbar(App *app, int w)
{
    const Theme *th = &app->theme;
    wattrset(stdscr, theme_attr(th, THEME_TITLE));
    mvhline(0, 0, ' ', w);
    mvaddstr(0, 1, "phenoscope");
    int x = 13;
    ScreenId cur = app_current(app);
    for (int i = 0; i <= SCREEN_PREDICTIONS && x < w; i++) {
        char tab[32];
        snprintf(tab, sizeof tab, " %d %s ", i + 1, screen_names[i]);
        int len = (int)strlen(tab);
        if (x + len > w) break;
        wattrset(stdscr, theme_attr(th, (ScreenId)i == cur ? THEME_TAB_ACTIVE : THEME_TAB) |
                             (screens[i] ? 0 : A_DIM));
        mvaddstr(0, x, tab);
        x += len;
    }
    wattrset(stdscr, theme_attr(th, cur == SCREEN_HELP ? THEME_TAB_ACTIVE : THEME_TAB));
    if (x + 8 <= w) mvaddstr(0, x, " ? Help ");
    x += 8;
    /* the store's name at the right when there is room */
    if (app->opt.store_path) {
        const char *base = strrchr(app->opt.store_path, '/');
        base = base ? base + 1 : app->opt.store_path;
        char safe[64];
        sanitize_for_locale(safe, sizeof safe, base, app->utf8);
        int len = table_text_width(safe);
        if (x + len + 2 <= w) {
            wattrset(stdscr, theme_attr(th, THEME_TITLE));
            table_put_text(stdscr, 0, w - len - 1, len, safe, TABLE_LEFT, app->utf8);
        }
    }
    wattrset(stdscr, A_NORMAL);
}

static void draw_bottom(App *app, int h, int w)
{
    const Theme *th = &app->theme;
    ScreenId cur = app_current(app);
    const char *text = "";
    if (app->status[0] && app->now_ms < app->status_until) text = app->status;
    else if (screens[cur] && screens[cur]->hints) text = screens[cur]->hints(app->state[cur], app);
    wattrset(stdscr, theme_attr(th, app->status[0] && text == app->status ? THEME_STATUS_KEY : THEME_STATUS));
    table_put_text(stdscr, h - 2, 0, w, text, TABLE_LEFT, app->utf8);
    wattrset(stdscr, theme_attr(th, THEME_RESEARCH));
    char line[160];
    snprintf(line, sizeof line, " RESEARCH USE ONLY %s not a medical device, not for diagnosis or treatment%s",
             app->utf8 ? "\u2014" : "-", app->opt.mask_ids ? "  [IDs masked]" : "");
    table_put_text(stdscr, h - 1, 0, w, line, TABLE_LEFT, app->utf8);
    wattrset(stdscr, A_NORMAL);
}

static void draw_frame(App *app)
{
    int h = LINES, w = COLS;
    image_view_begin(&app->images);
    werase(stdscr);
    if (h < MIN_ROWS || w < MIN_COLS) {
        char msg[96];
        snprintf(msg, sizeof msg, "Terminal too small (%dx%d): needs %dx%d", w, h, MIN_COLS, MIN_ROWS);
        table_put_text(stdscr, h / 2, 0, w, msg, TABLE_LEFT, app->utf8);
        if (h >= 2) {
            wattrset(stdscr, theme_attr(&app->theme, THEME_RESEARCH));
            table_put_text(stdscr, h - 1, 0, w, "RESEARCH USE ONLY", TABLE_LEFT, app->utf8);
            wattrset(stdscr, A_NORMAL);
        }
    } else {
        draw_topbar(app, w);
        ScreenId cur = app_current(app);
        UiRect body = {.y = 1, .x = 0, .h = h - 3, .w = w};
        if (screens[cur] && app->state[cur]) screens[cur]->draw(app->state[cur], app, body);
        draw_bottom(app, h, w);
    }
    image_view_before_flush(&app->images, stdscr);
    wnoutrefresh(stdscr);
    term_flush(&app->term);
    image_view_after_flush(&app->images, &app->term);
    if (app->images.status[0]) {
        app_status(app, "%s", app->images.status);
        app->images.status[0] = 0;
    }
    app->dirty = 0;
}

/* ---- the loop ------------------------------------------------------------------------------- */

/* A screen that must ask before the program ends (a training run going) is shown instead. */
static int quit_held(App *app)
{
    for (int i = 0; i < SCREEN_COUNT; i++)
        if (screens[i] && app->state[i] && screens[i]->quit_guard &&
            screens[i]->quit_guard(app->state[i], app)) {
            if (app_current(app) != (ScreenId)i) app_switch(app, (ScreenId)i);
            app->dirty = 1;
            return 1;
        }
    return 0;
}

static void handle_key(App *app, int key)
{
    ScreenId cur = app_current(app);
    if (key == KEY_RESIZE) {
        image_view_invalidate(&app->images);
        app->dirty = 1;
        return;
    }
    if (key == 'L' - 64) { /* Ctrl-L */
        clearok(curscr, TRUE);
        image_view_invalidate(&app->images);
        app->dirty = 1;
        return;
    }
    if (screens[cur] && app->state[cur] && screens[cur]->on_key &&
        screens[cur]->on_key(app->state[cur], app, key) == SCREEN_KEY_USED) {
        app->dirty = 1;
        return;
    }
    switch (key) {
    case '1': app_switch(app, SCREEN_COHORT); break;
    case '2': app_switch(app, SCREEN_STAY); break;
    case '3': app_switch(app, SCREEN_RADIOGRAPH); break;
    case '4': app_switch(app, SCREEN_TRAINING); break;
    case '5': app_switch(app, SCREEN_PREDICTIONS); break;
    case '?':
    case KEY_F(1): app_push(app, SCREEN_HELP); break;
    case 'q':
        if (app->depth > 1) app_back(app);
        else if (!quit_held(app)) app->quit = 1;
        break;
    case 27: app_back(app); break;
    default: break;
    }
}

static int tick_all(App *app)
{
    int changed = 0;
    for (int i = 0; i < SCREEN_COUNT; i++)
        if (screens[i] && app->state[i] && screens[i]->on_tick &&
            screens[i]->on_tick(app->state[i], app) && i == (int)app_current(app))
            changed = 1;
    return changed;
}

static int current_busy(App *app)
{
    ScreenId cur = app_current(app);
    return screens[cur] && app->state[cur] && screens[cur]->busy && screens[cur]->busy(app->state[cur]);
}

int app_run(const AppOptions *o)
{
    App *app = calloc(1, sizeof *app);
    if (!app) {
        fprintf(stderr, "phenoscope: out of memory\n");
        return 1;
    }
    app->opt = *o;
    /* Graphics are settled before curses owns the terminal: the probe reads raw replies. */
    if (o->headless) {
        GraphicsProbe none = {0};
        GraphicsEnv env;
        graphics_env_from_process(&env, o->graphics);
        env.is_tty = 0;
        graphics_decide(&none, &env, &app->graphics);
    } else {
        graphics_detect(o->graphics, &app->graphics, NULL);
    }
    TermOptions to = {.headless = o->headless, .rows = o->rows, .cols = o->cols, .keys = o->keys};
    PsErr err;
    if (term_quit_pending() || term_start(&app->term, &to, &err) != PS_OK) {
        int sig = term_quit_signal();
        free(app);
        if (sig) return 128 + sig;
        fprintf(stderr, "phenoscope: %s\n", err.msg);
        return 1;
    }
    app->utf8 = app->term.utf8;
    theme_init(&app->theme, theme_choose(app->term.colors, getenv("NO_COLOR"), o->theme));
    image_view_init(&app->images, &app->graphics, app->theme.mode, app->utf8, app->term.colors ? COLOR_PAIRS : 0);
    app->stack[0] = SCREEN_COHORT;
    app->depth = 1;
    app->now_ms = mono_ms();
    ensure_open(app, SCREEN_COHORT);
    app->dirty = 1;

    int turns = 0;
    long busy_since = -1;
    LatencyTrace lat;
    if (latency_open(&lat, getenv("PHENOSCOPE_TRACE_LATENCY")) != 0)
        app_status(app, "cannot write the latency trace (PHENOSCOPE_TRACE_LATENCY)");
    while (!app->quit) {
        app->now_ms = mono_ms();
        if (tick_all(app)) app->dirty = 1;
        /* a status message that just expired needs the hints back */
        if (app->status[0] && app->now_ms >= app->status_until) {
            app->status[0] = 0;
            app->dirty = 1;
        }
        int drew = app->dirty;
        if (app->dirty) draw_frame(app);
        latency_done(&lat, drew, (int)app_current(app));
        if (o->headless) {
            if (o->frames > 0 && ++turns >= o->frames) break;
            /* Scripted keys wait for the screen's data, as a user's eyes would (30 s cap). */
            if (current_busy(app)) {
                if (busy_since < 0) busy_since = app->now_ms;
                if (app->now_ms - busy_since < 30000) {
                    struct timespec ts = {0, 5 * 1000000};
                    nanosleep(&ts, NULL);
                    continue;
                }
            }
            busy_since = -1;
        }
        int key = term_getkey(&app->term, TICK_MS);
        if (key == TERM_KEY_QUIT) {
            app->exit_code = 128 + term_quit_signal();
            break;
        }
        if (key == TERM_KEY_SCRIPT_END) {
            if (o->frames <= 0) break;
            continue;
        }
        if (key == TERM_KEY_NONE) continue;
        latency_key(&lat, key);
        handle_key(app, key);
    }
    if (o->headless) {
        if (app->dirty) draw_frame(app);
        if (o->dump_path) {
            FILE *f = fopen(o->dump_path, "w");
            if (f) {
                term_dump_text(&app->term, f);
                fclose(f);
            }
        }
    }
    for (int i = 0; i < SCREEN_COUNT; i++)
        if (screens[i] && app->state[i]) screens[i]->close(app->state[i]);
    image_view_done(&app->images);
    latency_close(&lat);
    term_stop(&app->term);
    int rc = app->exit_code;
    free(app);
    return rc;
}
