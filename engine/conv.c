/* conv.c — convolution as im2col + OpenBLAS sgemm over the whole batch (CNHW layout, see
 * conv.h), with direct-loop twins for the tests.
 *
 * A 1×1 stride-1 unpadded convolution skips im2col: the input already is the column matrix.
 * Not implemented: dilation, groups, bias (ResNet's convolutions have none: batch norm follows).
 */
#include "engine/conv.h"

#include "engine/blas.h"
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
    s->winograd = K == 3 && stride == 1 && pad == 1 && C >= CONV_WINOGRAD_MIN_C &&
                  CONV_WINOGRAD_MIN_C > 0;
    return s->Ho > 0 && s->Wo > 0 ? 0 : -1;
}

static int is_pointwise(const ConvShape *s)
{
    return s->K == 1 && s->stride == 1 && s->pad == 0;
}

static int wino_ok(const ConvShape *s)
{
    return s->winograd && s->K == 3 && s->stride == 1 && s->pad == 1;
}

static size_t wino_tiles(const ConvShape *s, int B)
{
    return (size_t)B * ((s->H + 1) / 2) * ((s->W + 1) / 2);
}

size_t conv_col_floats(const ConvShape *s, int B)
{
    size_t n = 0;
    if (!is_pointwise(s)) n = (size_t)s->C * s->K * s->K * (size_t)B * s->Ho * s->Wo;
    if (s->K == 3 && s->stride == 1 && s->pad == 1) {
        /* transformed input, transformed output, transformed filter; any of the three passes */
        size_t w = 16 * wino_tiles(s, B) * (size_t)(s->C + s->Co) + 16 * (size_t)s->C * s->Co;
        if (w > n) n = w;
    }
    return n;
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

/* ---- Winograd F(2×2, 3×3) -----------------------------------------------------------------
 * y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A per 2×2 output tile, d the 4×4 input tile around it.
 * Transformed data are laid out [ξ][channel][tile] so that each of the 16 products over
 * channels is one row-major GEMM. */

/* V[ξ][c][t] = (Bᵀ d B)[ξ] for every tile t of x (C,B,H,W) with padding 1. */
static void wino_input(float *V, const float *x, int C, int B, int H, int W)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t T = (size_t)B * th * tw, cs = (size_t)C * T;
    for (int c = 0; c < C; c++)
        for (int n = 0; n < B; n++) {
            const float *xp = x + ((size_t)c * B + n) * H * W;
            for (int i = 0; i < th; i++)
                for (int j = 0; j < tw; j++) {
                    float d[4][4];
                    for (int r = 0; r < 4; r++) {
                        int ih = 2 * i - 1 + r;
                        for (int q = 0; q < 4; q++) {
                            int iw = 2 * j - 1 + q;
                            d[r][q] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xp[ih * W + iw] : 0.0f;
                        }
                    }
                    float t[4][4];
                    for (int q = 0; q < 4; q++) {
                        t[0][q] = d[0][q] - d[2][q];
                        t[1][q] = d[1][q] + d[2][q];
                        t[2][q] = d[2][q] - d[1][q];
                        t[3][q] = d[1][q] - d[3][q];
                    }
                    float *v = V + (size_t)c * T + ((size_t)n * th + i) * tw + j;
                    for (int r = 0; r < 4; r++) {
                        v[(4 * r + 0) * cs] = t[r][0] - t[r][2];
                        v[(4 * r + 1) * cs] = t[r][1] + t[r][2];
                        v[(4 * r + 2) * cs] = t[r][2] - t[r][1];
                        v[(4 * r + 3) * cs] = t[r][1] - t[r][3];
                    }
                }
        }
}

/* y (Co,B,H,W) (+)= Aᵀ m A for every tile, m = M[·][co][t]. */
static void wino_output(float *y, const float *M, int Co, int B, int H, int W, int accumulate)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t T = (size_t)B * th * tw, cs = (size_t)Co * T;
    for (int co = 0; co < Co; co++)
        for (int n = 0; n < B; n++) {
            float *yp = y + ((size_t)co * B + n) * H * W;
            for (int i = 0; i < th; i++)
                for (int j = 0; j < tw; j++) {
                    const float *m = M + (size_t)co * T + ((size_t)n * th + i) * tw + j;
                    float t[2][4];
                    for (int q = 0; q < 4; q++) {
                        float m0 = m[(0 + q) * cs], m1 = m[(4 + q) * cs], m2 = m[(8 + q) * cs],
                              m3 = m[(12 + q) * cs];
                        t[0][q] = m0 + m1 + m2;
                        t[1][q] = m1 - m2 - m3;
                    }
                    for (int r = 0; r < 2; r++) {
                        int oh = 2 * i + r;
                        if (oh >= H) break;
                        float o0 = t[r][0] + t[r][1] + t[r][2], o1 = t[r][1] - t[r][2] - t[r][3];
                        float *row = yp + oh * W + 2 * j;
                        if (accumulate) {
                            row[0] += o0;
                            if (2 * j + 1 < W) row[1] += o1;
                        } else {
                            row[0] = o0;
                            if (2 * j + 1 < W) row[1] = o1;
                        }
                    }
                }
        }
}

/* U[ξ][o][i] = (G g Gᵀ)[ξ] with g = w[o][i] (flip = 0), or, for the input gradient,
 * g = w[i][o] rotated by 180° (flip = 1; then o runs over w's input channels). */
static void wino_filter(float *U, const float *w, int Co, int C, int flip)
{
    const int No = flip ? C : Co, Ni = flip ? Co : C;
    const size_t cs = (size_t)No * Ni;
    for (int o = 0; o < No; o++)
        for (int i = 0; i < Ni; i++) {
            float g[3][3];
            for (int r = 0; r < 3; r++)
                for (int q = 0; q < 3; q++)
                    g[r][q] = flip ? w[(((size_t)i * C + o) * 3 + 2 - r) * 3 + 2 - q]
                                   : w[(((size_t)o * C + i) * 3 + r) * 3 + q];
            float t[4][3];
            for (int q = 0; q < 3; q++) {
                t[0][q] = g[0][q];
                t[1][q] = 0.5f * (g[0][q] + g[1][q] + g[2][q]);
                t[2][q] = 0.5f * (g[0][q] - g[1][q] + g[2][q]);
                t[3][q] = g[2][q];
            }
            float *u = U + (size_t)o * Ni + i;
            for (int r = 0; r < 4; r++) {
                u[(4 * r + 0) * cs] = t[r][0];
                u[(4 * r + 1) * cs] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
                u[(4 * r + 2) * cs] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
                u[(4 * r + 3) * cs] = t[r][2];
            }
        }
}

/* dM[ξ][co][t] = (A dy Aᵀ)[ξ], dy the 2×2 output-gradient tile (0 beyond the edges). */
static void wino_dout(float *dM, const float *dy, int Co, int B, int H, int W)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t T = (size_t)B * th * tw, cs = (size_t)Co * T;
    for (int co = 0; co < Co; co++)
        for (int n = 0; n < B; n++) {
            const float *yp = dy + ((size_t)co * B + n) * H * W;
            for (int i = 0; i < th; i++)
                for (int j = 0; j < tw; j++) {
                    float g[2][2];
                    for (int r = 0; r < 2; r++)
                        for (int q = 0; q < 2; q++) {
                            int oh = 2 * i + r, ow = 2 * j + q;
                            g[r][q] = (oh < H && ow < W) ? yp[oh * W + ow] : 0.0f;
                        }
                    float t[4][2];
                    for (int q = 0; q < 2; q++) {
                        t[0][q] = g[0][q];
                        t[1][q] = g[0][q] + g[1][q];
                        t[2][q] = g[0][q] - g[1][q];
                        t[3][q] = -g[1][q];
                    }
                    float *m = dM + (size_t)co * T + ((size_t)n * th + i) * tw + j;
                    for (int r = 0; r < 4; r++) {
                        m[(4 * r + 0) * cs] = t[r][0];
                        m[(4 * r + 1) * cs] = t[r][0] + t[r][1];
                        m[(4 * r + 2) * cs] = t[r][0] - t[r][1];
                        m[(4 * r + 3) * cs] = -t[r][1];
                    }
                }
        }
}

/* dw[co][c] += Gᵀ dU G, dU = dU[·][co][c]. */
static void wino_filter_grad(float *dw, const float *dU, int Co, int C)
{
    const size_t cs = (size_t)Co * C;
    for (int co = 0; co < Co; co++)
        for (int c = 0; c < C; c++) {
            const float *u = dU + (size_t)co * C + c;
            float t[3][4];
            for (int q = 0; q < 4; q++) {
                float u0 = u[(0 + q) * cs], u1 = u[(4 + q) * cs], u2 = u[(8 + q) * cs],
                      u3 = u[(12 + q) * cs];
                t[0][q] = u0 + 0.5f * (u1 + u2);
                t[1][q] = 0.5f * (u1 - u2);
                t[2][q] = 0.5f * (u1 + u2) + u3;
            }
            float *g = dw + ((size_t)co * C + c) * 9;
            for (int r = 0; r < 3; r++) {
                g[r * 3 + 0] += t[r][0] + 0.5f * (t[r][1] + t[r][2]);
                g[r * 3 + 1] += 0.5f * (t[r][1] - t[r][2]);
                g[r * 3 + 2] += 0.5f * (t[r][1] + t[r][2]) + t[r][3];
            }
        }
}

/* out (No,B,H,W) (+)= 3×3 convolution of in (Ni,B,H,W) through the transformed filter already
 * in U; scratch V (16*Ni*T) and M (16*No*T). */
static void wino_conv(float *out, float *V, float *M, const float *U, const float *in, int Ni,
                      int No, int B, int H, int W, int accumulate)
{
    const size_t T = (size_t)B * ((H + 1) / 2) * ((W + 1) / 2);
    wino_input(V, in, Ni, B, H, W);
    for (int k = 0; k < 16; k++)
        blas_sgemm(0, 0, No, (int)T, Ni, 1.0f,
                    U + (size_t)k * No * Ni, Ni, V + (size_t)k * Ni * T, (int)T, 0.0f,
                    M + (size_t)k * No * T, (int)T);
    wino_output(out, M, No, B, H, W, accumulate);
}

void conv_forward(float *y, float *col, const float *x, const float *w, const ConvShape *s, int B)
{
    if (wino_ok(s)) {
        const size_t T = wino_tiles(s, B);
        float *V = col, *M = V + 16 * T * s->C, *U = M + 16 * T * s->Co;
        wino_filter(U, w, s->Co, s->C, 0);
        wino_conv(y, V, M, U, x, s->C, s->Co, B, s->H, s->W, 0);
        return;
    }
    const int M = s->Co, Kd = s->C * s->K * s->K;
    const int N = B * s->Ho * s->Wo;
    const float *cm = x;
    if (!is_pointwise(s)) {
        im2col(col, x, s, B);
        cm = col;
    }
    blas_sgemm(0, 0, M, N, Kd, 1.0f, w, Kd, cm, N, 0.0f,
                y, N);
}

void conv_backward(float *dx, float *dw, float *col, const float *dy, const float *x,
                   const float *w, const ConvShape *s, int B, int accumulate_dx)
{
    const int M = s->Co, Kd = s->C * s->K * s->K;
    const int N = B * s->Ho * s->Wo;
    if (wino_ok(s)) {
        const size_t T = wino_tiles(s, B);
        float *V = col, *dM = V + 16 * T * s->C, *dU = dM + 16 * T * s->Co;
        /* weight gradient: dU[ξ] = dM[ξ] · V[ξ]ᵀ summed over tiles, then Gᵀ dU G */
        wino_input(V, x, s->C, B, s->H, s->W);
        wino_dout(dM, dy, s->Co, B, s->H, s->W);
        for (int k = 0; k < 16; k++)
            blas_sgemm(0, 1, s->Co, s->C, (int)T, 1.0f,
                        dM + (size_t)k * s->Co * T, (int)T, V + (size_t)k * s->C * T, (int)T,
                        0.0f, dU + (size_t)k * s->Co * s->C, s->C);
        wino_filter_grad(dw, dU, s->Co, s->C);
        /* input gradient: the same convolution run backwards through the flipped filter */
        if (dx) {
            float *Vy = col, *Mx = Vy + 16 * T * s->Co, *Ut = Mx + 16 * T * s->C;
            wino_filter(Ut, w, s->Co, s->C, 1);
            wino_conv(dx, Vy, Mx, Ut, dy, s->Co, s->C, B, s->H, s->W, accumulate_dx);
        }
        return;
    }
    if (is_pointwise(s)) {
        /* dw += dy · xᵀ ; dx (+)= wᵀ · dy */
        blas_sgemm(0, 1, M, Kd, N, 1.0f, dy, N, x, N, 1.0f,
                    dw, Kd);
        if (dx)
            blas_sgemm(1, 0, Kd, N, M, 1.0f, w, Kd, dy, N,
                        accumulate_dx ? 1.0f : 0.0f, dx, N);
        return;
    }
    im2col(col, x, s, B);
    blas_sgemm(0, 1, M, Kd, N, 1.0f, dy, N, col, N, 1.0f, dw,
                Kd);
    if (!dx) return;
    /* dcol = wᵀ · dy, then scatter it back onto the input positions it was gathered from */
    blas_sgemm(1, 0, Kd, N, M, 1.0f, w, Kd, dy, N, 0.0f, col,
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
