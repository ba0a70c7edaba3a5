/* adam.c — the Adam update and gradient clipping over slabs (see adam.h). It keeps no per-tensor
 * state and has no learning-rate schedule: schedules are the trainer's business (it sets
 * cfg->lr before each step). */
#include "engine/adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

AdamConfig adam_defaults(void)
{
    AdamConfig c = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0};
    return c;
}

PsStatus adam_init(Adam *a, size_t n, PsErr *err)
{
    PS_CHECK(err, a);
    memset(a, 0, sizeof *a);
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) / 64 * 64;
    a->m = aligned_alloc(64, bytes);
    a->v = aligned_alloc(64, bytes);
    if (!a->m || !a->v) {
        adam_done(a);
        return ps_err(err, PS_ERR_NOMEM, "adam: cannot allocate moments for %zu parameters", n);
    }
    memset(a->m, 0, bytes);
    memset(a->v, 0, bytes);
    a->n = n;
    return PS_OK;
}

void adam_done(Adam *a)
{
    if (!a) return;
    free(a->m);
    free(a->v);
    memset(a, 0, sizeof *a);
}

void adam_step(Adam *a, const AdamConfig *cfg, float *w, const float *g)
{
    a->step++;
    // bias corrections in double, as torch computes them from Python floats
    const double bc1 = 1.0 - pow((double)cfg->beta1, (double)a->step);
    const double bc2 = 1.0 - pow((double)cfg->beta2, (double)a->step);
    const float step_size = (float)(cfg->lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps, wd = cfg->weight_decay;
    float *m = a->m, *v = a->v;
    for (size_t i = 0; i < a->n; i++) {
        float gi = g[i] + wd * w[i]; // L2 penalty enters the gradient (not AdamW)
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] -= step_size * m[i] / denom;
    }
}

double adam_clip_grad_norm(float *g, size_t n, double max_norm)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    double norm = sqrt(s);
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
        float c = (float)coef;
        for (size_t i = 0; i < n; i++) g[i] *= c;
    }
    return norm;
}
