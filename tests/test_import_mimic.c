/* test_import_mimic.c — the MIMIC-IV importer on handwritten fixtures of both layouts (plain and
 * gzip), every unit conversion, the cohort rules, bad rows, clear failures, resuming after
 * SIGKILL, and on the open MIMIC-IV demo when ../shared/data holds it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "store/import_mimic.h"
#include "store/store.h"
#include "tests/import_fixture.h"

#define FIX "tests/fixtures"
#define RES FIX "/mimic_resources"

/* ---- helpers -------------------------------------------------------------------------------- */

static PsStatus run_import(const char *db, const char *dir, const char *res_defs,
                           const char *res_items, const char *res_ranges, int64_t batch, Sink *sink,
                           ImportMimicStats *stats, PsErr *err)
{
    Store *st = NULL;
    PsStatus rc = store_open(&st, db, STORE_OPEN_CREATE, err);
    if (rc) return rc;
    ImportMimicOptions o = {.dir = dir,
                            .definitions = res_defs,
                            .itemids = res_items,
                            .ranges = res_ranges,
                            .batch_rows = batch,
                            .on_bad_row = sink_bad,
                            .on_progress = sink_progress,
                            .ctx = sink};
    rc = import_mimic_run(st, &o, stats, err);
    store_close(st);
    return rc;
}

static PsStatus run_fixture(const char *db, const char *dir, int64_t batch, Sink *sink,
                            ImportMimicStats *stats, PsErr *err)
{
    return run_import(db, dir, RES "/phenotype_definitions_icd9_icd10.yaml",
                      RES "/itemid_to_variable_map.csv", RES "/variable_ranges.csv", batch, sink,
                      stats, err);
}

/* The whole content of a store that an import writes, as text, for exact comparisons. */
static char *dump(const char *db)
{
    static const char *const q[] = {
        "SELECT * FROM patients ORDER BY subject_id",
        "SELECT * FROM stays ORDER BY stay_id",
        "SELECT stay_id, printf('%.4f', hours), channel, printf('%.4f', value), text FROM events "
        "ORDER BY stay_id, hours, channel, value",
        "SELECT count(*) FROM events",
        "SELECT * FROM labels ORDER BY stay_id",
        "SELECT * FROM diagnoses ORDER BY hadm_id, seq_num, icd_code",
        "SELECT * FROM icd_titles ORDER BY icd_code, icd_version",
        "SELECT * FROM funnel ORDER BY source, step",
    };
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = 0;
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        sqlite3_stmt *s = NULL;
        assert_int_equal(sqlite3_prepare_v2(h, q[i], -1, &s, NULL), SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                const unsigned char *v = sqlite3_column_text(s, c);
                size_t need = n + (v ? strlen((const char *)v) : 4) + 4;
                if (need > cap) {
                    cap = need * 2;
                    out = realloc(out, cap);
                    assert_non_null(out);
                }
                n += (size_t)sprintf(out + n, "%s%s", c ? "|" : "", v ? (const char *)v : "NULL");
            }
            out[n++] = '\n';
            out[n] = 0;
        }
        sqlite3_finalize(s);
        if (n + 2 > cap) out = realloc(out, cap *= 2);
        out[n++] = '#';
        out[n] = 0;
    }
    sqlite3_close(h);
    return out;
}

/* The value of the one event of (stay, channel) at hours h; NAN when there is none. */
static double event_at(const char *db, int64_t stay, int ch, double h)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT value FROM events WHERE stay_id = %lld AND channel = %d AND "
             "abs(hours - %.6f) < 1e-3 ORDER BY value",
             (long long)stay, ch, h);
    sqlite3 *hd = NULL;
    assert_int_equal(sqlite3_open_v2(db, &hd, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(hd, sql, -1, &s, NULL), SQLITE_OK);
    double v = NAN;
    int rows = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_double(s, 0);
        rows++;
    }
    sqlite3_finalize(s);
    sqlite3_close(hd);
    if (rows != 1) {
        fprintf(stderr, "stay %lld channel %d hours %.3f: %d events\n", (long long)stay, ch, h,
                rows);
        return NAN;
    }
    return v;
}

#define ASSERT_NEAR(a, b)                                                                          \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= 1e-4 + 1e-5 * fabs(b_))) {                                          \
            fprintf(stderr, "%s = %.6f, expected %.6f\n", #a, a_, b_);                             \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

/* Copies a fixture tree into dst, gzip-compressing every table (named .csv.gz) when gz. */
static void copy_tree(const char *src, const char *dst, int gz)
{
    static const char *const files[] = {"core/patients.csv",        "core/admissions.csv",
                                        "hosp/patients.csv",        "hosp/admissions.csv",
                                        "hosp/d_icd_diagnoses.csv", "hosp/diagnoses_icd.csv",
                                        "hosp/labevents.csv",       "icu/icustays.csv",
                                        "icu/chartevents.csv",      "icu/d_items.csv"};
    static const char *const subs[] = {"core", "hosp", "icu"};
    char p[600], q[600];
    assert_int_equal(mkdir(dst, 0700), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", src, subs[i]);
        struct stat sb;
        if (stat(p, &sb) != 0) continue;
        snprintf(q, sizeof q, "%s/%s", dst, subs[i]);
        assert_int_equal(mkdir(q, 0700), 0);
    }
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", src, files[i]);
        FILE *in = fopen(p, "rb");
        if (!in) continue;
        snprintf(q, sizeof q, "%s/%s%s", dst, files[i], gz ? ".gz" : "");
        char buf[8192];
        size_t n;
        if (gz) {
            gzFile out = gzopen(q, "wb6");
            assert_non_null(out);
            while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                assert_int_equal(gzwrite(out, buf, (unsigned)n), (int)n);
            assert_int_equal(gzclose(out), Z_OK);
        } else {
            FILE *out = fopen(q, "wb");
            assert_non_null(out);
            while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                assert_int_equal(fwrite(buf, 1, n, out), n);
            assert_int_equal(fclose(out), 0);
        }
        fclose(in);
    }
}

/* ---- v2.x fixture --------------------------------------------------------------------------- */

static void v2_cohort_funnel_and_bad_rows(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, FIX "/mimic_iv_v2", 0, &sink, &s, &err), PS_OK);
    assert_int_equal(s.layout, 2);
    assert_int_equal(s.has_chartevents, 1);
    /* 11 parsable stays; 2 transfers; 1 without patient, 1 without admission; the two stays
     * of admission 20000003; the 17-year-old; the stay whose only event lies before it. */
    const int64_t want_funnel[6] = {11, 9, 7, 5, 4, 3};
    for (int k = 0; k < 6; k++)
        assert_int_equal(s.funnel[k], want_funnel[k]);
    static const char *const want_bad[] = {
        "hosp/admissions.csv:10: expected 16 columns, got 4",
        "icu/icustays.csv:13: unparsable integer in column stay_id",
        "hosp/diagnoses_icd.csv:12: unparsable integer in column seq_num",
        "icu/chartevents.csv:31: unparsable number in column value (Glucose)",
        "icu/chartevents.csv:32: unknown category in column value (Glascow coma scale eye "
        "opening)",
        "icu/chartevents.csv:33: unparsable time in column charttime",
        "icu/chartevents.csv:34: expected 11 columns, got 10",
        "icu/chartevents.csv:39: unknown item in column itemid (not in the release's dictionary)",
        "hosp/labevents.csv:8: unparsable number in column value (Glucose)",
    };
    int nb = (int)(sizeof want_bad / sizeof *want_bad);
    for (int i = 0; i < sink.n && i < nb; i++)
        assert_string_equal(sink.msgs[i], want_bad[i]);
    assert_int_equal(sink.n, nb);
    assert_int_equal(s.bad_rows, nb);
    assert_int_equal(s.dropped_outlier, 1);
    assert_int_equal(s.from_valuenum, 1);
    assert_int_equal(s.events, 31);
    tmp_clean(&t);
}

static void v2_stays_labels_and_splits(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, FIX "/mimic_iv_v2", 0, &sink, &s, &err), PS_OK);
    Store *st = NULL;
    assert_int_equal(store_open(&st, t.db, STORE_OPEN_READONLY, &err), PS_OK);
    const int64_t kept[3] = {30000001, 30000009, 30000010};
    /* labels: A419+R6521+I10 / 5849+78552+N179 / 4019 + "0389" filed as ICD-10 (codes match as
     * strings whatever the version, as in the benchmark) */
    const int want[3][3] = {{13, 23, 24}, {0, 24, -1}, {13, 23, -1}};
    for (int i = 0; i < 3; i++) {
        StoreStay ss;
        assert_int_equal(store_get_stay(st, kept[i], &ss), PS_OK);
        assert_true(ss.split >= SPLIT_TRAIN && ss.split <= SPLIT_TEST);
        uint8_t lab[CATALOG_N_PHENOTYPES];
        assert_int_equal(store_get_labels(st, kept[i], lab), PS_OK);
        int pos = 0;
        for (int p = 0; p < CATALOG_N_PHENOTYPES; p++)
            pos += lab[p];
        int npos = 0;
        for (int k = 0; k < 3; k++)
            if (want[i][k] >= 0) {
                assert_int_equal(lab[want[i][k]], 1);
                npos++;
            }
        assert_int_equal(pos, npos);
    }
    StoreStay ss;
    assert_int_equal(store_get_stay(st, 30000001, &ss), PS_OK);
    assert_int_equal(ss.subject_id, 10000001);
    assert_int_equal(ss.hadm_id, 20000001);
    assert_int_equal(ss.age, 60);
    assert_int_equal(ss.mortality_inhospital, 0);
    assert_string_equal(ss.first_careunit, "Medical Intensive Care Unit (MICU)");
    ASSERT_NEAR(ss.los_days, 2.0);
    assert_int_equal(ss.outtime - ss.intime, 2 * 86400);
    /* every rule's victims are gone, with their events and labels */
    const int64_t gone[] = {30000002, 30000003, 30000004, 30000005,
                            30000006, 30000007, 30000008, 30000011};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
        assert_int_equal(store_get_stay(st, gone[i], &ss), PS_ERR_NOTFOUND);
    store_close(st);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events WHERE stay_id NOT IN "
                                 "(30000001, 30000009, 30000010)"),
                     0);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM icd_titles"), 9);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM diagnoses"),
                     9); /* 4 + 3 + 2 (one bad row) */
    tmp_clean(&t);
}

static void v2_every_conversion(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, FIX "/mimic_iv_v2", 0, &sink, &s, &err), PS_OK);
    const char *db = t.db;
    int64_t a = 30000001;                       /* intime 2180-01-01 10:00 */
    ASSERT_NEAR(event_at(db, a, 8, 1.0), 80);   /* HR */
    ASSERT_NEAR(event_at(db, a, 8, -0.5), 90);  /* own stay_id, before intime */
    ASSERT_NEAR(event_at(db, a, 8, 11.5), 350); /* 360 clipped to VALID HIGH */
    assert_int_equal(q_i64(db, "SELECT count(*) FROM events WHERE stay_id = 30000001 AND "
                               "channel = 8"),
                     3);                         /* 400 > OUTLIER HIGH dropped; 91 outside */
    ASSERT_NEAR(event_at(db, a, 14, 1.0), 37.0); /* 98.6 F */
    ASSERT_NEAR(event_at(db, a, 14, 2.0), 37.5); /* Celsius kept */
    ASSERT_NEAR(event_at(db, a, 15, 2.5), 80.5); /* kg */
    assert_int_equal(q_i64(db, "SELECT count(*) FROM events WHERE stay_id = 30000001 AND "
                               "channel = 15 AND abs(hours - 2) < 1e-3 AND "
                               "abs(value - 79.832192) < 1e-3"),
                     2); /* 176 lb and 2816 oz */
    assert_int_equal(q_i64(db, "SELECT count(*) FROM events WHERE stay_id = 30000001 AND "
                               "channel = 9 AND abs(hours - 3) < 1e-3 AND "
                               "(value = 178 OR value = 180)"),
                     2);                       /* 70 in -> 178 cm; 180 cm */
    ASSERT_NEAR(event_at(db, a, 2, 4.0), 0.5); /* FiO2 50 % */
    ASSERT_NEAR(event_at(db, a, 2, 5.0), 0.4); /* FiO2 fraction */
    ASSERT_NEAR(event_at(db, a, 11, 5.0), 97); /* SpO2 0.97 */
    ASSERT_NEAR(event_at(db, a, 11, 6.0), 98);
    ASSERT_NEAR(event_at(db, a, 13, 6.0), 121); /* SBP */
    ASSERT_NEAR(event_at(db, a, 13, 7.0), 120); /* SBP of "120/80" */
    ASSERT_NEAR(event_at(db, a, 1, 7.0), 80);   /* DBP of "120/80" */
    /* capillary refill: "Brisk" -> 0, "Abnormal >3 secs" (quoted in the file) -> 1 */
    assert_int_equal(q_i64(db, "SELECT count(*) FROM events WHERE stay_id = 30000001 AND "
                               "channel = 0 AND ((value = 0 AND text = '0.0') OR "
                               "(value = 1 AND text = '1.0'))"),
                     2);
    ASSERT_NEAR(event_at(db, a, 3, 9.0), 4);  /* GCS eye */
    ASSERT_NEAR(event_at(db, a, 6, 9.0), 1);  /* GCS verbal No Response-ETT */
    ASSERT_NEAR(event_at(db, a, 4, 9.0), 6);  /* GCS motor */
    ASSERT_NEAR(event_at(db, a, 5, 9.0), 15); /* GCS total */
    assert_int_equal(q_i64(db, "SELECT count(*) FROM events WHERE stay_id = 30000001 AND "
                               "channel = 6 AND text = 'No Response-ETT'"),
                     1);
    ASSERT_NEAR(event_at(db, a, 16, 10.0), 7.41); /* pH */
    ASSERT_NEAR(event_at(db, a, 10, 10.0), 75);   /* MBP */
    ASSERT_NEAR(event_at(db, a, 12, 10.0), 18);   /* RR */
    ASSERT_NEAR(event_at(db, a, 7, 0.5), 140);    /* lab "___", valuenum 140 */
    int64_t b = 30000009;                         /* intime 2190-04-01 12:00; labs only */
    ASSERT_NEAR(event_at(db, b, 7, 1.0), 95);
    ASSERT_NEAR(event_at(db, b, 16, 1.0), 7.35);
    ASSERT_NEAR(event_at(db, b, 11, 1.0), 95);
    assert_int_equal(q_i64(db, "SELECT count(*) FROM events WHERE stay_id = 30000009"), 3);
    assert_int_equal(q_i64(db, "SELECT count(*) FROM events WHERE stay_id = 30000001"), 27);
    tmp_clean(&t);
}

static void gzip_and_plain_give_the_same_store(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    char plain[400], gz[400], db2[400];
    snprintf(plain, sizeof plain, "%s/plain", t.dir);
    snprintf(gz, sizeof gz, "%s/gz", t.dir);
    snprintf(db2, sizeof db2, "%s/gz.db", t.dir);
    copy_tree(FIX "/mimic_iv_v2", plain, 0);
    copy_tree(FIX "/mimic_iv_v2", gz, 1);
    Sink s1 = {0}, s2 = {0};
    ImportMimicStats st1, st2;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, plain, 0, &s1, &st1, &err), PS_OK);
    assert_int_equal(run_fixture(db2, gz, 0, &s2, &st2, &err), PS_OK);
    char *a = dump(t.db), *b = dump(db2);
    assert_string_equal(a, b);
    assert_int_equal(s1.n, s2.n);
    assert_string_equal(s2.msgs[0], "hosp/admissions.csv.gz:10: expected 16 columns, got 4");
    free(a);
    free(b);
    tmp_clean(&t);
}

/* ---- v1.0 fixture (core/, ethnicity, older event headers, BOM + CRLF) ----------------------- */

/* Every table with a UTF-8 BOM and CRLF line ends (the events tables too, read through the
 * two-thread pipeline) gives the store LF tables give, bad rows included. */
static void crlf_and_bom_give_the_same_store(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    char lf[400], crlf[400], db2[400];
    snprintf(lf, sizeof lf, "%s/lf", t.dir);
    snprintf(crlf, sizeof crlf, "%s/crlf", t.dir);
    snprintf(db2, sizeof db2, "%s/crlf.db", t.dir);
    copy_tree(FIX "/mimic_iv_v2", lf, 0);
    copy_tree(FIX "/mimic_iv_v2", crlf, 0);
    sh("cd '%s' && for f in */*.csv; do printf '\\357\\273\\277' > x && sed 's/$/\\r/' \"$f\" >> x "
       "&& mv x \"$f\"; done && head -c 3 icu/chartevents.csv | od -An -tx1 | grep -q 'ef bb bf' "
       "&& grep -c \"$(printf '\\r')\" icu/chartevents.csv > /dev/null",
       crlf);
    Sink s1 = {0}, s2 = {0};
    ImportMimicStats st1, st2;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, lf, 0, &s1, &st1, &err), PS_OK);
    assert_int_equal(run_fixture(db2, crlf, 7, &s2, &st2, &err), PS_OK);
    char *a = dump(t.db), *b = dump(db2);
    assert_string_equal(a, b);
    assert_int_equal(s1.n, s2.n);
    for (int i = 0; i < s1.n && i < 64; i++)
        assert_string_equal(s1.msgs[i], s2.msgs[i]);
    assert_int_equal(st2.events, 31);
    free(a);
    free(b);
    tmp_clean(&t);
}

/* The benchmark's last temperature rule: a value >= 79 is Fahrenheit even when neither the
 * item's label nor the unit says F; 78.9 on a Celsius item stays as it is (then the ranges
 * file clips or drops it like any other value). */
static void temperature_79_rule(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    copy_tree(FIX "/mimic_iv_v2", t.sub, 0);
    sh("printf '%%s\\n' '10000001,20000001,30000001,1001,2180-01-01 13:00:00,,223762,100.4,100.4,C,0' "
       "'10000001,20000001,30000001,1001,2180-01-01 14:00:00,,223762,38.2,38.2,C,0' "
       ">> '%s/icu/chartevents.csv'",
       t.sub);
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, t.sub, 0, &sink, &s, &err), PS_OK);
    ASSERT_NEAR(event_at(t.db, 30000001, 14, 3.0), 38.0); /* (100.4 - 32) * 5 / 9 */
    ASSERT_NEAR(event_at(t.db, 30000001, 14, 4.0), 38.2);
    assert_int_equal(s.events, 33);
    tmp_clean(&t);
}

static void v1_layout(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    PsStatus rc = run_fixture(t.db, FIX "/mimic_iv_v1", 0, &sink, &s, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, PS_OK);
    assert_int_equal(s.layout, 1);
    for (int k = 0; k < 6; k++)
        assert_int_equal(s.funnel[k], 2);
    assert_int_equal(sink.n, 0);
    ASSERT_NEAR(event_at(t.db, 31000001, 8, 1.0), 88);
    ASSERT_NEAR(event_at(t.db, 31000001, 14, 2.0), 38.0); /* 100.4 F */
    ASSERT_NEAR(event_at(t.db, 31000002, 12, 0.0), 22);   /* at intime exactly */
    ASSERT_NEAR(event_at(t.db, 31000002, 16, 24.0), 7.2); /* at outtime exactly */
    Store *st = NULL;
    assert_int_equal(store_open(&st, t.db, STORE_OPEN_READONLY, &err), PS_OK);
    StoreStay ss;
    assert_int_equal(store_get_stay(st, 31000001, &ss), PS_OK);
    assert_int_equal(ss.age, 90); /* anchor_age < 0 counts as 90 */
    assert_int_equal(store_get_stay(st, 31000002, &ss), PS_OK);
    assert_int_equal(ss.mortality_inhospital, 1); /* dod within the admission */
    uint8_t lab[CATALOG_N_PHENOTYPES];
    assert_int_equal(store_get_labels(st, 31000002, lab), PS_OK);
    /* 78552 (septic shock) counts; R6521 has no d_icd_diagnoses entry, and the benchmark's
     * inner join with the dictionary drops it, so septicemia stays 0 */
    assert_int_equal(lab[24], 1);
    int pos = 0;
    for (int p = 0; p < CATALOG_N_PHENOTYPES; p++)
        pos += lab[p];
    assert_int_equal(pos, 1);
    store_close(st);
    tmp_clean(&t);
}

/* ---- failures ------------------------------------------------------------------------------- */

static void clear_failures(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, "/nonexistent/mimic", 0, &sink, &s, &err), PS_ERR_NOTFOUND);
    assert_string_equal(err.msg, "/nonexistent/mimic: No such file or directory");
    assert_int_equal(run_fixture(t.db, FIX "/csv", 0, &sink, &s, &err), PS_ERR_NOTFOUND);
    assert_string_equal(err.msg, FIX "/csv: not a MIMIC-IV directory (neither "
                                     "hosp/patients.csv[.gz] nor core/patients.csv[.gz])");
    /* missing labevents */
    char d[400], p[500];
    snprintf(d, sizeof d, "%s/nolab", t.dir);
    copy_tree(FIX "/mimic_iv_v2", d, 0);
    snprintf(p, sizeof p, "%s/hosp/labevents.csv", d);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(run_fixture(t.db, d, 0, &sink, &s, &err), PS_ERR_NOTFOUND);
    snprintf(p, sizeof p, "%s: hosp/labevents.csv[.gz] is missing", d);
    assert_string_equal(err.msg, p);
    /* a missing resource file is named */
    assert_int_equal(run_import(t.db, FIX "/mimic_iv_v2", RES "/nope.yaml",
                                RES "/itemid_to_variable_map.csv", RES "/variable_ranges.csv", 0,
                                &sink, &s, &err),
                     PS_ERR_IO);
    assert_string_equal(err.msg, RES "/nope.yaml: No such file or directory");
    char a[256], b[256], c[256];
    assert_int_equal(import_mimic_find_resources(FIX "/mimic_iv_v2", a, b, c, sizeof a, &err),
                     PS_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "phenotype definitions are missing"));
    /* a wrong header */
    snprintf(d, sizeof d, "%s/badhdr", t.dir);
    copy_tree(FIX "/mimic_iv_v2", d, 0);
    snprintf(p, sizeof p, "%s/icu/icustays.csv", d);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("subject_id,hadm_id,stay,first_careunit,last_careunit,intime,outtime,los\n", f);
    fclose(f);
    assert_int_equal(run_fixture(t.db, d, 0, &sink, &s, &err), PS_ERR_PARSE);
    assert_string_equal(err.msg, "icu/icustays.csv:1: header lacks column 'stay_id'");
    /* nothing was written by any of these */
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM stays"), 0);
    tmp_clean(&t);
}

static void truncated_gzip_stops_with_one_message(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    char d[400], p[500];
    snprintf(d, sizeof d, "%s/gz", t.dir);
    copy_tree(FIX "/mimic_iv_v2", d, 1);
    snprintf(p, sizeof p, "%s/icu/chartevents.csv.gz", d);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(truncate(p, sb.st_size / 2), 0);
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, d, 0, &sink, &s, &err), PS_ERR_IO);
    assert_string_equal(err.msg, "icu/chartevents.csv.gz: truncated gzip");
    tmp_clean(&t);
}

/* ---- resuming after SIGKILL ----------------------------------------------------------------- */

/* Runs the import in a child that SIGKILLs itself at the given point, checks it died that way
 * (or finished, when the point lies beyond the run). */
typedef struct {
    const char *db, *dir;
} KillArg;

static PsStatus kill_arg_run(void *arg, Sink *sink)
{
    KillArg *a = arg;
    ImportMimicStats s;
    PsErr err = {{0}};
    return run_fixture(a->db, a->dir, 4, sink, &s, &err);
}

static int killed_run(const char *db, const char *dir, int at_bad, int at_progress)
{
    KillArg a = {db, dir};
    return killed_import(kill_arg_run, &a, at_bad, at_progress);
}

static void killed_import_resumes_to_the_same_rows(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    const char *dir = FIX "/mimic_iv_v2";
    assert_int_equal(run_fixture(t.db, dir, 4, &sink, &s, &err), PS_OK);
    char *clean = dump(t.db);
    int64_t clean_bad = s.bad_rows;
    int kills = 0;
    /* every bad row is a point inside a transaction; every progress call follows a commit */
    for (int mode = 0; mode < 2; mode++) {
        for (int k = 1; k <= 16; k++) {
            char db[400];
            snprintf(db, sizeof db, "%s/k%d_%d.db", t.dir, mode, k);
            int died = mode == 0 ? killed_run(db, dir, k, 0) : killed_run(db, dir, 0, k);
            kills += died;
            /* a second kill at the same point of the resumed run, then a clean finish */
            if (died) killed_run(db, dir, mode == 0 ? 1 : 0, mode == 1 ? 2 : 0);
            Sink s2 = {0};
            assert_int_equal(run_fixture(db, dir, 4, &s2, &s, &err), PS_OK);
            char *got = dump(db);
            assert_string_equal(got, clean);
            assert_int_equal(s.bad_rows, clean_bad);
            free(got);
        }
    }
    assert_true(kills >= 16);
    free(clean);
    tmp_clean(&t);
}

static void second_run_is_a_no_op(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "tree");
    Sink sink = {0};
    ImportMimicStats s;
    PsErr err = {{0}};
    assert_int_equal(run_fixture(t.db, FIX "/mimic_iv_v2", 0, &sink, &s, &err), PS_OK);
    char *a = dump(t.db);
    assert_int_equal(run_fixture(t.db, FIX "/mimic_iv_v2", 0, &sink, &s, &err), PS_OK);
    assert_int_equal(s.already_done, 1);
    assert_int_equal(s.funnel[5], 3);
    char *b = dump(t.db);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* another directory into the same store is refused */
    assert_int_equal(run_fixture(t.db, FIX "/mimic_iv_v1", 0, &sink, &s, &err), PS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "holds an import of another directory"));
    tmp_clean(&t);
}

static void time_parsing(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(import_mimic_parse_time("1970-01-01 00:00:00", 19, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(import_mimic_parse_time("2180-07-23 21:10:05", 19, &v), 0);
    assert_int_equal(v, 6644668205LL); /* date -u -d '2180-07-23 21:10:05' +%s */
    assert_int_equal(import_mimic_parse_time("2180-07-23", 10, &v), 0);
    assert_int_equal(v, 6644592000LL);
    assert_int_equal(import_mimic_parse_time("2180-07-23 21:10", 16, &v), 0);
    assert_int_equal(import_mimic_parse_time("2180-07-23T21:10:05.123", 23, &v), 0);
    assert_int_equal(v, 6644668205LL);
    assert_int_equal(import_mimic_parse_time("2100-02-29 00:00:00", 19, &v), -1);
    assert_int_equal(import_mimic_parse_time("2104-02-29 00:00:00", 19, &v), 0);
    assert_int_equal(import_mimic_parse_time("2180-13-01 00:00:00", 19, &v), -1);
    assert_int_equal(import_mimic_parse_time("2180-01-01 24:00:00", 19, &v), -1);
    assert_int_equal(import_mimic_parse_time("2180-1-01 00:00:00", 18, &v), -1);
    assert_int_equal(import_mimic_parse_time("", 0, &v), -1);
}

/* ---- the open MIMIC-IV demo ----------------------------------------------------------------- */

static const char *shared_dir(void)
{
    static const char *const c[] = {"../shared", "../../shared"};
    struct stat sb;
    for (int i = 0; i < 2; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/data/mimic-iv-demo-2.2/hosp", c[i]);
        if (stat(p, &sb) == 0) return c[i];
    }
    return NULL;
}

static void open_demo_imports_cleanly(void **state)
{
    (void)state;
    const char *sh = shared_dir();
    if (!sh) {
        fprintf(stderr, "SKIP: ../shared/data/mimic-iv-demo-2.2 is absent\n");
        skip();
    }
    char dir[256], defs[256], items[256], ranges[256];
    snprintf(dir, sizeof dir, "%s/data/mimic-iv-demo-2.2", sh);
    PsErr err = {{0}};
    char rdir[256];
    snprintf(rdir, sizeof rdir, "%s/reference", sh);
    assert_int_equal(import_mimic_find_resources(rdir, defs, items, ranges, sizeof defs, &err),
                     PS_OK);
    Tmp t;
    tmp_make_named(&t, "tree");
    Sink sink = {0};
    ImportMimicStats s;
    PsStatus rc = run_import(t.db, dir, defs, items, ranges, 0, &sink, &s, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, PS_OK);
    assert_int_equal(s.layout, 2);
    assert_int_equal(s.has_chartevents, 0);
    /* Derived independently with a short plain-Python script over the demo's CSVs (csv, gzip,
     * yaml modules only) applying the same rules: 140 stays; 129 without care-unit transfer; 129
     * with admission and patient; 112 alone in their admission; 112 adults; 112 with a lab
     * event during the stay; 104 with a positive label; events per channel Glucose 862, pH 652,
     * Oxygen saturation 102; per-phenotype positive counts as below; every stay's 25 labels
     * equal to the script's. */
    const int64_t want_funnel[6] = {140, 129, 129, 112, 112, 112};
    for (int k = 0; k < 6; k++)
        assert_int_equal(s.funnel[k], want_funnel[k]);
    assert_int_equal(s.stays_with_labels, 104);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events WHERE channel = 7"), 862);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events WHERE channel = 16"), 652);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events WHERE channel = 11"), 102);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events"), 1616);
    static const int want_pos[25] = {30, 4,  10, 32, 26, 16, 27, 10, 25, 32, 11, 26, 50,
                                     46, 40, 13, 27, 14, 11, 7,  11, 14, 18, 17, 15};
    for (int p = 0; p < 25; p++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT sum(p%02d) FROM labels", p);
        assert_int_equal(q_i64(t.db, sql), want_pos[p]);
    }
    /* the demo's bad rows are lab texts such as "NEG" where a glucose number should be */
    assert_int_equal(s.bad_rows, sink.n);
    assert_true(sink.n > 0 && sink.n < 100);
    for (int i = 0; i < sink.n && i < 64; i++)
        assert_non_null(strstr(sink.msgs[i], "hosp/labevents.csv.gz:"));
    tmp_clean(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(time_parsing),
        cmocka_unit_test(v2_cohort_funnel_and_bad_rows),
        cmocka_unit_test(v2_stays_labels_and_splits),
        cmocka_unit_test(v2_every_conversion),
        cmocka_unit_test(gzip_and_plain_give_the_same_store),
        cmocka_unit_test(crlf_and_bom_give_the_same_store),
        cmocka_unit_test(temperature_79_rule),
        cmocka_unit_test(v1_layout),
        cmocka_unit_test(clear_failures),
        cmocka_unit_test(truncated_gzip_stops_with_one_message),
        cmocka_unit_test(second_run_is_a_no_op),
        cmocka_unit_test(killed_import_resumes_to_the_same_rows),
        cmocka_unit_test(open_demo_imports_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
