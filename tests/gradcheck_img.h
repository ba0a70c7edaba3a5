/* gradcheck_img.h — central finite differences for the image layers' backward passes.
 * Test-only, header-only. The layers compute in float; the scalar loss a test builds from their
 * outputs is accumulated in double, and steps are large enough (1e-2 of unit-scale inputs)
 * that float rounding stays well under the tolerance.
 */
#ifndef GRADCHECK_IMG_H
#define GRADCHECK_IMG_H

#include <math.h>
#include <stdio.h>
#include <stddef.h>

/* The loss at the current values of whatever the test perturbs. */
typedef double (*GcLossFn)(void *ctx);

/* Sum of y[i] * r[i] in double: a loss whose gradient with respect to y is r. */
static inline double gc_dot(const float *y, const float *r, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

/* Compares g[i] (analytic) with (L(x+h) - L(x-h)) / 2h (see below for the step sizes) for up to max_checks indices of x
 * spread over [0, n). Bound: |fd - g| <= atol + rtol * max(|fd|, |g|) with atol a fraction
 * rtol of the largest analytic magnitude. Prints the worst element; returns 1 when all pass. */
static inline int gc_check(const char *what, float *x, const float *g, size_t n,
                           size_t max_checks, GcLossFn loss, void *ctx, double h, double rtol)
{
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fabs(g[i]) > gmax ? fabs(g[i]) : gmax;
    const double atol = rtol * gmax + 1e-6;
    size_t step = n > max_checks ? n / max_checks : 1;
    double worst = 0;
    size_t wi = 0;
    double wfd = 0;
    int ok = 1;
    for (size_t i = (step > 1 ? step / 2 : 0); i < n; i += step) {
        /* A ReLU or max-pool switch inside [x-h, x+h] spoils a difference quotient, float
         * rounding spoils a too-small h: try h, then h/4 and 4h. A wrong analytic gradient
         * fails at every step size. */
        const double steps[3] = {h, h / 4, h * 4};
        double best = INFINITY, best_fd = 0;
        for (int k = 0; k < 3 && best > 1; k++) {
            float keep = x[i];
            x[i] = (float)(keep + steps[k]);
            double hp = (double)x[i] - keep;
            double lp = loss(ctx);
            x[i] = (float)(keep - steps[k]);
            double hm = keep - (double)x[i];
            double lm = loss(ctx);
            x[i] = keep;
            double fd = (lp - lm) / (hp + hm);
            double ratio = fabs(fd - g[i]) / (atol + rtol * fmax(fabs(fd), fabs(g[i])));
            if (!(ratio >= best)) {
                best = ratio;
                best_fd = fd;
            }
        }
        if (!(best <= 1)) ok = 0;
        if (!(best <= worst)) {
            worst = best;
            wi = i;
            wfd = best_fd;
        }
    }
    if (!ok)
        fprintf(stderr, "%s: gradient mismatch at %zu: analytic %.8g, finite difference %.8g "
                        "(%.2fx the bound)\n",
                what, wi, (double)g[wi], wfd, worst);
    return ok;
}

#endif
