/* screen_radiograph.c — screen 3: the radiographs of the selected stay's subject.
 *
 * A timeline shows the ICU stay as a bar and each radiograph as a marker with its view letter
 * (the paired one highlighted); a list gives each radiograph's time relative to admission to the
 * ICU and the pairing rule's reason for it (stayview_reason_text); the selected radiograph is
 * drawn in the largest rect left (sixel, symbols or blocks through ui/image.h, which also
 * removes a sixel picture the moment it is no longer placed), with its 14 CheXpert findings.
 *
 * Reading runs on a worker thread with its own Store (ui/worker.h): first the list (indexed by subject), then
 * the selected image (one blob read and a JPEG decode, a few ms for a 512x512 picture). The UI
 * thread never waits: it shows "Loading" until the result arrives. Data strings are sanitised.
 *
 * Thread safety: the worker runs load() on its own Store and result slot; the rest is the UI
 * thread's.
 */
#include "ui/screen_radiograph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/jpeg.h"
#include "store/stayview.h"
#include "ui/app.h"
#include "ui/screen_stay.h"
#include "ui/table.h"
#include "store/sanitize.h"
#include "ui/worker.h"

int screen_radiograph_column(int64_t t, int64_t tmin, int64_t tmax, int64_t intime,
                             int64_t outtime, int width)
{
    if (width <= 1) return 0;
    if (tmin > intime) tmin = intime;
    if (tmax < outtime) tmax = outtime;
    double before = (double)(intime - tmin), stay = (double)(outtime - intime),
           after = (double)(tmax - outtime);
    double W = width - 1;
    double wb, ws, wa;
    if (before + after <= stay || stay <= 0) {
        double all = (double)(tmax - tmin);
        if (all <= 0) return width / 2;
        wb = W * before / all;
        ws = W * stay / all;
        wa = W - wb - ws;
    } else {
        /* the stay gets half; each side a share of the rest */
        double sides = (before > 0) + (after > 0);
        ws = W * 0.5;
        wb = before > 0 ? W * 0.5 / sides : 0;
        wa = W - ws - wb;
        if (after <= 0) {
            ws += wa;
            wa = 0;
        }
    }
    double x;
    if (t < intime) x = before > 0 ? wb * (double)(t - tmin) / before : 0;
    else if (t <= outtime) x = wb + (stay > 0 ? ws * (double)(t - intime) / stay : 0);
    else x = wb + ws + (after > 0 ? wa * (double)(t - outtime) / after : 0);
    int c = (int)lround(x);
    return c < 0 ? 0 : c >= width ? width - 1 : c;
}

/* ---- loading ------------------------------------------------------------------------------- */

typedef struct {
    int64_t stay_id;
    char dicom[96]; /* "" = the list; else that radiograph's image */
} RadJob;

typedef struct {
    StoreStay stay;
    StayviewRadiograph *list;
    size_t n;
    uint8_t *pix;
    int w, h;
} RadResult;

typedef struct {
    Worker *worker;
    RadJob job; /* the newest job posted */

    int64_t list_stay; /* the stay whose list is shown (0 = none) */
    int64_t asked_stay;
    char error[PS_ERRMSG_MAX];
    StoreStay stay;
    StayviewRadiograph *list;
    size_t n;
    size_t cur, top;
    /* the image on hand */
    char img_dicom[96];
    char img_error[PS_ERRMSG_MAX];
    uint8_t *pix;
    int w, h;
    long img_ms;
} Rad;

static PsStatus load(void *ctx, Store *st, const void *req, void *res, PsErr *err)
{
    (void)ctx;
    RadResult *r = res;
    const RadJob *job = req;
    if (!job->dicom[0]) {
        PsStatus rc = store_get_stay(st, job->stay_id, &r->stay);
        if (rc == PS_OK) rc = stayview_radiographs(st, job->stay_id, &r->list, &r->n);
        return rc;
    }
    StoreRadiograph meta;
    unsigned char *jpeg = NULL;
    PsStatus rc = store_get_radiograph(st, job->dicom, &meta, &jpeg);
    if (rc != PS_OK) return rc;
    if (!jpeg) return ps_err(err, PS_ERR_NOTFOUND, "no image stored for this radiograph");
    unsigned char *px = NULL;
    rc = jpeg_decode_gray(&px, &r->w, &r->h, jpeg, meta.jpeg_size, 0, 0, "radiograph", err);
    free(jpeg);
    r->pix = px;
    return rc;
}

static void free_result(void *res)
{
    RadResult *r = res;
    free(r->list);
    free(r->pix);
    r->list = NULL;
    r->pix = NULL;
}

static void start_job(Rad *v, int64_t stay_id, const char *dicom)
{
    v->job.stay_id = stay_id;
    snprintf(v->job.dicom, sizeof v->job.dicom, "%s", dicom ? dicom : "");
    worker_post(v->worker, &v->job);
}

static void *rad_open(App *app)
{
    Rad *v = calloc(1, sizeof *v);
    if (!v) {
        app_status(app, "radiograph: out of memory");
        return NULL;
    }
    if (app->opt.store_path) {
        WorkerSpec spec = {.req_size = sizeof(RadJob), .res_size = sizeof(RadResult), .run = load,
                           .free_result = free_result};
        PsErr err = {{0}};
        if (worker_start(&v->worker, app->opt.store_path, &spec, &err) != PS_OK)
            snprintf(v->error, sizeof v->error, "cannot start the loader thread");
    }
    return v;
}

static void rad_close(void *state)
{
    Rad *v = state;
    if (!v) return;
    worker_stop(v->worker);
    free(v->list);
    free(v->pix);
    free(v);
}

/* The radiograph to show first: the pair, else the latest in the stay, else the last one. */
static size_t default_cursor(const Rad *v)
{
    size_t in = (size_t)-1;
    for (size_t i = 0; i < v->n; i++) {
        if (v->list[i].reason == STAYVIEW_PAIRED) return i;
        if (v->list[i].study_time >= v->stay.intime && v->list[i].study_time <= v->stay.outtime) in = i;
    }
    return in != (size_t)-1 ? in : v->n ? v->n - 1 : 0;
}

static int rad_tick(void *state, App *app)
{
    Rad *v = state;
    int changed = 0;
    if (!v->worker) return 0;
    RadResult r;
    WorkerDone d;
    if (app_take(app, v->worker, &r, &d)) {
        changed = 1;
        /* a delivered result answers the newest job, v->job */
        if (!v->job.dicom[0]) {
            if (v->job.stay_id == app->selected_stay) {
                free(v->list);
                v->list = r.list;
                v->n = r.n;
                r.list = NULL;
                v->list_stay = v->job.stay_id;
                if (d.rc != PS_OK) snprintf(v->error, sizeof v->error, "%s", d.err);
                else {
                    v->error[0] = 0;
                    v->stay = r.stay;
                    v->cur = default_cursor(v);
                    v->top = 0;
                }
            }
            free(r.list);
        } else {
            free(v->pix);
            v->pix = r.pix;
            v->w = r.w;
            v->h = r.h;
            v->img_ms = d.ms;
            snprintf(v->img_dicom, sizeof v->img_dicom, "%s", v->job.dicom);
            snprintf(v->img_error, sizeof v->img_error, "%s", d.rc != PS_OK ? d.err : "");
        }
    }
    /* one job at a time, as the list decides which image comes next */
    if (worker_pending(v->worker)) return changed;
    if (app->selected_stay && app->selected_stay != v->asked_stay) {
        v->asked_stay = app->selected_stay;
        start_job(v, app->selected_stay, NULL);
        return 1;
    }
    if (v->list_stay == app->selected_stay && !v->error[0] && v->cur < v->n) {
        const StayviewRadiograph *c = &v->list[v->cur];
        if (c->has_image && strcmp(c->dicom_id, v->img_dicom) != 0) {
            start_job(v, app->selected_stay, c->dicom_id);
            changed = 1;
        }
    }
    return changed;
}

static int rad_busy(void *state)
{
    const Rad *v = state;
    return v->worker && worker_pending(v->worker);
}

/* ---- drawing ------------------------------------------------------------------------------- */

/* "+42h", "-3.5d" relative to intime. */
static void rel_time(char *buf, size_t n, double hours)
{
    if (fabs(hours) < 48) snprintf(buf, n, "%+.0fh", hours);
    else snprintf(buf, n, "%+.1fd", hours / 24);
}

static char view_letter(const char *view)
{
    if (!strcmp(view, "AP")) return 'A';
    if (!strcmp(view, "PA")) return 'P';
    if (!strncmp(view, "LAT", 3) || !strcmp(view, "LL")) return 'L';
    return view[0] >= 'A' && view[0] <= 'Z' ? view[0] : '?';
}

static uint64_t dicom_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ? h : 1;
}

static void draw_timeline(Rad *v, App *app, int y, int x, int w)
{
    if (w < 10) return;
    int64_t tmin = v->stay.intime, tmax = v->stay.outtime;
    for (size_t i = 0; i < v->n; i++) {
        if (v->list[i].study_time < tmin) tmin = v->list[i].study_time;
        if (v->list[i].study_time > tmax) tmax = v->list[i].study_time;
    }
    /* a little margin so markers at the ends do not sit on the frame */
    int64_t pad = (tmax - tmin) / 40 + 1;
    int inner = w - 2;
    int cin = 1 + screen_radiograph_column(v->stay.intime, tmin - pad, tmax + pad, v->stay.intime, v->stay.outtime, inner);
    int cout = 1 + screen_radiograph_column(v->stay.outtime, tmin - pad, tmax + pad, v->stay.intime, v->stay.outtime, inner);
    for (int c = 0; c < w; c++) app_put(app, y, x + c, 1, THEME_DIM, 0, app->utf8 ? "\u2500" : "-");
    for (int c = cin; c <= cout; c++) app_put(app, y, x + c, 1, THEME_ACCENT, A_BOLD, app->utf8 ? "\u2550" : "=");
    app_put(app, y, x + cin, 1, THEME_ACCENT, A_BOLD, app->utf8 ? "\u2560" : "[");
    app_put(app, y, x + cout, 1, THEME_ACCENT, A_BOLD, app->utf8 ? "\u2563" : "]");
    /* markers; a taken column pushes the next marker right */
    char *taken = calloc((size_t)w + 1, 1);
    if (!taken) return;
    for (size_t i = 0; i < v->n; i++) {
        int c = 1 + screen_radiograph_column(v->list[i].study_time, tmin - pad, tmax + pad, v->stay.intime, v->stay.outtime, inner);
        while (c < w - 1 && taken[c]) c++;
        taken[c] = 1;
        char m[2] = {view_letter(v->list[i].view), 0};
        ThemeRole role = v->list[i].reason == STAYVIEW_PAIRED ? THEME_GOOD : THEME_NORMAL;
        attr_t extra = i == v->cur ? A_REVERSE | A_BOLD : v->list[i].reason == STAYVIEW_PAIRED ? A_BOLD : 0;
        app_put(app, y, x + c, 1, role, extra, m);
    }
    free(taken);
    /* labels under the bar: where the stay begins and ends, and the span's ends */
    char a[32], b[32];
    const char *in_l = "ICU in", *out_l = "out";
    app_put(app, y + 1, x + cin, (int)strlen(in_l), THEME_ACCENT, 0, in_l);
    int ox = x + cout - (int)strlen(out_l) + 1;
    if (ox > x + cin + (int)strlen(in_l)) app_put(app, y + 1, ox, (int)strlen(out_l), THEME_ACCENT, 0, out_l);
    rel_time(a, sizeof a, (double)(tmin - v->stay.intime) / 3600.0);
    rel_time(b, sizeof b, (double)(tmax - v->stay.intime) / 3600.0);
    if (tmin < v->stay.intime && cin > (int)strlen(a) + 1) app_put(app, y + 1, x, (int)strlen(a), THEME_DIM, 0, a);
    if (tmax > v->stay.outtime && w - cout > (int)strlen(b) + 1) app_put(app, y + 1, x + w - (int)strlen(b), (int)strlen(b), THEME_DIM, 0, b);
}

static void draw_findings(Rad *v, App *app, int y, int x, int w, int h)
{
    const StayviewRadiograph *c = &v->list[v->cur];
    app_put(app, y, x, w, THEME_HEADER, 0, "CheXpert findings");
    int rows = h - 1;
    if (rows < 1) return;
    int two = rows < CATALOG_N_CHEXPERT + 1;
    int per = two ? (CATALOG_N_CHEXPERT + 1) / 2 : CATALOG_N_CHEXPERT;
    int cw = two ? w / 2 : w;
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++) {
        int col = k / per, row = k % per;
        if (row >= rows) continue;
        int v8 = c->chexpert[k];
        const char *sym = v8 == CHEX_POSITIVE ? "+" : v8 == CHEX_NEGATIVE ? (app->utf8 ? "\u2212" : "-")
                          : v8 == CHEX_UNCERTAIN ? "?" : " ";
        ThemeRole role = v8 == CHEX_POSITIVE ? THEME_BAD : v8 == CHEX_NEGATIVE ? THEME_GOOD
                         : v8 == CHEX_UNCERTAIN ? THEME_WARN : THEME_DIM;
        int yy = y + 1 + row, xx = x + col * cw;
        app_put(app, yy, xx + 1, 1, role, A_BOLD, sym);
        app_put(app, yy, xx + 3, cw - 4, v8 == CHEX_MISSING ? THEME_DIM : THEME_NORMAL, v8 == CHEX_POSITIVE ? A_BOLD : 0,
                catalog_chexpert[k]);
    }
    if (rows > (two ? per : CATALOG_N_CHEXPERT) + 1)
        app_put(app, y + 1 + (two ? per : CATALOG_N_CHEXPERT) + 1, x + 1, w - 1, THEME_DIM, 0,
                app->utf8 ? "+ positive  \u2212 negative  ? uncertain  blank: not mentioned"
                          : "+ positive  - negative  ? uncertain  blank: not mentioned");
}

static void rad_draw(void *state, App *app, UiRect r)
{
    Rad *v = state;
    if (r.h < 6) return;
    if (!app->selected_stay) {
        app_put(app, r.y + 1, r.x + 1, r.w - 2, THEME_DIM, 0,
                "No stay selected. Press 1 for the cohort, then Enter on a stay.");
        return;
    }
    if (v->error[0] && v->list_stay == app->selected_stay) {
        char line[PS_ERRMSG_MAX + 40];
        snprintf(line, sizeof line, "Cannot read the radiographs: %s", v->error);
        app_put(app, r.y + 1, r.x + 1, r.w - 2, THEME_BAD, 0, line);
        return;
    }
    if (v->list_stay != app->selected_stay) {
        app_put(app, r.y + 1, r.x + 1, r.w - 2, THEME_DIM, 0, "Loading the radiographs...");
        return;
    }
    char id[32], subj[32], line[PS_ERRMSG_MAX + 64], dic[128];
    screen_stay_id_text(id, sizeof id, v->stay.stay_id, app->opt.mask_ids, app->utf8);
    screen_stay_id_text(subj, sizeof subj, v->stay.subject_id, app->opt.mask_ids, app->utf8);
    size_t paired = (size_t)-1;
    for (size_t i = 0; i < v->n; i++)
        if (v->list[i].reason == STAYVIEW_PAIRED) paired = i;
    const char *dot = app->utf8 ? " \u00b7 " : " | ";
    char pt[24] = "";
    if (paired != (size_t)-1) rel_time(pt, sizeof pt, v->list[paired].hours);
    snprintf(line, sizeof line, "Stay %s%ssubject %s%s%zu radiograph%s of this subject%s%s%s", id, dot, subj, dot, v->n,
             v->n == 1 ? "" : "s", dot,
             paired != (size_t)-1 ? "paired with the AP at " : "unpaired: no AP radiograph within the stay", pt);
    app_put(app, r.y, r.x, r.w, THEME_ACCENT, A_BOLD, line);
    if (v->n == 0) {
        app_put(app, r.y + 2, r.x + 1, r.w - 2, THEME_DIM, 0, "This subject has no radiographs in the store.");
        return;
    }
    draw_timeline(v, app, r.y + 1, r.x + 1, r.w - 2);

    int top = r.y + 4, avail = r.h - 4;
    int lw = r.w >= 150 ? 60 : r.w >= 110 ? 50 : 40;
    if (lw > r.w / 2) lw = r.w / 2;
    /* list: as many rows as radiographs, leaving the findings at least 8 rows */
    int detail = 3;
    int want = (int)v->n;
    int findings_h = avail - 1 - detail - 1;
    int list_rows = want;
    if (findings_h - list_rows < 8) list_rows = findings_h - 8;
    if (findings_h - list_rows > CATALOG_N_CHEXPERT + 3) list_rows = want;
    if (list_rows < 1) list_rows = 1;
    if (list_rows > want) list_rows = want;
    snprintf(line, sizeof line, "Radiographs (%zu)", v->n);
    app_put(app, top - 1, r.x, lw, THEME_HEADER, 0, line);
    if (v->cur < v->top) v->top = v->cur;
    if (v->cur >= v->top + (size_t)list_rows) v->top = v->cur - (size_t)list_rows + 1;
    for (int i = 0; i < list_rows && v->top + (size_t)i < v->n; i++) {
        size_t k = v->top + (size_t)i;
        const StayviewRadiograph *c = &v->list[k];
        char t[24], reason[96], view[24];
        sanitize_for_locale(view, sizeof view, c->view, app->utf8);
        rel_time(t, sizeof t, c->hours);
        stayview_reason_text(reason, sizeof reason, c->reason, view);
        snprintf(line, sizeof line, "%s%c %6s %-7s %s", k == v->cur ? (app->utf8 ? "\u25b6" : ">") : " ",
                 view_letter(c->view), t, view[0] ? view : "?", reason);
        ThemeRole role = c->reason == STAYVIEW_PAIRED ? THEME_GOOD : c->reason == STAYVIEW_EARLIER_AP || c->reason == STAYVIEW_NOT_AP ? THEME_NORMAL : THEME_DIM;
        app_put(app, top + i, r.x, lw, k == v->cur ? THEME_SELECTED : role, 0, line);
    }
    /* the selected radiograph in detail */
    const StayviewRadiograph *c = &v->list[v->cur];
    int dy = top + list_rows + 1;
    char safe[128], reason[96], view[24], t[24];
    sanitize_for_locale(safe, sizeof safe, c->dicom_id, app->utf8);
    if (app->opt.mask_ids) snprintf(dic, sizeof dic, "%s", app->utf8 ? "\u2022\u2022\u2022\u2022\u2022\u2022" : "******");
    else snprintf(dic, sizeof dic, "%s", safe);
    sanitize_for_locale(view, sizeof view, c->view, app->utf8);
    rel_time(t, sizeof t, c->hours);
    const char *split = c->split == SPLIT_TRAIN ? "train" : c->split == SPLIT_VAL ? "val" : c->split == SPLIT_TEST ? "test" : "no split";
    snprintf(line, sizeof line, "%zu/%zu  dicom %s", v->cur + 1, v->n, dic);
    app_put(app, dy, r.x + 1, lw - 1, THEME_NORMAL, A_BOLD, line);
    snprintf(line, sizeof line, "%s %s ICU admission (%.1f h)%s%s%s%s", t, c->hours < 0 ? "before" : "after",
             (double)c->hours, dot, view[0] ? view : "no view", dot, split);
    app_put(app, dy + 1, r.x + 1, lw - 1, THEME_DIM, 0, line);
    stayview_reason_text(reason, sizeof reason, c->reason, view);
    app_put(app, dy + 2, r.x + 1, lw - 1, c->reason == STAYVIEW_PAIRED ? THEME_GOOD : THEME_WARN, A_BOLD, reason);
    int fy = dy + detail + 1;
    draw_findings(v, app, fy - 1, r.x, lw, r.y + r.h - fy + 1);

    /* the image: everything right of the panel, under the timeline */
    int ix = r.x + lw + 1, iy = top - 1, iw = r.w - lw - 1, ih = r.y + r.h - iy;
    if (iw < 4 || ih < 2) return;
    if (!c->has_image) {
        app_put(app, iy + ih / 2, ix + 2, iw - 2, THEME_DIM, 0,
                "No image stored for this radiograph.");
    } else if (strcmp(v->img_dicom, c->dicom_id) != 0) {
        app_put(app, iy + ih / 2, ix + 2, iw - 2, THEME_DIM, 0, "Loading the image...");
    } else if (v->img_error[0] || !v->pix) {
        snprintf(line, sizeof line, "Cannot show the image: %s", v->img_error);
        app_put(app, iy + ih / 2, ix + 2, iw - 2, THEME_BAD, 0, line);
    } else {
        image_view_place(&app->images, stdscr, iy, ix, ih, iw, v->pix, v->w, v->h, dicom_hash(c->dicom_id));
    }
}

static int rad_key(void *state, App *app, int key)
{
    Rad *v = state;
    (void)app;
    if (v->list_stay != app->selected_stay || v->n == 0) return SCREEN_KEY_IGNORED;
    switch (key) {
    case KEY_UP:
    case KEY_LEFT:
    case 'k':
    case 'h':
        if (v->cur > 0) v->cur--;
        return SCREEN_KEY_USED;
    case KEY_DOWN:
    case KEY_RIGHT:
    case 'j':
    case 'l':
        if (v->cur + 1 < v->n) v->cur++;
        return SCREEN_KEY_USED;
    case KEY_HOME:
    case 'g': v->cur = 0; return SCREEN_KEY_USED;
    case KEY_END:
    case 'G': v->cur = v->n - 1; return SCREEN_KEY_USED;
    case 'p':
        for (size_t i = 0; i < v->n; i++)
            if (v->list[i].reason == STAYVIEW_PAIRED) v->cur = i;
        return SCREEN_KEY_USED;
    }
    return SCREEN_KEY_IGNORED;
}

static const char *rad_hints(void *state, App *app)
{
    (void)state;
    (void)app;
    return "Up/Down radiograph  p paired one  2 stay  Esc/q back  ? help";
}

const UiScreen screen_radiograph = {
    .name = "Radiograph",
    .open = rad_open,
    .close = rad_close,
    .draw = rad_draw,
    .on_key = rad_key,
    .on_tick = rad_tick,
    .busy = rad_busy,
    .hints = rad_hints,
};
