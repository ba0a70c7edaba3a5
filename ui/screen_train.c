/* screen_train.c — screen 4, Training (see screen_train.h).
 *
 * Views: the list of runs (newest first), one run in detail, two runs compared, the form that
 * starts a run, and the question asked when the user quits with a run going.
 *
 * Data: a worker thread (ui/worker.h) with its own read-only Store handle re-reads the run list and the runs on
 * show about once a second (and at once when the user asks for another run), so a run trained by
 * another process — `phenoscope train` in another terminal — is shown live from what it writes to
 * the store. A run started here goes through the job queue (engine/job.h) in this process; its
 * snapshot is copied on every tick for the numbers that change faster than the store is written.
 * The UI thread never waits on the worker or the trainer: results are swapped in under a mutex
 * held only for pointer moves.
 *
 * Thread safety: open / close / draw / on_key / on_tick on the UI thread; the loader thread runs
 * load_once on its own Store and result slot.
 */
#include "ui/screen_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/job.h"
#include "engine/train.h"
#include "store/runs.h"
#include "store/runview.h"
#include "ui/app.h"
#include "ui/bars.h"
#include "ui/chart.h"
#include "ui/form.h"
#include "ui/table.h"
#include "store/sanitize.h"
#include "ui/worker.h"

#define MAX_LIST 500
#define MAX_STEPS 4000
#define RELOAD_MS 1000

typedef enum { V_LIST = 0, V_DETAIL, V_COMPARE, V_FORM, V_QUIT } View;

typedef struct {
    RunInfo info;
    int n_epochs, best_epoch;
    double best_auroc;
} RunRow;

/* What the loader publishes (owned by whoever holds it). */
typedef struct {
    RunRow *rows;
    int n_rows;
    RunView view[2];
    int have[2];
    char err[PS_ERRMSG_MAX];
} Loaded;

enum { F_METHOD, F_PRESET, F_EPOCHS, F_IMG, F_LR, F_SEED, F_N };
static const char *const method_choices[] = {"unified", "ehr", "joint1", "joint2", "late"};
static const char *const preset_choices[] = {"quick", "demo", "paper"};

typedef struct {
    App *app;
    Worker *loader; /* re-reads the list and the runs on show every RELOAD_MS */
    /* UI copies */
    Loaded cur;
    int loaded_once;
    View view, prev_view;
    int cursor, top;
    int64_t mark;     /* run marked for comparison */
    int64_t shown[2]; /* detail / compare runs */
    /* the job queue of this process */
    Job *job;
    int job_id;
    int64_t job_run;
    JobSnapshot snap;
    uint64_t snap_version;
    int job_active;
    JobState last_state;
    /* the form */
    Form form;
    FormField fields[F_N];
    char hint[256];
} Train;

/* ---- pure helpers --------------------------------------------------------------------------- */

void screen_train_smooth(float *out, const float *y, size_t n, double alpha)
{
    double s = NAN;
    for (size_t i = 0; i < n; i++) {
        if (!isnan(y[i])) s = isnan(s) ? y[i] : alpha * y[i] + (1 - alpha) * s;
        out[i] = (float)s;
    }
}

void screen_train_duration(char *buf, size_t n, double sec)
{
    if (!isfinite(sec) || sec < 0) {
        snprintf(buf, n, "-");
        return;
    }
    long s = lround(sec);
    if (s >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, n, "%ld:%02ld", s / 60, s % 60);
}

/* ---- the loader ----------------------------------------------------------------------------- */

static void loaded_free(Loaded *l)
{
    free(l->rows);
    for (int k = 0; k < 2; k++)
        if (l->have[k]) runview_free(&l->view[k]);
    memset(l, 0, sizeof *l);
}

typedef struct {
    RunRow *rows;
    int n;
} ListCtx;

static int list_run(void *ctx, const RunInfo *r)
{
    ListCtx *c = ctx;
    if (c->n >= MAX_LIST) return 1;
    c->rows[c->n].info = *r;
    c->rows[c->n].best_auroc = NAN;
    c->n++;
    return 0;
}

typedef struct {
    RunRow *row;
} EpochCtx;

static int summary_epoch(void *ctx, int epoch, const char *json)
{
    (void)epoch;
    RunRow *row = ((EpochCtx *)ctx)->row;
    RunViewEpoch e;
    if (runview_parse_epoch(json, &e)) return 0;
    row->n_epochs = e.epoch;
    if (e.best && isfinite(e.auroc)) {
        row->best_epoch = e.epoch;
        row->best_auroc = e.auroc;
    }
    return 0;
}

/* A job: the runs to load in detail (0 none) besides the list. */
typedef struct {
    int64_t want[2];
} LoadReq;

static PsStatus load_once(void *ctx, Store *st, const void *req, void *res, PsErr *err_out)
{
    (void)ctx;
    (void)err_out;
    const int64_t *want = ((const LoadReq *)req)->want;
    Loaded *out = res;
    PsErr err = {{0}};
    out->rows = calloc(MAX_LIST, sizeof *out->rows);
    if (!out->rows) {
        snprintf(out->err, sizeof out->err, "out of memory");
        return PS_OK;
    }
    ListCtx lc = {out->rows, 0};
    PsStatus rc = runs_each(st, list_run, &lc);
    if (rc && rc != PS_ERR_CANCELLED) {
        snprintf(out->err, sizeof out->err, "runs: %s", store_errmsg(st));
        return PS_OK;
    }
    out->n_rows = lc.n;
    for (int i = 0; i < lc.n; i++) {
        EpochCtx ec = {&out->rows[i]};
        runs_each_epoch(st, out->rows[i].info.run_id, summary_epoch, &ec);
    }
    for (int k = 0; k < 2; k++) {
        if (!want[k]) continue;
        if (runview_load(st, want[k], MAX_STEPS, &out->view[k], &err) == PS_OK) out->have[k] = 1;
        else snprintf(out->err, sizeof out->err, "%s", err.msg);
    }
    /* what went wrong is shown with what could be read, so the result is always delivered */
    return PS_OK;
}

static void free_loaded(void *res) { loaded_free(res); }

static void request(Train *t, int64_t a, int64_t b)
{
    t->shown[0] = a;
    t->shown[1] = b;
    if (t->loader) worker_post(t->loader, &(LoadReq){{a, b}});
}

/* ---- open / close --------------------------------------------------------------------------- */

static void form_defaults(Train *t, int keep_method)
{
    TrainConfig c;
    int m = keep_method ? t->fields[F_METHOD].choice : 0;
    int p = keep_method ? t->fields[F_PRESET].choice : 0;
    train_config_preset(&c, (TrainPreset)p, (TrainMethod)m);
    FormField *f = t->fields;
    f[F_METHOD] = (FormField){.label = "method", .kind = FORM_CHOICE, .choices = method_choices,
                              .n_choices = 5, .choice = m,
                              .help = "unified: Algorithm 1; ehr: LSTM only; joint1/2, late: baselines"};
    f[F_PRESET] = (FormField){.label = "preset", .kind = FORM_CHOICE, .choices = preset_choices,
                              .n_choices = 3, .choice = p,
                              .help = "model sizes: quick (seconds), demo, paper (hours on CPU)"};
    f[F_EPOCHS] = (FormField){.label = "epochs", .kind = FORM_INT, .value = c.epochs, .min = 1,
                              .max = 1000, .step = 1, .help = "maximum epochs (early stopping may end sooner)"};
    f[F_IMG] = (FormField){.label = "image size", .kind = FORM_INT, .value = c.img_size, .min = 32,
                           .max = 512, .step = 32, .help = "radiograph side in pixels"};
    f[F_LR] = (FormField){.label = "learning rate", .kind = FORM_FLOAT, .value = c.lr, .min = 1e-7,
                          .max = 1, .step = 10, .log_step = 1, .help = "Adam learning rate"};
    f[F_SEED] = (FormField){.label = "seed", .kind = FORM_INT, .value = 1, .min = 0, .max = 1e9,
                            .step = 1, .help = "a run is a function of data, configuration and seed"};
    t->form = (Form){.title = "Start a training run", .fields = t->fields, .n = F_N, .cur = t->form.cur};
}

static void *train_open(App *app)
{
    Train *t = calloc(1, sizeof *t);
    if (!t) {
        app_status(app, "Training: out of memory");
        return NULL;
    }
    t->app = app;
    t->job_id = -1;
    t->mark = 0;
    form_defaults(t, 0);
    WorkerSpec spec = {.req_size = sizeof(LoadReq), .res_size = sizeof(Loaded), .run = load_once,
                       .free_result = free_loaded, .period_ms = RELOAD_MS};
    PsErr err = {{0}};
    if (!app->opt.store_path) {
        app_status(app, "Training: no store");
    } else if (worker_start(&t->loader, app->opt.store_path, &spec, &err) == PS_OK) {
        request(t, 0, 0);
    } else {
        app_status(app, "Training: cannot start the loader thread");
    }
    return t;
}

static void train_close(void *state)
{
    Train *t = state;
    /* a run of this session stops after its iteration with its checkpoint saved (resumable) */
    if (t->job) job_free(t->job);
    worker_stop(t->loader);
    loaded_free(&t->cur);
    free(t);
}

/* ---- the job -------------------------------------------------------------------------------- */

static int job_going(const Train *t)
{
    if (!t->job) return 0;
    JobState s = t->snap.state;
    return t->snap.current >= 0 && (s == JOB_QUEUED || s == JOB_LOADING || s == JOB_RUNNING ||
                                     s == JOB_PAUSED);
}

static void start_run(Train *t, App *app, int64_t resume_run, const TrainConfig *resume_cfg)
{
    PsErr err = {{0}};
    if (job_going(t)) {
        app_status(app, "a run is already going in this session (s stops it)");
        return;
    }
    if (!t->job && job_new(&t->job, &err) != PS_OK) {
        app_status(app, "cannot start the trainer: %s", err.msg);
        return;
    }
    JobRequest r;
    memset(&r, 0, sizeof r);
    snprintf(r.store_path, sizeof r.store_path, "%s", app->opt.store_path);
    r.blas_threads = 1; /* the UI and the loader keep a core */
    if (resume_run) {
        r.cfg = *resume_cfg;
        r.run_id = resume_run;
    } else {
        const FormField *f = t->fields;
        train_config_preset(&r.cfg, (TrainPreset)f[F_PRESET].choice, (TrainMethod)f[F_METHOD].choice);
        r.cfg.epochs = (int)f[F_EPOCHS].value;
        r.cfg.img_size = (int)f[F_IMG].value;
        r.cfg.lr = (float)f[F_LR].value;
        r.cfg.seed = (uint64_t)f[F_SEED].value;
    }
    int id;
    if (job_submit(t->job, &r, &id, &err) != PS_OK) {
        app_status(app, "cannot start the run: %s", err.msg);
        return;
    }
    t->job_id = id;
    t->job_run = resume_run;
    t->job_active = 1;
    t->last_state = JOB_QUEUED;
    t->view = V_DETAIL;
    if (resume_run) request(t, resume_run, 0);
    else request(t, 0, 0);
    if (resume_run) app_status(app, "resuming run %lld", (long long)resume_run);
    else app_status(app, "starting a %s run", method_choices[t->fields[F_METHOD].choice]);
}

/* ---- ticks ---------------------------------------------------------------------------------- */

static int train_tick(void *state, App *app)
{
    Train *t = state;
    int changed = 0;
    Loaded l;
    WorkerDone d;
    if (t->loader && worker_take(t->loader, &l, &d)) {
        if (d.rc != PS_OK) snprintf(l.err, sizeof l.err, "%s", d.err); /* the store did not open */
        loaded_free(&t->cur);
        t->cur = l;
        t->loaded_once = 1;
        changed = 1;
    }
    if (changed && t->cursor >= t->cur.n_rows) t->cursor = t->cur.n_rows ? t->cur.n_rows - 1 : 0;
    if (t->job) {
        job_snapshot(t->job, &t->snap);
        if (t->snap.version != t->snap_version) {
            t->snap_version = t->snap.version;
            changed = 1;
        }
        /* the new run's id comes from its job's result: the snapshot may still describe the
         * previous run of this session until the new one reports */
        int64_t rid = 0;
        JobResult jr;
        if (t->job_active && !t->job_run && job_result(t->job, t->job_id, &jr) == PS_OK)
            rid = jr.run_id;
        if (t->job_active && rid && !t->job_run) {
            t->job_run = rid;
            if (t->view == V_DETAIL && !t->shown[0]) request(t, rid, 0);
        }
        if (t->job_active && t->job_id >= 0) {
            JobResult res;
            if (job_result(t->job, t->job_id, &res) == PS_OK && res.state >= JOB_DONE) {
                t->job_active = 0;
                app_status(app, "run %lld %s%s%s", (long long)res.run_id, job_state_name(res.state),
                           res.message[0] ? ": " : "", res.message);
                request(t, t->shown[0], t->shown[1]);
                changed = 1;
            }
        }
    }
    return changed;
}

static int train_busy(void *state)
{
    const Train *t = state;
    if (!t->loader) return 0;
    /* waiting for the first list, or for a run just asked for */
    if (!t->loaded_once) return 1;
    for (int k = 0; k < 2; k++)
        if (t->shown[k] && !(t->cur.have[k] && t->cur.view[k].info.run_id == t->shown[k]) &&
            !t->cur.err[0])
            return 1;
    return 0;
}

/* ---- drawing helpers ------------------------------------------------------------------------ */

/* v with decimals (0..3), or "-" when it is not a number; g: shortest form. */
static void fmt_dec(char *b, size_t n, double v, int decimals)
{
    if (!isfinite(v)) snprintf(b, n, "-");
    else if (decimals < 0) snprintf(b, n, "%g", v);
    else snprintf(b, n, "%.*f", decimals, v);
}

static const RunView *view_of(const Train *t, int k)
{
    if (!t->shown[k] || !t->cur.have[k] || t->cur.view[k].info.run_id != t->shown[k]) return NULL;
    return &t->cur.view[k];
}

/* Replaces the chart's x-axis labels (the widget labels hours) with the first and last
 * iteration or epoch. */
static void relabel_x(ChartGrid *g, double x0, double x1, const char *unit, int utf8)
{
    int xr = g->rows - 1, c0 = -1;
    uint32_t corner = utf8 ? 0x2514u : '+', line = utf8 ? 0x2500u : '-';
    for (int c = 0; c < g->cols; c++) {
        ChartCell *a = &g->cells[(size_t)xr * g->cols + c];
        if (c0 < 0) {
            if (a->ch == corner) c0 = c + 1;
            continue;
        }
        *a = (ChartCell){line, CHART_AXIS};
    }
    if (c0 < 0) c0 = 0;
    char lo[32], hi[32];
    snprintf(lo, sizeof lo, "%s%.0f", unit, x0);
    snprintf(hi, sizeof hi, "%.0f", x1);
    int lw = (int)strlen(lo), hw = (int)strlen(hi);
    if (g->cols - c0 > lw + hw + 2) {
        chart_put(g, xr, c0, lw, lo, CHART_AXIS);
        chart_put(g, xr, g->cols - hw, hw, hi, CHART_AXIS);
    }
}

/* A line chart of y over x (x ascending) with, when sm is given, its smoothed twin drawn over it
 * in the accent role; title replaces the widget's title row. */
static void line_chart(App *app, int y, int x, int h, int w, const float *xs, const float *ys,
                       const float *sm, size_t n, const char *title, const char *right,
                       const char *xunit, double ylo, double yhi)
{
    if (h < 4 || w < 16) return;
    ChartGrid g = {0}, g2 = {0};
    PsErr err;
    if (chart_grid_alloc(&g, h, w, &err)) return;
    ChartSpec s;
    memset(&s, 0, sizeof s);
    s.title = "";
    s.x = xs;
    s.y = ys;
    s.n = n;
    s.x0 = n ? xs[0] : 0;
    s.x1 = n && xs[n - 1] > s.x0 ? xs[n - 1] : s.x0 + 1;
    s.y0 = ylo;
    s.y1 = yhi > ylo ? yhi : ylo + 1;
    s.decimals = chart_decimals(s.y0, s.y1);
    chart_render(&g, &s, app->utf8);
    if (sm && chart_grid_alloc(&g2, h, w, &err) == PS_OK) {
        s.y = sm;
        chart_render(&g2, &s, app->utf8);
        for (int r = 1; r < h - 1; r++)
            for (int c = 0; c < w; c++) {
                ChartCell *a = &g.cells[(size_t)r * w + c], *b = &g2.cells[(size_t)r * w + c];
                if (b->role != CHART_LINE && b->role != CHART_OUT) {
                    if (a->role == CHART_LINE) a->role = CHART_AXIS; /* raw: dim */
                    continue;
                }
                if (app->utf8 && a->ch >= 0x2800u && a->ch <= 0x28ffu && b->ch >= 0x2800u &&
                    b->ch <= 0x28ffu)
                    a->ch = 0x2800u | ((a->ch | b->ch) & 0xffu);
                else a->ch = b->ch;
                a->role = CHART_VALUE;
            }
        chart_grid_free(&g2);
    }
    for (int c = 0; c < w; c++) g.cells[c] = (ChartCell){' ', CHART_BLANK};
    int rw = right ? (int)strlen(right) : 0;
    int tw = chart_put(&g, 0, 0, w - rw - 1, title, CHART_TITLE);
    if (right && tw + rw + 1 <= w) chart_put(&g, 0, w - rw, rw, right, CHART_VALUE);
    relabel_x(&g, s.x0, s.x1, xunit, app->utf8);
    chart_grid_draw(stdscr, y, x, &g, &app->theme);
    chart_grid_free(&g);
}

static const char *const loss_names[3] = {"CXR loss", "EHR loss", "unified loss"};
static const char *const loss_brief[3] = {"CXR", "EHR", "unified"};

/* The three losses of Algorithm 1, side by side (or fewer when the method has fewer). */
static void draw_losses(App *app, const RunView *v, int y, int x, int h, int w)
{
    int have[3] = {0, 0, 0}, nh = 0;
    for (size_t i = 0; i < v->n_steps; i++) {
        if (!isnan(v->steps[i].loss_cxr)) have[0] = 1;
        if (!isnan(v->steps[i].loss_ehr)) have[1] = 1;
        if (!isnan(v->steps[i].loss_joint)) have[2] = 1;
    }
    for (int k = 0; k < 3; k++) nh += have[k];
    if (!nh) {
        app_put(app, y, x, w, THEME_DIM, 0, "No losses recorded yet.");
        return;
    }
    size_t n = v->n_steps;
    float *xs = malloc((n + 1) * sizeof *xs), *ys = malloc((n + 1) * sizeof *ys),
          *sm = malloc((n + 1) * sizeof *sm);
    if (!xs || !ys || !sm) goto done;
    int cw = (w - (nh - 1)) / nh, cx = x;
    for (int k = 0; k < 3; k++) {
        if (!have[k]) continue;
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            const RunStep *st = &v->steps[i];
            double l = k == 0 ? st->loss_cxr : k == 1 ? st->loss_ehr : st->loss_joint;
            xs[i] = (float)st->step;
            ys[i] = (float)l;
            if (isfinite(l)) {
                if (l < lo) lo = l;
                if (l > hi) hi = l;
            }
        }
        if (!isfinite(lo)) lo = 0, hi = 1;
        if (hi - lo < 1e-3) hi = lo + 1e-3;
        double alpha = n ? 10.0 / (double)n : 0.5; /* short runs: follow the data more closely */
        screen_train_smooth(sm, ys, n, alpha < 0.05 ? 0.05 : alpha > 0.5 ? 0.5 : alpha);
        char right[48], title[64];
        long last = -1;
        for (size_t i = n; i-- > 0;)
            if (!isnan(sm[i])) {
                last = (long)i;
                break;
            }
        if (last >= 0) snprintf(right, sizeof right, "%.3f", sm[last]);
        else snprintf(right, sizeof right, "-");
        snprintf(title, sizeof title, "%s", cw >= 28 ? loss_names[k] : loss_brief[k]);
        line_chart(app, y, cx, h, cw, xs, ys, sm, n, title, right, "it ", lo, hi);
        cx += cw + 1;
    }
done:
    free(xs);
    free(ys);
    free(sm);
}

static ThemeRole auroc_role(double a)
{
    return !isfinite(a) ? THEME_DIM : a >= 0.75 ? THEME_GOOD : a >= 0.6 ? THEME_WARN : THEME_BAD;
}

/* Validation per epoch: overall (the selection score) and per group, newest at the bottom. */
static void draw_epochs(App *app, const RunView *v, int y, int x, int h, int w)
{
    app_put(app, y, x, w, THEME_HEADER, 0, "Ep  macro  acute  mixed chronic");
    if (v->n_epochs == 0) {
        app_put(app, y + 1, x, w, THEME_DIM, 0, "no validation yet");
        return;
    }
    int rows = h - 1, first = v->n_epochs > rows ? v->n_epochs - rows : 0;
    for (int i = first; i < v->n_epochs; i++) {
        const RunViewEpoch *e = &v->epochs[i];
        int yy = y + 1 + (i - first);
        char b[16];
        snprintf(b, sizeof b, "%2d%s", e->epoch, e->best ? (app->utf8 ? "\xe2\x98\x85" : "*") : " ");
        app_put(app, yy, x, 3, e->best ? THEME_ACCENT : THEME_NORMAL, 0, b);
        fmt_dec(b, sizeof b, e->auroc, 3);
        app_put(app, yy, x + 4, 6, auroc_role(e->auroc), 0, b);
        for (int g = 0; g < 3; g++) {
            fmt_dec(b, sizeof b, e->group[g], 3);
            app_put(app, yy, x + 11 + 7 * g, 6, auroc_role(e->group[g]), 0, b);
        }
    }
}

/* Per-phenotype validation AUROC across epochs: one column per phenotype, one row per epoch,
 * the tenths digit (or two digits when there is room) coloured by value. */
static void draw_strip(App *app, const RunView *v, int y, int x, int h, int w)
{
    int cw = (w - 4) / CATALOG_N_PHENOTYPES;
    if (cw > 3) cw = 3;
    if (cw < 1) return;
    app_put(app, y, x, w, THEME_HEADER, 0,
            cw >= 3 ? "Per-phenotype val AUROC (x100), phenotypes 1-25"
                    : "Per-phenotype AUROC (tenths)");
    char b[16]; /* room for any int: gcc -O1 cannot see k <= 25 */
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) {
        if (cw >= 3) snprintf(b, sizeof b, "%2d", k + 1);
        else snprintf(b, sizeof b, "%d", (k + 1) % 10);
        app_put(app, y + 1, x + 4 + k * cw, cw, k % 5 == 4 ? THEME_NORMAL : THEME_DIM, 0, b);
    }
    int rows = h - 2, first = v->n_epochs > rows ? v->n_epochs - rows : 0;
    for (int i = first; i < v->n_epochs; i++) {
        const RunViewEpoch *e = &v->epochs[i];
        int yy = y + 2 + (i - first);
        snprintf(b, sizeof b, "%2d", e->epoch);
        app_put(app, yy, x, 3, THEME_DIM, 0, b);
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) {
            double a = e->per[k];
            if (!isfinite(a)) snprintf(b, sizeof b, "%s", cw >= 3 ? " -" : "-");
            else if (cw >= 3) snprintf(b, sizeof b, "%2d", a >= 0.995 ? 99 : (int)lround(a * 100));
            else snprintf(b, sizeof b, "%d", a >= 0.95 ? 9 : (int)lround(a * 10));
            app_put(app, yy, x + 4 + k * cw, cw, auroc_role(a), 0, b);
        }
    }
}

static int is_live(const char *status)
{
    return !strcmp(status, "running") || !strcmp(status, "queued") || !strcmp(status, "paused");
}

/* The header of a run: identity and state, progress bar, speed, ETA, best epoch, patience. */
static int draw_run_header(Train *t, App *app, const RunView *v, int64_t run, int y, int x, int w)
{
    const TrainProgress *jp = NULL;
    if (t->job && run && t->snap.progress.run_id == run) jp = &t->snap.progress;
    char method[40] = "", status[40] = "", line[256], a[32], b[32], c[32];
    if (v) {
        sanitize_for_locale(method, sizeof method, v->info.method, app->utf8);
        sanitize_for_locale(status, sizeof status, v->info.status, app->utf8);
    }
    if (jp) {
        snprintf(method, sizeof method, "%s", jp->method);
        snprintf(status, sizeof status, "%s", jp->state);
    }
    if (!run && t->job) snprintf(status, sizeof status, "%s", job_state_name(t->snap.state));
    const RunProgress *rp = v && v->has_progress ? &v->progress : NULL;
    int epoch = jp ? jp->epoch : rp ? rp->epoch : v ? v->n_epochs : 0;
    int epochs = jp ? jp->epochs : rp ? rp->epochs : 0;
    long long it = jp ? jp->iteration : rp ? rp->iteration : 0;
    long long its = jp ? jp->iterations : rp ? rp->iterations : 0;
    double sps = jp ? jp->samples_per_s : rp ? rp->samples_per_s : NAN;
    double eta = jp ? jp->eta_s : rp ? rp->eta_s : NAN;
    const char *phase = jp ? jp->phase : rp ? rp->phase : "";
    char ph[40];
    sanitize_for_locale(ph, sizeof ph, phase, app->utf8);
    const char *who = jp ? "  (this session)" : "";
    char pid[48] = "";
    if (!jp && rp && v && is_live(v->info.status)) {
        long age = (long)time(NULL) - (long)rp->time;
        if (age > 60) snprintf(pid, sizeof pid, "  (pid %lld, silent %lds)", (long long)rp->pid, age);
        else snprintf(pid, sizeof pid, "  (pid %lld)", (long long)rp->pid);
    }
    if (run) snprintf(line, sizeof line, "Run %lld  %s  %s%s%s", (long long)run, method, status, who, pid);
    else snprintf(line, sizeof line, "New run  %s  %s", method_choices[t->fields[F_METHOD].choice], status);
    app_put(app, y, x, w, THEME_ACCENT, 0, line);
    if (!run && t->job && t->snap.state == JOB_LOADING) {
        snprintf(line, sizeof line, "loading %s %lld/%lld", t->snap.load_phase,
                 (long long)t->snap.load_done, (long long)t->snap.load_total);
        app_put(app, y + 1, x, w, THEME_DIM, 0, line);
        return 3;
    }
    double frac = its > 0 ? (double)it / (double)its : (epochs > 0 ? (double)epoch / epochs : NAN);
    if (v && !strcmp(v->info.status, "done")) frac = 1;
    int bw = w / 3 > 10 ? w / 3 : 10;
    if (bw > 40) bw = 40;
    bars_draw(stdscr, y + 1, x, bw, isfinite(frac) ? frac : 0, theme_attr(&app->theme, THEME_ACCENT),
              app->utf8);
    fmt_dec(a, sizeof a, sps, 1);
    /* a finished or stopped run has no time left; its last speed is still worth seeing */
    screen_train_duration(b, sizeof b, jp || (v && is_live(v->info.status)) ? eta : NAN);
    /* the phase only when it says more than the status (pretrain, validate) */
    int show_ph = ph[0] && strcmp(ph, status) && strcmp(ph, "train") && strcmp(ph, "done");
    snprintf(line, sizeof line, " %3.0f%%  epoch %d/%d  it %lld/%lld%s%s  %s samples/s  ETA %s",
             isfinite(frac) ? frac * 100 : 0.0, epoch, epochs, it, its, show_ph ? "  " : "",
             show_ph ? ph : "", a, b);
    app_put(app, y + 1, x + bw, w - bw, THEME_NORMAL, 0, line);
    double patience = v ? runview_json_num(v->config, "patience") : NAN;
    int best_ep = v ? v->best_epoch : 0;
    double best = v ? v->best_auroc : NAN;
    if (jp && jp->best_epoch > 0) {
        best_ep = jp->best_epoch;
        best = jp->best_val_auroc;
    }
    fmt_dec(a, sizeof a, best, 3);
    int since = best_ep ? epoch - best_ep : epoch;
    if (isfinite(patience) && patience > 0) snprintf(b, sizeof b, "%d/%.0f", since < 0 ? 0 : since, patience);
    else snprintf(b, sizeof b, "off");
    double lr = jp ? jp->lr : v ? runview_json_num(v->config, "lr") : NAN;
    if (v && v->n_epochs && !jp) lr = v->epochs[v->n_epochs - 1].lr;
    fmt_dec(c, sizeof c, lr, -1);
    const char *sel = v && v->n_epochs ? (strcmp(v->epochs[0].selection, "val_paired") ? "all" : "paired") : "";
    if (best_ep) snprintf(line, sizeof line, "best epoch %d  val macro AUROC %s%s%s%s  patience %s  lr %s",
                          best_ep, a, sel[0] ? " (" : "", sel, sel[0] ? ")" : "", b, c);
    else snprintf(line, sizeof line, "no best epoch yet  patience %s  lr %s", b, c);
    app_put(app, y + 2, x, w, THEME_NORMAL, 0, line);
    if (v && v->info.message[0] && !is_live(v->info.status)) {
        char m[256];
        sanitize_for_locale(m, sizeof m, v->info.message, app->utf8);
        app_put(app, y + 3, x, w, !strcmp(v->info.status, "failed") ? THEME_BAD : THEME_DIM, 0, m);
        return 4;
    }
    return 3;
}

static void draw_detail(Train *t, App *app, UiRect r)
{
    int64_t run = t->shown[0];
    if (!run && t->job_run) run = t->job_run;
    const RunView *v = view_of(t, 0);
    int used = draw_run_header(t, app, v, run, r.y, r.x, r.w);
    if (!v) {
        app_put(app, r.y + used + 1, r.x + 2, r.w - 2, THEME_DIM, 0,
                t->cur.err[0] ? t->cur.err : run ? "Reading the run from the store..." : "Waiting for the run to start...");
        return;
    }
    int y = r.y + used, h = r.h - used;
    int lower = h >= 30 ? 12 : h >= 16 ? h / 2 : h - 4;
    if (lower > v->n_epochs + 3 && h - (v->n_epochs + 3) >= 8) lower = v->n_epochs + 3 < 5 ? 5 : v->n_epochs + 3;
    int charts = h - lower;
    if (charts > 16) { /* taller charts say nothing more: the epochs get the room */
        charts = 16;
        lower = h - charts;
    }
    if (charts >= 4) draw_losses(app, v, y, r.x, charts, r.w);
    else lower = h, charts = 0;
    int ly = y + charts;
    int ew = 33, sw = 4 + 3 * CATALOG_N_PHENOTYPES;
    if (r.w >= ew + 30) {
        draw_epochs(app, v, ly, r.x, lower, ew);
        if (r.w - ew - 2 < sw + 32 || lower < 6 || v->n_epochs < 1) {
            draw_strip(app, v, ly, r.x + ew + 2, lower, r.w - ew - 2);
        } else {
            /* wide: the strip, and the selection score over epochs as a chart */
            draw_strip(app, v, ly, r.x + ew + 2, lower, sw);
            int cx = r.x + ew + 2 + sw + 2, cw = r.x + r.w - cx;
            float ex[256], ey[256];
            int n = v->n_epochs < 256 ? v->n_epochs : 256;
            double lo = 1, hi = 0;
            for (int i = 0; i < n; i++) {
                ex[i] = (float)v->epochs[v->n_epochs - n + i].epoch;
                ey[i] = (float)v->epochs[v->n_epochs - n + i].auroc;
                if (isfinite(ey[i])) {
                    if (ey[i] < lo) lo = ey[i];
                    if (ey[i] > hi) hi = ey[i];
                }
            }
            if (hi < lo) lo = 0.4, hi = 0.8;
            lo = floor(lo * 20 - 1) / 20;
            hi = ceil(hi * 20 + 1) / 20;
            char right[16];
            snprintf(right, sizeof right, "%.3f", n ? ey[n - 1] : NAN);
            line_chart(app, ly, cx, lower, cw, ex, ey, NULL, (size_t)n, "val macro AUROC", right, "ep ",
                       lo < 0 ? 0 : lo, hi > 1 ? 1 : hi);
        }
    } else {
        draw_epochs(app, v, ly, r.x, lower, r.w);
    }
}

/* ---- the list -------------------------------------------------------------------------------- */

static void draw_list(Train *t, App *app, UiRect r)
{
    const Loaded *l = &t->cur;
    char line[640];
    if (!t->loaded_once) {
        app_put(app, r.y + 1, r.x + 2, r.w - 2, THEME_DIM, 0, "Reading runs from the store...");
        return;
    }
    if (l->n_rows == 0) {
        app_put(app, r.y + 1, r.x + 2, r.w - 2, THEME_NORMAL, 0,
                "No training runs in this store yet.");
        app_put(app, r.y + 2, r.x + 2, r.w - 2, THEME_DIM, 0,
                "n: start one here; or run 'phenoscope train' in another terminal and watch it here.");
        return;
    }
    int wide = r.w >= 100;
    snprintf(line, sizeof line, wide ? "  %-5s %-8s %-8s %6s %5s %-6s %-16s %s"
                                     : "  %-5s %-8s %-8s %6s %5s %-6s %s",
             "Run", "Method", "Status", "Epochs", "Best", "AUROC", wide ? "Started" : "Message",
             wide ? "Message" : "");
    app_put(app, r.y, r.x, r.w, THEME_HEADER, 0, line);
    int rows = r.h - 1;
    if (t->cursor < t->top) t->top = t->cursor;
    if (t->cursor >= t->top + rows) t->top = t->cursor - rows + 1;
    for (int i = t->top; i < l->n_rows && i - t->top < rows; i++) {
        const RunRow *rr = &l->rows[i];
        char m[32], s[24], msg[256], a[16], when[32] = "";
        sanitize_for_locale(m, sizeof m, rr->info.method, app->utf8);
        sanitize_for_locale(s, sizeof s, rr->info.status, app->utf8);
        sanitize_for_locale(msg, sizeof msg, rr->info.message, app->utf8);
        fmt_dec(a, sizeof a, rr->best_auroc, 3);
        if (t->job && t->snap.progress.run_id == rr->info.run_id && job_going(t))
            snprintf(s, sizeof s, "%s", t->snap.progress.state);
        time_t ct = (time_t)rr->info.created;
        struct tm tm;
        if (localtime_r(&ct, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        char best[16];
        if (rr->best_epoch) snprintf(best, sizeof best, "%d", rr->best_epoch);
        else snprintf(best, sizeof best, "-");
        const char *mk = rr->info.run_id == t->mark ? (app->utf8 ? "\xe2\x97\x8f" : "*") : " ";
        if (wide)
            snprintf(line, sizeof line, "%s %-5lld %-8s %-8s %6d %5s %-6s %-16s %s", mk,
                     (long long)rr->info.run_id, m, s, rr->n_epochs, best, a, when, msg);
        else
            snprintf(line, sizeof line, "%s %-5lld %-8s %-8s %6d %5s %-6s %s", mk,
                     (long long)rr->info.run_id, m, s, rr->n_epochs, best, a, msg);
        ThemeRole role = i == t->cursor ? THEME_SELECTED
                         : !strcmp(rr->info.status, "failed") ? THEME_BAD
                         : is_live(rr->info.status)           ? THEME_ACCENT
                                                              : THEME_NORMAL;
        if (i == t->cursor) {
            wattrset(stdscr, theme_attr(&app->theme, THEME_SELECTED));
            mvhline(r.y + 1 + i - t->top, r.x, ' ', r.w);
        }
        app_put(app, r.y + 1 + i - t->top, r.x, r.w, role, 0, line);
    }
}

/* ---- comparison ------------------------------------------------------------------------------ */

static void draw_compare(Train *t, App *app, UiRect r)
{
    const RunView *a = view_of(t, 0), *b = view_of(t, 1);
    if (!a || !b) {
        app_put(app, r.y + 1, r.x + 2, r.w - 2, THEME_DIM, 0, t->cur.err[0] ? t->cur.err : "Reading both runs...");
        return;
    }
    const RunView *v[2] = {a, b};
    int lw = 22, cw = (r.w - lw) / 3;
    if (cw > 24) cw = 24;
    char h[2][64];
    for (int k = 0; k < 2; k++) {
        char m[32];
        sanitize_for_locale(m, sizeof m, v[k]->info.method, app->utf8);
        snprintf(h[k], sizeof h[k], "Run %lld %s", (long long)v[k]->info.run_id, m);
    }
    app_put(app, r.y, r.x, lw, THEME_HEADER, 0, "Compare");
    app_put(app, r.y, r.x + lw, cw, THEME_HEADER, 0, h[0]);
    app_put(app, r.y, r.x + lw + cw, cw, THEME_HEADER, 0, h[1]);
    app_put(app, r.y, r.x + lw + 2 * cw, r.w - lw - 2 * cw, THEME_HEADER, 0, "B - A");
    int y = r.y + 1;
    /* configuration rows, then results */
    static const char *const cfg_keys[] = {"seed", "epochs", "batch", "lr", "img_size", "cnn_width",
                                           "lstm_hidden", "patience"};
    char s[2][64];
    for (size_t i = 0; i < sizeof cfg_keys / sizeof cfg_keys[0] && y < r.y + r.h; i++, y++) {
        for (int k = 0; k < 2; k++) fmt_dec(s[k], sizeof s[k], runview_json_num(v[k]->config, cfg_keys[i]), -1);
        app_put(app, y, r.x, lw, THEME_DIM, 0, cfg_keys[i]);
        app_put(app, y, r.x + lw, cw, THEME_NORMAL, 0, s[0]);
        app_put(app, y, r.x + lw + cw, cw, strcmp(s[0], s[1]) ? THEME_ACCENT : THEME_NORMAL, 0,
                s[1]);
    }
    typedef struct {
        const char *name;
        double val[2];
        int is_auroc;
    } Res;
    Res res[8];
    int nr = 0;
    res[nr].name = "status";
    nr++;
    res[nr] = (Res){"epochs done", {a->n_epochs, b->n_epochs}, 0};
    nr++;
    res[nr] = (Res){"best epoch", {a->best_epoch, b->best_epoch}, 0};
    nr++;
    res[nr] = (Res){"best val macro AUROC", {a->best_auroc, b->best_auroc}, 1};
    nr++;
    static const char *const gname[3] = {"  acute", "  mixed", "  chronic"};
    for (int g = 0; g < 3; g++, nr++) {
        res[nr].name = gname[g];
        res[nr].is_auroc = 1;
        for (int k = 0; k < 2; k++) {
            res[nr].val[k] = NAN;
            for (int i = 0; i < v[k]->n_epochs; i++)
                if (v[k]->epochs[i].epoch == v[k]->best_epoch) res[nr].val[k] = v[k]->epochs[i].group[g];
        }
    }
    for (int i = 0; i < nr && y < r.y + r.h; i++, y++) {
        app_put(app, y, r.x, lw, THEME_DIM, 0, res[i].name);
        if (i == 0) {
            for (int k = 0; k < 2; k++) {
                sanitize_for_locale(s[k], sizeof s[k], v[k]->info.status, app->utf8);
                app_put(app, y, r.x + lw + k * cw, cw, THEME_NORMAL, 0, s[k]);
            }
            continue;
        }
        for (int k = 0; k < 2; k++) {
            fmt_dec(s[k], sizeof s[k], res[i].val[k], res[i].is_auroc ? 3 : 0);
            app_put(app, y, r.x + lw + k * cw, cw, res[i].is_auroc ? auroc_role(res[i].val[k]) : THEME_NORMAL, 0, s[k]);
        }
        double d = res[i].val[1] - res[i].val[0];
        if (res[i].is_auroc && isfinite(d)) {
            char db[16];
            snprintf(db, sizeof db, "%+.3f ", d);
            app_put(app, y, r.x + lw + 2 * cw, 7, d > 0 ? THEME_GOOD : d < 0 ? THEME_BAD : THEME_NORMAL, 0, db);
            int bw = r.w - lw - 2 * cw - 8;
            if (bw > 21) bw = 21;
            if (bw >= 5) bars_draw_diff(stdscr, y, r.x + lw + 2 * cw + 8, bw, d * 5,
                                        theme_attr(&app->theme, d >= 0 ? THEME_GOOD : THEME_BAD), app->utf8);
        }
    }
    /* per-epoch selection score of both runs, side by side, as far as there is room */
    if (y + 2 < r.y + r.h) {
        y++;
        app_put(app, y++, r.x, r.w, THEME_HEADER, 0, "Epoch  val macro AUROC  A       B");
        int ne = a->n_epochs > b->n_epochs ? a->n_epochs : b->n_epochs;
        for (int i = 0; i < ne && y < r.y + r.h; i++, y++) {
            char e[16];
            snprintf(e, sizeof e, "%5d", i + 1);
            app_put(app, y, r.x, 6, THEME_DIM, 0, e);
            for (int k = 0; k < 2; k++) {
                double x = i < v[k]->n_epochs ? v[k]->epochs[i].auroc : NAN;
                fmt_dec(s[k], sizeof s[k], x, 3);
                app_put(app, y, r.x + 23 + 8 * k, 7, auroc_role(x), 0, s[k]);
            }
        }
    }
}

static void draw_quit(Train *t, App *app, UiRect r)
{
    (void)t;
    int w = r.w < 70 ? r.w - 2 : 68, x = r.x + (r.w - w) / 2, y = r.y + r.h / 2 - 3;
    wattrset(stdscr, theme_attr(&app->theme, THEME_BORDER));
    for (int i = 0; i < 6; i++) mvhline(y + i, x, ' ', w);
    char line[160];
    snprintf(line, sizeof line, " Run %lld is still training in this session. ", (long long)t->job_run);
    app_put(app, y, x, w, THEME_HEADER, 0, line);
    app_put(app, y + 2, x + 2, w - 4, THEME_NORMAL, 0, "y  stop it (its checkpoint is saved; resume later) and quit");
    app_put(app, y + 3, x + 2, w - 4, THEME_NORMAL, 0, "n  keep training (Esc too)");
}

static void train_draw(void *state, App *app, UiRect r)
{
    Train *t = state;
    switch (t->view) {
    case V_LIST: draw_list(t, app, r); break;
    case V_DETAIL: draw_detail(t, app, r); break;
    case V_COMPARE: draw_compare(t, app, r); break;
    case V_FORM: {
        if (t->prev_view == V_DETAIL) draw_detail(t, app, r);
        else draw_list(t, app, r);
        int w = r.w < 80 ? r.w : 80, h = F_N + 4;
        form_draw(&t->form, stdscr, r.y + (r.h - h) / 2, r.x + (r.w - w) / 2, h, w, &app->theme, app->utf8);
        break;
    }
    case V_QUIT:
        draw_detail(t, app, r);
        draw_quit(t, app, r);
        break;
    }
}

/* ---- keys ------------------------------------------------------------------------------------ */

static const RunRow *cursor_row(const Train *t)
{
    return t->cursor < t->cur.n_rows ? &t->cur.rows[t->cursor] : NULL;
}

static int64_t detail_run(const Train *t)
{
    return t->shown[0] ? t->shown[0] : t->job_run;
}

static int own_run(const Train *t, int64_t run)
{
    return t->job && run && t->snap.progress.run_id == run && job_going(t);
}

static void control(Train *t, App *app, int key)
{
    int64_t run = detail_run(t);
    if (t->view == V_LIST) {
        const RunRow *rr = cursor_row(t);
        run = rr ? rr->info.run_id : 0;
    }
    if (!own_run(t, run) && !(key == 'r' && run)) {
        const RunView *v = view_of(t, 0);
        if (v && is_live(v->info.status) && v->has_progress)
            app_status(app, "run %lld belongs to process %lld: pause or stop it there", (long long)run,
                       (long long)v->progress.pid);
        else app_status(app, "no run of this session is going");
        return;
    }
    if (key == 'p' || key == ' ') {
        if (t->snap.state == JOB_PAUSED) {
            job_resume(t->job);
            app_status(app, "run %lld resumed", (long long)run);
        } else {
            job_pause(t->job);
            app_status(app, "run %lld pausing after this iteration (p resumes)", (long long)run);
        }
    } else if (key == 's') {
        job_stop(t->job);
        app_status(app, "run %lld stopping after this iteration; its checkpoint is saved", (long long)run);
    } else if (key == 'r') {
        if (own_run(t, run)) {
            if (t->snap.state == JOB_PAUSED) job_resume(t->job);
            return;
        }
        /* continue a stopped run of the store in this session */
        const RunRow *rr = NULL;
        for (int i = 0; i < t->cur.n_rows; i++)
            if (t->cur.rows[i].info.run_id == run) rr = &t->cur.rows[i];
        if (!rr || strcmp(rr->info.status, "stopped")) {
            app_status(app, "only a stopped run can be resumed");
            return;
        }
        TrainConfig cfg;
        PsErr err = {{0}};
        if (!app->opt.store || train_run_config(app->opt.store, run, &cfg, &err)) {
            app_status(app, "run %lld: %s", (long long)run, err.msg[0] ? err.msg : "no store");
            return;
        }
        start_run(t, app, run, &cfg);
    }
}

static int train_key(void *state, App *app, int key)
{
    Train *t = state;
    if (t->view == V_QUIT) {
        if (key == 'y' || key == 'Y') {
            app->quit = 1; /* close() stops the run cleanly */
        } else if (key == 'n' || key == 'N' || key == 27 || key == 'q') {
            t->view = V_DETAIL;
        }
        return SCREEN_KEY_USED;
    }
    if (t->view == V_FORM) {
        int r = form_key(&t->form, key);
        if (r == FORM_CANCEL) t->view = t->prev_view;
        else if (r == FORM_SUBMIT) start_run(t, app, 0, NULL);
        else if (r == FORM_CHANGED && (t->form.cur == F_METHOD || t->form.cur == F_PRESET) &&
                 (key == KEY_LEFT || key == KEY_RIGHT || key == 'h' || key == 'l'))
            form_defaults(t, 1); /* a new method or preset brings its defaults */
        return SCREEN_KEY_USED;
    }
    switch (key) {
    case 'n':
        t->prev_view = t->view;
        t->view = V_FORM;
        t->form.err[0] = 0;
        return SCREEN_KEY_USED;
    case 'p':
    case ' ':
        if (t->view == V_LIST && key == ' ') break;
        control(t, app, key);
        return SCREEN_KEY_USED;
    case 's':
    case 'r':
        control(t, app, key);
        return SCREEN_KEY_USED;
    default: break;
    }
    if (t->view == V_LIST) {
        int n = t->cur.n_rows;
        switch (key) {
        case KEY_UP:
        case 'k':
            if (t->cursor > 0) t->cursor--;
            return SCREEN_KEY_USED;
        case KEY_DOWN:
        case 'j':
            if (t->cursor + 1 < n) t->cursor++;
            return SCREEN_KEY_USED;
        case KEY_HOME:
        case 'g': t->cursor = 0; return SCREEN_KEY_USED;
        case KEY_END:
        case 'G': t->cursor = n ? n - 1 : 0; return SCREEN_KEY_USED;
        case '\n':
        case '\r':
        case KEY_ENTER:
            if (cursor_row(t)) {
                request(t, cursor_row(t)->info.run_id, 0);
                t->view = V_DETAIL;
            }
            return SCREEN_KEY_USED;
        case ' ':
        case 'm':
            if (cursor_row(t)) {
                int64_t id = cursor_row(t)->info.run_id;
                t->mark = t->mark == id ? 0 : id;
                if (t->mark) app_status(app, "run %lld marked; c compares it with the run under the cursor", (long long)id);
            }
            return SCREEN_KEY_USED;
        case 'c': {
            const RunRow *rr = cursor_row(t);
            if (!rr) return SCREEN_KEY_USED;
            int64_t other = t->mark;
            if (!other || other == rr->info.run_id) {
                other = t->cursor + 1 < n ? t->cur.rows[t->cursor + 1].info.run_id
                        : t->cursor > 0   ? t->cur.rows[t->cursor - 1].info.run_id
                                          : 0;
            }
            if (!other) {
                app_status(app, "comparing needs two runs");
                return SCREEN_KEY_USED;
            }
            /* older run on the left */
            int64_t a = other < rr->info.run_id ? other : rr->info.run_id;
            int64_t b = other < rr->info.run_id ? rr->info.run_id : other;
            request(t, a, b);
            t->view = V_COMPARE;
            return SCREEN_KEY_USED;
        }
        default: return SCREEN_KEY_IGNORED;
        }
    }
    if (t->view == V_DETAIL || t->view == V_COMPARE) {
        if (key == 27 || key == 'q' || key == 'l' || key == KEY_BACKSPACE) {
            t->view = V_LIST;
            request(t, 0, 0);
            return SCREEN_KEY_USED;
        }
    }
    return SCREEN_KEY_IGNORED;
}

static int train_quit_guard(void *state, App *app)
{
    Train *t = state;
    (void)app;
    if (!job_going(t)) return 0;
    t->view = V_QUIT;
    return 1;
}

static const char *train_hints(void *state, App *app)
{
    Train *t = state;
    (void)app;
    switch (t->view) {
    case V_LIST: return "Up/Down run  Enter open  n new run  m mark  c compare  p pause  s stop  r resume  ? help";
    case V_DETAIL:
        snprintf(t->hint, sizeof t->hint, "%s  n new run  Esc runs  ? help",
                 t->snap.state == JOB_PAUSED && own_run(t, detail_run(t)) ? "p resume  s stop"
                                                                          : "p pause  s stop  r resume");
        return t->hint;
    case V_COMPARE: return "Esc back to the runs  ? help";
    case V_FORM: return "Tab/Up/Down field  Left/Right change  Enter start  Esc cancel";
    case V_QUIT: return "y stop the run and quit  n keep training";
    }
    return "";
}

const UiScreen screen_train = {
    .name = "Training",
    .open = train_open,
    .close = train_close,
    .draw = train_draw,
    .on_key = train_key,
    .on_tick = train_tick,
    .busy = train_busy,
    .hints = train_hints,
    .quit_guard = train_quit_guard,
};
