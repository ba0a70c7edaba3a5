/* pool.h — ResNet's pooling layers over CNHW activations (see conv.h): the stem's 3×3/2 max pool
 * with padding 1 (padding never wins: it is -inf, as in PyTorch) and the global average pool
 * that turns (C,B,H,W) into batch-major features (B,C) for the fully connected layer.
 */
#ifndef POOL_H
#define POOL_H

#include <stdint.h>

/* Output size of a K×K/stride max pool with padding pad over n input positions. */
int pool_out_size(int n, int K, int stride, int pad);

/* y (C,B,Ho,Wo) = max over each window of x (C,B,H,W); argmax (C,B,Ho,Wo) receives the winning
 * input position h*W+w within its (c,n) plane (the first maximum on ties, like PyTorch). */
void pool_max_forward(float *y, int32_t *argmax, const float *x, int C, int B, int H, int W, int K,
                      int stride, int pad);
/* dx (C,B,H,W) = scatter of dy through argmax; dx is overwritten. */
void pool_max_backward(float *dx, const float *dy, const int32_t *argmax, int C, int B, int H,
                       int W, int Ho, int Wo);

/* y (B,C) = mean over H*W of x (C,B,H,W). */
void pool_avg_forward(float *y, const float *x, int C, int B, int HW);
/* dx (C,B,H,W) = dy (B,C) / HW broadcast; overwritten. */
void pool_avg_backward(float *dx, const float *dy, int C, int B, int HW);

#endif
