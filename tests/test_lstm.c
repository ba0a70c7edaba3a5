/* test_lstm.c — the stacked LSTM: fast packed kernel vs its slow twin, PyTorch's packed-sequence
 * semantics (padding ignored, each sequence's own last step, batch order irrelevant), finite
 * differences for every parameter tensor and the input (with and without dropout), and errors on
 * bad lengths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/lstm.h"
#include "gradcheck.h"

typedef struct {
    Lstm m;
    ParamSet ps;
    LstmWork ws;
    Rng rng;
    float *x, *feat, *r;
    int *len;
    int B, T, train;
} Ctx;

static void ctx_init(Ctx *c, int I, int H, int L, float dropout, int B, int T, const int *len)
{
    PsErr err;
    memset(c, 0, sizeof *c);
    params_init(&c->ps);
    assert_int_equal(lstm_add_params(&c->m, &c->ps, "", I, H, L, dropout, &err), PS_OK);
    assert_int_equal(params_alloc(&c->ps, 1, &err), PS_OK);
    assert_int_equal(lstm_work_init(&c->ws, &c->m, B, T, &err), PS_OK);
    rng_seed(&c->rng, 7);
    lstm_init_uniform(&c->m, &c->ps, &c->rng);
    /* larger weights than the default init, so the gates leave their linear region */
    for (size_t i = 0; i < c->ps.n; i++) c->ps.w[i] *= 2.5f;
    c->B = B;
    c->T = T;
    c->x = calloc((size_t)B * T * I, sizeof(float));
    c->feat = calloc((size_t)B * H, sizeof(float));
    c->r = calloc((size_t)B * H, sizeof(float));
    c->len = calloc((size_t)B, sizeof(int));
    for (int i = 0; i < B * T * I; i++) c->x[i] = (float)rng_normal(&c->rng);
    for (int i = 0; i < B * H; i++) c->r[i] = (float)rng_normal(&c->rng);
    memcpy(c->len, len, (size_t)B * sizeof(int));
}

static void ctx_done(Ctx *c)
{
    free(c->x);
    free(c->feat);
    free(c->r);
    free(c->len);
    lstm_work_done(&c->ws);
    params_free(&c->ps);
}

/* Σ r ⊙ feat, with the dropout masks redrawn from the same seed at every evaluation. */
static double loss_fn(void *p)
{
    Ctx *c = p;
    PsErr err;
    rng_seed(&c->rng, 99);
    PsStatus rc = lstm_forward(&c->ws, c->feat, c->x, c->len, c->B, c->T, &c->m, c->ps.w,
                               c->train, &c->rng, &err);
    assert_int_equal(rc, PS_OK);
    double s = 0;
    for (int i = 0; i < c->B * c->m.hidden; i++) s += (double)c->r[i] * c->feat[i];
    return s;
}

static void matches_slow_twin(void **state)
{
    (void)state;
    const int len[6] = {3, 7, 1, 7, 5, 2}; /* unsorted, ties, a length-1 sequence */
    Ctx c;
    ctx_init(&c, 5, 8, 3, 0.0f, 6, 7, len);
    loss_fn(&c);
    float *ref = calloc(6 * 8, sizeof(float));
    double *scratch = calloc(lstm_ref_scratch_len(&c.m, 7), sizeof(double));
    lstm_forward_ref(ref, c.x, c.len, 6, 7, &c.m, c.ps.w, scratch);
    for (int i = 0; i < 6 * 8; i++) assert_float_equal(c.feat[i], ref[i], 2e-6 + 1e-5 * fabsf(ref[i]));
    /* the packed layout is PyTorch's: batch_sizes per step */
    const int want_bs[7] = {6, 5, 4, 3, 3, 2, 2};
    for (int t = 0; t < 7; t++) assert_int_equal(c.ws.batch_sizes[t], want_bs[t]);
    assert_int_equal(c.ws.N, 3 + 7 + 1 + 7 + 5 + 2);
    free(ref);
    free(scratch);
    ctx_done(&c);
}

static void padding_and_batch_order_do_not_matter(void **state)
{
    (void)state;
    const int len[4] = {2, 5, 3, 5};
    Ctx c;
    ctx_init(&c, 4, 6, 2, 0.0f, 4, 5, len);
    loss_fn(&c);
    float want[4 * 6];
    memcpy(want, c.feat, sizeof want);
    /* garbage in the padding changes nothing */
    for (int b = 0; b < 4; b++)
        for (int t = len[b]; t < 5; t++)
            for (int i = 0; i < 4; i++) c.x[(b * 5 + t) * 4 + i] = 1e3f * (float)(i + 1);
    loss_fn(&c);
    for (int i = 0; i < 4 * 6; i++) assert_float_equal(c.feat[i], want[i], 0);
    /* each sequence alone in a batch of one gives its feature in the batch */
    PsErr err;
    for (int b = 0; b < 4; b++) {
        float f1[6];
        assert_int_equal(lstm_forward(&c.ws, f1, c.x + b * 5 * 4, &len[b], 1, 5, &c.m, c.ps.w, 0,
                                      NULL, &err), PS_OK);
        for (int u = 0; u < 6; u++) assert_float_equal(f1[u], want[b * 6 + u], 1e-6);
    }
    ctx_done(&c);
}

static void check_all_grads(Ctx *c, const char *tag)
{
    PsErr err;
    params_zero_grad(&c->ps);
    loss_fn(c);
    float *dx = calloc((size_t)c->B * c->T * c->m.input, sizeof(float));
    assert_int_equal(lstm_backward(&c->ws, dx, c->r, &c->m, c->ps.w, c->ps.g, &err), PS_OK);
    int ok = 1;
    for (int i = 0; i < c->ps.count; i++) {
        const ParamInfo *pi = &c->ps.info[i];
        char what[160];
        snprintf(what, sizeof what, "%s %s", tag, pi->name);
        ok &= gradcheck(what, c->ps.w + pi->offset, c->ps.g + pi->offset, pi->numel, 60, loss_fn,
                        c, 1e-2, 1e-3, 1e-2);
    }
    char what[160];
    snprintf(what, sizeof what, "%s input", tag);
    ok &= gradcheck(what, c->x, dx, (size_t)c->B * c->T * c->m.input, 80, loss_fn, c, 1e-2, 1e-3,
                    1e-2);
    /* padded steps get no gradient */
    for (int b = 0; b < c->B; b++)
        for (int t = c->len[b]; t < c->T; t++)
            for (int i = 0; i < c->m.input; i++)
                assert_float_equal(dx[((size_t)b * c->T + t) * c->m.input + i], 0, 0);
    free(dx);
    assert_true(ok);
}

static void gradients_match_finite_differences(void **state)
{
    (void)state;
    const int len[5] = {4, 6, 1, 6, 3};
    Ctx c;
    ctx_init(&c, 3, 5, 2, 0.0f, 5, 6, len);
    check_all_grads(&c, "eval");
    ctx_done(&c);
}

static void gradients_with_dropout(void **state)
{
    (void)state;
    const int len[3] = {5, 2, 4};
    Ctx c;
    ctx_init(&c, 3, 4, 3, 0.4f, 3, 5, len);
    c.train = 1;
    check_all_grads(&c, "dropout");
    /* dropout really drops: some mask entries are 0, the rest 1/(1-p) */
    int zeros = 0;
    for (int i = 0; i < c.ws.N * 4; i++) {
        float v = c.ws.mask[0][i];
        assert_true(v == 0.0f || fabsf(v - 1.0f / 0.6f) < 1e-6f);
        zeros += v == 0.0f;
    }
    assert_true(zeros > 0 && zeros < c.ws.N * 4);
    ctx_done(&c);
}

static void backward_accumulates(void **state)
{
    (void)state;
    const int len[2] = {3, 2};
    Ctx c;
    ctx_init(&c, 2, 3, 2, 0.0f, 2, 3, len);
    PsErr err;
    params_zero_grad(&c.ps);
    loss_fn(&c);
    assert_int_equal(lstm_backward(&c.ws, NULL, c.r, &c.m, c.ps.w, c.ps.g, &err), PS_OK);
    float *g1 = malloc(c.ps.n * sizeof(float));
    memcpy(g1, c.ps.g, c.ps.n * sizeof(float));
    assert_int_equal(lstm_backward(&c.ws, NULL, c.r, &c.m, c.ps.w, c.ps.g, &err), PS_OK);
    for (size_t i = 0; i < c.ps.n; i++) assert_float_equal(c.ps.g[i], 2 * g1[i], 1e-6 + 1e-6 * fabsf(g1[i]));
    free(g1);
    ctx_done(&c);
}

static void rejects_bad_lengths(void **state)
{
    (void)state;
    const int len[2] = {3, 2};
    Ctx c;
    ctx_init(&c, 2, 3, 1, 0.0f, 2, 3, len);
    PsErr err;
    int bad[2] = {3, 0};
    assert_int_equal(lstm_forward(&c.ws, c.feat, c.x, bad, 2, 3, &c.m, c.ps.w, 0, NULL, &err),
                     PS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "sequence 1 has length 0"));
    bad[1] = 4;
    assert_int_equal(lstm_forward(&c.ws, c.feat, c.x, bad, 2, 3, &c.m, c.ps.w, 0, NULL, &err),
                     PS_ERR_INVALID);
    assert_int_equal(lstm_forward(&c.ws, c.feat, c.x, len, 3, 3, &c.m, c.ps.w, 0, NULL, &err),
                     PS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "exceeds the workspace"));
    ctx_done(&c);
    /* a workspace without dropout masks refuses a model with dropout, rather than crash */
    Ctx d;
    ctx_init(&d, 2, 3, 2, 0.0f, 2, 3, len);
    Lstm with_dropout = d.m;
    with_dropout.dropout = 0.5f;
    Rng rng;
    rng_seed(&rng, 1);
    assert_int_equal(lstm_forward(&d.ws, d.feat, d.x, len, 2, 3, &with_dropout, d.ps.w, 1, &rng,
                                  &err), PS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "without dropout"));
    ctx_done(&d);
}

static void names_follow_pytorch(void **state)
{
    (void)state;
    ParamSet ps;
    Lstm m;
    PsErr err;
    params_init(&ps);
    assert_int_equal(lstm_add_params(&m, &ps, "lstm.", 76, 16, 2, 0.3f, &err), PS_OK);
    const char *names[] = {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                           "lstm.bias_hh_l0",   "lstm.weight_ih_l1", "lstm.weight_hh_l1",
                           "lstm.bias_ih_l1",   "lstm.bias_hh_l1"};
    for (int i = 0; i < 8; i++) assert_int_equal(params_find(&ps, names[i]), i);
    assert_int_equal(ps.info[0].shape[0], 64);
    assert_int_equal(ps.info[0].shape[1], 76);
    assert_int_equal(ps.info[5].shape[1], 16);
    params_free(&ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_slow_twin),
        cmocka_unit_test(padding_and_batch_order_do_not_matter),
        cmocka_unit_test(gradients_match_finite_differences),
        cmocka_unit_test(gradients_with_dropout),
        cmocka_unit_test(backward_accumulates),
        cmocka_unit_test(rejects_bad_lengths),
        cmocka_unit_test(names_follow_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
