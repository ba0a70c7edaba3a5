/* stayview.c — one stay for viewing: its series by channel, diagnoses with titles, labels, the
 * pair, and the subject's radiographs with the pairing rule's reason for each.
 *
 * Every query is an indexed read (events by (stay_id, hours), diagnoses by hadm_id, radiographs
 * by subject_id), so a stay costs about a millisecond per thousand events. It does not decode
 * images (the caller fetches a JPEG with store_get_radiograph when it shows one) and does not
 * sanitise text.
 */
#include "store/stayview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

typedef struct {
    float hours, value;
    int channel;
} Ev;

typedef struct {
    Ev *ev;
    size_t n, cap;
    int nomem;
} EvBuf;

static int collect_event(void *ctx, const StoreEvent *e)
{
    EvBuf *b = ctx;
    if (e->channel < 0 || e->channel >= CATALOG_N_CHANNELS) return 0;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        Ev *ne = realloc(b->ev, nc * sizeof *ne);
        if (!ne) {
            b->nomem = 1;
            return 1;
        }
        b->ev = ne;
        b->cap = nc;
    }
    b->ev[b->n++] = (Ev){.hours = e->hours, .value = e->value, .channel = e->channel};
    return 0;
}

static void column_copy(sqlite3_stmt *s, int col, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

static PsStatus load_series(Store *st, StayviewStay *out)
{
    EvBuf b = {0};
    PsStatus rc = store_each_event(st, out->stay.stay_id, collect_event, &b);
    if (b.nomem) rc = store_set_error(st, PS_ERR_NOMEM, "stay %lld: no memory for %zu events",
                                      (long long)out->stay.stay_id, b.n);
    if (rc != PS_OK) {
        free(b.ev);
        return rc;
    }
    /* Events arrive in hours order; a counting pass by channel keeps that order per channel. */
    size_t count[CATALOG_N_CHANNELS] = {0};
    for (size_t i = 0; i < b.n; i++) count[b.ev[i].channel]++;
    out->slab = malloc((b.n ? b.n : 1) * 2 * sizeof *out->slab);
    if (!out->slab) {
        free(b.ev);
        return store_set_error(st, PS_ERR_NOMEM, "stay %lld: no memory for %zu events",
                               (long long)out->stay.stay_id, b.n);
    }
    size_t off = 0;
    for (int c = 0; c < CATALOG_N_CHANNELS; c++) {
        out->series[c].hours = out->slab + off;
        out->series[c].value = out->slab + b.n + off;
        out->series[c].n = 0;
        off += count[c];
    }
    for (size_t i = 0; i < b.n; i++) {
        StayviewSeries *s = &out->series[b.ev[i].channel];
        s->hours[s->n] = b.ev[i].hours;
        s->value[s->n] = b.ev[i].value;
        s->n++;
    }
    out->n_events = b.n;
    if (b.n) {
        out->first_hour = b.ev[0].hours;
        out->last_hour = b.ev[b.n - 1].hours;
    }
    free(b.ev);
    return PS_OK;
}

static PsStatus load_diagnoses(Store *st, StayviewStay *out)
{
    const char *what = "stayview: diagnoses";
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(store_db(st),
                                 "SELECT d.seq_num, d.icd_code, d.icd_version, t.title"
                                 " FROM diagnoses d LEFT JOIN icd_titles t"
                                 "  ON t.icd_code = d.icd_code AND t.icd_version = d.icd_version"
                                 " WHERE d.hadm_id = ?1 ORDER BY d.seq_num, d.icd_code",
                                 -1, &s, NULL);
    if (src != SQLITE_OK) return store_db_error(st, src, what);
    sqlite3_bind_int64(s, 1, out->stay.hadm_id);
    size_t cap = 0;
    PsStatus rc = PS_OK;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (out->n_dx == cap) {
            size_t nc = cap ? cap * 2 : 16;
            StayviewDiagnosis *nd = realloc(out->dx, nc * sizeof *nd);
            if (!nd) {
                rc = store_set_error(st, PS_ERR_NOMEM, "%s: out of memory", what);
                break;
            }
            out->dx = nd;
            cap = nc;
        }
        StayviewDiagnosis *d = &out->dx[out->n_dx++];
        d->seq_num = sqlite3_column_int(s, 0);
        column_copy(s, 1, d->icd_code, sizeof d->icd_code);
        d->icd_version = sqlite3_column_int(s, 2);
        column_copy(s, 3, d->title, sizeof d->title);
    }
    if (rc == PS_OK && src != SQLITE_DONE) rc = store_db_error(st, src, what);
    sqlite3_finalize(s);
    return rc;
}

static PsStatus load_misc(Store *st, StayviewStay *out)
{
    const char *what = "stayview: patient";
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(store_db(st),
                                 "SELECT (SELECT gender FROM patients WHERE subject_id = ?1),"
                                 " (SELECT count(*) FROM radiographs WHERE subject_id = ?1"
                                 "   AND study_time BETWEEN ?2 AND ?3)",
                                 -1, &s, NULL);
    if (src != SQLITE_OK) return store_db_error(st, src, what);
    sqlite3_bind_int64(s, 1, out->stay.subject_id);
    sqlite3_bind_int64(s, 2, out->stay.intime);
    sqlite3_bind_int64(s, 3, out->stay.outtime);
    PsStatus rc = PS_OK;
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        const unsigned char *g = sqlite3_column_text(s, 0);
        out->gender = g && (g[0] == 'M' || g[0] == 'F') ? (char)g[0] : '?';
        out->n_cxr_in_stay = sqlite3_column_int(s, 1);
    } else {
        rc = store_db_error(st, src, what);
    }
    sqlite3_finalize(s);
    return rc;
}

PsStatus stayview_stay_load(Store *st, int64_t stay_id, StayviewStay *out)
{
    memset(out, 0, sizeof *out);
    PsStatus rc = store_get_stay(st, stay_id, &out->stay);
    if (rc == PS_OK) rc = load_misc(st, out);
    if (rc == PS_OK) rc = load_series(st, out);
    if (rc == PS_OK) rc = load_diagnoses(st, out);
    if (rc == PS_OK) {
        rc = store_get_labels(st, stay_id, out->labels);
        out->has_labels = rc == PS_OK;
        if (rc == PS_ERR_NOTFOUND) rc = PS_OK;
    }
    if (rc == PS_OK) {
        rc = store_get_pair(st, stay_id, out->pair_dicom, sizeof out->pair_dicom);
        out->has_pair = rc == PS_OK;
        if (rc == PS_ERR_NOTFOUND) rc = PS_OK;
    }
    if (rc != PS_OK) stayview_stay_free(out);
    return rc;
}

void stayview_stay_free(StayviewStay *s)
{
    free(s->slab);
    free(s->dx);
    s->slab = NULL;
    s->dx = NULL;
    s->n_dx = 0;
    for (int c = 0; c < CATALOG_N_CHANNELS; c++) s->series[c] = (StayviewSeries){0};
    s->n_events = 0;
}

/* Reasons follow the rule in store_recompute_pairs: same subject, view 'AP', study_time in
 * [intime, outtime], the latest (ties: the greatest dicom_id). */
static void assign_reasons(StayviewRadiograph *r, size_t n, const StoreStay *stay, const char *pair)
{
    size_t rule = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        int within = r[i].study_time >= stay->intime && r[i].study_time <= stay->outtime;
        if (!within || strcmp(r[i].view, "AP") != 0) continue;
        if (rule == (size_t)-1 || r[i].study_time > r[rule].study_time ||
            (r[i].study_time == r[rule].study_time && strcmp(r[i].dicom_id, r[rule].dicom_id) > 0))
            rule = i;
    }
    for (size_t i = 0; i < n; i++) {
        if (r[i].study_time < stay->intime) r[i].reason = STAYVIEW_BEFORE;
        else if (r[i].study_time > stay->outtime) r[i].reason = STAYVIEW_AFTER;
        else if (strcmp(r[i].view, "AP") != 0) r[i].reason = STAYVIEW_NOT_AP;
        else if (pair && strcmp(pair, r[i].dicom_id) == 0) r[i].reason = STAYVIEW_PAIRED;
        else if (i != rule) r[i].reason = STAYVIEW_EARLIER_AP;
        else r[i].reason = STAYVIEW_AP_UNPAIRED;
    }
    /* A pair the rule would not pick (pairs written by an older rule) keeps its own label. */
    if (pair)
        for (size_t i = 0; i < n; i++)
            if (strcmp(pair, r[i].dicom_id) == 0) r[i].reason = STAYVIEW_PAIRED;
}

PsStatus stayview_radiographs(Store *st, int64_t stay_id, StayviewRadiograph **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    StoreStay stay;
    PsStatus rc = store_get_stay(st, stay_id, &stay);
    if (rc != PS_OK) return rc;
    char pair[96];
    rc = store_get_pair(st, stay_id, pair, sizeof pair);
    int has_pair = rc == PS_OK;
    if (rc != PS_OK && rc != PS_ERR_NOTFOUND) return rc;

    const char *what = "stayview: radiographs";
    char sql[1024];
    int k = snprintf(sql, sizeof sql, "SELECT r.dicom_id, r.study_id, r.study_time, r.view");
    for (int c = 0; c < CATALOG_N_CHEXPERT; c++) k += snprintf(sql + k, sizeof sql - (size_t)k, ", r.c%02d", c);
    snprintf(sql + k, sizeof sql - (size_t)k,
             ", r.split, r.width, r.height,"
             " EXISTS (SELECT 1 FROM radiograph_images i WHERE i.dicom_id = r.dicom_id)"
             " FROM radiographs r WHERE r.subject_id = ?1 ORDER BY r.study_time, r.dicom_id");
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL);
    if (src != SQLITE_OK) return store_db_error(st, src, what);
    sqlite3_bind_int64(s, 1, stay.subject_id);
    StayviewRadiograph *v = NULL;
    size_t len = 0, cap = 0;
    rc = PS_OK;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 8;
            StayviewRadiograph *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                rc = store_set_error(st, PS_ERR_NOMEM, "%s: out of memory", what);
                break;
            }
            v = nv;
            cap = nc;
        }
        StayviewRadiograph *r = &v[len++];
        memset(r, 0, sizeof *r);
        column_copy(s, 0, r->dicom_id, sizeof r->dicom_id);
        r->study_id = sqlite3_column_int64(s, 1);
        r->study_time = sqlite3_column_int64(s, 2);
        column_copy(s, 3, r->view, sizeof r->view);
        for (int c = 0; c < CATALOG_N_CHEXPERT; c++)
            r->chexpert[c] = sqlite3_column_type(s, 4 + c) == SQLITE_NULL ? CHEX_MISSING
                                                                          : (int8_t)sqlite3_column_int(s, 4 + c);
        r->split = sqlite3_column_int(s, 4 + CATALOG_N_CHEXPERT);
        r->width = sqlite3_column_int(s, 5 + CATALOG_N_CHEXPERT);
        r->height = sqlite3_column_int(s, 6 + CATALOG_N_CHEXPERT);
        r->has_image = sqlite3_column_int(s, 7 + CATALOG_N_CHEXPERT);
        r->hours = (float)((double)(r->study_time - stay.intime) / 3600.0);
    }
    if (rc == PS_OK && src != SQLITE_DONE) rc = store_db_error(st, src, what);
    sqlite3_finalize(s);
    if (rc != PS_OK) {
        free(v);
        return rc;
    }
    assign_reasons(v, len, &stay, has_pair ? pair : NULL);
    *out = v;
    *n = len;
    return PS_OK;
}

char *stayview_reason_text(char *buf, size_t n, StayviewReason r, const char *view)
{
    switch (r) {
    case STAYVIEW_PAIRED: snprintf(buf, n, "paired: latest AP within the stay"); break;
    case STAYVIEW_EARLIER_AP: snprintf(buf, n, "earlier AP in the stay"); break;
    case STAYVIEW_NOT_AP: snprintf(buf, n, "not AP (%s)", view && view[0] ? view : "no view"); break;
    case STAYVIEW_BEFORE: snprintf(buf, n, "before the stay"); break;
    case STAYVIEW_AFTER: snprintf(buf, n, "after the stay"); break;
    case STAYVIEW_AP_UNPAIRED: snprintf(buf, n, "latest AP in the stay, but not paired (pairs stale?)"); break;
    default: snprintf(buf, n, "?"); break;
    }
    return buf;
}
