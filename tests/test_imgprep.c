/* test_imgprep.c — radiograph preprocessing: ImageNet normalisation of a known gray level,
 * antialiased resizing (no aliasing when shrinking, constants preserved), centre crop geometry
 * on square and portrait images, deterministic augmentation from the caller's Rng, a pure flip
 * mirroring the evaluation image, and clear errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/imgprep.h"

static float *run(const uint8_t *img, int w, int h, const ImgprepConfig *cfg, Rng *rng)
{
    PsErr err;
    float *out = malloc((size_t)3 * cfg->crop * cfg->crop * sizeof *out);
    float *scratch = malloc(imgprep_scratch_floats(cfg, w, h) * sizeof *scratch);
    if (imgprep_run(out, scratch, img, w, h, w, cfg, rng, &err) != PS_OK) fail_msg("%s", err.msg);
    free(scratch);
    return out;
}

static void constant_gray_normalised_per_channel(void **state)
{
    (void)state;
    ImgprepConfig cfg;
    imgprep_config_default(&cfg, 40, 32, 0);
    uint8_t img[50 * 60];
    memset(img, 128, sizeof img);
    float *out = run(img, 50, 60, &cfg, NULL);
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 32 * 32; i++)
            assert_float_equal(out[ch * 1024 + i], (128 / 255.0 - imgprep_mean[ch]) / imgprep_std[ch],
                               1e-5);
    free(out);
}

static void resize_antialiases(void **state)
{
    (void)state;
    /* a one-pixel checkerboard shrunk 4× is mid-gray everywhere, not a moiré */
    enum { N = 64, M = 16 };
    float src[N * N], dst[M * M], tmp[M * N];
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) src[y * N + x] = (float)((x + y) & 1);
    imgprep_resize(dst, M, M, tmp, src, N, N);
    for (int i = 0; i < M * M; i++) assert_float_equal(dst[i], 0.5, 0.02);
    /* upscaling keeps a constant and interpolates a ramp monotonically */
    float ramp[4] = {0, 1, 2, 3}, up[16], t2[16];
    imgprep_resize(up, 16, 1, t2, ramp, 4, 1);
    for (int i = 1; i < 16; i++) assert_true(up[i] >= up[i - 1]);
    assert_float_equal(up[0], 0, 1e-6);
    assert_float_equal(up[15], 3, 1e-6);
}

static void centre_crop_geometry(void **state)
{
    (void)state;
    ImgprepConfig cfg;
    int rw, rh;
    /* portrait 200×400 → 256×512; the crop takes the middle rows */
    imgprep_config_default(&cfg, 256, 224, 0);
    imgprep_resized_size(&cfg, 200, 400, &rw, &rh);
    assert_int_equal(rw, 256);
    assert_int_equal(rh, 512);
    imgprep_resized_size(&cfg, 3000, 2500, &rw, &rh);
    assert_int_equal(rh, 256);
    assert_int_equal(rw, 307);
    /* left half black, right half white, at the final size: the crop splits at column S/2 */
    imgprep_config_default(&cfg, 64, 48, 0);
    uint8_t img[64 * 64];
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) img[y * 64 + x] = x < 32 ? 0 : 255;
    float *out = run(img, 64, 64, &cfg, NULL);
    float black = -imgprep_mean[0] / imgprep_std[0], white = (1 - imgprep_mean[0]) / imgprep_std[0];
    for (int i = 0; i < 48; i++) {
        assert_float_equal(out[i * 48 + 23], black, 1e-5);
        assert_float_equal(out[i * 48 + 24], white, 1e-5);
    }
    free(out);
    /* top half black on a portrait image: the crop sees the middle, so both halves */
    uint8_t tall[32 * 64];
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 32; x++) tall[y * 32 + x] = y < 32 ? 0 : 255;
    imgprep_config_default(&cfg, 32, 32, 0);
    out = run(tall, 32, 64, &cfg, NULL);
    assert_float_equal(out[15 * 32], black, 1e-5);
    assert_float_equal(out[16 * 32], white, 1e-5);
    free(out);
}

static void augmentation_is_seeded(void **state)
{
    (void)state;
    ImgprepConfig cfg;
    imgprep_config_default(&cfg, 48, 40, 1);
    uint8_t img[60 * 50];
    for (int i = 0; i < 60 * 50; i++) img[i] = (uint8_t)((i * 37) % 251);
    Rng a, b, c;
    rng_seed(&a, 9);
    rng_seed(&b, 9);
    rng_seed(&c, 10);
    float *x = run(img, 50, 60, &cfg, &a), *y = run(img, 50, 60, &cfg, &b), *z = run(img, 50, 60, &cfg, &c);
    assert_memory_equal(x, y, 3 * 40 * 40 * sizeof(float));
    assert_memory_not_equal(x, z, 3 * 40 * 40 * sizeof(float));
    /* values stay within the normalised [0, 1] range (black fill included) */
    for (int i = 0; i < 40 * 40; i++)
        assert_true(x[i] >= -imgprep_mean[0] / imgprep_std[0] - 1e-5 &&
                    x[i] <= (1 - imgprep_mean[0]) / imgprep_std[0] + 1e-5);
    free(x), free(y), free(z);
}

static void flip_only_mirrors(void **state)
{
    (void)state;
    ImgprepConfig eval, flip;
    imgprep_config_default(&eval, 32, 32, 0);
    imgprep_config_default(&flip, 32, 32, 1);
    flip.flip_p = 1;
    flip.max_rotate = 0;
    flip.scale_min = flip.scale_max = 1;
    flip.max_translate = 0;
    uint8_t img[32 * 32];
    for (int i = 0; i < 32 * 32; i++) img[i] = (uint8_t)(i * 7);
    Rng r;
    rng_seed(&r, 1);
    float *e = run(img, 32, 32, &eval, NULL), *f = run(img, 32, 32, &flip, &r);
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                assert_float_equal(f[ch * 1024 + y * 32 + x], e[ch * 1024 + y * 32 + 31 - x], 1e-5);
    /* and the evaluation path is the image itself when no resizing is needed */
    for (int i = 0; i < 32 * 32; i++)
        assert_float_equal(e[i], (img[i] / 255.0 - imgprep_mean[0]) / imgprep_std[0], 1e-5);
    free(e), free(f);
}

static void rotation_turns_the_image(void **state)
{
    (void)state;
    /* angles drawn from ±90°: most draws turn a horizontal bar far enough that the middle
     * row is no longer mostly bright */
    ImgprepConfig cfg;
    imgprep_config_default(&cfg, 64, 64, 1);
    cfg.flip_p = 0;
    cfg.scale_min = cfg.scale_max = 1;
    cfg.max_translate = 0;
    cfg.max_rotate = 90;
    uint8_t img[64 * 64];
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++) img[y * 64 + x] = (y >= 28 && y < 36) ? 255 : 0;
    Rng r;
    int turned = 0;
    for (int k = 0; k < 8; k++) {
        rng_seed(&r, (uint64_t)k);
        float *o = run(img, 64, 64, &cfg, &r);
        int bright = 0;
        for (int x = 0; x < 64; x++) bright += o[32 * 64 + x] > 1.0f;
        turned += bright < 40;
        free(o);
    }
    assert_true(turned >= 4);
}

static void errors_are_clear(void **state)
{
    (void)state;
    ImgprepConfig cfg;
    PsErr err;
    float out[3 * 16 * 16], scratch[4096];
    uint8_t img[64] = {0};
    imgprep_config_default(&cfg, 8, 16, 0);
    assert_int_not_equal(imgprep_run(out, scratch, img, 8, 8, 8, &cfg, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "larger than the resized"));
    imgprep_config_default(&cfg, 16, 16, 0);
    assert_int_not_equal(imgprep_run(out, scratch, img, 0, 8, 8, &cfg, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "not usable"));
    imgprep_config_default(&cfg, 16, 16, 1);
    assert_int_not_equal(imgprep_run(out, scratch, img, 8, 8, 8, &cfg, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "Rng"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(constant_gray_normalised_per_channel),
        cmocka_unit_test(resize_antialiases),
        cmocka_unit_test(centre_crop_geometry),
        cmocka_unit_test(augmentation_is_seeded),
        cmocka_unit_test(flip_only_mirrors),
        cmocka_unit_test(rotation_turns_the_image),
        cmocka_unit_test(errors_are_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
