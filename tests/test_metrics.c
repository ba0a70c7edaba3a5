/* test_metrics.c — AUROC with ties (vs hand values and an O(n²) pair-counting twin), average
 * precision as scikit-learn defines it, skipped single-class labels, excluded uncertain labels,
 * group macros, and bootstrap intervals (deterministic, weighted sweep = explicit resample).
 * Agreement with scikit-learn itself: test_parity_metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/metrics.h"
#include "store/catalog.h"

static MetricsWork W;

static int setup(void **state)
{
    (void)state;
    PsErr err;
    return metrics_work_init(&W, 2000, CATALOG_N_PHENOTYPES, 200, &err) == PS_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    metrics_work_done(&W);
    return 0;
}

static void simple_cases(void **state)
{
    (void)state;
    const double s[4] = {0.1, 0.4, 0.35, 0.8};
    const uint8_t y[4] = {0, 0, 1, 1};
    /* sklearn's documented example: roc_auc 0.75, average precision 0.8333 */
    assert_float_equal(metrics_auroc(&W, s, y, 4), 0.75, 1e-15);
    assert_float_equal(metrics_auprc(&W, s, y, 4), 5.0 / 6.0, 1e-15);
    const uint8_t perfect[4] = {0, 1, 0, 1}, reversed[4] = {1, 0, 1, 0};
    assert_float_equal(metrics_auroc(&W, s, perfect, 4), 1.0, 0);
    assert_float_equal(metrics_auroc(&W, s, reversed, 4), 0.0, 0);
    assert_float_equal(metrics_auprc(&W, s, perfect, 4), 1.0, 0);
    const double tied[4] = {0.5, 0.5, 0.5, 0.5};
    assert_float_equal(metrics_auroc(&W, tied, y, 4), 0.5, 0);
    assert_float_equal(metrics_auprc(&W, tied, y, 4), 0.5, 0); /* the prevalence */
    assert_true(isnan(metrics_auroc(&W, s, (const uint8_t[4]){1, 1, 1, 1}, 4)));
}

static void ties_count_half(void **state)
{
    (void)state;
    const double s[4] = {0.5, 0.5, 0.5, 0.2};
    const uint8_t y[4] = {1, 0, 1, 0};
    /* pairs (pos, neg): two ties at 0.5 count 1/2, two wins over 0.2 count 1 */
    assert_float_equal(metrics_auroc(&W, s, y, 4), 0.75, 1e-15);
    /* one threshold at 0.5 catches both positives and one negative: P = 2/3 at R = 1 */
    assert_float_equal(metrics_auprc(&W, s, y, 4), 2.0 / 3.0, 1e-15);
}

static void matches_pair_counting_on_random_tied_scores(void **state)
{
    (void)state;
    Rng rng;
    rng_seed(&rng, 17);
    enum { n = 1500 };
    static double s[n];
    static uint8_t y[n];
    for (int rep = 0; rep < 5; rep++) {
        for (int i = 0; i < n; i++) {
            y[i] = (uint8_t)rng_bernoulli(&rng, 0.2 + 0.1 * rep);
            /* few distinct values: many ties, some between classes */
            s[i] = floor((rng_uniform(&rng) + 0.3 * y[i]) * 8) / 8;
        }
        assert_float_equal(metrics_auroc(&W, s, y, n), metrics_auroc_ref(s, y, n), 1e-12);
    }
}

static void report_skips_single_class_and_uncertain(void **state)
{
    (void)state;
    enum { n = 6, L = 3 };
    const float scores[n * L] = {0.9f, 0.1f, 0.5f, 0.8f, 0.2f, 0.6f, 0.3f, 0.3f, 0.1f,
                                 0.2f, 0.4f, 0.9f, 0.7f, 0.5f, 0.2f, 0.1f, 0.6f, 0.8f};
    /* label 0: mixed; label 1: all negative (skipped); label 2: -1 (uncertain) and NaN rows */
    const float labels[n * L] = {1, 0, 1, 1, 0, -1, 0, 0, 0, 0, 0, NAN, 1, 0, 0, 0, 0, 1};
    MetricsReport r;
    PsErr err;
    assert_int_equal(metrics_report(&W, &r, scores, labels, n, L, NULL, 0, &err), PS_OK);
    assert_int_equal(r.n_skipped, 1);
    assert_int_equal(r.skipped[1], 1);
    assert_true(isnan(r.auroc[1]));
    assert_int_equal(r.n_pos[2] + r.n_neg[2], 4); /* rows with -1 and NaN labels left out */
    double s0[6] = {0.9, 0.8, 0.3, 0.2, 0.7, 0.1};
    uint8_t y0[6] = {1, 1, 0, 0, 1, 0};
    double a0 = metrics_auroc_ref(s0, y0, 6);
    double s2[4] = {0.5, 0.1, 0.2, 0.8};
    uint8_t y2[4] = {1, 0, 0, 1};
    double a2 = metrics_auroc_ref(s2, y2, 4);
    assert_float_equal(r.auroc[0], a0, 1e-15);
    assert_float_equal(r.auroc[2], a2, 1e-15);
    assert_float_equal(r.macro_auroc, (a0 + a2) / 2, 1e-15);
    float bad[n * L];
    memcpy(bad, scores, sizeof bad);
    bad[4] = NAN;
    assert_int_equal(metrics_report(&W, &r, bad, labels, n, L, NULL, 0, &err), PS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "row 1, label 1"));
}

static void group_macros_follow_catalog(void **state)
{
    (void)state;
    enum { n = 300, L = CATALOG_N_PHENOTYPES };
    static float scores[n * L], labels[n * L];
    Rng rng;
    rng_seed(&rng, 23);
    for (int i = 0; i < n * L; i++) {
        labels[i] = (float)rng_bernoulli(&rng, 0.3);
        scores[i] = (float)(rng_uniform(&rng) + 0.2 * labels[i] * ((i % L) % 4));
    }
    int group[L];
    metrics_phenotype_groups(group);
    MetricsReport r;
    PsErr err;
    assert_int_equal(metrics_report(&W, &r, scores, labels, n, L, group, 3, &err), PS_OK);
    double sum[3] = {0};
    int cnt[3] = {0};
    for (int l = 0; l < L; l++) {
        sum[catalog_phenotypes[l].group] += r.auroc[l];
        cnt[catalog_phenotypes[l].group]++;
    }
    assert_int_equal(cnt[PHENO_ACUTE], 13);
    for (int g = 0; g < 3; g++) assert_float_equal(r.group_auroc[g], sum[g] / cnt[g], 1e-12);
    assert_int_equal(r.n_skipped, 0);
}

static void bootstrap_is_deterministic_and_brackets(void **state)
{
    (void)state;
    enum { n = 400, L = 2 };
    static float scores[n * L], labels[n * L];
    Rng rng;
    rng_seed(&rng, 29);
    for (int i = 0; i < n * L; i++) {
        labels[i] = (float)rng_bernoulli(&rng, 0.4);
        scores[i] = (float)(rng_uniform(&rng) + 0.5 * labels[i]);
    }
    MetricsReport r;
    PsErr err;
    assert_int_equal(metrics_report(&W, &r, scores, labels, n, L, NULL, 0, &err), PS_OK);
    double lo, hi, lo2, hi2;
    int used;
    rng_seed(&rng, 1);
    assert_int_equal(metrics_bootstrap(&W, &lo, &hi, &used, scores, labels, n, L, NULL, 0,
                                       METRICS_MACRO_AUROC, 0, 200, &rng, &err), PS_OK);
    assert_int_equal(used, 200);
    assert_true(lo < r.macro_auroc && r.macro_auroc < hi);
    assert_true(hi - lo > 0.01 && hi - lo < 0.2);
    rng_seed(&rng, 1);
    assert_int_equal(metrics_bootstrap(&W, &lo2, &hi2, &used, scores, labels, n, L, NULL, 0,
                                       METRICS_MACRO_AUROC, 0, 200, &rng, &err), PS_OK);
    assert_float_equal(lo, lo2, 0);
    assert_float_equal(hi, hi2, 0);
}

static void bootstrap_weights_equal_explicit_resample(void **state)
{
    (void)state;
    enum { n = 50 };
    float scores[n], labels[n];
    Rng rng;
    rng_seed(&rng, 31);
    for (int i = 0; i < n; i++) {
        labels[i] = (float)rng_bernoulli(&rng, 0.5);
        scores[i] = (float)(floor(rng_uniform(&rng) * 5) / 5); /* ties */
    }
    /* one resample: the interval collapses onto that resample's statistic */
    double lo, hi;
    int used;
    PsErr err;
    rng_seed(&rng, 77);
    assert_int_equal(metrics_bootstrap(&W, &lo, &hi, &used, scores, labels, n, 1, NULL, 0,
                                       METRICS_LABEL_AUROC, 0, 1, &rng, &err), PS_OK);
    assert_int_equal(used, 1);
    double s[n];
    uint8_t y[n];
    rng_seed(&rng, 77);
    for (int i = 0; i < n; i++) {
        uint64_t k = rng_below(&rng, n);
        s[i] = scores[k];
        y[i] = (uint8_t)labels[k];
    }
    assert_float_equal(lo, metrics_auroc_ref(s, y, n), 1e-12);
    assert_float_equal(hi, lo, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_cases),
        cmocka_unit_test(ties_count_half),
        cmocka_unit_test(matches_pair_counting_on_random_tied_scores),
        cmocka_unit_test(report_skips_single_class_and_uncertain),
        cmocka_unit_test(group_macros_follow_catalog),
        cmocka_unit_test(bootstrap_is_deterministic_and_brackets),
        cmocka_unit_test(bootstrap_weights_equal_explicit_resample),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
