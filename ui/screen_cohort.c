/* screen_cohort.c — screen 1, the cohort browser: every ICU stay in a sortable table with
 * incremental search, filters (split, paired only, has phenotype X) and the funnel line that
 * says how the cohort was derived.
 *
 * The store is read by a worker thread with its own Store handle (ui/worker.h; one query,
 * store/cohort.c);
 * the UI thread picks the result up in on_tick and never waits for it. Sorting, filtering and
 * search run in memory through the table widget. All text from the store is sanitised here
 * before it reaches the table. The screen adds no logic beyond viewing: it computes nothing a
 * headless verb would need.
 *
 * Thread safety: the worker runs load_cohort on its own Store and result slot; everything else
 * belongs to the UI thread.
 */
#include "ui/screen_cohort.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/catalog.h"
#include "ui/app.h"
#include "store/sanitize.h"
#include "ui/worker.h"

/* ---- the table model ---------------------------------------------------------------------- */

static const TableColumn cohort_cols[COHORT_N_COLS] = {
    [COHORT_COL_STAY] = {.title = "Stay", .width = 8, .align = TABLE_RIGHT},
    [COHORT_COL_SUBJECT] = {.title = "Subject", .width = 8, .align = TABLE_RIGHT, .drop = 3},
    [COHORT_COL_AGE] = {.title = "Age", .width = 3, .align = TABLE_RIGHT},
    [COHORT_COL_SEX] = {.title = "Sex", .width = 3, .align = TABLE_LEFT},
    [COHORT_COL_UNIT] = {.title = "Unit", .width = 10, .align = TABLE_LEFT, .drop = 2},
    [COHORT_COL_LOS] = {.title = "LOS d", .width = 6, .align = TABLE_RIGHT},
    [COHORT_COL_CXR] = {.title = "CXR", .width = 5, .align = TABLE_RIGHT},
    [COHORT_COL_SPLIT] = {.title = "Split", .width = 5, .align = TABLE_LEFT},
    [COHORT_COL_NPOS] = {.title = "Ph+", .width = 3, .align = TABLE_RIGHT},
    [COHORT_COL_PHENOTYPES] = {.title = "Positive phenotypes", .width = 0, .min_width = 12, .drop = 4},
};

static const char *split_name(int s)
{
    switch (s) {
    case SPLIT_TRAIN: return "train";
    case SPLIT_VAL: return "val";
    case SPLIT_TEST: return "test";
    default: return "-";
    }
}

void cohort_unit_short(char *dst, size_t n, const char *unit, int utf8)
{
    const char *open = strrchr(unit, '('), *close = open ? strchr(open, ')') : NULL;
    char tmp[COHORT_UNIT_MAX];
    if (open && close && close > open + 1) {
        snprintf(tmp, sizeof tmp, "%.*s", (int)(close - open - 1), open + 1);
        sanitize_for_locale(dst, n, tmp, utf8);
    } else {
        sanitize_for_locale(dst, n, unit, utf8);
    }
}

static void cohort_cell(void *ctx, size_t row, int col, char *buf, size_t n, ThemeRole *role)
{
    const CohortModel *m = ctx;
    const CohortRow *r = &m->rows[row];
    const char *mask = m->utf8 ? "\u2022\u2022\u2022\u2022\u2022\u2022" : "******";
    switch (col) {
    case COHORT_COL_STAY:
        snprintf(buf, n, "%s", m->mask_ids ? mask : m->ids[row][0]);
        break;
    case COHORT_COL_SUBJECT:
        snprintf(buf, n, "%s", m->mask_ids ? mask : m->ids[row][1]);
        *role = THEME_DIM;
        break;
    case COHORT_COL_AGE:
        if (r->age >= 0) snprintf(buf, n, "%d", r->age);
        else snprintf(buf, n, "?");
        break;
    case COHORT_COL_SEX: snprintf(buf, n, "%c", r->gender); break;
    case COHORT_COL_UNIT: snprintf(buf, n, "%s", m->unit_short[m->unit_of[row]]); break;
    case COHORT_COL_LOS:
        if (r->los_days >= 0) snprintf(buf, n, "%.1f", r->los_days);
        else snprintf(buf, n, "?");
        break;
    case COHORT_COL_CXR:
        if (r->paired) {
            snprintf(buf, n, "%d %s", r->n_cxr, m->utf8 ? "\u2713" : "*");
            *role = THEME_GOOD;
        } else {
            snprintf(buf, n, "%d  ", r->n_cxr);
            if (r->n_cxr == 0) *role = THEME_DIM;
        }
        break;
    case COHORT_COL_SPLIT:
        snprintf(buf, n, "%s", split_name(r->split));
        *role = r->split == SPLIT_TRAIN ? THEME_SPLIT_TRAIN
                : r->split == SPLIT_VAL ? THEME_SPLIT_VAL
                : r->split == SPLIT_TEST ? THEME_SPLIT_TEST
                                         : THEME_DIM;
        break;
    case COHORT_COL_NPOS:
        if (r->n_pos < 0) {
            snprintf(buf, n, "-");
            *role = THEME_DIM;
        } else {
            snprintf(buf, n, "%d", r->n_pos);
            if (r->n_pos > 0) *role = THEME_ACCENT;
        }
        break;
    case COHORT_COL_PHENOTYPES: {
        size_t k = 0;
        buf[0] = 0;
        for (int i = 0; i < CATALOG_N_PHENOTYPES && k + 1 < n; i++) {
            if (!(r->pheno_mask & (1u << i))) continue;
            int w = snprintf(buf + k, n - k, "%s%s", k ? ", " : "", catalog_phenotypes[i].brief);
            if (w < 0) break;
            k += (size_t)w;
        }
        *role = THEME_DIM;
        break;
    }
    default: buf[0] = 0;
    }
}

static int cmp_i64(int64_t a, int64_t b) { return a < b ? -1 : a > b; }
static int cmp_dbl(double a, double b) { return a < b ? -1 : a > b; }

static int cohort_compare(void *ctx, size_t a, size_t b, int col)
{
    const CohortModel *m = ctx;
    const CohortRow *x = &m->rows[a], *y = &m->rows[b];
    switch (col) {
    case COHORT_COL_STAY: return cmp_i64(x->stay_id, y->stay_id);
    case COHORT_COL_SUBJECT:
        return x->subject_id != y->subject_id ? cmp_i64(x->subject_id, y->subject_id)
                                              : cmp_i64(x->stay_id, y->stay_id);
    case COHORT_COL_AGE: return cmp_i64(x->age, y->age);
    case COHORT_COL_SEX: return cmp_i64(x->gender, y->gender);
    case COHORT_COL_UNIT: return cmp_i64(m->unit_rank[m->unit_of[a]], m->unit_rank[m->unit_of[b]]);
    case COHORT_COL_LOS: return cmp_dbl(x->los_days, y->los_days);
    case COHORT_COL_CXR:
        return x->paired != y->paired ? cmp_i64(x->paired, y->paired) : cmp_i64(x->n_cxr, y->n_cxr);
    case COHORT_COL_SPLIT: return cmp_i64(x->split, y->split);
    case COHORT_COL_NPOS:
    case COHORT_COL_PHENOTYPES: return cmp_i64(x->n_pos, y->n_pos);
    }
    return 0;
}

/* The same order as cohort_compare, as radix keys. */
static void cohort_sort_key(void *ctx, size_t row, int col, uint64_t key[2])
{
    const CohortModel *m = ctx;
    const CohortRow *r = &m->rows[row];
    key[1] = 0;
    switch (col) {
    case COHORT_COL_STAY: key[0] = table_key_i64(r->stay_id); return;
    case COHORT_COL_SUBJECT:
        key[0] = table_key_i64(r->subject_id);
        key[1] = table_key_i64(r->stay_id);
        return;
    case COHORT_COL_AGE: key[0] = table_key_i64(r->age); return;
    case COHORT_COL_SEX: key[0] = table_key_i64(r->gender); return;
    case COHORT_COL_UNIT: key[0] = table_key_i64(m->unit_rank[m->unit_of[row]]); return;
    case COHORT_COL_LOS: key[0] = table_key_dbl(r->los_days); return;
    case COHORT_COL_CXR:
        key[0] = table_key_i64(r->paired);
        key[1] = table_key_i64(r->n_cxr);
        return;
    case COHORT_COL_SPLIT: key[0] = table_key_i64(r->split); return;
    case COHORT_COL_NPOS:
    case COHORT_COL_PHENOTYPES: key[0] = table_key_i64(r->n_pos); return;
    }
    key[0] = 0;
}

static int cohort_keep(void *ctx, size_t row)
{
    const CohortModel *m = ctx;
    const CohortRow *r = &m->rows[row];
    if (m->split != COHORT_SPLIT_ALL && r->split != m->split) return 0;
    if (m->paired_only && !r->paired) return 0;
    if (m->pheno >= 0 && (r->n_pos < 0 || !(r->pheno_mask & (1u << m->pheno)))) return 0;
    return 1;
}

/* Case-insensitive search in the identifiers (unless masked), the unit and the names of the
 * stay's positive phenotypes — what the user sees in the row. Units and phenotype names are
 * few, so they are matched once per search here, and per row only by index. */
static void cohort_begin_search(void *ctx, const char *needle)
{
    CohortModel *m = ctx;
    for (size_t u = 0; u < m->n_units; u++)
        m->unit_hit[u] = strcasestr(m->units[u], needle) || strcasestr(m->unit_short[u], needle);
    m->pheno_hit = 0;
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++)
        if (strcasestr(catalog_phenotypes[i].brief, needle) || strcasestr(catalog_phenotypes[i].name, needle))
            m->pheno_hit |= 1u << i;
}

static int cohort_match(void *ctx, size_t row, const char *needle)
{
    const CohortModel *m = ctx;
    const CohortRow *r = &m->rows[row];
    if (m->unit_hit[m->unit_of[row]]) return 1;
    if (r->n_pos > 0 && (r->pheno_mask & m->pheno_hit)) return 1;
    if (!m->mask_ids && (strstr(m->ids[row][0], needle) || strstr(m->ids[row][1], needle))) return 1;
    return 0;
}

static int cmp_unit_idx(const void *a, const void *b, void *arg)
{
    const CohortModel *m = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcasecmp(m->unit_short[x], m->unit_short[y]);
    return c ? c : strcmp(m->units[x], m->units[y]);
}

PsStatus cohort_model_init(CohortModel *m, const CohortRow *rows, size_t n, int mask_ids, int utf8,
                           PsErr *err)
{
    memset(m, 0, sizeof *m);
    m->rows = rows;
    m->n = n;
    m->split = COHORT_SPLIT_ALL;
    m->pheno = COHORT_PHENO_ANY;
    m->mask_ids = mask_ids;
    m->utf8 = utf8;
    size_t cap = 16;
    size_t *idx = NULL;
    m->unit_of = calloc(n ? n : 1, sizeof *m->unit_of);
    m->ids = calloc(n ? n : 1, sizeof *m->ids);
    m->units = calloc(cap, sizeof *m->units);
    if (!m->unit_of || !m->ids || !m->units) goto nomem;
    for (size_t i = 0; i < n; i++) {
        snprintf(m->ids[i][0], sizeof m->ids[i][0], "%lld", (long long)rows[i].stay_id);
        snprintf(m->ids[i][1], sizeof m->ids[i][1], "%lld", (long long)rows[i].subject_id);
        /* Units repeat in runs of a few names; the last hit is the likely one. */
        size_t u = m->n_units;
        if (i > 0 && strcmp(m->units[m->unit_of[i - 1]], rows[i].unit) == 0) u = m->unit_of[i - 1];
        else
            for (size_t k = 0; k < m->n_units; k++)
                if (strcmp(m->units[k], rows[i].unit) == 0) {
                    u = k;
                    break;
                }
        if (u == m->n_units) {
            if (m->n_units == COHORT_MAX_UNITS) {
                u = COHORT_MAX_UNITS - 1; /* beyond 4096 distinct units: they share the last slot */
            } else {
                if (m->n_units == cap) {
                    cap *= 2;
                    char(*nu)[COHORT_UNIT_MAX] = realloc(m->units, cap * sizeof *nu);
                    if (!nu) goto nomem;
                    m->units = nu;
                }
                snprintf(m->units[m->n_units], COHORT_UNIT_MAX, "%s", rows[i].unit);
                m->n_units++;
            }
        }
        m->unit_of[i] = (uint16_t)u;
    }
    size_t nu = m->n_units ? m->n_units : 1;
    m->unit_short = calloc(nu, sizeof *m->unit_short);
    m->unit_rank = calloc(nu, sizeof *m->unit_rank);
    m->unit_hit = calloc(nu, sizeof *m->unit_hit);
    idx = calloc(nu, sizeof *idx);
    if (!m->unit_short || !m->unit_rank || !m->unit_hit || !idx) goto nomem;
    for (size_t u = 0; u < m->n_units; u++) {
        cohort_unit_short(m->unit_short[u], sizeof m->unit_short[u], m->units[u], utf8);
        idx[u] = u;
    }
    qsort_r(idx, m->n_units, sizeof *idx, cmp_unit_idx, m);
    for (size_t k = 0; k < m->n_units; k++) m->unit_rank[idx[k]] = (int)k;
    free(idx);
    return PS_OK;
nomem:
    free(idx);
    cohort_model_done(m);
    return ps_err(err, PS_ERR_NOMEM, "cohort: no memory for %zu stays", n);
}

void cohort_model_done(CohortModel *m)
{
    free(m->unit_of);
    free(m->ids);
    free(m->units);
    free(m->unit_short);
    free(m->unit_rank);
    free(m->unit_hit);
    m->unit_of = NULL;
    m->ids = NULL;
    m->units = NULL;
    m->unit_short = NULL;
    m->unit_rank = NULL;
    m->unit_hit = NULL;
    m->n_units = 0;
}

const TableSpec cohort_table_spec = {
    .cols = cohort_cols,
    .n_cols = COHORT_N_COLS,
    .cell = cohort_cell,
    .compare = cohort_compare,
    .sort_key = cohort_sort_key,
    .keep = cohort_keep,
    .begin_search = cohort_begin_search,
    .match = cohort_match,
};

/* ---- the screen --------------------------------------------------------------------------- */

/* The loader's result (the whole cohort, one query). */
typedef struct {
    CohortRow *rows;
    size_t n;
    CohortFunnelStep *funnel;
    size_t nf;
} CohortLoad;

typedef struct {
    Worker *worker;
    int loaded;
    char error[PS_ERRMSG_MAX];
    CohortRow *rows;
    size_t n;
    CohortFunnelStep *funnel;
    size_t nf;
    long load_ms;
    int pheno_count[CATALOG_N_PHENOTYPES];

    CohortModel model;
    Table table;
    int searching;
    char search[TABLE_SEARCH_MAX];
    int picking, pick; /* phenotype picker: open, cursor (0 = any, i+1 = phenotype i) */
} Cohort;

/* 52000 -> "52,000" */
static void fmt_count(char *buf, size_t n, long long v)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
    size_t k = 0;
    if (v < 0 && k + 1 < n) buf[k++] = '-';
    for (int i = 0; i < len && k + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = 0;
}

static PsStatus load_cohort(void *ctx, Store *st, const void *req, void *res, PsErr *err)
{
    (void)ctx;
    (void)req;
    (void)err;
    CohortLoad *r = res;
    PsStatus rc = store_cohort_load(st, &r->rows, &r->n);
    if (rc == PS_OK) rc = store_cohort_funnel(st, &r->funnel, &r->nf);
    return rc;
}

static void free_load(void *res)
{
    CohortLoad *r = res;
    free(r->rows);
    free(r->funnel);
    r->rows = NULL;
    r->funnel = NULL;
}

/* Asks the worker for the cohort; 0 when there is no worker (c->error says why). */
static int start_loader(Cohort *c)
{
    if (!c->worker) return 0;
    worker_post(c->worker, NULL);
    return 1;
}

static void *cohort_open(App *app)
{
    Cohort *c = calloc(1, sizeof *c);
    if (!c) {
        app_status(app, "cohort: out of memory");
        return NULL;
    }
    c->model.split = COHORT_SPLIT_ALL;
    c->model.pheno = COHORT_PHENO_ANY;
    table_init(&c->table, &cohort_table_spec, &c->model);
    if (!app->opt.store_path) {
        snprintf(c->error, sizeof c->error, "no store given");
        return c;
    }
    WorkerSpec spec = {.res_size = sizeof(CohortLoad), .run = load_cohort, .free_result = free_load};
    PsErr err = {{0}};
    if (worker_start(&c->worker, app->opt.store_path, &spec, &err) != PS_OK)
        snprintf(c->error, sizeof c->error, "cannot start the cohort loader thread");
    start_loader(c);
    return c;
}

static void cohort_close(void *state)
{
    Cohort *c = state;
    if (!c) return;
    worker_stop(c->worker);
    free(c->rows);
    free(c->funnel);
    table_done(&c->table);
    cohort_model_done(&c->model);
    free(c);
}

static int cohort_tick(void *state, App *app)
{
    Cohort *c = state;
    CohortLoad r;
    WorkerDone d;
    if (!app_take(app, c->worker, &r, &d)) return 0;
    if (d.rc != PS_OK) {
        /* A failed reload keeps the rows on screen and says why. */
        if (c->loaded) app_status(app, "Reload failed: %s", d.err);
        else snprintf(c->error, sizeof c->error, "%s", d.err);
        free(r.rows);
        free(r.funnel);
        return 1;
    }
    /* A reload keeps the user's filters, sort and search over the new rows. */
    CohortModel keep = c->model;
    int reload = c->loaded;
    cohort_model_done(&c->model);
    free(c->rows);
    free(c->funnel);
    c->rows = r.rows;
    c->n = r.n;
    c->funnel = r.funnel;
    c->nf = r.nf;
    c->load_ms = d.ms;
    c->loaded = 0;
    PsErr err;
    if (cohort_model_init(&c->model, c->rows, c->n, app->opt.mask_ids, app->utf8, &err) != PS_OK) {
        snprintf(c->error, sizeof c->error, "%s", err.msg);
        return 1;
    }
    c->model.split = keep.split;
    c->model.paired_only = keep.paired_only;
    c->model.pheno = keep.pheno;
    memset(c->pheno_count, 0, sizeof c->pheno_count);
    for (size_t i = 0; i < c->n; i++)
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++)
            if (c->rows[i].pheno_mask & (1u << k)) c->pheno_count[k]++;
    if (table_set_rows(&c->table, c->n, &err) != PS_OK) {
        snprintf(c->error, sizeof c->error, "%s", err.msg);
        return 1;
    }
    if (c->table.sort_col || c->table.sort_desc) table_sort(&c->table, c->table.sort_col, c->table.sort_desc);
    if (c->search[0]) table_set_search(&c->table, c->search);
    c->loaded = 1;
    char num[32];
    fmt_count(num, sizeof num, (long long)c->n);
    app_status(app, "%s %s stays in %ld ms", reload ? "Reloaded" : "Loaded", num, c->load_ms);
    return 1;
}

static int cohort_busy(void *state)
{
    const Cohort *c = state;
    return (c->worker && worker_pending(c->worker)) || (!c->loaded && !c->error[0]);
}

/* "Cohort (demo): 60,000 ICU stays → 55,000 adults → ..." for each source in the funnel. */
static void funnel_text(const Cohort *c, int utf8, char *buf, size_t n)
{
    size_t k = 0;
    char num[32];
    buf[0] = 0;
    if (c->nf == 0) {
        fmt_count(num, sizeof num, (long long)c->n);
        snprintf(buf, n, "Cohort: %s ICU stays (no derivation recorded in this store)", num);
        return;
    }
    for (size_t i = 0; i < c->nf && k + 1 < n; i++) {
        char src[64], rule[160];
        sanitize_for_locale(src, sizeof src, c->funnel[i].source, utf8);
        sanitize_for_locale(rule, sizeof rule, c->funnel[i].rule, utf8);
        fmt_count(num, sizeof num, (long long)c->funnel[i].count);
        int first = i == 0 || strcmp(c->funnel[i].source, c->funnel[i - 1].source) != 0;
        int w;
        if (first)
            w = snprintf(buf + k, n - k, "%sCohort (%s): %s %s", i ? "  |  " : "", src, num, rule);
        else
            w = snprintf(buf + k, n - k, " %s %s %s", utf8 ? "\u2192" : "->", num, rule);
        if (w < 0) break;
        k += (size_t)w;
    }
}

static void draw_picker(const Cohort *c, App *app, UiRect r)
{
    int h = r.h - 2 < 28 ? r.h - 2 : 28, w = r.w - 4 < 56 ? r.w - 4 : 56;
    if (h < 5 || w < 20) return;
    int y0 = r.y + (r.h - h) / 2, x0 = r.x + (r.w - w) / 2;
    const Theme *th = &app->theme;
    wattrset(stdscr, theme_attr(th, THEME_BORDER));
    for (int y = y0; y < y0 + h; y++) mvhline(y, x0, ' ', w);
    mvhline(y0, x0, ACS_HLINE, w);
    mvhline(y0 + h - 1, x0, ACS_HLINE, w);
    mvvline(y0, x0, ACS_VLINE, h);
    mvvline(y0, x0 + w - 1, ACS_VLINE, h);
    mvaddch(y0, x0, ACS_ULCORNER);
    mvaddch(y0, x0 + w - 1, ACS_URCORNER);
    mvaddch(y0 + h - 1, x0, ACS_LLCORNER);
    mvaddch(y0 + h - 1, x0 + w - 1, ACS_LRCORNER);
    wattrset(stdscr, theme_attr(th, THEME_TITLE));
    table_put_text(stdscr, y0, x0 + 2, w - 4, " Only stays positive for ... ", TABLE_LEFT, app->utf8);
    int body = h - 2, n = CATALOG_N_PHENOTYPES + 1;
    int top = c->pick - body + 1 > 0 ? c->pick - body + 1 : 0;
    for (int i = 0; i < body && top + i < n; i++) {
        int k = top + i;
        char line[160];
        if (k == 0) snprintf(line, sizeof line, "any phenotype");
        else
            snprintf(line, sizeof line, "%-34.34s %6d  %s", catalog_phenotypes[k - 1].name,
                     c->pheno_count[k - 1], catalog_group_name(catalog_phenotypes[k - 1].group));
        wattrset(stdscr, k == c->pick ? theme_attr(th, THEME_SELECTED) : A_NORMAL);
        table_put_text(stdscr, y0 + 1 + i, x0 + 1, w - 2, line, TABLE_LEFT, app->utf8);
    }
    wattrset(stdscr, A_NORMAL);
}

static void cohort_draw(void *state, App *app, UiRect r)
{
    Cohort *c = state;
    const Theme *th = &app->theme;
    char line[1024];
    if (r.h < 4) return;
    if (c->error[0]) {
        wattrset(stdscr, theme_attr(th, THEME_BAD));
        snprintf(line, sizeof line, "Cannot read the cohort: %s", c->error);
        table_put_text(stdscr, r.y + 1, r.x + 1, r.w - 2, line, TABLE_LEFT, app->utf8);
        wattrset(stdscr, A_NORMAL);
        return;
    }
    if (!c->loaded) {
        wattrset(stdscr, theme_attr(th, THEME_DIM));
        table_put_text(stdscr, r.y + 1, r.x + 1, r.w - 2, "Loading the cohort...", TABLE_LEFT, app->utf8);
        wattrset(stdscr, A_NORMAL);
        return;
    }
    funnel_text(c, app->utf8, line, sizeof line);
    wattrset(stdscr, theme_attr(th, THEME_ACCENT));
    /* The funnel may take a second line when it is long and the screen is tall; it breaks
     * before an arrow, so every step stays readable. */
    int fl = 1;
    const char *arrow = app->utf8 ? " \u2192 " : " -> ";
    if (table_text_width(line) > r.w - 2 && r.h >= 16) {
        char first[1024];
        const char *cut = NULL;
        for (const char *p = strstr(line, arrow); p; p = strstr(p + 1, arrow)) {
            snprintf(first, sizeof first, "%.*s", (int)(p - line), line);
            if (table_text_width(first) > r.w - 2) break;
            cut = p;
        }
        if (cut) {
            snprintf(first, sizeof first, "%.*s", (int)(cut - line), line);
            table_put_text(stdscr, r.y, r.x + 1, r.w - 2, first, TABLE_LEFT, app->utf8);
            char rest[1024];
            snprintf(rest, sizeof rest, "  %s", cut + 1);
            table_put_text(stdscr, r.y + 1, r.x + 1, r.w - 2, rest, TABLE_LEFT, app->utf8);
            fl = 2;
        }
    }
    if (fl == 1) table_put_text(stdscr, r.y, r.x + 1, r.w - 2, line, TABLE_LEFT, app->utf8);
    r.y += fl - 1;
    r.h -= fl - 1;

    /* the filter line: what is shown and why; only active filters are named */
    char shown[32], total[32];
    fmt_count(shown, sizeof shown, (long long)c->table.n_view);
    fmt_count(total, sizeof total, (long long)c->n);
    size_t k;
    if (c->table.n_view == c->n && !c->search[0])
        k = (size_t)snprintf(line, sizeof line, "All %s stays", total);
    else
        k = (size_t)snprintf(line, sizeof line, "Showing %s of %s", shown, total);
    if (c->search[0] && k < sizeof line) {
        char safe[TABLE_SEARCH_MAX];
        sanitize_for_locale(safe, sizeof safe, c->search, app->utf8);
        k += (size_t)snprintf(line + k, sizeof line - k, "  search \"%s\"", safe);
    }
    if (c->model.split != COHORT_SPLIT_ALL && k < sizeof line)
        k += (size_t)snprintf(line + k, sizeof line - k, "  split %s", split_name(c->model.split));
    if (c->model.paired_only && k < sizeof line)
        k += (size_t)snprintf(line + k, sizeof line - k, "  paired only");
    if (c->model.pheno >= 0 && k < sizeof line)
        k += (size_t)snprintf(line + k, sizeof line - k, "  has %s", catalog_phenotypes[c->model.pheno].brief);
    wattrset(stdscr, theme_attr(th, THEME_DIM));
    table_put_text(stdscr, r.y + 1, r.x + 1, r.w - 2, line, TABLE_LEFT, app->utf8);
    wattrset(stdscr, A_NORMAL);

    int th_h = r.h - 2 - (c->searching ? 1 : 0);
    table_draw(&c->table, stdscr, r.y + 2, r.x, th_h, r.w, th, app->utf8);
    if (c->table.n_view == 0) {
        wattrset(stdscr, theme_attr(th, THEME_DIM));
        table_put_text(stdscr, r.y + 4, r.x + 2, r.w - 4,
                       c->n ? "No stay matches. Press c to clear the filters." : "The store holds no stays.",
                       TABLE_LEFT, app->utf8);
        wattrset(stdscr, A_NORMAL);
    }
    if (c->searching) {
        char safe[TABLE_SEARCH_MAX];
        sanitize_for_locale(safe, sizeof safe, c->search, app->utf8);
        snprintf(line, sizeof line, "Search: %s_   (Enter keep, Esc clear)", safe);
        wattrset(stdscr, theme_attr(th, THEME_SEARCH));
        table_put_text(stdscr, r.y + r.h - 1, r.x, r.w, line, TABLE_LEFT, app->utf8);
        wattrset(stdscr, A_NORMAL);
    }
    if (c->picking) draw_picker(c, app, r);
}

/* Appends the UTF-8 encoding of code point k to the search text, if it fits. */
static void search_append(Cohort *c, int k)
{
    char mb[8];
    int n = 0;
    unsigned u = (unsigned)k;
    if (u < 0x80) mb[n++] = (char)u;
    else if (u < 0x800) {
        mb[n++] = (char)(0xc0 | (u >> 6));
        mb[n++] = (char)(0x80 | (u & 0x3f));
    } else if (u < 0x10000) {
        mb[n++] = (char)(0xe0 | (u >> 12));
        mb[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
        mb[n++] = (char)(0x80 | (u & 0x3f));
    } else {
        mb[n++] = (char)(0xf0 | (u >> 18));
        mb[n++] = (char)(0x80 | ((u >> 12) & 0x3f));
        mb[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
        mb[n++] = (char)(0x80 | (u & 0x3f));
    }
    size_t len = strlen(c->search);
    if (len + (size_t)n + 1 > sizeof c->search) return;
    memcpy(c->search + len, mb, (size_t)n);
    c->search[len + (size_t)n] = 0;
}

static void search_backspace(Cohort *c)
{
    size_t len = strlen(c->search);
    while (len > 0) {
        len--;
        /* stop at the first byte of a UTF-8 character */
        if (((unsigned char)c->search[len] & 0xc0) != 0x80) break;
    }
    c->search[len] = 0;
}

static int search_key(Cohort *c, int key)
{
    switch (key) {
    case 27: /* Esc: drop the search */
        c->search[0] = 0;
        c->searching = 0;
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
        c->searching = 0; /* keep the narrowed view */
        return SCREEN_KEY_USED;
    case KEY_BACKSPACE:
    case 127:
    case 8:
        search_backspace(c);
        break;
    case 'U' - 64: c->search[0] = 0; break;
    case KEY_UP:
    case KEY_DOWN:
    case KEY_PPAGE:
    case KEY_NPAGE:
        table_key(&c->table, key);
        return SCREEN_KEY_USED;
    default:
        if (term_key_char(key) >= 0) search_append(c, term_key_char(key));
        else
            return SCREEN_KEY_USED; /* swallow function keys while typing */
    }
    table_set_search(&c->table, c->search);
    return SCREEN_KEY_USED;
}

static int picker_key(Cohort *c, int key)
{
    int n = CATALOG_N_PHENOTYPES + 1;
    switch (key) {
    case KEY_UP:
    case 'k': if (c->pick > 0) c->pick--; break;
    case KEY_DOWN:
    case 'j': if (c->pick + 1 < n) c->pick++; break;
    case KEY_PPAGE: c->pick = c->pick > 10 ? c->pick - 10 : 0; break;
    case KEY_NPAGE: c->pick = c->pick + 10 < n ? c->pick + 10 : n - 1; break;
    case KEY_HOME:
    case 'g': c->pick = 0; break;
    case KEY_END:
    case 'G': c->pick = n - 1; break;
    case '\n':
    case '\r':
    case KEY_ENTER:
        c->model.pheno = c->pick - 1;
        c->picking = 0;
        table_refilter(&c->table);
        break;
    case 27:
    case 'q':
    case 'f': c->picking = 0; break;
    default: break; /* the picker is modal */
    }
    return SCREEN_KEY_USED;
}

static int cohort_key(void *state, App *app, int key)
{
    Cohort *c = state;
    if (!c->loaded) return SCREEN_KEY_IGNORED;
    if (c->searching) return search_key(c, key);
    if (c->picking) return picker_key(c, key);
    if (table_key(&c->table, key)) return SCREEN_KEY_USED;
    switch (key) {
    case '/':
        c->searching = 1;
        return SCREEN_KEY_USED;
    case 27:
        if (!c->search[0]) return SCREEN_KEY_IGNORED;
        c->search[0] = 0;
        table_set_search(&c->table, "");
        return SCREEN_KEY_USED;
    case 't': {
        /* all -> train -> val -> test -> all */
        int s = c->model.split;
        c->model.split = s == COHORT_SPLIT_ALL ? SPLIT_TRAIN
                         : s == SPLIT_TRAIN    ? SPLIT_VAL
                         : s == SPLIT_VAL      ? SPLIT_TEST
                                               : COHORT_SPLIT_ALL;
        table_refilter(&c->table);
        return SCREEN_KEY_USED;
    }
    case 'p':
        c->model.paired_only = !c->model.paired_only;
        table_refilter(&c->table);
        return SCREEN_KEY_USED;
    case 'f':
        c->picking = 1;
        c->pick = c->model.pheno + 1;
        return SCREEN_KEY_USED;
    case 'R':
        if (c->worker && !worker_pending(c->worker) && start_loader(c)) app_status(app, "Reloading the cohort...");
        return SCREEN_KEY_USED;
    case 'c':
        c->model.split = COHORT_SPLIT_ALL;
        c->model.paired_only = 0;
        c->model.pheno = COHORT_PHENO_ANY;
        c->search[0] = 0;
        table_set_search(&c->table, "");
        return SCREEN_KEY_USED;
    case '<':
    case ',':
        table_sort(&c->table, (c->table.sort_col + COHORT_N_COLS - 1) % COHORT_N_COLS, c->table.sort_desc);
        return SCREEN_KEY_USED;
    case '>':
    case '.':
        table_sort(&c->table, (c->table.sort_col + 1) % COHORT_N_COLS, c->table.sort_desc);
        return SCREEN_KEY_USED;
    case 'r':
        table_sort(&c->table, c->table.sort_col, !c->table.sort_desc);
        return SCREEN_KEY_USED;
    case '\n':
    case '\r':
    case KEY_ENTER: {
        size_t row = table_selected(&c->table);
        if (row != TABLE_NONE) app_open_stay(app, c->rows[row].stay_id);
        return SCREEN_KEY_USED;
    }
    }
    return SCREEN_KEY_IGNORED;
}

static const char *cohort_hints(void *state, App *app)
{
    const Cohort *c = state;
    (void)app;
    if (c->picking) return "Up/Down choose  Enter apply  Esc cancel";
    if (c->searching) return "type to narrow  Enter keep  Esc clear  Up/Down move";
    return "Enter open  / search  t split  p paired  f phenotype  <>r sort  ? help  q quit";
}

const UiScreen screen_cohort = {
    .name = "Cohort",
    .open = cohort_open,
    .close = cohort_close,
    .draw = cohort_draw,
    .on_key = cohort_key,
    .on_tick = cohort_tick,
    .busy = cohort_busy,
    .hints = cohort_hints,
};
