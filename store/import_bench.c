/* import_bench.c — the benchmark-output importer (see import_bench.h).
 *
 * all_stays.csv is read into a sorted array (tens of thousands of rows); each listfile is then
 * streamed, and for each of its stays the timeseries file is read whole (a few hundred rows)
 * and written with the stay, its patient and its labels. Values in those files are already the
 * benchmark's cleaned values, so no unit conversion happens here; GCS and capillary refill cells
 * must be categories of the discretizer.
 *
 * Deliberately not done: the other benchmark tasks (mortality, decompensation, length of stay),
 * root/<subject>/episode*.csv (their content is in all_stays.csv and the timeseries files).
 */
#include "store/import_bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/csv.h"
#include "store/import_mimic.h"
#include "store/import_util.h"
#include "store/store_internal.h"

#define SOURCE "benchmark"

typedef struct {
    StoreStay s;
    char gender;
    int anchor_age;
} Row;

typedef struct {
    Store *st;
    const ImportBenchOptions *opt;
    ImportBenchStats *stats;
    PsErr *err;
    Row *rows;
    size_t n_rows;
    int64_t bad;
} Ctx;

static void report_bad(Ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report_bad(Ctx *c, const char *fmt, ...)
{
    c->bad++;
    if (!c->opt->on_bad_row) return;
    char msg[PS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->opt->on_bad_row(c->opt->ctx, msg);
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int parse_num(const char *s, size_t n, double *out)
{
    if (n == 0 || n > 60) return -1;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", buf[i])) return -1;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end != buf + n || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int cmp_row(const void *a, const void *b)
{
    const Row *x = a, *y = b;
    return (x->s.stay_id > y->s.stay_id) - (x->s.stay_id < y->s.stay_id);
}

static const Row *find_row(const Ctx *c, int64_t stay)
{
    Row key;
    key.s.stay_id = stay;
    return bsearch(&key, c->rows, c->n_rows, sizeof *c->rows, cmp_row);
}

/* Opens path with a header holding names[] (all required); col[] gets their indexes. */
static PsStatus open_csv(Ctx *c, const char *path, const char *display, const char *const *names,
                         int n, int *col, CsvReader **out, int *ncols)
{
    PsStatus rc = csv_open(out, path, display, NULL, c->err);
    if (rc) return rc;
    int got = 0;
    rc = csv_next(*out, &got, c->err);
    if (rc == PS_OK && !got)
        rc = ps_err(c->err, PS_ERR_PARSE, "%s: empty file (no header)", display);
    for (int i = 0; rc == PS_OK && i < n; i++)
        if ((col[i] = csv_find(*out, names[i])) < 0)
            rc = ps_err(c->err, PS_ERR_PARSE, "%s:1: header lacks column '%s'", display, names[i]);
    if (rc) {
        csv_close(*out);
        *out = NULL;
        return rc;
    }
    *ncols = csv_nfields(*out);
    return PS_OK;
}

/* Next record of the header's width: 1 record, 2 bad (reported), 0 end. */
static PsStatus next_row(Ctx *c, CsvReader *r, int ncols, int *got)
{
    int g = 0;
    PsStatus rc = csv_next(r, &g, c->err);
    if (rc == PS_ERR_PARSE) {
        report_bad(c, "%s", c->err->msg);
        *got = 2;
        return PS_OK;
    }
    if (rc) return rc;
    if (!g) {
        *got = 0;
        return PS_OK;
    }
    if (csv_nfields(r) != ncols) {
        report_bad(c, "%s:%lld: expected %d columns, got %d", csv_name(r), (long long)csv_line(r),
                   ncols, csv_nfields(r));
        *got = 2;
        return PS_OK;
    }
    *got = 1;
    return PS_OK;
}

static int field_time(const CsvReader *r, int i, int allow_empty, int64_t *t)
{
    size_t n;
    const char *s = csv_field(r, i, &n);
    if (n == 0 && allow_empty) {
        *t = 0;
        return 0;
    }
    return import_mimic_parse_time(s, n, t);
}

static PsStatus read_all_stays(Ctx *c, const char *path)
{
    static const char *const names[] = {
        "subject_id", "hadm_id",    "stay_id",   "last_careunit",       "intime",
        "outtime",    "los",        "admittime", "dischtime",           "deathtime",
        "gender",     "anchor_age", "age",       "mortality_inhospital"};
    int col[14], ncols, got;
    CsvReader *r;
    PsStatus rc = open_csv(c, path, "root/all_stays.csv", names, 14, col, &r, &ncols);
    if (rc) return rc;
    size_t cap = 0;
    while ((rc = next_row(c, r, ncols, &got)) == PS_OK && got) {
        if (got == 2) continue;
        Row w = {0};
        int64_t v[3], age, anchor, mort;
        int ok = 1;
        for (int i = 0; i < 3 && ok; i++) {
            size_t n;
            const char *s = csv_field(r, col[i], &n);
            ok = import_util_parse_i64(s, n, &v[i]) == 0;
        }
        size_t n1, n2, n3, ln;
        const char *a1 = csv_field(r, col[11], &n1), *a2 = csv_field(r, col[12], &n2);
        const char *m = csv_field(r, col[13], &n3), *los = csv_field(r, col[6], &ln);
        ok = ok && import_util_parse_i64(a1, n1, &anchor) == 0 &&
             import_util_parse_i64(a2, n2, &age) == 0 && import_util_parse_i64(m, n3, &mort) == 0 &&
             (mort == 0 || mort == 1) && parse_num(los, ln, &w.s.los_days) == 0;
        ok = ok && field_time(r, col[4], 0, &w.s.intime) == 0 &&
             field_time(r, col[5], 0, &w.s.outtime) == 0 &&
             field_time(r, col[7], 1, &w.s.admittime) == 0 &&
             field_time(r, col[8], 1, &w.s.dischtime) == 0 &&
             field_time(r, col[9], 1, &w.s.deathtime) == 0;
        if (!ok) {
            report_bad(c, "%s:%lld: unparsable id, age, time, los or mortality", csv_name(r),
                       (long long)csv_line(r));
            continue;
        }
        w.s.subject_id = v[0];
        w.s.hadm_id = v[1];
        w.s.stay_id = v[2];
        size_t un, gn;
        const char *unit = csv_field(r, col[3], &un), *g = csv_field(r, col[10], &gn);
        snprintf(w.s.last_careunit, sizeof w.s.last_careunit, "%.*s", (int)un, unit);
        /* the benchmark keeps only stays without a care-unit change: first = last */
        snprintf(w.s.first_careunit, sizeof w.s.first_careunit, "%.*s", (int)un, unit);
        w.s.age = (int)age;
        w.s.mortality_inhospital = (int)mort;
        w.gender = gn == 1 && (g[0] == 'M' || g[0] == 'F') ? g[0] : '?';
        w.anchor_age = (int)anchor;
        if (c->n_rows == cap) {
            cap = cap ? cap * 2 : 4096;
            Row *nr = realloc(c->rows, cap * sizeof *nr);
            if (!nr) {
                rc = ps_err(c->err, PS_ERR_NOMEM, "out of memory");
                break;
            }
            c->rows = nr;
        }
        c->rows[c->n_rows++] = w;
    }
    csv_close(r);
    if (rc == PS_OK) qsort(c->rows, c->n_rows, sizeof *c->rows, cmp_row);
    return rc;
}

/* Reads one stay's timeseries file and writes its events. A file that cannot be read is a bad
 * row of the listfile; bad cells are bad rows of the timeseries file. */
static PsStatus write_timeseries(Ctx *c, const char *path, const char *display, int64_t stay,
                                 int *ok)
{
    *ok = 0;
    CsvReader *r = NULL;
    PsErr e = {{0}};
    if (csv_open(&r, path, display, NULL, &e) != PS_OK) return PS_OK;
    int got = 0, ch_of[64];
    PsStatus rc = csv_next(r, &got, c->err);
    int hours_col = -1, ncols = 0;
    if (rc == PS_OK && got) {
        ncols = csv_nfields(r);
        for (int i = 0; i < ncols && i < 64; i++)
            ch_of[i] = catalog_channel_index(csv_field(r, i, NULL));
        hours_col = csv_find(r, "Hours");
    }
    if (rc != PS_OK || !got || hours_col < 0 || ncols > 64) {
        csv_close(r);
        if (rc == PS_ERR_IO || rc == PS_ERR_NOMEM) return rc;
        report_bad(c, "%s:1: not a timeseries file (header needs Hours and the 17 variables)",
                   display);
        return PS_OK;
    }
    while ((rc = next_row(c, r, ncols, &got)) == PS_OK && got) {
        if (got == 2) continue;
        size_t n;
        const char *hs = csv_field(r, hours_col, &n);
        double hours;
        if (parse_num(hs, n, &hours) != 0) {
            report_bad(c, "%s:%lld: unparsable Hours", display, (long long)csv_line(r));
            continue;
        }
        for (int i = 0; i < ncols; i++) {
            int ch = ch_of[i];
            if (ch < 0) continue;
            const char *v = csv_field(r, i, &n);
            if (n == 0) continue;
            StoreEvent ev = {stay, (float)hours, ch, 0, NULL};
            if (catalog_channels[ch].categorical) {
                int k = catalog_category_index(ch, v);
                if (k < 0) {
                    /* the column, never the value (no patient data on stderr or in logs) */
                    report_bad(c, "%s:%lld: unknown category in column %s", display,
                               (long long)csv_line(r), catalog_channels[ch].name);
                    continue;
                }
                ev.value = (float)catalog_channels[ch].categories[k].score;
                ev.text = catalog_channels[ch].categories[k].text;
            } else {
                double x;
                if (parse_num(v, n, &x) != 0) {
                    report_bad(c, "%s:%lld: unparsable number in column %s", display,
                               (long long)csv_line(r), catalog_channels[ch].name);
                    continue;
                }
                ev.value = (float)x;
            }
            if ((rc = store_put_event(c->st, &ev)) != PS_OK) {
                rc = ps_err(c->err, rc, "%s", store_errmsg(c->st));
                break;
            }
        }
        if (rc) break;
    }
    csv_close(r);
    if (rc == PS_OK) *ok = 1;
    return rc;
}

typedef struct {
    const char *listfile; /* relative to DIR/phenotyping */
    int split;
} Part;

/* One batch of a listfile: up to `batch` records read and written inside the transaction. */
typedef struct {
    Ctx *c;
    const Part *p;
    CsvReader *r;
    const char *display;
    int *col, ncols, got;
    int64_t batch, records, bad_before;
} ListBatch;

static PsStatus write_list_batch(void *ctx, ImportBatch *b, PsErr *err)
{
    (void)err; /* the Ctx carries err */
    ListBatch *l = ctx;
    Ctx *c = l->c;
    CsvReader *r = l->r;
    const int *col = l->col;
    PsStatus rc = PS_OK;
    for (int64_t k = 0; k < l->batch && rc == PS_OK; k++) {
        if ((rc = next_row(c, r, l->ncols, &l->got)) != PS_OK || !l->got) break;
        l->records++;
        if (l->got == 2) continue;
        size_t fn, sn;
        const char *fname = csv_field(r, col[0], &fn), *sid = csv_field(r, col[2], &sn);
        int64_t stay;
        if (import_util_parse_i64(sid, sn, &stay) != 0 || fn == 0 || memchr(fname, '/', fn) ||
            fn > 200) {
            report_bad(c, "%s:%lld: unparsable stay_id or timeseries file name", l->display,
                       (long long)csv_line(r));
            continue;
        }
        const Row *row = find_row(c, stay);
        if (!row) {
            report_bad(c, "%s:%lld: the stay in column stay_id is not in root/all_stays.csv",
                       l->display, (long long)csv_line(r));
            continue;
        }
        uint8_t labels[CATALOG_N_PHENOTYPES];
        int ok = 1;
        for (int i = 0; i < CATALOG_N_PHENOTYPES && ok; i++) {
            size_t ln;
            const char *lab = csv_field(r, col[3 + i], &ln);
            ok = ln == 1 && (lab[0] == '0' || lab[0] == '1');
            labels[i] = (uint8_t)(lab[0] == '1');
        }
        if (!ok) {
            report_bad(c, "%s:%lld: phenotype labels must be 0 or 1", l->display,
                       (long long)csv_line(r));
            continue;
        }
        /* the timeseries file: train/ or test/ (MedFuse's val stays live in train/) */
        char ts[4400], tsd[300];
        static const char *const dirs[2] = {"train", "test"};
        int found = 0;
        for (int d = 0; d < 2 && !found; d++) {
            snprintf(ts, sizeof ts, "%s/phenotyping/%s/%.*s", c->opt->dir, dirs[d], (int)fn,
                     fname);
            snprintf(tsd, sizeof tsd, "phenotyping/%s/%.*s", dirs[d], (int)fn, fname);
            found = file_exists(ts);
        }
        if (!found) {
            report_bad(c, "%s:%lld: the timeseries file in column stay is in neither train/ nor "
                       "test/",
                       l->display, (long long)csv_line(r));
            continue;
        }
        StorePatient pt = {row->s.subject_id, row->gender, row->anchor_age, 0};
        StoreStay s = row->s;
        s.split = l->p->split;
        if ((rc = store_put_patient(c->st, &pt)) || (rc = store_put_stay(c->st, &s)) ||
            (rc = store_put_labels(c->st, stay, labels))) {
            rc = ps_err(c->err, rc, "%s", store_errmsg(c->st));
            break;
        }
        int ts_ok;
        if ((rc = write_timeseries(c, ts, tsd, stay, &ts_ok))) break;
    }
    b->records = l->records;
    b->bad = l->bad_before + c->bad;
    b->done = !l->got;
    return rc;
}

static PsStatus import_listfile(Ctx *c, const Part *p, int64_t batch)
{
    char path[4300], display[160], item[160];
    snprintf(path, sizeof path, "%s/phenotyping/%s", c->opt->dir, p->listfile);
    snprintf(display, sizeof display, "phenotyping/%s", p->listfile);
    snprintf(item, sizeof item, "listfile:%s", p->listfile);
    ImportProgress pg;
    PsStatus rc = import_util_progress_get(c->st, SOURCE, item, &pg, c->err);
    if (rc || pg.done) return rc;
    if (pg.records) c->stats->resumed = 1;
    const char *names[3 + CATALOG_N_PHENOTYPES] = {"stay", "period_length", "stay_id"};
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++)
        names[3 + i] = catalog_phenotypes[i].name;
    int col[3 + CATALOG_N_PHENOTYPES], ncols;
    CsvReader *r;
    if ((rc = open_csv(c, path, display, names, 3 + CATALOG_N_PHENOTYPES, col, &r, &ncols)))
        return rc;
    int64_t records = 0;
    while (records < pg.records) {
        int g = 0;
        rc = csv_next(r, &g, c->err);
        if (rc == PS_ERR_PARSE)
            rc = PS_OK;
        else if (rc)
            goto out;
        else if (!g)
            break;
        records++;
    }
    c->bad = 0;
    ListBatch l = {c, p, r, display, col, ncols, 1, batch, records, pg.bad};
    while (l.got) {
        ImportBatch b = {.source = SOURCE, .item = item, .write = write_list_batch, .ctx = &l};
        if ((rc = import_util_commit_batch(c->st, &b, c->err))) break;
        if (c->opt->on_progress &&
            c->opt->on_progress(c->opt->ctx, display, l.records, csv_bytes_read(r), 0)) {
            rc = ps_err(c->err, PS_ERR_CANCELLED, "import cancelled");
            break;
        }
    }
out:
    csv_close(r);
    return rc;
}

static int64_t query_i64(Store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The first batch: the funnel's first step, with the all_stays progress record. */
typedef struct {
    Store *st;
    int64_t n;
} AllStaysWrite;

static PsStatus write_all_stays(void *ctx, ImportBatch *b, PsErr *err)
{
    (void)b;
    AllStaysWrite *w = ctx;
    PsStatus rc = store_put_funnel(w->st, SOURCE, 0, "stays in root/all_stays.csv", w->n);
    return rc ? ps_err(err, rc, "%s", store_errmsg(w->st)) : PS_OK;
}

/* The last batch: the funnel's second step, the source line and the pairs. */
typedef struct {
    Store *st;
    int medfuse;
    const char *dir;
} FinishWrite;

static PsStatus write_finish(void *ctx, ImportBatch *b, PsErr *err)
{
    (void)b;
    FinishWrite *w = ctx;
    char detail[4400];
    int64_t n = query_i64(w->st, "SELECT count(*) FROM stays");
    snprintf(detail, sizeof detail, "%s (benchmark output, %s listfiles), %lld stays", w->dir,
             w->medfuse ? "MedFuse" : "benchmark", (long long)n);
    PsStatus rc;
    if ((rc = store_put_funnel(w->st, SOURCE, 1, "stays in the phenotyping listfiles", n)) ||
        (rc = store_put_source(w->st, SOURCE, detail)) || (rc = store_recompute_pairs(w->st)))
        return ps_err(err, rc, "%s", store_errmsg(w->st));
    return PS_OK;
}

PsStatus import_bench_run(Store *st, const ImportBenchOptions *opt, ImportBenchStats *stats,
                          PsErr *err)
{
    PS_CHECK(err, st && opt && opt->dir && stats);
    memset(stats, 0, sizeof *stats);
    Ctx c = {st, opt, stats, err, NULL, 0, 0};
    PsStatus rc = PS_OK;
    char path[4300];
    struct stat sb;
    if (stat(opt->dir, &sb) != 0)
        return ps_err(err, PS_ERR_NOTFOUND, "%s: %s", opt->dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return ps_err(err, PS_ERR_NOTFOUND, "%s: not a directory", opt->dir);
    snprintf(path, sizeof path, "%s/root/all_stays.csv", opt->dir);
    if (!file_exists(path))
        return ps_err(err, PS_ERR_NOTFOUND,
                      "%s: root/all_stays.csv is missing (is this the "
                      "output of the benchmark pipeline?)",
                      opt->dir);
    static const Part medfuse[3] = {{"train_listfile.csv", SPLIT_TRAIN},
                                    {"val_listfile.csv", SPLIT_VAL},
                                    {"test_listfile.csv", SPLIT_TEST}};
    static const Part bench[2] = {{"train/listfile.csv", SPLIT_TRAIN},
                                  {"test/listfile.csv", SPLIT_TEST}};
    const Part *parts = medfuse;
    int n_parts = 3;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/phenotyping/%s", opt->dir, medfuse[i].listfile);
        if (!file_exists(path)) parts = bench, n_parts = 2;
    }
    stats->medfuse_listfiles = parts == medfuse;
    for (int i = 0; i < n_parts; i++) {
        snprintf(path, sizeof path, "%s/phenotyping/%s", opt->dir, parts[i].listfile);
        if (!file_exists(path))
            return ps_err(err, PS_ERR_NOTFOUND,
                          "%s: phenotyping/%s is missing (and no MedFuse "
                          "{train,val,test}_listfile.csv)",
                          opt->dir, parts[i].listfile);
    }
    if ((rc = import_util_progress_init(st, err))) return rc;
    ImportProgress fin;
    if ((rc = import_util_progress_get(st, SOURCE, "finish", &fin, err))) return rc;
    if (fin.done) {
        stats->already_done = 1;
        goto stats;
    }
    ImportProgress first;
    if ((rc = import_util_progress_get(st, SOURCE, "all_stays", &first, err))) return rc;
    if (!first.found && query_i64(st, "SELECT count(*) FROM stays") != 0)
        return ps_err(err, PS_ERR_INVALID,
                      "%s: already holds stays from another source; import "
                      "into a new store (--store PATH)",
                      store_path(st));
    snprintf(path, sizeof path, "%s/root/all_stays.csv", opt->dir);
    if ((rc = read_all_stays(&c, path))) goto done;
    if (!first.found) {
        AllStaysWrite w = {st, (int64_t)c.n_rows};
        ImportBatch b = {.source = SOURCE,
                         .item = "all_stays",
                         .detail = opt->dir,
                         .records = (int64_t)c.n_rows,
                         .bad = c.bad,
                         .done = 1,
                         .write = write_all_stays,
                         .ctx = &w};
        if ((rc = import_util_commit_batch(st, &b, err))) goto done;
    }
    int64_t batch = opt->batch_stays > 0 ? opt->batch_stays : 500;
    for (int i = 0; i < n_parts && rc == PS_OK; i++)
        rc = import_listfile(&c, &parts[i], batch);
    if (rc) goto done;
    {
        FinishWrite w = {st, stats->medfuse_listfiles, opt->dir};
        ImportBatch b = {.source = SOURCE,
                         .item = "finish",
                         .done = 1,
                         .write = write_finish,
                         .ctx = &w};
        if ((rc = import_util_commit_batch(st, &b, err))) goto done;
    }
stats:
    stats->funnel[0] =
        query_i64(st, "SELECT count FROM funnel WHERE source = '" SOURCE "' AND step = 0");
    stats->funnel[1] = query_i64(st, "SELECT count(*) FROM stays");
    for (int s = 0; s < 3; s++) {
        char q[96];
        snprintf(q, sizeof q, "SELECT count(*) FROM stays WHERE split = %d", s);
        stats->per_split[s] = query_i64(st, q);
    }
    stats->events = query_i64(st, "SELECT count(*) FROM events");
    stats->bad_rows = import_util_progress_bad(st, SOURCE);
done:
    free(c.rows);
    return rc;
}
