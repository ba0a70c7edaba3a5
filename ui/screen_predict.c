/* screen_predict.c — screen 5, Predictions (see screen_predict.h).
 *
 * A worker thread with its own Store handle (ui/worker.h) lists the finished runs and predicts the selected
 * stay with the chosen run (loading the checkpoint and decoding the radiograph take a moment);
 * on_tick picks the result up. Withholding the X-ray needs no new prediction: the EHR head's
 * probabilities are always computed, and the paper's inference rule uses them whenever no
 * radiograph is there, so the screen only changes which column is "used".
 *
 * Thread safety: open / close / draw / on_key / on_tick on the UI thread; the worker runs
 * run_job on its own Store and result slot.
 */
#include "ui/screen_predict.h"

#include <math.h>
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
#include "ui/worker.h"

#define MAX_RUNS 200

typedef struct {
    int64_t run_id;
    char method[32];
} RunPick;

/* A job: list the finished runs (first, once), or predict one stay with one run. */
typedef struct {
    int list;
    int64_t run, stay;
} PredReq;

typedef struct {
    int list;
    PredictResult res;
    RunPick runs[MAX_RUNS];
    int n_runs;
    int64_t first_pair;
} PredRes;

typedef struct {
    Worker *worker;
    PredReq job;           /* the newest job posted */
    PredRes got;           /* the result taken last (large: kept off the stack) */
    /* UI copies */
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
    PredRes *p = ctx;
    if (strcmp(r->status, "done") && strcmp(r->status, "stopped")) return 0;
    if (p->n_runs >= MAX_RUNS) return 1;
    RunPick *k = &p->runs[p->n_runs++];
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

static PsStatus run_job(void *ctx, Store *st, const void *req, void *res, PsErr *err)
{
    (void)ctx;
    const PredReq *q = req;
    PredRes *p = res;
    p->list = q->list;
    /* a prediction shares the machine with the UI (and maybe a training run) */
    blas_set_threads(1);
    if (!q->list) return predict_stay(st, q->run, q->stay, &p->res, err);
    /* the finished runs and a paired stay to fall back on */
    PsStatus rc = runs_each(st, pick_run, p);
    if (rc && rc != PS_ERR_CANCELLED) return ps_err(err, rc, "runs: %s", store_errmsg(st));
    store_each_pair(st, first_pair, &p->first_pair);
    return PS_OK;
}

static void *pred_open(App *app)
{
    Pred *p = calloc(1, sizeof *p);
    if (!p) {
        app_status(app, "Predictions: out of memory");
        return NULL;
    }
    WorkerSpec spec = {.req_size = sizeof(PredReq), .res_size = sizeof(PredRes), .run = run_job};
    PsErr err = {{0}};
    if (app->opt.store_path && worker_start(&p->worker, app->opt.store_path, &spec, &err) == PS_OK) {
        p->job = (PredReq){.list = 1};
        worker_post(p->worker, &p->job);
    } else {
        snprintf(p->err, sizeof p->err, "cannot start the prediction worker");
    }
    return p;
}

static void pred_close(void *state)
{
    Pred *p = state;
    worker_stop(p->worker);
    free(p);
}

static void ask(Pred *p)
{
    if (!p->listed || !p->n_runs || !p->stay) return;
    p->job = (PredReq){.list = 0, .run = p->runs[p->run_ix].run_id, .stay = p->stay};
    worker_post(p->worker, &p->job);
    p->waiting = 1;
}

static int pred_tick(void *state, App *app)
{
    Pred *p = state;
    int changed = 0;
    WorkerDone d;
    if (p->worker && worker_take(p->worker, &p->got, &d)) {
        /* a delivered result answers the newest job, p->job */
        if (p->job.list && !p->listed) {
            p->listed = 1;
            p->n_runs = p->got.n_runs; /* what was listed before any error */
            memcpy(p->runs, p->got.runs, sizeof p->runs);
            p->first_pair = p->got.first_pair;
            p->run_ix = 0;
            /* the newest finished unified run, as `phenoscope predict` picks */
            for (int i = 0; i < p->n_runs; i++)
                if (!strcmp(p->runs[i].method, "unified")) {
                    p->run_ix = i;
                    break;
                }
            snprintf(p->err, sizeof p->err, "%s", d.rc ? d.err : "");
        } else if (!p->job.list && p->waiting) {
            p->waiting = 0;
            p->have = d.rc == PS_OK;
            p->r = p->got.res;
            snprintf(p->err, sizeof p->err, "%s", d.rc ? d.err : "");
        }
        changed = 1;
    }
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
    return p->worker && (!p->listed || p->waiting);
}

/* ---- drawing --------------------------------------------------------------------------------- */

static const char *const sort_names[PREDICT_SORT_N] = {"used", "EHR", "Unified", "|difference|",
                                                        "catalog"};
static const char *const group_brief[3] = {"acu", "mix", "chr"};

static void pred_draw(void *state, App *app, UiRect r)
{
    Pred *p = state;
    char line[512], sid[32];
    if (!p->listed) {
        app_put(app, r.y + 1, r.x + 2, r.w - 2, THEME_DIM, 0, "Reading runs from the store...");
        return;
    }
    if (!p->n_runs) {
        app_put(app, r.y + 1, r.x + 2, r.w - 2, THEME_NORMAL, 0,
                p->err[0] ? p->err : "No finished training run in this store.");
        app_put(app, r.y + 2, r.x + 2, r.w - 2, THEME_DIM, 0, "Train one on the Training screen (4, then n).");
        return;
    }
    if (!p->stay) {
        app_put(app, r.y + 1, r.x + 2, r.w - 2, THEME_NORMAL, 0, "No stay selected: pick one on the Cohort screen (1, Enter).");
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
    app_put(app, r.y, r.x, r.w, THEME_ACCENT, 0, line);
    if (!p->have) {
        app_put(app, r.y + 2, r.x + 2, r.w - 2, p->err[0] && !p->waiting ? THEME_BAD : THEME_DIM, 0,
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
    app_put(app, r.y + 1, r.x, r.w, p->withhold ? THEME_WARN : THEME_NORMAL, 0, line);

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
    app_put(app, hy, r.x + 2, nw, THEME_HEADER, 0, "Phenotype");
    app_put(app, hy, x_grp, 3, THEME_HEADER, 0, "Grp");
    snprintf(line, sizeof line, "%sEHR-only", !use_uni ? (app->utf8 ? "\xe2\x96\xb6" : ">") : "");
    app_put(app, hy, x_e, bw + 5, !use_uni ? THEME_HEADER_SORT : THEME_HEADER, 0, line);
    snprintf(line, sizeof line, "%sUnified (X-ray)", use_uni ? (app->utf8 ? "\xe2\x96\xb6" : ">") : "");
    app_put(app, hy, x_u, bw + 5, use_uni ? THEME_HEADER_SORT : THEME_HEADER, 0, line);
    app_put(app, hy, x_d, 6, THEME_HEADER, 0, " U-E");
    app_put(app, hy, x_t, 5, THEME_HEADER, 0, "Truth");
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
        app_put(app, y, r.x, 2, used >= 0.5 ? THEME_ACCENT : THEME_DIM, 0,
                used >= 0.5 ? (app->utf8 ? "\xe2\x97\x8f" : "*") : " ");
        app_put(app, y, r.x + 2, nw, THEME_NORMAL, 0,
                (int)strlen(ph->name) > nw ? ph->brief : ph->name);
        app_put(app, y, x_grp, 3, THEME_DIM, 0, group_brief[ph->group]);
        char v[16];
        bars_draw(stdscr, y, x_e, bw, pe, theme_attr(&app->theme, !use_uni ? THEME_ACCENT : THEME_DIM), app->utf8);
        snprintf(v, sizeof v, "%.2f", pe);
        app_put(app, y, x_e + bw + 1, 4, !use_uni ? THEME_NORMAL : THEME_DIM, 0, v);
        if (paired) {
            bars_draw(stdscr, y, x_u, bw, pu, theme_attr(&app->theme, use_uni ? THEME_ACCENT : THEME_DIM), app->utf8);
            snprintf(v, sizeof v, "%.2f", pu);
            app_put(app, y, x_u + bw + 1, 4, use_uni ? THEME_NORMAL : THEME_DIM, 0, v);
            double d = pu - pe;
            snprintf(v, sizeof v, "%+.2f", d);
            app_put(app, y, x_d, 6, fabs(d) < 0.05 ? THEME_DIM : THEME_NORMAL, 0, v);
        } else {
            app_put(app, y, x_u, bw + 5, THEME_DIM, 0, "-");
            app_put(app, y, x_d, 6, THEME_DIM, 0, "   -");
        }
        const char *tt = !res->have_truth ? "?" : res->truth[k] ? "yes" : ".";
        ThemeRole tr = !res->have_truth ? THEME_DIM
                       : res->truth[k]  ? ((used >= 0.5) ? THEME_GOOD : THEME_WARN)
                                        : THEME_DIM;
        app_put(app, y, x_t + 1, 4, tr, 0, tt);
    }
    if (CATALOG_N_PHENOTYPES > rows) {
        snprintf(line, sizeof line, "%d-%d of 25", p->top + 1,
                 p->top + rows < CATALOG_N_PHENOTYPES ? p->top + rows : CATALOG_N_PHENOTYPES);
        app_put(app, r.y + r.h - 1, r.x + r.w - 12, 12, THEME_DIM, 0, line);
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
