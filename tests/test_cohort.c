/* test_cohort.c — the cohort query returns one correct row per stay: radiograph counts within
 * the stay, the paired mark, labels folded into a mask, unknowns kept apart; the funnel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/cohort.h"
#include "store/store.h"

typedef struct {
    char dir[64], path[128];
    Store *st;
} Fx;

static void ok(Store *st, PsStatus rc)
{
    if (rc) fprintf(stderr, "store error: %s\n", store_errmsg(st));
    assert_int_equal(rc, PS_OK);
}

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ps_test_cohort.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    PsErr err;
    if (store_open(&f->st, f->path, STORE_OPEN_CREATE, &err) != PS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void put_cxr(Store *st, const char *dicom, int64_t subject, int64_t t, const char *view)
{
    StoreRadiograph r;
    memset(&r, 0, sizeof r);
    snprintf(r.dicom_id, sizeof r.dicom_id, "%s", dicom);
    r.subject_id = subject;
    r.study_id = subject * 10;
    r.study_time = t;
    snprintf(r.view, sizeof r.view, "%s", view);
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++) r.chexpert[k] = CHEX_MISSING;
    r.split = SPLIT_TRAIN;
    ok(st, store_put_radiograph(st, &r));
}

static void rows_carry_what_the_screen_shows(void **state)
{
    Fx *f = *state;
    Store *st = f->st;
    const int64_t day = 86400, t0 = 4102444800; /* 2100-01-01 */
    ok(st, store_begin(st));
    StorePatient p1 = {.subject_id = 10, .gender = 'F', .anchor_age = 70, .anchor_year = 2100};
    StorePatient p2 = {.subject_id = 20, .gender = 'M', .anchor_age = 40, .anchor_year = 2100};
    ok(st, store_put_patient(st, &p1));
    ok(st, store_put_patient(st, &p2));
    StoreStay a = {.stay_id = 300, .subject_id = 10, .hadm_id = 1, .intime = t0,
                   .outtime = t0 + 3 * day, .los_days = 3.0, .age = 71, .split = SPLIT_TRAIN};
    snprintf(a.first_careunit, sizeof a.first_careunit, "Medical Intensive Care Unit (MICU)");
    StoreStay b = {.stay_id = 200, .subject_id = 20, .hadm_id = 2, .intime = t0 + 10 * day,
                   .outtime = t0 + 11 * day, .los_days = 1.0, .age = 41, .split = SPLIT_TEST};
    ok(st, store_put_stay(st, &a));
    ok(st, store_put_stay(st, &b));
    uint8_t lab[CATALOG_N_PHENOTYPES] = {0};
    lab[0] = lab[3] = lab[24] = 1;
    ok(st, store_put_labels(st, 300, lab));
    /* Two films during stay 300 (one AP, paired), one before it, one of the other subject. */
    put_cxr(st, "d1", 10, t0 + day, "AP");
    put_cxr(st, "d2", 10, t0 + 2 * day, "LATERAL");
    put_cxr(st, "d0", 10, t0 - 5 * day, "AP");
    put_cxr(st, "d9", 20, t0 - day, "AP");
    ok(st, store_commit(st));
    ok(st, store_recompute_pairs(st));

    CohortRow *rows = NULL;
    size_t n = 0;
    ok(st, store_cohort_load(st, &rows, &n));
    assert_int_equal(n, 2);
    /* stay_id order */
    assert_int_equal(rows[0].stay_id, 200);
    assert_int_equal(rows[1].stay_id, 300);
    const CohortRow *r = &rows[1];
    assert_int_equal(r->subject_id, 10);
    assert_int_equal(r->age, 71);
    assert_int_equal(r->gender, 'F');
    assert_string_equal(r->unit, "Medical Intensive Care Unit (MICU)");
    assert_true(r->los_days > 2.99 && r->los_days < 3.01);
    assert_int_equal(r->n_cxr, 2);
    assert_int_equal(r->paired, 1);
    assert_int_equal(r->split, SPLIT_TRAIN);
    assert_int_equal(r->n_pos, 3);
    assert_int_equal(r->pheno_mask, (1u << 0) | (1u << 3) | (1u << 24));
    r = &rows[0];
    assert_int_equal(r->gender, 'M');
    assert_int_equal(r->n_cxr, 0); /* the film before the stay does not count */
    assert_int_equal(r->paired, 0);
    assert_int_equal(r->split, SPLIT_TEST);
    assert_int_equal(r->n_pos, -1); /* no labels is not "no positive labels" */
    free(rows);
}

static void empty_store_gives_no_rows(void **state)
{
    Fx *f = *state;
    CohortRow *rows = (CohortRow *)1;
    size_t n = 99;
    ok(f->st, store_cohort_load(f->st, &rows, &n));
    assert_null(rows);
    assert_int_equal(n, 0);
    CohortFunnelStep *steps = (CohortFunnelStep *)1;
    ok(f->st, store_cohort_funnel(f->st, &steps, &n));
    assert_null(steps);
    assert_int_equal(n, 0);
}

static void funnel_in_step_order(void **state)
{
    Fx *f = *state;
    Store *st = f->st;
    ok(st, store_begin(st));
    ok(st, store_put_funnel(st, "demo", 1, "adults", 900));
    ok(st, store_put_funnel(st, "demo", 0, "ICU stays", 1000));
    ok(st, store_put_funnel(st, "demo", 2, "with labels", 850));
    ok(st, store_commit(st));
    CohortFunnelStep *s = NULL;
    size_t n = 0;
    ok(st, store_cohort_funnel(st, &s, &n));
    assert_int_equal(n, 3);
    assert_string_equal(s[0].rule, "ICU stays");
    assert_int_equal(s[0].count, 1000);
    assert_string_equal(s[2].rule, "with labels");
    assert_int_equal(s[2].step, 2);
    assert_string_equal(s[1].source, "demo");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rows_carry_what_the_screen_shows, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_store_gives_no_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(funnel_in_step_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
