/* test_parity_lstm.c — the EHR model against PyTorch (tests/parity_lstm.py): features and logits
 * of packed sequences of different lengths (forward rel. error <= 1e-4), the loss, every
 * parameter gradient after one backward (<= 1e-3), the global gradient norm, and the weights after
 * clip_grad_norm_ + one Adam step with weight decay. Reads the committed fixture, or the freshly
 * generated one under `make parity` ($PS_PARITY_DIR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/adam.h"
#include "engine/ehr_model.h"
#include "engine/loss.h"
#include "fixture.h"

static Fixture F;

static int setup(void **state)
{
    (void)state;
    return fixture_load(&F, "lstm.bin");
}

static int teardown(void **state)
{
    (void)state;
    fixture_free(&F);
    return 0;
}

static const FixtureTensor *get(const char *name)
{
    const FixtureTensor *t = fixture_get(&F, name);
    assert_non_null(t);
    return t;
}

static float *to_float(const FixtureTensor *t)
{
    float *p = malloc(t->numel * sizeof(float));
    for (size_t i = 0; i < t->numel; i++) p[i] = (float)t->data[i];
    return p;
}

static void model_matches_pytorch(void **state)
{
    (void)state;
    const double *cf = get("config")->data;
    EhrModelConfig cfg = {.input = (int)cf[0], .hidden = (int)cf[1], .layers = (int)cf[2],
                          .classes = (int)cf[3], .dropout = 0, .feat_dropout = 0};
    const int B = (int)cf[4], T = (int)cf[5];
    AdamConfig ac = {.lr = (float)cf[6], .beta1 = (float)cf[7], .beta2 = (float)cf[8],
                     .eps = (float)cf[9], .weight_decay = (float)cf[10]};
    const double max_norm = cf[11];

    ParamSet ps;
    EhrModel m;
    EhrWork ws;
    PsErr err;
    params_init(&ps);
    assert_int_equal(ehr_model_add_params(&m, &ps, &cfg, &err), PS_OK);
    assert_int_equal(params_alloc(&ps, 1, &err), PS_OK);
    assert_int_equal(ehr_work_init(&ws, &m, B, T, &err), PS_OK);
    /* every tensor of the model comes from the PyTorch state dict, by name and shape */
    for (int i = 0; i < ps.count; i++) {
        char name[160];
        snprintf(name, sizeof name, "param.%s", ps.info[i].name);
        const FixtureTensor *t = get(name);
        assert_int_equal(t->numel, ps.info[i].numel);
        for (int d = 0; d < ps.info[i].ndim; d++) assert_int_equal(t->dims[d], ps.info[i].shape[d]);
        for (size_t k = 0; k < t->numel; k++) ps.w[ps.info[i].offset + k] = (float)t->data[k];
    }
    float *x = to_float(get("x")), *y = to_float(get("y"));
    int len[64];
    for (int b = 0; b < B; b++) len[b] = (int)get("lengths")->data[b];
    float *z = calloc((size_t)B * cfg.classes, sizeof(float));
    float *dz = calloc((size_t)B * cfg.classes, sizeof(float));

    assert_int_equal(ehr_model_forward(&ws, z, x, len, B, T, &m, ps.w, 0, NULL, &err), PS_OK);
    int ok = fixture_close("feat", ws.feat, get("feat")->data, (size_t)B * cfg.hidden, 1e-6, 1e-4);
    ok &= fixture_close("logits", z, get("logits")->data, (size_t)B * cfg.classes, 1e-6, 1e-4);
    double loss = loss_bce_logits(z, y, NULL, (size_t)B * cfg.classes);
    assert_float_equal(loss, get("loss")->data[0], 1e-4 * get("loss")->data[0]);

    params_zero_grad(&ps);
    loss_bce_logits_backward(dz, z, y, NULL, (size_t)B * cfg.classes);
    assert_int_equal(ehr_model_backward(&ws, dz, NULL, &m, ps.w, ps.g, &err), PS_OK);
    for (int i = 0; i < ps.count; i++) {
        char name[160];
        snprintf(name, sizeof name, "grad.%s", ps.info[i].name);
        ok &= fixture_close(name, ps.g + ps.info[i].offset, get(name)->data, ps.info[i].numel,
                            1e-7, 1e-3);
    }
    double norm = adam_clip_grad_norm(ps.g, ps.n, max_norm);
    assert_float_equal(norm, get("grad_norm")->data[0], 1e-4 * norm);

    Adam a;
    assert_int_equal(adam_init(&a, ps.n, &err), PS_OK);
    adam_step(&a, &ac, ps.w, ps.g);
    for (int i = 0; i < ps.count; i++) {
        char name[160];
        snprintf(name, sizeof name, "after.%s", ps.info[i].name);
        /* an Adam step moves each weight by about lr: compare to a small fraction of it */
        ok &= fixture_close(name, ps.w + ps.info[i].offset, get(name)->data, ps.info[i].numel,
                            1e-3 * ac.lr, 1e-5);
    }
    assert_true(ok);
    adam_done(&a);
    free(x);
    free(y);
    free(z);
    free(dz);
    ehr_work_done(&ws);
    params_free(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
