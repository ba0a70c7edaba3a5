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
    cfg->threads = 2;
}

/* Registers "<prefix>conv.weight"-style names for a conv + bn pair. */
static PsStatus add_convbn(Resnet *m, ResnetConvBn *u, const char *conv_name, const char *bn_name,
                           int C, int H, int Co, int K, int stride, int pad, PsErr *err)
{
    char name[PARAMS_NAME_MAX];
    PsStatus rc;
    if (conv_shape_init(&u->s, C, H, H, Co, K, stride, pad) != 0)
        return ps_err(err, PS_ERR_INVALID, "resnet: %s: input %d×%d is too small", conv_name, H, H);
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
                if ((rc = add_convbn(m, &blk->ds, cn, bn, C, H, Co, 1, stride, 0, err))) goto fail;
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
    for (size_t i = 0; i < n; i++)
        m->params.w[u->w + i] = (float)(sd * rng_normal(rng));
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
#define TAKE(ptr, count)                                                                           \
    do {                                                                                           \
        if (base) (ptr) = base + off;                                                              \
        off += ((size_t)(count) + 15) / 16 * 16;                                                   \
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
    if (base) w->argmax = (int32_t *)(base + off);
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
    for (int i = 0; i < 4; i++)
        TAKE(w->g[i], biggest);
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
        return ps_err(err, PS_ERR_NOMEM,
                      "resnet: cannot allocate a %.0f MB workspace for %d images", n * 4.0 / 1e6,
                      B);
    w->bn_buf = calloc((size_t)4 * m->feat_dim + 2, sizeof(double));
    if (!w->bn_buf) {
        free(w->slab);
        w->slab = NULL;
        return ps_err(err, PS_ERR_NOMEM, "resnet: out of memory");
    }
    /* touch every page now, so the first training step does not pay the page faults */
    memset(w->slab, 0, n * sizeof(float));
    w->n = n;
    w->cap = B;
    carve(w, m, B, w->slab);
    PsStatus rc = conv_par_new(&w->par, m->cfg.threads, err);
    if (rc) {
        free(w->slab);
        free(w->bn_buf);
        memset(w, 0, sizeof *w);
    }
    return rc;
}

void resnet_work_done(ResnetWork *w)
{
    conv_par_free(w->par);
    free(w->slab);
    free(w->bn_buf);
    memset(w, 0, sizeof *w);
}

/* ---- forward / backward ------------------------------------------------------------------- */

/* Channel-range jobs for the helper threads: every channel is independent in batch norm,
 * pooling and the element-wise passes, so ranges of channels never share memory. */
typedef struct {
    float *y, *mean, *istd, *rm, *rv;
    const float *x, *res, *gamma, *beta;
    size_t L;
    int train, relu;
} BnFwdJob;

static void bn_fwd_job(void *v, int lo, int hi)
{
    BnFwdJob *j = v;
    size_t o = (size_t)lo * j->L;
    batchnorm_forward(j->y + o, j->mean + lo, j->istd + lo, j->rm + lo, j->rv + lo, j->x + o,
                      j->res ? j->res + o : NULL, j->gamma + lo, j->beta + lo, hi - lo, j->L,
                      j->train, j->relu);
}

typedef struct {
    float *dx, *dgamma, *dbeta;
    const float *dy, *y_relu, *x, *mean, *istd, *gamma;
    size_t L;
    int train;
} BnBwdJob;

static void bn_bwd_job(void *v, int lo, int hi)
{
    BnBwdJob *j = v;
    size_t o = (size_t)lo * j->L;
    batchnorm_backward(j->dx + o, j->dgamma + lo, j->dbeta + lo, j->dy + o,
                       j->y_relu ? j->y_relu + o : NULL, j->x + o, j->mean + lo, j->istd + lo,
                       j->gamma + lo, hi - lo, j->L, j->train);
}

typedef struct {
    float *y;
    int32_t *argmax;
    const float *x;
    int B, H, W, Ho, Wo;
} PoolJob;

static void pool_fwd_job(void *v, int lo, int hi)
{
    PoolJob *j = v;
    pool_max_forward(j->y + (size_t)lo * j->B * j->Ho * j->Wo,
                     j->argmax + (size_t)lo * j->B * j->Ho * j->Wo,
                     j->x + (size_t)lo * j->B * j->H * j->W, hi - lo, j->B, j->H, j->W, 3, 2, 1);
}

static void pool_bwd_job(void *v, int lo, int hi)
{
    PoolJob *j = v; /* here y is dx (C,B,H,W) and x is dy (C,B,Ho,Wo) */
    pool_max_backward(
        j->y + (size_t)lo * j->B * j->H * j->W, j->x + (size_t)lo * j->B * j->Ho * j->Wo,
        j->argmax + (size_t)lo * j->B * j->Ho * j->Wo, hi - lo, j->B, j->H, j->W, j->Ho, j->Wo);
}

/* A block's output gradient through its final ReLU (g = 0 where out <= 0), and the identity
 * shortcut's contribution to the input gradient (din += g) when there is no projection. */
typedef struct {
    float *g, *din;
    const float *out;
    size_t L;
} MaskJob;

/* Written as selects (not a conditional store) so that the compiler vectorises them; with din,
 * the identity shortcut's gradient is stored in the same sweep, and the first convolution's
 * input gradient is then added to it (one pass over the block's gradient instead of two). */
static void mask_job(void *v, int lo, int hi)
{
    MaskJob *j = v;
    float *restrict g = j->g;
    const float *restrict out = j->out;
    const size_t a = (size_t)lo * j->L, e = (size_t)hi * j->L;
    if (j->din) {
        float *restrict din = j->din;
        for (size_t i = a; i < e; i++) {
            float m = out[i] > 0.0f ? g[i] : 0.0f;
            g[i] = m;
            din[i] = m;
        }
    } else {
        for (size_t i = a; i < e; i++)
            g[i] = out[i] > 0.0f ? g[i] : 0.0f;
    }
}

/* Synchronised batch norm: the per-channel partial sums of the local shard, summed over
 * processes between the passes (batchnorm.h). The channel passes still run on the helper
 * threads; only the sums go through bn_sync, from this thread. */
typedef struct {
    double *s, *s2;
    const BnFwdJob *f;
    const BnBwdJob *b;
    const double *bmean, *bvar, *gsg, *gsgx;
    double n;
} BnSyncJob;

static void bns_sums_job(void *v, int lo, int hi)
{
    BnSyncJob *j = v;
    batchnorm_sums(j->s + lo, j->f->x + (size_t)lo * j->f->L, hi - lo, j->f->L);
}

static void bns_centred_job(void *v, int lo, int hi)
{
    BnSyncJob *j = v;
    batchnorm_sums_centred(j->s + lo, j->f->x + (size_t)lo * j->f->L, j->f->mean + lo, hi - lo,
                           j->f->L);
}

static void bns_apply_job(void *v, int lo, int hi)
{
    BnSyncJob *j = v;
    const BnFwdJob *f = j->f;
    size_t o = (size_t)lo * f->L;
    batchnorm_forward_given(f->y + o, f->mean + lo, f->istd + lo, f->rm + lo, f->rv + lo, f->x + o,
                            f->res ? f->res + o : NULL, f->gamma + lo, f->beta + lo, j->bmean + lo,
                            j->bvar + lo, j->n, hi - lo, f->L, f->relu);
}

static void bns_grad_sums_job(void *v, int lo, int hi)
{
    BnSyncJob *j = v;
    const BnBwdJob *b = j->b;
    size_t o = (size_t)lo * b->L;
    batchnorm_grad_sums(j->s + lo, j->s2 + lo, b->dy + o, b->y_relu ? b->y_relu + o : NULL,
                        b->x + o, b->mean + lo, hi - lo, b->L);
}

static void bns_grad_apply_job(void *v, int lo, int hi)
{
    BnSyncJob *j = v;
    const BnBwdJob *b = j->b;
    size_t o = (size_t)lo * b->L;
    batchnorm_backward_given(b->dx + o, b->dgamma + lo, b->dbeta + lo, b->dy + o,
                             b->y_relu ? b->y_relu + o : NULL, b->x + o, b->mean + lo,
                             b->istd + lo, b->gamma + lo, j->s + lo, j->s2 + lo, j->gsg + lo,
                             j->gsgx + lo, j->n, hi - lo, b->L);
}

static void bn_sync_forward(ResnetWork *w, const BnFwdJob *f, int C)
{
    double *s = w->bn_buf, *v = w->bn_buf + C + 1;
    BnSyncJob j = {.s = s, .f = f};
    conv_par_for(w->par, bns_sums_job, &j, C);
    s[C] = (double)f->L;
    if (w->bn_sync->sum(w->bn_sync->ctx, s, C + 1)) w->bn_failed = 1;
    const double n = s[C] > 0 ? s[C] : 1;
    for (int c = 0; c < C; c++) {
        s[c] /= n;
        f->mean[c] = (float)s[c]; /* the centre of the second pass, as batchnorm_forward */
    }
    j.s = v;
    conv_par_for(w->par, bns_centred_job, &j, C);
    if (w->bn_sync->sum(w->bn_sync->ctx, v, C)) w->bn_failed = 1;
    for (int c = 0; c < C; c++) v[c] /= n;
    j.bmean = s;
    j.bvar = v;
    j.n = n;
    conv_par_for(w->par, bns_apply_job, &j, C);
}

static void bn_sync_backward(ResnetWork *w, const BnBwdJob *b, int C)
{
    double *ls = w->bn_buf, *ls2 = ls + C, *g = ls + 2 * C; /* g: Σg, Σg·x̂ and the count */
    BnSyncJob j = {.s = ls, .s2 = ls2, .b = b};
    conv_par_for(w->par, bns_grad_sums_job, &j, C);
    memcpy(g, ls, 2 * (size_t)C * sizeof(double));
    g[2 * C] = (double)b->L;
    if (w->bn_sync->sum(w->bn_sync->ctx, g, 2 * C + 1)) w->bn_failed = 1;
    j.gsg = g;
    j.gsgx = g + C;
    j.n = g[2 * C] > 0 ? g[2 * C] : 1;
    conv_par_for(w->par, bns_grad_apply_job, &j, C);
}

static void convbn_forward(Resnet *m, ResnetWork *w, const ResnetConvBn *u, float *z, float *a,
                           float *mean, float *istd, const float *x, const float *res, int B,
                           int train, int relu)
{
    float *P = m->params.w, *Bf = m->buffers.w;
    conv_forward(z, w->col, x, P + u->w, &u->s, B, w->par);
    BnFwdJob j = {a,     mean, istd,         Bf + u->rmean, Bf + u->rvar,
                  z,     res,  P + u->gamma, P + u->beta,   (size_t)B * u->s.Ho * u->s.Wo,
                  train, relu};
    if (train && w->bn_sync) bn_sync_forward(w, &j, u->s.Co);
    else conv_par_for(w->par, bn_fwd_job, &j, u->s.Co);
    if (train) Bf[u->nbt] += 1.0f;
}

PsStatus resnet_forward(Resnet *m, ResnetWork *w, const float *x, int nb, int train, float *logits,
                        float *features, PsErr *err)
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
    convbn_forward(m, w, &m->stem, w->z0, w->a0, w->m0, w->i0, w->x, NULL, B, train, 1);
    PoolJob pj = {w->p0, w->argmax, w->a0, B, m->stem.s.Ho, m->stem.s.Wo, m->pool_h, m->pool_w};
    conv_par_for(w->par, pool_fwd_job, &pj, m->stem.s.Co);
    const float *in = w->p0;
    for (int b = 0; b < m->n_blocks; b++) {
        const ResnetBlock *blk = &m->blocks[b];
        float *res = (float *)in;
        if (blk->has_ds) {
            res = w->g[0]; /* the gradient buffers are free during the forward pass */
            convbn_forward(m, w, &blk->ds, w->blk[b].zd, res, w->blk[b].md, w->blk[b].id, in, NULL,
                           B, train, 0);
        }
        convbn_forward(m, w, &blk->c1, w->blk[b].z1, w->blk[b].a1, w->blk[b].m1, w->blk[b].i1, in,
                       NULL, B, train, 1);
        convbn_forward(m, w, &blk->c2, w->blk[b].z2, w->blk[b].out, w->blk[b].m2, w->blk[b].i2,
                       w->blk[b].a1, res, B, train, 1);
        in = w->blk[b].out;
    }
    pool_avg_forward(w->features, in, m->feat_dim, B, m->feat_hw);
    if (logits) {
        /* logits (B, n_out) = features (B, F) · Wᵀ + b */
        const float *W = m->params.w + m->fc_w, *bias = m->params.w + m->fc_b;
        for (int n = 0; n < B; n++)
            memcpy(logits + (size_t)n * c->n_out, bias, c->n_out * sizeof(float));
        blas_sgemm(0, 1, B, c->n_out, m->feat_dim, 1.0f, w->features, m->feat_dim, W, m->feat_dim,
                   1.0f, logits, c->n_out);
    }
    if (features) memcpy(features, w->features, (size_t)B * m->feat_dim * sizeof(float));
    w->nb = B;
    w->train = train;
    if (w->bn_failed) {
        w->bn_failed = 0;
        return ps_err(err, PS_ERR_IO, "resnet: summing batch-norm statistics over processes failed");
    }
    return PS_OK;
}

/* dz = batch norm backward of dy (masked by y_relu when given), then conv backward:
 * weight gradients accumulate; dx (overwritten or accumulated) when non-NULL. */
static void convbn_backward(Resnet *m, ResnetWork *w, const ResnetConvBn *u, float *dx, int acc_dx,
                            float *dz, const float *dy, const float *y_relu, const float *x,
                            const float *z, const float *mean, const float *istd, int B, int train)
{
    float *P = m->params.w, *G = m->params.g;
    BnBwdJob j = {dz,   G + u->gamma, G + u->beta, dy,           y_relu,
                  z,    mean,         istd,        P + u->gamma, (size_t)B * u->s.Ho * u->s.Wo,
                  train};
    if (train && w->bn_sync) bn_sync_backward(w, &j, u->s.Co);
    else conv_par_for(w->par, bn_bwd_job, &j, u->s.Co);
    conv_backward(dx, G + u->w, w->col, dz, x, P + u->w, &u->s, B, acc_dx, w->par);
}

PsStatus resnet_backward(Resnet *m, ResnetWork *w, const float *dlogits, const float *dfeatures,
                         PsErr *err)
{
    PS_CHECK(err, m && w && (dlogits || dfeatures) && m->params.g);
    if (w->nb <= 0)
        return ps_err(err, PS_ERR_INVALID, "resnet_backward: no forward pass to differentiate");
    const int B = w->nb, F = m->feat_dim, O = m->cfg.n_out, train = w->train;
    float *df = w->dfeatures;
    if (dfeatures)
        memcpy(df, dfeatures, (size_t)B * F * sizeof(float));
    else
        memset(df, 0, (size_t)B * F * sizeof(float));
    if (dlogits) {
        float *gW = m->params.g + m->fc_w, *gb = m->params.g + m->fc_b;
        /* dW += dlogitsᵀ · features ; db += Σ dlogits ; dfeatures += dlogits · W */
        blas_sgemm(1, 0, O, F, B, 1.0f, dlogits, O, w->features, F, 1.0f, gW, F);
        for (int n = 0; n < B; n++)
            for (int o = 0; o < O; o++)
                gb[o] += dlogits[(size_t)n * O + o];
        blas_sgemm(0, 0, B, F, O, 1.0f, dlogits, O, m->params.w + m->fc_w, F, 1.0f, df, F);
    }
    float *Gout = w->g[0], *Din = w->g[1], *T1 = w->g[2], *T2 = w->g[3];
    pool_avg_backward(Gout, df, F, B, m->feat_hw);
    for (int b = m->n_blocks - 1; b >= 0; b--) {
        const ResnetBlock *blk = &m->blocks[b];
        const float *in = b > 0 ? w->blk[b - 1].out : w->p0;
        /* through the block's final ReLU: both branches see the masked gradient */
        MaskJob mj = {Gout, blk->has_ds ? NULL : Din, w->blk[b].out,
                      (size_t)B * blk->c2.s.Ho * blk->c2.s.Wo};
        conv_par_for(w->par, mask_job, &mj, blk->c2.s.Co);
        convbn_backward(m, w, &blk->c2, T2, 0, T1, Gout, NULL, w->blk[b].a1, w->blk[b].z2,
                        w->blk[b].m2, w->blk[b].i2, B, train);
        /* Din already holds the identity shortcut's gradient when there is no projection */
        convbn_backward(m, w, &blk->c1, Din, !blk->has_ds, T2, T2, w->blk[b].a1, in,
                        w->blk[b].z1, w->blk[b].m1, w->blk[b].i1, B, train);
        if (blk->has_ds)
            convbn_backward(m, w, &blk->ds, Din, 1, T1, Gout, NULL, in, w->blk[b].zd, w->blk[b].md,
                            w->blk[b].id, B, train);
        float *t = Gout;
        Gout = Din;
        Din = t;
        /* block b is the first whose parameters were laid out (resnet_init: c1, c2, ds) */
        if (w->grad_ready) w->grad_ready(w->grad_ready_ctx, blk->c1.w);
    }
    /* Gout: gradient of the max-pool output */
    const ConvShape *s0 = &m->stem.s;
    PoolJob pj = {T1, w->argmax, Gout, B, s0->Ho, s0->Wo, m->pool_h, m->pool_w};
    conv_par_for(w->par, pool_bwd_job, &pj, s0->Co);
    convbn_backward(m, w, &m->stem, NULL, 0, T1, T1, w->a0, w->x, w->z0, w->m0, w->i0, B, train);
    if (w->bn_failed) {
        w->bn_failed = 0;
        return ps_err(err, PS_ERR_IO,
                      "resnet: summing batch-norm gradients over processes failed");
    }
    return PS_OK;
}
