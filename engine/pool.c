/* pool.c — max pooling with an argmax cache and global average pooling (see pool.h).
 * Not implemented: average pooling with windows, ceil_mode, dilation.
 */
#include "engine/pool.h"

#include <math.h>
#include <string.h>

int pool_out_size(int n, int K, int stride, int pad)
{
    return (n + 2 * pad - K) / stride + 1;
}

/* One output of max pooling over rows [h0, h1) and columns [w0, w1) of the plane xp. The scan
 * keeps the first maximum in row-major order (PyTorch's choice) with selects rather than
 * branches, which a random activation map would mispredict half the time; a NaN, which must win
 * its window as in PyTorch, is only looked for again when one was seen. */
static inline void max_window(const float *xp, int W, int h0, int h1, int w0, int w1, float *y,
                              int32_t *am)
{
    float best = -INFINITY;
    int32_t bi = h0 * W + w0;
    int nan = 0;
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            float v = xp[h * W + w];
            int gt = v > best;
            best = gt ? v : best;
            bi = gt ? h * W + w : bi;
            nan |= v != v;
        }
    if (nan)
        for (int h = h0; h < h1; h++)
            for (int w = w0; w < w1; w++)
                if (isnan(xp[h * W + w])) {
                    *y = xp[h * W + w];
                    *am = h * W + w;
                    return;
                }
    *y = best;
    *am = bi;
}

void pool_max_forward(float *y, int32_t *argmax, const float *x, int C, int B, int H, int W, int K,
                      int stride, int pad)
{
    const int Ho = pool_out_size(H, K, stride, pad), Wo = pool_out_size(W, K, stride, pad);
    for (size_t p = 0; p < (size_t)C * B; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * Ho * Wo;
        int32_t *ap = argmax + p * Ho * Wo;
        for (int oh = 0; oh < Ho; oh++) {
            int h0 = oh * stride - pad, h1 = h0 + K;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int ow = 0; ow < Wo; ow++) {
                int w0 = ow * stride - pad, w1 = w0 + K;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                /* the full 3×3 window (all but the edges of ResNet's pool) with a constant trip
                 * count, so the scan unrolls */
                if (K == 3 && h1 - h0 == 3 && w1 - w0 == 3) {
                    max_window(xp + h0 * W + w0, W, 0, 3, 0, 3, &yp[oh * Wo + ow],
                               &ap[oh * Wo + ow]);
                    ap[oh * Wo + ow] += h0 * W + w0;
                } else {
                    max_window(xp, W, h0, h1, w0, w1, &yp[oh * Wo + ow], &ap[oh * Wo + ow]);
                }
            }
        }
    }
}

void pool_max_backward(float *dx, const float *dy, const int32_t *argmax, int C, int B, int H,
                       int W, int Ho, int Wo)
{
    memset(dx, 0, (size_t)C * B * H * W * sizeof *dx);
    for (size_t p = 0; p < (size_t)C * B; p++) {
        float *dxp = dx + p * H * W;
        const float *dyp = dy + p * Ho * Wo;
        const int32_t *ap = argmax + p * Ho * Wo;
        for (int i = 0; i < Ho * Wo; i++)
            dxp[ap[i]] += dyp[i];
    }
}

void pool_avg_forward(float *y, const float *x, int C, int B, int HW)
{
    for (int c = 0; c < C; c++)
        for (int n = 0; n < B; n++) {
            const float *xp = x + ((size_t)c * B + n) * HW;
            double s = 0;
            for (int i = 0; i < HW; i++)
                s += xp[i];
            y[(size_t)n * C + c] = (float)(s / HW);
        }
}

void pool_avg_backward(float *dx, const float *dy, int C, int B, int HW)
{
    for (int c = 0; c < C; c++)
        for (int n = 0; n < B; n++) {
            float g = dy[(size_t)n * C + c] / (float)HW;
            float *dxp = dx + ((size_t)c * B + n) * HW;
            for (int i = 0; i < HW; i++)
                dxp[i] = g;
        }
}
