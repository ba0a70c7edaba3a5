/* imgprep.c — resize, augmentation, centre crop and normalisation of radiographs
 * (see imgprep.h). Not implemented: colour images (radiographs are gray), other fills,
 * shear (the paper's code sets it to 0), JPEG decoding (store/jpeg.c).
 */
#include "engine/imgprep.h"

#include <math.h>
#include <string.h>

const float imgprep_mean[3] = {0.485f, 0.456f, 0.406f};
const float imgprep_std[3] = {0.229f, 0.224f, 0.225f};

void imgprep_config_default(ImgprepConfig *cfg, int resize, int crop, int augment)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->resize = resize;
    cfg->crop = crop;
    cfg->augment = augment;
    cfg->flip_p = 0.5;
    cfg->max_rotate = 45.0;
    cfg->scale_min = 0.85;
    cfg->scale_max = 1.15;
    cfg->max_translate = 0.15;
}

void imgprep_resized_size(const ImgprepConfig *cfg, int w, int h, int *rw, int *rh)
{
    if (w <= h) {
        *rw = cfg->resize;
        *rh = (int)((long long)cfg->resize * h / w);
    } else {
        *rh = cfg->resize;
        *rw = (int)((long long)cfg->resize * w / h);
    }
}

/* Filter tables: per output position, the first source index, the tap count and up to maxt
 * normalised weights (stored as floats: indices stay far below 2^24). */
static int max_taps(int sn, int dn)
{
    double f = (double)sn / dn, support = f > 1 ? f : 1;
    return (int)ceil(2 * support) + 2;
}

static size_t table_floats(int sn, int dn)
{
    return (size_t)dn * (size_t)(max_taps(sn, dn) + 2);
}

size_t imgprep_resize_tmp_floats(int sw, int sh, int dw, int dh)
{
    return (size_t)dw * sh + table_floats(sw, dw) + table_floats(sh, dh);
}

size_t imgprep_scratch_floats(const ImgprepConfig *cfg, int w, int h)
{
    int rw, rh;
    if (w <= 0 || h <= 0 || cfg->resize <= 0) return 0;
    imgprep_resized_size(cfg, w, h, &rw, &rh);
    return imgprep_resize_tmp_floats(w, h, rw, rh) + (size_t)rw * rh;
}

/* A triangle filter of radius `support` source pixels around each output centre (pixel i
 * spanning [i, i+1)), widened by the reduction factor when shrinking so that every source
 * pixel counts (antialiasing), weights normalised to 1. */
static void make_table(float *tab, int sn, int dn)
{
    const double f = (double)sn / dn, support = f > 1 ? f : 1;
    const int maxt = max_taps(sn, dn);
    for (int i = 0; i < dn; i++) {
        float *t = tab + (size_t)i * (maxt + 2);
        double centre = (i + 0.5) * f;
        int lo = (int)floor(centre - support), hi = (int)ceil(centre + support);
        if (lo < 0) lo = 0;
        if (hi > sn) hi = sn;
        if (hi - lo > maxt) hi = lo + maxt;
        double wsum = 0;
        for (int k = lo; k < hi; k++) {
            double wt = 1.0 - fabs(k + 0.5 - centre) / support;
            wsum += wt > 0 ? wt : 0;
        }
        t[0] = (float)lo;
        t[1] = (float)(hi - lo);
        for (int k = lo; k < hi; k++) {
            double wt = 1.0 - fabs(k + 0.5 - centre) / support;
            t[2 + k - lo] = wsum > 0 && wt > 0 ? (float)(wt / wsum) : 0.0f;
        }
    }
}

/* dst (dw × dh) = resize of the sh rows produced by row(k) (sw values each) through tmp. */
static void resize_rows(float *dst, int dw, int dh, float *tmp, int sw, int sh, const uint8_t *src8,
                        int stride, const float *srcf)
{
    float *htab = tmp + (size_t)dw * sh, *vtab = htab + table_floats(sw, dw);
    const int hmax = max_taps(sw, dw) + 2, vmax = max_taps(sh, dh) + 2;
    make_table(htab, sw, dw);
    make_table(vtab, sh, dh);
    /* horizontal: each output column is a short dot product with its source run */
    for (int y = 0; y < sh; y++) {
        float *out = tmp + (size_t)y * dw;
        for (int x = 0; x < dw; x++) {
            const float *t = htab + (size_t)x * hmax;
            int lo = (int)t[0], n = (int)t[1];
            float acc = 0;
            if (src8) {
                const uint8_t *p = src8 + (size_t)y * stride + lo;
                for (int k = 0; k < n; k++)
                    acc += t[2 + k] * p[k];
                acc *= 1.0f / 255.0f;
            } else {
                const float *p = srcf + (size_t)y * sw + lo;
                for (int k = 0; k < n; k++)
                    acc += t[2 + k] * p[k];
            }
            out[x] = acc;
        }
    }
    /* vertical: each output row is a weighted sum of whole rows (vectorises along x) */
    for (int y = 0; y < dh; y++) {
        const float *t = vtab + (size_t)y * vmax;
        int lo = (int)t[0], n = (int)t[1];
        float *out = dst + (size_t)y * dw;
        for (int x = 0; x < dw; x++)
            out[x] = 0;
        for (int k = 0; k < n; k++) {
            const float wk = t[2 + k], *row = tmp + (size_t)(lo + k) * dw;
            for (int x = 0; x < dw; x++)
                out[x] += wk * row[x];
        }
    }
}

void imgprep_resize(float *dst, int dw, int dh, float *tmp, const float *src, int sw, int sh)
{
    resize_rows(dst, dw, dh, tmp, sw, sh, NULL, 0, src);
}

/* Bilinear sample of img (w×h) at continuous coordinates (x, y) in pixel units where pixel
 * (i, j) is centred at (i + 0.5, j + 0.5); 0 outside. */
static float sample(const float *img, int w, int h, double x, double y)
{
    x -= 0.5;
    y -= 0.5;
    double x0f = floor(x), y0f = floor(y);
    if (x0f < -1 || y0f < -1 || x0f >= w || y0f >= h) return 0.0f;
    int x0 = (int)x0f, y0 = (int)y0f;
    double ax = x - x0f, ay = y - y0f;
    float v00 = 0, v01 = 0, v10 = 0, v11 = 0;
    if (y0 >= 0 && x0 >= 0) v00 = img[(size_t)y0 * w + x0];
    if (y0 >= 0 && x0 + 1 < w) v01 = img[(size_t)y0 * w + x0 + 1];
    if (y0 + 1 < h && x0 >= 0) v10 = img[(size_t)(y0 + 1) * w + x0];
    if (y0 + 1 < h && x0 + 1 < w) v11 = img[(size_t)(y0 + 1) * w + x0 + 1];
    return (float)((1 - ay) * ((1 - ax) * v00 + ax * v01) + ay * ((1 - ax) * v10 + ax * v11));
}

PsStatus imgprep_run(float *out, float *scratch, const uint8_t *gray, int w, int h, int stride,
                     const ImgprepConfig *cfg, Rng *rng, PsErr *err)
{
    PS_CHECK(err, out && scratch && gray && cfg);
    if (w <= 0 || h <= 0 || stride < w || w > 65536 || h > 65536)
        return ps_err(err, PS_ERR_INVALID, "imgprep: image %d×%d (stride %d) is not usable", w, h,
                      stride);
    if (cfg->resize <= 0 || cfg->crop <= 0)
        return ps_err(err, PS_ERR_INVALID, "imgprep: resize %d, crop %d", cfg->resize, cfg->crop);
    if (cfg->augment && !rng)
        return ps_err(err, PS_ERR_INVALID, "imgprep: augmentation needs an Rng");
    int rw, rh;
    imgprep_resized_size(cfg, w, h, &rw, &rh);
    const int S = cfg->crop;
    if (rw < S || rh < S)
        return ps_err(err, PS_ERR_INVALID,
                      "imgprep: crop %d is larger than the resized %d×%d image", S, rw, rh);
    /* the resize reads the 8-bit pixels directly: no float copy of a 3000-pixel radiograph */
    float *img = scratch, *tmp = img + (size_t)rw * rh;
    resize_rows(img, rw, rh, tmp, w, h, gray, stride, NULL);

    /* output pixel (i, j) sits at p = (left + j + .5, top + i + .5) of the resized image; the
     * augmented image is T(flip(img)) with T a rotation+scale about the centre c followed by a
     * translation t, so the value there is flip(img) at c + (sR)⁻¹ (p - c - t). */
    int flip = 0;
    double ang = 0, sc = 1, tx = 0, ty = 0;
    if (cfg->augment) {
        flip = rng_bernoulli(rng, cfg->flip_p);
        ang = (2 * rng_uniform(rng) - 1) * cfg->max_rotate * M_PI / 180.0;
        sc = cfg->scale_min + (cfg->scale_max - cfg->scale_min) * rng_uniform(rng);
        tx = round((2 * rng_uniform(rng) - 1) * cfg->max_translate * rw);
        ty = round((2 * rng_uniform(rng) - 1) * cfg->max_translate * rh);
    }
    const double cx = rw * 0.5, cy = rh * 0.5;
    const int left = (int)lround((rw - S) / 2.0), top = (int)lround((rh - S) / 2.0);
    /* inverse rotation and scale (the angle is drawn symmetrically, so its sign convention does
     * not matter) */
    const double ca = cos(ang) / sc, sa = sin(ang) / sc;
    const size_t plane = (size_t)S * S;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            double px = left + j + 0.5 - cx - tx, py = top + i + 0.5 - cy - ty;
            double x = cx + ca * px - sa * py, y = cy + sa * px + ca * py;
            if (flip) x = rw - x;
            float v = sample(img, rw, rh, x, y);
            for (int ch = 0; ch < 3; ch++)
                out[ch * plane + (size_t)i * S + j] = (v - imgprep_mean[ch]) / imgprep_std[ch];
        }
    return PS_OK;
}
