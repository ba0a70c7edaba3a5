/* test_adam.c — Adam as torch.optim.Adam (bias correction, L2 weight decay) against a
 * step-by-step double-precision transcription of torch's update, the first step's closed form,
 * and clip_grad_norm_ semantics. The PyTorch fixture test (test_parity_lstm) checks a real step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "engine/adam.h"
#include "store/rng.h"

static void first_step_is_lr_times_sign(void **state)
{
    (void)state;
    /* after one step with bias correction, m̂ = g and v̂ = g², so Δw = -lr g / (|g| + eps) */
    Adam a;
    PsErr err;
    assert_int_equal(adam_init(&a, 3, &err), PS_OK);
    AdamConfig cfg = adam_defaults();
    cfg.lr = 0.01f;
    float w[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.3f, -4.0f, 0.0f};
    adam_step(&a, &cfg, w, g);
    assert_float_equal(w[0], 1.0f - 0.01f, 1e-6);
    assert_float_equal(w[1], -2.0f + 0.01f, 1e-6);
    assert_float_equal(w[2], 0.5f, 0);
    assert_int_equal(a.step, 1);
    adam_done(&a);
}

static void matches_torch_update_over_steps(void **state)
{
    (void)state;
    enum { n = 50, steps = 5 };
    Rng rng;
    rng_seed(&rng, 11);
    float w[n];
    double wr[n], m[n] = {0}, v[n] = {0};
    for (int i = 0; i < n; i++) wr[i] = w[i] = (float)rng_normal(&rng);
    Adam a;
    PsErr err;
    assert_int_equal(adam_init(&a, n, &err), PS_OK);
    AdamConfig cfg = {.lr = 3e-3f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.1f};
    for (int s = 1; s <= steps; s++) {
        float g[n];
        for (int i = 0; i < n; i++) g[i] = (float)rng_normal(&rng);
        adam_step(&a, &cfg, w, g);
        /* torch/optim/adam.py, _single_tensor_adam */
        double bc1 = 1 - pow(cfg.beta1, s), bc2 = 1 - pow(cfg.beta2, s);
        for (int i = 0; i < n; i++) {
            double gi = g[i] + (double)cfg.weight_decay * wr[i];
            m[i] = cfg.beta1 * m[i] + (1 - (double)cfg.beta1) * gi;
            v[i] = cfg.beta2 * v[i] + (1 - (double)cfg.beta2) * gi * gi;
            double denom = sqrt(v[i]) / sqrt(bc2) + cfg.eps;
            wr[i] -= cfg.lr / bc1 * m[i] / denom;
        }
    }
    for (int i = 0; i < n; i++) assert_float_equal(w[i], wr[i], 1e-6 + 1e-5 * fabs(wr[i]));
    adam_done(&a);
}

static void zero_gradient_padding_stays_zero(void **state)
{
    (void)state;
    Adam a;
    PsErr err;
    assert_int_equal(adam_init(&a, 4, &err), PS_OK);
    AdamConfig cfg = adam_defaults();
    cfg.weight_decay = 0.5f;
    float w[4] = {1, 0, 0, 1}, g[4] = {1, 0, 0, 1};
    for (int s = 0; s < 3; s++) adam_step(&a, &cfg, w, g);
    assert_float_equal(w[1], 0, 0);
    assert_float_equal(w[2], 0, 0);
    adam_done(&a);
}

static void clipping_like_torch(void **state)
{
    (void)state;
    float g[4] = {3, 0, -4, 0}; /* norm 5 */
    double norm = adam_clip_grad_norm(g, 4, 1.0);
    assert_float_equal(norm, 5.0, 1e-12);
    assert_float_equal(g[0], 3 * 1.0 / (5 + 1e-6), 1e-7);
    assert_float_equal(g[2], -4 * 1.0 / (5 + 1e-6), 1e-7);
    /* below the limit: untouched */
    float h[2] = {0.3f, 0.4f};
    assert_float_equal(adam_clip_grad_norm(h, 2, 1.0), 0.5, 1e-7);
    assert_float_equal(h[0], 0.3f, 0);
    assert_float_equal(h[1], 0.4f, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_step_is_lr_times_sign),
        cmocka_unit_test(matches_torch_update_over_steps),
        cmocka_unit_test(zero_gradient_padding_stays_zero),
        cmocka_unit_test(clipping_like_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
