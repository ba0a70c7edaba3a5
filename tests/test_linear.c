/* test_linear.c — y = x Wᵀ + b: sgemm kernel vs slow twin (and blas_sgemm vs its twin in every
 * transpose combination), finite differences for W, b and x, accumulation semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/blas.h"
#include "engine/linear.h"
#include "gradcheck.h"

enum { N = 7, IN = 9, OUT = 5 };

typedef struct {
    float x[N * IN], w[OUT * IN], b[OUT], y[N * OUT], r[N * OUT];
} Ctx;

static double loss_fn(void *p)
{
    Ctx *c = p;
    linear_forward(c->y, c->x, c->w, c->b, N, IN, OUT);
    double s = 0;
    for (int i = 0; i < N * OUT; i++) s += (double)c->r[i] * c->y[i];
    return s;
}

static void fill(float *p, int n, Rng *rng)
{
    for (int i = 0; i < n; i++) p[i] = (float)rng_normal(rng);
}

static void sgemm_matches_twin(void **state)
{
    (void)state;
    Rng rng;
    rng_seed(&rng, 3);
    enum { M = 13, Nn = 17, K = 11 };
    float A[M * K], Bm[K * Nn], C[M * Nn], Cr[M * Nn];
    fill(A, M * K, &rng);
    fill(Bm, K * Nn, &rng);
    /* rows = 1 takes the matrix-vector path */
    for (int rows = 1; rows <= M; rows += M - 1)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                fill(C, M * Nn, &rng);
                memcpy(Cr, C, sizeof C);
                int lda = ta ? rows : K, ldb = tb ? K : Nn;
                blas_sgemm(ta, tb, rows, Nn, K, 0.5f, A, lda, Bm, ldb, 2.0f, C, Nn);
                blas_sgemm_ref(ta, tb, rows, Nn, K, 0.5f, A, lda, Bm, ldb, 2.0f, Cr, Nn);
                for (int i = 0; i < M * Nn; i++)
                    assert_float_equal(C[i], Cr[i], 1e-5 + 1e-5 * fabsf(Cr[i]));
            }
    /* beta = 0 ignores NaN in C */
    for (int i = 0; i < M * Nn; i++) C[i] = NAN;
    blas_sgemm_ref(0, 0, M, Nn, K, 1.0f, A, K, Bm, Nn, 0.0f, C, Nn);
    for (int i = 0; i < M * Nn; i++) assert_false(isnan(C[i]));
}

static void forward_matches_twin(void **state)
{
    (void)state;
    Ctx c;
    Rng rng;
    rng_seed(&rng, 1);
    fill(c.x, N * IN, &rng);
    fill(c.w, OUT * IN, &rng);
    fill(c.b, OUT, &rng);
    float yr[N * OUT];
    linear_forward(c.y, c.x, c.w, c.b, N, IN, OUT);
    linear_forward_ref(yr, c.x, c.w, c.b, N, IN, OUT);
    for (int i = 0; i < N * OUT; i++) assert_float_equal(c.y[i], yr[i], 1e-5 + 1e-5 * fabsf(yr[i]));
    /* W is (out, in) as in PyTorch: y[0][1] = Σ_i x[0][i] W[1][i] + b[1] */
    double s = c.b[1];
    for (int i = 0; i < IN; i++) s += (double)c.x[i] * c.w[IN + i];
    assert_float_equal(c.y[1], s, 1e-5);
}

static void gradients_match_finite_differences(void **state)
{
    (void)state;
    Ctx c;
    Rng rng;
    rng_seed(&rng, 2);
    fill(c.x, N * IN, &rng);
    fill(c.w, OUT * IN, &rng);
    fill(c.b, OUT, &rng);
    fill(c.r, N * OUT, &rng);
    float dx[N * IN], dw[OUT * IN], db[OUT];
    /* backward accumulates: start from a known non-zero value */
    for (int i = 0; i < N * IN; i++) dx[i] = 1.0f;
    for (int i = 0; i < OUT * IN; i++) dw[i] = 1.0f;
    for (int i = 0; i < OUT; i++) db[i] = 1.0f;
    loss_fn(&c);
    linear_backward(dx, dw, db, c.r, c.x, c.w, N, IN, OUT);
    for (int i = 0; i < N * IN; i++) dx[i] -= 1.0f;
    for (int i = 0; i < OUT * IN; i++) dw[i] -= 1.0f;
    for (int i = 0; i < OUT; i++) db[i] -= 1.0f;
    assert_true(gradcheck("linear W", c.w, dw, OUT * IN, 1000, loss_fn, &c, 1e-2, 1e-4, 1e-3));
    assert_true(gradcheck("linear b", c.b, db, OUT, 1000, loss_fn, &c, 1e-2, 1e-4, 1e-3));
    assert_true(gradcheck("linear x", c.x, dx, N * IN, 1000, loss_fn, &c, 1e-2, 1e-4, 1e-3));
}

static void names_follow_pytorch(void **state)
{
    (void)state;
    ParamSet ps;
    Linear l;
    PsErr err;
    params_init(&ps);
    assert_int_equal(linear_add_params(&l, &ps, "fc.", 256, 25, &err), PS_OK);
    int w = params_find(&ps, "fc.weight"), b = params_find(&ps, "fc.bias");
    assert_true(w >= 0 && b >= 0);
    assert_int_equal(ps.info[w].shape[0], 25);
    assert_int_equal(ps.info[w].shape[1], 256);
    assert_int_equal(ps.info[b].numel, 25);
    assert_int_equal(linear_add_params(&l, &ps, "fc.", 256, 0, &err), PS_ERR_INVALID);
    params_free(&ps);
}

static void threads_are_set(void **state)
{
    (void)state;
    assert_int_equal(blas_set_threads(1), 1);
    assert_int_equal(blas_get_threads(), 1);
    assert_int_equal(blas_set_threads(0), 1); /* clamped, never "all cores" by accident */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgemm_matches_twin),
        cmocka_unit_test(forward_matches_twin),
        cmocka_unit_test(gradients_match_finite_differences),
        cmocka_unit_test(names_follow_pytorch),
        cmocka_unit_test(threads_are_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
