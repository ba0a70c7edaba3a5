/* conv.c — convolution as im2col + OpenBLAS sgemm over the whole batch (CNHW layout, see
 * conv.h), with direct-loop twins for the tests.
 *
 * A 1×1 stride-1 unpadded convolution skips im2col: the input already is the column matrix.
 * "Same" convolutions (ResNet's 3×3/1) build columns by shifting whole planes, split big images
 * into panels of output rows that stay in L2, and get their input gradient as a convolution of dy
 * through the flipped filter instead of a column gradient and col2im.
 * Not implemented: dilation, groups, bias (ResNet's convolutions have none: batch norm follows).
 */
#include "engine/conv.h"

#include "engine/blas.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* ---- helper threads ------------------------------------------------------------------------
 * Thread safety: conv_par_for is called by the pool's owner only; workers touch the job fields
 * under mu, and the ranges they run are disjoint by construction. */

typedef struct {
    ConvPar *par;
    int index;
} ParWorker;

struct ConvPar {
    int threads;
    pthread_t *tid;
    ParWorker *workers;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;
    int pending, quit;
    ConvParFn fn;
    void *arg;
    int n;
};

static void run_share(ConvPar *p, ConvParFn fn, void *arg, int n, int k)
{
    int lo = (int)((long long)n * k / p->threads), hi = (int)((long long)n * (k + 1) / p->threads);
    if (lo < hi) fn(arg, lo, hi);
}

static void *par_worker(void *v)
{
    ParWorker *w = v;
    ConvPar *p = w->par;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) break;
        seen = p->gen;
        ConvParFn fn = p->fn;
        void *arg = p->arg;
        int n = p->n;
        pthread_mutex_unlock(&p->mu);
        run_share(p, fn, arg, n, w->index);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

PsStatus conv_par_new(ConvPar **out, int threads, PsErr *err)
{
    PS_CHECK(err, out);
    *out = NULL;
    ConvPar *p = calloc(1, sizeof *p);
    if (!p) return ps_err(err, PS_ERR_NOMEM, "conv_par_new: out of memory");
    p->threads = threads < 1 ? 1 : threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->threads > 1) {
        p->tid = calloc((size_t)p->threads, sizeof *p->tid);
        p->workers = calloc((size_t)p->threads, sizeof *p->workers);
        if (!p->tid || !p->workers) {
            conv_par_free(p);
            return ps_err(err, PS_ERR_NOMEM, "conv_par_new: out of memory");
        }
        /* workers never see SIGINT/SIGTERM/SIGWINCH: those belong to the UI thread */
        sigset_t all, old;
        sigfillset(&all);
        /* faults stay deliverable: a crash in the worker must reach the handler that restores the
         * terminal (a blocked SIGSEGV kills the process without running any handler) */
        for (const int *f = (const int[]){SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, 0}; *f; f++)
            sigdelset(&all, *f);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        for (int k = 1; k < p->threads; k++) {
            p->workers[k].par = p;
            p->workers[k].index = k;
            if (pthread_create(&p->tid[k], NULL, par_worker, &p->workers[k]) != 0) {
                pthread_sigmask(SIG_SETMASK, &old, NULL);
                p->threads = k; /* the ones started are joined by conv_par_free */
                conv_par_free(p);
                return ps_err(err, PS_ERR_NOMEM, "conv_par_new: cannot start helper thread %d", k);
            }
            p->started = k;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    *out = p;
    return PS_OK;
}

void conv_par_free(ConvPar *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int k = 1; k <= p->started; k++)
        pthread_join(p->tid[k], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p->workers);
    free(p);
}

void conv_par_for(ConvPar *p, ConvParFn fn, void *arg, int n)
{
    if (!p || p->threads < 2 || n < 2) {
        if (n > 0) fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->pending = p->threads - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    run_share(p, fn, arg, n, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

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
    s->winograd =
        K == 3 && stride == 1 && pad == 1 && C >= CONV_WINOGRAD_MIN_C && CONV_WINOGRAD_MIN_C > 0;
    return s->Ho > 0 && s->Wo > 0 ? 0 : -1;
}

static int is_pointwise(const ConvShape *s)
{
    return s->K == 1 && s->stride == 1 && s->pad == 0;
}

static int is_same(const ConvShape *s)
{
    return s->stride == 1 && s->Ho == s->H && s->Wo == s->W;
}

static int wino_ok(const ConvShape *s)
{
    return s->winograd && s->K == 3 && s->stride == 1 && s->pad == 1;
}

static size_t wino_tiles(const ConvShape *s, int B)
{
    return (size_t)B * ((s->H + 1) / 2) * ((s->W + 1) / 2);
}

/* Images per im2col panel: as many as keep the column panel within CONV_PANEL_FLOATS (at least
 * one), so it is still in cache when the GEMM reads it, instead of one batch-sized column matrix
 * streamed through memory twice. */
/* "Same" convolutions with a real kernel compute the input gradient as a forward convolution of
 * dy through the flipped, transposed filter (dx = conv(dy, W'), W'[c][co] = W[co][c] rotated by
 * 180°, same padding): one im2col of dy and a GEMM whose output is dx itself, instead of a
 * 9×-larger column gradient that col2im must scatter-add back. */
static int dx_as_conv(const ConvShape *s)
{
    return is_same(s) && s->K > 1;
}

/* Floats per image of an im2col panel: the input's columns, or for dx_as_conv shapes the larger
 * of the input's and dy's, which share the panel. */
static size_t image_col_floats(const ConvShape *s)
{
    size_t ch = dx_as_conv(s) && s->Co > s->C ? (size_t)s->Co : (size_t)s->C;
    return ch * s->K * s->K * s->Ho * s->Wo;
}

/* Output rows per im2col panel: all of them, or for a dx_as_conv image whose columns exceed the
 * row budget (layer1/2 at 224 px: 7.2 / 3.6 MB per image against a 2 MB L2) equal chunks of
 * rows, so the columns im2col writes are still in the core's L2 when the GEMM packs them. The
 * input gradient of these shapes is a GEMM per row chunk too, writing disjoint rows of dx;
 * col2im (strided shapes) only ever sees whole images. */
static int panel_rows(const ConvShape *s)
{
    size_t per = image_col_floats(s);
    size_t rb = s->row_floats > 0 ? (size_t)s->row_floats : CONV_ROW_FLOATS;
    if (!dx_as_conv(s) || per <= rb) return s->Ho;
    size_t pieces = (per + rb - 1) / rb;
    if (pieces > (size_t)s->Ho) pieces = (size_t)s->Ho;
    return (int)(((size_t)s->Ho + pieces - 1) / pieces);
}

static int panel_images(const ConvShape *s, int B)
{
    if (panel_rows(s) < s->Ho) return 1;
    size_t per = image_col_floats(s);
    size_t nb = (s->panel_floats > 0 ? (size_t)s->panel_floats : CONV_PANEL_FLOATS) / per;
    /* and no more than a team thread's share of the batch, so that every thread has work */
    size_t share = B >= 2 ? ((size_t)B + CONV_TEAM_THREADS - 1) / CONV_TEAM_THREADS : 1;
    if (nb > share) nb = share;
    return nb < 1 ? 1 : (int)nb;
}

/* Scratch layout of the im2col path: one panel slot per team thread, the helpers' weight-gradient
 * partials, then (dx_as_conv) the transposed filter. */
static size_t slot_floats(const ConvShape *s, int B)
{
    return image_col_floats(s) / (size_t)s->Ho * (size_t)panel_rows(s) * (size_t)panel_images(s, B);
}

static size_t col_slots(int B)
{
    return B >= 2 ? CONV_TEAM_THREADS : 1;
}

static size_t wt_offset(const ConvShape *s, int B)
{
    return col_slots(B) * slot_floats(s, B) +
           (col_slots(B) - 1) * (size_t)s->Co * s->C * s->K * s->K;
}

size_t conv_col_floats(const ConvShape *s, int B)
{
    size_t n = 0;
    if (!is_pointwise(s)) {
        n = wt_offset(s, B);
        if (dx_as_conv(s)) n += (size_t)s->Co * s->C * s->K * s->K;
    }
    if (wino_ok(s)) {
        /* transformed input, transformed output, transformed filter; any of the three passes */
        size_t w = 16 * wino_tiles(s, B) * (size_t)(s->C + s->Co) + 16 * (size_t)s->C * s->Co;
        if (w > n) n = w;
    }
    return n;
}

/* wt (C, Co, K, K) = w (Co, C, K, K) with input and output channels swapped and each kernel
 * rotated by 180°: the filter of the input gradient's convolution (output channels co0..co1). */
static void flip_filter(float *wt, const float *w, const ConvShape *s, int co0, int co1)
{
    const int C = s->C, Co = s->Co, K = s->K, KK = K * K;
    for (int co = co0; co < co1; co++)
        for (int c = 0; c < C; c++) {
            const float *src = w + ((size_t)co * C + c) * KK;
            float *dst = wt + ((size_t)c * Co + co) * KK;
            for (int k = 0; k < KK; k++)
                dst[k] = src[KK - 1 - k];
        }
}

/* On the helper threads too: layer4's filter is 2.4 M floats, rearranged before every backward. */
typedef struct {
    float *wt;
    const float *w;
    const ConvShape *s;
} FlipJob;

static void flip_job(void *v, int lo, int hi)
{
    FlipJob *j = v;
    flip_filter(j->wt, j->w, j->s, lo, hi);
}

/* The convolution whose forward pass is s's input gradient (dx_as_conv shapes only). */
static ConvShape flipped_shape(const ConvShape *s)
{
    ConvShape t = *s;
    t.C = s->Co;
    t.Co = s->C;
    t.pad = s->K - 1 - s->pad;
    return t;
}

double conv_macs(const ConvShape *s, int B)
{
    return (double)s->Co * s->C * s->K * s->K * (double)B * s->Ho * s->Wo;
}

/* "Same" convolutions (stride 1, output as large as the input: ResNet's 3×3/1 with padding 1)
 * need no per-row work: for one (kh, kw) the column plane of an image is the input plane shifted
 * by (kh - pad) rows and (kw - pad) columns, so one contiguous copy does all rows, and only the
 * entries that wrapped around a row edge (one per row for a 3×3) and the rows shifted in from
 * outside are then set to zero. Layer3/4's rows are 7-14 floats: per-row copies cost more in
 * call and edge handling than in moving data. */
/* The valid window of a shift (dh, dw) over an H×W plane: output rows [*r0, *r1) and columns
 * [*q0, *q1) whose input lies inside; empty when r0 >= r1 or q0 >= q1. */
static void same_window(int H, int W, int dh, int dw, int *r0, int *r1, int *q0, int *q1)
{
    *r0 = dh < 0 ? -dh : 0;
    *r1 = dh > 0 ? H - dh : H;
    *q0 = dw < 0 ? -dw : 0;
    *q1 = dw > 0 ? W - dw : W;
}

static void shift_copy(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
}

static void shift_add(float *restrict dst, const float *restrict src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* Output rows oh0 <= oh < oh1 of images n0 <= n < n1 (the rows are the panel's, see
 * panel_rows). */
static void im2col_same(float *col, const float *x, const ConvShape *s, int B, int n0, int n1,
                        int oh0, int oh1, int c0, int c1)
{
    const int K = s->K, H = s->H, W = s->W;
    const size_t plane = (size_t)H * W, part = (size_t)(oh1 - oh0) * W;
    const size_t npos = (size_t)(n1 - n0) * part;
    for (int c = c0; c < c1; c++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                const int dh = kh - s->pad, dw = kw - s->pad;
                int r0, r1, q0, q1;
                same_window(H, W, dh, dw, &r0, &r1, &q0, &q1);
                if (r0 < oh0) r0 = oh0;
                if (r1 > oh1) r1 = oh1;
                float *dst = col + ((size_t)(c * K + kh) * K + kw) * npos;
                for (int n = n0; n < n1; n++, dst += part) {
                    if (r0 >= r1 || q0 >= q1) {
                        memset(dst, 0, part * sizeof *dst);
                        continue;
                    }
                    const float *xp = x + ((size_t)c * B + n) * plane;
                    /* from (r0, q0) to (r1 - 1, q1 - 1), both inside the input plane */
                    const size_t a = (size_t)(r0 - oh0) * W + q0, e = (size_t)(r1 - 1 - oh0) * W + q1;
                    shift_copy(dst + a, xp + ((ptrdiff_t)a + (ptrdiff_t)(oh0 + dh) * W + dw), e - a);
                    memset(dst, 0, (size_t)(r0 - oh0) * W * sizeof *dst);
                    memset(dst + (size_t)(r1 - oh0) * W, 0, (size_t)(oh1 - r1) * W * sizeof *dst);
                    for (int r = r0 - oh0; r < r1 - oh0; r++) {
                        float *row = dst + (size_t)r * W;
                        for (int q = 0; q < q0; q++)
                            row[q] = 0.0f;
                        for (int q = q1; q < W; q++)
                            row[q] = 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col_same. The wrapped entries of col (scratch) are zeroed first so that one
 * contiguous add can run over them. */
static void col2im_same(float *dx, float *col, const ConvShape *s, int B, int n0, int n1, int c0,
                        int c1)
{
    const int K = s->K, H = s->H, W = s->W;
    const size_t plane = (size_t)H * W, npos = (size_t)(n1 - n0) * plane;
    for (int c = c0; c < c1; c++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                const int dh = kh - s->pad, dw = kw - s->pad;
                int r0, r1, q0, q1;
                same_window(H, W, dh, dw, &r0, &r1, &q0, &q1);
                if (r0 >= r1 || q0 >= q1) continue;
                float *src = col + ((size_t)(c * K + kh) * K + kw) * npos;
                for (int n = n0; n < n1; n++, src += plane) {
                    float *xp = dx + ((size_t)c * B + n) * plane;
                    for (int r = r0; r < r1; r++) {
                        float *row = src + (size_t)r * W;
                        for (int q = 0; q < q0; q++)
                            row[q] = 0.0f;
                        for (int q = q1; q < W; q++)
                            row[q] = 0.0f;
                    }
                    const size_t a = (size_t)r0 * W + q0, e = (size_t)(r1 - 1) * W + q1;
                    shift_add(xp + (ptrdiff_t)a + (ptrdiff_t)dh * W + dw, src + a, e - a);
                }
            }
}

/* col[(c,kh,kw)][(n-n0,oh-oh0,ow)] = x[c][n][oh*stride - pad + kh][ow*stride - pad + kw], 0
 * outside, for channels c0 <= c < c1, the panel of images n0 <= n < n1 of a batch of B and its
 * output rows oh0 <= oh < oh1. */
static void im2col(float *col, const float *x, const ConvShape *s, int B, int n0, int n1, int oh0,
                   int oh1, int c0, int c1)
{
    if (is_same(s)) {
        im2col_same(col, x, s, B, n0, n1, oh0, oh1, c0, c1);
        return;
    }
    const int K = s->K, st = s->stride, Wo = s->Wo, H = s->H, W = s->W;
    const size_t npos = (size_t)(n1 - n0) * (oh1 - oh0) * Wo;
    for (int c = c0; c < c1; c++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                float *dst = col + ((size_t)(c * K + kh) * K + kw) * npos;
                /* output columns ow whose input column lies inside [0, W) */
                int ow0 = 0, ow1 = Wo;
                while (ow0 < Wo && ow0 * st - s->pad + kw < 0)
                    ow0++;
                while (ow1 > ow0 && (ow1 - 1) * st - s->pad + kw >= W)
                    ow1--;
                for (int n = n0; n < n1; n++) {
                    const float *xp = x + ((size_t)c * B + n) * H * W;
                    for (int oh = oh0; oh < oh1; oh++, dst += Wo) {
                        int ih = oh * st - s->pad + kh;
                        if (ih < 0 || ih >= H) {
                            memset(dst, 0, (size_t)Wo * sizeof *dst);
                            continue;
                        }
                        const float *row = xp + (size_t)ih * W - s->pad + kw;
                        for (int ow = 0; ow < ow0; ow++)
                            dst[ow] = 0;
                        if (st == 1)
                            memcpy(dst + ow0, row + ow0, (size_t)(ow1 - ow0) * sizeof *dst);
                        else
                            for (int ow = ow0; ow < ow1; ow++)
                                dst[ow] = row[ow * st];
                        for (int ow = ow1; ow < Wo; ow++)
                            dst[ow] = 0;
                    }
                }
            }
}

/* The adjoint of im2col: dx[c][n][ih][iw] += col[(c,kh,kw)][(n-n0,oh,ow)] for c0 <= c < c1 and
 * n0 <= n < n1, after zeroing those planes of dx unless accumulate. col is scratch: the "same"
 * path zeroes its out-of-range entries. */
static void col2im(float *dx, float *col, const ConvShape *s, int B, int n0, int n1, int c0,
                   int c1, int accumulate)
{
    const int K = s->K, st = s->stride, Ho = s->Ho, Wo = s->Wo, H = s->H, W = s->W;
    const size_t npos = (size_t)(n1 - n0) * Ho * Wo;
    if (!accumulate)
        for (int c = c0; c < c1; c++)
            memset(dx + ((size_t)c * B + n0) * H * W, 0, (size_t)(n1 - n0) * H * W * sizeof *dx);
    if (is_same(s)) {
        col2im_same(dx, col, s, B, n0, n1, c0, c1);
        return;
    }
    for (int c = c0; c < c1; c++)
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                const float *src = col + ((size_t)(c * K + kh) * K + kw) * npos;
                int ow0 = 0, ow1 = Wo;
                while (ow0 < Wo && ow0 * st - s->pad + kw < 0)
                    ow0++;
                while (ow1 > ow0 && (ow1 - 1) * st - s->pad + kw >= W)
                    ow1--;
                for (int n = n0; n < n1; n++) {
                    float *xp = dx + ((size_t)c * B + n) * H * W;
                    for (int oh = 0; oh < Ho; oh++, src += Wo) {
                        int ih = oh * st - s->pad + kh;
                        if (ih < 0 || ih >= H) continue;
                        float *row = xp + (size_t)ih * W - s->pad + kw;
                        if (st == 1)
                            for (int ow = ow0; ow < ow1; ow++)
                                row[ow] += src[ow];
                        else
                            for (int ow = ow0; ow < ow1; ow++)
                                row[ow * st] += src[ow];
                    }
                }
            }
}

/* ---- Winograd F(2×2, 3×3) -----------------------------------------------------------------
 * y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A per 2×2 output tile, d the 4×4 input tile around it.
 * Transformed data are laid out [ξ][channel][tile] so that each of the 16 products over
 * channels is one row-major GEMM. */

/* V[ξ][c][t] = (Bᵀ d B)[ξ] for every tile t of x (C,B,H,W) with padding 1. */
static void wino_input(float *V, const float *x, int C, int B, int H, int W, int lo, int hi)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t T = (size_t)B * th * tw, cs = (size_t)C * T;
    for (int c = lo; c < hi; c++)
        for (int n = 0; n < B; n++) {
            const float *xp = x + ((size_t)c * B + n) * H * W;
            for (int i = 0; i < th; i++)
                for (int j = 0; j < tw; j++) {
                    float d[4][4];
                    for (int r = 0; r < 4; r++) {
                        int ih = 2 * i - 1 + r;
                        for (int q = 0; q < 4; q++) {
                            int iw = 2 * j - 1 + q;
                            d[r][q] =
                                (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xp[ih * W + iw] : 0.0f;
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
static void wino_output(float *y, const float *M, int Co, int B, int H, int W, int accumulate,
                        int lo, int hi)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t T = (size_t)B * th * tw, cs = (size_t)Co * T;
    for (int co = lo; co < hi; co++)
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
static void wino_filter(float *U, const float *w, int Co, int C, int flip, int lo, int hi)
{
    const int No = flip ? C : Co, Ni = flip ? Co : C;
    const size_t cs = (size_t)No * Ni;
    for (int o = lo; o < hi; o++)
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
static void wino_dout(float *dM, const float *dy, int Co, int B, int H, int W, int lo, int hi)
{
    const int th = (H + 1) / 2, tw = (W + 1) / 2;
    const size_t T = (size_t)B * th * tw, cs = (size_t)Co * T;
    for (int co = lo; co < hi; co++)
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
static void wino_filter_grad(float *dw, const float *dU, int Co, int C, int lo, int hi)
{
    const size_t cs = (size_t)Co * C;
    for (int co = lo; co < hi; co++)
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
/* The transforms split over channels for the helper threads. */
typedef struct {
    float *out;
    const float *in;
    int C, Co, B, H, W, flag;
} WinoJob;

static void wino_input_job(void *v, int lo, int hi)
{
    WinoJob *j = v;
    wino_input(j->out, j->in, j->C, j->B, j->H, j->W, lo, hi);
}

static void wino_output_job(void *v, int lo, int hi)
{
    WinoJob *j = v;
    wino_output(j->out, j->in, j->Co, j->B, j->H, j->W, j->flag, lo, hi);
}

static void wino_filter_job(void *v, int lo, int hi)
{
    WinoJob *j = v;
    wino_filter(j->out, j->in, j->Co, j->C, j->flag, lo, hi);
}

static void wino_dout_job(void *v, int lo, int hi)
{
    WinoJob *j = v;
    wino_dout(j->out, j->in, j->Co, j->B, j->H, j->W, lo, hi);
}

static void wino_filter_grad_job(void *v, int lo, int hi)
{
    WinoJob *j = v;
    wino_filter_grad(j->out, j->in, j->Co, j->C, lo, hi);
}

/* out (No,B,H,W) (+)= 3×3 convolution of in (Ni,B,H,W) through the transformed filter already
 * in U; scratch V (16*Ni*T) and M (16*No*T). */
static void wino_conv(float *out, float *V, float *M, const float *U, const float *in, int Ni,
                      int No, int B, int H, int W, int accumulate, ConvPar *par)
{
    const size_t T = (size_t)B * ((H + 1) / 2) * ((W + 1) / 2);
    WinoJob ji = {V, in, Ni, 0, B, H, W, 0};
    conv_par_for(par, wino_input_job, &ji, Ni);
    for (int k = 0; k < 16; k++)
        blas_sgemm(0, 0, No, (int)T, Ni, 1.0f, U + (size_t)k * No * Ni, Ni, V + (size_t)k * Ni * T,
                   (int)T, 0.0f, M + (size_t)k * No * T, (int)T);
    WinoJob jo = {out, M, 0, No, B, H, W, accumulate};
    conv_par_for(par, wino_output_job, &jo, No);
}

typedef struct {
    float *col, *dx;
    const float *x;
    const ConvShape *s;
    int B, n0, n1, oh0, oh1, accumulate;
} ColJob;

static void im2col_job(void *v, int lo, int hi)
{
    ColJob *j = v;
    im2col(j->col, j->x, j->s, j->B, j->n0, j->n1, j->oh0, j->oh1, lo, hi);
}

static void col2im_job(void *v, int lo, int hi)
{
    ColJob *j = v;
    col2im(j->dx, j->col, j->s, j->B, j->n0, j->n1, lo, hi, j->accumulate);
}

/* ---- team mode ----------------------------------------------------------------------------
 * With a pool of CONV_TEAM_THREADS threads, each thread takes every T-th panel of images and
 * runs im2col, a single-threaded sgemm and col2im on it alone, in its own slot of the scratch:
 * no barrier per panel, and each core's panel stays in its own cache. The weight gradient is
 * summed per thread (thread 0 into dw, the others into zeroed partials in the scratch) and the
 * partials added in thread order afterwards, so results are deterministic for a given pool
 * size. OpenBLAS runs on one thread meanwhile (its thread count is process-wide: the model owns
 * BLAS while it runs, as with the rest of a training step). */

typedef struct {
    float *dx, *dw, *col;
    const float *dy, *x, *w;
    const ConvShape *s;
    int B, nb, rows, accumulate;
    float *y;
    const float *wt;     /* dx_as_conv: the flipped filter (C, Co, K, K), else NULL */
    const ConvShape *ts; /* and its shape */
} TeamJob;

static int team_ok(const ConvPar *par, int B)
{
    return par && par->threads == CONV_TEAM_THREADS && B >= 2;
}

static float *team_col(const TeamJob *t, int k)
{
    return t->col + (size_t)k * slot_floats(t->s, t->B);
}

static void team_forward(void *v, int k, int hi)
{
    (void)hi;
    const TeamJob *t = v;
    const ConvShape *s = t->s;
    const int hw = s->Ho * s->Wo, Kd = s->C * s->K * s->K, N = t->B * hw;
    float *col = team_col(t, k);
    for (int n0 = k * t->nb; n0 < t->B; n0 += CONV_TEAM_THREADS * t->nb) {
        int n1 = n0 + t->nb < t->B ? n0 + t->nb : t->B;
        for (int oh0 = 0; oh0 < s->Ho; oh0 += t->rows) {
            int oh1 = oh0 + t->rows < s->Ho ? oh0 + t->rows : s->Ho;
            int P = (n1 - n0) * (oh1 - oh0) * s->Wo;
            size_t at = (size_t)n0 * hw + (size_t)oh0 * s->Wo;
            im2col(col, t->x, s, t->B, n0, n1, oh0, oh1, 0, s->C);
            blas_sgemm(0, 0, s->Co, P, Kd, 1.0f, t->w, Kd, col, P, 0.0f, t->y + at, N);
        }
    }
}

static void team_backward(void *v, int k, int hi)
{
    (void)hi;
    const TeamJob *t = v;
    const ConvShape *s = t->s;
    const int hw = s->Ho * s->Wo, Kd = s->C * s->K * s->K, N = t->B * hw;
    float *col = team_col(t, k);
    float *dw = t->dw;
    if (k > 0) {
        dw = team_col(t, CONV_TEAM_THREADS) + (size_t)(k - 1) * s->Co * Kd;
        memset(dw, 0, (size_t)s->Co * Kd * sizeof *dw);
    }
    for (int n0 = k * t->nb; n0 < t->B; n0 += CONV_TEAM_THREADS * t->nb) {
        int n1 = n0 + t->nb < t->B ? n0 + t->nb : t->B;
        for (int oh0 = 0; oh0 < s->Ho; oh0 += t->rows) {
            int oh1 = oh0 + t->rows < s->Ho ? oh0 + t->rows : s->Ho;
            int P = (n1 - n0) * (oh1 - oh0) * s->Wo;
            size_t at = (size_t)n0 * hw + (size_t)oh0 * s->Wo;
            const float *dyp = t->dy + at;
            im2col(col, t->x, s, t->B, n0, n1, oh0, oh1, 0, s->C);
            blas_sgemm(0, 1, s->Co, Kd, P, 1.0f, dyp, N, col, P, 1.0f, dw, Kd);
            if (!t->dx) continue;
            if (t->wt) {
                /* dx (C, P) (+)= W' (C, Co·K·K) · im2col(dy) */
                const int Kt = s->Co * s->K * s->K;
                im2col(col, t->dy, t->ts, t->B, n0, n1, oh0, oh1, 0, s->Co);
                blas_sgemm(0, 0, s->C, P, Kt, 1.0f, t->wt, Kt, col, P,
                           t->accumulate ? 1.0f : 0.0f, t->dx + at, N);
                continue;
            }
            /* rows == Ho here: col2im's images never straddle panels */
            blas_sgemm(1, 0, Kd, P, s->Co, 1.0f, t->w, Kd, dyp, N, 0.0f, col, P);
            col2im(t->dx, col, s, t->B, n0, n1, 0, s->C, t->accumulate);
        }
    }
}

/* Adds the helpers' weight-gradient partials into dw, element ranges split over the threads
 * (layer4's is 2.4 M floats per convolution); per element still in thread order. */
static void team_reduce_job(void *v, int lo, int hi)
{
    const TeamJob *t = v;
    const size_t n = (size_t)t->s->Co * t->s->C * t->s->K * t->s->K;
    for (int k = 1; k < CONV_TEAM_THREADS; k++) {
        const float *restrict part = team_col(t, CONV_TEAM_THREADS) + (size_t)(k - 1) * n;
        float *restrict dw = t->dw;
        for (size_t i = (size_t)lo; i < (size_t)hi; i++)
            dw[i] += part[i];
    }
}

static void run_team(ConvPar *par, ConvParFn fn, TeamJob *t)
{
    int saved = blas_get_threads();
    blas_set_threads(1);
    conv_par_for(par, fn, t, CONV_TEAM_THREADS); /* one range per thread: lo is its index */
    blas_set_threads(saved);
    if (fn == team_backward)
        conv_par_for(par, team_reduce_job, t, t->s->Co * t->s->C * t->s->K * t->s->K);
}

void conv_forward(float *y, float *col, const float *x, const float *w, const ConvShape *s, int B,
                  ConvPar *par)
{
    if (wino_ok(s)) {
        const size_t T = wino_tiles(s, B);
        float *V = col, *M = V + 16 * T * s->C, *U = M + 16 * T * s->Co;
        WinoJob jf = {U, w, s->C, s->Co, B, s->H, s->W, 0};
        conv_par_for(par, wino_filter_job, &jf, s->Co);
        wino_conv(y, V, M, U, x, s->C, s->Co, B, s->H, s->W, 0, par);
        return;
    }
    const int M = s->Co, Kd = s->C * s->K * s->K;
    const int N = B * s->Ho * s->Wo;
    if (is_pointwise(s)) {
        blas_sgemm(0, 0, M, N, Kd, 1.0f, w, Kd, x, N, 0.0f, y, N);
        return;
    }
    const int hw = s->Ho * s->Wo, nb = panel_images(s, B), rows = panel_rows(s);
    if (team_ok(par, B)) {
        TeamJob t = {NULL, NULL, col, NULL, x, w, s, B, nb, rows, 0, y, NULL, NULL};
        run_team(par, team_forward, &t);
        return;
    }
    for (int n0 = 0; n0 < B; n0 += nb) {
        int n1 = n0 + nb < B ? n0 + nb : B;
        for (int oh0 = 0; oh0 < s->Ho; oh0 += rows) {
            int oh1 = oh0 + rows < s->Ho ? oh0 + rows : s->Ho;
            int P = (n1 - n0) * (oh1 - oh0) * s->Wo;
            ColJob j = {col, NULL, x, s, B, n0, n1, oh0, oh1, 0};
            conv_par_for(par, im2col_job, &j, s->C);
            blas_sgemm(0, 0, M, P, Kd, 1.0f, w, Kd, col, P, 0.0f,
                       y + (size_t)n0 * hw + (size_t)oh0 * s->Wo, N);
        }
    }
}

void conv_backward(float *dx, float *dw, float *col, const float *dy, const float *x,
                   const float *w, const ConvShape *s, int B, int accumulate_dx, ConvPar *par)
{
    const int M = s->Co, Kd = s->C * s->K * s->K;
    const int N = B * s->Ho * s->Wo;
    if (wino_ok(s)) {
        const size_t T = wino_tiles(s, B);
        float *V = col, *dM = V + 16 * T * s->C, *dU = dM + 16 * T * s->Co;
        /* weight gradient: dU[ξ] = dM[ξ] · V[ξ]ᵀ summed over tiles, then Gᵀ dU G */
        WinoJob ji = {V, x, s->C, s->Co, B, s->H, s->W, 0};
        conv_par_for(par, wino_input_job, &ji, s->C);
        WinoJob jd = {dM, dy, s->C, s->Co, B, s->H, s->W, 0};
        conv_par_for(par, wino_dout_job, &jd, s->Co);
        for (int k = 0; k < 16; k++)
            blas_sgemm(0, 1, s->Co, s->C, (int)T, 1.0f, dM + (size_t)k * s->Co * T, (int)T,
                       V + (size_t)k * s->C * T, (int)T, 0.0f, dU + (size_t)k * s->Co * s->C, s->C);
        WinoJob jg = {dw, dU, s->C, s->Co, B, s->H, s->W, 0};
        conv_par_for(par, wino_filter_grad_job, &jg, s->Co);
        /* input gradient: the same convolution run backwards through the flipped filter */
        if (dx) {
            float *Vy = col, *Mx = Vy + 16 * T * s->Co, *Ut = Mx + 16 * T * s->C;
            WinoJob jt = {Ut, w, s->C, s->Co, B, s->H, s->W, 1};
            conv_par_for(par, wino_filter_job, &jt, s->C); /* flipped: one row per input channel */
            wino_conv(dx, Vy, Mx, Ut, dy, s->Co, s->C, B, s->H, s->W, accumulate_dx, par);
        }
        return;
    }
    if (is_pointwise(s)) {
        /* dw += dy · xᵀ ; dx (+)= wᵀ · dy */
        blas_sgemm(0, 1, M, Kd, N, 1.0f, dy, N, x, N, 1.0f, dw, Kd);
        if (dx) blas_sgemm(1, 0, Kd, N, M, 1.0f, w, Kd, dy, N, accumulate_dx ? 1.0f : 0.0f, dx, N);
        return;
    }
    const int hw = s->Ho * s->Wo, nb = panel_images(s, B), rows = panel_rows(s);
    float *wt = NULL;
    const ConvShape ts = flipped_shape(s);
    if (dx && dx_as_conv(s)) {
        wt = col + wt_offset(s, B);
        FlipJob fj = {wt, w, s};
        conv_par_for(par, flip_job, &fj, s->Co);
    }
    if (team_ok(par, B)) {
        TeamJob t = {dx, dw, col, dy, x, w, s, B, nb, rows, accumulate_dx, NULL, wt, &ts};
        run_team(par, team_backward, &t);
        return;
    }
    for (int n0 = 0; n0 < B; n0 += nb) {
        int n1 = n0 + nb < B ? n0 + nb : B;
        for (int oh0 = 0; oh0 < s->Ho; oh0 += rows) {
            int oh1 = oh0 + rows < s->Ho ? oh0 + rows : s->Ho;
            int P = (n1 - n0) * (oh1 - oh0) * s->Wo;
            size_t at = (size_t)n0 * hw + (size_t)oh0 * s->Wo;
            const float *dyp = dy + at;
            ColJob j = {col, dx, x, s, B, n0, n1, oh0, oh1, accumulate_dx};
            conv_par_for(par, im2col_job, &j, s->C);
            blas_sgemm(0, 1, M, Kd, P, 1.0f, dyp, N, col, P, 1.0f, dw, Kd);
            if (!dx) continue;
            if (wt) {
                const int Kt = s->Co * s->K * s->K;
                ColJob jy = {col, NULL, dy, &ts, B, n0, n1, oh0, oh1, 0};
                conv_par_for(par, im2col_job, &jy, s->Co);
                blas_sgemm(0, 0, s->C, P, Kt, 1.0f, wt, Kt, col, P, accumulate_dx ? 1.0f : 0.0f,
                           dx + at, N);
                continue;
            }
            /* dcol = wᵀ · dy, then scatter it back onto the input positions it was gathered
             * from (rows == Ho here: whole images) */
            blas_sgemm(1, 0, Kd, P, M, 1.0f, w, Kd, dyp, N, 0.0f, col, P);
            conv_par_for(par, col2im_job, &j, s->C);
        }
    }
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
