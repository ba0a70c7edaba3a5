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
#include <sys/wait.h>
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
    if (rc) fprintf(stderr, "store error: %s\n", st ? store_errmsg(st) : "(no store)");
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
    int defensive = -1;
    assert_int_equal(sqlite3_db_config(store_db(st), SQLITE_DBCONFIG_DEFENSIVE, -1, &defensive),
                     SQLITE_OK);
    assert_int_equal(defensive, 1);
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


/* ---- schema versions ------------------------------------------------------------------------ */

/* The pre-release layout (version 0), written by hand as an old phenoscope would have. */
static void make_v0_store(const char *path, int with_orphan)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "PRAGMA application_id = %d;"
             "CREATE TABLE patients(subject_id INTEGER PRIMARY KEY, gender TEXT,"
             " anchor_age INTEGER, anchor_year INTEGER);"
             "CREATE TABLE stays(stay_id INTEGER PRIMARY KEY, subject_id INTEGER,"
             " hadm_id INTEGER, intime INTEGER, outtime INTEGER);"
             "CREATE TABLE phenotypes(stay_id INTEGER, phenotype INTEGER, label INTEGER);"
             "INSERT INTO patients VALUES (10, 'F', 70, 2150), (11, '', 40, 2160);"
             "INSERT INTO stays VALUES (300, 10, 2000, 4102444800, 4102531200),"
             " (301, 11, 2001, 4102444800, 4102531200)%s;"
             "INSERT INTO phenotypes VALUES (300, 0, 1), (300, 1, 0), (300, 24, 1),"
             " (301, 3, 1);",
             0x50685363, with_orphan ? ", (302, 99, 2002, 1, 2)" : "");
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc) fprintf(stderr, "v0 fixture: %s\n", msg);
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void old_schema_migrated(void **state)
{
    Tmp *t = *state;
    make_v0_store(t->path, 0);
    Store *st = NULL;
    PsErr err = {{0}};
    /* Read-only cannot migrate: refused with a hint, file unchanged. */
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READONLY, &err), PS_ERR_VERSION);
    assert_non_null(strstr(err.msg, "schema 0"));
    if (store_open(&st, t->path, STORE_OPEN_READWRITE, &err)) fprintf(stderr, "%s\n", err.msg);
    assert_non_null(st);
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION); /* migrated to the newest */
    StoreStay s;
    ok(st, store_get_stay(st, 300, &s));
    assert_int_equal(s.subject_id, 10);
    assert_int_equal(s.hadm_id, 2000);
    assert_int_equal(s.intime, 4102444800LL);
    assert_int_equal(s.split, SPLIT_NONE);
    uint8_t lab[CATALOG_N_PHENOTYPES], want[CATALOG_N_PHENOTYPES] = {0};
    ok(st, store_get_labels(st, 300, lab));
    want[0] = want[24] = 1;
    assert_memory_equal(lab, want, sizeof want);
    ok(st, store_get_labels(st, 301, lab));
    memset(want, 0, sizeof want);
    want[3] = 1;
    assert_memory_equal(lab, want, sizeof want);
    /* The new tables work, the old ones are gone, and foreign keys are on again. */
    int64_t n = -1;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(store_db(st),
                                        "SELECT (SELECT count(*) FROM sqlite_schema WHERE name "
                                        "LIKE 'v0_%' OR name = 'phenotypes') * 10 + "
                                        "(SELECT gender = '?' FROM patients WHERE subject_id = 11)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    assert_int_equal(n, 1);
    StoreEvent orphan = {777, 1.0f, 8, 80.0f, NULL};
    assert_int_not_equal(store_put_event(st, &orphan), PS_OK);
    store_close(st);
    st = NULL;
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READONLY, &err), PS_OK);
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    store_close(st);
}

static int64_t user_version_of(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* A migration that would leave a dangling reference is rolled back whole. */
static void failed_migration_leaves_store_as_it_was(void **state)
{
    Tmp *t = *state;
    make_v0_store(t->path, 1);
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_not_equal(store_open(&st, t->path, STORE_OPEN_READWRITE, &err), PS_OK);
    assert_null(st);
    assert_non_null(strstr(err.msg, "left as it was"));
    assert_int_equal(user_version_of(t->path), 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM stays", -1, &q, NULL),
                     SQLITE_OK); /* the v0 table is still there under its old name */
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 3);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void foreign_sqlite_refused(void **state)
{
    Tmp *t = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes(x); INSERT INTO notes VALUES (1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_CREATE, &err), PS_ERR_PARSE);
    assert_non_null(strstr(err.msg, "not a phenoscope store"));
    assert_int_equal(user_version_of(t->path), 0);
}

static void empty_file(void **state)
{
    Tmp *t = *state;
    FILE *f = fopen(t->path, "wb");
    assert_non_null(f);
    fclose(f);
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READWRITE, &err), PS_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "empty"));
    struct stat sb;
    assert_int_equal(stat(t->path, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    /* Creating into an empty file is what `phenoscope demo` on a touched path expects. */
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_CREATE, &err), PS_OK);
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    store_close(st);
}

/* ---- damaged files ------------------------------------------------------------------------ */

static void fill_store(const Tmp *t, int n_events)
{
    Store *st = create(t);
    ok(st, store_begin(st));
    put_patient(st, 10);
    StoreStay a = make_stay(300, 10, 4102444800LL, 4102444800LL + 86400, SPLIT_TRAIN);
    ok(st, store_put_stay(st, &a));
    for (int i = 0; i < n_events; i++) {
        StoreEvent e = {300, (float)i * 0.01f, i % 17, (float)i, i % 17 == 3 ? "None" : NULL};
        ok(st, store_put_event(st, &e));
    }
    ok(st, store_commit(st));
    store_close(st); /* the last close checkpoints the WAL into the main file */
}

static void truncated_store_reported(void **state)
{
    Tmp *t = *state;
    fill_store(t, 20000);
    struct stat sb;
    assert_int_equal(stat(t->path, &sb), 0);
    assert_true(sb.st_size > 8 * 4096);
    static const double cuts[] = {0.5, 0.0}; /* half; then a non-page-aligned cut */
    for (int k = 0; k < 2; k++) {
        off_t size = k == 0 ? (off_t)(sb.st_size * cuts[k]) / 4096 * 4096 : 4096 * 3 + 1000;
        assert_int_equal(truncate(t->path, size), 0);
        Store *st = NULL;
        PsErr err = {{0}};
        assert_int_equal(store_open(&st, t->path, STORE_OPEN_READWRITE, &err), PS_ERR_PARSE);
        assert_null(st);
        assert_non_null(strstr(err.msg, "truncated"));
        assert_non_null(strstr(err.msg, t->path));
        struct stat after;
        assert_int_equal(stat(t->path, &after), 0);
        assert_int_equal(after.st_size, size);
    }
}

static void corrupt_schema_page_reported(void **state)
{
    Tmp *t = *state;
    fill_store(t, 100);
    int fd = open(t->path, O_WRONLY);
    assert_true(fd >= 0);
    unsigned char junk[3000];
    memset(junk, 0x55, sizeof junk);
    assert_int_equal(pwrite(fd, junk, sizeof junk, 100), (ssize_t)sizeof junk);
    close(fd);
    Store *st = NULL;
    PsErr err = {{0}};
    PsStatus rc = store_open(&st, t->path, STORE_OPEN_READWRITE, &err);
    assert_int_not_equal(rc, PS_OK);
    assert_null(st);
    assert_non_null(strstr(err.msg, t->path));
    assert_null(strchr(err.msg, '\n'));
}

/* ---- files, modes, locks ------------------------------------------------------------------ */

static void file_modes_under_umask_0(void **state)
{
    Tmp *t = *state;
    char path[600], sub[600], side[640];
    snprintf(sub, sizeof sub, "%s/a", t->dir);
    snprintf(path, sizeof path, "%s/a/b/store.db", t->dir);
    mode_t old = umask(0);
    Store *st = NULL;
    PsErr err = {{0}};
    PsStatus rc = store_open(&st, path, STORE_OPEN_CREATE, &err);
    umask(old);
    assert_int_equal(rc, PS_OK);
    ok(st, store_put_source(st, "x", "y")); /* a write, so -wal and -shm exist */
    struct stat sb;
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    snprintf(sub, sizeof sub, "%s/a/b", t->dir);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    snprintf(side, sizeof side, "%s-wal", path);
    assert_int_equal(stat(side, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    snprintf(side, sizeof side, "%s-shm", path);
    assert_int_equal(stat(side, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    store_close(st);
    /* An existing directory keeps its mode: we only set the ones we create. */
    assert_int_equal(stat(t->dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700); /* mkdtemp's */
}

static void unwritable_location(void **state)
{
    Tmp *t = *state;
    char path[600];
    /* A path through a regular file: cannot be created, whoever we are. */
    snprintf(path, sizeof path, "%s/file", t->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/file/store.db", t->dir);
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, path, STORE_OPEN_CREATE, &err), PS_ERR_IO);
    assert_non_null(strstr(err.msg, "not a directory"));
    if (geteuid() != 0) { /* root ignores directory permissions */
        snprintf(path, sizeof path, "%s/ro", t->dir);
        assert_int_equal(mkdir(path, 0500), 0);
        snprintf(path, sizeof path, "%s/ro/store.db", t->dir);
        assert_int_equal(store_open(&st, path, STORE_OPEN_CREATE, &err), PS_ERR_IO);
        assert_non_null(strstr(err.msg, "cannot create store"));
        snprintf(path, sizeof path, "%s/ro", t->dir);
        chmod(path, 0700);
    }
}

/* A second process holds the write lock: readers still open (WAL), writers get PS_ERR_BUSY
 * after the configured timeout, with a message saying so. */
static void busy_store(void **state)
{
    Tmp *t = *state;
    fill_store(t, 10);
    int up[2], down[2];
    assert_int_equal(pipe(up), 0);
    assert_int_equal(pipe(down), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sqlite3 *db;
        char c = 'x';
        int rc = sqlite3_open(t->path, &db) == SQLITE_OK &&
                         sqlite3_exec(db, "BEGIN IMMEDIATE; INSERT INTO sources(name, time) "
                                          "VALUES ('locker', 0)",
                                      NULL, NULL, NULL) == SQLITE_OK
                     ? 0
                     : 1;
        if (write(up[1], rc ? "e" : "l", 1) != 1) _exit(2);
        if (read(down[0], &c, 1) != 1) _exit(3); /* hold the lock until told */
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
        _exit(rc);
    }
    char c = 0;
    assert_int_equal(read(up[0], &c, 1), 1);
    assert_int_equal(c, 'l');
    setenv("PHENOSCOPE_BUSY_TIMEOUT_MS", "300", 1);
    Store *st = NULL;
    PsErr err = {{0}};
    PsStatus rc = store_open(&st, t->path, STORE_OPEN_READWRITE, &err);
    assert_int_equal(rc, PS_OK);
    StoreStay s;
    ok(st, store_get_stay(st, 300, &s)); /* reading goes on */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(store_begin(st), PS_ERR_BUSY);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double waited = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    assert_true(waited >= 0.25 && waited < 5.0);
    assert_non_null(strstr(store_errmsg(st), "store busy"));
    assert_non_null(strstr(store_errmsg(st), t->path));
    assert_int_equal(store_put_source(st, "me", ""), PS_ERR_BUSY);
    /* Once the other process lets go, writing works. */
    assert_int_equal(write(down[1], "g", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    ok(st, store_put_source(st, "me", ""));
    store_close(st);
    unsetenv("PHENOSCOPE_BUSY_TIMEOUT_MS");
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
}

/* A store that needs migrating while another process writes cannot be upgraded: busy. */
static void busy_during_migration(void **state)
{
    Tmp *t = *state;
    make_v0_store(t->path, 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    setenv("PHENOSCOPE_BUSY_TIMEOUT_MS", "100", 1);
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READWRITE, &err), PS_ERR_BUSY);
    assert_non_null(strstr(err.msg, "store busy"));
    unsetenv("PHENOSCOPE_BUSY_TIMEOUT_MS");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    assert_int_equal(user_version_of(t->path), 0);
}

/* ---- atomicity -------------------------------------------------------------------------- */

static int64_t count_rows(Store *st, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    assert_int_equal(sqlite3_finalize(q), SQLITE_OK);
    return n;
}

/* COMMIT refused (a stay whose patient was never written): everything of the transaction
 * goes, what was there before stays. */
static void refused_commit_writes_nothing(void **state)
{
    Tmp *t = *state;
    fill_store(t, 50);
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, t->path, STORE_OPEN_READWRITE, &err), PS_OK);
    ok(st, store_begin(st));
    put_patient(st, 11);
    StoreStay a = make_stay(400, 99, 4102444800LL, 4102444800LL + 86400, SPLIT_TRAIN);
    ok(st, store_put_stay(st, &a)); /* deferred: refused only at commit */
    for (int i = 0; i < 100; i++) {
        StoreEvent e = {400, (float)i, 8, 70.0f, NULL};
        ok(st, store_put_event(st, &e));
    }
    assert_int_equal(store_commit(st), PS_ERR_INVALID);
    assert_non_null(strstr(store_errmsg(st), "nothing was written"));
    assert_int_equal(count_rows(st, "patients"), 1);
    assert_int_equal(count_rows(st, "stays"), 1);
    assert_int_equal(count_rows(st, "events"), 50);
    /* The transaction is closed: a new one can start. */
    ok(st, store_begin(st));
    store_rollback(st);
    store_close(st);
}

/* A full disk in the middle of a COMMIT: test_hooks_store.c (full_disk_during_commit_...), on
 * the store's own fault VFS (store/testhooks.c). */

/* ---- more readers, paths ------------------------------------------------------------------ */

typedef struct {
    int64_t ids[8];
    uint8_t first[8];
    char dicom[8][16];
    int n;
} Rows;

static int collect_labels(void *ctx, int64_t stay_id, const uint8_t labels[CATALOG_N_PHENOTYPES])
{
    Rows *r = ctx;
    if (r->n < 8) {
        r->ids[r->n] = stay_id;
        r->first[r->n] = labels[0];
    }
    r->n++;
    return 0;
}

static int collect_pair(void *ctx, int64_t stay_id, const char *dicom_id)
{
    Rows *r = ctx;
    if (r->n < 8) {
        r->ids[r->n] = stay_id;
        snprintf(r->dicom[r->n], sizeof r->dicom[0], "%s", dicom_id);
    }
    r->n++;
    return 0;
}

static int stop_pairs(void *ctx, int64_t stay_id, const char *dicom_id)
{
    (void)stay_id;
    (void)dicom_id;
    (*(int *)ctx)++;
    return 1;
}

static int collect_source(void *ctx, const StoreSource *x)
{
    Rows *r = ctx;
    if (r->n < 8) snprintf(r->dicom[r->n], sizeof r->dicom[0], "%s=%s", x->name, x->detail);
    r->n++;
    return 0;
}

static int collect_funnel(void *ctx, const StoreFunnelStep *f)
{
    Rows *r = ctx;
    if (r->n < 8) {
        r->ids[r->n] = f->count;
        snprintf(r->dicom[r->n], sizeof r->dicom[0], "%s/%d", f->source, f->step);
    }
    r->n++;
    return 0;
}

/* Inside the caller's transaction: five stays of one patient, written in reverse so that the
 * readers must sort them, labels for all but stay 3, a radiograph each, two sources and a
 * funnel, then the pairs recomputed (which joins the transaction: a savepoint). */
static void write_bulk(Store *st)
{
    put_patient(st, 1);
    uint8_t lab[CATALOG_N_PHENOTYPES] = {0};
    for (int64_t id = 5; id >= 1; id--) {
        StoreStay x = make_stay(id, 1, 1000 * id, 1000 * id + 500, SPLIT_TRAIN);
        ok(st, store_put_stay(st, &x));
        lab[0] = (uint8_t)(id % 2);
        if (id != 3) ok(st, store_put_labels(st, id, lab));
        char d[16];
        snprintf(d, sizeof d, "x%lld", (long long)id);
        StoreRadiograph r = make_cxr(d, 1, 1000 * id + 10, "AP");
        ok(st, store_put_radiograph(st, &r));
    }
    ok(st, store_put_source(st, "b", "2"));
    ok(st, store_put_source(st, "a", "1"));
    ok(st, store_put_funnel(st, "z", 1, "second", 5));
    ok(st, store_put_funnel(st, "z", 0, "first", 9));
    ok(st, store_put_funnel(st, "m", 0, "other", 1));
    ok(st, store_recompute_pairs(st));
}

static void bulk_readers(void **state)
{
    Tmp *t = *state;
    Store *st = create(t);
    ok(st, store_begin(st));
    write_bulk(st);
    store_rollback(st);
    Rows r = {0};
    ok(st, store_each_labels(st, collect_labels, &r));
    assert_int_equal(r.n, 0); /* rolled back, pairs included */
    ok(st, store_each_pair(st, collect_pair, &r));
    assert_int_equal(r.n, 0);

    ok(st, store_begin(st));
    write_bulk(st);
    ok(st, store_commit(st));

    memset(&r, 0, sizeof r);
    ok(st, store_each_labels(st, collect_labels, &r));
    assert_int_equal(r.n, 4);
    assert_int_equal(r.ids[0], 1);
    assert_int_equal(r.ids[1], 2);
    assert_int_equal(r.ids[2], 4);
    assert_int_equal(r.ids[3], 5);
    assert_int_equal(r.first[0], 1);
    assert_int_equal(r.first[1], 0);

    memset(&r, 0, sizeof r);
    ok(st, store_each_pair(st, collect_pair, &r));
    assert_int_equal(r.n, 5);
    for (int k = 0; k < 5; k++) {
        char want[16];
        snprintf(want, sizeof want, "x%d", k + 1);
        assert_int_equal(r.ids[k], k + 1);
        assert_string_equal(r.dicom[k], want);
    }
    int calls = 0;
    assert_int_equal(store_each_pair(st, stop_pairs, &calls), PS_ERR_CANCELLED);
    assert_int_equal(calls, 1);

    memset(&r, 0, sizeof r);
    ok(st, store_each_source(st, collect_source, &r));
    assert_int_equal(r.n, 2);
    assert_string_equal(r.dicom[0], "a=1");
    assert_string_equal(r.dicom[1], "b=2");

    memset(&r, 0, sizeof r);
    ok(st, store_each_funnel(st, collect_funnel, &r));
    assert_int_equal(r.n, 3);
    assert_string_equal(r.dicom[0], "m/0");
    assert_string_equal(r.dicom[1], "z/0");
    assert_int_equal(r.ids[1], 9);
    assert_string_equal(r.dicom[2], "z/1");
    store_close(st);
}

static void default_path(void **state)
{
    (void)state;
    char buf[256];
    PsErr err = {{0}};
    char *saved[3];
    static const char *const vars[3] = {"PHENOSCOPE_STORE", "XDG_DATA_HOME", "HOME"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
    setenv("PHENOSCOPE_STORE", "/data/my.db", 1);
    setenv("XDG_DATA_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    ok(NULL, store_default_path(buf, sizeof buf, &err));
    assert_string_equal(buf, "/data/my.db");
    setenv("PHENOSCOPE_STORE", "", 1); /* empty counts as unset */
    ok(NULL, store_default_path(buf, sizeof buf, &err));
    assert_string_equal(buf, "/xdg/phenoscope/store.db");
    setenv("XDG_DATA_HOME", "relative/dir", 1); /* invalid per the XDG spec: ignored */
    ok(NULL, store_default_path(buf, sizeof buf, &err));
    assert_string_equal(buf, "/home/u/.local/share/phenoscope/store.db");
    unsetenv("XDG_DATA_HOME");
    unsetenv("HOME");
    assert_int_equal(store_default_path(buf, sizeof buf, &err), PS_ERR_NOTFOUND);
    assert_non_null(strstr(err.msg, "--store"));
    setenv("PHENOSCOPE_STORE", "/a/very/long/path/that/does/not/fit.db", 1);
    char small[16];
    assert_int_equal(store_default_path(small, sizeof small, &err), PS_ERR_INVALID);
    for (int i = 0; i < 3; i++) {
        if (saved[i]) setenv(vars[i], saved[i], 1);
        else unsetenv(vars[i]);
        free(saved[i]);
    }
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
        cmocka_unit_test_setup_teardown(old_schema_migrated, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(failed_migration_leaves_store_as_it_was, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(foreign_sqlite_refused, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(empty_file, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(truncated_store_reported, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(corrupt_schema_page_reported, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(file_modes_under_umask_0, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(unwritable_location, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(busy_store, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(busy_during_migration, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(refused_commit_writes_nothing, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(bulk_readers, tmp_setup, tmp_teardown),
        cmocka_unit_test(default_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
