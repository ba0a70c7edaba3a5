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

size_t imgprep_scratch_floats(const ImgprepConfig *cfg, int w, int h)
{
    int rw, rh;
    if (w <= 0 || h <= 0 || cfg->resize <= 0) return 0;
    imgprep_resized_size(cfg, w, h, &rw, &rh);
    /* source as floats, horizontal pass, resized image */
    return (size_t)w * h + (size_t)rw * h + (size_t)rw * rh;
}

/* One output sample along an axis: triangle filter of radius `support` source pixels centred
 * at `centre` (source pixel units, pixel i spanning [i, i+1)), weights normalised. */
static float filter_1d(const float *src, ptrdiff_t step, int n, double centre, double support)
{
    int lo = (int)floor(centre - support), hi = (int)ceil(centre + support);
    if (lo < 0) lo = 0;
    if (hi > n) hi = n;
    double acc = 0, wsum = 0;
    for (int k = lo; k < hi; k++) {
        double wt = 1.0 - fabs(k + 0.5 - centre) / support;
        if (wt <= 0) continue;
        acc += wt * src[k * step];
        wsum += wt;
    }
    return wsum > 0 ? (float)(acc / wsum) : 0.0f;
}

void imgprep_resize(float *dst, int dw, int dh, float *tmp, const float *src, int sw, int sh)
{
    const double fx = (double)sw / dw, fy = (double)sh / dh;
    /* when shrinking, the filter widens with the reduction so every source pixel counts */
    const double sx = fx > 1 ? fx : 1, sy = fy > 1 ? fy : 1;
    for (int y = 0; y < sh; y++)
        for (int x = 0; x < dw; x++)
            tmp[(size_t)y * dw + x] = filter_1d(src + (size_t)y * sw, 1, sw, (x + 0.5) * fx, sx);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            dst[(size_t)y * dw + x] = filter_1d(tmp + x, dw, sh, (y + 0.5) * fy, sy);
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
    if (cfg->augment && !rng) return ps_err(err, PS_ERR_INVALID, "imgprep: augmentation needs an Rng");
    int rw, rh;
    imgprep_resized_size(cfg, w, h, &rw, &rh);
    const int S = cfg->crop;
    if (rw < S || rh < S)
        return ps_err(err, PS_ERR_INVALID, "imgprep: crop %d is larger than the resized %d×%d image",
                      S, rw, rh);
    float *src = scratch, *tmp = src + (size_t)w * h, *img = tmp + (size_t)rw * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) src[(size_t)y * w + x] = gray[(size_t)y * stride + x] / 255.0f;
    imgprep_resize(img, rw, rh, tmp, src, w, h);

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
