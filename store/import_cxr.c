/* import_cxr.c — the MIMIC-CXR-JPG importer (see import_cxr.h).
 *
 * Shape of a run: read the CheXpert table into a study -> 14 labels map and the split table
 * into a dicom_id -> split map (both small next to the images), then stream the metadata in
 * batches. For each batch the caller's thread parses the rows, `threads` workers decode,
 * resize and re-encode that batch's images (each worker takes the next image under a mutex),
 * and the caller's thread writes the batch and its records-done count in one transaction.
 * Radiograph rows are upserts, so even a batch redone after a crash writes the same rows.
 *
 * Deliberately not done: DICOM files (only the JPG release), the NegBio labels (same columns;
 * pass them renamed if wanted), reports.
 */
#include "store/import_cxr.h"

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
#include <time.h>
#include <unistd.h>

#include "store/csv.h"
#include "store/import_mimic.h"
#include "store/import_util.h"
#include "store/jpeg.h"
#include "store/store_internal.h"

#define SOURCE "mimic-cxr"

/* ---- small helpers -------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

int import_cxr_study_time(const char *date, size_t dn, const char *time, size_t tn, int64_t *out)
{
    if (dn != 8) return -1;
    for (size_t i = 0; i < 8; i++)
        if (!isdigit((unsigned char)date[i])) return -1;
    char iso[24];
    snprintf(iso, sizeof iso, "%.4s-%.2s-%.2s", date, date + 4, date + 6);
    int64_t day;
    if (import_mimic_parse_time(iso, 10, &day) != 0) return -1;
    /* HHMMSS as a number, so that lost leading zeros do not matter; the fraction is dropped */
    size_t i = 0;
    int64_t hms = 0;
    if (tn == 0) return -1;
    for (; i < tn && isdigit((unsigned char)time[i]); i++) {
        if (i >= 6) return -1;
        hms = hms * 10 + (time[i] - '0');
    }
    if (i == 0) return -1;
    if (i < tn) {
        if (time[i] != '.') return -1;
        for (i++; i < tn; i++)
            if (!isdigit((unsigned char)time[i])) return -1;
    }
    int64_t h = hms / 10000, m = hms / 100 % 100, s = hms % 100;
    if (h > 23 || m > 59 || s > 60) return -1;
    *out = day + h * 3600 + m * 60 + s;
    return 0;
}

void import_cxr_resize(unsigned char *dst, int dw, int dh, const unsigned char *src, int sw, int sh)
{
    /* pixel centres aligned: x_src = (x + 0.5) * sw / dw - 0.5 */
    double fx = (double)sw / dw, fy = (double)sh / dh;
    for (int y = 0; y < dh; y++) {
        double sy = (y + 0.5) * fy - 0.5;
        if (sy < 0) sy = 0;
        int y0 = (int)sy;
        if (y0 > sh - 1) y0 = sh - 1;
        int y1 = y0 + 1 < sh ? y0 + 1 : y0;
        double wy = sy - y0;
        const unsigned char *r0 = src + (size_t)y0 * (size_t)sw,
                            *r1 = src + (size_t)y1 * (size_t)sw;
        for (int x = 0; x < dw; x++) {
            double sx = (x + 0.5) * fx - 0.5;
            if (sx < 0) sx = 0;
            int x0 = (int)sx;
            if (x0 > sw - 1) x0 = sw - 1;
            int x1 = x0 + 1 < sw ? x0 + 1 : x0;
            double wx = sx - x0;
            double top = r0[x0] + (r0[x1] - r0[x0]) * wx;
            double bot = r1[x0] + (r1[x1] - r1[x0]) * wx;
            double v = top + (bot - top) * wy;
            dst[(size_t)y * (size_t)dw + (size_t)x] = (unsigned char)(v + 0.5);
        }
    }
}

/* ---- maps ----------------------------------------------------------------------------------- */

/* study_id -> CheXpert labels */
typedef struct {
    int64_t *keys;
    int8_t (*labels)[CATALOG_N_CHEXPERT];
    size_t cap, n;
} StudyMap;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static int8_t *study_slot(StudyMap *m, int64_t key, int add)
{
    if (add && (m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 4096;
        int64_t *k = malloc(ncap * sizeof *k);
        int8_t(*l)[CATALOG_N_CHEXPERT] = malloc(ncap * sizeof *l);
        if (!k || !l) {
            free(k);
            free(l);
            return NULL;
        }
        for (size_t i = 0; i < ncap; i++)
            k[i] = -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i] < 0) continue;
            size_t j = mix64((uint64_t)m->keys[i]) & (ncap - 1);
            while (k[j] >= 0)
                j = (j + 1) & (ncap - 1);
            k[j] = m->keys[i];
            memcpy(l[j], m->labels[i], sizeof l[j]);
        }
        free(m->keys);
        free(m->labels);
        m->keys = k;
        m->labels = l;
        m->cap = ncap;
    }
    if (!m->cap) return NULL;
    size_t j = mix64((uint64_t)key) & (m->cap - 1);
    while (m->keys[j] >= 0) {
        if (m->keys[j] == key) return m->labels[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!add) return NULL;
    m->keys[j] = key;
    m->n++;
    return m->labels[j];
}

/* dicom_id -> split; keys live in one growing arena of NUL-terminated strings */
typedef struct {
    size_t *off; /* arena offset + 1; 0 = empty */
    int8_t *split;
    size_t cap, n;
    char *arena;
    size_t alen, acap;
} DicomMap;

static int dicom_put(DicomMap *m, const char *k, size_t n, int8_t split)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 8192;
        size_t *o = calloc(ncap, sizeof *o);
        int8_t *s = malloc(ncap);
        if (!o || !s) {
            free(o);
            free(s);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->off[i]) continue;
            const char *key = m->arena + m->off[i] - 1;
            size_t j = hash_str(key, strlen(key)) & (ncap - 1);
            while (o[j])
                j = (j + 1) & (ncap - 1);
            o[j] = m->off[i];
            s[j] = m->split[i];
        }
        free(m->off);
        free(m->split);
        m->off = o;
        m->split = s;
        m->cap = ncap;
    }
    size_t j = hash_str(k, n) & (m->cap - 1);
    while (m->off[j]) {
        const char *key = m->arena + m->off[j] - 1;
        if (strncmp(key, k, n) == 0 && key[n] == 0) {
            m->split[j] = split;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (m->alen + n + 1 > m->acap) {
        size_t ncap = (m->alen + n + 1) * 2;
        char *na = realloc(m->arena, ncap);
        if (!na) return -1;
        m->arena = na;
        m->acap = ncap;
    }
    memcpy(m->arena + m->alen, k, n);
    m->arena[m->alen + n] = 0;
    m->off[j] = m->alen + 1;
    m->split[j] = split;
    m->alen += n + 1;
    m->n++;
    return 0;
}

static int dicom_get(const DicomMap *m, const char *k, size_t n)
{
    if (!m->cap) return -2;
    size_t j = hash_str(k, n) & (m->cap - 1);
    while (m->off[j]) {
        const char *key = m->arena + m->off[j] - 1;
        if (strncmp(key, k, n) == 0 && key[n] == 0) return m->split[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -2;
}

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct {
    StoreRadiograph r;
    char path[256]; /* relative to DIR */
    unsigned char *jpeg;
    size_t jpeg_size;
    int64_t line;
    char msg[PS_ERRMSG_MAX]; /* a decoding problem, reported by the caller's thread */
} Job;

typedef struct {
    Store *st;
    const ImportCxrOptions *opt;
    ImportCxrStats *stats;
    PsErr *err;
    char path[3][4096];
    char display[3][80];
    StudyMap studies;
    DicomMap splits;
    int64_t bad;
    int max_side, quality, threads, images;
    /* the batch being decoded */
    Job *jobs;
    size_t n_jobs, next_job;
    pthread_mutex_t mu;
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

/* Opens a table, reads its header and finds the columns (all required). */
static PsStatus open_table(Ctx *c, int which, const char *const *names, int n, int *col,
                           CsvReader **out, int *ncols)
{
    PsStatus rc = csv_open(out, c->path[which], c->display[which], NULL, c->err);
    if (rc) return rc;
    int got = 0;
    rc = csv_next(*out, &got, c->err);
    if (rc == PS_OK && !got)
        rc = ps_err(c->err, PS_ERR_PARSE, "%s: empty file (no header)", c->display[which]);
    for (int i = 0; rc == PS_OK && i < n; i++)
        if ((col[i] = csv_find(*out, names[i])) < 0)
            rc = ps_err(c->err, PS_ERR_PARSE, "%s:1: header lacks column '%s'", c->display[which],
                        names[i]);
    if (rc) {
        csv_close(*out);
        *out = NULL;
        return rc;
    }
    *ncols = csv_nfields(*out);
    return PS_OK;
}

/* Next record with the header's width: 1 record, 2 bad (reported), 0 end. */
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

enum { T_META, T_CHEX, T_SPLIT };

static PsStatus read_chexpert(Ctx *c)
{
    const char *names[2 + CATALOG_N_CHEXPERT] = {"subject_id", "study_id"};
    for (int i = 0; i < CATALOG_N_CHEXPERT; i++)
        names[2 + i] = catalog_chexpert[i];
    int col[2 + CATALOG_N_CHEXPERT], ncols, got;
    CsvReader *r;
    PsStatus rc = open_table(c, T_CHEX, names, 2 + CATALOG_N_CHEXPERT, col, &r, &ncols);
    if (rc) return rc;
    while ((rc = next_row(c, r, ncols, &got)) == PS_OK && got) {
        if (got == 2) continue;
        size_t n;
        const char *s = csv_field(r, col[1], &n);
        int64_t study;
        if (import_util_parse_i64(s, n, &study) != 0) {
            /* the column, never the value (no patient data on stderr or in logs) */
            report_bad(c, "%s:%lld: unparsable integer in column study_id", csv_name(r),
                       (long long)csv_line(r));
            continue;
        }
        int8_t lab[CATALOG_N_CHEXPERT];
        int ok = 1;
        for (int i = 0; i < CATALOG_N_CHEXPERT && ok; i++) {
            const char *v = csv_field(r, col[2 + i], &n);
            if (n == 0)
                lab[i] = CHEX_MISSING;
            else if ((n == 3 && memcmp(v, "1.0", 3) == 0) || (n == 1 && v[0] == '1'))
                lab[i] = CHEX_POSITIVE;
            else if ((n == 3 && memcmp(v, "0.0", 3) == 0) || (n == 1 && v[0] == '0'))
                lab[i] = CHEX_NEGATIVE;
            else if ((n == 4 && memcmp(v, "-1.0", 4) == 0) || (n == 2 && memcmp(v, "-1", 2) == 0))
                lab[i] = CHEX_UNCERTAIN;
            else {
                report_bad(c, "%s:%lld: column %s must be 1.0, 0.0, -1.0 or empty", csv_name(r),
                           (long long)csv_line(r), catalog_chexpert[i]);
                ok = 0;
            }
        }
        if (!ok) continue;
        int8_t *slot = study_slot(&c->studies, study, 1);
        if (!slot) {
            rc = ps_err(c->err, PS_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(slot, lab, sizeof lab);
    }
    csv_close(r);
    return rc;
}

static PsStatus read_split(Ctx *c)
{
    static const char *const names[] = {"dicom_id", "split"};
    int col[2], ncols, got;
    CsvReader *r;
    PsStatus rc = open_table(c, T_SPLIT, names, 2, col, &r, &ncols);
    if (rc) return rc;
    while ((rc = next_row(c, r, ncols, &got)) == PS_OK && got) {
        if (got == 2) continue;
        size_t dn, sn;
        const char *d = csv_field(r, col[0], &dn), *s = csv_field(r, col[1], &sn);
        int8_t split;
        if (sn == 5 && memcmp(s, "train", 5) == 0)
            split = SPLIT_TRAIN;
        else if (sn == 8 && memcmp(s, "validate", 8) == 0)
            split = SPLIT_VAL;
        else if (sn == 4 && memcmp(s, "test", 4) == 0)
            split = SPLIT_TEST;
        else {
            report_bad(c, "%s:%lld: column split must be train, validate or test", csv_name(r),
                       (long long)csv_line(r));
            continue;
        }
        if (dn == 0 || dn >= sizeof((StoreRadiograph *)0)->dicom_id) {
            report_bad(c, "%s:%lld: dicom_id empty or longer than 95 bytes", csv_name(r),
                       (long long)csv_line(r));
            continue;
        }
        if (dicom_put(&c->splits, d, dn, split) != 0) {
            rc = ps_err(c->err, PS_ERR_NOMEM, "out of memory");
            break;
        }
    }
    csv_close(r);
    return rc;
}

/* ---- decoding
 * ------------------------------------------------------------------------------------ */

static int read_file(const char *path, unsigned char **out, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            if (cap > (size_t)256 << 20) { /* no radiograph is that large */
                free(buf);
                fclose(f);
                errno = EFBIG;
                return -1;
            }
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return -1;
    }
    *out = buf;
    *size = n;
    return 0;
}

static void decode_job(Ctx *c, Job *j)
{
    char full[4700];
    snprintf(full, sizeof full, "%s/%s", c->opt->dir, j->path);
    unsigned char *data = NULL, *pix = NULL, *small = NULL;
    size_t size = 0;
    PsErr e = {{0}};
    if (read_file(full, &data, &size) != 0) {
        snprintf(j->msg, sizeof j->msg, "%s: %s", j->path,
                 errno == ENOENT ? "image missing" : strerror(errno));
        return;
    }
    int w, h;
    if (jpeg_read_size(data, size, j->path, &w, &h, &e) != PS_OK) {
        snprintf(j->msg, sizeof j->msg, "%s", e.msg);
        goto done;
    }
    int side = c->max_side, longest = w > h ? w : h;
    int tw = w, th = h;
    if (longest > side) {
        tw = (int)((double)w * side / longest + 0.5);
        th = (int)((double)h * side / longest + 0.5);
        if (tw < 1) tw = 1;
        if (th < 1) th = 1;
    }
    int dw, dh;
    if (jpeg_decode_gray(&pix, &dw, &dh, data, size, tw, th, j->path, &e) != PS_OK) {
        snprintf(j->msg, sizeof j->msg, "%s", e.msg);
        goto done;
    }
    const unsigned char *enc = pix;
    if (dw != tw || dh != th) {
        small = malloc((size_t)tw * (size_t)th);
        if (!small) {
            snprintf(j->msg, sizeof j->msg, "%s: out of memory", j->path);
            goto done;
        }
        import_cxr_resize(small, tw, th, pix, dw, dh);
        enc = small;
    }
    if (jpeg_encode_gray(&j->jpeg, &j->jpeg_size, enc, tw, th, c->quality, &e) != PS_OK) {
        snprintf(j->msg, sizeof j->msg, "%s", e.msg);
        goto done;
    }
    j->r.width = tw;
    j->r.height = th;
done:
    free(data);
    free(pix);
    free(small);
}

static void *worker(void *arg)
{
    Ctx *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        size_t i = c->next_job < c->n_jobs ? c->next_job++ : c->n_jobs;
        pthread_mutex_unlock(&c->mu);
        if (i >= c->n_jobs) break;
        decode_job(c, &c->jobs[i]);
    }
    return NULL;
}

/* Decodes the batch's images on c->threads threads (the caller's thread is one of them). */
static void decode_batch(Ctx *c)
{
    c->next_job = 0;
    pthread_t th[64];
    int n = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 1; i < c->threads && i < 64; i++)
        if (pthread_create(&th[n], NULL, worker, c) == 0) n++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    worker(c);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* ---- the run
 * -------------------------------------------------------------------------------------- */

static void resolve(Ctx *c, int which, const char *name)
{
    snprintf(c->path[which], sizeof c->path[which], "%s/%s.csv.gz", c->opt->dir, name);
    snprintf(c->display[which], sizeof c->display[which], "%s.csv.gz", name);
    if (file_exists(c->path[which])) return;
    snprintf(c->path[which], sizeof c->path[which], "%s/%s.csv", c->opt->dir, name);
    snprintf(c->display[which], sizeof c->display[which], "%s.csv", name);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void free_jobs(Ctx *c)
{
    for (size_t i = 0; i < c->n_jobs; i++)
        free(c->jobs[i].jpeg);
    c->n_jobs = 0;
}

/* Writes the batch's decoded jobs (inside import_util_commit_batch's transaction). */
static PsStatus write_jobs(void *ctx, ImportBatch *b, PsErr *err)
{
    (void)b;
    Ctx *c = ctx;
    for (size_t i = 0; i < c->n_jobs; i++) {
        Job *j = &c->jobs[i];
        j->r.jpeg = j->jpeg;
        j->r.jpeg_size = j->jpeg_size;
        if (!j->jpeg) j->r.width = j->r.height = 0;
        j->r.path = j->path;
        PsStatus rc = store_put_radiograph(c->st, &j->r);
        if (rc != PS_OK) return ps_err(err, rc, "%s", store_errmsg(c->st));
        if (j->jpeg) c->stats->images_this_run++;
    }
    return PS_OK;
}

PsStatus import_cxr_run(Store *st, const ImportCxrOptions *opt, ImportCxrStats *stats, PsErr *err)
{
    PS_CHECK(err, st && opt && opt->dir && stats);
    memset(stats, 0, sizeof *stats);
    Ctx *c = calloc(1, sizeof *c);
    if (!c) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    c->st = st;
    c->opt = opt;
    c->stats = stats;
    c->err = err;
    c->max_side = opt->max_side > 0 ? opt->max_side : IMPORT_CXR_DEFAULT_SIDE;
    c->quality = opt->quality > 0 && opt->quality <= 100 ? opt->quality : 90;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = opt->threads > 0 ? opt->threads : (cores > 0 ? (int)cores : 1);
    if (c->threads > 64) c->threads = 64;
    PsStatus rc = PS_OK;
    int mutex_ok = pthread_mutex_init(&c->mu, NULL) == 0;
    CsvReader *r = NULL;
    if (!mutex_ok) {
        rc = ps_err(err, PS_ERR_NOMEM, "cannot create a mutex");
        goto done;
    }
    struct stat sb;
    if (stat(opt->dir, &sb) != 0) {
        rc = ps_err(err, PS_ERR_NOTFOUND, "%s: %s", opt->dir, strerror(errno));
        goto done;
    }
    if (!S_ISDIR(sb.st_mode)) {
        rc = ps_err(err, PS_ERR_NOTFOUND, "%s: not a directory", opt->dir);
        goto done;
    }
    resolve(c, T_META, "mimic-cxr-2.0.0-metadata");
    resolve(c, T_CHEX, "mimic-cxr-2.0.0-chexpert");
    resolve(c, T_SPLIT, "mimic-cxr-2.0.0-split");
    for (int i = 0; i < 3; i++)
        if (!file_exists(c->path[i])) {
            rc = ps_err(err, PS_ERR_NOTFOUND,
                        "%s: %s[.gz] is missing (is this a MIMIC-CXR-JPG "
                        "2.0.0 directory?)",
                        opt->dir, c->display[i]);
            goto done;
        }
    char files[4200];
    snprintf(files, sizeof files, "%s/files", opt->dir);
    c->images = !opt->metadata_only && stat(files, &sb) == 0 && S_ISDIR(sb.st_mode);
    stats->images_dir = c->images;
    int64_t batch = opt->batch_rows > 0 ? opt->batch_rows : c->images ? 256 : 20000;

    if ((rc = import_util_progress_init(st, err))) goto done;
    ImportProgress pg;
    if ((rc = import_util_progress_get(st, SOURCE, "metadata", &pg, err))) goto done;
    int64_t done_records = pg.records, bad_before = pg.bad;
    int done_flag = pg.done;
    if (done_flag) {
        stats->already_done = 1;
        goto stats;
    }
    stats->resumed = done_records > 0;
    c->bad = 0;
    if ((rc = read_chexpert(c)) || (rc = read_split(c))) goto done;
    int64_t resource_bad = c->bad; /* counted once: by the run that starts the import */
    c->bad = 0;

    static const char *const names[] = {"dicom_id",     "subject_id", "study_id",
                                        "ViewPosition", "StudyDate",  "StudyTime"};
    int col[6], ncols, got = 1;
    if ((rc = open_table(c, T_META, names, 6, col, &r, &ncols))) goto done;
    uint64_t total = stat(c->path[T_META], &sb) == 0 ? (uint64_t)sb.st_size : 0;
    int64_t records = 0;
    while (records < done_records) { /* what earlier runs committed */
        int g = 0;
        rc = csv_next(r, &g, c->err);
        if (rc == PS_ERR_PARSE)
            rc = PS_OK;
        else if (rc)
            goto done;
        else if (!g)
            break;
        records++;
    }
    c->jobs = calloc((size_t)batch, sizeof *c->jobs);
    if (!c->jobs) {
        rc = ps_err(err, PS_ERR_NOMEM, "out of memory");
        goto done;
    }
    int64_t bad_committed = bad_before + (done_records ? 0 : resource_bad);
    while (got) {
        /* parse one batch */
        c->n_jobs = 0;
        while (c->n_jobs < (size_t)batch) {
            if ((rc = next_row(c, r, ncols, &got)) != PS_OK || !got) break;
            records++;
            if (got == 2) continue;
            Job *j = &c->jobs[c->n_jobs];
            memset(j, 0, sizeof *j);
            j->line = csv_line(r);
            size_t n, sn, dn, tn;
            const char *dicom = csv_field(r, col[0], &n);
            if (n == 0 || n >= sizeof j->r.dicom_id) {
                report_bad(c, "%s:%lld: dicom_id empty or longer than 95 bytes", csv_name(r),
                           (long long)j->line);
                continue;
            }
            memcpy(j->r.dicom_id, dicom, n);
            const char *sub = csv_field(r, col[1], &sn);
            const char *stu = csv_field(r, col[2], &n);
            if (import_util_parse_i64(sub, sn, &j->r.subject_id) ||
                import_util_parse_i64(stu, n, &j->r.study_id) || sn < 2) {
                report_bad(c, "%s:%lld: unparsable subject_id or study_id", csv_name(r),
                           (long long)j->line);
                continue;
            }
            const char *date = csv_field(r, col[4], &dn), *tim = csv_field(r, col[5], &tn);
            if (import_cxr_study_time(date, dn, tim, tn, &j->r.study_time) != 0) {
                report_bad(c, "%s:%lld: unparsable date or time in column StudyDate or StudyTime",
                           csv_name(r), (long long)j->line);
                continue;
            }
            const char *view = csv_field(r, col[3], &n);
            snprintf(j->r.view, sizeof j->r.view, "%.*s", (int)(n < 15 ? n : 15), view);
            int8_t *lab = study_slot(&c->studies, j->r.study_id, 0);
            if (lab)
                memcpy(j->r.chexpert, lab, sizeof j->r.chexpert);
            else {
                for (int i = 0; i < CATALOG_N_CHEXPERT; i++)
                    j->r.chexpert[i] = CHEX_MISSING;
                stats->without_labels++;
            }
            int split = dicom_get(&c->splits, j->r.dicom_id, strlen(j->r.dicom_id));
            j->r.split = split >= 0 ? split : SPLIT_NONE;
            snprintf(j->path, sizeof j->path, "files/p%.2s/p%.*s/s%lld/%s.jpg", sub, (int)sn, sub,
                     (long long)j->r.study_id, j->r.dicom_id);
            c->n_jobs++;
        }
        if (rc) break;
        if (c->images && c->n_jobs) {
            double t0 = now_s();
            decode_batch(c);
            stats->decode_seconds += now_s() - t0;
            for (size_t i = 0; i < c->n_jobs; i++)
                if (c->jobs[i].msg[0]) report_bad(c, "%s", c->jobs[i].msg);
        }
        /* write it */
        ImportBatch b = {.source = SOURCE,
                         .item = "metadata",
                         .detail = opt->dir,
                         .records = records,
                         .bad = bad_committed + c->bad,
                         .done = !got,
                         .write = write_jobs,
                         .ctx = c};
        if ((rc = import_util_commit_batch(st, &b, err)) != PS_OK) break;
        free_jobs(c);
        if (opt->on_progress &&
            opt->on_progress(opt->ctx, csv_name(r), records, csv_bytes_read(r), total)) {
            rc = ps_err(err, PS_ERR_CANCELLED, "import cancelled");
            break;
        }
    }
    if (rc) goto done;
    /* pairs and the EHR-driven split when there are stays; else the official split stays */
    if (query_i64(c, "SELECT count(*) FROM stays") > 0) {
        if ((rc = store_recompute_pairs(st)) != PS_OK) {
            rc = ps_err(err, rc, "%s", store_errmsg(st));
            goto done;
        }
        stats->recomputed = 1;
    }
    {
        char detail[4300];
        snprintf(detail, sizeof detail, "%s (MIMIC-CXR-JPG 2.0.0%s)", opt->dir,
                 c->images ? "" : ", metadata only");
        if ((rc = store_put_source(st, SOURCE, detail)) != PS_OK) {
            rc = ps_err(err, rc, "%s", store_errmsg(st));
            goto done;
        }
    }
stats:
    stats->radiographs = query_i64(c, "SELECT count(*) FROM radiographs");
    stats->images = query_i64(c, "SELECT count(*) FROM radiograph_images");
    stats->pairs = query_i64(c, "SELECT count(*) FROM pairs");
    stats->bad_rows = import_util_progress_bad(st, SOURCE);
done:
    if (c->jobs) free_jobs(c);
    free(c->jobs);
    csv_close(r);
    if (mutex_ok) pthread_mutex_destroy(&c->mu);
    free(c->studies.keys);
    free(c->studies.labels);
    free(c->splits.off);
    free(c->splits.split);
    free(c->splits.arena);
    free(c);
    return rc;
}
