/* fusion.c — the linear classifier on concatenated encoder features and the late-fusion average
 * (see fusion.h). It does not own the encoders or decide which gradients reach them: the
 * trainer does, by choosing whether to pass dcxr / dehr on to the encoders' backward passes. */
#include "engine/fusion.h"

#include <string.h>

#include "engine/loss.h"

PsStatus fusion_add_params(FusionHead *f, ParamSet *ps, const char *prefix, int dc, int de,
                           int classes, PsErr *err)
{
    PS_CHECK(err, f && ps && dc >= 0 && de >= 0 && dc + de > 0 && classes > 0);
    memset(f, 0, sizeof *f);
    f->dc = dc;
    f->de = de;
    f->classes = classes;
    return linear_add_params(&f->fc, ps, prefix, dc + de, classes, err);
}

void fusion_init(const FusionHead *f, ParamSet *ps, Rng *rng) { linear_init_uniform(&f->fc, ps, rng); }

void fusion_forward(const FusionHead *f, const float *params, float *cat, float *logits,
                    const float *cxr, const float *ehr, int B)
{
    const int D = f->dc + f->de;
    for (int b = 0; b < B; b++) {
        if (f->dc) memcpy(cat + (size_t)b * D, cxr + (size_t)b * f->dc, (size_t)f->dc * sizeof(float));
        if (f->de)
            memcpy(cat + (size_t)b * D + f->dc, ehr + (size_t)b * f->de, (size_t)f->de * sizeof(float));
    }
    linear_forward(logits, cat, params + f->fc.w, params + f->fc.b, B, D, f->classes);
}

void fusion_backward(const FusionHead *f, const float *params, float *grads, float *dcat,
                     float *dcxr, float *dehr, const float *dlogits, const float *cat, int B)
{
    const int D = f->dc + f->de;
    int want_dx = dcxr || dehr;
    if (want_dx) memset(dcat, 0, (size_t)B * D * sizeof(float));
    linear_backward(want_dx ? dcat : NULL, grads + f->fc.w, grads + f->fc.b, dlogits, cat,
                    params + f->fc.w, B, D, f->classes);
    for (int b = 0; b < B; b++) {
        if (dcxr && f->dc)
            memcpy(dcxr + (size_t)b * f->dc, dcat + (size_t)b * D, (size_t)f->dc * sizeof(float));
        if (dehr && f->de)
            memcpy(dehr + (size_t)b * f->de, dcat + (size_t)b * D + f->dc,
                   (size_t)f->de * sizeof(float));
    }
}

void fusion_dropout(const FusionHead *f, const float *params, float *cat, float *mask,
                    float *logits, int B, float p, Rng *rng)
{
    const int D = f->dc + f->de;
    const size_t n = (size_t)B * D;
    if (p <= 0) {
        for (size_t i = 0; i < n; i++) mask[i] = 1.0f;
        return;
    }
    const float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = rng_uniform(rng) < p ? 0.0f : keep;
        cat[i] *= mask[i];
    }
    linear_forward(logits, cat, params + f->fc.w, params + f->fc.b, B, D, f->classes);
}

void fusion_dropout_backward(const FusionHead *f, const float *mask, float *dcxr, float *dehr,
                             int B)
{
    const int D = f->dc + f->de;
    for (int b = 0; b < B; b++) {
        if (dcxr)
            for (int j = 0; j < f->dc; j++) dcxr[(size_t)b * f->dc + j] *= mask[(size_t)b * D + j];
        if (dehr)
            for (int j = 0; j < f->de; j++)
                dehr[(size_t)b * f->de + j] *= mask[(size_t)b * D + f->dc + j];
    }
}

void fusion_late(float *out, const float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++) {
        float pa, pb;
        loss_sigmoid(&pa, a + i, 1);
        loss_sigmoid(&pb, b + i, 1);
        out[i] = 0.5f * (pa + pb);
    }
}
