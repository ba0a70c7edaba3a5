/* screen_predict.c — screen 5, Predictions (see screen_predict.h).
 *
 * A worker thread with its own Store handle lists the finished runs and predicts the selected
 * stay with the chosen run (loading the checkpoint and decoding the radiograph take a moment);
 * on_tick picks the result up. Withholding the X-ray needs no new prediction: the EHR head's
 * probabilities are always computed, and the paper's inference rule uses them whenever no
 * radiograph is there, so the screen only changes which column is "used".
 *
 * Thread safety: open / close / draw / on_key / on_tick on the UI thread; the worker touches only
 * its Store and the fields under `mu`.
 */
#include "ui/screen_predict.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/blas.h"
#include "engine/predict.h"
#include "store/runs.h"
#include "ui/app.h"
#include "ui/bars.h"
#include "ui/screen_stay.h"
#include "ui/table.h"
#include "store/sanitize.h"

#define MAX_RUNS 200

typedef struct {
    int64_t run_id;
    char method[32];
} RunPick;

typedef struct {
    App *app;
    pthread_t th;
    int th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    int stop;
    int64_t req_run, req_stay;
    unsigned req_gen, res_gen;
    int res_ok, res_listed;
    PredictResult res;
    char res_err[PS_ERRMSG_MAX];
    RunPick res_runs[MAX_RUNS];
    int res_n_runs;
    int64_t res_first_pair;
    /* UI copies */
    unsigned seen_gen, asked_gen;
    int listed, have, waiting;
    PredictResult r;
    char err[PS_ERRMSG_MAX];
    RunPick runs[MAX_RUNS];
    int n_runs, run_ix;
    int64_t stay, first_pair;
    int withhold, top;
    PredictSort sort;
    char hint[200];
} Pred;

void screen_predict_order(int order[CATALOG_N_PHENOTYPES], const float *ehr, const float *uni,
                          PredictSort key)
{
    double v[CATALOG_N_PHENOTYPES];
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) {
        double e = ehr[k], u = uni ? uni[k] : NAN;
        switch (key) {
        case PREDICT_SORT_USED: v[k] = uni ? u : e; break;
        case PREDICT_SORT_EHR: v[k] = e; break;
        case PREDICT_SORT_UNIFIED: v[k] = uni ? u : -1; break;
        case PREDICT_SORT_DIFF: v[k] = uni ? fabs(u - e) : -1; break;
        default: v[k] = -k; break;
        }
        if (isnan(v[k])) v[k] = -2;
        order[k] = k;
    }
    /* insertion sort: 25 items, stable, so ties keep catalog order */
    for (int i = 1; i < CATALOG_N_PHENOTYPES; i++) {
        int o = order[i], j = i;
        while (j > 0 && v[order[j - 1]] < v[o]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = o;
    }
}

/* ---- the worker ------------------------------------------------------------------------------ */

static int pick_run(void *ctx, const RunInfo *r)
{
    Pred *p = ctx;
    if (strcmp(r->status, "done") && strcmp(r->status, "stopped")) return 0;
    if (p->res_n_runs >= MAX_RUNS) return 1;
    RunPick *k = &p->res_runs[p->res_n_runs++];
    k->run_id = r->run_id;
    snprintf(k->method, sizeof k->method, "%s", r->method);
    return 0;
}

static int first_pair(void *ctx, int64_t stay_id, const char *dicom)
{
    (void)dicom;
    *(int64_t *)ctx = stay_id;
    return 1;
}

static void *worker(void *arg)
{
    Pred *p = arg;
    Store *st = NULL;
    PsErr err = {{0}};
    blas_set_threads(1);
    PsStatus orc = store_open(&st, p->app->opt.store_path, STORE_OPEN_READONLY, &err);
    pthread_mutex_lock(&p->mu);
    if (orc) {
        snprintf(p->res_err, sizeof p->res_err, "%s", err.msg);
        p->res_listed = 1;
        p->res_gen++;
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    /* the finished runs and a paired stay to fall back on */
    p->res_n_runs = 0;
    PsStatus rc = runs_each(st, pick_run, p);
    if (rc && rc != PS_ERR_CANCELLED) snprintf(p->res_err, sizeof p->res_err, "runs: %s", store_errmsg(st));
    int64_t fp = 0;
    store_each_pair(st, first_pair, &fp);
    p->res_first_pair = fp;
    p->res_listed = 1;
    p->res_gen++;
    unsigned done = p->req_gen;
    while (!p->stop) {
        if (done == p->req_gen) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        done = p->req_gen;
        int64_t run = p->req_run, stay = p->req_stay;
        pthread_mutex_unlock(&p->mu);
        PredictResult res;
        PsErr e = {{0}};
        PsStatus prc = predict_stay(st, run, stay, &res, &e);
        pthread_mutex_lock(&p->mu);
        if (done != p->req_gen) continue; /* overtaken */
        p->res = res;
        p->res_ok = prc == PS_OK;
        snprintf(p->res_err, sizeof p->res_err, "%s", prc ? e.msg : "");
        p->res_gen++;
    }
    pthread_mutex_unlock(&p->mu);
    store_close(st);
    return NULL;
}

static void *pred_open(App *app)
{
    Pred *p = calloc(1, sizeof *p);
    if (!p) {
        app_status(app, "Predictions: out of memory");
        return NULL;
    }
    p->app = app;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    /* the worker never takes the UI's signals (quit, hangup, resize): their flags are read by
     * the UI thread, which must be the one interrupted */
    sigset_t block, old;
    sigemptyset(&block);
    for (const int *s = (const int[]){SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH, SIGPIPE, 0}; *s; s++)
        sigaddset(&block, *s);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (app->opt.store_path && pthread_create(&p->th, NULL, worker, p) == 0) p->th_started = 1;
    else snprintf(p->err, sizeof p->err, "cannot start the prediction worker");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return p;
}

static void pred_close(void *state)
{
    Pred *p = state;
    if (p->th_started) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static void ask(Pred *p)
{
    if (!p->listed || !p->n_runs || !p->stay) return;
    pthread_mutex_lock(&p->mu);
    p->req_run = p->runs[p->run_ix].run_id;
    p->req_stay = p->stay;
    p->req_gen++;
    p->asked_gen = p->req_gen;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    p->waiting = 1;
}

static int pred_tick(void *state, App *app)
{
    Pred *p = state;
    int changed = 0;
    pthread_mutex_lock(&p->mu);
    if (p->res_gen != p->seen_gen) {
        p->seen_gen = p->res_gen;
        if (!p->listed && p->res_listed) {
            p->listed = 1;
            p->n_runs = p->res_n_runs;
            memcpy(p->runs, p->res_runs, sizeof p->runs);
            p->first_pair = p->res_first_pair;
            p->run_ix = 0;
            /* the newest finished unified run, as `phenoscope predict` picks */
            for (int i = 0; i < p->n_runs; i++)
                if (!strcmp(p->runs[i].method, "unified")) {
                    p->run_ix = i;
                    break;
                }
            snprintf(p->err, sizeof p->err, "%s", p->res_err);
        } else if (p->waiting && p->req_gen == p->asked_gen) {
            p->waiting = 0;
            p->have = p->res_ok;
            p->r = p->res;
            snprintf(p->err, sizeof p->err, "%s", p->res_err);
        }
        changed = 1;
    }
    pthread_mutex_unlock(&p->mu);
    int64_t want = app->selected_stay ? app->selected_stay : p->first_pair;
    if (p->listed && want && want != p->stay) {
        p->stay = want;
        p->have = 0;
        p->top = 0;
        ask(p);
        changed = 1;
    }
    return changed;
}

static int pred_busy(void *state)
{
    const Pred *p = state;
    return p->th_started && (!p->listed || p->waiting);
}

/* ---- drawing --------------------------------------------------------------------------------- */

static void put(App *app, int y, int x, int w, ThemeRole role, const char *text)
{
    if (w <= 0) return;
    wattrset(stdscr, theme_attr(&app->theme, role));
    table_put_text(stdscr, y, x, w, text, TABLE_LEFT, app->utf8);
    wattrset(stdscr, A_NORMAL);
}

static const char *const sort_names[PREDICT_SORT_N] = {"used", "EHR", "Unified", "|difference|",
                                                        "catalog"};
static const char *const group_brief[3] = {"acu", "mix", "chr"};

static void pred_draw(void *state, App *app, UiRect r)
{
    Pred *p = state;
    char line[512], sid[32];
    if (!p->listed) {
        put(app, r.y + 1, r.x + 2, r.w - 2, THEME_DIM, "Reading runs from the store...");
        return;
    }
    if (!p->n_runs) {
        put(app, r.y + 1, r.x + 2, r.w - 2, THEME_NORMAL,
            p->err[0] ? p->err : "No finished training run in this store.");
        put(app, r.y + 2, r.x + 2, r.w - 2, THEME_DIM, "Train one on the Training screen (4, then n).");
        return;
    }
    if (!p->stay) {
        put(app, r.y + 1, r.x + 2, r.w - 2, THEME_NORMAL, "No stay selected: pick one on the Cohort screen (1, Enter).");
        return;
    }
    screen_stay_id_text(sid, sizeof sid, p->stay, app->opt.mask_ids, app->utf8);
    const RunPick *rk = &p->runs[p->run_ix];
    char m[32];
    sanitize_for_locale(m, sizeof m, rk->method, app->utf8);
    snprintf(line, sizeof line, "Stay %s%s  run %lld %s (%d/%d)", sid,
             app->selected_stay ? "" : " (first paired stay)", (long long)rk->run_id, m, p->run_ix + 1,
             p->n_runs);
    if (p->have && p->r.run_id == rk->run_id)
        snprintf(line + strlen(line), sizeof line - strlen(line), ", checkpoint of epoch %d, %d time bins",
                 p->r.checkpoint_epoch, p->r.time_bins);
    put(app, r.y, r.x, r.w, THEME_ACCENT, line);
    if (!p->have) {
        put(app, r.y + 2, r.x + 2, r.w - 2, p->err[0] && !p->waiting ? THEME_BAD : THEME_DIM,
            p->waiting ? "Predicting..." : p->err);
        return;
    }
    const PredictResult *res = &p->r;
    int paired = res->paired, use_uni = paired && !p->withhold;
    char dic[96];
    sanitize_for_locale(dic, sizeof dic, res->dicom_id, app->utf8);
    const char *arrow = app->utf8 ? "\xe2\x86\x92" : "->";
    if (!paired)
        snprintf(line, sizeof line, "No X-ray%s %s the inference rule uses EHR-only",
                 !strcmp(res->method, "ehr") ? " (an EHR-only run)" : " paired", arrow);
    else if (p->withhold)
        snprintf(line, sizeof line, "X-ray WITHHELD (w restores) %s the inference rule uses EHR-only", arrow);
    else
        snprintf(line, sizeof line, "X-ray present %s the inference rule uses Unified  (radiograph %s)",
                 arrow, app->opt.mask_ids ? "masked" : dic);
    put(app, r.y + 1, r.x, r.w, p->withhold ? THEME_WARN : THEME_NORMAL, line);

    /* columns: mark, name, group, EHR bar + value, Unified bar + value, difference, truth */
    int fixed = 2 + 1 + 3 + 1 + 5 + 1 + 5 + 1 + 6 + 1 + 5;
    int avail = r.w - fixed;
    int bw = avail / 4;
    if (bw > 30) bw = 30;
    if (bw < 4) bw = 4;
    int nw = avail - 2 * bw;
    if (nw > 44) nw = 44;
    if (nw < 10) nw = 10;
    int x_grp = r.x + 2 + nw + 1, x_e = x_grp + 4, x_u = x_e + bw + 6, x_d = x_u + bw + 6,
        x_t = x_d + 7;
    int hy = r.y + 2;
    put(app, hy, r.x + 2, nw, THEME_HEADER, "Phenotype");
    put(app, hy, x_grp, 3, THEME_HEADER, "Grp");
    snprintf(line, sizeof line, "%sEHR-only", !use_uni ? (app->utf8 ? "\xe2\x96\xb6" : ">") : "");
    put(app, hy, x_e, bw + 5, !use_uni ? THEME_HEADER_SORT : THEME_HEADER, line);
    snprintf(line, sizeof line, "%sUnified (X-ray)", use_uni ? (app->utf8 ? "\xe2\x96\xb6" : ">") : "");
    put(app, hy, x_u, bw + 5, use_uni ? THEME_HEADER_SORT : THEME_HEADER, line);
    put(app, hy, x_d, 6, THEME_HEADER, " U-E");
    put(app, hy, x_t, 5, THEME_HEADER, "Truth");
    int order[CATALOG_N_PHENOTYPES];
    screen_predict_order(order, res->p_ehr, use_uni ? res->p_pair : NULL,
                         p->sort == PREDICT_SORT_UNIFIED && !use_uni ? PREDICT_SORT_EHR : p->sort);
    int rows = r.h - 4;
    if (rows < 1) rows = 1;
    if (p->top > CATALOG_N_PHENOTYPES - rows) p->top = CATALOG_N_PHENOTYPES - rows;
    if (p->top < 0) p->top = 0;
    for (int i = p->top; i < CATALOG_N_PHENOTYPES && i - p->top < rows; i++) {
        int k = order[i], y = hy + 1 + i - p->top;
        const CatalogPhenotype *ph = &catalog_phenotypes[k];
        double pe = res->p_ehr[k], pu = paired ? res->p_pair[k] : NAN;
        double used = use_uni ? pu : pe;
        put(app, y, r.x, 2, used >= 0.5 ? THEME_ACCENT : THEME_DIM,
            used >= 0.5 ? (app->utf8 ? "\xe2\x97\x8f" : "*") : " ");
        put(app, y, r.x + 2, nw, THEME_NORMAL, (int)strlen(ph->name) > nw ? ph->brief : ph->name);
        put(app, y, x_grp, 3, THEME_DIM, group_brief[ph->group]);
        char v[16];
        bars_draw(stdscr, y, x_e, bw, pe, theme_attr(&app->theme, !use_uni ? THEME_ACCENT : THEME_DIM), app->utf8);
        snprintf(v, sizeof v, "%.2f", pe);
        put(app, y, x_e + bw + 1, 4, !use_uni ? THEME_NORMAL : THEME_DIM, v);
        if (paired) {
            bars_draw(stdscr, y, x_u, bw, pu, theme_attr(&app->theme, use_uni ? THEME_ACCENT : THEME_DIM), app->utf8);
            snprintf(v, sizeof v, "%.2f", pu);
            put(app, y, x_u + bw + 1, 4, use_uni ? THEME_NORMAL : THEME_DIM, v);
            double d = pu - pe;
            snprintf(v, sizeof v, "%+.2f", d);
            put(app, y, x_d, 6, fabs(d) < 0.05 ? THEME_DIM : THEME_NORMAL, v);
        } else {
            put(app, y, x_u, bw + 5, THEME_DIM, "-");
            put(app, y, x_d, 6, THEME_DIM, "   -");
        }
        const char *tt = !res->have_truth ? "?" : res->truth[k] ? "yes" : ".";
        ThemeRole tr = !res->have_truth ? THEME_DIM
                       : res->truth[k]  ? ((used >= 0.5) ? THEME_GOOD : THEME_WARN)
                                        : THEME_DIM;
        put(app, y, x_t + 1, 4, tr, tt);
    }
    if (CATALOG_N_PHENOTYPES > rows) {
        snprintf(line, sizeof line, "%d-%d of 25", p->top + 1,
                 p->top + rows < CATALOG_N_PHENOTYPES ? p->top + rows : CATALOG_N_PHENOTYPES);
        put(app, r.y + r.h - 1, r.x + r.w - 12, 12, THEME_DIM, line);
    }
}

static int pred_key(void *state, App *app, int key)
{
    Pred *p = state;
    (void)app;
    switch (key) {
    case 'w':
    case 'W':
        if (p->have && !p->r.paired) {
            app_status(app, "this stay has no paired radiograph to withhold");
            return SCREEN_KEY_USED;
        }
        p->withhold = !p->withhold;
        return SCREEN_KEY_USED;
    case ']':
    case '[':
        if (p->n_runs > 1) {
            p->run_ix = (p->run_ix + (key == ']' ? 1 : p->n_runs - 1)) % p->n_runs;
            p->have = 0;
            ask(p);
        }
        return SCREEN_KEY_USED;
    case 's': p->sort = (PredictSort)((p->sort + 1) % PREDICT_SORT_N); app_status(app, "sorted by %s", sort_names[p->sort]); return SCREEN_KEY_USED;
    case KEY_DOWN:
    case 'j': p->top++; return SCREEN_KEY_USED;
    case KEY_UP:
    case 'k':
        if (p->top > 0) p->top--;
        return SCREEN_KEY_USED;
    case KEY_NPAGE: p->top += 10; return SCREEN_KEY_USED;
    case KEY_PPAGE: p->top = p->top > 10 ? p->top - 10 : 0; return SCREEN_KEY_USED;
    case 'R':
        ask(p);
        return SCREEN_KEY_USED;
    default: return SCREEN_KEY_IGNORED;
    }
}

static const char *pred_hints(void *state, App *app)
{
    Pred *p = state;
    (void)app;
    snprintf(p->hint, sizeof p->hint, "w %s X-ray  [ ] run  s sort (%s)  Up/Down scroll  1 cohort  ? help",
             p->withhold ? "restore" : "withhold", sort_names[p->sort]);
    return p->hint;
}

const UiScreen screen_predict = {
    .name = "Predictions",
    .open = pred_open,
    .close = pred_close,
    .draw = pred_draw,
    .on_key = pred_key,
    .on_tick = pred_tick,
    .busy = pred_busy,
    .hints = pred_hints,
};
