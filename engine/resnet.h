/* resnet.h — ResNet-34 (torchvision topology) as an image encoder: 7×7/2 stem, 3×3/2 max pool,
 * BasicBlock stages [3, 4, 6, 3] with widths w, 2w, 4w, 8w (w = 64 for the real network),
 * global average pool to 8w features, and a fully connected layer to n_out logits.
 *
 * Parameters live in one ParamSet (values + gradients) and batch-norm running statistics in a
 * second one without gradients, both named exactly like torchvision's state dict
 * ("layer2.0.downsample.1.running_var"), so engine/safetensors.c moves them to and from PyTorch.
 * num_batches_tracked is kept as a float scalar (exact up to 2^24 steps); safetensors I/O
 * converts it to and from torch's int64.
 *
 * Everything a forward/backward pass touches lives in a ResnetWork sized once for a batch
 * capacity: no allocation inside a training step. BLAS threads are the caller's choice
 * (blas_set_threads); this module never changes them. The workspace owns cfg.threads - 1
 * helper threads (engine/conv.h ConvPar) for the memory-bound passes.
 *
 * Thread safety: a Resnet + ResnetWork pair is used by one thread at a time.
 */
#ifndef RESNET_H
#define RESNET_H

#include <stddef.h>
#include <stdint.h>

#include "engine/conv.h"
#include "engine/batchnorm.h"
#include "engine/params.h"
#include "store/ps.h"
#include "store/rng.h"

#define RESNET_STAGES 4
#define RESNET_MAX_BLOCKS 32

typedef struct {
    int layers[RESNET_STAGES]; /* BasicBlocks per stage: {3, 4, 6, 3} for ResNet-34 */
    int width;                 /* channels of the stem and layer1 (64); each stage doubles it */
    int in_ch;                 /* input channels (3: grayscale radiographs are replicated) */
    int size;                  /* input height = width in pixels (224 in the paper) */
    int n_out;                 /* logits (14 CheXpert labels) */
    int threads;               /* threads for the passes OpenBLAS does not cover (im2col,
                                * batch norm, pooling), the caller's included; 1 = inline */
} ResnetConfig;

/* ResNet-34 with width 64, 3 input channels, the given input size and outputs, 2 threads. */
void resnet_config_default(ResnetConfig *cfg, int size, int n_out);

/* A convolution followed by its batch norm: offsets into Resnet.params / Resnet.buffers. */
typedef struct {
    ConvShape s;
    size_t w;                /* conv weight (Co, C, K, K) */
    size_t gamma, beta;      /* bn weight, bias (Co) */
    size_t rmean, rvar, nbt; /* bn running_mean, running_var (Co), num_batches_tracked () */
} ResnetConvBn;

typedef struct {
    ResnetConvBn c1, c2, ds; /* ds: the 1×1 projection of the shortcut when has_ds */
    int has_ds;
} ResnetBlock;

typedef struct {
    ResnetConfig cfg;
    ParamSet params;  /* weights with gradients */
    ParamSet buffers; /* batch-norm running statistics, no gradients */
    ResnetConvBn stem;
    int pool_h, pool_w; /* spatial size after the max pool */
    ResnetBlock blocks[RESNET_MAX_BLOCKS];
    int n_blocks;
    int feat_dim, feat_hw; /* 8*width; spatial size of layer4's output (H*W) */
    size_t fc_w, fc_b;     /* fc.weight (n_out, feat_dim), fc.bias (n_out) */
} Resnet;

/* Lays out and allocates (zeroed) parameters and buffers for cfg. Weights are not initialised:
 * call resnet_init_weights or load a checkpoint. On failure m is left freed. */
PsStatus resnet_init(Resnet *m, const ResnetConfig *cfg, PsErr *err);
void resnet_done(Resnet *m);
/* torchvision's initialisation, deterministic from rng: convolutions kaiming-normal
 * (fan_out, ReLU gain), batch norm weight 1 / bias 0, running mean 0 / var 1, fc weight and
 * bias uniform in ±1/sqrt(feat_dim) (nn.Linear's default). */
void resnet_init_weights(Resnet *m, Rng *rng);

/* Activations, statistics and scratch of one forward/backward pass for up to B images. */
typedef struct {
    int cap;                  /* batch capacity */
    int nb;                   /* images in the last forward pass (0 before any) */
    int train;                /* mode of the last forward pass */
    float *slab;              /* one allocation; everything below points into it */
    size_t n;                 /* floats in slab */
    float *x;                 /* (3, B, S, S) input in CNHW */
    float *z0, *a0, *m0, *i0; /* stem conv output, bn+relu output, bn cache */
    float *p0;                /* max-pool output */
    int32_t *argmax;
    struct {
        float *z1, *a1, *m1, *i1, *z2, *m2, *i2, *zd, *md, *id, *out;
    } blk[RESNET_MAX_BLOCKS];
    float *features;  /* (B, feat_dim) */
    float *dfeatures; /* (B, feat_dim) scratch */
    float *col;       /* im2col scratch */
    float *g[4];      /* gradient / temporary buffers of the largest activation size */
    ConvPar *par;     /* helper threads */
    /* synchronised batch norm (data-parallel training, --sync-bn): when set, train-mode batch
     * statistics and their gradients are summed over processes through bn_sync->sum */
    const BatchnormSync *bn_sync;
    double *bn_buf;   /* 4 * feat_dim + 2 doubles of partial sums */
    int bn_failed;    /* a bn_sync->sum call failed during the last pass */
    /* data-parallel training: when set, backward calls grad_ready(grad_ready_ctx, from) each
     * time the gradients from params offset `from` to the slab's end are final (the slab holds
     * the stem, the blocks in order, then fc, and backward runs the other way), so their
     * all-reduce can start while backward goes on */
    void (*grad_ready)(void *ctx, size_t from);
    void *grad_ready_ctx;
} ResnetWork;

/* Sizes and allocates a workspace for batches of up to B images. Returns PS_ERR_NOMEM with
 * the size in the message when it cannot. */
PsStatus resnet_work_init(ResnetWork *w, const Resnet *m, int B, PsErr *err);
void resnet_work_done(ResnetWork *w);
/* Bytes a workspace for B images will take (for memory budgets shown to the user). */
size_t resnet_work_bytes(const Resnet *m, int B);

/* Forward pass over nb <= w->cap images x (nb, in_ch, S, S) (NCHW, like PyTorch).
 * train: batch statistics and running-stat updates (nn.Module.train()); 0: eval.
 * logits (nb, n_out) and features (nb, feat_dim) receive the outputs; either may be NULL
 * (features stay available in w->features). */
PsStatus resnet_forward(Resnet *m, ResnetWork *w, const float *x, int nb, int train, float *logits,
                        float *features, PsErr *err);
/* Backward through the last forward pass of w, accumulating into m->params.g.
 * dlogits (nb, n_out) and dfeatures (nb, feat_dim) are gradients of the loss with respect
 * to the logits and to the 512-d features (a classifier that consumes the features); either
 * may be NULL, not both. The gradient with respect to the input image is not computed. */
PsStatus resnet_backward(Resnet *m, ResnetWork *w, const float *dlogits, const float *dfeatures,
                         PsErr *err);

#endif
