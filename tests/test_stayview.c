/* test_stayview.c — one stay for the Stay and Radiograph screens: series split by channel in
 * time order, diagnoses with titles (and without), labels and pair, and the pairing rule's
 * reason for every radiograph of the subject (paired, earlier AP, not AP, before, after). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/stayview.h"

typedef struct {
    char dir[256], path[512];
    Store *st;
} Fx;

#define T0 6000000000LL /* intime of the test stay */
#define H 3600LL

static void ok(Store *st, PsStatus rc)
{
    if (rc) fprintf(stderr, "store error: %s\n", store_errmsg(st));
    assert_int_equal(rc, PS_OK);
}

static void put_cxr(Store *st, const char *dicom, int64_t subject, int64_t t, const char *view, int cardio)
{
    StoreRadiograph r = {.subject_id = subject, .study_id = t / 7, .study_time = t};
    snprintf(r.dicom_id, sizeof r.dicom_id, "%s", dicom);
    snprintf(r.view, sizeof r.view, "%s", view);
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++) r.chexpert[k] = CHEX_MISSING;
    r.chexpert[2] = (int8_t)cardio;
    r.chexpert[5] = CHEX_UNCERTAIN;
    ok(st, store_put_radiograph(st, &r));
}

/* Subject 7, stay 100 from T0 to T0+48h: events on three channels, two diagnoses (one with a
 * title), labels, and six radiographs around and inside the stay. Subject 8 has one AP inside
 * stay 100's window that must not show. */
static int setup(void **state)
{
    Fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ps_test_stayview.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/s.db", f->dir);
    PsErr err;
    if (store_open(&f->st, f->path, STORE_OPEN_CREATE, &err) != PS_OK) return -1;
    Store *st = f->st;
    ok(st, store_begin(st));
    for (int64_t subj = 7; subj <= 8; subj++) {
        StorePatient p = {.subject_id = subj, .gender = subj == 7 ? 'F' : 'M', .anchor_age = 70};
        ok(st, store_put_patient(st, &p));
        StoreStay s = {.stay_id = 93 + subj, .subject_id = subj, .hadm_id = 500 + subj, .intime = T0,
                       .outtime = T0 + 48 * H, .admittime = T0 - H, .dischtime = T0 + 96 * H,
                       .los_days = 2.0, .age = 70, .split = SPLIT_TRAIN};
        snprintf(s.first_careunit, sizeof s.first_careunit, "MICU");
        snprintf(s.last_careunit, sizeof s.last_careunit, "MICU");
        ok(st, store_put_stay(st, &s));
    }
    /* stay 100 = subject 7 */
    const struct {
        float h;
        int ch;
        float v;
    } ev[] = {{-1.5f, 8, 120}, {0.5f, 8, 110}, {0.5f, 13, 140}, {2.0f, 5, 9}, {3.0f, 8, 95},
              {10.0f, 13, 120}, {47.0f, 8, 80}};
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
        StoreEvent e = {.stay_id = 100, .hours = ev[i].h, .channel = ev[i].ch, .value = ev[i].v};
        if (ev[i].ch == 5) e.text = "9";
        ok(st, store_put_event(st, &e));
    }
    StoreEvent other = {.stay_id = 101, .hours = 1, .channel = 8, .value = 60};
    ok(st, store_put_event(st, &other));
    StoreDiagnosis d1 = {.subject_id = 7, .hadm_id = 507, .seq_num = 2, .icd_code = "I10", .icd_version = 10};
    StoreDiagnosis d2 = {.subject_id = 7, .hadm_id = 507, .seq_num = 1, .icd_code = "0389", .icd_version = 9};
    StoreDiagnosis d3 = {.subject_id = 8, .hadm_id = 508, .seq_num = 1, .icd_code = "I10", .icd_version = 10};
    ok(st, store_put_diagnosis(st, &d1));
    ok(st, store_put_diagnosis(st, &d2));
    ok(st, store_put_diagnosis(st, &d3));
    ok(st, store_put_icd_title(st, "0389", 9, "Unspecified septicemia"));
    uint8_t lab[CATALOG_N_PHENOTYPES] = {0};
    lab[0] = lab[24] = 1;
    ok(st, store_put_labels(st, 100, lab));
    put_cxr(st, "a-before", 7, T0 - 30 * H, "AP", CHEX_POSITIVE);
    put_cxr(st, "b-early-ap", 7, T0 + 5 * H, "AP", CHEX_NEGATIVE);
    put_cxr(st, "c-pa", 7, T0 + 20 * H, "PA", CHEX_POSITIVE);
    put_cxr(st, "d-late-ap", 7, T0 + 30 * H, "AP", CHEX_POSITIVE);
    put_cxr(st, "e-lateral", 7, T0 + 31 * H, "LATERAL", CHEX_POSITIVE);
    put_cxr(st, "f-after", 7, T0 + 60 * H, "AP", CHEX_POSITIVE);
    put_cxr(st, "z-other", 8, T0 + 40 * H, "AP", CHEX_POSITIVE);
    ok(st, store_commit(st));
    ok(st, store_recompute_pairs(st));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    store_close(f->st);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static void series_by_channel_in_time_order(void **state)
{
    Fx *f = *state;
    StayviewStay s;
    ok(f->st, stayview_stay_load(f->st, 100, &s));
    assert_int_equal(s.stay.subject_id, 7);
    assert_int_equal(s.gender, 'F');
    assert_int_equal(s.n_events, 7); /* stay 101's event is not here */
    assert_int_equal(s.series[8].n, 4);
    const float hr_h[] = {-1.5f, 0.5f, 3.0f, 47.0f}, hr_v[] = {120, 110, 95, 80};
    for (int i = 0; i < 4; i++) {
        assert_true(s.series[8].hours[i] == hr_h[i]);
        assert_true(s.series[8].value[i] == hr_v[i]);
    }
    assert_int_equal(s.series[13].n, 2);
    assert_true(s.series[13].value[1] == 120);
    assert_int_equal(s.series[5].n, 1);
    assert_true(s.series[5].value[0] == 9);
    assert_int_equal(s.series[0].n, 0);
    assert_true(s.first_hour == -1.5f && s.last_hour == 47.0f);
    stayview_stay_free(&s);
}

static void diagnoses_with_titles_in_sequence(void **state)
{
    Fx *f = *state;
    StayviewStay s;
    ok(f->st, stayview_stay_load(f->st, 100, &s));
    assert_int_equal(s.n_dx, 2);
    assert_string_equal(s.dx[0].icd_code, "0389");
    assert_int_equal(s.dx[0].icd_version, 9);
    assert_string_equal(s.dx[0].title, "Unspecified septicemia");
    assert_string_equal(s.dx[1].icd_code, "I10");
    assert_string_equal(s.dx[1].title, ""); /* no title in the store: empty, not an error */
    stayview_stay_free(&s);
}

static void labels_pair_and_counts(void **state)
{
    Fx *f = *state;
    StayviewStay s;
    ok(f->st, stayview_stay_load(f->st, 100, &s));
    assert_true(s.has_labels);
    assert_int_equal(s.labels[0], 1);
    assert_int_equal(s.labels[1], 0);
    assert_int_equal(s.labels[24], 1);
    assert_true(s.has_pair);
    assert_string_equal(s.pair_dicom, "d-late-ap");
    assert_int_equal(s.n_cxr_in_stay, 4);
    stayview_stay_free(&s);
    /* stay 101 (subject 8): no labels, paired with its own AP */
    ok(f->st, stayview_stay_load(f->st, 101, &s));
    assert_false(s.has_labels);
    assert_true(s.has_pair);
    assert_string_equal(s.pair_dicom, "z-other");
    stayview_stay_free(&s);
}

static void missing_stay_is_notfound(void **state)
{
    Fx *f = *state;
    StayviewStay s;
    assert_int_equal(stayview_stay_load(f->st, 999, &s), PS_ERR_NOTFOUND);
    assert_non_null(strstr(store_errmsg(f->st), "999"));
    StayviewRadiograph *r = (void *)1;
    size_t n = 5;
    assert_int_equal(stayview_radiographs(f->st, 999, &r, &n), PS_ERR_NOTFOUND);
    assert_null(r);
    assert_int_equal(n, 0);
}

static void every_radiograph_has_its_reason(void **state)
{
    Fx *f = *state;
    StayviewRadiograph *r;
    size_t n;
    ok(f->st, stayview_radiographs(f->st, 100, &r, &n));
    assert_int_equal(n, 6); /* subject 7 only, in time order */
    const char *ids[] = {"a-before", "b-early-ap", "c-pa", "d-late-ap", "e-lateral", "f-after"};
    const StayviewReason want[] = {STAYVIEW_BEFORE, STAYVIEW_EARLIER_AP, STAYVIEW_NOT_AP,
                                   STAYVIEW_PAIRED, STAYVIEW_NOT_AP, STAYVIEW_AFTER};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r[i].dicom_id, ids[i]);
        assert_int_equal(r[i].reason, want[i]);
        assert_false(r[i].has_image);
    }
    assert_true(fabsf(r[0].hours - -30.0f) < 1e-3f);
    assert_true(fabsf(r[3].hours - 30.0f) < 1e-3f);
    assert_int_equal(r[3].chexpert[2], CHEX_POSITIVE);
    assert_int_equal(r[1].chexpert[2], CHEX_NEGATIVE);
    assert_int_equal(r[1].chexpert[5], CHEX_UNCERTAIN);
    assert_int_equal(r[1].chexpert[0], CHEX_MISSING);
    char buf[80];
    assert_string_equal(stayview_reason_text(buf, sizeof buf, r[2].reason, r[2].view), "not AP (PA)");
    assert_string_equal(stayview_reason_text(buf, sizeof buf, r[4].reason, r[4].view), "not AP (LATERAL)");
    assert_string_equal(stayview_reason_text(buf, sizeof buf, r[3].reason, r[3].view),
                        "paired: latest AP within the stay");
    assert_string_equal(stayview_reason_text(buf, sizeof buf, r[0].reason, r[0].view), "before the stay");
    assert_string_equal(stayview_reason_text(buf, sizeof buf, r[5].reason, r[5].view), "after the stay");
    assert_string_equal(stayview_reason_text(buf, sizeof buf, r[1].reason, r[1].view), "earlier AP in the stay");
    free(r);
}

/* When the pairs table was not recomputed after a new radiograph arrived, the screen says so
 * instead of calling the newcomer "earlier". */
static void stale_pairs_are_named(void **state)
{
    Fx *f = *state;
    ok(f->st, store_begin(f->st));
    put_cxr(f->st, "g-newest-ap", 7, T0 + 40 * H, "AP", CHEX_NEGATIVE);
    ok(f->st, store_commit(f->st));
    StayviewRadiograph *r;
    size_t n;
    ok(f->st, stayview_radiographs(f->st, 100, &r, &n));
    assert_int_equal(n, 7);
    assert_string_equal(r[3].dicom_id, "d-late-ap");
    assert_int_equal(r[3].reason, STAYVIEW_PAIRED);
    assert_string_equal(r[5].dicom_id, "g-newest-ap");
    assert_int_equal(r[5].reason, STAYVIEW_AP_UNPAIRED);
    free(r);
    ok(f->st, store_recompute_pairs(f->st));
    ok(f->st, stayview_radiographs(f->st, 100, &r, &n));
    assert_int_equal(r[3].reason, STAYVIEW_EARLIER_AP);
    assert_int_equal(r[5].reason, STAYVIEW_PAIRED);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(series_by_channel_in_time_order, setup, teardown),
        cmocka_unit_test_setup_teardown(diagnoses_with_titles_in_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(labels_pair_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_stay_is_notfound, setup, teardown),
        cmocka_unit_test_setup_teardown(every_radiograph_has_its_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_pairs_are_named, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
