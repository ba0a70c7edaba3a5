/* batchnorm.h — 2-D batch normalisation over CNHW activations (see conv.h), like
 * torch.nn.BatchNorm2d: per channel c, the L = B*H*W values x[c][0..L) are one contiguous run.
 *
 * Train mode normalises with the batch mean and biased variance and updates the running
 * statistics with momentum (running_var takes the unbiased variance, as PyTorch does); eval
 * mode normalises with the running statistics. Optional fusions save passes over memory:
 * a residual added after the affine transform, and a ReLU on the result.
 */
#ifndef BATCHNORM_H
#define BATCHNORM_H

#include <stddef.h>

#define BATCHNORM_EPS 1e-5f
#define BATCHNORM_MOMENTUM 0.1f

/* y (C,L) = act(gamma * (x - mu) * istd + beta + res), act = ReLU when relu, res may be NULL.
 * Train (train != 0): mu/istd come from the batch and are written to mean/invstd (C each, the
 * backward cache); run_mean/run_var (C each) are updated in place. Eval: mean/invstd receive
 * the running statistics' mu and 1/sqrt(var + eps) (so backward works in both modes).
 * y may alias x (in place); res may alias neither. */
void batchnorm_forward(float *y, float *mean, float *invstd, float *run_mean, float *run_var,
                       const float *x, const float *res, const float *gamma, const float *beta,
                       int C, size_t L, int train, int relu);

/* Backward, accumulating dgamma, dbeta (C each). dx (C,L) is overwritten and may alias dy.
 * y_relu: the forward output when the ReLU was fused (dy is masked where it is <= 0), else
 * NULL. x: the forward input; mean/invstd: the forward cache. In train mode the gradient flows
 * through the batch statistics; in eval mode they are constants. */
void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                        const float *y_relu, const float *x, const float *mean, const float *invstd,
                        const float *gamma, int C, size_t L, int train);

/* ---- synchronised batch norm: statistics over the shards of several processes --------------
 * The same layer in steps, so a caller (resnet.c with a BatchnormSync) can sum the per-channel
 * partial sums over processes between them. Forward: sums (Σx) → summed → mean; centred sums
 * (Σ(x-mean)²) → summed → variance; then apply. Backward: grad sums (Σg, Σg·(x-mean)) → summed
 * → apply. With one process these give batchnorm_forward / batchnorm_backward's results. */

/* s[c] = Σ x[c][i] over the L local values of channel c. */
void batchnorm_sums(double *s, const float *x, int C, size_t L);
/* s[c] = Σ (x[c][i] - mean[c])². */
void batchnorm_sums_centred(double *s, const float *x, const float *mean, int C, size_t L);
/* Forward with given batch statistics: mean (C) and biased variance var (C) over n_total values
 * (all processes); writes mean/invstd (the backward cache) and updates run_mean/run_var as
 * batchnorm_forward does in train mode. */
void batchnorm_forward_given(float *y, float *mean, float *invstd, float *run_mean,
                             float *run_var, const float *x, const float *res, const float *gamma,
                             const float *beta, const double *bmean, const double *bvar,
                             double n_total, int C, size_t L, int relu);
/* sg[c] = Σ g, sgx[c] = Σ g·(x - mean) over the local values (g masked by y_relu when given). */
void batchnorm_grad_sums(double *sg, double *sgx, const float *dy, const float *y_relu,
                         const float *x, const float *mean, int C, size_t L);
/* Backward (train mode) with the summed sg, sgx over n_total values; dgamma/dbeta accumulate the
 * local (lsg, lsgx) sums only, since the caller sums parameter gradients over processes. */
void batchnorm_backward_given(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *y_relu, const float *x, const float *mean,
                              const float *invstd, const float *gamma, const double *lsg,
                              const double *lsgx, const double *sg, const double *sgx,
                              double n_total, int C, size_t L);

/* How resnet.c sums partial statistics over processes: sum(ctx, v, n) replaces v (n doubles)
 * by its sum over every process and returns 0, or non-zero on failure. Called from one thread. */
typedef struct {
    int (*sum)(void *ctx, double *v, int n);
    void *ctx;
} BatchnormSync;

#endif
