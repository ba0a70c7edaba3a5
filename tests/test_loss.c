/* test_loss.c — sigmoid and BCE-with-logits: closed-form values, no overflow at extreme logits,
 * gradient by finite differences, the mask for missing labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "engine/loss.h"
#include "store/rng.h"
#include "gradcheck.h"

static void values_match_closed_form(void **state)
{
    (void)state;
    float z[4] = {0.0f, 2.0f, -1.5f, 0.3f}, y[4] = {1, 0, 1, 0.25f};
    double want = 0;
    for (int i = 0; i < 4; i++) {
        double p = 1 / (1 + exp(-(double)z[i]));
        want += -(y[i] * log(p) + (1 - y[i]) * log(1 - p));
    }
    assert_float_equal(loss_bce_logits(z, y, NULL, 4), want / 4, 1e-12);
    float p[4];
    loss_sigmoid(p, z, 4);
    assert_float_equal(p[0], 0.5, 1e-7);
    assert_float_equal(p[1], 1 / (1 + exp(-2.0)), 1e-7);
}

static void extreme_logits_stay_finite(void **state)
{
    (void)state;
    float z[4] = {100.0f, -100.0f, 100.0f, -100.0f}, y[4] = {0, 1, 1, 0};
    /* wrong with confidence 100: loss 100 each; right: ~0 */
    assert_float_equal(loss_bce_logits(z, y, NULL, 2), 100.0, 1e-9);
    assert_float_equal(loss_bce_logits(z + 2, y + 2, NULL, 2), 0.0, 1e-40 + 1e-43);
    float p[4], dz[4];
    loss_sigmoid(p, z, 4);
    assert_float_equal(p[0], 1.0, 0);
    assert_false(isnan(p[1]));
    assert_true(p[1] >= 0 && p[1] < 1e-40);
    loss_bce_logits_backward(dz, z, y, NULL, 4);
    assert_float_equal(dz[0], 0.25, 1e-7);
    assert_float_equal(dz[1], -0.25, 1e-7);
}

typedef struct {
    float z[12], y[12], m[12];
    const float *mask;
} Ctx;

static double loss_fn(void *p)
{
    Ctx *c = p;
    return loss_bce_logits(c->z, c->y, c->mask, 12);
}

static void gradient_matches_finite_differences(void **state)
{
    (void)state;
    Ctx c;
    Rng rng;
    rng_seed(&rng, 5);
    for (int i = 0; i < 12; i++) {
        c.z[i] = (float)(3 * rng_normal(&rng));
        c.y[i] = (float)rng_bernoulli(&rng, 0.5);
        c.m[i] = (float)(i % 3 != 0);
    }
    float dz[12];
    c.mask = NULL;
    loss_bce_logits_backward(dz, c.z, c.y, NULL, 12);
    assert_true(gradcheck("bce", c.z, dz, 12, 12, loss_fn, &c, 1e-3, 1e-6, 1e-3));
    c.mask = c.m;
    loss_bce_logits_backward(dz, c.z, c.y, c.m, 12);
    assert_true(gradcheck("bce masked", c.z, dz, 12, 12, loss_fn, &c, 1e-3, 1e-6, 1e-3));
    for (int i = 0; i < 12; i += 3) assert_float_equal(dz[i], 0, 0);
}

static void mask_averages_over_selected(void **state)
{
    (void)state;
    float z[3] = {1.0f, -2.0f, 50.0f}, y[3] = {1, 0, 0}, m[3] = {1, 1, 0};
    assert_float_equal(loss_bce_logits(z, y, m, 3), loss_bce_logits(z, y, NULL, 2), 1e-12);
    float none[3] = {0, 0, 0}, dz[3];
    assert_float_equal(loss_bce_logits(z, y, none, 3), 0, 0);
    loss_bce_logits_backward(dz, z, y, none, 3);
    for (int i = 0; i < 3; i++) assert_float_equal(dz[i], 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_match_closed_form),
        cmocka_unit_test(extreme_logits_stay_finite),
        cmocka_unit_test(gradient_matches_finite_differences),
        cmocka_unit_test(mask_averages_over_selected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
