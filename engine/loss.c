/* loss.c — sigmoid and BCE-with-logits (see loss.h). No class weights, no pos_weight: the paper
 * and MedFuse use the unweighted loss. */
#include "engine/loss.h"

#include <math.h>

static double sigmoid_d(double z)
{
    // the branch keeps exp's argument non-positive, so neither side overflows
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

void loss_sigmoid(float *p, const float *z, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (float)sigmoid_d(z[i]);
}

double loss_bce_logits(const float *z, const float *y, const float *mask, size_t n)
{
    double s = 0;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (mask && mask[i] == 0) continue;
        double zi = z[i], yi = y[i];
        s += (zi > 0 ? zi : 0) - zi * yi + log1p(exp(-fabs(zi)));
        count++;
    }
    return count ? s / (double)count : 0.0;
}

void loss_bce_logits_backward(float *dz, const float *z, const float *y, const float *mask,
                              size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += !mask || mask[i] != 0;
    double inv = count ? 1.0 / (double)count : 0.0;
    for (size_t i = 0; i < n; i++)
        dz[i] = (mask && mask[i] == 0) ? 0.0f : (float)((sigmoid_d(z[i]) - y[i]) * inv);
}
