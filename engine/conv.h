/* conv.h — 2-D convolution (no bias) for the ResNet, forward and backward.
 *
 * Layout: activations are "CNHW" — channel-major, then image, row, column: x[c][n][h][w].
 * With that layout a convolution over the whole batch is one GEMM
 *     y (Co, B*Ho*Wo) = W (Co, C*K*K) · col (C*K*K, B*Ho*Wo)
 * with large, cache-friendly shapes even for the 7×7 maps of layer4, and batch norm reads each
 * channel as one contiguous run. Weights keep PyTorch's (Co, C, K, K) layout, so safetensors
 * files interchange without transposition. The model converts NCHW input once at the stem.
 *
 * 3×3 stride-1 convolutions can run as Winograd F(2×2, 3×3): 16 GEMMs over transformed 4×4
 * input tiles, 2.25× fewer multiplications, for the forward pass, the input gradient (the same
 * algorithm on the flipped, transposed filter) and the weight gradient. Tested, selectable per
 * layer (ConvShape.winograd), but off by default: see CONV_WINOGRAD_MIN_C.
 */
#ifndef CONV_H
#define CONV_H

#include <stddef.h>

#include "store/ps.h"

/* Helper threads for the memory-bound passes (im2col, col2im, and the model's batch norm and
 * pooling, which split over channels): OpenBLAS parallelises the GEMMs, these passes would
 * otherwise leave all but one core idle. One pool per model workspace; conv_par_for is called
 * from one thread at a time (the pool's owner). Workers block all signals. */
typedef struct ConvPar ConvPar;
typedef void (*ConvParFn)(void *arg, int lo, int hi);
/* threads: total, including the calling thread; <= 1 makes a pool that runs everything inline. */
PsStatus conv_par_new(ConvPar **par, int threads, PsErr *err);
void conv_par_free(ConvPar *par);
/* Runs fn(arg, lo, hi) over disjoint ranges covering [0, n), one per thread, and returns when
 * all are done. par may be NULL (runs fn(arg, 0, n) inline). */
void conv_par_for(ConvPar *par, ConvParFn fn, void *arg, int n);

/* With a pool of exactly this many threads and a batch of two or more, the im2col convolutions
 * split the batch's panels between the threads, each running im2col, single-threaded sgemm and
 * col2im on its own panels (conv.c, "team mode"); other pool sizes share each panel instead. */
#define CONV_TEAM_THREADS 2

typedef struct {
    int C, H, W;     /* input channels and spatial size */
    int Co, K;       /* output channels, square kernel size */
    int stride, pad; /* same in both directions */
    int Ho, Wo;      /* output spatial size (derived) */
    int winograd;    /* 1: 3×3 stride-1 pad-1 convolutions use Winograd F(2×2, 3×3) (set by
                      * conv_shape_init where it pays; tests may flip it) */
    long panel_floats; /* im2col panel budget in floats; 0 (conv_shape_init's choice) means
                        * CONV_PANEL_FLOATS. Tests shrink it to cross panel edges. */
    long row_floats;   /* "same" 3×3 images whose columns exceed this many floats go in panels
                        * of output rows; 0 means CONV_ROW_FLOATS. Tests shrink it likewise. */
} ConvShape;

/* The im2col path runs over panels of whole images whose column matrix fits in this many
 * floats (at least one image per panel), so the GEMM reads columns from cache rather than a
 * batch-sized matrix from memory; it also shrinks the scratch from O(batch) to O(panel).
 * Measured (b16/224 training step, loaded 2-core box, load avg ~7): one batch-wide panel
 * 9674 ms, 4 MB panels 6924 ms, 1 MB panels 6876 ms but 3× slower on layer4's 7×7 maps (one
 * 49-column image per panel). */
#define CONV_PANEL_FLOATS ((size_t)1 << 20)

/* A "same" 3×3 image whose column matrix exceeds this many floats is split into panels of output
 * rows (conv.c, panel_rows), so the columns stay in the core's 2 MB L2 between im2col and the
 * GEMM. Measured (bench_resnet PS_BENCH_LAYERS=1, b16/224, loaded 2-core box, best of 3), layer1
 * 64ch 56×56 forward 20-27 ms whole images, 17-18 ms in 1 MB or 2 MB row panels, backward CPU
 * time 75-76 vs 69-72 ms; layer2's 128ch 28×28 the same either way. */
#define CONV_ROW_FLOATS ((size_t)1 << 19)

/* Winograd would pay where the GEMMs dominate its (single-threaded, scalar) transforms. Measured
 * on the 2-core Sapphire Rapids box with OpenBLAS SkylakeX kernels (bench_resnet
 * PS_BENCH_LAYERS=1, b16 at 224, ms fwd/bwd, im2col vs Winograd): 64ch 56×56 55/107 vs 114/372,
 * 128ch 28×28 97/235 vs 96/262, 256ch 14×14 55/101 vs 45/107, 512ch 7×7 43/115 vs 96/187.
 * It does not pay yet, so it is off (0); set a channel count to enable it from there on. */
#define CONV_WINOGRAD_MIN_C 0

/* Fills s and derives Ho, Wo. Returns 0, or -1 when the output would be empty. */
int conv_shape_init(ConvShape *s, int C, int H, int W, int Co, int K, int stride, int pad);
/* Floats of scratch ("col") conv_forward / conv_backward need for a batch of up to B, for the
 * shape as it is now (winograd and panel_floats included: set them before sizing scratch). */
size_t conv_col_floats(const ConvShape *s, int B);
/* Multiply-adds of one forward pass over a batch of B (for GFLOP/s reports). */
double conv_macs(const ConvShape *s, int B);

/* y (Co,B,Ho,Wo) = conv(x (C,B,H,W), w (Co,C,K,K)). col: conv_col_floats scratch. par: the
 * workspace's pool for im2col, or NULL. */
void conv_forward(float *y, float *col, const float *x, const float *w, const ConvShape *s, int B,
                  ConvPar *par);
/* Backward. dw (Co,C,K,K) += dL/dw. dx (C,B,H,W): when non-NULL, receives dL/dx — overwritten
 * when accumulate_dx is 0, added to otherwise. dy (Co,B,Ho,Wo) is the output gradient, x the
 * forward input. col: conv_col_floats scratch. */
void conv_backward(float *dx, float *dw, float *col, const float *dy, const float *x,
                   const float *w, const ConvShape *s, int B, int accumulate_dx, ConvPar *par);

/* Slow, obviously-correct twins (direct loops, double accumulation): the test oracle. */
void conv_forward_ref(float *y, const float *x, const float *w, const ConvShape *s, int B);
void conv_backward_ref(float *dx, float *dw, const float *dy, const float *x, const float *w,
                       const ConvShape *s, int B, int accumulate_dx);

#endif
