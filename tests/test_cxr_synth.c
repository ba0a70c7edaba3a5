/* test_cxr_synth.c — synthetic radiographs: deterministic, and every finding shows where a reader
 * (or a CNN) would look for it, by a measurable amount. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/cxr_synth.h"

#define S 512

static unsigned char base_img[S * S], fx_img[S * S];
static CxrGeometry base_geom;

static void draw(unsigned char *pix, uint64_t seed, CxrView view, int finding, float sev,
                 CxrGeometry *g)
{
    CxrSpec sp;
    memset(&sp, 0, sizeof sp);
    sp.seed = seed;
    sp.view = view;
    if (finding >= 0) sp.finding[finding] = sev;
    PsErr err = {{0}};
    assert_int_equal(cxr_synth_draw(pix, S, S, &sp, g, &err), PS_OK);
}

/* Mean of img over the box [u0,u1) x [v0,v1) in fractions of the image. */
static double box_mean(const unsigned char *img, float u0, float u1, float v0, float v1)
{
    int x0 = (int)(u0 * S), x1 = (int)(u1 * S), y0 = (int)(v0 * S), y1 = (int)(v1 * S);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > S) x1 = S;
    if (y1 > S) y1 = S;
    double s = 0;
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) s += img[y * S + x], n++;
    assert_true(n > 0);
    return s / (double)n;
}

static double box_delta(int finding, float u0, float u1, float v0, float v1)
{
    return box_mean(fx_img, u0, u1, v0, v1) - box_mean(base_img, u0, u1, v0, v1);
}

static int setup(void **state)
{
    (void)state;
    draw(base_img, 42, CXR_VIEW_PA, -1, 0, &base_geom);
    return 0;
}

static void deterministic_bytes(void **state)
{
    (void)state;
    static unsigned char a[S * S], b[S * S];
    CxrSpec sp;
    memset(&sp, 0, sizeof sp);
    sp.seed = 123;
    sp.view = CXR_VIEW_AP;
    sp.finding[1] = 0.7f, sp.finding[13] = 1.0f, sp.finding[9] = 0.5f;
    PsErr err = {{0}};
    assert_int_equal(cxr_synth_draw(a, S, S, &sp, NULL, &err), PS_OK);
    assert_int_equal(cxr_synth_draw(b, S, S, &sp, NULL, &err), PS_OK);
    assert_memory_equal(a, b, sizeof a);
    sp.seed = 124;
    assert_int_equal(cxr_synth_draw(b, S, S, &sp, NULL, &err), PS_OK);
    assert_memory_not_equal(a, b, sizeof a);
}

static void anatomy_is_plausible(void **state)
{
    (void)state;
    const CxrGeometry *g = &base_geom;
    assert_true(g->ctr > 0.38f && g->ctr < 0.5f);
    float mid_v = (g->heart_top + 0.25f) / 2; /* upper lung zone */
    /* lungs dark, mediastinum/spine bright, outside the body darkest at the edges */
    double lung_r = box_mean(base_img, g->thorax_left + 0.05f, g->thorax_left + 0.15f, mid_v - 0.03f, mid_v + 0.03f);
    double spine = box_mean(base_img, 0.49f, 0.51f, mid_v - 0.03f, mid_v + 0.03f);
    double heart = box_mean(base_img, (g->heart_left + g->heart_right) / 2 - 0.03f,
                            (g->heart_left + g->heart_right) / 2 + 0.06f, g->heart_top + 0.08f,
                            g->heart_top + 0.14f);
    double abdomen = box_mean(base_img, 0.3f, 0.7f, 0.85f, 0.95f);
    assert_true(lung_r + 40 < spine);
    assert_true(lung_r + 40 < heart);
    assert_true(lung_r + 30 < abdomen);
    assert_true(g->diaphragm_left > g->diaphragm_right); /* the right dome sits higher */
}

static void cardiomegaly_widens_heart(void **state)
{
    (void)state;
    CxrGeometry g;
    draw(fx_img, 42, CXR_VIEW_PA, 1, 1.0f, &g);
    assert_true(g.ctr > 0.55f);
    float vc = (base_geom.heart_top + base_geom.heart_bottom) / 2;
    /* the lung just outside the normal left heart border turns to heart */
    double d = box_delta(1, base_geom.heart_right + 0.01f, base_geom.heart_right + 0.05f, vc - 0.03f, vc + 0.01f);
    assert_true(d > 15);
}

static void enlarged_cardiomediastinum_widens_upper_mediastinum(void **state)
{
    (void)state;
    draw(fx_img, 42, CXR_VIEW_PA, 4, 1.0f, NULL);
    double d = box_delta(4, 0.5f + 0.08f, 0.5f + 0.11f, 0.2f, 0.3f) + box_delta(4, 0.5f - 0.11f, 0.5f - 0.08f, 0.2f, 0.3f);
    assert_true(d / 2 > 15);
}

static void effusion_fills_a_base(void **state)
{
    (void)state;
    draw(fx_img, 42, CXR_VIEW_PA, 9, 1.0f, NULL);
    const CxrGeometry *g = &base_geom;
    double r = box_delta(9, g->thorax_left + 0.02f, g->thorax_left + 0.12f, g->diaphragm_right - 0.04f, g->diaphragm_right + 0.03f);
    double l = box_delta(9, g->thorax_right - 0.12f, g->thorax_right - 0.02f, g->diaphragm_left - 0.04f, g->diaphragm_left + 0.03f);
    assert_true(fmax(r, l) > 20);
    /* and not the apices */
    assert_true(fabs(box_delta(9, 0.2f, 0.8f, 0.15f, 0.3f)) < 1);
}

static void edema_hazes_both_hila(void **state)
{
    (void)state;
    draw(fx_img, 42, CXR_VIEW_PA, 3, 1.0f, NULL);
    double r = box_delta(3, 0.30f, 0.40f, 0.38f, 0.50f), l = box_delta(3, 0.60f, 0.70f, 0.38f, 0.50f);
    assert_true(r > 10 && l > 10);
    /* perihilar more than peripheral-apical */
    assert_true(r > 2 * box_delta(3, 0.15f, 0.22f, 0.18f, 0.24f));
}

/* Largest mean difference over 32 x 32 pixel blocks, and where it is. */
static double max_block_delta(int *bx, int *by)
{
    double best = -1e9;
    for (int y = 0; y < S; y += 32)
        for (int x = 0; x < S; x += 32) {
            double s = 0;
            for (int j = 0; j < 32; j++)
                for (int i = 0; i < 32; i++) s += (double)fx_img[(y + j) * S + x + i] - base_img[(y + j) * S + x + i];
            if (s / 1024 > best) best = s / 1024, *bx = x, *by = y;
        }
    return best;
}

static void opacities_are_local_and_in_the_lungs(void **state)
{
    (void)state;
    const int ks[] = {2, 11, 0, 6, 7}; /* consolidation, pneumonia, atelectasis, lesion, opacity */
    const double need[] = {40, 18, 15, 15, 10};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        draw(fx_img, 42, CXR_VIEW_PA, ks[i], 1.0f, NULL);
        int bx = 0, by = 0;
        double d = max_block_delta(&bx, &by);
        if (d <= need[i]) fail_msg("finding %d: max block delta %.1f <= %.1f", ks[i], d, need[i]);
        float u = (bx + 16) / (float)S, v = (by + 16) / (float)S;
        assert_true(u > base_geom.thorax_left && u < base_geom.thorax_right);
        assert_true(v > 0.1f && v < fmaxf(base_geom.diaphragm_left, base_geom.diaphragm_right) + 0.06f);
    }
}

static void pneumothorax_darkens_a_rim(void **state)
{
    (void)state;
    draw(fx_img, 42, CXR_VIEW_PA, 12, 1.0f, NULL);
    const CxrGeometry *g = &base_geom;
    double r = box_delta(12, g->thorax_left + 0.005f, g->thorax_left + 0.035f, 0.3f, 0.55f);
    double l = box_delta(12, g->thorax_right - 0.035f, g->thorax_right - 0.005f, 0.3f, 0.55f);
    assert_true(fmin(r, l) < -5);
}

static void pleural_thickening_brightens_the_wall(void **state)
{
    (void)state;
    draw(fx_img, 42, CXR_VIEW_PA, 10, 1.0f, NULL);
    const CxrGeometry *g = &base_geom;
    double r = box_delta(10, g->thorax_left, g->thorax_left + 0.02f, 0.3f, 0.55f);
    double l = box_delta(10, g->thorax_right - 0.02f, g->thorax_right, 0.3f, 0.55f);
    assert_true(fmax(r, l) > 15);
}

static void fracture_is_a_small_break(void **state)
{
    (void)state;
    draw(fx_img, 42, CXR_VIEW_PA, 5, 1.0f, NULL);
    long changed = 0;
    for (int i = 0; i < S * S; i++) {
        if (abs((int)fx_img[i] - (int)base_img[i]) > 8) {
            changed++;
            float u = (float)(i % S) / S, v = (float)(i / S) / S;
            assert_true(u > base_geom.thorax_left - 0.03f && u < base_geom.thorax_right + 0.03f);
            assert_true(v > 0.1f && v < 0.75f);
        }
    }
    assert_true(changed > 30);
    assert_true(changed < S * S / 50);
}

static void support_devices_add_bright_lines(void **state)
{
    (void)state;
    draw(fx_img, 42, CXR_VIEW_AP, 13, 1.0f, NULL);
    draw(base_img, 42, CXR_VIEW_AP, -1, 0, NULL);
    long bright = 0;
    for (int i = 0; i < S * S; i++) bright += (int)fx_img[i] - (int)base_img[i] > 40;
    draw(base_img, 42, CXR_VIEW_PA, -1, 0, NULL); /* restore for later tests */
    assert_true(bright > 400);
}

static void no_finding_flag_draws_nothing(void **state)
{
    (void)state;
    draw(fx_img, 42, CXR_VIEW_PA, 8, 1.0f, NULL);
    assert_memory_equal(fx_img, base_img, sizeof fx_img);
}

static void ap_magnifies_heart_and_hyperinflation_lowers_diaphragm(void **state)
{
    (void)state;
    CxrGeometry ap, hyp;
    draw(fx_img, 42, CXR_VIEW_AP, -1, 0, &ap);
    assert_true(ap.ctr > base_geom.ctr * 1.05f);
    CxrSpec sp;
    memset(&sp, 0, sizeof sp);
    sp.seed = 42;
    sp.hyperinflation = 1.0f;
    PsErr err = {{0}};
    assert_int_equal(cxr_synth_draw(fx_img, S, S, &sp, &hyp, &err), PS_OK);
    assert_true(hyp.diaphragm_right > base_geom.diaphragm_right + 0.05f);
    /* where the normal diaphragm was is now dark lung */
    double d = box_delta(-1, base_geom.thorax_left + 0.05f, base_geom.thorax_left + 0.15f,
                         base_geom.diaphragm_right + 0.03f, base_geom.diaphragm_right + 0.06f);
    assert_true(d < -20);
}

static void lateral_view_differs_and_cardiomegaly_shows(void **state)
{
    (void)state;
    static unsigned char lat[S * S], lat_cm[S * S];
    draw(lat, 42, CXR_VIEW_LATERAL, -1, 0, NULL);
    assert_memory_not_equal(lat, base_img, sizeof lat);
    draw(lat_cm, 42, CXR_VIEW_LATERAL, 1, 1.0f, NULL);
    long sum = 0;
    for (int i = 0; i < S * S; i++) sum += (int)lat_cm[i] - (int)lat[i];
    assert_true(sum / (double)(S * S) > 1.0);
}

static void bad_arguments(void **state)
{
    (void)state;
    CxrSpec sp;
    memset(&sp, 0, sizeof sp);
    PsErr err = {{0}};
    assert_int_equal(cxr_synth_draw(fx_img, 32, 32, &sp, NULL, &err), PS_ERR_INVALID);
    sp.view = (CxrView)7;
    assert_int_equal(cxr_synth_draw(fx_img, S, S, &sp, NULL, &err), PS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "view"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deterministic_bytes),
        cmocka_unit_test(anatomy_is_plausible),
        cmocka_unit_test(cardiomegaly_widens_heart),
        cmocka_unit_test(enlarged_cardiomediastinum_widens_upper_mediastinum),
        cmocka_unit_test(effusion_fills_a_base),
        cmocka_unit_test(edema_hazes_both_hila),
        cmocka_unit_test(opacities_are_local_and_in_the_lungs),
        cmocka_unit_test(pneumothorax_darkens_a_rim),
        cmocka_unit_test(pleural_thickening_brightens_the_wall),
        cmocka_unit_test(fracture_is_a_small_break),
        cmocka_unit_test(support_devices_add_bright_lines),
        cmocka_unit_test(no_finding_flag_draws_nothing),
        cmocka_unit_test(ap_magnifies_heart_and_hyperinflation_lowers_diaphragm),
        cmocka_unit_test(lateral_view_differs_and_cardiomegaly_shows),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
