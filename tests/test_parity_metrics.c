/* test_parity_metrics.c — AUROC and average precision against scikit-learn
 * (tests/parity_metrics.py): random scores, heavily tied scores, a constant-score label and a
 * 25-label case, each label to 1e-12. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/metrics.h"
#include "fixture.h"

static Fixture F;

static int setup(void **state)
{
    (void)state;
    return fixture_load(&F, "metrics.bin");
}

static int teardown(void **state)
{
    (void)state;
    fixture_free(&F);
    return 0;
}

static void check_case(const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "%s.scores", name);
    const FixtureTensor *s = fixture_get(&F, key);
    snprintf(key, sizeof key, "%s.labels", name);
    const FixtureTensor *y = fixture_get(&F, key);
    snprintf(key, sizeof key, "%s.auroc", name);
    const FixtureTensor *auroc = fixture_get(&F, key);
    snprintf(key, sizeof key, "%s.auprc", name);
    const FixtureTensor *auprc = fixture_get(&F, key);
    assert_true(s && y && auroc && auprc);
    const size_t n = (size_t)s->dims[0];
    const int L = (int)s->dims[1];
    float *sf = malloc(s->numel * sizeof(float)), *yf = malloc(y->numel * sizeof(float));
    for (size_t i = 0; i < s->numel; i++) sf[i] = (float)s->data[i];
    for (size_t i = 0; i < y->numel; i++) yf[i] = (float)y->data[i];
    MetricsWork w;
    MetricsReport r;
    PsErr err;
    assert_int_equal(metrics_work_init(&w, n, L, 0, &err), PS_OK);
    assert_int_equal(metrics_report(&w, &r, sf, yf, n, L, NULL, 0, &err), PS_OK);
    double macro = 0;
    for (int l = 0; l < L; l++) {
        if (fabs(r.auroc[l] - auroc->data[l]) > 1e-12 || fabs(r.auprc[l] - auprc->data[l]) > 1e-12)
            fprintf(stderr, "%s label %d: auroc %.15g (sklearn %.15g) auprc %.15g (sklearn %.15g)\n",
                    name, l, r.auroc[l], auroc->data[l], r.auprc[l], auprc->data[l]);
        assert_float_equal(r.auroc[l], auroc->data[l], 1e-12);
        assert_float_equal(r.auprc[l], auprc->data[l], 1e-12);
        macro += auroc->data[l];
    }
    assert_float_equal(r.macro_auroc, macro / L, 1e-12);
    metrics_work_done(&w);
    free(sf);
    free(yf);
}

static void random_scores(void **state)
{
    (void)state;
    check_case("random");
}

static void tied_scores(void **state)
{
    (void)state;
    check_case("tied");
}

static void constant_scores(void **state)
{
    (void)state;
    check_case("constant");
}

static void phenotype_sized(void **state)
{
    (void)state;
    check_case("phenotypes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_scores),
        cmocka_unit_test(tied_scores),
        cmocka_unit_test(constant_scores),
        cmocka_unit_test(phenotype_sized),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
