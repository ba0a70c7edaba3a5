/* test_jpeg.c — store/jpeg: round trip, hostile input rejected, DCT scaling sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>

#include "store/jpeg.h"
#include "store/rng.h"

static unsigned char *gradient(int w, int h)
{
    unsigned char *p = malloc((size_t)w * (size_t)h);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) p[(size_t)y * w + x] = (unsigned char)((x * 200 / w + y * 55 / h));
    return p;
}

static void encode(const unsigned char *pix, int w, int h, unsigned char **jpg, size_t *n)
{
    PsErr err = {{0}};
    assert_int_equal(jpeg_encode_gray(jpg, n, pix, w, h, 95, &err), PS_OK);
    assert_non_null(*jpg);
    assert_true(*n > 100);
}

static void round_trip(void **state)
{
    (void)state;
    int w = 96, h = 80;
    unsigned char *pix = gradient(w, h), *jpg, *back;
    size_t n;
    encode(pix, w, h, &jpg, &n);
    int bw, bh;
    PsErr err = {{0}};
    assert_int_equal(jpeg_read_size(jpg, n, "t", &bw, &bh, &err), PS_OK);
    assert_int_equal(bw, w);
    assert_int_equal(bh, h);
    assert_int_equal(jpeg_decode_gray(&back, &bw, &bh, jpg, n, 0, 0, "t", &err), PS_OK);
    assert_int_equal(bw, w);
    assert_int_equal(bh, h);
    int worst = 0;
    for (int i = 0; i < w * h; i++) {
        int d = abs((int)back[i] - (int)pix[i]);
        if (d > worst) worst = d;
    }
    assert_true(worst <= 6);
    free(pix);
    free(jpg);
    free(back);
}

static void truncated_rejected(void **state)
{
    (void)state;
    int w = 128, h = 128;
    unsigned char *pix = malloc((size_t)w * h), *jpg, *back = NULL;
    Rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < w * h; i++) pix[i] = (unsigned char)rng_below(&r, 256);
    size_t n;
    encode(pix, w, h, &jpg, &n);
    int bw, bh;
    PsErr err = {{0}};
    PsStatus rc = jpeg_decode_gray(&back, &bw, &bh, jpg, n / 2, 0, 0, "cut.jpg", &err);
    assert_int_equal(rc, PS_ERR_PARSE);
    assert_null(back);
    assert_non_null(strstr(err.msg, "cut.jpg"));
    /* Just the final EOI marker missing is damage too. */
    rc = jpeg_decode_gray(&back, &bw, &bh, jpg, n - 2, 0, 0, "noeoi.jpg", &err);
    assert_int_equal(rc, PS_ERR_PARSE);
    assert_null(back);
    free(pix);
    free(jpg);
}

static void garbage_rejected(void **state)
{
    (void)state;
    unsigned char junk[4096], *back = (unsigned char *)1;
    Rng r;
    rng_seed(&r, 9);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)rng_below(&r, 256);
    int bw, bh;
    PsErr err = {{0}};
    assert_int_equal(jpeg_decode_gray(&back, &bw, &bh, junk, sizeof junk, 0, 0, "junk", &err),
                     PS_ERR_PARSE);
    assert_null(back);
    assert_non_null(strstr(err.msg, "junk"));
    /* A JPEG signature followed by junk. */
    junk[0] = 0xFF, junk[1] = 0xD8, junk[2] = 0xFF, junk[3] = 0xC0;
    assert_int_not_equal(jpeg_decode_gray(&back, &bw, &bh, junk, sizeof junk, 0, 0, "junk", &err),
                         PS_OK);
    assert_null(back);
    assert_int_equal(jpeg_decode_gray(&back, &bw, &bh, junk, 2, 0, 0, "tiny", &err), PS_ERR_PARSE);
}

/* Rewrites the SOF0 frame size of a baseline JPEG. */
static void patch_size(unsigned char *jpg, size_t n, unsigned w, unsigned h)
{
    for (size_t i = 2; i + 9 < n; i++) {
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
            jpg[i + 5] = (unsigned char)(h >> 8), jpg[i + 6] = (unsigned char)h;
            jpg[i + 7] = (unsigned char)(w >> 8), jpg[i + 8] = (unsigned char)w;
            return;
        }
    }
    fail_msg("no SOF0 marker");
}

static void huge_dimensions_rejected(void **state)
{
    (void)state;
    int w = 64, h = 64;
    unsigned char *pix = gradient(w, h), *jpg, *back = NULL;
    size_t n;
    encode(pix, w, h, &jpg, &n);
    int bw, bh;
    PsErr err = {{0}};
    /* Over the per-side cap, and under it but over the pixel cap (30000 x 30000 would be 900 MB
     * of output): both refused from the header, before any pixel buffer exists. */
    unsigned sizes[2][2] = {{65000, 65000}, {30000, 30000}};
    for (int k = 0; k < 2; k++) {
        patch_size(jpg, n, sizes[k][0], sizes[k][1]);
        assert_int_equal(jpeg_read_size(jpg, n, "big.jpg", &bw, &bh, &err), PS_ERR_PARSE);
        assert_non_null(strstr(err.msg, "declares"));
        assert_int_equal(jpeg_decode_gray(&back, &bw, &bh, jpg, n, 0, 0, "big.jpg", &err),
                         PS_ERR_PARSE);
        assert_null(back);
        assert_non_null(strstr(err.msg, "declares"));
    }
    free(pix);
    free(jpg);
}

static void dct_scaling_sizes(void **state)
{
    (void)state;
    int w = 1000, h = 800;
    unsigned char *pix = gradient(w, h), *jpg, *back;
    size_t n;
    encode(pix, w, h, &jpg, &n);
    int bw, bh;
    PsErr err = {{0}};
    struct {
        int min_w, min_h, want_w, want_h;
    } cases[] = {
        {0, 0, 1000, 800},   /* no request: full size */
        {256, 256, 500, 400}, /* 1/4 would give 250 wide: too small, so 1/2 */
        {250, 200, 250, 200}, /* exactly 1/4 */
        {100, 100, 125, 100}, /* 1/8 */
        {900, 10, 1000, 800}, /* nothing smaller is wide enough */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        assert_int_equal(jpeg_decode_gray(&back, &bw, &bh, jpg, n, cases[k].min_w, cases[k].min_h,
                                          "s", &err),
                         PS_OK);
        assert_int_equal(bw, cases[k].want_w);
        assert_int_equal(bh, cases[k].want_h);
        /* the scaled image is still the gradient: left column darker than right */
        assert_true(back[(size_t)(bh / 2) * bw + 2] + 100 < back[(size_t)(bh / 2) * bw + bw - 3]);
        free(back);
    }
    free(pix);
    free(jpg);
}

static void rgb_decodes_to_gray(void **state)
{
    (void)state;
    /* An RGB JPEG of pure red on the left half and pure white on the right. */
    int w = 64, h = 32;
    unsigned char *rgb = malloc((size_t)w * h * 3), *jpg = NULL, *back;
    unsigned long n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = rgb + ((size_t)y * w + x) * 3;
            p[0] = 255;
            p[1] = p[2] = x < w / 2 ? 0 : 255;
        }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &jpg, &n);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = rgb + (size_t)c.next_scanline * w * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    int bw, bh;
    PsErr err = {{0}};
    assert_int_equal(jpeg_decode_gray(&back, &bw, &bh, jpg, n, 0, 0, "rgb", &err), PS_OK);
    assert_int_equal(bw, w);
    /* luma of pure red is 0.299 * 255 = 76 */
    int red = back[(size_t)(h / 2) * w + 8], white = back[(size_t)(h / 2) * w + w - 8];
    assert_in_range(red, 66, 86);
    assert_in_range(white, 245, 255);
    free(rgb);
    free(jpg);
    free(back);
}

static void bad_encode_arguments(void **state)
{
    (void)state;
    unsigned char pix[16] = {0}, *jpg = (unsigned char *)1;
    size_t n;
    PsErr err = {{0}};
    assert_int_equal(jpeg_encode_gray(&jpg, &n, pix, 0, 4, 90, &err), PS_ERR_INVALID);
    assert_null(jpg);
    assert_int_equal(jpeg_encode_gray(&jpg, &n, pix, 4, 4, 0, &err), PS_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(truncated_rejected),
        cmocka_unit_test(garbage_rejected),
        cmocka_unit_test(huge_dimensions_rejected),
        cmocka_unit_test(dct_scaling_sizes),
        cmocka_unit_test(rgb_decodes_to_gray),
        cmocka_unit_test(bad_encode_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
