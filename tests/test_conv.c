/* test_conv.c — the im2col/sgemm and Winograd convolutions against their direct-loop twin and
 * against finite differences, for every shape ResNet-34 uses (7×7/2 stem, 3×3/1, 3×3/2,
 * 1×1/2 projection) plus the 1×1/1 path that skips im2col and Winograd's edge tiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine/conv.h"
#include "fixture.h"
#include "gradcheck_img.h"
#include "store/rng.h"

typedef struct {
    int C, H, W, Co, K, stride, pad, B, winograd;
    long panel; /* ConvShape.panel_floats: small ones split the batch into several panels */
    long rows;  /* ConvShape.row_floats: small ones split "same" images into row panels */
} Case;

static const Case cases[] = {
    {3, 11, 11, 5, 7, 2, 3, 2, 0, 0, 0}, /* stem */
    {4, 8, 8, 6, 3, 1, 1, 3, 0, 0, 0},   /* 3×3 stride 1 */
    {4, 9, 9, 6, 3, 2, 1, 2, 0, 0, 0},   /* 3×3 stride 2, odd size */
    {5, 8, 8, 7, 1, 2, 0, 2, 0, 0, 0},   /* downsample projection */
    {5, 6, 7, 3, 1, 1, 0, 2, 0, 0, 0},   /* pointwise, non-square */
    {2, 5, 4, 3, 3, 1, 2, 1, 0, 0, 0},   /* padding larger than needed */
    {3, 6, 5, 4, 5, 1, 2, 2, 0, 0, 0},   /* "same" 5×5: im2col's shifted-plane path, wider edges */
    {2, 2, 3, 3, 5, 1, 2, 2, 0, 0, 0},   /* "same" 5×5 on a map smaller than the kernel */
    {4, 8, 8, 6, 3, 1, 1, 3, 1, 0, 0},   /* Winograd F(2×2, 3×3), even size */
    {3, 7, 5, 4, 3, 1, 1, 2, 1, 0, 0},   /* Winograd with partial edge tiles */
    {5, 1, 1, 2, 3, 1, 1, 2, 1, 0, 0},   /* Winograd on layer4's 1×1 maps at tiny input sizes */
    /* im2col panels of whole images: one per image, and 2 + 1 images (uneven last panel) */
    {3, 11, 11, 5, 7, 2, 3, 3, 0, 1, 0},
    {17, 9, 7, 19, 3, 1, 1, 3, 0, 17 * 9 * 9 * 7 * 2, 0},
    {17, 9, 9, 18, 3, 2, 1, 3, 0, 17 * 9 * 5 * 5 * 2 + 5, 0},
    {5, 8, 8, 7, 1, 2, 0, 3, 0, 1, 0}, /* strided projection, one image per panel */
    /* "same" 3×3 whose input gradient is a convolution of dy: more and fewer outputs than inputs,
     * panels of 2 + 1 images sized by the larger side */
    {3, 6, 6, 8, 3, 1, 1, 3, 0, 8 * 9 * 6 * 6 * 2, 0},
    {8, 5, 7, 3, 3, 1, 1, 3, 0, 8 * 9 * 5 * 7 * 2 + 3, 0},
    /* "same" images in panels of output rows: 2 + 2 + 1 rows of 5 (uneven last), one row each,
     * and a 5×5 whose row panels cut through its two-row padding */
    {3, 5, 6, 4, 3, 1, 1, 3, 0, 0, 4 * 9 * 6 * 2},
    {4, 4, 3, 2, 3, 1, 1, 2, 0, 0, 1},
    {2, 7, 5, 3, 5, 1, 2, 2, 0, 0, 3 * 25 * 5 * 3},
};

static float *randv(Rng *r, size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)rng_normal(r);
    return v;
}

static void to_double(double *d, const float *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
}

static void fast_matches_reference(void **state)
{
    (void)state;
    Rng r;
    PsErr err;
    ConvPar *pool, *team;
    /* three threads: uneven channel splits, and ranges that are empty for small C; two threads:
     * team mode (conv.h), each thread on its own panels of the batch */
    assert_int_equal(conv_par_new(&pool, 3, &err), PS_OK);
    assert_int_equal(conv_par_new(&team, CONV_TEAM_THREADS, &err), PS_OK);
    rng_seed(&r, 1);
    for (size_t k = 0; k < 3 * sizeof cases / sizeof cases[0]; k++) {
        ConvPar *par = k % 3 == 1 ? pool : k % 3 == 2 ? team : NULL;
        const Case *c = &cases[k / 3];
        ConvShape s;
        assert_int_equal(conv_shape_init(&s, c->C, c->H, c->W, c->Co, c->K, c->stride, c->pad), 0);
        s.winograd = c->winograd;
        s.panel_floats = c->panel;
        s.row_floats = c->rows;
        size_t nx = (size_t)c->C * c->B * c->H * c->W, ny = (size_t)c->Co * c->B * s.Ho * s.Wo;
        size_t nw = (size_t)c->Co * c->C * c->K * c->K;
        float *x = randv(&r, nx), *w = randv(&r, nw), *dy = randv(&r, ny);
        float *y = malloc(ny * 4), *yr = malloc(ny * 4),
              *col = malloc((conv_col_floats(&s, c->B) + 1) * 4);
        float *dx = randv(&r, nx), *dxr = malloc(nx * 4), *dw = calloc(nw, 4), *dwr = calloc(nw, 4);
        double *want = malloc((nx > ny ? (nx > nw ? nx : nw) : (ny > nw ? ny : nw)) * sizeof *want);
        conv_forward(y, col, x, w, &s, c->B, par);
        conv_forward_ref(yr, x, w, &s, c->B);
        to_double(want, yr, ny);
        assert_true(fixture_close("conv forward", y, want, ny, 1e-5, 1e-5));
        /* accumulate into a non-zero dx: both must add */
        memcpy(dxr, dx, nx * 4);
        conv_backward(dx, dw, col, dy, x, w, &s, c->B, 1, par);
        conv_backward_ref(dxr, dwr, dy, x, w, &s, c->B, 1);
        to_double(want, dxr, nx);
        assert_true(fixture_close("conv dx (accumulate)", dx, want, nx, 1e-5, 1e-5));
        to_double(want, dwr, nw);
        assert_true(fixture_close("conv dw", dw, want, nw, 1e-4, 1e-5));
        /* overwrite mode ignores what dx held */
        for (size_t i = 0; i < nx; i++)
            dx[i] = 1e6f;
        conv_backward(dx, dw, col, dy, x, w, &s, c->B, 0, par);
        conv_backward_ref(dxr, dwr, dy, x, w, &s, c->B, 0);
        to_double(want, dxr, nx);
        assert_true(fixture_close("conv dx (overwrite)", dx, want, nx, 1e-5, 1e-5));
        free(x), free(w), free(dy), free(y), free(yr), free(col), free(dx), free(dxr), free(dw),
            free(dwr), free(want);
    }
    conv_par_free(pool);
    conv_par_free(team);
}

typedef struct {
    ConvShape s;
    int B;
    float *x, *w, *y, *col, *r;
} Ctx;

static double conv_loss(void *p)
{
    Ctx *c = p;
    conv_forward(c->y, c->col, c->x, c->w, &c->s, c->B, NULL);
    return gc_dot(c->y, c->r, (size_t)c->s.Co * c->B * c->s.Ho * c->s.Wo);
}

static void backward_matches_finite_differences(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 2);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const Case *c = &cases[k];
        Ctx t;
        conv_shape_init(&t.s, c->C, c->H, c->W, c->Co, c->K, c->stride, c->pad);
        t.s.winograd = c->winograd;
        t.s.panel_floats = c->panel;
        t.s.row_floats = c->rows;
        t.B = c->B;
        size_t nx = (size_t)c->C * c->B * c->H * c->W, ny = (size_t)c->Co * c->B * t.s.Ho * t.s.Wo;
        size_t nw = (size_t)c->Co * c->C * c->K * c->K;
        t.x = randv(&r, nx);
        t.w = randv(&r, nw);
        t.r = randv(&r, ny);
        t.y = malloc(ny * 4);
        t.col = malloc((conv_col_floats(&t.s, c->B) + 1) * 4);
        float *dx = malloc(nx * 4), *dw = calloc(nw, 4);
        conv_forward(t.y, t.col, t.x, t.w, &t.s, t.B, NULL);
        conv_backward(dx, dw, t.col, t.r, t.x, t.w, &t.s, t.B, 0, NULL);
        assert_true(gc_check("conv dx", t.x, dx, nx, 60, conv_loss, &t, 1e-2, 1e-3));
        assert_true(gc_check("conv dw", t.w, dw, nw, 60, conv_loss, &t, 1e-2, 1e-3));
        free(t.x), free(t.w), free(t.r), free(t.y), free(t.col), free(dx), free(dw);
    }
}

static void shapes_follow_pytorch(void **state)
{
    (void)state;
    ConvShape s;
    assert_int_equal(conv_shape_init(&s, 3, 224, 224, 64, 7, 2, 3), 0);
    assert_int_equal(s.Ho, 112);
    assert_int_equal(conv_shape_init(&s, 64, 56, 56, 128, 3, 2, 1), 0);
    assert_int_equal(s.Ho, 28);
    assert_int_equal(conv_shape_init(&s, 256, 7, 7, 512, 1, 2, 0), 0);
    assert_int_equal(s.Ho, 4);
    assert_int_equal(conv_shape_init(&s, 3, 2, 2, 4, 7, 1, 0), -1); /* empty output */
    assert_int_equal(conv_shape_init(&s, 0, 8, 8, 4, 3, 1, 1), -1);
    /* Winograd only where it is enabled and applies (3×3, stride 1, padding 1) */
    assert_int_equal(conv_shape_init(&s, 256, 14, 14, 256, 3, 1, 1), 0);
    assert_int_equal(s.winograd, CONV_WINOGRAD_MIN_C > 0 && 256 >= CONV_WINOGRAD_MIN_C);
    assert_int_equal(conv_shape_init(&s, 256, 14, 14, 512, 3, 2, 1), 0);
    assert_false(s.winograd);
}

static void scratch_is_panel_sized(void **state)
{
    (void)state;
    ConvShape s;
    /* per team thread one panel, plus the helpers' weight-gradient partials, plus for "same"
     * 3×3 convolutions the flipped filter their input gradient runs through */
    const size_t T = CONV_TEAM_THREADS;
    /* layer1 at b16/224: not the 29M-float batch matrix, not even one image (1.8M floats), but
     * panels of output rows within the row budget: 4 panels of 14 rows; layer3: as many whole
     * images as fit the panel budget */
    assert_int_equal(conv_shape_init(&s, 64, 56, 56, 64, 3, 1, 1), 0);
    s.winograd = 0;
    assert_true((size_t)64 * 9 * 56 * 56 > CONV_ROW_FLOATS);
    size_t pieces = ((size_t)64 * 9 * 56 * 56 + CONV_ROW_FLOATS - 1) / CONV_ROW_FLOATS;
    size_t rows = (56 + pieces - 1) / pieces;
    assert_int_equal(conv_col_floats(&s, 16), T * 64 * 9 * rows * 56 + T * 64 * 64 * 9);
    s.row_floats = 64 * 9 * 56 * 3; /* a budget of 3 rows: 19 panels of 3 rows */
    assert_int_equal(conv_col_floats(&s, 16), T * 64 * 9 * 3 * 56 + T * 64 * 64 * 9);
    s.row_floats = 1L << 40; /* whole images again */
    assert_int_equal(conv_col_floats(&s, 16), T * 64 * 9 * 56 * 56 + T * 64 * 64 * 9);
    assert_int_equal(conv_shape_init(&s, 256, 14, 14, 256, 3, 1, 1), 0);
    s.winograd = 0;
    size_t img = (size_t)256 * 9 * 14 * 14;
    assert_int_equal(conv_col_floats(&s, 16),
                     T * (CONV_PANEL_FLOATS / img * img) + T * 256 * 256 * 9);
    /* dy's columns share the panel: with more output than input channels they size it */
    assert_int_equal(conv_shape_init(&s, 64, 14, 14, 256, 3, 1, 1), 0);
    s.winograd = 0;
    img = (size_t)256 * 9 * 14 * 14;
    assert_int_equal(conv_col_floats(&s, 16),
                     T * (CONV_PANEL_FLOATS / img * img) + T * 256 * 64 * 9);
    /* a panel never holds less than one image, even when one image exceeds the budget */
    assert_int_equal(conv_shape_init(&s, 3, 224, 224, 64, 7, 2, 3), 0);
    s.panel_floats = 10;
    img = (size_t)3 * 49 * 112 * 112;
    assert_int_equal(conv_col_floats(&s, 16), T * img + (T - 1) * 64 * 3 * 49);
    /* nor more than a thread's share of the batch; a single image needs one slot */
    s.panel_floats = 1L << 40;
    assert_int_equal(conv_col_floats(&s, 4), T * img * ((4 + T - 1) / T) + (T - 1) * 64 * 3 * 49);
    assert_int_equal(conv_col_floats(&s, 1), img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fast_matches_reference),
        cmocka_unit_test(backward_matches_finite_differences),
        cmocka_unit_test(shapes_follow_pytorch),
        cmocka_unit_test(scratch_is_panel_sized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
