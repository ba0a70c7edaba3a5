/* test_store.c — the SQLite store: opening and refusing, round trips of every record, the
 * pairing and split rules, schema versions, file modes, locking, atomicity. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_internal.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

typedef struct {
    char dir[256];
    char path[512];
} Tmp;

static int tmp_setup(void **state)
{
    Tmp *t = calloc(1, sizeof *t);
    if (!t) return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/ps_test_store.XXXXXX");
    if (!mkdtemp(t->dir)) return -1;
    snprintf(t->path, sizeof t->path, "%s/store.db", t->dir);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    Tmp *t = *state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0) return -1;
    free(t);
    return 0;
}

static Store *create(const Tmp *t)
{
    Store *st = NULL;
    PsErr err = {{0}};
    PsStatus rc = store_open(&st, t->path, STORE_OPEN_CREATE, &err);
    if (rc) fprintf(stderr, "store_open: %s\n", err.msg);
    assert_int_equal(rc, PS_OK);
    assert_non_null(st);
    return st;
}

static void ok(Store *st, PsStatus rc)
{
    if (rc) fprintf(stderr, "store error: %s\n", store_errmsg(st));
    assert_int_equal(rc, PS_OK);
}

static void put_patient(Store *st, int64_t subject)
{
    StorePatient p = {.subject_id = subject, .gender = 'F', .anchor_age = 60, .anchor_year = 2150};
    ok(st, store_put_patient(st, &p));
}

static StoreStay make_stay(int64_t stay, int64_t subject, int64_t intime, int64_t outtime,
                           int split)
{
    StoreStay s = {.stay_id = stay, .subject_id = subject, .hadm_id = stay + 1000000,
                   .intime = intime, .outtime = outtime, .admittime = intime - 3600,
                   .dischtime = outtime + 86400, .los_days = (double)(outtime - intime) / 86400.0,
                   .age = 61, .split = split};
    snprintf(s.first_careunit, sizeof s.first_careunit, "MICU");
    snprintf(s.last_careunit, sizeof s.last_careunit, "MICU");
    return s;
}

static StoreRadiograph make_cxr(const char *dicom, int64_t subject, int64_t time,
                                const char *view)
{
    StoreRadiograph r = {.subject_id = subject, .study_id = 50000000 + subject % 1000,
                         .study_time = time, .split = SPLIT_NONE};
    snprintf(r.dicom_id, sizeof r.dicom_id, "%s", dicom);
    snprintf(r.view, sizeof r.view, "%s", view);
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++) r.chexpert[k] = CHEX_MISSING;
    return r;
}

/* ---- opening ------------------------------------------------------------------------------ */

static void create_then_reopen(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    assert_string_equal(store_path(st), t->path);
    put_patient(st, 1);
    store_close(st);

    PsErr err = {{0}};
    st = NULL;
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READWRITE, &err), PS_OK);
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    int64_t n = -1;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM patients", -1, &s,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    assert_int_equal(n, 1);
    /* The pragmas the store promises. */
    assert_int_equal(sqlite3_prepare_v2(store_db(st), "PRAGMA journal_mode", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(store_db(st), "PRAGMA foreign_keys", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(store_db(st), "PRAGMA synchronous", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 2); /* FULL */
    sqlite3_finalize(s);
    store_close(st);

    st = NULL;
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READONLY, &err), PS_OK);
    StorePatient p = {.subject_id = 2, .gender = 'M'};
    assert_int_not_equal(store_put_patient(st, &p), PS_OK);
    store_close(st);
}

static void missing_store_not_created(void **state)
{
    Tmp *t = *state;
    Store *st = (Store *)1;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READWRITE, &err), PS_ERR_NOTFOUND);
    assert_null(st);
    assert_non_null(strstr(err.msg, "no store at"));
    assert_non_null(strstr(err.msg, t->path));
    assert_int_equal(access(t->path, F_OK), -1);
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READONLY, &err), PS_ERR_NOTFOUND);
    assert_int_equal(access(t->path, F_OK), -1);
}

/* ---- round trips -------------------------------------------------------------------------- */

typedef struct {
    StoreStay stays[8];
    int n;
} StayList;

static int collect_stay(void *ctx, const StoreStay *s)
{
    StayList *l = ctx;
    if (l->n < 8) l->stays[l->n] = *s;
    l->n++;
    return 0;
}

static void stay_round_trip(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    ok(st, store_begin(st));
    put_patient(st, 10);
    StoreStay a = make_stay(300, 10, 4102444800LL, 4102444800LL + 86400 * 3, SPLIT_TRAIN);
    a.deathtime = 4102444800LL + 86400 * 2;
    a.mortality_inhospital = 1;
    StoreStay b = make_stay(200, 10, 4102444800LL - 86400 * 30, 4102444800LL - 86400 * 29,
                            SPLIT_TEST);
    snprintf(b.last_careunit, sizeof b.last_careunit, "Cardiac Vascular Intensive Care Unit");
    ok(st, store_put_stay(st, &a));
    ok(st, store_put_stay(st, &b));
    ok(st, store_commit(st));

    StoreStay got;
    ok(st, store_get_stay(st, 300, &got));
    assert_int_equal(got.subject_id, 10);
    assert_int_equal(got.hadm_id, 1000300);
    assert_int_equal(got.intime, a.intime);
    assert_int_equal(got.outtime, a.outtime);
    assert_int_equal(got.admittime, a.admittime);
    assert_int_equal(got.dischtime, a.dischtime);
    assert_int_equal(got.deathtime, a.deathtime);
    assert_true(fabs(got.los_days - 3.0) < 1e-12);
    assert_int_equal(got.age, 61);
    assert_int_equal(got.split, SPLIT_TRAIN);
    assert_int_equal(got.mortality_inhospital, 1);
    assert_string_equal(got.first_careunit, "MICU");
    ok(st, store_get_stay(st, 200, &got));
    assert_int_equal(got.deathtime, 0);
    assert_string_equal(got.last_careunit, "Cardiac Vascular Intensive Care Unit");
    assert_int_equal(store_get_stay(st, 999, &got), PS_ERR_NOTFOUND);
    assert_non_null(strstr(store_errmsg(st), "999"));

    StayList l = {0};
    ok(st, store_each_stay(st, -1, collect_stay, &l));
    assert_int_equal(l.n, 2);
    assert_int_equal(l.stays[0].stay_id, 200); /* stay_id order */
    assert_int_equal(l.stays[1].stay_id, 300);
    l.n = 0;
    ok(st, store_each_stay(st, SPLIT_TEST, collect_stay, &l));
    assert_int_equal(l.n, 1);
    assert_int_equal(l.stays[0].stay_id, 200);

    /* Putting again updates in place (re-import), it does not duplicate. */
    a.split = SPLIT_VAL;
    ok(st, store_put_stay(st, &a));
    ok(st, store_get_stay(st, 300, &got));
    assert_int_equal(got.split, SPLIT_VAL);
    l.n = 0;
    ok(st, store_each_stay(st, -1, collect_stay, &l));
    assert_int_equal(l.n, 2);

    /* Invalid values are refused with the stay named. */
    a.split = 7;
    assert_int_equal(store_put_stay(st, &a), PS_ERR_INVALID);
    assert_non_null(strstr(store_errmsg(st), "stay 300"));
    store_close(st);
}

typedef struct {
    StoreEvent ev[16];
    char text[16][32];
    int n;
} EventList;

static int collect_event(void *ctx, const StoreEvent *e)
{
    EventList *l = ctx;
    if (l->n < 16) {
        l->ev[l->n] = *e;
        snprintf(l->text[l->n], sizeof l->text[0], "%s", e->text ? e->text : "(null)");
        l->ev[l->n].text = NULL;
    }
    l->n++;
    return 0;
}

static int stop_after_one(void *ctx, const StoreEvent *e)
{
    (void)e;
    (*(int *)ctx)++;
    return 1;
}

static void event_round_trip(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    ok(st, store_begin(st));
    put_patient(st, 10);
    StoreStay a = make_stay(300, 10, 4102444800LL, 4102444800LL + 86400, SPLIT_TRAIN);
    ok(st, store_put_stay(st, &a));
    int eye = catalog_channel_index("Glascow coma scale eye opening");
    int hr = catalog_channel_index("Heart Rate");
    StoreEvent e[] = {
        {300, 2.5f, hr, 88.0f, NULL},
        {300, -1.25f, hr, 90.0f, NULL},
        {300, 2.5f, eye, 4.0f, "4 Spontaneously"},
        {300, 0.0f, hr, NAN, NULL},
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) ok(st, store_put_event(st, &e[i]));
    ok(st, store_commit(st));

    EventList l = {0};
    ok(st, store_each_event(st, 300, collect_event, &l));
    assert_int_equal(l.n, 4);
    /* (hours, channel) order; negative hours first. */
    assert_true(l.ev[0].hours == -1.25f);
    assert_true(l.ev[0].value == 90.0f);
    assert_true(l.ev[1].hours == 0.0f);
    assert_true(isnan(l.ev[1].value));
    assert_int_equal(l.ev[2].channel, eye);
    assert_string_equal(l.text[2], "4 Spontaneously");
    assert_true(l.ev[2].value == 4.0f);
    assert_int_equal(l.ev[3].channel, hr);
    assert_string_equal(l.text[3], "(null)");
    assert_int_equal(l.ev[3].stay_id, 300);

    l.n = 0;
    ok(st, store_each_event(st, 12345, collect_event, &l));
    assert_int_equal(l.n, 0);

    int calls = 0;
    assert_int_equal(store_each_event(st, 300, stop_after_one, &calls), PS_ERR_CANCELLED);
    assert_int_equal(calls, 1);

    StoreEvent bad = {300, 1.0f, 17, 1.0f, NULL};
    assert_int_equal(store_put_event(st, &bad), PS_ERR_INVALID);
    assert_non_null(strstr(store_errmsg(st), "300"));
    /* An event of a stay that does not exist: refused (foreign key), naming the stay. */
    StoreEvent orphan = {777, 1.0f, hr, 80.0f, NULL};
    assert_int_not_equal(store_put_event(st, &orphan), PS_OK);
    assert_non_null(strstr(store_errmsg(st), "777"));
    store_close(st);
}

static void labels_round_trip(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    ok(st, store_begin(st));
    put_patient(st, 10);
    StoreStay a = make_stay(300, 10, 4102444800LL, 4102444800LL + 86400, SPLIT_TRAIN);
    ok(st, store_put_stay(st, &a));
    uint8_t lab[CATALOG_N_PHENOTYPES] = {0};
    lab[0] = lab[7] = lab[24] = 1;
    ok(st, store_put_labels(st, 300, lab));
    ok(st, store_commit(st));
    uint8_t got[CATALOG_N_PHENOTYPES];
    memset(got, 9, sizeof got);
    ok(st, store_get_labels(st, 300, got));
    assert_memory_equal(got, lab, sizeof lab);
    lab[7] = 0;
    lab[3] = 1;
    ok(st, store_put_labels(st, 300, lab));
    ok(st, store_get_labels(st, 300, got));
    assert_memory_equal(got, lab, sizeof lab);
    assert_int_equal(store_get_labels(st, 301, got), PS_ERR_NOTFOUND);
    lab[5] = 2;
    assert_int_equal(store_put_labels(st, 300, lab), PS_ERR_INVALID);
    store_close(st);
}

static void radiograph_round_trip(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    StoreRadiograph r = make_cxr("abc-1", 10, 4102444800LL + 3600, "AP");
    r.chexpert[0] = CHEX_POSITIVE;
    r.chexpert[1] = CHEX_NEGATIVE;
    r.chexpert[2] = CHEX_UNCERTAIN;
    r.width = 3;
    r.height = 2;
    unsigned char blob[4096];
    for (size_t i = 0; i < sizeof blob; i++) blob[i] = (unsigned char)(i * 31 + 7);
    blob[0] = 0xff;
    blob[1] = 0xd8;
    blob[100] = 0; /* a zero byte must not cut the blob */
    r.jpeg = blob;
    r.jpeg_size = sizeof blob;
    r.path = "files/p10/p10/s50000010/abc-1.jpg";
    ok(st, store_put_radiograph(st, &r));
    StoreRadiograph m = make_cxr("abc-0", 10, 4102444800LL, "PA");
    ok(st, store_put_radiograph(st, &m));

    StoreRadiograph got;
    unsigned char *jpeg = NULL;
    ok(st, store_get_radiograph(st, "abc-1", &got, &jpeg));
    assert_non_null(jpeg);
    assert_int_equal(got.jpeg_size, sizeof blob);
    assert_memory_equal(jpeg, blob, sizeof blob);
    assert_int_equal(got.subject_id, 10);
    assert_int_equal(got.study_time, r.study_time);
    assert_string_equal(got.view, "AP");
    assert_int_equal(got.chexpert[0], CHEX_POSITIVE);
    assert_int_equal(got.chexpert[1], CHEX_NEGATIVE);
    assert_int_equal(got.chexpert[2], CHEX_UNCERTAIN);
    for (int k = 3; k < CATALOG_N_CHEXPERT; k++) assert_int_equal(got.chexpert[k], CHEX_MISSING);
    assert_int_equal(got.width, 3);
    assert_int_equal(got.height, 2);
    free(jpeg);

    jpeg = (unsigned char *)1;
    ok(st, store_get_radiograph(st, "abc-0", &got, &jpeg));
    assert_null(jpeg);
    assert_int_equal(store_get_radiograph(st, "nope", &got, &jpeg), PS_ERR_NOTFOUND);

    /* Replacing metadata without an image drops the old image. */
    r.jpeg = NULL;
    r.jpeg_size = 0;
    ok(st, store_put_radiograph(st, &r));
    ok(st, store_get_radiograph(st, "abc-1", &got, &jpeg));
    assert_null(jpeg);
    store_close(st);
}

typedef struct {
    char ids[8][96];
    char paths[8][96];
    size_t sizes[8];
    int n;
} CxrList;

static int collect_cxr(void *ctx, const StoreRadiograph *r)
{
    CxrList *l = ctx;
    if (l->n < 8) {
        snprintf(l->ids[l->n], 96, "%s", r->dicom_id);
        snprintf(l->paths[l->n], 96, "%s", r->path ? r->path : "(null)");
        l->sizes[l->n] = r->jpeg ? r->jpeg_size : 0;
    }
    l->n++;
    return 0;
}

static void radiograph_iteration(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    unsigned char img[3] = {1, 2, 3};
    StoreRadiograph r = make_cxr("b", 1, 100, "AP");
    r.jpeg = img;
    r.jpeg_size = 3;
    r.path = "b.jpg";
    r.split = SPLIT_VAL;
    ok(st, store_put_radiograph(st, &r));
    r = make_cxr("a", 1, 100, "PA");
    ok(st, store_put_radiograph(st, &r));
    CxrList l = {0};
    ok(st, store_each_radiograph(st, -1, 1, collect_cxr, &l));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ids[0], "a");
    assert_string_equal(l.ids[1], "b");
    assert_string_equal(l.paths[0], "(null)");
    assert_string_equal(l.paths[1], "b.jpg");
    assert_int_equal(l.sizes[1], 3);
    l.n = 0;
    ok(st, store_each_radiograph(st, -1, 0, collect_cxr, &l));
    assert_int_equal(l.sizes[1], 0); /* without blobs */
    l.n = 0;
    ok(st, store_each_radiograph(st, SPLIT_VAL, 0, collect_cxr, &l));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "b");
    store_close(st);
}

static void diagnoses_funnel_sources(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    StoreDiagnosis d = {.subject_id = 10, .hadm_id = 20, .seq_num = 1, .icd_code = "I509",
                        .icd_version = 10};
    ok(st, store_put_diagnosis(st, &d));
    ok(st, store_put_diagnosis(st, &d)); /* the same row again: no duplicate */
    ok(st, store_put_icd_title(st, "I509", 10, "Heart failure, unspecified"));
    ok(st, store_put_funnel(st, "mimic-iv", 0, "all ICU stays", 76540));
    ok(st, store_put_funnel(st, "mimic-iv", 1, "one unit", 70000));
    ok(st, store_put_source(st, "demo", "seed=1"));
    ok(st, store_put_source(st, "demo", "seed=2"));
    d.icd_version = 8;
    assert_int_equal(store_put_diagnosis(st, &d), PS_ERR_INVALID);

    int64_t n;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(store_db(st),
                                        "SELECT (SELECT count(*) FROM diagnoses) * 1000000 + "
                                        "(SELECT count(*) FROM funnel) * 1000 + "
                                        "(SELECT count(*) FROM sources)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    assert_int_equal(n, 1002001);
    assert_int_equal(sqlite3_prepare_v2(store_db(st),
                                        "SELECT d.icd_code || '|' || t.title || '|' || "
                                        "(SELECT detail FROM sources WHERE name = 'demo') "
                                        "FROM diagnoses d JOIN icd_titles t "
                                        "USING (icd_code, icd_version)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0),
                        "I509|Heart failure, unspecified|seed=2");
    sqlite3_finalize(s);
    store_close(st);
}

/* ---- pairing and splits ------------------------------------------------------------------- */

static void pairing_rule(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    const int64_t T = 4102444800LL, H = 3600;
    ok(st, store_begin(st));
    for (int64_t subj = 1; subj <= 6; subj++) put_patient(st, subj);
    /* 1: only a PA inside the stay -> unpaired. */
    StoreStay s1 = make_stay(101, 1, T, T + 48 * H, SPLIT_TRAIN);
    StoreRadiograph r = make_cxr("s1-pa", 1, T + 10 * H, "PA");
    ok(st, store_put_stay(st, &s1));
    ok(st, store_put_radiograph(st, &r));
    /* 2: AP before intime and after outtime -> unpaired. */
    StoreStay s2 = make_stay(102, 2, T, T + 48 * H, SPLIT_TRAIN);
    ok(st, store_put_stay(st, &s2));
    r = make_cxr("s2-before", 2, T - 1, "AP");
    ok(st, store_put_radiograph(st, &r));
    r = make_cxr("s2-after", 2, T + 48 * H + 1, "AP");
    ok(st, store_put_radiograph(st, &r));
    /* 3: two APs within the stay (and one exactly at outtime) -> the latest. */
    StoreStay s3 = make_stay(103, 3, T, T + 48 * H, SPLIT_VAL);
    ok(st, store_put_stay(st, &s3));
    r = make_cxr("s3-early", 3, T + 5 * H, "AP");
    ok(st, store_put_radiograph(st, &r));
    r = make_cxr("s3-late", 3, T + 48 * H, "AP");
    ok(st, store_put_radiograph(st, &r));
    r = make_cxr("s3-pa-later", 3, T + 48 * H, "PA");
    ok(st, store_put_radiograph(st, &r));
    /* 4: another subject's AP within the stay's time -> unpaired. */
    StoreStay s4 = make_stay(104, 4, T, T + 48 * H, SPLIT_TEST);
    ok(st, store_put_stay(st, &s4));
    r = make_cxr("s5-ap", 5, T + 3 * H, "AP");
    ok(st, store_put_radiograph(st, &r));
    /* 6: AP exactly at intime -> paired (closed interval). */
    StoreStay s6 = make_stay(106, 6, T, T + 48 * H, SPLIT_TRAIN);
    ok(st, store_put_stay(st, &s6));
    r = make_cxr("s6-ap", 6, T, "AP");
    ok(st, store_put_radiograph(st, &r));
    ok(st, store_commit(st));
    /* A stale pair must be replaced by the recomputation. */
    ok(st, store_put_pair(st, 101, "s1-pa"));

    ok(st, store_recompute_pairs(st));
    char d[96];
    assert_int_equal(store_get_pair(st, 101, d, sizeof d), PS_ERR_NOTFOUND);
    assert_int_equal(store_get_pair(st, 102, d, sizeof d), PS_ERR_NOTFOUND);
    ok(st, store_get_pair(st, 103, d, sizeof d));
    assert_string_equal(d, "s3-late");
    assert_int_equal(store_get_pair(st, 104, d, sizeof d), PS_ERR_NOTFOUND);
    ok(st, store_get_pair(st, 106, d, sizeof d));
    assert_string_equal(d, "s6-ap");

    /* Split rule: subject 3 is in val, subject 4 in test (no radiographs), subject 5 has no
     * stay at all -> train; subject 2 train. */
    StoreRadiograph got;
    ok(st, store_get_radiograph(st, "s3-early", &got, NULL));
    assert_int_equal(got.split, SPLIT_VAL);
    ok(st, store_get_radiograph(st, "s3-pa-later", &got, NULL));
    assert_int_equal(got.split, SPLIT_VAL);
    ok(st, store_get_radiograph(st, "s5-ap", &got, NULL));
    assert_int_equal(got.split, SPLIT_TRAIN);
    ok(st, store_get_radiograph(st, "s2-after", &got, NULL));
    assert_int_equal(got.split, SPLIT_TRAIN);

    StoreSplitCounts c[STORE_N_SPLITS];
    ok(st, store_split_counts(st, c));
    assert_int_equal(c[SPLIT_TRAIN].n_ehr, 3);
    assert_int_equal(c[SPLIT_VAL].n_ehr, 1);
    assert_int_equal(c[SPLIT_TEST].n_ehr, 1);
    assert_int_equal(c[SPLIT_TRAIN].n_cxr, 5); /* s1-pa, s2 x2, s5, s6 */
    assert_int_equal(c[SPLIT_VAL].n_cxr, 3);
    assert_int_equal(c[SPLIT_TEST].n_cxr, 0);
    assert_int_equal(c[SPLIT_TRAIN].n_pairs, 1);
    assert_int_equal(c[SPLIT_VAL].n_pairs, 1);
    assert_int_equal(c[SPLIT_TEST].n_pairs, 0);
    store_close(st);
}

/* ---- refusing --------------------------------------------------------------------------- */

static void newer_schema_refused(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    ok(st, store_put_source(st, "x", ""));
    assert_int_equal(sqlite3_exec(store_db(st), "PRAGMA user_version = 7", NULL, NULL, NULL),
                     SQLITE_OK);
    store_close(st);
    PsErr err = {{0}};
    st = NULL;
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READWRITE, &err), PS_ERR_VERSION);
    assert_null(st);
    assert_non_null(strstr(err.msg, "schema 7"));
    assert_non_null(strstr(err.msg, "upgrade phenoscope"));
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READONLY, &err), PS_ERR_VERSION);
}

static int read_all(const char *path, unsigned char *buf, size_t n, size_t *got)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    *got = fread(buf, 1, n, f);
    fclose(f);
    return 0;
}

static void not_a_database_untouched(void **state)
{
    Tmp *t = *state;
    static const char text[] = "subject_id,gender\n10,F\nthis is a CSV file, not a store\n";
    FILE *f = fopen(t->path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 200; i++) fputs(text, f);
    fclose(f);
    static unsigned char before[65536], after[65536];
    size_t nb, na;
    assert_int_equal(read_all(t->path, before, sizeof before, &nb), 0);
    for (int mode = 0; mode < 3; mode++) {
        Store *st = NULL;
        PsErr err = {{0}};
        PsStatus rc = store_open(&st, t->path, (StoreMode)mode, &err);
        assert_int_not_equal(rc, PS_OK);
        assert_null(st);
        assert_non_null(strstr(err.msg, "not a phenoscope store"));
        assert_null(strchr(err.msg, '\n'));
    }
    assert_int_equal(read_all(t->path, after, sizeof after, &na), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(before, after, nb);
    char side[600];
    snprintf(side, sizeof side, "%s-wal", t->path);
    assert_int_equal(access(side, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_then_reopen, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(missing_store_not_created, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(stay_round_trip, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(event_round_trip, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(labels_round_trip, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(radiograph_round_trip, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(radiograph_iteration, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(diagnoses_funnel_sources, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(pairing_rule, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(newer_schema_refused, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(not_a_database_untouched, tmp_setup, tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
