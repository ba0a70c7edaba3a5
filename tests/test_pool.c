/* test_pool.c — max pooling (3×3/2, padding 1: padding never wins, ties go to the first
 * element, NaN propagates) and global average pooling, values and finite-difference gradients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "engine/pool.h"
#include "gradcheck_img.h"
#include "store/rng.h"

static void max_values_and_padding(void **state)
{
    (void)state;
    /* one 4×4 plane of negative numbers: zero padding would win, -inf padding does not */
    float x[16], y[4];
    int32_t am[4];
    for (int i = 0; i < 16; i++) x[i] = -(float)(i + 1);
    pool_max_forward(y, am, x, 1, 1, 4, 4, 3, 2, 1);
    assert_int_equal(pool_out_size(4, 3, 2, 1), 2);
    assert_float_equal(y[0], -1, 0); /* window rows 0..1, cols 0..1 */
    assert_int_equal(am[0], 0);
    assert_float_equal(y[1], -2, 0); /* rows 0..1, cols 1..3 */
    assert_int_equal(am[1], 1);
    assert_float_equal(y[3], -6, 0);
    /* ties: the first maximum wins */
    float t[16] = {0};
    pool_max_forward(y, am, t, 1, 1, 4, 4, 3, 2, 1);
    assert_int_equal(am[3], 1 * 4 + 1);
    /* NaN wins its windows */
    x[5] = NAN;
    pool_max_forward(y, am, x, 1, 1, 4, 4, 3, 2, 1);
    assert_true(isnan(y[0]) && isnan(y[3]));
}

typedef struct {
    float *x, *y, *r;
    int32_t *am;
    int C, B, H, W, avg;
} Ctx;

static double pool_loss(void *p)
{
    Ctx *c = p;
    if (c->avg) {
        pool_avg_forward(c->y, c->x, c->C, c->B, c->H * c->W);
        return gc_dot(c->y, c->r, (size_t)c->C * c->B);
    }
    pool_max_forward(c->y, c->am, c->x, c->C, c->B, c->H, c->W, 3, 2, 1);
    int Ho = pool_out_size(c->H, 3, 2, 1), Wo = pool_out_size(c->W, 3, 2, 1);
    return gc_dot(c->y, c->r, (size_t)c->C * c->B * Ho * Wo);
}

static void gradients(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 5);
    Ctx c = {.C = 2, .B = 3, .H = 7, .W = 6};
    size_t nx = (size_t)c.C * c.B * c.H * c.W;
    c.x = malloc(nx * 4);
    c.y = malloc(nx * 4);
    c.r = malloc(nx * 4);
    c.am = malloc(nx * 4);
    /* well-separated values so a small step never changes a window's winner */
    for (size_t i = 0; i < nx; i++) c.x[i] = (float)i * 0.1f - 4;
    for (size_t i = 0; i < nx; i++) {
        size_t j = rng_below(&r, i + 1);
        float t = c.x[i];
        c.x[i] = c.x[j];
        c.x[j] = t;
        c.r[i] = (float)rng_normal(&r);
    }
    float *dx = malloc(nx * 4);
    int Ho = pool_out_size(c.H, 3, 2, 1), Wo = pool_out_size(c.W, 3, 2, 1);
    pool_loss(&c);
    pool_max_backward(dx, c.r, c.am, c.C, c.B, c.H, c.W, Ho, Wo);
    assert_true(gc_check("maxpool dx", c.x, dx, nx, nx, pool_loss, &c, 1e-2, 1e-3));
    c.avg = 1;
    pool_avg_backward(dx, c.r, c.C, c.B, c.H * c.W);
    assert_true(gc_check("avgpool dx", c.x, dx, nx, nx, pool_loss, &c, 1e-2, 1e-3));
    free(c.x), free(c.y), free(c.r), free(c.am), free(dx);
}

static void avg_is_batch_major(void **state)
{
    (void)state;
    /* x (C=2, B=2, HW=2): channel-major in, (B, C) out */
    float x[8] = {1, 3, 10, 20, 5, 7, 0, 2}, y[4];
    pool_avg_forward(y, x, 2, 2, 2);
    assert_float_equal(y[0], 2, 0);  /* n0 c0 */
    assert_float_equal(y[1], 6, 0);  /* n0 c1 */
    assert_float_equal(y[2], 15, 0); /* n1 c0 */
    assert_float_equal(y[3], 1, 0);  /* n1 c1 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(max_values_and_padding),
        cmocka_unit_test(gradients),
        cmocka_unit_test(avg_is_batch_major),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
