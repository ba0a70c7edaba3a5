/* batchnorm.c — BatchNorm2d forward/backward over contiguous channels (see batchnorm.h).
 *
 * Statistics: a 16×112×112 channel has 200 704 values. Sums run in 16 float lanes over blocks
 * of 512 values (vectorisable, and each lane adds only 32 numbers) and the block sums add up
 * in double — as accurate as a double loop, which is latency-bound at one add per 4 cycles.
 * The variance is a second pass around the mean, so nearly-constant channels keep it.
 * Not implemented: affine=False, track_running_stats=False, cumulative (momentum=None)
 * averaging.
 */
#include "engine/batchnorm.h"

#include <math.h>

#define LANES 16
#define BLOCK 512

/* Σ x[i] */
static double sum1(const float *x, size_t n)
{
    double s = 0;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float acc[LANES] = {0};
        for (size_t k = 0; k < BLOCK; k += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += x[i + k + l];
        for (int l = 0; l < LANES; l++)
            s += acc[l];
    }
    for (; i < n; i++)
        s += x[i];
    return s;
}

/* Σ (x[i] - m)² */
static double sumsq_centred(const float *x, size_t n, float m)
{
    double s = 0;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float acc[LANES] = {0};
        for (size_t k = 0; k < BLOCK; k += LANES)
            for (int l = 0; l < LANES; l++) {
                float d = x[i + k + l] - m;
                acc[l] += d * d;
            }
        for (int l = 0; l < LANES; l++)
            s += acc[l];
    }
    for (; i < n; i++)
        s += (double)(x[i] - m) * (x[i] - m);
    return s;
}

/* Σ g[i] and Σ g[i] * (x[i] - m), with g masked where y <= 0 when y is given */
static void sums_grad(double *sg, double *sgx, const float *g, const float *x, const float *y,
                      size_t n, float m)
{
    double a = 0, b = 0;
    size_t i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float ag[LANES] = {0}, ax[LANES] = {0};
        for (size_t k = 0; k < BLOCK; k += LANES)
            for (int l = 0; l < LANES; l++) {
                size_t j = i + k + l;
                float gi = (!y || y[j] > 0.0f) ? g[j] : 0.0f;
                ag[l] += gi;
                ax[l] += gi * (x[j] - m);
            }
        for (int l = 0; l < LANES; l++) {
            a += ag[l];
            b += ax[l];
        }
    }
    for (; i < n; i++) {
        float gi = (!y || y[i] > 0.0f) ? g[i] : 0.0f;
        a += gi;
        b += (double)gi * (x[i] - m);
    }
    *sg = a;
    *sgx = b;
}

void batchnorm_forward(float *y, float *mean, float *invstd, float *run_mean, float *run_var,
                       const float *x, const float *res, const float *gamma, const float *beta,
                       int C, size_t L, int train, int relu)
{
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * L;
        float mu, is;
        if (train) {
            double m = sum1(xc, L) / (double)L;
            /* second pass around the mean: exact enough even when |mean| >> std */
            double v = sumsq_centred(xc, L, (float)m);
            double var = v / (double)L;
            double unbiased = L > 1 ? v / (double)(L - 1) : var;
            run_mean[c] =
                (float)((1.0 - BATCHNORM_MOMENTUM) * run_mean[c] + BATCHNORM_MOMENTUM * m);
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
            for (size_t i = 0; i < L; i++)
                yc[i] = a * xc[i] + b + rc[i];
        else if (relu)
            for (size_t i = 0; i < L; i++) {
                float v = a * xc[i] + b;
                yc[i] = v > 0.0f ? v : 0.0f;
            }
        else
            for (size_t i = 0; i < L; i++)
                yc[i] = a * xc[i] + b;
    }
}

void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                        const float *y_relu, const float *x, const float *mean, const float *invstd,
                        const float *gamma, int C, size_t L, int train)
{
    for (int c = 0; c < C; c++) {
        const size_t off = (size_t)c * L;
        const float *g = dy + off, *xc = x + off, *yr = y_relu ? y_relu + off : NULL;
        const float mu = mean[c], is = invstd[c];
        /* sums of the (masked) output gradient and of its product with xhat */
        double sg, sgx;
        sums_grad(&sg, &sgx, g, xc, yr, L, mu);
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
            for (size_t i = 0; i < L; i++)
                d[i] = (!yr || yr[i] > 0.0f) ? k * g[i] : 0.0f;
        }
    }
}

/* ---- synchronised batch norm (see batchnorm.h) ----------------------------------------------- */

void batchnorm_sums(double *s, const float *x, int C, size_t L)
{
    for (int c = 0; c < C; c++)
        s[c] = sum1(x + (size_t)c * L, L);
}

void batchnorm_sums_centred(double *s, const float *x, const float *mean, int C, size_t L)
{
    for (int c = 0; c < C; c++)
        s[c] = sumsq_centred(x + (size_t)c * L, L, mean[c]);
}

void batchnorm_forward_given(float *y, float *mean, float *invstd, float *run_mean,
                             float *run_var, const float *x, const float *res, const float *gamma,
                             const float *beta, const double *bmean, const double *bvar,
                             double n_total, int C, size_t L, int relu)
{
    for (int c = 0; c < C; c++) {
        const double m = bmean[c], var = bvar[c];
        const double unbiased = n_total > 1 ? var * n_total / (n_total - 1) : var;
        run_mean[c] = (float)((1.0 - BATCHNORM_MOMENTUM) * run_mean[c] + BATCHNORM_MOMENTUM * m);
        run_var[c] =
            (float)((1.0 - BATCHNORM_MOMENTUM) * run_var[c] + BATCHNORM_MOMENTUM * unbiased);
        const float mu = (float)m, is = (float)(1.0 / sqrt(var + BATCHNORM_EPS));
        mean[c] = mu;
        invstd[c] = is;
        const float a = gamma[c] * is, b = beta[c] - mu * a;
        const float *xc = x + (size_t)c * L;
        const float *rc = res ? res + (size_t)c * L : NULL;
        float *yc = y + (size_t)c * L;
        for (size_t i = 0; i < L; i++) {
            float v = a * xc[i] + b + (rc ? rc[i] : 0.0f);
            yc[i] = relu && !(v > 0.0f) ? 0.0f : v;
        }
    }
}

void batchnorm_grad_sums(double *sg, double *sgx, const float *dy, const float *y_relu,
                         const float *x, const float *mean, int C, size_t L)
{
    for (int c = 0; c < C; c++) {
        const size_t off = (size_t)c * L;
        sums_grad(&sg[c], &sgx[c], dy + off, x + off, y_relu ? y_relu + off : NULL, L, mean[c]);
    }
}

void batchnorm_backward_given(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *y_relu, const float *x, const float *mean,
                              const float *invstd, const float *gamma, const double *lsg,
                              const double *lsgx, const double *sg, const double *sgx,
                              double n_total, int C, size_t L)
{
    for (int c = 0; c < C; c++) {
        const size_t off = (size_t)c * L;
        const float *g = dy + off, *xc = x + off, *yr = y_relu ? y_relu + off : NULL;
        const float mu = mean[c], is = invstd[c];
        dgamma[c] += (float)(lsgx[c] * is);
        dbeta[c] += (float)lsg[c];
        const float k = gamma[c] * is;
        const float mg = (float)(sg[c] / n_total), mgx = (float)(sgx[c] * is / n_total);
        float *d = dx + off;
        for (size_t i = 0; i < L; i++) {
            float gi = (!yr || yr[i] > 0.0f) ? g[i] : 0.0f;
            float xh = (xc[i] - mu) * is;
            d[i] = k * (gi - mg - xh * mgx);
        }
    }
}
