/* lstm.h — a stacked LSTM over variable-length sequences, with PyTorch's semantics.
 *
 * Equivalent to torch.nn.LSTM(input, hidden, num_layers, dropout=p, batch_first=True) applied to
 * pack_padded_sequence(x, lengths, enforce_sorted=False), with zero initial states, and taking
 * h_n[-1] as each sequence's feature vector: the top layer's hidden state at the sequence's own
 * last valid step. Gate order i, f, g, o; parameter names weight_ih_l{k} (4H, I_k),
 * weight_hh_l{k} (4H, H), bias_ih_l{k} (4H), bias_hh_l{k} (4H), so PyTorch state dicts map 1:1.
 *
 * Internally sequences are packed as PyTorch does: sorted by length (descending), time-major,
 * with only the still-active sequences present at each step, so no work is spent on padding.
 * All buffers live in a caller-owned LstmWork sized once for (max_batch, max_steps): forward and
 * backward never allocate.
 */
#ifndef LSTM_H
#define LSTM_H

#include <stddef.h>

#include "engine/params.h"
#include "store/rng.h"

#define LSTM_MAX_LAYERS 8

typedef struct {
    int input, hidden, layers;
    float dropout; /* between layers (on every layer's output but the last), training only */
    size_t w_ih[LSTM_MAX_LAYERS], w_hh[LSTM_MAX_LAYERS]; /* offsets into the ParamSet */
    size_t b_ih[LSTM_MAX_LAYERS], b_hh[LSTM_MAX_LAYERS];
} Lstm;

/* Records the 4 tensors per layer as "<prefix>weight_ih_l0", ... (layout phase). */
PsStatus lstm_add_params(Lstm *m, ParamSet *ps, const char *prefix, int input, int hidden,
                         int layers, float dropout, PsErr *err);
/* PyTorch's default initialisation: every tensor U(-1/sqrt(H), 1/sqrt(H)). */
void lstm_init_uniform(const Lstm *m, ParamSet *ps, Rng *rng);

/* Caches and scratch of one LSTM, for batches of up to max_batch sequences of up to max_steps
 * steps. Plain data so tests can look inside; fields below "current batch" describe the last
 * forward call. */
typedef struct {
    int max_batch, max_steps, input, hidden, layers;
    /* current batch */
    int B, T, N;       /* N = Σ len = rows of the packed layout */
    int train;         /* dropout was applied in the last forward */
    int *order;        /* (max_batch) packed position j -> caller's sequence index */
    int *len_sorted;   /* (max_batch) lengths in packed order (descending) */
    int *batch_sizes;  /* (max_steps) active sequences at step t */
    int *offset;       /* (max_steps + 1) first packed row of step t */
    /* caches, rows in packed order */
    float *x;                          /* (N, input) packed input */
    float *gates[LSTM_MAX_LAYERS];     /* (N, 4H) activated i, f, g, o */
    float *c[LSTM_MAX_LAYERS];         /* (N, H) cell state */
    float *tc[LSTM_MAX_LAYERS];        /* (N, H) tanh(c) */
    float *h[LSTM_MAX_LAYERS];         /* (N, H) hidden state */
    float *hprev[LSTM_MAX_LAYERS];     /* (N, H) hidden state of the previous step (0 at t=0) */
    float *mask[LSTM_MAX_LAYERS];      /* (N, H) dropout mask, 0 or 1/(1-p) (layers-1 of them) */
    float *xd[LSTM_MAX_LAYERS];        /* (N, H) dropped-out h, the next layer's input */
    /* backward scratch */
    float *dgates; /* (N, 4H) */
    float *dh, *dc; /* (N, H) */
    float *dx;      /* (N, input) */
    float *zeros;   /* (H) the state before the first step */
} LstmWork;

PsStatus lstm_work_init(LstmWork *ws, const Lstm *m, int max_batch, int max_steps, PsErr *err);
void lstm_work_done(LstmWork *ws);

/* feat (B, H): each sequence's top-layer hidden state at step len[b]-1.
 * x (B, T, I) padded, batch-first; values at t >= len[b] are ignored. 1 <= len[b] <= T.
 * train: apply dropout between layers, drawing the masks from rng (may be NULL when !train or
 * dropout == 0). params: the ParamSet value slab. */
PsStatus lstm_forward(LstmWork *ws, float *feat, const float *x, const int *len, int B, int T,
                      const Lstm *m, const float *params, int train, Rng *rng, PsErr *err);

/* Backward of the last lstm_forward: grads (the ParamSet gradient slab) += dLoss/dparams;
 * dx (B, T, I) += dLoss/dx at valid steps when dx is non-NULL. dfeat (B, H). */
PsStatus lstm_backward(LstmWork *ws, float *dx, const float *dfeat, const Lstm *m,
                       const float *params, float *grads, PsErr *err);

/* The slow twin: one sequence at a time, step by step, in double, eval mode (no dropout).
 * scratch holds lstm_ref_scratch_len(m, T) doubles. */
size_t lstm_ref_scratch_len(const Lstm *m, int T);
void lstm_forward_ref(float *feat, const float *x, const int *len, int B, int T, const Lstm *m,
                      const float *params, double *scratch);

#endif
