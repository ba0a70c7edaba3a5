/* import_mimic.c — the MIMIC-IV importer (see import_mimic.h for the rules it applies).
 *
 * Shape of a run: load the three resource files; find the tables; build the cohort in memory
 * from patients, admissions and icustays (small tables: ~300k rows in the full database);
 * stream d_icd_diagnoses and diagnoses_icd into titles, diagnoses and labels; stream the event
 * tables in batches; finish with the phenotyping cut (funnel step 5) and the pairing rule.
 * The cohort is written in one transaction; each event batch in its own, together with the
 * number of records of its file that are done (table import_progress), so a resumed run skips
 * exactly what was committed. The cohort is rebuilt in memory on resume (it is cheap and
 * deterministic) but not written twice. Event tables are read by a second thread that parses
 * and maps one batch while the caller's thread inserts the previous one (see Pipe); inserts go
 * through a 64-row INSERT, and foreign-key probes are off for the event batches only.
 *
 * Cleaning, per variable, as the benchmark's clean_events (mimic3benchmark/preprocessing.py),
 * on the `value` text:
 *   Capillary refill rate  "Normal <3 secs"/"Brisk" -> 0, "Abnormal >3 secs"/"Delayed" -> 1
 *   Systolic/Diastolic BP  "120/80" -> 120 / 80, else the number
 *   Fraction inspired O2   a value > 1 is a percentage: / 100 (unless the unit is torr)
 *   Oxygen saturation      plain decimal only; a value <= 1 is a fraction: x 100
 *   Glucose, pH            plain decimal only ("ERROR" and the like are bad rows)
 *   Temperature            Fahrenheit when the unit or the item label says F, or value >= 79
 *   Weight                 oz (unit/label) / 16, then oz or lb x 0.453592
 *   Height                 inches (unit/label says "in") x 2.54, rounded to whole cm
 *   GCS (4 channels)       the charted text must be one of the discretizer's categories
 * Where the published pipeline deviates from its own evident intent we follow the intent, and
 * say so: its unit checks read the wrong column (valuenum) and lower-case the text before
 * looking for "F", so only the >= 79 rule ever fires; its FiO2 rule divides every value by
 * 100 under Python 3. The ranges file is applied as remove_outliers_for_variable (which the
 * published pipeline defines but never calls), matching variable names case-insensitively
 * ("Heart rate" in the ranges file is the "Heart Rate" channel).
 *
 * Deliberately not done: outputevents (not one of the 17 variables), ICU stays' ward ids
 * (absent from MIMIC-IV), the benchmark's fixed test-set list (not public: the split here is a
 * deterministic hash of subject_id, 70% train / 10% validation / 20% test).
 */
#include "store/import_mimic.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "store/csv.h"
#include "store/import_util.h"
#include "store/store_internal.h"

#define SOURCE "mimic-iv"
#define N_FUNNEL 6
#define MAX_ITEMID 10000000 /* itemids above this are not in any MIMIC release: bad row */

/* ---- small containers ---------------------------------------------------------------------- */

/* int64 -> int32 open-addressing map (linear probing); key INT64_MIN marks an empty slot. */
typedef struct {
    int64_t *keys;
    int32_t *vals;
    size_t cap, n;
} IdMap;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static void idmap_free(IdMap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int idmap_grow(IdMap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    int64_t *k = malloc(ncap * sizeof *k);
    int32_t *v = malloc(ncap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < ncap; i++)
        k[i] = INT64_MIN;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == INT64_MIN) continue;
        size_t j = mix64((uint64_t)m->keys[i]) & (ncap - 1);
        while (k[j] != INT64_MIN)
            j = (j + 1) & (ncap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = ncap;
    return 0;
}

/* Inserts or replaces; -1 when out of memory. */
static int idmap_put(IdMap *m, int64_t key, int32_t val)
{
    if ((m->n + 1) * 2 > m->cap && idmap_grow(m) != 0) return -1;
    size_t j = mix64((uint64_t)key) & (m->cap - 1);
    while (m->keys[j] != INT64_MIN && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    if (m->keys[j] == INT64_MIN) m->n++;
    m->keys[j] = key;
    m->vals[j] = val;
    return 0;
}

static int32_t idmap_get(const IdMap *m, int64_t key)
{
    if (!m->cap) return -1;
    size_t j = mix64((uint64_t)key) & (m->cap - 1);
    while (m->keys[j] != INT64_MIN) {
        if (m->keys[j] == key) return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

/* ICD code (string, up to 15 bytes) -> phenotype index and whether the dictionary has it. */
typedef struct {
    char code[16];
    int8_t pheno;   /* -1: in no benchmark phenotype */
    uint8_t titled; /* listed in d_icd_diagnoses (any version) */
} CodeEntry;

typedef struct {
    CodeEntry *e;
    size_t cap, n;
} CodeMap;

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* Finds code or adds it (pheno -1, untitled); NULL when out of memory or too long. */
static CodeEntry *codemap_get(CodeMap *m, const char *code, size_t n, int add)
{
    if (n == 0 || n >= sizeof m->e[0].code) return NULL;
    if (add && (m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 4096;
        CodeEntry *ne = calloc(ncap, sizeof *ne);
        if (!ne) return NULL;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].code[0]) continue;
            size_t j = hash_str(m->e[i].code, strlen(m->e[i].code)) & (ncap - 1);
            while (ne[j].code[0])
                j = (j + 1) & (ncap - 1);
            ne[j] = m->e[i];
        }
        free(m->e);
        m->e = ne;
        m->cap = ncap;
    }
    if (!m->cap) return NULL;
    size_t j = hash_str(code, n) & (m->cap - 1);
    while (m->e[j].code[0]) {
        if (strncmp(m->e[j].code, code, n) == 0 && m->e[j].code[n] == 0) return &m->e[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!add) return NULL;
    memcpy(m->e[j].code, code, n);
    m->e[j].code[n] = 0;
    m->e[j].pheno = -1;
    m->e[j].titled = 0;
    m->n++;
    return &m->e[j];
}

/* ---- the run's state ------------------------------------------------------------------------ */

typedef struct {
    int8_t channel;                                /* -1: not one of the 17 variables */
    uint8_t label_f, label_lb, label_oz, label_in; /* unit hints from MIMIC LABEL / UNITNAME */
} ItemInfo;

typedef struct {
    int64_t subject;
    char gender;
    int anchor_age, anchor_year;
    int64_t dod; /* 0: none */
} Patient;

typedef struct {
    int64_t subject, hadm, admittime, dischtime, deathtime; /* deathtime 0: none */
} Admission;

typedef struct {
    int64_t subject, hadm, stay, intime, outtime;
    double los;
    char first[64], last[64];
    int32_t pat, adm;
    uint8_t labels[CATALOG_N_PHENOTYPES];
} Stay;

typedef struct {
    double outlier_lo, valid_lo, valid_hi, outlier_hi;
    int present;
} Range;

typedef struct {
    Store *st;
    const ImportMimicOptions *opt;
    ImportMimicStats *stats;
    PsErr *err;
    int64_t batch;
    int layout;
    char path[9][4096];   /* resolved table paths, by TABLE_* */
    char display[9][128]; /* names in messages, relative to DIR */
    int present[9];
    /* itemids listed in icu/d_items and hosp/d_labitems (bit per itemid), NULL when absent */
    uint8_t *known_chart, *known_lab;
    ItemInfo *items;
    int64_t n_items; /* items[] covers itemids 0 .. n_items-1 */
    Range ranges[CATALOG_N_CHANNELS];
    CodeMap codes;
    Patient *pats;
    size_t n_pats;
    IdMap pat_by_subject;
    Admission *adms;
    size_t n_adms;
    IdMap adm_by_hadm;
    Stay *stays; /* the cohort (after rule 4), sorted by subject then intime */
    size_t n_stays;
    IdMap stay_by_subject; /* subject -> index of its first cohort stay */
    IdMap stay_by_hadm;    /* hadm -> cohort stay index */
    int64_t bad;           /* bad rows in the item being read */
    int in_tx;
} Ctx;

enum {
    TABLE_PATIENTS,
    TABLE_ADMISSIONS,
    TABLE_ICUSTAYS,
    TABLE_D_ICD,
    TABLE_DIAGNOSES,
    TABLE_CHARTEVENTS,
    TABLE_LABEVENTS,
    TABLE_D_ITEMS,
    TABLE_D_LABITEMS,
    N_TABLES
};

/* ---- helpers -------------------------------------------------------------------------------- */

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

/* A number as Python's float() reads it (blanks around allowed); no nan/inf. */
static int parse_num(const char *s, size_t n, double *out)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n > 64) return -1;
    char buf[72];
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

/* The benchmark's lab pattern ^(\d+(\.\d*)?|\.\d+)$, then the number. */
static int parse_lab(const char *s, size_t n, double *out)
{
    size_t i = 0, digits = 0;
    while (i < n && isdigit((unsigned char)s[i]))
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        size_t frac = 0;
        while (i < n && isdigit((unsigned char)s[i]))
            i++, frac++;
        if (!digits && !frac) return -1;
    } else if (!digits) {
        return -1;
    }
    if (i != n) return -1;
    return parse_num(s, n, out);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits2(const char *s, unsigned *v)
{
    unsigned a = (unsigned)(s[0] - '0'), b = (unsigned)(s[1] - '0');
    if (a > 9 || b > 9) return -1;
    *v = a * 10 + b;
    return 0;
}

int import_mimic_parse_time(const char *s, size_t n, int64_t *out)
{
    unsigned y1, y2, mo, d, h = 0, mi = 0, sec = 0;
    if (n < 10 || s[4] != '-' || s[7] != '-') return -1;
    if (digits2(s, &y1) || digits2(s + 2, &y2) || digits2(s + 5, &mo) || digits2(s + 8, &d))
        return -1;
    if (n > 10) {
        if ((s[10] != ' ' && s[10] != 'T') || n < 16 || s[13] != ':') return -1;
        if (digits2(s + 11, &h) || digits2(s + 14, &mi)) return -1;
        if (n > 16) {
            if (n < 19 || s[16] != ':' || digits2(s + 17, &sec)) return -1;
            if (n > 19) {
                if (s[19] != '.') return -1;
                for (size_t i = 20; i < n; i++)
                    if (!isdigit((unsigned char)s[i])) return -1;
            }
        }
    }
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60) return -1;
    int64_t y = (int64_t)(y1 * 100 + y2);
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return -1;
    *out = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec;
    return 0;
}

static int contains_ci(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && tolower((unsigned char)hay[i + j]) == needle[j])
            j++;
        if (j == k) return 1;
    }
    return 0;
}

/* ---- reading tables ------------------------------------------------------------------------- */

typedef struct {
    CsvReader *r;
    int ncols;   /* header width */
    int col[16]; /* indexes of the requested columns (-1 optional absent) */
    const char *display;
    int64_t records;      /* records after the header consumed (good or bad) */
    const uint8_t *known; /* itemids of the table's dictionary, or NULL: no check */
} Table;

/* Opens a table and checks its header: names[i] are required unless prefixed by '?'. */
static PsStatus table_open(Ctx *c, Table *t, int which, const char *const *names, int n)
{
    memset(t, 0, sizeof *t);
    t->display = c->display[which];
    PsStatus rc = csv_open(&t->r, c->path[which], t->display, NULL, c->err);
    if (rc) return rc;
    int got = 0;
    rc = csv_next(t->r, &got, c->err);
    if (rc == PS_OK && !got)
        rc = ps_err(c->err, PS_ERR_PARSE, "%s: empty file (no header)", t->display);
    if (rc) goto fail;
    t->ncols = csv_nfields(t->r);
    for (int i = 0; i < n; i++) {
        int optional = names[i][0] == '?';
        const char *name = names[i] + optional;
        t->col[i] = csv_find(t->r, name);
        if (t->col[i] < 0 && !optional) {
            rc = ps_err(c->err, PS_ERR_PARSE, "%s:1: header lacks column '%s'", t->display, name);
            goto fail;
        }
    }
    return PS_OK;
fail:
    csv_close(t->r);
    t->r = NULL;
    return rc;
}

/* Next record: *got 1 a record with the header's width, 2 a bad record (already reported),
 * 0 end of file. */
static PsStatus table_next(Ctx *c, Table *t, int *got)
{
    int g = 0;
    PsStatus rc = csv_next(t->r, &g, c->err);
    if (rc == PS_ERR_PARSE) {
        t->records++;
        report_bad(c, "%s", c->err->msg);
        *got = 2;
        return PS_OK;
    }
    if (rc) return rc;
    if (!g) {
        *got = 0;
        return PS_OK;
    }
    t->records++;
    if (csv_nfields(t->r) != t->ncols) {
        report_bad(c, "%s:%lld: expected %d columns, got %d", t->display, (long long)csv_line(t->r),
                   t->ncols, csv_nfields(t->r));
        *got = 2;
        return PS_OK;
    }
    *got = 1;
    return PS_OK;
}

static const char *fld(const Table *t, int i, size_t *len)
{
    return csv_field(t->r, t->col[i], len);
}

/* Field i as an integer, or a reported bad row (returns -1). Empty is allowed when allow_empty
 * (then *v = def). */
static int get_i64(Ctx *c, Table *t, int i, const char *what, int allow_empty, int64_t def,
                   int64_t *v)
{
    size_t n;
    const char *s = fld(t, i, &n);
    if (n == 0 && allow_empty) {
        *v = def;
        return 0;
    }
    if (import_util_parse_i64(s, n, v) == 0) return 0;
    /* the column, never the value: messages reach stderr and logs (no patient data there) */
    report_bad(c, "%s:%lld: unparsable integer in column %s", t->display, (long long)csv_line(t->r),
               what);
    return -1;
}

static int get_time(Ctx *c, Table *t, int i, const char *what, int allow_empty, int64_t *v)
{
    size_t n;
    const char *s = fld(t, i, &n);
    if (n == 0 && allow_empty) {
        *v = 0;
        return 0;
    }
    if (import_mimic_parse_time(s, n, v) == 0) return 0;
    report_bad(c, "%s:%lld: unparsable time in column %s", t->display, (long long)csv_line(t->r),
               what);
    return -1;
}

/* ---- resources ------------------------------------------------------------------------------ */

static int channel_by_name_ci(const char *s, size_t n)
{
    for (int ch = 0; ch < CATALOG_N_CHANNELS; ch++) {
        const char *name = catalog_channels[ch].name;
        if (strlen(name) == n && strncasecmp(name, s, n) == 0) return ch;
    }
    return -1;
}

static PsStatus load_itemids(Ctx *c, const char *path)
{
    CsvReader *r = NULL;
    PsStatus rc = csv_open(&r, path, NULL, NULL, c->err);
    if (rc) return rc;
    int got = 0, col[6];
    static const char *const names[6] = {"LEVEL2", "ITEMID", "MIMIC LABEL",
                                         "STATUS", "COUNT",  "UNITNAME"};
    rc = csv_next(r, &got, c->err);
    if (rc == PS_OK && !got) rc = ps_err(c->err, PS_ERR_PARSE, "%s: empty file", path);
    for (int i = 0; rc == PS_OK && i < 6; i++)
        if ((col[i] = csv_find(r, names[i])) < 0)
            rc = ps_err(c->err, PS_ERR_PARSE,
                        "%s:1: header lacks column '%s' (is this the "
                        "benchmark's itemid_to_variable_map.csv?)",
                        path, names[i]);
    int ncols = rc == PS_OK ? csv_nfields(r) : 0;
    int mapped = 0;
    while (rc == PS_OK) {
        rc = csv_next(r, &got, c->err);
        if (rc == PS_ERR_PARSE) {
            rc = PS_OK;
            report_bad(c, "%s", c->err->msg);
            continue;
        }
        if (rc || !got) break;
        if (csv_nfields(r) != ncols) {
            report_bad(c, "%s:%lld: expected %d columns, got %d", path, (long long)csv_line(r),
                       ncols, csv_nfields(r));
            continue;
        }
        size_t ln, sn, cn;
        const char *level2 = csv_field(r, col[0], &ln);
        const char *status = csv_field(r, col[3], &sn);
        const char *count = csv_field(r, col[4], &cn);
        int64_t cnt = 0, itemid;
        /* the benchmark's read_itemid_to_variable_map: LEVEL2 set, COUNT > 0, STATUS ready */
        if (ln == 0 || sn != 5 || memcmp(status, "ready", 5) != 0) continue;
        if (import_util_parse_i64(count, cn, &cnt) != 0 || cnt <= 0) continue;
        int ch = channel_by_name_ci(level2, ln);
        if (ch < 0) continue; /* a ready variable that is not one of the 17 */
        size_t in;
        const char *id = csv_field(r, col[1], &in);
        if (import_util_parse_i64(id, in, &itemid) != 0 || itemid < 0 || itemid >= MAX_ITEMID) {
            report_bad(c, "%s:%lld: unparsable ITEMID", path, (long long)csv_line(r));
            continue;
        }
        if (itemid >= c->n_items) {
            int64_t nn = itemid + 1 > c->n_items * 2 ? itemid + 1 : c->n_items * 2;
            ItemInfo *ni = realloc(c->items, (size_t)nn * sizeof *ni);
            if (!ni) {
                rc = ps_err(c->err, PS_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            for (int64_t k = c->n_items; k < nn; k++)
                ni[k] = (ItemInfo){.channel = -1};
            c->items = ni;
            c->n_items = nn;
        }
        size_t lab_n, unit_n;
        const char *lab = csv_field(r, col[2], &lab_n);
        const char *unit = csv_field(r, col[5], &unit_n);
        ItemInfo *it = &c->items[itemid];
        it->channel = (int8_t)ch;
        it->label_f = memchr(lab, 'F', lab_n) != NULL || memchr(unit, 'F', unit_n) != NULL;
        it->label_lb = contains_ci(lab, lab_n, "lb") || contains_ci(unit, unit_n, "lb");
        it->label_oz = contains_ci(lab, lab_n, "oz") || contains_ci(unit, unit_n, "oz");
        it->label_in = contains_ci(lab, lab_n, "in") || contains_ci(unit, unit_n, "in");
        mapped++;
    }
    csv_close(r);
    if (rc == PS_OK && mapped == 0)
        rc = ps_err(c->err, PS_ERR_PARSE, "%s: no rows with STATUS 'ready' for the 17 variables",
                    path);
    return rc;
}

static PsStatus load_ranges(Ctx *c, const char *path)
{
    CsvReader *r = NULL;
    PsStatus rc = csv_open(&r, path, NULL, NULL, c->err);
    if (rc) return rc;
    static const char *const names[5] = {"LEVEL2", "OUTLIER LOW", "VALID LOW", "VALID HIGH",
                                         "OUTLIER HIGH"};
    int got = 0, col[5];
    rc = csv_next(r, &got, c->err);
    if (rc == PS_OK && !got) rc = ps_err(c->err, PS_ERR_PARSE, "%s: empty file", path);
    for (int i = 0; rc == PS_OK && i < 5; i++)
        if ((col[i] = csv_find(r, names[i])) < 0)
            rc = ps_err(c->err, PS_ERR_PARSE,
                        "%s:1: header lacks column '%s' (is this the "
                        "benchmark's variable_ranges.csv?)",
                        path, names[i]);
    while (rc == PS_OK) {
        rc = csv_next(r, &got, c->err);
        if (rc == PS_ERR_PARSE) {
            rc = PS_OK;
            report_bad(c, "%s", c->err->msg);
            continue;
        }
        if (rc || !got) break;
        size_t n;
        const char *name = csv_field(r, col[0], &n);
        int ch = channel_by_name_ci(name, n);
        if (ch < 0 || c->ranges[ch].present) continue; /* first row of a variable wins */
        double v[4];
        int ok = 1;
        for (int i = 0; i < 4; i++) {
            const char *s = csv_field(r, col[i + 1], &n);
            if (parse_num(s, n, &v[i]) != 0) ok = 0;
        }
        if (!ok) continue; /* the benchmark keeps only rows with every bound */
        c->ranges[ch] = (Range){v[0], v[1], v[2], v[3], 1};
    }
    csv_close(r);
    return rc;
}

static const char *yaml_scalar(yaml_document_t *doc, yaml_node_t *n)
{
    (void)doc;
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static PsStatus load_definitions(Ctx *c, const char *path)
{
    PsStatus rc = PS_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return ps_err(c->err, PS_ERR_IO, "%s: %s", path, strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return ps_err(c->err, PS_ERR_NOMEM, "%s: cannot start the YAML parser", path);
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = ps_err(c->err, PS_ERR_PARSE, "%s:%zu: %s", path, parser.problem_mark.line + 1,
                    parser.problem ? parser.problem : "YAML error");
        goto done;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = ps_err(c->err, PS_ERR_PARSE, "%s: expected a mapping of phenotype names", path);
        goto done;
    }
    int seen[CATALOG_N_PHENOTYPES] = {0};
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        const char *name = yaml_scalar(&doc, yaml_document_get_node(&doc, p->key));
        yaml_node_t *def = yaml_document_get_node(&doc, p->value);
        if (!name || !def || def->type != YAML_MAPPING_NODE) {
            rc = ps_err(c->err, PS_ERR_PARSE,
                        "%s:%zu: each phenotype must map to codes and "
                        "use_in_benchmark",
                        path, def ? def->start_mark.line + 1 : 0);
            goto done;
        }
        yaml_node_t *codes = NULL;
        int use = -1;
        for (yaml_node_pair_t *q = def->data.mapping.pairs.start; q < def->data.mapping.pairs.top;
             q++) {
            const char *k = yaml_scalar(&doc, yaml_document_get_node(&doc, q->key));
            yaml_node_t *v = yaml_document_get_node(&doc, q->value);
            if (!k) continue;
            if (strcmp(k, "codes") == 0) codes = v;
            if (strcmp(k, "use_in_benchmark") == 0) {
                const char *s = yaml_scalar(&doc, v);
                use = s && (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
                            strcasecmp(s, "yes") == 0);
            }
        }
        if (use < 0) {
            rc = ps_err(c->err, PS_ERR_PARSE, "%s:%zu: phenotype lacks use_in_benchmark", path,
                        def->start_mark.line + 1);
            goto done;
        }
        if (!use) continue;
        int ph = catalog_phenotype_index(name);
        if (ph < 0) {
            char clean[200];
            import_util_sanitize(clean, sizeof clean, name, strlen(name));
            rc = ps_err(c->err, PS_ERR_PARSE,
                        "%s:%zu: benchmark phenotype '%s' is not one of "
                        "the 25",
                        path, def->start_mark.line + 1, clean);
            goto done;
        }
        seen[ph] = 1;
        if (!codes || codes->type != YAML_SEQUENCE_NODE) continue; /* `codes:` left empty */
        for (yaml_node_item_t *it = codes->data.sequence.items.start;
             it < codes->data.sequence.items.top; it++) {
            yaml_node_t *cn = yaml_document_get_node(&doc, *it);
            const char *code = yaml_scalar(&doc, cn);
            if (!code) continue;
            CodeEntry *e = codemap_get(&c->codes, code, strlen(code), 1);
            if (!e) {
                rc = ps_err(c->err, PS_ERR_PARSE, "%s:%zu: code too long or out of memory", path,
                            cn->start_mark.line + 1);
                goto done;
            }
            e->pheno = (int8_t)ph;
        }
    }
    for (int ph = 0; ph < CATALOG_N_PHENOTYPES; ph++)
        if (!seen[ph]) {
            rc = ps_err(c->err, PS_ERR_PARSE,
                        "%s: phenotype '%s' missing or not marked "
                        "use_in_benchmark",
                        path, catalog_phenotypes[ph].name);
            goto done;
        }
done:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

PsStatus import_mimic_find_resources(const char *dir, char *definitions, char *itemids,
                                     char *ranges, size_t n, PsErr *err)
{
    static const char *const yaml_names[] = {"phenotype_definitions_icd9_icd10.yaml",
                                             "icd_9_10_definitions_2.yaml"};
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ps_err(err, PS_ERR_NOTFOUND, "%s: not a directory", dir);
    definitions[0] = 0;
    for (size_t i = 0; i < sizeof yaml_names / sizeof *yaml_names; i++) {
        snprintf(definitions, n, "%s/%s", dir, yaml_names[i]);
        if (file_exists(definitions)) break;
        definitions[0] = 0;
    }
    if (!definitions[0])
        return ps_err(err, PS_ERR_NOTFOUND,
                      "%s: the benchmark's phenotype definitions are "
                      "missing (phenotype_definitions_icd9_icd10.yaml)",
                      dir);
    snprintf(itemids, n, "%s/itemid_to_variable_map.csv", dir);
    if (!file_exists(itemids))
        return ps_err(err, PS_ERR_NOTFOUND,
                      "%s: the benchmark's itemid_to_variable_map.csv is "
                      "missing",
                      dir);
    snprintf(ranges, n, "%s/variable_ranges.csv", dir);
    if (!file_exists(ranges))
        return ps_err(err, PS_ERR_NOTFOUND, "%s: the benchmark's variable_ranges.csv is missing",
                      dir);
    return PS_OK;
}

/* ---- layout --------------------------------------------------------------------------------- */

static int resolve(Ctx *c, int which, const char *sub, const char *name)
{
    static const char *const ext[2] = {".csv.gz", ".csv"};
    for (int e = 0; e < 2; e++) {
        snprintf(c->path[which], sizeof c->path[which], "%s/%s/%s%s", c->opt->dir, sub, name,
                 ext[e]);
        snprintf(c->display[which], sizeof c->display[which], "%s/%s%s", sub, name, ext[e]);
        if (file_exists(c->path[which])) return c->present[which] = 1;
    }
    snprintf(c->display[which], sizeof c->display[which], "%s/%s.csv[.gz]", sub, name);
    return c->present[which] = 0;
}

static PsStatus find_tables(Ctx *c)
{
    struct stat sb;
    if (stat(c->opt->dir, &sb) != 0)
        return ps_err(c->err, PS_ERR_NOTFOUND, "%s: %s", c->opt->dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ps_err(c->err, PS_ERR_NOTFOUND, "%s: not a directory", c->opt->dir);
    const char *core;
    if (resolve(c, TABLE_PATIENTS, "core", "patients")) {
        c->layout = 1;
        core = "core";
    } else if (resolve(c, TABLE_PATIENTS, "hosp", "patients")) {
        c->layout = 2;
        core = "hosp";
    } else {
        return ps_err(c->err, PS_ERR_NOTFOUND,
                      "%s: not a MIMIC-IV directory (neither "
                      "hosp/patients.csv[.gz] nor core/patients.csv[.gz])",
                      c->opt->dir);
    }
    resolve(c, TABLE_ADMISSIONS, core, "admissions");
    resolve(c, TABLE_ICUSTAYS, "icu", "icustays");
    resolve(c, TABLE_D_ICD, "hosp", "d_icd_diagnoses");
    resolve(c, TABLE_DIAGNOSES, "hosp", "diagnoses_icd");
    resolve(c, TABLE_CHARTEVENTS, "icu", "chartevents");
    resolve(c, TABLE_LABEVENTS, "hosp", "labevents");
    resolve(c, TABLE_D_ITEMS, "icu", "d_items");
    resolve(c, TABLE_D_LABITEMS, "hosp", "d_labitems");
    for (int t = 0; t < N_TABLES; t++)
        if (t != TABLE_CHARTEVENTS && t != TABLE_D_ITEMS && t != TABLE_D_LABITEMS && !c->present[t])
            return ps_err(c->err, PS_ERR_NOTFOUND, "%s: %s is missing", c->opt->dir, c->display[t]);
    return PS_OK;
}

/* Reads the itemids of a dictionary table (d_items, d_labitems) into a bitmap, so that event
 * rows naming an item the release does not know are reported as bad rows. */
static PsStatus read_dictionary(Ctx *c, int which, uint8_t **out)
{
    static const char *const names[] = {"itemid"};
    Table t;
    PsStatus rc = table_open(c, &t, which, names, 1);
    if (rc) return rc;
    uint8_t *bits = calloc(MAX_ITEMID / 8 + 1, 1);
    if (!bits) {
        csv_close(t.r);
        return ps_err(c->err, PS_ERR_NOMEM, "out of memory");
    }
    int got;
    while ((rc = table_next(c, &t, &got)) == PS_OK && got) {
        if (got == 2) continue;
        int64_t id;
        if (get_i64(c, &t, 0, "itemid", 0, 0, &id)) continue;
        if (id < 0 || id >= MAX_ITEMID) {
            report_bad(c, "%s:%lld: itemid out of range in column itemid", t.display,
                       (long long)csv_line(t.r));
            continue;
        }
        bits[id >> 3] |= (uint8_t)(1u << (id & 7));
    }
    csv_close(t.r);
    if (rc) {
        free(bits);
        return rc;
    }
    *out = bits;
    return PS_OK;
}

/* ---- the cohort ----------------------------------------------------------------------------- */

static PsStatus nomem(Ctx *c)
{
    return ps_err(c->err, PS_ERR_NOMEM, "out of memory");
}

static PsStatus read_patients(Ctx *c)
{
    static const char *const names[] = {"subject_id", "gender", "anchor_age", "anchor_year", "dod"};
    Table t;
    PsStatus rc = table_open(c, &t, TABLE_PATIENTS, names, 5);
    if (rc) return rc;
    size_t cap = 0;
    int got;
    while ((rc = table_next(c, &t, &got)) == PS_OK && got) {
        if (got == 2) continue;
        Patient p = {0};
        int64_t age, year;
        if (get_i64(c, &t, 0, "subject_id", 0, 0, &p.subject) ||
            get_i64(c, &t, 2, "anchor_age", 0, 0, &age) ||
            get_i64(c, &t, 3, "anchor_year", 1, 0, &year) || get_time(c, &t, 4, "dod", 1, &p.dod))
            continue;
        size_t gn;
        const char *g = fld(&t, 1, &gn);
        p.gender = gn == 1 && (g[0] == 'M' || g[0] == 'F') ? g[0] : '?';
        p.anchor_age = (int)age;
        p.anchor_year = (int)year;
        if (c->n_pats == cap) {
            cap = cap ? cap * 2 : 4096;
            Patient *np = realloc(c->pats, cap * sizeof *np);
            if (!np) {
                rc = nomem(c);
                break;
            }
            c->pats = np;
        }
        c->pats[c->n_pats] = p;
        if (idmap_put(&c->pat_by_subject, p.subject, (int32_t)c->n_pats) != 0) {
            rc = nomem(c);
            break;
        }
        c->n_pats++;
    }
    csv_close(t.r);
    return rc;
}

static PsStatus read_admissions(Ctx *c)
{
    static const char *const names[] = {"subject_id", "hadm_id", "admittime", "dischtime",
                                        "deathtime"};
    Table t;
    PsStatus rc = table_open(c, &t, TABLE_ADMISSIONS, names, 5);
    if (rc) return rc;
    if (csv_find(t.r, "race") < 0 && csv_find(t.r, "ethnicity") < 0) {
        csv_close(t.r);
        return ps_err(c->err, PS_ERR_PARSE,
                      "%s:1: header lacks column 'race' (v2.x) or "
                      "'ethnicity' (v1.0)",
                      t.display);
    }
    size_t cap = 0;
    int got;
    while ((rc = table_next(c, &t, &got)) == PS_OK && got) {
        if (got == 2) continue;
        Admission a = {0};
        if (get_i64(c, &t, 0, "subject_id", 0, 0, &a.subject) ||
            get_i64(c, &t, 1, "hadm_id", 0, 0, &a.hadm) ||
            get_time(c, &t, 2, "admittime", 0, &a.admittime) ||
            get_time(c, &t, 3, "dischtime", 1, &a.dischtime) ||
            get_time(c, &t, 4, "deathtime", 1, &a.deathtime))
            continue;
        if (c->n_adms == cap) {
            cap = cap ? cap * 2 : 4096;
            Admission *na = realloc(c->adms, cap * sizeof *na);
            if (!na) {
                rc = nomem(c);
                break;
            }
            c->adms = na;
        }
        c->adms[c->n_adms] = a;
        if (idmap_put(&c->adm_by_hadm, a.hadm, (int32_t)c->n_adms) != 0) {
            rc = nomem(c);
            break;
        }
        c->n_adms++;
    }
    csv_close(t.r);
    return rc;
}

static int cmp_stay(const void *a, const void *b)
{
    const Stay *x = a, *y = b;
    if (x->subject != y->subject) return x->subject < y->subject ? -1 : 1;
    if (x->intime != y->intime) return x->intime < y->intime ? -1 : 1;
    return (x->stay > y->stay) - (x->stay < y->stay);
}

static PsStatus read_stays(Ctx *c)
{
    static const char *const names[] = {"subject_id",    "hadm_id", "stay_id", "first_careunit",
                                        "last_careunit", "intime",  "outtime", "los"};
    Table t;
    PsStatus rc = table_open(c, &t, TABLE_ICUSTAYS, names, 8);
    if (rc) return rc;
    size_t cap = 0;
    int64_t *funnel = c->stats->funnel;
    int got;
    while ((rc = table_next(c, &t, &got)) == PS_OK && got) {
        if (got == 2) continue;
        Stay s = {0};
        if (get_i64(c, &t, 0, "subject_id", 0, 0, &s.subject) ||
            get_i64(c, &t, 1, "hadm_id", 0, 0, &s.hadm) ||
            get_i64(c, &t, 2, "stay_id", 0, 0, &s.stay) ||
            get_time(c, &t, 5, "intime", 0, &s.intime) ||
            get_time(c, &t, 6, "outtime", 0, &s.outtime))
            continue;
        size_t n1, n2, ln;
        const char *f1 = fld(&t, 3, &n1), *f2 = fld(&t, 4, &n2), *los = fld(&t, 7, &ln);
        if (parse_num(los, ln, &s.los) != 0) s.los = (double)(s.outtime - s.intime) / 86400.0;
        funnel[0]++;
        /* rule 1: no transfer between care units */
        if (n1 != n2 || memcmp(f1, f2, n1) != 0) continue;
        funnel[1]++;
        snprintf(s.first, sizeof s.first, "%.*s", (int)n1, f1);
        snprintf(s.last, sizeof s.last, "%.*s", (int)n2, f2);
        /* rule 2: the inner joins with admissions (subject and hadm) and patients */
        s.adm = idmap_get(&c->adm_by_hadm, s.hadm);
        s.pat = idmap_get(&c->pat_by_subject, s.subject);
        if (s.adm < 0 || s.pat < 0 || c->adms[s.adm].subject != s.subject) continue;
        funnel[2]++;
        if (c->n_stays == cap) {
            cap = cap ? cap * 2 : 4096;
            Stay *ns = realloc(c->stays, cap * sizeof *ns);
            if (!ns) {
                rc = nomem(c);
                break;
            }
            c->stays = ns;
        }
        c->stays[c->n_stays++] = s;
    }
    csv_close(t.r);
    if (rc) return rc;
    /* rule 3: admissions left with exactly one stay; rule 4: age >= 18 */
    IdMap per_hadm = {0};
    for (size_t i = 0; i < c->n_stays; i++) {
        int32_t k = idmap_get(&per_hadm, c->stays[i].hadm);
        if (idmap_put(&per_hadm, c->stays[i].hadm, k < 0 ? 1 : k + 1) != 0) {
            idmap_free(&per_hadm);
            return nomem(c);
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < c->n_stays; i++) {
        if (idmap_get(&per_hadm, c->stays[i].hadm) != 1) continue;
        funnel[3]++;
        int age = c->pats[c->stays[i].pat].anchor_age;
        if (age < 0) age = 90;
        if (age < 18) continue;
        funnel[4]++;
        c->stays[w++] = c->stays[i];
    }
    idmap_free(&per_hadm);
    c->n_stays = w;
    qsort(c->stays, c->n_stays, sizeof *c->stays, cmp_stay);
    for (size_t i = 0; i < c->n_stays; i++) {
        if (i == 0 || c->stays[i].subject != c->stays[i - 1].subject)
            if (idmap_put(&c->stay_by_subject, c->stays[i].subject, (int32_t)i) != 0)
                return nomem(c);
        if (idmap_put(&c->stay_by_hadm, c->stays[i].hadm, (int32_t)i) != 0) return nomem(c);
    }
    return PS_OK;
}

/* Reads the ICD dictionary (writing titles when write) and the cohort's diagnoses (writing
 * them when write), setting each stay's labels. */
static PsStatus read_diagnoses(Ctx *c, int write)
{
    static const char *const dnames[] = {"icd_code", "icd_version", "long_title"};
    Table t;
    PsStatus rc = table_open(c, &t, TABLE_D_ICD, dnames, 3);
    if (rc) return rc;
    int got;
    while ((rc = table_next(c, &t, &got)) == PS_OK && got) {
        if (got == 2) continue;
        int64_t ver;
        size_t cn, tn;
        const char *code = fld(&t, 0, &cn), *title = fld(&t, 2, &tn);
        if (get_i64(c, &t, 1, "icd_version", 0, 0, &ver)) continue;
        if ((ver != 9 && ver != 10) || cn == 0 || cn >= 16) {
            report_bad(c, "%s:%lld: ICD version must be 9 or 10 and the code 1-15 characters",
                       t.display, (long long)csv_line(t.r));
            continue;
        }
        CodeEntry *e = codemap_get(&c->codes, code, cn, 1);
        if (!e) {
            rc = nomem(c);
            break;
        }
        e->titled = 1;
        (void)tn;
        if (write && (rc = store_put_icd_title(c->st, e->code, (int)ver, title)) != PS_OK) {
            rc = ps_err(c->err, rc, "%s", store_errmsg(c->st));
            break;
        }
    }
    csv_close(t.r);
    if (rc) return rc;

    static const char *const names[] = {"subject_id", "hadm_id", "seq_num", "icd_code",
                                        "icd_version"};
    rc = table_open(c, &t, TABLE_DIAGNOSES, names, 5);
    if (rc) return rc;
    while ((rc = table_next(c, &t, &got)) == PS_OK && got) {
        if (got == 2) continue;
        StoreDiagnosis d = {0};
        int64_t seq, ver;
        if (get_i64(c, &t, 0, "subject_id", 0, 0, &d.subject_id) ||
            get_i64(c, &t, 1, "hadm_id", 0, 0, &d.hadm_id))
            continue;
        int32_t si = idmap_get(&c->stay_by_hadm, d.hadm_id);
        if (si < 0 || c->stays[si].subject != d.subject_id) continue; /* not the cohort's */
        if (get_i64(c, &t, 2, "seq_num", 0, 0, &seq) ||
            get_i64(c, &t, 4, "icd_version", 0, 0, &ver))
            continue;
        size_t cn;
        const char *code = fld(&t, 3, &cn);
        if ((ver != 9 && ver != 10) || cn == 0 || cn >= sizeof d.icd_code) {
            report_bad(c, "%s:%lld: ICD version must be 9 or 10 and the code 1-15 characters",
                       t.display, (long long)csv_line(t.r));
            continue;
        }
        memcpy(d.icd_code, code, cn);
        d.seq_num = (int)seq;
        d.icd_version = (int)ver;
        CodeEntry *e = codemap_get(&c->codes, code, cn, 0);
        if (e && e->titled && e->pheno >= 0) c->stays[si].labels[e->pheno] = 1;
        if (write && (rc = store_put_diagnosis(c->st, &d)) != PS_OK) {
            rc = ps_err(c->err, rc, "%s", store_errmsg(c->st));
            break;
        }
    }
    csv_close(t.r);
    return rc;
}

static int split_of(int64_t subject)
{
    uint64_t h = mix64((uint64_t)subject ^ 0x5048454e4f53ULL) % 100;
    return h < 70 ? SPLIT_TRAIN : h < 80 ? SPLIT_VAL : SPLIT_TEST;
}

static PsStatus write_cohort(Ctx *c)
{
    PsStatus rc = PS_OK;
    for (size_t i = 0; i < c->n_stays && rc == PS_OK; i++) {
        const Stay *s = &c->stays[i];
        const Patient *p = &c->pats[s->pat];
        const Admission *a = &c->adms[s->adm];
        StorePatient sp = {p->subject, p->gender, p->anchor_age, p->anchor_year};
        rc = store_put_patient(c->st, &sp);
        if (rc) break;
        StoreStay ss = {0};
        ss.stay_id = s->stay;
        ss.subject_id = s->subject;
        ss.hadm_id = s->hadm;
        snprintf(ss.first_careunit, sizeof ss.first_careunit, "%s", s->first);
        snprintf(ss.last_careunit, sizeof ss.last_careunit, "%s", s->last);
        ss.intime = s->intime;
        ss.outtime = s->outtime;
        ss.admittime = a->admittime;
        ss.dischtime = a->dischtime;
        ss.deathtime = a->deathtime;
        ss.los_days = s->los;
        ss.age = p->anchor_age < 0 ? 90 : p->anchor_age;
        ss.split = split_of(s->subject);
        /* the benchmark's in-hospital mortality: dod or deathtime within the admission */
        int dead = (p->dod && a->admittime <= p->dod && p->dod <= a->dischtime) ||
                   (a->deathtime && a->admittime <= a->deathtime && a->deathtime <= a->dischtime);
        ss.mortality_inhospital = dead;
        rc = store_put_stay(c->st, &ss);
        if (rc == PS_OK) rc = store_put_labels(c->st, s->stay, s->labels);
    }
    static const char *const rules[5] = {"ICU stays", "same first and last care unit",
                                         "with admission and patient records",
                                         "only ICU stay of its admission", "age >= 18"};
    for (int k = 0; k < 5 && rc == PS_OK; k++)
        rc = store_put_funnel(c->st, SOURCE, k, rules[k], c->stats->funnel[k]);
    if (rc) return ps_err(c->err, rc, "%s", store_errmsg(c->st));
    return PS_OK;
}

/* The cohort batch: diagnoses with their titles, the cohort, the funnel; its progress record
 * carries the bad rows of the resources and small tables. */
typedef struct {
    Ctx *c;
    int64_t resource_bad;
} CohortWrite;

static PsStatus write_cohort_batch(void *ctx, ImportBatch *b, PsErr *err)
{
    (void)err; /* the Ctx carries err */
    CohortWrite *w = ctx;
    PsStatus rc = read_diagnoses(w->c, 1);
    if (rc == PS_OK) rc = write_cohort(w->c);
    b->bad = w->c->bad + w->resource_bad;
    return rc;
}

/* ---- progress ------------------------------------------------------------------------------- */

static PsStatus db_exec(Ctx *c, const char *sql)
{
    char *msg = NULL;
    int src = sqlite3_exec(store_db(c->st), sql, NULL, NULL, &msg);
    if (src != SQLITE_OK) {
        PsStatus rc = ps_err(c->err, store_status_from_sqlite(src), "%s: %s", store_path(c->st),
                             msg ? msg : sqlite3_errstr(src));
        sqlite3_free(msg);
        return rc;
    }
    return PS_OK;
}

static PsStatus db_error(Ctx *c, int src)
{
    return ps_err(c->err, store_status_from_sqlite(src), "%s: %s", store_path(c->st),
                  sqlite3_errmsg(store_db(c->st)));
}

/* Reads the progress of item: records done, bad rows seen, done flag, detail (may be NULL).
 * Absent items read as zeros; *found says whether the row exists. */
static PsStatus progress_get(Ctx *c, const char *item, int64_t *records, int64_t *bad, int *done,
                             char *detail, size_t dn, int *found)
{
    ImportProgress p;
    PsStatus rc = import_util_progress_get(c->st, SOURCE, item, &p, c->err);
    *records = p.records;
    *bad = p.bad;
    *done = p.done;
    if (found) *found = p.found;
    if (detail && dn) snprintf(detail, dn, "%s", p.detail);
    return rc;
}

static PsStatus progress_put(Ctx *c, const char *item, int64_t records, int64_t bad, int done,
                             const char *detail)
{
    return import_util_progress_put(c->st, SOURCE, item, records, bad, done, detail, c->err);
}

static PsStatus begin(Ctx *c)
{
    PsStatus rc = store_begin(c->st);
    if (rc) return ps_err(c->err, rc, "%s", store_errmsg(c->st));
    c->in_tx = 1;
    return PS_OK;
}

static PsStatus commit(Ctx *c)
{
    c->in_tx = 0;
    PsStatus rc = store_commit(c->st);
    if (rc) return ps_err(c->err, rc, "%s", store_errmsg(c->st));
    return PS_OK;
}

static int64_t query_i64(Ctx *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(store_db(c->st), sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* ---- events --------------------------------------------------------------------------------- */

enum {
    CH_CRR = 0,
    CH_DBP = 1,
    CH_FIO2 = 2,
    CH_GCS_EYE = 3,
    CH_GCS_TOTAL = 5,
    CH_GCS_VERBAL = 6,
    CH_GLUCOSE = 7,
    CH_HEIGHT = 9,
    CH_SPO2 = 11,
    CH_SBP = 13,
    CH_TEMP = 14,
    CH_WEIGHT = 15,
    CH_PH = 16
};

/* Cleans one value for channel ch. Returns 1 kept (*v, *text), 0 dropped as the benchmark
 * drops it (reason written), -1 a bad value (reason written). */
static int clean_value(const ItemInfo *it, const char *s, size_t n, const char *uom, size_t un,
                       double *v, const char **text, const char **reason)
{
    int ch = it->channel;
    *text = NULL;
    if (catalog_channels[ch].categorical) {
        if (ch == CH_CRR) {
            if ((n == 14 && memcmp(s, "Normal <3 secs", 14) == 0) ||
                (n == 5 && memcmp(s, "Brisk", 5) == 0)) {
                *v = 0;
                *text = "0.0";
                return 1;
            }
            if ((n == 16 && memcmp(s, "Abnormal >3 secs", 16) == 0) ||
                (n == 7 && memcmp(s, "Delayed", 7) == 0)) {
                *v = 1;
                *text = "1.0";
                return 1;
            }
            *reason = "unknown capillary refill text";
            return -1;
        }
        char buf[64];
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        if (n >= sizeof buf) {
            *reason = "unknown category";
            return -1;
        }
        memcpy(buf, s, n);
        buf[n] = 0;
        int k = catalog_category_index(ch, buf);
        if (k < 0) {
            *reason = "unknown category";
            return -1;
        }
        *v = catalog_channels[ch].categories[k].score;
        *text = catalog_channels[ch].categories[k].text;
        return 1;
    }
    *reason = "unparsable number";
    switch (ch) {
    case CH_SBP:
    case CH_DBP: {
        const char *slash = memchr(s, '/', n);
        if (slash) {
            /* "^(\d+)/(\d+)$": systolic before the slash, diastolic after */
            size_t a = (size_t)(slash - s), b = n - a - 1;
            for (size_t i = 0; i < n; i++)
                if (i != a && !isdigit((unsigned char)s[i])) return -1;
            if (a == 0 || b == 0) return -1;
            return ch == CH_SBP ? (parse_num(s, a, v) == 0 ? 1 : -1)
                                : (parse_num(slash + 1, b, v) == 0 ? 1 : -1);
        }
        return parse_num(s, n, v) == 0 ? 1 : -1;
    }
    case CH_FIO2:
        if (parse_num(s, n, v) != 0) return -1;
        if (*v > 1.0 && !contains_ci(uom, un, "torr")) *v /= 100.0;
        return 1;
    case CH_SPO2:
        if (parse_lab(s, n, v) != 0) return -1;
        if (*v <= 1.0) *v *= 100.0;
        return 1;
    case CH_GLUCOSE:
    case CH_PH:
        return parse_lab(s, n, v) == 0 ? 1 : -1;
    case CH_TEMP:
        if (parse_num(s, n, v) != 0) return -1;
        if (it->label_f || memchr(uom, 'F', un) || memchr(uom, 'f', un) || *v >= 79)
            *v = (*v - 32.0) * 5.0 / 9.0;
        return 1;
    case CH_WEIGHT: {
        if (parse_num(s, n, v) != 0) return -1;
        int oz = it->label_oz || contains_ci(uom, un, "oz");
        int lb = it->label_lb || contains_ci(uom, un, "lb");
        if (oz) *v /= 16.0;
        if (oz || lb) *v *= 0.453592;
        return 1;
    }
    case CH_HEIGHT:
        if (parse_num(s, n, v) != 0) return -1;
        if (it->label_in || contains_ci(uom, un, "in")) *v = nearbyint(*v * 2.54);
        return 1;
    default:
        return parse_num(s, n, v) == 0 ? 1 : -1;
    }
}

/* "___": MIMIC's mark of a redacted value. */
static int is_redacted(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_') return 0;
    return 1;
}

/* One batch of mapped events, filled by the reader thread and written by the caller's thread
 * in one transaction. Event texts point at catalog constants, so a chunk owns no strings. */
typedef struct {
    StoreEvent *ev;
    size_t n, cap;
    int64_t records_end; /* records of the file consumed once this chunk is written */
    int64_t bad_end;     /* bad rows of the file (this run) at that point */
    uint64_t bytes_end;  /* bytes read from the file at that point, for progress */
    int eof;             /* the file ended inside this chunk */
    PsStatus rc;         /* a fatal error met after the events in it */
    PsErr err;
} Chunk;

/* Two chunks handed between the reader thread and the writer (the caller): while one is
 * written to SQLite the next is parsed, so an import uses two cores.
 * Thread safety: `Pipe` fields under mu; a chunk belongs to the reader while state is 0 and to
 * the writer while 1. The reader alone touches the Table, Ctx.bad and the event counters in
 * Ctx.stats until it is joined. */
typedef struct {
    Ctx *c;
    Table *t;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    Chunk chunk[2];
    int state[2];
    int stop; /* the writer wants no more chunks */
} Pipe;

static int push_event(Chunk *k, const StoreEvent *e)
{
    if (k->n == k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 4096;
        StoreEvent *ne = realloc(k->ev, ncap * sizeof *ne);
        if (!ne) return -1;
        k->ev = ne;
        k->cap = ncap;
    }
    k->ev[k->n++] = *e;
    return 0;
}

/* Maps the current record of t to events appended to k. Only running out of memory fails. */
static PsStatus map_row(Ctx *c, Table *t, Chunk *k)
{
    size_t n;
    const char *s = fld(t, 2, &n);
    int64_t itemid;
    if (import_util_parse_i64(s, n, &itemid) != 0) {
        report_bad(c, "%s:%lld: unparsable integer in column itemid", t->display,
                   (long long)csv_line(t->r));
        return PS_OK;
    }
    if (t->known &&
        (itemid < 0 || itemid >= MAX_ITEMID || !(t->known[itemid >> 3] & (1u << (itemid & 7))))) {
        report_bad(c, "%s:%lld: unknown item in column itemid (not in the release's dictionary)",
                   t->display, (long long)csv_line(t->r));
        return PS_OK;
    }
    if (itemid < 0 || itemid >= c->n_items || c->items[itemid].channel < 0)
        return PS_OK; /* not one of the 17 variables */
    int64_t subject;
    if (get_i64(c, t, 0, "subject_id", 0, 0, &subject)) return PS_OK;
    int32_t first = idmap_get(&c->stay_by_subject, subject);
    if (first < 0) return PS_OK; /* not in the cohort */
    int64_t when, stay_id = -1;
    if (get_time(c, t, 1, "charttime", 0, &when)) return PS_OK;
    if (t->col[5] >= 0 && get_i64(c, t, 5, "stay_id", 1, -1, &stay_id)) return PS_OK;
    const char *val = fld(t, 3, &n);
    if (n == 0) return PS_OK; /* the benchmark drops rows without a value */
    size_t un;
    const char *uom = fld(t, 4, &un);
    const ItemInfo *it = &c->items[itemid];
    double v = 0;
    const char *text = NULL, *reason = NULL;
    int ok = clean_value(it, val, n, uom, un, &v, &text, &reason);
    if (ok < 0 && is_redacted(val, n) && t->col[6] >= 0) {
        /* MIMIC-IV redacts `value` to "___" when a comment goes with it, yet keeps the number
         * in valuenum: clean that instead (the benchmark would drop the row). */
        size_t nn;
        const char *num = fld(t, 6, &nn);
        if (nn > 0 && (ok = clean_value(it, num, nn, uom, un, &v, &text, &reason)) > 0)
            c->stats->from_valuenum++;
    }
    if (ok < 0) {
        report_bad(c, "%s:%lld: %s in column value (%s)", t->display, (long long)csv_line(t->r),
                   reason, catalog_channels[it->channel].name);
        return PS_OK;
    }
    const Range *rg = &c->ranges[it->channel];
    if (rg->present && !catalog_channels[it->channel].categorical) {
        if (v < rg->outlier_lo || v > rg->outlier_hi) {
            c->stats->dropped_outlier++;
            return PS_OK;
        }
        if (v < rg->valid_lo) v = rg->valid_lo;
        if (v > rg->valid_hi) v = rg->valid_hi;
    }
    for (size_t i = (size_t)first; i < c->n_stays && c->stays[i].subject == subject; i++) {
        const Stay *st = &c->stays[i];
        if (st->stay != stay_id && (when < st->intime || when > st->outtime)) continue;
        StoreEvent e = {st->stay, (float)((double)(when - st->intime) / 3600.0), it->channel,
                        (float)v, text};
        if (push_event(k, &e) != 0) return ps_err(&k->err, PS_ERR_NOMEM, "out of memory");
    }
    return PS_OK;
}

/* Fills k with the events of the next batch of records. */
static void fill_chunk(Ctx *c, Table *t, Chunk *k)
{
    k->n = 0;
    k->rc = PS_OK;
    k->eof = 0;
    int64_t end = t->records + c->batch;
    while (t->records < end) {
        int got = 0;
        int g = 0;
        PsStatus rc = csv_next(t->r, &g, &k->err);
        if (rc == PS_ERR_PARSE) {
            t->records++;
            report_bad(c, "%s", k->err.msg);
            continue;
        }
        if (rc) {
            k->rc = rc;
            break;
        }
        if (!g) {
            k->eof = 1;
            break;
        }
        t->records++;
        c->stats->event_rows_read++;
        if (csv_nfields(t->r) != t->ncols) {
            report_bad(c, "%s:%lld: expected %d columns, got %d", t->display,
                       (long long)csv_line(t->r), t->ncols, csv_nfields(t->r));
            continue;
        }
        got = 1;
        (void)got;
        if ((k->rc = map_row(c, t, k)) != PS_OK) break;
    }
    k->records_end = t->records;
    k->bad_end = c->bad;
    k->bytes_end = csv_bytes_read(t->r);
}

static void *reader_main(void *arg)
{
    Pipe *p = arg;
    for (int i = 0;; i ^= 1) {
        pthread_mutex_lock(&p->mu);
        while (p->state[i] != 0 && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        Chunk *k = &p->chunk[i];
        fill_chunk(p->c, p->t, k);
        pthread_mutex_lock(&p->mu);
        p->state[i] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (k->eof || k->rc) break;
    }
    return NULL;
}

/* Inserts events through one multi-row INSERT of EVENTS_PER_STMT rows (the store's own
 * one-row writer for the remainder): a third of the per-row cost of single-row statements,
 * which is what lets an import keep up with the CSV reader. Rows as store_put_event writes
 * them (value NULL when not finite, text NULL when absent). The statement is prepared once per
 * file (prepare_events), not per batch. */
#define EVENTS_PER_STMT 64
static PsStatus prepare_events(Ctx *c, sqlite3_stmt **out)
{
    char sql[64 + EVENTS_PER_STMT * 16];
    size_t w = (size_t)snprintf(sql, sizeof sql,
                                "INSERT INTO events(stay_id, hours, channel, value, text) VALUES");
    for (int r = 0; r < EVENTS_PER_STMT; r++)
        w += (size_t)snprintf(sql + w, sizeof sql - w, "%s(?,?,?,?,?)", r ? "," : "");
    int src = sqlite3_prepare_v3(store_db(c->st), sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return src == SQLITE_OK ? PS_OK : db_error(c, src);
}

static PsStatus write_events(Ctx *c, sqlite3_stmt *s, const StoreEvent *ev, size_t n)
{
    size_t j = 0;
    for (; j + EVENTS_PER_STMT <= n; j += EVENTS_PER_STMT) {
        for (int r = 0; r < EVENTS_PER_STMT; r++) {
            const StoreEvent *e = &ev[j + (size_t)r];
            int b = r * 5;
            sqlite3_bind_int64(s, b + 1, e->stay_id);
            sqlite3_bind_double(s, b + 2, e->hours);
            sqlite3_bind_int(s, b + 3, e->channel);
            if (isfinite(e->value))
                sqlite3_bind_double(s, b + 4, e->value);
            else
                sqlite3_bind_null(s, b + 4);
            if (e->text)
                sqlite3_bind_text(s, b + 5, e->text, -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(s, b + 5);
        }
        int src = sqlite3_step(s);
        sqlite3_reset(s);
        if (src != SQLITE_DONE) return db_error(c, src);
    }
    for (; j < n; j++) {
        PsStatus rc = store_put_event(c->st, &ev[j]);
        if (rc) return ps_err(c->err, rc, "%s", store_errmsg(c->st));
    }
    return PS_OK;
}

typedef struct {
    Ctx *c;
    const Chunk *k;
    sqlite3_stmt *stmt;
} ChunkWrite;

static PsStatus write_chunk(void *ctx, ImportBatch *b, PsErr *err)
{
    (void)b, (void)err; /* the Ctx carries err */
    ChunkWrite *w = ctx;
    return write_events(w->c, w->stmt, w->k->ev, w->k->n);
}

static PsStatus import_events(Ctx *c, int which, const char *item)
{
    int64_t done_records, bad_before;
    int done;
    PsStatus rc = progress_get(c, item, &done_records, &bad_before, &done, NULL, 0, NULL);
    if (rc || done) return rc;
    if (done_records > 0) c->stats->resumed = 1;
    static const char *const names[] = {"subject_id", "charttime", "itemid",   "value",
                                        "valueuom",   "?stay_id",  "?valuenum"};
    sqlite3_stmt *stmt = NULL;
    if ((rc = prepare_events(c, &stmt))) return rc;
    Table t;
    rc = table_open(c, &t, which, names, 7);
    if (rc) {
        sqlite3_finalize(stmt);
        return rc;
    }
    t.known = which == TABLE_CHARTEVENTS ? c->known_chart : c->known_lab;
    struct stat sb;
    uint64_t total = stat(c->path[which], &sb) == 0 ? (uint64_t)sb.st_size : 0;
    /* skip what earlier runs committed (bad rows among them were counted then) */
    int eof = 0;
    while (t.records < done_records) {
        int g = 0;
        rc = csv_next(t.r, &g, c->err);
        if (rc == PS_ERR_PARSE) {
            t.records++;
            rc = PS_OK;
            continue;
        }
        if (rc) goto out;
        if (!g) {
            eof = 1;
            break;
        }
        t.records++;
    }
    c->bad = 0;
    Pipe p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.t = &t;
    pthread_t th;
    int started = 0;
    if (!eof) {
        if (pthread_mutex_init(&p.mu, NULL) || pthread_cond_init(&p.cv, NULL)) {
            rc = ps_err(c->err, PS_ERR_NOMEM, "cannot create a mutex");
            goto out;
        }
        /* the reader never handles signals: the caller's thread does */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        started = pthread_create(&th, NULL, reader_main, &p) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!started) {
            rc = ps_err(c->err, PS_ERR_NOMEM, "cannot start the reader thread");
            goto cleanup;
        }
    }
    for (int i = 0; started; i ^= 1) {
        pthread_mutex_lock(&p.mu);
        while (p.state[i] != 1)
            pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        Chunk *k = &p.chunk[i];
        /* progress goes with the events: a fatal error after them still keeps them */
        ChunkWrite cw = {c, k, stmt};
        ImportBatch b = {.source = SOURCE,
                         .item = item,
                         .records = k->records_end,
                         .bad = bad_before + k->bad_end,
                         .done = k->eof && !k->rc,
                         .write = write_chunk,
                         .ctx = &cw};
        if ((rc = import_util_commit_batch(c->st, &b, c->err)) != PS_OK) break;
        if (k->rc) {
            rc = k->rc;
            snprintf(c->err->msg, sizeof c->err->msg, "%s", k->err.msg);
            break;
        }
        if (c->opt->on_progress &&
            c->opt->on_progress(c->opt->ctx, t.display, k->records_end, k->bytes_end, total)) {
            rc = ps_err(c->err, PS_ERR_CANCELLED, "import cancelled");
            break;
        }
        if (k->eof) break;
        pthread_mutex_lock(&p.mu);
        p.state[i] = 0;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
    }
    if (started) {
        pthread_mutex_lock(&p.mu);
        p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        pthread_join(th, NULL);
    }
cleanup:
    if (!eof) {
        pthread_cond_destroy(&p.cv);
        pthread_mutex_destroy(&p.mu);
    }
    free(p.chunk[0].ev);
    free(p.chunk[1].ev);
    if (eof && rc == PS_OK) { /* the file ended exactly where the last run stopped */
        ImportBatch b = {.source = SOURCE, .item = item, .records = t.records, .bad = bad_before,
                         .done = 1};
        rc = import_util_commit_batch(c->st, &b, c->err);
    }
out:
    sqlite3_finalize(stmt);
    csv_close(t.r);
    return rc;
}

/* ---- finish --------------------------------------------------------------------------------- */

static PsStatus finish(Ctx *c)
{
    /* the phenotyping task keeps stays with an event at 0 <= hours <= los (hours), eps 1e-6 */
    static const char cut[] =
        "CREATE TEMP TABLE IF NOT EXISTS import_keep(stay_id INTEGER PRIMARY KEY);"
        "DELETE FROM import_keep;"
        "INSERT INTO import_keep SELECT s.stay_id FROM stays s WHERE EXISTS (SELECT 1 FROM "
        " events e WHERE e.stay_id = s.stay_id AND e.hours > -1e-6 AND "
        " e.hours < s.los_days * 24.0 + 1e-6);"
        "DELETE FROM diagnoses WHERE hadm_id IN (SELECT hadm_id FROM stays WHERE stay_id NOT IN "
        " (SELECT stay_id FROM import_keep));"
        "DELETE FROM stays WHERE stay_id NOT IN (SELECT stay_id FROM import_keep);"
        "DELETE FROM patients WHERE subject_id NOT IN (SELECT subject_id FROM stays);"
        "DROP TABLE import_keep;";
    PsStatus rc = begin(c);
    if (rc) return rc;
    rc = db_exec(c, cut);
    int64_t kept = rc == PS_OK ? query_i64(c, "SELECT count(*) FROM stays") : 0;
    c->stats->funnel[5] = kept;
    if (rc == PS_OK &&
        (rc = store_put_funnel(c->st, SOURCE, 5, "with an event during the stay", kept)) != PS_OK)
        rc = ps_err(c->err, rc, "%s", store_errmsg(c->st));
    if (rc == PS_OK) {
        char detail[4200];
        snprintf(detail, sizeof detail, "%s (MIMIC-IV %s layout%s), %lld stays", c->opt->dir,
                 c->layout == 1 ? "v1.0" : "v2.x",
                 c->present[TABLE_CHARTEVENTS] ? "" : ", no chartevents", (long long)kept);
        if ((rc = store_put_source(c->st, SOURCE, detail)) != PS_OK)
            rc = ps_err(c->err, rc, "%s", store_errmsg(c->st));
    }
    if (rc == PS_OK) rc = progress_put(c, "finish", 0, 0, 1, NULL);
    if (rc == PS_OK && (rc = store_recompute_pairs(c->st)) != PS_OK)
        rc = ps_err(c->err, rc, "%s", store_errmsg(c->st));
    if (rc) {
        store_rollback(c->st);
        c->in_tx = 0;
        return rc;
    }
    return commit(c);
}

static void fill_stats(Ctx *c)
{
    ImportMimicStats *s = c->stats;
    s->bad_rows = import_util_progress_bad(c->st, SOURCE);
    s->events = query_i64(c, "SELECT count(*) FROM events");
    s->stays_with_labels = query_i64(
        c, "SELECT count(*) FROM labels WHERE p00+p01+p02+p03+p04+p05+p06+p07+p08+p09+p10+p11+"
           "p12+p13+p14+p15+p16+p17+p18+p19+p20+p21+p22+p23+p24 > 0");
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(store_db(c->st),
                           "SELECT step, count FROM funnel WHERE source = '" SOURCE "'", -1, &q,
                           NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            int k = sqlite3_column_int(q, 0);
            if (k >= 0 && k < N_FUNNEL) s->funnel[k] = sqlite3_column_int64(q, 1);
        }
    }
    sqlite3_finalize(q);
}

/* ---- the run -------------------------------------------------------------------------------- */

PsStatus import_mimic_run(Store *st, const ImportMimicOptions *opt, ImportMimicStats *stats,
                          PsErr *err)
{
    PS_CHECK(err, st && opt && opt->dir && stats);
    memset(stats, 0, sizeof *stats);
    Ctx *c = calloc(1, sizeof *c);
    if (!c) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    c->st = st;
    c->opt = opt;
    c->stats = stats;
    c->err = err;
    c->batch = opt->batch_rows > 0 ? opt->batch_rows : IMPORT_MIMIC_DEFAULT_BATCH;
    PsStatus rc = PS_OK;
    int64_t recs, bad;
    int done, found;
    char detail[4200];

    if (!opt->definitions || !opt->itemids || !opt->ranges) {
        rc = ps_err(err, PS_ERR_INVALID,
                    "the benchmark's resource files are needed: "
                    "--definitions YAML --itemids CSV --ranges CSV, or --resources DIR");
        goto done;
    }
    if ((rc = find_tables(c)) || (rc = load_itemids(c, opt->itemids)) ||
        (rc = load_ranges(c, opt->ranges)) || (rc = load_definitions(c, opt->definitions)))
        goto done;
    stats->layout = c->layout;
    stats->has_chartevents = c->present[TABLE_CHARTEVENTS];
    /* the item dictionaries, when present, make rows naming unknown items bad rows */
    if (c->present[TABLE_D_ITEMS] && (rc = read_dictionary(c, TABLE_D_ITEMS, &c->known_chart)))
        goto done;
    if (c->present[TABLE_D_LABITEMS] && (rc = read_dictionary(c, TABLE_D_LABITEMS, &c->known_lab)))
        goto done;
    int64_t resource_bad = c->bad; /* counted with the cohort, once */

    rc = import_util_progress_init(st, err);
    if (rc) goto done;
    if ((rc = progress_get(c, "cohort", &recs, &bad, &done, detail, sizeof detail, &found)))
        goto done;
    if (found && strncmp(detail, opt->dir, sizeof((ImportProgress *)0)->detail - 1) != 0) {
        rc = ps_err(err, PS_ERR_INVALID,
                    "%s: holds an import of another directory (%.200s); "
                    "use a new store (--store PATH)",
                    store_path(st), detail);
        goto done;
    }
    if ((rc = progress_get(c, "finish", &recs, &bad, &done, NULL, 0, NULL))) goto done;
    if (done) {
        stats->already_done = 1;
        fill_stats(c);
        goto done;
    }
    if (!found) {
        int64_t n = query_i64(c, "SELECT count(*) FROM stays");
        if (n != 0) {
            rc = ps_err(err, PS_ERR_INVALID,
                        "%s: already holds %lld stays from another source; "
                        "import MIMIC-IV into a new store (--store PATH)",
                        store_path(st), (long long)n);
            goto done;
        }
    } else {
        stats->resumed = 1;
    }

    c->bad = 0;
    if ((rc = read_patients(c)) || (rc = read_admissions(c)) || (rc = read_stays(c))) goto done;
    if (!found) {
        CohortWrite cw = {c, resource_bad};
        ImportBatch b = {.source = SOURCE,
                         .item = "cohort",
                         .detail = opt->dir,
                         .done = 1,
                         .write = write_cohort_batch,
                         .ctx = &cw};
        if ((rc = import_util_commit_batch(st, &b, err))) goto done;
    } else if ((rc = read_diagnoses(c, 0))) {
        goto done;
    }
    /* Event rows reference only cohort stays committed above, so the per-row foreign-key probe
     * (a third of SQLite's work per insert) is switched off for the event batches alone; it is
     * back on before finish() deletes stays, whose cascade needs it. */
    if ((rc = db_exec(c, "PRAGMA foreign_keys = OFF"))) goto done;
    if (c->present[TABLE_CHARTEVENTS]) rc = import_events(c, TABLE_CHARTEVENTS, "chartevents");
    if (rc == PS_OK) rc = import_events(c, TABLE_LABEVENTS, "labevents");
    {
        PsErr e2 = {{0}};
        PsErr *saved = c->err;
        c->err = &e2;
        PsStatus rc2 = db_exec(c, "PRAGMA foreign_keys = ON");
        c->err = saved;
        if (rc == PS_OK && rc2) {
            rc = rc2;
            snprintf(err->msg, sizeof err->msg, "%s", e2.msg);
        }
    }
    if (rc) goto done;
    if ((rc = finish(c))) goto done;
    fill_stats(c);
done:
    if (c->in_tx) store_rollback(st);
    idmap_free(&c->pat_by_subject);
    idmap_free(&c->adm_by_hadm);
    idmap_free(&c->stay_by_subject);
    idmap_free(&c->stay_by_hadm);
    free(c->codes.e);
    free(c->items);
    free(c->known_chart);
    free(c->known_lab);
    free(c->pats);
    free(c->adms);
    free(c->stays);
    free(c);
    return rc;
}
