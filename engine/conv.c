/* conv.c — convolution as im2col + OpenBLAS sgemm over the whole batch (CNHW layout, see
 * conv.h), with direct-loop twins for the tests.
 *
 * A 1×1 stride-1 unpadded convolution skips im2col: the input already is the column matrix.
 * Not implemented: dilation, groups, bias (ResNet's convolutions have none: batch norm follows).
 */
#include "engine/conv.h"

#include <cblas.h>
#include <string.h>

int conv_shape_init(ConvShape *s, int C, int H, int W, int Co, int K, int stride, int pad)
{
    memset(s, 0, sizeof *s);
    if (C <= 0 || H <= 0 || W <= 0 || Co <= 0 || K <= 0 || stride <= 0 || pad < 0) return -1;
    s->C = C;
    s->H = H;
    s->W = W;
    s->Co = Co;
    s->K = K;
    s->stride = stride;
    s->pad = pad;
    s->Ho = (H + 2 * pad - K) / stride + 1;
    s->Wo = (W + 2 * pad - K) / stride + 1;
    return s->Ho > 0 && s->Wo > 0 ? 0 : -1;
}

static int is_pointwise(const ConvShape *s)
{
    return s->K == 1 && s->stride == 1 && s->pad == 0;
}

size_t conv_col_floats(const ConvShape *s, int B)
{
    if (is_pointwise(s)) return 0;
    return (size_t)s->C * s->K * s->K * (size_t)B * s->Ho * s->Wo;
}

double conv_macs(const ConvShape *s, int B)
{
    return (double)s->Co * s->C * s->K * s->K * (double)B * s->Ho * s->Wo;
}

/* col[(c,kh,kw)][(n,oh,ow)] = x[c][n][oh*stride - pad + kh][ow*stride - pad + kw], 0 outside. */
static void im2col(float *col, const float *x, const ConvShape *s, int B)
{
    const int K = s->K, st = s->stride, Ho = s->Ho, Wo = s->Wo, H = s->H, W = s->W;
    const size_t npos = (size_t)B * Ho * Wo;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                float *dst = col + ((size_t)(c * K + kh) * K + kw) * npos;
                /* output columns ow whose input column lies inside [0, W) */
                int ow0 = 0, ow1 = Wo;
                while (ow0 < Wo && ow0 * st - s->pad + kw < 0) ow0++;
                while (ow1 > ow0 && (ow1 - 1) * st - s->pad + kw >= W) ow1--;
                for (int n = 0; n < B; n++) {
                    const float *xp = x + ((size_t)c * B + n) * H * W;
                    for (int oh = 0; oh < Ho; oh++, dst += Wo) {
                        int ih = oh * st - s->pad + kh;
                        if (ih < 0 || ih >= H) {
                            memset(dst, 0, (size_t)Wo * sizeof *dst);
                            continue;
                        }
                        const float *row = xp + (size_t)ih * W - s->pad + kw;
                        for (int ow = 0; ow < ow0; ow++) dst[ow] = 0;
                        if (st == 1)
                            memcpy(dst + ow0, row + ow0, (size_t)(ow1 - ow0) * sizeof *dst);
                        else
                            for (int ow = ow0; ow < ow1; ow++) dst[ow] = row[ow * st];
                        for (int ow = ow1; ow < Wo; ow++) dst[ow] = 0;
                    }
                }
            }
}

/* The adjoint of im2col: dx[c][n][ih][iw] += col[(c,kh,kw)][(n,oh,ow)]. dx must be initialised. */
static void col2im(float *dx, const float *col, const ConvShape *s, int B)
{
    const int K = s->K, st = s->stride, Ho = s->Ho, Wo = s->Wo, H = s->H, W = s->W;
    const size_t npos = (size_t)B * Ho * Wo;
    for (int c = 0; c < s->C; c++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                const float *src = col + ((size_t)(c * K + kh) * K + kw) * npos;
                int ow0 = 0, ow1 = Wo;
                while (ow0 < Wo && ow0 * st - s->pad + kw < 0) ow0++;
                while (ow1 > ow0 && (ow1 - 1) * st - s->pad + kw >= W) ow1--;
                for (int n = 0; n < B; n++) {
                    float *xp = dx + ((size_t)c * B + n) * H * W;
                    for (int oh = 0; oh < Ho; oh++, src += Wo) {
                        int ih = oh * st - s->pad + kh;
                        if (ih < 0 || ih >= H) continue;
                        float *row = xp + (size_t)ih * W - s->pad + kw;
                        if (st == 1)
                            for (int ow = ow0; ow < ow1; ow++) row[ow] += src[ow];
                        else
                            for (int ow = ow0; ow < ow1; ow++) row[ow * st] += src[ow];
                    }
                }
            }
}

void conv_forward(float *y, float *col, const float *x, const float *w, const ConvShape *s, int B)
{
    const int M = s->Co, Kd = s->C * s->K * s->K;
    const int N = B * s->Ho * s->Wo;
    const float *cm = x;
    if (!is_pointwise(s)) {
        im2col(col, x, s, B);
        cm = col;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, Kd, 1.0f, w, Kd, cm, N, 0.0f,
                y, N);
}

void conv_backward(float *dx, float *dw, float *col, const float *dy, const float *x,
                   const float *w, const ConvShape *s, int B, int accumulate_dx)
{
    const int M = s->Co, Kd = s->C * s->K * s->K;
    const int N = B * s->Ho * s->Wo;
    if (is_pointwise(s)) {
        /* dw += dy · xᵀ ; dx (+)= wᵀ · dy */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, Kd, N, 1.0f, dy, N, x, N, 1.0f,
                    dw, Kd);
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Kd, N, M, 1.0f, w, Kd, dy, N,
                        accumulate_dx ? 1.0f : 0.0f, dx, N);
        return;
    }
    im2col(col, x, s, B);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, Kd, N, 1.0f, dy, N, col, N, 1.0f, dw,
                Kd);
    if (!dx) return;
    /* dcol = wᵀ · dy, then scatter it back onto the input positions it was gathered from */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Kd, N, M, 1.0f, w, Kd, dy, N, 0.0f, col,
                N);
    if (!accumulate_dx) memset(dx, 0, (size_t)s->C * B * s->H * s->W * sizeof *dx);
    col2im(dx, col, s, B);
}

/* ---- reference twins ------------------------------------------------------------------- */

static float at(const float *x, const ConvShape *s, int B, int c, int n, int ih, int iw)
{
    if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) return 0.0f;
    return x[(((size_t)c * B + n) * s->H + ih) * s->W + iw];
}

void conv_forward_ref(float *y, const float *x, const float *w, const ConvShape *s, int B)
{
    for (int co = 0; co < s->Co; co++)
        for (int n = 0; n < B; n++)
            for (int oh = 0; oh < s->Ho; oh++)
                for (int ow = 0; ow < s->Wo; ow++) {
                    double acc = 0;
                    for (int c = 0; c < s->C; c++)
                        for (int kh = 0; kh < s->K; kh++)
                            for (int kw = 0; kw < s->K; kw++)
                                acc += (double)w[((co * s->C + c) * s->K + kh) * s->K + kw] *
                                       at(x, s, B, c, n, oh * s->stride - s->pad + kh,
                                          ow * s->stride - s->pad + kw);
                    y[(((size_t)co * B + n) * s->Ho + oh) * s->Wo + ow] = (float)acc;
                }
}

void conv_backward_ref(float *dx, float *dw, const float *dy, const float *x, const float *w,
                       const ConvShape *s, int B, int accumulate_dx)
{
    if (dx && !accumulate_dx) memset(dx, 0, (size_t)s->C * B * s->H * s->W * sizeof *dx);
    for (int co = 0; co < s->Co; co++)
        for (int c = 0; c < s->C; c++)
            for (int kh = 0; kh < s->K; kh++)
                for (int kw = 0; kw < s->K; kw++) {
                    double acc = 0;
                    for (int n = 0; n < B; n++)
                        for (int oh = 0; oh < s->Ho; oh++)
                            for (int ow = 0; ow < s->Wo; ow++) {
                                int ih = oh * s->stride - s->pad + kh;
                                int iw = ow * s->stride - s->pad + kw;
                                double g = dy[(((size_t)co * B + n) * s->Ho + oh) * s->Wo + ow];
                                acc += g * at(x, s, B, c, n, ih, iw);
                                if (dx && ih >= 0 && ih < s->H && iw >= 0 && iw < s->W)
                                    dx[(((size_t)c * B + n) * s->H + ih) * s->W + iw] +=
                                        (float)(g * w[((co * s->C + c) * s->K + kh) * s->K + kw]);
                            }
                    dw[((co * s->C + c) * s->K + kh) * s->K + kw] += (float)acc;
                }
}
