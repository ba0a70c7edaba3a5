/* test_ehr_model.c — the whole EHR model (LSTM + dropout on features + head + BCE) by finite
 * differences at small size, the gradient path for features used by another consumer, and that
 * a few Adam steps on a fixed batch reduce the loss (the pieces fit together for training). */
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
#include "gradcheck.h"

enum { B = 4, T = 5, I = 6, H = 5, C = 3 };

typedef struct {
    EhrModel m;
    ParamSet ps;
    EhrWork ws;
    Rng rng;
    float x[B * T * I], y[B * C], z[B * C], dz[B * C], rf[B * H];
    int len[B];
    int train;
    int with_feat; /* add Σ rf ⊙ feat to the loss */
} Ctx;

static void ctx_init(Ctx *c, float dropout, float feat_dropout)
{
    PsErr err;
    memset(c, 0, sizeof *c);
    params_init(&c->ps);
    EhrModelConfig cfg = {.input = I, .hidden = H, .layers = 2, .classes = C,
                          .dropout = dropout, .feat_dropout = feat_dropout};
    assert_int_equal(ehr_model_add_params(&c->m, &c->ps, &cfg, &err), PS_OK);
    assert_int_equal(params_alloc(&c->ps, 1, &err), PS_OK);
    assert_int_equal(ehr_work_init(&c->ws, &c->m, B, T, &err), PS_OK);
    rng_seed(&c->rng, 21);
    ehr_model_init(&c->m, &c->ps, &c->rng);
    for (size_t i = 0; i < c->ps.n; i++) c->ps.w[i] *= 2.0f;
    for (int i = 0; i < B * T * I; i++) c->x[i] = (float)rng_normal(&c->rng);
    for (int i = 0; i < B * C; i++) c->y[i] = (float)rng_bernoulli(&c->rng, 0.5);
    for (int i = 0; i < B * H; i++) c->rf[i] = (float)rng_normal(&c->rng);
    const int len[B] = {5, 2, 4, 1};
    memcpy(c->len, len, sizeof len);
}

static double loss_fn(void *p)
{
    Ctx *c = p;
    PsErr err;
    rng_seed(&c->rng, 5);
    assert_int_equal(ehr_model_forward(&c->ws, c->z, c->x, c->len, B, T, &c->m, c->ps.w,
                                       c->train, &c->rng, &err), PS_OK);
    double l = loss_bce_logits(c->z, c->y, NULL, B * C);
    if (c->with_feat)
        for (int i = 0; i < B * H; i++) l += (double)c->rf[i] * c->ws.feat[i];
    return l;
}

static void check(Ctx *c, const char *tag)
{
    PsErr err;
    params_zero_grad(&c->ps);
    loss_fn(c);
    loss_bce_logits_backward(c->dz, c->z, c->y, NULL, B * C);
    assert_int_equal(ehr_model_backward(&c->ws, c->dz, c->with_feat ? c->rf : NULL, &c->m,
                                        c->ps.w, c->ps.g, &err), PS_OK);
    int ok = 1;
    for (int i = 0; i < c->ps.count; i++) {
        char what[160];
        snprintf(what, sizeof what, "%s %s", tag, c->ps.info[i].name);
        ok &= gradcheck(what, c->ps.w + c->ps.info[i].offset, c->ps.g + c->ps.info[i].offset,
                        c->ps.info[i].numel, 40, loss_fn, c, 1e-2, 2e-4, 1e-2);
    }
    assert_true(ok);
}

static void whole_model_gradients(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 0.0f, 0.0f);
    check(&c, "eval");
    params_free(&c.ps);
    ehr_work_done(&c.ws);
}

static void whole_model_gradients_training_mode(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 0.3f, 0.25f);
    c.train = 1;
    c.with_feat = 1;
    check(&c, "train");
    params_free(&c.ps);
    ehr_work_done(&c.ws);
}

static void adam_steps_reduce_the_loss(void **state)
{
    (void)state;
    Ctx c;
    ctx_init(&c, 0.0f, 0.0f);
    Adam a;
    PsErr err;
    assert_int_equal(adam_init(&a, c.ps.n, &err), PS_OK);
    AdamConfig cfg = adam_defaults();
    cfg.lr = 0.02f;
    double first = loss_fn(&c), last = first;
    for (int s = 0; s < 30; s++) {
        params_zero_grad(&c.ps);
        last = loss_fn(&c);
        loss_bce_logits_backward(c.dz, c.z, c.y, NULL, B * C);
        assert_int_equal(ehr_model_backward(&c.ws, c.dz, NULL, &c.m, c.ps.w, c.ps.g, &err), PS_OK);
        adam_clip_grad_norm(c.ps.g, c.ps.n, 5.0);
        adam_step(&a, &cfg, c.ps.w, c.ps.g);
    }
    assert_true(last < 0.5 * first);
    adam_done(&a);
    params_free(&c.ps);
    ehr_work_done(&c.ws);
}

/* Allocation counting: this binary interposes the allocator entry points and forwards them to
 * glibc's, counting calls from every thread (OpenBLAS's included). Not under sanitizers, whose
 * runtimes own these symbols. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t align, size_t n);
static size_t n_allocs;

void *malloc(size_t n)
{
    __atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    __atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    __atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    __atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
    return __libc_memalign(align, n);
}

int posix_memalign(void **p, size_t align, size_t n)
{
    __atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);
    *p = __libc_memalign(align, n);
    return *p ? 0 : 12 /* ENOMEM */;
}
#endif

static size_t allocs_so_far(void)
{
#ifdef COUNT_ALLOCS
    return __atomic_load_n(&n_allocs, __ATOMIC_RELAXED);
#else
    return 0;
#endif
}

/* A training step (forward with dropout, loss, backward, clipping, Adam) after warm-up makes no
 * allocation at all: every buffer was sized at set-up. */
static void training_step_does_not_allocate(void **state)
{
    (void)state;
#ifndef COUNT_ALLOCS
    skip();
#endif
    Ctx c;
    ctx_init(&c, 0.3f, 0.2f);
    c.train = 1;
    Adam a;
    PsErr err;
    assert_int_equal(adam_init(&a, c.ps.n, &err), PS_OK);
    AdamConfig cfg = adam_defaults();
    size_t before = 0;
    for (int s = 0; s < 4; s++) {
        if (s == 1) before = allocs_so_far(); /* step 0 is the warm-up */
        params_zero_grad(&c.ps);
        loss_fn(&c);
        loss_bce_logits_backward(c.dz, c.z, c.y, NULL, B * C);
        assert_int_equal(ehr_model_backward(&c.ws, c.dz, NULL, &c.m, c.ps.w, c.ps.g, &err), PS_OK);
        adam_clip_grad_norm(c.ps.g, c.ps.n, 1.0);
        adam_step(&a, &cfg, c.ps.w, c.ps.g);
    }
    assert_true(before > 0); /* the counter sees the set-up's allocations */
    assert_int_equal(allocs_so_far(), before);
    adam_done(&a);
    params_free(&c.ps);
    ehr_work_done(&c.ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(whole_model_gradients),
        cmocka_unit_test(whole_model_gradients_training_mode),
        cmocka_unit_test(adam_steps_reduce_the_loss),
        cmocka_unit_test(training_step_does_not_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
