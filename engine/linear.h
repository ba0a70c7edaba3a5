/* linear.h — a fully connected layer, y = x Wᵀ + b, in PyTorch's layout (W is (out, in)).
 *
 * Plain functions over caller-owned buffers; the parameters live wherever the caller keeps them
 * (normally carved out of a ParamSet with linear_add_params). Backward accumulates (+=) into the
 * gradients and into dx; zeroing is the model's job.
 */
#ifndef LINEAR_H
#define LINEAR_H

#include <stddef.h>

#include "engine/params.h"
#include "store/rng.h"

/* Offsets of one layer's tensors in a ParamSet. */
typedef struct {
    int in, out;
    size_t w, b; /* "<prefix>weight" (out,in), "<prefix>bias" (out) */
} Linear;

/* Records "<prefix>weight" and "<prefix>bias" in ps (layout phase). prefix may be "". */
PsStatus linear_add_params(Linear *l, ParamSet *ps, const char *prefix, int in, int out,
                           PsErr *err);
/* PyTorch's default initialisation: U(-1/sqrt(in), 1/sqrt(in)) for both weight and bias. */
void linear_init_uniform(const Linear *l, ParamSet *ps, Rng *rng);

/* y (N,out) = x (N,in) · Wᵀ (in,out) + b. */
void linear_forward(float *y, const float *x, const float *w, const float *b, int N, int in,
                    int out);
/* dx (N,in) += dy · W (may be NULL to skip), dw (out,in) += dyᵀ · x, db (out) += Σ_n dy. */
void linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, int N, int in, int out);

/* Slow twins for tests. */
void linear_forward_ref(float *y, const float *x, const float *w, const float *b, int N, int in,
                        int out);

#endif
