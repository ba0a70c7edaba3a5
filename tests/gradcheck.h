/* gradcheck.h — finite-difference gradient checks for the engine's backward passes.
 *
 * The caller supplies a scalar loss (computed in double from a float forward pass) and the
 * analytic gradient of that loss with respect to a float tensor. Each checked element is moved
 * by ±eps and the central difference (L(p+eps) - L(p-eps)) / 2eps compared with the analytic
 * value under |num - ana| <= atol + rtol * max(|num|, |ana|). The worst element (by excess over
 * its bound) is printed on failure, with its index. Test-only, header-only.
 */
#ifndef GRADCHECK_H
#define GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

typedef double (*GradcheckLoss)(void *ctx);

/* Checks up to max_check elements of p (n), evenly strided and always including the first and
 * last; returns 1 when all are within bounds. p is restored exactly afterwards. */
static inline int gradcheck(const char *what, float *p, const float *analytic, size_t n,
                            size_t max_check, GradcheckLoss loss, void *ctx, double eps,
                            double atol, double rtol)
{
    size_t stride = n > max_check && max_check > 1 ? (n - 1) / (max_check - 1) : 1;
    if (stride == 0) stride = 1;
    double worst = -1, worst_num = 0, worst_ana = 0;
    size_t worst_i = 0, checked = 0;
    int ok = 1;
    for (size_t i = 0; i < n; i += stride) {
        size_t k = (i + stride >= n) ? n - 1 : i; /* make sure the last element is checked */
        float saved = p[k];
        p[k] = (float)(saved + eps);
        double up = loss(ctx);
        double h_up = (double)p[k] - saved; /* the step float actually took */
        p[k] = (float)(saved - eps);
        double down = loss(ctx);
        double h_dn = (double)saved - p[k];
        p[k] = saved;
        double num = (up - down) / (h_up + h_dn);
        double ana = analytic[k];
        double scale = fabs(num) > fabs(ana) ? fabs(num) : fabs(ana);
        double bound = atol + rtol * scale;
        double excess = fabs(num - ana) / bound;
        if (!(fabs(num - ana) <= bound)) ok = 0;
        if (!(excess <= worst)) {
            worst = excess;
            worst_i = k;
            worst_num = num;
            worst_ana = ana;
        }
        checked++;
        if (k == n - 1) break;
    }
    if (!ok)
        fprintf(stderr, "gradcheck %s: FAILED (%zu of %zu elements checked): worst element %zu "
                "numeric %.9g analytic %.9g (%.2fx the bound atol %.1e rtol %.1e)\n",
                what, checked, n, worst_i, worst_num, worst_ana, worst, atol, rtol);
    return ok;
}

#endif
