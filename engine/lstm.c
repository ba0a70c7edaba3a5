/* lstm.c — stacked LSTM forward/backward over packed variable-length sequences (see lstm.h).
 *
 * Per layer: the input projection of all timesteps is one GEMM into the gate buffer (with both
 * biases broadcast first); then each step adds h_{t-1} W_hhᵀ for the active prefix of the batch
 * (one small GEMM) and applies the fused gate nonlinearities and cell update. Backward walks the
 * steps in reverse with one small GEMM per step for the recurrent gradient; the weight gradients
 * and the input gradient are three large GEMMs per layer after the loop.
 * It deliberately does not: support bidirectional LSTMs, projections (proj_size), non-zero
 * initial states, or return the per-step outputs to the caller.
 */
#include "engine/lstm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/blas.h"

PsStatus lstm_add_params(Lstm *m, ParamSet *ps, const char *prefix, int input, int hidden,
                         int layers, float dropout, PsErr *err)
{
    PS_CHECK(err, m && ps && prefix && input > 0 && hidden > 0);
    PS_CHECK(err, layers >= 1 && layers <= LSTM_MAX_LAYERS && dropout >= 0 && dropout < 1);
    memset(m, 0, sizeof *m);
    m->input = input;
    m->hidden = hidden;
    m->layers = layers;
    m->dropout = dropout;
    for (int k = 0; k < layers; k++) {
        char name[PARAMS_NAME_MAX];
        int in = k == 0 ? input : hidden;
        int64_t sih[2] = {4 * hidden, in}, shh[2] = {4 * hidden, hidden}, sb[1] = {4 * hidden};
        PsStatus rc;
        snprintf(name, sizeof name, "%sweight_ih_l%d", prefix, k);
        if ((rc = params_add(ps, name, 2, sih, &m->w_ih[k], err)) != PS_OK) return rc;
        snprintf(name, sizeof name, "%sweight_hh_l%d", prefix, k);
        if ((rc = params_add(ps, name, 2, shh, &m->w_hh[k], err)) != PS_OK) return rc;
        snprintf(name, sizeof name, "%sbias_ih_l%d", prefix, k);
        if ((rc = params_add(ps, name, 1, sb, &m->b_ih[k], err)) != PS_OK) return rc;
        snprintf(name, sizeof name, "%sbias_hh_l%d", prefix, k);
        if ((rc = params_add(ps, name, 1, sb, &m->b_hh[k], err)) != PS_OK) return rc;
    }
    return PS_OK;
}

static void fill_uniform(float *p, size_t n, double k, Rng *rng)
{
    for (size_t i = 0; i < n; i++) p[i] = (float)((2 * rng_uniform(rng) - 1) * k);
}

void lstm_init_uniform(const Lstm *m, ParamSet *ps, Rng *rng)
{
    double k = 1.0 / sqrt((double)m->hidden);
    size_t H4 = 4 * (size_t)m->hidden;
    for (int l = 0; l < m->layers; l++) {
        size_t in = l == 0 ? (size_t)m->input : (size_t)m->hidden;
        fill_uniform(ps->w + m->w_ih[l], H4 * in, k, rng);
        fill_uniform(ps->w + m->w_hh[l], H4 * m->hidden, k, rng);
        fill_uniform(ps->w + m->b_ih[l], H4, k, rng);
        fill_uniform(ps->w + m->b_hh[l], H4, k, rng);
    }
}

/* ---- workspace ---------------------------------------------------------------------------- */

static float *falloc(size_t n)
{
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

PsStatus lstm_work_init(LstmWork *ws, const Lstm *m, int max_batch, int max_steps, PsErr *err)
{
    PS_CHECK(err, ws && m && max_batch > 0 && max_steps > 0);
    memset(ws, 0, sizeof *ws);
    ws->max_batch = max_batch;
    ws->max_steps = max_steps;
    ws->input = m->input;
    ws->hidden = m->hidden;
    ws->layers = m->layers;
    size_t N = (size_t)max_batch * max_steps, H = (size_t)m->hidden;
    int ok = 1;
    ok &= (ws->order = calloc((size_t)max_batch, sizeof(int))) != NULL;
    ok &= (ws->len_sorted = calloc((size_t)max_batch, sizeof(int))) != NULL;
    ok &= (ws->batch_sizes = calloc((size_t)max_steps, sizeof(int))) != NULL;
    ok &= (ws->offset = calloc((size_t)max_steps + 1, sizeof(int))) != NULL;
    ok &= (ws->x = falloc(N * m->input)) != NULL;
    for (int k = 0; ok && k < m->layers; k++) {
        ok &= (ws->gates[k] = falloc(N * 4 * H)) != NULL;
        ok &= (ws->c[k] = falloc(N * H)) != NULL;
        ok &= (ws->tc[k] = falloc(N * H)) != NULL;
        ok &= (ws->h[k] = falloc(N * H)) != NULL;
        ok &= (ws->hprev[k] = falloc(N * H)) != NULL;
        if (k + 1 < m->layers && m->dropout > 0) {
            ok &= (ws->mask[k] = falloc(N * H)) != NULL;
            ok &= (ws->xd[k] = falloc(N * H)) != NULL;
        }
    }
    ok = ok && (ws->dgates = falloc(N * 4 * H)) && (ws->dh = falloc(N * H)) &&
         (ws->dc = falloc(N * H)) && (ws->dx = falloc(N * m->input)) &&
         (ws->zeros = falloc(H));
    if (!ok) {
        lstm_work_done(ws);
        return ps_err(err, PS_ERR_NOMEM, "lstm: cannot allocate a workspace for %d x %d steps",
                      max_batch, max_steps);
    }
    return PS_OK;
}

void lstm_work_done(LstmWork *ws)
{
    if (!ws) return;
    free(ws->order);
    free(ws->len_sorted);
    free(ws->batch_sizes);
    free(ws->offset);
    free(ws->x);
    for (int k = 0; k < LSTM_MAX_LAYERS; k++) {
        free(ws->gates[k]);
        free(ws->c[k]);
        free(ws->tc[k]);
        free(ws->h[k]);
        free(ws->hprev[k]);
        free(ws->mask[k]);
        free(ws->xd[k]);
    }
    free(ws->dgates);
    free(ws->dh);
    free(ws->dc);
    free(ws->dx);
    free(ws->zeros);
    memset(ws, 0, sizeof *ws);
}

/* ---- activations --------------------------------------------------------------------------- */

/* exp(x) for float, Cephes' range reduction and polynomial (relative error ~1e-7), written
 * branch-free so the gate loops vectorise; glibc's expf would keep them scalar. The reduced
 * argument lies in [-ln2/2, ln2/2] with round-to-nearest, where the polynomial is accurate. */
static inline float fexp(float x)
{
    x = x > 88.0f ? 88.0f : x;
    x = x < -87.0f ? -87.0f : x;
    // n = round(x log2 e) by the 1.5·2^23 trick: floorf would be a libm call without
    // -fno-trapping-math and keep the loop scalar
    float fx = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    x = x - fx * 0.693359375f + fx * 2.12194440e-4f;
    float z = x * x;
    float y = 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * z + x + 1.0f;
    union {
        int i;
        float f;
    } u;
    u.i = ((int)fx + 127) << 23;
    return y * u.f;
}

static inline float fsigmoid(float x)
{
    return 1.0f / (1.0f + fexp(-x));
}

/* tanh: a Cephes odd polynomial near 0 (where 1 - 2/(e^2x + 1) would cancel), the exponential
 * form elsewhere; both computed and one selected, so the loop stays branch-free. */
static inline float ftanh(float x)
{
    float ax = x < 0 ? -x : x;
    float z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float e = fexp(2.0f * ax);
    float big = 1.0f - 2.0f / (e + 1.0f);
    big = x < 0 ? -big : big;
    return ax < 0.625f ? small : big;
}

/* ---- forward ------------------------------------------------------------------------------- */

/* Sorts sequences by length (descending, stable) and derives the packed layout. */
static void pack_layout(LstmWork *ws, const int *len, int B, int T)
{
    for (int b = 0; b < B; b++) ws->order[b] = b;
    /* insertion sort: batches are small, and stability keeps the layout reproducible */
    for (int i = 1; i < B; i++) {
        int v = ws->order[i], j = i - 1;
        while (j >= 0 && len[ws->order[j]] < len[v]) {
            ws->order[j + 1] = ws->order[j];
            j--;
        }
        ws->order[j + 1] = v;
    }
    for (int j = 0; j < B; j++) ws->len_sorted[j] = len[ws->order[j]];
    int off = 0;
    for (int t = 0; t < T; t++) {
        int bt = 0;
        while (bt < B && ws->len_sorted[bt] > t) bt++;
        ws->batch_sizes[t] = bt;
        ws->offset[t] = off;
        off += bt;
    }
    ws->offset[T] = off;
    ws->B = B;
    ws->T = T;
    ws->N = off;
}

static void layer_forward(LstmWork *ws, int k, const float *xin, int in, const Lstm *m,
                          const float *params)
{
    const int H = m->hidden, H4 = 4 * H, N = ws->N;
    const float *w_ih = params + m->w_ih[k], *w_hh = params + m->w_hh[k];
    const float *b_ih = params + m->b_ih[k], *b_hh = params + m->b_hh[k];
    float *G = ws->gates[k], *C = ws->c[k], *TC = ws->tc[k], *Hs = ws->h[k], *HP = ws->hprev[k];

    // gates = x W_ihᵀ + b_ih + b_hh for every step at once
    float *bias = ws->dgates; /* free until backward */
    for (int j = 0; j < H4; j++) bias[j] = b_ih[j] + b_hh[j];
    for (int r = 0; r < N; r++) memcpy(G + (size_t)r * H4, bias, (size_t)H4 * sizeof *G);
    blas_sgemm(0, 1, N, H4, in, 1.0f, xin, in, w_ih, in, 1.0f, G, H4);

    for (int t = 0; t < ws->T; t++) {
        const int bt = ws->batch_sizes[t], r0 = ws->offset[t];
        const int p0 = t > 0 ? ws->offset[t - 1] : 0;
        if (t > 0) {
            // the active prefix of step t-1 is exactly the rows still running at step t
            blas_sgemm(0, 1, bt, H4, H, 1.0f, Hs + (size_t)p0 * H, H, w_hh, H, 1.0f,
                       G + (size_t)r0 * H4, H4);
            memcpy(HP + (size_t)r0 * H, Hs + (size_t)p0 * H, (size_t)bt * H * sizeof *HP);
        } else {
            memset(HP + (size_t)r0 * H, 0, (size_t)bt * H * sizeof *HP);
        }
        for (int j = 0; j < bt; j++) {
            const size_t r = (size_t)r0 + j;
            float *g = G + r * H4;
            const float *cp = t > 0 ? C + ((size_t)p0 + j) * H : ws->zeros;
            float *c = C + r * H, *tc = TC + r * H, *h = Hs + r * H;
            for (int u = 0; u < H; u++) {
                float ig = fsigmoid(g[u]), fg = fsigmoid(g[H + u]);
                float gg = ftanh(g[2 * H + u]), og = fsigmoid(g[3 * H + u]);
                float cc = fg * cp[u] + ig * gg; // c_t = f ⊙ c_{t-1} + i ⊙ g
                float t2 = ftanh(cc);
                g[u] = ig;
                g[H + u] = fg;
                g[2 * H + u] = gg;
                g[3 * H + u] = og;
                c[u] = cc;
                tc[u] = t2;
                h[u] = og * t2; // h_t = o ⊙ tanh(c_t)
            }
        }
    }
}

PsStatus lstm_forward(LstmWork *ws, float *feat, const float *x, const int *len, int B, int T,
                      const Lstm *m, const float *params, int train, Rng *rng, PsErr *err)
{
    PS_CHECK(err, ws && feat && x && len && m && params);
    PS_CHECK(err, ws->input == m->input && ws->hidden == m->hidden && ws->layers == m->layers);
    if (B < 1 || B > ws->max_batch || T < 1 || T > ws->max_steps)
        return ps_err(err, PS_ERR_INVALID, "lstm_forward: batch %d x %d steps exceeds the "
                      "workspace (%d x %d)", B, T, ws->max_batch, ws->max_steps);
    for (int b = 0; b < B; b++)
        if (len[b] < 1 || len[b] > T)
            return ps_err(err, PS_ERR_INVALID, "lstm_forward: sequence %d has length %d, "
                          "expected 1..%d", b, len[b], T);
    const int dropping = train && m->dropout > 0 && m->layers > 1;
    PS_CHECK(err, !dropping || rng);
    if (dropping && !ws->mask[0])
        return ps_err(err, PS_ERR_INVALID, "lstm_forward: workspace was sized for an LSTM "
                      "without dropout");
    pack_layout(ws, len, B, T);
    ws->train = dropping;

    const int I = m->input, H = m->hidden;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < ws->batch_sizes[t]; j++)
            memcpy(ws->x + ((size_t)ws->offset[t] + j) * I,
                   x + ((size_t)ws->order[j] * T + t) * I, (size_t)I * sizeof *x);

    const float *xin = ws->x;
    int in = I;
    for (int k = 0; k < m->layers; k++) {
        layer_forward(ws, k, xin, in, m, params);
        xin = ws->h[k];
        in = H;
        if (dropping && k + 1 < m->layers) {
            // inverted dropout: kept units scaled by 1/(1-p), so eval needs no rescaling
            const float keep = 1.0f - m->dropout, scale = 1.0f / keep;
            float *mk = ws->mask[k], *xd = ws->xd[k];
            const float *hk = ws->h[k];
            for (size_t i = 0; i < (size_t)ws->N * H; i++) {
                mk[i] = rng_uniform(rng) < keep ? scale : 0.0f;
                xd[i] = hk[i] * mk[i];
            }
            xin = xd;
        }
    }
    const float *top = ws->h[m->layers - 1];
    for (int j = 0; j < B; j++) {
        size_t r = (size_t)ws->offset[ws->len_sorted[j] - 1] + j;
        memcpy(feat + (size_t)ws->order[j] * H, top + r * H, (size_t)H * sizeof *feat);
    }
    return PS_OK;
}

/* ---- backward ------------------------------------------------------------------------------ */

/* On entry ws->dh holds dLoss/dh for layer k; on exit grads hold the layer's parameter
 * gradients and dxin (N, in) = dLoss/d(layer input) (overwritten, not accumulated). */
static void layer_backward(LstmWork *ws, int k, float *dxin, const float *xin, int in,
                           const Lstm *m, const float *params, float *grads)
{
    const int H = m->hidden, H4 = 4 * H, N = ws->N;
    const float *w_ih = params + m->w_ih[k], *w_hh = params + m->w_hh[k];
    const float *G = ws->gates[k], *C = ws->c[k], *TC = ws->tc[k];
    float *DG = ws->dgates, *DH = ws->dh, *DC = ws->dc;

    memset(DC, 0, (size_t)N * H * sizeof *DC);
    for (int t = ws->T - 1; t >= 0; t--) {
        const int bt = ws->batch_sizes[t], r0 = ws->offset[t];
        const int p0 = t > 0 ? ws->offset[t - 1] : 0;
        for (int j = 0; j < bt; j++) {
            const size_t r = (size_t)r0 + j;
            const float *g = G + r * H4, *tc = TC + r * H, *dh = DH + r * H, *dcn = DC + r * H;
            const float *cp = t > 0 ? C + ((size_t)p0 + j) * H : ws->zeros;
            float *dg = DG + r * H4;
            float *dcp = t > 0 ? DC + ((size_t)p0 + j) * H : NULL;
            for (int u = 0; u < H; u++) {
                float ig = g[u], fg = g[H + u], gg = g[2 * H + u], og = g[3 * H + u];
                float t2 = tc[u];
                float dc = dcn[u] + dh[u] * og * (1.0f - t2 * t2); // through h = o tanh(c)
                float dog = dh[u] * t2;
                dg[u] = dc * gg * ig * (1.0f - ig);              // σ' on the input gate
                dg[H + u] = dc * cp[u] * fg * (1.0f - fg);       // σ' on the forget gate
                dg[2 * H + u] = dc * ig * (1.0f - gg * gg);      // tanh' on the candidate
                dg[3 * H + u] = dog * og * (1.0f - og);          // σ' on the output gate
                if (dcp) dcp[u] += dc * fg;                      // c_{t-1} reaches c_t through f
            }
        }
        if (t > 0) // dh_{t-1} += dgates_t · W_hh for the sequences still running at t
            blas_sgemm(0, 0, bt, H, H4, 1.0f, DG + (size_t)r0 * H4, H4, w_hh, H, 1.0f,
                       DH + (size_t)p0 * H, H);
    }
    float *gw_ih = grads + m->w_ih[k], *gw_hh = grads + m->w_hh[k];
    float *gb_ih = grads + m->b_ih[k], *gb_hh = grads + m->b_hh[k];
    blas_sgemm(1, 0, H4, in, N, 1.0f, DG, H4, xin, in, 1.0f, gw_ih, in);
    blas_sgemm(1, 0, H4, H, N, 1.0f, DG, H4, ws->hprev[k], H, 1.0f, gw_hh, H);
    // both biases enter the gates unscaled, so each receives Σ_rows dgates
    for (int r = 0; r < N; r++) {
        const float *dg = DG + (size_t)r * H4;
        for (int u = 0; u < H4; u++) {
            gb_ih[u] += dg[u];
            gb_hh[u] += dg[u];
        }
    }
    if (dxin) blas_sgemm(0, 0, N, in, H4, 1.0f, DG, H4, w_ih, in, 0.0f, dxin, in);
}

PsStatus lstm_backward(LstmWork *ws, float *dx, const float *dfeat, const Lstm *m,
                       const float *params, float *grads, PsErr *err)
{
    PS_CHECK(err, ws && dfeat && m && params && grads && ws->N > 0);
    const int H = m->hidden, I = m->input, N = ws->N, L = m->layers;
    memset(ws->dh, 0, (size_t)N * H * sizeof *ws->dh);
    for (int j = 0; j < ws->B; j++) {
        size_t r = (size_t)ws->offset[ws->len_sorted[j] - 1] + j;
        memcpy(ws->dh + r * H, dfeat + (size_t)ws->order[j] * H, (size_t)H * sizeof *dfeat);
    }
    for (int k = L - 1; k >= 0; k--) {
        const float *xin = k == 0 ? ws->x : (ws->train ? ws->xd[k - 1] : ws->h[k - 1]);
        int in = k == 0 ? I : H;
        if (k > 0) {
            // dh of the layer below = d(its dropped output) ⊙ mask; dh is free once read
            layer_backward(ws, k, ws->dh, xin, in, m, params, grads);
            if (ws->train) {
                const float *mk = ws->mask[k - 1];
                for (size_t i = 0; i < (size_t)N * H; i++) ws->dh[i] *= mk[i];
            }
        } else {
            layer_backward(ws, 0, dx ? ws->dx : NULL, xin, in, m, params, grads);
        }
    }
    if (dx)
        for (int t = 0; t < ws->T; t++)
            for (int j = 0; j < ws->batch_sizes[t]; j++) {
                const float *s = ws->dx + ((size_t)ws->offset[t] + j) * I;
                float *d = dx + ((size_t)ws->order[j] * ws->T + t) * I;
                for (int i = 0; i < I; i++) d[i] += s[i];
            }
    return PS_OK;
}

/* ---- slow twin ----------------------------------------------------------------------------- */

size_t lstm_ref_scratch_len(const Lstm *m, int T)
{
    size_t w = (size_t)(m->input > m->hidden ? m->input : m->hidden);
    return 2 * (size_t)T * w + 2 * (size_t)m->hidden + 4 * (size_t)m->hidden;
}

static double sig_d(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

void lstm_forward_ref(float *feat, const float *x, const int *len, int B, int T, const Lstm *m,
                      const float *params, double *scratch)
{
    const int H = m->hidden, I = m->input;
    size_t w = (size_t)(I > H ? I : H);
    double *seq_in = scratch, *seq_out = scratch + (size_t)T * w;
    double *h = seq_out + (size_t)T * w, *c = h + H, *a = c + H;
    for (int b = 0; b < B; b++) {
        const int n = len[b];
        for (int t = 0; t < n; t++)
            for (int i = 0; i < I; i++) seq_in[(size_t)t * w + i] = x[((size_t)b * T + t) * I + i];
        int in = I;
        for (int k = 0; k < m->layers; k++) {
            const float *wi = params + m->w_ih[k], *wh = params + m->w_hh[k];
            const float *bi = params + m->b_ih[k], *bh = params + m->b_hh[k];
            for (int u = 0; u < H; u++) h[u] = c[u] = 0;
            for (int t = 0; t < n; t++) {
                for (int q = 0; q < 4 * H; q++) {
                    double s = (double)bi[q] + bh[q];
                    for (int i = 0; i < in; i++) s += (double)wi[(size_t)q * in + i] * seq_in[(size_t)t * w + i];
                    for (int u = 0; u < H; u++) s += (double)wh[(size_t)q * H + u] * h[u];
                    a[q] = s;
                }
                for (int u = 0; u < H; u++) {
                    double ig = sig_d(a[u]), fg = sig_d(a[H + u]);
                    double gg = tanh(a[2 * H + u]), og = sig_d(a[3 * H + u]);
                    c[u] = fg * c[u] + ig * gg;
                    h[u] = og * tanh(c[u]);
                    seq_out[(size_t)t * w + u] = h[u];
                }
            }
            double *tmp = seq_in;
            seq_in = seq_out;
            seq_out = tmp;
            in = H;
        }
        for (int u = 0; u < H; u++) feat[(size_t)b * H + u] = (float)h[u];
    }
}
