/* test_normalizer.c — standardisation fitted on training rows: the rule (12 continuous columns,
 * never one-hot or mask columns), the benchmark's sample std with its floor, apply in place, and
 * the blob round trip with corrupt blobs rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "engine/discretize.h"
#include "engine/normalizer.h"

enum { HR = 8, CRR = 0 };

static void only_continuous_columns(void **state)
{
    (void)state;
    int n = 0;
    for (int j = 0; j < NORMALIZER_COLS; j++) {
        n += normalizer_standardizes(j);
        if (j >= DISCRETIZE_MASK_COL) assert_false(normalizer_standardizes(j));
    }
    assert_int_equal(n, 12);
    assert_true(normalizer_standardizes(catalog_input_offset(HR)));
    assert_false(normalizer_standardizes(catalog_input_offset(CRR)));
}

static void fit_and_apply(void **state)
{
    (void)state;
    /* two "stays" of 3 and 2 rows; HR column takes 60..100, CRR one-hot alternates */
    float a[3 * NORMALIZER_COLS] = {0}, b[2 * NORMALIZER_COLS] = {0};
    const float hr[5] = {60, 70, 80, 90, 100};
    const int h = catalog_input_offset(HR);
    for (int t = 0; t < 3; t++) {
        a[t * NORMALIZER_COLS + h] = hr[t];
        a[t * NORMALIZER_COLS + (t % 2)] = 1;
        a[t * NORMALIZER_COLS + DISCRETIZE_MASK_COL + HR] = 1;
    }
    for (int t = 0; t < 2; t++) {
        b[t * NORMALIZER_COLS + h] = hr[3 + t];
        b[t * NORMALIZER_COLS + 1] = 1;
    }
    NormalizerAcc acc;
    normalizer_acc_init(&acc);
    normalizer_acc_add(&acc, a, 3);
    normalizer_acc_add(&acc, b, 2);
    Normalizer nz;
    PsErr err;
    assert_int_equal(normalizer_fit(&nz, &acc, &err), PS_OK);
    assert_float_equal(nz.mean[h], 80, 1e-5);
    assert_float_equal(nz.std[h], sqrt(1000.0 / 4), 1e-4); /* sample std, N - 1 */
    /* a constant column gets the floor instead of a division by zero */
    assert_float_equal(nz.std[catalog_input_offset(9)], 1e-7f, 0);
    /* masks are fitted (for reference) but not applied */
    assert_float_equal(nz.mean[DISCRETIZE_MASK_COL + HR], 0.6, 1e-6);
    float keep[3 * NORMALIZER_COLS];
    memcpy(keep, a, sizeof a);
    normalizer_apply(&nz, a, 3);
    for (int t = 0; t < 3; t++)
        for (int j = 0; j < NORMALIZER_COLS; j++) {
            float want = nz.apply[j] ? (keep[t * NORMALIZER_COLS + j] - nz.mean[j]) / nz.std[j]
                                     : keep[t * NORMALIZER_COLS + j];
            assert_float_equal(a[t * NORMALIZER_COLS + j], want, 1e-6 * (1 + fabsf(want)));
        }
    assert_float_equal(a[h], (60 - 80) / sqrt(250.0), 1e-5);
    NormalizerAcc one;
    normalizer_acc_init(&one);
    normalizer_acc_add(&one, b, 1);
    assert_int_equal(normalizer_fit(&nz, &one, &err), PS_ERR_INVALID);
}

static void blob_round_trip(void **state)
{
    (void)state;
    Normalizer nz, back;
    for (int j = 0; j < NORMALIZER_COLS; j++) {
        nz.mean[j] = 0.5f * j;
        nz.std[j] = 1.0f + j;
        nz.apply[j] = (uint8_t)normalizer_standardizes(j);
    }
    float blob[NORMALIZER_BLOB_FLOATS];
    normalizer_to_blob(&nz, blob);
    PsErr err;
    assert_int_equal(normalizer_from_blob(&back, blob, NORMALIZER_BLOB_FLOATS, &err), PS_OK);
    assert_memory_equal(&nz, &back, sizeof nz);
    assert_int_equal(normalizer_from_blob(&back, blob, NORMALIZER_BLOB_FLOATS - 1, &err),
                     PS_ERR_PARSE);
    blob[0] = 2;
    assert_int_equal(normalizer_from_blob(&back, blob, NORMALIZER_BLOB_FLOATS, &err), PS_ERR_PARSE);
    assert_non_null(strstr(err.msg, "version 2"));
    blob[0] = 1;
    blob[2 + NORMALIZER_COLS + catalog_input_offset(HR)] = 0; /* std 0 on an applied column */
    assert_int_equal(normalizer_from_blob(&back, blob, NORMALIZER_BLOB_FLOATS, &err), PS_ERR_PARSE);
    assert_non_null(strstr(err.msg, "column 50"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_continuous_columns),
        cmocka_unit_test(fit_and_apply),
        cmocka_unit_test(blob_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
