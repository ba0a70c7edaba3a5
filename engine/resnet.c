/* resnet.c — ResNet-34 forward/backward over CNHW activations (see resnet.h).
 *
 * Per convolution + batch norm the forward pass keeps the convolution output z (batch norm's
 * backward needs it) and the normalised, activated output a (the next convolution's input and
 * the ReLU mask). The residual sum of a block is fused into its second batch norm.
 * Not implemented: Bottleneck blocks (ResNet-50+), dilation, zero_init_residual, the input
 * gradient (nothing upstream of the image needs it).
 */
#include "engine/resnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/batchnorm.h"
#include "engine/blas.h"
#include "engine/pool.h"

void resnet_config_default(ResnetConfig *cfg, int size, int n_out)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->layers[0] = 3;
    cfg->layers[1] = 4;
    cfg->layers[2] = 6;
    cfg->layers[3] = 3;
    cfg->width = 64;
    cfg->in_ch = 3;
    cfg->size = size;
    cfg->n_out = n_out;
}

/* Registers "<prefix>conv.weight"-style names for a conv + bn pair. */
static PsStatus add_convbn(Resnet *m, ResnetConvBn *u, const char *conv_name, const char *bn_name,
                           int C, int H, int Co, int K, int stride, int pad, PsErr *err)
{
    char name[PARAMS_NAME_MAX];
    PsStatus rc;
    if (conv_shape_init(&u->s, C, H, H, Co, K, stride, pad) != 0)
        return ps_err(err, PS_ERR_INVALID, "resnet: %s: input %d×%d is too small", conv_name, H,
                      H);
    int64_t wshape[4] = {Co, C, K, K}, cshape[1] = {Co};
    snprintf(name, sizeof name, "%s.weight", conv_name);
    if ((rc = params_add(&m->params, name, 4, wshape, &u->w, err))) return rc;
    snprintf(name, sizeof name, "%s.weight", bn_name);
    if ((rc = params_add(&m->params, name, 1, cshape, &u->gamma, err))) return rc;
    snprintf(name, sizeof name, "%s.bias", bn_name);
    if ((rc = params_add(&m->params, name, 1, cshape, &u->beta, err))) return rc;
    snprintf(name, sizeof name, "%s.running_mean", bn_name);
    if ((rc = params_add(&m->buffers, name, 1, cshape, &u->rmean, err))) return rc;
    snprintf(name, sizeof name, "%s.running_var", bn_name);
    if ((rc = params_add(&m->buffers, name, 1, cshape, &u->rvar, err))) return rc;
    snprintf(name, sizeof name, "%s.num_batches_tracked", bn_name);
    return params_add(&m->buffers, name, 0, cshape, &u->nbt, err);
}

PsStatus resnet_init(Resnet *m, const ResnetConfig *cfg, PsErr *err)
{
    PsStatus rc = PS_OK;
    memset(m, 0, sizeof *m);
    params_init(&m->params);
    params_init(&m->buffers);
    PS_CHECK(err, cfg && cfg->width > 0 && cfg->in_ch > 0 && cfg->size > 0 && cfg->n_out > 0);
    int total = 0;
    for (int s = 0; s < RESNET_STAGES; s++) {
        PS_CHECK(err, cfg->layers[s] > 0);
        total += cfg->layers[s];
    }
    if (total > RESNET_MAX_BLOCKS)
        return ps_err(err, PS_ERR_INVALID, "resnet: %d blocks, at most %d", total,
                      RESNET_MAX_BLOCKS);
    m->cfg = *cfg;
    const int w0 = cfg->width;
    if ((rc = add_convbn(m, &m->stem, "conv1", "bn1", cfg->in_ch, cfg->size, w0, 7, 2, 3, err)))
        goto fail;
    m->pool_h = m->pool_w = pool_out_size(m->stem.s.Ho, 3, 2, 1);
    if (m->pool_h <= 0) {
        rc = ps_err(err, PS_ERR_INVALID, "resnet: input %d is too small", cfg->size);
        goto fail;
    }
    int C = w0, H = m->pool_h;
    for (int s = 0; s < RESNET_STAGES; s++) {
        int Co = w0 << s;
        for (int b = 0; b < cfg->layers[s]; b++) {
            ResnetBlock *blk = &m->blocks[m->n_blocks++];
            int stride = (s > 0 && b == 0) ? 2 : 1;
            char cn[64], bn[64];
            snprintf(cn, sizeof cn, "layer%d.%d.conv1", s + 1, b);
            snprintf(bn, sizeof bn, "layer%d.%d.bn1", s + 1, b);
            if ((rc = add_convbn(m, &blk->c1, cn, bn, C, H, Co, 3, stride, 1, err))) goto fail;
            int Ho = blk->c1.s.Ho;
            snprintf(cn, sizeof cn, "layer%d.%d.conv2", s + 1, b);
            snprintf(bn, sizeof bn, "layer%d.%d.bn2", s + 1, b);
            if ((rc = add_convbn(m, &blk->c2, cn, bn, Co, Ho, Co, 3, 1, 1, err))) goto fail;
            if (stride != 1 || C != Co) {
                blk->has_ds = 1;
                snprintf(cn, sizeof cn, "layer%d.%d.downsample.0", s + 1, b);
                snprintf(bn, sizeof bn, "layer%d.%d.downsample.1", s + 1, b);
                if ((rc = add_convbn(m, &blk->ds, cn, bn, C, H, Co, 1, stride, 0, err)))
                    goto fail;
            }
            C = Co;
            H = Ho;
        }
    }
    m->feat_dim = C;
    m->feat_hw = H * H;
    int64_t fw[2] = {cfg->n_out, C}, fb[1] = {cfg->n_out};
    if ((rc = params_add(&m->params, "fc.weight", 2, fw, &m->fc_w, err))) goto fail;
    if ((rc = params_add(&m->params, "fc.bias", 1, fb, &m->fc_b, err))) goto fail;
    if ((rc = params_alloc(&m->params, 1, err))) goto fail;
    if ((rc = params_alloc(&m->buffers, 0, err))) goto fail;
    return PS_OK;
fail:
    resnet_done(m);
    return rc;
}

void resnet_done(Resnet *m)
{
    params_free(&m->params);
    params_free(&m->buffers);
}

static void init_convbn(Resnet *m, const ResnetConvBn *u, Rng *rng)
{
    const ConvShape *s = &u->s;
    /* kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / (Co*K*K)) */
    double sd = sqrt(2.0 / ((double)s->Co * s->K * s->K));
    size_t n = (size_t)s->Co * s->C * s->K * s->K;
    for (size_t i = 0; i < n; i++) m->params.w[u->w + i] = (float)(sd * rng_normal(rng));
    for (int c = 0; c < s->Co; c++) {
        m->params.w[u->gamma + c] = 1.0f;
        m->params.w[u->beta + c] = 0.0f;
        m->buffers.w[u->rmean + c] = 0.0f;
        m->buffers.w[u->rvar + c] = 1.0f;
    }
    m->buffers.w[u->nbt] = 0.0f;
}

void resnet_init_weights(Resnet *m, Rng *rng)
{
    init_convbn(m, &m->stem, rng);
    for (int b = 0; b < m->n_blocks; b++) {
        init_convbn(m, &m->blocks[b].c1, rng);
        init_convbn(m, &m->blocks[b].c2, rng);
        if (m->blocks[b].has_ds) init_convbn(m, &m->blocks[b].ds, rng);
    }
    double bound = 1.0 / sqrt((double)m->feat_dim);
    size_t n = (size_t)m->cfg.n_out * m->feat_dim;
    for (size_t i = 0; i < n; i++)
        m->params.w[m->fc_w + i] = (float)(bound * (2.0 * rng_uniform(rng) - 1.0));
    for (int i = 0; i < m->cfg.n_out; i++)
        m->params.w[m->fc_b + i] = (float)(bound * (2.0 * rng_uniform(rng) - 1.0));
}

/* ---- workspace ---------------------------------------------------------------------------- */

static size_t out_floats(const ConvShape *s, int B)
{
    return (size_t)s->Co * B * s->Ho * s->Wo;
}

/* Walks the workspace layout; with base == NULL it only counts. Every piece is 64-byte aligned. */
static size_t carve(ResnetWork *w, const Resnet *m, int B, float *base)
{
    size_t off = 0;
#define TAKE(ptr, count)                                                                          \
    do {                                                                                          \
        if (base) (ptr) = base + off;                                                             \
        off += ((size_t)(count) + 15) / 16 * 16;                                                  \
    } while (0)
    const ResnetConfig *c = &m->cfg;
    float *ignore = NULL;
    TAKE(w->x, (size_t)c->in_ch * B * c->size * c->size);
    size_t stem = out_floats(&m->stem.s, B);
    TAKE(w->z0, stem);
    TAKE(w->a0, stem);
    TAKE(w->m0, m->stem.s.Co);
    TAKE(w->i0, m->stem.s.Co);
    size_t pooled = (size_t)m->stem.s.Co * B * m->pool_h * m->pool_w;
    TAKE(w->p0, pooled);
    if (base)
        w->argmax = (int32_t *)(base + off);
    TAKE(ignore, pooled); /* int32 and float have the same size */
    size_t biggest = stem, col = conv_col_floats(&m->stem.s, B);
    for (int b = 0; b < m->n_blocks; b++) {
        const ResnetBlock *blk = &m->blocks[b];
        size_t n = out_floats(&blk->c1.s, B);
        int Co = blk->c1.s.Co;
        TAKE(w->blk[b].z1, n);
        TAKE(w->blk[b].a1, n);
        TAKE(w->blk[b].z2, n);
        TAKE(w->blk[b].out, n);
        TAKE(w->blk[b].m1, Co);
        TAKE(w->blk[b].i1, Co);
        TAKE(w->blk[b].m2, Co);
        TAKE(w->blk[b].i2, Co);
        if (blk->has_ds) {
            TAKE(w->blk[b].zd, n);
            TAKE(w->blk[b].md, Co);
            TAKE(w->blk[b].id, Co);
        }
        size_t cc = conv_col_floats(&blk->c1.s, B);
        if (conv_col_floats(&blk->c2.s, B) > cc) cc = conv_col_floats(&blk->c2.s, B);
        if (blk->has_ds && conv_col_floats(&blk->ds.s, B) > cc) cc = conv_col_floats(&blk->ds.s, B);
        if (cc > col) col = cc;
        if (n > biggest) biggest = n;
        if (pooled > biggest) biggest = pooled;
    }
    TAKE(w->features, (size_t)B * m->feat_dim);
    TAKE(w->dfeatures, (size_t)B * m->feat_dim);
    TAKE(w->col, col);
    for (int i = 0; i < 4; i++) TAKE(w->g[i], biggest);
#undef TAKE
    (void)ignore;
    return off;
}

size_t resnet_work_bytes(const Resnet *m, int B)
{
    ResnetWork tmp;
    memset(&tmp, 0, sizeof tmp);
    return carve(&tmp, m, B, NULL) * sizeof(float);
}

PsStatus resnet_work_init(ResnetWork *w, const Resnet *m, int B, PsErr *err)
{
    memset(w, 0, sizeof *w);
    PS_CHECK(err, m && m->params.w && B > 0);
    size_t n = carve(w, m, B, NULL);
    w->slab = aligned_alloc(64, n * sizeof(float));
    if (!w->slab)
        return ps_err(err, PS_ERR_NOMEM, "resnet: cannot allocate a %.0f MB workspace for %d images",
                      n * 4.0 / 1e6, B);
    /* touch every page now, so the first training step does not pay the page faults */
    memset(w->slab, 0, n * sizeof(float));
    w->n = n;
    w->cap = B;
    carve(w, m, B, w->slab);
    return PS_OK;
}

void resnet_work_done(ResnetWork *w)
{
    free(w->slab);
    memset(w, 0, sizeof *w);
}

/* ---- forward / backward ------------------------------------------------------------------- */

static void convbn_forward(Resnet *m, const ResnetConvBn *u, float *z, float *a, float *mean,
                           float *istd, const float *x, const float *res, float *col, int B,
                           int train, int relu)
{
    float *P = m->params.w, *Bf = m->buffers.w;
    conv_forward(z, col, x, P + u->w, &u->s, B);
    batchnorm_forward(a, mean, istd, Bf + u->rmean, Bf + u->rvar, z, res, P + u->gamma,
                      P + u->beta, u->s.Co, (size_t)B * u->s.Ho * u->s.Wo, train, relu);
    if (train) Bf[u->nbt] += 1.0f;
}

PsStatus resnet_forward(Resnet *m, ResnetWork *w, const float *x, int nb, int train,
                        float *logits, float *features, PsErr *err)
{
    PS_CHECK(err, m && w && w->slab && x && nb > 0);
    if (nb > w->cap)
        return ps_err(err, PS_ERR_INVALID, "resnet_forward: %d images, workspace holds %d", nb,
                      w->cap);
    const ResnetConfig *c = &m->cfg;
    const int B = nb;
    const size_t plane = (size_t)c->size * c->size;
    /* NCHW -> CNHW */
    for (int n = 0; n < B; n++)
        for (int ch = 0; ch < c->in_ch; ch++)
            memcpy(w->x + ((size_t)ch * B + n) * plane, x + ((size_t)n * c->in_ch + ch) * plane,
                   plane * sizeof(float));
    convbn_forward(m, &m->stem, w->z0, w->a0, w->m0, w->i0, w->x, NULL, w->col, B, train, 1);
    pool_max_forward(w->p0, w->argmax, w->a0, m->stem.s.Co, B, m->stem.s.Ho, m->stem.s.Wo, 3, 2,
                     1);
    const float *in = w->p0;
    for (int b = 0; b < m->n_blocks; b++) {
        const ResnetBlock *blk = &m->blocks[b];
        float *res = (float *)in;
        if (blk->has_ds) {
            res = w->g[0]; /* the gradient buffers are free during the forward pass */
            convbn_forward(m, &blk->ds, w->blk[b].zd, res, w->blk[b].md, w->blk[b].id, in, NULL,
                           w->col, B, train, 0);
        }
        convbn_forward(m, &blk->c1, w->blk[b].z1, w->blk[b].a1, w->blk[b].m1, w->blk[b].i1, in,
                       NULL, w->col, B, train, 1);
        convbn_forward(m, &blk->c2, w->blk[b].z2, w->blk[b].out, w->blk[b].m2, w->blk[b].i2,
                       w->blk[b].a1, res, w->col, B, train, 1);
        in = w->blk[b].out;
    }
    pool_avg_forward(w->features, in, m->feat_dim, B, m->feat_hw);
    if (logits) {
        /* logits (B, n_out) = features (B, F) · Wᵀ + b */
        const float *W = m->params.w + m->fc_w, *bias = m->params.w + m->fc_b;
        for (int n = 0; n < B; n++) memcpy(logits + (size_t)n * c->n_out, bias, c->n_out * sizeof(float));
        blas_sgemm(0, 1, B, c->n_out, m->feat_dim, 1.0f,
                    w->features, m->feat_dim, W, m->feat_dim, 1.0f, logits, c->n_out);
    }
    if (features) memcpy(features, w->features, (size_t)B * m->feat_dim * sizeof(float));
    w->nb = B;
    w->train = train;
    return PS_OK;
}

/* dz = batch norm backward of dy (masked by y_relu when given), then conv backward:
 * weight gradients accumulate; dx (overwritten or accumulated) when non-NULL. */
static void convbn_backward(Resnet *m, const ResnetConvBn *u, float *dx, int acc_dx, float *dz,
                            const float *dy, const float *y_relu, const float *x, const float *z,
                            const float *mean, const float *istd, float *col, int B, int train)
{
    float *P = m->params.w, *G = m->params.g;
    batchnorm_backward(dz, G + u->gamma, G + u->beta, dy, y_relu, z, mean, istd, P + u->gamma,
                       u->s.Co, (size_t)B * u->s.Ho * u->s.Wo, train);
    conv_backward(dx, G + u->w, col, dz, x, P + u->w, &u->s, B, acc_dx);
}

PsStatus resnet_backward(Resnet *m, ResnetWork *w, const float *dlogits, const float *dfeatures,
                         PsErr *err)
{
    PS_CHECK(err, m && w && (dlogits || dfeatures) && m->params.g);
    if (w->nb <= 0) return ps_err(err, PS_ERR_INVALID, "resnet_backward: no forward pass to differentiate");
    const int B = w->nb, F = m->feat_dim, O = m->cfg.n_out, train = w->train;
    float *df = w->dfeatures;
    if (dfeatures)
        memcpy(df, dfeatures, (size_t)B * F * sizeof(float));
    else
        memset(df, 0, (size_t)B * F * sizeof(float));
    if (dlogits) {
        float *gW = m->params.g + m->fc_w, *gb = m->params.g + m->fc_b;
        /* dW += dlogitsᵀ · features ; db += Σ dlogits ; dfeatures += dlogits · W */
        blas_sgemm(1, 0, O, F, B, 1.0f, dlogits, O,
                    w->features, F, 1.0f, gW, F);
        for (int n = 0; n < B; n++)
            for (int o = 0; o < O; o++) gb[o] += dlogits[(size_t)n * O + o];
        blas_sgemm(0, 0, B, F, O, 1.0f, dlogits, O,
                    m->params.w + m->fc_w, F, 1.0f, df, F);
    }
    float *Gout = w->g[0], *Din = w->g[1], *T1 = w->g[2], *T2 = w->g[3];
    pool_avg_backward(Gout, df, F, B, m->feat_hw);
    for (int b = m->n_blocks - 1; b >= 0; b--) {
        const ResnetBlock *blk = &m->blocks[b];
        const float *in = b > 0 ? w->blk[b - 1].out : w->p0;
        const size_t n = out_floats(&blk->c2.s, B);
        /* through the block's final ReLU: both branches see the masked gradient */
        const float *out = w->blk[b].out;
        for (size_t i = 0; i < n; i++)
            if (!(out[i] > 0.0f)) Gout[i] = 0.0f;
        convbn_backward(m, &blk->c2, T2, 0, T1, Gout, NULL, w->blk[b].a1, w->blk[b].z2,
                        w->blk[b].m2, w->blk[b].i2, w->col, B, train);
        convbn_backward(m, &blk->c1, Din, 0, T2, T2, w->blk[b].a1, in, w->blk[b].z1,
                        w->blk[b].m1, w->blk[b].i1, w->col, B, train);
        if (blk->has_ds) {
            convbn_backward(m, &blk->ds, Din, 1, T1, Gout, NULL, in, w->blk[b].zd, w->blk[b].md,
                            w->blk[b].id, w->col, B, train);
        } else {
            for (size_t i = 0; i < n; i++) Din[i] += Gout[i];
        }
        float *t = Gout;
        Gout = Din;
        Din = t;
    }
    /* Gout: gradient of the max-pool output */
    const ConvShape *s0 = &m->stem.s;
    pool_max_backward(T1, Gout, w->argmax, s0->Co, B, s0->Ho, s0->Wo, m->pool_h, m->pool_w);
    convbn_backward(m, &m->stem, NULL, 0, T1, T1, w->a0, w->x, w->z0, w->m0, w->i0, w->col, B,
                    train);
    return PS_OK;
}
