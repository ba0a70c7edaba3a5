/* cohort.c — the cohort browser's one query, and the funnel that explains the cohort.
 *
 * It reads only; it neither sorts beyond stay_id nor filters (ui/ does that in memory), and it
 * does not sanitise text (the terminal side does, where it knows what the terminal is).
 */
#include "store/cohort.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_internal.h"

/* Radiographs during the stay: same subject, study time within [intime, outtime] — the window
 * the pairing rule uses, so the count and the paired mark agree. The phenotype labels fold
 * into a bit mask in SQL, so one row carries all 25. */
static char *cohort_sql(void)
{
    size_t cap = 4096;
    char *sql = malloc(cap);
    if (!sql) return NULL;
    int k = snprintf(sql, cap,
                     "SELECT s.stay_id, s.subject_id, s.age, p.gender, s.first_careunit, s.los_days,"
                     " s.split,"
                     " (SELECT count(*) FROM radiographs r WHERE r.subject_id = s.subject_id"
                     "   AND r.study_time BETWEEN s.intime AND s.outtime),"
                     " pr.stay_id IS NOT NULL,"
                     " CASE WHEN l.stay_id IS NULL THEN NULL ELSE (0");
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++)
        k += snprintf(sql + k, cap - (size_t)k, " | (l.p%02d << %d)", i, i);
    snprintf(sql + k, cap - (size_t)k,
             ") END"
             " FROM stays s"
             " LEFT JOIN patients p ON p.subject_id = s.subject_id"
             " LEFT JOIN pairs pr ON pr.stay_id = s.stay_id"
             " LEFT JOIN labels l ON l.stay_id = s.stay_id"
             " ORDER BY s.stay_id");
    return sql;
}

static int popcount32(uint32_t v)
{
    int n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

PsStatus store_cohort_load(Store *st, CohortRow **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    sqlite3 *db = store_db(st);
    sqlite3_stmt *s = NULL;
    CohortRow *out = NULL;
    size_t len = 0, cap = 0;
    PsStatus rc = PS_OK;
    char *sql = cohort_sql();
    if (!sql) return store_set_error(st, PS_ERR_NOMEM, "store_cohort_load: out of memory");
    int src = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    free(sql);
    if (src != SQLITE_OK) return store_db_error(st, src, "store_cohort_load: prepare");
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            CohortRow *nr = realloc(out, nc * sizeof *nr);
            if (!nr) {
                rc = store_set_error(st, PS_ERR_NOMEM, "store_cohort_load: out of memory at row %zu", len);
                goto done;
            }
            out = nr;
            cap = nc;
        }
        CohortRow *r = &out[len++];
        memset(r, 0, sizeof *r);
        r->stay_id = sqlite3_column_int64(s, 0);
        r->subject_id = sqlite3_column_int64(s, 1);
        r->age = sqlite3_column_type(s, 2) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 2);
        const unsigned char *g = sqlite3_column_text(s, 3);
        r->gender = g && (g[0] == 'M' || g[0] == 'F') ? (char)g[0] : '?';
        const unsigned char *u = sqlite3_column_text(s, 4);
        snprintf(r->unit, sizeof r->unit, "%s", u ? (const char *)u : "");
        r->los_days = sqlite3_column_type(s, 5) == SQLITE_NULL ? -1.0 : sqlite3_column_double(s, 5);
        r->split = sqlite3_column_int(s, 6);
        r->n_cxr = sqlite3_column_int(s, 7);
        r->paired = sqlite3_column_int(s, 8);
        if (sqlite3_column_type(s, 9) == SQLITE_NULL) {
            r->n_pos = -1;
        } else {
            r->pheno_mask = (uint32_t)sqlite3_column_int64(s, 9);
            r->n_pos = popcount32(r->pheno_mask);
        }
    }
    if (src != SQLITE_DONE) rc = store_db_error(st, src, "store_cohort_load");
done:
    sqlite3_finalize(s);
    if (rc != PS_OK) {
        free(out);
        return rc;
    }
    *rows = out;
    *n = len;
    return PS_OK;
}

PsStatus store_cohort_funnel(Store *st, CohortFunnelStep **steps, size_t *n)
{
    *steps = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL;
    CohortFunnelStep *out = NULL;
    size_t len = 0, cap = 0;
    PsStatus rc = PS_OK;
    int src = sqlite3_prepare_v2(store_db(st),
                                 "SELECT source, step, rule, count FROM funnel ORDER BY source, step",
                                 -1, &s, NULL);
    if (src != SQLITE_OK) return store_db_error(st, src, "store_cohort_funnel: prepare");
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            size_t nc = cap ? cap * 2 : 16;
            CohortFunnelStep *nr = realloc(out, nc * sizeof *nr);
            if (!nr) {
                rc = store_set_error(st, PS_ERR_NOMEM, "store_cohort_funnel: out of memory");
                goto done;
            }
            out = nr;
            cap = nc;
        }
        CohortFunnelStep *f = &out[len++];
        const unsigned char *so = sqlite3_column_text(s, 0), *ru = sqlite3_column_text(s, 2);
        snprintf(f->source, sizeof f->source, "%s", so ? (const char *)so : "");
        f->step = sqlite3_column_int(s, 1);
        snprintf(f->rule, sizeof f->rule, "%s", ru ? (const char *)ru : "");
        f->count = sqlite3_column_int64(s, 3);
    }
    if (src != SQLITE_DONE) rc = store_db_error(st, src, "store_cohort_funnel");
done:
    sqlite3_finalize(s);
    if (rc != PS_OK) {
        free(out);
        return rc;
    }
    *steps = out;
    *n = len;
    return PS_OK;
}
