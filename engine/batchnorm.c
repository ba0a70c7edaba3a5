/* batchnorm.c — BatchNorm2d forward/backward over contiguous channels (see batchnorm.h).
 *
 * Statistics accumulate in double: a 16×112×112 channel has 200 704 values, and a one-pass
 * float sum of squares would lose the variance of nearly-constant channels. Not implemented:
 * affine=False, track_running_stats=False, cumulative (momentum=None) averaging.
 */
#include "engine/batchnorm.h"

#include <math.h>

void batchnorm_forward(float *y, float *mean, float *invstd, float *run_mean, float *run_var,
                       const float *x, const float *res, const float *gamma, const float *beta,
                       int C, size_t L, int train, int relu)
{
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * L;
        float mu, is;
        if (train) {
            double s = 0;
            for (size_t i = 0; i < L; i++) s += xc[i];
            double m = s / (double)L, v = 0;
            /* second pass around the mean: exact enough even when |mean| >> std */
            for (size_t i = 0; i < L; i++) {
                double d = xc[i] - m;
                v += d * d;
            }
            double var = v / (double)L;
            double unbiased = L > 1 ? v / (double)(L - 1) : var;
            run_mean[c] = (float)((1.0 - BATCHNORM_MOMENTUM) * run_mean[c] + BATCHNORM_MOMENTUM * m);
            run_var[c] =
                (float)((1.0 - BATCHNORM_MOMENTUM) * run_var[c] + BATCHNORM_MOMENTUM * unbiased);
            mu = (float)m;
            is = (float)(1.0 / sqrt(var + BATCHNORM_EPS));
        } else {
            mu = run_mean[c];
            is = (float)(1.0 / sqrt((double)run_var[c] + BATCHNORM_EPS));
        }
        mean[c] = mu;
        invstd[c] = is;
        /* y = a*x + b with a = gamma*istd, b = beta - mu*a */
        const float a = gamma[c] * is, b = beta[c] - mu * a;
        float *yc = y + (size_t)c * L;
        const float *rc = res ? res + (size_t)c * L : NULL;
        if (rc && relu)
            for (size_t i = 0; i < L; i++) {
                float v = a * xc[i] + b + rc[i];
                yc[i] = v > 0.0f ? v : 0.0f;
            }
        else if (rc)
            for (size_t i = 0; i < L; i++) yc[i] = a * xc[i] + b + rc[i];
        else if (relu)
            for (size_t i = 0; i < L; i++) {
                float v = a * xc[i] + b;
                yc[i] = v > 0.0f ? v : 0.0f;
            }
        else
            for (size_t i = 0; i < L; i++) yc[i] = a * xc[i] + b;
    }
}

void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                        const float *y_relu, const float *x, const float *mean,
                        const float *invstd, const float *gamma, int C, size_t L, int train)
{
    for (int c = 0; c < C; c++) {
        const size_t off = (size_t)c * L;
        const float *g = dy + off, *xc = x + off, *yr = y_relu ? y_relu + off : NULL;
        const float mu = mean[c], is = invstd[c];
        /* sums of the (masked) output gradient and of its product with xhat */
        double sg = 0, sgx = 0;
        if (yr)
            for (size_t i = 0; i < L; i++) {
                float gi = yr[i] > 0.0f ? g[i] : 0.0f;
                sg += gi;
                sgx += (double)gi * (xc[i] - mu);
            }
        else
            for (size_t i = 0; i < L; i++) {
                sg += g[i];
                sgx += (double)g[i] * (xc[i] - mu);
            }
        sgx *= is;
        dgamma[c] += (float)sgx;
        dbeta[c] += (float)sg;
        float *d = dx + off;
        const float k = gamma[c] * is;
        if (train) {
            /* dx = gamma*istd * (g - mean(g) - xhat * mean(g*xhat)) */
            const float mg = (float)(sg / (double)L), mgx = (float)(sgx / (double)L);
            for (size_t i = 0; i < L; i++) {
                float gi = (!yr || yr[i] > 0.0f) ? g[i] : 0.0f;
                float xh = (xc[i] - mu) * is;
                d[i] = k * (gi - mg - xh * mgx);
            }
        } else {
            for (size_t i = 0; i < L; i++) d[i] = (!yr || yr[i] > 0.0f) ? k * g[i] : 0.0f;
        }
    }
}
