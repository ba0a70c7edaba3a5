/* screen_stay.c — screen 2, one ICU stay: the 17 channels as charts over hours since
 * admission, the admission's diagnoses with ICD titles, the 25 phenotype labels by group.
 *
 * At 80x24 the charts are a list, one row per channel (a sparkline, or a strip of scores for
 * the categorical scales), with the last value and the normal range; Enter zooms the channel
 * under the cursor to a full chart, and a preview chart fills spare rows. Diagnoses and
 * phenotypes are tabs (Tab cycles). On a big terminal the continuous channels are a grid of
 * full charts with the strips under them, and the labels and diagnoses sit in a side panel;
 * Tab then moves the focus (what the arrow keys scroll).
 *
 * The stay is read by a worker thread with its own Store handle (ui/worker.h;
 * stayview_stay_load: a few indexed reads, about 1 ms per thousand events); the UI thread picks
 * the result up in on_tick and never waits. Every string from the store is sanitised before drawing. It shows
 * data only: it predicts nothing (the predictions screen does).
 *
 * Thread safety: the worker runs load_stay on its own Store and a result slot of its own.
 */
#include "ui/screen_stay.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/stayview.h"
#include "ui/app.h"
#include "ui/chart.h"
#include "ui/screen_cohort.h"
#include "ui/table.h"
#include "store/sanitize.h"
#include "ui/worker.h"

const int screen_stay_channel_order[CATALOG_N_CHANNELS] = {
    8, 13, 1, 10, 12, 11, 14, 2, 7, 16, 15, 9, /* continuous */
    5, 3, 4, 6, 0,                              /* GCS total, eye, motor, verbal; CRR */
};
#define N_CONTINUOUS 12

char *screen_stay_id_text(char *buf, size_t n, int64_t id, int mask, int utf8)
{
    if (mask) snprintf(buf, n, "%s", utf8 ? "\u2022\u2022\u2022\u2022\u2022\u2022" : "******");
    else snprintf(buf, n, "%lld", (long long)id);
    return buf;
}

enum { TAB_CHARTS = 0, TAB_DIAGNOSES, TAB_PHENOTYPES, N_TABS };

/* A job: one stay. Its result: the stay's data. */
typedef struct {
    int64_t stay_id;
} StayReq;

typedef struct {
    StayviewStay data;
} StayLoad;

typedef struct {
    Worker *worker;
    char start_error[PS_ERRMSG_MAX]; /* the worker could not start */
    int64_t want;      /* the stay the user asked for (UI thread) */

    int have;
    StayviewStay s;
    char error[PS_ERRMSG_MAX];
    long load_ms;

    int tab, zoom, cur; /* cur: position in screen_stay_channel_order */
    int dx_top, ph_top, list_top;
    int wide;     /* the last layout drawn was the wide one */
    int grid_cols;
    int page;
} Stay;

static PsStatus load_stay(void *ctx, Store *st, const void *req, void *res, PsErr *err)
{
    (void)ctx;
    (void)err;
    return stayview_stay_load(st, ((const StayReq *)req)->stay_id, &((StayLoad *)res)->data);
}

static void free_load(void *res)
{
    stayview_stay_free(&((StayLoad *)res)->data);
}

static void *stay_open(App *app)
{
    Stay *v = calloc(1, sizeof *v);
    if (!v) {
        app_status(app, "stay: out of memory");
        return NULL;
    }
    if (app->opt.store_path) {
        WorkerSpec spec = {.req_size = sizeof(StayReq), .res_size = sizeof(StayLoad),
                           .run = load_stay, .free_result = free_load};
        PsErr err = {{0}};
        if (worker_start(&v->worker, app->opt.store_path, &spec, &err) != PS_OK) {
            app_status(app, "stay: cannot start the loader thread");
            snprintf(v->start_error, sizeof v->start_error, "cannot start the loader thread");
        }
    }
    return v;
}

static void stay_close(void *state)
{
    Stay *v = state;
    if (!v) return;
    worker_stop(v->worker);
    stayview_stay_free(&v->s);
    free(v);
}

static int stay_tick(void *state, App *app)
{
    Stay *v = state;
    int changed = 0;
    StayLoad r;
    WorkerDone d;
    if (app_take(app, v->worker, &r, &d)) {
        /* a delivered result answers the newest request, v->want */
        if (v->want != app->selected_stay) {
            stayview_stay_free(&r.data); /* the user moved on meanwhile */
        } else if (d.rc != PS_OK) {
            stayview_stay_free(&r.data);
            snprintf(v->error, sizeof v->error, "%s", d.err);
            stayview_stay_free(&v->s);
            v->have = 0;
            changed = 1;
        } else {
            stayview_stay_free(&v->s);
            v->s = r.data;
            v->have = 1;
            v->error[0] = 0;
            v->load_ms = d.ms;
            v->zoom = 0;
            v->dx_top = v->ph_top = v->list_top = 0;
            changed = 1;
        }
    }
    if (app->selected_stay && app->selected_stay != v->want) {
        v->want = app->selected_stay;
        if (v->worker) {
            v->error[0] = 0;
            worker_post(v->worker, &(StayReq){v->want});
        } else if (v->start_error[0]) {
            snprintf(v->error, sizeof v->error, "%s", v->start_error);
        }
        changed = 1;
    }
    return changed;
}

static int stay_busy(void *state)
{
    const Stay *v = state;
    return v->worker && worker_pending(v->worker);
}

/* ---- drawing ------------------------------------------------------------------------------- */

static void x_range(const Stay *v, double *x0, double *x1)
{
    double los_h = (double)(v->s.stay.outtime - v->s.stay.intime) / 3600.0;
    *x0 = v->s.n_events && v->s.first_hour < 0 ? floor(v->s.first_hour) : 0;
    *x1 = los_h;
    if (v->s.n_events && v->s.last_hour > *x1) *x1 = v->s.last_hour;
    if (*x1 <= *x0) *x1 = *x0 + 1;
}

static void spec_for(const Stay *v, int ch, ChartSpec *cs)
{
    double x0, x1;
    x_range(v, &x0, &x1);
    const StayviewSeries *se = &v->s.series[ch];
    chart_spec_for_channel(cs, ch, se->hours, se->value, se->n, x0, x1);
}

static void draw_header(Stay *v, App *app, UiRect r)
{
    const StoreStay *s = &v->s.stay;
    char id[32], subj[32], unit[64], line[512];
    screen_stay_id_text(id, sizeof id, s->stay_id, app->opt.mask_ids, app->utf8);
    screen_stay_id_text(subj, sizeof subj, s->subject_id, app->opt.mask_ids, app->utf8);
    cohort_unit_short(unit, sizeof unit, s->first_careunit, app->utf8);
    const char *split = s->split == SPLIT_TRAIN ? "train" : s->split == SPLIT_VAL ? "val" : s->split == SPLIT_TEST ? "test" : "no split";
    const char *dot = app->utf8 ? " \u00b7 " : " | ";
    snprintf(line, sizeof line, "Stay %s%ssubject %s%s%c %d y%s%s%sLOS %.1f d%s%s%s%s%s%d CXR in stay%s", id, dot,
             subj, dot, v->s.gender, s->age, dot, unit, dot, s->los_days, dot, split,
             s->mortality_inhospital ? dot : "", s->mortality_inhospital ? "died in hospital" : "", dot,
             v->s.n_cxr_in_stay, v->s.has_pair ? (app->utf8 ? ", paired \u2713" : ", paired") : "");
    app_put(app, r.y, r.x, r.w, THEME_ACCENT, A_BOLD, line);
}

static void draw_tabs(Stay *v, App *app, UiRect r)
{
    char names[N_TABS][48];
    int npos = 0;
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++) npos += v->s.labels[i];
    snprintf(names[TAB_CHARTS], sizeof names[0], " Charts ");
    snprintf(names[TAB_DIAGNOSES], sizeof names[0], " Diagnoses (%zu) ", v->s.n_dx);
    if (v->s.has_labels) snprintf(names[TAB_PHENOTYPES], sizeof names[0], " Phenotypes %d/25 ", npos);
    else snprintf(names[TAB_PHENOTYPES], sizeof names[0], " Phenotypes (none) ");
    int x = r.x;
    for (int i = 0; i < N_TABS; i++) {
        int w = (int)strlen(names[i]);
        if (x + w > r.x + r.w) break;
        app_put(app, r.y, x, w, i == v->tab ? THEME_TAB_ACTIVE : THEME_TAB, 0, names[i]);
        x += w + 1;
    }
    char info[96];
    double x0, x1;
    x_range(v, &x0, &x1);
    snprintf(info, sizeof info, "%zu events, %.0f%s%.0f h since admission", v->s.n_events, x0,
             app->utf8 ? "\u2013" : "..", x1);
    int iw = table_text_width(info);
    if (x + iw + 2 <= r.x + r.w) app_put(app, r.y, r.x + r.w - iw, iw, THEME_DIM, 0, info);
}

/* One row of the channel list: name, unit, sparkline or strip, last value, normal range. */
static void draw_channel_row(Stay *v, App *app, int y, int x, int w, int ch, int selected)
{
    const CatalogChannel *c = &catalog_channels[ch];
    ChartSpec cs;
    spec_for(v, ch, &cs);
    int namew = w >= 100 ? 26 : 10, unitw = 6, lastw = 7, normw = w >= 90 ? 12 : 0;
    int sparkw = w - namew - unitw - lastw - normw - 4;
    attr_t sel = selected ? theme_attr(&app->theme, THEME_SELECTED) : 0;
    if (selected) {
        wattrset(stdscr, sel);
        mvhline(y, x, ' ', w);
    }
    wattrset(stdscr, selected ? sel : A_BOLD);
    table_put_text(stdscr, y, x + 1, namew, namew >= 26 ? c->name : c->brief, TABLE_LEFT, app->utf8);
    wattrset(stdscr, selected ? sel : theme_attr(&app->theme, THEME_DIM));
    table_put_text(stdscr, y, x + 1 + namew, unitw, c->unit, TABLE_LEFT, app->utf8);
    if (sparkw > 0) {
        /* A sparkline shows the shape: scaled to the data (never narrower than a tenth of the
         * display range, so noise stays flat); the last value and the colours stay absolute. */
        if (!c->categorical && cs.n) {
            double lo = INFINITY, hi = -INFINITY, minspan = (c->display_high - c->display_low) / 10;
            for (size_t i = 0; i < cs.n; i++)
                if (isfinite(cs.y[i])) {
                    if (cs.y[i] < lo) lo = cs.y[i];
                    if (cs.y[i] > hi) hi = cs.y[i];
                }
            if (hi >= lo) {
                if (hi - lo < minspan) {
                    double mid = (hi + lo) / 2;
                    lo = mid - minspan / 2;
                    hi = mid + minspan / 2;
                }
                cs.y0 = lo - (hi - lo) * 0.01;
                cs.y1 = hi + (hi - lo) * 0.01;
            }
        }
        if (c->categorical) chart_draw_strip(stdscr, y, x + 1 + namew + unitw, sparkw, &cs, &app->theme, app->utf8);
        else chart_draw_sparkline(stdscr, y, x + 1 + namew + unitw, sparkw, &cs, &app->theme, app->utf8);
    }
    long last = chart_last_point(&cs);
    char num[32];
    if (last >= 0) chart_fmt(num, sizeof num, cs.y[last], cs.decimals);
    else snprintf(num, sizeof num, "-");
    int out = last >= 0 && cs.has_band && (cs.y[last] < cs.band_lo || cs.y[last] > cs.band_hi);
    wattrset(stdscr, selected ? sel : theme_attr(&app->theme, last < 0 ? THEME_DIM : out ? THEME_WARN : THEME_NORMAL) | (last >= 0 ? A_BOLD : 0));
    table_put_text(stdscr, y, x + 2 + namew + unitw + (sparkw > 0 ? sparkw : 0), lastw, num, TABLE_RIGHT, app->utf8);
    if (normw) {
        char lo[24], hi[24], nr[64];
        chart_fmt(lo, sizeof lo, c->normal_low, cs.decimals);
        chart_fmt(hi, sizeof hi, c->normal_high, cs.decimals);
        if (c->normal_low == c->normal_high) snprintf(nr, sizeof nr, "%s", lo);
        else snprintf(nr, sizeof nr, "%s%s%s", lo, app->utf8 ? "\u2013" : "-", hi);
        wattrset(stdscr, selected ? sel : theme_attr(&app->theme, THEME_GOOD));
        table_put_text(stdscr, y, x + w - normw - 1, normw, nr, TABLE_RIGHT, app->utf8);
    }
    wattrset(stdscr, A_NORMAL);
}

static void draw_list(Stay *v, App *app, UiRect r)
{
    int namew = r.w >= 100 ? 26 : 10, unitw = 6, lastw = 7, normw = r.w >= 90 ? 12 : 0;
    int sparkw = r.w - namew - unitw - lastw - normw - 4;
    /* header: the sparkline column's hour span */
    double x0, x1;
    x_range(v, &x0, &x1);
    wattrset(stdscr, theme_attr(&app->theme, THEME_HEADER));
    mvhline(r.y, r.x, ' ', r.w);
    table_put_text(stdscr, r.y, r.x + 1, namew, "Channel", TABLE_LEFT, app->utf8);
    table_put_text(stdscr, r.y, r.x + 1 + namew, unitw, "Unit", TABLE_LEFT, app->utf8);
    if (sparkw > 8) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%.0fh", x0);
        snprintf(b, sizeof b, "%.0fh", x1);
        table_put_text(stdscr, r.y, r.x + 1 + namew + unitw, sparkw, a, TABLE_LEFT, app->utf8);
        if (sparkw > 30)
            table_put_text(stdscr, r.y, r.x + 1 + namew + unitw + (sparkw - 21) / 2, 21, "hours since admission", TABLE_LEFT, app->utf8);
        int bw = (int)strlen(b);
        table_put_text(stdscr, r.y, r.x + 1 + namew + unitw + sparkw - bw, bw, b, TABLE_LEFT, app->utf8);
    }
    table_put_text(stdscr, r.y, r.x + 2 + namew + unitw + (sparkw > 0 ? sparkw : 0), lastw, "Last", TABLE_RIGHT, app->utf8);
    if (normw) table_put_text(stdscr, r.y, r.x + r.w - normw - 1, normw, "Normal", TABLE_RIGHT, app->utf8);
    wattrset(stdscr, A_NORMAL);
    int rows = r.h - 1;
    if (rows < 1) return;
    int n = CATALOG_N_CHANNELS;
    int shown = rows < n ? rows : n;
    if (v->cur < v->list_top) v->list_top = v->cur;
    if (v->cur >= v->list_top + shown) v->list_top = v->cur - shown + 1;
    if (v->list_top > n - shown) v->list_top = n - shown;
    if (v->list_top < 0) v->list_top = 0;
    v->page = shown;
    for (int i = 0; i < shown; i++) {
        int k = v->list_top + i;
        draw_channel_row(v, app, r.y + 1 + i, r.x, r.w, screen_stay_channel_order[k], k == v->cur);
    }
    /* spare rows: the selected channel as a full chart */
    int spare = rows - shown;
    if (spare >= 6) {
        ChartSpec cs;
        spec_for(v, screen_stay_channel_order[v->cur], &cs);
        chart_draw(stdscr, r.y + 1 + shown + 1, r.x + 1, spare - 1, r.w - 2, &cs, &app->theme, app->utf8);
    }
}

static void draw_zoom(Stay *v, App *app, UiRect r)
{
    ChartSpec cs;
    int ch = screen_stay_channel_order[v->cur];
    spec_for(v, ch, &cs);
    chart_draw(stdscr, r.y, r.x + 1, r.h - (catalog_channels[ch].categorical ? 2 : 0), r.w - 2, &cs, &app->theme, app->utf8);
    if (catalog_channels[ch].categorical && r.h > 6) {
        /* the scale's strip too: the scores as charted */
        app_put(app, r.y + r.h - 1, r.x + 1, 8, THEME_DIM, 0, "scores");
        chart_draw_strip(stdscr, r.y + r.h - 1, r.x + 9, r.w - 10, &cs, &app->theme, app->utf8);
    }
}

static void draw_diagnoses(Stay *v, App *app, UiRect r, int focused)
{
    char line[512], code[24], title[STAYVIEW_TITLE_MAX];
    snprintf(line, sizeof line, "Diagnoses of the admission (%zu)", v->s.n_dx);
    app_put(app, r.y, r.x, r.w, focused ? THEME_TAB_ACTIVE : THEME_HEADER, 0, line);
    int rows = r.h - 1;
    if (rows < 1) return;
    if (v->s.n_dx == 0) {
        app_put(app, r.y + 1, r.x + 1, r.w - 1, THEME_DIM, 0,
                "No diagnoses recorded for this admission.");
        return;
    }
    int max_top = (int)v->s.n_dx - rows;
    if (max_top < 0) max_top = 0;
    if (v->dx_top > max_top) v->dx_top = max_top;
    if (v->dx_top < 0) v->dx_top = 0;
    int codew = 9;
    for (int i = 0; i < rows && v->dx_top + i < (int)v->s.n_dx; i++) {
        const StayviewDiagnosis *d = &v->s.dx[v->dx_top + i];
        sanitize_for_locale(code, sizeof code, d->icd_code, app->utf8);
        sanitize_for_locale(title, sizeof title, d->title, app->utf8);
        snprintf(line, sizeof line, "%2d %s", d->seq_num, code);
        app_put(app, r.y + 1 + i, r.x, codew, THEME_ACCENT, 0, line);
        snprintf(line, sizeof line, "%d", d->icd_version);
        app_put(app, r.y + 1 + i, r.x + codew, 3, THEME_DIM, 0, r.w > 40 ? (d->icd_version == 9 ? "9" : "10") : "");
        int tx = r.x + codew + (r.w > 40 ? 3 : 0);
        if (title[0]) app_put(app, r.y + 1 + i, tx, r.x + r.w - tx, THEME_NORMAL, 0, title);
        else app_put(app, r.y + 1 + i, tx, r.x + r.w - tx, THEME_DIM, 0, "(no title in the store)");
    }
    if ((int)v->s.n_dx > rows) {
        snprintf(line, sizeof line, "%d-%d of %zu", v->dx_top + 1, v->dx_top + rows < (int)v->s.n_dx ? v->dx_top + rows : (int)v->s.n_dx, v->s.n_dx);
        int lw = (int)strlen(line);
        app_put(app, r.y, r.x + r.w - lw - 1, lw, THEME_DIM, 0, line);
    }
}

/* One group's phenotypes at (y, x): a heading, then a line per label. Returns rows used. */
static int draw_group(Stay *v, App *app, int y, int x, int w, int maxrows, PhenoGroup g, int skip)
{
    int n = 0, pos = 0;
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++)
        if (catalog_phenotypes[i].group == g) {
            n++;
            pos += v->s.labels[i];
        }
    char line[160];
    int used = 0;
    if (skip <= 0 && used < maxrows) {
        const char *gn = g == PHENO_ACUTE ? "Acute" : g == PHENO_MIXED ? "Mixed" : "Chronic";
        snprintf(line, sizeof line, "%s  %d of %d positive", gn, pos, n);
        app_put(app, y + used, x, w, THEME_ACCENT, A_BOLD, line);
        used++;
    }
    skip--;
    for (int i = 0; i < CATALOG_N_PHENOTYPES && used < maxrows; i++) {
        if (catalog_phenotypes[i].group != g) continue;
        if (skip-- > 0) continue;
        int p = v->s.labels[i];
        const char *mark = p ? (app->utf8 ? "\u25cf" : "+") : (app->utf8 ? "\u00b7" : ".");
        snprintf(line, sizeof line, " %s %s", mark, w >= 44 ? catalog_phenotypes[i].name : catalog_phenotypes[i].brief);
        app_put(app, y + used, x, w, p ? THEME_BAD : THEME_DIM, p ? A_BOLD : 0, line);
        used++;
    }
    return used;
}

static void draw_phenotypes(Stay *v, App *app, UiRect r, int focused)
{
    app_put(app, r.y, r.x, r.w, focused ? THEME_TAB_ACTIVE : THEME_HEADER, 0,
            "Phenotypes (ground truth, from diagnoses)");
    if (r.h < 2) return;
    if (!v->s.has_labels) {
        app_put(app, r.y + 1, r.x + 1, r.w - 1, THEME_DIM, 0, "This stay has no phenotype labels.");
        return;
    }
    int rows = r.h - 1;
    /* Acute | Mixed + Chronic side by side when a single column would not fit and two would */
    if (rows < 28 && r.w >= 60 && rows >= 15) {
        int cw = (r.w - 2) / 2;
        draw_group(v, app, r.y + 1, r.x, cw, rows, PHENO_ACUTE, 0);
        int u = draw_group(v, app, r.y + 1, r.x + cw + 2, cw, rows, PHENO_MIXED, 0);
        if (u + 1 < rows) draw_group(v, app, r.y + 2 + u, r.x + cw + 2, cw, rows - u - 1, PHENO_CHRONIC, 0);
        return;
    }
    /* one column, scrolled by ph_top lines */
    int total = 28 + 2;
    if (v->ph_top > total - rows) v->ph_top = total - rows;
    if (v->ph_top < 0) v->ph_top = 0;
    int y = r.y + 1, left = rows, skip = v->ph_top;
    const PhenoGroup order[3] = {PHENO_ACUTE, PHENO_MIXED, PHENO_CHRONIC};
    for (int gi = 0; gi < 3 && left > 0; gi++) {
        int size = 1 + (order[gi] == PHENO_ACUTE ? 13 : order[gi] == PHENO_MIXED ? 5 : 7);
        if (skip >= size + 1) {
            skip -= size + 1;
            continue;
        }
        int u = draw_group(v, app, y, r.x, r.w, left, order[gi], skip);
        int s = skip > size ? size : skip;
        (void)s;
        skip = 0;
        y += u + 1;
        left -= u + 1;
    }
}

/* The continuous channels as a grid of charts, strips under them. 0 when it does not fit. */
static int draw_grid(Stay *v, App *app, UiRect r)
{
    int strips = CATALOG_N_CHANNELS - N_CONTINUOUS;
    int avail = r.h - strips - 2;
    int cols = r.w / 36 > 0 ? r.w / 36 : 1;
    if (cols > 4) cols = 4;
    int rows = (N_CONTINUOUS + cols - 1) / cols;
    int ch_h = avail / rows;
    if (ch_h < 6) {
        cols = r.w / 30 > 0 ? r.w / 30 : 1;
        rows = (N_CONTINUOUS + cols - 1) / cols;
        ch_h = avail / rows;
        if (ch_h < 6) return 0;
    }
    if (ch_h > 14) ch_h = 14;
    v->grid_cols = cols;
    int cw = r.w / cols;
    for (int k = 0; k < N_CONTINUOUS; k++) {
        int gy = r.y + (k / cols) * ch_h, gx = r.x + (k % cols) * cw;
        ChartSpec cs;
        spec_for(v, screen_stay_channel_order[k], &cs);
        chart_draw(stdscr, gy, gx + 1, ch_h - 1, cw - 2, &cs, &app->theme, app->utf8);
        if (k == v->cur && v->tab == TAB_CHARTS) mvchgat(gy, gx, cw - 1, theme_attr(&app->theme, THEME_SELECTED) & ~A_COLOR, (short)PAIR_NUMBER(theme_attr(&app->theme, THEME_SELECTED)), NULL);
    }
    int sy = r.y + rows * ch_h + 1;
    double x0, x1;
    x_range(v, &x0, &x1);
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Scales, scores over %.0f%s%.0f h", x0, app->utf8 ? "\u2013" : "..", x1);
    app_put(app, sy - 1, r.x + 1, r.w - 2, THEME_HEADER, 0, hdr);
    for (int k = N_CONTINUOUS; k < CATALOG_N_CHANNELS && sy + (k - N_CONTINUOUS) < r.y + r.h; k++)
        draw_channel_row(v, app, sy + (k - N_CONTINUOUS), r.x, r.w, screen_stay_channel_order[k],
                         k == v->cur && v->tab == TAB_CHARTS);
    return 1;
}

static void stay_draw(void *state, App *app, UiRect r)
{
    Stay *v = state;
    if (r.h < 4) return;
    if (!app->selected_stay) {
        app_put(app, r.y + 1, r.x + 1, r.w - 2, THEME_DIM, 0,
                "No stay selected. Press 1 for the cohort, then Enter on a stay.");
        return;
    }
    if (v->error[0]) {
        char line[PS_ERRMSG_MAX + 32];
        snprintf(line, sizeof line, "Cannot read the stay: %s", v->error);
        app_put(app, r.y + 1, r.x + 1, r.w - 2, THEME_BAD, 0, line);
        return;
    }
    if (!v->have || v->s.stay.stay_id != app->selected_stay) {
        app_put(app, r.y + 1, r.x + 1, r.w - 2, THEME_DIM, 0, "Loading the stay...");
        return;
    }
    draw_header(v, app, r);
    draw_tabs(v, app, (UiRect){r.y + 1, r.x, 1, r.w});
    UiRect body = {r.y + 2, r.x, r.h - 2, r.w};
    v->wide = r.w >= 130 && r.h >= 34;
    if (v->wide) {
        int pw = r.w >= 170 ? 56 : 46;
        UiRect left = {body.y, body.x, body.h, body.w - pw - 1};
        UiRect right = {body.y, body.x + body.w - pw, body.h, pw};
        for (int i = 0; i < body.h; i++)
            app_put(app, body.y + i, body.x + body.w - pw - 1, 1, THEME_BORDER, 0, app->utf8 ? "\u2502" : "|");
        if (v->zoom) draw_zoom(v, app, left);
        else if (!draw_grid(v, app, left)) draw_list(v, app, left);
        int ph = 1 + 25 + 3 + 2;
        if (ph > right.h - 8) ph = right.h - 8;
        if (ph > right.h) ph = right.h;
        draw_phenotypes(v, app, (UiRect){right.y, right.x, ph, right.w}, v->tab == TAB_PHENOTYPES);
        if (right.h - ph > 2)
            draw_diagnoses(v, app, (UiRect){right.y + ph, right.x, right.h - ph, right.w}, v->tab == TAB_DIAGNOSES);
        return;
    }
    switch (v->tab) {
    case TAB_CHARTS:
        if (v->zoom) draw_zoom(v, app, body);
        else draw_list(v, app, body);
        break;
    case TAB_DIAGNOSES: draw_diagnoses(v, app, body, 0); break;
    case TAB_PHENOTYPES: draw_phenotypes(v, app, body, 0); break;
    }
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void move_cur(Stay *v, int d)
{
    v->cur += d;
    if (v->cur < 0) v->cur = 0;
    if (v->cur >= CATALOG_N_CHANNELS) v->cur = CATALOG_N_CHANNELS - 1;
}

static int stay_key(void *state, App *app, int key)
{
    Stay *v = state;
    if (!v->have) return SCREEN_KEY_IGNORED;
    if (key == '\t') {
        v->tab = (v->tab + 1) % N_TABS;
        return SCREEN_KEY_USED;
    }
    if (key == KEY_BTAB) {
        v->tab = (v->tab + N_TABS - 1) % N_TABS;
        return SCREEN_KEY_USED;
    }
    if (key == 'x' || key == 'r') {
        app_push(app, SCREEN_RADIOGRAPH);
        return SCREEN_KEY_USED;
    }
    int page = v->page > 1 ? v->page - 1 : 10;
    if (v->tab == TAB_DIAGNOSES || v->tab == TAB_PHENOTYPES) {
        int *top = v->tab == TAB_DIAGNOSES ? &v->dx_top : &v->ph_top;
        switch (key) {
        case KEY_UP:
        case 'k': (*top)--; return SCREEN_KEY_USED;
        case KEY_DOWN:
        case 'j': (*top)++; return SCREEN_KEY_USED;
        case KEY_PPAGE: *top -= page; return SCREEN_KEY_USED;
        case KEY_NPAGE:
        case ' ': *top += page; return SCREEN_KEY_USED;
        case KEY_HOME:
        case 'g': *top = 0; return SCREEN_KEY_USED;
        case KEY_END:
        case 'G': *top = 1 << 20; return SCREEN_KEY_USED;
        }
        if (*top < 0) *top = 0;
        return SCREEN_KEY_IGNORED;
    }
    int grid = v->wide && !v->zoom && v->cur < N_CONTINUOUS;
    switch (key) {
    case KEY_UP:
    case 'k':
        move_cur(v, grid && v->cur >= v->grid_cols ? -v->grid_cols : -1);
        return SCREEN_KEY_USED;
    case KEY_DOWN:
    case 'j':
        move_cur(v, grid && v->cur + v->grid_cols < N_CONTINUOUS ? v->grid_cols : 1);
        return SCREEN_KEY_USED;
    case KEY_LEFT:
    case 'h':
        move_cur(v, -1);
        return SCREEN_KEY_USED;
    case KEY_RIGHT:
    case 'l':
        move_cur(v, 1);
        return SCREEN_KEY_USED;
    case KEY_HOME:
    case 'g': v->cur = 0; return SCREEN_KEY_USED;
    case KEY_END:
    case 'G': v->cur = CATALOG_N_CHANNELS - 1; return SCREEN_KEY_USED;
    case '\n':
    case '\r':
    case KEY_ENTER:
    case 'z':
        v->zoom = !v->zoom;
        return SCREEN_KEY_USED;
    case 27:
        if (v->zoom) {
            v->zoom = 0;
            return SCREEN_KEY_USED;
        }
        return SCREEN_KEY_IGNORED;
    }
    return SCREEN_KEY_IGNORED;
}

static const char *stay_hints(void *state, App *app)
{
    const Stay *v = state;
    (void)app;
    if (!v->have) return "1 cohort  Esc/q back  ? help";
    if (v->tab != TAB_CHARTS && !v->wide) return "Up/Down scroll  Tab next panel  x radiographs  Esc/q back  ? help";
    if (v->zoom) return "Up/Down channel  Enter/Esc unzoom  Tab panels  x radiographs  q back  ? help";
    return "Up/Down channel  Enter zoom  Tab panels  x radiographs  Esc/q back  ? help";
}

const UiScreen screen_stay = {
    .name = "Stay",
    .open = stay_open,
    .close = stay_close,
    .draw = stay_draw,
    .on_key = stay_key,
    .on_tick = stay_tick,
    .busy = stay_busy,
    .hints = stay_hints,
};
