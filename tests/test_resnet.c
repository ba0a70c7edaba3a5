/* test_resnet.c — the whole ResNet: torchvision's tensor names and sizes, finite-difference
 * gradients of every parameter tensor through all 34 layers at a tiny width (both gradient
 * entry points: logits and features), batch norm's train/eval behaviour at model level,
 * deterministic initialisation, and workspace bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/adam.h"
#include "engine/blas.h"
#include "engine/loss.h"
#include "engine/resnet.h"
#include "gradcheck_img.h"

static void tiny_config(ResnetConfig *cfg, int width, int size)
{
    resnet_config_default(cfg, size, 3);
    cfg->width = width;
}

static void names_and_sizes_match_torchvision(void **state)
{
    (void)state;
    ResnetConfig cfg;
    Resnet m;
    PsErr err;
    resnet_config_default(&cfg, 224, 14);
    assert_int_equal(resnet_init(&m, &cfg, &err), PS_OK);
    /* torchvision resnet34(num_classes=14): 21 291 854 parameters in 110 tensors,
     * 108 buffers (36 batch norms × running_mean, running_var, num_batches_tracked) */
    size_t total = 0;
    for (int i = 0; i < m.params.count; i++)
        total += m.params.info[i].numel;
    assert_int_equal(total, 21291854);
    assert_int_equal(m.params.count, 110);
    assert_int_equal(m.buffers.count, 108);
    assert_int_equal(m.feat_dim, 512);
    assert_int_equal(m.feat_hw, 49);
    const char *names[] = {"conv1.weight",
                           "bn1.weight",
                           "layer1.0.conv1.weight",
                           "layer1.2.bn2.bias",
                           "layer2.0.downsample.0.weight",
                           "layer2.0.downsample.1.weight",
                           "layer3.5.conv2.weight",
                           "layer4.2.bn2.weight",
                           "fc.weight",
                           "fc.bias"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_true(params_find(&m.params, names[i]) >= 0);
    assert_true(params_find(&m.params, "layer1.0.downsample.0.weight") < 0);
    assert_true(params_find(&m.buffers, "layer4.0.downsample.1.num_batches_tracked") >= 0);
    const ParamInfo *pi = &m.params.info[params_find(&m.params, "layer3.0.conv1.weight")];
    assert_int_equal(pi->ndim, 4);
    assert_int_equal(pi->shape[0], 256);
    assert_int_equal(pi->shape[1], 128);
    assert_int_equal(pi->shape[2], 3);
    /* the workspace for a training batch of 16 at 224 stays far below the 3 GB budget */
    assert_true(resnet_work_bytes(&m, 16) < 1500u * 1000 * 1000);
    resnet_done(&m);
    /* a nonsensical configuration is refused with a message, not a crash */
    resnet_config_default(&cfg, 0, 14);
    assert_int_not_equal(resnet_init(&m, &cfg, &err), PS_OK);
    assert_non_null(strstr(err.msg, "check failed"));
}

typedef struct {
    Resnet m;
    ResnetWork w;
    float *x, *logits, *features, *rl, *rf;
    int B, train;
} Ctx;

static double model_loss(void *p)
{
    Ctx *c = p;
    /* running statistics must not drift while we probe: restore them afterwards */
    float *keep = malloc(c->m.buffers.n * sizeof(float));
    memcpy(keep, c->m.buffers.w, c->m.buffers.n * sizeof(float));
    resnet_forward(&c->m, &c->w, c->x, c->B, c->train, c->logits, c->features, NULL);
    memcpy(c->m.buffers.w, keep, c->m.buffers.n * sizeof(float));
    free(keep);
    return gc_dot(c->logits, c->rl, (size_t)c->B * c->m.cfg.n_out) +
           gc_dot(c->features, c->rf, (size_t)c->B * c->m.feat_dim);
}

static void ctx_open(Ctx *c, const ResnetConfig *cfg, int B, uint64_t seed)
{
    PsErr err;
    Rng r;
    memset(c, 0, sizeof *c);
    if (resnet_init(&c->m, cfg, &err) || resnet_work_init(&c->w, &c->m, B, &err))
        fail_msg("%s", err.msg);
    rng_seed(&r, seed);
    resnet_init_weights(&c->m, &r);
    /* non-trivial batch-norm affine parameters and running statistics */
    for (int i = 0; i < c->m.params.count; i++) {
        const ParamInfo *pi = &c->m.params.info[i];
        if (pi->ndim == 1 && strstr(pi->name, "bn") ? 1 : strstr(pi->name, "downsample.1") != NULL)
            for (size_t k = 0; k < pi->numel; k++)
                c->m.params.w[pi->offset + k] += (float)(0.2 * rng_normal(&r));
    }
    for (int i = 0; i < c->m.buffers.count; i++) {
        const ParamInfo *pi = &c->m.buffers.info[i];
        for (size_t k = 0; k < pi->numel && pi->ndim == 1; k++)
            c->m.buffers.w[pi->offset + k] += (float)(0.3 * rng_uniform(&r));
    }
    c->B = B;
    size_t nx = (size_t)B * cfg->in_ch * cfg->size * cfg->size;
    c->x = malloc(nx * 4);
    for (size_t i = 0; i < nx; i++)
        c->x[i] = (float)rng_normal(&r);
    c->logits = malloc((size_t)B * cfg->n_out * 4);
    c->features = malloc((size_t)B * c->m.feat_dim * 4);
    c->rl = malloc((size_t)B * cfg->n_out * 4);
    c->rf = malloc((size_t)B * c->m.feat_dim * 4);
    for (int i = 0; i < B * cfg->n_out; i++)
        c->rl[i] = (float)rng_normal(&r);
    for (int i = 0; i < B * c->m.feat_dim; i++)
        c->rf[i] = (float)(0.5 * rng_normal(&r));
}

static void ctx_close(Ctx *c)
{
    free(c->x), free(c->logits), free(c->features), free(c->rl), free(c->rf);
    resnet_work_done(&c->w);
    resnet_done(&c->m);
}

static void gradcheck_model(int train)
{
    ResnetConfig cfg;
    Ctx c;
    PsErr err;
    /* one block per stage (stem, max pool, identity and projection shortcuts, all four
     * widths), width 4, 64×64 and 4 images: layer4's batch norm sees 16 values per channel.
     * Deeper or thinner nets make finite differences in float meaningless (ReLU switches
     * everywhere, near-zero batch variances); the full 34 layers are checked against
     * PyTorch in test_parity_resnet (1e-3). Tolerance 3e-2: a ReLU switch near a probed
     * weight shifts a float difference quotient by a few per cent. */
    tiny_config(&cfg, 4, 64);
    for (int s = 0; s < 4; s++)
        cfg.layers[s] = 1;
    ctx_open(&c, &cfg, 4, 42 + train);
    c.train = train;
    model_loss(&c);
    params_zero_grad(&c.m.params);
    assert_int_equal(resnet_backward(&c.m, &c.w, c.rl, c.rf, &err), PS_OK);
    int bad = 0;
    for (int i = 0; i < c.m.params.count; i++) {
        const ParamInfo *pi = &c.m.params.info[i];
        if (!gc_check(pi->name, c.m.params.w + pi->offset, c.m.params.g + pi->offset, pi->numel, 4,
                      model_loss, &c, 1e-3, 3e-2))
            bad++;
    }
    assert_int_equal(bad, 0);
    ctx_close(&c);
}

static void gradients_train_mode(void **state)
{
    (void)state;
    gradcheck_model(1);
}

static void gradients_eval_mode(void **state)
{
    (void)state;
    gradcheck_model(0);
}

/* What backward announces through grad_ready: the offsets it reports, and a copy of the
 * gradients from each offset to the end taken at that moment. */
typedef struct {
    const ParamSet *ps;
    size_t from[RESNET_MAX_BLOCKS];
    float *snap[RESNET_MAX_BLOCKS];
    int n;
} ReadyLog;

static void ready_log(void *ctx, size_t from)
{
    ReadyLog *r = ctx;
    assert_true(r->n < RESNET_MAX_BLOCKS);
    r->from[r->n] = from;
    r->snap[r->n] = malloc((r->ps->n - from) * sizeof(float));
    memcpy(r->snap[r->n], r->ps->g + from, (r->ps->n - from) * sizeof(float));
    r->n++;
}

static void grad_ready_announces_final_gradients(void **state)
{
    (void)state;
    /* data-parallel training starts the all-reduce of a region when backward announces it: a
     * region announced must not change afterwards, and the regions must grow to the whole
     * slab but the stem */
    ResnetConfig cfg;
    Ctx c;
    PsErr err;
    tiny_config(&cfg, 4, 64);
    cfg.layers[0] = 2;
    cfg.layers[1] = cfg.layers[2] = cfg.layers[3] = 1;
    ctx_open(&c, &cfg, 3, 11);
    c.train = 1;
    ReadyLog r = {.ps = &c.m.params};
    c.w.grad_ready = ready_log;
    c.w.grad_ready_ctx = &r;
    model_loss(&c);
    params_zero_grad(&c.m.params);
    assert_int_equal(resnet_backward(&c.m, &c.w, c.rl, c.rf, &err), PS_OK);
    assert_int_equal(r.n, c.m.n_blocks);
    for (int k = 0; k < r.n; k++) {
        if (k > 0) assert_true(r.from[k] < r.from[k - 1]);
        assert_memory_equal(r.snap[k], c.m.params.g + r.from[k],
                            (c.m.params.n - r.from[k]) * sizeof(float));
        free(r.snap[k]);
    }
    /* the last announcement leaves only the stem (conv1, bn1) to the end of backward */
    assert_int_equal(r.from[r.n - 1], c.m.blocks[0].c1.w);
    assert_true(r.from[r.n - 1] > c.m.stem.w);
    ctx_close(&c);
}

static void features_only_backward(void **state)
{
    (void)state;
    /* the unified classifier backpropagates into the features alone */
    ResnetConfig cfg;
    Ctx c;
    PsErr err;
    tiny_config(&cfg, 4, 64);
    for (int s = 0; s < 4; s++)
        cfg.layers[s] = 1;
    ctx_open(&c, &cfg, 4, 7);
    c.train = 1;
    memset(c.rl, 0, (size_t)c.B * cfg.n_out * 4);
    model_loss(&c);
    params_zero_grad(&c.m.params);
    assert_int_equal(resnet_backward(&c.m, &c.w, NULL, c.rf, &err), PS_OK);
    const char *probe[] = {"conv1.weight", "layer2.0.downsample.0.weight", "layer4.0.bn1.weight"};
    for (int k = 0; k < 3; k++) {
        int idx = params_find(&c.m.params, probe[k]);
        assert_true(idx >= 0);
        const ParamInfo *pi = &c.m.params.info[idx];
        assert_true(gc_check(pi->name, c.m.params.w + pi->offset, c.m.params.g + pi->offset,
                             pi->numel, 6, model_loss, &c, 1e-3, 2e-2));
    }
    /* fc takes no gradient from the features */
    const ParamInfo *fc = &c.m.params.info[params_find(&c.m.params, "fc.weight")];
    for (size_t i = 0; i < fc->numel; i++)
        assert_float_equal(c.m.params.g[fc->offset + i], 0, 0);
    assert_int_not_equal(resnet_backward(&c.m, &c.w, NULL, NULL, &err), PS_OK);
    ctx_close(&c);
}

static void batchnorm_modes_at_model_level(void **state)
{
    (void)state;
    ResnetConfig cfg;
    Ctx c;
    PsErr err;
    tiny_config(&cfg, 4, 32);
    ctx_open(&c, &cfg, 2, 9);
    uint64_t before = params_checksum(&c.m.buffers);
    float l2[6], l1[3];
    /* eval: buffers untouched; image 0 scores the same alone or in a batch */
    assert_int_equal(resnet_forward(&c.m, &c.w, c.x, 2, 0, l2, NULL, &err), PS_OK);
    assert_int_equal(params_checksum(&c.m.buffers), before);
    assert_int_equal(resnet_forward(&c.m, &c.w, c.x, 1, 0, l1, NULL, &err), PS_OK);
    for (int i = 0; i < 3; i++)
        assert_float_equal(l1[i], l2[i], 1e-5);
    /* train: running statistics move, num_batches_tracked counts, batch statistics couple
     * the images */
    int nbt = params_find(&c.m.buffers, "layer3.0.bn1.num_batches_tracked");
    float n0 = c.m.buffers.w[c.m.buffers.info[nbt].offset];
    assert_int_equal(resnet_forward(&c.m, &c.w, c.x, 2, 1, l2, NULL, &err), PS_OK);
    assert_int_not_equal(params_checksum(&c.m.buffers), before);
    assert_float_equal(c.m.buffers.w[c.m.buffers.info[nbt].offset], n0 + 1, 0);
    float t2 = l2[0];
    float x2[2 * 3 * 32 * 32];
    memcpy(x2, c.x, sizeof x2);
    for (size_t i = 3 * 32 * 32; i < sizeof x2 / sizeof x2[0]; i++)
        x2[i] *= -2.0f;
    assert_int_equal(resnet_forward(&c.m, &c.w, x2, 2, 1, l2, NULL, &err), PS_OK);
    assert_true(fabsf(l2[0] - t2) > 1e-4f);
    /* more images than the workspace holds */
    assert_int_not_equal(resnet_forward(&c.m, &c.w, c.x, 3, 0, l2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "workspace"));
    ctx_close(&c);
}

static void initialisation_is_deterministic_and_scaled(void **state)
{
    (void)state;
    ResnetConfig cfg;
    Resnet a, b;
    PsErr err;
    Rng r;
    resnet_config_default(&cfg, 64, 14);
    assert_int_equal(resnet_init(&a, &cfg, &err), PS_OK);
    assert_int_equal(resnet_init(&b, &cfg, &err), PS_OK);
    rng_seed(&r, 5);
    resnet_init_weights(&a, &r);
    rng_seed(&r, 5);
    resnet_init_weights(&b, &r);
    assert_int_equal(params_checksum(&a.params), params_checksum(&b.params));
    rng_seed(&r, 6);
    resnet_init_weights(&b, &r);
    assert_int_not_equal(params_checksum(&a.params), params_checksum(&b.params));
    /* kaiming normal, fan_out: layer3 conv2 has std sqrt(2 / (256*9)) */
    const ParamInfo *pi = &a.params.info[params_find(&a.params, "layer3.1.conv2.weight")];
    double s = 0, s2 = 0;
    for (size_t i = 0; i < pi->numel; i++) {
        double v = a.params.w[pi->offset + i];
        s += v;
        s2 += v * v;
    }
    double sd = sqrt(s2 / pi->numel - (s / pi->numel) * (s / pi->numel));
    assert_float_equal(sd, sqrt(2.0 / (256 * 9)), 0.02 * sqrt(2.0 / (256 * 9)));
    const ParamInfo *fc = &a.params.info[params_find(&a.params, "fc.weight")];
    for (size_t i = 0; i < fc->numel; i++)
        assert_true(fabsf(a.params.w[fc->offset + i]) <= 1.0f / sqrtf(512.0f));
    int rv = params_find(&a.buffers, "bn1.running_var");
    assert_float_equal(a.buffers.w[a.buffers.info[rv].offset], 1, 0);
    resnet_done(&a);
    resnet_done(&b);
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

/* A training step (forward, BCE, backward, Adam) after warm-up allocates nothing: the
 * workspace was sized at set-up. OpenBLAS itself is single-threaded here: its threaded level-3
 * driver (0.3.21) mallocs a 512 KB job table on every multi-threaded GEMM call, which is
 * OpenBLAS's business and not what this test is about. */
static void training_step_does_not_allocate(void **state)
{
    (void)state;
#ifndef COUNT_ALLOCS
    skip();
#endif
    ResnetConfig cfg;
    Ctx c;
    PsErr err;
    tiny_config(&cfg, 4, 32);
    ctx_open(&c, &cfg, 2, 3);
    float y[6] = {1, 0, 0, 0, 1, 1}, dl[6];
    int threads = blas_get_threads();
    blas_set_threads(1);
    Adam a;
    AdamConfig acfg = adam_defaults();
    assert_int_equal(adam_init(&a, c.m.params.n, &err), PS_OK);
    size_t before = 0;
    for (int s = 0; s < 4; s++) {
        if (s == 1) before = allocs_so_far(); /* step 0 is the warm-up */
        params_zero_grad(&c.m.params);
        assert_int_equal(resnet_forward(&c.m, &c.w, c.x, 2, 1, c.logits, NULL, &err), PS_OK);
        loss_bce_logits_backward(dl, c.logits, y, NULL, 6);
        assert_int_equal(resnet_backward(&c.m, &c.w, dl, c.rf, &err), PS_OK);
        adam_step(&a, &acfg, c.m.params.w, c.m.params.g);
    }
    assert_true(before > 0);
    size_t after = allocs_so_far();
    blas_set_threads(threads);
    assert_int_equal(after, before);
    adam_done(&a);
    ctx_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_and_sizes_match_torchvision),
        cmocka_unit_test(gradients_train_mode),
        cmocka_unit_test(gradients_eval_mode),
        cmocka_unit_test(features_only_backward),
        cmocka_unit_test(batchnorm_modes_at_model_level),
        cmocka_unit_test(initialisation_is_deterministic_and_scaled),
        cmocka_unit_test(training_step_does_not_allocate),
        cmocka_unit_test(grad_ready_announces_final_gradients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
