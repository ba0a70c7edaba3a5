/* test_discretize.c — formats.md §5 on a hand-made stay: bin boundaries (hour 0 and hour 2.0 in
 * bin 0 at 2 h), last value wins, previous-value and normal-value imputation, one-hot blocks,
 * masks, T from the stay length, events before admission / after the end / beyond max_bins,
 * unknown categories; the 1 h setting; column names as the benchmark's header (and, when
 * ../shared/reference is beside the checkout, as normalizer_ph_ts1.0.json lists them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/discretize.h"

enum { CRR = 0, EYE = 3, MOTOR = 4, HR = 8, TEMP = 14 };

static const StoreEvent EV[] = {
    {1, -1.0f, HR, 50, NULL},            /* before admission: dropped */
    {1, 0.0f, HR, 80, NULL},             /* bin 0 */
    {1, 1.5f, HR, 90, NULL},             /* bin 0 again: replaces 80 */
    {1, 2.0f, CRR, 1, NULL},             /* hour 2.0 is still bin 0; no text: score 1 -> "1.0" */
    {1, 3.0f, EYE, 3, "3 To speech"},    /* bin 1 */
    {1, 4.0f, TEMP, 37.5f, NULL},        /* bin 1 */
    {1, 4.5f, MOTOR, 0, "Blah"},         /* unknown category */
    {1, 5.0f, HR, 100, NULL},            /* bin 2 */
    {1, 9.0f, HR, 120, NULL},            /* after the end (7 h) */
};
#define NEV (sizeof EV / sizeof *EV)

static float at(const float *x, int t, int col)
{
    return x[t * DISCRETIZE_COLS + col];
}

static int col_of(int ch)
{
    return catalog_input_offset(ch);
}

static void two_hour_bins(void **state)
{
    (void)state;
    float x[8 * DISCRETIZE_COLS];
    DiscretizeStats st;
    PsErr err;
    DiscretizeConfig cfg = {.bin_hours = 2.0, .max_bins = 8};
    assert_int_equal(discretize_stay(x, &st, EV, NEV, 7.0, &cfg, &err), PS_OK);
    assert_int_equal(st.bins, 4); /* ceil(7 / 2) */
    assert_int_equal(st.before_start, 1);
    assert_int_equal(st.after_end, 1);
    assert_int_equal(st.unknown, 1);
    assert_int_equal(st.overwritten, 1);
    assert_int_equal(st.used, 5);
    const int M = DISCRETIZE_MASK_COL;
    /* heart rate: last value of bin 0, carried into bin 1, new in bin 2, carried into 3 */
    const float hr[4] = {90, 90, 100, 100}, hr_mask[4] = {1, 0, 1, 0};
    for (int t = 0; t < 4; t++) {
        assert_float_equal(at(x, t, col_of(HR)), hr[t], 0);
        assert_float_equal(at(x, t, M + HR), hr_mask[t], 0);
    }
    /* capillary refill "1.0" one-hot in bin 0, carried on */
    for (int t = 0; t < 4; t++) {
        assert_float_equal(at(x, t, col_of(CRR)), 0, 0);
        assert_float_equal(at(x, t, col_of(CRR) + 1), 1, 0);
    }
    /* GCS eye: normal "4 Spontaneously" (position 3) before its first measurement, then
     * "3 To speech" (position 1) */
    assert_float_equal(at(x, 0, col_of(EYE) + 3), 1, 0);
    assert_float_equal(at(x, 0, M + EYE), 0, 0);
    for (int t = 1; t < 4; t++) {
        assert_float_equal(at(x, t, col_of(EYE) + 1), 1, 0);
        assert_float_equal(at(x, t, col_of(EYE) + 3), 0, 0);
    }
    /* temperature: normal 36.6 until measured in bin 1 */
    assert_float_equal(at(x, 0, col_of(TEMP)), 36.6f, 0);
    assert_float_equal(at(x, 1, col_of(TEMP)), 37.5f, 0);
    assert_float_equal(at(x, 3, col_of(TEMP)), 37.5f, 0);
    /* GCS motor never measured (its one event was unknown): normal, mask 0 */
    assert_float_equal(at(x, 2, col_of(MOTOR) + 9), 1, 0); /* "6 Obeys Commands" */
    assert_float_equal(at(x, 2, M + MOTOR), 0, 0);
    /* every categorical block is one-hot in every row; masks are 0/1 */
    for (int t = 0; t < 4; t++)
        for (int ch = 0; ch < CATALOG_N_CHANNELS; ch++) {
            if (!catalog_channels[ch].categorical) continue;
            float s = 0;
            for (int k = 0; k < catalog_input_width(ch); k++) s += at(x, t, col_of(ch) + k);
            assert_float_equal(s, 1, 0);
        }
}

static void one_hour_bins_and_limits(void **state)
{
    (void)state;
    float x[16 * DISCRETIZE_COLS];
    DiscretizeStats st;
    PsErr err;
    DiscretizeConfig cfg = {.bin_hours = 1.0, .max_bins = 16};
    assert_int_equal(discretize_stay(x, &st, EV, NEV, 7.0, &cfg, &err), PS_OK);
    assert_int_equal(st.bins, 7);
    assert_float_equal(at(x, 0, col_of(HR)), 80, 0); /* 80 and 90 now in different bins */
    assert_float_equal(at(x, 1, col_of(HR)), 90, 0);
    assert_float_equal(at(x, 1, DISCRETIZE_MASK_COL + CRR), 1, 0); /* hour 2.0 -> bin 1 */
    assert_float_equal(at(x, 4, col_of(HR)), 100, 0);              /* hour 5.0 -> bin 4 */
    /* no end given: up to the last event (9 h -> 9 bins); max_bins cuts and counts */
    cfg.max_bins = 3;
    assert_int_equal(discretize_stay(x, &st, EV, NEV, 0, &cfg, &err), PS_OK);
    assert_int_equal(st.bins, 3);
    assert_int_equal(st.truncated, 4); /* temp 4.0, motor 4.5 (binned before its category is
                                        * checked), hr 5.0, hr 9.0 */
    /* an empty stay is one bin of normal values */
    cfg.max_bins = 16;
    assert_int_equal(discretize_stay(x, &st, NULL, 0, 0, &cfg, &err), PS_OK);
    assert_int_equal(st.bins, 1);
    assert_float_equal(at(x, 0, col_of(HR)), 86, 0);
    assert_float_equal(at(x, 0, DISCRETIZE_MASK_COL + HR), 0, 0);
    cfg.bin_hours = 0;
    assert_int_equal(discretize_stay(x, &st, EV, NEV, 7.0, &cfg, &err), PS_ERR_INVALID);
}

static void bins_follow_the_benchmark_formula(void **state)
{
    (void)state;
    assert_int_equal(discretize_bins(48.0, 2.0), 24);
    assert_int_equal(discretize_bins(47.0, 2.0), 24);
    assert_int_equal(discretize_bins(48.01, 2.0), 25);
    assert_int_equal(discretize_bins(52.25, 1.0), 53);
    assert_int_equal(discretize_bins(0.0, 2.0), 1);
}

static void column_names(void **state)
{
    (void)state;
    char b[128];
    discretize_column_name(0, b, sizeof b);
    assert_string_equal(b, "Capillary refill rate->0.0");
    discretize_column_name(2, b, sizeof b);
    assert_string_equal(b, "Diastolic blood pressure");
    discretize_column_name(58, b, sizeof b);
    assert_string_equal(b, "pH");
    discretize_column_name(59, b, sizeof b);
    assert_string_equal(b, "mask->Capillary refill rate");
    discretize_column_name(75, b, sizeof b);
    assert_string_equal(b, "mask->pH");
}

/* The reference normalizer lists the 76 features in the benchmark's column order. */
static void column_names_match_reference(void **state)
{
    (void)state;
    FILE *f = fopen("../shared/reference/normalizer_ph_ts1.0.json", "r");
    if (!f) skip();
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strstr(buf, "\"features\"");
    assert_non_null(p);
    p = strchr(p, '[');
    for (int col = 0; col < DISCRETIZE_COLS; col++) {
        char *q = strchr(p, '"');
        assert_non_null(q);
        char *e = strchr(q + 1, '"');
        *e = 0;
        char want[128];
        discretize_column_name(col, want, sizeof want);
        /* the reference spells mask columns as the benchmark's header does */
        assert_string_equal(q + 1, want);
        p = e + 1;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_hour_bins),
        cmocka_unit_test(one_hour_bins_and_limits),
        cmocka_unit_test(bins_follow_the_benchmark_formula),
        cmocka_unit_test(column_names),
        cmocka_unit_test(column_names_match_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
