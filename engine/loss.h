/* loss.h — sigmoid and binary cross-entropy on logits, as torch.nn.BCEWithLogitsLoss().
 *
 * The loss is the mean over all elements (torch's default reduction), or over the elements whose
 * mask is non-zero when a mask is given (missing labels, e.g. CheXpert's "not mentioned").
 * Computed in the stable form max(z,0) - z·y + log1p(exp(-|z|)) and accumulated in double.
 */
#ifndef LOSS_H
#define LOSS_H

#include <stddef.h>

/* p (n) = 1 / (1 + exp(-z)), without overflow for large |z|. */
void loss_sigmoid(float *p, const float *z, size_t n);

/* Mean BCE of logits z (n) against targets y (n) in [0, 1]; mask (n) may be NULL. Returns 0 when
 * no element is selected. */
double loss_bce_logits(const float *z, const float *y, const float *mask, size_t n);

/* dz (n) = d loss_bce_logits / dz = (σ(z) - y) / count on selected elements, 0 elsewhere
 * (written, not accumulated: the loss is where a backward pass starts). */
void loss_bce_logits_backward(float *dz, const float *z, const float *y, const float *mask,
                              size_t n);

#endif
