/* test_batchnorm.c — BatchNorm2d in train and eval mode: finite-difference gradients (through
 * the batch statistics in train mode, with and without the fused ReLU), PyTorch's running
 * statistics update (momentum 0.1, unbiased variance), and eval mode using those statistics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/batchnorm.h"
#include "gradcheck_img.h"
#include "store/rng.h"

enum { C = 3, L = 20 };

typedef struct {
    float x[C * L], y[C * L], res[C * L], r[C * L];
    float gamma[C], beta[C], rm[C], rv[C], mean[C], istd[C];
    int train, relu, use_res;
} Ctx;

static double bn_loss(void *p)
{
    Ctx *c = p;
    float rm[C], rv[C];
    memcpy(rm, c->rm, sizeof rm);
    memcpy(rv, c->rv, sizeof rv);
    batchnorm_forward(c->y, c->mean, c->istd, rm, rv, c->x, c->use_res ? c->res : NULL, c->gamma,
                      c->beta, C, L, c->train, c->relu);
    return gc_dot(c->y, c->r, C * L);
}

static void setup(Ctx *c, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < C * L; i++) {
        c->x[i] = (float)(2.0 * rng_normal(&r) + 0.5 * (i / L));
        c->r[i] = (float)rng_normal(&r);
        c->res[i] = (float)rng_normal(&r);
    }
    for (int k = 0; k < C; k++) {
        c->gamma[k] = (float)(1.0 + 0.3 * rng_normal(&r));
        c->beta[k] = (float)(0.2 * rng_normal(&r));
        c->rm[k] = (float)(0.3 * rng_normal(&r));
        c->rv[k] = (float)(1.0 + rng_uniform(&r));
    }
}

static void check_mode(int train, int relu, int use_res)
{
    Ctx c;
    setup(&c, 10 + train * 4 + relu * 2 + use_res);
    c.train = train;
    c.relu = relu;
    c.use_res = use_res;
    bn_loss(&c); /* forward: fills y, mean, istd */
    float dx[C * L], dg[C] = {0}, db[C] = {0};
    batchnorm_backward(dx, dg, db, c.r, relu ? c.y : NULL, c.x, c.mean, c.istd, c.gamma, C, L,
                       train);
    assert_true(gc_check("bn dx", c.x, dx, C * L, C * L, bn_loss, &c, 1e-2, 2e-3));
    assert_true(gc_check("bn dgamma", c.gamma, dg, C, C, bn_loss, &c, 1e-2, 2e-3));
    assert_true(gc_check("bn dbeta", c.beta, db, C, C, bn_loss, &c, 1e-2, 2e-3));
}

static void train_mode_gradients(void **state)
{
    (void)state;
    check_mode(1, 0, 0);
    check_mode(1, 1, 0);
    check_mode(1, 1, 1);
}

static void eval_mode_gradients(void **state)
{
    (void)state;
    check_mode(0, 0, 0);
    check_mode(0, 1, 0);
}

static void backward_in_place(void **state)
{
    (void)state;
    Ctx c;
    setup(&c, 3);
    c.train = 1;
    c.relu = 1;
    c.use_res = 0;
    bn_loss(&c);
    float dx[C * L], buf[C * L], dg[C] = {0}, db[C] = {0}, dg2[C] = {0}, db2[C] = {0};
    batchnorm_backward(dx, dg, db, c.r, c.y, c.x, c.mean, c.istd, c.gamma, C, L, 1);
    memcpy(buf, c.r, sizeof buf);
    batchnorm_backward(buf, dg2, db2, buf, c.y, c.x, c.mean, c.istd, c.gamma, C, L, 1);
    assert_memory_equal(buf, dx, sizeof dx);
}

static void running_statistics_follow_pytorch(void **state)
{
    (void)state;
    /* channel 0: 1, 2, 3, 4 (mean 2.5, biased var 1.25, unbiased 5/3); channel 1: constant 7 */
    float x[8] = {1, 2, 3, 4, 7, 7, 7, 7}, y[8], mean[2], istd[2];
    float g[2] = {1, 2}, b[2] = {0, 1}, rm[2] = {0, 1}, rv[2] = {1, 2};
    batchnorm_forward(y, mean, istd, rm, rv, x, NULL, g, b, 2, 4, 1, 0);
    assert_float_equal(rm[0], 0.9 * 0 + 0.1 * 2.5, 1e-6);
    assert_float_equal(rv[0], 0.9 * 1 + 0.1 * (5.0 / 3.0), 1e-6);
    assert_float_equal(rm[1], 0.9 * 1 + 0.1 * 7, 1e-6);
    assert_float_equal(rv[1], 0.9 * 2 + 0.1 * 0, 1e-6);
    /* the output is normalised with the biased variance */
    assert_float_equal(y[0], (1 - 2.5) / sqrt(1.25 + 1e-5), 1e-5);
    assert_float_equal(y[4], 1.0, 1e-6); /* constant channel: x - mean = 0, so beta */
    /* eval: uses the running statistics and leaves them alone */
    float rm2[2] = {1, 0}, rv2[2] = {4, 1};
    batchnorm_forward(y, mean, istd, rm2, rv2, x, NULL, g, b, 2, 4, 0, 0);
    assert_float_equal(y[3], (4 - 1) / sqrt(4 + 1e-5), 1e-5);
    assert_float_equal(y[5], 2 * 7 / sqrt(1 + 1e-5) + 1, 1e-5);
    assert_float_equal(rm2[0], 1, 0);
    assert_float_equal(rv2[0], 4, 0);
}

static void relu_and_residual_fused(void **state)
{
    (void)state;
    float x[4] = {-1, 0, 1, 2}, res[4] = {0.5f, -3, 0, 1}, y[4], mean[1], istd[1];
    float g[1] = {1}, b[1] = {0}, rm[1] = {0}, rv[1] = {1};
    batchnorm_forward(y, mean, istd, rm, rv, x, res, g, b, 1, 4, 0, 1);
    float s = (float)(1.0 / sqrt(1 + 1e-5));
    assert_float_equal(y[0], 0.0f, 0); /* -1*s + 0.5 < 0 */
    assert_float_equal(y[1], 0.0f, 0); /* -3 */
    assert_float_equal(y[2], s, 1e-6);
    assert_float_equal(y[3], 2 * s + 1, 1e-6);
}

/* Synchronised batch norm: the batch cut into two shards, their partial sums added as two MPI
 * ranks would, gives the outputs, running statistics and gradients of the whole batch. */
static void sync_shards_equal_whole_batch(void **state)
{
    (void)state;
    enum { H = L / 2 }; /* the file's C channels of L values, in two shards of H */
    Rng r;
    rng_seed(&r, 7);
    float x[C * L], dy[C * L], gamma[C], beta[C], res[C * L];
    for (int i = 0; i < C * L; i++) {
        x[i] = (float)rng_normal(&r) * 2.0f + 0.5f;
        dy[i] = (float)rng_normal(&r);
        res[i] = (float)rng_normal(&r);
    }
    for (int c = 0; c < C; c++) {
        gamma[c] = 1.0f + 0.1f * c;
        beta[c] = 0.2f * c;
    }
    /* the whole batch */
    float y[C * L], mean[C], istd[C], rm[C] = {0}, rv[C] = {1, 1, 1}, dx[C * L];
    float dg[C] = {0}, db[C] = {0};
    batchnorm_forward(y, mean, istd, rm, rv, x, res, gamma, beta, C, L, 1, 1);
    batchnorm_backward(dx, dg, db, dy, y, x, mean, istd, gamma, C, L, 1);
    /* two shards: per channel the first and second halves of its L values */
    float xs[2][C * H], dys[2][C * H], rs[2][C * H], ys[2][C * H], dxs[2][C * H];
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++) {
                xs[k][c * H + i] = x[c * L + k * H + i];
                dys[k][c * H + i] = dy[c * L + k * H + i];
                rs[k][c * H + i] = res[c * L + k * H + i];
            }
    double s[2][C], tot[C], var[C], v[2][C];
    float m2[2][C], is2[2][C], rm2[2][C], rv2[2][C];
    for (int k = 0; k < 2; k++) batchnorm_sums(s[k], xs[k], C, H);
    for (int c = 0; c < C; c++) {
        tot[c] = (s[0][c] + s[1][c]) / L;
        m2[0][c] = m2[1][c] = (float)tot[c];
    }
    for (int k = 0; k < 2; k++) batchnorm_sums_centred(v[k], xs[k], m2[k], C, H);
    for (int c = 0; c < C; c++) var[c] = (v[0][c] + v[1][c]) / L;
    float dgs[2][C] = {{0}}, dbs[2][C] = {{0}};
    double sg[2][C], sgx[2][C], gsg[C], gsgx[C];
    for (int k = 0; k < 2; k++) {
        for (int c = 0; c < C; c++) {
            rm2[k][c] = 0;
            rv2[k][c] = 1;
        }
        batchnorm_forward_given(ys[k], m2[k], is2[k], rm2[k], rv2[k], xs[k], rs[k], gamma, beta,
                                tot, var, L, C, H, 1);
        batchnorm_grad_sums(sg[k], sgx[k], dys[k], ys[k], xs[k], m2[k], C, H);
    }
    for (int c = 0; c < C; c++) {
        gsg[c] = sg[0][c] + sg[1][c];
        gsgx[c] = sgx[0][c] + sgx[1][c];
    }
    for (int k = 0; k < 2; k++)
        batchnorm_backward_given(dxs[k], dgs[k], dbs[k], dys[k], ys[k], xs[k], m2[k], is2[k],
                                 gamma, sg[k], sgx[k], gsg, gsgx, L, C, H);
    for (int k = 0; k < 2; k++)
        for (int c = 0; c < C; c++) {
            assert_float_equal(rm2[k][c], rm[c], 1e-6);
            assert_float_equal(rv2[k][c], rv[c], 1e-5);
            for (int i = 0; i < H; i++) {
                assert_float_equal(ys[k][c * H + i], y[c * L + k * H + i], 1e-5);
                assert_float_equal(dxs[k][c * H + i], dx[c * L + k * H + i], 1e-5);
            }
        }
    for (int c = 0; c < C; c++) {
        /* parameter gradients: each shard its own part, summed as the gradient all-reduce does */
        assert_float_equal(dgs[0][c] + dgs[1][c], dg[c], 1e-4);
        assert_float_equal(dbs[0][c] + dbs[1][c], db[c], 1e-4);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(train_mode_gradients),
        cmocka_unit_test(eval_mode_gradients),
        cmocka_unit_test(backward_in_place),
        cmocka_unit_test(running_statistics_follow_pytorch),
        cmocka_unit_test(relu_and_residual_fused),
        cmocka_unit_test(sync_shards_equal_whole_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
