/* linear.c — fully connected layer forward/backward with sgemm (see linear.h). It does not own
 * parameters or activations and applies no nonlinearity. */
#include "engine/linear.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/blas.h"

PsStatus linear_add_params(Linear *l, ParamSet *ps, const char *prefix, int in, int out,
                           PsErr *err)
{
    PS_CHECK(err, l && ps && prefix && in > 0 && out > 0);
    char name[PARAMS_NAME_MAX];
    int64_t wshape[2] = {out, in}, bshape[1] = {out};
    l->in = in;
    l->out = out;
    snprintf(name, sizeof name, "%sweight", prefix);
    PsStatus rc = params_add(ps, name, 2, wshape, &l->w, err);
    if (rc != PS_OK) return rc;
    snprintf(name, sizeof name, "%sbias", prefix);
    return params_add(ps, name, 1, bshape, &l->b, err);
}

void linear_init_uniform(const Linear *l, ParamSet *ps, Rng *rng)
{
    double k = 1.0 / sqrt((double)l->in);
    float *w = ps->w + l->w, *b = ps->w + l->b;
    for (long i = 0; i < (long)l->out * l->in; i++) w[i] = (float)((2 * rng_uniform(rng) - 1) * k);
    for (int i = 0; i < l->out; i++) b[i] = (float)((2 * rng_uniform(rng) - 1) * k);
}

void linear_forward(float *y, const float *x, const float *w, const float *b, int N, int in,
                    int out)
{
    // broadcast the bias into y, then one GEMM adds x Wᵀ on top of it
    for (int n = 0; n < N; n++) memcpy(y + (long)n * out, b, (size_t)out * sizeof *y);
    blas_sgemm(0, 1, N, out, in, 1.0f, x, in, w, in, 1.0f, y, out);
}

void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, int N, int in, int out)
{
    if (dx) blas_sgemm(0, 0, N, in, out, 1.0f, dy, out, w, in, 1.0f, dx, in);
    blas_sgemm(1, 0, out, in, N, 1.0f, dy, out, x, in, 1.0f, dw, in);
    for (int n = 0; n < N; n++) {
        const float *r = dy + (long)n * out;
        for (int o = 0; o < out; o++) db[o] += r[o];
    }
}

void linear_forward_ref(float *y, const float *x, const float *w, const float *b, int N, int in,
                        int out)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            double s = b[o];
            for (int i = 0; i < in; i++) s += (double)x[(long)n * in + i] * w[(long)o * in + i];
            y[(long)n * out + o] = (float)s;
        }
}
