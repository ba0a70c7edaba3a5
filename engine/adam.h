/* adam.h — Adam over a whole parameter slab, as torch.optim.Adam (amsgrad=False), and global-norm
 * gradient clipping as torch.nn.utils.clip_grad_norm_.
 *
 * weight_decay is torch.optim.Adam's L2 term (added to the gradient before the moments), not
 * AdamW's decoupled decay. The first and second moments are slabs the size of the ParamSet, so an
 * update is one loop over w[0..n); the alignment padding between tensors has zero gradient and
 * stays zero.
 */
#ifndef ADAM_H
#define ADAM_H

#include <stddef.h>

#include "store/ps.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} AdamConfig;

/* torch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0. */
AdamConfig adam_defaults(void);

typedef struct {
    float *m, *v; /* (n) first and second moments */
    size_t n;
    long step;    /* updates taken; bias correction uses step after increment */
} Adam;

/* Allocates zeroed moments for n parameters (set-up, not per step). */
PsStatus adam_init(Adam *a, size_t n, PsErr *err);
void adam_done(Adam *a);

/* One update of w (n) with gradients g (n). */
void adam_step(Adam *a, const AdamConfig *cfg, float *w, const float *g);

/* Scales g (n) so its global L2 norm is at most max_norm (coefficient max_norm / (norm + 1e-6),
 * applied only when below 1, as torch). Returns the norm before clipping, computed in double. */
double adam_clip_grad_norm(float *g, size_t n, double max_norm);

#endif
